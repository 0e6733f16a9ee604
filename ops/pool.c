/* pool.c: pooling over the spatial axes of X [N, C, D1..Dn].
 *
 * MaxPool: the maximum over each window.  Output sizes follow Conv's rule,
 *   floor((Di + pads - ((k-1)*dilation+1)) / stride) + 1, or with ceil_mode
 *   the ceiling, dropping a last window that would start in the end padding.
 *   opsets 1-7: auto_pad, kernel_shape, pads, strides.
 *   opsets 8-9: storage_order and the optional int64 Indices output.
 *   opsets 10-17: ceil_mode and dilations (11 clarified pads, 12 added
 *   int8/uint8 types).
 * AveragePool: the mean over each window.
 *   opsets 1-6: auto_pad, kernel_shape, pads, strides.
 *   opsets 7-9: count_include_pad.  opsets 10-17: ceil_mode.
 * LpPool (11-17): the p-norm over each window.
 * GlobalAveragePool, GlobalMaxPool (1-17), GlobalLpPool (2-17): one window
 *   covering all spatial axes; Y is [N, C, 1, ..., 1].
 *
 * Kernels: oneDNN's pooling for float32 (global pools are one window over
 * the whole plane).  A plain loop covers the other dtypes, MaxPool's
 * Indices (oneDNN has none) and the one case where oneDNN's arithmetic
 * differs from ONNX's: AveragePool with count_include_pad, whose divisor
 * must not count the padding that ceil_mode adds past the declared pads.
 * Layouts (ops/op.h): every pool reads X in its producer's layout (the
 * plain loop converts a blocked X to plain first); MaxPool and AveragePool
 * on oneDNN also keep Y in X's layout when the planner allows, while the
 * global pools always write a plain Y, which Flatten reads.
 * LpPool and GlobalLpPool have shape inference only. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dnnl_grad.h"
#include "dnnl_util.h"
#include "infer_util.h"

static const op_attr_spec maxpool1_attrs[] = {
	{"auto_pad", ATTR_STRING},
	{"kernel_shape", ATTR_INTS},
	{"pads", ATTR_INTS},
	{"strides", ATTR_INTS},
	{NULL, 0},
};

static const op_attr_spec maxpool8_attrs[] = {
	{"auto_pad", ATTR_STRING},
	{"kernel_shape", ATTR_INTS},
	{"pads", ATTR_INTS},
	{"storage_order", ATTR_INT},
	{"strides", ATTR_INTS},
	{NULL, 0},
};

static const op_attr_spec maxpool10_attrs[] = {
	{"auto_pad", ATTR_STRING},
	{"ceil_mode", ATTR_INT},
	{"dilations", ATTR_INTS},
	{"kernel_shape", ATTR_INTS},
	{"pads", ATTR_INTS},
	{"storage_order", ATTR_INT},
	{"strides", ATTR_INTS},
	{NULL, 0},
};

static const op_attr_spec avgpool7_attrs[] = {
	{"auto_pad", ATTR_STRING},
	{"count_include_pad", ATTR_INT},
	{"kernel_shape", ATTR_INTS},
	{"pads", ATTR_INTS},
	{"strides", ATTR_INTS},
	{NULL, 0},
};

static const op_attr_spec avgpool10_attrs[] = {
	{"auto_pad", ATTR_STRING},
	{"ceil_mode", ATTR_INT},
	{"count_include_pad", ATTR_INT},
	{"kernel_shape", ATTR_INTS},
	{"pads", ATTR_INTS},
	{"strides", ATTR_INTS},
	{NULL, 0},
};

static const op_attr_spec lppool_attrs[] = {
	{"auto_pad", ATTR_STRING},
	{"kernel_shape", ATTR_INTS},
	{"p", ATTR_INT},
	{"pads", ATTR_INTS},
	{"strides", ATTR_INTS},
	{NULL, 0},
};

static const op_attr_spec global_lppool_attrs[] = {
	{"p", ATTR_INT},
	{NULL, 0},
};

static int pool_infer(graph *g, const graph_node *n, int64_t opset,
		      sc_error *err)
{
	infer_tensor x, y;
	infer_input(g, n, 0, &x);
	int ceil_mode = opset >= 10 ? (int)infer_attr_int(n, "ceil_mode", 0) : 0;
	int has_indices = strcmp(n->op_type, "MaxPool") == 0 && opset >= 8;
	if (x.rank < 0) {
		infer_tensor_unknown(&y, x.elem);
	} else {
		y = x;
		int rc = infer_window_shape(g, n, &x, NULL, ceil_mode, &y, err);
		if (rc)
			return rc;
	}
	int rc = infer_set_output(g, n, 0, &y, err);
	if (rc || !has_indices)
		return rc;
	y.elem = SC_INT64;
	return infer_set_output(g, n, 1, &y, err);
}

static int global_pool_infer(graph *g, const graph_node *n, int64_t opset,
			     sc_error *err)
{
	(void)opset;
	infer_tensor x;
	infer_input(g, n, 0, &x);
	if (x.rank >= 0 && x.rank < 2)
		return infer_fail(g, n, err, "input has rank %d, expected at least 2 (N, C, ...)",
				  x.rank);
	for (int k = 2; k < x.rank; k++)
		x.dims[k] = infer_dim_of(1);
	return infer_set_output(g, n, 0, &x, err);
}

/* --- kernels -------------------------------------------------------------- */

enum { POOL_MAX, POOL_AVG };

typedef struct pool_state {
	char label[192];
	int kind;                  /* POOL_MAX or POOL_AVG */
	int include_pad;           /* AveragePool's count_include_pad */
	int storage_order;         /* MaxPool's Indices: 1 = column-major */
	int use_dnnl;
	du_window w;               /* padded to DU_MAX_SPATIAL axes below */
	int64_t planes;            /* N * C */
	int64_t in[DU_MAX_SPATIAL];
	du_prim pool;
	dnnl_memory_t src;         /* bound to X in the layout it arrives in */
	du_operand dst;
	dnnl_memory_desc_t y_md;   /* Y's layout when it is not plain (out_md) */
	du_reorder x_plain;        /* plain loop, blocked X: to plain first */
	size_t x_plain_off;
} pool_state;

static void pool_release(op_kernel *k)
{
	pool_state *s = k->state;
	if (!s)
		return;
	du_prim_destroy(&s->pool);
	if (s->src)
		dnnl_memory_destroy(s->src);
	du_operand_destroy(&s->dst);
	du_reorder_destroy(&s->x_plain);
	free(s);
	k->state = NULL;
}

static int pool_dtype_ok(int dtype, int kind)
{
	switch (dtype) {
	case SC_FLOAT: case SC_DOUBLE: case SC_FLOAT16: case SC_BFLOAT16:
		return 1;
	case SC_INT8: case SC_UINT8:
		return kind == POOL_MAX;
	default:
		return 0;
	}
}

static int pool_build_dnnl(op_kernel *k, pool_state *s, sc_error *err)
{
	const sc_tensor *x = k->in[0];
	const sc_tensor *y = k->out[0];
	const du_window *w = &s->w;
	dnnl_dims_t strides, kernel, dil, pl, pr;
	for (int i = 0; i < w->ns; i++) {
		strides[i] = w->stride[i];
		kernel[i] = w->kernel[i];
		dil[i] = w->dilation[i] - 1;
		pl[i] = w->pad_l[i];
		pr[i] = w->pad_r_ext[i];
	}
	dnnl_memory_desc_t x_plain, y_plain, y_any;
	int rc = du_plain_md(&x_plain, x->rank, x->dims, dnnl_f32, s->label, err);
	if (!rc)
		rc = du_plain_md(&y_plain, y->rank, y->dims, dnnl_f32, s->label, err);
	/* Y any: oneDNN's pooling then writes it in X's layout */
	if (!rc)
		rc = du_check(dnnl_memory_desc_init_by_tag(&y_any, y->rank, y_plain.dims,
							   dnnl_f32, dnnl_format_tag_any),
			      s->label, "describing Y", err);
	if (rc)
		return rc;
	const dnnl_memory_desc_t *x_md = du_input_md(k, 0, &x_plain);
	dnnl_alg_kind_t alg = s->kind == POOL_MAX ? dnnl_pooling_max :
			      s->include_pad ? dnnl_pooling_avg_include_padding :
			      dnnl_pooling_avg_exclude_padding;
	dnnl_pooling_v2_desc_t pd;
	rc = du_check(dnnl_pooling_v2_forward_desc_init(&pd, dnnl_forward_inference,
							alg, x_md, &y_any, strides,
							kernel, dil, pl, pr),
		      s->label, "describing the pooling", err);
	size_t scratch = 0;
	if (!rc)
		rc = du_prim_create(&s->pool, &pd, NULL, k->env, &scratch, s->label,
				    err);
	if (rc)
		return rc;
	const dnnl_memory_desc_t *y_chosen = du_prim_md(&s->pool, dnnl_query_dst_md, 0);
	rc = du_mem_create(&s->src, x_md, k->env, s->label, err);
	if (!rc)
		rc = du_operand_init(&s->dst, DU_OUT,
				     du_output_md(k, y_chosen, &y_plain, &s->y_md),
				     y_chosen, NULL, k->env, &scratch, s->label, err);
	if (!rc)
		exec_scratch_request(k->env, scratch);
	return rc;
}

/* The plain loop reads X plain: a blocked X is converted into scratch. */
static int pool_plain_input(op_kernel *k, pool_state *s, sc_error *err)
{
	const sc_tensor *x = k->in[0];
	if (!k->in_md || !k->in_md[0] || !x->numel)
		return SC_OK;
	if (x->dtype != SC_FLOAT)
		return sc_fail(err, SC_EINTERNAL, "%s: a blocked %s input",
			       s->label, tensor_dtype_name(x->dtype));
	dnnl_memory_desc_t x_plain;
	size_t scratch = 0;
	int rc = du_plain_md(&x_plain, x->rank, x->dims, dnnl_f32, s->label, err);
	if (!rc)
		rc = du_reorder_create(&s->x_plain, k->in_md[0], &x_plain, k->env,
				       &scratch, s->label, err);
	if (rc)
		return rc;
	s->x_plain_off = du_scratch_take(&scratch, dnnl_memory_desc_get_size(&x_plain));
	exec_scratch_request(k->env, scratch);
	return SC_OK;
}

/* Shared by the windowed and the global pools once s->w is known. */
static int pool_finish_prepare(op_kernel *k, pool_state *s, sc_error *err)
{
	const sc_tensor *x = k->in[0];
	int64_t ydims[SC_MAX_RANK];
	ydims[0] = x->dims[0];
	ydims[1] = x->dims[1];
	for (int i = 0; i < s->w.ns; i++)
		ydims[2 + i] = s->w.out[i];
	int rc = tensor_set_shape(k->out[0], x->dtype, x->rank, ydims, s->label,
				  err);
	if (!rc && k->n_out > 1 && k->out[1])
		rc = tensor_set_shape(k->out[1], SC_INT64, x->rank, ydims, s->label,
				      err);
	if (rc)
		return rc;
	s->planes = x->dims[0] * x->dims[1];
	for (int i = 0; i < s->w.ns; i++)
		s->in[i] = x->dims[2 + i];
	int extends = 0;
	for (int i = 0; i < s->w.ns; i++)
		extends |= s->w.pad_r_ext[i] != s->w.pad_r[i];
	/* oneDNN has no Indices, and counts ceil_mode's extra padding when it
	 * includes padding where ONNX (like PyTorch) does not */
	s->use_dnnl = x->dtype == SC_FLOAT && k->out[0]->numel > 0 &&
		      !(k->n_out > 1 && k->out[1]) &&
		      !(s->kind == POOL_AVG && s->include_pad && extends);
	/* the reference loop works on three spatial axes: pad with size 1 */
	for (int i = s->w.ns; i < DU_MAX_SPATIAL; i++) {
		s->in[i] = 1;
		s->w.kernel[i] = s->w.stride[i] = s->w.dilation[i] = 1;
		s->w.pad_l[i] = s->w.pad_r[i] = s->w.pad_r_ext[i] = 0;
		s->w.out[i] = 1;
	}
	if (s->use_dnnl)
		return pool_build_dnnl(k, s, err);
	return pool_plain_input(k, s, err);
}

static int pool_prepare(op_kernel *k, sc_error *err)
{
	pool_state *s = calloc(1, sizeof *s);
	if (!s)
		return sc_fail(err, SC_ENOMEM, "out of memory preparing a pool");
	k->state = s;
	du_label(k, s->label, sizeof s->label);
	const sc_tensor *x = k->in[0];
	s->kind = strcmp(k->node->op_type, "MaxPool") == 0 ? POOL_MAX : POOL_AVG;
	if (!pool_dtype_ok(x->dtype, s->kind))
		return sc_fail(err, SC_EINVAL, "%s: %s input is not supported",
			       s->label, tensor_dtype_name(x->dtype));
	s->include_pad = s->kind == POOL_AVG && k->opset >= 7 &&
			 infer_attr_int(k->node, "count_include_pad", 0) != 0;
	s->storage_order = s->kind == POOL_MAX && k->opset >= 8 &&
			   infer_attr_int(k->node, "storage_order", 0) != 0;
	int ceil_mode = k->opset >= 10 &&
			infer_attr_int(k->node, "ceil_mode", 0) != 0;
	int rc = du_window_init(&s->w, k, x, NULL, ceil_mode, s->label, err);
	if (rc)
		return rc;
	return pool_finish_prepare(k, s, err);
}

static int global_pool_prepare(op_kernel *k, sc_error *err)
{
	pool_state *s = calloc(1, sizeof *s);
	if (!s)
		return sc_fail(err, SC_ENOMEM, "out of memory preparing a pool");
	k->state = s;
	du_label(k, s->label, sizeof s->label);
	const sc_tensor *x = k->in[0];
	s->kind = strcmp(k->node->op_type, "GlobalMaxPool") == 0 ? POOL_MAX :
		  POOL_AVG;
	if (!pool_dtype_ok(x->dtype, POOL_AVG))
		return sc_fail(err, SC_EINVAL, "%s: %s input is not supported",
			       s->label, tensor_dtype_name(x->dtype));
	if (x->rank < 2)
		return sc_fail(err, SC_EINVAL,
			       "%s: input has rank %d, expected at least 2 (N, C, ...)",
			       s->label, x->rank);
	if (x->rank - 2 > DU_MAX_SPATIAL)
		return sc_fail(err, SC_EUNSUPPORTED,
			       "%s: %d spatial axes; at most %d are supported",
			       s->label, x->rank - 2, DU_MAX_SPATIAL);
	s->w.ns = x->rank - 2;
	for (int i = 0; i < s->w.ns; i++) {
		s->w.kernel[i] = x->dims[2 + i];
		s->w.stride[i] = s->w.dilation[i] = s->w.out[i] = 1;
		if (x->dims[2 + i] == 0)
			return sc_fail(err, SC_EINVAL,
				       "%s: spatial axis %d is empty", s->label, i);
	}
	if (s->w.ns == 0) {
		/* [N, C]: every element is its own window */
		int rc = tensor_set_shape(k->out[0], x->dtype, x->rank, x->dims,
					  s->label, err);
		s->planes = x->numel;
		for (int i = 0; i < DU_MAX_SPATIAL; i++)
			s->in[i] = s->w.kernel[i] = s->w.stride[i] =
				s->w.dilation[i] = s->w.out[i] = 1;
		return rc;
	}
	return pool_finish_prepare(k, s, err);
}

/* --- the reference loop ---------------------------------------------------- */

/* Taps of the window at output position o along axis i that land on the
 * input extended by the declared pads (count_include_pad's divisor). */
static int64_t pool_padded_taps(const du_window *w, const int64_t *in, int i,
				int64_t o)
{
	int64_t n = 0;
	for (int64_t a = 0; a < w->kernel[i]; a++) {
		int64_t at = o * w->stride[i] - w->pad_l[i] + a * w->dilation[i];
		n += at >= -w->pad_l[i] && at < in[i] + w->pad_r[i];
	}
	return n;
}

/* One output element of plane `plane` at window position o[]: max (with
 * the flat index of the winner) or average, as ONNX defines them. */
static double pool_window(const pool_state *s, const void *x, int dtype,
			  int64_t plane, const int64_t *o, int64_t *arg)
{
	const du_window *w = &s->w;
	const int64_t *in = s->in;
	int64_t base = plane * in[0] * in[1] * in[2];
	double best = -INFINITY, sum = 0;
	int64_t count = 0, best_at = -1;
	for (int64_t a = 0; a < w->kernel[0]; a++) {
		int64_t i0 = o[0] * w->stride[0] - w->pad_l[0] + a * w->dilation[0];
		if (i0 < 0 || i0 >= in[0])
			continue;
		for (int64_t b = 0; b < w->kernel[1]; b++) {
			int64_t i1 = o[1] * w->stride[1] - w->pad_l[1] + b * w->dilation[1];
			if (i1 < 0 || i1 >= in[1])
				continue;
			for (int64_t c = 0; c < w->kernel[2]; c++) {
				int64_t i2 = o[2] * w->stride[2] - w->pad_l[2] +
					     c * w->dilation[2];
				if (i2 < 0 || i2 >= in[2])
					continue;
				int64_t at = (i0 * in[1] + i1) * in[2] + i2;
				double v = du_load(x, dtype, base + at);
				count++;
				sum += v;
				if (v > best || best_at < 0) {
					best = v;
					best_at = at;
				}
			}
		}
	}
	if (s->kind == POOL_AVG) {
		if (s->include_pad)
			count = pool_padded_taps(w, in, 0, o[0]) *
				pool_padded_taps(w, in, 1, o[1]) *
				pool_padded_taps(w, in, 2, o[2]);
		return count ? sum / (double)count : 0.0;
	}
	if (arg) {
		/* column-major over the spatial axes when storage_order is 1 */
		int64_t idx = best_at < 0 ? 0 : best_at;
		if (s->storage_order) {
			int64_t i2 = idx % in[2], i1 = idx / in[2] % in[1];
			int64_t i0 = idx / (in[1] * in[2]);
			idx = s->w.ns == 3 ? i0 + in[0] * (i1 + in[1] * i2) :
			      s->w.ns == 2 ? i0 + in[0] * i1 : i0;
		}
		*arg = base + idx;
	}
	return best;
}

static void pool_reference(const pool_state *s, const sc_tensor *x,
			   sc_tensor *y, sc_tensor *indices)
{
	const du_window *w = &s->w;
	int64_t per_plane = w->out[0] * w->out[1] * w->out[2];
	int64_t total = s->planes * per_plane;
	int64_t *idx = indices ? indices->data : NULL;
	#pragma omp parallel for if (total > 32768)
	for (int64_t p = 0; p < s->planes; p++)
		for (int64_t j = 0; j < per_plane; j++) {
			int64_t o[3] = {j / (w->out[1] * w->out[2]),
					j / w->out[2] % w->out[1], j % w->out[2]};
			int64_t at = p * per_plane + j;
			double v = pool_window(s, x->data, x->dtype, p, o,
					       idx ? &idx[at] : NULL);
			du_store(y->data, y->dtype, at, v);
		}
}

static int pool_run(op_kernel *k, sc_error *err)
{
	pool_state *s = k->state;
	sc_tensor *y = k->out[0];
	if (!s->use_dnnl) {
		sc_tensor x = *k->in[0];
		if (s->x_plain.p.prim) {
			x.data = du_scratch_at(k->env, s->x_plain_off);
			int rc = du_reorder_run(&s->x_plain, k->env, k->in[0]->data,
						x.data, s->label, err);
			if (rc)
				return rc;
		}
		pool_reference(s, &x, y, k->n_out > 1 ? k->out[1] : NULL);
		return SC_OK;
	}
	int rc = du_mem_bind(s->src, k->in[0]->data, s->label, err);
	if (!rc)
		rc = du_operand_before(&s->dst, k->env, y->data, s->label, err);
	if (rc)
		return rc;
	dnnl_exec_arg_t args[2] = {
		{DNNL_ARG_SRC, s->src},
		{DNNL_ARG_DST, s->dst.mem},
	};
	rc = du_prim_exec(&s->pool, k->env, 2, args, s->label, err);
	if (!rc)
		rc = du_operand_after(&s->dst, k->env, y->data, s->label, err);
	return rc;
}

const op_def op_pool_defs[] = {
	{.domain = "", .name = "MaxPool", .since = 1, .until = 7,
	 .attrs = maxpool1_attrs, .infer = pool_infer,
	 .prepare = pool_prepare, .run = pool_run, .release = pool_release,
	 .layout_caps = LAYOUT_SRC | LAYOUT_DST,
	 .grad = pool_grad_rule, .grad_inputs = 0x1},
	{.domain = "", .name = "MaxPool", .since = 8, .until = 9,
	 .attrs = maxpool8_attrs, .infer = pool_infer,
	 .prepare = pool_prepare, .run = pool_run, .release = pool_release,
	 .layout_caps = LAYOUT_SRC | LAYOUT_DST,
	 .grad = pool_grad_rule, .grad_inputs = 0x1},
	{.domain = "", .name = "MaxPool", .since = 10, .until = 17,
	 .attrs = maxpool10_attrs, .infer = pool_infer,
	 .prepare = pool_prepare, .run = pool_run, .release = pool_release,
	 .layout_caps = LAYOUT_SRC | LAYOUT_DST,
	 .grad = pool_grad_rule, .grad_inputs = 0x1},
	{.domain = "", .name = "AveragePool", .since = 1, .until = 6,
	 .attrs = maxpool1_attrs, .infer = pool_infer,
	 .prepare = pool_prepare, .run = pool_run, .release = pool_release,
	 .layout_caps = LAYOUT_SRC | LAYOUT_DST,
	 .grad = pool_grad_rule, .grad_inputs = 0x1},
	{.domain = "", .name = "AveragePool", .since = 7, .until = 9,
	 .attrs = avgpool7_attrs, .infer = pool_infer,
	 .prepare = pool_prepare, .run = pool_run, .release = pool_release,
	 .layout_caps = LAYOUT_SRC | LAYOUT_DST,
	 .grad = pool_grad_rule, .grad_inputs = 0x1},
	{.domain = "", .name = "AveragePool", .since = 10, .until = 17,
	 .attrs = avgpool10_attrs, .infer = pool_infer,
	 .prepare = pool_prepare, .run = pool_run, .release = pool_release,
	 .layout_caps = LAYOUT_SRC | LAYOUT_DST,
	 .grad = pool_grad_rule, .grad_inputs = 0x1},
	{.domain = "", .name = "LpPool", .since = 11, .until = 17,
	 .attrs = lppool_attrs, .infer = pool_infer},
	{.domain = "", .name = "GlobalAveragePool", .since = 1, .until = 17,
	 .attrs = NULL, .infer = global_pool_infer,
	 .prepare = global_pool_prepare, .run = pool_run,
	 .release = pool_release, .layout_caps = LAYOUT_SRC,
	 .grad = pool_grad_rule, .grad_inputs = 0x1},
	{.domain = "", .name = "GlobalMaxPool", .since = 1, .until = 17,
	 .attrs = NULL, .infer = global_pool_infer,
	 .prepare = global_pool_prepare, .run = pool_run,
	 .release = pool_release, .layout_caps = LAYOUT_SRC,
	 .grad = pool_grad_rule, .grad_inputs = 0x1},
	{.domain = "", .name = "GlobalLpPool", .since = 2, .until = 17,
	 .attrs = global_lppool_attrs, .infer = global_pool_infer},
	{0},
};
