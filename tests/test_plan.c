/* test_plan.c: the executor.  Liveness-based memory reuse, no allocation
 * once shapes are fixed, re-planning when shapes change, input checks,
 * the unsupported-op message, and inference fusions (Conv with
 * BatchNormalization, residual Add and Relu), whose outputs must match the
 * same plan run node by node (no_fusion) and a naive reference computed
 * here in double. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model_builder.h"
#include "runtime/plan.h"

/* --- counting allocations ---------------------------------------------------
 * The test binary interposes malloc and friends (not under ASan, which owns
 * them) so that a run can prove it allocated nothing. */
#if !defined(__SANITIZE_ADDRESS__)
#define COUNT_ALLOCS 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
static long n_allocs;
void *malloc(size_t n) { n_allocs++; return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { n_allocs++; return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { n_allocs++; return __libc_realloc(p, n); }
void *aligned_alloc(size_t a, size_t n) { n_allocs++; return __libc_memalign(a, n); }
int posix_memalign(void **p, size_t a, size_t n)
{
	n_allocs++;
	*p = __libc_memalign(a, n);
	return *p ? 0 : 12;
}
#endif

static plan *make_plan(graph_model *m, int fuse)
{
	plan_options opt = {.threads = 2, .no_fusion = !fuse};
	plan *p;
	sc_error err = {0};
	int rc = plan_create(m, &opt, &p, &err);
	if (rc)
		fail_msg("plan_create: %s", err.msg);
	return p;
}

static void run_ok(plan *p, const char *name, const sc_tensor *x)
{
	sc_error err = {0};
	const char *names[] = {name};
	const sc_tensor *ins[] = {x};
	int rc = plan_run(p, 1, names, ins, &err);
	if (rc)
		fail_msg("plan_run: %s", err.msg);
}

static void fill(sc_tensor *t, unsigned seed)
{
	float *d = t->data;
	for (int64_t i = 0; i < t->numel; i++) {
		seed = seed * 1664525u + 1013904223u;
		d[i] = (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
	}
}

/* x -> Relu -> Neg -> Relu ... : only two buffers are ever live. */
static void test_arena_reuse_and_no_allocation(void **state)
{
	(void)state;
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "N,1000");
	char in[16] = "x", out[16];
	for (int i = 0; i < 12; i++) {
		snprintf(out, sizeof out, "v%d", i);
		add(g, "Relu", NULL, in, out);
		strcpy(in, out);
	}
	int y = val(g, in);
	g->values[y].flags |= VALUE_OUTPUT;
	push(&g->outputs, &g->n_outputs, y);

	plan *p = make_plan(m, 1);
	sc_tensor x;
	sc_error err = {0};
	int64_t dims[] = {4, 1000};
	assert_int_equal(tensor_alloc(&x, SC_FLOAT, 2, dims, "x", &err), SC_OK);
	fill(&x, 1);
	run_ok(p, "x", &x);
	/* 11 intermediates + the output of 16000 bytes each; live at once: 2 */
	assert_int_equal(plan_total_bytes(p), 12 * 16000);
	assert_true(plan_arena_bytes(p) <= 3 * 16000);
	const sc_tensor *o = plan_output(p, 0);
	for (int64_t i = 0; i < x.numel; i++) {
		float want = ((float *)x.data)[i] > 0 ? ((float *)x.data)[i] : 0;
		assert_true(((float *)o->data)[i] == want);
	}
#ifdef COUNT_ALLOCS
	run_ok(p, "x", &x);   /* first run off the fresh arena */
	long before = n_allocs;
	run_ok(p, "x", &x);
	assert_int_equal(n_allocs - before, 0);
#endif
	/* a new batch size re-prepares, then settles again */
	sc_tensor x2;
	int64_t dims2[] = {7, 1000};
	assert_int_equal(tensor_alloc(&x2, SC_FLOAT, 2, dims2, "x", &err), SC_OK);
	fill(&x2, 2);
	run_ok(p, "x", &x2);
	o = plan_output(p, 0);
	assert_int_equal(o->dims[0], 7);
	for (int64_t i = 0; i < x2.numel; i++) {
		float v = ((float *)x2.data)[i];
		assert_true(((float *)o->data)[i] == (v > 0 ? v : 0));
	}
	run_ok(p, "x", &x);
	assert_int_equal(plan_output(p, 0)->dims[0], 4);
	tensor_free(&x);
	tensor_free(&x2);
	plan_free(p);
	graph_model_free(m);
}

static void test_input_checks(void **state)
{
	(void)state;
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "N,3");
	add(g, "Relu", "r", "x", "y");
	int y = val(g, "y");
	g->values[y].flags |= VALUE_OUTPUT;
	push(&g->outputs, &g->n_outputs, y);
	plan *p = make_plan(m, 1);
	sc_error err = {0};
	sc_tensor bad_shape, bad_type;
	int64_t d1[] = {2, 4}, d2[] = {2, 3};
	assert_int_equal(tensor_alloc(&bad_shape, SC_FLOAT, 2, d1, "x", &err), SC_OK);
	assert_int_equal(tensor_alloc(&bad_type, SC_INT64, 2, d2, "x", &err), SC_OK);
	const char *names[] = {"x"};
	const sc_tensor *ins[] = {&bad_shape};
	assert_int_equal(plan_run(p, 1, names, ins, &err), SC_EINVAL);
	assert_string_equal(err.msg, "input 'x': expected float32[N,3], got float32[2,4]");
	ins[0] = &bad_type;
	assert_int_equal(plan_run(p, 1, names, ins, &err), SC_EINVAL);
	assert_string_equal(err.msg, "input 'x': expected float32[N,3], got int64[2,3]");
	assert_int_equal(plan_run(p, 0, NULL, NULL, &err), SC_EINVAL);
	assert_string_equal(err.msg, "input 'x' is missing");
	const char *wrong[] = {"z"};
	assert_int_equal(plan_run(p, 1, wrong, ins, &err), SC_EINVAL);
	assert_string_equal(err.msg, "input 'z': the model has no such input");
	assert_null(plan_output(p, 0));
	tensor_free(&bad_shape);
	tensor_free(&bad_type);
	plan_free(p);
	graph_model_free(m);
}

static void test_unsupported_ops_listed(void **state)
{
	(void)state;
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "2");
	add(g, "FancyOp", "a", "x", "y");
	add(g, "OtherOp", "b", "y", "z");
	add(g, "FancyOp", "c", "z", "w");
	plan *p;
	sc_error err = {0};
	assert_int_equal(plan_create(m, NULL, &p, &err), SC_EUNSUPPORTED);
	assert_string_equal(err.msg,
			    "unsupported ops: FancyOp (opset 13), OtherOp (opset 13)");
	graph_model_free(m);
}

/* y = relu(bn(conv(x)) + shortcut) with shortcut = conv0(x): the residual
 * is produced before the fused conv, as in a ResNet downsample block. */
static void test_conv_fusions_match(void **state)
{
	(void)state;
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "N,3,9,9");
	unsigned seed = 7;
	const char *weights[] = {"w0", "w1"};
	for (int i = 0; i < 2; i++) {
		int64_t wd[] = {4, 3, 3, 3};
		sc_tensor w;
		sc_error err = {0};
		assert_int_equal(tensor_alloc(&w, SC_FLOAT, 4, wd, "w", &err), SC_OK);
		fill(&w, seed++);
		assert_int_equal(graph_add_init(g, val(g, weights[i]), &w, &err), SC_OK);
	}
	conv(g, "conv0", "x", "w0", "s", 3, 1, 1);
	conv(g, "conv1", "x", "w1", "c", 3, 1, 1);
	bn(g, "bn", "c", "b", 4);
	/* give the BN real statistics */
	const char *bn_names[] = {"bn.s", "bn.b", "bn.m", "bn.v"};
	for (int i = 0; i < 4; i++) {
		sc_tensor *t = &g->inits[g->values[val(g, bn_names[i])].init].tensor;
		fill(t, seed++);
		if (i == 3)
			for (int c = 0; c < 4; c++)
				((float *)t->data)[c] = 0.5f + fabsf(((float *)t->data)[c]);
	}
	add(g, "Add", "add", "b,s", "a");
	add(g, "Relu", "relu", "a", "y");
	int y = val(g, "y");
	g->values[y].flags |= VALUE_OUTPUT;
	push(&g->outputs, &g->n_outputs, y);

	sc_tensor x;
	sc_error err = {0};
	int64_t xd[] = {2, 3, 9, 9};
	assert_int_equal(tensor_alloc(&x, SC_FLOAT, 4, xd, "x", &err), SC_OK);
	fill(&x, 99);
	plan *fused = make_plan(m, 1), *plain = make_plan(m, 0);
	/* conv0 alone; conv1 with bn, add and relu folded in */
	assert_int_equal(plan_node_count(fused), 2);
	assert_int_equal(plan_node_count(plain), 5);
	run_ok(fused, "x", &x);
	run_ok(fused, "x", &x);   /* and again, from the arena */
	run_ok(plain, "x", &x);
	const sc_tensor *a = plan_output(fused, 0), *b = plan_output(plain, 0);
	assert_int_equal(a->numel, 2 * 4 * 9 * 9);
	assert_int_equal(b->numel, a->numel);

	/* naive reference in double */
	const float *X = x.data;
	const float *W0 = g->inits[g->values[val(g, "w0")].init].tensor.data;
	const float *W1 = g->inits[g->values[val(g, "w1")].init].tensor.data;
	const float *S = g->inits[g->values[val(g, "bn.s")].init].tensor.data;
	const float *B = g->inits[g->values[val(g, "bn.b")].init].tensor.data;
	const float *M = g->inits[g->values[val(g, "bn.m")].init].tensor.data;
	const float *V = g->inits[g->values[val(g, "bn.v")].init].tensor.data;
	double max_err = 0, max_ref = 0;
	for (int n = 0; n < 2; n++)
		for (int co = 0; co < 4; co++)
			for (int h = 0; h < 9; h++)
				for (int w = 0; w < 9; w++) {
					double c0 = 0, c1 = 0;
					for (int ci = 0; ci < 3; ci++)
						for (int kh = 0; kh < 3; kh++)
							for (int kw = 0; kw < 3; kw++) {
								int ih = h + kh - 1, iw = w + kw - 1;
								if (ih < 0 || iw < 0 || ih >= 9 || iw >= 9)
									continue;
								double xv = X[((n * 3 + ci) * 9 + ih) * 9 + iw];
								int wi = ((co * 3 + ci) * 3 + kh) * 3 + kw;
								c0 += xv * W0[wi];
								c1 += xv * W1[wi];
							}
					double bnv = (c1 - M[co]) / sqrt(V[co] + 1e-5) * S[co] + B[co];
					double ref = bnv + c0 > 0 ? bnv + c0 : 0;
					size_t i = (size_t)((n * 4 + co) * 9 + h) * 9 + w;
					double e1 = fabs(((float *)a->data)[i] - ref);
					double e2 = fabs(((float *)b->data)[i] - ref);
					max_err = fmax(max_err, fmax(e1, e2));
					max_ref = fmax(max_ref, fabs(ref));
				}
	assert_true(max_ref > 0.1);
	if (max_err > 1e-5 * max_ref + 1e-6)
		fail_msg("max error %g against reference max %g", max_err, max_ref);
	tensor_free(&x);
	plan_free(fused);
	plan_free(plain);
	graph_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arena_reuse_and_no_allocation),
		cmocka_unit_test(test_input_checks),
		cmocka_unit_test(test_unsupported_ops_listed),
		cmocka_unit_test(test_conv_fusions_match),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
