/* augment_ops.c: the deterministic image operations behind aug_apply().
 *
 * Each follows torchvision 0.14's tensor implementation (functional_tensor.py)
 * on float images in [0, 1]: the same grey weights, blends clamped to
 * [0, 1], the same HSV round trip, reflect-padded Gaussian blur, and the
 * inverse-affine grid with nearest sampling and zero fill.  They work in
 * place on one image and take their temporary planes from aug_scratch, so
 * the loader's hot loop allocates nothing. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/data/augment.h"

/* torchvision's rgb_to_grayscale weights (ITU-R 601-2 luma) */
#define GRAY_R 0.2989f
#define GRAY_G 0.587f
#define GRAY_B 0.114f

static inline float clamp01(float v)
{
	return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
}

/* --- resized crop -------------------------------------------------------- */

/* Bilinear taps of every output index: the antialiased filter of PIL and
 * torch with support max(scale, 1); a crop is never larger than the output
 * here, so at most two taps.  tap[2i], tap[2i+1] are source indices and
 * wt[2i], wt[2i+1] their normalised weights. */
static void crop_taps(int64_t out, int64_t first, int64_t in, int32_t *tap, float *wt)
{
	double scale = (double)in / (double)out;
	double support = scale >= 1.0 ? scale : 1.0;
	double invscale = scale >= 1.0 ? 1.0 / scale : 1.0;
	for (int64_t i = 0; i < out; i++) {
		double center = scale * ((double)i + 0.5);
		int64_t lo = (int64_t)(center - support + 0.5);
		int64_t hi = (int64_t)(center + support + 0.5);
		if (lo < 0)
			lo = 0;
		if (hi > in)
			hi = in;
		if (hi - lo > 2)
			hi = lo + 2;
		double w0 = 0, w1 = 0;
		w0 = 1.0 - fabs(((double)lo - center + 0.5) * invscale);
		if (w0 < 0)
			w0 = 0;
		if (hi - lo == 2) {
			w1 = 1.0 - fabs(((double)lo + 1 - center + 0.5) * invscale);
			if (w1 < 0)
				w1 = 0;
		}
		double total = w0 + w1;
		tap[2 * i] = (int32_t)(first + lo);
		tap[2 * i + 1] = (int32_t)(first + (hi - lo == 2 ? lo + 1 : lo));
		wt[2 * i] = (float)(total > 0 ? w0 / total : 1.0);
		wt[2 * i + 1] = (float)(total > 0 ? w1 / total : 0.0);
	}
}

void aug_resized_crop(const uint8_t *src, int64_t c, int64_t h, int64_t w,
		      const int64_t box[4], float *dst, aug_scratch *s)
{
	int32_t *tx = s->tap, *ty = s->tap + 2 * w;
	float *wx = s->wt, *wy = s->wt + 2 * w;
	crop_taps(w, box[1], box[3], tx, wx);
	crop_taps(h, box[0], box[2], ty, wy);
	const float k = 1.0f / 255.0f;
	for (int64_t ch = 0; ch < c; ch++) {
		const uint8_t *p = src + ch * h * w;
		float *o = dst + ch * h * w;
		for (int64_t y = 0; y < h; y++) {
			const uint8_t *r0 = p + (int64_t)ty[2 * y] * w;
			const uint8_t *r1 = p + (int64_t)ty[2 * y + 1] * w;
			float a = wy[2 * y] * k, b = wy[2 * y + 1] * k;
			for (int64_t x = 0; x < w; x++) {
				int32_t x0 = tx[2 * x], x1 = tx[2 * x + 1];
				float top = wx[2 * x] * r0[x0] + wx[2 * x + 1] * r0[x1];
				float bot = wx[2 * x] * r1[x0] + wx[2 * x + 1] * r1[x1];
				o[y * w + x] = a * top + b * bot;
			}
		}
	}
}

/* --- flips and colour ---------------------------------------------------- */

void aug_hflip(float *x, int64_t c, int64_t h, int64_t w)
{
	for (int64_t r = 0; r < c * h; r++) {
		float *row = x + r * w;
		for (int64_t i = 0, j = w - 1; i < j; i++, j--) {
			float t = row[i];
			row[i] = row[j];
			row[j] = t;
		}
	}
}

void aug_brightness(float *x, int64_t c, int64_t h, int64_t w, float f)
{
	for (int64_t i = 0; i < c * h * w; i++)
		x[i] = clamp01(f * x[i]);
}

static inline float gray_of(const float *x, int64_t plane, int64_t i)
{
	return GRAY_R * x[i] + GRAY_G * x[plane + i] + GRAY_B * x[2 * plane + i];
}

void aug_contrast(float *x, int64_t c, int64_t h, int64_t w, float f)
{
	int64_t plane = h * w;
	double sum = 0;
	if (c == 3) {
		for (int64_t i = 0; i < plane; i++)
			sum += gray_of(x, plane, i);
		sum /= (double)plane;
	} else {
		for (int64_t i = 0; i < c * plane; i++)
			sum += x[i];
		sum /= (double)(c * plane);
	}
	float mean = (float)sum, g = (1.0f - f) * mean;
	for (int64_t i = 0; i < c * plane; i++)
		x[i] = clamp01(f * x[i] + g);
}

void aug_saturation(float *x, int64_t c, int64_t h, int64_t w, float f)
{
	if (c != 3)
		return;
	int64_t plane = h * w;
	for (int64_t i = 0; i < plane; i++) {
		float g = (1.0f - f) * gray_of(x, plane, i);
		for (int64_t ch = 0; ch < 3; ch++)
			x[ch * plane + i] = clamp01(f * x[ch * plane + i] + g);
	}
}

/* torchvision's _rgb2hsv / _hsv2rgb for one pixel */
static void hue_shift_pixel(float *r, float *g, float *b, float shift)
{
	float maxc = fmaxf(*r, fmaxf(*g, *b)), minc = fminf(*r, fminf(*g, *b));
	int eqc = maxc == minc;
	float cr = maxc - minc;
	float s = cr / (eqc ? 1.0f : maxc);
	float div = eqc ? 1.0f : cr;
	float rc = (maxc - *r) / div, gc = (maxc - *g) / div, bc = (maxc - *b) / div;
	float hh;
	if (maxc == *r)
		hh = bc - gc;
	else if (maxc == *g)
		hh = 2.0f + rc - bc;
	else
		hh = 4.0f + gc - rc;
	/* fmod(h / 6 + 1, 1), then Python's non-negative (h + shift) % 1;
	 * x - floor(x) is exact in float, and far cheaper than fmodf */
	hh = hh / 6.0f + 1.0f;
	hh -= floorf(hh);
	hh += shift;
	hh -= floorf(hh);
	float v = maxc;
	float i6 = floorf(hh * 6.0f), fr = hh * 6.0f - i6;
	float p = clamp01(v * (1.0f - s));
	float q = clamp01(v * (1.0f - s * fr));
	float t = clamp01(v * (1.0f - s * (1.0f - fr)));
	switch (((int)i6 % 6 + 6) % 6) {
	case 0: *r = v; *g = t; *b = p; break;
	case 1: *r = q; *g = v; *b = p; break;
	case 2: *r = p; *g = v; *b = t; break;
	case 3: *r = p; *g = q; *b = v; break;
	case 4: *r = t; *g = p; *b = v; break;
	default: *r = v; *g = p; *b = q; break;
	}
}

void aug_hue(float *x, int64_t c, int64_t h, int64_t w, float f)
{
	if (c != 3)
		return;
	int64_t plane = h * w;
	for (int64_t i = 0; i < plane; i++)
		hue_shift_pixel(x + i, x + plane + i, x + 2 * plane + i, f);
}

void aug_grayscale(float *x, int64_t c, int64_t h, int64_t w)
{
	if (c != 3)
		return;
	int64_t plane = h * w;
	for (int64_t i = 0; i < plane; i++) {
		float g = gray_of(x, plane, i);
		x[i] = x[plane + i] = x[2 * plane + i] = g;
	}
}

/* --- blur ---------------------------------------------------------------- */

int aug_blur_kernel_size(int64_t h, int64_t w)
{
	int64_t side = h < w ? h : w;
	int k = (int)(0.1 * (double)side) / 2 * 2 + 1;
	return k < 3 ? 3 : k;
}

static inline int64_t reflect(int64_t i, int64_t n)
{
	if (i < 0)
		return -i;
	if (i >= n)
		return 2 * (n - 1) - i;
	return i;
}

#define BLUR_MAX_KSIZE 255

void aug_gaussian_blur(float *x, int64_t c, int64_t h, int64_t w, int ksize,
		       float sigma, aug_scratch *s)
{
	int half = ksize / 2;
	if (ksize < 1 || ksize % 2 == 0 || ksize > BLUR_MAX_KSIZE || half >= h ||
	    half >= w || !(sigma > 0))
		return;
	float k[BLUR_MAX_KSIZE];
	float total = 0;
	for (int i = 0; i < ksize; i++) {
		float t = (float)(i - half) / sigma;
		k[i] = expf(-0.5f * t * t);
		total += k[i];
	}
	for (int i = 0; i < ksize; i++)
		k[i] /= total;
	float *tmp = s->img;
	for (int64_t ch = 0; ch < c; ch++) {
		float *p = x + ch * h * w;
		/* horizontal into tmp, then vertical back into p */
		for (int64_t y = 0; y < h; y++) {
			const float *row = p + y * w;
			for (int64_t xx = 0; xx < w; xx++) {
				float acc = 0;
				for (int i = 0; i < ksize; i++)
					acc += k[i] * row[reflect(xx + i - half, w)];
				tmp[y * w + xx] = acc;
			}
		}
		for (int64_t y = 0; y < h; y++) {
			for (int64_t xx = 0; xx < w; xx++) {
				float acc = 0;
				for (int i = 0; i < ksize; i++)
					acc += k[i] * tmp[reflect(y + i - half, h) * w + xx];
				p[y * w + xx] = acc;
			}
		}
	}
}

/* --- geometric ops (RandAugment / AutoAugment) --------------------------- */

/* torchvision's _get_inverse_affine_matrix with scale 1: output pixel
 * coordinates (centred) to input coordinates (centred). */
static void inverse_affine(double cx, double cy, double angle_deg, double tx,
			   double ty, double shear_x_deg, double shear_y_deg,
			   double m[6])
{
	double rot = angle_deg * M_PI / 180.0;
	double sx = shear_x_deg * M_PI / 180.0, sy = shear_y_deg * M_PI / 180.0;
	double a = cos(rot - sy) / cos(sy);
	double b = -cos(rot - sy) * tan(sx) / cos(sy) - sin(rot);
	double c = sin(rot - sy) / cos(sy);
	double d = -sin(rot - sy) * tan(sx) / cos(sy) + cos(rot);
	m[0] = d;
	m[1] = -b;
	m[2] = 0;
	m[3] = -c;
	m[4] = a;
	m[5] = 0;
	m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty);
	m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty);
	m[2] += cx;
	m[5] += cy;
}

/* F_t.affine: the grid of _gen_affine_grid in float32, then grid_sample
 * with nearest (round half to even), zeros outside. */
static void affine_nearest(float *x, int64_t c, int64_t h, int64_t w,
			   const double m[6], aug_scratch *s)
{
	float *src = s->img;
	memcpy(src, x, (size_t)(c * h * w) * sizeof *x);
	float hw = 0.5f * (float)w, hh = 0.5f * (float)h;
	float t0 = (float)m[0] / hw, t1 = (float)m[1] / hw, t2 = (float)m[2] / hw;
	float t3 = (float)m[3] / hh, t4 = (float)m[4] / hh, t5 = (float)m[5] / hh;
	for (int64_t y = 0; y < h; y++) {
		float by = -hh + 0.5f + (float)y;
		for (int64_t xx = 0; xx < w; xx++) {
			float bx = -hw + 0.5f + (float)xx;
			float gx = bx * t0 + by * t1 + t2;
			float gy = bx * t3 + by * t4 + t5;
			float ix = nearbyintf(((gx + 1.0f) * (float)w - 1.0f) * 0.5f);
			float iy = nearbyintf(((gy + 1.0f) * (float)h - 1.0f) * 0.5f);
			int inside = ix >= 0 && ix < (float)w && iy >= 0 && iy < (float)h;
			int64_t at = inside ? (int64_t)iy * w + (int64_t)ix : 0;
			for (int64_t ch = 0; ch < c; ch++)
				x[ch * h * w + y * w + xx] = inside ? src[ch * h * w + at] : 0.0f;
		}
	}
}

static void aug_sharpness(float *x, int64_t c, int64_t h, int64_t w, float f,
			  aug_scratch *s)
{
	if (h <= 2 || w <= 2)
		return;
	float *blur = s->img;
	memcpy(blur, x, (size_t)(c * h * w) * sizeof *x);
	for (int64_t ch = 0; ch < c; ch++) {
		const float *p = x + ch * h * w;
		float *q = blur + ch * h * w;
		for (int64_t y = 1; y < h - 1; y++)
			for (int64_t xx = 1; xx < w - 1; xx++) {
				float acc = 0;
				for (int dy = -1; dy <= 1; dy++)
					for (int dx = -1; dx <= 1; dx++)
						acc += p[(y + dy) * w + xx + dx];
				acc += 4.0f * p[y * w + xx];
				q[y * w + xx] = acc / 13.0f;
			}
	}
	for (int64_t i = 0; i < c * h * w; i++)
		x[i] = clamp01(f * x[i] + (1.0f - f) * blur[i]);
}

static inline int quantize(float v)
{
	float q = nearbyintf(v * 255.0f);
	return q < 0 ? 0 : q > 255 ? 255 : (int)q;
}

static void aug_posterize(float *x, int64_t n, int bits)
{
	int mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
	for (int64_t i = 0; i < n; i++)
		x[i] = (float)(quantize(x[i]) & mask) / 255.0f;
}

static void aug_solarize(float *x, int64_t n, double threshold)
{
	/* the threshold is on torchvision's uint8 scale; the slack keeps
	 * k/255 * 255 from landing just under an integer threshold k */
	float t = (float)threshold - 1e-3f;
	for (int64_t i = 0; i < n; i++)
		if (x[i] * 255.0f >= t)
			x[i] = 1.0f - x[i];
}

static void aug_autocontrast(float *x, int64_t c, int64_t h, int64_t w)
{
	int64_t plane = h * w;
	for (int64_t ch = 0; ch < c; ch++) {
		float *p = x + ch * plane, lo = p[0], hi = p[0];
		for (int64_t i = 1; i < plane; i++) {
			lo = fminf(lo, p[i]);
			hi = fmaxf(hi, p[i]);
		}
		if (hi == lo)
			continue;
		float scale = 1.0f / (hi - lo);
		for (int64_t i = 0; i < plane; i++)
			p[i] = clamp01((p[i] - lo) * scale);
	}
}

/* torchvision's _scale_channel: PIL's equalize on the 8-bit histogram */
static void aug_equalize(float *x, int64_t c, int64_t h, int64_t w)
{
	int64_t plane = h * w;
	for (int64_t ch = 0; ch < c; ch++) {
		float *p = x + ch * plane;
		int64_t hist[256] = {0}, lut[256];
		for (int64_t i = 0; i < plane; i++)
			hist[quantize(p[i])]++;
		int last = 255;
		while (last > 0 && hist[last] == 0)
			last--;
		int64_t sum = 0;
		for (int v = 0; v < last; v++)
			sum += hist[v];
		int64_t step = sum / 255;
		if (step == 0)
			continue;       /* torchvision leaves such a channel as is */
		int64_t cum = 0;
		lut[0] = 0;
		for (int v = 0; v < 255; v++) {
			cum += hist[v];
			int64_t l = (cum + step / 2) / step;
			lut[v + 1] = l > 255 ? 255 : l;
		}
		for (int64_t i = 0; i < plane; i++)
			p[i] = (float)lut[quantize(p[i])] / 255.0f;
	}
}

void aug_apply_op(float *x, int64_t c, int64_t h, int64_t w, aug_op op,
		  double mag, aug_scratch *s)
{
	int64_t n = c * h * w;
	double m[6];
	switch (op) {
	case AUG_OP_SHEAR_X:
		inverse_affine(-0.5 * w, -0.5 * h, 0, 0, 0, atan(mag) * 180.0 / M_PI, 0, m);
		affine_nearest(x, c, h, w, m, s);
		break;
	case AUG_OP_SHEAR_Y:
		inverse_affine(-0.5 * w, -0.5 * h, 0, 0, 0, 0, atan(mag) * 180.0 / M_PI, m);
		affine_nearest(x, c, h, w, m, s);
		break;
	case AUG_OP_TRANSLATE_X:
		inverse_affine(0, 0, 0, trunc(mag), 0, 0, 0, m);
		affine_nearest(x, c, h, w, m, s);
		break;
	case AUG_OP_TRANSLATE_Y:
		inverse_affine(0, 0, 0, 0, trunc(mag), 0, 0, m);
		affine_nearest(x, c, h, w, m, s);
		break;
	case AUG_OP_ROTATE:
		/* F.rotate passes -angle: positive degrees turn anticlockwise */
		inverse_affine(0, 0, -mag, 0, 0, 0, 0, m);
		affine_nearest(x, c, h, w, m, s);
		break;
	case AUG_OP_BRIGHTNESS:
		aug_brightness(x, c, h, w, (float)(1.0 + mag));
		break;
	case AUG_OP_COLOR:
		aug_saturation(x, c, h, w, (float)(1.0 + mag));
		break;
	case AUG_OP_CONTRAST:
		aug_contrast(x, c, h, w, (float)(1.0 + mag));
		break;
	case AUG_OP_SHARPNESS:
		aug_sharpness(x, c, h, w, (float)(1.0 + mag), s);
		break;
	case AUG_OP_POSTERIZE:
		aug_posterize(x, n, (int)mag);
		break;
	case AUG_OP_SOLARIZE:
		aug_solarize(x, n, mag);
		break;
	case AUG_OP_AUTOCONTRAST:
		aug_autocontrast(x, c, h, w);
		break;
	case AUG_OP_EQUALIZE:
		aug_equalize(x, c, h, w);
		break;
	case AUG_OP_INVERT:
		for (int64_t i = 0; i < n; i++)
			x[i] = 1.0f - x[i];
		break;
	case AUG_OP_IDENTITY:
	case AUG_OP_COUNT:
		break;
	}
}
