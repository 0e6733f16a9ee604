/* shape_join.c: Concat, Split and Pad kernels.
 *
 * Concat and Split see every tensor as [outer, d_axis * inner]: the dims
 * before the axis, then one contiguous block per outer index.  Each input
 * of Concat (each output of Split) is one view copy of that block into (out
 * of) its column range of the joined tensor.
 *
 * Pad maps every output coordinate to an input coordinate per axis, in
 * tables built by prepare: i - pad_begin inside the input, and outside it
 * -1 (constant mode: the pad value), the nearest edge (edge mode) or the
 * mirror image without repeating the edge (reflect mode, as numpy.pad).
 * Negative pads crop.  Run copies the interior of each row with memcpy and
 * the padded ends through the table. */
#include <stdlib.h>
#include <string.h>

#include "infer_util.h"
#include "shape_kernel.h"

/* --- Concat and Split ------------------------------------------------------ */

typedef struct join_state {
	int n;
	shape_view views[];
} join_state;

static join_state *join_alloc(const op_kernel *k, int n, sc_error *err)
{
	join_state *s = malloc(sizeof *s + (size_t)(n ? n : 1) * sizeof(shape_view));
	if (!s) {
		op_fail(k, err, SC_ENOMEM, "out of memory");
		return NULL;
	}
	s->n = n;
	return s;
}

int shape_concat_prepare(op_kernel *k, sc_error *err)
{
	int n = k->n_in;
	if (n < 1)
		return op_fail(k, err, SC_EINVAL, "needs at least one input");
	const sc_tensor *x0 = k->in[0];
	for (int i = 0; i < n; i++)
		if (!k->in[i])
			return op_fail(k, err, SC_EINVAL, "input %d is missing", i);
	const graph_attr *aa = graph_node_attr(k->node, "axis");
	if (!aa || aa->type != ATTR_INT)
		return op_fail(k, err, SC_EINVAL, "attribute 'axis' is required");
	int axis;
	if (infer_axis(aa->i, x0->rank, &axis))
		return op_fail(k, err, SC_EINVAL, "axis %lld is out of range for rank %d",
				  (long long)aa->i, x0->rank);
	int64_t dims[SC_MAX_RANK], total = 0;
	for (int i = 0; i < n; i++) {
		const sc_tensor *x = k->in[i];
		if (x->dtype != x0->dtype || x->rank != x0->rank)
			return op_fail(k, err, SC_EINVAL,
					  "input %d is %s of rank %d, input 0 is %s of rank %d",
					  i, tensor_dtype_name(x->dtype), x->rank,
					  tensor_dtype_name(x0->dtype), x0->rank);
		for (int d = 0; d < x->rank; d++)
			if (d != axis && x->dims[d] != x0->dims[d])
				return op_fail(k, err, SC_EINVAL,
						  "input %d has %lld along axis %d, input 0 has %lld",
						  i, (long long)x->dims[d], d,
						  (long long)x0->dims[d]);
		total += x->dims[axis];
	}
	for (int d = 0; d < x0->rank; d++)
		dims[d] = d == axis ? total : x0->dims[d];
	int rc = shape_set_out(k, 0, x0->dtype, x0->rank, dims, err);
	if (rc)
		return rc;
	int64_t outer = 1, inner = 1;
	for (int d = 0; d < axis; d++)
		outer *= x0->dims[d];
	for (int d = axis + 1; d < x0->rank; d++)
		inner *= x0->dims[d];
	join_state *s = join_alloc(k, n, err);
	if (!s)
		return err->code;
	int64_t col = 0;
	for (int i = 0; i < n; i++) {
		int64_t w = k->in[i]->dims[axis] * inner;
		shape_view *v = &s->views[i];
		shape_view_init(v, tensor_dtype_size(x0->dtype));
		shape_view_push(v, outer, total * inner, w);
		shape_view_push(v, w, 1, 1);
		v->dst_offset = col;
		shape_view_simplify(v);
		col += w;
	}
	k->state = s;
	return SC_OK;
}

int shape_concat_run(op_kernel *k, sc_error *err)
{
	(void)err;
	const join_state *s = k->state;
	for (int i = 0; i < s->n; i++)
		shape_view_copy(&s->views[i], k->out[0]->data, k->in[i]->data);
	return SC_OK;
}

/* Enough for the outputs any real graph splits into. */
#define MAX_SPLIT 4096

int shape_split_prepare(op_kernel *k, sc_error *err)
{
	if (k->n_in < 1 || !k->in[0])
		return op_fail(k, err, SC_EINVAL, "input 0 is missing");
	const sc_tensor *x = k->in[0];
	int n = k->n_out;
	if (n < 1 || n > MAX_SPLIT)
		return op_fail(k, err, SC_EINVAL, "has %d outputs", n);
	int64_t a = infer_attr_int(k->node, "axis", 0);
	int axis;
	if (infer_axis(a, x->rank, &axis))
		return op_fail(k, err, SC_EINVAL, "axis %lld is out of range for rank %d",
				  (long long)a, x->rank);
	int64_t *split = malloc((size_t)n * sizeof *split);
	join_state *s = join_alloc(k, n, err);
	if (!split || !s) {
		free(split);
		free(s);
		return op_fail(k, err, SC_ENOMEM, "out of memory");
	}
	int ns;
	int rc = shape_attr_or_input(k, 13, "split", 1, split, n, &ns, err);
	if (rc)
		goto fail;
	int64_t dim = x->dims[axis];
	if (ns >= 0 && ns != n) {
		rc = op_fail(k, err, SC_EINVAL, "split has %d sizes for %d outputs", ns, n);
		goto fail;
	}
	if (ns < 0) {
		if (dim % n) {
			rc = op_fail(k, err, SC_EINVAL,
					"axis %d of size %lld does not split into %d equal parts",
					axis, (long long)dim, n);
			goto fail;
		}
		for (int i = 0; i < n; i++)
			split[i] = dim / n;
	}
	int64_t sum = 0;
	for (int i = 0; i < n; i++) {
		if (split[i] < 0 || split[i] > dim - sum) {
			rc = op_fail(k, err, SC_EINVAL,
					"split sizes do not add up to the %lld of axis %d",
					(long long)dim, axis);
			goto fail;
		}
		sum += split[i];
	}
	if (sum != dim) {
		rc = op_fail(k, err, SC_EINVAL, "split sizes add up to %lld, axis %d has %lld",
				(long long)sum, axis, (long long)dim);
		goto fail;
	}
	int64_t outer = 1, inner = 1, col = 0, dims[SC_MAX_RANK];
	for (int d = 0; d < axis; d++)
		outer *= x->dims[d];
	for (int d = axis + 1; d < x->rank; d++)
		inner *= x->dims[d];
	for (int i = 0; i < n; i++) {
		memcpy(dims, x->dims, sizeof dims);
		dims[axis] = split[i];
		if ((rc = shape_set_out(k, i, x->dtype, x->rank, dims, err)))
			goto fail;
		int64_t w = split[i] * inner;
		shape_view *v = &s->views[i];
		shape_view_init(v, tensor_dtype_size(x->dtype));
		shape_view_push(v, outer, w, dim * inner);
		shape_view_push(v, w, 1, 1);
		v->src_offset = col;
		shape_view_simplify(v);
		col += w;
	}
	free(split);
	k->state = s;
	return SC_OK;
fail:
	free(split);
	free(s);
	return rc;
}

int shape_split_run(op_kernel *k, sc_error *err)
{
	(void)err;
	const join_state *s = k->state;
	for (int i = 0; i < s->n; i++)
		if (k->out[i])
			shape_view_copy(&s->views[i], k->out[i]->data, k->in[0]->data);
	return SC_OK;
}

/* --- Pad ------------------------------------------------------------------- */

enum { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE };

typedef struct pad_state {
	int rank;
	size_t elem;
	int64_t out_dims[SC_MAX_RANK];
	int64_t in_stride[SC_MAX_RANK];
	int64_t tab_at[SC_MAX_RANK];    /* where axis d's table starts in tab */
	int64_t lo, hi;                 /* interior of the last axis */
	int value_input;                /* constant_value comes from input 2 */
	unsigned char value[16];
	int64_t tab[];                  /* per axis: output coord -> input coord */
} pad_state;

/* Input coordinate for output coordinate o of an axis of n elements with
 * pb elements of padding in front; -1 for the pad value. */
static int64_t pad_source(int64_t o, int64_t pb, int64_t n, int mode)
{
	int64_t i = o - pb;
	if (i >= 0 && i < n)
		return i;
	if (mode == PAD_CONSTANT)
		return -1;
	if (mode == PAD_EDGE || n == 1)
		return i < 0 ? 0 : n - 1;
	int64_t period = 2 * (n - 1);
	i %= period;
	if (i < 0)
		i += period;
	return i < n ? i : period - i;
}

int shape_pad_prepare(op_kernel *k, sc_error *err)
{
	if (k->n_in < 1 || !k->in[0])
		return op_fail(k, err, SC_EINVAL, "input 0 is missing");
	const sc_tensor *x = k->in[0];
	int r = x->rank, mode, np, rc;
	int64_t pads[2 * SC_MAX_RANK];
	if (infer_attr_is(k->node, "mode", "constant", "constant"))
		mode = PAD_CONSTANT;
	else if (infer_attr_is(k->node, "mode", "constant", "reflect"))
		mode = PAD_REFLECT;
	else if (infer_attr_is(k->node, "mode", "constant", "edge"))
		mode = PAD_EDGE;
	else
		return op_fail(k, err, SC_EUNSUPPORTED,
				  "mode must be constant, reflect or edge");
	if (k->opset < 11) {
		if ((rc = shape_attr_or_input(k, 11, "pads", 1, pads, 2 * SC_MAX_RANK,
					      &np, err)))
			return rc;
	} else {
		if (k->n_in < 2 || !k->in[1])
			return op_fail(k, err, SC_EINVAL, "input 1 (pads) is missing");
		if (k->in[1]->dtype != SC_INT64)
			return op_fail(k, err, SC_EINVAL, "pads must be int64, not %s",
					  tensor_dtype_name(k->in[1]->dtype));
		if ((rc = shape_read_ints(k, k->in[1], "pads", pads, 2 * SC_MAX_RANK,
					  &np, err)))
			return rc;
	}
	if (np != 2 * r)
		return op_fail(k, err, SC_EINVAL, "pads has %d values for rank %d",
				  np, r);
	int64_t dims[SC_MAX_RANK], tab_len = 0;
	for (int d = 0; d < r; d++) {
		int64_t pb = pads[d], pe = pads[r + d];
		if (pb < -SC_MAX_NUMEL || pb > SC_MAX_NUMEL || pe < -SC_MAX_NUMEL ||
		    pe > SC_MAX_NUMEL || x->dims[d] + pb + pe < 0)
			return op_fail(k, err, SC_EINVAL,
					  "pads %lld, %lld do not fit axis %d of size %lld",
					  (long long)pb, (long long)pe, d,
					  (long long)x->dims[d]);
		dims[d] = x->dims[d] + pb + pe;
		if (mode != PAD_CONSTANT && x->dims[d] == 0 && dims[d] > 0)
			return op_fail(k, err, SC_EINVAL,
					  "cannot %s-pad the empty axis %d",
					  mode == PAD_EDGE ? "edge" : "reflect", d);
		tab_len += dims[d];
	}
	if ((rc = shape_set_out(k, 0, x->dtype, r, dims, err)))
		return rc;
	/* each dim of a non-empty output is at most its numel, so the tables
	 * stay in proportion to the output; an empty one needs none */
	if (k->out[0]->numel == 0) {
		r = 0;
		tab_len = 0;
	}
	if (tab_len > SC_MAX_NUMEL / 8 ||
	    (size_t)tab_len > (SIZE_MAX - sizeof(pad_state)) / sizeof(int64_t))
		return op_fail(k, err, SC_EINVAL, "output is too large");
	pad_state *s = malloc(sizeof *s + (size_t)tab_len * sizeof(int64_t));
	if (!s)
		return op_fail(k, err, SC_ENOMEM, "out of memory");
	memset(s, 0, sizeof *s);
	s->rank = r;
	s->elem = tensor_dtype_size(x->dtype);
	shape_strides(x, s->in_stride);
	int64_t at = 0;
	for (int d = 0; d < r; d++) {
		s->out_dims[d] = dims[d];
		s->tab_at[d] = at;
		for (int64_t o = 0; o < dims[d]; o++)
			s->tab[at + o] = pad_source(o, pads[d], x->dims[d], mode);
		at += dims[d];
	}
	if (r > 0) {
		int64_t pb = pads[r - 1], n = x->dims[r - 1];
		s->lo = pb > 0 ? pb : 0;
		s->hi = pb + n < dims[r - 1] ? pb + n : dims[r - 1];
		if (s->hi < s->lo)
			s->hi = s->lo;
	}
	if (mode == PAD_CONSTANT && k->opset < 11) {
		float f = infer_attr_float(k->node, "value", 0.0f);
		if (shape_put_double(s->value, x->dtype, f)) {
			free(s);
			return op_fail(k, err, SC_EUNSUPPORTED,
					  "a pad value for %s tensors",
					  tensor_dtype_name(x->dtype));
		}
	} else if (mode == PAD_CONSTANT && k->n_in > 2 && k->in[2]) {
		const sc_tensor *cv = k->in[2];
		if (cv->dtype != x->dtype || cv->numel > 1) {
			free(s);
			return op_fail(k, err, SC_EINVAL,
					  "constant_value must be one %s, is %s with %lld elements",
					  tensor_dtype_name(x->dtype),
					  tensor_dtype_name(cv->dtype), (long long)cv->numel);
		}
		s->value_input = cv->numel == 1;
	}
	k->state = s;
	return SC_OK;
}

/* One output row: the last axis at input offset base. */
static void pad_row(const pad_state *s, char *dst, const char *src,
		    int64_t base, const void *value)
{
	size_t e = s->elem;
	int64_t n = s->out_dims[s->rank - 1];
	const int64_t *tab = s->tab + s->tab_at[s->rank - 1];
	for (int64_t j = 0; j < s->lo; j++) {
		const void *from = tab[j] < 0 ? value : src + (base + tab[j]) * (int64_t)e;
		memcpy(dst + j * (int64_t)e, from, e);
	}
	if (s->hi > s->lo)
		memcpy(dst + s->lo * (int64_t)e,
		       src + (base + tab[s->lo]) * (int64_t)e,
		       (size_t)(s->hi - s->lo) * e);
	for (int64_t j = s->hi; j < n; j++) {
		const void *from = tab[j] < 0 ? value : src + (base + tab[j]) * (int64_t)e;
		memcpy(dst + j * (int64_t)e, from, e);
	}
}

int shape_pad_run(op_kernel *k, sc_error *err)
{
	(void)err;
	const pad_state *s = k->state;
	sc_tensor *y = k->out[0];
	const char *src = k->in[0]->data;
	char *dst = y->data;
	unsigned char value[16];
	memcpy(value, s->value, sizeof value);
	if (s->value_input)
		memcpy(value, k->in[2]->data, s->elem);
	if (y->numel == 0)
		return SC_OK;
	if (s->rank == 0) {
		memcpy(dst, src, s->elem);
		return SC_OK;
	}
	int r = s->rank;
	int64_t n = s->out_dims[r - 1], rows = y->numel / n;
	size_t e = s->elem;
	int parallel = y->nbytes > ((size_t)1 << 18) && rows > 1;
	(void)parallel;
#pragma omp parallel for schedule(static) if (parallel)
	for (int64_t row = 0; row < rows; row++) {
		int64_t rest = row, base = 0;
		int inside = 1;
		for (int d = r - 2; d >= 0; d--) {
			int64_t o = rest % s->out_dims[d];
			rest /= s->out_dims[d];
			int64_t i = s->tab[s->tab_at[d] + o];
			if (i < 0)
				inside = 0;
			base += i * s->in_stride[d];
		}
		char *out = dst + row * n * (int64_t)e;
		if (inside)
			pad_row(s, out, src, base, value);
		else
			shape_fill(out, n, value, e);
	}
	return SC_OK;
}
