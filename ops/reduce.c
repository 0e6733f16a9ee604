/* reduce.c: reductions over a set of axes, arg max/min, Lp normalisation.
 *
 * ReduceMean, ReduceSum, ReduceMax, ReduceMin, ReduceProd, ReduceL1,
 * ReduceL2, ReduceSumSquare, ReduceLogSum, ReduceLogSumExp: reduce X over
 * `axes` (all axes when none are given), keeping them as size 1 when
 * keepdims (default 1) is set, dropping them otherwise.
 *   opsets 1-17: axes is an attribute (negative values from 11).
 *   ReduceSum from 13: axes is an optional int64 input, and
 *   noop_with_empty_axes = 1 makes an empty axes list the identity.
 * ArgMax, ArgMin: the int64 index of the extreme along `axis` (default 0),
 *   keepdims as above.  opsets 1-11; select_last_index from 12.
 * LpNormalization (1-17): X / ||X||_p along `axis` (default -1), p = 1 or 2
 *   (default 2); a zero norm gives zeros, as ONNX Runtime does.
 * TopK: the k largest (or smallest, 11-17) values along `axis` (default
 *   -1) and their int64 indices, best first, equal values by lower index.
 *   k is an attribute in 1-9 and an input from 10.
 *
 * The reduction kernels see X through its merged dims: neighbouring axes
 * that are both reduced or both kept fold into one, size-1 axes vanish.
 * When the last merged run is reduced, each output folds whole contiguous
 * rows (8 accumulators per row so the loop vectorises); when it is kept,
 * a block of neighbouring outputs folds column-wise, reading X in order.
 * Floating inputs accumulate in double (float16 and bfloat16 are widened
 * to float first), integers in 64 bits with wrap-around.
 *
 * Gradients (reduce_grad.c): ReduceSum, ReduceMean, ReduceMax, ReduceMin,
 * ReduceL2, ReduceLogSumExp, ReduceSumSquare and LpNormalization, through
 * the backward kernels ai.supcon.ReduceGrad and LpNormalizationGrad listed
 * at the end of the table. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#else
static int omp_get_max_threads(void) { return 1; }
static int omp_get_thread_num(void) { return 0; }
#endif

#include "../runtime/exec.h"
#include "infer_util.h"
#include "reduce_grad.h"
#include "registry.h"

static const op_attr_spec reduce_attrs[] = {
	{"axes", ATTR_INTS},
	{"keepdims", ATTR_INT},
	{NULL, 0},
};

static const op_attr_spec reduce13_attrs[] = {
	{"keepdims", ATTR_INT},
	{"noop_with_empty_axes", ATTR_INT},
	{NULL, 0},
};

static const op_attr_spec argmax_attrs[] = {
	{"axis", ATTR_INT},
	{"keepdims", ATTR_INT},
	{NULL, 0},
};

static const op_attr_spec argmax12_attrs[] = {
	{"axis", ATTR_INT},
	{"keepdims", ATTR_INT},
	{"select_last_index", ATTR_INT},
	{NULL, 0},
};

static const op_attr_spec topk1_attrs[] = {
	{"axis", ATTR_INT},
	{"k", ATTR_INT},
	{NULL, 0},
};

static const op_attr_spec topk10_attrs[] = {
	{"axis", ATTR_INT},
	{NULL, 0},
};

static const op_attr_spec topk11_attrs[] = {
	{"axis", ATTR_INT},
	{"largest", ATTR_INT},
	{"sorted", ATTR_INT},
	{NULL, 0},
};

/* Axes beyond this many (repeats included) are not worth tracking. */
#define MAX_AXES 64

/* Drops or keeps (as 1) the marked axes of x. */
static void reduce_axes(const infer_tensor *x, const int *marked, int keep,
			infer_tensor *y)
{
	infer_tensor_rank(y, x->elem, 0);
	for (int i = 0; i < x->rank; i++) {
		if (!marked[i])
			y->dims[y->rank++] = x->dims[i];
		else if (keep)
			y->dims[y->rank++] = infer_dim_of(1);
	}
}

static int reduce_infer(graph *g, const graph_node *n, int64_t opset,
			sc_error *err)
{
	infer_tensor x, y;
	infer_input(g, n, 0, &x);
	int keep = infer_attr_int(n, "keepdims", 1) != 0;
	int64_t axes[MAX_AXES];
	const int64_t *attr_axes;
	int na = 0, noop = 0;

	if (strcmp(n->op_type, "ReduceSum") == 0 && opset >= 13) {
		noop = infer_attr_int(n, "noop_with_empty_axes", 0) != 0;
		if (infer_has_input(n, 1)) {
			na = infer_const_ints(g, n, 1, axes, MAX_AXES);
			if (na < 0) {
				/* axes only known at run time */
				if (keep && x.rank >= 0)
					infer_tensor_rank(&y, x.elem, x.rank);
				else
					infer_tensor_unknown(&y, x.elem);
				return infer_set_output(g, n, 0, &y, err);
			}
		}
	} else {
		na = infer_attr_ints(n, "axes", &attr_axes);
		if (na > MAX_AXES)
			return infer_fail(g, n, err, "axes lists %d values", na);
		for (int i = 0; i < na; i++)
			axes[i] = attr_axes[i];
		if (na < 0)
			na = 0;
	}
	if (x.rank < 0) {
		infer_tensor_unknown(&y, x.elem);
		return infer_set_output(g, n, 0, &y, err);
	}
	if (na == 0 && noop)
		return infer_set_output(g, n, 0, &x, err);

	int marked[SC_MAX_RANK] = {0};
	for (int i = 0; i < na; i++) {
		int a;
		if (infer_axis(axes[i], x.rank, &a))
			return infer_fail(g, n, err, "axis %lld is out of range for rank %d",
					  (long long)axes[i], x.rank);
		marked[a] = 1;
	}
	if (na == 0)
		for (int i = 0; i < x.rank; i++)
			marked[i] = 1;
	reduce_axes(&x, marked, keep, &y);
	return infer_set_output(g, n, 0, &y, err);
}

static int argmax_infer(graph *g, const graph_node *n, int64_t opset,
			sc_error *err)
{
	(void)opset;
	infer_tensor x, y;
	infer_input(g, n, 0, &x);
	int keep = infer_attr_int(n, "keepdims", 1) != 0;
	if (x.rank < 0) {
		infer_tensor_unknown(&y, SC_INT64);
		return infer_set_output(g, n, 0, &y, err);
	}
	int64_t axis = infer_attr_int(n, "axis", 0);
	int a, marked[SC_MAX_RANK] = {0};
	if (infer_axis(axis, x.rank, &a))
		return infer_fail(g, n, err, "axis %lld is out of range for rank %d",
				  (long long)axis, x.rank);
	marked[a] = 1;
	reduce_axes(&x, marked, keep, &y);
	y.elem = SC_INT64;
	return infer_set_output(g, n, 0, &y, err);
}

static int topk_infer(graph *g, const graph_node *n, int64_t opset,
		      sc_error *err)
{
	infer_tensor x;
	infer_input(g, n, 0, &x);
	int64_t k = -1;
	if (opset < 10) {
		const graph_attr *a = graph_node_attr(n, "k");
		if (!a || a->type != ATTR_INT)
			return infer_fail(g, n, err, "attribute 'k' is required");
		k = a->i;
	} else if (infer_const_ints(g, n, 1, &k, 1) != 1) {
		k = -1;
		if (!infer_has_input(n, 1))
			return infer_fail(g, n, err, "input K is required");
	} else if (k < 0) {
		return infer_fail(g, n, err, "K = %lld is negative", (long long)k);
	}
	if (x.rank >= 0) {
		int64_t a = infer_attr_int(n, "axis", -1);
		int axis;
		if (infer_axis(a, x.rank, &axis))
			return infer_fail(g, n, err, "axis %lld is out of range for rank %d",
					  (long long)a, x.rank);
		if (k >= 0 && x.dims[axis].value >= 0 && k > x.dims[axis].value)
			return infer_fail(g, n, err, "K = %lld exceeds the %lld elements along axis %d",
					  (long long)k, (long long)x.dims[axis].value, axis);
		x.dims[axis] = k >= 0 ? infer_dim_of(k) : infer_dim_unknown();
	}
	int rc = infer_set_output(g, n, 0, &x, err);
	x.elem = SC_INT64;
	return rc ? rc : infer_set_output(g, n, 1, &x, err);
}

static const op_attr_spec lpnorm_attrs[] = {
	{"axis", ATTR_INT},
	{"p", ATTR_INT},
	{NULL, 0},
};

static int lpnorm_infer(graph *g, const graph_node *n, int64_t opset,
			sc_error *err)
{
	infer_tensor x;
	infer_input(g, n, 0, &x);
	int64_t axis = infer_attr_int(n, "axis", -1);
	int64_t p = infer_attr_int(n, "p", 2);
	int a;
	if (p != 1 && p != 2)
		return infer_fail(g, n, err, "p = %lld, expected 1 or 2",
				  (long long)p);
	if (x.rank >= 0 && infer_axis(axis, x.rank, &a))
		return infer_fail(g, n, err, "axis %lld is out of range for rank %d",
				  (long long)axis, x.rank);
	return infer_same_as_input(g, n, opset, err);
}

/* --- kernels: shared -------------------------------------------------------- */

/* Loops over fewer input elements than this stay on one thread. */
#define PAR_MIN 32768

static const char *out_name(const op_kernel *k, int i)
{
	return k->g->values[k->node->outputs[i]].name;
}

static int is_int_dtype(int dt)
{
	switch (dt) {
	case SC_INT8: case SC_INT16: case SC_INT32: case SC_INT64:
	case SC_UINT8: case SC_UINT16: case SC_UINT32: case SC_UINT64:
		return 1;
	default:
		return 0;
	}
}

static int is_signed_dtype(int dt)
{
	return dt == SC_INT8 || dt == SC_INT16 || dt == SC_INT32 ||
	       dt == SC_INT64;
}

static inline int64_t sat_i64(double v)
{
	if (isnan(v))
		return 0;
	if (v >= 9223372036854775807.0)
		return INT64_MAX;
	if (v <= -9223372036854775808.0)
		return INT64_MIN;
	return (int64_t)v;
}

static inline uint64_t sat_u64(double v)
{
	if (isnan(v) || v <= 0)
		return 0;
	if (v >= 18446744073709551615.0)
		return UINT64_MAX;
	return (uint64_t)v;
}

/* Element i of a numeric tensor's data, as double / as 64-bit integer
 * (unsigned values keep their bit pattern). */
static double elem_get_f(const void *p, int dt, int64_t i)
{
	switch (dt) {
	case SC_FLOAT: return ((const float *)p)[i];
	case SC_DOUBLE: return ((const double *)p)[i];
	case SC_FLOAT16: return tensor_half_to_float(((const uint16_t *)p)[i]);
	case SC_BFLOAT16: return tensor_bf16_to_float(((const uint16_t *)p)[i]);
	case SC_INT8: return ((const int8_t *)p)[i];
	case SC_INT16: return ((const int16_t *)p)[i];
	case SC_INT32: return ((const int32_t *)p)[i];
	case SC_INT64: return (double)((const int64_t *)p)[i];
	case SC_UINT8: return ((const uint8_t *)p)[i];
	case SC_UINT16: return ((const uint16_t *)p)[i];
	case SC_UINT32: return ((const uint32_t *)p)[i];
	case SC_UINT64: return (double)((const uint64_t *)p)[i];
	default: return 0;
	}
}

static int64_t elem_get_i(const void *p, int dt, int64_t i)
{
	switch (dt) {
	case SC_INT8: return ((const int8_t *)p)[i];
	case SC_INT16: return ((const int16_t *)p)[i];
	case SC_INT32: return ((const int32_t *)p)[i];
	case SC_INT64: return ((const int64_t *)p)[i];
	case SC_UINT8: return ((const uint8_t *)p)[i];
	case SC_UINT16: return ((const uint16_t *)p)[i];
	case SC_UINT32: return ((const uint32_t *)p)[i];
	case SC_UINT64: return (int64_t)((const uint64_t *)p)[i];
	default: return 0;
	}
}

/* Stores v into element i: floating types round, integers saturate. */
static void elem_set_f(void *p, int dt, int64_t i, double v)
{
	switch (dt) {
	case SC_FLOAT: ((float *)p)[i] = (float)v; break;
	case SC_DOUBLE: ((double *)p)[i] = v; break;
	case SC_FLOAT16: ((uint16_t *)p)[i] = tensor_float_to_half((float)v); break;
	case SC_BFLOAT16: ((uint16_t *)p)[i] = tensor_float_to_bf16((float)v); break;
	case SC_INT8: ((int8_t *)p)[i] = (int8_t)sat_i64(fmax(fmin(v, 127), -128)); break;
	case SC_INT16: ((int16_t *)p)[i] = (int16_t)sat_i64(fmax(fmin(v, 32767), -32768)); break;
	case SC_INT32: ((int32_t *)p)[i] = (int32_t)sat_i64(fmax(fmin(v, 2147483647.0), -2147483648.0)); break;
	case SC_INT64: ((int64_t *)p)[i] = sat_i64(v); break;
	case SC_UINT8: ((uint8_t *)p)[i] = (uint8_t)sat_u64(fmin(v, 255)); break;
	case SC_UINT16: ((uint16_t *)p)[i] = (uint16_t)sat_u64(fmin(v, 65535)); break;
	case SC_UINT32: ((uint32_t *)p)[i] = (uint32_t)sat_u64(fmin(v, 4294967295.0)); break;
	case SC_UINT64: ((uint64_t *)p)[i] = sat_u64(v); break;
	default: break;
	}
}

/* Stores an integer into element i of an integer tensor, wrapping as a
 * C conversion to the narrower type does. */
static void elem_set_i(void *p, int dt, int64_t i, int64_t v)
{
	switch (dt) {
	case SC_INT8: ((int8_t *)p)[i] = (int8_t)v; break;
	case SC_INT16: ((int16_t *)p)[i] = (int16_t)v; break;
	case SC_INT32: ((int32_t *)p)[i] = (int32_t)v; break;
	case SC_INT64: ((int64_t *)p)[i] = v; break;
	case SC_UINT8: ((uint8_t *)p)[i] = (uint8_t)v; break;
	case SC_UINT16: ((uint16_t *)p)[i] = (uint16_t)v; break;
	case SC_UINT32: ((uint32_t *)p)[i] = (uint32_t)v; break;
	case SC_UINT64: ((uint64_t *)p)[i] = (uint64_t)v; break;
	default: break;
	}
}

/* X seen as [outer, len, inner] around one axis (ArgMax, LpNormalization). */
typedef struct axis_split {
	int64_t outer, len, inner;
} axis_split;

static axis_split split_at(const sc_tensor *x, int axis)
{
	axis_split s = {1, x->rank ? x->dims[axis] : 1, 1};
	for (int i = 0; i < axis; i++)
		s.outer *= x->dims[i];
	for (int i = axis + 1; i < x->rank; i++)
		s.inner *= x->dims[i];
	return s;
}

/* --- kernels: reductions ------------------------------------------------------ */

/* What one reduction folds in (STEP) and what it does with the total. */
enum { RK_SUM, RK_SUMSQ, RK_L1, RK_PROD, RK_MAX, RK_MIN, RK_SUMEXP, RK_COUNT };
enum { FIN_NONE, FIN_MEAN, FIN_SQRT, FIN_LOG, FIN_LSE };

/* The element types the kernels are compiled for; every other dtype is
 * widened into scratch and narrowed back. */
enum { PATH_F32, PATH_F64, PATH_I64, PATH_U64 };

static const struct reduce_kind {
	const char *name;
	int step, fin;
} reduce_kinds[] = {
	{"ReduceSum", RK_SUM, FIN_NONE},
	{"ReduceMean", RK_SUM, FIN_MEAN},
	{"ReduceSumSquare", RK_SUMSQ, FIN_NONE},
	{"ReduceL1", RK_L1, FIN_NONE},
	{"ReduceL2", RK_SUMSQ, FIN_SQRT},
	{"ReduceLogSum", RK_SUM, FIN_LOG},
	{"ReduceLogSumExp", RK_SUMEXP, FIN_LSE},
	{"ReduceProd", RK_PROD, FIN_NONE},
	{"ReduceMax", RK_MAX, FIN_NONE},
	{"ReduceMin", RK_MIN, FIN_NONE},
};

typedef struct reduce_geom {
	int col;          /* the innermost merged run is kept, not reduced */
	int64_t inner;    /* its length */
	int64_t n_out;    /* output elements */
	int64_t n_outer;  /* output rows: n_out, or n_out / inner when col */
	int64_t n_red;    /* input elements folded into each output */
	int64_t n_rows;   /* runs folded into each output: product of rdim */
	int nk, nr;       /* kept / reduced merged dims other than the inner run */
	int64_t kdim[SC_MAX_RANK], kstride[SC_MAX_RANK];
	int64_t rdim[SC_MAX_RANK], rstride[SC_MAX_RANK];
} reduce_geom;

static void reduce_geom_init(reduce_geom *g, int rank, const int64_t *dims,
			     const int *marked)
{
	int64_t size[SC_MAX_RANK], stride[SC_MAX_RANK];
	int red[SC_MAX_RANK], m = 0;
	memset(g, 0, sizeof *g);
	g->n_out = 1;
	g->n_red = 1;
	for (int i = 0; i < rank; i++) {
		if (marked[i])
			g->n_red *= dims[i];
		else
			g->n_out *= dims[i];
		if (dims[i] == 1)
			continue;
		if (m > 0 && red[m - 1] == marked[i]) {
			size[m - 1] *= dims[i];
		} else {
			size[m] = dims[i];
			red[m++] = marked[i];
		}
	}
	if (m == 0) {
		size[0] = 1;
		red[m++] = 0;
	}
	int64_t s = 1;
	for (int i = m - 1; i >= 0; i--) {
		stride[i] = s;
		s *= size[i];
	}
	g->col = !red[m - 1];
	g->inner = size[m - 1];
	for (int i = 0; i < m - 1; i++) {
		if (red[i]) {
			g->rdim[g->nr] = size[i];
			g->rstride[g->nr++] = stride[i];
		} else {
			g->kdim[g->nk] = size[i];
			g->kstride[g->nk++] = stride[i];
		}
	}
	g->n_rows = 1;
	for (int i = 0; i < g->nr; i++)
		g->n_rows *= g->rdim[i];
	g->n_outer = !g->col ? g->n_out : g->inner ? g->n_out / g->inner : 0;
}

/* Input offset of output row o (the kept dims other than the inner run). */
static inline int64_t geom_kept_offset(const reduce_geom *g, int64_t o)
{
	int64_t off = 0;
	for (int d = g->nk - 1; d >= 0; d--) {
		int64_t q = o / g->kdim[d];
		off += (o - q * g->kdim[d]) * g->kstride[d];
		o = q;
	}
	return off;
}

/* Odometer over the reduced dims other than the inner run. */
typedef struct geom_walk {
	int64_t idx[SC_MAX_RANK];
	int64_t off;
} geom_walk;

static inline void geom_walk_next(const reduce_geom *g, geom_walk *w)
{
	for (int d = g->nr - 1; d >= 0; d--) {
		w->off += g->rstride[d];
		if (++w->idx[d] < g->rdim[d])
			return;
		w->off -= g->rdim[d] * g->rstride[d];
		w->idx[d] = 0;
	}
}

static inline double reduce_finish(int fin, double acc, double shift, double n)
{
	switch (fin) {
	case FIN_MEAN: return acc / n;
	case FIN_SQRT: return sqrt(acc);
	case FIN_LOG: return log(acc);
	case FIN_LSE: return shift + log(acc);
	default: return acc;
	}
}

/* The log-sum-exp pass shifts by the row's maximum; an infinite maximum
 * shifts by 0 so that exp() sees inf or 0 rather than NaN. */
static inline double lse_shift(double m)
{
	return isfinite(m) ? m : 0;
}

/* Folding rules.  Integers add and multiply as uint64 so that overflow
 * wraps instead of being undefined; MAX/MIN let a NaN through, as numpy's
 * reductions (ONNX's reference) do. */
#define ADD_F(a, b) ((a) + (b))
#define MUL_F(a, b) ((a) * (b))
#define ABS_F(v) fabs(v)
#define ADD_I(a, b) ((int64_t)((uint64_t)(a) + (uint64_t)(b)))
#define MUL_I(a, b) ((int64_t)((uint64_t)(a) * (uint64_t)(b)))
#define ABS_I(v) ((v) < 0 ? (int64_t)(0 - (uint64_t)(v)) : (v))
#define ADD_U(a, b) ((a) + (b))
#define MUL_U(a, b) ((a) * (b))
#define ABS_U(v) (v)
#define MAX_F(a, b) ((b) > (a) || isnan(b) ? (b) : (a))
#define MIN_F(a, b) ((b) < (a) || isnan(b) ? (b) : (a))
#define MAX_I(a, b) ((b) > (a) ? (b) : (a))
#define MIN_I(a, b) ((b) < (a) ? (b) : (a))

#define STORE_F(TIN, a, s) ((TIN)reduce_finish(fin, (double)(a), (double)(s), n_red))
#define STORE_I(TIN, a, s) ((void)(s), fin == FIN_NONE ? (TIN)(a) : \
	(TIN)sat_i64(reduce_finish(fin, (double)(a), 0, n_red)))
#define STORE_U(TIN, a, s) ((void)(s), fin == FIN_NONE ? (TIN)(a) : \
	(TIN)sat_u64(reduce_finish(fin, (double)(a), 0, n_red)))

#define LANES 8       /* accumulators per contiguous row */
#define BLOCK 128     /* positions per tile of ArgMax and LpNormalization */
#define COL_MAX 1024  /* outputs per column-wise tile of a reduction */
#define COL_PARTS 16  /* row ranges of one column-wise tile spread over threads */
#define CHUNKS 64     /* pieces of a single long row spread over threads */

/* Scratch of a column-wise reduction whose tiles are fewer than the
 * threads: shifts and one set of partial accumulators per row range. */
#define COL_SCRATCH ((size_t)(COL_PARTS + 1) * COL_MAX * 8)

/* Puts w at reduced row r (the odometer's state after r steps). */
static inline void geom_walk_at(const reduce_geom *g, int64_t r, geom_walk *w)
{
	w->off = 0;
	for (int d = g->nr - 1; d >= 0; d--) {
		w->idx[d] = r % g->rdim[d];
		w->off += w->idx[d] * g->rstride[d];
		r /= g->rdim[d];
	}
}

/* Defines NAME(g, x, y, fin, part): y[o] = finish of INIT folded with
 * STEP(acc, v, shift) over the inputs of output o; MERGE(a, b) combines
 * partial accumulators.  For FIN_LSE, y must already hold each output's
 * maximum.  part is COL_SCRATCH bytes of scratch for column-wise tiles.
 *
 * Column-wise tiles span up to COL_MAX outputs so that each step reads a
 * long contiguous run (short runs at a large stride defeat the prefetcher
 * and the TLB); when there are fewer tiles than threads, each tile's
 * reduced rows are split over the threads instead. */
#define DEFINE_REDUCE(NAME, TIN, TACC, INIT, STEP, MERGE, STORE)	\
static TACC NAME##_run(const TIN *restrict p, int64_t n, TACC sh)	\
{									\
	TACC lane[LANES];						\
	int64_t j = 0;							\
	(void)sh;							\
	for (int u = 0; u < LANES; u++)					\
		lane[u] = (INIT);					\
	for (; j + LANES <= n; j += LANES)				\
		for (int u = 0; u < LANES; u++)				\
			STEP(lane[u], (TACC)p[j + u], sh);		\
	for (; j < n; j++)						\
		STEP(lane[0], (TACC)p[j], sh);				\
	for (int u = 1; u < LANES; u++)					\
		lane[0] = MERGE(lane[0], lane[u]);			\
	return lane[0];							\
}									\
									\
/* Folds reduced rows [r0, r1) of a column tile of bl outputs into acc. */ \
static void NAME##_cols(const reduce_geom *g, const TIN *xb, int64_t r0, \
			int64_t r1, int bl, TACC *restrict acc,		\
			const TACC *restrict sh)			\
{									\
	geom_walk w;							\
	(void)sh;							\
	geom_walk_at(g, r0, &w);					\
	for (int64_t r = r0; r < r1; r++) {				\
		const TIN *restrict p = xb + w.off;			\
		for (int j = 0; j < bl; j++)				\
			STEP(acc[j], (TACC)p[j], sh[j]);		\
		geom_walk_next(g, &w);					\
	}								\
}									\
									\
static void NAME(const reduce_geom *g, const TIN *x, TIN *y, int fin,	\
		 void *part)						\
{									\
	const double n_red = (double)g->n_red;				\
	const int par = g->n_out * g->n_red > PAR_MIN;			\
	if (g->n_red == 0) {						\
		for (int64_t o = 0; o < g->n_out; o++)			\
			y[o] = STORE(TIN, (TACC)(INIT), 0);		\
		return;							\
	}								\
	if (g->col) {							\
		const int64_t width = g->inner < COL_MAX ? g->inner : COL_MAX; \
		const int64_t nb = (g->inner + width - 1) / width;	\
		const int64_t tiles = g->n_outer * nb;			\
		const int nt = par ? omp_get_max_threads() : 1;		\
		if (tiles < nt && g->n_rows >= 2 * nt) {		\
			const int np = nt < COL_PARTS ? nt : COL_PARTS;	\
			TACC *sh = part, *accs = sh + COL_MAX;		\
			for (int64_t t = 0; t < tiles; t++) {		\
				int64_t ko = t / nb, i0 = (t - ko * nb) * width; \
				int bl = (int)(g->inner - i0 < width ?	\
					       g->inner - i0 : width);	\
				TIN *yo = y + ko * g->inner + i0;	\
				const TIN *xb = x + geom_kept_offset(g, ko) + i0; \
				for (int j = 0; j < bl; j++)		\
					sh[j] = fin == FIN_LSE ?	\
						(TACC)lse_shift((double)yo[j]) : 0; \
				_Pragma("omp parallel for schedule(static)") \
				for (int c = 0; c < np; c++) {		\
					TACC *acc = accs + c * COL_MAX;	\
					for (int j = 0; j < bl; j++)	\
						acc[j] = (INIT);	\
					NAME##_cols(g, xb, g->n_rows * c / np, \
						    g->n_rows * (c + 1) / np, \
						    bl, acc, sh);	\
				}					\
				for (int j = 0; j < bl; j++) {		\
					TACC a = accs[j];		\
					for (int c = 1; c < np; c++)	\
						a = MERGE(a, accs[c * COL_MAX + j]); \
					yo[j] = STORE(TIN, a, sh[j]);	\
				}					\
			}						\
			return;						\
		}							\
		_Pragma("omp parallel for schedule(static) if (par)")	\
		for (int64_t t = 0; t < tiles; t++) {			\
			int64_t ko = t / nb, i0 = (t - ko * nb) * width; \
			int bl = (int)(g->inner - i0 < width ?		\
				       g->inner - i0 : width);		\
			TACC acc[COL_MAX], sh[COL_MAX];			\
			TIN *yo = y + ko * g->inner + i0;		\
			for (int j = 0; j < bl; j++) {			\
				acc[j] = (INIT);			\
				sh[j] = fin == FIN_LSE ?		\
					(TACC)lse_shift((double)yo[j]) : 0; \
			}						\
			NAME##_cols(g, x + geom_kept_offset(g, ko) + i0, 0, \
				    g->n_rows, bl, acc, sh);		\
			for (int j = 0; j < bl; j++)			\
				yo[j] = STORE(TIN, acc[j], sh[j]);	\
		}							\
		return;							\
	}								\
	(void)part;							\
	const int64_t len = g->inner;					\
	if (g->n_out == 1 && g->n_rows == 1 && par) {			\
		/* one long row: split it so every thread gets a share */ \
		TACC piece[CHUNKS];					\
		TACC sh = fin == FIN_LSE ? (TACC)lse_shift((double)y[0]) : 0; \
		int64_t step = (len + CHUNKS - 1) / CHUNKS;		\
		_Pragma("omp parallel for schedule(static)")		\
		for (int c = 0; c < CHUNKS; c++) {			\
			int64_t b = c * step;				\
			int64_t e = b + step < len ? b + step : len;	\
			piece[c] = b < e ? NAME##_run(x + b, e - b, sh) : (INIT); \
		}							\
		TACC acc = (INIT);					\
		for (int c = 0; c < CHUNKS; c++)			\
			acc = MERGE(acc, piece[c]);			\
		y[0] = STORE(TIN, acc, sh);				\
		return;							\
	}								\
	_Pragma("omp parallel for schedule(static) if (par)")		\
	for (int64_t o = 0; o < g->n_out; o++) {			\
		TACC sh = fin == FIN_LSE ? (TACC)lse_shift((double)y[o]) : 0; \
		TACC acc = (INIT);					\
		const TIN *xb = x + geom_kept_offset(g, o);		\
		geom_walk w = {{0}, 0};					\
		for (int64_t r = 0; r < g->n_rows; r++) {		\
			acc = MERGE(acc, NAME##_run(xb + w.off, len, sh)); \
			geom_walk_next(g, &w);				\
		}							\
		y[o] = STORE(TIN, acc, sh);				\
	}								\
}

/* One set of steps per accumulator family. */
#define F_SUM(a, v, s) ((a) = ADD_F(a, v))
#define F_SUMSQ(a, v, s) ((a) = ADD_F(a, MUL_F(v, v)))
#define F_L1(a, v, s) ((a) = ADD_F(a, ABS_F(v)))
#define F_PROD(a, v, s) ((a) = MUL_F(a, v))
#define F_MAX(a, v, s) ((a) = MAX_F(a, v))
#define F_MIN(a, v, s) ((a) = MIN_F(a, v))
#define F_SUMEXP(a, v, s) ((a) += exp((v) - (s)))
/* float inputs: each term to float precision, which is all it has */
#define F32_SUMEXP(a, v, s) ((a) += (double)expf((float)((v) - (s))))
#define I_SUM(a, v, s) ((a) = ADD_I(a, v))
#define I_SUMSQ(a, v, s) ((a) = ADD_I(a, MUL_I(v, v)))
#define I_L1(a, v, s) ((a) = ADD_I(a, ABS_I(v)))
#define I_PROD(a, v, s) ((a) = MUL_I(a, v))
#define I_MAX(a, v, s) ((a) = MAX_I(a, v))
#define I_MIN(a, v, s) ((a) = MIN_I(a, v))
#define U_SUM(a, v, s) ((a) = ADD_U(a, v))
#define U_SUMSQ(a, v, s) ((a) = ADD_U(a, MUL_U(v, v)))
#define U_L1(a, v, s) ((a) = ADD_U(a, ABS_U(v)))
#define U_PROD(a, v, s) ((a) = MUL_U(a, v))

#define DEFINE_FLOAT_REDUCES(SFX, TIN, SUMEXP)					\
DEFINE_REDUCE(reduce_sum_##SFX, TIN, double, 0.0, F_SUM, ADD_F, STORE_F)	\
DEFINE_REDUCE(reduce_sumsq_##SFX, TIN, double, 0.0, F_SUMSQ, ADD_F, STORE_F)	\
DEFINE_REDUCE(reduce_l1_##SFX, TIN, double, 0.0, F_L1, ADD_F, STORE_F)	\
DEFINE_REDUCE(reduce_prod_##SFX, TIN, double, 1.0, F_PROD, MUL_F, STORE_F)	\
DEFINE_REDUCE(reduce_max_##SFX, TIN, double, -INFINITY, F_MAX, MAX_F, STORE_F) \
DEFINE_REDUCE(reduce_min_##SFX, TIN, double, INFINITY, F_MIN, MIN_F, STORE_F) \
DEFINE_REDUCE(reduce_sumexp_##SFX, TIN, double, 0.0, SUMEXP, ADD_F, STORE_F)

DEFINE_FLOAT_REDUCES(f32, float, F32_SUMEXP)
DEFINE_FLOAT_REDUCES(f64, double, F_SUMEXP)

DEFINE_REDUCE(reduce_sum_i64, int64_t, int64_t, 0, I_SUM, ADD_I, STORE_I)
DEFINE_REDUCE(reduce_sumsq_i64, int64_t, int64_t, 0, I_SUMSQ, ADD_I, STORE_I)
DEFINE_REDUCE(reduce_l1_i64, int64_t, int64_t, 0, I_L1, ADD_I, STORE_I)
DEFINE_REDUCE(reduce_prod_i64, int64_t, int64_t, 1, I_PROD, MUL_I, STORE_I)
DEFINE_REDUCE(reduce_max_i64, int64_t, int64_t, INT64_MIN, I_MAX, MAX_I, STORE_I)
DEFINE_REDUCE(reduce_min_i64, int64_t, int64_t, INT64_MAX, I_MIN, MIN_I, STORE_I)

DEFINE_REDUCE(reduce_sum_u64, uint64_t, uint64_t, 0, U_SUM, ADD_U, STORE_U)
DEFINE_REDUCE(reduce_sumsq_u64, uint64_t, uint64_t, 0, U_SUMSQ, ADD_U, STORE_U)
DEFINE_REDUCE(reduce_l1_u64, uint64_t, uint64_t, 0, U_L1, ADD_U, STORE_U)
DEFINE_REDUCE(reduce_prod_u64, uint64_t, uint64_t, 1, U_PROD, MUL_U, STORE_U)
DEFINE_REDUCE(reduce_max_u64, uint64_t, uint64_t, 0, I_MAX, MAX_I, STORE_U)
DEFINE_REDUCE(reduce_min_u64, uint64_t, uint64_t, UINT64_MAX, I_MIN, MIN_I, STORE_U)

static void reduce_dispatch(int path, int step, const reduce_geom *g,
			    const void *x, void *y, int fin, void *part)
{
#define REDUCE_CASE(RK, SFX, T)							\
	case RK: reduce_##SFX(g, (const T *)x, (T *)y, fin, part); return;
#define REDUCE_FAMILY(SFX, T)							\
	switch (step) {								\
	REDUCE_CASE(RK_SUM, sum_##SFX, T)					\
	REDUCE_CASE(RK_SUMSQ, sumsq_##SFX, T)					\
	REDUCE_CASE(RK_L1, l1_##SFX, T)						\
	REDUCE_CASE(RK_PROD, prod_##SFX, T)					\
	REDUCE_CASE(RK_MAX, max_##SFX, T)					\
	REDUCE_CASE(RK_MIN, min_##SFX, T)					\
	default: break;								\
	}
	switch (path) {
	case PATH_F32:
		if (step == RK_SUMEXP) {
			reduce_sumexp_f32(g, x, y, fin, part);
			return;
		}
		REDUCE_FAMILY(f32, float)
		return;
	case PATH_F64:
		if (step == RK_SUMEXP) {
			reduce_sumexp_f64(g, x, y, fin, part);
			return;
		}
		REDUCE_FAMILY(f64, double)
		return;
	case PATH_I64:
		REDUCE_FAMILY(i64, int64_t)
		return;
	case PATH_U64:
		REDUCE_FAMILY(u64, uint64_t)
		return;
	}
#undef REDUCE_FAMILY
#undef REDUCE_CASE
}

/* Widens n elements of dtype dt into the path's element type, and back. */
static void path_widen(int path, const void *src, int dt, void *dst, int64_t n)
{
	for (int64_t i = 0; i < n; i++) {
		switch (path) {
		case PATH_F32: ((float *)dst)[i] = (float)elem_get_f(src, dt, i); break;
		case PATH_F64: ((double *)dst)[i] = elem_get_f(src, dt, i); break;
		default: ((int64_t *)dst)[i] = elem_get_i(src, dt, i); break;
		}
	}
}

static void path_narrow(int path, const void *src, void *dst, int dt, int64_t n)
{
	for (int64_t i = 0; i < n; i++) {
		switch (path) {
		case PATH_F32: elem_set_f(dst, dt, i, ((const float *)src)[i]); break;
		case PATH_F64: elem_set_f(dst, dt, i, ((const double *)src)[i]); break;
		default: elem_set_i(dst, dt, i, ((const int64_t *)src)[i]); break;
		}
	}
}

typedef struct reduce_state {
	reduce_geom geom;
	int step, fin;
	int path;
	int widen;          /* input goes through scratch in the path's type */
	size_t y_offset;    /* where the widened output starts in scratch */
	size_t part_offset; /* COL_SCRATCH for column-wise tiles */
	int identity;       /* noop_with_empty_axes with no axes: copy */
} reduce_state;

static int reduce_path(int dt, int step, int *path, int *widen)
{
	*widen = 0;
	switch (dt) {
	case SC_FLOAT: *path = PATH_F32; return 0;
	case SC_DOUBLE: *path = PATH_F64; return 0;
	case SC_FLOAT16: case SC_BFLOAT16: *path = PATH_F32; *widen = 1; return 0;
	default: break;
	}
	if (!is_int_dtype(dt))
		return -1;
	if (step == RK_SUMEXP) {
		*path = PATH_F64;
		*widen = 1;
		return 0;
	}
	*path = is_signed_dtype(dt) ? PATH_I64 : PATH_U64;
	*widen = dt != SC_INT64 && dt != SC_UINT64;
	return 0;
}

/* Reads the axes (attribute, or input 1 for ReduceSum from 13) into
 * marked[]; *identity is set for noop_with_empty_axes with no axes. */
static int reduce_axes_of(const op_kernel *k, int rank, int *marked,
			  int *identity, sc_error *err)
{
	const graph_node *n = k->node;
	int64_t axes[MAX_AXES];
	int na = 0;
	*identity = 0;
	if (strcmp(n->op_type, "ReduceSum") == 0 && k->opset >= 13) {
		int noop = infer_attr_int(n, "noop_with_empty_axes", 0) != 0;
		const sc_tensor *a = k->n_in > 1 ? k->in[1] : NULL;
		if (a) {
			if (a->dtype != SC_INT64)
				return infer_fail(k->g, n, err, "axes must be int64, not %s",
						  tensor_dtype_name(a->dtype));
			if (a->rank > 1 || a->numel > MAX_AXES)
				return infer_fail(k->g, n, err,
						  "axes must be a 1-D list of at most %d values",
						  MAX_AXES);
			na = (int)a->numel;
			for (int i = 0; i < na; i++)
				axes[i] = ((const int64_t *)a->data)[i];
		}
		if (na == 0 && noop) {
			*identity = 1;
			return SC_OK;
		}
	} else {
		const int64_t *attr;
		na = infer_attr_ints(n, "axes", &attr);
		if (na > MAX_AXES)
			return infer_fail(k->g, n, err, "axes lists %d values", na);
		for (int i = 0; i < na; i++)
			axes[i] = attr[i];
		if (na < 0)
			na = 0;
	}
	for (int i = 0; i < rank; i++)
		marked[i] = na == 0;
	for (int i = 0; i < na; i++) {
		int a;
		if (infer_axis(axes[i], rank, &a))
			return infer_fail(k->g, n, err,
					  "axis %lld is out of range for rank %d",
					  (long long)axes[i], rank);
		marked[a] = 1;
	}
	return SC_OK;
}

static int reduce_prepare(op_kernel *k, sc_error *err)
{
	const sc_tensor *x = k->in[0];
	const struct reduce_kind *kind = NULL;
	for (size_t i = 0; i < sizeof reduce_kinds / sizeof reduce_kinds[0]; i++)
		if (strcmp(k->node->op_type, reduce_kinds[i].name) == 0)
			kind = &reduce_kinds[i];
	if (!kind)
		return op_fail(k, err, SC_EINTERNAL, "not a reduction");
	if (!x)
		return infer_fail(k->g, k->node, err, "input 'data' is missing");
	int path, widen;
	if (reduce_path(x->dtype, kind->step, &path, &widen))
		return infer_fail(k->g, k->node, err, "does not accept %s input",
				  tensor_dtype_name(x->dtype));
	int marked[SC_MAX_RANK], identity;
	int rc = reduce_axes_of(k, x->rank, marked, &identity, err);
	if (rc)
		return rc;
	int keep = infer_attr_int(k->node, "keepdims", 1) != 0;
	int64_t dims[SC_MAX_RANK];
	int rank = 0;
	for (int i = 0; i < x->rank; i++) {
		if (identity || !marked[i])
			dims[rank++] = x->dims[i];
		else if (keep)
			dims[rank++] = 1;
	}
	rc = tensor_set_shape(k->out[0], x->dtype, rank, dims, out_name(k, 0), err);
	if (rc)
		return rc;
	reduce_state *s = calloc(1, sizeof *s);
	if (!s)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	k->state = s;
	s->step = kind->step;
	s->fin = kind->fin;
	s->path = path;
	s->widen = widen;
	s->identity = identity;
	if (identity)
		return SC_OK;
	reduce_geom_init(&s->geom, x->rank, x->dims, marked);
	size_t total = 0;
	if (widen) {
		/* every path type is 8 bytes wide, or 4 for float */
		size_t esz = path == PATH_F32 ? 4 : 8;
		s->y_offset = ((size_t)x->numel * esz + 63) & ~(size_t)63;
		total = s->y_offset + (((size_t)s->geom.n_out * esz + 63) & ~(size_t)63);
	}
	s->part_offset = total;
	if (s->geom.col)
		total += COL_SCRATCH;
	exec_scratch_request(k->env, total);
	return SC_OK;
}

static int reduce_run(op_kernel *k, sc_error *err)
{
	(void)err;
	const reduce_state *s = k->state;
	const sc_tensor *x = k->in[0];
	sc_tensor *y = k->out[0];
	if (s->identity) {
		if (x->nbytes)
			memcpy(y->data, x->data, x->nbytes);
		return SC_OK;
	}
	if (s->geom.n_out == 0)
		return SC_OK;
	const void *xin = x->data;
	void *yout = y->data;
	char *scratch = exec_scratch(k->env);
	void *part = s->geom.col ? scratch + s->part_offset : NULL;
	if (s->widen) {
		path_widen(s->path, x->data, x->dtype, scratch, x->numel);
		xin = scratch;
		yout = scratch + s->y_offset;
	}
	if (s->fin == FIN_LSE)
		reduce_dispatch(s->path, RK_MAX, &s->geom, xin, yout, FIN_NONE,
				part);
	reduce_dispatch(s->path, s->step, &s->geom, xin, yout, s->fin, part);
	if (s->widen)
		path_narrow(s->path, yout, y->data, y->dtype, y->numel);
	return SC_OK;
}

/* --- kernels: ArgMax, ArgMin ------------------------------------------------- */

typedef struct argext_state {
	axis_split sp;
	int is_max, last;
} argext_state;

static int argext_prepare(op_kernel *k, sc_error *err)
{
	const sc_tensor *x = k->in[0];
	if (!x)
		return infer_fail(k->g, k->node, err, "input 'data' is missing");
	if (!is_int_dtype(x->dtype) && !tensor_dtype_is_float(x->dtype))
		return infer_fail(k->g, k->node, err, "does not accept %s input",
				  tensor_dtype_name(x->dtype));
	int64_t axis = infer_attr_int(k->node, "axis", 0);
	int a = 0;
	if (x->rank == 0 ? axis != 0 && axis != -1 : infer_axis(axis, x->rank, &a))
		return infer_fail(k->g, k->node, err,
				  "axis %lld is out of range for rank %d",
				  (long long)axis, x->rank);
	axis_split sp = split_at(x, a);
	if (sp.len == 0 && sp.outer * sp.inner > 0)
		return infer_fail(k->g, k->node, err,
				  "cannot take the arg %s of an empty axis",
				  strcmp(k->node->op_type, "ArgMax") == 0 ? "max" : "min");
	int keep = infer_attr_int(k->node, "keepdims", 1) != 0;
	int64_t dims[SC_MAX_RANK];
	int rank = 0;
	for (int i = 0; i < x->rank; i++) {
		if (i != a)
			dims[rank++] = x->dims[i];
		else if (keep)
			dims[rank++] = 1;
	}
	int rc = tensor_set_shape(k->out[0], SC_INT64, rank, dims,
				  out_name(k, 0), err);
	if (rc)
		return rc;
	argext_state *s = malloc(sizeof *s);
	if (!s)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	s->sp = sp;
	s->is_max = strcmp(k->node->op_type, "ArgMax") == 0;
	s->last = k->opset >= 12 &&
		  infer_attr_int(k->node, "select_last_index", 0) != 0;
	k->state = s;
	return SC_OK;
}

#define NAN_F(v) isnan(v)
#define NAN_I(v) 0
#define LOAD_ID(v) (v)
#define LOAD_HALF(v) tensor_half_to_float(v)
#define LOAD_BF16(v) tensor_bf16_to_float(v)

/* Like numpy's argmax/argmin (ONNX's reference), the first NaN wins. */
#define DEFINE_ARGEXT(NAME, T, CT, LOAD, ISNAN)				\
static void NAME(const argext_state *s, const void *xv, int64_t *y)	\
{									\
	const T *x = xv;						\
	const int64_t n = s->sp.outer * s->sp.inner, len = s->sp.len;	\
	const int64_t inner = s->sp.inner;				\
	const int is_max = s->is_max, last = s->last;			\
	_Pragma("omp parallel for schedule(static) if (n * len > PAR_MIN)") \
	for (int64_t t = 0; t < n; t++) {				\
		int64_t o = t / inner, i = t - o * inner;		\
		const T *p = x + o * len * inner + i;			\
		CT best = LOAD(p[0]);					\
		int64_t at = 0;						\
		for (int64_t a = 1; a < len && !ISNAN(best); a++) {	\
			CT v = LOAD(p[a * inner]);			\
			if (ISNAN(v) || (is_max ? v > best : v < best) || \
			    (last && v == best)) {			\
				best = v;				\
				at = a;					\
			}						\
		}							\
		y[t] = at;						\
	}								\
}

DEFINE_ARGEXT(argext_f32, float, float, LOAD_ID, NAN_F)
DEFINE_ARGEXT(argext_f64, double, double, LOAD_ID, NAN_F)
DEFINE_ARGEXT(argext_f16, uint16_t, float, LOAD_HALF, NAN_F)
DEFINE_ARGEXT(argext_bf16, uint16_t, float, LOAD_BF16, NAN_F)
DEFINE_ARGEXT(argext_i8, int8_t, int8_t, LOAD_ID, NAN_I)
DEFINE_ARGEXT(argext_i16, int16_t, int16_t, LOAD_ID, NAN_I)
DEFINE_ARGEXT(argext_i32, int32_t, int32_t, LOAD_ID, NAN_I)
DEFINE_ARGEXT(argext_i64, int64_t, int64_t, LOAD_ID, NAN_I)
DEFINE_ARGEXT(argext_u8, uint8_t, uint8_t, LOAD_ID, NAN_I)
DEFINE_ARGEXT(argext_u16, uint16_t, uint16_t, LOAD_ID, NAN_I)
DEFINE_ARGEXT(argext_u32, uint32_t, uint32_t, LOAD_ID, NAN_I)
DEFINE_ARGEXT(argext_u64, uint64_t, uint64_t, LOAD_ID, NAN_I)

static int argext_run(op_kernel *k, sc_error *err)
{
	(void)err;
	const argext_state *s = k->state;
	const void *x = k->in[0]->data;
	int64_t *y = k->out[0]->data;
	if (s->sp.outer * s->sp.inner == 0)
		return SC_OK;
	switch (k->in[0]->dtype) {
	case SC_FLOAT: argext_f32(s, x, y); break;
	case SC_DOUBLE: argext_f64(s, x, y); break;
	case SC_FLOAT16: argext_f16(s, x, y); break;
	case SC_BFLOAT16: argext_bf16(s, x, y); break;
	case SC_INT8: argext_i8(s, x, y); break;
	case SC_INT16: argext_i16(s, x, y); break;
	case SC_INT32: argext_i32(s, x, y); break;
	case SC_INT64: argext_i64(s, x, y); break;
	case SC_UINT8: argext_u8(s, x, y); break;
	case SC_UINT16: argext_u16(s, x, y); break;
	case SC_UINT32: argext_u32(s, x, y); break;
	case SC_UINT64: argext_u64(s, x, y); break;
	default: break;
	}
	return SC_OK;
}

/* --- kernels: LpNormalization ----------------------------------------------- */

typedef struct lpnorm_state {
	axis_split sp;
	int p;
} lpnorm_state;

static int lpnorm_prepare(op_kernel *k, sc_error *err)
{
	const sc_tensor *x = k->in[0];
	if (!x)
		return infer_fail(k->g, k->node, err, "input 'input' is missing");
	if (!tensor_dtype_is_float(x->dtype))
		return infer_fail(k->g, k->node, err, "does not accept %s input",
				  tensor_dtype_name(x->dtype));
	int64_t axis = infer_attr_int(k->node, "axis", -1);
	int64_t p = infer_attr_int(k->node, "p", 2);
	int a = 0;
	if (p != 1 && p != 2)
		return infer_fail(k->g, k->node, err, "p = %lld, expected 1 or 2",
				  (long long)p);
	if (x->rank == 0 || infer_axis(axis, x->rank, &a))
		return infer_fail(k->g, k->node, err,
				  "axis %lld is out of range for rank %d",
				  (long long)axis, x->rank);
	int rc = tensor_set_shape(k->out[0], x->dtype, x->rank, x->dims,
				  out_name(k, 0), err);
	if (rc)
		return rc;
	lpnorm_state *s = malloc(sizeof *s);
	if (!s)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	s->sp = split_at(x, a);
	s->p = (int)p;
	k->state = s;
	return SC_OK;
}

#define STORE_ID(v) (v)
#define STORE_HALF(v) tensor_float_to_half((float)(v))
#define STORE_BF16(v) tensor_float_to_bf16((float)(v))

/* Tiles of BLOCK neighbouring positions along the inner dims, so that
 * each step along the axis reads contiguous memory. */
#define DEFINE_LPNORM(NAME, T, CT, LOAD, STORE)				\
static void NAME(const lpnorm_state *s, const T *x, T *y)		\
{									\
	const int64_t len = s->sp.len, inner = s->sp.inner;		\
	const int64_t nb = (inner + BLOCK - 1) / BLOCK;			\
	const int64_t tiles = s->sp.outer * nb;				\
	const int p1 = s->p == 1;					\
	_Pragma("omp parallel for schedule(static) if (tiles * len * BLOCK > PAR_MIN)") \
	for (int64_t t = 0; t < tiles; t++) {				\
		int64_t o = t / nb, i0 = (t - o * nb) * BLOCK;		\
		int bl = (int)(inner - i0 < BLOCK ? inner - i0 : BLOCK); \
		double acc[BLOCK];					\
		const T *xb = x + o * len * inner + i0;			\
		T *yb = y + o * len * inner + i0;			\
		for (int j = 0; j < bl; j++)				\
			acc[j] = 0;					\
		for (int64_t a = 0; a < len; a++)			\
			for (int j = 0; j < bl; j++) {			\
				double v = (CT)LOAD(xb[a * inner + j]);	\
				acc[j] += p1 ? fabs(v) : v * v;		\
			}						\
		for (int j = 0; j < bl; j++) {				\
			double nrm = p1 ? acc[j] : sqrt(acc[j]);	\
			acc[j] = nrm != 0 ? 1 / nrm : 0;		\
		}							\
		for (int64_t a = 0; a < len; a++)			\
			for (int j = 0; j < bl; j++)			\
				yb[a * inner + j] = STORE((CT)LOAD(xb[a * inner + j]) * acc[j]); \
	}								\
}

#define STORE_F32(v) ((float)(v))
DEFINE_LPNORM(lpnorm_f32, float, float, LOAD_ID, STORE_F32)
DEFINE_LPNORM(lpnorm_f64, double, double, LOAD_ID, STORE_ID)
DEFINE_LPNORM(lpnorm_f16, uint16_t, float, LOAD_HALF, STORE_HALF)
DEFINE_LPNORM(lpnorm_bf16, uint16_t, float, LOAD_BF16, STORE_BF16)

static int lpnorm_run(op_kernel *k, sc_error *err)
{
	(void)err;
	const lpnorm_state *s = k->state;
	const void *x = k->in[0]->data;
	void *y = k->out[0]->data;
	if (k->in[0]->numel == 0)
		return SC_OK;
	switch (k->in[0]->dtype) {
	case SC_FLOAT: lpnorm_f32(s, x, y); break;
	case SC_DOUBLE: lpnorm_f64(s, x, y); break;
	case SC_FLOAT16: lpnorm_f16(s, x, y); break;
	case SC_BFLOAT16: lpnorm_bf16(s, x, y); break;
	default: break;
	}
	return SC_OK;
}

/* --- kernels: TopK --------------------------------------------------------------- */

typedef struct topk_state {
	axis_split sp;
	int64_t k;
	int largest;
	int nt;            /* threads, each with k indices of scratch */
} topk_state;

static int topk_prepare(op_kernel *k, sc_error *err)
{
	const sc_tensor *x = k->in[0];
	const graph_node *n = k->node;
	if (!x)
		return infer_fail(k->g, n, err, "input 'X' is missing");
	if (!is_int_dtype(x->dtype) && !tensor_dtype_is_float(x->dtype))
		return infer_fail(k->g, n, err, "does not accept %s input",
				  tensor_dtype_name(x->dtype));
	int64_t kk;
	if (k->opset < 10) {
		kk = infer_attr_int(n, "k", -1);
	} else {
		const sc_tensor *kt = k->n_in > 1 ? k->in[1] : NULL;
		if (!kt || kt->dtype != SC_INT64 || kt->numel != 1 || kt->rank > 1)
			return infer_fail(k->g, n, err,
					  "input K must be an int64 tensor of one element");
		kk = *(const int64_t *)kt->data;
	}
	int64_t axis = infer_attr_int(n, "axis", -1);
	int a;
	if (x->rank == 0 || infer_axis(axis, x->rank, &a))
		return infer_fail(k->g, n, err, "axis %lld is out of range for rank %d",
				  (long long)axis, x->rank);
	if (kk < 0 || kk > x->dims[a])
		return infer_fail(k->g, n, err,
				  "K = %lld, expected 0 to the %lld elements along axis %d",
				  (long long)kk, (long long)x->dims[a], a);
	int64_t dims[SC_MAX_RANK];
	memcpy(dims, x->dims, sizeof dims);
	dims[a] = kk;
	int rc = tensor_set_shape(k->out[0], x->dtype, x->rank, dims,
				  out_name(k, 0), err);
	if (!rc && k->n_out > 1 && k->out[1])
		rc = tensor_set_shape(k->out[1], SC_INT64, x->rank, dims,
				      out_name(k, 1), err);
	if (rc)
		return rc;
	topk_state *s = malloc(sizeof *s);
	if (!s)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	s->sp = split_at(x, a);
	s->k = kk;
	s->largest = k->opset < 11 || infer_attr_int(n, "largest", 1) != 0;
	s->nt = omp_get_max_threads();
	k->state = s;
	/* sorted = 0 leaves the order open; sorted output is one valid answer */
	exec_scratch_request(k->env, (size_t)s->nt * (size_t)kk * sizeof(int64_t));
	return SC_OK;
}

/* A heap of the k best indices seen so far with the worst at the root, so
 * that each new element is compared with the root only.  BETTER is a
 * strict total order: the larger (or smaller) value, then the lower index,
 * as ONNX asks for ties.  Popping the root to the back afterwards leaves
 * the heap sorted best first. */
#define TOPK_BETTER(LOAD, a, b)							\
	(LOAD(p[(a) * inner]) == LOAD(p[(b) * inner]) ? (a) < (b) :		\
	 largest ? LOAD(p[(a) * inner]) > LOAD(p[(b) * inner]) :		\
		   LOAD(p[(a) * inner]) < LOAD(p[(b) * inner]))

#define TOPK_SIFT_DOWN(LOAD, h, i0, n)						\
	do {									\
		int64_t i_ = (i0);						\
		for (;;) {							\
			int64_t c_ = 2 * i_ + 1;				\
			if (c_ >= (n))						\
				break;						\
			if (c_ + 1 < (n) && TOPK_BETTER(LOAD, h[c_], h[c_ + 1]))	\
				c_++;						\
			if (!TOPK_BETTER(LOAD, h[i_], h[c_]))				\
				break;						\
			int64_t t_ = h[i_];					\
			h[i_] = h[c_];						\
			h[c_] = t_;						\
			i_ = c_;						\
		}								\
	} while (0)

#define DEFINE_TOPK(NAME, T, CT, LOAD)					\
static void NAME(const topk_state *s, const void *xv, void *vv,		\
		 int64_t *ind, int64_t *heaps)				\
{									\
	const T *x = xv;						\
	T *vals = vv;							\
	const int64_t n = s->sp.outer * s->sp.inner, len = s->sp.len;	\
	const int64_t inner = s->sp.inner, k = s->k;			\
	const int largest = s->largest;					\
	_Pragma("omp parallel for num_threads(s->nt) schedule(static) if (n * len > PAR_MIN)") \
	for (int64_t t = 0; t < n; t++) {				\
		int64_t *h = heaps + (int64_t)omp_get_thread_num() * k;	\
		int64_t o = t / inner, i = t - o * inner;		\
		const T *p = x + o * len * inner + i;			\
		int64_t hn = 0;						\
		for (int64_t a = 0; a < len; a++) {			\
			if (hn < k) {					\
				int64_t c = hn++;			\
				h[c] = a;				\
				while (c > 0 && TOPK_BETTER(LOAD, h[(c - 1) / 2], h[c])) { \
					int64_t u = h[c];		\
					h[c] = h[(c - 1) / 2];		\
					h[(c - 1) / 2] = u;		\
					c = (c - 1) / 2;		\
				}					\
			} else if (TOPK_BETTER(LOAD, a, h[0])) {		\
				h[0] = a;				\
				TOPK_SIFT_DOWN(LOAD, h, 0, hn);		\
			}						\
		}							\
		for (int64_t m = hn; m > 1; m--) {			\
			int64_t u = h[0];				\
			h[0] = h[m - 1];				\
			h[m - 1] = u;					\
			TOPK_SIFT_DOWN(LOAD, h, 0, m - 1);			\
		}							\
		for (int64_t j = 0; j < k; j++) {			\
			int64_t at = (o * k + j) * inner + i;		\
			vals[at] = p[h[j] * inner];			\
			if (ind)					\
				ind[at] = h[j];				\
		}							\
	}								\
}

DEFINE_TOPK(topk_f32, float, float, LOAD_ID)
DEFINE_TOPK(topk_f64, double, double, LOAD_ID)
DEFINE_TOPK(topk_f16, uint16_t, float, LOAD_HALF)
DEFINE_TOPK(topk_bf16, uint16_t, float, LOAD_BF16)
DEFINE_TOPK(topk_i8, int8_t, int8_t, LOAD_ID)
DEFINE_TOPK(topk_i16, int16_t, int16_t, LOAD_ID)
DEFINE_TOPK(topk_i32, int32_t, int32_t, LOAD_ID)
DEFINE_TOPK(topk_i64, int64_t, int64_t, LOAD_ID)
DEFINE_TOPK(topk_u8, uint8_t, uint8_t, LOAD_ID)
DEFINE_TOPK(topk_u16, uint16_t, uint16_t, LOAD_ID)
DEFINE_TOPK(topk_u32, uint32_t, uint32_t, LOAD_ID)
DEFINE_TOPK(topk_u64, uint64_t, uint64_t, LOAD_ID)

static int topk_run(op_kernel *k, sc_error *err)
{
	(void)err;
	const topk_state *s = k->state;
	const void *x = k->in[0]->data;
	void *v = k->out[0]->data;
	int64_t *ind = k->n_out > 1 && k->out[1] ? k->out[1]->data : NULL;
	int64_t *heaps = exec_scratch(k->env);
	if (s->k == 0 || s->sp.outer * s->sp.inner == 0)
		return SC_OK;
	switch (k->in[0]->dtype) {
	case SC_FLOAT: topk_f32(s, x, v, ind, heaps); break;
	case SC_DOUBLE: topk_f64(s, x, v, ind, heaps); break;
	case SC_FLOAT16: topk_f16(s, x, v, ind, heaps); break;
	case SC_BFLOAT16: topk_bf16(s, x, v, ind, heaps); break;
	case SC_INT8: topk_i8(s, x, v, ind, heaps); break;
	case SC_INT16: topk_i16(s, x, v, ind, heaps); break;
	case SC_INT32: topk_i32(s, x, v, ind, heaps); break;
	case SC_INT64: topk_i64(s, x, v, ind, heaps); break;
	case SC_UINT8: topk_u8(s, x, v, ind, heaps); break;
	case SC_UINT16: topk_u16(s, x, v, ind, heaps); break;
	case SC_UINT32: topk_u32(s, x, v, ind, heaps); break;
	case SC_UINT64: topk_u64(s, x, v, ind, heaps); break;
	default: break;
	}
	return SC_OK;
}

#define REDUCE(nm) \
	{.domain = "", .name = nm, .since = 1, .until = 17, \
	 .attrs = reduce_attrs, .infer = reduce_infer, \
	 .prepare = reduce_prepare, .run = reduce_run}
/* one with a gradient rule (reduce_grad.c) */
#define REDUCE_D(nm) \
	{.domain = "", .name = nm, .since = 1, .until = 17, \
	 .attrs = reduce_attrs, .infer = reduce_infer, \
	 .prepare = reduce_prepare, .run = reduce_run, \
	 .grad = reduce_grad, .grad_inputs = 1}

const op_def op_reduce_defs[] = {
	REDUCE_D("ReduceMean"),
	{.domain = "", .name = "ReduceSum", .since = 1, .until = 12,
	 .attrs = reduce_attrs, .infer = reduce_infer,
	 .prepare = reduce_prepare, .run = reduce_run,
	 .grad = reduce_grad, .grad_inputs = 1},
	{.domain = "", .name = "ReduceSum", .since = 13, .until = 17,
	 .attrs = reduce13_attrs, .infer = reduce_infer,
	 .prepare = reduce_prepare, .run = reduce_run,
	 .value_inputs = 1u << 1, .grad = reduce_grad, .grad_inputs = 1},
	REDUCE_D("ReduceMax"),
	REDUCE_D("ReduceMin"),
	REDUCE("ReduceProd"),
	REDUCE("ReduceL1"),
	REDUCE_D("ReduceL2"),
	REDUCE_D("ReduceSumSquare"),
	REDUCE("ReduceLogSum"),
	REDUCE_D("ReduceLogSumExp"),
	{.domain = "", .name = "ArgMax", .since = 1, .until = 11,
	 .attrs = argmax_attrs, .infer = argmax_infer,
	 .prepare = argext_prepare, .run = argext_run},
	{.domain = "", .name = "ArgMax", .since = 12, .until = 17,
	 .attrs = argmax12_attrs, .infer = argmax_infer,
	 .prepare = argext_prepare, .run = argext_run},
	{.domain = "", .name = "ArgMin", .since = 1, .until = 11,
	 .attrs = argmax_attrs, .infer = argmax_infer,
	 .prepare = argext_prepare, .run = argext_run},
	{.domain = "", .name = "ArgMin", .since = 12, .until = 17,
	 .attrs = argmax12_attrs, .infer = argmax_infer,
	 .prepare = argext_prepare, .run = argext_run},
	{.domain = "", .name = "LpNormalization", .since = 1, .until = 17,
	 .attrs = lpnorm_attrs, .infer = lpnorm_infer,
	 .prepare = lpnorm_prepare, .run = lpnorm_run,
	 .grad = lpnorm_grad, .grad_inputs = 1},
	{.domain = "", .name = "TopK", .since = 1, .until = 9,
	 .attrs = topk1_attrs, .infer = topk_infer,
	 .prepare = topk_prepare, .run = topk_run},
	{.domain = "", .name = "TopK", .since = 10, .until = 10,
	 .attrs = topk10_attrs, .infer = topk_infer,
	 .prepare = topk_prepare, .run = topk_run,
	 .value_inputs = 1u << 1},
	{.domain = "", .name = "TopK", .since = 11, .until = 17,
	 .attrs = topk11_attrs, .infer = topk_infer,
	 .prepare = topk_prepare, .run = topk_run,
	 .value_inputs = 1u << 1},
	/* backward kernels (reduce_grad.c) */
	{.domain = "ai.supcon", .name = "ReduceGrad", .since = 1, .until = 1,
	 .attrs = reduce_grad_attrs, .infer = reduce_grad_infer,
	 .prepare = reduce_grad_prepare, .run = reduce_grad_run,
	 .value_inputs = 1u << 3},
	{.domain = "ai.supcon", .name = "LpNormalizationGrad", .since = 1, .until = 1,
	 .attrs = lpnorm_grad_attrs, .infer = lpnorm_grad_infer,
	 .prepare = lpnorm_grad_prepare, .run = lpnorm_grad_run},
	{0},
};
