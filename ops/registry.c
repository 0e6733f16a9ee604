/* registry.c: looks ops up in the per-family tables; see op.h and
 * registry.h.  A linear scan is plenty: a few hundred entries, looked up
 * once per node when a model is checked or planned. */
#include "registry.h"

#include <stdio.h>
#include <string.h>

static const op_def *const op_tables[] = {
	op_conv_defs,
	op_batchnorm_defs,
	op_pool_defs,
	op_gemm_defs,
	op_elementwise_defs,
	op_reduce_defs,
	op_softmax_defs,
	op_shape_defs,
	op_resize_defs,
	op_autodiff_defs,
	op_dnnl_grad_defs,
	op_optim_defs,
	op_supcon_defs,
	op_scatter_defs,
};

#define N_TABLES ((int)(sizeof op_tables / sizeof op_tables[0]))

int op_domain_is_default(const char *domain)
{
	return !domain || !*domain || strcmp(domain, "ai.onnx") == 0;
}

static int same_domain(const char *a, const char *b)
{
	int da = op_domain_is_default(a), db = op_domain_is_default(b);
	if (da || db)
		return da && db;
	return strcmp(a, b) == 0;
}

const op_def *op_find(const char *domain, const char *name, int64_t opset)
{
	if (!name)
		return NULL;
	for (int t = 0; t < N_TABLES; t++)
		for (const op_def *d = op_tables[t]; d->name; d++)
			if (opset >= d->since && opset <= d->until &&
			    strcmp(d->name, name) == 0 &&
			    same_domain(d->domain, domain))
				return d;
	return NULL;
}

int op_known(const char *domain, const char *name)
{
	if (!name)
		return 0;
	for (int t = 0; t < N_TABLES; t++)
		for (const op_def *d = op_tables[t]; d->name; d++)
			if (strcmp(d->name, name) == 0 &&
			    same_domain(d->domain, domain))
				return 1;
	return 0;
}

int op_registry_count(void)
{
	int n = 0;
	for (int t = 0; t < N_TABLES; t++)
		for (const op_def *d = op_tables[t]; d->name; d++)
			n++;
	return n;
}

const op_def *op_registry_entry(int i)
{
	if (i < 0)
		return NULL;
	for (int t = 0; t < N_TABLES; t++)
		for (const op_def *d = op_tables[t]; d->name; d++)
			if (i-- == 0)
				return d;
	return NULL;
}

const char *op_attr_type_name(int type)
{
	switch (type) {
	case ATTR_FLOAT: return "float";
	case ATTR_INT: return "int";
	case ATTR_STRING: return "string";
	case ATTR_TENSOR: return "tensor";
	case ATTR_GRAPH: return "graph";
	case ATTR_FLOATS: return "floats";
	case ATTR_INTS: return "ints";
	case ATTR_STRINGS: return "strings";
	case ATTR_TENSORS: return "tensors";
	case ATTR_GRAPHS: return "graphs";
	case ATTR_SPARSE_TENSOR: return "sparse_tensor";
	case ATTR_SPARSE_TENSORS: return "sparse_tensors";
	case ATTR_TYPE_PROTO: return "type_proto";
	case ATTR_TYPE_PROTOS: return "type_protos";
	default: return "unknown";
	}
}

int op_registry_check(sc_error *err)
{
	int n = op_registry_count();
	for (int i = 0; i < n; i++) {
		const op_def *d = op_registry_entry(i);
		if (!d->domain || d->since < 1 || d->since > d->until)
			return sc_fail(err, SC_EINTERNAL,
				       "op registry: %s has a bad domain or opset range %d..%d",
				       d->name, d->since, d->until);
		for (const op_attr_spec *a = d->attrs; a && a->name; a++) {
			if (a->type < ATTR_FLOAT || a->type > ATTR_TYPE_PROTOS)
				return sc_fail(err, SC_EINTERNAL,
					       "op registry: %s attribute '%s' has unknown type %d",
					       d->name, a->name, a->type);
			for (const op_attr_spec *b = d->attrs; b != a; b++)
				if (strcmp(a->name, b->name) == 0)
					return sc_fail(err, SC_EINTERNAL,
						       "op registry: %s lists attribute '%s' twice",
						       d->name, a->name);
		}
		for (int j = 0; j < i; j++) {
			const op_def *e = op_registry_entry(j);
			if (strcmp(d->name, e->name) == 0 &&
			    same_domain(d->domain, e->domain) &&
			    d->since <= e->until && e->since <= d->until)
				return sc_fail(err, SC_EINTERNAL,
					       "op registry: %s opsets %d..%d overlap %d..%d",
					       d->name, d->since, d->until, e->since,
					       e->until);
		}
	}
	return SC_OK;
}

const char *op_node_label(const graph *g, const graph_node *n, char *buf,
			  size_t len)
{
	const char *op = n->op_type ? n->op_type : "?";
	if (n->name && *n->name) {
		snprintf(buf, len, "node '%s' (%s)", n->name, op);
		return buf;
	}
	for (int i = 0; i < n->n_outputs; i++) {
		int v = n->outputs[i];
		if (v >= 0 && g && v < g->n_values) {
			snprintf(buf, len, "node writing '%s' (%s)",
				 g->values[v].name, op);
			return buf;
		}
	}
	snprintf(buf, len, "unnamed node (%s)", op);
	return buf;
}

int op_check_attrs(const op_def *def, const graph *g, const graph_node *n,
		   int64_t opset, sc_error *err)
{
	char label[256];
	for (int i = 0; i < n->n_attrs; i++) {
		const graph_attr *a = &n->attrs[i];
		if (a->ref_attr_name)
			continue;
		for (int j = 0; j < i; j++)
			if (strcmp(n->attrs[j].name, a->name) == 0)
				return sc_fail(err, SC_EINVAL,
					       "%s: attribute '%s' is given twice",
					       op_node_label(g, n, label, sizeof label),
					       a->name);
		const op_attr_spec *s = def->attrs;
		while (s && s->name && strcmp(s->name, a->name) != 0)
			s++;
		if (!s || !s->name)
			return sc_fail(err, SC_EINVAL,
				       "%s: unknown attribute '%s' for %s at opset %lld",
				       op_node_label(g, n, label, sizeof label),
				       a->name, def->name, (long long)opset);
		if (s->type != a->type)
			return sc_fail(err, SC_EINVAL,
				       "%s: attribute '%s' has type %s, expected %s",
				       op_node_label(g, n, label, sizeof label),
				       a->name, op_attr_type_name(a->type),
				       op_attr_type_name(s->type));
	}
	return SC_OK;
}

int op_vfail(const graph *g, const graph_node *n, sc_error *err, int code,
	     const char *fmt, va_list ap)
{
	if (!err)
		return code;
	char label[256], msg[SC_ERROR_MAX];
	vsnprintf(msg, sizeof msg, fmt, ap);
	return sc_fail(err, code, "%s: %s",
		       op_node_label(g, n, label, sizeof label), msg);
}

int op_fail(const op_kernel *k, sc_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = op_vfail(k->g, k->node, err, code, fmt, ap);
	va_end(ap);
	return rc;
}
