/* elementwise.c: ops that compute each output element from the elements at
 * the same (broadcast) position of their inputs.
 *
 * Unary, Y has X's type and shape:
 *   Relu max(x,0), Sigmoid 1/(1+e^-x), Tanh, Sqrt, Exp, Log, Neg, Abs,
 *   Reciprocal 1/x, Floor, Ceil (1-17); LeakyRelu x<0 ? alpha*x : x, Elu,
 *   Selu, HardSigmoid (1-17), whose forms at opsets 1-5 (and Clip's) only
 *   add consumed_inputs, which is ignored; Softplus, Softsign, Not,
 *   Identity (1-17);
 *   Sin, Cos, Tan, Asin, Acos, Atan (7-17); Sinh, Cosh, Asinh, Acosh, Atanh,
 *   Erf, Sign, Shrink (9-17); ThresholdedRelu (10-17); Round (11-17);
 *   Celu (12-17); HardSwish (14-17).
 *   Clip min(max(x, min), max): bounds are attributes in 1-10, optional
 *   scalar inputs in 11-17.
 *   Dropout (7-17): Y = X at inference; the optional mask is T in 7-9 and
 *   bool from 10; ratio and training_mode become inputs in 12.
 *   Cast (6-17): X converted to the dtype `to`.  CastLike (15-17): to the
 *   dtype of the second input.
 *   IsNaN (9-17), IsInf (10-17): bool.
 *   Trilu (14-17): the upper or lower triangle of the last two axes.
 *   CumSum (11-17): running sums along the axis given as input 1.
 * Binary with numpy broadcasting (opsets 7-17; in opsets 1-6, B
 * broadcasts towards A only when `broadcast` is 1, aligned at `axis` or
 * at the end, and PRelu's 1-D slope is per channel):
 *   Add, Sub, Mul, Div, Pow (from 12 the exponent may have its own type),
 *   Mod (10-17), BitShift (11-17), PRelu (slope broadcasts towards X);
 *   Equal, Less, Greater, And, Or, Xor, LessOrEqual and GreaterOrEqual
 *   (12-17) give bool.
 * Where (9-17): cond ? X : Y, all three broadcast.
 * Variadic with broadcasting (8-17; opsets 1-7 want equal shapes and run
 * the same kernel): Sum, Min, Max, Mean.
 * Backward kernels in domain ai.supcon, opset 1 (elementwise_gradk.c):
 *   ReluGrad, SigmoidGrad, TanhGrad, LeakyReluGrad, EluGrad, SeluGrad,
 *   SoftplusGrad, HardSigmoidGrad, ClipGrad, DropoutGrad, PowGrad,
 *   MinMaxGrad; elementwise_grad.c's rules emit them.
 *
 * This file holds the attribute specs, shape inference and the registry
 * table; the kernels live in elementwise_unary.c, elementwise_binary.c,
 * elementwise_cast.c and elementwise_axis.c (see elementwise_kernels.h). */
#include <string.h>

#include "elementwise_kernels.h"
#include "infer_util.h"
#include "../runtime/autodiff.h"

static const op_attr_spec alpha_attrs[] = {
	{"alpha", ATTR_FLOAT},
	{NULL, 0},
};

static const op_attr_spec alpha_beta_attrs[] = {
	{"alpha", ATTR_FLOAT},
	{"beta", ATTR_FLOAT},
	{NULL, 0},
};

static const op_attr_spec selu_attrs[] = {
	{"alpha", ATTR_FLOAT},
	{"gamma", ATTR_FLOAT},
	{NULL, 0},
};

static const op_attr_spec shrink_attrs[] = {
	{"bias", ATTR_FLOAT},
	{"lambd", ATTR_FLOAT},
	{NULL, 0},
};

static const op_attr_spec clip6_attrs[] = {
	{"max", ATTR_FLOAT},
	{"min", ATTR_FLOAT},
	{NULL, 0},
};

static const op_attr_spec dropout7_attrs[] = {
	{"ratio", ATTR_FLOAT},
	{NULL, 0},
};

static const op_attr_spec dropout12_attrs[] = {
	{"seed", ATTR_INT},
	{NULL, 0},
};

/* the backward kernels' (ai.supcon) */
static const op_attr_spec act_grad_attrs[] = {
	{"alpha", ATTR_FLOAT},
	{"beta", ATTR_FLOAT},
	{"gamma", ATTR_FLOAT},
	{NULL, 0},
};

static const op_attr_spec wrt_attrs[] = {
	{"wrt", ATTR_INT},
	{NULL, 0},
};

static const op_attr_spec cast_attrs[] = {
	{"to", ATTR_INT},
	{NULL, 0},
};

static const op_attr_spec isinf_attrs[] = {
	{"detect_negative", ATTR_INT},
	{"detect_positive", ATTR_INT},
	{NULL, 0},
};

static const op_attr_spec mod_attrs[] = {
	{"fmod", ATTR_INT},
	{NULL, 0},
};

static const op_attr_spec bitshift_attrs[] = {
	{"direction", ATTR_STRING},
	{NULL, 0},
};

/* opsets 1-6 of the binary ops; consumed_inputs is opset 1's and ignored */
static const op_attr_spec legacy_bcast_attrs[] = {
	{"axis", ATTR_INT},
	{"broadcast", ATTR_INT},
	{"consumed_inputs", ATTR_INTS},
	{NULL, 0},
};

static const op_attr_spec consumed_attrs[] = {
	{"consumed_inputs", ATTR_INTS},
	{NULL, 0},
};

/* opsets 1-5 of the unary ops with attributes: opset 6's and
 * consumed_inputs */
static const op_attr_spec alpha1_attrs[] = {
	{"alpha", ATTR_FLOAT},
	{"consumed_inputs", ATTR_INTS},
	{NULL, 0},
};

static const op_attr_spec alpha_beta1_attrs[] = {
	{"alpha", ATTR_FLOAT},
	{"beta", ATTR_FLOAT},
	{"consumed_inputs", ATTR_INTS},
	{NULL, 0},
};

static const op_attr_spec selu1_attrs[] = {
	{"alpha", ATTR_FLOAT},
	{"consumed_inputs", ATTR_INTS},
	{"gamma", ATTR_FLOAT},
	{NULL, 0},
};

static const op_attr_spec clip1_attrs[] = {
	{"consumed_inputs", ATTR_INTS},
	{"max", ATTR_FLOAT},
	{"min", ATTR_FLOAT},
	{NULL, 0},
};

static const op_attr_spec trilu_attrs[] = {
	{"upper", ATTR_INT},
	{NULL, 0},
};

static const op_attr_spec cumsum_attrs[] = {
	{"exclusive", ATTR_INT},
	{"reverse", ATTR_INT},
	{NULL, 0},
};

/* X's shape with dtype elem. */
static int like_input(graph *g, const graph_node *n, int out, int elem,
		      sc_error *err)
{
	infer_tensor x;
	infer_input(g, n, 0, &x);
	x.elem = elem;
	return infer_set_output(g, n, out, &x, err);
}

static int to_bool_infer(graph *g, const graph_node *n, int64_t opset,
			 sc_error *err)
{
	(void)opset;
	return like_input(g, n, 0, SC_BOOL, err);
}

static int clip_infer(graph *g, const graph_node *n, int64_t opset,
		      sc_error *err)
{
	infer_tensor x, b;
	infer_input(g, n, 0, &x);
	for (int i = 1; i <= 2 && opset >= 11; i++) {
		if (!infer_input(g, n, i, &b))
			continue;
		int rc = infer_unify_elem(g, n, 0, x.elem, i, b.elem, &x.elem, err);
		if (rc)
			return rc;
		if (b.rank > 1 || (b.rank == 1 && b.dims[0].value >= 0 &&
				   b.dims[0].value != 1))
			return infer_fail(g, n, err, "input %d (%s) must be a scalar",
					  i, i == 1 ? "min" : "max");
	}
	return infer_set_output(g, n, 0, &x, err);
}

static int dropout_infer(graph *g, const graph_node *n, int64_t opset,
			 sc_error *err)
{
	infer_tensor x;
	infer_input(g, n, 0, &x);
	int rc = infer_set_output(g, n, 0, &x, err);
	if (rc)
		return rc;
	if (opset >= 10)
		x.elem = SC_BOOL;
	return infer_set_output(g, n, 1, &x, err);
}

static int cast_infer(graph *g, const graph_node *n, int64_t opset,
		      sc_error *err)
{
	(void)opset;
	const graph_attr *to = graph_node_attr(n, "to");
	if (!to || to->type != ATTR_INT)
		return infer_fail(g, n, err, "attribute 'to' is required");
	if (to->i < 0 || to->i > INT32_MAX || !tensor_dtype_valid((int)to->i))
		return infer_fail(g, n, err, "'to' = %lld is not a supported data type",
				  (long long)to->i);
	return like_input(g, n, 0, (int)to->i, err);
}

static int cast_like_infer(graph *g, const graph_node *n, int64_t opset,
			   sc_error *err)
{
	(void)opset;
	infer_tensor target;
	infer_input(g, n, 1, &target);
	return like_input(g, n, 0, target.elem, err);
}

/* Broadcasts inputs 0 and 1; same_type makes their dtypes agree.  Returns
 * the broadcast shape in *y with input 0's dtype. */
static int broadcast2(graph *g, const graph_node *n, int same_type,
		      infer_tensor *y, sc_error *err)
{
	infer_tensor a, b;
	infer_input(g, n, 0, &a);
	infer_input(g, n, 1, &b);
	int elem = a.elem;
	if (same_type) {
		int rc = infer_unify_elem(g, n, 0, a.elem, 1, b.elem, &elem, err);
		if (rc)
			return rc;
	}
	int rc = infer_broadcast(g, n, &a, &b, y, err);
	y->elem = elem;
	return rc;
}

static int arith_infer(graph *g, const graph_node *n, int64_t opset,
		       sc_error *err)
{
	(void)opset;
	infer_tensor y;
	int rc = broadcast2(g, n, 1, &y, err);
	return rc ? rc : infer_set_output(g, n, 0, &y, err);
}

static int pow_infer(graph *g, const graph_node *n, int64_t opset,
		     sc_error *err)
{
	infer_tensor y;
	int rc = broadcast2(g, n, opset < 12, &y, err);
	return rc ? rc : infer_set_output(g, n, 0, &y, err);
}

static int compare_infer(graph *g, const graph_node *n, int64_t opset,
			 sc_error *err)
{
	(void)opset;
	infer_tensor y;
	int rc = broadcast2(g, n, 1, &y, err);
	y.elem = SC_BOOL;
	return rc ? rc : infer_set_output(g, n, 0, &y, err);
}

/* Opsets 1-6: Y has A's shape; B must fit inside it. */
static int legacy_bcast_infer(graph *g, const graph_node *n, int64_t opset,
			      sc_error *err)
{
	(void)opset;
	infer_tensor a, b;
	infer_input(g, n, 0, &a);
	infer_input(g, n, 1, &b);
	int elem;
	int rc = infer_unify_elem(g, n, 0, a.elem, 1, b.elem, &elem, err);
	if (rc)
		return rc;
	if (a.rank >= 0 && b.rank > a.rank)
		return infer_fail(g, n, err, "B has rank %d, more than A's %d",
				  b.rank, a.rank);
	static const char *const to_bool[] = {
		"Equal", "Less", "Greater", "And", "Or", "Xor", NULL,
	};
	a.elem = elem;
	for (int i = 0; to_bool[i]; i++)
		if (!strcmp(n->op_type, to_bool[i]))
			a.elem = SC_BOOL;
	return infer_set_output(g, n, 0, &a, err);
}

static int prelu_infer(graph *g, const graph_node *n, int64_t opset,
		       sc_error *err)
{
	(void)opset;
	infer_tensor x, slope, y;
	infer_input(g, n, 0, &x);
	infer_input(g, n, 1, &slope);
	int rc = infer_unify_elem(g, n, 0, x.elem, 1, slope.elem, &x.elem, err);
	if (!rc)
		rc = infer_broadcast(g, n, &x, &slope, &y, err);
	if (rc)
		return rc;
	if (x.rank >= 0 && slope.rank > x.rank)
		return infer_fail(g, n, err, "slope has rank %d, more than X's %d",
				  slope.rank, x.rank);
	for (int i = 0; i < x.rank && y.rank == x.rank; i++)
		if (x.dims[i].value >= 0 && !infer_dim_same(x.dims[i], y.dims[i]))
			return infer_fail(g, n, err,
					  "slope does not broadcast to X along axis %d", i);
	/* y is X's shape, with any size the slope pins down */
	return infer_set_output(g, n, 0, x.rank >= 0 ? &y : &x, err);
}

static int where_infer(graph *g, const graph_node *n, int64_t opset,
		       sc_error *err)
{
	(void)opset;
	infer_tensor c, a, b, ab, y;
	infer_input(g, n, 0, &c);
	infer_input(g, n, 1, &a);
	infer_input(g, n, 2, &b);
	if (c.elem && c.elem != SC_BOOL)
		return infer_fail(g, n, err, "condition must be bool, not %s",
				  tensor_dtype_name(c.elem));
	int elem;
	int rc = infer_unify_elem(g, n, 1, a.elem, 2, b.elem, &elem, err);
	if (!rc)
		rc = infer_broadcast(g, n, &a, &b, &ab, err);
	if (!rc)
		rc = infer_broadcast(g, n, &c, &ab, &y, err);
	if (rc)
		return rc;
	y.elem = elem;
	return infer_set_output(g, n, 0, &y, err);
}

static int variadic_infer(graph *g, const graph_node *n, int64_t opset,
			  sc_error *err)
{
	(void)opset;
	int k = infer_n_inputs(n);
	if (k < 1)
		return infer_fail(g, n, err, "needs at least one input");
	infer_tensor acc, t;
	infer_input(g, n, 0, &acc);
	for (int i = 1; i < k; i++) {
		if (!infer_input(g, n, i, &t))
			return infer_fail(g, n, err, "input %d is empty", i);
		int elem;
		int rc = infer_unify_elem(g, n, 0, acc.elem, i, t.elem, &elem, err);
		if (!rc)
			rc = infer_broadcast(g, n, &acc, &t, &acc, err);
		if (rc)
			return rc;
		acc.elem = elem;
	}
	return infer_set_output(g, n, 0, &acc, err);
}

/* Abs below opset 6.  Abs-6's rule builds sign(x) with Cast (or Where,
 * from 9), and Cast-1 names its type as a string, so here sign(x) dy comes
 * from ReluGrad, which passes dy where its second input is positive:
 * dx = ReluGrad(dy, x) - ReluGrad(dy, -x), 0 at x = 0 like sign. */
static int legacy_abs_grad(grad_ctx *c, int node, const int *dy, int *dx,
			   sc_error *err)
{
	if (dx[0] != -2)
		return SC_OK;
	int x = grad_fwd(c, node)->inputs[0], pos, neg, minus_x;
	int in[2] = {dy[0], x};
	if (grad_emit(c, "ReluGrad", "ai.supcon", 2, in, 1, &pos, err) < 0 ||
	    (minus_x = grad_unary(c, "Neg", x, err)) < 0)
		return err->code;
	in[1] = minus_x;
	if (grad_emit(c, "ReluGrad", "ai.supcon", 2, in, 1, &neg, err) < 0)
		return err->code;
	dx[0] = grad_binary(c, "Sub", pos, neg, err);
	return dx[0] < 0 ? err->code : SC_OK;
}

#define MATH_KERNEL \
	.prepare = ew_unary_prepare, .run = ew_unary_run, \
	.release = ew_unary_release
#define BINARY_KERNEL .prepare = ew_binary_prepare, .run = ew_broadcast_run
#define VARIADIC_KERNEL .prepare = ew_variadic_prepare, .run = ew_broadcast_run
#define CAST_KERNEL .prepare = ew_cast_prepare, .run = ew_cast_run

#define LEGACY_BINARY(nm) \
	{.domain = "", .name = nm, .since = 1, .until = 6, \
	 .attrs = legacy_bcast_attrs, .infer = legacy_bcast_infer, BINARY_KERNEL}
/* Add, Sub, Mul and Div differentiate at these opsets too (their rules
 * honour broadcast and axis) */
#define LEGACY_BINARY_G(nm, rule) \
	{.domain = "", .name = nm, .since = 1, .until = 6, \
	 .attrs = legacy_bcast_attrs, .infer = legacy_bcast_infer, BINARY_KERNEL, \
	 .grad = rule, .grad_inputs = 3}
#define VARIADIC(nm) \
	{.domain = "", .name = nm, .since = 1, .until = 7, \
	 .attrs = consumed_attrs, .infer = variadic_infer, VARIADIC_KERNEL, \
	 .grad = ew_variadic_grad, .grad_inputs = ~0u}, \
	{.domain = "", .name = nm, .since = 8, .until = 17, \
	 .attrs = NULL, .infer = variadic_infer, VARIADIC_KERNEL, \
	 .grad = ew_variadic_grad, .grad_inputs = ~0u}

/* Unary ops and the activation gradients are elementwise over inputs of
 * one shape, so they run on blocked activations as they are (LAYOUT_SAME):
 * ResNet's Relu and ReluGrad never convert. */
#define UNARY(nm, from) \
	{.domain = "", .name = nm, .since = from, .until = 17, \
	 .infer = infer_same_as_input, MATH_KERNEL, .layout_caps = LAYOUT_SAME}
#define UNARY_G(nm, from) \
	{.domain = "", .name = nm, .since = from, .until = 17, \
	 .infer = infer_same_as_input, MATH_KERNEL, \
	 .grad = ew_unary_grad, .grad_inputs = 1, .layout_caps = LAYOUT_SAME}
#define UNARY_A(nm, from, spec) \
	{.domain = "", .name = nm, .since = from, .until = 17, \
	 .attrs = spec, .infer = infer_same_as_input, MATH_KERNEL, \
	 .layout_caps = LAYOUT_SAME}
#define UNARY_AG(nm, from, spec) \
	{.domain = "", .name = nm, .since = from, .until = 17, \
	 .attrs = spec, .infer = infer_same_as_input, MATH_KERNEL, \
	 .grad = ew_unary_grad, .grad_inputs = 1, .layout_caps = LAYOUT_SAME}
/* Opsets 1-5 of the unary ops: opset 6 only dropped consumed_inputs,
 * legacy optimisation information that ONNX says to ignore, so the same
 * kernels and rules run them. */
#define LEGACY_UNARY(nm) \
	{.domain = "", .name = nm, .since = 1, .until = 5, \
	 .attrs = consumed_attrs, .infer = infer_same_as_input, MATH_KERNEL, \
	 .layout_caps = LAYOUT_SAME}
#define LEGACY_UNARY_G(nm, spec, rule) \
	{.domain = "", .name = nm, .since = 1, .until = 5, \
	 .attrs = spec, .infer = infer_same_as_input, MATH_KERNEL, \
	 .grad = rule, .grad_inputs = 1, .layout_caps = LAYOUT_SAME}
/* ai.supcon backward kernels (elementwise_gradk.c) */
#define ACT_GRAD(nm) \
	{.domain = "ai.supcon", .name = nm, .since = 1, .until = 1, \
	 .attrs = act_grad_attrs, .infer = infer_same_as_input, \
	 .prepare = ew_act_grad_prepare, .run = ew_act_grad_run, \
	 .layout_caps = LAYOUT_SAME}

const op_def op_elementwise_defs[] = {
	UNARY_G("Relu", 6),
	UNARY_G("Sigmoid", 6),
	UNARY_G("Tanh", 6),
	UNARY_G("Sqrt", 6),
	UNARY_G("Exp", 6),
	UNARY_G("Log", 6),
	UNARY_G("Neg", 6),
	UNARY_G("Abs", 6),
	UNARY_G("Reciprocal", 6),
	UNARY("Floor", 6),
	UNARY("Ceil", 6),
	LEGACY_UNARY_G("Relu", consumed_attrs, ew_unary_grad),
	LEGACY_UNARY_G("Sigmoid", consumed_attrs, ew_unary_grad),
	LEGACY_UNARY_G("Tanh", consumed_attrs, ew_unary_grad),
	LEGACY_UNARY_G("Sqrt", consumed_attrs, ew_unary_grad),
	LEGACY_UNARY_G("Exp", consumed_attrs, ew_unary_grad),
	LEGACY_UNARY_G("Log", consumed_attrs, ew_unary_grad),
	LEGACY_UNARY_G("Neg", consumed_attrs, ew_unary_grad),
	LEGACY_UNARY_G("Abs", consumed_attrs, legacy_abs_grad),
	LEGACY_UNARY_G("Reciprocal", consumed_attrs, ew_unary_grad),
	LEGACY_UNARY("Floor"),
	LEGACY_UNARY("Ceil"),
	LEGACY_UNARY_G("LeakyRelu", alpha1_attrs, ew_unary_grad),
	LEGACY_UNARY_G("Elu", alpha1_attrs, ew_unary_grad),
	LEGACY_UNARY_G("Selu", selu1_attrs, ew_unary_grad),
	LEGACY_UNARY_G("HardSigmoid", alpha_beta1_attrs, ew_unary_grad),
	{.domain = "", .name = "Clip", .since = 1, .until = 5,
	 .attrs = clip1_attrs, .infer = clip_infer,
	 .prepare = ew_clip_prepare, .run = ew_clip_run,
	 .grad = ew_clip_grad, .grad_inputs = 1},
	UNARY_G("Softplus", 1),
	UNARY("Softsign", 1),
	UNARY("Not", 1),
	{.domain = "", .name = "Identity", .since = 1, .until = 17,
	 .infer = infer_same_as_input, .prepare = ew_identity_prepare,
	 .run = ew_identity_run, .grad = ew_unary_grad, .grad_inputs = 1,
	 .layout_caps = LAYOUT_SAME},
	UNARY("Sin", 7),
	UNARY("Cos", 7),
	UNARY("Tan", 7),
	UNARY("Asin", 7),
	UNARY("Acos", 7),
	UNARY("Atan", 7),
	UNARY("Sinh", 9),
	UNARY("Cosh", 9),
	UNARY("Asinh", 9),
	UNARY("Acosh", 9),
	UNARY("Atanh", 9),
	UNARY("Erf", 9),
	UNARY("Sign", 9),
	UNARY("Round", 11),
	UNARY("HardSwish", 14),
	UNARY_AG("LeakyRelu", 6, alpha_attrs),
	UNARY_AG("Elu", 6, alpha_attrs),
	UNARY_A("ThresholdedRelu", 10, alpha_attrs),
	UNARY_A("Celu", 12, alpha_attrs),
	UNARY_AG("Selu", 6, selu_attrs),
	UNARY_AG("HardSigmoid", 6, alpha_beta_attrs),
	UNARY_A("Shrink", 9, shrink_attrs),
	{.domain = "", .name = "Trilu", .since = 14, .until = 17,
	 .attrs = trilu_attrs, .infer = infer_same_as_input,
	 .prepare = ew_trilu_prepare, .run = ew_trilu_run},
	{.domain = "", .name = "CumSum", .since = 11, .until = 17,
	 .attrs = cumsum_attrs, .infer = infer_same_as_input,
	 .prepare = ew_cumsum_prepare, .run = ew_cumsum_run},
	{.domain = "", .name = "Clip", .since = 6, .until = 10,
	 .attrs = clip6_attrs, .infer = clip_infer,
	 .prepare = ew_clip_prepare, .run = ew_clip_run,
	 .grad = ew_clip_grad, .grad_inputs = 1},
	{.domain = "", .name = "Clip", .since = 11, .until = 17,
	 .attrs = NULL, .infer = clip_infer,
	 .prepare = ew_clip_prepare, .run = ew_clip_run,
	 .grad = ew_clip_grad, .grad_inputs = 7},
	{.domain = "", .name = "Dropout", .since = 7, .until = 11,
	 .attrs = dropout7_attrs, .infer = dropout_infer,
	 .prepare = ew_dropout_prepare, .run = ew_dropout_run,
	 .grad = ew_dropout_grad, .grad_inputs = 1},
	{.domain = "", .name = "Dropout", .since = 12, .until = 17,
	 .attrs = dropout12_attrs, .infer = dropout_infer,
	 .prepare = ew_dropout_prepare, .run = ew_dropout_run,
	 .grad = ew_dropout_grad, .grad_inputs = 1},
	{.domain = "", .name = "Cast", .since = 6, .until = 17,
	 .attrs = cast_attrs, .infer = cast_infer, CAST_KERNEL,
	 .grad = ew_cast_grad, .grad_inputs = 1},
	{.domain = "", .name = "CastLike", .since = 15, .until = 17,
	 .attrs = NULL, .infer = cast_like_infer, CAST_KERNEL,
	 .grad = ew_cast_grad, .grad_inputs = 1},
	{.domain = "", .name = "IsNaN", .since = 9, .until = 17,
	 .attrs = NULL, .infer = to_bool_infer, MATH_KERNEL},
	{.domain = "", .name = "IsInf", .since = 10, .until = 17,
	 .attrs = isinf_attrs, .infer = to_bool_infer, MATH_KERNEL},
	LEGACY_BINARY_G("Add", ew_add_sub_grad),
	LEGACY_BINARY_G("Sub", ew_add_sub_grad),
	LEGACY_BINARY_G("Mul", ew_mul_grad),
	LEGACY_BINARY_G("Div", ew_div_grad),
	LEGACY_BINARY("Pow"),
	LEGACY_BINARY("Equal"),
	LEGACY_BINARY("Less"),
	LEGACY_BINARY("Greater"),
	LEGACY_BINARY("And"),
	LEGACY_BINARY("Or"),
	LEGACY_BINARY("Xor"),
	{.domain = "", .name = "Add", .since = 7, .until = 17,
	 .attrs = NULL, .infer = arith_infer, BINARY_KERNEL,
	 .grad = ew_add_sub_grad, .grad_inputs = 3,
	 .layout_caps = LAYOUT_SAME},
	{.domain = "", .name = "Sub", .since = 7, .until = 17,
	 .attrs = NULL, .infer = arith_infer, BINARY_KERNEL,
	 .grad = ew_add_sub_grad, .grad_inputs = 3,
	 .layout_caps = LAYOUT_SAME},
	{.domain = "", .name = "Mul", .since = 7, .until = 17,
	 .attrs = NULL, .infer = arith_infer, BINARY_KERNEL,
	 .grad = ew_mul_grad, .grad_inputs = 3,
	 .layout_caps = LAYOUT_SAME},
	{.domain = "", .name = "Div", .since = 7, .until = 17,
	 .attrs = NULL, .infer = arith_infer, BINARY_KERNEL,
	 .grad = ew_div_grad, .grad_inputs = 3,
	 .layout_caps = LAYOUT_SAME},
	{.domain = "", .name = "Pow", .since = 7, .until = 17,
	 .attrs = NULL, .infer = pow_infer, BINARY_KERNEL,
	 .grad = ew_pow_grad, .grad_inputs = 3},
	{.domain = "", .name = "Mod", .since = 10, .until = 17,
	 .attrs = mod_attrs, .infer = arith_infer, BINARY_KERNEL},
	{.domain = "", .name = "BitShift", .since = 11, .until = 17,
	 .attrs = bitshift_attrs, .infer = arith_infer, BINARY_KERNEL},
	{.domain = "", .name = "PRelu", .since = 1, .until = 6,
	 .attrs = consumed_attrs, .infer = infer_same_as_input, BINARY_KERNEL},
	{.domain = "", .name = "PRelu", .since = 7, .until = 17,
	 .attrs = NULL, .infer = prelu_infer, BINARY_KERNEL},
	{.domain = "", .name = "Equal", .since = 7, .until = 17,
	 .attrs = NULL, .infer = compare_infer, BINARY_KERNEL},
	{.domain = "", .name = "Less", .since = 7, .until = 17,
	 .attrs = NULL, .infer = compare_infer, BINARY_KERNEL},
	{.domain = "", .name = "Greater", .since = 7, .until = 17,
	 .attrs = NULL, .infer = compare_infer, BINARY_KERNEL},
	{.domain = "", .name = "LessOrEqual", .since = 12, .until = 17,
	 .attrs = NULL, .infer = compare_infer, BINARY_KERNEL},
	{.domain = "", .name = "GreaterOrEqual", .since = 12, .until = 17,
	 .attrs = NULL, .infer = compare_infer, BINARY_KERNEL},
	{.domain = "", .name = "And", .since = 7, .until = 17,
	 .attrs = NULL, .infer = compare_infer, BINARY_KERNEL},
	{.domain = "", .name = "Or", .since = 7, .until = 17,
	 .attrs = NULL, .infer = compare_infer, BINARY_KERNEL},
	{.domain = "", .name = "Xor", .since = 7, .until = 17,
	 .attrs = NULL, .infer = compare_infer, BINARY_KERNEL},
	{.domain = "", .name = "Where", .since = 9, .until = 17,
	 .attrs = NULL, .infer = where_infer,
	 .prepare = ew_where_prepare, .run = ew_broadcast_run,
	 .grad = ew_where_grad, .grad_inputs = 6},
	VARIADIC("Sum"),
	VARIADIC("Min"),
	VARIADIC("Max"),
	VARIADIC("Mean"),
	ACT_GRAD("ReluGrad"),
	ACT_GRAD("SigmoidGrad"),
	ACT_GRAD("TanhGrad"),
	ACT_GRAD("LeakyReluGrad"),
	ACT_GRAD("EluGrad"),
	ACT_GRAD("SeluGrad"),
	ACT_GRAD("SoftplusGrad"),
	ACT_GRAD("HardSigmoidGrad"),
	{.domain = "ai.supcon", .name = "ClipGrad", .since = 1, .until = 1,
	 .attrs = clip6_attrs, .infer = ew_clip_grad_infer,
	 .prepare = ew_clip_grad_prepare, .run = ew_clip_grad_run},
	{.domain = "ai.supcon", .name = "DropoutGrad", .since = 1, .until = 1,
	 .attrs = NULL, .infer = infer_same_as_input,
	 .prepare = ew_dropout_grad_prepare, .run = ew_dropout_grad_run},
	{.domain = "ai.supcon", .name = "PowGrad", .since = 1, .until = 1,
	 .attrs = wrt_attrs, .infer = ew_pow_grad_infer,
	 .prepare = ew_pow_grad_prepare, .run = ew_pow_grad_run,
	 .release = ew_bwalk_release},
	{.domain = "ai.supcon", .name = "MinMaxGrad", .since = 1, .until = 1,
	 .attrs = wrt_attrs, .infer = ew_minmax_grad_infer,
	 .prepare = ew_minmax_grad_prepare, .run = ew_minmax_grad_run,
	 .release = ew_bwalk_release},
	{0},
};
