/* cmd_grad.c: `supcon grad MODEL.onnx --loss supcon|ce|OUTPUT
 * [--optimizer ...] -o TRAIN.onnx`.
 *
 * Loads the model, turns it into its training graph (runtime/train_graph.h:
 * loss, gradients by autodiff, one optimizer step) and writes that as a
 * plain ONNX file.  Every check that can fail on the user's input (flags,
 * the loss, ops without gradient rules) happens before the file is
 * written, and the file is written through a temporary name, so a failure
 * never leaves a half-written model.  This file is the command line; the
 * work is the grad job of the public API (runtime/run/job_grad.c). */
#include "cli.h"

#include <stdio.h>

static cli_opt grad_opts[] = {
	{"loss", 0, CLI_VALUE, "supcon|ce|OUTPUT",
	 "supcon or ce on the first output, or a scalar output to minimise", 0, 0, 0, 0},
	{"optimizer", 0, CLI_VALUE, "NAME",
	 "sgd (default), adam, adamw, rmsprop or adagrad", 0, 0, 0, 0},
	{"lr", 0, CLI_VALUE, "X", "initial value of the lr input "
	 "(default: torch's, 0.1 for sgd)", 0, 0, 0, 0},
	{"momentum", 0, CLI_VALUE, "X", "sgd and rmsprop momentum (default 0)", 0, 0, 0, 0},
	{"weight-decay", 0, CLI_VALUE, "X", "weight decay of rank >= 2 parameters "
	 "(default: torch's, 0.01 for adamw, else 0)", 0, 0, 0, 0},
	{"temperature", 0, CLI_VALUE, "T", "SupCon temperature (default 0.1)", 0, 0, 0, 0},
	{"out", 'o', CLI_VALUE, "TRAIN.onnx", "where to write the training graph", 0, 0, 0, 0},
};

static const cli_spec grad_spec = {
	.cmd = "grad",
	.synopsis = "MODEL.onnx --loss supcon|ce|OUTPUT [--optimizer sgd|adam|adamw|"
		    "rmsprop|adagrad] [--lr X] [--momentum X] [--weight-decay X] "
		    "[--temperature T] -o TRAIN.onnx",
	.description =
		"Writes the training graph of MODEL.onnx: its forward pass, a loss, the\n"
		"gradients of the loss with respect to every float initializer it depends\n"
		"on (BatchNormalization running statistics excluded), and one optimizer\n"
		"step. --loss ce adds SoftmaxCrossEntropyLoss on the first output (logits\n"
		"[N, K]) and --loss supcon adds ai.supcon SupConLoss on it (features\n"
		"[M, D]), each with a new input labels (int64 [N]); any other --loss names\n"
		"a scalar output of the model.",
	.epilog =
		"The training graph's inputs are the model's, then labels, lr (float),\n"
		"T (int64: updates done so far, 0 first), every parameter and every\n"
		"optimizer state (<param>.momentum_buffer, .exp_avg, ...). lr, T, the\n"
		"parameters and the states have initializers, so only the data must be\n"
		"given. Its outputs are loss, then <param>.new for each parameter, then\n"
		"<param>.<state>.new; feed them back as the next step's inputs.\n"
		"Weight decay skips parameters of rank <= 1, biases and norms.",
	.opts = grad_opts,
	.n_opts = (int)(sizeof grad_opts / sizeof grad_opts[0]),
};

int cmd_grad(int argc, char **argv)
{
	cli_args args;
	int status;
	if (!cli_begin(&grad_spec, argc, argv, &args, &status))
		return status;
	cli_err err = {0};
	const char *path = NULL;
	int rc = cli_one_model(&grad_spec, &args, &path, &err);
	if (rc) {
		cli_args_free(&args);
		return cli_fail("grad", &err);
	}
	const char *extra[] = {"model", path, NULL};
	rc = cli_run_job("grad", "grad", &args, extra, NULL);
	cli_args_free(&args);
	return rc;
}
