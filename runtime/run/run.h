/* run.h: the run layer behind the job API (supcon_job_* in supcon.h) and
 * so behind `supcon train`, `linear`, `export`, `eval`, `embed`, `sweep`
 * and `demo`: the resolved run configuration, data loading, evaluation,
 * the epoch loop with its progress output, run directories, metrics,
 * curves.png, embedding pictures and corruption tables.  It lives in the
 * library (not in tools/) so that a C program gets everything the CLI
 * makes.  Internal: programs use supcon.h.
 *
 * A run directory holds config.json (every option resolved), metrics.json
 * (per-epoch values and the top-level test_accuracy), checkpoint (the
 * newest, written atomically at every epoch end and every
 * --checkpoint-every steps), model.onnx (the trained network in inference
 * form, BN on running statistics, no normalisation: the input of stage 2
 * and of export) and, once exported, classifier.onnx or embedding.onnx.
 * Stage 2 adds linear.onnx and linear.checkpoint. */
#ifndef SUPCON_RUN_RUN_H
#define SUPCON_RUN_RUN_H

#include <stdint.h>
#include <stdio.h>

#include "runtime/data/dataset.h"
#include "runtime/graph.h"
#include "runtime/status.h"
#include "runtime/trainer.h"

/* --- output ------------------------------------------------------------------ */

/* Where the run layer prints progress and summaries: the output of the job
 * running on the calling thread (supcon_job_set_output), NULL when silent.
 * A thread-local sink rather than a FILE * threaded through every call:
 * the epoch loop, t-SNE's callback and the corruption tables all print,
 * and one job runs on one thread.  run_set_output returns the previous. */
FILE *run_output(void);
FILE *run_set_output(FILE *f);
void run_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void run_flush(void);

/* --- the options given ------------------------------------------------------- */

/* The options of a job as given, by key (the CLI's long option name
 * without dashes): a repeated key keeps its last value.  "Given" matters
 * for --resume (options given again must agree) and for defaults that
 * depend on other options (--lr after --optimizer adam). */
typedef struct run_keys {
	int n, cap;
	char **names, **values;
} run_keys;

int run_keys_set(run_keys *k, const char *name, const char *value,
		 sc_error *err);
void run_keys_free(run_keys *k);
int run_keys_has(const run_keys *k, const char *name);
const char *run_keys_value(const run_keys *k, const char *name,
			   const char *dflt);
/* A flag: given with a value other than "0" / "false". */
int run_keys_flag(const run_keys *k, const char *name);
/* The integer value of key: dflt when absent, else a whole decimal number
 * in [min, max]; SC_EINVAL naming --name otherwise. */
int run_keys_int(const run_keys *k, const char *name, long long min,
		 long long max, long long dflt, long long *out, sc_error *err);
/* The same check for one value, before it is stored. */
int run_check_int(const char *name, const char *s, long long min,
		  long long max, long long *out, sc_error *err);
/* A number in [lo, hi]; SC_EINVAL naming --name otherwise. */
int run_check_double(const char *name, const char *s, double lo, double hi,
		     double *out, sc_error *err);

/* A finite number >= 0; SC_EINVAL "--name: 'S' is not a finite number >= 0". */
int run_check_nonneg(const char *name, const char *s, double *out,
		     sc_error *err);

/* --- files ---------------------------------------------------------------------- */

/* Checks that path is a readable regular file first, so that a missing
 * model is bad input (SC_EINVAL) with a clear message; then loads and
 * validates it (with infer, runs shape inference).  Messages name the
 * path.  The caller owns *out (graph_model_free). */
int run_load_model(const char *path, int infer, graph_model **out,
		   sc_error *err);

/* Every option of a run, resolved.  Strings are fixed buffers so that a
 * config is a plain value (saved in checkpoints, compared on resume). */
typedef struct run_config {
	char method[16];        /* supcon | simclr | ce | linear */
	char model[1024];       /* resnet18..200 or FILE.onnx (linear: RUNDIR) */
	char stem[16];          /* imagenet | cifar | auto */
	long long width;
	char head[64];          /* none | linear:D | mlp:D | mlp:H:D */
	int normalize_encoder;  /* L2-normalise the encoder output first */
	char encoder_output[256];
	int freeze_encoder;     /* ce on a pretrained file: train the head only */
	char data[1024];
	long long size;         /* ImageFolder side */
	char aug[64];
	char optimizer[16];
	double lr, momentum, weight_decay;
	char schedule[128];
	long long warmup;       /* epochs of linear warm-up */
	long long epochs, steps, batch;
	double temperature, base_temperature;
	long long seed;
	long long threads, workers;
	int deterministic;
	double val_split;
	long long limit;
	int zero_init_residual;
	long long checkpoint_every;
	double label_noise;     /* fraction of training labels flipped (seeded) */
	double clip_grad_norm, clip_grad_value;   /* 0: off */
	int check_numerics;
	char max_memory[32];    /* "" or a size for sc_parse_bytes */
	/* data parallelism (mpirun -np K supcon train): K is world_size,
	 * recorded, not an option; --batch stays the global batch */
	long long world_size;
	int sync_bn;            /* BN statistics over the global batch */
	double bucket_mb;       /* gradient all-reduce bucket */
	double dist_timeout;    /* seconds a collective may wait; 0: forever */
} run_config;

/* The trainer's clipping, numerics and memory options from c. */
int run_trainer_limits(const run_config *c, trainer_options *to, sc_error *err);

/* One row of the epoch history; NaN means "not defined" (JSON null). */
typedef struct run_epoch {
	double epoch, loss, train_acc, val_acc, test_acc, lr, seconds;
} run_epoch;

#define RUN_MAX_EPOCHS 100000

typedef struct run_history {
	int n;
	run_epoch e[64];        /* the last 64 are kept for metrics.json */
	long long total;        /* epochs done */
} run_history;

/* --- the option table ----------------------------------------------------- */

/* How to fill a run_config from the options given on top of defaults.
 * run_config_is_key says whether name is a run option (a field of
 * run_config that can be given; world_size is recorded, not given);
 * run_config_check_key checks one value of it alone (SC_EINVAL naming
 * --name). */
void run_config_defaults(run_config *c, const char *method);
int run_config_from_keys(run_config *c, const run_keys *k, sc_error *err);
int run_config_is_key(const char *name);
int run_config_check_key(const char *name, const char *value, sc_error *err);
/* The run option names, in table order (for the job API's documentation
 * and for copying options). */
int run_config_key_count(void);
const char *run_config_key_name(int i);
/* Checks values and combinations; SC_EINVAL naming the flag. */
int run_config_check(const run_config *c, sc_error *err);
/* run_config_check() and everything else that can be checked before the
 * data is read: optimizer, schedule, aug, head and architecture names. */
int run_config_validate(const run_config *c, sc_error *err);
/* JSON object of every field. */
int run_config_write_json(const run_config *c, const char *path, sc_error *err);
/* "key value" lines (for the checkpoint) and back. */
char *run_config_to_text(const run_config *c);
int run_config_from_text(run_config *c, const char *text, sc_error *err);
/* On --resume: options given again must agree with the saved config except
 * epochs, steps, threads, workers, checkpoint-every. */
int run_config_merge_resume(run_config *saved, const run_config *given,
			    const run_keys *k, sc_error *err);

/* --- data ------------------------------------------------------------------ */

typedef struct run_data {
	dataset *train;         /* the training part (train + val indices) */
	dataset *test;          /* NULL when the data has no test part */
	int64_t *train_idx, n_train;
	int64_t *val_idx, n_val;
	float mean[4], std[4];  /* per channel, over the training indices */
} run_data;

int run_data_open(const run_config *c, run_data *d, sc_error *err);
void run_data_close(run_data *d);

/* Top-1 (and top-5) accuracy of `net` (first output logits, input
 * normalised by mean/std) over idx (NULL = all) of d.  confusion, when not
 * NULL, is classes x classes (rows true, columns predicted). */
int run_evaluate(graph_model *net, const dataset *d, const int64_t *idx,
		 int64_t n, const float *mean, const float *std, int threads,
		 double *top1, double *top5, int64_t *confusion, sc_error *err);

/* The predicted class (argmax of the first output) of each image idx[i]
 * into pred[i]. */
int run_predict(graph_model *net, const dataset *d, const int64_t *idx,
		int64_t n, const float *mean, const float *std, int threads,
		int32_t *pred, sc_error *err);

/* Index of the largest of row[0..k) (the first on ties). */
int64_t run_argmax(const float *row, int64_t k);

/* Exactly n comma-separated floats of s (the supcon.mean / supcon.std
 * metadata) into v; -1 when s is NULL, has fewer or more, or one is not a
 * number. */
int run_parse_floats(const char *s, float *v, int64_t n);

/* Features of `net` (first output [N, F]) for idx of d, into feats
 * (n x F floats). */
int run_features(graph_model *net, const dataset *d, const int64_t *idx,
		 int64_t n, const float *mean, const float *std, int threads,
		 int64_t dim, float *feats, sc_error *err);

/* run_features for n_out outputs at once: output k ([N, dims[k]]) of
 * image i goes to feats[k] + i * dims[k]. */
int run_features_multi(graph_model *net, const dataset *d, const int64_t *idx,
		       int64_t n, const float *mean, const float *std,
		       int threads, int n_out, const int64_t *dims, float **feats,
		       sc_error *err);

/* --- progress ---------------------------------------------------------------- */

typedef struct run_progress {
	const char *label;      /* "epoch 3/10" */
	int64_t total;          /* steps this epoch */
	int64_t images_per_step;
	double start;           /* monotonic seconds */
	int tty;
	int64_t last_line;      /* plain mode: last step printed */
} run_progress;

double run_now(void);
void run_progress_start(run_progress *p, const char *label, int64_t total,
			int64_t images_per_step);
void run_progress_step(run_progress *p, int64_t step, double loss);
void run_progress_end(run_progress *p);

/* --- files ------------------------------------------------------------------- */

int run_path(char *buf, size_t len, const char *dir, const char *file,
	     sc_error *err);
/* metrics.json: method, the stage-1 (or CE) history and, when not NULL,
 * the linear history; test_accuracy is the final classifier's. */
int run_write_metrics(const char *dir, const run_config *c,
		      const run_history *h, const run_config *lc,
		      const run_history *lh, double test_accuracy,
		      double seconds, sc_error *err);
/* History lines in checkpoint meta, and back. */
void run_history_append_text(char **text, const run_history *h);
int run_history_from_text(run_history *h, const char *text);
void run_history_add(run_history *h, const run_epoch *e);

/* Peak resident set in MiB (from /proc/self/status). */
double run_peak_rss_mb(void);

/* A model: builds ARCH or loads FILE.onnx and cuts it to its encoder
 * (value "features" for built ones).  *feat gets the encoder output's
 * value, *dim its size. */
int run_make_encoder(const run_config *c, int64_t in_c, int64_t in_h,
		     int64_t in_w, graph_model **out, int *feat, int64_t *dim,
		     sc_error *err);

/* SC_EINVAL unless the model's data input takes [*, c, h, w] images. */
int run_check_input(const graph_model *m, const char *path, int64_t c,
		    int64_t h, int64_t w, sc_error *err);

/* --- layers, samples and cluster metrics (issue #6) --------------------------- */

/* The two layers whose embeddings supcon measures and draws: the
 * encoder's output (the representation stage 2 uses), and the network's
 * output: the projector's L2-normalised embedding for SupCon, the logits
 * for a CE network or a classifier. */
typedef enum run_layer { RUN_LAYER_ENCODER, RUN_LAYER_PROJECTOR } run_layer;

/* "encoder" / "projector". */
const char *run_layer_name(run_layer l);

/* A copy of m (an inference network: a run's model.onnx or an exported
 * file) ending at `layer`: the encoder is cut at the value named by the
 * model's supcon.features metadata when it has one, else at its global
 * pool.  *dim gets the layer's width.  Caller frees *out. */
int run_layer_model(const graph_model *m, run_layer layer, graph_model **out,
		    int64_t *dim, sc_error *err);

/* How to feed m: an exported model normalises inside (mean 0, std 1
 * here); a run's model.onnx wants (x - supcon.mean) / supcon.std.  Fills
 * c floats of each (c <= 4); *inside says which case it was. */
int run_model_normalisation(const graph_model *m, int64_t c, float *mean,
			    float *std, int *inside, sc_error *err);

/* A seeded sample of n of the indices [0, total), in increasing order
 * (all of them when n <= 0 or n >= total).  Caller frees *idx. */
int run_sample_indices(int64_t total, int64_t n, uint64_t seed, int64_t **idx,
		       int64_t *count, sc_error *err);

/* Cluster quality of the encoder and projector embeddings on a sample of
 * held-out images: silhouette score and leave-one-out k-NN accuracy of the
 * L2-normalised embeddings (Euclidean distance). */
#define RUN_CLUSTER_IMAGES 1000
#define RUN_CLUSTER_K 5

typedef struct run_clusters {
	int valid;
	char part[16];          /* "test" or "validation" */
	int64_t images;
	int k;
	double silhouette[2], knn[2];   /* [RUN_LAYER_ENCODER], [RUN_LAYER_PROJECTOR] */
} run_clusters;

/* The numbers for net (an inference network fed (x - mean) / std) on the
 * images idx[0..n) of d.  cl->part is left to the caller. */
int run_cluster_metrics(const graph_model *net, const dataset *d,
			const int64_t *idx, int64_t n, const float *mean,
			const float *std, int threads, run_clusters *cl,
			sc_error *err);

/* The top-level number key of DIR/metrics.json ("test_accuracy") into
 * *v; -1 (and NaN) when the file or the key is missing or null. */
int run_metric_read(const char *dir, const char *key, double *v);

/* Reads the "clusters" object run_write_metrics_clusters() wrote into
 * DIR/metrics.json; cl->valid = 0 when there is none. */
void run_clusters_read(const char *dir, run_clusters *cl);

/* run_write_metrics() with a "clusters" object (cl NULL or not valid:
 * none). */
int run_write_metrics_clusters(const char *dir, const run_config *c,
			       const run_history *h, const run_config *lc,
			       const run_history *lh, double test_accuracy,
			       double seconds, const run_clusters *cl,
			       sc_error *err);

/* DIR/curves.png: the loss per epoch of stage 1 (or CE) on the left;
 * accuracies per epoch on the right: CE's train/validation/test, or
 * stage 2's when lh is given (a stage-1 run without stage 2 says so). */
int run_write_curves(const char *dir, const run_config *c,
		     const run_history *h, const run_history *lh,
		     sc_error *err);

/* --- embedding pictures (supcon embed, the demo) ----------------------------- */

typedef struct run_embed_options {
	const char *source;     /* MODEL.onnx or a run directory (its model.onnx) */
	const char *data;       /* NULL: the model's supcon.data, else fashion-mnist */
	int train_part;         /* embed the train part instead of the test part */
	run_layer layer;
	int pca;                /* PCA instead of t-SNE */
	long long limit;        /* seeded sample size; 0 = all */
	long long seed;         /* of the sample and of the t-SNE layout */
	long long size;         /* ImageFolder side */
	double perplexity, theta;
	int iterations;
	long long exact_max;
	int width, height, threads;
	const char *title;      /* NULL: what was drawn */
	const char *out;        /* the PNG */
	const char *points;     /* NULL, or a CSV of the 2-D points */
} run_embed_options;

/* The defaults of supcon embed: encoder, t-SNE, 2000 test images, seed 0,
 * perplexity 30, theta 0.5, 1000 iterations, exact up to 1000 points,
 * 1000 x 750. */
void run_embed_defaults(run_embed_options *o);

typedef struct run_embed_result {
	int64_t n, dim;
	double silhouette, knn;         /* of the L2-normalised embeddings */
	double map_silhouette, map_knn; /* of the 2-D layout */
} run_embed_result;

/* Loads the model, embeds the sample, lays it out, writes the PNG (and
 * the points), printing progress to run_output(); r may be NULL. */
int run_embed(const run_embed_options *o, run_embed_result *r, sc_error *err);

/* --- robustness to common corruptions (runtime/data/corrupt.h) ------------- */

/* Top-1 errors of one classifier on a set of corruptions and severities,
 * with the clean error; err[k][s - 1] for corruption k, severity s
 * (NaN where not evaluated). */
typedef struct run_corrupt_table {
	int kinds[7];           /* corrupt_kind values evaluated, in order */
	int n_kinds;
	int severities[5];      /* 1..5, in order */
	int n_severities;
	int64_t images;
	double clean;
	double err[7][5];
} run_corrupt_table;

/* "all" | NAME | NAME:S | NAME:S1-S2, comma-separated (NAME may be "all").
 * Fills which corruptions and severities to evaluate (a NAME:S list
 * evaluates the union of the severities for every NAME given). */
int run_corrupt_parse(const char *spec, run_corrupt_table *t, sc_error *err);

/* Evaluates net (fed (x - mean) / std) on idx[0..n) of d, clean and under
 * every corruption and severity of t (seeded as corrupt.h says), filling
 * t->clean and t->err.  progress, when set, is printed before each
 * corruption. */
int run_corrupt_eval(graph_model *net, const dataset *d, const int64_t *idx,
		     int64_t n, const float *mean, const float *std, int threads,
		     uint64_t seed, const char *progress, run_corrupt_table *t,
		     sc_error *err);

/* ImageNet-C's corruption error of each corruption relative to a
 * baseline, CE_f = sum_s err_f,s / sum_s base_f,s, into ce[k] (same
 * order as t->kinds), and its mean, mCE, as the return value (NaN when a
 * baseline sum is 0). */
double run_corrupt_mce(const run_corrupt_table *t, const run_corrupt_table *base,
		       double *ce);

/* The table as text (and, with base, the CE column and mCE) to f. */
void run_corrupt_print(FILE *f, const run_corrupt_table *t,
		       const run_corrupt_table *base, const char *name,
		       const char *base_name);

/* The trainer driver: train (stage 1 or CE) or linear (stage 2). */
/* k: the options given, for --resume's checks (NULL: none given).
 * With bench, the numbers it printed go to *bench_out when not NULL:
 * steps, step_ms, views_per_s, peak_rss_mb. */
typedef struct run_bench_result {
	double steps, step_ms, views_per_s, peak_rss_mb;
} run_bench_result;
int run_train(const run_config *c, const char *dir, int resume, long long bench,
	      const run_keys *k, run_bench_result *bench_out, sc_error *err);
int run_linear(const char *dir, const run_config *lc, int resume,
	       const run_keys *k, sc_error *err);
/* Writes DIR/classifier.onnx (or embedding.onnx for a stage-1 run) and
 * returns its path in out. */
int run_export(const char *dir, const char *out_path, int softmax,
	       sc_error *err);

#endif
