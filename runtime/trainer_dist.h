/* trainer_dist.h: the data-parallel half of a trainer step (private to
 * trainer.c; see trainer.h for what it does and dist.h for the ranks).
 *
 * Every rank runs the same training graph on its own rows of the global
 * batch.  tdist hooks into the step's plan (plan_set_node_callback):
 *
 *   - SupCon: when the node that writes the features has run, every
 *     rank's features and labels are all-gathered into the global batch,
 *     in the row order one process would have had them; every rank
 *     computes the SupCon loss of the global batch and its gradient with
 *     a small plan of its own (SupConLoss and SupConLossGrad, the same
 *     kernels as in one process), and writes the rows of that gradient
 *     that belong to its own features into the training graph's seed
 *     input (TRAIN_LOSS_SEED), from which its backward continues.  The
 *     loss is one global mean, so the parameter gradients of the ranks
 *     add up to the gradient of one process: they are summed.
 *   - other losses (cross-entropy) are means over each rank's rows: the
 *     ranks' gradients and losses are averaged.
 *   - as soon as the node that writes a parameter's gradient has run,
 *     the gradient is copied into the next free place of one flat buffer;
 *     when the open bucket holds bucket_bytes, an in-place nonblocking
 *     all-reduce starts on it, and the rest of backward overlaps with it.
 *
 * The flat buffer, the gathered batch and the small plan are allocated
 * when a batch shape is first seen; steps with that shape allocate
 * nothing.  Buckets are filled in the order gradients become final,
 * which is the schedule's, hence the same on every rank. */
#ifndef SUPCON_TRAINER_DIST_H
#define SUPCON_TRAINER_DIST_H

#include "graph.h"
#include "plan.h"
#include "status.h"
#include "tensor.h"

typedef struct tdist tdist;

typedef struct tdist_config {
	graph_model *m;          /* the training graph (borrowed) */
	plan *p;                 /* its plan (borrowed) */
	int supcon;              /* 1: global SupCon through the seed input */
	double temperature, base_temperature;
	int features;            /* the first output's value */
	int seed;                /* TRAIN_SEED_INPUT's value (supcon) */
	int views;               /* rows are `views` equal blocks (supcon) */
	int n_params;
	const int *grad_values;  /* each parameter's gradient value */
	sc_tensor *const *params;/* the parameters (float32), for shapes */
	size_t bucket_bytes;
	int threads;
} tdist_config;

int tdist_create(const tdist_config *c, tdist **out, sc_error *err);
void tdist_free(tdist *d);

/* Before plan_run: gathers the labels (supcon) and sizes the buffers
 * for this batch; *seed gets the tensor to bind as the seed input. */
int tdist_step_begin(tdist *d, const sc_tensor *labels,
		     const sc_tensor **seed, sc_error *err);

/* The plan's node callback (ctx = the tdist). */
int tdist_on_node(void *ctx, int node, sc_error *err);

/* After plan_run: finishes the all-reduces and points grads[i] at each
 * parameter's reduced gradient; *loss (this rank's loss on entry) becomes
 * the global one. */
int tdist_step_end(tdist *d, float *loss, const sc_tensor **grads,
		   sc_error *err);

/* Averages the n tensors (float32) over ranks, in place. */
int tdist_average(tdist *d, sc_tensor *const *ts, int n, sc_error *err);

/* Makes every rank start from rank 0's values of the n tensors. */
int tdist_broadcast(sc_tensor *const *ts, int n, sc_error *err);

#endif
