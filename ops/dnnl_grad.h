/* dnnl_grad.h: gradient rules of Conv, the pools and BatchNormalization,
 * and the table of their backward kernels (domain ai.supcon), all in
 * dnnl_grad.c.  The forward op tables (conv.c, pool.c, batchnorm.c) point
 * their .grad at these rules. */
#ifndef SUPCON_OPS_DNNL_GRAD_H
#define SUPCON_OPS_DNNL_GRAD_H

#include "op.h"

/* Conv, every opset: one ConvGrad node -> dX, dW, dB (inputs 0, 1, 2). */
int conv_grad_rule(struct grad_ctx *c, int node, const int *dy, int *dx,
		   sc_error *err);

/* MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, every opset:
 * one <op>Grad node -> dX (input 0). */
int pool_grad_rule(struct grad_ctx *c, int node, const int *dy, int *dx,
		   sc_error *err);

/* BatchNormalization, every opset: one BatchNormalizationGrad node -> dX,
 * dscale, dB (inputs 0, 1, 2).  The running statistics are forward-only:
 * no gradient flows into input_mean/input_var or out of the statistics
 * outputs. */
int bn_grad_rule(struct grad_ctx *c, int node, const int *dy, int *dx,
		 sc_error *err);

/* ai.supcon ConvGrad, MaxPoolGrad, AveragePoolGrad, GlobalAveragePoolGrad,
 * GlobalMaxPoolGrad, BatchNormalizationGrad (opset 1). */
extern const op_def op_dnnl_grad_defs[];

#endif
