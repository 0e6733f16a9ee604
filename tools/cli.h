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
 * which cli_args_free() releases. */
#ifndef SUPCON_CLI_H
#define SUPCON_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "runtime/graph.h"
#include "runtime/plan.h"
#include "runtime/status.h"
#include "runtime/tensor.h"

enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAIL = 1,   /* runtime failure */
	CLI_EXIT_USAGE = 2,  /* bad usage or bad input */
};

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
 * Returns SC_OK, or SC_EINVAL with a one-line message naming the flag
 * (unknown option, missing value, value given to a flag) in err, or
 * SC_ENOMEM.  On success the caller releases the result with
 * cli_args_free(); on failure nothing needs freeing. */
int cli_parse(int argc, char **argv, cli_opt *opts, int n_opts,
	      cli_args *out, sc_error *err);

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
 * that err->code maps to (sc_exit_code()). */
int cli_fail(const char *cmd, const sc_error *err);

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
 * SC_EINVAL saying it is missing (with the synopsis) or that more than
 * one was given. */
int cli_one_model(const cli_spec *spec, const cli_args *a, const char **path,
		  sc_error *err);

/* Checks that path names a readable regular file before anything else is
 * done with it, so a missing or unreadable model is bad input (exit 2) with
 * a clear message rather than an I/O failure deep in a loader.  Fills err
 * and returns SC_EINVAL when it is not. */
int cli_check_input_file(const char *path, const char *what, sc_error *err);

/* Reads the integer value of option `name` into *out: dflt when absent,
 * else it must be a whole decimal number in [min, max]; SC_EINVAL naming
 * the flag otherwise. */
int cli_int_option(const cli_args *a, const char *name, long long min,
		   long long max, long long dflt, long long *out, sc_error *err);

/* Loads path as a model (after cli_check_input_file) and validates it;
 * with infer, also runs shape inference.  Messages name the path.  On
 * success the caller owns *out (graph_model_free). */
int cli_load_model(const char *path, int infer, graph_model **out,
		   sc_error *err);

/* Creates dir and its missing parents (like mkdir -p), then checks that a
 * file can be created in it.  `flag` names the option in messages.
 * SC_EINVAL when it cannot be created or written. */
int cli_make_output_dir(const char *dir, const char *flag, sc_error *err);

/* Flushes stdout and reports a failed write (a full disk, a closed pipe)
 * as one line; returns status, or 1 if stdout could not be written. */
int cli_finish(const char *cmd, int status);

/* --- output helpers ---------------------------------------------------- */

/* Writes s as a JSON string literal (with the quotes).  Control characters
 * are escaped, invalid UTF-8 becomes U+FFFD, so the output always parses. */
void cli_json_string(FILE *f, const char *s);

/* "1048576", "64K", "512M", "1.5G", "2T" (binary units; "MiB" and "MB"
 * read the same) into bytes; SC_EINVAL naming flag otherwise. */
int cli_parse_bytes(const char *flag, const char *text, size_t *out,
		    sc_error *err);

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
