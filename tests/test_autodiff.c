/* test_autodiff.c: reverse-mode gradients against central finite
 * differences in double precision.
 *
 * Each case builds a float64 graph f(inputs), appends the scalar loss
 * sum(f * R) with a fixed random R (so the checked vector-Jacobian product
 * is not just a row of ones), differentiates it with autodiff_build, and
 * compares every gradient element with (L(x + h) - L(x - h)) / 2h,
 * h = 1e-6, evaluated by the same plan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model_builder.h"
#include "runtime/autodiff.h"
#include "runtime/infer.h"
#include "runtime/plan.h"
#include "runtime/train_graph.h"

#define MAX_IN 4

typedef struct gcase {
	const char *name;
	int n_in;
	const char *in_names[MAX_IN];
	const char *in_shapes[MAX_IN];
	double lo, hi;           /* input values are drawn from [lo, hi] */
	double away_from_zero;   /* |x| at least this (kinks of Relu, Abs) */
	void (*build)(graph *g); /* writes value "f" from the inputs */
} gcase;

static double draw(unsigned *seed, double lo, double hi, double away)
{
	for (;;) {
		*seed = *seed * 1664525u + 1013904223u;
		double u = (double)(*seed >> 8) / (double)(1u << 24);
		double v = lo + (hi - lo) * u;
		if (fabs(v) >= away)
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

static void check_case(const gcase *gc)
{
	graph_model *m = model(13);
	graph *g = m->graph;
	for (int i = 0; i < gc->n_in; i++)
		input(g, gc->in_names[i], SC_DOUBLE, gc->in_shapes[i]);
	gc->build(g);
	/* loss = ReduceSum(f * R), R random with f's shape (found by a first
	 * run of f alone would be neater; the cases state it instead) */
	unsigned seed = 12345;
	sc_error err = {0};
	{
		graph_model *probe = model(13);
		for (int i = 0; i < gc->n_in; i++)
			input(probe->graph, gc->in_names[i], SC_DOUBLE, gc->in_shapes[i]);
		gc->build(probe->graph);
		int f = output(probe->graph, "f");
		assert_int_equal(graph_infer_shapes(probe, &err), SC_OK);
		const graph_type *ft = &probe->graph->values[f].type;
		int64_t dims[SC_MAX_RANK];
		assert_true(ft->rank >= 0);
		for (int d = 0; d < ft->rank; d++) {
			assert_true(ft->dims[d].value >= 0);
			dims[d] = ft->dims[d].value;
		}
		sc_tensor r;
		assert_int_equal(tensor_alloc(&r, SC_DOUBLE, ft->rank, dims, "R", &err), SC_OK);
		for (int64_t k = 0; k < r.numel; k++)
			((double *)r.data)[k] = draw(&seed, -1, 1, 0);
		assert_int_equal(graph_add_init(g, val(g, "R"), &r, &err), SC_OK);
		graph_model_free(probe);
	}
	add(g, "Mul", "weigh", "f,R", "fr");
	add(g, "ReduceSum", "loss", "fr", "L");
	graph_node *rs = &g->nodes[g->n_nodes - 1];
	attr_int(rs, "keepdims", 0);
	output(g, "L");

	int grads[MAX_IN];
	if (autodiff_build(m, "L", gc->n_in, gc->in_names, grads, &err))
		fail_msg("%s: autodiff: %s", gc->name, err.msg);
	plan *p;
	plan_options opt = {.threads = 1};
	if (plan_create(m, &opt, &p, &err))
		fail_msg("%s: plan: %s", gc->name, err.msg);

	sc_tensor x[MAX_IN];
	const sc_tensor *ins[MAX_IN];
	for (int i = 0; i < gc->n_in; i++) {
		int64_t dims[SC_MAX_RANK];
		int rank = parse_dims(gc->in_shapes[i], dims);
		assert_int_equal(tensor_alloc(&x[i], SC_DOUBLE, rank, dims, "x", &err), SC_OK);
		for (int64_t k = 0; k < x[i].numel; k++)
			((double *)x[i].data)[k] = draw(&seed, gc->lo, gc->hi, gc->away_from_zero);
		ins[i] = &x[i];
	}
	loss_of(p, gc->n_in, gc->in_names, ins);
	/* copy the analytic gradients before the runs below overwrite them */
	double *analytic[MAX_IN];
	for (int i = 0; i < gc->n_in; i++) {
		assert_true(grads[i] >= 0);
		const sc_tensor *gt = NULL;
		for (int o = 0; o < plan_output_count(p); o++)
			if (!strcmp(plan_output_name(p, o), g->values[grads[i]].name))
				gt = plan_output(p, o);
		assert_non_null(gt);
		assert_int_equal(gt->numel, x[i].numel);
		analytic[i] = malloc((size_t)gt->numel * sizeof(double));
		memcpy(analytic[i], gt->data, (size_t)gt->numel * sizeof(double));
	}
	const double h = 1e-6;
	double worst = 0;
	for (int i = 0; i < gc->n_in; i++)
		for (int64_t k = 0; k < x[i].numel; k++) {
			double *xv = &((double *)x[i].data)[k], keep = *xv;
			*xv = keep + h;
			double up = loss_of(p, gc->n_in, gc->in_names, ins);
			*xv = keep - h;
			double down = loss_of(p, gc->n_in, gc->in_names, ins);
			*xv = keep;
			double numeric = (up - down) / (2 * h);
			double e = fabs(analytic[i][k] - numeric) / (1e-6 + fabs(numeric));
			if (e > worst)
				worst = e;
			if (fabs(analytic[i][k] - numeric) > 1e-6 + 1e-5 * fabs(numeric))
				fail_msg("%s: d/d%s[%lld]: autodiff %.10g, finite differences %.10g",
					 gc->name, gc->in_names[i], (long long)k,
					 analytic[i][k], numeric);
		}
	print_message("%-22s worst relative error %.2e\n", gc->name, worst);
	for (int i = 0; i < gc->n_in; i++) {
		free(analytic[i]);
		tensor_free(&x[i]);
	}
	plan_free(p);
	graph_model_free(m);
}

static void b_add(graph *g) { add(g, "Add", "op", "a,b", "f"); }
static void b_sub(graph *g) { add(g, "Sub", "op", "a,b", "f"); }
static void b_mul(graph *g) { add(g, "Mul", "op", "a,b", "f"); }
static void b_div(graph *g) { add(g, "Div", "op", "a,b", "f"); }
static void b_square(graph *g) { add(g, "Mul", "op", "a,a", "f"); }
static void b_neg(graph *g) { add(g, "Neg", "op", "a", "f"); }
static void b_exp(graph *g) { add(g, "Exp", "op", "a", "f"); }
static void b_log(graph *g) { add(g, "Log", "op", "a", "f"); }
static void b_relu(graph *g) { add(g, "Relu", "op", "a", "f"); }
static void b_sigmoid(graph *g) { add(g, "Sigmoid", "op", "a", "f"); }
static void b_tanh(graph *g) { add(g, "Tanh", "op", "a", "f"); }
static void b_sqrt(graph *g) { add(g, "Sqrt", "op", "a", "f"); }
static void b_abs(graph *g) { add(g, "Abs", "op", "a", "f"); }
static void b_recip(graph *g) { add(g, "Reciprocal", "op", "a", "f"); }
static void b_identity(graph *g) { add(g, "Identity", "op", "a", "f"); }

/* f = relu(a * b + a) * tanh(a): a fans out three ways */
static void b_chain(graph *g)
{
	add(g, "Mul", "m", "a,b", "ab");
	add(g, "Add", "s", "ab,a", "t");
	add(g, "Relu", "r", "t", "u");
	add(g, "Tanh", "th", "a", "v");
	add(g, "Mul", "out", "u,v", "f");
}

/* a keepdims ReduceSum in the middle: f = sum_axis1(a) * b */
static void b_reduce(graph *g)
{
	graph_node *n = add(g, "ReduceSum", "rs", "a,ax", "s");
	(void)n;
	init_ints(g, "ax", 1, 1);
	add(g, "Mul", "m", "s,b", "f");
}

static const gcase cases[] = {
	{"Add broadcast", 2, {"a", "b"}, {"2,3,4", "3,1"}, -2, 2, 0, b_add},
	{"Sub broadcast", 2, {"a", "b"}, {"4", "2,3,4"}, -2, 2, 0, b_sub},
	{"Mul broadcast", 2, {"a", "b"}, {"2,1,4", "3,1"}, -2, 2, 0, b_mul},
	{"Div broadcast", 2, {"a", "b"}, {"2,3", "3"}, 0.5, 2, 0, b_div},
	{"Mul fan-out a*a", 1, {"a"}, {"5"}, -2, 2, 0, b_square},
	{"Neg", 1, {"a"}, {"2,3"}, -2, 2, 0, b_neg},
	{"Exp", 1, {"a"}, {"2,3"}, -2, 2, 0, b_exp},
	{"Log", 1, {"a"}, {"2,3"}, 0.2, 3, 0, b_log},
	{"Relu", 1, {"a"}, {"3,4"}, -2, 2, 1e-3, b_relu},
	{"Sigmoid", 1, {"a"}, {"3,4"}, -4, 4, 0, b_sigmoid},
	{"Tanh", 1, {"a"}, {"3,4"}, -2, 2, 0, b_tanh},
	{"Sqrt", 1, {"a"}, {"3,4"}, 0.2, 3, 0, b_sqrt},
	{"Abs", 1, {"a"}, {"3,4"}, -2, 2, 1e-3, b_abs},
	{"Reciprocal", 1, {"a"}, {"3,4"}, 0.5, 2, 0, b_recip},
	{"Identity", 1, {"a"}, {"3"}, -2, 2, 0, b_identity},
	{"chain with fan-out", 2, {"a", "b"}, {"3,4", "4"}, -2, 2, 1e-3, b_chain},
	{"ReduceSum keepdims", 2, {"a", "b"}, {"2,3,4", "2,1,4"}, -2, 2, 0, b_reduce},
};

static void test_gradients_match_finite_differences(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		check_case(&cases[i]);
}

/* A graph for the error cases: L = ReduceSum(Relu(x) * w), with an int
 * input k that only feeds a Shape. */
static graph_model *small_model(void)
{
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "2,3");
	input(g, "k", SC_INT64, "2");
	input(g, "unused", SC_FLOAT, "2");
	init_shape(g, "w", "2,3");
	add(g, "Relu", "r", "x", "rx");
	add(g, "Mul", "m", "rx,w", "p");
	add(g, "ReduceSum", "s", "p", "L");
	attr_int(&g->nodes[g->n_nodes - 1], "keepdims", 0);
	output(g, "L");
	return m;
}

static void test_bad_requests(void **state)
{
	(void)state;
	sc_error err = {0};
	int grads[2];

	graph_model *m = small_model();
	const char *nowhere[] = {"p"};
	assert_int_equal(autodiff_build(m, NULL, 1, nowhere, grads, &err), SC_EINVAL);
	assert_string_equal(err.msg, "'p' is neither a graph input nor an initializer");
	graph_model_free(m);

	m = small_model();
	const char *ints[] = {"k"};
	assert_int_equal(autodiff_build(m, NULL, 1, ints, grads, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "only floating-point tensors have gradients"));
	graph_model_free(m);

	/* the loss does not depend on 'unused': -1, and w still gets one */
	m = small_model();
	const char *two[] = {"unused", "w"};
	assert_int_equal(autodiff_build(m, NULL, 2, two, grads, &err), SC_OK);
	assert_int_equal(grads[0], -1);
	assert_true(grads[1] >= 0);
	assert_string_equal(m->graph->values[grads[1]].name, "w_grad");
	graph_model_free(m);

	/* a non-scalar loss */
	m = small_model();
	const char *x[] = {"x"};
	assert_int_equal(autodiff_build(m, "p", 1, x, grads, &err), SC_EINVAL);
	assert_string_equal(err.msg, "loss 'p' is not a scalar: dim 0 is 2");
	graph_model_free(m);

	/* ops without a rule on the path are all named before anything runs */
	m = model(13);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "2,3");
	add(g, "Softsign", "a", "x", "y");
	add(g, "Floor", "b", "y", "z");
	add(g, "ReduceSum", "s", "z", "L");
	attr_int(&g->nodes[g->n_nodes - 1], "keepdims", 0);
	output(g, "L");
	assert_int_equal(autodiff_build(m, NULL, 1, x, grads, &err), SC_EUNSUPPORTED);
	assert_string_equal(err.msg, "no gradient rule for these ops on the path to 'L': "
			    "Softsign (opset 13), Floor (opset 13)");
	graph_model_free(m);
}

/* x_{i+1} = x_i * x_i, 60 deep, on an input of unknown rank: nothing can
 * be typed, and every node reads its input twice, so typing a gradient
 * by walking its producers without a memo visits 2^60 paths.  The build
 * must finish at once (SIGALRM ends the test otherwise), and the gradient
 * (2^60 x^(2^60 - 1) at x = 1: 2^60) comes out right when the plan runs. */
static void test_fan_in_lattice_of_untyped_values(void **state)
{
	(void)state;
	enum { DEPTH = 60 };
	alarm(60);
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "x0", SC_FLOAT, NULL);
	char name[32], in[80], out[32];
	for (int i = 0; i < DEPTH; i++) {
		snprintf(name, sizeof name, "sq%d", i);
		snprintf(in, sizeof in, "x%d,x%d", i, i);
		snprintf(out, sizeof out, "x%d", i + 1);
		add(g, "Mul", name, in, out);
	}
	snprintf(in, sizeof in, "x%d", DEPTH);
	add(g, "ReduceSum", "s", in, "L");
	attr_int(&g->nodes[g->n_nodes - 1], "keepdims", 0);
	output(g, "L");
	sc_error err = {0};
	int grad;
	const char *wrt[] = {"x0"};
	assert_int_equal(autodiff_build(m, NULL, 1, wrt, &grad, &err), SC_OK);
	assert_true(grad >= 0);

	plan_options opt = {.threads = 1};
	plan *p = NULL;
	assert_int_equal(plan_create(m, &opt, &p, &err), SC_OK);
	float one = 1;
	sc_tensor x = {.dtype = SC_FLOAT, .rank = 1, .dims = {1}, .numel = 1,
		       .nbytes = sizeof one, .data = &one};
	const char *names[] = {"x0"};
	const sc_tensor *ins[] = {&x};
	assert_int_equal(plan_run(p, 1, names, ins, &err), SC_OK);
	const sc_tensor *dx = NULL;
	for (int i = 0; i < m->graph->n_outputs; i++)
		if (m->graph->outputs[i] == grad)
			dx = plan_output(p, i);
	assert_non_null(dx);
	assert_true(((const float *)dx->data)[0] == ldexpf(1, DEPTH));
	plan_free(p);
	graph_model_free(m);
	alarm(0);
}

/* A model exported in training mode (torch.onnx, TrainingMode.TRAINING)
 * asks BatchNormalization for its updated running statistics under the
 * exporter's names.  The training graph must still publish them as
 * "<running>.new" (train_graph.h), holding ONNX's momentum update with the
 * population variance.  Regression: they used to keep the exporter's
 * names, so `supcon grad` users could not tell which input they feed. */
static void test_training_mode_export_statistics(void **state)
{
	(void)state;
	enum { N = 4, C = 2, HW = 9 };
	graph_model *m = model(15);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "4,2,3,3");
	const float scale[C] = {1.5f, 0.5f}, bias[C] = {0.1f, -0.2f};
	const float rmean[C] = {0.3f, -0.1f}, rvar[C] = {0.8f, 1.2f};
	int64_t dims[1] = {C};
	init_tensor(g, "bn.weight", SC_FLOAT, 1, dims, scale);
	init_tensor(g, "bn.bias", SC_FLOAT, 1, dims, bias);
	init_tensor(g, "bn.running_mean", SC_FLOAT, 1, dims, rmean);
	init_tensor(g, "bn.running_var", SC_FLOAT, 1, dims, rvar);
	graph_node *bn = add(g, "BatchNormalization", "/bn/BatchNormalization",
			     "x,bn.weight,bn.bias,bn.running_mean,bn.running_var",
			     "y,/bn/BatchNormalization_output_1,/bn/BatchNormalization_output_2");
	attr_int(bn, "training_mode", 1);
	attr_float(bn, "momentum", 0.9f);
	add(g, "Mul", "sq", "y,y", "yy");
	attr_int(add(g, "ReduceSum", "sum", "yy", "L"), "keepdims", 0);
	output(g, "L");

	train_graph_options o;
	train_graph_options_init(&o);
	train_graph_parse_loss(&o, "L");
	sc_error err = {0};
	if (train_graph_build(m, &o, NULL, &err))
		fail_msg("train_graph_build: %s", err.msg);
	plan *p;
	plan_options opt = {.threads = 1};
	if (plan_create(m, &opt, &p, &err))
		fail_msg("plan: %s", err.msg);
	sc_tensor x;
	int64_t xd[4] = {N, C, 3, 3};
	assert_int_equal(tensor_alloc(&x, SC_FLOAT, 4, xd, "x", &err), SC_OK);
	unsigned seed = 7;
	for (int64_t i = 0; i < x.numel; i++)
		((float *)x.data)[i] = (float)draw(&seed, -2, 3, 0);
	const char *names[1] = {"x"};
	const sc_tensor *ins[1] = {&x};
	if (plan_run(p, 1, names, ins, &err))
		fail_msg("run: %s", err.msg);

	const sc_tensor *got[2] = {NULL, NULL};
	for (int o_i = 0; o_i < plan_output_count(p); o_i++) {
		if (!strcmp(plan_output_name(p, o_i), "bn.running_mean.new"))
			got[0] = plan_output(p, o_i);
		if (!strcmp(plan_output_name(p, o_i), "bn.running_var.new"))
			got[1] = plan_output(p, o_i);
	}
	assert_non_null(got[0]);
	assert_non_null(got[1]);
	for (int c = 0; c < C; c++) {
		double sum = 0, sq = 0;
		for (int n = 0; n < N; n++)
			for (int k = 0; k < HW; k++) {
				double v = ((const float *)x.data)[(n * C + c) * HW + k];
				sum += v;
				sq += v * v;
			}
		double mean = sum / (N * HW), var = sq / (N * HW) - mean * mean;
		double want[2] = {0.9 * rmean[c] + 0.1 * mean, 0.9 * rvar[c] + 0.1 * var};
		for (int s_i = 0; s_i < 2; s_i++) {
			double v = ((const float *)got[s_i]->data)[c];
			if (!(fabs(v - want[s_i]) <= 1e-5 * fabs(want[s_i]) + 1e-6))
				fail_msg("%s[%d] is %.8g, want %.8g", s_i ? "running_var" : "running_mean",
					 c, v, want[s_i]);
		}
	}
	tensor_free(&x);
	plan_free(p);
	graph_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gradients_match_finite_differences),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_training_mode_export_statistics),
		cmocka_unit_test(test_fan_in_lattice_of_untyped_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
