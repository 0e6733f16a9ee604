/* shape_kernel.h: kernels of the shape family and what they share.
 *
 * ops/shape_ops.c holds the family's table (attribute specs and shape
 * inference); the kernels it points at live in shape_layout.c (Reshape,
 * Transpose, Slice, Expand, Tile, ...), shape_join.c (Concat, Split, Pad),
 * shape_index.c (Gather, GatherElements, OneHot, NonZero), shape_make.c
 * (Shape, Size, Constant, ConstantOfShape, EyeLike, Range) and
 * shape_grad.c (gradient rules and their ai.supcon backward kernels).
 *
 * These ops move bytes without arithmetic, so they work on element sizes
 * (1, 2, 4, 8 or 16 bytes, the last also covering STRING's sc_bytes) and
 * every dtype comes for free.  String tensors are copied shallowly: the
 * output's sc_bytes point at the input's characters, which the model or
 * the caller keeps alive for the run.
 *
 * Most kernels describe their output as a strided view of one input
 * (shape_view) during prepare and copy it in run; the copy collapses
 * contiguous dims, memcpy's contiguous rows, tiles transposes, and splits
 * big copies over OpenMP threads.  Errors name the node and return
 * SC_EINVAL (or SC_EUNSUPPORTED for valid ONNX supcon does not do). */
#ifndef SUPCON_OPS_SHAPE_KERNEL_H
#define SUPCON_OPS_SHAPE_KERNEL_H

#include <stddef.h>
#include <stdint.h>

#include "op.h"
#include "registry.h"

/* Tile views a rank-r input as 2r dims, so views go up to twice the tensor
 * rank limit. */
#define SHAPE_VIEW_MAX_RANK (2 * SC_MAX_RANK)

/* dst[dst_offset + sum i_d * dst_stride[d]] = src[src_offset + sum i_d *
 * src_stride[d]] for every index i < dims; strides and offsets count
 * elements of `elem` bytes.  Strides may be zero (broadcast) or negative
 * (Slice with negative steps). */
typedef struct shape_view {
	int rank;
	size_t elem;
	int64_t numel;
	int64_t dims[SHAPE_VIEW_MAX_RANK];
	int64_t dst_stride[SHAPE_VIEW_MAX_RANK];
	int64_t src_stride[SHAPE_VIEW_MAX_RANK];
	int64_t dst_offset, src_offset;
} shape_view;

/* An empty view (rank 0, one element, offsets 0). */
void shape_view_init(shape_view *v, size_t elem);

/* Appends an inner dim.  Callers stay within SHAPE_VIEW_MAX_RANK. */
void shape_view_push(shape_view *v, int64_t dim, int64_t dst_stride,
		     int64_t src_stride);

/* Sets the dst strides to a dense row-major layout of the dims pushed. */
void shape_view_dense_dst(shape_view *v);

/* Drops size-1 dims and merges dims that are contiguous in both tensors;
 * computes numel.  Call once, after the last push. */
void shape_view_simplify(shape_view *v);

/* Performs the copy; threaded when it is big. */
void shape_view_copy(const shape_view *v, void *dst, const void *src);

/* Row-major element strides of t. */
void shape_strides(const sc_tensor *t, int64_t *strides);

/* The elementwise-index walk of GatherElements and ScatterElements: moves
 * idx one step through `dims` (row-major) and keeps *base the data offset
 * of idx with its `axis` coordinate left out (data_stride: data's
 * strides). */
static inline void shape_axis_walk_step(int rank, int axis, const int64_t *dims,
					const int64_t *data_stride, int64_t *idx,
					int64_t *base)
{
	for (int d = rank - 1; d >= 0; d--) {
		int64_t step = d == axis ? 0 : data_stride[d];
		*base += step;
		if (++idx[d] < dims[d])
			break;
		*base -= step * dims[d];
		idx[d] = 0;
	}
}

/* Sets n elements of elem bytes at dst to *value. */
void shape_fill(void *dst, int64_t n, const void *value, size_t elem);

/* Copies nbytes, threaded when big; nothing for 0 bytes. */
void shape_copy_bytes(void *dst, const void *src, size_t nbytes);

/* Sets out[i] to dtype and shape (nothing when the output is omitted). */
int shape_set_out(op_kernel *k, int i, int dtype, int rank,
		  const int64_t *dims, sc_error *err);

/* Reads an int32 or int64 1-D (or scalar) tensor into out[max].  Returns
 * its element count, or fails naming the node and `what`. */
int shape_read_ints(const op_kernel *k, const sc_tensor *t, const char *what,
		    int64_t *out, int max, int *count, sc_error *err);

/* Reads a list that is the int-list attribute `attr` below opset
 * `input_from` and input `input` from then on.  *count is -1 when it is
 * absent. */
int shape_attr_or_input(const op_kernel *k, int input_from, const char *attr,
			int input, int64_t *out, int max, int *count,
			sc_error *err);

/* Element i of a numeric or bool tensor, as a double or an int64 (floats
 * truncated toward zero, saturating). */
double shape_get_double(const sc_tensor *t, int64_t i);
int64_t shape_get_int64(const sc_tensor *t, int64_t i);

/* Writes x converted to dtype (numeric or bool) at dst.  Returns 0, or -1
 * for a dtype with no numeric value (string, complex). */
int shape_put_double(void *dst, int dtype, double x);

/* The run of ops whose output is the input's bytes under another shape
 * (Reshape, Flatten, Squeeze, Unsqueeze): their prepare sets the shape,
 * this copies. */
int shape_run_copy(op_kernel *k, sc_error *err);

/* Runs the shape_view in k->state from input 0 to output 0. */
int shape_run_view(op_kernel *k, sc_error *err);

/* --- the kernels, by file ------------------------------------------------- */

/* shape_layout.c */
int shape_flatten_prepare(op_kernel *k, sc_error *err);
int shape_reshape_prepare(op_kernel *k, sc_error *err);
int shape_squeeze_prepare(op_kernel *k, sc_error *err);
int shape_unsqueeze_prepare(op_kernel *k, sc_error *err);
int shape_transpose_prepare(op_kernel *k, sc_error *err);
int shape_slice_prepare(op_kernel *k, sc_error *err);
int shape_expand_prepare(op_kernel *k, sc_error *err);
int shape_tile_prepare(op_kernel *k, sc_error *err);
int shape_space_depth_prepare(op_kernel *k, sc_error *err);

/* shape_join.c */
int shape_concat_prepare(op_kernel *k, sc_error *err);
int shape_concat_run(op_kernel *k, sc_error *err);
int shape_split_prepare(op_kernel *k, sc_error *err);
int shape_split_run(op_kernel *k, sc_error *err);
int shape_pad_prepare(op_kernel *k, sc_error *err);
int shape_pad_run(op_kernel *k, sc_error *err);

/* shape_index.c */
int shape_gather_prepare(op_kernel *k, sc_error *err);
int shape_gather_run(op_kernel *k, sc_error *err);
int shape_gather_elements_prepare(op_kernel *k, sc_error *err);
int shape_gather_elements_run(op_kernel *k, sc_error *err);
int shape_onehot_prepare(op_kernel *k, sc_error *err);
int shape_onehot_run(op_kernel *k, sc_error *err);
int shape_nonzero_prepare(op_kernel *k, sc_error *err);
int shape_nonzero_run(op_kernel *k, sc_error *err);

/* shape_make.c */
int shape_of_prepare(op_kernel *k, sc_error *err);
int shape_of_run(op_kernel *k, sc_error *err);
int shape_size_prepare(op_kernel *k, sc_error *err);
int shape_size_run(op_kernel *k, sc_error *err);
int shape_constant_prepare(op_kernel *k, sc_error *err);
int shape_constant_run(op_kernel *k, sc_error *err);
int shape_constant_of_shape_prepare(op_kernel *k, sc_error *err);
int shape_constant_of_shape_run(op_kernel *k, sc_error *err);
int shape_eyelike_prepare(op_kernel *k, sc_error *err);
int shape_eyelike_run(op_kernel *k, sc_error *err);
int shape_range_prepare(op_kernel *k, sc_error *err);
int shape_range_run(op_kernel *k, sc_error *err);

/* shape_grad.c: gradient rules (op_grad_fn, runtime/autodiff.h) */
struct grad_ctx;
int shape_reshape_grad(struct grad_ctx *c, int node, const int *dy, int *dx,
		       sc_error *err);
int shape_transpose_grad(struct grad_ctx *c, int node, const int *dy, int *dx,
			 sc_error *err);
int shape_concat_grad(struct grad_ctx *c, int node, const int *dy, int *dx,
		      sc_error *err);
int shape_split_grad(struct grad_ctx *c, int node, const int *dy, int *dx,
		     sc_error *err);
int shape_slice_grad(struct grad_ctx *c, int node, const int *dy, int *dx,
		     sc_error *err);
int shape_gather_grad(struct grad_ctx *c, int node, const int *dy, int *dx,
		      sc_error *err);
int shape_expand_grad(struct grad_ctx *c, int node, const int *dy, int *dx,
		      sc_error *err);
int shape_tile_grad(struct grad_ctx *c, int node, const int *dy, int *dx,
		    sc_error *err);

/* shape_grad.c: the backward kernels of domain ai.supcon */
int shape_grad_like_x_infer(graph *g, const graph_node *n, int64_t opset,
			    sc_error *err);
int shape_concat_grad_infer(graph *g, const graph_node *n, int64_t opset,
			    sc_error *err);
int shape_split_grad_infer(graph *g, const graph_node *n, int64_t opset,
			   sc_error *err);
int shape_concat_grad_prepare(op_kernel *k, sc_error *err);
int shape_concat_grad_run(op_kernel *k, sc_error *err);
int shape_split_grad_prepare(op_kernel *k, sc_error *err);
int shape_split_grad_run(op_kernel *k, sc_error *err);
int shape_slice_grad_prepare(op_kernel *k, sc_error *err);
int shape_slice_grad_run(op_kernel *k, sc_error *err);
int shape_tile_grad_prepare(op_kernel *k, sc_error *err);
int shape_tile_grad_run(op_kernel *k, sc_error *err);
int shape_gather_grad_prepare(op_kernel *k, sc_error *err);
int shape_gather_grad_run(op_kernel *k, sc_error *err);

#endif
