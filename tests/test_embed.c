/* test_embed.c: the numbers behind `supcon embed` (runtime/run/embed_math.c,
 * runtime/run/tsne.c, in supcon_core).
 *
 *   PCA         against numpy's eigh on fixed data, both the Jacobi path
 *               (d <= 64) and subspace iteration (d > 64), up to sign;
 *   silhouette  and leave-one-out k-NN accuracy against numpy
 *               (tests/make_golden_embed.py wrote tests/data/embed/);
 *   t-SNE       well-separated clusters stay separated in 2-D (k-NN
 *               accuracy >= 0.95) on the exact and the Barnes-Hut path;
 *               the layout is the same bytes twice, and on 1 or 2 threads;
 *               the KL divergence falls. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "runtime/rng.h"
#include "runtime/run/embed.h"

#define DATA SUPCON_TEST_DATA "/embed"

/* --- golden files ------------------------------------------------------------ */

typedef struct golden {
	FILE *f;
	char path[512];
} golden;

static void golden_open(golden *g, const char *name)
{
	snprintf(g->path, sizeof g->path, "%s/%s", DATA, name);
	g->f = fopen(g->path, "r");
	if (!g->f)
		fail_msg("cannot open %s (tests/make_golden_embed.py writes it)", g->path);
	char line[512];
	assert_non_null(fgets(line, sizeof line, g->f));     /* the comment */
}

static double golden_num(golden *g)
{
	double v;
	if (fscanf(g->f, "%lf", &v) != 1)
		fail_msg("%s: short file", g->path);
	return v;
}

static void check_pca(const char *name)
{
	golden g;
	golden_open(&g, name);
	int n = (int)golden_num(&g), d = (int)golden_num(&g), k = (int)golden_num(&g);
	float *x = malloc(sizeof *x * (size_t)(n * d));
	double *proj = malloc(sizeof *proj * (size_t)(n * k));
	double *comp = malloc(sizeof *comp * (size_t)(k * d));
	double expl[16];
	assert_non_null(x);
	assert_non_null(proj);
	assert_non_null(comp);
	for (int i = 0; i < n * d; i++)
		x[i] = (float)golden_num(&g);
	sc_error err = {0};
	assert_int_equal(embed_pca(x, n, d, k, proj, comp, expl, &err), SC_OK);
	for (int j = 0; j < k; j++) {
		double want = golden_num(&g);
		if (fabs(expl[j] - want) > 1e-9 + 1e-7 * want)
			fail_msg("%s: explained[%d] %.12g, numpy %.12g", name, j,
				 expl[j], want);
	}
	/* components up to sign: the sign is fixed by the same rule on both
	 * sides, but a tie of magnitudes could flip it legitimately */
	double sign[16];
	for (int j = 0; j < k; j++) {
		double dot = 0;
		double *want = malloc(sizeof *want * (size_t)d);
		assert_non_null(want);
		for (int t = 0; t < d; t++) {
			want[t] = golden_num(&g);
			dot += want[t] * comp[j * d + t];
		}
		sign[j] = dot < 0 ? -1 : 1;
		for (int t = 0; t < d; t++)
			if (fabs(sign[j] * comp[j * d + t] - want[t]) > 1e-6)
				fail_msg("%s: component %d[%d] %.9g, numpy %.9g", name, j,
					 t, comp[j * d + t], want[t]);
		free(want);
	}
	for (int i = 0; i < n; i++)
		for (int j = 0; j < k; j++) {
			double want = golden_num(&g);
			if (fabs(sign[j] * proj[i * k + j] - want) > 1e-5 * (1 + fabs(want)))
				fail_msg("%s: projection [%d, %d] %.9g, numpy %.9g", name,
					 i, j, proj[i * k + j], want);
		}
	fclose(g.f);
	free(x);
	free(proj);
	free(comp);
}

static void test_pca_jacobi(void **state)
{
	(void)state;
	check_pca("pca_small.txt");
}

static void test_pca_subspace(void **state)
{
	(void)state;
	check_pca("pca_wide.txt");
}

static void test_pca_bad_input(void **state)
{
	(void)state;
	float x[6] = {0};
	double out[6];
	sc_error err = {0};
	assert_int_equal(embed_pca(x, 3, 2, 3, out, NULL, NULL, &err), SC_EINVAL);
	assert_int_equal(embed_pca(x, 1, 6, 1, out, NULL, NULL, &err), SC_EINVAL);
}

static void test_metrics_golden(void **state)
{
	(void)state;
	golden g;
	golden_open(&g, "metrics.txt");
	int n = (int)golden_num(&g), d = (int)golden_num(&g);
	int classes = (int)golden_num(&g), k = (int)golden_num(&g);
	float *x = malloc(sizeof *x * (size_t)(n * d));
	int32_t *y = malloc(sizeof *y * (size_t)n);
	assert_non_null(x);
	assert_non_null(y);
	for (int i = 0; i < n; i++) {
		y[i] = (int32_t)golden_num(&g);
		for (int t = 0; t < d; t++)
			x[i * d + t] = (float)golden_num(&g);
	}
	double sil_want = golden_num(&g), knn_want = golden_num(&g);
	double sil, knn;
	sc_error err = {0};
	assert_int_equal(embed_silhouette(x, n, d, y, classes, &sil, &err), SC_OK);
	assert_int_equal(embed_knn_accuracy(x, n, d, y, classes, k, &knn, &err), SC_OK);
	if (fabs(sil - sil_want) > 1e-9)
		fail_msg("silhouette %.12g, numpy %.12g", sil, sil_want);
	if (fabs(knn - knn_want) > 1e-12)
		fail_msg("k-NN accuracy %.12g, numpy %.12g", knn, knn_want);
	/* a bad label is refused, naming the point */
	y[3] = classes;
	assert_int_equal(embed_silhouette(x, n, d, y, classes, &sil, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "point 3"));
	free(x);
	free(y);
}

/* --- synthetic clusters --------------------------------------------------------- */

/* n points in d dims, `classes` Gaussian clusters of std 1 around centres
 * `sep` apart along random directions. */
static void clusters(float *x, int32_t *y, int n, int d, int classes,
		     double sep, uint64_t seed)
{
	rng r;
	rng_init(&r, seed, 1);
	double *centre = malloc(sizeof *centre * (size_t)(classes * d));
	assert_non_null(centre);
	for (int c = 0; c < classes * d; c++)
		centre[c] = sep * rng_normal(&r);
	for (int i = 0; i < n; i++) {
		y[i] = i % classes;
		for (int t = 0; t < d; t++)
			x[i * d + t] = (float)(centre[y[i] * d + t] + rng_normal(&r));
	}
	free(centre);
}

static void test_metrics_separation(void **state)
{
	(void)state;
	enum { N = 200, D = 10 };
	float *x = malloc(sizeof *x * N * D);
	int32_t y[N];
	assert_non_null(x);
	clusters(x, y, N, D, 4, 8, 3);
	double sil, knn, sil_shuffled, knn_shuffled;
	sc_error err = {0};
	assert_int_equal(embed_silhouette(x, N, D, y, 4, &sil, &err), SC_OK);
	assert_int_equal(embed_knn_accuracy(x, N, D, y, 4, 5, &knn, &err), SC_OK);
	/* labels that ignore the clusters */
	int32_t z[N];
	for (int i = 0; i < N; i++)
		z[i] = (i / 4) % 4;
	assert_int_equal(embed_silhouette(x, N, D, z, 4, &sil_shuffled, &err), SC_OK);
	assert_int_equal(embed_knn_accuracy(x, N, D, z, 4, 5, &knn_shuffled, &err),
			 SC_OK);
	assert_true(sil > 0.6);
	assert_true(knn == 1.0);
	assert_true(fabs(sil_shuffled) < 0.1);
	assert_true(knn_shuffled < 0.5);
	/* one class only: no silhouette */
	int32_t one[N] = {0};
	assert_int_equal(embed_silhouette(x, N, D, one, 1, &sil, &err), SC_OK);
	assert_true(isnan(sil));
	free(x);
}

typedef struct kl_trace {
	double first, last;
	int calls;
} kl_trace;

static void record_kl(void *ctx, int iter, int total, double kl)
{
	kl_trace *t = ctx;
	(void)iter;
	(void)total;
	if (!t->calls++)
		t->first = kl;
	t->last = kl;
}

static void check_tsne(int n, int exact)
{
	enum { D = 20, K = 5 };
	float *x = malloc(sizeof *x * (size_t)(n * D));
	int32_t *y = malloc(sizeof *y * (size_t)n);
	double *a = malloc(sizeof *a * (size_t)(2 * n));
	double *b = malloc(sizeof *b * (size_t)(2 * n));
	float *af = malloc(sizeof *af * (size_t)(2 * n));
	assert_non_null(x);
	assert_non_null(y);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(af);
	clusters(x, y, n, D, K, 4, 11);
	tsne_options o;
	tsne_options_init(&o);
	o.seed = 5;
	o.perplexity = 20;
	o.iterations = 500;
	if (!exact)
		o.exact_max = 0;
	assert_int_equal(tsne_is_exact(&o, n), exact);
	kl_trace tr = {0};
	o.progress = record_kl;
	o.progress_ctx = &tr;
	sc_error err = {0};
	double kl;
	assert_int_equal(embed_tsne(x, n, D, &o, a, &kl, &err), SC_OK);
	assert_int_equal(tr.calls, 10);
	assert_true(tr.last < tr.first);
	assert_true(kl == tr.last);
	embed_to_float(a, 2 * n, af);
	double acc;
	assert_int_equal(embed_knn_accuracy(af, n, 2, y, K, 5, &acc, &err), SC_OK);
	if (acc < 0.95)
		fail_msg("t-SNE (%s, n %d): k-NN accuracy of the layout %.3f < 0.95",
			 exact ? "exact" : "Barnes-Hut", n, acc);
	/* deterministic: the same bytes again, without progress, and on one
	 * thread */
	o.progress = NULL;
#ifdef _OPENMP
	int threads = omp_get_max_threads();
	omp_set_num_threads(1);
#endif
	assert_int_equal(embed_tsne(x, n, D, &o, b, NULL, &err), SC_OK);
#ifdef _OPENMP
	omp_set_num_threads(threads);
#endif
	assert_memory_equal(a, b, sizeof *a * (size_t)(2 * n));
	/* another seed gives another layout */
	o.seed = 6;
	assert_int_equal(embed_tsne(x, n, D, &o, b, NULL, &err), SC_OK);
	assert_true(memcmp(a, b, sizeof *a * (size_t)(2 * n)) != 0);
	free(x);
	free(y);
	free(a);
	free(b);
	free(af);
}

static void test_tsne_exact(void **state)
{
	(void)state;
	check_tsne(300, 1);
}

static void test_tsne_barnes_hut(void **state)
{
	(void)state;
	check_tsne(700, 0);
}

static void test_tsne_options(void **state)
{
	(void)state;
	float x[40] = {0};
	double y[40];
	tsne_options o;
	tsne_options_init(&o);
	assert_true(tsne_perplexity(&o, 10) == 3);
	assert_true(tsne_perplexity(&o, 1000) == 30);
	sc_error err = {0};
	o.iterations = 0;
	assert_int_equal(embed_tsne(x, 10, 4, &o, y, NULL, &err), SC_EINVAL);
	tsne_options_init(&o);
	o.theta = 0;
	assert_int_equal(embed_tsne(x, TSNE_EXACT_LIMIT + 1, 4, &o, y, NULL, &err),
			 SC_EINVAL);
	assert_non_null(strstr(err.msg, "exact"));
	/* identical points: no NaN */
	tsne_options_init(&o);
	o.iterations = 100;
	assert_int_equal(embed_tsne(x, 10, 4, &o, y, NULL, &err), SC_OK);
	for (int i = 0; i < 20; i++)
		assert_true(isfinite(y[i]));
	o.exact_max = 0;
	assert_int_equal(embed_tsne(x, 10, 4, &o, y, NULL, &err), SC_OK);
	for (int i = 0; i < 20; i++)
		assert_true(isfinite(y[i]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pca_jacobi),
		cmocka_unit_test(test_pca_subspace),
		cmocka_unit_test(test_pca_bad_input),
		cmocka_unit_test(test_metrics_golden),
		cmocka_unit_test(test_metrics_separation),
		cmocka_unit_test(test_tsne_exact),
		cmocka_unit_test(test_tsne_barnes_hut),
		cmocka_unit_test(test_tsne_options),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
