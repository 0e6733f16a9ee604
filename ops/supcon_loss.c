/* supcon_loss.c: the supervised contrastive loss (Khosla et al., NeurIPS
 * 2020: L_out, averaged over anchors), domain ai.supcon, opset 1.  The
 * contract is DESIGN.md's "The SupCon loss".
 *
 *   SupConLoss(features [M, D], labels [M]) -> loss
 *     z_i    = x_i / max(|x_i|, 1e-12)    (normalize = 1; z_i = x_i when 0)
 *     s_ia   = z_i . z_a / temperature    for every a != i
 *     loss_i = -(temperature / base_temperature)
 *              * mean over positives p of (s_ip - log sum_{a != i} exp s_ia)
 *   The positives of anchor i are the rows a != i whose label equals i's.
 *   reduction "mean" (default): the mean of loss_i over the anchors that
 *   have a positive, and 0 (with a zero gradient) when none has one.
 *   reduction "none": the vector of loss_i, [M], holding 0 for an anchor
 *   without a positive (it takes no part in the loss, so its gradient is 0).
 *   Attributes: temperature (default 0.1), base_temperature (default:
 *   temperature), normalize (default 1), reduction (default "mean").
 *   SimCLR is the case labels = image index: each view's only positive is
 *   the other view of its image.
 *
 *   SupConLossGrad(features, labels, dloss) -> dfeatures, with the same
 *   attributes, is the backward kernel the gradient rule emits.  With p_ia
 *   the softmax of row i over a != i, q_ia = [a positive of i] / #pos(i)
 *   and w_i the gradient arriving at loss_i (dloss / #anchors with a
 *   positive for "mean", dloss[i] for "none", 0 for an anchor without
 *   positive), differentiating loss_i through s = Z Z^T / temperature gives
 *     G_ia = w_i / base_temperature * (p_ia - q_ia),  G_ii = 0
 *     dZ   = (G + G^T) Z
 *     dx_i = (dz_i - z_i (z_i . dz_i)) / |x_i|   (normalize, |x_i| > eps)
 *     dx_i = dz_i / eps                          (normalize, |x_i| <= eps)
 *   as torch.nn.functional.normalize does.  The backward recomputes Z, S
 *   and the row log-sum-exps from the features instead of keeping M x M
 *   values alive between the passes.
 *
 * Types: float32 features take oneDNN's sgemm for the M x M x D products
 * and float exponentials (all the precision float logits have), summed in
 * double; float64 runs plain loops (for the double-precision gradient
 * checks).  Labels are int64 (int32 is accepted too).  Working memory (Z,
 * S and per-row values) is the plan's scratch.  The same loss as standard
 * ONNX ops, for other runtimes, is the FunctionProto of
 * onnx/supcon_function.c. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/autodiff.h"
#include "../runtime/exec.h"
#include "infer_util.h"
#include "registry.h"

/* torch.nn.functional.normalize's eps */
#define SUPCON_EPS 1e-12
/* S holds M^2 values: M up to 2^24 keeps every size below int64 and
 * size_t limits with room to spare. */
#define SUPCON_MAX_ROWS ((int64_t)1 << 24)
/* Row loops over fewer matrix elements than this stay on one thread. */
#define PAR_MIN 16384

enum { RED_MEAN, RED_NONE };

typedef struct supcon_cfg {
	double temperature;
	double base_temperature;
	int normalize;
	int reduction;
} supcon_cfg;

static const op_attr_spec supcon_attrs[] = {
	{"temperature", ATTR_FLOAT},
	{"base_temperature", ATTR_FLOAT},
	{"normalize", ATTR_INT},
	{"reduction", ATTR_STRING},
	{NULL, 0},
};

/* Reads and checks the attributes; failures name the node. */
static int supcon_config(const graph *g, const graph_node *n, supcon_cfg *c,
			 sc_error *err)
{
	float t = infer_attr_float(n, "temperature", 0.1f);
	float bt = infer_attr_float(n, "base_temperature", t);
	int64_t norm = infer_attr_int(n, "normalize", 1);
	if (!(t > 0) || !isfinite(t))
		return infer_fail(g, n, err, "temperature must be a positive number, not %g",
				  (double)t);
	if (!(bt > 0) || !isfinite(bt))
		return infer_fail(g, n, err,
				  "base_temperature must be a positive number, not %g",
				  (double)bt);
	if (norm != 0 && norm != 1)
		return infer_fail(g, n, err, "normalize must be 0 or 1, not %lld",
				  (long long)norm);
	if (infer_attr_is(n, "reduction", "mean", "mean"))
		c->reduction = RED_MEAN;
	else if (infer_attr_is(n, "reduction", "mean", "none"))
		c->reduction = RED_NONE;
	else
		return infer_fail(g, n, err, "reduction must be \"mean\" or \"none\"");
	c->temperature = t;
	c->base_temperature = bt;
	c->normalize = (int)norm;
	return SC_OK;
}

/* --- shape inference ---------------------------------------------------------- */

/* Checks features [M, D] float and labels [M] int; *m gets the unified M. */
static int supcon_infer_inputs(graph *g, const graph_node *n, infer_tensor *x,
			       infer_dim *m, sc_error *err)
{
	infer_tensor lab;
	int rc = infer_input_rank(g, n, 0, 2, x, err);
	if (!rc)
		rc = infer_input_rank(g, n, 1, 1, &lab, err);
	if (rc)
		return rc;
	if (x->elem && x->elem != SC_FLOAT && x->elem != SC_DOUBLE)
		return infer_fail(g, n, err, "features are %s, expected float32 or float64",
				  tensor_dtype_name(x->elem));
	if (lab.elem && lab.elem != SC_INT64 && lab.elem != SC_INT32)
		return infer_fail(g, n, err, "labels are %s, expected int64",
				  tensor_dtype_name(lab.elem));
	*m = infer_dim_unknown();
	infer_dim xm = x->rank == 2 ? x->dims[0] : infer_dim_unknown();
	infer_dim lm = lab.rank == 1 ? lab.dims[0] : infer_dim_unknown();
	if (infer_dim_unify(xm, lm, m))
		return infer_fail(g, n, err, "features have %lld rows but labels %lld",
				  (long long)xm.value, (long long)lm.value);
	supcon_cfg c;
	return supcon_config(g, n, &c, err);
}

static int supcon_infer(graph *g, const graph_node *n, int64_t opset,
			sc_error *err)
{
	(void)opset;
	infer_tensor x, y;
	infer_dim m;
	int rc = supcon_infer_inputs(g, n, &x, &m, err);
	if (rc)
		return rc;
	if (infer_attr_is(n, "reduction", "mean", "none")) {
		infer_tensor_rank(&y, x.elem, 1);
		y.dims[0] = m;
	} else {
		infer_tensor_rank(&y, x.elem, 0);
	}
	return infer_set_output(g, n, 0, &y, err);
}

static int supcon_grad_infer(graph *g, const graph_node *n, int64_t opset,
			     sc_error *err)
{
	(void)opset;
	infer_tensor x;
	infer_dim m;
	int rc = supcon_infer_inputs(g, n, &x, &m, err);
	if (rc)
		return rc;
	if (x.rank == 2)
		x.dims[0] = m;
	return infer_set_output(g, n, 0, &x, err);
}

/* --- prepare ------------------------------------------------------------------ */

/* Offsets of the pieces of the scratch buffer, each 64-byte aligned. */
typedef struct supcon_state {
	supcon_cfg cfg;
	int64_t m, d;
	size_t z_off, s_off, lab_off, norm_off, lse_off, npos_off, li_off;
} supcon_state;

static size_t align64(size_t n)
{
	return (n + 63) & ~(size_t)63;
}

/* Shared by both ops: checks features and labels, reads the attributes
 * and asks for scratch.  The caller sets the output shape. */
static int supcon_prepare_common(op_kernel *k, sc_error *err)
{
	const sc_tensor *x = k->in[0];
	const sc_tensor *lab = k->n_in > 1 ? k->in[1] : NULL;
	if (!x || !lab)
		return op_fail(k, err, SC_EINVAL, "needs features and labels");
	if (x->dtype != SC_FLOAT && x->dtype != SC_DOUBLE)
		return op_fail(k, err, tensor_dtype_is_float(x->dtype) ? SC_EUNSUPPORTED : SC_EINVAL,
			       "features are %s, expected float32 or float64",
			       tensor_dtype_name(x->dtype));
	if (x->rank != 2)
		return op_fail(k, err, SC_EINVAL, "features have rank %d, expected 2 ([M, D])",
			       x->rank);
	if (lab->dtype != SC_INT64 && lab->dtype != SC_INT32)
		return op_fail(k, err, SC_EINVAL, "labels are %s, expected int64",
			       tensor_dtype_name(lab->dtype));
	if (lab->rank != 1 || lab->dims[0] != x->dims[0])
		return op_fail(k, err, SC_EINVAL,
			       "labels must be [%lld] to match the features' rows",
			       (long long)x->dims[0]);
	if (x->dims[0] > SUPCON_MAX_ROWS)
		return op_fail(k, err, SC_EUNSUPPORTED, "%lld rows is more than %lld",
			       (long long)x->dims[0], (long long)SUPCON_MAX_ROWS);
	supcon_state *s = calloc(1, sizeof *s);
	if (!s)
		return op_fail(k, err, SC_ENOMEM, "out of memory");
	k->state = s;
	int rc = supcon_config(k->g, k->node, &s->cfg, err);
	if (rc)
		return rc;
	s->m = x->dims[0];
	s->d = x->dims[1];
	size_t el = tensor_dtype_size(x->dtype), m = (size_t)s->m;
	size_t off = 0;
	s->z_off = off;
	off += align64(x->nbytes);
	s->s_off = off;
	off += align64(m * m * el);
	s->lab_off = off;
	off += align64(m * sizeof(int64_t));
	s->norm_off = off;
	off += align64(m * sizeof(double));
	s->lse_off = off;
	off += align64(m * sizeof(double));
	s->npos_off = off;
	off += align64(m * sizeof(double));
	s->li_off = off;
	off += align64(m * sizeof(double));
	exec_scratch_request(k->env, off);
	return SC_OK;
}

static int supcon_prepare(op_kernel *k, sc_error *err)
{
	int rc = supcon_prepare_common(k, err);
	if (rc)
		return rc;
	const supcon_state *s = k->state;
	const char *name = k->g->values[k->node->outputs[0]].name;
	if (s->cfg.reduction == RED_NONE)
		return tensor_set_shape(k->out[0], k->in[0]->dtype, 1, &s->m, name, err);
	return tensor_set_shape(k->out[0], k->in[0]->dtype, 0, NULL, name, err);
}

static int supcon_grad_prepare(op_kernel *k, sc_error *err)
{
	int rc = supcon_prepare_common(k, err);
	if (rc)
		return rc;
	const supcon_state *s = k->state;
	const sc_tensor *x = k->in[0], *dy = k->n_in > 2 ? k->in[2] : NULL;
	if (!dy)
		return op_fail(k, err, SC_EINVAL, "needs the gradient of the loss (input 2)");
	if (dy->dtype != x->dtype)
		return op_fail(k, err, SC_EINVAL, "the loss gradient is %s, the features %s",
			       tensor_dtype_name(dy->dtype), tensor_dtype_name(x->dtype));
	if (s->cfg.reduction == RED_MEAN && dy->numel != 1)
		return op_fail(k, err, SC_EINVAL,
			       "the loss gradient has %lld elements, expected 1 (reduction \"mean\")",
			       (long long)dy->numel);
	if (s->cfg.reduction == RED_NONE && (dy->rank != 1 || dy->dims[0] != s->m))
		return op_fail(k, err, SC_EINVAL,
			       "the loss gradient must be [%lld] (reduction \"none\")",
			       (long long)s->m);
	return tensor_set_shape(k->out[0], x->dtype, 2, x->dims,
				k->g->values[k->node->outputs[0]].name, err);
}

/* --- kernels ------------------------------------------------------------------ */

/* Views of the scratch buffer for one run. */
typedef struct supcon_work {
	int64_t m, d;
	void *z;            /* [M, D] normalised rows (the features when normalize = 0) */
	void *s;            /* [M, M] logits, then the backward's G */
	int64_t *lab;       /* [M] labels widened to int64 */
	double *norm;       /* [M] |x_i| clamped to eps */
	double *lse;        /* [M] log sum_{a != i} exp s_ia */
	double *npos;       /* [M] number of positives */
	double *li;         /* [M] loss_i */
} supcon_work;

/* C = alpha op(A) op(B) + beta C, row-major, for float32 through oneDNN. */
static int gemm_f32(char ta, char tb, int64_t m, int64_t n, int64_t kk,
		    double alpha, const void *a, int64_t lda, const void *b,
		    int64_t ldb, double beta, void *c, int64_t ldc, sc_error *err)
{
	return exec_dnnl_check(dnnl_sgemm(ta, tb, m, n, kk, (float)alpha, a, lda,
					  b, ldb, (float)beta, c, ldc),
			       "SupConLoss: sgemm", err);
}

/* The same in float64 with plain loops: it serves the gradient checks,
 * where exactness matters more than speed. */
static int gemm_f64(char ta, char tb, int64_t m, int64_t n, int64_t kk,
		    double alpha, const void *a, int64_t lda, const void *b,
		    int64_t ldb, double beta, void *c, int64_t ldc, sc_error *err)
{
	(void)err;
	const double *A = a, *B = b;
	double *C = c;
	_Pragma("omp parallel for schedule(static) if (m * n * kk > PAR_MIN)")
	for (int64_t i = 0; i < m; i++)
		for (int64_t j = 0; j < n; j++) {
			double acc = 0;
			for (int64_t p = 0; p < kk; p++)
				acc += (ta == 'T' ? A[p * lda + i] : A[i * lda + p]) *
				       (tb == 'T' ? B[j * ldb + p] : B[p * ldb + j]);
			C[i * ldc + j] = alpha * acc + (beta != 0 ? beta * C[i * ldc + j] : 0);
		}
	return SC_OK;
}

/* Per-type kernels: row normalisation, the logits' row statistics, the
 * backward's G and the normalisation's backward. */
#define SUPCON_KERNELS(T, SFX, EXP)					\
static void normalize_##SFX(supcon_work *w, const T *x)		\
{									\
	T *z = w->z;							\
	_Pragma("omp parallel for schedule(static) if (w->m * w->d > PAR_MIN)") \
	for (int64_t i = 0; i < w->m; i++) {				\
		const T *xi = x + i * w->d;				\
		double ss = 0;						\
		for (int64_t j = 0; j < w->d; j++)			\
			ss += (double)xi[j] * xi[j];			\
		double nrm = sqrt(ss);					\
		w->norm[i] = nrm > SUPCON_EPS ? nrm : SUPCON_EPS;	\
		for (int64_t j = 0; j < w->d; j++)			\
			z[i * w->d + j] = (T)(xi[j] / w->norm[i]);	\
	}								\
}									\
									\
/* npos, log-sum-exp and loss_i of every row of S (anchors without a	\
 * positive get li = 0 and no lse). */					\
static void rows_##SFX(supcon_work *w, const supcon_cfg *c)		\
{									\
	const T *s = w->s;						\
	const int64_t m = w->m;					\
	const double scale = c->temperature / c->base_temperature;	\
	_Pragma("omp parallel for schedule(static) if (m * m > PAR_MIN)") \
	for (int64_t i = 0; i < m; i++) {				\
		const T *si = s + i * m;				\
		double pos_sum = 0, npos = 0, mx = -INFINITY;		\
		for (int64_t a = 0; a < m; a++) {			\
			if (a == i)					\
				continue;				\
			if (w->lab[a] == w->lab[i]) {			\
				npos += 1;				\
				pos_sum += si[a];			\
			}						\
			mx = si[a] > mx ? si[a] : mx;			\
		}							\
		w->npos[i] = npos;					\
		w->li[i] = 0;						\
		w->lse[i] = 0;						\
		if (npos == 0)						\
			continue;					\
		double sum = 0;						\
		for (int64_t a = 0; a < m; a++)				\
			if (a != i)					\
				sum += EXP((T)(si[a] - mx));		\
		w->lse[i] = mx + log(sum);				\
		w->li[i] = -scale * (pos_sum / npos - w->lse[i]);	\
	}								\
}									\
									\
/* Overwrites S with G_ia = wt_i (p_ia - q_ia), wt_i already holding	\
 * w_i / base_temperature. */						\
static void grad_matrix_##SFX(supcon_work *w, const double *wt)	\
{									\
	T *s = w->s;							\
	const int64_t m = w->m;					\
	_Pragma("omp parallel for schedule(static) if (m * m > PAR_MIN)") \
	for (int64_t i = 0; i < m; i++) {				\
		T *gi = s + i * m;					\
		if (wt[i] == 0) {					\
			memset(gi, 0, (size_t)m * sizeof(T));		\
			continue;					\
		}							\
		const double inv_pos = 1.0 / w->npos[i];		\
		for (int64_t a = 0; a < m; a++) {			\
			if (a == i) {					\
				gi[a] = 0;				\
				continue;				\
			}						\
			double p = EXP((T)(gi[a] - w->lse[i]));	\
			double q = w->lab[a] == w->lab[i] ? inv_pos : 0; \
			gi[a] = (T)(wt[i] * (p - q));			\
		}							\
	}								\
}									\
									\
/* dx = (dz - z (z . dz)) / |x| in place, row by row. */		\
static void normalize_backward_##SFX(supcon_work *w, T *dx)		\
{									\
	const T *z = w->z;						\
	_Pragma("omp parallel for schedule(static) if (w->m * w->d > PAR_MIN)") \
	for (int64_t i = 0; i < w->m; i++) {				\
		T *di = dx + i * w->d;					\
		const T *zi = z + i * w->d;				\
		double dot = 0;						\
		if (w->norm[i] > SUPCON_EPS)				\
			for (int64_t j = 0; j < w->d; j++)		\
				dot += (double)zi[j] * di[j];		\
		for (int64_t j = 0; j < w->d; j++)			\
			di[j] = (T)((di[j] - zi[j] * dot) / w->norm[i]); \
	}								\
}

SUPCON_KERNELS(float, f32, expf)
SUPCON_KERNELS(double, f64, exp)

/* Binds the scratch, widens the labels, normalises, forms S = Z Z^T / t
 * and its row statistics: what forward and backward share. */
static int supcon_logits(op_kernel *k, supcon_work *w, sc_error *err)
{
	const supcon_state *st = k->state;
	const sc_tensor *x = k->in[0], *lab = k->in[1];
	char *scratch = exec_scratch(k->env);
	const int f32 = x->dtype == SC_FLOAT;
	w->m = st->m;
	w->d = st->d;
	w->z = st->cfg.normalize ? scratch + st->z_off : x->data;
	w->s = scratch + st->s_off;
	w->lab = (int64_t *)(scratch + st->lab_off);
	w->norm = (double *)(scratch + st->norm_off);
	w->lse = (double *)(scratch + st->lse_off);
	w->npos = (double *)(scratch + st->npos_off);
	w->li = (double *)(scratch + st->li_off);
	for (int64_t i = 0; i < w->m; i++)
		w->lab[i] = lab->dtype == SC_INT64 ? ((const int64_t *)lab->data)[i] :
			    ((const int32_t *)lab->data)[i];
	if (w->m == 0)
		return SC_OK;
	if (st->cfg.normalize) {
		if (f32)
			normalize_f32(w, x->data);
		else
			normalize_f64(w, x->data);
	}
	size_t el = tensor_dtype_size(x->dtype);
	if (w->d == 0) {
		memset(w->s, 0, (size_t)(w->m * w->m) * el);
	} else {
		int rc = (f32 ? gemm_f32 : gemm_f64)('N', 'T', w->m, w->m, w->d,
						     1.0 / st->cfg.temperature,
						     w->z, w->d, w->z, w->d, 0.0,
						     w->s, w->m, err);
		if (rc)
			return rc;
	}
	if (f32)
		rows_f32(w, &st->cfg);
	else
		rows_f64(w, &st->cfg);
	return SC_OK;
}

static double real_at(const sc_tensor *t, int64_t i)
{
	return t->dtype == SC_FLOAT ? ((const float *)t->data)[i] :
	       ((const double *)t->data)[i];
}

static void real_put(sc_tensor *t, int64_t i, double v)
{
	if (t->dtype == SC_FLOAT)
		((float *)t->data)[i] = (float)v;
	else
		((double *)t->data)[i] = v;
}

static int supcon_run(op_kernel *k, sc_error *err)
{
	const supcon_state *st = k->state;
	supcon_work w;
	int rc = supcon_logits(k, &w, err);
	if (rc)
		return rc;
	sc_tensor *y = k->out[0];
	if (st->cfg.reduction == RED_NONE) {
		for (int64_t i = 0; i < w.m; i++)
			real_put(y, i, w.li[i]);
		return SC_OK;
	}
	double total = 0;
	int64_t anchors = 0;
	for (int64_t i = 0; i < w.m; i++)
		if (w.npos[i] > 0) {
			total += w.li[i];
			anchors++;
		}
	real_put(y, 0, anchors ? total / (double)anchors : 0.0);
	return SC_OK;
}

static int supcon_grad_run(op_kernel *k, sc_error *err)
{
	const supcon_state *st = k->state;
	const sc_tensor *x = k->in[0], *dy = k->in[2];
	sc_tensor *dx = k->out[0];
	supcon_work w;
	int rc = supcon_logits(k, &w, err);
	if (rc || w.m == 0)
		return rc;
	/* w_i / base_temperature, into li (loss_i is not needed here) */
	double *wt = w.li;
	int64_t anchors = 0;
	for (int64_t i = 0; i < w.m; i++)
		anchors += w.npos[i] > 0;
	for (int64_t i = 0; i < w.m; i++) {
		double g = 0;
		if (w.npos[i] > 0)
			g = st->cfg.reduction == RED_NONE ? real_at(dy, i) :
			    real_at(dy, 0) / (double)anchors;
		wt[i] = g / st->cfg.base_temperature;
	}
	const int f32 = x->dtype == SC_FLOAT;
	if (f32)
		grad_matrix_f32(&w, wt);
	else
		grad_matrix_f64(&w, wt);
	if (w.d == 0)
		return SC_OK;
	/* dZ = G Z + G^T Z */
	int (*gemm)(char, char, int64_t, int64_t, int64_t, double, const void *,
		    int64_t, const void *, int64_t, double, void *, int64_t,
		    sc_error *) = f32 ? gemm_f32 : gemm_f64;
	rc = gemm('N', 'N', w.m, w.d, w.m, 1.0, w.s, w.m, w.z, w.d, 0.0, dx->data,
		  w.d, err);
	if (!rc)
		rc = gemm('T', 'N', w.m, w.d, w.m, 1.0, w.s, w.m, w.z, w.d, 1.0,
			  dx->data, w.d, err);
	if (rc || !st->cfg.normalize)
		return rc;
	if (f32)
		normalize_backward_f32(&w, dx->data);
	else
		normalize_backward_f64(&w, dx->data);
	return SC_OK;
}

/* --- gradient rule ---------------------------------------------------------------- */

/* d loss / d features is one SupConLossGrad node reading the forward's
 * inputs and dy, with the forward's attributes; labels carry none. */
static int supcon_grad_rule(grad_ctx *c, int node, const int *dy, int *dx,
			    sc_error *err)
{
	if (dx[0] != -2)
		return SC_OK;
	const graph_node *f = grad_fwd(c, node);
	int in[3] = {f->inputs[0], f->inputs[1], dy[0]};
	int idx = grad_emit(c, "SupConLossGrad", "ai.supcon", 3, in, 1, &dx[0], err);
	if (idx < 0)
		return err->code;
	graph *g = grad_graph(c);
	f = grad_fwd(c, node);
	for (int i = 0; i < f->n_attrs; i++) {
		const graph_attr *src = &f->attrs[i];
		graph_attr *a = graph_node_add_attr(&g->nodes[idx], src->name, src->type, err);
		if (!a)
			return err->code;
		a->f = src->f;
		a->i = src->i;
		if (src->type == ATTR_STRING) {
			a->s.data = malloc(src->s.len + 1);
			if (!a->s.data)
				return sc_fail(err, SC_ENOMEM, "out of memory");
			memcpy(a->s.data, src->s.data ? src->s.data : "", src->s.len);
			a->s.data[src->s.len] = '\0';
			a->s.len = src->s.len;
		}
	}
	return SC_OK;
}

const op_def op_supcon_defs[] = {
	{.domain = "ai.supcon", .name = "SupConLoss", .since = 1, .until = 1,
	 .attrs = supcon_attrs, .infer = supcon_infer,
	 .prepare = supcon_prepare, .run = supcon_run,
	 .grad = supcon_grad_rule, .grad_inputs = 1u << 0},
	{.domain = "ai.supcon", .name = "SupConLossGrad", .since = 1, .until = 1,
	 .attrs = supcon_attrs, .infer = supcon_grad_infer,
	 .prepare = supcon_grad_prepare, .run = supcon_grad_run},
	{0},
};
