/* run_train.c: the training loops of the train job (`supcon train`:
 * stage 1 and the CE baseline) and of the linear job (`supcon linear`:
 * stage 2), and export of a run directory.
 *
 * Both stages share one epoch loop (train_epochs) over a batch source:
 * the prefetching loader with augmentation, or, for a frozen encoder
 * without augmentation, features computed once and batched from memory,
 * which makes a linear probe cost a few seconds instead of an encoder
 * pass per epoch. */
#include "run.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/models.h"
#include "onnx/onnx.h"
#include "runtime/checkpoint.h"
#include "runtime/data/augment.h"
#include "runtime/data/loader.h"
#include "runtime/dist.h"
#include "runtime/export.h"
#include "runtime/fileio.h"
#include "runtime/infer.h"
#include "runtime/plan.h"
#include "runtime/rng.h"
#include "runtime/trainer.h"

/* --- batch sources ----------------------------------------------------------- */

typedef struct batch_src {
	int (*start)(struct batch_src *s, int64_t epoch, int64_t first,
		     sc_error *err);
	/* 1 with a batch, 0 at the epoch's end */
	int (*next)(struct batch_src *s, const sc_tensor **x,
		    const sc_tensor **labels, sc_error *err);
	int64_t per_epoch;      /* steps per epoch */
	int64_t images;         /* images per step (before views) */
	int views;
} batch_src;

typedef struct loader_src {
	batch_src base;
	loader *l;
	int simclr;             /* labels = image index */
} loader_src;

static int loader_src_start(batch_src *s, int64_t epoch, int64_t first,
			    sc_error *err)
{
	return loader_start(((loader_src *)s)->l, epoch, first, err);
}

static int loader_src_next(batch_src *s, const sc_tensor **x,
			   const sc_tensor **labels, sc_error *err)
{
	loader_src *ls = (loader_src *)s;
	loader_batch *b;
	int rc = loader_next(ls->l, &b, err);
	if (rc <= 0)
		return rc;
	*x = &b->x;
	*labels = ls->simclr ? &b->index : &b->labels;
	return 1;
}

/* Features in memory: rows of feats, shuffled per epoch by (seed, epoch). */
typedef struct feat_src {
	batch_src base;
	const float *feats;
	const int32_t *labels;
	int64_t n, dim, batch;
	uint64_t seed;
	int64_t *order, pos;
	sc_tensor x, y;
} feat_src;

static int feat_src_start(batch_src *s, int64_t epoch, int64_t first,
			  sc_error *err)
{
	(void)err;
	feat_src *f = (feat_src *)s;
	for (int64_t i = 0; i < f->n; i++)
		f->order[i] = i;
	rng r;
	rng_init(&r, f->seed, 0x5eed0000ull + (uint64_t)epoch);
	rng_shuffle(&r, f->order, f->n);
	f->pos = first * f->batch;
	return SC_OK;
}

static int feat_src_next(batch_src *s, const sc_tensor **x,
			 const sc_tensor **labels, sc_error *err)
{
	(void)err;
	feat_src *f = (feat_src *)s;
	if (f->pos + f->batch > f->n)
		return 0;
	float *xd = f->x.data;
	int64_t *yd = f->y.data;
	for (int64_t i = 0; i < f->batch; i++) {
		int64_t k = f->order[f->pos + i];
		memcpy(xd + i * f->dim, f->feats + k * f->dim,
		       (size_t)f->dim * sizeof *xd);
		yd[i] = f->labels[k];
	}
	f->pos += f->batch;
	*x = &f->x;
	*labels = &f->y;
	return 1;
}

/* --- the epoch loop ---------------------------------------------------------- */

typedef struct loop {
	const run_config *c;
	trainer *t;
	batch_src *src;
	optim_schedule sched;
	const char *dir;
	const char *ckpt_file;      /* "checkpoint" or "linear.checkpoint" */
	int ce;                     /* the output is logits: train accuracy */
	/* epoch end: evaluate and save the model; val/test may stay NaN */
	int (*epoch_end)(struct loop *lp, double *val, double *test,
			 sc_error *err);
	void *ctx;
	run_history h;
	int64_t epoch, batch, steps;  /* position: next epoch/batch, steps done */
	double seconds;
	long long bench;
	run_bench_result *bench_out;  /* what bench measured, or NULL */
	const char *stage;            /* "train" or "linear" */
	/* rank 0 of several (or the only process): writes checkpoints,
	 * model.onnx and metrics; the other ranks only train */
	int writer;
} loop;

static char *loop_meta(const loop *lp)
{
	char *cfg = run_config_to_text(lp->c);
	if (!cfg)
		return NULL;
	size_t len = strlen(cfg) + 256;
	char *s = malloc(len);
	if (!s) {
		free(cfg);
		return NULL;
	}
	snprintf(s, len, "supcon-checkpoint 1\nstage %s\npos %lld %lld %lld\n"
		 "seconds %.17g\n%s", lp->stage, (long long)lp->epoch,
		 (long long)lp->batch, (long long)lp->steps, lp->seconds, cfg);
	free(cfg);
	run_history_append_text(&s, &lp->h);
	return s;
}

static int loop_save(loop *lp, sc_error *err)
{
	if (!lp->writer)
		return SC_OK;
	char path[4096];
	int rc = run_path(path, sizeof path, lp->dir, lp->ckpt_file, err);
	char *meta = rc ? NULL : loop_meta(lp);
	if (!rc && !meta)
		rc = sc_fail(err, SC_ENOMEM, "out of memory");
	if (!rc)
		rc = trainer_save(lp->t, path, meta, err);
	free(meta);
	return rc;
}

/* Restores the position and history from a checkpoint's meta text. */
static int loop_restore(loop *lp, const char *meta, sc_error *err)
{
	const char *p = strstr(meta, "\npos ");
	long long e, b, s;
	if (!p || sscanf(p, "\npos %lld %lld %lld", &e, &b, &s) != 3)
		return sc_fail(err, SC_EINVAL, "checkpoint has no position");
	lp->epoch = e;
	lp->batch = b;
	lp->steps = s;
	p = strstr(meta, "\nseconds ");
	if (p)
		sscanf(p, "\nseconds %lf", &lp->seconds);
	return run_history_from_text(&lp->h, meta);
}

static int argmax_hits(const sc_tensor *y, const sc_tensor *labels)
{
	if (y->rank != 2 || y->dtype != SC_FLOAT)
		return 0;
	int64_t n = y->dims[0], k = y->dims[1], hits = 0;
	const float *v = y->data;
	const int64_t *l = labels->data;
	for (int64_t i = 0; i < n; i++)
		hits += run_argmax(v + i * k, k) == l[i];
	return (int)hits;
}

int run_trainer_limits(const run_config *c, trainer_options *to, sc_error *err)
{
	to->clip_grad_norm = c->clip_grad_norm;
	to->clip_grad_value = c->clip_grad_value;
	to->check_numerics = c->check_numerics;
	if (c->max_memory[0])
		return sc_parse_bytes("--max-memory", c->max_memory, &to->max_memory,
				       err);
	return SC_OK;
}

/* Train accuracy counts of every rank's shard. */
static int sum_over_ranks(int64_t *hits, int64_t *seen, sc_error *err)
{
	double v[2] = {(double)*hits, (double)*seen};
	int rc = dist_allreduce_sum_f64(v, 2, err);
	*hits = (int64_t)v[0];
	*seen = (int64_t)v[1];
	return rc;
}

static int train_epochs(loop *lp, sc_error *err)
{
	const run_config *c = lp->c;
	int rc = SC_OK;
	int64_t rows = lp->src->images * lp->src->views;
	if (lp->bench) {
		/* warm-up: plan, primitives, first-touch of the arena */
		long long warm = 2;
		if ((rc = lp->src->start(lp->src, 0, 0, err)))
			return rc;
		double t0 = 0;
		for (long long i = 0; i < warm + lp->bench; i++) {
			const sc_tensor *x, *y;
			if (i == warm) {
				/* the ranks start the timed steps together */
				if ((rc = dist_barrier(err)))
					return rc;
				dist_bytes_reset();
				t0 = run_now();
			}
			int got = lp->src->next(lp->src, &x, &y, err);
			if (got < 0)
				return err->code;
			if (got == 0) {
				if ((rc = lp->src->start(lp->src, 1 + i, 0, err)))
					return rc;
				i--;
				continue;
			}
			float loss;
			double lr = optim_schedule_lr(&lp->sched, 0);
			if ((rc = trainer_step(lp->t, x, y, lr, &loss, err)))
				return rc;
		}
		double dt = run_now() - t0;
		run_bench_result r = {
			.steps = (double)lp->bench,
			.step_ms = 1e3 * dt / (double)lp->bench,
			.views_per_s = (double)rows * (double)lp->bench / dt,
			.peak_rss_mb = run_peak_rss_mb(),
		};
		if (lp->bench_out)
			*lp->bench_out = r;
		run_printf("steps: %lld\nstep_ms: %.2f\nviews_per_s: %.1f\npeak_rss_mb: %.0f\n",
		       lp->bench, r.step_ms, r.views_per_s, r.peak_rss_mb);
		if (dist_size() > 1)
			run_printf("ranks: %d\ncomm_bytes_per_step: %.0f\n", dist_size(),
			       (double)dist_bytes_sent() / (double)lp->bench);
		return SC_OK;
	}
	int stop = 0;
	for (; lp->epoch < c->epochs && !stop; lp->epoch++, lp->batch = 0) {
		double lr = optim_schedule_lr(&lp->sched, lp->epoch);
		if ((rc = lp->src->start(lp->src, lp->epoch, lp->batch, err)))
			return rc;
		char label[64];
		snprintf(label, sizeof label, "%s epoch %lld/%lld", lp->stage,
			 (long long)lp->epoch + 1, (long long)c->epochs);
		run_progress pr;
		run_progress_start(&pr, label, lp->src->per_epoch, rows);
		double t0 = run_now(), loss_sum = 0;
		int64_t hits = 0, seen = 0, done = 0;
		for (;;) {
			if (c->steps && lp->steps >= c->steps) {
				stop = 1;
				break;
			}
			const sc_tensor *x, *y;
			int got = lp->src->next(lp->src, &x, &y, err);
			if (got < 0)
				return err->code;
			if (!got)
				break;
			float loss = 0;
			rc = trainer_step(lp->t, x, y, lr, &loss, err);
			if (rc == SC_ENUMERIC) {
				run_progress_end(&pr);
				/* the trainer's message: a non-finite loss, or with
				 * --check-numerics the node that made the first one */
				char why[SC_ERROR_MAX];
				snprintf(why, sizeof why, "%s", err->msg);
				char ck[4096];
				int have = !run_path(ck, sizeof ck, lp->dir, lp->ckpt_file,
						     err) && access(ck, F_OK) == 0;
				sc_fail(err, SC_ENUMERIC, "step %lld (epoch %lld): %s; "
					"stopped: %s%s", (long long)lp->steps + 1,
					(long long)lp->epoch + 1, why, have ?
					"the last good checkpoint is kept in " :
					"no checkpoint was written yet (no last good checkpoint) in ",
					lp->dir);
				return rc;
			}
			if (rc)
				return rc;
			lp->steps++;
			lp->batch++;
			done++;
			loss_sum += loss;
			if (lp->ce) {
				hits += argmax_hits(trainer_output(lp->t), y);
				seen += y->dims[0];
			}
			run_progress_step(&pr, lp->batch, loss_sum / (double)done);
			if (c->checkpoint_every > 0 &&
			    lp->steps % c->checkpoint_every == 0 &&
			    (rc = loop_save(lp, err)))
				return rc;
		}
		run_progress_end(&pr);
		double val = NAN, test = NAN;
		lp->seconds += run_now() - t0;
		if (lp->ce && (rc = sum_over_ranks(&hits, &seen, err)))
			return rc;
		if (lp->writer && (rc = lp->epoch_end(lp, &val, &test, err)))
			return rc;
		run_epoch e = {
			.epoch = (double)lp->epoch + 1,
			.loss = done ? loss_sum / (double)done : NAN,
			.train_acc = seen ? (double)hits / (double)seen : NAN,
			.val_acc = val, .test_acc = test, .lr = lr,
			.seconds = lp->seconds,
		};
		run_history_add(&lp->h, &e);
		run_printf("%s epoch %lld/%lld  loss %.4f", lp->stage, (long long)lp->epoch + 1,
		       (long long)c->epochs, e.loss);
		if (isfinite(e.train_acc))
			run_printf("  train_acc %.4f", e.train_acc);
		if (isfinite(val))
			run_printf("  val_acc %.4f", val);
		if (isfinite(test))
			run_printf("  test_acc %.4f", test);
		run_printf("  lr %.4g  %.1fs\n", lr, lp->seconds);
		run_flush();
		/* the position after this epoch; a run stopped by --steps in the
		 * middle of one resumes at the next batch */
		int mid = stop && lp->batch < lp->src->per_epoch;
		if (!mid) {
			lp->epoch++;
			lp->batch = 0;
		}
		rc = loop_save(lp, err);
		if (!mid)
			lp->epoch--;
		if (rc)
			return rc;
	}
	return SC_OK;
}

static int schedule_of(const run_config *c, optim_schedule *out, sc_error *err)
{
	char spec[256];
	const char *s = c->schedule;
	if (!strcmp(s, "const"))
		s = "constant";
	else if (!strcmp(s, "step"))
		snprintf(spec, sizeof spec, "step:%lld:0.1",
			 c->epochs / 3 > 0 ? c->epochs / 3 : 1LL), s = spec;
	else if (!strcmp(s, "multistep"))
		snprintf(spec, sizeof spec, "multistep:%lld,%lld:0.1",
			 c->epochs / 2 > 0 ? c->epochs / 2 : 1LL,
			 c->epochs * 3 / 4 > c->epochs / 2 ? c->epochs * 3 / 4 :
			 c->epochs / 2 + 1), s = spec;
	else if (!strcmp(s, "exp"))
		s = "exp:0.9";
	else if (!strcmp(s, "cosine"))
		snprintf(spec, sizeof spec, "cosine:%lld", c->epochs), s = spec;
	char full[400];
	if (c->warmup > 0) {
		snprintf(full, sizeof full, "warmup:%lld:0.1:seq+%s", c->warmup, s);
		s = full;
	}
	int rc = optim_schedule_parse(s, c->lr, out, err);
	if (rc)
		sc_error_prefix(err, "--schedule: ");
	return rc;
}

static int loop_schedule(loop *lp, sc_error *err)
{
	return schedule_of(lp->c, &lp->sched, err);
}

static int optim_from_config(const run_config *c, optim_config *o,
			     sc_error *err)
{
	optim_kind kind;
	int rc = optim_kind_parse(c->optimizer, &kind, err);
	if (rc) {
		sc_error_prefix(err, "--optimizer: ");
		return rc;
	}
	optim_config_init(o, kind);
	o->lr = c->lr;
	o->weight_decay = c->weight_decay;
	if (kind == OPTIM_SGD || kind == OPTIM_RMSPROP)
		o->momentum = c->momentum;
	rc = optim_config_check(o, err);
	if (rc)
		sc_error_prefix(err, "--optimizer %s: ", c->optimizer);
	return rc;
}

int run_config_validate(const run_config *c, sc_error *err)
{
	optim_config o;
	optim_schedule sched;
	aug_policy aug;
	model_head h;
	int rc = run_config_check(c, err);
	if (!rc)
		rc = optim_from_config(c, &o, err);
	if (!rc)
		rc = schedule_of(c, &sched, err);
	if (!rc && (rc = aug_parse(c->aug, &aug, err)))
		sc_error_prefix(err, "--aug: ");
	if (!rc && strcmp(c->method, "ce") && strcmp(c->method, "linear") &&
	    (rc = model_parse_head(c->head, &h, err)))
		sc_error_prefix(err, "--head: ");
	size_t len = strlen(c->model);
	int file = len > 5 && !strcmp(c->model + len - 5, ".onnx");
	if (!rc && strcmp(c->method, "linear") && !file && !model_arch_known(c->model))
		rc = sc_fail(err, SC_EINVAL, "--model: '%s' is neither a file ending "
			     "in .onnx nor one of resnet18, resnet34, resnet50, "
			     "resnet101, resnet152, resnet200", c->model);
	return rc;
}

/* --- stage 1 and CE ------------------------------------------------------------ */

typedef struct train_ctx {
	run_config *c;
	run_data *d;
	graph_model *net;       /* the inference network, weights synced */
} train_ctx;

static int save_model(trainer *t, graph_model *net, const char *dir,
		      const char *file, sc_error *err)
{
	char path[4096];
	int rc = trainer_export_weights(t, net, NULL, err);
	if (!rc)
		rc = run_path(path, sizeof path, dir, file, err);
	if (!rc)
		rc = onnx_save_file(net, path, err);
	return rc;
}

static int train_epoch_end(loop *lp, double *val, double *test, sc_error *err)
{
	train_ctx *tc = lp->ctx;
	int rc = save_model(lp->t, tc->net, lp->dir, "model.onnx", err);
	if (rc || !lp->ce)
		return rc;
	int th = (int)tc->c->threads;
	rc = run_evaluate(tc->net, tc->d->train, tc->d->val_idx, tc->d->n_val,
			  tc->d->mean, tc->d->std, th, val, NULL, NULL, err);
	if (!rc && tc->d->test)
		rc = run_evaluate(tc->net, tc->d->test, NULL, tc->d->test->n,
				  tc->d->mean, tc->d->std, th, test, NULL, NULL, err);
	return rc;
}

static int set_meta_floats(graph_model *m, const char *key, const float *v,
			   int n, sc_error *err)
{
	char buf[256];
	size_t len = 0;
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%.9g",
					i ? "," : "", v[i]);
	return export_meta_set(m, key, buf, err);
}

/* Encoder plus the method's head: the network stage 1 or CE trains. */
static int make_net(const run_config *c, const run_data *d, graph_model **out,
		    sc_error *err)
{
	graph_model *m;
	int feat;
	int64_t dim;
	const dataset *ds = d->train;
	int rc = run_make_encoder(c, ds->c, ds->h, ds->w, &m, &feat, &dim, err);
	if (rc)
		return rc;
	graph *g = m->graph;
	const char *feat_name = g->values[feat].name;
	char feat_copy[256];
	snprintf(feat_copy, sizeof feat_copy, "%s", feat_name);
	int x = feat, y;
	if (c->normalize_encoder && (rc = model_add_l2norm(m, x, &x, err)))
		goto fail;
	if (!strcmp(c->method, "ce")) {
		rc = model_add_linear_as(m, x, dim, ds->classes, "fc",
					 (uint64_t)c->seed, "logits", &y, err);
	} else {
		model_head h;
		if ((rc = model_parse_head(c->head, &h, err))) {
			sc_error_prefix(err, "--head: ");
			goto fail;
		}
		if (h.kind == MODEL_HEAD_NONE) {
			/* SupCon still needs unit-norm features */
			rc = model_add_l2norm_as(m, x, "embedding", &y, err);
		} else {
			rc = model_add_head_as(m, x, dim, &h, "head", (uint64_t)c->seed,
					       "embedding", &y, err);
		}
	}
	if (rc)
		goto fail;
	graph_clear_outputs(m->graph);
	char classes[32];
	snprintf(classes, sizeof classes, "%lld", (long long)ds->classes);
	if ((rc = graph_add_output(m->graph, y, err)) ||
	    (rc = export_meta_set(m, "method", c->method, err)) ||
	    (rc = export_meta_set(m, "features", feat_copy, err)) ||
	    (rc = export_meta_set(m, "data", c->data, err)) ||
	    (rc = export_meta_set(m, "classes", classes, err)) ||
	    (rc = set_meta_floats(m, "mean", d->mean, (int)ds->c, err)) ||
	    (rc = set_meta_floats(m, "std", d->std, (int)ds->c, err)) ||
	    (rc = graph_infer_shapes(m, err)))
		goto fail;
	*out = m;
	return SC_OK;
fail:
	graph_model_free(m);
	return rc;
}

static int open_loader(const run_config *c, const run_data *d,
		       const char *aug_spec, int views, int64_t batch,
		       loader **out, aug_policy *aug, sc_error *err)
{
	int rc = aug_parse(aug_spec, aug, err);
	if (rc)
		return rc;
	/* A loader thread competing with the compute threads for the cores
	 * costs far more than it saves: OpenMP's teams spin at barriers while
	 * one of their threads is descheduled. */
	long cores = sysconf(_SC_NPROCESSORS_ONLN) / dist_local_size();
	int workers = c->workers >= 0 ? (int)c->workers :
		      c->threads > 0 && c->threads < cores ? 1 : 0;
	loader_options lo = {
		.batch = batch, .views = views, .aug = aug, .mean = d->mean,
		.std = d->std, .seed = (uint64_t)c->seed, .shuffle = 1,
		.drop_last = 1, .workers = workers, .prefetch = 2,
		/* each rank builds its own images of every global batch */
		.shard_rank = dist_rank(), .shard_count = dist_size(),
	};
	return loader_create(d->train, d->train_idx, d->n_train, &lo, out, err);
}

/* The checkpoint's saved config, merged with what was given again. */
static int read_resume(const char *path, run_config *c, const run_keys *keys,
		       ckpt **out, sc_error *err)
{
	ckpt *k;
	int rc = ckpt_read(path, &k, err);
	if (rc)
		return rc;
	run_config saved = *c;
	rc = run_config_from_text(&saved, k->meta, err);
	if (!rc && keys)
		rc = run_config_merge_resume(&saved, c, keys, err);
	if (rc) {
		ckpt_free(k);
		return rc;
	}
	*c = saved;
	*out = k;
	return SC_OK;
}

/* The cluster numbers of a finished stage 1 or CE run, on a seeded sample
 * of the test images (the validation images without a test part). */
static int train_clusters(const run_config *c, const run_data *d,
			  const graph_model *net, run_clusters *cl,
			  sc_error *err)
{
	const dataset *ds = d->test ? d->test : d->train;
	int64_t total = d->test ? d->test->n : d->n_val, *pick = NULL, n = 0;
	memset(cl, 0, sizeof *cl);
	if (total < 2 || ds->classes < 2)
		return SC_OK;
	double t0 = run_now();
	int rc = run_sample_indices(total, RUN_CLUSTER_IMAGES, (uint64_t)c->seed,
				    &pick, &n, err);
	if (!rc && !d->test)
		for (int64_t i = 0; i < n; i++)
			pick[i] = d->val_idx[pick[i]];
	if (!rc)
		rc = run_cluster_metrics(net, ds, pick, n, d->mean, d->std,
					 (int)c->threads, cl, err);
	free(pick);
	if (rc)
		return rc;
	snprintf(cl->part, sizeof cl->part, "%s", d->test ? "test" : "validation");
	run_printf("clusters on %lld %s images (L2-normalised, %d-NN leave-one-out): "
	       "encoder silhouette %.4f knn %.4f, projector silhouette %.4f "
	       "knn %.4f  %.1fs\n", (long long)n, cl->part, cl->k,
	       cl->silhouette[0], cl->knn[0], cl->silhouette[1], cl->knn[1],
	       run_now() - t0);
	run_flush();
	return SC_OK;
}

int run_train(const run_config *given, const char *dir, int resume,
	      long long bench, const run_keys *keys, run_bench_result *bench_out,
	      sc_error *err)
{
	run_config cfg = *given;
	run_config *c = &cfg;
	char path[4096];
	ckpt *k = NULL;     /* the checkpoint resumed from, read once */
	int rc;
	int ranks = dist_size(), writer = dist_rank() == 0;
	/* every rank reads a checkpoint, only rank 0 writes */
	if (!bench && writer && (rc = sc_make_output_dir(dir, "--out", err)))
		return rc;
	if (!bench && (rc = dist_barrier(err)))
		return rc;
	if (!bench && (rc = run_path(path, sizeof path, dir, "checkpoint", err)))
		return rc;
	if (resume && !bench && access(path, F_OK) == 0) {
		if ((rc = read_resume(path, c, keys, &k, err)))
			return rc;
		run_printf("resuming %s\n", dir);
	} else if (resume && !bench) {
		run_printf("no checkpoint in %s yet: starting from the beginning\n", dir);
	}
	/* a resumed run records the ranks it runs on now: the checkpoint
	 * does not depend on them */
	c->world_size = ranks;
	dist_set_timeout(c->dist_timeout);
	/* ranks sharing a machine share its cores: OpenMP's default of all
	 * of them per rank would oversubscribe it */
	if (ranks > 1 && c->threads == 0 && dist_local_size() > 1) {
		long cores = sysconf(_SC_NPROCESSORS_ONLN) / dist_local_size();
		c->threads = cores > 1 ? cores : 1;
	}
	if (c->batch % ranks) {
		ckpt_free(k);
		return sc_fail(err, SC_EINVAL, "--batch %lld is not divisible by the "
			       "%d ranks: every rank takes the same share of the "
			       "global batch", c->batch, ranks);
	}
	run_data d;
	if ((rc = run_config_check(c, err)) || (rc = run_data_open(c, &d, err))) {
		ckpt_free(k);
		return rc;
	}
	graph_model *net = NULL, *tm = NULL;
	trainer *t = NULL;
	loader *l = NULL;
	aug_policy aug;
	int ce = !strcmp(c->method, "ce");
	int views = ce ? 1 : 2;
	if ((rc = make_net(c, &d, &net, err)) ||
	    (rc = onnx_clone_model(net, &tm, err)))
		goto out;
	trainer_options to;
	trainer_options_init(&to);
	to.graph.loss = ce ? TRAIN_LOSS_CE : TRAIN_LOSS_SUPCON;
	to.graph.temperature = c->temperature;
	to.graph.base_temperature = c->base_temperature;
	to.threads = (int)c->threads;
	if ((rc = run_trainer_limits(c, &to, err)))
		goto out;
	static const char *const head_only[] = {"fc.weight", "fc.bias"};
	if (c->freeze_encoder) {
		to.trainable = head_only;
		to.n_trainable = 2;
		to.graph.bn_frozen = 1;
	}
	to.distributed = 1;
	to.sync_bn = c->sync_bn;
	to.views = views;
	to.bucket_bytes = (size_t)(c->bucket_mb * 1048576.0);
	if ((rc = optim_from_config(c, &to.graph.optim, err)))
		goto out;
	rc = trainer_create(tm, &to, &t, err);
	tm = NULL;
	if (rc)
		goto out;
	if (!bench && writer) {
		if ((rc = run_path(path, sizeof path, dir, "config.json", err)) ||
		    (rc = run_config_write_json(c, path, err)))
			goto out;
	}
	if ((rc = open_loader(c, &d, c->aug, views, c->batch, &l, &aug, err)))
		goto out;
	if (loader_batches_per_epoch(l) < 1) {
		rc = sc_fail(err, SC_EINVAL, "--batch %lld is larger than the %lld "
			     "training images", c->batch, (long long)d.n_train);
		goto out;
	}
	loader_src src = {
		.base = {loader_src_start, loader_src_next,
			 loader_batches_per_epoch(l), c->batch, views},
		.l = l, .simclr = !strcmp(c->method, "simclr"),
	};
	train_ctx tc = {c, &d, net};
	loop lp = {
		.c = c, .t = t, .src = &src.base, .dir = dir,
		.ckpt_file = "checkpoint", .ce = ce, .epoch_end = train_epoch_end,
		.ctx = &tc, .bench = bench, .bench_out = bench_out, .stage = ce ? "ce" : c->method,
		.writer = writer,
	};
	if ((rc = loop_schedule(&lp, err)))
		goto out;
	if (k && ((rc = run_path(path, sizeof path, dir, "checkpoint", err)) ||
		  (rc = trainer_restore(t, k, path, err)) ||
		  (rc = loop_restore(&lp, k->meta, err))))
		goto out;
	if (!bench) {
		run_printf("%s: %s on %s, %lld training / %lld validation images, "
		       "%lld parameters, batch %lld%s, %lld epochs\n",
		       ce ? "cross-entropy" : c->method, c->model, d.train->name,
		       (long long)d.n_train, (long long)d.n_val,
		       (long long)trainer_param_elements(t), c->batch,
		       views == 2 ? " x 2 views" : "", c->epochs);
		if (ranks > 1)
			run_printf("%d ranks, %lld images each per step, batch norm %s\n",
			       ranks, c->batch / ranks, c->sync_bn ?
			       "synchronised over the global batch" : "per rank");
		run_flush();
	}
	if ((rc = train_epochs(&lp, err)) || bench || !writer)
		goto out;
	const run_epoch *last = lp.h.n ? &lp.h.e[lp.h.n - 1] : NULL;
	double test = ce && last ? last->test_acc : NAN;
	run_clusters cl;
	if ((rc = trainer_export_weights(t, net, NULL, err)) ||
	    (rc = train_clusters(c, &d, net, &cl, err)) ||
	    (rc = run_write_metrics_clusters(dir, c, &lp.h, NULL, NULL, test,
					     lp.seconds, &cl, err)) ||
	    (rc = run_write_curves(dir, c, &lp.h, NULL, err)))
		goto out;
	if (ce) {
		char out_path[4096];
		if ((rc = run_path(out_path, sizeof out_path, dir, "classifier.onnx",
				   err)) ||
		    (rc = run_export(dir, out_path, 0, err)))
			goto out;
		run_printf("test_accuracy: %.4f\nwrote %s\n", test, out_path);
	}
out:
	ckpt_free(k);
	loader_free(l);
	trainer_free(t);
	graph_model_free(tm);
	graph_model_free(net);
	run_data_close(&d);
	return rc;
}

/* --- stage 2 ----------------------------------------------------------------- */

typedef struct linear_ctx {
	run_config *c;
	run_data *d;
	graph_model *clf;       /* encoder + fc, inference form */
	/* cached features (aug none): the small trainer evaluates itself */
	graph_model *small;     /* features -> fc, inference form */
	float *val_f, *test_f;
	int64_t dim;
} linear_ctx;

static int eval_features(graph_model *small, const float *f, int64_t n,
			 int64_t dim, const dataset *d, const int64_t *idx,
			 int threads, double *acc, sc_error *err)
{
	*acc = NAN;
	if (n <= 0)
		return SC_OK;
	plan *p;
	plan_options po = {.threads = threads};
	int rc = plan_create(small, &po, &p, err);
	if (rc)
		return rc;
	sc_tensor x = {0};
	int64_t dims[2] = {n, dim};
	tensor_set_shape(&x, SC_FLOAT, 2, dims, "features", err);
	x.data = (void *)f;
	const char *name = plan_input_name(p, 0);
	const sc_tensor *in[1] = {&x};
	rc = plan_run(p, 1, &name, in, err);
	if (!rc) {
		const sc_tensor *y = plan_output(p, 0);
		int64_t k = y->dims[1], hits = 0;
		const float *v = y->data;
		for (int64_t i = 0; i < n; i++)
			hits += run_argmax(v + i * k, k) == d->labels[idx ? idx[i] : i];
		*acc = (double)hits / (double)n;
	}
	plan_free(p);
	return rc;
}

static int linear_epoch_end(loop *lp, double *val, double *test, sc_error *err)
{
	linear_ctx *lc = lp->ctx;
	int th = (int)lc->c->threads;
	int rc = trainer_export_weights(lp->t, lc->clf, NULL, err);
	if (rc)
		return rc;
	if (lc->small) {
		if ((rc = trainer_export_weights(lp->t, lc->small, NULL, err)) ||
		    (rc = eval_features(lc->small, lc->val_f, lc->d->n_val, lc->dim,
					lc->d->train, lc->d->val_idx, th, val, err)))
			return rc;
		if (lc->d->test)
			rc = eval_features(lc->small, lc->test_f, lc->d->test->n,
					   lc->dim, lc->d->test, NULL, th, test, err);
		return rc;
	}
	rc = run_evaluate(lc->clf, lc->d->train, lc->d->val_idx, lc->d->n_val,
			  lc->d->mean, lc->d->std, th, val, NULL, NULL, err);
	if (!rc && lc->d->test)
		rc = run_evaluate(lc->clf, lc->d->test, NULL, lc->d->test->n,
				  lc->d->mean, lc->d->std, th, test, NULL, NULL, err);
	return rc;
}

/* The encoder of the stage-1 network: cut once at its "features". */
static int make_encoder(const graph_model *stage1, graph_model **out,
			int64_t *dim, sc_error *err)
{
	graph_model *m;
	int rc = onnx_clone_model(stage1, &m, err);
	if (rc)
		return rc;
	const char *feat = export_meta_get(m, "features");
	if ((rc = model_cut_encoder(m, feat ? feat : "features", dim, err))) {
		graph_model_free(m);
		return rc;
	}
	*out = m;
	return SC_OK;
}

/* A copy of the encoder plus a fresh classifier. */
static int make_classifier(const graph_model *enc, int64_t dim,
			   const run_config *lc, int64_t classes,
			   graph_model **out, sc_error *err)
{
	graph_model *m;
	int rc = onnx_clone_model(enc, &m, err);
	if (rc)
		return rc;
	int x = m->graph->outputs[0], y;
	if (lc->normalize_encoder && (rc = model_add_l2norm(m, x, &x, err)))
		goto fail;
	if ((rc = model_add_linear_as(m, x, dim, classes, "fc",
				      (uint64_t)lc->seed, "logits", &y, err)))
		goto fail;
	graph_clear_outputs(m->graph);
	if ((rc = graph_add_output(m->graph, y, err)) ||
	    (rc = export_meta_set(m, "method", "linear", err)) ||
	    (rc = graph_infer_shapes(m, err)))
		goto fail;
	*out = m;
	return SC_OK;
fail:
	graph_model_free(m);
	return rc;
}

/* features [N, dim] -> (l2norm) -> fc: the model the cached path trains. */
static int make_small(const run_config *lc, int64_t dim, int64_t classes,
		      graph_model **out, sc_error *err)
{
	graph_model *m = graph_model_new();
	if (!m)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	m->ir_version = 8;
	graph *g = m->graph;
	int rc = graph_model_add_opset(m, "", 17, err);
	int x = rc ? -1 : graph_intern_value(g, "features", err), y;
	int64_t dims[2] = {-1, dim};
	const char *params[2] = {"N", NULL};
	if (x < 0 || (rc = graph_set_tensor_type(g, x, SC_FLOAT, 2, dims, params,
						 err)) ||
	    (rc = graph_add_input(g, x, err)))
		goto fail;
	if (lc->normalize_encoder && (rc = model_add_l2norm(m, x, &x, err)))
		goto fail;
	if ((rc = model_add_linear_as(m, x, dim, classes, "fc", (uint64_t)lc->seed,
				      "logits", &y, err)) ||
	    (rc = graph_add_output(m->graph, y, err)))
		goto fail;
	*out = m;
	return SC_OK;
fail:
	graph_model_free(m);
	return err->code ? err->code : SC_ENOMEM;
}

int run_linear(const char *dir, const run_config *given, int resume,
	       const run_keys *keys, sc_error *err)
{
	char path[4096];
	ckpt *k1 = NULL, *k = NULL;
	run_config s1;
	run_config_defaults(&s1, "supcon");
	int rc = run_path(path, sizeof path, dir, "checkpoint", err);
	if (!rc && access(path, F_OK) != 0)
		return sc_fail(err, SC_EINVAL, "%s: not a training run directory (no "
			       "checkpoint; run supcon train --out %s first)", dir, dir);
	if (rc || (rc = read_resume(path, &s1, NULL, &k1, err)))
		return rc;
	run_history h1;
	run_history_from_text(&h1, k1->meta);
	double s1_seconds = 0;
	const char *sp = strstr(k1->meta, "\nseconds ");
	if (sp)
		sscanf(sp, "\nseconds %lf", &s1_seconds);
	ckpt_free(k1);

	/* stage 2 inherits the data options of stage 1 unless given */
	run_config cfg = *given;
	run_config *c = &cfg;
	/* NULL keys (a caller in C) means: lc is complete as it is */
	if (keys && !run_keys_has(keys, "data"))
		memcpy(c->data, s1.data, sizeof c->data);
	if (keys && !run_keys_has(keys, "size"))
		c->size = s1.size;
	if (keys && !run_keys_has(keys, "limit"))
		c->limit = s1.limit;
	if (keys && !run_keys_has(keys, "val-split"))
		c->val_split = s1.val_split;
	if (keys && !run_keys_has(keys, "seed"))
		c->seed = s1.seed;
	if (keys && !run_keys_has(keys, "aug"))
		memcpy(c->aug, s1.aug, sizeof c->aug);
	if (keys && !run_keys_has(keys, "normalize-encoder"))
		c->normalize_encoder = s1.normalize_encoder;
	if (keys && !run_keys_has(keys, "label-noise"))
		c->label_noise = s1.label_noise;
	snprintf(c->method, sizeof c->method, "linear");
	snprintf(c->model, sizeof c->model, "%s", dir);
	if ((rc = run_path(path, sizeof path, dir, "linear.checkpoint", err)))
		return rc;
	if (resume && access(path, F_OK) == 0) {
		if ((rc = read_resume(path, c, keys, &k, err)))
			return rc;
	}
	run_data d;
	if ((rc = run_config_check(c, err)) || (rc = run_data_open(c, &d, err))) {
		ckpt_free(k);
		return rc;
	}
	graph_model *stage1 = NULL, *clf = NULL, *small = NULL, *tm = NULL,
		    *enc = NULL;
	trainer *t = NULL;
	loader *l = NULL;
	float *feats = NULL;
	aug_policy aug;
	int64_t dim = 0;
	linear_ctx lx = {.c = c, .d = &d};
	if ((rc = run_path(path, sizeof path, dir, "model.onnx", err)) ||
	    (rc = run_load_model(path, 0, &stage1, err)))
		goto out;
	/* the normalisation stage 1 trained with */
	int ch = (int)d.train->c;
	if (run_parse_floats(export_meta_get(stage1, "mean"), d.mean, ch) ||
	    run_parse_floats(export_meta_get(stage1, "std"), d.std, ch)) {
		rc = sc_fail(err, SC_EINVAL, "%s: no supcon.mean/std metadata for "
			     "%d channels: was it written by supcon train on this "
			     "data?", path, ch);
		goto out;
	}
	if ((rc = make_encoder(stage1, &enc, &dim, err)) ||
	    (rc = make_classifier(enc, dim, c, d.train->classes, &clf, err)))
		goto out;
	lx.clf = clf;
	lx.dim = dim;
	trainer_options to;
	trainer_options_init(&to);
	to.graph.loss = TRAIN_LOSS_CE;
	to.graph.bn_frozen = 1;
	to.threads = (int)c->threads;
	if ((rc = run_trainer_limits(c, &to, err)))
		goto out;
	static const char *const head_only[] = {"fc.weight", "fc.bias"};
	to.trainable = head_only;
	to.n_trainable = 2;
	if ((rc = optim_from_config(c, &to.graph.optim, err)) ||
	    (rc = aug_parse(c->aug, &aug, err)))
		goto out;
	int cached = aug.crop == 0 && aug.flip_p == 0 && aug.jitter_p == 0 &&
		     aug.gray_p == 0 && aug.blur_p == 0 && !aug.randaugment_n &&
		     !aug.autoaugment;
	feat_src fs = {0};
	loader_src ls = {0};
	batch_src *src;
	if (cached) {
		/* the frozen encoder's features, once */
		int64_t nt = d.n_train, nv = d.n_val, ne = d.test ? d.test->n : 0;
		feats = malloc((size_t)(nt + nv + ne) * (size_t)dim * sizeof *feats);
		int32_t *lab = malloc((size_t)(nt + 1) * sizeof *lab);
		fs.order = malloc((size_t)(nt + 1) * sizeof *fs.order);
		if (!feats || !lab || !fs.order) {
			free(lab);
			rc = sc_fail(err, SC_ENOMEM, "out of memory for %lld features",
				     (long long)(nt + nv + ne));
			goto out;
		}
		for (int64_t i = 0; i < nt; i++)
			lab[i] = d.train->labels[d.train_idx[i]];
		run_printf("linear: computing the frozen encoder's features of %lld "
		       "images\n", (long long)(nt + nv + ne));
		run_flush();
		double t0 = run_now();
		if ((rc = run_features(enc, d.train, d.train_idx, nt, d.mean, d.std,
				       (int)c->threads, dim, feats, err)) ||
		    (rc = run_features(enc, d.train, d.val_idx, nv, d.mean, d.std,
				       (int)c->threads, dim, feats + nt * dim, err)) ||
		    (d.test && (rc = run_features(enc, d.test, NULL, ne, d.mean,
						  d.std, (int)c->threads, dim,
						  feats + (nt + nv) * dim, err)))) {
			free(lab);
			goto out;
		}
		run_printf("linear: features in %.1fs\n", run_now() - t0);
		lx.val_f = feats + nt * dim;
		lx.test_f = feats + (nt + nv) * dim;
		if ((rc = make_small(c, dim, d.train->classes, &small, err)) ||
		    (rc = onnx_clone_model(small, &tm, err))) {
			free(lab);
			goto out;
		}
		lx.small = small;
		fs.feats = feats;
		fs.labels = lab;
		fs.n = nt;
		fs.dim = dim;
		fs.batch = c->batch < nt ? c->batch : nt;
		fs.seed = (uint64_t)c->seed;
		int64_t xd[2] = {fs.batch, dim}, yd[1] = {fs.batch};
		if ((rc = tensor_alloc(&fs.x, SC_FLOAT, 2, xd, "features", err)) ||
		    (rc = tensor_alloc(&fs.y, SC_INT64, 1, yd, "labels", err)))
			goto out;
		fs.base = (batch_src){feat_src_start, feat_src_next,
				      nt / fs.batch, fs.batch, 1};
		src = &fs.base;
	} else {
		if ((rc = onnx_clone_model(clf, &tm, err)) ||
		    (rc = open_loader(c, &d, c->aug, 1, c->batch, &l, &aug, err)))
			goto out;
		ls.base = (batch_src){loader_src_start, loader_src_next,
				      loader_batches_per_epoch(l), c->batch, 1};
		ls.l = l;
		src = &ls.base;
	}
	rc = trainer_create(tm, &to, &t, err);
	tm = NULL;
	if (rc)
		goto out;
	if ((rc = run_path(path, sizeof path, dir, "linear.json", err)) ||
	    (rc = run_config_write_json(c, path, err)))
		goto out;
	loop lp = {
		.c = c, .t = t, .src = src, .dir = dir,
		.ckpt_file = "linear.checkpoint", .ce = 1,
		.epoch_end = linear_epoch_end, .ctx = &lx, .stage = "linear",
		.writer = 1,
	};
	if ((rc = loop_schedule(&lp, err)))
		goto out;
	if (k && ((rc = run_path(path, sizeof path, dir, "linear.checkpoint",
				 err)) ||
		  (rc = trainer_restore(t, k, path, err)) ||
		  (rc = loop_restore(&lp, k->meta, err))))
		goto out;
	run_printf("linear: a %lldx%lld classifier on the frozen encoder of %s, "
	       "%lld training images, aug %s%s, %lld epochs\n", (long long)dim,
	       (long long)d.train->classes, dir, (long long)d.n_train, c->aug,
	       cached ? " (features cached)" : "", c->epochs);
	run_flush();
	if ((rc = train_epochs(&lp, err)))
		goto out;
	const run_epoch *last = lp.h.n ? &lp.h.e[lp.h.n - 1] : NULL;
	double test = last ? last->test_acc : NAN;
	char out_path[4096];
	run_clusters cl1;     /* stage 1's, kept in metrics.json */
	if ((rc = run_path(path, sizeof path, dir, "linear.onnx", err)) ||
	    (rc = onnx_save_file(clf, path, err)) ||
	    (run_clusters_read(dir, &cl1), 0) ||
	    (rc = run_write_metrics_clusters(dir, &s1, &h1, c, &lp.h, test,
					     s1_seconds + lp.seconds, &cl1, err)) ||
	    (rc = run_write_curves(dir, &s1, &h1, &lp.h, err)) ||
	    (rc = run_path(out_path, sizeof out_path, dir, "classifier.onnx", err)) ||
	    (rc = run_export(dir, out_path, 0, err)))
		goto out;
	run_printf("test_accuracy: %.4f\nwrote %s\n", test, out_path);
out:
	if (fs.labels)
		free((void *)fs.labels);
	free(fs.order);
	tensor_free(&fs.x);
	tensor_free(&fs.y);
	free(feats);
	ckpt_free(k);
	loader_free(l);
	trainer_free(t);
	graph_model_free(tm);
	graph_model_free(enc);
	graph_model_free(small);
	graph_model_free(clf);
	graph_model_free(stage1);
	run_data_close(&d);
	return rc;
}

/* --- export ------------------------------------------------------------------- */

int run_export(const char *dir, const char *out_path, int softmax,
	       sc_error *err)
{
	char path[4096];
	int rc = run_path(path, sizeof path, dir, "linear.onnx", err);
	if (rc)
		return rc;
	if (access(path, F_OK) != 0 &&
	    (rc = run_path(path, sizeof path, dir, "model.onnx", err)))
		return rc;
	if (access(path, F_OK) != 0)
		return sc_fail(err, SC_EINVAL, "%s: not a run directory (no model.onnx)",
			       dir);
	graph_model *m;
	if ((rc = run_load_model(path, 0, &m, err)))
		return rc;
	float mean[4], std[4];
	const char *ms = export_meta_get(m, "mean");
	int ch = ms ? 1 : 0;
	for (const char *p = ms; p && (p = strchr(p, ',')); p++)
		ch++;
	if (!ms || ch > 4 || run_parse_floats(ms, mean, ch) ||
	    run_parse_floats(export_meta_get(m, "std"), std, ch)) {
		graph_model_free(m);
		return sc_fail(err, SC_EINVAL, "%s: no supcon.mean/std metadata",
			       path);
	}
	export_options eo = {ch, mean, std, softmax};
	rc = export_inference(m, &eo, err);
	if (!rc)
		rc = onnx_save_file(m, out_path, err);
	graph_model_free(m);
	return rc;
}
