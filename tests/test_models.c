/* test_models.c: the ResNet builders, heads and encoder cutting of
 * models/models.h, and `supcon build`.
 *
 * References:
 *   - element counts of every arch, both stems, several widths and input
 *     shapes are torchvision's (sum of state_dict sizes without
 *     num_batches_tracked, printed by tests/check_models.py's
 *     torch_resnet()); model_param_elements() must agree with the graph;
 *   - names and shapes of a few state_dict entries, written out by hand;
 *   - initialisation statistics against the formulas (Kaiming fan_out,
 *     nn.Linear's uniform bound), gamma 0 under zero_init_residual;
 *   - the logits and embedding of a built model against a double
 *     computation from its "features" (the same weights, by the per-name
 *     seeding) and unit norms;
 *   - every opset gives the same outputs as opset 17;
 *   - a cut model's output equals the uncut model's features;
 *   - parse and CLI errors: exit 2, one line naming the flag.
 * tests/check_models.py does the torchvision comparisons (names of every
 * arch, numerics, cuts of torch.onnx exports). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_runner.h"
#include "model_builder.h"
#include "models/models.h"
#include "onnx/onnx.h"
#include "runtime/infer.h"
#include "runtime/plan.h"
#include "runtime/rng.h"

#define DIR SUPCON_TEST_WORK "/models"

/* --- helpers ------------------------------------------------------------------- */

static graph_model *build_ok(const model_config *c)
{
	graph_model *m = NULL;
	sc_error err = {0};
	int rc = model_build(c, &m, &err);
	if (rc)
		fail_msg("model_build %s: %s", c->arch, err.msg);
	assert_int_equal(graph_validate(m, &err), SC_OK);
	return m;
}

static int64_t float_elements(const graph_model *m)
{
	int64_t n = 0;
	for (int i = 0; i < m->graph->n_inits; i++)
		if (m->graph->inits[i].tensor.dtype == SC_FLOAT)
			n += m->graph->inits[i].tensor.numel;
	return n;
}

static const sc_tensor *init_of(const graph_model *m, const char *name)
{
	int v = graph_find_value(m->graph, name);
	if (v < 0 || m->graph->values[v].init < 0)
		return NULL;
	return &m->graph->inits[m->graph->values[v].init].tensor;
}

static void assert_dims(const sc_tensor *t, const char *name, int rank, ...)
{
	if (!t)
		fail_msg("initializer %s is missing", name);
	assert_int_equal(t->rank, rank);
	va_list ap;
	va_start(ap, rank);
	for (int i = 0; i < rank; i++) {
		int64_t d = va_arg(ap, int64_t);
		if (t->dims[i] != d)
			fail_msg("%s dim %d is %lld, expected %lld", name, i,
				 (long long)t->dims[i], (long long)d);
	}
	va_end(ap);
}

#define DIMS(m, name, rank, ...) assert_dims(init_of(m, name), name, rank, __VA_ARGS__)

static const char *output_name(const graph_model *m, int i)
{
	return m->graph->values[m->graph->outputs[i]].name;
}

/* The type the graph declares or infers for value `name`. */
static const graph_type *type_of(const graph_model *m, const char *name)
{
	int v = graph_find_value(m->graph, name);
	assert_true(v >= 0);
	return &m->graph->values[v].type;
}

static void assert_batch_2d(const graph_type *t, int64_t d)
{
	assert_int_equal(t->kind, GRAPH_TYPE_TENSOR);
	assert_int_equal(t->elem, SC_FLOAT);
	assert_int_equal(t->rank, 2);
	assert_non_null(t->dims[0].param);
	assert_string_equal(t->dims[0].param, "N");
	assert_int_equal(t->dims[1].value, d);
}

/* Seeded uniform [-1, 1) input [n, c, h, w]. */
static sc_tensor random_input(int64_t n, int64_t c, int64_t h, int64_t w,
			      uint64_t seed)
{
	sc_tensor t;
	sc_error err = {0};
	int64_t dims[4] = {n, c, h, w};
	assert_int_equal(tensor_alloc(&t, SC_FLOAT, 4, dims, "x", &err), SC_OK);
	rng r;
	rng_init(&r, seed, 0);
	float *x = t.data;
	for (int64_t i = 0; i < t.numel; i++)
		x[i] = (float)rng_range(&r, -1.0, 1.0);
	return t;
}

/* Runs m on x (input "input") and copies every output into outs[]. */
static void run_model(graph_model *m, const sc_tensor *x, sc_tensor *outs, int n_outs)
{
	plan *p = NULL;
	sc_error err = {0};
	plan_options opt = {0};
	opt.threads = 2;
	if (plan_create(m, &opt, &p, &err))
		fail_msg("plan_create: %s", err.msg);
	const char *names[] = {"input"};
	const sc_tensor *ins[] = {x};
	if (plan_run(p, 1, names, ins, &err))
		fail_msg("plan_run: %s", err.msg);
	assert_int_equal(plan_output_count(p), n_outs);
	for (int i = 0; i < n_outs; i++)
		assert_int_equal(tensor_copy(&outs[i], plan_output(p, i), &err), SC_OK);
	plan_free(p);
}

static double max_rel_error(const sc_tensor *got, const double *ref)
{
	const float *g = got->data;
	double scale = 0, diff = 0;
	for (int64_t i = 0; i < got->numel; i++) {
		scale = fmax(scale, fabs(ref[i]));
		diff = fmax(diff, fabs((double)g[i] - ref[i]));
	}
	return scale > 0 ? diff / scale : diff;
}

/* --- element counts against torchvision -------------------------------------------- */

typedef struct count_case {
	const char *arch;
	model_stem stem;
	int64_t width, in_c, in_h, classes;
	int64_t elements;       /* torchvision state_dict, no num_batches_tracked */
	int64_t feature_dim;
} count_case;

static const count_case count_cases[] = {
	{"resnet18", MODEL_STEM_IMAGENET, 64, 3, 224, 1000, 11699112, 512},
	{"resnet50", MODEL_STEM_IMAGENET, 64, 3, 224, 1000, 25610152, 2048},
	{"resnet18", MODEL_STEM_CIFAR, 64, 3, 32, 10, 11183562, 512},
	{"resnet18", MODEL_STEM_CIFAR, 16, 1, 28, 10, 703578, 128},
	{"resnet34", MODEL_STEM_CIFAR, 16, 1, 28, 10, 1338586, 128},
	{"resnet50", MODEL_STEM_CIFAR, 16, 1, 28, 10, 1497178, 512},
	{"resnet101", MODEL_STEM_CIFAR, 16, 1, 28, 10, 2707034, 512},
	{"resnet152", MODEL_STEM_CIFAR, 16, 1, 28, 10, 3704922, 512},
	{"resnet200", MODEL_STEM_CIFAR, 16, 1, 28, 10, 3995738, 512},
	{"resnet18", MODEL_STEM_IMAGENET, 8, 1, 28, 0, 177128, 64},
	{"resnet34", MODEL_STEM_IMAGENET, 8, 1, 28, 0, 336808, 64},
	{"resnet50", MODEL_STEM_IMAGENET, 8, 1, 28, 0, 380008, 256},
	{"resnet101", MODEL_STEM_IMAGENET, 8, 1, 28, 0, 689000, 256},
	{"resnet152", MODEL_STEM_IMAGENET, 8, 1, 28, 0, 944232, 256},
	{"resnet200", MODEL_STEM_IMAGENET, 8, 1, 28, 0, 1020008, 256},
};

static void test_counts_match_torchvision(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof count_cases / sizeof *count_cases; i++) {
		const count_case *k = &count_cases[i];
		model_config c;
		model_config_init(&c);
		c.arch = k->arch;
		c.stem = k->stem;
		c.width = k->width;
		c.in_c = k->in_c;
		c.in_h = c.in_w = k->in_h;
		c.classes = k->classes;
		graph_model *m = build_ok(&c);
		int64_t n = float_elements(m);
		if (n != k->elements || model_param_elements(&c) != k->elements)
			fail_msg("%s stem %d width %lld: %lld elements (counted %lld), "
				 "torchvision has %lld", k->arch, (int)k->stem,
				 (long long)k->width, (long long)n,
				 (long long)model_param_elements(&c), (long long)k->elements);
		assert_int_equal(model_feature_dim(&c), k->feature_dim);

		/* one input "input" [N, C, H, W]; "features" [N, F] */
		const graph *g = m->graph;
		assert_int_equal(g->n_inputs, 1);
		const graph_type *t = &g->values[g->inputs[0]].type;
		assert_string_equal(g->values[g->inputs[0]].name, "input");
		assert_int_equal(t->rank, 4);
		assert_string_equal(t->dims[0].param, "N");
		assert_int_equal(t->dims[1].value, k->in_c);
		assert_int_equal(t->dims[2].value, k->in_h);
		assert_int_equal(g->n_outputs, 1);
		assert_string_equal(output_name(m, 0), k->classes ? "logits" : "features");
		sc_error err = {0};
		assert_int_equal(graph_infer_shapes(m, &err), SC_OK);
		assert_batch_2d(type_of(m, "features"), k->feature_dim);
		if (k->classes)
			assert_batch_2d(type_of(m, "logits"), k->classes);
		graph_model_free(m);
	}
}

static void test_names_and_shapes(void **state)
{
	(void)state;
	model_config c;
	model_config_init(&c);
	c.width = 8;
	c.in_c = 2;
	c.classes = 5;
	graph_model *m = build_ok(&c);
	DIMS(m, "conv1.weight", 4, (int64_t)8, (int64_t)2, (int64_t)7, (int64_t)7);
	DIMS(m, "bn1.running_var", 1, (int64_t)8);
	DIMS(m, "layer1.0.conv1.weight", 4, (int64_t)8, (int64_t)8, (int64_t)3, (int64_t)3);
	DIMS(m, "layer2.0.downsample.0.weight", 4, (int64_t)16, (int64_t)8, (int64_t)1, (int64_t)1);
	DIMS(m, "layer2.0.downsample.1.running_mean", 1, (int64_t)16);
	DIMS(m, "layer4.1.bn2.bias", 1, (int64_t)64);
	DIMS(m, "fc.weight", 2, (int64_t)5, (int64_t)64);
	DIMS(m, "fc.bias", 1, (int64_t)5);
	/* BasicBlock keeps the width in layer1: no downsample there */
	assert_null(init_of(m, "layer1.0.downsample.0.weight"));
	assert_null(init_of(m, "bn1.num_batches_tracked"));
	assert_true(graph_find_value(m->graph, "maxpool") >= 0);
	/* torch's BN: eps 1e-5, momentum 0.1 (ONNX writes 1 - that) */
	int bns = 0;
	for (int i = 0; i < m->graph->n_nodes; i++) {
		const graph_node *n = &m->graph->nodes[i];
		if (strcmp(n->op_type, "BatchNormalization"))
			continue;
		const graph_attr *eps = graph_node_attr(n, "epsilon");
		const graph_attr *mom = graph_node_attr(n, "momentum");
		assert_true(eps && eps->f == 1e-5f && mom && mom->f == 0.9f);
		bns++;
	}
	assert_int_equal(bns, 20);
	graph_model_free(m);

	/* Bottleneck: stride on the 3x3 (v1.5), 4x expansion, downsample in
	 * layer1 already (64 -> 256) */
	c.arch = "resnet50";
	c.stem = MODEL_STEM_CIFAR;
	c.classes = 0;
	m = build_ok(&c);
	DIMS(m, "conv1.weight", 4, (int64_t)8, (int64_t)2, (int64_t)3, (int64_t)3);
	DIMS(m, "layer1.0.downsample.0.weight", 4, (int64_t)32, (int64_t)8, (int64_t)1, (int64_t)1);
	DIMS(m, "layer3.5.conv3.weight", 4, (int64_t)128, (int64_t)32, (int64_t)1, (int64_t)1);
	assert_null(init_of(m, "layer3.6.conv1.weight"));
	assert_null(init_of(m, "layer1.1.downsample.0.weight"));
	assert_true(graph_find_value(m->graph, "maxpool") < 0);
	int found = 0;
	for (int i = 0; i < m->graph->n_nodes; i++) {
		const graph_node *n = &m->graph->nodes[i];
		if (strcmp(n->name, "layer2.0.conv2") && strcmp(n->name, "layer2.0.conv1"))
			continue;
		const graph_attr *s = graph_node_attr(n, "strides");
		assert_non_null(s);
		assert_int_equal(s->ints[0], strcmp(n->name, "layer2.0.conv2") ? 1 : 2);
		found++;
	}
	assert_int_equal(found, 2);
	graph_model_free(m);
}

static void test_heads(void **state)
{
	(void)state;
	model_config c;
	model_config_init(&c);
	c.stem = MODEL_STEM_CIFAR;
	c.width = 4;
	c.in_c = 1;
	c.in_h = c.in_w = 28;
	sc_error err = {0};

	assert_int_equal(model_parse_head("mlp:24:12", &c.head, &err), SC_OK);
	graph_model *m = build_ok(&c);
	DIMS(m, "head.0.weight", 2, (int64_t)24, (int64_t)32);
	DIMS(m, "head.2.weight", 2, (int64_t)12, (int64_t)24);
	DIMS(m, "head.2.bias", 1, (int64_t)12);
	assert_int_equal(m->graph->n_outputs, 1);
	assert_string_equal(output_name(m, 0), "embedding");
	assert_batch_2d(type_of(m, "embedding"), 12);
	graph_model_free(m);

	/* mlp:D: hidden = the feature dim */
	assert_int_equal(model_parse_head("mlp:7", &c.head, &err), SC_OK);
	c.classes = 3;
	m = build_ok(&c);
	DIMS(m, "head.0.weight", 2, (int64_t)32, (int64_t)32);
	DIMS(m, "head.2.weight", 2, (int64_t)7, (int64_t)32);
	assert_int_equal(m->graph->n_outputs, 2);
	assert_string_equal(output_name(m, 0), "logits");
	assert_string_equal(output_name(m, 1), "embedding");
	assert_int_equal(float_elements(m), model_param_elements(&c));
	graph_model_free(m);

	assert_int_equal(model_parse_head("linear:9", &c.head, &err), SC_OK);
	m = build_ok(&c);
	DIMS(m, "head.weight", 2, (int64_t)9, (int64_t)32);
	DIMS(m, "head.bias", 1, (int64_t)9);
	assert_null(init_of(m, "head.0.weight"));
	assert_int_equal(float_elements(m), model_param_elements(&c));
	/* the L2 norm adds no float initializer: eps is a Constant node */
	int consts = 0;
	for (int i = 0; i < m->graph->n_nodes; i++)
		consts += !strcmp(m->graph->nodes[i].op_type, "Constant");
	assert_int_equal(consts, 1);
	graph_model_free(m);
}

/* --- numbers ---------------------------------------------------------------------- */

static void test_initialisation(void **state)
{
	(void)state;
	model_config c;
	model_config_init(&c);
	c.width = 64;
	c.in_h = c.in_w = 32;
	c.classes = 100;
	c.seed = 3;
	graph_model *m = build_ok(&c);

	/* kaiming_normal_(mode=fan_out, relu): std sqrt(2 / (out * k * k));
	 * this conv has 256 inputs, so fan_in would give another std */
	const sc_tensor *w = init_of(m, "layer4.0.conv1.weight");
	const float *x = w->data;
	double sum = 0, sq = 0;
	for (int64_t i = 0; i < w->numel; i++) {
		sum += x[i];
		sq += (double)x[i] * x[i];
	}
	double mean = sum / (double)w->numel, sd = sqrt(sq / (double)w->numel - mean * mean);
	double want = sqrt(2.0 / (512.0 * 9.0));
	assert_true(fabs(mean) < 0.01 * want);
	assert_true(fabs(sd / want - 1) < 0.01);

	/* nn.Linear: uniform +-1/sqrt(fan_in), variance bound^2 / 3 */
	const sc_tensor *fc = init_of(m, "fc.weight");
	double bound = 1.0 / sqrt(512.0), var = 0, lo = 1, hi = -1;
	x = fc->data;
	for (int64_t i = 0; i < fc->numel; i++) {
		var += (double)x[i] * x[i];
		lo = fmin(lo, x[i]);
		hi = fmax(hi, x[i]);
	}
	var /= (double)fc->numel;
	assert_true(lo >= -bound && hi <= bound);
	assert_true(lo < -0.99 * bound && hi > 0.99 * bound);
	assert_true(fabs(var / (bound * bound / 3) - 1) < 0.03);
	x = init_of(m, "fc.bias")->data;
	for (int i = 0; i < 100; i++)
		assert_true(fabs(x[i]) <= bound);

	/* BN: gamma 1, beta 0, mean 0, var 1 */
	const float *g = init_of(m, "layer1.0.bn2.weight")->data;
	const float *b = init_of(m, "layer1.0.bn2.bias")->data;
	const float *v = init_of(m, "layer3.0.downsample.1.running_var")->data;
	const float *mu = init_of(m, "layer3.0.downsample.1.running_mean")->data;
	for (int i = 0; i < 64; i++)
		assert_true(g[i] == 1.0f && b[i] == 0.0f && v[i] == 1.0f && mu[i] == 0.0f);

	/* each tensor depends on (seed, its name): another seed changes it,
	 * adding a head or dropping the classifier does not */
	model_config c2 = c;
	c2.seed = 4;
	graph_model *m2 = build_ok(&c2);
	assert_false(tensor_equal(w, init_of(m2, "layer4.0.conv1.weight")));
	graph_model_free(m2);
	c2 = c;
	c2.classes = 0;
	c2.head.kind = MODEL_HEAD_MLP;
	c2.head.dim = 16;
	m2 = build_ok(&c2);
	assert_true(tensor_equal(w, init_of(m2, "layer4.0.conv1.weight")));
	assert_true(tensor_equal(init_of(m, "conv1.weight"), init_of(m2, "conv1.weight")));
	/* and tensors of one model differ from each other */
	assert_false(tensor_equal(init_of(m, "layer1.0.conv1.weight"),
				  init_of(m, "layer1.0.conv2.weight")));
	graph_model_free(m2);
	graph_model_free(m);
}

static void test_zero_init_residual(void **state)
{
	(void)state;
	const char *archs[] = {"resnet18", "resnet50"};
	const char *last[] = {"bn2", "bn3"};
	for (int a = 0; a < 2; a++) {
		model_config c;
		model_config_init(&c);
		c.arch = archs[a];
		c.width = 4;
		c.in_h = c.in_w = 16;
		c.zero_init_residual = 1;
		graph_model *m = build_ok(&c);
		int zeroed = 0;
		for (int i = 0; i < m->graph->n_inits; i++) {
			const char *name = m->graph->values[m->graph->inits[i].value].name;
			size_t len = strlen(name);
			if (len < 7 || strcmp(name + len - 7, ".weight") || !strstr(name, "bn") ||
			    m->graph->inits[i].tensor.rank != 1)
				continue;
			const float *gamma = m->graph->inits[i].tensor.data;
			char want_suffix[16];
			snprintf(want_suffix, sizeof want_suffix, ".%s.weight", last[a]);
			int is_last = strstr(name, want_suffix) && strncmp(name, "layer", 5) == 0;
			if (is_last)
				zeroed++;
			if (gamma[0] != (is_last ? 0.0f : 1.0f))
				fail_msg("%s %s gamma is %g", archs[a], name, gamma[0]);
		}
		/* one per block: 8 in resnet18, 16 in resnet50 */
		assert_int_equal(zeroed, a ? 16 : 8);
		graph_model_free(m);
	}
}

/* logits = features W^T + b and embedding = normalize(MLP(features)), in
 * double from the "features" of a model built without them. */
static void test_outputs_against_features(void **state)
{
	(void)state;
	model_config c;
	model_config_init(&c);
	c.stem = MODEL_STEM_CIFAR;
	c.width = 4;
	c.in_c = 1;
	c.in_h = c.in_w = 12;
	c.seed = 11;
	graph_model *enc = build_ok(&c);
	c.classes = 3;
	c.head.kind = MODEL_HEAD_MLP;
	c.head.hidden = 10;
	c.head.dim = 6;
	graph_model *full = build_ok(&c);

	const int64_t n = 5, f = 32;
	sc_tensor x = random_input(n, 1, 12, 12, 1), feat, outs[2];
	run_model(enc, &x, &feat, 1);
	run_model(full, &x, outs, 2);
	assert_int_equal(feat.dims[1], f);

	const float *F = feat.data;
	const float *W = init_of(full, "fc.weight")->data, *B = init_of(full, "fc.bias")->data;
	const float *W0 = init_of(full, "head.0.weight")->data;
	const float *B0 = init_of(full, "head.0.bias")->data;
	const float *W2 = init_of(full, "head.2.weight")->data;
	const float *B2 = init_of(full, "head.2.bias")->data;
	double logits[5 * 3], emb[5 * 6];
	for (int64_t i = 0; i < n; i++) {
		for (int k = 0; k < 3; k++) {
			double s = B[k];
			for (int64_t j = 0; j < f; j++)
				s += (double)F[i * f + j] * W[k * f + j];
			logits[i * 3 + k] = s;
		}
		double h[10], norm = 0;
		for (int k = 0; k < 10; k++) {
			double s = B0[k];
			for (int64_t j = 0; j < f; j++)
				s += (double)F[i * f + j] * W0[k * f + j];
			h[k] = s > 0 ? s : 0;
		}
		for (int k = 0; k < 6; k++) {
			double s = B2[k];
			for (int j = 0; j < 10; j++)
				s += h[j] * W2[k * 10 + j];
			emb[i * 6 + k] = s;
			norm += s * s;
		}
		norm = fmax(sqrt(norm), 1e-12);
		for (int k = 0; k < 6; k++)
			emb[i * 6 + k] /= norm;
	}
	assert_true(max_rel_error(&outs[0], logits) < 1e-5);
	assert_true(max_rel_error(&outs[1], emb) < 1e-5);
	const float *e = outs[1].data;
	for (int64_t i = 0; i < n; i++) {
		double s = 0;
		for (int k = 0; k < 6; k++)
			s += (double)e[i * 6 + k] * e[i * 6 + k];
		assert_true(fabs(s - 1) < 1e-5);
	}
	tensor_free(&x);
	tensor_free(&feat);
	tensor_free(&outs[0]);
	tensor_free(&outs[1]);
	graph_model_free(enc);
	graph_model_free(full);
}

/* Opsets 9-16 write other node versions (BN 9 vs 14/15, Flatten, Gemm);
 * they must compute what opset 17 computes. */
static void test_opsets_agree(void **state)
{
	(void)state;
	model_config c;
	model_config_init(&c);
	c.width = 4;
	c.in_h = c.in_w = 20;
	c.classes = 4;
	c.head.kind = MODEL_HEAD_LINEAR;
	c.head.dim = 5;
	sc_tensor x = random_input(2, 3, 20, 20, 2), ref[2];
	graph_model *m = build_ok(&c);
	run_model(m, &x, ref, 2);
	graph_model_free(m);
	for (int64_t opset = MODEL_OPSET_MIN; opset < MODEL_OPSET_MAX; opset++) {
		c.opset = opset;
		m = build_ok(&c);
		assert_int_equal(graph_model_opset(m, ""), opset);
		sc_tensor got[2];
		run_model(m, &x, got, 2);
		for (int k = 0; k < 2; k++) {
			const float *a = got[k].data, *b = ref[k].data;
			assert_int_equal(got[k].numel, ref[k].numel);
			for (int64_t i = 0; i < got[k].numel; i++)
				if (fabsf(a[i] - b[i]) > 1e-5f * (1 + fabsf(b[i])))
					fail_msg("opset %lld output %d [%lld]: %g vs %g",
						 (long long)opset, k, (long long)i, a[i], b[i]);
			tensor_free(&got[k]);
		}
		graph_model_free(m);
	}
	tensor_free(&ref[0]);
	tensor_free(&ref[1]);
	tensor_free(&x);
}

/* A saved and reloaded model is the same model. */
static void test_save_roundtrip(void **state)
{
	(void)state;
	model_config c;
	model_config_init(&c);
	c.arch = "resnet34";
	c.width = 4;
	c.in_h = c.in_w = 28;
	c.classes = 10;
	c.head.kind = MODEL_HEAD_MLP;
	c.head.dim = 8;
	graph_model *m = build_ok(&c), *back = NULL;
	void *buf = NULL;
	size_t len = 0;
	sc_error err = {0};
	assert_int_equal(onnx_save_memory(m, &buf, &len, &err), SC_OK);
	assert_int_equal(onnx_load_memory(buf, len, NULL, "built", &back, &err), SC_OK);
	char why[256] = "";
	if (!graph_model_equal(m, back, why, sizeof why))
		fail_msg("reloaded model differs: %s", why);
	assert_int_equal(back->ir_version, 8);
	free(buf);
	graph_model_free(back);
	graph_model_free(m);
}

/* --- parsing and limits ----------------------------------------------------------------- */

static void test_parse(void **state)
{
	(void)state;
	sc_error err = {0};
	model_head h;
	assert_int_equal(model_parse_head("none", &h, &err), SC_OK);
	assert_int_equal(h.kind, MODEL_HEAD_NONE);
	assert_int_equal(model_parse_head("linear:128", &h, &err), SC_OK);
	assert_true(h.kind == MODEL_HEAD_LINEAR && h.dim == 128);
	assert_int_equal(model_parse_head("mlp:128", &h, &err), SC_OK);
	assert_true(h.kind == MODEL_HEAD_MLP && h.dim == 128 && h.hidden == 0);
	assert_int_equal(model_parse_head("mlp:2048:128", &h, &err), SC_OK);
	assert_true(h.kind == MODEL_HEAD_MLP && h.dim == 128 && h.hidden == 2048);
	const char *bad_heads[] = {"", "mlp", "mlp:", "mlp:0", "mlp:1:2:3", "mlp::4",
				   "linear", "linear:-3", "linear:1e3", "linear:4:4",
				   "Linear:4", "mlp:4 ", "mlp:99999999999999999999",
				   "linear:1048577", "conv:3"};
	for (size_t i = 0; i < sizeof bad_heads / sizeof *bad_heads; i++) {
		sc_error_clear(&err);
		if (model_parse_head(bad_heads[i], &h, &err) != SC_EINVAL)
			fail_msg("head '%s' was accepted", bad_heads[i]);
		assert_non_null(strstr(err.msg, "head '"));
		assert_non_null(strstr(err.msg, bad_heads[i]));
	}

	int64_t chw[3];
	assert_int_equal(model_parse_shape("1x28x28", chw, &err), SC_OK);
	assert_true(chw[0] == 1 && chw[1] == 28 && chw[2] == 28);
	assert_int_equal(model_parse_shape("3x224x200", chw, &err), SC_OK);
	assert_true(chw[0] == 3 && chw[1] == 224 && chw[2] == 200);
	const char *bad_shapes[] = {"", "1x28", "0x28x28", "1x28x28x1", "axbxc", "1x28x",
				    "1x28x99999999", "1X28X28", "-1x28x28", "1 x28x28"};
	for (size_t i = 0; i < sizeof bad_shapes / sizeof *bad_shapes; i++) {
		sc_error_clear(&err);
		if (model_parse_shape(bad_shapes[i], chw, &err) != SC_EINVAL)
			fail_msg("shape '%s' was accepted", bad_shapes[i]);
		assert_non_null(strstr(err.msg, "CxHxW"));
	}

	model_stem s;
	assert_int_equal(model_parse_stem("cifar", &s, &err), SC_OK);
	assert_int_equal(s, MODEL_STEM_CIFAR);
	assert_int_equal(model_parse_stem("imagenet", &s, &err), SC_OK);
	assert_int_equal(s, MODEL_STEM_IMAGENET);
	assert_int_equal(model_parse_stem("resnet", &s, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "resnet"));
}

static void test_config_errors(void **state)
{
	(void)state;
	struct {
		const char *arch;
		int64_t width, opset, classes, in_c;
		const char *needle;
	} cases[] = {
		{"resnet19", 64, 17, 0, 3, "resnet19"},
		{NULL, 64, 17, 0, 3, "arch"},
		{"resnet18", 0, 17, 0, 3, "width"},
		{"resnet18", 64, 8, 0, 3, "opset"},
		{"resnet18", 64, 18, 0, 3, "opset"},
		{"resnet18", 64, 17, -1, 3, "classes"},
		{"resnet18", 64, 17, 0, 0, "input shape"},
		/* 4096 wide resnet200: ~4e12 parameters, refused before allocating */
		{"resnet200", 4096, 17, 0, 3, "parameters"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		model_config c;
		model_config_init(&c);
		c.arch = cases[i].arch;
		c.width = cases[i].width;
		c.opset = cases[i].opset;
		c.classes = cases[i].classes;
		c.in_c = cases[i].in_c;
		graph_model *m = (graph_model *)&c;   /* must be reset to NULL */
		sc_error err = {0};
		assert_int_equal(model_build(&c, &m, &err), SC_EINVAL);
		assert_null(m);
		if (!strstr(err.msg, cases[i].needle))
			fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].needle);
		assert_int_equal(model_param_elements(&c), -1);
	}
	model_config c;
	model_config_init(&c);
	c.arch = "resnet99";
	assert_int_equal(model_feature_dim(&c), -1);
	assert_false(model_arch_known("resnet99"));
	assert_true(model_arch_known("resnet200"));

	/* appenders refuse what they cannot build */
	c.arch = "resnet18";
	c.width = 2;
	c.in_h = c.in_w = 8;
	graph_model *m = build_ok(&c);
	int features = graph_find_value(m->graph, "features"), out;
	sc_error err = {0};
	assert_int_equal(model_add_linear(m, features, 16, 0, "fc", 0, &out, &err), SC_EINVAL);
	assert_int_equal(model_add_linear(m, 9999, 16, 3, "fc", 0, &out, &err), SC_EINVAL);
	assert_int_equal(model_add_linear(m, features, 16, 3, "", 0, &out, &err), SC_EINVAL);
	assert_int_equal(model_add_linear(m, features, 16, 3, "fc", 0, &out, &err), SC_OK);
	/* a second "fc" would redefine fc.weight */
	assert_int_equal(model_add_linear(m, features, 16, 3, "fc", 0, &out, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "fc.weight"));
	model_head h = {MODEL_HEAD_MLP, -1, 4};
	assert_int_equal(model_add_head(m, features, 16, &h, "head", 0, &out, &err), SC_EINVAL);
	h.kind = MODEL_HEAD_NONE;
	assert_int_equal(model_add_head(m, features, 16, &h, "head", 0, &out, &err), SC_OK);
	assert_int_equal(out, features);
	graph_model_free(m);
}

/* model_add_l2norm on its own, at opsets before and after Max broadcasts:
 * unit rows, and the direction of x kept. */
static void test_l2norm(void **state)
{
	(void)state;
	const int64_t opsets[] = {7, 13, 17};
	for (int k = 0; k < 3; k++) {
		graph_model *m = model(opsets[k]);
		graph *g = m->graph;
		int x = input(g, "input", SC_FLOAT, "N,4"), y;
		sc_error err = {0};
		assert_int_equal(model_add_l2norm(m, x, &y, &err), SC_OK);
		push_output(g, y);
		assert_int_equal(graph_validate(m, &err), SC_OK);
		assert_int_equal(g->n_inits, 0);
		float data[3 * 4] = {3, 0, 4, 0, 0, 0, 0, 0, -1, 2, -2, 4};
		int64_t dims[2] = {3, 4};
		sc_tensor t, out;
		assert_int_equal(tensor_alloc(&t, SC_FLOAT, 2, dims, "x", &err), SC_OK);
		memcpy(t.data, data, sizeof data);
		run_model(m, &t, &out, 1);
		const float *o = out.data;
		const float want[12] = {0.6f, 0, 0.8f, 0, 0, 0, 0, 0, -0.2f, 0.4f, -0.4f, 0.8f};
		for (int i = 0; i < 12; i++)
			if (fabsf(o[i] - want[i]) > 1e-6f)
				fail_msg("opset %lld [%d]: %g, expected %g", (long long)opsets[k],
					 i, o[i], want[i]);
		tensor_free(&t);
		tensor_free(&out);
		graph_model_free(m);
	}

	/* opset 18 moved ReduceL2's axes to an input (our runtime stops at
	 * 17, so only the structure is checked here) */
	graph_model *m = model(18);
	int x = input(m->graph, "input", SC_FLOAT, "N,4"), y;
	sc_error err = {0};
	assert_int_equal(model_add_l2norm(m, x, &y, &err), SC_OK);
	int seen = 0;
	for (int i = 0; i < m->graph->n_nodes; i++) {
		const graph_node *n = &m->graph->nodes[i];
		if (strcmp(n->op_type, "ReduceL2"))
			continue;
		seen++;
		assert_null(graph_node_attr(n, "axes"));
		assert_int_equal(n->n_inputs, 2);
		const graph_node *c = &m->graph->nodes[m->graph->values[n->inputs[1]].producer];
		assert_string_equal(c->op_type, "Constant");
		const sc_tensor *axes = graph_node_attr(c, "value")->t;
		assert_true(axes->dtype == SC_INT64 && axes->numel == 1 &&
			    ((int64_t *)axes->data)[0] == 1);
	}
	assert_int_equal(seen, 1);
	graph_model_free(m);
}

/* --- cutting ----------------------------------------------------------------------------- */

static graph_model *cut_ok(graph_model *m, const char *name, int64_t want_dim)
{
	int64_t dim = -1;
	sc_error err = {0};
	if (model_cut_encoder(m, name, &dim, &err))
		fail_msg("model_cut_encoder: %s", err.msg);
	assert_int_equal(dim, want_dim);
	assert_int_equal(graph_validate(m, &err), SC_OK);
	assert_int_equal(m->graph->n_outputs, 1);
	return m;
}

static void test_cut_built_model(void **state)
{
	(void)state;
	model_config c;
	model_config_init(&c);
	c.arch = "resnet50";
	c.width = 4;
	c.in_h = c.in_w = 24;
	c.seed = 5;
	graph_model *enc = build_ok(&c);
	int enc_nodes = enc->graph->n_nodes, enc_inits = enc->graph->n_inits;
	c.classes = 6;
	c.head.kind = MODEL_HEAD_MLP;
	c.head.dim = 8;
	graph_model *m = cut_ok(build_ok(&c), NULL, 128);

	/* exactly the encoder is left: same nodes, no fc or head */
	assert_string_equal(output_name(m, 0), "features");
	assert_int_equal(m->graph->n_nodes, enc_nodes);
	assert_int_equal(m->graph->n_inits, enc_inits);
	assert_null(init_of(m, "fc.weight"));
	assert_null(init_of(m, "head.0.weight"));
	assert_true(graph_find_value(m->graph, "logits") < 0);
	assert_int_equal(float_elements(m), float_elements(enc));
	/* "features" was value_info; as the output it is declared there only */
	assert_int_equal(m->graph->n_value_infos, 0);

	sc_tensor x = random_input(3, 3, 24, 24, 4), a, b;
	run_model(enc, &x, &a, 1);
	run_model(m, &x, &b, 1);
	assert_true(tensor_equal(&a, &b));
	tensor_free(&b);

	/* the dropped names are free again for new layers */
	int out;
	sc_error err = {0};
	assert_int_equal(model_add_linear_as(m, m->graph->outputs[0], 128, 2, "fc", 0,
					     "logits", &out, &err), SC_OK);

	/* a named cut inside the net: [N, 128, 1, 1] at layer4's output after
	 * pooling is fine, a 4-D map gets a Flatten */
	graph_model *m2 = cut_ok(build_ok(&c), "avgpool", 128);
	assert_string_equal(output_name(m2, 0), "features");
	sc_tensor y;
	run_model(m2, &x, &y, 1);
	assert_true(tensor_equal(&a, &y));
	tensor_free(&y);
	graph_model_free(m2);
	/* layer3 of a 24x24 input: 4 * 16 channels at 2x2 */
	m2 = cut_ok(build_ok(&c), "layer3.5.relu", 64 * 2 * 2);
	assert_null(init_of(m2, "layer4.0.conv1.weight"));
	assert_non_null(init_of(m2, "layer3.5.conv3.weight"));
	graph_model_free(m2);

	tensor_free(&a);
	tensor_free(&x);
	graph_model_free(m);
	graph_model_free(enc);
}

/* A BN-folded export in miniature: Conv with bias, Relu, a global pool in
 * one of its three spellings, Flatten or Reshape, Gemm; the classifier is
 * also an output next to a "probe" copy of the pooled features that must
 * equal the cut model's output.  initializers_as_inputs mimics exporters
 * before opset 9. */
static graph_model *folded_model(const char *pool, int64_t opset, int early_pool)
{
	graph_model *m = model(opset);
	graph *g = m->graph;
	input(g, "data", SC_FLOAT, "batch,2,6,6");
	init_shape(g, "w", "4,2,3,3");
	init_shape(g, "b", "4");
	init_shape(g, "fc_w", "3,4");
	init_shape(g, "fc_b", "3");
	init_shape(g, "unused", "5");
	rng r;
	rng_init(&r, 1, 1);
	for (int i = 0; i < g->n_inits; i++) {
		float *d = g->inits[i].tensor.data;
		for (int64_t k = 0; k < g->inits[i].tensor.numel; k++)
			d[k] = (float)rng_range(&r, -1, 1);
	}
	push_input(g, val(g, "w"));
	graph_node *n = add(g, "Conv", "conv", "data,w,b", "c");
	attr_ints(n, "pads", 4, 1, 1, 1, 1);
	add(g, "Relu", "relu", "c", "r");
	if (early_pool)   /* an auxiliary pool before the last one */
		add(g, "GlobalAveragePool", "aux_pool", "data", "aux");
	if (!strcmp(pool, "gap")) {
		add(g, "GlobalAveragePool", "pool", "r", "p");
	} else if (!strcmp(pool, "mean")) {
		n = add(g, "ReduceMean", "pool", "r", "p");
		attr_ints(n, "axes", 2, -1, 2);
	} else {
		n = add(g, "AveragePool", "pool", "r", "p");
		attr_ints(n, "kernel_shape", 2, 6, 6);
	}
	n = add(g, "Flatten", "flat", "p", "f");
	attr_int(n, "axis", 1);
	n = add(g, "Gemm", "fc", "f,fc_w,fc_b", "logits");
	attr_int(n, "transB", 1);
	add(g, "Identity", "probe", "f", "probe");
	output(g, "logits");
	output(g, "probe");
	if (early_pool)
		output(g, "aux");
	return m;
}

static void test_cut_folded(void **state)
{
	(void)state;
	const char *pools[] = {"gap", "mean", "avg"};
	for (int k = 0; k < 3; k++) {
		for (int early = 0; early < 2; early++) {
			graph_model *m = folded_model(pools[k], k == 2 ? 7 : 13, early);
			sc_tensor x = random_input(2, 2, 6, 6, 3), ref[3], got;
			const char *names[] = {"data"};
			const sc_tensor *ins[] = {&x};
			plan *p = NULL;
			sc_error err = {0};
			assert_int_equal(plan_create(m, NULL, &p, &err), SC_OK);
			assert_int_equal(plan_run(p, 1, names, ins, &err), SC_OK);
			assert_int_equal(tensor_copy(&ref[1], plan_output(p, 1), &err), SC_OK);
			plan_free(p);

			cut_ok(m, NULL, 4);
			const graph *g = m->graph;
			assert_string_equal(output_name(m, 0), "f");
			assert_null(init_of(m, "fc_w"));
			assert_null(init_of(m, "unused"));
			assert_non_null(init_of(m, "w"));
			/* inputs: data and the initializer w, listed as before */
			assert_int_equal(g->n_inputs, 2);
			assert_true(graph_find_value(g, "aux") < 0);
			assert_true(graph_find_value(g, "probe") < 0);

			assert_int_equal(plan_create(m, NULL, &p, &err), SC_OK);
			assert_int_equal(plan_run(p, 1, names, ins, &err), SC_OK);
			assert_int_equal(tensor_copy(&got, plan_output(p, 0), &err), SC_OK);
			plan_free(p);
			assert_true(tensor_equal(&got, &ref[1]));

			/* IR 3 (opset 7 exports) lists every initializer as an
			 * input; appended layers follow suit */
			m->ir_version = k == 2 ? 3 : 8;
			int z, n_in = m->graph->n_inputs;
			assert_int_equal(model_add_linear(m, m->graph->outputs[0], 4, 2,
							  "probe_fc", 0, &z, &err), SC_OK);
			assert_int_equal(m->graph->n_inputs, n_in + (k == 2 ? 2 : 0));
			assert_int_equal(graph_validate(m, &err), SC_OK);

			/* and it saves and passes our loader again */
			void *buf = NULL;
			size_t len = 0;
			graph_model *back = NULL;
			assert_int_equal(onnx_save_memory(m, &buf, &len, &err), SC_OK);
			assert_int_equal(onnx_load_memory(buf, len, NULL, "cut", &back, &err),
					 SC_OK);
			free(buf);
			graph_model_free(back);
			tensor_free(&got);
			tensor_free(&ref[1]);
			tensor_free(&x);
			graph_model_free(m);
		}
	}
}

/* A branch (If) upstream of the pool reads initializer "scale" from the
 * main graph only through its subgraph: the cut must keep it, and the
 * moved subgraphs must point at their new parent. */
static graph *branch(graph *parent, const char *op, const char *out)
{
	graph *sub = graph_new(parent);
	assert_non_null(sub);
	sub->name = strdup(out);
	int d = val(sub, "data"), s = val(sub, "scale");
	sub->values[d].flags |= VALUE_OUTER;
	sub->values[s].flags |= VALUE_OUTER;
	add(sub, op, out, !strcmp(op, "Mul") ? "data,scale" : "data", out);
	output(sub, out);
	parse_type(&sub->values[val(sub, out)].type, SC_FLOAT, "N,2,6,6");
	return sub;
}

static void test_cut_keeps_subgraph_reads(void **state)
{
	(void)state;
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "data", SC_FLOAT, "N,2,6,6");
	init_shape(g, "scale", "1");
	init_shape(g, "unused", "6");
	bool cond = true;
	init_tensor(g, "cond", SC_BOOL, 0, NULL, &cond);
	graph_node *n = add(g, "If", "branch", "cond", "y");
	sc_error err = {0};
	graph_attr *a = graph_node_add_attr(n, "then_branch", ATTR_GRAPH, &err);
	a->g = branch(g, "Mul", "then_out");
	a = graph_node_add_attr(n, "else_branch", ATTR_GRAPH, &err);
	a->g = branch(g, "Identity", "else_out");
	declare(g, "y", SC_FLOAT, "N,2,6,6");
	add(g, "GlobalAveragePool", "pool", "y", "p");
	add(g, "Mul", "other", "data,unused", "z");
	output(g, "p");
	output(g, "z");
	assert_int_equal(graph_validate(m, &err), SC_OK);

	cut_ok(m, NULL, 2);
	g = m->graph;
	assert_non_null(init_of(m, "scale"));
	assert_non_null(init_of(m, "cond"));
	assert_null(init_of(m, "unused"));
	assert_int_equal(g->n_nodes, 3);   /* If, pool, the added Flatten */
	const graph_node *b = &g->nodes[0];
	assert_string_equal(b->name, "branch");
	assert_ptr_equal(graph_node_attr(b, "then_branch")->g->parent, g);
	assert_ptr_equal(graph_node_attr(b, "else_branch")->g->parent, g);
	graph_model_free(m);
}

static void test_cut_errors(void **state)
{
	(void)state;
	struct {
		const char *name;
		const char *needle;
	} cases[] = {
		{"nope", "no value of that name"},
		{"w", "initializer"},
		{"data", "not computed by any node"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		graph_model *m = folded_model("gap", 13, 0);
		sc_error err = {0};
		int64_t dim = 0;
		assert_int_equal(model_cut_encoder(m, cases[i].name, &dim, &err), SC_EINVAL);
		if (!strstr(err.msg, cases[i].needle) || !strstr(err.msg, cases[i].name))
			fail_msg("'%s' lacks '%s'", err.msg, cases[i].needle);
		graph_model_free(m);
	}

	/* no global pooling at all: a 3x3 AveragePool on a 6x6 map is not one */
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "data", SC_FLOAT, "N,2,6,6");
	graph_node *n = add(g, "AveragePool", "pool", "data", "p");
	attr_ints(n, "kernel_shape", 2, 3, 3);
	output(g, "p");
	sc_error err = {0};
	int64_t dim = 0;
	assert_int_equal(model_cut_encoder(m, NULL, &dim, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "no global average pooling"));
	/* cutting at a scalar-per-row value needs rank >= 2 */
	n = add(g, "ReduceMean", "all", "data", "s");
	attr_int(n, "keepdims", 0);
	assert_int_equal(model_cut_encoder(m, "s", &dim, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "rank 0"));
	graph_model_free(m);

	/* an unknown spatial size leaves AveragePool undecidable and the
	 * feature size unknown */
	m = model(13);
	g = m->graph;
	input(g, "data", SC_FLOAT, "N,?,?,?");
	add(g, "GlobalAveragePool", "pool", "data", "p");
	output(g, "p");
	assert_int_equal(model_cut_encoder(m, NULL, &dim, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "feature size"));
	graph_model_free(m);
}

/* --- the command --------------------------------------------------------------------------- */

static const cli_options run_opts = {DIR, 0, 0};

static void expect_usage_error(const char *const *needles, const char *const *args)
{
	cli_result r = cli_expect(&run_opts, 2, "supcon build: ", needles, args);
	cli_result_free(&r);
}

static void test_cli(void **state)
{
	(void)state;
	make_dir(DIR);
	const char *out = DIR "/r18.onnx";
	const char *ok_args[] = {"build", "resnet18", "--stem", "cifar", "--in-shape", "1x28x28",
				 "--width", "8", "--head", "mlp:16", "--classes", "10",
				 "--seed", "3", "--zero-init-residual", "-o", out, NULL};
	cli_result r = cli_expect(&run_opts, 0, NULL, NULL, ok_args);
	assert_true(one_line(r.out));
	assert_non_null(strstr(r.out, "resnet18"));
	assert_non_null(strstr(r.out, out));
	cli_result_free(&r);

	/* the file is the model model_build makes from the same options */
	model_config c;
	model_config_init(&c);
	c.stem = MODEL_STEM_CIFAR;
	c.in_c = 1;
	c.in_h = c.in_w = 28;
	c.width = 8;
	c.head.kind = MODEL_HEAD_MLP;
	c.head.dim = 16;
	c.classes = 10;
	c.seed = 3;
	c.zero_init_residual = 1;
	graph_model *want = build_ok(&c), *got = NULL;
	sc_error err = {0};
	assert_int_equal(onnx_load_file(out, &got, &err), SC_OK);
	char why[256] = "";
	if (!graph_model_equal(want, got, why, sizeof why))
		fail_msg("supcon build and model_build differ: %s", why);
	/* parameters and BN statistics: 4 and 2 per BN channel */
	int64_t bn_channels = 0;
	for (int i = 0; i < want->graph->n_inits; i++) {
		const char *name = want->graph->values[want->graph->inits[i].value].name;
		if (strstr(name, "running_var"))
			bn_channels += want->graph->inits[i].tensor.numel;
	}
	char count[128];
	snprintf(count, sizeof count, " %lld parameters (+%lld BN statistics)",
		 (long long)(float_elements(want) - 2 * bn_channels),
		 (long long)(2 * bn_channels));
	graph_model_free(want);
	graph_model_free(got);

	r = cli_expect(&run_opts, 0, NULL, NULL, ok_args);
	assert_non_null(strstr(r.out, count));
	cli_result_free(&r);

	/* a model file: cut and new heads */
	const char *cut = DIR "/cut.onnx";
	const char *cut_args[] = {"build", out, "--head", "linear:4", "-o", cut, NULL};
	r = cli_expect(&run_opts, 0, NULL, NULL, cut_args);
	assert_non_null(strstr(r.out, "encoder of"));
	cli_result_free(&r);
	assert_int_equal(onnx_load_file(cut, &got, &err), SC_OK);
	assert_int_equal(got->graph->n_outputs, 1);
	assert_string_equal(output_name(got, 0), "embedding");
	assert_null(init_of(got, "fc.weight"));
	assert_null(init_of(got, "head.0.weight"));
	DIMS(got, "head.weight", 2, (int64_t)4, (int64_t)64);
	graph_model_free(got);

	const char *help[] = {"build", "--help", NULL};
	r = cli_expect(&run_opts, 0, NULL, NULL, help);
	assert_non_null(strstr(r.out, "usage: supcon build"));
	cli_result_free(&r);

	struct {
		const char *needles[3];
		const char *args[12];
	} bad[] = {
		{{"resnet19", NULL}, {"build", "resnet19", "-o", DIR "/x.onnx", NULL}},
		{{"missing", "ARCH", NULL}, {"build", "-o", DIR "/x.onnx", NULL}},
		{{"-o", NULL}, {"build", "resnet18", NULL}},
		{{"--head", "mlp:0", NULL}, {"build", "resnet18", "--head", "mlp:0", "-o",
					     DIR "/x.onnx", NULL}},
		{{"--stem", "tiny", NULL}, {"build", "resnet18", "--stem", "tiny", "-o",
					    DIR "/x.onnx", NULL}},
		{{"--in-shape", "28x28", NULL}, {"build", "resnet18", "--in-shape", "28x28", "-o",
						 DIR "/x.onnx", NULL}},
		{{"--width", NULL}, {"build", "resnet18", "--width", "0", "-o", DIR "/x.onnx", NULL}},
		{{"--width", NULL}, {"build", "resnet18", "--width", "eight", "-o", DIR "/x.onnx",
				     NULL}},
		{{"--classes", NULL}, {"build", "resnet18", "--classes", "-1", "-o", DIR "/x.onnx",
				       NULL}},
		{{"--opset", NULL}, {"build", "resnet18", "--opset", "18", "-o", DIR "/x.onnx", NULL}},
		{{"--seed", NULL}, {"build", "resnet18", "--seed", "x", "-o", DIR "/x.onnx", NULL}},
		{{"parameters", NULL}, {"build", "resnet200", "--width", "4096", "-o", DIR "/x.onnx",
					NULL}},
		{{"--encoder-output", NULL}, {"build", "resnet18", "--encoder-output", "x", "-o",
					      DIR "/x.onnx", NULL}},
		{{"--stem", NULL}, {"build", out, "--stem", "cifar", "-o", DIR "/x.onnx", NULL}},
		{{"nope", NULL}, {"build", out, "--encoder-output", "nope", "-o", DIR "/x.onnx",
				  NULL}},
		{{"missing.onnx", NULL}, {"build", DIR "/missing.onnx", "-o", DIR "/x.onnx", NULL}},
		{{"unknown option", NULL}, {"build", "resnet18", "--depth", "3", "-o",
					    DIR "/x.onnx", NULL}},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		expect_usage_error(bad[i].needles, bad[i].args);
	/* nothing was written by the failures */
	assert_int_equal(access(DIR "/x.onnx", F_OK), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts_match_torchvision),
		cmocka_unit_test(test_names_and_shapes),
		cmocka_unit_test(test_heads),
		cmocka_unit_test(test_initialisation),
		cmocka_unit_test(test_zero_init_residual),
		cmocka_unit_test(test_outputs_against_features),
		cmocka_unit_test(test_opsets_agree),
		cmocka_unit_test(test_save_roundtrip),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_l2norm),
		cmocka_unit_test(test_cut_built_model),
		cmocka_unit_test(test_cut_folded),
		cmocka_unit_test(test_cut_keeps_subgraph_reads),
		cmocka_unit_test(test_cut_errors),
		cmocka_unit_test(test_cli),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
