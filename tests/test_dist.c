/* test_dist.c: the single-process pieces of data-parallel training
 * (runtime/dist.h, trainer_dist.h): what each rank loads, how batch-norm
 * statistics of the ranks combine, the plan's node hook that starts
 * communication mid-step, and the seeded loss through which a rank's
 * backward starts from its rows of the global SupCon gradient.  The
 * references are computed here directly: the unsharded batch, the
 * statistics of all values at once, dL/dW = seed^T x for y = x W^T.
 * tests/dist_check.py runs the real thing under mpirun. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "model_builder.h"
#include "runtime/autodiff.h"
#include "runtime/data/loader.h"
#include "runtime/dist.h"
#include "runtime/infer.h"
#include "runtime/plan.h"
#include "runtime/train_graph.h"

static dataset *open_synthetic(void)
{
	dataset_options o;
	dataset_options_init(&o);
	o.synthetic_train = 40;
	o.synthetic_test = 4;
	dataset *d;
	sc_error err = {0};
	if (dataset_open("synthetic:1x8x8:3", DATASET_TRAIN, &o, &d, &err))
		fail_msg("dataset_open: %s", err.msg);
	return d;
}

static loader *open_loader(const dataset *d, const aug_policy *aug, int rank,
			   int count)
{
	loader_options o;
	loader_options_init(&o);
	o.batch = 12;
	o.views = 2;
	o.aug = aug;
	o.seed = 5;
	o.drop_last = 1;
	o.workers = rank % 2;   /* the worker count must not matter */
	o.shard_rank = rank;
	o.shard_count = count;
	loader *l;
	sc_error err = {0};
	if (loader_create(d, NULL, d->n, &o, &l, &err))
		fail_msg("loader_create: %s", err.msg);
	return l;
}

/* Rank r of K gets images [r B / K, (r + 1) B / K) of every global batch,
 * both views, with the bytes one process builds for them. */
static void test_loader_shards(void **state)
{
	(void)state;
	dataset *d = open_synthetic();
	aug_policy aug;
	assert_int_equal(aug_parse("simclr", &aug, NULL), SC_OK);
	sc_error err = {0};
	int64_t chw = d->c * d->h * d->w;
	for (int k = 2; k <= 3; k++) {
		loader *full = open_loader(d, &aug, 0, 1);
		loader *shard[3];
		for (int r = 0; r < k; r++)
			shard[r] = open_loader(d, &aug, r, k);
		assert_int_equal(loader_batches_per_epoch(shard[k - 1]),
				 loader_batches_per_epoch(full));
		assert_int_equal(loader_start(full, 1, 0, &err), SC_OK);
		for (int r = 0; r < k; r++)
			assert_int_equal(loader_start(shard[r], 1, 0, &err), SC_OK);
		loader_batch *fb, *sb;
		int batches = 0;
		while (loader_next(full, &fb, &err) == 1) {
			int64_t big = fb->images, covered = 0;
			for (int r = 0; r < k; r++) {
				assert_int_equal(loader_next(shard[r], &sb, &err), 1);
				int64_t lo = r * big / k, n = sb->images;
				assert_int_equal(n, (r + 1) * big / k - lo);
				assert_int_equal(sb->x.dims[0], 2 * n);
				covered += n;
				for (int v = 0; v < 2; v++) {
					for (int64_t i = 0; i < n; i++) {
						int64_t fr = v * big + lo + i, sr = v * n + i;
						assert_memory_equal((float *)sb->x.data + sr * chw,
								    (float *)fb->x.data + fr * chw,
								    (size_t)chw * sizeof(float));
						assert_int_equal(((int64_t *)sb->index.data)[sr],
								 ((int64_t *)fb->index.data)[fr]);
						assert_int_equal(((int64_t *)sb->labels.data)[sr],
								 ((int64_t *)fb->labels.data)[fr]);
					}
				}
			}
			assert_int_equal(covered, big);
			batches++;
		}
		assert_int_equal(batches, loader_batches_per_epoch(full));
		for (int r = 0; r < k; r++) {
			assert_int_equal(loader_next(shard[r], &sb, &err), 0);
			loader_free(shard[r]);
		}
		loader_free(full);
	}
	/* a shard that does not exist */
	loader_options o;
	loader_options_init(&o);
	o.batch = 4;
	o.shard_rank = 2;
	o.shard_count = 2;
	loader *l = NULL;
	assert_int_equal(loader_create(d, NULL, d->n, &o, &l, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "shard 2 of 2"));
	dataset_free(d);
}

/* Per-rank means and biased variances of uneven parts combine into those
 * of all the values, in double. */
static void test_stats_combine(void **state)
{
	(void)state;
	enum { C = 3, RANKS = 3 };
	const int counts[RANKS] = {5, 11, 2};
	double rows[RANKS][1 + 2 * C];
	double all_sum[C] = {0}, all_sq[C] = {0};
	double vals[RANKS][11][C];
	unsigned seed = 7;
	int total = 0;
	for (int r = 0; r < RANKS; r++) {
		rows[r][0] = counts[r];
		for (int ch = 0; ch < C; ch++) {
			double s = 0;
			for (int i = 0; i < counts[r]; i++) {
				seed = seed * 1664525u + 1013904223u;
				vals[r][i][ch] = 3.0 * ch + r + (double)(seed >> 8) / (1 << 24);
				s += vals[r][i][ch];
				all_sum[ch] += vals[r][i][ch];
			}
			double m = s / counts[r], v = 0;
			for (int i = 0; i < counts[r]; i++)
				v += (vals[r][i][ch] - m) * (vals[r][i][ch] - m);
			rows[r][1 + ch] = m;
			rows[r][1 + C + ch] = v / counts[r];
		}
		total += counts[r];
	}
	double mean[C], var[C];
	dist_combine_stats(&rows[0][0], RANKS, C, mean, var);
	for (int ch = 0; ch < C; ch++) {
		double m = all_sum[ch] / total;
		for (int r = 0; r < RANKS; r++)
			for (int i = 0; i < counts[r]; i++)
				all_sq[ch] += (vals[r][i][ch] - m) * (vals[r][i][ch] - m);
		assert_true(fabs(mean[ch] - m) < 1e-12);
		assert_true(fabs(var[ch] - all_sq[ch] / total) < 1e-12);
	}
}

/* Without a launcher the world is this process: collectives are copies
 * and no-ops, and batch norm is never synchronised. */
static void test_single_process_world(void **state)
{
	(void)state;
	sc_error err = {0};
	assert_int_equal(dist_init(&err), SC_OK);
	assert_int_equal(dist_size(), 1);
	assert_int_equal(dist_rank(), 0);
	int64_t in[3] = {4, 5, 6}, out[3] = {0};
	assert_int_equal(dist_allgather(in, sizeof in, out, &err), SC_OK);
	assert_memory_equal(in, out, sizeof in);
	double v[2] = {1.5, -2};
	assert_int_equal(dist_allreduce_sum_f64(v, 2, &err), SC_OK);
	assert_true(v[0] == 1.5 && v[1] == -2);
	dist_bn_sync_begin();
	assert_int_equal(dist_bn_sync_active(), 0);
	dist_bn_sync_end();
	assert_int_equal(dist_bytes_sent(), 0);
	dist_finalize();
}

/* --- the plan's node hook ------------------------------------------------- */

typedef struct hook_log {
	const plan *p;
	int seen[8], order[8], n;
	int stop_at;            /* node whose callback fails, -1 none */
	int y;                  /* value checked readable after its node */
	float y0;
} hook_log;

static int record(void *ctx, int node, sc_error *err)
{
	hook_log *h = ctx;
	h->seen[node]++;
	h->order[h->n++] = node;
	const sc_tensor *t = plan_value(h->p, h->y);
	if (node == 0) {
		assert_non_null(t);
		h->y0 = ((const float *)t->data)[0];
	}
	if (node == h->stop_at)
		return sc_fail(err, SC_EIO, "stopped at node %d", node);
	return SC_OK;
}

static void test_plan_node_hook(void **state)
{
	(void)state;
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "2");
	add(g, "Relu", "relu", "x", "y");
	add(g, "Neg", "neg", "y", "z");
	add(g, "Add", "add", "y,z", "w");
	output(g, "w");
	output(g, "y");
	plan *p;
	sc_error err = {0};
	plan_options po = {.threads = 1};
	assert_int_equal(plan_create(m, &po, &p, &err), SC_OK);
	hook_log h = {.p = p, .stop_at = -1, .y = graph_find_value(g, "y")};
	plan_set_node_callback(p, record, &h);
	float xd[2] = {3, -1};
	sc_tensor x = {0};
	int64_t dims[1] = {2};
	tensor_set_shape(&x, SC_FLOAT, 1, dims, "x", &err);
	x.data = xd;
	const char *name = "x";
	const sc_tensor *in[1] = {&x};
	for (int run = 0; run < 2; run++) {   /* first run and arena run */
		memset(h.seen, 0, sizeof h.seen);
		h.n = 0;
		assert_int_equal(plan_run(p, 1, &name, in, &err), SC_OK);
		assert_int_equal(h.n, 3);
		for (int i = 0; i < 3; i++)
			assert_int_equal(h.seen[i], 1);
		assert_int_equal(h.order[0], 0);   /* relu before its readers */
		assert_true(h.y0 == 3.0f);
	}
	h.stop_at = 1;
	h.n = 0;
	assert_int_equal(plan_run(p, 1, &name, in, &err), SC_EIO);
	assert_string_equal(err.msg, "stopped at node 1");
	assert_int_equal(h.n, 2);
	plan_set_node_callback(p, NULL, NULL);
	h.n = 0;
	assert_int_equal(plan_run(p, 1, &name, in, &err), SC_OK);
	assert_int_equal(h.n, 0);
	plan_free(p);
	graph_model_free(m);
}

/* --- the seeded loss ------------------------------------------------------ */

/* y = x W^T, loss = sum(y * seed): d loss / d W = seed^T x exactly the
 * backward a rank runs from its rows of the global gradient. */
static void test_seed_loss(void **state)
{
	(void)state;
	enum { N = 3, D = 4, F = 2 };
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "N,4");
	int64_t wd[2] = {F, D};
	init_tensor(g, "W", SC_FLOAT, 2, wd, NULL);
	float *w = g->inits[g->values[val(g, "W")].init].tensor.data;
	for (int i = 0; i < F * D; i++)
		w[i] = 0.25f * (float)(i - 3);
	attr_int(add(g, "Gemm", "fc", "x,W", "y"), "transB", 1);
	output(g, "y");
	sc_error err = {0};
	train_graph_options o;
	train_graph_options_init(&o);
	o.loss = TRAIN_LOSS_SEED;
	int loss, grad;
	const char *wrt[1] = {"W"};
	assert_int_equal(graph_infer_shapes(m, &err), SC_OK);
	if (train_graph_add_loss(m, &o, &loss, &err) ||
	    graph_infer_shapes(m, &err) ||
	    autodiff_build(m, "loss", 1, wrt, &grad, &err))
		fail_msg("seeded loss: %s", err.msg);
	assert_true(grad >= 0);
	graph_clear_outputs(g);
	assert_int_equal(graph_add_output(g, loss, &err), SC_OK);
	assert_int_equal(graph_add_output(g, grad, &err), SC_OK);
	plan *p;
	plan_options po = {.threads = 1};
	if (plan_create(m, &po, &p, &err))
		fail_msg("plan_create: %s", err.msg);
	float xd[N * D], sd[N * F];
	for (int i = 0; i < N * D; i++)
		xd[i] = 0.1f * (float)(i % 7) - 0.2f;
	for (int i = 0; i < N * F; i++)
		sd[i] = 0.5f - 0.3f * (float)i;
	sc_tensor x = {0}, s = {0};
	int64_t xdim[2] = {N, D}, sdim[2] = {N, F};
	tensor_set_shape(&x, SC_FLOAT, 2, xdim, "x", &err);
	tensor_set_shape(&s, SC_FLOAT, 2, sdim, TRAIN_SEED_INPUT, &err);
	x.data = xd;
	s.data = sd;
	const char *names_in[2] = {"x", TRAIN_SEED_INPUT};
	const sc_tensor *in[2] = {&x, &s};
	if (plan_run(p, 2, names_in, in, &err))
		fail_msg("plan_run: %s", err.msg);
	const float *dw = plan_output(p, 1)->data;
	double l = 0;
	for (int n = 0; n < N; n++)
		for (int f = 0; f < F; f++) {
			double y = 0;
			for (int k = 0; k < D; k++)
				y += (double)xd[n * D + k] * w[f * D + k];
			l += y * sd[n * F + f];
		}
	assert_true(fabs(*(const float *)plan_output(p, 0)->data - l) < 1e-5);
	for (int f = 0; f < F; f++)
		for (int k = 0; k < D; k++) {
			double ref = 0;
			for (int n = 0; n < N; n++)
				ref += (double)sd[n * F + f] * xd[n * D + k];
			assert_true(fabs(dw[f * D + k] - ref) < 1e-5);
		}
	plan_free(p);
	graph_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loader_shards),
		cmocka_unit_test(test_stats_combine),
		cmocka_unit_test(test_single_process_world),
		cmocka_unit_test(test_plan_node_hook),
		cmocka_unit_test(test_seed_loss),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
