/* cmd_demo.c: `supcon demo [--out DIR]`, the main job.
 *
 * Stand-in until training lands: it checks that the Fashion-MNIST files are
 * where Debian's dataset-fashion-mnist package puts them and prints the
 * plan of the demo and which of its parts are still missing. */
#include "cli.h"

#include <string.h>

#define DEMO_DATA_DIR "/usr/share/datasets/fashion-mnist"

static const char *const demo_files[] = {
	"train-images-idx3-ubyte.gz",
	"train-labels-idx1-ubyte.gz",
	"t10k-images-idx3-ubyte.gz",
	"t10k-labels-idx1-ubyte.gz",
};

static cli_opt demo_opts[] = {
	{"out", 0, CLI_VALUE, "DIR", "run directory (default runs/demo)", 0, 0, 0, 0},
};

static const cli_spec demo_spec = {
	.cmd = "demo",
	.synopsis = "[--out DIR]",
	.description =
		"Trains a ResNet-18 encoder on Fashion-MNIST with the SupCon loss (stage 1),\n"
		"freezes it and trains a linear classifier with cross-entropy (stage 2),\n"
		"exports the classifier as ONNX and reports its test accuracy.",
	.epilog =
		"For now only the dataset check runs; training, stage 2 and\n"
		"export are not implemented yet.",
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

int cmd_demo(int argc, char **argv)
{
	cli_args args;
	int status;
	if (!cli_begin(&demo_spec, argc, argv, &args, &status))
		return status;
	sc_error err = {0};
	if (args.n_pos > 0) {
		cli_error("demo", "unexpected argument '%s' (usage: supcon demo [--out DIR])",
			  args.pos[0]);
		cli_args_free(&args);
		return CLI_EXIT_USAGE;
	}
	const char *out = cli_value(&args, "out", "runs/demo");
	int rc = check_dataset(&err);
	if (rc != SC_OK) {
		cli_args_free(&args);
		return cli_fail("demo", &err);
	}

	printf("supcon demo: supervised contrastive learning on Fashion-MNIST\n\n"
	       "dataset     %s (60000 train, 10000 test, 28x28, 10 classes): found\n"
	       "run dir     %s\n\n"
	       "plan\n"
	       "  1. stage 1: train a ResNet-18 encoder (CIFAR stem) with a projector\n"
	       "     head using the SupCon loss on two augmented views per image\n"
	       "  2. stage 2: freeze the encoder, drop the projector, train a linear\n"
	       "     classifier with cross-entropy\n"
	       "  3. export the classifier as ONNX and report its test accuracy in\n"
	       "     %s/metrics.json\n\n"
	       "status\n"
	       "  ready:   ONNX loading and validation (supcon info), the dataset\n"
	       "  missing: training (stage 1), stage 2 (linear), export\n\n"
	       "Nothing was trained: the demo only checks its inputs until training\n"
	       "lands.\n",
	       DEMO_DATA_DIR, out, out);
	cli_args_free(&args);
	return cli_finish("demo", CLI_EXIT_OK);
}
