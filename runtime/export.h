/* export.h: the deployable form of a trained network.
 *
 * export_inference() rewrites a trained inference network in place so
 * that any ONNX runtime can use it as is:
 *   - the data input keeps its name but takes images in [0, 1]; the
 *     per-channel normalisation (x - mean) / std runs inside the graph
 *     (Sub and Div against [1, C, 1, 1] constants), so users need not
 *     know the training statistics;
 *   - the batch dimension of the input and of the outputs is symbolic
 *     ("N"), and intermediate shape annotations are dropped, so any batch
 *     size runs;
 *   - only the first output is kept (logits or embeddings); with softmax,
 *     a Softmax over axis 1 follows it and its output is "probabilities";
 *   - opset <= 17 and IR version <= 8 (Debian's onnx checker's limits)
 *     are required: a newer model is refused with SC_EUNSUPPORTED.
 * BatchNormalization must already be in inference mode (the trainer works
 * on a copy; the model saved in a run directory is the inference form). */
#ifndef SUPCON_EXPORT_H
#define SUPCON_EXPORT_H

#include "graph.h"
#include "status.h"

typedef struct export_options {
	int channels;          /* length of mean and std */
	const float *mean;     /* NULL: no normalisation */
	const float *std;
	int softmax;
} export_options;

int export_inference(graph_model *m, const export_options *o, sc_error *err);

/* Reads "supcon.<key>" from the model's metadata_props, NULL if absent. */
const char *export_meta_get(const graph_model *m, const char *key);
/* Sets (or replaces) "supcon.<key>". */
int export_meta_set(graph_model *m, const char *key, const char *value,
		    sc_error *err);

#endif
