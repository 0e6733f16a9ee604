/* elementwise_kernels.h: the prepare/run/release functions of the
 * elementwise op family, shared between the files that implement them and
 * ops/elementwise.c, whose table registers them.
 *
 *   elementwise_unary.c   one-input math (Relu ... HardSwish), Not, IsNaN,
 *                         IsInf, Clip, Dropout, Identity
 *   elementwise_binary.c  Add ... Pow, Mod, BitShift, PRelu, comparisons,
 *                         And/Or/Xor, Sum/Min/Max/Mean, Where
 *   elementwise_cast.c    Cast, CastLike
 *   elementwise_axis.c    Trilu, CumSum
 *   elementwise_gradk.c   backward kernels (domain ai.supcon)
 *   elementwise_grad.c    gradient rules
 *
 * Each prepare picks its loop from the node's op_type and the input dtypes
 * and keeps it, with whatever the loop needs, in k->state. */
#ifndef SUPCON_OPS_ELEMENTWISE_KERNELS_H
#define SUPCON_OPS_ELEMENTWISE_KERNELS_H

#include "op.h"

int ew_unary_prepare(op_kernel *k, sc_error *err);
int ew_unary_run(op_kernel *k, sc_error *err);
void ew_unary_release(op_kernel *k);

int ew_clip_prepare(op_kernel *k, sc_error *err);
int ew_clip_run(op_kernel *k, sc_error *err);

int ew_dropout_prepare(op_kernel *k, sc_error *err);
int ew_dropout_run(op_kernel *k, sc_error *err);

int ew_identity_prepare(op_kernel *k, sc_error *err);
int ew_identity_run(op_kernel *k, sc_error *err);

/* two inputs broadcast: arithmetic, comparisons, logic, PRelu */
int ew_binary_prepare(op_kernel *k, sc_error *err);
/* Sum, Min, Max, Mean: any number of inputs */
int ew_variadic_prepare(op_kernel *k, sc_error *err);
int ew_where_prepare(op_kernel *k, sc_error *err);
/* runs what any of the three prepares above planned */
int ew_broadcast_run(op_kernel *k, sc_error *err);

int ew_cast_prepare(op_kernel *k, sc_error *err);
int ew_cast_run(op_kernel *k, sc_error *err);

int ew_trilu_prepare(op_kernel *k, sc_error *err);
int ew_trilu_run(op_kernel *k, sc_error *err);

int ew_cumsum_prepare(op_kernel *k, sc_error *err);
int ew_cumsum_run(op_kernel *k, sc_error *err);

/* Element i of `data`, of any numeric dtype or bool, as a double or as an
 * int64 (floats truncated, NaN as 0, out-of-range values saturated). */
double ew_load_double(int dtype, const void *data, int64_t i);
int64_t ew_load_int(int dtype, const void *data, int64_t i);

/* Stores v as element i of `data`.  From double, integer dtypes truncate
 * and saturate (NaN becomes 0); from int64, they wrap modulo their width. */
void ew_store_double(int dtype, void *data, int64_t i, double v);
void ew_store_int(int dtype, void *data, int64_t i, int64_t v);

/* "node 'add1' (Add)" for messages; returns buf. */
const char *ew_label(const op_kernel *k, char *buf, size_t len);

/* Backward kernels, domain ai.supcon (elementwise_gradk.c): ReluGrad and
 * the other activations' (act), ClipGrad, DropoutGrad, and the
 * broadcasting PowGrad and MinMaxGrad (which share ew_bwalk_release). */
int ew_act_grad_prepare(op_kernel *k, sc_error *err);
int ew_act_grad_run(op_kernel *k, sc_error *err);
int ew_clip_grad_prepare(op_kernel *k, sc_error *err);
int ew_clip_grad_run(op_kernel *k, sc_error *err);
int ew_clip_grad_infer(graph *g, const graph_node *n, int64_t opset,
		       sc_error *err);
int ew_dropout_grad_prepare(op_kernel *k, sc_error *err);
int ew_dropout_grad_run(op_kernel *k, sc_error *err);
int ew_pow_grad_prepare(op_kernel *k, sc_error *err);
int ew_pow_grad_run(op_kernel *k, sc_error *err);
int ew_pow_grad_infer(graph *g, const graph_node *n, int64_t opset,
		      sc_error *err);
int ew_minmax_grad_prepare(op_kernel *k, sc_error *err);
int ew_minmax_grad_run(op_kernel *k, sc_error *err);
int ew_minmax_grad_infer(graph *g, const graph_node *n, int64_t opset,
			 sc_error *err);
void ew_bwalk_release(op_kernel *k);

/* Gradient rules (elementwise_grad.c). */
struct grad_ctx;
int ew_add_sub_grad(struct grad_ctx *c, int node, const int *dy, int *dx,
		    sc_error *err);
int ew_mul_grad(struct grad_ctx *c, int node, const int *dy, int *dx,
		sc_error *err);
int ew_div_grad(struct grad_ctx *c, int node, const int *dy, int *dx,
		sc_error *err);
int ew_unary_grad(struct grad_ctx *c, int node, const int *dy, int *dx,
		  sc_error *err);
int ew_pow_grad(struct grad_ctx *c, int node, const int *dy, int *dx,
		sc_error *err);
int ew_clip_grad(struct grad_ctx *c, int node, const int *dy, int *dx,
		 sc_error *err);
int ew_dropout_grad(struct grad_ctx *c, int node, const int *dy, int *dx,
		    sc_error *err);
int ew_cast_grad(struct grad_ctx *c, int node, const int *dy, int *dx,
		 sc_error *err);
int ew_where_grad(struct grad_ctx *c, int node, const int *dy, int *dx,
		  sc_error *err);
/* Sum, Mean, Min, Max */
int ew_variadic_grad(struct grad_ctx *c, int node, const int *dy, int *dx,
		     sc_error *err);

#endif
