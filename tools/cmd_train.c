/* cmd_train.c: `supcon train` (stage 1 with SupCon or SimCLR, or the
 * cross-entropy baseline) and `supcon linear RUNDIR` (stage 2): the train
 * and linear jobs of the public API with the command line's options. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OPTS 64

/* The command's own options followed by the shared run options. */
static int make_table(cli_opt *table, const cli_opt *own, int n_own)
{
	int n = 0;
	for (int i = 0; i < n_own; i++)
		table[n++] = own[i];
	for (int i = 0; i < cli_n_run_options && n < MAX_OPTS; i++)
		table[n++] = cli_run_options[i];
	return n;
}

static const cli_opt train_own[] = {
	{"out", 'o', CLI_VALUE, "RUNDIR", "run directory (default runs/<method>)", 0, 0, 0, 0},
	{"resume", 0, CLI_FLAG, NULL, "continue RUNDIR from its checkpoint", 0, 0, 0, 0},
	{"bench", 0, CLI_VALUE, "N", "time N steps after a warm-up; print "
	 "views_per_s and peak_rss_mb, write nothing", 0, 0, 0, 0},
};

int cmd_train(int argc, char **argv)
{
	cli_opt table[MAX_OPTS];
	int n = make_table(table, train_own, (int)(sizeof train_own / sizeof train_own[0]));
	cli_spec spec = {
		.cmd = "train",
		.synopsis = "[--method supcon|simclr|ce] [--model ARCH|FILE.onnx] "
			    "[--data DATA] ... --out RUNDIR",
		.description =
			"Stage 1 of supervised contrastive learning (--method supcon, or\n"
			"simclr for the self-supervised special case): an encoder and a\n"
			"projector trained with the SupCon loss on two augmented views of\n"
			"every image.  --method ce trains the same encoder with a linear\n"
			"classifier and cross-entropy instead (the baseline).\n"
			"RUNDIR receives config.json, metrics.json, model.onnx and the\n"
			"checkpoint (every epoch); a CE run also classifier.onnx.\n"
			"Follow a SupCon run with `supcon linear RUNDIR`.",
		.epilog = "Progress goes to stdout, one summary line per epoch.\n"
			"Data parallel: mpirun -np K supcon train ... trains on K ranks;\n"
			"--batch stays the global batch (divisible by K), SupCon contrasts\n"
			"every anchor with the whole global batch, rank 0 writes RUNDIR.\n"
			"With --sync-bn, K ranks compute what one process computes.",
		.opts = table,
		.n_opts = n,
	};
	cli_args a;
	int status;
	if (!cli_begin(&spec, argc, argv, &a, &status))
		return status;
	int rc;
	if (a.n_pos) {
		cli_error("train", "unexpected argument '%s' (options only; see --help)",
			  a.pos[0]);
		rc = CLI_EXIT_USAGE;
	} else {
		rc = cli_run_job("train", "train", &a, NULL, NULL);
	}
	cli_args_free(&a);
	/* under mpirun: leave the world, or end every rank on a failure (the
	 * others may be waiting for this one in a collective) */
	supcon_dist_finish(rc);
	return rc;
}

static const cli_opt linear_own[] = {
	{"resume", 0, CLI_FLAG, NULL, "continue stage 2 from RUNDIR/linear.checkpoint", 0, 0, 0, 0},
};

int cmd_linear(int argc, char **argv)
{
	cli_opt table[MAX_OPTS];
	int n = make_table(table, linear_own, (int)(sizeof linear_own / sizeof linear_own[0]));
	cli_spec spec = {
		.cmd = "linear",
		.synopsis = "RUNDIR [--epochs N] [--lr X] [--aug POLICY] ...",
		.description =
			"Stage 2: freezes the encoder of a `supcon train` run (BN on its\n"
			"running statistics), drops the projector and trains a linear\n"
			"classifier with cross-entropy.  Data options default to stage 1's.\n"
			"Without augmentation the encoder's features are computed once.\n"
			"Writes RUNDIR/linear.onnx, RUNDIR/classifier.onnx (images in [0,1]\n"
			"in, logits out) and the final test_accuracy in RUNDIR/metrics.json.\n"
			"Defaults: sgd, lr 0.1, momentum 0.9, no weight decay, cosine, 10 epochs.",
		.epilog = NULL,
		.opts = table,
		.n_opts = n,
	};
	cli_args a;
	int status;
	if (!cli_begin(&spec, argc, argv, &a, &status))
		return status;
	int rc;
	if (a.n_pos != 1) {
		cli_error("linear", "%s", a.n_pos ? "one RUNDIR only" :
			  "missing RUNDIR (a supcon train --out folder)");
		rc = CLI_EXIT_USAGE;
	} else {
		const char *extra[] = {"rundir", a.pos[0], NULL};
		rc = cli_run_job("linear", "linear", &a, extra, NULL);
	}
	cli_args_free(&a);
	return rc;
}
