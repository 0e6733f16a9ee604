/* cmd_build.c: `supcon build ARCH|FILE.onnx [options] -o OUT.onnx`.
 *
 * With ARCH (resnet18 ... resnet200) it writes a freshly initialised
 * torchvision ResNet (models/models.h: model_build) with an optional
 * classifier and projection head.  With a model file it cuts the file's
 * inference network down to its encoder (model_cut_encoder) and puts the
 * classifier and head on that instead, which is how a pretrained ResNet
 * becomes the start of a SupCon run.  Every option is checked before
 * anything is built, and the file is written through a temporary name. */
#include "cli.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/models.h"
#include "onnx/onnx.h"
#include "runtime/infer.h"

static cli_opt build_opts[] = {
	{"stem", 0, CLI_VALUE, "imagenet|cifar",
	 "imagenet: 7x7/2 conv and 3x3/2 max-pool (default); cifar: 3x3/1 conv, no pool",
	 0, 0, 0, 0},
	{"in-shape", 0, CLI_VALUE, "CxHxW", "input channels and size (default 3x224x224)",
	 0, 0, 0, 0},
	{"width", 0, CLI_VALUE, "N", "base width: channels of the first stage (default 64)",
	 0, 0, 0, 0},
	{"head", 0, CLI_VALUE, "none|linear:D|mlp:D|mlp:H:D",
	 "projection head with L2-normalised output \"embedding\" (default none)",
	 0, 0, 0, 0},
	{"classes", 0, CLI_VALUE, "K", "add the linear classifier fc with output \"logits\"",
	 0, 0, 0, 0},
	{"zero-init-residual", 0, CLI_FLAG, NULL,
	 "the last BN of each residual branch starts with gamma 0", 0, 0, 0, 0},
	{"seed", 0, CLI_VALUE, "S", "seed of the random initialisation (default 0)",
	 0, 0, 0, 0},
	{"opset", 0, CLI_VALUE, "N", "ONNX opset to write (9 to 17, default 17)",
	 0, 0, 0, 0},
	{"encoder-output", 0, CLI_VALUE, "NAME",
	 "with a model file: cut at this value instead of the global pooling",
	 0, 0, 0, 0},
	{"out", 'o', CLI_VALUE, "OUT.onnx", "where to write the model", 0, 0, 0, 0},
};

static const cli_spec build_spec = {
	.cmd = "build",
	.synopsis = "ARCH|FILE.onnx [--stem imagenet|cifar] [--in-shape CxHxW] "
		    "[--width N] [--head none|linear:D|mlp:D|mlp:H:D] [--classes K] "
		    "[--zero-init-residual] [--seed S] [--opset N] "
		    "[--encoder-output NAME] -o OUT.onnx",
	.description =
		"Writes a ResNet as an ONNX graph. ARCH is resnet18, resnet34, resnet50,\n"
		"resnet101, resnet152 or resnet200: torchvision's architecture with its\n"
		"state_dict names (conv1.weight, layer1.0.bn1.running_mean, ...), Kaiming\n"
		"(fan_out) conv weights, BN gamma 1 and beta 0. The input is \"input\"\n"
		"float [N, C, H, W]; the encoder ends in \"features\" [N, F] after global\n"
		"average pooling. Outputs: \"logits\" with --classes, then \"embedding\"\n"
		"with --head, else \"features\".\n"
		"Given a model file (an inference ResNet: torchvision export, BN kept or\n"
		"folded, or a model-zoo file) instead of ARCH, cuts it at its global\n"
		"pooling (or --encoder-output) and adds --classes and --head to that.",
	.epilog =
		"Heads: linear:D is Linear(F, D); mlp:D is Linear(F, F), ReLU, Linear(F, D);\n"
		"mlp:H:D uses hidden size H. Each is followed by L2 normalisation.",
	.opts = build_opts,
	.n_opts = (int)(sizeof build_opts / sizeof build_opts[0]),
};

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

static int parse_common(const cli_args *a, build_request *r, sc_error *err)
{
	long long v;
	int rc;
	const char *s;
	/* the parsers' messages start "head '...'", "stem '...'", "shape '...'":
	 * a prefix turns them into the flag's name */
	if ((s = cli_value(a, "head", NULL)) &&
	    (rc = model_parse_head(s, &r->cfg.head, err))) {
		sc_error_prefix(err, "--");
		return rc;
	}
	if ((rc = cli_int_option(a, "classes", 0, MODEL_MAX_DIM, 0, &v, err)))
		return rc;
	r->cfg.classes = v;
	if ((rc = cli_int_option(a, "seed", 0, LLONG_MAX, 0, &v, err)))
		return rc;
	r->cfg.seed = (uint64_t)v;
	return SC_OK;
}

static int parse_arch_options(const cli_args *a, build_request *r, sc_error *err)
{
	long long v;
	int rc;
	const char *s;
	if ((s = cli_value(a, "stem", NULL)) &&
	    (rc = model_parse_stem(s, &r->cfg.stem, err))) {
		sc_error_prefix(err, "--");
		return rc;
	}
	if ((s = cli_value(a, "in-shape", NULL))) {
		int64_t chw[3];
		if ((rc = model_parse_shape(s, chw, err))) {
			sc_error_prefix(err, "--in-");
			return rc;
		}
		r->cfg.in_c = chw[0];
		r->cfg.in_h = chw[1];
		r->cfg.in_w = chw[2];
	}
	if ((rc = cli_int_option(a, "width", 1, MODEL_MAX_WIDTH, 64, &v, err)))
		return rc;
	r->cfg.width = v;
	if ((rc = cli_int_option(a, "opset", MODEL_OPSET_MIN, MODEL_OPSET_MAX, 17, &v,
				 err)))
		return rc;
	r->cfg.opset = v;
	r->cfg.zero_init_residual = cli_has(a, "zero-init-residual");
	if (cli_has(a, "encoder-output"))
		return sc_fail(err, SC_EINVAL,
			       "--encoder-output applies to a model file, not to ARCH %s",
			       r->source);
	return model_config_check(&r->cfg, err);
}

static int parse_build_args(const cli_args *a, build_request *r, sc_error *err)
{
	memset(r, 0, sizeof *r);
	model_config_init(&r->cfg);
	if (a->n_pos != 1)
		return sc_fail(err, SC_EINVAL, "%s ARCH or FILE.onnx (usage: supcon build %s)",
			       a->n_pos ? "expected one" : "missing", build_spec.synopsis);
	r->source = a->pos[0];
	r->out_path = cli_value(a, "out", NULL);
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
	    cli_check_input_file(r->source, "model", NULL) != SC_OK)
		return sc_fail(err, SC_EINVAL,
			       "ARCH '%s': expected resnet18, resnet34, resnet50, resnet101, "
			       "resnet152, resnet200 or a model file", r->source);
	for (size_t i = 0; i < sizeof arch_only_opts / sizeof *arch_only_opts; i++)
		if (cli_has(a, arch_only_opts[i]))
			return sc_fail(err, SC_EINVAL,
				       "--%s applies when building an ARCH, not to the model "
				       "file %s", arch_only_opts[i], r->source);
	r->from_file = 1;
	r->encoder_output = cli_value(a, "encoder-output", NULL);
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
	int rc = cli_load_model(r->source, 0, &m, err);
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
	printf("wrote %s: ", r->out_path);
	if (r->from_file)
		printf("encoder of %s", r->source);
	else
		printf("%s (%s stem, width %lld, input %lldx%lldx%lld)", r->cfg.arch,
		       r->cfg.stem == MODEL_STEM_CIFAR ? "cifar" : "imagenet",
		       (long long)r->cfg.width, (long long)r->cfg.in_c,
		       (long long)r->cfg.in_h, (long long)r->cfg.in_w);
	int64_t total, stats;
	count_elements(g, &total, &stats);
	printf(", features %lld, %lld parameters (+%lld BN statistics), outputs",
	       (long long)feat_dim, (long long)(total - stats), (long long)stats);
	for (int i = 0; i < g->n_outputs; i++) {
		const graph_type *t = &g->values[g->outputs[i]].type;
		printf("%s %s", i ? "," : "", g->values[g->outputs[i]].name);
		if (t->rank == 2 && t->dims[1].value >= 0)
			printf(" [N, %lld]", (long long)t->dims[1].value);
	}
	putchar('\n');
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

int cmd_build(int argc, char **argv)
{
	cli_args args;
	int status;
	if (!cli_begin(&build_spec, argc, argv, &args, &status))
		return status;
	sc_error err = {0};
	build_request r;
	int rc = parse_build_args(&args, &r, &err);
	if (rc == SC_OK)
		rc = build_do(&r, &err);
	cli_args_free(&args);
	if (rc != SC_OK)
		return cli_fail("build", &err);
	return cli_finish("build", CLI_EXIT_OK);
}
