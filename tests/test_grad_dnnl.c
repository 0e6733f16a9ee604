/* test_grad_dnnl.c: gradients of Conv, the pools, BatchNormalization, Gemm
 * and MatMul.
 *
 * Conv, pooling and BatchNormalization run in float32 only (oneDNN), so
 * their gradients are checked against central finite differences (h =
 * 1e-6) of a float64 forward written here with naive loops, evaluated on
 * the same (float32-representable) inputs.  The loss is sum(Y * R) with a
 * fixed random R, so the checked vector-Jacobian product is not a row of
 * ones.  Tolerance |analytic - numeric| <= 1e-4 + 1e-3 |numeric|: the
 * float64 differences are exact to ~1e-8, and the float32 kernels sum up
 * to a few hundred products of magnitude ~1 (rounding ~1e-5 absolute).
 * Each case is checked twice: the backward kernel alone (a graph calling
 * ai.supcon.ConvGrad etc. directly) and through autodiff_build on a
 * forward graph, when the op's rule is registered.
 *
 * Gemm and MatMul have float64 kernels: their rules are checked in
 * float64 against finite differences of the plan itself (tolerance 1e-6 +
 * 1e-5 |n|, as test_autodiff.c), and once more in float32 (oneDNN) against
 * the float64 gradients. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model_builder.h"
#include "op_harness.h"
#include "ops/op.h"
#include "runtime/autodiff.h"
#include "runtime/infer.h"
#include "runtime/plan.h"

#define RTOL 1e-3
#define ATOL 1e-4
#define FD_H 1e-6

/* --- tensors and graphs ----------------------------------------------------- */

/* n values in [lo, hi], each exactly representable in float32. */
static double *rand_array(int64_t n, double lo, double hi)
{
	double *a = malloc((size_t)(n ? n : 1) * sizeof *a);
	assert_non_null(a);
	for (int64_t i = 0; i < n; i++)
		a[i] = (float)uniform(lo, hi);
	return a;
}

static sc_tensor f32_tensor(int rank, const int64_t *dims, const double *v)
{
	sc_tensor t = make(SC_FLOAT, rank, dims);
	for (int64_t i = 0; i < t.numel; i++)
		((float *)t.data)[i] = (float)v[i];
	return t;
}

static void set_ints(graph_node *n, const char *name, const int64_t *v, int count)
{
	sc_error err = {0};
	graph_attr *a = graph_node_add_attr(n, name, ATTR_INTS, &err);
	assert_non_null(a);
	a->ints = calloc((size_t)count + 1, sizeof *a->ints);
	assert_non_null(a->ints);
	memcpy(a->ints, v, (size_t)count * sizeof *v);
	a->n = count;
}

/* A node of domain ai.supcon. */
static graph_node *add_supcon(graph *g, const char *op, const char *ins,
			      const char *outs)
{
	int in[16], out[16];
	int ni = names(g, ins, in), no = names(g, outs, out);
	sc_error err = {0};
	int idx = graph_add_node(g, op, "ai.supcon", op, ni, in, no, out, &err);
	assert_true(idx >= 0);
	return &g->nodes[idx];
}

static void shape_str(int rank, const int64_t *dims, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = '\0';
	for (int i = 0; i < rank; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%lld",
					 i ? "," : "", (long long)dims[i]);
}

/* Plans m, feeds the named inputs and copies the named outputs (a NULL
 * name is skipped) into outs[] as doubles. */
static void run_collect(graph_model *m, int n_in, const char *const *in_names,
			const sc_tensor *const *ins, int n_out,
			const char *const *out_names, double **outs)
{
	sc_error err = {0};
	plan *p;
	plan_options opt = {.threads = 2};
	if (plan_create(m, &opt, &p, &err))
		fail_msg("plan_create: %s", err.msg);
	if (plan_run(p, n_in, in_names, ins, &err))
		fail_msg("plan_run: %s", err.msg);
	for (int j = 0; j < n_out; j++) {
		outs[j] = NULL;
		if (!out_names[j])
			continue;
		const sc_tensor *t = NULL;
		for (int o = 0; o < plan_output_count(p); o++)
			if (!strcmp(plan_output_name(p, o), out_names[j]))
				t = plan_output(p, o);
		if (!t)
			fail_msg("output '%s' is missing", out_names[j]);
		outs[j] = malloc((size_t)(t->numel ? t->numel : 1) * sizeof(double));
		assert_non_null(outs[j]);
		for (int64_t i = 0; i < t->numel; i++)
			outs[j][i] = t->dtype == SC_DOUBLE ? ((double *)t->data)[i] :
				     ((float *)t->data)[i];
	}
	plan_free(p);
}

static double worst_seen;

static void compare(const char *what, const char *arr, const double *got,
		    const double *want, int64_t n)
{
	for (int64_t i = 0; i < n; i++) {
		double e = fabs(got[i] - want[i]);
		if (e / (ATOL + fabs(want[i])) > worst_seen)
			worst_seen = e / (ATOL + fabs(want[i]));
		if (e > ATOL + RTOL * fabs(want[i]))
			fail_msg("%s: d/d%s[%lld] is %.8g, finite differences give %.8g",
				 what, arr, (long long)i, got[i], want[i]);
	}
}

/* A forward function of float64 arrays: the loss sum(f(in) * r). */
typedef double (*loss_fn)(const void *cs, double *const *in, const double *r);

/* Central differences of loss with respect to every element of in[i]. */
static double *finite_diff(loss_fn f, const void *cs, double *const *in, int i,
			   int64_t n, const double *r)
{
	double *g = malloc((size_t)(n ? n : 1) * sizeof *g);
	assert_non_null(g);
	for (int64_t k = 0; k < n; k++) {
		double keep = in[i][k];
		in[i][k] = keep + FD_H;
		double up = f(cs, in, r);
		in[i][k] = keep - FD_H;
		double down = f(cs, in, r);
		in[i][k] = keep;
		g[k] = (up - down) / (2 * FD_H);
	}
	return g;
}

/* 1 when (domain "", op) has a gradient rule at opset. */
static int has_rule(const char *op, int64_t opset)
{
	const op_def *d = op_find("", op, opset);
	return d && d->grad;
}

/* --- windows ------------------------------------------------------------------ */

typedef struct win {
	int ns;
	int64_t in[3], k[3], s[3], d[3], pl[3], pr[3], out[3];
} win;

/* Output sizes and pads as ONNX defines them, from in/k/s/d and the
 * explicit pads (auto_pad NULL or NOTSET). */
static void win_setup(win *w, const char *auto_pad, int ceil_mode)
{
	for (int i = 0; i < w->ns; i++) {
		int64_t eff = (w->k[i] - 1) * w->d[i] + 1;
		if (auto_pad && !strncmp(auto_pad, "SAME", 4)) {
			w->out[i] = (w->in[i] + w->s[i] - 1) / w->s[i];
			int64_t total = (w->out[i] - 1) * w->s[i] + eff - w->in[i];
			if (total < 0)
				total = 0;
			w->pl[i] = strcmp(auto_pad, "SAME_LOWER") ? total / 2 :
				   total - total / 2;
			w->pr[i] = total - w->pl[i];
		} else {
			if (auto_pad && !strcmp(auto_pad, "VALID"))
				w->pl[i] = w->pr[i] = 0;
			int64_t num = w->in[i] + w->pl[i] + w->pr[i] - eff;
			w->out[i] = (ceil_mode ? (num + w->s[i] - 1) / w->s[i] :
				     num / w->s[i]) + 1;
			if (ceil_mode && (w->out[i] - 1) * w->s[i] >= w->in[i] + w->pl[i])
				w->out[i]--;
		}
	}
	for (int i = w->ns; i < 3; i++) {
		w->in[i] = w->k[i] = w->s[i] = w->d[i] = w->out[i] = 1;
		w->pl[i] = w->pr[i] = 0;
	}
}

static int64_t win_in(const win *w) { return w->in[0] * w->in[1] * w->in[2]; }
static int64_t win_out(const win *w) { return w->out[0] * w->out[1] * w->out[2]; }
static int64_t win_k(const win *w) { return w->k[0] * w->k[1] * w->k[2]; }

/* Input position of tap a along axis i of window o, or -1 in the pads. */
static int64_t tap(const win *w, int i, int64_t o, int64_t a)
{
	int64_t at = o * w->s[i] - w->pl[i] + a * w->d[i];
	return at >= 0 && at < w->in[i] ? at : -1;
}

/* Sets the window attributes on a Conv/pool node or its Grad. */
static void win_attrs(graph_node *n, const win *w, const char *auto_pad,
		      int dilations)
{
	int64_t pads[6];
	for (int i = 0; i < w->ns; i++) {
		pads[i] = w->pl[i];
		pads[w->ns + i] = w->pr[i];
	}
	set_ints(n, "kernel_shape", w->k, w->ns);
	set_ints(n, "strides", w->s, w->ns);
	if (dilations)
		set_ints(n, "dilations", w->d, w->ns);
	if (auto_pad)
		attr_str(n, "auto_pad", auto_pad);
	else
		set_ints(n, "pads", pads, 2 * w->ns);
}

/* --- Conv --------------------------------------------------------------------- */

typedef struct conv_case {
	const char *name;
	int64_t n, c, m, group;
	win w;
	const char *auto_pad;
	int bias;
	int opset;
} conv_case;

static double conv_loss(const void *cs, double *const *in, const double *r)
{
	const conv_case *cc = cs;
	const win *w = &cc->w;
	const double *x = in[0], *wt = in[1], *b = cc->bias ? in[2] : NULL;
	int64_t cg = cc->c / cc->group, mg = cc->m / cc->group;
	int64_t ni = win_in(w), no = win_out(w), nk = win_k(w);
	double loss = 0;
	for (int64_t nb = 0; nb < cc->n; nb++)
		for (int64_t oc = 0; oc < cc->m; oc++)
			for (int64_t o = 0; o < no; o++) {
				int64_t o0 = o / (w->out[1] * w->out[2]);
				int64_t o1 = o / w->out[2] % w->out[1], o2 = o % w->out[2];
				double acc = b ? b[oc] : 0;
				int64_t g = oc / mg;
				for (int64_t ic = 0; ic < cg; ic++) {
					const double *xp = x + (nb * cc->c + g * cg + ic) * ni;
					const double *wp = wt + (oc * cg + ic) * nk;
					for (int64_t a0 = 0; a0 < w->k[0]; a0++) {
						int64_t i0 = tap(w, 0, o0, a0);
						if (i0 < 0)
							continue;
						for (int64_t a1 = 0; a1 < w->k[1]; a1++) {
							int64_t i1 = tap(w, 1, o1, a1);
							if (i1 < 0)
								continue;
							for (int64_t a2 = 0; a2 < w->k[2]; a2++) {
								int64_t i2 = tap(w, 2, o2, a2);
								if (i2 < 0)
									continue;
								acc += xp[(i0 * w->in[1] + i1) * w->in[2] + i2] *
								       wp[(a0 * w->k[1] + a1) * w->k[2] + a2];
							}
						}
					}
				}
				loss += acc * r[(nb * cc->m + oc) * no + o];
			}
	return loss;
}

static void check_conv(const conv_case *cc0)
{
	conv_case cc = *cc0;
	win_setup(&cc.w, cc.auto_pad, 0);
	const win *w = &cc.w;
	int r = w->ns + 2;
	int64_t xd[5] = {cc.n, cc.c}, wd[5] = {cc.m, cc.c / cc.group}, yd[5] = {cc.n, cc.m};
	for (int i = 0; i < w->ns; i++) {
		xd[2 + i] = w->in[i];
		wd[2 + i] = w->k[i];
		yd[2 + i] = w->out[i];
	}
	int64_t nx = cc.n * cc.c * win_in(w), nw = cc.m * (cc.c / cc.group) * win_k(w);
	int64_t ny = cc.n * cc.m * win_out(w);
	double *in[3] = {rand_array(nx, -1, 1), rand_array(nw, -1, 1),
			 rand_array(cc.m, -1, 1)};
	double *dy = rand_array(ny, -1, 1);
	int64_t sizes[3] = {nx, nw, cc.m};
	int n_p = cc.bias ? 3 : 2;
	double *want[3] = {NULL, NULL, NULL};
	for (int i = 0; i < n_p; i++)
		want[i] = finite_diff(conv_loss, &cc, in, i, sizes[i], dy);
	sc_tensor tx = f32_tensor(r, xd, in[0]), tw = f32_tensor(r, wd, in[1]);
	sc_tensor tb = f32_tensor(1, &cc.m, in[2]), tdy = f32_tensor(r, yd, dy);
	char xs[64], ws[64], ys[64];
	shape_str(r, xd, xs, sizeof xs);
	shape_str(r, wd, ws, sizeof ws);
	shape_str(r, yd, ys, sizeof ys);
	static const char *const arrs[] = {"X", "W", "B"};

	/* the kernel alone */
	graph_model *m = model(cc.opset);
	add_opset(m, "ai.supcon", 1);
	graph *g = m->graph;
	input(g, "dy", SC_FLOAT, ys);
	input(g, "x", SC_FLOAT, xs);
	input(g, "w", SC_FLOAT, ws);
	graph_node *n = add_supcon(g, "ConvGrad", "dy,x,w",
				   cc.bias ? "dx,dw,db" : "dx,dw");
	win_attrs(n, w, cc.auto_pad, 1);
	if (cc.group > 1)
		attr_int(n, "group", cc.group);
	const char *outs[3] = {"dx", "dw", cc.bias ? "db" : NULL};
	for (int i = 0; i < n_p; i++)
		output(g, outs[i]);
	const char *names1[] = {"dy", "x", "w"};
	const sc_tensor *ins1[] = {&tdy, &tx, &tw};
	double *got[3];
	run_collect(m, 3, names1, ins1, 3, outs, got);
	for (int i = 0; i < n_p; i++) {
		compare(cc.name, arrs[i], got[i], want[i], sizes[i]);
		free(got[i]);
	}
	graph_model_free(m);

	/* through autodiff */
	if (has_rule("Conv", cc.opset)) {
		m = model(cc.opset);
		g = m->graph;
		input(g, "x", SC_FLOAT, xs);
		input(g, "w", SC_FLOAT, ws);
		if (cc.bias)
			input(g, "b", SC_FLOAT, NULL);
		init_tensor(g, "R", SC_FLOAT, r, yd, tdy.data);
		n = add(g, "Conv", "conv", cc.bias ? "x,w,b" : "x,w", "y");
		win_attrs(n, w, cc.auto_pad, 1);
		if (cc.group > 1)
			attr_int(n, "group", cc.group);
		add(g, "Mul", "weigh", "y,R", "yr");
		attr_int(add(g, "ReduceSum", "sum", "yr", "L"), "keepdims", 0);
		output(g, "L");
		const char *wrt[] = {"x", "w", "b"};
		int grads[3];
		sc_error err = {0};
		if (autodiff_build(m, "L", n_p, wrt, grads, &err))
			fail_msg("%s: autodiff: %s", cc.name, err.msg);
		const char *gnames[3] = {NULL, NULL, NULL};
		for (int i = 0; i < n_p; i++)
			gnames[i] = g->values[grads[i]].name;
		const sc_tensor *ins2[] = {&tx, &tw, &tb};
		run_collect(m, n_p, wrt, ins2, 3, gnames, got);
		for (int i = 0; i < n_p; i++) {
			compare(cc.name, arrs[i], got[i], want[i], sizes[i]);
			free(got[i]);
		}
		graph_model_free(m);
	}
	print_message("%-34s worst error / (atol + |n|) %.2e%s\n", cc.name, worst_seen,
		      has_rule("Conv", cc.opset) ? "" : " (kernel only: no Conv rule)");
	worst_seen = 0;
	for (int i = 0; i < 3; i++) {
		free(in[i]);
		free(want[i]);
	}
	free(dy);
	tensor_free(&tx);
	tensor_free(&tw);
	tensor_free(&tb);
	tensor_free(&tdy);
}

#define W1(i, k, s, d, pl, pr) {1, {i}, {k}, {s}, {d}, {pl}, {pr}, {0}}
#define W2(i0, i1, k0, k1, s0, s1, d0, d1, p0, p1, p2, p3) \
	{2, {i0, i1}, {k0, k1}, {s0, s1}, {d0, d1}, {p0, p1}, {p2, p3}, {0}}

static const conv_case conv_cases[] = {
	{"conv 3x3 pad 1", 2, 3, 4, 1, W2(5, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1), NULL, 1, 13},
	{"conv stride 2 asym pads", 2, 2, 3, 1, W2(6, 5, 3, 2, 2, 1, 1, 1, 1, 0, 0, 1), NULL, 1, 11},
	{"conv dilation 2", 1, 2, 2, 1, W2(7, 6, 3, 2, 1, 2, 2, 2, 2, 1, 0, 1), NULL, 0, 13},
	{"conv groups 2", 2, 4, 6, 2, W2(5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1), NULL, 1, 13},
	{"conv depthwise stride 2", 1, 4, 4, 4, W2(6, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1), NULL, 1, 13},
	{"conv SAME_UPPER stride 2", 1, 3, 2, 1, W2(5, 6, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0), "SAME_UPPER", 1, 13},
	{"conv SAME_LOWER", 1, 2, 2, 1, W2(4, 5, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0), "SAME_LOWER", 0, 13},
	{"conv 1-D stride 2 dil 2", 2, 3, 2, 1, W1(9, 3, 2, 2, 1, 2), NULL, 1, 13},
	/* 16 channels, 3x3, stride 1: oneDNN's Winograd kernels on AVX-512
	 * machines (ConvGrad asks for Winograd first for dW) */
	{"conv 16 channels 3x3 (Winograd)", 2, 16, 16, 1, W2(6, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1), NULL, 1, 13},
	{"conv 16 channels 1x1", 2, 16, 16, 1, W2(3, 3, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0), NULL, 1, 13},
	{"conv 3-D", 1, 2, 2, 1, {3, {3, 4, 3}, {2, 2, 2}, {1, 2, 1}, {1, 1, 1}, {1, 0, 0}, {0, 1, 1}, {0}}, NULL, 1, 13},
};

static void test_conv(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++)
		check_conv(&conv_cases[i]);
}

/* --- pooling ------------------------------------------------------------------- */

enum { MAXP, AVGP, GAVGP, GMAXP };

typedef struct pool_case {
	const char *name;
	int kind;
	int64_t n, c;
	win w;
	const char *auto_pad;
	int ceil_mode, include_pad, dilations;
	int opset;
} pool_case;

static double pool_loss(const void *cs, double *const *in, const double *r)
{
	const pool_case *pc = cs;
	const win *w = &pc->w;
	int64_t ni = win_in(w), no = win_out(w);
	double loss = 0;
	for (int64_t p = 0; p < pc->n * pc->c; p++)
		for (int64_t o = 0; o < no; o++) {
			int64_t oo[3] = {o / (w->out[1] * w->out[2]),
					 o / w->out[2] % w->out[1], o % w->out[2]};
			double best = -INFINITY, sum = 0;
			int64_t count = 0, padded = 1;
			for (int i = 0; i < 3; i++) {
				int64_t t = 0;
				for (int64_t a = 0; a < w->k[i]; a++) {
					int64_t at = oo[i] * w->s[i] - w->pl[i] + a * w->d[i];
					t += at >= -w->pl[i] && at < w->in[i] + w->pr[i];
				}
				padded *= t;
			}
			for (int64_t a0 = 0; a0 < w->k[0]; a0++)
				for (int64_t a1 = 0; a1 < w->k[1]; a1++)
					for (int64_t a2 = 0; a2 < w->k[2]; a2++) {
						int64_t i0 = tap(w, 0, oo[0], a0);
						int64_t i1 = tap(w, 1, oo[1], a1);
						int64_t i2 = tap(w, 2, oo[2], a2);
						if (i0 < 0 || i1 < 0 || i2 < 0)
							continue;
						double v = in[0][p * ni + (i0 * w->in[1] + i1) * w->in[2] + i2];
						best = v > best ? v : best;
						sum += v;
						count++;
					}
			double y = pc->kind == MAXP || pc->kind == GMAXP ? best :
				   sum / (double)(pc->include_pad ? padded : count);
			loss += y * r[p * no + o];
		}
	return loss;
}

static const char *const pool_ops[] = {"MaxPool", "AveragePool", "GlobalAveragePool",
				       "GlobalMaxPool"};

static void check_pool(const pool_case *pc0)
{
	pool_case pc = *pc0;
	win *w = &pc.w;
	int global = pc.kind == GAVGP || pc.kind == GMAXP;
	if (global)
		for (int i = 0; i < w->ns; i++) {
			w->k[i] = w->in[i];
			w->s[i] = w->d[i] = 1;
			w->pl[i] = w->pr[i] = 0;
		}
	win_setup(w, pc.auto_pad, pc.ceil_mode);
	int r = w->ns + 2;
	int64_t xd[5] = {pc.n, pc.c}, yd[5] = {pc.n, pc.c};
	for (int i = 0; i < w->ns; i++) {
		xd[2 + i] = w->in[i];
		yd[2 + i] = w->out[i];
	}
	int64_t nx = pc.n * pc.c * win_in(w), ny = pc.n * pc.c * win_out(w);
	double *in[1] = {rand_array(nx, -1, 1)};
	double *dy = rand_array(ny, -1, 1);
	double *want = finite_diff(pool_loss, &pc, in, 0, nx, dy);
	sc_tensor tx = f32_tensor(r, xd, in[0]), tdy = f32_tensor(r, yd, dy);
	char xs[64], ys[64], gop[64];
	shape_str(r, xd, xs, sizeof xs);
	shape_str(r, yd, ys, sizeof ys);
	const char *op = pool_ops[pc.kind];
	snprintf(gop, sizeof gop, "%sGrad", op);

	graph_model *m = model(pc.opset);
	add_opset(m, "ai.supcon", 1);
	graph *g = m->graph;
	input(g, "dy", SC_FLOAT, ys);
	input(g, "x", SC_FLOAT, xs);
	graph_node *n = add_supcon(g, gop, "dy,x", "dx");
	if (!global) {
		win_attrs(n, w, pc.auto_pad, pc.dilations);
		if (pc.ceil_mode)
			attr_int(n, "ceil_mode", 1);
		if (pc.include_pad)
			attr_int(n, "count_include_pad", 1);
	}
	output(g, "dx");
	const char *names1[] = {"dy", "x"}, *outs[] = {"dx"};
	const sc_tensor *ins1[] = {&tdy, &tx};
	double *got;
	run_collect(m, 2, names1, ins1, 1, outs, &got);
	compare(pc.name, "X", got, want, nx);
	free(got);
	graph_model_free(m);

	if (has_rule(op, pc.opset)) {
		m = model(pc.opset);
		g = m->graph;
		input(g, "x", SC_FLOAT, xs);
		init_tensor(g, "R", SC_FLOAT, r, yd, tdy.data);
		n = add(g, op, "pool", "x", "y");
		if (!global) {
			win_attrs(n, w, pc.auto_pad, pc.dilations);
			if (pc.ceil_mode)
				attr_int(n, "ceil_mode", 1);
			if (pc.include_pad)
				attr_int(n, "count_include_pad", 1);
		}
		add(g, "Mul", "weigh", "y,R", "yr");
		attr_int(add(g, "ReduceSum", "sum", "yr", "L"), "keepdims", 0);
		output(g, "L");
		const char *wrt[] = {"x"};
		int grads[1];
		sc_error err = {0};
		if (autodiff_build(m, "L", 1, wrt, grads, &err))
			fail_msg("%s: autodiff: %s", pc.name, err.msg);
		const char *gname = g->values[grads[0]].name;
		const sc_tensor *ins2[] = {&tx};
		run_collect(m, 1, wrt, ins2, 1, &gname, &got);
		compare(pc.name, "X", got, want, nx);
		free(got);
		graph_model_free(m);
	}
	print_message("%-34s worst error / (atol + |n|) %.2e%s\n", pc.name, worst_seen,
		      has_rule(op, pc.opset) ? "" : " (kernel only: no rule)");
	worst_seen = 0;
	free(in[0]);
	free(dy);
	free(want);
	tensor_free(&tx);
	tensor_free(&tdy);
}

static const pool_case pool_cases[] = {
	{"maxpool 2x2 stride 2", MAXP, 2, 3, W2(6, 6, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0), NULL, 0, 0, 0, 13},
	{"maxpool 3x3 s2 pad 1 (overlap)", MAXP, 1, 2, W2(7, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1), NULL, 0, 0, 0, 13},
	{"maxpool ceil_mode", MAXP, 1, 2, W2(6, 7, 3, 2, 2, 2, 1, 1, 0, 1, 0, 0), NULL, 1, 0, 0, 13},
	{"maxpool dilation 2", MAXP, 1, 2, W2(7, 7, 2, 3, 1, 2, 2, 2, 1, 0, 1, 1), NULL, 0, 0, 1, 13},
	{"maxpool SAME_UPPER opset 8", MAXP, 1, 2, W2(5, 5, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0), "SAME_UPPER", 0, 0, 0, 8},
	{"maxpool 1-D", MAXP, 2, 2, W1(9, 3, 2, 1, 1, 1), NULL, 0, 0, 0, 13},
	{"avgpool 3x3 s2 pad 1", AVGP, 2, 2, W2(7, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1), NULL, 0, 0, 0, 13},
	{"avgpool count_include_pad", AVGP, 1, 2, W2(6, 5, 3, 3, 2, 1, 1, 1, 1, 1, 1, 1), NULL, 0, 1, 0, 13},
	{"avgpool ceil_mode", AVGP, 1, 2, W2(6, 7, 3, 2, 2, 2, 1, 1, 0, 1, 0, 0), NULL, 1, 0, 0, 13},
	{"avgpool ceil_mode include_pad", AVGP, 1, 2, W2(6, 7, 3, 2, 2, 2, 1, 1, 1, 1, 0, 0), NULL, 1, 1, 0, 13},
	{"avgpool SAME_LOWER opset 7", AVGP, 1, 2, W2(5, 6, 2, 3, 2, 2, 1, 1, 0, 0, 0, 0), "SAME_LOWER", 0, 0, 0, 7},
	{"avgpool 3-D", AVGP, 1, 2, {3, {4, 3, 4}, {2, 2, 2}, {2, 1, 2}, {1, 1, 1}, {0, 1, 0}, {0, 0, 1}, {0}}, NULL, 0, 0, 0, 13},
	{"global average pool", GAVGP, 2, 3, W2(4, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), NULL, 0, 0, 0, 13},
	{"global average pool 1-D", GAVGP, 2, 3, W1(7, 0, 0, 0, 0, 0), NULL, 0, 0, 0, 13},
	{"global max pool", GMAXP, 2, 2, W2(3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), NULL, 0, 0, 0, 13},
};

static void test_pool(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof pool_cases / sizeof pool_cases[0]; i++)
		check_pool(&pool_cases[i]);
}

/* --- BatchNormalization -------------------------------------------------------- */

typedef struct bn_case {
	const char *name;
	int rank;
	int64_t dims[5];
	int training;
	int opset;
	float eps;
} bn_case;

/* in: X, scale, B, mean, var */
static double bn_loss(const void *cs, double *const *in, const double *r)
{
	const bn_case *bc = cs;
	int64_t n = bc->dims[0], c = bc->dims[1], inner = 1;
	for (int i = 2; i < bc->rank; i++)
		inner *= bc->dims[i];
	double loss = 0;
	for (int64_t ch = 0; ch < c; ch++) {
		double mean = in[3][ch], var = in[4][ch];
		if (bc->training) {
			double s = 0, sq = 0;
			for (int64_t b = 0; b < n; b++)
				for (int64_t j = 0; j < inner; j++)
					s += in[0][(b * c + ch) * inner + j];
			mean = s / (double)(n * inner);
			for (int64_t b = 0; b < n; b++)
				for (int64_t j = 0; j < inner; j++) {
					double d = in[0][(b * c + ch) * inner + j] - mean;
					sq += d * d;
				}
			var = sq / (double)(n * inner);
		}
		double inv = 1 / sqrt(var + (double)bc->eps);
		for (int64_t b = 0; b < n; b++)
			for (int64_t j = 0; j < inner; j++) {
				int64_t at = (b * c + ch) * inner + j;
				double y = in[1][ch] * (in[0][at] - mean) * inv + in[2][ch];
				loss += y * r[at];
			}
	}
	return loss;
}

static void check_bn(const bn_case *bc)
{
	int64_t nx = 1, c = bc->dims[1];
	for (int i = 0; i < bc->rank; i++)
		nx *= bc->dims[i];
	double *in[5] = {rand_array(nx, -2, 2), rand_array(c, 0.5, 1.5),
			 rand_array(c, -1, 1), rand_array(c, -0.5, 0.5),
			 rand_array(c, 0.5, 1.5)};
	double *dy = rand_array(nx, -1, 1);
	int64_t sizes[3] = {nx, c, c};
	double *want[3];
	for (int i = 0; i < 3; i++)
		want[i] = finite_diff(bn_loss, bc, in, i, sizes[i], dy);
	sc_tensor t[5], tdy = f32_tensor(bc->rank, bc->dims, dy);
	t[0] = f32_tensor(bc->rank, bc->dims, in[0]);
	for (int i = 1; i < 5; i++)
		t[i] = f32_tensor(1, &c, in[i]);
	char xs[64], cs[16];
	shape_str(bc->rank, bc->dims, xs, sizeof xs);
	shape_str(1, &c, cs, sizeof cs);
	static const char *const arrs[] = {"X", "scale", "B"};

	graph_model *m = model(bc->opset);
	add_opset(m, "ai.supcon", 1);
	graph *g = m->graph;
	input(g, "dy", SC_FLOAT, xs);
	input(g, "x", SC_FLOAT, xs);
	input(g, "s", SC_FLOAT, cs);
	input(g, "mean", SC_FLOAT, cs);
	input(g, "var", SC_FLOAT, cs);
	graph_node *n = add_supcon(g, "BatchNormalizationGrad", "dy,x,s,mean,var",
				   "dx,ds,db");
	attr_float(n, "epsilon", bc->eps);
	attr_int(n, "training_mode", bc->training);
	const char *outs[] = {"dx", "ds", "db"};
	for (int i = 0; i < 3; i++)
		output(g, outs[i]);
	const char *names1[] = {"dy", "x", "s", "mean", "var"};
	const sc_tensor *ins1[] = {&tdy, &t[0], &t[1], &t[3], &t[4]};
	double *got[3];
	run_collect(m, 5, names1, ins1, 3, outs, got);
	for (int i = 0; i < 3; i++) {
		compare(bc->name, arrs[i], got[i], want[i], sizes[i]);
		free(got[i]);
	}
	graph_model_free(m);

	if (has_rule("BatchNormalization", bc->opset)) {
		m = model(bc->opset);
		g = m->graph;
		input(g, "x", SC_FLOAT, xs);
		input(g, "s", SC_FLOAT, cs);
		input(g, "b", SC_FLOAT, cs);
		init_tensor(g, "mean", SC_FLOAT, 1, &c, t[3].data);
		init_tensor(g, "var", SC_FLOAT, 1, &c, t[4].data);
		init_tensor(g, "R", SC_FLOAT, bc->rank, bc->dims, tdy.data);
		const char *bn_outs = "y";
		if (bc->training)
			bn_outs = bc->opset >= 14 ? "y,rm,rv" : "y,rm,rv,sm,sv";
		n = add(g, "BatchNormalization", "bn", "x,s,b,mean,var", bn_outs);
		attr_float(n, "epsilon", bc->eps);
		if (bc->opset >= 14 && bc->training)
			attr_int(n, "training_mode", 1);
		add(g, "Mul", "weigh", "y,R", "yr");
		attr_int(add(g, "ReduceSum", "sum", "yr", "L"), "keepdims", 0);
		output(g, "L");
		const char *wrt[] = {"x", "s", "b"};
		int grads[3];
		sc_error err = {0};
		if (autodiff_build(m, "L", 3, wrt, grads, &err))
			fail_msg("%s: autodiff: %s", bc->name, err.msg);
		const char *gnames[3];
		for (int i = 0; i < 3; i++)
			gnames[i] = g->values[grads[i]].name;
		const sc_tensor *ins2[] = {&t[0], &t[1], &t[2]};
		run_collect(m, 3, wrt, ins2, 3, gnames, got);
		for (int i = 0; i < 3; i++) {
			compare(bc->name, arrs[i], got[i], want[i], sizes[i]);
			free(got[i]);
		}
		graph_model_free(m);
	}
	print_message("%-34s worst error / (atol + |n|) %.2e%s\n", bc->name, worst_seen,
		      has_rule("BatchNormalization", bc->opset) ? "" :
		      " (kernel only: no rule)");
	worst_seen = 0;
	for (int i = 0; i < 5; i++) {
		free(in[i]);
		tensor_free(&t[i]);
	}
	for (int i = 0; i < 3; i++)
		free(want[i]);
	free(dy);
	tensor_free(&tdy);
}

static const bn_case bn_cases[] = {
	{"bn training NCHW opset 15", 4, {3, 4, 3, 2}, 1, 15, 1e-5f},
	{"bn training 16 channels", 4, {2, 16, 2, 2}, 1, 15, 1e-3f},
	{"bn training NC opset 9", 2, {5, 3}, 1, 9, 1e-5f},
	{"bn training NCD opset 14", 3, {2, 3, 4}, 1, 14, 1e-5f},
	{"bn inference opset 15", 4, {2, 3, 2, 3}, 0, 15, 1e-5f},
	{"bn inference opset 9", 3, {2, 4, 3}, 0, 9, 1e-2f},
};

static void test_bn(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof bn_cases / sizeof bn_cases[0]; i++)
		check_bn(&bn_cases[i]);
}

/* --- Gemm and MatMul ---------------------------------------------------------- */

typedef struct mm_case {
	const char *name;
	const char *op;
	int n_in;
	const char *shapes[3];
	int trans_a, trans_b;
	float alpha, beta;
	int opset;
} mm_case;

/* Builds loss = sum(op(a, b[, c]) * R) in dtype with R of the output's
 * shape (found by inference) and returns the model. */
static graph_model *mm_model(const mm_case *mc, int dtype)
{
	graph_model *m = model(mc->opset);
	graph *g = m->graph;
	static const char *const nm[] = {"a", "b", "c"};
	for (int i = 0; i < mc->n_in; i++)
		input(g, nm[i], dtype, mc->shapes[i]);
	graph_node *n = add(g, mc->op, "mm", mc->n_in == 3 ? "a,b,c" : "a,b", "y");
	if (!strcmp(mc->op, "Gemm")) {
		if (mc->trans_a)
			attr_int(n, "transA", 1);
		if (mc->trans_b)
			attr_int(n, "transB", 1);
		if (mc->alpha != 1)
			attr_float(n, "alpha", mc->alpha);
		if (mc->beta != 1)
			attr_float(n, "beta", mc->beta);
	}
	sc_error err = {0};
	assert_int_equal(graph_infer_shapes(m, &err), SC_OK);
	const graph_type *yt = &g->values[val(g, "y")].type;
	int64_t dims[SC_MAX_RANK];
	for (int d = 0; d < yt->rank; d++)
		dims[d] = yt->dims[d].value;
	sc_tensor r = make(dtype, yt->rank, dims);
	unsigned keep = rng;
	rng = 777;
	for (int64_t k = 0; k < r.numel; k++) {
		if (dtype == SC_DOUBLE)
			((double *)r.data)[k] = uniform(-1, 1);
		else
			((float *)r.data)[k] = (float)uniform(-1, 1);
	}
	rng = keep;
	assert_int_equal(graph_add_init(g, val(g, "R"), &r, &err), SC_OK);
	add(g, "Mul", "weigh", "y,R", "yr");
	attr_int(add(g, "ReduceSum", "sum", "yr", "L"), "keepdims", 0);
	output(g, "L");
	return m;
}

static void check_mm(const mm_case *mc)
{
	static const char *const nm[] = {"a", "b", "c"};
	sc_error err = {0};
	int grads[3];
	graph_model *m = mm_model(mc, SC_DOUBLE);
	if (autodiff_build(m, "L", mc->n_in, nm, grads, &err))
		fail_msg("%s: autodiff: %s", mc->name, err.msg);
	plan *p;
	plan_options opt = {.threads = 1};
	if (plan_create(m, &opt, &p, &err))
		fail_msg("%s: plan: %s", mc->name, err.msg);
	sc_tensor x[3], xf[3];
	const sc_tensor *ins[3], *insf[3];
	for (int i = 0; i < mc->n_in; i++) {
		int64_t dims[SC_MAX_RANK];
		int rank = parse_dims(mc->shapes[i], dims);
		x[i] = make(SC_DOUBLE, rank, dims);
		xf[i] = make(SC_FLOAT, rank, dims);
		for (int64_t k = 0; k < x[i].numel; k++) {
			float v = (float)uniform(-1, 1);
			((double *)x[i].data)[k] = v;
			((float *)xf[i].data)[k] = v;
		}
		ins[i] = &x[i];
		insf[i] = &xf[i];
	}
	if (plan_run(p, mc->n_in, nm, ins, &err))
		fail_msg("%s: run: %s", mc->name, err.msg);
	double *analytic[3];
	const char *gnames[3];
	for (int i = 0; i < mc->n_in; i++) {
		gnames[i] = m->graph->values[grads[i]].name;
		const sc_tensor *gt = NULL;
		for (int o = 0; o < plan_output_count(p); o++)
			if (!strcmp(plan_output_name(p, o), gnames[i]))
				gt = plan_output(p, o);
		assert_non_null(gt);
		assert_int_equal(gt->numel, x[i].numel);
		assert_int_equal(gt->rank, x[i].rank);
		analytic[i] = malloc((size_t)gt->numel * sizeof(double));
		memcpy(analytic[i], gt->data, (size_t)gt->numel * sizeof(double));
	}
	double worst = 0;
	for (int i = 0; i < mc->n_in; i++)
		for (int64_t k = 0; k < x[i].numel; k++) {
			double *xv = &((double *)x[i].data)[k], keep = *xv;
			*xv = keep + FD_H;
			assert_int_equal(plan_run(p, mc->n_in, nm, ins, &err), SC_OK);
			double up = *(const double *)plan_output(p, 0)->data;
			*xv = keep - FD_H;
			assert_int_equal(plan_run(p, mc->n_in, nm, ins, &err), SC_OK);
			double down = *(const double *)plan_output(p, 0)->data;
			*xv = keep;
			double num = (up - down) / (2 * FD_H), a = analytic[i][k];
			double e = fabs(a - num) / (1e-6 + fabs(num));
			worst = e > worst ? e : worst;
			if (fabs(a - num) > 1e-6 + 1e-5 * fabs(num))
				fail_msg("%s: d/d%s[%lld]: autodiff %.10g, finite differences %.10g",
					 mc->name, nm[i], (long long)k, a, num);
		}
	plan_free(p);
	graph_model_free(m);

	/* float32 through oneDNN: the same gradients to float32 accuracy */
	m = mm_model(mc, SC_FLOAT);
	if (autodiff_build(m, "L", mc->n_in, nm, grads, &err))
		fail_msg("%s: autodiff (float32): %s", mc->name, err.msg);
	for (int i = 0; i < mc->n_in; i++)
		gnames[i] = m->graph->values[grads[i]].name;
	double *got[3];
	run_collect(m, mc->n_in, nm, insf, mc->n_in, gnames, got);
	for (int i = 0; i < mc->n_in; i++) {
		for (int64_t k = 0; k < x[i].numel; k++)
			expect_near(got[i][k], analytic[i][k], 1e-4, 1e-5, mc->name, k);
		free(got[i]);
		free(analytic[i]);
		tensor_free(&x[i]);
		tensor_free(&xf[i]);
	}
	graph_model_free(m);
	print_message("%-34s worst relative error %.2e\n", mc->name, worst);
}

static const mm_case mm_cases[] = {
	{"gemm plain, C [N]", "Gemm", 3, {"3,4", "4,5", "5"}, 0, 0, 1, 1, 13},
	{"gemm transA", "Gemm", 3, {"4,3", "4,5", "3,5"}, 1, 0, 1, 1, 13},
	{"gemm transB alpha beta", "Gemm", 3, {"3,4", "5,4", "3,1"}, 0, 1, 0.5f, 2.0f, 13},
	{"gemm transA transB", "Gemm", 3, {"4,3", "5,4", "1,5"}, 1, 1, 1.5f, 1, 13},
	{"gemm scalar C opset 9", "Gemm", 3, {"2,3", "3,4", ""}, 0, 0, 2.0f, 0.5f, 9},
	{"gemm transA opset 7", "Gemm", 3, {"3,2", "3,4", "2,4"}, 1, 0, 1, 1, 7},
	{"gemm no C opset 11", "Gemm", 2, {"3,4", "5,4"}, 0, 1, 0.75f, 1, 11},
	{"matmul 2-D", "MatMul", 2, {"3,4", "4,2"}, 0, 0, 1, 1, 13},
	{"matmul batched broadcast", "MatMul", 2, {"2,1,3,4", "3,4,2"}, 0, 0, 1, 1, 13},
	{"matmul A 1-D", "MatMul", 2, {"4", "2,4,3"}, 0, 0, 1, 1, 13},
	{"matmul B 1-D", "MatMul", 2, {"2,3,4", "4"}, 0, 0, 1, 1, 13},
	{"matmul A 1-D opset 9", "MatMul", 2, {"4", "4,3"}, 0, 0, 1, 1, 9},
	{"matmul B 1-D opset 9", "MatMul", 2, {"3,4", "4"}, 0, 0, 1, 1, 9},
	{"matmul both 1-D", "MatMul", 2, {"5", "5"}, 0, 0, 1, 1, 13},
};

static void test_gemm_matmul(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof mm_cases / sizeof mm_cases[0]; i++)
		check_mm(&mm_cases[i]);
}

/* --- bad input ------------------------------------------------------------------ */

static void test_bad_inputs(void **state)
{
	(void)state;
	sc_error err = {0};
	/* dY that does not have the forward output's shape */
	graph_model *m = model(13);
	add_opset(m, "ai.supcon", 1);
	graph *g = m->graph;
	input(g, "dy", SC_FLOAT, "1,1,3,3");
	input(g, "x", SC_FLOAT, "1,1,4,4");
	graph_node *n = add_supcon(g, "MaxPoolGrad", "dy,x", "dx");
	attr_ints(n, "kernel_shape", 2, 2, 2);
	attr_ints(n, "strides", 2, 2, 2);
	output(g, "dx");
	plan *p;
	plan_options opt = {.threads = 1};
	int rc = plan_create(m, &opt, &p, &err);
	if (!rc) {
		int64_t d3[4] = {1, 1, 3, 3}, d4[4] = {1, 1, 4, 4};
		sc_tensor dy = make(SC_FLOAT, 4, d3), x = make(SC_FLOAT, 4, d4);
		const char *nm[] = {"dy", "x"};
		const sc_tensor *ins[] = {&dy, &x};
		rc = plan_run(p, 2, nm, ins, &err);
		plan_free(p);
		tensor_free(&dy);
		tensor_free(&x);
	}
	assert_int_equal(rc, SC_EINVAL);
	assert_non_null(strstr(err.msg, "dY is [1, 1, 3, 3], expected the forward output's shape [1, 1, 2, 2]"));
	graph_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gemm_matmul),
		cmocka_unit_test(test_pool),
		cmocka_unit_test(test_conv),
		cmocka_unit_test(test_bn),
		cmocka_unit_test(test_bad_inputs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
