/* registry.h: the op tables that ops/registry.c gathers, and checks that
 * apply to every registered op.
 *
 * Each ops/<family>.c file exports one table, `op_<family>_defs`, ending
 * with an entry whose name is NULL.  Adding a family means defining its
 * table and listing it in registry.c; nothing registers at run time, so the
 * tables are immutable and safe to read from any thread.
 *
 * For one (domain, name) the entries' opset ranges must not overlap;
 * op_registry_check() verifies that (the unit tests call it). */
#ifndef SUPCON_OPS_REGISTRY_H
#define SUPCON_OPS_REGISTRY_H

#include <stdarg.h>

#include "op.h"

extern const op_def op_conv_defs[];
extern const op_def op_batchnorm_defs[];
extern const op_def op_pool_defs[];
extern const op_def op_gemm_defs[];
extern const op_def op_elementwise_defs[];
extern const op_def op_reduce_defs[];
extern const op_def op_softmax_defs[];
extern const op_def op_shape_defs[];
extern const op_def op_resize_defs[];
extern const op_def op_autodiff_defs[];
extern const op_def op_dnnl_grad_defs[];
extern const op_def op_optim_defs[];
extern const op_def op_supcon_defs[];
extern const op_def op_scatter_defs[];

/* Number of registered entries over all tables, and entry i of them
 * (0 <= i < count, NULL otherwise), in table order. */
int op_registry_count(void);
const op_def *op_registry_entry(int i);

/* Checks the tables themselves: names present, since <= until, no two
 * entries for one (domain, name) with overlapping ranges, attribute specs
 * with known types.  Fails with SC_EINTERNAL naming the entry. */
int op_registry_check(sc_error *err);

/* Checks n's attributes against def->attrs: every attribute is listed,
 * appears once, and has the listed type.  Attributes that still refer to a
 * function's caller (ref_attr_name) are skipped.  Fails with SC_EINVAL
 * naming the node ("node 'conv1' (Conv): attribute 'group' ..."). */
int op_check_attrs(const op_def *def, const graph *g, const graph_node *n,
		   int64_t opset, sc_error *err);

/* Records code and "<node label>: <message>" in err and returns code: how
 * kernels report errors.  op_vfail is the va_list form. */
int op_fail(const op_kernel *k, sc_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int op_vfail(const graph *g, const graph_node *n, sc_error *err, int code,
	     const char *fmt, va_list ap);

/* "int", "floats", "graph", ... for an ATTR_* value; "unknown" otherwise. */
const char *op_attr_type_name(int type);

/* Writes how messages name node n of g: "node 'conv1' (Conv)", or for an
 * unnamed node "node writing 'y' (Conv)".  Returns buf. */
const char *op_node_label(const graph *g, const graph_node *n, char *buf,
			  size_t len);

/* 1 when domain names ONNX's default domain: NULL, "" or "ai.onnx". */
int op_domain_is_default(const char *domain);

#endif
