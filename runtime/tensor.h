/* tensor.h: dense runtime tensors and their element types.
 *
 * An sc_tensor describes `rank` dims and points at numel elements stored
 * row-major, little-endian.  If `owned` is set, tensor_free() releases `data`
 * with free(); otherwise the memory belongs to someone else (a user buffer, a
 * plan arena) and must outlive the tensor.  STRING tensors hold numel
 * sc_bytes, each with its own allocation when owned.
 *
 * dtype values are ONNX's TensorProto.DataType numbers, so no mapping table
 * is needed at the protobuf boundary. */
#ifndef SUPCON_TENSOR_H
#define SUPCON_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

typedef enum sc_dtype {
	SC_UNDEFINED = 0,
	SC_FLOAT = 1,
	SC_UINT8 = 2,
	SC_INT8 = 3,
	SC_UINT16 = 4,
	SC_INT16 = 5,
	SC_INT32 = 6,
	SC_INT64 = 7,
	SC_STRING = 8,
	SC_BOOL = 9,
	SC_FLOAT16 = 10,
	SC_DOUBLE = 11,
	SC_UINT32 = 12,
	SC_UINT64 = 13,
	SC_COMPLEX64 = 14,
	SC_COMPLEX128 = 15,
	SC_BFLOAT16 = 16,
	SC_DTYPE_COUNT
} sc_dtype;

/* Deep enough for every official ONNX test case; deeper tensors are refused
 * with SC_EUNSUPPORTED rather than silently truncated. */
#define SC_MAX_RANK 8

/* Upper bound on the element count of any tensor: 2^48 elements is far past
 * this machine's memory and keeps numel * 16 bytes well inside int64. */
#define SC_MAX_NUMEL ((int64_t)1 << 48)

typedef struct sc_bytes {
	size_t len;
	char *data;
} sc_bytes;

typedef struct sc_tensor {
	sc_dtype dtype;
	int rank;
	int64_t dims[SC_MAX_RANK];
	int64_t numel;
	size_t nbytes;  /* numel * element size; numel * sizeof(sc_bytes) for STRING */
	void *data;
	int owned;
} sc_tensor;

/* Size in bytes of one element, 0 for UNDEFINED and out-of-range values.
 * STRING reports sizeof(sc_bytes). */
size_t tensor_dtype_size(int dtype);

/* ONNX spelling in lower case: "float32", "int64", "bool", ... or "undefined". */
const char *tensor_dtype_name(int dtype);

/* 1 if dtype is one of the values above other than UNDEFINED. */
int tensor_dtype_valid(int dtype);

/* 1 for FLOAT, DOUBLE, FLOAT16, BFLOAT16. */
int tensor_dtype_is_float(int dtype);

/* Product of dims with overflow and sign checks.  Fails with SC_EINVAL when a
 * dim is negative or the product exceeds SC_MAX_NUMEL; `what` names the
 * tensor in the message. */
int tensor_numel_checked(int rank, const int64_t *dims, int64_t *numel,
			 const char *what, sc_error *err);

/* Fills shape fields of t (no allocation).  Same checks as above. */
int tensor_set_shape(sc_tensor *t, int dtype, int rank, const int64_t *dims,
		     const char *what, sc_error *err);

/* Sets the shape and allocates zeroed, 64-byte aligned, owned storage. */
int tensor_alloc(sc_tensor *t, int dtype, int rank, const int64_t *dims,
		 const char *what, sc_error *err);

/* Deep copy of src into dst (dst's previous contents are not freed). */
int tensor_copy(sc_tensor *dst, const sc_tensor *src, sc_error *err);

/* Releases owned storage (and owned strings) and zeroes t.  NULL is fine. */
void tensor_free(sc_tensor *t);

/* 1 when dtype, shape and every byte (every string) are equal. */
int tensor_equal(const sc_tensor *a, const sc_tensor *b);

/* IEEE half and bfloat16 conversions. */
float tensor_half_to_float(uint16_t h);
uint16_t tensor_float_to_half(float f);
float tensor_bf16_to_float(uint16_t b);
uint16_t tensor_float_to_bf16(float f);

#endif
