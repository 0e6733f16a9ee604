/* image.h: single-image helpers of runtime/data: PNG decoding and
 * antialiased resizing.
 *
 * Pixels are planar CHW.  Decoded images are malloc'ed and owned by the
 * caller.  PNG files are untrusted: sizes are checked before the pixel
 * buffer is allocated, and libpng's errors come back as one line naming
 * the file. */
#ifndef SUPCON_DATA_IMAGE_H
#define SUPCON_DATA_IMAGE_H

#include <stdint.h>

#include "runtime/status.h"

/* Decodes a PNG of any bit depth and colour type into `channels` (1 or 3)
 * planes of 8-bit samples: palettes and low bit depths are expanded,
 * 16-bit samples scaled with rounding (v * 255 / 65535), alpha dropped
 * (not composited), grey replicated to RGB, and RGB turned to grey with
 * PIL's ITU-R 601 luma (R*299 + G*587 + B*114) / 1000.  *pixels holds
 * channels * *h * *w bytes. */
int data_png_read(const char *path, int64_t channels, uint8_t **pixels,
		  int64_t *h, int64_t *w, sc_error *err);

/* Resizes one float plane from sh x sw to oh x ow with the separable
 * triangle (bilinear) filter that PIL and torch's antialias=True use: its
 * support widens by the scale factor when shrinking, so every source pixel
 * contributes; when growing it is plain bilinear with half-pixel centres.
 * tmp holds sh * ow floats, wt data_resize_taps(sh, sw) floats. */
void data_resize_plane(const float *src, int64_t sh, int64_t sw,
		       float *dst, int64_t oh, int64_t ow, float *tmp, float *wt);
int64_t data_resize_taps(int64_t sh, int64_t sw);

/* data_resize_plane over c uint8 planes, rounded back to uint8.  Returns
 * SC_ENOMEM when the working buffers cannot be allocated. */
int data_resize_u8(const uint8_t *src, int64_t c, int64_t sh, int64_t sw,
		   uint8_t *dst, int64_t oh, int64_t ow, sc_error *err);

#endif
