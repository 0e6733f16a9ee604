/* softmax.c: softmax and the classification losses built on it.
 *
 * Softmax exp(x_i) / sum_j exp(x_j), LogSoftmax its log, Hardmax the
 * one-hot of the arg max; Y has X's shape.
 *   opsets 1-12: X is coerced to 2-D at `axis` (default 1) and normalised
 *   over the trailing block.  opsets 13-17: normalised along `axis` alone
 *   (default -1).
 * SoftmaxCrossEntropyLoss (12-17) and NegativeLogLikelihoodLoss (12-17):
 *   scores [N, C, D...], int labels [N, D...], optional weights [C].
 *   reduction "none" gives a loss per label ([N, D...]); "mean" (default)
 *   and "sum" give a scalar.  SoftmaxCrossEntropyLoss can also return the
 *   log-probabilities, shaped like the scores.
 *
 * Loss details, as ONNX's reference and ONNX Runtime compute them: a label
 *   equal to ignore_index (when the attribute is given) contributes 0 with
 *   weight 0; "mean" divides the summed loss by the summed weights of the
 *   labels that count (their number when there are no weights); any other
 *   label outside [0, C) is an error at run time.
 *
 * Kernels see X as [outer, len, inner] and normalise along len, a tile of
 * up to 128 neighbouring inner positions at a time so that every pass
 * reads contiguous memory.  Exponentials use the max shift; sums
 * accumulate in double; float16 and bfloat16 compute in float.  The
 * losses work per label position in double (a log-sum-exp over C), so
 * their value does not depend on the precision of the log_prob output.
 *
 * Gradients (softmax_grad.c): Softmax, LogSoftmax and both losses (with
 * respect to the scores), through the backward kernels ai.supcon.SoftmaxGrad,
 * LogSoftmaxGrad, SoftmaxCrossEntropyLossGrad and
 * NegativeLogLikelihoodLossGrad listed at the end of the table. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnnl_util.h"
#include "infer_util.h"
#include "registry.h"
#include "softmax_grad.h"

static const op_attr_spec softmax_attrs[] = {
	{"axis", ATTR_INT},
	{NULL, 0},
};

static const op_attr_spec loss_attrs[] = {
	{"ignore_index", ATTR_INT},
	{"reduction", ATTR_STRING},
	{NULL, 0},
};

static int softmax_infer(graph *g, const graph_node *n, int64_t opset,
			 sc_error *err)
{
	infer_tensor x;
	infer_input(g, n, 0, &x);
	int64_t axis = infer_attr_int(n, "axis", opset >= 13 ? -1 : 1);
	int a;
	if (x.rank >= 0 && infer_axis(axis, x.rank, &a))
		return infer_fail(g, n, err, "axis %lld is out of range for rank %d",
				  (long long)axis, x.rank);
	return infer_set_output(g, n, 0, &x, err);
}

static int loss_infer(graph *g, const graph_node *n, int64_t opset,
		      sc_error *err)
{
	(void)opset;
	infer_tensor s, l, w, y;
	infer_input(g, n, 0, &s);
	infer_input(g, n, 1, &l);
	int has_w = infer_input(g, n, 2, &w);
	if (l.elem && l.elem != SC_INT32 && l.elem != SC_INT64)
		return infer_fail(g, n, err, "labels must be int32 or int64, not %s",
				  tensor_dtype_name(l.elem));
	if (has_w) {
		int rc = infer_unify_elem(g, n, 0, s.elem, 2, w.elem, &s.elem, err);
		if (rc)
			return rc;
	}
	if (s.rank >= 0 && s.rank < 2)
		return infer_fail(g, n, err, "scores have rank %d, expected at least 2 (N, C)",
				  s.rank);
	if (s.rank >= 0 && l.rank >= 0 && l.rank != s.rank - 1)
		return infer_fail(g, n, err, "labels have rank %d, expected %d",
				  l.rank, s.rank - 1);
	/* per-label shape: labels' dims, checked against scores minus C */
	infer_tensor per = l;
	if (s.rank >= 0) {
		infer_tensor_rank(&per, 0, s.rank - 1);
		for (int i = 0; i < per.rank; i++) {
			infer_dim sd = s.dims[i == 0 ? 0 : i + 1];
			infer_dim ld = l.rank >= 0 ? l.dims[i] : infer_dim_unknown();
			if (infer_dim_unify(sd, ld, &per.dims[i]))
				return infer_fail(g, n, err,
						  "labels dim %d is %lld but scores have %lld",
						  i, (long long)ld.value, (long long)sd.value);
		}
		if (has_w && w.rank >= 0 &&
		    (w.rank != 1 || (w.dims[0].value >= 0 && s.dims[1].value >= 0 &&
				     w.dims[0].value != s.dims[1].value)))
			return infer_fail(g, n, err, "weights must be [C]");
	}
	if (infer_attr_is(n, "reduction", "mean", "none")) {
		y = per;
	} else if (infer_attr_is(n, "reduction", "mean", "mean") ||
		   infer_attr_is(n, "reduction", "mean", "sum")) {
		infer_tensor_rank(&y, 0, 0);
	} else {
		return infer_fail(g, n, err, "reduction must be none, mean or sum");
	}
	y.elem = s.elem;
	int rc = infer_set_output(g, n, 0, &y, err);
	if (!rc)
		rc = infer_set_output(g, n, 1, &s, err);
	return rc;
}

/* --- kernels: shared -------------------------------------------------------- */

/* Loops over fewer elements than this stay on one thread. */
#define PAR_MIN 32768
/* Positions along the inner dims handled together, so that each step
 * along the normalised axis reads contiguous memory. */
#define BLOCK 128

static const char *out_name(const op_kernel *k, int i)
{
	return k->g->values[k->node->outputs[i]].name;
}

static double real_get(const void *p, int dt, int64_t i)
{
	switch (dt) {
	case SC_FLOAT: return ((const float *)p)[i];
	case SC_DOUBLE: return ((const double *)p)[i];
	case SC_FLOAT16: return tensor_half_to_float(((const uint16_t *)p)[i]);
	case SC_BFLOAT16: return tensor_bf16_to_float(((const uint16_t *)p)[i]);
	default: return 0;
	}
}

static void real_set(void *p, int dt, int64_t i, double v)
{
	switch (dt) {
	case SC_FLOAT: ((float *)p)[i] = (float)v; break;
	case SC_DOUBLE: ((double *)p)[i] = v; break;
	case SC_FLOAT16: ((uint16_t *)p)[i] = tensor_float_to_half((float)v); break;
	case SC_BFLOAT16: ((uint16_t *)p)[i] = tensor_float_to_bf16((float)v); break;
	default: break;
	}
}

/* --- kernels: Softmax, LogSoftmax, Hardmax ------------------------------------ */

enum { SM_SOFTMAX, SM_LOGSOFTMAX, SM_HARDMAX };

/* X seen as [outer, len, inner]: normalised along len. */
typedef struct softmax_geom {
	int64_t outer, len, inner;
	int mode;
} softmax_geom;

#define LOAD_ID(v) (v)
#define LOAD_HALF(v) tensor_half_to_float(v)
#define LOAD_BF16(v) tensor_bf16_to_float(v)
#define STORE_F32(v) ((float)(v))
#define STORE_F64(v) ((double)(v))
#define STORE_HALF(v) tensor_float_to_half((float)(v))
#define STORE_BF16(v) tensor_float_to_bf16((float)(v))

/* Each tile is bl positions along the inner dims (bl = 1 for a plain
 * row).  Exponentials are taken in CT (float, or double for double), the
 * sums accumulate in double.  STASH: T holds CT exactly, so Softmax keeps
 * the exponentials in y rather than computing them twice. */
#define DEFINE_SOFTMAX(NAME, T, CT, LOAD, STORE, EXP, STASH)		\
static void NAME(const softmax_geom *g, const T *x, T *y)		\
{									\
	const int64_t len = g->len, inner = g->inner;			\
	const int64_t nb = (inner + BLOCK - 1) / BLOCK;			\
	const int64_t tiles = g->outer * nb;				\
	const int mode = g->mode;					\
	const int par = g->outer * len * inner > PAR_MIN;		\
	_Pragma("omp parallel for schedule(static) if (par)")		\
	for (int64_t t = 0; t < tiles; t++) {				\
		int64_t o = t / nb, i0 = (t - o * nb) * BLOCK;		\
		int bl = (int)(inner - i0 < BLOCK ? inner - i0 : BLOCK); \
		const T *xb = x + o * len * inner + i0;			\
		T *yb = y + o * len * inner + i0;			\
		CT mx[BLOCK];						\
		int64_t at[BLOCK];					\
		double sum[BLOCK];					\
		for (int j = 0; j < bl; j++) {				\
			mx[j] = -INFINITY;				\
			at[j] = 0;					\
			sum[j] = 0;					\
		}							\
		for (int64_t a = 0; a < len; a++)			\
			for (int j = 0; j < bl; j++) {			\
				CT v = LOAD(xb[a * inner + j]);		\
				if (v > mx[j]) {			\
					mx[j] = v;			\
					at[j] = a;			\
				}					\
			}						\
		if (mode == SM_HARDMAX) {				\
			for (int64_t a = 0; a < len; a++)		\
				for (int j = 0; j < bl; j++)		\
					yb[a * inner + j] = STORE(at[j] == a); \
			continue;					\
		}							\
		if (STASH && mode == SM_SOFTMAX) {			\
			/* keep each exponential in y, then scale it */	\
			for (int64_t a = 0; a < len; a++)		\
				for (int j = 0; j < bl; j++) {		\
					CT e = EXP(LOAD(xb[a * inner + j]) - mx[j]); \
					yb[a * inner + j] = STORE(e);	\
					sum[j] += e;			\
				}					\
			for (int j = 0; j < bl; j++)			\
				sum[j] = 1 / sum[j];			\
			for (int64_t a = 0; a < len; a++)		\
				for (int j = 0; j < bl; j++)		\
					yb[a * inner + j] = STORE(	\
						LOAD(yb[a * inner + j]) * (CT)sum[j]); \
			continue;					\
		}							\
		for (int64_t a = 0; a < len; a++)			\
			for (int j = 0; j < bl; j++)			\
				sum[j] += EXP(LOAD(xb[a * inner + j]) - mx[j]); \
		if (mode == SM_LOGSOFTMAX) {				\
			for (int j = 0; j < bl; j++)			\
				sum[j] = log(sum[j]);			\
			for (int64_t a = 0; a < len; a++)		\
				for (int j = 0; j < bl; j++)		\
					yb[a * inner + j] = STORE(	\
						(CT)(LOAD(xb[a * inner + j]) - mx[j]) - \
						(CT)sum[j]);		\
			continue;					\
		}							\
		for (int j = 0; j < bl; j++)				\
			sum[j] = 1 / sum[j];				\
		for (int64_t a = 0; a < len; a++)			\
			for (int j = 0; j < bl; j++)			\
				yb[a * inner + j] = STORE(		\
					EXP(LOAD(xb[a * inner + j]) - mx[j]) * \
					(CT)sum[j]);			\
	}								\
}

DEFINE_SOFTMAX(softmax_f32, float, float, LOAD_ID, STORE_F32, expf, 1)
DEFINE_SOFTMAX(softmax_f64, double, double, LOAD_ID, STORE_F64, exp, 1)
DEFINE_SOFTMAX(softmax_f16, uint16_t, float, LOAD_HALF, STORE_HALF, expf, 0)
DEFINE_SOFTMAX(softmax_bf16, uint16_t, float, LOAD_BF16, STORE_BF16, expf, 0)

static void softmax_compute(const softmax_geom *g, int dt, const void *x,
			    void *y)
{
	if (g->outer * g->len * g->inner == 0)
		return;
	switch (dt) {
	case SC_FLOAT: softmax_f32(g, x, y); break;
	case SC_DOUBLE: softmax_f64(g, x, y); break;
	case SC_FLOAT16: softmax_f16(g, x, y); break;
	case SC_BFLOAT16: softmax_bf16(g, x, y); break;
	default: break;
	}
}

typedef struct softmax_state {
	softmax_geom g;
	int dnnl;                  /* float32 (Log)Softmax through oneDNN */
	du_prim prim;
	dnnl_memory_t src, dst;
} softmax_state;

static void softmax_release(op_kernel *k)
{
	softmax_state *s = k->state;
	if (!s)
		return;
	du_prim_destroy(&s->prim);
	if (s->src)
		dnnl_memory_destroy(s->src);
	if (s->dst)
		dnnl_memory_destroy(s->dst);
	free(s);
	k->state = NULL;
}

/* oneDNN's softmax is JIT-compiled for the machine's vector width, with a
 * vectorised exp; it normalises the rows of [outer, len].  When oneDNN has
 * no implementation the plain loop runs instead. */
static int softmax_dnnl_init(op_kernel *k, softmax_state *s, sc_error *err)
{
	char label[256];
	du_label(k, label, sizeof label);
	int64_t dims[2] = {s->g.outer, s->g.len};
	dnnl_memory_desc_t md;
	int rc = du_plain_md(&md, 2, dims, dnnl_f32, label, err);
	if (rc)
		return rc;
	dnnl_softmax_v2_desc_t d;
	rc = du_check(dnnl_softmax_v2_forward_desc_init(&d, dnnl_forward_inference,
			s->g.mode == SM_LOGSOFTMAX ? dnnl_softmax_log :
						     dnnl_softmax_accurate,
			&md, &md, 1), label, "describing the softmax", err);
	if (rc)
		return rc;
	size_t scratch = 0;
	rc = du_prim_create(&s->prim, &d, NULL, k->env, &scratch, label, err);
	if (rc == SC_EUNSUPPORTED) {
		sc_error_clear(err);
		return SC_OK;
	}
	if (!rc)
		rc = du_mem_create(&s->src, &md, k->env, label, err);
	if (!rc)
		rc = du_mem_create(&s->dst, &md, k->env, label, err);
	if (rc)
		return rc;
	exec_scratch_request(k->env, scratch);
	s->dnnl = 1;
	return SC_OK;
}

static int softmax_prepare(op_kernel *k, sc_error *err)
{
	const sc_tensor *x = k->in[0];
	if (!x)
		return infer_fail(k->g, k->node, err, "input 'input' is missing");
	if (!tensor_dtype_is_float(x->dtype))
		return infer_fail(k->g, k->node, err, "does not accept %s input",
				  tensor_dtype_name(x->dtype));
	int coerce = k->opset < 13;
	int64_t axis = infer_attr_int(k->node, "axis", coerce ? 1 : -1);
	int a;
	/* a scalar is its own one-element row */
	if (x->rank == 0 ? axis != 0 && axis != -1 : infer_axis(axis, x->rank, &a))
		return infer_fail(k->g, k->node, err,
				  "axis %lld is out of range for rank %d",
				  (long long)axis, x->rank);
	if (x->rank == 0)
		a = 0;
	int rc = tensor_set_shape(k->out[0], x->dtype, x->rank, x->dims,
				  out_name(k, 0), err);
	if (rc)
		return rc;
	softmax_state *s = calloc(1, sizeof *s);
	if (!s)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	k->state = s;
	softmax_geom *g = &s->g;
	g->outer = g->len = g->inner = 1;
	for (int i = 0; i < x->rank; i++) {
		if (i < a)
			g->outer *= x->dims[i];
		else if (i == a || coerce)
			g->len *= x->dims[i];
		else
			g->inner *= x->dims[i];
	}
	const char *op = k->node->op_type;
	g->mode = strcmp(op, "Softmax") == 0 ? SM_SOFTMAX :
		  strcmp(op, "LogSoftmax") == 0 ? SM_LOGSOFTMAX : SM_HARDMAX;
	/* with the axis not innermost oneDNN 2.6 falls back to a reference
	 * kernel many times slower than the loop here */
	if (x->dtype == SC_FLOAT && g->mode != SM_HARDMAX && g->inner == 1 &&
	    x->numel > 0) {
		/* the executor releases only what prepared successfully */
		if ((rc = softmax_dnnl_init(k, s, err)))
			softmax_release(k);
		return rc;
	}
	return SC_OK;
}

static int softmax_run(op_kernel *k, sc_error *err)
{
	softmax_state *s = k->state;
	const sc_tensor *x = k->in[0];
	sc_tensor *y = k->out[0];
	if (!s->dnnl) {
		softmax_compute(&s->g, x->dtype, x->data, y->data);
		return SC_OK;
	}
	char label[256];
	du_label(k, label, sizeof label);
	int rc = du_mem_bind(s->src, x->data, label, err);
	if (!rc)
		rc = du_mem_bind(s->dst, y->data, label, err);
	if (rc)
		return rc;
	dnnl_exec_arg_t args[] = {
		{DNNL_ARG_SRC, s->src},
		{DNNL_ARG_DST, s->dst},
	};
	return du_prim_exec(&s->prim, k->env, 2, args, label, err);
}

/* --- kernels: SoftmaxCrossEntropyLoss, NegativeLogLikelihoodLoss ------------ */

enum { LOSS_NONE, LOSS_SUM, LOSS_MEAN };

typedef struct loss_state {
	int64_t n, c, d;      /* scores as [N, C, D], D the product of d1.. */
	int reduction;
	int has_ii;
	int64_t ii;
	int logits;           /* SCE: scores are logits, not log-probabilities */
	softmax_geom log_prob; /* SCE's optional second output */
} loss_state;

static int loss_prepare(op_kernel *k, sc_error *err)
{
	const graph *g = k->g;
	const graph_node *n = k->node;
	const sc_tensor *x = k->in[0];
	const sc_tensor *lab = k->n_in > 1 ? k->in[1] : NULL;
	const sc_tensor *w = k->n_in > 2 ? k->in[2] : NULL;
	if (!x || !lab)
		return infer_fail(g, n, err, "needs scores and labels");
	if (!tensor_dtype_is_float(x->dtype))
		return infer_fail(g, n, err, "does not accept %s scores",
				  tensor_dtype_name(x->dtype));
	if (lab->dtype != SC_INT32 && lab->dtype != SC_INT64)
		return infer_fail(g, n, err, "labels must be int32 or int64, not %s",
				  tensor_dtype_name(lab->dtype));
	if (x->rank < 2)
		return infer_fail(g, n, err,
				  "scores have rank %d, expected at least 2 (N, C)",
				  x->rank);
	if (lab->rank != x->rank - 1)
		return infer_fail(g, n, err, "labels have rank %d, expected %d",
				  lab->rank, x->rank - 1);
	for (int i = 0; i < lab->rank; i++) {
		int64_t want = x->dims[i == 0 ? 0 : i + 1];
		if (lab->dims[i] != want)
			return infer_fail(g, n, err,
					  "labels dim %d is %lld but scores have %lld",
					  i, (long long)lab->dims[i], (long long)want);
	}
	if (w && (w->dtype != x->dtype || w->rank != 1 || w->dims[0] != x->dims[1]))
		return infer_fail(g, n, err, "weights must be %s[%lld]",
				  tensor_dtype_name(x->dtype), (long long)x->dims[1]);
	int reduction;
	if (infer_attr_is(n, "reduction", "mean", "none"))
		reduction = LOSS_NONE;
	else if (infer_attr_is(n, "reduction", "mean", "sum"))
		reduction = LOSS_SUM;
	else if (infer_attr_is(n, "reduction", "mean", "mean"))
		reduction = LOSS_MEAN;
	else
		return infer_fail(g, n, err, "reduction must be none, mean or sum");
	int logits = strcmp(n->op_type, "SoftmaxCrossEntropyLoss") == 0;
	int rc = reduction == LOSS_NONE ?
		 tensor_set_shape(k->out[0], x->dtype, lab->rank, lab->dims,
				  out_name(k, 0), err) :
		 tensor_set_shape(k->out[0], x->dtype, 0, NULL, out_name(k, 0), err);
	if (!rc && k->n_out > 1 && k->out[1]) {
		if (!logits)
			return infer_fail(g, n, err, "has one output, not two");
		rc = tensor_set_shape(k->out[1], x->dtype, x->rank, x->dims,
				      out_name(k, 1), err);
	}
	if (rc)
		return rc;
	loss_state *s = calloc(1, sizeof *s);
	if (!s)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	k->state = s;
	s->reduction = reduction;
	s->logits = logits;
	const graph_attr *ii = graph_node_attr(n, "ignore_index");
	s->has_ii = ii && ii->type == ATTR_INT;
	s->ii = s->has_ii ? ii->i : 0;
	s->n = x->dims[0];
	s->c = x->dims[1];
	s->d = 1;
	for (int i = 2; i < x->rank; i++)
		s->d *= x->dims[i];
	s->log_prob = (softmax_geom){s->n, s->c, s->d, SM_LOGSOFTMAX};
	return SC_OK;
}

/* log p(class t) at scores[base + t * stride], from logits over the C
 * classes (max-shifted, summed in double) or read as is.  float32 scores
 * take their exponentials in float, which is all the precision they
 * have. */
static double loss_log_prob(const loss_state *s, const void *x, int dt,
			    int64_t base, int64_t t)
{
	const int64_t stride = s->d, nc = s->c;
	double v = real_get(x, dt, base + t * stride);
	if (!s->logits)
		return v;
	double m = -INFINITY, sum = 0;
	if (dt == SC_FLOAT) {
		const float *p = (const float *)x + base;
		float mf = -INFINITY;
		for (int64_t c = 0; c < nc; c++)
			mf = p[c * stride] > mf ? p[c * stride] : mf;
		for (int64_t c = 0; c < nc; c++)
			sum += expf(p[c * stride] - mf);
		m = mf;
	} else {
		for (int64_t c = 0; c < nc; c++) {
			double u = real_get(x, dt, base + c * stride);
			m = u > m ? u : m;
		}
		for (int64_t c = 0; c < nc; c++)
			sum += exp(real_get(x, dt, base + c * stride) - m);
	}
	return v - m - log(sum);
}

static int loss_run(op_kernel *k, sc_error *err)
{
	const loss_state *s = k->state;
	const sc_tensor *x = k->in[0], *lab = k->in[1];
	const sc_tensor *w = k->n_in > 2 ? k->in[2] : NULL;
	sc_tensor *y = k->out[0];
	const int dt = x->dtype;
	const int64_t count = s->n * s->d;
	double total = 0, wsum = 0;
	int64_t bad = -1;
	if (k->n_out > 1 && k->out[1])
		softmax_compute(&s->log_prob, dt, x->data, k->out[1]->data);
	_Pragma("omp parallel for schedule(static) reduction(+:total, wsum) reduction(max:bad) if (count * s->c > PAR_MIN)")
	for (int64_t t = 0; t < count; t++) {
		int64_t nn = t / s->d, dd = t - nn * s->d;
		int64_t label = lab->dtype == SC_INT64 ?
				((const int64_t *)lab->data)[t] :
				((const int32_t *)lab->data)[t];
		double loss = 0, wt = 0;
		if (!s->has_ii || label != s->ii) {
			if (label < 0 || label >= s->c) {
				bad = t > bad ? t : bad;
				continue;
			}
			wt = w ? real_get(w->data, dt, label) : 1;
			loss = -wt * loss_log_prob(s, x->data, dt,
						   nn * s->c * s->d + dd, label);
		}
		if (s->reduction == LOSS_NONE)
			real_set(y->data, dt, t, loss);
		total += loss;
		wsum += wt;
	}
	if (bad >= 0) {
		int64_t label = lab->dtype == SC_INT64 ?
				((const int64_t *)lab->data)[bad] :
				((const int32_t *)lab->data)[bad];
		return op_fail(k, err, SC_EINVAL,
				   "label %lld at position %lld is outside [0, %lld)",
				   (long long)label, (long long)bad, (long long)s->c);
	}
	if (s->reduction == LOSS_SUM)
		real_set(y->data, dt, 0, total);
	else if (s->reduction == LOSS_MEAN)
		real_set(y->data, dt, 0, total / wsum);
	return SC_OK;
}

const op_def op_softmax_defs[] = {
	{.domain = "", .name = "Softmax", .since = 1, .until = 12,
	 .attrs = softmax_attrs, .infer = softmax_infer,
	 .prepare = softmax_prepare, .run = softmax_run,
	 .release = softmax_release, .grad = softmax_grad, .grad_inputs = 1},
	{.domain = "", .name = "Softmax", .since = 13, .until = 17,
	 .attrs = softmax_attrs, .infer = softmax_infer,
	 .prepare = softmax_prepare, .run = softmax_run,
	 .release = softmax_release, .grad = softmax_grad, .grad_inputs = 1},
	{.domain = "", .name = "LogSoftmax", .since = 1, .until = 12,
	 .attrs = softmax_attrs, .infer = softmax_infer,
	 .prepare = softmax_prepare, .run = softmax_run,
	 .release = softmax_release, .grad = softmax_grad, .grad_inputs = 1},
	{.domain = "", .name = "LogSoftmax", .since = 13, .until = 17,
	 .attrs = softmax_attrs, .infer = softmax_infer,
	 .prepare = softmax_prepare, .run = softmax_run,
	 .release = softmax_release, .grad = softmax_grad, .grad_inputs = 1},
	{.domain = "", .name = "Hardmax", .since = 1, .until = 12,
	 .attrs = softmax_attrs, .infer = softmax_infer,
	 .prepare = softmax_prepare, .run = softmax_run,
	 .release = softmax_release},
	{.domain = "", .name = "Hardmax", .since = 13, .until = 17,
	 .attrs = softmax_attrs, .infer = softmax_infer,
	 .prepare = softmax_prepare, .run = softmax_run,
	 .release = softmax_release},
	{.domain = "", .name = "SoftmaxCrossEntropyLoss", .since = 12, .until = 17,
	 .attrs = loss_attrs, .infer = loss_infer,
	 .prepare = loss_prepare, .run = loss_run,
	 .grad = loss_grad, .grad_inputs = 1},
	{.domain = "", .name = "NegativeLogLikelihoodLoss", .since = 12, .until = 17,
	 .attrs = loss_attrs, .infer = loss_infer,
	 .prepare = loss_prepare, .run = loss_run,
	 .grad = loss_grad, .grad_inputs = 1},
	/* backward kernels (softmax_grad.c) */
	{.domain = "ai.supcon", .name = "SoftmaxGrad", .since = 1, .until = 1,
	 .attrs = softmax_grad_attrs, .infer = softmax_grad_infer,
	 .prepare = softmax_grad_prepare, .run = softmax_grad_run},
	{.domain = "ai.supcon", .name = "LogSoftmaxGrad", .since = 1, .until = 1,
	 .attrs = softmax_grad_attrs, .infer = softmax_grad_infer,
	 .prepare = softmax_grad_prepare, .run = softmax_grad_run},
	{.domain = "ai.supcon", .name = "SoftmaxCrossEntropyLossGrad", .since = 1,
	 .until = 1, .attrs = loss_grad_attrs, .infer = loss_grad_infer,
	 .prepare = loss_grad_prepare, .run = loss_grad_run},
	{.domain = "ai.supcon", .name = "NegativeLogLikelihoodLossGrad", .since = 1,
	 .until = 1, .attrs = loss_grad_attrs, .infer = loss_grad_infer,
	 .prepare = loss_grad_prepare, .run = loss_grad_run},
	{0},
};
