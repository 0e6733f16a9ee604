/* models.h: builders that emit ONNX graphs for supcon.
 *
 * model_build() writes a torchvision ResNet (18/34/50/101/152/200, ImageNet
 * or CIFAR stem, any base width, input channel count and size) as a new
 * graph_model, optionally with a linear classifier ("logits") and a
 * projection head with L2-normalised output ("embedding").  Initializer
 * names are torchvision's state_dict keys, so weights map one to one onto
 * torchvision exports; BN num_batches_tracked is not an initializer.
 * The value names "input", "features", "logits" and "embedding" are stable:
 * the trainer finds the graph's parts by them.
 *
 * Random initialisation draws from runtime/rng.h with one stream per
 * initializer, derived from (seed, initializer name): a tensor's values
 * depend on the seed and its name only, so adding a head or a classifier
 * does not change the encoder's weights.
 *
 * model_add_linear/l2norm/head append layers to an existing model's main
 * graph (a built one or a loaded, cut encoder).  model_cut_encoder turns a
 * loaded inference ResNet into its encoder.
 *
 * Every function returns SC_OK or an error code with a one-line message in
 * err (status.h).  A model made by model_build belongs to the caller
 * (graph_model_free).  On failure the appenders may leave the values and
 * nodes they added so far in m; callers then discard m. */
#ifndef SUPCON_MODELS_H
#define SUPCON_MODELS_H

#include <stdint.h>

#include "../runtime/graph.h"
#include "../runtime/status.h"

typedef enum model_stem { MODEL_STEM_IMAGENET, MODEL_STEM_CIFAR } model_stem;
typedef enum model_head_kind { MODEL_HEAD_NONE, MODEL_HEAD_LINEAR, MODEL_HEAD_MLP } model_head_kind;

typedef struct model_head {
	model_head_kind kind;
	int64_t hidden;   /* MLP hidden size; 0 = the input (feature) dim */
	int64_t dim;      /* output dim */
} model_head;

typedef struct model_config {
	const char *arch;          /* resnet18|resnet34|resnet50|resnet101|resnet152|resnet200 */
	model_stem stem;           /* default IMAGENET */
	int64_t width;             /* base width, default 64 */
	int64_t in_c, in_h, in_w;  /* default 3x224x224 */
	model_head head;           /* default none */
	int64_t classes;           /* 0 = no classifier */
	int zero_init_residual;    /* last BN of each residual branch gets gamma 0 */
	uint64_t seed;             /* default 0 */
	int64_t opset;             /* default 17 */
} model_config;

/* Limits model_build checks before allocating anything. */
#define MODEL_OPSET_MIN 9
#define MODEL_OPSET_MAX 17
#define MODEL_MAX_WIDTH 4096
#define MODEL_MAX_SIDE 65536        /* in_c, in_h, in_w */
#define MODEL_MAX_DIM (1 << 20)     /* head sizes and classes */
#define MODEL_MAX_ELEMENTS ((int64_t)1 << 31)  /* float initializer elements, 8 GiB */

/* The default values above; arch defaults to "resnet18". */
void model_config_init(model_config *c);

/* "none" | "linear:D" | "mlp:D" | "mlp:H:D" into *h.  SC_EINVAL quoting
 * spec when it is none of these or a size is outside [1, MODEL_MAX_DIM]. */
int model_parse_head(const char *spec, model_head *h, sc_error *err);

/* "CxHxW" (e.g. "1x28x28"), each in [1, MODEL_MAX_SIDE]. */
int model_parse_shape(const char *spec, int64_t chw[3], sc_error *err);

/* "imagenet" | "cifar". */
int model_parse_stem(const char *spec, model_stem *s, sc_error *err);

/* 1 when arch is one of the six names above. */
int model_arch_known(const char *arch);

/* Output dim of the encoder (after global pooling): 512*width/64 for
 * BasicBlock nets, 2048*width/64 for Bottleneck ones; -1 for unknown arch. */
int64_t model_feature_dim(const model_config *c);

/* Float initializer elements model_build(c) makes (parameters plus BN
 * running statistics), counted without building; -1 when c is invalid or
 * the count overflows. */
int64_t model_param_elements(const model_config *c);

/* Checks every field of c (arch, sizes, opset, head, limits); SC_EINVAL
 * naming the field and what is wrong. */
int model_config_check(const model_config *c, sc_error *err);

/* Builds the ResNet c describes into a new model (*out, owned by the
 * caller).  One input "input" float [N, C, H, W] (N symbolic); value
 * "features" [N, F] after GlobalAveragePool and Flatten; outputs "logits"
 * [N, classes] when classes > 0, then "embedding" [N, head.dim] when the
 * head is not none, else "features".  IR version 8, the default domain at
 * c->opset. */
int model_build(const model_config *c, graph_model **out, sc_error *err);

/* --- appending layers ----------------------------------------------------
 * Each reads float value `in` of shape [N, in_dim] in m's main graph and
 * sets *out to the value it writes.  Weights are drawn from (seed,
 * initializer name) as above. */

/* Gemm transB=1 with initializers PREFIX.weight [out, in] and PREFIX.bias
 * [out], torch nn.Linear's default init (uniform +-1/sqrt(in_dim)).  The
 * node is called PREFIX and so is its output value (or a fresh variant of
 * the name when taken).  In a model of IR version < 4 (opset 7-8 exports)
 * the new initializers are also listed as graph inputs, as that IR wants. */
int model_add_linear(graph_model *m, int in, int64_t in_dim, int64_t out_dim,
		     const char *prefix, uint64_t seed, int *out, sc_error *err);

/* y = x / max(ReduceL2(x, axis 1, keepdims), 1e-12), exactly torch's
 * F.normalize, from standard ops: ReduceL2 (axes attribute before opset 18,
 * axes input from 18), Max with a Constant 1e-12 (Clip with a min
 * attribute before opset 8, where Max does not broadcast), Div.  No float
 * initializers.  Value and node names derive from `in`'s name. */
int model_add_l2norm(graph_model *m, int in, int *out, sc_error *err);

/* mlp: PREFIX.0 Linear(in, hidden), Relu, PREFIX.2 Linear(hidden, dim), as
 * SupContrast names them; linear: PREFIX Linear(in, dim); then
 * model_add_l2norm.  none: *out = in, nothing added. */
int model_add_head(graph_model *m, int in, int64_t in_dim, const model_head *h,
		   const char *prefix, uint64_t seed, int *out, sc_error *err);

/* The same three, writing their final value under the name out_name
 * (which must not exist yet) instead of a derived one; NULL = derived.
 * model_build names its outputs "logits" and "embedding" through these. */
int model_add_linear_as(graph_model *m, int in, int64_t in_dim, int64_t out_dim,
			const char *prefix, uint64_t seed, const char *out_name,
			int *out, sc_error *err);
int model_add_l2norm_as(graph_model *m, int in, const char *out_name, int *out,
			sc_error *err);
int model_add_head_as(graph_model *m, int in, int64_t in_dim, const model_head *h,
		      const char *prefix, uint64_t seed, const char *out_name,
		      int *out, sc_error *err);

/* Cuts a loaded inference model (torchvision export with BN kept or folded,
 * model-zoo style ResNet, any opset 7-17) down to its encoder: the output
 * of the last GlobalAveragePool (or ReduceMean/AveragePool over the whole
 * spatial extent), flattened to [N, F] -- or the value named output_name
 * when not NULL.  A Flatten(axis 1) the model already applies to the pool
 * output is kept (its output is then the cut); otherwise one is added when
 * the cut value has rank > 2, writing "features" (or a fresh variant).  Drops nodes,
 * initializers, inputs and value_info entries that the new output does not
 * need, makes it the only graph output, and sets *feat_dim from inferred
 * shapes (SC_EINVAL when unknown).  The kept part moves into a new main
 * graph, so names of dropped values ("logits") are free again.  Runs shape
 * inference on m, which writes inferred types into its values.  On
 * failure m may be left half cut: the caller frees it. */
int model_cut_encoder(graph_model *m, const char *output_name, int64_t *feat_dim,
		      sc_error *err);

#endif
