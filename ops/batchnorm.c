/* batchnorm.c: batch normalization and its per-sample relatives.
 *
 * BatchNormalization: Y = scale * (X - mean) / sqrt(var + epsilon) + B with
 * per-channel parameters of shape [C] for X [N, C, D1..Dn].
 *   opsets 7-8: attributes epsilon, momentum, spatial (spatial = 0 gives the
 *     parameters X's shape without N); outputs Y and optionally mean, var,
 *     saved_mean, saved_var.
 *   opsets 9-13: spatial removed, same five outputs.
 *   opsets 14-17: training_mode; outputs Y and, in training mode only,
 *     running_mean and running_var.  From 15 the scale/bias (T1) and
 *     mean/var (T2) types may differ from X's.
 * InstanceNormalization (6-17): per-sample, per-channel statistics; scale
 *   and B are [C]; Y has X's shape.
 * LRN (1-17): each element divided by a power of the sum of squares over
 *   `size` neighbouring channels; Y has X's shape.
 * MeanVarianceNormalization (9-17): (X - mean) / std over `axes` (default
 *   0, 2, 3); Y has X's shape.
 * LayerNormalization (17): statistics over axes axis..rank-1; outputs Y and
 *   optionally Mean and InvStdDev, shaped like X with those axes set to 1,
 *   in the stash_type dtype.
 *
 * Shape inference only for now; kernels and gradients come with the engine. */
#include "infer_util.h"

static const op_attr_spec bn7_attrs[] = {
	{"epsilon", ATTR_FLOAT},
	{"momentum", ATTR_FLOAT},
	{"spatial", ATTR_INT},
	{NULL, 0},
};

static const op_attr_spec bn9_attrs[] = {
	{"epsilon", ATTR_FLOAT},
	{"momentum", ATTR_FLOAT},
	{NULL, 0},
};

static const op_attr_spec bn14_attrs[] = {
	{"epsilon", ATTR_FLOAT},
	{"momentum", ATTR_FLOAT},
	{"training_mode", ATTR_INT},
	{NULL, 0},
};

static const op_attr_spec instance_norm_attrs[] = {
	{"epsilon", ATTR_FLOAT},
	{NULL, 0},
};

static const op_attr_spec layer_norm_attrs[] = {
	{"axis", ATTR_INT},
	{"epsilon", ATTR_FLOAT},
	{"stash_type", ATTR_INT},
	{NULL, 0},
};

static const op_attr_spec lrn_attrs[] = {
	{"alpha", ATTR_FLOAT},
	{"beta", ATTR_FLOAT},
	{"bias", ATTR_FLOAT},
	{"size", ATTR_INT},
	{NULL, 0},
};

static const op_attr_spec mvn_attrs[] = {
	{"axes", ATTR_INTS},
	{NULL, 0},
};

static const char *const bn_input_names[] = {"X", "scale", "B", "input_mean",
					      "input_var"};

/* Checks input i against the parameter shape p and unifies its channel
 * count into p. */
static int bn_param(const graph *g, const graph_node *n, int i,
		    infer_tensor *p, sc_error *err)
{
	infer_tensor t;
	if (!infer_input(g, n, i, &t) || t.rank < 0)
		return SC_OK;
	if (p->rank >= 0 && t.rank != p->rank)
		return infer_fail(g, n, err, "%s has rank %d, expected %d",
				  bn_input_names[i], t.rank, p->rank);
	if (p->rank < 0) {
		int elem = p->elem;
		*p = t;
		p->elem = elem;
		return SC_OK;
	}
	for (int k = 0; k < t.rank; k++)
		if (infer_dim_unify(p->dims[k], t.dims[k], &p->dims[k]))
			return infer_fail(g, n, err,
					  "%s has %lld values along axis %d where X has %lld",
					  bn_input_names[i], (long long)t.dims[k].value,
					  k, (long long)p->dims[k].value);
	return SC_OK;
}

static int bn_infer(graph *g, const graph_node *n, int64_t opset,
		    sc_error *err)
{
	infer_tensor x, p;
	infer_input(g, n, 0, &x);
	if (x.rank >= 0 && x.rank < 2)
		return infer_fail(g, n, err, "X has rank %d, expected at least 2 (N, C, ...)",
				  x.rank);
	int spatial = opset < 9 ? (int)infer_attr_int(n, "spatial", 1) : 1;

	/* p: the shape every parameter and statistic has */
	if (spatial) {
		infer_tensor_rank(&p, 0, 1);
		if (x.rank >= 0)
			p.dims[0] = x.dims[1];
	} else if (x.rank >= 0) {
		infer_tensor_rank(&p, 0, x.rank - 1);
		for (int k = 1; k < x.rank; k++)
			p.dims[k - 1] = x.dims[k];
	} else {
		infer_tensor_unknown(&p, 0);
	}
	for (int i = 1; i <= 4; i++) {
		int rc = bn_param(g, n, i, &p, err);
		if (rc)
			return rc;
	}

	/* types: one T before 15; then T for X, T1 for scale/B, T2 for stats */
	infer_tensor t;
	int elem = x.elem, t1 = 0, t2 = 0, rc = SC_OK;
	for (int i = 1; i <= 4 && !rc; i++) {
		infer_input(g, n, i, &t);
		if (opset < 15)
			rc = infer_unify_elem(g, n, 0, elem, i, t.elem, &elem, err);
		else if (i <= 2)
			rc = infer_unify_elem(g, n, 1, t1, i, t.elem, &t1, err);
		else
			rc = infer_unify_elem(g, n, 3, t2, i, t.elem, &t2, err);
	}
	if (rc)
		return rc;
	x.elem = elem;
	rc = infer_set_output(g, n, 0, &x, err);
	if (rc)
		return rc;

	if (opset >= 14 && !infer_attr_int(n, "training_mode", 0) &&
	    (infer_has_output(n, 1) || infer_has_output(n, 2)))
		return infer_fail(g, n, err,
				  "running_mean and running_var are outputs only with training_mode=1");
	p.elem = opset >= 15 ? t2 : elem;
	int n_stats = opset >= 14 ? 2 : 4;
	for (int i = 1; i <= n_stats && !rc; i++)
		rc = infer_set_output(g, n, i, &p, err);
	return rc;
}

static int instance_norm_infer(graph *g, const graph_node *n, int64_t opset,
			       sc_error *err)
{
	(void)opset;
	infer_tensor x, s, b;
	infer_input(g, n, 0, &x);
	if (x.rank >= 0 && x.rank < 3)
		return infer_fail(g, n, err, "input has rank %d, expected at least 3",
				  x.rank);
	infer_dim c = x.rank >= 0 ? x.dims[1] : infer_dim_unknown();
	int elem = x.elem, rc = SC_OK;
	for (int i = 1; i <= 2 && !rc; i++) {
		infer_tensor *t = i == 1 ? &s : &b;
		infer_input(g, n, i, t);
		rc = infer_unify_elem(g, n, 0, elem, i, t->elem, &elem, err);
		if (rc)
			return rc;
		if (t->rank >= 0 && t->rank != 1)
			return infer_fail(g, n, err, "input %d has rank %d, expected 1",
					  i, t->rank);
		if (t->rank == 1 && infer_dim_unify(c, t->dims[0], &c))
			return infer_fail(g, n, err,
					  "input %d has %lld values for %lld channels",
					  i, (long long)t->dims[0].value,
					  (long long)c.value);
	}
	if (x.rank >= 0)
		x.dims[1] = c;
	x.elem = elem;
	return infer_set_output(g, n, 0, &x, err);
}

static int layer_norm_infer(graph *g, const graph_node *n, int64_t opset,
			    sc_error *err)
{
	(void)opset;
	infer_tensor x, scale, stat;
	infer_input(g, n, 0, &x);
	infer_input(g, n, 1, &scale);
	int elem, rc = infer_unify_elem(g, n, 0, x.elem, 1, scale.elem, &elem, err);
	if (rc)
		return rc;
	int64_t stash = infer_attr_int(n, "stash_type", SC_FLOAT);
	if (!tensor_dtype_valid((int)stash))
		return infer_fail(g, n, err, "stash_type %lld is not a data type",
				  (long long)stash);
	x.elem = elem;
	rc = infer_set_output(g, n, 0, &x, err);
	if (rc || x.rank < 0) {
		if (!rc) {
			infer_tensor_unknown(&stat, (int)stash);
			rc = infer_set_output(g, n, 1, &stat, err);
			if (!rc)
				rc = infer_set_output(g, n, 2, &stat, err);
		}
		return rc;
	}
	int axis;
	if (infer_axis(infer_attr_int(n, "axis", -1), x.rank, &axis))
		return infer_fail(g, n, err, "axis %lld is out of range for rank %d",
				  (long long)infer_attr_int(n, "axis", -1), x.rank);
	stat = x;
	stat.elem = (int)stash;
	for (int k = axis; k < x.rank; k++)
		stat.dims[k] = infer_dim_of(1);
	rc = infer_set_output(g, n, 1, &stat, err);
	if (!rc)
		rc = infer_set_output(g, n, 2, &stat, err);
	return rc;
}

const op_def op_batchnorm_defs[] = {
	{.domain = "", .name = "BatchNormalization", .since = 7, .until = 8,
	 .attrs = bn7_attrs, .infer = bn_infer},
	{.domain = "", .name = "BatchNormalization", .since = 9, .until = 13,
	 .attrs = bn9_attrs, .infer = bn_infer},
	{.domain = "", .name = "BatchNormalization", .since = 14, .until = 17,
	 .attrs = bn14_attrs, .infer = bn_infer},
	{.domain = "", .name = "InstanceNormalization", .since = 6, .until = 17,
	 .attrs = instance_norm_attrs, .infer = instance_norm_infer},
	{.domain = "", .name = "LRN", .since = 1, .until = 17,
	 .attrs = lrn_attrs, .infer = infer_same_as_input},
	{.domain = "", .name = "MeanVarianceNormalization", .since = 9, .until = 17,
	 .attrs = mvn_attrs, .infer = infer_same_as_input},
	{.domain = "", .name = "LayerNormalization", .since = 17, .until = 17,
	 .attrs = layer_norm_attrs, .infer = layer_norm_infer},
	{0},
};
