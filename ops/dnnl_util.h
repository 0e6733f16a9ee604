/* dnnl_util.h: what the oneDNN-backed kernels (conv, batchnorm, pool,
 * gemm) share.
 *
 * Layouts.  Tensors between ops are plain row-major unless the planner lets
 * a producer and its readers keep a oneDNN layout between them (op.h:
 * op_kernel.in_md, out_md).  A primitive created with format_tag_any may
 * want yet another layout for an operand; du_operand hides that: it owns
 * the oneDNN memory in the primitive's layout and, when that differs from
 * the layout the executor's buffer holds, the reorder between them and a
 * place in the kernel's scratch for the converted copy.  ResNet's
 * activations stay in nChw16c from conv to conv, so no reorder runs there.
 *
 * Scratch: every primitive is created with the user scratchpad mode.  A
 * kernel's prepare lays out its scratch regions (primitive scratchpads,
 * reordered copies) one after the other with du_scratch_take() and asks
 * the executor for the total once (exec_scratch_request); run finds each
 * region at exec_scratch(env) + offset.  Kernels run one at a time, so all
 * of them share the executor's single buffer.
 *
 * Memory objects are created in prepare without a buffer (DNNL_MEMORY_NONE)
 * and bound to the executor's buffers at every run, so run allocates
 * nothing of its own (dnnl_primitive_execute() keeps its argument map on
 * the heap for the length of the call; no C API call avoids that).
 * Binding a buffer whose layout pads the channels to whole blocks makes
 * oneDNN zero the padding, which its kernels rely on.
 *
 * Ownership: every du_* object is embedded in a kernel's state and released
 * with its du_*_destroy function, which accepts a zeroed object.  Errors
 * come back as sc_error naming the node (the `label` arguments). */
#ifndef SUPCON_OPS_DNNL_UTIL_H
#define SUPCON_OPS_DNNL_UTIL_H

#include <stddef.h>

#include <dnnl.h>

#include "../runtime/exec.h"
#include "op.h"

/* A plain row-major descriptor of t's shape with data type dt.  Rank 0
 * becomes [1].  Fails for ranks above DNNL_MAX_NDIMS. */
int du_plain_md(dnnl_memory_desc_t *md, int rank, const int64_t *dims,
		dnnl_data_type_t dt, const char *label, sc_error *err);

/* Reserves `bytes` (64-byte aligned) in a kernel's scratch layout whose
 * running total is *total; returns the region's offset. */
size_t du_scratch_take(size_t *total, size_t bytes);

/* Region `off` of the executor's scratch during run. */
static inline void *du_scratch_at(exec_env *env, size_t off)
{
	return (char *)exec_scratch(env) + off;
}

/* Checks a oneDNN status, naming the node and the step. */
int du_check(dnnl_status_t st, const char *label, const char *what,
	     sc_error *err);

/* A primitive attribute with the user scratchpad mode; the caller may add
 * to it (post-ops, scales) and destroys it. */
int du_attr_create(dnnl_primitive_attr_t *attr, const char *label,
		   sc_error *err);

/* A memory object of descriptor md with no buffer yet. */
int du_mem_create(dnnl_memory_t *mem, const dnnl_memory_desc_t *md,
		  exec_env *env, const char *label, sc_error *err);

/* Points mem at data (which oneDNN reads or writes through it). */
int du_mem_bind(dnnl_memory_t mem, const void *data, const char *label,
		sc_error *err);

/* --- primitives ---------------------------------------------------------- */

typedef struct du_prim {
	dnnl_primitive_desc_t pd;
	dnnl_primitive_t prim;
	dnnl_memory_t scratch;     /* NULL when the primitive needs none */
	size_t scratch_off;
} du_prim;

/* Creates the primitive descriptor of op_desc with attr (NULL: a default
 * attribute with the user scratchpad mode), the primitive, and its
 * scratchpad memory, reserving the scratchpad in *scratch_total. */
int du_prim_create(du_prim *p, const_dnnl_op_desc_t op_desc,
		   const_dnnl_primitive_attr_t attr, exec_env *env,
		   size_t *scratch_total, const char *label, sc_error *err);

/* Same, with the forward primitive descriptor that backward primitives
 * need as a hint (NULL for forward primitives). */
int du_prim_create_hinted(du_prim *p, const_dnnl_op_desc_t op_desc,
			  const_dnnl_primitive_attr_t attr,
			  const_dnnl_primitive_desc_t hint, exec_env *env,
			  size_t *scratch_total, const char *label, sc_error *err);

/* The descriptor the primitive chose for query `what` (dnnl_query_src_md,
 * ...) at index i. */
const dnnl_memory_desc_t *du_prim_md(const du_prim *p, dnnl_query_t what,
				     int i);

/* 1 when oneDNN fell back to its naive reference implementation, which
 * a kernel may take as a hint to describe the problem another way. */
int du_prim_is_reference(const du_prim *p);

/* Executes with args (at most DU_MAX_ARGS - 1 of them; the scratchpad is
 * added here) and waits for the stream. */
#define DU_MAX_ARGS 16
int du_prim_exec(du_prim *p, exec_env *env, int nargs,
		 const dnnl_exec_arg_t *args, const char *label, sc_error *err);

void du_prim_destroy(du_prim *p);

/* --- layouts -------------------------------------------------------------- */

/* Channels per block of the blocked activation layout (nChw16c and kin)
 * that suits this CPU: 16 with AVX-512, 8 otherwise. */
int du_channel_block(void);

/* A descriptor of an activation [N, C, D...] (rank 3 to 5) for a primitive
 * to compute on: channel-blocked when C fills at least one block, else
 * format_tag_any so that oneDNN picks (e.g. plain for a 3-channel image). */
int du_activation_md(dnnl_memory_desc_t *md, int rank, const int64_t *dims,
		     int blocked, const char *label, sc_error *err);

/* The layout input i of the kernel holds: the producer's descriptor when
 * the planner handed a blocked one (op_kernel.in_md), else `plain`. */
const dnnl_memory_desc_t *du_input_md(const op_kernel *k, int i,
				      const dnnl_memory_desc_t *plain);

/* Makes `chosen` the layout of the kernel's output 0 when the planner
 * allows a blocked one (op_kernel.out_may_block) and it differs from
 * `plain`: copies it to *keep (in the kernel's state), points out_md at
 * the copy and sizes out[0] for it.  Returns the layout out[0]'s buffer
 * will hold: *keep or plain. */
const dnnl_memory_desc_t *du_output_md(op_kernel *k,
				       const dnnl_memory_desc_t *chosen,
				       const dnnl_memory_desc_t *plain,
				       dnnl_memory_desc_t *keep);

/* --- reorders and operands ----------------------------------------------- */

typedef struct du_reorder {
	du_prim p;
	dnnl_memory_t src, dst;
} du_reorder;

int du_reorder_create(du_reorder *r, const dnnl_memory_desc_t *src,
		      const dnnl_memory_desc_t *dst, exec_env *env,
		      size_t *scratch_total, const char *label, sc_error *err);

/* Copies src (in r's source layout) into dst (in its destination layout). */
int du_reorder_run(du_reorder *r, exec_env *env, const void *src, void *dst,
		   const char *label, sc_error *err);

void du_reorder_destroy(du_reorder *r);

enum du_operand_kind {
	DU_IN,         /* read by the primitive: held -> chosen before */
	DU_OUT,        /* written by it: chosen -> held after */
	DU_CONST_IN,   /* an input whose data never changes: converted once */
	DU_INOUT,      /* DU_OUT whose prior content the primitive reads (a
			* sum post-op): du_operand_preload() fills it first */
};

/* One operand of a primitive as seen from the executor's buffer, which
 * holds it in the layout `held`: plain, or the one a neighbouring kernel
 * chose. */
typedef struct du_operand {
	int kind;
	dnnl_memory_t mem;         /* in the primitive's chosen layout */
	int converts;              /* chosen layout differs from held */
	du_reorder r;              /* held <-> chosen, when converts */
	du_reorder pre;            /* DU_INOUT: prior -> chosen, when they differ */
	size_t off;                /* scratch region of the chosen copy */
	size_t chosen_bytes;
	void *own;                 /* DU_CONST_IN: the converted copy */
	const void *own_src;       /* ... and the data it came from */
} du_operand;

/* Sets o up for an operand the executor's buffer holds as `held` and that
 * the primitive wants as `chosen`.  A converted copy lives in scratch
 * (DU_IN, DU_OUT, DU_INOUT) or in o's own buffer (DU_CONST_IN).  For
 * DU_INOUT, `prior` is the layout of the tensor du_operand_preload() will
 * copy in (NULL: held); the reorder from it, if needed, is made here. */
int du_operand_init(du_operand *o, int kind, const dnnl_memory_desc_t *held,
		    const dnnl_memory_desc_t *chosen,
		    const dnnl_memory_desc_t *prior, exec_env *env,
		    size_t *scratch_total, const char *label, sc_error *err);

/* Before the primitive runs: binds o->mem to data, converting it first
 * when the layouts differ (DU_CONST_IN converts only when data is not what
 * it converted last).  For DU_OUT and DU_INOUT, binds o->mem to data or
 * to the scratch copy. */
int du_operand_before(du_operand *o, exec_env *env, const void *data,
		      const char *label, sc_error *err);

/* DU_INOUT, before du_operand_before(): makes `prior` (in the layout given
 * to du_operand_init) the content the primitive will find in its output
 * `data`.  prior must not overlap data. */
int du_operand_preload(du_operand *o, exec_env *env, const void *prior,
		       void *data, const char *label, sc_error *err);

/* After the primitive ran: for a converting DU_OUT or DU_INOUT, writes the
 * result into the executor's buffer data.  A no-op otherwise. */
int du_operand_after(du_operand *o, exec_env *env, void *data,
		     const char *label, sc_error *err);

void du_operand_destroy(du_operand *o);

/* A plain copy, in the kernel's scratch, of an input that arrives blocked,
 * for the plain-loop paths of layout-aware kernels (other dtypes, cases
 * oneDNN does not cover).  Inactive when the input is plain already. */
typedef struct du_plain_copy {
	int active;
	du_reorder r;
	size_t off;
} du_plain_copy;

/* From prepare: sets c up for input i of k (in_md[i] blocked or not). */
int du_plain_copy_init(du_plain_copy *c, const op_kernel *k, int i,
		       size_t *scratch_total, const char *label, sc_error *err);

/* From run: input i as plain.  Returns k->in[i] itself when inactive,
 * else *tmp, a header over the converted copy in scratch (NULL with err
 * set when the conversion fails). */
const sc_tensor *du_plain_copy_run(du_plain_copy *c, op_kernel *k, int i,
				   sc_tensor *tmp, const char *label,
				   sc_error *err);

void du_plain_copy_destroy(du_plain_copy *c);

/* --- window geometry ---------------------------------------------------- */

/* oneDNN convolutions and poolings have at most three spatial axes. */
#define DU_MAX_SPATIAL 3

/* The sliding window of a Conv or pooling node over x [N, C, D1..Dn]. */
typedef struct du_window {
	int ns;                              /* spatial axes */
	int64_t kernel[DU_MAX_SPATIAL];
	int64_t stride[DU_MAX_SPATIAL];
	int64_t dilation[DU_MAX_SPATIAL];    /* ONNX's: 1 = dense */
	int64_t pad_l[DU_MAX_SPATIAL];
	int64_t pad_r[DU_MAX_SPATIAL];       /* ONNX's (or SAME's) end padding */
	int64_t pad_r_ext[DU_MAX_SPATIAL];   /* pad_r grown to cover ceil_mode's
					      * last window; = pad_r otherwise */
	int64_t out[DU_MAX_SPATIAL];
} du_window;

/* Reads kernel_shape (or takes `kernel` when the attribute is absent and
 * kernel is not NULL), strides, dilations, pads and auto_pad from the
 * kernel's node and computes the output sizes for x, as shape inference
 * does (infer_window_out).  Fails naming the node when an attribute has
 * the wrong length or the window does not fit; SC_EUNSUPPORTED for more
 * than DU_MAX_SPATIAL spatial axes. */
int du_window_init(du_window *w, const op_kernel *k, const sc_tensor *x,
		   const int64_t *kernel, int ceil_mode, const char *label,
		   sc_error *err);

/* --- element access for the plain-loop fallbacks ------------------------- */

/* Element i of a float, double, float16, bfloat16 or integer (8 to 64 bit,
 * bool) buffer as a double, and the reverse (rounding to nearest for
 * floats, truncating toward zero for integers).  For the slow paths only:
 * dtypes oneDNN does not cover. */
double du_load(const void *p, int dtype, int64_t i);
void du_store(void *p, int dtype, int64_t i, double v);

/* --- graph facts --------------------------------------------------------- */

/* 1 when input i of the kernel's node is an initializer that callers
 * cannot override (not also a graph input), so its data stays put and
 * unchanged for the plan's life.  A kernel may then convert it once
 * (DU_CONST_IN); whoever updates such a tensor in place (an optimizer)
 * must re-prepare the kernels that read it. */
int du_input_is_constant(const op_kernel *k, int i);

/* "node 'conv1' (Conv)" for messages, in buf. */
const char *du_label(const op_kernel *k, char *buf, size_t len);

/* Batch normalization over x seen as [n, c, inner]: the float32
 * descriptor of x (its own shape when oneDNN takes it, else that view)
 * and of the per-channel parameters [c].  Shared by the forward and the
 * backward kernels so that both see X the same way. */
int du_bn_mds(const sc_tensor *x, int64_t n, int64_t c, int64_t inner,
	      dnnl_memory_desc_t *x_md, dnnl_memory_desc_t *p_md,
	      const char *label, sc_error *err);

/* Where element (b, ch, s) of an activation [N, C, inner] lies in a
 * buffer: b * sn + (ch / block) * scb + ch % block + s * ss.  Covers plain
 * row-major (block 1, ss 1), channels-last (block 1, scb 1) and oneDNN's
 * channel-blocked layouts (nChw16c: block 16, ss 16). */
typedef struct du_chan_layout {
	int64_t block, sn, scb, ss;
} du_chan_layout;

/* The layout of x seen as [n, c, inner] when held as md (NULL: plain).
 * Returns 0 when md is not one of the forms above (the caller then
 * converts to plain). */
int du_chan_layout_of(const dnnl_memory_desc_t *md, int64_t n, int64_t c,
		      int64_t inner, du_chan_layout *l);

/* Doubles of scratch du_bn_stats() needs for c channels. */
size_t du_bn_stats_work(int64_t c);

/* Batch mean and biased variance per channel of float32 x [n, c, inner]
 * held in layout l, as float (accumulated in double), in parallel over
 * the batch.  work: du_bn_stats_work(c) doubles. */
void du_bn_stats(const float *x, const du_chan_layout *l, int64_t n,
		 int64_t c, int64_t inner, float *mean, float *var,
		 double *work);

/* Batch mean and biased variance, in double, of channel ch of x seen as
 * [n, c, inner] (any float dtype, read through du_load). */
void du_channel_stats(const sc_tensor *x, int64_t n, int64_t c, int64_t inner,
		      int64_t ch, double *mean, double *var);

#endif
