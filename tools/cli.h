/* cli.h: what the subcommands of the `supcon` CLI share.
 *
 * main.c dispatches `supcon CMD ...` to one cli_command; each command lives in
 * its own tools/cmd_*.c file and returns the process exit status:
 * 0 success, 2 bad usage or bad input, 1 runtime failure.
 *
 * Options are parsed by cli_parse(): long options (`--flag value`,
 * `--flag=value`), optional one-letter aliases (`-o FILE`), positional
 * arguments anywhere, `--` ends the options, and a repeated option keeps its
 * last value unless it is a list.  `--help`/`-h` is always understood.
 *
 * Errors are printed by cli_error() as exactly one line on stderr, prefixed
 * with "supcon CMD: ".  Nothing here allocates except the list options,
 * which cli_args_free() releases.
 *
 * The CLI is a client of the public API (runtime/supcon.h) and nothing
 * else of the library: the commands parse their flags here and hand them
 * to a session (info, run, bench) or a job (everything else; see
 * cli_run_job).  bin/supcon links the static library, in which only
 * supcon_* symbols are global, so anything private would not link. */
#ifndef SUPCON_CLI_H
#define SUPCON_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "runtime/supcon.h"

enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAIL = 1,   /* runtime failure */
	CLI_EXIT_USAGE = 2,  /* bad usage or bad input */
};

/* A failure on its way to the user: a status (SUPCON_EINVAL, ...; 0 is
 * success) and its one-line message. */
#define CLI_ERR_MAX 1024
typedef struct cli_err {
	int code;
	char msg[CLI_ERR_MAX];
} cli_err;

/* Records code and a printf-style message in e (which may be NULL) and
 * returns code: `return cli_set_err(e, SUPCON_EINVAL, ...)`. */
int cli_set_err(cli_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prepends context ("--data: ") to the message in e. */
void cli_err_prefix(cli_err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* 2 for bad usage or bad input (SUPCON_EINVAL, SUPCON_EUNSUPPORTED), 1
 * otherwise. */
int cli_exit_code(int code);

typedef enum cli_opt_kind {
	CLI_FLAG,    /* no value: `--json` */
	CLI_VALUE,   /* one value, the last one given wins: `--out DIR` */
	CLI_LIST,    /* every value is kept in order: `--in a=x.pb --in b=y.pb` */
} cli_opt_kind;

/* One option a command accepts.  The caller fills name, short_name, kind and
 * metavar/help (for usage text); cli_parse() fills the rest. */
typedef struct cli_opt {
	const char *name;       /* long name without the dashes */
	char short_name;        /* one-letter alias, 0 for none */
	cli_opt_kind kind;
	const char *metavar;    /* "DIR", shown in usage; NULL for flags */
	const char *help;       /* one line for `--help` */

	int seen;               /* how many times it was given */
	const char *value;      /* CLI_VALUE: the last value; CLI_FLAG: NULL */
	const char **values;    /* CLI_LIST: every value, owned by cli_args */
	int n_values;
} cli_opt;

/* What cli_parse() found besides the options. */
typedef struct cli_args {
	const char **pos;       /* positional arguments, in order (borrowed from argv) */
	int n_pos;
	int help;               /* --help or -h was given */
	cli_opt *opts;          /* the table passed in, for cli_args_free() */
	int n_opts;
} cli_args;

/* What a command accepts and what its --help says. */
typedef struct cli_spec {
	const char *cmd;           /* "run" */
	const char *synopsis;      /* arguments shown after "supcon CMD" */
	const char *description;
	const char *epilog;        /* printed after the options; NULL for none */
	cli_opt *opts;
	int n_opts;
} cli_spec;

/* Parses argv[0..argc) (the words after the command name) against opts.
 * Returns SUPCON_OK, or SUPCON_EINVAL with a one-line message naming the flag
 * (unknown option, missing value, value given to a flag) in err, or
 * SUPCON_ENOMEM.  On success the caller releases the result with
 * cli_args_free(); on failure nothing needs freeing. */
int cli_parse(int argc, char **argv, cli_opt *opts, int n_opts,
	      cli_args *out, cli_err *err);

void cli_args_free(cli_args *a);

/* The option called name in a parsed table, or NULL. */
const cli_opt *cli_find(const cli_args *a, const char *name);

/* 1 if the flag or option `name` was given. */
int cli_has(const cli_args *a, const char *name);

/* Value of a CLI_VALUE option, or dflt when absent. */
const char *cli_value(const cli_args *a, const char *name, const char *dflt);

/* Prints "supcon CMD: MESSAGE" as one line on stderr.  Newlines and other
 * control characters in the message (from file names, say) are shown as
 * '?' so the line stays one line.  cmd may be NULL ("supcon: ..."). */
void cli_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Prints err's message through cli_error() and returns the exit status
 * that err->code maps to (cli_exit_code()). */
int cli_fail(const char *cmd, const cli_err *err);

/* Prints "usage: supcon CMD SYNOPSIS", the description and one line per
 * option to f. */
void cli_usage(FILE *f, const char *cmd, const char *synopsis,
	       const char *description, const cli_opt *opts, int n_opts);

/* The start every command shares: parses argv against spec's options and
 * answers --help with the usage (and the epilog) on stdout.  Returns 1
 * when the command goes on with *args, which it then releases with
 * cli_args_free(); else 0 with the exit status in *status and nothing to
 * release. */
int cli_begin(const cli_spec *spec, int argc, char **argv, cli_args *args,
	      int *status);

/* The single MODEL.onnx positional argument of a command, in *path.
 * SUPCON_EINVAL saying it is missing (with the synopsis) or that more than
 * one was given. */
int cli_one_model(const cli_spec *spec, const cli_args *a, const char **path,
		  cli_err *err);

/* Checks that path names a readable regular file before anything else is
 * done with it, so a missing or unreadable model is bad input (exit 2) with
 * a clear message rather than an I/O failure deep in a loader.  Fills err
 * and returns SUPCON_EINVAL when it is not. */
int cli_check_input_file(const char *path, const char *what, cli_err *err);

/* Reads the integer value of option `name` into *out: dflt when absent,
 * else it must be a whole decimal number in [min, max]; SUPCON_EINVAL naming
 * the flag otherwise. */
int cli_int_option(const cli_args *a, const char *name, long long min,
		   long long max, long long dflt, long long *out, cli_err *err);

/* Creates dir and its missing parents (like mkdir -p), then checks that a
 * file can be created in it.  `flag` names the option in messages.
 * SUPCON_EINVAL when it cannot be created or written. */
int cli_make_output_dir(const char *dir, const char *flag, cli_err *err);

/* Flushes stdout and reports a failed write (a full disk, a closed pipe)
 * as one line; returns status, or 1 if stdout could not be written. */
int cli_finish(const char *cmd, int status);

/* --- output helpers ---------------------------------------------------- */

/* Writes s as a JSON string literal (with the quotes).  Control characters
 * are escaped, invalid UTF-8 becomes U+FFFD, so the output always parses. */
void cli_json_string(FILE *f, const char *s);

/* "1048576", "64K", "512M", "1.5G", "2T" (binary units; "MiB" and "MB"
 * read the same) into bytes; SUPCON_EINVAL naming flag otherwise. */
int cli_parse_bytes(const char *flag, const char *text, size_t *out,
		    cli_err *err);

/* --- files and time for the commands that orchestrate jobs ------------- */

/* Monotonic seconds. */
double cli_now(void);

/* "DIR/FILE" into buf; SUPCON_EINVAL when it does not fit. */
int cli_path(char *buf, size_t len, const char *dir, const char *file,
	     cli_err *e);

/* A whole text file of at most max bytes (NUL-terminated, malloc'd), or
 * NULL when it cannot be read. */
char *cli_read_text(const char *path, size_t max);

/* The number of the top-level key of a JSON object the library wrote
 * (metrics.json, sweep.json: one key per line), NaN if absent or null. */
double cli_json_number(const char *text, const char *key);

/* A file written under a temporary name in its folder and renamed over
 * the target on commit, so that readers (and a sweep interrupted at any
 * moment) see the old file or the whole new one. */
typedef struct cli_atomic {
	FILE *f;
	char tmp[4200];
	char path[4096];
} cli_atomic;
int cli_atomic_open(cli_atomic *a, const char *path, cli_err *e);
int cli_atomic_commit(cli_atomic *a, cli_err *e);
void cli_atomic_abort(cli_atomic *a);

/* --- jobs ------------------------------------------------------------ */

/* What a command that is a job does after parsing its flags: creates a
 * job of kind, sets every option given in a (a flag as "1", a value as
 * given; the key is the long name) and then the pairs of extra (key,
 * value, key, value, ..., NULL: the positional arguments' roles), runs it
 * with its output on stdout and returns the exit status, having printed
 * any error as "supcon CMD: ...".  With keep, a successful job is handed
 * back for its results (the caller frees it). */
int cli_run_job(const char *cmd, const char *kind, const cli_args *a,
		const char *const *extra, supcon_job **keep);

/* Sets every option given in a on j; on failure e holds the job's
 * message. */
int cli_job_set_args(supcon_job *j, const cli_args *a, cli_err *e);

/* Copies j's last error (or, without a job, the thread's) into e with
 * code st; returns st. */
int cli_job_err(cli_err *e, const supcon_job *j, supcon_status st);

/* The help lines of the run options of `supcon train` and `linear`
 * (cli_run.c), appended to a command's own table; the job checks the
 * values. */
extern const cli_opt cli_run_options[];
extern const int cli_n_run_options;

/* --- commands ---------------------------------------------------------- */

/* Each returns the exit status.  argv[0] is the first word after the
 * command name; argc counts from there. */
typedef int (*cli_command_fn)(int argc, char **argv);

typedef struct cli_command {
	const char *name;
	const char *synopsis;    /* arguments shown after "supcon NAME" */
	const char *summary;     /* one line for `supcon --help` */
	cli_command_fn run;      /* NULL: not implemented yet */
} cli_command;

int cmd_info(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_build(int argc, char **argv);
int cmd_grad(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_linear(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_sweep(int argc, char **argv);

/* The shared behaviour of a command that is in the contract but not built
 * yet: its --help says so (exit 0), anything else says so on stderr (exit 1). */
int cli_not_implemented(const cli_command *c, int argc, char **argv);

#endif
