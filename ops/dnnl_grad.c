/* dnnl_grad.c: the backward pass of Conv, the pools and BatchNormalization:
 * their gradient rules and the backward kernels the rules emit (domain
 * ai.supcon, opset 1).
 *
 *   Conv          ConvGrad(dY, X, W) -> dX, dW, dB (each optional), with
 *                 Conv's own attributes.  oneDNN's convolution backward
 *                 data and backward weights (dB with the weights pass, or
 *                 a plain sum over N and space when dW is not wanted),
 *                 algorithm auto for data (Winograd where oneDNN has it:
 *                 3x3, stride 1), and Winograd first for weights, whose
 *                 auto choice misses it on large planes
 *                 (conv_grad_wino_has).
 *   MaxPool       MaxPoolGrad(dY, X) -> dX: the window's maximum is found
 *                 again from X and receives dY; on ties the first tap in
 *                 row-major order wins, as in the forward loop and in
 *                 PyTorch.  float32: oneDNN's forward runs again for its
 *                 workspace (the winners), then its backward; this costs
 *                 one pass over X but spares the forward a workspace, and
 *                 works whether or not the model asked for Indices.
 *   AveragePool   AveragePoolGrad(dY, X) -> dX: dY / count spread over the
 *                 window's taps inside X, count as the forward divides by
 *                 (count_include_pad counts the declared pads, never the
 *                 extra ones ceil_mode adds; oneDNN counts those too, so
 *                 that one case takes the loop).
 *   GlobalAveragePool, GlobalMaxPool   the same over one window covering
 *                 all spatial axes; the average as a broadcast of
 *                 dY / count straight into dX's layout.
 *   BatchNormalization   BatchNormalizationGrad(dY, X, scale, mean, var)
 *                 -> dX, dscale, dB with attributes epsilon, training_mode
 *                 and spatial.  Training: the batch statistics are
 *                 recomputed from X (one vectorised pass, du_bn_stats) and
 *                 carry gradients,
 *                   dX = scale/sigma (dY - mean(dY) - xhat mean(dY xhat));
 *                 oneDNN's batch-norm backward for float32, a double loop
 *                 otherwise.  Inference: dX = dY scale / sqrt(var + eps).
 *                 Both: dscale = sum(dY xhat), dB = sum(dY).
 *                 Data parallelism with --sync-bn (runtime/dist.h): the
 *                 statistics and the two means in dX are the global
 *                 batch's (dist_bn_stats, then an all-reduce of sum(dY)
 *                 and sum(dY xhat)); dscale and dB stay this rank's sums,
 *                 which the trainer adds up with the other parameter
 *                 gradients.  On the oneDNN path, dY' = dY - mean(dY) -
 *                 xhat mean(dY xhat) is formed in dY's layout and oneDNN's
 *                 backward with the statistics as given (use_global_stats)
 *                 turns it into dX = scale/sigma dY'; otherwise the double
 *                 loop does it all.
 *
 * Layouts: the oneDNN paths read dY and X in the layout their producers
 * left (nChw16c through a ResNet: op_def.layout_inputs) and write dX in
 * the primitive's own when the planner allows (LAYOUT_DST), so a
 * training step reorders nothing between layers.  The plain loops (other
 * dtypes, the cases above) take a plain copy of a blocked input
 * (du_plain_copy) and write dX plain. */
#include "dnnl_grad.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/autodiff.h"
#include "../runtime/dist.h"
#include "dnnl_util.h"
#include "grad_attrs.h"
#include "infer_util.h"
#include "registry.h"

/* --- shared ---------------------------------------------------------------- */

static int has_out(const op_kernel *k, int i)
{
	return i < k->n_out && k->out[i];
}

/* Backward primitives need the forward primitive descriptor as a hint. */
static int dg_prim_create(du_prim *p, const_dnnl_op_desc_t op_desc,
			  const_dnnl_primitive_desc_t hint, exec_env *env,
			  size_t *scratch_total, const char *label, sc_error *err)
{
	return du_prim_create_hinted(p, op_desc, NULL, hint, env, scratch_total,
				     label, err);
}

static int same_dims(const sc_tensor *t, int rank, const int64_t *dims)
{
	return t->rank == rank &&
	       !memcmp(t->dims, dims, (size_t)rank * sizeof(int64_t));
}

static void dims_text(int rank, const int64_t *dims, char *buf, size_t len)
{
	size_t used = 0;
	used += (size_t)snprintf(buf, len, "[");
	for (int i = 0; i < rank && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%lld",
					 i ? ", " : "", (long long)dims[i]);
	if (used < len)
		snprintf(buf + used, len - used, "]");
}

/* Fails unless dY has the shape the forward op gave Y. */
static int check_dy(const op_kernel *k, const sc_tensor *dy, int rank,
		    const int64_t *ydims, sc_error *err)
{
	if (same_dims(dy, rank, ydims))
		return SC_OK;
	char want[160], got[160];
	dims_text(rank, ydims, want, sizeof want);
	dims_text(dy->rank, dy->dims, got, sizeof got);
	return op_fail(k, err, SC_EINVAL, "dY is %s, expected the forward output's shape %s",
		       got, want);
}

/* --- ConvGrad -------------------------------------------------------------- */

static const op_attr_spec conv_grad_attrs[] = {
	{"auto_pad", ATTR_STRING},
	{"dilations", ATTR_INTS},
	{"group", ATTR_INT},
	{"kernel_shape", ATTR_INTS},
	{"pads", ATTR_INTS},
	{"strides", ATTR_INTS},
	{NULL, 0},
};

static int conv_grad_infer(graph *g, const graph_node *n, int64_t opset,
			   sc_error *err)
{
	(void)opset;
	infer_tensor dy, x, w, b;
	infer_input(g, n, 0, &dy);
	infer_input(g, n, 1, &x);
	infer_input(g, n, 2, &w);
	int elem, rc = infer_unify_elem(g, n, 1, x.elem, 2, w.elem, &elem, err);
	if (!rc)
		rc = infer_unify_elem(g, n, 0, dy.elem, 1, elem, &elem, err);
	if (rc)
		return rc;
	x.elem = w.elem = elem;
	if (w.rank >= 1) {
		infer_tensor_rank(&b, elem, 1);
		b.dims[0] = w.dims[0];
	} else {
		infer_tensor_rank(&b, elem, 1);
	}
	rc = infer_set_output(g, n, 0, &x, err);
	if (!rc)
		rc = infer_set_output(g, n, 1, &w, err);
	if (!rc)
		rc = infer_set_output(g, n, 2, &b, err);
	return rc;
}

/* Layouts tried in order, as the forward conv does (conv.c): channel
 * blocked activations first, oneDNN's own choice when those only have
 * the naive implementation. */
enum { CG_LAYOUT_BLOCKED, CG_LAYOUT_ANY, CG_N_LAYOUTS };

typedef struct conv_grad_state {
	char label[192];
	int empty;                 /* some tensor has no elements */
	int want_dx, want_dw, want_db;
	int64_t n, m, inner;       /* dB by loop: dY as [N, M, inner] */
	du_prim bwd_data, bwd_weights;
	du_operand d_dy, d_w, d_dx;          /* backward data */
	du_operand w_x, w_dy, w_dw;          /* backward weights */
	dnnl_memory_t db;
	dnnl_memory_desc_t dx_md;  /* dX's layout when it is not plain (out_md) */
	du_plain_copy dy_plain;    /* empty or dB-only: the loop's plain dY */
} conv_grad_state;

static void conv_grad_release(op_kernel *k)
{
	conv_grad_state *s = k->state;
	if (!s)
		return;
	du_prim_destroy(&s->bwd_data);
	du_prim_destroy(&s->bwd_weights);
	du_operand *ops[] = {&s->d_dy, &s->d_w, &s->d_dx, &s->w_x, &s->w_dy,
			     &s->w_dw};
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
		du_operand_destroy(ops[i]);
	if (s->db)
		dnnl_memory_destroy(s->db);
	du_plain_copy_destroy(&s->dy_plain);
	free(s);
	k->state = NULL;
}

/* The descriptors every primitive of one layout attempt shares. */
typedef struct conv_grad_mds {
	dnnl_memory_desc_t x_plain, y_plain, w_plain, b_md;
	dnnl_memory_desc_t x_any, y_any, w_any;
	dnnl_dims_t strides, dil, pl, pr;
} conv_grad_mds;

static void conv_grad_destroy_prims(conv_grad_state *s)
{
	du_prim_destroy(&s->bwd_data);
	du_prim_destroy(&s->bwd_weights);
}

/* Whether oneDNN has a Winograd backward-weights kernel for these shapes
 * (3x3, stride 1, on this CPU).  Its own "auto" choice goes by a heuristic
 * that, with 2 threads, picks the direct kernel on ResNet's 56x56 and
 * 28x28 layers, where Winograd computes dW in about half the time (measured
 * with oneDNN 2.6 on AVX-512: 17 ms against 34-37 ms for 16x128x28x28 on
 * one thread).  The forward and backward-data passes already get Winograd
 * from "auto" on those layers. */
static int conv_grad_wino_has(const dnnl_convolution_desc_t *wd,
			      const_dnnl_primitive_desc_t hint, exec_env *env)
{
	dnnl_primitive_desc_t pd = NULL;
	if (dnnl_primitive_desc_create(&pd, wd, NULL, env->engine, hint) !=
	    dnnl_success)
		return 0;
	dnnl_primitive_desc_destroy(pd);
	return 1;
}

/* Creates the forward hint and the backward primitives for one layout;
 * their scratchpads are counted in the scratch of their pass (see
 * conv_grad_build). */
static int conv_grad_try(op_kernel *k, conv_grad_state *s,
			 const conv_grad_mds *d, int blocked,
			 size_t *data_scratch, size_t *weights_scratch,
			 sc_error *err)
{
	const sc_tensor *x = k->in[1];
	const char *label = s->label;
	int r = x->rank;
	dnnl_memory_desc_t x_any, y_any;
	int rc = du_activation_md(&x_any, r, x->dims, blocked, label, err);
	if (!rc)
		rc = du_activation_md(&y_any, r, k->in[0]->dims, blocked, label, err);
	if (rc)
		return rc;
	int bias = s->want_db && s->want_dw;
	dnnl_convolution_desc_t fd, bd, wd;
	rc = du_check(dnnl_dilated_convolution_forward_desc_init(&fd,
			dnnl_forward_training, dnnl_convolution_auto, &x_any,
			&d->w_any, bias ? &d->b_md : NULL, &y_any, d->strides,
			d->dil, d->pl, d->pr),
		      label, "describing the forward convolution", err);
	dnnl_primitive_desc_t hint = NULL;
	if (!rc) {
		dnnl_primitive_attr_t attr;
		rc = du_attr_create(&attr, label, err);
		if (!rc) {
			rc = du_check(dnnl_primitive_desc_create(&hint, &fd, attr,
								 k->env->engine, NULL),
				      label, "creating the forward hint", err);
			dnnl_primitive_attr_destroy(attr);
		}
	}
	if (!rc && s->want_dx) {
		rc = du_check(dnnl_dilated_convolution_backward_data_desc_init(&bd,
				dnnl_convolution_auto, &x_any, &d->w_any, &y_any,
				d->strides, d->dil, d->pl, d->pr),
			      label, "describing the backward data convolution", err);
		if (!rc)
			rc = dg_prim_create(&s->bwd_data, &bd, hint, k->env,
					    data_scratch, label, err);
	}
	for (int wino = 1; !rc && s->want_dw && wino >= 0; wino--) {
		rc = du_check(dnnl_dilated_convolution_backward_weights_desc_init(&wd,
				wino ? dnnl_convolution_winograd : dnnl_convolution_auto,
				&x_any, &d->w_any, bias ? &d->b_md : NULL, &y_any,
				d->strides, d->dil, d->pl, d->pr),
			      label, "describing the backward weights convolution", err);
		if (!rc && wino && !conv_grad_wino_has(&wd, hint, k->env))
			continue;
		if (!rc)
			rc = dg_prim_create(&s->bwd_weights, &wd, hint, k->env,
					    weights_scratch, label, err);
		break;
	}
	if (hint)
		dnnl_primitive_desc_destroy(hint);
	return rc;
}

static int conv_grad_is_reference(const conv_grad_state *s)
{
	return (s->bwd_data.prim && du_prim_is_reference(&s->bwd_data)) ||
	       (s->bwd_weights.prim && du_prim_is_reference(&s->bwd_weights));
}

static int conv_grad_build(op_kernel *k, conv_grad_state *s, const du_window *w,
			   int64_t group, sc_error *err)
{
	const sc_tensor *dy = k->in[0], *x = k->in[1], *wt = k->in[2];
	const char *label = s->label;
	int r = x->rank;
	conv_grad_mds d;
	dnnl_dims_t wdims;
	int wr = r;
	/* grouped weights are [G, M/G, C/G, k...], the same bytes as ONNX's */
	if (group > 1) {
		wdims[0] = group;
		wdims[1] = wt->dims[0] / group;
		for (int i = 1; i < r; i++)
			wdims[1 + i] = wt->dims[i];
		wr = r + 1;
	} else {
		for (int i = 0; i < r; i++)
			wdims[i] = wt->dims[i];
	}
	for (int i = 0; i < w->ns; i++) {
		d.strides[i] = w->stride[i];
		d.dil[i] = w->dilation[i] - 1;
		d.pl[i] = w->pad_l[i];
		d.pr[i] = w->pad_r[i];
	}
	int rc = du_plain_md(&d.x_plain, r, x->dims, dnnl_f32, label, err);
	if (!rc)
		rc = du_plain_md(&d.y_plain, r, dy->dims, dnnl_f32, label, err);
	if (!rc)
		rc = du_plain_md(&d.w_plain, wr, wdims, dnnl_f32, label, err);
	if (!rc)
		rc = du_plain_md(&d.b_md, 1, &wt->dims[0], dnnl_f32, label, err);
	if (!rc)
		rc = du_check(dnnl_memory_desc_init_by_tag(&d.w_any, wr, wdims, dnnl_f32,
							   dnnl_format_tag_any),
			      label, "describing W", err);
	if (rc)
		return rc;
	/* The data pass (dX) runs to its end before the weights pass (dW,
	 * dB) starts, so each pass counts its scratchpad and operand copies
	 * from offset 0 and the node asks for the larger of the two, not
	 * their sum: on a ResNet-18 SupCon step at 256 views, where both
	 * passes are Winograd on layer 4, that is the step's largest
	 * scratch and it sits on top of every saved activation. */
	size_t data_scratch = 0, weights_scratch = 0;
	for (int layout = 0; layout < CG_N_LAYOUTS; layout++) {
		data_scratch = weights_scratch = 0;
		rc = conv_grad_try(k, s, &d, layout == CG_LAYOUT_BLOCKED,
				   &data_scratch, &weights_scratch, err);
		if (layout + 1 == CG_N_LAYOUTS)
			break;
		if (rc == SC_EUNSUPPORTED || (!rc && conv_grad_is_reference(s))) {
			conv_grad_destroy_prims(s);
			rc = SC_OK;
			continue;
		}
		break;
	}
	if (rc)
		return rc;
	/* dY and X as their producers left them (blocked from a blocked
	 * forward), dX in the primitive's layout when the planner allows */
	const dnnl_memory_desc_t *dy_held = du_input_md(k, 0, &d.y_plain);
	const dnnl_memory_desc_t *x_held = du_input_md(k, 1, &d.x_plain);
	if (s->want_dx) {
		const du_prim *p = &s->bwd_data;
		const dnnl_memory_desc_t *dx_chosen =
			du_prim_md(p, dnnl_query_diff_src_md, 0);
		rc = du_operand_init(&s->d_dy, DU_IN, dy_held,
				     du_prim_md(p, dnnl_query_diff_dst_md, 0), NULL,
				     k->env, &data_scratch, label, err);
		if (!rc)
			rc = du_operand_init(&s->d_w, DU_IN, &d.w_plain,
					     du_prim_md(p, dnnl_query_weights_md, 0),
					     NULL, k->env, &data_scratch, label, err);
		if (!rc)
			rc = du_operand_init(&s->d_dx, DU_OUT,
					     du_output_md(k, dx_chosen, &d.x_plain,
							  &s->dx_md),
					     dx_chosen, NULL, k->env, &data_scratch,
					     label, err);
	}
	if (!rc && s->want_dw) {
		const du_prim *p = &s->bwd_weights;
		rc = du_operand_init(&s->w_x, DU_IN, x_held,
				     du_prim_md(p, dnnl_query_src_md, 0), NULL,
				     k->env, &weights_scratch, label, err);
		if (!rc)
			rc = du_operand_init(&s->w_dy, DU_IN, dy_held,
					     du_prim_md(p, dnnl_query_diff_dst_md, 0),
					     NULL, k->env, &weights_scratch, label, err);
		if (!rc)
			rc = du_operand_init(&s->w_dw, DU_OUT, &d.w_plain,
					     du_prim_md(p, dnnl_query_diff_weights_md, 0),
					     NULL, k->env, &weights_scratch, label, err);
		if (!rc && s->want_db)
			rc = du_mem_create(&s->db, &d.b_md, k->env, label, err);
	}
	if (!rc)
		exec_scratch_request(k->env, data_scratch > weights_scratch ?
				     data_scratch : weights_scratch);
	return rc;
}

static int conv_grad_prepare(op_kernel *k, sc_error *err)
{
	conv_grad_state *s = calloc(1, sizeof *s);
	if (!s)
		return op_fail(k, err, SC_ENOMEM, "out of memory");
	k->state = s;
	du_label(k, s->label, sizeof s->label);
	const sc_tensor *dy = k->in[0], *x = k->in[1], *wt = k->in[2];
	for (int i = 0; i < 3; i++)
		if (k->in[i]->dtype != SC_FLOAT)
			return op_fail(k, err, tensor_dtype_is_float(k->in[i]->dtype) ?
				       SC_EUNSUPPORTED : SC_EINVAL,
				       "input %d is %s; only float32 is supported", i,
				       tensor_dtype_name(k->in[i]->dtype));
	if (x->rank < 3 || x->rank != wt->rank)
		return op_fail(k, err, SC_EINVAL,
			       "X has rank %d and W rank %d; both need the same rank >= 3",
			       x->rank, wt->rank);
	int64_t group = infer_attr_int(k->node, "group", 1);
	int64_t c = x->dims[1], m = wt->dims[0];
	if (group < 1 || wt->dims[1] * group != c || m % group)
		return op_fail(k, err, SC_EINVAL,
			       "X has %lld channels and W is [%lld, %lld, ...] with group %lld",
			       (long long)c, (long long)m, (long long)wt->dims[1],
			       (long long)group);
	du_window w;
	int rc = du_window_init(&w, k, x, wt->dims + 2, 0, s->label, err);
	if (rc)
		return rc;
	int64_t ydims[SC_MAX_RANK];
	ydims[0] = x->dims[0];
	ydims[1] = m;
	for (int i = 0; i < w.ns; i++) {
		if (w.kernel[i] != wt->dims[2 + i])
			return op_fail(k, err, SC_EINVAL,
				       "kernel_shape[%d] is %lld but W has %lld taps there",
				       i, (long long)w.kernel[i],
				       (long long)wt->dims[2 + i]);
		ydims[2 + i] = w.out[i];
	}
	if ((rc = check_dy(k, dy, x->rank, ydims, err)))
		return rc;
	s->want_dx = has_out(k, 0);
	s->want_dw = has_out(k, 1);
	s->want_db = has_out(k, 2);
	if (s->want_dx && (rc = tensor_set_shape(k->out[0], SC_FLOAT, x->rank,
						 x->dims, s->label, err)))
		return rc;
	if (s->want_dw && (rc = tensor_set_shape(k->out[1], SC_FLOAT, wt->rank,
						 wt->dims, s->label, err)))
		return rc;
	if (s->want_db && (rc = tensor_set_shape(k->out[2], SC_FLOAT, 1, &m,
						 s->label, err)))
		return rc;
	s->n = dy->dims[0];
	s->m = m;
	s->inner = 1;
	for (int i = 2; i < dy->rank; i++)
		s->inner *= dy->dims[i];
	s->empty = !x->numel || !wt->numel || !dy->numel;
	if (s->want_db && (s->empty || !s->want_dw)) {
		/* dB by the plain loop */
		size_t scratch = 0;
		rc = du_plain_copy_init(&s->dy_plain, k, 0, &scratch, s->label, err);
		exec_scratch_request(k->env, scratch);
		if (rc)
			return rc;
	}
	if (s->empty || (!s->want_dx && !s->want_dw))
		return SC_OK;
	return conv_grad_build(k, s, &w, group, err);
}

/* dY as the dB loop reads it: plain. */
static const sc_tensor *conv_grad_dy_plain(op_kernel *k, conv_grad_state *s,
					   sc_tensor *tmp, sc_error *err)
{
	return du_plain_copy_run(&s->dy_plain, k, 0, tmp, s->label, err);
}

/* dB = sum of dY over N and the spatial axes. */
static void conv_grad_bias_loop(const conv_grad_state *s, const sc_tensor *dy,
				float *db)
{
	const float *g = dy->data;
	#pragma omp parallel for if (dy->numel > 32768)
	for (int64_t ch = 0; ch < s->m; ch++) {
		double acc = 0;
		for (int64_t b = 0; b < s->n; b++) {
			const float *p = g + (b * s->m + ch) * s->inner;
			for (int64_t j = 0; j < s->inner; j++)
				acc += p[j];
		}
		db[ch] = (float)acc;
	}
}

static int conv_grad_run(op_kernel *k, sc_error *err)
{
	conv_grad_state *s = k->state;
	const sc_tensor *dy = k->in[0], *x = k->in[1], *wt = k->in[2];
	int rc = SC_OK;
	if (s->empty) {
		for (int i = 0; i < 3; i++)
			if (has_out(k, i) && k->out[i]->nbytes)
				memset(k->out[i]->data, 0, k->out[i]->nbytes);
		if (s->want_db && dy->numel) {
			sc_tensor tmp;
			const sc_tensor *g = conv_grad_dy_plain(k, s, &tmp, err);
			if (!g)
				return err->code;
			conv_grad_bias_loop(s, g, k->out[2]->data);
		}
		return SC_OK;
	}
	if (s->want_dx) {
		rc = du_operand_before(&s->d_dy, k->env, dy->data, s->label, err);
		if (!rc)
			rc = du_operand_before(&s->d_w, k->env, wt->data, s->label, err);
		if (!rc)
			rc = du_operand_before(&s->d_dx, k->env, k->out[0]->data,
					       s->label, err);
		dnnl_exec_arg_t args[3] = {
			{DNNL_ARG_DIFF_DST, s->d_dy.mem},
			{DNNL_ARG_WEIGHTS, s->d_w.mem},
			{DNNL_ARG_DIFF_SRC, s->d_dx.mem},
		};
		if (!rc)
			rc = du_prim_exec(&s->bwd_data, k->env, 3, args, s->label, err);
		if (!rc)
			rc = du_operand_after(&s->d_dx, k->env, k->out[0]->data,
					      s->label, err);
		if (rc)
			return rc;
	}
	if (s->want_dw) {
		rc = du_operand_before(&s->w_x, k->env, x->data, s->label, err);
		if (!rc)
			rc = du_operand_before(&s->w_dy, k->env, dy->data, s->label, err);
		if (!rc)
			rc = du_operand_before(&s->w_dw, k->env, k->out[1]->data,
					       s->label, err);
		if (!rc && s->want_db)
			rc = du_mem_bind(s->db, k->out[2]->data, s->label, err);
		dnnl_exec_arg_t args[4] = {
			{DNNL_ARG_SRC, s->w_x.mem},
			{DNNL_ARG_DIFF_DST, s->w_dy.mem},
			{DNNL_ARG_DIFF_WEIGHTS, s->w_dw.mem},
			{DNNL_ARG_DIFF_BIAS, s->db},
		};
		if (!rc)
			rc = du_prim_exec(&s->bwd_weights, k->env, s->want_db ? 4 : 3,
					  args, s->label, err);
		if (!rc)
			rc = du_operand_after(&s->w_dw, k->env, k->out[1]->data,
					      s->label, err);
		return rc;
	}
	if (s->want_db) {
		sc_tensor tmp;
		const sc_tensor *g = conv_grad_dy_plain(k, s, &tmp, err);
		if (!g)
			return err->code;
		conv_grad_bias_loop(s, g, k->out[2]->data);
	}
	return SC_OK;
}

/* --- pooling backward ------------------------------------------------------- */

static const op_attr_spec pool_grad_attrs[] = {
	{"auto_pad", ATTR_STRING},
	{"ceil_mode", ATTR_INT},
	{"count_include_pad", ATTR_INT},
	{"dilations", ATTR_INTS},
	{"kernel_shape", ATTR_INTS},
	{"pads", ATTR_INTS},
	{"strides", ATTR_INTS},
	{NULL, 0},
};

/* dX has X's type; dY only has to agree on the dtype. */
static int pool_grad_infer(graph *g, const graph_node *n, int64_t opset,
			   sc_error *err)
{
	(void)opset;
	infer_tensor dy, x;
	infer_input(g, n, 0, &dy);
	infer_input(g, n, 1, &x);
	int elem, rc = infer_unify_elem(g, n, 0, dy.elem, 1, x.elem, &elem, err);
	if (rc)
		return rc;
	x.elem = elem;
	return infer_set_output(g, n, 0, &x, err);
}

enum { PG_MAX, PG_AVG };

typedef struct pool_grad_state {
	char label[192];
	int kind;
	int include_pad;
	du_window w;               /* padded to DU_MAX_SPATIAL axes */
	int64_t planes;            /* N * C */
	int64_t in[DU_MAX_SPATIAL];
	/* oneDNN path: MaxPool runs its forward again for the workspace
	 * (the winners), then the backward */
	int use_dnnl;
	du_prim fwd, bwd;
	dnnl_memory_t x_mem, y_mem, ws_mem;
	du_operand dy, dx;
	size_t y_off, ws_off;
	dnnl_memory_desc_t dx_md;  /* dX's layout when it is not plain (out_md) */
	/* GlobalAveragePoolGrad: dY / count broadcast straight into dX */
	int broadcast;
	du_chan_layout dx_layout;
	/* the plain loop's inputs when they arrive blocked */
	du_plain_copy dy_plain, x_plain;
} pool_grad_state;

static void pool_grad_release(op_kernel *k)
{
	pool_grad_state *s = k->state;
	if (!s)
		return;
	du_prim_destroy(&s->fwd);
	du_prim_destroy(&s->bwd);
	dnnl_memory_t *mems[] = {&s->x_mem, &s->y_mem, &s->ws_mem};
	for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
		if (*mems[i])
			dnnl_memory_destroy(*mems[i]);
	du_operand_destroy(&s->dy);
	du_operand_destroy(&s->dx);
	du_plain_copy_destroy(&s->dy_plain);
	du_plain_copy_destroy(&s->x_plain);
	free(s);
	k->state = NULL;
}

/* Taps of the window at output position o along axis i that land on the
 * input extended by the declared pads (count_include_pad's divisor). */
static int64_t pg_padded_taps(const du_window *w, const int64_t *in, int i,
			      int64_t o)
{
	int64_t n = 0;
	for (int64_t a = 0; a < w->kernel[i]; a++) {
		int64_t at = o * w->stride[i] - w->pad_l[i] + a * w->dilation[i];
		n += at >= -w->pad_l[i] && at < in[i] + w->pad_r[i];
	}
	return n;
}

/* Input position along axis i of tap a of window o, or -1 outside X. */
static int64_t pg_tap(const du_window *w, const int64_t *in, int i, int64_t o,
		      int64_t a)
{
	int64_t at = o * w->stride[i] - w->pad_l[i] + a * w->dilation[i];
	return at >= 0 && at < in[i] ? at : -1;
}

/* dx[i] += v for a float32 or float64 plane. */
static inline void pg_add(void *dx, int dtype, int64_t i, double v)
{
	if (dtype == SC_DOUBLE)
		((double *)dx)[i] += v;
	else
		((float *)dx)[i] += (float)v;
}

/* Spreads dY of one window of plane `base` into dx, that plane's part of
 * dX. */
static void pg_window(const pool_grad_state *s, const void *x, int dtype,
		      int64_t base, const int64_t *o, double g, void *dx)
{
	const du_window *w = &s->w;
	const int64_t *in = s->in;
	double best = -INFINITY;
	int64_t best_at = -1, count = 0;
	/* max: find the winner; avg: count the taps inside X */
	for (int64_t a = 0; a < w->kernel[0]; a++) {
		int64_t i0 = pg_tap(w, in, 0, o[0], a);
		if (i0 < 0)
			continue;
		for (int64_t b = 0; b < w->kernel[1]; b++) {
			int64_t i1 = pg_tap(w, in, 1, o[1], b);
			if (i1 < 0)
				continue;
			for (int64_t c = 0; c < w->kernel[2]; c++) {
				int64_t i2 = pg_tap(w, in, 2, o[2], c);
				if (i2 < 0)
					continue;
				int64_t at = (i0 * in[1] + i1) * in[2] + i2;
				count++;
				if (s->kind == PG_MAX) {
					double v = du_load(x, dtype, base + at);
					if (v > best || best_at < 0) {
						best = v;
						best_at = at;
					}
				}
			}
		}
	}
	if (s->kind == PG_MAX) {
		if (best_at >= 0)
			pg_add(dx, dtype, best_at, g);
		return;
	}
	if (s->include_pad)
		count = pg_padded_taps(w, in, 0, o[0]) * pg_padded_taps(w, in, 1, o[1]) *
			pg_padded_taps(w, in, 2, o[2]);
	if (!count)
		return;
	double share = g / (double)count;
	for (int64_t a = 0; a < w->kernel[0]; a++) {
		int64_t i0 = pg_tap(w, in, 0, o[0], a);
		if (i0 < 0)
			continue;
		for (int64_t b = 0; b < w->kernel[1]; b++) {
			int64_t i1 = pg_tap(w, in, 1, o[1], b);
			if (i1 < 0)
				continue;
			for (int64_t c = 0; c < w->kernel[2]; c++) {
				int64_t i2 = pg_tap(w, in, 2, o[2], c);
				if (i2 >= 0)
					pg_add(dx, dtype, (i0 * in[1] + i1) * in[2] + i2,
					       share);
			}
		}
	}
}

/* oneDNN's pooling backward for float32 MaxPool and AveragePool, in the
 * layout X arrives in.  The forward pass is described (and for MaxPool
 * run again into scratch) because the backward needs it: its descriptor
 * as a hint, and the workspace recording each window's winner. */
static int pool_grad_build(op_kernel *k, pool_grad_state *s, sc_error *err)
{
	const sc_tensor *dy = k->in[0], *x = k->in[1];
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
		rc = du_plain_md(&y_plain, dy->rank, dy->dims, dnnl_f32, s->label, err);
	if (!rc)
		rc = du_check(dnnl_memory_desc_init_by_tag(&y_any, dy->rank, y_plain.dims,
							   dnnl_f32, dnnl_format_tag_any),
			      s->label, "describing dY", err);
	if (rc)
		return rc;
	const dnnl_memory_desc_t *x_md = du_input_md(k, 1, &x_plain);
	dnnl_alg_kind_t alg = s->kind == PG_MAX ? dnnl_pooling_max :
			      s->include_pad ? dnnl_pooling_avg_include_padding :
			      dnnl_pooling_avg_exclude_padding;
	dnnl_pooling_v2_desc_t fd, bd;
	rc = du_check(dnnl_pooling_v2_forward_desc_init(&fd, dnnl_forward_training,
							alg, x_md, &y_any, strides,
							kernel, dil, pl, pr),
		      s->label, "describing the forward pooling", err);
	size_t scratch = 0;
	if (!rc)
		rc = du_prim_create(&s->fwd, &fd, NULL, k->env, &scratch, s->label,
				    err);
	if (rc)
		return rc;
	const dnnl_memory_desc_t *y_md = du_prim_md(&s->fwd, dnnl_query_dst_md, 0);
	rc = du_check(dnnl_pooling_v2_backward_desc_init(&bd, alg, x_md, y_md,
							 strides, kernel, dil, pl, pr),
		      s->label, "describing the backward pooling", err);
	if (!rc)
		rc = dg_prim_create(&s->bwd, &bd, s->fwd.pd, k->env, &scratch,
				    s->label, err);
	if (rc)
		return rc;
	const dnnl_memory_desc_t *ws_md = du_prim_md(&s->fwd, dnnl_query_workspace_md, 0);
	size_t ws_bytes = ws_md ? dnnl_memory_desc_get_size(ws_md) : 0;
	const dnnl_memory_desc_t *dx_chosen = du_prim_md(&s->bwd, dnnl_query_diff_src_md, 0);
	rc = du_operand_init(&s->dy, DU_IN, du_input_md(k, 0, &y_plain),
			     du_prim_md(&s->bwd, dnnl_query_diff_dst_md, 0), NULL,
			     k->env, &scratch, s->label, err);
	if (!rc)
		rc = du_operand_init(&s->dx, DU_OUT,
				     du_output_md(k, dx_chosen, &x_plain, &s->dx_md),
				     dx_chosen, NULL, k->env, &scratch, s->label, err);
	if (!rc && ws_bytes) {
		rc = du_mem_create(&s->x_mem, x_md, k->env, s->label, err);
		if (!rc)
			rc = du_mem_create(&s->y_mem, y_md, k->env, s->label, err);
		if (!rc)
			rc = du_mem_create(&s->ws_mem, ws_md, k->env, s->label, err);
		s->y_off = du_scratch_take(&scratch, dnnl_memory_desc_get_size(y_md));
		s->ws_off = du_scratch_take(&scratch, ws_bytes);
	}
	if (!rc)
		exec_scratch_request(k->env, scratch);
	return rc;
}

/* GlobalAveragePoolGrad writes dY / count into every position of dX,
 * blocked when the planner allows. */
static int pool_grad_broadcast_build(op_kernel *k, pool_grad_state *s,
				     sc_error *err)
{
	const sc_tensor *x = k->in[1];
	dnnl_memory_desc_t x_plain, x_blocked;
	int rc = du_plain_md(&x_plain, x->rank, x->dims, dnnl_f32, s->label, err);
	if (rc)
		return rc;
	const dnnl_memory_desc_t *held = &x_plain;
	if (k->out_may_block && x->rank >= 3 && x->rank <= 5) {
		rc = du_activation_md(&x_blocked, x->rank, x->dims, 1, s->label, err);
		if (rc)
			return rc;
		if (x_blocked.format_kind == dnnl_blocked)
			held = du_output_md(k, &x_blocked, &x_plain, &s->dx_md);
	}
	int64_t inner = s->in[0] * s->in[1] * s->in[2];
	if (!du_chan_layout_of(held == &x_plain ? NULL : held, x->dims[0],
			       x->dims[1], inner, &s->dx_layout))
		return op_fail(k, err, SC_EINTERNAL, "no loop for dX's layout");
	s->broadcast = 1;
	size_t scratch = 0;
	rc = du_plain_copy_init(&s->dy_plain, k, 0, &scratch, s->label, err);
	exec_scratch_request(k->env, scratch);
	return rc;
}

/* Pads the window to three spatial axes, checks dY and sizes dX, then
 * picks the kernel: oneDNN for float32 where it computes what ONNX
 * does, the broadcast for float32 GlobalAveragePool, else the loop. */
static int pool_grad_finish(op_kernel *k, pool_grad_state *s, int global,
			    sc_error *err)
{
	const sc_tensor *dy = k->in[0], *x = k->in[1];
	int64_t ydims[SC_MAX_RANK];
	ydims[0] = x->dims[0];
	ydims[1] = x->dims[1];
	for (int i = 0; i < s->w.ns; i++)
		ydims[2 + i] = s->w.out[i];
	int rc = check_dy(k, dy, x->rank, ydims, err);
	if (rc)
		return rc;
	s->planes = x->dims[0] * x->dims[1];
	for (int i = 0; i < s->w.ns; i++)
		s->in[i] = x->dims[2 + i];
	int extends = 0;
	for (int i = 0; i < s->w.ns; i++)
		extends |= s->w.pad_r_ext[i] != s->w.pad_r[i];
	for (int i = s->w.ns; i < DU_MAX_SPATIAL; i++) {
		s->in[i] = 1;
		s->w.kernel[i] = s->w.stride[i] = s->w.dilation[i] = 1;
		s->w.pad_l[i] = s->w.pad_r[i] = s->w.pad_r_ext[i] = 0;
		s->w.out[i] = 1;
	}
	if ((rc = tensor_set_shape(k->out[0], x->dtype, x->rank, x->dims, s->label,
				   err)))
		return rc;
	int f32 = x->dtype == SC_FLOAT && x->numel > 0 && dy->numel > 0;
	if (f32 && global && s->kind == PG_AVG)
		return pool_grad_broadcast_build(k, s, err);
	s->use_dnnl = f32 && !global && x->rank >= 3 && x->rank <= 5 &&
		      !(s->kind == PG_AVG && s->include_pad && extends);
	if (s->use_dnnl)
		return pool_grad_build(k, s, err);
	size_t scratch = 0;
	rc = du_plain_copy_init(&s->dy_plain, k, 0, &scratch, s->label, err);
	if (!rc)
		rc = du_plain_copy_init(&s->x_plain, k, 1, &scratch, s->label, err);
	exec_scratch_request(k->env, scratch);
	return rc;
}

static int pool_grad_dtypes(op_kernel *k, sc_error *err)
{
	const sc_tensor *dy = k->in[0], *x = k->in[1];
	if (x->dtype != SC_FLOAT && x->dtype != SC_DOUBLE)
		return op_fail(k, err, SC_EUNSUPPORTED,
			       "X is %s; the pooling gradient takes float32 or float64",
			       tensor_dtype_name(x->dtype));
	if (dy->dtype != x->dtype)
		return op_fail(k, err, SC_EINVAL, "dY is %s but X is %s",
			       tensor_dtype_name(dy->dtype),
			       tensor_dtype_name(x->dtype));
	return SC_OK;
}

static int pool_grad_prepare(op_kernel *k, sc_error *err)
{
	pool_grad_state *s = calloc(1, sizeof *s);
	if (!s)
		return op_fail(k, err, SC_ENOMEM, "out of memory");
	k->state = s;
	du_label(k, s->label, sizeof s->label);
	int rc = pool_grad_dtypes(k, err);
	if (rc)
		return rc;
	s->kind = strcmp(k->node->op_type, "MaxPoolGrad") == 0 ? PG_MAX : PG_AVG;
	s->include_pad = s->kind == PG_AVG &&
			 infer_attr_int(k->node, "count_include_pad", 0) != 0;
	int ceil_mode = infer_attr_int(k->node, "ceil_mode", 0) != 0;
	rc = du_window_init(&s->w, k, k->in[1], NULL, ceil_mode, s->label, err);
	if (rc)
		return rc;
	return pool_grad_finish(k, s, 0, err);
}

static int global_pool_grad_prepare(op_kernel *k, sc_error *err)
{
	pool_grad_state *s = calloc(1, sizeof *s);
	if (!s)
		return op_fail(k, err, SC_ENOMEM, "out of memory");
	k->state = s;
	du_label(k, s->label, sizeof s->label);
	int rc = pool_grad_dtypes(k, err);
	if (rc)
		return rc;
	const sc_tensor *x = k->in[1];
	s->kind = strcmp(k->node->op_type, "GlobalMaxPoolGrad") == 0 ? PG_MAX : PG_AVG;
	if (x->rank < 2)
		return op_fail(k, err, SC_EINVAL,
			       "X has rank %d, expected at least 2 (N, C, ...)", x->rank);
	if (x->rank - 2 > DU_MAX_SPATIAL)
		return op_fail(k, err, SC_EUNSUPPORTED,
			       "%d spatial axes; at most %d are supported",
			       x->rank - 2, DU_MAX_SPATIAL);
	s->w.ns = x->rank - 2;
	for (int i = 0; i < s->w.ns; i++) {
		s->w.kernel[i] = x->dims[2 + i];
		s->w.stride[i] = s->w.dilation[i] = s->w.out[i] = 1;
		if (x->dims[2 + i] == 0)
			return op_fail(k, err, SC_EINVAL, "spatial axis %d is empty", i);
	}
	return pool_grad_finish(k, s, 1, err);
}

static int pool_grad_run_dnnl(op_kernel *k, pool_grad_state *s, sc_error *err)
{
	int rc = SC_OK;
	if (s->ws_mem) {
		rc = du_mem_bind(s->x_mem, k->in[1]->data, s->label, err);
		if (!rc)
			rc = du_mem_bind(s->y_mem, du_scratch_at(k->env, s->y_off),
					 s->label, err);
		if (!rc)
			rc = du_mem_bind(s->ws_mem, du_scratch_at(k->env, s->ws_off),
					 s->label, err);
		dnnl_exec_arg_t fargs[3] = {
			{DNNL_ARG_SRC, s->x_mem},
			{DNNL_ARG_DST, s->y_mem},
			{DNNL_ARG_WORKSPACE, s->ws_mem},
		};
		if (!rc)
			rc = du_prim_exec(&s->fwd, k->env, 3, fargs, s->label, err);
	}
	if (!rc)
		rc = du_operand_before(&s->dy, k->env, k->in[0]->data, s->label, err);
	if (!rc)
		rc = du_operand_before(&s->dx, k->env, k->out[0]->data, s->label, err);
	if (rc)
		return rc;
	dnnl_exec_arg_t args[3] = {
		{DNNL_ARG_DIFF_DST, s->dy.mem},
		{DNNL_ARG_DIFF_SRC, s->dx.mem},
		{DNNL_ARG_WORKSPACE, s->ws_mem},
	};
	rc = du_prim_exec(&s->bwd, k->env, s->ws_mem ? 3 : 2, args, s->label, err);
	if (!rc)
		rc = du_operand_after(&s->dx, k->env, k->out[0]->data, s->label, err);
	return rc;
}

/* dX[b, c, s] = dY[b, c] / count in dX's layout; padding channels of a
 * blocked dX stay zero. */
static void pool_grad_run_broadcast(op_kernel *k, const pool_grad_state *s,
				    const float *dy)
{
	sc_tensor *dx = k->out[0];
	const du_chan_layout *l = &s->dx_layout;
	int64_t n = dx->dims[0], c = dx->dims[1];
	int64_t inner = s->in[0] * s->in[1] * s->in[2];
	float *d = dx->data;
	float scale = 1.0f / (float)inner;
	if (dx->nbytes > (size_t)dx->numel * sizeof(float))
		memset(d, 0, dx->nbytes);
	#pragma omp parallel for collapse(2) if (dx->numel > 32768)
	for (int64_t b = 0; b < n; b++)
		for (int64_t ch = 0; ch < c; ch++) {
			float v = dy[b * c + ch] * scale;
			float *p = d + b * l->sn + ch / l->block * l->scb + ch % l->block;
			for (int64_t j = 0; j < inner; j++)
				p[j * l->ss] = v;
		}
}

static int pool_grad_run(op_kernel *k, sc_error *err)
{
	pool_grad_state *s = k->state;
	if (s->use_dnnl)
		return pool_grad_run_dnnl(k, s, err);
	sc_tensor t0, t1;
	const sc_tensor *dy = du_plain_copy_run(&s->dy_plain, k, 0, &t0, s->label,
						err);
	if (!dy)
		return err->code;
	if (s->broadcast) {
		pool_grad_run_broadcast(k, s, dy->data);
		return SC_OK;
	}
	const sc_tensor *x = du_plain_copy_run(&s->x_plain, k, 1, &t1, s->label,
					       err);
	if (!x)
		return err->code;
	sc_tensor *dx = k->out[0];
	const du_window *w = &s->w;
	int64_t per_in = s->in[0] * s->in[1] * s->in[2];
	int64_t per_out = w->out[0] * w->out[1] * w->out[2];
	size_t esize = tensor_dtype_size(dx->dtype);
	if (dx->nbytes)
		memset(dx->data, 0, dx->nbytes);
	#pragma omp parallel for if (s->planes * per_out > 4096)
	for (int64_t p = 0; p < s->planes; p++) {
		void *d = (char *)dx->data + (size_t)(p * per_in) * esize;
		for (int64_t j = 0; j < per_out; j++) {
			int64_t o[3] = {j / (w->out[1] * w->out[2]),
					j / w->out[2] % w->out[1], j % w->out[2]};
			double g = du_load(dy->data, dy->dtype, p * per_out + j);
			pg_window(s, x->data, x->dtype, p * per_in, o, g, d);
		}
	}
	return SC_OK;
}

/* --- BatchNormalizationGrad -------------------------------------------------- */

static const op_attr_spec bn_grad_attrs[] = {
	{"epsilon", ATTR_FLOAT},
	{"spatial", ATTR_INT},
	{"training_mode", ATTR_INT},
	{NULL, 0},
};

static int bn_grad_infer(graph *g, const graph_node *n, int64_t opset,
			 sc_error *err)
{
	(void)opset;
	infer_tensor dy, x, p;
	infer_input(g, n, 0, &dy);
	infer_input(g, n, 1, &x);
	infer_input(g, n, 2, &p);
	int elem, rc = infer_unify_elem(g, n, 0, dy.elem, 1, x.elem, &elem, err);
	if (rc)
		return rc;
	x.elem = elem;
	rc = infer_set_output(g, n, 0, &x, err);
	if (!rc)
		rc = infer_set_output(g, n, 1, &p, err);
	if (!rc)
		rc = infer_set_output(g, n, 2, &p, err);
	return rc;
}

typedef struct bn_grad_state {
	char label[192];
	int training, use_dnnl;
	int sync;                  /* global batch statistics (dist.h) */
	size_t sync_off;           /* sync: 4 C + 1 doubles of scratch */
	size_t dyp_off;            /* sync, oneDNN: dY' in dY's layout */
	float epsilon;
	int64_t n, c, inner;       /* X seen as [N, C, inner] */
	du_prim bwd;
	du_operand dy, dx;         /* in X's layout for the primitive */
	dnnl_memory_t src, scale, mean, var, dscale, dshift;
	du_chan_layout x_layout;   /* for the batch statistics */
	dnnl_memory_desc_t dx_md;  /* dX's layout when it is not plain (out_md) */
	size_t mean_off, var_off, dscale_off, dshift_off, dx_off, work_off;
	du_plain_copy dy_plain, x_plain;   /* the plain loop's inputs */
} bn_grad_state;

static void bn_grad_release(op_kernel *k)
{
	bn_grad_state *s = k->state;
	if (!s)
		return;
	du_prim_destroy(&s->bwd);
	du_operand_destroy(&s->dy);
	du_operand_destroy(&s->dx);
	du_plain_copy_destroy(&s->dy_plain);
	du_plain_copy_destroy(&s->x_plain);
	dnnl_memory_t *mems[] = {&s->src, &s->scale, &s->mean, &s->var,
				 &s->dscale, &s->dshift};
	for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
		if (*mems[i])
			dnnl_memory_destroy(*mems[i]);
	free(s);
	k->state = NULL;
}

/* oneDNN's batch-norm backward (training, float32), computing in X's
 * layout as it arrives (blocked from a blocked forward).  The batch
 * statistics it needs are recomputed from X into scratch at each run
 * (du_bn_stats: one pass over X), and dscale/dB go through scratch when
 * the node does not want them. */
static int bn_grad_build(op_kernel *k, bn_grad_state *s, sc_error *err)
{
	dnnl_memory_desc_t x_plain, p_md;
	int rc = du_bn_mds(k->in[1], s->n, s->c, s->inner, &x_plain, &p_md,
			   s->label, err);
	if (rc)
		return rc;
	const dnnl_memory_desc_t *x_md = du_input_md(k, 1, &x_plain);
	if (!du_chan_layout_of(x_md == &x_plain ? NULL : x_md, s->n, s->c,
			       s->inner, &s->x_layout))
		return op_fail(k, err, SC_EINTERNAL, "X arrives in a layout the "
			       "statistics loop does not walk");
	unsigned flags = dnnl_use_scale | dnnl_use_shift;
	if (s->sync)
		flags |= dnnl_use_global_stats;
	dnnl_batch_normalization_desc_t fd, bd;
	rc = du_check(dnnl_batch_normalization_forward_desc_init(&fd,
			dnnl_forward_training, x_md, s->epsilon, flags),
		      s->label, "describing the forward batch normalization", err);
	dnnl_primitive_desc_t hint = NULL;
	if (!rc) {
		dnnl_primitive_attr_t attr;
		rc = du_attr_create(&attr, s->label, err);
		if (!rc) {
			rc = du_check(dnnl_primitive_desc_create(&hint, &fd, attr,
								 k->env->engine, NULL),
				      s->label, "creating the forward hint", err);
			dnnl_primitive_attr_destroy(attr);
		}
	}
	if (!rc)
		rc = du_check(dnnl_batch_normalization_backward_desc_init(&bd,
				dnnl_backward, x_md, x_md, s->epsilon, flags),
			      s->label, "describing the backward batch normalization",
			      err);
	size_t scratch = 0;
	if (!rc)
		rc = dg_prim_create(&s->bwd, &bd, hint, k->env, &scratch, s->label,
				    err);
	if (hint)
		dnnl_primitive_desc_destroy(hint);
	if (rc)
		return rc;
	const dnnl_memory_desc_t *dx_chosen =
		du_prim_md(&s->bwd, dnnl_query_diff_src_md, 0);
	rc = du_operand_init(&s->dy, DU_IN, du_input_md(k, 0, &x_plain),
			     du_prim_md(&s->bwd, dnnl_query_diff_dst_md, 0), NULL,
			     k->env, &scratch, s->label, err);
	if (!rc)
		rc = du_operand_init(&s->dx, DU_OUT,
				     has_out(k, 0) ? du_output_md(k, dx_chosen, &x_plain,
								  &s->dx_md) :
				     dx_chosen,
				     dx_chosen, NULL, k->env, &scratch, s->label, err);
	if (!rc)
		rc = du_mem_create(&s->src, x_md, k->env, s->label, err);
	dnnl_memory_t *mems[] = {&s->scale, &s->mean, &s->var, &s->dscale,
				 &s->dshift};
	for (size_t i = 0; i < sizeof mems / sizeof mems[0] && !rc; i++)
		rc = du_mem_create(mems[i], &p_md, k->env, s->label, err);
	if (rc)
		return rc;
	size_t pbytes = (size_t)s->c * sizeof(float);
	s->mean_off = du_scratch_take(&scratch, pbytes);
	s->var_off = du_scratch_take(&scratch, pbytes);
	s->dscale_off = du_scratch_take(&scratch, pbytes);
	s->dshift_off = du_scratch_take(&scratch, pbytes);
	s->work_off = du_scratch_take(&scratch, du_bn_stats_work(s->c) * sizeof(double));
	if (s->sync) {
		s->sync_off = du_scratch_take(&scratch, (4 * (size_t)s->c + 1) *
					      sizeof(double));
		s->dyp_off = du_scratch_take(&scratch, dnnl_memory_desc_get_size(
						     du_input_md(k, 0, &x_plain)));
	}
	if (!has_out(k, 0))
		s->dx_off = du_scratch_take(&scratch, dnnl_memory_desc_get_size(dx_chosen));
	exec_scratch_request(k->env, scratch);
	return SC_OK;
}

/* The synchronised oneDNN path walks dY and X together in one layout
 * (du_chan_layout) of at most 64-channel blocks. */
static int bn_sync_walkable(const op_kernel *k, const bn_grad_state *s)
{
	const dnnl_memory_desc_t *dy = k->in_md[0], *x = k->in_md[1];
	if ((dy == NULL) != (x == NULL) || (dy && !dnnl_memory_desc_equal(dy, x)))
		return 0;
	du_chan_layout l;
	return du_chan_layout_of(x, s->n, s->c, s->inner, &l) && l.block <= 64;
}

static int bn_grad_prepare(op_kernel *k, sc_error *err)
{
	bn_grad_state *s = calloc(1, sizeof *s);
	if (!s)
		return op_fail(k, err, SC_ENOMEM, "out of memory");
	k->state = s;
	du_label(k, s->label, sizeof s->label);
	const sc_tensor *dy = k->in[0], *x = k->in[1];
	if (x->dtype != SC_FLOAT && x->dtype != SC_DOUBLE)
		return op_fail(k, err, SC_EUNSUPPORTED,
			       "X is %s; the gradient takes float32 or float64",
			       tensor_dtype_name(x->dtype));
	if (x->rank < 2)
		return op_fail(k, err, SC_EINVAL,
			       "X has rank %d, expected at least 2 (N, C, ...)", x->rank);
	if (dy->dtype != x->dtype || !same_dims(dy, x->rank, x->dims))
		return op_fail(k, err, SC_EINVAL, "dY must have X's dtype and shape");
	s->training = infer_attr_int(k->node, "training_mode", 0) != 0;
	s->epsilon = infer_attr_float(k->node, "epsilon", 1e-5f);
	s->n = x->dims[0];
	s->c = x->dims[1];
	s->inner = 1;
	for (int i = 2; i < x->rank; i++)
		s->inner *= x->dims[i];
	if (!infer_attr_int(k->node, "spatial", 1)) {
		s->c *= s->inner;
		s->inner = 1;
	}
	static const char *const names[] = {"dY", "X", "scale", "mean", "var"};
	for (int i = 2; i < 5; i++) {
		const sc_tensor *p = i < k->n_in ? k->in[i] : NULL;
		if (!p)
			return op_fail(k, err, SC_EINVAL, "input %d (%s) is missing",
				       i, names[i]);
		if (p->numel != s->c || (p->dtype != SC_FLOAT && p->dtype != SC_DOUBLE))
			return op_fail(k, err, SC_EINVAL,
				       "%s is %s with %lld values, expected float with %lld",
				       names[i], tensor_dtype_name(p->dtype),
				       (long long)p->numel, (long long)s->c);
	}
	const sc_tensor *sc = k->in[2];
	int rc = SC_OK;
	if (has_out(k, 0))
		rc = tensor_set_shape(k->out[0], x->dtype, x->rank, x->dims, s->label,
				      err);
	for (int i = 1; i < 3 && !rc; i++)
		if (has_out(k, i))
			rc = tensor_set_shape(k->out[i], sc->dtype, sc->rank, sc->dims,
					      s->label, err);
	if (rc)
		return rc;
	/* a blocked X is only ever [N, C, ...] with C the channels, never
	 * the [N, C * inner] view of spatial = 0 */
	int blocked = (k->in_md[0] || k->in_md[1]);
	s->sync = s->training && dist_bn_sync_active();
	s->use_dnnl = s->training && x->dtype == SC_FLOAT &&
		      sc->dtype == SC_FLOAT && x->numel > 0 &&
		      (!blocked || (x->rank <= 5 && s->c == x->dims[1])) &&
		      (!s->sync || bn_sync_walkable(k, s));
	if (s->use_dnnl)
		return bn_grad_build(k, s, err);
	size_t scratch = 0;
	rc = du_plain_copy_init(&s->dy_plain, k, 0, &scratch, s->label, err);
	if (!rc)
		rc = du_plain_copy_init(&s->x_plain, k, 1, &scratch, s->label, err);
	if (s->sync)
		s->sync_off = du_scratch_take(&scratch, (4 * (size_t)s->c + 1) *
					      sizeof(double));
	exec_scratch_request(k->env, scratch);
	return rc;
}

/* Both modes in double, per channel. */
static void bn_grad_loop(op_kernel *k, const bn_grad_state *s,
			 const sc_tensor *dy, const sc_tensor *x)
{
	const sc_tensor *sc = k->in[2];
	int64_t count = s->n * s->inner;
	#pragma omp parallel for if (x->numel > 32768)
	for (int64_t ch = 0; ch < s->c; ch++) {
		double mean, var;
		if (s->training) {
			du_channel_stats(x, s->n, s->c, s->inner, ch, &mean, &var);
		} else {
			mean = du_load(k->in[3]->data, k->in[3]->dtype, ch);
			var = du_load(k->in[4]->data, k->in[4]->dtype, ch);
		}
		double inv = 1.0 / sqrt(var + (double)s->epsilon);
		double sum_dy = 0, sum_dy_xhat = 0;
		for (int64_t b = 0; b < s->n; b++) {
			int64_t base = (b * s->c + ch) * s->inner;
			for (int64_t j = 0; j < s->inner; j++) {
				double g = du_load(dy->data, dy->dtype, base + j);
				double xh = (du_load(x->data, x->dtype, base + j) - mean) * inv;
				sum_dy += g;
				sum_dy_xhat += g * xh;
			}
		}
		if (has_out(k, 1))
			du_store(k->out[1]->data, k->out[1]->dtype, ch, sum_dy_xhat);
		if (has_out(k, 2))
			du_store(k->out[2]->data, k->out[2]->dtype, ch, sum_dy);
		if (!has_out(k, 0))
			continue;
		double a = du_load(sc->data, sc->dtype, ch) * inv;
		double m_dy = count ? sum_dy / (double)count : 0;
		double m_dyx = count ? sum_dy_xhat / (double)count : 0;
		for (int64_t b = 0; b < s->n; b++) {
			int64_t base = (b * s->c + ch) * s->inner;
			for (int64_t j = 0; j < s->inner; j++) {
				double g = du_load(dy->data, dy->dtype, base + j);
				double v = a * g;
				if (s->training) {
					double xh = (du_load(x->data, x->dtype, base + j) -
						     mean) * inv;
					v = a * (g - m_dy - xh * m_dyx);
				}
				du_store(k->out[0]->data, k->out[0]->dtype, base + j, v);
			}
		}
	}
}

/* Sums of dY and dY xhat of channel ch over this rank's rows. */
static void bn_grad_sums(const bn_grad_state *s, const sc_tensor *dy,
			 const sc_tensor *x, int64_t ch, double mean, double inv,
			 double *sum_dy, double *sum_dy_xhat)
{
	double a = 0, b = 0;
	for (int64_t n = 0; n < s->n; n++) {
		int64_t base = (n * s->c + ch) * s->inner;
		for (int64_t j = 0; j < s->inner; j++) {
			double g = du_load(dy->data, dy->dtype, base + j);
			a += g;
			b += g * (du_load(x->data, x->dtype, base + j) - mean) * inv;
		}
	}
	*sum_dy = a;
	*sum_dy_xhat = b;
}

/* The training backward over the global batch: global statistics, then
 * global sums of dY and dY xhat, then dX.  Collectives run between the
 * parallel loops, on the calling thread. */
static int bn_grad_sync(op_kernel *k, const bn_grad_state *s,
			const sc_tensor *dy, const sc_tensor *x, sc_error *err)
{
	int64_t c = s->c;
	double *mean = du_scratch_at(k->env, s->sync_off), *var = mean + c;
	double *sums = var + c;    /* sum dY [c], sum dY xhat [c], count */
	#pragma omp parallel for if (x->numel > 32768)
	for (int64_t ch = 0; ch < c; ch++)
		du_channel_stats(x, s->n, c, s->inner, ch, &mean[ch], &var[ch]);
	int rc = dist_bn_stats(mean, var, c, s->n * s->inner, err);
	if (rc)
		goto fail;
	#pragma omp parallel for if (x->numel > 32768)
	for (int64_t ch = 0; ch < c; ch++) {
		double inv = 1.0 / sqrt(var[ch] + (double)s->epsilon);
		bn_grad_sums(s, dy, x, ch, mean[ch], inv, &sums[ch], &sums[c + ch]);
		/* this rank's share of the parameter gradients */
		if (has_out(k, 1))
			du_store(k->out[1]->data, k->out[1]->dtype, ch, sums[c + ch]);
		if (has_out(k, 2))
			du_store(k->out[2]->data, k->out[2]->dtype, ch, sums[ch]);
	}
	sums[2 * c] = (double)(s->n * s->inner);
	if ((rc = dist_allreduce_sum_f64(sums, 2 * c + 1, err)))
		goto fail;
	if (!has_out(k, 0))
		return SC_OK;
	double count = sums[2 * c];
	const sc_tensor *sc = k->in[2];
	#pragma omp parallel for if (x->numel > 32768)
	for (int64_t ch = 0; ch < c; ch++) {
		double inv = 1.0 / sqrt(var[ch] + (double)s->epsilon);
		double a = du_load(sc->data, sc->dtype, ch) * inv;
		double m_dy = count > 0 ? sums[ch] / count : 0;
		double m_dyx = count > 0 ? sums[c + ch] / count : 0;
		for (int64_t n = 0; n < s->n; n++) {
			int64_t base = (n * c + ch) * s->inner;
			for (int64_t j = 0; j < s->inner; j++) {
				double g = du_load(dy->data, dy->dtype, base + j);
				double xh = (du_load(x->data, x->dtype, base + j) -
					     mean[ch]) * inv;
				du_store(k->out[0]->data, k->out[0]->dtype, base + j,
					 a * (g - m_dy - xh * m_dyx));
			}
		}
	}
	return SC_OK;
fail:
	sc_error_prefix(err, "%s: ", s->label);
	return rc;
}

/* Element (b, channel c0 + l, s) of a buffer in layout L. */
#define BN_AT(L, b, cb, s) ((b) * (L)->sn + (cb) * (L)->scb + (s) * (L)->ss)

/* The synchronised oneDNN path, before the primitive: mean/var (this
 * rank's, float) become the global batch's; this rank's sums of dY and
 * dY xhat go to dscale/dB; their global means make dY' in scratch. */
static int bn_sync_dy(op_kernel *k, const bn_grad_state *s, float *mean,
		      float *var, sc_error *err)
{
	int64_t c = s->c, bl = s->x_layout.block, nb = (c + bl - 1) / bl;
	const du_chan_layout *L = &s->x_layout;
	double *gm = du_scratch_at(k->env, s->sync_off), *gv = gm + c;
	double *sums = gv + c;     /* sum dY [c], sum dY xhat [c], count */
	for (int64_t ch = 0; ch < c; ch++) {
		gm[ch] = mean[ch];
		gv[ch] = var[ch];
	}
	int rc = dist_bn_stats(gm, gv, c, s->n * s->inner, err);
	if (rc)
		goto fail;
	for (int64_t ch = 0; ch < c; ch++) {
		mean[ch] = (float)gm[ch];
		var[ch] = (float)gv[ch];
	}
	const float *dy = k->in[0]->data, *x = k->in[1]->data;
	#pragma omp parallel for
	for (int64_t cb = 0; cb < nb; cb++) {
		int64_t c0 = cb * bl, cn = c - c0 < bl ? c - c0 : bl;
		double sd[64] = {0}, sx[64] = {0}, inv[64];
		for (int64_t l = 0; l < cn; l++)
			inv[l] = 1.0 / sqrt(gv[c0 + l] + (double)s->epsilon);
		for (int64_t b = 0; b < s->n; b++)
			for (int64_t j = 0; j < s->inner; j++) {
				int64_t at = BN_AT(L, b, cb, j);
				for (int64_t l = 0; l < cn; l++) {
					double g = dy[at + l];
					sd[l] += g;
					sx[l] += g * (x[at + l] - gm[c0 + l]) * inv[l];
				}
			}
		for (int64_t l = 0; l < cn; l++) {
			sums[c0 + l] = sd[l];
			sums[c + c0 + l] = sx[l];
			if (has_out(k, 1))
				((float *)k->out[1]->data)[c0 + l] = (float)sx[l];
			if (has_out(k, 2))
				((float *)k->out[2]->data)[c0 + l] = (float)sd[l];
		}
	}
	sums[2 * c] = (double)(s->n * s->inner);
	if ((rc = dist_allreduce_sum_f64(sums, 2 * c + 1, err)))
		goto fail;
	double count = sums[2 * c];
	float *dyp = du_scratch_at(k->env, s->dyp_off);
	#pragma omp parallel for
	for (int64_t cb = 0; cb < nb; cb++) {
		int64_t c0 = cb * bl, cn = c - c0 < bl ? c - c0 : bl;
		double mdy[64], mdx[64], inv[64];
		for (int64_t l = 0; l < cn; l++) {
			inv[l] = 1.0 / sqrt(gv[c0 + l] + (double)s->epsilon);
			mdy[l] = count > 0 ? sums[c0 + l] / count : 0;
			mdx[l] = count > 0 ? sums[c + c0 + l] / count : 0;
		}
		for (int64_t b = 0; b < s->n; b++)
			for (int64_t j = 0; j < s->inner; j++) {
				int64_t at = BN_AT(L, b, cb, j);
				for (int64_t l = 0; l < cn; l++) {
					double xh = (x[at + l] - gm[c0 + l]) * inv[l];
					dyp[at + l] = (float)(dy[at + l] - mdy[l] -
							      xh * mdx[l]);
				}
				for (int64_t l = cn; l < bl; l++)
					dyp[at + l] = 0;   /* a blocked layout's padding */
			}
	}
	return SC_OK;
fail:
	sc_error_prefix(err, "%s: ", s->label);
	return rc;
}

static int bn_grad_run(op_kernel *k, sc_error *err)
{
	bn_grad_state *s = k->state;
	if (!s->use_dnnl) {
		sc_tensor t0, t1;
		const sc_tensor *dy = du_plain_copy_run(&s->dy_plain, k, 0, &t0,
							s->label, err);
		const sc_tensor *x = dy ? du_plain_copy_run(&s->x_plain, k, 1, &t1,
							    s->label, err) : NULL;
		if (!x)
			return err->code;
		if (s->sync)
			return bn_grad_sync(k, s, dy, x, err);
		bn_grad_loop(k, s, dy, x);
		return SC_OK;
	}
	const sc_tensor *x = k->in[1];
	float *mean = du_scratch_at(k->env, s->mean_off);
	float *var = du_scratch_at(k->env, s->var_off);
	du_bn_stats(x->data, &s->x_layout, s->n, s->c, s->inner, mean, var,
		    du_scratch_at(k->env, s->work_off));
	const void *dy_data = k->in[0]->data;
	if (s->sync) {
		int rc = bn_sync_dy(k, s, mean, var, err);
		if (rc)
			return rc;
		dy_data = du_scratch_at(k->env, s->dyp_off);
	}
	void *dx = has_out(k, 0) ? k->out[0]->data : du_scratch_at(k->env, s->dx_off);
	/* synchronised: the outputs already hold this rank's sums */
	void *dscale = has_out(k, 1) && !s->sync ? k->out[1]->data :
		       du_scratch_at(k->env, s->dscale_off);
	void *dshift = has_out(k, 2) && !s->sync ? k->out[2]->data :
		       du_scratch_at(k->env, s->dshift_off);
	int rc = du_operand_before(&s->dy, k->env, dy_data, s->label, err);
	if (!rc)
		rc = du_operand_before(&s->dx, k->env, dx, s->label, err);
	const void *bind[6] = {x->data, k->in[2]->data, mean, var, dscale, dshift};
	dnnl_memory_t mems[6] = {s->src, s->scale, s->mean, s->var, s->dscale,
				 s->dshift};
	for (int i = 0; i < 6 && !rc; i++)
		rc = du_mem_bind(mems[i], bind[i], s->label, err);
	if (rc)
		return rc;
	/* oneDNN checks for the shift with use_shift, though the backward
	 * pass never reads it: the scale's buffer stands in */
	dnnl_exec_arg_t args[9] = {
		{DNNL_ARG_SHIFT, s->scale},
		{DNNL_ARG_SRC, s->src},
		{DNNL_ARG_DIFF_DST, s->dy.mem},
		{DNNL_ARG_DIFF_SRC, s->dx.mem},
		{DNNL_ARG_SCALE, s->scale},
		{DNNL_ARG_MEAN, s->mean},
		{DNNL_ARG_VARIANCE, s->var},
		{DNNL_ARG_DIFF_SCALE, s->dscale},
		{DNNL_ARG_DIFF_SHIFT, s->dshift},
	};
	rc = du_prim_exec(&s->bwd, k->env, 9, args, s->label, err);
	if (!rc)
		rc = du_operand_after(&s->dx, k->env, dx, s->label, err);
	return rc;
}

/* --- rules ------------------------------------------------------------------ */

/* Copies the forward node's int, ints and string attributes to the node
 * at index `to`, except those named in `skip` (NULL-terminated). */
static int copy_attrs(grad_ctx *c, int from, int to, const char *const *skip,
		      sc_error *err)
{
	graph *g = grad_graph(c);
	int n_attrs = g->nodes[from].n_attrs;
	for (int i = 0; i < n_attrs; i++) {
		const graph_attr *a = &g->nodes[from].attrs[i];
		int skipped = a->ref_attr_name != NULL;
		for (const char *const *p = skip; p && *p && !skipped; p++)
			skipped = strcmp(*p, a->name) == 0;
		if (skipped)
			continue;
		/* the source attribute may move when nodes grow: copy first */
		char name[128];
		snprintf(name, sizeof name, "%s", a->name);
		int rc;
		switch (a->type) {
		case ATTR_INT:
			rc = grad_attr_int(&g->nodes[to], name, a->i, err);
			break;
		case ATTR_INTS:
			rc = grad_attr_ints(&g->nodes[to], name, a->ints, a->n, err);
			break;
		case ATTR_STRING: {
			char *s = malloc(a->s.len + 1);
			if (!s)
				return sc_fail(err, SC_ENOMEM, "out of memory");
			if (a->s.len)
				memcpy(s, a->s.data, a->s.len);
			s[a->s.len] = '\0';
			rc = grad_attr_string(&g->nodes[to], name, s, err);
			free(s);
			break;
		}
		default:
			return infer_fail(g, &g->nodes[from], err,
					  "attribute '%s' has an unexpected type", name);
		}
		if (rc)
			return rc;
	}
	return SC_OK;
}

/* Drops the outputs of node `idx` that are not wanted (want[j] == 0) and
 * hands the others to dx[]. */
static void take_outputs(grad_ctx *c, int idx, const int *out, int n,
			 const int *want, int *dx)
{
	graph *g = grad_graph(c);
	for (int j = 0; j < n; j++) {
		if (want[j]) {
			dx[j] = out[j];
			continue;
		}
		g->nodes[idx].outputs[j] = -1;
		g->values[out[j]].producer = -1;
	}
	int last = n;
	while (last > 0 && g->nodes[idx].outputs[last - 1] < 0)
		last--;
	g->nodes[idx].n_outputs = last;
}

int conv_grad_rule(grad_ctx *c, int node, const int *dy, int *dx,
		   sc_error *err)
{
	int want[3];
	const graph_node *n = grad_fwd(c, node);
	for (int i = 0; i < 3; i++)
		want[i] = i < n->n_inputs && dx[i] == -2;
	if (dy[0] < 0 || (!want[0] && !want[1] && !want[2])) {
		for (int i = 0; i < n->n_inputs && i < 3; i++)
			if (dx[i] == -2)
				dx[i] = -1;
		return SC_OK;
	}
	int in[3] = {dy[0], n->inputs[0], n->inputs[1]}, out[3];
	int idx = grad_emit(c, "ConvGrad", "ai.supcon", 3, in, 3, out, err);
	if (idx < 0)
		return err->code;
	int rc = copy_attrs(c, node, idx, NULL, err);
	if (rc)
		return rc;
	take_outputs(c, idx, out, 3, want, dx);
	return SC_OK;
}

int pool_grad_rule(grad_ctx *c, int node, const int *dy, int *dx,
		   sc_error *err)
{
	if (dx[0] != -2)
		return SC_OK;
	if (dy[0] < 0) {
		dx[0] = -1;
		return SC_OK;
	}
	const graph_node *n = grad_fwd(c, node);
	char op[64];
	snprintf(op, sizeof op, "%sGrad", n->op_type);
	int in[2] = {dy[0], n->inputs[0]};
	int idx = grad_emit(c, op, "ai.supcon", 2, in, 1, &dx[0], err);
	if (idx < 0)
		return err->code;
	static const char *const skip[] = {"storage_order", NULL};
	return copy_attrs(c, node, idx, skip, err);
}

/* Whether the forward node normalises with batch statistics, as
 * batchnorm.c decides at run time. */
static int bn_node_training(const graph_node *n, int64_t opset)
{
	if (opset >= 14)
		return infer_attr_int(n, "training_mode", 0) != 0;
	if (opset <= 6 && infer_attr_int(n, "is_test", 0))
		return 0;
	for (int i = 1; i < 5; i++)
		if (infer_has_output(n, i))
			return 1;
	return 0;
}

int bn_grad_rule(grad_ctx *c, int node, const int *dy, int *dx,
		 sc_error *err)
{
	int want[3];
	const graph_node *n = grad_fwd(c, node);
	for (int i = 0; i < 3; i++)
		want[i] = dx[i] == -2;
	for (int i = 3; i < n->n_inputs; i++)
		if (dx[i] == -2)
			dx[i] = -1;   /* running statistics: forward-only */
	if (dy[0] < 0 || (!want[0] && !want[1] && !want[2])) {
		for (int i = 0; i < 3; i++)
			if (dx[i] == -2)
				dx[i] = -1;
		return SC_OK;
	}
	int64_t opset = grad_opset(c);
	int training = bn_node_training(n, opset);
	int spatial = opset < 9 ? infer_attr_int(n, "spatial", 1) != 0 : 1;
	float eps = infer_attr_float(n, "epsilon", 1e-5f);
	int in[5] = {dy[0], n->inputs[0], n->inputs[1], n->inputs[3], n->inputs[4]};
	int out[3];
	int idx = grad_emit(c, "BatchNormalizationGrad", "ai.supcon", 5, in, 3, out,
			    err);
	if (idx < 0)
		return err->code;
	graph *g = grad_graph(c);
	graph_attr *a = graph_node_add_attr(&g->nodes[idx], "epsilon", ATTR_FLOAT, err);
	if (!a)
		return err->code;
	a->f = eps;
	if (grad_attr_int(&g->nodes[idx], "training_mode", training, err) ||
	    (!spatial && grad_attr_int(&g->nodes[idx], "spatial", 0, err)))
		return err->code;
	take_outputs(c, idx, out, 3, want, dx);
	return SC_OK;
}

const op_def op_dnnl_grad_defs[] = {
	{.domain = "ai.supcon", .name = "ConvGrad", .since = 1, .until = 1,
	 .attrs = conv_grad_attrs, .infer = conv_grad_infer,
	 .prepare = conv_grad_prepare, .run = conv_grad_run,
	 .release = conv_grad_release,
	 .layout_caps = LAYOUT_DST, .layout_inputs = 0x3},
	/* dY and X may come blocked (oneDNN reads them; X only lends its
	 * dims to the global average), dX may stay blocked */
	{.domain = "ai.supcon", .name = "MaxPoolGrad", .since = 1, .until = 1,
	 .attrs = pool_grad_attrs, .infer = pool_grad_infer,
	 .prepare = pool_grad_prepare, .run = pool_grad_run,
	 .release = pool_grad_release,
	 .layout_caps = LAYOUT_DST, .layout_inputs = 0x3},
	{.domain = "ai.supcon", .name = "AveragePoolGrad", .since = 1, .until = 1,
	 .attrs = pool_grad_attrs, .infer = pool_grad_infer,
	 .prepare = pool_grad_prepare, .run = pool_grad_run,
	 .release = pool_grad_release,
	 .layout_caps = LAYOUT_DST, .layout_inputs = 0x3},
	{.domain = "ai.supcon", .name = "GlobalAveragePoolGrad", .since = 1,
	 .until = 1, .infer = pool_grad_infer,
	 .prepare = global_pool_grad_prepare, .run = pool_grad_run,
	 .release = pool_grad_release,
	 .layout_caps = LAYOUT_DST, .layout_inputs = 0x3},
	{.domain = "ai.supcon", .name = "GlobalMaxPoolGrad", .since = 1,
	 .until = 1, .infer = pool_grad_infer,
	 .prepare = global_pool_grad_prepare, .run = pool_grad_run,
	 .release = pool_grad_release,
	 .layout_caps = LAYOUT_DST, .layout_inputs = 0x3},
	{.domain = "ai.supcon", .name = "BatchNormalizationGrad", .since = 1,
	 .until = 1, .attrs = bn_grad_attrs, .infer = bn_grad_infer,
	 .prepare = bn_grad_prepare, .run = bn_grad_run,
	 .release = bn_grad_release,
	 .layout_caps = LAYOUT_DST, .layout_inputs = 0x3},
	{0},
};
