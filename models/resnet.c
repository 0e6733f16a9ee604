/* resnet.c: torchvision's ResNet as an ONNX graph (model_build), and the
 * parsing of the options that describe one; see models.h.
 *
 * The graph is torchvision.models.resnet.ResNet node for node: conv
 * without bias, BatchNormalization (eps 1e-5, ONNX momentum 0.9 = torch's
 * 0.1), Relu, an ImageNet stem (7x7/2 conv, 3x3/2 max-pool) or a CIFAR one
 * (3x3/1 conv, no pool), four stages of BasicBlocks (18, 34) or
 * Bottlenecks (50 and deeper, stride on the 3x3 as in torchvision's v1.5),
 * each stage's first block downsampling through a 1x1 conv + BN when the
 * shape changes, then GlobalAveragePool and Flatten.  Names follow the
 * state_dict: "layer2.0.downsample.1.running_var" is an initializer and the
 * node that uses it is "layer2.0.downsample.1". */
#include "models.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emit.h"

#define BN_EPSILON 1e-5f
#define BN_MOMENTUM 0.9f      /* ONNX's: running = momentum * running + (1 - momentum) * batch */
#define NAME_LEN 128
#define IR_VERSION 8

typedef struct resnet_arch {
	const char *name;
	int bottleneck;
	int blocks[4];
} resnet_arch;

static const resnet_arch resnet_archs[] = {
	{"resnet18", 0, {2, 2, 2, 2}},
	{"resnet34", 0, {3, 4, 6, 3}},
	{"resnet50", 1, {3, 4, 6, 3}},
	{"resnet101", 1, {3, 4, 23, 3}},
	{"resnet152", 1, {3, 8, 36, 3}},
	{"resnet200", 1, {3, 24, 36, 3}},
};

#define N_ARCHS ((int)(sizeof resnet_archs / sizeof resnet_archs[0]))

static const resnet_arch *find_arch(const char *name)
{
	for (int i = 0; name && i < N_ARCHS; i++)
		if (strcmp(resnet_archs[i].name, name) == 0)
			return &resnet_archs[i];
	return NULL;
}

/* --- configuration --------------------------------------------------------- */

void model_config_init(model_config *c)
{
	memset(c, 0, sizeof *c);
	c->arch = "resnet18";
	c->stem = MODEL_STEM_IMAGENET;
	c->width = 64;
	c->in_c = 3;
	c->in_h = 224;
	c->in_w = 224;
	c->head.kind = MODEL_HEAD_NONE;
	c->opset = 17;
}

int model_arch_known(const char *arch)
{
	return find_arch(arch) != NULL;
}

/* A whole decimal number in [1, max] from s[0..len), no sign, no spaces. */
static int parse_size(const char *s, size_t len, int64_t max, int64_t *out)
{
	if (len == 0 || len > 18)
		return -1;
	int64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v < 1 || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Splits s at `sep` into at most `max` fields, each a size in [1, limit];
 * returns the count, or -1 when a field is not a size or there are more. */
static int parse_sizes(const char *s, char sep, int max, int64_t limit,
		       int64_t *out)
{
	int n = 0;
	for (;;) {
		const char *end = strchr(s, sep);
		size_t len = end ? (size_t)(end - s) : strlen(s);
		if (n == max || parse_size(s, len, limit, &out[n]))
			return -1;
		n++;
		if (!end)
			return n;
		s = end + 1;
	}
}

int model_parse_head(const char *spec, model_head *h, sc_error *err)
{
	int64_t v[3];
	int n = -1;
	if (!spec)
		spec = "";
	memset(h, 0, sizeof *h);
	if (strcmp(spec, "none") == 0) {
		h->kind = MODEL_HEAD_NONE;
		return SC_OK;
	}
	if (strncmp(spec, "linear:", 7) == 0) {
		n = parse_sizes(spec + 7, ':', 1, MODEL_MAX_DIM, v);
		if (n == 1) {
			h->kind = MODEL_HEAD_LINEAR;
			h->dim = v[0];
			return SC_OK;
		}
	} else if (strncmp(spec, "mlp:", 4) == 0) {
		n = parse_sizes(spec + 4, ':', 2, MODEL_MAX_DIM, v);
		if (n == 1 || n == 2) {
			h->kind = MODEL_HEAD_MLP;
			h->hidden = n == 2 ? v[0] : 0;
			h->dim = v[n - 1];
			return SC_OK;
		}
	}
	return sc_fail(err, SC_EINVAL,
		       "head '%.100s': expected none, linear:D, mlp:D or mlp:H:D "
		       "with sizes in [1, %d]", spec, MODEL_MAX_DIM);
}

int model_parse_shape(const char *spec, int64_t chw[3], sc_error *err)
{
	int64_t v[3];
	if (spec && parse_sizes(spec, 'x', 3, MODEL_MAX_SIDE, v) == 3) {
		memcpy(chw, v, sizeof v);
		return SC_OK;
	}
	return sc_fail(err, SC_EINVAL,
		       "shape '%.100s': expected CxHxW (like 3x224x224) with each "
		       "size in [1, %d]", spec ? spec : "", MODEL_MAX_SIDE);
}

int model_parse_stem(const char *spec, model_stem *s, sc_error *err)
{
	if (spec && strcmp(spec, "imagenet") == 0) {
		*s = MODEL_STEM_IMAGENET;
		return SC_OK;
	}
	if (spec && strcmp(spec, "cifar") == 0) {
		*s = MODEL_STEM_CIFAR;
		return SC_OK;
	}
	return sc_fail(err, SC_EINVAL, "stem '%.100s': expected imagenet or cifar",
		       spec ? spec : "");
}

int64_t model_feature_dim(const model_config *c)
{
	const resnet_arch *a = find_arch(c->arch);
	if (!a || c->width < 1 || c->width > MODEL_MAX_WIDTH)
		return -1;
	/* the last stage has 8 * width channels, times 4 after a Bottleneck */
	return 8 * c->width * (a->bottleneck ? 4 : 1);
}

/* --- counting ----------------------------------------------------------------- */

/* Conv weight plus its BN's four vectors. */
static int64_t conv_bn_elements(int64_t in_c, int64_t out_c, int64_t k)
{
	return out_c * in_c * k * k + 4 * out_c;
}

static int64_t block_elements(const resnet_arch *a, int64_t in_c, int64_t planes,
			      int downsample)
{
	int64_t n, out_c = a->bottleneck ? 4 * planes : planes;
	if (a->bottleneck)
		n = conv_bn_elements(in_c, planes, 1) + conv_bn_elements(planes, planes, 3) +
		    conv_bn_elements(planes, out_c, 1);
	else
		n = conv_bn_elements(in_c, planes, 3) + conv_bn_elements(planes, planes, 3);
	if (downsample)
		n += conv_bn_elements(in_c, out_c, 1);
	return n;
}

static int64_t head_elements(const model_head *h, int64_t in_dim)
{
	switch (h->kind) {
	case MODEL_HEAD_LINEAR:
		return h->dim * (in_dim + 1);
	case MODEL_HEAD_MLP: {
		int64_t hid = h->hidden ? h->hidden : in_dim;
		return hid * (in_dim + 1) + h->dim * (hid + 1);
	}
	default:
		return 0;
	}
}

/* Sizes are bounded (width <= 4096, dims <= 2^20) so that every product
 * here stays far inside int64 before the total is compared with the
 * limit. */
static int64_t count_elements(const model_config *c, const resnet_arch *a)
{
	int64_t w = c->width, in_c = w;
	int64_t n = conv_bn_elements(c->in_c, w, c->stem == MODEL_STEM_CIFAR ? 3 : 7);
	for (int s = 0; s < 4; s++) {
		int64_t planes = w << s, out_c = a->bottleneck ? 4 * planes : planes;
		for (int b = 0; b < a->blocks[s]; b++) {
			int down = b == 0 && (s > 0 || in_c != out_c);
			n += block_elements(a, in_c, planes, down);
			in_c = out_c;
		}
	}
	if (c->classes > 0)
		n += c->classes * (in_c + 1);
	return n + head_elements(&c->head, in_c);
}

int model_config_check(const model_config *c, sc_error *err)
{
	const resnet_arch *a = find_arch(c->arch);
	if (!a)
		return sc_fail(err, SC_EINVAL,
			       "arch '%.64s': expected resnet18, resnet34, resnet50, "
			       "resnet101, resnet152 or resnet200",
			       c->arch ? c->arch : "");
	if (c->stem != MODEL_STEM_IMAGENET && c->stem != MODEL_STEM_CIFAR)
		return sc_fail(err, SC_EINVAL, "stem %d: expected imagenet or cifar",
			       (int)c->stem);
	if (c->width < 1 || c->width > MODEL_MAX_WIDTH)
		return sc_fail(err, SC_EINVAL, "width %lld: expected 1 to %d",
			       (long long)c->width, MODEL_MAX_WIDTH);
	const int64_t chw[3] = {c->in_c, c->in_h, c->in_w};
	for (int i = 0; i < 3; i++)
		if (chw[i] < 1 || chw[i] > MODEL_MAX_SIDE)
			return sc_fail(err, SC_EINVAL,
				       "input shape %lldx%lldx%lld: each size must be in [1, %d]",
				       (long long)c->in_c, (long long)c->in_h,
				       (long long)c->in_w, MODEL_MAX_SIDE);
	if (c->classes < 0 || c->classes > MODEL_MAX_DIM)
		return sc_fail(err, SC_EINVAL, "classes %lld: expected 0 to %d",
			       (long long)c->classes, MODEL_MAX_DIM);
	if (c->head.kind != MODEL_HEAD_NONE) {
		if (c->head.kind != MODEL_HEAD_LINEAR && c->head.kind != MODEL_HEAD_MLP)
			return sc_fail(err, SC_EINVAL, "head: unknown kind %d",
				       (int)c->head.kind);
		if (c->head.dim < 1 || c->head.dim > MODEL_MAX_DIM ||
		    c->head.hidden < 0 || c->head.hidden > MODEL_MAX_DIM)
			return sc_fail(err, SC_EINVAL,
				       "head sizes %lld:%lld: expected 1 to %d",
				       (long long)c->head.hidden, (long long)c->head.dim,
				       MODEL_MAX_DIM);
	}
	if (c->opset < MODEL_OPSET_MIN || c->opset > MODEL_OPSET_MAX)
		return sc_fail(err, SC_EINVAL, "opset %lld: expected %d to %d",
			       (long long)c->opset, MODEL_OPSET_MIN, MODEL_OPSET_MAX);
	int64_t n = count_elements(c, a);
	if (n > MODEL_MAX_ELEMENTS)
		return sc_fail(err, SC_EINVAL,
			       "%s width %lld has %lld parameters, more than the %lld "
			       "supcon builds", a->name, (long long)c->width, (long long)n,
			       (long long)MODEL_MAX_ELEMENTS);
	return SC_OK;
}

int64_t model_param_elements(const model_config *c)
{
	if (model_config_check(c, NULL))
		return -1;
	return count_elements(c, find_arch(c->arch));
}

/* --- building --------------------------------------------------------------- */

typedef struct builder {
	graph *g;
	uint64_t seed;
	int zero_init_residual;
	sc_error *err;
} builder;

/* Conv `name` without bias, weight "<name>.weight" drawn like torchvision's
 * kaiming_normal_(mode="fan_out", nonlinearity="relu"). */
static int add_conv(builder *b, int x, int64_t in_c, int64_t out_c, int64_t k,
		    int64_t stride, int64_t pad, const char *name, int *y)
{
	char wname[NAME_LEN];
	int w, node, rc;
	float *wd;
	int64_t dims[4] = {out_c, in_c, k, k};
	snprintf(wname, sizeof wname, "%s.weight", name);
	if ((rc = emit_param(b->g, wname, 4, dims, &w, &wd, b->err)))
		return rc;
	emit_fill_normal(wd, out_c * in_c * k * k, sqrt(2.0 / (double)(out_c * k * k)),
			 b->seed, wname);
	int ins[2] = {x, w};
	int64_t kernel[2] = {k, k}, strides[2] = {stride, stride},
		pads[4] = {pad, pad, pad, pad};
	if ((rc = emit_value(b->g, name, y, b->err)) ||
	    (rc = emit_node(b->g, "Conv", name, 2, ins, 1, y, &node, b->err)) ||
	    (rc = emit_attr_ints(b->g, node, "kernel_shape", 2, kernel, b->err)) ||
	    (rc = emit_attr_ints(b->g, node, "strides", 2, strides, b->err)) ||
	    (rc = emit_attr_ints(b->g, node, "pads", 4, pads, b->err)))
		return rc;
	return SC_OK;
}

/* BatchNormalization `name` over c channels: gamma (1, or 0 when zero is
 * set), beta 0, running mean 0, running var 1. */
static int add_bn(builder *b, int x, int64_t c, int zero, const char *name, int *y)
{
	static const char *const suffix[4] = {"weight", "bias", "running_mean",
					      "running_var"};
	const float fill[4] = {zero ? 0.0f : 1.0f, 0.0f, 0.0f, 1.0f};
	int ins[5] = {x}, node, rc;
	for (int i = 0; i < 4; i++) {
		char pname[NAME_LEN];
		float *d;
		snprintf(pname, sizeof pname, "%s.%s", name, suffix[i]);
		if ((rc = emit_param(b->g, pname, 1, &c, &ins[1 + i], &d, b->err)))
			return rc;
		emit_fill_const(d, c, fill[i]);
	}
	if ((rc = emit_value(b->g, name, y, b->err)) ||
	    (rc = emit_node(b->g, "BatchNormalization", name, 5, ins, 1, y, &node,
			    b->err)) ||
	    (rc = emit_attr_float(b->g, node, "epsilon", BN_EPSILON, b->err)) ||
	    (rc = emit_attr_float(b->g, node, "momentum", BN_MOMENTUM, b->err)))
		return rc;
	return SC_OK;
}

static int add_unary(builder *b, const char *op, int x, const char *name, int *y)
{
	int rc = emit_value(b->g, name, y, b->err);
	return rc ? rc : emit_node(b->g, op, name, 1, &x, 1, y, NULL, b->err);
}

/* conv -> bn (-> relu): the unit every block repeats.  `prefix` is the
 * block ("layer1.0"), `idx` the conv's number in it; relu < 0 for none. */
static int add_conv_bn(builder *b, int x, int64_t in_c, int64_t out_c, int64_t k,
		       int64_t stride, const char *prefix, int idx, int zero,
		       int relu, int *y)
{
	char cname[NAME_LEN], bname[NAME_LEN], rname[NAME_LEN];
	snprintf(cname, sizeof cname, "%s.conv%d", prefix, idx);
	snprintf(bname, sizeof bname, "%s.bn%d", prefix, idx);
	snprintf(rname, sizeof rname, "%s.relu%d", prefix, idx);
	int c, n, rc;
	if ((rc = add_conv(b, x, in_c, out_c, k, stride, k / 2, cname, &c)) ||
	    (rc = add_bn(b, c, out_c, zero, bname, &n)))
		return rc;
	if (!relu) {
		*y = n;
		return SC_OK;
	}
	return add_unary(b, "Relu", n, rname, y);
}

/* One residual block "layerS.B"; *c is the channel count in, then out. */
static int add_block(builder *b, const resnet_arch *a, int x, int64_t *c,
		     int64_t planes, int64_t stride, const char *prefix, int *y)
{
	int64_t in_c = *c, out_c = a->bottleneck ? 4 * planes : planes;
	int zero = b->zero_init_residual, h, skip = x, sum, rc;
	if (a->bottleneck) {
		if ((rc = add_conv_bn(b, x, in_c, planes, 1, 1, prefix, 1, 0, 1, &h)) ||
		    (rc = add_conv_bn(b, h, planes, planes, 3, stride, prefix, 2, 0, 1, &h)) ||
		    (rc = add_conv_bn(b, h, planes, out_c, 1, 1, prefix, 3, zero, 0, &h)))
			return rc;
	} else {
		if ((rc = add_conv_bn(b, x, in_c, planes, 3, stride, prefix, 1, 0, 1, &h)) ||
		    (rc = add_conv_bn(b, h, planes, planes, 3, 1, prefix, 2, zero, 0, &h)))
			return rc;
	}
	if (stride != 1 || in_c != out_c) {
		char cname[NAME_LEN], bname[NAME_LEN];
		snprintf(cname, sizeof cname, "%s.downsample.0", prefix);
		snprintf(bname, sizeof bname, "%s.downsample.1", prefix);
		int d;
		if ((rc = add_conv(b, x, in_c, out_c, 1, stride, 0, cname, &d)) ||
		    (rc = add_bn(b, d, out_c, 0, bname, &skip)))
			return rc;
	}
	char name[NAME_LEN];
	snprintf(name, sizeof name, "%s.add", prefix);
	int ins[2] = {h, skip};
	if ((rc = emit_value(b->g, name, &sum, b->err)) ||
	    (rc = emit_node(b->g, "Add", name, 2, ins, 1, &sum, NULL, b->err)))
		return rc;
	snprintf(name, sizeof name, "%s.relu", prefix);
	*c = out_c;
	return add_unary(b, "Relu", sum, name, y);
}

static int add_stem(builder *b, const model_config *cfg, int x, int *y)
{
	int h, rc;
	int imagenet = cfg->stem == MODEL_STEM_IMAGENET;
	if ((rc = add_conv(b, x, cfg->in_c, cfg->width, imagenet ? 7 : 3,
			   imagenet ? 2 : 1, imagenet ? 3 : 1, "conv1", &h)) ||
	    (rc = add_bn(b, h, cfg->width, 0, "bn1", &h)) ||
	    (rc = add_unary(b, "Relu", h, "relu", &h)))
		return rc;
	if (!imagenet) {
		*y = h;
		return SC_OK;
	}
	int node;
	int64_t kernel[2] = {3, 3}, strides[2] = {2, 2}, pads[4] = {1, 1, 1, 1};
	if ((rc = emit_value(b->g, "maxpool", y, b->err)) ||
	    (rc = emit_node(b->g, "MaxPool", "maxpool", 1, &h, 1, y, &node, b->err)) ||
	    (rc = emit_attr_ints(b->g, node, "kernel_shape", 2, kernel, b->err)) ||
	    (rc = emit_attr_ints(b->g, node, "strides", 2, strides, b->err)) ||
	    (rc = emit_attr_ints(b->g, node, "pads", 4, pads, b->err)))
		return rc;
	return SC_OK;
}

/* The encoder from "input" to "features" [N, F]. */
static int add_encoder(builder *b, const model_config *cfg, const resnet_arch *a,
		       int *features)
{
	int x, rc;
	int64_t dims[4] = {-1, cfg->in_c, cfg->in_h, cfg->in_w};
	if ((rc = emit_value(b->g, "input", &x, b->err)) ||
	    (rc = emit_batch_type(b->g, x, 4, dims, b->err)) ||
	    (rc = emit_graph_input(b->g, x, b->err)) ||
	    (rc = add_stem(b, cfg, x, &x)))
		return rc;
	int64_t c = cfg->width;
	for (int s = 0; s < 4; s++) {
		for (int k = 0; k < a->blocks[s]; k++) {
			char prefix[32];   /* "layer4.35" */
			snprintf(prefix, sizeof prefix, "layer%d.%d", s + 1, k);
			if ((rc = add_block(b, a, x, &c, cfg->width << s,
					    k == 0 && s > 0 ? 2 : 1, prefix, &x)))
				return rc;
		}
	}
	int pooled, node;
	if ((rc = add_unary(b, "GlobalAveragePool", x, "avgpool", &pooled)) ||
	    (rc = emit_value(b->g, "features", features, b->err)) ||
	    (rc = emit_node(b->g, "Flatten", "flatten", 1, &pooled, 1, features, &node,
			    b->err)) ||
	    (rc = emit_attr_int(b->g, node, "axis", 1, b->err)))
		return rc;
	int64_t fdims[2] = {-1, c};
	return emit_batch_type(b->g, *features, 2, fdims, b->err);
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int init_model(graph_model *m, const model_config *c, sc_error *err)
{
	char doc[256];
	snprintf(doc, sizeof doc, "%s, %s stem, width %lld, input %lldx%lldx%lld, seed %llu",
		 c->arch, c->stem == MODEL_STEM_CIFAR ? "cifar" : "imagenet",
		 (long long)c->width, (long long)c->in_c, (long long)c->in_h,
		 (long long)c->in_w, (unsigned long long)c->seed);
	m->ir_version = IR_VERSION;
	m->opsets = calloc(1, sizeof *m->opsets);
	m->producer_name = dup_or_null("supcon");
	m->producer_version = dup_or_null("0.1.0");
	m->graph->name = dup_or_null(c->arch);
	m->doc_string = dup_or_null(doc);
	if (!m->opsets || !m->producer_name || !m->producer_version ||
	    !m->graph->name || !m->doc_string)
		return sc_fail(err, SC_ENOMEM, "out of memory building %s", c->arch);
	m->n_opsets = 1;
	m->opsets[0].domain = dup_or_null("");
	m->opsets[0].version = c->opset;
	if (!m->opsets[0].domain)
		return sc_fail(err, SC_ENOMEM, "out of memory building %s", c->arch);
	return SC_OK;
}

static int add_outputs(graph_model *m, const model_config *c, int features,
		       int64_t feat_dim, sc_error *err)
{
	graph *g = m->graph;
	int v, rc;
	if (c->classes > 0) {
		int64_t dims[2] = {-1, c->classes};
		if ((rc = model_add_linear_as(m, features, feat_dim, c->classes, "fc",
					      c->seed, "logits", &v, err)) ||
		    (rc = emit_batch_type(g, v, 2, dims, err)) ||
		    (rc = emit_graph_output(g, v, err)))
			return rc;
	}
	if (c->head.kind != MODEL_HEAD_NONE) {
		int64_t dims[2] = {-1, c->head.dim};
		if ((rc = model_add_head_as(m, features, feat_dim, &c->head, "head",
					    c->seed, "embedding", &v, err)) ||
		    (rc = emit_batch_type(g, v, 2, dims, err)) ||
		    (rc = emit_graph_output(g, v, err)))
			return rc;
	}
	/* "features" is what the trainer cuts at: when it is not the output,
	 * its type still goes into the file as value_info */
	if (g->n_outputs == 0)
		return emit_graph_output(g, features, err);
	return emit_value_info(g, features, err);
}

int model_build(const model_config *c, graph_model **out, sc_error *err)
{
	*out = NULL;
	int rc = model_config_check(c, err);
	if (rc)
		return rc;
	const resnet_arch *a = find_arch(c->arch);
	graph_model *m = graph_model_new();
	if (!m)
		return sc_fail(err, SC_ENOMEM, "out of memory building %s", c->arch);
	builder b = {m->graph, c->seed, c->zero_init_residual, err};
	int features;
	if ((rc = init_model(m, c, err)) ||
	    (rc = add_encoder(&b, c, a, &features)) ||
	    (rc = add_outputs(m, c, features, model_feature_dim(c), err))) {
		sc_error_prefix(err, "%s: ", c->arch);
		graph_model_free(m);
		return rc;
	}
	*out = m;
	return SC_OK;
}
