/* main.c: the `supcon` command line.  Finds the subcommand and hands it the
 * rest of argv; each subcommand lives in its own tools/cmd_*.c file.
 *
 * The process never ends on a signal it can prevent: SIGPIPE is ignored so
 * that `supcon info m.onnx | head -1` ends with a write error (reported, exit
 * 1) instead of a kill. */
#include "cli.h"

#include <signal.h>
#include <string.h>

static const cli_command commands[] = {
	{"info", "MODEL.onnx [--json]",
	 "Print a model's IR version, opsets, inputs, outputs, ops and parameter count.",
	 cmd_info},
	{"run", "MODEL.onnx --in NAME=FILE ... [--grad NAME ...] [--threads N] --out DIR",
	 "Run a model on TensorProto or PNG inputs and write its outputs.", cmd_run},
	{"bench", "MODEL.onnx [--in NAME=FILE ...] [--batch B] [--threads N] "
		  "[--warmup N] [--repeat N]",
	 "Time repeated runs of a model after a warm-up.", cmd_bench},
	{"build", "ARCH [--stem imagenet|cifar] [--in-shape CxHxW] [--width N] "
		  "[--head none|linear:D|mlp:D|mlp:H:D] [--classes K] -o FILE.onnx",
	 "Write a ResNet (18/34/50/101/152/200) as an ONNX graph.", cmd_build},
	{"grad", "MODEL.onnx --loss supcon|ce|OUTPUT [--optimizer ...] -o TRAIN.onnx",
	 "Write the training graph of a model (loss, gradients, optimizer step).",
	 cmd_grad},
	{"train", "--data DATA --model MODEL [--method supcon|simclr|ce] ... --out RUNDIR",
	 "Train an encoder with SupCon, SimCLR or cross-entropy.", cmd_train},
	{"linear", "RUNDIR ...",
	 "Stage 2: train a linear classifier on the frozen encoder.", cmd_linear},
	{"export", "RUNDIR -o classifier.onnx",
	 "Export the trained classifier as a standard ONNX file.", cmd_export},
	{"eval", "MODEL.onnx --data DATA",
	 "Print a classifier's accuracy.", cmd_eval},
	{"embed", "MODEL.onnx|RUNDIR [--layer encoder|projector] [--method tsne|pca] "
		  "-o FILE.png",
	 "Draw a PNG scatter of the embeddings (t-SNE or PCA) with cluster numbers.",
	 cmd_embed},
	{"sweep", "[--grid article] [--optimizer LIST] [--schedule LIST] [--aug LIST] "
		  "... --out DIR",
	 "The article's optimizer x learning-rate x augmentation study, as a table.",
	 cmd_sweep},
	{"demo", "[--out DIR]",
	 "The main job: SupCon on Fashion-MNIST, then a linear classifier, then export.",
	 cmd_demo},
};

#define N_COMMANDS ((int)(sizeof commands / sizeof commands[0]))

static void print_help(void)
{
	printf("usage: supcon COMMAND [ARGS...]\n\n"
	       "A C runtime that loads, runs, trains and writes ONNX models,\n"
	       "built for supervised contrastive learning (SupCon).\n\n"
	       "commands:\n");
	for (int i = 0; i < N_COMMANDS; i++)
		printf("  %-8s %s%s\n", commands[i].name, commands[i].summary,
		       commands[i].run ? "" : " (not implemented yet)");
	printf("\nRun `supcon COMMAND --help` for the options of one command.\n"
	       "Exit status: 0 success, 2 bad usage or bad input, 1 runtime failure.\n");
}

static const cli_command *find_command(const char *name)
{
	for (int i = 0; i < N_COMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);

	if (argc < 2) {
		cli_error(NULL, "missing command (try `supcon --help`)");
		return CLI_EXIT_USAGE;
	}
	const char *name = argv[1];
	if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
		print_help();
		return cli_finish(NULL, CLI_EXIT_OK);
	}
	if (strcmp(name, "help") == 0) {
		/* `supcon help CMD` is `supcon CMD --help` */
		if (argc >= 3) {
			const cli_command *c = find_command(argv[2]);
			if (!c) {
				cli_error(NULL, "unknown command '%s' (try `supcon --help`)",
					  argv[2]);
				return CLI_EXIT_USAGE;
			}
			char *help_argv[] = {"--help", NULL};
			return c->run ? c->run(1, help_argv) :
					cli_not_implemented(c, 1, help_argv);
		}
		print_help();
		return cli_finish(NULL, CLI_EXIT_OK);
	}
	if (strcmp(name, "--version") == 0) {
		printf("supcon 0.1.0\n");
		return cli_finish(NULL, CLI_EXIT_OK);
	}

	const cli_command *c = find_command(name);
	if (!c) {
		if (name[0] == '-')
			cli_error(NULL, "unknown option %s before the command "
				  "(try `supcon --help`)", name);
		else
			cli_error(NULL, "unknown command '%s' (try `supcon --help`)",
				  name);
		return CLI_EXIT_USAGE;
	}
	if (!c->run)
		return cli_not_implemented(c, argc - 2, argv + 2);
	return c->run(argc - 2, argv + 2);
}
