/* elementwise_cast.c: Cast and CastLike between every pair of numeric and
 * bool dtypes, and the scalar load/store helpers other elementwise kernels
 * use for mixed types.
 *
 * Each pair has its own loop: the source element is widened to double
 * (floating sources) or to int64/uint64 (integer and bool sources), then
 * narrowed to the destination.  The narrowing follows the widened type:
 *   integer -> integer wraps modulo the destination's width (C and numpy);
 *   floating -> integer truncates toward zero, saturates at the
 *     destination's range and maps NaN to 0 (C leaves these undefined);
 *   anything -> bool is `!= 0` (NaN is true);
 *   -> float16 rounds to nearest even straight from double, so double ->
 *     float16 is not rounded twice;
 *   -> bfloat16 truncates the float32 bits, as ONNX 1.12's reference
 *     implementation and its test data do.
 * Strings are refused with SC_EUNSUPPORTED: a string output would need
 * allocations the executor's arena cannot provide. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "broadcast.h"
#include "elementwise_kernels.h"
#include "infer_util.h"

/* --- conversions ---------------------------------------------------------- */

static inline int64_t sat_i64(double v, int64_t lo, int64_t hi)
{
	if (v != v)
		return 0;
	if (v <= (double)lo)
		return lo;
	if (v >= (double)hi)   /* (double)INT64_MAX is 2^63: still caught */
		return hi;
	return (int64_t)v;
}

static inline uint64_t sat_u64(double v, uint64_t hi)
{
	if (v != v || v <= 0)
		return 0;
	if (v >= (double)hi)
		return hi;
	return (uint64_t)v;
}

/* IEEE binary16 nearest to d, ties to even. */
static uint16_t f64_to_f16(double d)
{
	uint64_t x;
	memcpy(&x, &d, sizeof x);
	uint16_t sign = (uint16_t)((x >> 48) & 0x8000);
	uint64_t ax = x & 0x7fffffffffffffffULL;
	if (ax >= 0x7ff0000000000000ULL)
		return sign | 0x7c00 | (ax > 0x7ff0000000000000ULL ? 0x200 : 0);
	int e = (int)(ax >> 52) - 1023;
	if (e >= 16)
		return sign | 0x7c00;
	if (e < -25)          /* below half the smallest subnormal */
		return sign;
	uint64_t man = (ax & 0xfffffffffffffULL) | (1ULL << 52);
	/* normals keep 10 fraction bits; subnormals count units of 2^-24 */
	int shift = e >= -14 ? 42 : 28 - e;
	uint64_t q = man >> shift;
	uint64_t rem = man & ((1ULL << shift) - 1), half = 1ULL << (shift - 1);
	if (rem > half || (rem == half && (q & 1)))
		q++;
	if (e >= -14)         /* a carry out of the fraction bumps the exponent */
		return sign | (uint16_t)(((uint32_t)(e + 15) << 10) + (uint32_t)(q - 1024));
	return sign | (uint16_t)q;
}

static uint16_t f32_to_bf16_trunc(float f)
{
	uint32_t x;
	memcpy(&x, &f, sizeof x);
	if ((x & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((x >> 16) | 0x40);   /* keep NaN a NaN */
	return (uint16_t)(x >> 16);
}

/* widen */
#define LW_F(x) ((double)(x))
#define LW_H(x) ((double)tensor_half_to_float(x))
#define LW_BF(x) ((double)tensor_bf16_to_float(x))
#define LW_S(x) ((int64_t)(x))
#define LW_U(x) ((uint64_t)(x))
#define LW_B(x) ((int64_t)((x) != 0))

/* narrow a double, int64_t or uint64_t */
#define TO_F32(v) ((float)(v))
#define TO_F64(v) ((double)(v))
#define TO_F16(v) f64_to_f16((double)(v))
#define TO_BF16(v) f32_to_bf16_trunc((float)(v))
#define TO_SINT(T, LO, HI, v) \
	_Generic((v), double: (T)sat_i64((double)(v), LO, HI), default: (T)(v))
#define TO_UINT(T, HI, v) \
	_Generic((v), double: (T)sat_u64((double)(v), HI), default: (T)(v))
#define TO_I8(v) TO_SINT(int8_t, INT8_MIN, INT8_MAX, v)
#define TO_I16(v) TO_SINT(int16_t, INT16_MIN, INT16_MAX, v)
#define TO_I32(v) TO_SINT(int32_t, INT32_MIN, INT32_MAX, v)
#define TO_I64(v) TO_SINT(int64_t, INT64_MIN, INT64_MAX, v)
#define TO_U8(v) TO_UINT(uint8_t, UINT8_MAX, v)
#define TO_U16(v) TO_UINT(uint16_t, UINT16_MAX, v)
#define TO_U32(v) TO_UINT(uint32_t, UINT32_MAX, v)
#define TO_U64(v) TO_UINT(uint64_t, UINT64_MAX, v)
#define TO_B(v) ((uint8_t)((v) != 0))

/* (suffix, dtype, type, widen, narrow); two copies so that one can
 * iterate inside the other */
#define CAST_TYPES_A(X) \
	X(f32, SC_FLOAT, float, LW_F, TO_F32) \
	X(f64, SC_DOUBLE, double, LW_F, TO_F64) \
	X(f16, SC_FLOAT16, uint16_t, LW_H, TO_F16) \
	X(bf16, SC_BFLOAT16, uint16_t, LW_BF, TO_BF16) \
	X(i8, SC_INT8, int8_t, LW_S, TO_I8) \
	X(i16, SC_INT16, int16_t, LW_S, TO_I16) \
	X(i32, SC_INT32, int32_t, LW_S, TO_I32) \
	X(i64, SC_INT64, int64_t, LW_S, TO_I64) \
	X(u8, SC_UINT8, uint8_t, LW_U, TO_U8) \
	X(u16, SC_UINT16, uint16_t, LW_U, TO_U16) \
	X(u32, SC_UINT32, uint32_t, LW_U, TO_U32) \
	X(u64, SC_UINT64, uint64_t, LW_U, TO_U64) \
	X(b, SC_BOOL, uint8_t, LW_B, TO_B)

#define CAST_TYPES_B(X, ...) \
	X(__VA_ARGS__, f32, SC_FLOAT, float, LW_F, TO_F32) \
	X(__VA_ARGS__, f64, SC_DOUBLE, double, LW_F, TO_F64) \
	X(__VA_ARGS__, f16, SC_FLOAT16, uint16_t, LW_H, TO_F16) \
	X(__VA_ARGS__, bf16, SC_BFLOAT16, uint16_t, LW_BF, TO_BF16) \
	X(__VA_ARGS__, i8, SC_INT8, int8_t, LW_S, TO_I8) \
	X(__VA_ARGS__, i16, SC_INT16, int16_t, LW_S, TO_I16) \
	X(__VA_ARGS__, i32, SC_INT32, int32_t, LW_S, TO_I32) \
	X(__VA_ARGS__, i64, SC_INT64, int64_t, LW_S, TO_I64) \
	X(__VA_ARGS__, u8, SC_UINT8, uint8_t, LW_U, TO_U8) \
	X(__VA_ARGS__, u16, SC_UINT16, uint16_t, LW_U, TO_U16) \
	X(__VA_ARGS__, u32, SC_UINT32, uint32_t, LW_U, TO_U32) \
	X(__VA_ARGS__, u64, SC_UINT64, uint64_t, LW_U, TO_U64) \
	X(__VA_ARGS__, b, SC_BOOL, uint8_t, LW_B, TO_B)

#define CAST_FN(s, SDT, ST, SLD, SNR, d, DDT, DT, DLD, DNR) \
static void cast_##s##_##d(const void *ctx, void *out, \
			   const void *const *in, const int *step, int64_t n) \
{ \
	const ST *a = in[0]; \
	DT *o = out; \
	(void)ctx; \
	(void)step; \
	for (int64_t i = 0; i < n; i++) \
		o[i] = DNR(SLD(a[i])); \
}
#define CAST_ROW_FNS(s, SDT, ST, SLD, SNR) \
	CAST_TYPES_B(CAST_FN, s, SDT, ST, SLD, SNR)
CAST_TYPES_A(CAST_ROW_FNS)

#define CAST_ENTRY(s, SDT, ST, SLD, SNR, d, DDT, ...) [DDT] = cast_##s##_##d,
#define CAST_ROW_ENTRIES(s, SDT, ST, SLD, SNR) \
	[SDT] = {CAST_TYPES_B(CAST_ENTRY, s, SDT, ST, SLD, SNR)},

/* [from][to] */
static const bcast_loop_fn cast_loops[SC_DTYPE_COUNT][SC_DTYPE_COUNT] = {
	CAST_TYPES_A(CAST_ROW_ENTRIES)
};

/* --- scalar helpers ------------------------------------------------------- */

double ew_load_double(int dtype, const void *data, int64_t i)
{
	switch (dtype) {
	case SC_FLOAT: return ((const float *)data)[i];
	case SC_DOUBLE: return ((const double *)data)[i];
	case SC_FLOAT16: return LW_H(((const uint16_t *)data)[i]);
	case SC_BFLOAT16: return LW_BF(((const uint16_t *)data)[i]);
	case SC_INT8: return ((const int8_t *)data)[i];
	case SC_INT16: return ((const int16_t *)data)[i];
	case SC_INT32: return ((const int32_t *)data)[i];
	case SC_INT64: return (double)((const int64_t *)data)[i];
	case SC_UINT8: return ((const uint8_t *)data)[i];
	case SC_UINT16: return ((const uint16_t *)data)[i];
	case SC_UINT32: return ((const uint32_t *)data)[i];
	case SC_UINT64: return (double)((const uint64_t *)data)[i];
	case SC_BOOL: return ((const uint8_t *)data)[i] != 0;
	default: return 0;
	}
}

int64_t ew_load_int(int dtype, const void *data, int64_t i)
{
	switch (dtype) {
	case SC_INT8: return ((const int8_t *)data)[i];
	case SC_INT16: return ((const int16_t *)data)[i];
	case SC_INT32: return ((const int32_t *)data)[i];
	case SC_INT64: return ((const int64_t *)data)[i];
	case SC_UINT8: return ((const uint8_t *)data)[i];
	case SC_UINT16: return ((const uint16_t *)data)[i];
	case SC_UINT32: return ((const uint32_t *)data)[i];
	case SC_UINT64: {
		uint64_t u = ((const uint64_t *)data)[i];
		return u > INT64_MAX ? INT64_MAX : (int64_t)u;
	}
	case SC_BOOL: return ((const uint8_t *)data)[i] != 0;
	default: return sat_i64(ew_load_double(dtype, data, i), INT64_MIN,
				INT64_MAX);
	}
}

void ew_store_double(int dtype, void *data, int64_t i, double v)
{
	switch (dtype) {
	case SC_FLOAT: ((float *)data)[i] = TO_F32(v); break;
	case SC_DOUBLE: ((double *)data)[i] = v; break;
	case SC_FLOAT16: ((uint16_t *)data)[i] = TO_F16(v); break;
	case SC_BFLOAT16: ((uint16_t *)data)[i] = tensor_float_to_bf16((float)v); break;
	case SC_INT8: ((int8_t *)data)[i] = TO_I8(v); break;
	case SC_INT16: ((int16_t *)data)[i] = TO_I16(v); break;
	case SC_INT32: ((int32_t *)data)[i] = TO_I32(v); break;
	case SC_INT64: ((int64_t *)data)[i] = TO_I64(v); break;
	case SC_UINT8: ((uint8_t *)data)[i] = TO_U8(v); break;
	case SC_UINT16: ((uint16_t *)data)[i] = TO_U16(v); break;
	case SC_UINT32: ((uint32_t *)data)[i] = TO_U32(v); break;
	case SC_UINT64: ((uint64_t *)data)[i] = TO_U64(v); break;
	case SC_BOOL: ((uint8_t *)data)[i] = TO_B(v); break;
	default: break;
	}
}

void ew_store_int(int dtype, void *data, int64_t i, int64_t v)
{
	switch (dtype) {
	case SC_INT8: ((int8_t *)data)[i] = TO_I8(v); break;
	case SC_INT16: ((int16_t *)data)[i] = TO_I16(v); break;
	case SC_INT32: ((int32_t *)data)[i] = TO_I32(v); break;
	case SC_INT64: ((int64_t *)data)[i] = v; break;
	case SC_UINT8: ((uint8_t *)data)[i] = TO_U8(v); break;
	case SC_UINT16: ((uint16_t *)data)[i] = TO_U16(v); break;
	case SC_UINT32: ((uint32_t *)data)[i] = TO_U32(v); break;
	case SC_UINT64: ((uint64_t *)data)[i] = TO_U64(v); break;
	case SC_BOOL: ((uint8_t *)data)[i] = TO_B(v); break;
	default: ew_store_double(dtype, data, i, (double)v); break;
	}
}

/* --- the op --------------------------------------------------------------- */

typedef struct cast_state {
	bcast plan;
	bcast_loop_fn loop;        /* NULL: same dtype, copy */
} cast_state;

int ew_cast_prepare(op_kernel *k, sc_error *err)
{
	char label[256];
	ew_label(k, label, sizeof label);
	int like = !strcmp(k->node->op_type, "CastLike");
	for (int i = 0; i < (like ? 2 : 1); i++)
		if (i >= k->n_in || !k->in[i])
			return sc_fail(err, SC_EINVAL, "%s: input %d is missing",
				       label, i);
	const sc_tensor *x = k->in[0];
	int from = x->dtype;
	int64_t to = like ? k->in[1]->dtype : infer_attr_int(k->node, "to", 0);
	if (to <= 0 || to >= SC_DTYPE_COUNT || !tensor_dtype_valid((int)to))
		return sc_fail(err, SC_EINVAL, "%s: 'to' = %lld is not a data type",
			       label, (long long)to);
	if (from == SC_STRING || to == SC_STRING)
		return sc_fail(err, SC_EUNSUPPORTED,
			       "%s: casts from or to string are not supported",
			       label);
	bcast_loop_fn loop = cast_loops[from][to];
	if (!loop)
		return sc_fail(err, SC_EUNSUPPORTED,
			       "%s: casts from %s to %s are not supported", label,
			       tensor_dtype_name(from), tensor_dtype_name((int)to));
	int rc = tensor_set_shape(k->out[0], (int)to, x->rank, x->dims,
				  k->g->values[k->node->outputs[0]].name, err);
	if (rc)
		return rc;
	cast_state *s = calloc(1, sizeof *s);
	if (!s)
		return sc_fail(err, SC_ENOMEM, "%s: out of memory", label);
	k->state = s;
	s->loop = from == to ? NULL : loop;
	bcast_init(&s->plan, 1, &x, x->rank, x->dims,
		   tensor_dtype_size((int)to));
	return SC_OK;
}

int ew_cast_run(op_kernel *k, sc_error *err)
{
	(void)err;
	cast_state *s = k->state;
	const sc_tensor *x = k->in[0];
	if (!s->loop) {
		if (x->nbytes)
			memcpy(k->out[0]->data, x->data, x->nbytes);
		return SC_OK;
	}
	const void *in[1] = {x->data};
	bcast_run(&s->plan, k->out[0]->data, in, s->loop, NULL);
	return SC_OK;
}
