/* shape_index.c: kernels driven by index values.
 *
 * Gather          out[pre, j..., post] = data[pre, indices[j...], post]:
 *                 one contiguous `post` block per (pre, index) pair.
 * GatherElements  out[i] = data[i with the axis coordinate replaced by
 *                 indices[i]]; indices have data's rank and may be smaller
 *                 along every axis.
 * OneHot          indices of any numeric dtype with a new axis of size
 *                 depth; values = [off, on] give the dtype.
 * NonZero         int64 [rank, count] coordinates of the non-zero elements,
 *                 in row-major order; its output shape depends on the
 *                 input's values, so shape_ops.c marks input 0 in
 *                 value_inputs and prepare counts.
 *
 * Indices may be negative (counted from the end).  An index outside the
 * axis is SC_EINVAL at run time, checked before anything is written; the
 * run loops then need no bounds checks. */
#include <stdlib.h>
#include <string.h>

#include "infer_util.h"
#include "shape_kernel.h"

#define PARALLEL_BYTES ((size_t)1 << 18)

static int64_t index_at(const sc_tensor *t, int64_t i)
{
	if (t->dtype == SC_INT32) {
		int32_t v;
		memcpy(&v, (const char *)t->data + 4 * i, 4);
		return v;
	}
	int64_t v;
	memcpy(&v, (const char *)t->data + 8 * i, 8);
	return v;
}

/* Checks every index against an axis of n elements. */
static int check_indices(const op_kernel *k, const sc_tensor *ix, int64_t n,
			 sc_error *err)
{
	for (int64_t i = 0; i < ix->numel; i++) {
		int64_t v = index_at(ix, i);
		if (v < -n || v >= n)
			return op_fail(k, err, SC_EINVAL,
					  "indices[%lld] = %lld is outside [%lld, %lld]",
					  (long long)i, (long long)v, (long long)-n,
					  (long long)(n - 1));
	}
	return SC_OK;
}

static int need_indices(const op_kernel *k, int *axis, sc_error *err)
{
	if (k->n_in < 2 || !k->in[0] || !k->in[1])
		return op_fail(k, err, SC_EINVAL, "needs data and indices");
	const sc_tensor *x = k->in[0], *ix = k->in[1];
	if (ix->dtype != SC_INT32 && ix->dtype != SC_INT64)
		return op_fail(k, err, SC_EINVAL, "indices must be int32 or int64, not %s",
				  tensor_dtype_name(ix->dtype));
	if (x->rank < 1)
		return op_fail(k, err, SC_EINVAL, "data must have rank >= 1");
	int64_t a = infer_attr_int(k->node, "axis", 0);
	if (infer_axis(a, x->rank, axis))
		return op_fail(k, err, SC_EINVAL, "axis %lld is out of range for rank %d",
				  (long long)a, x->rank);
	return SC_OK;
}

/* --- Gather ------------------------------------------------------------------ */

typedef struct gather_state {
	int64_t outer, axis_dim, block;   /* block: bytes after the axis */
} gather_state;

int shape_gather_prepare(op_kernel *k, sc_error *err)
{
	int axis;
	int rc = need_indices(k, &axis, err);
	if (rc)
		return rc;
	const sc_tensor *x = k->in[0], *ix = k->in[1];
	if (x->rank - 1 + ix->rank > SC_MAX_RANK)
		return op_fail(k, err, SC_EUNSUPPORTED, "output rank %d is above %d",
				  x->rank - 1 + ix->rank, SC_MAX_RANK);
	int64_t dims[SC_MAX_RANK];
	int r = 0;
	gather_state *s = malloc(sizeof *s);
	if (!s)
		return op_fail(k, err, SC_ENOMEM, "out of memory");
	s->outer = 1;
	s->block = (int64_t)tensor_dtype_size(x->dtype);
	s->axis_dim = x->dims[axis];
	for (int d = 0; d < axis; d++) {
		dims[r++] = x->dims[d];
		s->outer *= x->dims[d];
	}
	for (int d = 0; d < ix->rank; d++)
		dims[r++] = ix->dims[d];
	for (int d = axis + 1; d < x->rank; d++) {
		dims[r++] = x->dims[d];
		s->block *= x->dims[d];
	}
	k->state = s;
	return shape_set_out(k, 0, x->dtype, r, dims, err);
}

int shape_gather_run(op_kernel *k, sc_error *err)
{
	const gather_state *s = k->state;
	const sc_tensor *ix = k->in[1];
	int rc = check_indices(k, ix, s->axis_dim, err);
	if (rc)
		return rc;
	const char *src = k->in[0]->data;
	char *dst = k->out[0]->data;
	int64_t nidx = ix->numel, total = s->outer * nidx, b = s->block;
	if (total == 0 || b == 0)
		return SC_OK;
	int parallel = k->out[0]->nbytes > PARALLEL_BYTES && total > 1;
	(void)parallel;
#define GATHER(B) \
	_Pragma("omp parallel for schedule(static) if (parallel)") \
	for (int64_t t = 0; t < total; t++) { \
		int64_t o = t / nidx, v = index_at(ix, t % nidx); \
		if (v < 0) \
			v += s->axis_dim; \
		memcpy(dst + t * b, src + (o * s->axis_dim + v) * b, (B)); \
	} \
	break
	switch (b) {
	case 1: GATHER(1);
	case 2: GATHER(2);
	case 4: GATHER(4);
	case 8: GATHER(8);
	case 16: GATHER(16);
	default: GATHER((size_t)b);
	}
#undef GATHER
	return SC_OK;
}

/* --- GatherElements ------------------------------------------------------ */

typedef struct gather_elements_state {
	int axis;
	int64_t data_stride[SC_MAX_RANK];
} gather_elements_state;

int shape_gather_elements_prepare(op_kernel *k, sc_error *err)
{
	int axis;
	int rc = need_indices(k, &axis, err);
	if (rc)
		return rc;
	const sc_tensor *x = k->in[0], *ix = k->in[1];
	if (ix->rank != x->rank)
		return op_fail(k, err, SC_EINVAL, "indices have rank %d, data has %d",
				  ix->rank, x->rank);
	for (int d = 0; d < x->rank; d++)
		if (d != axis && ix->dims[d] > x->dims[d])
			return op_fail(k, err, SC_EINVAL,
					  "indices have %lld along axis %d, data only %lld",
					  (long long)ix->dims[d], d, (long long)x->dims[d]);
	gather_elements_state *s = malloc(sizeof *s);
	if (!s)
		return op_fail(k, err, SC_ENOMEM, "out of memory");
	s->axis = axis;
	shape_strides(x, s->data_stride);
	k->state = s;
	return shape_set_out(k, 0, x->dtype, ix->rank, ix->dims, err);
}

int shape_gather_elements_run(op_kernel *k, sc_error *err)
{
	const gather_elements_state *s = k->state;
	const sc_tensor *x = k->in[0], *ix = k->in[1];
	int rc = check_indices(k, ix, x->dims[s->axis], err);
	if (rc)
		return rc;
	size_t e = tensor_dtype_size(x->dtype);
	const char *src = x->data;
	char *dst = k->out[0]->data;
	int r = ix->rank;
	int64_t idx[SC_MAX_RANK] = {0}, base = 0;
	int64_t n_axis = x->dims[s->axis], sa = s->data_stride[s->axis];
	for (int64_t t = 0; t < ix->numel; t++) {
		int64_t v = index_at(ix, t);
		if (v < 0)
			v += n_axis;
		memcpy(dst + (size_t)t * e, src + (size_t)(base + v * sa) * e, e);
		shape_axis_walk_step(r, s->axis, ix->dims, s->data_stride, idx,
				     &base);
	}
	return SC_OK;
}

/* --- OneHot ----------------------------------------------------------------- */

typedef struct onehot_state {
	int64_t depth, outer, inner;      /* out = [outer, depth, inner] */
} onehot_state;

int shape_onehot_prepare(op_kernel *k, sc_error *err)
{
	if (k->n_in < 3 || !k->in[0] || !k->in[1] || !k->in[2])
		return op_fail(k, err, SC_EINVAL, "needs indices, depth and values");
	const sc_tensor *ix = k->in[0], *dp = k->in[1], *val = k->in[2];
	if (val->numel != 2 || val->rank != 1)
		return op_fail(k, err, SC_EINVAL, "values must be [off, on], has %lld elements",
				  (long long)val->numel);
	if (dp->numel != 1 || dp->dtype == SC_STRING || ix->dtype == SC_STRING)
		return op_fail(k, err, SC_EINVAL, "depth must be one number");
	if (ix->rank + 1 > SC_MAX_RANK)
		return op_fail(k, err, SC_EUNSUPPORTED, "output rank %d is above %d",
				  ix->rank + 1, SC_MAX_RANK);
	double df = shape_get_double(dp, 0);
	if (!(df >= 1) || df > (double)SC_MAX_NUMEL)
		return op_fail(k, err, SC_EINVAL, "depth %g is not a positive count", df);
	int64_t a = infer_attr_int(k->node, "axis", -1);
	int axis;
	if (infer_axis(a, ix->rank + 1, &axis))
		return op_fail(k, err, SC_EINVAL, "axis %lld is out of range for rank %d",
				  (long long)a, ix->rank + 1);
	onehot_state *s = malloc(sizeof *s);
	if (!s)
		return op_fail(k, err, SC_ENOMEM, "out of memory");
	s->depth = shape_get_int64(dp, 0);
	s->outer = s->inner = 1;
	int64_t dims[SC_MAX_RANK];
	for (int d = 0, j = 0; d <= ix->rank; d++) {
		if (d == axis) {
			dims[d] = s->depth;
			continue;
		}
		dims[d] = ix->dims[j];
		if (d < axis)
			s->outer *= ix->dims[j];
		else
			s->inner *= ix->dims[j];
		j++;
	}
	k->state = s;
	return shape_set_out(k, 0, val->dtype, ix->rank + 1, dims, err);
}

int shape_onehot_run(op_kernel *k, sc_error *err)
{
	(void)err;
	const onehot_state *s = k->state;
	const sc_tensor *ix = k->in[0], *val = k->in[2];
	size_t e = tensor_dtype_size(val->dtype);
	const char *off = val->data, *on = off + e;
	char *dst = k->out[0]->data;
	shape_fill(dst, k->out[0]->numel, off, e);
	for (int64_t t = 0; t < ix->numel; t++) {
		int64_t v = shape_get_int64(ix, t);
		if (v < 0 && v >= -s->depth)
			v += s->depth;
		if (v < 0 || v >= s->depth)
			continue;   /* out of range: the row stays all off */
		int64_t o = t / s->inner, i = t % s->inner;
		memcpy(dst + (size_t)((o * s->depth + v) * s->inner + i) * e, on, e);
	}
	return SC_OK;
}

/* --- NonZero ----------------------------------------------------------------- */

static int is_nonzero(const sc_tensor *t, int64_t i)
{
	if (tensor_dtype_is_float(t->dtype))
		return shape_get_double(t, i) != 0;
	size_t e = tensor_dtype_size(t->dtype);
	if (t->dtype == SC_STRING) {
		sc_bytes b;
		memcpy(&b, (const char *)t->data + (size_t)i * e, sizeof b);
		return b.len > 0;
	}
	const unsigned char *p = (const unsigned char *)t->data + (size_t)i * e;
	for (size_t j = 0; j < e; j++)
		if (p[j])
			return 1;
	return 0;
}

int shape_nonzero_prepare(op_kernel *k, sc_error *err)
{
	if (k->n_in < 1 || !k->in[0])
		return op_fail(k, err, SC_EINVAL, "input 0 is missing");
	const sc_tensor *x = k->in[0];
	int64_t count = 0;
	for (int64_t i = 0; i < x->numel; i++)
		count += is_nonzero(x, i);
	/* a scalar counts as one element of a 1-D tensor, as numpy does */
	int64_t dims[2] = {x->rank ? x->rank : 1, count};
	return shape_set_out(k, 0, SC_INT64, 2, dims, err);
}

int shape_nonzero_run(op_kernel *k, sc_error *err)
{
	(void)err;
	const sc_tensor *x = k->in[0];
	sc_tensor *y = k->out[0];
	int r = x->rank, rows = r ? r : 1;
	int64_t count = y->dims[1], j = 0;
	int64_t idx[SC_MAX_RANK] = {0};
	int64_t *out = y->data;
	for (int64_t i = 0; i < x->numel && j < count; i++) {
		if (is_nonzero(x, i)) {
			for (int d = 0; d < rows; d++) {
				int64_t c = r ? idx[d] : 0;
				memcpy(&out[d * count + j], &c, sizeof c);
			}
			j++;
		}
		for (int d = r - 1; d >= 0; d--) {
			if (++idx[d] < x->dims[d])
				break;
			idx[d] = 0;
		}
	}
	return SC_OK;
}
