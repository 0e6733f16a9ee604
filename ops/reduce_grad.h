/* reduce_grad.h: gradient rules of the reductions and LpNormalization, and
 * their backward kernels (domain ai.supcon), defined in reduce_grad.c and
 * listed in reduce.c's op table.  See reduce_grad.c for the formulas. */
#ifndef SUPCON_OPS_REDUCE_GRAD_H
#define SUPCON_OPS_REDUCE_GRAD_H

#include "op.h"

/* Rule of ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceL2,
 * ReduceLogSumExp and ReduceSumSquare at every opset: one ReduceGrad node. */
int reduce_grad(struct grad_ctx *c, int node, const int *dy, int *dx,
		sc_error *err);

/* Rule of LpNormalization: one LpNormalizationGrad node. */
int lpnorm_grad(struct grad_ctx *c, int node, const int *dy, int *dx,
		sc_error *err);

/* ai.supcon.ReduceGrad(dY, X, Y?, axes?) -> dX. */
extern const op_attr_spec reduce_grad_attrs[];
int reduce_grad_infer(graph *g, const graph_node *n, int64_t opset,
		      sc_error *err);
int reduce_grad_prepare(op_kernel *k, sc_error *err);
int reduce_grad_run(op_kernel *k, sc_error *err);

/* ai.supcon.LpNormalizationGrad(dY, X) -> dX. */
extern const op_attr_spec lpnorm_grad_attrs[];
int lpnorm_grad_infer(graph *g, const graph_node *n, int64_t opset,
		      sc_error *err);
int lpnorm_grad_prepare(op_kernel *k, sc_error *err);
int lpnorm_grad_run(op_kernel *k, sc_error *err);

#endif
