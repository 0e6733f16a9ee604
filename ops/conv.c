/* conv.c: convolution.
 *
 * Conv (opsets 1-17): Y[n, m, o...] = B[m] + sum over c in m's group and
 * kernel taps k of X[n, c, o*stride + k*dilation - pad_begin] * W[m, c, k].
 *   X [N, C, D1..Dn], W [M, C/group, k1..kn], B [M] (optional) -> Y [N, M, O1..On]
 *   Oi = floor((Di + pad_begin + pad_end - ((ki-1)*dilation+1)) / stride) + 1,
 *   or ceil(Di / stride) for auto_pad SAME_UPPER/SAME_LOWER.
 *   Opset 11 only clarified auto_pad; both versions share attributes.
 *
 * ConvTranspose (opsets 1-17): the gradient of Conv with respect to its
 * input.  X [N, C, D...], W [C, M/group, k...] -> Y [N, M, O...] with
 *   Oi = stride*(Di-1) + output_padding + ((ki-1)*dilation+1) - pads,
 *   Di*stride for SAME_*, or output_shape when given.
 *
 * Shape inference only for now; kernels and gradients come with the engine. */
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

const op_def op_conv_defs[] = {
	{.domain = "", .name = "Conv", .since = 1, .until = 17,
	 .attrs = conv_attrs, .infer = conv_infer},
	{.domain = "", .name = "ConvTranspose", .since = 1, .until = 17,
	 .attrs = conv_transpose_attrs, .infer = conv_transpose_infer},
	{0},
};
