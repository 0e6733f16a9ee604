/* cut.c: model_cut_encoder, which turns a loaded inference ResNet
 * (torchvision export with BN kept or folded, model-zoo file) into the
 * encoder a SupCon run trains: everything up to the global pooling,
 * flattened to [N, F]; see models.h.
 *
 * The cut is found on the inferred shapes, not on names, because every
 * exporter names things its own way: the last node in topological order
 * that averages over the whole spatial extent (GlobalAveragePool, a
 * ReduceMean over axes 2.., or an AveragePool whose kernel is the whole
 * image).  A Flatten(axis 1) that already reads that value is kept as the
 * end (our own "features", torch's "/Flatten_output_0"), otherwise one is
 * added.  Then what the new output needs -- nodes, values, initializers,
 * inputs, value_info -- moves into a fresh main graph and the rest is
 * freed. */
#include "models.h"

#include <stdlib.h>
#include <string.h>

#include "emit.h"
#include "../runtime/infer.h"

#define CUT_MAX_DEPTH 64

static int default_domain(const graph_node *n)
{
	return !n->domain || !*n->domain || strcmp(n->domain, "ai.onnx") == 0;
}

/* The tensor shape of value v, or NULL when its rank is unknown. */
static const graph_type *known_shape(const graph *g, int v)
{
	if (v < 0)
		return NULL;
	const graph_type *t = &g->values[v].type;
	return t->kind == GRAPH_TYPE_TENSOR && t->rank >= 0 ? t : NULL;
}

/* The int64 values of an initializer or a Constant node's tensor. */
static const sc_tensor *const_tensor(const graph *g, int v)
{
	if (v < 0)
		return NULL;
	const graph_value *val = &g->values[v];
	if (val->init >= 0)
		return &g->inits[val->init].tensor;
	if (val->producer >= 0) {
		const graph_node *p = &g->nodes[val->producer];
		const graph_attr *a = graph_node_attr(p, "value");
		if (default_domain(p) && strcmp(p->op_type, "Constant") == 0 && a &&
		    a->type == ATTR_TENSOR)
			return a->t;
	}
	return NULL;
}

/* 1 when axes[0..n) (negative ones counting from the end) are exactly
 * {2, ..., rank-1}: every spatial axis of an [N, C, ...] tensor. */
static int spatial_axes(const int64_t *axes, int n, int rank)
{
	unsigned seen = 0;
	if (rank < 3 || rank > 16 || n != rank - 2)
		return 0;
	for (int i = 0; i < n; i++) {
		int64_t a = axes[i] < 0 ? axes[i] + rank : axes[i];
		if (a < 2 || a >= rank || (seen & (1u << a)))
			return 0;
		seen |= 1u << a;
	}
	return 1;
}

static int is_spatial_reduce_mean(const graph *g, const graph_node *n)
{
	const graph_type *t = known_shape(g, n->n_inputs > 0 ? n->inputs[0] : -1);
	if (!t)
		return 0;
	const graph_attr *a = graph_node_attr(n, "axes");
	if (a && a->type == ATTR_INTS)
		return spatial_axes(a->ints, a->n, t->rank);
	/* opset 18 moved axes to an input */
	const sc_tensor *c = const_tensor(g, n->n_inputs > 1 ? n->inputs[1] : -1);
	if (c && c->dtype == SC_INT64 && c->rank == 1 && c->numel <= 16)
		return spatial_axes(c->data, (int)c->numel, t->rank);
	return 0;
}

/* An AveragePool whose window covers the whole (known) image, unpadded. */
static int is_global_average_pool(const graph *g, const graph_node *n)
{
	const graph_type *t = known_shape(g, n->n_inputs > 0 ? n->inputs[0] : -1);
	const graph_attr *k = graph_node_attr(n, "kernel_shape");
	const graph_attr *pads = graph_node_attr(n, "pads");
	const graph_attr *ap = graph_node_attr(n, "auto_pad");
	if (!t || t->rank < 3 || !k || k->type != ATTR_INTS || k->n != t->rank - 2)
		return 0;
	for (int i = 0; i < k->n; i++)
		if (t->dims[2 + i].value < 0 || k->ints[i] != t->dims[2 + i].value)
			return 0;
	for (int i = 0; pads && pads->type == ATTR_INTS && i < pads->n; i++)
		if (pads->ints[i] != 0)
			return 0;
	if (ap && ap->type == ATTR_STRING && ap->s.len &&
	    !(ap->s.len == 5 && memcmp(ap->s.data, "VALID", 5) == 0) &&
	    !(ap->s.len == 6 && memcmp(ap->s.data, "NOTSET", 6) == 0))
		return 0;
	return 1;
}

static int is_global_pool(const graph *g, const graph_node *n)
{
	if (!default_domain(n) || n->n_outputs < 1 || n->outputs[0] < 0)
		return 0;
	if (strcmp(n->op_type, "GlobalAveragePool") == 0)
		return 1;
	if (strcmp(n->op_type, "ReduceMean") == 0)
		return is_spatial_reduce_mean(g, n);
	if (strcmp(n->op_type, "AveragePool") == 0)
		return is_global_average_pool(g, n);
	return 0;
}

/* A Flatten(axis 1) reading v, whose output is then the features. */
static int flatten_of(const graph *g, int v)
{
	for (int i = 0; i < g->n_nodes; i++) {
		const graph_node *n = &g->nodes[i];
		if (!default_domain(n) || strcmp(n->op_type, "Flatten") != 0 ||
		    n->n_inputs < 1 || n->inputs[0] != v || n->n_outputs < 1 ||
		    n->outputs[0] < 0)
			continue;
		const graph_attr *a = graph_node_attr(n, "axis");
		if (!a || (a->type == ATTR_INT && a->i == 1))
			return n->outputs[0];
	}
	return -1;
}

/* The value the encoder ends at: the named one, or the last global pool's
 * output (its Flatten's, when it has one). */
static int find_cut(const graph *g, const char *output_name, int *cut,
		    sc_error *err)
{
	if (output_name) {
		int v = graph_find_value(g, output_name);
		if (v < 0)
			return sc_fail(err, SC_EINVAL,
				       "encoder output '%s': the model has no value of that name",
				       output_name);
		const graph_value *val = &g->values[v];
		if (val->flags & VALUE_INITIALIZER)
			return sc_fail(err, SC_EINVAL,
				       "encoder output '%s' is an initializer, not a node output",
				       output_name);
		if (val->producer < 0)
			return sc_fail(err, SC_EINVAL,
				       "encoder output '%s' is not computed by any node",
				       output_name);
		*cut = v;
		return SC_OK;
	}
	int *order = malloc((size_t)(g->n_nodes ? g->n_nodes : 1) * sizeof *order);
	if (!order)
		return sc_fail(err, SC_ENOMEM, "out of memory looking for the encoder output");
	int rc = graph_toposort(g, order, err), pool = -1;
	for (int k = 0; !rc && k < g->n_nodes; k++)
		if (is_global_pool(g, &g->nodes[order[k]]))
			pool = order[k];
	free(order);
	if (rc)
		return rc;
	if (pool < 0)
		return sc_fail(err, SC_EINVAL,
			       "no global average pooling (GlobalAveragePool, ReduceMean "
			       "over every spatial axis, or AveragePool over the whole "
			       "image) found to cut the encoder at; name its output "
			       "explicitly");
	int v = g->nodes[pool].outputs[0], flat = flatten_of(g, v);
	*cut = flat >= 0 ? flat : v;
	return SC_OK;
}

/* --- what the cut value needs ---------------------------------------------- */

typedef struct cut_marks {
	char *value;    /* per value: needed by the encoder */
	char *node;     /* per node: kept */
	int *stack;     /* values still to visit */
	int n_stack;
} cut_marks;

static void mark_value(const graph *g, cut_marks *k, int v)
{
	if (v < 0 || v >= g->n_values || k->value[v])
		return;
	k->value[v] = 1;
	k->stack[k->n_stack++] = v;
}

static void mark_outer_reads(const graph *g, const graph *sub, cut_marks *k,
			     int depth);

/* What the subgraphs of node n (If/Loop/Scan bodies) read from g. */
static void mark_subgraph_reads(const graph *g, const graph_node *n, cut_marks *k,
				int depth)
{
	for (int a = 0; a < n->n_attrs; a++) {
		const graph_attr *at = &n->attrs[a];
		if (at->type == ATTR_GRAPH && at->g)
			mark_outer_reads(g, at->g, k, depth + 1);
		for (int j = 0; at->type == ATTR_GRAPHS && at->graphs && j < at->n; j++)
			if (at->graphs[j])
				mark_outer_reads(g, at->graphs[j], k, depth + 1);
	}
}

/* Names subgraph `sub` (at any depth) reads from g. */
static void mark_outer_reads(const graph *g, const graph *sub, cut_marks *k,
			     int depth)
{
	if (depth > CUT_MAX_DEPTH)
		return;
	for (int v = 0; v < sub->n_values; v++)
		if (sub->values[v].flags & VALUE_OUTER)
			mark_value(g, k, graph_find_value(g, sub->values[v].name));
	for (int i = 0; i < sub->n_nodes; i++)
		mark_subgraph_reads(g, &sub->nodes[i], k, depth);
}

/* Walks back from the cut value through producers to the graph inputs and
 * initializers it depends on. */
static void mark_needed(const graph *g, int cut, cut_marks *k)
{
	mark_value(g, k, cut);
	while (k->n_stack) {
		int v = k->stack[--k->n_stack];
		int p = g->values[v].producer;
		if (p < 0 || k->node[p])
			continue;
		const graph_node *n = &g->nodes[p];
		k->node[p] = 1;
		for (int i = 0; i < n->n_inputs; i++)
			mark_value(g, k, n->inputs[i]);
		for (int i = 0; i < n->n_outputs; i++)
			mark_value(g, k, n->outputs[i]);
		mark_subgraph_reads(g, n, k, 0);
	}
}

/* --- rebuilding ----------------------------------------------------------------
 * The encoder is moved into a fresh graph rather than compacted in place,
 * so that names the cut drops ("logits", say) are free again for the
 * heads the caller appends next. */

typedef struct cut_move {
	graph *from;            /* loses what moves */
	graph *to;
	int *map;       /* old value index -> new, -1 when dropped */
	sc_error *err;
} cut_move;

static int move_values(cut_move *mv, const cut_marks *k)
{
	graph *from = mv->from;
	for (int v = 0; v < from->n_values; v++) {
		mv->map[v] = -1;
		if (!k->value[v])
			continue;
		graph_value *old = &from->values[v];
		int nv = graph_intern_value(mv->to, old->name, mv->err);
		if (nv < 0)
			return SC_ENOMEM;
		graph_value *val = &mv->to->values[nv];
		val->doc_string = old->doc_string;
		old->doc_string = NULL;
		val->type = old->type;
		memset(&old->type, 0, sizeof old->type);
		/* the initializer flag comes back with graph_add_init */
		val->flags = old->flags & (VALUE_INPUT | VALUE_INFO | VALUE_OUTER);
		mv->map[v] = nv;
	}
	return SC_OK;
}

static void reparent(graph_node *n, graph *to)
{
	for (int a = 0; a < n->n_attrs; a++) {
		graph_attr *at = &n->attrs[a];
		if (at->type == ATTR_GRAPH && at->g)
			at->g->parent = to;
		for (int j = 0; at->type == ATTR_GRAPHS && at->graphs && j < at->n; j++)
			if (at->graphs[j])
				at->graphs[j]->parent = to;
	}
}

static int move_node(cut_move *mv, graph_node *old)
{
	int n_in = old->n_inputs, n_out = old->n_outputs;
	int *in = malloc((size_t)(n_in + n_out + 1) * sizeof *in), *out = in + n_in;
	if (!in)
		return sc_fail(mv->err, SC_ENOMEM, "out of memory cutting the encoder");
	for (int i = 0; i < n_in; i++)
		in[i] = old->inputs[i] < 0 ? -1 : mv->map[old->inputs[i]];
	for (int i = 0; i < n_out; i++)
		out[i] = old->outputs[i] < 0 ? -1 : mv->map[old->outputs[i]];
	int idx = graph_add_node(mv->to, old->op_type, old->domain, old->name, n_in,
				 in, n_out, out, mv->err);
	free(in);
	if (idx < 0)
		return mv->err ? mv->err->code : SC_ENOMEM;
	graph_node *n = &mv->to->nodes[idx];
	n->doc_string = old->doc_string;
	n->attrs = old->attrs;
	n->n_attrs = old->n_attrs;
	old->doc_string = NULL;
	old->attrs = NULL;
	old->n_attrs = 0;
	reparent(n, mv->to);
	return SC_OK;
}

static int move_inits(cut_move *mv)
{
	graph *from = mv->from;
	for (int i = 0; i < from->n_inits; i++) {
		graph_init *old = &from->inits[i];
		int nv = mv->map[old->value];
		if (nv < 0)
			continue;
		int rc = graph_add_init(mv->to, nv, &old->tensor, mv->err);
		if (rc)
			return rc;
		mv->to->inits[mv->to->values[nv].init].doc_string = old->doc_string;
		old->doc_string = NULL;
	}
	return SC_OK;
}

/* The needed entries of a value list, renumbered into *out. */
static int move_list(const cut_move *mv, const int *list, int n, int **out,
		     int *n_out)
{
	*out = malloc((size_t)(n ? n : 1) * sizeof **out);
	if (!*out)
		return sc_fail(mv->err, SC_ENOMEM, "out of memory cutting the encoder");
	*n_out = 0;
	for (int i = 0; i < n; i++)
		if (mv->map[list[i]] >= 0)
			(*out)[(*n_out)++] = mv->map[list[i]];
	return SC_OK;
}

static int move_graph(graph *from, graph *to, const cut_marks *k, int *map,
		      sc_error *err)
{
	cut_move mv = {from, to, map, err};
	int rc;
	to->name = from->name;
	to->doc_string = from->doc_string;
	from->name = from->doc_string = NULL;
	if ((rc = move_values(&mv, k)) || (rc = move_inits(&mv)))
		return rc;
	for (int i = 0; i < from->n_nodes; i++)
		if (k->node[i] && (rc = move_node(&mv, &from->nodes[i])))
			return rc;
	if ((rc = move_list(&mv, from->inputs, from->n_inputs, &to->inputs,
			    &to->n_inputs)) ||
	    (rc = move_list(&mv, from->value_infos, from->n_value_infos,
			    &to->value_infos, &to->n_value_infos)))
		return rc;
	return SC_OK;
}

/* Replaces m's main graph by the part the value *cut needs; *cut is
 * renumbered.  On failure m is left half moved: the caller frees it. */
static int rebuild(graph_model *m, int *cut, sc_error *err)
{
	graph *g = m->graph;
	cut_marks k = {0};
	k.value = calloc((size_t)g->n_values + 1, 1);
	k.node = calloc((size_t)g->n_nodes + 1, 1);
	k.stack = malloc(((size_t)g->n_values + 1) * sizeof *k.stack);
	int *map = malloc(((size_t)g->n_values + 1) * sizeof *map);
	graph *to = graph_new(NULL);
	int rc = SC_OK;
	if (!k.value || !k.node || !k.stack || !map || !to) {
		rc = sc_fail(err, SC_ENOMEM, "out of memory cutting the encoder");
		goto done;
	}
	mark_needed(g, *cut, &k);
	if ((rc = move_graph(g, to, &k, map, err)))
		goto done;
	*cut = map[*cut];
	m->graph = to;
	to = g;
done:
	graph_free(to);
	free(k.value);
	free(k.node);
	free(k.stack);
	free(map);
	return rc;
}

/* --- the output ---------------------------------------------------------------- */

/* Makes v the only graph output; a value_info entry for it would repeat
 * its declaration. */
static int set_output(graph *g, int v, sc_error *err)
{
	int kept = 0;
	for (int i = 0; i < g->n_value_infos; i++)
		if (g->value_infos[i] != v)
			g->value_infos[kept++] = g->value_infos[i];
	g->n_value_infos = kept;
	g->values[v].flags &= ~VALUE_INFO;
	return emit_graph_output(g, v, err);
}

/* Flatten(cut, axis 1) into "features" (or a fresh variant of the name). */
static int add_flatten(graph *g, int cut, int *out, sc_error *err)
{
	int v, node, rc;
	if ((rc = emit_fresh_value(g, "features", &v, err)) ||
	    (rc = emit_node(g, "Flatten", "encoder_flatten", 1, &cut, 1, &v, &node, err)) ||
	    (rc = emit_attr_int(g, node, "axis", 1, err)))
		return rc;
	*out = v;
	return SC_OK;
}

int model_cut_encoder(graph_model *m, const char *output_name, int64_t *feat_dim,
		      sc_error *err)
{
	if (!m || !m->graph)
		return sc_fail(err, SC_EINVAL, "cut encoder: no model");
	graph *g = m->graph;
	int cut = -1, rc;
	if ((rc = graph_infer_shapes(m, err)) ||
	    (rc = find_cut(g, output_name, &cut, err)))
		return rc;
	const char *name = g->values[cut].name;
	const graph_type *t = known_shape(g, cut);
	if (!t)
		return sc_fail(err, SC_EINVAL,
			       "encoder output '%s': its shape cannot be inferred", name);
	if (t->rank < 2)
		return sc_fail(err, SC_EINVAL,
			       "encoder output '%s' has rank %d; expected [N, F] or "
			       "[N, C, ...]", name, t->rank);
	int flatten = t->rank > 2;
	if ((rc = rebuild(m, &cut, err)))
		return rc;
	/* the old graph, and the strings in it, are gone */
	g = m->graph;
	name = g->values[cut].name;
	int out = cut;
	if ((flatten && (rc = add_flatten(g, cut, &out, err))) ||
	    (rc = set_output(g, out, err)) ||
	    (rc = graph_infer_shapes(m, err)))
		return rc;
	t = known_shape(g, out);
	if (!t || t->rank != 2 || t->dims[1].value < 1)
		return sc_fail(err, SC_EINVAL,
			       "encoder output '%s': the feature size cannot be inferred "
			       "(the model's input shape may be unknown)", name);
	*feat_dim = t->dims[1].value;
	return SC_OK;
}
