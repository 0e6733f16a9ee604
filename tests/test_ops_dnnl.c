/* test_ops_dnnl.c: the oneDNN-backed kernels (ops/conv.c, batchnorm.c,
 * pool.c, gemm.c).
 *
 * ONNX's own cases are tiny and mostly one channel.  These cover what they
 * do not: channel counts that make oneDNN pick blocked layouts (and so the
 * reorders of ops/dnnl_util.c), grouped and dilated convolutions with
 * asymmetric pads, constant weights converted once next to weights that
 * change between runs, fused residual + Relu post-ops on a blocked output,
 * MaxPool's Indices in 3-D with storage_order, AveragePool's divisor under
 * ceil_mode with count_include_pad, BatchNormalization's training
 * statistics and spatial=0, Gemm's alpha/beta/C broadcasts and K = 0,
 * MatMul's batch broadcasting with 1-D operands and integer types, and the
 * plain-loop paths for dtypes oneDNN does not cover.  Every expected value
 * comes from a naive loop written here in double. */
#define _GNU_SOURCE   /* RTLD_NEXT */
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dnnl.h>

#include "model_builder.h"
#include "op_harness.h"

/* --- counting allocations ----------------------------------------------------
 * count_allocs.h proves that a run allocated nothing: primitives, memory
 * objects and converted weights belong to prepare, scratch to the plan.
 * dnnl_primitive_execute() itself keeps its argument map in a small
 * std::unordered_map for the length of the call, which no API avoids; it
 * is interposed too, and what it allocates is not counted. */
#include "count_allocs.h"

#ifdef COUNT_ALLOCS
dnnl_status_t dnnl_primitive_execute(const_dnnl_primitive_t prim,
				     dnnl_stream_t stream, int nargs,
				     const dnnl_exec_arg_t *args)
{
	static dnnl_status_t (*real)(const_dnnl_primitive_t, dnnl_stream_t, int,
				     const dnnl_exec_arg_t *);
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "dnnl_primitive_execute");
	if (!real)
		return dnnl_runtime_error;
	allocs_uncounted++;
	dnnl_status_t st = real(prim, stream, nargs, args);
	allocs_uncounted--;
	return st;
}
#endif

/* --- tensors ---------------------------------------------------------------- */

static sc_tensor make_dims(int dtype, const char *shape)
{
	int64_t dims[SC_MAX_RANK];
	int rank = parse_dims(shape, dims);
	return make(dtype, rank, dims);
}

static double get(const sc_tensor *t, int64_t i)
{
	switch (t->dtype) {
	case SC_FLOAT: return ((const float *)t->data)[i];
	case SC_DOUBLE: return ((const double *)t->data)[i];
	case SC_FLOAT16: return tensor_half_to_float(((const uint16_t *)t->data)[i]);
	case SC_INT32: return ((const int32_t *)t->data)[i];
	case SC_INT64: return (double)((const int64_t *)t->data)[i];
	default: fail_msg("dtype %d not handled by the test", t->dtype);
	}
	return 0;
}

static void set(sc_tensor *t, int64_t i, double v)
{
	switch (t->dtype) {
	case SC_FLOAT: ((float *)t->data)[i] = (float)v; break;
	case SC_DOUBLE: ((double *)t->data)[i] = v; break;
	case SC_FLOAT16: ((uint16_t *)t->data)[i] = tensor_float_to_half((float)v); break;
	case SC_INT32: ((int32_t *)t->data)[i] = (int32_t)v; break;
	case SC_INT64: ((int64_t *)t->data)[i] = (int64_t)v; break;
	default: fail_msg("dtype %d not handled by the test", t->dtype);
	}
}

/* Uniform values in [lo, hi), or small integers for integer dtypes. */
static void fill(sc_tensor *t, unsigned seed, double lo, double hi)
{
	for (int64_t i = 0; i < t->numel; i++) {
		seed = seed * 1664525u + 1013904223u;
		double u = (double)((seed >> 8) & 0xffff) / 65536.0;
		double v = lo + (hi - lo) * u;
		set(t, i, tensor_dtype_is_float(t->dtype) ? v : floor(v));
	}
}

/* got within atol + rtol * |want| of want, element by element. */
static void expect_close(const sc_tensor *got, const sc_tensor *want,
			 double rtol, double atol, const char *what)
{
	assert_int_equal(got->dtype, want->dtype);
	assert_int_equal(got->rank, want->rank);
	for (int i = 0; i < got->rank; i++)
		if (got->dims[i] != want->dims[i])
			fail_msg("%s: dim %d is %lld, expected %lld", what, i,
				 (long long)got->dims[i], (long long)want->dims[i]);
	for (int64_t i = 0; i < want->numel; i++) {
		double g = get(got, i), w = get(want, i);
		if (!(fabs(g - w) <= atol + rtol * fabs(w)))
			fail_msg("%s: element %lld is %.9g, expected %.9g", what,
				 (long long)i, g, w);
	}
}

/* --- convolution ------------------------------------------------------------ */

typedef struct geom {
	int ns;
	int64_t k[3], s[3], d[3], pl[3], pr[3];
} geom;

/* Y of Conv computed directly from its definition; pads are explicit. */
static sc_tensor conv_ref(const sc_tensor *x, const sc_tensor *w,
			  const sc_tensor *b, int64_t group, const geom *gm)
{
	int ns = gm->ns;
	int64_t n = x->dims[0], c = x->dims[1], m = w->dims[0], cg = c / group;
	int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, ydims[5] = {n, m};
	for (int i = 0; i < ns; i++) {
		in[i] = x->dims[2 + i];
		out[i] = (in[i] + gm->pl[i] + gm->pr[i] - (gm->k[i] - 1) * gm->d[i] - 1) /
			 gm->s[i] + 1;
		ydims[2 + i] = out[i];
	}
	sc_tensor y = make(x->dtype, 2 + ns, ydims);
	int64_t k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, d[3] = {1, 1, 1}, p[3] = {0};
	for (int i = 0; i < ns; i++) {
		k[i] = gm->k[i];
		s[i] = gm->s[i];
		d[i] = gm->d[i];
		p[i] = gm->pl[i];
	}
	int64_t at = 0;
	for (int64_t bn = 0; bn < n; bn++)
	for (int64_t oc = 0; oc < m; oc++)
	for (int64_t o0 = 0; o0 < out[0]; o0++)
	for (int64_t o1 = 0; o1 < out[1]; o1++)
	for (int64_t o2 = 0; o2 < out[2]; o2++) {
		double acc = b ? get(b, oc) : 0;
		int64_t g0 = oc / (m / group);
		for (int64_t ic = 0; ic < cg; ic++)
		for (int64_t a0 = 0; a0 < k[0]; a0++)
		for (int64_t a1 = 0; a1 < k[1]; a1++)
		for (int64_t a2 = 0; a2 < k[2]; a2++) {
			int64_t i0 = o0 * s[0] - p[0] + a0 * d[0];
			int64_t i1 = o1 * s[1] - p[1] + a1 * d[1];
			int64_t i2 = o2 * s[2] - p[2] + a2 * d[2];
			if (i0 < 0 || i0 >= in[0] || i1 < 0 || i1 >= in[1] ||
			    i2 < 0 || i2 >= in[2])
				continue;
			int64_t xi = (((bn * c + g0 * cg + ic) * in[0] + i0) * in[1] + i1) *
				     in[2] + i2;
			int64_t wi = (((oc * cg + ic) * k[0] + a0) * k[1] + a1) * k[2] + a2;
			acc += get(x, xi) * get(w, wi);
		}
		set(&y, at++, acc);
	}
	return y;
}

/* kernel_shape, strides, dilations (unless gm->d[0] is 0) and pads. */
static void geom_attrs(graph_node *n, const geom *gm)
{
	sc_error err = {0};
	const char *names[] = {"kernel_shape", "strides", "dilations", "pads"};
	const int64_t *vals[] = {gm->k, gm->s, gm->d};
	for (int j = 0; j < 4; j++) {
		if (j == 2 && gm->d[0] == 0)
			continue;     /* no dilations attribute */
		graph_attr *a = graph_node_add_attr(n, names[j], ATTR_INTS, &err);
		assert_non_null(a);
		a->n = j < 3 ? gm->ns : 2 * gm->ns;
		a->ints = calloc((size_t)a->n, sizeof *a->ints);
		assert_non_null(a->ints);
		for (int i = 0; i < gm->ns; i++) {
			if (j < 3) {
				a->ints[i] = vals[j][i];
			} else {
				a->ints[i] = gm->pl[i];
				a->ints[gm->ns + i] = gm->pr[i];
			}
		}
	}
}

static void conv_attrs(graph_node *n, int64_t group, const geom *gm)
{
	attr_int(n, "group", group);
	geom_attrs(n, gm);
}

/* 32+ channels make oneDNN choose blocked layouts for W (and X, Y when it
 * may), so the reorders run; group 2 with dilation, stride and asymmetric
 * pads.  W is an initializer (converted once) in one plan and a graph input
 * whose values change between runs in the other: both must track X and W. */
static void test_conv_grouped_blocked(void **state)
{
	(void)state;
	geom gm = {.ns = 2, .k = {3, 3}, .s = {2, 1}, .d = {2, 1},
		   .pl = {1, 2}, .pr = {0, 1}};
	sc_tensor x = make_dims(SC_FLOAT, "2,32,17,13");
	sc_tensor w = make_dims(SC_FLOAT, "48,16,3,3");
	sc_tensor b = make_dims(SC_FLOAT, "48");
	fill(&b, 3, -1, 1);
	for (int constant = 0; constant < 2; constant++) {
		fill(&x, 1, -1, 1);
		fill(&w, 2, -0.5, 0.5);
		one_node o;
		const sc_tensor *ins[] = {&x, &w, &b};
		graph_node *n = one_begin_const(&o, 13, "Conv", 3, ins,
						constant ? 0x6 : 0, 1);
		conv_attrs(n, 2, &gm);
		for (int round = 0; round < 3; round++) {
			if (round) {
				fill(&x, 10 + round, -2, 2);
				if (!constant)
					fill(&w, 20 + round, -1, 1);
			}
			one_run_ok(&o);
			sc_tensor want = conv_ref(&x, &w, &b, 2, &gm);
			expect_close(one_out(&o, 0), &want, 1e-4, 1e-4,
				     constant ? "conv, constant W" : "conv, W input");
			tensor_free(&want);
		}
		one_end(&o);
	}
	tensor_free(&x);
	tensor_free(&w);
	tensor_free(&b);
}

/* Depthwise with a channel multiplier and no bias; 1-D with SAME_LOWER and
 * stride 2; 3-D with SAME_UPPER. */
static void test_conv_depthwise_1d_3d(void **state)
{
	(void)state;
	{
		geom gm = {.ns = 2, .k = {3, 3}, .s = {1, 1}, .d = {1, 1},
			   .pl = {1, 1}, .pr = {1, 1}};
		sc_tensor x = make_dims(SC_FLOAT, "3,24,9,10");
		sc_tensor w = make_dims(SC_FLOAT, "48,1,3,3");
		fill(&x, 4, -1, 1);
		fill(&w, 5, -1, 1);
		one_node o;
		const sc_tensor *ins[] = {&x, &w};
		conv_attrs(one_begin_const(&o, 11, "Conv", 2, ins, 0x2, 1), 24, &gm);
		one_run_ok(&o);
		sc_tensor want = conv_ref(&x, &w, NULL, 24, &gm);
		expect_close(one_out(&o, 0), &want, 1e-4, 1e-5, "depthwise");
		tensor_free(&want);
		one_end(&o);
		tensor_free(&x);
		tensor_free(&w);
	}
	{
		/* in 11, k 4, stride 2: out 6, total pad 2*5+4-11 = 3, LOWER puts 2 first */
		geom gm = {.ns = 1, .k = {4}, .s = {2}, .d = {1}, .pl = {2}, .pr = {1}};
		sc_tensor x = make_dims(SC_FLOAT, "2,5,11");
		sc_tensor w = make_dims(SC_FLOAT, "7,5,4");
		sc_tensor b = make_dims(SC_FLOAT, "7");
		fill(&x, 6, -1, 1);
		fill(&w, 7, -1, 1);
		fill(&b, 8, -1, 1);
		one_node o;
		const sc_tensor *ins[] = {&x, &w, &b};
		graph_node *n = one_begin(&o, 13, "Conv", 3, ins, 1);
		attr_str(n, "auto_pad", "SAME_LOWER");
		attr_ints(n, "strides", 1, 2);
		one_run_ok(&o);
		sc_tensor want = conv_ref(&x, &w, &b, 1, &gm);
		assert_int_equal(want.dims[2], 6);
		expect_close(one_out(&o, 0), &want, 1e-4, 1e-5, "1-D SAME_LOWER");
		tensor_free(&want);
		one_end(&o);
		tensor_free(&x);
		tensor_free(&w);
		tensor_free(&b);
	}
	{
		/* each axis: in 5, k 2, stride 1 -> total pad 1, UPPER puts it last */
		geom gm = {.ns = 3, .k = {2, 2, 2}, .s = {1, 1, 1}, .d = {1, 1, 1},
			   .pl = {0, 0, 0}, .pr = {1, 1, 1}};
		sc_tensor x = make_dims(SC_FLOAT, "1,4,5,5,5");
		sc_tensor w = make_dims(SC_FLOAT, "3,4,2,2,2");
		fill(&x, 9, -1, 1);
		fill(&w, 10, -1, 1);
		one_node o;
		const sc_tensor *ins[] = {&x, &w};
		attr_str(one_begin_const(&o, 13, "Conv", 2, ins, 0x2, 1), "auto_pad",
			 "SAME_UPPER");
		one_run_ok(&o);
		sc_tensor want = conv_ref(&x, &w, NULL, 1, &gm);
		expect_close(one_out(&o, 0), &want, 1e-4, 1e-5, "3-D SAME_UPPER");
		tensor_free(&want);
		one_end(&o);
		tensor_free(&x);
		tensor_free(&w);
	}
}

/* Conv -> Add(r) -> Relu, fused by the planner into sum and eltwise
 * post-ops on a 64-channel output (a blocked layout when oneDNN may). */
static void test_conv_fused_residual_relu(void **state)
{
	(void)state;
	geom gm = {.ns = 2, .k = {3, 3}, .s = {1, 1}, .d = {1, 1},
		   .pl = {1, 1}, .pr = {1, 1}};
	sc_tensor x = make_dims(SC_FLOAT, "2,32,8,8");
	sc_tensor w = make_dims(SC_FLOAT, "64,32,3,3");
	sc_tensor r = make_dims(SC_FLOAT, "2,64,8,8");
	fill(&x, 11, -1, 1);
	fill(&w, 12, -0.2, 0.2);
	fill(&r, 13, -1, 1);
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "2,32,8,8");
	input(g, "r", SC_FLOAT, "2,64,8,8");
	init_tensor(g, "w", SC_FLOAT, 4, w.dims, w.data);
	conv_attrs(add(g, "Conv", "conv", "x,w", "c"), 1, &gm);
	add(g, "Add", "add", "c,r", "s");
	add(g, "Relu", "relu", "s", "y");
	output(g, "y");
	plan *p = make_plan(m, 1);
	sc_error err = {0};
	const char *nm[] = {"x", "r"};
	const sc_tensor *ins[] = {&x, &r};
	sc_tensor want = conv_ref(&x, &w, NULL, 1, &gm);
	for (int64_t i = 0; i < want.numel; i++) {
		double v = get(&want, i) + get(&r, i);
		set(&want, i, v > 0 ? v : 0);
	}
	for (int round = 0; round < 2; round++) {
		if (plan_run(p, 2, nm, ins, &err))
			fail_msg("%s", err.msg);
		expect_close(plan_output(p, 0), &want, 1e-4, 1e-5, "fused conv");
	}
	tensor_free(&want);
	plan_free(p);
	graph_model_free(m);
	tensor_free(&x);
	tensor_free(&w);
	tensor_free(&r);
}

static void test_conv_bad_inputs(void **state)
{
	(void)state;
	sc_tensor x = make_dims(SC_FLOAT, "1,3,5,5");
	sc_tensor w = make_dims(SC_FLOAT, "4,2,3,3");
	one_node o;
	const sc_tensor *ins[] = {&x, &w};
	one_begin(&o, 13, "Conv", 2, ins, 1);
	sc_error err = {0};
	int rc = one_run(&o, &err);
	assert_int_equal(rc, SC_EINVAL);
	assert_non_null(strstr(err.msg, "node"));
	assert_non_null(strstr(err.msg, "Conv"));
	one_end(&o);
	tensor_free(&x);
	tensor_free(&w);
}

/* --- pooling ---------------------------------------------------------------- */

/* MaxPool or AveragePool on [N, C, D...] from the definition: the divisor
 * with count_include_pad counts taps inside the declared pads only. */
static void pool_ref(const sc_tensor *x, const geom *gm, int avg,
		     int include_pad, int storage_order, sc_tensor *y,
		     sc_tensor *idx)
{
	int ns = gm->ns;
	int64_t planes = x->dims[0] * x->dims[1];
	int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1};
	for (int i = 0; i < ns; i++) {
		in[i] = x->dims[2 + i];
		out[i] = y->dims[2 + i];
	}
	int64_t at = 0, per = in[0] * in[1] * in[2];
	for (int64_t p = 0; p < planes; p++)
	for (int64_t o0 = 0; o0 < out[0]; o0++)
	for (int64_t o1 = 0; o1 < out[1]; o1++)
	for (int64_t o2 = 0; o2 < out[2]; o2++) {
		int64_t o[3] = {o0, o1, o2};
		double best = -INFINITY, sum = 0;
		int64_t count = 0, padded = 1, best_i[3] = {0};
		for (int i = 0; i < ns; i++) {
			int64_t taps = 0;
			for (int64_t a = 0; a < gm->k[i]; a++) {
				int64_t pos = o[i] * gm->s[i] - gm->pl[i] + a * gm->d[i];
				taps += pos >= -gm->pl[i] && pos < in[i] + gm->pr[i];
			}
			padded *= taps;
		}
		int64_t k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, d[3] = {1, 1, 1}, pl[3] = {0};
		for (int i = 0; i < ns; i++) {
			k[i] = gm->k[i];
			s[i] = gm->s[i];
			d[i] = gm->d[i];
			pl[i] = gm->pl[i];
		}
		for (int64_t a0 = 0; a0 < k[0]; a0++)
		for (int64_t a1 = 0; a1 < k[1]; a1++)
		for (int64_t a2 = 0; a2 < k[2]; a2++) {
			int64_t i0 = o0 * s[0] - pl[0] + a0 * d[0];
			int64_t i1 = o1 * s[1] - pl[1] + a1 * d[1];
			int64_t i2 = o2 * s[2] - pl[2] + a2 * d[2];
			if (i0 < 0 || i0 >= in[0] || i1 < 0 || i1 >= in[1] ||
			    i2 < 0 || i2 >= in[2])
				continue;
			double v = get(x, p * per + (i0 * in[1] + i1) * in[2] + i2);
			sum += v;
			count++;
			if (v > best) {
				best = v;
				best_i[0] = i0;
				best_i[1] = i1;
				best_i[2] = i2;
			}
		}
		set(y, at, avg ? sum / (double)(include_pad ? padded : count) : best);
		if (idx) {
			int64_t flat = storage_order ?
				best_i[0] + in[0] * (best_i[1] + in[1] * best_i[2]) :
				(best_i[0] * in[1] + best_i[1]) * in[2] + best_i[2];
			((int64_t *)idx->data)[at] = p * per + flat;
		}
		at++;
	}
}

/* 3-D MaxPool with ceil_mode, dilation and column-major Indices; big
 * enough (> 32k outputs) to take the plain loop's OpenMP path. */
static void test_maxpool_indices_3d(void **state)
{
	(void)state;
	geom gm = {.ns = 3, .k = {3, 2, 2}, .s = {2, 2, 1}, .d = {1, 2, 1},
		   .pl = {1, 0, 1}, .pr = {1, 1, 0}};
	sc_tensor x = make_dims(SC_FLOAT, "2,12,17,16,15");
	fill(&x, 14, -3, 3);
	one_node o;
	const sc_tensor *ins[] = {&x};
	graph_node *n = one_begin(&o, 12, "MaxPool", 1, ins, 2);
	geom_attrs(n, &gm);
	attr_int(n, "ceil_mode", 1);
	attr_int(n, "storage_order", 1);
	one_run_ok(&o);
	/* ceil((17+2-3)/2)+1 = 9; ceil((16+1-3)/2)+1 = 8; (15+1-2)/1+1 = 15 */
	sc_tensor want = make_dims(SC_FLOAT, "2,12,9,8,15");
	sc_tensor want_idx = make_dims(SC_INT64, "2,12,9,8,15");
	pool_ref(&x, &gm, 0, 0, 1, &want, &want_idx);
	expect_close(one_out(&o, 0), &want, 0, 0, "MaxPool values");
	expect_close(one_out(&o, 1), &want_idx, 0, 0, "MaxPool indices");
	one_end(&o);
	tensor_free(&want);
	tensor_free(&want_idx);
	tensor_free(&x);
}

/* ceil_mode adds padding past the declared pads: with count_include_pad
 * the divisor must not count it (the plain loop), without it oneDNN's
 * exclude-padding average is exact. */
static void test_avgpool_ceil_divisors(void **state)
{
	(void)state;
	geom gm = {.ns = 2, .k = {3, 3}, .s = {2, 2}, .pl = {1, 1}, .pr = {1, 1}};
	sc_tensor x = make_dims(SC_FLOAT, "2,20,8,9");
	fill(&x, 15, -1, 1);
	for (int include = 0; include < 2; include++) {
		one_node o;
		const sc_tensor *ins[] = {&x};
		graph_node *n = one_begin(&o, 11, "AveragePool", 1, ins, 1);
		geom_attrs(n, &gm);
		attr_int(n, "ceil_mode", 1);
		attr_int(n, "count_include_pad", include);
		one_run_ok(&o);
		/* ceil((8+2-3)/2)+1 = 5 (its last window starts at 7 < 8+1); 9 -> 5 */
		sc_tensor want = make_dims(SC_FLOAT, "2,20,5,5");
		gm.d[0] = gm.d[1] = 1;
		pool_ref(&x, &gm, 1, include, 0, &want, NULL);
		gm.d[0] = gm.d[1] = 0;
		expect_close(one_out(&o, 0), &want, 1e-5, 1e-6,
			     include ? "include pad" : "exclude pad");
		tensor_free(&want);
		one_end(&o);
	}
	tensor_free(&x);
}

/* Dtypes oneDNN does not take here: double AveragePool, float16 MaxPool. */
static void test_pool_other_dtypes(void **state)
{
	(void)state;
	geom gm = {.ns = 2, .k = {2, 3}, .s = {1, 2}, .pl = {0, 1}, .pr = {1, 1}};
	int dtypes[] = {SC_DOUBLE, SC_FLOAT16};
	for (int t = 0; t < 2; t++) {
		sc_tensor x = make_dims(dtypes[t], "1,3,6,7");
		fill(&x, 16 + t, -4, 4);
		one_node o;
		const sc_tensor *ins[] = {&x};
		const char *op = t ? "MaxPool" : "AveragePool";
		geom_attrs(one_begin(&o, 13, op, 1, ins, 1), &gm);
		one_run_ok(&o);
		sc_tensor want = make_dims(dtypes[t], "1,3,6,4");
		gm.d[0] = gm.d[1] = 1;
		pool_ref(&x, &gm, !t, 0, 0, &want, NULL);
		gm.d[0] = gm.d[1] = 0;
		expect_close(one_out(&o, 0), &want, 1e-12, 0, op);
		tensor_free(&want);
		one_end(&o);
		tensor_free(&x);
	}
}

static void test_global_pools(void **state)
{
	(void)state;
	const char *shapes[] = {"2,5,3,4,6", "3,7"};
	const char *yshapes[] = {"2,5,1,1,1", "3,7"};
	for (int s = 0; s < 2; s++)
	for (int avg = 0; avg < 2; avg++) {
		sc_tensor x = make_dims(SC_FLOAT, shapes[s]);
		fill(&x, 20 + s, -5, 5);
		one_node o;
		const sc_tensor *ins[] = {&x};
		one_begin(&o, 1, avg ? "GlobalAveragePool" : "GlobalMaxPool", 1,
			  ins, 1);
		one_run_ok(&o);
		sc_tensor want = make_dims(SC_FLOAT, yshapes[s]);
		int64_t planes = x.dims[0] * x.dims[1], per = x.numel / planes;
		for (int64_t p = 0; p < planes; p++) {
			double acc = avg ? 0 : -INFINITY;
			for (int64_t i = 0; i < per; i++) {
				double v = get(&x, p * per + i);
				acc = avg ? acc + v : (v > acc ? v : acc);
			}
			set(&want, p, avg ? acc / (double)per : acc);
		}
		expect_close(one_out(&o, 0), &want, 1e-5, 1e-6, "global pool");
		tensor_free(&want);
		one_end(&o);
		tensor_free(&x);
	}
}

/* --- batch normalization ---------------------------------------------------- */

/* Training step at opset 15: batch mean, biased variance, and running
 * statistics with momentum, for float32 (oneDNN) and double (plain loop). */
static void test_batchnorm_training(void **state)
{
	(void)state;
	int dtypes[] = {SC_FLOAT, SC_DOUBLE};
	for (int t = 0; t < 2; t++) {
		int dt = dtypes[t];
		sc_tensor x = make_dims(dt, "4,8,5,6");
		sc_tensor sc = make_dims(dt, "8"), bi = make_dims(dt, "8");
		sc_tensor mean = make_dims(dt, "8"), var = make_dims(dt, "8");
		fill(&x, 30, -2, 3);
		fill(&sc, 31, 0.5, 1.5);
		fill(&bi, 32, -1, 1);
		fill(&mean, 33, -1, 1);
		fill(&var, 34, 0.5, 2);
		one_node o;
		const sc_tensor *ins[] = {&x, &sc, &bi, &mean, &var};
		graph_node *n = one_begin(&o, 15, "BatchNormalization", 5, ins, 3);
		attr_int(n, "training_mode", 1);
		sc_error err = {0};
		graph_node_add_attr(n, "momentum", ATTR_FLOAT, &err)->f = 0.8f;
		graph_node_add_attr(n, "epsilon", ATTR_FLOAT, &err)->f = 1e-3f;
		one_run_ok(&o);
		sc_tensor y = make_dims(dt, "4,8,5,6");
		sc_tensor rm = make_dims(dt, "8"), rv = make_dims(dt, "8");
		for (int64_t c = 0; c < 8; c++) {
			double s = 0, q = 0;
			for (int64_t b = 0; b < 4; b++)
				for (int64_t i = 0; i < 30; i++)
					s += get(&x, (b * 8 + c) * 30 + i);
			double mu = s / 120;
			for (int64_t b = 0; b < 4; b++)
				for (int64_t i = 0; i < 30; i++) {
					double d = get(&x, (b * 8 + c) * 30 + i) - mu;
					q += d * d;
				}
			double v = q / 120;
			for (int64_t b = 0; b < 4; b++)
				for (int64_t i = 0; i < 30; i++) {
					int64_t at = (b * 8 + c) * 30 + i;
					set(&y, at, get(&sc, c) * (get(&x, at) - mu) /
						    sqrt(v + (double)1e-3f) + get(&bi, c));
				}
			set(&rm, c, get(&mean, c) * (double)0.8f + mu * (1 - (double)0.8f));
			set(&rv, c, get(&var, c) * (double)0.8f + v * (1 - (double)0.8f));
		}
		double tol = dt == SC_FLOAT ? 1e-4 : 1e-12;
		expect_close(one_out(&o, 0), &y, tol, tol, "training Y");
		expect_close(one_out(&o, 1), &rm, tol, tol, "running_mean");
		expect_close(one_out(&o, 2), &rv, tol, tol, "running_var");
		one_end(&o);
		sc_tensor *all[] = {&x, &sc, &bi, &mean, &var, &y, &rm, &rv};
		for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
			tensor_free(all[i]);
	}
}

/* Opset 7 with spatial = 0: statistics per element of a sample. */
static void test_batchnorm_spatial0(void **state)
{
	(void)state;
	sc_tensor x = make_dims(SC_FLOAT, "3,2,4");
	sc_tensor p[4];
	for (int i = 0; i < 4; i++) {
		p[i] = make_dims(SC_FLOAT, "2,4");
		fill(&p[i], 40 + (unsigned)i, i == 3 ? 0.5 : -1, 1.5);
	}
	fill(&x, 44, -2, 2);
	one_node o;
	const sc_tensor *ins[] = {&x, &p[0], &p[1], &p[2], &p[3]};
	attr_int(one_begin_const(&o, 7, "BatchNormalization", 5, ins, 0x1e, 1),
		 "spatial", 0);
	one_run_ok(&o);
	sc_tensor want = make_dims(SC_FLOAT, "3,2,4");
	for (int64_t b = 0; b < 3; b++)
		for (int64_t j = 0; j < 8; j++)
			set(&want, b * 8 + j,
			    get(&p[0], j) * (get(&x, b * 8 + j) - get(&p[2], j)) /
			    sqrt(get(&p[3], j) + (double)1e-5f) + get(&p[1], j));
	expect_close(one_out(&o, 0), &want, 1e-5, 1e-6, "spatial=0");
	one_end(&o);
	tensor_free(&want);
	tensor_free(&x);
	for (int i = 0; i < 4; i++)
		tensor_free(&p[i]);
}

/* --- Gemm and MatMul -------------------------------------------------------- */

static sc_tensor gemm_ref(const sc_tensor *a, const sc_tensor *b,
			  const sc_tensor *c, int ta, int tb, double alpha,
			  double beta)
{
	int64_t m = a->dims[ta], k = a->dims[!ta], n = b->dims[!tb];
	int64_t dims[2] = {m, n};
	sc_tensor y = make(a->dtype, 2, dims);
	for (int64_t i = 0; i < m; i++)
		for (int64_t j = 0; j < n; j++) {
			double acc = 0;
			for (int64_t p = 0; p < k; p++)
				acc += get(a, ta ? p * m + i : i * k + p) *
				       get(b, tb ? j * k + p : p * n + j);
			double cv = 0;
			if (c) {
				int64_t cm = c->rank == 2 ? c->dims[0] : 1;
				int64_t cn = c->rank >= 1 ? c->dims[c->rank - 1] : 1;
				cv = get(c, (cm == 1 ? 0 : i) * cn + (cn == 1 ? 0 : j));
			}
			set(&y, i * n + j, alpha * acc + beta * cv);
		}
	return y;
}

static void test_gemm_variants(void **state)
{
	(void)state;
	struct {
		const char *a, *b, *c;
		int ta, tb, dtype;
		float alpha, beta;
	} cases[] = {
		{"70,50", "40,70", "50,1", 1, 1, SC_FLOAT, 0.5f, 2.0f},
		{"33,65", "65,17", "17", 0, 0, SC_FLOAT, 1.0f, 1.0f},
		{"33,65", "17,65", "33,17", 0, 1, SC_FLOAT, 1.0f, 1.0f},
		{"8,9", "9,5", "", 0, 0, SC_FLOAT, 1.5f, -1.0f},
		{"8,9", "9,5", NULL, 0, 0, SC_FLOAT, 3.0f, 1.0f},
		{"3,0", "0,4", "1,4", 0, 0, SC_FLOAT, 1.0f, 0.5f},
		{"6,4", "5,6", "4,5", 1, 1, SC_DOUBLE, 0.25f, 0.75f},
	};
	for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
		sc_tensor a = make_dims(cases[t].dtype, cases[t].a);
		sc_tensor b = make_dims(cases[t].dtype, cases[t].b);
		sc_tensor c = {0};
		if (cases[t].c) {
			c = make_dims(cases[t].dtype, cases[t].c);
			fill(&c, 52, -1, 1);
		}
		fill(&a, 50, -1, 1);
		fill(&b, 51, -1, 1);
		one_node o;
		const sc_tensor *ins[] = {&a, &b, cases[t].c ? &c : NULL};
		graph_node *n = one_begin_const(&o, 13, "Gemm", cases[t].c ? 3 : 2,
						ins, t % 2 ? 0x2 : 0, 1);
		attr_int(n, "transA", cases[t].ta);
		attr_int(n, "transB", cases[t].tb);
		sc_error err = {0};
		graph_node_add_attr(n, "alpha", ATTR_FLOAT, &err)->f = cases[t].alpha;
		graph_node_add_attr(n, "beta", ATTR_FLOAT, &err)->f = cases[t].beta;
		one_run_ok(&o);
		sc_tensor want = gemm_ref(&a, &b, cases[t].c ? &c : NULL, cases[t].ta,
					  cases[t].tb, cases[t].alpha, cases[t].beta);
		char what[32];
		snprintf(what, sizeof what, "gemm case %zu", t);
		expect_close(one_out(&o, 0), &want, 1e-5, 1e-5, what);
		tensor_free(&want);
		one_end(&o);
		tensor_free(&a);
		tensor_free(&b);
		tensor_free(&c);
	}
}

/* numpy.matmul from its definition: 1-D operands promoted, batch dims
 * broadcast from the right. */
static sc_tensor matmul_ref(const sc_tensor *a, const sc_tensor *b)
{
	int ra = a->rank, rb = b->rank;
	int64_t m = ra == 1 ? 1 : a->dims[ra - 2], k = a->dims[ra - 1];
	int64_t n = rb == 1 ? 1 : b->dims[rb - 1];
	int na = ra > 2 ? ra - 2 : 0, nb = rb > 2 ? rb - 2 : 0;
	int nbat = na > nb ? na : nb;
	int64_t batch[SC_MAX_RANK], ydims[SC_MAX_RANK];
	int ry = 0;
	int64_t batches = 1;
	for (int i = 0; i < nbat; i++) {
		int ia = i - (nbat - na), ib = i - (nbat - nb);
		int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
		batch[i] = da > db ? da : db;
		ydims[ry++] = batch[i];
		batches *= batch[i];
	}
	if (ra > 1)
		ydims[ry++] = m;
	if (rb > 1)
		ydims[ry++] = n;
	sc_tensor y = make(a->dtype, ry, ydims);
	for (int64_t bi = 0; bi < batches; bi++) {
		int64_t ia = 0, ib = 0, sa = 1, sb = 1, rest = bi;
		for (int i = nbat - 1; i >= 0; i--) {
			int64_t idx = rest % batch[i];
			rest /= batch[i];
			int xa = i - (nbat - na), xb = i - (nbat - nb);
			if (xa >= 0) {
				ia += (a->dims[xa] == 1 ? 0 : idx) * sa;
				sa *= a->dims[xa];
			}
			if (xb >= 0) {
				ib += (b->dims[xb] == 1 ? 0 : idx) * sb;
				sb *= b->dims[xb];
			}
		}
		for (int64_t i = 0; i < m; i++)
			for (int64_t j = 0; j < n; j++) {
				double acc = 0;
				for (int64_t p = 0; p < k; p++)
					acc += get(a, ia * m * k + i * k + p) *
					       get(b, ib * k * n + p * n + j);
				set(&y, (bi * m + i) * n + j, acc);
			}
	}
	return y;
}

static void test_matmul_broadcast(void **state)
{
	(void)state;
	struct {
		const char *a, *b;
		int dtype;
	} cases[] = {
		{"2,1,3,4", "3,4,5", SC_FLOAT},
		{"4", "2,4,3", SC_FLOAT},
		{"2,3,4", "4", SC_FLOAT},
		{"7", "7", SC_FLOAT},
		{"130,70", "70,90", SC_FLOAT},
		{"3,1,2,5", "1,4,5,3", SC_INT32},
		{"2,3,4", "4,2", SC_INT64},
		{"5,3", "2,3,6", SC_DOUBLE},
	};
	for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
		sc_tensor a = make_dims(cases[t].dtype, cases[t].a);
		sc_tensor b = make_dims(cases[t].dtype, cases[t].b);
		fill(&a, 60, -5, 5);
		fill(&b, 61, -5, 5);
		one_node o;
		const sc_tensor *ins[] = {&a, &b};
		one_begin_const(&o, 13, "MatMul", 2, ins, t % 2 ? 0x2 : 0, 1);
		one_run_ok(&o);
		sc_tensor want = matmul_ref(&a, &b);
		char what[32];
		snprintf(what, sizeof what, "matmul case %zu", t);
		double tol = tensor_dtype_is_float(cases[t].dtype) ? 1e-4 : 0;
		expect_close(one_out(&o, 0), &want, tol, tol, what);
		tensor_free(&want);
		one_end(&o);
		tensor_free(&a);
		tensor_free(&b);
	}
}

/* Every kernel of this family in one plan (Conv with converted weights and
 * blocked activations, MaxPool with Indices, BatchNormalization, global
 * pooling, MatMul, Gemm): after the first runs, a run allocates nothing. */
static void test_no_allocation_in_run(void **state)
{
	(void)state;
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "2,32,16,16");
	input(g, "a", SC_FLOAT, "4,6");
	sc_tensor w = make_dims(SC_FLOAT, "32,32,3,3");
	sc_tensor mm = make_dims(SC_FLOAT, "1,5");
	sc_tensor wg = make_dims(SC_FLOAT, "6,3");
	fill(&w, 70, -0.2, 0.2);
	fill(&mm, 71, -1, 1);
	fill(&wg, 72, -1, 1);
	init_tensor(g, "w", SC_FLOAT, 4, w.dims, w.data);
	init_tensor(g, "mm", SC_FLOAT, 2, mm.dims, mm.data);
	init_tensor(g, "wg", SC_FLOAT, 2, wg.dims, wg.data);
	geom gm = {.ns = 2, .k = {3, 3}, .s = {1, 1}, .d = {1, 1},
		   .pl = {1, 1}, .pr = {1, 1}};
	conv_attrs(add(g, "Conv", "conv", "x,w", "c"), 1, &gm);
	graph_node *n = add(g, "MaxPool", "pool", "c", "p,idx");
	attr_ints(n, "kernel_shape", 2, 2, 2);
	attr_ints(n, "strides", 2, 2, 2);
	bn(g, "bn", "p", "b", 32);
	add(g, "GlobalAveragePool", "gap", "b", "gp");
	add(g, "MatMul", "mm", "gp,mm", "y0");
	add(g, "Gemm", "gemm", "a,wg", "y1");
	const char *outs[] = {"y0", "y1", "idx"};
	for (int i = 0; i < 3; i++)
		output(g, outs[i]);
	plan *p = make_plan(m, 1);
	sc_error err = {0};
	sc_tensor x = make_dims(SC_FLOAT, "2,32,16,16");
	sc_tensor a = make_dims(SC_FLOAT, "4,6");
	fill(&x, 73, -1, 1);
	fill(&a, 74, -1, 1);
	const char *nm[] = {"x", "a"};
	const sc_tensor *ins[] = {&x, &a};
	for (int round = 0; round < 3; round++) {
#ifdef COUNT_ALLOCS
		long before = n_allocs;
#endif
		if (plan_run(p, 2, nm, ins, &err))
			fail_msg("%s", err.msg);
#ifdef COUNT_ALLOCS
		if (round == 2)
			assert_int_equal(n_allocs - before, 0);
#endif
	}
	assert_int_equal(plan_output(p, 0)->numel, 2 * 32 * 5);
	assert_int_equal(plan_output(p, 2)->dtype, SC_INT64);
	plan_free(p);
	graph_model_free(m);
	tensor_free(&x);
	tensor_free(&a);
	tensor_free(&w);
	tensor_free(&mm);
	tensor_free(&wg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conv_grouped_blocked),
		cmocka_unit_test(test_conv_depthwise_1d_3d),
		cmocka_unit_test(test_conv_fused_residual_relu),
		cmocka_unit_test(test_conv_bad_inputs),
		cmocka_unit_test(test_maxpool_indices_3d),
		cmocka_unit_test(test_avgpool_ceil_divisors),
		cmocka_unit_test(test_pool_other_dtypes),
		cmocka_unit_test(test_global_pools),
		cmocka_unit_test(test_batchnorm_training),
		cmocka_unit_test(test_batchnorm_spatial0),
		cmocka_unit_test(test_gemm_variants),
		cmocka_unit_test(test_matmul_broadcast),
		cmocka_unit_test(test_no_allocation_in_run),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
