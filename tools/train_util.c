/* train_util.c: what the training commands share besides the config:
 * data, evaluation, progress output, metrics, model construction. */
#include "train.h"

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

/* --- data ---------------------------------------------------------------- */

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
typedef int (*eval_sink)(void *ctx, const sc_tensor *y, int64_t from,
			 int64_t b, sc_error *err);

static int run_batches(graph_model *net, const dataset *d, const int64_t *idx,
		       int64_t n, const float *mean, const float *std,
		       int threads, eval_sink sink, void *ctx, sc_error *err)
{
	plan *p = NULL;
	loader *l = NULL;
	plan_options po = {.threads = threads};
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
			rc = sink(ctx, plan_output(p, 0), from, b->images, err);
		from += b->images;
	}
	loader_free(l);
	plan_free(p);
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

typedef struct acc_ctx {
	const dataset *d;
	const int64_t *idx;
	int64_t top1, top5;
	int64_t *confusion;
} acc_ctx;

static int acc_sink(void *vctx, const sc_tensor *y, int64_t from, int64_t b,
		    sc_error *err)
{
	acc_ctx *c = vctx;
	int64_t k = y->rank == 2 ? y->dims[1] : 0;
	if (y->dtype != SC_FLOAT || y->dims[0] != b || k < 1)
		return sc_fail(err, SC_EINVAL, "the model's output is not float "
			       "logits [N, classes]");
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

typedef struct feat_ctx {
	int64_t dim;
	float *out;
} feat_ctx;

static int feat_sink(void *vctx, const sc_tensor *y, int64_t from, int64_t b,
		     sc_error *err)
{
	feat_ctx *c = vctx;
	if (y->dtype != SC_FLOAT || y->numel != b * c->dim)
		return sc_fail(err, SC_EINTERNAL, "encoder output is not [N, %lld]",
			       (long long)c->dim);
	memcpy(c->out + from * c->dim, y->data, y->nbytes);
	return SC_OK;
}

int run_features(graph_model *net, const dataset *d, const int64_t *idx,
		 int64_t n, const float *mean, const float *std, int threads,
		 int64_t dim, float *feats, sc_error *err)
{
	feat_ctx c = {dim, feats};
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
	p->tty = isatty(fileno(stdout));
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
		printf("\r%s [%s] %lld/%lld loss %.4f %.0f img/s ETA %s ", p->label,
		       bar, (long long)step, (long long)p->total, loss, rate, eta_s);
		fflush(stdout);
		return;
	}
	/* plain lines, about ten per epoch */
	int64_t every = p->total >= 10 ? p->total / 10 : 1;
	if (step - p->last_line >= every || step == p->total) {
		printf("%s step %lld/%lld loss %.4f %.0f img/s ETA %s\n", p->label,
		       (long long)step, (long long)p->total, loss, rate, eta_s);
		fflush(stdout);
		p->last_line = step;
	}
}

void run_progress_end(run_progress *p)
{
	if (p->tty) {
		printf("\r%*s\r", 100, "");
		fflush(stdout);
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
	char path[4096];
	int rc = run_path(path, sizeof path, dir, "metrics.json", err);
	sc_atomic_file a;
	if (rc || (rc = sc_atomic_open(&a, path, err)))
		return rc;
	FILE *f = a.f;
	fputs("{\n  \"method\": ", f);
	cli_json_string(f, c->method);
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
		cli_json_string(f, lc->aug);
		fputs("}", f);
	}
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
		if ((rc = cli_load_model(c->model, 1, &m, err)))
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

int run_clone_model(const graph_model *m, graph_model **out, sc_error *err)
{
	void *buf;
	size_t len;
	int rc = onnx_save_memory(m, &buf, &len, err);
	if (rc)
		return rc;
	rc = onnx_load_memory(buf, len, NULL, "model copy", out, err);
	free(buf);
	return rc;
}
