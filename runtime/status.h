/* status.h: how errors come back from every supcon function.
 *
 * Every fallible function returns an int status (SC_OK on success) and fills
 * an sc_error that the caller owns, usually on its stack.  The message is one
 * line naming the file, node, tensor or flag and what is wrong; the CLI prints
 * it as is and turns the code into an exit status with sc_exit_code().
 * Library code never exits or aborts. */
#ifndef SUPCON_STATUS_H
#define SUPCON_STATUS_H

#include <stddef.h>

enum {
	SC_OK = 0,
	SC_EINVAL,      /* bad input: malformed file, wrong shape, bad flag */
	SC_EUNSUPPORTED,/* well-formed but outside what supcon implements */
	SC_EIO,         /* the operating system refused: open, read, write */
	SC_ENOMEM,      /* allocation failed */
	SC_EINTERNAL,   /* a bug or a failing library call (oneDNN) */
	SC_ENUMERIC,    /* training produced a NaN or an infinity */
};

#define SC_ERROR_MAX 1024

typedef struct sc_error {
	int code;
	char msg[SC_ERROR_MAX];
} sc_error;

/* Records code and a printf-style message in err (which may be NULL) and
 * returns code, so callers can write `return sc_fail(err, SC_EINVAL, ...)`.
 * Control characters in the result (a name quoted from a file may hold a
 * newline) become '?', so the message stays one line. */
int sc_fail(sc_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prepends context ("model.onnx: ") to the message already in err, with
 * control characters made '?' as in sc_fail. */
void sc_error_prefix(sc_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Resets err to SC_OK with an empty message. */
void sc_error_clear(sc_error *err);

/* 2 for bad usage or bad input (SC_EINVAL, SC_EUNSUPPORTED), 1 otherwise. */
int sc_exit_code(int code);

const char *sc_code_name(int code);

#endif
