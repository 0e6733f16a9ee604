/* graph.h: the in-memory IR of an ONNX model.
 *
 * A graph_model owns one graph, which owns its values, nodes, initializers
 * and attributes; subgraphs (If/Loop/Scan bodies) hang off attributes and are
 * owned by them.  Every string and array is a separate malloc owned by the
 * structure that points at it; graph_model_free() releases the lot.
 *
 * Values are interned by name per graph: node inputs and outputs, graph
 * inputs and outputs are indices into graph.values.  An omitted optional
 * input (ONNX's empty name) is index -1.  A subgraph may read values of an
 * enclosing graph; those appear in the subgraph's table with VALUE_OUTER.
 *
 * Functions that can fail return a status and fill an sc_error (status.h). */
#ifndef SUPCON_GRAPH_H
#define SUPCON_GRAPH_H

#include <stdint.h>

#include "status.h"
#include "tensor.h"

/* One dimension of a declared shape: a known size, a symbolic name, or
 * neither (unknown). */
typedef struct graph_dim {
	int64_t value;   /* >= 0 when known, -1 otherwise */
	char *param;     /* symbolic name ("N"), or NULL */
} graph_dim;

typedef enum graph_type_kind {
	GRAPH_TYPE_NONE = 0,   /* nothing known */
	GRAPH_TYPE_TENSOR,
	GRAPH_TYPE_SEQUENCE,
	GRAPH_TYPE_MAP,
	GRAPH_TYPE_OPTIONAL,
	GRAPH_TYPE_SPARSE_TENSOR,
} graph_type_kind;

/* ONNX's TypeProto.  For tensors, elem is the dtype and rank is -1 when the
 * shape is not known at all.  Sequences and optionals describe their element
 * in `inner`; maps have elem = key dtype and inner = value type. */
typedef struct graph_type {
	graph_type_kind kind;
	int elem;
	int rank;
	graph_dim *dims;
	struct graph_type *inner;
	char *denotation;
} graph_type;

enum {
	VALUE_INPUT = 1 << 0,       /* listed in graph.input */
	VALUE_OUTPUT = 1 << 1,      /* listed in graph.output */
	VALUE_INITIALIZER = 1 << 2, /* has a tensor in graph.inits */
	VALUE_INFO = 1 << 3,        /* listed in graph.value_info */
	VALUE_OUTER = 1 << 4,       /* defined in an enclosing graph */
};

typedef struct graph_value {
	char *name;
	char *doc_string;
	graph_type type;
	int flags;
	int producer;   /* index of the node that writes it, or -1 */
	int init;       /* index into graph.inits, or -1 */
} graph_value;

/* Attribute types use ONNX's AttributeProto.AttributeType numbers. */
enum {
	ATTR_UNDEFINED = 0,
	ATTR_FLOAT = 1,
	ATTR_INT = 2,
	ATTR_STRING = 3,
	ATTR_TENSOR = 4,
	ATTR_GRAPH = 5,
	ATTR_FLOATS = 6,
	ATTR_INTS = 7,
	ATTR_STRINGS = 8,
	ATTR_TENSORS = 9,
	ATTR_GRAPHS = 10,
	ATTR_SPARSE_TENSOR = 11,
	ATTR_SPARSE_TENSORS = 12,
	ATTR_TYPE_PROTO = 13,
	ATTR_TYPE_PROTOS = 14,
};

struct graph;

typedef struct graph_attr {
	char *name;
	char *doc_string;
	char *ref_attr_name;   /* inside a function body: the caller's attribute */
	int type;
	float f;
	int64_t i;
	sc_bytes s;
	sc_tensor *t;          /* owned, one tensor */
	struct graph *g;       /* owned, one subgraph */
	int n;                 /* element count of the list below that `type` selects */
	float *floats;
	int64_t *ints;
	sc_bytes *strings;
	sc_tensor *tensors;
	struct graph **graphs;
	struct graph_type *tp;     /* owned, TYPE_PROTO */
	struct graph_type *tps;    /* owned, n entries, TYPE_PROTOS */
} graph_attr;

typedef struct graph_node {
	char *name;
	char *op_type;
	char *domain;          /* "" for the default ONNX domain */
	char *doc_string;
	int n_inputs;
	int *inputs;           /* value indices, -1 for an omitted optional input */
	int n_outputs;
	int *outputs;          /* value indices, -1 for an omitted optional output */
	int n_attrs;
	graph_attr *attrs;
} graph_node;

typedef struct graph_init {
	int value;             /* index of the value it defines */
	sc_tensor tensor;
	char *doc_string;
} graph_init;

typedef struct graph {
	char *name;
	char *doc_string;
	struct graph *parent;  /* enclosing graph of a subgraph, else NULL */

	graph_value *values;
	int n_values, cap_values;
	int *index;            /* open-addressing hash of value names */
	int cap_index;

	graph_node *nodes;
	int n_nodes, cap_nodes;

	graph_init *inits;
	int n_inits, cap_inits;

	int *inputs, n_inputs;         /* graph.input, in file order */
	int *outputs, n_outputs;       /* graph.output, in file order */
	int *value_infos, n_value_infos;
} graph;

typedef struct graph_opset {
	char *domain;          /* "" for the default ONNX domain */
	int64_t version;
} graph_opset;

typedef struct graph_kv {
	char *key;
	char *value;
} graph_kv;

typedef struct graph_model {
	int64_t ir_version;
	graph_opset *opsets;
	int n_opsets;
	char *producer_name;
	char *producer_version;
	char *domain;
	int64_t model_version;
	char *doc_string;
	graph_kv *metadata;
	int n_metadata;
	graph *graph;
} graph_model;

/* --- construction ------------------------------------------------------ */

/* A new empty model with an empty main graph, or NULL when out of memory. */
graph_model *graph_model_new(void);
void graph_model_free(graph_model *m);

/* A new empty graph; parent may be NULL. */
graph *graph_new(graph *parent);
void graph_free(graph *g);

/* Index of the value called name in g itself, or -1. */
int graph_find_value(const graph *g, const char *name);

/* Index of the value called name in g, adding an empty one when missing.
 * Returns -1 (with err set) only when out of memory. */
int graph_intern_value(graph *g, const char *name, sc_error *err);

/* Gives value v a new name, which must be unused. */
int graph_rename_value(graph *g, int v, const char *name, sc_error *err);

/* Appends a node and returns its index (or -1 with err set).  Inputs and
 * outputs are value indices; the node records itself as the producer of its
 * outputs and fails with SC_EINVAL if one already has another definition. */
int graph_add_node(graph *g, const char *op_type, const char *domain,
		   const char *name, int n_inputs, const int *inputs,
		   int n_outputs, const int *outputs, sc_error *err);

/* Adds an initializer for value `value`, taking ownership of *t (which is
 * zeroed).  Fails if the value already has a definition. */
int graph_add_init(graph *g, int value, sc_tensor *t, sc_error *err);

/* Appends an attribute slot to node n and returns it zeroed (name copied),
 * or NULL when out of memory. */
graph_attr *graph_node_add_attr(graph_node *n, const char *name, int type,
				sc_error *err);

/* Finds an attribute by name, NULL when absent. */
const graph_attr *graph_node_attr(const graph_node *n, const char *name);

/* Releases what a node owns (not the struct itself). */
void graph_node_clear(graph_node *n);

/* Releases what an attribute owns (not the struct itself). */
void graph_attr_clear(graph_attr *a);
void graph_type_clear(graph_type *t);
int graph_type_copy(graph_type *dst, const graph_type *src, sc_error *err);

/* Opset version the model imports for domain ("" and "ai.onnx" are the same),
 * or 0 when not imported. */
int64_t graph_model_opset(const graph_model *m, const char *domain);

/* --- editing ------------------------------------------------------------- */

/* Lists value v in graph.input / graph.output (no-op when already there). */
int graph_add_input(graph *g, int v, sc_error *err);
int graph_add_output(graph *g, int v, sc_error *err);
/* Slot in graph.input of the first input that is not an initializer (the
 * data a caller feeds), or -1. */
int graph_data_input(const graph *g);

/* Removes every graph output (the values stay). */
void graph_clear_outputs(graph *g);

/* Imports domain at version unless the model already imports it. */
int graph_model_add_opset(graph_model *m, const char *domain, int64_t version,
			  sc_error *err);

/* A new value called name, which g must not have yet (SC_EINVAL naming it
 * and `what` otherwise).  Returns the index or -1 with err set. */
int graph_fresh_value(graph *g, const char *name, const char *what,
		      sc_error *err);

/* Sets v's declared type to a tensor of elem with rank dims; dims[i] < 0
 * is the symbolic dim params[i] (params may be NULL: unknown). */
int graph_set_tensor_type(graph *g, int v, int elem, int rank,
			  const int64_t *dims, const char *const *params,
			  sc_error *err);

/* Adds (or replaces) a scalar attribute on node `node`. */
int graph_set_attr_int(graph *g, int node, const char *name, int64_t i,
		       sc_error *err);
int graph_set_attr_float(graph *g, int node, const char *name, float f,
			 sc_error *err);
int graph_set_attr_string(graph *g, int node, const char *name,
			  const char *s, sc_error *err);
int graph_set_attr_ints(graph *g, int node, const char *name, int n,
			const int64_t *v, sc_error *err);

/* Adds an initializer called name (a fresh value) holding a copy of t,
 * typed like t.  Returns the value's index or -1 with err set. */
int graph_add_const(graph *g, const char *name, const sc_tensor *t,
		    sc_error *err);

/* --- analysis ----------------------------------------------------------- */

/* Writes a topological order of g's nodes into order[g->n_nodes].  Fails
 * with SC_EINVAL naming a node on the cycle if there is one. */
int graph_toposort(const graph *g, int *order, sc_error *err);

/* Structural checks on a loaded model, recursively into subgraphs: every
 * value is defined exactly once (input, initializer or node output) and
 * every use is defined; no cycles; every dtype is known; graph outputs are
 * defined; attribute types match what the registered op expects. */
int graph_validate(const graph_model *m, sc_error *err);

/* 1 when a and b describe the same model (names, types, nodes in order,
 * attributes, initializer bytes, opsets, metadata).  When they differ and
 * why is not NULL, writes a short description of the first difference. */
int graph_model_equal(const graph_model *a, const graph_model *b, char *why,
		      size_t why_len);

#endif
