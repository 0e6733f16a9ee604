/* test_supcon_loss.c: ai.supcon SupConLoss and its backward, against
 * independent references.
 *
 * - the fused kernel (float32 and float64) against a naive float64
 *   implementation written here from DESIGN.md's definition (no max
 *   shift, no matrix products), over label patterns, attributes and both
 *   reductions;
 * - SimCLR (labels = image index) against the NT-Xent formula;
 * - the collapsed-features sanity value (t / bt) ln(M - 1);
 * - anchors without positives: loss 0 and a gradient of exactly 0;
 * - gradients from autodiff (SupConLossGrad) against central finite
 *   differences of the float64 plan, h = 1e-6, |a - n| <= 1e-6 + 1e-5 |n|;
 *   float32 gradients against the float64 ones;
 * - SupContrast's formula in PyTorch (tests/make_golden_supcon.py,
 *   tests/data/supcon/): value and gradient at temperature 0.1,
 *   base_temperature 0.07;
 * - the FunctionProto body (onnx/supcon_function.c), run in our runtime,
 *   against the fused kernel; and the cases written to
 *   SUPCON_TEST_WORK/supcon/ that tests/supcon_ort.js runs in ONNX Runtime.
 *
 * float32 tolerances: values at rtol 1e-4; a float32 gradient element at
 * 1e-4 |want| + 1e-6 max|want| (the small absolute term covers elements
 * that cancel to near zero, whose float32 rounding is relative to the
 * row, not to themselves).
 *
 * Inputs are drawn from op_harness.h's fixed generator; SUPCON_TEST_SEED=N
 * in the environment reseeds it, to try other draws by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model_builder.h"
#include "op_harness.h"
#include "onnx.pb-c.h"
#include "onnx/onnx.h"
#include "runtime/autodiff.h"
#include "runtime/plan.h"

#define GOLDEN_DIR SUPCON_TEST_DATA "/supcon"
#define ORT_DIR SUPCON_TEST_WORK "/supcon"

/* Attributes as a test states them; 0 / -1 / NULL leave one out. */
typedef struct cfg {
	float t;                /* 0: omitted (0.1) */
	float bt;               /* 0: omitted (= temperature) */
	int normalize;          /* -1: omitted (1) */
	const char *reduction;  /* NULL: omitted ("mean") */
} cfg;

static double eff_t(const cfg *c) { return c->t ? c->t : 0.1f; }
static double eff_bt(const cfg *c) { return c->bt ? c->bt : (float)eff_t(c); }
static int eff_norm(const cfg *c) { return c->normalize < 0 ? 1 : c->normalize; }
static int is_none(const cfg *c) { return c->reduction && !strcmp(c->reduction, "none"); }

/* --- models ------------------------------------------------------------------- */

static void set_attrs(graph_node *n, const cfg *c)
{
	if (c->t)
		attr_float(n, "temperature", c->t);
	if (c->bt)
		attr_float(n, "base_temperature", c->bt);
	if (c->normalize >= 0)
		attr_int(n, "normalize", c->normalize);
	if (c->reduction)
		attr_str(n, "reduction", c->reduction);
}

static graph_node *supcon_node(graph *g, const char *x, const char *y,
			       const char *out, const cfg *c)
{
	int in[2] = {val(g, x), val(g, y)}, o = val(g, out);
	sc_error err = {0};
	int idx = graph_add_node(g, "SupConLoss", "ai.supcon", "supcon", 2, in, 1, &o, &err);
	assert_true(idx >= 0);
	set_attrs(&g->nodes[idx], c);
	return &g->nodes[idx];
}

/* x [m, d] of dtype and int64 y [m] -> SupConLoss -> "L". */
static graph_model *loss_model(const cfg *c, int dtype, int64_t m, int64_t d,
			       int64_t opset)
{
	graph_model *mod = model(opset);
	add_opset(mod, "ai.supcon", 1);
	graph *g = mod->graph;
	char xs[64], ys[32];
	snprintf(xs, sizeof xs, "%lld,%lld", (long long)m, (long long)d);
	snprintf(ys, sizeof ys, "%lld", (long long)m);
	input(g, "x", dtype, xs);
	input(g, "y", SC_INT64, ys);
	supcon_node(g, "x", "y", "L", c);
	output(g, "L");
	return mod;
}

static plan *plan_of(graph_model *m)
{
	plan_options opt = {.threads = 2};
	plan *p;
	sc_error err = {0};
	if (plan_create(m, &opt, &p, &err))
		fail_msg("plan_create: %s", err.msg);
	return p;
}

static void run_xy(plan *p, const sc_tensor *x, const sc_tensor *y)
{
	const char *names[2] = {"x", "y"};
	const sc_tensor *ins[2] = {x, y};
	sc_error err = {0};
	if (plan_run(p, 2, names, ins, &err))
		fail_msg("plan_run: %s", err.msg);
}

static const sc_tensor *output_named(plan *p, const char *name)
{
	for (int i = 0; i < plan_output_count(p); i++)
		if (!strcmp(plan_output_name(p, i), name))
			return plan_output(p, i);
	fail_msg("no output '%s'", name);
	return NULL;
}

static double at(const sc_tensor *t, int64_t i)
{
	return t->dtype == SC_FLOAT ? ((const float *)t->data)[i] :
	       ((const double *)t->data)[i];
}

static void put(sc_tensor *t, int64_t i, double v)
{
	if (t->dtype == SC_FLOAT)
		((float *)t->data)[i] = (float)v;
	else
		((double *)t->data)[i] = v;
}

/* --- inputs --------------------------------------------------------------------- */

enum { LAB_CLASSES, LAB_SIMCLR, LAB_DISTINCT, LAB_MIXED };

/* Labels of m rows: k random classes, SimCLR's image index (two views),
 * all distinct, or a mix where rows 0 and 1 share a label and the rest
 * are alone, so most anchors have no positive. */
static sc_tensor make_labels(int64_t m, int kind, int k)
{
	int64_t dims[1] = {m};
	sc_tensor y = make(SC_INT64, 1, dims);
	int64_t *v = y.data;
	for (int64_t i = 0; i < m; i++) {
		switch (kind) {
		case LAB_CLASSES: v[i] = (int64_t)uniform(0, k) % k; break;
		case LAB_SIMCLR: v[i] = i % (m / 2); break;
		case LAB_DISTINCT: v[i] = 100 + i; break;
		default: v[i] = i < 2 ? 7 : 100 + i; break;
		}
	}
	return y;
}

static sc_tensor make_features(int dtype, int64_t m, int64_t d, double scale)
{
	int64_t dims[2] = {m, d};
	sc_tensor x = make(dtype, 2, dims);
	for (int64_t i = 0; i < x.numel; i++)
		put(&x, i, scale * uniform(-1, 1));
	return x;
}

/* The same values in another dtype. */
static sc_tensor convert(const sc_tensor *x, int dtype)
{
	sc_tensor y = make(dtype, x->rank, x->dims);
	for (int64_t i = 0; i < x->numel; i++)
		put(&y, i, at(x, i));
	return y;
}

/* --- the naive reference ----------------------------------------------------- */

/* DESIGN.md's definition, literally, in float64: li[i] per anchor (0
 * without a positive) and the mean over anchors that have one. */
static double ref_supcon(const sc_tensor *xt, const int64_t *y, const cfg *c,
			 double *li)
{
	int64_t m = xt->dims[0], d = xt->dims[1];
	double *z = calloc((size_t)(m * d + 1), sizeof *z);
	assert_non_null(z);
	for (int64_t i = 0; i < m; i++) {
		double n = 0;
		for (int64_t j = 0; j < d; j++)
			n += at(xt, i * d + j) * at(xt, i * d + j);
		n = eff_norm(c) ? fmax(sqrt(n), 1e-12) : 1;
		for (int64_t j = 0; j < d; j++)
			z[i * d + j] = at(xt, i * d + j) / n;
	}
	double total = 0;
	int anchors = 0;
	for (int64_t i = 0; i < m; i++) {
		double denom = 0, sum_log = 0;
		int npos = 0;
		for (int64_t a = 0; a < m; a++) {
			if (a == i)
				continue;
			double dot = 0;
			for (int64_t j = 0; j < d; j++)
				dot += z[i * d + j] * z[a * d + j];
			denom += exp(dot / eff_t(c));
		}
		for (int64_t p = 0; p < m; p++) {
			if (p == i || y[p] != y[i])
				continue;
			double dot = 0;
			for (int64_t j = 0; j < d; j++)
				dot += z[i * d + j] * z[p * d + j];
			sum_log += log(exp(dot / eff_t(c)) / denom);
			npos++;
		}
		li[i] = npos ? -(eff_t(c) / eff_bt(c)) * sum_log / npos : 0;
		if (npos) {
			total += li[i];
			anchors++;
		}
	}
	free(z);
	return anchors ? total / anchors : 0;
}

static void expect_close(double got, double want, double rtol, double atol,
			 const char *what, int64_t i)
{
	if (!(fabs(got - want) <= atol + rtol * fabs(want)))
		fail_msg("%s[%lld]: got %.12g, expected %.12g (diff %.3g)", what,
			 (long long)i, got, want, fabs(got - want));
}

/* Absolute error a float32 loss value may carry: a few float32 ulps of
 * the largest logit |s_ia| (1/t for unit rows), scaled by t/bt.  A loss_i
 * near 0 is the difference of logits near 1/t, so its float32 error is
 * absolute, not relative to itself. */
static double f32_atol(const cfg *c, const sc_tensor *x)
{
	double big = 1;
	if (!eff_norm(c)) {
		int64_t d = x->dims[1];
		big = 0;
		for (int64_t i = 0; i < x->dims[0]; i++) {
			double n = 0;
			for (int64_t j = 0; j < d; j++)
				n += at(x, i * d + j) * at(x, i * d + j);
			big = fmax(big, n);
		}
	}
	return 8 * FLT_EPSILON * big / eff_t(c) * (eff_t(c) / eff_bt(c));
}

/* --- forward against the naive reference ------------------------------------------ */

typedef struct fcase {
	int64_t m, d;
	int labels, classes;
	double scale;
	cfg c;
} fcase;

static const fcase forward_cases[] = {
	{8, 4, LAB_CLASSES, 3, 1, {0.1f, 0.07f, 1, NULL}},
	{8, 4, LAB_CLASSES, 3, 1, {0.1f, 0.07f, 1, "none"}},
	{12, 16, LAB_CLASSES, 2, 1, {0.5f, 0, -1, "mean"}},
	{10, 3, LAB_SIMCLR, 0, 1, {0.2f, 0.07f, 1, "none"}},
	{9, 5, LAB_MIXED, 0, 1, {0.1f, 0.1f, 1, "mean"}},
	{9, 5, LAB_MIXED, 0, 1, {0.1f, 0.1f, 1, "none"}},
	{7, 6, LAB_CLASSES, 2, 0.4, {0.3f, 0.07f, 0, "mean"}},
	{7, 6, LAB_CLASSES, 2, 0.4, {0.3f, 0, 0, "none"}},
	{33, 20, LAB_CLASSES, 5, 3, {0, 0, -1, NULL}},
	{64, 32, LAB_CLASSES, 10, 1, {0.07f, 0.07f, 1, "none"}},
	{2, 3, LAB_CLASSES, 1, 1, {0.1f, 0.07f, 1, NULL}},
};

static void check_forward(const fcase *fc, int dtype)
{
	sc_tensor x = make_features(SC_DOUBLE, fc->m, fc->d, fc->scale);
	sc_tensor y = make_labels(fc->m, fc->labels, fc->classes);
	sc_tensor xin = convert(&x, dtype);
	/* the reference sees exactly the values the kernel sees */
	sc_tensor xref = convert(&xin, SC_DOUBLE);
	double *li = calloc((size_t)fc->m, sizeof *li);
	double mean = ref_supcon(&xref, y.data, &fc->c, li);
	graph_model *mod = loss_model(&fc->c, dtype, fc->m, fc->d, 17);
	plan *p = plan_of(mod);
	run_xy(p, &xin, &y);
	const sc_tensor *out = plan_output(p, 0);
	assert_int_equal(out->dtype, dtype);
	double rtol = dtype == SC_DOUBLE ? 1e-12 : 1e-4;
	double atol = dtype == SC_DOUBLE ? 1e-12 : f32_atol(&fc->c, &xref);
	if (is_none(&fc->c)) {
		assert_int_equal(out->rank, 1);
		assert_int_equal(out->dims[0], fc->m);
		for (int64_t i = 0; i < fc->m; i++)
			expect_close(at(out, i), li[i], rtol, atol, "loss_i", i);
	} else {
		assert_int_equal(out->rank, 0);
		expect_close(at(out, 0), mean, rtol, atol, "loss", 0);
	}
	plan_free(p);
	graph_model_free(mod);
	free(li);
	tensor_free(&x);
	tensor_free(&xin);
	tensor_free(&xref);
	tensor_free(&y);
}

static void test_forward_matches_naive_reference(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof forward_cases / sizeof forward_cases[0]; i++) {
		check_forward(&forward_cases[i], SC_DOUBLE);
		check_forward(&forward_cases[i], SC_FLOAT);
	}
}

/* Large logits (features far from unit norm, normalize = 0, small
 * temperature) need the max shift: the naive exp() would overflow. */
static void test_forward_large_logits_stay_finite(void **state)
{
	(void)state;
	cfg c = {0.05f, 0.05f, 0, NULL};
	int64_t m = 6, d = 4;
	sc_tensor x = make_features(SC_FLOAT, m, d, 30);
	sc_tensor y = make_labels(m, LAB_SIMCLR, 0);
	graph_model *mod = loss_model(&c, SC_FLOAT, m, d, 17);
	plan *p = plan_of(mod);
	run_xy(p, &x, &y);
	double got = at(plan_output(p, 0), 0);
	assert_true(isfinite(got));
	/* reference with its own shift, in double */
	double total = 0;
	for (int64_t i = 0; i < m; i++) {
		double s[8], mx = -INFINITY;
		for (int64_t a = 0; a < m; a++) {
			double dot = 0;
			for (int64_t j = 0; j < d; j++)
				dot += at(&x, i * d + j) * at(&x, a * d + j);
			s[a] = dot / 0.05f;
			if (a != i)
				mx = fmax(mx, s[a]);
		}
		double sum = 0;
		for (int64_t a = 0; a < m; a++)
			if (a != i)
				sum += exp(s[a] - mx);
		int64_t pidx = (i + m / 2) % m;
		total += -(s[pidx] - mx - log(sum));
	}
	expect_close(got, total / m, 1e-4, f32_atol(&c, &x), "loss", 0);
	plan_free(p);
	graph_model_free(mod);
	tensor_free(&x);
	tensor_free(&y);
}

/* --- SimCLR, sanity value, no positives ----------------------------------------- */

static void test_simclr_matches_nt_xent(void **state)
{
	(void)state;
	const int64_t b = 6, m = 2 * b, d = 5;
	cfg c = {0.5f, 0.07f, 1, NULL};
	for (int dt = 0; dt < 2; dt++) {
		int dtype = dt ? SC_FLOAT : SC_DOUBLE;
		sc_tensor x = make_features(dtype, m, d, 1);
		sc_tensor y = make_labels(m, LAB_SIMCLR, 0);
		/* NT-Xent: the positive of view i is the other view, i +- B */
		double total = 0;
		for (int64_t i = 0; i < m; i++) {
			double zi[5], ni = 0;
			for (int64_t j = 0; j < d; j++)
				ni += at(&x, i * d + j) * at(&x, i * d + j);
			for (int64_t j = 0; j < d; j++)
				zi[j] = at(&x, i * d + j) / sqrt(ni);
			double sim[12], denom = 0;
			for (int64_t a = 0; a < m; a++) {
				double na = 0, dot = 0;
				for (int64_t j = 0; j < d; j++) {
					na += at(&x, a * d + j) * at(&x, a * d + j);
					dot += zi[j] * at(&x, a * d + j);
				}
				sim[a] = dot / sqrt(na) / 0.5f;
				if (a != i)
					denom += exp(sim[a]);
			}
			total += -((double)0.5f / (double)0.07f) * log(exp(sim[(i + b) % m]) / denom);
		}
		graph_model *mod = loss_model(&c, dtype, m, d, 17);
		plan *p = plan_of(mod);
		run_xy(p, &x, &y);
		expect_close(at(plan_output(p, 0), 0), total / m, dt ? 1e-4 : 1e-12,
			     dt ? f32_atol(&c, &x) : 0, "simclr loss", 0);
		plan_free(p);
		graph_model_free(mod);
		tensor_free(&x);
		tensor_free(&y);
	}
}

/* Identical rows: every logit is equal, so log softmax = -ln(M - 1). */
static void test_collapsed_features_give_log_m_minus_1(void **state)
{
	(void)state;
	const cfg cases[] = {{0.1f, 0.07f, 1, NULL}, {0.2f, 0, -1, NULL},
			     {0.1f, 0.07f, 0, "none"}};
	for (int k = 0; k < 3; k++) {
		const int64_t m = 10, d = 4;
		sc_tensor x = make_features(SC_FLOAT, m, d, 1);
		for (int64_t i = 1; i < m; i++)
			memcpy((float *)x.data + i * d, x.data, (size_t)d * sizeof(float));
		sc_tensor y = make_labels(m, LAB_CLASSES, 3);
		graph_model *mod = loss_model(&cases[k], SC_FLOAT, m, d, 17);
		plan *p = plan_of(mod);
		run_xy(p, &x, &y);
		double want = eff_t(&cases[k]) / eff_bt(&cases[k]) * log((double)(m - 1));
		const sc_tensor *out = plan_output(p, 0);
		if (is_none(&cases[k])) {
			for (int64_t i = 0; i < m; i++) {
				int has = 0;
				for (int64_t a = 0; a < m; a++)
					has |= a != i && ((int64_t *)y.data)[a] == ((int64_t *)y.data)[i];
				expect_close(at(out, i), has ? want : 0, 1e-5, 0, "collapsed", i);
			}
		} else {
			expect_close(at(out, 0), want, 1e-5, 0, "collapsed", 0);
		}
		plan_free(p);
		graph_model_free(mod);
		tensor_free(&x);
		tensor_free(&y);
	}
}

/* Differentiates "obj" (L itself for "mean", sum(L * R) for "none") with
 * respect to x; returns the plan, whose output "x_grad" is the gradient. */
static plan *grad_plan(const cfg *c, int dtype, int64_t m, int64_t d,
		       graph_model **out)
{
	graph_model *mod = loss_model(c, dtype, m, d, 17);
	graph *g = mod->graph;
	const char *loss = "L";
	if (is_none(c)) {
		int64_t dims[1] = {m};
		sc_tensor r = make(dtype, 1, dims);
		/* fixed, so that float32 and float64 plans weigh alike */
		for (int64_t i = 0; i < m; i++)
			put(&r, i, sin(1.0 + 2.0 * (double)i));
		sc_error err = {0};
		assert_int_equal(graph_add_init(g, val(g, "R"), &r, &err), SC_OK);
		add(g, "Mul", "weigh", "L,R", "LR");
		attr_int(add(g, "ReduceSum", "sum", "LR", "obj"), "keepdims", 0);
		/* the objective is output 0, L stays an output */
		push_output(g, val(g, "obj"));
		g->outputs[1] = g->outputs[0];
		g->outputs[0] = val(g, "obj");
		loss = "obj";
	}
	const char *wrt[1] = {"x"};
	int grads[1];
	sc_error err = {0};
	if (autodiff_build(mod, loss, 1, wrt, grads, &err))
		fail_msg("autodiff: %s", err.msg);
	assert_true(grads[0] >= 0);
	*out = mod;
	return plan_of(mod);
}

static void test_no_positive_gives_zero_and_zero_gradient(void **state)
{
	(void)state;
	const cfg cases[] = {{0.1f, 0.07f, 1, NULL}, {0.1f, 0.07f, 1, "none"},
			     {0.1f, 0.07f, 0, NULL}};
	const int64_t sizes[] = {1, 2, 7};
	for (int k = 0; k < 3; k++)
		for (int s = 0; s < 3; s++)
			for (int dt = 0; dt < 2; dt++) {
				int dtype = dt ? SC_FLOAT : SC_DOUBLE;
				int64_t m = sizes[s], d = 3;
				sc_tensor x = make_features(dtype, m, d, 1);
				sc_tensor y = make_labels(m, LAB_DISTINCT, 0);
				graph_model *mod;
				plan *p = grad_plan(&cases[k], dtype, m, d, &mod);
				run_xy(p, &x, &y);
				const sc_tensor *l = output_named(p, "L");
				for (int64_t i = 0; i < l->numel; i++)
					assert_true(at(l, i) == 0);
				const sc_tensor *gx = output_named(p, "x_grad");
				assert_int_equal(gx->numel, m * d);
				for (int64_t i = 0; i < gx->numel; i++)
					if (at(gx, i) != 0)
						fail_msg("gradient element %lld is %g, expected 0",
							 (long long)i, at(gx, i));
				plan_free(p);
				graph_model_free(mod);
				tensor_free(&x);
				tensor_free(&y);
			}
}

/* --- gradients ---------------------------------------------------------------------- */

typedef struct gcase {
	const char *name;
	int64_t m, d;
	int labels, classes;
	double scale;
	cfg c;
} gcase;

static const gcase grad_cases[] = {
	{"supcon mean", 8, 4, LAB_CLASSES, 3, 1, {0.1f, 0.07f, 1, NULL}},
	{"supcon none", 8, 4, LAB_CLASSES, 3, 1, {0.1f, 0.07f, 1, "none"}},
	{"supcon t=0.5", 10, 6, LAB_CLASSES, 2, 1, {0.5f, 0, -1, "mean"}},
	{"simclr", 10, 3, LAB_SIMCLR, 0, 1, {0.2f, 0.07f, 1, NULL}},
	{"simclr none", 6, 3, LAB_SIMCLR, 0, 1, {0.2f, 0.07f, 1, "none"}},
	{"some without positive", 9, 5, LAB_MIXED, 0, 1, {0.1f, 0.1f, 1, NULL}},
	{"some without, none", 9, 5, LAB_MIXED, 0, 1, {0.1f, 0.1f, 1, "none"}},
	{"normalize 0", 7, 6, LAB_CLASSES, 2, 0.4, {0.3f, 0.07f, 0, NULL}},
	{"normalize 0 none", 7, 6, LAB_CLASSES, 2, 0.4, {0.3f, 0, 0, "none"}},
	{"one class", 5, 2, LAB_CLASSES, 1, 1, {0.1f, 0.07f, 1, NULL}},
	{"many rows", 24, 8, LAB_CLASSES, 6, 2, {0.15f, 0.07f, 1, NULL}},
};

static double objective(plan *p, const sc_tensor *x, const sc_tensor *y)
{
	run_xy(p, x, y);
	return at(plan_output(p, 0), 0);
}

static void check_gradient(const gcase *gc)
{
	sc_tensor x = make_features(SC_DOUBLE, gc->m, gc->d, gc->scale);
	sc_tensor y = make_labels(gc->m, gc->labels, gc->classes);
	graph_model *mod;
	plan *p = grad_plan(&gc->c, SC_DOUBLE, gc->m, gc->d, &mod);
	run_xy(p, &x, &y);
	const sc_tensor *gx = output_named(p, "x_grad");
	double *analytic = malloc((size_t)gx->numel * sizeof *analytic);
	memcpy(analytic, gx->data, (size_t)gx->numel * sizeof *analytic);
	const double h = 1e-6;
	double worst = 0;
	for (int64_t k = 0; k < x.numel; k++) {
		double *v = &((double *)x.data)[k], keep = *v;
		*v = keep + h;
		double up = objective(p, &x, &y);
		*v = keep - h;
		double down = objective(p, &x, &y);
		*v = keep;
		double numeric = (up - down) / (2 * h);
		double e = fabs(analytic[k] - numeric);
		worst = fmax(worst, e / (1e-6 + fabs(numeric)));
		if (e > 1e-6 + 1e-5 * fabs(numeric))
			fail_msg("%s: d/dx[%lld]: SupConLossGrad %.10g, finite differences %.10g",
				 gc->name, (long long)k, analytic[k], numeric);
	}
	print_message("%-24s worst relative error %.2e\n", gc->name, worst);

	/* float32 against float64 on the same (float32-rounded) values */
	sc_tensor x32 = convert(&x, SC_FLOAT);
	sc_tensor x64 = convert(&x32, SC_DOUBLE);
	graph_model *mod32;
	plan *p32 = grad_plan(&gc->c, SC_FLOAT, gc->m, gc->d, &mod32);
	run_xy(p32, &x32, &y);
	run_xy(p, &x64, &y);
	const sc_tensor *g32 = output_named(p32, "x_grad"), *g64 = output_named(p, "x_grad");
	double scale = 0;
	for (int64_t k = 0; k < g64->numel; k++)
		scale = fmax(scale, fabs(at(g64, k)));
	for (int64_t k = 0; k < g64->numel; k++)
		expect_close(at(g32, k), at(g64, k), 1e-4, 1e-6 * scale, gc->name, k);
	plan_free(p32);
	graph_model_free(mod32);
	tensor_free(&x32);
	tensor_free(&x64);

	free(analytic);
	plan_free(p);
	graph_model_free(mod);
	tensor_free(&x);
	tensor_free(&y);
}

static void test_gradients_match_finite_differences(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof grad_cases / sizeof grad_cases[0]; i++)
		check_gradient(&grad_cases[i]);
}

/* SupConLoss at the end of a chain: features = x * w + b, the gradient
 * flowing on through autodiff's other rules to x, w and b. */
static void test_gradient_through_a_chain(void **state)
{
	(void)state;
	const int64_t m = 8, d = 3;
	graph_model *mod = model(17);
	add_opset(mod, "ai.supcon", 1);
	graph *g = mod->graph;
	input(g, "x", SC_DOUBLE, "8,3");
	input(g, "w", SC_DOUBLE, "3");
	input(g, "b", SC_DOUBLE, "3");
	input(g, "y", SC_INT64, "8");
	add(g, "Mul", "scale", "x,w", "xw");
	add(g, "Add", "shift", "xw,b", "f");
	cfg c = {0.1f, 0.07f, 1, NULL};
	supcon_node(g, "f", "y", "L", &c);
	output(g, "L");
	const char *wrt[3] = {"x", "w", "b"};
	int grads[3];
	sc_error err = {0};
	if (autodiff_build(mod, "L", 3, wrt, grads, &err))
		fail_msg("autodiff: %s", err.msg);
	plan *p = plan_of(mod);
	int64_t dm[2] = {m, d}, dd[1] = {d};
	sc_tensor x = make(SC_DOUBLE, 2, dm), w = make(SC_DOUBLE, 1, dd),
		  b = make(SC_DOUBLE, 1, dd);
	sc_tensor y = make_labels(m, LAB_CLASSES, 3);
	sc_tensor *vars[3] = {&x, &w, &b};
	for (int v = 0; v < 3; v++)
		for (int64_t i = 0; i < vars[v]->numel; i++)
			put(vars[v], i, uniform(-1, 1));
	const char *names[4] = {"x", "w", "b", "y"};
	const sc_tensor *ins[4] = {&x, &w, &b, &y};
	assert_int_equal(plan_run(p, 4, names, ins, &err), SC_OK);
	double analytic[3][32];
	for (int v = 0; v < 3; v++) {
		const sc_tensor *gv = output_named(p, g->values[grads[v]].name);
		for (int64_t i = 0; i < gv->numel; i++)
			analytic[v][i] = at(gv, i);
	}
	for (int v = 0; v < 3; v++)
		for (int64_t i = 0; i < vars[v]->numel; i++) {
			double *e = &((double *)vars[v]->data)[i], keep = *e;
			*e = keep + 1e-6;
			assert_int_equal(plan_run(p, 4, names, ins, &err), SC_OK);
			double up = at(plan_output(p, 0), 0);
			*e = keep - 1e-6;
			assert_int_equal(plan_run(p, 4, names, ins, &err), SC_OK);
			double down = at(plan_output(p, 0), 0);
			*e = keep;
			double numeric = (up - down) / 2e-6;
			if (fabs(analytic[v][i] - numeric) > 1e-6 + 1e-5 * fabs(numeric))
				fail_msg("d/d%s[%lld]: %.10g, finite differences %.10g", wrt[v],
					 (long long)i, analytic[v][i], numeric);
		}
	plan_free(p);
	graph_model_free(mod);
	tensor_free(&x);
	tensor_free(&w);
	tensor_free(&b);
	tensor_free(&y);
}

/* The rule emits one SupConLossGrad with the forward's attributes, and
 * the model imports ai.supcon. */
static void test_rule_emits_fused_backward(void **state)
{
	(void)state;
	cfg c = {0.25f, 0.5f, 0, "none"};
	graph_model *mod;
	plan *p = grad_plan(&c, SC_FLOAT, 4, 2, &mod);
	const graph *g = mod->graph;
	int found = 0;
	for (int i = 0; i < g->n_nodes; i++) {
		const graph_node *n = &g->nodes[i];
		if (strcmp(n->op_type, "SupConLossGrad"))
			continue;
		found++;
		assert_string_equal(n->domain, "ai.supcon");
		assert_int_equal(n->n_inputs, 3);
		assert_string_equal(g->values[n->inputs[0]].name, "x");
		assert_string_equal(g->values[n->inputs[1]].name, "y");
		assert_true(graph_node_attr(n, "temperature")->f == 0.25f);
		assert_true(graph_node_attr(n, "base_temperature")->f == 0.5f);
		assert_int_equal(graph_node_attr(n, "normalize")->i, 0);
		assert_string_equal(graph_node_attr(n, "reduction")->s.data, "none");
	}
	assert_int_equal(found, 1);
	assert_int_equal(graph_model_opset(mod, "ai.supcon"), 1);
	plan_free(p);
	graph_model_free(mod);
}

/* --- SupContrast golden (tests/make_golden_supcon.py) -------------------------------- */

static sc_tensor load_golden(const char *dir, const char *name)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s/%s.pb", GOLDEN_DIR, dir, name);
	sc_tensor t;
	sc_error err = {0};
	if (onnx_tensor_load_file(path, &t, NULL, &err))
		fail_msg("%s", err.msg);
	return t;
}

static void load_meta(const char *dir, cfg *c)
{
	char path[512], key[64];
	snprintf(path, sizeof path, "%s/%s/meta.txt", GOLDEN_DIR, dir);
	FILE *f = fopen(path, "r");
	if (!f)
		fail_msg("%s: %s", path, strerror(errno));
	double v;
	int seen = 0;
	while (fscanf(f, "%63s %lf", key, &v) == 2) {
		if (!strcmp(key, "temperature"))
			c->t = (float)v;
		else if (!strcmp(key, "base_temperature"))
			c->bt = (float)v;
		else if (!strcmp(key, "normalize"))
			c->normalize = (int)v;
		else
			fail_msg("%s: unknown key %s", path, key);
		seen++;
	}
	fclose(f);
	assert_int_equal(seen, 3);
}

static void check_golden(const char *dir, int dtype)
{
	cfg c = {0};
	load_meta(dir, &c);
	assert_true(c.t == 0.1f && c.bt == 0.07f);
	sc_tensor x32 = load_golden(dir, "features"), y = load_golden(dir, "labels");
	sc_tensor want = load_golden(dir, "loss"), want_none = load_golden(dir, "loss_none");
	sc_tensor want_grad = load_golden(dir, "grad");
	assert_int_equal(x32.dtype, SC_FLOAT);
	assert_int_equal(y.dtype, SC_INT64);
	int64_t m = x32.dims[0], d = x32.dims[1];
	sc_tensor x = convert(&x32, dtype);
	double rtol = dtype == SC_DOUBLE ? 1e-10 : 1e-4;
	double atol = dtype == SC_DOUBLE ? 1e-12 : f32_atol(&c, &x32);

	graph_model *mod;
	plan *p = grad_plan(&c, dtype, m, d, &mod);
	run_xy(p, &x, &y);
	expect_close(at(output_named(p, "L"), 0), at(&want, 0), rtol, atol, dir, 0);
	const sc_tensor *gx = output_named(p, "x_grad");
	double scale = 0, worst = 0;
	for (int64_t k = 0; k < want_grad.numel; k++)
		scale = fmax(scale, fabs(at(&want_grad, k)));
	for (int64_t k = 0; k < want_grad.numel; k++) {
		double e = fabs(at(gx, k) - at(&want_grad, k));
		worst = fmax(worst, e / (fabs(at(&want_grad, k)) + 1e-6 * scale));
		expect_close(at(gx, k), at(&want_grad, k), rtol,
			     dtype == SC_DOUBLE ? 1e-12 * scale : 1e-6 * scale, dir, k);
	}
	print_message("%-18s %s: loss %.9g, worst gradient error %.2e\n", dir,
		      tensor_dtype_name(dtype), at(output_named(p, "L"), 0), worst);
	plan_free(p);
	graph_model_free(mod);

	cfg none = c;
	none.reduction = "none";
	mod = loss_model(&none, dtype, m, d, 17);
	p = plan_of(mod);
	run_xy(p, &x, &y);
	for (int64_t i = 0; i < m; i++)
		expect_close(at(plan_output(p, 0), i), at(&want_none, i), rtol, atol, dir, i);
	plan_free(p);
	graph_model_free(mod);

	tensor_free(&x);
	tensor_free(&x32);
	tensor_free(&y);
	tensor_free(&want);
	tensor_free(&want_none);
	tensor_free(&want_grad);
}

static const char *const golden_cases[] = {
	"supcon_b6_d8", "supcon_b16_d32", "simclr_b5_d8", "supcon_raw_b4_d6",
};

static void test_matches_supcontrast_golden(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof golden_cases / sizeof golden_cases[0]; i++) {
		check_golden(golden_cases[i], SC_FLOAT);
		check_golden(golden_cases[i], SC_DOUBLE);
	}
}

/* --- the FunctionProto body ------------------------------------------------------ */

/* Runs the fused op and the body (as onnx_supcon_body_model builds it) on
 * the same inputs and compares. */
static void check_body(int64_t opset, const cfg *c, int64_t m, int64_t d,
		       int labels, int classes)
{
	sc_tensor x = make_features(SC_FLOAT, m, d, 1);
	sc_tensor y = make_labels(m, labels, classes);
	graph_model *fused = loss_model(c, SC_FLOAT, m, d, opset);
	plan *pf = plan_of(fused);
	run_xy(pf, &x, &y);

	graph_model *body;
	sc_error err = {0};
	if (onnx_supcon_body_model(opset, (float)eff_t(c), (float)eff_bt(c), eff_norm(c),
				   c->reduction, &body, &err))
		fail_msg("body model: %s", err.msg);
	int nll = 0;
	for (int i = 0; i < body->graph->n_nodes; i++) {
		const graph_node *n = &body->graph->nodes[i];
		if (strcmp(n->domain, "") != 0)
			fail_msg("body node %s is in domain '%s'", n->op_type, n->domain);
		nll += !strcmp(n->op_type, "NegativeLogLikelihoodLoss");
	}
	assert_int_equal(nll, 1);
	plan *pb = plan_of(body);
	const char *names[2] = {"features", "labels"};
	const sc_tensor *ins[2] = {&x, &y};
	if (plan_run(pb, 2, names, ins, &err))
		fail_msg("body run: %s", err.msg);
	const sc_tensor *a = plan_output(pf, 0), *b = plan_output(pb, 0);
	assert_int_equal(a->numel, b->numel);
	assert_int_equal(a->rank, b->rank);
	/* two float32 computations: each within f32_atol of the truth */
	double atol = 2 * f32_atol(c, &x);
	for (int64_t i = 0; i < a->numel; i++)
		expect_close(at(b, i), at(a, i), 1e-4, atol, "body vs fused", i);
	plan_free(pf);
	plan_free(pb);
	graph_model_free(fused);
	graph_model_free(body);
	tensor_free(&x);
	tensor_free(&y);
}

static void test_function_body_matches_fused_kernel(void **state)
{
	(void)state;
	const cfg cfgs[] = {
		{0.1f, 0.07f, 1, "mean"}, {0.1f, 0.07f, 1, "none"},
		{0.5f, 0.5f, 0, "mean"}, {0.3f, 0.07f, 0, "none"},
	};
	for (int64_t opset = ONNX_SUPCON_OPSET_MIN; opset <= ONNX_SUPCON_OPSET_MAX; opset++)
		for (int k = 0; k < 4; k++) {
			check_body(opset, &cfgs[k], 12, 5, LAB_CLASSES, 3);
			check_body(opset, &cfgs[k], 10, 4, LAB_SIMCLR, 0);
			check_body(opset, &cfgs[k], 9, 3, LAB_MIXED, 0);
			check_body(opset, &cfgs[k], 6, 3, LAB_DISTINCT, 0);
			check_body(opset, &cfgs[k], 1, 3, LAB_DISTINCT, 0);
		}
	graph_model *m;
	sc_error err = {0};
	assert_int_equal(onnx_supcon_body_model(12, 0.1f, 0.1f, 1, NULL, &m, &err),
			 SC_EUNSUPPORTED);
	assert_null(m);
}

/* What the saver writes: the function once, every call's attributes in
 * full (defaults made explicit), IR version 8; nothing at opset 11. */
static void test_saver_attaches_function(void **state)
{
	(void)state;
	for (int64_t opset = 11; opset <= 17; opset += 6) {
		cfg none = {0, 0, -1, NULL};
		graph_model *mod = loss_model(&none, SC_FLOAT, 4, 3, opset);
		mod->ir_version = 7;
		void *buf;
		size_t len;
		sc_error err = {0};
		assert_int_equal(onnx_save_memory(mod, &buf, &len, &err), SC_OK);
		Onnx__ModelProto *p = onnx__model_proto__unpack(NULL, len, buf);
		assert_non_null(p);
		const Onnx__NodeProto *call = p->graph->node[0];
		assert_int_equal(call->n_attribute, 4);
		for (size_t i = 0; i < call->n_attribute; i++) {
			const Onnx__AttributeProto *a = call->attribute[i];
			if (!strcmp(a->name, "temperature") || !strcmp(a->name, "base_temperature"))
				assert_true(a->f == 0.1f);
			else if (!strcmp(a->name, "normalize"))
				assert_int_equal(a->i, 1);
			else
				assert_true(a->s.len == 4 && !memcmp(a->s.data, "mean", 4));
		}
		if (opset == 11) {
			assert_int_equal(p->n_functions, 0);
		} else {
			assert_int_equal(p->n_functions, 1);
			const Onnx__FunctionProto *f = p->functions[0];
			assert_string_equal(f->name, "SupConLoss");
			assert_string_equal(f->domain, "ai.supcon");
			assert_int_equal(f->n_opset_import, 1);
			assert_int_equal(f->opset_import[0]->version, opset);
			assert_int_equal(f->n_attribute, 4);
			assert_true(p->ir_version >= 8);
		}
		onnx__model_proto__free_unpacked(p, NULL);
		free(buf);
		graph_model_free(mod);
	}
}

/* A saved call with no attributes, loaded back with every function
 * inlined (by default the loader keeps the native node): the defaults the
 * saver wrote must be those of the kernel. */
static void test_saved_defaults_reload_as_body(void **state)
{
	(void)state;
	cfg none = {0, 0, -1, NULL};
	int64_t m = 8, d = 4;
	graph_model *mod = loss_model(&none, SC_FLOAT, m, d, 17);
	void *buf;
	size_t len;
	sc_error err = {0};
	assert_int_equal(onnx_save_memory(mod, &buf, &len, &err), SC_OK);
	graph_model *back;
	if (onnx_load_memory_flags(buf, len, NULL, "saved", ONNX_LOAD_INLINE_ALL,
				   &back, &err))
		fail_msg("%s", err.msg);
	free(buf);
	for (int i = 0; i < back->graph->n_nodes; i++)
		assert_true(strcmp(back->graph->nodes[i].op_type, "SupConLoss") != 0);
	sc_tensor x = make_features(SC_FLOAT, m, d, 1);
	sc_tensor y = make_labels(m, LAB_CLASSES, 3);
	plan *pf = plan_of(mod), *pb = plan_of(back);
	run_xy(pf, &x, &y);
	run_xy(pb, &x, &y);
	expect_close(at(plan_output(pb, 0), 0), at(plan_output(pf, 0), 0), 1e-4, 0,
		     "reloaded", 0);
	plan_free(pf);
	plan_free(pb);
	graph_model_free(mod);
	graph_model_free(back);
	tensor_free(&x);
	tensor_free(&y);
}

/* --- cases for ONNX Runtime (tests/supcon_ort.js) ---------------------------------- */

static void write_raw(const char *path, const sc_tensor *t)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		fail_msg("%s: %s", path, strerror(errno));
	assert_int_equal(fwrite(t->data, 1, t->nbytes, f), t->nbytes);
	assert_int_equal(fclose(f), 0);
}

static void json_dims(FILE *f, const sc_tensor *t)
{
	fputc('[', f);
	for (int i = 0; i < t->rank; i++)
		fprintf(f, "%s%lld", i ? ", " : "", (long long)t->dims[i]);
	fputc(']', f);
}

typedef struct ortcase {
	const char *name;
	int64_t opset, m, d;
	int labels, classes;
	double scale;
	cfg c;
} ortcase;

static const ortcase ort_cases[] = {
	{"supcon_mean_op17", 17, 16, 8, LAB_CLASSES, 4, 1, {0.1f, 0.07f, 1, "mean"}},
	{"supcon_none_op13", 13, 12, 6, LAB_CLASSES, 3, 1, {0.1f, 0.07f, 1, "none"}},
	{"simclr_op15", 15, 10, 5, LAB_SIMCLR, 0, 1, {0.5f, 0.5f, 1, "mean"}},
	{"mixed_none_op16", 16, 9, 4, LAB_MIXED, 0, 1, {0.2f, 0.07f, 1, "none"}},
	{"mixed_mean_op17", 17, 9, 4, LAB_MIXED, 0, 1, {0.2f, 0.07f, 1, "mean"}},
	{"no_positive_op17", 17, 6, 3, LAB_DISTINCT, 0, 1, {0.1f, 0.07f, 1, "mean"}},
	{"no_positive_none_op14", 14, 6, 3, LAB_DISTINCT, 0, 1, {0.1f, 0.07f, 1, "none"}},
	{"raw_op17", 17, 8, 6, LAB_CLASSES, 2, 0.3, {0.1f, 0.07f, 0, "mean"}},
	{"defaults_op17", 17, 32, 16, LAB_CLASSES, 5, 1, {0, 0, -1, NULL}},
	{"large_op17", 17, 256, 64, LAB_CLASSES, 10, 1, {0.1f, 0.07f, 1, "mean"}},
};

/* Writes ORT_DIR/<name>/{model.onnx, features.bin, labels.bin,
 * expected.bin} (expected: the fused kernel's output) and
 * ORT_DIR/cases.json listing them. */
static void test_write_onnxruntime_cases(void **state)
{
	(void)state;
	mkdir(ORT_DIR, 0755);
	FILE *js = fopen(ORT_DIR "/cases.json", "w");
	assert_non_null(js);
	fprintf(js, "{\"cases\": [\n");
	size_t n = sizeof ort_cases / sizeof ort_cases[0];
	for (size_t k = 0; k < n; k++) {
		const ortcase *oc = &ort_cases[k];
		char dir[512], path[600];
		snprintf(dir, sizeof dir, "%s/%s", ORT_DIR, oc->name);
		mkdir(dir, 0755);
		sc_tensor x = make_features(SC_FLOAT, oc->m, oc->d, oc->scale);
		sc_tensor y = make_labels(oc->m, oc->labels, oc->classes);
		graph_model *mod = loss_model(&oc->c, SC_FLOAT, oc->m, oc->d, oc->opset);
		mod->ir_version = 8;
		/* ONNX Runtime wants the graph's inputs under these names */
		plan *p = plan_of(mod);
		run_xy(p, &x, &y);
		const sc_tensor *out = plan_output(p, 0);
		sc_error err = {0};
		snprintf(path, sizeof path, "%s/model.onnx", dir);
		if (onnx_save_file(mod, path, &err))
			fail_msg("%s", err.msg);
		snprintf(path, sizeof path, "%s/features.bin", dir);
		write_raw(path, &x);
		snprintf(path, sizeof path, "%s/labels.bin", dir);
		write_raw(path, &y);
		snprintf(path, sizeof path, "%s/expected.bin", dir);
		write_raw(path, out);
		fprintf(js, "  {\"name\": \"%s\", \"model\": \"%s/model.onnx\",\n", oc->name, dir);
		fprintf(js, "   \"inputs\": [{\"name\": \"x\", \"type\": \"float32\", \"dims\": ");
		json_dims(js, &x);
		fprintf(js, ", \"file\": \"%s/features.bin\"},\n", dir);
		fprintf(js, "              {\"name\": \"y\", \"type\": \"int64\", \"dims\": ");
		json_dims(js, &y);
		fprintf(js, ", \"file\": \"%s/labels.bin\"}],\n", dir);
		fprintf(js, "   \"expected\": {\"type\": \"float32\", \"dims\": ");
		json_dims(js, out);
		fprintf(js, ", \"file\": \"%s/expected.bin\"},\n", dir);
		fprintf(js, "   \"atol\": %.9g}%s\n", 2 * f32_atol(&oc->c, &x),
			k + 1 < n ? "," : "");
		plan_free(p);
		graph_model_free(mod);
		tensor_free(&x);
		tensor_free(&y);
	}
	fprintf(js, "]}\n");
	assert_int_equal(fclose(js), 0);
}

/* --- bad input ------------------------------------------------------------------------ */

/* Plans and runs a model whose node is `supcon`; returns the status. */
static int try_run(graph_model *mod, const sc_tensor *x, const sc_tensor *y,
		   sc_error *err)
{
	plan_options opt = {.threads = 1};
	plan *p;
	int rc = plan_create(mod, &opt, &p, err);
	if (rc)
		return rc;
	const char *names[2] = {"x", "y"};
	const sc_tensor *ins[2] = {x, y};
	rc = plan_run(p, 2, names, ins, err);
	plan_free(p);
	return rc;
}

static void expect_refused(const cfg *c, int xdtype, const char *xshape,
			   int ydtype, const char *yshape, const char *msg)
{
	graph_model *mod = model(17);
	add_opset(mod, "ai.supcon", 1);
	graph *g = mod->graph;
	input(g, "x", xdtype, xshape);
	input(g, "y", ydtype, yshape);
	supcon_node(g, "x", "y", "L", c);
	output(g, "L");
	int64_t xd[SC_MAX_RANK], yd[SC_MAX_RANK];
	int xr = parse_dims(xshape, xd), yr = parse_dims(yshape, yd);
	sc_tensor x = make(xdtype, xr, xd), y = make(ydtype, yr, yd);
	sc_error err = {0};
	assert_int_equal(try_run(mod, &x, &y, &err), SC_EINVAL);
	if (!strstr(err.msg, "node 'supcon' (SupConLoss)") || !strstr(err.msg, msg))
		fail_msg("message '%s' does not name the node and say '%s'", err.msg, msg);
	graph_model_free(mod);
	tensor_free(&x);
	tensor_free(&y);
}

static void test_bad_input_is_refused_naming_the_node(void **state)
{
	(void)state;
	cfg ok = {0.1f, 0.07f, 1, NULL};
	expect_refused(&ok, SC_FLOAT, "4,3", SC_INT64, "5", "rows");
	expect_refused(&ok, SC_FLOAT, "4,3,2", SC_INT64, "4", "rank 3");
	expect_refused(&ok, SC_FLOAT, "4,3", SC_FLOAT, "4", "labels are float32");
	expect_refused(&ok, SC_INT64, "4,3", SC_INT64, "4", "features are int64");
	cfg zero_t = {-1, 0, 1, NULL};
	expect_refused(&zero_t, SC_FLOAT, "4,3", SC_INT64, "4", "temperature must be");
	cfg bad_bt = {0.1f, -0.5f, 1, NULL};
	expect_refused(&bad_bt, SC_FLOAT, "4,3", SC_INT64, "4", "base_temperature must be");
	cfg bad_norm = {0.1f, 0, 2, NULL};
	expect_refused(&bad_norm, SC_FLOAT, "4,3", SC_INT64, "4", "normalize must be 0 or 1");
	cfg bad_red = {0.1f, 0, 1, "sum"};
	expect_refused(&bad_red, SC_FLOAT, "4,3", SC_INT64, "4", "reduction must be");
}

int main(void)
{
	if (getenv("SUPCON_TEST_SEED"))
		rng = (unsigned)atoi(getenv("SUPCON_TEST_SEED"));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forward_matches_naive_reference),
		cmocka_unit_test(test_forward_large_logits_stay_finite),
		cmocka_unit_test(test_simclr_matches_nt_xent),
		cmocka_unit_test(test_collapsed_features_give_log_m_minus_1),
		cmocka_unit_test(test_no_positive_gives_zero_and_zero_gradient),
		cmocka_unit_test(test_gradients_match_finite_differences),
		cmocka_unit_test(test_gradient_through_a_chain),
		cmocka_unit_test(test_rule_emits_fused_backward),
		cmocka_unit_test(test_matches_supcontrast_golden),
		cmocka_unit_test(test_function_body_matches_fused_kernel),
		cmocka_unit_test(test_saver_attaches_function),
		cmocka_unit_test(test_saved_defaults_reload_as_body),
		cmocka_unit_test(test_write_onnxruntime_cases),
		cmocka_unit_test(test_bad_input_is_refused_naming_the_node),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
