/* embed.h: the numbers behind `supcon embed` and the cluster metrics of
 * a run: PCA, t-SNE (exact and Barnes-Hut), silhouette score and k-NN
 * accuracy of a set of feature vectors.
 *
 * Inputs are n rows of d floats (row-major), labels in [0, classes).  The
 * caller owns every buffer; functions that need working memory allocate
 * it and return SC_ENOMEM (with a message) when they cannot.  Everything
 * is deterministic: the same inputs and seed give the same bytes, on any
 * thread count (parallel loops write per-row results that are summed in a
 * fixed order). */
#ifndef SUPCON_RUN_EMBED_H
#define SUPCON_RUN_EMBED_H

#include <stdint.h>

#include "runtime/status.h"

/* Largest n the pairwise metrics and t-SNE accept (they are O(n^2)). */
#define EMBED_MAX_POINTS 100000

/* --- PCA ------------------------------------------------------------------- */

/* The top k principal components of x (centred by its column means):
 * out (n x k) receives the projections, components (k x d, may be NULL)
 * the unit directions and explained (k, may be NULL) the fraction of the
 * total variance each explains.  Components come from the covariance
 * matrix: Jacobi's eigenvalue method when d <= EMBED_PCA_JACOBI_MAX,
 * otherwise subspace iteration with Rayleigh-Ritz (Jacobi on the small
 * projected matrix).  Sign convention: the entry of largest magnitude of
 * each component is positive.  1 <= k <= min(d, 16). */
#define EMBED_PCA_JACOBI_MAX 64
int embed_pca(const float *x, int64_t n, int64_t d, int k, double *out,
	      double *components, double *explained, sc_error *err);

/* --- t-SNE ----------------------------------------------------------------- */

typedef void (*tsne_progress_fn)(void *ctx, int iter, int total, double kl);

typedef struct tsne_options {
	double perplexity;      /* 30; lowered to (n - 1) / 3 for small n */
	int iterations;         /* 1000 */
	double theta;           /* Barnes-Hut opening angle 0.5; 0 = exact always */
	int64_t exact_max;      /* exact gradient up to this many points (1000) */
	double learning_rate;   /* 0 = auto: max(n / exaggeration / 4, 50) */
	double exaggeration;    /* early exaggeration 12 ... */
	int exaggeration_iters; /* ... for the first 250 iterations */
	uint64_t seed;          /* the initial layout */
	tsne_progress_fn progress;  /* every progress_every iterations and at the end */
	void *progress_ctx;
	int progress_every;     /* 50 */
} tsne_options;

/* The largest n the exact path accepts (dense n x n matrices). */
#define TSNE_EXACT_LIMIT 4096

void tsne_options_init(tsne_options *o);

/* The perplexity embed_tsne() really uses for n points. */
double tsne_perplexity(const tsne_options *o, int64_t n);

/* 1 when embed_tsne() takes the exact path for n points. */
int tsne_is_exact(const tsne_options *o, int64_t n);

/* t-SNE of x into y (n x 2 doubles), as van der Maaten's bhtsne:
 * input centred and scaled to max |x| = 1; Gaussian affinities with a
 * binary search on the precision for the perplexity (all pairs in the
 * exact path, the floor(3 * perplexity) nearest neighbours in the
 * Barnes-Hut path), symmetrised; Student-t similarities in 2-D; gradient
 * descent with momentum 0.5 then 0.8, gains, early exaggeration, from a
 * N(0, 1e-4) layout drawn with rng(seed).  Barnes-Hut approximates the
 * repulsive forces with a quadtree.  If kl is not NULL it receives the
 * final Kullback-Leibler divergence (the Barnes-Hut estimate there). */
int embed_tsne(const float *x, int64_t n, int64_t d, const tsne_options *o,
	       double *y, double *kl, sc_error *err);

/* --- cluster metrics ------------------------------------------------------- */

/* Mean silhouette coefficient with Euclidean distances (sklearn's
 * silhouette_score): s(i) = (b - a) / max(a, b) with a the mean distance
 * to the other members of i's class and b the smallest mean distance to
 * another class; s(i) = 0 for a class of one.  NaN when fewer than two
 * classes are present. */
int embed_silhouette(const float *x, int64_t n, int64_t d,
		     const int32_t *labels, int64_t classes, double *score,
		     sc_error *err);

/* Leave-one-out k-NN accuracy: each point is classified by a majority
 * vote of its k nearest other points (Euclidean; equal distances go to
 * the lower index); a tied vote goes to the tied class whose member is
 * nearest. */
int embed_knn_accuracy(const float *x, int64_t n, int64_t d,
		       const int32_t *labels, int64_t classes, int k,
		       double *accuracy, sc_error *err);

/* For every point, its k nearest other points in increasing distance
 * (equal distances: lower index first): idx and d2 (squared distances,
 * may be NULL) are n x k.  1 <= k <= n - 1. */
int embed_nearest(const float *x, int64_t n, int64_t d, int k, int64_t *idx,
		  double *d2, sc_error *err);

/* Scales every row to unit L2 norm in place (rows of zeros stay zero). */
void embed_l2_normalize(float *x, int64_t n, int64_t d);

/* Doubles to floats (2-D outputs into the metrics above). */
void embed_to_float(const double *src, int64_t count, float *dst);

#endif
