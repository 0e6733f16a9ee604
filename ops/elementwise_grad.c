/* elementwise_grad.c: gradient rules of the elementwise ops, written as
 * standard ONNX ops (plus ai.supcon.SumToShape for broadcasting) so that
 * the backward graph needs no kernel of its own.
 *
 *   Add    dA = sum_to(A, dy)             dB = sum_to(B, dy)
 *   Sub    dA = sum_to(A, dy)             dB = sum_to(B, -dy)
 *   Mul    dA = sum_to(A, dy * B)         dB = sum_to(B, dy * A)
 *   Div    dA = sum_to(A, dy / B)         dB = sum_to(B, -dy * Y / B)
 *   Neg    -dy        Identity  dy        Exp  dy * Y      Log  dy / X
 *   Relu   dy where Y > 0, else 0         Sigmoid  dy * Y * (1 - Y)
 *   Tanh   dy * (1 - Y^2)                 Sqrt  dy / (2 Y)
 *   Abs    dy * sign(X) (0 at 0, as PyTorch)   Reciprocal  -dy * Y^2 */
#include "elementwise_kernels.h"

#include <string.h>

#include "../runtime/autodiff.h"

#define IN(i) (grad_fwd(c, node)->inputs[i])
#define OUT(i) (grad_fwd(c, node)->outputs[i])
#define CHECK(v) do { if ((v) < 0) return err->code; } while (0)

int ew_add_sub_grad(grad_ctx *c, int node, const int *dy, int *dx,
		    sc_error *err)
{
	int sub = strcmp(grad_fwd(c, node)->op_type, "Sub") == 0;
	if (dx[0] == -2)
		CHECK(dx[0] = grad_sum_to_shape(c, dy[0], IN(0), err));
	if (dx[1] == -2) {
		int g = dy[0];
		if (sub)
			CHECK(g = grad_unary(c, "Neg", g, err));
		CHECK(dx[1] = grad_sum_to_shape(c, g, IN(1), err));
	}
	return SC_OK;
}

int ew_mul_grad(grad_ctx *c, int node, const int *dy, int *dx, sc_error *err)
{
	for (int i = 0; i < 2; i++) {
		if (dx[i] != -2)
			continue;
		int g;
		CHECK(g = grad_binary(c, "Mul", dy[0], IN(1 - i), err));
		CHECK(dx[i] = grad_sum_to_shape(c, g, IN(i), err));
	}
	return SC_OK;
}

int ew_div_grad(grad_ctx *c, int node, const int *dy, int *dx, sc_error *err)
{
	int g;
	if (dx[0] == -2) {
		CHECK(g = grad_binary(c, "Div", dy[0], IN(1), err));
		CHECK(dx[0] = grad_sum_to_shape(c, g, IN(0), err));
	}
	if (dx[1] == -2) {
		CHECK(g = grad_binary(c, "Mul", dy[0], OUT(0), err));
		CHECK(g = grad_binary(c, "Div", g, IN(1), err));
		CHECK(g = grad_unary(c, "Neg", g, err));
		CHECK(dx[1] = grad_sum_to_shape(c, g, IN(1), err));
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
	if (!strcmp(op, "Identity")) {
		dx[0] = g;
	} else if (!strcmp(op, "Neg")) {
		CHECK(dx[0] = grad_unary(c, "Neg", g, err));
	} else if (!strcmp(op, "Exp")) {
		CHECK(dx[0] = grad_binary(c, "Mul", g, y, err));
	} else if (!strcmp(op, "Log")) {
		CHECK(dx[0] = grad_binary(c, "Div", g, x, err));
	} else if (!strcmp(op, "Relu")) {
		int zero, mask;
		CHECK(zero = grad_scalar(c, y, 0.0, err));
		CHECK(mask = grad_binary(c, "Greater", y, zero, err));
		int in[3] = {mask, g, zero};
		if (grad_emit(c, "Where", "", 3, in, 1, &dx[0], err) < 0)
			return err->code;
	} else if (!strcmp(op, "Sigmoid")) {
		CHECK(t = grad_scalar(c, y, 1.0, err));
		CHECK(t = grad_binary(c, "Sub", t, y, err));
		CHECK(t = grad_binary(c, "Mul", y, t, err));
		CHECK(dx[0] = grad_binary(c, "Mul", g, t, err));
	} else if (!strcmp(op, "Tanh")) {
		CHECK(t = grad_scalar(c, y, 1.0, err));
		CHECK(u = grad_binary(c, "Mul", y, y, err));
		CHECK(t = grad_binary(c, "Sub", t, u, err));
		CHECK(dx[0] = grad_binary(c, "Mul", g, t, err));
	} else if (!strcmp(op, "Sqrt")) {
		CHECK(t = grad_scalar(c, y, 2.0, err));
		CHECK(t = grad_binary(c, "Mul", t, y, err));
		CHECK(dx[0] = grad_binary(c, "Div", g, t, err));
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
