/* elementwise_axis.c: Trilu and CumSum, the ops of the elementwise family
 * whose output element depends on its position along an axis.
 *
 * Trilu (14-17) keeps the upper (upper = 1, the default) or lower triangle
 * of the last two axes, shifted by the optional scalar input k: element
 * (i, j) stays when j - i >= k (upper) or j - i <= k (lower), and is zero
 * otherwise.  It moves bytes, so every fixed-size dtype works.
 *
 * CumSum (11-17) runs sums along the axis given as a scalar input (read at
 * every run: it does not change the output's shape), from the end when
 * `reverse` is set, leaving each element out of its own sum when
 * `exclusive` is set.  Sums advance one whole inner row at a time, so the
 * loop vectorises over the axes after `axis`; integers wrap. */
#include <stdlib.h>
#include <string.h>

#include "broadcast.h"
#include "elementwise_kernels.h"
#include "infer_util.h"

static const char *out_name(const op_kernel *k)
{
	return k->g->values[k->node->outputs[0]].name;
}

/* Optional input i, when present, must be an int32/int64 scalar. */
static int check_int_scalar(const op_kernel *k, int i, const char *what,
			    const char *label, sc_error *err)
{
	const sc_tensor *t = i < k->n_in ? k->in[i] : NULL;
	if (!t)
		return SC_OK;
	if ((t->dtype != SC_INT64 && t->dtype != SC_INT32) || t->numel != 1 ||
	    t->rank > 1)
		return sc_fail(err, SC_EINVAL,
			       "%s: input %d (%s) must be an int32 or int64 scalar",
			       label, i, what);
	return SC_OK;
}

static int64_t read_int_scalar(const sc_tensor *t)
{
	return t->dtype == SC_INT32 ? *(const int32_t *)t->data :
				      *(const int64_t *)t->data;
}

/* --- Trilu ---------------------------------------------------------------- */

int ew_trilu_prepare(op_kernel *k, sc_error *err)
{
	char label[256];
	ew_label(k, label, sizeof label);
	const sc_tensor *x = k->n_in > 0 ? k->in[0] : NULL;
	if (!x)
		return sc_fail(err, SC_EINVAL, "%s: input 0 is missing", label);
	if (x->rank < 2)
		return sc_fail(err, SC_EINVAL, "%s: input has rank %d, needs 2 or more",
			       label, x->rank);
	if (x->dtype == SC_STRING)
		return sc_fail(err, SC_EUNSUPPORTED,
			       "%s: string tensors are not supported", label);
	int rc = check_int_scalar(k, 1, "k", label, err);
	if (rc)
		return rc;
	return tensor_set_shape(k->out[0], x->dtype, x->rank, x->dims,
				out_name(k), err);
}

int ew_trilu_run(op_kernel *k, sc_error *err)
{
	(void)err;
	const sc_tensor *x = k->in[0];
	sc_tensor *y = k->out[0];
	int64_t shift = k->n_in > 1 && k->in[1] ? read_int_scalar(k->in[1]) : 0;
	int upper = infer_attr_int(k->node, "upper", 1) != 0;
	int64_t rows = x->dims[x->rank - 2], cols = x->dims[x->rank - 1];
	int64_t mats = rows > 0 && cols > 0 ? x->numel / (rows * cols) : 0;
	size_t es = tensor_dtype_size(x->dtype);
	if (x->nbytes)
		memcpy(y->data, x->data, x->nbytes);
	/* clamp before adding i, so that huge k cannot overflow */
	if (shift > cols)
		shift = cols;
	if (shift < -rows)
		shift = -rows;
	for (int64_t m = 0; m < mats; m++) {
		char *base = (char *)y->data + (size_t)(m * rows * cols) * es;
		for (int64_t i = 0; i < rows; i++) {
			char *row = base + (size_t)(i * cols) * es;
			int64_t edge = i + shift;   /* first kept (upper), last kept (lower) */
			int64_t lo, hi;             /* the zeroed columns [lo, hi) */
			if (upper) {
				lo = 0;
				hi = edge < 0 ? 0 : edge > cols ? cols : edge;
			} else {
				lo = edge + 1 < 0 ? 0 : edge + 1 > cols ? cols : edge + 1;
				hi = cols;
			}
			if (hi > lo)
				memset(row + (size_t)lo * es, 0, (size_t)(hi - lo) * es);
		}
	}
	return SC_OK;
}

/* --- CumSum --------------------------------------------------------------- */

typedef void (*cumsum_fn)(const void *x, void *y, int64_t outer, int64_t len,
			  int64_t inner, int exclusive, int reverse);

#define SAME(x) (x)
#define CUMSUM_LOOP(sfx, T, CT, LD, ST) \
static void cumsum_##sfx(const void *x, void *y, int64_t outer, int64_t len, \
			 int64_t inner, int exclusive, int reverse) \
{ \
	_Pragma("omp parallel for schedule(static) if (outer > 1 && outer * len * inner >= BCAST_PARALLEL_MIN)") \
	for (int64_t b = 0; b < outer; b++) { \
		const T *a = (const T *)x + b * len * inner; \
		T *o = (T *)y + b * len * inner; \
		for (int64_t s = 0; s < len; s++) { \
			int64_t j = reverse ? len - 1 - s : s; \
			int64_t prev = reverse ? j + 1 : j - 1; \
			T *row = o + j * inner; \
			if (s == 0 && exclusive) { \
				for (int64_t i = 0; i < inner; i++) \
					row[i] = ST((CT)0); \
				continue; \
			} \
			if (s == 0) { \
				memcpy(row, a + j * inner, (size_t)inner * sizeof(T)); \
				continue; \
			} \
			const T *acc = o + prev * inner; \
			const T *add = a + (exclusive ? prev : j) * inner; \
			for (int64_t i = 0; i < inner; i++) \
				row[i] = ST((CT)(LD(acc[i]) + LD(add[i]))); \
		} \
	} \
}

CUMSUM_LOOP(f32, float, float, SAME, SAME)
CUMSUM_LOOP(f64, double, double, SAME, SAME)
CUMSUM_LOOP(f16, uint16_t, float, tensor_half_to_float, tensor_float_to_half)
CUMSUM_LOOP(bf16, uint16_t, float, tensor_bf16_to_float, tensor_float_to_bf16)
#define TO_I32(v) ((int32_t)(v))
#define TO_I64(v) ((int64_t)(v))
#define WRAP32(v) ((uint32_t)(v))
#define WRAP64(v) ((uint64_t)(v))
CUMSUM_LOOP(i32, int32_t, uint32_t, WRAP32, TO_I32)
CUMSUM_LOOP(i64, int64_t, uint64_t, WRAP64, TO_I64)
CUMSUM_LOOP(u32, uint32_t, uint32_t, SAME, SAME)
CUMSUM_LOOP(u64, uint64_t, uint64_t, SAME, SAME)

static const cumsum_fn cumsum_loops[SC_DTYPE_COUNT] = {
	[SC_FLOAT] = cumsum_f32, [SC_DOUBLE] = cumsum_f64,
	[SC_FLOAT16] = cumsum_f16, [SC_BFLOAT16] = cumsum_bf16,
	[SC_INT32] = cumsum_i32, [SC_INT64] = cumsum_i64,
	[SC_UINT32] = cumsum_u32, [SC_UINT64] = cumsum_u64,
};

int ew_cumsum_prepare(op_kernel *k, sc_error *err)
{
	char label[256];
	ew_label(k, label, sizeof label);
	const sc_tensor *x = k->n_in > 0 ? k->in[0] : NULL;
	if (!x || k->n_in < 2 || !k->in[1])
		return sc_fail(err, SC_EINVAL, "%s: needs inputs x and axis", label);
	if (!cumsum_loops[x->dtype])
		return sc_fail(err, x->dtype == SC_STRING ? SC_EUNSUPPORTED : SC_EINVAL,
			       "%s: input 0 of type %s is not supported", label,
			       tensor_dtype_name(x->dtype));
	if (x->rank < 1)
		return sc_fail(err, SC_EINVAL, "%s: input 0 must have rank 1 or more",
			       label);
	int rc = check_int_scalar(k, 1, "axis", label, err);
	if (rc)
		return rc;
	return tensor_set_shape(k->out[0], x->dtype, x->rank, x->dims,
				out_name(k), err);
}

int ew_cumsum_run(op_kernel *k, sc_error *err)
{
	const sc_tensor *x = k->in[0];
	int64_t axis = read_int_scalar(k->in[1]);
	int a;
	if (infer_axis(axis, x->rank, &a) < 0) {
		char label[256];
		return sc_fail(err, SC_EINVAL, "%s: axis %lld is out of range for rank %d",
			       ew_label(k, label, sizeof label), (long long)axis,
			       x->rank);
	}
	int64_t outer = 1, inner = 1;
	for (int d = 0; d < a; d++)
		outer *= x->dims[d];
	for (int d = a + 1; d < x->rank; d++)
		inner *= x->dims[d];
	if (x->numel)
		cumsum_loops[x->dtype](x->data, k->out[0]->data, outer,
				       x->dims[a], inner,
				       infer_attr_int(k->node, "exclusive", 0) != 0,
				       infer_attr_int(k->node, "reverse", 0) != 0);
	return SC_OK;
}
