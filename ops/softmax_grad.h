/* softmax_grad.h: gradient rules of Softmax, LogSoftmax and the two
 * classification losses, and their backward kernels (domain ai.supcon),
 * defined in softmax_grad.c and listed in softmax.c's op table. */
#ifndef SUPCON_OPS_SOFTMAX_GRAD_H
#define SUPCON_OPS_SOFTMAX_GRAD_H

#include "op.h"

/* Softmax and LogSoftmax, every opset: one (Log)SoftmaxGrad node. */
int softmax_grad(struct grad_ctx *c, int node, const int *dy, int *dx,
		 sc_error *err);

/* SoftmaxCrossEntropyLoss and NegativeLogLikelihoodLoss: the gradient of
 * the scores (input 0) only, through one <op>Grad node. */
int loss_grad(struct grad_ctx *c, int node, const int *dy, int *dx,
	      sc_error *err);

/* ai.supcon.SoftmaxGrad(dY, Y) and LogSoftmaxGrad(dY, Y) -> dX. */
extern const op_attr_spec softmax_grad_attrs[];
int softmax_grad_infer(graph *g, const graph_node *n, int64_t opset,
		       sc_error *err);
int softmax_grad_prepare(op_kernel *k, sc_error *err);
int softmax_grad_run(op_kernel *k, sc_error *err);

/* ai.supcon.SoftmaxCrossEntropyLossGrad(dY?, scores, labels, weights?,
 * dLogProb?) and NegativeLogLikelihoodLossGrad(dY, input, labels,
 * weights?) -> d scores. */
extern const op_attr_spec loss_grad_attrs[];
int loss_grad_infer(graph *g, const graph_node *n, int64_t opset,
		    sc_error *err);
int loss_grad_prepare(op_kernel *k, sc_error *err);
int loss_grad_run(op_kernel *k, sc_error *err);

#endif
