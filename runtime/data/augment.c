/* augment.c: augmentation policies, their random parameters, and the
 * per-image pipeline (see augment.h for the order and the semantics).
 *
 * Random draws follow torchvision's transforms one for one (same
 * distributions, same order within a transform), but from our rng, so
 * the values differ from torch's while the distributions match. */
#include "runtime/data/augment.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AUG_CHOICES "none, basic, jitter, simclr, randaugment[:N:M], autoaugment " \
	"(each optionally +blur)"
#define RANDAUG_BINS 31
#define AUTOAUG_BINS 10
#define RANDAUG_OPS 14          /* AUG_OP_IDENTITY .. AUG_OP_EQUALIZE */

/* --- policies ------------------------------------------------------------ */

static void policy_crop_flip(aug_policy *p)
{
	p->crop = 1;
	p->crop_scale[0] = 0.2;
	p->crop_scale[1] = 1.0;
	p->crop_ratio[0] = 3.0 / 4.0;
	p->crop_ratio[1] = 4.0 / 3.0;
	p->flip_p = 0.5;
}

/* SupContrast's ColorJitter(0.4, 0.4, 0.4, 0.1) applied with p = 0.8 */
static void policy_jitter(aug_policy *p)
{
	p->jitter_p = 0.8;
	p->brightness = p->contrast = p->saturation = 0.4;
	p->hue = 0.1;
}

static int parse_int(const char *s, const char **end, int lo, int hi, int *v)
{
	char *e;
	errno = 0;
	long x = strtol(s, &e, 10);
	if (e == s || errno || x < lo || x > hi)
		return 0;
	*v = (int)x;
	*end = e;
	return 1;
}

static int parse_base(const char *spec, size_t len, aug_policy *p, sc_error *err)
{
	const char *end = spec + len;
	if (len == 4 && !strncmp(spec, "none", 4))
		return SC_OK;
	if (len == 5 && !strncmp(spec, "basic", 5)) {
		policy_crop_flip(p);
		return SC_OK;
	}
	if (len == 6 && !strncmp(spec, "jitter", 6)) {
		policy_jitter(p);
		return SC_OK;
	}
	if (len == 6 && !strncmp(spec, "simclr", 6)) {
		policy_crop_flip(p);
		policy_jitter(p);
		p->gray_p = 0.2;
		return SC_OK;
	}
	if (len == 11 && !strncmp(spec, "autoaugment", 11)) {
		policy_crop_flip(p);
		p->autoaugment = 1;
		return SC_OK;
	}
	if (len >= 11 && !strncmp(spec, "randaugment", 11)) {
		const char *s = spec + 11;
		int n = 2, m = 9;
		if (s != end && (*s != ':' || !parse_int(s + 1, &s, 1, 16, &n) ||
				 *s != ':' || !parse_int(s + 1, &s, 0, RANDAUG_BINS - 1, &m) ||
				 s != end))
			return sc_fail(err, SC_EINVAL,
				       "--aug: '%.*s': expected randaugment:N:M with N in 1..16 and M in 0..30",
				       (int)len, spec);
		policy_crop_flip(p);
		p->randaugment_n = n;
		p->randaugment_m = m;
		return SC_OK;
	}
	return sc_fail(err, SC_EINVAL, "--aug: unknown policy '%.*s' (expected %s)",
		       (int)len, spec, AUG_CHOICES);
}

int aug_parse(const char *spec, aug_policy *p, sc_error *err)
{
	memset(p, 0, sizeof *p);
	if (!spec)
		spec = "none";
	const char *plus = strchr(spec, '+');
	size_t len = plus ? (size_t)(plus - spec) : strlen(spec);
	int rc = parse_base(spec, len, p, err);
	if (rc)
		return rc;
	if (plus) {
		if (strcmp(plus, "+blur") != 0)
			return sc_fail(err, SC_EINVAL, "--aug: unknown modifier '%s' in '%s' (expected %s)",
				       plus, spec, AUG_CHOICES);
		/* SimCLR's GaussianBlur: p 0.5, sigma 0.1..2 */
		p->blur_p = 0.5;
		p->blur_sigma[0] = 0.1;
		p->blur_sigma[1] = 2.0;
	}
	if (p->randaugment_n)
		snprintf(p->name, sizeof p->name, "randaugment:%d:%d%s", p->randaugment_n,
			 p->randaugment_m, plus ? "+blur" : "");
	else if (strlen(spec) < sizeof p->name)
		memcpy(p->name, spec, strlen(spec) + 1);
	else
		return sc_fail(err, SC_EINVAL, "--aug: '%s' is too long", spec);
	return SC_OK;
}

const char *aug_name(const aug_policy *p)
{
	return p && p->name[0] ? p->name : "none";
}

/* --- scratch ------------------------------------------------------------- */

int aug_scratch_reserve(aug_scratch *s, int64_t c, int64_t h, int64_t w, sc_error *err)
{
	int64_t img = c * h * w, taps = 2 * (h + w);
	if (img > s->cap_img) {
		float *p = realloc(s->img, (size_t)img * sizeof *p);
		if (!p)
			return sc_fail(err, SC_ENOMEM, "augment: cannot allocate %lld floats",
				       (long long)img);
		s->img = p;
		s->cap_img = img;
	}
	if (taps > s->cap_taps) {
		float *wt = realloc(s->wt, (size_t)taps * sizeof *wt);
		if (wt)
			s->wt = wt;
		int32_t *tap = realloc(s->tap, (size_t)taps * sizeof *tap);
		if (tap)
			s->tap = tap;
		if (!wt || !tap)
			return sc_fail(err, SC_ENOMEM, "augment: out of memory");
		s->cap_taps = taps;
	}
	return SC_OK;
}

void aug_scratch_free(aug_scratch *s)
{
	free(s->img);
	free(s->wt);
	free(s->tap);
	memset(s, 0, sizeof *s);
}

/* --- random parameters --------------------------------------------------- */

void aug_crop_params(rng *r, int64_t h, int64_t w, const double scale[2],
		     const double ratio[2], int64_t box[4])
{
	double area = (double)h * (double)w;
	double lr0 = log(ratio[0]), lr1 = log(ratio[1]);
	for (int attempt = 0; attempt < 10; attempt++) {
		double target = area * rng_range(r, scale[0], scale[1]);
		double aspect = exp(rng_range(r, lr0, lr1));
		/* Python's round(): half to even, as nearbyint does */
		int64_t cw = (int64_t)nearbyint(sqrt(target * aspect));
		int64_t ch = (int64_t)nearbyint(sqrt(target / aspect));
		if (cw > 0 && cw <= w && ch > 0 && ch <= h) {
			box[0] = (int64_t)rng_below(r, (uint64_t)(h - ch + 1));
			box[1] = (int64_t)rng_below(r, (uint64_t)(w - cw + 1));
			box[2] = ch;
			box[3] = cw;
			return;
		}
	}
	/* centre crop at the nearest allowed aspect ratio */
	double in_ratio = (double)w / (double)h;
	int64_t cw = w, ch = h;
	double rmin = fmin(ratio[0], ratio[1]), rmax = fmax(ratio[0], ratio[1]);
	if (in_ratio < rmin)
		ch = (int64_t)nearbyint((double)w / rmin);
	else if (in_ratio > rmax)
		cw = (int64_t)nearbyint((double)h * rmax);
	if (ch < 1)
		ch = 1;
	if (cw < 1)
		cw = 1;
	if (ch > h)
		ch = h;
	if (cw > w)
		cw = w;
	box[0] = (h - ch) / 2;
	box[1] = (w - cw) / 2;
	box[2] = ch;
	box[3] = cw;
}

static float jitter_factor(rng *r, double strength)
{
	double lo = 1.0 - strength;
	return (float)rng_range(r, lo > 0 ? lo : 0, 1.0 + strength);
}

void aug_jitter_params(const aug_policy *p, rng *r, aug_jitter *j)
{
	int64_t order[4] = {0, 1, 2, 3};
	rng_shuffle(r, order, 4);
	for (int i = 0; i < 4; i++)
		j->order[i] = (int)order[i];
	j->brightness = p->brightness > 0 ? jitter_factor(r, p->brightness) : 1.0f;
	j->contrast = p->contrast > 0 ? jitter_factor(r, p->contrast) : 1.0f;
	j->saturation = p->saturation > 0 ? jitter_factor(r, p->saturation) : 1.0f;
	j->hue = p->hue > 0 ? (float)rng_range(r, -p->hue, p->hue) : 0.0f;
}

static void apply_jitter(const aug_jitter *j, float *x, int64_t c, int64_t h, int64_t w)
{
	for (int i = 0; i < 4; i++) {
		switch (j->order[i]) {
		case 0:
			if (j->brightness != 1.0f)
				aug_brightness(x, c, h, w, j->brightness);
			break;
		case 1:
			if (j->contrast != 1.0f)
				aug_contrast(x, c, h, w, j->contrast);
			break;
		case 2:
			if (j->saturation != 1.0f)
				aug_saturation(x, c, h, w, j->saturation);
			break;
		default:
			if (j->hue != 0.0f)
				aug_hue(x, c, h, w, j->hue);
			break;
		}
	}
}

/* --- RandAugment and AutoAugment ----------------------------------------- */

static int op_signed(aug_op op)
{
	return op >= AUG_OP_SHEAR_X && op <= AUG_OP_SHARPNESS;
}

/* The magnitude of bin `bin` of `bins` in torchvision's
 * _augmentation_space (linspace end points per op). */
static double op_magnitude(aug_op op, int bin, int bins, int64_t h, int64_t w)
{
	double t = (double)bin / (double)(bins - 1);
	switch (op) {
	case AUG_OP_SHEAR_X:
	case AUG_OP_SHEAR_Y:
		return 0.3 * t;
	case AUG_OP_TRANSLATE_X:
		return 150.0 / 331.0 * (double)w * t;
	case AUG_OP_TRANSLATE_Y:
		return 150.0 / 331.0 * (double)h * t;
	case AUG_OP_ROTATE:
		return 30.0 * t;
	case AUG_OP_BRIGHTNESS:
	case AUG_OP_COLOR:
	case AUG_OP_CONTRAST:
	case AUG_OP_SHARPNESS:
		return 0.9 * t;
	case AUG_OP_POSTERIZE:
		return 8 - (int)nearbyint((double)bin / ((double)(bins - 1) / 4.0));
	case AUG_OP_SOLARIZE:
		return 255.0 * (1.0 - t);
	default:
		return 0.0;
	}
}

static void randaugment(const aug_policy *p, rng *r, float *x, int64_t c,
			int64_t h, int64_t w, aug_scratch *s)
{
	for (int k = 0; k < p->randaugment_n; k++) {
		aug_op op = (aug_op)rng_below(r, RANDAUG_OPS);
		double mag = op_magnitude(op, p->randaugment_m, RANDAUG_BINS, h, w);
		if (op_signed(op) && rng_below(r, 2))
			mag = -mag;
		aug_apply_op(x, c, h, w, op, mag, s);
	}
}

typedef struct autoaug_step {
	aug_op op;
	float p;
	int bin;                /* -1: the op has no magnitude */
} autoaug_step;

/* torchvision's AutoAugmentPolicy.IMAGENET */
static const autoaug_step autoaug_imagenet[25][2] = {
	{{AUG_OP_POSTERIZE, 0.4f, 8}, {AUG_OP_ROTATE, 0.6f, 9}},
	{{AUG_OP_SOLARIZE, 0.6f, 5}, {AUG_OP_AUTOCONTRAST, 0.6f, -1}},
	{{AUG_OP_EQUALIZE, 0.8f, -1}, {AUG_OP_EQUALIZE, 0.6f, -1}},
	{{AUG_OP_POSTERIZE, 0.6f, 7}, {AUG_OP_POSTERIZE, 0.6f, 6}},
	{{AUG_OP_EQUALIZE, 0.4f, -1}, {AUG_OP_SOLARIZE, 0.2f, 4}},
	{{AUG_OP_EQUALIZE, 0.4f, -1}, {AUG_OP_ROTATE, 0.8f, 8}},
	{{AUG_OP_SOLARIZE, 0.6f, 3}, {AUG_OP_EQUALIZE, 0.6f, -1}},
	{{AUG_OP_POSTERIZE, 0.8f, 5}, {AUG_OP_EQUALIZE, 1.0f, -1}},
	{{AUG_OP_ROTATE, 0.2f, 3}, {AUG_OP_SOLARIZE, 0.6f, 8}},
	{{AUG_OP_EQUALIZE, 0.6f, -1}, {AUG_OP_POSTERIZE, 0.4f, 6}},
	{{AUG_OP_ROTATE, 0.8f, 8}, {AUG_OP_COLOR, 0.4f, 0}},
	{{AUG_OP_ROTATE, 0.4f, 9}, {AUG_OP_EQUALIZE, 0.6f, -1}},
	{{AUG_OP_EQUALIZE, 0.0f, -1}, {AUG_OP_EQUALIZE, 0.8f, -1}},
	{{AUG_OP_INVERT, 0.6f, -1}, {AUG_OP_EQUALIZE, 1.0f, -1}},
	{{AUG_OP_COLOR, 0.6f, 4}, {AUG_OP_CONTRAST, 1.0f, 8}},
	{{AUG_OP_ROTATE, 0.8f, 8}, {AUG_OP_COLOR, 1.0f, 2}},
	{{AUG_OP_COLOR, 0.8f, 8}, {AUG_OP_SOLARIZE, 0.8f, 7}},
	{{AUG_OP_SHARPNESS, 0.4f, 7}, {AUG_OP_INVERT, 0.6f, -1}},
	{{AUG_OP_SHEAR_X, 0.6f, 5}, {AUG_OP_EQUALIZE, 1.0f, -1}},
	{{AUG_OP_COLOR, 0.4f, 0}, {AUG_OP_EQUALIZE, 0.6f, -1}},
	{{AUG_OP_EQUALIZE, 0.4f, -1}, {AUG_OP_SOLARIZE, 0.2f, 4}},
	{{AUG_OP_SOLARIZE, 0.6f, 5}, {AUG_OP_AUTOCONTRAST, 0.6f, -1}},
	{{AUG_OP_INVERT, 0.6f, -1}, {AUG_OP_EQUALIZE, 1.0f, -1}},
	{{AUG_OP_COLOR, 0.6f, 4}, {AUG_OP_CONTRAST, 1.0f, 8}},
	{{AUG_OP_EQUALIZE, 0.8f, -1}, {AUG_OP_EQUALIZE, 0.6f, -1}},
};

static void autoaugment(rng *r, float *x, int64_t c, int64_t h, int64_t w,
			aug_scratch *s)
{
	/* AutoAugment.get_params: policy, two probabilities, two signs */
	int id = (int)rng_below(r, 25);
	double prob[2] = {rng_uniform(r), rng_uniform(r)};
	int sign[2] = {(int)rng_below(r, 2), (int)rng_below(r, 2)};
	for (int i = 0; i < 2; i++) {
		const autoaug_step *st = &autoaug_imagenet[id][i];
		if (!(prob[i] <= st->p))
			continue;
		double mag = st->bin >= 0 ? op_magnitude(st->op, st->bin, AUTOAUG_BINS, h, w) : 0;
		if (op_signed(st->op) && sign[i] == 0)
			mag = -mag;
		aug_apply_op(x, c, h, w, st->op, mag, s);
	}
}

/* --- the pipeline -------------------------------------------------------- */

static int policy_is_identity(const aug_policy *p)
{
	return !p || (!p->crop && p->flip_p <= 0 && p->jitter_p <= 0 && p->gray_p <= 0 &&
		      p->blur_p <= 0 && !p->randaugment_n && !p->autoaugment);
}

/* The exact expression of plain normalisation, through a per-channel
 * table: ((float)v / 255 - mean) / std. */
static void normalise_u8(const uint8_t *src, int64_t c, int64_t plane,
			 const float *mean, const float *std, float *dst)
{
	float lut[256];
	for (int64_t ch = 0; ch < c; ch++) {
		float m = mean ? mean[ch] : 0.0f, sd = std ? std[ch] : 1.0f;
		for (int v = 0; v < 256; v++)
			lut[v] = ((float)v / 255.0f - m) / sd;
		const uint8_t *s = src + ch * plane;
		float *d = dst + ch * plane;
		for (int64_t i = 0; i < plane; i++)
			d[i] = lut[s[i]];
	}
}

static void normalise_f32(float *x, int64_t c, int64_t plane, const float *mean,
			  const float *std)
{
	for (int64_t ch = 0; ch < c; ch++) {
		float m = mean ? mean[ch] : 0.0f, sd = std ? std[ch] : 1.0f;
		float *d = x + ch * plane;
		for (int64_t i = 0; i < plane; i++)
			d[i] = (d[i] - m) / sd;
	}
}

void aug_apply_scratch(const aug_policy *p, rng *r, const uint8_t *src,
		       int64_t c, int64_t h, int64_t w, const float *mean,
		       const float *std, float *dst, aug_scratch *s)
{
	int64_t plane = h * w;
	if (policy_is_identity(p)) {
		normalise_u8(src, c, plane, mean, std, dst);
		return;
	}
	/* dst is the working image, in [0, 1] until the last step */
	if (p->crop) {
		int64_t box[4];
		aug_crop_params(r, h, w, p->crop_scale, p->crop_ratio, box);
		aug_resized_crop(src, c, h, w, box, dst, s);
	} else {
		for (int64_t i = 0; i < c * plane; i++)
			dst[i] = (float)src[i] / 255.0f;
	}
	if (p->flip_p > 0 && rng_uniform(r) < p->flip_p)
		aug_hflip(dst, c, h, w);
	if (p->randaugment_n)
		randaugment(p, r, dst, c, h, w, s);
	if (p->autoaugment)
		autoaugment(r, dst, c, h, w, s);
	if (p->jitter_p > 0 && rng_uniform(r) < p->jitter_p) {
		aug_jitter j;
		aug_jitter_params(p, r, &j);
		apply_jitter(&j, dst, c, h, w);
	}
	if (p->gray_p > 0 && rng_uniform(r) < p->gray_p)
		aug_grayscale(dst, c, h, w);
	if (p->blur_p > 0 && rng_uniform(r) < p->blur_p) {
		float sigma = (float)rng_range(r, p->blur_sigma[0], p->blur_sigma[1]);
		aug_gaussian_blur(dst, c, h, w, aug_blur_kernel_size(h, w), sigma, s);
	}
	normalise_f32(dst, c, plane, mean, std);
}

int aug_apply(const aug_policy *p, rng *r, const uint8_t *src, int64_t c,
	      int64_t h, int64_t w, const float *mean, const float *std,
	      float *dst)
{
	aug_scratch s = {0};
	if (aug_scratch_reserve(&s, c, h, w, NULL)) {
		aug_scratch_free(&s);
		return SC_ENOMEM;
	}
	aug_apply_scratch(p, r, src, c, h, w, mean, std, dst, &s);
	aug_scratch_free(&s);
	return SC_OK;
}
