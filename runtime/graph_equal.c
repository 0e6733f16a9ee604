/* graph_equal.c: deep comparison of two models, for round-trip tests and for
 * checking that a pass changed nothing it should not; see graph.h.
 *
 * Values are matched by name (their order in the table is an accident of
 * interning), nodes, initializers, attributes, opsets and metadata in order.
 * Absent and empty strings are the same thing in ONNX, so NULL == "".
 * Floats are compared bit for bit: a NaN attribute equals itself and -0 is
 * not 0, which is what "the file says the same thing" means. */
#include "graph.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Where the walk is ("node 3 'loop' attribute 'body': graph 'b': ") and
 * where the first difference goes. */
typedef struct differ {
	char path[768];
	size_t depth;       /* strlen(path) */
	char *why;
	size_t why_len;
} differ;

static size_t path_push(differ *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Appends to the path and returns the old length for path_pop(). */
static size_t path_push(differ *d, const char *fmt, ...)
{
	size_t old = d->depth;
	if (old + 1 >= sizeof d->path)
		return old;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(d->path + old, sizeof d->path - old, fmt, ap);
	va_end(ap);
	if (n > 0)
		d->depth = strlen(d->path);
	return old;
}

static void path_pop(differ *d, size_t old)
{
	d->depth = old;
	d->path[old] = '\0';
}

static int differs(differ *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Records the first difference, prefixed by the path; always returns 0 so
 * callers can write `return differs(...)`. */
static int differs(differ *d, const char *fmt, ...)
{
	if (!d->why || d->why_len == 0)
		return 0;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(d->why, d->why_len, "%s%s", d->path, msg);
	return 0;
}

static const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

static int str_eq(const char *a, const char *b)
{
	return strcmp(str_or_empty(a), str_or_empty(b)) == 0;
}

static int same_string(differ *d, const char *what, const char *a,
		       const char *b)
{
	if (str_eq(a, b))
		return 1;
	return differs(d, "%s differs ('%.100s' vs '%.100s')", what,
		       str_or_empty(a), str_or_empty(b));
}

static int bytes_eq(const sc_bytes *a, const sc_bytes *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static const char *value_name(const graph *g, int v)
{
	if (v == -1)
		return "";
	if (v < 0 || v >= g->n_values)
		return "<bad value index>";
	return g->values[v].name;
}

/* --- types and tensors ---------------------------------------------------- */

static int type_eq(differ *d, const graph_type *a, const graph_type *b)
{
	if (a->kind != b->kind)
		return differs(d, "type kind differs (%d vs %d)", a->kind, b->kind);
	if (a->elem != b->elem)
		return differs(d, "element type differs (%s vs %s)",
			       tensor_dtype_name(a->elem), tensor_dtype_name(b->elem));
	if (a->rank != b->rank)
		return differs(d, "rank differs (%d vs %d)", a->rank, b->rank);
	for (int i = 0; i < a->rank && a->dims && b->dims; i++) {
		const graph_dim *x = &a->dims[i], *y = &b->dims[i];
		if (x->value != y->value || !str_eq(x->param, y->param))
			return differs(d, "dim %d differs (%" PRId64 "/'%s' vs %" PRId64 "/'%s')",
				       i, x->value, str_or_empty(x->param), y->value,
				       str_or_empty(y->param));
	}
	if (a->rank > 0 && !a->dims != !b->dims)
		return differs(d, "dims present on one side only");
	if (!same_string(d, "type denotation", a->denotation, b->denotation))
		return 0;
	if (!a->inner != !b->inner)
		return differs(d, "inner type present on one side only");
	if (a->inner) {
		size_t old = path_push(d, "inner type: ");
		int eq = type_eq(d, a->inner, b->inner);
		path_pop(d, old);
		return eq;
	}
	return 1;
}

static void dims_text(const sc_tensor *t, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = '\0';
	for (int i = 0; i < t->rank && used + 1 < len; i++) {
		int n = snprintf(buf + used, len - used, "%s%" PRId64, i ? "x" : "",
				 t->dims[i]);
		if (n < 0)
			break;
		used += (size_t)n;
	}
	if (t->rank == 0)
		snprintf(buf, len, "scalar");
}

static int tensor_eq(differ *d, const sc_tensor *a, const sc_tensor *b)
{
	if (tensor_equal(a, b))
		return 1;
	char da[128], db[128];
	dims_text(a, da, sizeof da);
	dims_text(b, db, sizeof db);
	if (a->dtype != b->dtype || a->rank != b->rank || a->numel != b->numel ||
	    strcmp(da, db) != 0)
		return differs(d, "tensor differs (%s %s vs %s %s)",
			       tensor_dtype_name(a->dtype), da,
			       tensor_dtype_name(b->dtype), db);
	if (a->dtype == SC_STRING) {
		const sc_bytes *x = a->data, *y = b->data;
		for (int64_t i = 0; i < a->numel; i++)
			if (!bytes_eq(&x[i], &y[i]))
				return differs(d, "tensor string %" PRId64 " differs", i);
	}
	size_t esize = tensor_dtype_size(a->dtype);
	const unsigned char *x = a->data, *y = b->data;
	for (size_t i = 0; i < a->nbytes; i++)
		if (x[i] != y[i])
			return differs(d, "tensor %s %s: element %zu differs",
				       tensor_dtype_name(a->dtype), da,
				       esize ? i / esize : i);
	return differs(d, "tensor differs");
}

/* --- nodes ---------------------------------------------------------------- */

static int graph_eq(differ *d, const graph *a, const graph *b, int depth);

static int attr_value_eq(differ *d, const graph_attr *a, const graph_attr *b,
			 int depth)
{
	switch (a->type) {
	case ATTR_FLOAT:
		if (memcmp(&a->f, &b->f, sizeof a->f) != 0)
			return differs(d, "float differs (%.9g vs %.9g)", a->f, b->f);
		return 1;
	case ATTR_INT:
		if (a->i != b->i)
			return differs(d, "int differs (%" PRId64 " vs %" PRId64 ")",
				       a->i, b->i);
		return 1;
	case ATTR_STRING:
		if (!bytes_eq(&a->s, &b->s))
			return differs(d, "string differs");
		return 1;
	case ATTR_TENSOR:
		if (!a->t != !b->t)
			return differs(d, "tensor present on one side only");
		return !a->t || tensor_eq(d, a->t, b->t);
	case ATTR_GRAPH:
		if (!a->g != !b->g)
			return differs(d, "graph present on one side only");
		return !a->g || graph_eq(d, a->g, b->g, depth + 1);
	case ATTR_TYPE_PROTO:
		if (!a->tp != !b->tp)
			return differs(d, "type present on one side only");
		return !a->tp || type_eq(d, a->tp, b->tp);
	}
	/* list types */
	if (a->n != b->n)
		return differs(d, "element count differs (%d vs %d)", a->n, b->n);
	for (int i = 0; i < a->n; i++) {
		switch (a->type) {
		case ATTR_FLOATS:
			if (memcmp(&a->floats[i], &b->floats[i], sizeof(float)))
				return differs(d, "floats differ at %d (%.9g vs %.9g)",
					       i, a->floats[i], b->floats[i]);
			break;
		case ATTR_INTS:
			if (a->ints[i] != b->ints[i])
				return differs(d, "ints differ at %d (%" PRId64 " vs %" PRId64 ")",
					       i, a->ints[i], b->ints[i]);
			break;
		case ATTR_STRINGS:
			if (!bytes_eq(&a->strings[i], &b->strings[i]))
				return differs(d, "strings differ at %d", i);
			break;
		case ATTR_TENSORS: {
			size_t old = path_push(d, "tensor %d: ", i);
			int eq = tensor_eq(d, &a->tensors[i], &b->tensors[i]);
			path_pop(d, old);
			if (!eq)
				return 0;
			break;
		}
		case ATTR_GRAPHS: {
			if (!a->graphs[i] != !b->graphs[i])
				return differs(d, "graph %d present on one side only", i);
			size_t old = path_push(d, "graph %d: ", i);
			int eq = !a->graphs[i] ||
				 graph_eq(d, a->graphs[i], b->graphs[i], depth + 1);
			path_pop(d, old);
			if (!eq)
				return 0;
			break;
		}
		case ATTR_TYPE_PROTOS: {
			size_t old = path_push(d, "type %d: ", i);
			int eq = type_eq(d, &a->tps[i], &b->tps[i]);
			path_pop(d, old);
			if (!eq)
				return 0;
			break;
		}
		default:
			/* sparse tensor attributes hold nothing in the IR */
			return 1;
		}
	}
	return 1;
}

static int attr_eq(differ *d, const graph_attr *a, const graph_attr *b,
		   int depth)
{
	if (!str_eq(a->name, b->name))
		return differs(d, "attribute name differs ('%s' vs '%s')",
			       str_or_empty(a->name), str_or_empty(b->name));
	size_t old = path_push(d, "attribute '%s': ", str_or_empty(a->name));
	int eq = 0;
	if (a->type != b->type)
		differs(d, "type differs (%d vs %d)", a->type, b->type);
	else if (same_string(d, "doc_string", a->doc_string, b->doc_string) &&
		 same_string(d, "ref_attr_name", a->ref_attr_name, b->ref_attr_name))
		eq = attr_value_eq(d, a, b, depth);
	path_pop(d, old);
	return eq;
}

static int value_list_eq(differ *d, const char *what, const graph *ga,
			 const int *a, int na, const graph *gb, const int *b,
			 int nb)
{
	if (na != nb)
		return differs(d, "%s count differs (%d vs %d)", what, na, nb);
	for (int i = 0; i < na; i++) {
		const char *x = value_name(ga, a[i]), *y = value_name(gb, b[i]);
		if (strcmp(x, y) != 0)
			return differs(d, "%s %d differs ('%s' vs '%s')", what, i, x, y);
	}
	return 1;
}

static int node_eq(differ *d, const graph *ga, const graph_node *a,
		   const graph *gb, const graph_node *b, int depth)
{
	if (!same_string(d, "op_type", a->op_type, b->op_type) ||
	    !same_string(d, "domain", a->domain, b->domain) ||
	    !same_string(d, "name", a->name, b->name) ||
	    !same_string(d, "doc_string", a->doc_string, b->doc_string))
		return 0;
	if (!value_list_eq(d, "input", ga, a->inputs, a->n_inputs, gb, b->inputs,
			   b->n_inputs) ||
	    !value_list_eq(d, "output", ga, a->outputs, a->n_outputs, gb,
			   b->outputs, b->n_outputs))
		return 0;
	if (a->n_attrs != b->n_attrs)
		return differs(d, "attribute count differs (%d vs %d)", a->n_attrs,
			       b->n_attrs);
	for (int i = 0; i < a->n_attrs; i++)
		if (!attr_eq(d, &a->attrs[i], &b->attrs[i], depth))
			return 0;
	return 1;
}

/* --- graphs --------------------------------------------------------------- */

static int value_eq(differ *d, const graph_value *a, const graph_value *b)
{
	if (a->flags != b->flags)
		return differs(d, "flags differ (0x%x vs 0x%x)", a->flags, b->flags);
	if (a->producer != b->producer)
		return differs(d, "producer differs (node %d vs %d)", a->producer,
			       b->producer);
	if (a->init != b->init)
		return differs(d, "initializer index differs (%d vs %d)", a->init,
			       b->init);
	return same_string(d, "doc_string", a->doc_string, b->doc_string) &&
	       type_eq(d, &a->type, &b->type);
}

static int values_eq(differ *d, const graph *a, const graph *b)
{
	if (a->n_values != b->n_values)
		return differs(d, "value count differs (%d vs %d)", a->n_values,
			       b->n_values);
	for (int i = 0; i < a->n_values; i++) {
		const graph_value *x = &a->values[i];
		int j = graph_find_value(b, x->name);
		if (j < 0)
			return differs(d, "value '%s' missing from the second graph",
				       x->name);
		size_t old = path_push(d, "value '%s': ", x->name);
		int eq = value_eq(d, x, &b->values[j]);
		path_pop(d, old);
		if (!eq)
			return 0;
	}
	return 1;
}

static int inits_eq(differ *d, const graph *a, const graph *b)
{
	if (a->n_inits != b->n_inits)
		return differs(d, "initializer count differs (%d vs %d)", a->n_inits,
			       b->n_inits);
	for (int i = 0; i < a->n_inits; i++) {
		const graph_init *x = &a->inits[i], *y = &b->inits[i];
		const char *nx = value_name(a, x->value), *ny = value_name(b, y->value);
		if (strcmp(nx, ny) != 0)
			return differs(d, "initializer %d differs ('%s' vs '%s')", i,
				       nx, ny);
		size_t old = path_push(d, "initializer '%s': ", nx);
		int eq = same_string(d, "doc_string", x->doc_string, y->doc_string) &&
			 tensor_eq(d, &x->tensor, &y->tensor);
		path_pop(d, old);
		if (!eq)
			return 0;
	}
	return 1;
}

static int graph_eq(differ *d, const graph *a, const graph *b, int depth)
{
	if (depth > 256)
		return differs(d, "subgraphs nested too deep to compare");
	size_t old = path_push(d, "graph '%s': ", str_or_empty(a->name));
	int eq = same_string(d, "name", a->name, b->name) &&
		 same_string(d, "doc_string", a->doc_string, b->doc_string) &&
		 value_list_eq(d, "input", a, a->inputs, a->n_inputs, b, b->inputs,
			       b->n_inputs) &&
		 value_list_eq(d, "output", a, a->outputs, a->n_outputs, b,
			       b->outputs, b->n_outputs) &&
		 value_list_eq(d, "value_info", a, a->value_infos, a->n_value_infos,
			       b, b->value_infos, b->n_value_infos) &&
		 inits_eq(d, a, b);
	if (eq && a->n_nodes != b->n_nodes)
		eq = differs(d, "node count differs (%d vs %d)", a->n_nodes,
			     b->n_nodes);
	for (int i = 0; eq && i < a->n_nodes; i++) {
		const graph_node *x = &a->nodes[i];
		size_t at = path_push(d, "node %d '%s' (%s) ", i,
				      str_or_empty(x->name), str_or_empty(x->op_type));
		eq = node_eq(d, a, x, b, &b->nodes[i], depth);
		path_pop(d, at);
	}
	/* Values last: a node difference explains a value difference better
	 * than the other way round. */
	if (eq)
		eq = values_eq(d, a, b);
	path_pop(d, old);
	return eq;
}

/* --- models --------------------------------------------------------------- */

static int model_header_eq(differ *d, const graph_model *a,
			   const graph_model *b)
{
	if (a->ir_version != b->ir_version)
		return differs(d, "ir_version differs (%" PRId64 " vs %" PRId64 ")",
			       a->ir_version, b->ir_version);
	if (a->n_opsets != b->n_opsets)
		return differs(d, "opset import count differs (%d vs %d)",
			       a->n_opsets, b->n_opsets);
	for (int i = 0; i < a->n_opsets; i++) {
		const graph_opset *x = &a->opsets[i], *y = &b->opsets[i];
		if (!str_eq(x->domain, y->domain) || x->version != y->version)
			return differs(d, "opset import %d differs ('%s' %" PRId64
				       " vs '%s' %" PRId64 ")", i,
				       str_or_empty(x->domain), x->version,
				       str_or_empty(y->domain), y->version);
	}
	if (!same_string(d, "producer_name", a->producer_name, b->producer_name) ||
	    !same_string(d, "producer_version", a->producer_version,
			 b->producer_version) ||
	    !same_string(d, "domain", a->domain, b->domain) ||
	    !same_string(d, "doc_string", a->doc_string, b->doc_string))
		return 0;
	if (a->model_version != b->model_version)
		return differs(d, "model_version differs (%" PRId64 " vs %" PRId64 ")",
			       a->model_version, b->model_version);
	if (a->n_metadata != b->n_metadata)
		return differs(d, "metadata count differs (%d vs %d)", a->n_metadata,
			       b->n_metadata);
	for (int i = 0; i < a->n_metadata; i++) {
		const graph_kv *x = &a->metadata[i], *y = &b->metadata[i];
		if (!str_eq(x->key, y->key) || !str_eq(x->value, y->value))
			return differs(d, "metadata %d differs ('%.100s'='%.100s' vs '%.100s'='%.100s')",
				       i, str_or_empty(x->key), str_or_empty(x->value),
				       str_or_empty(y->key), str_or_empty(y->value));
	}
	return 1;
}

int graph_model_equal(const graph_model *a, const graph_model *b, char *why,
		      size_t why_len)
{
	differ d = {.why = why, .why_len = why_len};
	if (why && why_len)
		why[0] = '\0';
	if (a == b)
		return 1;
	if (!a || !b)
		return differs(&d, "one model is NULL");
	if (!model_header_eq(&d, a, b))
		return 0;
	if (!a->graph != !b->graph)
		return differs(&d, "graph present in one model only");
	return !a->graph || graph_eq(&d, a->graph, b->graph, 0);
}
