/* test_grad_cli.c: `supcon grad` end to end, and runtime/train_graph.h.
 *
 * A small MLP made of elementwise ops (x * w summed over an axis stands in
 * for a matrix product) is saved, `supcon grad` runs on it as a child
 * process, and the TRAIN.onnx it writes is loaded and stepped by our own
 * runtime, feeding each `X.new` output back as input X.  The checks:
 *   - one SGD step is exactly params - lr * grad, with grad from
 *     autodiff_build on the same model and loss built here by hand, and
 *     the loss output is exactly that model's loss;
 *   - the loss goes down over a few steps, for ce, supcon and a scalar
 *     output of the model, with every optimizer;
 *   - parameters: BatchNormalization statistics and float initializers
 *     that only feed Shape are not trained; the weight-decay split;
 *   - onnx.checker (full_check) accepts the file, when Debian's python
 *     with onnx is there;
 *   - bad input: exit 2 with one line naming what is wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_runner.h"
#include "model_builder.h"
#include "onnx/onnx.h"
#include "runtime/autodiff.h"
#include "runtime/plan.h"
#include "runtime/train_graph.h"

#define DIR SUPCON_TEST_WORK "/grad_cli"
#define N 8
#define D 5
#define H 6
#define K 3

static const cli_options run_opts = {DIR, 0, 0};

/* --- the model ------------------------------------------------------------ */

enum {
	MLP_OBJ = 1 << 0,      /* extra scalar output obj = sum(logits^2) / 16 */
	MLP_NO_RULE = 1 << 1,  /* Sin and Hardmax on the path (no gradient rules) */
	MLP_COLSUM = 1 << 2,   /* extra output colsum = sum over rows of logits: [K] */
	MLP_SHAPE_BN = 1 << 3, /* logits = Reshape(., Shape(fz)) with a float fz,
				* and a BatchNormalization output off the path */
};

static float uniform(unsigned *seed)
{
	*seed = *seed * 1664525u + 1013904223u;
	return (float)(*seed >> 8) / (float)(1u << 24) - 0.5f;
}

static void init_random(graph *g, const char *name, int rank, const int64_t *dims,
			unsigned seed, float scale)
{
	float v[64];
	int64_t n = 1;
	for (int i = 0; i < rank; i++)
		n *= dims[i];
	assert_true(n <= 64);
	for (int64_t i = 0; i < n; i++)
		v[i] = scale * uniform(&seed);
	init_tensor(g, name, SC_FLOAT, rank, dims, v);
}

/* logits[N, K] = ReduceSum(Relu(ReduceSum(x * w1, 2) + b1)[:, None] * w2, 2) + b2
 * with x [N, 1, D], at opset 13. */
static graph_model *build_mlp(int flags)
{
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "N,1,5");
	int64_t dw1[2] = {H, D}, db1[1] = {H}, dw2[2] = {K, H}, db2[1] = {K};
	init_random(g, "w1", 2, dw1, 11, 1.0f);
	init_random(g, "b1", 1, db1, 12, 0.2f);
	init_random(g, "w2", 2, dw2, 13, 1.0f);
	init_random(g, "b2", 1, db2, 14, 0.2f);
	init_ints(g, "ax2", 1, 2);
	init_ints(g, "ax1", 1, 1);
	add(g, "Mul", "mul1", "x,w1", "m1");
	attr_int(add(g, "ReduceSum", "sum1", "m1,ax2", "s1"), "keepdims", 0);
	add(g, "Add", "add1", "s1,b1", "a1");
	if (flags & MLP_NO_RULE) {
		add(g, "Sin", "sin", "a1", "a1s");
		add(g, "Relu", "relu", "a1s", "r1");
	} else {
		add(g, "Relu", "relu", "a1", "r1");
	}
	add(g, "Unsqueeze", "unsq", "r1,ax1", "u1");
	add(g, "Mul", "mul2", "u1,w2", "m2");
	attr_int(add(g, "ReduceSum", "sum2", "m2,ax2", "s2"), "keepdims", 0);
	if (flags & MLP_NO_RULE) {
		add(g, "Add", "add2", "s2,b2", "pre");
		add(g, "Hardmax", "hardmax", "pre", "logits");
	} else if (flags & MLP_SHAPE_BN) {
		int64_t dz[2] = {N, K};
		init_tensor(g, "fz", SC_FLOAT, 2, dz, NULL);
		add(g, "Add", "add2", "s2,b2", "pre");
		add(g, "Shape", "shape", "fz", "fz_shape");
		add(g, "Reshape", "reshape", "pre,fz_shape", "logits");
	} else {
		add(g, "Add", "add2", "s2,b2", "logits");
	}
	output(g, "logits");
	if (flags & MLP_SHAPE_BN) {
		int64_t dc[1] = {1};
		float one = 1, zero = 0;
		init_tensor(g, "bn.s", SC_FLOAT, 1, dc, &one);
		init_tensor(g, "bn.b", SC_FLOAT, 1, dc, &zero);
		init_tensor(g, "bn.m", SC_FLOAT, 1, dc, &zero);
		init_tensor(g, "bn.v", SC_FLOAT, 1, dc, &one);
		add(g, "BatchNormalization", "bn", "x,bn.s,bn.b,bn.m,bn.v", "bn_out");
		output(g, "bn_out");
	}
	if (flags & MLP_OBJ) {
		float sixteenth = 1.0f / 16;
		init_tensor(g, "scale", SC_FLOAT, 0, NULL, &sixteenth);
		add(g, "Mul", "sq", "logits,logits", "sq");
		attr_int(add(g, "ReduceSum", "sumsq", "sq", "ssq"), "keepdims", 0);
		/* scale is a float initializer too: it gets trained like the rest */
		add(g, "Mul", "obj", "ssq,scale", "obj");
		output(g, "obj");
	}
	if (flags & MLP_COLSUM) {
		init_ints(g, "ax0", 1, 0);
		attr_int(add(g, "ReduceSum", "colsum", "logits,ax0", "colsum"), "keepdims", 0);
		output(g, "colsum");
	}
	return m;
}

static void save(const graph_model *m, const char *path)
{
	sc_error err = {0};
	if (onnx_save_file(m, path, &err))
		fail_msg("save %s: %s", path, err.msg);
}

/* The model's file, written once per flag set. */
static const char *mlp_path(int flags)
{
	static char paths[16][256];
	char *p = paths[flags & 15];
	if (!p[0]) {
		make_dir(DIR);
		snprintf(p, 256, DIR "/mlp_%d.onnx", flags);
		graph_model *m = build_mlp(flags);
		save(m, p);
		graph_model_free(m);
	}
	return p;
}

/* --- data ------------------------------------------------------------------ */

static sc_tensor x_data(void)
{
	sc_tensor t;
	sc_error err = {0};
	int64_t dims[3] = {N, 1, D};
	assert_int_equal(tensor_alloc(&t, SC_FLOAT, 3, dims, "x", &err), SC_OK);
	unsigned seed = 99;
	for (int64_t i = 0; i < t.numel; i++)
		((float *)t.data)[i] = 2 * uniform(&seed);
	return t;
}

static sc_tensor labels_data(void)
{
	sc_tensor t;
	sc_error err = {0};
	int64_t dims[1] = {N};
	assert_int_equal(tensor_alloc(&t, SC_INT64, 1, dims, "labels", &err), SC_OK);
	for (int i = 0; i < N; i++)
		((int64_t *)t.data)[i] = i % K;
	return t;
}

/* --- running the training graph ---------------------------------------- */

#define MAX_FEED 64

/* A loaded training graph and what is fed to it each step: x, labels
 * (when the graph has them), T, and every state the last step returned. */
typedef struct trainer {
	graph_model *m;
	plan *p;
	int n;
	char *names[MAX_FEED];
	sc_tensor values[MAX_FEED];
} trainer;

static int feed_slot(trainer *t, const char *name)
{
	for (int i = 0; i < t->n; i++)
		if (strcmp(t->names[i], name) == 0)
			return i;
	assert_true(t->n < MAX_FEED);
	t->names[t->n] = strdup(name);
	memset(&t->values[t->n], 0, sizeof t->values[t->n]);
	return t->n++;
}

static void feed(trainer *t, const char *name, const sc_tensor *v)
{
	int i = feed_slot(t, name);
	sc_error err = {0};
	tensor_free(&t->values[i]);
	assert_int_equal(tensor_copy(&t->values[i], v, &err), SC_OK);
}

static void trainer_open(trainer *t, const char *path)
{
	memset(t, 0, sizeof *t);
	sc_error err = {0};
	if (onnx_load_file(path, &t->m, &err) || graph_validate(t->m, &err) ||
	    plan_create(t->m, NULL, &t->p, &err))
		fail_msg("%s: %s", path, err.msg);
	sc_tensor x = x_data(), labels = labels_data();
	feed(t, "x", &x);
	if (graph_find_value(t->m->graph, "labels") >= 0)
		feed(t, "labels", &labels);
	tensor_free(&x);
	tensor_free(&labels);
}

static void trainer_close(trainer *t)
{
	for (int i = 0; i < t->n; i++) {
		free(t->names[i]);
		tensor_free(&t->values[i]);
	}
	plan_free(t->p);
	graph_model_free(t->m);
}

/* One step with T = step; feeds the ".new" outputs back.  Returns the loss. */
static double trainer_step(trainer *t, int64_t step)
{
	sc_tensor T;
	sc_error err = {0};
	assert_int_equal(tensor_alloc(&T, SC_INT64, 0, NULL, "T", &err), SC_OK);
	*(int64_t *)T.data = step;
	feed(t, "T", &T);
	tensor_free(&T);
	const sc_tensor *in[MAX_FEED];
	const char *names[MAX_FEED];
	for (int i = 0; i < t->n; i++) {
		in[i] = &t->values[i];
		names[i] = t->names[i];
	}
	if (plan_run(t->p, t->n, names, in, &err))
		fail_msg("plan_run: %s", err.msg);
	const sc_tensor *loss = plan_output(t->p, 0);
	double value = loss->dtype == SC_DOUBLE ? *(const double *)loss->data :
						  *(const float *)loss->data;
	for (int o = 1; o < plan_output_count(t->p); o++) {
		const char *name = plan_output_name(t->p, o);
		size_t len = strlen(name);
		assert_true(len > 4 && strcmp(name + len - 4, ".new") == 0);
		char base[256];
		snprintf(base, sizeof base, "%.*s", (int)(len - 4), name);
		feed(t, base, plan_output(t->p, o));
	}
	return value;
}

static const sc_tensor *output_named(const plan *p, const char *name)
{
	for (int o = 0; o < plan_output_count(p); o++)
		if (strcmp(plan_output_name(p, o), name) == 0)
			return plan_output(p, o);
	fail_msg("no output '%s'", name);
	return NULL;
}

/* Runs `supcon grad MODEL --loss LOSS -o OUT extra...` and expects success. */
static void run_grad(const char *model, const char *loss, const char *out,
		     const char *const *extra)
{
	const char *args[CLI_MAX_ARGS + 1];
	int n = 0;
	args[n++] = "grad";
	args[n++] = model;
	args[n++] = "--loss";
	args[n++] = loss;
	args[n++] = "-o";
	args[n++] = out;
	for (int i = 0; extra && extra[i]; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	cli_result r = cli_expect(&run_opts, 0, NULL, NULL, args);
	assert_non_null(strstr(r.out, "wrote "));
	cli_result_free(&r);
}

/* --- one SGD step against autodiff -------------------------------------- */

static const char *const params[] = {"w1", "b1", "w2", "b2"};
#define N_PARAMS 4

/* The reference: the model plus the same loss, differentiated directly. */
static plan *reference(const char *loss, graph_model **out)
{
	graph_model *m = build_mlp(MLP_OBJ);
	graph *g = m->graph;
	const char *L = loss;
	if (strcmp(loss, "ce") == 0 || strcmp(loss, "supcon") == 0) {
		input(g, "labels", SC_INT64, "N");
		graph_node *n = add(g, strcmp(loss, "ce") == 0 ? "SoftmaxCrossEntropyLoss" :
				    "SupConLoss", "loss", "logits,labels", "loss");
		if (strcmp(loss, "supcon") == 0) {
			free(n->domain);
			n->domain = strdup("ai.supcon");
			add_opset(m, "ai.supcon", 1);
		}
		output(g, "loss");
		L = "loss";
	}
	int grads[N_PARAMS];
	sc_error err = {0};
	plan *p = NULL;
	if (autodiff_build(m, L, N_PARAMS, params, grads, &err) ||
	    plan_create(m, NULL, &p, &err))
		fail_msg("reference: %s", err.msg);
	for (int i = 0; i < N_PARAMS; i++)
		assert_true(grads[i] >= 0);
	sc_tensor x = x_data(), labels = labels_data();
	const char *names[2] = {"x", "labels"};
	const sc_tensor *in[2] = {&x, &labels};
	int has_labels = graph_find_value(g, "labels") >= 0;
	if (plan_run(p, has_labels ? 2 : 1, names, in, &err))
		fail_msg("reference run: %s", err.msg);
	tensor_free(&x);
	tensor_free(&labels);
	*out = m;
	return p;
}

/* Output 0 of the reference is logits; the loss is output `L`. */
static void check_sgd_step(const char *loss)
{
	char out[256];
	snprintf(out, sizeof out, DIR "/sgd_%s.onnx", loss);
	const char *const extra[] = {"--lr", "0.05", NULL};
	run_grad(mlp_path(MLP_OBJ), loss, out, extra);

	graph_model *rm;
	plan *rp = reference(loss, &rm);
	trainer t;
	trainer_open(&t, out);
	double lt = trainer_step(&t, 0);
	const char *lname = strcmp(loss, "obj") == 0 ? "obj" : "loss";
	assert_string_equal(plan_output_name(t.p, 0), lname);
	float lr_f = (float)0.05;
	assert_true(*(const float *)output_named(rp, lname)->data == (float)lt);
	const graph *g = rm->graph;
	for (int i = 0; i < N_PARAMS; i++) {
		char gname[64], nname[64];
		snprintf(gname, sizeof gname, "%s_grad", params[i]);
		snprintf(nname, sizeof nname, "%s.new", params[i]);
		const sc_tensor *grad = output_named(rp, gname);
		const sc_tensor *upd = output_named(t.p, nname);
		const sc_tensor *w = &g->inits[g->values[graph_find_value(g, params[i])].init].tensor;
		assert_int_equal(upd->numel, w->numel);
		int nonzero = 0;
		for (int64_t e = 0; e < w->numel; e++) {
			float x = ((const float *)w->data)[e];
			float gr = ((const float *)grad->data)[e];
			float want = x - lr_f * gr;
			float got = ((const float *)upd->data)[e];
			if (got != want)
				fail_msg("%s %s[%lld]: %.9g, expected %.9g - %.9g * %.9g = %.9g",
					 loss, params[i], (long long)e, got, x, lr_f, gr, want);
			nonzero += gr != 0;
		}
		assert_true(nonzero > 0);
		/* SGD without momentum still carries ONNX Momentum's buffer: the gradient */
		char sname[64];
		snprintf(sname, sizeof sname, "%s.momentum_buffer.new", params[i]);
		const sc_tensor *buf = output_named(t.p, sname);
		assert_memory_equal(buf->data, grad->data, grad->nbytes);
	}
	trainer_close(&t);
	plan_free(rp);
	graph_model_free(rm);
}

static void test_sgd_step_ce(void **state)
{
	(void)state;
	check_sgd_step("ce");
}

static void test_sgd_step_supcon(void **state)
{
	(void)state;
	check_sgd_step("supcon");
}

static void test_sgd_step_output(void **state)
{
	(void)state;
	check_sgd_step("obj");
}

/* --- training goes somewhere ------------------------------------------------ */

static void check_descent(const char *loss, const char *optimizer, const char *lr,
			  const char *momentum, int steps, double ratio)
{
	char out[256];
	snprintf(out, sizeof out, DIR "/train_%s_%s.onnx", loss, optimizer);
	const char *extra[8] = {"--optimizer", optimizer, "--lr", lr, NULL};
	if (momentum) {
		extra[4] = "--momentum";
		extra[5] = momentum;
		extra[6] = NULL;
	}
	run_grad(mlp_path(MLP_OBJ), loss, out, extra);
	trainer t;
	trainer_open(&t, out);
	double first = trainer_step(&t, 0), last = first;
	for (int s = 1; s < steps; s++) {
		last = trainer_step(&t, s);
		assert_true(isfinite(last));
	}
	if (!(last < ratio * first))
		fail_msg("%s with %s: loss %g after %d steps, from %g (wanted < %g x)",
			 loss, optimizer, last, steps, first, ratio);
	trainer_close(&t);
}

static void test_descent_ce(void **state)
{
	(void)state;
	check_descent("ce", "sgd", "0.1", "0.9", 30, 0.5);
	check_descent("ce", "adam", "0.05", NULL, 30, 0.5);
	check_descent("ce", "adamw", "0.05", NULL, 30, 0.5);
	check_descent("ce", "rmsprop", "0.01", NULL, 30, 0.5);
	check_descent("ce", "adagrad", "0.1", NULL, 30, 0.5);
}

static void test_descent_supcon(void **state)
{
	(void)state;
	check_descent("supcon", "sgd", "0.05", "0.9", 30, 0.8);
	check_descent("supcon", "adam", "0.05", NULL, 30, 0.8);
}

static void test_descent_output(void **state)
{
	(void)state;
	check_descent("obj", "sgd", "0.01", NULL, 20, 0.5);
}

/* --- which initializers are parameters ---------------------------------- */

static int has_value(const graph *g, const char *name)
{
	return graph_find_value(g, name) >= 0;
}

static int input_index(const graph *g, const char *name)
{
	for (int i = 0; i < g->n_inputs; i++)
		if (strcmp(g->values[g->inputs[i]].name, name) == 0)
			return i;
	return -1;
}

/* BatchNormalization off the loss's path (its scale and bias have no
 * gradient; mean and variance are never candidates) and a float
 * initializer that only gives Reshape its shape (MLP_SHAPE_BN). */
static void test_parameters(void **state)
{
	(void)state;
	graph_model *m = build_mlp(MLP_SHAPE_BN);
	graph *g = m->graph;

	train_graph_options o;
	train_graph_options_init(&o);
	train_graph_parse_loss(&o, "ce");
	o.optim.weight_decay = 0.5;
	train_graph_info info;
	sc_error err = {0};
	if (train_graph_build(m, &o, &info, &err))
		fail_msg("train_graph_build: %s", err.msg);
	assert_int_equal(info.n_params, 4);
	assert_int_equal(info.n_param_elements, H * D + H + K * H + K);
	assert_int_equal(info.n_skipped, 3);   /* fz, bn.s, bn.b */
	assert_int_equal(info.n_groups, 2);    /* weights decay, biases do not */
	assert_int_equal(info.n_states, 1);
	for (int i = 0; i < N_PARAMS; i++) {
		char name[64];
		snprintf(name, sizeof name, "%s.new", params[i]);
		assert_true(has_value(g, name));
		assert_true(input_index(g, params[i]) >= 0);
	}
	static const char *const not_params[] = {"fz", "bn.s", "bn.b", "bn.m", "bn.v"};
	for (size_t i = 0; i < sizeof not_params / sizeof not_params[0]; i++) {
		char name[64];
		snprintf(name, sizeof name, "%s.new", not_params[i]);
		/* the running statistics are updated, not optimized */
		assert_int_equal(has_value(g, name), i >= 3);
		snprintf(name, sizeof name, "%s.momentum_buffer", not_params[i]);
		assert_false(has_value(g, name));
	}
	/* outputs: loss, 4 parameters, 4 buffers, then BN's running mean and
	 * variance; bn_out and logits dropped */
	assert_int_equal(g->n_outputs, 1 + 2 * N_PARAMS + 2);
	assert_string_equal(g->values[g->outputs[1 + 2 * N_PARAMS]].name, "bn.m.new");
	assert_string_equal(g->values[g->outputs[2 + 2 * N_PARAMS]].name, "bn.v.new");
	assert_string_equal(g->values[g->outputs[0]].name, "loss");
	assert_string_equal(g->values[g->outputs[1]].name, "w1.new");
	assert_string_equal(g->values[g->outputs[5]].name, "w1.momentum_buffer.new");
	assert_string_equal(g->values[g->outputs[8]].name, "b2.momentum_buffer.new");
	/* inputs after the model's: labels, lr, T */
	int lab = input_index(g, "labels");
	assert_true(lab >= 1);
	assert_int_equal(input_index(g, "lr"), lab + 1);
	assert_int_equal(input_index(g, "T"), lab + 2);
	/* the decay split: norm_coefficient 0.5 on the weights, 0 on biases */
	int seen = 0;
	for (int i = 0; i < g->n_nodes; i++) {
		const graph_node *n = &g->nodes[i];
		if (strcmp(n->op_type, "Momentum") != 0)
			continue;
		assert_string_equal(n->domain, "ai.onnx.preview.training");
		const graph_attr *a = graph_node_attr(n, "norm_coefficient");
		assert_non_null(a);
		const char *x1 = g->values[n->inputs[2]].name;
		if (x1[0] == 'w')
			assert_true(a->f == 0.5f);
		else
			assert_true(a->f == 0.0f);
		seen++;
	}
	assert_int_equal(seen, 2);
	assert_int_equal(graph_model_opset(m, "ai.onnx.preview.training"), 1);
	graph_model_free(m);
}

/* Adam's two states, and AdamW through ai.supcon. */
static void test_states_adamw(void **state)
{
	(void)state;
	const char *out = DIR "/adamw.onnx";
	const char *const extra[] = {"--optimizer", "adamw", "--weight-decay", "0.1", NULL};
	run_grad(mlp_path(0), "ce", out, extra);
	graph_model *m;
	sc_error err = {0};
	if (onnx_load_file(out, &m, &err))
		fail_msg("%s", err.msg);
	const graph *g = m->graph;
	assert_int_equal(g->n_outputs, 1 + 3 * N_PARAMS);
	assert_string_equal(g->values[g->outputs[5]].name, "w1.exp_avg.new");
	assert_string_equal(g->values[g->outputs[6]].name, "w1.exp_avg_sq.new");
	int v = graph_find_value(g, "w1.exp_avg_sq");
	assert_true(v >= 0 && (g->values[v].flags & VALUE_INPUT) &&
		    g->values[v].init >= 0);
	v = graph_find_value(g, "lr");
	assert_true(v >= 0 && g->values[v].init >= 0);
	assert_true(*(const float *)g->inits[g->values[v].init].tensor.data == 1e-3f);
	assert_true(graph_model_opset(m, "ai.supcon") == 1);
	graph_model_free(m);
}

/* --- onnx.checker ------------------------------------------------------------ */

static void test_onnx_checker(void **state)
{
	(void)state;
	if (access("/usr/bin/python3", X_OK) != 0 ||
	    system("/usr/bin/python3 -c 'import onnx' >/dev/null 2>&1") != 0) {
		printf("SKIP: no /usr/bin/python3 with onnx\n");
		return;
	}
	static const char *const cases[][2] = {
		{"ce", "sgd"}, {"supcon", "adamw"}, {"obj", "rmsprop"}, {"ce", "adagrad"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char out[256], cmd[1024];
		snprintf(out, sizeof out, DIR "/check_%s_%s.onnx", cases[i][0], cases[i][1]);
		const char *const extra[] = {"--optimizer", cases[i][1], NULL};
		run_grad(mlp_path(MLP_OBJ), cases[i][0], out, extra);
		snprintf(cmd, sizeof cmd,
			 "/usr/bin/python3 -c 'import onnx, sys; "
			 "onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)' %s",
			 out);
		if (system(cmd) != 0)
			fail_msg("onnx.checker refused %s", out);
	}
}

/* --- bad input ---------------------------------------------------------------- */

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NEEDLES(...) ((const char *const[]){__VA_ARGS__, NULL})

static void expect_bad(const char *const *needles, const char *const *args)
{
	cli_result r = cli_expect(&run_opts, 2, "supcon grad: ", needles, args);
	cli_result_free(&r);
}

static void test_bad_input(void **state)
{
	(void)state;
	const char *mlp = mlp_path(MLP_OBJ | MLP_COLSUM);
	const char *out = DIR "/bad.onnx";
	unlink(out);
	expect_bad(NEEDLES("'nope'", "not an output", "'logits'", "'obj'"),
		   ARGS("grad", mlp, "--loss", "nope", "-o", out));
	expect_bad(NEEDLES("'logits'", "not known to be a scalar"),
		   ARGS("grad", mlp, "--loss", "logits", "-o", out));
	expect_bad(NEEDLES("'colsum'", "not a scalar", "dim 0 is 3"),
		   ARGS("grad", mlp, "--loss", "colsum", "-o", out));
	expect_bad(NEEDLES("no gradient rule", "Sin", "Hardmax"),
		   ARGS("grad", mlp_path(MLP_NO_RULE), "--loss", "ce", "-o", out));
	expect_bad(NEEDLES("--loss"), ARGS("grad", mlp, "-o", out));
	expect_bad(NEEDLES("-o"), ARGS("grad", mlp, "--loss", "ce"));
	expect_bad(NEEDLES("--optimizer", "'lbfgs'"),
		   ARGS("grad", mlp, "--loss", "ce", "--optimizer", "lbfgs", "-o", out));
	expect_bad(NEEDLES("--lr", "'-1'"),
		   ARGS("grad", mlp, "--loss", "ce", "--lr", "-1", "-o", out));
	expect_bad(NEEDLES("--momentum", "adam"),
		   ARGS("grad", mlp, "--loss", "ce", "--optimizer", "adam",
			"--momentum", "0.9", "-o", out));
	expect_bad(NEEDLES("--temperature", "supcon"),
		   ARGS("grad", mlp, "--loss", "ce", "--temperature", "0.5", "-o", out));
	expect_bad(NEEDLES("missing.onnx"),
		   ARGS("grad", DIR "/missing.onnx", "--loss", "ce", "-o", out));
	/* nothing was written by any of them */
	assert_int_not_equal(access(out, F_OK), 0);

	/* CE needs SoftmaxCrossEntropyLoss, from opset 12 */
	graph_model *m = model(11);
	input(m->graph, "x", SC_FLOAT, "N,3");
	init_shape(m->graph, "w", "3");
	add(m->graph, "Mul", "mul", "x,w", "logits");
	output(m->graph, "logits");
	save(m, DIR "/opset11.onnx");
	graph_model_free(m);
	expect_bad(NEEDLES("opset 11", "opset 12"),
		   ARGS("grad", DIR "/opset11.onnx", "--loss", "ce", "-o", out));
	/* a name the training graph adds is taken */
	m = build_mlp(0);
	init_shape(m->graph, "lr", "1");
	save(m, DIR "/taken.onnx");
	graph_model_free(m);
	expect_bad(NEEDLES("'lr'", "already has a value"),
		   ARGS("grad", DIR "/taken.onnx", "--loss", "ce", "-o", out));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sgd_step_ce),
		cmocka_unit_test(test_sgd_step_supcon),
		cmocka_unit_test(test_sgd_step_output),
		cmocka_unit_test(test_descent_ce),
		cmocka_unit_test(test_descent_supcon),
		cmocka_unit_test(test_descent_output),
		cmocka_unit_test(test_parameters),
		cmocka_unit_test(test_states_adamw),
		cmocka_unit_test(test_onnx_checker),
		cmocka_unit_test(test_bad_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
