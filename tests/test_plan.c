/* test_plan.c: the executor.  Liveness-based memory reuse, no allocation
 * once shapes are fixed, re-planning when shapes change, input checks,
 * the unsupported-op message, and inference fusions (Conv with
 * BatchNormalization, residual Add and Relu), whose outputs must match the
 * same plan run node by node (no_fusion) and a naive reference computed
 * here in double, and oneDNN's blocked layouts kept between kernels, which
 * must give what plain tensors give.  The numerics check names the node
 * that made the first NaN or infinity; the memory limit refuses before it
 * allocates.  A shape's first run holds no more than the arena runs after
 * it: its outputs move into the arena, a large kernel scratch is given
 * back after its node, and the process's peak RSS follows what the plan
 * holds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model_builder.h"
#include "op_harness.h"

/* Counting allocations: a run can prove it allocated nothing. */
#include "count_allocs.h"

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
	output(g, in);

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
	output(g, "y");
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
	output(g, "y");

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

/* --- blocked layouts between kernels ------------------------------------ */

/* A float initializer of the given shape, uniform in +-1/sqrt(fan-in). */
static void weight(graph *g, const char *name, int64_t co, int64_t ci,
		   int64_t k, unsigned seed)
{
	int64_t dims[] = {co, ci, k, k};
	sc_tensor w;
	sc_error err = {0};
	assert_int_equal(tensor_alloc(&w, SC_FLOAT, 4, dims, name, &err), SC_OK);
	fill(&w, seed);
	float scale = 1.0f / sqrtf((float)(ci * k * k));
	for (int64_t i = 0; i < w.numel; i++)
		((float *)w.data)[i] *= scale;
	assert_int_equal(graph_add_init(g, val(g, name), &w, &err), SC_OK);
}

static graph_node *pool(graph *g, const char *op, const char *name,
			const char *in, const char *outs, int k, int stride,
			int pad)
{
	graph_node *n = add(g, op, name, in, outs);
	attr_ints(n, "kernel_shape", 2, k, k);
	attr_ints(n, "strides", 2, stride, stride);
	attr_ints(n, "pads", 4, pad, pad, pad, pad);
	return n;
}

/* A small ResNet-like chain whose activations the planner may keep in
 * oneDNN's blocked layouts from kernel to kernel:
 *   x[N,3] -conv,relu-> a[32] -conv,bn,+a,relu-> b[32] -maxpool-> p[32]
 *   -conv 1x1-> d[20] -conv,relu-> e[48] -conv 1x1,relu-> h[48]
 *   -conv 1x1,+e,relu-> f[48] -avgpool-> q -gap-> y0
 *   e -globalmaxpool-> y1;  b -maxpool with Indices-> y2, y3
 * The residuals a and e (added by a sum post-op or, for the 1x1 conv, a
 * binary one that reads it in place), the pools' inputs and d (20
 * channels: a block and a padded one) stay blocked; the pools that take
 * the plain loop (Indices, the average's ceil_mode divisor) convert their
 * input.  Outputs must match the same model run with every
 * tensor plain, and node by node. */
static graph_model *layout_model(void)
{
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "N,3,12,12");
	weight(g, "w1", 32, 3, 3, 11);
	weight(g, "w2", 32, 32, 3, 12);
	weight(g, "w3", 20, 32, 1, 13);
	weight(g, "w4", 48, 20, 3, 14);
	weight(g, "w5", 48, 48, 1, 15);
	weight(g, "w6", 48, 48, 1, 16);
	conv(g, "conv1", "x", "w1", "c1", 3, 1, 1);
	add(g, "Relu", "relu1", "c1", "a");
	conv(g, "conv2", "a", "w2", "c2", 3, 1, 1);
	bn(g, "bn2", "c2", "n2", 32);
	const char *bn_names[] = {"bn2.s", "bn2.b", "bn2.m", "bn2.v"};
	for (int i = 0; i < 4; i++) {
		sc_tensor *t = &g->inits[g->values[val(g, bn_names[i])].init].tensor;
		fill(t, 20 + (unsigned)i);
		if (i == 3)
			for (int c = 0; c < 32; c++)
				((float *)t->data)[c] = 0.5f + fabsf(((float *)t->data)[c]);
	}
	add(g, "Add", "add2", "n2,a", "s2");
	add(g, "Relu", "relu2", "s2", "b");
	pool(g, "MaxPool", "maxpool", "b", "p", 3, 2, 1);
	conv(g, "conv3", "p", "w3", "d", 1, 1, 0);
	conv(g, "conv4", "d", "w4", "c4", 3, 1, 1);
	add(g, "Relu", "relu4", "c4", "e");
	conv(g, "conv5", "e", "w5", "c5", 1, 1, 0);
	add(g, "Relu", "relu5", "c5", "h");
	conv(g, "conv6", "h", "w6", "c6", 1, 1, 0);
	add(g, "Add", "add6", "c6,e", "s6");
	add(g, "Relu", "relu6", "s6", "f");
	/* ceil_mode's last window overhangs: the plain loop's divisor */
	graph_node *avg = pool(g, "AveragePool", "avgpool", "f", "q", 3, 2, 0);
	attr_int(avg, "ceil_mode", 1);
	attr_int(avg, "count_include_pad", 1);
	add(g, "GlobalAveragePool", "gap", "q", "y0");
	add(g, "GlobalMaxPool", "gmp", "e", "y1");
	pool(g, "MaxPool", "argmax", "b", "y2,y3", 2, 2, 0);
	const char *outs[] = {"y0", "y1", "y2", "y3"};
	for (int i = 0; i < 4; i++)
		output(g, outs[i]);
	return m;
}

static plan *layout_plan(graph_model *m, int no_fusion, int plain_layouts)
{
	plan_options opt = {.threads = 2, .no_fusion = no_fusion,
			    .plain_layouts = plain_layouts};
	plan *p;
	sc_error err = {0};
	if (plan_create(m, &opt, &p, &err))
		fail_msg("plan_create: %s", err.msg);
	return p;
}

/* Largest |a - b| of any float output relative to that output's largest
 * |b|; integer outputs (the Indices) must be equal. */
static double layout_diff(const plan *a, const plan *b)
{
	double worst = 0;
	for (int i = 0; i < plan_output_count(b); i++) {
		const sc_tensor *x = plan_output(a, i), *y = plan_output(b, i);
		assert_int_equal(x->dtype, y->dtype);
		assert_int_equal(x->numel, y->numel);
		assert_int_equal(x->nbytes, y->nbytes);
		if (y->dtype == SC_INT64) {
			assert_memory_equal(x->data, y->data, y->nbytes);
			continue;
		}
		double max_err = 0, max_ref = 0;
		for (int64_t j = 0; j < y->numel; j++) {
			double u = ((const float *)x->data)[j];
			double v = ((const float *)y->data)[j];
			max_err = fmax(max_err, fabs(u - v));
			max_ref = fmax(max_ref, fabs(v));
		}
		assert_true(max_ref > 0.1);
		worst = fmax(worst, max_err / max_ref);
	}
	return worst;
}

static void test_blocked_layouts_match_plain(void **state)
{
	(void)state;
	graph_model *m = layout_model();
	plan *blocked = layout_plan(m, 0, 0);
	plan *plain = layout_plan(m, 0, 1);
	plan *nodes = layout_plan(m, 1, 1);
	/* conv1+relu, conv2+bn+add+relu, maxpool, conv3, conv4+relu,
	 * conv5+relu, conv6+add+relu, avgpool, gap, gmp, argmax */
	assert_int_equal(plan_node_count(blocked), 11);
	assert_int_equal(plan_node_count(plain), 11);
	for (int n = 2; n <= 3; n++) {
		sc_tensor x;
		sc_error err = {0};
		int64_t xd[] = {n, 3, 12, 12};
		assert_int_equal(tensor_alloc(&x, SC_FLOAT, 4, xd, "x", &err), SC_OK);
		fill(&x, 40 + (unsigned)n);
		for (int round = 0; round < 2; round++) {   /* then from the arena */
			run_ok(blocked, "x", &x);
			run_ok(plain, "x", &x);
			run_ok(nodes, "x", &x);
			double e1 = layout_diff(blocked, plain);
			double e2 = layout_diff(blocked, nodes);
			if (e1 > 1e-5 || e2 > 1e-5)
				fail_msg("batch %d: blocked differs from plain by %g, "
					 "from node by node by %g", n, e1, e2);
		}
		/* d's 20 channels fill one block and part of another: the
		 * blocked plan's intermediates take more room than plain ones */
		assert_true(plan_total_bytes(blocked) > plan_total_bytes(plain));
		assert_int_equal(plan_output(blocked, 0)->dims[0], n);
		tensor_free(&x);
	}
	plan_free(blocked);
	plan_free(plain);
	plan_free(nodes);
	graph_model_free(m);
}

/* A conv with no input channels is its bias broadcast; a fused blocked
 * residual (20 channels: a block and a padded one) is still added right. */
static void test_empty_conv_blocked_residual(void **state)
{
	(void)state;
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "2,16,6,6");
	input(g, "z", SC_FLOAT, "2,0,6,6");
	weight(g, "wr", 20, 16, 3, 50);
	int64_t we_dims[] = {20, 0, 1, 1}, b_dims[] = {20};
	init_tensor(g, "we", SC_FLOAT, 4, we_dims, NULL);
	init_tensor(g, "be", SC_FLOAT, 1, b_dims, NULL);
	fill(&g->inits[g->values[val(g, "be")].init].tensor, 51);
	conv(g, "conv_r", "x", "wr", "r", 3, 1, 1);
	graph_node *n = add(g, "Conv", "conv_e", "z,we,be", "e");
	attr_ints(n, "kernel_shape", 2, 1, 1);
	add(g, "Add", "add", "e,r", "s");
	add(g, "Relu", "relu", "s", "y");
	output(g, "y");
	sc_tensor x, z;
	sc_error err = {0};
	int64_t xd[] = {2, 16, 6, 6}, zd[] = {2, 0, 6, 6};
	assert_int_equal(tensor_alloc(&x, SC_FLOAT, 4, xd, "x", &err), SC_OK);
	assert_int_equal(tensor_alloc(&z, SC_FLOAT, 4, zd, "z", &err), SC_OK);
	fill(&x, 52);
	plan *blocked = layout_plan(m, 0, 0), *plain = layout_plan(m, 0, 1);
	plan *nodes = layout_plan(m, 1, 1);
	assert_int_equal(plan_node_count(blocked), 2);
	const char *nm[] = {"x", "z"};
	const sc_tensor *ins[] = {&x, &z};
	for (int round = 0; round < 2; round++) {
		if (plan_run(blocked, 2, nm, ins, &err) ||
		    plan_run(plain, 2, nm, ins, &err) ||
		    plan_run(nodes, 2, nm, ins, &err))
			fail_msg("plan_run: %s", err.msg);
		double e1 = layout_diff(blocked, plain);
		double e2 = layout_diff(blocked, nodes);
		if (e1 > 1e-5 || e2 > 1e-5)
			fail_msg("blocked differs from plain by %g, from node by node by %g",
				 e1, e2);
	}
	assert_true(plan_total_bytes(blocked) > plan_total_bytes(plain));
	tensor_free(&x);
	tensor_free(&z);
	plan_free(blocked);
	plan_free(plain);
	plan_free(nodes);
	graph_model_free(m);
}

static plan *plan_with(graph_model *m, const plan_options *opt)
{
	plan *p;
	sc_error err = {0};
	if (plan_create(m, opt, &p, &err))
		fail_msg("plan_create: %s", err.msg);
	return p;
}

/* Runs p on x and returns the status, with the message in err. */
static int run_rc(plan *p, const char *name, const sc_tensor *x, sc_error *err)
{
	const char *names[] = {name};
	const sc_tensor *ins[] = {x};
	memset(err, 0, sizeof *err);
	return plan_run(p, 1, names, ins, err);
}

static void expect_msg(const sc_error *err, const char *part)
{
	if (!strstr(err->msg, part))
		fail_msg("error '%s' lacks '%s'", err->msg, part);
}

/* check_numerics names the node that made the first NaN or infinity, and
 * where, in logical order even when the value is held blocked (20
 * channels: one full block and a padded one). */
static void test_check_numerics(void **state)
{
	(void)state;
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "2,16,4,4");
	/* 1x1 conv: output channel c copies input channel c (c < 16) */
	int64_t wd[] = {20, 16, 1, 1};
	init_tensor(g, "w", SC_FLOAT, 4, wd, NULL);
	float *w = g->inits[g->values[val(g, "w")].init].tensor.data;
	for (int c = 0; c < 16; c++)
		w[c * 16 + c] = c == 5 ? 1e10f : 1.0f;
	conv(g, "conv", "x", "w", "y", 1, 1, 0);
	add(g, "Relu", "relu", "y", "r");
	int64_t w2d[] = {16, 20, 1, 1};
	init_tensor(g, "w2", SC_FLOAT, 4, w2d, NULL);
	float *w2 = g->inits[g->values[val(g, "w2")].init].tensor.data;
	for (int c = 0; c < 16; c++)
		w2[c * 20 + c] = 1.0f;
	conv(g, "conv2", "r", "w2", "z", 1, 1, 0);
	add(g, "Exp", "exp", "z", "l");
	output(g, "l");
	sc_tensor x;
	sc_error err = {0};
	int64_t xd[] = {2, 16, 4, 4};
	assert_int_equal(tensor_alloc(&x, SC_FLOAT, 4, xd, "x", &err), SC_OK);
	float *xv = x.data;
	/* y = x on channels 0-15 (channel 5 scaled by 1e10, fed -1e-12),
	 * 0 on 16-19; everything stays finite */
	for (int64_t i = 0; i < x.numel; i++)
		xv[i] = i / 16 % 16 == 5 ? -1e-12f : -0.1f - 0.01f * (float)(i % 7);
	/* node by node, so that y exists (blocked when layouts may be) */
	plan_options checked = {.threads = 2, .no_fusion = 1, .check_numerics = 1};
	plan_options plain = {.threads = 2, .no_fusion = 1};
	for (int blocked = 0; blocked < 2; blocked++) {
		checked.plain_layouts = plain.plain_layouts = !blocked;
		plan *p = plan_with(m, &checked), *q = plan_with(m, &plain);
		for (int round = 0; round < 2; round++) {   /* heap, then arena */
			assert_int_equal(run_rc(p, "x", &x, &err), SC_OK);
			assert_int_equal(plan_blocked_values(p) > 0, blocked);
			/* x[1, 5, 2, 3] * 1e10 overflows in y only */
			xv[((1 * 16 + 5) * 4 + 2) * 4 + 3] = 1e30f;
			assert_int_equal(run_rc(p, "x", &x, &err), SC_ENUMERIC);
			expect_msg(&err, "node 'conv' (Conv) produced an infinity in output 'y' at [1, 5, 2, 3]");
			/* unchecked, the run goes through */
			assert_int_equal(run_rc(q, "x", &x, &err), SC_OK);
			xv[((1 * 16 + 5) * 4 + 2) * 4 + 3] = -1e-12f;
			/* exp(100) overflows float */
			xv[((0 * 16 + 2) * 4 + 1) * 4 + 0] = 100.0f;
			assert_int_equal(run_rc(p, "x", &x, &err), SC_ENUMERIC);
			expect_msg(&err, "node 'exp' (Exp) produced an infinity in output 'l' at [0, 2, 1, 0]");
			xv[((0 * 16 + 2) * 4 + 1) * 4 + 0] = NAN;
			assert_int_equal(run_rc(p, "x", &x, &err), SC_ENUMERIC);
			expect_msg(&err, "input 'x' holds NaN at [0, 2, 1, 0]");
			xv[((0 * 16 + 2) * 4 + 1) * 4 + 0] = -0.1f;
		}
		plan_free(p);
		plan_free(q);
	}
	tensor_free(&x);
	graph_model_free(m);
}

/* max_memory counts the weights at plan_create and each activation before
 * it is allocated. */
static void test_max_memory(void **state)
{
	(void)state;
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "256,1024");
	int64_t wd[] = {256, 1024};
	init_tensor(g, "w", SC_FLOAT, 2, wd, NULL);       /* 1 MiB */
	add(g, "Add", "add", "x,w", "y");                 /* 1 MiB */
	add(g, "Relu", "relu", "y", "r");                 /* 1 MiB */
	output(g, "r");
	const size_t mib = 1024 * 1024;
	plan_options opt = {.threads = 1, .max_memory = mib / 2};
	plan *p;
	sc_error err = {0};
	assert_int_equal(plan_create(m, &opt, &p, &err), SC_ENOMEM);
	expect_msg(&err, "the model's weights take 1.0 MiB, above the memory limit of 0.5 MiB");
	opt.max_memory = 1 * mib;
	opt.mem_outside = mib / 4;
	memset(&err, 0, sizeof err);
	assert_int_equal(plan_create(m, &opt, &p, &err), SC_ENOMEM);
	opt.mem_outside = 0;
	opt.max_memory = 2 * mib + mib / 2;
	p = plan_with(m, &opt);
	sc_tensor x;
	assert_int_equal(tensor_alloc(&x, SC_FLOAT, 2, wd, "x", &err), SC_OK);
	fill(&x, 3);
	assert_int_equal(run_rc(p, "x", &x, &err), SC_ENOMEM);
	expect_msg(&err, "memory limit of 2.5 MiB exceeded: activation 'r' needs 1.0 MiB");
	plan_free(p);
	/* the first run peaks at 3 MiB (weights, y and r); the arena (y and
	 * r) then comes while r's first-run buffer is still the output */
	opt.max_memory = 3 * mib + mib / 2;
	p = plan_with(m, &opt);
	assert_int_equal(run_rc(p, "x", &x, &err), SC_ENOMEM);
	expect_msg(&err, "memory limit of 3.5 MiB exceeded: the activation arena needs 2.0 MiB");
	plan_free(p);
	opt.max_memory = 4 * mib;
	p = plan_with(m, &opt);
	for (int round = 0; round < 3; round++)
		assert_int_equal(run_rc(p, "x", &x, &err), SC_OK);
	assert_true(plan_memory_peak(p) >= 3 * mib);
	assert_true(plan_memory_peak(p) <= opt.max_memory);
	plan_free(p);
	tensor_free(&x);
	graph_model_free(m);
}

/* The outputs of a shape's first run move into the arena once it is
 * made: from then on the plan holds the weights and the arena only, not
 * first-run buffers on top of it through the next run. */
static void test_outputs_move_to_arena(void **state)
{
	(void)state;
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "256,1024");
	int64_t wd[] = {256, 1024};
	init_tensor(g, "w", SC_FLOAT, 2, wd, NULL);       /* 1 MiB */
	fill(&g->inits[g->values[val(g, "w")].init].tensor, 7);
	add(g, "Add", "add", "x,w", "y");                 /* 1 MiB */
	add(g, "Relu", "relu", "y", "r");                 /* 1 MiB */
	output(g, "r");
	const size_t mib = 1024 * 1024;
	plan *p = make_plan(m, 1);
	sc_tensor x;
	sc_error err = {0};
	assert_int_equal(tensor_alloc(&x, SC_FLOAT, 2, wd, "x", &err), SC_OK);
	const float *w = g->inits[g->values[val(g, "w")].init].tensor.data;
	for (int round = 0; round < 3; round++) {
		fill(&x, 11 + round);
		run_ok(p, "x", &x);
		/* y and r overlap at the Relu: a 2 MiB arena beside 1 MiB of w */
		assert_int_equal(plan_arena_bytes(p), 2 * mib);
		assert_int_equal(plan_memory_bytes(p), 3 * mib);
		const sc_tensor *r = plan_output(p, 0);
		for (int64_t i = 0; i < x.numel; i++) {
			float v = ((float *)x.data)[i] + w[i];
			assert_true(((const float *)r->data)[i] == (v > 0 ? v : 0));
		}
	}
	assert_int_equal(plan_memory_peak(p), 4 * mib);  /* during the first run */
	tensor_free(&x);
	plan_free(p);
	graph_model_free(m);
}

/* The first run of a shape keeps a large kernel scratch only while its
 * node runs, as the arena does: a SupConLoss whose 4 MiB of scratch
 * (the M x M similarities) comes before an 8 MiB activation must not
 * make the first run hold both.  Its peak is then what the plan holds
 * after it (weights, arena, small scratch), plus the output it still
 * held when the arena was made. */
static void test_first_run_frees_large_scratch(void **state)
{
	(void)state;
	graph_model *m = model(13);
	add_opset(m, "ai.supcon", 1);
	graph *g = m->graph;
	input(g, "f", SC_FLOAT, "1024,8");
	input(g, "labels", SC_INT64, "1024");
	int in[2] = {val(g, "f"), val(g, "labels")}, out[1] = {val(g, "loss")};
	sc_error err = {0};
	assert_true(graph_add_node(g, "SupConLoss", "ai.supcon", "supcon", 2, in, 1,
				   out, &err) >= 0);
	add(g, "Add", "shift", "f,loss", "f2");          /* after the loss */
	init_ints(g, "reps", 2, 1, 256);
	add(g, "Tile", "tile", "f2,reps", "big");        /* [1024, 2048]: 8 MiB */
	add(g, "ReduceSum", "sum", "big", "total");
	add(g, "Add", "out", "total,loss", "y");
	output(g, "y");
	plan *p = make_plan(m, 1);
	int64_t fd[] = {1024, 8}, ld[] = {1024};
	sc_tensor f, labels;
	assert_int_equal(tensor_alloc(&f, SC_FLOAT, 2, fd, "f", &err), SC_OK);
	assert_int_equal(tensor_alloc(&labels, SC_INT64, 1, ld, "labels", &err), SC_OK);
	fill(&f, 9);
	for (int i = 0; i < 1024; i++)
		((int64_t *)labels.data)[i] = i % 10;
	const char *names[] = {"f", "labels"};
	const sc_tensor *ins[] = {&f, &labels};
	assert_int_equal(plan_run(p, 2, names, ins, &err), SC_OK);
	float first = *(const float *)plan_output(p, 0)->data;
	size_t after = plan_memory_bytes(p), peak = plan_memory_peak(p);
	print_message("first run peak %zu bytes, held after it %zu (arena %zu)\n",
		      peak, after, plan_arena_bytes(p));
	assert_true(plan_arena_bytes(p) < (9u << 20));
	assert_true(peak <= after + 64);
	/* and the arena's runs compute what the first run did */
	for (int round = 0; round < 2; round++) {
		assert_int_equal(plan_run(p, 2, names, ins, &err), SC_OK);
		assert_true(*(const float *)plan_output(p, 0)->data == first);
	}
	assert_true(isfinite(first));
	tensor_free(&f);
	tensor_free(&labels);
	plan_free(p);
	graph_model_free(m);
}

/* VmRSS or VmHWM of this process in bytes, or -1. */
static long long proc_status_bytes(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return -1;
	char line[256];
	long long kb = -1;
	size_t len = strlen(key);
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, key, len) && line[len] == ':')
			kb = strtoll(line + len + 1, NULL, 10);
	fclose(f);
	return kb < 0 ? -1 : kb * 1024;
}

/* The first run of a shape holds each activation in a buffer of its own
 * and frees it after its last reader; the process's peak RSS must follow
 * what the plan holds (plan_memory_peak), not what it ever held.  The
 * worst case for an allocator that keeps freed heap pages resident: once
 * a large temporary has raised glibc's mmap threshold above the rest,
 * temporaries t_i of growing size, each followed by a value s_i = Relu(t_i)
 * that lives to the end, so that every freed t_i is a hole between two
 * s's that nothing later fits in (a training step's forward pass: saved
 * activations between dying ones).  Kept in glibc's heap, the holes
 * would stay resident on top of what the plan holds (about 60 MiB more
 * here, measured). */
static void test_first_run_rss_follows_plan(void **state)
{
	(void)state;
#if defined(__SANITIZE_ADDRESS__)
	skip();   /* ASan's allocator and shadow memory are another matter */
#endif
	FILE *reset = fopen("/proc/self/clear_refs", "w");
	if (!reset || proc_status_bytes("VmHWM") < 0) {
		if (reset)
			fclose(reset);
		skip();   /* no way to read and reset the peak here */
	}
	enum { N = 16384, STEPS = 32 };   /* x: 64 KiB */
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "1,16384");
	init_ints(g, "reps_big", 2, 1, 128);
	add(g, "Tile", "tile_big", "x,reps_big", "big");        /* 8 MiB */
	add(g, "ReduceSum", "sum_big", "big", "acc_big");
	for (int i = 0; i < STEPS; i++) {
		/* t_i: x tiled 16 + i times, 1 MiB + i * 64 KiB */
		char reps[32], tile[48], t[32], sv[32];
		snprintf(reps, sizeof reps, "reps%d", i);
		snprintf(tile, sizeof tile, "x,%s", reps);
		snprintf(t, sizeof t, "t%d", i);
		snprintf(sv, sizeof sv, "s%d", i);
		init_ints(g, reps, 2, 1, 16 + i);
		add(g, "Tile", t, tile, t);
		add(g, "Relu", sv, t, sv);
	}
	char prev[32] = "acc_big";
	for (int i = 0; i < STEPS; i++) {
		char sv[32], k[32], acc[32], ins[64];
		snprintf(sv, sizeof sv, "s%d", i);
		snprintf(k, sizeof k, "k%d", i);
		snprintf(acc, sizeof acc, "acc%d", i);
		snprintf(ins, sizeof ins, "%s,%s", prev, k);
		add(g, "ReduceSum", k, sv, k);
		add(g, "Add", acc, ins, acc);
		strcpy(prev, acc);
	}
	output(g, prev);
	plan *p = make_plan(m, 1);
	sc_tensor x;
	sc_error err = {0};
	int64_t dims[] = {1, N};
	assert_int_equal(tensor_alloc(&x, SC_FLOAT, 2, dims, "x", &err), SC_OK);
	fill(&x, 5);
	double sum = 0, relu_sum = 0;
	for (int64_t i = 0; i < x.numel; i++) {
		float v = ((float *)x.data)[i];
		sum += v;
		relu_sum += v > 0 ? v : 0;
	}
	double want = 128 * sum + (16.0 * STEPS + STEPS * (STEPS - 1) / 2) * relu_sum;

	fputs("5", reset);    /* VmHWM := VmRSS */
	fclose(reset);
	long long before = proc_status_bytes("VmRSS");
	run_ok(p, "x", &x);
	long long grown = proc_status_bytes("VmHWM") - before;
	size_t held = plan_memory_peak(p);
	print_message("first run: peak RSS grew %.1f MiB; the plan held at most %.1f MiB\n",
		      grown / 1048576.0, held / 1048576.0);
	assert_true(grown <= (long long)held + (16 << 20));
	double got = *(const float *)plan_output(p, 0)->data;
	assert_true(fabs(got - want) <= 1e-4 * (fabs(want) + relu_sum));
	tensor_free(&x);
	plan_free(p);
	graph_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arena_reuse_and_no_allocation),
		cmocka_unit_test(test_input_checks),
		cmocka_unit_test(test_unsupported_ops_listed),
		cmocka_unit_test(test_conv_fusions_match),
		cmocka_unit_test(test_blocked_layouts_match_plain),
		cmocka_unit_test(test_empty_conv_blocked_residual),
		cmocka_unit_test(test_check_numerics),
		cmocka_unit_test(test_max_memory),
		cmocka_unit_test(test_outputs_move_to_arena),
		cmocka_unit_test(test_first_run_frees_large_scratch),
		cmocka_unit_test(test_first_run_rss_follows_plan),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
