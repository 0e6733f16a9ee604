/* shape_grad.c: gradient rules of the shape family, and the backward
 * kernels (domain ai.supcon, opset 1) for the ones that standard ops
 * express badly.
 *
 * These ops only move elements, so each gradient moves dy back to where
 * its elements came from, adding where one input element fed several
 * output elements:
 *
 *   Flatten, Reshape,    dx = Reshape(dy, Shape(x)); allowzero=1 from
 *   Squeeze, Unsqueeze   opset 14 so a zero-size x keeps its zeros.
 *                        Reshape takes its shape as an input from opset 5,
 *                        so there is no rule below that.
 *   Transpose            dx = Transpose(dy, perm^-1)
 *   Concat               dx_i = ConcatGrad(dy, x_0, ..., x_n-1)[i]
 *   Split                dx = Concat(dy_0, ..., dy_k-1); SplitGrad when
 *                        an output carries no gradient (zeros there) or
 *                        below opset 4
 *   Slice                dx = SliceGrad(dy, x, starts, ends, axes, steps)
 *                        (attribute bounds below opset 10 become Constant
 *                        nodes, so the kernel sees one form)
 *   Gather               dx = GatherGrad(dy, x, indices)
 *   Expand               dx = SumToShape(dy, x)
 *   Tile                 dx = TileGrad(dy, x)
 *   Scatter,             reduction none: d data = the same scatter of
 *   ScatterElements,     zeros into dy, d updates = GatherElements (or
 *   ScatterND            GatherND) of dy; reduction add: d data = dy, d
 *                        updates the same gather; no rule for mul, max, min
 *   GatherElements,      dx = ScatterElements (ScatterND) of dy into zeros
 *   GatherND             of x's shape with reduction add; GatherND only
 *                        with batch_dims 0
 *   Where the model's opset predates one of these ops (GatherElements
 *   below 11) or its reduction (below 16), the rules emit the ai.supcon
 *   copy that ops/scatter.c registers.
 *
 * The kernels:
 *   ConcatGrad(dy, x_0, ..., x_n-1; axis) -> dx_0, ..., dx_n-1: dx_i has
 *     x_i's shape and is the slab of dy that x_i became.  Only the shapes
 *     of the x_i are read.
 *   SplitGrad(split?, dy_0, ..., dy_k-1; axis) -> dx: the pieces joined
 *     along axis; an omitted dy_j is zeros.  Piece sizes come from split
 *     (int64, as Split's input) or, without it, are all equal to a
 *     present piece's.
 *   SliceGrad(dy, x, starts, ends, axes?, steps?) -> dx: zeros of x's
 *     shape with dy written where Slice read it.  The slice is worked out
 *     by Slice's own prepare, so bounds clamp exactly as in the forward.
 *   GatherGrad(dy, x, indices; axis) -> dx: zeros of x's shape, each block
 *     of dy added at the index it was gathered from; repeated indices
 *     accumulate (a scatter-add).
 *   TileGrad(dy, x) -> dx: the sum of dy's tiles, in x's shape.
 * The copying kernels take any dtype; the adding ones (GatherGrad,
 * TileGrad) float and double, as SumToShape. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer_util.h"
#include "scatter.h"
#include "shape_kernel.h"
#include "../runtime/autodiff.h"

#define PARALLEL_BYTES ((int64_t)1 << 18)

/* Fails with SC_EUNSUPPORTED naming the forward node. */
static int refuse(grad_ctx *c, int node, sc_error *err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int refuse(grad_ctx *c, int node, sc_error *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = op_vfail(grad_graph(c), grad_fwd(c, node), err, SC_EUNSUPPORTED,
			  fmt, ap);
	va_end(ap);
	return rc;
}

static int add_int_attr(grad_ctx *c, int idx, const char *name, int64_t v,
			sc_error *err)
{
	graph_attr *a = graph_node_add_attr(&grad_graph(c)->nodes[idx], name,
					    ATTR_INT, err);
	if (!a)
		return err->code;
	a->i = v;
	return SC_OK;
}

static int add_ints_attr(grad_ctx *c, int idx, const char *name,
			 const int64_t *v, int n, sc_error *err)
{
	graph_attr *a = graph_node_add_attr(&grad_graph(c)->nodes[idx], name,
					    ATTR_INTS, err);
	if (!a)
		return err->code;
	a->ints = malloc((size_t)(n ? n : 1) * sizeof *a->ints);
	if (!a->ints)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	if (n)
		memcpy(a->ints, v, (size_t)n * sizeof *v);
	a->n = n;
	return SC_OK;
}

/* An int64 1-D Constant node holding v[0..n); returns its value or -1.
 * Constant exists at every opset, so attribute lists of old opsets can
 * become the inputs the kernels read. */
static int emit_ints(grad_ctx *c, const int64_t *v, int n, sc_error *err)
{
	int none = -1, y;
	int idx = grad_emit(c, "Constant", "", 0, &none, 1, &y, err);
	if (idx < 0)
		return -1;
	graph_attr *a = graph_node_add_attr(&grad_graph(c)->nodes[idx], "value",
					    ATTR_TENSOR, err);
	if (!a)
		return -1;
	if (!(a->t = calloc(1, sizeof *a->t))) {
		sc_fail(err, SC_ENOMEM, "out of memory");
		return -1;
	}
	int64_t dims[1] = {n};
	if (tensor_alloc(a->t, SC_INT64, 1, dims, "autodiff constant", err))
		return -1;
	if (n)
		memcpy(a->t->data, v, (size_t)n * sizeof *v);
	return y;
}

/* Emits op(in[0..n_in)) with one output and an optional int `axis`
 * attribute (has_axis); the output goes to *out. */
static int emit_axis_op(grad_ctx *c, const char *op, const char *domain,
			int n_in, const int *in, int has_axis, int64_t axis,
			int *out, sc_error *err)
{
	int idx = grad_emit(c, op, domain, n_in, in, 1, out, err);
	if (idx < 0)
		return err->code;
	return has_axis ? add_int_attr(c, idx, "axis", axis, err) : SC_OK;
}

/* --- rules ----------------------------------------------------------------- */

/* Flatten, Reshape, Squeeze, Unsqueeze. */
int shape_reshape_grad(grad_ctx *c, int node, const int *dy, int *dx,
		       sc_error *err)
{
	if (dx[0] != -2)
		return SC_OK;
	if (grad_opset(c) < 5)
		return refuse(c, node, err,
			      "no gradient below opset 5, which lacks Reshape with a shape input");
	int x = grad_fwd(c, node)->inputs[0], shape, idx;
	if ((shape = grad_unary(c, "Shape", x, err)) < 0)
		return err->code;
	int in[2] = {dy[0], shape};
	if ((idx = grad_emit(c, "Reshape", "", 2, in, 1, &dx[0], err)) < 0)
		return err->code;
	return grad_opset(c) >= 14 ? add_int_attr(c, idx, "allowzero", 1, err) : SC_OK;
}

int shape_transpose_grad(grad_ctx *c, int node, const int *dy, int *dx,
			 sc_error *err)
{
	if (dx[0] != -2)
		return SC_OK;
	const int64_t *perm;
	int np = infer_attr_ints(grad_fwd(c, node), "perm", &perm);
	int64_t inv[SC_MAX_RANK];
	if (np > SC_MAX_RANK)
		return refuse(c, node, err, "perm has %d values, more than rank %d",
			      np, SC_MAX_RANK);
	for (int i = 0; i < np; i++)
		inv[i] = -1;
	for (int i = 0; i < np; i++) {
		if (perm[i] < 0 || perm[i] >= np || inv[perm[i]] >= 0)
			return refuse(c, node, err, "perm is not a permutation of 0..%d",
				      np - 1);
		inv[perm[i]] = i;
	}
	int idx = grad_emit(c, "Transpose", "", 1, &dy[0], 1, &dx[0], err);
	if (idx < 0)
		return err->code;
	/* without perm the axes are reversed, which is its own inverse */
	return np >= 0 ? add_ints_attr(c, idx, "perm", inv, np, err) : SC_OK;
}

int shape_concat_grad(grad_ctx *c, int node, const int *dy, int *dx,
		      sc_error *err)
{
	const graph_node *n = grad_fwd(c, node);
	int k = n->n_inputs;
	const graph_attr *axis = graph_node_attr(n, "axis");
	if (!axis || axis->type != ATTR_INT)
		return refuse(c, node, err, "attribute 'axis' is required");
	int64_t a = axis->i;
	if (k > 32)
		return refuse(c, node, err, "%d inputs: at most 32 can be differentiated", k);
	if (k == 1) {
		if (dx[0] == -2)
			dx[0] = dy[0];
		return SC_OK;
	}
	int in[33], out[32];
	in[0] = dy[0];
	for (int i = 0; i < k; i++)
		in[i + 1] = n->inputs[i];
	int idx = grad_emit(c, "ConcatGrad", "ai.supcon", k + 1, in, k, out, err);
	if (idx < 0 || add_int_attr(c, idx, "axis", a, err))
		return err->code;
	for (int i = 0; i < k; i++)
		if (dx[i] == -2)
			dx[i] = out[i];
	return SC_OK;
}

int shape_split_grad(grad_ctx *c, int node, const int *dy, int *dx,
		     sc_error *err)
{
	if (dx[0] != -2)
		return SC_OK;
	const graph_node *n = grad_fwd(c, node);
	int k = n->n_outputs, all = 1;
	int64_t axis = infer_attr_int(n, "axis", 0);
	int in[33];
	if (k > 32)
		return refuse(c, node, err, "%d outputs: at most 32 can be differentiated", k);
	for (int j = 0; j < k; j++) {
		in[j + 1] = dy[j];
		all &= dy[j] >= 0;
	}
	if (all && grad_opset(c) >= 4)
		return emit_axis_op(c, "Concat", "", k, in + 1, 1, axis, &dx[0], err);
	/* the sizes of the pieces without a gradient come from split */
	int split = -1;
	if (grad_opset(c) >= 13) {
		if (n->n_inputs > 1)
			split = n->inputs[1];
	} else {
		const int64_t *v;
		int ns = infer_attr_ints(n, "split", &v);
		if (ns >= 0) {
			int64_t sizes[32];
			if (ns > 32)
				return refuse(c, node, err, "split has %d sizes for %d outputs",
					      ns, k);
			memcpy(sizes, v, (size_t)ns * sizeof *v);
			if ((split = emit_ints(c, sizes, ns, err)) < 0)
				return err->code;
		}
	}
	in[0] = split;
	return emit_axis_op(c, "SplitGrad", "ai.supcon", k + 1, in, 1, axis,
			    &dx[0], err);
}

int shape_slice_grad(grad_ctx *c, int node, const int *dy, int *dx,
		     sc_error *err)
{
	if (dx[0] != -2)
		return SC_OK;
	const graph_node *n = grad_fwd(c, node);
	int in[6] = {dy[0], n->inputs[0], -1, -1, -1, -1};
	if (grad_opset(c) >= 10) {
		for (int i = 1; i < n->n_inputs && i < 5; i++)
			in[i + 1] = n->inputs[i];
	} else {
		static const char *const names[3] = {"starts", "ends", "axes"};
		int64_t v[3][SC_MAX_RANK];
		int len[3];
		for (int i = 0; i < 3; i++) {
			const int64_t *a;
			len[i] = infer_attr_ints(grad_fwd(c, node), names[i], &a);
			if (len[i] > SC_MAX_RANK)
				return refuse(c, node, err, "'%s' has %d values, more than rank %d",
					      names[i], len[i], SC_MAX_RANK);
			if (len[i] > 0)
				memcpy(v[i], a, (size_t)len[i] * sizeof *a);
		}
		if (len[0] < 0 || len[1] < 0)
			return refuse(c, node, err, "attributes 'starts' and 'ends' are required");
		for (int i = 0; i < 3; i++)
			if (len[i] >= 0 && (in[i + 2] = emit_ints(c, v[i], len[i], err)) < 0)
				return err->code;
	}
	/* trailing omitted inputs are dropped, as Slice's own would be */
	int n_in = 6;
	while (n_in > 4 && in[n_in - 1] < 0)
		n_in--;
	int out;
	if (grad_emit(c, "SliceGrad", "ai.supcon", n_in, in, 1, &out, err) < 0)
		return err->code;
	dx[0] = out;
	return SC_OK;
}

int shape_gather_grad(grad_ctx *c, int node, const int *dy, int *dx,
		      sc_error *err)
{
	if (dx[0] != -2)
		return SC_OK;
	const graph_node *n = grad_fwd(c, node);
	int in[3] = {dy[0], n->inputs[0], n->inputs[1]};
	const graph_attr *a = graph_node_attr(n, "axis");
	return emit_axis_op(c, "GatherGrad", "ai.supcon", 3, in, a != NULL,
			    a ? a->i : 0, &dx[0], err);
}

int shape_expand_grad(grad_ctx *c, int node, const int *dy, int *dx,
		      sc_error *err)
{
	if (dx[0] != -2)
		return SC_OK;
	dx[0] = grad_sum_to_shape(c, dy[0], grad_fwd(c, node)->inputs[0], err);
	return dx[0] < 0 ? err->code : SC_OK;
}

int shape_tile_grad(grad_ctx *c, int node, const int *dy, int *dx,
		    sc_error *err)
{
	if (dx[0] != -2)
		return SC_OK;
	int in[2] = {dy[0], grad_fwd(c, node)->inputs[0]};
	return grad_emit(c, "TileGrad", "ai.supcon", 2, in, 1, &dx[0], err) < 0 ?
	       err->code : SC_OK;
}

/* --- the index ops ---------------------------------------------------------- */

/* Zeros of dtype shaped like `like`: ConstantOfShape (opset 9+) of
 * Shape(like).  Returns the new value or -1. */
static int emit_zeros_like(grad_ctx *c, int like, int dtype, sc_error *err)
{
	int shape = grad_unary(c, "Shape", like, err), y;
	if (shape < 0)
		return -1;
	int idx = grad_emit(c, "ConstantOfShape", "", 1, &shape, 1, &y, err);
	if (idx < 0)
		return -1;
	graph_attr *a = graph_node_add_attr(&grad_graph(c)->nodes[idx], "value",
					    ATTR_TENSOR, err);
	if (!a)
		return -1;
	if (!(a->t = calloc(1, sizeof *a->t))) {
		sc_fail(err, SC_ENOMEM, "out of memory");
		return -1;
	}
	int64_t one[1] = {1};
	/* tensor_alloc zeroes it: 0 in every numeric dtype */
	if (tensor_alloc(a->t, dtype, 1, one, "autodiff zeros", err))
		return -1;
	return y;
}

/* The floating dtype of the first of v[0..n) that inference typed. */
static int known_float_dtype(grad_ctx *c, const int *v, int n)
{
	for (int i = 0; i < n; i++)
		if (v[i] >= 0 && tensor_dtype_is_float(grad_dtype(c, v[i])))
			return grad_dtype(c, v[i]);
	return 0;
}

/* The domain to emit `op` in: ONNX's at the model's opset when it has the
 * op there, with the `reduction` attribute when `reduce` (opset 16), else
 * the ai.supcon copy (ops/scatter.c). */
static const char *index_op_domain(grad_ctx *c, const char *op, int reduce)
{
	int64_t opset = grad_opset(c);
	if (op_find("", op, opset) && (!reduce || opset >= 16))
		return "";
	return "ai.supcon";
}

/* Emits op(in) with `axis` when has_axis and reduction=add when add. */
static int emit_index_op(grad_ctx *c, const char *op, const char *domain,
			 int n_in, const int *in, int has_axis, int64_t axis,
			 int add, int *out, sc_error *err)
{
	int idx = grad_emit(c, op, domain, n_in, in, 1, out, err);
	if (idx < 0 || (has_axis && add_int_attr(c, idx, "axis", axis, err)))
		return err->code;
	if (add) {
		graph_attr *a = graph_node_add_attr(&grad_graph(c)->nodes[idx],
						    "reduction", ATTR_STRING, err);
		if (!a)
			return err->code;
		if (!(a->s.data = strdup("add")))
			return sc_fail(err, SC_ENOMEM, "out of memory");
		a->s.len = 3;
	}
	return SC_OK;
}

/* Scatter, ScatterElements, ScatterND.  With reduction none the output
 * holds data except where updates were written:
 *   d data    = the scatter of zeros (shaped like updates) into dy
 *   d updates = the gather of dy at the indices (GatherElements along the
 *               axis, or GatherND)
 * With add, d data = dy and d updates is the same gather.  A position
 * written twice with none keeps only its last update, yet each of them
 * gets dy there, as torch.scatter's backward does (ONNX leaves that case
 * undefined).  mul, max and min have no rule. */
int shape_scatter_grad(grad_ctx *c, int node, const int *dy, int *dx,
		       sc_error *err)
{
	const graph_node *n = grad_fwd(c, node);
	const graph_attr *red = graph_node_attr(n, "reduction");
	int add = 0;
	if (red && red->type == ATTR_STRING && !(red->s.len == 4 &&
						 !memcmp(red->s.data, "none", 4))) {
		add = red->s.len == 3 && !memcmp(red->s.data, "add", 3);
		if (!add)
			return refuse(c, node, err, "no gradient rule for reduction '%.*s'",
				      red->s.len > 16 ? 16 : (int)red->s.len,
				      red->s.len ? red->s.data : "");
	}
	int nd = strcmp(n->op_type, "ScatterND") == 0;
	int in[3] = {dy[0], n->inputs[1], n->inputs[2]};
	int64_t axis = infer_attr_int(n, "axis", 0);
	int data = n->inputs[0], up = n->inputs[2];
	if (dx[0] == -2 && add) {
		dx[0] = dy[0];
	} else if (dx[0] == -2) {
		int v[3] = {data, up, dy[0]};
		int dtype = known_float_dtype(c, v, 3);
		if (!dtype)
			return refuse(c, node, err,
				      "the floating-point type of data and updates is not known");
		if ((in[2] = emit_zeros_like(c, up, dtype, err)) < 0)
			return err->code;
		/* Scatter (9-10) is ScatterElements under its old name */
		const char *op = nd ? "ScatterND" :
				 grad_opset(c) < 11 ? "Scatter" : "ScatterElements";
		int rc = emit_index_op(c, op, index_op_domain(c, op, 0), 3, in, !nd,
				       axis, 0, &dx[0], err);
		if (rc)
			return rc;
	}
	if (dx[2] == -2) {
		const char *op = nd ? "GatherND" : "GatherElements";
		return emit_index_op(c, op, index_op_domain(c, op, 0), 2, in, !nd,
				     axis, 0, &dx[2], err);
	}
	return SC_OK;
}

/* GatherElements and GatherND: dy added into zeros of data's shape at the
 * indices it was read from (a scatter with reduction add, so indices read
 * twice accumulate). */
static int gather_index_grad(grad_ctx *c, int node, const int *dy, int *dx,
			     const char *scatter, int has_axis, sc_error *err)
{
	if (dx[0] != -2)
		return SC_OK;
	const graph_node *n = grad_fwd(c, node);
	int data = n->inputs[0], ix = n->inputs[1];
	int64_t axis = infer_attr_int(n, "axis", 0);
	int v[2] = {data, dy[0]};
	int dtype = known_float_dtype(c, v, 2);
	if (!dtype)
		return refuse(c, node, err, "the floating-point type of data is not known");
	int in[3] = {-1, ix, dy[0]};
	if ((in[0] = emit_zeros_like(c, data, dtype, err)) < 0)
		return err->code;
	return emit_index_op(c, scatter, index_op_domain(c, scatter, 1), 3, in,
			     has_axis, axis, 1, &dx[0], err);
}

int shape_gather_elements_grad(grad_ctx *c, int node, const int *dy, int *dx,
			       sc_error *err)
{
	return gather_index_grad(c, node, dy, dx, "ScatterElements", 1, err);
}

int shape_gathernd_grad(grad_ctx *c, int node, const int *dy, int *dx,
			sc_error *err)
{
	if (dx[0] == -2 && infer_attr_int(grad_fwd(c, node), "batch_dims", 0) != 0)
		return refuse(c, node, err, "no gradient rule for batch_dims other than 0");
	return gather_index_grad(c, node, dy, dx, "ScatterND", 0, err);
}

/* --- shape inference of the kernels ------------------------------------------ */

/* Output 0 is shaped like input 1 (the forward input), typed like input 0
 * (the gradient). */
int shape_grad_like_x_infer(graph *g, const graph_node *n, int64_t opset,
			    sc_error *err)
{
	(void)opset;
	infer_tensor dy, x;
	infer_input(g, n, 0, &dy);
	infer_input(g, n, 1, &x);
	if (dy.elem)
		x.elem = dy.elem;
	return infer_set_output(g, n, 0, &x, err);
}

int shape_concat_grad_infer(graph *g, const graph_node *n, int64_t opset,
			    sc_error *err)
{
	(void)opset;
	infer_tensor dy, x;
	infer_input(g, n, 0, &dy);
	for (int i = 0; i < n->n_outputs; i++) {
		infer_input(g, n, i + 1, &x);
		if (dy.elem)
			x.elem = dy.elem;
		int rc = infer_set_output(g, n, i, &x, err);
		if (rc)
			return rc;
	}
	return SC_OK;
}

int shape_split_grad_infer(graph *g, const graph_node *n, int64_t opset,
			   sc_error *err)
{
	(void)opset;
	int k = n->n_inputs - 1, ref = -1;
	infer_tensor y, t;
	infer_tensor_unknown(&y, 0);
	for (int j = 1; j <= k && ref < 0; j++)
		if (infer_input(g, n, j, &t) && t.rank >= 0) {
			y = t;
			ref = j;
		}
	int axis;
	if (ref < 0 || infer_axis(infer_attr_int(n, "axis", 0), y.rank, &axis))
		return infer_set_output(g, n, 0, &y, err);
	int64_t split[32], total = 0;
	int ns = k <= 32 ? infer_const_ints(g, n, 0, split, k) : -1;
	if (ns == k) {
		for (int j = 0; j < k; j++)
			total += split[j];
	} else if (!infer_has_input(n, 0) && y.dims[axis].value >= 0) {
		total = y.dims[axis].value * k;
	} else {
		total = -1;
	}
	y.dims[axis] = total >= 0 ? infer_dim_of(total) : infer_dim_unknown();
	return infer_set_output(g, n, 0, &y, err);
}

/* --- kernels ------------------------------------------------------------------ */

typedef struct views_state {
	int n;
	int zero_first;         /* SplitGrad: some piece is missing */
	shape_view views[];
} views_state;

static views_state *views_alloc(const op_kernel *k, int n, sc_error *err)
{
	views_state *s = calloc(1, sizeof *s + (size_t)(n ? n : 1) * sizeof(shape_view));
	if (!s)
		op_fail(k, err, SC_ENOMEM, "out of memory");
	else
		s->n = n;
	return s;
}

static int grad_axis(const op_kernel *k, int rank, int *axis, sc_error *err)
{
	int64_t a = infer_attr_int(k->node, "axis", 0);
	if (infer_axis(a, rank, axis))
		return op_fail(k, err, SC_EINVAL, "axis %lld is out of range for rank %d",
			       (long long)a, rank);
	return SC_OK;
}

/* prod(dims[from..to)). */
static int64_t dims_product(const int64_t *dims, int from, int to)
{
	int64_t p = 1;
	for (int d = from; d < to; d++)
		p *= dims[d];
	return p;
}

/* 1 when a and b have the same rank and dims, except along `skip`. */
static int same_but(const sc_tensor *a, const sc_tensor *b, int skip)
{
	if (a->rank != b->rank)
		return 0;
	for (int d = 0; d < a->rank; d++)
		if (d != skip && a->dims[d] != b->dims[d])
			return 0;
	return 1;
}

int shape_concat_grad_prepare(op_kernel *k, sc_error *err)
{
	int n = k->n_out;
	if (k->n_in != n + 1 || n < 1)
		return op_fail(k, err, SC_EINVAL,
			       "has %d inputs for %d outputs; expected dy and one input per output",
			       k->n_in, n);
	for (int i = 0; i < k->n_in; i++)
		if (!k->in[i])
			return op_fail(k, err, SC_EINVAL, "input %d is missing", i);
	const sc_tensor *dy = k->in[0];
	int axis;
	int rc = grad_axis(k, dy->rank, &axis, err);
	if (rc)
		return rc;
	int64_t total = 0;
	for (int i = 0; i < n; i++) {
		const sc_tensor *x = k->in[i + 1];
		if (!same_but(x, dy, axis))
			return op_fail(k, err, SC_EINVAL,
				       "input %d does not match dy outside axis %d", i + 1,
				       axis);
		total += x->dims[axis];
	}
	if (total != dy->dims[axis])
		return op_fail(k, err, SC_EINVAL,
			       "the inputs add up to %lld along axis %d, dy has %lld",
			       (long long)total, axis, (long long)dy->dims[axis]);
	views_state *s = views_alloc(k, n, err);
	if (!s)
		return err->code;
	k->state = s;
	int64_t outer = dims_product(dy->dims, 0, axis);
	int64_t inner = dims_product(dy->dims, axis + 1, dy->rank), col = 0;
	for (int i = 0; i < n; i++) {
		const sc_tensor *x = k->in[i + 1];
		if ((rc = shape_set_out(k, i, dy->dtype, x->rank, x->dims, err)))
			return rc;
		int64_t w = x->dims[axis] * inner;
		shape_view *v = &s->views[i];
		shape_view_init(v, tensor_dtype_size(dy->dtype));
		shape_view_push(v, outer, w, total * inner);
		shape_view_push(v, w, 1, 1);
		v->src_offset = col;
		shape_view_simplify(v);
		col += w;
	}
	return SC_OK;
}

int shape_concat_grad_run(op_kernel *k, sc_error *err)
{
	(void)err;
	const views_state *s = k->state;
	for (int i = 0; i < s->n; i++)
		if (k->out[i])
			shape_view_copy(&s->views[i], k->out[i]->data, k->in[0]->data);
	return SC_OK;
}

int shape_split_grad_prepare(op_kernel *k, sc_error *err)
{
	int n = k->n_in - 1, ref = -1;
	if (n < 1)
		return op_fail(k, err, SC_EINVAL, "needs at least one piece");
	for (int j = 0; j < n && ref < 0; j++)
		if (k->in[j + 1])
			ref = j + 1;
	if (ref < 0)
		return op_fail(k, err, SC_EINVAL, "every piece is missing");
	const sc_tensor *r = k->in[ref];
	int axis;
	int rc = grad_axis(k, r->rank, &axis, err);
	if (rc)
		return rc;
	views_state *s = views_alloc(k, n, err);
	int64_t *split = malloc((size_t)n * sizeof *split);
	if (!s || !split) {
		free(s);
		free(split);
		return op_fail(k, err, SC_ENOMEM, "out of memory");
	}
	k->state = s;
	int ns = n;
	if (k->in[0])
		rc = shape_read_ints(k, k->in[0], "split", split, n, &ns, err);
	else
		for (int j = 0; j < n; j++)
			split[j] = r->dims[axis];
	if (!rc && ns != n)
		rc = op_fail(k, err, SC_EINVAL, "split has %d sizes for %d pieces", ns, n);
	int64_t total = 0;
	for (int j = 0; j < n && !rc; j++) {
		const sc_tensor *p = k->in[j + 1];
		if (split[j] < 0 || split[j] > SC_MAX_NUMEL - total)
			rc = op_fail(k, err, SC_EINVAL, "split[%d] = %lld is invalid", j,
				     (long long)split[j]);
		else if (p && (p->dtype != r->dtype || !same_but(p, r, axis) ||
			       p->dims[axis] != split[j]))
			rc = op_fail(k, err, SC_EINVAL,
				     "piece %d does not have the shape of the split", j);
		else
			total += split[j];
	}
	int64_t dims[SC_MAX_RANK];
	memcpy(dims, r->dims, sizeof dims);
	dims[axis] = total;
	if (!rc)
		rc = shape_set_out(k, 0, r->dtype, r->rank, dims, err);
	int64_t outer = dims_product(dims, 0, axis);
	int64_t inner = dims_product(dims, axis + 1, r->rank), col = 0;
	for (int j = 0; j < n && !rc; j++) {
		int64_t w = split[j] * inner;
		shape_view *v = &s->views[j];
		shape_view_init(v, tensor_dtype_size(r->dtype));
		shape_view_push(v, outer, total * inner, w);
		shape_view_push(v, w, 1, 1);
		v->dst_offset = col;
		shape_view_simplify(v);
		col += w;
		s->zero_first |= !k->in[j + 1] && w && outer;
	}
	free(split);
	return rc;
}

int shape_split_grad_run(op_kernel *k, sc_error *err)
{
	(void)err;
	const views_state *s = k->state;
	sc_tensor *dx = k->out[0];
	if (s->zero_first && dx->nbytes)
		memset(dx->data, 0, dx->nbytes);
	for (int j = 0; j < s->n; j++)
		if (k->in[j + 1])
			shape_view_copy(&s->views[j], dx->data, k->in[j + 1]->data);
	return SC_OK;
}

int shape_slice_grad_prepare(op_kernel *k, sc_error *err)
{
	if (k->n_in < 4 || k->n_in > 6 || !k->in[0] || !k->in[1])
		return op_fail(k, err, SC_EINVAL,
			       "needs dy, x, starts, ends and optionally axes and steps");
	const sc_tensor *dy = k->in[0], *x = k->in[1];
	if (dy->dtype != x->dtype)
		return op_fail(k, err, SC_EINVAL, "dy is %s, x is %s",
			       tensor_dtype_name(dy->dtype), tensor_dtype_name(x->dtype));
	/* Slice's own prepare on x gives the view x -> y; read backwards it
	 * writes dy where the slice read */
	sc_tensor y = {0};
	sc_tensor *outs[1] = {&y};
	op_kernel fwd = *k;
	fwd.opset = 10;
	fwd.n_in = k->n_in - 1;
	fwd.in = k->in + 1;
	fwd.n_out = 1;
	fwd.out = outs;
	fwd.state = NULL;
	fwd.in_md = NULL;
	fwd.out_may_block = 0;
	fwd.out_md = NULL;
	int rc = shape_slice_prepare(&fwd, err);
	shape_view *v = fwd.state;
	if (rc) {
		free(v);
		return rc;
	}
	k->state = v;
	if (!same_but(&y, dy, -1)) {
		char want[128] = "", got[128] = "";
		size_t wl = 0, gl = 0;
		for (int d = 0; d < y.rank && wl < sizeof want - 24; d++)
			wl += (size_t)snprintf(want + wl, sizeof want - wl, "%s%lld",
					       d ? "," : "", (long long)y.dims[d]);
		for (int d = 0; d < dy->rank && gl < sizeof got - 24; d++)
			gl += (size_t)snprintf(got + gl, sizeof got - gl, "%s%lld",
					       d ? "," : "", (long long)dy->dims[d]);
		return op_fail(k, err, SC_EINVAL, "dy is [%s], the slice is [%s]",
			       got, want);
	}
	for (int d = 0; d < v->rank; d++) {
		int64_t t = v->dst_stride[d];
		v->dst_stride[d] = v->src_stride[d];
		v->src_stride[d] = t;
	}
	int64_t t = v->dst_offset;
	v->dst_offset = v->src_offset;
	v->src_offset = t;
	return tensor_set_shape(k->out[0], x->dtype, x->rank, x->dims, "slice gradient", err);
}

int shape_slice_grad_run(op_kernel *k, sc_error *err)
{
	(void)err;
	sc_tensor *dx = k->out[0];
	if (dx->nbytes)
		memset(dx->data, 0, dx->nbytes);
	shape_view_copy(k->state, dx->data, k->in[0]->data);
	return SC_OK;
}

/* The adding kernels: float and double. */
static int need_float(const op_kernel *k, const sc_tensor *dy,
		      const sc_tensor *x, sc_error *err)
{
	if (dy->dtype != SC_FLOAT && dy->dtype != SC_DOUBLE)
		return op_fail(k, err, SC_EUNSUPPORTED, "gradient of type %s",
			       tensor_dtype_name(dy->dtype));
	if (x->dtype != dy->dtype)
		return op_fail(k, err, SC_EINVAL, "dy is %s, x is %s",
			       tensor_dtype_name(dy->dtype), tensor_dtype_name(x->dtype));
	return SC_OK;
}

int shape_tile_grad_prepare(op_kernel *k, sc_error *err)
{
	if (k->n_in != 2 || !k->in[0] || !k->in[1])
		return op_fail(k, err, SC_EINVAL, "needs dy and x");
	const sc_tensor *dy = k->in[0], *x = k->in[1];
	int rc = need_float(k, dy, x, err);
	if (rc)
		return rc;
	if (dy->rank != x->rank)
		return op_fail(k, err, SC_EINVAL, "dy has rank %d, x has rank %d",
			       dy->rank, x->rank);
	int64_t ys[SC_MAX_RANK], xs[SC_MAX_RANK];
	shape_strides(dy, ys);
	shape_strides(x, xs);
	shape_view *v = malloc(sizeof *v);
	if (!v)
		return op_fail(k, err, SC_ENOMEM, "out of memory");
	k->state = v;
	/* dy's axis d is [repeats, x_d]: the repeat index adds nothing to
	 * the offset in dx */
	shape_view_init(v, tensor_dtype_size(dy->dtype));
	for (int d = 0; d < x->rank; d++) {
		int64_t n = x->dims[d], m = dy->dims[d];
		if (n ? m % n : m)
			return op_fail(k, err, SC_EINVAL,
				       "axis %d: dy has %lld, not a multiple of x's %lld",
				       d, (long long)m, (long long)n);
		shape_view_push(v, n ? m / n : 0, 0, n * ys[d]);
		shape_view_push(v, n, xs[d], ys[d]);
	}
	shape_view_simplify(v);
	return tensor_set_shape(k->out[0], x->dtype, x->rank, x->dims, "tile gradient", err);
}

/* dst[...] += src[...] over a view whose dst may repeat (stride 0). */
#define VIEW_ADD(T)                                                           \
	do {                                                                  \
		T *dst = dst_;                                                \
		const T *src = src_;                                          \
		int64_t idx[SHAPE_VIEW_MAX_RANK] = {0};                       \
		int64_t doff = v->dst_offset, soff = v->src_offset;           \
		for (int64_t i = 0; i < v->numel; i++) {                      \
			dst[doff] += src[soff];                               \
			for (int d = v->rank - 1; d >= 0; d--) {              \
				doff += v->dst_stride[d];                     \
				soff += v->src_stride[d];                     \
				if (++idx[d] < v->dims[d])                    \
					break;                                \
				doff -= v->dst_stride[d] * v->dims[d];        \
				soff -= v->src_stride[d] * v->dims[d];        \
				idx[d] = 0;                                   \
			}                                                     \
		}                                                             \
	} while (0)

static void view_add(const shape_view *v, int dtype, void *dst_,
		     const void *src_)
{
	if (dtype == SC_DOUBLE)
		VIEW_ADD(double);
	else
		VIEW_ADD(float);
}

int shape_tile_grad_run(op_kernel *k, sc_error *err)
{
	(void)err;
	sc_tensor *dx = k->out[0];
	if (dx->nbytes)
		memset(dx->data, 0, dx->nbytes);
	view_add(k->state, dx->dtype, dx->data, k->in[0]->data);
	return SC_OK;
}

typedef struct gather_grad_state {
	int64_t outer, axis_dim, block;   /* block: elements after the axis */
} gather_grad_state;

int shape_gather_grad_prepare(op_kernel *k, sc_error *err)
{
	if (k->n_in != 3 || !k->in[0] || !k->in[1] || !k->in[2])
		return op_fail(k, err, SC_EINVAL, "needs dy, x and indices");
	const sc_tensor *dy = k->in[0], *x = k->in[1], *ix = k->in[2];
	int rc = need_float(k, dy, x, err);
	if (rc)
		return rc;
	if (ix->dtype != SC_INT32 && ix->dtype != SC_INT64)
		return op_fail(k, err, SC_EINVAL, "indices must be int32 or int64, not %s",
			       tensor_dtype_name(ix->dtype));
	int axis;
	if (x->rank < 1)
		return op_fail(k, err, SC_EINVAL, "x must have rank >= 1");
	if ((rc = grad_axis(k, x->rank, &axis, err)))
		return rc;
	/* dy must be x's dims with the axis replaced by the indices' */
	int ok = dy->rank == x->rank - 1 + ix->rank;
	for (int d = 0, j = 0; ok && d < x->rank; d++) {
		if (d == axis) {
			for (int e = 0; ok && e < ix->rank; e++)
				ok = dy->dims[j++] == ix->dims[e];
			continue;
		}
		ok = dy->dims[j++] == x->dims[d];
	}
	if (!ok)
		return op_fail(k, err, SC_EINVAL,
			       "dy (rank %d) is not the shape Gather gives for x and indices",
			       dy->rank);
	gather_grad_state *s = malloc(sizeof *s);
	if (!s)
		return op_fail(k, err, SC_ENOMEM, "out of memory");
	s->outer = dims_product(x->dims, 0, axis);
	s->axis_dim = x->dims[axis];
	s->block = dims_product(x->dims, axis + 1, x->rank);
	k->state = s;
	return tensor_set_shape(k->out[0], x->dtype, x->rank, x->dims, "gather gradient", err);
}

static int64_t index_value(const sc_tensor *t, int64_t i)
{
	if (t->dtype == SC_INT32)
		return ((const int32_t *)t->data)[i];
	return ((const int64_t *)t->data)[i];
}

/* One outer slice: dx[o, v, :] += dy[o, j, :] for each index j. */
#define GATHER_ADD(T)                                                         \
	do {                                                                  \
		T *dst = dx->data;                                            \
		const T *src = k->in[0]->data;                                \
		_Pragma("omp parallel for schedule(static) if (parallel)")   \
		for (int64_t o = 0; o < s->outer; o++)                        \
			for (int64_t j = 0; j < nidx; j++) {                  \
				int64_t v = index_value(ix, j);               \
				if (v < 0)                                    \
					v += s->axis_dim;                     \
				T *d = dst + (o * s->axis_dim + v) * b;       \
				const T *p = src + (o * nidx + j) * b;        \
				for (int64_t e = 0; e < b; e++)               \
					d[e] += p[e];                         \
			}                                                     \
	} while (0)

int shape_gather_grad_run(op_kernel *k, sc_error *err)
{
	const gather_grad_state *s = k->state;
	const sc_tensor *ix = k->in[2];
	sc_tensor *dx = k->out[0];
	int64_t nidx = ix->numel, b = s->block, n = s->axis_dim;
	for (int64_t i = 0; i < nidx; i++) {
		int64_t v = index_value(ix, i);
		if (v < -n || v >= n)
			return op_fail(k, err, SC_EINVAL,
				       "indices[%lld] = %lld is outside [%lld, %lld]",
				       (long long)i, (long long)v, (long long)-n,
				       (long long)(n - 1));
	}
	if (dx->nbytes)
		memset(dx->data, 0, dx->nbytes);
	/* different outer slices write different rows, so they can run in
	 * parallel; within one, repeated indices add to the same row */
	int parallel = s->outer > 1 && (int64_t)k->in[0]->nbytes > PARALLEL_BYTES;
	(void)parallel;
	if (dx->dtype == SC_DOUBLE)
		GATHER_ADD(double);
	else
		GATHER_ADD(float);
	return SC_OK;
}
