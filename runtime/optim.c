/* optim.c: torch.optim's optimizers and LR schedules; see optim.h.
 *
 * Each update is written as torch's single-tensor implementation computes
 * it: one float32 operation per tensor op, scalar factors converted to
 * float the way ATen converts a Python number for a float tensor, and
 * scalar-only arithmetic (bias corrections, step sizes) in double as
 * Python does it.  Keeping that order is what makes the golden comparison
 * hold to a few ulps instead of "roughly". */
#include "optim.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Elementwise loops are memory-bound; below this many elements a parallel
 * region costs more than it saves. */
#define OPTIM_PARALLEL_MIN 32768

/* State buffers start on 64-byte boundaries (16 floats) so that every
 * tensor's loop is aligned for the vector units. */
#define OPTIM_ALIGN_FLOATS 16

enum optim_slot_kind {
	SLOT_MOMENTUM,
	SLOT_EXP_AVG,
	SLOT_EXP_AVG_SQ,
	SLOT_MAX_EXP_AVG_SQ,
	SLOT_SQUARE_AVG,
	SLOT_GRAD_AVG,
	SLOT_SUM,
};

static const char *const slot_names[] = {
	[SLOT_MOMENTUM] = "momentum_buffer",
	[SLOT_EXP_AVG] = "exp_avg",
	[SLOT_EXP_AVG_SQ] = "exp_avg_sq",
	[SLOT_MAX_EXP_AVG_SQ] = "max_exp_avg_sq",
	[SLOT_SQUARE_AVG] = "square_avg",
	[SLOT_GRAD_AVG] = "grad_avg",
	[SLOT_SUM] = "sum",
};

typedef struct optim_entry {
	char *name;
	sc_tensor *value;
	int group;
	int64_t numel;
	int64_t steps;
	float *state[OPTIM_MAX_STATES];
} optim_entry;

struct optim {
	optim_config cfg;
	int n_groups;
	optim_group *groups;
	int n_params;
	optim_entry *params;
	int n_slots;
	int slots[OPTIM_MAX_STATES];   /* enum optim_slot_kind, in state order */
	float *block;                 /* every state buffer */
};

/* --- configuration ----------------------------------------------------------- */

static const char *const kind_names[] = {
	[OPTIM_SGD] = "sgd",
	[OPTIM_ADAM] = "adam",
	[OPTIM_ADAMW] = "adamw",
	[OPTIM_RMSPROP] = "rmsprop",
	[OPTIM_ADAGRAD] = "adagrad",
};

#define N_KINDS ((int)(sizeof kind_names / sizeof kind_names[0]))

void optim_config_init(optim_config *c, optim_kind kind)
{
	memset(c, 0, sizeof *c);
	c->kind = kind;
	c->beta1 = 0.9;
	c->beta2 = 0.999;
	c->eps = 1e-8;
	c->alpha = 0.99;
	switch (kind) {
	case OPTIM_SGD:
		c->lr = 0.1;
		break;
	case OPTIM_ADAM:
		c->lr = 1e-3;
		break;
	case OPTIM_ADAMW:
		c->lr = 1e-3;
		c->weight_decay = 1e-2;
		break;
	case OPTIM_RMSPROP:
		c->lr = 1e-2;
		break;
	case OPTIM_ADAGRAD:
		c->lr = 1e-2;
		c->eps = 1e-10;
		break;
	}
}

const char *optim_kind_name(optim_kind kind)
{
	return (int)kind >= 0 && (int)kind < N_KINDS ? kind_names[kind] : "?";
}

int optim_kind_parse(const char *name, optim_kind *kind, sc_error *err)
{
	for (int k = 0; name && k < N_KINDS; k++)
		if (strcasecmp(name, kind_names[k]) == 0) {
			*kind = (optim_kind)k;
			return SC_OK;
		}
	return sc_fail(err, SC_EINVAL,
		       "unknown optimizer '%s': expected sgd, adam, adamw, rmsprop or adagrad",
		       name ? name : "");
}

/* NaN fails every comparison, so each test is written to catch it too. */
static int check_nonneg(double v, const char *what, sc_error *err)
{
	if (!(v >= 0) || isinf(v))
		return sc_fail(err, SC_EINVAL, "optimizer: %s is %g, expected a finite value >= 0",
			       what, v);
	return SC_OK;
}

int optim_config_check(const optim_config *c, sc_error *err)
{
	int rc;
	if ((int)c->kind < 0 || (int)c->kind >= N_KINDS)
		return sc_fail(err, SC_EINVAL, "optimizer: unknown kind %d", (int)c->kind);
	if ((rc = check_nonneg(c->lr, "lr", err)) ||
	    (rc = check_nonneg(c->weight_decay, "weight_decay", err)))
		return rc;
	switch (c->kind) {
	case OPTIM_SGD:
		if ((rc = check_nonneg(c->momentum, "momentum", err)) ||
		    (rc = check_nonneg(c->dampening, "dampening", err)))
			return rc;
		if (c->nesterov && (c->momentum <= 0 || c->dampening != 0))
			return sc_fail(err, SC_EINVAL,
				       "optimizer: nesterov needs momentum > 0 and dampening 0 (got momentum %g, dampening %g)",
				       c->momentum, c->dampening);
		break;
	case OPTIM_ADAM:
	case OPTIM_ADAMW:
		if (!(c->beta1 >= 0 && c->beta1 < 1))
			return sc_fail(err, SC_EINVAL,
				       "optimizer: beta1 is %g, expected 0 <= beta1 < 1", c->beta1);
		if (!(c->beta2 >= 0 && c->beta2 < 1))
			return sc_fail(err, SC_EINVAL,
				       "optimizer: beta2 is %g, expected 0 <= beta2 < 1", c->beta2);
		return check_nonneg(c->eps, "eps", err);
	case OPTIM_RMSPROP:
		if ((rc = check_nonneg(c->alpha, "alpha", err)) ||
		    (rc = check_nonneg(c->momentum, "momentum", err)))
			return rc;
		return check_nonneg(c->eps, "eps", err);
	case OPTIM_ADAGRAD:
		if ((rc = check_nonneg(c->lr_decay, "lr_decay", err)) ||
		    (rc = check_nonneg(c->initial_accumulator_value,
				       "initial_accumulator_value", err)))
			return rc;
		return check_nonneg(c->eps, "eps", err);
	}
	return SC_OK;
}

/* --- groups -------------------------------------------------------------------- */

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* Whether one dot-separated component [p, end) names a norm layer. */
static int norm_component(const char *p, const char *end)
{
	if (end - p >= 2 && tolower((unsigned char)p[0]) == 'b' &&
	    tolower((unsigned char)p[1]) == 'n')
		return 1;
	for (const char *q = p; end - q >= 4; q++)
		if (strncasecmp(q, "norm", 4) == 0)
			return 1;
	return 0;
}

int optim_param_no_decay(const char *name, int rank)
{
	if (rank <= 1)
		return 1;
	if (!name)
		return 0;
	if (ends_with(name, "bias"))
		return 1;
	const char *p = name;
	for (;;) {
		const char *end = strchr(p, '.');
		if (!end)
			end = p + strlen(p);
		if (norm_component(p, end))
			return 1;
		if (!*end)
			return 0;
		p = end + 1;
	}
}

int optim_rule_decay_split(const char *name, const sc_tensor *value,
			   void *ctx)
{
	(void)ctx;
	return optim_param_no_decay(name, value ? value->rank : -1);
}

int optim_assign_groups(int n, optim_param *params, optim_group_rule rule,
			void *ctx, sc_error *err)
{
	for (int i = 0; i < n; i++) {
		int gi = rule(params[i].name, params[i].value, ctx);
		if (gi < 0)
			return sc_fail(err, SC_EINVAL,
				       "parameter '%s': no parameter group takes it",
				       params[i].name ? params[i].name : "?");
		params[i].group = gi;
	}
	return SC_OK;
}

/* --- the optimizer ------------------------------------------------------------- */

static void choose_slots(optim *o)
{
	const optim_config *c = &o->cfg;
	int *s = o->slots, n = 0;
	switch (c->kind) {
	case OPTIM_SGD:
		if (c->momentum != 0)
			s[n++] = SLOT_MOMENTUM;
		break;
	case OPTIM_ADAM:
	case OPTIM_ADAMW:
		s[n++] = SLOT_EXP_AVG;
		s[n++] = SLOT_EXP_AVG_SQ;
		if (c->amsgrad)
			s[n++] = SLOT_MAX_EXP_AVG_SQ;
		break;
	case OPTIM_RMSPROP:
		s[n++] = SLOT_SQUARE_AVG;
		if (c->momentum > 0)
			s[n++] = SLOT_MOMENTUM;
		if (c->centered)
			s[n++] = SLOT_GRAD_AVG;
		break;
	case OPTIM_ADAGRAD:
		s[n++] = SLOT_SUM;
		break;
	}
	o->n_slots = n;
}

static int64_t round_up(int64_t n)
{
	return (n + OPTIM_ALIGN_FLOATS - 1) / OPTIM_ALIGN_FLOATS * OPTIM_ALIGN_FLOATS;
}

static int check_param(const optim_param *p, int i, int n_groups, sc_error *err)
{
	const char *name = p->name ? p->name : "?";
	if (!p->value)
		return sc_fail(err, SC_EINVAL, "parameter %d ('%s') has no tensor", i, name);
	if (p->value->dtype != SC_FLOAT)
		return sc_fail(err, SC_EINVAL, "parameter '%s' is %s, expected float32",
			       name, tensor_dtype_name(p->value->dtype));
	if (p->value->numel > 0 && !p->value->data)
		return sc_fail(err, SC_EINVAL, "parameter '%s' has no data", name);
	if (p->group < 0 || p->group >= n_groups)
		return sc_fail(err, SC_EINVAL,
			       "parameter '%s': group %d does not exist (%d groups)",
			       name, p->group, n_groups);
	return SC_OK;
}

/* Lays out every state buffer in one block and sets the initial values. */
static int alloc_state(optim *o, sc_error *err)
{
	int64_t total = 0;
	for (int i = 0; i < o->n_params; i++) {
		int64_t per = round_up(o->params[i].numel);
		if (per > (INT64_MAX / 4 - total) / (o->n_slots ? o->n_slots : 1))
			return sc_fail(err, SC_EINVAL, "optimizer: state size overflows");
		total += per * o->n_slots;
	}
	if (total == 0)
		return SC_OK;
	if ((uint64_t)total > SIZE_MAX / sizeof(float))
		return sc_fail(err, SC_ENOMEM, "optimizer: state too large");
	void *mem = NULL;
	if (posix_memalign(&mem, OPTIM_ALIGN_FLOATS * sizeof(float),
			   (size_t)total * sizeof(float)))
		return sc_fail(err, SC_ENOMEM,
			       "optimizer: out of memory for %lld state values",
			       (long long)total);
	o->block = mem;
	float *p = o->block;
	for (int i = 0; i < o->n_params; i++) {
		optim_entry *e = &o->params[i];
		for (int s = 0; s < o->n_slots; s++) {
			e->state[s] = p;
			float init = o->slots[s] == SLOT_SUM ?
				(float)o->cfg.initial_accumulator_value : 0.0f;
			for (int64_t j = 0; j < e->numel; j++)
				p[j] = init;
			p += round_up(e->numel);
		}
	}
	return SC_OK;
}

int optim_create(const optim_config *cfg, int n_groups,
		 const optim_group *groups, int n_params,
		 const optim_param *params, optim **out, sc_error *err)
{
	*out = NULL;
	int rc = optim_config_check(cfg, err);
	if (rc)
		return rc;
	optim_group one = {1.0, cfg->weight_decay};
	if (!groups) {
		groups = &one;
		n_groups = 1;
	}
	if (n_groups < 1 || n_params < 0)
		return sc_fail(err, SC_EINVAL, "optimizer: %d groups and %d parameters",
			       n_groups, n_params);
	for (int gi = 0; gi < n_groups; gi++) {
		const optim_group *g = &groups[gi];
		if (!(g->lr_scale >= 0) || isinf(g->lr_scale))
			return sc_fail(err, SC_EINVAL,
				       "optimizer: group %d has lr_scale %g, expected a finite value >= 0",
				       gi, g->lr_scale);
		if (!(g->weight_decay >= 0) || isinf(g->weight_decay))
			return sc_fail(err, SC_EINVAL,
				       "optimizer: group %d has weight_decay %g, expected a finite value >= 0",
				       gi, g->weight_decay);
	}
	for (int i = 0; i < n_params; i++) {
		if ((rc = check_param(&params[i], i, n_groups, err)))
			return rc;
		for (int j = 0; j < i; j++)
			if (params[j].value == params[i].value ||
			    (params[i].value->numel > 0 &&
			     params[j].value->data == params[i].value->data))
				return sc_fail(err, SC_EINVAL,
					       "parameter '%s' is listed twice (also as '%s')",
					       params[i].name ? params[i].name : "?",
					       params[j].name ? params[j].name : "?");
	}

	optim *o = calloc(1, sizeof *o);
	if (!o)
		return sc_fail(err, SC_ENOMEM, "optimizer: out of memory");
	o->cfg = *cfg;
	o->n_groups = n_groups;
	o->groups = malloc((size_t)n_groups * sizeof *o->groups);
	o->params = calloc((size_t)(n_params ? n_params : 1), sizeof *o->params);
	if (!o->groups || !o->params) {
		optim_free(o);
		return sc_fail(err, SC_ENOMEM, "optimizer: out of memory");
	}
	memcpy(o->groups, groups, (size_t)n_groups * sizeof *o->groups);
	o->n_params = n_params;
	for (int i = 0; i < n_params; i++) {
		optim_entry *e = &o->params[i];
		e->name = strdup(params[i].name ? params[i].name : "?");
		if (!e->name) {
			optim_free(o);
			return sc_fail(err, SC_ENOMEM, "optimizer: out of memory");
		}
		e->value = params[i].value;
		e->group = params[i].group;
		e->numel = params[i].value->numel;
	}
	choose_slots(o);
	if ((rc = alloc_state(o, err))) {
		optim_free(o);
		return rc;
	}
	*out = o;
	return SC_OK;
}

void optim_free(optim *o)
{
	if (!o)
		return;
	for (int i = 0; i < o->n_params; i++)
		free(o->params[i].name);
	free(o->params);
	free(o->groups);
	free(o->block);
	free(o);
}

const optim_config *optim_get_config(const optim *o)
{
	return &o->cfg;
}

int optim_param_count(const optim *o)
{
	return o->n_params;
}

int optim_state_count(const optim *o)
{
	return o->n_slots;
}

const char *optim_state_name(const optim *o, int slot)
{
	if (slot < 0 || slot >= o->n_slots)
		return NULL;
	return slot_names[o->slots[slot]];
}

float *optim_state(optim *o, int param, int slot)
{
	if (param < 0 || param >= o->n_params || slot < 0 || slot >= o->n_slots)
		return NULL;
	return o->params[param].state[slot];
}

int64_t optim_param_steps(const optim *o, int param)
{
	if (param < 0 || param >= o->n_params)
		return 0;
	return o->params[param].steps;
}

int optim_set_param_steps(optim *o, int param, int64_t steps, sc_error *err)
{
	if (param < 0 || param >= o->n_params)
		return sc_fail(err, SC_EINVAL, "optimizer: parameter %d out of range (%d)",
			       param, o->n_params);
	if (steps < 0)
		return sc_fail(err, SC_EINVAL, "parameter '%s': step count %lld is negative",
			       o->params[param].name, (long long)steps);
	o->params[param].steps = steps;
	return SC_OK;
}

/* --- update rules ------------------------------------------------------------- */

static void sgd_update(const optim_config *c, double lr, double wd, int first,
		       int64_t n, float *x, const float *g, float *buf)
{
	const float f_wd = (float)wd, f_mom = (float)c->momentum;
	const float f_keep = (float)(1 - c->dampening), f_step = (float)-lr;
	const int decay = wd != 0, momentum = c->momentum != 0;
	const int nesterov = c->nesterov;
	#pragma omp parallel for schedule(static) if (n >= OPTIM_PARALLEL_MIN)
	for (int64_t i = 0; i < n; i++) {
		float d = g[i];
		if (decay)
			d = d + f_wd * x[i];
		if (momentum) {
			float b = first ? d : buf[i] * f_mom + f_keep * d;
			buf[i] = b;
			d = nesterov ? d + f_mom * b : b;
		}
		x[i] = x[i] + f_step * d;
	}
}

static void adagrad_update(const optim_config *c, double lr, double wd,
			   int64_t step, int64_t n, float *x, const float *g,
			   float *sum)
{
	const double clr = lr / (1 + (double)(step - 1) * c->lr_decay);
	const float f_wd = (float)wd, f_eps = (float)c->eps, f_step = (float)-clr;
	const int decay = wd != 0;
	#pragma omp parallel for schedule(static) if (n >= OPTIM_PARALLEL_MIN)
	for (int64_t i = 0; i < n; i++) {
		float d = g[i];
		if (decay)
			d = d + f_wd * x[i];
		float s = sum[i] + d * d;
		sum[i] = s;
		float std = sqrtf(s) + f_eps;
		x[i] = x[i] + f_step * d / std;
	}
}

/* Adam and RMSprop, for float (sqrtf) and double (sqrt) tensors.  The
 * graph ops of ai.supcon call these too. */
#define DEFINE_ADAM(NAME, T, SQRT)                                            \
void NAME(const optim_adam_args *a, int64_t n, T *x, const T *g, T *m,        \
	  T *v, T *vmax)                                                      \
{                                                                             \
	const double bc1 = 1 - pow(a->beta1, (double)a->step);                \
	const double bc2 = 1 - pow(a->beta2, (double)a->step);                \
	const double step_size = a->lr / bc1;                                 \
	const T shrink = (T)(1 - a->lr * a->decoupled);                       \
	const T l2 = (T)a->l2, b1 = (T)a->beta1, b2 = (T)a->beta2;            \
	const T k1 = (T)(1 - a->beta1), k2 = (T)(1 - a->beta2);               \
	const T bc2_sqrt = (T)sqrt(bc2), eps = (T)a->eps;                     \
	const T neg_step = (T)-step_size;                                     \
	const int decoupled = a->decoupled != 0, coupled = a->l2 != 0;        \
	_Pragma("omp parallel for schedule(static) if (n >= OPTIM_PARALLEL_MIN)") \
	for (int64_t i = 0; i < n; i++) {                                     \
		T xi = x[i], gi = g[i];                                       \
		if (decoupled)                                                \
			xi = xi * shrink;                                     \
		if (coupled)                                                  \
			gi = gi + l2 * xi;                                    \
		T mi = m[i] * b1 + k1 * gi;                                   \
		T vi = v[i] * b2 + k2 * gi * gi;                              \
		m[i] = mi;                                                    \
		v[i] = vi;                                                    \
		if (vmax) {                                                   \
			vi = vmax[i] > vi || isnan(vmax[i]) ? vmax[i] : vi;   \
			vmax[i] = vi;                                         \
		}                                                             \
		T denom = SQRT(vi) / bc2_sqrt + eps;                          \
		x[i] = xi + neg_step * mi / denom;                            \
	}                                                                     \
}

#define DEFINE_RMSPROP(NAME, T, SQRT)                                         \
void NAME(const optim_rmsprop_args *a, int64_t n, T *x, const T *g, T *sq,    \
	  T *buf, T *gavg)                                                    \
{                                                                             \
	const T l2 = (T)a->l2, al = (T)a->alpha, k = (T)(1 - a->alpha);      \
	const T eps = (T)a->eps, mom = (T)a->momentum, neg_lr = (T)-a->lr;    \
	const int coupled = a->l2 != 0;                                       \
	_Pragma("omp parallel for schedule(static) if (n >= OPTIM_PARALLEL_MIN)") \
	for (int64_t i = 0; i < n; i++) {                                     \
		T gi = g[i];                                                  \
		if (coupled)                                                  \
			gi = gi + l2 * x[i];                                  \
		T s = sq[i] * al + k * gi * gi;                               \
		sq[i] = s;                                                    \
		T avg;                                                        \
		if (gavg) {                                                   \
			T ga = gavg[i] * al + k * gi;                         \
			gavg[i] = ga;                                         \
			avg = SQRT(s + (T)-1 * ga * ga);                      \
		} else {                                                      \
			avg = SQRT(s);                                        \
		}                                                             \
		avg = avg + eps;                                              \
		if (buf) {                                                    \
			T b = buf[i] * mom + gi / avg;                        \
			buf[i] = b;                                           \
			x[i] = x[i] + neg_lr * b;                             \
		} else {                                                      \
			x[i] = x[i] + neg_lr * gi / avg;                      \
		}                                                             \
	}                                                                     \
}

DEFINE_ADAM(optim_adam_f32, float, sqrtf)
DEFINE_ADAM(optim_adam_f64, double, sqrt)
DEFINE_RMSPROP(optim_rmsprop_f32, float, sqrtf)
DEFINE_RMSPROP(optim_rmsprop_f64, double, sqrt)

static int check_grad(const optim *o, int i, const sc_tensor *g, sc_error *err)
{
	const optim_entry *e = &o->params[i];
	if (e->value->dtype != SC_FLOAT || e->value->numel != e->numel ||
	    (e->numel > 0 && !e->value->data))
		return sc_fail(err, SC_EINVAL,
			       "parameter '%s' changed since the optimizer was built (now %s with %lld elements, was float32 with %lld)",
			       e->name, tensor_dtype_name(e->value->dtype),
			       (long long)e->value->numel, (long long)e->numel);
	if (!g)
		return SC_OK;
	if (g->dtype != SC_FLOAT)
		return sc_fail(err, SC_EINVAL, "gradient of '%s' is %s, expected float32",
			       e->name, tensor_dtype_name(g->dtype));
	if (g->numel != e->numel || (g->numel > 0 && !g->data))
		return sc_fail(err, SC_EINVAL,
			       "gradient of '%s' has %lld elements, expected %lld",
			       e->name, (long long)g->numel, (long long)e->numel);
	return SC_OK;
}

static int slot_of(const optim *o, int kind)
{
	for (int s = 0; s < o->n_slots; s++)
		if (o->slots[s] == kind)
			return s;
	return -1;
}

static float *state_or_null(optim_entry *e, int slot)
{
	return slot >= 0 ? e->state[slot] : NULL;
}

int optim_step(optim *o, double lr, const sc_tensor *const *grads,
	       sc_error *err)
{
	if (!(lr >= 0) || isinf(lr))
		return sc_fail(err, SC_EINVAL, "optimizer: lr is %g, expected a finite value >= 0", lr);
	for (int i = 0; i < o->n_params; i++) {
		int rc = check_grad(o, i, grads[i], err);
		if (rc)
			return rc;
	}
	const optim_config *c = &o->cfg;
	const int s_mom = slot_of(o, SLOT_MOMENTUM), s_gavg = slot_of(o, SLOT_GRAD_AVG);
	const int s_vmax = slot_of(o, SLOT_MAX_EXP_AVG_SQ);
	for (int i = 0; i < o->n_params; i++) {
		optim_entry *e = &o->params[i];
		const sc_tensor *gt = grads[i];
		if (!gt)
			continue;
		const optim_group *grp = &o->groups[e->group];
		const double glr = lr * grp->lr_scale, wd = grp->weight_decay;
		float *x = e->value->data;
		const float *g = gt->data;
		e->steps++;
		switch (c->kind) {
		case OPTIM_SGD:
			sgd_update(c, glr, wd, e->steps == 1, e->numel, x, g,
				   state_or_null(e, s_mom));
			break;
		case OPTIM_ADAM:
		case OPTIM_ADAMW: {
			optim_adam_args a = {
				.lr = glr, .beta1 = c->beta1, .beta2 = c->beta2,
				.eps = c->eps, .step = e->steps,
				.l2 = c->kind == OPTIM_ADAM ? wd : 0,
				.decoupled = c->kind == OPTIM_ADAMW ? wd : 0,
			};
			optim_adam_f32(&a, e->numel, x, g, e->state[0], e->state[1],
				       state_or_null(e, s_vmax));
			break;
		}
		case OPTIM_RMSPROP: {
			optim_rmsprop_args a = {
				.lr = glr, .alpha = c->alpha, .eps = c->eps,
				.l2 = wd, .momentum = c->momentum,
			};
			optim_rmsprop_f32(&a, e->numel, x, g, e->state[0],
					  state_or_null(e, s_mom),
					  state_or_null(e, s_gavg));
			break;
		}
		case OPTIM_ADAGRAD:
			adagrad_update(c, glr, wd, e->steps, e->numel, x, g,
				       e->state[0]);
			break;
		}
	}
	return SC_OK;
}

/* --- as a training-graph op ------------------------------------------------------ */

static void graph_attr_float(optim_graph_op *op, const char *name, double v)
{
	optim_graph_attr *a = &op->attrs[op->n_attrs++];
	a->name = name;
	a->type = ATTR_FLOAT;
	a->f = (float)v;
}

static void graph_attr_int(optim_graph_op *op, const char *name, int64_t v)
{
	optim_graph_attr *a = &op->attrs[op->n_attrs++];
	a->name = name;
	a->type = ATTR_INT;
	a->i = v;
}

static void graph_state(optim_graph_op *op, int slot, float init)
{
	op->state_names[op->n_states] = slot_names[slot];
	op->state_init[op->n_states++] = init;
}

int optim_graph_op_for(const optim_config *c, double weight_decay,
		       optim_graph_op *op, sc_error *err)
{
	memset(op, 0, sizeof *op);
	int rc = optim_config_check(c, err);
	if (rc)
		return rc;
	if (!(weight_decay >= 0) || isinf(weight_decay))
		return sc_fail(err, SC_EINVAL,
			       "optimizer: weight_decay is %g, expected a finite value >= 0",
			       weight_decay);
	switch (c->kind) {
	case OPTIM_SGD: {
		op->domain = "ai.onnx.preview.training";
		op->op_type = "Momentum";
		graph_attr_float(op, "alpha", c->momentum);
		graph_attr_float(op, "beta", c->momentum != 0 ? 1 - c->dampening : 1);
		graph_attr_float(op, "norm_coefficient", weight_decay);
		optim_graph_attr *mode = &op->attrs[op->n_attrs++];
		mode->name = "mode";
		mode->type = ATTR_STRING;
		mode->s = c->nesterov ? "nesterov" : "standard";
		graph_state(op, SLOT_MOMENTUM, 0);
		break;
	}
	case OPTIM_ADAGRAD:
		op->domain = "ai.onnx.preview.training";
		op->op_type = "Adagrad";
		graph_attr_float(op, "decay_factor", c->lr_decay);
		graph_attr_float(op, "epsilon", c->eps);
		graph_attr_float(op, "norm_coefficient", weight_decay);
		graph_state(op, SLOT_SUM, (float)c->initial_accumulator_value);
		break;
	case OPTIM_ADAM:
	case OPTIM_ADAMW:
		op->domain = "ai.supcon";
		op->op_type = "AdamW";
		graph_attr_float(op, "alpha", c->beta1);
		graph_attr_float(op, "beta", c->beta2);
		graph_attr_float(op, "epsilon", c->eps);
		graph_attr_float(op, "weight_decay",
				 c->kind == OPTIM_ADAMW ? weight_decay : 0);
		graph_attr_float(op, "norm_coefficient",
				 c->kind == OPTIM_ADAM ? weight_decay : 0);
		graph_attr_int(op, "amsgrad", c->amsgrad != 0);
		graph_state(op, SLOT_EXP_AVG, 0);
		graph_state(op, SLOT_EXP_AVG_SQ, 0);
		if (c->amsgrad)
			graph_state(op, SLOT_MAX_EXP_AVG_SQ, 0);
		break;
	case OPTIM_RMSPROP:
		op->domain = "ai.supcon";
		op->op_type = "RMSprop";
		graph_attr_float(op, "alpha", c->alpha);
		graph_attr_float(op, "epsilon", c->eps);
		graph_attr_float(op, "norm_coefficient", weight_decay);
		graph_attr_float(op, "momentum", c->momentum);
		graph_attr_int(op, "centered", c->centered != 0);
		graph_state(op, SLOT_SQUARE_AVG, 0);
		if (c->momentum > 0)
			graph_state(op, SLOT_MOMENTUM, 0);
		if (c->centered)
			graph_state(op, SLOT_GRAD_AVG, 0);
		break;
	}
	return SC_OK;
}

/* --- schedules ------------------------------------------------------------------ */

void optim_schedule_init(optim_schedule *s, double base_lr)
{
	memset(s, 0, sizeof *s);
	s->kind = OPTIM_LR_CONSTANT;
	s->base_lr = base_lr;
	s->gamma = 0.1;
	s->step_size = 1;
	s->t_max = 1;
	s->warmup_start = 1.0 / 3;
	s->warmup_mode = OPTIM_WARMUP_CHAINED;
}

int optim_schedule_check(const optim_schedule *s, sc_error *err)
{
	if (!(s->base_lr >= 0) || isinf(s->base_lr))
		return sc_fail(err, SC_EINVAL, "schedule: lr is %g, expected a finite value >= 0",
			       s->base_lr);
	switch (s->kind) {
	case OPTIM_LR_CONSTANT:
		break;
	case OPTIM_LR_STEP:
		if (s->step_size < 1)
			return sc_fail(err, SC_EINVAL, "schedule: step size is %lld, expected >= 1",
				       (long long)s->step_size);
		/* fall through */
	case OPTIM_LR_EXPONENTIAL:
		if (!(s->gamma >= 0) || isinf(s->gamma))
			return sc_fail(err, SC_EINVAL, "schedule: gamma is %g, expected a finite value >= 0",
				       s->gamma);
		break;
	case OPTIM_LR_MULTISTEP:
		if (!(s->gamma >= 0) || isinf(s->gamma))
			return sc_fail(err, SC_EINVAL, "schedule: gamma is %g, expected a finite value >= 0",
				       s->gamma);
		if (s->n_milestones < 1 || s->n_milestones > OPTIM_MAX_MILESTONES)
			return sc_fail(err, SC_EINVAL, "schedule: %d milestones, expected 1 to %d",
				       s->n_milestones, OPTIM_MAX_MILESTONES);
		for (int i = 0; i < s->n_milestones; i++)
			if (s->milestones[i] < 1 ||
			    (i > 0 && s->milestones[i] <= s->milestones[i - 1]))
				return sc_fail(err, SC_EINVAL,
					       "schedule: milestones must be positive and increasing (milestone %d is %lld)",
					       i, (long long)s->milestones[i]);
		break;
	case OPTIM_LR_COSINE:
		if (s->t_max < 1)
			return sc_fail(err, SC_EINVAL, "schedule: cosine T_max is %lld, expected >= 1",
				       (long long)s->t_max);
		if (!(s->eta_min >= 0) || isinf(s->eta_min))
			return sc_fail(err, SC_EINVAL, "schedule: eta_min is %g, expected a finite value >= 0",
				       s->eta_min);
		break;
	default:
		return sc_fail(err, SC_EINVAL, "schedule: unknown kind %d", (int)s->kind);
	}
	if (s->warmup_steps < 0)
		return sc_fail(err, SC_EINVAL, "schedule: %lld warm-up steps", (long long)s->warmup_steps);
	if (s->warmup_steps > 0 && !(s->warmup_start > 0 && s->warmup_start <= 1))
		return sc_fail(err, SC_EINVAL, "schedule: warm-up start factor is %g, expected 0 < start <= 1",
			       s->warmup_start);
	if (s->warmup_mode != OPTIM_WARMUP_CHAINED && s->warmup_mode != OPTIM_WARMUP_SEQUENTIAL)
		return sc_fail(err, SC_EINVAL, "schedule: unknown warm-up mode %d", (int)s->warmup_mode);
	return SC_OK;
}

static double main_lr(const optim_schedule *s, int64_t t)
{
	switch (s->kind) {
	case OPTIM_LR_STEP:
		return s->base_lr * pow(s->gamma, (double)(t / s->step_size));
	case OPTIM_LR_MULTISTEP: {
		int passed = 0;
		while (passed < s->n_milestones && s->milestones[passed] <= t)
			passed++;
		return s->base_lr * pow(s->gamma, passed);
	}
	case OPTIM_LR_EXPONENTIAL:
		return s->base_lr * pow(s->gamma, (double)t);
	case OPTIM_LR_COSINE:
		return s->eta_min + (s->base_lr - s->eta_min) *
		       (1 + cos(M_PI * (double)t / (double)s->t_max)) / 2;
	default:
		return s->base_lr;
	}
}

double optim_schedule_lr(const optim_schedule *s, int64_t t)
{
	if (t < 0)
		t = 0;
	if (s->warmup_steps <= 0)
		return main_lr(s, t);
	double factor = 1;
	if (t < s->warmup_steps)
		factor = s->warmup_start + (1 - s->warmup_start) * (double)t /
			 (double)s->warmup_steps;
	if (s->warmup_mode == OPTIM_WARMUP_SEQUENTIAL)
		return t < s->warmup_steps ? s->base_lr * factor :
		       main_lr(s, t - s->warmup_steps);
	return factor * main_lr(s, t);
}

/* --- spec parsing ------------------------------------------------------------------ */

static int parse_double(const char *text, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(text, &end);
	if (end == text || *end || errno || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

static int parse_int(const char *text, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(text, &end, 10);
	if (end == text || *end || errno)
		return -1;
	*out = v;
	return 0;
}

/* Splits term (modified in place) at ':' into at most max fields. */
static int split_fields(char *term, char **fields, int max)
{
	int n = 0;
	char *p = term;
	for (;;) {
		if (n == max)
			return -1;
		fields[n++] = p;
		char *colon = strchr(p, ':');
		if (!colon)
			return n;
		*colon = '\0';
		p = colon + 1;
	}
}

static int parse_milestones(char *text, optim_schedule *s)
{
	s->n_milestones = 0;
	char *p = text;
	for (;;) {
		char *comma = strchr(p, ',');
		if (comma)
			*comma = '\0';
		if (s->n_milestones == OPTIM_MAX_MILESTONES ||
		    parse_int(p, &s->milestones[s->n_milestones]))
			return -1;
		s->n_milestones++;
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

static int parse_warmup(char **f, int n, optim_schedule *s)
{
	if (n < 2 || parse_int(f[1], &s->warmup_steps) || s->warmup_steps < 1)
		return -1;
	if (n >= 3 && parse_double(f[2], &s->warmup_start))
		return -1;
	if (n >= 4) {
		if (strcmp(f[3], "chain") == 0)
			s->warmup_mode = OPTIM_WARMUP_CHAINED;
		else if (strcmp(f[3], "seq") == 0)
			s->warmup_mode = OPTIM_WARMUP_SEQUENTIAL;
		else
			return -1;
	}
	return n <= 4 ? 0 : -1;
}

/* One term other than a warm-up; -1 when it is malformed. */
static int parse_main(char **f, int n, optim_schedule *s)
{
	const char *k = f[0];
	if (strcmp(k, "constant") == 0) {
		s->kind = OPTIM_LR_CONSTANT;
		return n == 1 ? 0 : -1;
	}
	if (strcmp(k, "step") == 0) {
		s->kind = OPTIM_LR_STEP;
		if (n < 2 || n > 3 || parse_int(f[1], &s->step_size))
			return -1;
		return n == 3 ? parse_double(f[2], &s->gamma) : 0;
	}
	if (strcmp(k, "multistep") == 0) {
		s->kind = OPTIM_LR_MULTISTEP;
		if (n < 2 || n > 3 || parse_milestones(f[1], s))
			return -1;
		return n == 3 ? parse_double(f[2], &s->gamma) : 0;
	}
	if (strcmp(k, "exp") == 0) {
		s->kind = OPTIM_LR_EXPONENTIAL;
		return n == 2 ? parse_double(f[1], &s->gamma) : -1;
	}
	if (strcmp(k, "cosine") == 0) {
		s->kind = OPTIM_LR_COSINE;
		if (n < 2 || n > 3 || parse_int(f[1], &s->t_max))
			return -1;
		return n == 3 ? parse_double(f[2], &s->eta_min) : 0;
	}
	return -1;
}

int optim_schedule_parse(const char *spec, double base_lr, optim_schedule *s,
			 sc_error *err)
{
	optim_schedule_init(s, base_lr);
	char buf[512];
	if (!spec || !*spec || strlen(spec) >= sizeof buf)
		return sc_fail(err, SC_EINVAL, "schedule '%.64s': empty or too long",
			       spec ? spec : "");
	strcpy(buf, spec);
	int have_main = 0, have_warmup = 0;
	char *term = buf;
	for (;;) {
		char *plus = strchr(term, '+');
		if (plus)
			*plus = '\0';
		char copy[512];
		strcpy(copy, term);
		char *f[5] = {0};
		int n = split_fields(term, f, 5);
		int is_warmup = n > 0 && strcmp(f[0], "warmup") == 0;
		int bad = n < 0 || (is_warmup ? have_warmup : have_main);
		if (!bad)
			bad = is_warmup ? parse_warmup(f, n, s) : parse_main(f, n, s);
		if (bad)
			return sc_fail(err, SC_EINVAL,
				       "schedule '%s': cannot read '%s' (expected constant, step:N[:G], multistep:M1,M2[:G], exp:G, cosine:T[:MIN], warmup:N[:START[:chain|seq]], joined by '+')",
				       spec, copy);
		if (is_warmup)
			have_warmup = 1;
		else
			have_main = 1;
		if (!plus)
			break;
		term = plus + 1;
	}
	return optim_schedule_check(s, err);
}
