/* api_session.c: sessions of the public API (supcon.h): loading a model,
 * describing its inputs and outputs, running it, and running it with
 * gradients.
 *
 * A session holds the model as loaded and its plan (plan.h).  Gradients
 * need a different graph (runtime/autodiff.h), so run_grad keeps a second
 * model, a copy extended with the backward nodes for one list of names,
 * with its own plan; a later call with the same names reuses it, another
 * list rebuilds it.  Outputs are read from whichever plan ran last. */
#include "api_internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../onnx/onnx.h"
#include "autodiff.h"
#include "infer.h"

#define MAX_THREADS 4096

static void grad_model_free(supcon_session *s)
{
	plan_free(s->gp);
	graph_model_free(s->gm);
	for (int i = 0; i < s->n_grad; i++)
		free(s->grad_names[i]);
	free(s->grad_names);
	free(s->grad_value);
	s->gp = NULL;
	s->gm = NULL;
	s->grad_names = NULL;
	s->grad_value = NULL;
	s->n_grad = 0;
}

void supcon_session_free(supcon_session *s)
{
	if (!s)
		return;
	grad_model_free(s);
	plan_free(s->p);
	graph_model_free(s->m);
	free(s->inputs);
	for (int i = 0; i < s->n_op_kinds; i++)
		free(s->op_keys[i]);
	free(s->op_keys);
	free(s->op_counts);
	free(s);
}

/* The options every plan of s is built with. */
static plan_options session_plan_options(const supcon_session *s)
{
	return (plan_options){.threads = s->threads,
			      .check_numerics = s->check_numerics,
			      .max_memory = s->max_memory};
}

static int make_plan(supcon_session *s, sc_error *err)
{
	if (s->p)
		return SC_OK;
	plan_options opt = session_plan_options(s);
	return plan_create(s->m, &opt, &s->p, err);
}

/* What supcon_session_create_with's options ask for. */
typedef struct session_opts {
	int threads, check_numerics, prepare;
	size_t max_memory;
} session_opts;

/* A whole number in [0, hi] for option key. */
static int parse_count(const char *key, const char *val, unsigned long long hi,
		       unsigned long long *out, sc_error *err)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(val, &end, 10);
	if (end == val || *end || errno == ERANGE || *val < '0' || *val > '9' || v > hi)
		return sc_fail(err, SC_EINVAL, "supcon_session_create_with: option "
			       "%s=%s: expected a whole number from 0 to %llu", key, val,
			       hi);
	*out = v;
	return SC_OK;
}

static int apply_session_option(void *ctx, const char *key, const char *val,
				sc_error *err)
{
	session_opts *o = ctx;
	unsigned long long v = 0;
	int rc;
	if (!strcmp(key, "threads")) {
		if (!(rc = parse_count(key, val, MAX_THREADS, &v, err)))
			o->threads = (int)v;
	} else if (!strcmp(key, "check_numerics")) {
		if (!(rc = parse_count(key, val, 1, &v, err)))
			o->check_numerics = (int)v;
	} else if (!strcmp(key, "prepare")) {
		if (!(rc = parse_count(key, val, 1, &v, err)))
			o->prepare = (int)v;
	} else if (!strcmp(key, "max_memory")) {
		if (!(rc = parse_count(key, val, SIZE_MAX, &v, err)))
			o->max_memory = (size_t)v;
	} else {
		rc = sc_fail(err, SC_EINVAL, "supcon_session_create_with: unknown "
			     "option '%s' (see supcon.h for the list)", key);
	}
	return rc;
}

/* "k=v,k=v" into o, on top of the defaults. */
static int parse_session_options(const char *options, session_opts *o,
				 sc_error *err)
{
	*o = (session_opts){.prepare = 1};
	return api_parse_options(options, "supcon_session_create_with",
				 apply_session_option, o, err);
}

/* Validates m, builds its plan (which infers shapes and refuses
 * unsupported ops; with !o->prepare only infers shapes) and lists its
 * data inputs.  Takes ownership of m. */
static int session_open(graph_model *m, const char *label,
			const session_opts *o, supcon_session **out,
			sc_error *err)
{
	supcon_session *s = calloc(1, sizeof *s);
	if (!s) {
		graph_model_free(m);
		return sc_fail(err, SC_ENOMEM, "out of memory");
	}
	s->m = m;
	s->threads = o->threads;
	s->check_numerics = o->check_numerics;
	s->max_memory = o->max_memory;
	int rc = graph_validate(m, err);
	if (!rc)
		rc = o->prepare ? make_plan(s, err) : graph_infer_shapes(m, err);
	if (!rc)
		rc = api_op_histogram(s, err);
	const graph *g = m->graph;
	if (!rc && !(s->inputs = malloc(((size_t)g->n_inputs + 1) * sizeof *s->inputs)))
		rc = sc_fail(err, SC_ENOMEM, "out of memory");
	for (int i = 0; !rc && i < g->n_inputs; i++)
		if (g->values[g->inputs[i]].init < 0)
			s->inputs[s->n_inputs++] = g->inputs[i];
	if (rc) {
		if (strncmp(err->msg, label, strlen(label)) != 0)
			sc_error_prefix(err, "%s: ", label);
		supcon_session_free(s);
		return rc;
	}
	*out = s;
	return SC_OK;
}

supcon_status supcon_session_create_with(const char *path, const char *options,
					 supcon_session **out)
{
	sc_error err = {0};
	const char *fn = "supcon_session_create_with";
	int rc = !out ? api_null(&err, fn, "out") : !path ? api_null(&err, fn, "path") :
		 SC_OK;
	if (out)
		*out = NULL;
	session_opts o;
	if (!rc)
		rc = parse_session_options(options, &o, &err);
	graph_model *m = NULL;
	if (!rc)
		rc = onnx_load_file(path, &m, &err);
	if (!rc)
		rc = session_open(m, path, &o, out, &err);
	return api_done(NULL, &err, rc);
}

supcon_status supcon_session_create(const char *path, supcon_session **out)
{
	sc_error err = {0};
	if (!path)
		return api_done(NULL, &err, api_null(&err, "supcon_session_create",
						     "path"));
	return supcon_session_create_with(path, NULL, out);
}

supcon_status supcon_session_create_from_memory(const void *buf, size_t len,
						supcon_session **out)
{
	sc_error err = {0};
	const char *fn = "supcon_session_create_from_memory";
	int rc = !out ? api_null(&err, fn, "out") :
		 !buf && len ? api_null(&err, fn, "buf") : SC_OK;
	if (out)
		*out = NULL;
	graph_model *m = NULL;
	if (!rc)
		rc = onnx_load_memory(buf ? buf : "", len, NULL, "model buffer", &m, &err);
	session_opts o = {.prepare = 1};
	if (!rc)
		rc = session_open(m, "model buffer", &o, out, &err);
	return api_done(NULL, &err, rc);
}

const char *supcon_session_error(const supcon_session *s)
{
	return s ? s->err.msg : "no session (NULL)";
}

supcon_status supcon_session_set_threads(supcon_session *s, int threads)
{
	sc_error err = {0};
	if (!s)
		return api_done(NULL, &err, api_null(&err, "supcon_session_set_threads",
						     "session"));
	int rc = SC_OK;
	if (threads < 0 || threads > MAX_THREADS)
		rc = sc_fail(&err, SC_EINVAL, "supcon_session_set_threads: %d threads; "
			     "expected 0 (all cores) to %d", threads, MAX_THREADS);
	if (!rc && threads != s->threads) {
		/* oneDNN sizes its primitives for the thread count they are
		 * created with, so the plans are rebuilt at the next run */
		s->threads = threads;
		plan_free(s->p);
		s->p = NULL;
		plan_free(s->gp);
		s->gp = NULL;
		s->last = NULL;
	}
	return api_done(&s->err, &err, rc);
}

/* --- introspection ------------------------------------------------------------ */

/* The value behind input or output i, with the usual argument checks. */
static int io_value(const supcon_session *s, int output, int i, const char *fn,
		    int *v, sc_error *err)
{
	if (!s)
		return api_null(err, fn, "session");
	const graph *g = s->m->graph;
	int n = output ? g->n_outputs : s->n_inputs;
	if (i < 0 || i >= n)
		return sc_fail(err, SC_EINVAL, "%s: %s %d does not exist (the model "
			       "has %d)", fn, output ? "output" : "input", i, n);
	*v = output ? g->outputs[i] : s->inputs[i];
	return SC_OK;
}

static supcon_status io_count(const supcon_session *s, int output, int *count)
{
	sc_error err = {0};
	const char *fn = output ? "supcon_session_output_count" :
			 "supcon_session_input_count";
	int rc = !s ? api_null(&err, fn, "session") : !count ? api_null(&err, fn, "count") :
		 SC_OK;
	if (!rc)
		*count = output ? s->m->graph->n_outputs : s->n_inputs;
	return api_done(s ? (sc_error *)&s->err : NULL, &err, rc);
}

supcon_status supcon_session_input_count(const supcon_session *s, int *count)
{
	return io_count(s, 0, count);
}

supcon_status supcon_session_output_count(const supcon_session *s, int *count)
{
	return io_count(s, 1, count);
}

static supcon_status io_name(const supcon_session *s, int output, int i,
			     const char **name)
{
	sc_error err = {0};
	const char *fn = output ? "supcon_session_output_name" :
			 "supcon_session_input_name";
	int v = -1;
	int rc = name ? io_value(s, output, i, fn, &v, &err) : api_null(&err, fn, "name");
	if (!rc)
		*name = s->m->graph->values[v].name;
	return api_done(s ? (sc_error *)&s->err : NULL, &err, rc);
}

supcon_status supcon_session_input_name(const supcon_session *s, int i,
					const char **name)
{
	return io_name(s, 0, i, name);
}

supcon_status supcon_session_output_name(const supcon_session *s, int i,
					 const char **name)
{
	return io_name(s, 1, i, name);
}

/* The rank of a (dense or sparse) tensor type, -1 when unknown. */
static int type_rank(const graph_type *t)
{
	return t && (t->kind == GRAPH_TYPE_TENSOR ||
		     t->kind == GRAPH_TYPE_SPARSE_TENSOR) ? t->rank : -1;
}

static supcon_status io_info(const supcon_session *s, int output, int i,
			     int *dtype, int *rank, int64_t *dims, int max_rank)
{
	sc_error err = {0};
	const char *fn = output ? "supcon_session_output_info" :
			 "supcon_session_input_info";
	int v = -1;
	int rc = io_value(s, output, i, fn, &v, &err);
	const graph_type *t = rc ? NULL : &s->m->graph->values[v].type;
	int known = t && t->kind == GRAPH_TYPE_TENSOR;
	int r = type_rank(t);
	if (!rc && dims && r > max_rank)
		rc = sc_fail(&err, SC_EINVAL, "%s: '%s' has rank %d, dims has room "
			     "for %d", fn, s->m->graph->values[v].name, r, max_rank);
	if (!rc) {
		if (dtype)
			*dtype = known ? t->elem : 0;
		if (rank)
			*rank = r;
		for (int d = 0; dims && d < r; d++)
			dims[d] = t->dims[d].value;
	}
	return api_done(s ? (sc_error *)&s->err : NULL, &err, rc);
}

supcon_status supcon_session_input_info(const supcon_session *s, int i,
					int *dtype, int *rank, int64_t *dims,
					int max_rank)
{
	return io_info(s, 0, i, dtype, rank, dims, max_rank);
}

supcon_status supcon_session_output_info(const supcon_session *s, int i,
					 int *dtype, int *rank, int64_t *dims,
					 int max_rank)
{
	return io_info(s, 1, i, dtype, rank, dims, max_rank);
}

static supcon_status io_dim_name(const supcon_session *s, int output, int i,
				 int d, const char **name)
{
	sc_error err = {0};
	const char *fn = output ? "supcon_session_output_dim_name" :
			 "supcon_session_input_dim_name";
	int v = -1;
	int rc = name ? io_value(s, output, i, fn, &v, &err) : api_null(&err, fn, "name");
	const graph_type *t = rc ? NULL : &s->m->graph->values[v].type;
	int r = type_rank(t);
	if (!rc && (d < 0 || d >= r))
		rc = sc_fail(&err, SC_EINVAL, "%s: '%s' has no dim %d (rank %d)", fn,
			     s->m->graph->values[v].name, d, r);
	if (!rc)
		*name = t->dims[d].value < 0 ? t->dims[d].param : NULL;
	return api_done(s ? (sc_error *)&s->err : NULL, &err, rc);
}

supcon_status supcon_session_input_dim_name(const supcon_session *s, int i,
					    int d, const char **name)
{
	return io_dim_name(s, 0, i, d, name);
}

supcon_status supcon_session_output_dim_name(const supcon_session *s, int i,
					     int d, const char **name)
{
	return io_dim_name(s, 1, i, d, name);
}

/* --- running ------------------------------------------------------------------ */

/* The argument checks plan_run cannot make: NULL arrays and entries. */
static int check_bindings(const char *fn, int n, const char *const *names,
			  const supcon_tensor *const *inputs, sc_error *err)
{
	if (n < 0)
		return sc_fail(err, SC_EINVAL, "%s: n_inputs is %d", fn, n);
	if (n > 0 && !names)
		return api_null(err, fn, "names");
	if (n > 0 && !inputs)
		return api_null(err, fn, "inputs");
	for (int k = 0; k < n; k++) {
		if (!names[k])
			return sc_fail(err, SC_EINVAL, "%s: names[%d] is NULL", fn, k);
		if (!inputs[k])
			return sc_fail(err, SC_EINVAL, "%s: input '%s' (inputs[%d]) is "
				       "NULL", fn, names[k], k);
	}
	return SC_OK;
}

/* plan_run on the caller's tensors. */
static int run_plan(supcon_session *s, plan *p, int n, const char *const *names,
		    const supcon_tensor *const *inputs, sc_error *err)
{
	const sc_tensor *stack[16];
	const sc_tensor **ts = n <= 16 ? stack : malloc((size_t)n * sizeof *ts);
	if (!ts)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	for (int k = 0; k < n; k++)
		ts[k] = &inputs[k]->t;
	api_use_threads(s->threads);
	int rc = plan_run(p, n, names, ts, err);
	if (ts != stack)
		free(ts);
	return rc;
}

supcon_status supcon_session_run(supcon_session *s, int n_inputs,
				 const char *const *names,
				 const supcon_tensor *const *inputs)
{
	sc_error err = {0};
	const char *fn = "supcon_session_run";
	if (!s)
		return api_done(NULL, &err, api_null(&err, fn, "session"));
	s->last = NULL;
	int rc = check_bindings(fn, n_inputs, names, inputs, &err);
	if (!rc)
		rc = make_plan(s, &err);
	if (!rc)
		rc = run_plan(s, s->p, n_inputs, names, inputs, &err);
	if (!rc)
		s->last = s->p;
	return api_done(&s->err, &err, rc);
}

static int same_names(const supcon_session *s, int n, const char *const *wrt)
{
	if (!s->gm || s->n_grad != n)
		return 0;
	for (int k = 0; k < n; k++)
		if (strcmp(s->grad_names[k], wrt[k]) != 0)
			return 0;
	return 1;
}

/* The gradient model for wrt[0..n), built unless the last one fits. */
static int grad_model(supcon_session *s, int n, const char *const *wrt,
		      sc_error *err)
{
	plan_options opt = session_plan_options(s);
	if (same_names(s, n, wrt))
		return s->gp ? SC_OK : plan_create(s->gm, &opt, &s->gp, err);
	grad_model_free(s);
	int rc = onnx_clone_model(s->m, &s->gm, err);
	if (rc)
		return rc;
	s->grad_names = calloc((size_t)n, sizeof *s->grad_names);
	s->grad_value = calloc((size_t)n, sizeof *s->grad_value);
	if (!s->grad_names || !s->grad_value)
		rc = sc_fail(err, SC_ENOMEM, "out of memory");
	for (int k = 0; !rc && k < n; k++, s->n_grad++)
		if (!(s->grad_names[k] = strdup(wrt[k])))
			rc = sc_fail(err, SC_ENOMEM, "out of memory");
	if (!rc)
		rc = autodiff_build(s->gm, NULL, n, wrt, s->grad_value, err);
	if (!rc)
		rc = plan_create(s->gm, &opt, &s->gp, err);
	if (rc)
		grad_model_free(s);   /* a half-built model is never reused */
	return rc;
}

/* The tensor wrt is bound to in this run: its input, or the initializer. */
static const sc_tensor *grad_target(const supcon_session *s, const char *wrt,
				    int n, const char *const *names,
				    const supcon_tensor *const *inputs)
{
	for (int k = 0; k < n; k++)
		if (strcmp(names[k], wrt) == 0)
			return &inputs[k]->t;
	const graph *g = s->m->graph;
	int v = graph_find_value(g, wrt);
	return v >= 0 && g->values[v].init >= 0 ? &g->inits[g->values[v].init].tensor :
	       NULL;
}

/* The plan output holding value v of the gradient model. */
static const sc_tensor *grad_output(const supcon_session *s, int v)
{
	const char *name = s->gm->graph->values[v].name;
	for (int o = 0; o < plan_output_count(s->gp); o++)
		if (strcmp(plan_output_name(s->gp, o), name) == 0)
			return plan_output(s->gp, o);
	return NULL;
}

static int collect_grads(supcon_session *s, int n, const char *const *names,
			 const supcon_tensor *const *inputs, supcon_tensor **grads,
			 sc_error *err)
{
	int rc = SC_OK, k;
	for (k = 0; k < s->n_grad && !rc; k++) {
		const sc_tensor *g = NULL;
		sc_tensor zero = {0};
		if (s->grad_value[k] >= 0) {
			if (!(g = grad_output(s, s->grad_value[k])))
				rc = sc_fail(err, SC_EINTERNAL, "the gradient of '%s' was "
					     "not computed", s->grad_names[k]);
		} else {
			const sc_tensor *x = grad_target(s, s->grad_names[k], n, names,
							 inputs);
			if (!x)
				rc = sc_fail(err, SC_EINTERNAL, "no tensor is bound to "
					     "'%s'", s->grad_names[k]);
			else if (!(rc = tensor_alloc(&zero, x->dtype, x->rank, x->dims,
						     s->grad_names[k], err)))
				g = &zero;
		}
		if (!rc)
			rc = api_tensor_copy(g, &grads[k], err);
		tensor_free(&zero);
	}
	if (rc)   /* nothing is handed out on failure */
		for (int j = 0; j < k; j++) {
			supcon_tensor_free(grads[j]);
			grads[j] = NULL;
		}
	return rc;
}

/* The argument checks of a list of gradient names. */
static int check_wrt(const char *fn, int n_wrt, const char *const *wrt,
		     sc_error *err)
{
	if (n_wrt < 1)
		return sc_fail(err, SC_EINVAL, "%s: n_wrt is %d; ask for at least one "
			       "gradient", fn, n_wrt);
	if (!wrt)
		return api_null(err, fn, "wrt");
	for (int k = 0; k < n_wrt; k++)
		if (!wrt[k])
			return sc_fail(err, SC_EINVAL, "%s: wrt[%d] is NULL", fn, k);
	return SC_OK;
}

supcon_status supcon_session_prepare_grad(supcon_session *s, int n_wrt,
					  const char *const *wrt, int *depends)
{
	sc_error err = {0};
	const char *fn = "supcon_session_prepare_grad";
	if (!s)
		return api_done(NULL, &err, api_null(&err, fn, "session"));
	int rc = check_wrt(fn, n_wrt, wrt, &err);
	if (!rc)
		rc = grad_model(s, n_wrt, wrt, &err);
	for (int k = 0; !rc && depends && k < n_wrt; k++)
		depends[k] = s->grad_value[k] >= 0;
	return api_done(&s->err, &err, rc);
}

supcon_status supcon_session_run_grad(supcon_session *s, int n_inputs,
				      const char *const *names,
				      const supcon_tensor *const *inputs,
				      int n_wrt, const char *const *wrt,
				      supcon_tensor **grads)
{
	sc_error err = {0};
	const char *fn = "supcon_session_run_grad";
	if (!s)
		return api_done(NULL, &err, api_null(&err, fn, "session"));
	s->last = NULL;
	int rc = check_bindings(fn, n_inputs, names, inputs, &err);
	if (!rc)
		rc = check_wrt(fn, n_wrt, wrt, &err);
	if (!rc && !grads)
		rc = api_null(&err, fn, "grads");
	if (!rc)
		rc = grad_model(s, n_wrt, wrt, &err);
	if (!rc)
		rc = run_plan(s, s->gp, n_inputs, names, inputs, &err);
	if (!rc)
		rc = collect_grads(s, n_inputs, names, inputs, grads, &err);
	if (!rc)
		s->last = s->gp;
	return api_done(&s->err, &err, rc);
}

/* Output i of the last run, with the checks every reader needs. */
static int last_output(supcon_session *s, int i, const char *fn,
		       const sc_tensor **out, sc_error *err)
{
	const graph *g = s->m->graph;
	if (i < 0 || i >= g->n_outputs)
		return sc_fail(err, SC_EINVAL, "%s: output %d does not exist (the "
			       "model has %d)", fn, i, g->n_outputs);
	if (!s->last)
		return sc_fail(err, SC_EINVAL, "%s: no successful run yet: call "
			       "supcon_session_run first", fn);
	/* the gradient model keeps the model's outputs first, in order */
	if (!(*out = plan_output(s->last, i)))
		return sc_fail(err, SC_EINTERNAL, "%s: output '%s' was not computed",
			       fn, g->values[g->outputs[i]].name);
	return SC_OK;
}

supcon_status supcon_session_output(supcon_session *s, int i,
				    supcon_tensor **out)
{
	sc_error err = {0};
	const char *fn = "supcon_session_output";
	if (!s)
		return api_done(NULL, &err, api_null(&err, fn, "session"));
	const sc_tensor *t = NULL;
	int rc = out ? last_output(s, i, fn, &t, &err) : api_null(&err, fn, "out");
	if (out)
		*out = NULL;
	if (!rc)
		rc = api_tensor_copy(t, out, &err);
	return api_done(&s->err, &err, rc);
}

supcon_status supcon_session_output_read(supcon_session *s, int i,
					 supcon_dtype dtype, void *buf,
					 size_t nbytes)
{
	sc_error err = {0};
	const char *fn = "supcon_session_output_read";
	if (!s)
		return api_done(NULL, &err, api_null(&err, fn, "session"));
	const sc_tensor *t = NULL;
	int rc = last_output(s, i, fn, &t, &err);
	const char *name = rc ? "" : plan_output_name(s->last, i);
	if (!rc && (int)dtype != (int)t->dtype)
		rc = sc_fail(&err, SC_EINVAL, "%s: output '%s' is %s, not %s", fn, name,
			     tensor_dtype_name(t->dtype), tensor_dtype_name((int)dtype));
	else if (!rc && nbytes != t->nbytes)
		rc = sc_fail(&err, SC_EINVAL, "%s: output '%s' has %zu bytes (%lld "
			     "elements), the buffer %zu", fn, name, t->nbytes,
			     (long long)t->numel, nbytes);
	else if (!rc && nbytes && !buf)
		rc = api_null(&err, fn, "buf");
	if (!rc && nbytes)
		memcpy(buf, t->data, nbytes);
	return api_done(&s->err, &err, rc);
}

supcon_status supcon_session_run_stats(const supcon_session *s,
				       size_t *arena_bytes,
				       size_t *intermediate_bytes,
				       size_t *peak_bytes, double *flops)
{
	sc_error err = {0};
	const char *fn = "supcon_session_run_stats";
	if (!s)
		return api_done(NULL, &err, api_null(&err, fn, "session"));
	const plan *p = s->last;
	int rc = p ? SC_OK : sc_fail(&err, SC_EINVAL, "%s: no successful run yet: "
				     "call supcon_session_run first", fn);
	if (!rc) {
		if (arena_bytes)
			*arena_bytes = plan_arena_bytes(p);
		if (intermediate_bytes)
			*intermediate_bytes = plan_total_bytes(p);
		if (peak_bytes)
			*peak_bytes = plan_memory_peak(p);
		if (flops)
			*flops = plan_flops(p);
	}
	return api_done((sc_error *)&s->err, &err, rc);
}
