/* cmd_eval.c: `supcon eval MODEL.onnx --data DATA`: top-1 (and top-5)
 * accuracy of an exported classifier and its confusion matrix. */
#include "cli.h"
#include "train.h"

#include "runtime/data/corrupt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cli_opt eval_opts[] = {
	{"data", 0, CLI_VALUE, "DATA", "fashion-mnist | mnist | cifar10 | cifar100 | "
	 "DIR | synthetic:CxHxW:K (default fashion-mnist)", 0, 0, 0, 0},
	{"part", 0, CLI_VALUE, "test|train", "which part of the data (default test)", 0, 0, 0, 0},
	{"size", 0, CLI_VALUE, "N", "ImageFolder images are resized to N x N "
	 "(default 32)", 0, 0, 0, 0},
	{"limit", 0, CLI_VALUE, "N", "evaluate the first N images only", 0, 0, 0, 0},
	{"threads", 0, CLI_VALUE, "N", "compute threads (default: all cores)", 0, 0, 0, 0},
	{"seed", 0, CLI_VALUE, "S", "seed of synthetic data and of the corruption "
	 "noise (default 0)", 0, 0, 0, 0},
	{"json", 0, CLI_FLAG, NULL, "print one JSON object instead", 0, 0, 0, 0},
	{"corrupt", 0, CLI_VALUE, "SPEC", "common corruptions: all, NAME, NAME:S or "
	 "NAME:S1-S2, comma-separated (names: gaussian_noise, shot_noise, "
	 "gaussian_blur, contrast, brightness, pixelate, jpeg; severities 1-5)", 0, 0, 0, 0},
	{"baseline", 0, CLI_VALUE, "B.onnx", "with --corrupt: also evaluate B and "
	 "print the corruption errors relative to it and their mean, mCE", 0, 0, 0, 0},
};

static const cli_spec eval_spec = {
	.cmd = "eval",
	.synopsis = "MODEL.onnx [--data DATA] [--part test|train] [--json] "
		    "[--corrupt all|NAME:S [--baseline B.onnx]]",
	.description =
		"Runs a classifier (as `supcon export` writes it: float images in\n"
		"[0, 1] as [N, C, H, W] in, logits or probabilities out) over a\n"
		"dataset and prints top-1 accuracy, top-5 when there are more than\n"
		"5 classes, and the confusion matrix (rows: true class).\n"
		"With --corrupt it prints the top-1 error under common corruptions\n"
		"(ImageNet-C's, with CIFAR-10-C's parameters; seeded by --seed)\n"
		"instead, and with --baseline the corruption error CE of each\n"
		"relative to the baseline model and their mean, mCE.",
	.epilog = "Example: supcon eval supcon/classifier.onnx --corrupt all "
		  "--baseline ce/classifier.onnx --limit 2000",
	.opts = eval_opts,
	.n_opts = (int)(sizeof eval_opts / sizeof eval_opts[0]),
};

static void print_confusion(const dataset *d, const int64_t *cm)
{
	int64_t k = d->classes;
	printf("confusion (rows true, columns predicted):\n%14s", "");
	for (int64_t j = 0; j < k; j++)
		printf(" %6lld", (long long)j);
	printf("\n");
	for (int64_t i = 0; i < k; i++) {
		char name[14];
		snprintf(name, sizeof name, "%s", d->class_names && d->class_names[i] ?
			 d->class_names[i] : "");
		printf("%2lld %-11s", (long long)i, name);
		for (int64_t j = 0; j < k; j++)
			printf(" %6lld", (long long)cm[i * k + j]);
		printf("\n");
	}
}

static void json_table(const run_corrupt_table *t)
{
	printf("{\"clean_error\": %.6f, \"errors\": {", t->clean);
	for (int i = 0; i < t->n_kinds; i++) {
		int k = t->kinds[i];
		printf("%s\"%s\": [", i ? ", " : "", corrupt_name((corrupt_kind)k));
		for (int j = 0; j < t->n_severities; j++)
			printf("%s%.6f", j ? ", " : "", t->err[k][t->severities[j] - 1]);
		printf("]");
	}
	printf("}}");
}

/* --corrupt: the model (and the baseline) under every corruption asked for. */
static int eval_corrupt(graph_model *m, const char *path, const cli_args *a,
			const dataset *d, int64_t n, int threads, uint64_t seed,
			sc_error *err)
{
	run_corrupt_table t, bt;
	graph_model *base = NULL;
	const char *bpath = cli_value(a, "baseline", NULL);
	float zero[4] = {0, 0, 0, 0}, one[4] = {1, 1, 1, 1};
	int json = cli_has(a, "json");
	int rc = run_corrupt_parse(cli_value(a, "corrupt", ""), &t, err);
	bt = t;
	if (!rc && bpath) {
		rc = cli_load_model(bpath, 1, &base, err);
		if (!rc)
			rc = run_check_input(base, bpath, d->c, d->h, d->w, err);
	}
	if (!rc)
		rc = run_corrupt_eval(m, d, NULL, n, zero, one, threads, seed,
				      json ? NULL : path, &t, err);
	if (!rc && base)
		rc = run_corrupt_eval(base, d, NULL, n, zero, one, threads, seed,
				      json ? NULL : bpath, &bt, err);
	if (!rc && json) {
		printf("{\"images\": %lld, \"seed\": %llu, \"severities\": [",
		       (long long)n, (unsigned long long)seed);
		for (int j = 0; j < t.n_severities; j++)
			printf("%s%d", j ? ", " : "", t.severities[j]);
		printf("], \"model\": ");
		json_table(&t);
		if (base) {
			double ce[7];
			double mce = run_corrupt_mce(&t, &bt, ce);
			printf(", \"baseline\": ");
			json_table(&bt);
			printf(", \"ce\": {");
			for (int i = 0; i < t.n_kinds; i++)
				printf("%s\"%s\": %.6f", i ? ", " : "",
				       corrupt_name((corrupt_kind)t.kinds[i]), ce[i]);
			printf("}, \"mce\": %.6f", mce);
		}
		printf("}\n");
	} else if (!rc) {
		printf("\n");
		if (base) {
			run_corrupt_print(stdout, &bt, NULL, bpath, NULL);
			printf("\n");
		}
		run_corrupt_print(stdout, &t, base ? &bt : NULL, path, bpath);
	}
	graph_model_free(base);
	return rc;
}

int cmd_eval(int argc, char **argv)
{
	cli_args a;
	int status;
	if (!cli_begin(&eval_spec, argc, argv, &a, &status))
		return status;
	sc_error err = {0};
	const char *path = NULL;
	graph_model *m = NULL;
	dataset *d = NULL;
	int64_t *cm = NULL;
	long long size, limit, threads, seed;
	int rc = cli_one_model(&eval_spec, &a, &path, &err);
	if (!rc)
		rc = cli_int_option(&a, "size", 1, 4096, 32, &size, &err);
	if (!rc)
		rc = cli_int_option(&a, "limit", 0, 1LL << 40, 0, &limit, &err);
	if (!rc)
		rc = cli_int_option(&a, "threads", 0, 1024, 0, &threads, &err);
	if (!rc)
		rc = cli_int_option(&a, "seed", 0, 1LL << 62, 0, &seed, &err);
	const char *part = cli_value(&a, "part", "test");
	if (!rc && strcmp(part, "test") && strcmp(part, "train"))
		rc = sc_fail(&err, SC_EINVAL, "--part: '%s' is not test or train", part);
	if (!rc)
		rc = cli_load_model(path, 1, &m, &err);
	if (!rc) {
		dataset_options o;
		dataset_options_init(&o);
		o.size = size;
		o.seed = (uint64_t)seed;
		rc = dataset_open(cli_value(&a, "data", "fashion-mnist"),
				  strcmp(part, "test") ? DATASET_TRAIN : DATASET_TEST,
				  &o, &d, &err);
		if (rc)
			sc_error_prefix(&err, "--data: ");
	}
	if (!rc)
		rc = run_check_input(m, path, d->c, d->h, d->w, &err);
	if (!rc && cli_has(&a, "baseline") && !cli_has(&a, "corrupt"))
		rc = sc_fail(&err, SC_EINVAL, "--baseline needs --corrupt");
	if (!rc && cli_has(&a, "corrupt")) {
		rc = eval_corrupt(m, path, &a, d, limit && limit < d->n ? limit : d->n,
				  (int)threads, (uint64_t)seed, &err);
		goto done;
	}
	if (!rc && !(cm = calloc((size_t)(d->classes * d->classes), sizeof *cm)))
		rc = sc_fail(&err, SC_ENOMEM, "out of memory");
	double top1 = 0, top5 = 0;
	int64_t n = 0;
	if (!rc) {
		/* an exported model normalises inside: feed [0, 1] */
		float zero[4] = {0, 0, 0, 0}, one[4] = {1, 1, 1, 1};
		n = limit && limit < d->n ? limit : d->n;
		rc = run_evaluate(m, d, NULL, n, zero, one, (int)threads, &top1, &top5,
				  cm, &err);
	}
	if (!rc) {
		if (cli_has(&a, "json")) {
			printf("{\"images\": %lld, \"top1\": %.6f", (long long)n, top1);
			if (d->classes > 5)
				printf(", \"top5\": %.6f", top5);
			printf(", \"confusion\": [");
			for (int64_t i = 0; i < d->classes; i++) {
				printf("%s[", i ? ", " : "");
				for (int64_t j = 0; j < d->classes; j++)
					printf("%s%lld", j ? ", " : "",
					       (long long)cm[i * d->classes + j]);
				printf("]");
			}
			printf("]}\n");
		} else {
			printf("%s on %s: %lld images\n", path, d->name, (long long)n);
			printf("top1: %.4f\n", top1);
			if (d->classes > 5)
				printf("top5: %.4f\n", top5);
			print_confusion(d, cm);
		}
	}
done:
	free(cm);
	dataset_free(d);
	graph_model_free(m);
	cli_args_free(&a);
	if (rc)
		return cli_fail("eval", &err);
	return cli_finish("eval", CLI_EXIT_OK);
}
