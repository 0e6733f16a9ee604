/* train_graph.h: turns a model into its training graph, the file that
 * `supcon grad` writes: forward, loss, backward and one optimizer step, all
 * as ONNX nodes, so that one run of the graph is one training step.
 *
 * train_graph_build() extends the model in place:
 *
 *   loss     TRAIN_LOSS_OUTPUT: a graph output the model already has, which
 *            must be a floating-point scalar;
 *            TRAIN_LOSS_CE: SoftmaxCrossEntropyLoss(reduction "mean") of the
 *            first output (logits [N, K]) against a new input `labels`
 *            (int64 [N]); needs a default-domain opset >= 12;
 *            TRAIN_LOSS_SUPCON: ai.supcon SupConLoss(temperature) of the
 *            first output (features [M, D]) against `labels` (int64 [M]).
 *            TRAIN_LOSS_SEED: ReduceSum(first output * seed), with seed a
 *            new float input TRAIN_SEED_INPUT shaped like the first
 *            output.  Its gradient with respect to the first output is
 *            seed itself, so a caller that fills seed with d L / d
 *            output of a loss computed elsewhere gets the parameter
 *            gradients of L: data parallelism computes SupCon over every
 *            rank's features that way (trainer.h).
 *            The loss value is called `loss` for the built-in losses.
 *   params   every float32/float64 initializer except the running mean and
 *            variance of BatchNormalization (its inputs 3 and 4).  Those the
 *            loss does not depend on through a differentiable path (shape or
 *            integer paths only, or unused) are left alone.
 *   update   one optimizer node (optim_graph_op_for) per parameter group:
 *            parameters are grouped by dtype and by weight decay, which is
 *            0 for those optim_param_no_decay() picks (rank <= 1, biases,
 *            norms) and the config's weight_decay for the rest.
 *
 * Inputs of the training graph, after the model's own:
 *   labels   int64 [N]    (CE and SupCon only)
 *   lr       float []     learning rate; initializer = the config's lr
 *   T        int64 []     updates done before this one; initializer 0
 *   <param>  each parameter, still an initializer, now also an input so
 *            that a caller can feed the updated value back
 *   <param>.<state>  each optimizer state (torch's names: momentum_buffer,
 *            exp_avg, exp_avg_sq, max_exp_avg_sq, square_avg, grad_avg,
 *            sum), shaped like its parameter; an initializer holding the
 *            state's start value (zeros, or Adagrad's initial accumulator)
 *            and an input, to be fed back like the parameters.
 * Outputs, and nothing else (the model's own outputs are dropped):
 *   the loss, then <param>.new for every parameter in initializer order,
 *   then <param>.<state>.new for every parameter in the same order and,
 *   within one parameter, its states in the op's order, then the updated
 *   BatchNormalization running statistics (see train_graph_bn_training).
 * A caller steps by feeding lr, T = 0, 1, 2, ..., the data, and each
 * output `X.new` back as input `X`.
 *
 * Imports: ai.onnx.preview.training 1 (Momentum for SGD, Adagrad) or
 * ai.supcon 1 (AdamW for Adam and AdamW, RMSprop; the backward helpers and
 * SupConLoss).  The IR version is raised to 7 if lower, the first that
 * knows ai.onnx.preview.training.
 *
 * Errors (one line in sc_error): SC_EINVAL when the loss output is not an
 * output of the model or not a scalar, when the first output does not
 * have the shape the loss needs, when no parameter reaches the loss, when
 * a name the training graph adds already exists in the model, or for a
 * bad optimizer config; SC_EUNSUPPORTED for CE below opset 12, for ops
 * on the path without a gradient rule (autodiff_build()'s message, naming
 * them all), or for a float16 parameter.  On failure the
 * model is half-built and must be discarded. */
#ifndef SUPCON_TRAIN_GRAPH_H
#define SUPCON_TRAIN_GRAPH_H

#include "graph.h"
#include "optim.h"
#include "status.h"

typedef enum train_loss_kind {
	TRAIN_LOSS_OUTPUT,   /* differentiate an existing scalar output */
	TRAIN_LOSS_CE,       /* SoftmaxCrossEntropyLoss on the first output */
	TRAIN_LOSS_SUPCON,   /* ai.supcon SupConLoss on the first output */
	TRAIN_LOSS_SEED,     /* sum(first output * seed): see above */
} train_loss_kind;

#define TRAIN_SEED_INPUT "feature_grad"

typedef struct train_graph_options {
	train_loss_kind loss;
	const char *loss_output;   /* TRAIN_LOSS_OUTPUT: the output's name */
	double temperature;        /* TRAIN_LOSS_SUPCON; <= 0 means 0.1 */
	double base_temperature;   /* TRAIN_LOSS_SUPCON; <= 0 means temperature */
	int bn_frozen;             /* 1: BatchNormalization stays as the model
				    * has it (inference: running statistics);
				    * 0 (default): training mode, see below */
	optim_config optim;        /* the step; its lr is lr's initial value */
} train_graph_options;

/* What train_graph_build() made, for a summary. */
typedef struct train_graph_info {
	int n_params;             /* parameters that get an update */
	int64_t n_param_elements;
	int n_skipped;            /* float initializers with no gradient */
	int n_states;             /* state tensors per parameter */
	int n_groups;             /* optimizer nodes */
} train_graph_info;

/* SupCon loss at temperature 0.1, and optim_config_init(SGD). */
void train_graph_options_init(train_graph_options *o);

/* "supcon", "ce", or else TRAIN_LOSS_OUTPUT with loss_output = spec. */
void train_graph_parse_loss(train_graph_options *o, const char *spec);

/* BatchNormalization in training mode.  Unless o->bn_frozen, every
 * BatchNormalization of the main graph is switched to training mode
 * (training_mode=1 from opset 14; below 14, asking for the running-mean
 * and running-variance outputs is what selects training) and its updated
 * running statistics, ONNX's running * momentum + batch * (1 - momentum)
 * with the population variance, become values "<running_mean>.new" and
 * "<running_var>.new".  train_graph_build() lists them as outputs after
 * the optimizer states, in node order, mean before variance.  Opset 6's
 * is_test form is refused (SC_EUNSUPPORTED). */
typedef struct train_bn_stat {
	int running;    /* the initializer holding the running statistic */
	int updated;    /* its value after this step */
} train_bn_stat;

/* Does the switch on m and lists the statistics (*stats is malloc'ed, the
 * caller frees it; *n may be 0). */
int train_graph_bn_training(graph_model *m, train_bn_stat **stats, int *n,
			    sc_error *err);

/* Appends the loss node of o (CE or SupCon: a new int64 input `labels`
 * and a scalar `loss`; OUTPUT: checks that the output is a scalar) and
 * returns its value in *loss. */
int train_graph_add_loss(graph_model *m, const train_graph_options *o,
			 int *loss, sc_error *err);

/* The float initializers that can be parameters: float32 or float64 and
 * not a BatchNormalization running statistic.  names[] point into g;
 * both arrays need room for g->n_inits entries.  SC_EUNSUPPORTED for a
 * float16 or bfloat16 initializer. */
int train_graph_candidates(const graph *g, const char **names, int *values,
			   int *count, sc_error *err);

/* Extends m (see above).  info may be NULL. */
int train_graph_build(graph_model *m, const train_graph_options *o,
		      train_graph_info *info, sc_error *err);

#endif
