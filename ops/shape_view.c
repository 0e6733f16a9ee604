/* shape_view.c: the strided copy behind most shape kernels, and helpers the
 * shape family shares; see shape_kernel.h.
 *
 * A view copy runs in one of three ways once its dims are simplified:
 *   rows       the innermost dim is contiguous in both tensors: one memcpy
 *              per row;
 *   tiled      the innermost dst dim reads the source with a stride while
 *              some outer dim is contiguous in the source (a transpose):
 *              32x32 tiles, so both sides stay in cache;
 *   strided    anything else: an element loop along the innermost dim.
 * Element copies go through fixed-size memcpy, which compilers turn into
 * single loads and stores without breaking strict aliasing.  Copies above
 * PARALLEL_BYTES split their rows or tiles over OpenMP threads. */
#include "shape_kernel.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "infer_util.h"
#include "registry.h"

/* Below this a copy is not worth waking threads for. */
#define PARALLEL_BYTES ((int64_t)1 << 18)
#define TILE 32

void shape_view_init(shape_view *v, size_t elem)
{
	memset(v, 0, sizeof *v);
	v->elem = elem;
	v->numel = 1;
}

void shape_view_push(shape_view *v, int64_t dim, int64_t dst_stride,
		     int64_t src_stride)
{
	if (v->rank >= SHAPE_VIEW_MAX_RANK)
		return;
	v->dims[v->rank] = dim;
	v->dst_stride[v->rank] = dst_stride;
	v->src_stride[v->rank] = src_stride;
	v->rank++;
}

void shape_view_dense_dst(shape_view *v)
{
	int64_t s = 1;
	for (int d = v->rank - 1; d >= 0; d--) {
		v->dst_stride[d] = s;
		s *= v->dims[d];
	}
}

void shape_view_simplify(shape_view *v)
{
	int r = 0;
	v->numel = 1;
	for (int d = 0; d < v->rank; d++)
		v->numel *= v->dims[d];
	if (v->numel == 0) {
		v->rank = 0;
		return;
	}
	for (int d = 0; d < v->rank; d++) {
		if (v->dims[d] == 1)
			continue;
		if (r > 0 &&
		    v->dst_stride[r - 1] == v->dst_stride[d] * v->dims[d] &&
		    v->src_stride[r - 1] == v->src_stride[d] * v->dims[d]) {
			/* outer dim r-1 steps over exactly one run of d */
			v->dims[r - 1] *= v->dims[d];
			v->dst_stride[r - 1] = v->dst_stride[d];
			v->src_stride[r - 1] = v->src_stride[d];
			continue;
		}
		v->dims[r] = v->dims[d];
		v->dst_stride[r] = v->dst_stride[d];
		v->src_stride[r] = v->src_stride[d];
		r++;
	}
	v->rank = r;
}

typedef struct elem16 {
	uint64_t lo, hi;
} elem16;

/* One innermost run of n elements. */
static void copy_run(char *dst, const char *src, int64_t n, int64_t ds,
		     int64_t ss, size_t elem)
{
	if (ds == 1 && ss == 1) {
		memcpy(dst, src, (size_t)n * elem);
		return;
	}
#define RUN(E) \
	for (int64_t i = 0; i < n; i++) \
		memcpy(dst + i * ds * (E), src + i * ss * (E), (E)); \
	return
	switch (elem) {
	case 1: RUN(1);
	case 2: RUN(2);
	case 4: RUN(4);
	case 8: RUN(8);
	case sizeof(elem16): RUN(sizeof(elem16));
	default: RUN((int64_t)elem);
	}
#undef RUN
}

/* Rows [begin, end) of the dims before the innermost one. */
static void copy_rows(const shape_view *v, char *dst, const char *src,
		      int64_t begin, int64_t end)
{
	int r = v->rank, outer = r - 1;
	int64_t idx[SHAPE_VIEW_MAX_RANK];
	int64_t doff = v->dst_offset, soff = v->src_offset, rest = begin;
	for (int d = outer - 1; d >= 0; d--) {
		idx[d] = rest % v->dims[d];
		rest /= v->dims[d];
		doff += idx[d] * v->dst_stride[d];
		soff += idx[d] * v->src_stride[d];
	}
	int64_t n = v->dims[r - 1];
	int64_t ds = v->dst_stride[r - 1], ss = v->src_stride[r - 1];
	size_t e = v->elem;
	for (int64_t row = begin; row < end; row++) {
		copy_run(dst + doff * (int64_t)e, src + soff * (int64_t)e, n, ds,
			 ss, e);
		for (int d = outer - 1; d >= 0; d--) {
			doff += v->dst_stride[d];
			soff += v->src_stride[d];
			if (++idx[d] < v->dims[d])
				break;
			doff -= v->dst_stride[d] * v->dims[d];
			soff -= v->src_stride[d] * v->dims[d];
			idx[d] = 0;
		}
	}
}

/* dst[i * dsi + j] = src[i + j * ssj] over an ni x nj tile. */
static void copy_tile(char *dst, const char *src, int64_t ni, int64_t nj,
		      int64_t dsi, int64_t ssj, size_t elem)
{
#define TILE_LOOP(E) \
	for (int64_t i = 0; i < ni; i++) \
		for (int64_t j = 0; j < nj; j++) \
			memcpy(dst + (i * dsi + j) * (E), \
			       src + (i + j * ssj) * (E), (E)); \
	return
	switch (elem) {
	case 1: TILE_LOOP(1);
	case 2: TILE_LOOP(2);
	case 4: TILE_LOOP(4);
	case 8: TILE_LOOP(8);
	case sizeof(elem16): TILE_LOOP(sizeof(elem16));
	default: TILE_LOOP((int64_t)elem);
	}
#undef TILE_LOOP
}

/* The dim (other than the innermost) that is contiguous in the source, when
 * the innermost dst dim is contiguous and its source is not; -1 otherwise.
 * Both sides must be long enough for tiles to pay. */
static int tile_dim(const shape_view *v)
{
	int r = v->rank;
	if (r < 2 || v->dst_stride[r - 1] != 1 || v->src_stride[r - 1] == 1 ||
	    v->dims[r - 1] < 8)
		return -1;
	for (int d = r - 2; d >= 0; d--)
		if (v->src_stride[d] == 1 && v->dims[d] >= 8)
			return d;
	return -1;
}

static void copy_tiled(const shape_view *v, int p, char *dst, const char *src,
		       int parallel)
{
	int r = v->rank, last = r - 1;
	int64_t np = v->dims[p], nl = v->dims[last];
	int64_t tp = (np + TILE - 1) / TILE, tl = (nl + TILE - 1) / TILE;
	int64_t rows = v->numel / (np * nl), items = rows * tp * tl;
	int64_t dsp = v->dst_stride[p], ssl = v->src_stride[last];
	size_t e = v->elem;
	(void)parallel;
#pragma omp parallel for schedule(static) if (parallel)
	for (int64_t it = 0; it < items; it++) {
		int64_t rest = it / (tp * tl), t = it % (tp * tl);
		int64_t i0 = t / tl * TILE, j0 = t % tl * TILE;
		int64_t doff = v->dst_offset, soff = v->src_offset;
		for (int d = last - 1; d >= 0; d--) {
			if (d == p)
				continue;
			int64_t id = rest % v->dims[d];
			rest /= v->dims[d];
			doff += id * v->dst_stride[d];
			soff += id * v->src_stride[d];
		}
		doff += i0 * dsp + j0;
		soff += i0 + j0 * ssl;
		int64_t ni = np - i0 < TILE ? np - i0 : TILE;
		int64_t nj = nl - j0 < TILE ? nl - j0 : TILE;
		copy_tile(dst + doff * (int64_t)e, src + soff * (int64_t)e, ni, nj,
			  dsp, ssl, e);
	}
}

void shape_view_copy(const shape_view *v, void *dst_, const void *src_)
{
	char *dst = dst_;
	const char *src = src_;
	if (v->numel == 0)
		return;
	size_t e = v->elem;
	if (v->rank == 0) {
		memcpy(dst + v->dst_offset * (int64_t)e,
		       src + v->src_offset * (int64_t)e, e);
		return;
	}
	int parallel = v->numel * (int64_t)e > PARALLEL_BYTES;
	int p = tile_dim(v);
	if (p >= 0) {
		copy_tiled(v, p, dst, src, parallel);
		return;
	}
	int64_t rows = v->numel / v->dims[v->rank - 1];
	if (!parallel || rows < 2) {
		copy_rows(v, dst, src, 0, rows);
		return;
	}
#pragma omp parallel
	{
		int64_t nt = 1, t = 0;
#ifdef _OPENMP
		nt = omp_get_num_threads();
		t = omp_get_thread_num();
#endif
		copy_rows(v, dst, src, rows * t / nt, rows * (t + 1) / nt);
	}
}

void shape_strides(const sc_tensor *t, int64_t *strides)
{
	int64_t s = 1;
	for (int d = t->rank - 1; d >= 0; d--) {
		strides[d] = s;
		s *= t->dims[d];
	}
}

void shape_fill(void *dst_, int64_t n, const void *value, size_t elem)
{
	char *dst = dst_;
	if (n <= 0)
		return;
	int zero = 1;
	for (size_t i = 0; i < elem && zero; i++)
		zero = ((const char *)value)[i] == 0;
	if (zero) {
		memset(dst, 0, (size_t)n * elem);
		return;
	}
#define FILL(E) \
	for (int64_t i = 0; i < n; i++) \
		memcpy(dst + i * (E), value, (E)); \
	return
	switch (elem) {
	case 1: memset(dst, *(const unsigned char *)value, (size_t)n); return;
	case 2: FILL(2);
	case 4: FILL(4);
	case 8: FILL(8);
	case sizeof(elem16): FILL(sizeof(elem16));
	default: FILL((int64_t)elem);
	}
#undef FILL
}

void shape_copy_bytes(void *dst, const void *src, size_t nbytes)
{
	if (nbytes == 0)
		return;
	if ((int64_t)nbytes <= 4 * PARALLEL_BYTES) {
		memcpy(dst, src, nbytes);
		return;
	}
#pragma omp parallel
	{
		size_t nt = 1, t = 0;
#ifdef _OPENMP
		nt = (size_t)omp_get_num_threads();
		t = (size_t)omp_get_thread_num();
#endif
		size_t b = nbytes / nt * t, e = t + 1 == nt ? nbytes : nbytes / nt * (t + 1);
		memcpy((char *)dst + b, (const char *)src + b, e - b);
	}
}


int shape_set_out(op_kernel *k, int i, int dtype, int rank,
		  const int64_t *dims, sc_error *err)
{
	if (i >= k->n_out || !k->out[i])
		return SC_OK;
	if (rank > SC_MAX_RANK)
		return op_fail(k, err, SC_EUNSUPPORTED,
				  "output %d would have rank %d, above supcon's limit of %d",
				  i, rank, SC_MAX_RANK);
	char label[256];
	int v = k->node->outputs[i];
	const char *what = v >= 0 ? k->g->values[v].name :
			   op_node_label(k->g, k->node, label, sizeof label);
	return tensor_set_shape(k->out[i], dtype, rank, dims, what, err);
}

int shape_read_ints(const op_kernel *k, const sc_tensor *t, const char *what,
		    int64_t *out, int max, int *count, sc_error *err)
{
	if (t->dtype != SC_INT64 && t->dtype != SC_INT32)
		return op_fail(k, err, SC_EINVAL, "%s must be int64 or int32, not %s",
				  what, tensor_dtype_name(t->dtype));
	if (t->rank > 1)
		return op_fail(k, err, SC_EINVAL, "%s must be 1-D, has rank %d",
				  what, t->rank);
	if (t->numel > max)
		return op_fail(k, err, SC_EINVAL, "%s has %lld values, at most %d make sense",
				  what, (long long)t->numel, max);
	for (int64_t i = 0; i < t->numel; i++)
		out[i] = shape_get_int64(t, i);
	*count = (int)t->numel;
	return SC_OK;
}

int shape_attr_or_input(const op_kernel *k, int input_from, const char *attr,
			int input, int64_t *out, int max, int *count,
			sc_error *err)
{
	*count = -1;
	if (k->opset < input_from) {
		const int64_t *v;
		int n = infer_attr_ints(k->node, attr, &v);
		if (n > max)
			return op_fail(k, err, SC_EINVAL,
					  "attribute '%s' has %d values, at most %d make sense",
					  attr, n, max);
		for (int i = 0; i < n; i++)
			out[i] = v[i];
		*count = n;
		return SC_OK;
	}
	if (input >= k->n_in || !k->in[input])
		return SC_OK;
	char what[64];
	snprintf(what, sizeof what, "input %d", input);
	return shape_read_ints(k, k->in[input], what, out, max, count, err);
}

double shape_get_double(const sc_tensor *t, int64_t i)
{
	const char *p = (const char *)t->data + (size_t)i * tensor_dtype_size(t->dtype);
	union {
		float f; double d; int8_t i8; uint8_t u8; int16_t i16;
		uint16_t u16; int32_t i32; uint32_t u32; int64_t i64; uint64_t u64;
	} u;
	memcpy(&u, p, tensor_dtype_size(t->dtype) <= sizeof u ?
		      tensor_dtype_size(t->dtype) : sizeof u);
	switch (t->dtype) {
	case SC_FLOAT: return u.f;
	case SC_DOUBLE: return u.d;
	case SC_FLOAT16: return tensor_half_to_float(u.u16);
	case SC_BFLOAT16: return tensor_bf16_to_float(u.u16);
	case SC_INT8: return u.i8;
	case SC_UINT8: case SC_BOOL: return u.u8;
	case SC_INT16: return u.i16;
	case SC_UINT16: return u.u16;
	case SC_INT32: return u.i32;
	case SC_UINT32: return u.u32;
	case SC_INT64: return (double)u.i64;
	case SC_UINT64: return (double)u.u64;
	default: return 0;
	}
}

int64_t shape_get_int64(const sc_tensor *t, int64_t i)
{
	const char *p = (const char *)t->data + (size_t)i * tensor_dtype_size(t->dtype);
	if (t->dtype == SC_INT64) {
		int64_t x;
		memcpy(&x, p, sizeof x);
		return x;
	}
	if (t->dtype == SC_UINT64) {
		uint64_t x;
		memcpy(&x, p, sizeof x);
		return x > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)x;
	}
	double d = shape_get_double(t, i);
	if (d != d)
		return 0;
	if (d >= 9.2e18)
		return INT64_MAX;
	if (d <= -9.2e18)
		return INT64_MIN;
	return (int64_t)d;
}

int shape_put_double(void *dst, int dtype, double x)
{
	union {
		float f; double d; int8_t i8; uint8_t u8; int16_t i16;
		uint16_t u16; int32_t i32; uint32_t u32; int64_t i64; uint64_t u64;
	} u;
	switch (dtype) {
	case SC_FLOAT: u.f = (float)x; break;
	case SC_DOUBLE: u.d = x; break;
	case SC_FLOAT16: u.u16 = tensor_float_to_half((float)x); break;
	case SC_BFLOAT16: u.u16 = tensor_float_to_bf16((float)x); break;
	case SC_BOOL: u.u8 = x != 0; break;
	case SC_INT8: u.i8 = (int8_t)x; break;
	case SC_UINT8: u.u8 = (uint8_t)x; break;
	case SC_INT16: u.i16 = (int16_t)x; break;
	case SC_UINT16: u.u16 = (uint16_t)x; break;
	case SC_INT32: u.i32 = (int32_t)x; break;
	case SC_UINT32: u.u32 = (uint32_t)x; break;
	case SC_INT64: u.i64 = (int64_t)x; break;
	case SC_UINT64: u.u64 = (uint64_t)x; break;
	default: return -1;
	}
	memcpy(dst, &u, tensor_dtype_size(dtype));
	return 0;
}

int shape_run_copy(op_kernel *k, sc_error *err)
{
	(void)err;
	shape_copy_bytes(k->out[0]->data, k->in[0]->data, k->out[0]->nbytes);
	return SC_OK;
}

int shape_run_view(op_kernel *k, sc_error *err)
{
	(void)err;
	if (k->out[0])
		shape_view_copy(k->state, k->out[0]->data, k->in[0]->data);
	return SC_OK;
}
