/* conv.c: convolution.
 *
 * Conv (opsets 1-17): Y[n, m, o...] = B[m] + sum over c in m's group and
 * kernel taps k of X[n, c, o*stride + k*dilation - pad_begin] * W[m, c, k].
 *   X [N, C, D1..Dn], W [M, C/group, k1..kn], B [M] (optional) -> Y [N, M, O1..On]
 *   Oi = floor((Di + pad_begin + pad_end - ((ki-1)*dilation+1)) / stride) + 1,
 *   or ceil(Di / stride) for auto_pad SAME_UPPER/SAME_LOWER.
 *   Opset 11 only clarified auto_pad; both versions share attributes.
 *   Kernel: oneDNN's convolution (direct, or Winograd where it is faster),
 *   float32, 1 to 3 spatial axes.
 *   oneDNN picks the layout of W (format_tag_any), converted once when it
 *   is a constant initializer; see CONV_LAYOUT_* for X and Y.  X may arrive
 *   in its producer's layout and Y may stay in the conv's own when the
 *   planner allows (ops/op.h: LAYOUT_SRC, LAYOUT_DST), so that ResNet's
 *   activations stay blocked from conv to conv.  Honours the planner's
 *   fusions: a residual as a sum (or binary add) post-op and a Relu as an
 *   eltwise post-op, in that order.
 *
 * ConvTranspose (opsets 1-17): the gradient of Conv with respect to its
 * input.  X [N, C, D...], W [C, M/group, k...] -> Y [N, M, O...] with
 *   Oi = stride*(Di-1) + output_padding + ((ki-1)*dilation+1) - pads,
 *   Di*stride for SAME_*, or output_shape when given.
 *   Shape inference only. */
#include <stdlib.h>
#include <string.h>

#include "dnnl_grad.h"
#include "dnnl_util.h"
#include "infer_util.h"

static const op_attr_spec conv_attrs[] = {
	{"auto_pad", ATTR_STRING},
	{"dilations", ATTR_INTS},
	{"group", ATTR_INT},
	{"kernel_shape", ATTR_INTS},
	{"pads", ATTR_INTS},
	{"strides", ATTR_INTS},
	{NULL, 0},
};

static const op_attr_spec conv_transpose_attrs[] = {
	{"auto_pad", ATTR_STRING},
	{"dilations", ATTR_INTS},
	{"group", ATTR_INT},
	{"kernel_shape", ATTR_INTS},
	{"output_padding", ATTR_INTS},
	{"output_shape", ATTR_INTS},
	{"pads", ATTR_INTS},
	{"strides", ATTR_INTS},
	{NULL, 0},
};

/* The checks X, W and B share between Conv and ConvTranspose: dtypes agree,
 * ranks agree and are at least 3.  Leaves the common rank in *rank (-1
 * when neither is known). */
static int conv_inputs(const graph *g, const graph_node *n, infer_tensor *x,
		       infer_tensor *w, infer_tensor *b, int *elem, int *rank,
		       sc_error *err)
{
	*rank = -1;
	infer_input(g, n, 0, x);
	infer_input(g, n, 1, w);
	int has_b = infer_input(g, n, 2, b);
	int rc = infer_unify_elem(g, n, 0, x->elem, 1, w->elem, elem, err);
	if (!rc && has_b)
		rc = infer_unify_elem(g, n, 0, *elem, 2, b->elem, elem, err);
	if (rc)
		return rc;
	if (x->rank >= 0 && w->rank >= 0 && x->rank != w->rank)
		return infer_fail(g, n, err, "X has rank %d but W has rank %d",
				  x->rank, w->rank);
	*rank = x->rank >= 0 ? x->rank : w->rank;
	if (*rank >= 0 && *rank < 3)
		return infer_fail(g, n, err,
				  "inputs have rank %d, expected at least 3 (N, C and a spatial axis)",
				  *rank);
	if (has_b && b->rank >= 0 && b->rank != 1)
		return infer_fail(g, n, err, "B has rank %d, expected 1", b->rank);
	return SC_OK;
}

/* Spatial kernel sizes: kernel_shape when given (checked against W), else
 * W's trailing dims.  Returns 1 when all are known. */
static int conv_kernel(const graph *g, const graph_node *n,
		       const infer_tensor *w, int ns, int64_t *kernel,
		       int *have, sc_error *err)
{
	const int64_t *ks;
	int nk = infer_attr_ints(n, "kernel_shape", &ks);
	*have = 0;
	if (nk >= 0) {
		if (nk != ns)
			return infer_fail(g, n, err,
					  "kernel_shape has %d values for %d spatial axes",
					  nk, ns);
		for (int i = 0; i < ns; i++) {
			infer_dim wd = w->rank >= 0 ? w->dims[2 + i] : infer_dim_unknown();
			if (wd.value >= 0 && wd.value != ks[i])
				return infer_fail(g, n, err,
						  "kernel_shape[%d] is %lld but W has %lld taps there",
						  i, (long long)ks[i], (long long)wd.value);
			kernel[i] = ks[i];
		}
		*have = 1;
		return SC_OK;
	}
	if (w->rank < 0)
		return SC_OK;
	for (int i = 0; i < ns; i++) {
		if (w->dims[2 + i].value < 0)
			return SC_OK;
		kernel[i] = w->dims[2 + i].value;
	}
	*have = 1;
	return SC_OK;
}

static int conv_infer(graph *g, const graph_node *n, int64_t opset,
		      sc_error *err)
{
	(void)opset;
	infer_tensor x, w, b, y;
	int elem, r;
	int rc = conv_inputs(g, n, &x, &w, &b, &elem, &r, err);
	if (rc)
		return rc;
	int64_t group = infer_attr_int(n, "group", 1);
	if (group < 1)
		return infer_fail(g, n, err, "group is %lld, expected >= 1",
				  (long long)group);
	if (r < 0) {
		infer_tensor_unknown(&y, elem);
		return infer_set_output(g, n, 0, &y, err);
	}
	infer_tensor_rank(&y, elem, r);
	infer_dim cin = x.rank >= 0 ? x.dims[1] : infer_dim_unknown();
	infer_dim m = w.rank >= 0 ? w.dims[0] : infer_dim_unknown();
	infer_dim cw = w.rank >= 0 ? w.dims[1] : infer_dim_unknown();
	if (cin.value >= 0 && cw.value >= 0 &&
	    (cw.value > cin.value / group || cw.value * group != cin.value)) {
		if (cw.value <= SC_MAX_NUMEL && group <= SC_MAX_NUMEL / (cw.value + 1))
			return infer_fail(g, n, err,
					  "X has %lld channels but W expects %lld (%lld per group x %lld groups)",
					  (long long)cin.value, (long long)(cw.value * group),
					  (long long)cw.value, (long long)group);
		return infer_fail(g, n, err,
				  "X has %lld channels but W expects %lld per group x %lld groups",
				  (long long)cin.value, (long long)cw.value, (long long)group);
	}
	if (m.value >= 0 && m.value % group)
		return infer_fail(g, n, err,
				  "W has %lld output channels, not a multiple of group %lld",
				  (long long)m.value, (long long)group);
	if (b.rank == 1 && infer_dim_unify(m, b.dims[0], &m))
		return infer_fail(g, n, err, "B has %lld values for %lld output channels",
				  (long long)b.dims[0].value, (long long)m.value);
	y.dims[0] = x.rank >= 0 ? x.dims[0] : infer_dim_unknown();
	y.dims[1] = m;

	int64_t kernel[SC_MAX_RANK];
	int have;
	rc = conv_kernel(g, n, &w, r - 2, kernel, &have, err);
	if (rc)
		return rc;
	if (x.rank >= 0 && have) {
		rc = infer_window_shape(g, n, &x, kernel, 0, &y, err);
		if (rc)
			return rc;
	}
	return infer_set_output(g, n, 0, &y, err);
}

static int conv_transpose_infer(graph *g, const graph_node *n, int64_t opset,
				sc_error *err)
{
	(void)opset;
	infer_tensor x, w, b, y;
	int elem, r;
	int rc = conv_inputs(g, n, &x, &w, &b, &elem, &r, err);
	if (rc)
		return rc;
	int64_t group = infer_attr_int(n, "group", 1);
	if (group < 1)
		return infer_fail(g, n, err, "group is %lld, expected >= 1",
				  (long long)group);
	if (r < 0) {
		infer_tensor_unknown(&y, elem);
		return infer_set_output(g, n, 0, &y, err);
	}
	int ns = r - 2;
	infer_tensor_rank(&y, elem, r);
	infer_dim cin = x.rank >= 0 ? x.dims[1] : infer_dim_unknown();
	infer_dim cw = w.rank >= 0 ? w.dims[0] : infer_dim_unknown();
	if (infer_dim_unify(cin, cw, &cin))
		return infer_fail(g, n, err, "X has %lld channels but W has %lld",
				  (long long)cin.value, (long long)cw.value);
	infer_dim m = w.rank >= 0 && w.dims[1].value >= 0 &&
		      w.dims[1].value <= SC_MAX_NUMEL / group ?
		      infer_dim_of(w.dims[1].value * group) : infer_dim_unknown();
	if (b.rank == 1 && infer_dim_unify(m, b.dims[0], &m))
		return infer_fail(g, n, err, "B has %lld values for %lld output channels",
				  (long long)b.dims[0].value, (long long)m.value);
	y.dims[0] = x.rank >= 0 ? x.dims[0] : infer_dim_unknown();
	y.dims[1] = m;

	const int64_t *st = NULL, *dl = NULL, *pd = NULL, *op = NULL, *os = NULL;
	int nst = infer_attr_ints(n, "strides", &st);
	int ndl = infer_attr_ints(n, "dilations", &dl);
	int npd = infer_attr_ints(n, "pads", &pd);
	int nop = infer_attr_ints(n, "output_padding", &op);
	int nos = infer_attr_ints(n, "output_shape", &os);
	int mode = infer_auto_pad(n);
	if (mode < 0)
		return infer_fail(g, n, err, "auto_pad must be NOTSET, VALID, SAME_UPPER or SAME_LOWER");
	if ((nst >= 0 && nst != ns) || (ndl >= 0 && ndl != ns) ||
	    (npd >= 0 && npd != 2 * ns) || (nop >= 0 && nop != ns))
		return infer_fail(g, n, err,
				  "strides, dilations, output_padding need %d values and pads %d",
				  ns, 2 * ns);
	if (nos >= 0 && nos != ns && nos != r)
		return infer_fail(g, n, err, "output_shape has %d values for %d spatial axes",
				  nos, ns);
	int64_t kernel[SC_MAX_RANK];
	int have;
	rc = conv_kernel(g, n, &w, ns, kernel, &have, err);
	if (rc)
		return rc;
	for (int i = 0; i < ns; i++) {
		infer_dim in = x.rank >= 0 ? x.dims[2 + i] : infer_dim_unknown();
		int64_t s = nst >= 0 ? st[i] : 1, d = ndl >= 0 ? dl[i] : 1;
		int64_t pb = npd >= 0 ? pd[i] : 0, pe = npd >= 0 ? pd[ns + i] : 0;
		int64_t opad = nop >= 0 ? op[i] : 0;
		if (s < 1 || s > (1 << 30) || d < 1 || d > (1 << 30) ||
		    opad < 0 || opad > (1 << 30) || pb < 0 || pb > (1 << 30) ||
		    pe < 0 || pe > (1 << 30))
			return infer_fail(g, n, err,
					  "spatial axis %d: stride, dilation, pads or output_padding out of range",
					  i);
		if (nos >= 0) {
			if (os[nos - ns + i] < 0)
				return infer_fail(g, n, err, "output_shape[%d] is negative",
						  nos - ns + i);
			y.dims[2 + i] = infer_dim_of(os[nos - ns + i]);
			continue;
		}
		/* bounds keep s * (in - 1) + (k - 1) * d inside int64 */
		if (in.value < 0 || in.value > ((int64_t)1 << 32) || !have ||
		    kernel[i] < 1 || kernel[i] > (1 << 30)) {
			y.dims[2 + i] = infer_dim_unknown();
			continue;
		}
		int64_t o;
		if (mode == INFER_PAD_SAME_UPPER || mode == INFER_PAD_SAME_LOWER)
			o = in.value * s;
		else
			o = s * (in.value - 1) + opad + (kernel[i] - 1) * d + 1 -
			    (mode == INFER_PAD_VALID ? 0 : pb + pe);
		if (o < 0)
			return infer_fail(g, n, err,
					  "spatial axis %d: output size %lld is negative",
					  i, (long long)o);
		y.dims[2 + i] = infer_dim_of(o);
	}
	return infer_set_output(g, n, 0, &y, err);
}

/* --- Conv kernel ---------------------------------------------------------- */

/* Layouts of X and Y for the convolution, tried in order until oneDNN
 * has an implementation.  Measured on torchvision ResNet-50 (batch 16, 2
 * threads, BN/Add/Relu fused; sums of oneDNN's per-primitive times, best
 * of 4 runs, AVX-512) with X and Y converted from and to plain around
 * every conv:
 *   plain X/Y (gemm-based convolution)          1150 ms
 *   format_tag_any (nhwc brgconv)                610 ms + 240 ms converting
 *   nChw16c (direct and Winograd)                480 ms + 117 ms converting
 * (ONNX Runtime 1.30: about 620 ms for the whole model.)  The planner now
 * hands blocked tensors from conv to conv, which removes the conversions
 * but for the first input and the last output, and the 1x1 convs read
 * their residual in place (conv_attr): about 500 ms for the whole model
 * (primitives and all).  Convolutions that oneDNN can only run naively in the
 * blocked layout (grouped ones whose groups do not fill whole blocks)
 * fall back to oneDNN's own choice. */
enum { CONV_LAYOUT_BLOCKED, CONV_LAYOUT_ANY, CONV_N_LAYOUTS };

typedef struct conv_state {
	char label[192];
	int empty;                 /* Y has no elements: nothing to compute */
	int sum;                   /* a residual is fused */
	int binary;                /* ... as a binary add: else Y starts as it */
	du_prim conv;
	du_operand src, wei, dst;
	dnnl_memory_t bias;        /* NULL without B */
	dnnl_memory_t residual;    /* the binary add's operand */
	dnnl_memory_desc_t y_md;   /* Y's layout when it is not plain (out_md) */
	du_reorder sum_plain;      /* empty conv, blocked residual: to plain */
	size_t sum_plain_off;
} conv_state;

static void conv_release(op_kernel *k)
{
	conv_state *s = k->state;
	if (!s)
		return;
	du_prim_destroy(&s->conv);
	du_operand_destroy(&s->src);
	du_operand_destroy(&s->wei);
	du_operand_destroy(&s->dst);
	du_reorder_destroy(&s->sum_plain);
	if (s->bias)
		dnnl_memory_destroy(s->bias);
	if (s->residual)
		dnnl_memory_destroy(s->residual);
	free(s);
	k->state = NULL;
}

/* Checks X, W, B against each other and computes Y's dims. */
static int conv_shapes(const op_kernel *k, const char *label, du_window *w,
		       int64_t *group, int64_t *ydims, sc_error *err)
{
	const sc_tensor *x = k->in[0], *wt = k->in[1];
	const sc_tensor *b = k->n_in > 2 ? k->in[2] : NULL;
	if (x->dtype != SC_FLOAT || wt->dtype != SC_FLOAT ||
	    (b && b->dtype != SC_FLOAT)) {
		int bad = x->dtype != SC_FLOAT ? x->dtype : wt->dtype != SC_FLOAT ?
			  wt->dtype : b->dtype;
		return sc_fail(err, tensor_dtype_is_float(bad) ? SC_EUNSUPPORTED :
			       SC_EINVAL, "%s: %s inputs are not supported, only float32",
			       label, tensor_dtype_name(bad));
	}
	if (x->rank < 3 || x->rank != wt->rank)
		return sc_fail(err, SC_EINVAL,
			       "%s: X has rank %d and W rank %d; both need the same rank >= 3",
			       label, x->rank, wt->rank);
	*group = infer_attr_int(k->node, "group", 1);
	int64_t c = x->dims[1], m = wt->dims[0], cg = wt->dims[1];
	if (*group < 1 || cg * *group != c || m % *group)
		return sc_fail(err, SC_EINVAL,
			       "%s: X has %lld channels and W is [%lld, %lld, ...] with group %lld; expected W [M, C/group, ...] with M a multiple of group",
			       label, (long long)c, (long long)m, (long long)cg,
			       (long long)*group);
	if (b && (b->rank != 1 || b->dims[0] != m))
		return sc_fail(err, SC_EINVAL,
			       "%s: B must be [%lld], one value per output channel",
			       label, (long long)m);
	int rc = du_window_init(w, k, x, wt->dims + 2, 0, label, err);
	if (rc)
		return rc;
	for (int i = 0; i < w->ns; i++)
		if (w->kernel[i] != wt->dims[2 + i])
			return sc_fail(err, SC_EINVAL,
				       "%s: kernel_shape[%d] is %lld but W has %lld taps there",
				       label, i, (long long)w->kernel[i],
				       (long long)wt->dims[2 + i]);
	ydims[0] = x->dims[0];
	ydims[1] = m;
	for (int i = 0; i < w->ns; i++)
		ydims[2 + i] = w->out[i];
	return SC_OK;
}

/* The attribute: user scratchpad, and what the planner fused after the
 * conv as post-ops, in ONNX's order: y = relu(conv + sum).  The residual
 * is a sum post-op, which reads it from Y (so it is copied there first),
 * or with `binary` (its layout) a binary add, which reads it in place. */
static int conv_attr(const op_kernel *k, conv_state *s,
		     const dnnl_memory_desc_t *binary,
		     dnnl_primitive_attr_t *attr, sc_error *err)
{
	int rc = du_attr_create(attr, s->label, err);
	if (rc || !k->fuse || (!k->fuse->sum && !k->fuse->relu))
		return rc;
	dnnl_post_ops_t po;
	rc = du_check(dnnl_post_ops_create(&po), s->label, "creating post-ops",
		      err);
	if (rc)
		return rc;
	if (k->fuse->sum && binary)
		rc = du_check(dnnl_post_ops_append_binary(po, dnnl_binary_add, binary),
			      s->label, "adding the fused residual", err);
	else if (k->fuse->sum)
		rc = du_check(dnnl_post_ops_append_sum(po, 1.0f), s->label,
			      "adding the fused residual", err);
	if (!rc && k->fuse->relu)
		rc = du_check(dnnl_post_ops_append_eltwise(po, 1.0f,
							   dnnl_eltwise_relu,
							   0.0f, 0.0f),
			      s->label, "adding the fused Relu", err);
	if (!rc)
		rc = du_check(dnnl_primitive_attr_set_post_ops(*attr, po), s->label,
			      "setting post-ops", err);
	dnnl_post_ops_destroy(po);
	return rc;
}

/* 1 when oneDNN runs cd with the same implementation under both
 * attributes: a binary residual is then worth it, where it is not when it
 * costs Winograd (which only has the sum post-op). */
static int conv_same_impl(exec_env *env, const dnnl_convolution_desc_t *cd,
			  const_dnnl_primitive_attr_t a,
			  const_dnnl_primitive_attr_t b)
{
	dnnl_primitive_desc_t pa = NULL, pb = NULL;
	const char *na = NULL, *nb = NULL;
	int same = dnnl_primitive_desc_create(&pa, cd, a, env->engine, NULL) ==
		   dnnl_success &&
		   dnnl_primitive_desc_create(&pb, cd, b, env->engine, NULL) ==
		   dnnl_success &&
		   dnnl_primitive_desc_query(pa, dnnl_query_impl_info_str, 0, &na) ==
		   dnnl_success &&
		   dnnl_primitive_desc_query(pb, dnnl_query_impl_info_str, 0, &nb) ==
		   dnnl_success &&
		   na && nb && strcmp(na, nb) == 0;
	if (pa)
		dnnl_primitive_desc_destroy(pa);
	if (pb)
		dnnl_primitive_desc_destroy(pb);
	return same;
}

static int conv_build(op_kernel *k, conv_state *s, const du_window *w,
		      int64_t group, const int64_t *ydims, sc_error *err)
{
	const sc_tensor *x = k->in[0], *wt = k->in[1];
	const sc_tensor *b = k->n_in > 2 ? k->in[2] : NULL;
	const char *label = s->label;
	int r = x->rank, ns = w->ns;
	dnnl_memory_desc_t x_plain, y_plain, w_plain, b_md, x_any, y_any, w_any;
	dnnl_dims_t wd, strides, dil, pl, pr;
	int wr = r;

	/* grouped weights are [G, M/G, C/G, k...], the same bytes as ONNX's */
	if (group > 1) {
		wd[0] = group;
		wd[1] = wt->dims[0] / group;
		for (int i = 1; i < r; i++)
			wd[1 + i] = wt->dims[i];
		wr = r + 1;
	} else {
		for (int i = 0; i < r; i++)
			wd[i] = wt->dims[i];
	}
	for (int i = 0; i < ns; i++) {
		strides[i] = w->stride[i];
		dil[i] = w->dilation[i] - 1;
		pl[i] = w->pad_l[i];
		pr[i] = w->pad_r[i];
	}
	int rc = du_plain_md(&x_plain, r, x->dims, dnnl_f32, label, err);
	if (!rc)
		rc = du_plain_md(&y_plain, r, ydims, dnnl_f32, label, err);
	if (!rc)
		rc = du_plain_md(&w_plain, wr, wd, dnnl_f32, label, err);
	if (!rc && b)
		rc = du_plain_md(&b_md, 1, b->dims, dnnl_f32, label, err);
	if (rc)
		return rc;
	rc = du_check(dnnl_memory_desc_init_by_tag(&w_any, wr, wd, dnnl_f32,
						   dnnl_format_tag_any),
		      label, "describing W", err);
	/* the residual as it arrives: its producer's layout, or plain */
	const dnnl_memory_desc_t *sum_md = s->sum && k->fuse->sum_md ?
					   k->fuse->sum_md : &y_plain;
	dnnl_primitive_attr_t attr = NULL, attr_bin = NULL;
	if (!rc)
		rc = conv_attr(k, s, NULL, &attr, err);
	if (!rc && s->sum)
		rc = conv_attr(k, s, sum_md, &attr_bin, err);
	size_t scratch = 0, layout_scratch = 0;
	for (int layout = 0; !rc && layout < CONV_N_LAYOUTS; layout++) {
		int blocked = layout == CONV_LAYOUT_BLOCKED;
		rc = du_activation_md(&x_any, r, x->dims, blocked, label, err);
		if (!rc)
			rc = du_activation_md(&y_any, r, ydims, blocked, label, err);
		/* auto: oneDNN may pick Winograd for 3x3 kernels.  With weights
		 * that change from run to run (a training graph's parameters
		 * are inputs), forward_training: its Winograd transforms W
		 * inside the primitive, where forward_inference wants W
		 * reordered into a Winograd layout first, a reorder that costs
		 * more than the convolution on ResNet's 256- and 512-channel
		 * layers (measured 40 ms against 15 ms, batch 16, 1 thread). */
		dnnl_convolution_desc_t cd;
		if (!rc)
			rc = du_check(dnnl_dilated_convolution_forward_desc_init(&cd,
					du_input_is_constant(k, 1) ? dnnl_forward_inference :
					dnnl_forward_training, dnnl_convolution_auto,
					&x_any, &w_any, b ? &b_md : NULL, &y_any,
					strides, dil, pl, pr),
				      label, "describing the convolution", err);
		layout_scratch = scratch;
		s->binary = !rc && attr_bin &&
			    conv_same_impl(k->env, &cd, attr, attr_bin);
		if (!rc)
			rc = du_prim_create(&s->conv, &cd, s->binary ? attr_bin : attr,
					    k->env, &layout_scratch, label, err);
		if (layout + 1 == CONV_N_LAYOUTS)
			break;
		/* no kernel for this layout, or only the naive one: next one */
		if (rc == SC_EUNSUPPORTED) {
			rc = SC_OK;
		} else if (!rc && du_prim_is_reference(&s->conv)) {
			du_prim_destroy(&s->conv);
		} else {
			break;
		}
	}
	scratch = layout_scratch;
	if (attr)
		dnnl_primitive_attr_destroy(attr);
	if (attr_bin)
		dnnl_primitive_attr_destroy(attr_bin);
	if (rc)
		return rc;
	/* X as its producer left it; Y in the conv's layout when allowed */
	const dnnl_memory_desc_t *y_chosen = du_prim_md(&s->conv, dnnl_query_dst_md, 0);
	const dnnl_memory_desc_t *y_held = du_output_md(k, y_chosen, &y_plain,
							&s->y_md);
	rc = du_operand_init(&s->src, DU_IN, du_input_md(k, 0, &x_plain),
			     du_prim_md(&s->conv, dnnl_query_src_md, 0), NULL,
			     k->env, &scratch, label, err);
	if (!rc)
		rc = du_operand_init(&s->wei,
				     du_input_is_constant(k, 1) ? DU_CONST_IN : DU_IN,
				     &w_plain,
				     du_prim_md(&s->conv, dnnl_query_weights_md, 0),
				     NULL, k->env, &scratch, label, err);
	if (!rc)
		rc = du_operand_init(&s->dst, s->sum && !s->binary ? DU_INOUT : DU_OUT,
				     y_held, y_chosen, sum_md, k->env, &scratch, label,
				     err);
	if (!rc && s->binary)
		rc = du_mem_create(&s->residual, sum_md, k->env, label, err);
	if (!rc && b)
		rc = du_mem_create(&s->bias, &b_md, k->env, label, err);
	if (!rc)
		exec_scratch_request(k->env, scratch);
	return rc;
}

/* An empty conv adds its residual in a plain loop: a blocked one is
 * converted to plain first. */
static int conv_empty_sum(op_kernel *k, conv_state *s, sc_error *err)
{
	const sc_tensor *y = k->out[0];
	if (!k->fuse->sum_md || !y->numel)
		return SC_OK;
	dnnl_memory_desc_t y_plain;
	size_t scratch = 0;
	int rc = du_plain_md(&y_plain, y->rank, y->dims, dnnl_f32, s->label, err);
	if (!rc)
		rc = du_reorder_create(&s->sum_plain, k->fuse->sum_md, &y_plain,
				       k->env, &scratch, s->label, err);
	if (rc)
		return rc;
	s->sum_plain_off = du_scratch_take(&scratch, y->nbytes);
	exec_scratch_request(k->env, scratch);
	return SC_OK;
}

static int conv_prepare(op_kernel *k, sc_error *err)
{
	conv_state *s = calloc(1, sizeof *s);
	if (!s)
		return sc_fail(err, SC_ENOMEM, "out of memory preparing Conv");
	k->state = s;
	du_label(k, s->label, sizeof s->label);
	du_window w;
	int64_t group = 1, ydims[SC_MAX_RANK];
	int rc = conv_shapes(k, s->label, &w, &group, ydims, err);
	if (!rc)
		rc = tensor_set_shape(k->out[0], SC_FLOAT, k->in[0]->rank, ydims,
				      s->label, err);
	if (rc)
		return rc;
	const sc_tensor *sum = k->fuse ? k->fuse->sum : NULL;
	if (sum && (sum->dtype != SC_FLOAT || sum->rank != k->out[0]->rank ||
		    memcmp(sum->dims, ydims, (size_t)sum->rank * sizeof(int64_t))))
		return sc_fail(err, SC_EINVAL,
			       "%s: the fused residual's shape differs from the output's",
			       s->label);
	s->sum = sum != NULL;
	/* zero-sized tensors have nothing to compute, and oneDNN refuses some */
	s->empty = k->out[0]->numel == 0 || k->in[0]->numel == 0 ||
		   k->in[1]->numel == 0;
	if (s->empty)
		return s->sum ? conv_empty_sum(k, s, err) : SC_OK;
	return conv_build(k, s, &w, group, ydims, err);
}

static int conv_run(op_kernel *k, sc_error *err)
{
	conv_state *s = k->state;
	sc_tensor *y = k->out[0];
	const sc_tensor *b = k->n_in > 2 ? k->in[2] : NULL;
	if (s->empty) {
		/* with no input channels or taps, Y is B broadcast (or zero) */
		float *yd = y->data;
		if (!y->numel)
			return SC_OK;
		int64_t m = y->dims[1], inner = y->numel / (y->dims[0] * m);
		const float *sum = s->sum ? k->fuse->sum->data : NULL;
		if (s->sum_plain.p.prim) {
			void *plain = du_scratch_at(k->env, s->sum_plain_off);
			int rc = du_reorder_run(&s->sum_plain, k->env, sum, plain,
						s->label, err);
			if (rc)
				return rc;
			sum = plain;
		}
		for (int64_t i = 0; i < y->numel; i++) {
			float v = b ? ((const float *)b->data)[(i / inner) % m] : 0.0f;
			v += sum ? sum[i] : 0.0f;
			yd[i] = k->fuse && k->fuse->relu && v < 0 ? 0.0f : v;
		}
		return SC_OK;
	}
	int rc = SC_OK;
	if (s->sum && !s->binary)
		rc = du_operand_preload(&s->dst, k->env, k->fuse->sum->data, y->data,
					s->label, err);
	if (!rc)
		rc = du_operand_before(&s->src, k->env, k->in[0]->data, s->label, err);
	if (!rc)
		rc = du_operand_before(&s->wei, k->env, k->in[1]->data, s->label, err);
	if (!rc)
		rc = du_operand_before(&s->dst, k->env, y->data, s->label, err);
	if (!rc && b)
		rc = du_mem_bind(s->bias, b->data, s->label, err);
	if (!rc && s->binary)
		rc = du_mem_bind(s->residual, k->fuse->sum->data, s->label, err);
	if (rc)
		return rc;
	dnnl_exec_arg_t args[5] = {
		{DNNL_ARG_SRC, s->src.mem},
		{DNNL_ARG_WEIGHTS, s->wei.mem},
		{DNNL_ARG_DST, s->dst.mem},
	};
	int nargs = 3;
	if (b)
		args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, s->bias};
	if (s->binary)
		args[nargs++] = (dnnl_exec_arg_t){
			DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, s->residual};
	rc = du_prim_exec(&s->conv, k->env, nargs, args, s->label, err);
	if (!rc)
		rc = du_operand_after(&s->dst, k->env, y->data, s->label, err);
	return rc;
}

const op_def op_conv_defs[] = {
	{.domain = "", .name = "Conv", .since = 1, .until = 17,
	 .attrs = conv_attrs, .infer = conv_infer, .prepare = conv_prepare,
	 .run = conv_run, .release = conv_release,
	 .fuse_caps = FUSE_RELU | FUSE_SUM, .layout_caps = LAYOUT_SRC | LAYOUT_DST,
	 .grad = conv_grad_rule, .grad_inputs = 0x7},
	{.domain = "", .name = "ConvTranspose", .since = 1, .until = 17,
	 .attrs = conv_transpose_attrs, .infer = conv_transpose_infer},
	{0},
};
