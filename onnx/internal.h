/* internal.h: shared between the files of onnx/; never included elsewhere.
 * Conversions between protobuf-c messages and runtime structures. */
#ifndef SUPCON_ONNX_INTERNAL_H
#define SUPCON_ONNX_INTERNAL_H

#include "onnx.pb-c.h"
#include "onnx.h"

/* Where external data may be read from while converting one model. */
typedef struct onnx_ctx {
	const char *label;     /* file name for messages */
	const char *base_dir;  /* folder of the model, NULL to refuse external data */
} onnx_ctx;

/* TensorProto -> sc_tensor.  If steal is set and the tensor is stored as
 * raw_data, the proto's buffer is moved into t instead of copied (the proto
 * field is cleared so free_unpacked leaves it alone). */
int onnx_tensor_from_proto(const onnx_ctx *ctx, Onnx__TensorProto *p,
			   int steal, sc_tensor *t, sc_error *err);

/* sc_tensor -> TensorProto.  p borrows t's data (raw_data points into it);
 * release p with onnx_tensor_proto_clear(), not free_unpacked. */
int onnx_tensor_to_proto(const sc_tensor *t, const char *name,
			 Onnx__TensorProto *p, sc_error *err);
void onnx_tensor_proto_clear(Onnx__TensorProto *p);

/* Refuses buffers whose messages nest deeper than any real model, before
 * protobuf-c's recursive decoder sees them.  label names the buffer. */
int onnx_check_nesting(const void *buf, size_t len,
		       const ProtobufCMessageDescriptor *desc,
		       const char *label, sc_error *err);

/* Maps a whole file read-only.  An empty file gives data NULL, len 0.
 * A missing or unreadable file is SC_EINVAL (bad input), other failures
 * SC_EIO; messages start with path. */
int onnx_map_file(const char *path, void **data, size_t *len, sc_error *err);
void onnx_unmap_file(void *data, size_t len);

/* Storage the saver lends to helpers that add to its proto tree: n zeroed
 * items of size bytes, alive until saving ends; NULL when out of memory. */
typedef void *(*onnx_alloc_fn)(void *ctx, size_t n, size_t size);

/* supcon_function.c: the FunctionProto of ai.supcon SupConLoss at `opset`
 * (ONNX_SUPCON_OPSET_MIN..MAX, else SC_EUNSUPPORTED), built from alloc. */
int onnx_supcon_function(int64_t opset, onnx_alloc_fn alloc, void *ctx,
			 Onnx__FunctionProto **out, sc_error *err);

/* When p's graph calls ai.supcon SupConLoss: writes every call's
 * attributes out in full and appends the function to p->functions
 * (raising ir_version to 8) if the model's opset allows; see onnx.h.
 * Does nothing for other models. */
int onnx_supcon_attach(Onnx__ModelProto *p, onnx_alloc_fn alloc, void *ctx,
		       sc_error *err);

#endif
