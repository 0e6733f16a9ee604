/* cli_api.h: what `supcon run` and `supcon bench` share on top of the
 * public C API (runtime/supcon.h): opening a session with the commands'
 * options, and the tensors they feed it from `--in NAME=FILE` or random
 * data (tensor_io.c).  These commands use nothing but supcon.h and the
 * CLI's own helpers (cli.h).
 *
 * Errors come back as an int status (SUPCON_OK is 0) with one line in
 * err, which the command hands to cli_fail(). */
#ifndef SUPCON_CLI_API_H
#define SUPCON_CLI_API_H

#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "runtime/supcon.h"

/* Copies the calling thread's last API error (supcon_last_error) into err
 * with code st; returns st. */
int cli_api_fail(cli_err *err, supcon_status st);

/* Checks that path is a readable file (cli_check_input_file) and opens a
 * session on it with supcon_session_create_with(options). */
int cli_api_open(const char *path, const char *options, supcon_session **out,
		 cli_err *err);

/* "threads=N,check_numerics=1,max_memory=B" for supcon_session_create_with
 * from --check-numerics and --max-memory (where the command has them) and
 * threads (0: all cores) into buf. */
int cli_api_session_options(const cli_args *a, long long threads, char *buf,
			    size_t len, cli_err *err);

/* Writes "float32 [2, 3]": t's dtype and dims. */
void cli_api_print_shape(FILE *f, const supcon_tensor *t);

/* The tensors bound to a session's inputs, in the order they were added;
 * names and tensors are parallel arrays shaped for supcon_session_run. */
typedef struct cli_feed {
	int n;
	char **names;
	supcon_tensor **tensors;
	char **sources;            /* what each came from, for messages */
} cli_feed;

/* Loads `--in NAME=SPEC` for each spec against s.  SPEC is
 *   FILE.pb        a TensorProto (the ONNX test-data format),
 *   FILE.png       a PNG, as float32 [1, C, H, W] in [0, 1] with the
 *                  image's own channels (any file starting with the PNG
 *                  signature is read as one),
 *   random:SHAPE   seeded uniform [0, 1) values of the input's declared
 *                  floating-point dtype (float32 if undeclared), SHAPE
 *                  like 16x3x224x224 (empty for a scalar).
 * NAME must be a graph input of s (an initializer listed as an input may
 * be overridden); when a NAME is given twice the last one wins.  Bad
 * specs, unknown names and unreadable files are SUPCON_EINVAL naming the --in
 * value.  On failure out holds nothing. */
int cli_feed_load(const supcon_session *s, const char *const *specs, int n,
		  uint64_t seed, cli_feed *out, cli_err *err);

/* For `bench`: gives each data input of s without a tensor yet seeded
 * random data of its declared shape.  A symbolic or unknown first dim
 * becomes batch (1 when batch is 0, i.e. not given); a known first dim
 * that differs from a given batch, and any unknown dim past the first,
 * are SUPCON_EINVAL naming the input.  *filled counts the inputs it made. */
int cli_feed_fill_random(const supcon_session *s, int64_t batch, uint64_t seed,
			 cli_feed *in, int *filled, cli_err *err);

/* SUPCON_EINVAL naming the first data input of s without a tensor. */
int cli_feed_check_complete(const supcon_session *s, const cli_feed *in,
			    cli_err *err);

/* The tensor bound to name, or NULL. */
const supcon_tensor *cli_feed_find(const cli_feed *in, const char *name);

void cli_feed_free(cli_feed *in);

#endif
