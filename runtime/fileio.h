/* fileio.h: files written atomically.
 *
 * Everything supcon writes (models, checkpoints, reports, metrics) goes
 * through a temporary file in the target's folder that is flushed,
 * fsync'ed and then renamed over the target, so that a reader, or a run
 * killed at any moment, sees either the old file or the complete new one,
 * never a half-written file. */
#ifndef SUPCON_FILEIO_H
#define SUPCON_FILEIO_H

#include <stddef.h>
#include <stdio.h>

#include "status.h"

typedef struct sc_atomic_file {
	FILE *f;        /* write here */
	char *tmp;      /* the temporary name */
	char *path;     /* the target */
	int error;      /* an errno a writer met; commit then fails */
} sc_atomic_file;

/* Creates the temporary file (O_EXCL, unique per process and call). */
int sc_atomic_open(sc_atomic_file *a, const char *path, sc_error *err);
/* Flushes, fsyncs, closes and renames; on any failure the temporary file
 * is removed, the target is untouched and err names the step. */
int sc_atomic_commit(sc_atomic_file *a, sc_error *err);
/* Gives up: closes and removes the temporary file. */
void sc_atomic_abort(sc_atomic_file *a);

/* The whole of buf into path, atomically. */
int sc_write_file_atomic(const char *path, const void *buf, size_t len,
			 sc_error *err);

/* --- inputs are never overwritten -----------------------------------------
 *
 * Readers of user files (onnx_load_file, onnx_tensor_load_file, external
 * data, the dataset readers) register each file they open as an input of
 * this process.  sc_atomic_open() and sc_atomic_commit() refuse a target
 * that is the same file (same st_dev and st_ino, following symlinks: the
 * path itself, a hard link or a symlink to it) as a registered input, with
 * SC_EINVAL naming both paths, so that `supcon export -o model.onnx` or
 * `supcon run --in x=out/output_0.pb --out out` fails instead of
 * destroying what it read.  Thread-safe. */

/* Records path as an input.  A path that cannot be stat'ed is ignored (its
 * reader reports that).  SC_ENOMEM is the only failure. */
int sc_input_register(const char *path, sc_error *err);

/* SC_EINVAL when path (following symlinks) is a registered input; SC_OK
 * when it is not, or does not exist. */
int sc_input_check(const char *path, sc_error *err);

/* Forgets every registered input (for tests, and for long-lived callers
 * that know they are done with their inputs). */
void sc_input_forget_all(void);

/* Reads a whole regular file of at most max_len bytes into a malloc'd
 * buffer with a NUL after the end (for text).  SC_EINVAL when missing or
 * too large, SC_EIO on a read error. */
int sc_read_file(const char *path, size_t max_len, char **buf, size_t *len,
		 sc_error *err);

/* --- paths, folders and text shared by the jobs and the CLI -------------- */

/* Checks that path names a readable regular file before anything else is
 * done with it, so that a missing or unreadable file is bad input
 * (SC_EINVAL, "PATH: cannot open WHAT: ...") rather than an I/O failure
 * deep in a loader. */
int sc_check_input_file(const char *path, const char *what, sc_error *err);

/* Creates dir and its missing parents (like mkdir -p), then checks that a
 * file can be created in it.  flag ("--out") names the option in
 * messages.  SC_EINVAL when it cannot be created or written. */
int sc_make_output_dir(const char *dir, const char *flag, sc_error *err);

/* Writes s as a JSON string literal (with the quotes).  Control characters
 * are escaped, invalid UTF-8 becomes U+FFFD, so the output always parses. */
void sc_json_string(FILE *f, const char *s);

/* "1048576", "64K", "512M", "1.5G", "2T" (binary units; "MiB" and "MB"
 * read the same) into bytes; SC_EINVAL naming flag otherwise. */
int sc_parse_bytes(const char *flag, const char *text, size_t *out,
		   sc_error *err);

#endif
