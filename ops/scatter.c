/* scatter.c: ops that write data through an index tensor, and GatherND.
 *
 * Scatter (9-10), ScatterElements (11-18): Y = data, then for every
 *   position i of indices, Y[i with the axis coordinate replaced by
 *   indices[i]] = updates[i].  indices and updates have one shape, of
 *   data's rank and no larger than data along every axis but `axis`.
 *   Scatter is ScatterElements-11 under its old name.
 * ScatterND (11-18): indices [..., k] address the first k axes of data;
 *   updates [indices.shape[:-1], data.shape[k:]] are the slices written
 *   there.
 * From opset 16 both take `reduction`: none (the default, overwrite), add
 *   or mul, and from 18 max or min, which combine the element already in Y
 *   with the update.  'none' copies bytes and takes every dtype (strings
 *   shallowly, as the shape ops do); the others are arithmetic and take
 *   the numeric dtypes, integers wrapping around as ONNX Runtime's do.
 *   A position written twice gets its updates in order, so with 'none' the
 *   last one wins (ONNX leaves that case undefined).
 * GatherND (11-18): the read that ScatterND's gradient needs: Y[b, t, :] =
 *   data[b, indices[b, t], :], the first batch_dims (12+) axes shared by
 *   data and indices; Y is [indices.shape[:-1], data.shape[batch_dims+k:]].
 * ai.supcon GatherElements, ScatterElements and ScatterND (opset 1) are
 *   the newest ONNX forms under the supcon domain, for gradient graphs of
 *   models whose opset predates the op or its reductions (shape_grad.c
 *   emits them).
 *
 * Indices are int32 or int64 and may be negative (counted from the end).
 * Every index is checked against its axis before anything is written, so
 * the loops that follow need no bounds checks; an index outside is
 * SC_EINVAL naming the node, the index and the allowed range.  The
 * gradient rules live with the other shape rules in shape_grad.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer_util.h"
#include "scatter.h"
#include "shape_kernel.h"

enum {
	RED_NONE,
	RED_ADD,
	RED_MUL,
	RED_MAX,
	RED_MIN,
	RED_COUNT
};

static const char *const reduction_names[RED_COUNT] = {
	"none", "add", "mul", "max", "min",
};

/* --- reductions ------------------------------------------------------------ */

/* dst[i] = dst[i] <op> src[i] for i < n, op one of RED_ADD..RED_MIN. */
typedef void (*combine_fn)(int op, void *dst, const void *src, int64_t n);

/* Integers add and multiply modulo 2^bits: through uint64_t, where
 * overflow is defined, then truncated back. */
#define COMBINE_INT(T, tag)                                                   \
static void combine_##tag(int op, void *dst_, const void *src_, int64_t n)    \
{                                                                             \
	T *d = dst_;                                                          \
	const T *s = src_;                                                    \
	switch (op) {                                                         \
	case RED_ADD:                                                         \
		for (int64_t i = 0; i < n; i++)                               \
			d[i] = (T)((uint64_t)d[i] + (uint64_t)s[i]);          \
		break;                                                        \
	case RED_MUL:                                                         \
		for (int64_t i = 0; i < n; i++)                               \
			d[i] = (T)((uint64_t)d[i] * (uint64_t)s[i]);          \
		break;                                                        \
	case RED_MAX:                                                         \
		for (int64_t i = 0; i < n; i++)                               \
			d[i] = s[i] > d[i] ? s[i] : d[i];                     \
		break;                                                        \
	default:                                                              \
		for (int64_t i = 0; i < n; i++)                               \
			d[i] = s[i] < d[i] ? s[i] : d[i];                     \
		break;                                                        \
	}                                                                     \
}

COMBINE_INT(int8_t, i8)
COMBINE_INT(uint8_t, u8)
COMBINE_INT(int16_t, i16)
COMBINE_INT(uint16_t, u16)
COMBINE_INT(int32_t, i32)
COMBINE_INT(uint32_t, u32)
COMBINE_INT(int64_t, i64)
COMBINE_INT(uint64_t, u64)

/* max and min propagate NaN, as numpy's maximum and minimum do. */
static inline double combine_one(int op, double d, double s)
{
	switch (op) {
	case RED_ADD: return d + s;
	case RED_MUL: return d * s;
	case RED_MAX: return s > d || isnan(s) ? s : d;
	default: return s < d || isnan(s) ? s : d;
	}
}

static void combine_f32(int op, void *dst_, const void *src_, int64_t n)
{
	float *d = dst_;
	const float *s = src_;
	for (int64_t i = 0; i < n; i++)
		d[i] = op == RED_ADD ? d[i] + s[i] :
		       op == RED_MUL ? d[i] * s[i] :
		       (float)combine_one(op, d[i], s[i]);
}

static void combine_f64(int op, void *dst_, const void *src_, int64_t n)
{
	double *d = dst_;
	const double *s = src_;
	for (int64_t i = 0; i < n; i++)
		d[i] = combine_one(op, d[i], s[i]);
}

/* float16 and bfloat16 compute in float and round once, as their
 * elementwise kernels do. */
static void combine_f16(int op, void *dst_, const void *src_, int64_t n)
{
	uint16_t *d = dst_;
	const uint16_t *s = src_;
	for (int64_t i = 0; i < n; i++)
		d[i] = tensor_float_to_half((float)combine_one(op,
				tensor_half_to_float(d[i]), tensor_half_to_float(s[i])));
}

static void combine_bf16(int op, void *dst_, const void *src_, int64_t n)
{
	uint16_t *d = dst_;
	const uint16_t *s = src_;
	for (int64_t i = 0; i < n; i++) {
		float r = (float)combine_one(op, tensor_bf16_to_float(d[i]),
					     tensor_bf16_to_float(s[i]));
		d[i] = tensor_float_to_bf16(r);
	}
}

/* The combining loop of a numeric dtype; NULL for bool, string, complex. */
static combine_fn combine_for(int dtype)
{
	switch (dtype) {
	case SC_INT8: return combine_i8;
	case SC_UINT8: return combine_u8;
	case SC_INT16: return combine_i16;
	case SC_UINT16: return combine_u16;
	case SC_INT32: return combine_i32;
	case SC_UINT32: return combine_u32;
	case SC_INT64: return combine_i64;
	case SC_UINT64: return combine_u64;
	case SC_FLOAT: return combine_f32;
	case SC_DOUBLE: return combine_f64;
	case SC_FLOAT16: return combine_f16;
	case SC_BFLOAT16: return combine_bf16;
	default: return NULL;
	}
}

/* Reads node n's `reduction` into *red.  max and min exist from opset 18
 * (and in the ai.supcon forms).  Returns 0, or -1 for a spelling ONNX does
 * not have at this opset, with *red the name's index (RED_COUNT when it is
 * no reduction at all). */
static int parse_reduction(const graph_node *n, int64_t opset, int *red)
{
	const graph_attr *a = graph_node_attr(n, "reduction");
	*red = RED_NONE;
	if (!a || a->type != ATTR_STRING)
		return 0;
	int newest = !op_domain_is_default(n->domain) || opset >= 18;
	for (int r = 0; r < RED_COUNT; r++) {
		size_t len = strlen(reduction_names[r]);
		if (a->s.len == len && memcmp(a->s.data, reduction_names[r], len) == 0) {
			*red = r;
			return r >= RED_MAX && !newest ? -1 : 0;
		}
	}
	*red = RED_COUNT;
	return -1;
}

/* The message for a reduction parse_reduction refused. */
static void reduction_problem(const graph_node *n, int64_t opset, int red,
			      char *buf, size_t len)
{
	if (red < RED_COUNT) {
		snprintf(buf, len, "reduction '%s' needs opset 18 (the model imports %lld)",
			 reduction_names[red], (long long)opset);
		return;
	}
	const graph_attr *a = graph_node_attr(n, "reduction");
	int shown = a->s.len > 32 ? 32 : (int)a->s.len;
	snprintf(buf, len, "reduction '%.*s' is not none, add, mul%s", shown,
		 shown ? a->s.data : "",
		 !op_domain_is_default(n->domain) || opset >= 18 ? ", max or min" : "");
}

/* --- shared checks -------------------------------------------------------- */

static int64_t index_value(const sc_tensor *t, int64_t i)
{
	if (t->dtype == SC_INT32)
		return ((const int32_t *)t->data)[i];
	return ((const int64_t *)t->data)[i];
}

static int need_index_dtype(const op_kernel *k, const sc_tensor *ix,
			    sc_error *err)
{
	if (ix->dtype != SC_INT32 && ix->dtype != SC_INT64)
		return op_fail(k, err, SC_EINVAL, "indices must be int32 or int64, not %s",
			       tensor_dtype_name(ix->dtype));
	return SC_OK;
}

static int need_inputs(const op_kernel *k, int n, const char *what,
		       sc_error *err)
{
	if (k->n_in != n)
		return op_fail(k, err, SC_EINVAL, "has %d inputs, expected %s", k->n_in, what);
	for (int i = 0; i < n; i++)
		if (!k->in[i])
			return op_fail(k, err, SC_EINVAL, "input %d is missing; expected %s",
				       i, what);
	return SC_OK;
}

/* "[2,3,4]" */
static const char *dims_text(int rank, const int64_t *dims, char *buf,
			     size_t len)
{
	size_t at = (size_t)snprintf(buf, len, "[");
	for (int d = 0; d < rank && at < len; d++)
		at += (size_t)snprintf(buf + at, len - at, "%s%lld", d ? "," : "",
				       (long long)dims[d]);
	if (at < len)
		snprintf(buf + at, len - at, "]");
	return buf;
}

/* The node's reduction, and the loop that applies it to dtype. */
static int read_reduction(const op_kernel *k, int dtype, int *red,
			  combine_fn *combine, sc_error *err)
{
	char why[160];
	if (parse_reduction(k->node, k->opset, red)) {
		reduction_problem(k->node, k->opset, *red, why, sizeof why);
		return op_fail(k, err, SC_EINVAL, "%s", why);
	}
	*combine = combine_for(dtype);
	if (*red != RED_NONE && !*combine)
		return op_fail(k, err, SC_EUNSUPPORTED, "reduction '%s' on %s data",
			       reduction_names[*red], tensor_dtype_name(dtype));
	return SC_OK;
}

/* The three inputs every scatter takes: data, integer indices, and
 * updates of data's dtype. */
static int scatter_inputs(op_kernel *k, sc_error *err)
{
	int rc = need_inputs(k, 3, "data, indices and updates", err);
	if (rc || (rc = need_index_dtype(k, k->in[1], err)))
		return rc;
	if (k->in[2]->dtype != k->in[0]->dtype)
		return op_fail(k, err, SC_EINVAL, "updates are %s, data is %s",
			       tensor_dtype_name(k->in[2]->dtype),
			       tensor_dtype_name(k->in[0]->dtype));
	return SC_OK;
}

/* --- ScatterElements and Scatter ------------------------------------------- */

typedef struct scatter_state {
	int axis, reduction;
	combine_fn combine;
	int64_t data_stride[SC_MAX_RANK];
} scatter_state;

static int scatter_elements_prepare(op_kernel *k, sc_error *err)
{
	int rc = scatter_inputs(k, err);
	if (rc)
		return rc;
	const sc_tensor *x = k->in[0], *ix = k->in[1], *up = k->in[2];
	if (x->rank < 1)
		return op_fail(k, err, SC_EINVAL, "data must have rank >= 1");
	int axis;
	int64_t a = infer_attr_int(k->node, "axis", 0);
	if (infer_axis(a, x->rank, &axis))
		return op_fail(k, err, SC_EINVAL, "axis %lld is out of range for rank %d",
			       (long long)a, x->rank);
	if (ix->rank != x->rank)
		return op_fail(k, err, SC_EINVAL, "indices have rank %d, data has %d",
			       ix->rank, x->rank);
	char a_txt[128], b_txt[128];
	if (up->rank != ix->rank ||
	    memcmp(up->dims, ix->dims, (size_t)ix->rank * sizeof *ix->dims) != 0)
		return op_fail(k, err, SC_EINVAL, "updates are %s, indices %s; they must agree",
			       dims_text(up->rank, up->dims, a_txt, sizeof a_txt),
			       dims_text(ix->rank, ix->dims, b_txt, sizeof b_txt));
	for (int d = 0; d < x->rank; d++)
		if (d != axis && ix->dims[d] > x->dims[d])
			return op_fail(k, err, SC_EINVAL,
				       "indices have %lld along axis %d, data only %lld",
				       (long long)ix->dims[d], d, (long long)x->dims[d]);
	scatter_state *s = malloc(sizeof *s);
	if (!s)
		return op_fail(k, err, SC_ENOMEM, "out of memory");
	k->state = s;
	s->axis = axis;
	shape_strides(x, s->data_stride);
	if ((rc = read_reduction(k, x->dtype, &s->reduction, &s->combine, err)))
		return rc;
	return shape_set_out(k, 0, x->dtype, x->rank, x->dims, err);
}

/* Checks every element of ix against an axis of n elements. */
static int check_indices(const op_kernel *k, const sc_tensor *ix, int64_t n,
			 int axis, sc_error *err)
{
	for (int64_t i = 0; i < ix->numel; i++) {
		int64_t v = index_value(ix, i);
		if (v < -n || v >= n)
			return op_fail(k, err, SC_EINVAL,
				       "indices[%lld] = %lld is outside [%lld, %lld], axis %d of data",
				       (long long)i, (long long)v, (long long)-n,
				       (long long)(n - 1), axis);
	}
	return SC_OK;
}

static int scatter_elements_run(op_kernel *k, sc_error *err)
{
	const scatter_state *s = k->state;
	const sc_tensor *x = k->in[0], *ix = k->in[1], *up = k->in[2];
	sc_tensor *y = k->out[0];
	int64_t n_axis = x->dims[s->axis], sa = s->data_stride[s->axis];
	int rc = check_indices(k, ix, n_axis, s->axis, err);
	if (rc)
		return rc;
	shape_copy_bytes(y->data, x->data, x->nbytes);
	size_t e = tensor_dtype_size(x->dtype);
	char *dst = y->data;
	const char *src = up->data;
	int r = ix->rank;
	int64_t idx[SC_MAX_RANK] = {0}, base = 0;
	for (int64_t t = 0; t < ix->numel; t++) {
		int64_t v = index_value(ix, t);
		if (v < 0)
			v += n_axis;
		char *at = dst + (size_t)(base + v * sa) * e;
		if (s->reduction == RED_NONE)
			memcpy(at, src + (size_t)t * e, e);
		else
			s->combine(s->reduction, at, src + (size_t)t * e, 1);
		shape_axis_walk_step(r, s->axis, ix->dims, s->data_stride, idx,
				     &base);
	}
	return SC_OK;
}

/* --- ScatterND ---------------------------------------------------------------- */

typedef struct scatter_nd_state {
	int k, reduction;
	combine_fn combine;
	int64_t tuples, slice;          /* slice: elements per index tuple */
	int64_t data_stride[SC_MAX_RANK];
} scatter_nd_state;

static int scatter_nd_prepare(op_kernel *k, sc_error *err)
{
	int rc = scatter_inputs(k, err);
	if (rc)
		return rc;
	const sc_tensor *x = k->in[0], *ix = k->in[1], *up = k->in[2];
	int r = x->rank, q = ix->rank;
	if (r < 1 || q < 1)
		return op_fail(k, err, SC_EINVAL, "data and indices must have rank >= 1, have %d and %d",
			       r, q);
	int64_t kk = ix->dims[q - 1];
	if (kk < 1 || kk > r)
		return op_fail(k, err, SC_EINVAL,
			       "indices' last dim is %lld; it must be in [1, %d], the rank of data",
			       (long long)kk, r);
	/* updates = indices.shape[:-1] + data.shape[k:] */
	int64_t want[2 * SC_MAX_RANK];
	int wr = 0;
	for (int d = 0; d < q - 1; d++)
		want[wr++] = ix->dims[d];
	for (int d = (int)kk; d < r; d++)
		want[wr++] = x->dims[d];
	char a_txt[160], b_txt[160];
	if (up->rank != wr || memcmp(up->dims, want, (size_t)wr * sizeof *want) != 0)
		return op_fail(k, err, SC_EINVAL,
			       "updates are %s, expected %s (indices.shape[:-1] + data.shape[%lld:])",
			       dims_text(up->rank, up->dims, a_txt, sizeof a_txt),
			       dims_text(wr, want, b_txt, sizeof b_txt), (long long)kk);
	scatter_nd_state *s = malloc(sizeof *s);
	if (!s)
		return op_fail(k, err, SC_ENOMEM, "out of memory");
	k->state = s;
	s->k = (int)kk;
	s->tuples = ix->numel / kk;
	s->slice = 1;
	for (int d = (int)kk; d < r; d++)
		s->slice *= x->dims[d];
	shape_strides(x, s->data_stride);
	if ((rc = read_reduction(k, x->dtype, &s->reduction, &s->combine, err)))
		return rc;
	return shape_set_out(k, 0, x->dtype, r, x->dims, err);
}

/* Checks index tuples of kk elements (ix read as [tuples, kk]) against
 * the data axes first .. first+kk-1. */
static int check_tuples(const op_kernel *k, const sc_tensor *ix, int kk,
			const sc_tensor *x, int first, sc_error *err)
{
	for (int64_t i = 0; i < ix->numel; i++) {
		int axis = first + (int)(i % kk);
		int64_t v = index_value(ix, i), n = x->dims[axis];
		if (v < -n || v >= n)
			return op_fail(k, err, SC_EINVAL,
				       "index tuple %lld: element %d = %lld is outside [%lld, %lld], axis %d of data",
				       (long long)(i / kk), (int)(i % kk), (long long)v,
				       (long long)-n, (long long)(n - 1), axis);
	}
	return SC_OK;
}

/* The element offset in x of index tuple t (already checked). */
static int64_t tuple_offset(const sc_tensor *ix, int64_t t, int kk,
			    const sc_tensor *x, int first, const int64_t *stride)
{
	int64_t off = 0;
	for (int j = 0; j < kk; j++) {
		int64_t v = index_value(ix, t * kk + j);
		if (v < 0)
			v += x->dims[first + j];
		off += v * stride[first + j];
	}
	return off;
}

static int scatter_nd_run(op_kernel *k, sc_error *err)
{
	const scatter_nd_state *s = k->state;
	const sc_tensor *x = k->in[0], *ix = k->in[1], *up = k->in[2];
	sc_tensor *y = k->out[0];
	int rc = check_tuples(k, ix, s->k, x, 0, err);
	if (rc)
		return rc;
	shape_copy_bytes(y->data, x->data, x->nbytes);
	size_t e = tensor_dtype_size(x->dtype), bytes = (size_t)s->slice * e;
	char *dst = y->data;
	const char *src = up->data;
	for (int64_t t = 0; t < s->tuples; t++) {
		int64_t off = tuple_offset(ix, t, s->k, x, 0, s->data_stride);
		char *at = dst + (size_t)off * e;
		if (s->reduction == RED_NONE)
			memcpy(at, src + (size_t)t * bytes, bytes);
		else
			s->combine(s->reduction, at, src + (size_t)t * bytes, s->slice);
	}
	return SC_OK;
}

/* --- GatherND ----------------------------------------------------------------- */

typedef struct gather_nd_state {
	int k, batch_dims;
	int64_t batches, tuples, slice;   /* tuples per batch; elements per tuple */
	int64_t batch_stride;             /* data elements per batch */
	int64_t data_stride[SC_MAX_RANK];
} gather_nd_state;

static int gather_nd_prepare(op_kernel *k, sc_error *err)
{
	int rc = need_inputs(k, 2, "data and indices", err);
	if (rc)
		return rc;
	const sc_tensor *x = k->in[0], *ix = k->in[1];
	if ((rc = need_index_dtype(k, ix, err)))
		return rc;
	int r = x->rank, q = ix->rank;
	if (r < 1 || q < 1)
		return op_fail(k, err, SC_EINVAL, "data and indices must have rank >= 1, have %d and %d",
			       r, q);
	int64_t b = infer_attr_int(k->node, "batch_dims", 0);
	if (b < 0 || b >= r || b >= q)
		return op_fail(k, err, SC_EINVAL,
			       "batch_dims %lld must be below the ranks of data (%d) and indices (%d)",
			       (long long)b, r, q);
	for (int d = 0; d < b; d++)
		if (x->dims[d] != ix->dims[d])
			return op_fail(k, err, SC_EINVAL,
				       "batch axis %d: data has %lld, indices %lld",
				       d, (long long)x->dims[d], (long long)ix->dims[d]);
	int64_t kk = ix->dims[q - 1];
	if (kk < 1 || kk > r - b)
		return op_fail(k, err, SC_EINVAL,
			       "indices' last dim is %lld; it must be in [1, %lld], data's rank less batch_dims",
			       (long long)kk, (long long)(r - b));
	int out_rank = q - 1 + r - (int)b - (int)kk;
	if (out_rank > SC_MAX_RANK)
		return op_fail(k, err, SC_EUNSUPPORTED, "output rank %d is above %d",
			       out_rank, SC_MAX_RANK);
	int64_t dims[SC_MAX_RANK];
	int n = 0;
	for (int d = 0; d < q - 1; d++)
		dims[n++] = ix->dims[d];
	for (int d = (int)(b + kk); d < r; d++)
		dims[n++] = x->dims[d];
	gather_nd_state *s = malloc(sizeof *s);
	if (!s)
		return op_fail(k, err, SC_ENOMEM, "out of memory");
	k->state = s;
	s->k = (int)kk;
	s->batch_dims = (int)b;
	s->batches = 1;
	for (int d = 0; d < b; d++)
		s->batches *= x->dims[d];
	s->tuples = 1;
	for (int d = (int)b; d < q - 1; d++)
		s->tuples *= ix->dims[d];
	s->slice = 1;
	for (int d = (int)(b + kk); d < r; d++)
		s->slice *= x->dims[d];
	shape_strides(x, s->data_stride);
	s->batch_stride = b > 0 ? s->data_stride[b - 1] : 0;
	return shape_set_out(k, 0, x->dtype, out_rank, dims, err);
}

static int gather_nd_run(op_kernel *k, sc_error *err)
{
	const gather_nd_state *s = k->state;
	const sc_tensor *x = k->in[0], *ix = k->in[1];
	int rc = check_tuples(k, ix, s->k, x, s->batch_dims, err);
	if (rc)
		return rc;
	size_t e = tensor_dtype_size(x->dtype), bytes = (size_t)s->slice * e;
	const char *src = x->data;
	char *dst = k->out[0]->data;
	for (int64_t bi = 0; bi < s->batches; bi++)
		for (int64_t t = 0; t < s->tuples; t++) {
			int64_t row = bi * s->tuples + t;
			int64_t off = bi * s->batch_stride +
				      tuple_offset(ix, row, s->k, x, s->batch_dims,
						   s->data_stride);
			memcpy(dst + (size_t)row * bytes, src + (size_t)off * e, bytes);
		}
	return SC_OK;
}

/* --- shape inference ---------------------------------------------------------- */

static int infer_index_dtype(const graph *g, const graph_node *n, int elem,
			     sc_error *err)
{
	if (elem && elem != SC_INT32 && elem != SC_INT64)
		return infer_fail(g, n, err, "indices must be int32 or int64, not %s",
				  tensor_dtype_name(elem));
	return SC_OK;
}

/* Scatter, ScatterElements, ScatterND: Y is typed and shaped like data. */
static int scatter_infer(graph *g, const graph_node *n, int64_t opset,
			 sc_error *err)
{
	infer_tensor x, ix, up;
	infer_input(g, n, 0, &x);
	infer_input(g, n, 1, &ix);
	infer_input(g, n, 2, &up);
	int red, rc = infer_index_dtype(g, n, ix.elem, err);
	if (rc)
		return rc;
	if (parse_reduction(n, opset, &red)) {
		char why[160];
		reduction_problem(n, opset, red, why, sizeof why);
		return infer_fail(g, n, err, "%s", why);
	}
	if (x.elem && up.elem && x.elem != up.elem)
		return infer_fail(g, n, err, "updates are %s, data is %s",
				  tensor_dtype_name(up.elem), tensor_dtype_name(x.elem));
	if (strcmp(n->op_type, "ScatterND") != 0) {
		if (x.rank >= 0 && ix.rank >= 0 && x.rank != ix.rank)
			return infer_fail(g, n, err, "indices have rank %d, data has %d",
					  ix.rank, x.rank);
		if (up.rank >= 0 && ix.rank >= 0 && up.rank != ix.rank)
			return infer_fail(g, n, err, "updates have rank %d, indices %d",
					  up.rank, ix.rank);
		int axis;
		int64_t a = infer_attr_int(n, "axis", 0);
		if (x.rank >= 0 && infer_axis(a, x.rank, &axis))
			return infer_fail(g, n, err, "axis %lld is out of range for rank %d",
					  (long long)a, x.rank);
	}
	if (!x.elem)
		x.elem = up.elem;
	return infer_set_output(g, n, 0, &x, err);
}

static int gather_nd_infer(graph *g, const graph_node *n, int64_t opset,
			   sc_error *err)
{
	(void)opset;
	infer_tensor x, ix, y;
	infer_input(g, n, 0, &x);
	infer_input(g, n, 1, &ix);
	int rc = infer_index_dtype(g, n, ix.elem, err);
	if (rc)
		return rc;
	infer_tensor_unknown(&y, x.elem);
	int64_t b = infer_attr_int(n, "batch_dims", 0);
	if (x.rank < 0 || ix.rank < 0)
		return infer_set_output(g, n, 0, &y, err);
	if (x.rank < 1 || ix.rank < 1 || b < 0 || b >= x.rank || b >= ix.rank)
		return infer_fail(g, n, err,
				  "data (rank %d) and indices (rank %d) cannot have batch_dims %lld",
				  x.rank, ix.rank, (long long)b);
	infer_dim last = ix.dims[ix.rank - 1];
	if (!infer_dim_known(last))
		return infer_set_output(g, n, 0, &y, err);
	if (last.value < 1 || last.value > x.rank - b)
		return infer_fail(g, n, err,
				  "indices' last dim is %lld; it must be in [1, %lld]",
				  (long long)last.value, (long long)(x.rank - b));
	int rank = ix.rank - 1 + x.rank - (int)b - (int)last.value;
	if (rank > SC_MAX_RANK)
		return infer_set_output(g, n, 0, &y, err);
	infer_tensor_rank(&y, x.elem, 0);
	for (int d = 0; d < ix.rank - 1; d++)
		y.dims[y.rank++] = ix.dims[d];
	for (int d = (int)(b + last.value); d < x.rank; d++)
		y.dims[y.rank++] = x.dims[d];
	return infer_set_output(g, n, 0, &y, err);
}

/* ai.supcon GatherElements: indices' shape, data's type. */
static int gather_elements_infer(graph *g, const graph_node *n, int64_t opset,
				 sc_error *err)
{
	(void)opset;
	infer_tensor x, ix;
	infer_input(g, n, 0, &x);
	infer_input(g, n, 1, &ix);
	int rc = infer_index_dtype(g, n, ix.elem, err);
	if (rc)
		return rc;
	if (x.rank >= 0 && ix.rank >= 0 && x.rank != ix.rank)
		return infer_fail(g, n, err, "indices have rank %d, data has %d",
				  ix.rank, x.rank);
	ix.elem = x.elem;
	return infer_set_output(g, n, 0, &ix, err);
}

/* --- the table ------------------------------------------------------------------ */

static const op_attr_spec axis_attrs[] = {
	{"axis", ATTR_INT},
	{NULL, 0},
};

static const op_attr_spec axis_reduction_attrs[] = {
	{"axis", ATTR_INT},
	{"reduction", ATTR_STRING},
	{NULL, 0},
};

static const op_attr_spec reduction_attrs[] = {
	{"reduction", ATTR_STRING},
	{NULL, 0},
};

static const op_attr_spec batch_dims_attrs[] = {
	{"batch_dims", ATTR_INT},
	{NULL, 0},
};

#define SCATTER_ELEMENTS(dom, nm, from, to, spec) \
	{.domain = dom, .name = nm, .since = from, .until = to, \
	 .attrs = spec, .infer = scatter_infer, \
	 .prepare = scatter_elements_prepare, .run = scatter_elements_run, \
	 .grad = shape_scatter_grad, .grad_inputs = 5}
#define SCATTER_ND(dom, from, to, spec) \
	{.domain = dom, .name = "ScatterND", .since = from, .until = to, \
	 .attrs = spec, .infer = scatter_infer, \
	 .prepare = scatter_nd_prepare, .run = scatter_nd_run, \
	 .grad = shape_scatter_grad, .grad_inputs = 5}

const op_def op_scatter_defs[] = {
	SCATTER_ELEMENTS("", "Scatter", 9, 10, axis_attrs),
	SCATTER_ELEMENTS("", "ScatterElements", 11, 15, axis_attrs),
	SCATTER_ELEMENTS("", "ScatterElements", 16, 18, axis_reduction_attrs),
	SCATTER_ND("", 11, 15, NULL),
	SCATTER_ND("", 16, 18, reduction_attrs),
	{.domain = "", .name = "GatherND", .since = 11, .until = 11,
	 .attrs = NULL, .infer = gather_nd_infer,
	 .prepare = gather_nd_prepare, .run = gather_nd_run,
	 .grad = shape_gathernd_grad, .grad_inputs = 1},
	{.domain = "", .name = "GatherND", .since = 12, .until = 18,
	 .attrs = batch_dims_attrs, .infer = gather_nd_infer,
	 .prepare = gather_nd_prepare, .run = gather_nd_run,
	 .grad = shape_gathernd_grad, .grad_inputs = 1},
	/* the forms gradient graphs of older opsets use (shape_grad.c) */
	{.domain = "ai.supcon", .name = "GatherElements", .since = 1, .until = 1,
	 .attrs = axis_attrs, .infer = gather_elements_infer,
	 .prepare = shape_gather_elements_prepare,
	 .run = shape_gather_elements_run},
	SCATTER_ELEMENTS("ai.supcon", "ScatterElements", 1, 1, axis_reduction_attrs),
	SCATTER_ND("ai.supcon", 1, 1, reduction_attrs),
	{0},
};
