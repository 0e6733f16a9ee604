/* cmd_export.c: `supcon export RUNDIR -o classifier.onnx`: the export
 * job of the public API. */
#include "cli.h"

#include <stdio.h>

static cli_opt export_opts[] = {
	{"out", 'o', CLI_VALUE, "FILE.onnx", "where to write (default "
	 "RUNDIR/classifier.onnx)", 0, 0, 0, 0},
	{"softmax", 0, CLI_FLAG, NULL, "output probabilities instead of logits", 0, 0, 0, 0},
};

static const cli_spec export_spec = {
	.cmd = "export",
	.synopsis = "RUNDIR [-o FILE.onnx] [--softmax]",
	.description =
		"Writes the trained network of a run directory as one standard ONNX\n"
		"inference graph (opset <= 17): the stage-2 classifier of a linear run,\n"
		"the network of a CE run, or, for a stage-1 run without stage 2, the\n"
		"embedding model (encoder and projector, normalised embeddings out).\n"
		"The input takes float images in [0, 1] as [N, C, H, W]; the training\n"
		"normalisation is inside the graph; BN uses its running statistics.",
	.epilog = NULL,
	.opts = export_opts,
	.n_opts = (int)(sizeof export_opts / sizeof export_opts[0]),
};

int cmd_export(int argc, char **argv)
{
	cli_args a;
	int status;
	if (!cli_begin(&export_spec, argc, argv, &a, &status))
		return status;
	int rc;
	if (a.n_pos != 1) {
		cli_error("export", "%s", a.n_pos ? "one RUNDIR only" : "missing RUNDIR");
		rc = CLI_EXIT_USAGE;
	} else {
		const char *extra[] = {"rundir", a.pos[0], NULL};
		rc = cli_run_job("export", "export", &a, extra, NULL);
	}
	cli_args_free(&a);
	return rc;
}
