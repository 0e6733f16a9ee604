/* infer.c: the shape-inference pass; see infer.h.  The per-op rules live
 * with the ops (one file per family in ops/), the shared machinery in ops/infer_util.c. */
#include "infer.h"

#include <stdlib.h>

#include "../ops/infer_util.h"
#include "../ops/registry.h"

/* An initializer's type is its tensor's; a declaration of the same value
 * (when it is also a graph input) must agree with it. */
static int type_initializers(graph *g, sc_error *err)
{
	for (int i = 0; i < g->n_inits; i++) {
		const sc_tensor *t = &g->inits[i].tensor;
		infer_tensor it;
		infer_tensor_rank(&it, t->dtype, t->rank);
		for (int k = 0; k < it.rank; k++)
			it.dims[k] = infer_dim_of(t->dims[k]);
		graph_type type;
		int rc = infer_to_type(&it, &type, err);
		if (rc)
			return rc;
		rc = infer_merge_value(g, g->inits[i].value, &type, "initializer",
				       err);
		graph_type_clear(&type);
		if (rc)
			return rc;
	}
	return SC_OK;
}

int graph_infer_shapes(graph_model *m, sc_error *err)
{
	graph *g = m->graph;
	int rc = type_initializers(g, err);
	if (rc)
		return rc;
	int *order = malloc((size_t)(g->n_nodes ? g->n_nodes : 1) * sizeof *order);
	if (!order)
		return sc_fail(err, SC_ENOMEM, "out of memory inferring shapes");
	rc = graph_toposort(g, order, err);
	for (int k = 0; !rc && k < g->n_nodes; k++) {
		const graph_node *n = &g->nodes[order[k]];
		int64_t opset = graph_model_opset(m, n->domain);
		const op_def *def = op_find(n->domain, n->op_type, opset);
		if (!def || !def->infer)
			continue;
		rc = op_check_attrs(def, g, n, opset, err);
		if (!rc)
			rc = def->infer(g, n, opset, err);
	}
	free(order);
	return rc;
}
