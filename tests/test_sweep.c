/* test_sweep.c: `supcon sweep` end to end on a tiny grid (issue #6):
 * 2 optimizers x 2 schedules x 2 augmentations on 1000 Fashion-MNIST
 * images, one epoch of a width-8 ResNet-18, then the linear classifier.
 * The table must list the 8 cells and the cross-entropy reference with
 * every validation accuracy above chance (0.1); a second run must skip
 * every finished cell; a cell must be a run directory that export and
 * embed accept; bad grids fail before anything runs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "cli_runner.h"

#define WORK SUPCON_TEST_WORK "/sweep"
#define FMNIST "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"

static const cli_options opts = {.dir = WORK};

static int count(const char *s, const char *needle)
{
	int n = 0;
	for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

static void test_bad_grid(void **state)
{
	(void)state;
	const char *const bad_opt[] = {"sweep", "--optimizer", "sgd,lbfgs",
		"--out", WORK "/bad", NULL};
	const char *const n1[] = {"lbfgs", NULL};
	cli_result r = cli_expect(&opts, 2, "supcon sweep", n1, bad_opt);
	cli_result_free(&r);
	const char *const bad_grid[] = {"sweep", "--grid", "paper", "--out",
		WORK "/bad", NULL};
	const char *const n2[] = {"--grid", NULL};
	r = cli_expect(&opts, 2, "supcon sweep", n2, bad_grid);
	cli_result_free(&r);
	const char *const bad_aug[] = {"sweep", "--aug", "none,sparkle", "--out",
		WORK "/bad", NULL};
	const char *const n3[] = {"sparkle", NULL};
	r = cli_expect(&opts, 2, "supcon sweep", n3, bad_aug);
	cli_result_free(&r);
	const char *const bad_lr[] = {"sweep", "--lr", "adam=fast", "--out",
		WORK "/bad", NULL};
	const char *const n4[] = {"--lr", NULL};
	r = cli_expect(&opts, 2, "supcon sweep", n4, bad_lr);
	cli_result_free(&r);
	/* nothing ran */
	assert_int_not_equal(access(WORK "/bad/table.csv", F_OK), 0);
}

static void test_tiny_sweep(void **state)
{
	(void)state;
	if (access(FMNIST, R_OK) != 0)
		skip();
	const char *dir = WORK "/tiny";
	/* a previous run's finished cells would be skipped, not run */
	assert_int_equal(system("rm -rf '" WORK "/tiny'"), 0);
	const char *const args[] = {"sweep", "--optimizer", "sgd,adam", "--schedule",
		"const,decay", "--aug", "none,jitter", "--limit", "1000", "--epochs",
		"1", "--width", "8", "--batch", "64", "--linear-epochs", "20",
		"--linear-batch", "64",
		"--threads", "2", "--out", dir, NULL};
	cli_result r = cli_expect(&opts, 0, "supcon sweep", NULL, args);
	/* one progress line per cell as it finishes */
	assert_int_equal(count(r.out, "val_acc "), 9);
	assert_non_null(strstr(r.out, "[9/9] cross-entropy ce-sgd-decay-jitter"));
	cli_result_free(&r);

	char *csv = slurp(WORK "/tiny/table.csv");
	assert_non_null(strstr(csv, "method,optimizer,schedule,aug,scl_loss,"
				    "train_accuracy,val_accuracy,test_accuracy,seconds"));
	int rows = 0, supcon = 0;
	for (char *line = strchr(csv, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
		char method[16], opt[16], sched[16], aug[16];
		double loss = NAN, tr, va, te, secs;
		char rest[512];
		assert_int_equal(sscanf(line + 1, "%15[^,],%15[^,],%15[^,],%15[^,],%511s",
					method, opt, sched, aug, rest), 5);
		rows++;
		if (!strcmp(method, "supcon")) {
			supcon++;
			assert_int_equal(sscanf(rest, "%lf,%lf,%lf,%lf,%lf", &loss, &tr,
						&va, &te, &secs), 5);
			/* collapsed features give ln(2B - 1) = ln 127 = 4.84 */
			assert_true(loss > 0 && loss < log(127.0));
		} else {
			assert_string_equal(method, "ce");
			assert_int_equal(sscanf(rest, ",%lf,%lf,%lf,%lf", &tr, &va, &te,
						&secs), 4);
		}
		if (!(va > 0.1 && va <= 1))
			fail_msg("%s %s-%s-%s: val_accuracy %g is not above chance",
				 method, opt, sched, aug, va);
		assert_true(tr > 0 && te > 0.1 && secs > 0);
	}
	assert_int_equal(rows, 9);
	assert_int_equal(supcon, 8);
	free(csv);
	char *md = slurp(WORK "/tiny/table.md");
	assert_non_null(strstr(md, "| supcon | adam | decay | jitter |"));
	assert_non_null(strstr(md, "| cross-entropy | sgd | decay | jitter | - |"));
	free(md);

	/* again: every cell is done already */
	r = cli_expect(&opts, 0, "supcon sweep", NULL, args);
	assert_int_equal(count(r.out, "done earlier, skipped"), 9);
	assert_int_equal(count(r.out, "running"), 0);
	cli_result_free(&r);

	/* a cell is a run directory: stage 1 and 2 files, export, embed */
	const char *cell = WORK "/tiny/adam-decay-jitter";
	for (const char *f = "config.json\0metrics.json\0classifier.onnx\0curves.png\0"
			     "train.log\0sweep.json\0"; *f; f += strlen(f) + 1) {
		char path[1024];
		snprintf(path, sizeof path, "%s/%s", cell, f);
		if (access(path, R_OK) != 0)
			fail_msg("%s is missing", path);
	}
	char *cfg = slurp(WORK "/tiny/adam-decay-jitter/config.json");
	assert_non_null(strstr(cfg, "\"optimizer\": \"adam\""));
	assert_non_null(strstr(cfg, "\"schedule\": \"exp:0.9\""));
	assert_non_null(strstr(cfg, "\"aug\": \"jitter\""));
	assert_non_null(strstr(cfg, "\"lr\": 0.001"));
	free(cfg);
	const char *const ex[] = {"export", cell, "-o", WORK "/cell.onnx", NULL};
	r = cli_expect(&opts, 0, "supcon export", NULL, ex);
	cli_result_free(&r);
	const char *const em[] = {"embed", cell, "--method", "pca", "--limit", "200",
		"-o", WORK "/cell.png", NULL};
	r = cli_expect(&opts, 0, "supcon embed", NULL, em);
	assert_non_null(strstr(r.out, "wrote"));
	cli_result_free(&r);
}

int main(void)
{
	make_dir(WORK);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_grid),
		cmocka_unit_test(test_tiny_sweep),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
