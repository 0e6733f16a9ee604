/* trainer.h: a training session over an ONNX model, driven from C.
 *
 * trainer_create() takes a model whose first output is the thing the loss
 * reads (logits [N, K] for cross-entropy, features [M, D] for SupCon) and
 * turns it into a gradient graph: BatchNormalization in training mode
 * (unless frozen) with its running statistics as outputs, the loss
 * (train_graph_add_loss: a new int64 input `labels`), and autodiff's
 * backward nodes for the trainable parameters.  The parameters become
 * graph inputs bound to the trainer's own tensors on every run, so the
 * optimizer (optim.h, torch.optim's arithmetic) updates them in place
 * between steps and nothing derived from them is cached.  Parameters
 * that are not trainable stay constant initializers, which lets the
 * planner fold and fuse a frozen encoder exactly as for inference.
 *
 * One trainer_step() is: bind the batch, run forward and backward, clip
 * the gradients if asked, apply one optimizer step at the given learning
 * rate, copy the updated running statistics back.  The step allocates nothing once the first batch of a
 * shape has been planned.
 *
 * Data parallelism (dist.h): with trainer_options.distributed and more
 * than one rank, each rank steps on its own rows of the global batch.
 * SupCon contrasts every anchor with the whole global batch: the
 * features are all-gathered when the node that computes them has run,
 * every rank computes the global loss and its gradient, and each
 * continues backward from its own rows of that gradient (trainer_dist.h).
 * Parameter gradients are then summed over ranks (SupCon: the loss is one
 * mean over the global batch) or averaged (cross-entropy and other
 * per-rank means), in buckets whose all-reduce starts while backward
 * still runs.  Every rank applies the same update to the same weights.
 * With one rank none of this happens: the step is the single-process
 * one, bit for bit.
 *
 * Ownership: the trainer owns the model it was given.  Its weights can be
 * copied out by name into another model (trainer_export_weights) and saved
 * with the optimizer state into a checkpoint (checkpoint.h).  Not
 * thread-safe. */
#ifndef SUPCON_TRAINER_H
#define SUPCON_TRAINER_H

#include "graph.h"
#include "optim.h"
#include "status.h"
#include "tensor.h"
#include "train_graph.h"

typedef struct trainer trainer;

typedef struct trainer_options {
	train_graph_options graph;  /* loss, temperature, bn_frozen, optim */
	/* The parameters to train, by initializer name; NULL: every float
	 * initializer except BN running statistics (train_graph_candidates).
	 * A listed name that the model lacks is SC_EINVAL. */
	const char *const *trainable;
	int n_trainable;
	int threads;                /* 0: OpenMP's default */
	/* Gradient clipping before the optimizer, as torch.nn.utils does:
	 * clip_grad_norm > 0 scales all gradients together by
	 * max_norm / (total L2 norm + 1e-6) when that is below 1
	 * (clip_grad_norm_); clip_grad_value > 0 then clamps each element
	 * to [-value, value] (clip_grad_value_).  0: off. */
	double clip_grad_norm;
	double clip_grad_value;
	/* plan_options.check_numerics and max_memory for the step's plan;
	 * the optimizer's state counts against the limit. */
	int check_numerics;
	size_t max_memory;
	/* Data parallelism over dist_size() ranks (ignored with one rank).
	 * x and labels of trainer_step() are then this rank's rows: `views`
	 * equal blocks (the loader's order: view 1 of this rank's images,
	 * then view 2), so that the gathered batch has the row order of one
	 * process.  The parameters start from rank 0's.  sync_bn: training
	 * BatchNormalization uses the global batch's statistics (dist.h);
	 * otherwise each rank's own, and the running statistics are
	 * averaged over ranks after every step so that the ranks keep the
	 * same ones.  bucket_bytes: gradient all-reduce bucket size, 0 for
	 * 4 MiB.  Parameters must be float32. */
	int distributed;
	int sync_bn;
	int views;
	size_t bucket_bytes;
} trainer_options;

void trainer_options_init(trainer_options *o);

/* Takes ownership of m, also on failure. */
int trainer_create(graph_model *m, const trainer_options *o, trainer **out,
		   sc_error *err);
void trainer_free(trainer *t);

/* Name of the model's data input (its first non-initializer input). */
const char *trainer_input_name(const trainer *t);

/* One step on batch x with int64 labels (one per row of the first
 * output); *loss gets the loss before the update.  When the loss is NaN
 * or Inf the update is skipped and SC_ENUMERIC is returned, so the
 * weights stay those of the last good step. */
int trainer_step(trainer *t, const sc_tensor *x, const sc_tensor *labels,
		 double lr, float *loss, sc_error *err);

/* The total L2 norm of the gradients of the last step, before clipping
 * (computed only when clip_grad_norm is set; else -1). */
double trainer_grad_norm(const trainer *t);
/* Bytes the step's plan counts against max_memory, and their peak. */
size_t trainer_memory_peak(const trainer *t);

/* The model's first output (logits or features) from the last step. */
const sc_tensor *trainer_output(const trainer *t);

/* Parameters and running statistics, for checkpoints and export. */
int trainer_param_count(const trainer *t);
const char *trainer_param_name(const trainer *t, int i);
int64_t trainer_param_elements(const trainer *t);
optim *trainer_optim(trainer *t);

/* Steps taken. */
int64_t trainer_steps(const trainer *t);

/* Copies every parameter and running statistic into the initializer of
 * the same name in dst, which must have the same element count.  Names
 * dst lacks are skipped; *copied (may be NULL) counts the ones copied. */
int trainer_export_weights(const trainer *t, graph_model *dst, int *copied,
			   sc_error *err);

/* Checkpoint with parameters, statistics, optimizer state and per
 * parameter step counts, and the caller's meta text (checkpoint.h); and
 * the reverse from a checkpoint the caller has read with ckpt_read (its
 * meta text is the caller's to parse), which checks that every tensor is
 * present and has the right size before it changes anything.  path names
 * the file in messages. */
int trainer_save(const trainer *t, const char *path, const char *meta,
		 sc_error *err);
struct ckpt;
int trainer_restore(trainer *t, const struct ckpt *c, const char *path,
		    sc_error *err);

#endif
