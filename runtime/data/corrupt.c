/* corrupt.c: the common corruptions of corrupt.h, on uint8 CHW images.
 *
 * Each corruption works on a double copy of the image in [0, 1] and ends
 * with the same clip-and-round to 8 bits, so the only differences between
 * them are the few lines that define them. */
#include "runtime/data/corrupt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/data/readers.h"
#include "runtime/rng.h"

static const char *const names[CORRUPT_COUNT] = {
	"gaussian_noise", "shot_noise", "gaussian_blur", "contrast",
	"brightness", "pixelate", "jpeg",
};

/* CIFAR-10-C's tables (make_cifar_c.py), severities 1..5 */
static const double params[CORRUPT_COUNT][CORRUPT_SEVERITIES] = {
	{0.04, 0.06, 0.08, 0.09, 0.10},         /* noise std */
	{500, 250, 100, 75, 50},                /* photons per unit */
	{0.4, 0.6, 0.7, 0.8, 1.0},              /* sigma, pixels */
	{0.75, 0.5, 0.4, 0.3, 0.15},            /* contrast factor */
	{0.05, 0.1, 0.15, 0.2, 0.3},            /* added to the value */
	{0.95, 0.9, 0.85, 0.75, 0.65},          /* resize factor */
	{80, 65, 58, 50, 40},                   /* JPEG quality */
};

const char *corrupt_name(corrupt_kind k)
{
	return k >= 0 && k < CORRUPT_COUNT ? names[k] : "unknown";
}

int corrupt_parse(const char *name, corrupt_kind *k, sc_error *err)
{
	for (int i = 0; i < CORRUPT_COUNT; i++)
		if (!strcmp(name, names[i])) {
			*k = (corrupt_kind)i;
			return SC_OK;
		}
	return sc_fail(err, SC_EINVAL, "'%s' is not a corruption (gaussian_noise, "
		       "shot_noise, gaussian_blur, contrast, brightness, pixelate, "
		       "jpeg)", name);
}

double corrupt_param(corrupt_kind k, int severity)
{
	if (k < 0 || k >= CORRUPT_COUNT || severity < 1 ||
	    severity > CORRUPT_SEVERITIES)
		return NAN;
	return params[k][severity - 1];
}

/* --- random draws ---------------------------------------------------------- */

/* Poisson(lam) as numpy draws it: multiplication of uniforms below 10,
 * Hormann's transformed rejection (PTRS) from 10 on. */
static int64_t poisson(rng *r, double lam)
{
	if (lam <= 0)
		return 0;
	if (lam < 10) {
		double limit = exp(-lam), prod = 1;
		int64_t k = -1;
		do {
			k++;
			prod *= rng_uniform(r);
		} while (prod > limit);
		return k;
	}
	double slam = sqrt(lam), loglam = log(lam);
	double b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
	double invalpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2);
	for (;;) {
		double u = rng_uniform(r) - 0.5, v = rng_uniform(r);
		double us = 0.5 - fabs(u);
		double k = floor((2 * a / us + b) * u + lam + 0.43);
		if (us >= 0.07 && v <= vr)
			return (int64_t)k;
		if (k < 0 || (us < 0.013 && v > us))
			continue;
		if (log(v) + log(invalpha) - log(a / (us * us) + b) <=
		    -lam + k * loglam - lgamma(k + 1))
			return (int64_t)k;
	}
}

/* --- the corruptions on [0, 1] planes ------------------------------------- */

static void add_noise(double *x, int64_t n, double sigma, rng *r)
{
	for (int64_t i = 0; i < n; i++)
		x[i] += sigma * rng_normal(r);
}

static void shot_noise(double *x, int64_t n, double lam, rng *r)
{
	for (int64_t i = 0; i < n; i++) {
		double v = x[i] < 0 ? 0 : x[i];
		x[i] = (double)poisson(r, v * lam) / lam;
	}
}

/* One pass of a 1-D kernel k[0..2 rad] over n lines of len samples: line
 * l, sample i is at src[l * line + i * step] (likewise dst), and samples
 * past either end repeat the edge one. */
static void blur_lines(const double *src, double *dst, int64_t n, int64_t len,
		       int64_t line, int64_t step, const double *k, int rad)
{
	for (int64_t l = 0; l < n; l++)
		for (int64_t i = 0; i < len; i++) {
			double s = 0;
			for (int j = -rad; j <= rad; j++) {
				int64_t t = i + j;
				t = t < 0 ? 0 : t >= len ? len - 1 : t;
				s += k[j + rad] * src[l * line + t * step];
			}
			dst[l * line + i * step] = s;
		}
}

/* Separable Gaussian of radius int(4 sigma + 0.5), edge pixels repeated
 * (skimage.filters.gaussian's mode 'nearest'); tmp holds h*w doubles. */
static void gaussian_blur(double *x, int64_t c, int64_t h, int64_t w,
			  double sigma, double *tmp)
{
	int rad = (int)(4 * sigma + 0.5);
	double k[64], sum = 0;
	if (rad > 31)
		rad = 31;
	for (int i = -rad; i <= rad; i++)
		sum += k[i + rad] = exp(-0.5 * i * i / (sigma * sigma));
	for (int i = 0; i <= 2 * rad; i++)
		k[i] /= sum;
	for (int64_t ch = 0; ch < c; ch++) {
		double *p = x + ch * h * w;
		blur_lines(p, tmp, h, w, w, 1, k, rad);    /* along rows */
		blur_lines(tmp, p, w, h, 1, w, k, rad);    /* along columns */
	}
}

static void contrast(double *x, int64_t c, int64_t hw, double f)
{
	for (int64_t ch = 0; ch < c; ch++) {
		double *p = x + ch * hw, m = 0;
		for (int64_t i = 0; i < hw; i++)
			m += p[i];
		m /= (double)hw;
		for (int64_t i = 0; i < hw; i++)
			p[i] = (p[i] - m) * f + m;
	}
}

/* HSV value + b, clipped at 1: with hue and saturation fixed, RGB scales
 * with the value, so each pixel is multiplied by v' / v (a black pixel,
 * whose saturation is 0, becomes grey v'). */
static void brightness(double *x, int64_t c, int64_t hw, double b)
{
	if (c != 3) {
		for (int64_t i = 0; i < c * hw; i++)
			x[i] = fmin(x[i] + b, 1);
		return;
	}
	for (int64_t i = 0; i < hw; i++) {
		double *r = x + i, *g = x + hw + i, *bl = x + 2 * hw + i;
		double v = fmax(*r, fmax(*g, *bl)), nv = fmin(v + b, 1);
		if (v > 0) {
			*r *= nv / v;
			*g *= nv / v;
			*bl *= nv / v;
		} else {
			*r = *g = *bl = nv;
		}
	}
}

static double round8(double v)
{
	v = floor(v + 0.5);
	return v < 0 ? 0 : v > 255 ? 255 : v;
}

/* PIL's resampling coefficients for the BOX filter (Resample.c,
 * precompute_coeffs) in double precision: for output pixel o, taps
 * [lo[o], lo[o] + len[o]) of the input with weights wt[o * cap + t]. */
static void box_coeffs(int64_t in, int64_t out, int64_t *lo, int64_t *len,
		       double *wt, int64_t cap)
{
	double scale = (double)in / (double)out;
	double fs = scale > 1 ? scale : 1, support = 0.5 * fs;
	for (int64_t o = 0; o < out; o++) {
		double center = ((double)o + 0.5) * scale, ww = 0;
		int64_t xmin = (int64_t)(center - support + 0.5);
		int64_t xmax = (int64_t)(center + support + 0.5);
		xmin = xmin < 0 ? 0 : xmin;
		xmax = xmax > in ? in : xmax;
		xmax -= xmin;
		if (xmax > cap)
			xmax = cap;
		for (int64_t t = 0; t < xmax; t++) {
			double u = ((double)(t + xmin) - center + 0.5) / fs;
			double v = u > -0.5 && u <= 0.5 ? 1 : 0;
			wt[o * cap + t] = v;
			ww += v;
		}
		for (int64_t t = 0; t < xmax && ww != 0; t++)
			wt[o * cap + t] /= ww;
		lo[o] = xmin;
		len[o] = xmax;
	}
}

/* One PIL BOX resize of the 0..255 planes src (sh x sw) to dst (dh x
 * dw): horizontal pass, 8-bit rounding, vertical pass, 8-bit rounding,
 * as PIL does for an 8-bit image.  scratch: see pixelate(). */
static void box_resize(const double *src, int64_t c, int64_t sh, int64_t sw,
		       double *dst, int64_t dh, int64_t dw, double *tmp,
		       double *wt, int64_t *lo, int64_t *len, int64_t cap)
{
	for (int64_t ch = 0; ch < c; ch++) {
		const double *s = src + ch * sh * sw;
		double *d = dst + ch * dh * dw;
		box_coeffs(sw, dw, lo, len, wt, cap);
		for (int64_t y = 0; y < sh; y++)
			for (int64_t o = 0; o < dw; o++) {
				double v = 0;
				for (int64_t t = 0; t < len[o]; t++)
					v += wt[o * cap + t] * s[y * sw + lo[o] + t];
				tmp[y * dw + o] = round8(v);
			}
		box_coeffs(sh, dh, lo, len, wt, cap);
		for (int64_t o = 0; o < dh; o++)
			for (int64_t x = 0; x < dw; x++) {
				double v = 0;
				for (int64_t t = 0; t < len[o]; t++)
					v += wt[o * cap + t] * tmp[(lo[o] + t) * dw + x];
				d[o * dw + x] = round8(v);
			}
	}
}

/* x (0..1) to int(h f) x int(w f) and back, in 0..255 like PIL. */
static int pixelate(double *x, int64_t c, int64_t h, int64_t w, double f,
		    sc_error *err)
{
	int64_t sh = (int64_t)((double)h * f), sw = (int64_t)((double)w * f);
	sh = sh < 1 ? 1 : sh;
	sw = sw < 1 ? 1 : sw;
	int64_t side = h > w ? h : w, cap = side + 2;
	double *a = malloc(sizeof *a * (size_t)(c * h * w));
	double *small = malloc(sizeof *small * (size_t)(c * sh * sw));
	double *tmp = malloc(sizeof *tmp * (size_t)(h * w));
	double *wt = malloc(sizeof *wt * (size_t)(side * cap));
	int64_t *lo = malloc(sizeof *lo * (size_t)side);
	int64_t *len = malloc(sizeof *len * (size_t)side);
	int rc = SC_OK;
	if (!a || !small || !tmp || !wt || !lo || !len) {
		rc = sc_fail(err, SC_ENOMEM, "pixelate: out of memory");
		goto out;
	}
	for (int64_t i = 0; i < c * h * w; i++)
		a[i] = round8(x[i] * 255);
	box_resize(a, c, h, w, small, sh, sw, tmp, wt, lo, len, cap);
	box_resize(small, c, sh, sw, a, h, w, tmp, wt, lo, len, cap);
	for (int64_t i = 0; i < c * h * w; i++)
		x[i] = a[i] / 255;
out:
	free(a);
	free(small);
	free(tmp);
	free(wt);
	free(lo);
	free(len);
	return rc;
}

/* --- JPEG-like quantisation ---------------------------------------------- */

static const int jpeg_luma[64] = {
	16, 11, 10, 16, 24, 40, 51, 61,
	12, 12, 14, 19, 26, 58, 60, 55,
	14, 13, 16, 24, 40, 57, 69, 56,
	14, 17, 22, 29, 51, 87, 80, 62,
	18, 22, 37, 56, 68, 109, 103, 77,
	24, 35, 55, 64, 81, 104, 113, 92,
	49, 64, 78, 87, 103, 121, 120, 101,
	72, 92, 95, 98, 112, 100, 103, 99,
};

static const int jpeg_chroma[64] = {
	17, 18, 24, 47, 99, 99, 99, 99,
	18, 21, 26, 66, 99, 99, 99, 99,
	24, 26, 56, 99, 99, 99, 99, 99,
	47, 66, 99, 99, 99, 99, 99, 99,
	99, 99, 99, 99, 99, 99, 99, 99,
	99, 99, 99, 99, 99, 99, 99, 99,
	99, 99, 99, 99, 99, 99, 99, 99,
	99, 99, 99, 99, 99, 99, 99, 99,
};

/* libjpeg's jpeg_quality_scaling and jpeg_add_quant_table (baseline). */
static void jpeg_table(const int *base, int quality, double *q)
{
	int scale = quality < 50 ? 5000 / quality : 200 - quality * 2;
	for (int i = 0; i < 64; i++) {
		long v = ((long)base[i] * scale + 50) / 100;
		q[i] = (double)(v < 1 ? 1 : v > 255 ? 255 : v);
	}
}

/* The orthonormal 8-point DCT-II matrix: F = C x, x = C^T F. */
static void dct_matrix(double m[64])
{
	for (int k = 0; k < 8; k++)
		for (int n = 0; n < 8; n++)
			m[k * 8 + n] = (k ? sqrt(2.0 / 8) : sqrt(1.0 / 8)) *
				       cos(M_PI * (2 * n + 1) * k / 16);
}

/* One 0..255 plane through 8x8 blocks (edges repeated to fill the last
 * ones): shift by 128, DCT, quantise (round half away from zero),
 * dequantise, inverse DCT, shift back. */
static void jpeg_plane(double *p, int64_t h, int64_t w, const double *q,
		       const double *m)
{
	double blk[64], t[64];
	for (int64_t by = 0; by < h; by += 8)
		for (int64_t bx = 0; bx < w; bx += 8) {
			for (int i = 0; i < 8; i++)
				for (int j = 0; j < 8; j++) {
					int64_t y = by + i < h ? by + i : h - 1;
					int64_t x = bx + j < w ? bx + j : w - 1;
					blk[i * 8 + j] = p[y * w + x] - 128;
				}
			/* t = M blk; blk = t M^T */
			for (int i = 0; i < 8; i++)
				for (int j = 0; j < 8; j++) {
					double s = 0;
					for (int k = 0; k < 8; k++)
						s += m[i * 8 + k] * blk[k * 8 + j];
					t[i * 8 + j] = s;
				}
			for (int i = 0; i < 8; i++)
				for (int j = 0; j < 8; j++) {
					double s = 0;
					for (int k = 0; k < 8; k++)
						s += t[i * 8 + k] * m[j * 8 + k];
					blk[i * 8 + j] = round(s / q[i * 8 + j]) * q[i * 8 + j];
				}
			/* inverse: t = M^T blk; blk = t M */
			for (int i = 0; i < 8; i++)
				for (int j = 0; j < 8; j++) {
					double s = 0;
					for (int k = 0; k < 8; k++)
						s += m[k * 8 + i] * blk[k * 8 + j];
					t[i * 8 + j] = s;
				}
			for (int i = 0; i < 8 && by + i < h; i++)
				for (int j = 0; j < 8 && bx + j < w; j++) {
					double s = 0;
					for (int k = 0; k < 8; k++)
						s += t[i * 8 + k] * m[k * 8 + j];
					p[(by + i) * w + bx + j] = s + 128;
				}
		}
}

/* x in [0, 1] (clipped first) through JPEG-like quantisation. */
static void jpeg(double *x, int64_t c, int64_t h, int64_t w, int quality)
{
	double ql[64], qc[64], m[64];
	jpeg_table(jpeg_luma, quality, ql);
	jpeg_table(jpeg_chroma, quality, qc);
	dct_matrix(m);
	int64_t hw = h * w;
	for (int64_t i = 0; i < c * hw; i++)
		x[i] = round8(x[i] * 255);
	if (c != 3) {
		for (int64_t ch = 0; ch < c; ch++)
			jpeg_plane(x + ch * hw, h, w, ql, m);
	} else {
		/* JFIF's full-range YCbCr */
		for (int64_t i = 0; i < hw; i++) {
			double r = x[i], g = x[hw + i], b = x[2 * hw + i];
			x[i] = 0.299 * r + 0.587 * g + 0.114 * b;
			x[hw + i] = -0.168736 * r - 0.331264 * g + 0.5 * b + 128;
			x[2 * hw + i] = 0.5 * r - 0.418688 * g - 0.081312 * b + 128;
		}
		jpeg_plane(x, h, w, ql, m);
		jpeg_plane(x + hw, h, w, qc, m);
		jpeg_plane(x + 2 * hw, h, w, qc, m);
		for (int64_t i = 0; i < hw; i++) {
			double y = x[i], cb = x[hw + i] - 128, cr = x[2 * hw + i] - 128;
			x[i] = y + 1.402 * cr;
			x[hw + i] = y - 0.344136 * cb - 0.714136 * cr;
			x[2 * hw + i] = y + 1.772 * cb;
		}
	}
	for (int64_t i = 0; i < c * hw; i++)
		x[i] /= 255;
}

/* --- images and datasets ----------------------------------------------------- */

int corrupt_image(corrupt_kind k, int severity, uint64_t seed, uint64_t index,
		  const uint8_t *src, int64_t c, int64_t h, int64_t w,
		  uint8_t *dst, sc_error *err)
{
	if (k < 0 || k >= CORRUPT_COUNT || severity < 1 ||
	    severity > CORRUPT_SEVERITIES)
		return sc_fail(err, SC_EINVAL, "corruption %d at severity %d: "
			       "severities are 1 to %d", (int)k, severity,
			       CORRUPT_SEVERITIES);
	if (c < 1 || h < 1 || w < 1 || c > 64 || h > DATASET_MAX_SIDE ||
	    w > DATASET_MAX_SIDE)
		return sc_fail(err, SC_EINVAL, "corruption: bad image geometry "
			       "%lldx%lldx%lld", (long long)c, (long long)h,
			       (long long)w);
	int64_t n = c * h * w;
	double *x = malloc(sizeof *x * (size_t)n);
	double *tmp = k == CORRUPT_GAUSSIAN_BLUR ?
		      malloc(sizeof *tmp * (size_t)(h * w)) : NULL;
	if (!x || (k == CORRUPT_GAUSSIAN_BLUR && !tmp)) {
		free(x);
		free(tmp);
		return sc_fail(err, SC_ENOMEM, "corruption: out of memory");
	}
	for (int64_t i = 0; i < n; i++)
		x[i] = src[i] / 255.0;
	double p = params[k][severity - 1];
	rng r;
	/* one stream per (corruption, severity, image) */
	rng_init(&r, seed, index << 8 | (uint64_t)k << 4 | (uint64_t)severity);
	int rc = SC_OK;
	switch (k) {
	case CORRUPT_GAUSSIAN_NOISE:
		add_noise(x, n, p, &r);
		break;
	case CORRUPT_SHOT_NOISE:
		shot_noise(x, n, p, &r);
		break;
	case CORRUPT_GAUSSIAN_BLUR:
		gaussian_blur(x, c, h, w, p, tmp);
		break;
	case CORRUPT_CONTRAST:
		contrast(x, c, h * w, p);
		break;
	case CORRUPT_BRIGHTNESS:
		brightness(x, c, h * w, p);
		break;
	case CORRUPT_PIXELATE:
		rc = pixelate(x, c, h, w, p, err);
		break;
	case CORRUPT_JPEG:
		jpeg(x, c, h, w, (int)p);
		break;
	default:
		break;
	}
	for (int64_t i = 0; !rc && i < n; i++)
		dst[i] = (uint8_t)round8(x[i] * 255);
	free(x);
	free(tmp);
	return rc;
}

int corrupt_dataset(const dataset *src, const int64_t *idx, int64_t n,
		    corrupt_kind k, int severity, uint64_t seed, dataset **out,
		    sc_error *err)
{
	return corrupt_dataset_severities(src, idx, n, k, &severity, 1, seed, out,
					  err);
}

int corrupt_dataset_severities(const dataset *src, const int64_t *idx,
			       int64_t n, corrupt_kind k, const int *severities,
			       int n_sev, uint64_t seed, dataset **out,
			       sc_error *err)
{
	*out = NULL;
	if (n < 1 || n > src->n || n_sev < 1 || n_sev > 64)
		return sc_fail(err, SC_EINVAL, "corruption: %lld images of %lld at "
			       "%d severities", (long long)n, (long long)src->n, n_sev);
	if (k < 0 || k >= CORRUPT_COUNT)
		return sc_fail(err, SC_EINVAL, "corruption %d does not exist", (int)k);
	for (int j = 0; j < n_sev; j++)
		if (severities[j] < 0 || severities[j] > CORRUPT_SEVERITIES)
			return sc_fail(err, SC_EINVAL, "corruption severity %d is not "
				       "0 to %d", severities[j], CORRUPT_SEVERITIES);
	for (int64_t i = 0; idx && i < n; i++)
		if (idx[i] < 0 || idx[i] >= src->n)
			return sc_fail(err, SC_EINVAL, "corruption: image index %lld "
				       "outside [0, %lld)", (long long)idx[i],
				       (long long)src->n);
	dataset *d = dataset_alloc();
	if (!d)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	int rc = dataset_alloc_images(d, n * n_sev, src->c, src->h, src->w,
				      "corruption", err);
	if (!rc)
		rc = dataset_set_classes(d, src->classes,
					 (const char *const *)src->class_names, err);
	if (!rc) {
		const char *base = src->name ? src->name : "images";
		size_t len = strlen(base) + 64;
		d->name = malloc(len);
		if (!d->name)
			rc = sc_fail(err, SC_ENOMEM, "out of memory");
		else if (n_sev == 1)
			snprintf(d->name, len, "%s, %s:%d", base, corrupt_name(k),
				 severities[0]);
		else
			snprintf(d->name, len, "%s, %s", base, corrupt_name(k));
	}
	int64_t img = src->c * src->h * src->w, total = n * n_sev;
	int failed = 0;
	sc_error first = {0};
	if (!rc) {
		#pragma omp parallel for schedule(dynamic, 32)
		for (int64_t t = 0; t < total; t++) {
			int64_t i = t % n;
			int sev = severities[t / n];
			int64_t at = idx ? idx[i] : i;
			uint8_t *dst = d->pixels + t * img;
			const uint8_t *from = src->pixels + at * img;
			sc_error e = {0};
			d->labels[t] = src->labels[at];
			if (sev == 0) {
				memcpy(dst, from, (size_t)img);
			} else if (corrupt_image(k, sev, seed, (uint64_t)at, from, src->c,
						 src->h, src->w, dst, &e)) {
				#pragma omp critical(corrupt_fail)
				{
					if (!failed)
						first = e;
					failed = 1;
				}
			}
		}
		if (failed) {
			*err = first;
			rc = first.code;
		}
	}
	if (rc) {
		dataset_free(d);
		return rc;
	}
	*out = d;
	return SC_OK;
}
