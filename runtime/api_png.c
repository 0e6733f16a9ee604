/* api_png.c: PNG images as tensors in the image's own channels, for
 * supcon_tensor_load_png(path, 0, ...) and so for `supcon run --in
 * NAME=FILE.png`.  The fixed-channel form (1 or 3, for datasets) is
 * data/image.c's; this one keeps what libpng reports for the file (grey,
 * grey+alpha, RGB, RGBA) and 16-bit precision, so a model sees the file's
 * own values. */
#include "api_internal.h"

#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "fileio.h"

/* --- PNG ------------------------------------------------------------------ */

/* Beyond any image a network takes as one input, and small enough that a
 * header claiming more is refused before a pixel buffer is allocated
 * (a few bytes of zlib can claim gigabytes of pixels). */
#define PNG_MAX_SIDE 65535u
#define PNG_MAX_VALUES ((uint64_t)1 << 28)

typedef struct png_reader {
	const char *path;
	FILE *f;
	png_structp png;
	png_infop info;
	unsigned char *pixels;
	png_bytep *rows;
	sc_tensor t;
	char msg[256];
} png_reader;

static void png_on_error(png_structp png, png_const_charp msg)
{
	png_reader *r = png_get_error_ptr(png);
	snprintf(r->msg, sizeof r->msg, "%s", msg ? msg : "libpng error");
	png_longjmp(png, 1);
}

/* Warnings (bad gamma, unknown chunks) do not change the pixels we read,
 * and stderr is kept to one line per error. */
static void png_on_warning(png_structp png, png_const_charp msg)
{
	(void)png;
	(void)msg;
}

static void png_reader_close(png_reader *r)
{
	if (r->png)
		png_destroy_read_struct(&r->png, r->info ? &r->info : NULL, NULL);
	if (r->f)
		fclose(r->f);
	free(r->pixels);
	free(r->rows);
	r->png = NULL;
	r->info = NULL;
	r->f = NULL;
	r->pixels = NULL;
	r->rows = NULL;
}

/* Asks libpng for 8- or 16-bit samples with the image's own channels, a
 * palette expanded to RGB and tRNS to alpha (the format libpng's
 * simplified API reports for the file), whole rows even when interlaced. */
static void png_setup_transforms(png_reader *r)
{
	png_structp png = r->png;
	png_infop info = r->info;
	int color = png_get_color_type(png, info);
	int depth = png_get_bit_depth(png, info);
	if (color == PNG_COLOR_TYPE_PALETTE)
		png_set_palette_to_rgb(png);
	if (color == PNG_COLOR_TYPE_GRAY && depth < 8)
		png_set_expand_gray_1_2_4_to_8(png);
	if (png_get_valid(png, info, PNG_INFO_tRNS))
		png_set_tRNS_to_alpha(png);
	png_set_interlace_handling(png);
	png_read_update_info(png, info);
}

/* Everything that may longjmp; the caller's png_reader survives it. */
static int png_decode(png_reader *r, sc_error *err)
{
	if (setjmp(png_jmpbuf(r->png))) {
		/* libpng says "Read Error" for a short file */
		if (feof(r->f))
			return sc_fail(err, SC_EINVAL, "%s: bad PNG: the file ends early",
				       r->path);
		return sc_fail(err, SC_EINVAL, "%s: bad PNG: %s", r->path, r->msg);
	}
	png_init_io(r->png, r->f);
	png_set_sig_bytes(r->png, 8);
	png_set_user_limits(r->png, PNG_MAX_SIDE, PNG_MAX_SIDE);
	png_read_info(r->png, r->info);
	png_setup_transforms(r);

	uint64_t w = png_get_image_width(r->png, r->info);
	uint64_t h = png_get_image_height(r->png, r->info);
	uint64_t c = png_get_channels(r->png, r->info);
	int depth = png_get_bit_depth(r->png, r->info);
	size_t rowbytes = png_get_rowbytes(r->png, r->info);
	if (w == 0 || h == 0 || c < 1 || c > 4 || (depth != 8 && depth != 16))
		return sc_fail(err, SC_EINVAL,
			       "%s: unsupported PNG layout (%llux%llu, %llu channels, %d bits)",
			       r->path, (unsigned long long)w, (unsigned long long)h,
			       (unsigned long long)c, depth);
	if (w * h * c > PNG_MAX_VALUES)
		return sc_fail(err, SC_EINVAL,
			       "%s: PNG of %llux%llu with %llu channel%s is larger than "
			       "the %llu values supcon accepts",
			       r->path, (unsigned long long)w, (unsigned long long)h,
			       (unsigned long long)c, c == 1 ? "" : "s",
			       (unsigned long long)PNG_MAX_VALUES);
	uint64_t bytes_per = (uint64_t)depth / 8;
	if (rowbytes != w * c * bytes_per)
		return sc_fail(err, SC_EINTERNAL, "%s: libpng row size %zu, expected %llu",
			       r->path, rowbytes, (unsigned long long)(w * c * bytes_per));

	r->pixels = malloc((size_t)(h * rowbytes));
	r->rows = malloc((size_t)h * sizeof *r->rows);
	if (!r->pixels || !r->rows)
		return sc_fail(err, SC_ENOMEM, "%s: out of memory for %llux%llu pixels",
			       r->path, (unsigned long long)w, (unsigned long long)h);
	for (uint64_t y = 0; y < h; y++)
		r->rows[y] = r->pixels + y * rowbytes;
	png_read_image(r->png, r->rows);
	png_read_end(r->png, NULL);

	int64_t dims[4] = {1, (int64_t)c, (int64_t)h, (int64_t)w};
	int rc = tensor_alloc(&r->t, SC_FLOAT, 4, dims, r->path, err);
	if (rc != SC_OK)
		return rc;
	float *out = r->t.data;
	uint64_t plane = w * h;
	float scale = depth == 16 ? 1.0f / 65535.0f : 1.0f / 255.0f;
	for (uint64_t y = 0; y < h; y++) {
		const unsigned char *row = r->rows[y];
		for (uint64_t x = 0; x < w; x++)
			for (uint64_t k = 0; k < c; k++) {
				uint64_t i = x * c + k;
				/* PNG stores 16-bit samples big-endian */
				unsigned v = depth == 16 ?
					(unsigned)row[2 * i] << 8 | row[2 * i + 1] :
					row[i];
				out[k * plane + y * w + x] = (float)v * scale;
			}
	}
	return SC_OK;
}

int api_png_load_native(const char *path, sc_tensor *t, sc_error *err)
{
	memset(t, 0, sizeof *t);
	/* never to be overwritten by an output of the same command */
	int rc = sc_input_register(path, err);
	if (rc)
		return rc;
	png_reader r;
	memset(&r, 0, sizeof r);
	r.path = path;
	r.f = fopen(path, "rb");
	if (!r.f)
		return sc_fail(err, errno == ENOMEM ? SC_ENOMEM : SC_EINVAL,
			       "%s: cannot open: %s", path, strerror(errno));
	unsigned char sig[8];
	if (fread(sig, 1, sizeof sig, r.f) != sizeof sig ||
	    png_sig_cmp(sig, 0, sizeof sig) != 0) {
		fclose(r.f);
		return sc_fail(err, SC_EINVAL, "%s: not a PNG file", path);
	}
	r.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &r, png_on_error,
				       png_on_warning);
	if (r.png)
		r.info = png_create_info_struct(r.png);
	if (!r.png || !r.info) {
		png_reader_close(&r);
		return sc_fail(err, SC_ENOMEM, "%s: out of memory starting libpng", path);
	}
	rc = png_decode(&r, err);
	png_reader_close(&r);
	if (rc != SC_OK) {
		tensor_free(&r.t);
		return rc;
	}
	*t = r.t;
	return SC_OK;
}
