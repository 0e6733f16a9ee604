/* test_optim.c: optimizers, LR schedules and the optimizer ops.
 *
 * References:
 *   - torch.optim and torch.optim.lr_scheduler, through the golden files
 *     in tests/data/optim/ written by tests/make_golden_optim.py: every
 *     parameter after every step of SGD (momentum, dampening, Nesterov,
 *     weight decay), Adam (L2, AMSGrad, a changing lr), AdamW, RMSprop
 *     (alpha, eps, momentum, centered) and Adagrad, with parameter groups
 *     and a step where one parameter has no gradient; and the lr of each
 *     schedule at every step.  Parameters must agree to 1e-5 relative
 *     (plus 1e-7 absolute for values that cancel to near zero);
 *     schedules to 1e-12.
 *   - the same golden steps run as training-graph ops (one node per
 *     group, as optim_graph_op_for describes it), in float and double, to
 *     the same 1e-5 (the ops read hyper-parameters from float attributes,
 *     which moves 1 - 0.999 by 1e-5 relative, but the updates stay within
 *     2e-6 of torch's).
 *   - ONNX's official cases for Momentum, Adam and Adagrad, and the ONNX
 *     spec's pseudo-code, evaluated here in double, for T > 0 (the
 *     official cases only have T = 0) and for double tensors.
 *   - hand-computed schedule values and the torchvision decay rule on
 *     names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "count_allocs.h"
#include "model_builder.h"
#include "op_harness.h"
#include "onnx/onnx.h"
#include "runtime/optim.h"
#include "runtime/plan.h"

#define GOLDEN_DIR SUPCON_TEST_DATA "/optim"
#define MAX_PARAMS 8
#define MAX_STEPS 8
#define MAX_NUMEL 64
#define MAX_CASES 16
#define PARAM_RTOL 1e-5
#define PARAM_ATOL 1e-7
#define OP_RTOL 1e-5

/* --- golden optimizer data ------------------------------------------------- */

typedef struct gparam {
	char name[32];
	int rank;
	int64_t dims[SC_MAX_RANK];
	int64_t numel;
	float init[MAX_NUMEL];
	int has_grad[MAX_STEPS];
	float grad[MAX_STEPS][MAX_NUMEL];
} gparam;

typedef struct gcase {
	char name[64];
	optim_config cfg;
	int n_groups;
	optim_group groups[4];
	int member[MAX_PARAMS];
	double lr[MAX_STEPS];
	float expect[MAX_STEPS][MAX_PARAMS][MAX_NUMEL];
} gcase;

typedef struct golden {
	int n_params, n_steps, n_cases;
	gparam p[MAX_PARAMS];
	gcase cases[MAX_CASES];
} golden;

static golden *gold;

static FILE *golden_open(const char *file)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", GOLDEN_DIR, file);
	FILE *f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open %s (run tests/make_golden_optim.py)", path);
	return f;
}

/* Next whitespace-separated token, skipping '#' comment lines. */
static int token(FILE *f, char *tok, size_t len)
{
	char fmt[16];
	snprintf(fmt, sizeof fmt, "%%%zus", len - 1);
	for (;;) {
		if (fscanf(f, fmt, tok) != 1)
			return 0;
		if (tok[0] != '#')
			return 1;
		int c;
		while ((c = fgetc(f)) != EOF && c != '\n')
			;
	}
}

static double num(FILE *f)
{
	char tok[64], *end;
	assert_true(token(f, tok, sizeof tok));
	double v = strtod(tok, &end);
	if (*end)
		fail_msg("golden file: '%s' is not a number", tok);
	return v;
}

static int param_index(const char *name)
{
	for (int i = 0; i < gold->n_params; i++)
		if (strcmp(gold->p[i].name, name) == 0)
			return i;
	fail_msg("golden file: unknown parameter '%s'", name);
	return -1;
}

static void read_floats(FILE *f, float *dst, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		dst[i] = (float)num(f);
}

static void set_field(FILE *f, optim_config *c)
{
	char key[64], kind[32];
	assert_true(token(f, key, sizeof key));
	if (strcmp(key, "kind") == 0) {
		optim_kind k;
		assert_true(token(f, kind, sizeof kind));
		assert_int_equal(optim_kind_parse(kind, &k, NULL), SC_OK);
		optim_config_init(c, k);
		return;
	}
	double v = num(f);
	struct { const char *name; double *d; int *i; } fields[] = {
		{"lr", &c->lr, NULL}, {"weight_decay", &c->weight_decay, NULL},
		{"momentum", &c->momentum, NULL}, {"dampening", &c->dampening, NULL},
		{"nesterov", NULL, &c->nesterov}, {"beta1", &c->beta1, NULL},
		{"beta2", &c->beta2, NULL}, {"eps", &c->eps, NULL},
		{"amsgrad", NULL, &c->amsgrad}, {"alpha", &c->alpha, NULL},
		{"centered", NULL, &c->centered}, {"lr_decay", &c->lr_decay, NULL},
		{"initial_accumulator_value", &c->initial_accumulator_value, NULL},
	};
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
		if (strcmp(key, fields[i].name) == 0) {
			if (fields[i].d)
				*fields[i].d = v;
			else
				*fields[i].i = (int)v;
			return;
		}
	fail_msg("golden file: unknown config key '%s'", key);
}

static void read_case(FILE *f, gcase *c)
{
	char tok[64];
	assert_true(token(f, c->name, sizeof c->name));
	while (token(f, tok, sizeof tok) && strcmp(tok, "end") != 0) {
		if (strcmp(tok, "set") == 0) {
			set_field(f, &c->cfg);
		} else if (strcmp(tok, "group") == 0) {
			int gi = (int)num(f);
			assert_true(gi >= 0 && gi < 4);
			c->groups[gi].lr_scale = num(f);
			c->groups[gi].weight_decay = num(f);
			if (gi + 1 > c->n_groups)
				c->n_groups = gi + 1;
		} else if (strcmp(tok, "member") == 0) {
			assert_true(token(f, tok, sizeof tok));
			int p = param_index(tok);
			c->member[p] = (int)num(f);
		} else if (strcmp(tok, "lr") == 0) {
			int t = (int)num(f);
			assert_true(t >= 0 && t < MAX_STEPS);
			c->lr[t] = num(f);
		} else if (strcmp(tok, "expect") == 0) {
			int t = (int)num(f);
			assert_true(t >= 0 && t < MAX_STEPS);
			assert_true(token(f, tok, sizeof tok));
			int p = param_index(tok);
			read_floats(f, c->expect[t][p], gold->p[p].numel);
		} else {
			fail_msg("golden file: unexpected '%s' in case %s", tok, c->name);
		}
	}
}

static void golden_load(void)
{
	if (gold)
		return;
	gold = calloc(1, sizeof *gold);
	assert_non_null(gold);
	FILE *f = golden_open("optimizers.txt");
	char tok[64];
	while (token(f, tok, sizeof tok)) {
		if (strcmp(tok, "param") == 0) {
			assert_true(gold->n_params < MAX_PARAMS);
			gparam *p = &gold->p[gold->n_params++];
			assert_true(token(f, p->name, sizeof p->name));
			p->rank = (int)num(f);
			p->numel = 1;
			for (int d = 0; d < p->rank; d++) {
				p->dims[d] = (int64_t)num(f);
				p->numel *= p->dims[d];
			}
			assert_true(p->numel <= MAX_NUMEL);
		} else if (strcmp(tok, "init") == 0) {
			assert_true(token(f, tok, sizeof tok));
			gparam *p = &gold->p[param_index(tok)];
			read_floats(f, p->init, p->numel);
		} else if (strcmp(tok, "grad") == 0) {
			int t = (int)num(f);
			assert_true(t >= 0 && t < MAX_STEPS);
			if (t + 1 > gold->n_steps)
				gold->n_steps = t + 1;
			assert_true(token(f, tok, sizeof tok));
			gparam *p = &gold->p[param_index(tok)];
			char first[64];
			long pos = ftell(f);
			assert_true(token(f, first, sizeof first));
			if (strcmp(first, "none") != 0) {
				fseek(f, pos, SEEK_SET);
				read_floats(f, p->grad[t], p->numel);
				p->has_grad[t] = 1;
			}
		} else if (strcmp(tok, "case") == 0) {
			assert_true(gold->n_cases < MAX_CASES);
			read_case(f, &gold->cases[gold->n_cases++]);
		} else {
			fail_msg("golden file: unexpected '%s'", tok);
		}
	}
	fclose(f);
	assert_true(gold->n_params >= 4 && gold->n_steps >= 3 && gold->n_cases >= 10);
}

static const gcase *golden_case(const char *name)
{
	golden_load();
	for (int i = 0; i < gold->n_cases; i++)
		if (strcmp(gold->cases[i].name, name) == 0)
			return &gold->cases[i];
	fail_msg("golden case %s is missing", name);
	return NULL;
}

/* Worst excess of |got - want| over rtol |want| + atol, as a multiple of
 * that tolerance (<= 1 passes). */
static double excess(const float *got, const float *want, int64_t n,
		     double rtol, double atol, int64_t *where)
{
	double worst = 0;
	for (int64_t i = 0; i < n; i++) {
		double tol = rtol * fabs((double)want[i]) + atol;
		double e = fabs((double)got[i] - (double)want[i]) / tol;
		if (!(e <= worst)) {
			worst = isnan(e) ? INFINITY : e;
			*where = i;
		}
	}
	return worst;
}

static void expect_param(const char *what, int step, const gparam *p,
			 const float *got, const float *want, double rtol)
{
	int64_t at = 0;
	double e = excess(got, want, p->numel, rtol, PARAM_ATOL, &at);
	if (e > 1)
		fail_msg("%s: step %d, %s[%lld] = %.9g, torch %.9g (%.2fx tolerance)",
			 what, step, p->name, (long long)at, got[at], want[at], e);
}

/* --- C API against torch ---------------------------------------------------------- */

typedef struct param_set {
	sc_tensor value[MAX_PARAMS];
	sc_tensor grad[MAX_PARAMS];
	optim_param params[MAX_PARAMS];
} param_set;

static void params_init(param_set *s, const gcase *c)
{
	sc_error err = {0};
	for (int i = 0; i < gold->n_params; i++) {
		const gparam *p = &gold->p[i];
		assert_int_equal(tensor_alloc(&s->value[i], SC_FLOAT, p->rank, p->dims,
					      p->name, &err), SC_OK);
		assert_int_equal(tensor_alloc(&s->grad[i], SC_FLOAT, p->rank, p->dims,
					      p->name, &err), SC_OK);
		memcpy(s->value[i].data, p->init, (size_t)p->numel * sizeof(float));
		s->params[i].name = p->name;
		s->params[i].value = &s->value[i];
		s->params[i].group = c ? c->member[i] : 0;
	}
}

static void params_free(param_set *s)
{
	for (int i = 0; i < gold->n_params; i++) {
		tensor_free(&s->value[i]);
		tensor_free(&s->grad[i]);
	}
}

/* Points grads[] at step t's gradients (NULL where torch had none). */
static void step_grads(param_set *s, int t, const sc_tensor **grads)
{
	for (int i = 0; i < gold->n_params; i++) {
		const gparam *p = &gold->p[i];
		grads[i] = NULL;
		if (p->has_grad[t]) {
			memcpy(s->grad[i].data, p->grad[t], (size_t)p->numel * sizeof(float));
			grads[i] = &s->grad[i];
		}
	}
}

static void run_golden_case(const gcase *c)
{
	param_set s;
	params_init(&s, c);
	/* The golden groups were split by the script's own rule; ours must
	 * agree on these names. */
	if (c->n_groups > 1)
		for (int i = 0; i < gold->n_params; i++)
			if (c->member[i] != optim_param_no_decay(gold->p[i].name, gold->p[i].rank))
				fail_msg("%s: %s is in group %d, our rule says %d", c->name,
					 gold->p[i].name, c->member[i],
					 optim_param_no_decay(gold->p[i].name, gold->p[i].rank));
	optim *o;
	sc_error err = {0};
	if (optim_create(&c->cfg, c->n_groups, c->groups, gold->n_params, s.params, &o, &err))
		fail_msg("%s: %s", c->name, err.msg);
	for (int t = 0; t < gold->n_steps; t++) {
		const sc_tensor *grads[MAX_PARAMS];
		step_grads(&s, t, grads);
		if (optim_step(o, c->lr[t], grads, &err))
			fail_msg("%s: step %d: %s", c->name, t, err.msg);
		for (int i = 0; i < gold->n_params; i++)
			expect_param(c->name, t, &gold->p[i], s.value[i].data,
				     c->expect[t][i], PARAM_RTOL);
	}
	/* The parameter that missed a gradient took one step fewer. */
	for (int i = 0; i < gold->n_params; i++) {
		int64_t steps = 0;
		for (int t = 0; t < gold->n_steps; t++)
			steps += gold->p[i].has_grad[t];
		assert_int_equal(optim_param_steps(o, i), steps);
	}
	optim_free(o);
	params_free(&s);
}

static void test_golden_optimizers(void **state)
{
	(void)state;
	golden_load();
	for (int i = 0; i < gold->n_cases; i++)
		run_golden_case(&gold->cases[i]);
}

/* --- the same steps as graph ops ------------------------------------------------------ */

/* Builds a model with one optimizer node per parameter group over every
 * parameter that has a gradient at every step (a graph cannot skip one).
 * Inputs R<g>, T, then per parameter x/g/state values; outputs in the
 * op's order. */
typedef struct op_model {
	graph_model *m;
	plan *p;
	int n_use, use[MAX_PARAMS];       /* golden parameter indices */
	optim_graph_op ops[4];
	sc_tensor x[MAX_PARAMS], g[MAX_PARAMS];
	sc_tensor st[MAX_PARAMS][OPTIM_MAX_STATES];
	sc_tensor r[4], t;
} op_model;

static void add_graph_attrs(graph_node *n, const optim_graph_op *op)
{
	for (int a = 0; a < op->n_attrs; a++) {
		const optim_graph_attr *ga = &op->attrs[a];
		if (ga->type == ATTR_FLOAT)
			attr_float(n, ga->name, ga->f);
		else if (ga->type == ATTR_INT)
			attr_int(n, ga->name, ga->i);
		else
			attr_str(n, ga->name, ga->s);
	}
}

static void gparam_shape(const gparam *p, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = '\0';
	for (int d = 0; d < p->rank; d++)
		used += (size_t)snprintf(buf + used, len - used, "%s%lld",
					 d ? "," : "", (long long)p->dims[d]);
}

static void op_model_build(op_model *om, const gcase *c, int dtype)
{
	sc_error err = {0};
	memset(om, 0, sizeof *om);
	for (int i = 0; i < gold->n_params; i++) {
		int all = 1;
		for (int t = 0; t < gold->n_steps; t++)
			all &= gold->p[i].has_grad[t];
		if (all)
			om->use[om->n_use++] = i;
	}
	om->m = model(17);
	add_opset(om->m, "ai.onnx.preview.training", 1);
	add_opset(om->m, "ai.supcon", 1);
	graph *g = om->m->graph;
	input(g, "T", SC_INT64, "");
	for (int gi = 0; gi < c->n_groups; gi++) {
		char name[32];
		snprintf(name, sizeof name, "R%d", gi);
		input(g, name, SC_FLOAT, "");
		if (optim_graph_op_for(&c->cfg, c->groups[gi].weight_decay, &om->ops[gi], &err))
			fail_msg("%s: %s", c->name, err.msg);
	}
	for (int gi = 0; gi < c->n_groups; gi++) {
		const optim_graph_op *op = &om->ops[gi];
		int members[MAX_PARAMS], n = 0;
		for (int u = 0; u < om->n_use; u++)
			if (c->member[om->use[u]] == gi)
				members[n++] = om->use[u];
		if (!n)
			continue;
		int ins[2 + MAX_PARAMS * (2 + OPTIM_MAX_STATES)];
		int outs[MAX_PARAMS * (1 + OPTIM_MAX_STATES)];
		int n_in = 0, n_out = 0;
		char name[64], shape[64];
		snprintf(name, sizeof name, "R%d", gi);
		ins[n_in++] = val(g, name);
		ins[n_in++] = val(g, "T");
		const char *groups[2 + OPTIM_MAX_STATES] = {"x", "g", "s0", "s1", "s2"};
		for (int k = 0; k < 2 + op->n_states; k++)
			for (int j = 0; j < n; j++) {
				const gparam *p = &gold->p[members[j]];
				snprintf(name, sizeof name, "%s.%s", p->name, groups[k]);
				gparam_shape(p, shape, sizeof shape);
				ins[n_in++] = input(g, name, dtype, shape);
			}
		for (int k = 0; k < 1 + op->n_states; k++)
			for (int j = 0; j < n; j++) {
				snprintf(name, sizeof name, "%s.%s_new",
					 gold->p[members[j]].name, k ? groups[k + 1] : "x");
				outs[n_out++] = output(g, name);
			}
		snprintf(name, sizeof name, "step%d", gi);
		int idx = graph_add_node(g, op->op_type, op->domain, name, n_in, ins,
					 n_out, outs, &err);
		if (idx < 0)
			fail_msg("%s", err.msg);
		add_graph_attrs(&g->nodes[idx], op);
	}
	plan_options opt = {.threads = 2};
	if (plan_create(om->m, &opt, &om->p, &err))
		fail_msg("%s: plan_create: %s", c->name, err.msg);
}

static void tensor_fill(sc_tensor *t, int dtype, const gparam *p,
			const float *src, float value)
{
	sc_error err = {0};
	if (!t->data)
		assert_int_equal(tensor_alloc(t, dtype, p->rank, p->dims, p->name, &err), SC_OK);
	for (int64_t e = 0; e < p->numel; e++) {
		float v = src ? src[e] : value;
		if (dtype == SC_DOUBLE)
			((double *)t->data)[e] = v;
		else
			((float *)t->data)[e] = v;
	}
}

static double elem(const sc_tensor *t, int64_t e)
{
	return t->dtype == SC_DOUBLE ? ((const double *)t->data)[e] :
	       ((const float *)t->data)[e];
}

/* Feeds every input by name and runs once. */
static void op_model_run(op_model *om, const gcase *c, int t)
{
	const char *names[64];
	const sc_tensor *vals[64];
	char store[64][64];
	int n = 0;
	sc_error err = {0};
	assert_int_equal(tensor_alloc(&om->t, SC_INT64, 0, NULL, "T", &err), SC_OK);
	*(int64_t *)om->t.data = t;
	names[n] = "T";
	vals[n++] = &om->t;
	for (int gi = 0; gi < c->n_groups; gi++) {
		assert_int_equal(tensor_alloc(&om->r[gi], SC_FLOAT, 0, NULL, "R", &err), SC_OK);
		*(float *)om->r[gi].data = (float)(c->lr[t] * c->groups[gi].lr_scale);
		snprintf(store[n], sizeof store[n], "R%d", gi);
		names[n] = store[n];
		vals[n++] = &om->r[gi];
	}
	const char *groups[2 + OPTIM_MAX_STATES] = {"x", "g", "s0", "s1", "s2"};
	for (int u = 0; u < om->n_use; u++) {
		int pi = om->use[u];
		const optim_graph_op *op = &om->ops[c->member[pi]];
		sc_tensor *tensors[2 + OPTIM_MAX_STATES] = {&om->x[u], &om->g[u],
			&om->st[u][0], &om->st[u][1], &om->st[u][2]};
		for (int k = 0; k < 2 + op->n_states; k++) {
			snprintf(store[n], sizeof store[n], "%s.%s", gold->p[pi].name, groups[k]);
			names[n] = store[n];
			vals[n++] = tensors[k];
		}
	}
	if (plan_run(om->p, n, names, vals, &err))
		fail_msg("%s: step %d: %s", c->name, t, err.msg);
	tensor_free(&om->t);
	for (int gi = 0; gi < c->n_groups; gi++)
		tensor_free(&om->r[gi]);
}

/* Copies an output back into the tensor that feeds the next step. */
static void take_output(op_model *om, const char *name, sc_tensor *dst)
{
	for (int i = 0; i < plan_output_count(om->p); i++)
		if (strcmp(plan_output_name(om->p, i), name) == 0) {
			const sc_tensor *o = plan_output(om->p, i);
			assert_int_equal(o->nbytes, dst->nbytes);
			memcpy(dst->data, o->data, o->nbytes);
			return;
		}
	fail_msg("no output %s", name);
}

static void run_golden_ops(const char *case_name, int dtype)
{
	const gcase *c = golden_case(case_name);
	op_model om;
	op_model_build(&om, c, dtype);
	for (int u = 0; u < om.n_use; u++) {
		const gparam *p = &gold->p[om.use[u]];
		const optim_graph_op *op = &om.ops[c->member[om.use[u]]];
		tensor_fill(&om.x[u], dtype, p, p->init, 0);
		for (int s = 0; s < op->n_states; s++)
			tensor_fill(&om.st[u][s], dtype, p, NULL, op->state_init[s]);
	}
	const char *groups[OPTIM_MAX_STATES] = {"s0", "s1", "s2"};
	for (int t = 0; t < gold->n_steps; t++) {
		for (int u = 0; u < om.n_use; u++) {
			const gparam *p = &gold->p[om.use[u]];
			tensor_fill(&om.g[u], dtype, p, p->grad[t], 0);
		}
		op_model_run(&om, c, t);
		for (int u = 0; u < om.n_use; u++) {
			int pi = om.use[u];
			const gparam *p = &gold->p[pi];
			const optim_graph_op *op = &om.ops[c->member[pi]];
			char name[64];
			snprintf(name, sizeof name, "%s.x_new", p->name);
			take_output(&om, name, &om.x[u]);
			for (int s = 0; s < op->n_states; s++) {
				snprintf(name, sizeof name, "%s.%s_new", p->name, groups[s]);
				take_output(&om, name, &om.st[u][s]);
			}
			float got[MAX_NUMEL];
			for (int64_t e = 0; e < p->numel; e++)
				got[e] = (float)elem(&om.x[u], e);
			char what[96];
			snprintf(what, sizeof what, "%s as %s (%s)", case_name,
				 op->op_type, tensor_dtype_name(dtype));
			expect_param(what, t, p, got, c->expect[t][pi], OP_RTOL);
		}
	}
	for (int u = 0; u < om.n_use; u++) {
		tensor_free(&om.x[u]);
		tensor_free(&om.g[u]);
		for (int s = 0; s < OPTIM_MAX_STATES; s++)
			tensor_free(&om.st[u][s]);
	}
	plan_free(om.p);
	graph_model_free(om.m);
}

static void test_golden_ops(void **state)
{
	(void)state;
	const char *cases[] = {
		"sgd_plain", "sgd_momentum_groups", "sgd_nesterov", "adam_explr",
		"adam_l2_amsgrad", "adamw_groups", "adamw_amsgrad", "rmsprop",
		"rmsprop_centered", "rmsprop_momentum_centered", "adagrad",
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		run_golden_ops(cases[i], SC_FLOAT);
		run_golden_ops(cases[i], SC_DOUBLE);
	}
}

/* --- ONNX's official cases ----------------------------------------------------------------- */

static void load_pb(const char *dir, const char *kind, int i, sc_tensor *t)
{
	char path[1100];
	sc_error err = {0};
	snprintf(path, sizeof path, "%s/test_data_set_0/%s_%d.pb", dir, kind, i);
	if (onnx_tensor_load_file(path, t, NULL, &err))
		fail_msg("%s", err.msg);
}

/* Runs one official case with ONNX's tolerances; returns the worst
 * excess over them.  patch_eps > 0 adds that epsilon to the node. */
static double run_official(const char *name, float patch_eps)
{
	char dir[512];
	snprintf(dir, sizeof dir, "%s/node/%s", ONNX_TESTDATA, name);
	char path[600];
	snprintf(path, sizeof path, "%s/model.onnx", dir);
	graph_model *m;
	sc_error err = {0};
	if (onnx_load_file(path, &m, &err))
		fail_msg("%s", err.msg);
	if (patch_eps > 0)
		attr_float(&m->graph->nodes[0], "epsilon", patch_eps);
	plan *p;
	plan_options opt = {.threads = 2};
	if (plan_create(m, &opt, &p, &err))
		fail_msg("%s: %s", name, err.msg);
	int n_in = plan_input_count(p);
	sc_tensor ins[16];
	const sc_tensor *in_ptr[16];
	const char *names[16];
	assert_true(n_in <= 16);
	for (int i = 0; i < n_in; i++) {
		load_pb(dir, "input", i, &ins[i]);
		in_ptr[i] = &ins[i];
		names[i] = plan_input_name(p, i);
	}
	if (plan_run(p, n_in, names, in_ptr, &err))
		fail_msg("%s: %s", name, err.msg);
	double worst = 0;
	for (int o = 0; o < plan_output_count(p); o++) {
		sc_tensor want;
		load_pb(dir, "output", o, &want);
		const sc_tensor *got = plan_output(p, o);
		assert_int_equal(got->dtype, want.dtype);
		assert_int_equal(got->numel, want.numel);
		for (int64_t e = 0; e < want.numel; e++) {
			double w = elem(&want, e), g = elem(got, e);
			double ex = fabs(g - w) / (1e-7 + 1e-3 * fabs(w));
			if (!(ex <= worst))
				worst = isnan(ex) ? INFINITY : ex;
		}
		tensor_free(&want);
	}
	for (int i = 0; i < n_in; i++)
		tensor_free(&ins[i]);
	plan_free(p);
	graph_model_free(m);
	return worst;
}

static void test_official_cases(void **state)
{
	(void)state;
	const char *cases[] = {
		"test_momentum", "test_momentum_multiple", "test_nesterov_momentum",
		"test_adam", "test_adagrad", "test_adagrad_multiple",
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		double e = run_official(cases[i], 0);
		if (e > 1)
			fail_msg("%s: %.2fx ONNX's tolerance", cases[i], e);
	}
	/* onnx 1.12's test_adam_multiple/model.onnx lacks the epsilon = 1e-2
	 * that its generator used for the expected outputs (onnx/onnx#7749,
	 * fixed upstream), so with the spec's default epsilon the outputs
	 * cannot match.  With the attribute restored they must; and without
	 * it they must not, which shows the default is honoured. */
	double with = run_official("test_adam_multiple", 1e-2f);
	if (with > 1)
		fail_msg("test_adam_multiple with epsilon 1e-2: %.2fx tolerance", with);
	assert_true(run_official("test_adam_multiple", 0) > 1);
}

/* --- ONNX semantics beyond T = 0, from the spec's pseudo-code -------------------------------- */

typedef struct spec_ref {
	const char *op;
	double alpha, beta, eps, norm, post, decay;
	int nesterov;
} spec_ref;

/* One element of one step, in double, exactly as the spec's pseudo-code.
 * The coefficients are ONNX float attributes, so they are rounded to
 * float first, as the kernel sees them. */
static void spec_step(const spec_ref *spec, double R, int64_t T, double *x,
		      double g, double *v, double *h)
{
	spec_ref rounded = *spec;
	const spec_ref *s = &rounded;
	rounded.alpha = (float)spec->alpha;
	rounded.beta = (float)spec->beta;
	rounded.eps = (float)spec->eps;
	rounded.norm = (float)spec->norm;
	rounded.post = (float)spec->post;
	rounded.decay = (float)spec->decay;
	double gr = s->norm * *x + g;
	if (strcmp(s->op, "Momentum") == 0) {
		double beta = T > 0 ? s->beta : 1;
		*v = s->alpha * *v + beta * gr;
		*x = s->nesterov ? *x - R * (gr + s->alpha * *v) : *x - R * *v;
	} else if (strcmp(s->op, "Adagrad") == 0) {
		double r = R / (1 + (double)T * s->decay);
		*h = *h + gr * gr;
		*x = *x - r * gr / (sqrt(*h) + s->eps);
	} else {
		*v = s->alpha * *v + (1 - s->alpha) * gr;
		*h = s->beta * *h + (1 - s->beta) * gr * gr;
		double r = T > 0 ? R * sqrt(1 - pow(s->beta, (double)T)) /
				   (1 - pow(s->alpha, (double)T)) : R;
		*x = (1 - s->post) * (*x - r * (*v / (sqrt(*h) + s->eps)));
	}
}

/* Runs op for several steps (T = 0, 1, ...) on two tensors in one node
 * and compares each step with spec_step. */
static void check_spec(const spec_ref *s, int dtype, double rtol)
{
	int is_adam = strcmp(s->op, "Adam") == 0, n_states = is_adam ? 2 : 1;
	int64_t dims0[] = {5}, dims1[] = {2, 3};
	const int64_t *dims[2] = {dims0, dims1};
	int ranks[2] = {1, 2};
	int64_t numel[2] = {5, 6};
	graph_model *m = model(17);
	add_opset(m, "ai.onnx.preview.training", 1);
	graph *g = m->graph;
	input(g, "R", SC_FLOAT, "");
	input(g, "T", SC_INT64, "");
	const char *shapes[2] = {"5", "2,3"};
	const char *groups[4] = {"x", "g", "v", "h"};
	char name[32];
	int ins[2 + 2 * 4], outs[2 * 3], n_in = 2, n_out = 0;
	ins[0] = val(g, "R");
	ins[1] = val(g, "T");
	for (int k = 0; k < 2 + n_states; k++)
		for (int i = 0; i < 2; i++) {
			snprintf(name, sizeof name, "%s%d", groups[k], i);
			ins[n_in++] = input(g, name, dtype, shapes[i]);
		}
	for (int k = 0; k < 1 + n_states; k++)
		for (int i = 0; i < 2; i++) {
			snprintf(name, sizeof name, "%s%d_new", k ? groups[k + 1] : "x", i);
			outs[n_out++] = output(g, name);
		}
	sc_error err = {0};
	int idx = graph_add_node(g, s->op, "ai.onnx.preview.training", "opt",
				 n_in, ins, n_out, outs, &err);
	assert_true(idx >= 0);
	graph_node *n = &g->nodes[idx];
	if (strcmp(s->op, "Momentum") == 0) {
		attr_float(n, "alpha", (float)s->alpha);
		attr_float(n, "beta", (float)s->beta);
		attr_float(n, "norm_coefficient", (float)s->norm);
		attr_str(n, "mode", s->nesterov ? "nesterov" : "standard");
	} else if (strcmp(s->op, "Adagrad") == 0) {
		attr_float(n, "decay_factor", (float)s->decay);
		attr_float(n, "epsilon", (float)s->eps);
		attr_float(n, "norm_coefficient", (float)s->norm);
	} else {
		attr_float(n, "alpha", (float)s->alpha);
		attr_float(n, "beta", (float)s->beta);
		attr_float(n, "epsilon", (float)s->eps);
		attr_float(n, "norm_coefficient", (float)s->norm);
		attr_float(n, "norm_coefficient_post", (float)s->post);
	}
	plan *p;
	plan_options opt = {.threads = 2};
	if (plan_create(m, &opt, &p, &err))
		fail_msg("%s: %s", s->op, err.msg);

	/* The reference starts from the same float-rounded attributes. */
	spec_ref r = *s;
	r.alpha = (float)s->alpha;
	r.beta = (float)s->beta;
	r.eps = (float)s->eps;
	r.norm = (float)s->norm;
	r.post = (float)s->post;
	r.decay = (float)s->decay;
	double ref[4][2][6];
	sc_tensor t[4][2], R, T;
	for (int k = 0; k < 2 + n_states; k++)
		for (int i = 0; i < 2; i++) {
			assert_int_equal(tensor_alloc(&t[k][i], dtype, ranks[i], dims[i], "t", &err), SC_OK);
			for (int64_t e = 0; e < numel[i]; e++) {
				/* accumulators of squares start >= 0 */
				int square = k == 3 || (k == 2 && !strcmp(s->op, "Adagrad"));
				double v = square ? uniform(0.1, 2) : uniform(-1, 1);
				if (dtype == SC_FLOAT)
					v = (float)v;
				ref[k][i][e] = v;
			}
		}
	assert_int_equal(tensor_alloc(&R, SC_FLOAT, 0, NULL, "R", &err), SC_OK);
	assert_int_equal(tensor_alloc(&T, SC_INT64, 0, NULL, "T", &err), SC_OK);
	*(float *)R.data = 0.125f;
	for (int64_t step = 0; step < 6; step++) {
		*(int64_t *)T.data = step;
		const char *names[2 + 2 * 4];
		const sc_tensor *vals[2 + 2 * 4];
		char store[2 + 2 * 4][16];
		int nv = 0;
		names[nv] = "R";
		vals[nv++] = &R;
		names[nv] = "T";
		vals[nv++] = &T;
		for (int k = 0; k < 2 + n_states; k++)
			for (int i = 0; i < 2; i++) {
				if (k == 1)   /* a fresh gradient every step */
					for (int64_t e = 0; e < numel[i]; e++) {
						double v = uniform(-2, 2);
						ref[1][i][e] = dtype == SC_FLOAT ? (float)v : v;
					}
				for (int64_t e = 0; e < numel[i]; e++) {
					if (dtype == SC_DOUBLE)
						((double *)t[k][i].data)[e] = ref[k][i][e];
					else
						((float *)t[k][i].data)[e] = (float)ref[k][i][e];
				}
				snprintf(store[nv], sizeof store[nv], "%s%d", groups[k], i);
				names[nv] = store[nv];
				vals[nv++] = &t[k][i];
			}
		if (plan_run(p, nv, names, vals, &err))
			fail_msg("%s: %s", s->op, err.msg);
		for (int i = 0; i < 2; i++)
			for (int64_t e = 0; e < numel[i]; e++) {
				double *v = &ref[2][i][e];
				double *h = is_adam ? &ref[3][i][e] : &ref[2][i][e];
				spec_step(&r, 0.125, step, &ref[0][i][e], ref[1][i][e], v, h);
			}
		/* Outputs: x0 x1 s0_0 s0_1 [s1_0 s1_1]; feed them back. */
		for (int k = 0; k < 1 + n_states; k++)
			for (int i = 0; i < 2; i++) {
				const sc_tensor *o = plan_output(p, k * 2 + i);
				int src = k ? k + 1 : 0;
				for (int64_t e = 0; e < numel[i]; e++) {
					double want = ref[src][i][e];
					expect_near(elem(o, e), want, rtol, 1e-12, s->op, e);
					ref[src][i][e] = elem(o, e);   /* no drift between the two */
				}
			}
	}
	for (int k = 0; k < 2 + n_states; k++)
		for (int i = 0; i < 2; i++)
			tensor_free(&t[k][i]);
	tensor_free(&R);
	tensor_free(&T);
	plan_free(p);
	graph_model_free(m);
}

static void test_onnx_semantics(void **state)
{
	(void)state;
	spec_ref cases[] = {
		{.op = "Momentum", .alpha = 0.9, .beta = 0.5, .norm = 0.01},
		{.op = "Momentum", .alpha = 0.8, .beta = 0.75, .norm = 0.02, .nesterov = 1},
		{.op = "Adagrad", .decay = 0.1, .eps = 1e-6, .norm = 0.01},
		{.op = "Adam", .alpha = 0.9, .beta = 0.999, .eps = 1e-6, .norm = 0.01, .post = 0.001},
		{.op = "Adam", .alpha = 0.5, .beta = 0.75, .eps = 1e-3},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		check_spec(&cases[i], SC_DOUBLE, 1e-12);
		check_spec(&cases[i], SC_FLOAT, 1e-5);
	}
}

/* Bad graphs: wrong counts, missing required attributes, shapes that
 * disagree, a T that is not int64. */
static void test_op_errors(void **state)
{
	(void)state;
	sc_error err = {0};
	struct {
		const char *op, *domain, *ins, *outs;
		int bad_shape, no_mode, bad_mode, t_float;
		const char *want;
	} cases[] = {
		{"Momentum", "ai.onnx.preview.training", "R,T,x,g", "xn", 0, 0, 0, 0, "inputs"},
		{"Momentum", "ai.onnx.preview.training", "R,T,x,g,v", "xn", 0, 0, 0, 0, "outputs"},
		{"Momentum", "ai.onnx.preview.training", "R,T,x,g,v", "xn,vn", 0, 1, 0, 0, "'mode' is required"},
		{"Momentum", "ai.onnx.preview.training", "R,T,x,g,v", "xn,vn", 0, 0, 1, 0, "'standard' or 'nesterov'"},
		{"Adagrad", "ai.onnx.preview.training", "R,T,x,g,v", "xn,vn", 1, 0, 0, 0, "different shape"},
		{"Adam", "ai.onnx.preview.training", "R,T,x,g,v,h", "xn,vn,hn", 0, 0, 0, 1, "int64"},
		{"AdamW", "ai.supcon", "R,T,x,g,v,h", "xn,vn", 0, 0, 0, 0, "outputs"},
		{"RMSprop", "ai.supcon", "R,T,x,g,v,h", "xn,vn,hn", 0, 0, 0, 0, "inputs"},
	};
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		graph_model *m = model(17);
		add_opset(m, cases[c].domain, 1);
		graph *g = m->graph;
		input(g, "R", SC_FLOAT, "");
		input(g, "T", cases[c].t_float ? SC_FLOAT : SC_INT64, "");
		input(g, "x", SC_FLOAT, "3");
		input(g, "g", SC_FLOAT, "3");
		input(g, "v", SC_FLOAT, cases[c].bad_shape ? "4" : "3");
		if (strstr(cases[c].ins, ",h"))
			input(g, "h", SC_FLOAT, "3");
		int ins[16], outs[16];
		int ni = names(g, cases[c].ins, ins), no = names(g, cases[c].outs, outs);
		for (int o = 0; o < no; o++)
			push_output(g, outs[o]);
		int idx = graph_add_node(g, cases[c].op, cases[c].domain, "opt", ni, ins,
					 no, outs, &err);
		assert_true(idx >= 0);
		if (strcmp(cases[c].op, "Momentum") == 0) {
			graph_node *n = &g->nodes[idx];
			attr_float(n, "alpha", 0.9f);
			attr_float(n, "beta", 0.9f);
			attr_float(n, "norm_coefficient", 0);
			if (!cases[c].no_mode)
				attr_str(n, "mode", cases[c].bad_mode ? "heavy" : "standard");
		}
		plan *p = NULL;
		plan_options opt = {.threads = 2};
		int rc = plan_create(m, &opt, &p, &err);
		if (rc == SC_OK && cases[c].bad_shape) {
			/* shapes are only compared once tensors arrive */
			float zeros[4] = {0};
			int64_t d3 = 3, d4 = 4;
			sc_tensor R = {.dtype = SC_FLOAT, .rank = 0, .numel = 1, .nbytes = 4, .data = zeros};
			int64_t t0 = 0;
			sc_tensor T = {.dtype = SC_INT64, .rank = 0, .numel = 1, .nbytes = 8, .data = &t0};
			sc_tensor x = {.dtype = SC_FLOAT, .rank = 1, .dims = {d3}, .numel = 3, .nbytes = 12, .data = zeros};
			sc_tensor v = {.dtype = SC_FLOAT, .rank = 1, .dims = {d4}, .numel = 4, .nbytes = 16, .data = zeros};
			const char *nm[] = {"R", "T", "x", "g", "v"};
			const sc_tensor *vals[] = {&R, &T, &x, &x, &v};
			rc = plan_run(p, 5, nm, vals, &err);
		}
		if (rc == SC_OK)
			fail_msg("%s case %zu was accepted", cases[c].op, c);
		if (!strstr(err.msg, cases[c].want))
			fail_msg("%s case %zu: message '%s' lacks '%s'", cases[c].op, c,
				 err.msg, cases[c].want);
		plan_free(p);
		graph_model_free(m);
	}
}

/* --- schedules --------------------------------------------------------------------------- */

static void test_golden_schedules(void **state)
{
	(void)state;
	FILE *f = golden_open("schedules.txt");
	char tok[64], name[64], spec[128];
	int n_cases = 0;
	while (token(f, tok, sizeof tok)) {
		assert_string_equal(tok, "schedule");
		assert_true(token(f, name, sizeof name));
		assert_true(token(f, spec, sizeof spec));
		double base = num(f);
		int count = (int)num(f);
		optim_schedule s;
		sc_error err = {0};
		if (optim_schedule_parse(spec, base, &s, &err))
			fail_msg("%s: %s", name, err.msg);
		for (int t = 0; t < count; t++) {
			double want = num(f), got = optim_schedule_lr(&s, t);
			if (!(fabs(got - want) <= 1e-12 * fabs(want) + 1e-15))
				fail_msg("%s (%s): lr at step %d is %.17g, torch %.17g",
					 name, spec, t, got, want);
		}
		n_cases++;
	}
	fclose(f);
	assert_true(n_cases >= 10);
}

static void test_schedule_values(void **state)
{
	(void)state;
	optim_schedule s;
	sc_error err = {0};
	assert_int_equal(optim_schedule_parse("cosine:10:0.01", 1.0, &s, &err), SC_OK);
	assert_true(fabs(optim_schedule_lr(&s, 0) - 1.0) < 1e-15);
	assert_true(fabs(optim_schedule_lr(&s, 5) - 0.505) < 1e-15);
	assert_true(fabs(optim_schedule_lr(&s, 10) - 0.01) < 1e-15);
	assert_true(fabs(optim_schedule_lr(&s, -3) - 1.0) < 1e-15);

	assert_int_equal(optim_schedule_parse("multistep:3,6", 2.0, &s, &err), SC_OK);
	double want_ms[] = {2, 2, 2, 0.2, 0.2, 0.2, 0.02, 0.02};
	for (int t = 0; t < 8; t++)
		assert_true(fabs(optim_schedule_lr(&s, t) - want_ms[t]) < 1e-15);

	/* Sequential warm-up: 0.1 -> 1 over 3 steps, then step decay from 1. */
	assert_int_equal(optim_schedule_parse("warmup:3:0.1:seq+step:2:0.5", 1.0, &s, &err), SC_OK);
	double want_ws[] = {0.1, 0.4, 0.7, 1, 1, 0.5, 0.5, 0.25};
	for (int t = 0; t < 8; t++)
		if (fabs(optim_schedule_lr(&s, t) - want_ws[t]) > 1e-15)
			fail_msg("warmup seq step %d: %.17g", t, optim_schedule_lr(&s, t));

	/* Chained: the warm-up factor multiplies a schedule that keeps its
	 * own clock. */
	assert_int_equal(optim_schedule_parse("step:2:0.5+warmup:4:0.2", 1.0, &s, &err), SC_OK);
	double want_wc[] = {0.2, 0.4, 0.5 * 0.6, 0.5 * 0.8, 0.25, 0.25};
	for (int t = 0; t < 6; t++)
		if (fabs(optim_schedule_lr(&s, t) - want_wc[t]) > 1e-15)
			fail_msg("warmup chained step %d: %.17g", t, optim_schedule_lr(&s, t));

	/* The default start factor is LinearLR's 1/3. */
	assert_int_equal(optim_schedule_parse("warmup:2", 3.0, &s, &err), SC_OK);
	assert_true(fabs(optim_schedule_lr(&s, 0) - 1.0) < 1e-15);
	assert_true(fabs(optim_schedule_lr(&s, 1) - 2.0) < 1e-15);
	assert_true(fabs(optim_schedule_lr(&s, 9) - 3.0) < 1e-15);

	assert_int_equal(optim_schedule_parse("exp:0.5", 4.0, &s, &err), SC_OK);
	assert_true(fabs(optim_schedule_lr(&s, 3) - 0.5) < 1e-15);
	assert_int_equal(optim_schedule_parse("constant", 0.25, &s, &err), SC_OK);
	assert_true(optim_schedule_lr(&s, 1000) == 0.25);
}

static void test_schedule_errors(void **state)
{
	(void)state;
	const char *bad[] = {
		"", "linear", "step", "step:0", "step:x", "step:3:0.1:9",
		"multistep:5,3", "multistep:", "multistep:0,2", "exp", "exp:-1",
		"cosine", "cosine:0", "cosine:5:-1", "warmup:0", "warmup:3:0",
		"warmup:3:1.5", "warmup:3:0.5:later", "warmup:3+warmup:4",
		"step:3+cosine:4", "step:3+", "+step:3", "cosine:10:nan",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		optim_schedule s;
		sc_error err = {0};
		if (optim_schedule_parse(bad[i], 0.1, &s, &err) == SC_OK)
			fail_msg("schedule '%s' was accepted", bad[i]);
		assert_int_equal(err.code, SC_EINVAL);
		assert_non_null(strstr(err.msg, "schedule"));
	}
	optim_schedule s;
	sc_error err = {0};
	assert_int_equal(optim_schedule_parse("step:3", -1.0, &s, &err), SC_EINVAL);
	optim_schedule_init(&s, 0.1);
	s.kind = OPTIM_LR_MULTISTEP;
	s.n_milestones = OPTIM_MAX_MILESTONES + 1;
	assert_int_equal(optim_schedule_check(&s, &err), SC_EINVAL);
}

/* --- groups, config, state ----------------------------------------------------------------- */

static void test_no_decay_rule(void **state)
{
	(void)state;
	struct { const char *name; int rank, want; } cases[] = {
		{"conv1.weight", 4, 0}, {"layer1.0.conv2.weight", 4, 0},
		{"fc.weight", 2, 0}, {"fc.bias", 1, 1}, {"bn1.weight", 1, 1},
		{"bn1.bias", 1, 1}, {"layer2.0.downsample.1.weight", 1, 1},
		{"head.0.bias", 2, 1}, {"proj_bias", 2, 1},
		{"encoder.LayerNorm.weight", 2, 1}, {"blocks.0.norm1.weight", 2, 1},
		{"bn.extra", 2, 1}, {"abn.weight", 2, 0}, {"scalar", 0, 1},
		{"linear.weight", 2, 0}, {"biased.weight", 2, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		if (optim_param_no_decay(cases[i].name, cases[i].rank) != cases[i].want)
			fail_msg("%s (rank %d): expected %d", cases[i].name, cases[i].rank,
				 cases[i].want);

	float w[6], b[2];
	sc_tensor tw = {.dtype = SC_FLOAT, .rank = 2, .dims = {2, 3}, .numel = 6, .nbytes = 24, .data = w};
	sc_tensor tb = {.dtype = SC_FLOAT, .rank = 1, .dims = {2}, .numel = 2, .nbytes = 8, .data = b};
	optim_param ps[2] = {{"fc.weight", &tw, 7}, {"fc.bias", &tb, 7}};
	sc_error err = {0};
	assert_int_equal(optim_assign_groups(2, ps, optim_rule_decay_split, NULL, &err), SC_OK);
	assert_int_equal(ps[0].group, 0);
	assert_int_equal(ps[1].group, 1);
}

static int refuse_bias(const char *name, const sc_tensor *value, void *ctx)
{
	(void)value;
	++*(int *)ctx;
	return strstr(name, "bias") ? -1 : 0;
}

static void test_config_errors(void **state)
{
	(void)state;
	sc_error err = {0};
	optim_config c;
	optim_config_init(&c, OPTIM_SGD);
	c.nesterov = 1;
	assert_int_equal(optim_config_check(&c, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "nesterov"));
	c.momentum = 0.9;
	c.dampening = 0.1;
	assert_int_equal(optim_config_check(&c, &err), SC_EINVAL);
	c.dampening = 0;
	assert_int_equal(optim_config_check(&c, &err), SC_OK);
	c.lr = NAN;
	assert_int_equal(optim_config_check(&c, &err), SC_EINVAL);
	optim_config_init(&c, OPTIM_ADAM);
	c.beta2 = 1;
	assert_int_equal(optim_config_check(&c, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "beta2"));
	optim_config_init(&c, OPTIM_ADAGRAD);
	c.initial_accumulator_value = -1;
	assert_int_equal(optim_config_check(&c, &err), SC_EINVAL);
	optim_config_init(&c, OPTIM_RMSPROP);
	c.weight_decay = -0.1;
	assert_int_equal(optim_config_check(&c, &err), SC_EINVAL);

	optim_kind k;
	assert_int_equal(optim_kind_parse("AdamW", &k, &err), SC_OK);
	assert_int_equal(k, OPTIM_ADAMW);
	assert_string_equal(optim_kind_name(k), "adamw");
	assert_int_equal(optim_kind_parse("lamb", &k, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "lamb"));

	/* torch's defaults */
	optim_config_init(&c, OPTIM_ADAMW);
	assert_true(c.lr == 1e-3 && c.weight_decay == 1e-2 && c.beta1 == 0.9 &&
		    c.beta2 == 0.999 && c.eps == 1e-8 && !c.amsgrad);
	optim_config_init(&c, OPTIM_RMSPROP);
	assert_true(c.lr == 1e-2 && c.alpha == 0.99 && c.eps == 1e-8);
	optim_config_init(&c, OPTIM_ADAGRAD);
	assert_true(c.lr == 1e-2 && c.eps == 1e-10 && c.initial_accumulator_value == 0);

	float w[4] = {1, 2, 3, 4};
	double d[4];
	sc_tensor tw = {.dtype = SC_FLOAT, .rank = 1, .dims = {4}, .numel = 4, .nbytes = 16, .data = w};
	sc_tensor td = {.dtype = SC_DOUBLE, .rank = 1, .dims = {4}, .numel = 4, .nbytes = 32, .data = d};
	optim *o = NULL;
	optim_config_init(&c, OPTIM_SGD);
	optim_param pd = {"w64", &td, 0};
	assert_int_equal(optim_create(&c, 0, NULL, 1, &pd, &o, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "w64"));
	optim_param pg = {"w", &tw, 1};
	assert_int_equal(optim_create(&c, 0, NULL, 1, &pg, &o, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "group 1"));
	optim_param twice[2] = {{"a", &tw, 0}, {"b", &tw, 0}};
	assert_int_equal(optim_create(&c, 0, NULL, 2, twice, &o, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "twice"));
	optim_group neg = {-1, 0};
	assert_int_equal(optim_create(&c, 1, &neg, 1, twice, &o, &err), SC_EINVAL);
	assert_null(o);

	int calls = 0;
	optim_param named[2] = {{"w", &tw, 0}, {"x.bias", &tw, 0}};
	assert_int_equal(optim_assign_groups(2, named, refuse_bias, &calls, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "x.bias"));
	assert_int_equal(calls, 2);
}

/* A bad gradient anywhere leaves every parameter and all state as it was. */
static void test_step_errors(void **state)
{
	(void)state;
	sc_error err = {0};
	optim_config c;
	optim_config_init(&c, OPTIM_ADAM);
	float a[3] = {1, 2, 3}, b[2] = {4, 5}, ga[3] = {1, 1, 1}, gb[3] = {1, 1, 1};
	sc_tensor ta = {.dtype = SC_FLOAT, .rank = 1, .dims = {3}, .numel = 3, .nbytes = 12, .data = a};
	sc_tensor tb = {.dtype = SC_FLOAT, .rank = 1, .dims = {2}, .numel = 2, .nbytes = 8, .data = b};
	sc_tensor tga = {.dtype = SC_FLOAT, .rank = 1, .dims = {3}, .numel = 3, .nbytes = 12, .data = ga};
	sc_tensor tgb = {.dtype = SC_FLOAT, .rank = 1, .dims = {3}, .numel = 3, .nbytes = 12, .data = gb};
	optim_param ps[2] = {{"a", &ta, 0}, {"b", &tb, 0}};
	optim *o;
	assert_int_equal(optim_create(&c, 0, NULL, 2, ps, &o, &err), SC_OK);
	const sc_tensor *grads[2] = {&tga, &tgb};
	assert_int_equal(optim_step(o, 0.1, grads, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "gradient of 'b'"));
	assert_true(a[0] == 1 && a[1] == 2 && a[2] == 3 && b[0] == 4);
	assert_int_equal(optim_param_steps(o, 0), 0);
	assert_true(optim_state(o, 0, 0)[0] == 0);
	tgb.dtype = SC_DOUBLE;
	tgb.numel = 2;
	assert_int_equal(optim_step(o, 0.1, grads, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "float32"));
	assert_int_equal(optim_step(o, -0.1, grads, &err), SC_EINVAL);
	assert_int_equal(optim_step(o, INFINITY, grads, &err), SC_EINVAL);
	tb.numel = 1;   /* the caller shrank a parameter behind our back */
	const sc_tensor *only_a[2] = {&tga, NULL};
	assert_int_equal(optim_step(o, 0.1, only_a, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "'b' changed"));
	tb.numel = 2;
	assert_int_equal(optim_step(o, 0.1, only_a, &err), SC_OK);
	assert_int_equal(optim_param_steps(o, 0), 1);
	assert_int_equal(optim_param_steps(o, 1), 0);
	assert_true(b[0] == 4 && b[1] == 5);
	assert_true(a[0] < 1);
	assert_int_equal(optim_set_param_steps(o, 1, -1, &err), SC_EINVAL);
	assert_int_equal(optim_set_param_steps(o, 2, 1, &err), SC_EINVAL);
	optim_free(o);
}

static void test_state_layout(void **state)
{
	(void)state;
	struct { optim_kind kind; double momentum; int centered, amsgrad; const char *names; } cases[] = {
		{OPTIM_SGD, 0, 0, 0, ""},
		{OPTIM_SGD, 0.9, 0, 0, "momentum_buffer"},
		{OPTIM_ADAM, 0, 0, 0, "exp_avg,exp_avg_sq"},
		{OPTIM_ADAMW, 0, 0, 1, "exp_avg,exp_avg_sq,max_exp_avg_sq"},
		{OPTIM_RMSPROP, 0, 0, 0, "square_avg"},
		{OPTIM_RMSPROP, 0.5, 1, 0, "square_avg,momentum_buffer,grad_avg"},
		{OPTIM_ADAGRAD, 0, 0, 0, "sum"},
	};
	float w[37];
	sc_tensor tw = {.dtype = SC_FLOAT, .rank = 1, .dims = {37}, .numel = 37, .nbytes = sizeof w, .data = w};
	optim_param p = {"w", &tw, 0};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		optim_config c;
		optim_config_init(&c, cases[i].kind);
		c.momentum = cases[i].momentum;
		c.centered = cases[i].centered;
		c.amsgrad = cases[i].amsgrad;
		c.initial_accumulator_value = 0.5;
		optim *o;
		sc_error err = {0};
		assert_int_equal(optim_create(&c, 0, NULL, 1, &p, &o, &err), SC_OK);
		char got[128] = "";
		for (int s = 0; s < optim_state_count(o); s++) {
			strcat(got, s ? "," : "");
			strcat(got, optim_state_name(o, s));
			float *buf = optim_state(o, 0, s);
			assert_true(((uintptr_t)buf & 63) == 0);
			float init = cases[i].kind == OPTIM_ADAGRAD ? 0.5f : 0.0f;
			for (int e = 0; e < 37; e++)
				assert_true(buf[e] == init);
		}
		assert_string_equal(got, cases[i].names);
		assert_null(optim_state_name(o, optim_state_count(o)));
		assert_null(optim_state(o, 1, 0));
		assert_int_equal(optim_param_count(o), 1);
		assert_int_equal(optim_get_config(o)->kind, cases[i].kind);
		optim_free(o);
	}
}

/* A checkpoint is the parameters, every state buffer and the step counts:
 * restoring them into a fresh optimizer must continue bit for bit. */
static void test_state_restore(void **state)
{
	(void)state;
	golden_load();
	const gcase *c = golden_case("adamw_amsgrad");
	param_set a, b;
	params_init(&a, c);
	params_init(&b, c);
	optim *oa, *ob;
	sc_error err = {0};
	assert_int_equal(optim_create(&c->cfg, c->n_groups, c->groups, gold->n_params, a.params, &oa, &err), SC_OK);
	assert_int_equal(optim_create(&c->cfg, c->n_groups, c->groups, gold->n_params, b.params, &ob, &err), SC_OK);
	const sc_tensor *grads[MAX_PARAMS];
	for (int t = 0; t < 3; t++) {
		step_grads(&a, t, grads);
		assert_int_equal(optim_step(oa, c->lr[t], grads, &err), SC_OK);
	}
	for (int i = 0; i < gold->n_params; i++) {
		memcpy(b.value[i].data, a.value[i].data, a.value[i].nbytes);
		for (int s = 0; s < optim_state_count(oa); s++)
			memcpy(optim_state(ob, i, s), optim_state(oa, i, s), a.value[i].nbytes);
		assert_int_equal(optim_set_param_steps(ob, i, optim_param_steps(oa, i), &err), SC_OK);
	}
	for (int t = 3; t < gold->n_steps; t++) {
		step_grads(&a, t, grads);
		assert_int_equal(optim_step(oa, c->lr[t], grads, &err), SC_OK);
		step_grads(&b, t, grads);
		assert_int_equal(optim_step(ob, c->lr[t], grads, &err), SC_OK);
	}
	for (int i = 0; i < gold->n_params; i++) {
		assert_memory_equal(a.value[i].data, b.value[i].data, a.value[i].nbytes);
		expect_param("restored", gold->n_steps - 1, &gold->p[i], b.value[i].data,
			     c->expect[gold->n_steps - 1][i], PARAM_RTOL);
	}
	optim_free(oa);
	optim_free(ob);
	params_free(&a);
	params_free(&b);
}

/* The graph-op mapping for each kind, by name. */
static void test_graph_op_mapping(void **state)
{
	(void)state;
	optim_graph_op op;
	optim_config c;
	sc_error err = {0};
	optim_config_init(&c, OPTIM_SGD);
	c.momentum = 0.9;
	c.dampening = 0.25;
	assert_int_equal(optim_graph_op_for(&c, 0.01, &op, &err), SC_OK);
	assert_string_equal(op.op_type, "Momentum");
	assert_string_equal(op.domain, "ai.onnx.preview.training");
	assert_int_equal(op.n_states, 1);
	int seen = 0;
	for (int a = 0; a < op.n_attrs; a++) {
		if (strcmp(op.attrs[a].name, "beta") == 0) {
			assert_true(op.attrs[a].f == 0.75f);
			seen++;
		}
		if (strcmp(op.attrs[a].name, "mode") == 0) {
			assert_string_equal(op.attrs[a].s, "standard");
			seen++;
		}
	}
	assert_int_equal(seen, 2);
	optim_config_init(&c, OPTIM_ADAM);
	c.amsgrad = 1;
	assert_int_equal(optim_graph_op_for(&c, 0.5, &op, &err), SC_OK);
	assert_string_equal(op.op_type, "AdamW");
	assert_string_equal(op.domain, "ai.supcon");
	assert_int_equal(op.n_states, 3);
	assert_string_equal(op.state_names[2], "max_exp_avg_sq");
	for (int a = 0; a < op.n_attrs; a++) {
		if (strcmp(op.attrs[a].name, "weight_decay") == 0)
			assert_true(op.attrs[a].f == 0);
		if (strcmp(op.attrs[a].name, "norm_coefficient") == 0)
			assert_true(op.attrs[a].f == 0.5f);
	}
	optim_config_init(&c, OPTIM_ADAGRAD);
	c.initial_accumulator_value = 0.25;
	assert_int_equal(optim_graph_op_for(&c, 0, &op, &err), SC_OK);
	assert_true(op.state_init[0] == 0.25f);
	assert_int_equal(optim_graph_op_for(&c, -1, &op, &err), SC_EINVAL);
}

/* Builds and plans an optimizer node for cfg over one tensor of n
 * elements, listing as graph outputs only the outputs whose bit is set in
 * keep (bit 0: X', bit 1 + s: state s). */
static plan *omitted_plan(const optim_config *cfg, int64_t n, unsigned keep,
			  graph_model **mp, optim_graph_op *op)
{
	sc_error err = {0};
	if (optim_graph_op_for(cfg, cfg->weight_decay, op, &err))
		fail_msg("%s", err.msg);
	graph_model *m = model(17);
	add_opset(m, op->domain, 1);
	graph *g = m->graph;
	char shape[32], name[16];
	snprintf(shape, sizeof shape, "%lld", (long long)n);
	int ins[2 + 2 + OPTIM_MAX_STATES], outs[1 + OPTIM_MAX_STATES];
	int n_in = 0;
	ins[n_in++] = input(g, "R", SC_FLOAT, "");
	ins[n_in++] = input(g, "T", SC_INT64, "");
	ins[n_in++] = input(g, "x", SC_FLOAT, shape);
	ins[n_in++] = input(g, "g", SC_FLOAT, shape);
	for (int s = 0; s < op->n_states; s++) {
		snprintf(name, sizeof name, "s%d", s);
		ins[n_in++] = input(g, name, SC_FLOAT, shape);
	}
	for (int o = 0; o < 1 + op->n_states; o++) {
		snprintf(name, sizeof name, "out%d", o);
		outs[o] = keep >> o & 1 ? output(g, name) : -1;
	}
	int idx = graph_add_node(g, op->op_type, op->domain, "opt", n_in, ins,
				 1 + op->n_states, outs, &err);
	assert_true(idx >= 0);
	add_graph_attrs(&g->nodes[idx], op);
	plan *p;
	plan_options opt = {.threads = 2};
	if (plan_create(m, &opt, &p, &err))
		fail_msg("plan_create: %s", err.msg);
	*mp = m;
	return p;
}

/* Runs the planned node twice on the same inputs (a first update: T = 0
 * and fresh state) and compares the outputs it has with one optim_step of
 * the C API.  Hyper-parameters are exact in float, so that the float
 * attributes carry the same values as the config and the two agree to
 * rounding. */
static void check_omitted(const optim_config *cfg, unsigned keep)
{
	const int64_t n = 100000;
	int64_t dims[1] = {n};
	graph_model *m;
	optim_graph_op op;
	plan *p = omitted_plan(cfg, n, keep, &m, &op);
	sc_tensor x = make_uniform(1, dims, -1, 1), g = make_uniform(1, dims, -1, 1);
	sc_tensor R = make(SC_FLOAT, 0, NULL), T = make(SC_INT64, 0, NULL);
	sc_tensor st[OPTIM_MAX_STATES];
	*(float *)R.data = 0.0625f;
	const char *names[4 + OPTIM_MAX_STATES] = {"R", "T", "x", "g", "s0", "s1", "s2"};
	const sc_tensor *vals[4 + OPTIM_MAX_STATES] = {&R, &T, &x, &g};
	for (int s = 0; s < op.n_states; s++) {
		st[s] = make(SC_FLOAT, 1, dims);
		for (int64_t e = 0; e < n; e++)
			((float *)st[s].data)[e] = op.state_init[s];
		vals[4 + s] = &st[s];
	}
	sc_error err = {0};
	for (int r = 0; r < 2; r++)
		if (plan_run(p, 4 + op.n_states, names, vals, &err))
			fail_msg("%s: %s", op.op_type, err.msg);

	optim_param pw = {"x", &x, 0};
	optim *o;
	assert_int_equal(optim_create(cfg, 0, NULL, 1, &pw, &o, &err), SC_OK);
	const sc_tensor *grads[1] = {&g};
	assert_int_equal(optim_step(o, 0.0625, grads, &err), SC_OK);
	int out = 0;
	for (int k = 0; k < 1 + op.n_states; k++) {
		if (!(keep >> k & 1))
			continue;
		const float *got = plan_output(p, out++)->data;
		const float *want = k ? optim_state(o, 0, k - 1) : x.data;
		char what[64];
		snprintf(what, sizeof what, "%s output %d (keep %#x)", op.op_type, k, keep);
		for (int64_t e = 0; e < n; e++)
			expect_near(got[e], want[e], 1e-6, 1e-9, what, e);
	}
	optim_free(o);
	for (int s = 0; s < op.n_states; s++)
		tensor_free(&st[s]);
	tensor_free(&x);
	tensor_free(&g);
	tensor_free(&R);
	tensor_free(&T);
	plan_free(p);
	graph_model_free(m);
}

/* AdamW and RMSprop update in place, in scratch buffers made at prepare
 * time for the outputs a graph does not use. */
static void test_omitted_outputs(void **state)
{
	(void)state;
	optim_config c;
	optim_config_init(&c, OPTIM_ADAMW);
	c.amsgrad = 1;
	c.beta1 = 0.875;
	c.beta2 = 0.9921875;
	c.eps = 0x1p-20;
	c.weight_decay = 0.125;
	check_omitted(&c, 0x1);    /* X' only */
	check_omitted(&c, 0xa);    /* exp_avg and max_exp_avg_sq only */
	check_omitted(&c, 0xf);
	optim_config_init(&c, OPTIM_RMSPROP);
	c.alpha = 0.875;
	c.eps = 0x1p-20;
	c.momentum = 0.5;
	c.centered = 1;
	c.weight_decay = 0.0625;
	check_omitted(&c, 0x8);    /* grad_avg only */
	check_omitted(&c, 0x5);
	optim_config_init(&c, OPTIM_SGD);
	c.momentum = 0.75;
	c.weight_decay = 0.0625;
	check_omitted(&c, 0x2);    /* Momentum without X' */
}

/* No allocation in optim_step, and none in a planned optimizer op after
 * its first run.  The tensors are large enough to take the parallel
 * path, whose thread pool exists after the first step. */
static void test_no_allocation(void **state)
{
	(void)state;
#if COUNT_ALLOCS
	const int64_t n = 100000;
	int64_t dims[1] = {n};
	sc_tensor w = make_uniform(1, dims, -1, 1), g = make_uniform(1, dims, -1, 1);
	sc_tensor b = make_uniform(1, dims, -1, 1);
	optim_param ps[2] = {{"w", &w, 0}, {"b", &b, 1}};
	optim_group groups[2] = {{1, 0.01}, {2, 0}};
	optim_kind kinds[] = {OPTIM_SGD, OPTIM_ADAM, OPTIM_ADAMW, OPTIM_RMSPROP, OPTIM_ADAGRAD};
	sc_error err = {0};
	for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
		optim_config c;
		optim_config_init(&c, kinds[k]);
		c.momentum = 0.9;
		c.centered = 1;
		c.amsgrad = 1;
		optim *o;
		assert_int_equal(optim_create(&c, 2, groups, 2, ps, &o, &err), SC_OK);
		const sc_tensor *grads[2] = {&g, &g};
		assert_int_equal(optim_step(o, 0.01, grads, &err), SC_OK);
		long before = n_allocs;
		for (int s = 0; s < 3; s++)
			assert_int_equal(optim_step(o, 0.01, grads, &err), SC_OK);
		if (n_allocs != before)
			fail_msg("%s: %ld allocations in 3 steps", optim_kind_name(kinds[k]),
				 n_allocs - before);

		/* the same optimizer as a graph op, with an omitted output */
		graph_model *m;
		optim_graph_op op;
		plan *p = omitted_plan(&c, n, 0x1, &m, &op);
		sc_tensor R = make(SC_FLOAT, 0, NULL), T = make(SC_INT64, 0, NULL);
		sc_tensor st[OPTIM_MAX_STATES];
		const char *names[4 + OPTIM_MAX_STATES] = {"R", "T", "x", "g", "s0", "s1", "s2"};
		const sc_tensor *vals[4 + OPTIM_MAX_STATES] = {&R, &T, &w, &g};
		for (int s = 0; s < op.n_states; s++) {
			st[s] = make(SC_FLOAT, 1, dims);
			vals[4 + s] = &st[s];
		}
		assert_int_equal(plan_run(p, 4 + op.n_states, names, vals, &err), SC_OK);
		before = n_allocs;
		for (int s = 0; s < 3; s++)
			assert_int_equal(plan_run(p, 4 + op.n_states, names, vals, &err), SC_OK);
		if (n_allocs != before)
			fail_msg("%s: %ld allocations in 3 runs", op.op_type,
				 n_allocs - before);
		for (int s = 0; s < op.n_states; s++)
			tensor_free(&st[s]);
		tensor_free(&R);
		tensor_free(&T);
		plan_free(p);
		graph_model_free(m);
		optim_free(o);
	}
	tensor_free(&w);
	tensor_free(&g);
	tensor_free(&b);
#else
	skip();
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_optimizers),
		cmocka_unit_test(test_golden_ops),
		cmocka_unit_test(test_official_cases),
		cmocka_unit_test(test_onnx_semantics),
		cmocka_unit_test(test_op_errors),
		cmocka_unit_test(test_golden_schedules),
		cmocka_unit_test(test_schedule_values),
		cmocka_unit_test(test_schedule_errors),
		cmocka_unit_test(test_no_decay_rule),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_step_errors),
		cmocka_unit_test(test_state_layout),
		cmocka_unit_test(test_state_restore),
		cmocka_unit_test(test_graph_op_mapping),
		cmocka_unit_test(test_omitted_outputs),
		cmocka_unit_test(test_no_allocation),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	free(gold);
	return rc;
}
