/* test_ops_elementwise.c: kernels of ops/elementwise*.c and the broadcast
 * planner of ops/broadcast.c.
 *
 * ONNX's own cases (run by the conformance runner) are small and mostly
 * broadcast one way.  These cases cover what they do not: the planner's
 * merged axes, outputs large enough for the OpenMP and oneDNN paths, every
 * broadcast pattern (same shape, scalar, bias row, per channel, outer
 * product, three-way Where, variadic folds), integer wrap-around and
 * division by zero, saturating and correctly rounded casts, Clip bounds,
 * training Dropout against numpy's seed-0 draws, the broadcast/axis
 * attributes of opset 6, re-preparing when shapes change, Trilu and
 * CumSum in every mode, and the opset 1-5 forms of the unary ops (with
 * the consumed_inputs they ignore) forward and through autodiff, against
 * central differences in double.  Expected
 * values come from naive loops over full multi-indices written here in
 * double, or from constants worked out by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_builder.h"
#include "op_harness.h"
#include "ops/broadcast.h"
#include "runtime/autodiff.h"

/* --- tensors -------------------------------------------------------------- */

/* A 1-D tensor of n values given as doubles, converted to dtype. */
static sc_tensor make_vec(int dtype, int n, const double *v)
{
	int64_t dims[1] = {n};
	sc_tensor t = make(dtype, 1, dims);
	for (int i = 0; i < n; i++) {
		switch (dtype) {
		case SC_FLOAT: ((float *)t.data)[i] = (float)v[i]; break;
		case SC_DOUBLE: ((double *)t.data)[i] = v[i]; break;
		case SC_INT8: ((int8_t *)t.data)[i] = (int8_t)v[i]; break;
		case SC_INT32: ((int32_t *)t.data)[i] = (int32_t)v[i]; break;
		case SC_INT64: ((int64_t *)t.data)[i] = (int64_t)v[i]; break;
		case SC_UINT8: ((uint8_t *)t.data)[i] = (uint8_t)v[i]; break;
		case SC_BOOL: ((uint8_t *)t.data)[i] = v[i] != 0; break;
		default: fail_msg("make_vec: dtype %d", dtype);
		}
	}
	return t;
}

/* Element i of any numeric tensor, as double. */
static double elem(const sc_tensor *t, int64_t i)
{
	switch (t->dtype) {
	case SC_FLOAT: return ((const float *)t->data)[i];
	case SC_DOUBLE: return ((const double *)t->data)[i];
	case SC_FLOAT16: return tensor_half_to_float(((const uint16_t *)t->data)[i]);
	case SC_BFLOAT16: return tensor_bf16_to_float(((const uint16_t *)t->data)[i]);
	case SC_INT8: return ((const int8_t *)t->data)[i];
	case SC_INT16: return ((const int16_t *)t->data)[i];
	case SC_INT32: return ((const int32_t *)t->data)[i];
	case SC_INT64: return (double)((const int64_t *)t->data)[i];
	case SC_UINT8: case SC_BOOL: return ((const uint8_t *)t->data)[i];
	case SC_UINT16: return ((const uint16_t *)t->data)[i];
	case SC_UINT32: return ((const uint32_t *)t->data)[i];
	case SC_UINT64: return (double)((const uint64_t *)t->data)[i];
	default: fail_msg("elem: dtype %d", t->dtype); return 0;
	}
}

/* t against want[] within |d| <= atol + rtol |want|; NaN must meet NaN
 * and infinities must be equal. */
static void expect_close(const sc_tensor *t, const double *want, double rtol,
			 double atol, const char *what)
{
	for (int64_t i = 0; i < t->numel; i++)
		expect_near(elem(t, i), want[i], rtol, atol, what, i);
}

/* Exact comparison of integer (or bool) outputs with int64 wants. */
static void expect_ints(const sc_tensor *t, const int64_t *want,
			const char *what)
{
	for (int64_t i = 0; i < t->numel; i++) {
		int64_t got;
		switch (t->dtype) {
		case SC_INT8: got = ((const int8_t *)t->data)[i]; break;
		case SC_INT32: got = ((const int32_t *)t->data)[i]; break;
		case SC_INT64: got = ((const int64_t *)t->data)[i]; break;
		case SC_UINT8: case SC_BOOL: got = ((const uint8_t *)t->data)[i]; break;
		case SC_UINT16: case SC_FLOAT16: case SC_BFLOAT16:
			got = ((const uint16_t *)t->data)[i];
			break;
		case SC_UINT32: got = ((const uint32_t *)t->data)[i]; break;
		case SC_UINT64: got = (int64_t)((const uint64_t *)t->data)[i]; break;
		default: fail_msg("%s: not an integer output", what); return;
		}
		if (got != want[i])
			fail_msg("%s: element %lld is %lld, expected %lld", what,
				 (long long)i, (long long)got, (long long)want[i]);
	}
}

/* --- a naive broadcast ---------------------------------------------------- */

/* Linear index into t of the output element at linear index i of an
 * output of shape (rank, dims), by numpy's rules. */
static int64_t src_index(const sc_tensor *t, int rank, const int64_t *dims,
			 int64_t i)
{
	int64_t coord[SC_MAX_RANK];
	for (int d = rank - 1; d >= 0; d--) {
		coord[d] = i % dims[d];
		i /= dims[d];
	}
	int64_t s = 0;
	int off = rank - t->rank;
	for (int d = 0; d < t->rank; d++)
		s = s * t->dims[d] + (t->dims[d] == 1 ? 0 : coord[off + d]);
	return s;
}

static void broadcast_dims(int n, const sc_tensor *const *t, int *rank,
			   int64_t *dims)
{
	int r = 0;
	for (int i = 0; i < n; i++)
		if (t[i]->rank > r)
			r = t[i]->rank;
	for (int d = 0; d < r; d++) {
		dims[d] = 1;
		for (int i = 0; i < n; i++) {
			int k = d - (r - t[i]->rank);
			if (k >= 0 && t[i]->dims[k] != 1)
				dims[d] = t[i]->dims[k];
		}
	}
	*rank = r;
}

enum { F_ADD, F_SUB, F_MUL, F_DIV };

static double apply(int f, double a, double b)
{
	switch (f) {
	case F_ADD: return a + b;
	case F_SUB: return a - b;
	case F_MUL: return a * b;
	default: return a / b;
	}
}

/* --- the planner ---------------------------------------------------------- */

static void test_bcast_plan(void **state)
{
	(void)state;
	struct {
		int ra; int64_t a[4];
		int rb; int64_t b[4];
		int rank; int64_t dims[4]; int step_a, step_b;
	} cases[] = {
		/* per channel: H and W merge, the channel axis stays */
		{4, {2, 3, 4, 5}, 3, {3, 1, 1}, 3, {2, 3, 20}, 1, 0},
		/* same shape: one flat run */
		{3, {4, 5, 6}, 3, {4, 5, 6}, 1, {120}, 1, 1},
		/* bias row */
		{2, {8, 16}, 1, {16}, 2, {8, 16}, 1, 1},
		/* scalar against a matrix */
		{0, {0}, 2, {7, 9}, 1, {63}, 0, 1},
		/* outer product, size-1 axes dropped */
		{3, {1, 10, 1}, 2, {1, 6}, 2, {10, 6}, 0, 1},
	};
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		sc_tensor a = make(SC_FLOAT, cases[c].ra, cases[c].a);
		sc_tensor b = make(SC_FLOAT, cases[c].rb, cases[c].b);
		const sc_tensor *t[2] = {&a, &b};
		int rank;
		int64_t dims[SC_MAX_RANK];
		sc_error err = {0};
		assert_int_equal(bcast_shape(2, t, &rank, dims, "x", &err), SC_OK);
		bcast plan;
		bcast_init(&plan, 2, t, rank, dims, sizeof(float));
		assert_int_equal(plan.rank, cases[c].rank);
		for (int d = 0; d < plan.rank; d++)
			assert_int_equal(plan.dims[d], cases[c].dims[d]);
		assert_int_equal(plan.step[0], cases[c].step_a);
		assert_int_equal(plan.step[1], cases[c].step_b);
		tensor_free(&a);
		tensor_free(&b);
	}

	int64_t da[2] = {2, 3}, db[1] = {4};
	sc_tensor a = make(SC_FLOAT, 2, da), b = make(SC_FLOAT, 1, db);
	const sc_tensor *t[2] = {&a, &b};
	int rank;
	int64_t dims[SC_MAX_RANK];
	sc_error err = {0};
	assert_int_equal(bcast_shape(2, t, &rank, dims, "node 'n' (Add)", &err),
			 SC_EINVAL);
	assert_non_null(strstr(err.msg, "node 'n' (Add): input 1 has shape [4]"));
	tensor_free(&a);
	tensor_free(&b);
}

/* --- arithmetic over every broadcast pattern, large enough to thread ----- */

static void check_binary(int f, int ra, const int64_t *a_dims, int rb,
			 const int64_t *b_dims)
{
	static const char *const ops[] = {"Add", "Sub", "Mul", "Div"};
	sc_tensor a = make_uniform(ra, a_dims, -2, 2);
	sc_tensor b = make_uniform(rb, b_dims, 0.5, 3);
	const sc_tensor *ins[2] = {&a, &b};
	int rank;
	int64_t dims[SC_MAX_RANK];
	broadcast_dims(2, ins, &rank, dims);
	one_node o;
	one_begin(&o, 14, ops[f], 2, ins, 1);
	one_run_ok(&o);
	const sc_tensor *y = one_out(&o, 0);
	expect_dims(y, rank, dims);
	double *want = malloc((size_t)y->numel * sizeof *want);
	assert_non_null(want);
	const float *pa = a.data, *pb = b.data;
	for (int64_t i = 0; i < y->numel; i++)
		want[i] = (float)apply(f, pa[src_index(&a, rank, dims, i)],
				       pb[src_index(&b, rank, dims, i)]);
	expect_close(y, want, 1e-6, 0, ops[f]);
	free(want);
	one_end(&o);
	tensor_free(&a);
	tensor_free(&b);
}

static void test_binary_broadcast_patterns(void **state)
{
	(void)state;
	int64_t big[2] = {256, 1024}, row[1] = {1024};
	int64_t act[4] = {4, 64, 16, 16}, chan[3] = {64, 1, 1};
	int64_t col[2] = {1000, 1}, line[2] = {1, 64};
	int64_t odd[3] = {3, 1, 5}, odd2[4] = {2, 1, 4, 1};
	for (int f = F_ADD; f <= F_DIV; f++) {
		check_binary(f, 2, big, 2, big);      /* same shape */
		check_binary(f, 2, big, 1, row);      /* bias row */
		check_binary(f, 1, row, 2, big);      /* ... on the left */
		check_binary(f, 4, act, 3, chan);     /* per channel */
		check_binary(f, 0, NULL, 4, act);     /* scalar */
		check_binary(f, 2, col, 2, line);     /* outer product */
		check_binary(f, 3, odd, 4, odd2);     /* small, interleaved */
	}
}

/* --- variadic folds and Where --------------------------------------------- */

static void test_variadic(void **state)
{
	(void)state;
	int64_t d0[4] = {2, 3, 4, 5}, d1[3] = {3, 1, 5}, d2[2] = {4, 1},
		d3[1] = {1};
	static const char *const ops[] = {"Sum", "Mean", "Min", "Max"};
	for (int big = 0; big < 2; big++) {
		if (big) {
			d0[0] = 600;   /* 36000 outputs: the threaded path */
		}
		sc_tensor t[4] = {
			make_uniform(4, d0, -5, 5), make_uniform(3, d1, -5, 5),
			make_uniform(2, d2, -5, 5), make_uniform(1, d3, -5, 5),
		};
		const sc_tensor *ins[4] = {&t[0], &t[1], &t[2], &t[3]};
		for (int op = 0; op < 4; op++) {
			/* the inputs in a different order each time */
			const sc_tensor *order[4];
			for (int i = 0; i < 4; i++)
				order[i] = ins[(i + op) % 4];
			one_node o;
			one_begin(&o, 13, ops[op], 4, order, 1);
			one_run_ok(&o);
			const sc_tensor *y = one_out(&o, 0);
			expect_dims(y, 4, d0);
			double *want = malloc((size_t)y->numel * sizeof *want);
			assert_non_null(want);
			for (int64_t i = 0; i < y->numel; i++) {
				double acc = op == 2 ? INFINITY : op == 3 ? -INFINITY : 0;
				for (int k = 0; k < 4; k++) {
					double v = ((const float *)order[k]->data)
						[src_index(order[k], 4, d0, i)];
					acc = op < 2 ? acc + v : op == 2 ? fmin(acc, v) :
					      fmax(acc, v);
				}
				want[i] = op == 1 ? acc / 4 : acc;
			}
			expect_close(y, want, 1e-5, 1e-5, ops[op]);
			free(want);
			one_end(&o);
		}
		for (int i = 0; i < 4; i++)
			tensor_free(&t[i]);
	}

	/* Max and Min carry NaN through, whichever side it is on */
	double a_v[3] = {NAN, 1, 2}, b_v[3] = {0, NAN, 5};
	sc_tensor a = make_vec(SC_FLOAT, 3, a_v), b = make_vec(SC_FLOAT, 3, b_v);
	const sc_tensor *ins[2] = {&a, &b};
	one_node o;
	one_begin(&o, 13, "Max", 2, ins, 1);
	one_run_ok(&o);
	double want[3] = {NAN, NAN, 5};
	expect_close(one_out(&o, 0), want, 0, 0, "Max with NaN");
	one_end(&o);
	tensor_free(&a);
	tensor_free(&b);
}

static void test_where(void **state)
{
	(void)state;
	int64_t dc[2] = {1000, 1}, dx[2] = {1, 64};
	sc_tensor c = make(SC_BOOL, 2, dc), x = make(SC_INT64, 2, dx),
		  y = make(SC_INT64, 0, NULL);
	for (int64_t i = 0; i < c.numel; i++)
		((uint8_t *)c.data)[i] = (i * 7919) % 3 == 0;
	for (int64_t i = 0; i < x.numel; i++)
		((int64_t *)x.data)[i] = ((int64_t)1 << 40) + i;
	*(int64_t *)y.data = -3;
	const sc_tensor *ins[3] = {&c, &x, &y};
	one_node o;
	one_begin(&o, 16, "Where", 3, ins, 1);
	one_run_ok(&o);
	const sc_tensor *out = one_out(&o, 0);
	int64_t dims[2] = {1000, 64};
	expect_dims(out, 2, dims);
	int64_t *want = malloc((size_t)out->numel * sizeof *want);
	assert_non_null(want);
	for (int64_t i = 0; i < out->numel; i++)
		want[i] = ((uint8_t *)c.data)[i / 64] ?
			  ((int64_t *)x.data)[i % 64] : -3;
	expect_ints(out, want, "Where int64");
	free(want);
	one_end(&o);

	/* two-byte elements, the condition broadcast along the rows */
	int64_t dh[2] = {2, 3}, dch[1] = {3};
	sc_tensor cb = make(SC_BOOL, 1, dch), xh = make(SC_FLOAT16, 2, dh),
		  yh = make(SC_FLOAT16, 2, dh);
	uint8_t cond[3] = {1, 0, 1};
	memcpy(cb.data, cond, 3);
	for (int i = 0; i < 6; i++) {
		((uint16_t *)xh.data)[i] = tensor_float_to_half((float)i);
		((uint16_t *)yh.data)[i] = tensor_float_to_half((float)-i);
	}
	const sc_tensor *ins_h[3] = {&cb, &xh, &yh};
	one_begin(&o, 16, "Where", 3, ins_h, 1);
	one_run_ok(&o);
	double want_h[6] = {0, -1, 2, 3, -4, 5};
	expect_close(one_out(&o, 0), want_h, 0, 0, "Where float16");
	one_end(&o);
	tensor_free(&c);
	tensor_free(&x);
	tensor_free(&y);
	tensor_free(&cb);
	tensor_free(&xh);
	tensor_free(&yh);
}

/* --- unary: the oneDNN path against libm --------------------------------- */

static double ref_unary(const char *op, double x)
{
	if (!strcmp(op, "Sigmoid"))
		return 1 / (1 + exp(-x));
	if (!strcmp(op, "Tanh"))
		return tanh(x);
	if (!strcmp(op, "Exp"))
		return exp(x);
	if (!strcmp(op, "Sqrt"))
		return sqrt(x);
	if (!strcmp(op, "Elu"))
		return x < 0 ? exp(x) - 1 : x;
	if (!strcmp(op, "Round"))
		return nearbyint(x);
	if (!strcmp(op, "HardSwish"))
		return x * fmax(0, fmin(1, x / 6 + 0.5));
	if (!strcmp(op, "Log"))
		return log(x);
	if (!strcmp(op, "Softplus"))
		return log1p(exp(x));
	fail_msg("no reference for %s", op);
	return 0;
}

static void test_unary_large_and_small(void **state)
{
	(void)state;
	static const char *const ops[] = {
		"Sigmoid", "Tanh", "Exp", "Sqrt", "Elu", "Round", "HardSwish",
		"Log", "Softplus",
	};
	for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
		int positive = !strcmp(ops[k], "Sqrt") || !strcmp(ops[k], "Log");
		for (int64_t n = 10; n <= 40000; n *= 4000) {
			int64_t dims[1] = {n};
			sc_tensor x = make_uniform(1, dims, positive ? 0 : -30, 30);
			float *px = x.data;
			px[0] = positive ? 1.0f : 2.5f;   /* log(1) = 0, a round tie */
			px[1] = NAN;
			px[2] = positive ? 0.0f : -2.5f;
			const sc_tensor *ins[1] = {&x};
			one_node o;
			one_begin(&o, 14, ops[k], 1, ins, 1);
			one_run_ok(&o);
			double *want = malloc((size_t)n * sizeof *want);
			assert_non_null(want);
			for (int64_t i = 0; i < n; i++)
				want[i] = ref_unary(ops[k], px[i]);
			expect_close(one_out(&o, 0), want, 1e-5, 1e-6, ops[k]);
			free(want);
			one_end(&o);
			tensor_free(&x);
		}
	}
}

/* --- integer semantics ---------------------------------------------------- */

static void run_pair(int64_t opset, const char *op, const sc_tensor *a,
		     const sc_tensor *b, const char *attr, int64_t attr_v,
		     const int64_t *want, const char *what)
{
	const sc_tensor *ins[2] = {a, b};
	one_node o;
	graph_node *n = one_begin(&o, opset, op, 2, ins, 1);
	if (attr && !strcmp(attr, "direction"))
		attr_str(n, attr, attr_v ? "RIGHT" : "LEFT");
	else if (attr)
		attr_int(n, attr, attr_v);
	one_run_ok(&o);
	expect_ints(one_out(&o, 0), want, what);
	one_end(&o);
}

static void test_integer_semantics(void **state)
{
	(void)state;
	double av[5] = {INT32_MAX, 7, 7, INT32_MIN, -7};
	double bv[5] = {1, -2, 0, -1, 3};
	sc_tensor a = make_vec(SC_INT32, 5, av), b = make_vec(SC_INT32, 5, bv);
	int64_t add[5] = {INT32_MIN, 5, 7, INT32_MAX, -4};
	run_pair(14, "Add", &a, &b, NULL, 0, add, "Add int32 wraps");
	int64_t div[5] = {INT32_MAX, -3, 0, INT32_MIN, -2};
	run_pair(14, "Div", &a, &b, NULL, 0, div, "Div int32");
	/* numpy's sign-of-divisor modulo, and C's fmod */
	int64_t pymod[5] = {0, -1, 0, 0, 2};
	run_pair(13, "Mod", &a, &b, NULL, 0, pymod, "Mod");
	int64_t cmod[5] = {0, 1, 0, 0, -1};
	run_pair(13, "Mod", &a, &b, "fmod", 1, cmod, "Mod fmod");
	int64_t less[5] = {0, 0, 0, 1, 1};
	run_pair(13, "Less", &a, &b, NULL, 0, less, "Less int32");
	tensor_free(&a);
	tensor_free(&b);

	double xv[4] = {1, 255, 3, 128}, sv[4] = {9, 8, 2, 7};
	sc_tensor x = make_vec(SC_UINT8, 4, xv), s = make_vec(SC_UINT8, 4, sv);
	int64_t left[4] = {0, 0, 12, 0}, right[4] = {0, 0, 0, 1};
	run_pair(11, "BitShift", &x, &s, "direction", 0, left, "BitShift LEFT");
	run_pair(11, "BitShift", &x, &s, "direction", 1, right, "BitShift RIGHT");
	int64_t mul[4] = {9, 248, 6, 128};
	run_pair(14, "Mul", &x, &s, NULL, 0, mul, "Mul uint8 wraps");
	tensor_free(&x);
	tensor_free(&s);

	double nv[3] = {-128, -5, 127};
	sc_tensor n8 = make_vec(SC_INT8, 3, nv);
	const sc_tensor *ins[1] = {&n8};
	static const char *const ops[] = {"Neg", "Abs", "Relu", "Sign"};
	int64_t want[4][3] = {
		{-128, 5, -127}, {-128, 5, 127}, {0, 0, 127}, {-1, -1, 1},
	};
	for (int k = 0; k < 4; k++) {
		one_node o;
		one_begin(&o, 14, ops[k], 1, ins, 1);
		one_run_ok(&o);
		expect_ints(one_out(&o, 0), want[k], ops[k]);
		one_end(&o);
	}
	tensor_free(&n8);
}

static void test_pow_types(void **state)
{
	(void)state;
	/* integer powers are exact, beyond double's 53 bits */
	double bv[3] = {2, 3, -2}, ev[3] = {62, 39, 3};
	sc_tensor b = make_vec(SC_INT64, 3, bv), e = make_vec(SC_INT64, 3, ev);
	int64_t want[3] = {(int64_t)1 << 62, 4052555153018976267LL, -8};
	run_pair(15, "Pow", &b, &e, NULL, 0, want, "Pow int64");
	/* int base, float exponent: computed in double, truncated */
	double fv[3] = {0.5, 2.5, 2};
	sc_tensor f = make_vec(SC_FLOAT, 3, fv);
	int64_t want_f[3] = {1, 15, 4};   /* sqrt(2), 3^2.5 = 15.59, 4 */
	run_pair(15, "Pow", &b, &f, NULL, 0, want_f, "Pow int64 ** float");
	/* float base, int exponent */
	const sc_tensor *ins[2] = {&f, &e};
	one_node o;
	one_begin(&o, 15, "Pow", 2, ins, 1);
	one_run_ok(&o);
	double want_fe[3] = {pow(0.5, 62), pow(2.5, 39), 8};
	expect_close(one_out(&o, 0), want_fe, 1e-6, 0, "Pow float ** int64");
	one_end(&o);
	tensor_free(&b);
	tensor_free(&e);
	tensor_free(&f);
}

/* --- Cast ----------------------------------------------------------------- */

static const sc_tensor *run_cast(one_node *o, const sc_tensor *x, int to)
{
	const sc_tensor *ins[1] = {x};
	graph_node *n = one_begin(o, 13, "Cast", 1, ins, 1);
	attr_int(n, "to", to);
	one_run_ok(o);
	const sc_tensor *y = one_out(o, 0);
	assert_int_equal(y->dtype, to);
	return y;
}

static void test_cast(void **state)
{
	(void)state;
	one_node o;
	/* float to integers: truncation, saturation, NaN as 0 */
	double fv[7] = {1.9, -1.9, NAN, 3e9, -3e9, INFINITY, 300};
	sc_tensor f = make_vec(SC_FLOAT, 7, fv);
	int64_t i32[7] = {1, -1, 0, INT32_MAX, INT32_MIN, INT32_MAX, 300};
	expect_ints(run_cast(&o, &f, SC_INT32), i32, "float -> int32");
	one_end(&o);
	int64_t u8[7] = {1, 0, 0, 255, 0, 255, 255};
	expect_ints(run_cast(&o, &f, SC_UINT8), u8, "float -> uint8");
	one_end(&o);
	int64_t b[7] = {1, 1, 1, 1, 1, 1, 1};
	expect_ints(run_cast(&o, &f, SC_BOOL), b, "float -> bool");
	one_end(&o);
	tensor_free(&f);

	/* integer to integer wraps */
	double iv[4] = {300, -129, -1, 0};
	sc_tensor i = make_vec(SC_INT64, 4, iv);
	int64_t i8[4] = {44, 127, -1, 0};
	expect_ints(run_cast(&o, &i, SC_INT8), i8, "int64 -> int8");
	one_end(&o);
	int64_t u64[4] = {300, -129, -1, 0};   /* the same bits */
	expect_ints(run_cast(&o, &i, SC_UINT64), u64, "int64 -> uint64");
	one_end(&o);
	tensor_free(&i);

	/* double to float16 rounds once, to nearest even; bits by hand */
	double hv[7] = {
		1 + 0x1p-11,           /* a tie: stays 1.0 (even) */
		1 + 3 * 0x1p-12,       /* past the tie: 1 + 2^-10 */
		1 + 0x1p-11 + 0x1p-40, /* just past a tie: rounds up */
		65520,                 /* overflows to inf */
		0x1p-25,               /* tie with 0 */
		0x1p-25 + 0x1p-40,     /* the smallest subnormal */
		-0x1p-14,              /* the smallest normal, negative */
	};
	sc_tensor h = make_vec(SC_DOUBLE, 7, hv);
	int64_t hb[7] = {0x3c00, 0x3c01, 0x3c01, 0x7c00, 0x0000, 0x0001, 0x8400};
	expect_ints(run_cast(&o, &h, SC_FLOAT16), hb, "double -> float16");
	one_end(&o);
	tensor_free(&h);

	/* float to bfloat16 keeps the upper 16 bits, as ONNX's reference */
	uint32_t bits[3] = {0x3f80ffffu, 0xbf7f8001u, 0x7fc00001u};
	int64_t dims[1] = {3};
	sc_tensor fb = make(SC_FLOAT, 1, dims);
	memcpy(fb.data, bits, sizeof bits);
	int64_t bb[3] = {0x3f80, 0xbf7f, 0x7fc0};
	expect_ints(run_cast(&o, &fb, SC_BFLOAT16), bb, "float -> bfloat16");
	one_end(&o);
	tensor_free(&fb);

	/* bool and uint64 to float */
	double bv2[2] = {1, 0};
	sc_tensor bl = make_vec(SC_BOOL, 2, bv2);
	double want_b[2] = {1, 0};
	expect_close(run_cast(&o, &bl, SC_DOUBLE), want_b, 0, 0, "bool -> double");
	one_end(&o);
	tensor_free(&bl);
	sc_tensor big = make(SC_UINT64, 1, dims);
	uint64_t uv[3] = {UINT64_MAX, 1, (uint64_t)1 << 63};
	memcpy(big.data, uv, sizeof uv);
	double want_u[3] = {18446744073709551616.0, 1, 9223372036854775808.0};
	expect_close(run_cast(&o, &big, SC_FLOAT), want_u, 1e-7, 0, "uint64 -> float");
	one_end(&o);
	tensor_free(&big);
}

/* --- Clip ------------------------------------------------------------------ */

static void test_clip(void **state)
{
	(void)state;
	one_node o;
	/* opset 11+: max given, min omitted; int8 */
	double xv[5] = {-128, -3, 0, 5, 127};
	sc_tensor x = make_vec(SC_INT8, 5, xv);
	sc_tensor hi = make(SC_INT8, 0, NULL);
	*(int8_t *)hi.data = 4;
	const sc_tensor *ins[3] = {&x, NULL, &hi};
	one_begin(&o, 13, "Clip", 3, ins, 1);
	one_run_ok(&o);
	int64_t want[5] = {-128, -3, 0, 4, 4};
	expect_ints(one_out(&o, 0), want, "Clip int8 max");
	/* the bounds are read at every run, not baked in at prepare */
	*(int8_t *)hi.data = -5;
	one_run_ok(&o);
	int64_t want2[5] = {-128, -5, -5, -5, -5};
	expect_ints(one_out(&o, 0), want2, "Clip int8 new max");
	one_end(&o);

	/* opset 6: attributes; min > max gives max everywhere */
	double fv[4] = {-2, 0.25, 9, NAN};
	sc_tensor f = make_vec(SC_FLOAT, 4, fv);
	const sc_tensor *fins[1] = {&f};
	graph_node *n = one_begin(&o, 6, "Clip", 1, fins, 1);
	attr_float(n, "min", -1);
	attr_float(n, "max", 1);
	one_run_ok(&o);
	double want_f[4] = {-1, 0.25, 1, NAN};
	expect_close(one_out(&o, 0), want_f, 0, 0, "Clip opset 6");
	one_end(&o);
	sc_tensor lo = make(SC_FLOAT, 0, NULL), hi2 = make(SC_FLOAT, 0, NULL);
	*(float *)lo.data = 3;
	*(float *)hi2.data = 2;
	const sc_tensor *ins3[3] = {&f, &lo, &hi2};
	one_begin(&o, 13, "Clip", 3, ins3, 1);
	one_run_ok(&o);
	double want_m[4] = {2, 2, 2, NAN};
	expect_close(one_out(&o, 0), want_m, 0, 0, "Clip min > max");
	one_end(&o);
	tensor_free(&x);
	tensor_free(&hi);
	tensor_free(&f);
	tensor_free(&lo);
	tensor_free(&hi2);
}

/* --- Dropout --------------------------------------------------------------- */

static void test_dropout(void **state)
{
	(void)state;
	double xv[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	sc_tensor x = make_vec(SC_FLOAT, 8, xv);
	sc_tensor ratio = make(SC_FLOAT, 0, NULL), train = make(SC_BOOL, 0, NULL);
	*(float *)ratio.data = 0.5f;
	*(uint8_t *)train.data = 1;
	const sc_tensor *ins[3] = {&x, &ratio, &train};
	one_node o;
	graph_node *n = one_begin(&o, 13, "Dropout", 3, ins, 2);
	attr_int(n, "seed", 0);
	one_run_ok(&o);
	/* np.random.seed(0); np.random.uniform(0, 1, 8) is
	 * .549 .715 .603 .545 .424 .646 .438 .892: kept where >= 0.5 */
	int64_t mask[8] = {1, 1, 1, 1, 0, 1, 0, 1};
	double y[8] = {2, 4, 6, 8, 0, 12, 0, 16};
	expect_ints(one_out(&o, 1), mask, "Dropout mask");
	expect_close(one_out(&o, 0), y, 1e-6, 0, "Dropout output");
	/* the generator runs on: the next step draws another mask */
	one_run_ok(&o);
	assert_true(memcmp(one_out(&o, 1)->data, (uint8_t[8]){1, 1, 1, 1, 0, 1, 0, 1}, 8));
	/* inference: identity, everything kept */
	*(uint8_t *)train.data = 0;
	one_run_ok(&o);
	int64_t all[8] = {1, 1, 1, 1, 1, 1, 1, 1};
	expect_ints(one_out(&o, 1), all, "Dropout inference mask");
	expect_close(one_out(&o, 0), xv, 0, 0, "Dropout inference");
	one_end(&o);

	/* opset 7: the mask has X's type */
	const sc_tensor *ins7[1] = {&x};
	one_begin(&o, 7, "Dropout", 1, ins7, 2);
	one_run_ok(&o);
	assert_int_equal(one_out(&o, 1)->dtype, SC_FLOAT);
	double ones[8] = {1, 1, 1, 1, 1, 1, 1, 1};
	expect_close(one_out(&o, 1), ones, 0, 0, "Dropout-7 mask");
	one_end(&o);
	tensor_free(&x);
	tensor_free(&ratio);
	tensor_free(&train);
}

/* --- opset 6 and re-preparing ---------------------------------------------- */

static void test_legacy_broadcast(void **state)
{
	(void)state;
	int64_t da[4] = {2, 3, 4, 5}, db[2] = {3, 4};
	sc_tensor a = make_uniform(4, da, -1, 1), b = make_uniform(2, db, -1, 1);
	const sc_tensor *ins[2] = {&a, &b};
	one_node o;
	graph_node *n = one_begin(&o, 6, "Add", 2, ins, 1);
	attr_int(n, "broadcast", 1);
	attr_int(n, "axis", 1);
	one_run_ok(&o);
	double want[120];
	for (int64_t i = 0; i < 120; i++)
		want[i] = (double)((float *)a.data)[i] +
			  ((float *)b.data)[(i / 5) % 12];
	expect_close(one_out(&o, 0), want, 1e-6, 0, "Add-6 axis 1");
	one_end(&o);

	/* without `broadcast`, shapes must agree */
	one_begin(&o, 6, "Add", 2, ins, 1);
	sc_error err = {0};
	assert_int_equal(one_run(&o, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "'broadcast' is not set"));
	one_end(&o);

	/* PRelu-6: a 1-D slope is per channel */
	int64_t dx[3] = {2, 3, 4}, ds[1] = {3};
	sc_tensor x = make_uniform(3, dx, -1, 1), s = make_uniform(1, ds, 0, 1);
	const sc_tensor *pins[2] = {&x, &s};
	one_begin(&o, 6, "PRelu", 2, pins, 1);
	one_run_ok(&o);
	double want_p[24];
	for (int64_t i = 0; i < 24; i++) {
		double v = ((float *)x.data)[i];
		want_p[i] = v < 0 ? v * ((float *)s.data)[(i / 4) % 3] : v;
	}
	expect_close(one_out(&o, 0), want_p, 1e-6, 0, "PRelu-6");
	one_end(&o);
	tensor_free(&a);
	tensor_free(&b);
	tensor_free(&x);
	tensor_free(&s);
}

static void test_reprepare(void **state)
{
	(void)state;
	int64_t d1[2] = {2, 3}, d2[1] = {3}, d3[2] = {40000, 2}, d4[1] = {1};
	sc_tensor a = make_uniform(2, d1, -1, 1), b = make_uniform(1, d2, -1, 1);
	const sc_tensor *ins[2] = {&a, &b};
	one_node o;
	one_begin_free(&o, 14, "Mul", 2, ins, 1);
	for (int round = 0; round < 3; round++) {
		if (round == 1) {
			tensor_free(&a);
			tensor_free(&b);
			a = make_uniform(2, d3, -1, 1);
			b = make_uniform(1, d4, -1, 1);
		}
		one_run_ok(&o);
		const sc_tensor *y = one_out(&o, 0);
		expect_dims(y, 2, a.dims);
		double *want = malloc((size_t)y->numel * sizeof *want);
		assert_non_null(want);
		for (int64_t i = 0; i < y->numel; i++)
			want[i] = (float)((double)((float *)a.data)[i] *
					  ((float *)b.data)[src_index(&b, 2, a.dims, i)]);
		expect_close(y, want, 1e-6, 0, "Mul after a shape change");
		free(want);
	}
	one_end(&o);
	tensor_free(&a);
	tensor_free(&b);
}

/* --- Trilu and CumSum ------------------------------------------------------ */

static void test_trilu(void **state)
{
	(void)state;
	int64_t dims[3] = {2, 4, 6};
	sc_tensor x = make_uniform(3, dims, 1, 2);
	sc_tensor k = make(SC_INT64, 0, NULL);
	const sc_tensor *ins[2] = {&x, &k};
	int64_t shifts[5] = {0, -2, 3, 100, -100};
	for (int upper = 0; upper < 2; upper++)
		for (int s = 0; s < 5; s++) {
			*(int64_t *)k.data = shifts[s];
			one_node o;
			graph_node *n = one_begin(&o, 14, "Trilu", 2, ins, 1);
			attr_int(n, "upper", upper);
			one_run_ok(&o);
			double want[48];
			for (int64_t i = 0; i < 48; i++) {
				int64_t r = i / 6 % 4, c = i % 6;
				int keep = upper ? c - r >= shifts[s] : c - r <= shifts[s];
				want[i] = keep ? ((float *)x.data)[i] : 0;
			}
			expect_close(one_out(&o, 0), want, 0, 0, "Trilu");
			one_end(&o);
		}
	tensor_free(&x);
	tensor_free(&k);
}

static void test_cumsum(void **state)
{
	(void)state;
	/* 40 x 30 x 50 = 60000 elements, summed along the middle axis */
	int64_t dims[3] = {40, 30, 50};
	sc_tensor x = make(SC_INT64, 3, dims);
	for (int64_t i = 0; i < x.numel; i++)
		((int64_t *)x.data)[i] = (i * 7) % 13 - 6;
	((int64_t *)x.data)[0] = INT64_MAX;   /* wraps, as in two's complement */
	sc_tensor axis = make(SC_INT32, 0, NULL);
	*(int32_t *)axis.data = -2;
	const sc_tensor *ins[2] = {&x, &axis};
	int64_t *want = malloc((size_t)x.numel * sizeof *want);
	assert_non_null(want);
	for (int mode = 0; mode < 4; mode++) {
		int exclusive = mode & 1, reverse = mode >> 1;
		one_node o;
		graph_node *n = one_begin(&o, 14, "CumSum", 2, ins, 1);
		attr_int(n, "exclusive", exclusive);
		attr_int(n, "reverse", reverse);
		one_run_ok(&o);
		for (int64_t b = 0; b < 40; b++)
			for (int64_t c = 0; c < 50; c++)
				for (int64_t j = 0; j < 30; j++) {
					uint64_t sum = 0;
					for (int64_t t = 0; t < 30; t++) {
						int in = reverse ? t > j || (!exclusive && t == j) :
							  t < j || (!exclusive && t == j);
						if (in)
							sum += (uint64_t)((int64_t *)x.data)
								[(b * 30 + t) * 50 + c];
					}
					want[(b * 30 + j) * 50 + c] = (int64_t)sum;
				}
		expect_ints(one_out(&o, 0), want, "CumSum int64");
		one_end(&o);
	}
	free(want);
	tensor_free(&x);
	tensor_free(&axis);
}

/* --- opsets 1-5 of the unary ops ------------------------------------------- */

/* The legacy forms under test, their attributes and where x is drawn:
 * away from 0 for Log, Sqrt and Reciprocal, and from the kinks for the
 * gradients (|x| >= 0.1, off Clip's and HardSigmoid's bounds). */
typedef struct legacy_op {
	const char *op;
	float alpha, beta;    /* LeakyRelu, Elu, Selu (alpha, gamma), HardSigmoid, Clip (min, max) */
	int n_attrs;
	int positive;
	int has_grad;
} legacy_op;

static const legacy_op legacy_ops[] = {
	{"Relu", 0, 0, 0, 0, 1},
	{"Sigmoid", 0, 0, 0, 0, 1},
	{"Tanh", 0, 0, 0, 0, 1},
	{"Sqrt", 0, 0, 0, 1, 1},
	{"Exp", 0, 0, 0, 0, 1},
	{"Log", 0, 0, 0, 1, 1},
	{"Neg", 0, 0, 0, 0, 1},
	{"Abs", 0, 0, 0, 0, 1},
	{"Reciprocal", 0, 0, 0, 0, 1},
	{"Floor", 0, 0, 0, 0, 0},
	{"Ceil", 0, 0, 0, 0, 0},
	{"LeakyRelu", 0.2f, 0, 1, 0, 1},
	{"Elu", 0.5f, 0, 1, 0, 1},
	{"Selu", 1.5f, 1.25f, 2, 0, 1},
	{"HardSigmoid", 0.25f, 0.5f, 2, 0, 1},
	{"Clip", -1.5f, 1.75f, 2, 0, 1},
};

static double legacy_ref(const legacy_op *l, double x)
{
	double a = l->alpha, b = l->beta;
	const char *op = l->op;
	if (!strcmp(op, "Relu")) return x > 0 ? x : 0;
	if (!strcmp(op, "Neg")) return -x;
	if (!strcmp(op, "Abs")) return fabs(x);
	if (!strcmp(op, "Reciprocal")) return 1 / x;
	if (!strcmp(op, "Floor")) return floor(x);
	if (!strcmp(op, "Ceil")) return ceil(x);
	if (!strcmp(op, "LeakyRelu")) return x < 0 ? a * x : x;
	if (!strcmp(op, "Elu")) return x < 0 ? a * (exp(x) - 1) : x;
	if (!strcmp(op, "Selu")) return b * (x < 0 ? a * (exp(x) - 1) : x);
	if (!strcmp(op, "HardSigmoid")) return fmax(0, fmin(1, a * x + b));
	if (!strcmp(op, "Clip")) return fmin(fmax(x, a), b);
	return ref_unary(op, x);
}

/* The node of l at opset, with consumed_inputs and its attributes. */
static void legacy_attrs(graph_node *n, const legacy_op *l)
{
	attr_ints(n, "consumed_inputs", 1, 0);
	static const char *const names[][2] = {
		{"alpha", NULL}, {"alpha", "gamma"}, {"alpha", "beta"}, {"min", "max"},
	};
	int set = !strcmp(l->op, "Selu") ? 1 : !strcmp(l->op, "HardSigmoid") ? 2 :
		  !strcmp(l->op, "Clip") ? 3 : 0;
	if (l->n_attrs >= 1)
		attr_float(n, names[set][0], l->alpha);
	if (l->n_attrs >= 2)
		attr_float(n, names[set][1], l->beta);
}

/* x in [lo, hi] with |x| >= 0.1 and off the kinks at the bounds of Clip
 * and HardSigmoid (x = -2, 2, -1.5, 1.75). */
static double legacy_draw(const legacy_op *l, int64_t i)
{
	double x = l->positive ? 0.2 + 0.37 * (double)(i % 8) :
		   -2.6 + 0.45 * (double)(i % 12);
	return fabs(x) < 0.1 ? x + 0.2 : x;
}

static void test_legacy_unary_forward(void **state)
{
	(void)state;
	int64_t dims[2] = {3, 4};
	for (size_t k = 0; k < sizeof legacy_ops / sizeof legacy_ops[0]; k++) {
		const legacy_op *l = &legacy_ops[k];
		for (int64_t opset = 1; opset <= 5; opset += 4) {
			sc_tensor x = make(SC_FLOAT, 2, dims);
			double want[12];
			for (int64_t i = 0; i < 12; i++) {
				((float *)x.data)[i] = (float)legacy_draw(l, i);
				want[i] = legacy_ref(l, ((float *)x.data)[i]);
			}
			const sc_tensor *ins[1] = {&x};
			one_node o;
			legacy_attrs(one_begin(&o, opset, l->op, 1, ins, 1), l);
			one_run_ok(&o);
			expect_close(one_out(&o, 0), want, 1e-6, 1e-7, l->op);
			one_end(&o);
			tensor_free(&x);
		}
	}
	/* opset 6 dropped the attribute */
	int64_t one[1] = {1};
	sc_tensor x = make(SC_FLOAT, 1, one);
	const sc_tensor *ins[1] = {&x};
	one_node o;
	attr_ints(one_begin(&o, 6, "Relu", 1, ins, 1), "consumed_inputs", 1, 0);
	sc_error err = {0};
	assert_int_equal(one_run(&o, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "unknown attribute 'consumed_inputs' for Relu at opset 6"));
	one_end(&o);
	tensor_free(&x);
}

/* L = sum(op(x) * R) at opset 1, differentiated by autodiff and by
 * central differences in double. */
static void check_legacy_gradient(const legacy_op *l, int64_t opset)
{
	graph_model *m = model(opset);
	graph *g = m->graph;
	input(g, "x", SC_DOUBLE, "3,4");
	int64_t dims[2] = {3, 4};
	double r[12], xv[12];
	for (int i = 0; i < 12; i++) {
		r[i] = 0.25 * (double)((i * 5) % 7) - 0.75;
		xv[i] = legacy_draw(l, i);
	}
	init_tensor(g, "R", SC_DOUBLE, 2, dims, r);
	legacy_attrs(add(g, l->op, "op", "x", "f"), l);
	add(g, "Mul", "weigh", "f,R", "fr");
	attr_int(add(g, "ReduceSum", "loss", "fr", "L"), "keepdims", 0);
	output(g, "L");
	const char *wrt[1] = {"x"};
	int grads[1];
	sc_error err = {0};
	if (autodiff_build(m, "L", 1, wrt, grads, &err))
		fail_msg("%s (opset %lld): autodiff: %s", l->op, (long long)opset, err.msg);
	plan *p = make_plan(m, 0);
	const char *gname = g->values[grads[0]].name;
	int gi = -1;
	for (int o = 0; o < plan_output_count(p); o++)
		if (!strcmp(plan_output_name(p, o), gname))
			gi = o;
	assert_true(gi >= 0);
	sc_tensor x = make(SC_DOUBLE, 2, dims);
	memcpy(x.data, xv, sizeof xv);
	const char *names[1] = {"x"};
	const sc_tensor *ins[1] = {&x};
	if (plan_run(p, 1, names, ins, &err))
		fail_msg("%s: run: %s", l->op, err.msg);
	double analytic[12];
	memcpy(analytic, plan_output(p, gi)->data, sizeof analytic);
	double *px = x.data, h = 1e-6;
	for (int i = 0; i < 12; i++) {
		double keep = px[i], up, down;
		px[i] = keep + h;
		assert_int_equal(plan_run(p, 1, names, ins, &err), SC_OK);
		up = *(const double *)plan_output(p, 0)->data;
		px[i] = keep - h;
		assert_int_equal(plan_run(p, 1, names, ins, &err), SC_OK);
		down = *(const double *)plan_output(p, 0)->data;
		px[i] = keep;
		expect_near(analytic[i], (up - down) / (2 * h), 1e-6, 1e-7, l->op, i);
	}
	tensor_free(&x);
	plan_free(p);
	graph_model_free(m);
}

static void test_legacy_unary_gradients(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof legacy_ops / sizeof legacy_ops[0]; k++)
		if (legacy_ops[k].has_grad) {
			check_legacy_gradient(&legacy_ops[k], 1);
			check_legacy_gradient(&legacy_ops[k], 5);
		}
}

static void test_errors(void **state)
{
	(void)state;
	int64_t d1[2] = {2, 3}, d2[1] = {4};
	sc_tensor a = make(SC_FLOAT, 2, d1), b = make(SC_FLOAT, 1, d2),
		  c = make(SC_INT32, 2, d1);
	sc_error err = {0};
	one_node o;
	const sc_tensor *bad_shape[2] = {&a, &b};
	one_begin_free(&o, 14, "Add", 2, bad_shape, 1);
	assert_int_equal(one_run(&o, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "node 'node' (Add): input 1 has shape [4]"));
	one_end(&o);
	const sc_tensor *bad_cond[3] = {&a, &a, &a};
	one_begin_free(&o, 16, "Where", 3, bad_cond, 1);
	assert_int_equal(one_run(&o, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "condition"));
	assert_non_null(strstr(err.msg, "float32"));
	one_end(&o);
	const sc_tensor *not_float[1] = {&c};
	one_begin_free(&o, 13, "Sigmoid", 1, not_float, 1);
	assert_int_equal(one_run(&o, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "input 0 of type int32 is not supported"));
	one_end(&o);
	tensor_free(&a);
	tensor_free(&b);
	tensor_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bcast_plan),
		cmocka_unit_test(test_binary_broadcast_patterns),
		cmocka_unit_test(test_variadic),
		cmocka_unit_test(test_where),
		cmocka_unit_test(test_unary_large_and_small),
		cmocka_unit_test(test_integer_semantics),
		cmocka_unit_test(test_pow_types),
		cmocka_unit_test(test_cast),
		cmocka_unit_test(test_clip),
		cmocka_unit_test(test_dropout),
		cmocka_unit_test(test_legacy_broadcast),
		cmocka_unit_test(test_reprepare),
		cmocka_unit_test(test_trilu),
		cmocka_unit_test(test_cumsum),
		cmocka_unit_test(test_legacy_unary_forward),
		cmocka_unit_test(test_legacy_unary_gradients),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
