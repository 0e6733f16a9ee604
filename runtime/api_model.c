/* api_model.c: what a session tells about its model beyond inputs and
 * outputs (supcon.h): IR version, producer, opset imports, node count,
 * the op histogram, the floating-point parameter count, the type of any
 * graph input or output in ONNX's words, and lookup of inputs by name.
 * These are the facts `supcon info` prints; they read the model as
 * loaded, so a session created with prepare=0 answers them for a model
 * supcon cannot run. */
#include "api_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Nested types deeper than this are shown as "..." (no real model nests
 * sequences of maps of sequences this far). */
#define TYPE_DEPTH 16

/* --- the op histogram ----------------------------------------------------- */

static int is_default_domain(const char *d)
{
	return !d || !*d || strcmp(d, "ai.onnx") == 0;
}

/* "Conv" for the default domain, "ai.supcon:SupConLoss" otherwise; new. */
static char *op_key(const graph_node *n)
{
	const char *type = n->op_type ? n->op_type : "";
	if (is_default_domain(n->domain))
		return strdup(type);
	size_t len = strlen(n->domain) + strlen(type) + 2;
	char *k = malloc(len);
	if (k)
		snprintf(k, len, "%s:%s", n->domain, type);
	return k;
}

static int cmp_key(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts the nodes' keys and counts the runs of equal ones: O(n log n). */
int api_op_histogram(supcon_session *s, sc_error *err)
{
	const graph *g = s->m->graph;
	if (g->n_nodes == 0)
		return SC_OK;
	size_t n = (size_t)g->n_nodes;
	char **keys = calloc(n, sizeof *keys);
	s->op_counts = calloc(n, sizeof *s->op_counts);
	s->op_keys = calloc(n, sizeof *s->op_keys);
	int rc = keys && s->op_counts && s->op_keys ? SC_OK :
		 sc_fail(err, SC_ENOMEM, "out of memory counting ops");
	for (size_t i = 0; !rc && i < n; i++)
		if (!(keys[i] = op_key(&g->nodes[i])))
			rc = sc_fail(err, SC_ENOMEM, "out of memory counting ops");
	if (!rc)
		qsort(keys, n, sizeof *keys, cmp_key);
	for (size_t i = 0; !rc && i < n; i++) {
		int k = s->n_op_kinds;
		if (k > 0 && strcmp(s->op_keys[k - 1], keys[i]) == 0) {
			s->op_counts[k - 1]++;
			free(keys[i]);
		} else {
			s->op_keys[k] = keys[i];
			s->op_counts[k] = 1;
			s->n_op_kinds++;
		}
		keys[i] = NULL;   /* moved or freed */
	}
	for (size_t i = 0; keys && i < n; i++)
		free(keys[i]);
	free(keys);
	return rc;   /* on failure the session is freed with what it holds */
}

/* --- model facts -------------------------------------------------------------- */

/* The start every fact getter shares: s and the out pointer are set. */
static int fact_args(const supcon_session *s, const void *out, const char *fn,
		     const char *what, sc_error *err)
{
	if (!s)
		return api_null(err, fn, "session");
	if (!out)
		return api_null(err, fn, what);
	return SC_OK;
}

static supcon_status fact_done(const supcon_session *s, sc_error *err, int rc)
{
	return api_done(s ? (sc_error *)&s->err : NULL, err, rc);
}

supcon_status supcon_session_ir_version(const supcon_session *s,
					int64_t *ir_version)
{
	sc_error err = {0};
	int rc = fact_args(s, ir_version, "supcon_session_ir_version", "ir_version",
			   &err);
	if (!rc)
		*ir_version = s->m->ir_version;
	return fact_done(s, &err, rc);
}

supcon_status supcon_session_producer(const supcon_session *s,
				      const char **name, const char **version)
{
	sc_error err = {0};
	const char *fn = "supcon_session_producer";
	int rc = fact_args(s, name, fn, "name", &err);
	if (!rc && !version)
		rc = api_null(&err, fn, "version");
	if (!rc) {
		*name = s->m->producer_name ? s->m->producer_name : "";
		*version = s->m->producer_version ? s->m->producer_version : "";
	}
	return fact_done(s, &err, rc);
}

supcon_status supcon_session_opset_count(const supcon_session *s, int *count)
{
	sc_error err = {0};
	int rc = fact_args(s, count, "supcon_session_opset_count", "count", &err);
	if (!rc)
		*count = s->m->n_opsets;
	return fact_done(s, &err, rc);
}

supcon_status supcon_session_opset(const supcon_session *s, int i,
				   const char **domain, int64_t *version)
{
	sc_error err = {0};
	const char *fn = "supcon_session_opset";
	int rc = fact_args(s, domain, fn, "domain", &err);
	if (!rc && !version)
		rc = api_null(&err, fn, "version");
	if (!rc && (i < 0 || i >= s->m->n_opsets))
		rc = sc_fail(&err, SC_EINVAL, "%s: opset import %d does not exist (the "
			     "model has %d)", fn, i, s->m->n_opsets);
	if (!rc) {
		const char *d = s->m->opsets[i].domain;
		*domain = d ? d : "";
		*version = s->m->opsets[i].version;
	}
	return fact_done(s, &err, rc);
}

supcon_status supcon_session_node_count(const supcon_session *s, int *count)
{
	sc_error err = {0};
	int rc = fact_args(s, count, "supcon_session_node_count", "count", &err);
	if (!rc)
		*count = s->m->graph->n_nodes;
	return fact_done(s, &err, rc);
}

supcon_status supcon_session_op_kind_count(const supcon_session *s, int *count)
{
	sc_error err = {0};
	int rc = fact_args(s, count, "supcon_session_op_kind_count", "count", &err);
	if (!rc)
		*count = s->n_op_kinds;
	return fact_done(s, &err, rc);
}

supcon_status supcon_session_op_kind(const supcon_session *s, int i,
				     const char **key, int64_t *count)
{
	sc_error err = {0};
	const char *fn = "supcon_session_op_kind";
	int rc = fact_args(s, key, fn, "key", &err);
	if (!rc && !count)
		rc = api_null(&err, fn, "count");
	if (!rc && (i < 0 || i >= s->n_op_kinds))
		rc = sc_fail(&err, SC_EINVAL, "%s: op kind %d does not exist (the model "
			     "has %d)", fn, i, s->n_op_kinds);
	if (!rc) {
		*key = s->op_keys[i];
		*count = s->op_counts[i];
	}
	return fact_done(s, &err, rc);
}

supcon_status supcon_session_initializer_elements(const supcon_session *s,
						  int64_t *elements)
{
	sc_error err = {0};
	int rc = fact_args(s, elements, "supcon_session_initializer_elements",
			   "elements", &err);
	if (rc)
		return fact_done(s, &err, rc);
	const graph *g = s->m->graph;
	int64_t total = 0;
	for (int i = 0; i < g->n_inits; i++) {
		const sc_tensor *t = &g->inits[i].tensor;
		if (!tensor_dtype_is_float(t->dtype))
			continue;
		if (t->numel > INT64_MAX - total) {
			total = INT64_MAX;
			break;
		}
		total += t->numel;
	}
	*elements = total;
	return fact_done(s, &err, rc);
}

/* --- inputs and outputs by name ---------------------------------------------- */

supcon_status supcon_session_find_input(const supcon_session *s,
					const char *name, int *index)
{
	sc_error err = {0};
	const char *fn = "supcon_session_find_input";
	int rc = fact_args(s, index, fn, "index", &err);
	if (!rc && !name)
		rc = api_null(&err, fn, "name");
	if (rc)
		return fact_done(s, &err, rc);
	const graph *g = s->m->graph;
	int v = graph_find_value(g, name);
	*index = -1;
	if (v >= 0 && (g->values[v].flags & VALUE_INPUT)) {
		*index = SUPCON_INITIALIZER_INPUT;
		for (int i = 0; i < s->n_inputs; i++)
			if (s->inputs[i] == v)
				*index = i;
	}
	return fact_done(s, &err, rc);
}

/* Appends text to buf[*used..len); 0 when it does not fit. */
static int put(char *buf, size_t len, size_t *used, const char *text)
{
	size_t n = strlen(text);
	if (*used + n >= len)
		return 0;
	memcpy(buf + *used, text, n + 1);
	*used += n;
	return 1;
}

static const char *elem_name(int elem)
{
	return tensor_dtype_valid(elem) ? tensor_dtype_name(elem) : "?";
}

/* Writes t's name; 0 when it does not fit.  An unknown type writes "" at
 * the top and "?" inside another type. */
static int type_text(const graph_type *t, int depth, char *buf, size_t len,
		     size_t *used)
{
	if (depth > TYPE_DEPTH)
		return put(buf, len, used, "...");
	const char *wrap = NULL;
	switch (t->kind) {
	case GRAPH_TYPE_TENSOR:
		if (!tensor_dtype_valid(t->elem))
			return put(buf, len, used, depth ? "?" : "");
		return put(buf, len, used, tensor_dtype_name(t->elem));
	case GRAPH_TYPE_SPARSE_TENSOR:
		return put(buf, len, used, "sparse_tensor(") &&
		       put(buf, len, used, elem_name(t->elem)) &&
		       put(buf, len, used, ")");
	case GRAPH_TYPE_SEQUENCE: wrap = "sequence("; break;
	case GRAPH_TYPE_OPTIONAL: wrap = "optional("; break;
	case GRAPH_TYPE_MAP:
		if (!put(buf, len, used, "map(") ||
		    !put(buf, len, used, elem_name(t->elem)) ||
		    !put(buf, len, used, ","))
			return 0;
		break;
	default:
		return put(buf, len, used, depth ? "?" : "");
	}
	if (wrap && !put(buf, len, used, wrap))
		return 0;
	size_t mark = *used;
	if (t->inner && !type_text(t->inner, depth + 1, buf, len, used))
		return 0;
	if (*used == mark && !put(buf, len, used, "?"))   /* inner unknown */
		return 0;
	return put(buf, len, used, ")");
}

supcon_status supcon_session_value_type(const supcon_session *s,
					const char *name, char *buf, size_t len)
{
	sc_error err = {0};
	const char *fn = "supcon_session_value_type";
	int rc = fact_args(s, name, fn, "name", &err);
	if (!rc && (!buf || len == 0))
		rc = sc_fail(&err, SC_EINVAL, "%s: buf is NULL or empty", fn);
	if (rc)
		return fact_done(s, &err, rc);
	const graph *g = s->m->graph;
	int v = graph_find_value(g, name);
	if (v < 0 || !(g->values[v].flags & (VALUE_INPUT | VALUE_OUTPUT)))
		return fact_done(s, &err, sc_fail(&err, SC_EINVAL, "%s: the model has "
						  "no input or output '%s'", fn,
						  name));
	size_t used = 0;
	buf[0] = '\0';
	if (!type_text(&g->values[v].type, 0, buf, len, &used)) {
		buf[0] = '\0';
		rc = sc_fail(&err, SC_EINVAL, "%s: the type of '%s' needs more than "
			     "%zu bytes", fn, name, len);
	}
	return fact_done(s, &err, rc);
}
