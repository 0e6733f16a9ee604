/* api_trainer.c: training sessions of the public API (supcon.h), over
 * runtime/trainer.h.
 *
 * A supcon_trainer owns a trainer (which owns its training graph, a copy
 * of the session's model) and, for evaluation, a second copy of the
 * inference network with the loss appended.  The trainer's weights are the
 * initializers of its own model, which it updates in place and binds as
 * inputs on every step; get/set_param read and write them there.  The
 * evaluation copy is brought up to date (trainer_export_weights) and its
 * plan rebuilt only when the weights changed since the last evaluation:
 * plans fold BatchNormalization into constant weights, so a plan must
 * never outlive the weights it was built on. */
#include "api_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../onnx/onnx.h"
#include "checkpoint.h"
#include "export.h"
#include "trainer.h"

#define MAX_THREADS 4096
#define MAX_TRAINABLE 4096
#define META_TAG "supcon-api 1"

struct supcon_trainer {
	trainer *t;
	graph_model *tm;       /* the trainer's model (borrowed: the trainer owns it) */
	graph_model *src;      /* the inference network as given, for exports */
	graph_model *em;       /* src + loss, outputs [loss, first output] */
	plan *ep;              /* em's plan, valid while ep_gen == gen */
	uint64_t gen, ep_gen;  /* counts changes of the weights */
	double lr;
	int threads;
	sc_error err;
};

/* --- options ------------------------------------------------------------------ */

typedef struct api_train_opts {
	trainer_options to;
	char *trainable_buf;   /* the trainable= value, split in place */
	const char *trainable[MAX_TRAINABLE];
} api_train_opts;

static int parse_number(const char *key, const char *val, double lo, double hi,
			double *out, sc_error *err)
{
	char *end;
	errno = 0;
	double v = strtod(val, &end);
	if (end == val || *end || errno == ERANGE || !isfinite(v) || v < lo || v > hi)
		return sc_fail(err, SC_EINVAL, "supcon_trainer_create: option %s=%s: "
			       "expected a number from %g to %g", key, val, lo, hi);
	*out = v;
	return SC_OK;
}

static int parse_trainable(api_train_opts *o, const char *val, sc_error *err)
{
	free(o->trainable_buf);
	if (!(o->trainable_buf = strdup(val)))
		return sc_fail(err, SC_ENOMEM, "out of memory");
	int n = 0;
	for (char *p = o->trainable_buf; p; ) {
		char *bar = strchr(p, '|');
		if (bar)
			*bar = '\0';
		if (!*p || n == MAX_TRAINABLE)
			return sc_fail(err, SC_EINVAL, "supcon_trainer_create: option "
				       "trainable=%s: %s", val, *p ? "too many names" :
				       "an empty name");
		o->trainable[n++] = p;
		p = bar ? bar + 1 : NULL;
	}
	o->to.trainable = o->trainable;
	o->to.n_trainable = n;
	return SC_OK;
}

/* One key=value.  Keys name trainer_options and optim_config fields. */
static int apply_option(void *ctx, const char *key, const char *val,
			sc_error *err)
{
	api_train_opts *o = ctx;
	optim_config *c = &o->to.graph.optim;
	double v = 0;
	struct { const char *key; double *field; double lo, hi; } nums[] = {
		{"lr", &c->lr, 0, 1e6},
		{"momentum", &c->momentum, 0, 1e6},
		{"dampening", &c->dampening, 0, 1},
		{"weight_decay", &c->weight_decay, 0, 1e6},
		{"beta1", &c->beta1, 0, 1},
		{"beta2", &c->beta2, 0, 1},
		{"eps", &c->eps, 0, 1},
		{"alpha", &c->alpha, 0, 1e6},
		{"lr_decay", &c->lr_decay, 0, 1e6},
		{"initial_accumulator_value", &c->initial_accumulator_value, 0, 1e6},
		{"temperature", &o->to.graph.temperature, 1e-6, 1e6},
		{"base_temperature", &o->to.graph.base_temperature, 1e-6, 1e6},
		{"clip_grad_norm", &o->to.clip_grad_norm, 0, 1e30},
		{"clip_grad_value", &o->to.clip_grad_value, 0, 1e30},
	};
	for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
		if (!strcmp(key, nums[i].key))
			return parse_number(key, val, nums[i].lo, nums[i].hi,
					    nums[i].field, err);
	struct { const char *key; int *field; double hi; } ints[] = {
		{"nesterov", &c->nesterov, 1},
		{"amsgrad", &c->amsgrad, 1},
		{"centered", &c->centered, 1},
		{"freeze_bn", &o->to.graph.bn_frozen, 1},
		{"check_numerics", &o->to.check_numerics, 1},
		{"threads", &o->to.threads, MAX_THREADS},
	};
	for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
		if (strcmp(key, ints[i].key))
			continue;
		int rc = parse_number(key, val, 0, ints[i].hi, &v, err);
		if (!rc && v != floor(v))
			rc = sc_fail(err, SC_EINVAL, "supcon_trainer_create: option "
				     "%s=%s: expected a whole number", key, val);
		if (!rc)
			*ints[i].field = (int)v;
		return rc;
	}
	if (!strcmp(key, "trainable"))
		return parse_trainable(o, val, err);
	return sc_fail(err, SC_EINVAL, "supcon_trainer_create: unknown option '%s' "
		       "(see supcon.h for the list)", key);
}

/* "k=v,k=v" into o, on top of the optimizer's defaults. */
static int parse_options(api_train_opts *o, const char *options, sc_error *err)
{
	return api_parse_options(options, "supcon_trainer_create", apply_option,
				 o, err);
}

static int parse_setup(const char *loss, const char *optimizer,
		       const char *options, api_train_opts *o, sc_error *err)
{
	trainer_options_init(&o->to);
	if (!strcmp(loss, "supcon"))
		o->to.graph.loss = TRAIN_LOSS_SUPCON;
	else if (!strcmp(loss, "ce"))
		o->to.graph.loss = TRAIN_LOSS_CE;
	else
		return sc_fail(err, SC_EINVAL, "supcon_trainer_create: loss '%s': "
			       "expected supcon or ce", loss);
	optim_kind kind;
	int rc = optim_kind_parse(optimizer, &kind, err);
	if (rc) {
		sc_error_prefix(err, "supcon_trainer_create: optimizer: ");
		return rc;
	}
	optim_config_init(&o->to.graph.optim, kind);
	if ((rc = parse_options(o, options, err)))
		return rc;
	if ((rc = optim_config_check(&o->to.graph.optim, err)))
		sc_error_prefix(err, "supcon_trainer_create: ");
	return rc;
}

/* --- creation ----------------------------------------------------------------- */

void supcon_trainer_free(supcon_trainer *t)
{
	if (!t)
		return;
	trainer_free(t->t);
	plan_free(t->ep);
	graph_model_free(t->em);
	graph_model_free(t->src);
	free(t);
}

/* The evaluation model: the network with the loss appended, outputs
 * [loss, the network's first output]. */
static int make_eval_model(supcon_trainer *t, const train_graph_options *go,
			   sc_error *err)
{
	int rc = onnx_clone_model(t->src, &t->em, err);
	if (rc)
		return rc;
	graph *g = t->em->graph;
	if (g->n_outputs < 1)
		return sc_fail(err, SC_EINVAL, "the model has no output");
	int first = g->outputs[0], loss = -1;
	if ((rc = train_graph_add_loss(t->em, go, &loss, err)))
		return rc;
	graph_clear_outputs(g);
	if (!(rc = graph_add_output(g, loss, err)))
		rc = graph_add_output(g, first, err);
	return rc;
}

static int trainer_open(supcon_session *model, const api_train_opts *o,
			supcon_trainer **out, sc_error *err)
{
	supcon_trainer *t = calloc(1, sizeof *t);
	if (!t)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	t->lr = o->to.graph.optim.lr;
	t->threads = o->to.threads;
	graph_model *tm = NULL;
	int rc = onnx_clone_model(model->m, &t->src, err);
	if (!rc)
		rc = onnx_clone_model(model->m, &tm, err);
	if (!rc) {
		t->tm = tm;
		api_use_threads(t->threads);
		rc = trainer_create(tm, &o->to, &t->t, err);   /* owns tm now */
	}
	if (!rc)
		rc = make_eval_model(t, &o->to.graph, err);
	if (rc) {
		supcon_trainer_free(t);
		return rc;
	}
	t->gen = 1;
	*out = t;
	return SC_OK;
}

supcon_status supcon_trainer_create(supcon_session *model, const char *loss,
				    const char *optimizer, const char *options,
				    supcon_trainer **out)
{
	sc_error err = {0};
	const char *fn = "supcon_trainer_create";
	int rc = !out ? api_null(&err, fn, "out") : !model ? api_null(&err, fn, "model") :
		 !loss ? api_null(&err, fn, "loss") :
		 !optimizer ? api_null(&err, fn, "optimizer") : SC_OK;
	if (out)
		*out = NULL;
	api_train_opts o;
	memset(&o, 0, sizeof o);
	if (!rc)
		rc = parse_setup(loss, optimizer, options, &o, &err);
	if (!rc)
		rc = trainer_open(model, &o, out, &err);
	free(o.trainable_buf);
	return api_done(model ? &model->err : NULL, &err, rc);
}

const char *supcon_trainer_error(const supcon_trainer *t)
{
	return t ? t->err.msg : "no trainer (NULL)";
}

supcon_status supcon_trainer_input_name(const supcon_trainer *t,
					const char **name)
{
	sc_error err = {0};
	const char *fn = "supcon_trainer_input_name";
	int rc = !t ? api_null(&err, fn, "trainer") : !name ? api_null(&err, fn, "name") :
		 SC_OK;
	if (!rc)
		*name = trainer_input_name(t->t);
	return api_done(t ? (sc_error *)&t->err : NULL, &err, rc);
}

/* --- steps -------------------------------------------------------------------- */

/* The batch checks the plan cannot word well: NULLs and the labels' dtype. */
static int check_batch(const char *fn, const supcon_tensor *x,
		       const supcon_tensor *labels, sc_error *err)
{
	if (!x)
		return api_null(err, fn, "x");
	if (!labels)
		return api_null(err, fn, "labels");
	if (labels->t.dtype != SC_INT64 || labels->t.rank != 1)
		return sc_fail(err, SC_EINVAL, "%s: labels must be int64 [N], got %s "
			       "of rank %d", fn, tensor_dtype_name(labels->t.dtype),
			       labels->t.rank);
	return SC_OK;
}

supcon_status supcon_trainer_step(supcon_trainer *t, const supcon_tensor *x,
				  const supcon_tensor *labels, float *loss)
{
	sc_error err = {0};
	const char *fn = "supcon_trainer_step";
	if (!t)
		return api_done(NULL, &err, api_null(&err, fn, "trainer"));
	int rc = check_batch(fn, x, labels, &err);
	float l = NAN;
	if (!rc) {
		api_use_threads(t->threads);
		rc = trainer_step(t->t, &x->t, &labels->t, t->lr, &l, &err);
		/* a failed plan run changes no weight; a numeric stop neither */
		if (!rc)
			t->gen++;
	}
	if (loss)
		*loss = l;
	return api_done(&t->err, &err, rc);
}

/* em's weights and plan, brought up to date with the trainer's. */
static int eval_plan(supcon_trainer *t, sc_error *err)
{
	if (t->ep && t->ep_gen == t->gen)
		return SC_OK;
	plan_free(t->ep);
	t->ep = NULL;
	int rc = trainer_export_weights(t->t, t->em, NULL, err);
	if (!rc)
		rc = plan_create(t->em, &(plan_options){.threads = t->threads}, &t->ep,
				 err);
	if (!rc)
		t->ep_gen = t->gen;
	return rc;
}

supcon_status supcon_trainer_eval(supcon_trainer *t, const supcon_tensor *x,
				  const supcon_tensor *labels, float *loss,
				  supcon_tensor **output)
{
	sc_error err = {0};
	const char *fn = "supcon_trainer_eval";
	if (!t)
		return api_done(NULL, &err, api_null(&err, fn, "trainer"));
	if (output)
		*output = NULL;
	int rc = check_batch(fn, x, labels, &err);
	if (!rc)
		rc = eval_plan(t, &err);
	if (!rc) {
		const graph *g = t->em->graph;
		const char *names[2] = {trainer_input_name(t->t),
					g->values[graph_find_value(g, "labels")].name};
		const sc_tensor *in[2] = {&x->t, &labels->t};
		api_use_threads(t->threads);
		rc = plan_run(t->ep, 2, names, in, &err);
	}
	if (!rc) {
		const sc_tensor *l = plan_output(t->ep, 0);
		if (loss)
			*loss = l->dtype == SC_DOUBLE ? (float)*(const double *)l->data :
				*(const float *)l->data;
		if (output)
			rc = api_tensor_copy(plan_output(t->ep, 1), output, &err);
	}
	return api_done(&t->err, &err, rc);
}

supcon_status supcon_trainer_set_lr(supcon_trainer *t, double lr)
{
	sc_error err = {0};
	if (!t)
		return api_done(NULL, &err, api_null(&err, "supcon_trainer_set_lr",
						     "trainer"));
	int rc = SC_OK;
	if (!isfinite(lr) || lr < 0)
		rc = sc_fail(&err, SC_EINVAL, "supcon_trainer_set_lr: lr %g: expected "
			     "a finite value >= 0", lr);
	else
		t->lr = lr;
	return api_done(&t->err, &err, rc);
}

supcon_status supcon_trainer_get_lr(const supcon_trainer *t, double *lr)
{
	sc_error err = {0};
	const char *fn = "supcon_trainer_get_lr";
	int rc = !t ? api_null(&err, fn, "trainer") : !lr ? api_null(&err, fn, "lr") :
		 SC_OK;
	if (!rc)
		*lr = t->lr;
	return api_done(t ? (sc_error *)&t->err : NULL, &err, rc);
}

supcon_status supcon_trainer_steps(const supcon_trainer *t, int64_t *steps)
{
	sc_error err = {0};
	const char *fn = "supcon_trainer_steps";
	int rc = !t ? api_null(&err, fn, "trainer") : !steps ? api_null(&err, fn, "steps") :
		 SC_OK;
	if (!rc)
		*steps = trainer_steps(t->t);
	return api_done(t ? (sc_error *)&t->err : NULL, &err, rc);
}

/* --- parameters ---------------------------------------------------------------- */

supcon_status supcon_trainer_param_count(const supcon_trainer *t, int *count)
{
	sc_error err = {0};
	const char *fn = "supcon_trainer_param_count";
	int rc = !t ? api_null(&err, fn, "trainer") : !count ? api_null(&err, fn, "count") :
		 SC_OK;
	if (!rc)
		*count = trainer_param_count(t->t);
	return api_done(t ? (sc_error *)&t->err : NULL, &err, rc);
}

supcon_status supcon_trainer_param_name(const supcon_trainer *t, int i,
					const char **name)
{
	sc_error err = {0};
	const char *fn = "supcon_trainer_param_name";
	int rc = !t ? api_null(&err, fn, "trainer") : !name ? api_null(&err, fn, "name") :
		 SC_OK;
	if (!rc && (i < 0 || i >= trainer_param_count(t->t)))
		rc = sc_fail(&err, SC_EINVAL, "%s: parameter %d does not exist (the "
			     "trainer has %d)", fn, i, trainer_param_count(t->t));
	if (!rc)
		*name = trainer_param_name(t->t, i);
	return api_done(t ? (sc_error *)&t->err : NULL, &err, rc);
}

/* The trainer's tensor for a weight of the network called name: a float
 * initializer that the inference network also has (so not one of the
 * constants the training graph added). */
static int find_weight(supcon_trainer *t, const char *fn, const char *name,
		       sc_tensor **out, sc_error *err)
{
	const graph *g = t->tm->graph, *s = t->src->graph;
	int v = graph_find_value(g, name), sv = graph_find_value(s, name);
	if (v < 0 || g->values[v].init < 0 || sv < 0 || s->values[sv].init < 0 ||
	    !tensor_dtype_is_float(g->inits[g->values[v].init].tensor.dtype))
		return sc_fail(err, SC_EINVAL, "%s: '%s' is not a weight (float "
			       "initializer) of the network", fn, name);
	*out = &g->inits[g->values[v].init].tensor;
	return SC_OK;
}

supcon_status supcon_trainer_get_param(supcon_trainer *t, const char *name,
				       supcon_tensor **out)
{
	sc_error err = {0};
	const char *fn = "supcon_trainer_get_param";
	if (!t)
		return api_done(NULL, &err, api_null(&err, fn, "trainer"));
	int rc = !out ? api_null(&err, fn, "out") : !name ? api_null(&err, fn, "name") :
		 SC_OK;
	if (out)
		*out = NULL;
	sc_tensor *w = NULL;
	if (!rc)
		rc = find_weight(t, fn, name, &w, &err);
	if (!rc)
		rc = api_tensor_copy(w, out, &err);
	return api_done(&t->err, &err, rc);
}

static int same_shape(const sc_tensor *a, const sc_tensor *b)
{
	if (a->dtype != b->dtype || a->rank != b->rank)
		return 0;
	for (int i = 0; i < a->rank; i++)
		if (a->dims[i] != b->dims[i])
			return 0;
	return 1;
}

static void shape_text(const sc_tensor *t, char *buf, size_t len)
{
	int w = snprintf(buf, len, "%s [", tensor_dtype_name(t->dtype));
	for (int i = 0; i < t->rank && w > 0 && (size_t)w < len; i++)
		w += snprintf(buf + w, len - (size_t)w, "%s%lld", i ? ", " : "",
			      (long long)t->dims[i]);
	if (w > 0 && (size_t)w < len)
		snprintf(buf + w, len - (size_t)w, "]");
}

supcon_status supcon_trainer_set_param(supcon_trainer *t, const char *name,
				       const supcon_tensor *value)
{
	sc_error err = {0};
	const char *fn = "supcon_trainer_set_param";
	if (!t)
		return api_done(NULL, &err, api_null(&err, fn, "trainer"));
	int rc = !name ? api_null(&err, fn, "name") : !value ? api_null(&err, fn, "value") :
		 SC_OK;
	int trained = 0;
	for (int i = 0; !rc && i < trainer_param_count(t->t); i++)
		trained |= !strcmp(trainer_param_name(t->t, i), name);
	if (!rc && !trained)
		rc = sc_fail(&err, SC_EINVAL, "%s: '%s' is not a trained parameter "
			     "(see supcon_trainer_param_name)", fn, name);
	sc_tensor *w = NULL;
	if (!rc)
		rc = find_weight(t, fn, name, &w, &err);
	if (!rc && !same_shape(w, &value->t)) {
		char want[160], got[160];
		shape_text(w, want, sizeof want);
		shape_text(&value->t, got, sizeof got);
		rc = sc_fail(&err, SC_EINVAL, "%s: '%s' is %s, the value %s", fn, name,
			     want, got);
	}
	if (!rc) {
		/* the trainer binds this very tensor as an input on every
		 * step, so the next step reads the new values */
		memcpy(w->data, value->t.data, w->nbytes);
		t->gen++;
	}
	return api_done(&t->err, &err, rc);
}

/* --- checkpoints and export ---------------------------------------------------- */

supcon_status supcon_trainer_save(const supcon_trainer *t, const char *path)
{
	sc_error err = {0};
	const char *fn = "supcon_trainer_save";
	int rc = !t ? api_null(&err, fn, "trainer") : !path ? api_null(&err, fn, "path") :
		 SC_OK;
	if (!rc) {
		char meta[128];
		snprintf(meta, sizeof meta, META_TAG "\nlr %.17g\n", t->lr);
		rc = trainer_save(t->t, path, meta, &err);
	}
	return api_done(t ? (sc_error *)&t->err : NULL, &err, rc);
}

/* The learning rate a checkpoint of this API recorded; others keep it. */
static void meta_lr(const char *meta, double *lr)
{
	size_t n = strlen(META_TAG);
	double v;
	if (meta && !strncmp(meta, META_TAG "\n", n + 1) &&
	    sscanf(meta + n + 1, "lr %lf", &v) == 1 && isfinite(v) && v >= 0)
		*lr = v;
}

supcon_status supcon_trainer_load(supcon_trainer *t, const char *path)
{
	sc_error err = {0};
	const char *fn = "supcon_trainer_load";
	if (!t)
		return api_done(NULL, &err, api_null(&err, fn, "trainer"));
	int rc = path ? SC_OK : api_null(&err, fn, "path");
	ckpt *k = NULL;
	if (!rc)
		rc = ckpt_read(path, &k, &err);
	if (!rc)
		rc = trainer_restore(t->t, k, path, &err);
	if (!rc) {
		meta_lr(k->meta, &t->lr);
		t->gen++;
	}
	ckpt_free(k);
	return api_done(&t->err, &err, rc);
}

/* Normalisation inside the graph broadcasts [1, C, 1, 1] constants, so it
 * needs an image input [N, channels, H, W]. */
static int check_image_input(const graph *g, int channels, sc_error *err)
{
	int slot = graph_data_input(g);
	const graph_value *v = slot < 0 ? NULL : &g->values[g->inputs[slot]];
	const graph_type *ty = v ? &v->type : NULL;
	if (!ty || ty->kind != GRAPH_TYPE_TENSOR || ty->rank != 4 ||
	    (ty->dims[1].value >= 0 && ty->dims[1].value != channels))
		return sc_fail(err, SC_EINVAL, "supcon_trainer_export: normalising %d "
			       "channels needs an image input [N, %d, H, W]; '%s' is not "
			       "one", channels, channels, v ? v->name : "(none)");
	return SC_OK;
}

supcon_status supcon_trainer_export(supcon_trainer *t, const char *path,
				    int channels, const float *mean,
				    const float *std, int softmax)
{
	sc_error err = {0};
	const char *fn = "supcon_trainer_export";
	if (!t)
		return api_done(NULL, &err, api_null(&err, fn, "trainer"));
	int rc = path ? SC_OK : api_null(&err, fn, "path");
	if (!rc && channels < 0)
		rc = sc_fail(&err, SC_EINVAL, "%s: channels is %d", fn, channels);
	if (!rc && channels > 0 && (!mean || !std))
		rc = api_null(&err, fn, !mean ? "mean" : "std");
	for (int c = 0; !rc && c < channels; c++)
		if (!isfinite(mean[c]) || !isfinite(std[c]) || std[c] == 0)
			rc = sc_fail(&err, SC_EINVAL, "%s: channel %d: mean %g, std %g: "
				     "expected finite values and std != 0", fn, c,
				     mean[c], std[c]);
	if (!rc && softmax != 0 && softmax != 1)
		rc = sc_fail(&err, SC_EINVAL, "%s: softmax is %d, expected 0 or 1", fn,
			     softmax);
	if (!rc && channels > 0)
		rc = check_image_input(t->src->graph, channels, &err);
	graph_model *m = NULL;
	if (!rc)
		rc = onnx_clone_model(t->src, &m, &err);
	if (!rc)
		rc = trainer_export_weights(t->t, m, NULL, &err);
	if (!rc) {
		export_options eo = {channels, channels ? mean : NULL,
				     channels ? std : NULL, softmax};
		rc = export_inference(m, &eo, &err);
	}
	if (!rc)
		rc = onnx_save_file(m, path, &err);
	graph_model_free(m);
	return api_done(&t->err, &err, rc);
}
