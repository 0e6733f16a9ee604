/* batchnorm.c: batch normalization and its per-sample relatives.
 *
 * BatchNormalization: Y = scale * (X - mean) / sqrt(var + epsilon) + B with
 * per-channel parameters of shape [C] for X [N, C, D1..Dn].
 *   opset 6: attributes epsilon, is_test, momentum, spatial.
 *   opsets 7-8: attributes epsilon, momentum, spatial (spatial = 0 gives the
 *     parameters X's shape without N); outputs Y and optionally mean, var,
 *     saved_mean, saved_var.
 *   opsets 9-13: spatial removed, same five outputs.
 *   opsets 14-17: training_mode; outputs Y and, in training mode only,
 *     running_mean and running_var.  From 15 the scale/bias (T1) and
 *     mean/var (T2) types may differ from X's.
 *   Training (training_mode=1, or before 14 asking for the statistics
 *   outputs) normalises with the batch mean and biased variance and
 *   outputs running = input * momentum + batch * (1 - momentum); below 14
 *   saved_mean/saved_var are the batch mean and variance.
 *   Kernel: oneDNN's batch normalization when X and every parameter are
 *   float32; a plain loop in double otherwise.
 *   Data parallelism with --sync-bn (runtime/dist.h): training uses the
 *   statistics of the global batch, each rank's per-channel mean and
 *   variance combined by dist_bn_stats(); oneDNN then normalises with
 *   them as given statistics (dnnl_use_global_stats), and the running
 *   statistics are updated with them.
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
 * The other ops have shape inference only. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/dist.h"
#include "dnnl_grad.h"
#include "dnnl_util.h"
#include "infer_util.h"

static const op_attr_spec bn6_attrs[] = {
	{"epsilon", ATTR_FLOAT},
	{"is_test", ATTR_INT},
	{"momentum", ATTR_FLOAT},
	{"spatial", ATTR_INT},
	{NULL, 0},
};

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

/* --- BatchNormalization kernel ------------------------------------------ */

typedef struct bn_state {
	char label[192];
	int training;
	int use_dnnl;
	int sync;                  /* training on the global batch's statistics */
	float epsilon, momentum;
	int64_t n, c, inner;       /* X seen as [N, C, inner] */
	du_chan_layout x_layout;   /* sync: X's layout for the local statistics */
	size_t work_off, gstat_off;/* sync: du_bn_stats' work; 2 C doubles */
	du_prim bn;
	du_operand src, dst;       /* X and Y: blocked when the planner allows */
	dnnl_memory_t scale, shift, mean, var;
	dnnl_memory_desc_t y_md;   /* Y's layout when it is not plain (out_md) */
	size_t mean_off, var_off;  /* training: oneDNN's batch statistics */
	du_plain_copy x_plain;     /* the plain loop's X when it came blocked */
} bn_state;

static void bn_release(op_kernel *k)
{
	bn_state *s = k->state;
	if (!s)
		return;
	du_prim_destroy(&s->bn);
	du_operand_destroy(&s->src);
	du_operand_destroy(&s->dst);
	du_plain_copy_destroy(&s->x_plain);
	dnnl_memory_t *mems[] = {&s->scale, &s->shift, &s->mean, &s->var};
	for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
		if (*mems[i])
			dnnl_memory_destroy(*mems[i]);
	free(s);
	k->state = NULL;
}

static int bn_has_output(const op_kernel *k, int i)
{
	return i < k->n_out && k->out[i];
}

/* Training computes batch statistics: from 14 the training_mode attribute
 * says so; before, asking for the statistics outputs does (opset 6 also
 * has is_test, which wins). */
static int bn_is_training(const op_kernel *k)
{
	if (k->opset >= 14)
		return infer_attr_int(k->node, "training_mode", 0) != 0;
	if (k->opset <= 6 && infer_attr_int(k->node, "is_test", 0))
		return 0;
	for (int i = 1; i < 5; i++)
		if (bn_has_output(k, i))
			return 1;
	return 0;
}

/* The primitive computes in X's layout as it arrives: blocked from a
 * blocked conv (oneDNN's jit kernels; its plain-layout one is several
 * times slower on ResNet's small planes), plain otherwise.  Y keeps that
 * layout when the planner allows. */
static int bn_build_dnnl(op_kernel *k, bn_state *s, sc_error *err)
{
	dnnl_memory_desc_t x_md, p_md;
	int rc = du_bn_mds(k->in[0], s->n, s->c, s->inner, &x_md, &p_md,
			   s->label, err);
	if (rc)
		return rc;
	const dnnl_memory_desc_t *data = du_input_md(k, 0, &x_md);
	unsigned flags = dnnl_use_scale | dnnl_use_shift;
	if (!s->training || s->sync)
		flags |= dnnl_use_global_stats;
	if (s->sync && !du_chan_layout_of(data == &x_md ? NULL : data, s->n, s->c,
					  s->inner, &s->x_layout))
		return sc_fail(err, SC_EINTERNAL, "%s: X arrives in a layout the "
			       "statistics loop does not walk", s->label);
	dnnl_batch_normalization_desc_t bd;
	rc = du_check(dnnl_batch_normalization_forward_desc_init(&bd,
			s->training ? dnnl_forward_training : dnnl_forward_inference,
			data, s->epsilon, flags),
		      s->label, "describing the batch normalization", err);
	size_t scratch = 0;
	if (!rc)
		rc = du_prim_create(&s->bn, &bd, NULL, k->env, &scratch, s->label,
				    err);
	if (rc)
		return rc;
	const dnnl_memory_desc_t *chosen = du_prim_md(&s->bn, dnnl_query_src_md, 0);
	const dnnl_memory_desc_t *y_held = du_output_md(k, chosen, &x_md, &s->y_md);
	rc = du_operand_init(&s->src, DU_IN, data, chosen, NULL, k->env, &scratch,
			     s->label, err);
	if (!rc)
		rc = du_operand_init(&s->dst, DU_OUT, y_held,
				     du_prim_md(&s->bn, dnnl_query_dst_md, 0), NULL,
				     k->env, &scratch, s->label, err);
	dnnl_memory_t *mems[] = {&s->scale, &s->shift, &s->mean, &s->var};
	for (size_t i = 0; i < sizeof mems / sizeof mems[0] && !rc; i++)
		rc = du_mem_create(mems[i], &p_md, k->env, s->label, err);
	if (rc)
		return rc;
	if (s->training) {
		s->mean_off = du_scratch_take(&scratch, (size_t)s->c * sizeof(float));
		s->var_off = du_scratch_take(&scratch, (size_t)s->c * sizeof(float));
	}
	if (s->sync) {
		s->work_off = du_scratch_take(&scratch, du_bn_stats_work(s->c) *
					      sizeof(double));
		s->gstat_off = du_scratch_take(&scratch, 2 * (size_t)s->c *
					       sizeof(double));
	}
	exec_scratch_request(k->env, scratch);
	return SC_OK;
}

static int bn_prepare(op_kernel *k, sc_error *err)
{
	bn_state *s = calloc(1, sizeof *s);
	if (!s)
		return sc_fail(err, SC_ENOMEM, "out of memory preparing BatchNormalization");
	k->state = s;
	du_label(k, s->label, sizeof s->label);
	const sc_tensor *x = k->in[0];
	if (!tensor_dtype_is_float(x->dtype))
		return sc_fail(err, SC_EINVAL, "%s: X is %s, expected a float type",
			       s->label, tensor_dtype_name(x->dtype));
	if (x->rank < 2)
		return sc_fail(err, SC_EINVAL,
			       "%s: X has rank %d, expected at least 2 (N, C, ...)",
			       s->label, x->rank);
	int spatial = k->opset < 9 ? infer_attr_int(k->node, "spatial", 1) != 0 : 1;
	s->n = x->dims[0];
	s->c = x->dims[1];
	s->inner = 1;
	for (int i = 2; i < x->rank; i++)
		s->inner *= x->dims[i];
	if (!spatial) {
		/* statistics per element of a sample: channels are C x D1 x ... */
		s->c *= s->inner;
		s->inner = 1;
	}
	for (int i = 1; i < 5; i++) {
		const sc_tensor *p = i < k->n_in ? k->in[i] : NULL;
		if (!p)
			return sc_fail(err, SC_EINVAL, "%s: input %d (%s) is missing",
				       s->label, i, bn_input_names[i]);
		int same = p->numel == s->c &&
			   (p->rank == 1 || (!spatial && p->rank == x->rank - 1 &&
					     !memcmp(p->dims, x->dims + 1,
						     (size_t)p->rank * sizeof(int64_t))));
		if (!same)
			return sc_fail(err, SC_EINVAL,
				       "%s: %s has %lld values, expected %lld (one per %s)",
				       s->label, bn_input_names[i], (long long)p->numel,
				       (long long)s->c, spatial ? "channel" :
				       "element of a sample");
		int want = k->opset < 15 ? x->dtype : k->in[i <= 2 ? 1 : 3]->dtype;
		if (!tensor_dtype_is_float(p->dtype) || (int)p->dtype != want)
			return sc_fail(err, SC_EINVAL, "%s: %s is %s, expected %s",
				       s->label, bn_input_names[i],
				       tensor_dtype_name(p->dtype),
				       tensor_dtype_name(want));
	}
	s->epsilon = infer_attr_float(k->node, "epsilon", 1e-5f);
	s->momentum = infer_attr_float(k->node, "momentum", 0.9f);
	s->training = bn_is_training(k);
	s->sync = s->training && dist_bn_sync_active();

	int rc = tensor_set_shape(k->out[0], x->dtype, x->rank, x->dims, s->label,
				  err);
	int n_stats = k->opset >= 14 ? 2 : 4;
	for (int i = 1; i <= n_stats && !rc; i++)
		if (bn_has_output(k, i))
			rc = tensor_set_shape(k->out[i], k->in[3]->dtype,
					      k->in[3]->rank, k->in[3]->dims,
					      s->label, err);
	if (rc)
		return rc;
	s->use_dnnl = x->dtype == SC_FLOAT && k->in[1]->dtype == SC_FLOAT &&
		      k->in[3]->dtype == SC_FLOAT && x->numel > 0;
	if (s->use_dnnl)
		return bn_build_dnnl(k, s, err);
	size_t scratch = 0;
	rc = du_plain_copy_init(&s->x_plain, k, 0, &scratch, s->label, err);
	if (s->sync)
		s->gstat_off = du_scratch_take(&scratch, 2 * (size_t)s->c *
					       sizeof(double));
	exec_scratch_request(k->env, scratch);
	return rc;
}

/* Writes the statistics outputs of a training step from the batch mean
 * and variance of channel ch: running = input * momentum + batch * (1 -
 * momentum), and below opset 14 the batch values as saved_mean/var. */
static void bn_store_stats(op_kernel *k, const bn_state *s, int64_t ch,
			   double mean, double var)
{
	double m = s->momentum;
	double rm = du_load(k->in[3]->data, k->in[3]->dtype, ch) * m + mean * (1 - m);
	double rv = du_load(k->in[4]->data, k->in[4]->dtype, ch) * m + var * (1 - m);
	if (!s->training) {
		rm = du_load(k->in[3]->data, k->in[3]->dtype, ch);
		rv = du_load(k->in[4]->data, k->in[4]->dtype, ch);
		mean = rm;
		var = rv;
	}
	double vals[5] = {0, rm, rv, mean, var};
	for (int i = 1; i < 5; i++)
		if (bn_has_output(k, i) && (k->opset < 14 || i <= 2))
			du_store(k->out[i]->data, k->out[i]->dtype, ch, vals[i]);
}

/* The global batch's statistics: this rank's, combined over ranks. */
static int bn_global_stats(const bn_state *s, const sc_tensor *x,
			   double *mean, double *var, sc_error *err)
{
	#pragma omp parallel for if (x->numel > 32768)
	for (int64_t ch = 0; ch < s->c; ch++)
		du_channel_stats(x, s->n, s->c, s->inner, ch, &mean[ch], &var[ch]);
	int rc = dist_bn_stats(mean, var, s->c, s->n * s->inner, err);
	if (rc)
		sc_error_prefix(err, "%s: ", s->label);
	return rc;
}

/* gmean/gvar: the global statistics under sync, else NULL. */
static void bn_reference(op_kernel *k, const bn_state *s, const sc_tensor *x,
			 const double *gmean, const double *gvar)
{
	sc_tensor *y = k->out[0];
	#pragma omp parallel for if (x->numel > 32768)
	for (int64_t ch = 0; ch < s->c; ch++) {
		double mean, var;
		if (gmean) {
			mean = gmean[ch];
			var = gvar[ch];
		} else if (s->training) {
			du_channel_stats(x, s->n, s->c, s->inner, ch, &mean, &var);
		} else {
			mean = du_load(k->in[3]->data, k->in[3]->dtype, ch);
			var = du_load(k->in[4]->data, k->in[4]->dtype, ch);
		}
		double a = du_load(k->in[1]->data, k->in[1]->dtype, ch) /
			   sqrt(var + (double)s->epsilon);
		double b = du_load(k->in[2]->data, k->in[2]->dtype, ch) - mean * a;
		for (int64_t n = 0; n < s->n; n++) {
			int64_t base = (n * s->c + ch) * s->inner;
			for (int64_t j = 0; j < s->inner; j++)
				du_store(y->data, y->dtype, base + j,
					 du_load(x->data, x->dtype, base + j) * a + b);
		}
		bn_store_stats(k, s, ch, mean, var);
	}
}

static int bn_run(op_kernel *k, sc_error *err)
{
	bn_state *s = k->state;
	if (!s->use_dnnl) {
		sc_tensor tmp;
		const sc_tensor *x = du_plain_copy_run(&s->x_plain, k, 0, &tmp,
						       s->label, err);
		if (!x)
			return err->code;
		double *gm = NULL, *gv = NULL;
		if (s->sync) {
			gm = du_scratch_at(k->env, s->gstat_off);
			gv = gm + s->c;
			int rc = bn_global_stats(s, x, gm, gv, err);
			if (rc)
				return rc;
		}
		bn_reference(k, s, x, gm, gv);
		return SC_OK;
	}
	float *mean = s->training ? du_scratch_at(k->env, s->mean_off) :
		      k->in[3]->data;
	float *var = s->training ? du_scratch_at(k->env, s->var_off) :
		     k->in[4]->data;
	double *gm = s->sync ? du_scratch_at(k->env, s->gstat_off) : NULL;
	if (s->sync) {
		/* the local statistics, combined over ranks, are what oneDNN
		 * normalises with */
		du_bn_stats(k->in[0]->data, &s->x_layout, s->n, s->c, s->inner, mean,
			    var, du_scratch_at(k->env, s->work_off));
		for (int64_t ch = 0; ch < s->c; ch++) {
			gm[ch] = mean[ch];
			gm[s->c + ch] = var[ch];
		}
		int rc = dist_bn_stats(gm, gm + s->c, s->c, s->n * s->inner, err);
		if (rc) {
			sc_error_prefix(err, "%s: ", s->label);
			return rc;
		}
		for (int64_t ch = 0; ch < s->c; ch++) {
			mean[ch] = (float)gm[ch];
			var[ch] = (float)gm[s->c + ch];
		}
	}
	int rc = du_operand_before(&s->src, k->env, k->in[0]->data, s->label, err);
	if (!rc)
		rc = du_operand_before(&s->dst, k->env, k->out[0]->data, s->label,
				       err);
	const void *bind[4] = {k->in[1]->data, k->in[2]->data, mean, var};
	dnnl_memory_t mems[4] = {s->scale, s->shift, s->mean, s->var};
	for (int i = 0; i < 4 && !rc; i++)
		rc = du_mem_bind(mems[i], bind[i], s->label, err);
	if (rc)
		return rc;
	dnnl_exec_arg_t args[6] = {
		{DNNL_ARG_SRC, s->src.mem},
		{DNNL_ARG_DST, s->dst.mem},
		{DNNL_ARG_SCALE, s->scale},
		{DNNL_ARG_SHIFT, s->shift},
		{DNNL_ARG_MEAN, s->mean},
		{DNNL_ARG_VARIANCE, s->var},
	};
	rc = du_prim_exec(&s->bn, k->env, 6, args, s->label, err);
	if (!rc)
		rc = du_operand_after(&s->dst, k->env, k->out[0]->data, s->label, err);
	if (rc)
		return rc;
	for (int64_t ch = 0; ch < s->c; ch++)
		bn_store_stats(k, s, ch, gm ? gm[ch] : mean[ch],
			       gm ? gm[s->c + ch] : var[ch]);
	return SC_OK;
}

const op_def op_batchnorm_defs[] = {
	{.domain = "", .name = "BatchNormalization", .since = 6, .until = 6,
	 .attrs = bn6_attrs, .infer = bn_infer, .prepare = bn_prepare,
	 .run = bn_run, .release = bn_release,
	 .grad = bn_grad_rule, .grad_inputs = 0x7},
	{.domain = "", .name = "BatchNormalization", .since = 7, .until = 8,
	 .attrs = bn7_attrs, .infer = bn_infer, .prepare = bn_prepare,
	 .run = bn_run, .release = bn_release,
	 .grad = bn_grad_rule, .grad_inputs = 0x7},
	{.domain = "", .name = "BatchNormalization", .since = 9, .until = 13,
	 .attrs = bn9_attrs, .infer = bn_infer, .prepare = bn_prepare,
	 .run = bn_run, .release = bn_release,
	 .grad = bn_grad_rule, .grad_inputs = 0x7,
	 .layout_caps = LAYOUT_SRC | LAYOUT_DST},
	{.domain = "", .name = "BatchNormalization", .since = 14, .until = 17,
	 .attrs = bn14_attrs, .infer = bn_infer, .prepare = bn_prepare,
	 .run = bn_run, .release = bn_release,
	 .grad = bn_grad_rule, .grad_inputs = 0x7,
	 .layout_caps = LAYOUT_SRC | LAYOUT_DST},
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
