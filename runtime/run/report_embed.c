/* report_embed.c: embedding pictures: a network's embeddings of a
 * sample of images laid out in 2-D (t-SNE or PCA), drawn as a scatter
 * plot coloured by class, with the silhouette score and k-NN accuracy of
 * the embeddings; for `supcon embed` and the demo. */
#include "embed.h"
#include "plot.h"
#include "run.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/export.h"
#include "runtime/fileio.h"

void run_embed_defaults(run_embed_options *o)
{
	memset(o, 0, sizeof *o);
	o->layer = RUN_LAYER_ENCODER;
	o->limit = 2000;
	o->size = 32;
	tsne_options t;    /* t-SNE's own defaults, in one place */
	tsne_options_init(&t);
	o->perplexity = t.perplexity;
	o->theta = t.theta;
	o->iterations = t.iterations;
	o->exact_max = t.exact_max;
	o->width = 1000;
	o->height = 750;
}

/* RUNDIR/model.onnx, or the file itself. */
static int model_path(const char *source, char *buf, size_t len, sc_error *err)
{
	struct stat st;
	if (stat(source, &st) == 0 && S_ISDIR(st.st_mode)) {
		int rc = run_path(buf, len, source, "model.onnx", err);
		if (!rc && access(buf, F_OK) != 0)
			return sc_fail(err, SC_EINVAL, "%s: not a run directory (no "
				       "model.onnx; supcon train --out writes one)",
				       source);
		return rc;
	}
	if (snprintf(buf, len, "%s", source) >= (int)len)
		return sc_fail(err, SC_EINVAL, "%s: path too long", source);
	return SC_OK;
}

typedef struct progress_ctx {
	double t0;
} progress_ctx;

static void tsne_progress(void *vctx, int iter, int total, double kl)
{
	progress_ctx *p = vctx;
	run_printf("t-SNE iteration %d/%d  KL %.4f  %.1fs\n", iter, total, kl,
	       run_now() - p->t0);
	run_flush();
}

static int write_points(const char *path, const double *xy, const int32_t *y,
			int64_t n, sc_error *err)
{
	sc_atomic_file a;
	int rc = sc_atomic_open(&a, path, err);
	if (rc)
		return rc;
	fputs("x,y,label\n", a.f);
	for (int64_t i = 0; i < n; i++)
		fprintf(a.f, "%.9g,%.9g,%d\n", xy[2 * i], xy[2 * i + 1], y[i]);
	return sc_atomic_commit(&a, err);
}

typedef struct embed_work {
	graph_model *m, *layer;
	dataset *d;
	int64_t *idx, n, dim;
	float *feat, *flat;
	int32_t *labels;
	double *xy;
} embed_work;

static void work_free(embed_work *w)
{
	graph_model_free(w->m);
	graph_model_free(w->layer);
	dataset_free(w->d);
	free(w->idx);
	free(w->feat);
	free(w->flat);
	free(w->labels);
	free(w->xy);
}

int run_embed(const run_embed_options *e, run_embed_result *res, sc_error *err)
{
	const char *split = e->train_part ? "train" : "test";
	char path[4096];
	embed_work w = {0};
	int rc = model_path(e->source, path, sizeof path, err);
	if (!rc)
		rc = run_load_model(path, 1, &w.m, err);
	if (rc)
		return rc;
	const char *meta_data = export_meta_get(w.m, "data");
	const char *spec = e->data ? e->data : meta_data ? meta_data : "fashion-mnist";
	dataset_options o;
	dataset_options_init(&o);
	o.size = e->size;
	o.seed = (uint64_t)e->seed;
	float mean[4], std[4];
	int inside;
	if ((rc = dataset_open(spec, strcmp(split, "test") ? DATASET_TRAIN :
			       DATASET_TEST, &o, &w.d, err))) {
		sc_error_prefix(err, "--data: ");
		goto out;
	}
	if ((rc = run_check_input(w.m, path, w.d->c, w.d->h, w.d->w, err)) ||
	    (rc = run_model_normalisation(w.m, w.d->c, mean, std, &inside, err)) ||
	    (rc = run_layer_model(w.m, e->layer, &w.layer, &w.dim, err)) ||
	    (rc = run_sample_indices(w.d->n, e->limit, (uint64_t)e->seed, &w.idx,
				     &w.n, err))) {
		sc_error_prefix(err, "%s: ", path);
		goto out;
	}
	if (w.n < 3) {
		rc = sc_fail(err, SC_EINVAL, "--data: %lld images; embed needs at "
			     "least 3", (long long)w.n);
		goto out;
	}
	w.feat = malloc(sizeof *w.feat * (size_t)(w.n * w.dim));
	w.flat = malloc(sizeof *w.flat * (size_t)(2 * w.n));
	w.labels = malloc(sizeof *w.labels * (size_t)w.n);
	w.xy = malloc(sizeof *w.xy * (size_t)(2 * w.n));
	if (!w.feat || !w.flat || !w.labels || !w.xy) {
		rc = sc_fail(err, SC_ENOMEM, "out of memory for %lld embeddings of "
			     "%lld dims", (long long)w.n, (long long)w.dim);
		goto out;
	}
	for (int64_t i = 0; i < w.n; i++)
		w.labels[i] = w.d->labels[w.idx[i]];
	run_printf("embed: %s output (%lld dims) of %s for %lld images of %s\n",
	       run_layer_name(e->layer), (long long)w.dim, path, (long long)w.n,
	       w.d->name);
	run_flush();
	double t0 = run_now();
	if ((rc = run_features(w.layer, w.d, w.idx, w.n, mean, std, e->threads,
			       w.dim, w.feat, err)))
		goto out;
	embed_l2_normalize(w.feat, w.n, w.dim);
	double sil, knn, sil2 = NAN, knn2 = NAN;
	if ((rc = embed_silhouette(w.feat, w.n, w.dim, w.labels, w.d->classes,
				   &sil, err)) ||
	    (rc = embed_knn_accuracy(w.feat, w.n, w.dim, w.labels, w.d->classes,
				     RUN_CLUSTER_K, &knn, err)))
		goto out;
	run_printf("embeddings: silhouette %.4f, %d-NN accuracy %.4f (L2-normalised, "
	       "leave-one-out)  %.1fs\n", sil, RUN_CLUSTER_K, knn, run_now() - t0);
	run_flush();
	char sub[512], title[512];
	double explained[2] = {0, 0};
	tsne_options to;
	tsne_options_init(&to);
	to.perplexity = e->perplexity;
	to.theta = e->theta;
	to.iterations = e->iterations;
	to.exact_max = e->exact_max;
	to.seed = (uint64_t)e->seed;
	if (e->pca) {
		if (w.dim < 2) {
			rc = sc_fail(err, SC_EINVAL, "%s: the %s output has 1 dim; PCA "
				     "needs 2", path, run_layer_name(e->layer));
			goto out;
		}
		rc = embed_pca(w.feat, w.n, w.dim, 2, w.xy, NULL, explained, err);
	} else {
		int exact = tsne_is_exact(&to, w.n);
		if (exact && w.n > TSNE_EXACT_LIMIT) {
			rc = sc_fail(err, SC_EINVAL, "--theta 0: the exact t-SNE takes at "
				     "most %d points; lower --limit", TSNE_EXACT_LIMIT);
			goto out;
		}
		run_printf("t-SNE: %s, perplexity %g, %d iterations\n", exact ? "exact" :
		       "Barnes-Hut", tsne_perplexity(&to, w.n), to.iterations);
		progress_ctx pc = {run_now()};
		to.progress = tsne_progress;
		to.progress_ctx = &pc;
		to.progress_every = 250;
		rc = embed_tsne(w.feat, w.n, w.dim, &to, w.xy, NULL, err);
	}
	if (rc)
		goto out;
	embed_to_float(w.xy, 2 * w.n, w.flat);
	if ((rc = embed_silhouette(w.flat, w.n, 2, w.labels, w.d->classes, &sil2,
				   err)) ||
	    (rc = embed_knn_accuracy(w.flat, w.n, 2, w.labels, w.d->classes,
				     RUN_CLUSTER_K, &knn2, err)))
		goto out;
	run_printf("2-D map: silhouette %.4f, %d-NN accuracy %.4f\n", sil2,
	       RUN_CLUSTER_K, knn2);
	snprintf(title, sizeof title, "%s of the %s %s", e->pca ? "PCA" : "t-SNE",
		 run_layer_name(e->layer), e->layer == RUN_LAYER_ENCODER ?
		 "features" : "output");
	snprintf(sub, sizeof sub, "%.160s: %lld %s images | embeddings: "
		 "silhouette %.3f, %d-NN accuracy %.3f", e->source, (long long)w.n,
		 split, sil, RUN_CLUSTER_K, knn);
	char xl[64], yl[64];
	if (e->pca) {
		snprintf(xl, sizeof xl, "PC 1 (%.1f%% of the variance)", 100 * explained[0]);
		snprintf(yl, sizeof yl, "PC 2 (%.1f%%)", 100 * explained[1]);
	} else {
		snprintf(xl, sizeof xl, "t-SNE 1 (perplexity %g)",
			 tsne_perplexity(&to, w.n));
		snprintf(yl, sizeof yl, "t-SNE 2");
	}
	plot_scatter_spec ps = {
		.xy = w.xy, .label = w.labels, .n = w.n, .classes = w.d->classes,
		.names = (const char *const *)w.d->class_names,
		.title = e->title ? e->title : title, .subtitle = sub,
		.xlabel = xl, .ylabel = yl, .width = e->width, .height = e->height,
	};
	if ((rc = plot_scatter_png(&ps, e->out, err)))
		goto out;
	if (e->points && (rc = write_points(e->points, w.xy, w.labels, w.n, err)))
		goto out;
	run_printf("wrote %s\n", e->out);
	if (res)
		*res = (run_embed_result){w.n, w.dim, sil, knn, sil2, knn2};
out:
	work_free(&w);
	return rc;
}

