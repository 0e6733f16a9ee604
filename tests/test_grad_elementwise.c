/* test_grad_elementwise.c: gradient rules of the elementwise family
 * (ops/elementwise_grad.c and the ai.supcon backward kernels of
 * ops/elementwise_gradk.c).
 *
 * 1. Central finite differences in float64.  Each case builds f(inputs),
 *    appends the scalar loss sum(f * R) with a fixed random R, takes the
 *    gradient with autodiff_build and compares every element with
 *    (L(x + h) - L(x - h)) / 2h, h = 1e-6, evaluated by the same plan;
 *    |analytic - numeric| <= 1e-6 + 1e-5 |numeric|.  Inputs are drawn away
 *    from the kinks (gaps), where a difference quotient means nothing.
 *    The same for Add, Sub, Mul and Div at opsets 1 and 6, which
 *    broadcast by attribute (broadcast, axis), and for rules whose
 *    constants must broadcast that way there.
 * 2. The kinks themselves, against PyTorch autograd (values below).
 * 3. Dropout in training mode, where the mask changes at every run so
 *    differences do not apply: dX must be R * mask / (1 - ratio) exactly.
 * 4. The float32 kernels on tensors large enough for the threaded path,
 *    against a double reference computed here (relative 1e-5).
 * 5. Cast's gradient crosses dtypes: dX has X's dtype. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model_builder.h"
#include "runtime/autodiff.h"
#include "runtime/infer.h"
#include "runtime/plan.h"

#define MAX_IN 4
#define MAX_GAPS 3

/* A differentiated graph input: float64, drawn from [lo, hi] outside the
 * gaps (closed intervals; {0, 0} ends the list). */
typedef struct gin {
	const char *name, *shape;
	double lo, hi;
	double gap[MAX_GAPS][2];
} gin;

typedef struct gcase {
	const char *name;
	int opset;
	int n_in;
	gin in[MAX_IN];
	void (*build)(graph *g);  /* writes value "f" from the inputs */
} gcase;

static double draw(unsigned *seed, const gin *in)
{
	for (;;) {
		*seed = *seed * 1664525u + 1013904223u;
		double u = (double)(*seed >> 8) / (double)(1u << 24);
		double v = in->lo + (in->hi - in->lo) * u;
		int ok = 1;
		for (int k = 0; k < MAX_GAPS && ok; k++)
			if (in->gap[k][0] < in->gap[k][1])
				ok = v < in->gap[k][0] || v > in->gap[k][1];
		if (ok)
			return v;
	}
}

static double loss_of(plan *p, int n, const char *const *names,
		      const sc_tensor *const *ins)
{
	sc_error err = {0};
	if (plan_run(p, n, names, ins, &err))
		fail_msg("plan_run: %s", err.msg);
	return *(const double *)plan_output(p, 0)->data;
}

static const sc_tensor *output_named(plan *p, const char *name)
{
	for (int o = 0; o < plan_output_count(p); o++)
		if (!strcmp(plan_output_name(p, o), name))
			return plan_output(p, o);
	fail_msg("no output '%s'", name);
	return NULL;
}

/* Dims of value "f" once the case's graph is inferred. */
static int f_shape(const gcase *gc, int64_t *dims)
{
	graph_model *probe = model(gc->opset);
	sc_error err = {0};
	for (int i = 0; i < gc->n_in; i++)
		input(probe->graph, gc->in[i].name, SC_DOUBLE, gc->in[i].shape);
	gc->build(probe->graph);
	int f = output(probe->graph, "f");
	if (graph_infer_shapes(probe, &err))
		fail_msg("%s: inference: %s", gc->name, err.msg);
	const graph_type *ft = &probe->graph->values[f].type;
	assert_true(ft->rank >= 0);
	for (int d = 0; d < ft->rank; d++) {
		assert_true(ft->dims[d].value >= 0);
		dims[d] = ft->dims[d].value;
	}
	int rank = ft->rank;
	graph_model_free(probe);
	return rank;
}

/* Appends L = ReduceSum(f * R) to g, R random with f's shape. */
static void add_weighted_loss(graph *g, int rank, const int64_t *dims,
			      unsigned *seed)
{
	sc_tensor r;
	sc_error err = {0};
	assert_int_equal(tensor_alloc(&r, SC_DOUBLE, rank, dims, "R", &err), SC_OK);
	gin unit = {"R", "", -1, 1, {{0, 0}}};
	for (int64_t k = 0; k < r.numel; k++)
		((double *)r.data)[k] = draw(seed, &unit);
	assert_int_equal(graph_add_init(g, val(g, "R"), &r, &err), SC_OK);
	add(g, "Mul", "weigh", "f,R", "fr");
	attr_int(add(g, "ReduceSum", "loss", "fr", "L"), "keepdims", 0);
	output(g, "L");
}

static void check_case(const gcase *gc)
{
	unsigned seed = 12345;
	int64_t fdims[SC_MAX_RANK];
	int frank = f_shape(gc, fdims);
	graph_model *m = model(gc->opset);
	graph *g = m->graph;
	const char *names[MAX_IN];
	for (int i = 0; i < gc->n_in; i++) {
		names[i] = gc->in[i].name;
		input(g, names[i], SC_DOUBLE, gc->in[i].shape);
	}
	gc->build(g);
	add_weighted_loss(g, frank, fdims, &seed);

	sc_error err = {0};
	int grads[MAX_IN];
	if (autodiff_build(m, "L", gc->n_in, names, grads, &err))
		fail_msg("%s: autodiff: %s", gc->name, err.msg);
	plan *p;
	plan_options opt = {.threads = 1};
	if (plan_create(m, &opt, &p, &err))
		fail_msg("%s: plan: %s", gc->name, err.msg);

	sc_tensor x[MAX_IN];
	const sc_tensor *ins[MAX_IN];
	for (int i = 0; i < gc->n_in; i++) {
		int64_t dims[SC_MAX_RANK];
		int rank = *gc->in[i].shape ? parse_dims(gc->in[i].shape, dims) : 0;
		assert_int_equal(tensor_alloc(&x[i], SC_DOUBLE, rank, dims, "x", &err), SC_OK);
		for (int64_t k = 0; k < x[i].numel; k++)
			((double *)x[i].data)[k] = draw(&seed, &gc->in[i]);
		ins[i] = &x[i];
	}
	loss_of(p, gc->n_in, names, ins);
	double *analytic[MAX_IN];
	for (int i = 0; i < gc->n_in; i++) {
		if (grads[i] < 0)
			fail_msg("%s: no gradient for %s", gc->name, names[i]);
		const sc_tensor *gt = output_named(p, g->values[grads[i]].name);
		assert_int_equal(gt->dtype, SC_DOUBLE);
		assert_int_equal(gt->rank, x[i].rank);
		for (int d = 0; d < gt->rank; d++)
			assert_int_equal(gt->dims[d], x[i].dims[d]);
		analytic[i] = malloc((size_t)gt->numel * sizeof(double));
		assert_non_null(analytic[i]);
		memcpy(analytic[i], gt->data, (size_t)gt->numel * sizeof(double));
	}
	const double h = 1e-6;
	double worst = 0;
	for (int i = 0; i < gc->n_in; i++)
		for (int64_t k = 0; k < x[i].numel; k++) {
			double *xv = &((double *)x[i].data)[k], keep = *xv;
			*xv = keep + h;
			double up = loss_of(p, gc->n_in, names, ins);
			*xv = keep - h;
			double down = loss_of(p, gc->n_in, names, ins);
			*xv = keep;
			double numeric = (up - down) / (2 * h);
			double diff = fabs(analytic[i][k] - numeric);
			if (diff / (1e-6 + fabs(numeric)) > worst)
				worst = diff / (1e-6 + fabs(numeric));
			if (!(diff <= 1e-6 + 1e-5 * fabs(numeric)))
				fail_msg("%s: d/d%s[%lld]: autodiff %.10g, finite differences %.10g",
					 gc->name, names[i], (long long)k,
					 analytic[i][k], numeric);
		}
	print_message("%-34s worst relative error %.2e\n", gc->name, worst);
	for (int i = 0; i < gc->n_in; i++) {
		free(analytic[i]);
		tensor_free(&x[i]);
	}
	plan_free(p);
	graph_model_free(m);
}

/* --- builders -------------------------------------------------------------- */

static void init_doubles(graph *g, const char *name, const char *shape,
			 const double *v)
{
	int64_t dims[SC_MAX_RANK] = {0};
	int rank = *shape ? parse_dims(shape, dims) : 0;
	init_tensor(g, name, SC_DOUBLE, rank, dims, v);
}

static void b_leaky(graph *g) { attr_float(add(g, "LeakyRelu", "op", "a", "f"), "alpha", 0.07f); }
static void b_leaky_default(graph *g) { add(g, "LeakyRelu", "op", "a", "f"); }
static void b_elu(graph *g) { attr_float(add(g, "Elu", "op", "a", "f"), "alpha", 0.6f); }
static void b_selu(graph *g) { add(g, "Selu", "op", "a", "f"); }
static void b_selu_attrs(graph *g)
{
	graph_node *n = add(g, "Selu", "op", "a", "f");
	attr_float(n, "alpha", 1.3f);
	attr_float(n, "gamma", 0.8f);
}
static void b_softplus(graph *g) { add(g, "Softplus", "op", "a", "f"); }
static void b_hardsigmoid(graph *g) { add(g, "HardSigmoid", "op", "a", "f"); }
static void b_hardsigmoid_attrs(graph *g)
{
	graph_node *n = add(g, "HardSigmoid", "op", "a", "f");
	attr_float(n, "alpha", 0.5f);
	attr_float(n, "beta", 0.25f);
}
static void b_relu_sig_tanh(graph *g)
{
	add(g, "Relu", "r", "a", "ra");
	add(g, "Sigmoid", "s", "ra", "sa");
	add(g, "Tanh", "t", "a", "ta");
	add(g, "Add", "op", "sa,ta", "f");
}

static void b_clip6(graph *g)
{
	graph_node *n = add(g, "Clip", "op", "a", "f");
	attr_float(n, "min", -0.5f);
	attr_float(n, "max", 0.75f);
}
static void b_clip6_default(graph *g) { add(g, "Clip", "op", "a", "f"); }
static void b_clip11_const(graph *g)
{
	double lo = -0.5, hi = 0.75;
	init_doubles(g, "lo", "", &lo);
	init_doubles(g, "hi", "", &hi);
	add(g, "Clip", "op", "a,lo,hi", "f");
}
static void b_clip11_max_only(graph *g)
{
	double hi = 0.75;
	init_doubles(g, "hi", "", &hi);
	add(g, "Clip", "op", "a,,hi", "f");
}
/* bounds are differentiated inputs too */
static void b_clip11_bounds(graph *g) { add(g, "Clip", "op", "a,lo,hi", "f"); }
static void b_clip11_min_only(graph *g) { add(g, "Clip", "op", "a,lo", "f"); }

static void b_pow(graph *g) { add(g, "Pow", "op", "a,b", "f"); }
/* negative bases with whole exponents: only dA exists */
static void b_pow_whole(graph *g)
{
	double e[3] = {2, 3, -1};
	init_doubles(g, "e", "3", e);
	add(g, "Pow", "op", "a,e", "f");
}
/* opset 12+: an int64 exponent */
static void b_pow_int(graph *g)
{
	int64_t e[3] = {2, 3, -2}, dims[1] = {3};
	init_tensor(g, "e", SC_INT64, 1, dims, e);
	add(g, "Pow", "op", "a,e", "f");
}

static void b_max2(graph *g) { add(g, "Max", "op", "a,b", "f"); }
static void b_min2(graph *g) { add(g, "Min", "op", "a,b", "f"); }
static void b_max3(graph *g) { add(g, "Max", "op", "a,b,c", "f"); }
static void b_min3(graph *g) { add(g, "Min", "op", "a,b,c", "f"); }
static void b_max1(graph *g) { add(g, "Max", "op", "a", "f"); }
/* a constant operand: only a and b carry gradients */
static void b_max_const(graph *g)
{
	double z = 0;
	init_doubles(g, "zero", "", &z);
	add(g, "Max", "op", "a,zero,b", "f");
}
static void b_sum3(graph *g) { add(g, "Sum", "op", "a,b,c", "f"); }
static void b_sum1(graph *g) { add(g, "Sum", "op", "a", "f"); }
static void b_mean3(graph *g) { add(g, "Mean", "op", "a,b,c", "f"); }
static void b_mean2(graph *g) { add(g, "Mean", "op", "a,b", "f"); }
/* a used twice: Max(a, a) is a, and so is Sum(a, a) / 2 */
static void b_max_self(graph *g) { add(g, "Max", "op", "a,a", "f"); }

static void where_cond(graph *g, const char *shape)
{
	int64_t dims[SC_MAX_RANK];
	int rank = parse_dims(shape, dims);
	uint8_t c[64];
	int64_t n = 1;
	for (int d = 0; d < rank; d++)
		n *= dims[d];
	assert_true(n <= 64);
	for (int64_t i = 0; i < n; i++)
		c[i] = (uint8_t)((i * 7 + 3) % 5 < 2);
	init_tensor(g, "c", SC_BOOL, rank, dims, c);
}
static void b_where(graph *g)
{
	where_cond(g, "3,4");
	add(g, "Where", "op", "c,a,b", "f");
}
static void b_where_bcast(graph *g)
{
	where_cond(g, "2,1,4");
	add(g, "Where", "op", "c,a,b", "f");
}

static void b_dropout_inference(graph *g)
{
	add(g, "Dropout", "op", "a", "f");
}
static void b_dropout12_false(graph *g)
{
	double r = 0.3;
	uint8_t t = 0;
	init_doubles(g, "ratio", "", &r);
	init_tensor(g, "train", SC_BOOL, 0, NULL, &t);
	add(g, "Dropout", "op", "a,ratio,train", "f,mask");
}
static void b_dropout7(graph *g)
{
	attr_float(add(g, "Dropout", "op", "a", "f,mask"), "ratio", 0.4f);
}

static void b_cast_double(graph *g) { attr_int(add(g, "Cast", "op", "a", "f"), "to", SC_DOUBLE); }
static void b_castlike_double(graph *g)
{
	double t = 0;
	init_doubles(g, "like", "", &t);
	add(g, "CastLike", "op", "a,like", "f");
}

/* a chain through several rules: Clip(Max(a, b) ^ 2, lo) * Softplus(a) */
static void b_chain(graph *g)
{
	double two = 2, lo = 0.5;
	init_doubles(g, "two", "", &two);
	init_doubles(g, "lo", "", &lo);
	add(g, "Max", "mx", "a,b", "m");
	add(g, "Pow", "sq", "m,two", "m2");
	add(g, "Clip", "cl", "m2,lo", "c");
	add(g, "Softplus", "sp", "a", "s");
	add(g, "Mul", "op", "c,s", "f");
}

#define KINK(k) {(k) - 1e-3, (k) + 1e-3}
#define NO_GAP {{0, 0}}

static const gcase cases[] = {
	{"LeakyRelu alpha=0.07", 13, 1, {{"a", "3,4", -2, 2, {KINK(0)}}}, b_leaky},
	{"LeakyRelu default", 7, 1, {{"a", "2,3", -2, 2, {KINK(0)}}}, b_leaky_default},
	{"Elu alpha=0.6", 13, 1, {{"a", "3,4", -3, 2, {KINK(0)}}}, b_elu},
	{"Selu default", 13, 1, {{"a", "3,4", -3, 2, {KINK(0)}}}, b_selu},
	{"Selu alpha,gamma", 8, 1, {{"a", "5", -3, 2, {KINK(0)}}}, b_selu_attrs},
	{"Softplus", 13, 1, {{"a", "3,4", -6, 6, NO_GAP}}, b_softplus},
	{"HardSigmoid default", 13, 1,
	 {{"a", "4,4", -4, 4, {KINK(-2.5), KINK(2.5)}}}, b_hardsigmoid},
	{"HardSigmoid alpha,beta", 13, 1,
	 {{"a", "4,4", -3, 3, {KINK(-0.5), KINK(1.5)}}}, b_hardsigmoid_attrs},
	{"Relu, Sigmoid, Tanh", 17, 1, {{"a", "2,3,2", -3, 3, {KINK(0)}}},
	 b_relu_sig_tanh},
	{"Clip 6 attributes", 10, 1,
	 {{"a", "3,4", -2, 2, {KINK(-0.5), KINK(0.75)}}}, b_clip6},
	{"Clip 6 no bounds", 7, 1, {{"a", "3", -2, 2, NO_GAP}}, b_clip6_default},
	{"Clip 11 constant bounds", 11, 1,
	 {{"a", "3,4", -2, 2, {KINK(-0.5), KINK(0.75)}}}, b_clip11_const},
	{"Clip 13 max only", 13, 1,
	 {{"a", "2,5", -2, 2, {KINK(0.75)}}}, b_clip11_max_only},
	{"Clip 13 d/dX, d/dmin, d/dmax", 13, 3,
	 {{"a", "3,4", -2, 2, {{-0.65, -0.35}, {0.35, 0.65}}},
	  {"lo", "", -0.6, -0.4, NO_GAP}, {"hi", "", 0.4, 0.6, NO_GAP}},
	 b_clip11_bounds},
	{"Clip 12 min > max", 12, 3,
	 {{"a", "4", -2, 2, {{-0.65, -0.35}, {0.35, 0.65}}},
	  {"lo", "", 0.4, 0.6, NO_GAP}, {"hi", "", -0.6, -0.4, NO_GAP}},
	 b_clip11_bounds},
	{"Clip 17 rank-1 min only", 17, 2,
	 {{"a", "2,3", -2, 2, {{-0.65, -0.35}}}, {"lo", "1", -0.6, -0.4, NO_GAP}},
	 b_clip11_min_only},
	{"Pow", 13, 2, {{"a", "3,4", 0.3, 2, NO_GAP}, {"b", "3,4", -2, 3, NO_GAP}}, b_pow},
	{"Pow broadcast", 7, 2, {{"a", "2,3,1", 0.3, 2, NO_GAP}, {"b", "4", -2, 3, NO_GAP}}, b_pow},
	{"Pow broadcast base", 15, 2, {{"a", "3", 0.3, 2, NO_GAP}, {"b", "2,1,3", -2, 3, NO_GAP}}, b_pow},
	{"Pow negative base", 13, 1, {{"a", "2,3", -2, -0.3, NO_GAP}}, b_pow_whole},
	{"Pow int64 exponent", 13, 1, {{"a", "4,3", -2, 2, {KINK(0)}}}, b_pow_int},
	{"Max 2", 8, 2, {{"a", "3,4", -2, 2, NO_GAP}, {"b", "3,4", -2, 2, NO_GAP}}, b_max2},
	{"Min 2 broadcast", 13, 2, {{"a", "2,3,4", -2, 2, NO_GAP}, {"b", "3,1", -2, 2, NO_GAP}}, b_min2},
	{"Max 3 broadcast", 13, 3,
	 {{"a", "2,1,3", -2, 2, NO_GAP}, {"b", "4,1", -2, 2, NO_GAP}, {"c", "3", -2, 2, NO_GAP}},
	 b_max3},
	{"Min 3 equal shapes (opset 7)", 7, 3,
	 {{"a", "5", -2, 2, NO_GAP}, {"b", "5", -2, 2, NO_GAP}, {"c", "5", -2, 2, NO_GAP}},
	 b_min3},
	{"Max 1", 13, 1, {{"a", "3", -2, 2, NO_GAP}}, b_max1},
	{"Max with a constant", 13, 2,
	 {{"a", "2,3", -2, 2, {KINK(0)}}, {"b", "3", -2, 2, {KINK(0)}}}, b_max_const},
	{"Max(a, a)", 13, 1, {{"a", "4", -2, 2, NO_GAP}}, b_max_self},
	{"Sum 3 broadcast", 13, 3,
	 {{"a", "2,3,4", -2, 2, NO_GAP}, {"b", "4", -2, 2, NO_GAP}, {"c", "3,1", -2, 2, NO_GAP}},
	 b_sum3},
	{"Sum 1", 8, 1, {{"a", "2,2", -2, 2, NO_GAP}}, b_sum1},
	{"Mean 3 broadcast", 13, 3,
	 {{"a", "2,3,4", -2, 2, NO_GAP}, {"b", "1,4", -2, 2, NO_GAP}, {"c", "3,1", -2, 2, NO_GAP}},
	 b_mean3},
	{"Mean 2 (opset 7)", 7, 2, {{"a", "3", -2, 2, NO_GAP}, {"b", "3", -2, 2, NO_GAP}}, b_mean2},
	{"Where", 9, 2, {{"a", "3,4", -2, 2, NO_GAP}, {"b", "3,4", -2, 2, NO_GAP}}, b_where},
	{"Where broadcast", 16, 2, {{"a", "3,1", -2, 2, NO_GAP}, {"b", "4", -2, 2, NO_GAP}}, b_where_bcast},
	{"Dropout 13 inference", 13, 1, {{"a", "3,4", -2, 2, NO_GAP}}, b_dropout_inference},
	{"Dropout 12 training_mode false", 12, 1, {{"a", "3,4", -2, 2, NO_GAP}}, b_dropout12_false},
	{"Dropout 7 with mask", 7, 1, {{"a", "3", -2, 2, NO_GAP}}, b_dropout7},
	{"Cast double to double", 13, 1, {{"a", "3", -2, 2, NO_GAP}}, b_cast_double},
	{"CastLike double", 15, 1, {{"a", "3", -2, 2, NO_GAP}}, b_castlike_double},
	{"chain Max, Pow, Clip, Softplus", 13, 2,
	 {{"a", "3,4", -2, 2, NO_GAP}, {"b", "4", -2, 2, NO_GAP}}, b_chain},
};

static void test_finite_differences(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		check_case(&cases[i]);
}

/* --- opsets 1-6: one-way broadcasting by attribute --------------------------
 *
 * Add, Sub, Mul and Div before opset 7 broadcast B to A only, and only
 * with broadcast = 1: B's dims line up with A's from `axis` (default: A's
 * last dims), and size-1 dims of B inside that window repeat too.  B's
 * gradient is summed over the axes outside the window and over its own
 * size-1 dims.  libonnx-testdata has no gradients at these opsets, so the
 * finite differences are the reference. */

/* f = A op B with broadcast = 1 and `axis` (< 0: the attribute is left
 * out, so B aligns with A's last dims) */
#define LEGACY_BCAST(fn, op, axis) \
	static void fn(graph *g) \
	{ \
		graph_node *n = add(g, op, "op", "a,b", "f"); \
		attr_int(n, "broadcast", 1); \
		if ((axis) >= 0) \
			attr_int(n, "axis", (axis)); \
	}
#define LEGACY_OP(op, sfx) \
	LEGACY_BCAST(b_##sfx##_trailing, op, -1) \
	LEGACY_BCAST(b_##sfx##_axis0, op, 0) \
	LEGACY_BCAST(b_##sfx##_axis1, op, 1) \
	LEGACY_BCAST(b_##sfx##_axis2, op, 2) \
	LEGACY_BCAST(b_##sfx##_axis3, op, 3) \
	static void b_##sfx##_same(graph *g) { add(g, op, "op", "a,b", "f"); }
LEGACY_OP("Add", add)
LEGACY_OP("Sub", sub)
LEGACY_OP("Mul", mul)
LEGACY_OP("Div", div)

static void b_sqrt(graph *g) { add(g, "Sqrt", "op", "a", "f"); }
static void b_abs(graph *g) { add(g, "Abs", "op", "a", "f"); }

/* B reaches the loss twice, through the broadcast and directly, and A
 * through Mul and Add: f = (A + B) * A, with B summed into a second
 * output term */
static void b_legacy_chain(graph *g)
{
	graph_node *n = add(g, "Add", "ab", "a,b", "s");
	attr_int(n, "broadcast", 1);
	attr_int(n, "axis", 1);
	add(g, "Mul", "sa", "s,a", "p");
	n = add(g, "Div", "op", "p,b", "f");
	attr_int(n, "broadcast", 1);
	attr_int(n, "axis", 1);
}

#define A4 {"a", "2,3,4,5", -2, 2, NO_GAP}
/* B away from 0, for Div */
#define B(shape) {"b", shape, 0.5, 2, NO_GAP}
#define LEGACY_CASES(op, sfx) \
	{op " 6 broadcast, B [4,5] at the end", 6, 2, {A4, B("4,5")}, b_##sfx##_trailing}, \
	{op " 1 broadcast, B [5] at the end", 1, 2, {A4, B("5")}, b_##sfx##_trailing}, \
	{op " 6 broadcast, B scalar", 6, 2, {A4, B("")}, b_##sfx##_trailing}, \
	{op " 6 broadcast axis 0, B [2]", 6, 2, {A4, B("2")}, b_##sfx##_axis0}, \
	{op " 1 broadcast axis 1, B [3,4]", 1, 2, {A4, B("3,4")}, b_##sfx##_axis1}, \
	{op " 6 broadcast axis 1, B [3,1,5]", 6, 2, {A4, B("3,1,5")}, b_##sfx##_axis1}, \
	{op " 6 broadcast axis 2, B [1,5]", 6, 2, {A4, B("1,5")}, b_##sfx##_axis2}, \
	{op " 6 broadcast axis 2, B [4]", 6, 2, {A4, B("4")}, b_##sfx##_axis2}, \
	{op " 6 broadcast axis 3, B [5]", 6, 2, {A4, B("5")}, b_##sfx##_axis3}, \
	{op " 6 broadcast axis 0, B of A's shape", 6, 2, {A4, B("2,3,4,5")}, b_##sfx##_axis0}, \
	{op " 6 no broadcast", 6, 2, {A4, B("2,3,4,5")}, b_##sfx##_same}, \
	{op " 1 no broadcast", 1, 2, {{"a", "3,2", -2, 2, NO_GAP}, B("3,2")}, b_##sfx##_same}

static const gcase legacy_cases[] = {
	LEGACY_CASES("Add", add),
	LEGACY_CASES("Sub", sub),
	LEGACY_CASES("Mul", mul),
	LEGACY_CASES("Div", div),
	{"chain (A + B) * A / B, axis 1", 6, 2, {A4, B("3,4")}, b_legacy_chain},
	/* other rules' constants must broadcast by attribute here too */
	{"Sqrt 6", 6, 1, {{"a", "3,4", 0.5, 2, NO_GAP}}, b_sqrt},
	{"Abs 6", 6, 1, {{"a", "3,4", -2, 2, {KINK(0)}}}, b_abs},
	{"Abs 8", 8, 1, {{"a", "3,4", -2, 2, {KINK(0)}}}, b_abs},
	{"Mean 6", 6, 3, {{"a", "2,3", -2, 2, NO_GAP}, {"b", "2,3", -2, 2, NO_GAP},
			  {"c", "2,3", -2, 2, NO_GAP}}, b_mean3},
};

static void test_legacy_broadcast(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof legacy_cases / sizeof legacy_cases[0]; i++)
		check_case(&legacy_cases[i]);
}

/* --- kinks, against PyTorch ------------------------------------------------
 *
 * The expected values come from /usr/bin/python3 with torch 1.13, in
 * float64, with backward(ones):
 *   torch.maximum(a, b), a = [1, 2, 3], b = [1, 1, 4]
 *       -> [0.5, 1, 0], [0.5, 0, 1]; torch.minimum -> [0.5, 0, 1], [0.5, 1, 0]
 *   torch.stack([a, b, c]).amax(0), a = b = c = [1] -> 1/3 each
 *   torch.clamp(x, lo, hi), x = [-1, 1, 0, 2, -2], lo = -1, hi = 1 (tensors)
 *       -> [1, 1, 1, 0, 0], dlo = 1, dhi = 1; lo = 1, hi = -1
 *       -> [0, 0, 0, 0, 0], dlo = 0, dhi = 5
 *   F.leaky_relu(x, 0.1), x = [0, -1, 1] -> [0.1, 0.1, 1]
 *   F.elu(x, 0.5)  -> [0.5, 0.18394, 1]      F.selu(x) -> [1.7581, 0.6468, 1.0507]
 *   F.hardsigmoid(x), x = [-3, 3, 0, -4] -> [0, 0, 1/6, 0]
 *   torch.relu(x), x = [0, -1, 1] -> [0, 0, 1]
 *   torch.pow(a, b), a = [0, 0, -2, 2, 0], b = [0, 2, 2, 0.5, -1]
 *       -> da = [0, 0, -4, 0.35355, -inf], db = [0, 0, nan, 0.98025, -inf]
 *   F.softplus(x), x = [0, 30, -30] -> [0.5, 1, 9.3576e-14] */

typedef struct kink_in {
	const char *name;
	int n;             /* elements; 0: a scalar */
	double v[8];
} kink_in;

/* Builds f from the given inputs, L = sum(f), and checks each gradient
 * against want[i] (NaN must meet NaN, infinities must be equal). */
static void check_kink(const char *what, int opset, int n_in,
		       const kink_in *in, void (*build)(graph *g),
		       const double want[][8])
{
	graph_model *m = model(opset);
	graph *g = m->graph;
	const char *names[MAX_IN];
	sc_tensor x[MAX_IN];
	const sc_tensor *ins[MAX_IN];
	sc_error err = {0};
	for (int i = 0; i < n_in; i++) {
		char shape[16] = "";
		if (in[i].n)
			snprintf(shape, sizeof shape, "%d", in[i].n);
		names[i] = in[i].name;
		input(g, names[i], SC_DOUBLE, shape);
		int64_t dims[1] = {in[i].n};
		assert_int_equal(tensor_alloc(&x[i], SC_DOUBLE, in[i].n ? 1 : 0, dims,
					      "x", &err), SC_OK);
		memcpy(x[i].data, in[i].v, x[i].nbytes);
		ins[i] = &x[i];
	}
	build(g);
	attr_int(add(g, "ReduceSum", "loss", "f", "L"), "keepdims", 0);
	output(g, "L");
	int grads[MAX_IN];
	if (autodiff_build(m, "L", n_in, names, grads, &err))
		fail_msg("%s: autodiff: %s", what, err.msg);
	plan *p;
	plan_options opt = {.threads = 1};
	if (plan_create(m, &opt, &p, &err))
		fail_msg("%s: plan: %s", what, err.msg);
	if (plan_run(p, n_in, names, ins, &err))
		fail_msg("%s: run: %s", what, err.msg);
	for (int i = 0; i < n_in; i++) {
		assert_true(grads[i] >= 0);
		const sc_tensor *gt = output_named(p, g->values[grads[i]].name);
		assert_int_equal(gt->numel, x[i].numel);
		for (int64_t k = 0; k < gt->numel; k++) {
			double got = ((const double *)gt->data)[k], w = want[i][k];
			int ok = isnan(w) ? isnan(got) : isinf(w) ? got == w :
				 fabs(got - w) <= 1e-9 + 1e-4 * fabs(w);
			if (!ok)
				fail_msg("%s: d/d%s[%lld] is %.9g, PyTorch gives %.9g",
					 what, names[i], (long long)k, got, w);
		}
	}
	for (int i = 0; i < n_in; i++)
		tensor_free(&x[i]);
	plan_free(p);
	graph_model_free(m);
}

static void b_leaky01(graph *g) { attr_float(add(g, "LeakyRelu", "op", "a", "f"), "alpha", 0.1f); }
static void b_elu05(graph *g) { attr_float(add(g, "Elu", "op", "a", "f"), "alpha", 0.5f); }
static void b_relu(graph *g) { add(g, "Relu", "op", "a", "f"); }
static void b_hardsigmoid_torch(graph *g)
{
	graph_node *n = add(g, "HardSigmoid", "op", "a", "f");
	attr_float(n, "alpha", 1.0f / 6);
	attr_float(n, "beta", 0.5f);
}
static void b_hardsigmoid_quarter(graph *g)
{
	graph_node *n = add(g, "HardSigmoid", "op", "a", "f");
	attr_float(n, "alpha", 0.25f);
	attr_float(n, "beta", 0.5f);
}
static void b_clip_abc(graph *g) { add(g, "Clip", "op", "a,b,c", "f"); }

static void test_kinks_follow_pytorch(void **state)
{
	(void)state;
	kink_in ab[2] = {{"a", 3, {1, 2, 3}}, {"b", 3, {1, 1, 4}}};
	const double max2[2][8] = {{0.5, 1, 0}, {0.5, 0, 1}};
	check_kink("Max tie", 13, 2, ab, b_max2, max2);
	const double min2[2][8] = {{0.5, 0, 1}, {0.5, 1, 0}};
	check_kink("Min tie", 13, 2, ab, b_min2, min2);
	kink_in abc[3] = {{"a", 1, {1}}, {"b", 1, {1}}, {"c", 1, {1}}};
	const double third[3][8] = {{1.0 / 3}, {1.0 / 3}, {1.0 / 3}};
	check_kink("Max 3-way tie", 13, 3, abc, b_max3, third);
	check_kink("Min 3-way tie", 8, 3, abc, b_min3, third);

	kink_in clip[3] = {{"a", 5, {-1, 1, 0, 2, -2}}, {"b", 0, {-1}}, {"c", 0, {1}}};
	const double clip_want[3][8] = {{1, 1, 1, 0, 0}, {1}, {1}};
	check_kink("Clip at its bounds", 13, 3, clip, b_clip_abc, clip_want);
	kink_in clip_rev[3] = {{"a", 5, {-1, 1, 0, 2, -2}}, {"b", 0, {1}}, {"c", 0, {-1}}};
	const double clip_rev_want[3][8] = {{0, 0, 0, 0, 0}, {0}, {5}};
	check_kink("Clip min > max", 13, 3, clip_rev, b_clip_abc, clip_rev_want);

	kink_in x3[1] = {{"a", 3, {0, -1, 1}}};
	const double leaky[1][8] = {{0.1, 0.1, 1}};
	check_kink("LeakyRelu at 0", 13, 1, x3, b_leaky01, leaky);
	const double elu[1][8] = {{0.5, 0.5 * exp(-1.0), 1}};
	check_kink("Elu at 0", 13, 1, x3, b_elu05, elu);
	const double selu[1][8] = {{1.7580993408473766, 0.6467686350205639, 1.0507009873554805}};
	check_kink("Selu at 0", 13, 1, x3, b_selu, selu);
	const double relu[1][8] = {{0, 0, 1}};
	check_kink("Relu at 0", 13, 1, x3, b_relu, relu);
	kink_in hs[1] = {{"a", 4, {-3, 3, 0, -4}}};
	const double hs_want[1][8] = {{0, 0, 1.0 / 6, 0}};
	check_kink("HardSigmoid at its corners", 13, 1, hs, b_hardsigmoid_torch, hs_want);
	/* corners hit exactly: still saturated, as torch's (-3 < x < 3) */
	kink_in hs2[1] = {{"a", 3, {-2, 2, 0}}};
	const double hs2_want[1][8] = {{0, 0, 0.25}};
	check_kink("HardSigmoid exact corners", 13, 1, hs2, b_hardsigmoid_quarter, hs2_want);
	kink_in sp[1] = {{"a", 3, {0, 30, -30}}};
	const double sp_want[1][8] = {{0.5, 1, 9.357622968840175e-14}};
	check_kink("Softplus far out", 13, 1, sp, b_softplus, sp_want);

	kink_in pw[2] = {{"a", 5, {0, 0, -2, 2, 0}}, {"b", 5, {0, 2, 2, 0.5, -1}}};
	const double pw_want[2][8] = {
		{0, 0, -4, 0.3535533905932738, -INFINITY},
		{0, 0, NAN, 0.9802581434685472, -INFINITY},
	};
	check_kink("Pow at 0 and below", 13, 2, pw, b_pow, pw_want);
}

/* --- Dropout in training mode ------------------------------------------------ */

static double get(const sc_tensor *t, int64_t i)
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

/* L = sum(Dropout(x, 0.25, train) * R) in dtype; with_mask also lists the
 * mask as the node's second output (otherwise the rule adds it). */
static graph_model *dropout_model(int dtype, int with_mask, int train_is_input,
				  int64_t n)
{
	graph_model *m = model(13);
	graph *g = m->graph;
	char shape[32];
	snprintf(shape, sizeof shape, "%lld", (long long)n);
	input(g, "x", dtype, shape);
	sc_tensor ratio, r;
	sc_error err = {0};
	int64_t dims[1] = {n};
	assert_int_equal(tensor_alloc(&ratio, dtype, 0, NULL, "ratio", &err), SC_OK);
	put(&ratio, 0, 0.25);
	assert_int_equal(graph_add_init(g, val(g, "ratio"), &ratio, &err), SC_OK);
	if (train_is_input) {
		input(g, "train", SC_BOOL, "");
	} else {
		uint8_t t = 1;
		init_tensor(g, "train", SC_BOOL, 0, NULL, &t);
	}
	graph_node *d = add(g, "Dropout", "drop", "x,ratio,train",
			    with_mask ? "y,m" : "y");
	attr_int(d, "seed", 7);
	output(g, "y");
	if (with_mask)
		output(g, "m");
	assert_int_equal(tensor_alloc(&r, dtype, 1, dims, "R", &err), SC_OK);
	for (int64_t i = 0; i < n; i++)
		put(&r, i, 0.5 + (double)(i % 7));
	assert_int_equal(graph_add_init(g, val(g, "R"), &r, &err), SC_OK);
	add(g, "Mul", "weigh", "y,R", "yr");
	attr_int(add(g, "ReduceSum", "loss", "yr", "L"), "keepdims", 0);
	output(g, "L");
	/* L is an output but not the first one: name it */
	const char *wrt[1] = {"x"};
	int grads[1];
	if (autodiff_build(m, "L", 1, wrt, grads, &err))
		fail_msg("dropout autodiff: %s", err.msg);
	assert_true(grads[0] >= 0);
	return m;
}

/* Runs the plan and checks dx = R * keep / (1 - 0.25) where keep comes from
 * Y (x is never 0) and agrees with the mask output when there is one.
 * Returns how many were kept; keep_sig gets a signature of the mask. */
static int64_t check_dropout_run(plan *p, int with_mask, int training,
				 const sc_tensor *x, const sc_tensor *train,
				 uint64_t *keep_sig)
{
	sc_error err = {0};
	const char *names[2] = {"x", "train"};
	const sc_tensor *ins[2] = {x, train};
	if (plan_run(p, train ? 2 : 1, names, ins, &err))
		fail_msg("dropout run: %s", err.msg);
	const sc_tensor *y = output_named(p, "y");
	const sc_tensor *dx = output_named(p, "x_grad");
	const sc_tensor *m = with_mask ? output_named(p, "m") : NULL;
	assert_int_equal(dx->dtype, x->dtype);
	assert_int_equal(dx->numel, x->numel);
	int64_t kept = 0;
	uint64_t sig = 1469598103934665603u;
	double tol = x->dtype == SC_FLOAT ? 1e-6 : 1e-14;
	for (int64_t i = 0; i < x->numel; i++) {
		int keep = get(y, i) != 0;
		if (m)
			assert_int_equal(((const uint8_t *)m->data)[i], keep);
		kept += keep;
		sig = (sig ^ (uint64_t)keep) * 1099511628211u;
		double r = 0.5 + (double)(i % 7);
		double want = training ? (keep ? r / 0.75 : 0) : r;
		double got = get(dx, i);
		if (fabs(got - want) > tol * fabs(want))
			fail_msg("dropout element %lld: dx %.17g, expected %.17g (kept %d)",
				 (long long)i, got, want, keep);
	}
	if (keep_sig)
		*keep_sig = sig;
	return kept;
}

static void test_dropout_training(void **state)
{
	(void)state;
	/* float32 takes the kernel's own loop, threaded from 32768 elements */
	static const int dtypes[2] = {SC_DOUBLE, SC_FLOAT};
	static const int64_t sizes[2] = {4000, 40000};
	sc_error err = {0};
	for (int k = 0; k < 2; k++) {
		int64_t n = sizes[k];
		sc_tensor x;
		int64_t dims[1] = {n};
		assert_int_equal(tensor_alloc(&x, dtypes[k], 1, dims, "x", &err), SC_OK);
		for (int64_t i = 0; i < n; i++)
			put(&x, i, 1.0 + (double)(i % 13) * 0.25);
		for (int with_mask = 0; with_mask <= 1; with_mask++) {
			graph_model *m = dropout_model(dtypes[k], with_mask, 0, n);
			/* without a mask output, the rule gave the node one */
			int mv = graph_find_value(m->graph, with_mask ? "m" : "y_mask");
			assert_true(mv >= 0);
			int drop = m->graph->values[mv].producer;
			assert_true(drop >= 0);
			assert_string_equal(m->graph->nodes[drop].op_type, "Dropout");
			assert_int_equal(m->graph->nodes[drop].n_outputs, 2);
			plan *p;
			plan_options opt = {.threads = 2};
			if (plan_create(m, &opt, &p, &err))
				fail_msg("plan: %s", err.msg);
			/* two runs: the mask is redrawn and the gradient follows */
			uint64_t sig[2];
			for (int run = 0; run < 2; run++) {
				int64_t kept = check_dropout_run(p, with_mask, 1, &x,
								 NULL, &sig[run]);
				assert_true(kept > n * 0.7 && kept < n * 0.8);
			}
			assert_true(sig[0] != sig[1]);
			plan_free(p);
			graph_model_free(m);
		}
		/* training_mode decided at run time */
		graph_model *m = dropout_model(dtypes[k], 0, 1, n);
		plan *p;
		plan_options opt = {.threads = 1};
		if (plan_create(m, &opt, &p, &err))
			fail_msg("plan: %s", err.msg);
		sc_tensor t;
		assert_int_equal(tensor_alloc(&t, SC_BOOL, 0, NULL, "train", &err), SC_OK);
		*(uint8_t *)t.data = 0;
		assert_int_equal(check_dropout_run(p, 0, 0, &x, &t, NULL), n);
		*(uint8_t *)t.data = 1;
		assert_true(check_dropout_run(p, 0, 1, &x, &t, NULL) < n);
		tensor_free(&t);
		plan_free(p);
		graph_model_free(m);
		tensor_free(&x);
	}
}

/* --- float32 kernels on large tensors ------------------------------------- */

/* The derivative of each activation, in double, from x and the
 * attributes the case sets (a = alpha, b = beta, c = gamma). */
typedef struct act_param {
	double a, b, c;
} act_param;

typedef struct act32 {
	const char *op;
	float alpha, beta, gamma;   /* 0: not set */
	double lo, hi;
	double (*deriv)(double x, act_param p);
} act32;

static double sigm(double x) { return 1 / (1 + exp(-x)); }
static double d_relu(double x, act_param p) { (void)p; return x > 0; }
static double d_leaky(double x, act_param p) { return x > 0 ? 1 : p.a; }
static double d_sigmoid(double x, act_param p) { (void)p; return sigm(x) * (1 - sigm(x)); }
static double d_tanh(double x, act_param p) { (void)p; return 1 - tanh(x) * tanh(x); }
static double d_elu(double x, act_param p) { return x > 0 ? 1 : p.a * exp(x); }
static double d_selu(double x, act_param p) { return x > 0 ? p.c : p.c * p.a * exp(x); }
static double d_softplus(double x, act_param p) { (void)p; return sigm(x); }
static double d_clip(double x, act_param p) { return x >= p.a && x <= p.b; }
static double d_hardsigmoid(double x, act_param p)
{
	double v = p.a * x + p.b;
	return v > 0 && v < 1 ? p.a : 0;
}

static void test_float32_large(void **state)
{
	(void)state;
	static const act32 acts[] = {
		{"Relu", 0, 0, 0, -2, 2, d_relu},
		{"LeakyRelu", 0.2f, 0, 0, -2, 2, d_leaky},
		{"Sigmoid", 0, 0, 0, -6, 6, d_sigmoid},
		{"Tanh", 0, 0, 0, -3, 3, d_tanh},
		{"Elu", 0.7f, 0, 0, -3, 2, d_elu},
		{"Selu", 1.5f, 0, 1.2f, -3, 2, d_selu},
		{"Softplus", 0, 0, 0, -8, 8, d_softplus},
		{"HardSigmoid", 0.3f, 0.4f, 0, -4, 4, d_hardsigmoid},
		{"Clip", -0.5f, 0.75f, 0, -2, 2, d_clip},
	};
	const int64_t n = 100003;   /* above BCAST_PARALLEL_MIN, odd */
	for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++) {
		const act32 *op = &acts[a];
		int clip = !strcmp(op->op, "Clip");
		graph_model *m = model(13);
		graph *g = m->graph;
		input(g, "x", SC_FLOAT, "100003");
		graph_node *node;
		if (clip) {
			init_tensor(g, "lo", SC_FLOAT, 0, NULL, &op->alpha);
			init_tensor(g, "hi", SC_FLOAT, 0, NULL, &op->beta);
			node = add(g, "Clip", "op", "x,lo,hi", "y");
		} else {
			node = add(g, op->op, "op", "x", "y");
			if (op->alpha)
				attr_float(node, "alpha", op->alpha);
			if (op->beta)
				attr_float(node, "beta", op->beta);
			if (op->gamma)
				attr_float(node, "gamma", op->gamma);
		}
		sc_tensor r, x;
		sc_error err = {0};
		int64_t dims[1] = {n};
		assert_int_equal(tensor_alloc(&r, SC_FLOAT, 1, dims, "R", &err), SC_OK);
		assert_int_equal(tensor_alloc(&x, SC_FLOAT, 1, dims, "x", &err), SC_OK);
		unsigned seed = 99;
		gin range = {"x", "", op->lo, op->hi, NO_GAP};
		gin unit = {"R", "", -1, 1, NO_GAP};
		for (int64_t i = 0; i < n; i++) {
			((float *)x.data)[i] = (float)draw(&seed, &range);
			((float *)r.data)[i] = (float)draw(&seed, &unit);
		}
		((float *)x.data)[0] = 0;   /* the kinks, as the kernels see them */
		if (clip) {
			((float *)x.data)[1] = op->alpha;
			((float *)x.data)[2] = op->beta;
		}
		assert_int_equal(graph_add_init(g, val(g, "R"), &r, &err), SC_OK);
		add(g, "Mul", "weigh", "y,R", "yr");
		attr_int(add(g, "ReduceSum", "loss", "yr", "L"), "keepdims", 0);
		output(g, "L");
		const char *wrt[1] = {"x"};
		int grads[1];
		if (autodiff_build(m, "L", 1, wrt, grads, &err))
			fail_msg("%s: autodiff: %s", op->op, err.msg);
		plan *p;
		plan_options opt = {.threads = 2};
		if (plan_create(m, &opt, &p, &err))
			fail_msg("%s: plan: %s", op->op, err.msg);
		const char *names[1] = {"x"};
		const sc_tensor *ins[1] = {&x};
		if (plan_run(p, 1, names, ins, &err))
			fail_msg("%s: run: %s", op->op, err.msg);
		const sc_tensor *dx = output_named(p, "x_grad");
		assert_int_equal(dx->dtype, SC_FLOAT);
		const float *rr = g->inits[g->values[val(g, "R")].init].tensor.data;
		act_param ap = {op->alpha, op->beta, op->gamma};
		for (int64_t i = 0; i < n; i++) {
			double xv = ((const float *)x.data)[i];
			double want = rr[i] * op->deriv(xv, ap);
			double got = ((const float *)dx->data)[i];
			if (fabs(got - want) > 1e-6 + 1e-5 * fabs(want))
				fail_msg("%s float32: dx[%lld] at x = %.9g is %.9g, expected %.9g",
					 op->op, (long long)i, xv, got, want);
		}
		tensor_free(&x);
		plan_free(p);
		graph_model_free(m);
	}
}

/* --- Cast ----------------------------------------------------------------- */

/* x float64 -> Cast(float32) -> * R (float32) -> sum: dx is R in float64. */
static void test_cast_crosses_dtypes(void **state)
{
	(void)state;
	for (int like = 0; like <= 1; like++) {
		graph_model *m = model(like ? 15 : 9);
		graph *g = m->graph;
		input(g, "x", SC_DOUBLE, "5");
		if (like) {
			float z = 0;
			init_tensor(g, "target", SC_FLOAT, 0, NULL, &z);
			add(g, "CastLike", "c", "x,target", "y");
		} else {
			attr_int(add(g, "Cast", "c", "x", "y"), "to", SC_FLOAT);
		}
		float r[5] = {0.5f, -1.25f, 3, 0.125f, -7};
		int64_t dims[1] = {5};
		init_tensor(g, "R", SC_FLOAT, 1, dims, r);
		add(g, "Mul", "weigh", "y,R", "yr");
		attr_int(add(g, "ReduceSum", "loss", "yr", "L"), "keepdims", 0);
		output(g, "L");
		sc_error err = {0};
		const char *wrt[1] = {"x"};
		int grads[1];
		if (autodiff_build(m, "L", 1, wrt, grads, &err))
			fail_msg("cast autodiff: %s", err.msg);
		plan *p;
		plan_options opt = {.threads = 1};
		if (plan_create(m, &opt, &p, &err))
			fail_msg("cast plan: %s", err.msg);
		sc_tensor x;
		assert_int_equal(tensor_alloc(&x, SC_DOUBLE, 1, dims, "x", &err), SC_OK);
		for (int i = 0; i < 5; i++)
			((double *)x.data)[i] = i - 2.5;
		const char *names[1] = {"x"};
		const sc_tensor *ins[1] = {&x};
		if (plan_run(p, 1, names, ins, &err))
			fail_msg("cast run: %s", err.msg);
		const sc_tensor *dx = output_named(p, "x_grad");
		assert_int_equal(dx->dtype, SC_DOUBLE);
		for (int i = 0; i < 5; i++)
			assert_true(((const double *)dx->data)[i] == (double)r[i]);
		tensor_free(&x);
		plan_free(p);
		graph_model_free(m);
	}
}

/* The rules emit the ai.supcon kernels and the model then imports the
 * domain; Where's condition and Pow's integer exponent get nothing. */
static void test_graph_shape(void **state)
{
	(void)state;
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "4");
	input(g, "c", SC_BOOL, "4");
	int64_t e = 3;
	init_tensor(g, "e", SC_INT64, 0, NULL, &e);
	add(g, "Relu", "r", "x", "a");
	add(g, "Pow", "p", "a,e", "b");
	add(g, "Where", "w", "c,b,x", "f");
	attr_int(add(g, "ReduceSum", "loss", "f", "L"), "keepdims", 0);
	output(g, "L");
	sc_error err = {0};
	const char *wrt[1] = {"x"};
	int grads[1];
	assert_int_equal(autodiff_build(m, "L", 1, wrt, grads, &err), SC_OK);
	assert_int_equal(graph_model_opset(m, "ai.supcon"), 1);
	int relu = 0, pow_grad = 0;
	for (int i = 0; i < g->n_nodes; i++) {
		relu += !strcmp(g->nodes[i].op_type, "ReluGrad");
		if (!strcmp(g->nodes[i].op_type, "PowGrad")) {
			pow_grad++;
			assert_int_equal(graph_node_attr(&g->nodes[i], "wrt")->i, 0);
		}
	}
	assert_int_equal(relu, 1);
	assert_int_equal(pow_grad, 1);
	graph_model_free(m);
}

/* --- the backward kernels on their own ----------------------------------- */

/* A model holding one ai.supcon node `op` over graph inputs in0..in<n-1>
 * of the given types, writing "out". */
static graph_model *supcon_node(const char *op, int n, const int *dtype,
				const char *const *shape, graph_node **node)
{
	graph_model *m = model(13);
	add_opset(m, "ai.supcon", 1);
	graph *g = m->graph;
	int in[8], out = val(g, "out");
	for (int i = 0; i < n; i++) {
		char name[16];
		snprintf(name, sizeof name, "in%d", i);
		in[i] = input(g, name, dtype[i], shape[i]);
	}
	sc_error err = {0};
	int idx = graph_add_node(g, op, "ai.supcon", op, n, in, 1, &out, &err);
	assert_true(idx >= 0);
	push_output(g, out);
	*node = &g->nodes[idx];
	return m;
}

static int run_node(graph_model *m, int n, sc_tensor *ins, plan **pp,
		    sc_error *err)
{
	plan_options opt = {.threads = 1};
	int rc = plan_create(m, &opt, pp, err);
	if (rc)
		return rc;
	const char *names[8] = {"in0", "in1", "in2", "in3", "in4", "in5", "in6", "in7"};
	const sc_tensor *in[8];
	for (int i = 0; i < n; i++)
		in[i] = &ins[i];
	return plan_run(*pp, n, names, in, err);
}

/* float16 and bfloat16 go through float: compare with the float formula at
 * their precision. */
static void test_half_precision_kernels(void **state)
{
	(void)state;
	static const int dtypes[2] = {SC_FLOAT16, SC_BFLOAT16};
	for (int k = 0; k < 2; k++) {
		int dt[2] = {dtypes[k], dtypes[k]};
		const char *shapes[2] = {"64", "64"};
		for (int which = 0; which < 2; which++) {
			graph_node *n;
			graph_model *m = supcon_node(which ? "ClipGrad" : "SigmoidGrad",
						     2, dt, shapes, &n);
			if (which) {
				attr_float(n, "min", -0.5f);
				attr_float(n, "max", 0.5f);
			}
			sc_tensor t[2];
			sc_error err = {0};
			int64_t dims[1] = {64};
			float gv[64], tv[64];
			for (int i = 0; i < 2; i++)
				assert_int_equal(tensor_alloc(&t[i], dt[i], 1, dims, "t", &err), SC_OK);
			for (int i = 0; i < 64; i++) {
				gv[i] = (float)(i % 9) - 4;
				tv[i] = (float)i / 64 - 0.5f;   /* exact in both */
				uint16_t *a = t[0].data, *b = t[1].data;
				a[i] = k ? tensor_float_to_bf16(gv[i]) : tensor_float_to_half(gv[i]);
				b[i] = k ? tensor_float_to_bf16(tv[i]) : tensor_float_to_half(tv[i]);
			}
			plan *p = NULL;
			if (run_node(m, 2, t, &p, &err))
				fail_msg("%s: %s", n->op_type, err.msg);
			const sc_tensor *o = plan_output(p, 0);
			assert_int_equal(o->dtype, dt[0]);
			for (int i = 0; i < 64; i++) {
				uint16_t h = ((const uint16_t *)o->data)[i];
				double got = k ? tensor_bf16_to_float(h) : tensor_half_to_float(h);
				double want = which ? (tv[i] >= -0.5 && tv[i] <= 0.5 ? gv[i] : 0) :
					      gv[i] * tv[i] * (1 - tv[i]);
				if (fabs(got - want) > 1e-2 * fabs(want) + 1e-3)
					fail_msg("%s %s: element %d is %g, expected %g",
						 which ? "ClipGrad" : "SigmoidGrad",
						 tensor_dtype_name(dt[0]), i, got, want);
			}
			for (int i = 0; i < 2; i++)
				tensor_free(&t[i]);
			plan_free(p);
			graph_model_free(m);
		}
	}
}

/* Inputs the kernels refuse get one line naming the node. */
static void test_kernel_errors(void **state)
{
	(void)state;
	sc_error err = {0};
	graph_node *n;
	plan *p = NULL;
	int64_t d3[1] = {3}, d4[1] = {4};
	sc_tensor t[4];

	/* dY and Y of different shapes */
	int dt2[2] = {SC_FLOAT, SC_FLOAT};
	const char *s2[2] = {NULL, NULL};
	graph_model *m = supcon_node("ReluGrad", 2, dt2, s2, &n);
	tensor_alloc(&t[0], SC_FLOAT, 1, d3, "a", &err);
	tensor_alloc(&t[1], SC_FLOAT, 1, d4, "b", &err);
	memset(t[0].data, 0, t[0].nbytes);
	memset(t[1].data, 0, t[1].nbytes);
	assert_int_equal(run_node(m, 2, t, &p, &err), SC_EINVAL);
	assert_string_equal(err.msg, "node 'ReluGrad' (ReluGrad): input 1 is float32[4], the gradient float32[3]");
	plan_free(p);
	graph_model_free(m);

	/* MinMaxGrad needs wrt in range */
	int dt4[4] = {SC_FLOAT, SC_FLOAT, SC_FLOAT, SC_FLOAT};
	const char *s4[4] = {"3", "3", "3", "3"};
	m = supcon_node("MinMaxGrad", 4, dt4, s4, &n);
	attr_int(n, "wrt", 2);
	p = NULL;
	assert_int_equal(plan_create(m, &(plan_options){.threads = 1}, &p, &err), SC_EINVAL);
	assert_string_equal(err.msg, "node 'MinMaxGrad' (MinMaxGrad): attribute wrt is 2, out of range");
	plan_free(p);
	graph_model_free(m);

	/* PowGrad: an exponent that does not broadcast to dY */
	const char *s4b[4] = {"3", "3", "4", "3"};
	m = supcon_node("PowGrad", 4, dt4, s4b, &n);
	attr_int(n, "wrt", 0);
	tensor_alloc(&t[2], SC_FLOAT, 1, d4, "c", &err);
	tensor_alloc(&t[3], SC_FLOAT, 1, d3, "d", &err);
	tensor_free(&t[1]);
	tensor_alloc(&t[1], SC_FLOAT, 1, d3, "b", &err);
	for (int i = 1; i < 4; i++)
		memset(t[i].data, 0, t[i].nbytes);
	p = NULL;
	int rc = run_node(m, 4, t, &p, &err);
	assert_int_not_equal(rc, SC_OK);
	assert_string_equal(err.msg, "node 'PowGrad' (PowGrad): input 2 has shape [4], which does not broadcast to the gradient's [3]");
	plan_free(p);
	graph_model_free(m);

	/* ClipGrad: a bound that is not a scalar */
	const char *s3[3] = {"3", "3", "3"};
	m = supcon_node("ClipGrad", 3, dt4, s3, &n);
	p = NULL;
	sc_tensor clip_in[3] = {t[0], t[1], t[3]};
	assert_int_equal(run_node(m, 3, clip_in, &p, &err), SC_EINVAL);
	assert_string_equal(err.msg, "node 'ClipGrad' (ClipGrad): input 2 (min) must be a float scalar");
	plan_free(p);
	graph_model_free(m);
	for (int i = 0; i < 4; i++)
		tensor_free(&t[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_finite_differences),
		cmocka_unit_test(test_legacy_broadcast),
		cmocka_unit_test(test_kinks_follow_pytorch),
		cmocka_unit_test(test_dropout_training),
		cmocka_unit_test(test_float32_large),
		cmocka_unit_test(test_cast_crosses_dtypes),
		cmocka_unit_test(test_graph_shape),
		cmocka_unit_test(test_half_precision_kernels),
		cmocka_unit_test(test_kernel_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
