/* test_augment.c: runtime/data/augment.c and the dataset resize.
 *
 * References:
 *   - torchvision 0.14 through tests/data/augment/golden.txt, written by
 *     tests/make_golden_augment.py: resized crop with fixed boxes
 *     (antialiased bilinear), the ImageFolder resize (shrinking and
 *     growing), brightness / contrast / saturation / hue with fixed
 *     factors, grayscale, hflip, Gaussian blur with a fixed sigma, and
 *     every RandAugment / AutoAugment operation at fixed magnitudes.
 *     Float ops must agree to 1e-5 (float rounding of the same formulas);
 *     ops that torchvision runs on uint8 (it truncates blends back to
 *     uint8) to 1/255 + 1e-4; nearest-neighbour geometry exactly, except
 *     for at most 1% of the pixels whose source lies on a rounding tie.
 *   - definitions: "none" is plain normalisation bit for bit; a full-image
 *     crop is the identity; a forced flip mirrors every row.
 *   - properties over many seeds: crop boxes inside the image with area
 *     and aspect ratio in range (or torchvision's centre fallback),
 *     jitter factors inside their ranges and filling them, grayscale
 *     drawn at its probability, the same rng state giving the same view. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/data/augment.h"
#include "runtime/data/image.h"

#define GOLDEN SUPCON_TEST_DATA "/augment/golden.txt"
#define MAX_IMAGES 8
#define FLOAT_TOL 1e-5
#define U8_TOL (1.0 / 255 + 1e-4)
#define GEOMETRY_MISS 0.01

typedef struct gimage {
	char name[16];
	int64_t c, h, w;
	uint8_t *px;
} gimage;

static gimage images[MAX_IMAGES];
static int n_images;
static char *golden_text;

static char *next_tok(char **save)
{
	return strtok_r(NULL, " \t\n", save);
}

static const gimage *find_image(const char *name)
{
	for (int i = 0; i < n_images; i++)
		if (!strcmp(images[i].name, name))
			return &images[i];
	fail_msg("golden: no image %s", name);
	return NULL;
}

static int read_golden(void **state)
{
	(void)state;
	FILE *f = fopen(GOLDEN, "rb");
	if (!f)
		return -1;
	fseek(f, 0, SEEK_END);
	long len = ftell(f);
	fseek(f, 0, SEEK_SET);
	golden_text = malloc((size_t)len + 1);
	if (!golden_text || fread(golden_text, 1, (size_t)len, f) != (size_t)len) {
		fclose(f);
		return -1;
	}
	golden_text[len] = '\0';
	fclose(f);
	return 0;
}

static int free_golden(void **state)
{
	(void)state;
	for (int i = 0; i < n_images; i++)
		free(images[i].px);
	free(golden_text);
	return 0;
}

static float *read_floats(char **save, int64_t *c, int64_t *h, int64_t *w)
{
	char *t = next_tok(save);
	assert_non_null(t);
	assert_string_equal(t, "out");
	*c = atoll(next_tok(save));
	*h = atoll(next_tok(save));
	*w = atoll(next_tok(save));
	int64_t n = *c * *h * *w;
	float *v = malloc((size_t)n * sizeof *v);
	assert_non_null(v);
	for (int64_t i = 0; i < n; i++)
		v[i] = strtof(next_tok(save), NULL);
	return v;
}

/* max |got - want| and the count of elements off by more than tol */
static double compare(const float *got, const float *want, int64_t n, double tol,
		      int64_t *misses)
{
	double worst = 0;
	*misses = 0;
	for (int64_t i = 0; i < n; i++) {
		double d = fabs((double)got[i] - (double)want[i]);
		if (d > worst)
			worst = d;
		if (d > tol)
			(*misses)++;
	}
	return worst;
}

static void to_unit(const gimage *im, float *x)
{
	for (int64_t i = 0; i < im->c * im->h * im->w; i++)
		x[i] = (float)im->px[i] / 255.0f;
}

static aug_op op_by_name(const char *s)
{
	static const char *names[AUG_OP_COUNT] = {
		"Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate",
		"Brightness", "Color", "Contrast", "Sharpness", "Posterize",
		"Solarize", "AutoContrast", "Equalize", "Invert",
	};
	for (int i = 0; i < AUG_OP_COUNT; i++)
		if (!strcmp(names[i], s))
			return (aug_op)i;
	fail_msg("golden: unknown op %s", s);
	return AUG_OP_IDENTITY;
}

static int is_geometric(aug_op op)
{
	return op >= AUG_OP_SHEAR_X && op <= AUG_OP_ROTATE;
}

/* Runs one golden case; returns its tolerance class for the report. */
static void run_case(const char *kind, const gimage *im, char **args, int nargs,
		     const float *want, int64_t oc, int64_t oh, int64_t ow)
{
	int64_t n = im->c * im->h * im->w;
	float *x = malloc((size_t)(oc * oh * ow > n ? oc * oh * ow : n) * sizeof *x);
	aug_scratch s = {0};
	assert_int_equal(aug_scratch_reserve(&s, im->c, im->h, im->w, NULL), SC_OK);
	double tol = FLOAT_TOL, allowed_miss = 0;
	char label[128];
	snprintf(label, sizeof label, "%s %s%s%s", kind, im->name, nargs ? " " : "",
		 nargs ? args[0] : "");

	if (!strcmp(kind, "resize")) {
		int64_t th = atoll(args[0]), tw = atoll(args[1]);
		float *in = malloc((size_t)n * sizeof *in);
		float *tmp = malloc((size_t)(im->h * tw) * sizeof *tmp);
		float *wt = malloc((size_t)data_resize_taps(im->h, im->w) * sizeof *wt);
		for (int64_t ch = 0; ch < im->c; ch++) {
			for (int64_t i = 0; i < im->h * im->w; i++)
				in[i] = im->px[ch * im->h * im->w + i];
			data_resize_plane(in, im->h, im->w, x + ch * th * tw, th, tw, tmp, wt);
		}
		/* values on [0, 255] here */
		tol = 2e-3;
		/* and the uint8 version rounds the same values */
		uint8_t *u = malloc((size_t)(im->c * th * tw));
		assert_int_equal(data_resize_u8(im->px, im->c, im->h, im->w, u, th, tw, NULL), SC_OK);
		for (int64_t i = 0; i < im->c * th * tw; i++)
			assert_true(fabs((double)u[i] - want[i]) <= 0.5 + 1e-3);
		free(u);
		free(in);
		free(tmp);
		free(wt);
	} else if (!strcmp(kind, "resized_crop")) {
		int64_t box[4] = {atoll(args[0]), atoll(args[1]), atoll(args[2]), atoll(args[3])};
		aug_resized_crop(im->px, im->c, im->h, im->w, box, x, &s);
	} else {
		to_unit(im, x);
		if (!strcmp(kind, "brightness"))
			aug_brightness(x, im->c, im->h, im->w, strtof(args[0], NULL));
		else if (!strcmp(kind, "contrast"))
			aug_contrast(x, im->c, im->h, im->w, strtof(args[0], NULL));
		else if (!strcmp(kind, "saturation"))
			aug_saturation(x, im->c, im->h, im->w, strtof(args[0], NULL));
		else if (!strcmp(kind, "hue"))
			aug_hue(x, im->c, im->h, im->w, strtof(args[0], NULL));
		else if (!strcmp(kind, "grayscale"))
			aug_grayscale(x, im->c, im->h, im->w);
		else if (!strcmp(kind, "hflip"))
			aug_hflip(x, im->c, im->h, im->w);
		else if (!strcmp(kind, "gaussian_blur"))
			aug_gaussian_blur(x, im->c, im->h, im->w, atoi(args[0]),
					  strtof(args[1], NULL), &s);
		else if (!strcmp(kind, "op")) {
			aug_op op = op_by_name(args[0]);
			aug_apply_op(x, im->c, im->h, im->w, op, strtod(args[1], NULL), &s);
			int u8_in_torch = is_geometric(op) || op >= AUG_OP_POSTERIZE;
			if (u8_in_torch)
				tol = U8_TOL;
			if (is_geometric(op))
				allowed_miss = GEOMETRY_MISS;
		} else {
			fail_msg("golden: unknown case kind %s", kind);
		}
	}
	assert_int_equal(oc * oh * ow, !strcmp(kind, "resize") ? oc * oh * ow : n);
	int64_t misses;
	double worst = compare(x, want, oc * oh * ow, tol, &misses);
	if (getenv("SUPCON_TEST_VERBOSE"))
		printf("%-40s worst %.3g misses %lld tol %.3g\n", label, worst,
		       (long long)misses, tol);
	if ((double)misses > allowed_miss * (double)(oc * oh * ow))
		fail_msg("%s: %lld of %lld values off by more than %g (worst %g)", label,
			 (long long)misses, (long long)(oc * oh * ow), tol, worst);
	aug_scratch_free(&s);
	free(x);
}

static void test_torchvision_golden(void **state)
{
	(void)state;
	char *save = NULL;
	char *t = strtok_r(golden_text, " \t\n", &save);
	int cases = 0, kinds_seen = 0;
	char seen[32][16];
	while (t) {
		if (t[0] == '#') {
			/* a comment runs to the end of its line: skip tokens
			 * until the next keyword */
			while (t && strcmp(t, "image") && strcmp(t, "case"))
				t = next_tok(&save);
			continue;
		}
		if (!strcmp(t, "image")) {
			assert_true(n_images < MAX_IMAGES);
			gimage *im = &images[n_images++];
			snprintf(im->name, sizeof im->name, "%s", next_tok(&save));
			im->c = atoll(next_tok(&save));
			im->h = atoll(next_tok(&save));
			im->w = atoll(next_tok(&save));
			im->px = malloc((size_t)(im->c * im->h * im->w));
			for (int64_t i = 0; i < im->c * im->h * im->w; i++)
				im->px[i] = (uint8_t)atoi(next_tok(&save));
		} else if (!strcmp(t, "case")) {
			char *kind = next_tok(&save);
			const gimage *im = find_image(next_tok(&save));
			char *args[8];
			int nargs = 0;
			for (char *a = next_tok(&save); strcmp(a, ";"); a = next_tok(&save))
				args[nargs++] = a;
			int64_t oc, oh, ow;
			float *want = read_floats(&save, &oc, &oh, &ow);
			run_case(kind, im, args, nargs, want, oc, oh, ow);
			free(want);
			cases++;
			int known = 0;
			for (int k = 0; k < kinds_seen; k++)
				known |= !strcmp(seen[k], kind);
			if (!known && kinds_seen < 32)
				snprintf(seen[kinds_seen++], sizeof seen[0], "%s", kind);
		} else {
			fail_msg("golden: unexpected token %s", t);
		}
		t = next_tok(&save);
	}
	/* the file really holds what the script writes */
	assert_true(cases >= 70);
	assert_int_equal(kinds_seen, 10);
}

/* --- definitions --------------------------------------------------------- */

static void fill_pattern(uint8_t *px, int64_t n, unsigned seed)
{
	for (int64_t i = 0; i < n; i++)
		px[i] = (uint8_t)((i * 37 + seed * 11 + (i / 7) * 5) % 256);
}

static void test_none_is_normalisation(void **state)
{
	(void)state;
	enum { C = 3, H = 7, W = 9 };
	uint8_t px[C * H * W];
	float got[C * H * W];
	const float mean[C] = {0.4914f, 0.4822f, 0.4465f}, std[C] = {0.2470f, 0.2435f, 0.2616f};
	fill_pattern(px, C * H * W, 1);
	aug_policy p;
	assert_int_equal(aug_parse("none", &p, NULL), SC_OK);
	rng r;
	rng_init(&r, 1, 2);
	rng before = r;
	assert_int_equal(aug_apply(&p, &r, px, C, H, W, mean, std, got), SC_OK);
	for (int ch = 0; ch < C; ch++)
		for (int i = 0; i < H * W; i++) {
			float want = ((float)px[ch * H * W + i] / 255.0f - mean[ch]) / std[ch];
			assert_memory_equal(&got[ch * H * W + i], &want, sizeof want);
		}
	/* "none" draws nothing */
	assert_memory_equal(&r, &before, sizeof r);
	/* NULL policy, NULL mean/std: x / 255 */
	assert_int_equal(aug_apply(NULL, &r, px, C, H, W, NULL, NULL, got), SC_OK);
	for (int i = 0; i < C * H * W; i++)
		assert_true(got[i] == (float)px[i] / 255.0f);
}

static void test_full_crop_is_identity(void **state)
{
	(void)state;
	enum { C = 2, H = 6, W = 11 };
	uint8_t px[C * H * W];
	float got[C * H * W];
	fill_pattern(px, C * H * W, 3);
	aug_scratch s = {0};
	assert_int_equal(aug_scratch_reserve(&s, C, H, W, NULL), SC_OK);
	int64_t box[4] = {0, 0, H, W};
	aug_resized_crop(px, C, H, W, box, got, &s);
	for (int i = 0; i < C * H * W; i++)
		assert_float_equal(got[i], px[i] / 255.0, 1e-6);
	aug_scratch_free(&s);
}

static void test_flip_mirrors(void **state)
{
	(void)state;
	enum { C = 3, H = 5, W = 8 };
	uint8_t px[C * H * W];
	float got[C * H * W];
	fill_pattern(px, C * H * W, 5);
	aug_policy p;
	assert_int_equal(aug_parse("none", &p, NULL), SC_OK);
	p.flip_p = 1.0;
	rng r;
	rng_init(&r, 9, 9);
	assert_int_equal(aug_apply(&p, &r, px, C, H, W, NULL, NULL, got), SC_OK);
	for (int ch = 0; ch < C; ch++)
		for (int y = 0; y < H; y++)
			for (int x = 0; x < W; x++)
				assert_true(got[(ch * H + y) * W + x] ==
					    (float)px[(ch * H + y) * W + (W - 1 - x)] / 255.0f);
	/* and p = 0 never flips */
	p.flip_p = 0;
	p.crop = 1;
	p.crop_scale[0] = p.crop_scale[1] = 1.0;
	p.crop_ratio[0] = p.crop_ratio[1] = (double)W / H;
	assert_int_equal(aug_apply(&p, &r, px, C, H, W, NULL, NULL, got), SC_OK);
	for (int i = 0; i < C * H * W; i++)
		assert_float_equal(got[i], px[i] / 255.0, 1e-6);
}

/* --- policies and randomness --------------------------------------------- */

static void test_parse(void **state)
{
	(void)state;
	static const char *good[] = {"none", "basic", "jitter", "simclr", "randaugment",
				     "autoaugment", "simclr+blur"};
	aug_policy p;
	for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
		assert_int_equal(aug_parse(good[i], &p, NULL), SC_OK);
		if (strcmp(good[i], "randaugment"))
			assert_string_equal(aug_name(&p), good[i]);
	}
	assert_int_equal(aug_parse("randaugment", &p, NULL), SC_OK);
	assert_string_equal(aug_name(&p), "randaugment:2:9");
	assert_int_equal(p.randaugment_n, 2);
	assert_int_equal(p.randaugment_m, 9);
	assert_int_equal(aug_parse("randaugment:3:15", &p, NULL), SC_OK);
	assert_int_equal(p.randaugment_n, 3);
	assert_int_equal(p.randaugment_m, 15);
	assert_true(p.crop && p.flip_p == 0.5);

	assert_int_equal(aug_parse("simclr", &p, NULL), SC_OK);
	assert_true(p.crop && p.crop_scale[0] == 0.2 && p.crop_scale[1] == 1.0);
	assert_true(p.flip_p == 0.5 && p.jitter_p == 0.8 && p.gray_p == 0.2);
	assert_true(p.brightness == 0.4 && p.contrast == 0.4 && p.saturation == 0.4 &&
		    p.hue == 0.1);
	assert_true(p.blur_p == 0);
	assert_int_equal(aug_parse("jitter", &p, NULL), SC_OK);
	assert_true(!p.crop && p.flip_p == 0 && p.jitter_p == 0.8 && p.gray_p == 0);

	static const char *bad[] = {"", "simclr2", "randaugment:0:9", "randaugment:2:31",
				    "randaugment:2", "randaugment:2:9:1", "basic+sharpen", "autoaugment:1"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		sc_error err = {0};
		assert_int_equal(aug_parse(bad[i], &p, &err), SC_EINVAL);
		assert_non_null(strstr(err.msg, "--aug"));
	}
	sc_error err = {0};
	aug_parse("fancy", &p, &err);
	assert_non_null(strstr(err.msg, "simclr"));
	assert_non_null(strstr(err.msg, "randaugment"));
}

static void test_crop_params_in_bounds(void **state)
{
	(void)state;
	static const int64_t sizes[][2] = {{32, 32}, {28, 28}, {7, 40}, {50, 9}, {1, 1}, {3, 2}};
	static const double ranges[][4] = {
		{0.2, 1.0, 3.0 / 4, 4.0 / 3}, {0.08, 1.0, 3.0 / 4, 4.0 / 3},
		{0.5, 0.5, 1.0, 1.0}, {0.01, 0.05, 0.2, 5.0}, {0.9, 1.0, 2.0, 3.0},
	};
	int64_t fallbacks = 0, total = 0;
	for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
		int64_t h = sizes[si][0], w = sizes[si][1];
		for (size_t ri = 0; ri < sizeof ranges / sizeof *ranges; ri++) {
			const double *g = ranges[ri];
			for (uint64_t seed = 0; seed < 400; seed++) {
				rng r;
				rng_init(&r, seed, si * 100 + ri);
				int64_t b[4];
				aug_crop_params(&r, h, w, g, g + 2, b);
				assert_true(b[2] >= 1 && b[3] >= 1);
				assert_true(b[0] >= 0 && b[1] >= 0);
				assert_true(b[0] + b[2] <= h && b[1] + b[3] <= w);
				double area = (double)b[2] * b[3] / ((double)h * w);
				double ratio = (double)b[3] / b[2];
				/* rounding the sides moves area and ratio by
				 * at most half a pixel per side */
				double sa = (double)(b[2] + b[3] + 1) / ((double)h * w);
				double sr = ratio * (1.0 / b[2] + 1.0 / b[3]);
				int inside = area >= g[0] - sa && area <= g[1] + sa &&
					     ratio >= g[2] - sr && ratio <= g[3] + sr;
				int centred = b[0] == (h - b[2]) / 2 && b[1] == (w - b[3]) / 2;
				assert_true(inside || centred);
				fallbacks += !inside;
				total++;
			}
		}
	}
	/* the common ranges on ordinary images almost never fall back */
	assert_true(fallbacks < total / 2);
	/* a ratio no box of a square image can meet always falls back to
	 * the centre crop at the nearest ratio */
	rng r;
	rng_init(&r, 5, 5);
	int64_t b[4];
	const double scale[2] = {0.9, 1.0}, ratio[2] = {4.0, 5.0};
	aug_crop_params(&r, 32, 32, scale, ratio, b);
	assert_int_equal(b[2], 8);
	assert_int_equal(b[3], 32);
	assert_int_equal(b[0], 12);
	assert_int_equal(b[1], 0);
}

static void test_jitter_ranges(void **state)
{
	(void)state;
	aug_policy p;
	assert_int_equal(aug_parse("simclr", &p, NULL), SC_OK);
	float lo[4] = {9, 9, 9, 9}, hi[4] = {-9, -9, -9, -9};
	int first_seen[4] = {0};
	for (uint64_t s = 0; s < 20000; s++) {
		rng r;
		rng_init(&r, s, 77);
		aug_jitter j;
		aug_jitter_params(&p, &r, &j);
		int mask = 0;
		for (int i = 0; i < 4; i++) {
			assert_true(j.order[i] >= 0 && j.order[i] < 4);
			mask |= 1 << j.order[i];
		}
		assert_int_equal(mask, 15);
		first_seen[j.order[0]]++;
		float f[4] = {j.brightness, j.contrast, j.saturation, j.hue};
		for (int i = 0; i < 4; i++) {
			lo[i] = fminf(lo[i], f[i]);
			hi[i] = fmaxf(hi[i], f[i]);
		}
	}
	for (int i = 0; i < 3; i++) {
		assert_true(lo[i] >= 0.6f && hi[i] <= 1.4f);
		assert_true(lo[i] < 0.601f && hi[i] > 1.399f);
	}
	assert_true(lo[3] >= -0.1f && hi[3] <= 0.1f);
	assert_true(lo[3] < -0.099f && hi[3] > 0.099f);
	/* a random order: every op comes first about a quarter of the time */
	for (int i = 0; i < 4; i++)
		assert_true(first_seen[i] > 4500 && first_seen[i] < 5500);
	/* strength 0 leaves a factor at identity; strength > 1 clamps at 0 */
	p.brightness = 0;
	p.contrast = 1.5;
	rng r;
	rng_init(&r, 1, 1);
	for (int k = 0; k < 1000; k++) {
		aug_jitter j;
		aug_jitter_params(&p, &r, &j);
		assert_true(j.brightness == 1.0f);
		assert_true(j.contrast >= 0.0f && j.contrast <= 2.5f);
	}
}

static int64_t count_gray(const aug_policy *p, int64_t views)
{
	enum { C = 3, H = 12, W = 12 };
	uint8_t px[C * H * W];
	float out[C * H * W];
	/* strongly coloured, so a view is grey only when grayscale ran */
	for (int i = 0; i < H * W; i++) {
		px[i] = (uint8_t)(200 + i % 40);
		px[H * W + i] = (uint8_t)(20 + i % 30);
		px[2 * H * W + i] = (uint8_t)(90 + i % 20);
	}
	int64_t grey = 0;
	for (int64_t v = 0; v < views; v++) {
		rng r;
		rng_init(&r, 3, (uint64_t)v);
		assert_int_equal(aug_apply(p, &r, px, C, H, W, NULL, NULL, out), SC_OK);
		int same = 1;
		for (int i = 0; i < H * W && same; i++)
			same = fabsf(out[i] - out[H * W + i]) < 1e-6f &&
			       fabsf(out[i] - out[2 * H * W + i]) < 1e-6f;
		grey += same;
	}
	return grey;
}

static void test_grayscale_probability(void **state)
{
	(void)state;
	aug_policy p;
	assert_int_equal(aug_parse("simclr", &p, NULL), SC_OK);
	int64_t grey = count_gray(&p, 4000);
	/* binomial(4000, 0.2): mean 800, sd ~25 */
	assert_true(grey > 700 && grey < 900);
	assert_int_equal(aug_parse("basic", &p, NULL), SC_OK);
	assert_int_equal(count_gray(&p, 500), 0);
}

static void test_deterministic(void **state)
{
	(void)state;
	static const char *policies[] = {"basic", "jitter", "simclr", "randaugment",
					 "randaugment:4:20", "autoaugment", "simclr+blur"};
	enum { C = 3, H = 16, W = 14 };
	uint8_t px[C * H * W];
	float a[C * H * W], b[C * H * W];
	const float mean[C] = {0.5f, 0.4f, 0.3f}, std[C] = {0.25f, 0.2f, 0.3f};
	fill_pattern(px, C * H * W, 7);
	aug_scratch s = {0};
	assert_int_equal(aug_scratch_reserve(&s, C, H, W, NULL), SC_OK);
	for (size_t i = 0; i < sizeof policies / sizeof *policies; i++) {
		aug_policy p;
		assert_int_equal(aug_parse(policies[i], &p, NULL), SC_OK);
		int differ = 0;
		for (uint64_t seed = 0; seed < 40; seed++) {
			rng r1, r2;
			rng_init(&r1, seed, 1);
			rng_init(&r2, seed, 1);
			assert_int_equal(aug_apply(&p, &r1, px, C, H, W, mean, std, a), SC_OK);
			/* the scratch version, with a reused scratch, is the same */
			aug_apply_scratch(&p, &r2, px, C, H, W, mean, std, b, &s);
			assert_memory_equal(a, b, sizeof a);
			rng_init(&r2, seed + 1000, 1);
			aug_apply_scratch(&p, &r2, px, C, H, W, mean, std, b, &s);
			differ += memcmp(a, b, sizeof a) != 0;
			/* every view stays an image in [0, 1] before normalising */
			for (int k = 0; k < C * H * W; k++) {
				float x = a[k] * std[k / (H * W)] + mean[k / (H * W)];
				assert_true(x >= -1e-5f && x <= 1.0f + 1e-5f);
			}
		}
		/* other seeds give other views */
		assert_true(differ >= 30);
	}
	aug_scratch_free(&s);
}

/* One channel: saturation, hue and grayscale do nothing, the rest runs. */
static void test_one_channel(void **state)
{
	(void)state;
	enum { H = 9, W = 9 };
	uint8_t px[H * W];
	float x[H * W], y[H * W];
	fill_pattern(px, H * W, 2);
	for (int i = 0; i < H * W; i++)
		x[i] = y[i] = px[i] / 255.0f;
	aug_saturation(x, 1, H, W, 0.3f);
	aug_hue(x, 1, H, W, 0.2f);
	aug_grayscale(x, 1, H, W);
	assert_memory_equal(x, y, sizeof x);
	aug_policy p;
	assert_int_equal(aug_parse("simclr", &p, NULL), SC_OK);
	int changed = 0;
	for (uint64_t s = 0; s < 20; s++) {
		rng r;
		rng_init(&r, s, 0);
		assert_int_equal(aug_apply(&p, &r, px, 1, H, W, NULL, NULL, x), SC_OK);
		changed += memcmp(x, y, sizeof x) != 0;
	}
	assert_true(changed >= 18);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_torchvision_golden),
		cmocka_unit_test(test_none_is_normalisation),
		cmocka_unit_test(test_full_crop_is_identity),
		cmocka_unit_test(test_flip_mirrors),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_crop_params_in_bounds),
		cmocka_unit_test(test_jitter_ranges),
		cmocka_unit_test(test_grayscale_probability),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_one_channel),
	};
	return cmocka_run_group_tests(tests, read_golden, free_golden);
}
