/* reduce.c: reductions over a set of axes.
 *
 * ReduceMean, ReduceSum, ReduceMax, ReduceMin, ReduceProd, ReduceL1,
 * ReduceL2, ReduceSumSquare, ReduceLogSum, ReduceLogSumExp: reduce X over
 * `axes` (all axes when none are given), keeping them as size 1 when
 * keepdims (default 1) is set, dropping them otherwise.
 *   opsets 1-17: axes is an attribute (negative values from 11).
 *   ReduceSum from 13: axes is an optional int64 input, and
 *   noop_with_empty_axes = 1 makes an empty axes list the identity.
 * ArgMax, ArgMin: the int64 index of the extreme along `axis` (default 0),
 *   keepdims as above.  opsets 1-11; select_last_index from 12.
 * TopK: the k largest (or smallest, 11-17) values along `axis` and their
 *   int64 indices.  k is an attribute in 1-9 and an input from 10.
 *
 * Shape inference only for now; kernels and gradients come with the engine. */
#include <string.h>

#include "infer_util.h"

static const op_attr_spec reduce_attrs[] = {
	{"axes", ATTR_INTS},
	{"keepdims", ATTR_INT},
	{NULL, 0},
};

static const op_attr_spec reduce13_attrs[] = {
	{"keepdims", ATTR_INT},
	{"noop_with_empty_axes", ATTR_INT},
	{NULL, 0},
};

static const op_attr_spec argmax_attrs[] = {
	{"axis", ATTR_INT},
	{"keepdims", ATTR_INT},
	{NULL, 0},
};

static const op_attr_spec argmax12_attrs[] = {
	{"axis", ATTR_INT},
	{"keepdims", ATTR_INT},
	{"select_last_index", ATTR_INT},
	{NULL, 0},
};

static const op_attr_spec topk1_attrs[] = {
	{"axis", ATTR_INT},
	{"k", ATTR_INT},
	{NULL, 0},
};

static const op_attr_spec topk10_attrs[] = {
	{"axis", ATTR_INT},
	{NULL, 0},
};

static const op_attr_spec topk11_attrs[] = {
	{"axis", ATTR_INT},
	{"largest", ATTR_INT},
	{"sorted", ATTR_INT},
	{NULL, 0},
};

/* Axes beyond this many (repeats included) are not worth tracking. */
#define MAX_AXES 64

/* Drops or keeps (as 1) the marked axes of x. */
static void reduce_axes(const infer_tensor *x, const int *marked, int keep,
			infer_tensor *y)
{
	infer_tensor_rank(y, x->elem, 0);
	for (int i = 0; i < x->rank; i++) {
		if (!marked[i])
			y->dims[y->rank++] = x->dims[i];
		else if (keep)
			y->dims[y->rank++] = infer_dim_of(1);
	}
}

static int reduce_infer(graph *g, const graph_node *n, int64_t opset,
			sc_error *err)
{
	infer_tensor x, y;
	infer_input(g, n, 0, &x);
	int keep = infer_attr_int(n, "keepdims", 1) != 0;
	int64_t axes[MAX_AXES];
	const int64_t *attr_axes;
	int na = 0, noop = 0;

	if (strcmp(n->op_type, "ReduceSum") == 0 && opset >= 13) {
		noop = infer_attr_int(n, "noop_with_empty_axes", 0) != 0;
		if (infer_has_input(n, 1)) {
			na = infer_const_ints(g, n, 1, axes, MAX_AXES);
			if (na < 0) {
				/* axes only known at run time */
				if (keep && x.rank >= 0)
					infer_tensor_rank(&y, x.elem, x.rank);
				else
					infer_tensor_unknown(&y, x.elem);
				return infer_set_output(g, n, 0, &y, err);
			}
		}
	} else {
		na = infer_attr_ints(n, "axes", &attr_axes);
		if (na > MAX_AXES)
			return infer_fail(g, n, err, "axes lists %d values", na);
		for (int i = 0; i < na; i++)
			axes[i] = attr_axes[i];
		if (na < 0)
			na = 0;
	}
	if (x.rank < 0) {
		infer_tensor_unknown(&y, x.elem);
		return infer_set_output(g, n, 0, &y, err);
	}
	if (na == 0 && noop)
		return infer_set_output(g, n, 0, &x, err);

	int marked[SC_MAX_RANK] = {0};
	for (int i = 0; i < na; i++) {
		int a;
		if (infer_axis(axes[i], x.rank, &a))
			return infer_fail(g, n, err, "axis %lld is out of range for rank %d",
					  (long long)axes[i], x.rank);
		marked[a] = 1;
	}
	if (na == 0)
		for (int i = 0; i < x.rank; i++)
			marked[i] = 1;
	reduce_axes(&x, marked, keep, &y);
	return infer_set_output(g, n, 0, &y, err);
}

static int argmax_infer(graph *g, const graph_node *n, int64_t opset,
			sc_error *err)
{
	(void)opset;
	infer_tensor x, y;
	infer_input(g, n, 0, &x);
	int keep = infer_attr_int(n, "keepdims", 1) != 0;
	if (x.rank < 0) {
		infer_tensor_unknown(&y, SC_INT64);
		return infer_set_output(g, n, 0, &y, err);
	}
	int64_t axis = infer_attr_int(n, "axis", 0);
	int a, marked[SC_MAX_RANK] = {0};
	if (infer_axis(axis, x.rank, &a))
		return infer_fail(g, n, err, "axis %lld is out of range for rank %d",
				  (long long)axis, x.rank);
	marked[a] = 1;
	reduce_axes(&x, marked, keep, &y);
	y.elem = SC_INT64;
	return infer_set_output(g, n, 0, &y, err);
}

static int topk_infer(graph *g, const graph_node *n, int64_t opset,
		      sc_error *err)
{
	infer_tensor x;
	infer_input(g, n, 0, &x);
	int64_t k = -1;
	if (opset < 10) {
		const graph_attr *a = graph_node_attr(n, "k");
		if (!a || a->type != ATTR_INT)
			return infer_fail(g, n, err, "attribute 'k' is required");
		k = a->i;
	} else if (infer_const_ints(g, n, 1, &k, 1) != 1) {
		k = -1;
		if (!infer_has_input(n, 1))
			return infer_fail(g, n, err, "input K is required");
	} else if (k < 0) {
		return infer_fail(g, n, err, "K = %lld is negative", (long long)k);
	}
	if (x.rank >= 0) {
		int64_t a = infer_attr_int(n, "axis", -1);
		int axis;
		if (infer_axis(a, x.rank, &axis))
			return infer_fail(g, n, err, "axis %lld is out of range for rank %d",
					  (long long)a, x.rank);
		if (k >= 0 && x.dims[axis].value >= 0 && k > x.dims[axis].value)
			return infer_fail(g, n, err, "K = %lld exceeds the %lld elements along axis %d",
					  (long long)k, (long long)x.dims[axis].value, axis);
		x.dims[axis] = k >= 0 ? infer_dim_of(k) : infer_dim_unknown();
	}
	int rc = infer_set_output(g, n, 0, &x, err);
	x.elem = SC_INT64;
	return rc ? rc : infer_set_output(g, n, 1, &x, err);
}

#define REDUCE(nm) \
	{.domain = "", .name = nm, .since = 1, .until = 17, \
	 .attrs = reduce_attrs, .infer = reduce_infer}

const op_def op_reduce_defs[] = {
	REDUCE("ReduceMean"),
	{.domain = "", .name = "ReduceSum", .since = 1, .until = 12,
	 .attrs = reduce_attrs, .infer = reduce_infer},
	{.domain = "", .name = "ReduceSum", .since = 13, .until = 17,
	 .attrs = reduce13_attrs, .infer = reduce_infer,
	 .value_inputs = 1u << 1},
	REDUCE("ReduceMax"),
	REDUCE("ReduceMin"),
	REDUCE("ReduceProd"),
	REDUCE("ReduceL1"),
	REDUCE("ReduceL2"),
	REDUCE("ReduceSumSquare"),
	REDUCE("ReduceLogSum"),
	REDUCE("ReduceLogSumExp"),
	{.domain = "", .name = "ArgMax", .since = 1, .until = 11,
	 .attrs = argmax_attrs, .infer = argmax_infer},
	{.domain = "", .name = "ArgMax", .since = 12, .until = 17,
	 .attrs = argmax12_attrs, .infer = argmax_infer},
	{.domain = "", .name = "ArgMin", .since = 1, .until = 11,
	 .attrs = argmax_attrs, .infer = argmax_infer},
	{.domain = "", .name = "ArgMin", .since = 12, .until = 17,
	 .attrs = argmax12_attrs, .infer = argmax_infer},
	{.domain = "", .name = "TopK", .since = 1, .until = 9,
	 .attrs = topk1_attrs, .infer = topk_infer},
	{.domain = "", .name = "TopK", .since = 10, .until = 10,
	 .attrs = topk10_attrs, .infer = topk_infer,
	 .value_inputs = 1u << 1},
	{.domain = "", .name = "TopK", .since = 11, .until = 17,
	 .attrs = topk11_attrs, .infer = topk_infer,
	 .value_inputs = 1u << 1},
	{0},
};
