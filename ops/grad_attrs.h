/* grad_attrs.h: setting attributes on the nodes a gradient rule emits.
 *
 * grad_emit() (runtime/autodiff.h) returns a node index; these write one
 * attribute on &grad_graph(c)->nodes[index].  Each returns SC_OK or fills
 * err (out of memory) and returns its code; the node owns what they
 * allocate. */
#ifndef SUPCON_OPS_GRAD_ATTRS_H
#define SUPCON_OPS_GRAD_ATTRS_H

#include <stdlib.h>
#include <string.h>

#include "../runtime/graph.h"

static inline int grad_attr_int(graph_node *n, const char *name, int64_t v,
				sc_error *err)
{
	graph_attr *a = graph_node_add_attr(n, name, ATTR_INT, err);
	if (!a)
		return err->code;
	a->i = v;
	return SC_OK;
}

static inline int grad_attr_ints(graph_node *n, const char *name,
				 const int64_t *v, int count, sc_error *err)
{
	graph_attr *a = graph_node_add_attr(n, name, ATTR_INTS, err);
	if (!a)
		return err->code;
	a->ints = malloc((size_t)(count > 0 ? count : 1) * sizeof *a->ints);
	if (!a->ints)
		return sc_fail(err, SC_ENOMEM, "out of memory adding attribute '%s'", name);
	if (count > 0)
		memcpy(a->ints, v, (size_t)count * sizeof *v);
	a->n = count;
	return SC_OK;
}

static inline int grad_attr_string(graph_node *n, const char *name,
				   const char *s, sc_error *err)
{
	graph_attr *a = graph_node_add_attr(n, name, ATTR_STRING, err);
	if (!a)
		return err->code;
	a->s.len = strlen(s);
	a->s.data = malloc(a->s.len + 1);
	if (!a->s.data)
		return sc_fail(err, SC_ENOMEM, "out of memory adding attribute '%s'", name);
	memcpy(a->s.data, s, a->s.len + 1);
	return SC_OK;
}

#endif
