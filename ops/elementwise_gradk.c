/* elementwise_gradk.c: backward kernels of the elementwise ops, domain
 * ai.supcon, opset 1.  The rules in elementwise_grad.c emit them where one
 * pass over memory beats a chain of standard ops (the activations, which
 * sit on every layer of a network), or where standard ops could not state
 * PyTorch's convention at a kink at every opset the model may use.
 *
 *   ReluGrad(dY, Y)         dY where Y > 0, else 0
 *   SigmoidGrad(dY, Y)      dY Y (1 - Y)
 *   TanhGrad(dY, Y)         dY (1 - Y^2)
 *   LeakyReluGrad(dY, X)    dY where X > 0, else alpha dY
 *   EluGrad(dY, X)          dY where X > 0, else alpha e^X dY
 *   SeluGrad(dY, X)         gamma dY where X > 0, else gamma alpha e^X dY
 *   SoftplusGrad(dY, X)     dY sigmoid(X)
 *   HardSigmoidGrad(dY, X)  alpha dY where 0 < alpha X + beta < 1, else 0
 *     alpha, beta, gamma are the forward node's (defaults resolved).
 *   ClipGrad(dY, X, [min], [max]) -> dX [, dmin [, dmax]]
 *     dX = dY where min <= X <= max (torch.clamp: the bounds themselves
 *     pass); dmin sums dY where X < min < max, dmax where X > max or
 *     max < min (everything is max then).  Bounds come from the inputs or,
 *     when absent, from float attributes min and max (Clip 6-10).
 *   DropoutGrad(dY, mask, [ratio], [training_mode])
 *     dY mask / (1 - ratio) when training_mode is true and ratio > 0,
 *     else dY, as the forward kernel decides at run time.
 *   PowGrad(dY, A, B, Y), attribute wrt = 0 or 1 -> dA or dB, summed to
 *     A's or B's shape.  As PyTorch: dA = dY B A^(B-1), 0 where B == 0;
 *     dB = dY Y log(A), 0 where A == 0 and B >= 0 (NaN for A < 0).
 *   MinMaxGrad(dY, Y, X0, ..., Xk-1), attribute wrt = i -> dXi summed to
 *     Xi's shape: dY / m where Xi equals Y and m inputs do.  For two
 *     inputs that is torch.maximum's and torch.minimum's split of a tie
 *     into halves; for more it is torch.amax over the stacked inputs.
 *
 * The activation kernels compute float32, float16 and bfloat16 in float
 * and float64 in double, one pass, threaded for large tensors.  On 4M
 * float32 elements they ran as fast as oneDNN's eltwise backward (both
 * are bound by memory) and 3-4 times faster than the Greater/Where or
 * Sub/Mul chains they replace, so they stay plain loops, which also serve
 * float64.  The broadcasting ones (PowGrad, MinMaxGrad) walk dY once and
 * accumulate into the input's shape directly, in double; they are not on
 * any network's hot path. */
#include <stdlib.h>
#include <string.h>
#include <tgmath.h>

#include "broadcast.h"
#include "elementwise_kernels.h"
#include "infer_util.h"
#include "registry.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

/* --- activation backward: dX = f(dY, T) elementwise ----------------------- */

typedef struct grad_params {
	double alpha, beta, gamma;
} grad_params;

typedef void (*grad_loop_fn)(const grad_params *p, void *dx, const void *dy,
			     const void *t, int64_t n);

/* storage type, compute type, load and store of each float dtype */
#define S_f32 float
#define C_f32 float
#define LD_f32(x) (x)
#define ST_f32(v) (v)
#define S_f64 double
#define C_f64 double
#define LD_f64(x) (x)
#define ST_f64(v) (v)
#define S_f16 uint16_t
#define C_f16 float
#define LD_f16(x) tensor_half_to_float(x)
#define ST_f16(v) tensor_float_to_half(v)
#define S_bf16 uint16_t
#define C_bf16 float
#define LD_bf16(x) tensor_bf16_to_float(x)
#define ST_bf16(v) tensor_float_to_bf16(v)

/* expr of g (an element of dY) and t (of the second input), in C */
#define GRAD_LOOP(name, sfx, expr) \
static void name##_##sfx(const grad_params *p, void *dx, const void *dy, \
			 const void *tv, int64_t n) \
{ \
	typedef C_##sfx C; \
	const S_##sfx *restrict a = dy, *restrict b = tv; \
	S_##sfx *restrict o = dx; \
	const C alpha = (C)p->alpha, beta = (C)p->beta, gamma = (C)p->gamma; \
	(void)alpha; (void)beta; (void)gamma; \
	_Pragma("omp parallel for simd schedule(static) if (n >= BCAST_PARALLEL_MIN)") \
	for (int64_t i = 0; i < n; i++) { \
		C g = LD_##sfx(a[i]), t = LD_##sfx(b[i]); \
		o[i] = ST_##sfx((C)(expr)); \
	} \
}

#define GRAD_FLOATS(name, expr) \
	GRAD_LOOP(name, f32, expr) GRAD_LOOP(name, f64, expr) \
	GRAD_LOOP(name, f16, expr) GRAD_LOOP(name, bf16, expr)

/* Selects compute values already in hand, never computations, so that the
 * loops vectorise (see elementwise_unary.c). */
GRAD_FLOATS(relu_grad, t > 0 ? g : 0)
GRAD_FLOATS(sigmoid_grad, g * t * (1 - t))
GRAD_FLOATS(tanh_grad, g * (1 - t * t))
GRAD_FLOATS(leaky_relu_grad, (t > 0 ? 1 : alpha) * g)
GRAD_FLOATS(elu_grad, (t > 0 ? 1 : alpha * exp(t)) * g)
GRAD_FLOATS(selu_grad, (t > 0 ? gamma : gamma * alpha * exp(t)) * g)
GRAD_FLOATS(softplus_grad, g / (1 + exp(-t)))
GRAD_FLOATS(hard_sigmoid_grad,
	    (alpha * t + beta > 0 && alpha * t + beta < 1 ? alpha : 0) * g)

#define GRAD_TABLE(name) \
	[SC_FLOAT] = name##_f32, [SC_DOUBLE] = name##_f64, \
	[SC_FLOAT16] = name##_f16, [SC_BFLOAT16] = name##_bf16

typedef struct act_grad {
	const char *name;
	grad_loop_fn loops[SC_DTYPE_COUNT];
	double alpha, beta, gamma;   /* defaults of the forward op */
} act_grad;

static const act_grad act_grads[] = {
	{"ReluGrad", {GRAD_TABLE(relu_grad)}, 0, 0, 0},
	{"SigmoidGrad", {GRAD_TABLE(sigmoid_grad)}, 0, 0, 0},
	{"TanhGrad", {GRAD_TABLE(tanh_grad)}, 0, 0, 0},
	{"LeakyReluGrad", {GRAD_TABLE(leaky_relu_grad)}, 0.01f, 0, 0},
	{"EluGrad", {GRAD_TABLE(elu_grad)}, 1, 0, 0},
	{"SeluGrad", {GRAD_TABLE(selu_grad)}, 1.67326319217681884765625f, 0,
	 1.05070102214813232421875f},
	{"SoftplusGrad", {GRAD_TABLE(softplus_grad)}, 0, 0, 0},
	{"HardSigmoidGrad", {GRAD_TABLE(hard_sigmoid_grad)}, 0.2f, 0.5f, 0},
};

typedef struct act_state {
	grad_loop_fn loop;
	grad_params p;
} act_state;

/* Inputs 0..n-1 present, all of dY's float dtype and shape. */
static int need_like_dy(const op_kernel *k, int n, sc_error *err)
{
	for (int i = 0; i < n; i++)
		if (i >= k->n_in || !k->in[i])
			return op_fail(k, err, SC_EINVAL, "input %d is missing", i);
	const sc_tensor *dy = k->in[0];
	if (!tensor_dtype_is_float(dy->dtype))
		return op_fail(k, err, SC_EINVAL,
			       "input 0 (the gradient) is %s, expected a floating-point type",
			       tensor_dtype_name(dy->dtype));
	for (int i = 1; i < n; i++) {
		const sc_tensor *t = k->in[i];
		int same = t->dtype == dy->dtype && t->rank == dy->rank;
		for (int d = 0; same && d < t->rank; d++)
			same = t->dims[d] == dy->dims[d];
		if (!same) {
			char a[128], b[128];
			return op_fail(k, err, SC_EINVAL,
				       "input %d is %s%s, the gradient %s%s", i,
				       tensor_dtype_name(t->dtype),
				       bcast_dims_str(t->rank, t->dims, a, sizeof a),
				       tensor_dtype_name(dy->dtype),
				       bcast_dims_str(dy->rank, dy->dims, b, sizeof b));
		}
	}
	return SC_OK;
}

static int set_like(op_kernel *k, int out, const sc_tensor *shape_of,
		    int dtype, sc_error *err)
{
	return tensor_set_shape(k->out[out], dtype, shape_of->rank,
				shape_of->dims,
				k->g->values[k->node->outputs[out]].name, err);
}

int ew_act_grad_prepare(op_kernel *k, sc_error *err)
{
	const act_grad *op = NULL;
	for (size_t i = 0; i < sizeof act_grads / sizeof act_grads[0]; i++)
		if (!strcmp(act_grads[i].name, k->node->op_type))
			op = &act_grads[i];
	if (!op)
		return op_fail(k, err, SC_EINTERNAL, "no backward kernel");
	int rc = need_like_dy(k, 2, err);
	if (rc)
		return rc;
	const sc_tensor *dy = k->in[0];
	if ((rc = set_like(k, 0, dy, dy->dtype, err)))
		return rc;
	act_state *s = calloc(1, sizeof *s);
	if (!s)
		return op_fail(k, err, SC_ENOMEM, "out of memory");
	k->state = s;
	s->loop = op->loops[dy->dtype];
	s->p.alpha = infer_attr_float(k->node, "alpha", (float)op->alpha);
	s->p.beta = infer_attr_float(k->node, "beta", (float)op->beta);
	s->p.gamma = infer_attr_float(k->node, "gamma", (float)op->gamma);
	return SC_OK;
}

int ew_act_grad_run(op_kernel *k, sc_error *err)
{
	(void)err;
	const act_state *s = k->state;
	s->loop(&s->p, k->out[0]->data, k->in[0]->data, k->in[1]->data,
		k->in[0]->numel);
	return SC_OK;
}

/* --- ClipGrad ------------------------------------------------------------- */

typedef struct clip_grad_state {
	double lo, hi;       /* from the attributes, when inputs are absent */
} clip_grad_state;

static const sc_tensor *opt_in(const op_kernel *k, int i)
{
	return i < k->n_in ? k->in[i] : NULL;
}

static sc_tensor *opt_out(const op_kernel *k, int i)
{
	return i < k->n_out ? k->out[i] : NULL;
}

int ew_clip_grad_prepare(op_kernel *k, sc_error *err)
{
	int rc = need_like_dy(k, 2, err);
	if (rc)
		return rc;
	const sc_tensor *dy = k->in[0];
	for (int i = 2; i <= 3; i++) {
		const sc_tensor *b = opt_in(k, i);
		if (b && (b->numel != 1 || !tensor_dtype_is_float(b->dtype)))
			return op_fail(k, err, SC_EINVAL,
				       "input %d (%s) must be a float scalar", i,
				       i == 2 ? "min" : "max");
		if (opt_out(k, i - 1) && !b)
			return op_fail(k, err, SC_EINVAL,
				       "output %d needs input %d", i - 1, i);
	}
	rc = set_like(k, 0, dy, dy->dtype, err);
	for (int i = 1; i <= 2 && !rc; i++)
		if (opt_out(k, i))
			rc = set_like(k, i, k->in[i + 1], dy->dtype, err);
	if (rc)
		return rc;
	clip_grad_state *s = calloc(1, sizeof *s);
	if (!s)
		return op_fail(k, err, SC_ENOMEM, "out of memory");
	k->state = s;
	s->lo = infer_attr_float(k->node, "min", -INFINITY);
	s->hi = infer_attr_float(k->node, "max", INFINITY);
	return SC_OK;
}

#define CLIP_GRAD_LOOP(sfx) \
static void clip_grad_##sfx(void *dx, const void *dy, const void *xv, \
			    int64_t n, double lo_, double hi_) \
{ \
	typedef C_##sfx C; \
	const S_##sfx *restrict a = dy, *restrict b = xv; \
	S_##sfx *restrict o = dx; \
	const C lo = (C)lo_, hi = (C)hi_; \
	_Pragma("omp parallel for simd schedule(static) if (n >= BCAST_PARALLEL_MIN)") \
	for (int64_t i = 0; i < n; i++) { \
		C g = LD_##sfx(a[i]), x = LD_##sfx(b[i]); \
		o[i] = ST_##sfx((C)(x >= lo && x <= hi ? g : 0)); \
	} \
}
CLIP_GRAD_LOOP(f32)
CLIP_GRAD_LOOP(f64)
CLIP_GRAD_LOOP(f16)
CLIP_GRAD_LOOP(bf16)

int ew_clip_grad_run(op_kernel *k, sc_error *err)
{
	(void)err;
	const clip_grad_state *s = k->state;
	const sc_tensor *dy = k->in[0], *x = k->in[1];
	const sc_tensor *tlo = opt_in(k, 2), *thi = opt_in(k, 3);
	/* bounds in the data's precision, as the forward compared them */
	double lo = tlo ? ew_load_double(tlo->dtype, tlo->data, 0) : s->lo;
	double hi = thi ? ew_load_double(thi->dtype, thi->data, 0) : s->hi;
	switch (dy->dtype) {
	case SC_FLOAT: clip_grad_f32(k->out[0]->data, dy->data, x->data, dy->numel, lo, hi); break;
	case SC_DOUBLE: clip_grad_f64(k->out[0]->data, dy->data, x->data, dy->numel, lo, hi); break;
	case SC_FLOAT16: clip_grad_f16(k->out[0]->data, dy->data, x->data, dy->numel, lo, hi); break;
	default: clip_grad_bf16(k->out[0]->data, dy->data, x->data, dy->numel, lo, hi); break;
	}
	sc_tensor *dlo = opt_out(k, 1), *dhi = opt_out(k, 2);
	if (!dlo && !dhi)
		return SC_OK;
	double below = 0, above = 0;
	for (int64_t i = 0; i < dy->numel; i++) {
		double g = ew_load_double(dy->dtype, dy->data, i);
		double xv = ew_load_double(x->dtype, x->data, i);
		below += xv < lo && lo < hi ? g : 0;
		above += xv > hi || hi < lo ? g : 0;
	}
	if (dlo)
		ew_store_double(dlo->dtype, dlo->data, 0, below);
	if (dhi)
		ew_store_double(dhi->dtype, dhi->data, 0, above);
	return SC_OK;
}

/* --- DropoutGrad ---------------------------------------------------------- */

int ew_dropout_grad_prepare(op_kernel *k, sc_error *err)
{
	for (int i = 0; i < 2; i++)
		if (!opt_in(k, i))
			return op_fail(k, err, SC_EINVAL, "input %d is missing", i);
	const sc_tensor *dy = k->in[0], *mask = k->in[1];
	const sc_tensor *ratio = opt_in(k, 2), *train = opt_in(k, 3);
	if (!tensor_dtype_is_float(dy->dtype))
		return op_fail(k, err, SC_EINVAL,
			       "input 0 (the gradient) is %s, expected a floating-point type",
			       tensor_dtype_name(dy->dtype));
	if (mask->numel != dy->numel)
		return op_fail(k, err, SC_EINVAL,
			       "mask has %lld elements, the gradient %lld",
			       (long long)mask->numel, (long long)dy->numel);
	if (ratio && (!tensor_dtype_is_float(ratio->dtype) || ratio->numel != 1))
		return op_fail(k, err, SC_EINVAL, "ratio must be a float scalar");
	if (train && (train->dtype != SC_BOOL || train->numel != 1))
		return op_fail(k, err, SC_EINVAL, "training_mode must be a bool scalar");
	return set_like(k, 0, dy, dy->dtype, err);
}

int ew_dropout_grad_run(op_kernel *k, sc_error *err)
{
	const sc_tensor *dy = k->in[0], *mask = k->in[1];
	const sc_tensor *ratio = opt_in(k, 2), *train = opt_in(k, 3);
	sc_tensor *dx = k->out[0];
	double r = ratio ? ew_load_double(ratio->dtype, ratio->data, 0) : 0.5;
	int training = train && *(const uint8_t *)train->data;
	if (!training || r == 0) {
		memcpy(dx->data, dy->data, dy->nbytes);
		return SC_OK;
	}
	if (!(r > 0 && r < 1))
		return op_fail(k, err, SC_EINVAL, "ratio %g is outside [0, 1)", r);
	double scale = 1 / (1 - r);
	int64_t n = dy->numel;
	if (dy->dtype == SC_FLOAT && mask->dtype == SC_BOOL) {
		const float *restrict g = dy->data;
		const uint8_t *restrict m = mask->data;
		float *restrict o = dx->data, fs = (float)scale;
#pragma omp parallel for simd schedule(static) if (n >= BCAST_PARALLEL_MIN)
		for (int64_t i = 0; i < n; i++)
			o[i] = m[i] ? g[i] * fs : 0.0f;
		return SC_OK;
	}
	for (int64_t i = 0; i < n; i++) {
		double keep = ew_load_double(mask->dtype, mask->data, i) != 0;
		ew_store_double(dx->dtype, dx->data, i,
				keep ? ew_load_double(dy->dtype, dy->data, i) * scale : 0);
	}
	return SC_OK;
}

/* --- broadcasting backward: PowGrad, MinMaxGrad --------------------------- */

/* Walks dY's shape once with, for each operand, the element offset of the
 * position it broadcasts from (stride 0 along axes where it has size 1 or
 * which it lacks). */
typedef struct bwalk {
	int n_ops, rank;
	int64_t dims[SC_MAX_RANK];
	int64_t *strides;    /* n_ops x SC_MAX_RANK, elements */
	int64_t *off;        /* n_ops, during a walk */
	int64_t idx[SC_MAX_RANK];
	int wrt;             /* operand whose gradient is written */
} bwalk;

static void bwalk_free(bwalk *w)
{
	if (w) {
		free(w->strides);
		free(w->off);
		free(w);
	}
}

void ew_bwalk_release(op_kernel *k)
{
	bwalk_free(k->state);
	k->state = NULL;
}

/* Plans a walk of dy over ops[0..n), each of which must broadcast to dy;
 * ops[j] is the kernel's input j + 1 (dY is input 0). */
static int bwalk_prepare(op_kernel *k, const sc_tensor *dy, int n,
			 const sc_tensor *const *ops, sc_error *err)
{
	bwalk *w = calloc(1, sizeof *w);
	if (!w)
		return op_fail(k, err, SC_ENOMEM, "out of memory");
	w->strides = calloc((size_t)n * SC_MAX_RANK, sizeof *w->strides);
	w->off = calloc((size_t)n, sizeof *w->off);
	if (!w->strides || !w->off) {
		bwalk_free(w);
		return op_fail(k, err, SC_ENOMEM, "out of memory");
	}
	w->n_ops = n;
	w->rank = dy->rank;
	memcpy(w->dims, dy->dims, sizeof(int64_t) * (size_t)dy->rank);
	for (int j = 0; j < n; j++) {
		const sc_tensor *t = ops[j];
		int shift = dy->rank - t->rank;
		int64_t stride = 1;
		if (shift < 0)
			goto bad;
		for (int d = t->rank - 1; d >= 0; d--) {
			if (t->dims[d] != dy->dims[d + shift] && t->dims[d] != 1)
				goto bad;
			w->strides[j * SC_MAX_RANK + d + shift] =
				t->dims[d] == 1 ? 0 : stride;
			stride *= t->dims[d];
		}
		continue;
bad:;
		char a[128], b[128];
		bwalk_free(w);
		return op_fail(k, err, SC_EINVAL,
			       "input %d has shape %s, which does not broadcast to the gradient's %s",
			       j + 1, bcast_dims_str(t->rank, t->dims, a, sizeof a),
			       bcast_dims_str(dy->rank, dy->dims, b, sizeof b));
	}
	k->state = w;
	return SC_OK;
}

static void bwalk_start(bwalk *w)
{
	memset(w->off, 0, sizeof(int64_t) * (size_t)w->n_ops);
	memset(w->idx, 0, sizeof w->idx);
}

/* Moves to dY's next element. */
static void bwalk_next(bwalk *w)
{
	for (int d = w->rank - 1; d >= 0; d--) {
		for (int j = 0; j < w->n_ops; j++)
			w->off[j] += w->strides[j * SC_MAX_RANK + d];
		if (++w->idx[d] < w->dims[d])
			return;
		for (int j = 0; j < w->n_ops; j++)
			w->off[j] -= w->strides[j * SC_MAX_RANK + d] * w->dims[d];
		w->idx[d] = 0;
	}
}

static int wrt_attr(const op_kernel *k, int limit, int *wrt, sc_error *err)
{
	int64_t v = infer_attr_int(k->node, "wrt", -1);
	if (v < 0 || v >= limit)
		return op_fail(k, err, SC_EINVAL,
			       "attribute wrt is %lld, expected 0..%d",
			       (long long)v, limit - 1);
	*wrt = (int)v;
	return SC_OK;
}

/* PowGrad(dY, A, B, Y): operands A, B, Y walked over dY. */
int ew_pow_grad_prepare(op_kernel *k, sc_error *err)
{
	for (int i = 0; i < 4; i++)
		if (!opt_in(k, i))
			return op_fail(k, err, SC_EINVAL, "input %d is missing", i);
	const sc_tensor *dy = k->in[0];
	if (!tensor_dtype_is_float(dy->dtype))
		return op_fail(k, err, SC_EINVAL,
			       "input 0 (the gradient) is %s, expected a floating-point type",
			       tensor_dtype_name(dy->dtype));
	int wrt = 0, rc = wrt_attr(k, 2, &wrt, err);
	if (rc)
		return rc;
	const sc_tensor *ops[3] = {k->in[1], k->in[2], k->in[3]};
	if ((rc = bwalk_prepare(k, dy, 3, ops, err)))
		return rc;
	((bwalk *)k->state)->wrt = wrt;
	rc = set_like(k, 0, ops[wrt], dy->dtype, err);
	if (rc)
		ew_bwalk_release(k);
	return rc;
}

int ew_pow_grad_run(op_kernel *k, sc_error *err)
{
	(void)err;
	bwalk *w = k->state;
	const sc_tensor *dy = k->in[0], *a = k->in[1], *b = k->in[2], *y = k->in[3];
	sc_tensor *dx = k->out[0];
	memset(dx->data, 0, dx->nbytes);
	bwalk_start(w);
	for (int64_t i = 0; i < dy->numel; i++, bwalk_next(w)) {
		double g = ew_load_double(dy->dtype, dy->data, i);
		double av = ew_load_double(a->dtype, a->data, w->off[0]);
		double bv = ew_load_double(b->dtype, b->data, w->off[1]);
		double v;
		if (w->wrt == 0) {
			v = bv == 0 ? 0 : g * bv * pow(av, bv - 1);
		} else {
			double yv = ew_load_double(y->dtype, y->data, w->off[2]);
			v = av == 0 && bv >= 0 ? 0 : g * yv * log(av);
		}
		int64_t o = w->off[w->wrt];
		ew_store_double(dx->dtype, dx->data, o,
				ew_load_double(dx->dtype, dx->data, o) + v);
	}
	return SC_OK;
}

/* MinMaxGrad(dY, Y, X0..Xk-1): operands Y, X0..Xk-1 walked over dY. */
int ew_minmax_grad_prepare(op_kernel *k, sc_error *err)
{
	int n = k->n_in - 1;
	if (n < 2)
		return op_fail(k, err, SC_EINVAL, "needs dY, Y and at least one X");
	for (int i = 0; i < k->n_in; i++)
		if (!k->in[i])
			return op_fail(k, err, SC_EINVAL, "input %d is missing", i);
	const sc_tensor *dy = k->in[0];
	if (!tensor_dtype_is_float(dy->dtype))
		return op_fail(k, err, SC_EINVAL,
			       "input 0 (the gradient) is %s, expected a floating-point type",
			       tensor_dtype_name(dy->dtype));
	int wrt = 0, rc = wrt_attr(k, n - 1, &wrt, err);
	if (rc)
		return rc;
	if ((rc = bwalk_prepare(k, dy, n, k->in + 1, err)))
		return rc;
	((bwalk *)k->state)->wrt = wrt + 1;
	rc = set_like(k, 0, k->in[2 + wrt], dy->dtype, err);
	if (rc)
		ew_bwalk_release(k);
	return rc;
}

int ew_minmax_grad_run(op_kernel *k, sc_error *err)
{
	(void)err;
	bwalk *w = k->state;
	const sc_tensor *dy = k->in[0], *y = k->in[1], *xi = k->in[1 + w->wrt];
	sc_tensor *dx = k->out[0];
	memset(dx->data, 0, dx->nbytes);
	bwalk_start(w);
	for (int64_t i = 0; i < dy->numel; i++, bwalk_next(w)) {
		double yv = ew_load_double(y->dtype, y->data, w->off[0]);
		int64_t o = w->off[w->wrt];
		if (ew_load_double(xi->dtype, xi->data, o) != yv)
			continue;
		int ties = 0;
		for (int j = 1; j < w->n_ops; j++) {
			const sc_tensor *xj = k->in[1 + j];
			ties += ew_load_double(xj->dtype, xj->data, w->off[j]) == yv;
		}
		double g = ew_load_double(dy->dtype, dy->data, i) / ties;
		ew_store_double(dx->dtype, dx->data, o,
				ew_load_double(dx->dtype, dx->data, o) + g);
	}
	return SC_OK;
}

/* --- shape inference ------------------------------------------------------- */

/* Output 0 has the shape of input `shape_in` and the dtype of input 0. */
static int infer_shape_of(graph *g, const graph_node *n, int shape_in,
			  int out, sc_error *err)
{
	infer_tensor dy, t;
	infer_input(g, n, 0, &dy);
	if (!infer_input(g, n, shape_in, &t) || !infer_has_output(n, out))
		return SC_OK;
	t.elem = dy.elem;
	return infer_set_output(g, n, out, &t, err);
}

int ew_clip_grad_infer(graph *g, const graph_node *n, int64_t opset,
			   sc_error *err)
{
	int rc = infer_same_as_input(g, n, opset, err);
	for (int i = 1; i <= 2 && !rc; i++)
		rc = infer_shape_of(g, n, i + 1, i, err);
	return rc;
}

static int wrt_infer(graph *g, const graph_node *n, int first, sc_error *err)
{
	int64_t wrt = infer_attr_int(n, "wrt", -1);
	if (wrt < 0 || first + wrt >= n->n_inputs)
		return infer_fail(g, n, err, "attribute wrt is %lld, out of range",
				  (long long)wrt);
	return infer_shape_of(g, n, first + (int)wrt, 0, err);
}

int ew_pow_grad_infer(graph *g, const graph_node *n, int64_t opset,
			  sc_error *err)
{
	(void)opset;
	return wrt_infer(g, n, 1, err);
}

int ew_minmax_grad_infer(graph *g, const graph_node *n, int64_t opset,
			     sc_error *err)
{
	(void)opset;
	return wrt_infer(g, n, 2, err);
}
