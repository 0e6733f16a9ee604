/* job_grad.c: the grad job (`supcon grad MODEL.onnx --loss ... -o
 * TRAIN.onnx`): writes the training graph of a model, its forward pass,
 * a loss, the gradients and one optimizer step (train_graph.h). */
#include "job.h"

#include <stdio.h>
#include <string.h>

#include "onnx/onnx.h"
#include "runtime/optim.h"
#include "runtime/train_graph.h"

static int parse_grad_args(const run_job *a, const char **model_path,
			   const char **out_path, train_graph_options *o,
			   sc_error *err)
{
	int rc;
	*model_path = run_job_str(a, "model");
	if (!*model_path)
		return sc_fail(err, SC_EINVAL, "missing MODEL.onnx");
	const char *loss = run_keys_value(&a->keys, "loss", NULL);
	if (!loss || !*loss)
		return sc_fail(err, SC_EINVAL,
			       "missing --loss supcon|ce|OUTPUT (what to minimise)");
	*out_path = run_keys_value(&a->keys, "out", NULL);
	if (!*out_path || !**out_path)
		return sc_fail(err, SC_EINVAL,
			       "missing -o TRAIN.onnx (where to write the training graph)");
	train_graph_options_init(o);
	train_graph_parse_loss(o, loss);
	optim_kind kind = OPTIM_SGD;
	const char *opt = run_keys_value(&a->keys, "optimizer", NULL);
	if (opt && (rc = optim_kind_parse(opt, &kind, err))) {
		sc_error_prefix(err, "--optimizer: ");
		return rc;
	}
	optim_config_init(&o->optim, kind);
	/* numbers were checked (finite, >= 0) when they were set */
	if (run_keys_has(&a->keys, "lr"))
		o->optim.lr = run_job_dbl(a, "lr");
	if (run_keys_has(&a->keys, "momentum"))
		o->optim.momentum = run_job_dbl(a, "momentum");
	if (run_keys_has(&a->keys, "weight-decay"))
		o->optim.weight_decay = run_job_dbl(a, "weight-decay");
	if (run_keys_has(&a->keys, "temperature"))
		o->temperature = run_job_dbl(a, "temperature");
	if (run_keys_has(&a->keys, "temperature") && !(o->temperature > 0))
		return sc_fail(err, SC_EINVAL, "--temperature must be > 0");
	if (run_keys_has(&a->keys, "temperature") && o->loss != TRAIN_LOSS_SUPCON)
		return sc_fail(err, SC_EINVAL,
			       "--temperature applies to --loss supcon only");
	if (run_keys_has(&a->keys, "momentum") && kind != OPTIM_SGD && kind != OPTIM_RMSPROP)
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
	run_printf("wrote %s\n", out_path);
	run_printf("loss: %s\n", g->values[g->outputs[0]].name);
	run_printf("optimizer: %s (lr %g), %d update node%s, %d state tensor%s per parameter\n",
	       optim_kind_name(o->optim.kind), o->optim.lr, info->n_groups,
	       info->n_groups == 1 ? "" : "s", info->n_states,
	       info->n_states == 1 ? "" : "s");
	run_printf("parameters: %d (%lld elements)", info->n_params,
	       (long long)info->n_param_elements);
	if (info->n_skipped)
		run_printf(", %d float initializer%s without a gradient left as is",
		       info->n_skipped, info->n_skipped == 1 ? "" : "s");
	run_printf("\n");
	run_printf("inputs: %d, outputs: %d, nodes: %d\n", g->n_inputs, g->n_outputs,
	       g->n_nodes);
}

static int grad_do(const char *model_path, const char *out_path,
		   const train_graph_options *o, sc_error *err)
{
	graph_model *m = NULL;
	int rc = run_load_model(model_path, 0, &m, err);
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

int run_job_grad(run_job *j, sc_error *err)
{
	const char *model_path = NULL, *out_path = NULL;
	train_graph_options o;
	int rc = parse_grad_args(j, &model_path, &out_path, &o, err);
	if (!rc)
		rc = grad_do(model_path, out_path, &o, err);
	if (!rc)
		rc = run_job_text(j, "path", out_path, err);
	return rc;
}
