/* op.h: the operator registry.
 *
 * Each file in ops/ defines a table of op_def entries for one op family and
 * ops/registry.c lists those tables; nothing registers itself at run time.
 * An op_def covers one (domain, name) over an inclusive opset range; opset
 * differences inside that range are handled by the op's own functions,
 * which receive the opset in force.
 *
 * The registry grows with the engine: shape inference now, prepare/run and
 * gradient builders as later modules add them. */
#ifndef SUPCON_OP_H
#define SUPCON_OP_H

#include "../runtime/graph.h"
#include "../runtime/status.h"

/* An attribute the op understands and the type it must have. */
typedef struct op_attr_spec {
	const char *name;
	int type;          /* ATTR_* from graph.h */
} op_attr_spec;

/* Sets the types of n's outputs in g from its inputs' types where they can
 * be derived; leaves unknown what cannot.  Fails with SC_EINVAL when the
 * inputs contradict the op (wrong rank, mismatched dims), naming the node. */
typedef int (*op_infer_fn)(graph *g, const graph_node *n, int64_t opset,
			   sc_error *err);

typedef struct op_def {
	const char *domain;        /* "" for ONNX's default domain */
	const char *name;
	int since;                 /* first opset this entry covers */
	int until;                 /* last opset it covers */
	const op_attr_spec *attrs; /* terminated by a {NULL, 0} entry; NULL = none */
	op_infer_fn infer;
} op_def;

/* The entry for (domain, name) at opset, or NULL.  "ai.onnx" is the
 * default domain. */
const op_def *op_find(const char *domain, const char *name, int64_t opset);

/* 1 if (domain, name) is registered at any opset. */
int op_known(const char *domain, const char *name);

#endif
