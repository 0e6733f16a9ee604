/* emit.h: small helpers the builders in models/ share to append values,
 * nodes, attributes and initializers to a graph (internal to models/).
 *
 * Value indices stay valid as the graph grows; pointers into g->values,
 * g->nodes or g->inits do not, so helpers take and return indices.  Every
 * helper returns SC_OK or fills err (the graph may then hold what was
 * added before the failure; the caller discards it). */
#ifndef SUPCON_MODELS_EMIT_H
#define SUPCON_MODELS_EMIT_H

#include <stdint.h>

#include "../runtime/graph.h"
#include "../runtime/status.h"

/* A new value called exactly name; SC_EINVAL when the name is taken. */
int emit_value(graph *g, const char *name, int *v, sc_error *err);

/* A new value called base, or base_1, base_2, ... when taken. */
int emit_fresh_value(graph *g, const char *base, int *v, sc_error *err);

/* A new default-domain node; *node receives its index (may be NULL). */
int emit_node(graph *g, const char *op, const char *name, int n_in,
	      const int *in, int n_out, const int *out, int *node,
	      sc_error *err);

int emit_attr_int(graph *g, int node, const char *name, int64_t v,
		  sc_error *err);
int emit_attr_float(graph *g, int node, const char *name, float v,
		    sc_error *err);
int emit_attr_ints(graph *g, int node, const char *name, int n,
		   const int64_t *v, sc_error *err);

/* A Constant node writing value `name` (fresh) from a 0-d float or a 1-d
 * int64 tensor; no initializer, so the model's float initializers stay its
 * parameters. */
int emit_const_float(graph *g, const char *name, float v, int *out,
		     sc_error *err);
int emit_const_ints(graph *g, const char *name, int n, const int64_t *v,
		    int *out, sc_error *err);

/* A zeroed float initializer called name; *data points at its elements
 * (owned by the graph) so the caller can fill them. */
int emit_param(graph *g, const char *name, int rank, const int64_t *dims,
	       int *v, float **data, sc_error *err);

/* Declares value v as float [d0, d1, ...]. */
int emit_fixed_type(graph *g, int v, int rank, const int64_t *dims,
		    sc_error *err);

/* Declares value v as float [N, d1, ...]: dim 0 is the symbolic "N". */
int emit_batch_type(graph *g, int v, int rank, const int64_t *dims,
		    sc_error *err);

/* Lists v as a graph input, output or value_info entry. */
int emit_graph_input(graph *g, int v, sc_error *err);
int emit_graph_output(graph *g, int v, sc_error *err);
int emit_value_info(graph *g, int v, sc_error *err);

/* Initialisation, drawing from rng_init(seed, emit_stream(name)). */
uint64_t emit_stream(const char *name);
void emit_fill_normal(float *x, int64_t n, double std, uint64_t seed,
		      const char *name);
void emit_fill_uniform(float *x, int64_t n, double bound, uint64_t seed,
		       const char *name);
void emit_fill_const(float *x, int64_t n, float v);

#endif
