/* optim.h: optimizers and learning-rate schedules, with torch.optim's
 * semantics.
 *
 * An optim updates a fixed list of float32 parameter tensors in place from
 * their gradients, one step at a time:
 *
 *   SGD      momentum (buffer = the first gradient, then
 *            momentum * buf + (1 - dampening) * g), Nesterov, weight decay
 *            added to the gradient;
 *   Adam     bias-corrected moments, eps added after the bias-corrected
 *            square root, weight decay added to the gradient (L2),
 *            optional AMSGrad;
 *   AdamW    Adam with decoupled decay: p *= 1 - lr * weight_decay first;
 *   RMSprop  square average with smoothing alpha; centered subtracts the
 *            squared gradient average before the root; with momentum the
 *            buffer accumulates g / (sqrt(...) + eps);
 *   Adagrad  lr / (1 + (step - 1) * lr_decay), sum of squares starting at
 *            initial_accumulator_value.
 *
 * The arithmetic follows torch.optim's single-tensor code in float32, in
 * the same order, so the numbers agree with PyTorch to a few ulps
 * (tests/test_optim.c checks every parameter after every step against
 * golden data from tests/make_golden_optim.py).
 *
 * Parameters belong to groups; a group scales the scheduled learning rate
 * and has its own weight decay (e.g. none for BatchNorm and biases, see
 * optim_param_no_decay).  The optimizer owns its state (moment buffers,
 * per-parameter step counts) in one allocation made by optim_create and
 * borrows the parameter tensors, which must stay alive, keep their element
 * count, and stay float32.  optim_step never allocates.
 *
 * A schedule (optim_schedule) maps a step counter t = 0, 1, ... to a
 * learning rate, as torch.optim.lr_scheduler would after t calls of
 * scheduler.step(): constant, step, multistep, exponential and cosine
 * annealing (with eta_min), optionally combined with a linear warm-up
 * (LinearLR), either chained (the two factors multiply, ChainedScheduler)
 * or sequential (the main schedule starts when the warm-up ends,
 * SequentialLR).  Whether t counts epochs or iterations is the caller's
 * choice.
 *
 * In a training graph, one node per parameter group performs a step
 * (ops/optim_ops.c); optim_graph_op_for() says which op, with which
 * attributes and state tensors, reproduces each optimizer:
 *   SGD      ai.onnx.preview.training Momentum (alpha = momentum,
 *            beta = 1 - dampening, norm_coefficient = weight_decay);
 *   Adagrad  ai.onnx.preview.training Adagrad;
 *   Adam     ai.supcon AdamW with weight_decay 0 and the decay as its
 *            norm_coefficient (ONNX's own Adam is not torch's: its eps
 *            is not scaled by the bias correction, and it skips the
 *            correction at T = 0);
 *   AdamW    ai.supcon AdamW;
 *   RMSprop  ai.supcon RMSprop.
 *
 * Errors come back as a status with one line in sc_error naming the
 * parameter or the option. */
#ifndef SUPCON_OPTIM_H
#define SUPCON_OPTIM_H

#include <stdint.h>

#include "graph.h"
#include "status.h"
#include "tensor.h"

typedef enum optim_kind {
	OPTIM_SGD,
	OPTIM_ADAM,
	OPTIM_ADAMW,
	OPTIM_RMSPROP,
	OPTIM_ADAGRAD,
} optim_kind;

/* Hyper-parameters, named and defaulted as in torch.optim.  Fields that
 * the kind does not use are ignored. */
typedef struct optim_config {
	optim_kind kind;
	double lr;            /* the base lr; schedules start from it */
	double weight_decay;  /* default for groups that do not set their own */
	double momentum;      /* SGD, RMSprop */
	double dampening;     /* SGD */
	int nesterov;         /* SGD: needs momentum > 0 and dampening 0 */
	double beta1, beta2;  /* Adam, AdamW */
	double eps;           /* Adam, AdamW, RMSprop, Adagrad */
	int amsgrad;          /* Adam, AdamW */
	double alpha;         /* RMSprop smoothing constant */
	int centered;         /* RMSprop */
	double lr_decay;      /* Adagrad */
	double initial_accumulator_value;  /* Adagrad */
} optim_config;

/* Fills c with torch.optim's defaults for kind: lr 1e-3 for Adam and AdamW,
 * 1e-2 for RMSprop and Adagrad, and 0.1 for SGD (which torch leaves to
 * the caller); weight decay 0 except 1e-2 for AdamW; betas 0.9, 0.999;
 * eps 1e-8 (1e-10 for Adagrad); alpha 0.99. */
void optim_config_init(optim_config *c, optim_kind kind);

/* Refuses what torch refuses: negative lr, momentum, eps, weight decay,
 * lr_decay or initial accumulator; betas outside [0, 1); alpha < 0;
 * Nesterov without momentum or with dampening.  SC_EINVAL naming the
 * field. */
int optim_config_check(const optim_config *c, sc_error *err);

/* "sgd", "adam", "adamw", "rmsprop", "adagrad" (case-insensitive).
 * SC_EINVAL listing the choices for anything else. */
int optim_kind_parse(const char *name, optim_kind *kind, sc_error *err);
const char *optim_kind_name(optim_kind kind);

/* --- parameters and groups ---------------------------------------------- */

typedef struct optim_group {
	double lr_scale;      /* this group's lr = scheduled lr * lr_scale */
	double weight_decay;
} optim_group;

typedef struct optim_param {
	const char *name;     /* copied by optim_create; used in messages */
	sc_tensor *value;     /* float32, borrowed, updated in place */
	int group;            /* index into the groups */
} optim_param;

/* torchvision's rule for which parameters get no weight decay: tensors of
 * rank 0 or 1 (BatchNorm and LayerNorm scales and shifts, biases), names
 * ending in "bias", and names with a component that starts with "bn" or
 * contains "norm" (case-insensitive).  Returns 1 for "no decay". */
int optim_param_no_decay(const char *name, int rank);

/* Chooses a group for a parameter; returns the group index (or a negative
 * value to refuse the parameter).  ctx is passed through. */
typedef int (*optim_group_rule)(const char *name, const sc_tensor *value,
				void *ctx);

/* The rule above as an optim_group_rule: group 0 decays, group 1 does not. */
int optim_rule_decay_split(const char *name, const sc_tensor *value,
			   void *ctx);

/* Sets params[i].group = rule(params[i].name, params[i].value, ctx) for
 * every parameter; fails with SC_EINVAL naming the parameter when the
 * rule refuses one (returns < 0). */
int optim_assign_groups(int n, optim_param *params, optim_group_rule rule,
			void *ctx, sc_error *err);

/* --- the optimizer ------------------------------------------------------- */

typedef struct optim optim;

/* Builds an optimizer over n_params parameters split into n_groups groups
 * (groups NULL: one group with lr_scale 1 and cfg->weight_decay).
 * Copies cfg, groups and the names; borrows the tensors.  Zeroes the state
 * (Adagrad's sums start at initial_accumulator_value).  SC_EINVAL for a
 * bad config, a group index out of range, a non-float32 parameter, or the
 * same tensor listed twice; SC_ENOMEM when out of memory. */
int optim_create(const optim_config *cfg, int n_groups,
		 const optim_group *groups, int n_params,
		 const optim_param *params, optim **out, sc_error *err);
void optim_free(optim *o);

/* One update of every parameter with lr the scheduled learning rate of
 * this step (each group scales it).  grads[i] is params[i]'s gradient:
 * float32 with the parameter's element count, or NULL to leave that
 * parameter and its state untouched, as torch does for a parameter whose
 * .grad is None.  Everything is checked before anything is written, so
 * a failed step changes nothing. */
int optim_step(optim *o, double lr, const sc_tensor *const *grads,
	       sc_error *err);

const optim_config *optim_get_config(const optim *o);
int optim_param_count(const optim *o);

/* --- as a training-graph op --------------------------------------------- */

#define OPTIM_MAX_STATES 3
#define OPTIM_GRAPH_MAX_ATTRS 6

typedef struct optim_graph_attr {
	const char *name;
	int type;             /* ATTR_FLOAT, ATTR_INT or ATTR_STRING (graph.h) */
	float f;
	int64_t i;
	const char *s;
} optim_graph_attr;

/* A node that updates the n parameters of one group takes inputs
 *   R = scheduled lr * the group's lr_scale (float scalar),
 *   T = updates done before this one (int64 scalar, 0 on the first),
 *   X1..Xn, G1..Gn, then for each state s in order n tensors shaped like
 *   the parameters, which start filled with state_init[s];
 * and outputs X1'..Xn', then the new states in the same order.  All
 * strings are static. */
typedef struct optim_graph_op {
	const char *domain;
	const char *op_type;
	int n_attrs;
	optim_graph_attr attrs[OPTIM_GRAPH_MAX_ATTRS];
	int n_states;
	const char *state_names[OPTIM_MAX_STATES];  /* torch's names */
	float state_init[OPTIM_MAX_STATES];
} optim_graph_op;

/* Fills op for one step of c on a group with weight decay weight_decay.
 * Fails with SC_EINVAL for a config optim_config_check refuses. */
int optim_graph_op_for(const optim_config *c, double weight_decay,
		       optim_graph_op *op, sc_error *err);

/* --- state, for checkpoints ---------------------------------------------- */

/* Number of state buffers per parameter for this optimizer's config (0 for
 * SGD without momentum ... 3 for centered RMSprop with momentum), and the
 * name of buffer `slot`, as torch's state_dict calls it: "momentum_buffer",
 * "exp_avg", "exp_avg_sq", "max_exp_avg_sq", "square_avg", "grad_avg",
 * "sum".  NULL for a slot out of range. */
int optim_state_count(const optim *o);
const char *optim_state_name(const optim *o, int slot);

/* Buffer `slot` of parameter `param`: numel floats shaped like the
 * parameter, owned by the optimizer, writable (to restore a checkpoint).
 * NULL when out of range. */
float *optim_state(optim *o, int param, int slot);

/* Steps taken by parameter `param` (torch's state["step"]; for SGD, 0 means
 * the momentum buffer does not exist yet).  set fails with SC_EINVAL for a
 * negative count or an index out of range. */
int64_t optim_param_steps(const optim *o, int param);
int optim_set_param_steps(optim *o, int param, int64_t steps, sc_error *err);

/* --- one tensor at a time --------------------------------------------------
 * The update rules on n contiguous elements, for callers that keep their
 * own state (ops/optim_ops.c's ai.supcon AdamW and RMSprop kernels).
 * x, g and the state buffers are n elements each and must not overlap. */

/* Adam / AdamW.  step is 1 on the first update (bias correction uses it).
 * l2 is added to the gradient as l2 * x (torch Adam's weight_decay);
 * decoupled shrinks x by lr * decoupled first (AdamW's).  vmax is NULL
 * unless amsgrad. */
typedef struct optim_adam_args {
	double lr, beta1, beta2, eps, l2, decoupled;
	int64_t step;
} optim_adam_args;

void optim_adam_f32(const optim_adam_args *a, int64_t n, float *x,
		    const float *g, float *m, float *v, float *vmax);
void optim_adam_f64(const optim_adam_args *a, int64_t n, double *x,
		    const double *g, double *m, double *v, double *vmax);

/* RMSprop.  buf is NULL unless momentum > 0; gavg is NULL unless
 * centered.  l2 is torch's weight_decay (added to the gradient). */
typedef struct optim_rmsprop_args {
	double lr, alpha, eps, l2, momentum;
} optim_rmsprop_args;

void optim_rmsprop_f32(const optim_rmsprop_args *a, int64_t n, float *x,
		       const float *g, float *sq, float *buf, float *gavg);
void optim_rmsprop_f64(const optim_rmsprop_args *a, int64_t n, double *x,
		       const double *g, double *sq, double *buf,
		       double *gavg);

/* --- learning-rate schedules ---------------------------------------------- */

typedef enum optim_schedule_kind {
	OPTIM_LR_CONSTANT,
	OPTIM_LR_STEP,         /* lr * gamma^(t / step_size) */
	OPTIM_LR_MULTISTEP,    /* lr * gamma^(milestones passed) */
	OPTIM_LR_EXPONENTIAL,  /* lr * gamma^t */
	OPTIM_LR_COSINE,       /* eta_min + (lr - eta_min)(1 + cos(pi t / t_max)) / 2 */
} optim_schedule_kind;

typedef enum optim_warmup_mode {
	OPTIM_WARMUP_CHAINED,     /* factor(t) * main(t) */
	OPTIM_WARMUP_SEQUENTIAL,  /* lr * factor(t) for t < steps, then main(t - steps) */
} optim_warmup_mode;

#define OPTIM_MAX_MILESTONES 32

typedef struct optim_schedule {
	optim_schedule_kind kind;
	double base_lr;
	double gamma;          /* step, multistep, exponential */
	int64_t step_size;     /* step */
	int n_milestones;      /* multistep: strictly increasing, > 0 */
	int64_t milestones[OPTIM_MAX_MILESTONES];
	int64_t t_max;         /* cosine: half period, > 0 */
	double eta_min;        /* cosine */
	/* Linear warm-up (torch's LinearLR with end_factor 1): the factor goes
	 * from warmup_start to 1 over warmup_steps steps; 0 steps: none. */
	int64_t warmup_steps;
	double warmup_start;   /* in (0, 1] as torch requires */
	optim_warmup_mode warmup_mode;
} optim_schedule;

/* A constant schedule at base_lr with no warm-up. */
void optim_schedule_init(optim_schedule *s, double base_lr);

/* SC_EINVAL naming the field for values torch refuses or that make no
 * sense: base_lr < 0, step_size or t_max < 1, milestones not increasing,
 * gamma < 0, warmup_start outside (0, 1], negative warm-up. */
int optim_schedule_check(const optim_schedule *s, sc_error *err);

/* The learning rate at step t >= 0 (t < 0 is treated as 0).  Past t_max
 * the cosine keeps going (back up to lr at 2 t_max), as torch's does. */
double optim_schedule_lr(const optim_schedule *s, int64_t t);

/* Parses a schedule spec: one or two terms joined by '+':
 *   constant
 *   step:STEP_SIZE[:GAMMA]          GAMMA defaults to 0.1
 *   multistep:M1,M2,...[:GAMMA]     GAMMA defaults to 0.1
 *   exp:GAMMA
 *   cosine:T_MAX[:ETA_MIN]          ETA_MIN defaults to 0
 *   warmup:STEPS[:START[:chain|seq]]  START defaults to 1/3 (LinearLR's)
 * e.g. "warmup:5:0.01:seq+cosine:95".  At most one warm-up term and one
 * other term; a lone warm-up is a warm-up to a constant.  SC_EINVAL with
 * the offending term on a bad spec. */
int optim_schedule_parse(const char *spec, double base_lr, optim_schedule *s,
			 sc_error *err);

#endif
