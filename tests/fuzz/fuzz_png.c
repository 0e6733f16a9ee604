/* fuzz_png.c: libFuzzer harness for the dataset PNG reader.
 *
 * The input is a PNG file, as an ImageFolder dataset holds thousands of
 * (runtime/data/image.c, data_png_read: libpng with size limits checked
 * before the pixel buffer is allocated).  It is decoded twice, to 3 and
 * to 1 channels.  When both succeed they must agree: the grey decode is
 * PIL's ITU-R 601 luma of the RGB decode, pixel for pixel, which holds
 * for grey sources too (the weights sum to 65536).
 *
 * libpng rejects a chunk whose CRC does not match, so most mutations would
 * stop there (and libpng is not instrumented, so libFuzzer cannot learn to
 * avoid that).  The harness therefore decodes the input as it is and then,
 * if it differs, a copy with every chunk's CRC recomputed, which takes the
 * mutated IHDR, PLTE, tRNS and IDAT contents into the decoder. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fuzz_util.h"
#include "runtime/data/dataset.h"
#include "runtime/data/image.h"

/* A copy of a PNG with the CRC of every complete chunk recomputed, or NULL
 * when that changes nothing. */
static uint8_t *with_fixed_crcs(const uint8_t *data, size_t size)
{
	if (size < 8)
		return NULL;
	uint8_t *copy = malloc(size);
	if (!copy)
		fuzz_fail("out of memory");
	memcpy(copy, data, size);
	int changed = 0;
	for (size_t pos = 8; size - pos >= 12;) {
		uint32_t len = (uint32_t)copy[pos] << 24 | (uint32_t)copy[pos + 1] << 16 |
			       (uint32_t)copy[pos + 2] << 8 | copy[pos + 3];
		if (len > size - pos - 12)
			break;
		uint32_t crc = (uint32_t)crc32(crc32(0, NULL, 0), copy + pos + 4, len + 4);
		uint8_t *at = copy + pos + 8 + len;
		uint8_t want[4] = {crc >> 24, crc >> 16, crc >> 8, crc};
		if (memcmp(at, want, 4) != 0) {
			memcpy(at, want, 4);
			changed = 1;
		}
		pos += 12 + (size_t)len;
	}
	if (!changed) {
		free(copy);
		return NULL;
	}
	return copy;
}

static void decode_both_ways(const uint8_t *data, size_t size)
{
	const char *path = fuzz_write_file("input.png", data, size);
	sc_error err = {0};
	uint8_t *rgb = NULL, *grey = NULL;
	int64_t h3 = 0, w3 = 0, h1 = 0, w1 = 0;
	int rc3 = data_png_read(path, 3, &rgb, &h3, &w3, &err);
	if (rc3)
		fuzz_check_error(rc3, &err, "data_png_read (3 channels)");
	int rc1 = data_png_read(path, 1, &grey, &h1, &w1, &err);
	if (rc1)
		fuzz_check_error(rc1, &err, "data_png_read (1 channel)");
	if ((rc1 == SC_OK) != (rc3 == SC_OK) && rc1 != SC_ENOMEM && rc3 != SC_ENOMEM)
		fuzz_fail("the PNG decodes to %s channels only", rc1 ? "3" : "1");
	if (rc1 == SC_OK && rc3 == SC_OK) {
		if (h1 != h3 || w1 != w3)
			fuzz_fail("1-channel decode is %lldx%lld, 3-channel %lldx%lld",
				  (long long)h1, (long long)w1, (long long)h3, (long long)w3);
		if (h1 <= 0 || w1 <= 0 || h1 > DATASET_MAX_SIDE || w1 > DATASET_MAX_SIDE)
			fuzz_fail("implausible decoded size %lldx%lld", (long long)h1,
				  (long long)w1);
		int64_t plane = h1 * w1;
		for (int64_t i = 0; i < plane; i++) {
			uint32_t r = rgb[i], g = rgb[plane + i], b = rgb[2 * plane + i];
			uint8_t y = (uint8_t)((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16);
			if (grey[i] != y)
				fuzz_fail("pixel %lld: grey %u, luma of (%u, %u, %u) is %u",
					  (long long)i, grey[i], r, g, b, y);
		}
	}
	free(rgb);
	free(grey);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	decode_both_ways(data, size);
	uint8_t *fixed = with_fixed_crcs(data, size);
	if (fixed) {
		decode_both_ways(fixed, size);
		free(fixed);
	}
	return 0;
}
