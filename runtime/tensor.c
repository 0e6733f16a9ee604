/* tensor.c: element types, checked shapes and tensor storage; see tensor.h. */
#include "tensor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *name;
	size_t size;
} dtype_info[SC_DTYPE_COUNT] = {
	[SC_UNDEFINED] = {"undefined", 0},
	[SC_FLOAT] = {"float32", 4},
	[SC_UINT8] = {"uint8", 1},
	[SC_INT8] = {"int8", 1},
	[SC_UINT16] = {"uint16", 2},
	[SC_INT16] = {"int16", 2},
	[SC_INT32] = {"int32", 4},
	[SC_INT64] = {"int64", 8},
	[SC_STRING] = {"string", sizeof(sc_bytes)},
	[SC_BOOL] = {"bool", 1},
	[SC_FLOAT16] = {"float16", 2},
	[SC_DOUBLE] = {"float64", 8},
	[SC_UINT32] = {"uint32", 4},
	[SC_UINT64] = {"uint64", 8},
	[SC_COMPLEX64] = {"complex64", 8},
	[SC_COMPLEX128] = {"complex128", 16},
	[SC_BFLOAT16] = {"bfloat16", 2},
};

size_t tensor_dtype_size(int dtype)
{
	if (dtype <= SC_UNDEFINED || dtype >= SC_DTYPE_COUNT)
		return 0;
	return dtype_info[dtype].size;
}

const char *tensor_dtype_name(int dtype)
{
	if (dtype < SC_UNDEFINED || dtype >= SC_DTYPE_COUNT)
		return "undefined";
	return dtype_info[dtype].name;
}

int tensor_dtype_valid(int dtype)
{
	return dtype > SC_UNDEFINED && dtype < SC_DTYPE_COUNT;
}

int tensor_dtype_is_float(int dtype)
{
	return dtype == SC_FLOAT || dtype == SC_DOUBLE || dtype == SC_FLOAT16 ||
	       dtype == SC_BFLOAT16;
}

int tensor_numel_checked(int rank, const int64_t *dims, int64_t *numel,
			 const char *what, sc_error *err)
{
	if (rank < 0 || rank > SC_MAX_RANK)
		return sc_fail(err, rank < 0 ? SC_EINVAL : SC_EUNSUPPORTED,
			       "tensor '%s': rank %d is outside 0..%d", what, rank,
			       SC_MAX_RANK);
	int64_t n = 1;
	for (int i = 0; i < rank; i++) {
		if (dims[i] < 0)
			return sc_fail(err, SC_EINVAL,
				       "tensor '%s': dim %d is negative (%lld)", what,
				       i, (long long)dims[i]);
		if (dims[i] != 0 && n > SC_MAX_NUMEL / dims[i])
			return sc_fail(err, SC_EINVAL,
				       "tensor '%s': element count overflows (dims product exceeds 2^48)",
				       what);
		n *= dims[i];
	}
	*numel = n;
	return SC_OK;
}

int tensor_set_shape(sc_tensor *t, int dtype, int rank, const int64_t *dims,
		     const char *what, sc_error *err)
{
	if (!tensor_dtype_valid(dtype))
		return sc_fail(err, SC_EINVAL, "tensor '%s': unknown data type %d",
			       what, dtype);
	int64_t numel;
	int rc = tensor_numel_checked(rank, dims, &numel, what, err);
	if (rc)
		return rc;
	memset(t, 0, sizeof *t);
	t->dtype = (sc_dtype)dtype;
	t->rank = rank;
	for (int i = 0; i < rank; i++)
		t->dims[i] = dims[i];
	t->numel = numel;
	t->nbytes = (size_t)numel * tensor_dtype_size(dtype);
	return SC_OK;
}

int tensor_alloc(sc_tensor *t, int dtype, int rank, const int64_t *dims,
		 const char *what, sc_error *err)
{
	int rc = tensor_set_shape(t, dtype, rank, dims, what, err);
	if (rc)
		return rc;
	size_t cap = (t->nbytes + 63) & ~(size_t)63;
	if (cap == 0)
		cap = 64;
	t->data = aligned_alloc(64, cap);
	if (!t->data)
		return sc_fail(err, SC_ENOMEM,
			       "tensor '%s': cannot allocate %zu bytes", what,
			       t->nbytes);
	memset(t->data, 0, cap);
	t->owned = 1;
	return SC_OK;
}

int tensor_copy(sc_tensor *dst, const sc_tensor *src, sc_error *err)
{
	int rc = tensor_alloc(dst, src->dtype, src->rank, src->dims, "copy", err);
	if (rc)
		return rc;
	if (src->dtype != SC_STRING) {
		if (src->nbytes)
			memcpy(dst->data, src->data, src->nbytes);
		return SC_OK;
	}
	const sc_bytes *s = src->data;
	sc_bytes *d = dst->data;
	for (int64_t i = 0; i < src->numel; i++) {
		d[i].len = s[i].len;
		d[i].data = malloc(s[i].len ? s[i].len : 1);
		if (!d[i].data) {
			tensor_free(dst);
			return sc_fail(err, SC_ENOMEM, "cannot copy string tensor");
		}
		if (s[i].len)
			memcpy(d[i].data, s[i].data, s[i].len);
	}
	return SC_OK;
}

void tensor_free(sc_tensor *t)
{
	if (!t)
		return;
	if (t->owned && t->data) {
		if (t->dtype == SC_STRING) {
			sc_bytes *s = t->data;
			for (int64_t i = 0; i < t->numel; i++)
				free(s[i].data);
		}
		free(t->data);
	}
	memset(t, 0, sizeof *t);
}

int tensor_equal(const sc_tensor *a, const sc_tensor *b)
{
	if (a->dtype != b->dtype || a->rank != b->rank || a->numel != b->numel)
		return 0;
	for (int i = 0; i < a->rank; i++)
		if (a->dims[i] != b->dims[i])
			return 0;
	if (a->dtype != SC_STRING)
		return a->nbytes == 0 || memcmp(a->data, b->data, a->nbytes) == 0;
	const sc_bytes *x = a->data, *y = b->data;
	for (int64_t i = 0; i < a->numel; i++)
		if (x[i].len != y[i].len ||
		    (x[i].len && memcmp(x[i].data, y[i].data, x[i].len)))
			return 0;
	return 1;
}

float tensor_half_to_float(uint16_t h)
{
	uint32_t sign = (uint32_t)(h >> 15) << 31;
	uint32_t exp = (h >> 10) & 0x1f;
	uint32_t man = h & 0x3ff;
	uint32_t bits;
	if (exp == 0x1f) {
		bits = sign | 0x7f800000u | (man << 13);
	} else if (exp != 0) {
		bits = sign | ((exp + 112) << 23) | (man << 13);
	} else if (man == 0) {
		bits = sign;
	} else {
		/* subnormal half: renormalise */
		int e = -1;
		do {
			e++;
			man <<= 1;
		} while (!(man & 0x400));
		bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ff) << 13);
	}
	float f;
	memcpy(&f, &bits, sizeof f);
	return f;
}

uint16_t tensor_float_to_half(float f)
{
	uint32_t x;
	memcpy(&x, &f, sizeof x);
	uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
	uint32_t absx = x & 0x7fffffffu;
	if (absx >= 0x7f800000u) /* inf or nan */
		return sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 : 0);
	if (absx >= 0x477ff000u) /* rounds to >= 65520: overflow to inf */
		return sign | 0x7c00;
	if (absx < 0x38800000u) { /* below the smallest normal half */
		if (absx < 0x33000000u)
			return sign;
		uint32_t man = (absx & 0x7fffff) | 0x800000;
		/* value in units of 2^-24 is man * 2^(e - 126) */
		int shift = 126 - (int)(absx >> 23);
		uint32_t half = man >> shift;
		uint32_t rem = man & ((1u << shift) - 1);
		uint32_t mid = 1u << (shift - 1);
		if (rem > mid || (rem == mid && (half & 1)))
			half++;
		return sign | (uint16_t)half;
	}
	/* normal: round to nearest even on the 13 dropped bits */
	uint32_t h = ((absx >> 13) - (112u << 10));
	uint32_t rem = absx & 0x1fff;
	if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
		h++;
	return sign | (uint16_t)h;
}

float tensor_bf16_to_float(uint16_t b)
{
	uint32_t bits = (uint32_t)b << 16;
	float f;
	memcpy(&f, &bits, sizeof f);
	return f;
}

uint16_t tensor_float_to_bf16(float f)
{
	uint32_t x;
	memcpy(&x, &f, sizeof x);
	if ((x & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((x >> 16) | 0x40);
	uint32_t rounding = 0x7fff + ((x >> 16) & 1);
	return (uint16_t)((x + rounding) >> 16);
}
