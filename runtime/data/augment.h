/* augment.h: per-image data augmentation with torchvision's semantics.
 *
 * A policy (aug_policy) says which random transforms run and with what
 * ranges; aug_apply() turns one uint8 CHW image into one normalised float
 * view.  All randomness comes from the rng the caller passes, so a view is
 * a pure function of (policy, rng state, image): the loader seeds one rng
 * per (epoch, image, view) and the result does not depend on the thread.
 *
 * The pipeline, in this order (each step only if the policy enables it):
 *   RandomResizedCrop(scale, ratio) back to h x w, bilinear (antialiased
 *     like PIL; 10 attempts, then the centre-crop fallback)
 *   RandomHorizontalFlip(flip_p)
 *   RandAugment(N, M) or AutoAugment(ImageNet policy), nearest, fill 0
 *   RandomApply(ColorJitter(b, c, s, h), jitter_p), the four in random order
 *   RandomGrayscale(gray_p)
 *   RandomApply(GaussianBlur(kernel ~ 10% of the side, sigma range), blur_p)
 *   (x - mean[ch]) / std[ch] with x in [0, 1]
 * The image is float in [0, 1] between steps, as torchvision's float
 * tensor ops keep it (clamped after every blend).  Saturation, hue and
 * grayscale need RGB: with another channel count they do nothing, as in
 * torchvision for one channel.  Ops that torchvision defines on uint8
 * (posterize, equalize, solarize's 0..255 threshold) quantise to 8 bits. */
#ifndef SUPCON_DATA_AUGMENT_H
#define SUPCON_DATA_AUGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/rng.h"
#include "runtime/status.h"

typedef struct aug_policy {
	char name[32];              /* canonical spec: "simclr", "randaugment:2:9", ... */
	int crop;                   /* RandomResizedCrop on/off */
	double crop_scale[2];       /* fraction of the area */
	double crop_ratio[2];       /* width / height */
	double flip_p;              /* RandomHorizontalFlip */
	double jitter_p;            /* probability of applying the ColorJitter */
	double brightness, contrast, saturation, hue;   /* ColorJitter strengths, 0 = off */
	double gray_p;              /* RandomGrayscale */
	double blur_p;              /* probability of GaussianBlur */
	double blur_sigma[2];       /* its sigma range */
	int randaugment_n;          /* RandAugment ops per image, 0 = off */
	int randaugment_m;          /* its magnitude, bin of 0..30 */
	int autoaugment;            /* AutoAugment, ImageNet policy */
} aug_policy;

/* none | basic | jitter | simclr | randaugment[:N:M] (default 2:9) |
 * autoaugment.  On error the message lists the choices. */
int aug_parse(const char *spec, aug_policy *p, sc_error *err);
const char *aug_name(const aug_policy *p);

/* Working memory of aug_apply_scratch(), reserved once per thread. */
typedef struct aug_scratch {
	float *img;             /* c*h*w floats */
	float *wt;              /* tap weights, 2*(h+w) */
	int32_t *tap;           /* tap indices, 2*(h+w) */
	int64_t cap_img, cap_taps;
} aug_scratch;

int aug_scratch_reserve(aug_scratch *s, int64_t c, int64_t h, int64_t w, sc_error *err);
void aug_scratch_free(aug_scratch *s);

/* One augmented view: src is c*h*w uint8 CHW; writes dst c*h*w floats,
 * normalised (x/255 - mean[ch]) / std[ch].  Deterministic for a given rng
 * state.  Output size = input size.  s must have been reserved for this
 * geometry; this never allocates and cannot fail. */
void aug_apply_scratch(const aug_policy *p, rng *r, const uint8_t *src,
		       int64_t c, int64_t h, int64_t w, const float *mean,
		       const float *std, float *dst, aug_scratch *s);

/* aug_apply_scratch() with scratch allocated for this call: SC_OK, or
 * SC_ENOMEM with dst untouched. */
int aug_apply(const aug_policy *p, rng *r, const uint8_t *src, int64_t c,
	      int64_t h, int64_t w, const float *mean, const float *std,
	      float *dst);

/* --- the random parameters, drawn as aug_apply draws them --------------- */

/* torchvision's RandomResizedCrop.get_params: box = {top, left, height,
 * width}, always inside the h x w image. */
void aug_crop_params(rng *r, int64_t h, int64_t w, const double scale[2],
		     const double ratio[2], int64_t box[4]);

typedef struct aug_jitter {
	int order[4];           /* 0 brightness, 1 contrast, 2 saturation, 3 hue */
	float brightness, contrast, saturation, hue;   /* factors; 1 (0 for hue) when off */
} aug_jitter;

/* ColorJitter.get_params: a random order, and factors uniform in
 * [max(0, 1 - s), 1 + s] (hue in [-h, h]). */
void aug_jitter_params(const aug_policy *p, rng *r, aug_jitter *j);

/* --- deterministic building blocks on float planes in [0, 1] ----------- */

/* Crop box {top, left, ch, cw} of the uint8 image, resized to h x w. */
void aug_resized_crop(const uint8_t *src, int64_t c, int64_t h, int64_t w,
		      const int64_t box[4], float *dst, aug_scratch *s);
void aug_hflip(float *x, int64_t c, int64_t h, int64_t w);
void aug_brightness(float *x, int64_t c, int64_t h, int64_t w, float f);
void aug_contrast(float *x, int64_t c, int64_t h, int64_t w, float f);
void aug_saturation(float *x, int64_t c, int64_t h, int64_t w, float f);
/* f in [-0.5, 0.5] */
void aug_hue(float *x, int64_t c, int64_t h, int64_t w, float f);
void aug_grayscale(float *x, int64_t c, int64_t h, int64_t w);
/* Odd ksize, reflect padding (needs ksize / 2 < h and w; else no-op). */
void aug_gaussian_blur(float *x, int64_t c, int64_t h, int64_t w, int ksize,
		       float sigma, aug_scratch *s);
/* The kernel size aug_apply uses: int(0.1 * side) made odd, at least 3. */
int aug_blur_kernel_size(int64_t h, int64_t w);

/* RandAugment / AutoAugment operations, with torchvision's magnitudes. */
typedef enum aug_op {
	AUG_OP_IDENTITY, AUG_OP_SHEAR_X, AUG_OP_SHEAR_Y, AUG_OP_TRANSLATE_X,
	AUG_OP_TRANSLATE_Y, AUG_OP_ROTATE, AUG_OP_BRIGHTNESS, AUG_OP_COLOR,
	AUG_OP_CONTRAST, AUG_OP_SHARPNESS, AUG_OP_POSTERIZE, AUG_OP_SOLARIZE,
	AUG_OP_AUTOCONTRAST, AUG_OP_EQUALIZE, AUG_OP_INVERT, AUG_OP_COUNT
} aug_op;

/* torchvision's _apply_op(img, op, magnitude): magnitude in the op's own
 * units (shear factor, pixels, degrees, blend offset, bits, 0..255). */
void aug_apply_op(float *x, int64_t c, int64_t h, int64_t w, aug_op op,
		  double magnitude, aug_scratch *s);

#endif
