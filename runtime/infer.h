/* infer.h: shape and type inference over a model's main graph.
 *
 * Types flow from graph inputs and initializers through the nodes in
 * topological order; each node whose op is registered (ops/op.h) with an
 * infer function at the model's opset for its domain sets its outputs'
 * types.  What a value already declares (graph inputs and outputs,
 * value_info) is kept and checked: a known dtype, rank or dim that
 * contradicts the inferred one fails.  Known sizes win over symbolic names,
 * symbolic names over unknown; symbolic dims such as a batch size 'N' flow
 * through the ops that preserve them.  Unknown ops leave their outputs as
 * declared.  Subgraphs are not inferred yet.
 *
 * Types are written in place into m's values, which m keeps owning. */
#ifndef SUPCON_INFER_H
#define SUPCON_INFER_H

#include "graph.h"
#include "status.h"

/* Infers the types of m's main graph.  Fails with SC_EINVAL naming the
 * node and value when a node's inputs contradict its op or a declared type,
 * or the graph has a cycle; SC_ENOMEM when out of memory.  On failure the
 * values typed so far keep their new types. */
int graph_infer_shapes(graph_model *m, sc_error *err);

#endif
