/* embed_math.c: PCA and the cluster metrics (silhouette, k-NN accuracy);
 * see embed.h.  Distances and sums are in double precision. */
#include "embed.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/rng.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* --- symmetric eigenproblems ------------------------------------------------ */

/* Cyclic Jacobi on the symmetric m x m matrix a (overwritten): w gets the
 * eigenvalues in descending order, the columns of v (m x m) the
 * eigenvectors.  Rotations continue until the off-diagonal mass is below
 * 1e-30 of the total or 100 sweeps have run. */
static void jacobi_eigen(double *a, int m, double *w, double *v)
{
	for (int i = 0; i < m; i++)
		for (int j = 0; j < m; j++)
			v[i * m + j] = i == j;
	double total = 0;
	for (int i = 0; i < m * m; i++)
		total += a[i] * a[i];
	for (int sweep = 0; sweep < 100; sweep++) {
		double off = 0;
		for (int p = 0; p < m; p++)
			for (int q = p + 1; q < m; q++)
				off += 2 * a[p * m + q] * a[p * m + q];
		if (off <= 1e-30 * total || off == 0)
			break;
		for (int p = 0; p < m; p++)
			for (int q = p + 1; q < m; q++) {
				double apq = a[p * m + q];
				if (apq == 0)
					continue;
				double theta = (a[q * m + q] - a[p * m + p]) / (2 * apq);
				double t = (theta >= 0 ? 1 : -1) /
					   (fabs(theta) + sqrt(theta * theta + 1));
				double c = 1 / sqrt(t * t + 1), s = t * c;
				for (int k = 0; k < m; k++) {
					double akp = a[k * m + p], akq = a[k * m + q];
					a[k * m + p] = c * akp - s * akq;
					a[k * m + q] = s * akp + c * akq;
				}
				for (int k = 0; k < m; k++) {
					double apk = a[p * m + k], aqk = a[q * m + k];
					a[p * m + k] = c * apk - s * aqk;
					a[q * m + k] = s * apk + c * aqk;
				}
				for (int k = 0; k < m; k++) {
					double vkp = v[k * m + p], vkq = v[k * m + q];
					v[k * m + p] = c * vkp - s * vkq;
					v[k * m + q] = s * vkp + c * vkq;
				}
			}
	}
	for (int i = 0; i < m; i++)
		w[i] = a[i * m + i];
	/* selection sort, descending, moving the vectors along */
	for (int i = 0; i < m; i++) {
		int best = i;
		for (int j = i + 1; j < m; j++)
			if (w[j] > w[best])
				best = j;
		if (best == i)
			continue;
		double t = w[i];
		w[i] = w[best];
		w[best] = t;
		for (int k = 0; k < m; k++) {
			t = v[k * m + i];
			v[k * m + i] = v[k * m + best];
			v[k * m + best] = t;
		}
	}
}

/* Orthonormalises the p columns of q (d x p) by modified Gram-Schmidt,
 * twice for accuracy; a column that vanishes is replaced by a unit
 * vector (it cannot matter once the subspace has converged). */
static void orthonormalize(double *q, int64_t d, int p)
{
	for (int pass = 0; pass < 2; pass++)
		for (int j = 0; j < p; j++) {
			for (int i = 0; i < j; i++) {
				double dot = 0;
				for (int64_t r = 0; r < d; r++)
					dot += q[r * p + i] * q[r * p + j];
				for (int64_t r = 0; r < d; r++)
					q[r * p + j] -= dot * q[r * p + i];
			}
			double norm = 0;
			for (int64_t r = 0; r < d; r++)
				norm += q[r * p + j] * q[r * p + j];
			norm = sqrt(norm);
			if (norm < 1e-300) {
				for (int64_t r = 0; r < d; r++)
					q[r * p + j] = r == j % d;
				continue;
			}
			for (int64_t r = 0; r < d; r++)
				q[r * p + j] /= norm;
		}
}

/* Threads a parallel region gets, and the calling one's index in it:
 * per-thread scratch is sized by the first and picked by the second. */
static int team_size(void)
{
	int n = 1;
#ifdef _OPENMP
	#pragma omp parallel
	#pragma omp single
	n = omp_get_num_threads();
#endif
	return n;
}

static int team_member(void)
{
#ifdef _OPENMP
	return omp_get_thread_num();
#else
	return 0;
#endif
}

/* z = c q (d x p) and the projection b = q^T c q (p x p), whose
 * eigenvalues are the Ritz values of c on the span of q. */
static void project_ritz(const double *c, int64_t d, const double *q, int p,
			 double *z, double *b)
{
	for (int64_t i = 0; i < d; i++)
		for (int j = 0; j < p; j++) {
			double s = 0;
			for (int64_t t = 0; t < d; t++)
				s += c[i * d + t] * q[t * p + j];
			z[i * p + j] = s;
		}
	for (int i = 0; i < p; i++)
		for (int j = 0; j < p; j++) {
			double s = 0;
			for (int64_t t = 0; t < d; t++)
				s += q[t * p + i] * z[t * p + j];
			b[i * p + j] = s;
		}
}

/* The top k eigenpairs of the symmetric d x d matrix c (kept intact):
 * vec (d x k, columns), val (k). */
static int top_eigen(const double *c, int64_t d, int k, double *vec,
		     double *val, sc_error *err)
{
	if (d <= EMBED_PCA_JACOBI_MAX) {
		int m = (int)d;
		double *a = malloc(sizeof *a * (size_t)(m * m));
		double *v = malloc(sizeof *v * (size_t)(m * m));
		double *w = malloc(sizeof *w * (size_t)m);
		if (!a || !v || !w) {
			free(a);
			free(v);
			free(w);
			return sc_fail(err, SC_ENOMEM, "PCA: out of memory");
		}
		memcpy(a, c, sizeof *a * (size_t)(m * m));
		jacobi_eigen(a, m, w, v);
		for (int j = 0; j < k; j++) {
			val[j] = w[j];
			for (int r = 0; r < m; r++)
				vec[r * k + j] = v[r * m + j];
		}
		free(a);
		free(v);
		free(w);
		return SC_OK;
	}
	/* subspace iteration on p > k columns, then Rayleigh-Ritz */
	int p = k + 10 < d ? k + 10 : (int)d;
	double *q = malloc(sizeof *q * (size_t)(d * p));
	double *z = malloc(sizeof *z * (size_t)(d * p));
	double *b = malloc(sizeof *b * (size_t)(p * p));
	double *v = malloc(sizeof *v * (size_t)(p * p));
	double *w = malloc(sizeof *w * (size_t)p);
	double *prev = calloc((size_t)p, sizeof *prev);
	if (!q || !z || !b || !v || !w || !prev) {
		free(q);
		free(z);
		free(b);
		free(v);
		free(w);
		free(prev);
		return sc_fail(err, SC_ENOMEM, "PCA: out of memory");
	}
	rng r;
	rng_init(&r, 0x9ca, 0);
	for (int64_t i = 0; i < d * p; i++)
		q[i] = rng_normal(&r);
	orthonormalize(q, d, p);
	for (int it = 0; it < 3000; it++) {
		/* Ritz values, for the convergence test */
		project_ritz(c, d, q, p, z, b);
		jacobi_eigen(b, p, w, v);
		double change = 0;
		for (int j = 0; j < k; j++)
			change = fmax(change, fabs(w[j] - prev[j]) /
					      fmax(fabs(w[0]), 1e-300));
		memcpy(prev, w, sizeof *w * (size_t)p);
		memcpy(q, z, sizeof *q * (size_t)(d * p));
		orthonormalize(q, d, p);
		if (it > 10 && change < 1e-15)
			break;
	}
	/* Rayleigh-Ritz on the converged basis */
	project_ritz(c, d, q, p, z, b);
	/* symmetrise away rounding before Jacobi */
	for (int i = 0; i < p; i++)
		for (int j = i + 1; j < p; j++)
			b[i * p + j] = b[j * p + i] = (b[i * p + j] + b[j * p + i]) / 2;
	jacobi_eigen(b, p, w, v);
	for (int j = 0; j < k; j++) {
		val[j] = w[j];
		for (int64_t i = 0; i < d; i++) {
			double s = 0;
			for (int t = 0; t < p; t++)
				s += q[i * p + t] * v[t * p + j];
			vec[i * k + j] = s;
		}
	}
	free(q);
	free(z);
	free(b);
	free(v);
	free(w);
	free(prev);
	return SC_OK;
}

int embed_pca(const float *x, int64_t n, int64_t d, int k, double *out,
	      double *components, double *explained, sc_error *err)
{
	if (n < 2 || d < 1 || n > EMBED_MAX_POINTS || d > 65536)
		return sc_fail(err, SC_EINVAL, "PCA: needs 2 to %d points of 1 to "
			       "65536 dims, got %lld x %lld", EMBED_MAX_POINTS,
			       (long long)n, (long long)d);
	if (k < 1 || k > 16 || k > d)
		return sc_fail(err, SC_EINVAL, "PCA: %d components of %lld dims",
			       k, (long long)d);
	double *mean = calloc((size_t)d, sizeof *mean);
	double *cov = calloc((size_t)(d * d), sizeof *cov);
	double *row = malloc(sizeof *row * (size_t)d);
	double *vec = malloc(sizeof *vec * (size_t)(d * k));
	double val[16];
	if (!mean || !cov || !row || !vec) {
		free(mean);
		free(cov);
		free(row);
		free(vec);
		return sc_fail(err, SC_ENOMEM, "PCA: out of memory for a %lld x %lld "
			       "covariance", (long long)d, (long long)d);
	}
	for (int64_t i = 0; i < n; i++)
		for (int64_t j = 0; j < d; j++)
			mean[j] += x[i * d + j];
	for (int64_t j = 0; j < d; j++)
		mean[j] /= (double)n;
	/* upper triangle of X^T X, centred */
	for (int64_t i = 0; i < n; i++) {
		for (int64_t j = 0; j < d; j++)
			row[j] = x[i * d + j] - mean[j];
		for (int64_t a = 0; a < d; a++) {
			double ra = row[a];
			double *ca = cov + a * d;
			for (int64_t b = a; b < d; b++)
				ca[b] += ra * row[b];
		}
	}
	double trace = 0;
	for (int64_t a = 0; a < d; a++) {
		for (int64_t b = a; b < d; b++) {
			cov[a * d + b] /= (double)(n - 1);
			cov[b * d + a] = cov[a * d + b];
		}
		trace += cov[a * d + a];
	}
	int rc = top_eigen(cov, d, k, vec, val, err);
	if (!rc) {
		for (int j = 0; j < k; j++) {
			/* the sign: largest-magnitude entry positive */
			int64_t big = 0;
			for (int64_t i = 1; i < d; i++)
				if (fabs(vec[i * k + j]) > fabs(vec[big * k + j]))
					big = i;
			if (vec[big * k + j] < 0)
				for (int64_t i = 0; i < d; i++)
					vec[i * k + j] = -vec[i * k + j];
			if (explained)
				explained[j] = trace > 0 ? fmax(val[j], 0) / trace : 0;
			if (components)
				for (int64_t i = 0; i < d; i++)
					components[j * d + i] = vec[i * k + j];
		}
		for (int64_t i = 0; i < n; i++)
			for (int j = 0; j < k; j++) {
				double s = 0;
				for (int64_t t = 0; t < d; t++)
					s += (x[i * d + t] - mean[t]) * vec[t * k + j];
				out[i * k + j] = s;
			}
	}
	free(mean);
	free(cov);
	free(row);
	free(vec);
	return rc;
}

/* --- cluster metrics -------------------------------------------------------- */

static double dist2(const float *a, const float *b, int64_t d)
{
	double s = 0;
	for (int64_t t = 0; t < d; t++) {
		double v = (double)a[t] - (double)b[t];
		s += v * v;
	}
	return s;
}

static int check_points(const char *what, int64_t n, int64_t d,
			const int32_t *labels, int64_t classes, sc_error *err)
{
	if (n < 1 || n > EMBED_MAX_POINTS || d < 1)
		return sc_fail(err, SC_EINVAL, "%s: needs 1 to %d points, got %lld "
			       "of %lld dims", what, EMBED_MAX_POINTS, (long long)n,
			       (long long)d);
	if (classes < 1 || classes > 1 << 20)
		return sc_fail(err, SC_EINVAL, "%s: %lld classes", what,
			       (long long)classes);
	for (int64_t i = 0; i < n; i++)
		if (labels[i] < 0 || labels[i] >= classes)
			return sc_fail(err, SC_EINVAL, "%s: label %d of point %lld is "
				       "outside [0, %lld)", what, labels[i],
				       (long long)i, (long long)classes);
	return SC_OK;
}

int embed_silhouette(const float *x, int64_t n, int64_t d,
		     const int32_t *labels, int64_t classes, double *score,
		     sc_error *err)
{
	*score = NAN;
	int rc = check_points("silhouette", n, d, labels, classes, err);
	if (rc)
		return rc;
	int64_t *size = calloc((size_t)classes, sizeof *size);
	double *s = malloc(sizeof *s * (size_t)n);
	int nthreads = team_size();
	double *sums = calloc((size_t)(classes * nthreads), sizeof *sums);
	if (!size || !s || !sums) {
		free(size);
		free(s);
		free(sums);
		return sc_fail(err, SC_ENOMEM, "silhouette: out of memory");
	}
	for (int64_t i = 0; i < n; i++)
		size[labels[i]]++;
	int present = 0;
	for (int64_t c = 0; c < classes; c++)
		present += size[c] > 0;
	if (present < 2) {
		free(size);
		free(s);
		free(sums);
		return SC_OK;
	}
	#pragma omp parallel for schedule(dynamic, 16) num_threads(nthreads)
	for (int64_t i = 0; i < n; i++) {
		int tid = team_member();
		double *sum = sums + (int64_t)tid * classes;
		memset(sum, 0, sizeof *sum * (size_t)classes);
		for (int64_t j = 0; j < n; j++)
			if (j != i)
				sum[labels[j]] += sqrt(dist2(x + i * d, x + j * d, d));
		int32_t own = labels[i];
		if (size[own] < 2) {
			s[i] = 0;
			continue;
		}
		double a = sum[own] / (double)(size[own] - 1), b = INFINITY;
		for (int64_t c = 0; c < classes; c++)
			if (c != own && size[c] > 0)
				b = fmin(b, sum[c] / (double)size[c]);
		double m = fmax(a, b);
		s[i] = m > 0 ? (b - a) / m : 0;
	}
	double total = 0;
	for (int64_t i = 0; i < n; i++)
		total += s[i];
	*score = total / (double)n;
	free(size);
	free(s);
	free(sums);
	return SC_OK;
}

/* (distance, index) pairs: nearer first, then the lower index */
typedef struct neighbour {
	double d;
	int64_t j;
} neighbour;

static int nb_worse(const neighbour *a, const neighbour *b)
{
	return a->d > b->d || (a->d == b->d && a->j > b->j);
}

/* Keeps the k best of a stream in a max-heap (worst at the top). */
static void heap_offer(neighbour *h, int *len, int k, neighbour v)
{
	if (*len < k) {
		int i = (*len)++;
		h[i] = v;
		while (i > 0 && nb_worse(&h[i], &h[(i - 1) / 2])) {
			neighbour t = h[i];
			h[i] = h[(i - 1) / 2];
			h[(i - 1) / 2] = t;
			i = (i - 1) / 2;
		}
		return;
	}
	if (!nb_worse(&h[0], &v))
		return;
	h[0] = v;
	for (int i = 0;;) {
		int l = 2 * i + 1, r = l + 1, m = i;
		if (l < k && nb_worse(&h[l], &h[m]))
			m = l;
		if (r < k && nb_worse(&h[r], &h[m]))
			m = r;
		if (m == i)
			break;
		neighbour t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

static int nb_cmp(const void *a, const void *b)
{
	const neighbour *x = a, *y = b;
	return nb_worse(x, y) ? 1 : nb_worse(y, x) ? -1 : 0;
}

int embed_nearest(const float *x, int64_t n, int64_t d, int k, int64_t *idx,
		  double *d2, sc_error *err)
{
	if (n < 2 || n > EMBED_MAX_POINTS || d < 1 || k < 1 || k > n - 1)
		return sc_fail(err, SC_EINVAL, "nearest neighbours: %d of %lld "
			       "points", k, (long long)n);
	int nthreads = team_size();
	neighbour *heaps = malloc(sizeof *heaps * (size_t)k * (size_t)nthreads);
	if (!heaps)
		return sc_fail(err, SC_ENOMEM, "nearest neighbours: out of memory");
	#pragma omp parallel for schedule(dynamic, 16) num_threads(nthreads)
	for (int64_t i = 0; i < n; i++) {
		int tid = team_member();
		neighbour *h = heaps + (int64_t)tid * k;
		int len = 0;
		for (int64_t j = 0; j < n; j++)
			if (j != i)
				heap_offer(h, &len, k, (neighbour){
					dist2(x + i * d, x + j * d, d), j});
		qsort(h, (size_t)len, sizeof *h, nb_cmp);
		for (int t = 0; t < k; t++) {
			idx[i * k + t] = h[t].j;
			if (d2)
				d2[i * k + t] = h[t].d;
		}
	}
	free(heaps);
	return SC_OK;
}

int embed_knn_accuracy(const float *x, int64_t n, int64_t d,
		       const int32_t *labels, int64_t classes, int k,
		       double *accuracy, sc_error *err)
{
	*accuracy = NAN;
	int rc = check_points("k-NN", n, d, labels, classes, err);
	if (rc)
		return rc;
	if (n < 2)
		return sc_fail(err, SC_EINVAL, "k-NN: needs at least 2 points");
	if (k < 1 || k > 1000)
		return sc_fail(err, SC_EINVAL, "k-NN: k = %d is outside [1, 1000]", k);
	if (k > n - 1)
		k = (int)(n - 1);
	int64_t *idx = malloc(sizeof *idx * (size_t)n * (size_t)k);
	int64_t *vote = malloc(sizeof *vote * (size_t)classes);
	if (!idx || !vote) {
		free(idx);
		free(vote);
		return sc_fail(err, SC_ENOMEM, "k-NN: out of memory");
	}
	rc = embed_nearest(x, n, d, k, idx, NULL, err);
	int64_t hits = 0;
	for (int64_t i = 0; !rc && i < n; i++) {
		const int64_t *nb = idx + i * k;
		memset(vote, 0, sizeof *vote * (size_t)classes);
		int64_t best = 0;
		for (int t = 0; t < k; t++)
			vote[labels[nb[t]]]++;
		for (int64_t c = 1; c < classes; c++)
			if (vote[c] > vote[best])
				best = c;
		/* a tie goes to the tied class with the nearest member */
		for (int t = 0; t < k; t++)
			if (vote[labels[nb[t]]] == vote[best]) {
				best = labels[nb[t]];
				break;
			}
		hits += best == labels[i];
	}
	if (!rc)
		*accuracy = (double)hits / (double)n;
	free(idx);
	free(vote);
	return rc;
}

void embed_l2_normalize(float *x, int64_t n, int64_t d)
{
	for (int64_t i = 0; i < n; i++) {
		double s = 0;
		for (int64_t t = 0; t < d; t++)
			s += (double)x[i * d + t] * x[i * d + t];
		s = sqrt(s);
		if (s > 0)
			for (int64_t t = 0; t < d; t++)
				x[i * d + t] = (float)(x[i * d + t] / s);
	}
}

void embed_to_float(const double *src, int64_t count, float *dst)
{
	for (int64_t i = 0; i < count; i++)
		dst[i] = (float)src[i];
}
