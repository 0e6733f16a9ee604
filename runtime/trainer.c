/* trainer.c: a training session driven from C; see trainer.h. */
#include "trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autodiff.h"
#include "checkpoint.h"
#include "dist.h"
#include "infer.h"
#include "plan.h"
#include "trainer_dist.h"

struct trainer {
	graph_model *m;
	plan *p;
	optim *opt;
	int input;              /* the data input's value */
	int labels;             /* the labels input's value */
	int first;              /* the model's first output */
	int n_params;
	int *param_values;      /* value index of each parameter */
	int *grad_values;       /* ... and of its gradient */
	sc_tensor **params;     /* their initializer tensors (updated in place) */
	int n_stats;
	train_bn_stat *stats;
	/* plan_run's bindings: input, labels, then the parameters */
	const char **bind_names;
	const sc_tensor **bind;
	const sc_tensor **grads;
	int64_t steps;
	double clip_norm, clip_value, grad_norm;
	tdist *dist;            /* NULL in a single process */
	int sync_bn;
	sc_tensor **stat_ts;    /* the running statistics (dist: averaged) */
};

void trainer_options_init(trainer_options *o)
{
	memset(o, 0, sizeof *o);
	train_graph_options_init(&o->graph);
}

void trainer_free(trainer *t)
{
	if (!t)
		return;
	tdist_free(t->dist);
	plan_free(t->p);
	optim_free(t->opt);
	graph_model_free(t->m);
	free(t->param_values);
	free(t->grad_values);
	free(t->stat_ts);
	free(t->params);
	free(t->stats);
	free(t->bind_names);
	free(t->bind);
	free(t->grads);
	free(t);
}

/* The candidates autodiff differentiates: all of them, or the listed
 * ones, each of which must be a candidate. */
static int pick_params(const graph *g, const trainer_options *o,
		       const char **names, int *values, int *n, sc_error *err)
{
	int rc = train_graph_candidates(g, names, values, n, err);
	if (rc || !o->trainable)
		return rc;
	int k = 0;
	for (int i = 0; i < o->n_trainable; i++) {
		int found = -1;
		for (int j = 0; j < *n; j++)
			if (strcmp(names[j], o->trainable[i]) == 0)
				found = j;
		if (found < 0)
			return sc_fail(err, SC_EINVAL, "'%s' is not a float initializer "
				       "of the model: it cannot be trained",
				       o->trainable[i]);
		const char *nm = names[found];
		int v = values[found];
		names[found] = names[k];
		values[found] = values[k];
		names[k] = nm;
		values[k++] = v;
	}
	*n = k;
	return SC_OK;
}

/* Several ranks train together. */
static int is_distributed(const trainer_options *o)
{
	return o->distributed && dist_size() > 1;
}

/* Loss, model output, gradients, statistics: the graph's outputs.  A
 * distributed SupCon graph ends in the seeded loss instead (train_graph.h):
 * its seed input takes the labels' binding slot. */
static int build_graph(trainer *t, const trainer_options *o, sc_error *err)
{
	graph_model *m = t->m;
	graph *g = m->graph;
	int rc;
	if ((rc = graph_infer_shapes(m, err)))
		return rc;
	if (g->n_outputs < 1)
		return sc_fail(err, SC_EINVAL, "the model has no output");
	int slot = graph_data_input(g);
	if (slot < 0)
		return sc_fail(err, SC_EINVAL, "the model has no data input");
	t->input = g->inputs[slot];
	int first = g->outputs[0];
	t->first = first;
	train_graph_options go = o->graph;
	if (is_distributed(o) && go.loss == TRAIN_LOSS_SUPCON)
		go.loss = TRAIN_LOSS_SEED;
	if (!o->graph.bn_frozen &&
	    ((rc = train_graph_bn_training(m, &t->stats, &t->n_stats, err)) ||
	     (rc = graph_infer_shapes(m, err))))
		return rc;
	int loss;
	if ((rc = train_graph_add_loss(m, &go, &loss, err)))
		return rc;
	t->labels = graph_find_value(g, go.loss == TRAIN_LOSS_SEED ?
				     TRAIN_SEED_INPUT : "labels");
	const char **names = malloc(((size_t)g->n_inits + 1) * sizeof *names);
	int *values = malloc(((size_t)g->n_inits + 1) * sizeof *values);
	int *grads = malloc(((size_t)g->n_inits + 1) * sizeof *grads);
	int n = 0;
	if (!names || !values || !grads) {
		rc = sc_fail(err, SC_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = pick_params(g, o, names, values, &n, err)) ||
	    (rc = autodiff_build(m, g->values[loss].name, n, names, grads, err)))
		goto out;
	graph_clear_outputs(g);
	if ((rc = graph_add_output(g, loss, err)) ||
	    (rc = graph_add_output(g, first, err)))
		goto out;
	t->param_values = malloc(((size_t)n + 1) * sizeof *t->param_values);
	t->grad_values = malloc(((size_t)n + 1) * sizeof *t->grad_values);
	if (!t->param_values || !t->grad_values) {
		rc = sc_fail(err, SC_ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < n && !rc; i++) {
		if (grads[i] < 0)
			continue;   /* the loss does not depend on it */
		t->grad_values[t->n_params] = grads[i];
		t->param_values[t->n_params++] = values[i];
		rc = graph_add_output(g, grads[i], err);
		if (!rc)
			rc = graph_add_input(g, values[i], err);
	}
	for (int i = 0; i < t->n_stats && !rc; i++)
		rc = graph_add_output(g, t->stats[i].updated, err);
	if (!rc && t->n_params == 0)
		rc = sc_fail(err, SC_EINVAL, "the loss depends on no trainable "
			     "parameter: nothing to train");
out:
	free(names);
	free(values);
	free(grads);
	return rc;
}

static int group_rule(const char *name, const sc_tensor *value, void *ctx)
{
	(void)ctx;
	return optim_param_no_decay(name, value->rank);
}

static int make_optim(trainer *t, const trainer_options *o, sc_error *err)
{
	graph *g = t->m->graph;
	optim_param *ps = calloc((size_t)t->n_params, sizeof *ps);
	if (!ps)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	for (int i = 0; i < t->n_params; i++) {
		const graph_value *v = &g->values[t->param_values[i]];
		t->params[i] = &g->inits[v->init].tensor;
		ps[i].name = v->name;
		ps[i].value = t->params[i];
	}
	optim_group groups[2] = {{1.0, o->graph.optim.weight_decay}, {1.0, 0.0}};
	int rc = optim_assign_groups(t->n_params, ps, group_rule, NULL, err);
	if (!rc)
		rc = optim_create(&o->graph.optim, 2, groups, t->n_params, ps,
				  &t->opt, err);
	free(ps);
	return rc;
}

/* The data-parallel half of the step, and the same starting weights and
 * statistics on every rank. */
static int setup_dist(trainer *t, const trainer_options *o, sc_error *err)
{
	graph *g = t->m->graph;
	t->sync_bn = o->sync_bn;
	t->stat_ts = calloc((size_t)t->n_stats + 1, sizeof *t->stat_ts);
	if (!t->stat_ts)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	for (int i = 0; i < t->n_stats; i++)
		t->stat_ts[i] = &g->inits[g->values[t->stats[i].running].init].tensor;
	tdist_config c = {
		.m = t->m, .p = t->p,
		.supcon = o->graph.loss == TRAIN_LOSS_SUPCON,
		.temperature = o->graph.temperature,
		.base_temperature = o->graph.base_temperature,
		.features = t->first, .seed = t->labels,
		.views = o->views > 0 ? o->views : 1,
		.n_params = t->n_params, .grad_values = t->grad_values,
		.params = t->params, .bucket_bytes = o->bucket_bytes,
		.threads = o->threads,
	};
	int rc = tdist_create(&c, &t->dist, err);
	if (!rc)
		rc = tdist_broadcast(t->params, t->n_params, err);
	if (!rc)
		rc = tdist_broadcast(t->stat_ts, t->n_stats, err);
	return rc;
}

int trainer_create(graph_model *m, const trainer_options *o, trainer **out,
		   sc_error *err)
{
	*out = NULL;
	trainer *t = calloc(1, sizeof *t);
	if (!t) {
		graph_model_free(m);
		return sc_fail(err, SC_ENOMEM, "out of memory");
	}
	t->m = m;
	int rc = optim_config_check(&o->graph.optim, err);
	if (!rc)
		rc = build_graph(t, o, err);
	if (!rc)
		rc = graph_infer_shapes(m, err);
	if (rc)
		goto fail;
	int nb = 2 + t->n_params;
	t->params = calloc((size_t)t->n_params, sizeof *t->params);
	t->bind_names = calloc((size_t)nb, sizeof *t->bind_names);
	t->bind = calloc((size_t)nb, sizeof *t->bind);
	t->grads = calloc((size_t)t->n_params, sizeof *t->grads);
	if (!t->params || !t->bind_names || !t->bind || !t->grads) {
		rc = sc_fail(err, SC_ENOMEM, "out of memory");
		goto fail;
	}
	if ((rc = make_optim(t, o, err)))
		goto fail;
	graph *g = m->graph;
	t->bind_names[0] = g->values[t->input].name;
	t->bind_names[1] = g->values[t->labels].name;
	for (int i = 0; i < t->n_params; i++) {
		t->bind_names[2 + i] = g->values[t->param_values[i]].name;
		t->bind[2 + i] = t->params[i];
	}
	t->clip_norm = o->clip_grad_norm;
	t->clip_value = o->clip_grad_value;
	t->grad_norm = -1;
	size_t state = 0;
	for (int i = 0; i < t->n_params; i++)
		state += t->params[i]->nbytes;
	plan_options po = {
		.threads = o->threads,
		.check_numerics = o->check_numerics,
		.max_memory = o->max_memory,
		.mem_outside = state * (size_t)optim_state_count(t->opt),
	};
	if ((rc = plan_create(m, &po, &t->p, err)))
		goto fail;
	if (is_distributed(o) && (rc = setup_dist(t, o, err)))
		goto fail;
	*out = t;
	return SC_OK;
fail:
	trainer_free(t);
	return rc;
}

const char *trainer_input_name(const trainer *t)
{
	return t->m->graph->values[t->input].name;
}

/* The gradients are the plan's outputs, which stay put until the next
 * run; clipping rewrites them there, before the optimizer reads them. */
static double grad_sumsq(const sc_tensor *g)
{
	double s = 0;
	if (g->dtype == SC_DOUBLE)
		for (int64_t i = 0; i < g->numel; i++)
			s += ((const double *)g->data)[i] * ((const double *)g->data)[i];
	else
		for (int64_t i = 0; i < g->numel; i++)
			s += (double)((const float *)g->data)[i] *
			     ((const float *)g->data)[i];
	return s;
}

static void grad_scale_clamp(const sc_tensor *g, double scale, double limit)
{
	if (g->dtype == SC_DOUBLE) {
		double *d = g->data;
		for (int64_t i = 0; i < g->numel; i++) {
			double v = d[i] * scale;
			d[i] = limit > 0 ? fmin(fmax(v, -limit), limit) : v;
		}
	} else {
		float *d = g->data;
		float s = (float)scale, l = (float)limit;
		for (int64_t i = 0; i < g->numel; i++) {
			float v = d[i] * s;
			d[i] = limit > 0 ? fminf(fmaxf(v, -l), l) : v;
		}
	}
}

static int clip_grads(trainer *t, sc_error *err)
{
	if (t->clip_norm <= 0 && t->clip_value <= 0)
		return SC_OK;
	double scale = 1;
	if (t->clip_norm > 0) {
		double sq = 0;
		for (int i = 0; i < t->n_params; i++)
			sq += grad_sumsq(t->grads[i]);
		t->grad_norm = sqrt(sq);
		if (!isfinite(t->grad_norm))
			return sc_fail(err, SC_ENUMERIC, "the gradient norm is %s at "
				       "step %lld; the update was not applied",
				       isnan(t->grad_norm) ? "NaN" : "infinite",
				       (long long)t->steps + 1);
		double coef = t->clip_norm / (t->grad_norm + 1e-6);
		if (coef < 1)
			scale = coef;
	}
	if (scale == 1 && t->clip_value <= 0)
		return SC_OK;
	for (int i = 0; i < t->n_params; i++)
		grad_scale_clamp(t->grads[i], scale, t->clip_value);
	return SC_OK;
}

double trainer_grad_norm(const trainer *t)
{
	return t->grad_norm;
}

size_t trainer_memory_peak(const trainer *t)
{
	return plan_memory_peak(t->p);
}

/* plan_run for several ranks: the seed (SupCon) in the labels' slot, the
 * batch-norm statistics synchronised when asked, the gradients reduced
 * into t->grads. */
static int run_dist(trainer *t, const sc_tensor *labels, float *loss,
		    sc_error *err)
{
	const sc_tensor *seed;
	int rc = tdist_step_begin(t->dist, labels, &seed, err);
	if (rc)
		return rc;
	if (seed)
		t->bind[1] = seed;
	if (t->sync_bn)
		dist_bn_sync_begin();
	rc = plan_run(t->p, 2 + t->n_params, t->bind_names, t->bind, err);
	dist_bn_sync_end();
	if (!rc) {
		const sc_tensor *l = plan_output(t->p, 0);
		*loss = *(const float *)l->data;
	}
	int erc = tdist_step_end(t->dist, loss, t->grads, err);
	return rc ? rc : erc;
}

int trainer_step(trainer *t, const sc_tensor *x, const sc_tensor *labels,
		 double lr, float *loss, sc_error *err)
{
	t->bind[0] = x;
	t->bind[1] = labels;
	int rc;
	if (t->dist) {
		if ((rc = run_dist(t, labels, loss, err)))
			return rc;
	} else {
		if ((rc = plan_run(t->p, 2 + t->n_params, t->bind_names, t->bind,
				   err)))
			return rc;
		const sc_tensor *l = plan_output(t->p, 0);
		*loss = l->dtype == SC_DOUBLE ? (float)*(const double *)l->data :
			*(const float *)l->data;
		for (int i = 0; i < t->n_params; i++)
			t->grads[i] = plan_output(t->p, 2 + i);
	}
	if (!isfinite(*loss))
		return sc_fail(err, SC_ENUMERIC, "the loss is %s at step %lld; the "
			       "update was not applied", isnan(*loss) ? "NaN" :
			       "infinite", (long long)t->steps + 1);
	if ((rc = clip_grads(t, err)))
		return rc;
	if ((rc = optim_step(t->opt, lr, t->grads, err)))
		return rc;
	graph *g = t->m->graph;
	for (int i = 0; i < t->n_stats; i++) {
		const sc_tensor *src = plan_output(t->p, 2 + t->n_params + i);
		sc_tensor *dst = &g->inits[g->values[t->stats[i].running].init].tensor;
		if (src->nbytes != dst->nbytes || src->dtype != dst->dtype)
			return sc_fail(err, SC_EINTERNAL, "running statistic '%s' "
				       "changed shape", g->values[t->stats[i].running].name);
		memcpy(dst->data, src->data, src->nbytes);
	}
	/* per-rank statistics: keep the ranks' running statistics equal */
	if (t->dist && !t->sync_bn &&
	    (rc = tdist_average(t->dist, t->stat_ts, t->n_stats, err)))
		return rc;
	t->steps++;
	return SC_OK;
}

const sc_tensor *trainer_output(const trainer *t)
{
	return plan_output(t->p, 1);
}

int trainer_param_count(const trainer *t)
{
	return t->n_params;
}

const char *trainer_param_name(const trainer *t, int i)
{
	return i >= 0 && i < t->n_params ?
	       t->m->graph->values[t->param_values[i]].name : NULL;
}

int64_t trainer_param_elements(const trainer *t)
{
	int64_t n = 0;
	for (int i = 0; i < t->n_params; i++)
		n += t->params[i]->numel;
	return n;
}

optim *trainer_optim(trainer *t)
{
	return t->opt;
}

int64_t trainer_steps(const trainer *t)
{
	return t->steps;
}

/* The weights a checkpoint or an export carries: parameters and running
 * statistics (value indices into the training graph). */
static int weight_values(const trainer *t, int *v)
{
	int n = 0;
	for (int i = 0; i < t->n_params; i++)
		v[n++] = t->param_values[i];
	for (int i = 0; i < t->n_stats; i++)
		v[n++] = t->stats[i].running;
	return n;
}

int trainer_export_weights(const trainer *t, graph_model *dst, int *copied,
			   sc_error *err)
{
	const graph *g = t->m->graph;
	int *v = malloc(((size_t)t->n_params + t->n_stats + 1) * sizeof *v);
	if (!v)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	int n = weight_values(t, v), count = 0, rc = SC_OK;
	for (int i = 0; i < n && !rc; i++) {
		const graph_value *src = &g->values[v[i]];
		int d = graph_find_value(dst->graph, src->name);
		if (d < 0 || dst->graph->values[d].init < 0)
			continue;
		const sc_tensor *s = &g->inits[src->init].tensor;
		sc_tensor *o = &dst->graph->inits[dst->graph->values[d].init].tensor;
		if (o->nbytes != s->nbytes || o->dtype != s->dtype) {
			rc = sc_fail(err, SC_EINVAL, "weight '%s' has %lld elements in "
				     "the trained model and %lld in the target",
				     src->name, (long long)s->numel, (long long)o->numel);
			break;
		}
		if (o->owned) {
			memcpy(o->data, s->data, s->nbytes);
		} else {
			sc_tensor c;
			if ((rc = tensor_copy(&c, s, err)))
				break;
			*o = c;
		}
		count++;
	}
	free(v);
	if (copied)
		*copied = count;
	return rc;
}

/* --- checkpoints ------------------------------------------------------------ */

#define STEPS_ENTRY "trainer/param_steps"

int trainer_save(const trainer *t, const char *path, const char *meta,
		 sc_error *err)
{
	const graph *g = t->m->graph;
	int ns = optim_state_count(t->opt);
	int cap = t->n_params * (1 + ns) + t->n_stats + 2;
	const char **names = calloc((size_t)cap, sizeof *names);
	const sc_tensor **ts = calloc((size_t)cap, sizeof *ts);
	sc_tensor *states = calloc((size_t)t->n_params * ns + 1, sizeof *states);
	char **owned = calloc((size_t)t->n_params * ns + 1, sizeof *owned);
	int *v = malloc(((size_t)t->n_params + t->n_stats + 1) * sizeof *v);
	sc_tensor steps = {0};
	int rc = SC_OK, n = 0, n_owned = 0;
	if (!names || !ts || !states || !owned || !v) {
		rc = sc_fail(err, SC_ENOMEM, "out of memory");
		goto out;
	}
	int nw = weight_values(t, v);
	for (int i = 0; i < nw; i++) {
		names[n] = g->values[v[i]].name;
		ts[n++] = &g->inits[g->values[v[i]].init].tensor;
	}
	optim *opt = t->opt;
	for (int i = 0; i < t->n_params; i++) {
		for (int s = 0; s < ns; s++) {
			const sc_tensor *p = t->params[i];
			sc_tensor *st = &states[n_owned];
			/* a view of the optimizer's buffer, shaped like the param */
			*st = *p;
			st->owned = 0;
			st->data = optim_state(opt, i, s);
			const char *pname = trainer_param_name(t, i);
			const char *sname = optim_state_name(opt, s);
			size_t len = strlen(pname) + strlen(sname ? sname : "") + 16;
			if (!(owned[n_owned] = malloc(len))) {
				rc = sc_fail(err, SC_ENOMEM, "out of memory");
				goto out;
			}
			snprintf(owned[n_owned], len, "optim/%s/%s", pname,
				 sname ? sname : "state");
			names[n] = owned[n_owned];
			ts[n++] = st;
			n_owned++;
		}
	}
	int64_t np = t->n_params + 1;
	if ((rc = tensor_alloc(&steps, SC_INT64, 1, &np, STEPS_ENTRY, err)))
		goto out;
	int64_t *sp = steps.data;
	for (int i = 0; i < t->n_params; i++)
		sp[i] = optim_param_steps(opt, i);
	sp[t->n_params] = t->steps;
	names[n] = STEPS_ENTRY;
	ts[n++] = &steps;
	rc = ckpt_write(path, meta, n, names, ts, err);
out:
	for (int i = 0; i < n_owned; i++)
		free(owned[i]);
	tensor_free(&steps);
	free(owned);
	free(states);
	free(names);
	free(ts);
	free(v);
	return rc;
}

static int need(const ckpt *c, const char *path, const char *name,
		const sc_tensor *like, const sc_tensor **out, sc_error *err)
{
	const sc_tensor *e = ckpt_find(c, name);
	if (!e)
		return sc_fail(err, SC_EINVAL, "%s: checkpoint has no '%s'; it was "
			       "written for another model or optimizer", path, name);
	if (e->dtype != like->dtype || e->numel != like->numel)
		return sc_fail(err, SC_EINVAL, "%s: checkpoint's '%s' has %lld "
			       "elements, the model's %lld", path, name,
			       (long long)e->numel, (long long)like->numel);
	*out = e;
	return SC_OK;
}

int trainer_restore(trainer *t, const ckpt *c, const char *path,
		    sc_error *err)
{
	const graph *g = t->m->graph;
	int ns = optim_state_count(t->opt);
	int *v = malloc(((size_t)t->n_params + t->n_stats + 1) * sizeof *v);
	if (!v)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	int nw = weight_values(t, v), rc = SC_OK;
	/* check everything first, then copy: a bad file changes nothing */
	for (int pass = 0; pass < 2 && !rc; pass++) {
		for (int i = 0; i < nw && !rc; i++) {
			const sc_tensor *e = NULL;
			sc_tensor *dst = &g->inits[g->values[v[i]].init].tensor;
			rc = need(c, path, g->values[v[i]].name, dst, &e, err);
			if (!rc && pass)
				memcpy(dst->data, e->data, e->nbytes);
		}
		for (int i = 0; i < t->n_params && !rc; i++) {
			for (int s = 0; s < ns && !rc; s++) {
				char name[1024];
				const char *sname = optim_state_name(t->opt, s);
				snprintf(name, sizeof name, "optim/%s/%s",
					 trainer_param_name(t, i), sname ? sname : "state");
				const sc_tensor *e = NULL;
				rc = need(c, path, name, t->params[i], &e, err);
				if (!rc && pass)
					memcpy(optim_state(t->opt, i, s), e->data, e->nbytes);
			}
		}
		const sc_tensor *st = ckpt_find(c, STEPS_ENTRY);
		if (!rc && (!st || st->dtype != SC_INT64 ||
			    st->numel != t->n_params + 1))
			rc = sc_fail(err, SC_EINVAL, "%s: checkpoint's step counts do "
				     "not fit this model", path);
		for (int i = 0; i < t->n_params && !rc && pass; i++)
			rc = optim_set_param_steps(t->opt, i,
						   ((const int64_t *)st->data)[i], err);
		if (!rc && pass)
			t->steps = ((const int64_t *)st->data)[t->n_params];
	}
	free(v);
	return rc;
}
