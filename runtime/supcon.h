/* supcon.h: the public C API of supcon, a runtime that loads, runs, trains
 * and writes ONNX models.  This is the only header a program that embeds
 * supcon includes; it depends on <stddef.h>, <stdint.h> and <stdio.h>
 * (for the FILE a job prints to) only.
 *
 * Handles.  Everything is an opaque handle made by a *_create function and
 * released by the matching *_free, which accepts NULL:
 *   supcon_session   a model loaded for inference (and gradients);
 *   supcon_tensor    a dense tensor, owning its memory or wrapping the
 *                    caller's;
 *   supcon_trainer   a training session over a copy of a session's model;
 *   supcon_job       one whole command of the CLI (train, linear, export,
 *                    eval, embed, build, grad), with keyed options and
 *                    results.
 * Strings and tensors a function hands out belong to the caller when the
 * documentation says "new" (free them), and to the handle otherwise (they
 * stay valid until the handle is freed or the call named in the comment).
 *
 * Errors.  Every function that can fail returns a supcon_status; SUPCON_OK
 * is 0 and everything else is a failure that changed nothing the caller can
 * see, unless the comment says otherwise.  The failing call's message is one
 * line naming the file, tensor, input or argument at fault.  It can be read
 * back with supcon_session_error() / supcon_trainer_error() (the last
 * failure of that handle, "" when its last call succeeded) and with
 * supcon_last_error() (the last failure of any call on the calling thread,
 * including creation failures and calls with a NULL handle).  NULL handles,
 * wrong dtypes, wrongly sized buffers and calls made in the wrong order are
 * SUPCON_EINVAL with a message; no input makes the library abort or exit.
 *
 * Threads.  The only process-wide state the API touches is the
 * thread-local last error and the list of files read (see
 * supcon_forget_inputs; it has its own lock).  Distinct handles may be
 * used from different threads at the same time.  One handle must not be used by two threads at
 * once (a session's run writes its activation arena); tensors passed to a
 * call must not be modified by another thread during it.  A run itself uses
 * up to `threads` OpenMP threads (supcon_session_set_threads).
 *
 * Dtypes are ONNX's TensorProto.DataType numbers (SUPCON_FLOAT = 1, ...).
 * Tensor data is dense, row-major, native little-endian. */
#ifndef SUPCON_H
#define SUPCON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define SUPCON_API __attribute__((visibility("default")))
#else
#define SUPCON_API
#endif

/* --- status, errors and version ------------------------------------------ */

typedef enum supcon_status {
	SUPCON_OK = 0,
	SUPCON_EINVAL = 1,       /* bad input or misuse: malformed file, wrong
				  * shape or dtype, NULL handle, wrong order */
	SUPCON_EUNSUPPORTED = 2, /* well-formed, but supcon does not implement it */
	SUPCON_EIO = 3,          /* the operating system refused a read or write */
	SUPCON_ENOMEM = 4,       /* out of memory */
	SUPCON_EINTERNAL = 5,    /* a bug or a failing library call (oneDNN) */
	SUPCON_ENUMERIC = 6,     /* training produced a NaN or an infinity */
} supcon_status;

/* "0.1.0": the library's version (the SONAME carries the major number). */
SUPCON_API const char *supcon_version(void);

/* "SUPCON_EINVAL", ...; "SUPCON_E?" for values outside the enum. */
SUPCON_API const char *supcon_status_name(supcon_status status);

/* The message of the last failed call made on this thread ("" if none has
 * failed yet).  Valid until the next failing call on this thread. */
SUPCON_API const char *supcon_last_error(void);

/* Files.  As the CLI does, a process never overwrites a file that it has
 * read as an input (a model, a .pb, a PNG; the same file through any path,
 * link or symlink): writing there is SUPCON_EINVAL naming both paths, so
 * an export or a save cannot destroy what it was made from.  The list of
 * inputs lasts for the life of the process; a program that is done with
 * the files it read (and a long-running one that reads many) calls this
 * to forget them all.  Thread-safe. */
SUPCON_API void supcon_forget_inputs(void);

/* --- tensors --------------------------------------------------------------- */

typedef enum supcon_dtype {
	SUPCON_FLOAT = 1,
	SUPCON_UINT8 = 2,
	SUPCON_INT8 = 3,
	SUPCON_UINT16 = 4,
	SUPCON_INT16 = 5,
	SUPCON_INT32 = 6,
	SUPCON_INT64 = 7,
	SUPCON_BOOL = 9,
	SUPCON_FLOAT16 = 10,
	SUPCON_DOUBLE = 11,
	SUPCON_UINT32 = 12,
	SUPCON_UINT64 = 13,
	SUPCON_BFLOAT16 = 16,
} supcon_dtype;

/* Highest rank a tensor may have. */
#define SUPCON_MAX_RANK 8

typedef struct supcon_tensor supcon_tensor;

/* A new tensor of dtype and shape dims[0..rank) (rank 0: a scalar) with
 * zeroed, 64-byte aligned memory that the tensor owns.  SUPCON_EINVAL for
 * an unknown dtype, a rank outside [0, SUPCON_MAX_RANK], a negative dim or
 * an element count past 2^48. */
SUPCON_API supcon_status supcon_tensor_create(supcon_dtype dtype, int rank,
					      const int64_t *dims,
					      supcon_tensor **out);

/* A new tensor that uses the caller's memory without copying: data must
 * hold exactly nbytes = numel * element size bytes (SUPCON_EINVAL
 * otherwise, so a wrongly sized buffer is caught here), be suitably
 * aligned for the dtype, and outlive the tensor.  Runs read it in place;
 * nothing writes to it except supcon_tensor_data() users. */
SUPCON_API supcon_status supcon_tensor_wrap(supcon_dtype dtype, int rank,
					    const int64_t *dims, void *data,
					    size_t nbytes, supcon_tensor **out);

/* Reads a PNG into a new float32 tensor [1, channels, H, W] with values in
 * [0, 1] (8-bit samples / 255; 16-bit samples are rounded to 8 bits first).
 * channels is 1 (grey; colour becomes ITU-R 601 luma) or 3 (RGB; grey is
 * replicated); alpha is dropped.  The header is checked against size
 * limits before pixel memory is allocated.
 *
 * channels 0 keeps the image's own channels instead, as libpng reports
 * its format: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA (a palette becomes RGB,
 * a tRNS chunk an alpha channel).  Then 8-bit samples are divided by 255
 * and 16-bit ones by 65535, without gamma correction (torchvision's
 * read_image(...) / 255 for 8-bit images without tRNS).  Images over
 * 2^28 values are SUPCON_EINVAL before pixel memory is allocated.  The
 * file is recorded as an input (supcon_forget_inputs). */
SUPCON_API supcon_status supcon_tensor_load_png(const char *path, int channels,
						supcon_tensor **out);

/* Reads an ONNX TensorProto file (the format of ONNX's test data, and of
 * `supcon run`'s outputs) into a new tensor.  A string tensor (dtype 8,
 * which supcon_dtype does not list) loads too, for models that take one:
 * it can be fed to a run, described and saved, but supcon_tensor_data
 * and supcon_tensor_read refuse it (SUPCON_EINVAL).  Complex tensors are
 * SUPCON_EUNSUPPORTED. */
SUPCON_API supcon_status supcon_tensor_load_pb(const char *path,
					       supcon_tensor **out);

/* Writes t as a TensorProto called name (NULL: unnamed), atomically. */
SUPCON_API supcon_status supcon_tensor_save_pb(const supcon_tensor *t,
					       const char *name,
					       const char *path);

/* Overwrites the floating-point tensor t (float32, float16, bfloat16 or
 * double) with uniform values in [0, 1) from a splitmix64 stream started
 * at seed: the same seed gives the same values on every machine.
 * SUPCON_EINVAL for another dtype. */
SUPCON_API supcon_status supcon_tensor_fill_random(supcon_tensor *t,
						   uint64_t seed);

/* ONNX's name of a dtype: "float32", "int64", "bfloat16", "string", ...;
 * "?" for a value that is not an ONNX dtype.  Static storage. */
SUPCON_API const char *supcon_dtype_name(int dtype);

/* Releases t and, if it owns it, its memory.  NULL is fine. */
SUPCON_API void supcon_tensor_free(supcon_tensor *t);

/* Describing a tensor.  dims receives rank values and must have room for
 * max_rank of them (SUPCON_EINVAL when the tensor's rank is larger). */
SUPCON_API supcon_status supcon_tensor_info(const supcon_tensor *t,
					    supcon_dtype *dtype, int *rank,
					    int64_t *dims, int max_rank);

/* Its element count and size in bytes. */
SUPCON_API supcon_status supcon_tensor_size(const supcon_tensor *t,
					    int64_t *numel, size_t *nbytes);

/* Its memory (owned or wrapped), readable and writable by the caller
 * between calls. */
SUPCON_API supcon_status supcon_tensor_data(const supcon_tensor *t,
					    void **data);

/* Copies the tensor's bytes into buf, which must hold exactly its size in
 * bytes (SUPCON_EINVAL otherwise). */
SUPCON_API supcon_status supcon_tensor_read(const supcon_tensor *t, void *buf,
					    size_t nbytes);

/* --- sessions: loading and introspection ---------------------------------- */

typedef struct supcon_session supcon_session;

/* Loads and validates an ONNX model and prepares it to run.  A model with
 * ops supcon does not implement is refused here (SUPCON_EUNSUPPORTED, the
 * message lists them all), as is a malformed or inconsistent file
 * (SUPCON_EINVAL naming the file and what is wrong).  External data is
 * read from next to the file and may not leave its folder.  On failure
 * *out is NULL; read the message with supcon_last_error(). */
SUPCON_API supcon_status supcon_session_create(const char *path,
					       supcon_session **out);

/* supcon_session_create with options (NULL or "": the defaults), a comma
 * separated list of key=value:
 *   threads=N          as supcon_session_set_threads (default 0);
 *   check_numerics=1   a run stops at the first node whose floating
 *                      output holds a NaN or an infinity (or at an input
 *                      that does), SUPCON_ENUMERIC naming the node, its op,
 *                      the output and the element; costs a pass over
 *                      every value (default 0);
 *   max_memory=BYTES   the session may hold at most BYTES of weights,
 *                      activations and kernel scratch; past it the call
 *                      (this one when the weights alone do not fit, else
 *                      the run) fails with SUPCON_ENOMEM naming what it
 *                      was for (default 0: no limit);
 *   prepare=0          only load, validate and infer shapes: the session
 *                      describes any well-formed model, even one with ops
 *                      supcon does not implement, and those are refused
 *                      (SUPCON_EUNSUPPORTED) at the first run instead
 *                      (default 1: refused here).
 * SUPCON_EINVAL naming the key for an unknown key or a bad value.  The
 * options hold for every run of the session, gradient runs included. */
SUPCON_API supcon_status supcon_session_create_with(const char *path,
						    const char *options,
						    supcon_session **out);

/* The same from a serialized ModelProto in memory (len bytes, copied as
 * needed: buf may be freed on return).  External data is refused. */
SUPCON_API supcon_status supcon_session_create_from_memory(
	const void *buf, size_t len, supcon_session **out);

/* Releases s and everything it handed out that the caller does not own.
 * NULL is fine. */
SUPCON_API void supcon_session_free(supcon_session *s);

/* The last failure of a call on s ("" if the last call succeeded).  Valid
 * until the next call on s.  NULL gives "no session". */
SUPCON_API const char *supcon_session_error(const supcon_session *s);

/* OpenMP threads a run of s may use (0: OpenMP's default, all cores);
 * at most 4096.  Takes effect at the next run (the plan is rebuilt). */
SUPCON_API supcon_status supcon_session_set_threads(supcon_session *s,
						    int threads);

/* The data inputs (graph inputs that are not initializers), in graph
 * order, and the graph outputs, in graph order. */
SUPCON_API supcon_status supcon_session_input_count(const supcon_session *s,
						    int *count);
SUPCON_API supcon_status supcon_session_output_count(const supcon_session *s,
						     int *count);

/* Name of input / output i (valid while s lives). */
SUPCON_API supcon_status supcon_session_input_name(const supcon_session *s,
						   int i, const char **name);
SUPCON_API supcon_status supcon_session_output_name(const supcon_session *s,
						    int i, const char **name);

/* Declared (or inferred) dtype and shape of input / output i.  *rank is -1
 * when the rank is unknown; a dim that is symbolic or unknown is -1 in
 * dims (supcon_session_*_dim_name tells which).  dims needs room for
 * max_rank values; SUPCON_EINVAL when the rank is larger.  *dtype is 0
 * when unknown and for anything but a dense tensor (a sparse tensor has
 * its shape here and its type in supcon_session_value_type). */
SUPCON_API supcon_status supcon_session_input_info(const supcon_session *s,
						   int i, int *dtype, int *rank,
						   int64_t *dims, int max_rank);
SUPCON_API supcon_status supcon_session_output_info(const supcon_session *s,
						    int i, int *dtype, int *rank,
						    int64_t *dims, int max_rank);

/* The symbolic name of dim d of input / output i ("N"), or NULL in *name
 * when the dim is a number or unknown. */
SUPCON_API supcon_status supcon_session_input_dim_name(const supcon_session *s,
						       int i, int d,
						       const char **name);
SUPCON_API supcon_status supcon_session_output_dim_name(const supcon_session *s,
							int i, int d,
							const char **name);

/* The graph input called name: *index is its position among the data
 * inputs (as supcon_session_input_name), SUPCON_INITIALIZER_INPUT when it
 * is an initializer the graph also lists as an input (older exporters
 * write them; a run may bind it to override the stored value), or -1 when
 * the model has no input of that name (not an error). */
#define SUPCON_INITIALIZER_INPUT (-2)
SUPCON_API supcon_status supcon_session_find_input(const supcon_session *s,
						   const char *name, int *index);

/* The type of the graph input or output called name, in ONNX's words,
 * into buf (len bytes, NUL included): "float32", "sparse_tensor(int64)",
 * "sequence(float32)", "map(int64,float32)", "optional(...)"; "" when the
 * model does not say.  SUPCON_EINVAL when name is neither an input nor an
 * output, or when the text does not fit in len bytes (512 always do). */
SUPCON_API supcon_status supcon_session_value_type(const supcon_session *s,
						   const char *name, char *buf,
						   size_t len);

/* Facts about the model as loaded (a session made with prepare=0 has
 * them too).  Strings belong to s.
 *   ir_version: the file's IR version;
 *   producer: producer_name and producer_version ("" when not recorded);
 *   opsets: the opset imports, in file order; the default domain is ""
 *           (as the file writes it, "" or "ai.onnx");
 *   node_count: nodes of the main graph, as in the file (before fusion);
 *   ops: one entry per op kind, sorted by key in strcmp order: the key is
 *        the op type for the default domain ("Conv") and DOMAIN:TYPE
 *        otherwise ("ai.supcon:SupConLoss"); count is its node count;
 *   initializer_elements: the total elements of the floating-point
 *        initializers (the parameter count, BN statistics included),
 *        INT64_MAX if it would overflow. */
SUPCON_API supcon_status supcon_session_ir_version(const supcon_session *s,
						   int64_t *ir_version);
SUPCON_API supcon_status supcon_session_producer(const supcon_session *s,
						 const char **name,
						 const char **version);
SUPCON_API supcon_status supcon_session_opset_count(const supcon_session *s,
						    int *count);
SUPCON_API supcon_status supcon_session_opset(const supcon_session *s, int i,
					      const char **domain,
					      int64_t *version);
SUPCON_API supcon_status supcon_session_node_count(const supcon_session *s,
						   int *count);
SUPCON_API supcon_status supcon_session_op_kind_count(const supcon_session *s,
						      int *count);
SUPCON_API supcon_status supcon_session_op_kind(const supcon_session *s, int i,
						const char **key,
						int64_t *count);
SUPCON_API supcon_status supcon_session_initializer_elements(
	const supcon_session *s, int64_t *elements);

/* --- sessions: running ------------------------------------------------------ */

/* Runs the model once.  names[k] / inputs[k] bind each data input exactly
 * once (an initializer listed as a graph input may also be overridden); the
 * tensors are read, never kept.  SUPCON_EINVAL naming the input for a
 * missing, unknown or repeated name, a dtype or a known dim that disagrees
 * with the model.  The outputs are then read with supcon_session_output*. */
SUPCON_API supcon_status supcon_session_run(supcon_session *s, int n_inputs,
					    const char *const *names,
					    const supcon_tensor *const *inputs);

/* Runs the model and also computes the gradient of its first output,
 * which must be a scalar, with respect to each of wrt[0..n_wrt): graph
 * inputs or initializers.  grads[k] receives a new tensor (the caller
 * frees it) shaped like wrt[k]; it is zero when the output does not
 * depend on wrt[k].  The backward graph is built on the first call with a
 * given list of names and kept for later calls with the same list.
 * SUPCON_EUNSUPPORTED lists every op on the path without a gradient rule;
 * SUPCON_EINVAL for a name that is neither an input nor an initializer or
 * a non-scalar first output.  On failure no grads[k] is set. */
SUPCON_API supcon_status supcon_session_run_grad(
	supcon_session *s, int n_inputs, const char *const *names,
	const supcon_tensor *const *inputs, int n_wrt, const char *const *wrt,
	supcon_tensor **grads);

/* Builds the backward graph for wrt[0..n_wrt) now, as the first
 * supcon_session_run_grad with these names would, so that its errors (the
 * same as run_grad's) come before any input is read.  depends (NULL or
 * n_wrt values) receives 1 for each name the first output depends on and
 * 0 for one whose gradient will be zero.  A later run_grad with the same
 * names reuses it. */
SUPCON_API supcon_status supcon_session_prepare_grad(supcon_session *s,
						     int n_wrt,
						     const char *const *wrt,
						     int *depends);

/* Figures of the last successful run (SUPCON_EINVAL before one), for
 * benchmarks; each pointer may be NULL:
 *   arena_bytes:  the arena the run used: activations and the larger
 *                 kernel scratches;
 *   intermediate_bytes: the sum of the sizes of everything in the arena,
 *                 which is what it would be without buffer reuse;
 *   peak_bytes:   the most the session has held at once: weights,
 *                 activations and kernel scratch (what max_memory caps);
 *   flops:        floating-point operations of the run, counted in Conv
 *                 (and its gradients), Gemm, MatMul and SupConLoss, two
 *                 per multiply-add. */
SUPCON_API supcon_status supcon_session_run_stats(const supcon_session *s,
						  size_t *arena_bytes,
						  size_t *intermediate_bytes,
						  size_t *peak_bytes,
						  double *flops);

/* Output i of the last successful run as a new tensor (a copy, which the
 * caller frees).  SUPCON_EINVAL before any run succeeded. */
SUPCON_API supcon_status supcon_session_output(supcon_session *s, int i,
					       supcon_tensor **out);

/* Output i of the last successful run copied into the caller's buffer,
 * which must hold exactly the output's size in bytes and whose dtype the
 * caller states (SUPCON_EINVAL naming the output otherwise). */
SUPCON_API supcon_status supcon_session_output_read(supcon_session *s, int i,
						    supcon_dtype dtype,
						    void *buf, size_t nbytes);

/* --- training ---------------------------------------------------------------- */

typedef struct supcon_trainer supcon_trainer;

/* A training session over a copy of model's network (model stays usable
 * and unchanged).  The network's first output is what the loss reads:
 *   loss "supcon": features [M, D], SupCon loss (Khosla et al.) against
 *                  int64 labels [M]; rows with the same label are
 *                  positives (two views of B images: M = 2B);
 *   loss "ce":     logits [N, K], softmax cross-entropy against int64
 *                  labels [N].
 * optimizer: "sgd", "adam", "adamw", "rmsprop" or "adagrad", with
 * torch.optim's defaults and semantics.  options (NULL or "") is a comma
 * separated list of key=value, for example "lr=0.05,momentum=0.9":
 *   optimizer   lr, weight_decay, momentum, dampening, nesterov (0/1),
 *               beta1, beta2, eps, amsgrad (0/1), alpha, centered (0/1),
 *               lr_decay, initial_accumulator_value (torch.optim's names)
 *   loss        temperature (default 0.1), base_temperature (default:
 *               temperature)
 *   training    threads=N (0: all cores); freeze_bn=1 (BatchNormalization
 *               keeps inference mode and its running statistics);
 *               clip_grad_norm=X, clip_grad_value=X (torch.nn.utils'
 *               clipping); check_numerics=1 (name the first node that
 *               makes a NaN or an infinity);
 *               trainable=NAME|NAME|... (train only these initializers;
 *               default: every float initializer except BN statistics)
 * Weight decay skips biases and norm parameters (rank <= 1).  BN runs in
 * training mode (batch statistics) unless freeze_bn.  SUPCON_EINVAL naming
 * the key for a bad option, the loss when the first output has the wrong
 * shape; SUPCON_EUNSUPPORTED when an op on the path has no gradient rule.
 * Failure messages are also in supcon_session_error(model). */
SUPCON_API supcon_status supcon_trainer_create(supcon_session *model,
					       const char *loss,
					       const char *optimizer,
					       const char *options,
					       supcon_trainer **out);

SUPCON_API void supcon_trainer_free(supcon_trainer *t);

/* The last failure of a call on t ("" if the last call succeeded). */
SUPCON_API const char *supcon_trainer_error(const supcon_trainer *t);

/* The name of the network's data input, which step and eval bind x to. */
SUPCON_API supcon_status supcon_trainer_input_name(const supcon_trainer *t,
						   const char **name);

/* One training step on batch x with int64 labels [rows of the first
 * output]: forward, loss, backward, clipping, one optimizer update at the
 * current learning rate, BN running statistics updated.  *loss (may be
 * NULL) gets the loss before the update.  When the loss or the gradient
 * is NaN or infinite, SUPCON_ENUMERIC and the weights stay as they were.
 * The first step of a batch shape plans the memory; later steps of that
 * shape allocate nothing. */
SUPCON_API supcon_status supcon_trainer_step(supcon_trainer *t,
					     const supcon_tensor *x,
					     const supcon_tensor *labels,
					     float *loss);

/* The loss of the current weights on a batch without training: BN uses
 * its running statistics (inference mode), nothing is updated.  *loss may
 * be NULL; output (may be NULL) receives a new tensor with the network's
 * first output (logits or features) for x. */
SUPCON_API supcon_status supcon_trainer_eval(supcon_trainer *t,
					     const supcon_tensor *x,
					     const supcon_tensor *labels,
					     float *loss, supcon_tensor **output);

/* The learning rate of the next steps (the optimizer's lr at creation);
 * lr must be finite and >= 0.  Schedules are the caller's loop. */
SUPCON_API supcon_status supcon_trainer_set_lr(supcon_trainer *t, double lr);
SUPCON_API supcon_status supcon_trainer_get_lr(const supcon_trainer *t,
					       double *lr);

/* Steps taken so far (restored by supcon_trainer_load). */
SUPCON_API supcon_status supcon_trainer_steps(const supcon_trainer *t,
					      int64_t *steps);

/* The trained parameters, in a fixed order, by name (valid while t
 * lives). */
SUPCON_API supcon_status supcon_trainer_param_count(const supcon_trainer *t,
						    int *count);
SUPCON_API supcon_status supcon_trainer_param_name(const supcon_trainer *t,
						   int i, const char **name);

/* A copy (new tensor) of the current value of a parameter or of any other
 * float initializer of the network, such as a BN running statistic. */
SUPCON_API supcon_status supcon_trainer_get_param(supcon_trainer *t,
						  const char *name,
						  supcon_tensor **out);

/* Overwrites a trained parameter (one of supcon_trainer_param_name) with
 * value, which must have its dtype and shape.  The optimizer state is kept. */
SUPCON_API supcon_status supcon_trainer_set_param(supcon_trainer *t,
						  const char *name,
						  const supcon_tensor *value);

/* Checkpoints: parameters, BN statistics, optimizer state, step counts
 * and the learning rate, written atomically with a checksum.  load checks
 * that the file fits this trainer (same parameters and optimizer) before
 * it changes anything; a corrupted or truncated file is SUPCON_EINVAL
 * naming it, and t is left as it was. */
SUPCON_API supcon_status supcon_trainer_save(const supcon_trainer *t,
					     const char *path);
SUPCON_API supcon_status supcon_trainer_load(supcon_trainer *t,
					     const char *path);

/* Writes the network with the current weights as a standard ONNX
 * inference graph (opset <= 17, IR <= 8, BN in inference mode, symbolic
 * batch dim, only the first output kept) that supcon_session_create,
 * `supcon run` and other runtimes load.  With channels > 0, mean[c] and
 * std[c] (channels values each) normalise the input inside the graph, so
 * the exported model takes images in [0, 1]; channels 0 exports the
 * network as trained (mean and std may be NULL).  softmax 1 appends a
 * Softmax over the classes (output "probabilities").  The file is written
 * through a temporary name, so a failure leaves no half-written model. */
SUPCON_API supcon_status supcon_trainer_export(supcon_trainer *t,
					       const char *path, int channels,
					       const float *mean,
					       const float *std, int softmax);

/* --- jobs: everything the CLI does ------------------------------------------
 *
 * A job is one whole piece of work of the `supcon` CLI (training a run,
 * evaluating a classifier, drawing embeddings, ...) with keyed options and
 * keyed results; the CLI is a thin client of these calls.  A job runs once:
 *
 *     supcon_job *j;
 *     supcon_job_create("train", &j);
 *     supcon_job_set(j, "epochs", "3");          // the CLI's --epochs 3
 *     supcon_job_set(j, "out", "runs/a");
 *     supcon_job_set_output(j, stdout);          // progress (default: silent)
 *     if (supcon_job_run(j) == SUPCON_OK)
 *             supcon_job_result(j, "test_accuracy", &acc);
 *     supcon_job_free(j);
 *
 * Keys are the CLI's long option names without the dashes ("val-split"),
 * or, for a positional argument, its role ("model", "rundir", "arch").
 * Flags take "1" (given) or "0".  Setting a key again replaces its value.
 * A job writes files (run directories, PNGs, ONNX files) where its keys
 * say, prints progress, tables and summaries to the FILE given to
 * supcon_job_set_output (the CLI passes stdout) and nothing anywhere
 * else, except a one-line "supcon: warning: ..." on stderr when it has
 * output and the data has no test part.
 *
 * Kinds, their keys, and their results (numbers via supcon_job_result,
 * texts via supcon_job_result_text):
 *
 * "train": `supcon train`, stage 1 (method supcon | simclr) or the CE
 *   baseline (method ce).  Keys: out (RUNDIR, default runs/<method>),
 *   resume (flag), bench (N: time N steps, write nothing), and the run
 *   options: method, model, stem, width, head, normalize-encoder,
 *   encoder-output, freeze-encoder, data, size, aug, optimizer, lr,
 *   momentum, weight-decay, schedule, warmup, epochs, steps, batch,
 *   temperature, base-temperature, seed, threads, workers, deterministic,
 *   val-split, limit, zero-init-residual, checkpoint-every, label-noise,
 *   clip-grad-norm, clip-grad-value, check-numerics, max-memory, sync-bn,
 *   bucket-mb, dist-timeout (defaults and meaning as `supcon train
 *   --help`).  With resume, RUNDIR's saved config holds; keys set again
 *   must agree with it except epochs, steps, threads, workers,
 *   checkpoint-every.  Results: the top-level numbers of
 *   RUNDIR/metrics.json that are not null (test_accuracy, final_loss,
 *   train_accuracy, val_accuracy, seconds, label_noise), the cluster
 *   metrics encoder_silhouette, encoder_knn, projector_silhouette,
 *   projector_knn (on cluster_images images, cluster_k-NN), world_size; text rundir, and path (classifier.onnx)
 *   for ce.  With bench instead: steps, step_ms, views_per_s, peak_rss_mb.
 *   Beyond the CLI's flags, validate (flag) checks every option, name and
 *   combination that can be checked without reading the data, writes
 *   nothing, and gives the resolved options as text config ("key value"
 *   lines, every run option).
 *   Started by mpirun, the job joins the MPI world (data parallel; rank 0
 *   alone writes and prints) and stays in it: see supcon_dist_finish.
 * "linear": `supcon linear`, stage 2 on a stage-1 run.  Keys: rundir
 *   (required), resume, and the run options (data options default to
 *   stage 1's; method, model and head are refused).  Results as train's,
 *   path is RUNDIR/classifier.onnx.
 * "export": `supcon export`.  Keys: rundir (required), out (default
 *   RUNDIR/classifier.onnx), softmax (flag).  Text: path.
 * "eval": `supcon eval`.  Keys: model (required), data, part (test |
 *   train), size, limit, threads, seed, json (flag: print one JSON object),
 *   corrupt (SPEC: common corruptions), baseline (B.onnx, with corrupt),
 *   and, beyond the CLI's flags, sample (N: a sample of N images seeded
 *   by seed instead of the first limit).  Results: images, top1, top5
 *   (more than 5 classes); with corrupt: images, clean_error,
 *   error_<corruption> (mean over the severities), and with a baseline
 *   also baseline_clean_error, baseline_error_<corruption> and mce; text
 *   corruptions (the names evaluated, comma-separated, in order).
 * "embed": `supcon embed`.  Keys: model (MODEL.onnx or RUNDIR, required),
 *   out (FILE.png, required), data, split, layer, method (tsne | pca),
 *   limit, perplexity, iterations, theta, exact-max, seed, width, height,
 *   title, points, size, threads.  Results: images, dim, silhouette, knn
 *   (of the embeddings), map_silhouette, map_knn (of the 2-D layout);
 *   text path.
 * "build": `supcon build`.  Keys: arch (ARCH or FILE.onnx, required), out
 *   (required), stem, in-shape, width, head, classes, zero-init-residual,
 *   seed, opset, encoder-output.  Text: path.
 * "grad": `supcon grad`.  Keys: model (required), loss (required),
 *   optimizer, lr, momentum, weight-decay, temperature, out (required).
 *   Text: path.
 * "sgemm": `supcon bench --sgemm N`: oneDNN's float32 sgemm peak.  Keys:
 *   sgemm (N, default 2048), threads, repeat.  Results: min_ms,
 *   sgemm_gflop_per_s.
 *
 * Errors are those of the CLI command, one line naming the flag ("--epochs
 * '0x': ...") or file.  A job is used by one thread at a time; distinct
 * jobs may run on different threads, each printing to its own output. */
typedef struct supcon_job supcon_job;

/* A new job of kind (above).  SUPCON_EINVAL for an unknown kind. */
SUPCON_API supcon_status supcon_job_create(const char *kind, supcon_job **out);

/* Sets key to value (copied).  Checks what can be checked alone: an
 * unknown key, a number that is not one or out of range, a flag that is
 * not 1/0 are SUPCON_EINVAL naming "--key"; the rest (combinations,
 * files, names) is checked by supcon_job_run.  Records that the key was
 * given (resume rules; defaults that depend on it).  SUPCON_EINVAL after
 * supcon_job_run. */
SUPCON_API supcon_status supcon_job_set(supcon_job *j, const char *key,
					const char *value);

/* Where progress and summaries go (the CLI passes stdout); NULL, the
 * default, is silent.  The FILE stays the caller's. */
SUPCON_API supcon_status supcon_job_set_output(supcon_job *j, FILE *f);

/* Does the work; once per job (again: SUPCON_EINVAL).  The status is the
 * failure's (SUPCON_EINVAL for bad options or input, SUPCON_EIO, ...),
 * its message supcon_job_error(j). */
SUPCON_API supcon_status supcon_job_run(supcon_job *j);

/* A number the job produced (see the kinds above).  SUPCON_EINVAL before
 * a successful supcon_job_run, and for a key the job did not produce. */
SUPCON_API supcon_status supcon_job_result(const supcon_job *j,
					   const char *key, double *value);

/* A text the job produced ("path", "rundir"), valid until
 * supcon_job_free.  Errors as supcon_job_result. */
SUPCON_API supcon_status supcon_job_result_text(const supcon_job *j,
						const char *key,
						const char **value);

/* The message of j's last failed call ("" if none). */
SUPCON_API const char *supcon_job_error(const supcon_job *j);

SUPCON_API void supcon_job_free(supcon_job *j);

/* For a program started by mpirun whose train jobs joined the MPI world:
 * call once when done with jobs.  A non-zero status on several ranks ends
 * every rank of the job with that exit status (MPI_Abort: the other ranks
 * may wait for this one in a collective forever); otherwise it leaves the
 * world (MPI_Finalize) and returns.  Does nothing without a world. */
SUPCON_API void supcon_dist_finish(int status);

#ifdef __cplusplus
}
#endif

#endif
