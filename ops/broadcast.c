/* broadcast.c: broadcast shapes, merged-axis walk plans and the threaded
 * driver that runs an inner loop over them; see broadcast.h. */
#include "broadcast.h"

#include <omp.h>
#include <stdio.h>
#include <string.h>

const char *bcast_dims_str(int rank, const int64_t *dims, char *buf,
			   size_t len)
{
	size_t off = 0;
	int w = snprintf(buf, len, "[");
	off = w > 0 ? (size_t)w : 0;
	for (int d = 0; d < rank && off < len; d++) {
		w = snprintf(buf + off, len - off, "%s%lld", d ? "," : "",
			     (long long)dims[d]);
		off += w > 0 ? (size_t)w : 0;
	}
	if (off < len)
		snprintf(buf + off, len - off, "]");
	return buf;
}

int bcast_shape(int n, const sc_tensor *const *in, int *rank, int64_t *dims,
		const char *label, sc_error *err)
{
	int r = 0;
	for (int i = 0; i < n; i++)
		if (in[i]->rank > r)
			r = in[i]->rank;
	for (int d = 0; d < r; d++)
		dims[d] = 1;
	for (int i = 0; i < n; i++) {
		const sc_tensor *t = in[i];
		int off = r - t->rank;
		for (int d = 0; d < t->rank; d++) {
			int64_t have = dims[off + d], want = t->dims[d];
			if (want == have || want == 1)
				continue;
			if (have != 1) {
				char a[160], b[160];
				return sc_fail(err, SC_EINVAL,
					       "%s: input %d has shape %s, which does not broadcast to %s",
					       label, i,
					       bcast_dims_str(t->rank, t->dims, a, sizeof a),
					       bcast_dims_str(r, dims, b, sizeof b));
			}
			dims[off + d] = want;
		}
	}
	*rank = r;
	return SC_OK;
}

void bcast_init(bcast *b, int n, const sc_tensor *const *in, int rank,
		const int64_t *dims, size_t out_size)
{
	/* element strides of each input aligned to the output's axes */
	int64_t s[BCAST_MAX_IN][SC_MAX_RANK];
	memset(b, 0, sizeof *b);
	b->n_in = n;
	b->out_size = out_size;
	for (int i = 0; i < n; i++) {
		const sc_tensor *t = in[i];
		int off = rank - t->rank;
		int64_t stride = 1;
		for (int d = rank - 1; d >= 0; d--) {
			if (d < off) {
				s[i][d] = 0;
				continue;
			}
			int64_t size = t->dims[d - off];
			s[i][d] = size == 1 ? 0 : stride;
			stride *= size;
		}
		b->in_size[i] = tensor_dtype_size(t->dtype);
	}
	b->numel = 1;
	for (int d = 0; d < rank; d++)
		b->numel *= dims[d];

	int r = 0;
	for (int d = 0; d < rank; d++) {
		if (dims[d] == 1)
			continue;
		int merge = r > 0;
		for (int i = 0; i < n && merge; i++)
			merge = b->strides[i][r - 1] == s[i][d] * dims[d];
		if (merge) {
			b->dims[r - 1] *= dims[d];
		} else {
			b->dims[r] = dims[d];
			r++;
		}
		for (int i = 0; i < n; i++)
			b->strides[i][r - 1] = s[i][d];
	}
	if (r == 0) {
		b->dims[0] = 1;
		r = 1;
	}
	b->rank = r;
	/* the merge test ran on element strides; from here on, bytes */
	for (int i = 0; i < n; i++) {
		b->step[i] = b->strides[i][r - 1] != 0;
		for (int d = 0; d < r; d++)
			b->strides[i][d] *= (int64_t)b->in_size[i];
	}
}

/* Rows [r0, r1) of the outer axes, each one run of the innermost axis. */
static void run_rows(const bcast *b, char *out, const void *const *in,
		     int64_t r0, int64_t r1, bcast_loop_fn fn, const void *ctx)
{
	int outer = b->rank - 1;
	int64_t inner = b->dims[outer];
	int64_t idx[SC_MAX_RANK];
	int64_t off[BCAST_MAX_IN] = {0};
	const void *p[BCAST_MAX_IN];

	int64_t r = r0;
	for (int d = outer - 1; d >= 0; d--) {
		idx[d] = r % b->dims[d];
		r /= b->dims[d];
		for (int i = 0; i < b->n_in; i++)
			off[i] += idx[d] * b->strides[i][d];
	}
	char *o = out + r0 * inner * (int64_t)b->out_size;
	for (int64_t row = r0; row < r1; row++) {
		for (int i = 0; i < b->n_in; i++)
			p[i] = (const char *)in[i] + off[i];
		fn(ctx, o, p, b->step, inner);
		o += inner * (int64_t)b->out_size;
		for (int d = outer - 1; d >= 0; d--) {
			if (++idx[d] < b->dims[d]) {
				for (int i = 0; i < b->n_in; i++)
					off[i] += b->strides[i][d];
				break;
			}
			idx[d] = 0;
			for (int i = 0; i < b->n_in; i++)
				off[i] -= (b->dims[d] - 1) * b->strides[i][d];
		}
	}
}

/* Elements [lo, hi) of a single run (rank 1). */
static void run_piece(const bcast *b, char *out, const void *const *in,
		      int64_t lo, int64_t hi, bcast_loop_fn fn,
		      const void *ctx)
{
	const void *p[BCAST_MAX_IN];
	for (int i = 0; i < b->n_in; i++)
		p[i] = (const char *)in[i] + lo * b->step[i] * (int64_t)b->in_size[i];
	fn(ctx, out + lo * (int64_t)b->out_size, p, b->step, hi - lo);
}

void bcast_run(const bcast *b, void *out, const void *const *in,
	       bcast_loop_fn fn, const void *ctx)
{
	if (b->numel == 0)
		return;
	int64_t inner = b->dims[b->rank - 1];
	int64_t rows = b->numel / inner;
	int64_t parts = 1;
	if (b->numel >= BCAST_PARALLEL_MIN) {
		parts = omp_get_max_threads();
		if (rows > 1 && parts > rows)
			parts = rows;
	}
	if (parts <= 1) {
		run_rows(b, out, in, 0, rows, fn, ctx);
		return;
	}
	if (rows == 1) {
		/* pieces that start on 64-byte boundaries of the output */
		int64_t align = 64 / (int64_t)b->out_size;
		if (align < 1)
			align = 1;
#pragma omp parallel for schedule(static)
		for (int64_t t = 0; t < parts; t++) {
			int64_t lo = inner * t / parts / align * align;
			int64_t hi = t == parts - 1 ? inner :
				     inner * (t + 1) / parts / align * align;
			if (hi > lo)
				run_piece(b, out, in, lo, hi, fn, ctx);
		}
		return;
	}
#pragma omp parallel for schedule(static)
	for (int64_t t = 0; t < parts; t++)
		run_rows(b, out, in, rows * t / parts, rows * (t + 1) / parts,
			 fn, ctx);
}
