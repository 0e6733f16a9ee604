/* tsne.c: t-SNE (van der Maaten and Hinton 2008) with an exact gradient
 * for small sets and the Barnes-Hut approximation (van der Maaten 2014)
 * for large ones; see embed.h for the recipe.
 *
 * Parallel loops compute one result per point and the sums over points
 * are taken serially afterwards, so the layout does not depend on the
 * number of threads. */
#include "embed.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/rng.h"

void tsne_options_init(tsne_options *o)
{
	memset(o, 0, sizeof *o);
	o->perplexity = 30;
	o->iterations = 1000;
	o->theta = 0.5;
	o->exact_max = 1000;
	o->exaggeration = 12;
	o->exaggeration_iters = 250;
	o->progress_every = 50;
}

double tsne_perplexity(const tsne_options *o, int64_t n)
{
	double p = o->perplexity, most = (double)(n - 1) / 3.0;
	if (p > most)
		p = most;
	return p < 1 ? 1 : p;
}

int tsne_is_exact(const tsne_options *o, int64_t n)
{
	return o->theta <= 0 || n <= o->exact_max;
}

/* --- affinities ---------------------------------------------------------------- */

/* One row of conditional probabilities p_j|i from the squared distances
 * dist[0..m) to the other points: a binary search on the precision beta
 * until the entropy is log(perplexity) within 1e-5 (200 steps at most).
 * The distances are shifted by their minimum so exp() cannot underflow
 * to an all-zero row; the shift cancels in the normalisation. */
static void row_affinities(const double *dist, int64_t m, double log_perp,
			   double *p)
{
	double dmin = INFINITY;
	for (int64_t j = 0; j < m; j++)
		dmin = fmin(dmin, dist[j]);
	double beta = 1, lo = -1, hi = INFINITY, sum = 1;
	for (int it = 0; it < 200; it++) {
		double h = 0;
		sum = 0;
		for (int64_t j = 0; j < m; j++) {
			p[j] = exp(-beta * (dist[j] - dmin));
			sum += p[j];
			h += beta * (dist[j] - dmin) * p[j];
		}
		double diff = h / sum + log(sum) - log_perp;
		if (fabs(diff) < 1e-5)
			break;
		if (diff > 0) {
			lo = beta;
			beta = isinf(hi) ? beta * 2 : (beta + hi) / 2;
		} else {
			hi = beta;
			beta = lo < 0 ? beta / 2 : (beta + lo) / 2;
		}
	}
	for (int64_t j = 0; j < m; j++)
		p[j] /= sum;
}

/* The input's scale: max |x - column mean|, so distances are those of
 * bhtsne's normalised copy without making one. */
static double input_scale(const float *x, int64_t n, int64_t d, sc_error *err,
			  int *rc)
{
	double *mean = calloc((size_t)d, sizeof *mean);
	*rc = SC_OK;
	if (!mean) {
		*rc = sc_fail(err, SC_ENOMEM, "t-SNE: out of memory");
		return 1;
	}
	for (int64_t i = 0; i < n; i++)
		for (int64_t t = 0; t < d; t++)
			mean[t] += x[i * d + t];
	double big = 0;
	for (int64_t t = 0; t < d; t++)
		mean[t] /= (double)n;
	for (int64_t i = 0; i < n; i++)
		for (int64_t t = 0; t < d; t++)
			big = fmax(big, fabs(x[i * d + t] - mean[t]));
	free(mean);
	return big > 0 ? big : 1;
}

static double sq_dist_f(const float *a, const float *b, int64_t d)
{
	double s = 0;
	for (int64_t t = 0; t < d; t++) {
		double v = (double)a[t] - (double)b[t];
		s += v * v;
	}
	return s;
}

/* Dense symmetric P (n x n, sums to 1). */
static int exact_affinities(const float *x, int64_t n, int64_t d,
			    double scale, double perp, double *P, sc_error *err)
{
	double inv = 1 / (scale * scale), log_perp = log(perp);
	double *dist = malloc(sizeof *dist * (size_t)n * (size_t)n);
	if (!dist)
		return sc_fail(err, SC_ENOMEM, "t-SNE: out of memory");
	#pragma omp parallel for schedule(dynamic, 8)
	for (int64_t i = 0; i < n; i++) {
		double *di = dist + i * n, *pi = P + i * n;
		int64_t m = 0;
		for (int64_t j = 0; j < n; j++)
			if (j != i)
				di[m++] = sq_dist_f(x + i * d, x + j * d, d) * inv;
		row_affinities(di, m, log_perp, pi);
		/* spread the n - 1 values around the diagonal, from the end so
		 * that nothing is overwritten before it moves */
		for (int64_t j = n - 1; j >= 0; j--)
			pi[j] = j > i ? pi[j - 1] : j == i ? 0 : pi[j];
	}
	free(dist);
	double total = 0;
	for (int64_t i = 0; i < n; i++)
		for (int64_t j = i + 1; j < n; j++) {
			double s = P[i * n + j] + P[j * n + i];
			P[i * n + j] = P[j * n + i] = s;
			total += 2 * s;
		}
	for (int64_t i = 0; i < n * n; i++)
		P[i] /= total;
	return SC_OK;
}

/* Sparse symmetric P in CSR form. */
typedef struct sparse_p {
	int64_t *row;           /* n + 1 */
	int64_t *col;
	double *val;
} sparse_p;

typedef struct triplet {
	int64_t i, j;
	double p;
} triplet;

static int triplet_cmp(const void *a, const void *b)
{
	const triplet *x = a, *y = b;
	if (x->i != y->i)
		return x->i < y->i ? -1 : 1;
	return x->j < y->j ? -1 : x->j > y->j;
}

static int sparse_affinities(const float *x, int64_t n, int64_t d,
			     double scale, double perp, sparse_p *sp,
			     sc_error *err)
{
	int k = (int)floor(3 * perp);
	if (k > n - 1)
		k = (int)(n - 1);
	if (k < 1)
		k = 1;
	int64_t nk = n * k;
	int64_t *idx = malloc(sizeof *idx * (size_t)nk);
	double *d2 = malloc(sizeof *d2 * (size_t)nk);
	triplet *t = malloc(sizeof *t * (size_t)(2 * nk));
	int rc = SC_OK;
	if (!idx || !d2 || !t) {
		rc = sc_fail(err, SC_ENOMEM, "t-SNE: out of memory for %lld "
			     "neighbours", (long long)nk);
		goto out;
	}
	if ((rc = embed_nearest(x, n, d, k, idx, d2, err)))
		goto out;
	double inv = 1 / (scale * scale), log_perp = log(perp);
	#pragma omp parallel for schedule(static)
	for (int64_t i = 0; i < n; i++) {
		for (int j = 0; j < k; j++)
			d2[i * k + j] *= inv;
		row_affinities(d2 + i * k, k, log_perp, d2 + i * k);
	}
	for (int64_t i = 0; i < n; i++)
		for (int j = 0; j < k; j++) {
			int64_t e = i * k + j;
			t[2 * e] = (triplet){i, idx[e], d2[e]};
			t[2 * e + 1] = (triplet){idx[e], i, d2[e]};
		}
	qsort(t, (size_t)(2 * nk), sizeof *t, triplet_cmp);
	sp->row = calloc((size_t)(n + 1), sizeof *sp->row);
	sp->col = malloc(sizeof *sp->col * (size_t)(2 * nk));
	sp->val = malloc(sizeof *sp->val * (size_t)(2 * nk));
	if (!sp->row || !sp->col || !sp->val) {
		rc = sc_fail(err, SC_ENOMEM, "t-SNE: out of memory");
		goto out;
	}
	int64_t nnz = 0;
	double total = 0;
	for (int64_t e = 0; e < 2 * nk; e++) {
		if (nnz > 0 && e > 0 && t[e].i == t[e - 1].i && t[e].j == t[e - 1].j) {
			sp->val[nnz - 1] += t[e].p;
		} else {
			sp->col[nnz] = t[e].j;
			sp->val[nnz] = t[e].p;
			sp->row[t[e].i + 1]++;
			nnz++;
		}
		total += t[e].p;
	}
	for (int64_t i = 0; i < n; i++)
		sp->row[i + 1] += sp->row[i];
	for (int64_t e = 0; e < nnz; e++)
		sp->val[e] /= total;
out:
	free(idx);
	free(d2);
	free(t);
	return rc;
}

/* --- the quadtree of Barnes-Hut ------------------------------------------------ */

#define QT_MAX_DEPTH 48

typedef struct qt_node {
	double cx, cy, hw;      /* centre and half width */
	double sx, sy;          /* sum of the positions below */
	int64_t count;
	int64_t child;          /* first of four children; -1 for a leaf */
	int64_t first;          /* leaf: first point (chained by next), -1 empty */
	int depth;
} qt_node;

typedef struct quadtree {
	qt_node *node;
	int64_t len, cap;
	int64_t *next;          /* n: the leaf chains */
} quadtree;

static int64_t qt_new(quadtree *q, double cx, double cy, double hw, int depth)
{
	if (q->len == q->cap) {
		int64_t cap = q->cap ? q->cap * 2 : 1024;
		qt_node *p = realloc(q->node, sizeof *p * (size_t)cap);
		if (!p)
			return -1;
		q->node = p;
		q->cap = cap;
	}
	q->node[q->len] = (qt_node){cx, cy, hw, 0, 0, 0, -1, -1, depth};
	return q->len++;
}

static int quadrant(const qt_node *nd, double x, double y)
{
	return (x >= nd->cx) + 2 * (y >= nd->cy);
}

static int qt_split(quadtree *q, int64_t at)
{
	double hw = q->node[at].hw / 2;
	int64_t first = -1;
	for (int k = 0; k < 4; k++) {
		const qt_node *nd = &q->node[at];
		double cx = nd->cx + (k & 1 ? hw : -hw), cy = nd->cy + (k & 2 ? hw : -hw);
		int64_t c = qt_new(q, cx, cy, hw, nd->depth + 1);
		if (c < 0)
			return -1;
		if (k == 0)
			first = c;
	}
	q->node[at].child = first;
	return 0;
}

static int qt_insert(quadtree *q, const double *y, int64_t p)
{
	double px = y[2 * p], py = y[2 * p + 1];
	int64_t at = 0;
	for (;;) {
		qt_node *nd = &q->node[at];
		nd->count++;
		nd->sx += px;
		nd->sy += py;
		if (nd->child < 0) {
			if (nd->first < 0) {
				nd->first = p;
				q->next[p] = -1;
				return 0;
			}
			int64_t f = nd->first;
			if (nd->depth >= QT_MAX_DEPTH ||
			    (y[2 * f] == px && y[2 * f + 1] == py)) {
				q->next[p] = nd->first;
				nd->first = p;
				return 0;
			}
			/* move the leaf's points (all at one position) down */
			if (qt_split(q, at))
				return -1;
			nd = &q->node[at];
			int64_t c = nd->child + quadrant(nd, y[2 * f], y[2 * f + 1]);
			int64_t moved = nd->count - 1;
			qt_node *cn = &q->node[c];
			cn->count = moved;
			cn->sx = y[2 * f] * (double)moved;
			cn->sy = y[2 * f + 1] * (double)moved;
			cn->first = nd->first;
			nd->first = -1;
		}
		at = nd->child + quadrant(nd, px, py);
	}
}

static int qt_build(quadtree *q, const double *y, int64_t n)
{
	double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
	for (int64_t i = 0; i < n; i++) {
		x0 = fmin(x0, y[2 * i]);
		x1 = fmax(x1, y[2 * i]);
		y0 = fmin(y0, y[2 * i + 1]);
		y1 = fmax(y1, y[2 * i + 1]);
	}
	q->len = 0;
	double hw = fmax(x1 - x0, y1 - y0) / 2 + 1e-5;
	if (qt_new(q, (x0 + x1) / 2, (y0 + y1) / 2, hw, 0) < 0)
		return -1;
	for (int64_t i = 0; i < n; i++)
		if (qt_insert(q, y, i))
			return -1;
	return 0;
}

/* Repulsive force on point i: sum over the others of q^2 (y_i - y_j),
 * with far cells (width / distance < theta) taken as one point at their
 * centre of mass; *zq gets the sum of q over the others. */
static void qt_repulsion(const quadtree *q, const double *y, int64_t i,
			 double theta, int64_t *stack, double *fx, double *fy,
			 double *zq)
{
	double xi = y[2 * i], yi = y[2 * i + 1], ax = 0, ay = 0, z = 0;
	int64_t top = 0;
	stack[top++] = 0;
	while (top > 0) {
		const qt_node *nd = &q->node[stack[--top]];
		if (nd->count == 0)
			continue;
		if (nd->child < 0) {
			for (int64_t p = nd->first; p >= 0; p = q->next[p]) {
				if (p == i)
					continue;
				double dx = xi - y[2 * p], dy = yi - y[2 * p + 1];
				double qq = 1 / (1 + dx * dx + dy * dy);
				z += qq;
				ax += qq * qq * dx;
				ay += qq * qq * dy;
			}
			continue;
		}
		double cnt = (double)nd->count;
		double dx = xi - nd->sx / cnt, dy = yi - nd->sy / cnt;
		double dd = dx * dx + dy * dy, w = 2 * nd->hw;
		if (dd > 0 && w * w < theta * theta * dd) {
			double qq = 1 / (1 + dd);
			z += cnt * qq;
			ax += cnt * qq * qq * dx;
			ay += cnt * qq * qq * dy;
			continue;
		}
		for (int k = 0; k < 4; k++)
			stack[top++] = nd->child + k;
	}
	*fx = ax;
	*fy = ay;
	*zq = z;
}

/* --- gradients ------------------------------------------------------------------ */

typedef struct tsne_state {
	int64_t n;
	int exact;
	double theta;
	double *P;              /* exact: n x n */
	double *num;            /* exact: n x n Student-t numerators */
	double *px, *py;        /* exact: the layout's coordinates, apart */
	sparse_p sp;            /* Barnes-Hut */
	quadtree qt;
	double *rep;            /* 2n repulsive forces */
	double *zrow;           /* n per-point sums of q */
	double z;
} tsne_state;

/* Sum of v[0..n) with four accumulators in a fixed order: vectorisable
 * without -ffast-math and the same on every run. */
static double sum4(const double *v, int64_t n)
{
	double a[4] = {0, 0, 0, 0};
	int64_t j = 0;
	for (; j + 4 <= n; j += 4)
		for (int k = 0; k < 4; k++)
			a[k] += v[j + k];
	for (; j < n; j++)
		a[0] += v[j];
	return (a[0] + a[1]) + (a[2] + a[3]);
}

static void exact_gradient(tsne_state *s, const double *y, double exag,
			   double *g)
{
	int64_t n = s->n;
	double *px = s->px, *py = s->py;
	for (int64_t i = 0; i < n; i++) {
		px[i] = y[2 * i];
		py[i] = y[2 * i + 1];
	}
	#pragma omp parallel for schedule(static) if (n >= 256)
	for (int64_t i = 0; i < n; i++) {
		double *row = s->num + i * n, xi = px[i], yi = py[i];
		for (int64_t j = 0; j < n; j++) {
			double dx = xi - px[j], dy = yi - py[j];
			row[j] = 1 / (1 + dx * dx + dy * dy);
		}
		row[i] = 0;
		s->zrow[i] = sum4(row, n);
	}
	double z = 0;
	for (int64_t i = 0; i < n; i++)
		z += s->zrow[i];
	s->z = z;
	double iz = 1 / z;
	#pragma omp parallel for schedule(static) if (n >= 256)
	for (int64_t i = 0; i < n; i++) {
		const double *row = s->num + i * n, *p = s->P + i * n;
		double xi = px[i], yi = py[i], gx[4] = {0}, gy[4] = {0};
		int64_t j = 0;
		for (; j + 4 <= n; j += 4)
			for (int k = 0; k < 4; k++) {
				double m = (exag * p[j + k] - row[j + k] * iz) * row[j + k];
				gx[k] += m * (xi - px[j + k]);
				gy[k] += m * (yi - py[j + k]);
			}
		for (; j < n; j++) {
			double m = (exag * p[j] - row[j] * iz) * row[j];
			gx[0] += m * (xi - px[j]);
			gy[0] += m * (yi - py[j]);
		}
		g[2 * i] = 4 * ((gx[0] + gx[1]) + (gx[2] + gx[3]));
		g[2 * i + 1] = 4 * ((gy[0] + gy[1]) + (gy[2] + gy[3]));
	}
}

static int bh_gradient(tsne_state *s, const double *y, double exag, double *g,
		       sc_error *err)
{
	int64_t n = s->n;
	if (qt_build(&s->qt, y, n))
		return sc_fail(err, SC_ENOMEM, "t-SNE: out of memory for the quadtree");
	#pragma omp parallel if (n >= 256)
	{
		/* a depth-first walk holds at most 3 siblings per level, plus 4 */
		int64_t stack[4 * (QT_MAX_DEPTH + 2)];
		#pragma omp for schedule(dynamic, 64)
		for (int64_t i = 0; i < n; i++)
			qt_repulsion(&s->qt, y, i, s->theta, stack, &s->rep[2 * i],
				     &s->rep[2 * i + 1], &s->zrow[i]);
	}
	double z = 0;
	for (int64_t i = 0; i < n; i++)
		z += s->zrow[i];
	s->z = z;
	const sparse_p *sp = &s->sp;
	#pragma omp parallel for schedule(static) if (n >= 256)
	for (int64_t i = 0; i < n; i++) {
		double ax = 0, ay = 0;
		for (int64_t e = sp->row[i]; e < sp->row[i + 1]; e++) {
			int64_t j = sp->col[e];
			double dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1];
			double m = exag * sp->val[e] / (1 + dx * dx + dy * dy);
			ax += m * dx;
			ay += m * dy;
		}
		g[2 * i] = 4 * (ax - s->rep[2 * i] / z);
		g[2 * i + 1] = 4 * (ay - s->rep[2 * i + 1] / z);
	}
	return SC_OK;
}

/* KL(P || Q) with Q from the last gradient's numerators and z. */
static double kl_divergence(const tsne_state *s, const double *y)
{
	double kl = 0;
	int64_t n = s->n;
	if (s->exact) {
		for (int64_t i = 0; i < n; i++)
			for (int64_t j = 0; j < n; j++) {
				double p = s->P[i * n + j];
				if (p > 0 && j != i)
					kl += p * log(p / fmax(s->num[i * n + j] / s->z,
							       DBL_MIN));
			}
		return kl;
	}
	for (int64_t i = 0; i < n; i++)
		for (int64_t e = s->sp.row[i]; e < s->sp.row[i + 1]; e++) {
			int64_t j = s->sp.col[e];
			double dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1];
			double q = 1 / (1 + dx * dx + dy * dy) / s->z;
			double p = s->sp.val[e];
			if (p > 0)
				kl += p * log(p / fmax(q, DBL_MIN));
		}
	return kl;
}

static void state_free(tsne_state *s)
{
	free(s->P);
	free(s->num);
	free(s->px);
	free(s->py);
	free(s->sp.row);
	free(s->sp.col);
	free(s->sp.val);
	free(s->qt.node);
	free(s->qt.next);
	free(s->rep);
	free(s->zrow);
}

int embed_tsne(const float *x, int64_t n, int64_t d, const tsne_options *o,
	       double *y, double *kl_out, sc_error *err)
{
	if (n < 2 || n > EMBED_MAX_POINTS || d < 1)
		return sc_fail(err, SC_EINVAL, "t-SNE: needs 2 to %d points, got "
			       "%lld of %lld dims", EMBED_MAX_POINTS, (long long)n,
			       (long long)d);
	if (!(o->perplexity > 0) || o->iterations < 1 || o->iterations > 100000 ||
	    o->theta < 0 || o->theta > 1 || o->learning_rate < 0 ||
	    !(o->exaggeration >= 1) || o->exaggeration_iters < 0)
		return sc_fail(err, SC_EINVAL, "t-SNE: bad options (perplexity > 0, "
			       "1 <= iterations <= 100000, theta in [0, 1], "
			       "exaggeration >= 1)");
	tsne_state s = {0};
	s.n = n;
	s.exact = tsne_is_exact(o, n);
	s.theta = o->theta;
	if (s.exact && n > TSNE_EXACT_LIMIT)
		return sc_fail(err, SC_EINVAL, "t-SNE: the exact gradient takes at "
			       "most %d points (%lld given); use theta > 0",
			       TSNE_EXACT_LIMIT, (long long)n);
	double perp = tsne_perplexity(o, n);
	int rc;
	double scale = input_scale(x, n, d, err, &rc);
	if (rc)
		return rc;
	double *uy = calloc((size_t)(2 * n), sizeof *uy);
	double *gains = malloc(sizeof *gains * (size_t)(2 * n));
	double *g = malloc(sizeof *g * (size_t)(2 * n));
	s.zrow = malloc(sizeof *s.zrow * (size_t)n);
	if (!uy || !gains || !g || !s.zrow) {
		rc = sc_fail(err, SC_ENOMEM, "t-SNE: out of memory");
		goto out;
	}
	if (s.exact) {
		s.P = malloc(sizeof *s.P * (size_t)(n * n));
		s.num = malloc(sizeof *s.num * (size_t)(n * n));
		s.px = malloc(sizeof *s.px * (size_t)n);
		s.py = malloc(sizeof *s.py * (size_t)n);
		if (!s.P || !s.num || !s.px || !s.py) {
			rc = sc_fail(err, SC_ENOMEM, "t-SNE: out of memory for %lld x "
				     "%lld affinities", (long long)n, (long long)n);
			goto out;
		}
		rc = exact_affinities(x, n, d, scale, perp, s.P, err);
	} else {
		s.rep = malloc(sizeof *s.rep * (size_t)(2 * n));
		s.qt.next = malloc(sizeof *s.qt.next * (size_t)n);
		if (!s.rep || !s.qt.next) {
			rc = sc_fail(err, SC_ENOMEM, "t-SNE: out of memory");
			goto out;
		}
		rc = sparse_affinities(x, n, d, scale, perp, &s.sp, err);
	}
	if (rc)
		goto out;
	rng r;
	rng_init(&r, o->seed, 0x75e);
	for (int64_t i = 0; i < 2 * n; i++) {
		y[i] = 1e-4 * rng_normal(&r);
		gains[i] = 1;
	}
	double eta = o->learning_rate > 0 ? o->learning_rate :
		     fmax((double)n / o->exaggeration / 4, 50);
	double kl = NAN;
	for (int it = 0; it < o->iterations; it++) {
		int early = it < o->exaggeration_iters;
		double exag = early ? o->exaggeration : 1;
		double momentum = early ? 0.5 : 0.8;
		if (s.exact)
			exact_gradient(&s, y, exag, g);
		else if ((rc = bh_gradient(&s, y, exag, g, err)))
			goto out;
		for (int64_t i = 0; i < 2 * n; i++) {
			/* delta-bar-delta gains, as bhtsne */
			gains[i] = (g[i] > 0) != (uy[i] > 0) ? gains[i] + 0.2 :
				   gains[i] * 0.8;
			if (gains[i] < 0.01)
				gains[i] = 0.01;
			uy[i] = momentum * uy[i] - eta * gains[i] * g[i];
			y[i] += uy[i];
		}
		double mx = 0, my = 0;
		for (int64_t i = 0; i < n; i++) {
			mx += y[2 * i];
			my += y[2 * i + 1];
		}
		mx /= (double)n;
		my /= (double)n;
		for (int64_t i = 0; i < n; i++) {
			y[2 * i] -= mx;
			y[2 * i + 1] -= my;
		}
		int last = it + 1 == o->iterations;
		int every = o->progress_every > 0 ? o->progress_every : 50;
		if (((it + 1) % every == 0 || last) && (o->progress || (last && kl_out))) {
			/* Q at the new layout */
			if (s.exact)
				exact_gradient(&s, y, 1, g);
			else if ((rc = bh_gradient(&s, y, 1, g, err)))
				goto out;
			kl = kl_divergence(&s, y);
			if (o->progress)
				o->progress(o->progress_ctx, it + 1, o->iterations, kl);
		}
	}
	if (kl_out)
		*kl_out = kl;
out:
	free(uy);
	free(gains);
	free(g);
	state_free(&s);
	return rc;
}
