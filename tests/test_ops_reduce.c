/* test_ops_reduce.c: kernels of ops/reduce.c and ops/softmax.c.
 *
 * ONNX's own cases (run by the conformance runner) are tiny, all float32
 * and mostly opset 13.  These cases cover what they do not: tensors large
 * enough to take the OpenMP paths, every merged-axes pattern (reduced
 * inner rows, kept inner columns, interleaved axes, one long row split
 * over threads), ReduceSum's axes input changing between runs, integer
 * and half-precision inputs, Softmax's 2-D coercion below opset 13, ties
 * in ArgMax and TopK, zero norms in LpNormalization, and the losses with
 * weights and ignore_index.  Every expected value comes from a naive loop written
 * here in double over full multi-indices, independent of the kernels'
 * merged-dims walk. */
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
#include "op_harness.h"

/* --- tensors and comparison ---------------------------------------------------- */

static sc_tensor make_i64(int n, const int64_t *v)
{
	int64_t dims[1] = {n};
	sc_tensor t = make(SC_INT64, 1, dims);
	if (n)
		memcpy(t.data, v, (size_t)n * sizeof *v);
	return t;
}

/* Float output t against want[] within |d| <= atol + rtol |want|; NaN
 * must meet NaN and infinities must be equal. */
static void expect_close(const sc_tensor *t, const double *want, double rtol,
			 double atol, const char *what)
{
	for (int64_t i = 0; i < t->numel; i++) {
		double got;
		switch (t->dtype) {
		case SC_FLOAT: got = ((const float *)t->data)[i]; break;
		case SC_DOUBLE: got = ((const double *)t->data)[i]; break;
		case SC_FLOAT16: got = tensor_half_to_float(((const uint16_t *)t->data)[i]); break;
		case SC_BFLOAT16: got = tensor_bf16_to_float(((const uint16_t *)t->data)[i]); break;
		default: fail_msg("%s: not a float output", what); return;
		}
		expect_near(got, want[i], rtol, atol, what, i);
	}
}

/* --- a naive reduction over full multi-indices ------------------------------- */

enum { K_SUM, K_MEAN, K_MAX, K_MIN, K_PROD, K_L1, K_L2, K_SUMSQ, K_LOGSUM,
       K_LSE, K_COUNT };

static const char *const kind_op[K_COUNT] = {
	"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd",
	"ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceLogSum",
	"ReduceLogSumExp",
};

/* Output position of the input element with linear index i: its
 * coordinates with the reduced axes dropped, row-major. */
static int64_t out_index(int rank, const int64_t *dims, const int *marked,
			 int64_t i)
{
	int64_t coord[SC_MAX_RANK], o = 0;
	for (int d = rank - 1; d >= 0; d--) {
		coord[d] = i % dims[d];
		i /= dims[d];
	}
	for (int d = 0; d < rank; d++)
		if (!marked[d])
			o = o * dims[d] + coord[d];
	return o;
}

/* want[n_out] = reduction `kind` of x over the marked axes. */
static void reference_reduce(int kind, const float *x, int rank,
			     const int64_t *dims, const int *marked,
			     double *want, int64_t n_out)
{
	int64_t numel = 1, count = 1;
	for (int d = 0; d < rank; d++) {
		numel *= dims[d];
		if (marked[d])
			count *= dims[d];
	}
	double *m = malloc((size_t)n_out * sizeof *m);
	assert_non_null(m);
	for (int64_t o = 0; o < n_out; o++) {
		m[o] = -INFINITY;
		want[o] = kind == K_PROD ? 1 : kind == K_MAX ? -INFINITY :
			  kind == K_MIN ? INFINITY : 0;
	}
	for (int64_t i = 0; i < numel; i++) {
		int64_t o = out_index(rank, dims, marked, i);
		if (x[i] > m[o])
			m[o] = x[i];
	}
	for (int64_t i = 0; i < numel; i++) {
		int64_t o = out_index(rank, dims, marked, i);
		double v = x[i];
		switch (kind) {
		case K_SUM: case K_MEAN: case K_LOGSUM: want[o] += v; break;
		case K_MAX: want[o] = fmax(want[o], v); break;
		case K_MIN: want[o] = fmin(want[o], v); break;
		case K_PROD: want[o] *= v; break;
		case K_L1: want[o] += fabs(v); break;
		case K_L2: case K_SUMSQ: want[o] += v * v; break;
		case K_LSE: want[o] += exp(v - m[o]); break;
		}
	}
	for (int64_t o = 0; o < n_out; o++) {
		switch (kind) {
		case K_MEAN: want[o] /= (double)count; break;
		case K_L2: want[o] = sqrt(want[o]); break;
		case K_LOGSUM: want[o] = log(want[o]); break;
		case K_LSE: want[o] = m[o] + log(want[o]); break;
		}
	}
	free(m);
}

/* Runs `kind` (axes as an attribute, opset 11) over x with the axes in
 * mask (bit d: axis d) and compares with the naive loop. */
static void check_reduce(int kind, const sc_tensor *x, unsigned mask,
			 int keep)
{
	int marked[SC_MAX_RANK], axes[SC_MAX_RANK], na = 0;
	int64_t odims[SC_MAX_RANK], n_out = 1;
	int orank = 0;
	for (int d = 0; d < x->rank; d++) {
		marked[d] = mask >> d & 1;
		if (marked[d]) {
			/* alternate positive and negative spellings */
			axes[na] = na % 2 ? d - x->rank : d;
			na++;
			if (keep)
				odims[orank++] = 1;
		} else {
			odims[orank++] = x->dims[d];
			n_out *= x->dims[d];
		}
	}
	one_node o;
	const sc_tensor *ins[] = {x};
	graph_node *n = one_begin(&o, 11, kind_op[kind], 1, ins, 1);
	sc_error err = {0};
	graph_attr *a = graph_node_add_attr(n, "axes", ATTR_INTS, &err);
	assert_non_null(a);
	a->ints = calloc((size_t)na + 1, sizeof *a->ints);
	assert_non_null(a->ints);
	for (int i = 0; i < na; i++)
		a->ints[i] = axes[i];
	a->n = na;
	attr_int(n, "keepdims", keep);
	one_run_ok(&o);
	const sc_tensor *y = one_out(&o, 0);
	expect_dims(y, orank, odims);
	double *want = malloc((size_t)n_out * sizeof *want);
	assert_non_null(want);
	reference_reduce(kind, x->data, x->rank, x->dims, marked, want, n_out);
	char what[96];
	snprintf(what, sizeof what, "%s axes mask 0x%x keepdims %d",
		 kind_op[kind], mask, keep);
	expect_close(y, want, 1e-5, 1e-6, what);
	free(want);
	one_end(&o);
}

/* [6,37,5,41] has 45510 elements, enough for the threaded loops.  The
 * masks cover a reduced inner row (0x8), kept inner columns (0x1, 0x2,
 * 0x6), interleaved axes (0x5, 0xa), all axes as one long row split
 * over threads (0xf), one column tile whose rows are split over threads
 * (0x7), and size-1 axes mixed in. */
static void test_reduce_axis_patterns(void **state)
{
	(void)state;
	int64_t dims[] = {6, 37, 5, 41};
	sc_tensor signed_x = make_uniform(4, dims, -2, 2);
	sc_tensor near_one = make_uniform(4, dims, 0.9, 1.1);
	static const unsigned masks[] = {0x8, 0x1, 0x2, 0x6, 0x5, 0xa, 0xf, 0xc,
					 0x7};
	for (int kind = 0; kind < K_COUNT; kind++)
		for (size_t i = 0; i < sizeof masks / sizeof masks[0]; i++) {
			const sc_tensor *x = kind == K_PROD || kind == K_LOGSUM ?
					     &near_one : &signed_x;
			check_reduce(kind, x, masks[i], (int)(i % 2));
		}
	/* a size-1 axis reduced or kept changes nothing but the shape */
	int64_t dims1[] = {300, 1, 129};
	sc_tensor x1 = make_uniform(3, dims1, -1, 1);
	check_reduce(K_SUM, &x1, 0x2, 1);
	check_reduce(K_MAX, &x1, 0x3, 0);
	check_reduce(K_LSE, &x1, 0x6, 1);
	tensor_free(&signed_x);
	tensor_free(&near_one);
	tensor_free(&x1);
}

/* A sum of a million values near 1e3 in float would drift by ~1e-4
 * relative; with a double accumulator it is exact to float rounding. */
static void test_reduce_long_row_accuracy(void **state)
{
	(void)state;
	int64_t dims[] = {1 << 20};
	sc_tensor x = make(SC_FLOAT, 1, dims);
	float *d = x.data;
	double want = 0;
	for (int64_t i = 0; i < x.numel; i++) {
		d[i] = 1000.0f + (float)(i % 7) * 0.125f;
		want += d[i];
	}
	one_node o;
	const sc_tensor *ins[] = {&x};
	graph_node *n = one_begin(&o, 11, "ReduceSum", 1, ins, 1);
	attr_int(n, "keepdims", 0);
	one_run_ok(&o);
	expect_dims(one_out(&o, 0), 0, NULL);
	expect_close(one_out(&o, 0), &want, 1e-7, 0, "long ReduceSum");
	one_end(&o);
	tensor_free(&x);
}

/* ReduceSum 13: axes come from an input whose values may change between
 * runs of one plan; an empty list reduces everything, or with
 * noop_with_empty_axes passes X through. */
static void test_reduce_sum_axes_input(void **state)
{
	(void)state;
	int64_t dims[] = {3, 4, 5};
	sc_tensor x = make_uniform(3, dims, -1, 1);
	const float *xd = x.data;
	static const int64_t ax1[] = {1}, ax02[] = {0, -1};
	sc_tensor axes = make_i64(1, ax1);
	for (int noop = 0; noop < 2; noop++) {
		one_node o;
		const sc_tensor *ins[] = {&x, &axes};
		graph_node *n = one_begin(&o, 13, "ReduceSum", 2, ins, 1);
		attr_int(n, "noop_with_empty_axes", noop);
		/* the axes' length varies from run to run */
		graph *g = o.m->graph;
		parse_type(&g->values[graph_find_value(g, "in1")].type, SC_INT64, "A");

		o.ins[1] = &axes;
		one_run_ok(&o);
		const sc_tensor *y = one_out(&o, 0);
		int64_t d1[] = {3, 1, 5};
		expect_dims(y, 3, d1);
		double want[60];
		for (int i = 0; i < 3; i++)
			for (int k = 0; k < 5; k++) {
				want[i * 5 + k] = 0;
				for (int j = 0; j < 4; j++)
					want[i * 5 + k] += xd[(i * 4 + j) * 5 + k];
			}
		expect_close(y, want, 1e-6, 1e-6, "axes [1]");

		sc_tensor axes2 = make_i64(2, ax02);
		o.ins[1] = &axes2;
		one_run_ok(&o);
		y = one_out(&o, 0);
		int64_t d2[] = {1, 4, 1};
		expect_dims(y, 3, d2);
		for (int j = 0; j < 4; j++) {
			want[j] = 0;
			for (int i = 0; i < 3; i++)
				for (int k = 0; k < 5; k++)
					want[j] += xd[(i * 4 + j) * 5 + k];
		}
		expect_close(y, want, 1e-6, 1e-6, "axes [0,-1]");

		sc_tensor empty = make_i64(0, NULL);
		o.ins[1] = &empty;
		one_run_ok(&o);
		y = one_out(&o, 0);
		if (noop) {
			expect_dims(y, 3, dims);
			for (int i = 0; i < 60; i++)
				want[i] = xd[i];
			expect_close(y, want, 0, 0, "noop");
		} else {
			int64_t d3[] = {1, 1, 1};
			expect_dims(y, 3, d3);
			want[0] = 0;
			for (int i = 0; i < 60; i++)
				want[0] += xd[i];
			expect_close(y, want, 1e-6, 1e-6, "empty axes");
		}
		tensor_free(&axes2);
		tensor_free(&empty);
		one_end(&o);
	}
	tensor_free(&axes);
	tensor_free(&x);
}

/* Runs op over the 1-D tensor x (keepdims 0) and returns the output. */
static const sc_tensor *reduce_all(one_node *o, const char *op,
				   const sc_tensor *x)
{
	const sc_tensor *ins[] = {x};
	graph_node *n = one_begin(o, 11, op, 1, ins, 1);
	attr_int(n, "keepdims", 0);
	one_run_ok(o);
	const sc_tensor *y = one_out(o, 0);
	assert_int_equal(y->dtype, x->dtype);
	assert_int_equal(y->rank, 0);
	return y;
}

static void test_reduce_integers(void **state)
{
	(void)state;
	one_node o;
	int64_t d3[] = {3};
	/* int64 beyond 2^53: a double accumulator would round these */
	static const int64_t big[] = {(1LL << 60) + 1, (1LL << 60) + 3,
				      -(1LL << 61) - 1};
	sc_tensor x = make_i64(3, big);
	assert_int_equal(*(int64_t *)reduce_all(&o, "ReduceMax", &x)->data,
			 (1LL << 60) + 3);
	one_end(&o);
	assert_int_equal(*(int64_t *)reduce_all(&o, "ReduceSum", &x)->data, 3);
	one_end(&o);
	assert_int_equal(*(int64_t *)reduce_all(&o, "ReduceMin", &x)->data,
			 -(1LL << 61) - 1);
	one_end(&o);
	tensor_free(&x);

	sc_tensor i32 = make(SC_INT32, 1, d3);
	int32_t *p = i32.data;
	p[0] = -7, p[1] = 5, p[2] = 3;
	assert_int_equal(*(int32_t *)reduce_all(&o, "ReduceProd", &i32)->data, -105);
	one_end(&o);
	assert_int_equal(*(int32_t *)reduce_all(&o, "ReduceL1", &i32)->data, 15);
	one_end(&o);
	assert_int_equal(*(int32_t *)reduce_all(&o, "ReduceSumSquare", &i32)->data, 83);
	one_end(&o);
	/* mean 1/3 truncates to 0; L2 sqrt(83) = 9.11 to 9 */
	assert_int_equal(*(int32_t *)reduce_all(&o, "ReduceMean", &i32)->data, 0);
	one_end(&o);
	assert_int_equal(*(int32_t *)reduce_all(&o, "ReduceL2", &i32)->data, 9);
	one_end(&o);
	/* log(e^-7 + e^5 + e^3) = 5.127 */
	assert_int_equal(*(int32_t *)reduce_all(&o, "ReduceLogSumExp", &i32)->data, 5);
	one_end(&o);
	tensor_free(&i32);

	sc_tensor u8 = make(SC_UINT8, 1, d3);
	uint8_t *q = u8.data;
	q[0] = 200, q[1] = 7, q[2] = 255;
	assert_int_equal(*(uint8_t *)reduce_all(&o, "ReduceMin", &u8)->data, 7);
	one_end(&o);
	assert_int_equal(*(uint8_t *)reduce_all(&o, "ReduceMax", &u8)->data, 255);
	one_end(&o);
	/* 462 wraps to 206 in uint8, as a C conversion does */
	assert_int_equal(*(uint8_t *)reduce_all(&o, "ReduceSum", &u8)->data, 206);
	one_end(&o);
	tensor_free(&u8);
}

/* 3000 ones in float16: a float16 accumulator stalls at 2048, where
 * adding 1 rounds back down; 3000 itself is representable. */
static void test_reduce_half(void **state)
{
	(void)state;
	one_node o;
	int64_t dims[] = {3000};
	sc_tensor h = make(SC_FLOAT16, 1, dims);
	sc_tensor b = make(SC_BFLOAT16, 1, dims);
	for (int i = 0; i < 3000; i++) {
		((uint16_t *)h.data)[i] = tensor_float_to_half(1.0f);
		((uint16_t *)b.data)[i] = tensor_float_to_bf16(i % 2 ? 0.5f : 1.5f);
	}
	double want = 3000;
	expect_close(reduce_all(&o, "ReduceSum", &h), &want, 0, 0, "half sum");
	one_end(&o);
	want = 1;
	expect_close(reduce_all(&o, "ReduceMean", &b), &want, 0, 0, "bf16 mean");
	one_end(&o);
	tensor_free(&h);
	tensor_free(&b);
}

static void test_reduce_errors(void **state)
{
	(void)state;
	one_node o;
	int64_t dims[] = {2, 3};
	sc_tensor x = make_uniform(2, dims, -1, 1);
	const sc_tensor *ins[] = {&x};
	graph_node *n = one_begin(&o, 11, "ReduceMean", 1, ins, 1);
	attr_ints(n, "axes", 1, 2);
	sc_error err = {0};
	int rc = one_run(&o, &err);
	assert_int_equal(rc, SC_EINVAL);
	assert_non_null(strstr(err.msg, "node 'node' (ReduceMean)"));
	assert_non_null(strstr(err.msg, "axis 2"));
	one_end(&o);

	sc_tensor bools = make(SC_BOOL, 2, dims);
	ins[0] = &bools;
	one_begin(&o, 11, "ReduceSum", 1, ins, 1);
	rc = one_run(&o, &err);
	assert_int_equal(rc, SC_EINVAL);
	assert_non_null(strstr(err.msg, "bool"));
	one_end(&o);
	tensor_free(&bools);
	tensor_free(&x);
}

/* --- ArgMax, ArgMin ------------------------------------------------------------ */

static void test_argmax_ties(void **state)
{
	(void)state;
	/* values in {0,1,2,3}: plenty of ties along axis 1 of [40, 50, 30] */
	int64_t dims[] = {40, 50, 30};
	sc_tensor x = make(SC_FLOAT, 3, dims);
	float *d = x.data;
	for (int64_t i = 0; i < x.numel; i++)
		d[i] = (float)(int)uniform(0, 4);
	for (int is_max = 0; is_max < 2; is_max++)
		for (int last = 0; last < 2; last++) {
			one_node o;
			const sc_tensor *ins[] = {&x};
			graph_node *n = one_begin(&o, 12, is_max ? "ArgMax" : "ArgMin",
						  1, ins, 1);
			attr_int(n, "axis", -2);
			attr_int(n, "keepdims", 0);
			attr_int(n, "select_last_index", last);
			one_run_ok(&o);
			const sc_tensor *y = one_out(&o, 0);
			int64_t od[] = {40, 30};
			expect_dims(y, 2, od);
			assert_int_equal(y->dtype, SC_INT64);
			const int64_t *yd = y->data;
			for (int i = 0; i < 40; i++)
				for (int k = 0; k < 30; k++) {
					int64_t at = 0;
					for (int j = 1; j < 50; j++) {
						float v = d[(i * 50 + j) * 30 + k];
						float b = d[(i * 50 + at) * 30 + k];
						int better = is_max ? v > b : v < b;
						if (better || (last && v == b))
							at = j;
					}
					if (yd[i * 30 + k] != at)
						fail_msg("%s last=%d [%d,%d]: %lld, expected %lld",
							 is_max ? "ArgMax" : "ArgMin", last, i, k,
							 (long long)yd[i * 30 + k], (long long)at);
				}
			one_end(&o);
		}
	tensor_free(&x);
}

/* TopK over [30, 200, 20] along axis 1, values in {0..9} so that ties
 * abound: the reference is a stable insertion sort of (value, index). */
static void test_topk_ties(void **state)
{
	(void)state;
	int64_t dims[] = {30, 200, 20};
	sc_tensor x = make(SC_FLOAT, 3, dims);
	float *d = x.data;
	for (int64_t i = 0; i < x.numel; i++)
		d[i] = (float)(int)uniform(0, 10);
	static const int64_t kv[] = {17};
	sc_tensor kt = make_i64(1, kv);
	for (int largest = 0; largest < 2; largest++) {
		one_node o;
		const sc_tensor *ins[] = {&x, &kt};
		graph_node *n = one_begin(&o, 11, "TopK", 2, ins, 2);
		attr_int(n, "axis", 1);
		attr_int(n, "largest", largest);
		one_run_ok(&o);
		const sc_tensor *v = one_out(&o, 0), *ix = one_out(&o, 1);
		int64_t od[] = {30, 17, 20};
		expect_dims(v, 3, od);
		expect_dims(ix, 3, od);
		const float *vd = v->data;
		const int64_t *id = ix->data;
		for (int i = 0; i < 30; i++)
			for (int k = 0; k < 20; k++) {
				int order[200];
				for (int a = 0; a < 200; a++) {
					float va = d[(i * 200 + a) * 20 + k];
					int at = a;
					/* stable: an equal value never passes an earlier one */
					while (at > 0) {
						float vb = d[(i * 200 + order[at - 1]) * 20 + k];
						if (largest ? va <= vb : va >= vb)
							break;
						order[at] = order[at - 1];
						at--;
					}
					order[at] = a;
				}
				for (int j = 0; j < 17; j++) {
					int64_t at = (i * 17 + j) * 20 + k;
					if (id[at] != order[j] ||
					    vd[at] != d[(i * 200 + order[j]) * 20 + k])
						fail_msg("TopK largest=%d [%d,%d,%d]: index %lld, expected %d",
							 largest, i, j, k, (long long)id[at], order[j]);
				}
			}
		one_end(&o);
	}
	tensor_free(&kt);
	tensor_free(&x);
}

/* --- Softmax, LogSoftmax, Hardmax --------------------------------------------- */

/* want = op over [outer, len, inner] along len, in double. */
static void reference_softmax(const char *op, const float *x, int64_t outer,
			      int64_t len, int64_t inner, double *want)
{
	for (int64_t o = 0; o < outer; o++)
		for (int64_t i = 0; i < inner; i++) {
			const float *p = x + o * len * inner + i;
			double *w = want + o * len * inner + i;
			double m = -INFINITY, s = 0;
			int64_t at = 0;
			for (int64_t a = 0; a < len; a++)
				if (p[a * inner] > m) {
					m = p[a * inner];
					at = a;
				}
			for (int64_t a = 0; a < len; a++)
				s += exp(p[a * inner] - m);
			for (int64_t a = 0; a < len; a++) {
				double v = p[a * inner];
				w[a * inner] = !strcmp(op, "Softmax") ? exp(v - m) / s :
					       !strcmp(op, "LogSoftmax") ? v - m - log(s) :
					       a == at;
			}
		}
}

static void check_softmax(const char *op, int64_t opset, const sc_tensor *x,
			  int axis, int64_t outer, int64_t len, int64_t inner)
{
	one_node o;
	const sc_tensor *ins[] = {x};
	graph_node *n = one_begin(&o, opset, op, 1, ins, 1);
	attr_int(n, "axis", axis);
	one_run_ok(&o);
	const sc_tensor *y = one_out(&o, 0);
	expect_dims(y, x->rank, x->dims);
	double *want = malloc((size_t)x->numel * sizeof *want);
	assert_non_null(want);
	reference_softmax(op, x->data, outer, len, inner, want);
	char what[64];
	snprintf(what, sizeof what, "%s opset %lld axis %d", op,
		 (long long)opset, axis);
	/* log-probabilities of inputs in [-30, 30] are x - max - log(sum),
	 * whose float rounding alone is up to ulp(60) = 3.8e-6 */
	expect_close(y, want, 1e-5, !strcmp(op, "LogSoftmax") ? 1e-5 : 1e-7,
		     what);
	free(want);
	one_end(&o);
}

static void test_softmax_family(void **state)
{
	(void)state;
	/* 69300 elements: threaded; axis 1 leaves 33 inner columns */
	int64_t dims[] = {7, 300, 33};
	sc_tensor x = make_uniform(3, dims, -30, 30);
	static const char *const ops[] = {"Softmax", "LogSoftmax", "Hardmax"};
	for (int i = 0; i < 3; i++) {
		check_softmax(ops[i], 13, &x, 1, 7, 300, 33);
		check_softmax(ops[i], 13, &x, -1, 2100, 33, 1);
		check_softmax(ops[i], 13, &x, 0, 1, 7, 9900);
		/* below 13 the input is coerced to [prod(:axis), prod(axis:)] */
		check_softmax(ops[i], 11, &x, 1, 7, 9900, 1);
		check_softmax(ops[i], 1, &x, 0, 1, 69300, 1);
	}
	tensor_free(&x);

	/* float16 computes in float and rounds once: within half's 2^-11 */
	int64_t hd[] = {50, 64};
	sc_tensor h = make(SC_FLOAT16, 2, hd);
	float xf[50 * 64];
	for (int i = 0; i < 50 * 64; i++) {
		((uint16_t *)h.data)[i] = tensor_float_to_half((float)uniform(-8, 8));
		xf[i] = tensor_half_to_float(((uint16_t *)h.data)[i]);
	}
	for (int i = 0; i < 2; i++) {
		one_node o;
		const sc_tensor *ins[] = {&h};
		graph_node *n = one_begin(&o, 13, ops[i], 1, ins, 1);
		attr_int(n, "axis", 0);
		one_run_ok(&o);
		double want[50 * 64];
		reference_softmax(ops[i], xf, 1, 50, 64, want);
		expect_close(one_out(&o, 0), want, 1.0 / 2048, 1e-7, ops[i]);
		one_end(&o);
	}
	tensor_free(&h);
}

/* --- LpNormalization --------------------------------------------------------- */

static void test_lpnorm(void **state)
{
	(void)state;
	int64_t dims[] = {4, 5, 6};
	sc_tensor x = make_uniform(3, dims, -3, 3);
	float *d = x.data;
	for (int a = 0; a < 5; a++)
		d[(2 * 5 + a) * 6 + 3] = 0;    /* a zero vector along axis 1 */
	for (int p = 1; p <= 2; p++) {
		one_node o;
		const sc_tensor *ins[] = {&x};
		graph_node *n = one_begin(&o, 1, "LpNormalization", 1, ins, 1);
		attr_int(n, "axis", 1);
		attr_int(n, "p", p);
		one_run_ok(&o);
		double want[120];
		for (int i = 0; i < 4; i++)
			for (int k = 0; k < 6; k++) {
				double s = 0;
				for (int a = 0; a < 5; a++) {
					double v = d[(i * 5 + a) * 6 + k];
					s += p == 1 ? fabs(v) : v * v;
				}
				s = p == 1 ? s : sqrt(s);
				for (int a = 0; a < 5; a++)
					want[(i * 5 + a) * 6 + k] =
						s ? d[(i * 5 + a) * 6 + k] / s : 0;
			}
		expect_close(one_out(&o, 0), want, 1e-6, 1e-7,
			     p == 1 ? "LpNormalization p=1" : "LpNormalization p=2");
		one_end(&o);
	}
	tensor_free(&x);
}

/* --- SoftmaxCrossEntropyLoss, NegativeLogLikelihoodLoss ------------------------ */

/* Scores [N, C, D], labels [N, D] with some equal to ii, weights [C]. */
#define LN 60
#define LC 7
#define LD 12
#define II 3

static void reference_loss(int logits, const float *x, const int64_t *lab,
			   const float *w, int has_ii, double *per,
			   double *sum, double *mean)
{
	double total = 0, wsum = 0;
	for (int n = 0; n < LN; n++)
		for (int d = 0; d < LD; d++) {
			int64_t t = lab[n * LD + d];
			double loss = 0, wt = 0;
			if (!has_ii || t != II) {
				double m = -INFINITY, s = 0;
				for (int c = 0; c < LC; c++)
					m = fmax(m, x[(n * LC + c) * LD + d]);
				for (int c = 0; c < LC; c++)
					s += exp(x[(n * LC + c) * LD + d] - m);
				double lp = x[(n * LC + t) * LD + d];
				if (logits)
					lp = lp - m - log(s);
				wt = w ? w[t] : 1;
				loss = -wt * lp;
			}
			per[n * LD + d] = loss;
			total += loss;
			wsum += wt;
		}
	*sum = total;
	*mean = total / wsum;
}

static void check_loss(const char *op, const sc_tensor *x, const sc_tensor *lab,
		       const sc_tensor *w, int has_ii, const char *reduction)
{
	int logits = !strcmp(op, "SoftmaxCrossEntropyLoss");
	one_node o;
	const sc_tensor *ins[] = {x, lab, w};
	graph_node *n = one_begin(&o, 13, op, w ? 3 : 2, ins, logits ? 2 : 1);
	attr_str(n, "reduction", reduction);
	if (has_ii)
		attr_int(n, "ignore_index", II);
	one_run_ok(&o);
	double per[LN * LD], sum, mean;
	reference_loss(logits, x->data, lab->data, w ? w->data : NULL, has_ii,
		       per, &sum, &mean);
	char what[128];
	snprintf(what, sizeof what, "%s %s%s%s", op, reduction,
		 w ? " weights" : "", has_ii ? " ignore_index" : "");
	const sc_tensor *y = one_out(&o, 0);
	if (!strcmp(reduction, "none")) {
		int64_t d[] = {LN, LD};
		expect_dims(y, 2, d);
		expect_close(y, per, 1e-5, 1e-7, what);
	} else {
		expect_dims(y, 0, NULL);
		expect_close(y, !strcmp(reduction, "sum") ? &sum : &mean, 1e-5,
			     1e-7, what);
	}
	if (logits) {
		const sc_tensor *lp = one_out(&o, 1);
		expect_dims(lp, 3, x->dims);
		double *want = malloc((size_t)x->numel * sizeof *want);
		assert_non_null(want);
		reference_softmax("LogSoftmax", x->data, LN, LC, LD, want);
		expect_close(lp, want, 1e-5, 1e-6, "log_prob");
		free(want);
	}
	one_end(&o);
}

static void test_losses(void **state)
{
	(void)state;
	int64_t xd[] = {LN, LC, LD}, ld[] = {LN, LD}, wd[] = {LC};
	sc_tensor x = make_uniform(3, xd, -5, 5);
	sc_tensor lab = make(SC_INT64, 2, ld);
	sc_tensor w = make_uniform(1, wd, 0.1, 2);
	int64_t *l = lab.data;
	for (int i = 0; i < LN * LD; i++)
		l[i] = (int64_t)uniform(0, LC);
	static const char *const reds[] = {"none", "sum", "mean"};
	static const char *const ops[] = {"SoftmaxCrossEntropyLoss",
					  "NegativeLogLikelihoodLoss"};
	for (int op = 0; op < 2; op++)
		for (int r = 0; r < 3; r++)
			for (int variant = 0; variant < 4; variant++)
				check_loss(ops[op], &x, &lab, variant & 1 ? &w : NULL,
					   variant >> 1, reds[r]);

	/* a label outside [0, C) that is not ignore_index is refused */
	l[17] = LC;
	one_node o;
	const sc_tensor *ins[] = {&x, &lab};
	one_begin(&o, 13, "NegativeLogLikelihoodLoss", 2, ins, 1);
	sc_error err = {0};
	assert_int_equal(one_run(&o, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "node 'node' (NegativeLogLikelihoodLoss)"));
	assert_non_null(strstr(err.msg, "label 7 at position 17"));
	one_end(&o);
	tensor_free(&x);
	tensor_free(&lab);
	tensor_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reduce_axis_patterns),
		cmocka_unit_test(test_reduce_long_row_accuracy),
		cmocka_unit_test(test_reduce_sum_axes_input),
		cmocka_unit_test(test_reduce_integers),
		cmocka_unit_test(test_reduce_half),
		cmocka_unit_test(test_reduce_errors),
		cmocka_unit_test(test_argmax_ties),
		cmocka_unit_test(test_topk_ties),
		cmocka_unit_test(test_softmax_family),
		cmocka_unit_test(test_lpnorm),
		cmocka_unit_test(test_losses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
