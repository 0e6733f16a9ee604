/* job_build.c: the build job (`supcon build ARCH|FILE.onnx -o OUT.onnx`).
 *
 * With ARCH (resnet18 ... resnet200) it writes a freshly initialised
 * torchvision ResNet (models/models.h: model_build) with an optional
 * classifier and projection head.  With a model file it cuts the file's
 * inference network down to its encoder (model_cut_encoder) and puts the
 * classifier and head on that instead, which is how a pretrained ResNet
 * becomes the start of a SupCon run.  Every option is checked before
 * anything is built, and the file is written through a temporary name. */
#include "job.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/models.h"
#include "onnx/onnx.h"
#include "runtime/fileio.h"
#include "runtime/infer.h"

/* What to write on top of the encoder, shared by both forms. */
typedef struct build_request {
	const char *source;      /* ARCH or FILE.onnx */
	const char *out_path;
	int from_file;
	model_config cfg;        /* head, classes and seed apply to both */
	const char *encoder_output;
} build_request;

static const char *const arch_only_opts[] = {
	"stem", "in-shape", "width", "zero-init-residual", "opset",
};

static int parse_common(const run_job *a, build_request *r, sc_error *err)
{
	int rc;
	const char *s;
	/* the parsers' messages start "head '...'", "stem '...'", "shape '...'":
	 * a prefix turns them into the flag's name */
	if ((s = run_keys_value(&a->keys, "head", NULL)) &&
	    (rc = model_parse_head(s, &r->cfg.head, err))) {
		sc_error_prefix(err, "--");
		return rc;
	}
	/* integers were range-checked when they were set */
	r->cfg.classes = run_job_int(a, "classes");
	r->cfg.seed = (uint64_t)run_job_int(a, "seed");
	return SC_OK;
}

static int parse_arch_options(const run_job *a, build_request *r, sc_error *err)
{
	int rc;
	const char *s;
	if ((s = run_keys_value(&a->keys, "stem", NULL)) &&
	    (rc = model_parse_stem(s, &r->cfg.stem, err))) {
		sc_error_prefix(err, "--");
		return rc;
	}
	if ((s = run_keys_value(&a->keys, "in-shape", NULL))) {
		int64_t chw[3];
		if ((rc = model_parse_shape(s, chw, err))) {
			sc_error_prefix(err, "--in-");
			return rc;
		}
		r->cfg.in_c = chw[0];
		r->cfg.in_h = chw[1];
		r->cfg.in_w = chw[2];
	}
	r->cfg.width = run_job_int(a, "width");
	r->cfg.opset = run_job_int(a, "opset");
	r->cfg.zero_init_residual = run_job_flag(a, "zero-init-residual");
	if (run_keys_has(&a->keys, "encoder-output"))
		return sc_fail(err, SC_EINVAL,
			       "--encoder-output applies to a model file, not to ARCH %s",
			       r->source);
	return model_config_check(&r->cfg, err);
}

static int parse_build_args(const run_job *a, build_request *r, sc_error *err)
{
	memset(r, 0, sizeof *r);
	model_config_init(&r->cfg);
	r->source = run_job_str(a, "arch");
	if (!r->source)
		return sc_fail(err, SC_EINVAL, "missing ARCH or FILE.onnx");
	r->out_path = run_keys_value(&a->keys, "out", NULL);
	if (!r->out_path || !*r->out_path)
		return sc_fail(err, SC_EINVAL, "missing -o OUT.onnx (where to write the model)");
	int rc = parse_common(a, r, err);
	if (rc)
		return rc;
	if (model_arch_known(r->source)) {
		r->cfg.arch = r->source;
		return parse_arch_options(a, r, err);
	}
	size_t len = strlen(r->source);
	if (!(len > 5 && strcmp(r->source + len - 5, ".onnx") == 0) &&
	    sc_check_input_file(r->source, "model", NULL) != SC_OK)
		return sc_fail(err, SC_EINVAL,
			       "ARCH '%s': expected resnet18, resnet34, resnet50, resnet101, "
			       "resnet152, resnet200 or a model file", r->source);
	for (size_t i = 0; i < sizeof arch_only_opts / sizeof *arch_only_opts; i++)
		if (run_keys_has(&a->keys, arch_only_opts[i]))
			return sc_fail(err, SC_EINVAL,
				       "--%s applies when building an ARCH, not to the model "
				       "file %s", arch_only_opts[i], r->source);
	r->from_file = 1;
	r->encoder_output = run_keys_value(&a->keys, "encoder-output", NULL);
	return SC_OK;
}

/* Makes values[0..n) the graph's outputs, in that order. */
static int set_outputs(graph *g, const int *values, int n, sc_error *err)
{
	int *o = realloc(g->outputs, (size_t)n * sizeof *o);
	if (!o)
		return sc_fail(err, SC_ENOMEM, "out of memory setting the outputs");
	g->outputs = o;
	for (int i = 0; i < g->n_outputs; i++)
		g->values[o[i]].flags &= ~VALUE_OUTPUT;
	for (int i = 0; i < n; i++) {
		o[i] = values[i];
		g->values[o[i]].flags |= VALUE_OUTPUT;
	}
	g->n_outputs = n;
	return SC_OK;
}

/* The classifier and head of r on the encoder output `features`, named
 * "logits" and "embedding" as model_build names them; shape inference
 * then gives the new outputs their types. */
static int add_outputs(graph_model *m, const build_request *r, int features,
		       int64_t feat_dim, sc_error *err)
{
	int outs[2], n = 0, rc;
	if (r->cfg.classes > 0 &&
	    (rc = model_add_linear_as(m, features, feat_dim, r->cfg.classes, "fc",
				      r->cfg.seed, "logits", &outs[n++], err)))
		return rc;
	if (r->cfg.head.kind != MODEL_HEAD_NONE &&
	    (rc = model_add_head_as(m, features, feat_dim, &r->cfg.head, "head",
				    r->cfg.seed, "embedding", &outs[n++], err)))
		return rc;
	if (n == 0)
		return SC_OK;
	if ((rc = set_outputs(m->graph, outs, n, err)))
		return rc;
	return graph_infer_shapes(m, err);
}

/* Loads FILE.onnx, cuts it to its encoder and adds the requested layers. */
static int build_from_file(const build_request *r, graph_model **out,
			   int64_t *feat_dim, sc_error *err)
{
	graph_model *m = NULL;
	int rc = run_load_model(r->source, 0, &m, err);
	if (rc)
		return rc;
	if ((rc = model_cut_encoder(m, r->encoder_output, feat_dim, err)) ||
	    (rc = add_outputs(m, r, m->graph->outputs[0], *feat_dim, err)) ||
	    (rc = graph_validate(m, err))) {
		sc_error_prefix(err, "%s: ", r->source);
		graph_model_free(m);
		return rc;
	}
	*out = m;
	return SC_OK;
}

/* Elements of the float initializers, and of those among them that are
 * BN running statistics (inputs 3 and 4 of BatchNormalization), which are
 * state rather than parameters. */
static void count_elements(const graph *g, int64_t *total, int64_t *stats)
{
	*total = *stats = 0;
	for (int i = 0; i < g->n_inits; i++)
		if (tensor_dtype_is_float(g->inits[i].tensor.dtype))
			*total += g->inits[i].tensor.numel;
	for (int v = 0; v < g->n_values; v++) {
		const graph_value *val = &g->values[v];
		if (val->init < 0 || !tensor_dtype_is_float(g->inits[val->init].tensor.dtype))
			continue;
		int is_stat = 0;
		for (int i = 0; i < g->n_nodes && !is_stat; i++) {
			const graph_node *n = &g->nodes[i];
			if (strcmp(n->op_type, "BatchNormalization") || n->n_inputs < 5)
				continue;
			is_stat = n->inputs[3] == v || n->inputs[4] == v;
		}
		if (is_stat)
			*stats += g->inits[val->init].tensor.numel;
	}
}

static void print_summary(const build_request *r, const graph_model *m,
			  int64_t feat_dim)
{
	const graph *g = m->graph;
	run_printf("wrote %s: ", r->out_path);
	if (r->from_file)
		run_printf("encoder of %s", r->source);
	else
		run_printf("%s (%s stem, width %lld, input %lldx%lldx%lld)", r->cfg.arch,
		       r->cfg.stem == MODEL_STEM_CIFAR ? "cifar" : "imagenet",
		       (long long)r->cfg.width, (long long)r->cfg.in_c,
		       (long long)r->cfg.in_h, (long long)r->cfg.in_w);
	int64_t total, stats;
	count_elements(g, &total, &stats);
	run_printf(", features %lld, %lld parameters (+%lld BN statistics), outputs",
	       (long long)feat_dim, (long long)(total - stats), (long long)stats);
	for (int i = 0; i < g->n_outputs; i++) {
		const graph_type *t = &g->values[g->outputs[i]].type;
		run_printf("%s %s", i ? "," : "", g->values[g->outputs[i]].name);
		if (t->rank == 2 && t->dims[1].value >= 0)
			run_printf(" [N, %lld]", (long long)t->dims[1].value);
	}
	run_printf("\n");
}

static int build_do(const build_request *r, sc_error *err)
{
	graph_model *m = NULL;
	int64_t feat_dim;
	int rc;
	if (r->from_file) {
		rc = build_from_file(r, &m, &feat_dim, err);
	} else {
		feat_dim = model_feature_dim(&r->cfg);
		rc = model_build(&r->cfg, &m, err);
	}
	if (rc)
		return rc;
	if ((rc = onnx_save_file(m, r->out_path, err)) == SC_OK)
		print_summary(r, m, feat_dim);
	graph_model_free(m);
	return rc;
}

int run_job_build(run_job *j, sc_error *err)
{
	build_request r;
	int rc = parse_build_args(j, &r, err);
	if (!rc)
		rc = build_do(&r, err);
	if (!rc)
		rc = run_job_text(j, "path", r.out_path, err);
	return rc;
}
