/* emit.c: appending values, nodes, attributes and initializers for the
 * model builders; see emit.h. */
#include "emit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/rng.h"
#include "../runtime/tensor.h"

/* Longest name the builders make ("layer4.35.downsample.1.running_mean"
 * and friends fit many times over); longer bases are refused, not cut. */
#define EMIT_NAME_MAX 512

int emit_value(graph *g, const char *name, int *v, sc_error *err)
{
	if (graph_find_value(g, name) >= 0)
		return sc_fail(err, SC_EINVAL, "value name '%s' is already used", name);
	int idx = graph_intern_value(g, name, err);
	if (idx < 0)
		return SC_ENOMEM;   /* its only failure */
	*v = idx;
	return SC_OK;
}

int emit_fresh_value(graph *g, const char *base, int *v, sc_error *err)
{
	char name[EMIT_NAME_MAX];
	if (strlen(base) + 16 >= sizeof name)
		return sc_fail(err, SC_EINVAL, "value name '%.64s...' is too long", base);
	snprintf(name, sizeof name, "%s", base);
	/* a graph has at most INT_MAX values, so a free suffix exists */
	for (long k = 1; graph_find_value(g, name) >= 0; k++)
		snprintf(name, sizeof name, "%s_%ld", base, k);
	return emit_value(g, name, v, err);
}

int emit_node(graph *g, const char *op, const char *name, int n_in,
	      const int *in, int n_out, const int *out, int *node,
	      sc_error *err)
{
	int idx = graph_add_node(g, op, "", name, n_in, in, n_out, out, err);
	if (idx < 0)
		return err && err->code ? err->code : SC_EINVAL;
	if (node)
		*node = idx;
	return SC_OK;
}

static graph_attr *new_attr(graph *g, int node, const char *name, int type,
			    sc_error *err)
{
	return graph_node_add_attr(&g->nodes[node], name, type, err);
}

int emit_attr_int(graph *g, int node, const char *name, int64_t v,
		  sc_error *err)
{
	graph_attr *a = new_attr(g, node, name, ATTR_INT, err);
	if (!a)
		return SC_ENOMEM;
	a->i = v;
	return SC_OK;
}

int emit_attr_float(graph *g, int node, const char *name, float v,
		    sc_error *err)
{
	graph_attr *a = new_attr(g, node, name, ATTR_FLOAT, err);
	if (!a)
		return SC_ENOMEM;
	a->f = v;
	return SC_OK;
}

int emit_attr_ints(graph *g, int node, const char *name, int n,
		   const int64_t *v, sc_error *err)
{
	int64_t *copy = malloc((size_t)(n ? n : 1) * sizeof *copy);
	if (!copy)
		return sc_fail(err, SC_ENOMEM, "out of memory adding attribute '%s'", name);
	if (n)
		memcpy(copy, v, (size_t)n * sizeof *copy);
	graph_attr *a = new_attr(g, node, name, ATTR_INTS, err);
	if (!a) {
		free(copy);
		return SC_ENOMEM;
	}
	a->ints = copy;
	a->n = n;
	return SC_OK;
}

/* A Constant node whose `value` attribute takes ownership of *t. */
static int emit_const(graph *g, const char *name, sc_tensor *t, int *out,
		      sc_error *err)
{
	int v, node, rc;
	sc_tensor *held = malloc(sizeof *held);
	if (!held) {
		tensor_free(t);
		return sc_fail(err, SC_ENOMEM, "out of memory adding constant '%s'", name);
	}
	*held = *t;
	memset(t, 0, sizeof *t);
	if ((rc = emit_fresh_value(g, name, &v, err)) ||
	    (rc = emit_node(g, "Constant", g->values[v].name, 0, NULL, 1, &v, &node, err)))
		goto fail;
	graph_attr *a = new_attr(g, node, "value", ATTR_TENSOR, err);
	if (!a) {
		rc = SC_ENOMEM;
		goto fail;
	}
	a->t = held;
	*out = v;
	return SC_OK;
fail:
	tensor_free(held);
	free(held);
	return rc;
}

int emit_const_float(graph *g, const char *name, float v, int *out,
		     sc_error *err)
{
	sc_tensor t;
	int rc = tensor_alloc(&t, SC_FLOAT, 0, NULL, name, err);
	if (rc)
		return rc;
	*(float *)t.data = v;
	return emit_const(g, name, &t, out, err);
}

int emit_const_ints(graph *g, const char *name, int n, const int64_t *v,
		    int *out, sc_error *err)
{
	sc_tensor t;
	int64_t dims[1] = {n};
	int rc = tensor_alloc(&t, SC_INT64, 1, dims, name, err);
	if (rc)
		return rc;
	if (n)
		memcpy(t.data, v, (size_t)n * sizeof *v);
	return emit_const(g, name, &t, out, err);
}

int emit_param(graph *g, const char *name, int rank, const int64_t *dims,
	       int *v, float **data, sc_error *err)
{
	sc_tensor t;
	int idx = -1, rc = emit_value(g, name, &idx, err);
	if (rc)
		return rc;
	if ((rc = tensor_alloc(&t, SC_FLOAT, rank, dims, name, err)))
		return rc;
	if ((rc = graph_add_init(g, idx, &t, err))) {
		tensor_free(&t);
		return rc;
	}
	*v = idx;
	*data = g->inits[g->values[idx].init].tensor.data;
	return SC_OK;
}

/* Types v as float [dims], with dim 0 the symbolic "N" when batch is set. */
static int emit_type(graph *g, int v, int rank, const int64_t *dims, int batch,
		     sc_error *err)
{
	graph_type *t = &g->values[v].type;
	graph_type_clear(t);
	memset(t, 0, sizeof *t);
	t->kind = GRAPH_TYPE_TENSOR;
	t->elem = SC_FLOAT;
	t->rank = -1;
	t->dims = calloc((size_t)rank + 1, sizeof *t->dims);
	if (!t->dims)
		return sc_fail(err, SC_ENOMEM, "out of memory typing '%s'",
			       g->values[v].name);
	t->rank = rank;
	for (int i = 0; i < rank; i++)
		t->dims[i].value = dims[i];
	if (batch && rank > 0) {
		t->dims[0].value = -1;
		t->dims[0].param = strdup("N");
		if (!t->dims[0].param)
			return sc_fail(err, SC_ENOMEM, "out of memory typing '%s'",
				       g->values[v].name);
	}
	return SC_OK;
}

int emit_fixed_type(graph *g, int v, int rank, const int64_t *dims,
		    sc_error *err)
{
	return emit_type(g, v, rank, dims, 0, err);
}

int emit_batch_type(graph *g, int v, int rank, const int64_t *dims,
		    sc_error *err)
{
	return emit_type(g, v, rank, dims, 1, err);
}

static int push_index(int **arr, int *n, int v, const char *what,
		      sc_error *err)
{
	int *p = realloc(*arr, (size_t)(*n + 1) * sizeof *p);
	if (!p)
		return sc_fail(err, SC_ENOMEM, "out of memory adding a graph %s", what);
	p[(*n)++] = v;
	*arr = p;
	return SC_OK;
}

int emit_graph_input(graph *g, int v, sc_error *err)
{
	int rc = push_index(&g->inputs, &g->n_inputs, v, "input", err);
	if (!rc)
		g->values[v].flags |= VALUE_INPUT;
	return rc;
}

int emit_graph_output(graph *g, int v, sc_error *err)
{
	int rc = push_index(&g->outputs, &g->n_outputs, v, "output", err);
	if (!rc)
		g->values[v].flags |= VALUE_OUTPUT;
	return rc;
}

int emit_value_info(graph *g, int v, sc_error *err)
{
	int rc = push_index(&g->value_infos, &g->n_value_infos, v, "value_info", err);
	if (!rc)
		g->values[v].flags |= VALUE_INFO;
	return rc;
}

/* FNV-1a 64 of the name: the stream that makes a tensor's values depend on
 * its name and the seed only. */
uint64_t emit_stream(const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ull;
	}
	return h;
}

void emit_fill_normal(float *x, int64_t n, double std, uint64_t seed,
		      const char *name)
{
	rng r;
	rng_init(&r, seed, emit_stream(name));
	for (int64_t i = 0; i < n; i++)
		x[i] = (float)(std * rng_normal(&r));
}

void emit_fill_uniform(float *x, int64_t n, double bound, uint64_t seed,
		       const char *name)
{
	rng r;
	rng_init(&r, seed, emit_stream(name));
	for (int64_t i = 0; i < n; i++)
		x[i] = (float)rng_range(&r, -bound, bound);
}

void emit_fill_const(float *x, int64_t n, float v)
{
	for (int64_t i = 0; i < n; i++)
		x[i] = v;
}
