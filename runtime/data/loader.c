/* loader.c: batches of augmented views, built ahead by worker threads.
 *
 * Batch b of an epoch always lands in slot b % nslots.  There are
 * prefetch + 1 slots: the caller holds the batch it was last given, and
 * workers may build the `prefetch` batches after it, so a slot is never
 * written while the caller reads it.  Workers claim whole batches under
 * the mutex and build them unlocked; the content of a batch is a pure
 * function of (seed, epoch, batch number), which is what makes the worker
 * count and the timing irrelevant.  loader_start() bumps a generation
 * and waits until no worker is building, so an abandoned epoch's batches
 * are dropped and the order array is never rewritten under a reader. */
#include "runtime/data/loader.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/rng.h"

#define LOADER_MAX_WORKERS 64
#define LOADER_MAX_PREFETCH 64
/* seed tags that keep the loader's streams apart from other users of the
 * run's seed (weight init, the split) */
#define SHUFFLE_TAG 0x73687566666c65ull /* "shuffle" */
#define AUGMENT_TAG 0x6175676d656e74ull /* "augment" */

enum { SLOT_FREE, SLOT_BUSY, SLOT_READY };

typedef struct loader_slot {
	loader_batch b;
	int64_t batch;
	int state;
} loader_slot;

struct loader {
	const dataset *d;
	int64_t *idx, *order, n, batches;
	loader_options o;
	aug_policy aug;
	float *mean, *std;

	pthread_mutex_t mu;
	pthread_cond_t work;    /* workers: a batch may be claimable */
	pthread_cond_t ready;   /* caller: a batch may be ready */
	pthread_cond_t idle;    /* loader_start: a worker finished */
	int64_t epoch, next_claim, next_out;
	uint64_t generation;
	int started, busy, quit;

	loader_slot *slots;
	int nslots;
	pthread_t *threads;
	int nthreads;           /* threads running */
	aug_scratch *scratch;   /* one per worker, plus one for the caller */
};

void loader_options_init(loader_options *o)
{
	memset(o, 0, sizeof *o);
	o->views = 1;
	o->shuffle = 1;
	o->workers = 1;
	o->prefetch = 2;
}

void loader_epoch_order(const int64_t *idx, int64_t n, uint64_t seed, int shuffle,
			int64_t epoch, int64_t *order)
{
	memcpy(order, idx, (size_t)n * sizeof *order);
	if (shuffle) {
		rng r;
		rng_init(&r, seed ^ SHUFFLE_TAG, (uint64_t)epoch);
		rng_shuffle(&r, order, n);
	}
}

int64_t loader_batches_per_epoch(const loader *l)
{
	return l->batches;
}

/* --- building one batch (no lock held) ----------------------------------- */

static void set_rows(sc_tensor *t, int64_t rows)
{
	int64_t per_row = t->dims[0] ? t->numel / t->dims[0] : 0;
	t->dims[0] = rows;
	t->numel = rows * per_row;
	t->nbytes = (size_t)t->numel * tensor_dtype_size(t->dtype);
}

static void build_batch(const loader *l, int64_t epoch, int64_t b,
			loader_batch *out, aug_scratch *s)
{
	const dataset *d = l->d;
	int64_t chw = d->c * d->h * d->w, views = l->o.views;
	int64_t first = b * l->o.batch;
	int64_t count = l->n - first < l->o.batch ? l->n - first : l->o.batch;
	if (l->o.shard_count > 1) {
		int64_t k = l->o.shard_count, r = l->o.shard_rank;
		int64_t lo = r * count / k, hi = (r + 1) * count / k;
		first += lo;
		count = hi - lo;
	}
	set_rows(&out->x, views * count);
	set_rows(&out->labels, views * count);
	set_rows(&out->index, views * count);
	out->images = count;
	float *x = out->x.data;
	int64_t *labels = out->labels.data, *index = out->index.data;
	for (int64_t i = 0; i < count; i++) {
		int64_t img = l->order[first + i];
		for (int64_t v = 0; v < views; v++) {
			int64_t row = v * count + i;
			rng r;
			rng_init(&r, l->o.seed ^ AUGMENT_TAG,
				 (uint64_t)epoch << 40 ^ (uint64_t)img << 1 ^ (uint64_t)v);
			aug_apply_scratch(&l->aug, &r, d->pixels + img * chw, d->c, d->h,
					  d->w, l->mean, l->std, x + row * chw, s);
			labels[row] = d->labels[img];
			index[row] = img;
		}
	}
}

/* --- workers ------------------------------------------------------------- */

typedef struct worker_arg {
	loader *l;
	int id;
} worker_arg;

static int claimable(const loader *l)
{
	return l->started && l->next_claim < l->batches &&
	       l->next_claim < l->next_out + l->o.prefetch;
}

static void *worker_main(void *p)
{
	worker_arg *a = p;
	loader *l = a->l;
	aug_scratch *s = &l->scratch[a->id];
	pthread_mutex_lock(&l->mu);
	while (!l->quit) {
		if (!claimable(l)) {
			pthread_cond_wait(&l->work, &l->mu);
			continue;
		}
		int64_t b = l->next_claim++, epoch = l->epoch;
		uint64_t gen = l->generation;
		loader_slot *slot = &l->slots[b % l->nslots];
		slot->state = SLOT_BUSY;
		slot->batch = b;
		l->busy++;
		pthread_mutex_unlock(&l->mu);

		build_batch(l, epoch, b, &slot->b, s);

		pthread_mutex_lock(&l->mu);
		l->busy--;
		slot->state = gen == l->generation ? SLOT_READY : SLOT_FREE;
		pthread_cond_broadcast(&l->ready);
		if (l->busy == 0)
			pthread_cond_broadcast(&l->idle);
	}
	pthread_mutex_unlock(&l->mu);
	free(a);
	return NULL;
}

/* --- lifetime ------------------------------------------------------------ */

static int check_options(const dataset *d, const int64_t *idx, int64_t n,
			 const loader_options *o, sc_error *err)
{
	if (n <= 0)
		return sc_fail(err, SC_EINVAL, "loader: no images to load (%s)",
			       d->name ? d->name : "dataset");
	if (o->batch <= 0)
		return sc_fail(err, SC_EINVAL, "--batch: %lld is not a positive batch size",
			       (long long)o->batch);
	if (o->views != 1 && o->views != 2)
		return sc_fail(err, SC_EINVAL, "loader: %d views per image, expected 1 or 2",
			       o->views);
	if (o->workers < 0 || o->workers > LOADER_MAX_WORKERS)
		return sc_fail(err, SC_EINVAL, "loader: %d workers is not in 0..%d",
			       o->workers, LOADER_MAX_WORKERS);
	if (o->shard_count < 0 || (o->shard_count > 1 &&
				   (o->shard_rank < 0 || o->shard_rank >= o->shard_count)))
		return sc_fail(err, SC_EINVAL, "loader: shard %d of %d does not exist",
			       o->shard_rank, o->shard_count);
	if (o->prefetch > LOADER_MAX_PREFETCH)
		return sc_fail(err, SC_EINVAL, "loader: prefetch %d is above %d",
			       o->prefetch, LOADER_MAX_PREFETCH);
	for (int64_t ch = 0; o->std && ch < d->c; ch++)
		if (!(o->std[ch] > 0))
			return sc_fail(err, SC_EINVAL, "loader: std of channel %lld is %g, not positive",
				       (long long)ch, o->std[ch]);
	for (int64_t i = 0; idx && i < n; i++)
		if (idx[i] < 0 || idx[i] >= d->n)
			return sc_fail(err, SC_EINVAL, "loader: index %lld is outside %s's 0..%lld",
				       (long long)idx[i], d->name ? d->name : "the dataset",
				       (long long)d->n - 1);
	return SC_OK;
}

static int alloc_slot(loader *l, loader_slot *s, sc_error *err)
{
	const dataset *d = l->d;
	int64_t k = l->o.shard_count > 1 ? l->o.shard_count : 1;
	int64_t rows = l->o.views * ((l->o.batch + k - 1) / k);
	int64_t xdims[4] = {rows, d->c, d->h, d->w};
	int rc = tensor_alloc(&s->b.x, SC_FLOAT, 4, xdims, "batch x", err);
	if (!rc)
		rc = tensor_alloc(&s->b.labels, SC_INT64, 1, &rows, "batch labels", err);
	if (!rc)
		rc = tensor_alloc(&s->b.index, SC_INT64, 1, &rows, "batch index", err);
	s->batch = -1;
	s->state = SLOT_FREE;
	return rc;
}

static void stop_workers(loader *l)
{
	pthread_mutex_lock(&l->mu);
	l->quit = 1;
	pthread_cond_broadcast(&l->work);
	pthread_mutex_unlock(&l->mu);
	for (int i = 0; i < l->nthreads; i++)
		pthread_join(l->threads[i], NULL);
	l->nthreads = 0;
}

void loader_free(loader *l)
{
	if (!l)
		return;
	stop_workers(l);
	for (int i = 0; l->slots && i < l->nslots; i++) {
		tensor_free(&l->slots[i].b.x);
		tensor_free(&l->slots[i].b.labels);
		tensor_free(&l->slots[i].b.index);
	}
	for (int i = 0; l->scratch && i <= l->o.workers; i++)
		aug_scratch_free(&l->scratch[i]);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->work);
	pthread_cond_destroy(&l->ready);
	pthread_cond_destroy(&l->idle);
	free(l->slots);
	free(l->scratch);
	free(l->threads);
	free(l->idx);
	free(l->order);
	free(l->mean);
	free(l->std);
	free(l);
}

static int copy_inputs(loader *l, const int64_t *idx, const loader_options *o,
		       sc_error *err)
{
	int64_t c = l->d->c;
	l->idx = malloc((size_t)l->n * sizeof *l->idx);
	l->order = malloc((size_t)l->n * sizeof *l->order);
	l->mean = malloc((size_t)c * sizeof *l->mean);
	l->std = malloc((size_t)c * sizeof *l->std);
	if (!l->idx || !l->order || !l->mean || !l->std)
		return sc_fail(err, SC_ENOMEM, "loader: out of memory");
	for (int64_t i = 0; i < l->n; i++)
		l->idx[i] = idx ? idx[i] : i;
	for (int64_t ch = 0; ch < c; ch++) {
		l->mean[ch] = o->mean ? o->mean[ch] : 0.0f;
		l->std[ch] = o->std ? o->std[ch] : 1.0f;
	}
	if (o->aug)
		l->aug = *o->aug;
	else
		aug_parse("none", &l->aug, NULL);
	l->o.aug = &l->aug;
	l->o.mean = l->mean;
	l->o.std = l->std;
	return SC_OK;
}

static int start_workers(loader *l, sc_error *err)
{
	l->threads = calloc((size_t)(l->o.workers ? l->o.workers : 1), sizeof *l->threads);
	if (!l->threads)
		return sc_fail(err, SC_ENOMEM, "loader: out of memory");
	for (int i = 0; i < l->o.workers; i++) {
		worker_arg *a = malloc(sizeof *a);
		if (!a)
			return sc_fail(err, SC_ENOMEM, "loader: out of memory");
		a->l = l;
		a->id = i;
		if (pthread_create(&l->threads[i], NULL, worker_main, a) != 0) {
			free(a);
			return sc_fail(err, SC_EINTERNAL, "loader: cannot start worker thread %d", i);
		}
		l->nthreads++;
	}
	return SC_OK;
}

int loader_create(const dataset *d, const int64_t *idx, int64_t n,
		  const loader_options *o, loader **out, sc_error *err)
{
	*out = NULL;
	if (!idx)
		n = d->n;
	int rc = check_options(d, idx, n, o, err);
	if (rc)
		return rc;
	loader *l = calloc(1, sizeof *l);
	if (!l)
		return sc_fail(err, SC_ENOMEM, "loader: out of memory");
	l->d = d;
	l->n = n;
	l->o = *o;
	if (l->o.prefetch <= 0)
		l->o.prefetch = 2;
	l->batches = o->drop_last ? n / o->batch : (n + o->batch - 1) / o->batch;
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->work, NULL);
	pthread_cond_init(&l->ready, NULL);
	pthread_cond_init(&l->idle, NULL);
	l->nslots = l->o.workers ? l->o.prefetch + 1 : 1;
	l->slots = calloc((size_t)l->nslots, sizeof *l->slots);
	l->scratch = calloc((size_t)l->o.workers + 1, sizeof *l->scratch);
	rc = !l->slots || !l->scratch ? sc_fail(err, SC_ENOMEM, "loader: out of memory")
				      : copy_inputs(l, idx, o, err);
	for (int i = 0; !rc && i < l->nslots; i++)
		rc = alloc_slot(l, &l->slots[i], err);
	for (int i = 0; !rc && i <= l->o.workers; i++)
		rc = aug_scratch_reserve(&l->scratch[i], d->c, d->h, d->w, err);
	if (!rc)
		rc = start_workers(l, err);
	if (rc) {
		loader_free(l);
		return rc;
	}
	*out = l;
	return SC_OK;
}

/* --- epochs and batches -------------------------------------------------- */

int loader_start(loader *l, int64_t epoch, int64_t start, sc_error *err)
{
	if (epoch < 0 || epoch >= ((int64_t)1 << 23))
		return sc_fail(err, SC_EINVAL, "loader: epoch %lld is out of range",
			       (long long)epoch);
	if (start < 0 || start > l->batches)
		return sc_fail(err, SC_EINVAL,
			       "loader: start batch %lld is outside the epoch's 0..%lld",
			       (long long)start, (long long)l->batches);
	pthread_mutex_lock(&l->mu);
	l->generation++;
	l->started = 0;
	while (l->busy > 0)
		pthread_cond_wait(&l->idle, &l->mu);
	for (int i = 0; i < l->nslots; i++) {
		l->slots[i].state = SLOT_FREE;
		l->slots[i].batch = -1;
	}
	loader_epoch_order(l->idx, l->n, l->o.seed, l->o.shuffle, epoch, l->order);
	l->epoch = epoch;
	l->next_claim = l->next_out = start;
	l->started = 1;
	pthread_cond_broadcast(&l->work);
	pthread_mutex_unlock(&l->mu);
	return SC_OK;
}

int loader_next(loader *l, loader_batch **b, sc_error *err)
{
	*b = NULL;
	if (!l->started) {
		int rc = loader_start(l, 0, 0, err);
		if (rc)
			return -rc;
	}
	pthread_mutex_lock(&l->mu);
	if (l->next_out >= l->batches) {
		pthread_mutex_unlock(&l->mu);
		return 0;
	}
	int64_t want = l->next_out;
	loader_slot *slot = &l->slots[want % l->nslots];
	if (l->nthreads == 0) {
		pthread_mutex_unlock(&l->mu);
		build_batch(l, l->epoch, want, &slot->b, &l->scratch[l->o.workers]);
		pthread_mutex_lock(&l->mu);
	} else {
		while (!(slot->state == SLOT_READY && slot->batch == want))
			pthread_cond_wait(&l->ready, &l->mu);
	}
	/* handing out `want` releases the batch before it: its slot may
	 * now take batch want + prefetch */
	l->next_out = want + 1;
	pthread_cond_broadcast(&l->work);
	pthread_mutex_unlock(&l->mu);
	*b = &slot->b;
	return 1;
}
