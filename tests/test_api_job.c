/* test_api_job.c: the job API of runtime/supcon.h (supcon_job_*), which
 * is how the CLI and any C program run train, linear, export, eval,
 * embed, build, grad and sgemm.
 *
 * Happy paths against independent references: a tiny CE run (synthetic
 * data, ResNet-18 width 4, one epoch) whose results must be the numbers
 * of its metrics.json (read here), whose exported classifier, evaluated
 * by an eval job through ONNX, must score the run's own test accuracy,
 * which must print nothing without an output, and whose embedding (an
 * embed job) has ResNet-18's 8 x width features; a build job's file must
 * load as a session with the requested classifier; an sgemm job reports a
 * positive rate.
 * Misuse: unknown kinds and keys, bad values, NULL handles and arguments,
 * results before a run or of a failed one, a second run, keys set after
 * a run: SUPCON_EINVAL with a one-line message naming the key, never a
 * crash (ASan and UBSan in the sanitizer build). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "runtime/supcon.h"

#define WORK SUPCON_TEST_WORK "/api_job"
#define DATA "synthetic:3x16x16:4"

#define OK(call)                                                               \
	do {                                                                   \
		supcon_status st_ = (call);                                    \
		if (st_ != SUPCON_OK)                                          \
			fail_msg("%s: %s: %s", #call, supcon_status_name(st_), \
				 supcon_last_error());                         \
	} while (0)

/* The last error is one non-empty line containing want. */
static void assert_error(const char *msg, const char *want)
{
	assert_non_null(msg);
	assert_true(msg[0] != '\0');
	assert_null(strchr(msg, '\n'));
	if (want && !strstr(msg, want))
		fail_msg("message '%s' does not name '%s'", msg, want);
}

/* Top-level number key of DIR/metrics.json, read independently of the
 * library. */
static double metrics_number(const char *dir, const char *key)
{
	char path[512], buf[1 << 15], pat[96];
	snprintf(path, sizeof path, "%s/metrics.json", dir);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	snprintf(pat, sizeof pat, "\n  \"%s\": ", key);
	const char *p = strstr(buf, pat);
	if (!p)
		fail_msg("%s: no %s", path, key);
	return strtod(p + strlen(pat), NULL);
}

static supcon_job *job(const char *kind, const char *const *keys)
{
	supcon_job *j = NULL;
	OK(supcon_job_create(kind, &j));
	for (int i = 0; keys[i]; i += 2)
		OK(supcon_job_set(j, keys[i], keys[i + 1]));
	return j;
}

/* Runs j with stdout sent to a file; returns how many bytes it printed. */
static long run_capturing_stdout(supcon_job *j)
{
	char path[512];
	snprintf(path, sizeof path, "%s/stdout.txt", WORK);
	fflush(stdout);
	int saved = dup(1);
	assert_true(saved >= 0);
	assert_non_null(freopen(path, "w", stdout));
	supcon_status st = supcon_job_run(j);
	fflush(stdout);
	assert_true(dup2(saved, 1) >= 0);
	close(saved);
	if (st != SUPCON_OK)
		fail_msg("job: %s", supcon_job_error(j));
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	return (long)sb.st_size;
}

static void test_train_export_eval(void **state)
{
	(void)state;
	mkdir(WORK, 0777);
	const char *dir = WORK "/ce";
	const char *keys[] = {
		"method", "ce", "model", "resnet18", "width", "4", "data", DATA,
		"epochs", "1", "batch", "16", "limit", "64", "threads", "2",
		"out", dir, NULL,
	};
	supcon_job *t = job("train", keys);
	/* no output: silent */
	assert_int_equal(run_capturing_stdout(t), 0);
	static const char *const nums[] = {
		"test_accuracy", "final_loss", "train_accuracy", "val_accuracy",
		"seconds",
	};
	for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
		double v;
		OK(supcon_job_result(t, nums[i], &v));
		assert_true(fabs(v - metrics_number(dir, nums[i])) <= 1e-12);
	}
	double acc, sil, world;
	OK(supcon_job_result(t, "test_accuracy", &acc));
	assert_true(acc >= 0 && acc <= 1);
	OK(supcon_job_result(t, "encoder_silhouette", &sil));
	assert_true(sil >= -1 && sil <= 1);
	OK(supcon_job_result(t, "world_size", &world));
	assert_true(world == 1);
	const char *text;
	OK(supcon_job_result_text(t, "rundir", &text));
	assert_string_equal(text, dir);
	OK(supcon_job_result_text(t, "path", &text));
	assert_string_equal(text, WORK "/ce/classifier.onnx");
	/* what it did not produce */
	double v;
	assert_int_equal(supcon_job_result(t, "views_per_s", &v), SUPCON_EINVAL);
	assert_error(supcon_last_error(), "views_per_s");
	assert_int_equal(supcon_job_result_text(t, "nothing", &text), SUPCON_EINVAL);
	/* once only */
	assert_int_equal(supcon_job_run(t), SUPCON_EINVAL);
	assert_error(supcon_job_error(t), "has run already");
	assert_int_equal(supcon_job_set(t, "epochs", "2"), SUPCON_EINVAL);
	assert_error(supcon_job_error(t), "--epochs");
	supcon_job_free(t);

	/* export, to a file of our own, with its summary to a FILE */
	const char *ekeys[] = {"rundir", dir, "out", WORK "/exported.onnx", NULL};
	supcon_job *e = job("export", ekeys);
	char out_path[512];
	snprintf(out_path, sizeof out_path, "%s/export.txt", WORK);
	FILE *f = fopen(out_path, "w+");
	assert_non_null(f);
	OK(supcon_job_set_output(e, f));
	OK(supcon_job_run(e));
	rewind(f);
	char line[600] = "";
	assert_non_null(fgets(line, sizeof line, f));
	fclose(f);
	assert_string_equal(line, "wrote " WORK "/exported.onnx\n");
	OK(supcon_job_result_text(e, "path", &text));
	assert_string_equal(text, WORK "/exported.onnx");
	supcon_job_free(e);

	/* the exported classifier, through ONNX, scores the run's own test
	 * accuracy (metrics.json rounds to 6 digits) */
	const char *vkeys[] = {"model", WORK "/exported.onnx", "data", DATA,
			       "threads", "2", NULL};
	supcon_job *ev = job("eval", vkeys);
	OK(supcon_job_run(ev));
	double top1, images;
	OK(supcon_job_result(ev, "top1", &top1));
	OK(supcon_job_result(ev, "images", &images));
	assert_true(images > 0);
	if (fabs(top1 - acc) > 1e-5)
		fail_msg("eval top1 %.6f, the run's test_accuracy %.6f", top1, acc);
	/* 4 classes: no top5 */
	assert_int_equal(supcon_job_result(ev, "top5", &v), SUPCON_EINVAL);
	supcon_job_free(ev);

	/* the run's encoder embeddings: ResNet-18's features are 8 x width */
	const char *mkeys[] = {"model", dir, "data", DATA, "method", "pca",
			       "limit", "50", "threads", "2",
			       "out", WORK "/embed.png", NULL};
	supcon_job *em = job("embed", mkeys);
	OK(supcon_job_run(em));
	double n, dim;
	OK(supcon_job_result(em, "images", &n));
	OK(supcon_job_result(em, "dim", &dim));
	assert_true(n == 50 && dim == 32);
	OK(supcon_job_result(em, "silhouette", &v));
	assert_true(v >= -1 && v <= 1);
	struct stat sb;
	assert_int_equal(stat(WORK "/embed.png", &sb), 0);
	assert_true(sb.st_size > 1000);
	supcon_job_free(em);
}

static void test_build_and_sgemm(void **state)
{
	(void)state;
	mkdir(WORK, 0777);
	const char *keys[] = {"arch", "resnet18", "width", "4", "classes", "7",
			      "in-shape", "3x32x32", "out", WORK "/built.onnx", NULL};
	supcon_job *b = job("build", keys);
	OK(supcon_job_run(b));
	const char *path;
	OK(supcon_job_result_text(b, "path", &path));
	supcon_session *s = NULL;
	OK(supcon_session_create(path, &s));
	int n_out = 0, rank = 0;
	int64_t dims[SUPCON_MAX_RANK];
	int dt;
	OK(supcon_session_output_count(s, &n_out));
	assert_int_equal(n_out, 1);
	OK(supcon_session_output_info(s, 0, &dt, &rank, dims, SUPCON_MAX_RANK));
	assert_int_equal(rank, 2);
	assert_int_equal(dims[1], 7);
	supcon_session_free(s);
	supcon_job_free(b);

	const char *gkeys[] = {"sgemm", "64", "repeat", "1", NULL};
	supcon_job *g = job("sgemm", gkeys);
	OK(supcon_job_run(g));
	double rate;
	OK(supcon_job_result(g, "sgemm_gflop_per_s", &rate));
	assert_true(rate > 0 && isfinite(rate));
	supcon_job_free(g);
}

static void test_misuse(void **state)
{
	(void)state;
	supcon_job *j = (supcon_job *)1;
	double v;
	const char *text;
	assert_int_equal(supcon_job_create("tarin", &j), SUPCON_EINVAL);
	assert_null(j);
	assert_error(supcon_last_error(), "tarin");
	assert_int_equal(supcon_job_create(NULL, &j), SUPCON_EINVAL);
	assert_error(supcon_last_error(), "kind");
	assert_int_equal(supcon_job_create("train", NULL), SUPCON_EINVAL);
	assert_int_equal(supcon_job_set(NULL, "epochs", "1"), SUPCON_EINVAL);
	assert_error(supcon_last_error(), "job is NULL");
	assert_int_equal(supcon_job_set_output(NULL, stdout), SUPCON_EINVAL);
	assert_int_equal(supcon_job_run(NULL), SUPCON_EINVAL);
	assert_int_equal(supcon_job_result(NULL, "top1", &v), SUPCON_EINVAL);
	assert_int_equal(supcon_job_result_text(NULL, "path", &text), SUPCON_EINVAL);
	assert_error(supcon_job_error(NULL), NULL);
	supcon_job_free(NULL);

	OK(supcon_job_create("train", &j));
	assert_string_equal(supcon_job_error(j), "");
	assert_int_equal(supcon_job_set(j, "bogus", "1"), SUPCON_EINVAL);
	assert_error(supcon_job_error(j), "--bogus");
	assert_int_equal(supcon_job_set(j, "epochs", "3x"), SUPCON_EINVAL);
	assert_error(supcon_job_error(j), "--epochs");
	assert_int_equal(supcon_job_set(j, "lr", "-1"), SUPCON_EINVAL);
	assert_error(supcon_job_error(j), "--lr");
	assert_int_equal(supcon_job_set(j, "resume", "yes"), SUPCON_EINVAL);
	assert_error(supcon_job_error(j), "--resume");
	assert_int_equal(supcon_job_set(j, "bench", "0"), SUPCON_EINVAL);
	assert_error(supcon_job_error(j), "--bench");
	/* world_size is recorded, not given */
	assert_int_equal(supcon_job_set(j, "world_size", "2"), SUPCON_EINVAL);
	assert_int_equal(supcon_job_set(j, NULL, "1"), SUPCON_EINVAL);
	assert_int_equal(supcon_job_set(j, "epochs", NULL), SUPCON_EINVAL);
	assert_int_equal(supcon_job_result(j, "test_accuracy", &v), SUPCON_EINVAL);
	assert_error(supcon_last_error(), "has not run");
	assert_int_equal(supcon_job_result(j, "test_accuracy", NULL), SUPCON_EINVAL);
	/* a key of another kind */
	assert_int_equal(supcon_job_set(j, "softmax", "1"), SUPCON_EINVAL);
	assert_error(supcon_job_error(j), "--softmax");
	/* combinations are checked by run: a failed job has no results */
	OK(supcon_job_set(j, "method", "nonsense"));
	OK(supcon_job_set(j, "out", WORK "/never"));
	assert_int_equal(supcon_job_run(j), SUPCON_EINVAL);
	assert_error(supcon_job_error(j), "--method");
	assert_int_equal(supcon_job_result(j, "test_accuracy", &v), SUPCON_EINVAL);
	assert_error(supcon_last_error(), "failed");
	assert_int_equal(supcon_job_run(j), SUPCON_EINVAL);
	supcon_job_free(j);

	/* per kind: keys of the command only, positional roles required */
	const char *kinds[] = {"linear", "export", "eval", "embed", "build", "grad"};
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		OK(supcon_job_create(kinds[i], &j));
		assert_int_equal(supcon_job_set(j, "no-such-key", "1"), SUPCON_EINVAL);
		assert_error(supcon_job_error(j), "--no-such-key");
		assert_int_equal(supcon_job_run(j), SUPCON_EINVAL);
		assert_error(supcon_job_error(j), "missing");
		supcon_job_free(j);
	}
	OK(supcon_job_create("eval", &j));
	assert_int_equal(supcon_job_set(j, "limit", "-3"), SUPCON_EINVAL);
	assert_error(supcon_job_error(j), "--limit");
	OK(supcon_job_set(j, "model", WORK "/no/such/model.onnx"));
	assert_int_equal(supcon_job_run(j), SUPCON_EINVAL);
	assert_error(supcon_job_error(j), "no/such/model.onnx");
	supcon_job_free(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_misuse),
		cmocka_unit_test(test_build_and_sgemm),
		cmocka_unit_test(test_train_export_eval),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
