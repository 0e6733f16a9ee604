/* graph.c: building and freeing the IR; see graph.h.
 * Validation and sorting live in graph_check.c, comparison in graph_equal.c. */
#include "graph.h"

#include <stdlib.h>
#include <string.h>

static char *dup_str(const char *s)
{
	if (!s)
		return NULL;
	size_t n = strlen(s) + 1;
	char *d = malloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
}

/* Grows *arr (of elem-sized items) so that it holds at least need items. */
static int grow(void **arr, int *cap, int need, size_t elem)
{
	if (need <= *cap)
		return 0;
	int ncap = *cap ? *cap : 8;
	while (ncap < need) {
		if (ncap > (1 << 29))
			return -1;
		ncap *= 2;
	}
	void *p = realloc(*arr, (size_t)ncap * elem);
	if (!p)
		return -1;
	memset((char *)p + (size_t)*cap * elem, 0, (size_t)(ncap - *cap) * elem);
	*arr = p;
	*cap = ncap;
	return 0;
}

graph_model *graph_model_new(void)
{
	graph_model *m = calloc(1, sizeof *m);
	if (!m)
		return NULL;
	m->graph = graph_new(NULL);
	if (!m->graph) {
		free(m);
		return NULL;
	}
	return m;
}

void graph_type_clear(graph_type *t)
{
	if (!t)
		return;
	for (int i = 0; t->dims && i < t->rank; i++)
		free(t->dims[i].param);
	free(t->dims);
	if (t->inner) {
		graph_type_clear(t->inner);
		free(t->inner);
	}
	free(t->denotation);
	memset(t, 0, sizeof *t);
}

int graph_type_copy(graph_type *dst, const graph_type *src, sc_error *err)
{
	memset(dst, 0, sizeof *dst);
	dst->kind = src->kind;
	dst->elem = src->elem;
	dst->rank = src->rank;
	if (src->denotation && !(dst->denotation = dup_str(src->denotation)))
		goto oom;
	if (src->rank > 0 && src->dims) {
		dst->dims = calloc((size_t)src->rank, sizeof *dst->dims);
		if (!dst->dims)
			goto oom;
		for (int i = 0; i < src->rank; i++) {
			dst->dims[i].value = src->dims[i].value;
			if (src->dims[i].param &&
			    !(dst->dims[i].param = dup_str(src->dims[i].param)))
				goto oom;
		}
	}
	if (src->inner) {
		dst->inner = calloc(1, sizeof *dst->inner);
		if (!dst->inner)
			goto oom;
		int rc = graph_type_copy(dst->inner, src->inner, err);
		if (rc) {
			graph_type_clear(dst);
			return rc;
		}
	}
	return SC_OK;
oom:
	graph_type_clear(dst);
	return sc_fail(err, SC_ENOMEM, "out of memory copying a type");
}

void graph_attr_clear(graph_attr *a)
{
	free(a->name);
	free(a->doc_string);
	free(a->ref_attr_name);
	free(a->s.data);
	if (a->t) {
		tensor_free(a->t);
		free(a->t);
	}
	graph_free(a->g);
	free(a->floats);
	free(a->ints);
	if (a->strings)
		for (int i = 0; i < a->n; i++)
			free(a->strings[i].data);
	free(a->strings);
	if (a->tensors)
		for (int i = 0; i < a->n; i++)
			tensor_free(&a->tensors[i]);
	free(a->tensors);
	if (a->graphs)
		for (int i = 0; i < a->n; i++)
			graph_free(a->graphs[i]);
	free(a->graphs);
	if (a->tp) {
		graph_type_clear(a->tp);
		free(a->tp);
	}
	if (a->tps)
		for (int i = 0; i < a->n; i++)
			graph_type_clear(&a->tps[i]);
	free(a->tps);
	memset(a, 0, sizeof *a);
}

void graph_node_clear(graph_node *n)
{
	free(n->name);
	free(n->op_type);
	free(n->domain);
	free(n->doc_string);
	free(n->inputs);
	free(n->outputs);
	for (int i = 0; i < n->n_attrs; i++)
		graph_attr_clear(&n->attrs[i]);
	free(n->attrs);
	memset(n, 0, sizeof *n);
}

graph *graph_new(graph *parent)
{
	graph *g = calloc(1, sizeof *g);
	if (g)
		g->parent = parent;
	return g;
}

void graph_free(graph *g)
{
	if (!g)
		return;
	free(g->name);
	free(g->doc_string);
	for (int i = 0; i < g->n_values; i++) {
		free(g->values[i].name);
		free(g->values[i].doc_string);
		graph_type_clear(&g->values[i].type);
	}
	free(g->values);
	free(g->index);
	for (int i = 0; i < g->n_nodes; i++)
		graph_node_clear(&g->nodes[i]);
	free(g->nodes);
	for (int i = 0; i < g->n_inits; i++) {
		tensor_free(&g->inits[i].tensor);
		free(g->inits[i].doc_string);
	}
	free(g->inits);
	free(g->inputs);
	free(g->outputs);
	free(g->value_infos);
	free(g);
}

void graph_model_free(graph_model *m)
{
	if (!m)
		return;
	for (int i = 0; i < m->n_opsets; i++)
		free(m->opsets[i].domain);
	free(m->opsets);
	free(m->producer_name);
	free(m->producer_version);
	free(m->domain);
	free(m->doc_string);
	for (int i = 0; i < m->n_metadata; i++) {
		free(m->metadata[i].key);
		free(m->metadata[i].value);
	}
	free(m->metadata);
	graph_free(m->graph);
	free(m);
}

/* FNV-1a: cheap and good enough for value names. */
static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

int graph_find_value(const graph *g, const char *name)
{
	if (!g->cap_index)
		return -1;
	uint32_t mask = (uint32_t)g->cap_index - 1;
	for (uint32_t h = name_hash(name) & mask;; h = (h + 1) & mask) {
		int v = g->index[h];
		if (v < 0)
			return -1;
		if (strcmp(g->values[v].name, name) == 0)
			return v;
	}
}

static int index_rebuild(graph *g, int cap)
{
	int *idx = malloc((size_t)cap * sizeof *idx);
	if (!idx)
		return -1;
	for (int i = 0; i < cap; i++)
		idx[i] = -1;
	uint32_t mask = (uint32_t)cap - 1;
	for (int v = 0; v < g->n_values; v++) {
		uint32_t h = name_hash(g->values[v].name) & mask;
		while (idx[h] >= 0)
			h = (h + 1) & mask;
		idx[h] = v;
	}
	free(g->index);
	g->index = idx;
	g->cap_index = cap;
	return 0;
}

int graph_rename_value(graph *g, int v, const char *name, sc_error *err)
{
	if (graph_find_value(g, name) >= 0)
		return sc_fail(err, SC_EINVAL, "cannot rename '%s': a value called "
			       "'%s' exists", g->values[v].name, name);
	char *d = dup_str(name);
	if (!d)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	free(g->values[v].name);
	g->values[v].name = d;
	if (index_rebuild(g, g->cap_index))
		return sc_fail(err, SC_ENOMEM, "out of memory");
	return SC_OK;
}

int graph_intern_value(graph *g, const char *name, sc_error *err)
{
	int v = graph_find_value(g, name);
	if (v >= 0)
		return v;
	if (grow((void **)&g->values, &g->cap_values, g->n_values + 1,
		 sizeof *g->values))
		goto oom;
	graph_value *val = &g->values[g->n_values];
	memset(val, 0, sizeof *val);
	val->name = dup_str(name);
	if (!val->name)
		goto oom;
	val->producer = -1;
	val->init = -1;
	val->type.rank = -1;
	g->n_values++;
	/* keep the table at most half full */
	if (2 * g->n_values > g->cap_index) {
		int cap = g->cap_index ? g->cap_index : 64;
		while (2 * g->n_values > cap)
			cap *= 2;
		if (index_rebuild(g, cap)) {
			g->n_values--;
			free(val->name);
			goto oom;
		}
	} else {
		uint32_t mask = (uint32_t)g->cap_index - 1;
		uint32_t h = name_hash(name) & mask;
		while (g->index[h] >= 0)
			h = (h + 1) & mask;
		g->index[h] = g->n_values - 1;
	}
	return g->n_values - 1;
oom:
	sc_fail(err, SC_ENOMEM, "out of memory adding value '%s'", name);
	return -1;
}

int graph_add_node(graph *g, const char *op_type, const char *domain,
		   const char *name, int n_inputs, const int *inputs,
		   int n_outputs, const int *outputs, sc_error *err)
{
	for (int i = 0; i < n_outputs; i++) {
		int v = outputs[i];
		if (v < 0)
			continue;
		graph_value *val = &g->values[v];
		if (val->producer >= 0 || (val->flags & (VALUE_INPUT | VALUE_INITIALIZER)))
			return sc_fail(err, SC_EINVAL,
				       "node '%s' (%s): output '%s' is already defined%s",
				       name ? name : "", op_type, val->name,
				       val->producer >= 0 ? " by another node" :
				       " as a graph input or initializer"),
			       -1;
		for (int j = 0; j < i; j++)
			if (outputs[j] == v)
				return sc_fail(err, SC_EINVAL,
					       "node '%s' (%s): output '%s' is listed twice",
					       name ? name : "", op_type, val->name),
				       -1;
	}
	if (grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1,
		 sizeof *g->nodes))
		goto oom;
	graph_node *n = &g->nodes[g->n_nodes];
	memset(n, 0, sizeof *n);
	n->op_type = dup_str(op_type);
	n->domain = dup_str(domain ? domain : "");
	n->name = dup_str(name ? name : "");
	n->inputs = malloc((size_t)(n_inputs ? n_inputs : 1) * sizeof(int));
	n->outputs = malloc((size_t)(n_outputs ? n_outputs : 1) * sizeof(int));
	if (!n->op_type || !n->domain || !n->name || !n->inputs || !n->outputs) {
		graph_node_clear(n);
		goto oom;
	}
	if (n_inputs)
		memcpy(n->inputs, inputs, (size_t)n_inputs * sizeof(int));
	if (n_outputs)
		memcpy(n->outputs, outputs, (size_t)n_outputs * sizeof(int));
	n->n_inputs = n_inputs;
	n->n_outputs = n_outputs;
	for (int i = 0; i < n_outputs; i++)
		if (outputs[i] >= 0)
			g->values[outputs[i]].producer = g->n_nodes;
	return g->n_nodes++;
oom:
	sc_fail(err, SC_ENOMEM, "out of memory adding node '%s'", name ? name : "");
	return -1;
}

int graph_add_init(graph *g, int value, sc_tensor *t, sc_error *err)
{
	graph_value *val = &g->values[value];
	if (val->flags & VALUE_INITIALIZER)
		return sc_fail(err, SC_EINVAL,
			       "initializer '%s' is defined twice", val->name);
	if (val->producer >= 0)
		return sc_fail(err, SC_EINVAL,
			       "initializer '%s' is also the output of node '%s'",
			       val->name, g->nodes[val->producer].name);
	if (grow((void **)&g->inits, &g->cap_inits, g->n_inits + 1,
		 sizeof *g->inits))
		return sc_fail(err, SC_ENOMEM, "out of memory adding initializer '%s'",
			       val->name);
	graph_init *in = &g->inits[g->n_inits];
	memset(in, 0, sizeof *in);
	in->value = value;
	in->tensor = *t;
	memset(t, 0, sizeof *t);
	val->init = g->n_inits++;
	val->flags |= VALUE_INITIALIZER;
	return SC_OK;
}

graph_attr *graph_node_add_attr(graph_node *n, const char *name, int type,
				sc_error *err)
{
	graph_attr *a = realloc(n->attrs, (size_t)(n->n_attrs + 1) * sizeof *a);
	if (!a) {
		sc_fail(err, SC_ENOMEM, "out of memory adding attribute '%s'", name);
		return NULL;
	}
	n->attrs = a;
	a = &n->attrs[n->n_attrs];
	memset(a, 0, sizeof *a);
	a->name = dup_str(name);
	if (!a->name) {
		sc_fail(err, SC_ENOMEM, "out of memory adding attribute '%s'", name);
		return NULL;
	}
	a->type = type;
	n->n_attrs++;
	return a;
}

const graph_attr *graph_node_attr(const graph_node *n, const char *name)
{
	for (int i = 0; i < n->n_attrs; i++)
		if (strcmp(n->attrs[i].name, name) == 0)
			return &n->attrs[i];
	return NULL;
}

int64_t graph_model_opset(const graph_model *m, const char *domain)
{
	int dflt = !domain || !*domain || strcmp(domain, "ai.onnx") == 0;
	for (int i = 0; i < m->n_opsets; i++) {
		const char *d = m->opsets[i].domain ? m->opsets[i].domain : "";
		int odflt = !*d || strcmp(d, "ai.onnx") == 0;
		if (dflt ? odflt : strcmp(d, domain) == 0)
			return m->opsets[i].version;
	}
	return 0;
}
