/* cmd_grad.c: `supcon grad MODEL.onnx --loss supcon|ce|OUTPUT
 * [--optimizer ...] -o TRAIN.onnx`.
 *
 * Loads the model, turns it into its training graph (runtime/train_graph.h:
 * loss, gradients by autodiff, one optimizer step) and writes that as a
 * plain ONNX file.  Every check that can fail on the user's input (flags,
 * the loss, ops without gradient rules) happens before the file is
 * written, and the file is written through a temporary name, so a failure
 * never leaves a half-written model. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx.h"
#include "runtime/optim.h"
#include "runtime/train_graph.h"

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

/* Option `name` as a finite number >= 0, if given. */
static int double_option(const cli_args *a, const char *name, double *out,
			 sc_error *err)
{
	const char *s = cli_value(a, name, NULL);
	if (!s)
		return SC_OK;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || *end || errno == ERANGE || !isfinite(v) || v < 0)
		return sc_fail(err, SC_EINVAL,
			       "--%s: '%s' is not a finite number >= 0", name, s);
	*out = v;
	return SC_OK;
}

static int parse_grad_args(const cli_args *a, const char **model_path,
			   const char **out_path, train_graph_options *o,
			   sc_error *err)
{
	int rc = cli_one_model(&grad_spec, a, model_path, err);
	if (rc)
		return rc;
	const char *loss = cli_value(a, "loss", NULL);
	if (!loss || !*loss)
		return sc_fail(err, SC_EINVAL,
			       "missing --loss supcon|ce|OUTPUT (what to minimise)");
	*out_path = cli_value(a, "out", NULL);
	if (!*out_path || !**out_path)
		return sc_fail(err, SC_EINVAL,
			       "missing -o TRAIN.onnx (where to write the training graph)");
	train_graph_options_init(o);
	train_graph_parse_loss(o, loss);
	optim_kind kind = OPTIM_SGD;
	const char *opt = cli_value(a, "optimizer", NULL);
	if (opt && (rc = optim_kind_parse(opt, &kind, err))) {
		sc_error_prefix(err, "--optimizer: ");
		return rc;
	}
	optim_config_init(&o->optim, kind);
	if ((rc = double_option(a, "lr", &o->optim.lr, err)) ||
	    (rc = double_option(a, "momentum", &o->optim.momentum, err)) ||
	    (rc = double_option(a, "weight-decay", &o->optim.weight_decay, err)) ||
	    (rc = double_option(a, "temperature", &o->temperature, err)))
		return rc;
	if (cli_has(a, "temperature") && !(o->temperature > 0))
		return sc_fail(err, SC_EINVAL, "--temperature must be > 0");
	if (cli_has(a, "temperature") && o->loss != TRAIN_LOSS_SUPCON)
		return sc_fail(err, SC_EINVAL,
			       "--temperature applies to --loss supcon only");
	if (cli_has(a, "momentum") && kind != OPTIM_SGD && kind != OPTIM_RMSPROP)
		return sc_fail(err, SC_EINVAL,
			       "--momentum applies to sgd and rmsprop, not %s",
			       optim_kind_name(kind));
	if ((rc = optim_config_check(&o->optim, err)))
		sc_error_prefix(err, "--optimizer %s: ", optim_kind_name(kind));
	return rc;
}

static void print_summary(const char *out_path, const train_graph_options *o,
			  const train_graph_info *info, const graph_model *m)
{
	const graph *g = m->graph;
	printf("wrote %s\n", out_path);
	printf("loss: %s\n", g->values[g->outputs[0]].name);
	printf("optimizer: %s (lr %g), %d update node%s, %d state tensor%s per parameter\n",
	       optim_kind_name(o->optim.kind), o->optim.lr, info->n_groups,
	       info->n_groups == 1 ? "" : "s", info->n_states,
	       info->n_states == 1 ? "" : "s");
	printf("parameters: %d (%lld elements)", info->n_params,
	       (long long)info->n_param_elements);
	if (info->n_skipped)
		printf(", %d float initializer%s without a gradient left as is",
		       info->n_skipped, info->n_skipped == 1 ? "" : "s");
	putchar('\n');
	printf("inputs: %d, outputs: %d, nodes: %d\n", g->n_inputs, g->n_outputs,
	       g->n_nodes);
}

static int grad_do(const char *model_path, const char *out_path,
		   const train_graph_options *o, sc_error *err)
{
	graph_model *m = NULL;
	int rc = cli_load_model(model_path, 0, &m, err);
	if (rc)
		return rc;
	train_graph_info info;
	rc = train_graph_build(m, o, &info, err);
	if (rc) {
		sc_error_prefix(err, "%s: ", model_path);
	} else if ((rc = onnx_save_file(m, out_path, err)) == SC_OK) {
		print_summary(out_path, o, &info, m);
	}
	graph_model_free(m);
	return rc;
}

int cmd_grad(int argc, char **argv)
{
	cli_args args;
	int status;
	if (!cli_begin(&grad_spec, argc, argv, &args, &status))
		return status;
	sc_error err = {0};
	const char *model_path = NULL, *out_path = NULL;
	train_graph_options o;
	int rc = parse_grad_args(&args, &model_path, &out_path, &o, &err);
	if (rc == SC_OK)
		rc = grad_do(model_path, out_path, &o, &err);
	cli_args_free(&args);
	if (rc != SC_OK)
		return cli_fail("grad", &err);
	return cli_finish("grad", CLI_EXIT_OK);
}
