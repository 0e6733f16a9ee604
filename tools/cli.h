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

/* Writes "float32 [2, 3]": t's dtype and dims. */
void cli_print_shape(FILE *f, const sc_tensor *t);

/* Writes s as a JSON string literal (with the quotes).  Control characters
 * are escaped, invalid UTF-8 becomes U+FFFD, so the output always parses. */
void cli_json_string(FILE *f, const char *s);

/* --- model inputs (tensor_io.c) ---------------------------------------- */

/* The tensors bound to a model's inputs, in the order they were added.
 * names and tensors are parallel arrays shaped for plan_run(); everything
 * is owned by the cli_inputs and released by cli_inputs_free(). */
typedef struct cli_inputs {
	int n;
	char **names;
	sc_tensor *values;
	const char **names_view;       /* == names, const for plan_run() */
	const sc_tensor **tensors;     /* &values[i] */
	char **sources;                /* what each came from, for messages */
} cli_inputs;

/* Loads `--in NAME=SPEC` for each spec, against model m.  SPEC is
 *   FILE.pb        a TensorProto (the ONNX test-data format),
 *   FILE.png       a PNG, as float32 [1, C, H, W] in [0, 1] (any file
 *                  starting with the PNG signature is read as one),
 *   random:SHAPE   seeded uniform [0, 1) values of the input's declared
 *                  floating-point dtype (float32 if undeclared), SHAPE
 *                  like 16x3x224x224 (empty for a scalar).
 * NAME must be a graph input of m (an initializer listed as an input may
 * be overridden); when a NAME is given twice the last one wins.  Bad specs,
 * unknown names and unreadable files are SC_EINVAL with a message naming
 * the --in value; I/O failures keep their codes. */
int cli_inputs_load(const graph_model *m, const char *const *specs, int n,
		    uint64_t seed, cli_inputs *out, sc_error *err);

/* For `bench`: gives each non-initializer input of m that has no tensor
 * yet seeded random data of its declared shape.  A symbolic or unknown
 * first dim becomes `batch` (1 when batch is 0, i.e. not given); a known
 * first dim that differs from a given batch, and any unknown dim past the
 * first, are SC_EINVAL naming the input (the user then passes
 * --in NAME=random:SHAPE).  *filled counts the inputs it made. */
int cli_inputs_fill_random(const graph_model *m, int64_t batch, uint64_t seed,
			   cli_inputs *in, int *filled, sc_error *err);

/* SC_EINVAL naming the first non-initializer input of m without a tensor. */
int cli_inputs_check_complete(const graph_model *m, const cli_inputs *in,
			      sc_error *err);

void cli_inputs_free(cli_inputs *in);

/* A model ready to run, as `run` and `bench` set it up. */
typedef struct cli_session {
	graph_model *m;
	plan *p;
	cli_inputs in;
	int n_outputs;    /* graph outputs before gradients were added */
	int n_grad;       /* --grad names, in order */
	int *grad_value;  /* per --grad: value of its gradient, -1 when zero */
} cli_session;

/* Loads and validates the model at path (cli_load_model), builds its plan
 * on `threads` OpenMP threads (0: all cores), which refuses a model with
 * unsupported ops before anything runs, and loads every `--in` of a
 * against it (cli_inputs_load with seed).  Messages name the path or the
 * --in value.  What was built stays in s for cli_session_close(), on
 * failure too. */
int cli_session_open(cli_session *s, const char *path, int threads,
		     const cli_args *a, uint64_t seed, sc_error *err);

/* Same, but first extends the model with the gradient of its first output
 * with respect to each of grad[0..n_grad) (runtime/autodiff.h), so that a
 * run also computes them.  s->grad_value[k] is -1 when the output does
 * not depend on grad[k]. */
int cli_session_open_grad(cli_session *s, const char *path, int threads,
			  const cli_args *a, uint64_t seed, int n_grad,
			  const char *const *grad, sc_error *err);

void cli_session_close(cli_session *s);

/* "1048576", "64K", "512M", "1.5G", "2T" (binary units; "MiB" and "MB"
 * read the same) into bytes; SC_EINVAL naming flag otherwise. */
int cli_parse_bytes(const char *flag, const char *text, size_t *out,
		    sc_error *err);

/* plan_options for `threads` from the command's --check-numerics and
 * --max-memory, where its spec has them (run, bench). */
int cli_plan_options(const cli_args *a, int threads, plan_options *opt,
		     sc_error *err);

/* Decodes a PNG file into a new owned float32 [1, C, H, W] tensor in [0, 1].
 * C is the image's own channel count, as libpng's simplified API reports
 * its format: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA, where palette images
 * are color and a tRNS chunk counts as alpha.  Low bit depths are scaled
 * up, 16-bit samples are divided by 65535 and 8-bit ones by 255; no gamma
 * correction (torchvision's read_image gives the same values for 8-bit
 * images without tRNS).
 * The header is checked against limits before any pixel memory is
 * allocated. */
int cli_png_load(const char *path, sc_tensor *t, sc_error *err);

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
