/* test_grad_reduce.c: gradients of the reductions, Softmax, LogSoftmax,
 * LpNormalization and the classification losses.
 *
 * Finite differences: each case builds f(x) at some opset, appends the
 * scalar L = sum(f * R) (+ sum(f2 * R2) when the op has a second output,
 * SoftmaxCrossEntropyLoss's log_prob) with fixed random R, differentiates
 * it with autodiff_build, and compares d L / d x in float64 with central
 * differences (h = 1e-6) of the same plan: |a - n| <= 1e-6 + 1e-5 |n|.
 * Big cases (which run the kernels' threaded paths) check a sample of
 * elements.  The float32 kernels then run on the same inputs (drawn as
 * float32 values) and must agree with the float64 gradient within
 * 1e-4 |g| + 1e-5 max|g|.
 *
 * Fixed points: ties of ReduceMax/ReduceMin share the gradient evenly
 * (PyTorch's amax/amin), zero norms give zero gradients, runtime axes of
 * ReduceSum-13 re-prepare the backward kernel.
 *
 * PyTorch: tests/make_golden_losses.py wrote tests/data/losses/ with
 * torch.nn.functional.cross_entropy / nll_loss and autograd; the loss
 * values and the gradients of the scores must match at rel 1e-4. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_builder.h"
#include "onnx/onnx.h"
#include "runtime/autodiff.h"
#include "runtime/infer.h"
#include "runtime/plan.h"

#define ABSENT INT64_MIN

typedef struct gcase gcase;

struct gcase {
	const char *name;
	int opset;
	const char *op;            /* the op under test (build reads it) */
	const char *shape;         /* of the input x */
	void (*build)(graph *g, const gcase *gc, int dt);  /* x -> "f" [, "f2"] */
	double lo, hi, away;       /* x from [lo, hi] with |x| >= away */
	/* reductions */
	int n_axes;                /* -1: no axes */
	int64_t axes[4];
	int keepdims;              /* -1: attribute absent */
	int noop;                  /* noop_with_empty_axes (ReduceSum-13) */
	/* Softmax, LogSoftmax, LpNormalization */
	int64_t axis;              /* ABSENT: attribute absent */
	int p;                     /* 0: absent */
	/* losses */
	const char *reduction;     /* NULL: absent ("mean") */
	int has_ii;
	int64_t ii;
	int weights, log_prob;
};

/* --- builders ---------------------------------------------------------------- */

static void attr_ints_v(graph_node *n, const char *name, int count,
			const int64_t *v)
{
	sc_error err = {0};
	graph_attr *a = graph_node_add_attr(n, name, ATTR_INTS, &err);
	assert_non_null(a);
	a->ints = calloc((size_t)count + 1, sizeof *a->ints);
	assert_non_null(a->ints);
	memcpy(a->ints, v, (size_t)count * sizeof *v);
	a->n = count;
}

static void b_reduce(graph *g, const gcase *gc, int dt)
{
	(void)dt;
	int axes_in = !strcmp(gc->op, "ReduceSum") && gc->opset >= 13 && gc->n_axes >= 0;
	graph_node *n = add(g, gc->op, "op", axes_in ? "x,axes" : "x", "f");
	if (gc->n_axes >= 0 && !axes_in)
		attr_ints_v(n, "axes", gc->n_axes, gc->axes);
	if (gc->keepdims >= 0)
		attr_int(n, "keepdims", gc->keepdims);
	if (gc->noop)
		attr_int(n, "noop_with_empty_axes", 1);
	if (axes_in) {
		int64_t d = gc->n_axes;
		init_tensor(g, "axes", SC_INT64, 1, &d, gc->axes);
	}
}

static void b_axis_op(graph *g, const gcase *gc, int dt)
{
	(void)dt;
	graph_node *n = add(g, gc->op, "op", "x", "f");
	if (gc->axis != ABSENT)
		attr_int(n, "axis", gc->axis);
	if (gc->p)
		attr_int(n, "p", gc->p);
}

/* Labels (t * 7 + 3) mod C, every fourth from the second ignore_index;
 * weights 0.5 + 0.3 c. */
static void loss_inputs(graph *g, const gcase *gc, int dt, const char *scores_shape)
{
	int64_t dims[SC_MAX_RANK] = {0}, ldims[SC_MAX_RANK] = {0}, lab[512];
	int rank = parse_dims(scores_shape, dims);
	int64_t count = dims[0], nc = dims[1];
	ldims[0] = dims[0];
	for (int i = 2; i < rank; i++) {
		ldims[i - 1] = dims[i];
		count *= dims[i];
	}
	assert_true(count <= 512);
	for (int64_t t = 0; t < count; t++)
		lab[t] = gc->has_ii && t % 4 == 1 ? gc->ii : (t * 7 + 3) % nc;
	init_tensor(g, "labels", SC_INT64, rank - 1, ldims, lab);
	if (gc->weights) {
		double *wd = malloc((size_t)nc * sizeof *wd);
		float *wf = malloc((size_t)nc * sizeof *wf);
		assert_true(wd && wf);
		for (int64_t c = 0; c < nc; c++)
			wf[c] = (float)(wd[c] = 0.5 + 0.3 * (double)c);
		init_tensor(g, "w", dt, 1, &nc, dt == SC_DOUBLE ? (void *)wd : (void *)wf);
		free(wd);
		free(wf);
	}
}

static void loss_attrs(graph_node *n, const gcase *gc)
{
	if (gc->reduction)
		attr_str(n, "reduction", gc->reduction);
	if (gc->has_ii)
		attr_int(n, "ignore_index", gc->ii);
}

static void b_loss(graph *g, const gcase *gc, int dt)
{
	loss_inputs(g, gc, dt, gc->shape);
	graph_node *n = add(g, gc->op, "op", gc->weights ? "x,labels,w" : "x,labels",
			    gc->log_prob ? "f,f2" : "f");
	loss_attrs(n, gc);
}

/* Only SCE's log_prob output reaches the loss: the backward node gets
 * no dY, just dLogProb. */
static void b_sce_log_prob_only(graph *g, const gcase *gc, int dt)
{
	loss_inputs(g, gc, dt, gc->shape);
	loss_attrs(add(g, "SoftmaxCrossEntropyLoss", "op", "x,labels", "unused,f"), gc);
}

/* PyTorch's cross entropy before opset 12: NLL of LogSoftmax. */
static void b_logsoftmax_nll(graph *g, const gcase *gc, int dt)
{
	attr_int(add(g, "LogSoftmax", "ls", "x", "lp"), "axis", 1);
	loss_inputs(g, gc, dt, gc->shape);
	graph_node *n = add(g, "NegativeLogLikelihoodLoss", "nll",
			    gc->weights ? "lp,labels,w" : "lp,labels", "f");
	loss_attrs(n, gc);
}

/* A log-sum-exp written out with the max shift, as exporters do:
 * f = log(sum(exp(x - max(x)))) + max(x) over axis 1 (opset 13). */
static void b_manual_lse(graph *g, const gcase *gc, int dt)
{
	(void)gc;
	(void)dt;
	int64_t one = 1;
	attr_ints_v(add(g, "ReduceMax", "mx", "x", "m"), "axes", 1, &one);
	add(g, "Sub", "sub", "x,m", "s");
	add(g, "Exp", "exp", "s", "e");
	add(g, "ReduceSum", "sum", "e,ax", "r");
	init_ints(g, "ax", 1, 1);
	add(g, "Log", "log", "r", "l");
	add(g, "Add", "add", "l,m", "f");
}

/* Unit rows, then a temperature-free contrastive-style score: f =
 * ReduceLogSumExp(LpNormalization(x, axis 1), axes [1], keepdims 0). */
static void b_norm_lse(graph *g, const gcase *gc, int dt)
{
	(void)gc;
	(void)dt;
	attr_int(add(g, "LpNormalization", "norm", "x", "z"), "axis", 1);
	graph_node *n = add(g, "ReduceLogSumExp", "lse", "z", "f");
	int64_t one = 1;
	attr_ints_v(n, "axes", 1, &one);
	attr_int(n, "keepdims", 0);
}

/* --- the finite-difference harness --------------------------------------- */

static unsigned seed = 12345;

static double draw(double lo, double hi, double away)
{
	for (;;) {
		seed = seed * 1664525u + 1013904223u;
		double u = (double)(seed >> 8) / (double)(1u << 24);
		/* float32 values, so that both precisions see one input */
		double v = (float)(lo + (hi - lo) * u);
		if (fabs(v) >= away)
			return v;
	}
}

static int shape_of(graph_model *m, const char *name, int64_t *dims)
{
	int v = graph_find_value(m->graph, name);
	if (v < 0)
		return -1;
	const graph_type *t = &m->graph->values[v].type;
	assert_true(t->rank >= 0);
	for (int d = 0; d < t->rank; d++) {
		assert_true(t->dims[d].value >= 0);
		dims[d] = t->dims[d].value;
	}
	return t->rank;
}

static void fill(sc_tensor *t, const double *v)
{
	for (int64_t k = 0; k < t->numel; k++) {
		if (t->dtype == SC_DOUBLE)
			((double *)t->data)[k] = v[k];
		else
			((float *)t->data)[k] = (float)v[k];
	}
}

static double get(const sc_tensor *t, int64_t k)
{
	return t->dtype == SC_DOUBLE ? ((const double *)t->data)[k] :
				       ((const float *)t->data)[k];
}

/* Weights for f (and f2): fixed random values of their shapes. */
typedef struct weights {
	int n;                     /* 1 or 2 */
	int rank[2];
	int64_t dims[2][SC_MAX_RANK];
	double *v[2];
	int64_t numel[2];
} weights;

static void add_weighted_sum(graph *g, const char *f, const char *r,
			     const char *out)
{
	char ins[64], prod[64];
	snprintf(ins, sizeof ins, "%s,%s", f, r);
	snprintf(prod, sizeof prod, "%s_r", f);
	add(g, "Mul", "weigh", ins, prod);
	attr_int(add(g, "ReduceSum", "total", prod, out), "keepdims", 0);
}

/* The model of a case in dtype dt with L appended, differentiated. */
static graph_model *case_model(const gcase *gc, int dt, const weights *w,
			       int *grad)
{
	graph_model *m = model(gc->opset);
	graph *g = m->graph;
	input(g, "x", dt, gc->shape);
	gc->build(g, gc, dt);
	static const char *const rn[] = {"R", "R2"};
	for (int i = 0; i < w->n; i++) {
		sc_tensor r;
		sc_error err = {0};
		assert_int_equal(tensor_alloc(&r, dt, w->rank[i], w->dims[i], rn[i], &err), SC_OK);
		fill(&r, w->v[i]);
		assert_int_equal(graph_add_init(g, val(g, rn[i]), &r, &err), SC_OK);
	}
	if (w->n == 1) {
		add_weighted_sum(g, "f", "R", "L");
	} else {
		add_weighted_sum(g, "f", "R", "L1");
		add_weighted_sum(g, "f2", "R2", "L2");
		add(g, "Add", "both", "L1,L2", "L");
	}
	output(g, "L");
	const char *wrt[] = {"x"};
	sc_error err = {0};
	if (autodiff_build(m, "L", 1, wrt, grad, &err))
		fail_msg("%s: autodiff: %s", gc->name, err.msg);
	assert_true(*grad >= 0);
	return m;
}

static double run_loss(plan *p, const sc_tensor *x)
{
	sc_error err = {0};
	const char *names[] = {"x"};
	if (plan_run(p, 1, names, &x, &err))
		fail_msg("plan_run: %s", err.msg);
	return get(plan_output(p, 0), 0);
}

/* Runs the case's model in dt on x (as double values) and returns a
 * malloc'd copy of d L / d x; *pp keeps the plan when not NULL. */
static double *case_gradient(const gcase *gc, int dt, const weights *w,
			     const double *xv, plan **pp, graph_model **mp,
			     sc_tensor *xt)
{
	int grad;
	graph_model *m = case_model(gc, dt, w, &grad);
	plan *p;
	plan_options opt = {.threads = 2};
	sc_error err = {0};
	if (plan_create(m, &opt, &p, &err))
		fail_msg("%s: plan: %s", gc->name, err.msg);
	int64_t dims[SC_MAX_RANK];
	int rank = parse_dims(gc->shape, dims);
	assert_int_equal(tensor_alloc(xt, dt, rank, dims, "x", &err), SC_OK);
	fill(xt, xv);
	run_loss(p, xt);
	const sc_tensor *gt = NULL;
	for (int o = 0; o < plan_output_count(p); o++)
		if (!strcmp(plan_output_name(p, o), m->graph->values[grad].name))
			gt = plan_output(p, o);
	assert_non_null(gt);
	assert_int_equal(gt->numel, xt->numel);
	double *out = malloc((size_t)gt->numel * sizeof *out + 1);
	assert_non_null(out);
	for (int64_t k = 0; k < gt->numel; k++)
		out[k] = get(gt, k);
	if (pp) {
		*pp = p;
		*mp = m;
	} else {
		plan_free(p);
		graph_model_free(m);
		tensor_free(xt);
	}
	return out;
}

static void check_case(const gcase *gc)
{
	/* the shapes of f (and f2), from inference on the bare op */
	weights w = {0};
	{
		graph_model *probe = model(gc->opset);
		input(probe->graph, "x", SC_DOUBLE, gc->shape);
		gc->build(probe->graph, gc, SC_DOUBLE);
		sc_error err = {0};
		if (graph_infer_shapes(probe, &err))
			fail_msg("%s: inference: %s", gc->name, err.msg);
		static const char *const fn[] = {"f", "f2"};
		for (int i = 0; i < 2; i++) {
			int r = shape_of(probe, fn[i], w.dims[i]);
			if (r < 0 || (i == 1 && !gc->log_prob))
				break;
			w.rank[i] = r;
			w.numel[i] = 1;
			for (int d = 0; d < r; d++)
				w.numel[i] *= w.dims[i][d];
			w.v[i] = malloc((size_t)w.numel[i] * sizeof(double) + 1);
			for (int64_t k = 0; k < w.numel[i]; k++)
				w.v[i][k] = draw(-1, 1, 0);
			w.n++;
		}
		graph_model_free(probe);
	}
	int64_t dims[SC_MAX_RANK], numel = 1;
	int rank = parse_dims(gc->shape, dims);
	for (int d = 0; d < rank; d++)
		numel *= dims[d];
	double *xv = calloc((size_t)numel + 1, sizeof *xv);
	assert_non_null(xv);
	for (int64_t k = 0; k < numel; k++)
		xv[k] = draw(gc->lo, gc->hi, gc->away);

	plan *p;
	graph_model *m;
	sc_tensor x;
	double *analytic = case_gradient(gc, SC_DOUBLE, &w, xv, &p, &m, &x);

	/* every element of small inputs, a spread-out sample of big ones */
	const double h = 1e-6;
	int64_t step = numel <= 600 ? 1 : numel / 37;
	double worst = 0;
	for (int64_t k = 0; k < numel; k += step) {
		double *xk = &((double *)x.data)[k], keep = *xk;
		*xk = keep + h;
		double up = run_loss(p, &x);
		*xk = keep - h;
		double down = run_loss(p, &x);
		*xk = keep;
		double numeric = (up - down) / (2 * h);
		double e = fabs(analytic[k] - numeric);
		worst = fmax(worst, e / (1e-6 + 1e-5 * fabs(numeric)));
		if (e > 1e-6 + 1e-5 * fabs(numeric))
			fail_msg("%s: dL/dx[%lld]: autodiff %.10g, finite differences %.10g",
				 gc->name, (long long)k, analytic[k], numeric);
	}
	plan_free(p);
	graph_model_free(m);
	tensor_free(&x);

	/* the float32 kernels against the float64 gradient */
	double *single = case_gradient(gc, SC_FLOAT, &w, xv, NULL, NULL, &x);
	double scale = 0, worst32 = 0;
	for (int64_t k = 0; k < numel; k++)
		scale = fmax(scale, fabs(analytic[k]));
	for (int64_t k = 0; k < numel; k++) {
		double e = fabs(single[k] - analytic[k]);
		double tol = 1e-4 * fabs(analytic[k]) + 1e-5 * scale;
		worst32 = fmax(worst32, e / (tol > 0 ? tol : 1e-300));
		if (e > tol)
			fail_msg("%s: float32 dL/dx[%lld] is %.8g, float64 %.10g",
				 gc->name, (long long)k, single[k], analytic[k]);
	}
	/* the share of each tolerance used, at worst */
	print_message("%-44s fd %.3f  f32 %.3f\n", gc->name, worst, worst32);
	free(single);
	free(analytic);
	free(xv);
	for (int i = 0; i < w.n; i++)
		free(w.v[i]);
}

/* --- cases ------------------------------------------------------------------ */

#define RED(nm, os, opn, shp, na, a0, a1, kd, ...)				\
	{.name = nm, .opset = os, .op = opn, .shape = shp, .build = b_reduce,	\
	 .lo = -2, .hi = 2, .n_axes = na, .axes = {a0, a1}, .keepdims = kd,	\
	 .axis = ABSENT, __VA_ARGS__}

/* The seven reductions, each over kept axes, dropped axes (negative ones
 * from opset 11), all axes, and at opset 7. */
#define RED_SET(opn)								\
	RED(opn " axes [1] keepdims", 11, opn, "2,3,4", 1, 1, 0, 1),		\
	RED(opn " axes [-1,0] dropped", 11, opn, "2,3,4", 2, -1, 0, 0),	\
	RED(opn " all axes dropped", 11, opn, "3,4", -1, 0, 0, 0),		\
	RED(opn " all axes kept", 17, opn, "3,2,2", -1, 0, 0, -1),		\
	RED(opn " opset 7 axes [0,2] dropped", 7, opn, "2,3,4", 2, 0, 2, 0),	\
	RED(opn " axes [] attribute", 11, opn, "2,3", 0, 0, 0, 0)

#define SM(nm, os, opn, shp, ax)						\
	{.name = nm, .opset = os, .op = opn, .shape = shp, .build = b_axis_op,	\
	 .lo = -3, .hi = 3, .n_axes = -1, .keepdims = -1, .axis = ax}

#define SM_SET(opn)								\
	SM(opn " opset 11 default axis (coerced)", 11, opn, "2,3,4", ABSENT),	\
	SM(opn " opset 11 axis 2", 11, opn, "2,3,4", 2),			\
	SM(opn " opset 11 axis 0 (one row)", 11, opn, "2,3", 0),		\
	SM(opn " opset 7 axis -1", 7, opn, "3,4", -1),				\
	SM(opn " opset 13 default axis", 13, opn, "2,3,4", ABSENT),		\
	SM(opn " opset 13 axis 1 (inner 4)", 13, opn, "2,3,4", 1),		\
	SM(opn " opset 17 axis 0", 17, opn, "3,2,2", 0),			\
	SM(opn " opset 13 rows of 600", 13, opn, "3,600", -1),			\
	SM(opn " opset 13 axis 1, inner 300", 13, opn, "2,5,300", 1)

#define LP(nm, shp, ax, pp)							\
	{.name = nm, .opset = 13, .op = "LpNormalization", .shape = shp,	\
	 .build = b_axis_op, .lo = -2, .hi = 2, .away = 1e-2, .n_axes = -1,	\
	 .keepdims = -1, .axis = ax, .p = pp}

#define LOSS(nm, os, opn, shp, red, ii_on, iiv, w, lp)				\
	{.name = nm, .opset = os, .op = opn, .shape = shp, .build = b_loss,	\
	 .lo = -3, .hi = 3, .n_axes = -1, .keepdims = -1, .axis = ABSENT,	\
	 .reduction = red, .has_ii = ii_on, .ii = iiv, .weights = w,		\
	 .log_prob = lp}

static const gcase cases[] = {
	RED_SET("ReduceSum"),
	RED_SET("ReduceMean"),
	RED_SET("ReduceMax"),
	RED_SET("ReduceMin"),
	RED_SET("ReduceL2"),
	RED_SET("ReduceLogSumExp"),
	RED_SET("ReduceSumSquare"),
	/* ReduceSum-13: axes as an input, noop_with_empty_axes */
	RED("ReduceSum-13 axes input [1] dropped", 13, "ReduceSum", "2,3,4", 1, 1, 0, 0),
	RED("ReduceSum-13 axes input [-1,0] kept", 13, "ReduceSum", "2,3,4", 2, -1, 0, 1),
	RED("ReduceSum-13 no axes dropped", 13, "ReduceSum", "2,3", -1, 0, 0, 0),
	RED("ReduceSum-13 empty axes dropped", 13, "ReduceSum", "2,3", 0, 0, 0, 0),
	RED("ReduceSum-13 empty axes noop", 13, "ReduceSum", "2,3", 0, 0, 0, 0, .noop = 1),
	RED("ReduceSum-13 no axes noop", 17, "ReduceSum", "2,3", -1, 0, 0, 0, .noop = 1),
	/* big enough for the threaded paths */
	RED("ReduceMax big, axes [0]", 13, "ReduceMax", "40,1000", 1, 0, 0, 0),
	RED("ReduceLogSumExp big, axes [1]", 13, "ReduceLogSumExp", "40,1000", 1, 1, 0, 1),
	RED("ReduceMean big, all", 13, "ReduceMean", "64,700", -1, 0, 0, 0),
	SM_SET("Softmax"),
	SM_SET("LogSoftmax"),
	LP("LpNormalization p=2 axis -1", "3,4", -1, 2),
	LP("LpNormalization p=2 axis 0", "3,4", 0, 2),
	LP("LpNormalization p=2 default", "2,3,4", ABSENT, 0),
	LP("LpNormalization p=1 axis 1", "2,3,4", 1, 1),
	LP("LpNormalization p=1 axis -1", "4,5", -1, 1),
	LP("LpNormalization p=2 big axis 1", "4,200,50", 1, 2),
	LOSS("SCE mean", 13, "SoftmaxCrossEntropyLoss", "3,5", NULL, 0, 0, 0, 0),
	LOSS("SCE sum weights", 12, "SoftmaxCrossEntropyLoss", "4,3", "sum", 0, 0, 1, 0),
	LOSS("SCE none weights ii=2 [N,C,D]", 13, "SoftmaxCrossEntropyLoss", "2,4,3",
	     "none", 1, 2, 1, 0),
	LOSS("SCE mean weights ii=-1 log_prob [N,C,D1,D2]", 13, "SoftmaxCrossEntropyLoss",
	     "2,4,3,2", "mean", 1, -1, 1, 1),
	LOSS("SCE none log_prob", 17, "SoftmaxCrossEntropyLoss", "3,5", "none", 0, 0, 0, 1),
	LOSS("SCE sum ii=0 log_prob", 13, "SoftmaxCrossEntropyLoss", "5,3,2", "sum", 1, 0, 0, 1),
	LOSS("SCE mean big", 13, "SoftmaxCrossEntropyLoss", "64,600", "mean", 0, 0, 1, 0),
	LOSS("NLL mean", 13, "NegativeLogLikelihoodLoss", "3,5", NULL, 0, 0, 0, 0),
	LOSS("NLL sum weights ii=1", 12, "NegativeLogLikelihoodLoss", "6,4", "sum", 1, 1, 1, 0),
	LOSS("NLL none weights [N,C,D1,D2]", 13, "NegativeLogLikelihoodLoss", "2,3,2,2",
	     "none", 0, 0, 1, 0),
	LOSS("NLL mean weights ii=3 [N,C,D]", 17, "NegativeLogLikelihoodLoss", "3,4,5",
	     "mean", 1, 3, 1, 0),
	{.name = "SCE with only log_prob used", .opset = 13, .op = "SoftmaxCrossEntropyLoss",
	 .shape = "3,4,2", .build = b_sce_log_prob_only, .lo = -3, .hi = 3, .n_axes = -1,
	 .keepdims = -1, .axis = ABSENT, .reduction = "sum", .has_ii = 1, .ii = 2},
	{.name = "LogSoftmax then NLL, weights ii=-100", .opset = 13, .shape = "4,5",
	 .build = b_logsoftmax_nll, .lo = -3, .hi = 3, .n_axes = -1, .keepdims = -1,
	 .axis = ABSENT, .reduction = "mean", .has_ii = 1, .ii = -100, .weights = 1},
	{.name = "log-sum-exp by hand (Max, Sub, Exp, Sum)", .opset = 13, .shape = "3,4,2",
	 .build = b_manual_lse, .lo = -3, .hi = 3, .n_axes = -1, .keepdims = -1,
	 .axis = ABSENT},
	{.name = "LpNormalization then ReduceLogSumExp", .opset = 11, .shape = "3,6",
	 .build = b_norm_lse, .lo = -2, .hi = 2, .n_axes = -1, .keepdims = -1,
	 .axis = ABSENT},
};

static void test_finite_differences(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		check_case(&cases[i]);
}

/* --- fixed points ---------------------------------------------------------- */

/* Checks d/dx of sum(op(x) * r) for a [3, 3] x at opset 13: a reduction
 * over axes [axis] with keepdims 0, or LpNormalization along axis. */
static void check_fixed(const char *op, int64_t axis, const double *x,
			const double *r, const double *want)
{
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "x", SC_DOUBLE, "3,3");
	graph_node *n = add(g, op, "op", "x", "f");
	int same_shape = !strcmp(op, "LpNormalization");
	if (same_shape) {
		attr_int(n, "axis", axis);
	} else {
		attr_ints_v(n, "axes", 1, &axis);
		attr_int(n, "keepdims", 0);
	}
	int64_t three = 3, dims[2] = {3, 3};
	init_tensor(g, "R", SC_DOUBLE, same_shape ? 2 : 1,
		    same_shape ? dims : &three, r);
	add_weighted_sum(g, "f", "R", "L");
	output(g, "L");
	const char *wrt[] = {"x"};
	int grad;
	sc_error err = {0};
	if (autodiff_build(m, "L", 1, wrt, &grad, &err))
		fail_msg("%s: %s", op, err.msg);
	plan *p;
	plan_options opt = {.threads = 1};
	if (plan_create(m, &opt, &p, &err))
		fail_msg("%s: %s", op, err.msg);
	sc_tensor xt;
	assert_int_equal(tensor_alloc(&xt, SC_DOUBLE, 2, dims, "x", &err), SC_OK);
	memcpy(xt.data, x, 9 * sizeof *x);
	run_loss(p, &xt);
	const sc_tensor *gt = plan_output(p, 1);
	assert_string_equal(plan_output_name(p, 1), "x_grad");
	for (int k = 0; k < 9; k++)
		if (fabs(((double *)gt->data)[k] - want[k]) > 1e-12)
			fail_msg("%s: dx[%d] is %.12g, expected %.12g", op, k,
				 ((double *)gt->data)[k], want[k]);
	tensor_free(&xt);
	plan_free(p);
	graph_model_free(m);
}

/* Tied extremes share the gradient evenly, as torch.amax / torch.amin:
 * x = [[1,3,3],[2,2,2],[5,1,0]] reduced along axis 1 with weights
 * [1,2,3]; a column reduction (axis 0) ties in column 1. */
static void test_max_min_ties(void **state)
{
	(void)state;
	const double x[9] = {1, 3, 3, 2, 2, 2, 5, 1, 0};
	const double r[3] = {1, 2, 3};
	const double max1[9] = {0, .5, .5, 2. / 3, 2. / 3, 2. / 3, 3, 0, 0};
	check_fixed("ReduceMax", 1, x, r, max1);
	const double min1[9] = {1, 0, 0, 2. / 3, 2. / 3, 2. / 3, 0, 0, 3};
	check_fixed("ReduceMin", 1, x, r, min1);
	/* columns: max of [1,2,5] at row 2, of [3,2,1] at 0, of [3,2,0] at 0 */
	const double max0[9] = {0, 2, 3, 0, 0, 0, 1, 0, 0};
	check_fixed("ReduceMax", 0, x, r, max0);
	/* columns: min of [1,2,5] at 0, of [3,2,1] at row 2, of [3,2,0] at 2 */
	const double min0[9] = {1, 0, 0, 0, 0, 0, 0, 2, 3};
	check_fixed("ReduceMin", 0, x, r, min0);
}

/* A zero norm has a zero gradient (ReduceL2 as PyTorch's norm; the
 * LpNormalization forward gives zeros there). */
static void test_zero_norms(void **state)
{
	(void)state;
	const double x[9] = {0, 0, 0, 3, 4, 0, 0, 0, 2};
	const double r[3] = {1, 2, 3};
	const double l2[9] = {0, 0, 0, 2 * .6, 2 * .8, 0, 0, 0, 3};
	check_fixed("ReduceL2", 1, x, r, l2);
	/* LpNormalization p=2 along axis 1, dx = (r - y (r.y)) / n: row 1
	 * has y = [.6, .8, 0], n = 5, r = [1, 0, 0]; row 2 has y = [0, 0, 1],
	 * n = 2, r = [1, 1, 1] */
	const double rr[9] = {1, 1, 1, 1, 0, 0, 1, 1, 1};
	const double lp[9] = {0, 0, 0, (1 - .36) / 5, -.48 / 5, 0, .5, .5, 0};
	check_fixed("LpNormalization", 1, x, rr, lp);
}

/* ReduceSum-13 whose axes come from a graph input: the backward kernel
 * re-reads them when they change. */
static void test_runtime_axes(void **state)
{
	(void)state;
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "x", SC_DOUBLE, "2,3,4");
	input(g, "axes", SC_INT64, "?");
	attr_int(add(g, "ReduceSum", "op", "x,axes", "f"), "keepdims", 0);
	add(g, "Mul", "sq", "f,f", "f2");
	attr_int(add(g, "ReduceSum", "total", "f2", "L"), "keepdims", 0);
	output(g, "L");
	const char *wrt[] = {"x"};
	int grad;
	sc_error err = {0};
	assert_int_equal(autodiff_build(m, "L", 1, wrt, &grad, &err), SC_OK);
	plan *p;
	plan_options opt = {.threads = 1};
	if (plan_create(m, &opt, &p, &err))
		fail_msg("%s", err.msg);
	sc_tensor xt, at;
	int64_t dims[3] = {2, 3, 4}, two = 2;
	assert_int_equal(tensor_alloc(&xt, SC_DOUBLE, 3, dims, "x", &err), SC_OK);
	assert_int_equal(tensor_alloc(&at, SC_INT64, 1, &two, "axes", &err), SC_OK);
	for (int k = 0; k < 24; k++)
		((double *)xt.data)[k] = k % 5 - 1.5;
	/* L = sum(f^2), so dL/dx = 2 f broadcast back over the reduced axes */
	const int64_t axes_sets[3][2] = {{1, 1}, {0, -1}, {2, 0}};
	const int n_axes[3] = {1, 2, 2};
	for (int s = 0; s < 3; s++) {
		at.dims[0] = at.numel = n_axes[s];
		memcpy(at.data, axes_sets[s], sizeof axes_sets[s]);
		const char *names[] = {"x", "axes"};
		const sc_tensor *ins[] = {&xt, &at};
		if (plan_run(p, 2, names, ins, &err))
			fail_msg("%s", err.msg);
		const double *dx = plan_output(p, 1)->data;
		int red[3] = {0, 0, 0};
		for (int i = 0; i < n_axes[s]; i++)
			red[(axes_sets[s][i] + 3) % 3] = 1;
		for (int i = 0; i < 2; i++)
			for (int j = 0; j < 3; j++)
				for (int k = 0; k < 4; k++) {
					double f = 0;
					for (int a = 0; a < 2; a++)
						for (int b = 0; b < 3; b++)
							for (int c = 0; c < 4; c++)
								if ((red[0] || a == i) && (red[1] || b == j) &&
								    (red[2] || c == k))
									f += ((double *)xt.data)[(a * 3 + b) * 4 + c];
					double got = dx[(i * 3 + j) * 4 + k];
					if (fabs(got - 2 * f) > 1e-12)
						fail_msg("axes set %d: dx[%d,%d,%d] is %g, expected %g",
							 s, i, j, k, got, 2 * f);
				}
	}
	at.dims[0] = at.numel = 2;
	tensor_free(&xt);
	tensor_free(&at);
	plan_free(p);
	graph_model_free(m);
}

/* --- golden losses from PyTorch ----------------------------------------- */

static void load_pb(const char *dir, const char *name, sc_tensor *t)
{
	char path[1100];
	snprintf(path, sizeof path, "%s/%s.pb", dir, name);
	sc_error err = {0};
	if (onnx_tensor_load_file(path, t, NULL, &err))
		fail_msg("%s", err.msg);
}

static int have_pb(const char *dir, const char *name)
{
	char path[1100];
	snprintf(path, sizeof path, "%s/%s.pb", dir, name);
	FILE *f = fopen(path, "rb");
	if (f)
		fclose(f);
	return f != NULL;
}

static void add_init_copy(graph *g, const char *name, const sc_tensor *t)
{
	init_tensor(g, name, t->dtype, t->rank, t->dims, t->data);
}

static void expect_close(const sc_tensor *got, const sc_tensor *want,
			 const char *what, const char *name)
{
	assert_int_equal(got->numel, want->numel);
	double scale = 0;
	for (int64_t k = 0; k < want->numel; k++)
		scale = fmax(scale, fabs(get(want, k)));
	for (int64_t k = 0; k < want->numel; k++) {
		double a = get(got, k), b = get(want, k);
		/* rel 1e-4, and 1e-6 of the largest entry for entries near 0 */
		if (fabs(a - b) > 1e-4 * fabs(b) + 1e-6 * scale)
			fail_msg("%s: %s[%lld] is %.9g, PyTorch %.9g", name, what,
				 (long long)k, a, b);
	}
}

static void check_golden(const char *name, const char *op, const char *reduction,
			 const char *ii)
{
	char dir[512];
	snprintf(dir, sizeof dir, "%s/losses/%s", SUPCON_TEST_DATA, name);
	sc_tensor scores, labels, loss, grad, extra;
	load_pb(dir, "scores", &scores);
	load_pb(dir, "labels", &labels);
	load_pb(dir, "loss", &loss);
	load_pb(dir, "grad", &grad);
	int weighted = have_pb(dir, "weights"), lp = have_pb(dir, "r_logprob");
	int none = !strcmp(reduction, "none");

	graph_model *m = model(13);
	graph *g = m->graph;
	char shape[128];
	size_t used = 0;
	for (int i = 0; i < scores.rank; i++)
		used += (size_t)snprintf(shape + used, sizeof shape - used, "%s%lld",
					 i ? "," : "", (long long)scores.dims[i]);
	input(g, "scores", scores.dtype, shape);
	add_init_copy(g, "labels", &labels);
	if (weighted) {
		load_pb(dir, "weights", &extra);
		add_init_copy(g, "weights", &extra);
		tensor_free(&extra);
	}
	graph_node *n = add(g, !strcmp(op, "sce") ? "SoftmaxCrossEntropyLoss" :
					       "NegativeLogLikelihoodLoss", "loss",
			    weighted ? "scores,labels,weights" : "scores,labels",
			    lp ? "loss,log_prob" : "loss");
	attr_str(n, "reduction", reduction);
	if (strcmp(ii, "-") != 0)
		attr_int(n, "ignore_index", strtoll(ii, NULL, 10));
	/* the scalar PyTorch differentiated: loss (weighted by r when per
	 * position) plus sum(log_prob * r_logprob) */
	const char *total = "loss";
	if (none) {
		load_pb(dir, "r", &extra);
		add_init_copy(g, "r", &extra);
		tensor_free(&extra);
		add_weighted_sum(g, "loss", "r", "loss_total");
		total = "loss_total";
	}
	if (lp) {
		load_pb(dir, "r_logprob", &extra);
		add_init_copy(g, "r_logprob", &extra);
		tensor_free(&extra);
		add_weighted_sum(g, "log_prob", "r_logprob", "lp_total");
		char ins[64];
		snprintf(ins, sizeof ins, "%s,lp_total", total);
		add(g, "Add", "both", ins, "L");
	} else {
		add(g, "Identity", "both", total, "L");
	}
	output(g, "L");
	output(g, "loss");
	const char *wrt[] = {"scores"};
	int gv;
	sc_error err = {0};
	if (autodiff_build(m, "L", 1, wrt, &gv, &err))
		fail_msg("%s: %s", name, err.msg);
	plan *p;
	plan_options opt = {.threads = 2};
	if (plan_create(m, &opt, &p, &err))
		fail_msg("%s: %s", name, err.msg);
	const char *names[] = {"scores"};
	const sc_tensor *ins[] = {&scores};
	if (plan_run(p, 1, names, ins, &err))
		fail_msg("%s: %s", name, err.msg);
	assert_string_equal(plan_output_name(p, 1), "loss");
	assert_string_equal(plan_output_name(p, 2), "scores_grad");
	expect_close(plan_output(p, 1), &loss, "loss", name);
	expect_close(plan_output(p, 2), &grad, "d scores", name);
	print_message("%-28s loss and gradient match PyTorch\n", name);
	plan_free(p);
	graph_model_free(m);
	tensor_free(&scores);
	tensor_free(&labels);
	tensor_free(&loss);
	tensor_free(&grad);
}

static void test_golden_losses(void **state)
{
	(void)state;
	char path[512];
	snprintf(path, sizeof path, "%s/losses/index.txt", SUPCON_TEST_DATA);
	FILE *f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open %s", path);
	char line[256];
	int n = 0;
	while (fgets(line, sizeof line, f)) {
		char name[64], op[8], reduction[8], ii[24];
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (sscanf(line, "%63s %7s %7s %23s", name, op, reduction, ii) != 4)
			fail_msg("%s: bad line '%s'", path, line);
		check_golden(name, op, reduction, ii);
		n++;
	}
	fclose(f);
	assert_true(n >= 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_finite_differences),
		cmocka_unit_test(test_max_min_ties),
		cmocka_unit_test(test_zero_norms),
		cmocka_unit_test(test_runtime_axes),
		cmocka_unit_test(test_golden_losses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
