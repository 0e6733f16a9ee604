/* test_trainer.c: the training session's gradient clipping, numerics
 * check and memory limit (runtime/trainer.h).  The reference for clipping
 * is the same step unclipped: with plain SGD at lr 1 a parameter moves by
 * exactly minus its gradient, so the clipped step must move it by the
 * gradient scaled as torch.nn.utils.clip_grad_norm_ scales it
 * (max_norm / (norm + 1e-6) when below 1), or clamped as
 * clip_grad_value_ clamps it. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "model_builder.h"
#include "runtime/trainer.h"

#define N 6
#define D 8
#define K 4

static void fill(float *d, int64_t n, unsigned seed, float lo, float hi)
{
	for (int64_t i = 0; i < n; i++) {
		seed = seed * 1664525u + 1013904223u;
		d[i] = lo + (hi - lo) * (float)((seed >> 8) & 0xffff) / 65536.0f;
	}
}

/* logits = x W^T + b, W [K, D], b [K] */
static graph_model *linear_model(void)
{
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "N,8");
	int64_t wd[] = {K, D}, bd[] = {K};
	init_tensor(g, "W", SC_FLOAT, 2, wd, NULL);
	init_tensor(g, "b", SC_FLOAT, 1, bd, NULL);
	fill(g->inits[g->values[val(g, "W")].init].tensor.data, K * D, 1, -1, 1);
	fill(g->inits[g->values[val(g, "b")].init].tensor.data, K, 2, -1, 1);
	attr_int(add(g, "Gemm", "fc", "x,W,b", "logits"), "transB", 1);
	output(g, "logits");
	return m;
}

static trainer *make_trainer(const trainer_options *base)
{
	trainer_options o = *base;
	o.graph.loss = TRAIN_LOSS_CE;
	optim_config_init(&o.graph.optim, OPTIM_SGD);
	o.graph.optim.lr = 1;
	o.graph.optim.weight_decay = 0;
	o.threads = 1;
	trainer *t;
	sc_error err = {0};
	if (trainer_create(linear_model(), &o, &t, &err))
		fail_msg("trainer_create: %s", err.msg);
	return t;
}

typedef struct batch {
	sc_tensor x, y;
} batch;

static void make_batch(batch *b)
{
	sc_error err = {0};
	int64_t xd[] = {N, D}, yd[] = {N};
	assert_int_equal(tensor_alloc(&b->x, SC_FLOAT, 2, xd, "x", &err), SC_OK);
	assert_int_equal(tensor_alloc(&b->y, SC_INT64, 1, yd, "labels", &err), SC_OK);
	fill(b->x.data, N * D, 3, -2, 2);
	for (int i = 0; i < N; i++)
		((int64_t *)b->y.data)[i] = i % K;
}

/* Parameters after one step, W then b, in out[K * D + K]. */
static double step_params(trainer *t, const batch *b, float *out)
{
	sc_error err = {0};
	float loss;
	if (trainer_step(t, &b->x, &b->y, 1.0, &loss, &err))
		fail_msg("trainer_step: %s", err.msg);
	graph_model *dst = linear_model();
	int copied = 0;
	assert_int_equal(trainer_export_weights(t, dst, &copied, &err), SC_OK);
	assert_int_equal(copied, 2);
	graph *g = dst->graph;
	memcpy(out, g->inits[g->values[val(g, "W")].init].tensor.data, K * D * 4);
	memcpy(out + K * D, g->inits[g->values[val(g, "b")].init].tensor.data, K * 4);
	graph_model_free(dst);
	return loss;
}

static void initial_params(float *out)
{
	fill(out, K * D, 1, -1, 1);
	fill(out + K * D, K, 2, -1, 1);
}

static void test_clip_grad_norm_and_value(void **state)
{
	(void)state;
	batch b;
	make_batch(&b);
	float p0[K * D + K], plain[K * D + K], clipped[K * D + K];
	double grad[K * D + K];
	initial_params(p0);
	trainer_options o;
	trainer_options_init(&o);
	trainer *t = make_trainer(&o);
	step_params(t, &b, plain);
	assert_true(trainer_grad_norm(t) < 0);   /* not computed unclipped */
	trainer_free(t);
	double sq = 0, gmax = 0;
	for (int i = 0; i < K * D + K; i++) {
		grad[i] = (double)p0[i] - plain[i];
		sq += grad[i] * grad[i];
		gmax = fmax(gmax, fabs(grad[i]));
	}
	double norm = sqrt(sq);
	assert_true(norm > 0.1);

	/* a norm above the gradient's leaves it alone */
	o.clip_grad_norm = 2 * norm;
	t = make_trainer(&o);
	step_params(t, &b, clipped);
	assert_true(fabs(trainer_grad_norm(t) - norm) <= 1e-5 * norm);
	trainer_free(t);
	for (int i = 0; i < K * D + K; i++)
		assert_true(clipped[i] == plain[i]);

	/* a quarter of it scales every gradient by max / (norm + 1e-6) */
	o.clip_grad_norm = norm / 4;
	t = make_trainer(&o);
	step_params(t, &b, clipped);
	trainer_free(t);
	double coef = o.clip_grad_norm / (norm + 1e-6), sq2 = 0;
	for (int i = 0; i < K * D + K; i++) {
		double moved = (double)p0[i] - clipped[i];
		sq2 += moved * moved;
		if (fabs(moved - grad[i] * coef) > 1e-6 + 1e-5 * fabs(grad[i] * coef))
			fail_msg("param %d moved %.8g, want %.8g", i, moved,
				 grad[i] * coef);
	}
	assert_true(fabs(sqrt(sq2) - norm / 4) < 1e-4 * norm);

	/* value clipping clamps each element */
	o.clip_grad_norm = 0;
	o.clip_grad_value = gmax / 3;
	t = make_trainer(&o);
	step_params(t, &b, clipped);
	trainer_free(t);
	int clamped = 0;
	for (int i = 0; i < K * D + K; i++) {
		double want = fmin(fmax(grad[i], -gmax / 3), gmax / 3);
		double moved = (double)p0[i] - clipped[i];
		clamped += fabs(grad[i]) > gmax / 3;
		if (fabs(moved - want) > 1e-6 + 1e-5 * fabs(want))
			fail_msg("param %d moved %.8g, want %.8g", i, moved, want);
	}
	assert_true(clamped > 0);
	tensor_free(&b.x);
	tensor_free(&b.y);
}

/* check_numerics names the input, and the weights stay as they were. */
static void test_check_numerics_and_memory(void **state)
{
	(void)state;
	batch b;
	make_batch(&b);
	trainer_options o;
	trainer_options_init(&o);
	o.check_numerics = 1;
	trainer *t = make_trainer(&o);
	float loss, before[K * D + K], after[K * D + K];
	sc_error err = {0};
	((float *)b.x.data)[1 * D + 3] = NAN;
	assert_int_equal(trainer_step(t, &b.x, &b.y, 1.0, &loss, &err), SC_ENUMERIC);
	if (!strstr(err.msg, "input 'x' holds NaN at [1, 3]"))
		fail_msg("unexpected message: %s", err.msg);
	assert_int_equal(trainer_steps(t), 0);
	/* a row of 3e38: its logits overflow to infinities in the Gemm */
	for (int j = 0; j < D; j++)
		((float *)b.x.data)[1 * D + j] = 3e38f;
	memset(&err, 0, sizeof err);
	assert_int_equal(trainer_step(t, &b.x, &b.y, 1.0, &loss, &err), SC_ENUMERIC);
	if (!strstr(err.msg, "node 'fc' (Gemm) produced"))
		fail_msg("unexpected message: %s", err.msg);
	fill(b.x.data, N * D, 3, -2, 2);
	initial_params(before);
	step_params(t, &b, after);
	assert_true(memcmp(before, after, sizeof before) != 0);
	trainer_free(t);

	/* the model holds 36 floats and SGD without momentum no state:
	 * 100 bytes cannot hold the weights */
	trainer_options_init(&o);
	o.max_memory = 100;
	o.graph.loss = TRAIN_LOSS_CE;
	memset(&err, 0, sizeof err);
	assert_int_equal(trainer_create(linear_model(), &o, &t, &err), SC_ENOMEM);
	if (!strstr(err.msg, "memory limit"))
		fail_msg("unexpected message: %s", err.msg);
	tensor_free(&b.x);
	tensor_free(&b.y);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clip_grad_norm_and_value),
		cmocka_unit_test(test_check_numerics_and_memory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
