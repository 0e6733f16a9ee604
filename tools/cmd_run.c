/* cmd_run.c: `supcon run MODEL.onnx --in NAME=FILE ... --out DIR`.
 *
 * Loads and validates the model, builds the plan (which refuses a model
 * with unsupported ops before anything runs), loads every --in, creates
 * --out and checks it can be written, runs once, and writes each graph
 * output as DIR/output_<i>.pb in graph order.  The cheap checks come
 * before the run so that a typo never costs a full forward pass. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#include "onnx/onnx.h"
#include "runtime/plan.h"

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
	cli_session s;
} run_job;

static int parse_run_args(const cli_args *a, run_job *job, sc_error *err)
{
	int rc = cli_one_model(&run_spec, a, &job->model_path, err);
	if (rc != SC_OK)
		return rc;
	job->out_dir = cli_value(a, "out", NULL);
	if (!job->out_dir)
		return sc_fail(err, SC_EINVAL, "missing --out DIR (the folder for the outputs)");
	rc = cli_int_option(a, "threads", 1, 4096, 0, &job->threads, err);
	if (rc == SC_OK)
		rc = cli_int_option(a, "seed", 0, INT64_MAX, 1, &job->seed, err);
	return rc;
}

/* Writes t as DIR/<kind>_<i>.pb and prints one line for it. */
static int write_one(const run_job *job, const char *kind, int i,
		     const sc_tensor *t, const char *name, sc_error *err)
{
	size_t len = strlen(job->out_dir) + 32;
	char *path = malloc(len);
	if (!path)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	/* "out/" and "out" name the same files */
	int dir_len = (int)strlen(job->out_dir);
	while (dir_len > 1 && job->out_dir[dir_len - 1] == '/')
		dir_len--;
	snprintf(path, len, "%.*s/%s_%d.pb", dir_len, job->out_dir, kind, i);
	int rc = onnx_tensor_save_file(t, name, path, err);
	if (rc == SC_OK) {
		printf("%s  %s  ", path, name);
		cli_print_shape(stdout, t);
		putchar('\n');
	}
	free(path);
	return rc;
}

/* The tensor a --grad name is bound to in this run: its --in, or the
 * initializer. */
static const sc_tensor *grad_target(const run_job *job, const char *name)
{
	const cli_inputs *in = &job->s.in;
	for (int i = 0; i < in->n; i++)
		if (strcmp(in->names_view[i], name) == 0)
			return in->tensors[i];
	const graph *g = job->s.m->graph;
	int v = graph_find_value(g, name);
	return v >= 0 && g->values[v].init >= 0 ? &g->inits[g->values[v].init].tensor : NULL;
}

/* Writes output_<i>.pb for the model's own outputs, then grad_<k>.pb for
 * each --grad; a gradient the output does not depend on is written as
 * zeros, with one warning line. */
static int write_outputs(const run_job *job, const cli_args *a, sc_error *err)
{
	const cli_session *s = &job->s;
	for (int i = 0; i < s->n_outputs; i++) {
		const sc_tensor *t = plan_output(s->p, i);
		const char *name = plan_output_name(s->p, i);
		if (!t)
			return sc_fail(err, SC_EINTERNAL, "output %d ('%s') was not computed",
				       i, name);
		int rc = write_one(job, "output", i, t, name, err);
		if (rc)
			return rc;
	}
	const cli_opt *grad = cli_find(a, "grad");
	for (int k = 0; k < s->n_grad; k++) {
		const char *wrt = grad->values[k];
		char name[512];
		snprintf(name, sizeof name, "%s_grad", wrt);
		int rc;
		if (s->grad_value[k] >= 0) {
			const sc_tensor *t = NULL;
			const char *vname = s->m->graph->values[s->grad_value[k]].name;
			for (int o = s->n_outputs; o < plan_output_count(s->p); o++)
				if (strcmp(plan_output_name(s->p, o), vname) == 0)
					t = plan_output(s->p, o);
			if (!t)
				return sc_fail(err, SC_EINTERNAL, "gradient of '%s' was not computed", wrt);
			rc = write_one(job, "grad", k, t, name, err);
		} else {
			const sc_tensor *x = grad_target(job, wrt);
			if (!x)
				return sc_fail(err, SC_EINTERNAL, "no tensor bound to '%s'", wrt);
			fprintf(stderr, "supcon run: warning: output '%s' does not depend on '%s'; "
				"its gradient is zero\n", plan_output_name(s->p, 0), wrt);
			sc_tensor zero;
			if ((rc = tensor_alloc(&zero, x->dtype, x->rank, x->dims, wrt, err)))
				return rc;
			rc = write_one(job, "grad", k, &zero, name, err);
			tensor_free(&zero);
		}
		if (rc)
			return rc;
	}
	return SC_OK;
}

static int run_job_do(const cli_args *a, run_job *job, sc_error *err)
{
	cli_session *s = &job->s;
	int rc;
	const cli_opt *grad = cli_find(a, "grad");
	if ((rc = cli_session_open_grad(s, job->model_path, (int)job->threads, a,
					(uint64_t)job->seed, grad ? grad->n_values : 0,
					grad ? (const char *const *)grad->values : NULL,
					err)) ||
	    (rc = cli_inputs_check_complete(s->m, &s->in, err)) ||
	    (rc = cli_make_output_dir(job->out_dir, "--out", err)))
		return rc;
	rc = plan_run(s->p, s->in.n, s->in.names_view, s->in.tensors, err);
	if (rc != SC_OK)
		return rc;
	return write_outputs(job, a, err);
}

int cmd_run(int argc, char **argv)
{
	cli_args args;
	int status;
	if (!cli_begin(&run_spec, argc, argv, &args, &status))
		return status;
	sc_error err = {0};
	run_job job;
	memset(&job, 0, sizeof job);
	int rc = parse_run_args(&args, &job, &err);
	if (rc == SC_OK)
		rc = run_job_do(&args, &job, &err);
	cli_session_close(&job.s);
	cli_args_free(&args);
	if (rc != SC_OK)
		return cli_fail("run", &err);
	return cli_finish("run", CLI_EXIT_OK);
}
