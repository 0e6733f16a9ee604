/* cmd_eval.c: `supcon eval MODEL.onnx --data DATA`: top-1 (and top-5)
 * accuracy of an exported classifier and its confusion matrix, or its
 * errors under common corruptions: the eval job of the public API. */
#include "cli.h"

#include <stdio.h>

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

int cmd_eval(int argc, char **argv)
{
	cli_args a;
	int status;
	if (!cli_begin(&eval_spec, argc, argv, &a, &status))
		return status;
	cli_err err = {0};
	const char *path = NULL;
	int rc = cli_one_model(&eval_spec, &a, &path, &err);
	if (rc) {
		cli_args_free(&a);
		return cli_fail("eval", &err);
	}
	const char *extra[] = {"model", path, NULL};
	rc = cli_run_job("eval", "eval", &a, extra, NULL);
	cli_args_free(&a);
	return rc;
}
