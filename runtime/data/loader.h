/* loader.h: the batch loader: shuffling, augmented views, prefetching.
 *
 * A loader walks a list of dataset indices in batches, each image turned
 * into `views` augmented float views.  Worker threads build the next
 * batches while the caller trains on the current one.  Results never
 * depend on timing or on the worker count: the epoch's order comes from
 * rng(seed, epoch) and every view from its own rng stream of (epoch,
 * image index, view), so workers = 0, 1 or 4 give the same bytes, and
 * restarting at batch k (resume) gives what an uninterrupted run gives
 * from batch k on.
 *
 * Data parallelism: with shard_count K > 1 the loader of rank r walks the
 * same global batches (same order, same batch count) but builds only the
 * images [r B / K, (r + 1) B / K) of each (B the batch's image count),
 * with the augmentations one process would draw for them; batch.images
 * is then that shard's count.  The K shards of a batch are disjoint and
 * cover it.
 *
 * The loader borrows the dataset, the index list is copied, the policy and
 * mean/std are copied; batches are owned by the loader and valid until the
 * next loader_next(), loader_start() or loader_free(). */
#ifndef SUPCON_DATA_LOADER_H
#define SUPCON_DATA_LOADER_H

#include <stdint.h>

#include "runtime/data/augment.h"
#include "runtime/data/dataset.h"
#include "runtime/tensor.h"

typedef struct loader_options {
	int64_t batch;          /* images per batch */
	int views;              /* 1 or 2 augmented views per image */
	const aug_policy *aug;  /* NULL = none */
	const float *mean, *std;/* c floats each; NULL = 0 and 1 */
	uint64_t seed;
	int shuffle;            /* reshuffle every epoch, seeded by (seed, epoch) */
	int drop_last;          /* drop a last partial batch */
	int workers;            /* background threads, 0 = produce synchronously in loader_next; default 1 */
	int prefetch;           /* batches ready ahead, default 2 */
	int shard_rank;         /* this rank's shard of every batch ... */
	int shard_count;        /* ... of this many (0 or 1: the whole batch) */
} loader_options;

typedef struct loader_batch {
	sc_tensor x;           /* float [views*B, C, H, W]: rows 0..B-1 are view 1 of images 0..B-1, rows B..2B-1 view 2 (SupContrast's torch.cat order) */
	sc_tensor labels;      /* int64 [views*B] */
	sc_tensor index;       /* int64 [views*B], dataset index of each row's image (SimCLR labels) */
	int64_t images;        /* B (the last batch may be smaller unless drop_last) */
} loader_batch;             /* tensors owned by the loader, valid until the next loader_next */

typedef struct loader loader;

/* batch 0, views 1, workers 1, prefetch 2, shuffle 1, everything else 0. */
void loader_options_init(loader_options *o);

/* idx[0..n) are dataset indices (idx NULL = all of d).  Allocates every
 * batch buffer up front; no allocation happens per batch afterwards. */
int loader_create(const dataset *d, const int64_t *idx, int64_t n,
		  const loader_options *o, loader **out, sc_error *err);
void loader_free(loader *l);
int64_t loader_batches_per_epoch(const loader *l);

/* Starts epoch `epoch` at batch `start` (for resume): same batches and
 * same augmentations as an uninterrupted run.  Abandons the batches of
 * the epoch in progress.  loader_next() without a loader_start() first
 * starts epoch 0 at batch 0. */
int loader_start(loader *l, int64_t epoch, int64_t start, sc_error *err);

/* 1 with a batch, 0 at the end of the epoch, <0 on error. */
int loader_next(loader *l, loader_batch **b, sc_error *err);

/* The epoch's image order (n dataset indices), as loader_start() computes
 * it: idx itself, or idx shuffled by rng(seed, epoch). */
void loader_epoch_order(const int64_t *idx, int64_t n, uint64_t seed, int shuffle,
			int64_t epoch, int64_t *order);

#endif
