/* trainer_dist.c: global-batch SupCon and bucketed gradient all-reduce for
 * a trainer step over several ranks; see trainer_dist.h. */
#include "trainer_dist.h"

#include <stdlib.h>
#include <string.h>

#include "autodiff.h"
#include "dist.h"
#include "infer.h"
#include "train_graph.h"

struct tdist {
	tdist_config c;
	int rank, size;
	/* parameters whose gradient node n writes: node_params[node_first[n]
	 * .. node_first[n + 1]) */
	int *node_first, *node_params;
	int feature_node;       /* writes the features (supcon) */
	int seed_reader;        /* the first node that reads the seed */
	int seeded;             /* this step's seed is written */

	/* gradient buckets */
	float *flat;
	int64_t flat_n, cursor, bucket_start, bucket_elems;
	int64_t *off;
	unsigned char *packed;
	sc_tensor *views;       /* grads[i] handed out: flat + off[i] */

	/* global SupCon */
	graph_model *lm;        /* features, labels -> loss, d features */
	plan *lp;
	int64_t b, rows, dim;   /* images, rows (views * b) of this rank */
	sc_tensor seed_t;       /* [rows, dim], owned */
	float *raw_f, *glob_f;  /* [size * rows, dim] */
	int64_t *raw_l, *glob_l;/* [size * rows] */
	float loss;

	float *avg;             /* tdist_average's buffer */
	int64_t avg_cap;
};

/* --- set-up ------------------------------------------------------------------ */

static int map_gradients(tdist *d, sc_error *err)
{
	const graph *g = d->c.m->graph;
	int nn = g->n_nodes, np = d->c.n_params;
	d->node_first = calloc((size_t)nn + 2, sizeof *d->node_first);
	d->node_params = malloc(((size_t)np + 1) * sizeof *d->node_params);
	if (!d->node_first || !d->node_params)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	for (int i = 0; i < np; i++) {
		int prod = g->values[d->c.grad_values[i]].producer;
		if (prod >= 0)
			d->node_first[prod + 1]++;
	}
	for (int n = 0; n < nn; n++)
		d->node_first[n + 1] += d->node_first[n];
	int *fill = calloc((size_t)nn + 1, sizeof *fill);
	if (!fill)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	for (int i = 0; i < np; i++) {
		int prod = g->values[d->c.grad_values[i]].producer;
		if (prod >= 0)
			d->node_params[d->node_first[prod] + fill[prod]++] = i;
	}
	free(fill);
	return SC_OK;
}

static int alloc_flat(tdist *d, sc_error *err)
{
	int np = d->c.n_params;
	for (int i = 0; i < np; i++) {
		const sc_tensor *p = d->c.params[i];
		if (p->dtype != SC_FLOAT)
			return sc_fail(err, SC_EUNSUPPORTED, "parameter '%s' is %s; "
				       "distributed training all-reduces float32 "
				       "gradients only",
				       d->c.m->graph->values[d->c.grad_values[i]].name,
				       tensor_dtype_name(p->dtype));
		d->flat_n += p->numel;
	}
	d->flat = malloc(((size_t)d->flat_n + 1) * sizeof *d->flat);
	d->off = calloc((size_t)np + 1, sizeof *d->off);
	d->packed = calloc((size_t)np + 1, 1);
	d->views = calloc((size_t)np + 1, sizeof *d->views);
	if (!d->flat || !d->off || !d->packed || !d->views)
		return sc_fail(err, SC_ENOMEM, "out of memory for %lld gradient "
			       "elements", (long long)d->flat_n);
	size_t bytes = d->c.bucket_bytes ? d->c.bucket_bytes : (size_t)4 << 20;
	d->bucket_elems = (int64_t)(bytes / sizeof(float));
	if (d->bucket_elems < 1)
		d->bucket_elems = 1;
	return dist_reserve(np + 1, err);
}

/* features [M, D] and labels [M] -> SupConLoss -> loss, d loss / d features:
 * the training graph's own loss and its gradient rule, on the gathered
 * batch. */
static int make_loss_plan(tdist *d, sc_error *err)
{
	graph_model *m = graph_model_new();
	if (!m)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	d->lm = m;
	m->ir_version = 8;
	graph *g = m->graph;
	int64_t dims[2] = {-1, d->dim};
	const char *params[2] = {"M", NULL};
	int rc = graph_model_add_opset(m, "", 17, err);
	int x = rc ? -1 : graph_intern_value(g, "features", err);
	if (x < 0)
		return err->code;
	if ((rc = graph_set_tensor_type(g, x, SC_FLOAT, 2, dims, params, err)) ||
	    (rc = graph_add_input(g, x, err)) || (rc = graph_add_output(g, x, err)))
		return rc;
	train_graph_options o;
	train_graph_options_init(&o);
	o.loss = TRAIN_LOSS_SUPCON;
	o.temperature = d->c.temperature;
	o.base_temperature = d->c.base_temperature;
	int loss, grad;
	const char *wrt[1] = {"features"};
	if ((rc = train_graph_add_loss(m, &o, &loss, err)) ||
	    (rc = graph_infer_shapes(m, err)) ||
	    (rc = autodiff_build(m, "loss", 1, wrt, &grad, err)))
		return rc;
	if (grad < 0)
		return sc_fail(err, SC_EINTERNAL, "the SupCon loss has no gradient");
	graph_clear_outputs(g);
	if ((rc = graph_add_output(g, loss, err)) ||
	    (rc = graph_add_output(g, grad, err)))
		return rc;
	plan_options po = {.threads = d->c.threads};
	return plan_create(m, &po, &d->lp, err);
}

/* The node that writes the features, and the first node reading the seed
 * (whose run must come after the seed is written). */
static int find_nodes(tdist *d, sc_error *err)
{
	const graph *g = d->c.m->graph;
	d->feature_node = g->values[d->c.features].producer;
	if (d->feature_node < 0)
		return sc_fail(err, SC_EINVAL, "the features '%s' are not computed "
			       "by the model", g->values[d->c.features].name);
	const graph_type *t = &g->values[d->c.features].type;
	d->dim = t->rank == 2 ? t->dims[1].value : -1;
	if (d->dim <= 0)
		return sc_fail(err, SC_EINVAL, "distributed SupCon needs the width "
			       "of the features '%s' known from the model",
			       g->values[d->c.features].name);
	d->seed_reader = -1;
	for (int n = 0; n < g->n_nodes && d->seed_reader < 0; n++)
		for (int j = 0; j < g->nodes[n].n_inputs; j++)
			if (g->nodes[n].inputs[j] == d->c.seed)
				d->seed_reader = n;
	return SC_OK;
}

int tdist_create(const tdist_config *c, tdist **out, sc_error *err)
{
	*out = NULL;
	tdist *d = calloc(1, sizeof *d);
	if (!d)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	d->c = *c;
	d->rank = dist_rank();
	d->size = dist_size();
	if (d->c.views < 1)
		d->c.views = 1;
	int rc = map_gradients(d, err);
	if (!rc)
		rc = alloc_flat(d, err);
	if (!rc && c->supcon && !(rc = find_nodes(d, err)))
		rc = make_loss_plan(d, err);
	if (rc) {
		tdist_free(d);
		return rc;
	}
	plan_set_node_callback(c->p, tdist_on_node, d);
	*out = d;
	return SC_OK;
}

static void free_batch(tdist *d)
{
	tensor_free(&d->seed_t);
	free(d->raw_f);
	free(d->glob_f);
	free(d->raw_l);
	free(d->glob_l);
	d->raw_f = d->glob_f = NULL;
	d->raw_l = d->glob_l = NULL;
	d->rows = 0;
}

void tdist_free(tdist *d)
{
	if (!d)
		return;
	if (d->c.p)
		plan_set_node_callback(d->c.p, NULL, NULL);
	free_batch(d);
	plan_free(d->lp);
	graph_model_free(d->lm);
	free(d->node_first);
	free(d->node_params);
	free(d->flat);
	free(d->off);
	free(d->packed);
	free(d->views);
	free(d->avg);
	free(d);
}

/* --- the global batch's row order ------------------------------------------- */

/* Rank r holds `views` blocks of b rows; one process holds, for each view,
 * the blocks of ranks 0, 1, ... one after the other (SupContrast's
 * torch.cat order over the global batch). */
static void rows_to_global(const void *raw, void *glob, int64_t b, int views,
			   int size, size_t row_bytes)
{
	size_t block = (size_t)b * row_bytes;
	for (int r = 0; r < size; r++)
		for (int v = 0; v < views; v++)
			memcpy((char *)glob + (size_t)(v * size + r) * block,
			       (const char *)raw + (size_t)(r * views + v) * block,
			       block);
}

static void own_rows(const void *glob, void *mine, int64_t b, int views,
		     int size, int rank, size_t row_bytes)
{
	size_t block = (size_t)b * row_bytes;
	for (int v = 0; v < views; v++)
		memcpy((char *)mine + (size_t)v * block,
		       (const char *)glob + (size_t)(v * size + rank) * block, block);
}

/* --- the step ------------------------------------------------------------------ */

static int size_batch(tdist *d, int64_t rows, sc_error *err)
{
	if (rows == d->rows)
		return SC_OK;
	free_batch(d);
	if (rows % d->c.views)
		return sc_fail(err, SC_EINVAL, "a batch of %lld rows is not %d equal "
			       "views", (long long)rows, d->c.views);
	int64_t dims[2] = {rows, d->dim};
	size_t all = (size_t)rows * (size_t)d->size;
	int rc = tensor_alloc(&d->seed_t, SC_FLOAT, 2, dims, TRAIN_SEED_INPUT, err);
	if (rc)
		return rc;
	d->raw_f = malloc(all * (size_t)d->dim * sizeof(float));
	d->glob_f = malloc(all * (size_t)d->dim * sizeof(float));
	d->raw_l = malloc(all * sizeof(int64_t));
	d->glob_l = malloc(all * sizeof(int64_t));
	if (!d->raw_f || !d->glob_f || !d->raw_l || !d->glob_l) {
		free_batch(d);
		return sc_fail(err, SC_ENOMEM, "out of memory for a global batch "
			       "of %lld rows", (long long)all);
	}
	d->rows = rows;
	d->b = rows / d->c.views;
	return SC_OK;
}

int tdist_step_begin(tdist *d, const sc_tensor *labels,
		     const sc_tensor **seed, sc_error *err)
{
	d->cursor = d->bucket_start = 0;
	memset(d->packed, 0, (size_t)d->c.n_params);
	d->seeded = 0;
	*seed = NULL;
	if (!d->c.supcon)
		return SC_OK;
	if (labels->dtype != SC_INT64 || labels->rank != 1)
		return sc_fail(err, SC_EINVAL, "labels: expected int64 [N]");
	int rc = size_batch(d, labels->dims[0], err);
	if (rc)
		return rc;
	if ((rc = dist_allgather(labels->data, (size_t)d->rows * sizeof(int64_t),
				 d->raw_l, err)))
		return rc;
	rows_to_global(d->raw_l, d->glob_l, d->b, d->c.views, d->size,
		       sizeof(int64_t));
	*seed = &d->seed_t;
	return SC_OK;
}

/* The features are final: the global loss, and this rank's rows of its
 * gradient into the seed. */
static int exchange_features(tdist *d, sc_error *err)
{
	const sc_tensor *f = plan_value(d->c.p, d->c.features);
	if (!f || f->dtype != SC_FLOAT || f->rank != 2 || f->dims[0] != d->rows ||
	    f->dims[1] != d->dim)
		return sc_fail(err, SC_EINTERNAL, "the features are not a float "
			       "[%lld, %lld] tensor", (long long)d->rows,
			       (long long)d->dim);
	size_t row = (size_t)d->dim * sizeof(float);
	int rc = dist_allgather(f->data, (size_t)d->rows * row, d->raw_f, err);
	if (rc)
		return rc;
	rows_to_global(d->raw_f, d->glob_f, d->b, d->c.views, d->size, row);
	int64_t m = d->rows * d->size;
	sc_tensor x = {0}, y = {0};
	int64_t xd[2] = {m, d->dim};
	if ((rc = tensor_set_shape(&x, SC_FLOAT, 2, xd, "features", err)) ||
	    (rc = tensor_set_shape(&y, SC_INT64, 1, &m, "labels", err)))
		return rc;
	x.data = d->glob_f;
	y.data = d->glob_l;
	const char *names[2] = {"features", "labels"};
	const sc_tensor *in[2] = {&x, &y};
	if ((rc = plan_run(d->lp, 2, names, in, err))) {
		sc_error_prefix(err, "global SupCon loss: ");
		return rc;
	}
	const sc_tensor *l = plan_output(d->lp, 0), *g = plan_output(d->lp, 1);
	d->loss = *(const float *)l->data;
	own_rows(g->data, d->seed_t.data, d->b, d->c.views, d->size, d->rank, row);
	d->seeded = 1;
	return SC_OK;
}

static void launch_bucket(tdist *d, sc_error *err, int *rc)
{
	int64_t n = d->cursor - d->bucket_start;
	if (n <= 0 || *rc)
		return;
	*rc = dist_iallreduce_sum_f32(d->flat + d->bucket_start, n, err);
	d->bucket_start = d->cursor;
}

static int pack_gradient(tdist *d, int i, sc_error *err)
{
	const sc_tensor *g = plan_value(d->c.p, d->c.grad_values[i]);
	const sc_tensor *p = d->c.params[i];
	if (!g || g->dtype != SC_FLOAT || g->numel != p->numel)
		return sc_fail(err, SC_EINTERNAL, "the gradient '%s' is not readable "
			       "as %lld floats",
			       d->c.m->graph->values[d->c.grad_values[i]].name,
			       (long long)p->numel);
	memcpy(d->flat + d->cursor, g->data, g->nbytes);
	d->off[i] = d->cursor;
	d->cursor += g->numel;
	d->packed[i] = 1;
	int rc = SC_OK;
	if (d->cursor - d->bucket_start >= d->bucket_elems)
		launch_bucket(d, err, &rc);
	return rc;
}

int tdist_on_node(void *ctx, int node, sc_error *err)
{
	tdist *d = ctx;
	int rc = SC_OK;
	if (d->c.supcon && node == d->feature_node)
		rc = exchange_features(d, err);
	if (!rc && d->c.supcon && node == d->seed_reader && !d->seeded)
		rc = sc_fail(err, SC_EINTERNAL, "the plan ran the seeded loss "
			     "before the features were exchanged");
	for (int k = d->node_first[node]; k < d->node_first[node + 1] && !rc; k++)
		rc = pack_gradient(d, d->node_params[k], err);
	dist_progress();
	return rc;
}

int tdist_step_end(tdist *d, float *loss, const sc_tensor **grads,
		   sc_error *err)
{
	int rc = SC_OK;
	for (int i = 0; i < d->c.n_params && !rc; i++)
		if (!d->packed[i])
			rc = pack_gradient(d, i, err);
	launch_bucket(d, err, &rc);
	/* wait even after a failure: the buffers must not be freed under MPI */
	int wrc = dist_wait_all(err);
	if (rc || (rc = wrc))
		return rc;
	if (d->c.supcon) {
		if (!d->seeded)
			return sc_fail(err, SC_EINTERNAL, "the features were never "
				       "exchanged in this step");
		*loss = d->loss;
	} else {
		float inv = 1.0f / (float)d->size;
		for (int64_t i = 0; i < d->flat_n; i++)
			d->flat[i] *= inv;
		double l = *loss;
		if ((rc = dist_allreduce_sum_f64(&l, 1, err)))
			return rc;
		*loss = (float)(l / d->size);
	}
	for (int i = 0; i < d->c.n_params; i++) {
		d->views[i] = *d->c.params[i];
		d->views[i].owned = 0;
		d->views[i].data = d->flat + d->off[i];
		grads[i] = &d->views[i];
	}
	return SC_OK;
}

/* --- whole tensors ------------------------------------------------------------ */

int tdist_average(tdist *d, sc_tensor *const *ts, int n, sc_error *err)
{
	int64_t total = 0;
	for (int i = 0; i < n; i++) {
		if (ts[i]->dtype != SC_FLOAT)
			return sc_fail(err, SC_EUNSUPPORTED, "a running statistic is "
				       "%s; ranks average float32 statistics only",
				       tensor_dtype_name(ts[i]->dtype));
		total += ts[i]->numel;
	}
	if (total > d->avg_cap) {
		float *a = realloc(d->avg, (size_t)total * sizeof *a);
		if (!a)
			return sc_fail(err, SC_ENOMEM, "out of memory");
		d->avg = a;
		d->avg_cap = total;
	}
	int64_t at = 0;
	for (int i = 0; i < n; i++) {
		memcpy(d->avg + at, ts[i]->data, ts[i]->nbytes);
		at += ts[i]->numel;
	}
	int rc = dist_allreduce_sum_f32(d->avg, total, err);
	if (rc)
		return rc;
	float inv = 1.0f / (float)d->size;
	at = 0;
	for (int i = 0; i < n; i++) {
		float *v = ts[i]->data;
		for (int64_t k = 0; k < ts[i]->numel; k++)
			v[k] = d->avg[at + k] * inv;
		at += ts[i]->numel;
	}
	return SC_OK;
}

int tdist_broadcast(sc_tensor *const *ts, int n, sc_error *err)
{
	int rc = SC_OK;
	for (int i = 0; i < n && !rc; i++)
		rc = dist_bcast(ts[i]->data, ts[i]->nbytes, 0, err);
	return rc;
}
