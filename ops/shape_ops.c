/* shape_ops.c: ops that move, select or describe elements without
 * arithmetic.
 *
 * Flatten (1-17): X -> [prod(d[0:axis]), prod(d[axis:])]; negative axis
 *   from 11.
 * Reshape (5-17): X with the shape given by the int64 input `shape`; 0
 *   copies the input dim at that position (a literal 0 with allowzero=1,
 *   14-17), -1 takes whatever is left.  Needs a constant shape (an
 *   initializer or a Constant node) to say more than the rank.
 * Transpose (1-17): axes permuted by perm (reversed by default).
 * Concat (4-17): inputs joined along `axis`; other dims must agree.
 * Squeeze / Unsqueeze: remove / insert size-1 axes; `axes` is an attribute
 *   in 1-12 (negative from 11) and an input from 13.  Squeeze without axes
 *   removes every size-1 dim.
 * Shape (1-17): the int64 1-D shape of X; start and end slice it from 15.
 * Size (1-17): the int64 element count of X.
 * Constant (1-17): a tensor from `value`, or (12-17) from value_float(s),
 *   value_int(s) or value_string(s).
 * ConstantOfShape (9-17): `value` (default float 0) broadcast to a shape.
 * Gather (1-17): data[..., indices, ...] along axis; GatherElements (11-17):
 *   out[i] = data[i with axis replaced by indices[i]].
 * Expand (8-17): X broadcast (both ways) with a shape input.
 * Slice (1-17): starts/ends/axes are attributes in 1-9; inputs (with steps)
 *   from 10.
 * Split (2-17): equal parts or the `split` sizes (attribute before 13,
 *   input from 13).
 * Tile (6-17): X repeated `repeats` times along each axis.
 * Pad (2-17): pads are an attribute in 2-10 and an input from 11.
 * EyeLike (9-17): a 2-D identity-like tensor shaped like the input.
 * DepthToSpace (1-17), SpaceToDepth (1-17): [N, C, H, W] to
 *   [N, C/b^2, H*b, W*b] and back, b being blocksize.
 * Range (11-17): start, start+delta, ... below limit: 1-D of
 *   max(ceil((limit-start)/delta), 0) elements.
 * OneHot (9-17): indices with a new axis of size depth at `axis`.
 * NonZero (9-17): int64 [rank, number of non-zeros].
 *
 * This file holds the table, attribute specs and shape inference; the
 * kernels are in shape_layout.c, shape_join.c, shape_index.c and
 * shape_make.c over the strided copy of shape_view.c (see shape_kernel.h).
 * Gradient rules of Flatten, Reshape, Transpose, Concat, Split, Slice,
 * Squeeze, Unsqueeze, Gather, GatherElements, Expand and Tile, and the
 * ai.supcon backward kernels ConcatGrad, SplitGrad, SliceGrad, GatherGrad
 * and TileGrad that they emit, are in shape_grad.c (GatherElements' rule
 * is declared in scatter.h, with the scatter family's). */
#include <math.h>
#include <string.h>

#include "infer_util.h"
#include "scatter.h"
#include "shape_kernel.h"

static const op_attr_spec axis_attrs[] = {
	{"axis", ATTR_INT},
	{NULL, 0},
};

static const op_attr_spec reshape14_attrs[] = {
	{"allowzero", ATTR_INT},
	{NULL, 0},
};

static const op_attr_spec transpose_attrs[] = {
	{"perm", ATTR_INTS},
	{NULL, 0},
};

static const op_attr_spec axes_attrs[] = {
	{"axes", ATTR_INTS},
	{NULL, 0},
};

static const op_attr_spec shape15_attrs[] = {
	{"end", ATTR_INT},
	{"start", ATTR_INT},
	{NULL, 0},
};

static const op_attr_spec constant1_attrs[] = {
	{"value", ATTR_TENSOR},
	{NULL, 0},
};

static const op_attr_spec constant11_attrs[] = {
	{"sparse_value", ATTR_SPARSE_TENSOR},
	{"value", ATTR_TENSOR},
	{NULL, 0},
};

static const op_attr_spec constant12_attrs[] = {
	{"sparse_value", ATTR_SPARSE_TENSOR},
	{"value", ATTR_TENSOR},
	{"value_float", ATTR_FLOAT},
	{"value_floats", ATTR_FLOATS},
	{"value_int", ATTR_INT},
	{"value_ints", ATTR_INTS},
	{"value_string", ATTR_STRING},
	{"value_strings", ATTR_STRINGS},
	{NULL, 0},
};

static const op_attr_spec constant_of_shape_attrs[] = {
	{"value", ATTR_TENSOR},
	{NULL, 0},
};

static const op_attr_spec slice1_attrs[] = {
	{"axes", ATTR_INTS},
	{"ends", ATTR_INTS},
	{"starts", ATTR_INTS},
	{NULL, 0},
};

static const op_attr_spec split2_attrs[] = {
	{"axis", ATTR_INT},
	{"split", ATTR_INTS},
	{NULL, 0},
};

static const op_attr_spec pad2_attrs[] = {
	{"mode", ATTR_STRING},
	{"pads", ATTR_INTS},
	{"value", ATTR_FLOAT},
	{NULL, 0},
};

static const op_attr_spec pad11_attrs[] = {
	{"mode", ATTR_STRING},
	{NULL, 0},
};

static const op_attr_spec eyelike_attrs[] = {
	{"dtype", ATTR_INT},
	{"k", ATTR_INT},
	{NULL, 0},
};

static const op_attr_spec blocksize_attrs[] = {
	{"blocksize", ATTR_INT},
	{NULL, 0},
};

static const op_attr_spec depth_to_space11_attrs[] = {
	{"blocksize", ATTR_INT},
	{"mode", ATTR_STRING},
	{NULL, 0},
};

/* Enough for any axes/shape list that can describe a tensor we accept. */
#define MAX_LIST 64

/* The length of a 1-D input when its type says it, else -1. */
static int input_length(const graph *g, const graph_node *n, int i)
{
	infer_tensor t;
	if (!infer_input(g, n, i, &t) || t.rank != 1 || t.dims[0].value < 0 ||
	    t.dims[0].value > SC_MAX_RANK)
		return -1;
	return (int)t.dims[0].value;
}

/* Reads an int list that is an attribute before `input_from` and input
 * `input` from then on.  Returns its length, -1 when absent, -2 when it is
 * an input whose value is not known before run time. */
static int attr_or_input_ints(const graph *g, const graph_node *n,
			      int64_t opset, int input_from, const char *attr,
			      int input, int64_t *out)
{
	if (opset < input_from) {
		const int64_t *v;
		int k = infer_attr_ints(n, attr, &v);
		if (k > MAX_LIST)
			return -2;
		for (int i = 0; i < k; i++)
			out[i] = v[i];
		return k;
	}
	if (!infer_has_input(n, input))
		return -1;
	int k = infer_const_ints(g, n, input, out, MAX_LIST);
	return k < 0 ? -2 : k;
}

static int flatten_infer(graph *g, const graph_node *n, int64_t opset,
			 sc_error *err)
{
	(void)opset;
	infer_tensor x, y;
	infer_input(g, n, 0, &x);
	infer_tensor_rank(&y, x.elem, 2);
	if (x.rank >= 0) {
		int64_t axis = infer_attr_int(n, "axis", 1);
		if (axis < 0)
			axis += x.rank;
		if (axis < 0 || axis > x.rank)
			return infer_fail(g, n, err, "axis %lld is out of range for rank %d",
					  (long long)infer_attr_int(n, "axis", 1), x.rank);
		y.dims[0] = axis == 0 ? infer_dim_of(1) :
			    infer_dims_product(x.dims, 0, (int)axis);
		y.dims[1] = axis == x.rank ? infer_dim_of(1) :
			    infer_dims_product(x.dims, (int)axis, x.rank);
	}
	return infer_set_output(g, n, 0, &y, err);
}

/* The size a -1 in a Reshape target stands for: what is left of the input
 * once the target's other dims are divided out.  Dims copied by a 0 cancel
 * on both sides, which is what keeps a symbolic batch size through
 * [N, C, 1, 1] -> [0, -1].  Fails only when known sizes cannot divide. */
static int reshape_rest(const graph *g, const graph_node *n,
			const infer_tensor *x, const int64_t *shape, int ns,
			const int *copied, int neg, infer_dim *out,
			sc_error *err)
{
	int64_t num = 1, den = 1;
	int n_sym = 0, sym = -1;
	*out = infer_dim_unknown();
	if (x->rank < 0)
		return SC_OK;
	for (int j = 0; j < x->rank; j++) {
		if (j < ns && copied[j])
			continue;
		int64_t d = x->dims[j].value;
		if (d < 0) {
			n_sym++;
			sym = j;
		} else if (d == 0) {
			num = 0;
		} else if (num && num > SC_MAX_NUMEL / d) {
			return SC_OK;
		} else {
			num *= d;
		}
	}
	for (int i = 0; i < ns; i++) {
		if (i == neg || copied[i])
			continue;
		if (shape[i] == 0)
			return SC_OK;  /* 0 * anything: -1 is ambiguous */
		if (den > SC_MAX_NUMEL / shape[i])
			return infer_fail(g, n, err, "target shape overflows");
		den *= shape[i];
	}
	if (n_sym == 0) {
		if (num % den)
			return infer_fail(g, n, err,
					  "cannot reshape %lld elements into a shape holding a multiple of %lld",
					  (long long)num, (long long)den);
		*out = infer_dim_of(num / den);
	} else if (n_sym == 1 && num == den) {
		*out = x->dims[sym];
	}
	return SC_OK;
}

static int reshape_infer(graph *g, const graph_node *n, int64_t opset,
			 sc_error *err)
{
	infer_tensor x, y;
	infer_input(g, n, 0, &x);
	int64_t shape[SC_MAX_RANK];
	int ns = infer_const_ints(g, n, 1, shape, SC_MAX_RANK);
	if (ns < 0) {
		int len = input_length(g, n, 1);
		if (len >= 0)
			infer_tensor_rank(&y, x.elem, len);
		else
			infer_tensor_unknown(&y, x.elem);
		return infer_set_output(g, n, 0, &y, err);
	}
	int allowzero = opset >= 14 && infer_attr_int(n, "allowzero", 0);
	int neg = -1, has_zero = 0, copied[SC_MAX_RANK] = {0};
	infer_tensor_rank(&y, x.elem, ns);
	for (int i = 0; i < ns; i++) {
		if (shape[i] < -1)
			return infer_fail(g, n, err, "shape[%d] = %lld is invalid",
					  i, (long long)shape[i]);
		if (shape[i] == -1) {
			if (neg >= 0)
				return infer_fail(g, n, err, "shape has more than one -1");
			neg = i;
		} else if (shape[i] == 0 && !allowzero) {
			if (x.rank >= 0 && i >= x.rank)
				return infer_fail(g, n, err,
						  "shape[%d] = 0 copies a dim the rank-%d input does not have",
						  i, x.rank);
			copied[i] = 1;
			if (x.rank >= 0)
				y.dims[i] = x.dims[i];
		} else {
			has_zero |= shape[i] == 0;
			y.dims[i] = infer_dim_of(shape[i]);
		}
	}
	if (neg >= 0 && has_zero)
		return infer_fail(g, n, err, "shape has both -1 and 0 with allowzero=1");
	if (neg >= 0) {
		int rc = reshape_rest(g, n, &x, shape, ns, copied, neg,
				      &y.dims[neg], err);
		if (rc)
			return rc;
	}
	infer_dim in_n = x.rank >= 0 ? infer_dims_product(x.dims, 0, x.rank) :
			 infer_dim_unknown();
	infer_dim out_n = infer_dims_product(y.dims, 0, y.rank);
	if (x.rank == 0)
		in_n = infer_dim_of(1);
	if (y.rank == 0)
		out_n = infer_dim_of(1);
	if (in_n.value >= 0 && out_n.value >= 0 && in_n.value != out_n.value)
		return infer_fail(g, n, err,
				  "cannot reshape %lld elements into %lld",
				  (long long)in_n.value, (long long)out_n.value);
	return infer_set_output(g, n, 0, &y, err);
}

static int transpose_infer(graph *g, const graph_node *n, int64_t opset,
			   sc_error *err)
{
	(void)opset;
	infer_tensor x, y;
	infer_input(g, n, 0, &x);
	const int64_t *perm;
	int np = infer_attr_ints(n, "perm", &perm);
	if (x.rank < 0) {
		if (np >= 0 && np <= SC_MAX_RANK)
			infer_tensor_rank(&y, x.elem, np);
		else
			infer_tensor_unknown(&y, x.elem);
		return infer_set_output(g, n, 0, &y, err);
	}
	if (np >= 0 && np != x.rank)
		return infer_fail(g, n, err, "perm has %d values for rank %d",
				  np, x.rank);
	int seen[SC_MAX_RANK] = {0};
	infer_tensor_rank(&y, x.elem, x.rank);
	for (int i = 0; i < x.rank; i++) {
		int64_t p = np >= 0 ? perm[i] : x.rank - 1 - i;
		if (p < 0 || p >= x.rank || seen[p])
			return infer_fail(g, n, err, "perm is not a permutation of 0..%d",
					  x.rank - 1);
		seen[p] = 1;
		y.dims[i] = x.dims[p];
	}
	return infer_set_output(g, n, 0, &y, err);
}

static int concat_infer(graph *g, const graph_node *n, int64_t opset,
			sc_error *err)
{
	(void)opset;
	int k = infer_n_inputs(n);
	if (k < 1)
		return infer_fail(g, n, err, "needs at least one input");
	const graph_attr *axis_attr = graph_node_attr(n, "axis");
	if (!axis_attr || axis_attr->type != ATTR_INT)
		return infer_fail(g, n, err, "attribute 'axis' is required");
	infer_tensor t, y;
	int elem = 0, rank = -1;
	for (int i = 0; i < k; i++) {
		if (!infer_input(g, n, i, &t))
			return infer_fail(g, n, err, "input %d is empty", i);
		int rc = infer_unify_elem(g, n, 0, elem, i, t.elem, &elem, err);
		if (rc)
			return rc;
		if (t.rank >= 0 && rank >= 0 && t.rank != rank)
			return infer_fail(g, n, err, "input %d has rank %d, input 0 has %d",
					  i, t.rank, rank);
		if (t.rank >= 0)
			rank = t.rank;
	}
	if (rank < 0) {
		infer_tensor_unknown(&y, elem);
		return infer_set_output(g, n, 0, &y, err);
	}
	int axis;
	if (infer_axis(axis_attr->i, rank, &axis))
		return infer_fail(g, n, err, "axis %lld is out of range for rank %d",
				  (long long)axis_attr->i, rank);
	infer_tensor_rank(&y, elem, rank);
	int64_t total = 0;
	int total_known = 1;
	for (int i = 0; i < k; i++) {
		infer_input(g, n, i, &t);
		if (t.rank < 0) {
			total_known = 0;
			continue;
		}
		for (int d = 0; d < rank; d++) {
			if (d == axis)
				continue;
			if (infer_dim_unify(y.dims[d], t.dims[d], &y.dims[d]))
				return infer_fail(g, n, err,
						  "input %d has %lld along axis %d where others have %lld",
						  i, (long long)t.dims[d].value, d,
						  (long long)y.dims[d].value);
		}
		if (t.dims[axis].value < 0 || t.dims[axis].value > SC_MAX_NUMEL ||
		    total > SC_MAX_NUMEL)
			total_known = 0;
		else
			total += t.dims[axis].value;
	}
	if (total_known) {
		y.dims[axis] = infer_dim_of(total);
	} else if (k == 1) {
		infer_input(g, n, 0, &t);
		y.dims[axis] = t.dims[axis];
	}
	return infer_set_output(g, n, 0, &y, err);
}

static int squeeze_infer(graph *g, const graph_node *n, int64_t opset,
			 sc_error *err)
{
	infer_tensor x, y;
	infer_input(g, n, 0, &x);
	int64_t axes[MAX_LIST];
	int na = attr_or_input_ints(g, n, opset, 13, "axes", 1, axes);
	infer_tensor_unknown(&y, x.elem);
	if (na == -2 || x.rank < 0)
		return infer_set_output(g, n, 0, &y, err);
	int marked[SC_MAX_RANK] = {0};
	if (na <= 0) {
		/* every size-1 dim (also for an empty list, as ONNX Runtime
		 * reads it); a symbolic one might be 1 too */
		for (int i = 0; i < x.rank; i++) {
			if (x.dims[i].value < 0)
				return infer_set_output(g, n, 0, &y, err);
			marked[i] = x.dims[i].value == 1;
		}
	}
	for (int i = 0; i < na; i++) {
		int a;
		if (infer_axis(axes[i], x.rank, &a))
			return infer_fail(g, n, err, "axis %lld is out of range for rank %d",
					  (long long)axes[i], x.rank);
		if (x.dims[a].value >= 0 && x.dims[a].value != 1)
			return infer_fail(g, n, err, "cannot squeeze axis %d of size %lld",
					  a, (long long)x.dims[a].value);
		marked[a] = 1;
	}
	infer_tensor_rank(&y, x.elem, 0);
	for (int i = 0; i < x.rank; i++)
		if (!marked[i])
			y.dims[y.rank++] = x.dims[i];
	return infer_set_output(g, n, 0, &y, err);
}

static int unsqueeze_infer(graph *g, const graph_node *n, int64_t opset,
			   sc_error *err)
{
	infer_tensor x, y;
	infer_input(g, n, 0, &x);
	int64_t axes[MAX_LIST];
	int na = attr_or_input_ints(g, n, opset, 13, "axes", 1, axes);
	infer_tensor_unknown(&y, x.elem);
	if (na == -1)
		return infer_fail(g, n, err, "axes are required");
	if (na == -2 || x.rank < 0)
		return infer_set_output(g, n, 0, &y, err);
	int r = x.rank + na;
	if (r > SC_MAX_RANK)
		return infer_set_output(g, n, 0, &y, err);
	int marked[SC_MAX_RANK] = {0};
	for (int i = 0; i < na; i++) {
		int a;
		if (infer_axis(axes[i], r, &a))
			return infer_fail(g, n, err, "axis %lld is out of range for rank %d",
					  (long long)axes[i], r);
		if (marked[a])
			return infer_fail(g, n, err, "axis %d is given twice", a);
		marked[a] = 1;
	}
	infer_tensor_rank(&y, x.elem, r);
	for (int i = 0, j = 0; i < r; i++)
		y.dims[i] = marked[i] ? infer_dim_of(1) : x.dims[j++];
	return infer_set_output(g, n, 0, &y, err);
}

static int shape_infer(graph *g, const graph_node *n, int64_t opset,
		       sc_error *err)
{
	infer_tensor x, y;
	infer_input(g, n, 0, &x);
	infer_tensor_rank(&y, SC_INT64, 1);
	if (x.rank >= 0) {
		int64_t start = opset >= 15 ? infer_attr_int(n, "start", 0) : 0;
		int64_t end = opset >= 15 ? infer_attr_int(n, "end", x.rank) : x.rank;
		if (start < 0)
			start += x.rank;
		if (end < 0)
			end += x.rank;
		start = start < 0 ? 0 : start > x.rank ? x.rank : start;
		end = end < 0 ? 0 : end > x.rank ? x.rank : end;
		y.dims[0] = infer_dim_of(end > start ? end - start : 0);
	}
	return infer_set_output(g, n, 0, &y, err);
}

static int size_infer(graph *g, const graph_node *n, int64_t opset,
		      sc_error *err)
{
	(void)opset;
	infer_tensor y;
	infer_tensor_rank(&y, SC_INT64, 0);
	return infer_set_output(g, n, 0, &y, err);
}

static void tensor_type(const sc_tensor *t, infer_tensor *y)
{
	infer_tensor_rank(y, t->dtype, t->rank);
	for (int i = 0; i < t->rank; i++)
		y->dims[i] = infer_dim_of(t->dims[i]);
}

static int constant_infer(graph *g, const graph_node *n, int64_t opset,
			  sc_error *err)
{
	(void)opset;
	infer_tensor y;
	if (n->n_attrs != 1)
		return infer_fail(g, n, err, "needs exactly one value attribute, has %d",
				  n->n_attrs);
	const graph_attr *a = &n->attrs[0];
	static const struct {
		const char *name;
		int elem, list;
	} kinds[] = {
		{"value_float", SC_FLOAT, 0},  {"value_floats", SC_FLOAT, 1},
		{"value_int", SC_INT64, 0},    {"value_ints", SC_INT64, 1},
		{"value_string", SC_STRING, 0}, {"value_strings", SC_STRING, 1},
	};
	if (strcmp(a->name, "value") == 0 && a->t) {
		tensor_type(a->t, &y);
		return infer_set_output(g, n, 0, &y, err);
	}
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		if (strcmp(a->name, kinds[i].name) != 0)
			continue;
		infer_tensor_rank(&y, kinds[i].elem, kinds[i].list);
		if (kinds[i].list)
			y.dims[0] = infer_dim_of(a->n);
		return infer_set_output(g, n, 0, &y, err);
	}
	return SC_OK;   /* sparse_value: nothing we can say yet */
}

static int constant_of_shape_infer(graph *g, const graph_node *n,
				   int64_t opset, sc_error *err)
{
	(void)opset;
	const graph_attr *v = graph_node_attr(n, "value");
	int elem = v && v->t ? (int)v->t->dtype : SC_FLOAT;
	if (v && v->t && v->t->numel != 1)
		return infer_fail(g, n, err, "value must hold one element, has %lld",
				  (long long)v->t->numel);
	infer_tensor y;
	int64_t shape[SC_MAX_RANK];
	int ns = infer_const_ints(g, n, 0, shape, SC_MAX_RANK);
	if (ns < 0) {
		int len = input_length(g, n, 0);
		if (len >= 0)
			infer_tensor_rank(&y, elem, len);
		else
			infer_tensor_unknown(&y, elem);
		return infer_set_output(g, n, 0, &y, err);
	}
	infer_tensor_rank(&y, elem, ns);
	for (int i = 0; i < ns; i++) {
		if (shape[i] < 0)
			return infer_fail(g, n, err, "shape[%d] = %lld is negative",
					  i, (long long)shape[i]);
		y.dims[i] = infer_dim_of(shape[i]);
	}
	return infer_set_output(g, n, 0, &y, err);
}

static int gather_infer(graph *g, const graph_node *n, int64_t opset,
			sc_error *err)
{
	(void)opset;
	infer_tensor x, idx, y;
	infer_input(g, n, 0, &x);
	infer_input(g, n, 1, &idx);
	if (idx.elem && idx.elem != SC_INT32 && idx.elem != SC_INT64)
		return infer_fail(g, n, err, "indices must be int32 or int64, not %s",
				  tensor_dtype_name(idx.elem));
	infer_tensor_unknown(&y, x.elem);
	if (x.rank == 0)
		return infer_fail(g, n, err, "data must have rank >= 1");
	if (x.rank < 0 || idx.rank < 0 || x.rank - 1 + idx.rank > SC_MAX_RANK)
		return infer_set_output(g, n, 0, &y, err);
	int axis;
	int64_t a = infer_attr_int(n, "axis", 0);
	if (infer_axis(a, x.rank, &axis))
		return infer_fail(g, n, err, "axis %lld is out of range for rank %d",
				  (long long)a, x.rank);
	infer_tensor_rank(&y, x.elem, 0);
	for (int i = 0; i < axis; i++)
		y.dims[y.rank++] = x.dims[i];
	for (int i = 0; i < idx.rank; i++)
		y.dims[y.rank++] = idx.dims[i];
	for (int i = axis + 1; i < x.rank; i++)
		y.dims[y.rank++] = x.dims[i];
	return infer_set_output(g, n, 0, &y, err);
}

static int gather_elements_infer(graph *g, const graph_node *n, int64_t opset,
				 sc_error *err)
{
	(void)opset;
	infer_tensor x, idx;
	infer_input(g, n, 0, &x);
	infer_input(g, n, 1, &idx);
	if (x.rank >= 0 && idx.rank >= 0 && x.rank != idx.rank)
		return infer_fail(g, n, err, "indices have rank %d, data has %d",
				  idx.rank, x.rank);
	int axis;
	int64_t a = infer_attr_int(n, "axis", 0);
	if (x.rank >= 0 && infer_axis(a, x.rank, &axis))
		return infer_fail(g, n, err, "axis %lld is out of range for rank %d",
				  (long long)a, x.rank);
	idx.elem = x.elem;
	return infer_set_output(g, n, 0, &idx, err);
}

static int expand_infer(graph *g, const graph_node *n, int64_t opset,
			sc_error *err)
{
	(void)opset;
	infer_tensor x, s, y;
	infer_input(g, n, 0, &x);
	int64_t shape[SC_MAX_RANK];
	int ns = infer_const_ints(g, n, 1, shape, SC_MAX_RANK);
	if (ns < 0) {
		int len = input_length(g, n, 1);
		if (len >= 0 && x.rank >= 0)
			infer_tensor_rank(&y, x.elem, len > x.rank ? len : x.rank);
		else
			infer_tensor_unknown(&y, x.elem);
		return infer_set_output(g, n, 0, &y, err);
	}
	infer_tensor_rank(&s, x.elem, ns);
	for (int i = 0; i < ns; i++) {
		if (shape[i] < 0)
			return infer_fail(g, n, err, "shape[%d] = %lld is negative",
					  i, (long long)shape[i]);
		s.dims[i] = infer_dim_of(shape[i]);
	}
	int rc = infer_broadcast(g, n, &x, &s, &y, err);
	y.elem = x.elem;
	return rc ? rc : infer_set_output(g, n, 0, &y, err);
}

/* One axis of Slice: the number of elements from start towards end in
 * steps of step over a dim of size dim, clamped as ONNX specifies. */
static int64_t slice_len(int64_t dim, int64_t start, int64_t end, int64_t step)
{
	if (start < 0)
		start += dim;
	if (end < 0)
		end += dim;
	if (step > 0) {
		start = start < 0 ? 0 : start > dim ? dim : start;
		end = end < 0 ? 0 : end > dim ? dim : end;
		return end > start ? (end - start - 1) / step + 1 : 0;
	}
	start = start < 0 ? 0 : start > dim - 1 ? dim - 1 : start;
	end = end < -1 ? -1 : end > dim - 1 ? dim - 1 : end;
	return start > end ? (start - end - 1) / -step + 1 : 0;
}

static int slice_infer(graph *g, const graph_node *n, int64_t opset,
		       sc_error *err)
{
	infer_tensor x, y;
	infer_input(g, n, 0, &x);
	int64_t starts[MAX_LIST], ends[MAX_LIST], axes[MAX_LIST], steps[MAX_LIST];
	int ns = attr_or_input_ints(g, n, opset, 10, "starts", 1, starts);
	int ne = attr_or_input_ints(g, n, opset, 10, "ends", 2, ends);
	int na = attr_or_input_ints(g, n, opset, 10, "axes", 3, axes);
	int nt = opset >= 10 ? attr_or_input_ints(g, n, opset, 10, "", 4, steps) : -1;
	if (x.rank < 0) {
		infer_tensor_unknown(&y, x.elem);
		return infer_set_output(g, n, 0, &y, err);
	}
	y = x;
	if (ns == -1 || ne == -1)
		return infer_fail(g, n, err, "starts and ends are required");
	if (ns == -2 || ne == -2 || na == -2 || nt == -2) {
		/* bounds known only at run time: sliced axes become unknown */
		for (int i = 0; i < x.rank; i++)
			y.dims[i] = infer_dim_unknown();
		for (int i = 0; na >= 0 && i < x.rank; i++)
			y.dims[i] = x.dims[i];
		for (int i = 0; na >= 0 && i < na; i++) {
			int a;
			if (!infer_axis(axes[i], x.rank, &a))
				y.dims[a] = infer_dim_unknown();
		}
		return infer_set_output(g, n, 0, &y, err);
	}
	if (ns != ne || (na >= 0 && na != ns) || (nt >= 0 && nt != ns))
		return infer_fail(g, n, err, "starts, ends, axes and steps differ in length");
	int seen[SC_MAX_RANK] = {0};
	for (int i = 0; i < ns; i++) {
		int a;
		int64_t step = nt >= 0 ? steps[i] : 1;
		if (infer_axis(na >= 0 ? axes[i] : i, x.rank, &a))
			return infer_fail(g, n, err, "axis %lld is out of range for rank %d",
					  (long long)(na >= 0 ? axes[i] : i), x.rank);
		if (seen[a])
			return infer_fail(g, n, err, "axis %d is sliced twice", a);
		seen[a] = 1;
		if (step == 0)
			return infer_fail(g, n, err, "step along axis %d is 0", a);
		if (step == INT64_MIN)
			step = -INT64_MAX;
		if (x.dims[a].value >= 0)
			y.dims[a] = infer_dim_of(slice_len(x.dims[a].value, starts[i],
							   ends[i], step));
		else if (!(starts[i] == 0 && step == 1 && ends[i] >= INT32_MAX))
			y.dims[a] = infer_dim_unknown();
	}
	return infer_set_output(g, n, 0, &y, err);
}

static int split_infer(graph *g, const graph_node *n, int64_t opset,
		       sc_error *err)
{
	infer_tensor x, y;
	infer_input(g, n, 0, &x);
	int64_t split[MAX_LIST];
	int nsp = attr_or_input_ints(g, n, opset, 13, "split", 1, split);
	int k = n->n_outputs;
	if (x.rank < 0) {
		infer_tensor_unknown(&y, x.elem);
		for (int i = 0; i < k; i++) {
			int rc = infer_set_output(g, n, i, &y, err);
			if (rc)
				return rc;
		}
		return SC_OK;
	}
	int axis;
	int64_t a = infer_attr_int(n, "axis", 0);
	if (infer_axis(a, x.rank, &axis))
		return infer_fail(g, n, err, "axis %lld is out of range for rank %d",
				  (long long)a, x.rank);
	if (nsp >= 0 && nsp != k)
		return infer_fail(g, n, err, "split has %d sizes for %d outputs", nsp, k);
	int64_t dim = x.dims[axis].value, sum = 0;
	for (int i = 0; i < nsp; i++) {
		if (split[i] < 0 || split[i] > SC_MAX_NUMEL)
			return infer_fail(g, n, err, "split[%d] = %lld is invalid",
					  i, (long long)split[i]);
		sum += split[i];
	}
	if (nsp >= 0 && dim >= 0 && sum != dim)
		return infer_fail(g, n, err, "split sizes add up to %lld, axis %d has %lld",
				  (long long)sum, axis, (long long)dim);
	if (nsp == -1 && dim >= 0 && k > 0 && dim % k)
		return infer_fail(g, n, err, "axis %d of size %lld does not split into %d equal parts",
				  axis, (long long)dim, k);
	for (int i = 0; i < k; i++) {
		y = x;
		if (nsp >= 0)
			y.dims[axis] = infer_dim_of(split[i]);
		else if (nsp == -1 && dim >= 0)
			y.dims[axis] = infer_dim_of(dim / k);
		else
			y.dims[axis] = infer_dim_unknown();
		int rc = infer_set_output(g, n, i, &y, err);
		if (rc)
			return rc;
	}
	return SC_OK;
}

static int tile_infer(graph *g, const graph_node *n, int64_t opset,
		      sc_error *err)
{
	(void)opset;
	infer_tensor x, y;
	infer_input(g, n, 0, &x);
	int64_t rep[SC_MAX_RANK];
	int nr = infer_const_ints(g, n, 1, rep, SC_MAX_RANK);
	y = x;
	if (x.rank < 0)
		return infer_set_output(g, n, 0, &y, err);
	if (nr >= 0 && nr != x.rank)
		return infer_fail(g, n, err, "repeats has %d values for rank %d",
				  nr, x.rank);
	for (int i = 0; i < x.rank; i++) {
		if (nr < 0) {
			y.dims[i] = infer_dim_unknown();
			continue;
		}
		if (rep[i] < 0)
			return infer_fail(g, n, err, "repeats[%d] = %lld is negative",
					  i, (long long)rep[i]);
		if (rep[i] == 1)
			continue;
		int64_t d = x.dims[i].value;
		if (d >= 0 && rep[i] > 0 && d > SC_MAX_NUMEL / rep[i])
			return infer_fail(g, n, err, "axis %d overflows", i);
		y.dims[i] = d >= 0 ? infer_dim_of(d * rep[i]) :
			    rep[i] == 0 ? infer_dim_of(0) : infer_dim_unknown();
	}
	return infer_set_output(g, n, 0, &y, err);
}

static int pad_infer(graph *g, const graph_node *n, int64_t opset,
		     sc_error *err)
{
	infer_tensor x, y;
	infer_input(g, n, 0, &x);
	int64_t pads[2 * SC_MAX_RANK];
	int np;
	if (opset < 11) {
		const int64_t *v;
		np = infer_attr_ints(n, "pads", &v);
		if (np < 0)
			return infer_fail(g, n, err, "attribute 'pads' is required");
		if (np > 2 * SC_MAX_RANK)
			np = -1;
		for (int i = 0; i < np; i++)
			pads[i] = v[i];
	} else {
		np = infer_const_ints(g, n, 1, pads, 2 * SC_MAX_RANK);
	}
	y = x;
	if (x.rank < 0)
		return infer_set_output(g, n, 0, &y, err);
	if (np >= 0 && np != 2 * x.rank)
		return infer_fail(g, n, err, "pads has %d values for rank %d",
				  np, x.rank);
	for (int i = 0; i < x.rank; i++) {
		if (np < 0) {
			y.dims[i] = infer_dim_unknown();
			continue;
		}
		if (pads[i] < -SC_MAX_NUMEL || pads[i] > SC_MAX_NUMEL ||
		    pads[x.rank + i] < -SC_MAX_NUMEL || pads[x.rank + i] > SC_MAX_NUMEL)
			return infer_fail(g, n, err, "pads along axis %d are out of range", i);
		int64_t add = pads[i] + pads[x.rank + i];
		if (add == 0)
			continue;
		int64_t d = x.dims[i].value;
		if (d > SC_MAX_NUMEL)
			d = -1;
		if (d >= 0 && d + add < 0)
			return infer_fail(g, n, err, "pads make axis %d negative", i);
		y.dims[i] = d >= 0 ? infer_dim_of(d + add) : infer_dim_unknown();
	}
	return infer_set_output(g, n, 0, &y, err);
}

static int eyelike_infer(graph *g, const graph_node *n, int64_t opset,
			 sc_error *err)
{
	(void)opset;
	infer_tensor x;
	int rc = infer_input_rank(g, n, 0, 2, &x, err);
	if (rc)
		return rc;
	const graph_attr *dt = graph_node_attr(n, "dtype");
	if (dt && dt->type == ATTR_INT) {
		if (dt->i < 0 || dt->i > INT32_MAX || !tensor_dtype_valid((int)dt->i))
			return infer_fail(g, n, err, "dtype %lld is not a data type",
					  (long long)dt->i);
		x.elem = (int)dt->i;
	}
	return infer_set_output(g, n, 0, &x, err);
}

static int space_depth_infer(graph *g, const graph_node *n, int64_t opset,
			     sc_error *err)
{
	(void)opset;
	infer_tensor x;
	int rc = infer_input_rank(g, n, 0, 4, &x, err);
	if (rc)
		return rc;
	int64_t b = infer_attr_int(n, "blocksize", -1);
	if (b < 1 || b > (1 << 20))
		return infer_fail(g, n, err, "blocksize is missing or out of range");
	if (x.rank < 0)
		return infer_set_output(g, n, 0, &x, err);
	int to_space = strcmp(n->op_type, "DepthToSpace") == 0;
	infer_dim *c = &x.dims[1];
	if (to_space && c->value >= 0 && c->value % (b * b))
		return infer_fail(g, n, err, "%lld channels do not divide by blocksize^2 = %lld",
				  (long long)c->value, (long long)(b * b));
	if (!to_space && c->value > SC_MAX_NUMEL / (b * b))
		return infer_fail(g, n, err, "channels overflow");
	if (c->value >= 0)
		*c = infer_dim_of(to_space ? c->value / (b * b) : c->value * b * b);
	else
		*c = infer_dim_unknown();
	for (int i = 2; i < 4; i++) {
		infer_dim *d = &x.dims[i];
		if (d->value < 0) {
			*d = infer_dim_unknown();
			continue;
		}
		if (!to_space && d->value % b)
			return infer_fail(g, n, err, "axis %d of size %lld does not divide by blocksize %lld",
					  i, (long long)d->value, (long long)b);
		if (to_space && d->value > SC_MAX_NUMEL / b)
			return infer_fail(g, n, err, "axis %d overflows", i);
		*d = infer_dim_of(to_space ? d->value * b : d->value / b);
	}
	return infer_set_output(g, n, 0, &x, err);
}

static int range_infer(graph *g, const graph_node *n, int64_t opset,
		       sc_error *err)
{
	(void)opset;
	infer_tensor s, y;
	infer_input(g, n, 0, &s);
	for (int i = 1; i < 3; i++) {
		infer_tensor t;
		infer_input(g, n, i, &t);
		int rc = infer_unify_elem(g, n, 0, s.elem, i, t.elem, &s.elem, err);
		if (rc)
			return rc;
	}
	infer_tensor_rank(&y, s.elem, 1);
	int64_t iv[3];
	double fv[3];
	int known = 1, is_int = 1;
	for (int i = 0; i < 3 && known; i++) {
		if (infer_const_ints(g, n, i, &iv[i], 1) == 1)
			fv[i] = (double)iv[i];
		else if (infer_const_floats(g, n, i, &fv[i], 1) == 1)
			is_int = 0;
		else
			known = 0;
	}
	if (known) {
		if (fv[2] == 0)
			return infer_fail(g, n, err, "delta is 0");
		double count = is_int ? 0 : ceil((fv[1] - fv[0]) / fv[2]);
		if (is_int) {
			/* exact integer ceiling; the bound keeps limit - start
			 * inside int64 */
			const int64_t lim = (int64_t)1 << 61;
			if (iv[0] < -lim || iv[0] > lim || iv[1] < -lim || iv[1] > lim)
				return infer_fail(g, n, err, "range has too many elements");
			int64_t span = iv[1] - iv[0], d = iv[2], q = span / d;
			if (q * d != span && (span > 0) == (d > 0))
				q++;
			count = (double)q;
		}
		if (count > (double)SC_MAX_NUMEL)
			return infer_fail(g, n, err, "range has too many elements");
		y.dims[0] = infer_dim_of(count > 0 ? (int64_t)count : 0);
	}
	return infer_set_output(g, n, 0, &y, err);
}

static int onehot_infer(graph *g, const graph_node *n, int64_t opset,
			sc_error *err)
{
	(void)opset;
	infer_tensor idx, values, y;
	infer_input(g, n, 0, &idx);
	infer_input(g, n, 2, &values);
	if (values.rank >= 0 && (values.rank != 1 ||
				 (values.dims[0].value >= 0 && values.dims[0].value != 2)))
		return infer_fail(g, n, err, "values must be [off, on]");
	infer_tensor_unknown(&y, values.elem);
	if (idx.rank < 0 || idx.rank + 1 > SC_MAX_RANK)
		return infer_set_output(g, n, 0, &y, err);
	int64_t a = infer_attr_int(n, "axis", -1);
	int axis;
	if (infer_axis(a, idx.rank + 1, &axis))
		return infer_fail(g, n, err, "axis %lld is out of range for rank %d",
				  (long long)a, idx.rank + 1);
	infer_dim depth = infer_dim_unknown();
	int64_t di;
	double df;
	if (infer_const_ints(g, n, 1, &di, 1) == 1) {
		if (di < 1 || di > SC_MAX_NUMEL)
			return infer_fail(g, n, err, "depth %lld is not positive",
					  (long long)di);
		depth = infer_dim_of(di);
	} else if (infer_const_floats(g, n, 1, &df, 1) == 1) {
		if (!(df >= 1) || df > (double)SC_MAX_NUMEL)
			return infer_fail(g, n, err, "depth %g is not positive", df);
		depth = infer_dim_of((int64_t)df);
	}
	infer_tensor_rank(&y, values.elem, 0);
	for (int i = 0, j = 0; i <= idx.rank; i++)
		y.dims[y.rank++] = i == axis ? depth : idx.dims[j++];
	return infer_set_output(g, n, 0, &y, err);
}

static int nonzero_infer(graph *g, const graph_node *n, int64_t opset,
			 sc_error *err)
{
	(void)opset;
	infer_tensor x, y;
	infer_input(g, n, 0, &x);
	infer_tensor_rank(&y, SC_INT64, 2);
	if (x.rank >= 0)
		y.dims[0] = infer_dim_of(x.rank);
	return infer_set_output(g, n, 0, &y, err);
}

const op_def op_shape_defs[] = {
	{.domain = "", .name = "Flatten", .since = 1, .until = 17,
	 .attrs = axis_attrs, .infer = flatten_infer,
	 .prepare = shape_flatten_prepare, .run = shape_run_copy,
	 .grad = shape_reshape_grad, .grad_inputs = 1},
	{.domain = "", .name = "Reshape", .since = 5, .until = 13,
	 .attrs = NULL, .infer = reshape_infer,
	 .prepare = shape_reshape_prepare, .run = shape_run_copy,
	 .value_inputs = 1u << 1,
	 .grad = shape_reshape_grad, .grad_inputs = 1},
	{.domain = "", .name = "Reshape", .since = 14, .until = 17,
	 .attrs = reshape14_attrs, .infer = reshape_infer,
	 .prepare = shape_reshape_prepare, .run = shape_run_copy,
	 .value_inputs = 1u << 1,
	 .grad = shape_reshape_grad, .grad_inputs = 1},
	{.domain = "", .name = "Transpose", .since = 1, .until = 17,
	 .attrs = transpose_attrs, .infer = transpose_infer,
	 .prepare = shape_transpose_prepare, .run = shape_run_view,
	 .grad = shape_transpose_grad, .grad_inputs = 1},
	{.domain = "", .name = "Concat", .since = 4, .until = 17,
	 .attrs = axis_attrs, .infer = concat_infer,
	 .prepare = shape_concat_prepare, .run = shape_concat_run,
	 .grad = shape_concat_grad, .grad_inputs = 0xffffffffu},
	{.domain = "", .name = "Squeeze", .since = 1, .until = 12,
	 .attrs = axes_attrs, .infer = squeeze_infer,
	 .prepare = shape_squeeze_prepare, .run = shape_run_copy,
	 .grad = shape_reshape_grad, .grad_inputs = 1},
	{.domain = "", .name = "Squeeze", .since = 13, .until = 17,
	 .attrs = NULL, .infer = squeeze_infer,
	 .prepare = shape_squeeze_prepare, .run = shape_run_copy,
	 .value_inputs = 1u << 1,
	 .grad = shape_reshape_grad, .grad_inputs = 1},
	{.domain = "", .name = "Unsqueeze", .since = 1, .until = 12,
	 .attrs = axes_attrs, .infer = unsqueeze_infer,
	 .prepare = shape_unsqueeze_prepare, .run = shape_run_copy,
	 .grad = shape_reshape_grad, .grad_inputs = 1},
	{.domain = "", .name = "Unsqueeze", .since = 13, .until = 17,
	 .attrs = NULL, .infer = unsqueeze_infer,
	 .prepare = shape_unsqueeze_prepare, .run = shape_run_copy,
	 .value_inputs = 1u << 1,
	 .grad = shape_reshape_grad, .grad_inputs = 1},
	{.domain = "", .name = "Shape", .since = 1, .until = 14,
	 .attrs = NULL, .infer = shape_infer,
	 .prepare = shape_of_prepare, .run = shape_of_run},
	{.domain = "", .name = "Shape", .since = 15, .until = 17,
	 .attrs = shape15_attrs, .infer = shape_infer,
	 .prepare = shape_of_prepare, .run = shape_of_run},
	{.domain = "", .name = "Size", .since = 1, .until = 17,
	 .attrs = NULL, .infer = size_infer,
	 .prepare = shape_size_prepare, .run = shape_size_run},
	{.domain = "", .name = "Constant", .since = 1, .until = 10,
	 .attrs = constant1_attrs, .infer = constant_infer,
	 .prepare = shape_constant_prepare, .run = shape_constant_run},
	{.domain = "", .name = "Constant", .since = 11, .until = 11,
	 .attrs = constant11_attrs, .infer = constant_infer,
	 .prepare = shape_constant_prepare, .run = shape_constant_run},
	{.domain = "", .name = "Constant", .since = 12, .until = 17,
	 .attrs = constant12_attrs, .infer = constant_infer,
	 .prepare = shape_constant_prepare, .run = shape_constant_run},
	{.domain = "", .name = "ConstantOfShape", .since = 9, .until = 17,
	 .attrs = constant_of_shape_attrs, .infer = constant_of_shape_infer,
	 .prepare = shape_constant_of_shape_prepare, .run = shape_constant_of_shape_run,
	 .value_inputs = 1u << 0},
	{.domain = "", .name = "Gather", .since = 1, .until = 17,
	 .attrs = axis_attrs, .infer = gather_infer,
	 .prepare = shape_gather_prepare, .run = shape_gather_run,
	 .grad = shape_gather_grad, .grad_inputs = 1},
	{.domain = "", .name = "GatherElements", .since = 11, .until = 17,
	 .attrs = axis_attrs, .infer = gather_elements_infer,
	 .prepare = shape_gather_elements_prepare, .run = shape_gather_elements_run,
	 .grad = shape_gather_elements_grad, .grad_inputs = 1},
	{.domain = "", .name = "Expand", .since = 8, .until = 17,
	 .attrs = NULL, .infer = expand_infer,
	 .prepare = shape_expand_prepare, .run = shape_run_view,
	 .value_inputs = 1u << 1,
	 .grad = shape_expand_grad, .grad_inputs = 1},
	{.domain = "", .name = "Slice", .since = 1, .until = 9,
	 .attrs = slice1_attrs, .infer = slice_infer,
	 .prepare = shape_slice_prepare, .run = shape_run_view,
	 .grad = shape_slice_grad, .grad_inputs = 1},
	{.domain = "", .name = "Slice", .since = 10, .until = 17,
	 .attrs = NULL, .infer = slice_infer,
	 .prepare = shape_slice_prepare, .run = shape_run_view,
	 .value_inputs = 0x1eu,
	 .grad = shape_slice_grad, .grad_inputs = 1},
	{.domain = "", .name = "Split", .since = 2, .until = 12,
	 .attrs = split2_attrs, .infer = split_infer,
	 .prepare = shape_split_prepare, .run = shape_split_run,
	 .grad = shape_split_grad, .grad_inputs = 1},
	{.domain = "", .name = "Split", .since = 13, .until = 17,
	 .attrs = axis_attrs, .infer = split_infer,
	 .prepare = shape_split_prepare, .run = shape_split_run,
	 .value_inputs = 1u << 1,
	 .grad = shape_split_grad, .grad_inputs = 1},
	{.domain = "", .name = "Tile", .since = 6, .until = 17,
	 .attrs = NULL, .infer = tile_infer,
	 .prepare = shape_tile_prepare, .run = shape_run_view,
	 .value_inputs = 1u << 1,
	 .grad = shape_tile_grad, .grad_inputs = 1},
	{.domain = "", .name = "Pad", .since = 2, .until = 10,
	 .attrs = pad2_attrs, .infer = pad_infer,
	 .prepare = shape_pad_prepare, .run = shape_pad_run},
	{.domain = "", .name = "Pad", .since = 11, .until = 17,
	 .attrs = pad11_attrs, .infer = pad_infer,
	 .prepare = shape_pad_prepare, .run = shape_pad_run,
	 .value_inputs = 1u << 1},
	{.domain = "", .name = "EyeLike", .since = 9, .until = 17,
	 .attrs = eyelike_attrs, .infer = eyelike_infer,
	 .prepare = shape_eyelike_prepare, .run = shape_eyelike_run},
	{.domain = "", .name = "DepthToSpace", .since = 1, .until = 10,
	 .attrs = blocksize_attrs, .infer = space_depth_infer,
	 .prepare = shape_space_depth_prepare, .run = shape_run_view},
	{.domain = "", .name = "DepthToSpace", .since = 11, .until = 17,
	 .attrs = depth_to_space11_attrs, .infer = space_depth_infer,
	 .prepare = shape_space_depth_prepare, .run = shape_run_view},
	{.domain = "", .name = "SpaceToDepth", .since = 1, .until = 17,
	 .attrs = blocksize_attrs, .infer = space_depth_infer,
	 .prepare = shape_space_depth_prepare, .run = shape_run_view},
	{.domain = "", .name = "Range", .since = 11, .until = 17,
	 .attrs = NULL, .infer = range_infer,
	 .prepare = shape_range_prepare, .run = shape_range_run,
	 .value_inputs = 0x7u},
	{.domain = "", .name = "OneHot", .since = 9, .until = 17,
	 .attrs = axis_attrs, .infer = onehot_infer,
	 .prepare = shape_onehot_prepare, .run = shape_onehot_run,
	 .value_inputs = 1u << 1},
	{.domain = "", .name = "NonZero", .since = 9, .until = 17,
	 .attrs = NULL, .infer = nonzero_infer,
	 .prepare = shape_nonzero_prepare, .run = shape_nonzero_run,
	 .value_inputs = 1u << 0},
	/* backward kernels (shape_grad.c) */
	{.domain = "ai.supcon", .name = "ConcatGrad", .since = 1, .until = 1,
	 .attrs = axis_attrs, .infer = shape_concat_grad_infer,
	 .prepare = shape_concat_grad_prepare, .run = shape_concat_grad_run},
	{.domain = "ai.supcon", .name = "SplitGrad", .since = 1, .until = 1,
	 .attrs = axis_attrs, .infer = shape_split_grad_infer,
	 .prepare = shape_split_grad_prepare, .run = shape_split_grad_run,
	 .value_inputs = 1u << 0},
	{.domain = "ai.supcon", .name = "SliceGrad", .since = 1, .until = 1,
	 .attrs = NULL, .infer = shape_grad_like_x_infer,
	 .prepare = shape_slice_grad_prepare, .run = shape_slice_grad_run,
	 .value_inputs = 0x3cu},
	{.domain = "ai.supcon", .name = "GatherGrad", .since = 1, .until = 1,
	 .attrs = axis_attrs, .infer = shape_grad_like_x_infer,
	 .prepare = shape_gather_grad_prepare, .run = shape_gather_grad_run},
	{.domain = "ai.supcon", .name = "TileGrad", .since = 1, .until = 1,
	 .attrs = NULL, .infer = shape_grad_like_x_infer,
	 .prepare = shape_tile_grad_prepare, .run = shape_tile_grad_run},
	{0},
};
