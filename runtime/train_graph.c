/* train_graph.c: a model's training graph (loss, gradients, one optimizer
 * step) as ONNX nodes; see train_graph.h.
 *
 * The order of the work is the order of the checks a user wants first:
 * names and loss shape before autodiff (which reports missing gradient
 * rules), and autodiff before the optimizer nodes. */
#include "train_graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autodiff.h"
#include "infer.h"

#define CE_MIN_OPSET 12
/* ai.onnx.preview.training came with IR version 7 (ONNX 1.7). */
#define TRAIN_MIN_IR_VERSION 7

void train_graph_options_init(train_graph_options *o)
{
	memset(o, 0, sizeof *o);
	o->loss = TRAIN_LOSS_SUPCON;
	o->temperature = 0.1;
	optim_config_init(&o->optim, OPTIM_SGD);
}

void train_graph_parse_loss(train_graph_options *o, const char *spec)
{
	o->loss_output = NULL;
	if (strcmp(spec, "supcon") == 0) {
		o->loss = TRAIN_LOSS_SUPCON;
	} else if (strcmp(spec, "ce") == 0) {
		o->loss = TRAIN_LOSS_CE;
	} else {
		o->loss = TRAIN_LOSS_OUTPUT;
		o->loss_output = spec;
	}
}

/* A new value called name, which the model must not have yet. */
static int fresh_value(graph *g, const char *name, sc_error *err)
{
	return graph_fresh_value(g, name, "the training graph", err);
}

static void set_scalar_type(graph_value *v, int elem)
{
	graph_type_clear(&v->type);
	v->type.kind = GRAPH_TYPE_TENSOR;
	v->type.elem = elem;
	v->type.rank = 0;
}

/* A scalar graph input with a default value held by an initializer. */
static int scalar_input(graph *g, const char *name, int elem, double value,
			sc_error *err)
{
	int v = fresh_value(g, name, err);
	if (v < 0)
		return -1;
	sc_tensor t;
	if (tensor_alloc(&t, elem, 0, NULL, name, err))
		return -1;
	if (elem == SC_INT64)
		*(int64_t *)t.data = (int64_t)value;
	else
		*(float *)t.data = (float)value;
	if (graph_add_init(g, v, &t, err)) {
		tensor_free(&t);
		return -1;
	}
	set_scalar_type(&g->values[v], elem);
	return graph_add_input(g, v, err) ? -1 : v;
}

/* --- the loss ------------------------------------------------------------ */

/* A rank-0 or all-ones tensor type; symbolic dims do not count. */
static int check_scalar(const graph *g, int v, sc_error *err)
{
	const graph_type *t = &g->values[v].type;
	const char *name = g->values[v].name;
	if (t->kind != GRAPH_TYPE_TENSOR && t->kind != GRAPH_TYPE_NONE)
		return sc_fail(err, SC_EINVAL, "loss output '%s' is not a tensor", name);
	if (t->elem && !tensor_dtype_is_float(t->elem))
		return sc_fail(err, SC_EINVAL,
			       "loss output '%s' is %s, not a floating-point scalar",
			       name, tensor_dtype_name(t->elem));
	for (int i = 0; i < t->rank; i++) {
		if (t->dims[i].value == 1)
			continue;
		if (t->dims[i].value >= 0)
			return sc_fail(err, SC_EINVAL,
				       "loss output '%s' is not a scalar: dim %d is %lld",
				       name, i, (long long)t->dims[i].value);
		return sc_fail(err, SC_EINVAL,
			       "loss output '%s' is not known to be a scalar: dim %d is %s",
			       name, i, t->dims[i].param ? t->dims[i].param : "unknown");
	}
	return SC_OK;
}

/* The first output, of rank 2 when known: logits [N, K] or features
 * [M, D].  Gives the new `labels` input its [N] shape. */
static int add_labels(graph *g, const char *what, int *first, int *labels,
		      sc_error *err)
{
	if (g->n_outputs < 1)
		return sc_fail(err, SC_EINVAL, "the model has no output to use as %s", what);
	int y = g->outputs[0];
	const graph_type *t = &g->values[y].type;
	if (t->kind == GRAPH_TYPE_TENSOR && t->elem && t->elem != SC_FLOAT &&
	    t->elem != SC_DOUBLE)
		return sc_fail(err, SC_EINVAL,
			       "first output '%s' is %s; %s must be float32 or float64",
			       g->values[y].name, tensor_dtype_name(t->elem), what);
	if (t->kind == GRAPH_TYPE_TENSOR && t->rank >= 0 && t->rank != 2)
		return sc_fail(err, SC_EINVAL,
			       "first output '%s' has rank %d; %s must be 2-D",
			       g->values[y].name, t->rank, what);
	int v = fresh_value(g, "labels", err);
	if (v < 0)
		return err->code;
	t = &g->values[y].type;   /* interning may move the values */
	graph_type *lt = &g->values[v].type;
	graph_type_clear(lt);
	lt->kind = GRAPH_TYPE_TENSOR;
	lt->elem = SC_INT64;
	lt->rank = 1;
	lt->dims = calloc(1, sizeof *lt->dims);
	if (!lt->dims)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	lt->dims[0].value = -1;
	if (t->kind == GRAPH_TYPE_TENSOR && t->rank == 2) {
		lt->dims[0].value = t->dims[0].value;
		if (t->dims[0].param && !(lt->dims[0].param = strdup(t->dims[0].param)))
			return sc_fail(err, SC_ENOMEM, "out of memory");
	}
	*first = y;
	*labels = v;
	return graph_add_input(g, v, err);
}

/* The loss names no output: say which ones there are. */
static int unknown_output(const graph *g, const char *name, sc_error *err)
{
	char list[512] = "";
	size_t used = 0;
	for (int i = 0; i < g->n_outputs && used < sizeof list; i++) {
		int k = snprintf(list + used, sizeof list - used, "%s'%s'", i ? ", " : "",
				 g->values[g->outputs[i]].name);
		if (k < 0)
			break;
		used += (size_t)k;
	}
	return sc_fail(err, SC_EINVAL,
		       "loss '%s' is not an output of the model (outputs: %s; or use "
		       "supcon or ce)", name, g->n_outputs ? list : "none");
}

/* sum(first * seed) for a seed input shaped like the first output. */
static int add_seed_loss(graph *g, int *loss, sc_error *err)
{
	if (g->n_outputs < 1)
		return sc_fail(err, SC_EINVAL, "the model has no output to seed");
	int y = g->outputs[0];
	int seed = fresh_value(g, TRAIN_SEED_INPUT, err);
	if (seed < 0)
		return err->code;
	int rc = graph_type_copy(&g->values[seed].type, &g->values[y].type, err);
	if (rc || (rc = graph_add_input(g, seed, err)))
		return rc;
	int prod = fresh_value(g, "loss/seeded", err);
	int v = prod < 0 ? -1 : fresh_value(g, "loss", err);
	if (v < 0)
		return err->code;
	int in[2] = {y, seed};
	if (graph_add_node(g, "Mul", "", "loss/seed_mul", 2, in, 1, &prod, err) < 0)
		return err->code;
	int node = graph_add_node(g, "ReduceSum", "", "loss/seed_sum", 1, &prod,
				  1, &v, err);
	if (node < 0 || graph_set_attr_int(g, node, "keepdims", 0, err))
		return err->code;
	set_scalar_type(&g->values[v], g->values[y].type.elem ?
			g->values[y].type.elem : SC_FLOAT);
	*loss = v;
	return SC_OK;
}

/* Appends the loss node; *loss is its value. */
int train_graph_add_loss(graph_model *m, const train_graph_options *o,
			 int *loss, sc_error *err)
{
	graph *g = m->graph;
	if (o->loss == TRAIN_LOSS_SEED)
		return add_seed_loss(g, loss, err);
	if (o->loss == TRAIN_LOSS_OUTPUT) {
		int v = graph_find_value(g, o->loss_output);
		if (v < 0 || !(g->values[v].flags & VALUE_OUTPUT))
			return unknown_output(g, o->loss_output, err);
		*loss = v;
		return check_scalar(g, v, err);
	}
	int ce = o->loss == TRAIN_LOSS_CE;
	int64_t opset = graph_model_opset(m, "");
	if (ce && opset < CE_MIN_OPSET)
		return sc_fail(err, SC_EUNSUPPORTED,
			       "the model imports opset %lld; the cross-entropy loss "
			       "(SoftmaxCrossEntropyLoss) needs opset %d or later",
			       (long long)opset, CE_MIN_OPSET);
	int first = -1, labels = -1, rc;
	if ((rc = add_labels(g, ce ? "the logits" : "the features", &first,
			     &labels, err)))
		return rc;
	int v = fresh_value(g, "loss", err);
	if (v < 0)
		return err->code;
	int in[2] = {first, labels};
	int node = graph_add_node(g, ce ? "SoftmaxCrossEntropyLoss" : "SupConLoss",
				  ce ? "" : "ai.supcon", "loss", 2, in, 1, &v, err);
	if (node < 0)
		return err->code;
	if (ce) {
		rc = graph_set_attr_string(g, node, "reduction", "mean", err);
	} else {
		float temp = (float)(o->temperature > 0 ? o->temperature : 0.1);
		rc = graph_set_attr_float(g, node, "temperature", temp, err);
		if (!rc && o->base_temperature > 0)
			rc = graph_set_attr_float(g, node, "base_temperature",
						  (float)o->base_temperature, err);
		if (!rc)
			rc = graph_model_add_opset(m, "ai.supcon", 1, err);
	}
	set_scalar_type(&g->values[v], g->values[first].type.elem ?
			g->values[first].type.elem : SC_FLOAT);
	*loss = v;
	return rc;
}

/* --- parameters ----------------------------------------------------------- */

typedef struct train_param {
	int value;      /* the initializer's value */
	int grad;       /* its gradient's value */
	int group;
	int states[OPTIM_MAX_STATES];
	int new_value;
	int new_states[OPTIM_MAX_STATES];
} train_param;

/* Marks BatchNormalization's running mean and variance, which are
 * statistics rather than parameters. */
static void mark_bn_stats(const graph *g, char *stat)
{
	for (int i = 0; i < g->n_nodes; i++) {
		const graph_node *n = &g->nodes[i];
		if (strcmp(n->op_type, "BatchNormalization") != 0 || *n->domain)
			continue;
		for (int k = 3; k <= 4 && k < n->n_inputs; k++)
			if (n->inputs[k] >= 0)
				stat[n->inputs[k]] = 1;
	}
}

/* Collects the float initializers that may be parameters into names[]
 * (borrowed from g) and values[]. */
int train_graph_candidates(const graph *g, const char **names, int *values,
			   int *count, sc_error *err)
{
	char *stat = calloc((size_t)g->n_values + 1, 1);
	if (!stat)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	mark_bn_stats(g, stat);
	int n = 0, rc = SC_OK;
	for (int i = 0; i < g->n_inits && !rc; i++) {
		int v = g->inits[i].value;
		int dtype = g->inits[i].tensor.dtype;
		if (!tensor_dtype_is_float(dtype) || stat[v])
			continue;
		if (dtype != SC_FLOAT && dtype != SC_DOUBLE) {
			rc = sc_fail(err, SC_EUNSUPPORTED,
				     "initializer '%s' is %s; only float32 and float64 "
				     "parameters can be trained", g->values[v].name,
				     tensor_dtype_name(dtype));
			break;
		}
		names[n] = g->values[v].name;
		values[n++] = v;
	}
	free(stat);
	*count = n;
	return rc;
}


/* Group key: dtype (one optimizer node takes one dtype) and decay. */
static int group_of(const graph *g, int v)
{
	const sc_tensor *t = &g->inits[g->values[v].init].tensor;
	int no_decay = optim_param_no_decay(g->values[v].name, t->rank);
	return (t->dtype == SC_DOUBLE) * 2 + no_decay;
}

/* A value called "<param><suffix>" that must not exist yet. */
static int suffixed(graph *g, int param, const char *suffix, sc_error *err)
{
	const char *base = g->values[param].name;
	size_t len = strlen(base) + strlen(suffix) + 1;
	char *name = malloc(len);
	if (!name)
		return sc_fail(err, SC_ENOMEM, "out of memory"), -1;
	snprintf(name, len, "%s%s", base, suffix);
	int v = fresh_value(g, name, err);
	free(name);
	if (v >= 0 && graph_type_copy(&g->values[v].type, &g->values[param].type, err))
		return -1;
	return v;
}

/* The state tensors of p: initializers filled with init[], also inputs,
 * and their ".new" successors. */
static int add_states(graph *g, train_param *p, const optim_graph_op *op,
		      sc_error *err)
{
	for (int s = 0; s < op->n_states; s++) {
		char suffix[64];
		snprintf(suffix, sizeof suffix, ".%s", op->state_names[s]);
		int v = suffixed(g, p->value, suffix, err);
		if (v < 0)
			return err->code;
		const sc_tensor *x = &g->inits[g->values[p->value].init].tensor;
		sc_tensor t;
		int rc = tensor_alloc(&t, x->dtype, x->rank, x->dims,
				      g->values[v].name, err);
		if (rc)
			return rc;
		for (int64_t i = 0; i < t.numel && op->state_init[s] != 0; i++) {
			if (t.dtype == SC_DOUBLE)
				((double *)t.data)[i] = op->state_init[s];
			else
				((float *)t.data)[i] = op->state_init[s];
		}
		if ((rc = graph_add_init(g, v, &t, err))) {
			tensor_free(&t);
			return rc;
		}
		if ((rc = graph_add_input(g, v, err)))
			return rc;
		p->states[s] = v;
		snprintf(suffix, sizeof suffix, ".%s.new", op->state_names[s]);
		if ((p->new_states[s] = suffixed(g, p->value, suffix, err)) < 0)
			return err->code;
	}
	return SC_OK;
}

static int add_op_attrs(graph *g, int node, const optim_graph_op *op,
			sc_error *err)
{
	for (int i = 0; i < op->n_attrs; i++) {
		const optim_graph_attr *src = &op->attrs[i];
		int rc;
		if (src->type == ATTR_STRING) {
			rc = graph_set_attr_string(g, node, src->name, src->s, err);
		} else {
			graph_attr *a = graph_node_add_attr(&g->nodes[node], src->name,
							    src->type, err);
			if (!a)
				return err->code;
			a->f = src->f;
			a->i = src->i;
			rc = SC_OK;
		}
		if (rc)
			return rc;
	}
	return SC_OK;
}

/* One optimizer node for the parameters of group `group`. */
static int add_update(graph_model *m, const train_graph_options *o,
		      train_param *ps, int n, int group, int lr, int step,
		      int *n_states, sc_error *err)
{
	graph *g = m->graph;
	int members = 0;
	for (int i = 0; i < n; i++)
		members += ps[i].group == group;
	if (!members)
		return SC_OK;
	optim_graph_op op;
	double wd = group & 1 ? 0 : o->optim.weight_decay;
	int rc = optim_graph_op_for(&o->optim, wd, &op, err);
	if (rc)
		return rc;
	int n_in = 2 + members * (2 + op.n_states);
	int n_out = members * (1 + op.n_states);
	int *in = malloc((size_t)(n_in + n_out) * sizeof *in);
	if (!in)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	int *out = in + n_in;
	in[0] = lr;
	in[1] = step;
	int k = 0;
	for (int i = 0; i < n && !rc; i++) {
		if (ps[i].group != group)
			continue;
		if ((rc = add_states(g, &ps[i], &op, err)))
			break;
		if ((ps[i].new_value = suffixed(g, ps[i].value, ".new", err)) < 0) {
			rc = err->code;
			break;
		}
		in[2 + k] = ps[i].value;
		in[2 + members + k] = ps[i].grad;
		out[k] = ps[i].new_value;
		for (int s = 0; s < op.n_states; s++) {
			in[2 + (2 + s) * members + k] = ps[i].states[s];
			out[(1 + s) * members + k] = ps[i].new_states[s];
		}
		k++;
	}
	if (!rc) {
		char name[64];
		snprintf(name, sizeof name, "optimizer/%s_%d", op.op_type, group);
		int node = graph_add_node(g, op.op_type, op.domain, name, n_in, in,
					  n_out, out, err);
		rc = node < 0 ? err->code : add_op_attrs(g, node, &op, err);
	}
	if (!rc)
		rc = graph_model_add_opset(m, op.domain, 1, err);
	free(in);
	*n_states = op.n_states;
	return rc;
}

/* --- BatchNormalization in training mode ------------------------------ */

static int bn_is(const graph_node *n)
{
	return strcmp(n->op_type, "BatchNormalization") == 0 &&
	       (!*n->domain || strcmp(n->domain, "ai.onnx") == 0);
}

/* Output k (1 or 2) of BN node `node`: the updated running statistic,
 * named after the initializer it updates.  The node's output array grows
 * when the model left the optional outputs off.  A model exported in
 * training mode (torch.onnx, TrainingMode.TRAINING) has them already,
 * under the exporter's names; an Identity then gives the statistic its
 * documented name too, so that a caller knows which input it feeds. */
static int bn_stat_output(graph *g, int node, int k, int *updated,
			  sc_error *err)
{
	graph_node *n = &g->nodes[node];
	const char *base = g->values[n->inputs[k + 2]].name;
	size_t len = strlen(base) + 5;
	char *name = malloc(len);
	if (!name)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	snprintf(name, len, "%s.new", base);
	int v = fresh_value(g, name, err);
	if (v >= 0 && n->n_outputs > k && n->outputs[k] >= 0) {
		int from = n->outputs[k];
		int rc = graph_add_node(g, "Identity", "", name, 1, &from, 1, &v,
					err) < 0 ? err->code : SC_OK;
		free(name);
		*updated = v;
		return rc;
	}
	free(name);
	if (v < 0)
		return err->code;
	n = &g->nodes[node];
	if (n->n_outputs <= k) {
		int *o = realloc(n->outputs, (size_t)(k + 1) * sizeof *o);
		if (!o)
			return sc_fail(err, SC_ENOMEM, "out of memory");
		for (int i = n->n_outputs; i <= k; i++)
			o[i] = -1;
		n->outputs = o;
		n->n_outputs = k + 1;
	}
	n->outputs[k] = v;
	g->values[v].producer = node;
	*updated = v;
	return SC_OK;
}

int train_graph_bn_training(graph_model *m, train_bn_stat **stats, int *n,
			    sc_error *err)
{
	graph *g = m->graph;
	int64_t opset = graph_model_opset(m, "");
	int count = 0;
	*stats = NULL;
	*n = 0;
	for (int i = 0; i < g->n_nodes; i++)
		count += bn_is(&g->nodes[i]);
	if (!count)
		return SC_OK;
	if (opset < 7)
		return sc_fail(err, SC_EUNSUPPORTED,
			       "BatchNormalization at opset %lld (is_test form) cannot "
			       "be trained; re-export the model at opset 7 or later",
			       (long long)opset);
	train_bn_stat *s = malloc((size_t)count * 2 * sizeof *s);
	if (!s)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	int k = 0, rc = SC_OK;
	for (int i = 0; i < g->n_nodes && !rc; i++) {
		if (!bn_is(&g->nodes[i]))
			continue;
		if (g->nodes[i].n_inputs < 5 || g->nodes[i].inputs[3] < 0 ||
		    g->nodes[i].inputs[4] < 0) {
			rc = sc_fail(err, SC_EINVAL, "BatchNormalization node '%s' "
				     "has no running mean and variance inputs",
				     g->nodes[i].name ? g->nodes[i].name : "");
			break;
		}
		if (opset >= 14 &&
		    (rc = graph_set_attr_int(g, i, "training_mode", 1, err)))
			break;
		for (int j = 1; j <= 2 && !rc; j++) {
			s[k].running = g->nodes[i].inputs[j + 2];
			rc = bn_stat_output(g, i, j, &s[k].updated, err);
			k++;
		}
	}
	if (rc) {
		free(s);
		return rc;
	}
	*stats = s;
	*n = k;
	return SC_OK;
}

/* --- the whole transformation ------------------------------------------- */

static int build_params(graph_model *m, const train_graph_options *o, int loss,
			train_graph_info *info, sc_error *err)
{
	graph *g = m->graph;
	int n_cand = 0, rc;
	const char **names = malloc(((size_t)g->n_inits + 1) * sizeof *names);
	int *values = malloc(((size_t)g->n_inits + 1) * sizeof *values);
	int *grads = malloc(((size_t)g->n_inits + 1) * sizeof *grads);
	train_param *ps = calloc((size_t)g->n_inits + 1, sizeof *ps);
	if (!names || !values || !grads || !ps) {
		rc = sc_fail(err, SC_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = train_graph_candidates(g, names, values, &n_cand, err)) ||
	    (rc = autodiff_build(m, g->values[loss].name, n_cand, names, grads, err)))
		goto out;
	graph_clear_outputs(g);
	if ((rc = graph_add_output(g, loss, err)))
		goto out;
	int n = 0;
	for (int i = 0; i < n_cand; i++) {
		if (grads[i] < 0) {
			info->n_skipped++;
			continue;
		}
		ps[n].value = values[i];
		ps[n].grad = grads[i];
		ps[n].group = group_of(g, values[i]);
		info->n_param_elements += g->inits[g->values[values[i]].init].tensor.numel;
		n++;
	}
	info->n_params = n;
	if (n == 0) {
		rc = sc_fail(err, SC_EINVAL, "loss '%s' depends on no float initializer: "
			     "nothing to train", g->values[loss].name);
		goto out;
	}
	int lr = scalar_input(g, "lr", SC_FLOAT, o->optim.lr, err);
	int step = lr < 0 ? -1 : scalar_input(g, "T", SC_INT64, 0, err);
	if (step < 0) {
		rc = err->code;
		goto out;
	}
	for (int i = 0; i < n && !rc; i++)
		rc = graph_add_input(g, ps[i].value, err);
	for (int group = 0; group < 4 && !rc; group++) {
		int before = g->n_nodes;
		rc = add_update(m, o, ps, n, group, lr, step, &info->n_states, err);
		info->n_groups += g->n_nodes > before;
	}
	for (int i = 0; i < n && !rc; i++)
		rc = graph_add_output(g, ps[i].new_value, err);
	for (int i = 0; i < n && !rc; i++)
		for (int s = 0; s < info->n_states && !rc; s++)
			rc = graph_add_output(g, ps[i].new_states[s], err);
out:
	free(names);
	free(values);
	free(grads);
	free(ps);
	return rc;
}

int train_graph_build(graph_model *m, const train_graph_options *o,
		      train_graph_info *info, sc_error *err)
{
	train_graph_info local;
	if (!info)
		info = &local;
	memset(info, 0, sizeof *info);
	int rc = optim_config_check(&o->optim, err);
	if (rc)
		return rc;
	if (o->loss == TRAIN_LOSS_OUTPUT && !o->loss_output)
		return sc_fail(err, SC_EINVAL, "no loss output named");
	if ((rc = graph_infer_shapes(m, err)))
		return rc;
	int loss = -1, n_stats = 0;
	train_bn_stat *stats = NULL;
	if (!o->bn_frozen &&
	    ((rc = train_graph_bn_training(m, &stats, &n_stats, err)) ||
	     (rc = graph_infer_shapes(m, err)))) {
		free(stats);
		return rc;
	}
	if (!(rc = train_graph_add_loss(m, o, &loss, err)))
		rc = build_params(m, o, loss, info, err);
	for (int i = 0; i < n_stats && !rc; i++)
		rc = graph_add_output(m->graph, stats[i].updated, err);
	free(stats);
	if (rc)
		return rc;
	if (m->ir_version < TRAIN_MIN_IR_VERSION)
		m->ir_version = TRAIN_MIN_IR_VERSION;
	/* types for everything added, and a check that it all fits */
	if ((rc = graph_infer_shapes(m, err)))
		return rc;
	return graph_validate(m, err);
}
