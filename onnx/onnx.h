/* onnx.h: the protobuf boundary.  Nothing outside onnx/ sees protobuf-c.
 *
 * Loading turns a ModelProto into a graph_model (graph.h) that the caller
 * owns and frees with graph_model_free().  All input is untrusted: sizes,
 * dims, dtypes and external-data paths are checked before anything is
 * allocated in proportion to them, and every failure comes back as
 * SC_EINVAL (or SC_EUNSUPPORTED, SC_EIO, SC_ENOMEM) with a one-line message
 * naming the file and the tensor, node or field at fault.
 *
 * Model-local functions are inlined at load, so the IR never holds calls to
 * them.  External data is resolved relative to the model's folder and may
 * not leave it. */
#ifndef SUPCON_ONNX_H
#define SUPCON_ONNX_H

#include <stddef.h>

#include "../runtime/graph.h"
#include "../runtime/status.h"
#include "../runtime/tensor.h"

/* Loads path.  On success *out is a new model owned by the caller.  Error
 * messages start with the path. */
int onnx_load_file(const char *path, graph_model **out, sc_error *err);

/* Loads a ModelProto from memory.  base_dir is the folder that external data
 * locations are relative to; NULL refuses external data.  `label` names the
 * buffer in messages (may be NULL). */
int onnx_load_memory(const void *buf, size_t len, const char *base_dir,
		     const char *label, graph_model **out, sc_error *err);

/* Flags for onnx_load_memory_flags. */
enum {
	/* Inline every model-local function, even one whose (domain, name)
	 * supcon implements natively (by default those keep their kernel). */
	ONNX_LOAD_INLINE_ALL = 1 << 0,
};

int onnx_load_memory_flags(const void *buf, size_t len, const char *base_dir,
			   const char *label, int flags, graph_model **out,
			   sc_error *err);

/* Writes m as a ModelProto with every tensor inline as raw_data.  The file
 * is written through a temporary name and renamed, so a failure never leaves
 * a half-written model behind. */
int onnx_save_file(const graph_model *m, const char *path, sc_error *err);

/* Serialises m into a new malloc'd buffer (*buf, *len) owned by the caller. */
int onnx_save_memory(const graph_model *m, void **buf, size_t *len,
		     sc_error *err);

/* A deep copy of m, made by saving it to memory and loading it back, so
 * the copy is exactly what a file round trip gives. */
int onnx_clone_model(const graph_model *m, graph_model **out, sc_error *err);

/* Reads a TensorProto file (the ONNX test-data .pb format) into *t, which
 * then owns its data.  If name is not NULL it receives a malloc'd copy of
 * the tensor's name (possibly ""). */
int onnx_tensor_load_file(const char *path, sc_tensor *t, char **name,
			  sc_error *err);

/* Decodes a TensorProto from memory; same contract as above. */
int onnx_tensor_load_memory(const void *buf, size_t len, const char *label,
			    sc_tensor *t, char **name, sc_error *err);

/* Writes t as a TensorProto (raw_data, or string_data for STRING) named
 * name (may be NULL), through a temporary file and a rename. */
int onnx_tensor_save_file(const sc_tensor *t, const char *name,
			  const char *path, sc_error *err);

/* ai.supcon SupConLoss (ops/supcon_loss.c) runs here as one fused kernel.
 * So that other runtimes can run models that call it, onnx_save_file and
 * onnx_save_memory attach to every such model a FunctionProto body made of
 * standard ops (onnx/supcon_function.c; float32 features), when the model
 * imports the default domain at an opset in the range below or not at all
 * (other opsets get no body).  They also write each call's attributes out
 * in full, because an IR 8 function cannot give its attributes defaults.
 * Loading such a file inlines the body like any model-local function. */
#define ONNX_SUPCON_OPSET_MIN 13
#define ONNX_SUPCON_OPSET_MAX 17

/* A new model (owned by the caller) that computes SupConLoss(features
 * float32 [M, D], labels int64 [M]) -> loss with the given attributes from
 * the function body alone: a call saved and loaded again, so its nodes are
 * exactly what other runtimes execute.  reduction NULL means "mean".
 * SC_EUNSUPPORTED for an opset outside the range above. */
int onnx_supcon_body_model(int64_t opset, float temperature,
			   float base_temperature, int normalize,
			   const char *reduction, graph_model **out,
			   sc_error *err);

#endif
