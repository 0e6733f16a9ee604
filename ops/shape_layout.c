/* shape_layout.c: kernels that give one input a new shape or layout.
 *
 * Flatten, Reshape, Squeeze and Unsqueeze only change the shape: prepare
 * computes it and run copies the bytes (outputs never alias inputs).
 * Transpose, Slice, Expand, Tile, DepthToSpace and SpaceToDepth describe
 * each output element's source as a strided view (shape_view) in prepare;
 * run is one view copy:
 *   Transpose      source strides permuted;
 *   Slice          offset at the starts, strides times the steps (negative
 *                  steps walk backwards);
 *   Expand         stride 0 along broadcast dims;
 *   Tile           axis i seen as [repeats_i, d_i] with stride 0 on the
 *                  repeat, i.e. a 2r-dim Expand;
 *   DepthToSpace   the reshape-transpose-reshape of the spec, as one view
 *   SpaceToDepth   over 6 dims. */
#include <stdlib.h>
#include <string.h>

#include "infer_util.h"
#include "shape_kernel.h"

static int need_input(const op_kernel *k, int i, sc_error *err)
{
	if (i >= k->n_in || !k->in[i])
		return op_fail(k, err, SC_EINVAL, "input %d is missing", i);
	return SC_OK;
}

/* Stores v as the kernel's state for shape_run_view. */
static int keep_view(op_kernel *k, const shape_view *v, sc_error *err)
{
	shape_view *s = malloc(sizeof *s);
	if (!s)
		return op_fail(k, err, SC_ENOMEM, "out of memory");
	*s = *v;
	shape_view_simplify(s);
	k->state = s;
	return SC_OK;
}

/* --- shape only ----------------------------------------------------------- */

int shape_flatten_prepare(op_kernel *k, sc_error *err)
{
	int rc = need_input(k, 0, err);
	if (rc)
		return rc;
	const sc_tensor *x = k->in[0];
	int64_t axis = infer_attr_int(k->node, "axis", 1);
	int64_t a = axis < 0 ? axis + x->rank : axis;
	if (a < 0 || a > x->rank)
		return op_fail(k, err, SC_EINVAL, "axis %lld is out of range for rank %d",
				  (long long)axis, x->rank);
	int64_t dims[2] = {1, 1};
	for (int i = 0; i < x->rank; i++)
		dims[i >= a] *= x->dims[i];
	return shape_set_out(k, 0, x->dtype, 2, dims, err);
}

int shape_reshape_prepare(op_kernel *k, sc_error *err)
{
	int rc = need_input(k, 0, err);
	if (!rc)
		rc = need_input(k, 1, err);
	if (rc)
		return rc;
	const sc_tensor *x = k->in[0];
	int64_t shape[SC_MAX_RANK];
	int ns;
	if (k->in[1]->dtype != SC_INT64)
		return op_fail(k, err, SC_EINVAL, "shape must be int64, not %s",
				  tensor_dtype_name(k->in[1]->dtype));
	if ((rc = shape_read_ints(k, k->in[1], "shape", shape, SC_MAX_RANK, &ns, err)))
		return rc;
	int allowzero = k->opset >= 14 && infer_attr_int(k->node, "allowzero", 0);
	int neg = -1;
	int64_t known = 1;
	for (int i = 0; i < ns; i++) {
		if (shape[i] < -1)
			return op_fail(k, err, SC_EINVAL, "shape[%d] = %lld is invalid",
					  i, (long long)shape[i]);
		if (shape[i] == -1) {
			if (neg >= 0)
				return op_fail(k, err, SC_EINVAL, "shape has more than one -1");
			neg = i;
			continue;
		}
		if (shape[i] == 0 && !allowzero) {
			if (i >= x->rank)
				return op_fail(k, err, SC_EINVAL,
						  "shape[%d] = 0 copies a dim the rank-%d input does not have",
						  i, x->rank);
			shape[i] = x->dims[i];
		}
		if (shape[i] > 0 && known > SC_MAX_NUMEL / shape[i])
			return op_fail(k, err, SC_EINVAL, "shape overflows");
		known *= shape[i];
	}
	if (neg >= 0) {
		if (known == 0)
			return op_fail(k, err, SC_EINVAL,
					  "shape has -1 with a zero dim: the -1 is ambiguous");
		if (x->numel % known)
			return op_fail(k, err, SC_EINVAL,
					  "cannot reshape %lld elements into a multiple of %lld",
					  (long long)x->numel, (long long)known);
		shape[neg] = x->numel / known;
		known = x->numel;
	}
	if (known != x->numel)
		return op_fail(k, err, SC_EINVAL, "cannot reshape %lld elements into %lld",
				  (long long)x->numel, (long long)known);
	return shape_set_out(k, 0, x->dtype, ns, shape, err);
}

int shape_squeeze_prepare(op_kernel *k, sc_error *err)
{
	int rc = need_input(k, 0, err);
	if (rc)
		return rc;
	const sc_tensor *x = k->in[0];
	int64_t axes[SC_MAX_RANK];
	int na;
	rc = shape_attr_or_input(k, 13, "axes", 1, axes, SC_MAX_RANK, &na, err);
	if (rc)
		return rc;
	int marked[SC_MAX_RANK] = {0};
	/* no axes, or an empty list (as ONNX Runtime reads it): every 1 */
	for (int i = 0; i < x->rank && na <= 0; i++)
		marked[i] = x->dims[i] == 1;
	for (int i = 0; i < na; i++) {
		int a;
		if (infer_axis(axes[i], x->rank, &a))
			return op_fail(k, err, SC_EINVAL, "axis %lld is out of range for rank %d",
					  (long long)axes[i], x->rank);
		if (x->dims[a] != 1)
			return op_fail(k, err, SC_EINVAL, "cannot squeeze axis %d of size %lld",
					  a, (long long)x->dims[a]);
		marked[a] = 1;
	}
	int64_t dims[SC_MAX_RANK];
	int r = 0;
	for (int i = 0; i < x->rank; i++)
		if (!marked[i])
			dims[r++] = x->dims[i];
	return shape_set_out(k, 0, x->dtype, r, dims, err);
}

int shape_unsqueeze_prepare(op_kernel *k, sc_error *err)
{
	int rc = need_input(k, 0, err);
	if (rc)
		return rc;
	const sc_tensor *x = k->in[0];
	int64_t axes[SC_MAX_RANK];
	int na;
	rc = shape_attr_or_input(k, 13, "axes", 1, axes, SC_MAX_RANK, &na, err);
	if (rc)
		return rc;
	if (na < 0)
		return op_fail(k, err, SC_EINVAL, "axes are required");
	int r = x->rank + na;
	if (r > SC_MAX_RANK)
		return op_fail(k, err, SC_EUNSUPPORTED, "output rank %d is above %d",
				  r, SC_MAX_RANK);
	int marked[SC_MAX_RANK] = {0};
	for (int i = 0; i < na; i++) {
		int a;
		if (infer_axis(axes[i], r, &a))
			return op_fail(k, err, SC_EINVAL, "axis %lld is out of range for rank %d",
					  (long long)axes[i], r);
		if (marked[a])
			return op_fail(k, err, SC_EINVAL, "axis %d is given twice", a);
		marked[a] = 1;
	}
	int64_t dims[SC_MAX_RANK];
	for (int i = 0, j = 0; i < r; i++)
		dims[i] = marked[i] ? 1 : x->dims[j++];
	return shape_set_out(k, 0, x->dtype, r, dims, err);
}

/* --- views ---------------------------------------------------------------- */

int shape_transpose_prepare(op_kernel *k, sc_error *err)
{
	int rc = need_input(k, 0, err);
	if (rc)
		return rc;
	const sc_tensor *x = k->in[0];
	const int64_t *perm;
	int np = infer_attr_ints(k->node, "perm", &perm);
	if (np >= 0 && np != x->rank)
		return op_fail(k, err, SC_EINVAL, "perm has %d values for rank %d",
				  np, x->rank);
	int64_t stride[SC_MAX_RANK], dims[SC_MAX_RANK];
	int seen[SC_MAX_RANK] = {0};
	shape_strides(x, stride);
	shape_view v;
	shape_view_init(&v, tensor_dtype_size(x->dtype));
	for (int i = 0; i < x->rank; i++) {
		int64_t p = np >= 0 ? perm[i] : x->rank - 1 - i;
		if (p < 0 || p >= x->rank || seen[p])
			return op_fail(k, err, SC_EINVAL,
					  "perm is not a permutation of 0..%d", x->rank - 1);
		seen[p] = 1;
		dims[i] = x->dims[p];
		shape_view_push(&v, dims[i], 0, stride[p]);
	}
	shape_view_dense_dst(&v);
	if ((rc = shape_set_out(k, 0, x->dtype, x->rank, dims, err)))
		return rc;
	return keep_view(k, &v, err);
}

/* Clamps a Slice bound along a dim of size dim as ONNX specifies: starts
 * and ends count from the end when negative, then go to [0, dim] for
 * positive steps and [-1, dim-1] for negative ones. */
static int64_t slice_clamp(int64_t b, int64_t dim, int64_t step)
{
	if (b < 0)
		b += dim;
	if (step > 0)
		return b < 0 ? 0 : b > dim ? dim : b;
	return b < -1 ? -1 : b > dim - 1 ? dim - 1 : b;
}

int shape_slice_prepare(op_kernel *k, sc_error *err)
{
	int rc = need_input(k, 0, err);
	if (rc)
		return rc;
	const sc_tensor *x = k->in[0];
	int64_t starts[SC_MAX_RANK], ends[SC_MAX_RANK], axes[SC_MAX_RANK],
		steps[SC_MAX_RANK];
	int ns, ne, na, nt = -1;
	if ((rc = shape_attr_or_input(k, 10, "starts", 1, starts, SC_MAX_RANK, &ns, err)) ||
	    (rc = shape_attr_or_input(k, 10, "ends", 2, ends, SC_MAX_RANK, &ne, err)) ||
	    (rc = shape_attr_or_input(k, 10, "axes", 3, axes, SC_MAX_RANK, &na, err)))
		return rc;
	if (k->opset >= 10 &&
	    (rc = shape_attr_or_input(k, 10, "", 4, steps, SC_MAX_RANK, &nt, err)))
		return rc;
	if (ns < 0 || ne < 0)
		return op_fail(k, err, SC_EINVAL, "starts and ends are required");
	if (ns != ne || (na >= 0 && na != ns) || (nt >= 0 && nt != ns))
		return op_fail(k, err, SC_EINVAL,
				  "starts, ends, axes and steps differ in length");
	int64_t begin[SC_MAX_RANK], step[SC_MAX_RANK], dims[SC_MAX_RANK];
	int seen[SC_MAX_RANK] = {0};
	for (int d = 0; d < x->rank; d++) {
		begin[d] = 0;
		step[d] = 1;
		dims[d] = x->dims[d];
	}
	for (int i = 0; i < ns; i++) {
		int a;
		int64_t ax = na >= 0 ? axes[i] : i;
		if (infer_axis(ax, x->rank, &a))
			return op_fail(k, err, SC_EINVAL, "axis %lld is out of range for rank %d",
					  (long long)ax, x->rank);
		if (seen[a])
			return op_fail(k, err, SC_EINVAL, "axis %d is sliced twice", a);
		seen[a] = 1;
		int64_t s = nt >= 0 ? steps[i] : 1;
		if (s == 0)
			return op_fail(k, err, SC_EINVAL, "step along axis %d is 0", a);
		if (s == INT64_MIN)
			s = -INT64_MAX;
		int64_t n = x->dims[a];
		int64_t b = slice_clamp(starts[i], n, s), e = slice_clamp(ends[i], n, s);
		int64_t len;
		if (s > 0)
			len = e > b ? (e - b - 1) / s + 1 : 0;
		else
			len = b > e ? (b - e - 1) / -s + 1 : 0;
		begin[a] = len ? b : 0;
		step[a] = len > 1 ? s : 1;
		dims[a] = len;
	}
	int64_t stride[SC_MAX_RANK];
	shape_strides(x, stride);
	shape_view v;
	shape_view_init(&v, tensor_dtype_size(x->dtype));
	for (int d = 0; d < x->rank; d++) {
		shape_view_push(&v, dims[d], 0, step[d] * stride[d]);
		v.src_offset += begin[d] * stride[d];
	}
	shape_view_dense_dst(&v);
	if ((rc = shape_set_out(k, 0, x->dtype, x->rank, dims, err)))
		return rc;
	return keep_view(k, &v, err);
}

int shape_expand_prepare(op_kernel *k, sc_error *err)
{
	int rc = need_input(k, 0, err);
	if (!rc)
		rc = need_input(k, 1, err);
	if (rc)
		return rc;
	const sc_tensor *x = k->in[0];
	int64_t shape[SC_MAX_RANK];
	int ns;
	if ((rc = shape_read_ints(k, k->in[1], "shape", shape, SC_MAX_RANK, &ns, err)))
		return rc;
	int r = ns > x->rank ? ns : x->rank;
	int64_t stride[SC_MAX_RANK], dims[SC_MAX_RANK];
	shape_strides(x, stride);
	shape_view v;
	shape_view_init(&v, tensor_dtype_size(x->dtype));
	for (int d = 0; d < r; d++) {
		int xd = d - (r - x->rank), sd = d - (r - ns);
		int64_t a = xd >= 0 ? x->dims[xd] : 1;
		int64_t b = sd >= 0 ? shape[sd] : 1;
		if (b < 0)
			return op_fail(k, err, SC_EINVAL, "shape[%d] = %lld is negative",
					  sd, (long long)b);
		if (a != b && a != 1 && b != 1)
			return op_fail(k, err, SC_EINVAL,
					  "cannot broadcast input dim %d (%lld) to %lld",
					  xd, (long long)a, (long long)b);
		dims[d] = a == 1 ? b : a;
		shape_view_push(&v, dims[d], 0, xd >= 0 && a != 1 ? stride[xd] : 0);
	}
	shape_view_dense_dst(&v);
	if ((rc = shape_set_out(k, 0, x->dtype, r, dims, err)))
		return rc;
	return keep_view(k, &v, err);
}

int shape_tile_prepare(op_kernel *k, sc_error *err)
{
	int rc = need_input(k, 0, err);
	if (!rc)
		rc = need_input(k, 1, err);
	if (rc)
		return rc;
	const sc_tensor *x = k->in[0];
	int64_t rep[SC_MAX_RANK];
	int nr;
	if ((rc = shape_read_ints(k, k->in[1], "repeats", rep, SC_MAX_RANK, &nr, err)))
		return rc;
	if (nr != x->rank)
		return op_fail(k, err, SC_EINVAL, "repeats has %d values for rank %d",
				  nr, x->rank);
	int64_t stride[SC_MAX_RANK], dims[SC_MAX_RANK];
	shape_strides(x, stride);
	shape_view v;
	shape_view_init(&v, tensor_dtype_size(x->dtype));
	for (int d = 0; d < x->rank; d++) {
		if (rep[d] < 0)
			return op_fail(k, err, SC_EINVAL, "repeats[%d] = %lld is negative",
					  d, (long long)rep[d]);
		if (rep[d] > 0 && x->dims[d] > SC_MAX_NUMEL / rep[d])
			return op_fail(k, err, SC_EINVAL, "axis %d overflows", d);
		dims[d] = x->dims[d] * rep[d];
		shape_view_push(&v, rep[d], 0, 0);
		shape_view_push(&v, x->dims[d], 0, stride[d]);
	}
	shape_view_dense_dst(&v);
	if ((rc = shape_set_out(k, 0, x->dtype, x->rank, dims, err)))
		return rc;
	return keep_view(k, &v, err);
}

/* DepthToSpace and SpaceToDepth on [N, C, H, W] with block b.  The output
 * is walked as 6 dims in its own row-major order, each with the input
 * stride that element comes from:
 *   DepthToSpace DCR  out [N, C', H, b1, W, b2] <- in channel (b1*b + b2)*C' + c'
 *   DepthToSpace CRD  out [N, C', H, b1, W, b2] <- in channel c'*b*b + b1*b + b2
 *   SpaceToDepth      out [N, b1, b2, C, H', W'] <- in [n, c, h'*b + b1, w'*b + b2]
 * (C' = C/b^2; H' = H/b, W' = W/b). */
int shape_space_depth_prepare(op_kernel *k, sc_error *err)
{
	int rc = need_input(k, 0, err);
	if (rc)
		return rc;
	const sc_tensor *x = k->in[0];
	if (x->rank != 4)
		return op_fail(k, err, SC_EINVAL, "input must be 4-D, has rank %d",
				  x->rank);
	int64_t b = infer_attr_int(k->node, "blocksize", -1);
	if (b < 1 || b > (1 << 20))
		return op_fail(k, err, SC_EINVAL, "blocksize is missing or out of range");
	int64_t n = x->dims[0], c = x->dims[1], h = x->dims[2], w = x->dims[3];
	int64_t dims[4] = {n, 0, 0, 0};
	shape_view v;
	shape_view_init(&v, tensor_dtype_size(x->dtype));
	if (strcmp(k->node->op_type, "DepthToSpace") == 0) {
		if (c % (b * b))
			return op_fail(k, err, SC_EINVAL,
					  "%lld channels do not divide by blocksize^2 = %lld",
					  (long long)c, (long long)(b * b));
		int64_t co = c / (b * b), hw = h * w;
		int crd = k->opset >= 11 && infer_attr_is(k->node, "mode", "DCR", "CRD");
		if (!crd && k->opset >= 11 && !infer_attr_is(k->node, "mode", "DCR", "DCR"))
			return op_fail(k, err, SC_EINVAL, "mode must be DCR or CRD");
		shape_view_push(&v, n, 0, c * hw);
		shape_view_push(&v, co, 0, crd ? b * b * hw : hw);
		shape_view_push(&v, h, 0, w);
		shape_view_push(&v, b, 0, crd ? b * hw : b * co * hw);
		shape_view_push(&v, w, 0, 1);
		shape_view_push(&v, b, 0, crd ? hw : co * hw);
		dims[1] = co;
		dims[2] = h * b;
		dims[3] = w * b;
	} else {
		if (h % b || w % b)
			return op_fail(k, err, SC_EINVAL,
					  "spatial size %lldx%lld does not divide by blocksize %lld",
					  (long long)h, (long long)w, (long long)b);
		if (c > SC_MAX_NUMEL / (b * b))
			return op_fail(k, err, SC_EINVAL, "channels overflow");
		shape_view_push(&v, n, 0, c * h * w);
		shape_view_push(&v, b, 0, w);
		shape_view_push(&v, b, 0, 1);
		shape_view_push(&v, c, 0, h * w);
		shape_view_push(&v, h / b, 0, b * w);
		shape_view_push(&v, w / b, 0, b);
		dims[1] = c * b * b;
		dims[2] = h / b;
		dims[3] = w / b;
	}
	shape_view_dense_dst(&v);
	if ((rc = shape_set_out(k, 0, x->dtype, 4, dims, err)))
		return rc;
	return keep_view(k, &v, err);
}
