/* cmd_demo.c: `supcon demo [--out DIR] [--full]`, the main job.
 *
 * On Fashion-MNIST: SupCon stage 1 and the stage-2 linear classifier in
 * DIR/supcon, the cross-entropy baseline with the same encoder and the
 * same number of epochs in DIR/ce, t-SNE pictures of the encoder and
 * projector embeddings of both, both classifiers under common corruptions,
 * then DIR/report.md comparing them (with the cluster numbers and the
 * training curves each run wrote).
 * The default budget is sized to finish within ten minutes on a 2-core
 * machine; --full runs the longer schedule whose results the README
 * quotes.
 *
 * The demo is orchestration over jobs of the public API (train, linear,
 * embed, eval); the report is made from the numbers they return. */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEMO_DATA_DIR "/usr/share/datasets/fashion-mnist"

static const char *const demo_files[] = {
	"train-images-idx3-ubyte.gz",
	"train-labels-idx1-ubyte.gz",
	"t10k-images-idx3-ubyte.gz",
	"t10k-labels-idx1-ubyte.gz",
};

static cli_opt demo_opts[] = {
	{"out", 0, CLI_VALUE, "DIR", "where the runs and the report go (default runs/demo)", 0, 0, 0, 0},
	{"full", 0, CLI_FLAG, NULL, "the longer schedule: 15 epochs (about 45 minutes on 2 cores)", 0, 0, 0, 0},
	{"threads", 0, CLI_VALUE, "N", "compute threads (default: all cores)", 0, 0, 0, 0},
	{"limit", 0, CLI_VALUE, "N", "use the first N training images (a smoke test)", 0, 0, 0, 0},
	{"epochs", 0, CLI_VALUE, "N", "stage-1 and CE epochs (default 3; --full 15)", 0, 0, 0, 0},
};

static const cli_spec demo_spec = {
	.cmd = "demo",
	.synopsis = "[--out DIR] [--full]",
	.description =
		"Supervised contrastive learning on Fashion-MNIST, end to end:\n"
		"  1. stage 1: a ResNet-18 encoder (CIFAR stem, narrow) and an MLP\n"
		"     projector trained with the SupCon loss on two augmented views;\n"
		"  2. stage 2: the encoder frozen, a linear classifier trained with\n"
		"     cross-entropy and exported as DIR/supcon/classifier.onnx;\n"
		"  3. the cross-entropy baseline: the same encoder trained end to end\n"
		"     for the same number of epochs, DIR/ce/classifier.onnx;\n"
		"  4. t-SNE pictures of the encoder and projector embeddings of both\n"
		"     (DIR/*/embed_*.png), their silhouette and k-NN numbers, the\n"
		"     training curves (DIR/*/curves.png), and both classifiers under\n"
		"     common corruptions (mCE of SupCon relative to CE);\n"
		"  5. DIR/report.md linking all of it.",
	.epilog = "Each of DIR/supcon and DIR/ce is a run directory that supcon\n"
		  "export, eval and linear accept.",
	.opts = demo_opts,
	.n_opts = (int)(sizeof demo_opts / sizeof demo_opts[0]),
};

static int check_dataset(cli_err *err)
{
	for (size_t i = 0; i < sizeof demo_files / sizeof demo_files[0]; i++) {
		char path[512];
		snprintf(path, sizeof path, "%s/%s", DEMO_DATA_DIR, demo_files[i]);
		int rc = cli_check_input_file(path, "Fashion-MNIST file", err);
		if (rc != SUPCON_OK) {
			cli_err_prefix(err, "dataset missing (install the Debian "
					"package dataset-fashion-mnist): ");
			return rc;
		}
	}
	return SUPCON_OK;
}

/* The demo's settings: a narrow ResNet-18 that 2 cores train in minutes.
 * The article's colour jitter, batch 128 and lr 0.1 gave the best linear
 * probe after one epoch among the settings tried (README: "The demo's
 * settings"); CE gets the same encoder, augmentation, batch and epochs.
 * Fills keys (pairs, NULL-terminated) for a train job of method, or the
 * linear job of stage 2. */
typedef struct demo_config {
	char epochs[32], limit[32], threads[32];
	const char *keys[40];
} demo_config;

static void demo_config_make(demo_config *c, const char *method, int full,
			     long long epochs, long long limit, long long threads)
{
	int lin = !strcmp(method, "linear"), n = 0;
	snprintf(c->epochs, sizeof c->epochs, "%lld", lin ? 40 : epochs ? epochs :
		 full ? 15 : 3);
	snprintf(c->limit, sizeof c->limit, "%lld", limit);
	snprintf(c->threads, sizeof c->threads, "%lld", threads);
	const char *common[] = {
		"data", "fashion-mnist", "stem", "cifar", "width", "16",
		"epochs", c->epochs, "batch", lin ? "256" : "128", "limit", c->limit,
		"threads", c->threads, "lr", "0.1", "schedule", "cosine",
		/* on cached features: seconds */
		"aug", lin ? "none" : "jitter",
	};
	for (size_t i = 0; i < sizeof common / sizeof common[0]; i++)
		c->keys[n++] = common[i];
	if (!lin) {
		c->keys[n++] = "method";
		c->keys[n++] = method;
		c->keys[n++] = "model";
		c->keys[n++] = "resnet18";
	}
	if (!lin && strcmp(method, "ce")) {
		c->keys[n++] = "head";
		c->keys[n++] = "mlp:128";
		c->keys[n++] = "temperature";
		c->keys[n++] = "0.1";
	}
	c->keys[n] = NULL;
}

/* Runs a job of kind with the pairs of keys (and extra), printing to
 * stdout; hands it back for its results. */
static int demo_job(const char *kind, const char *const *keys,
		    const char *const *extra, supcon_job **out, cli_err *err)
{
	supcon_job *j = NULL;
	supcon_status st = supcon_job_create(kind, &j);
	int rc = st ? cli_job_err(err, NULL, st) : SUPCON_OK;
	for (int i = 0; !rc && keys && keys[i]; i += 2)
		if ((st = supcon_job_set(j, keys[i], keys[i + 1])))
			rc = cli_job_err(err, j, st);
	for (int i = 0; !rc && extra && extra[i]; i += 2)
		if ((st = supcon_job_set(j, extra[i], extra[i + 1])))
			rc = cli_job_err(err, j, st);
	if (!rc && (st = supcon_job_set_output(j, stdout)))
		rc = cli_job_err(err, j, st);
	if (!rc && (st = supcon_job_run(j)))
		rc = cli_job_err(err, j, st);
	if (rc) {
		supcon_job_free(j);
		return rc;
	}
	*out = j;
	return SUPCON_OK;
}

/* A number of a finished job, NaN when it has none. */
static double result(const supcon_job *j, const char *key)
{
	double v;
	return j && supcon_job_result(j, key, &v) == SUPCON_OK ? v : NAN;
}

/* The pictures and robustness numbers of the report: embeddings of a
 * sample of test images, and both classifiers on corrupted copies of a
 * sample of the test set.  Sizes chosen so that all of it takes about a
 * minute on 2 cores (README: the demo's numbers). */
#define DEMO_EMBED_IMAGES 1000
#define DEMO_CORRUPT_IMAGES 1000

typedef struct demo_extras {
	double emb_images;              /* images in each picture */
	/* the runs' own cluster numbers: [supcon, ce] x [encoder, projector] */
	double silhouette[2][2], knn[2][2], cl_images, cl_k;
	int have_cl;
	supcon_job *corr;               /* SupCon's classifier, CE's as baseline */
	double embed_s, corrupt_s;
} demo_extras;

static const char *const layers[2] = {"encoder", "projector"};

static int demo_embeds(const char *dir, long long threads, demo_extras *x,
		       cli_err *err)
{
	for (int l = 0; l < 2; l++) {
		char png[4096], file[64], th[32];
		snprintf(file, sizeof file, "embed_%s.png", layers[l]);
		snprintf(th, sizeof th, "%lld", threads);
		int rc = cli_path(png, sizeof png, dir, file, err);
		if (rc)
			return rc;
		char limit[32];
		snprintf(limit, sizeof limit, "%d", DEMO_EMBED_IMAGES);
		const char *keys[] = {
			"model", dir, "data", "fashion-mnist", "layer", layers[l],
			"limit", limit, "threads", th, "out", png, NULL,
		};
		supcon_job *j = NULL;
		if ((rc = demo_job("embed", keys, NULL, &j, err)))
			return rc;
		x->emb_images = result(j, "images");
		supcon_job_free(j);
	}
	return SUPCON_OK;
}

/* Both classifiers on the same seeded sample of corrupted test images:
 * the eval job with CE's classifier as the baseline. */
static int demo_corruptions(const char *sc_dir, const char *ce_dir,
			    long long threads, demo_extras *x, cli_err *err)
{
	char sc[4096], ce[4096], th[32], sample[32];
	int rc = cli_path(sc, sizeof sc, sc_dir, "classifier.onnx", err);
	if (!rc)
		rc = cli_path(ce, sizeof ce, ce_dir, "classifier.onnx", err);
	if (rc)
		return rc;
	snprintf(th, sizeof th, "%lld", threads);
	snprintf(sample, sizeof sample, "%d", DEMO_CORRUPT_IMAGES);
	const char *keys[] = {
		"model", sc, "baseline", ce, "data", "fashion-mnist", "corrupt", "all",
		"sample", sample, "seed", "0", "threads", th, NULL,
	};
	return demo_job("eval", keys, NULL, &x->corr, err);
}

/* The cluster numbers each training run measured (its metrics.json). */
static void demo_clusters(const supcon_job *sc, const supcon_job *ce,
			  demo_extras *x)
{
	const supcon_job *runs[2] = {sc, ce};
	x->have_cl = 1;
	for (int m = 0; m < 2; m++)
		for (int l = 0; l < 2; l++) {
			char key[64];
			snprintf(key, sizeof key, "%s_silhouette", layers[l]);
			x->silhouette[m][l] = result(runs[m], key);
			snprintf(key, sizeof key, "%s_knn", layers[l]);
			x->knn[m][l] = result(runs[m], key);
			x->have_cl &= !isnan(x->silhouette[m][l]) && !isnan(x->knn[m][l]);
		}
	x->cl_images = result(sc, "cluster_images");
	x->cl_k = result(sc, "cluster_k");
}

static void report_clusters(FILE *f, const demo_extras *x)
{
	static const char *const who[2] = {"SupCon", "cross-entropy"};
	fprintf(f, "\n## Clusters\n\n"
		"How well the classes separate in each embedding, measured on %lld "
		"test images (a seeded sample, the same for both runs) after "
		"L2-normalisation: the silhouette score (Euclidean, -1 to 1, higher "
		"is tighter and better separated clusters) and the leave-one-out "
		"%d-NN accuracy.  \"projector\" is SupCon's projection head and CE's "
		"logits (the network's output).\n\n"
		"| method | layer | silhouette | %d-NN accuracy |\n|---|---|---|---|\n",
		(long long)x->cl_images, (int)x->cl_k, (int)x->cl_k);
	for (int m = 0; m < 2; m++)
		for (int l = 0; l < 2; l++)
			fprintf(f, "| %s | %s | %.4f | %.4f |\n", who[m], layers[l],
				x->silhouette[m][l], x->knn[m][l]);
}

static void report_pictures(FILE *f, const demo_extras *x)
{
	fprintf(f, "\n## Embeddings\n\n"
		"t-SNE (perplexity 30, exact) of the L2-normalised embeddings of %lld "
		"test images, coloured by class (%.0f s for the four).  The "
		"numbers under each title are those of the embeddings themselves.\n\n"
		"| layer | SupCon | cross-entropy |\n|---|---|---|\n"
		"| encoder | ![SupCon encoder](supcon/embed_encoder.png) | "
		"![CE encoder](ce/embed_encoder.png) |\n"
		"| projector (CE: logits) | ![SupCon projector](supcon/embed_projector.png) | "
		"![CE logits](ce/embed_projector.png) |\n\n"
		"## Training curves\n\n"
		"![SupCon curves](supcon/curves.png)\n\n![CE curves](ce/curves.png)\n",
		(long long)x->emb_images, x->embed_s);
}

static void report_corruptions(FILE *f, const demo_extras *x)
{
	const supcon_job *j = x->corr;
	const char *names;
	if (!j || supcon_job_result_text(j, "corruptions", &names))
		return;
	double sc_clean = result(j, "clean_error");
	double ce_clean = result(j, "baseline_clean_error");
	fprintf(f, "\n## Robustness to common corruptions\n\n"
		"Both classifiers on %lld test images (a seeded sample) under the "
		"seven corruptions of `supcon eval --corrupt` at severities 1-5 "
		"(ImageNet-C's corruptions with CIFAR-10-C's parameters).  Errors "
		"are top-1 errors averaged over the severities; CE_f is SupCon's "
		"corruption error relative to the cross-entropy baseline, "
		"sum_s err(SupCon) / sum_s err(CE), as in ImageNet-C (below 1: "
		"SupCon is more robust).  %.0f s.\n\n"
		"| corruption | SupCon error | CE error | CE_f |\n|---|---|---|---|\n"
		"| none (clean) | %.4f | %.4f | %.3f |\n",
		(long long)result(j, "images"), x->corrupt_s, sc_clean, ce_clean,
		ce_clean > 0 ? sc_clean / ce_clean : NAN);
	for (const char *p = names; *p;) {
		const char *e = strchr(p, ',');
		char name[64], key[96];
		snprintf(name, sizeof name, "%.*s", (int)(e ? e - p : (long)strlen(p)), p);
		snprintf(key, sizeof key, "error_%s", name);
		double es = result(j, key);
		snprintf(key, sizeof key, "baseline_error_%s", name);
		double ec = result(j, key);
		/* the means are over the same severities: their ratio is CE_f */
		fprintf(f, "| %s | %.4f | %.4f | %.3f |\n", name, es, ec,
			ec > 0 ? es / ec : NAN);
		p = e ? e + 1 : p + strlen(p);
	}
	fprintf(f, "\n**mCE of SupCon relative to cross-entropy: %.3f** (cross-"
		"entropy is 1 by definition).\n", result(j, "mce"));
}

/* The value of key in a demo config. */
static const char *key_of(const demo_config *c, const char *key)
{
	for (int i = 0; c->keys[i]; i += 2)
		if (!strcmp(c->keys[i], key))
			return c->keys[i + 1];
	return "";
}

static int write_report(const char *out, double sc_acc, double sc_s,
			double ce_acc, double ce_s, const demo_config *s1,
			const demo_extras *x, cli_err *err)
{
	char path[4096];
	int rc = cli_path(path, sizeof path, out, "report.md", err);
	cli_atomic a;
	if (rc || (rc = cli_atomic_open(&a, path, err)))
		return rc;
	fprintf(a.f, "# supcon demo: SupCon vs cross-entropy on Fashion-MNIST\n\n"
		"Encoder: %s, %s stem, width %s; batch %s; %s epochs each "
		"(SupCon: two views per image, projector %s, temperature %s, then "
		"a linear classifier on the frozen encoder).\n\n"
		"| method | test accuracy | training time (s) | classifier |\n"
		"|---|---|---|---|\n"
		"| SupCon + linear | %.4f | %.0f | [supcon/classifier.onnx](supcon/classifier.onnx) |\n"
		"| cross-entropy | %.4f | %.0f | [ce/classifier.onnx](ce/classifier.onnx) |\n\n"
		"Per-epoch numbers: [supcon/metrics.json](supcon/metrics.json), "
		"[ce/metrics.json](ce/metrics.json).\n",
		key_of(s1, "model"), key_of(s1, "stem"), key_of(s1, "width"),
		key_of(s1, "batch"), key_of(s1, "epochs"), key_of(s1, "head"),
		key_of(s1, "temperature"), sc_acc, sc_s, ce_acc, ce_s);
	if (x->have_cl)
		report_clusters(a.f, x);
	report_pictures(a.f, x);
	report_corruptions(a.f, x);
	return cli_atomic_commit(&a, err);
}

int cmd_demo(int argc, char **argv)
{
	cli_args args;
	int status;
	if (!cli_begin(&demo_spec, argc, argv, &args, &status))
		return status;
	cli_err err = {0};
	long long threads = 0, limit = 0, epochs = 0;
	int rc = SUPCON_OK;
	if (args.n_pos > 0)
		rc = cli_set_err(&err, SUPCON_EINVAL, "unexpected argument '%s' (usage: supcon "
			     "demo [--out DIR] [--full])", args.pos[0]);
	if (!rc)
		rc = cli_int_option(&args, "threads", 0, 1024, 0, &threads, &err);
	if (!rc)
		rc = cli_int_option(&args, "limit", 0, 1LL << 40, 0, &limit, &err);
	if (!rc)
		rc = cli_int_option(&args, "epochs", 0, 100000, 0, &epochs, &err);
	if (!rc)
		rc = check_dataset(&err);
	const char *out = cli_value(&args, "out", "runs/demo");
	int full = cli_has(&args, "full");
	char sc_dir[4096], ce_dir[4096];
	demo_config s1, lin, ce;
	demo_config_make(&s1, "supcon", full, epochs, limit, threads);
	demo_config_make(&lin, "linear", full, epochs, limit, threads);
	demo_config_make(&ce, "ce", full, epochs, limit, threads);
	supcon_job *sc_job = NULL, *lin_job = NULL, *ce_job = NULL;
	if (!rc)
		rc = cli_make_output_dir(out, "--out", &err);
	if (!rc)
		rc = cli_path(sc_dir, sizeof sc_dir, out, "supcon", &err);
	if (!rc)
		rc = cli_path(ce_dir, sizeof ce_dir, out, "ce", &err);
	double t0 = cli_now();
	if (!rc) {
		printf("== 1/3 SupCon stage 1: %s ==\n", sc_dir);
		const char *extra[] = {"out", sc_dir, NULL};
		rc = demo_job("train", s1.keys, extra, &sc_job, &err);
	}
	if (!rc) {
		printf("\n== 2/3 stage 2: linear classifier on the frozen encoder ==\n");
		const char *extra[] = {"rundir", sc_dir, NULL};
		rc = demo_job("linear", lin.keys, extra, &lin_job, &err);
	}
	double t1 = cli_now();
	if (!rc) {
		printf("\n== 3/3 cross-entropy baseline: %s ==\n", ce_dir);
		const char *extra[] = {"out", ce_dir, NULL};
		rc = demo_job("train", ce.keys, extra, &ce_job, &err);
	}
	double t2 = cli_now();
	demo_extras x;
	memset(&x, 0, sizeof x);
	if (!rc) {
		printf("\n== embeddings: t-SNE of %d test images, encoder and projector "
		       "of both runs ==\n", DEMO_EMBED_IMAGES);
		rc = demo_embeds(sc_dir, threads, &x, &err);
	}
	if (!rc)
		rc = demo_embeds(ce_dir, threads, &x, &err);
	double t3 = cli_now();
	x.embed_s = t3 - t2;
	if (!rc) {
		printf("\n== robustness: both classifiers on %d corrupted test images "
		       "==\n", DEMO_CORRUPT_IMAGES);
		rc = demo_corruptions(sc_dir, ce_dir, threads, &x, &err);
	}
	x.corrupt_s = cli_now() - t3;
	/* the clusters are stage 1's (the linear run keeps them) and CE's */
	demo_clusters(lin_job, ce_job, &x);
	if (!rc) {
		double sa = result(lin_job, "test_accuracy");
		double ca = result(ce_job, "test_accuracy");
		rc = write_report(out, sa, t1 - t0, ca, t2 - t1, &s1, &x, &err);
		if (!rc) {
			printf("\n| method          | test accuracy | training time |\n"
			       "|-----------------|---------------|---------------|\n"
			       "| SupCon + linear | %13.4f | %12.0fs |\n"
			       "| cross-entropy   | %13.4f | %12.0fs |\n\n"
			       "report: %s/report.md\n", sa, t1 - t0, ca, t2 - t1, out);
			if (x.corr)
				printf("mCE of SupCon relative to cross-entropy: %.3f\n",
				       result(x.corr, "mce"));
			printf("total: %.0fs (embeddings %.0fs, corruptions %.0fs)\n",
			       cli_now() - t0, x.embed_s, x.corrupt_s);
		}
	}
	supcon_job_free(sc_job);
	supcon_job_free(lin_job);
	supcon_job_free(ce_job);
	supcon_job_free(x.corr);
	cli_args_free(&args);
	if (rc)
		return cli_fail("demo", &err);
	return cli_finish("demo", CLI_EXIT_OK);
}
