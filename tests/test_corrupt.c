/* test_corrupt.c: the common corruptions of runtime/data/corrupt.c.
 *
 *   golden      blur, contrast, brightness, pixelate and JPEG-like
 *               quantisation at every severity against numpy and PIL
 *               (tests/make_golden_corrupt.py), on a gray and an RGB image;
 *               the JPEG-like one also against PIL's real JPEG encoder,
 *               loosely (its integer DCT rounds differently);
 *   noise       Gaussian noise has the table's standard deviation, shot
 *               noise Poisson's mean and variance;
 *   seeding     the same seed and image index give the same bytes, in
 *               any order and on any thread; another seed or index does
 *               not;
 *   severity    on real images, the distance from the clean image grows
 *               with the severity for every corruption. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/data/corrupt.h"
#include "runtime/data/dataset.h"

#define GOLDEN SUPCON_TEST_DATA "/corrupt/golden.txt"
#define FMNIST "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"

typedef struct image {
	char name[32];
	int sev, c, h, w;
	uint8_t *px;
} image;

/* One golden line: "name severity c h w hex"; 0 at the end of the file. */
static int read_line(FILE *f, image *im)
{
	char hex[2 * 4096];
	if (fscanf(f, "%31s %d %d %d %d %8191s", im->name, &im->sev, &im->c, &im->h,
		   &im->w, hex) != 6)
		return 0;
	int n = im->c * im->h * im->w;
	assert_int_equal((int)strlen(hex), 2 * n);
	im->px = malloc((size_t)n);
	assert_non_null(im->px);
	for (int i = 0; i < n; i++) {
		unsigned v;
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		im->px[i] = (uint8_t)v;
	}
	return 1;
}

static void test_golden(void **state)
{
	(void)state;
	FILE *f = fopen(GOLDEN, "r");
	if (!f)
		fail_msg("cannot open %s (tests/make_golden_corrupt.py writes it)", GOLDEN);
	char comment[256];
	assert_non_null(fgets(comment, sizeof comment, f));
	image in = {0}, g;
	uint8_t out[4096];
	int checked = 0, pil = 0;
	while (read_line(f, &g)) {
		if (!strcmp(g.name, "input")) {
			free(in.px);
			in = g;
			continue;
		}
		int n = g.c * g.h * g.w;
		assert_int_equal(n, in.c * in.h * in.w);
		corrupt_kind k;
		sc_error err = {0};
		int is_pil = !strcmp(g.name, "pil_jpeg");
		assert_int_equal(corrupt_parse(is_pil ? "jpeg" : g.name, &k, &err), SC_OK);
		assert_int_equal(corrupt_image(k, g.sev, 0, 0, in.px, in.c, in.h, in.w,
					       out, &err), SC_OK);
		int worst = 0, off = 0;
		double sum = 0;
		for (int i = 0; i < n; i++) {
			int d = abs((int)out[i] - (int)g.px[i]);
			worst = d > worst ? d : worst;
			off += d != 0;
			sum += d;
		}
		if (is_pil) {
			/* libjpeg: integer DCT, but the same tables and quantiser */
			if (sum / n > 1.0 || worst > 6)
				fail_msg("jpeg %d vs PIL: mean |diff| %.2f, max %d", g.sev,
					 sum / n, worst);
			pil++;
		} else if (worst > 1 || off > n / 10) {
			/* exact up to rounding ties: contrast 0.5 around an
			 * integer channel mean makes many x.5 values, which a
			 * one-ulp difference in the mean sends either way */
			fail_msg("%s %d (%dx%dx%d): %d pixels differ, by up to %d",
				 g.name, g.sev, g.c, g.h, g.w, off, worst);
		}
		checked++;
		free(g.px);
	}
	free(in.px);
	fclose(f);
	assert_int_equal(checked, 2 * 5 * 5 + 5);
	assert_int_equal(pil, 5);
}

static void test_noise_statistics(void **state)
{
	(void)state;
	enum { H = 96, W = 96, N = H * W };
	uint8_t *src = malloc(N), *dst = malloc(N);
	assert_non_null(src);
	assert_non_null(dst);
	memset(src, 128, N);
	sc_error err = {0};
	for (int s = 1; s <= 5; s++) {
		double sigma = corrupt_param(CORRUPT_GAUSSIAN_NOISE, s) * 255;
		assert_int_equal(corrupt_image(CORRUPT_GAUSSIAN_NOISE, s, 7, 3, src, 1,
					       H, W, dst, &err), SC_OK);
		double m = 0, v = 0;
		for (int i = 0; i < N; i++)
			m += dst[i] - 128.0;
		m /= N;
		for (int i = 0; i < N; i++)
			v += (dst[i] - 128.0 - m) * (dst[i] - 128.0 - m);
		v /= N - 1;
		/* rounding adds 1/12 to the variance */
		if (fabs(m) > 4 * sigma / sqrt(N) + 0.1 ||
		    fabs(sqrt(v - 1.0 / 12) / sigma - 1) > 0.05)
			fail_msg("gaussian_noise %d: mean %.3f, std %.3f, want 0 and %.3f",
				 s, m, sqrt(v), sigma);
		/* Poisson(x l) / l: mean x, variance x / l (in [0, 1] units) */
		double lam = corrupt_param(CORRUPT_SHOT_NOISE, s), x = 128 / 255.0;
		assert_int_equal(corrupt_image(CORRUPT_SHOT_NOISE, s, 7, 3, src, 1, H,
					       W, dst, &err), SC_OK);
		m = v = 0;
		for (int i = 0; i < N; i++)
			m += dst[i] / 255.0;
		m /= N;
		for (int i = 0; i < N; i++)
			v += (dst[i] / 255.0 - m) * (dst[i] / 255.0 - m);
		v /= N - 1;
		double want_v = x / lam + 1.0 / 12 / 255 / 255;
		if (fabs(m - x) > 4 * sqrt(x / lam / N) + 0.002 ||
		    fabs(v / want_v - 1) > 0.08)
			fail_msg("shot_noise %d: mean %.4f var %.3g, want %.4f and %.3g", s,
				 m, v, x, want_v);
	}
	free(src);
	free(dst);
}

static void test_seeding(void **state)
{
	(void)state;
	dataset *d;
	sc_error err = {0};
	dataset_options o;
	dataset_options_init(&o);
	o.synthetic_test = 40;
	assert_int_equal(dataset_open("synthetic:3x16x16:4", DATASET_TEST, &o, &d,
				      &err), SC_OK);
	int64_t img = d->c * d->h * d->w, fwd[40], rev[40];
	for (int i = 0; i < 40; i++) {
		fwd[i] = i;
		rev[i] = 39 - i;
	}
	for (int k = 0; k < CORRUPT_COUNT; k++) {
		dataset *a, *b, *c;
		assert_int_equal(corrupt_dataset(d, fwd, 40, (corrupt_kind)k, 3, 9, &a,
						 &err), SC_OK);
		assert_int_equal(corrupt_dataset(d, rev, 40, (corrupt_kind)k, 3, 9, &b,
						 &err), SC_OK);
		assert_int_equal(corrupt_dataset(d, fwd, 40, (corrupt_kind)k, 3, 10, &c,
						 &err), SC_OK);
		int seed_matters = 0;
		for (int i = 0; i < 40; i++) {
			/* the same image whatever its position */
			assert_memory_equal(a->pixels + i * img,
					    b->pixels + (39 - i) * img, (size_t)img);
			assert_int_equal(a->labels[i], d->labels[i]);
			seed_matters |= memcmp(a->pixels + i * img, c->pixels + i * img,
					       (size_t)img) != 0;
			/* and what corrupt_image makes of it */
			uint8_t one[3 * 16 * 16];
			assert_int_equal(corrupt_image((corrupt_kind)k, 3, 9, (uint64_t)i,
						       d->pixels + i * img, d->c, d->h,
						       d->w, one, &err), SC_OK);
			assert_memory_equal(one, a->pixels + i * img, (size_t)img);
		}
		/* only the noises draw random numbers */
		assert_int_equal(seed_matters, k == CORRUPT_GAUSSIAN_NOISE ||
						k == CORRUPT_SHOT_NOISE);
		dataset_free(a);
		dataset_free(b);
		dataset_free(c);
	}
	/* several severities at once: block j is severity sev[j], 0 clean */
	int sev[3] = {0, 2, 5};
	dataset *m, *one;
	assert_int_equal(corrupt_dataset_severities(d, NULL, 10, CORRUPT_JPEG, sev, 3,
						    1, &m, &err), SC_OK);
	assert_int_equal(m->n, 30);
	assert_memory_equal(m->pixels, d->pixels, (size_t)(10 * img));
	assert_int_equal(corrupt_dataset(d, NULL, 10, CORRUPT_JPEG, 5, 1, &one, &err),
			 SC_OK);
	assert_memory_equal(m->pixels + 20 * img, one->pixels, (size_t)(10 * img));
	dataset_free(m);
	dataset_free(one);
	/* bad arguments */
	uint8_t px[768];
	assert_int_equal(corrupt_image(CORRUPT_JPEG, 6, 0, 0, d->pixels, 3, 16, 16,
				       px, &err), SC_EINVAL);
	assert_int_equal(corrupt_dataset(d, NULL, 41, CORRUPT_JPEG, 1, 0, &m, &err),
			 SC_EINVAL);
	corrupt_kind k;
	assert_int_equal(corrupt_parse("fog", &k, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "gaussian_noise"));
	dataset_free(d);
}

static void test_severity_monotone(void **state)
{
	(void)state;
	dataset *d;
	sc_error err = {0};
	int real = access(FMNIST, R_OK) == 0;
	assert_int_equal(dataset_open(real ? "fashion-mnist" : "synthetic:1x28x28:10",
				      DATASET_TEST, NULL, &d, &err), SC_OK);
	enum { N = 64 };
	int64_t img = d->c * d->h * d->w;
	for (int k = 0; k < CORRUPT_COUNT; k++) {
		double last = 0;
		for (int s = 1; s <= 5; s++) {
			dataset *c;
			assert_int_equal(corrupt_dataset(d, NULL, N, (corrupt_kind)k, s, 0,
							 &c, &err), SC_OK);
			double dist = 0;
			for (int64_t i = 0; i < N * img; i++) {
				double v = (double)c->pixels[i] - d->pixels[i];
				dist += v * v;
			}
			dist = sqrt(dist / N);
			if (!(dist > last))
				fail_msg("%s: distance %.2f at severity %d, %.2f at %d",
					 corrupt_name((corrupt_kind)k), dist, s, last, s - 1);
			last = dist;
			dataset_free(c);
		}
	}
	dataset_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_noise_statistics),
		cmocka_unit_test(test_seeding),
		cmocka_unit_test(test_severity_monotone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
