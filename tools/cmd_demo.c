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
 * quotes. */
#include "cli.h"
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/data/corrupt.h"
#include "runtime/fileio.h"

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

static int check_dataset(sc_error *err)
{
	for (size_t i = 0; i < sizeof demo_files / sizeof demo_files[0]; i++) {
		char path[512];
		snprintf(path, sizeof path, "%s/%s", DEMO_DATA_DIR, demo_files[i]);
		int rc = cli_check_input_file(path, "Fashion-MNIST file", err);
		if (rc != SC_OK) {
			sc_error_prefix(err, "dataset missing (install the Debian "
					"package dataset-fashion-mnist): ");
			return rc;
		}
	}
	return SC_OK;
}

/* The demo's settings: a narrow ResNet-18 that 2 cores train in minutes.
 * The article's colour jitter, batch 128 and lr 0.1 gave the best linear
 * probe after one epoch among the settings tried (README: "The demo's
 * settings"); CE gets the same encoder, augmentation, batch and epochs. */
static void demo_config(run_config *c, const char *method, int full,
			long long epochs, long long limit, long long threads)
{
	run_config_defaults(c, method);
	snprintf(c->data, sizeof c->data, "fashion-mnist");
	snprintf(c->model, sizeof c->model, "resnet18");
	snprintf(c->stem, sizeof c->stem, "cifar");
	c->width = 16;
	c->epochs = epochs ? epochs : full ? 15 : 3;
	c->batch = 128;
	c->limit = limit;
	c->threads = threads;
	c->lr = 0.1;
	snprintf(c->schedule, sizeof c->schedule, "cosine");
	snprintf(c->aug, sizeof c->aug, "jitter");
	if (!strcmp(method, "linear")) {
		/* on cached features: seconds */
		c->epochs = 40;
		c->batch = 256;
		snprintf(c->aug, sizeof c->aug, "none");
	} else if (strcmp(method, "ce") != 0) {
		snprintf(c->head, sizeof c->head, "mlp:128");
	}
}

static double metric(const char *dir, const char *key)
{
	char path[4096], *buf;
	size_t len;
	sc_error err = {0};
	snprintf(path, sizeof path, "%s/metrics.json", dir);
	if (sc_read_file(path, 1 << 20, &buf, &len, &err))
		return NAN;
	char pat[64];
	snprintf(pat, sizeof pat, "\n  \"%s\": ", key);
	const char *p = strstr(buf, pat);
	double v = NAN;
	if (p)
		sscanf(p + strlen(pat), "%lf", &v);
	free(buf);
	return v;
}

/* The pictures and robustness numbers of the report: embeddings of a
 * sample of test images, and both classifiers on corrupted copies of a
 * sample of the test set.  Sizes chosen so that all of it takes about a
 * minute on 2 cores (README: the demo's numbers). */
#define DEMO_EMBED_IMAGES 1000
#define DEMO_CORRUPT_IMAGES 1000

typedef struct demo_extras {
	run_embed_result emb[2][2];     /* [supcon, ce][encoder, projector] */
	run_clusters cl[2];
	run_corrupt_table corr[2];      /* [supcon, ce] */
	int have_corr;
	double embed_s, corrupt_s;
} demo_extras;

static int demo_embeds(const char *dir, int which, long long threads,
		       demo_extras *x, sc_error *err)
{
	for (int l = 0; l < 2; l++) {
		char png[4096], file[64];
		snprintf(file, sizeof file, "embed_%s.png", run_layer_name((run_layer)l));
		int rc = run_path(png, sizeof png, dir, file, err);
		if (rc)
			return rc;
		run_embed_options o;
		run_embed_defaults(&o);
		o.source = dir;
		o.data = "fashion-mnist";
		o.layer = (run_layer)l;
		o.limit = DEMO_EMBED_IMAGES;
		o.threads = (int)threads;
		o.out = png;
		if ((rc = run_embed(&o, &x->emb[which][l], err)))
			return rc;
	}
	return SC_OK;
}

static int demo_corruptions(const char *sc_dir, const char *ce_dir,
			    long long threads, demo_extras *x, sc_error *err)
{
	dataset *d = NULL;
	graph_model *m = NULL;
	int64_t *idx = NULL, n = 0;
	float zero[1] = {0}, one[1] = {1};
	int rc = dataset_open("fashion-mnist", DATASET_TEST, NULL, &d, err);
	if (!rc)
		rc = run_sample_indices(d->n, DEMO_CORRUPT_IMAGES, 0, &idx, &n, err);
	const char *dirs[2] = {sc_dir, ce_dir};
	for (int k = 0; k < 2 && !rc; k++) {
		char path[4096], label[64];
		snprintf(label, sizeof label, "corruptions, %s", k ? "CE" : "SupCon");
		if ((rc = run_path(path, sizeof path, dirs[k], "classifier.onnx", err)) ||
		    (rc = cli_load_model(path, 1, &m, err)) ||
		    (rc = run_corrupt_parse("all", &x->corr[k], err)))
			break;
		rc = run_corrupt_eval(m, d, idx, n, zero, one, (int)threads, 0, label,
				      &x->corr[k], err);
		graph_model_free(m);
		m = NULL;
	}
	x->have_corr = !rc;
	graph_model_free(m);
	free(idx);
	dataset_free(d);
	return rc;
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
		(long long)x->cl[0].images, x->cl[0].k, x->cl[0].k);
	for (int m = 0; m < 2; m++)
		for (int l = 0; l < 2; l++)
			fprintf(f, "| %s | %s | %.4f | %.4f |\n", who[m],
				run_layer_name((run_layer)l), x->cl[m].silhouette[l],
				x->cl[m].knn[l]);
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
		(long long)x->emb[0][0].n, x->embed_s);
}

static void report_corruptions(FILE *f, const demo_extras *x)
{
	if (!x->have_corr)
		return;
	const run_corrupt_table *s = &x->corr[0], *c = &x->corr[1];
	double ce[7];
	double mce = run_corrupt_mce(s, c, ce);
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
		(long long)s->images, x->corrupt_s, s->clean, c->clean,
		c->clean > 0 ? s->clean / c->clean : NAN);
	for (int i = 0; i < s->n_kinds; i++) {
		int k = s->kinds[i];
		double es = 0, ec = 0;
		for (int j = 0; j < s->n_severities; j++) {
			es += s->err[k][s->severities[j] - 1];
			ec += c->err[k][s->severities[j] - 1];
		}
		fprintf(f, "| %s | %.4f | %.4f | %.3f |\n",
			corrupt_name((corrupt_kind)k), es / s->n_severities,
			ec / s->n_severities, ce[i]);
	}
	fprintf(f, "\n**mCE of SupCon relative to cross-entropy: %.3f** (cross-"
		"entropy is 1 by definition).\n", mce);
}

static int write_report(const char *out, double sc_acc, double sc_s,
			double ce_acc, double ce_s, const run_config *s1,
			const run_config *ce, const demo_extras *x, sc_error *err)
{
	char path[4096];
	int rc = run_path(path, sizeof path, out, "report.md", err);
	sc_atomic_file a;
	if (rc || (rc = sc_atomic_open(&a, path, err)))
		return rc;
	fprintf(a.f, "# supcon demo: SupCon vs cross-entropy on Fashion-MNIST\n\n"
		"Encoder: %s, %s stem, width %lld; batch %lld; %lld epochs each "
		"(SupCon: two views per image, projector %s, temperature %g, then "
		"a linear classifier on the frozen encoder).\n\n"
		"| method | test accuracy | training time (s) | classifier |\n"
		"|---|---|---|---|\n"
		"| SupCon + linear | %.4f | %.0f | [supcon/classifier.onnx](supcon/classifier.onnx) |\n"
		"| cross-entropy | %.4f | %.0f | [ce/classifier.onnx](ce/classifier.onnx) |\n\n"
		"Per-epoch numbers: [supcon/metrics.json](supcon/metrics.json), "
		"[ce/metrics.json](ce/metrics.json).\n",
		s1->model, s1->stem, s1->width, s1->batch, s1->epochs, s1->head,
		s1->temperature, sc_acc, sc_s, ce_acc, ce_s);
	(void)ce;
	if (x->cl[0].valid && x->cl[1].valid)
		report_clusters(a.f, x);
	report_pictures(a.f, x);
	report_corruptions(a.f, x);
	return sc_atomic_commit(&a, err);
}

int cmd_demo(int argc, char **argv)
{
	cli_args args;
	int status;
	if (!cli_begin(&demo_spec, argc, argv, &args, &status))
		return status;
	sc_error err = {0};
	long long threads = 0, limit = 0, epochs = 0;
	int rc = SC_OK;
	if (args.n_pos > 0)
		rc = sc_fail(&err, SC_EINVAL, "unexpected argument '%s' (usage: supcon "
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
	run_config s1, lin, ce;
	demo_config(&s1, "supcon", full, epochs, limit, threads);
	demo_config(&lin, "linear", full, epochs, limit, threads);
	demo_config(&ce, "ce", full, epochs, limit, threads);
	if (!rc)
		rc = cli_make_output_dir(out, "--out", &err);
	if (!rc)
		rc = run_path(sc_dir, sizeof sc_dir, out, "supcon", &err);
	if (!rc)
		rc = run_path(ce_dir, sizeof ce_dir, out, "ce", &err);
	double t0 = run_now();
	if (!rc) {
		printf("== 1/3 SupCon stage 1: %s ==\n", sc_dir);
		rc = run_train(&s1, sc_dir, 0, 0, NULL, &err);
	}
	if (!rc) {
		printf("\n== 2/3 stage 2: linear classifier on the frozen encoder ==\n");
		rc = run_linear(sc_dir, &lin, 0, NULL, &err);
	}
	double t1 = run_now();
	if (!rc) {
		printf("\n== 3/3 cross-entropy baseline: %s ==\n", ce_dir);
		rc = run_train(&ce, ce_dir, 0, 0, NULL, &err);
	}
	double t2 = run_now();
	demo_extras x;
	memset(&x, 0, sizeof x);
	if (!rc) {
		printf("\n== embeddings: t-SNE of %d test images, encoder and projector "
		       "of both runs ==\n", DEMO_EMBED_IMAGES);
		rc = demo_embeds(sc_dir, 0, threads, &x, &err);
	}
	if (!rc)
		rc = demo_embeds(ce_dir, 1, threads, &x, &err);
	double t3 = run_now();
	x.embed_s = t3 - t2;
	if (!rc) {
		printf("\n== robustness: both classifiers on %d corrupted test images "
		       "==\n", DEMO_CORRUPT_IMAGES);
		rc = demo_corruptions(sc_dir, ce_dir, threads, &x, &err);
	}
	x.corrupt_s = run_now() - t3;
	run_clusters_read(sc_dir, &x.cl[0]);
	run_clusters_read(ce_dir, &x.cl[1]);
	if (!rc) {
		double sa = metric(sc_dir, "test_accuracy");
		double ca = metric(ce_dir, "test_accuracy");
		rc = write_report(out, sa, t1 - t0, ca, t2 - t1, &s1, &ce, &x, &err);
		if (!rc) {
			printf("\n| method          | test accuracy | training time |\n"
			       "|-----------------|---------------|---------------|\n"
			       "| SupCon + linear | %13.4f | %12.0fs |\n"
			       "| cross-entropy   | %13.4f | %12.0fs |\n\n"
			       "report: %s/report.md\n", sa, t1 - t0, ca, t2 - t1, out);
			if (x.have_corr) {
				double cef[7];
				printf("mCE of SupCon relative to cross-entropy: %.3f\n",
				       run_corrupt_mce(&x.corr[0], &x.corr[1], cef));
			}
			printf("total: %.0fs (embeddings %.0fs, corruptions %.0fs)\n",
			       run_now() - t0, x.embed_s, x.corrupt_s);
		}
	}
	cli_args_free(&args);
	if (rc)
		return cli_fail("demo", &err);
	return cli_finish("demo", CLI_EXIT_OK);
}
