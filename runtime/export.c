/* export.c: the deployable form of a trained network; see export.h. */
#include "export.h"
#include "infer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT_MAX_OPSET 17
#define EXPORT_MAX_IR 8

/* Marks dim 0 of v's declared type as the symbolic batch "N". */
static int symbolic_batch(graph *g, int v, sc_error *err)
{
	graph_type *t = &g->values[v].type;
	if (t->kind != GRAPH_TYPE_TENSOR || t->rank < 1)
		return SC_OK;
	t->dims[0].value = -1;
	free(t->dims[0].param);
	t->dims[0].param = strdup("N");
	return t->dims[0].param ? SC_OK : sc_fail(err, SC_ENOMEM, "out of memory");
}

/* A [1, C, 1, 1] float constant. */
static int channel_const(graph *g, const char *name, int c, const float *v,
			 sc_error *err)
{
	sc_tensor t;
	int64_t dims[4] = {1, c, 1, 1};
	if (tensor_alloc(&t, SC_FLOAT, 4, dims, name, err))
		return -1;
	memcpy(t.data, v, (size_t)c * sizeof *v);
	int r = graph_add_const(g, name, &t, err);
	tensor_free(&t);
	return r;
}

/* input -> Sub(mean) -> Div(std) -> the value the network used to read. */
static int add_normalisation(graph *g, int slot, const export_options *o,
			     sc_error *err)
{
	int old = g->inputs[slot];
	const char *name = g->values[old].name;
	size_t len = strlen(name) + 32;
	char *keep = strdup(name), *buf = malloc(len);
	int rc = SC_OK;
	if (!keep || !buf) {
		rc = sc_fail(err, SC_ENOMEM, "out of memory");
		goto out;
	}
	const graph_type *ot = &g->values[old].type;
	if (ot->kind == GRAPH_TYPE_TENSOR && ot->rank == 4 && ot->dims[1].value >= 0 &&
	    ot->dims[1].value != o->channels) {
		rc = sc_fail(err, SC_EINVAL, "input '%s' has %lld channels, the "
			     "normalisation %d", name, (long long)ot->dims[1].value,
			     o->channels);
		goto out;
	}
	snprintf(buf, len, "%s.normalized", keep);
	if ((rc = graph_rename_value(g, old, buf, err)))
		goto out;
	int in = graph_fresh_value(g, keep, "export", err);
	if (in < 0 || (rc = graph_type_copy(&g->values[in].type,
					    &g->values[old].type, err))) {
		rc = err->code;
		goto out;
	}
	g->values[old].flags &= ~VALUE_INPUT;
	g->values[in].flags |= VALUE_INPUT;
	g->inputs[slot] = in;
	snprintf(buf, len, "%s.mean", keep);
	int mean = channel_const(g, buf, o->channels, o->mean, err);
	snprintf(buf, len, "%s.std", keep);
	int std = mean < 0 ? -1 : channel_const(g, buf, o->channels, o->std, err);
	snprintf(buf, len, "%s.centered", keep);
	int centered = std < 0 ? -1 : graph_fresh_value(g, buf, "export", err);
	if (centered < 0) {
		rc = err->code;
		goto out;
	}
	int sub_in[2] = {in, mean}, div_in[2] = {centered, std};
	if (graph_add_node(g, "Sub", "", "normalize/sub", 2, sub_in, 1, &centered,
			   err) < 0 ||
	    graph_add_node(g, "Div", "", "normalize/div", 2, div_in, 1, &old,
			   err) < 0)
		rc = err->code;
out:
	free(keep);
	free(buf);
	return rc;
}

static int add_softmax(graph_model *m, sc_error *err)
{
	graph *g = m->graph;
	int logits = g->outputs[0];
	int p = graph_fresh_value(g, "probabilities", "export", err);
	if (p < 0)
		return err->code;
	int node = graph_add_node(g, "Softmax", "", "softmax", 1, &logits, 1, &p, err);
	if (node < 0 || graph_set_attr_int(g, node, "axis", 1, err))
		return err->code;
	if (graph_type_copy(&g->values[p].type, &g->values[logits].type, err))
		return err->code;
	graph_clear_outputs(g);
	return graph_add_output(g, p, err);
}

/* Removes nodes whose outputs nothing needs, and unused initializers:
 * dropping outputs must not leave dead work in the file. */
static int prune(graph *g, sc_error *err)
{
	char *live = calloc((size_t)g->n_values + 1, 1);
	char *keep = calloc((size_t)g->n_nodes + 1, 1);
	if (!live || !keep) {
		free(live);
		free(keep);
		return sc_fail(err, SC_ENOMEM, "out of memory");
	}
	for (int i = 0; i < g->n_outputs; i++)
		live[g->outputs[i]] = 1;
	/* nodes are in any order: iterate to a fixed point */
	for (int changed = 1; changed;) {
		changed = 0;
		for (int i = g->n_nodes - 1; i >= 0; i--) {
			const graph_node *n = &g->nodes[i];
			if (keep[i])
				continue;
			int need = 0;
			for (int k = 0; k < n->n_outputs; k++)
				need |= n->outputs[k] >= 0 && live[n->outputs[k]];
			if (!need)
				continue;
			keep[i] = 1;
			changed = 1;
			for (int k = 0; k < n->n_inputs; k++)
				if (n->inputs[k] >= 0)
					live[n->inputs[k]] = 1;
			/* subgraphs may read outer values: keep what they name */
			for (int a = 0; a < n->n_attrs; a++)
				if (n->attrs[a].g || n->attrs[a].graphs)
					for (int v = 0; v < g->n_values; v++)
						live[v] = 1;
		}
	}
	int w = 0;
	for (int i = 0; i < g->n_nodes; i++) {
		if (keep[i]) {
			g->nodes[w++] = g->nodes[i];
			continue;
		}
		graph_node *n = &g->nodes[i];
		for (int k = 0; k < n->n_outputs; k++)
			if (n->outputs[k] >= 0)
				g->values[n->outputs[k]].producer = -1;
		graph_node_clear(n);
	}
	g->n_nodes = w;
	for (int i = 0; i < g->n_nodes; i++)
		for (int k = 0; k < g->nodes[i].n_outputs; k++)
			if (g->nodes[i].outputs[k] >= 0)
				g->values[g->nodes[i].outputs[k]].producer = i;
	w = 0;
	for (int i = 0; i < g->n_inits; i++) {
		int v = g->inits[i].value;
		if (live[v] || (g->values[v].flags & VALUE_INPUT)) {
			g->values[v].init = w;
			g->inits[w++] = g->inits[i];
			continue;
		}
		tensor_free(&g->inits[i].tensor);
		free(g->inits[i].doc_string);
		g->values[v].init = -1;
		g->values[v].flags &= ~VALUE_INITIALIZER;
	}
	g->n_inits = w;
	free(live);
	free(keep);
	return SC_OK;
}

/* Nodes in a topological order: ONNX files must list them so. */
static int sort_nodes(graph *g, sc_error *err)
{
	int *order = malloc(((size_t)g->n_nodes + 1) * sizeof *order);
	graph_node *nodes = malloc(((size_t)g->n_nodes + 1) * sizeof *nodes);
	int rc = order && nodes ? graph_toposort(g, order, err) :
		 sc_fail(err, SC_ENOMEM, "out of memory");
	if (!rc) {
		for (int i = 0; i < g->n_nodes; i++)
			nodes[i] = g->nodes[order[i]];
		memcpy(g->nodes, nodes, (size_t)g->n_nodes * sizeof *nodes);
		for (int i = 0; i < g->n_nodes; i++)
			for (int k = 0; k < g->nodes[i].n_outputs; k++)
				if (g->nodes[i].outputs[k] >= 0)
					g->values[g->nodes[i].outputs[k]].producer = i;
	}
	free(order);
	free(nodes);
	return rc;
}

int export_inference(graph_model *m, const export_options *o, sc_error *err)
{
	graph *g = m->graph;
	int64_t opset = graph_model_opset(m, "");
	if (opset > EXPORT_MAX_OPSET)
		return sc_fail(err, SC_EUNSUPPORTED, "the model uses opset %lld; "
			       "exports are limited to opset %d", (long long)opset,
			       EXPORT_MAX_OPSET);
	if (m->ir_version > EXPORT_MAX_IR)
		m->ir_version = EXPORT_MAX_IR;
	if (g->n_outputs < 1)
		return sc_fail(err, SC_EINVAL, "the model has no output to export");
	int slot = graph_data_input(g);
	if (slot < 0)
		return sc_fail(err, SC_EINVAL, "the model has no data input");
	int keep_first = g->outputs[0];
	graph_clear_outputs(g);
	int rc = graph_add_output(g, keep_first, err);
	/* the input first, so that inference carries "N" to the outputs */
	if (!rc)
		rc = symbolic_batch(g, g->inputs[slot], err);
	if (!rc)
		rc = graph_infer_shapes(m, err);
	if (!rc)
		rc = prune(g, err);
	/* intermediate annotations may carry a fixed batch */
	for (int i = 0; i < g->n_value_infos && !rc; i++)
		g->values[g->value_infos[i]].flags &= ~VALUE_INFO;
	g->n_value_infos = 0;
	if (!rc && o->mean)
		rc = add_normalisation(g, slot, o, err);
	if (!rc)
		rc = symbolic_batch(g, g->outputs[0], err);
	if (!rc && o->softmax)
		rc = add_softmax(m, err);
	if (!rc)
		rc = sort_nodes(g, err);
	return rc;
}

const char *export_meta_get(const graph_model *m, const char *key)
{
	char name[256];
	snprintf(name, sizeof name, "supcon.%s", key);
	for (int i = 0; i < m->n_metadata; i++)
		if (strcmp(m->metadata[i].key, name) == 0)
			return m->metadata[i].value;
	return NULL;
}

int export_meta_set(graph_model *m, const char *key, const char *value,
		    sc_error *err)
{
	char name[256];
	snprintf(name, sizeof name, "supcon.%s", key);
	char *v = strdup(value);
	if (!v)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	for (int i = 0; i < m->n_metadata; i++) {
		if (strcmp(m->metadata[i].key, name) == 0) {
			free(m->metadata[i].value);
			m->metadata[i].value = v;
			return SC_OK;
		}
	}
	graph_kv *kv = realloc(m->metadata, (size_t)(m->n_metadata + 1) * sizeof *kv);
	if (!kv) {
		free(v);
		return sc_fail(err, SC_ENOMEM, "out of memory");
	}
	m->metadata = kv;
	kv[m->n_metadata].key = strdup(name);
	kv[m->n_metadata].value = v;
	if (!kv[m->n_metadata].key) {
		free(v);
		return sc_fail(err, SC_ENOMEM, "out of memory");
	}
	m->n_metadata++;
	return SC_OK;
}
