/* reduce_grad.c: gradients of the reductions and of LpNormalization.
 *
 * A reduction's gradient is dY (and Y) broadcast back over the reduced axes
 * of X, times a local factor:
 *   ReduceSum        dX = dY
 *   ReduceMean       dX = dY / n    (n: the elements folded into each output)
 *   ReduceSumSquare  dX = 2 X dY
 *   ReduceL2         dX = dY X / Y  (0 where Y = 0, as PyTorch's norm)
 *   ReduceLogSumExp  dX = dY exp(X - Y)
 *   ReduceMax, Min   dX = dY [X == Y] / #{X == Y}
 * The last is PyTorch's amax/amin convention: tied extremes share the
 * gradient evenly (torch.max(x, dim) would give all of it to one index).
 * A NaN extreme equals nothing, so its slice gets 0/0 = NaN, as in PyTorch.
 *
 * One kernel, ai.supcon.ReduceGrad(dY, X, Y, axes), does all of them at
 * every opset.  It reads the reduced axes as the forward op does (attribute
 * `axes`, or ReduceSum-13's axes input with noop_with_empty_axes), and
 * since keepdims only keeps or drops size-1 axes, dY's elements are in the
 * same order either way: keepdims needs no handling.  As standard ops the
 * same would take Unsqueeze (axes an attribute before opset 13, an input
 * after), Equal (floats only from 11), a ReduceSum for the tie counts and
 * an Expand, each a pass over X.
 *
 * LpNormalization, y = x / n with n = ||x||_p along `axis`:
 *   dX = (dY - s sum(dY y)) / n,   s = y for p = 2, sign(x) for p = 1,
 * and 0 where n = 0.  The forward gives zeros there, as ONNX Runtime does
 * (PyTorch's F.normalize divides by max(n, eps) instead), and has no
 * derivative at 0; 0 is the subgradient closest to that forward.
 * ai.supcon.LpNormalizationGrad(dY, X) recomputes n from X.
 *
 * Kernels take float and double; sums accumulate in double. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/autodiff.h"
#include "../runtime/exec.h"
#include "grad_attrs.h"
#include "infer_util.h"
#include "reduce_grad.h"
#include "registry.h"

/* Loops over fewer elements than this stay on one thread. */
#define PAR_MIN 32768
/* Elements of X per parallel chunk of ReduceGrad. */
#define CHUNK 4096
/* Positions along the inner dims handled together by LpNormalizationGrad. */
#define BLOCK 64
#define MAX_AXES 64

enum { RG_SUM, RG_MEAN, RG_SUMSQ, RG_L2, RG_LSE, RG_MAX, RG_MIN };

static const struct rg_kind {
	const char *op;
	int kind;
	int needs_y;
} rg_kinds[] = {
	{"ReduceSum", RG_SUM, 0},
	{"ReduceMean", RG_MEAN, 0},
	{"ReduceSumSquare", RG_SUMSQ, 0},
	{"ReduceL2", RG_L2, 1},
	{"ReduceLogSumExp", RG_LSE, 1},
	{"ReduceMax", RG_MAX, 1},
	{"ReduceMin", RG_MIN, 1},
};

#define N_KINDS ((int)(sizeof rg_kinds / sizeof rg_kinds[0]))

static const struct rg_kind *rg_kind_named(const char *op)
{
	for (int i = 0; i < N_KINDS; i++)
		if (strcmp(rg_kinds[i].op, op) == 0)
			return &rg_kinds[i];
	return NULL;
}

/* --- rules --------------------------------------------------------------- */

int reduce_grad(grad_ctx *c, int node, const int *dy, int *dx, sc_error *err)
{
	if (dx[0] != -2)
		return SC_OK;
	const graph_node *n = grad_fwd(c, node);
	const struct rg_kind *kind = rg_kind_named(n->op_type);
	if (!kind)
		return infer_fail(grad_graph(c), n, err, "has no gradient rule");
	/* ReduceSum takes its axes as an input from opset 13 */
	int axes_input = kind->kind == RG_SUM && grad_opset(c) >= 13;
	int in[4] = {dy[0], n->inputs[0], kind->needs_y ? n->outputs[0] : -1, -1};
	int n_in = 3;
	if (axes_input && n->n_inputs > 1 && n->inputs[1] >= 0) {
		in[3] = n->inputs[1];
		n_in = 4;
	}
	int64_t axes[MAX_AXES];
	const int64_t *av = NULL;
	int na = axes_input ? -1 : infer_attr_ints(n, "axes", &av);
	if (na > MAX_AXES)
		return infer_fail(grad_graph(c), n, err, "axes lists %d values", na);
	for (int i = 0; i < na; i++)
		axes[i] = av[i];
	int noop = axes_input && infer_attr_int(n, "noop_with_empty_axes", 0) != 0;

	int idx = grad_emit(c, "ReduceGrad", "ai.supcon", n_in, in, 1, &dx[0], err);
	if (idx < 0)
		return err->code;
	graph_node *g = &grad_graph(c)->nodes[idx];
	int rc = grad_attr_string(g, "op", kind->op, err);
	if (!rc && na >= 0)
		rc = grad_attr_ints(g, "axes", axes, na, err);
	if (!rc && noop)
		rc = grad_attr_int(g, "noop_with_empty_axes", 1, err);
	return rc;
}

int lpnorm_grad(grad_ctx *c, int node, const int *dy, int *dx, sc_error *err)
{
	if (dx[0] != -2)
		return SC_OK;
	const graph_node *n = grad_fwd(c, node);
	int64_t axis = infer_attr_int(n, "axis", -1);
	int64_t p = infer_attr_int(n, "p", 2);
	int in[2] = {dy[0], n->inputs[0]};
	int idx = grad_emit(c, "LpNormalizationGrad", "ai.supcon", 2, in, 1,
			    &dx[0], err);
	if (idx < 0)
		return err->code;
	graph_node *g = &grad_graph(c)->nodes[idx];
	int rc = grad_attr_int(g, "axis", axis, err);
	if (!rc)
		rc = grad_attr_int(g, "p", p, err);
	return rc;
}

/* --- shared ---------------------------------------------------------------- */

static const char *out_name(const op_kernel *k)
{
	return k->g->values[k->node->outputs[0]].name;
}

/* dX has X's shape (input 1) and dY's element type. */
static int grad_like_x_infer(graph *g, const graph_node *n, int64_t opset,
			     sc_error *err)
{
	(void)opset;
	infer_tensor dy, x;
	infer_input(g, n, 0, &dy);
	infer_input(g, n, 1, &x);
	if (dy.elem)
		x.elem = dy.elem;
	return infer_set_output(g, n, 0, &x, err);
}

/* dY, X (and Y when given) present, float or double, of one type. */
static int check_float_inputs(op_kernel *k, int n_needed, sc_error *err)
{
	static const char *const names[] = {"dY", "X", "Y"};
	for (int i = 0; i < n_needed; i++)
		if (i >= k->n_in || !k->in[i])
			return op_fail(k, err, SC_EINVAL, "input %s is missing", names[i]);
	int dt = k->in[1]->dtype;
	if (dt != SC_FLOAT && dt != SC_DOUBLE)
		return op_fail(k, err, SC_EUNSUPPORTED,
			       "gradient of a %s tensor (float32 and float64 only)",
			       tensor_dtype_name(dt));
	for (int i = 0; i < 3 && i < k->n_in; i++)
		if (k->in[i] && (int)k->in[i]->dtype != dt)
			return op_fail(k, err, SC_EINVAL, "%s is %s but X is %s",
				       names[i], tensor_dtype_name(k->in[i]->dtype),
				       tensor_dtype_name(dt));
	return SC_OK;
}

/* --- ReduceGrad ------------------------------------------------------------- */

const op_attr_spec reduce_grad_attrs[] = {
	{"op", ATTR_STRING},
	{"axes", ATTR_INTS},
	{"noop_with_empty_axes", ATTR_INT},
	{NULL, 0},
};

int reduce_grad_infer(graph *g, const graph_node *n, int64_t opset,
		      sc_error *err)
{
	return grad_like_x_infer(g, n, opset, err);
}

typedef struct rgrad_state {
	int kind;
	int rank;
	int64_t dims[SC_MAX_RANK];     /* X's */
	int64_t ostride[SC_MAX_RANK];  /* dY's stride along X's axis; 0 if reduced */
	int64_t n_out;
	double inv_n;                  /* 1 / elements folded into one output */
} rgrad_state;

/* Marks the reduced axes of a rank-`rank` X in marked[]. */
static int rgrad_axes(op_kernel *k, int rank, int *marked, sc_error *err)
{
	const sc_tensor *at = k->n_in > 3 ? k->in[3] : NULL;
	int64_t axes[MAX_AXES];
	int na = 0;
	if (at) {
		if (at->dtype != SC_INT64 || at->rank > 1 || at->numel > MAX_AXES)
			return op_fail(k, err, SC_EINVAL,
				       "axes must be a 1-D int64 list of at most %d values",
				       MAX_AXES);
		na = (int)at->numel;
		memcpy(axes, at->data, (size_t)na * sizeof *axes);
	} else {
		const int64_t *av;
		na = infer_attr_ints(k->node, "axes", &av);
		if (na > MAX_AXES)
			return op_fail(k, err, SC_EINVAL, "axes lists %d values", na);
		for (int i = 0; i < na; i++)
			axes[i] = av[i];
		na = na < 0 ? 0 : na;
	}
	/* no axes: all of them, unless that was declared a no-op */
	int all = na == 0 && !infer_attr_int(k->node, "noop_with_empty_axes", 0);
	for (int i = 0; i < rank; i++)
		marked[i] = all;
	for (int i = 0; i < na; i++) {
		int a;
		if (infer_axis(axes[i], rank, &a))
			return op_fail(k, err, SC_EINVAL,
				       "axis %lld is out of range for rank %d",
				       (long long)axes[i], rank);
		marked[a] = 1;
	}
	return SC_OK;
}

int reduce_grad_prepare(op_kernel *k, sc_error *err)
{
	const struct rg_kind *kind = NULL;
	for (int i = 0; i < N_KINDS && !kind; i++)
		if (infer_attr_is(k->node, "op", NULL, rg_kinds[i].op))
			kind = &rg_kinds[i];
	if (!kind)
		return op_fail(k, err, SC_EINVAL,
			       "attribute 'op' must name ReduceSum, ReduceMean, ReduceSumSquare, "
			       "ReduceL2, ReduceLogSumExp, ReduceMax or ReduceMin");
	int rc = check_float_inputs(k, kind->needs_y ? 3 : 2, err);
	if (rc)
		return rc;
	const sc_tensor *dy = k->in[0], *x = k->in[1];
	const sc_tensor *y = kind->needs_y ? k->in[2] : NULL;
	int marked[SC_MAX_RANK];
	if ((rc = rgrad_axes(k, x->rank, marked, err)))
		return rc;
	rgrad_state *s = calloc(1, sizeof *s);
	if (!s)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	k->state = s;
	s->kind = kind->kind;
	s->rank = x->rank;
	int64_t stride = 1, n_red = 1;
	for (int i = x->rank - 1; i >= 0; i--) {
		s->dims[i] = x->dims[i];
		s->ostride[i] = marked[i] ? 0 : stride;
		if (marked[i])
			n_red *= x->dims[i];
		else
			stride *= x->dims[i];
	}
	s->n_out = stride;
	s->inv_n = n_red ? 1.0 / (double)n_red : 0;
	if (dy->numel != s->n_out || (y && y->numel != s->n_out))
		return op_fail(k, err, SC_EINVAL,
			       "%s has %lld elements but reducing X gives %lld",
			       dy->numel != s->n_out ? "dY" : "Y",
			       (long long)(dy->numel != s->n_out ? dy->numel : y->numel),
			       (long long)s->n_out);
	if (s->kind == RG_MAX || s->kind == RG_MIN)
		exec_scratch_request(k->env, (size_t)s->n_out * sizeof(double));
	return tensor_set_shape(k->out[0], x->dtype, x->rank, x->dims, out_name(k),
				err);
}

/* Points (idx, o) at element i of X: o is the matching element of dY. */
static inline int64_t rgrad_seek(const rgrad_state *s, int64_t i, int64_t *idx)
{
	int64_t o = 0;
	for (int d = s->rank - 1; d >= 0; d--) {
		idx[d] = i % s->dims[d];
		i /= s->dims[d];
		o += idx[d] * s->ostride[d];
	}
	return o;
}

static inline int64_t rgrad_next(const rgrad_state *s, int64_t *idx, int64_t o)
{
	for (int d = s->rank - 1; d >= 0; d--) {
		o += s->ostride[d];
		if (++idx[d] < s->dims[d])
			return o;
		o -= s->ostride[d] * s->dims[d];
		idx[d] = 0;
	}
	return o;
}

/* count[o] = how many elements of X equal the extreme Y[o]. */
#define DEFINE_RGRAD_COUNT(NAME, T)						\
static void NAME(const rgrad_state *s, const T *x, const T *y,		\
		 double *count, int64_t numel)					\
{										\
	int64_t idx[SC_MAX_RANK] = {0}, o = 0;					\
	for (int64_t j = 0; j < s->n_out; j++)					\
		count[j] = 0;							\
	for (int64_t i = 0; i < numel; i++) {					\
		count[o] += x[i] == y[o];					\
		o = rgrad_next(s, idx, o);					\
	}									\
}

#define DEFINE_RGRAD(NAME, T)							\
static void NAME(const rgrad_state *s, const T *dy, const T *x,		\
		 const T *y, const double *count, T *dx, int64_t numel)		\
{										\
	const int64_t nch = (numel + CHUNK - 1) / CHUNK;			\
	const int kind = s->kind;						\
	_Pragma("omp parallel for schedule(static) if (numel > PAR_MIN)")	\
	for (int64_t ch = 0; ch < nch; ch++) {					\
		int64_t i1 = (ch + 1) * CHUNK < numel ? (ch + 1) * CHUNK : numel; \
		int64_t idx[SC_MAX_RANK];					\
		int64_t o = rgrad_seek(s, ch * CHUNK, idx);			\
		for (int64_t i = ch * CHUNK; i < i1; i++) {			\
			double g = dy[o], v = x[i], r;				\
			switch (kind) {						\
			case RG_SUM: r = g; break;				\
			case RG_MEAN: r = g * s->inv_n; break;			\
			case RG_SUMSQ: r = 2 * v * g; break;			\
			case RG_L2: r = y[o] != 0 ? g * v / y[o] : 0; break;	\
			case RG_LSE: r = g * exp(v - y[o]); break;		\
			default: r = (x[i] == y[o]) * g / count[o]; break;	\
			}							\
			dx[i] = (T)r;						\
			o = rgrad_next(s, idx, o);				\
		}								\
	}									\
}

DEFINE_RGRAD_COUNT(rgrad_count_f32, float)
DEFINE_RGRAD_COUNT(rgrad_count_f64, double)
DEFINE_RGRAD(rgrad_f32, float)
DEFINE_RGRAD(rgrad_f64, double)

int reduce_grad_run(op_kernel *k, sc_error *err)
{
	(void)err;
	const rgrad_state *s = k->state;
	const sc_tensor *x = k->in[1];
	const void *dy = k->in[0]->data, *y = k->n_in > 2 && k->in[2] ? k->in[2]->data : NULL;
	void *dx = k->out[0]->data;
	double *count = NULL;
	if (x->numel == 0)
		return SC_OK;
	if (s->kind == RG_MAX || s->kind == RG_MIN) {
		count = exec_scratch(k->env);
		if (x->dtype == SC_FLOAT)
			rgrad_count_f32(s, x->data, y, count, x->numel);
		else
			rgrad_count_f64(s, x->data, y, count, x->numel);
	}
	if (x->dtype == SC_FLOAT)
		rgrad_f32(s, dy, x->data, y, count, dx, x->numel);
	else
		rgrad_f64(s, dy, x->data, y, count, dx, x->numel);
	return SC_OK;
}

/* --- LpNormalizationGrad ------------------------------------------------------ */

const op_attr_spec lpnorm_grad_attrs[] = {
	{"axis", ATTR_INT},
	{"p", ATTR_INT},
	{NULL, 0},
};

int lpnorm_grad_infer(graph *g, const graph_node *n, int64_t opset,
		      sc_error *err)
{
	return grad_like_x_infer(g, n, opset, err);
}

typedef struct lpgrad_state {
	int64_t outer, len, inner;
	int p;
} lpgrad_state;

int lpnorm_grad_prepare(op_kernel *k, sc_error *err)
{
	int rc = check_float_inputs(k, 2, err);
	if (rc)
		return rc;
	const sc_tensor *dy = k->in[0], *x = k->in[1];
	if (dy->rank != x->rank || memcmp(dy->dims, x->dims, (size_t)x->rank * sizeof *x->dims))
		return op_fail(k, err, SC_EINVAL, "dY's shape differs from X's");
	int64_t axis = infer_attr_int(k->node, "axis", -1);
	int64_t p = infer_attr_int(k->node, "p", 2);
	int a;
	if (p != 1 && p != 2)
		return op_fail(k, err, SC_EINVAL, "p = %lld, expected 1 or 2", (long long)p);
	if (x->rank == 0 || infer_axis(axis, x->rank, &a))
		return op_fail(k, err, SC_EINVAL, "axis %lld is out of range for rank %d",
			       (long long)axis, x->rank);
	lpgrad_state *s = malloc(sizeof *s);
	if (!s)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	k->state = s;
	s->outer = s->inner = 1;
	s->len = x->dims[a];
	for (int i = 0; i < a; i++)
		s->outer *= x->dims[i];
	for (int i = a + 1; i < x->rank; i++)
		s->inner *= x->dims[i];
	s->p = (int)p;
	return tensor_set_shape(k->out[0], x->dtype, x->rank, x->dims, out_name(k),
				err);
}

/* Tiles of up to BLOCK neighbouring inner positions, so that each step
 * along the axis reads contiguous memory: one pass for the norm and
 * sum(dY x), one for dX. */
#define DEFINE_LPGRAD(NAME, T)							\
static void NAME(const lpgrad_state *s, const T *dy, const T *x, T *dx)	\
{										\
	const int64_t len = s->len, inner = s->inner;				\
	const int64_t nb = (inner + BLOCK - 1) / BLOCK;			\
	const int64_t tiles = s->outer * nb;					\
	const int p1 = s->p == 1;						\
	_Pragma("omp parallel for schedule(static) if (tiles * len * BLOCK > PAR_MIN)") \
	for (int64_t t = 0; t < tiles; t++) {					\
		int64_t o = t / nb, i0 = (t - o * nb) * BLOCK;			\
		int bl = (int)(inner - i0 < BLOCK ? inner - i0 : BLOCK);	\
		int64_t base = o * len * inner + i0;				\
		double nrm[BLOCK], dot[BLOCK];					\
		for (int j = 0; j < bl; j++)					\
			nrm[j] = dot[j] = 0;					\
		for (int64_t a = 0; a < len; a++)				\
			for (int j = 0; j < bl; j++) {				\
				double v = x[base + a * inner + j];		\
				nrm[j] += p1 ? fabs(v) : v * v;			\
				dot[j] += v * dy[base + a * inner + j];		\
			}							\
		for (int j = 0; j < bl; j++) {					\
			double n = p1 ? nrm[j] : sqrt(nrm[j]);			\
			nrm[j] = n != 0 ? 1 / n : 0;	/* 1/n, or 0 */		\
			dot[j] *= nrm[j];		/* sum(dY y) */		\
		}								\
		for (int64_t a = 0; a < len; a++)				\
			for (int j = 0; j < bl; j++) {				\
				int64_t at = base + a * inner + j;		\
				double v = x[at];				\
				double sg = p1 ? (v > 0) - (v < 0) : v * nrm[j]; \
				dx[at] = (T)((dy[at] - sg * dot[j]) * nrm[j]);	\
			}							\
	}									\
}

DEFINE_LPGRAD(lpgrad_f32, float)
DEFINE_LPGRAD(lpgrad_f64, double)

int lpnorm_grad_run(op_kernel *k, sc_error *err)
{
	(void)err;
	const lpgrad_state *s = k->state;
	if (k->in[1]->numel == 0)
		return SC_OK;
	if (k->in[1]->dtype == SC_FLOAT)
		lpgrad_f32(s, k->in[0]->data, k->in[1]->data, k->out[0]->data);
	else
		lpgrad_f64(s, k->in[0]->data, k->in[1]->data, k->out[0]->data);
	return SC_OK;
}
