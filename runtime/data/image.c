/* image.c: PNG decoding (libpng) and antialiased resizing for datasets. */
#include "runtime/data/image.h"

#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/data/dataset.h"
#include "runtime/fileio.h"

typedef struct png_ctx {
	const char *path;
	char msg[256];
	FILE *fp;
	png_structp png;
	png_infop info;
	uint8_t *interleaved;   /* h rows of w * channels samples */
	png_bytep *rows;
	int64_t h, w;
	int channels;
	int64_t file_size;
} png_ctx;

/* deflate cannot expand data by more than about 1032:1, so a PNG whose
 * pixels would need more than this many bytes per file byte is lying */
#define PNG_MAX_EXPANSION 1100
#define PNG_SLACK_BYTES ((int64_t)1 << 20)

static void png_ctx_error(png_structp png, png_const_charp msg)
{
	png_ctx *c = png_get_error_ptr(png);
	snprintf(c->msg, sizeof c->msg, "%s", msg ? msg : "libpng error");
	png_longjmp(png, 1);
}

/* Warnings (a wrong sRGB profile, an unknown chunk) do not stop decoding;
 * a dataset of thousands of such files must not flood stderr. */
static void png_ctx_warning(png_structp png, png_const_charp msg)
{
	(void)png;
	(void)msg;
}

/* Everything touched after setjmp lives behind c, not in locals, so its
 * values are defined when libpng longjmps back here. */
static int png_decode(png_ctx *c, sc_error *err)
{
	if (setjmp(png_jmpbuf(c->png)))
		return sc_fail(err, SC_EINVAL, "%s: not a readable PNG (%s)", c->path, c->msg);
	png_init_io(c->png, c->fp);
	png_set_user_limits(c->png, DATASET_MAX_SIDE, DATASET_MAX_SIDE);
	png_read_info(c->png, c->info);
	c->w = png_get_image_width(c->png, c->info);
	c->h = png_get_image_height(c->png, c->info);
	if (png_get_bit_depth(c->png, c->info) == 16)
		png_set_scale_16(c->png);
	png_set_expand(c->png);
	png_set_strip_alpha(c->png);
	png_set_interlace_handling(c->png);
	png_read_update_info(c->png, c->info);
	c->channels = png_get_channels(c->png, c->info);
	size_t rowbytes = png_get_rowbytes(c->png, c->info);
	if ((c->channels != 1 && c->channels != 3) ||
	    rowbytes != (size_t)(c->w * c->channels) || c->h <= 0 || c->w <= 0)
		return sc_fail(err, SC_EINVAL, "%s: unexpected PNG layout (%d channels)",
			       c->path, c->channels);
	if ((int64_t)rowbytes * c->h > PNG_MAX_EXPANSION * c->file_size + PNG_SLACK_BYTES)
		return sc_fail(err, SC_EINVAL,
			       "%s: declares %lldx%lld pixels, more than its %lld bytes can hold",
			       c->path, (long long)c->w, (long long)c->h,
			       (long long)c->file_size);
	c->interleaved = malloc(rowbytes * (size_t)c->h);
	c->rows = malloc((size_t)c->h * sizeof *c->rows);
	if (!c->interleaved || !c->rows)
		return sc_fail(err, SC_ENOMEM, "%s: cannot allocate %lldx%lld pixels",
			       c->path, (long long)c->h, (long long)c->w);
	for (int64_t y = 0; y < c->h; y++)
		c->rows[y] = c->interleaved + (size_t)y * rowbytes;
	png_read_image(c->png, c->rows);
	png_read_end(c->png, NULL);
	return SC_OK;
}

/* Interleaved 1- or 3-channel samples to `channels` planes. */
static void png_to_planes(const png_ctx *c, int64_t channels, uint8_t *out)
{
	int64_t plane = c->h * c->w;
	const uint8_t *s = c->interleaved;
	for (int64_t i = 0; i < plane; i++) {
		if (c->channels == 1) {
			for (int64_t ch = 0; ch < channels; ch++)
				out[ch * plane + i] = s[i];
		} else if (channels == 3) {
			out[i] = s[3 * i];
			out[plane + i] = s[3 * i + 1];
			out[2 * plane + i] = s[3 * i + 2];
		} else {
			/* PIL's convert("L"): 16-bit fixed point 601 luma */
			uint32_t r = s[3 * i], g = s[3 * i + 1], b = s[3 * i + 2];
			out[i] = (uint8_t)((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16);
		}
	}
}

int data_png_read(const char *path, int64_t channels, uint8_t **pixels,
		  int64_t *h, int64_t *w, sc_error *err)
{
	png_ctx c;
	int rc;
	memset(&c, 0, sizeof c);
	c.path = path;
	*pixels = NULL;
	if (channels != 1 && channels != 3)
		return sc_fail(err, SC_EINVAL, "%s: cannot decode to %lld channels (1 or 3)",
			       path, (long long)channels);
	c.fp = fopen(path, "rb");
	if (!c.fp)
		return sc_fail(err, errno == ENOENT ? SC_EINVAL : SC_EIO, "%s: %s",
			       path, strerror(errno));
	struct stat st;
	c.file_size = fstat(fileno(c.fp), &st) == 0 ? (int64_t)st.st_size : 0;
	c.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &c, png_ctx_error,
				       png_ctx_warning);
	c.info = c.png ? png_create_info_struct(c.png) : NULL;
	if (!c.png || !c.info) {
		rc = sc_fail(err, SC_ENOMEM, "%s: cannot create a PNG reader", path);
		goto out;
	}
	if ((rc = sc_input_register(path, err)) || (rc = png_decode(&c, err)))
		goto out;
	*pixels = malloc((size_t)(channels * c.h * c.w));
	if (!*pixels) {
		rc = sc_fail(err, SC_ENOMEM, "%s: cannot allocate %lldx%lld pixels",
			     path, (long long)c.h, (long long)c.w);
		goto out;
	}
	png_to_planes(&c, channels, *pixels);
	*h = c.h;
	*w = c.w;
out:
	if (c.png)
		png_destroy_read_struct(&c.png, c.info ? &c.info : NULL, NULL);
	free(c.rows);
	free(c.interleaved);
	fclose(c.fp);
	return rc;
}

int64_t data_resize_taps(int64_t sh, int64_t sw)
{
	/* a tap window spans at most 2 * max(in / out, 1) + 1 source pixels */
	return 2 * (sh > sw ? sh : sw) + 3;
}

/* The taps of output index i: first source index, count, and weights
 * normalised to sum 1 (at most `cap` of them). */
static int64_t resize_taps(int64_t i, int64_t in, double scale, double support,
			   float *wt, int64_t cap, int64_t *first)
{
	double invscale = scale >= 1.0 ? 1.0 / scale : 1.0;
	double center = scale * ((double)i + 0.5);
	int64_t lo = (int64_t)(center - support + 0.5);
	int64_t hi = (int64_t)(center + support + 0.5);
	if (lo < 0)
		lo = 0;
	if (hi > in)
		hi = in;
	if (hi - lo > cap)
		hi = lo + cap;
	double total = 0;
	for (int64_t j = lo; j < hi; j++) {
		double x = fabs(((double)j - center + 0.5) * invscale);
		double v = x < 1.0 ? 1.0 - x : 0.0;
		wt[j - lo] = (float)v;
		total += v;
	}
	if (total > 0)
		for (int64_t j = lo; j < hi; j++)
			wt[j - lo] = (float)(wt[j - lo] / total);
	*first = lo;
	return hi - lo;
}

void data_resize_plane(const float *src, int64_t sh, int64_t sw,
		       float *dst, int64_t oh, int64_t ow, float *tmp, float *wt)
{
	int64_t cap = data_resize_taps(sh, sw);
	double sx = (double)sw / (double)ow, sy = (double)sh / (double)oh;
	double supx = sx >= 1.0 ? sx : 1.0, supy = sy >= 1.0 ? sy : 1.0;
	int64_t first;

	/* horizontal: sh x sw -> sh x ow */
	for (int64_t x = 0; x < ow; x++) {
		int64_t n = resize_taps(x, sw, sx, supx, wt, cap, &first);
		for (int64_t y = 0; y < sh; y++) {
			const float *row = src + y * sw + first;
			float acc = 0;
			for (int64_t k = 0; k < n; k++)
				acc += wt[k] * row[k];
			tmp[y * ow + x] = acc;
		}
	}
	/* vertical: sh x ow -> oh x ow */
	for (int64_t y = 0; y < oh; y++) {
		int64_t n = resize_taps(y, sh, sy, supy, wt, cap, &first);
		float *out = dst + y * ow;
		for (int64_t x = 0; x < ow; x++)
			out[x] = 0;
		for (int64_t k = 0; k < n; k++) {
			const float *row = tmp + (first + k) * ow;
			for (int64_t x = 0; x < ow; x++)
				out[x] += wt[k] * row[x];
		}
	}
}

int data_resize_u8(const uint8_t *src, int64_t c, int64_t sh, int64_t sw,
		   uint8_t *dst, int64_t oh, int64_t ow, sc_error *err)
{
	if (sh == oh && sw == ow) {
		memcpy(dst, src, (size_t)(c * sh * sw));
		return SC_OK;
	}
	float *in = malloc((size_t)(sh * sw) * sizeof *in);
	float *tmp = malloc((size_t)(sh * ow) * sizeof *tmp);
	float *out = malloc((size_t)(oh * ow) * sizeof *out);
	float *wt = malloc((size_t)data_resize_taps(sh, sw) * sizeof *wt);
	if (!in || !tmp || !out || !wt) {
		free(in);
		free(tmp);
		free(out);
		free(wt);
		return sc_fail(err, SC_ENOMEM, "resize: cannot allocate %lldx%lld floats",
			       (long long)sh, (long long)sw);
	}
	for (int64_t ch = 0; ch < c; ch++) {
		const uint8_t *s = src + ch * sh * sw;
		for (int64_t i = 0; i < sh * sw; i++)
			in[i] = s[i];
		data_resize_plane(in, sh, sw, out, oh, ow, tmp, wt);
		uint8_t *d = dst + ch * oh * ow;
		for (int64_t i = 0; i < oh * ow; i++) {
			float v = floorf(out[i] + 0.5f);
			d[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
		}
	}
	free(in);
	free(tmp);
	free(out);
	free(wt);
	return SC_OK;
}
