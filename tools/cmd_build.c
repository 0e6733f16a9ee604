/* cmd_build.c: `supcon build ARCH|FILE.onnx [options] -o OUT.onnx`.
 *
 * With ARCH (resnet18 ... resnet200) it writes a freshly initialised
 * torchvision ResNet (models/models.h: model_build) with an optional
 * classifier and projection head.  With a model file it cuts the file's
 * inference network down to its encoder (model_cut_encoder) and puts the
 * classifier and head on that instead, which is how a pretrained ResNet
 * becomes the start of a SupCon run.  Every option is checked before
 * anything is built, and the file is written through a temporary name.
 * This file is the command line; the work is the build job of the public
 * API (runtime/run/job_build.c). */
#include "cli.h"

#include <stdio.h>

static cli_opt build_opts[] = {
	{"stem", 0, CLI_VALUE, "imagenet|cifar",
	 "imagenet: 7x7/2 conv and 3x3/2 max-pool (default); cifar: 3x3/1 conv, no pool",
	 0, 0, 0, 0},
	{"in-shape", 0, CLI_VALUE, "CxHxW", "input channels and size (default 3x224x224)",
	 0, 0, 0, 0},
	{"width", 0, CLI_VALUE, "N", "base width: channels of the first stage (default 64)",
	 0, 0, 0, 0},
	{"head", 0, CLI_VALUE, "none|linear:D|mlp:D|mlp:H:D",
	 "projection head with L2-normalised output \"embedding\" (default none)",
	 0, 0, 0, 0},
	{"classes", 0, CLI_VALUE, "K", "add the linear classifier fc with output \"logits\"",
	 0, 0, 0, 0},
	{"zero-init-residual", 0, CLI_FLAG, NULL,
	 "the last BN of each residual branch starts with gamma 0", 0, 0, 0, 0},
	{"seed", 0, CLI_VALUE, "S", "seed of the random initialisation (default 0)",
	 0, 0, 0, 0},
	{"opset", 0, CLI_VALUE, "N", "ONNX opset to write (9 to 17, default 17)",
	 0, 0, 0, 0},
	{"encoder-output", 0, CLI_VALUE, "NAME",
	 "with a model file: cut at this value instead of the global pooling",
	 0, 0, 0, 0},
	{"out", 'o', CLI_VALUE, "OUT.onnx", "where to write the model", 0, 0, 0, 0},
};

static const cli_spec build_spec = {
	.cmd = "build",
	.synopsis = "ARCH|FILE.onnx [--stem imagenet|cifar] [--in-shape CxHxW] "
		    "[--width N] [--head none|linear:D|mlp:D|mlp:H:D] [--classes K] "
		    "[--zero-init-residual] [--seed S] [--opset N] "
		    "[--encoder-output NAME] -o OUT.onnx",
	.description =
		"Writes a ResNet as an ONNX graph. ARCH is resnet18, resnet34, resnet50,\n"
		"resnet101, resnet152 or resnet200: torchvision's architecture with its\n"
		"state_dict names (conv1.weight, layer1.0.bn1.running_mean, ...), Kaiming\n"
		"(fan_out) conv weights, BN gamma 1 and beta 0. The input is \"input\"\n"
		"float [N, C, H, W]; the encoder ends in \"features\" [N, F] after global\n"
		"average pooling. Outputs: \"logits\" with --classes, then \"embedding\"\n"
		"with --head, else \"features\".\n"
		"Given a model file (an inference ResNet: torchvision export, BN kept or\n"
		"folded, or a model-zoo file) instead of ARCH, cuts it at its global\n"
		"pooling (or --encoder-output) and adds --classes and --head to that.",
	.epilog =
		"Heads: linear:D is Linear(F, D); mlp:D is Linear(F, F), ReLU, Linear(F, D);\n"
		"mlp:H:D uses hidden size H. Each is followed by L2 normalisation.",
	.opts = build_opts,
	.n_opts = (int)(sizeof build_opts / sizeof build_opts[0]),
};

int cmd_build(int argc, char **argv)
{
	cli_args args;
	int status;
	if (!cli_begin(&build_spec, argc, argv, &args, &status))
		return status;
	int rc;
	if (args.n_pos != 1) {
		cli_error("build", "%s ARCH or FILE.onnx (usage: supcon build %s)",
			  args.n_pos ? "expected one" : "missing", build_spec.synopsis);
		rc = CLI_EXIT_USAGE;
	} else if (!cli_value(&args, "out", NULL) || !*cli_value(&args, "out", NULL)) {
		cli_error("build", "missing -o OUT.onnx (where to write the model)");
		rc = CLI_EXIT_USAGE;
	} else {
		const char *extra[] = {"arch", args.pos[0], NULL};
		rc = cli_run_job("build", "build", &args, extra, NULL);
	}
	cli_args_free(&args);
	return rc;
}
