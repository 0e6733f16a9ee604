/* run_util.c: what the training jobs share besides the config:
 * data, evaluation, progress output, metrics, model construction. */
#include "run.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "models/models.h"
#include "onnx/onnx.h"
#include "runtime/fileio.h"
#include "runtime/data/loader.h"
#include "runtime/infer.h"
#include "runtime/plan.h"
#include "runtime/rng.h"
#include "runtime/export.h"
#include "embed.h"

/* --- data ---------------------------------------------------------------- */

/* rng stream of the label noise ("noise"), apart from every other user of
 * the run's seed */
#define LABEL_NOISE_STREAM 0x6e6f697365ull

/* Label noise: round(p * n_train) training images, drawn with the run's
 * seed, get a different class drawn uniformly from the other k - 1.
 * Validation images keep their labels (they share the label array, but
 * not the indices), and the test part is another dataset. */
static void flip_labels(run_data *d, double p, uint64_t seed)
{
	int64_t k = d->train->classes, n = d->n_train;
	if (k < 2 || n < 1)
		return;
	int64_t *order = malloc(sizeof *order * (size_t)n);
	if (!order)
		return;
	memcpy(order, d->train_idx, sizeof *order * (size_t)n);
	rng r;
	rng_init(&r, seed, LABEL_NOISE_STREAM);
	rng_shuffle(&r, order, n);
	int64_t flips = llround(p * (double)n);
	for (int64_t i = 0; i < flips && i < n; i++) {
		int32_t *l = &d->train->labels[order[i]];
		*l = (int32_t)((*l + 1 + (int64_t)rng_below(&r, (uint64_t)(k - 1))) % k);
	}
	free(order);
}

int run_data_open(const run_config *c, run_data *d, sc_error *err)
{
	memset(d, 0, sizeof *d);
	dataset_options o;
	dataset_options_init(&o);
	o.size = c->size;
	o.seed = (uint64_t)c->seed;
	int rc = dataset_open(c->data, DATASET_TRAIN, &o, &d->train, err);
	if (rc) {
		sc_error_prefix(err, "--data: ");
		return rc;
	}
	if (d->train->c > 4) {
		run_data_close(d);
		return sc_fail(err, SC_EUNSUPPORTED, "--data: %lld channels; at most "
			       "4 are supported", (long long)d->train->c);
	}
	sc_error terr = {0};
	if (dataset_open(c->data, DATASET_TEST, &o, &d->test, &terr)) {
		if (run_output())
			fprintf(stderr, "supcon: warning: %s; no test accuracy\n", terr.msg);
		d->test = NULL;
	}
	if ((rc = dataset_split(d->train->n, c->limit, c->val_split,
				(uint64_t)c->seed, &d->train_idx, &d->n_train,
				&d->val_idx, &d->n_val, err))) {
		run_data_close(d);
		return rc;
	}
	if (d->n_train < 1) {
		run_data_close(d);
		return sc_fail(err, SC_EINVAL, "--data: no training images left after "
			       "--limit and --val-split");
	}
	/* a constant channel reports std 1 */
	dataset_channel_stats(d->train, d->train_idx, d->n_train, d->mean, d->std);
	if (c->label_noise > 0)
		flip_labels(d, c->label_noise, (uint64_t)c->seed);
	return SC_OK;
}

void run_data_close(run_data *d)
{
	dataset_free(d->train);
	dataset_free(d->test);
	free(d->train_idx);
	free(d->val_idx);
	memset(d, 0, sizeof *d);
}

#define EVAL_BATCH 256

/* Runs net over idx in order, in batches the loader makes (no
 * augmentation: plain normalisation); calls sink with each batch's output. */
typedef int (*eval_sink)(void *ctx, const plan *p, int64_t from, int64_t b,
			 sc_error *err);

static int run_batches(graph_model *net, const dataset *d, const int64_t *idx,
		       int64_t n, const float *mean, const float *std,
		       int threads, eval_sink sink, void *ctx, sc_error *err)
{
	plan *p = NULL;
	loader *l = NULL;
	int64_t *first = NULL;
	plan_options po = {.threads = threads};
	/* the loader reads a NULL idx as "all of d": the first n are a list */
	if (!idx && n < d->n) {
		if (!(first = malloc(sizeof *first * (size_t)(n > 0 ? n : 1))))
			return sc_fail(err, SC_ENOMEM, "out of memory");
		for (int64_t i = 0; i < n; i++)
			first[i] = i;
		idx = first;
	}
	loader_options lo;
	loader_options_init(&lo);
	lo.batch = EVAL_BATCH;
	lo.mean = mean;
	lo.std = std;
	lo.shuffle = 0;
	lo.workers = 0;
	int rc = plan_create(net, &po, &p, err);
	if (!rc)
		rc = loader_create(d, idx, n, &lo, &l, err);
	if (!rc)
		rc = loader_start(l, 0, 0, err);
	const char *in_name = rc ? NULL : plan_input_name(p, 0);
	for (int64_t from = 0; !rc;) {
		loader_batch *b;
		int got = loader_next(l, &b, err);
		if (got <= 0) {
			rc = got < 0 ? err->code : SC_OK;
			break;
		}
		const sc_tensor *in[1] = {&b->x};
		rc = plan_run(p, 1, &in_name, in, err);
		if (!rc)
			rc = sink(ctx, p, from, b->images, err);
		from += b->images;
	}
	loader_free(l);
	plan_free(p);
	free(first);
	return rc;
}

int64_t run_argmax(const float *row, int64_t k)
{
	int64_t best = 0;
	for (int64_t j = 1; j < k; j++)
		if (row[j] > row[best])
			best = j;
	return best;
}

/* *k gets the classes of y, a batch of b float logits [b, classes]. */
static int logits_width(const sc_tensor *y, int64_t b, int64_t *k,
			sc_error *err)
{
	*k = y->rank == 2 ? y->dims[1] : 0;
	if (y->dtype != SC_FLOAT || y->dims[0] != b || *k < 1)
		return sc_fail(err, SC_EINVAL, "the model's output is not float "
			       "logits [N, classes]");
	return SC_OK;
}

typedef struct acc_ctx {
	const dataset *d;
	const int64_t *idx;
	int64_t top1, top5;
	int64_t *confusion;
} acc_ctx;

static int acc_sink(void *vctx, const plan *p, int64_t from, int64_t b,
		    sc_error *err)
{
	acc_ctx *c = vctx;
	const sc_tensor *y = plan_output(p, 0);
	int64_t k;
	int rc = logits_width(y, b, &k, err);
	if (rc)
		return rc;
	if (k < c->d->classes)
		return sc_fail(err, SC_EINVAL, "the model has %lld outputs per image "
			       "but the data has %lld classes", (long long)k,
			       (long long)c->d->classes);
	const float *v = y->data;
	for (int64_t i = 0; i < b; i++) {
		int64_t at = c->idx ? c->idx[from + i] : from + i;
		int truth = c->d->labels[at];
		const float *row = v + i * k;
		int64_t best = run_argmax(row, k), above = 0;
		for (int64_t j = 0; j < k; j++)
			above += row[j] > row[truth];
		c->top1 += best == truth;
		c->top5 += above < 5;
		if (c->confusion && best < c->d->classes)
			c->confusion[truth * c->d->classes + best]++;
	}
	return SC_OK;
}

int run_evaluate(graph_model *net, const dataset *d, const int64_t *idx,
		 int64_t n, const float *mean, const float *std, int threads,
		 double *top1, double *top5, int64_t *confusion, sc_error *err)
{
	acc_ctx c = {.d = d, .idx = idx, .confusion = confusion};
	*top1 = NAN;
	if (top5)
		*top5 = NAN;
	if (n <= 0)
		return SC_OK;
	int rc = run_batches(net, d, idx, n, mean, std, threads, acc_sink, &c, err);
	if (rc)
		return rc;
	*top1 = (double)c.top1 / (double)n;
	if (top5)
		*top5 = (double)c.top5 / (double)n;
	return SC_OK;
}

typedef struct pred_ctx {
	int32_t *pred;
} pred_ctx;

static int pred_sink(void *vctx, const plan *p, int64_t from, int64_t b,
		     sc_error *err)
{
	pred_ctx *c = vctx;
	const sc_tensor *y = plan_output(p, 0);
	int64_t k;
	int rc = logits_width(y, b, &k, err);
	if (rc)
		return rc;
	for (int64_t i = 0; i < b; i++)
		c->pred[from + i] = (int32_t)run_argmax((const float *)y->data + i * k, k);
	return SC_OK;
}

int run_predict(graph_model *net, const dataset *d, const int64_t *idx,
		int64_t n, const float *mean, const float *std, int threads,
		int32_t *pred, sc_error *err)
{
	pred_ctx c = {pred};
	return n <= 0 ? SC_OK :
	       run_batches(net, d, idx, n, mean, std, threads, pred_sink, &c, err);
}

typedef struct feat_ctx {
	int n_out;
	const int64_t *dim;
	float **out;
} feat_ctx;

static int feat_sink(void *vctx, const plan *p, int64_t from, int64_t b,
		     sc_error *err)
{
	feat_ctx *c = vctx;
	for (int k = 0; k < c->n_out; k++) {
		const sc_tensor *y = plan_output(p, k);
		if (y->dtype != SC_FLOAT || y->numel != b * c->dim[k])
			return sc_fail(err, SC_EINTERNAL, "output %d is not [N, %lld]",
				       k, (long long)c->dim[k]);
		memcpy(c->out[k] + from * c->dim[k], y->data, y->nbytes);
	}
	return SC_OK;
}

int run_features(graph_model *net, const dataset *d, const int64_t *idx,
		 int64_t n, const float *mean, const float *std, int threads,
		 int64_t dim, float *feats, sc_error *err)
{
	return run_features_multi(net, d, idx, n, mean, std, threads, 1, &dim,
				  &feats, err);
}

int run_features_multi(graph_model *net, const dataset *d, const int64_t *idx,
		       int64_t n, const float *mean, const float *std,
		       int threads, int n_out, const int64_t *dims, float **feats,
		       sc_error *err)
{
	feat_ctx c = {n_out, dims, feats};
	return n <= 0 ? SC_OK :
	       run_batches(net, d, idx, n, mean, std, threads, feat_sink, &c, err);
}

/* --- progress ---------------------------------------------------------------- */

double run_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void run_progress_start(run_progress *p, const char *label, int64_t total,
			int64_t images_per_step)
{
	p->label = label;
	p->total = total;
	p->images_per_step = images_per_step;
	p->start = run_now();
	p->tty = run_output() && isatty(fileno(run_output()));
	p->last_line = 0;
}

static void clock_text(char *buf, size_t len, double s)
{
	long t = s > 0 && s < 1e7 ? (long)(s + 0.5) : 0;
	if (t >= 3600)
		snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
}

void run_progress_step(run_progress *p, int64_t step, double loss)
{
	double el = run_now() - p->start;
	double rate = el > 0 ? (double)(step * p->images_per_step) / el : 0;
	double eta = step > 0 ? el / (double)step * (double)(p->total - step) : 0;
	char eta_s[32];
	clock_text(eta_s, sizeof eta_s, eta);
	if (p->tty) {
		int width = 24, fill = p->total ? (int)(width * step / p->total) : 0;
		char bar[32];
		for (int i = 0; i < width; i++)
			bar[i] = i < fill ? '=' : i == fill ? '>' : ' ';
		bar[width] = 0;
		run_printf("\r%s [%s] %lld/%lld loss %.4f %.0f img/s ETA %s ", p->label,
		       bar, (long long)step, (long long)p->total, loss, rate, eta_s);
		run_flush();
		return;
	}
	/* plain lines, about ten per epoch */
	int64_t every = p->total >= 10 ? p->total / 10 : 1;
	if (step - p->last_line >= every || step == p->total) {
		run_printf("%s step %lld/%lld loss %.4f %.0f img/s ETA %s\n", p->label,
		       (long long)step, (long long)p->total, loss, rate, eta_s);
		run_flush();
		p->last_line = step;
	}
}

void run_progress_end(run_progress *p)
{
	if (p->tty) {
		run_printf("\r%*s\r", 100, "");
		run_flush();
	}
}

/* --- files ------------------------------------------------------------------- */

int run_path(char *buf, size_t len, const char *dir, const char *file,
	     sc_error *err)
{
	int n = snprintf(buf, len, "%s/%s", dir, file);
	if (n < 0 || (size_t)n >= len)
		return sc_fail(err, SC_EINVAL, "%s: path too long", dir);
	return SC_OK;
}

static void json_num(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.6g", v);
	else
		fputs("null", f);
}

static void json_history(FILE *f, const run_history *h)
{
	fputs("[", f);
	for (int i = 0; i < h->n; i++) {
		const run_epoch *e = &h->e[i];
		fprintf(f, "%s\n    {\"epoch\": %.0f, \"loss\": ", i ? "," : "", e->epoch);
		json_num(f, e->loss);
		fputs(", \"train_accuracy\": ", f);
		json_num(f, e->train_acc);
		fputs(", \"val_accuracy\": ", f);
		json_num(f, e->val_acc);
		fputs(", \"test_accuracy\": ", f);
		json_num(f, e->test_acc);
		fputs(", \"lr\": ", f);
		json_num(f, e->lr);
		fputs(", \"seconds\": ", f);
		json_num(f, e->seconds);
		fputs("}", f);
	}
	fputs(h->n ? "\n  ]" : "]", f);
}

static const run_epoch *last_epoch(const run_history *h)
{
	return h && h->n ? &h->e[h->n - 1] : NULL;
}

int run_write_metrics(const char *dir, const run_config *c,
		      const run_history *h, const run_config *lc,
		      const run_history *lh, double test_accuracy,
		      double seconds, sc_error *err)
{
	return run_write_metrics_clusters(dir, c, h, lc, lh, test_accuracy,
					  seconds, NULL, err);
}

static void json_clusters(FILE *f, const run_clusters *cl)
{
	fputs(",\n  \"clusters\": {\"part\": ", f);
	sc_json_string(f, cl->part);
	fprintf(f, ", \"images\": %lld, \"features\": \"l2-normalised\", "
		"\"distance\": \"euclidean\", \"knn_k\": %d, "
		"\"knn_protocol\": \"leave-one-out\"", (long long)cl->images, cl->k);
	for (int l = 0; l < 2; l++) {
		fprintf(f, ", \"%s\": {\"silhouette\": ", run_layer_name((run_layer)l));
		json_num(f, cl->silhouette[l]);
		fputs(", \"knn_accuracy\": ", f);
		json_num(f, cl->knn[l]);
		fputs("}", f);
	}
	fputs("}", f);
}

int run_write_metrics_clusters(const char *dir, const run_config *c,
			       const run_history *h, const run_config *lc,
			       const run_history *lh, double test_accuracy,
			       double seconds, const run_clusters *cl,
			       sc_error *err)
{
	char path[4096];
	int rc = run_path(path, sizeof path, dir, "metrics.json", err);
	sc_atomic_file a;
	if (rc || (rc = sc_atomic_open(&a, path, err)))
		return rc;
	FILE *f = a.f;
	fputs("{\n  \"method\": ", f);
	sc_json_string(f, c->method);
	fputs(",\n  \"epochs\": ", f);
	json_history(f, h);
	const run_epoch *e = last_epoch(h);
	fputs(",\n  \"final_loss\": ", f);
	json_num(f, e ? e->loss : NAN);
	const run_epoch *fin = lh ? last_epoch(lh) : e;
	fputs(",\n  \"train_accuracy\": ", f);
	json_num(f, fin ? fin->train_acc : NAN);
	fputs(",\n  \"val_accuracy\": ", f);
	json_num(f, fin ? fin->val_acc : NAN);
	if (lc && lh) {
		fputs(",\n  \"linear\": {\"epochs\": ", f);
		json_history(f, lh);
		fputs(", \"aug\": ", f);
		sc_json_string(f, lc->aug);
		fputs("}", f);
	}
	if (c->label_noise > 0) {
		fputs(",\n  \"label_noise\": ", f);
		json_num(f, c->label_noise);
	}
	if (cl && cl->valid)
		json_clusters(f, cl);
	fputs(",\n  \"seconds\": ", f);
	json_num(f, seconds);
	fputs(",\n  \"test_accuracy\": ", f);
	json_num(f, test_accuracy);
	fputs("\n}\n", f);
	return sc_atomic_commit(&a, err);
}

void run_history_add(run_history *h, const run_epoch *e)
{
	int cap = (int)(sizeof h->e / sizeof h->e[0]);
	if (h->n == cap) {
		memmove(h->e, h->e + 1, (size_t)(cap - 1) * sizeof h->e[0]);
		h->n--;
	}
	h->e[h->n++] = *e;
	h->total++;
}

void run_history_append_text(char **text, const run_history *h)
{
	size_t len = *text ? strlen(*text) : 0;
	size_t cap = len + (size_t)h->n * 200 + 64;
	char *s = realloc(*text, cap);
	if (!s)
		return;
	*text = s;
	s[len] = 0;
	for (int i = 0; i < h->n; i++) {
		const run_epoch *e = &h->e[i];
		int k = snprintf(s + len, cap - len,
				 "hist %.17g %.17g %.17g %.17g %.17g %.17g %.17g\n",
				 e->epoch, e->loss, e->train_acc, e->val_acc,
				 e->test_acc, e->lr, e->seconds);
		if (k < 0 || (size_t)k >= cap - len)
			break;
		len += (size_t)k;
	}
}

int run_history_from_text(run_history *h, const char *text)
{
	memset(h, 0, sizeof *h);
	for (const char *line = text; line && *line;) {
		run_epoch e;
		if (sscanf(line, "hist %lf %lf %lf %lf %lf %lf %lf", &e.epoch, &e.loss,
			   &e.train_acc, &e.val_acc, &e.test_acc, &e.lr,
			   &e.seconds) == 7)
			run_history_add(h, &e);
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return SC_OK;
}

double run_peak_rss_mb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return NAN;
	char line[256];
	double kb = NAN;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmHWM: %lf", &kb) == 1)
			break;
	fclose(f);
	return kb / 1024.0;
}

/* --- models ---------------------------------------------------------------- */

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* The data input of a loaded model must take [*, C, H, W] images. */
int run_check_input(const graph_model *m, const char *path, int64_t c,
		    int64_t h, int64_t w, sc_error *err)
{
	const graph *g = m->graph;
	int slot = graph_data_input(g);
	if (slot < 0)
		return sc_fail(err, SC_EINVAL, "%s: the model has no data input", path);
	const graph_value *v = &g->values[g->inputs[slot]];
	const graph_type *t = &v->type;
	if (t->kind != GRAPH_TYPE_TENSOR || t->rank != 4)
		return sc_fail(err, SC_EINVAL, "%s: input '%s' is not a 4-D image "
			       "tensor", path, v->name);
	int64_t want[3] = {c, h, w};
	for (int k = 1; k < 4; k++)
		if (t->dims[k].value >= 0 && t->dims[k].value != want[k - 1])
			return sc_fail(err, SC_EINVAL, "%s: input '%s' wants "
				       "%lldx%lldx%lld images, the data has "
				       "%lldx%lldx%lld", path, v->name,
				       (long long)t->dims[1].value,
				       (long long)t->dims[2].value,
				       (long long)t->dims[3].value,
				       (long long)c, (long long)h, (long long)w);
	return SC_OK;
}

int run_make_encoder(const run_config *c, int64_t in_c, int64_t in_h,
		     int64_t in_w, graph_model **out, int *feat, int64_t *dim,
		     sc_error *err)
{
	*out = NULL;
	int rc;
	graph_model *m = NULL;
	if (ends_with(c->model, ".onnx")) {
		if ((rc = run_load_model(c->model, 1, &m, err)))
			return rc;
		if ((rc = run_check_input(m, c->model, in_c, in_h, in_w, err)) ||
		    (rc = model_cut_encoder(m, c->encoder_output[0] ?
					    c->encoder_output : NULL, dim, err))) {
			sc_error_prefix(err, "%s: ", c->model);
			graph_model_free(m);
			return rc;
		}
	} else {
		model_config mc;
		model_config_init(&mc);
		mc.arch = c->model;
		mc.width = c->width;
		mc.in_c = in_c;
		mc.in_h = in_h;
		mc.in_w = in_w;
		mc.seed = (uint64_t)c->seed;
		mc.zero_init_residual = c->zero_init_residual;
		mc.stem = !strcmp(c->stem, "imagenet") ? MODEL_STEM_IMAGENET :
			  !strcmp(c->stem, "cifar") ? MODEL_STEM_CIFAR :
			  in_h <= 64 && in_w <= 64 ? MODEL_STEM_CIFAR :
			  MODEL_STEM_IMAGENET;
		if (!model_arch_known(c->model))
			return sc_fail(err, SC_EINVAL, "--model: '%s' is neither a "
				       "file ending in .onnx nor one of resnet18, "
				       "resnet34, resnet50, resnet101, resnet152, "
				       "resnet200", c->model);
		if ((rc = model_build(&mc, &m, err)))
			return rc;
		*dim = model_feature_dim(&mc);
	}
	*feat = m->graph->outputs[0];
	*out = m;
	return SC_OK;
}

/* --- layers, samples and cluster metrics ------------------------------------ */

const char *run_layer_name(run_layer l)
{
	return l == RUN_LAYER_ENCODER ? "encoder" : "projector";
}

int run_layer_model(const graph_model *m, run_layer layer, graph_model **out,
		    int64_t *dim, sc_error *err)
{
	graph_model *c;
	*out = NULL;
	int rc = onnx_clone_model(m, &c, err);
	if (rc)
		return rc;
	if (layer == RUN_LAYER_ENCODER) {
		const char *feat = export_meta_get(c, "features");
		if (feat && graph_find_value(c->graph, feat) < 0)
			feat = NULL;
		rc = model_cut_encoder(c, feat, dim, err);
	} else {
		rc = graph_infer_shapes(c, err);
		const graph_type *t = rc ? NULL :
				      &c->graph->values[c->graph->outputs[0]].type;
		if (!rc && (t->kind != GRAPH_TYPE_TENSOR || t->rank != 2 ||
			    t->dims[1].value < 1))
			rc = sc_fail(err, SC_EINVAL, "the model's first output '%s' is "
				     "not [N, D] (the projector or the logits)",
				     c->graph->values[c->graph->outputs[0]].name);
		if (!rc)
			*dim = t->dims[1].value;
	}
	if (rc) {
		graph_model_free(c);
		return rc;
	}
	*out = c;
	return SC_OK;
}

int run_parse_floats(const char *s, float *v, int64_t n)
{
	for (int64_t i = 0; i < n; i++) {
		char *end;
		if (!s)
			return -1;
		v[i] = strtof(s, &end);
		if (end == s)
			return -1;
		s = *end == ',' ? end + 1 : NULL;
	}
	return s ? -1 : 0;
}

int run_model_normalisation(const graph_model *m, int64_t c, float *mean,
			    float *std, int *inside, sc_error *err)
{
	if (c < 1 || c > 4)
		return sc_fail(err, SC_EUNSUPPORTED, "%lld channels; at most 4 are "
			       "supported", (long long)c);
	for (int64_t i = 0; i < c; i++) {
		mean[i] = 0;
		std[i] = 1;
	}
	*inside = 0;
	const graph *g = m->graph;
	for (int i = 0; i < g->n_nodes; i++)
		if (g->nodes[i].name && !strcmp(g->nodes[i].name, "normalize/sub")) {
			*inside = 1;
			return SC_OK;
		}
	const char *ms = export_meta_get(m, "mean"), *ss = export_meta_get(m, "std");
	if (!ms && !ss) {
		/* a foreign model: images in [0, 1] as they are */
		*inside = 1;
		return SC_OK;
	}
	if (run_parse_floats(ms, mean, c) || run_parse_floats(ss, std, c))
		return sc_fail(err, SC_EINVAL, "supcon.mean/std metadata '%s' / '%s' "
			       "is not %lld numbers each: was the model trained on "
			       "this data?", ms ? ms : "", ss ? ss : "", (long long)c);
	return SC_OK;
}

int run_sample_indices(int64_t total, int64_t n, uint64_t seed, int64_t **idx,
		       int64_t *count, sc_error *err)
{
	*idx = NULL;
	*count = 0;
	if (total < 1)
		return sc_fail(err, SC_EINVAL, "no images to sample from");
	int64_t *v = malloc(sizeof *v * (size_t)total);
	if (!v)
		return sc_fail(err, SC_ENOMEM, "out of memory for %lld indices",
			       (long long)total);
	for (int64_t i = 0; i < total; i++)
		v[i] = i;
	if (n > 0 && n < total) {
		/* the first n of a seeded shuffle, back in increasing order */
		rng r;
		rng_init(&r, seed, 0x73616d706c65ull);
		rng_shuffle(&r, v, total);
		for (int64_t i = 1; i < n; i++)
			for (int64_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
				int64_t t = v[j];
				v[j] = v[j - 1];
				v[j - 1] = t;
			}
		total = n;
	}
	*idx = v;
	*count = total;
	return SC_OK;
}

/* net with the encoder's output added as a second output, when the
 * encoder is cut at a value net has (always for supcon's own models), so
 * one pass gives both layers; else NULL and two passes. */
static int two_layer_model(const graph_model *net, graph_model **out,
			   int64_t dims[2], sc_error *err)
{
	graph_model *enc = NULL, *two = NULL;
	*out = NULL;
	int rc = run_layer_model(net, RUN_LAYER_ENCODER, &enc, &dims[0], err);
	if (!rc)
		rc = run_layer_model(net, RUN_LAYER_PROJECTOR, &two, &dims[1], err);
	if (rc)
		goto out;
	const char *name = enc->graph->values[enc->graph->outputs[0]].name;
	int v = graph_find_value(two->graph, name);
	if (v < 0 || v == two->graph->outputs[0])
		goto out;       /* the cut made a new value: two passes */
	if ((rc = graph_add_output(two->graph, v, err)))
		goto out;
	*out = two;
	two = NULL;
out:
	graph_model_free(enc);
	graph_model_free(two);
	return rc;
}

int run_cluster_metrics(const graph_model *net, const dataset *d,
			const int64_t *idx, int64_t n, const float *mean,
			const float *std, int threads, run_clusters *cl,
			sc_error *err)
{
	cl->valid = 0;
	cl->images = n;
	cl->k = RUN_CLUSTER_K;
	graph_model *two = NULL;
	int64_t dims[2] = {0, 0};
	float *f[2] = {NULL, NULL};
	int32_t *labels = malloc(sizeof *labels * (size_t)(n > 0 ? n : 1));
	int rc = labels ? two_layer_model(net, &two, dims, err) :
		 sc_fail(err, SC_ENOMEM, "out of memory");
	for (int l = 0; l < 2 && !rc; l++)
		if (!(f[l] = malloc(sizeof *f[l] * (size_t)(n * dims[l]))))
			rc = sc_fail(err, SC_ENOMEM, "out of memory for %lld "
				     "embeddings", (long long)n);
	if (rc)
		goto out;
	for (int64_t i = 0; i < n; i++)
		labels[i] = d->labels[idx ? idx[i] : i];
	if (two) {
		/* output 0 is the projector, output 1 the encoder */
		int64_t od[2] = {dims[1], dims[0]};
		float *of[2] = {f[1], f[0]};
		rc = run_features_multi(two, d, idx, n, mean, std, threads, 2, od, of,
					err);
	} else {
		for (int l = 0; l < 2 && !rc; l++) {
			graph_model *m = NULL;
			rc = run_layer_model(net, (run_layer)l, &m, &dims[l], err);
			if (!rc)
				rc = run_features(m, d, idx, n, mean, std, threads,
						  dims[l], f[l], err);
			graph_model_free(m);
		}
	}
	for (int l = 0; l < 2 && !rc; l++) {
		embed_l2_normalize(f[l], n, dims[l]);
		rc = embed_silhouette(f[l], n, dims[l], labels, d->classes,
				      &cl->silhouette[l], err);
		if (!rc)
			rc = embed_knn_accuracy(f[l], n, dims[l], labels, d->classes,
						RUN_CLUSTER_K, &cl->knn[l], err);
	}
out:
	free(f[0]);
	free(f[1]);
	free(labels);
	graph_model_free(two);
	cl->valid = !rc;
	return rc;
}

void run_clusters_read(const char *dir, run_clusters *cl)
{
	memset(cl, 0, sizeof *cl);
	char path[4096], *buf;
	size_t len;
	sc_error err = {0};
	if (run_path(path, sizeof path, dir, "metrics.json", &err) ||
	    sc_read_file(path, 1 << 22, &buf, &len, &err))
		return;
	const char *p = strstr(buf, "\n  \"clusters\": {\"part\": \"");
	if (p) {
		p += strlen("\n  \"clusters\": {\"part\": \"");
		const char *q = strchr(p, '"');
		long long images = 0;
		const char *im = strstr(p, "\"images\": "), *k = strstr(p, "\"knn_k\": ");
		if (q && (size_t)(q - p) < sizeof cl->part && im && k &&
		    sscanf(im, "\"images\": %lld", &images) == 1 &&
		    sscanf(k, "\"knn_k\": %d", &cl->k) == 1) {
			memcpy(cl->part, p, (size_t)(q - p));
			cl->images = images;
			cl->valid = 1;
			for (int l = 0; l < 2; l++) {
				char key[64];
				snprintf(key, sizeof key, "\"%s\": {\"silhouette\": ",
					 run_layer_name((run_layer)l));
				const char *e = strstr(p, key);
				const char *a = e ? strstr(e, "\"knn_accuracy\": ") : NULL;
				cl->silhouette[l] = cl->knn[l] = NAN;
				if (!e || !a) {
					cl->valid = 0;
					continue;
				}
				sscanf(e + strlen(key), "%lf", &cl->silhouette[l]);
				sscanf(a + strlen("\"knn_accuracy\": "), "%lf", &cl->knn[l]);
			}
		}
	}
	free(buf);
}

int run_metric_read(const char *dir, const char *key, double *v)
{
	char path[4096], *buf;
	size_t len;
	sc_error err = {0};
	*v = NAN;
	if (run_path(path, sizeof path, dir, "metrics.json", &err) ||
	    sc_read_file(path, 1 << 22, &buf, &len, &err))
		return -1;
	char pat[64];
	snprintf(pat, sizeof pat, "\n  \"%s\": ", key);
	const char *p = strstr(buf, pat);
	int rc = p && sscanf(p + strlen(pat), "%lf", v) == 1 ? 0 : -1;
	free(buf);
	return rc;
}
