/* scatter.h: the gradient rules of the index ops, which shape_grad.c
 * holds beside the other shape rules.
 *
 * ops/scatter.c registers Scatter, ScatterElements, ScatterND, GatherND,
 * and the ai.supcon copies of GatherElements, ScatterElements and
 * ScatterND that gradient graphs of older opsets use, in its table
 * op_scatter_defs (declared with the other tables in registry.h).  The
 * rules fail with SC_EUNSUPPORTED naming the forward node when an
 * attribute makes the op non-differentiable. */
#ifndef SUPCON_OPS_SCATTER_H
#define SUPCON_OPS_SCATTER_H

#include "op.h"

struct grad_ctx;

/* Scatter, ScatterElements and ScatterND with reduction none or add
 * (op_grad_fn, runtime/autodiff.h): inputs 0 (data) and 2 (updates). */
int shape_scatter_grad(struct grad_ctx *c, int node, const int *dy, int *dx,
		       sc_error *err);

/* GatherElements and GatherND (batch_dims 0): input 0 (data). */
int shape_gather_elements_grad(struct grad_ctx *c, int node, const int *dy,
			       int *dx, sc_error *err);
int shape_gathernd_grad(struct grad_ctx *c, int node, const int *dy, int *dx,
			sc_error *err);

#endif
