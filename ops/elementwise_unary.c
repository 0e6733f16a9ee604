/* elementwise_unary.c: kernels of the one-input elementwise ops.
 *
 * Math ops (Relu ... HardSwish, IsNaN, IsInf, Not) run one loop per dtype,
 * written once with <tgmath.h> so that the same expression computes in
 * float for float32, float16 and bfloat16 (these two widened on load) and
 * in double for float64.  Integer variants exist where ONNX allows them
 * (Relu, Neg, Abs, Sign).  For large float32 tensors, the ops oneDNN
 * computes accurately (logistic, tanh, exp, sqrt, elu, round, hardswish)
 * go to its JIT eltwise primitive; its log and soft_relu miss ONNX's
 * tolerance near log(1) and for very negative inputs, so those stay on
 * libm.
 *
 * Clip reads its bounds from attributes (opsets 6-10) or from optional
 * scalar inputs at every run (11-17).  Dropout is the identity with an
 * all-true mask unless training_mode (opset 12+) is set, in which case it
 * drops with MT19937 seeded by `seed` (0 when absent), as numpy does in
 * ONNX's reference, so the official cases reproduce.  Identity
 * copies. */
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tgmath.h>

#include "../runtime/exec.h"
#include "broadcast.h"
#include "elementwise_kernels.h"
#include "infer_util.h"
#include "registry.h"

/* Nothing here reads the FP exception flags, so let GCC compute both arms
 * of a conditional (x < 0 ? alpha * x : x) and blend them: with traps
 * honoured it keeps a branch and the loop does not vectorise. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

/* Below this many float32 elements the libm loop beats a oneDNN call. */
#define EW_DNNL_MIN 4096

typedef struct unary_params {
	float alpha, beta, gamma;
	int detect_neg, detect_pos;
} unary_params;

const char *ew_label(const op_kernel *k, char *buf, size_t len)
{
	return op_node_label(k->g, k->node, buf, len);
}

static const char *out_name(const op_kernel *k, int i)
{
	return k->g->values[k->node->outputs[i]].name;
}

/* --- loops ---------------------------------------------------------------- */

#define LOOP_HEAD(name, T, OT) \
static void name(const void *ctx, void *out, const void *const *in, \
		 const int *step, int64_t n) \
{ \
	/* locals: stores through o cannot change them, so loops vectorise */ \
	const unary_params *p = ctx; \
	const float alpha = p->alpha, beta = p->beta, gamma = p->gamma; \
	const int detect_neg = p->detect_neg, detect_pos = p->detect_pos; \
	const T *a = in[0]; \
	OT *o = out; \
	(void)alpha, (void)beta, (void)gamma, (void)detect_neg, (void)detect_pos; \
	(void)step;

/* expr of x, computed in float (double for float64), and of the
 * attributes alpha, beta, gamma, detect_neg and detect_pos */
#define UNARY_FLOAT(name, expr) \
LOOP_HEAD(name##_f32, float, float) \
	for (int64_t i = 0; i < n; i++) { \
		float x = a[i]; \
		o[i] = (float)(expr); \
	} \
} \
LOOP_HEAD(name##_f64, double, double) \
	for (int64_t i = 0; i < n; i++) { \
		double x = a[i]; \
		o[i] = (double)(expr); \
	} \
} \
LOOP_HEAD(name##_f16, uint16_t, uint16_t) \
	for (int64_t i = 0; i < n; i++) { \
		float x = tensor_half_to_float(a[i]); \
		o[i] = tensor_float_to_half((float)(expr)); \
	} \
} \
LOOP_HEAD(name##_bf16, uint16_t, uint16_t) \
	for (int64_t i = 0; i < n; i++) { \
		float x = tensor_bf16_to_float(a[i]); \
		o[i] = tensor_float_to_bf16((float)(expr)); \
	} \
}

#define UNARY_FLOAT_TO_BOOL(name, expr) \
LOOP_HEAD(name##_f32, float, uint8_t) \
	for (int64_t i = 0; i < n; i++) { \
		float x = a[i]; \
		o[i] = (expr) ? 1 : 0; \
	} \
} \
LOOP_HEAD(name##_f64, double, uint8_t) \
	for (int64_t i = 0; i < n; i++) { \
		double x = a[i]; \
		o[i] = (expr) ? 1 : 0; \
	} \
} \
LOOP_HEAD(name##_f16, uint16_t, uint8_t) \
	for (int64_t i = 0; i < n; i++) { \
		float x = tensor_half_to_float(a[i]); \
		o[i] = (expr) ? 1 : 0; \
	} \
} \
LOOP_HEAD(name##_bf16, uint16_t, uint8_t) \
	for (int64_t i = 0; i < n; i++) { \
		float x = tensor_bf16_to_float(a[i]); \
		o[i] = (expr) ? 1 : 0; \
	} \
}

/* expr of x (type T); uword is the unsigned type arithmetic wraps in */
#define UNARY_INT(name, sfx, T, U, expr) \
LOOP_HEAD(name##_##sfx, T, T) \
	typedef U uword; \
	(void)sizeof(uword); \
	for (int64_t i = 0; i < n; i++) { \
		T x = a[i]; \
		o[i] = (T)(expr); \
	} \
}

#define SIGNED_INTS(X, name, expr) \
	X(name, i8, int8_t, uint32_t, expr) \
	X(name, i16, int16_t, uint32_t, expr) \
	X(name, i32, int32_t, uint32_t, expr) \
	X(name, i64, int64_t, uint64_t, expr)

#define UNSIGNED_INTS(X, name, expr) \
	X(name, u8, uint8_t, uint32_t, expr) \
	X(name, u16, uint16_t, uint32_t, expr) \
	X(name, u32, uint32_t, uint32_t, expr) \
	X(name, u64, uint64_t, uint64_t, expr)

/* Conditionals select between values already computed, never between
 * computations, so that GCC (which keeps FP traps by default) can turn
 * them into vector blends; NaN goes through as numpy's versions do. */
static inline float clamp01f(float v) { return v < 0 ? 0 : v > 1 ? 1 : v; }
static inline double clamp01d(double v) { return v < 0 ? 0 : v > 1 ? 1 : v; }
#define CLAMP01(v) _Generic((v), float: clamp01f, default: clamp01d)(v)

UNARY_FLOAT(relu, x < 0 ? 0 : x)
UNARY_FLOAT(leaky_relu, (x < 0 ? alpha : 1.0f) * x)
UNARY_FLOAT(sigmoid, x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)))
UNARY_FLOAT(tanh, tanh(x))
UNARY_FLOAT(exp, exp(x))
UNARY_FLOAT(log, log(x))
UNARY_FLOAT(sqrt, sqrt(x))
UNARY_FLOAT(neg, -x)
UNARY_FLOAT(abs, fabs(x))
UNARY_FLOAT(reciprocal, 1 / x)
UNARY_FLOAT(floor, floor(x))
UNARY_FLOAT(ceil, ceil(x))
UNARY_FLOAT(round, nearbyint(x))
UNARY_FLOAT(softplus, x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)))
UNARY_FLOAT(softsign, x / (1 + fabs(x)))
UNARY_FLOAT(sin, sin(x))
UNARY_FLOAT(cos, cos(x))
UNARY_FLOAT(tan, tan(x))
UNARY_FLOAT(asin, asin(x))
UNARY_FLOAT(acos, acos(x))
UNARY_FLOAT(atan, atan(x))
UNARY_FLOAT(sinh, sinh(x))
UNARY_FLOAT(cosh, cosh(x))
UNARY_FLOAT(asinh, asinh(x))
UNARY_FLOAT(acosh, acosh(x))
UNARY_FLOAT(atanh, atanh(x))
UNARY_FLOAT(erf, erf(x))
UNARY_FLOAT(sign, x > 0 ? 1 : x < 0 ? -1 : x)
UNARY_FLOAT(elu, x < 0 ? alpha * expm1(x) : x)
UNARY_FLOAT(selu, x <= 0 ? gamma * (alpha * expm1(x)) : gamma * x)
UNARY_FLOAT(hard_sigmoid, CLAMP01(alpha * x + beta))
UNARY_FLOAT(hard_swish, x * CLAMP01(x / 6 + 0.5f))
UNARY_FLOAT(thresholded_relu, x > alpha ? x : 0)
UNARY_FLOAT(celu, fmax(0.0f, x) + fmin(0.0f, alpha * expm1(x / alpha)))
UNARY_FLOAT(shrink, x < -alpha ? x + beta : x > alpha ? x - beta : 0)
UNARY_FLOAT_TO_BOOL(is_nan, isnan(x))
UNARY_FLOAT_TO_BOOL(is_inf, isinf(x) && (x > 0 ? detect_pos : detect_neg))

SIGNED_INTS(UNARY_INT, relu, x < 0 ? 0 : x)
SIGNED_INTS(UNARY_INT, neg, 0 - (uword)x)
SIGNED_INTS(UNARY_INT, abs, x < 0 ? 0 - (uword)x : (uword)x)
SIGNED_INTS(UNARY_INT, sign, (x > 0) - (x < 0))
UNSIGNED_INTS(UNARY_INT, abs, x)
UNSIGNED_INTS(UNARY_INT, sign, x > 0)
UNARY_INT(not, b, uint8_t, uint32_t, !x)

#define FLOATS(name) \
	[SC_FLOAT] = name##_f32, [SC_DOUBLE] = name##_f64, \
	[SC_FLOAT16] = name##_f16, [SC_BFLOAT16] = name##_bf16
#define SINTS(name) \
	[SC_INT8] = name##_i8, [SC_INT16] = name##_i16, \
	[SC_INT32] = name##_i32, [SC_INT64] = name##_i64
#define UINTS(name) \
	[SC_UINT8] = name##_u8, [SC_UINT16] = name##_u16, \
	[SC_UINT32] = name##_u32, [SC_UINT64] = name##_u64

typedef struct unary_op {
	const char *name;
	bcast_loop_fn loops[SC_DTYPE_COUNT];   /* by input dtype */
	dnnl_alg_kind_t alg;   /* oneDNN's for big float32 tensors, or 0 */
	int to_bool;
	float alpha, beta, gamma;              /* attribute defaults */
} unary_op;

static const unary_op unary_ops[] = {
	{.name = "Relu", .loops = {FLOATS(relu), SINTS(relu)}},
	{.name = "LeakyRelu", .loops = {FLOATS(leaky_relu)}, .alpha = 0.01f},
	{.name = "Sigmoid", .loops = {FLOATS(sigmoid)},
	 .alg = dnnl_eltwise_logistic},
	{.name = "Tanh", .loops = {FLOATS(tanh)}, .alg = dnnl_eltwise_tanh},
	{.name = "Exp", .loops = {FLOATS(exp)}, .alg = dnnl_eltwise_exp},
	{.name = "Log", .loops = {FLOATS(log)}},
	{.name = "Sqrt", .loops = {FLOATS(sqrt)}, .alg = dnnl_eltwise_sqrt},
	{.name = "Neg", .loops = {FLOATS(neg), SINTS(neg)}},
	{.name = "Abs", .loops = {FLOATS(abs), SINTS(abs), UINTS(abs)}},
	{.name = "Reciprocal", .loops = {FLOATS(reciprocal)}},
	{.name = "Floor", .loops = {FLOATS(floor)}},
	{.name = "Ceil", .loops = {FLOATS(ceil)}},
	{.name = "Round", .loops = {FLOATS(round)}, .alg = dnnl_eltwise_round},
	{.name = "Softplus", .loops = {FLOATS(softplus)}},
	{.name = "Softsign", .loops = {FLOATS(softsign)}},
	{.name = "Sin", .loops = {FLOATS(sin)}},
	{.name = "Cos", .loops = {FLOATS(cos)}},
	{.name = "Tan", .loops = {FLOATS(tan)}},
	{.name = "Asin", .loops = {FLOATS(asin)}},
	{.name = "Acos", .loops = {FLOATS(acos)}},
	{.name = "Atan", .loops = {FLOATS(atan)}},
	{.name = "Sinh", .loops = {FLOATS(sinh)}},
	{.name = "Cosh", .loops = {FLOATS(cosh)}},
	{.name = "Asinh", .loops = {FLOATS(asinh)}},
	{.name = "Acosh", .loops = {FLOATS(acosh)}},
	{.name = "Atanh", .loops = {FLOATS(atanh)}},
	{.name = "Erf", .loops = {FLOATS(erf)}},
	{.name = "Sign", .loops = {FLOATS(sign), SINTS(sign), UINTS(sign)}},
	{.name = "Elu", .loops = {FLOATS(elu)}, .alg = dnnl_eltwise_elu,
	 .alpha = 1.0f},
	{.name = "Selu", .loops = {FLOATS(selu)},
	 .alpha = 1.67326319217681884765625f,
	 .gamma = 1.05070102214813232421875f},
	{.name = "HardSigmoid", .loops = {FLOATS(hard_sigmoid)},
	 .alpha = 0.2f, .beta = 0.5f},
	{.name = "HardSwish", .loops = {FLOATS(hard_swish)},
	 .alg = dnnl_eltwise_hardswish},
	{.name = "ThresholdedRelu", .loops = {FLOATS(thresholded_relu)},
	 .alpha = 1.0f},
	{.name = "Celu", .loops = {FLOATS(celu)}, .alpha = 1.0f},
	/* alpha is lambd, beta is bias */
	{.name = "Shrink", .loops = {FLOATS(shrink)}, .alpha = 0.5f},
	{.name = "IsNaN", .loops = {FLOATS(is_nan)}, .to_bool = 1},
	{.name = "IsInf", .loops = {FLOATS(is_inf)}, .to_bool = 1},
	{.name = "Not", .loops = {[SC_BOOL] = not_b}},
};

static const unary_op *find_unary(const char *name)
{
	for (size_t i = 0; i < sizeof unary_ops / sizeof unary_ops[0]; i++)
		if (!strcmp(unary_ops[i].name, name))
			return &unary_ops[i];
	return NULL;
}

static unary_params read_params(const unary_op *op, const graph_node *n)
{
	unary_params p = {
		.alpha = infer_attr_float(n, "alpha", op->alpha),
		.beta = infer_attr_float(n, "beta", op->beta),
		.gamma = infer_attr_float(n, "gamma", op->gamma),
		.detect_neg = infer_attr_int(n, "detect_negative", 1) != 0,
		.detect_pos = infer_attr_int(n, "detect_positive", 1) != 0,
	};
	if (!strcmp(op->name, "Shrink")) {
		p.alpha = infer_attr_float(n, "lambd", 0.5f);
		p.beta = infer_attr_float(n, "bias", 0.0f);
	}
	return p;
}

/* --- shared checks -------------------------------------------------------- */

/* Input i, which must be present. */
static int need_input(const op_kernel *k, int i, const sc_tensor **t,
		      sc_error *err)
{
	if (i >= k->n_in || !k->in[i]) {
		char label[256];
		return sc_fail(err, SC_EINVAL, "%s: input %d is missing",
			       ew_label(k, label, sizeof label), i);
	}
	*t = k->in[i];
	return SC_OK;
}

static int refuse_dtype(const op_kernel *k, int i, int dtype, sc_error *err)
{
	char label[256];
	return sc_fail(err, dtype == SC_STRING || dtype == SC_COMPLEX64 ||
		       dtype == SC_COMPLEX128 ? SC_EUNSUPPORTED : SC_EINVAL,
		       "%s: input %d of type %s is not supported",
		       ew_label(k, label, sizeof label), i,
		       tensor_dtype_name(dtype));
}

/* --- math ops ------------------------------------------------------------- */

typedef struct unary_state {
	bcast plan;
	bcast_loop_fn loop;
	unary_params p;
	dnnl_primitive_t prim;     /* oneDNN path when not NULL */
	dnnl_memory_t src, dst;
	int fix_nan;               /* oneDNN's exp turns NaN into inf */
} unary_state;

static int create_eltwise(unary_state *s, exec_env *env, dnnl_alg_kind_t alg,
			  int64_t n, const char *label, sc_error *err)
{
	char what[300];
	snprintf(what, sizeof what, "%s: oneDNN eltwise", label);
	dnnl_memory_desc_t md;
	dnnl_eltwise_desc_t ed;
	dnnl_primitive_desc_t pd = NULL;
	dnnl_dims_t dims = {n};
	int rc = exec_dnnl_check(dnnl_memory_desc_init_by_tag(&md, 1, dims,
							      dnnl_f32, dnnl_a),
				 what, err);
	if (!rc)
		rc = exec_dnnl_check(dnnl_eltwise_forward_desc_init(&ed,
					dnnl_forward_inference, alg, &md,
					s->p.alpha, s->p.beta), what, err);
	if (!rc)
		rc = exec_dnnl_check(dnnl_primitive_desc_create(&pd, &ed, NULL,
							       env->engine, NULL),
				     what, err);
	if (!rc)
		rc = exec_dnnl_check(dnnl_primitive_create(&s->prim, pd), what, err);
	if (!rc)
		rc = exec_dnnl_check(dnnl_memory_create(&s->src, &md, env->engine,
							DNNL_MEMORY_NONE), what, err);
	if (!rc)
		rc = exec_dnnl_check(dnnl_memory_create(&s->dst, &md, env->engine,
							DNNL_MEMORY_NONE), what, err);
	if (pd)
		dnnl_primitive_desc_destroy(pd);
	s->fix_nan = alg == dnnl_eltwise_exp;
	return rc;
}

void ew_unary_release(op_kernel *k)
{
	unary_state *s = k->state;
	if (s) {
		if (s->prim)
			dnnl_primitive_destroy(s->prim);
		if (s->src)
			dnnl_memory_destroy(s->src);
		if (s->dst)
			dnnl_memory_destroy(s->dst);
		free(s);
	}
	k->state = NULL;
}

int ew_unary_prepare(op_kernel *k, sc_error *err)
{
	char label[256];
	ew_label(k, label, sizeof label);
	const unary_op *op = find_unary(k->node->op_type);
	if (!op)
		return sc_fail(err, SC_EINTERNAL, "%s: no unary kernel", label);
	const sc_tensor *x = NULL;
	int rc = need_input(k, 0, &x, err);
	if (rc)
		return rc;
	bcast_loop_fn loop = op->loops[x->dtype];
	if (!loop)
		return refuse_dtype(k, 0, x->dtype, err);
	int out_dtype = op->to_bool ? SC_BOOL : (int)x->dtype;
	rc = tensor_set_shape(k->out[0], out_dtype, x->rank, x->dims,
			      out_name(k, 0), err);
	if (rc)
		return rc;
	unary_state *s = calloc(1, sizeof *s);
	if (!s)
		return sc_fail(err, SC_ENOMEM, "%s: out of memory", label);
	k->state = s;
	s->loop = loop;
	s->p = read_params(op, k->node);
	bcast_init(&s->plan, 1, &x, x->rank, x->dims,
		   tensor_dtype_size(out_dtype));
	if (op->alg && x->dtype == SC_FLOAT && x->numel >= EW_DNNL_MIN) {
		rc = create_eltwise(s, k->env, op->alg, x->numel, label, err);
		if (rc)
			ew_unary_release(k);   /* the executor only releases successes */
	}
	return rc;
}

static int run_eltwise(op_kernel *k, unary_state *s, sc_error *err)
{
	const sc_tensor *x = k->in[0];
	sc_tensor *y = k->out[0];
	dnnl_memory_set_data_handle(s->src, x->data);
	dnnl_memory_set_data_handle(s->dst, y->data);
	dnnl_exec_arg_t args[2] = {
		{DNNL_ARG_SRC, s->src},
		{DNNL_ARG_DST, s->dst},
	};
	char label[256];
	int rc = exec_dnnl_check(dnnl_primitive_execute(s->prim, k->env->stream,
							2, args),
				 ew_label(k, label, sizeof label), err);
	if (!rc)
		rc = exec_dnnl_check(dnnl_stream_wait(k->env->stream), label, err);
	if (rc || !s->fix_nan)
		return rc;
	const float *restrict a = x->data;
	float *restrict o = y->data;
	int64_t n = x->numel;
#pragma omp parallel for simd schedule(static) if (n >= BCAST_PARALLEL_MIN)
	for (int64_t i = 0; i < n; i++)
		o[i] = a[i] != a[i] ? a[i] : o[i];
	return SC_OK;
}

int ew_unary_run(op_kernel *k, sc_error *err)
{
	unary_state *s = k->state;
	if (s->prim)
		return run_eltwise(k, s, err);
	const void *in[1] = {k->in[0]->data};
	bcast_run(&s->plan, k->out[0]->data, in, s->loop, &s->p);
	return SC_OK;
}

/* --- Clip ----------------------------------------------------------------- */

/* A scalar of any numeric dtype, in the field its kind uses. */
typedef union ew_scalar {
	double f;
	int64_t i;
	uint64_t u;
} ew_scalar;

typedef struct clip_bounds {
	ew_scalar lo, hi;
} clip_bounds;

#define CLIP_LOOP(sfx, T, CT, LD, ST, FIELD) \
static void clip_##sfx(const void *ctx, void *out, const void *const *in, \
		       const int *step, int64_t n) \
{ \
	const clip_bounds *c = ctx; \
	const T *a = in[0]; \
	T *o = out; \
	CT lo = (CT)c->lo.FIELD, hi = (CT)c->hi.FIELD; \
	(void)step; \
	for (int64_t i = 0; i < n; i++) { \
		CT x = LD(a[i]); \
		x = x < lo ? lo : x; \
		o[i] = ST(x > hi ? hi : x); \
	} \
}

#define SAME(x) (x)
CLIP_LOOP(f32, float, float, SAME, SAME, f)
CLIP_LOOP(f64, double, double, SAME, SAME, f)
CLIP_LOOP(f16, uint16_t, float, tensor_half_to_float, tensor_float_to_half, f)
CLIP_LOOP(bf16, uint16_t, float, tensor_bf16_to_float, tensor_float_to_bf16, f)
CLIP_LOOP(i8, int8_t, int8_t, SAME, SAME, i)
CLIP_LOOP(i16, int16_t, int16_t, SAME, SAME, i)
CLIP_LOOP(i32, int32_t, int32_t, SAME, SAME, i)
CLIP_LOOP(i64, int64_t, int64_t, SAME, SAME, i)
CLIP_LOOP(u8, uint8_t, uint8_t, SAME, SAME, u)
CLIP_LOOP(u16, uint16_t, uint16_t, SAME, SAME, u)
CLIP_LOOP(u32, uint32_t, uint32_t, SAME, SAME, u)
CLIP_LOOP(u64, uint64_t, uint64_t, SAME, SAME, u)

static const bcast_loop_fn clip_loops[SC_DTYPE_COUNT] = {
	FLOATS(clip), SINTS(clip), UINTS(clip),
};

/* The whole range of dtype: the bounds of an unbounded side. */
static void dtype_range(int dtype, clip_bounds *b)
{
	switch (dtype) {
	case SC_INT8: b->lo.i = INT8_MIN; b->hi.i = INT8_MAX; break;
	case SC_INT16: b->lo.i = INT16_MIN; b->hi.i = INT16_MAX; break;
	case SC_INT32: b->lo.i = INT32_MIN; b->hi.i = INT32_MAX; break;
	case SC_INT64: b->lo.i = INT64_MIN; b->hi.i = INT64_MAX; break;
	case SC_UINT8: b->lo.u = 0; b->hi.u = UINT8_MAX; break;
	case SC_UINT16: b->lo.u = 0; b->hi.u = UINT16_MAX; break;
	case SC_UINT32: b->lo.u = 0; b->hi.u = UINT32_MAX; break;
	case SC_UINT64: b->lo.u = 0; b->hi.u = UINT64_MAX; break;
	default: b->lo.f = -INFINITY; b->hi.f = INFINITY; break;
	}
}

/* Element 0 of t, which has dtype's kind, into the field clip reads. */
static ew_scalar read_scalar(const sc_tensor *t)
{
	ew_scalar v = {0};
	const void *d = t->data;
	switch (t->dtype) {
	case SC_FLOAT: v.f = *(const float *)d; break;
	case SC_DOUBLE: v.f = *(const double *)d; break;
	case SC_FLOAT16: v.f = tensor_half_to_float(*(const uint16_t *)d); break;
	case SC_BFLOAT16: v.f = tensor_bf16_to_float(*(const uint16_t *)d); break;
	case SC_INT8: v.i = *(const int8_t *)d; break;
	case SC_INT16: v.i = *(const int16_t *)d; break;
	case SC_INT32: v.i = *(const int32_t *)d; break;
	case SC_INT64: v.i = *(const int64_t *)d; break;
	case SC_UINT8: v.u = *(const uint8_t *)d; break;
	case SC_UINT16: v.u = *(const uint16_t *)d; break;
	case SC_UINT32: v.u = *(const uint32_t *)d; break;
	case SC_UINT64: v.u = *(const uint64_t *)d; break;
	default: break;
	}
	return v;
}

typedef struct clip_state {
	bcast plan;
	bcast_loop_fn loop;
	clip_bounds attr;          /* opsets 6-10 */
} clip_state;

int ew_clip_prepare(op_kernel *k, sc_error *err)
{
	char label[256];
	ew_label(k, label, sizeof label);
	const sc_tensor *x = NULL;
	int rc = need_input(k, 0, &x, err);
	if (rc)
		return rc;
	bcast_loop_fn loop = clip_loops[x->dtype];
	if (!loop || (k->opset < 12 && !tensor_dtype_is_float(x->dtype)))
		return refuse_dtype(k, 0, x->dtype, err);
	for (int i = 1; i <= 2 && k->opset >= 11; i++) {
		const sc_tensor *b = i < k->n_in ? k->in[i] : NULL;
		if (!b)
			continue;
		if (b->dtype != x->dtype)
			return sc_fail(err, SC_EINVAL,
				       "%s: input %d (%s) is %s, X is %s", label, i,
				       i == 1 ? "min" : "max",
				       tensor_dtype_name(b->dtype),
				       tensor_dtype_name(x->dtype));
		if (b->numel != 1 || b->rank > 1)
			return sc_fail(err, SC_EINVAL,
				       "%s: input %d (%s) must be a scalar", label, i,
				       i == 1 ? "min" : "max");
	}
	rc = tensor_set_shape(k->out[0], x->dtype, x->rank, x->dims,
			      out_name(k, 0), err);
	if (rc)
		return rc;
	clip_state *s = calloc(1, sizeof *s);
	if (!s)
		return sc_fail(err, SC_ENOMEM, "%s: out of memory", label);
	k->state = s;
	s->loop = loop;
	s->attr.lo.f = infer_attr_float(k->node, "min", -FLT_MAX);
	s->attr.hi.f = infer_attr_float(k->node, "max", FLT_MAX);
	bcast_init(&s->plan, 1, &x, x->rank, x->dims,
		   tensor_dtype_size(x->dtype));
	return SC_OK;
}

int ew_clip_run(op_kernel *k, sc_error *err)
{
	(void)err;
	clip_state *s = k->state;
	clip_bounds b = s->attr;
	if (k->opset >= 11) {
		dtype_range(k->in[0]->dtype, &b);
		if (k->n_in > 1 && k->in[1])
			b.lo = read_scalar(k->in[1]);
		if (k->n_in > 2 && k->in[2])
			b.hi = read_scalar(k->in[2]);
	}
	const void *in[1] = {k->in[0]->data};
	bcast_run(&s->plan, k->out[0]->data, in, s->loop, &b);
	return SC_OK;
}

/* --- Dropout -------------------------------------------------------------- */

/* MT19937 with numpy's legacy seeding and random_sample(), so that a
 * seeded training Dropout draws the mask ONNX's reference draws
 * (np.random.seed(seed); np.random.uniform(0, 1, shape) >= ratio). */
#define MT_N 624
#define MT_M 397

typedef struct mt19937 {
	uint32_t s[MT_N];
	int pos;
} mt19937;

static void mt_seed(mt19937 *m, uint32_t seed)
{
	m->s[0] = seed;
	for (int i = 1; i < MT_N; i++)
		m->s[i] = 1812433253u * (m->s[i - 1] ^ (m->s[i - 1] >> 30)) +
			  (uint32_t)i;
	m->pos = MT_N;
}

static uint32_t mt_next(mt19937 *m)
{
	if (m->pos >= MT_N) {
		for (int i = 0; i < MT_N; i++) {
			uint32_t y = (m->s[i] & 0x80000000u) |
				     (m->s[(i + 1) % MT_N] & 0x7fffffffu);
			m->s[i] = m->s[(i + MT_M) % MT_N] ^ (y >> 1) ^
				  (y & 1 ? 0x9908b0dfu : 0);
		}
		m->pos = 0;
	}
	uint32_t y = m->s[m->pos++];
	y ^= y >> 11;
	y ^= (y << 7) & 0x9d2c5680u;
	y ^= (y << 15) & 0xefc60000u;
	return y ^ (y >> 18);
}

/* uniform in [0, 1) with 53 random bits */
static double mt_uniform(mt19937 *m)
{
	uint32_t a = mt_next(m) >> 5, b = mt_next(m) >> 6;
	return (a * 67108864.0 + b) / 9007199254740992.0;
}

/* The generator is seeded once per prepare and then runs on, so each
 * training step draws a fresh mask while the first one matches ONNX's
 * reference for the same seed. */
typedef struct dropout_state {
	mt19937 rng;
} dropout_state;

int ew_dropout_prepare(op_kernel *k, sc_error *err)
{
	char label[256];
	ew_label(k, label, sizeof label);
	const sc_tensor *x = NULL;
	int rc = need_input(k, 0, &x, err);
	if (rc)
		return rc;
	if (!tensor_dtype_is_float(x->dtype))
		return refuse_dtype(k, 0, x->dtype, err);
	if (k->opset >= 12 && k->n_in > 1 && k->in[1] &&
	    (!tensor_dtype_is_float(k->in[1]->dtype) || k->in[1]->numel != 1))
		return sc_fail(err, SC_EINVAL,
			       "%s: input 1 (ratio) must be a floating-point scalar",
			       label);
	if (k->opset >= 12 && k->n_in > 2 && k->in[2] &&
	    (k->in[2]->dtype != SC_BOOL || k->in[2]->numel != 1))
		return sc_fail(err, SC_EINVAL,
			       "%s: input 2 (training_mode) must be a bool scalar",
			       label);
	rc = tensor_set_shape(k->out[0], x->dtype, x->rank, x->dims,
			      out_name(k, 0), err);
	if (!rc && k->n_out > 1 && k->out[1])
		rc = tensor_set_shape(k->out[1],
				      k->opset >= 10 ? SC_BOOL : (int)x->dtype,
				      x->rank, x->dims, out_name(k, 1), err);
	if (rc)
		return rc;
	dropout_state *s = calloc(1, sizeof *s);
	if (!s)
		return sc_fail(err, SC_ENOMEM, "%s: out of memory", label);
	k->state = s;
	mt_seed(&s->rng, (uint32_t)infer_attr_int(k->node, "seed", 0));
	return SC_OK;
}

static double load_float(const sc_tensor *t, int64_t i)
{
	switch (t->dtype) {
	case SC_FLOAT: return ((const float *)t->data)[i];
	case SC_DOUBLE: return ((const double *)t->data)[i];
	case SC_FLOAT16: return tensor_half_to_float(((const uint16_t *)t->data)[i]);
	case SC_BFLOAT16: return tensor_bf16_to_float(((const uint16_t *)t->data)[i]);
	default: return 0;
	}
}

static void store_float(sc_tensor *t, int64_t i, double v)
{
	switch (t->dtype) {
	case SC_FLOAT: ((float *)t->data)[i] = (float)v; break;
	case SC_DOUBLE: ((double *)t->data)[i] = v; break;
	case SC_FLOAT16: ((uint16_t *)t->data)[i] = tensor_float_to_half((float)v); break;
	case SC_BFLOAT16: ((uint16_t *)t->data)[i] = tensor_float_to_bf16((float)v); break;
	default: break;
	}
}

static void fill_keep_mask(sc_tensor *mask, int64_t n)
{
	if (mask->dtype == SC_BOOL)
		memset(mask->data, 1, (size_t)n);
	else
		for (int64_t i = 0; i < n; i++)
			store_float(mask, i, 1.0);
}

int ew_dropout_run(op_kernel *k, sc_error *err)
{
	dropout_state *s = k->state;
	const sc_tensor *x = k->in[0];
	sc_tensor *y = k->out[0];
	sc_tensor *mask = k->n_out > 1 ? k->out[1] : NULL;
	int training = k->opset >= 12 && k->n_in > 2 && k->in[2] &&
		       *(const uint8_t *)k->in[2]->data;
	double ratio = k->opset >= 12 && k->n_in > 1 && k->in[1] ?
		       load_float(k->in[1], 0) : 0.5;
	if (!training || ratio == 0) {
		memcpy(y->data, x->data, x->nbytes);
		if (mask)
			fill_keep_mask(mask, x->numel);
		return SC_OK;
	}
	if (!(ratio > 0 && ratio < 1)) {
		char label[256];
		return sc_fail(err, SC_EINVAL, "%s: ratio %g is outside [0, 1)",
			       ew_label(k, label, sizeof label), ratio);
	}
	double scale = 1 / (1 - ratio);
	for (int64_t i = 0; i < x->numel; i++) {
		int keep = mt_uniform(&s->rng) >= ratio;
		store_float(y, i, keep ? load_float(x, i) * scale : 0.0);
		if (mask && mask->dtype == SC_BOOL)
			((uint8_t *)mask->data)[i] = (uint8_t)keep;
		else if (mask)
			store_float(mask, i, keep);
	}
	return SC_OK;
}

/* --- Identity ------------------------------------------------------------- */

int ew_identity_prepare(op_kernel *k, sc_error *err)
{
	const sc_tensor *x = NULL;
	int rc = need_input(k, 0, &x, err);
	if (rc)
		return rc;
	if (x->dtype == SC_STRING)
		return refuse_dtype(k, 0, x->dtype, err);
	return tensor_set_shape(k->out[0], x->dtype, x->rank, x->dims,
				out_name(k, 0), err);
}

int ew_identity_run(op_kernel *k, sc_error *err)
{
	(void)err;
	if (k->in[0]->nbytes)
		memcpy(k->out[0]->data, k->in[0]->data, k->in[0]->nbytes);
	return SC_OK;
}
