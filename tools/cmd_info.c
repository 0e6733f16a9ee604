/* cmd_info.c: `supcon info MODEL.onnx [--json]`.
 *
 * Loads and validates a model, runs shape inference so outputs carry their
 * shapes, and prints the facts a user checks first: IR version, opset
 * imports, inputs (without the initializers that old exporters also list as
 * inputs), outputs with dtype and symbolic shape, node count, op histogram
 * and the number of floating-point initializer elements (the parameter
 * count, BN statistics included).  --json prints the same as one object.
 * Everything comes from the public C API (runtime/supcon.h): a session
 * opened with prepare=0 describes a model even when supcon cannot run it. */
#include "cli.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/supcon.h"

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

/* One graph input or output as info shows it. */
typedef struct info_value {
	const char *name;
	char type[512];          /* "" when the model does not say */
	int rank;                /* -1: no shape */
	int64_t dims[SUPCON_MAX_RANK];
	const char *params[SUPCON_MAX_RANK];   /* symbolic names, or NULL */
} info_value;

typedef struct op_count {
	const char *key;
	int64_t count;
} op_count;

typedef struct info_facts {
	const char *path;
	int64_t ir_version, init_elements;
	const char *producer, *producer_version;
	int n_opsets, n_nodes;
	int n_inputs, n_outputs;
	info_value *inputs, *outputs;
	op_count *hist;
	int n_hist;
} info_facts;

static void info_facts_free(info_facts *f)
{
	free(f->inputs);
	free(f->outputs);
	free(f->hist);
}

/* Input or output i of s into v; shapes of rank above SUPCON_MAX_RANK are
 * refused (the loader refuses them first). */
static supcon_status read_value(const supcon_session *s, int output, int i,
				info_value *v)
{
	supcon_status st = output ? supcon_session_output_name(s, i, &v->name) :
			   supcon_session_input_name(s, i, &v->name);
	if (!st)
		st = supcon_session_value_type(s, v->name, v->type, sizeof v->type);
	if (!st)
		st = output ? supcon_session_output_info(s, i, NULL, &v->rank, v->dims,
							 SUPCON_MAX_RANK) :
			      supcon_session_input_info(s, i, NULL, &v->rank, v->dims,
							SUPCON_MAX_RANK);
	for (int d = 0; !st && d < v->rank; d++)
		st = output ? supcon_session_output_dim_name(s, i, d, &v->params[d]) :
			      supcon_session_input_dim_name(s, i, d, &v->params[d]);
	return st;
}

static supcon_status read_values(const supcon_session *s, int output, int n,
				 info_value **out)
{
	*out = calloc((size_t)n + 1, sizeof **out);
	if (!*out)
		return SUPCON_ENOMEM;
	supcon_status st = SUPCON_OK;
	for (int i = 0; !st && i < n; i++)
		st = read_value(s, output, i, &(*out)[i]);
	return st;
}

static supcon_status read_facts(const supcon_session *s, info_facts *f)
{
	supcon_status st;
	if ((st = supcon_session_ir_version(s, &f->ir_version)) ||
	    (st = supcon_session_producer(s, &f->producer, &f->producer_version)) ||
	    (st = supcon_session_opset_count(s, &f->n_opsets)) ||
	    (st = supcon_session_node_count(s, &f->n_nodes)) ||
	    (st = supcon_session_initializer_elements(s, &f->init_elements)) ||
	    (st = supcon_session_input_count(s, &f->n_inputs)) ||
	    (st = supcon_session_output_count(s, &f->n_outputs)) ||
	    (st = supcon_session_op_kind_count(s, &f->n_hist)) ||
	    (st = read_values(s, 0, f->n_inputs, &f->inputs)) ||
	    (st = read_values(s, 1, f->n_outputs, &f->outputs)))
		return st;
	if (!(f->hist = calloc((size_t)f->n_hist + 1, sizeof *f->hist)))
		return SUPCON_ENOMEM;
	for (int i = 0; !st && i < f->n_hist; i++)
		st = supcon_session_op_kind(s, i, &f->hist[i].key, &f->hist[i].count);
	return st;
}

/* --- JSON ------------------------------------------------------------------ */

static void json_dim(FILE *f, const info_value *v, int d)
{
	if (v->dims[d] >= 0)
		fprintf(f, "%lld", (long long)v->dims[d]);
	else if (v->params[d] && *v->params[d])
		cli_json_string(f, v->params[d]);
	else
		fputs("null", f);
}

static void json_value(FILE *f, const info_value *v)
{
	fputs("{\"name\": ", f);
	cli_json_string(f, v->name);
	fputs(", \"dtype\": ", f);
	if (v->type[0])
		cli_json_string(f, v->type);
	else
		fputs("null", f);
	fputs(", \"shape\": ", f);
	if (v->rank >= 0) {
		fputc('[', f);
		for (int i = 0; i < v->rank; i++) {
			if (i)
				fputs(", ", f);
			json_dim(f, v, i);
		}
		fputc(']', f);
	} else {
		fputs("null", f);
	}
	fputc('}', f);
}

static void json_values(FILE *f, const info_value *v, int n)
{
	for (int i = 0; i < n; i++) {
		if (i)
			fputs(", ", f);
		json_value(f, &v[i]);
	}
}

static void print_json(FILE *f, const supcon_session *s, const info_facts *x)
{
	fprintf(f, "{\"ir_version\": %lld, \"opsets\": {", (long long)x->ir_version);
	for (int i = 0; i < x->n_opsets; i++) {
		const char *domain = "";
		int64_t version = 0;
		supcon_session_opset(s, i, &domain, &version);
		if (i)
			fputs(", ", f);
		cli_json_string(f, domain);
		fprintf(f, ": %lld", (long long)version);
	}
	fputs("}, \"inputs\": [", f);
	json_values(f, x->inputs, x->n_inputs);
	fputs("], \"outputs\": [", f);
	json_values(f, x->outputs, x->n_outputs);
	fprintf(f, "], \"nodes\": %d, \"ops\": {", x->n_nodes);
	for (int i = 0; i < x->n_hist; i++) {
		if (i)
			fputs(", ", f);
		cli_json_string(f, x->hist[i].key);
		fprintf(f, ": %lld", (long long)x->hist[i].count);
	}
	fprintf(f, "}, \"initializer_elements\": %lld}\n", (long long)x->init_elements);
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

static void text_shape(FILE *f, const info_value *v)
{
	if (v->rank < 0) {
		fputs("unknown shape", f);
		return;
	}
	fputc('[', f);
	for (int i = 0; i < v->rank; i++) {
		if (i)
			fputs(", ", f);
		if (v->dims[i] >= 0)
			fprintf(f, "%lld", (long long)v->dims[i]);
		else if (v->params[i] && *v->params[i])
			text_string(f, v->params[i]);
		else
			fputc('?', f);
	}
	fputc(']', f);
}

static void text_values(FILE *f, const info_value *v, int n)
{
	int width = 4, dwidth = 7;
	for (int i = 0; i < n; i++) {
		if (text_width(v[i].name) > width)
			width = text_width(v[i].name);
		if ((int)strlen(v[i].type) > dwidth)
			dwidth = (int)strlen(v[i].type);
	}
	for (int i = 0; i < n; i++) {
		fputs("  ", f);
		text_string(f, v[i].name);
		fprintf(f, "%*s  ", width - text_width(v[i].name), "");
		fprintf(f, "%-*s  ", dwidth, v[i].type[0] ? v[i].type : "?");
		text_shape(f, &v[i]);
		fputc('\n', f);
	}
	if (n == 0)
		fputs("  (none)\n", f);
}

static int cmp_count_desc(const void *a, const void *b)
{
	const op_count *x = a, *y = b;
	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return strcmp(x->key, y->key);
}

static void print_text(FILE *f, const supcon_session *s, info_facts *x)
{
	fputs("model                 ", f);
	text_string(f, x->path);
	fputs("\nproducer              ", f);
	if (*x->producer) {
		text_string(f, x->producer);
		if (*x->producer_version) {
			fputc(' ', f);
			text_string(f, x->producer_version);
		}
	} else {
		fputs("(not recorded)", f);
	}
	fprintf(f, "\nir_version            %lld\n", (long long)x->ir_version);
	fputs("opsets                ", f);
	for (int i = 0; i < x->n_opsets; i++) {
		const char *domain = "";
		int64_t version = 0;
		supcon_session_opset(s, i, &domain, &version);
		if (i)
			fputs(", ", f);
		text_string(f, *domain ? domain : "ai.onnx");
		fprintf(f, " %lld", (long long)version);
	}
	if (x->n_opsets == 0)
		fputs("(none)", f);
	fprintf(f, "\nnodes                 %d\n", x->n_nodes);
	fprintf(f, "initializer_elements  %lld\n", (long long)x->init_elements);
	fputs("inputs\n", f);
	text_values(f, x->inputs, x->n_inputs);
	fputs("outputs\n", f);
	text_values(f, x->outputs, x->n_outputs);
	fputs("ops\n", f);
	qsort(x->hist, (size_t)x->n_hist, sizeof *x->hist, cmp_count_desc);
	int width = 2;
	for (int i = 0; i < x->n_hist; i++)
		if (text_width(x->hist[i].key) > width)
			width = text_width(x->hist[i].key);
	for (int i = 0; i < x->n_hist; i++) {
		fputs("  ", f);
		text_string(f, x->hist[i].key);
		fprintf(f, "%*s  %lld\n", width - text_width(x->hist[i].key), "",
			(long long)x->hist[i].count);
	}
	if (x->n_hist == 0)
		fputs("  (none)\n", f);
}

/* --- command ----------------------------------------------------------------- */

int cmd_info(int argc, char **argv)
{
	cli_args args;
	int status;
	if (!cli_begin(&info_spec, argc, argv, &args, &status))
		return status;
	cli_err err = {0};
	info_facts facts = {0};
	supcon_session *s = NULL;
	int rc = cli_one_model(&info_spec, &args, &facts.path, &err);
	if (rc == SUPCON_OK)
		rc = cli_check_input_file(facts.path, "model", &err);
	supcon_status st = SUPCON_OK;
	if (rc == SUPCON_OK && !(st = supcon_session_create_with(facts.path, "prepare=0", &s)))
		st = read_facts(s, &facts);
	if (rc == SUPCON_OK && st != SUPCON_OK) {
		const char *msg = supcon_last_error();
		rc = cli_set_err(&err, (int)st, "%s", *msg ? msg : supcon_status_name(st));
	}
	if (rc == SUPCON_OK) {
		if (cli_has(&args, "json"))
			print_json(stdout, s, &facts);
		else
			print_text(stdout, s, &facts);
	}
	info_facts_free(&facts);
	supcon_session_free(s);
	cli_args_free(&args);
	if (rc != SUPCON_OK)
		return cli_fail("info", &err);
	return cli_finish("info", CLI_EXIT_OK);
}
