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
 *
 * Strings follow numpy, whose astype() made ONNX's test data:
 *   number -> string is numpy's str(): the fewest digits that read back
 *     as the same value of the source dtype ("0.1", not "0.100000001"),
 *     positional when 1e-4 <= |x| < 1e16 ("1.0", "123456790.0"),
 *     scientific otherwise ("1e-05", "1.5e+16"), "nan", "inf", "-inf";
 *     integers in decimal; bool as "True" and "False";
 *   string -> floating reads what Python's float() reads (whitespace
 *     around, a sign, digits with single '_' between them, a fraction, an
 *     exponent, "inf", "infinity", "nan" in any case), rounds to double
 *     and from there to the destination, as numpy does;
 *   string -> integer reads what int() reads in base 10 and wraps to the
 *     destination's width;
 *   string -> bool reads an integer (nonzero is true), and also "True"
 *     and "False" in any case, so that bool -> string -> bool holds
 *     (numpy refuses those two).
 * A string that does not parse is an error naming the node and the
 * element.  The characters of a string output live in a pool in the
 * kernel's state that prepare sizes, and stay valid until the next run. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broadcast.h"
#include "elementwise_kernels.h"
#include "infer_util.h"
#include "registry.h"

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

/* --- number -> string ----------------------------------------------------- */

/* Room for the text of one number and its NUL: the longest is a double
 * such as "-1.2345678901234567e-308" (24 characters). */
#define STR_SLOT 32

/* What d becomes in floating dtype ft: the value a decimal must read back
 * as, through the same conversions string -> ft uses below. */
static double fp_narrow(int ft, double d)
{
	switch (ft) {
	case SC_FLOAT: return TO_F32(d);
	case SC_FLOAT16: return LW_H(TO_F16(d));
	case SC_BFLOAT16: return LW_BF(TO_BF16(d));
	default: return d;
	}
}

/* Reads back dig[0..n) * 10^(e - n + 1) in floating dtype ft. */
static double fp_read(int ft, const char *dig, int n, int e)
{
	char txt[48];
	/* no decimal point, so strtod reads it in any locale */
	snprintf(txt, sizeof txt, "%.*se%d", n, dig, e - (n - 1));
	return fp_narrow(ft, strtod(txt, NULL));
}

/* Adds `by` (+1 or -1) to the last of the n digits, keeping n digits and
 * moving *e when a carry or borrow changes the first one. */
static void digits_step(char *dig, int n, int *e, int by)
{
	int i = n - 1;
	for (; i >= 0; i--) {
		char c = (char)(dig[i] + by);
		if (c >= '0' && c <= '9') {
			dig[i] = c;
			break;
		}
		dig[i] = by > 0 ? '0' : '9';
	}
	if (i < 0) {                     /* 99 + 1: 1 with the next power */
		dig[0] = '1';
		(*e)++;
	} else if (dig[0] == '0') {      /* 10 - 1: 9 at the previous one */
		memmove(dig, dig + 1, (size_t)n - 1);
		dig[n - 1] = '9';
		(*e)--;
	}
}

/* numpy's digits (Dragon4's shortest mode): the fewest significant digits
 * that read back as v (finite, > 0) in floating dtype ft and, of those,
 * the nearest to v.  Into dig without a NUL; returns their count and sets
 * *e10 to the power of ten of the first.  At each length the candidates
 * are the correctly rounded digits (glibc's printf is exact) and, when
 * they miss, their neighbour on the other side of v: at a power of two
 * the values that read back reach twice as far above v as below it.
 * 9 digits always read back for float32 and narrower, 17 for double. */
static int fp_shortest(int ft, double v, char *dig, int *e10)
{
	int most = ft == SC_DOUBLE ? 17 : 9;
	for (int p = 1;; p++) {
		char txt[48];
		snprintf(txt, sizeof txt, "%.*e", p - 1, v);
		/* "d.ddde+XX", the point the locale's: keep the digits */
		const char *c = txt;
		int n = 0;
		for (; *c != 'e'; c++)
			if (*c >= '0' && *c <= '9')
				dig[n++] = *c;
		int e = atoi(c + 1);
		double back = fp_read(ft, dig, n, e);
		if (back != v && p < most) {
			digits_step(dig, n, &e, back < v ? 1 : -1);
			back = fp_read(ft, dig, n, e);
		}
		if (back == v || p == most) {
			while (n > 1 && dig[n - 1] == '0')
				n--;
			*e10 = e;
			return n;
		}
	}
}

/* numpy's str() of v, a value of floating dtype ft, into out (STR_SLOT
 * bytes, NUL-terminated); returns the length. */
static size_t fp_format(int ft, double v, char *out)
{
	char *o = out;
	const char *word = NULL;
	if (v != v) {
		word = "nan";       /* numpy drops the sign of a NaN */
	} else {
		if (signbit(v))
			*o++ = '-';
		v = fabs(v);
		if (isinf(v))
			word = "inf";
		else if (v == 0)
			word = "0.0";
	}
	if (word) {
		size_t n = strlen(word);
		memcpy(o, word, n + 1);
		return (size_t)(o - out) + n;
	}
	char dig[20];
	int e, n = fp_shortest(ft, v, dig, &e);
	/* 1e-4 rounds up to a double, so this compares with 10^-4 exactly,
	 * as numpy does in long double */
	if (v >= 1e-4 && v < 1e16) {
		/* positional, with at least one digit after the point */
		if (e < 0) {
			*o++ = '0';
			*o++ = '.';
			for (int i = 0; i < -e - 1; i++)
				*o++ = '0';
		}
		for (int i = 0; i < n || i <= e; i++) {
			*o++ = i < n ? dig[i] : '0';
			if (i == e)
				*o++ = '.';
		}
		if (o[-1] == '.')
			*o++ = '0';
	} else {
		/* scientific, no trailing zeros, two exponent digits or more */
		*o++ = dig[0];
		if (n > 1) {
			*o++ = '.';
			memcpy(o, dig + 1, (size_t)n - 1);
			o += n - 1;
		}
		*o++ = 'e';
		*o++ = e < 0 ? '-' : '+';
		e = e < 0 ? -e : e;
		if (e >= 100)
			*o++ = (char)('0' + e / 100);
		*o++ = (char)('0' + e / 10 % 10);
		*o++ = (char)('0' + e % 10);
	}
	*o = '\0';
	return (size_t)(o - out);
}

/* Element i of `data` (dtype) as numpy's astype(str) spells it. */
static size_t num_format(int dtype, const void *data, int64_t i, char *out)
{
	int n;
	switch (dtype) {
	case SC_FLOAT:
	case SC_DOUBLE:
	case SC_FLOAT16:
	case SC_BFLOAT16:
		return fp_format(dtype, ew_load_double(dtype, data, i), out);
	case SC_BOOL:
		n = snprintf(out, STR_SLOT, "%s",
			     ((const uint8_t *)data)[i] ? "True" : "False");
		break;
	case SC_UINT64:
		n = snprintf(out, STR_SLOT, "%llu",
			     (unsigned long long)((const uint64_t *)data)[i]);
		break;
	default:
		n = snprintf(out, STR_SLOT, "%lld",
			     (long long)ew_load_int(dtype, data, i));
		break;
	}
	return (size_t)n;
}

/* --- string -> number ----------------------------------------------------- */

/* A double is correctly rounded from its first 768 significant digits and
 * whether any later digit is nonzero; keep a few more. */
#define DIG_MAX 800

static int is_space(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Narrows [*b, *e) to what lies between leading and trailing whitespace,
 * which float() and int() ignore. */
static void trim(const char **b, const char **e)
{
	while (*b < *e && is_space(**b))
		(*b)++;
	while (*e > *b && is_space((*e)[-1]))
		(*e)--;
}

/* 1 when [p, end) is `word` in any case. */
static int word_is(const char *p, const char *end, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(end - p) != n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != word[i])
			return 0;
	}
	return 1;
}

/* The end of the digits at p, which Python lets single underscores
 * separate ("1_000"); p when there are none, NULL when an underscore is
 * not between two digits. */
static const char *digit_run(const char *p, const char *end)
{
	const char *q = p;
	while (q < end) {
		if (is_digit(*q)) {
			q++;
		} else if (*q == '_' && q > p && q + 1 < end &&
			   is_digit(q[1])) {
			q++;
		} else {
			break;
		}
	}
	return q > p && q[-1] == '_' ? NULL : q;
}

/* The significant digits of a decimal as a string of at most DIG_MAX
 * digits, times 10^e10. */
typedef struct decimal {
	char dig[DIG_MAX + 1];
	int nd;
	int sticky;      /* a nonzero digit beyond DIG_MAX was dropped */
	int64_t e10;
} decimal;

static void decimal_add(decimal *d, const char *p, const char *end, int frac)
{
	for (; p < end; p++) {
		if (*p == '_')
			continue;
		if (d->nd == 0 && *p == '0') {
			d->e10 -= frac;               /* leading zero */
		} else if (d->nd < DIG_MAX) {
			d->dig[d->nd++] = *p;
			d->e10 -= frac;
		} else {
			d->sticky |= *p != '0';
			d->e10 += !frac;
		}
	}
}

/* Python's float(s), which numpy's astype(float) calls: a sign, then
 * "inf", "infinity" or "nan" in any case, or digits with an optional
 * fraction and exponent; whitespace around.  1 on success. */
static int parse_float(const sc_bytes *s, double *out)
{
	const char *p = s->data, *end = p + s->len;
	trim(&p, &end);
	double sign = 1;
	if (p < end && (*p == '+' || *p == '-'))
		sign = *p++ == '-' ? -1 : 1;
	if (word_is(p, end, "inf") || word_is(p, end, "infinity")) {
		*out = sign * INFINITY;
		return 1;
	}
	if (word_is(p, end, "nan")) {
		*out = copysign(NAN, sign);
		return 1;
	}
	const char *ib = p, *ie = digit_run(p, end), *fb = NULL, *fe = NULL;
	if (!ie)
		return 0;
	p = ie;
	if (p < end && *p == '.') {
		fb = p + 1;
		fe = digit_run(fb, end);
		if (!fe)
			return 0;
		p = fe;
	}
	if (ie == ib && fe == fb)
		return 0;                     /* no digit at all: ".", "e5" */
	int64_t x = 0;
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		int xneg = p < end && *p == '-';
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		const char *xe = digit_run(p, end);
		if (!xe || xe == p)
			return 0;
		for (; p < xe; p++)
			if (*p != '_' && x < 1000000000000LL)
				x = x * 10 + (*p - '0');
		x = xneg ? -x : x;
	}
	if (p != end)
		return 0;
	decimal d = {.nd = 0};
	decimal_add(&d, ib, ie, 0);
	if (fb)
		decimal_add(&d, fb, fe, 1);
	if (d.nd == 0) {
		*out = sign * 0.0;
		return 1;
	}
	if (d.sticky) {
		d.dig[d.nd++] = '1';          /* stands for the dropped tail */
		d.e10--;
	}
	/* past +-10^6 the result is inf or 0 whatever the digits */
	int64_t e = d.e10 + x;
	e = e > 1000000 ? 1000000 : e < -1000000 ? -1000000 : e;
	char txt[DIG_MAX + 16];
	snprintf(txt, sizeof txt, "%.*se%lld", d.nd, d.dig, (long long)e);
	*out = sign * strtod(txt, NULL);  /* no decimal point: any locale */
	return 1;
}

enum { INT_OK, INT_BAD, INT_BIG };

/* Python's int(s) in base 10 (what numpy's astype(int) calls) as a sign
 * and magnitude: INT_OK, INT_BAD when s is no integer literal, INT_BIG
 * when the magnitude exceeds 64 bits (*nonzero still tells if it is 0). */
static int parse_int(const sc_bytes *s, int *neg, uint64_t *mag, int *nonzero)
{
	const char *p = s->data, *end = p + s->len;
	trim(&p, &end);
	*neg = p < end && *p == '-';
	if (p < end && (*p == '+' || *p == '-'))
		p++;
	const char *q = digit_run(p, end);
	if (!q || q == p || q != end)
		return INT_BAD;
	int big = 0;
	*mag = 0;
	*nonzero = 0;
	for (; p < end; p++) {
		if (*p == '_')
			continue;
		unsigned dgt = (unsigned)(*p - '0');
		*nonzero |= dgt != 0;
		if (*mag > (UINT64_MAX - dgt) / 10)
			big = 1;
		else
			*mag = *mag * 10 + dgt;
	}
	return big ? INT_BIG : INT_OK;
}

static int is_signed_int(int dtype)
{
	return dtype == SC_INT8 || dtype == SC_INT16 || dtype == SC_INT32 ||
	       dtype == SC_INT64;
}

/* Parses s into element i of `data` (dtype `to`).  0 on success, else
 * what s is not ("a number"), for the error message. */
static const char *str_parse(int to, const sc_bytes *s, void *data, int64_t i)
{
	if (tensor_dtype_is_float(to)) {
		double v;
		if (!parse_float(s, &v))
			return "a number";
		switch (to) {
		case SC_FLOAT: ((float *)data)[i] = TO_F32(v); break;
		case SC_DOUBLE: ((double *)data)[i] = v; break;
		case SC_FLOAT16: ((uint16_t *)data)[i] = TO_F16(v); break;
		default: ((uint16_t *)data)[i] = TO_BF16(v); break;
		}
		return NULL;
	}
	const char *p = s->data, *end = p + s->len;
	trim(&p, &end);
	if (to == SC_BOOL &&
	    (word_is(p, end, "true") || word_is(p, end, "false"))) {
		((uint8_t *)data)[i] = word_is(p, end, "true");
		return NULL;
	}
	int neg, nonzero;
	uint64_t mag;
	int rc = parse_int(s, &neg, &mag, &nonzero);
	if (rc == INT_BAD)
		return to == SC_BOOL ? "an integer, True or False" :
		       "an integer";
	if (to == SC_BOOL) {
		((uint8_t *)data)[i] = (uint8_t)nonzero;
		return NULL;
	}
	/* numpy takes what fits int64, and for unsigned dtypes up to
	 * UINT64_MAX, then wraps to the dtype's width */
	uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 :
		       is_signed_int(to) ? (uint64_t)INT64_MAX : UINT64_MAX;
	if (rc == INT_BIG || mag > lim)
		return "an integer in range";
	uint64_t u = neg ? 0 - mag : mag;
	int64_t v;
	memcpy(&v, &u, sizeof v);    /* two's complement: ew_store_int wraps */
	ew_store_int(to, data, i, v);
	return NULL;
}

/* s for a message: at most 40 characters, unprintable bytes as \xHH. */
static void str_quote(const sc_bytes *s, char *out, size_t len)
{
	size_t o = 0;
	for (size_t i = 0; i < s->len && o + 8 < len; i++) {
		unsigned char c = (unsigned char)s->data[i];
		if (i == 40) {
			o += (size_t)snprintf(out + o, len - o, "...");
			break;
		}
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, len - o, "\\x%02x", c);
	}
	out[o] = '\0';
}

/* --- the op --------------------------------------------------------------- */

typedef struct cast_state {
	bcast plan;
	bcast_loop_fn loop;   /* NULL: same dtype (copy) or a string side */
	int from, to;
	char pool[];          /* number -> string: STR_SLOT bytes per element */
} cast_state;

/* Below this many elements a string cast runs on one thread. */
#define STR_PARALLEL_MIN 4096

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
	/* the side that is not a string must be a number or bool */
	bcast_loop_fn loop = cast_loops[from == SC_STRING ? SC_FLOAT : from]
				       [to == SC_STRING ? SC_FLOAT : to];
	if (!loop)
		return sc_fail(err, SC_EUNSUPPORTED,
			       "%s: casts from %s to %s are not supported", label,
			       tensor_dtype_name(from), tensor_dtype_name((int)to));
	int rc = tensor_set_shape(k->out[0], (int)to, x->rank, x->dims,
				  k->g->values[k->node->outputs[0]].name, err);
	if (rc)
		return rc;
	size_t pool = 0;
	if (to == SC_STRING && from != SC_STRING) {
		if ((uint64_t)x->numel >
		    (SIZE_MAX - sizeof(cast_state)) / STR_SLOT)
			return sc_fail(err, SC_ENOMEM, "%s: out of memory",
				       label);
		pool = (size_t)x->numel * STR_SLOT;
	}
	cast_state *s = calloc(1, sizeof *s + pool);
	if (!s)
		return sc_fail(err, SC_ENOMEM,
			       "%s: out of memory for %zu bytes of strings",
			       label, pool);
	k->state = s;
	s->from = from;
	s->to = (int)to;
	int plain = from != to && from != SC_STRING && to != SC_STRING;
	s->loop = plain ? loop : NULL;
	bcast_init(&s->plan, 1, &x, x->rank, x->dims,
		   tensor_dtype_size((int)to));
	return SC_OK;
}

static void cast_to_string(cast_state *s, const sc_tensor *x, sc_tensor *y)
{
	sc_bytes *o = y->data;
	int64_t n = x->numel;
	#pragma omp parallel for schedule(static) if (n >= STR_PARALLEL_MIN)
	for (int64_t i = 0; i < n; i++) {
		char *slot = s->pool + (size_t)i * STR_SLOT;
		o[i].len = num_format(s->from, x->data, i, slot);
		o[i].data = slot;
	}
}

static int cast_from_string(op_kernel *k, cast_state *s, sc_error *err)
{
	const sc_tensor *x = k->in[0];
	const sc_bytes *a = x->data;
	void *o = k->out[0]->data;
	int64_t n = x->numel, bad = n;
	#pragma omp parallel for schedule(static) reduction(min:bad) \
		if (n >= STR_PARALLEL_MIN)
	for (int64_t i = 0; i < n; i++)
		if (str_parse(s->to, &a[i], o, i) && i < bad)
			bad = i;
	if (bad == n)
		return SC_OK;
	char q[200];
	str_quote(&a[bad], q, sizeof q);
	return op_fail(k, err, SC_EINVAL,
		       "element %lld of input '%s' is \"%s\", which is not %s",
		       (long long)bad, k->g->values[k->node->inputs[0]].name, q,
		       str_parse(s->to, &a[bad], o, bad));
}

int ew_cast_run(op_kernel *k, sc_error *err)
{
	cast_state *s = k->state;
	const sc_tensor *x = k->in[0];
	if (s->from != s->to && s->to == SC_STRING) {
		cast_to_string(s, x, k->out[0]);
		return SC_OK;
	}
	if (s->from != s->to && s->from == SC_STRING)
		return cast_from_string(k, s, err);
	if (!s->loop) {
		/* string -> string shares the characters, as every op that
		 * moves strings does */
		if (x->nbytes)
			memcpy(k->out[0]->data, x->data, x->nbytes);
		return SC_OK;
	}
	const void *in[1] = {x->data};
	bcast_run(&s->plan, k->out[0]->data, in, s->loop, NULL);
	return SC_OK;
}
