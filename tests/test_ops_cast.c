/* test_ops_cast.c: Cast and CastLike to and from strings
 * (ops/elementwise_cast.c).
 *
 * ONNX's own cases turn twelve float32 values in [0, 1) into strings and
 * back.  These cases cover the rest: numpy's spelling at its corners
 * (where positional gives way to scientific, binade boundaries where the
 * shortest digits are not the correctly rounded ones, float16 and double,
 * integers and bool), Python's float() and int() grammar that numpy's
 * astype() parses with, strings that do not parse, round trips of every
 * numeric dtype through strings on a tensor big enough for the OpenMP
 * path, a new shape re-preparing the pool, and CastLike.  Expected strings
 * and values are numpy 1.24's (Debian 12's python3-numpy), pasted under
 * the command that printed them. */
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

/* --- one Cast node -------------------------------------------------------- */

/* Cast(in0) to `to`, or CastLike(in0, in1) when like is given, with the
 * input shapes left free so that one plan can take several. */
static void cast_begin(one_node *c, const sc_tensor *x, int to,
		       const sc_tensor *like)
{
	const sc_tensor *ins[2] = {x, like};
	if (like)
		one_begin_free(c, 15, "CastLike", 2, ins, 1);
	else
		attr_int(one_begin_free(c, 13, "Cast", 1, ins, 1), "to", to);
}

static const sc_tensor *cast_run_ok(one_node *c)
{
	one_run_ok(c);
	return one_out(c, 0);
}

/* --- tensors -------------------------------------------------------------- */

static sc_tensor vec(int dtype, int64_t n)
{
	sc_tensor t;
	sc_error err = {0};
	assert_int_equal(tensor_alloc(&t, dtype, 1, &n, "x", &err), SC_OK);
	return t;
}

/* A string tensor owning copies of s[0..n) (len bytes each when lens is
 * given, else up to the NUL). */
static sc_tensor strings(int64_t n, const char *const *s, const size_t *lens)
{
	sc_tensor t = vec(SC_STRING, n);
	sc_bytes *b = t.data;
	for (int64_t i = 0; i < n; i++) {
		b[i].len = lens ? lens[i] : strlen(s[i]);
		b[i].data = malloc(b[i].len + 1);
		assert_non_null(b[i].data);
		memcpy(b[i].data, s[i], b[i].len);
		b[i].data[b[i].len] = '\0';
	}
	return t;
}

static void expect_strings(const sc_tensor *y, int64_t n,
			   const char *const *want, const char *what)
{
	assert_int_equal(y->dtype, SC_STRING);
	assert_int_equal(y->numel, n);
	const sc_bytes *b = y->data;
	for (int64_t i = 0; i < n; i++)
		if (b[i].len != strlen(want[i]) ||
		    memcmp(b[i].data, want[i], b[i].len))
			fail_msg("%s: element %lld is \"%.*s\", numpy: \"%s\"",
				 what, (long long)i, (int)b[i].len, b[i].data,
				 want[i]);
}

/* The strings a dtype's bit patterns cast to, against numpy's. */
static void check_format(int dtype, int64_t n, const void *bits,
			 const char *const *want, const char *what)
{
	sc_tensor x = vec(dtype, n);
	memcpy(x.data, bits, (size_t)n * tensor_dtype_size(dtype));
	one_node c;
	cast_begin(&c, &x, SC_STRING, NULL);
	expect_strings(cast_run_ok(&c), n, want, what);
	one_end(&c);
	tensor_free(&x);
}

/* --- number -> string ----------------------------------------------------- */

typedef struct f32_case { uint32_t bits; const char *s; } f32_case;
typedef struct f64_case { uint64_t bits; const char *s; } f64_case;
typedef struct f16_case { uint16_t bits; const char *s; } f16_case;

static void test_float_to_string(void **state)
{
	(void)state;
	/* import numpy as np
	 * f32 = np.array([0.0, -0.0, 1.0, -1.5, 0.1, 1e-4, 0.0001000001,
	 *     9.999e-5, 1e-5, 0.47892547, 0.039187793, 123456789.0,
	 *     16777216.0, 1e15, 1e16, 1.5e16, 3.4028235e38, 1e-45,
	 *     1.17549435e-38, 1.2621775e-29, 1.5474251e+26, 1.2379401e+27,
	 *     0.3, 2/3, 100.0, 1234.5, np.inf, -np.inf, np.nan],
	 *     dtype=np.float32)
	 * for b, s in zip(f32.view(np.uint32), f32.astype(str)):
	 *     print('{0x%08x, "%s"},' % (b, s))
	 * float32(1e-4) is just below 10^-4, hence scientific; 2^-96, 2^87
	 * and 2^90 are powers of two whose shortest digits round up. */
	static const f32_case f32[] = {
		{0x00000000, "0.0"},
		{0x80000000, "-0.0"},
		{0x3f800000, "1.0"},
		{0xbfc00000, "-1.5"},
		{0x3dcccccd, "0.1"},
		{0x38d1b717, "1e-04"},
		{0x38d1b725, "0.0001000001"},
		{0x38d1b1b9, "9.999e-05"},
		{0x3727c5ac, "1e-05"},
		{0x3ef535b8, "0.47892547"},
		{0x3d208361, "0.039187793"},
		{0x4ceb79a3, "123456790.0"},
		{0x4b800000, "16777216.0"},
		{0x58635fa9, "1000000000000000.0"},
		{0x5a0e1bca, "1e+16"},
		{0x5a5529af, "1.5e+16"},
		{0x7f7fffff, "3.4028235e+38"},
		{0x00000001, "1e-45"},
		{0x00800000, "1.1754944e-38"},
		{0x0f800000, "1.2621775e-29"},
		{0x6b000000, "1.5474251e+26"},
		{0x6c800000, "1.2379401e+27"},
		{0x3e99999a, "0.3"},
		{0x3f2aaaab, "0.6666667"},
		{0x42c80000, "100.0"},
		{0x449a5000, "1234.5"},
		{0x7f800000, "inf"},
		{0xff800000, "-inf"},
		{0x7fc00000, "nan"},
	};
	/* f64 = np.array([0.1, 0.3, 2/3, 1e16, 1e15, 1e-4,
	 *     9.999999999999999e-05, 1e-300, 5e-324, 1.7976931348623157e308,
	 *     123456789012345678.0, 7.120236347223045e-307,
	 *     7.291122019556398e-304, -0.0, 1e100, 12345.678])
	 * same print with %016x */
	static const f64_case f64[] = {
		{0x3fb999999999999aULL, "0.1"},
		{0x3fd3333333333333ULL, "0.3"},
		{0x3fe5555555555555ULL, "0.6666666666666666"},
		{0x4341c37937e08000ULL, "1e+16"},
		{0x430c6bf526340000ULL, "1000000000000000.0"},
		{0x3f1a36e2eb1c432dULL, "0.0001"},
		{0x3f1a36e2eb1c432cULL, "9.999999999999999e-05"},
		{0x01a56e1fc2f8f359ULL, "1e-300"},
		{0x0000000000000001ULL, "5e-324"},
		{0x7fefffffffffffffULL, "1.7976931348623157e+308"},
		{0x437b69b4ba630f35ULL, "1.2345678901234568e+17"},
		{0x0060000000000000ULL, "7.120236347223045e-307"},
		{0x0100000000000000ULL, "7.291122019556398e-304"},
		{0x8000000000000000ULL, "-0.0"},
		{0x54b249ad2594c37dULL, "1e+100"},
		{0x40c81cd6c8b43958ULL, "12345.678"},
	};
	/* f16 = np.array([0.015625, 65504, 6e-8, 0.1, 1e-4, 9.995e-5, 0.333,
	 *     -2.5, 1000], dtype=np.float16)
	 * same print with %04x; 0.015625 is 2^-6, 65504 the largest half */
	static const f16_case f16[] = {
		{0x2400, "0.01563"},
		{0x7bff, "65500.0"},
		{0x0001, "6e-08"},
		{0x2e66, "0.1"},
		{0x068e, "0.0001"},
		{0x068d, "9.996e-05"},
		{0x3554, "0.333"},
		{0xc100, "-2.5"},
		{0x63d0, "1000.0"},
	};
	enum { N32 = sizeof f32 / sizeof *f32, N64 = sizeof f64 / sizeof *f64,
	       N16 = sizeof f16 / sizeof *f16 };
	uint32_t b32[N32];
	uint64_t b64[N64];
	uint16_t b16[N16];
	const char *s32[N32], *s64[N64], *s16[N16];
	for (int i = 0; i < N32; i++) {
		b32[i] = f32[i].bits;
		s32[i] = f32[i].s;
	}
	for (int i = 0; i < N64; i++) {
		b64[i] = f64[i].bits;
		s64[i] = f64[i].s;
	}
	for (int i = 0; i < N16; i++) {
		b16[i] = f16[i].bits;
		s16[i] = f16[i].s;
	}
	check_format(SC_FLOAT, N32, b32, s32, "float32");
	check_format(SC_DOUBLE, N64, b64, s64, "float64");
	check_format(SC_FLOAT16, N16, b16, s16, "float16");
}

static void test_int_bool_to_string(void **state)
{
	(void)state;
	/* np.array([-128, 0, 127], dtype=np.int8).astype(str), and the same
	 * for the extremes of int64 and uint64, and np.array([True, False]) */
	int8_t i8[3] = {-128, 0, 127};
	int64_t i64[2] = {INT64_MIN, INT64_MAX};
	uint64_t u64[2] = {0, UINT64_MAX};
	uint8_t b[2] = {1, 0};
	check_format(SC_INT8, 3, i8, (const char *[]){"-128", "0", "127"},
		     "int8");
	check_format(SC_INT64, 2, i64,
		     (const char *[]){"-9223372036854775808",
				      "9223372036854775807"}, "int64");
	check_format(SC_UINT64, 2, u64,
		     (const char *[]){"0", "18446744073709551615"}, "uint64");
	check_format(SC_BOOL, 2, b, (const char *[]){"True", "False"}, "bool");
}

/* --- string -> number ----------------------------------------------------- */

typedef struct parse_case {
	const char *s;
	uint32_t f32;
	uint64_t f64;
} parse_case;

/* "1" followed by `zeros` zeros and then tail, in a malloc'd buffer */
static char *long_number(const char *head, int zeros, const char *tail)
{
	size_t h = strlen(head), t = strlen(tail);
	char *s = malloc(h + (size_t)zeros + t + 1);
	assert_non_null(s);
	memcpy(s, head, h);
	memset(s + h, '0', (size_t)zeros);
	memcpy(s + h + zeros, tail, t + 1);
	return s;
}

static void test_string_to_float(void **state)
{
	(void)state;
	/* for s in S:
	 *     a = np.array([s]).astype(np.float32)
	 *     d = np.array([s]).astype(np.float64)
	 *     print('{"%s", 0x%08x, 0x%016xULL},' % (s, a.view(np.uint32)[0],
	 *           d.view(np.uint64)[0]))
	 * numpy rounds to double first: the string just above the float32
	 * midpoint 1 + 2^-24 still gives 1.0, and 3.4028235677973366e38
	 * (FLT_MAX's midpoint to 2^128) gives inf. */
	parse_case cases[] = {
		{" 1.5 ", 0x3fc00000, 0x3ff8000000000000ULL},
		{"\t-2e3\n", 0xc4fa0000, 0xc09f400000000000ULL},
		{"1_000.000_1", 0x447a0002, 0x408f4000346dc5d6ULL},
		{".5", 0x3f000000, 0x3fe0000000000000ULL},
		{"5.", 0x40a00000, 0x4014000000000000ULL},
		{"1E8", 0x4cbebc20, 0x4197d78400000000ULL},
		{"+INF", 0x7f800000, 0x7ff0000000000000ULL},
		{"Infinity", 0x7f800000, 0x7ff0000000000000ULL},
		{"-inFinity", 0xff800000, 0xfff0000000000000ULL},
		{"1e400", 0x7f800000, 0x7ff0000000000000ULL},
		{"-1e-400", 0x80000000, 0x8000000000000000ULL},
		{"1.00000005960464477539062500001", 0x3f800000,
		 0x3ff0000010000000ULL},
		/* '0.' + '0'*400 + '1e401', '1' + '0'*900 + 'e-900',
		 * '1.' + '0'*850 + '1': digits past the 800 kept */
		{NULL, 0x3f800000, 0x3ff0000000000000ULL},
		{NULL, 0x3f800000, 0x3ff0000000000000ULL},
		{NULL, 0x3f800000, 0x3ff0000000000000ULL},
		{"3.4028235677973366e38", 0x7f800000, 0x47effffff0000000ULL},
		{"16777217", 0x4b800000, 0x4170000010000000ULL},
		{"0.47892547", 0x3ef535b8, 0x3fdea6b703b7c57fULL},
		{"1e-45", 0x00000001, 0x3696d601ad376ab9ULL},
		{"7e-46", 0x00000000, 0x368ff868bf4d956aULL},
	};
	enum { N = sizeof cases / sizeof *cases };
	char *gen[3] = {long_number("0.", 400, "1e401"),
			long_number("1", 900, "e-900"),
			long_number("1.", 850, "1")};
	const char *s[N];
	for (int i = 0, g = 0; i < N; i++)
		s[i] = cases[i].s ? cases[i].s : gen[g++];
	sc_tensor x = strings(N, s, NULL);
	one_node c;
	cast_begin(&c, &x, SC_FLOAT, NULL);
	const sc_tensor *y = cast_run_ok(&c);
	assert_int_equal(y->dtype, SC_FLOAT);
	for (int i = 0; i < N; i++) {
		uint32_t got;
		memcpy(&got, (const float *)y->data + i, 4);
		if (got != cases[i].f32)
			fail_msg("float32 of \"%.40s\": %08x, numpy %08x", s[i],
				 got, cases[i].f32);
	}
	one_end(&c);
	cast_begin(&c, &x, SC_DOUBLE, NULL);
	y = cast_run_ok(&c);
	for (int i = 0; i < N; i++) {
		uint64_t got;
		memcpy(&got, (const double *)y->data + i, 8);
		if (got != cases[i].f64)
			fail_msg("float64 of \"%.40s\": %016llx, numpy %016llx",
				 s[i], (unsigned long long)got,
				 (unsigned long long)cases[i].f64);
	}
	one_end(&c);
	tensor_free(&x);
	for (int i = 0; i < 3; i++)
		free(gen[i]);

	/* NaN in any case and sign; np.array(['0.1']).astype(np.float16)
	 * is 0x2e66 */
	x = strings(4, (const char *[]){"NaN", "-nan", "nAn", "0.1"}, NULL);
	cast_begin(&c, &x, SC_FLOAT16, NULL);
	y = cast_run_ok(&c);
	const uint16_t *h = y->data;
	for (int i = 0; i < 3; i++)
		assert_true(isnan(tensor_half_to_float(h[i])));
	assert_int_equal(h[3], 0x2e66);
	one_end(&c);
	tensor_free(&x);
}

static void test_string_to_int_bool(void **state)
{
	(void)state;
	/* for s in I: [np.array([s]).astype(t)[0]
	 *              for t in (np.int64, np.int8, np.int16, np.uint64)] */
	const char *s[] = {" 12 ", "-0", "+7", "1_0", "010",
			   "-9223372036854775808", "9223372036854775807", "300",
			   "-129", "70000", "4294967296", "-1"};
	int64_t want64[] = {12, 0, 7, 10, 10, INT64_MIN, INT64_MAX, 300, -129,
			    70000, 4294967296LL, -1};
	int8_t want8[] = {12, 0, 7, 10, 10, 0, -1, 44, 127, 112, 0, -1};
	int16_t want16[] = {12, 0, 7, 10, 10, 0, -1, 300, -129, 4464, 0, -1};
	uint64_t wantu[] = {12, 0, 7, 10, 10, 9223372036854775808ULL,
			    9223372036854775807ULL, 300,
			    18446744073709551487ULL, 70000, 4294967296ULL,
			    UINT64_MAX};
	enum { N = sizeof s / sizeof *s };
	sc_tensor x = strings(N, s, NULL);
	one_node c;
	struct { int dtype; const void *want; size_t size; } to[] = {
		{SC_INT64, want64, 8}, {SC_INT8, want8, 1},
		{SC_INT16, want16, 2}, {SC_UINT64, wantu, 8},
	};
	for (size_t t = 0; t < sizeof to / sizeof *to; t++) {
		cast_begin(&c, &x, to[t].dtype, NULL);
		const sc_tensor *y = cast_run_ok(&c);
		for (int i = 0; i < N; i++)
			if (memcmp((const char *)y->data + i * to[t].size,
				   (const char *)to[t].want + i * to[t].size,
				   to[t].size))
				fail_msg("%s of \"%s\" differs from numpy",
					 tensor_dtype_name(to[t].dtype), s[i]);
		one_end(&c);
	}
	tensor_free(&x);

	/* np.array(B).astype(np.bool_); "True" and "False" are ours */
	const char *bs[] = {"0", "1", "2", "-3", " 0 ", "1_0",
			    "99999999999999999999", "00", "True", " false",
			    "TRUE"};
	uint8_t wantb[] = {0, 1, 1, 1, 0, 1, 1, 0, 1, 0, 1};
	x = strings(11, bs, NULL);
	cast_begin(&c, &x, SC_BOOL, NULL);
	const sc_tensor *y = cast_run_ok(&c);
	assert_memory_equal(y->data, wantb, 11);
	one_end(&c);
	tensor_free(&x);
}

/* Casting the single string s to `to` fails, naming the node, element 1
 * (element 0 is fine) and the string as quoted. */
static void expect_bad(int to, const char *s, size_t len, const char *quoted)
{
	const char *v[2] = {"1", s};
	size_t lens[2] = {1, len};
	sc_tensor x = strings(2, v, lens);
	one_node c;
	cast_begin(&c, &x, to, NULL);
	sc_error err = {0};
	int rc = one_run(&c, &err);
	if (rc != SC_EINVAL)
		fail_msg("\"%s\" to %s: rc %d, want SC_EINVAL", quoted,
			 tensor_dtype_name(to), rc);
	char want[256];
	snprintf(want, sizeof want,
		 "node 'node' (Cast): element 1 of input 'in0' is \"%s\"",
		 quoted);
	if (!strstr(err.msg, want) || strchr(err.msg, '\n'))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, want);
	one_end(&c);
	tensor_free(&x);
}

static void test_string_errors(void **state)
{
	(void)state;
	/* each raises ValueError or OverflowError in np.array([s]).astype */
	const char *floats[] = {"", " ", "abc", "0x10", "1__0", "_1", "1_",
				"1_.5", ".", "e5", "1e", "1e+", "infin",
				"nan(1)", "1.5.", "- 1", "++1", "1e5_"};
	for (size_t i = 0; i < sizeof floats / sizeof *floats; i++) {
		expect_bad(SC_FLOAT, floats[i], strlen(floats[i]), floats[i]);
		expect_bad(SC_DOUBLE, floats[i], strlen(floats[i]), floats[i]);
	}
	const char *ints[] = {"1.5", "1e3", "", "0b1", "9223372036854775808",
			      "-9223372036854775809", "99999999999999999999",
			      "inf", "True"};
	for (size_t i = 0; i < sizeof ints / sizeof *ints; i++)
		expect_bad(SC_INT64, ints[i], strlen(ints[i]), ints[i]);
	expect_bad(SC_UINT64, "18446744073709551616", 20,
		   "18446744073709551616");
	expect_bad(SC_BOOL, "1.0", 3, "1.0");
	expect_bad(SC_BOOL, "yes", 3, "yes");
	/* what cannot be printed is escaped, and long strings cut */
	expect_bad(SC_FLOAT, "1\0002", 3, "1\\x002");
	expect_bad(SC_FLOAT, "\"q\"\n", 4, "\\x22q\\x22\\x0a");
	char *lng = long_number("x", 60, "");
	char cut[64];
	snprintf(cut, sizeof cut, "x%.39s...", lng + 1);
	expect_bad(SC_FLOAT, lng, 61, cut);
	free(lng);
}

/* --- round trips ---------------------------------------------------------- */

static uint64_t rng_state = 88172645463325252ULL;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* x -> string -> x's dtype gives x back, bit for bit (NaN as any NaN),
 * and no string is longer than numpy's longest for the dtype. */
static void check_round_trip(const sc_tensor *x, size_t longest)
{
	one_node to, back;
	cast_begin(&to, x, SC_STRING, NULL);
	const sc_tensor *s = cast_run_ok(&to);
	assert_int_equal(s->numel, x->numel);
	const sc_bytes *b = s->data;
	for (int64_t i = 0; i < s->numel; i++)
		if (b[i].len == 0 || b[i].len > longest)
			fail_msg("%s element %lld: \"%.*s\" has length %zu",
				 tensor_dtype_name(x->dtype), (long long)i,
				 (int)b[i].len, b[i].data, b[i].len);
	cast_begin(&back, s, x->dtype, NULL);
	const sc_tensor *y = cast_run_ok(&back);
	size_t e = tensor_dtype_size(x->dtype);
	for (int64_t i = 0; i < x->numel; i++) {
		const char *a = (const char *)x->data + i * e;
		const char *r = (const char *)y->data + i * e;
		if (!memcmp(a, r, e))
			continue;
		if (tensor_dtype_is_float(x->dtype)) {
			double va = 0, vr = 0;
			switch (x->dtype) {
			case SC_FLOAT:
				va = *(const float *)a;
				vr = *(const float *)r;
				break;
			case SC_DOUBLE:
				va = *(const double *)a;
				vr = *(const double *)r;
				break;
			case SC_FLOAT16:
				va = tensor_half_to_float(*(const uint16_t *)a);
				vr = tensor_half_to_float(*(const uint16_t *)r);
				break;
			default:
				va = tensor_bf16_to_float(*(const uint16_t *)a);
				vr = tensor_bf16_to_float(*(const uint16_t *)r);
				break;
			}
			if (isnan(va) && isnan(vr))
				continue;
		}
		fail_msg("%s element %lld does not come back from \"%.*s\"",
			 tensor_dtype_name(x->dtype), (long long)i,
			 (int)b[i].len, b[i].data);
	}
	one_end(&back);
	one_end(&to);
}

static void test_round_trip(void **state)
{
	(void)state;
	/* random bit patterns: every exponent, subnormals, NaN, inf; more
	 * than the 4096 elements from which the string loops go parallel */
	enum { N = 20000 };
	static const struct { int dtype; size_t longest; } types[] = {
		/* the longest spellings: "-1234567900000000.0" (up to 9
		 * digits), "-1.2345678901234567e-308", "-0.00012345",
		 * "-9223372036854775808" */
		{SC_FLOAT, 19}, {SC_DOUBLE, 24}, {SC_FLOAT16, 11},
		{SC_BFLOAT16, 19}, {SC_INT8, 4}, {SC_INT16, 6}, {SC_INT32, 11},
		{SC_INT64, 20}, {SC_UINT8, 3}, {SC_UINT16, 5}, {SC_UINT32, 10},
		{SC_UINT64, 20}, {SC_BOOL, 5},
	};
	for (size_t t = 0; t < sizeof types / sizeof *types; t++) {
		int dt = types[t].dtype;
		sc_tensor x = vec(dt, N);
		size_t e = tensor_dtype_size(dt);
		for (int64_t i = 0; i < N; i++) {
			uint64_t r = rnd();
			if (dt == SC_BOOL)
				r &= 1;
			memcpy((char *)x.data + i * e, &r, e);
		}
		check_round_trip(&x, types[t].longest);
		tensor_free(&x);
	}
}

/* A new shape re-prepares the pool; the strings of the first run stay
 * valid until the second. */
static void test_reprepare(void **state)
{
	(void)state;
	sc_tensor small = vec(SC_DOUBLE, 2), big = vec(SC_DOUBLE, 5000);
	((double *)small.data)[0] = 0.5;
	((double *)small.data)[1] = -1e-7;
	for (int i = 0; i < 5000; i++)
		((double *)big.data)[i] = i + 0.25;
	one_node c;
	cast_begin(&c, &small, SC_STRING, NULL);
	expect_strings(cast_run_ok(&c), 2, (const char *[]){"0.5", "-1e-07"},
		       "first shape");
	c.ins[0] = &big;
	const sc_tensor *y = cast_run_ok(&c);
	const sc_bytes *b = y->data;
	assert_int_equal(y->numel, 5000);
	for (int i = 0; i < 5000; i++) {
		char want[32];
		snprintf(want, sizeof want, "%d.25", i);
		assert_int_equal(b[i].len, strlen(want));
		assert_memory_equal(b[i].data, want, b[i].len);
	}
	c.ins[0] = &small;
	expect_strings(cast_run_ok(&c), 2, (const char *[]){"0.5", "-1e-07"},
		       "back to the first shape");
	one_end(&c);
	tensor_free(&small);
	tensor_free(&big);
}

static void test_castlike(void **state)
{
	(void)state;
	sc_tensor x = vec(SC_FLOAT, 3);
	sc_tensor like = strings(1, (const char *[]){"?"}, NULL);
	float v[3] = {2.5f, 1e20f, -0.0f};
	memcpy(x.data, v, sizeof v);
	one_node c;
	cast_begin(&c, &x, 0, &like);
	/* np.array([2.5, 1e20, -0.0], dtype=np.float32).astype(str) */
	expect_strings(cast_run_ok(&c), 3,
		       (const char *[]){"2.5", "1e+20", "-0.0"}, "CastLike");
	one_end(&c);
	/* and back, like an int32 */
	sc_tensor s = strings(2, (const char *[]){"-5", " 7"}, NULL);
	sc_tensor li = vec(SC_INT32, 1);
	cast_begin(&c, &s, 0, &li);
	const sc_tensor *y = cast_run_ok(&c);
	assert_int_equal(y->dtype, SC_INT32);
	assert_int_equal(((const int32_t *)y->data)[0], -5);
	assert_int_equal(((const int32_t *)y->data)[1], 7);
	one_end(&c);
	/* string -> string keeps the strings */
	cast_begin(&c, &s, SC_STRING, NULL);
	expect_strings(cast_run_ok(&c), 2, (const char *[]){"-5", " 7"},
		       "string to string");
	one_end(&c);
	tensor_free(&x);
	tensor_free(&like);
	tensor_free(&s);
	tensor_free(&li);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_float_to_string),
		cmocka_unit_test(test_int_bool_to_string),
		cmocka_unit_test(test_string_to_float),
		cmocka_unit_test(test_string_to_int_bool),
		cmocka_unit_test(test_string_errors),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_reprepare),
		cmocka_unit_test(test_castlike),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
