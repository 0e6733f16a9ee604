/* run_jobs.c: the job kinds of the run layer and their key tables (see
 * job.h and supcon.h's "Jobs"), with the runners of train, linear,
 * export, eval and embed: what `supcon train|linear|export|eval|embed`
 * do once their flags are parsed.  build, grad and sgemm have files of
 * their own. */
#include "job.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <limits.h>

#include "embed.h"
#include "models/models.h"
#include "plot.h"
#include "runtime/data/corrupt.h"
#include "runtime/dist.h"

/* --- key tables ---------------------------------------------------------------- */

#define KS(n, d) {n, RUN_KEY_STR, 0, 0, 0, 0, d}
#define KI(n, lo, hi, d) {n, RUN_KEY_INT, lo, hi, 0, 0, d}
#define KD(n, lo, hi, d) {n, RUN_KEY_DBL, 0, 0, lo, hi, d}
#define KN(n) {n, RUN_KEY_NUM, 0, 0, 0, 0, NULL}
#define KF(n) {n, RUN_KEY_FLAG, 0, 1, 0, 0, "0"}

static const run_key train_keys[] = {
	KS("out", NULL), KF("resume"), KI("bench", 1, 1000000, "0"),
	KF("validate"),
};
static const run_key linear_keys[] = {
	KS("rundir", NULL), KF("resume"),
};
static const run_key export_keys[] = {
	KS("rundir", NULL), KS("out", NULL), KF("softmax"),
};
static const run_key eval_keys[] = {
	KS("model", NULL), KS("data", "fashion-mnist"), KS("part", "test"),
	KI("size", 1, 4096, "32"), KI("limit", 0, 1LL << 40, "0"),
	KI("threads", 0, 1024, "0"), KI("seed", 0, 1LL << 62, "0"),
	KF("json"), KS("corrupt", NULL), KS("baseline", NULL),
	KI("sample", 0, 1LL << 40, "0"),
};
static const run_key embed_keys[] = {
	KS("model", NULL), KS("out", NULL), KS("data", NULL), KS("split", "test"),
	KS("layer", "encoder"), KS("method", "tsne"),
	KI("limit", 0, EMBED_MAX_POINTS, "2000"), KD("perplexity", 1, 1000, NULL),
	KI("iterations", 1, 100000, NULL), KD("theta", 0, 1, NULL),
	KI("exact-max", 0, TSNE_EXACT_LIMIT, NULL), KI("seed", 0, 1LL << 62, "0"),
	KI("width", 400, PLOT_MAX_SIDE, "1000"), KI("height", 300, PLOT_MAX_SIDE, "750"),
	KS("title", NULL), KS("points", NULL), KI("size", 1, 4096, "32"),
	KI("threads", 0, 1024, "0"),
};
static const run_key build_keys[] = {
	KS("arch", NULL), KS("stem", NULL), KS("in-shape", NULL),
	KI("width", 1, MODEL_MAX_WIDTH, "64"), KS("head", NULL),
	KI("classes", 0, MODEL_MAX_DIM, "0"), KF("zero-init-residual"),
	KI("seed", 0, LLONG_MAX, "0"),
	KI("opset", MODEL_OPSET_MIN, MODEL_OPSET_MAX, "17"),
	KS("encoder-output", NULL), KS("out", NULL),
};
static const run_key grad_keys[] = {
	KS("model", NULL), KS("loss", NULL), KS("optimizer", NULL), KS("out", NULL),
	KN("lr"), KN("momentum"), KN("weight-decay"), KN("temperature"),
};
static const run_key sgemm_keys[] = {
	KI("sgemm", 64, 8192, "2048"), KI("threads", 1, 4096, "0"),
	KI("repeat", 1, 1000000, "5"),
};

#define N(t) ((int)(sizeof t / sizeof t[0]))

static const run_job_kind kinds[] = {
	{"train", train_keys, N(train_keys), 1, run_job_train},
	{"linear", linear_keys, N(linear_keys), 1, run_job_linear},
	{"export", export_keys, N(export_keys), 0, run_job_export},
	{"eval", eval_keys, N(eval_keys), 0, run_job_eval},
	{"embed", embed_keys, N(embed_keys), 0, run_job_embed},
	{"build", build_keys, N(build_keys), 0, run_job_build},
	{"grad", grad_keys, N(grad_keys), 0, run_job_grad},
	{"sgemm", sgemm_keys, N(sgemm_keys), 0, run_job_sgemm},
};

const run_job_kind *run_job_kind_find(const char *name)
{
	for (int i = 0; name && i < N(kinds); i++)
		if (!strcmp(kinds[i].name, name))
			return &kinds[i];
	return NULL;
}

static const run_key *find_key(const run_job_kind *k, const char *key)
{
	for (int i = 0; i < k->n_keys; i++)
		if (!strcmp(k->keys[i].name, key))
			return &k->keys[i];
	return NULL;
}

int run_job_check(const run_job_kind *k, const char *key, const char *value,
		  sc_error *err)
{
	const run_key *d = find_key(k, key);
	if (!d && k->run_options && run_config_is_key(key))
		return run_config_check_key(key, value, err);
	if (!d)
		return sc_fail(err, SC_EINVAL, "--%s: not an option of a %s job",
			       key, k->name);
	long long i;
	double x;
	switch (d->type) {
	case RUN_KEY_STR:
		return SC_OK;
	case RUN_KEY_INT:
		return run_check_int(key, value, d->ilo, d->ihi, &i, err);
	case RUN_KEY_DBL:
		return run_check_double(key, value, d->lo, d->hi, &x, err);
	case RUN_KEY_NUM:
		return run_check_nonneg(key, value, &x, err);
	case RUN_KEY_FLAG:
		if (!strcmp(value, "1") || !strcmp(value, "0") ||
		    !strcmp(value, "true") || !strcmp(value, "false"))
			return SC_OK;
		return sc_fail(err, SC_EINVAL, "--%s: '%s' is not 1 or 0 (a flag)",
			       key, value);
	}
	return SC_OK;
}

const char *run_job_str(const run_job *j, const char *key)
{
	const run_key *d = find_key(j->kind, key);
	return run_keys_value(&j->keys, key, d ? d->dflt : NULL);
}

long long run_job_int(const run_job *j, const char *key)
{
	const char *s = run_job_str(j, key);
	return s ? strtoll(s, NULL, 10) : 0;
}

double run_job_dbl(const run_job *j, const char *key)
{
	const char *s = run_job_str(j, key);
	return s ? strtod(s, NULL) : 0;
}

int run_job_flag(const run_job *j, const char *key)
{
	const char *s = run_job_str(j, key);
	return s && strcmp(s, "0") && strcmp(s, "false");
}

/* --- results --------------------------------------------------------------------- */

int run_job_number(run_job *j, const char *key, double v, sc_error *err)
{
	if (isnan(v))
		return SC_OK;
	int i = 0;
	while (i < j->n_num && strcmp(j->num_key[i], key))
		i++;
	if (i == j->n_num) {
		if (i == RUN_JOB_MAX_RESULTS || strlen(key) >= sizeof j->num_key[0])
			return sc_fail(err, SC_EINTERNAL, "job result %s: no room", key);
		snprintf(j->num_key[i], sizeof j->num_key[i], "%s", key);
		j->n_num++;
	}
	j->num[i] = v;
	return SC_OK;
}

int run_job_text(run_job *j, const char *key, const char *v, sc_error *err)
{
	int i = 0;
	while (i < j->n_text && strcmp(j->text_key[i], key))
		i++;
	if (i == j->n_text &&
	    (i == (int)(sizeof j->text / sizeof j->text[0]) ||
	     strlen(key) >= sizeof j->text_key[0]))
		return sc_fail(err, SC_EINTERNAL, "job result %s: no room", key);
	char *copy = strdup(v);
	if (!copy)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	if (i == j->n_text) {
		snprintf(j->text_key[i], sizeof j->text_key[i], "%s", key);
		j->text[i] = NULL;
		j->n_text++;
	}
	free(j->text[i]);
	j->text[i] = copy;
	return SC_OK;
}

void run_job_clear_results(run_job *j)
{
	for (int i = 0; i < j->n_text; i++)
		free(j->text[i]);
	j->n_text = 0;
	j->n_num = 0;
}

/* --- train and linear -------------------------------------------------------------- */

/* The numbers of DIR/metrics.json as results, so that they are the file's. */
static int metrics_results(run_job *j, const char *dir, sc_error *err)
{
	static const char *const keys[] = {
		"test_accuracy", "final_loss", "train_accuracy", "val_accuracy",
		"seconds", "label_noise",
	};
	int rc = SC_OK;
	for (int i = 0; !rc && i < N(keys); i++) {
		double v;
		if (!run_metric_read(dir, keys[i], &v))
			rc = run_job_number(j, keys[i], v, err);
	}
	run_clusters cl;
	run_clusters_read(dir, &cl);
	if (!rc && cl.valid) {
		char key[48];
		rc = run_job_number(j, "cluster_images", (double)cl.images, err);
		if (!rc)
			rc = run_job_number(j, "cluster_k", cl.k, err);
		for (int l = 0; !rc && l < 2; l++) {
			snprintf(key, sizeof key, "%s_silhouette", run_layer_name((run_layer)l));
			rc = run_job_number(j, key, cl.silhouette[l], err);
			snprintf(key, sizeof key, "%s_knn", run_layer_name((run_layer)l));
			if (!rc)
				rc = run_job_number(j, key, cl.knn[l], err);
		}
	}
	return rc;
}

/* DIR/FILE as the text result key when the run wrote it. */
static int file_result(run_job *j, const char *key, const char *dir,
		       const char *file, sc_error *err)
{
	char path[4096];
	int rc = run_path(path, sizeof path, dir, file, err);
	if (!rc && access(path, F_OK) == 0)
		rc = run_job_text(j, key, path, err);
	return rc;
}

/* validate: the resolved options as text "config", "key value" lines,
 * after everything that can be checked without the data. */
static int config_result(run_job *j, const run_config *c, sc_error *err)
{
	int rc = run_config_validate(c, err);
	char *text = rc ? NULL : run_config_to_text(c);
	if (!rc && !text)
		rc = sc_fail(err, SC_ENOMEM, "out of memory");
	if (!rc) {
		/* "cfg key value" lines: drop the checkpoint's prefix */
		char *w = text;
		for (const char *r = text; *r;) {
			if (!strncmp(r, "cfg ", 4))
				r += 4;
			while (*r && *r != '\n')
				*w++ = *r++;
			if (*r)
				*w++ = *r++;
		}
		*w = 0;
		rc = run_job_text(j, "config", text, err);
	}
	free(text);
	return rc;
}

int run_job_train(run_job *j, sc_error *err)
{
	run_config c;
	run_config_defaults(&c, "supcon");
	int rc = dist_init(err);
	if (rc)
		return rc;
	/* rank 0 speaks for the job; the others only report errors */
	FILE *out = dist_rank() > 0 ? run_set_output(NULL) : run_output();
	rc = run_config_from_keys(&c, &j->keys, err);
	long long bench = run_job_int(j, "bench");
	char dflt[64];
	snprintf(dflt, sizeof dflt, "runs/%s", c.method);
	const char *dir = run_keys_value(&j->keys, "out", dflt);
	run_bench_result br = {0};
	if (!rc)
		rc = run_config_check(&c, err);
	if (!rc && run_job_flag(j, "validate")) {
		run_set_output(out);
		return config_result(j, &c, err);
	}
	if (!rc)
		rc = run_train(&c, dir, run_job_flag(j, "resume"), bench, &j->keys,
			       &br, err);
	run_set_output(out);
	if (!rc)
		rc = run_job_number(j, "world_size", dist_size(), err);
	if (!rc && bench) {
		if ((rc = run_job_number(j, "steps", br.steps, err)) ||
		    (rc = run_job_number(j, "step_ms", br.step_ms, err)) ||
		    (rc = run_job_number(j, "views_per_s", br.views_per_s, err)) ||
		    (rc = run_job_number(j, "peak_rss_mb", br.peak_rss_mb, err)))
			return rc;
		return SC_OK;
	}
	if (!rc)
		rc = run_job_text(j, "rundir", dir, err);
	if (!rc && !strcmp(c.method, "ce"))
		rc = file_result(j, "path", dir, "classifier.onnx", err);
	if (!rc)
		rc = metrics_results(j, dir, err);
	return rc;
}

int run_job_linear(run_job *j, sc_error *err)
{
	run_config c;
	run_config_defaults(&c, "linear");
	const char *dir = run_keys_value(&j->keys, "rundir", NULL);
	int rc = SC_OK;
	if (dist_launched_ranks() > 1)
		return sc_fail(err, SC_EUNSUPPORTED, "stage 2 runs in one process; "
			       "start it without mpirun");
	if (!dir)
		return sc_fail(err, SC_EINVAL, "missing RUNDIR (a supcon train --out folder)");
	if (run_keys_has(&j->keys, "method") || run_keys_has(&j->keys, "model") ||
	    run_keys_has(&j->keys, "head"))
		return sc_fail(err, SC_EINVAL, "--method, --model and --head belong to "
			       "supcon train; linear reads them from RUNDIR");
	if ((rc = run_config_from_keys(&c, &j->keys, err)) ||
	    (rc = run_linear(dir, &c, run_job_flag(j, "resume"), &j->keys, err)) ||
	    (rc = run_job_text(j, "rundir", dir, err)) ||
	    (rc = file_result(j, "path", dir, "classifier.onnx", err)))
		return rc;
	return metrics_results(j, dir, err);
}

/* --- export -------------------------------------------------------------------------- */

int run_job_export(run_job *j, sc_error *err)
{
	const char *dir = run_job_str(j, "rundir");
	char dflt[4096];
	if (!dir)
		return sc_fail(err, SC_EINVAL, "missing RUNDIR");
	int rc = run_path(dflt, sizeof dflt, dir, "classifier.onnx", err);
	const char *out = rc ? NULL : run_keys_value(&j->keys, "out", dflt);
	if (!rc)
		rc = run_export(dir, out, run_job_flag(j, "softmax"), err);
	if (!rc) {
		run_printf("wrote %s\n", out);
		rc = run_job_text(j, "path", out, err);
	}
	return rc;
}

/* --- eval ------------------------------------------------------------------------------- */

static void print_confusion(const dataset *d, const int64_t *cm)
{
	int64_t k = d->classes;
	run_printf("confusion (rows true, columns predicted):\n%14s", "");
	for (int64_t j = 0; j < k; j++)
		run_printf(" %6lld", (long long)j);
	run_printf("\n");
	for (int64_t i = 0; i < k; i++) {
		char name[14];
		snprintf(name, sizeof name, "%s", d->class_names && d->class_names[i] ?
			 d->class_names[i] : "");
		run_printf("%2lld %-11s", (long long)i, name);
		for (int64_t j = 0; j < k; j++)
			run_printf(" %6lld", (long long)cm[i * k + j]);
		run_printf("\n");
	}
}

static void json_table(const run_corrupt_table *t)
{
	run_printf("{\"clean_error\": %.6f, \"errors\": {", t->clean);
	for (int i = 0; i < t->n_kinds; i++) {
		int k = t->kinds[i];
		run_printf("%s\"%s\": [", i ? ", " : "", corrupt_name((corrupt_kind)k));
		for (int j = 0; j < t->n_severities; j++)
			run_printf("%s%.6f", j ? ", " : "", t->err[k][t->severities[j] - 1]);
		run_printf("]");
	}
	run_printf("}}");
}

/* error_<name> (mean over the severities) of every corruption of t, with
 * prefix "" or "baseline_". */
static int corrupt_results(run_job *j, const run_corrupt_table *t,
			   const char *prefix, sc_error *err)
{
	char key[48];
	snprintf(key, sizeof key, "%sclean_error", prefix);
	int rc = run_job_number(j, key, t->clean, err);
	for (int i = 0; !rc && i < t->n_kinds; i++) {
		int k = t->kinds[i];
		double s = 0;
		for (int v = 0; v < t->n_severities; v++)
			s += t->err[k][t->severities[v] - 1];
		snprintf(key, sizeof key, "%serror_%s", prefix,
			 corrupt_name((corrupt_kind)k));
		rc = run_job_number(j, key, s / t->n_severities, err);
	}
	return rc;
}

/* corrupt: the model (and the baseline) under every corruption asked for. */
static int eval_corrupt(run_job *j, graph_model *m, const char *path,
			const dataset *d, const int64_t *idx, int64_t n,
			int threads, uint64_t seed, sc_error *err)
{
	run_corrupt_table t, bt;
	graph_model *base = NULL;
	const char *bpath = run_job_str(j, "baseline");
	float zero[4] = {0, 0, 0, 0}, one[4] = {1, 1, 1, 1};
	int json = run_job_flag(j, "json");
	int rc = run_corrupt_parse(run_job_str(j, "corrupt"), &t, err);
	bt = t;
	if (!rc && bpath) {
		rc = run_load_model(bpath, 1, &base, err);
		if (!rc)
			rc = run_check_input(base, bpath, d->c, d->h, d->w, err);
	}
	if (!rc)
		rc = run_corrupt_eval(m, d, idx, n, zero, one, threads, seed,
				      json ? NULL : path, &t, err);
	if (!rc && base)
		rc = run_corrupt_eval(base, d, idx, n, zero, one, threads, seed,
				      json ? NULL : bpath, &bt, err);
	double ce[7], mce = NAN;
	if (!rc && base)
		mce = run_corrupt_mce(&t, &bt, ce);
	if (!rc && json) {
		run_printf("{\"images\": %lld, \"seed\": %llu, \"severities\": [",
			   (long long)n, (unsigned long long)seed);
		for (int i = 0; i < t.n_severities; i++)
			run_printf("%s%d", i ? ", " : "", t.severities[i]);
		run_printf("], \"model\": ");
		json_table(&t);
		if (base) {
			run_printf(", \"baseline\": ");
			json_table(&bt);
			run_printf(", \"ce\": {");
			for (int i = 0; i < t.n_kinds; i++)
				run_printf("%s\"%s\": %.6f", i ? ", " : "",
					   corrupt_name((corrupt_kind)t.kinds[i]), ce[i]);
			run_printf("}, \"mce\": %.6f", mce);
		}
		run_printf("}\n");
	} else if (!rc && run_output()) {
		run_printf("\n");
		if (base) {
			run_corrupt_print(run_output(), &bt, NULL, bpath, NULL);
			run_printf("\n");
		}
		run_corrupt_print(run_output(), &t, base ? &bt : NULL, path, bpath);
	}
	if (!rc)
		rc = run_job_number(j, "images", (double)n, err);
	if (!rc)
		rc = corrupt_results(j, &t, "", err);
	char names[256] = "";
	for (int i = 0; !rc && i < t.n_kinds; i++)
		snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
			 i ? "," : "", corrupt_name((corrupt_kind)t.kinds[i]));
	if (!rc)
		rc = run_job_text(j, "corruptions", names, err);
	if (!rc && base)
		rc = corrupt_results(j, &bt, "baseline_", err);
	if (!rc && base)
		rc = run_job_number(j, "mce", mce, err);
	graph_model_free(base);
	return rc;
}

static int eval_results(run_job *j, int64_t n, double top1, double top5,
			int64_t classes, sc_error *err)
{
	int rc = run_job_number(j, "images", (double)n, err);
	if (!rc)
		rc = run_job_number(j, "top1", top1, err);
	if (!rc && classes > 5)
		rc = run_job_number(j, "top5", top5, err);
	return rc;
}

int run_job_eval(run_job *j, sc_error *err)
{
	const char *path = run_job_str(j, "model");
	graph_model *m = NULL;
	dataset *d = NULL;
	int64_t *cm = NULL;
	long long size = run_job_int(j, "size"), limit = run_job_int(j, "limit");
	long long threads = run_job_int(j, "threads"), seed = run_job_int(j, "seed");
	int rc = SC_OK;
	if (!path)
		return sc_fail(err, SC_EINVAL, "missing MODEL.onnx");
	const char *part = run_job_str(j, "part");
	if (strcmp(part, "test") && strcmp(part, "train"))
		return sc_fail(err, SC_EINVAL, "--part: '%s' is not test or train", part);
	rc = run_load_model(path, 1, &m, err);
	if (!rc) {
		dataset_options o;
		dataset_options_init(&o);
		o.size = size;
		o.seed = (uint64_t)seed;
		rc = dataset_open(run_job_str(j, "data"),
				  strcmp(part, "test") ? DATASET_TRAIN : DATASET_TEST,
				  &o, &d, err);
		if (rc)
			sc_error_prefix(err, "--data: ");
	}
	if (!rc)
		rc = run_check_input(m, path, d->c, d->h, d->w, err);
	if (!rc && run_keys_has(&j->keys, "baseline") &&
	    !run_keys_has(&j->keys, "corrupt"))
		rc = sc_fail(err, SC_EINVAL, "--baseline needs --corrupt");
	int64_t *idx = NULL, n_idx = 0;
	long long sample = run_job_int(j, "sample");
	if (!rc && sample && run_keys_has(&j->keys, "limit"))
		rc = sc_fail(err, SC_EINVAL, "--sample and --limit exclude each other");
	if (!rc && sample)
		rc = run_sample_indices(d->n, sample, (uint64_t)seed, &idx, &n_idx, err);
	if (!rc && run_keys_has(&j->keys, "corrupt")) {
		rc = eval_corrupt(j, m, path, d, idx, idx ? n_idx :
				  limit && limit < d->n ? limit : d->n,
				  (int)threads, (uint64_t)seed, err);
		goto done;
	}
	if (!rc && !(cm = calloc((size_t)(d->classes * d->classes), sizeof *cm)))
		rc = sc_fail(err, SC_ENOMEM, "out of memory");
	double top1 = 0, top5 = 0;
	int64_t n = 0;
	if (!rc) {
		/* an exported model normalises inside: feed [0, 1] */
		float zero[4] = {0, 0, 0, 0}, one[4] = {1, 1, 1, 1};
		n = idx ? n_idx : limit && limit < d->n ? limit : d->n;
		rc = run_evaluate(m, d, idx, n, zero, one, (int)threads, &top1, &top5,
				  cm, err);
	}
	if (!rc && run_job_flag(j, "json")) {
		run_printf("{\"images\": %lld, \"top1\": %.6f", (long long)n, top1);
		if (d->classes > 5)
			run_printf(", \"top5\": %.6f", top5);
		run_printf(", \"confusion\": [");
		for (int64_t i = 0; i < d->classes; i++) {
			run_printf("%s[", i ? ", " : "");
			for (int64_t k = 0; k < d->classes; k++)
				run_printf("%s%lld", k ? ", " : "",
					   (long long)cm[i * d->classes + k]);
			run_printf("]");
		}
		run_printf("]}\n");
	} else if (!rc) {
		run_printf("%s on %s: %lld images\n", path, d->name, (long long)n);
		run_printf("top1: %.4f\n", top1);
		if (d->classes > 5)
			run_printf("top5: %.4f\n", top5);
		print_confusion(d, cm);
	}
	if (!rc)
		rc = eval_results(j, n, top1, top5, d->classes, err);
done:
	free(idx);
	free(cm);
	dataset_free(d);
	graph_model_free(m);
	return rc;
}

/* --- embed -------------------------------------------------------------------------------- */

int run_job_embed(run_job *j, sc_error *err)
{
	run_embed_options e;
	run_embed_defaults(&e);
	e.source = run_job_str(j, "model");
	if (!e.source)
		return sc_fail(err, SC_EINVAL, "missing MODEL.onnx or RUNDIR");
	e.out = run_job_str(j, "out");
	if (!e.out)
		return sc_fail(err, SC_EINVAL, "missing -o FILE.png");
	e.data = run_job_str(j, "data");
	e.title = run_job_str(j, "title");
	e.points = run_job_str(j, "points");
	const char *layer = run_job_str(j, "layer");
	if (!strcmp(layer, "encoder"))
		e.layer = RUN_LAYER_ENCODER;
	else if (!strcmp(layer, "projector"))
		e.layer = RUN_LAYER_PROJECTOR;
	else
		return sc_fail(err, SC_EINVAL, "--layer: '%s' is not encoder or "
			       "projector", layer);
	const char *method = run_job_str(j, "method");
	if (strcmp(method, "tsne") && strcmp(method, "pca"))
		return sc_fail(err, SC_EINVAL, "--method: '%s' is not tsne or pca",
			       method);
	e.pca = !strcmp(method, "pca");
	const char *split = run_job_str(j, "split");
	if (strcmp(split, "test") && strcmp(split, "train"))
		return sc_fail(err, SC_EINVAL, "--split: '%s' is not test or train",
			       split);
	e.train_part = !strcmp(split, "train");
	e.limit = run_job_int(j, "limit");
	e.seed = run_job_int(j, "seed");
	e.width = (int)run_job_int(j, "width");
	e.height = (int)run_job_int(j, "height");
	e.threads = (int)run_job_int(j, "threads");
	e.size = run_job_int(j, "size");
	if (run_keys_has(&j->keys, "iterations"))
		e.iterations = (int)run_job_int(j, "iterations");
	if (run_keys_has(&j->keys, "exact-max"))
		e.exact_max = run_job_int(j, "exact-max");
	if (run_keys_has(&j->keys, "perplexity"))
		e.perplexity = run_job_dbl(j, "perplexity");
	if (run_keys_has(&j->keys, "theta"))
		e.theta = run_job_dbl(j, "theta");
	run_embed_result r;
	int rc = run_embed(&e, &r, err);
	if (rc)
		return rc;
	if ((rc = run_job_number(j, "images", (double)r.n, err)) ||
	    (rc = run_job_number(j, "dim", (double)r.dim, err)) ||
	    (rc = run_job_number(j, "silhouette", r.silhouette, err)) ||
	    (rc = run_job_number(j, "knn", r.knn, err)) ||
	    (rc = run_job_number(j, "map_silhouette", r.map_silhouette, err)) ||
	    (rc = run_job_number(j, "map_knn", r.map_knn, err)))
		return rc;
	return run_job_text(j, "path", e.out, err);
}
