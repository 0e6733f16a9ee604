/* model_builder.h: small helpers for tests that build models with the
 * graph.h API.  Every helper asserts (cmocka) instead of returning errors,
 * so include <cmocka.h> first.  Shapes are written "N,3,?,224": a number,
 * a symbolic name, or '?' for unknown. */
#ifndef SUPCON_TESTS_MODEL_BUILDER_H
#define SUPCON_TESTS_MODEL_BUILDER_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/graph.h"

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#endif

static int val(graph *g, const char *name)
{
	sc_error err = {0};
	int v = graph_intern_value(g, name, &err);
	assert_true(v >= 0);
	return v;
}

/* Splits "a,b,,c" into value indices; an empty name is an omitted (-1)
 * slot.  Returns the count. */
static int names(graph *g, const char *list, int *ids)
{
	int n = 0;
	if (!list)
		return 0;
	char buf[512];
	strncpy(buf, list, sizeof buf - 1);
	buf[sizeof buf - 1] = '\0';
	char *p = buf;
	for (;;) {
		char *comma = strchr(p, ',');
		if (comma)
			*comma = '\0';
		ids[n++] = *p ? val(g, p) : -1;
		if (!comma)
			break;
		p = comma + 1;
	}
	return n;
}

static graph_node *add(graph *g, const char *op, const char *name,
		       const char *ins, const char *outs)
{
	int in[16], out[16];
	int ni = names(g, ins, in), no = names(g, outs, out);
	sc_error err = {0};
	int idx = graph_add_node(g, op, "", name, ni, in, no, out, &err);
	assert_true(idx >= 0);
	return &g->nodes[idx];
}

static void push(int **arr, int *n, int v)
{
	*arr = realloc(*arr, (size_t)(*n + 1) * sizeof **arr);
	assert_non_null(*arr);
	(*arr)[(*n)++] = v;
}

/* Lists value v as a graph input, output or value_info, with its flag. */
static void push_input(graph *g, int v)
{
	g->values[v].flags |= VALUE_INPUT;
	push(&g->inputs, &g->n_inputs, v);
}

static void push_output(graph *g, int v)
{
	g->values[v].flags |= VALUE_OUTPUT;
	push(&g->outputs, &g->n_outputs, v);
}

static void push_value_info(graph *g, int v)
{
	g->values[v].flags |= VALUE_INFO;
	push(&g->value_infos, &g->n_value_infos, v);
}

/* Parses "2,3,4" into dims; returns the rank. */
static int parse_dims(const char *shape, int64_t *dims)
{
	int rank = 0;
	char buf[128];
	strncpy(buf, shape, sizeof buf - 1);
	buf[sizeof buf - 1] = '\0';
	for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
		assert_true(rank < SC_MAX_RANK);
		dims[rank++] = strtoll(tok, NULL, 10);
	}
	return rank;
}

/* Parses "N,3,?,224" (a symbolic name, '?' for unknown, or a number) into
 * t; "" is a scalar and NULL an unknown rank. */
static void parse_type(graph_type *t, int elem, const char *shape)
{
	graph_type_clear(t);
	t->kind = GRAPH_TYPE_TENSOR;
	t->elem = elem;
	t->rank = -1;
	if (!shape)
		return;
	t->rank = 0;
	if (!*shape)
		return;
	t->dims = calloc(SC_MAX_RANK, sizeof *t->dims);
	assert_non_null(t->dims);
	char buf[256];
	strncpy(buf, shape, sizeof buf - 1);
	buf[sizeof buf - 1] = '\0';
	for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
		assert_true(t->rank < SC_MAX_RANK);
		graph_dim *d = &t->dims[t->rank++];
		d->value = -1;
		if (*tok >= '0' && *tok <= '9')
			d->value = strtoll(tok, NULL, 10);
		else if (strcmp(tok, "?") != 0)
			d->param = strdup(tok);
	}
}

static int input(graph *g, const char *name, int elem, const char *shape)
{
	int v = val(g, name);
	push_input(g, v);
	parse_type(&g->values[v].type, elem, shape);
	return v;
}

/* Lists an existing or future value as a graph output (no type). */
static int output(graph *g, const char *name)
{
	int v = val(g, name);
	push_output(g, v);
	return v;
}

/* Declares a type for a value (as value_info or a graph output would). */
static void declare(graph *g, const char *name, int elem, const char *shape)
{
	int v = val(g, name);
	g->values[v].flags |= VALUE_INFO;
	parse_type(&g->values[v].type, elem, shape);
}

static void init_tensor(graph *g, const char *name, int elem, int rank,
			const int64_t *dims, const void *data)
{
	sc_tensor t;
	sc_error err = {0};
	assert_int_equal(tensor_alloc(&t, elem, rank, dims, name, &err), SC_OK);
	if (data && t.nbytes)
		memcpy(t.data, data, t.nbytes);
	assert_int_equal(graph_add_init(g, val(g, name), &t, &err), SC_OK);
}

/* A float initializer shaped by "a,b,c" (contents zero). */
static void init_shape(graph *g, const char *name, const char *shape)
{
	int64_t dims[SC_MAX_RANK];
	int rank = parse_dims(shape, dims);
	init_tensor(g, name, SC_FLOAT, rank, dims, NULL);
}

static void init_ints(graph *g, const char *name, int count, ...)
{
	int64_t v[16], dims[1] = {count};
	va_list ap;
	va_start(ap, count);
	for (int i = 0; i < count; i++)
		v[i] = va_arg(ap, int);
	va_end(ap);
	init_tensor(g, name, SC_INT64, 1, dims, v);
}

static void attr_ints(graph_node *n, const char *name, int count, ...)
{
	sc_error err = {0};
	graph_attr *a = graph_node_add_attr(n, name, ATTR_INTS, &err);
	assert_non_null(a);
	a->ints = calloc((size_t)count + 1, sizeof *a->ints);
	assert_non_null(a->ints);
	va_list ap;
	va_start(ap, count);
	for (int i = 0; i < count; i++)
		a->ints[i] = va_arg(ap, int);
	va_end(ap);
	a->n = count;
}

static void attr_int(graph_node *n, const char *name, int64_t v)
{
	sc_error err = {0};
	graph_attr *a = graph_node_add_attr(n, name, ATTR_INT, &err);
	assert_non_null(a);
	a->i = v;
}

static void attr_float(graph_node *n, const char *name, float v)
{
	sc_error err = {0};
	graph_attr *a = graph_node_add_attr(n, name, ATTR_FLOAT, &err);
	assert_non_null(a);
	a->f = v;
}

static void attr_str(graph_node *n, const char *name, const char *s)
{
	sc_error err = {0};
	graph_attr *a = graph_node_add_attr(n, name, ATTR_STRING, &err);
	assert_non_null(a);
	a->s.len = strlen(s);
	a->s.data = strdup(s);
}

static graph_model *model(int64_t opset)
{
	graph_model *m = graph_model_new();
	assert_non_null(m);
	m->graph->name = strdup("main");
	m->opsets = calloc(1, sizeof *m->opsets);
	assert_non_null(m->opsets);
	m->opsets[0].domain = strdup("");
	m->opsets[0].version = opset;
	m->n_opsets = 1;
	return m;
}

/* Imports one more operator set into m. */
static void add_opset(graph_model *m, const char *domain, int64_t version)
{
	m->opsets = realloc(m->opsets, (size_t)(m->n_opsets + 1) * sizeof *m->opsets);
	assert_non_null(m->opsets);
	m->opsets[m->n_opsets].domain = strdup(domain);
	assert_non_null(m->opsets[m->n_opsets].domain);
	m->opsets[m->n_opsets++].version = version;
}

/* Conv with a square kernel, equal strides and pads; w names the weight. */
static void conv(graph *g, const char *name, const char *in, const char *w,
		 const char *out, int k, int stride, int pad)
{
	char ins[64];
	snprintf(ins, sizeof ins, "%s,%s", in, w);
	graph_node *n = add(g, "Conv", name, ins, out);
	attr_ints(n, "kernel_shape", 2, k, k);
	attr_ints(n, "strides", 2, stride, stride);
	attr_ints(n, "pads", 4, pad, pad, pad, pad);
}

static void bn(graph *g, const char *name, const char *in, const char *out,
	       int c)
{
	char ins[128], shape[16];
	snprintf(shape, sizeof shape, "%d", c);
	const char *suffix[] = {"s", "b", "m", "v"};
	for (int i = 0; i < 4; i++) {
		char p[32];
		snprintf(p, sizeof p, "%s.%s", name, suffix[i]);
		init_shape(g, p, shape);
	}
	snprintf(ins, sizeof ins, "%s,%s.s,%s.b,%s.m,%s.v", in, name, name, name, name);
	add(g, "BatchNormalization", name, ins, out);
}

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#endif
