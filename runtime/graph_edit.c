/* graph_edit.c: small edits that passes and builders make to a graph
 * (listing inputs and outputs, opset imports, typed values, attributes,
 * constants); see graph.h. */
#include "graph.h"

#include <stdlib.h>
#include <string.h>

static int push_index(int **arr, int *n, int v, sc_error *err)
{
	int *a = realloc(*arr, (size_t)(*n + 1) * sizeof *a);
	if (!a)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	*arr = a;
	a[(*n)++] = v;
	return SC_OK;
}

int graph_add_input(graph *g, int v, sc_error *err)
{
	if (g->values[v].flags & VALUE_INPUT)
		return SC_OK;
	g->values[v].flags |= VALUE_INPUT;
	return push_index(&g->inputs, &g->n_inputs, v, err);
}

int graph_add_output(graph *g, int v, sc_error *err)
{
	if (g->values[v].flags & VALUE_OUTPUT)
		for (int i = 0; i < g->n_outputs; i++)
			if (g->outputs[i] == v)
				return SC_OK;
	g->values[v].flags |= VALUE_OUTPUT;
	return push_index(&g->outputs, &g->n_outputs, v, err);
}

int graph_data_input(const graph *g)
{
	for (int i = 0; i < g->n_inputs; i++)
		if (!(g->values[g->inputs[i]].flags & VALUE_INITIALIZER))
			return i;
	return -1;
}

void graph_clear_outputs(graph *g)
{
	for (int i = 0; i < g->n_outputs; i++)
		g->values[g->outputs[i]].flags &= ~VALUE_OUTPUT;
	g->n_outputs = 0;
}

int graph_model_add_opset(graph_model *m, const char *domain, int64_t version,
			  sc_error *err)
{
	if (graph_model_opset(m, domain) != 0)
		return SC_OK;
	graph_opset *o = realloc(m->opsets, (size_t)(m->n_opsets + 1) * sizeof *o);
	if (!o)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	m->opsets = o;
	o[m->n_opsets].domain = strdup(domain);
	if (!o[m->n_opsets].domain)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	o[m->n_opsets++].version = version;
	return SC_OK;
}

int graph_fresh_value(graph *g, const char *name, const char *what,
		      sc_error *err)
{
	if (graph_find_value(g, name) >= 0)
		return sc_fail(err, SC_EINVAL,
			       "the model already has a value called '%s', a name "
			       "%s adds", name, what), -1;
	return graph_intern_value(g, name, err);
}

int graph_set_tensor_type(graph *g, int v, int elem, int rank,
			  const int64_t *dims, const char *const *params,
			  sc_error *err)
{
	graph_type *t = &g->values[v].type;
	graph_type_clear(t);
	t->kind = GRAPH_TYPE_TENSOR;
	t->elem = elem;
	t->rank = rank;
	if (rank <= 0)
		return SC_OK;
	t->dims = calloc((size_t)rank, sizeof *t->dims);
	if (!t->dims)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	for (int i = 0; i < rank; i++) {
		t->dims[i].value = dims[i] >= 0 ? dims[i] : -1;
		if (dims[i] < 0 && params && params[i] &&
		    !(t->dims[i].param = strdup(params[i])))
			return sc_fail(err, SC_ENOMEM, "out of memory");
	}
	return SC_OK;
}

/* The node's attribute called name, emptied, or a new one. */
static graph_attr *attr_slot(graph *g, int node, const char *name, int type,
			     sc_error *err)
{
	graph_node *n = &g->nodes[node];
	for (int i = 0; i < n->n_attrs; i++) {
		graph_attr *a = &n->attrs[i];
		if (strcmp(a->name, name) == 0) {
			char *keep = a->name;
			a->name = NULL;
			graph_attr_clear(a);
			memset(a, 0, sizeof *a);
			a->name = keep;
			a->type = type;
			return a;
		}
	}
	return graph_node_add_attr(n, name, type, err);
}

int graph_set_attr_int(graph *g, int node, const char *name, int64_t i,
		       sc_error *err)
{
	graph_attr *a = attr_slot(g, node, name, ATTR_INT, err);
	if (!a)
		return err->code;
	a->i = i;
	return SC_OK;
}

int graph_set_attr_float(graph *g, int node, const char *name, float f,
			 sc_error *err)
{
	graph_attr *a = attr_slot(g, node, name, ATTR_FLOAT, err);
	if (!a)
		return err->code;
	a->f = f;
	return SC_OK;
}

int graph_set_attr_string(graph *g, int node, const char *name,
			  const char *s, sc_error *err)
{
	graph_attr *a = attr_slot(g, node, name, ATTR_STRING, err);
	if (!a)
		return err->code;
	a->s.data = strdup(s);
	if (!a->s.data)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	a->s.len = strlen(s);
	return SC_OK;
}

int graph_set_attr_ints(graph *g, int node, const char *name, int n,
			const int64_t *v, sc_error *err)
{
	graph_attr *a = attr_slot(g, node, name, ATTR_INTS, err);
	if (!a)
		return err->code;
	a->ints = malloc((size_t)(n > 0 ? n : 1) * sizeof *a->ints);
	if (!a->ints)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	if (n > 0)
		memcpy(a->ints, v, (size_t)n * sizeof *v);
	a->n = n;
	return SC_OK;
}

int graph_add_const(graph *g, const char *name, const sc_tensor *t,
		    sc_error *err)
{
	int v = graph_fresh_value(g, name, "the builder", err);
	if (v < 0)
		return -1;
	sc_tensor c;
	if (tensor_copy(&c, t, err))
		return -1;
	if (graph_add_init(g, v, &c, err)) {
		tensor_free(&c);
		return -1;
	}
	const char *const *none = NULL;
	if (graph_set_tensor_type(g, v, t->dtype, t->rank, t->dims, none, err))
		return -1;
	return v;
}
