/* corrupt.h: common corruptions of images, for robustness measurements in
 * the manner of ImageNet-C (Hendrycks and Dietterich, ICLR 2019).
 *
 * Seven corruptions at severities 1..5, with the parameter tables that
 * CIFAR-10-C uses for 32x32 images (make_cifar_c.py), which suit
 * Fashion-MNIST's 28x28 as well:
 *   gaussian_noise  x + N(0, s),            s = .04 .06 .08 .09 .10
 *   shot_noise      Poisson(x * l) / l,     l = 500 250 100 75 50
 *   gaussian_blur   Gaussian filter sigma,  s = .4 .6 .7 .8 1 (pixels;
 *                   radius int(4 s + .5), edges replicated, as skimage)
 *   contrast        (x - m) * c + m, m the channel mean, c = .75 .5 .4 .3 .15
 *   brightness      HSV value + b (clipped), b = .05 .1 .15 .2 .3; with one
 *                   channel (or two or four) each channel + b
 *   pixelate        PIL BOX resize to int(side * f), then back,
 *                   f = .95 .9 .85 .75 .65 (8-bit rounding after each pass)
 *   jpeg            8x8 DCT quantisation with the JPEG tables (Annex K)
 *                   scaled as libjpeg does for quality q = 80 65 58 50 40;
 *                   RGB goes through YCbCr (luma table on Y, chroma table
 *                   on Cb and Cr, no subsampling); "JPEG-like": no
 *                   entropy coding, so nothing but the quantisation.
 * x is the image in [0, 1] (pixel / 255); every result is clipped to
 * [0, 1] and rounded to 8 bits, as the published datasets store them.
 *
 * The noises draw from rng(seed, stream) with a stream derived from
 * (corruption, severity, image index), so a corrupted image depends on the
 * seed and its index only, never on the order or the thread that made
 * it.  Images are uint8 CHW, as datasets hold them. */
#ifndef SUPCON_DATA_CORRUPT_H
#define SUPCON_DATA_CORRUPT_H

#include <stdint.h>

#include "runtime/data/dataset.h"
#include "runtime/status.h"

typedef enum corrupt_kind {
	CORRUPT_GAUSSIAN_NOISE,
	CORRUPT_SHOT_NOISE,
	CORRUPT_GAUSSIAN_BLUR,
	CORRUPT_CONTRAST,
	CORRUPT_BRIGHTNESS,
	CORRUPT_PIXELATE,
	CORRUPT_JPEG,
	CORRUPT_COUNT
} corrupt_kind;

#define CORRUPT_SEVERITIES 5

/* "gaussian_noise", ... as listed above. */
const char *corrupt_name(corrupt_kind k);

/* A name into *k; SC_EINVAL listing the names otherwise. */
int corrupt_parse(const char *name, corrupt_kind *k, sc_error *err);

/* The parameter of severity 1..5 from the table above. */
double corrupt_param(corrupt_kind k, int severity);

/* Corrupts one c x h x w uint8 image src into dst (may not alias src).
 * index picks the noise stream.  SC_ENOMEM when the working planes cannot
 * be allocated, SC_EINVAL for a bad severity or geometry. */
int corrupt_image(corrupt_kind k, int severity, uint64_t seed, uint64_t index,
		  const uint8_t *src, int64_t c, int64_t h, int64_t w,
		  uint8_t *dst, sc_error *err);

/* A new dataset holding the images idx[0..n) of src (idx NULL: the first
 * n), corrupted, with their labels and src's class names; image i of the
 * result uses the noise stream of its index in src.  Free with
 * dataset_free(). */
int corrupt_dataset(const dataset *src, const int64_t *idx, int64_t n,
		    corrupt_kind k, int severity, uint64_t seed, dataset **out,
		    sc_error *err);

/* The same for several severities at once: n_sev blocks of n images,
 * block j at severity severities[j] (0 = the clean images), so that one
 * pass of a model evaluates them all. */
int corrupt_dataset_severities(const dataset *src, const int64_t *idx,
			       int64_t n, corrupt_kind k, const int *severities,
			       int n_sev, uint64_t seed, dataset **out,
			       sc_error *err);

#endif
