/* test_train.c: `supcon train`, `linear`, `export` and `eval` end to end on
 * a small scale (issue #5): real Fashion-MNIST, 512 images, a ResNet-18 of
 * width 8, a couple of epochs.  The loss must go down and the accuracy
 * must be well above chance (0.1); --resume must end exactly where an
 * uninterrupted run ends; a damaged checkpoint is refused; bad data and
 * model options fail before training with one line.  Issue #6: runs
 * carry cluster numbers and curves, `embed` draws a run, `eval --corrupt`
 * measures corruption errors, --label-noise flips training labels only. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "cli_runner.h"
#include "runtime/data/image.h"
#include "runtime/run/run.h"

#define WORK SUPCON_TEST_WORK "/train"
#define FMNIST "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"

static const cli_options opts = {.dir = WORK};

static int have_data(void)
{
	return access(FMNIST, R_OK) == 0;
}

static char *read_text(const char *dir, const char *file)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", dir, file);
	char *s = slurp(path);
	if (!s)
		fail_msg("cannot read %s", path);
	return s;
}

/* The per-epoch values of `key` in metrics.json's first "epochs" list. */
static int epoch_values(const char *json, const char *key, double *v, int max)
{
	const char *end = strstr(json, "]");
	char pat[64];
	snprintf(pat, sizeof pat, "\"%s\": ", key);
	int n = 0;
	for (const char *p = strstr(json, pat); p && p < end && n < max;
	     p = strstr(p + 1, pat))
		v[n++] = strncmp(p + strlen(pat), "null", 4) ?
			 strtod(p + strlen(pat), NULL) : NAN;
	return n;
}

static double top_value(const char *json, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof pat, "\n  \"%s\": ", key);
	const char *p = strstr(json, pat);
	assert_non_null(p);
	return strncmp(p + strlen(pat), "null", 4) ? strtod(p + strlen(pat), NULL) : NAN;
}

static cli_result run_ok(const char *const *args)
{
	return cli_expect(&opts, 0, "supcon", NULL, args);
}

static void assert_file(const char *dir, const char *file)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", dir, file);
	if (access(path, R_OK) != 0)
		fail_msg("%s was not written", path);
}

static void test_ce_end_to_end(void **state)
{
	(void)state;
	if (!have_data())
		skip();
	const char *dir = WORK "/ce";
	const char *const args[] = {"train", "--method", "ce", "--width", "8",
		"--limit", "512", "--epochs", "3", "--batch", "32", "--lr", "0.02",
		"--aug", "none", "--threads", "2", "--out", dir, NULL};
	cli_result r = run_ok(args);
	assert_non_null(strstr(r.out, "ce epoch 3/3"));
	cli_result_free(&r);
	for (const char *f = "config.json\0metrics.json\0checkpoint\0model.onnx\0"
			     "classifier.onnx\0"; *f; f += strlen(f) + 1)
		assert_file(dir, f);
	char *m = read_text(dir, "metrics.json");
	double loss[8], acc[8];
	assert_int_equal(epoch_values(m, "loss", loss, 8), 3);
	assert_int_equal(epoch_values(m, "train_accuracy", acc, 8), 3);
	assert_true(loss[2] < loss[0] * 0.8);
	assert_true(acc[2] > acc[0]);
	double test = top_value(m, "test_accuracy");
	assert_true(test > 0.4 && test <= 1);
	free(m);

	/* eval of the exported classifier agrees with the run's number */
	char model[1024];
	snprintf(model, sizeof model, "%s/classifier.onnx", dir);
	const char *const ev[] = {"eval", model, "--json", NULL};
	r = run_ok(ev);
	double top1 = strtod(strstr(r.out, "\"top1\": ") + 8, NULL);
	assert_true(fabs(top1 - test) < 1e-4);
	assert_non_null(strstr(r.out, "\"top5\": "));
	cli_result_free(&r);

	/* issue #6: the cluster numbers and the curves of the run */
	m = read_text(dir, "metrics.json");
	assert_non_null(strstr(m, "\"clusters\": {\"part\": \"test\", \"images\": 1000"));
	const char *knn = strstr(strstr(m, "\"encoder\": {"), "\"knn_accuracy\": ");
	assert_non_null(knn);
	assert_true(strtod(knn + 16, NULL) > 0.3);
	free(m);
	assert_file(dir, "curves.png");

	/* --limit evaluates the first N images (not all N of them over N) */
	const char *const ev200[] = {"eval", model, "--limit", "200", "--json", NULL};
	r = run_ok(ev200);
	assert_non_null(strstr(r.out, "\"images\": 200"));
	double top200 = strtod(strstr(r.out, "\"top1\": ") + 8, NULL);
	assert_true(top200 > 0.3 && top200 <= 1);
	cli_result_free(&r);
	/* corruptions: the clean error is eval's; against itself mCE is 1 */
	const char *const co[] = {"eval", model, "--corrupt", "all:1,contrast:5",
		"--baseline", model, "--limit", "200", "--json", NULL};
	r = run_ok(co);
	double clean = strtod(strstr(r.out, "\"clean_error\": ") + 15, NULL);
	assert_true(fabs(clean - (1 - top200)) < 1e-6);
	assert_non_null(strstr(r.out, "\"severities\": [1, 5]"));
	assert_non_null(strstr(r.out, "\"mce\": 1.000000"));
	/* contrast at severity 5 hurts more than at 1 */
	const char *ct = strstr(strstr(r.out, "\"model\": "), "\"contrast\": [");
	double c1, c5;
	assert_int_equal(sscanf(ct + 13, "%lf, %lf", &c1, &c5), 2);
	assert_true(c5 > c1 && c5 > clean);
	cli_result_free(&r);
	const char *const fog[] = {"eval", model, "--corrupt", "fog:2", NULL};
	const char *const nf[] = {"fog", NULL};
	r = cli_expect(&opts, 2, "supcon eval", nf, fog);
	cli_result_free(&r);
	const char *const sev[] = {"eval", model, "--corrupt", "jpeg:6", NULL};
	const char *const ns[] = {"severity", NULL};
	r = cli_expect(&opts, 2, "supcon eval", ns, sev);
	cli_result_free(&r);
	const char *const nob[] = {"eval", model, "--baseline", model, NULL};
	const char *const nb[] = {"--corrupt", NULL};
	r = cli_expect(&opts, 2, "supcon eval", nb, nob);
	cli_result_free(&r);
}

/* --label-noise flips training labels only, exactly round(P * n_train)
 * of them, each to another class, seeded; validation labels stay.  In
 * process, through run_data_open() (runtime/run/run_util.c, part of
 * supcon_core); then the CLI records it. */
static void test_label_noise(void **state)
{
	(void)state;
	run_config c;
	run_config_defaults(&c, "ce");
	snprintf(c.data, sizeof c.data, "synthetic:1x8x8:5");
	c.limit = 1000;
	c.val_split = 0.2;
	c.seed = 4;
	run_data clean, noisy, again, other, other_clean;
	sc_error err = {0};
	assert_int_equal(run_data_open(&c, &clean, &err), SC_OK);
	c.label_noise = 0.3;
	assert_int_equal(run_data_open(&c, &noisy, &err), SC_OK);
	assert_int_equal(run_data_open(&c, &again, &err), SC_OK);
	/* synthetic data is drawn from the seed too: compare seed 5 with its
	 * own clean labels */
	c.seed = 5;
	assert_int_equal(run_data_open(&c, &other, &err), SC_OK);
	c.label_noise = 0;
	assert_int_equal(run_data_open(&c, &other_clean, &err), SC_OK);
	assert_int_equal(noisy.n_train, 800);
	int flipped = 0, same_as_other = 0, to[5] = {0};
	for (int64_t i = 0; i < noisy.n_train; i++) {
		int64_t at = noisy.train_idx[i];
		int32_t a = clean.train->labels[at], b = noisy.train->labels[at];
		assert_true(b >= 0 && b < 5);
		if (a != b) {
			flipped++;
			to[(b - a + 5) % 5]++;
		}
		assert_int_equal(b, again.train->labels[at]);
	}
	assert_int_equal(flipped, 240);
	/* the new class is uniform over the 4 others: 60 each, loosely */
	for (int k = 1; k < 5; k++)
		assert_true(to[k] > 30 && to[k] < 90);
	assert_int_equal(to[0], 0);
	for (int64_t i = 0; i < noisy.n_val; i++) {
		int64_t at = noisy.val_idx[i];
		assert_int_equal(clean.train->labels[at], noisy.train->labels[at]);
	}
	/* another seed flips other indices: about 240 * 240 / 1000 = 58 in
	 * common by chance, all 240 if the seed were ignored */
	int flipped5 = 0;
	for (int64_t i = 0; i < other.n_train; i++) {
		int64_t at = other.train_idx[i];
		int f5 = other.train->labels[at] != other_clean.train->labels[at];
		flipped5 += f5;
		same_as_other += f5 && noisy.train->labels[at] != clean.train->labels[at];
	}
	assert_int_equal(flipped5, 240);
	assert_true(same_as_other < 120);
	run_data_close(&clean);
	run_data_close(&noisy);
	run_data_close(&again);
	run_data_close(&other);
	run_data_close(&other_clean);

	const char *dir = WORK "/noise";
	const char *const args[] = {"train", "--method", "ce", "--data",
		"synthetic:1x16x16:4", "--width", "4", "--limit", "256", "--epochs",
		"1", "--batch", "32", "--aug", "none", "--label-noise", "0.25",
		"--threads", "2", "--out", dir, NULL};
	cli_result r = run_ok(args);
	cli_result_free(&r);
	char *m = read_text(dir, "metrics.json");
	assert_true(top_value(m, "label_noise") == 0.25);
	free(m);
	m = read_text(dir, "config.json");
	assert_non_null(strstr(m, "\"label-noise\": 0.25"));
	free(m);
	const char *const bad[] = {"train", "--label-noise", "1", "--out", dir, NULL};
	const char *const nb[] = {"--label-noise", NULL};
	r = cli_expect(&opts, 2, "supcon train", nb, bad);
	cli_result_free(&r);
}

static void test_supcon_and_linear(void **state)
{
	(void)state;
	if (!have_data())
		skip();
	const char *dir = WORK "/supcon";
	const char *const args[] = {"train", "--width", "8", "--limit", "512",
		"--epochs", "3", "--batch", "64", "--lr", "0.05", "--aug", "basic",
		"--threads", "2", "--out", dir, NULL};
	cli_result r = run_ok(args);
	cli_result_free(&r);
	char *m = read_text(dir, "metrics.json");
	double loss[8];
	assert_int_equal(epoch_values(m, "loss", loss, 8), 3);
	/* collapsed features give ln(2B - 1) = ln 127 = 4.84 */
	assert_true(loss[0] < 6 && loss[2] < loss[0]);
	free(m);
	const char *const lin[] = {"linear", dir, "--epochs", "20", "--lr", "0.2",
		"--aug", "none", "--threads", "2", NULL};
	r = run_ok(lin);
	assert_non_null(strstr(r.out, "features cached"));
	cli_result_free(&r);
	m = read_text(dir, "metrics.json");
	double test = top_value(m, "test_accuracy");
	assert_true(test > 0.4 && test <= 1);
	assert_non_null(strstr(m, "\"linear\": {"));
	/* stage 1's cluster numbers survive stage 2 */
	assert_non_null(strstr(m, "\"clusters\": {\"part\": \"test\""));
	free(m);
	assert_file(dir, "classifier.onnx");
	assert_file(dir, "curves.png");

	/* embed of the run directory: a picture of the asked size and the
	 * numbers beside it */
	const char *const em[] = {"embed", dir, "--layer", "projector", "--limit",
		"300", "--iterations", "300", "--width", "900", "--height", "650",
		"--points", WORK "/points.csv", "-o", WORK "/proj.png", NULL};
	r = run_ok(em);
	assert_non_null(strstr(r.out, "embeddings: silhouette "));
	assert_non_null(strstr(r.out, "t-SNE: exact, perplexity 30, 300 iterations"));
	cli_result_free(&r);
	uint8_t *px;
	int64_t ph, pw;
	sc_error perr = {0};
	assert_int_equal(data_png_read(WORK "/proj.png", 3, &px, &ph, &pw, &perr), SC_OK);
	assert_int_equal(pw, 900);
	assert_int_equal(ph, 650);
	free(px);
	char *pts = read_text(WORK, "points.csv");
	int lines = 0;
	for (const char *p = pts; (p = strchr(p, '\n')); p++)
		lines++;
	assert_int_equal(lines, 301);
	free(pts);

	/* the embedding model of a stage-1 run without stage 2 */
	char out[1024];
	snprintf(out, sizeof out, "%s/embedding.onnx", WORK);
	const char *const ex[] = {"export", dir, "-o", out, "--softmax", NULL};
	r = run_ok(ex);
	cli_result_free(&r);
}

/* Two epochs at once, or one and then one more with --resume: the same
 * weights, byte for byte. */
static void test_resume_is_exact(void **state)
{
	(void)state;
	if (!have_data())
		skip();
	const char *a = WORK "/whole", *b = WORK "/halves";
	const char *const whole[] = {"train", "--method", "ce", "--width", "4",
		"--limit", "256", "--epochs", "2", "--batch", "32", "--aug", "basic",
		"--threads", "2", "--deterministic", "--val-split", "0",
		"--out", a, NULL};
	const char *const first[] = {"train", "--method", "ce", "--width", "4",
		"--limit", "256", "--epochs", "1", "--batch", "32", "--aug", "basic",
		"--threads", "2", "--deterministic", "--val-split", "0",
		"--out", b, NULL};
	const char *const more[] = {"train", "--resume", "--epochs", "2",
		"--threads", "2", "--out", b, NULL};
	cli_result r = run_ok(whole);
	cli_result_free(&r);
	r = run_ok(first);
	cli_result_free(&r);
	r = run_ok(more);
	assert_non_null(strstr(r.out, "resuming"));
	assert_null(strstr(r.out, "ce epoch 1/2"));
	cli_result_free(&r);
	char pa[1024], pb[1024];
	snprintf(pa, sizeof pa, "%s/model.onnx", a);
	snprintf(pb, sizeof pb, "%s/model.onnx", b);
	FILE *fa = fopen(pa, "rb"), *fb = fopen(pb, "rb");
	assert_non_null(fa);
	assert_non_null(fb);
	int ca, cb, same = 1;
	do {
		ca = fgetc(fa);
		cb = fgetc(fb);
		same &= ca == cb;
	} while (ca != EOF && cb != EOF);
	fclose(fa);
	fclose(fb);
	assert_true(same);

	/* a changed option is refused on --resume */
	const char *const other[] = {"train", "--resume", "--batch", "16",
		"--out", b, NULL};
	const char *const needles[] = {"--batch", NULL};
	r = cli_expect(&opts, 2, "supcon train", needles, other);
	cli_result_free(&r);

	/* a damaged checkpoint is refused with one line naming it */
	char ck[1024];
	snprintf(ck, sizeof ck, "%s/checkpoint", b);
	FILE *f = fopen(ck, "r+b");
	assert_non_null(f);
	fseek(f, 200, SEEK_SET);
	int c = fgetc(f);
	fseek(f, 200, SEEK_SET);
	fputc(c ^ 0x5a, f);
	fclose(f);
	const char *const again[] = {"train", "--resume", "--epochs", "3",
		"--out", b, NULL};
	const char *const bad[] = {"checkpoint", "corrupted", NULL};
	r = cli_expect(&opts, 2, "supcon train", bad, again);
	cli_result_free(&r);
	/* truncated */
	assert_int_equal(truncate(ck, 100), 0);
	r = cli_expect(&opts, 2, "supcon train", bad, again);
	cli_result_free(&r);
}

static void test_synthetic_and_bad_input(void **state)
{
	(void)state;
	const char *dir = WORK "/synth";
	const char *const synth[] = {"train", "--method", "simclr", "--data",
		"synthetic:3x16x16:4", "--width", "4", "--limit", "128", "--epochs",
		"1", "--batch", "32", "--out", dir, NULL};
	cli_result r = run_ok(synth);
	cli_result_free(&r);
	assert_file(dir, "model.onnx");

	const char *const nodata[] = {"train", "--data", WORK "/no-such-dir",
		"--out", WORK "/x", NULL};
	const char *const n1[] = {"--data", NULL};
	r = cli_expect(&opts, 2, "supcon train", n1, nodata);
	cli_result_free(&r);
	const char *const badarch[] = {"train", "--model", "resnet19", "--data",
		"synthetic:1x8x8:2", "--out", WORK "/x", NULL};
	const char *const n2[] = {"resnet19", NULL};
	r = cli_expect(&opts, 2, "supcon train", n2, badarch);
	cli_result_free(&r);
	/* a pretrained file whose input does not fit the data */
	char model[1024];
	snprintf(model, sizeof model, "%s/rn3ch.onnx", WORK);
	const char *const build[] = {"build", "resnet18", "--width", "4",
		"--in-shape", "3x32x32", "-o", model, NULL};
	r = run_ok(build);
	cli_result_free(&r);
	const char *const mismatch[] = {"train", "--model", model, "--data",
		"synthetic:1x16x16:2", "--out", WORK "/x", NULL};
	const char *const n3[] = {"3x32x32", NULL};
	r = cli_expect(&opts, 2, "supcon train", n3, mismatch);
	cli_result_free(&r);
	const char *const notrun[] = {"linear", WORK "/nothing", NULL};
	const char *const n4[] = {"not a training run", NULL};
	r = cli_expect(&opts, 2, "supcon linear", n4, notrun);
	cli_result_free(&r);
	/* a diverging run stops at the first non-finite loss, names the step
	 * and keeps the last good checkpoint */
	const char *const nan[] = {"train", "--method", "ce", "--data",
		"synthetic:1x8x8:2", "--width", "4", "--limit", "64", "--batch", "16",
		"--epochs", "3", "--lr", "1e30", "--momentum", "0", "--out",
		WORK "/nan", NULL};
	const char *const n6[] = {"at step", "last good checkpoint", NULL};
	r = cli_run(&opts, nan);
	assert_true(r.exited && r.status == 1);
	assert_non_null(strstr(r.err, n6[0]));
	assert_non_null(strstr(r.err, n6[1]));
	cli_result_free(&r);
	/* --check-numerics names the node that made the first infinity */
	const char *const nan_checked[] = {"train", "--method", "ce", "--data",
		"synthetic:1x8x8:2", "--width", "4", "--limit", "64", "--batch", "16",
		"--epochs", "3", "--lr", "1e30", "--momentum", "0", "--check-numerics",
		"--out", WORK "/nan2", NULL};
	r = cli_run(&opts, nan_checked);
	assert_true(r.exited && r.status == 1);
	if (!strstr(r.err, ") produced ") || !strstr(r.err, "step 2"))
		fail_msg("unexpected: %s", r.err);
	cli_result_free(&r);
	/* clipping and memory options: checked, and the limit refuses */
	const char *const badclip[] = {"train", "--clip-grad-norm", "-1", "--data",
		"synthetic:1x8x8:2", "--out", WORK "/x", NULL};
	const char *const n7[] = {"--clip-grad-norm", NULL};
	r = cli_expect(&opts, 2, "supcon train", n7, badclip);
	cli_result_free(&r);
	const char *const tiny[] = {"train", "--max-memory", "1K", "--clip-grad-norm",
		"1", "--data", "synthetic:1x8x8:2", "--width", "4", "--out",
		WORK "/tiny", NULL};
	const char *const n8[] = {"above the memory limit of 0.0 MiB", NULL};
	r = cli_expect(&opts, 1, "supcon train", n8, tiny);
	cli_result_free(&r);
	const char *const badaug[] = {"train", "--aug", "sparkle", "--data",
		"synthetic:1x8x8:2", "--out", WORK "/x", NULL};
	const char *const n5[] = {"sparkle", NULL};
	r = cli_expect(&opts, 2, "supcon train", n5, badaug);
	cli_result_free(&r);
}

/* A pretrained file as the encoder: fine-tuned with CE on its frozen
 * features (only fc trains), then evaluated. */
static void test_pretrained_frozen(void **state)
{
	(void)state;
	char model[1024];
	snprintf(model, sizeof model, "%s/pre.onnx", WORK);
	const char *const build[] = {"build", "resnet18", "--width", "4", "--stem",
		"cifar", "--in-shape", "1x16x16", "--classes", "7", "-o", model, NULL};
	cli_result r = run_ok(build);
	cli_result_free(&r);
	const char *dir = WORK "/pre";
	const char *const tr[] = {"train", "--method", "ce", "--model", model,
		"--freeze-encoder", "--data", "synthetic:1x16x16:3", "--limit", "256",
		"--epochs", "2", "--batch", "32", "--out", dir, NULL};
	r = run_ok(tr);
	assert_non_null(strstr(r.out, " 99 parameters"));   /* 32*3 + 3 */
	cli_result_free(&r);
	assert_file(dir, "classifier.onnx");
}

int main(void)
{
	make_dir(WORK);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_synthetic_and_bad_input),
		cmocka_unit_test(test_pretrained_frozen),
		cmocka_unit_test(test_ce_end_to_end),
		cmocka_unit_test(test_supcon_and_linear),
		cmocka_unit_test(test_resume_is_exact),
		cmocka_unit_test(test_label_noise),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
