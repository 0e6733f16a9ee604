/* elementwise_grad.c: gradient rules of the elementwise ops.  Most are
 * written as standard ONNX ops (plus ai.supcon.SumToShape for
 * broadcasting); the activations, Clip, Pow, Min/Max and training Dropout
 * use the fused backward kernels of elementwise_gradk.c (domain
 * ai.supcon), which take one pass and keep PyTorch's convention at kinks
 * whatever the model's opset.
 *
 *   Add    dA = sum_to(A, dy)             dB = sum_to(B, dy)
 *   Sub    dA = sum_to(A, dy)             dB = sum_to(B, -dy)
 *   Mul    dA = sum_to(A, dy * B)         dB = sum_to(B, dy * A)
 *   Div    dA = sum_to(A, dy / B)         dB = sum_to(B, -dy * Y / B)
 *          Before opset 7 only B broadcasts, by attribute (broadcast = 1,
 *          B's dims from A's `axis` on): Y has A's shape, so dA needs no
 *          sum, nodes reading B copy the forward's attributes, and B's
 *          sum first drops A's axes after B's window (see legacy_sum_to_b).
 *   Pow    PowGrad (dA = dy B A^(B-1), dB = dy Y log A, PyTorch's guards)
 *   Neg    -dy        Identity  dy        Exp  dy * Y      Log  dy / X
 *   Sqrt   dy / (2 Y)     Reciprocal  -dy * Y^2
 *   Abs    dy * sign(X) (0 at 0, as PyTorch); Where before opset 9 does
 *          not exist, so there through Cast of the two comparisons
 *   Relu, Sigmoid, Tanh (from Y); LeakyRelu, Elu, Selu, Softplus,
 *     HardSigmoid (from X): <Op>Grad.  At a kink, PyTorch's side: Relu'(0)
 *     = 0, LeakyRelu'(0) = alpha, Elu'(0) = alpha, Selu'(0) = gamma alpha,
 *     HardSigmoid' = 0 where it saturates exactly.
 *   Clip   ClipGrad: dy where min <= X <= max (torch.clamp); from opset
 *          11 also the bound inputs, which get what was clipped to them
 *   Sum    dXi = sum_to(Xi, dy)           Mean  dXi = sum_to(Xi, dy / k)
 *   Min, Max  MinMaxGrad: dy to the inputs equal to Y, split evenly
 *          among ties (torch.maximum gives each of two ties half)
 *   Where  dX = sum_to(X, Where(C, dy, 0))   dY = sum_to(Y, Where(C, 0, dy))
 *   Cast, CastLike  dX = Cast(dy, to = X's dtype)
 *   Dropout  dy at inference.  With opset 12's training_mode, which may
 *          be decided at run time, DropoutGrad(dy, mask, ratio,
 *          training_mode) = dy mask / (1 - ratio) in training; it needs
 *          the mask, so a forward node without that output gets one. */
#include "elementwise_kernels.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/autodiff.h"
#include "infer_util.h"

#define IN(i) (grad_fwd(c, node)->inputs[i])
#define OUT(i) (grad_fwd(c, node)->outputs[i])
#define CHECK(v) do { if ((v) < 0) return err->code; } while (0)

/* Opsets 1-6 (ops/elementwise_binary.c, legacy_view): with broadcast = 1,
 * B's dims line up with A's from `axis` (default: A's last dims) and B
 * repeats over A's other axes and over its own size-1 dims. */
static int legacy_opset(grad_ctx *c)
{
	return grad_opset(c) < 7;
}

/* x op B for the forward node's B: from opset 7 numpy broadcasting does
 * it; before, x has A's shape and the node's broadcast/axis attributes
 * say where B goes, so the new node carries them too. */
static int binary_with_b(grad_ctx *c, int node, const char *op, int x,
			 sc_error *err)
{
	int in[2] = {x, IN(1)}, y;
	int at = grad_emit(c, op, "", 2, in, 1, &y, err);
	if (at < 0)
		return -1;
	if (!legacy_opset(c))
		return y;
	static const char *const keep[] = {"broadcast", "axis"};
	for (int i = 0; i < 2; i++) {
		const graph_attr *a = graph_node_attr(grad_fwd(c, node), keep[i]);
		if (!a)
			continue;
		graph_attr *b = graph_node_add_attr(&grad_graph(c)->nodes[at],
						    keep[i], ATTR_INT, err);
		if (!b)
			return -1;
		b->i = a->i;
	}
	return y;
}

/* B's gradient from g, which has A's (= Y's) shape, before opset 7: A's
 * axes after B's window are summed away first (ReduceSum with the axes
 * attribute, opsets 1-12), so that what is left lines up with B from the
 * right, as SumToShape expects; it then sums the axes before the window
 * and B's size-1 dims.  Needs the ranks of A and B. */
static int legacy_sum_to_b(grad_ctx *c, int node, int g, sc_error *err)
{
	const graph_node *n = grad_fwd(c, node);
	if (!infer_attr_int(n, "broadcast", 0))
		return g;  /* B has A's shape: the kernel refuses anything else */
	const graph_type *ta = &grad_graph(c)->values[n->inputs[0]].type;
	const graph_type *tb = &grad_graph(c)->values[n->inputs[1]].type;
	if (ta->kind != GRAPH_TYPE_TENSOR || tb->kind != GRAPH_TYPE_TENSOR ||
	    ta->rank < 0 || tb->rank < 0) {
		infer_fail(grad_graph(c), n, err,
			   "opset %lld broadcasting: the ranks of A and B must be known to sum B's gradient",
			   (long long)grad_opset(c));
		return -1;
	}
	int ra = ta->rank, rb = tb->rank;
	int64_t axis = infer_attr_int(n, "axis", ra - rb);
	if (axis < 0)
		axis += ra;
	if (axis < 0 || axis + rb > ra) {
		infer_fail(grad_graph(c), n, err,
			   "B of rank %d does not fit in A of rank %d at axis %lld",
			   rb, ra, (long long)infer_attr_int(n, "axis", ra - rb));
		return -1;
	}
	int first = (int)axis + rb;
	if (first < ra) {
		int in = g, at = grad_emit(c, "ReduceSum", "", 1, &in, 1, &g, err);
		if (at < 0)
			return -1;
		graph_attr *a = graph_node_add_attr(&grad_graph(c)->nodes[at], "axes",
						    ATTR_INTS, err);
		if (!a)
			return -1;
		a->ints = malloc((size_t)(ra - first) * sizeof *a->ints);
		if (!a->ints) {
			sc_fail(err, SC_ENOMEM, "out of memory");
			return -1;
		}
		a->n = ra - first;
		for (int d = first; d < ra; d++)
			a->ints[d - first] = d;
		a = graph_node_add_attr(&grad_graph(c)->nodes[at], "keepdims",
					ATTR_INT, err);
		if (!a)
			return -1;
		a->i = 0;
	}
	return grad_sum_to_shape(c, g, IN(1), err);
}

/* -g.  Neg before opset 6 (its consumed_inputs form) has no kernel here;
 * a product with -1 is the same number exactly.  `like` gives the dtype
 * (g, made by an earlier rule, may not be typed yet). */
static int negate(grad_ctx *c, int g, int like, sc_error *err)
{
	if (grad_opset(c) >= 6)
		return grad_unary(c, "Neg", g, err);
	int minus_one = grad_scalar(c, like, -1.0, err);
	return minus_one < 0 ? -1 : grad_binary(c, "Mul", g, minus_one, err);
}

/* g (Y's shape) summed down to input i's shape. */
static int sum_to_input(grad_ctx *c, int node, int i, int g, sc_error *err)
{
	if (!legacy_opset(c))
		return grad_sum_to_shape(c, g, IN(i), err);
	return i == 0 ? g : legacy_sum_to_b(c, node, g, err);
}

int ew_add_sub_grad(grad_ctx *c, int node, const int *dy, int *dx,
		    sc_error *err)
{
	int sub = strcmp(grad_fwd(c, node)->op_type, "Sub") == 0;
	if (dx[0] == -2)
		CHECK(dx[0] = sum_to_input(c, node, 0, dy[0], err));
	if (dx[1] == -2) {
		int g = dy[0];
		if (sub)
			CHECK(g = negate(c, g, IN(1), err));
		CHECK(dx[1] = sum_to_input(c, node, 1, g, err));
	}
	return SC_OK;
}

int ew_mul_grad(grad_ctx *c, int node, const int *dy, int *dx, sc_error *err)
{
	int g;
	if (dx[0] == -2) {
		CHECK(g = binary_with_b(c, node, "Mul", dy[0], err));
		CHECK(dx[0] = sum_to_input(c, node, 0, g, err));
	}
	if (dx[1] == -2) {
		CHECK(g = grad_binary(c, "Mul", dy[0], IN(0), err));
		CHECK(dx[1] = sum_to_input(c, node, 1, g, err));
	}
	return SC_OK;
}

int ew_div_grad(grad_ctx *c, int node, const int *dy, int *dx, sc_error *err)
{
	int g;
	if (dx[0] == -2) {
		CHECK(g = binary_with_b(c, node, "Div", dy[0], err));
		CHECK(dx[0] = sum_to_input(c, node, 0, g, err));
	}
	if (dx[1] == -2) {
		CHECK(g = grad_binary(c, "Mul", dy[0], OUT(0), err));
		CHECK(g = binary_with_b(c, node, "Div", g, err));
		CHECK(g = negate(c, g, IN(1), err));
		CHECK(dx[1] = sum_to_input(c, node, 1, g, err));
	}
	return SC_OK;
}

static int set_float_attr(grad_ctx *c, int at, const char *name, float v,
			  sc_error *err)
{
	graph_attr *a = graph_node_add_attr(&grad_graph(c)->nodes[at], name,
					    ATTR_FLOAT, err);
	if (!a)
		return err->code;
	a->f = v;
	return SC_OK;
}

static int set_int_attr(grad_ctx *c, int at, const char *name, int64_t v,
			sc_error *err)
{
	graph_attr *a = graph_node_add_attr(&grad_graph(c)->nodes[at], name,
					    ATTR_INT, err);
	if (!a)
		return err->code;
	a->i = v;
	return SC_OK;
}

/* The activations with a fused backward kernel: which of X and Y it reads,
 * and the attributes it copies from the forward node, with the forward's
 * defaults (ops/elementwise_unary.c). */
typedef struct act_rule {
	const char *op, *grad;
	int from_y;
	const char *attr[2];
	float dflt[2];
} act_rule;

static const act_rule act_rules[] = {
	{"Relu", "ReluGrad", 1, {NULL, NULL}, {0, 0}},
	{"Sigmoid", "SigmoidGrad", 1, {NULL, NULL}, {0, 0}},
	{"Tanh", "TanhGrad", 1, {NULL, NULL}, {0, 0}},
	{"LeakyRelu", "LeakyReluGrad", 0, {"alpha", NULL}, {0.01f, 0}},
	{"Elu", "EluGrad", 0, {"alpha", NULL}, {1.0f, 0}},
	{"Selu", "SeluGrad", 0, {"alpha", "gamma"},
	 {1.67326319217681884765625f, 1.05070102214813232421875f}},
	{"Softplus", "SoftplusGrad", 0, {NULL, NULL}, {0, 0}},
	{"HardSigmoid", "HardSigmoidGrad", 0, {"alpha", "beta"}, {0.2f, 0.5f}},
};

static int act_grad(grad_ctx *c, int node, const act_rule *r, int g,
		    int *dx, sc_error *err)
{
	int in[2] = {g, r->from_y ? OUT(0) : IN(0)};
	int at = grad_emit(c, r->grad, "ai.supcon", 2, in, 1, dx, err);
	if (at < 0)
		return err->code;
	for (int i = 0; i < 2 && r->attr[i]; i++) {
		float v = infer_attr_float(grad_fwd(c, node), r->attr[i], r->dflt[i]);
		int rc = set_float_attr(c, at, r->attr[i], v, err);
		if (rc)
			return rc;
	}
	return SC_OK;
}

/* Gradient of a one-input op from dy, its input X and output Y. */
int ew_unary_grad(grad_ctx *c, int node, const int *dy, int *dx, sc_error *err)
{
	if (dx[0] != -2)
		return SC_OK;
	const char *op = grad_fwd(c, node)->op_type;
	int x = IN(0), y = OUT(0), g = dy[0], t, u;
	for (size_t i = 0; i < sizeof act_rules / sizeof act_rules[0]; i++)
		if (!strcmp(op, act_rules[i].op))
			return act_grad(c, node, &act_rules[i], g, &dx[0], err);
	if (!strcmp(op, "Identity")) {
		dx[0] = g;
	} else if (!strcmp(op, "Neg")) {
		CHECK(dx[0] = grad_unary(c, "Neg", g, err));
	} else if (!strcmp(op, "Exp")) {
		CHECK(dx[0] = grad_binary(c, "Mul", g, y, err));
	} else if (!strcmp(op, "Log")) {
		CHECK(dx[0] = grad_binary(c, "Div", g, x, err));
	} else if (!strcmp(op, "Sqrt")) {
		CHECK(t = grad_scalar(c, y, 2.0, err));
		/* the constant second: before opset 7 only B broadcasts */
		CHECK(t = grad_binary(c, "Mul", y, t, err));
		CHECK(dx[0] = grad_binary(c, "Div", g, t, err));
	} else if (!strcmp(op, "Abs") && grad_opset(c) < 9) {
		/* no Where yet: dy * (float(x > 0) - float(x < 0)) */
		int zero, cmp[2], in[2], at, to = grad_dtype(c, x);
		if (!tensor_dtype_is_float(to))
			return infer_fail(grad_graph(c), grad_fwd(c, node), err,
					  "input '%s' has no known floating-point type",
					  grad_graph(c)->values[x].name);
		CHECK(zero = grad_scalar(c, x, 0.0, err));
		CHECK(cmp[0] = grad_binary(c, "Greater", x, zero, err));
		CHECK(cmp[1] = grad_binary(c, "Less", x, zero, err));
		for (int i = 0; i < 2; i++) {
			at = grad_emit(c, "Cast", "", 1, &cmp[i], 1, &in[i], err);
			if (at < 0 || set_int_attr(c, at, "to", to, err))
				return err->code;
		}
		CHECK(t = grad_binary(c, "Sub", in[0], in[1], err));
		CHECK(dx[0] = grad_binary(c, "Mul", g, t, err));
	} else if (!strcmp(op, "Abs")) {
		/* sign(x) without Sign (opset 9): (x > 0) - (x < 0) */
		int zero, pos, neg, in[3];
		CHECK(zero = grad_scalar(c, x, 0.0, err));
		CHECK(pos = grad_binary(c, "Greater", x, zero, err));
		CHECK(neg = grad_binary(c, "Less", x, zero, err));
		CHECK(t = grad_unary(c, "Neg", g, err));
		in[0] = neg; in[1] = t; in[2] = zero;
		if (grad_emit(c, "Where", "", 3, in, 1, &u, err) < 0)
			return err->code;
		in[0] = pos; in[1] = g; in[2] = u;
		if (grad_emit(c, "Where", "", 3, in, 1, &dx[0], err) < 0)
			return err->code;
	} else if (!strcmp(op, "Reciprocal")) {
		CHECK(t = grad_binary(c, "Mul", y, y, err));
		CHECK(t = grad_binary(c, "Mul", g, t, err));
		CHECK(dx[0] = grad_unary(c, "Neg", t, err));
	} else {
		return sc_fail(err, SC_EUNSUPPORTED, "no gradient rule for %s", op);
	}
	return SC_OK;
}

int ew_pow_grad(grad_ctx *c, int node, const int *dy, int *dx, sc_error *err)
{
	for (int i = 0; i < 2; i++) {
		if (dx[i] != -2)
			continue;
		int in[4] = {dy[0], IN(0), IN(1), OUT(0)};
		int at = grad_emit(c, "PowGrad", "ai.supcon", 4, in, 1, &dx[i], err);
		if (at < 0 || set_int_attr(c, at, "wrt", i, err))
			return err->code;
	}
	return SC_OK;
}

/* Clip 6-10 bounds X by attributes, which ClipGrad copies; from 11 the
 * bounds are optional inputs and may carry gradients of their own. */
int ew_clip_grad(grad_ctx *c, int node, const int *dy, int *dx, sc_error *err)
{
	const graph_node *n = grad_fwd(c, node);
	int in[4] = {dy[0], n->inputs[0], -1, -1}, n_in = 2;
	for (int i = 1; i < n->n_inputs && i <= 2; i++)
		if (n->inputs[i] >= 0) {
			in[i + 1] = n->inputs[i];
			n_in = i + 2;
		}
	int n_out = dx[2] == -2 ? 3 : dx[1] == -2 ? 2 : 1, out[3];
	int at = grad_emit(c, "ClipGrad", "ai.supcon", n_in, in, n_out, out, err);
	if (at < 0)
		return err->code;
	/* the attribute form's defaults are the finite float range, which
	 * clips infinities (the input form's are +-inf, ClipGrad's own) */
	if (grad_opset(c) < 11) {
		float lo = infer_attr_float(grad_fwd(c, node), "min", -FLT_MAX);
		float hi = infer_attr_float(grad_fwd(c, node), "max", FLT_MAX);
		if (set_float_attr(c, at, "min", lo, err) ||
		    set_float_attr(c, at, "max", hi, err))
			return err->code;
	}
	for (int i = 0; i < n_out; i++)
		if (dx[i] == -2)
			dx[i] = out[i];
	return SC_OK;
}

/* Adds the mask output to a Dropout node that lacks it, named after Y. */
static int dropout_mask(grad_ctx *c, int node, sc_error *err)
{
	graph *g = grad_graph(c);
	graph_node *n = &g->nodes[node];
	if (n->n_outputs > 1 && n->outputs[1] >= 0)
		return n->outputs[1];
	char name[512];
	snprintf(name, sizeof name, "%s_mask", g->values[n->outputs[0]].name);
	for (int k = 2; graph_find_value(g, name) >= 0; k++)
		snprintf(name, sizeof name, "%s_mask%d",
			 g->values[n->outputs[0]].name, k);
	int v = graph_intern_value(g, name, err);
	if (v < 0)
		return -1;
	n = &g->nodes[node];
	if (n->n_outputs < 2) {
		int *outs = realloc(n->outputs, 2 * sizeof *outs);
		if (!outs)
			return sc_fail(err, SC_ENOMEM, "out of memory"), -1;
		n->outputs = outs;
		n->n_outputs = 2;
	}
	n->outputs[1] = v;
	graph_value *mv = &g->values[v];
	mv->producer = node;
	if (graph_type_copy(&mv->type, &g->values[n->outputs[0]].type, err))
		return -1;
	if (mv->type.kind == GRAPH_TYPE_TENSOR)
		mv->type.elem = SC_BOOL;
	return v;
}

int ew_dropout_grad(grad_ctx *c, int node, const int *dy, int *dx,
		    sc_error *err)
{
	if (dx[0] != -2)
		return SC_OK;
	const graph_node *n = grad_fwd(c, node);
	int train = n->n_inputs > 2 ? n->inputs[2] : -1;
	const sc_tensor *t = train >= 0 ? infer_const_tensor(grad_graph(c), train) : NULL;
	/* before 12, and without training_mode or with a false one, Dropout
	 * is the identity */
	if (grad_opset(c) < 12 || train < 0 ||
	    (t && t->dtype == SC_BOOL && t->numel == 1 && !*(const uint8_t *)t->data)) {
		dx[0] = dy[0];
		return SC_OK;
	}
	int mask = dropout_mask(c, node, err);
	if (mask < 0)
		return err->code;
	n = grad_fwd(c, node);
	int in[4] = {dy[0], mask, n->inputs[1], train};
	if (grad_emit(c, "DropoutGrad", "ai.supcon", 4, in, 1, &dx[0], err) < 0)
		return err->code;
	return SC_OK;
}

int ew_cast_grad(grad_ctx *c, int node, const int *dy, int *dx, sc_error *err)
{
	if (dx[0] != -2)
		return SC_OK;
	int x = IN(0), to = grad_dtype(c, x);
	if (!tensor_dtype_is_float(to))
		return infer_fail(grad_graph(c), grad_fwd(c, node), err,
				  "input '%s' has no known floating-point type to cast the gradient back to",
				  grad_graph(c)->values[x].name);
	if (to == grad_dtype(c, OUT(0))) {
		dx[0] = dy[0];
		return SC_OK;
	}
	int at = grad_emit(c, "Cast", "", 1, &dy[0], 1, &dx[0], err);
	if (at < 0 || set_int_attr(c, at, "to", to, err))
		return err->code;
	return SC_OK;
}

int ew_where_grad(grad_ctx *c, int node, const int *dy, int *dx, sc_error *err)
{
	int zero;
	CHECK(zero = grad_scalar(c, OUT(0), 0.0, err));
	for (int i = 1; i <= 2; i++) {
		if (dx[i] != -2)
			continue;
		int in[3] = {IN(0), i == 1 ? dy[0] : zero, i == 1 ? zero : dy[0]}, g;
		if (grad_emit(c, "Where", "", 3, in, 1, &g, err) < 0)
			return err->code;
		CHECK(dx[i] = grad_sum_to_shape(c, g, IN(i), err));
	}
	return SC_OK;
}

/* Sum and Mean hand dy (over k for Mean) to every input; Min and Max to
 * the inputs that won, through MinMaxGrad. */
int ew_variadic_grad(grad_ctx *c, int node, const int *dy, int *dx,
		     sc_error *err)
{
	const graph_node *n = grad_fwd(c, node);
	int k = n->n_inputs, g = dy[0];
	const char *op = n->op_type;
	int minmax = !strcmp(op, "Min") || !strcmp(op, "Max");
	if (k == 1) {
		if (dx[0] == -2)
			dx[0] = g;
		return SC_OK;
	}
	if (!strcmp(op, "Mean")) {
		int scale;
		CHECK(scale = grad_scalar(c, OUT(0), 1.0 / k, err));
		CHECK(g = grad_binary(c, "Mul", g, scale, err));
	}
	for (int i = 0; i < k; i++) {
		if (dx[i] != -2)
			continue;
		if (!minmax) {
			CHECK(dx[i] = grad_sum_to_shape(c, g, IN(i), err));
			continue;
		}
		int in[34];
		if (k > 32)
			return infer_fail(grad_graph(c), grad_fwd(c, node), err,
					  "too many inputs to differentiate");
		in[0] = g;
		in[1] = OUT(0);
		memcpy(in + 2, grad_fwd(c, node)->inputs, (size_t)k * sizeof *in);
		int at = grad_emit(c, "MinMaxGrad", "ai.supcon", k + 2, in, 1,
				   &dx[i], err);
		if (at < 0 || set_int_attr(c, at, "wrt", i, err))
			return err->code;
	}
	return SC_OK;
}
