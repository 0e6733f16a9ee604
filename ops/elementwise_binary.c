/* elementwise_binary.c: kernels of the broadcasting elementwise ops.
 *
 * Every op is a scalar function per dtype (s_<op>_<dtype>) that one loop
 * macro turns into a bcast inner loop with four cases: both operands
 * walking, either one fixed, or both fixed.  Integer arithmetic wraps
 * (computed in an unsigned type, as ONNX Runtime's two's complement
 * does), integer division and modulo by zero give 0 rather than a trap,
 * and Min/Max propagate NaN like numpy.  float16 and bfloat16 compute in
 * float.
 *
 * Binary ops plan one broadcast step; the variadic Sum/Min/Max/Mean fold
 * their inputs into the output one step at a time (out = in0 op in1, then
 * out = out op in2, ...), and Mean divides at the end; Where picks by
 * element size.  Pow with one float type runs a typed loop; mixed types
 * (opset 12+) and integers go through double, or through exact integer
 * powers when both operands are integers. */
#include <stdlib.h>
#include <string.h>
#include <tgmath.h>

#include "broadcast.h"
#include "elementwise_kernels.h"
#include "infer_util.h"

/* Nothing here reads the FP exception flags, so let GCC compute both arms
 * of a conditional (x < 0 ? alpha * x : x) and blend them: with traps
 * honoured it keeps a branch and the loop does not vectorise. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

/* --- scalar operations ---------------------------------------------------- */

#define SAME(x) (x)

/* (op, suffix, dtype, storage type, compute type, load, store) */
#define FLOAT_TYPES(X, op) \
	X(op, f32, SC_FLOAT, float, float, SAME, SAME) \
	X(op, f64, SC_DOUBLE, double, double, SAME, SAME) \
	X(op, f16, SC_FLOAT16, uint16_t, float, tensor_half_to_float, \
	  tensor_float_to_half) \
	X(op, bf16, SC_BFLOAT16, uint16_t, float, tensor_bf16_to_float, \
	  tensor_float_to_bf16)

/* (op, suffix, dtype, type, unsigned type arithmetic wraps in) */
#define SINT_TYPES(X, op) \
	X(op, i8, SC_INT8, int8_t, uint32_t) \
	X(op, i16, SC_INT16, int16_t, uint32_t) \
	X(op, i32, SC_INT32, int32_t, uint32_t) \
	X(op, i64, SC_INT64, int64_t, uint64_t)

#define UINT_TYPES(X, op) \
	X(op, u8, SC_UINT8, uint8_t, uint32_t) \
	X(op, u16, SC_UINT16, uint16_t, uint32_t) \
	X(op, u32, SC_UINT32, uint32_t, uint32_t) \
	X(op, u64, SC_UINT64, uint64_t, uint64_t)

#define COMPARISONS(sfx, CT) \
static inline uint8_t s_eq_##sfx(CT x, CT y) { return x == y; } \
static inline uint8_t s_lt_##sfx(CT x, CT y) { return x < y; } \
static inline uint8_t s_gt_##sfx(CT x, CT y) { return x > y; } \
static inline uint8_t s_le_##sfx(CT x, CT y) { return x <= y; } \
static inline uint8_t s_ge_##sfx(CT x, CT y) { return x >= y; }

#define FLOAT_SCALARS(unused, sfx, DT, T, CT, LD, ST) \
static inline CT s_add_##sfx(CT x, CT y) { return x + y; } \
static inline CT s_sub_##sfx(CT x, CT y) { return x - y; } \
static inline CT s_mul_##sfx(CT x, CT y) { return x * y; } \
static inline CT s_div_##sfx(CT x, CT y) { return x / y; } \
static inline CT s_min_##sfx(CT x, CT y) { return x < y || x != x ? x : y; } \
static inline CT s_max_##sfx(CT x, CT y) { return x > y || x != x ? x : y; } \
static inline CT s_cmod_##sfx(CT x, CT y) { return fmod(x, y); } \
static inline CT s_pymod_##sfx(CT x, CT y) \
{ \
	CT r = fmod(x, y); \
	return r != 0 && (r < 0) != (y < 0) ? r + y : r; \
} \
static inline CT s_power_##sfx(CT x, CT y) { return pow(x, y); } \
static inline CT s_prelu_##sfx(CT x, CT y) { return (x < 0 ? y : 1) * x; } \
COMPARISONS(sfx, CT)

#define SINT_SCALARS(unused, sfx, DT, T, U) \
static inline T s_add_##sfx(T x, T y) { return (T)((U)x + (U)y); } \
static inline T s_sub_##sfx(T x, T y) { return (T)((U)x - (U)y); } \
static inline T s_mul_##sfx(T x, T y) { return (T)((U)x * (U)y); } \
static inline T s_div_##sfx(T x, T y) \
{ \
	return y == 0 ? 0 : y == -1 ? (T)(0 - (U)x) : (T)(x / y); \
} \
static inline T s_min_##sfx(T x, T y) { return x < y ? x : y; } \
static inline T s_max_##sfx(T x, T y) { return x > y ? x : y; } \
static inline T s_cmod_##sfx(T x, T y) \
{ \
	return y == 0 || y == -1 ? 0 : (T)(x % y); \
} \
static inline T s_pymod_##sfx(T x, T y) \
{ \
	if (y == 0 || y == -1) \
		return 0; \
	T r = (T)(x % y); \
	return r != 0 && (r < 0) != (y < 0) ? (T)(r + y) : r; \
} \
static inline T s_prelu_##sfx(T x, T y) \
{ \
	return x < 0 ? (T)((U)x * (U)y) : x; \
} \
COMPARISONS(sfx, T)

#define UINT_SCALARS(unused, sfx, DT, T, U) \
static inline T s_add_##sfx(T x, T y) { return (T)((U)x + (U)y); } \
static inline T s_sub_##sfx(T x, T y) { return (T)((U)x - (U)y); } \
static inline T s_mul_##sfx(T x, T y) { return (T)((U)x * (U)y); } \
static inline T s_div_##sfx(T x, T y) { return y == 0 ? 0 : (T)(x / y); } \
static inline T s_min_##sfx(T x, T y) { return x < y ? x : y; } \
static inline T s_max_##sfx(T x, T y) { return x > y ? x : y; } \
static inline T s_cmod_##sfx(T x, T y) { return y == 0 ? 0 : (T)(x % y); } \
static inline T s_pymod_##sfx(T x, T y) { return s_cmod_##sfx(x, y); } \
static inline T s_shl_##sfx(T x, T y) \
{ \
	return y >= 8 * sizeof(T) ? 0 : (T)((U)x << y); \
} \
static inline T s_shr_##sfx(T x, T y) \
{ \
	return y >= 8 * sizeof(T) ? 0 : (T)(x >> y); \
} \
COMPARISONS(sfx, T)

FLOAT_TYPES(FLOAT_SCALARS, 0)
SINT_TYPES(SINT_SCALARS, 0)
UINT_TYPES(UINT_SCALARS, 0)
COMPARISONS(b, uint8_t)
static inline uint8_t s_land_b(uint8_t x, uint8_t y) { return x && y; }
static inline uint8_t s_lor_b(uint8_t x, uint8_t y) { return x || y; }
static inline uint8_t s_lxor_b(uint8_t x, uint8_t y) { return !x != !y; }

/* --- loops ---------------------------------------------------------------- */

/* No restrict: Sum/Min/Max/Mean fold into the output, which then is also
 * operand 0, read at the very index that is written. */
#define LOOP(name, F, T, OT, CT, LD, ST) \
static void name(const void *ctx, void *out, const void *const *in, \
		 const int *step, int64_t n) \
{ \
	const T *a = in[0], *b = in[1]; \
	OT *o = out; \
	(void)ctx; \
	if (step[0] && step[1]) { \
		for (int64_t i = 0; i < n; i++) \
			o[i] = ST(F(LD(a[i]), LD(b[i]))); \
	} else if (step[0]) { \
		CT y = LD(b[0]); \
		for (int64_t i = 0; i < n; i++) \
			o[i] = ST(F(LD(a[i]), y)); \
	} else if (step[1]) { \
		CT x = LD(a[0]); \
		for (int64_t i = 0; i < n; i++) \
			o[i] = ST(F(x, LD(b[i]))); \
	} else { \
		OT v = ST(F(LD(a[0]), LD(b[0]))); \
		for (int64_t i = 0; i < n; i++) \
			o[i] = v; \
	} \
}

#define ARITH_F(op, sfx, DT, T, CT, LD, ST) \
	LOOP(op##_##sfx, s_##op##_##sfx, T, T, CT, LD, ST)
#define CMP_F(op, sfx, DT, T, CT, LD, ST) \
	LOOP(op##_##sfx, s_##op##_##sfx, T, uint8_t, CT, LD, SAME)
#define ARITH_I(op, sfx, DT, T, U) \
	LOOP(op##_##sfx, s_##op##_##sfx, T, T, T, SAME, SAME)
#define CMP_I(op, sfx, DT, T, U) \
	LOOP(op##_##sfx, s_##op##_##sfx, T, uint8_t, T, SAME, SAME)
#define ENTRY(op, sfx, DT, ...) [DT] = op##_##sfx,

#define ALL_TYPES(X_F, X_I, op) \
	FLOAT_TYPES(X_F, op) SINT_TYPES(X_I, op) UINT_TYPES(X_I, op)

/* arithmetic on every numeric type */
#define NUMERIC_OP(op) \
	ALL_TYPES(ARITH_F, ARITH_I, op) \
	static const bcast_loop_fn op##_loops[SC_DTYPE_COUNT] = { \
		ALL_TYPES(ENTRY, ENTRY, op) \
	};

/* comparisons: numeric types (and bool for Equal) to bool */
#define COMPARE_OP(op) \
	ALL_TYPES(CMP_F, CMP_I, op) \
	static const bcast_loop_fn op##_loops[SC_DTYPE_COUNT] = { \
		ALL_TYPES(ENTRY, ENTRY, op) \
	};

NUMERIC_OP(add)
NUMERIC_OP(sub)
NUMERIC_OP(mul)
NUMERIC_OP(div)
NUMERIC_OP(min)
NUMERIC_OP(max)
NUMERIC_OP(cmod)
NUMERIC_OP(pymod)
COMPARE_OP(lt)
COMPARE_OP(gt)
COMPARE_OP(le)
COMPARE_OP(ge)

ALL_TYPES(CMP_F, CMP_I, eq)
LOOP(eq_b, s_eq_b, uint8_t, uint8_t, uint8_t, SAME, SAME)
static const bcast_loop_fn eq_loops[SC_DTYPE_COUNT] = {
	ALL_TYPES(ENTRY, ENTRY, eq)
	[SC_BOOL] = eq_b,
};

FLOAT_TYPES(ARITH_F, prelu)
SINT_TYPES(ARITH_I, prelu)
static const bcast_loop_fn prelu_loops[SC_DTYPE_COUNT] = {
	FLOAT_TYPES(ENTRY, prelu) SINT_TYPES(ENTRY, prelu)
};

UINT_TYPES(ARITH_I, shl)
UINT_TYPES(ARITH_I, shr)
static const bcast_loop_fn shl_loops[SC_DTYPE_COUNT] = {UINT_TYPES(ENTRY, shl)};
static const bcast_loop_fn shr_loops[SC_DTYPE_COUNT] = {UINT_TYPES(ENTRY, shr)};

LOOP(land_b, s_land_b, uint8_t, uint8_t, uint8_t, SAME, SAME)
LOOP(lor_b, s_lor_b, uint8_t, uint8_t, uint8_t, SAME, SAME)
LOOP(lxor_b, s_lxor_b, uint8_t, uint8_t, uint8_t, SAME, SAME)
static const bcast_loop_fn land_loops[SC_DTYPE_COUNT] = {[SC_BOOL] = land_b};
static const bcast_loop_fn lor_loops[SC_DTYPE_COUNT] = {[SC_BOOL] = lor_b};
static const bcast_loop_fn lxor_loops[SC_DTYPE_COUNT] = {[SC_BOOL] = lxor_b};

/* --- Pow ------------------------------------------------------------------ */

LOOP(power_f64, s_power_f64, double, double, double, SAME, SAME)
LOOP(power_f16, s_power_f16, uint16_t, uint16_t, float, tensor_half_to_float,
     tensor_float_to_half)
LOOP(power_bf16, s_power_bf16, uint16_t, uint16_t, float, tensor_bf16_to_float,
     tensor_float_to_bf16)

/* float32 ** float32, with the squares of variance formulas exact and
 * fast */
static void power_f32(const void *ctx, void *out, const void *const *in,
		      const int *step, int64_t n)
{
	const float *a = in[0], *b = in[1];
	float *o = out;
	(void)ctx;
	if (step[0] && !step[1] && b[0] == 2.0f) {
		for (int64_t i = 0; i < n; i++)
			o[i] = a[i] * a[i];
		return;
	}
	if (step[0] && !step[1] && b[0] == 1.0f) {
		memcpy(o, a, (size_t)n * sizeof *o);
		return;
	}
	for (int64_t i = 0; i < n; i++)
		o[i] = pow(a[i * step[0]], b[i * step[1]]);
}

static const bcast_loop_fn power_loops[SC_DTYPE_COUNT] = {
	FLOAT_TYPES(ENTRY, power)
};

typedef struct pow_types {
	int base, expo;
} pow_types;

/* Integer power with wrap-around, as repeated multiplication would give. */
static int64_t int_pow(int64_t base, int64_t e)
{
	if (e < 0)
		return base == 1 ? 1 : base == -1 ? (e & 1 ? -1 : 1) : 0;
	uint64_t r = 1, b = (uint64_t)base;
	while (e) {
		if (e & 1)
			r *= b;
		b *= b;
		e >>= 1;
	}
	return (int64_t)r;
}

/* Any base and exponent types (opset 12+), and integer bases. */
static void power_mixed(const void *ctx, void *out, const void *const *in,
			const int *step, int64_t n)
{
	const pow_types *t = ctx;
	int exact = !tensor_dtype_is_float(t->base) &&
		    !tensor_dtype_is_float(t->expo);
	for (int64_t i = 0; i < n; i++) {
		int64_t ia = i * step[0], ib = i * step[1];
		if (exact)
			ew_store_int(t->base, out, i,
				     int_pow(ew_load_int(t->base, in[0], ia),
					     ew_load_int(t->expo, in[1], ib)));
		else
			ew_store_double(t->base, out, i,
					pow(ew_load_double(t->base, in[0], ia),
					    ew_load_double(t->expo, in[1], ib)));
	}
}

/* --- Mean, copies, Where -------------------------------------------------- */

/* in place: out[i] = in[0][i] / count */
#define MEAN_LOOP(unused, sfx, DT, T, CT, LD, ST) \
static void mean_##sfx(const void *ctx, void *out, const void *const *in, \
		       const int *step, int64_t n) \
{ \
	const T *a = in[0]; \
	T *o = out; \
	CT count = (CT)*(const int *)ctx; \
	(void)step; \
	for (int64_t i = 0; i < n; i++) \
		o[i] = ST(LD(a[i]) / count); \
}
FLOAT_TYPES(MEAN_LOOP, 0)
static const bcast_loop_fn mean_loops[SC_DTYPE_COUNT] = {
	FLOAT_TYPES(ENTRY, mean)
};

/* out = in[0] broadcast; ctx points at the element size */
static void copy_loop(const void *ctx, void *out, const void *const *in,
		      const int *step, int64_t n)
{
	size_t size = *(const size_t *)ctx;
	if (step[0]) {
		memcpy(out, in[0], (size_t)n * size);
		return;
	}
	for (int64_t i = 0; i < n; i++)
		memcpy((char *)out + i * (int64_t)size, in[0], size);
}

#define WHERE_LOOP(bits) \
static void where_##bits(const void *ctx, void *out, const void *const *in, \
			 const int *step, int64_t n) \
{ \
	const uint8_t *c = in[0]; \
	const uint##bits##_t *x = in[1], *y = in[2]; \
	uint##bits##_t *o = out; \
	int sc = step[0], sx = step[1], sy = step[2]; \
	(void)ctx; \
	for (int64_t i = 0; i < n; i++) \
		o[i] = c[i * sc] ? x[i * sx] : y[i * sy]; \
}
WHERE_LOOP(8)
WHERE_LOOP(16)
WHERE_LOOP(32)
WHERE_LOOP(64)

/* --- plans ---------------------------------------------------------------- */

/* One pass over the output.  src[i] names the tensor behind the plan's
 * input i: an input index, or -1 for the output itself. */
typedef struct bc_step {
	bcast plan;
	bcast_loop_fn loop;
	const void *ctx;
	int src[BCAST_MAX_IN];
} bc_step;

typedef struct bc_state {
	pow_types pow;
	size_t elem_size;          /* copy_loop's */
	int count;                 /* mean_*'s */
	int n_steps;
	bc_step steps[];
} bc_state;

static bc_state *alloc_state(int n_steps, const char *label, sc_error *err)
{
	bc_state *s = calloc(1, sizeof *s + (size_t)n_steps * sizeof s->steps[0]);
	if (!s) {
		sc_fail(err, SC_ENOMEM, "%s: out of memory", label);
		return NULL;
	}
	s->n_steps = n_steps;
	return s;
}

/* Plans step j over the n tensors t, which run reads from src (an input
 * index, or -1 for the output). */
static void plan_step(op_kernel *k, bc_state *s, int j, int n,
		      const sc_tensor *const *t, const int *src,
		      bcast_loop_fn loop, const void *ctx)
{
	sc_tensor *out = k->out[0];
	bc_step *st = &s->steps[j];
	for (int i = 0; i < n; i++)
		st->src[i] = src[i];
	st->loop = loop;
	st->ctx = ctx;
	bcast_init(&st->plan, n, t, out->rank, out->dims,
		   tensor_dtype_size(out->dtype));
}

int ew_broadcast_run(op_kernel *k, sc_error *err)
{
	(void)err;
	bc_state *s = k->state;
	void *out = k->out[0]->data;
	for (int j = 0; j < s->n_steps; j++) {
		const bc_step *st = &s->steps[j];
		const void *in[BCAST_MAX_IN];
		for (int i = 0; i < st->plan.n_in; i++)
			in[i] = st->src[i] < 0 ? out : k->in[st->src[i]]->data;
		bcast_run(&st->plan, out, in, st->loop, st->ctx);
	}
	return SC_OK;
}

/* --- prepare -------------------------------------------------------------- */

static const char *out_name(const op_kernel *k)
{
	return k->g->values[k->node->outputs[0]].name;
}

static int get_inputs(const op_kernel *k, int n, const char *label,
		      sc_error *err)
{
	if (k->n_in < n)
		return sc_fail(err, SC_EINVAL, "%s: needs %d inputs, has %d",
			       label, n, k->n_in);
	for (int i = 0; i < n; i++)
		if (!k->in[i])
			return sc_fail(err, SC_EINVAL, "%s: input %d is missing",
				       label, i);
	return SC_OK;
}

static int refuse_dtype(int i, int dtype, const char *label, sc_error *err)
{
	return sc_fail(err, dtype == SC_STRING || dtype == SC_COMPLEX64 ||
		       dtype == SC_COMPLEX128 ? SC_EUNSUPPORTED : SC_EINVAL,
		       "%s: input %d of type %s is not supported", label, i,
		       tensor_dtype_name(dtype));
}

static int same_dtype(const op_kernel *k, int i, int j, const char *label,
		      sc_error *err)
{
	if (k->in[i]->dtype == k->in[j]->dtype)
		return SC_OK;
	return sc_fail(err, SC_EINVAL, "%s: input %d is %s but input %d is %s",
		       label, j, tensor_dtype_name(k->in[j]->dtype), i,
		       tensor_dtype_name(k->in[i]->dtype));
}

typedef struct binary_op {
	const char *name;
	const bcast_loop_fn *loops;    /* by input dtype */
	int to_bool;
} binary_op;

static const binary_op binary_ops[] = {
	{"Add", add_loops, 0},
	{"Sub", sub_loops, 0},
	{"Mul", mul_loops, 0},
	{"Div", div_loops, 0},
	{"Pow", power_loops, 0},
	{"Mod", pymod_loops, 0},       /* cmod_loops when fmod = 1 */
	{"BitShift", shl_loops, 0},    /* shr_loops for RIGHT */
	{"PRelu", prelu_loops, 0},
	{"Equal", eq_loops, 1},
	{"Less", lt_loops, 1},
	{"Greater", gt_loops, 1},
	{"LessOrEqual", le_loops, 1},
	{"GreaterOrEqual", ge_loops, 1},
	{"And", land_loops, 1},
	{"Or", lor_loops, 1},
	{"Xor", lxor_loops, 1},
};

static const binary_op *find_binary(const char *name)
{
	for (size_t i = 0; i < sizeof binary_ops / sizeof binary_ops[0]; i++)
		if (!strcmp(binary_ops[i].name, name))
			return &binary_ops[i];
	return NULL;
}

static int is_numeric(int dtype)
{
	return tensor_dtype_valid(dtype) && dtype != SC_STRING &&
	       dtype != SC_BOOL && dtype != SC_COMPLEX64 &&
	       dtype != SC_COMPLEX128;
}

/* Pow's loop: typed when both operands share a float type, else mixed. */
static int pow_loop(const op_kernel *k, bc_state *s, bcast_loop_fn *loop,
		    const void **ctx, const char *label, sc_error *err)
{
	int a = k->in[0]->dtype, b = k->in[1]->dtype;
	if (!is_numeric(a))
		return refuse_dtype(0, a, label, err);
	if (!is_numeric(b))
		return refuse_dtype(1, b, label, err);
	if (a != b && k->opset < 12)
		return same_dtype(k, 0, 1, label, err);
	if (a == b && power_loops[a]) {
		*loop = power_loops[a];
		return SC_OK;
	}
	s->pow.base = a;
	s->pow.expo = b;
	*loop = power_mixed;
	*ctx = &s->pow;
	return SC_OK;
}

/* Opsets 1-6 broadcast B towards A only, and only when asked: with
 * `broadcast` = 1, B's dims line up with A's from `axis` (by default, with
 * A's last dims).  PRelu's slope instead is per channel when it is 1-D and
 * as long as X's axis 1.  *view gets B's dims placed on A's axes, so that
 * the numpy machinery does the rest. */
static int legacy_view(const op_kernel *k, sc_tensor *view, const char *label,
		       sc_error *err)
{
	const sc_tensor *a = k->in[0], *b = k->in[1];
	*view = *b;
	int axis = -1;
	if (!strcmp(k->node->op_type, "PRelu")) {
		if (b->rank == 1 && a->rank >= 2 && b->dims[0] == a->dims[1] &&
		    b->dims[0] != 1)
			axis = 1;
	} else if (infer_attr_int(k->node, "broadcast", 0)) {
		int64_t at = infer_attr_int(k->node, "axis", a->rank - b->rank);
		if (at < 0)
			at += a->rank;
		if (at < 0 || at + b->rank > a->rank)
			return sc_fail(err, SC_EINVAL,
				       "%s: B of rank %d does not fit in A of rank %d at axis %lld",
				       label, b->rank, a->rank, (long long)at);
		axis = (int)at;
	} else if (b->rank != a->rank ||
		   memcmp(b->dims, a->dims, (size_t)a->rank * sizeof a->dims[0])) {
		return sc_fail(err, SC_EINVAL,
			       "%s: A and B differ in shape and 'broadcast' is not set",
			       label);
	}
	if (axis >= 0) {
		view->rank = a->rank - axis;
		for (int d = 0; d < view->rank; d++)
			view->dims[d] = d < b->rank ? b->dims[d] : 1;
	}
	return SC_OK;
}

static int plan_binary(op_kernel *k, sc_error *err)
{
	char label[256];
	ew_label(k, label, sizeof label);
	const binary_op *op = find_binary(k->node->op_type);
	if (!op)
		return sc_fail(err, SC_EINTERNAL, "%s: no binary kernel", label);
	int rc = get_inputs(k, 2, label, err);
	if (rc)
		return rc;
	const sc_tensor *a = k->in[0];
	bc_state *s = alloc_state(1, label, err);
	if (!s)
		return SC_ENOMEM;
	k->state = s;

	bcast_loop_fn loop = NULL;
	const void *ctx = NULL;
	const bcast_loop_fn *loops = op->loops;
	if (!strcmp(op->name, "Mod") && infer_attr_int(k->node, "fmod", 0))
		loops = cmod_loops;
	if (!strcmp(op->name, "BitShift") &&
	    infer_attr_is(k->node, "direction", NULL, "RIGHT"))
		loops = shr_loops;
	if (!strcmp(op->name, "BitShift") &&
	    !infer_attr_is(k->node, "direction", NULL, "RIGHT") &&
	    !infer_attr_is(k->node, "direction", NULL, "LEFT"))
		return sc_fail(err, SC_EINVAL,
			       "%s: attribute 'direction' must be LEFT or RIGHT",
			       label);
	if (!strcmp(op->name, "Pow")) {
		rc = pow_loop(k, s, &loop, &ctx, label, err);
	} else {
		rc = same_dtype(k, 0, 1, label, err);
		loop = rc ? NULL : loops[a->dtype];
		if (!rc && !loop)
			rc = refuse_dtype(0, a->dtype, label, err);
	}
	if (rc)
		return rc;

	sc_tensor b_view = *k->in[1];
	if (k->opset < 7 && (rc = legacy_view(k, &b_view, label, err)))
		return rc;
	const sc_tensor *t[2] = {a, &b_view};
	int rank;
	int64_t dims[SC_MAX_RANK];
	rc = bcast_shape(2, t, &rank, dims, label, err);
	if (rc)
		return rc;
	/* PRelu and the old opsets broadcast one way: Y has A's shape */
	if ((!strcmp(op->name, "PRelu") || k->opset < 7) &&
	    (rank != a->rank || memcmp(dims, a->dims, (size_t)rank * sizeof dims[0])))
		return sc_fail(err, SC_EINVAL,
			       "%s: input 1 does not broadcast to the shape of input 0",
			       label);
	rc = tensor_set_shape(k->out[0], op->to_bool ? SC_BOOL : (int)a->dtype,
			      rank, dims, out_name(k), err);
	if (rc)
		return rc;
	static const int src[] = {0, 1};
	plan_step(k, s, 0, 2, t, src, loop, ctx);
	return SC_OK;
}

static int plan_variadic(op_kernel *k, sc_error *err)
{
	char label[256];
	ew_label(k, label, sizeof label);
	const char *name = k->node->op_type;
	int n = k->n_in;
	int rc = n < 1 ? sc_fail(err, SC_EINVAL, "%s: needs at least one input",
				 label) : get_inputs(k, n, label, err);
	if (rc)
		return rc;
	for (int i = 1; i < n && !rc; i++)
		rc = same_dtype(k, 0, i, label, err);
	if (rc)
		return rc;
	int dtype = k->in[0]->dtype;
	int mean = !strcmp(name, "Mean");
	const bcast_loop_fn *loops = !strcmp(name, "Min") ? min_loops :
				     !strcmp(name, "Max") ? max_loops : add_loops;
	if (!loops[dtype] || (mean && !mean_loops[dtype]))
		return refuse_dtype(0, dtype, label, err);

	int rank;
	int64_t dims[SC_MAX_RANK];
	rc = bcast_shape(n, k->in, &rank, dims, label, err);
	if (!rc)
		rc = tensor_set_shape(k->out[0], dtype, rank, dims, out_name(k), err);
	if (rc)
		return rc;
	int n_steps = (n > 1 ? n - 1 : 1) + (mean && n > 1);
	bc_state *s = alloc_state(n_steps, label, err);
	if (!s)
		return SC_ENOMEM;
	k->state = s;
	s->elem_size = tensor_dtype_size(dtype);
	s->count = n;
	if (n == 1) {
		static const int src[] = {0};
		plan_step(k, s, 0, 1, k->in, src, copy_loop, &s->elem_size);
		return SC_OK;
	}
	int src[2] = {0, 1};
	plan_step(k, s, 0, 2, k->in, src, loops[dtype], NULL);
	const sc_tensor *t[2] = {k->out[0], NULL};
	src[0] = -1;
	for (int i = 2; i < n; i++) {
		t[1] = k->in[i];
		src[1] = i;
		plan_step(k, s, i - 1, 2, t, src, loops[dtype], NULL);
	}
	if (mean)
		plan_step(k, s, n - 1, 1, t, src, mean_loops[dtype], &s->count);
	return SC_OK;
}

static int plan_where(op_kernel *k, sc_error *err)
{
	char label[256];
	ew_label(k, label, sizeof label);
	int rc = get_inputs(k, 3, label, err);
	if (rc)
		return rc;
	if (k->in[0]->dtype != SC_BOOL)
		return sc_fail(err, SC_EINVAL, "%s: condition is %s, not bool",
			       label, tensor_dtype_name(k->in[0]->dtype));
	rc = same_dtype(k, 1, 2, label, err);
	if (rc)
		return rc;
	int dtype = k->in[1]->dtype;
	bcast_loop_fn loop;
	switch (dtype == SC_STRING ? 0 : tensor_dtype_size(dtype)) {
	case 1: loop = where_8; break;
	case 2: loop = where_16; break;
	case 4: loop = where_32; break;
	case 8: loop = where_64; break;
	default: return refuse_dtype(1, dtype, label, err);
	}
	int rank;
	int64_t dims[SC_MAX_RANK];
	rc = bcast_shape(3, k->in, &rank, dims, label, err);
	if (!rc)
		rc = tensor_set_shape(k->out[0], dtype, rank, dims, out_name(k), err);
	if (rc)
		return rc;
	bc_state *s = alloc_state(1, label, err);
	if (!s)
		return SC_ENOMEM;
	k->state = s;
	static const int src[] = {0, 1, 2};
	plan_step(k, s, 0, 3, k->in, src, loop, NULL);
	return SC_OK;
}

/* The executor releases only what prepared successfully, so a failing
 * prepare frees its own state. */
static int prepare_or_free(int (*prepare)(op_kernel *, sc_error *),
			   op_kernel *k, sc_error *err)
{
	int rc = prepare(k, err);
	if (rc) {
		free(k->state);
		k->state = NULL;
	}
	return rc;
}

int ew_binary_prepare(op_kernel *k, sc_error *err)
{
	return prepare_or_free(plan_binary, k, err);
}

int ew_variadic_prepare(op_kernel *k, sc_error *err)
{
	return prepare_or_free(plan_variadic, k, err);
}

int ew_where_prepare(op_kernel *k, sc_error *err)
{
	return prepare_or_free(plan_where, k, err);
}
