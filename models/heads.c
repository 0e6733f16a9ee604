/* heads.c: the layers appended on top of an encoder -- the linear
 * classifier (torch nn.Linear as Gemm), the L2 normalisation of torch's
 * F.normalize, and SupContrast's projection heads (linear, and the MLP
 * Linear-ReLU-Linear) -- into any model's main graph; see models.h. */
#include "models.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "emit.h"

/* F.normalize's default eps: the norm is clamped to at least this. */
#define L2NORM_EPS 1e-12f

#define NAME_MAX_LEN 256

static int check_feature_value(const graph_model *m, int in, int64_t in_dim,
			       const char *what, sc_error *err)
{
	if (!m || !m->graph)
		return sc_fail(err, SC_EINVAL, "%s: no model to append to", what);
	if (in < 0 || in >= m->graph->n_values)
		return sc_fail(err, SC_EINVAL, "%s: input value %d is not in the graph",
			       what, in);
	if (in_dim < 1 || in_dim > MODEL_MAX_DIM)
		return sc_fail(err, SC_EINVAL,
			       "%s: input size %lld of '%s' is outside [1, %d]", what,
			       (long long)in_dim, m->graph->values[in].name, MODEL_MAX_DIM);
	return SC_OK;
}

static int check_prefix(const char *prefix, sc_error *err)
{
	if (!prefix || !*prefix)
		return sc_fail(err, SC_EINVAL, "layer prefix is empty");
	if (strlen(prefix) > NAME_MAX_LEN - 32)
		return sc_fail(err, SC_EINVAL, "layer prefix '%.64s...' is too long", prefix);
	return SC_OK;
}

/* out_name when given (it must be new), else a fresh variant of base. */
static int output_value(graph *g, const char *out_name, const char *base,
			int *v, sc_error *err)
{
	return out_name ? emit_value(g, out_name, v, err) :
			  emit_fresh_value(g, base, v, err);
}

/* A float parameter of an appended layer.  Before IR version 4 every
 * initializer had to be listed as a graph input too (exporters of opset
 * < 9 files do that), so those models get the new ones listed as well. */
static int add_param(graph_model *m, const char *name, int rank,
		     const int64_t *dims, int *v, float **data, sc_error *err)
{
	int rc = emit_param(m->graph, name, rank, dims, v, data, err);
	if (rc || m->ir_version <= 0 || m->ir_version >= 4)
		return rc;
	if ((rc = emit_fixed_type(m->graph, *v, rank, dims, err)))
		return rc;
	return emit_graph_input(m->graph, *v, err);
}

int model_add_linear_as(graph_model *m, int in, int64_t in_dim, int64_t out_dim,
			const char *prefix, uint64_t seed, const char *out_name,
			int *out, sc_error *err)
{
	int rc;
	if ((rc = check_prefix(prefix, err)) ||
	    (rc = check_feature_value(m, in, in_dim, prefix, err)))
		return rc;
	if (out_dim < 1 || out_dim > MODEL_MAX_DIM)
		return sc_fail(err, SC_EINVAL, "%s: output size %lld is outside [1, %d]",
			       prefix, (long long)out_dim, MODEL_MAX_DIM);
	graph *g = m->graph;
	char name[NAME_MAX_LEN];
	int w, b, y, node;
	float *wd, *bd;
	int64_t wdims[2] = {out_dim, in_dim}, bdims[1] = {out_dim};

	/* torch's nn.Linear.reset_parameters: kaiming_uniform(a=sqrt(5)) on
	 * the weight and a uniform bias, both bounded by 1/sqrt(fan_in) */
	double bound = 1.0 / sqrt((double)in_dim);
	snprintf(name, sizeof name, "%s.weight", prefix);
	if ((rc = add_param(m, name, 2, wdims, &w, &wd, err)))
		return rc;
	emit_fill_uniform(wd, out_dim * in_dim, bound, seed, name);
	snprintf(name, sizeof name, "%s.bias", prefix);
	if ((rc = add_param(m, name, 1, bdims, &b, &bd, err)))
		return rc;
	emit_fill_uniform(bd, out_dim, bound, seed, name);

	int ins[3] = {in, w, b};
	if ((rc = output_value(g, out_name, prefix, &y, err)) ||
	    (rc = emit_node(g, "Gemm", prefix, 3, ins, 1, &y, &node, err)) ||
	    (rc = emit_attr_int(g, node, "transB", 1, err)))
		return rc;
	*out = y;
	return SC_OK;
}

int model_add_linear(graph_model *m, int in, int64_t in_dim, int64_t out_dim,
		     const char *prefix, uint64_t seed, int *out, sc_error *err)
{
	return model_add_linear_as(m, in, in_dim, out_dim, prefix, seed, NULL, out,
				   err);
}

/* ||x|| over axis 1, kept as [N, 1]: the axes are an attribute before
 * opset 18 and an input from 18 on. */
static int add_reduce_l2(graph *g, int64_t opset, int x, const char *base,
			 int *norm, sc_error *err)
{
	char name[NAME_MAX_LEN];
	int64_t axes[1] = {1};
	int node, rc, ins[2] = {x, -1};
	snprintf(name, sizeof name, "%s.norm", base);
	if ((rc = emit_fresh_value(g, name, norm, err)))
		return rc;
	if (opset >= 18) {
		snprintf(name, sizeof name, "%s.norm_axes", base);
		if ((rc = emit_const_ints(g, name, 1, axes, &ins[1], err)))
			return rc;
	}
	if ((rc = emit_node(g, "ReduceL2", g->values[*norm].name, opset >= 18 ? 2 : 1,
			    ins, 1, norm, &node, err)) ||
	    (rc = emit_attr_int(g, node, "keepdims", 1, err)))
		return rc;
	if (opset < 18 && (rc = emit_attr_ints(g, node, "axes", 1, axes, err)))
		return rc;
	return SC_OK;
}

/* max(norm, eps), torch's clamp_min.  Max broadcasts from opset 8; before
 * that Clip's min attribute does the same. */
static int add_clamp_min(graph *g, int64_t opset, int norm, const char *base,
			 int *clamped, sc_error *err)
{
	char name[NAME_MAX_LEN];
	int node, rc;
	snprintf(name, sizeof name, "%s.norm_clamped", base);
	if ((rc = emit_fresh_value(g, name, clamped, err)))
		return rc;
	if (opset < 8) {
		if ((rc = emit_node(g, "Clip", g->values[*clamped].name, 1, &norm, 1,
				    clamped, &node, err)))
			return rc;
		return emit_attr_float(g, node, "min", L2NORM_EPS, err);
	}
	int ins[2] = {norm, -1};
	snprintf(name, sizeof name, "%s.norm_eps", base);
	if ((rc = emit_const_float(g, name, L2NORM_EPS, &ins[1], err)))
		return rc;
	return emit_node(g, "Max", g->values[*clamped].name, 2, ins, 1, clamped,
			 NULL, err);
}

int model_add_l2norm_as(graph_model *m, int in, const char *out_name, int *out,
			sc_error *err)
{
	if (!m || !m->graph || in < 0 || in >= m->graph->n_values)
		return sc_fail(err, SC_EINVAL, "l2norm: input value %d is not in the graph",
			       in);
	graph *g = m->graph;
	int64_t opset = graph_model_opset(m, "");
	if (opset < 7)
		return sc_fail(err, SC_EUNSUPPORTED,
			       "l2norm: the model imports opset %lld; need 7 or later",
			       (long long)opset);
	/* room for the longest suffix below ("._norm_clamped_NNN") */
	char base[NAME_MAX_LEN - 32], name[NAME_MAX_LEN];
	if (strlen(g->values[in].name) >= sizeof base)
		return sc_fail(err, SC_EINVAL, "l2norm: value name '%.64s...' is too long",
			       g->values[in].name);
	snprintf(base, sizeof base, "%s", g->values[in].name);
	int norm, clamped, y, rc;
	if ((rc = add_reduce_l2(g, opset, in, base, &norm, err)) ||
	    (rc = add_clamp_min(g, opset, norm, base, &clamped, err)))
		return rc;
	snprintf(name, sizeof name, "%s.normalized", base);
	if ((rc = output_value(g, out_name, name, &y, err)))
		return rc;
	int ins[2] = {in, clamped};
	snprintf(name, sizeof name, "%s.l2norm", base);
	if ((rc = emit_node(g, "Div", name, 2, ins, 1, &y, NULL, err)))
		return rc;
	*out = y;
	return SC_OK;
}

int model_add_l2norm(graph_model *m, int in, int *out, sc_error *err)
{
	return model_add_l2norm_as(m, in, NULL, out, err);
}

static int add_mlp(graph_model *m, int in, int64_t in_dim, const model_head *h,
		   const char *prefix, uint64_t seed, int *out, sc_error *err)
{
	char name[NAME_MAX_LEN];
	int64_t hidden = h->hidden ? h->hidden : in_dim;
	int fc0, act, rc;
	snprintf(name, sizeof name, "%s.0", prefix);
	if ((rc = model_add_linear(m, in, in_dim, hidden, name, seed, &fc0, err)))
		return rc;
	snprintf(name, sizeof name, "%s.1", prefix);
	if ((rc = emit_fresh_value(m->graph, name, &act, err)) ||
	    (rc = emit_node(m->graph, "Relu", name, 1, &fc0, 1, &act, NULL, err)))
		return rc;
	snprintf(name, sizeof name, "%s.2", prefix);
	return model_add_linear(m, act, hidden, h->dim, name, seed, out, err);
}

static int check_head(const model_head *h, sc_error *err)
{
	switch (h->kind) {
	case MODEL_HEAD_NONE:
		return SC_OK;
	case MODEL_HEAD_LINEAR:
	case MODEL_HEAD_MLP:
		break;
	default:
		return sc_fail(err, SC_EINVAL, "head: unknown kind %d", (int)h->kind);
	}
	if (h->dim < 1 || h->dim > MODEL_MAX_DIM)
		return sc_fail(err, SC_EINVAL, "head: output size %lld is outside [1, %d]",
			       (long long)h->dim, MODEL_MAX_DIM);
	if (h->kind == MODEL_HEAD_MLP && (h->hidden < 0 || h->hidden > MODEL_MAX_DIM))
		return sc_fail(err, SC_EINVAL, "head: hidden size %lld is outside [1, %d]",
			       (long long)h->hidden, MODEL_MAX_DIM);
	return SC_OK;
}

int model_add_head_as(graph_model *m, int in, int64_t in_dim, const model_head *h,
		      const char *prefix, uint64_t seed, const char *out_name,
		      int *out, sc_error *err)
{
	int rc, z;
	if (!h)
		return sc_fail(err, SC_EINVAL, "head: no head given");
	if ((rc = check_head(h, err)))
		return rc;
	if (h->kind == MODEL_HEAD_NONE) {
		*out = in;
		return SC_OK;
	}
	if ((rc = check_prefix(prefix, err)) ||
	    (rc = check_feature_value(m, in, in_dim, prefix, err)))
		return rc;
	if (h->kind == MODEL_HEAD_LINEAR)
		rc = model_add_linear(m, in, in_dim, h->dim, prefix, seed, &z, err);
	else
		rc = add_mlp(m, in, in_dim, h, prefix, seed, &z, err);
	if (rc)
		return rc;
	return model_add_l2norm_as(m, z, out_name, out, err);
}

int model_add_head(graph_model *m, int in, int64_t in_dim, const model_head *h,
		   const char *prefix, uint64_t seed, int *out, sc_error *err)
{
	return model_add_head_as(m, in, in_dim, h, prefix, seed, NULL, out, err);
}
