/* cmd_info.c: `supcon info MODEL.onnx [--json]`.
 *
 * Loads and validates a model, runs shape inference so outputs carry their
 * shapes, and prints the facts a user checks first: IR version, opset
 * imports, inputs (without the initializers that old exporters also list as
 * inputs), outputs with dtype and symbolic shape, node count, op histogram
 * and the number of floating-point initializer elements (the parameter
 * count, BN statistics included).  --json prints the same as one object. */
#include "cli.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/graph.h"

#define INFO_TYPE_DEPTH 16

static cli_opt info_opts[] = {
	{"json", 0, CLI_FLAG, NULL, "print one JSON object instead of text", 0, 0, 0, 0},
};

static const cli_spec info_spec = {
	.cmd = "info",
	.synopsis = "MODEL.onnx [--json]",
	.description =
		"Loads and validates MODEL.onnx and prints its IR version, opset imports,\n"
		"inputs and outputs (name, dtype, shape with symbolic dims), node count,\n"
		"op histogram and initializer_elements (elements of floating-point\n"
		"initializers). Graph inputs that are initializers are not listed.",
	.opts = info_opts,
	.n_opts = (int)(sizeof info_opts / sizeof info_opts[0]),
};

/* --- facts ---------------------------------------------------------------- */

static int is_default_domain(const char *d)
{
	return !d || !*d || strcmp(d, "ai.onnx") == 0;
}

/* "Conv" for the default domain, "ai.supcon:SupConLoss" otherwise. */
static void op_key(const graph_node *n, char *buf, size_t len)
{
	if (is_default_domain(n->domain))
		snprintf(buf, len, "%s", n->op_type ? n->op_type : "");
	else
		snprintf(buf, len, "%s:%s", n->domain, n->op_type ? n->op_type : "");
}

static int cmp_op_key(const graph_node *a, const graph_node *b)
{
	char ka[512], kb[512];
	op_key(a, ka, sizeof ka);
	op_key(b, kb, sizeof kb);
	return strcmp(ka, kb);
}

typedef struct op_count {
	const graph_node *first;   /* a node with this key */
	int64_t count;
} op_count;

/* qsort has no context argument; info sorts one graph at a time. */
static const graph *sort_graph;

static int cmp_node_index(const void *a, const void *b)
{
	const graph_node *na = &sort_graph->nodes[*(const int *)a];
	const graph_node *nb = &sort_graph->nodes[*(const int *)b];
	return cmp_op_key(na, nb);
}

/* Counts nodes per op key, sorted by key.  *out is malloc'd. */
static int op_histogram(const graph *g, op_count **out, int *n_out,
			sc_error *err)
{
	*out = NULL;
	*n_out = 0;
	if (g->n_nodes == 0)
		return SC_OK;
	int *idx = malloc((size_t)g->n_nodes * sizeof *idx);
	op_count *hist = malloc((size_t)g->n_nodes * sizeof *hist);
	if (!idx || !hist) {
		free(idx);
		free(hist);
		return sc_fail(err, SC_ENOMEM, "out of memory counting ops");
	}
	for (int i = 0; i < g->n_nodes; i++)
		idx[i] = i;
	sort_graph = g;
	qsort(idx, (size_t)g->n_nodes, sizeof *idx, cmp_node_index);
	int n = 0;
	for (int i = 0; i < g->n_nodes; i++) {
		const graph_node *nd = &g->nodes[idx[i]];
		if (n > 0 && cmp_op_key(hist[n - 1].first, nd) == 0) {
			hist[n - 1].count++;
			continue;
		}
		hist[n].first = nd;
		hist[n].count = 1;
		n++;
	}
	free(idx);
	*out = hist;
	*n_out = n;
	return SC_OK;
}

static int64_t float_initializer_elements(const graph *g)
{
	int64_t total = 0;
	for (int i = 0; i < g->n_inits; i++) {
		const sc_tensor *t = &g->inits[i].tensor;
		if (!tensor_dtype_is_float(t->dtype))
			continue;
		if (t->numel > INT64_MAX - total)
			return INT64_MAX;
		total += t->numel;
	}
	return total;
}

static int is_listed_input(const graph *g, int v)
{
	const graph_value *val = &g->values[v];
	return !(val->flags & VALUE_INITIALIZER) && val->init < 0;
}

/* "float32", "sequence(float32)", "map(int64,float32)", ... into buf; returns
 * 0 when nothing is known (printed as null). */
static int type_name(const graph_type *t, char *buf, size_t len, int depth)
{
	char inner[256] = "?";
	if (depth > INFO_TYPE_DEPTH) {
		snprintf(buf, len, "...");
		return 1;
	}
	if (t->inner && !type_name(t->inner, inner, sizeof inner, depth + 1))
		snprintf(inner, sizeof inner, "?");
	const char *elem = tensor_dtype_valid(t->elem) ? tensor_dtype_name(t->elem) : "?";
	switch (t->kind) {
	case GRAPH_TYPE_TENSOR:
		if (!tensor_dtype_valid(t->elem))
			return 0;
		snprintf(buf, len, "%s", elem);
		return 1;
	case GRAPH_TYPE_SPARSE_TENSOR:
		snprintf(buf, len, "sparse_tensor(%s)", elem);
		return 1;
	case GRAPH_TYPE_SEQUENCE:
		snprintf(buf, len, "sequence(%s)", inner);
		return 1;
	case GRAPH_TYPE_OPTIONAL:
		snprintf(buf, len, "optional(%s)", inner);
		return 1;
	case GRAPH_TYPE_MAP:
		snprintf(buf, len, "map(%s,%s)", elem, inner);
		return 1;
	default:
		return 0;
	}
}

static int has_shape(const graph_type *t)
{
	return (t->kind == GRAPH_TYPE_TENSOR || t->kind == GRAPH_TYPE_SPARSE_TENSOR) &&
	       t->rank >= 0;
}

/* --- JSON ------------------------------------------------------------------ */

static void json_dim(FILE *f, const graph_dim *d)
{
	if (d->value >= 0)
		fprintf(f, "%lld", (long long)d->value);
	else if (d->param && *d->param)
		cli_json_string(f, d->param);
	else
		fputs("null", f);
}

static void json_value(FILE *f, const graph *g, int v)
{
	const graph_value *val = &g->values[v];
	char dtype[512];
	fputs("{\"name\": ", f);
	cli_json_string(f, val->name);
	fputs(", \"dtype\": ", f);
	if (type_name(&val->type, dtype, sizeof dtype, 0))
		cli_json_string(f, dtype);
	else
		fputs("null", f);
	fputs(", \"shape\": ", f);
	if (has_shape(&val->type)) {
		fputc('[', f);
		for (int i = 0; i < val->type.rank; i++) {
			if (i)
				fputs(", ", f);
			json_dim(f, &val->type.dims[i]);
		}
		fputc(']', f);
	} else {
		fputs("null", f);
	}
	fputc('}', f);
}

static void print_json(FILE *f, const graph_model *m, const op_count *hist,
		       int n_hist)
{
	const graph *g = m->graph;
	fprintf(f, "{\"ir_version\": %lld, \"opsets\": {", (long long)m->ir_version);
	for (int i = 0; i < m->n_opsets; i++) {
		if (i)
			fputs(", ", f);
		cli_json_string(f, m->opsets[i].domain ? m->opsets[i].domain : "");
		fprintf(f, ": %lld", (long long)m->opsets[i].version);
	}
	fputs("}, \"inputs\": [", f);
	int first = 1;
	for (int i = 0; i < g->n_inputs; i++) {
		if (!is_listed_input(g, g->inputs[i]))
			continue;
		if (!first)
			fputs(", ", f);
		first = 0;
		json_value(f, g, g->inputs[i]);
	}
	fputs("], \"outputs\": [", f);
	for (int i = 0; i < g->n_outputs; i++) {
		if (i)
			fputs(", ", f);
		json_value(f, g, g->outputs[i]);
	}
	fprintf(f, "], \"nodes\": %d, \"ops\": {", g->n_nodes);
	for (int i = 0; i < n_hist; i++) {
		char key[512];
		op_key(hist[i].first, key, sizeof key);
		if (i)
			fputs(", ", f);
		cli_json_string(f, key);
		fprintf(f, ": %lld", (long long)hist[i].count);
	}
	fprintf(f, "}, \"initializer_elements\": %lld}\n",
		(long long)float_initializer_elements(g));
}

/* --- text ------------------------------------------------------------------ */

/* Prints s with control characters shown as '?', so one fact stays on one line. */
static void text_string(FILE *f, const char *s)
{
	for (const char *p = s ? s : ""; *p; p++)
		fputc((unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p, f);
}

static int text_width(const char *s)
{
	int n = (int)strlen(s ? s : "");
	return n > 40 ? 40 : n;
}

static void text_shape(FILE *f, const graph_type *t)
{
	if (!has_shape(t)) {
		fputs("unknown shape", f);
		return;
	}
	fputc('[', f);
	for (int i = 0; i < t->rank; i++) {
		const graph_dim *d = &t->dims[i];
		if (i)
			fputs(", ", f);
		if (d->value >= 0)
			fprintf(f, "%lld", (long long)d->value);
		else if (d->param && *d->param)
			text_string(f, d->param);
		else
			fputc('?', f);
	}
	fputc(']', f);
}

static void text_values(FILE *f, const graph *g, const int *vals, int n,
			int skip_inits)
{
	int width = 4, dwidth = 7;
	char dtype[512];
	for (int i = 0; i < n; i++) {
		if (skip_inits && !is_listed_input(g, vals[i]))
			continue;
		const graph_value *val = &g->values[vals[i]];
		if (text_width(val->name) > width)
			width = text_width(val->name);
		if (type_name(&val->type, dtype, sizeof dtype, 0) &&
		    (int)strlen(dtype) > dwidth)
			dwidth = (int)strlen(dtype);
	}
	int any = 0;
	for (int i = 0; i < n; i++) {
		if (skip_inits && !is_listed_input(g, vals[i]))
			continue;
		const graph_value *val = &g->values[vals[i]];
		any = 1;
		fputs("  ", f);
		text_string(f, val->name);
		fprintf(f, "%*s  ", width - text_width(val->name), "");
		if (!type_name(&val->type, dtype, sizeof dtype, 0))
			snprintf(dtype, sizeof dtype, "?");
		fprintf(f, "%-*s  ", dwidth, dtype);
		text_shape(f, &val->type);
		fputc('\n', f);
	}
	if (!any)
		fputs("  (none)\n", f);
}

static int cmp_count_desc(const void *a, const void *b)
{
	const op_count *x = a, *y = b;
	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return cmp_op_key(x->first, y->first);
}

static void print_text(FILE *f, const char *path, const graph_model *m,
		       op_count *hist, int n_hist)
{
	const graph *g = m->graph;
	fputs("model                 ", f);
	text_string(f, path);
	fputs("\nproducer              ", f);
	if (m->producer_name && *m->producer_name) {
		text_string(f, m->producer_name);
		if (m->producer_version && *m->producer_version) {
			fputc(' ', f);
			text_string(f, m->producer_version);
		}
	} else {
		fputs("(not recorded)", f);
	}
	fprintf(f, "\nir_version            %lld\n", (long long)m->ir_version);
	fputs("opsets                ", f);
	for (int i = 0; i < m->n_opsets; i++) {
		const char *d = m->opsets[i].domain;
		if (i)
			fputs(", ", f);
		text_string(f, d && *d ? d : "ai.onnx");
		fprintf(f, " %lld", (long long)m->opsets[i].version);
	}
	if (m->n_opsets == 0)
		fputs("(none)", f);
	fprintf(f, "\nnodes                 %d\n", g->n_nodes);
	fprintf(f, "initializer_elements  %lld\n",
		(long long)float_initializer_elements(g));
	fputs("inputs\n", f);
	text_values(f, g, g->inputs, g->n_inputs, 1);
	fputs("outputs\n", f);
	text_values(f, g, g->outputs, g->n_outputs, 0);
	fputs("ops\n", f);
	qsort(hist, (size_t)n_hist, sizeof *hist, cmp_count_desc);
	int width = 2;
	char key[512];
	for (int i = 0; i < n_hist; i++) {
		op_key(hist[i].first, key, sizeof key);
		if (text_width(key) > width)
			width = text_width(key);
	}
	for (int i = 0; i < n_hist; i++) {
		op_key(hist[i].first, key, sizeof key);
		fputs("  ", f);
		text_string(f, key);
		fprintf(f, "%*s  %lld\n", width - text_width(key), "",
			(long long)hist[i].count);
	}
	if (n_hist == 0)
		fputs("  (none)\n", f);
}

/* --- command ----------------------------------------------------------------- */

int cmd_info(int argc, char **argv)
{
	cli_args args;
	int status;
	if (!cli_begin(&info_spec, argc, argv, &args, &status))
		return status;
	sc_error err = {0};
	const char *path;
	graph_model *m = NULL;
	int rc = cli_one_model(&info_spec, &args, &path, &err);
	if (rc == SC_OK)
		rc = cli_load_model(path, 1, &m, &err);
	if (rc != SC_OK) {
		cli_args_free(&args);
		return cli_fail("info", &err);
	}
	op_count *hist = NULL;
	int n_hist = 0;
	rc = op_histogram(m->graph, &hist, &n_hist, &err);
	if (rc == SC_OK) {
		if (cli_has(&args, "json"))
			print_json(stdout, m, hist, n_hist);
		else
			print_text(stdout, path, m, hist, n_hist);
	}
	free(hist);
	graph_model_free(m);
	cli_args_free(&args);
	if (rc != SC_OK)
		return cli_fail("info", &err);
	return cli_finish("info", CLI_EXIT_OK);
}
