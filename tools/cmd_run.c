/* cmd_run.c: `supcon run MODEL.onnx --in NAME=FILE ... --out DIR`.
 *
 * Loads and validates the model, builds the plan (which refuses a model
 * with unsupported ops before anything runs), loads every --in, creates
 * --out and checks it can be written, runs once, and writes each graph
 * output as DIR/output_<i>.pb in graph order.  The cheap checks come
 * before the run so that a typo never costs a full forward pass.  Everything
 * goes through the public C API (runtime/supcon.h, tools/cli_api.h). */
#include "cli_api.h"

#include <stdlib.h>
#include <string.h>

static cli_opt run_opts[] = {
	{"in", 0, CLI_LIST, "NAME=FILE",
	 "input NAME from a TensorProto .pb, a .png or random:SHAPE (repeat per input)",
	 0, 0, 0, 0},
	{"out", 'o', CLI_VALUE, "DIR", "folder for output_<i>.pb (created with its parents)",
	 0, 0, 0, 0},
	{"threads", 0, CLI_VALUE, "N", "OpenMP threads (default: all cores)", 0, 0, 0, 0},
	{"seed", 0, CLI_VALUE, "N", "seed of random:SHAPE inputs (default 1)", 0, 0, 0, 0},
	{"check-numerics", 0, CLI_FLAG, NULL, "stop at the first node whose output holds a "
	 "NaN or an infinity, and name it (a pass over every value)", 0, 0, 0, 0},
	{"max-memory", 0, CLI_VALUE, "SIZE", "refuse to hold more than SIZE (e.g. 512M, 2G) "
	 "of weights, activations and scratch", 0, 0, 0, 0},
	{"grad", 0, CLI_LIST, "NAME", "also write the gradient of output 0 (a scalar) "
	 "with respect to NAME, a graph input or initializer, as grad_<k>.pb "
	 "(repeat per name)", 0, 0, 0, 0},
};

static const cli_spec run_spec = {
	.cmd = "run",
	.synopsis = "MODEL.onnx --in NAME=FILE ... [--grad NAME ...] [--threads N] --out DIR",
	.description =
		"Runs MODEL.onnx once and writes its outputs, in graph order, as\n"
		"DIR/output_0.pb, DIR/output_1.pb, ... (ONNX TensorProto files named after\n"
		"the outputs). Every graph input that is not an initializer needs an --in.\n"
		"FILE is a TensorProto .pb (the ONNX test-data format) or a PNG, which\n"
		"becomes float32 [1, C, H, W] in [0, 1] with the image's own channels\n"
		"(1 gray, 2 gray+alpha, 3 RGB, 4 RGBA; palettes become RGB, 16-bit\n"
		"samples are divided by 65535). random:SHAPE (e.g. random:1x3x224x224)\n"
		"gives seeded uniform [0, 1) data. A model with ops supcon does not\n"
		"implement is refused before anything runs.",
	.opts = run_opts,
	.n_opts = (int)(sizeof run_opts / sizeof run_opts[0]),
};

typedef struct run_job {
	const char *model_path;
	const char *out_dir;
	long long threads, seed;
	char options[128];        /* supcon_session_create_with's */
	int n_grad;
	const char *const *grad;  /* the --grad names */
	int *depends;             /* per --grad: 0 when its gradient is zero */
	supcon_tensor **grads;
	supcon_session *s;
	cli_feed in;
} run_job;

static int parse_run_args(const cli_args *a, run_job *job, cli_err *err)
{
	int rc = cli_one_model(&run_spec, a, &job->model_path, err);
	if (rc != SUPCON_OK)
		return rc;
	job->out_dir = cli_value(a, "out", NULL);
	if (!job->out_dir)
		return cli_set_err(err, SUPCON_EINVAL, "missing --out DIR (the folder for the outputs)");
	rc = cli_int_option(a, "threads", 1, 4096, 0, &job->threads, err);
	if (rc == SUPCON_OK)
		rc = cli_int_option(a, "seed", 0, INT64_MAX, 1, &job->seed, err);
	const cli_opt *grad = cli_find(a, "grad");
	job->n_grad = grad ? grad->n_values : 0;
	job->grad = grad ? (const char *const *)grad->values : NULL;
	return rc;
}

/* Writes t as DIR/<kind>_<i>.pb and prints one line for it. */
static int write_one(const run_job *job, const char *kind, int i,
		     const supcon_tensor *t, const char *name, cli_err *err)
{
	size_t len = strlen(job->out_dir) + 32;
	char *path = malloc(len);
	if (!path)
		return cli_set_err(err, SUPCON_ENOMEM, "out of memory");
	/* "out/" and "out" name the same files */
	int dir_len = (int)strlen(job->out_dir);
	while (dir_len > 1 && job->out_dir[dir_len - 1] == '/')
		dir_len--;
	snprintf(path, len, "%.*s/%s_%d.pb", dir_len, job->out_dir, kind, i);
	supcon_status st = supcon_tensor_save_pb(t, name, path);
	int rc = st ? cli_api_fail(err, st) : SUPCON_OK;
	if (rc == SUPCON_OK) {
		printf("%s  %s  ", path, name);
		cli_api_print_shape(stdout, t);
		putchar('\n');
	}
	free(path);
	return rc;
}

/* Writes output_<i>.pb for the model's own outputs, then grad_<k>.pb for
 * each --grad; a gradient the output does not depend on is zeros, with
 * one warning line. */
static int write_outputs(const run_job *job, cli_err *err)
{
	int n = 0, rc = SUPCON_OK;
	supcon_session_output_count(job->s, &n);
	for (int i = 0; i < n && rc == SUPCON_OK; i++) {
		const char *name = "";
		supcon_tensor *t = NULL;
		supcon_status st = supcon_session_output_name(job->s, i, &name);
		if (!st)
			st = supcon_session_output(job->s, i, &t);
		rc = st ? cli_api_fail(err, st) : write_one(job, "output", i, t, name, err);
		supcon_tensor_free(t);
	}
	for (int k = 0; k < job->n_grad && rc == SUPCON_OK; k++) {
		char name[512];
		snprintf(name, sizeof name, "%s_grad", job->grad[k]);
		if (!job->depends[k]) {
			const char *out0 = "";
			supcon_session_output_name(job->s, 0, &out0);
			fprintf(stderr, "supcon run: warning: output '%s' does not depend on "
				"'%s'; its gradient is zero\n", out0, job->grad[k]);
		}
		rc = write_one(job, "grad", k, job->grads[k], name, err);
	}
	return rc;
}

/* The session, with the backward graph built for --grad before any input
 * is read, so that a bad name costs nothing. */
static int open_session(const cli_args *a, run_job *job, cli_err *err)
{
	int rc = cli_api_session_options(a, job->threads, job->options,
					 sizeof job->options, err);
	if (rc == SUPCON_OK)
		rc = cli_api_open(job->model_path, job->options, &job->s, err);
	if (rc != SUPCON_OK || job->n_grad == 0)
		return rc;
	job->depends = calloc((size_t)job->n_grad, sizeof *job->depends);
	job->grads = calloc((size_t)job->n_grad, sizeof *job->grads);
	if (!job->depends || !job->grads)
		return cli_set_err(err, SUPCON_ENOMEM, "out of memory");
	supcon_status st = supcon_session_prepare_grad(job->s, job->n_grad, job->grad,
						       job->depends);
	if (st != SUPCON_OK) {
		rc = cli_api_fail(err, st);
		cli_err_prefix(err, "%s: --grad: ", job->model_path);
	}
	return rc;
}

static int run_job_do(const cli_args *a, run_job *job, cli_err *err)
{
	const cli_opt *in = cli_find(a, "in");
	int rc;
	if ((rc = open_session(a, job, err)) ||
	    (rc = cli_feed_load(job->s, in ? in->values : NULL, in ? in->n_values : 0,
				(uint64_t)job->seed, &job->in, err)) ||
	    (rc = cli_feed_check_complete(job->s, &job->in, err)) ||
	    (rc = cli_make_output_dir(job->out_dir, "--out", err)))
		return rc;
	const char *const *names = (const char *const *)job->in.names;
	const supcon_tensor *const *tensors = (const supcon_tensor *const *)job->in.tensors;
	supcon_status st = job->n_grad ?
		supcon_session_run_grad(job->s, job->in.n, names, tensors, job->n_grad,
					job->grad, job->grads) :
		supcon_session_run(job->s, job->in.n, names, tensors);
	if (st != SUPCON_OK)
		return cli_api_fail(err, st);
	return write_outputs(job, err);
}

static void run_job_free(run_job *job)
{
	for (int k = 0; job->grads && k < job->n_grad; k++)
		supcon_tensor_free(job->grads[k]);
	free(job->grads);
	free(job->depends);
	cli_feed_free(&job->in);
	supcon_session_free(job->s);
}

int cmd_run(int argc, char **argv)
{
	cli_args args;
	int status;
	if (!cli_begin(&run_spec, argc, argv, &args, &status))
		return status;
	cli_err err = {0};
	run_job job;
	memset(&job, 0, sizeof job);
	int rc = parse_run_args(&args, &job, &err);
	if (rc == SUPCON_OK)
		rc = run_job_do(&args, &job, &err);
	run_job_free(&job);
	cli_args_free(&args);
	if (rc != SUPCON_OK)
		return cli_fail("run", &err);
	return cli_finish("run", CLI_EXIT_OK);
}
