/* softmax_grad.c: gradients of Softmax, LogSoftmax and the classification
 * losses, with their backward kernels in domain ai.supcon.
 *
 * Along the normalised axis (the trailing block from `axis` in opsets
 * 1-12, `axis` alone from 13, as the forward ops in softmax.c):
 *   Softmax     dX = Y (dY - sum(dY Y))
 *   LogSoftmax  dX = dY - exp(Y) sum(dY)
 * SoftmaxGrad and LogSoftmaxGrad(dY, Y) carry the forward's axis and a
 * `coerce` flag for the opset-12 semantics, since their own opset (ai.supcon
 * 1) says nothing about the model's.
 *
 * SoftmaxCrossEntropyLoss, per label position t with label l and weight
 * w = weights[l] (1 without weights), p = softmax(scores) over C:
 *   d scores[t, c] = k_t (p_c - [c == l]) + dLogProb[t, c] - p_c sum(dLogProb[t])
 * NegativeLogLikelihoodLoss (scores are log-probabilities already):
 *   d input[t, c] = -k_t [c == l]
 * with k_t = dY[t] w for reduction "none", dY w for "sum" and dY w / W for
 * "mean", W the summed weight of the positions that count; positions whose
 * label is ignore_index get k_t = 0.  The dLogProb term is there only when
 * SCE's optional log_prob output carries a gradient.  Labels and weights
 * get no gradient.  The fused kernels recompute the softmax from the scores
 * (C exponentials per position, like reading exp(log_prob) back) so that
 * they do not depend on log_prob being an output.  Mean with W = 0 gives
 * 0/0 as in PyTorch. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/autodiff.h"
#include "grad_attrs.h"
#include "infer_util.h"
#include "registry.h"
#include "softmax_grad.h"

/* Loops over fewer elements than this stay on one thread. */
#define PAR_MIN 32768
/* Positions along the inner dims handled together, so that each step along
 * the normalised axis reads contiguous memory. */
#define BLOCK 128

static const char *out_name(const op_kernel *k)
{
	return k->g->values[k->node->outputs[0]].name;
}

/* --- rules ------------------------------------------------------------------ */

int softmax_grad(grad_ctx *c, int node, const int *dy, int *dx, sc_error *err)
{
	if (dx[0] != -2)
		return SC_OK;
	const graph_node *n = grad_fwd(c, node);
	int log = strcmp(n->op_type, "LogSoftmax") == 0;
	if (!log && strcmp(n->op_type, "Softmax") != 0)
		return infer_fail(grad_graph(c), n, err, "has no gradient rule");
	int coerce = grad_opset(c) < 13;
	int64_t axis = infer_attr_int(n, "axis", coerce ? 1 : -1);
	int in[2] = {dy[0], n->outputs[0]};
	int idx = grad_emit(c, log ? "LogSoftmaxGrad" : "SoftmaxGrad", "ai.supcon",
			    2, in, 1, &dx[0], err);
	if (idx < 0)
		return err->code;
	graph_node *g = &grad_graph(c)->nodes[idx];
	int rc = grad_attr_int(g, "axis", axis, err);
	if (!rc && coerce)
		rc = grad_attr_int(g, "coerce", 1, err);
	return rc;
}

enum { LOSS_NONE, LOSS_SUM, LOSS_MEAN };

static const char *const reduction_names[] = {"none", "sum", "mean"};

/* The reduction attribute of a loss node (default "mean"), or -1. */
static int loss_reduction(const graph_node *n)
{
	for (int r = 0; r < 3; r++)
		if (infer_attr_is(n, "reduction", "mean", reduction_names[r]))
			return r;
	return -1;
}

int loss_grad(grad_ctx *c, int node, const int *dy, int *dx, sc_error *err)
{
	if (dx[0] != -2)
		return SC_OK;
	const graph_node *n = grad_fwd(c, node);
	int sce = strcmp(n->op_type, "SoftmaxCrossEntropyLoss") == 0;
	int reduction = loss_reduction(n);
	if (reduction < 0)
		return infer_fail(grad_graph(c), n, err,
				  "reduction must be none, mean or sum");
	const graph_attr *ii = graph_node_attr(n, "ignore_index");
	int has_ii = ii && ii->type == ATTR_INT;
	int64_t ii_value = has_ii ? ii->i : 0;
	int in[5] = {dy[0], n->inputs[0], n->inputs[1],
		     n->n_inputs > 2 ? n->inputs[2] : -1,
		     sce && n->n_outputs > 1 ? dy[1] : -1};
	int n_in = 5;
	while (n_in > 3 && in[n_in - 1] < 0)
		n_in--;
	int idx = grad_emit(c, sce ? "SoftmaxCrossEntropyLossGrad" :
				     "NegativeLogLikelihoodLossGrad",
			    "ai.supcon", n_in, in, 1, &dx[0], err);
	if (idx < 0)
		return err->code;
	graph_node *g = &grad_graph(c)->nodes[idx];
	int rc = grad_attr_string(g, "reduction", reduction_names[reduction], err);
	if (!rc && has_ii)
		rc = grad_attr_int(g, "ignore_index", ii_value, err);
	return rc;
}

/* --- SoftmaxGrad, LogSoftmaxGrad ------------------------------------------- */

const op_attr_spec softmax_grad_attrs[] = {
	{"axis", ATTR_INT},
	{"coerce", ATTR_INT},
	{NULL, 0},
};

/* Output: input `like`'s shape, dY's element type. */
static int grad_infer_like(graph *g, const graph_node *n, int like,
			   sc_error *err)
{
	infer_tensor dy, x;
	infer_input(g, n, 0, &dy);
	infer_input(g, n, like, &x);
	if (dy.elem)
		x.elem = dy.elem;
	return infer_set_output(g, n, 0, &x, err);
}

int softmax_grad_infer(graph *g, const graph_node *n, int64_t opset,
		       sc_error *err)
{
	(void)opset;
	return grad_infer_like(g, n, 1, err);
}

typedef struct smgrad_state {
	int64_t outer, len, inner;
	int log;
} smgrad_state;

int softmax_grad_prepare(op_kernel *k, sc_error *err)
{
	const sc_tensor *dy = k->in[0], *y = k->n_in > 1 ? k->in[1] : NULL;
	if (!dy || !y)
		return op_fail(k, err, SC_EINVAL, "needs dY and Y");
	if (y->dtype != SC_FLOAT && y->dtype != SC_DOUBLE)
		return op_fail(k, err, SC_EUNSUPPORTED,
			       "gradient of a %s tensor (float32 and float64 only)",
			       tensor_dtype_name(y->dtype));
	if (dy->dtype != y->dtype || dy->rank != y->rank ||
	    memcmp(dy->dims, y->dims, (size_t)y->rank * sizeof *y->dims))
		return op_fail(k, err, SC_EINVAL, "dY and Y differ in type or shape");
	int coerce = infer_attr_int(k->node, "coerce", 0) != 0;
	int64_t axis = infer_attr_int(k->node, "axis", coerce ? 1 : -1);
	int a = 0;
	if (y->rank == 0 ? axis != 0 && axis != -1 : infer_axis(axis, y->rank, &a))
		return op_fail(k, err, SC_EINVAL, "axis %lld is out of range for rank %d",
			       (long long)axis, y->rank);
	smgrad_state *s = malloc(sizeof *s);
	if (!s)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	k->state = s;
	s->outer = s->len = s->inner = 1;
	for (int i = 0; i < y->rank; i++) {
		if (i < a)
			s->outer *= y->dims[i];
		else if (i == a || coerce)
			s->len *= y->dims[i];
		else
			s->inner *= y->dims[i];
	}
	s->log = strcmp(k->node->op_type, "LogSoftmaxGrad") == 0;
	return tensor_set_shape(k->out[0], y->dtype, y->rank, y->dims, out_name(k),
				err);
}

#define DEFINE_SMGRAD(NAME, T)							\
static void NAME(const smgrad_state *s, const T *dy, const T *y, T *dx)	\
{										\
	const int64_t len = s->len, inner = s->inner;				\
	const int64_t nb = (inner + BLOCK - 1) / BLOCK;			\
	const int64_t tiles = s->outer * nb;					\
	const int log = s->log;						\
	_Pragma("omp parallel for schedule(static) if (s->outer * len * inner > PAR_MIN)") \
	for (int64_t t = 0; t < tiles; t++) {					\
		int64_t o = t / nb, i0 = (t - o * nb) * BLOCK;			\
		int bl = (int)(inner - i0 < BLOCK ? inner - i0 : BLOCK);	\
		int64_t base = o * len * inner + i0;				\
		double sum[BLOCK];						\
		for (int j = 0; j < bl; j++)					\
			sum[j] = 0;						\
		for (int64_t a = 0; a < len; a++)				\
			for (int j = 0; j < bl; j++) {				\
				int64_t at = base + a * inner + j;		\
				sum[j] += log ? (double)dy[at] :		\
					 (double)dy[at] * y[at];		\
			}							\
		for (int64_t a = 0; a < len; a++)				\
			for (int j = 0; j < bl; j++) {				\
				int64_t at = base + a * inner + j;		\
				dx[at] = (T)(log ? dy[at] - exp(y[at]) * sum[j] : \
					     y[at] * (dy[at] - sum[j]));	\
			}							\
	}									\
}

DEFINE_SMGRAD(smgrad_f32, float)
DEFINE_SMGRAD(smgrad_f64, double)

int softmax_grad_run(op_kernel *k, sc_error *err)
{
	(void)err;
	const smgrad_state *s = k->state;
	if (k->in[1]->numel == 0)
		return SC_OK;
	if (k->in[1]->dtype == SC_FLOAT)
		smgrad_f32(s, k->in[0]->data, k->in[1]->data, k->out[0]->data);
	else
		smgrad_f64(s, k->in[0]->data, k->in[1]->data, k->out[0]->data);
	return SC_OK;
}

/* --- SoftmaxCrossEntropyLossGrad, NegativeLogLikelihoodLossGrad ------------- */

const op_attr_spec loss_grad_attrs[] = {
	{"ignore_index", ATTR_INT},
	{"reduction", ATTR_STRING},
	{NULL, 0},
};

int loss_grad_infer(graph *g, const graph_node *n, int64_t opset,
		    sc_error *err)
{
	(void)opset;
	infer_tensor s;
	infer_input(g, n, 1, &s);
	return infer_set_output(g, n, 0, &s, err);
}

typedef struct lgrad_state {
	int64_t n, c, d;      /* scores as [N, C, D], D the product of d1.. */
	int reduction;
	int has_ii;
	int64_t ii;
	int logits;           /* SCE: scores are logits, not log-probabilities */
} lgrad_state;

/* Checks one tensor's shape against dims[0..rank). */
static int same_dims(const sc_tensor *t, int rank, const int64_t *dims)
{
	return t->rank == rank &&
	       (rank == 0 || memcmp(t->dims, dims, (size_t)rank * sizeof *dims) == 0);
}

int loss_grad_prepare(op_kernel *k, sc_error *err)
{
	const sc_tensor *dy = k->in[0];
	const sc_tensor *x = k->n_in > 1 ? k->in[1] : NULL;
	const sc_tensor *lab = k->n_in > 2 ? k->in[2] : NULL;
	const sc_tensor *w = k->n_in > 3 ? k->in[3] : NULL;
	const sc_tensor *dlp = k->n_in > 4 ? k->in[4] : NULL;
	int logits = strcmp(k->node->op_type, "SoftmaxCrossEntropyLossGrad") == 0;
	if (!x || !lab || (!dy && !dlp))
		return op_fail(k, err, SC_EINVAL, "needs dY, scores and labels");
	if (dlp && !logits)
		return op_fail(k, err, SC_EINVAL, "has no log_prob gradient input");
	if (x->dtype != SC_FLOAT && x->dtype != SC_DOUBLE)
		return op_fail(k, err, SC_EUNSUPPORTED,
			       "gradient of %s scores (float32 and float64 only)",
			       tensor_dtype_name(x->dtype));
	if (lab->dtype != SC_INT32 && lab->dtype != SC_INT64)
		return op_fail(k, err, SC_EINVAL, "labels must be int32 or int64, not %s",
			       tensor_dtype_name(lab->dtype));
	if (x->rank < 2)
		return op_fail(k, err, SC_EINVAL,
			       "scores have rank %d, expected at least 2 (N, C)", x->rank);
	int64_t per[SC_MAX_RANK];
	per[0] = x->dims[0];
	for (int i = 2; i < x->rank; i++)
		per[i - 1] = x->dims[i];
	if (!same_dims(lab, x->rank - 1, per))
		return op_fail(k, err, SC_EINVAL, "labels do not match the scores' [N, D...]");
	if (w && (w->dtype != x->dtype || !same_dims(w, 1, &x->dims[1])))
		return op_fail(k, err, SC_EINVAL, "weights must be %s[%lld]",
			       tensor_dtype_name(x->dtype), (long long)x->dims[1]);
	int reduction = loss_reduction(k->node);
	if (reduction < 0)
		return op_fail(k, err, SC_EINVAL, "reduction must be none, mean or sum");
	if (dy && (dy->dtype != x->dtype ||
		   (reduction == LOSS_NONE ? !same_dims(dy, lab->rank, lab->dims) :
					     dy->numel != 1)))
		return op_fail(k, err, SC_EINVAL, "dY must be %s shaped like the loss",
			       tensor_dtype_name(x->dtype));
	if (dlp && (dlp->dtype != x->dtype || !same_dims(dlp, x->rank, x->dims)))
		return op_fail(k, err, SC_EINVAL, "dLogProb must be shaped like the scores");
	lgrad_state *s = calloc(1, sizeof *s);
	if (!s)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	k->state = s;
	s->reduction = reduction;
	s->logits = logits;
	const graph_attr *ii = graph_node_attr(k->node, "ignore_index");
	s->has_ii = ii && ii->type == ATTR_INT;
	s->ii = s->has_ii ? ii->i : 0;
	s->n = x->dims[0];
	s->c = x->dims[1];
	s->d = 1;
	for (int i = 2; i < x->rank; i++)
		s->d *= x->dims[i];
	return tensor_set_shape(k->out[0], x->dtype, x->rank, x->dims, out_name(k),
				err);
}

static inline int64_t label_at(const sc_tensor *lab, int64_t t)
{
	return lab->dtype == SC_INT64 ? ((const int64_t *)lab->data)[t] :
					((const int32_t *)lab->data)[t];
}

/* For position t: its scores start at base and step by `stride` over the C
 * classes; k is its coefficient k_t (see the top of the file). */
#define DEFINE_LGRAD(NAME, T, EXP)						\
static void NAME(const lgrad_state *s, const sc_tensor *lab, const T *x,	\
		 const T *dy, const T *w, const T *dlp, double wsum, T *dx)	\
{										\
	const int64_t count = s->n * s->d, nc = s->c, stride = s->d;		\
	_Pragma("omp parallel for schedule(static) if (count * nc > PAR_MIN)")	\
	for (int64_t t = 0; t < count; t++) {					\
		int64_t nn = t / stride, base = nn * nc * stride + (t - nn * stride); \
		int64_t l = label_at(lab, t);					\
		double k = 0;							\
		if (dy && !(s->has_ii && l == s->ii)) {				\
			k = s->reduction == LOSS_NONE ? (double)dy[t] : (double)dy[0]; \
			if (w)							\
				k *= w[l];					\
			if (s->reduction == LOSS_MEAN)				\
				k /= wsum;					\
		}								\
		if (!s->logits) {						\
			for (int64_t c = 0; c < nc; c++)			\
				dx[base + c * stride] = (T)(c == l ? -k : 0);	\
			continue;						\
		}								\
		T m = (T)-INFINITY;						\
		for (int64_t c = 0; c < nc; c++)				\
			m = x[base + c * stride] > m ? x[base + c * stride] : m; \
		double sum = 0, sdl = 0;					\
		for (int64_t c = 0; c < nc; c++) {				\
			T e = EXP(x[base + c * stride] - m);			\
			dx[base + c * stride] = e;				\
			sum += e;						\
			if (dlp)						\
				sdl += dlp[base + c * stride];			\
		}								\
		double inv = 1 / sum;						\
		for (int64_t c = 0; c < nc; c++) {				\
			int64_t at = base + c * stride;				\
			double p = dx[at] * inv;				\
			double g = k * (p - (c == l));				\
			if (dlp)						\
				g += dlp[at] - p * sdl;				\
			dx[at] = (T)g;						\
		}								\
	}									\
}

DEFINE_LGRAD(lgrad_f32, float, expf)
DEFINE_LGRAD(lgrad_f64, double, exp)

int loss_grad_run(op_kernel *k, sc_error *err)
{
	const lgrad_state *s = k->state;
	const sc_tensor *dy = k->in[0], *x = k->in[1], *lab = k->in[2];
	const sc_tensor *w = k->n_in > 3 ? k->in[3] : NULL;
	const sc_tensor *dlp = k->n_in > 4 ? k->in[4] : NULL;
	const int64_t count = s->n * s->d;
	double wsum = 0;
	/* labels are checked before anything is written, as the forward does */
	for (int64_t t = 0; t < count; t++) {
		int64_t l = label_at(lab, t);
		if (s->has_ii && l == s->ii)
			continue;
		if (l < 0 || l >= s->c)
			return op_fail(k, err, SC_EINVAL,
				       "label %lld at position %lld is outside [0, %lld)",
				       (long long)l, (long long)t, (long long)s->c);
		wsum += !w ? 1.0 : w->dtype == SC_FLOAT ? ((const float *)w->data)[l] :
							    ((const double *)w->data)[l];
	}
	if (x->numel == 0)
		return SC_OK;
#define LGRAD_ARGS(T) s, lab, x->data, dy ? (const T *)dy->data : NULL,	\
		w ? (const T *)w->data : NULL, dlp ? (const T *)dlp->data : NULL, \
		wsum, k->out[0]->data
	if (x->dtype == SC_FLOAT)
		lgrad_f32(LGRAD_ARGS(float));
	else
		lgrad_f64(LGRAD_ARGS(double));
#undef LGRAD_ARGS
	return SC_OK;
}
