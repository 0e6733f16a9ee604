/* test_train_layouts.c: a training step (forward with batch-norm in
 * training mode, autodiff's backward) run with the planner's blocked
 * layouts must compute what the same graph computes with every tensor
 * plain: the loss, every gradient and the updated running statistics.
 *
 * The network has what ResNet training exercises: Conv, BatchNormalization
 * (training, running-stat outputs), Relu, MaxPool, a residual Add,
 * AveragePool, GlobalAveragePool, Flatten and Gemm; and so, backward,
 * ConvGrad, BatchNormalizationGrad, ReluGrad, the pool gradients and the
 * gradient sums.  Channel counts of 32 (whole blocks) and 24 (a padded
 * block where the CPU blocks by 16) cover both the elementwise ops that
 * walk blocked tensors flat and the planner's conversions to plain.  The
 * plain plan (no fusion, no blocked layouts) is the reference; its own
 * kernels are checked against finite differences and PyTorch elsewhere
 * (test_grad_dnnl, test_grad_cli). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "model_builder.h"
#include "runtime/autodiff.h"
#include "runtime/plan.h"

static void fill(sc_tensor *t, unsigned seed, float lo, float hi)
{
	float *d = t->data;
	for (int64_t i = 0; i < t->numel; i++) {
		seed = seed * 1664525u + 1013904223u;
		d[i] = lo + (hi - lo) * (float)((seed >> 8) & 0xffff) / 65536.0f;
	}
}

static void param(graph *g, const char *name, int rank, const int64_t *dims,
		  unsigned seed, float lo, float hi)
{
	init_tensor(g, name, SC_FLOAT, rank, dims, NULL);
	fill(&g->inits[g->values[val(g, name)].init].tensor, seed, lo, hi);
}

static void weight(graph *g, const char *name, int64_t m, int64_t c, int64_t k,
		   unsigned seed)
{
	int64_t dims[4] = {m, c, k, k};
	float a = 1.0f / sqrtf((float)(c * k * k));
	param(g, name, 4, dims, seed, -a, a);
}

/* BatchNormalization in training mode (opset 15) with its running-stat
 * outputs <name>.rm and <name>.rv, which become graph outputs. */
static void bn_train(graph *g, const char *name, const char *in,
		     const char *out, int64_t c, unsigned seed)
{
	const char *suffix[] = {"s", "b", "m", "v"};
	const float lo[] = {0.5f, -0.2f, -0.1f, 0.5f}, hi[] = {1.5f, 0.2f, 0.1f, 1.5f};
	for (int i = 0; i < 4; i++) {
		char p[32];
		snprintf(p, sizeof p, "%s.%s", name, suffix[i]);
		param(g, p, 1, &c, seed + (unsigned)i, lo[i], hi[i]);
	}
	char ins[160], outs[160], rm[40], rv[40];
	snprintf(ins, sizeof ins, "%s,%s.s,%s.b,%s.m,%s.v", in, name, name, name, name);
	snprintf(rm, sizeof rm, "%s.rm", name);
	snprintf(rv, sizeof rv, "%s.rv", name);
	snprintf(outs, sizeof outs, "%s,%s,%s", out, rm, rv);
	graph_node *n = add(g, "BatchNormalization", name, ins, outs);
	attr_int(n, "training_mode", 1);
	attr_float(n, "momentum", 0.8f);
	output(g, rm);
	output(g, rv);
}

static graph_node *pool(graph *g, const char *op, const char *name,
			const char *in, const char *out, int k, int s, int pad)
{
	graph_node *n = add(g, op, name, in, out);
	attr_ints(n, "kernel_shape", 2, k, k);
	attr_ints(n, "strides", 2, s, s);
	attr_ints(n, "pads", 4, pad, pad, pad, pad);
	return n;
}

enum { BATCH = 4, CLASSES = 5 };

static const char *const wrt[] = {
	"x", "w1", "w2", "w3", "w4", "bn1.s", "bn1.b", "bn2.s", "bn2.b",
	"bn3.s", "bn3.b", "fc.w", "fc.b",
};
#define N_WRT ((int)(sizeof wrt / sizeof wrt[0]))

/* loss = sum(logits * R) of a small residual net; outputs: loss, the
 * running statistics, then d loss / d wrt[i]. */
static graph_model *train_model(void)
{
	graph_model *m = model(15);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "4,3,12,12");
	weight(g, "w1", 32, 3, 3, 10);
	weight(g, "w2", 32, 32, 3, 11);
	weight(g, "w3", 24, 32, 3, 12);
	weight(g, "w4", 32, 24, 1, 13);
	int64_t fw[2] = {CLASSES, 32}, fb[1] = {CLASSES}, rd[2] = {BATCH, CLASSES};
	param(g, "fc.w", 2, fw, 14, -0.3f, 0.3f);
	param(g, "fc.b", 1, fb, 15, -0.1f, 0.1f);
	param(g, "R", 2, rd, 16, -1.0f, 1.0f);
	output(g, "L");
	conv(g, "c1", "x", "w1", "a", 3, 1, 1);
	bn_train(g, "bn1", "a", "an", 32, 20);
	add(g, "Relu", "r1", "an", "ar");
	pool(g, "MaxPool", "mp", "ar", "p", 3, 2, 1);
	conv(g, "c2", "p", "w2", "b", 3, 1, 1);
	bn_train(g, "bn2", "b", "bn", 32, 30);
	add(g, "Add", "res", "bn,p", "s");
	add(g, "Relu", "r2", "s", "sr");
	conv(g, "c3", "sr", "w3", "c", 3, 1, 1);
	bn_train(g, "bn3", "c", "cn", 24, 40);
	add(g, "Relu", "r3", "cn", "cr");
	pool(g, "AveragePool", "ap", "cr", "q", 2, 2, 0);
	conv(g, "c4", "q", "w4", "d", 1, 1, 0);
	add(g, "Relu", "r4", "d", "dr");
	add(g, "GlobalAveragePool", "gap", "dr", "gp");
	add(g, "Flatten", "flat", "gp", "f");
	graph_node *n = add(g, "Gemm", "fc", "f,fc.w,fc.b", "logits");
	attr_int(n, "transB", 1);
	add(g, "Mul", "weigh", "logits,R", "lr");
	attr_int(add(g, "ReduceSum", "sum", "lr", "L"), "keepdims", 0);
	int grads[N_WRT];
	sc_error err = {0};
	if (autodiff_build(m, "L", N_WRT, wrt, grads, &err))
		fail_msg("autodiff_build: %s", err.msg);
	for (int i = 0; i < N_WRT; i++)
		assert_true(grads[i] >= 0);
	return m;
}

static plan *make_plan(graph_model *m, int reference)
{
	plan_options opt = {.threads = 2, .no_fusion = reference,
			    .plain_layouts = reference};
	plan *p;
	sc_error err = {0};
	if (plan_create(m, &opt, &p, &err))
		fail_msg("plan_create: %s", err.msg);
	return p;
}

static void run_ok(plan *p, const sc_tensor *x)
{
	const char *names[] = {"x"};
	const sc_tensor *ins[] = {x};
	sc_error err = {0};
	if (plan_run(p, 1, names, ins, &err))
		fail_msg("plan_run: %s", err.msg);
}

/* Fails naming the first output whose largest |a - b| exceeds tol times
 * its largest |b|. */
static void compare_outputs(const plan *a, const plan *b, double tol)
{
	assert_int_equal(plan_output_count(a), plan_output_count(b));
	for (int i = 0; i < plan_output_count(b); i++) {
		const sc_tensor *x = plan_output(a, i), *y = plan_output(b, i);
		assert_int_equal(x->dtype, SC_FLOAT);
		assert_int_equal(x->numel, y->numel);
		assert_int_equal(x->nbytes, y->nbytes);
		double max_err = 0, max_ref = 0;
		for (int64_t j = 0; j < y->numel; j++) {
			double u = ((const float *)x->data)[j];
			double v = ((const float *)y->data)[j];
			max_err = fmax(max_err, fabs(u - v));
			max_ref = fmax(max_ref, fabs(v));
		}
		if (!(max_ref > 0) || max_err > tol * max_ref)
			fail_msg("output %s: largest difference %g against a largest "
				 "value %g", plan_output_name(b, i), max_err, max_ref);
	}
}

static void test_training_step_blocked_matches_plain(void **state)
{
	(void)state;
	graph_model *m = train_model();
	plan *fast = make_plan(m, 0);
	plan *ref = make_plan(m, 1);
	sc_tensor x;
	sc_error err = {0};
	int64_t xd[] = {BATCH, 3, 12, 12};
	assert_int_equal(tensor_alloc(&x, SC_FLOAT, 4, xd, "x", &err), SC_OK);
	for (int round = 0; round < 3; round++) {   /* heap, then arena */
		fill(&x, 70 + (unsigned)round, -2.0f, 2.0f);
		run_ok(fast, &x);
		run_ok(ref, &x);
		compare_outputs(fast, ref, 1e-4);
		/* the comparison means something only if layouts differed */
		assert_true(plan_blocked_values(fast) >= 20);
		assert_int_equal(plan_blocked_values(ref), 0);
		assert_int_equal(plan_conversions(ref), 0);
	}
	tensor_free(&x);
	plan_free(fast);
	plan_free(ref);
	graph_model_free(m);
}

/* The running statistics follow ONNX: running = input * momentum + batch
 * * (1 - momentum) with the batch's biased variance, here for a BN that
 * reads a blocked conv output, against a double computation over that
 * conv's output taken from the plain plan. */
static void test_running_stats_formula(void **state)
{
	(void)state;
	graph_model *m = train_model();
	/* expose conv c1's output to read it back */
	output(m->graph, "a");
	plan *fast = make_plan(m, 0);
	plan *ref = make_plan(m, 1);
	sc_tensor x;
	sc_error err = {0};
	int64_t xd[] = {BATCH, 3, 12, 12};
	assert_int_equal(tensor_alloc(&x, SC_FLOAT, 4, xd, "x", &err), SC_OK);
	fill(&x, 91, -2.0f, 2.0f);
	run_ok(fast, &x);
	run_ok(ref, &x);
	const sc_tensor *a = NULL, *rm = NULL, *rv = NULL;
	for (int i = 0; i < plan_output_count(ref); i++) {
		const char *name = plan_output_name(ref, i);
		if (strcmp(name, "a") == 0)
			a = plan_output(ref, i);
		if (strcmp(name, "bn1.rm") == 0)
			rm = plan_output(fast, i);
		if (strcmp(name, "bn1.rv") == 0)
			rv = plan_output(fast, i);
	}
	assert_non_null(a);
	assert_non_null(rm);
	assert_non_null(rv);
	const graph *g = m->graph;
	const float *m0 = g->inits[g->values[val(m->graph, "bn1.m")].init].tensor.data;
	const float *v0 = g->inits[g->values[val(m->graph, "bn1.v")].init].tensor.data;
	int64_t c = a->dims[1], inner = a->dims[2] * a->dims[3];
	const float *ad = a->data;
	for (int64_t ch = 0; ch < c; ch++) {
		double sum = 0, sq = 0, count = (double)(BATCH * inner);
		for (int64_t b = 0; b < BATCH; b++)
			for (int64_t j = 0; j < inner; j++)
				sum += ad[(b * c + ch) * inner + j];
		double mean = sum / count;
		for (int64_t b = 0; b < BATCH; b++)
			for (int64_t j = 0; j < inner; j++) {
				double d = ad[(b * c + ch) * inner + j] - mean;
				sq += d * d;
			}
		double want_m = m0[ch] * 0.8 + mean * 0.2;
		double want_v = v0[ch] * 0.8 + sq / count * 0.2;
		double got_m = ((const float *)rm->data)[ch];
		double got_v = ((const float *)rv->data)[ch];
		if (fabs(got_m - want_m) > 1e-5 * (1 + fabs(want_m)) ||
		    fabs(got_v - want_v) > 1e-5 * (1 + fabs(want_v)))
			fail_msg("channel %lld: running mean %g var %g, expected %g %g",
				 (long long)ch, got_m, got_v, want_m, want_v);
	}
	tensor_free(&x);
	plan_free(fast);
	plan_free(ref);
	graph_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_training_step_blocked_matches_plain),
		cmocka_unit_test(test_running_stats_formula),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
