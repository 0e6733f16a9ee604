/* autodiff.h: reverse-mode differentiation as a graph transformation.
 *
 * autodiff_build() appends to a model's main graph the nodes that compute
 * the gradient of a scalar value (the loss) with respect to chosen graph
 * inputs or initializers, and makes each gradient a graph output.  Only
 * nodes on a path from one of those tensors to the loss get backward
 * nodes; gradients stop at integer and bool values, at Shape-like ops and
 * at constants.  Where a value fans out, its gradient contributions are
 * summed; where an op broadcast an input, the gradient is summed back to
 * the input's shape (ai.supcon.SumToShape).
 *
 * Each op supplies its rule as op_def.grad (ops/op.h), which emits nodes
 * through the grad_* helpers below.  Backward helper ops live in the
 * domain ai.supcon, which the model then imports.
 *
 * The model is modified in place and owns everything added.  On failure
 * the model may hold some added nodes and must be discarded. */
#ifndef SUPCON_AUTODIFF_H
#define SUPCON_AUTODIFF_H

#include "graph.h"
#include "status.h"

/* Differentiates `loss` (a value name; NULL means the first graph output)
 * with respect to wrt[0..n_wrt).  grads[i] receives the index of the
 * value holding d loss / d wrt[i], or -1 when the loss does not depend on
 * it.  Fails with SC_EINVAL when a name is neither a graph input nor an
 * initializer or the loss is known not to be a scalar, and with
 * SC_EUNSUPPORTED naming every op on the path that has no gradient rule. */
int autodiff_build(graph_model *m, const char *loss, int n_wrt,
		   const char *const *wrt, int *grads, sc_error *err);

/* --- for gradient rules ----------------------------------------------------- */

typedef struct grad_ctx grad_ctx;

/* The model's opset for the default domain. */
int64_t grad_opset(const grad_ctx *c);

/* Adds a node of op (domain "" or "ai.supcon") reading in[0..n_in) (-1 for
 * an omitted input) and writing n_out new values, whose indices go to
 * out[].  Returns the node's index, or -1 with err set.  Node pointers are
 * invalidated by the next call; use graph_node_add_attr on
 * &graph->nodes[index] right away. */
int grad_emit(grad_ctx *c, const char *op, const char *domain, int n_in,
	      const int *in, int n_out, int *out, sc_error *err);

/* The graph being extended (for attributes and types). */
graph *grad_graph(grad_ctx *c);

/* The forward node with index `node`, re-fetched: emitting nodes moves
 * the node array, so never keep this pointer across grad_emit. */
const graph_node *grad_fwd(grad_ctx *c, int node);

/* dtype of value v as inference left it (0 when unknown). */
int grad_dtype(grad_ctx *c, int v);

/* Emits a one-input, one-output node and returns the new value (or -1). */
int grad_unary(grad_ctx *c, const char *op, int x, sc_error *err);
/* Emits a two-input, one-output node and returns the new value (or -1).
 * Before opset 7, when b is a scalar (rank 0) and op one of the ops that
 * broadcast by attribute then (Add, Sub, Mul, Div, Pow, comparisons), the
 * node gets broadcast = 1; so put constants second. */
int grad_binary(grad_ctx *c, const char *op, int a, int b, sc_error *err);

/* dx summed down to the shape of x (identity when they already agree at
 * run time).  Returns the new value or -1. */
int grad_sum_to_shape(grad_ctx *c, int dx, int x, sc_error *err);

/* A float constant of x's dtype holding v (a scalar initializer). */
int grad_scalar(grad_ctx *c, int like, double v, sc_error *err);

#endif
