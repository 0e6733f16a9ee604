/* softmax.c: softmax and the classification losses built on it.
 *
 * Softmax exp(x_i) / sum_j exp(x_j), LogSoftmax its log, Hardmax the
 * one-hot of the arg max; Y has X's shape.
 *   opsets 1-12: X is coerced to 2-D at `axis` (default 1) and normalised
 *   over the trailing block.  opsets 13-17: normalised along `axis` alone
 *   (default -1).
 * SoftmaxCrossEntropyLoss (12-17) and NegativeLogLikelihoodLoss (12-17):
 *   scores [N, C, D...], int labels [N, D...], optional weights [C].
 *   reduction "none" gives a loss per label ([N, D...]); "mean" (default)
 *   and "sum" give a scalar.  SoftmaxCrossEntropyLoss can also return the
 *   log-probabilities, shaped like the scores.
 *
 * Shape inference only for now; kernels and gradients come with the engine. */
#include "infer_util.h"

static const op_attr_spec softmax_attrs[] = {
	{"axis", ATTR_INT},
	{NULL, 0},
};

static const op_attr_spec loss_attrs[] = {
	{"ignore_index", ATTR_INT},
	{"reduction", ATTR_STRING},
	{NULL, 0},
};

static int softmax_infer(graph *g, const graph_node *n, int64_t opset,
			 sc_error *err)
{
	infer_tensor x;
	infer_input(g, n, 0, &x);
	int64_t axis = infer_attr_int(n, "axis", opset >= 13 ? -1 : 1);
	int a;
	if (x.rank >= 0 && infer_axis(axis, x.rank, &a))
		return infer_fail(g, n, err, "axis %lld is out of range for rank %d",
				  (long long)axis, x.rank);
	return infer_set_output(g, n, 0, &x, err);
}

static int loss_infer(graph *g, const graph_node *n, int64_t opset,
		      sc_error *err)
{
	(void)opset;
	infer_tensor s, l, w, y;
	infer_input(g, n, 0, &s);
	infer_input(g, n, 1, &l);
	int has_w = infer_input(g, n, 2, &w);
	if (l.elem && l.elem != SC_INT32 && l.elem != SC_INT64)
		return infer_fail(g, n, err, "labels must be int32 or int64, not %s",
				  tensor_dtype_name(l.elem));
	if (has_w) {
		int rc = infer_unify_elem(g, n, 0, s.elem, 2, w.elem, &s.elem, err);
		if (rc)
			return rc;
	}
	if (s.rank >= 0 && s.rank < 2)
		return infer_fail(g, n, err, "scores have rank %d, expected at least 2 (N, C)",
				  s.rank);
	if (s.rank >= 0 && l.rank >= 0 && l.rank != s.rank - 1)
		return infer_fail(g, n, err, "labels have rank %d, expected %d",
				  l.rank, s.rank - 1);
	/* per-label shape: labels' dims, checked against scores minus C */
	infer_tensor per = l;
	if (s.rank >= 0) {
		infer_tensor_rank(&per, 0, s.rank - 1);
		for (int i = 0; i < per.rank; i++) {
			infer_dim sd = s.dims[i == 0 ? 0 : i + 1];
			infer_dim ld = l.rank >= 0 ? l.dims[i] : infer_dim_unknown();
			if (infer_dim_unify(sd, ld, &per.dims[i]))
				return infer_fail(g, n, err,
						  "labels dim %d is %lld but scores have %lld",
						  i, (long long)ld.value, (long long)sd.value);
		}
		if (has_w && w.rank >= 0 &&
		    (w.rank != 1 || (w.dims[0].value >= 0 && s.dims[1].value >= 0 &&
				     w.dims[0].value != s.dims[1].value)))
			return infer_fail(g, n, err, "weights must be [C]");
	}
	if (infer_attr_is(n, "reduction", "mean", "none")) {
		y = per;
	} else if (infer_attr_is(n, "reduction", "mean", "mean") ||
		   infer_attr_is(n, "reduction", "mean", "sum")) {
		infer_tensor_rank(&y, 0, 0);
	} else {
		return infer_fail(g, n, err, "reduction must be none, mean or sum");
	}
	y.elem = s.elem;
	int rc = infer_set_output(g, n, 0, &y, err);
	if (!rc)
		rc = infer_set_output(g, n, 1, &s, err);
	return rc;
}

const op_def op_softmax_defs[] = {
	{.domain = "", .name = "Softmax", .since = 1, .until = 12,
	 .attrs = softmax_attrs, .infer = softmax_infer},
	{.domain = "", .name = "Softmax", .since = 13, .until = 17,
	 .attrs = softmax_attrs, .infer = softmax_infer},
	{.domain = "", .name = "LogSoftmax", .since = 1, .until = 12,
	 .attrs = softmax_attrs, .infer = softmax_infer},
	{.domain = "", .name = "LogSoftmax", .since = 13, .until = 17,
	 .attrs = softmax_attrs, .infer = softmax_infer},
	{.domain = "", .name = "Hardmax", .since = 1, .until = 12,
	 .attrs = softmax_attrs, .infer = softmax_infer},
	{.domain = "", .name = "Hardmax", .since = 13, .until = 17,
	 .attrs = softmax_attrs, .infer = softmax_infer},
	{.domain = "", .name = "SoftmaxCrossEntropyLoss", .since = 12, .until = 17,
	 .attrs = loss_attrs, .infer = loss_infer},
	{.domain = "", .name = "NegativeLogLikelihoodLoss", .since = 12, .until = 17,
	 .attrs = loss_attrs, .infer = loss_infer},
	{0},
};
