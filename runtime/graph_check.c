/* graph_check.c: topological order and structural validation of the IR;
 * see graph.h.
 *
 * The sort is Kahn's algorithm with the ready set kept as a min-heap of
 * node indices, so among nodes that are ready the earliest in file order
 * always goes first: a graph that is already sorted comes back unchanged,
 * and the order never depends on anything but the file.  Besides explicit
 * inputs, a node depends on every value its subgraphs (If/Loop/Scan bodies,
 * at any depth) read from the enclosing graph. */
#include "graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ops/registry.h"

/* Subgraphs nest at most this deep; deeper is refused, not recursed into. */
#define GRAPH_MAX_DEPTH 64

static const char *graph_label(const graph *g)
{
	return g->name && *g->name ? g->name : "(unnamed)";
}

/* 1 when v is defined inside g itself. */
static int defined_here(const graph_value *v)
{
	return (v->flags & (VALUE_INPUT | VALUE_INITIALIZER)) || v->producer >= 0;
}

/* --- dependency edges ----------------------------------------------------- */

typedef struct edge_list {
	int *from, *to;
	int n, cap;
} edge_list;

static int edge_push(edge_list *e, int from, int to)
{
	if (e->n == e->cap) {
		if (e->cap > (1 << 28))
			return -1;
		int cap = e->cap ? 2 * e->cap : 64;
		int *f = realloc(e->from, (size_t)cap * sizeof *f);
		if (!f)
			return -1;
		e->from = f;
		int *t = realloc(e->to, (size_t)cap * sizeof *t);
		if (!t)
			return -1;
		e->to = t;
		e->cap = cap;
	}
	e->from[e->n] = from;
	e->to[e->n] = to;
	e->n++;
	return 0;
}

static void edge_free(edge_list *e)
{
	free(e->from);
	free(e->to);
}

/* The graphs an attribute holds: a->g or a->graphs. */
static int attr_graph_count(const graph_attr *a)
{
	if (a->type == ATTR_GRAPH)
		return a->g ? 1 : 0;
	if (a->type == ATTR_GRAPHS && a->graphs)
		return a->n;
	return 0;
}

static const graph *attr_graph(const graph_attr *a, int k)
{
	return a->type == ATTR_GRAPH ? a->g : a->graphs[k];
}

/* Adds producer -> node for each value of top that sub (nested in node
 * through the graphs chain[0..depth)) reads from outside.  A name that an
 * intermediate graph defines itself is that graph's, not top's. */
static int subgraph_deps(const graph *top, int node, const graph *sub,
			 const graph **chain, int depth, edge_list *e,
			 sc_error *err)
{
	if (depth >= GRAPH_MAX_DEPTH)
		return sc_fail(err, SC_EUNSUPPORTED,
			       "graph '%s': subgraphs nest deeper than %d",
			       graph_label(top), GRAPH_MAX_DEPTH);
	chain[depth++] = sub;
	for (int v = 0; v < sub->n_values; v++) {
		const graph_value *val = &sub->values[v];
		if (!(val->flags & VALUE_OUTER))
			continue;
		int shadowed = 0;
		for (int d = depth - 2; d >= 0 && !shadowed; d--) {
			int j = graph_find_value(chain[d], val->name);
			shadowed = j >= 0 && defined_here(&chain[d]->values[j]);
		}
		if (shadowed)
			continue;
		int j = graph_find_value(top, val->name);
		if (j < 0 || (top->values[j].flags &
			      (VALUE_INPUT | VALUE_INITIALIZER | VALUE_OUTER)))
			continue;
		int p = top->values[j].producer;
		if (p >= 0 && p < top->n_nodes && edge_push(e, p, node))
			return sc_fail(err, SC_ENOMEM, "out of memory sorting graph '%s'",
				       graph_label(top));
	}
	for (int i = 0; i < sub->n_nodes; i++) {
		const graph_node *n = &sub->nodes[i];
		for (int a = 0; a < n->n_attrs; a++)
			for (int k = 0; k < attr_graph_count(&n->attrs[a]); k++) {
				const graph *inner = attr_graph(&n->attrs[a], k);
				if (!inner)
					continue;
				int rc = subgraph_deps(top, node, inner, chain,
						       depth, e, err);
				if (rc)
					return rc;
			}
	}
	return SC_OK;
}

static int collect_edges(const graph *g, edge_list *e, sc_error *err)
{
	const graph *chain[GRAPH_MAX_DEPTH];
	char label[256];
	for (int i = 0; i < g->n_nodes; i++) {
		const graph_node *n = &g->nodes[i];
		for (int k = 0; k < n->n_inputs; k++) {
			int v = n->inputs[k];
			if (v < -1 || v >= g->n_values)
				return sc_fail(err, SC_EINVAL,
					       "%s: input %d has an invalid value index %d",
					       op_node_label(g, n, label, sizeof label),
					       k, v);
			if (v < 0)
				continue;
			const graph_value *val = &g->values[v];
			if (val->flags & (VALUE_INPUT | VALUE_INITIALIZER | VALUE_OUTER))
				continue;
			if (val->producer >= 0 && val->producer < g->n_nodes &&
			    edge_push(e, val->producer, i))
				return sc_fail(err, SC_ENOMEM,
					       "out of memory sorting graph '%s'",
					       graph_label(g));
		}
		for (int a = 0; a < n->n_attrs; a++)
			for (int k = 0; k < attr_graph_count(&n->attrs[a]); k++) {
				const graph *sub = attr_graph(&n->attrs[a], k);
				if (!sub)
					continue;
				int rc = subgraph_deps(g, i, sub, chain, 0, e, err);
				if (rc)
					return rc;
			}
	}
	return SC_OK;
}

/* --- sorting -------------------------------------------------------------- */

static void heap_push(int *heap, int *len, int x)
{
	int i = (*len)++;
	while (i > 0 && heap[(i - 1) / 2] > x) {
		heap[i] = heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	heap[i] = x;
}

static int heap_pop(int *heap, int *len)
{
	int top = heap[0], x = heap[--*len], i = 0;
	for (;;) {
		int c = 2 * i + 1;
		if (c >= *len)
			break;
		if (c + 1 < *len && heap[c + 1] < heap[c])
			c++;
		if (heap[c] >= x)
			break;
		heap[i] = heap[c];
		i = c;
	}
	if (*len)
		heap[i] = x;
	return top;
}

/* Builds CSR adjacency: for each node its successors (by_from) or its
 * predecessors, in off[nn+1] / adj[edges].  fill is nn ints of scratch. */
static void build_csr(int nn, const edge_list *e, int by_from, int *off,
		      int *adj, int *fill)
{
	memset(off, 0, (size_t)(nn + 1) * sizeof *off);
	for (int k = 0; k < e->n; k++)
		off[(by_from ? e->from[k] : e->to[k]) + 1]++;
	for (int i = 0; i < nn; i++)
		off[i + 1] += off[i];
	memcpy(fill, off, (size_t)nn * sizeof *fill);
	for (int k = 0; k < e->n; k++) {
		int key = by_from ? e->from[k] : e->to[k];
		adj[fill[key]++] = by_from ? e->to[k] : e->from[k];
	}
}

static const char *short_name(const graph *g, int i, char *buf, size_t len)
{
	const graph_node *n = &g->nodes[i];
	if (n->name && *n->name)
		snprintf(buf, len, "%s", n->name);
	else
		snprintf(buf, len, "#%d", i);
	return buf;
}

/* Writes ": 'u' -> 'a' -> ... -> 'u'" for the cycle through u, whose
 * predecessors pred[] lists; long cycles are shortened to their last
 * eight nodes before u. */
static void cycle_path(const graph *g, const int *pred, int u, char *path,
		       size_t size)
{
	int cyc[8], len = 0, total = 0, w = u;
	char nm[128];
	do {
		if (len < 8)
			cyc[len++] = w;
		total++;
		w = pred[w];
	} while (w != u && total <= g->n_nodes);
	/* forwards: u, its successors (cyc[len-1] .. cyc[1]), u again */
	int r = snprintf(path, size, ": '%s'%s", short_name(g, u, nm, sizeof nm),
			 total > len ? " -> ..." : "");
	size_t pos = r > 0 ? (size_t)r : 0;
	for (int k = len - 1; k >= 1 && pos < size; k--) {
		r = snprintf(path + pos, size - pos, " -> '%s'",
			     short_name(g, cyc[k], nm, sizeof nm));
		pos += r > 0 ? (size_t)r : 0;
	}
	if (pos < size)
		snprintf(path + pos, size - pos, " -> '%s'",
			 short_name(g, u, nm, sizeof nm));
}

/* Reports a cycle among the nodes Kahn's algorithm left waiting.  Each of
 * them waits for another waiting node, so walking to a waiting predecessor
 * from the first one must revisit a node, and that node is on a cycle. */
static int report_cycle(const graph *g, const edge_list *e,
			const char *emitted, sc_error *err)
{
	int nn = g->n_nodes;
	int *off = malloc((size_t)(nn + 1) * sizeof *off);
	int *adj = malloc((size_t)(e->n ? e->n : 1) * sizeof *adj);
	int *pred = malloc((size_t)(nn ? nn : 1) * sizeof *pred);
	char *seen = calloc((size_t)(nn ? nn : 1), 1);
	char label[256], path[600] = "";
	int u = 0;
	while (u < nn && emitted[u])
		u++;
	if (off && adj && pred && seen) {
		build_csr(nn, e, 0, off, adj, pred);  /* scratch until the walk */
		int stuck = 0;
		while (!seen[u] && !stuck) {
			seen[u] = 1;
			pred[u] = -1;
			for (int k = off[u]; k < off[u + 1] && pred[u] < 0; k++)
				if (!emitted[adj[k]])
					pred[u] = adj[k];
			stuck = pred[u] < 0;
			if (!stuck)
				u = pred[u];
		}
		if (!stuck)
			cycle_path(g, pred, u, path, sizeof path);
	}
	int rc = sc_fail(err, SC_EINVAL, "graph '%s': %s is on a cycle%s",
			 graph_label(g),
			 op_node_label(g, &g->nodes[u], label, sizeof label), path);
	free(off);
	free(adj);
	free(pred);
	free(seen);
	return rc;
}

int graph_toposort(const graph *g, int *order, sc_error *err)
{
	int nn = g->n_nodes;
	edge_list e = {0};
	int rc = collect_edges(g, &e, err);
	if (rc) {
		edge_free(&e);
		return rc;
	}
	int *off = malloc((size_t)(nn + 1) * sizeof *off);
	int *adj = malloc((size_t)(e.n ? e.n : 1) * sizeof *adj);
	int *indeg = calloc((size_t)(nn ? nn : 1), sizeof *indeg);
	int *heap = malloc((size_t)(nn ? nn : 1) * sizeof *heap);
	char *emitted = calloc((size_t)(nn ? nn : 1), 1);
	if (!off || !adj || !indeg || !heap || !emitted) {
		rc = sc_fail(err, SC_ENOMEM, "out of memory sorting graph '%s'",
			     graph_label(g));
		goto out;
	}
	build_csr(nn, &e, 1, off, adj, heap);  /* heap is scratch until Kahn starts */
	for (int k = 0; k < e.n; k++)
		indeg[e.to[k]]++;
	int len = 0, done = 0;
	for (int i = 0; i < nn; i++)
		if (!indeg[i])
			heap_push(heap, &len, i);
	while (len) {
		int u = heap_pop(heap, &len);
		order[done++] = u;
		emitted[u] = 1;
		for (int k = off[u]; k < off[u + 1]; k++)
			if (--indeg[adj[k]] == 0)
				heap_push(heap, &len, adj[k]);
	}
	if (done < nn)
		rc = report_cycle(g, &e, emitted, err);
out:
	free(off);
	free(adj);
	free(indeg);
	free(heap);
	free(emitted);
	edge_free(&e);
	return rc;
}

/* --- validation ----------------------------------------------------------- */

/* An enclosing graph, for resolving VALUE_OUTER names. */
typedef struct scope {
	const graph *g;
	const struct scope *up;
} scope;

/* Types newer ONNX versions define (float8, 4-bit) that supcon does not. */
static const char *const newer_dtypes[] = {
	"float8e4m3fn", "float8e4m3fnuz", "float8e5m2", "float8e5m2fnuz",
	"uint4", "int4", "float4e2m1",
};

static int check_dtype(int dtype, const char *where, const char *what,
		       sc_error *err)
{
	if (tensor_dtype_valid(dtype))
		return SC_OK;
	int k = dtype - SC_DTYPE_COUNT;
	if (k >= 0 && k < (int)(sizeof newer_dtypes / sizeof newer_dtypes[0]))
		return sc_fail(err, SC_EUNSUPPORTED,
			       "%s%s has data type %s (%d), which supcon does not support",
			       where, what, newer_dtypes[k], dtype);
	return sc_fail(err, SC_EINVAL, "%s%s has unknown data type %d", where,
		       what, dtype);
}

static int check_type(const graph_type *t, const char *where, const char *what,
		      int depth, sc_error *err)
{
	if (depth > GRAPH_MAX_DEPTH)
		return sc_fail(err, SC_EUNSUPPORTED, "%s%s: type nests too deeply",
			       where, what);
	switch (t->kind) {
	case GRAPH_TYPE_NONE:
		return SC_OK;
	case GRAPH_TYPE_TENSOR:
	case GRAPH_TYPE_SPARSE_TENSOR:
		if (t->elem != SC_UNDEFINED) {
			int rc = check_dtype(t->elem, where, what, err);
			if (rc)
				return rc;
		}
		if (t->rank < -1 || (t->rank > 0 && !t->dims))
			return sc_fail(err, SC_EINVAL, "%s%s has a malformed shape",
				       where, what);
		for (int i = 0; i < t->rank; i++)
			if (t->dims[i].value < -1)
				return sc_fail(err, SC_EINVAL,
					       "%s%s: dim %d is negative (%lld)", where,
					       what, i, (long long)t->dims[i].value);
		return SC_OK;
	case GRAPH_TYPE_MAP:
		if (t->elem != SC_UNDEFINED) {
			int rc = check_dtype(t->elem, where, what, err);
			if (rc)
				return rc;
		}
		/* fall through */
	case GRAPH_TYPE_SEQUENCE:
	case GRAPH_TYPE_OPTIONAL:
		return t->inner ? check_type(t->inner, where, what, depth + 1, err) :
				  SC_OK;
	default:
		return sc_fail(err, SC_EINVAL, "%s%s has unknown type kind %d", where,
			       what, (int)t->kind);
	}
}

/* Index sanity: every index the IR holds points inside its array, and the
 * producer and initializer back-pointers agree with the nodes and inits. */
static int check_indices(const graph *g, const char *where, sc_error *err)
{
	char label[256];
	for (int i = 0; i < g->n_nodes; i++) {
		const graph_node *n = &g->nodes[i];
		for (int k = 0; k < n->n_inputs; k++)
			if (n->inputs[k] < -1 || n->inputs[k] >= g->n_values)
				return sc_fail(err, SC_EINVAL,
					       "%s%s: input %d has an invalid value index",
					       where, op_node_label(g, n, label, sizeof label), k);
		for (int k = 0; k < n->n_outputs; k++) {
			int v = n->outputs[k];
			if (v < -1 || v >= g->n_values)
				return sc_fail(err, SC_EINVAL,
					       "%s%s: output %d has an invalid value index",
					       where, op_node_label(g, n, label, sizeof label), k);
			if (v >= 0 && g->values[v].producer != i)
				return sc_fail(err, SC_EINVAL,
					       "%s%s: output '%s' is also written by another node",
					       where, op_node_label(g, n, label, sizeof label),
					       g->values[v].name);
		}
	}
	for (int v = 0; v < g->n_values; v++) {
		const graph_value *val = &g->values[v];
		int p = val->producer, found = 0;
		if (p >= g->n_nodes)
			return sc_fail(err, SC_EINVAL, "%svalue '%s' names a missing producer",
				       where, val->name);
		for (int k = 0; p >= 0 && k < g->nodes[p].n_outputs; k++)
			found |= g->nodes[p].outputs[k] == v;
		if (p >= 0 && !found)
			return sc_fail(err, SC_EINVAL,
				       "%svalue '%s' names a producer that does not write it",
				       where, val->name);
		int has_init = val->init >= 0;
		if (val->init >= g->n_inits || has_init != !!(val->flags & VALUE_INITIALIZER) ||
		    (has_init && g->inits[val->init].value != v))
			return sc_fail(err, SC_EINVAL,
				       "%svalue '%s' disagrees with the initializer list",
				       where, val->name);
	}
	for (int i = 0; i < g->n_inits; i++)
		if (g->inits[i].value < 0 || g->inits[i].value >= g->n_values ||
		    g->values[g->inits[i].value].init != i)
			return sc_fail(err, SC_EINVAL,
				       "%sinitializer %d has an invalid value index", where, i);
	const struct {
		const int *list;
		int n;
		const char *what;
	} lists[] = {
		{g->inputs, g->n_inputs, "graph input"},
		{g->outputs, g->n_outputs, "graph output"},
		{g->value_infos, g->n_value_infos, "value_info entry"},
	};
	for (int l = 0; l < 3; l++)
		for (int i = 0; i < lists[l].n; i++)
			if (lists[l].list[i] < 0 || lists[l].list[i] >= g->n_values)
				return sc_fail(err, SC_EINVAL,
					       "%s%s %d has an invalid value index", where,
					       lists[l].what, i);
	return SC_OK;
}

/* Each value has at most one definition, and graph inputs are listed once. */
static int check_definitions(const graph *g, const scope *up, const char *where,
			     sc_error *err)
{
	char label[256];
	for (int v = 0; v < g->n_values; v++) {
		const graph_value *val = &g->values[v];
		const graph_node *p = val->producer >= 0 ? &g->nodes[val->producer] : NULL;
		if (p && (val->flags & VALUE_INPUT))
			return sc_fail(err, SC_EINVAL,
				       "%sgraph input '%s' is also the output of %s", where,
				       val->name, op_node_label(g, p, label, sizeof label));
		if (p && (val->flags & VALUE_INITIALIZER))
			return sc_fail(err, SC_EINVAL,
				       "%sinitializer '%s' is also the output of %s", where,
				       val->name, op_node_label(g, p, label, sizeof label));
		if (!(val->flags & VALUE_OUTER))
			continue;
		if (defined_here(val))
			return sc_fail(err, SC_EINVAL,
				       "%s'%s' is defined both here and in an enclosing graph",
				       where, val->name);
		/* an outer name must resolve to a definition further out */
		const scope *s = up;
		for (; s; s = s->up) {
			int j = graph_find_value(s->g, val->name);
			if (j >= 0 && defined_here(&s->g->values[j]))
				break;
		}
		if (!s)
			return sc_fail(err, SC_EINVAL,
				       "%s'%s' is read from an enclosing graph, but none defines it",
				       where, val->name);
	}
	for (int i = 0; i < g->n_inputs; i++)
		for (int j = 0; j < i; j++)
			if (g->inputs[i] == g->inputs[j])
				return sc_fail(err, SC_EINVAL,
					       "%sgraph input '%s' is listed twice", where,
					       g->values[g->inputs[i]].name);
	return SC_OK;
}

static int is_defined(const graph_value *v)
{
	return defined_here(v) || (v->flags & VALUE_OUTER);
}

static int validate_graph(const graph_model *m, const graph *g,
			  const scope *up, const char *where, int depth,
			  sc_error *err);

static int check_nodes(const graph_model *m, const graph *g, const scope *up,
		       const char *where, int depth, sc_error *err)
{
	char label[256];
	scope here = {g, up};
	for (int i = 0; i < g->n_nodes; i++) {
		const graph_node *n = &g->nodes[i];
		op_node_label(g, n, label, sizeof label);
		if (!n->op_type || !*n->op_type)
			return sc_fail(err, SC_EINVAL, "%s%s has no op_type", where, label);
		for (int k = 0; k < n->n_inputs; k++) {
			int v = n->inputs[k];
			if (v >= 0 && !is_defined(&g->values[v]))
				return sc_fail(err, SC_EINVAL,
					       "%s%s: input '%s' is not defined (not a graph input, initializer or node output)",
					       where, label, g->values[v].name);
		}
		const op_def *def = op_find(n->domain, n->op_type,
					    graph_model_opset(m, n->domain));
		if (def) {
			int rc = op_check_attrs(def, g, n,
						graph_model_opset(m, n->domain), err);
			if (rc) {
				sc_error_prefix(err, "%s", where);
				return rc;
			}
		}
		for (int a = 0; a < n->n_attrs; a++) {
			const graph_attr *at = &n->attrs[a];
			char what[384];
			snprintf(what, sizeof what, "%s: attribute '%s'", label, at->name);
			if (at->type == ATTR_TENSOR && at->t) {
				int rc = check_dtype(at->t->dtype, where, what, err);
				if (rc)
					return rc;
			}
			for (int k = 0; at->type == ATTR_TENSORS && at->tensors &&
					k < at->n; k++) {
				int rc = check_dtype(at->tensors[k].dtype, where, what, err);
				if (rc)
					return rc;
			}
			if (at->type == ATTR_GRAPH && !at->g)
				return sc_fail(err, SC_EINVAL, "%s%s has no graph", where, what);
			if (at->type == ATTR_GRAPHS && at->n > 0 && !at->graphs)
				return sc_fail(err, SC_EINVAL, "%s%s has no graphs", where, what);
			for (int k = 0; k < attr_graph_count(at); k++) {
				const graph *sub = attr_graph(at, k);
				if (!sub)
					return sc_fail(err, SC_EINVAL, "%s%s: graph %d is missing",
						       where, what, k);
				char sub_where[SC_ERROR_MAX / 2];
				snprintf(sub_where, sizeof sub_where,
					 "%ssubgraph '%s' of %s: ", where,
					 graph_label(sub), label);
				int rc = validate_graph(m, sub, &here, sub_where,
							depth + 1, err);
				if (rc)
					return rc;
			}
		}
	}
	return SC_OK;
}

static int validate_graph(const graph_model *m, const graph *g,
			  const scope *up, const char *where, int depth,
			  sc_error *err)
{
	if (depth > GRAPH_MAX_DEPTH)
		return sc_fail(err, SC_EUNSUPPORTED, "%ssubgraphs nest deeper than %d",
			       where, GRAPH_MAX_DEPTH);
	int rc = check_indices(g, where, err);
	if (!rc)
		rc = check_definitions(g, up, where, err);
	if (rc)
		return rc;
	for (int v = 0; v < g->n_values; v++) {
		char what[300];
		snprintf(what, sizeof what, "value '%s'", g->values[v].name);
		rc = check_type(&g->values[v].type, where, what, 0, err);
		if (rc)
			return rc;
	}
	for (int i = 0; i < g->n_inits; i++) {
		char what[300];
		snprintf(what, sizeof what, "initializer '%s'",
			 g->values[g->inits[i].value].name);
		rc = check_dtype(g->inits[i].tensor.dtype, where, what, err);
		if (rc)
			return rc;
	}
	rc = check_nodes(m, g, up, where, depth, err);
	if (rc)
		return rc;
	for (int i = 0; i < g->n_outputs; i++) {
		const graph_value *val = &g->values[g->outputs[i]];
		if (!is_defined(val))
			return sc_fail(err, SC_EINVAL,
				       "%sgraph output '%s' is not defined (no node, input or initializer produces it)",
				       where, val->name);
	}
	int *order = malloc((size_t)(g->n_nodes ? g->n_nodes : 1) * sizeof *order);
	if (!order)
		return sc_fail(err, SC_ENOMEM, "%sout of memory sorting nodes", where);
	rc = graph_toposort(g, order, err);
	free(order);
	if (rc && *where)
		sc_error_prefix(err, "%s", where);
	return rc;
}

int graph_validate(const graph_model *m, sc_error *err)
{
	if (!m || !m->graph)
		return sc_fail(err, SC_EINVAL, "model has no graph");
	return validate_graph(m, m->graph, NULL, "", 0, err);
}
