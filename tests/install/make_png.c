/* make_png.c: writes the test image of check_install.sh, a W x H 8-bit
 * greyscale PNG of a ring (a stand-in for a Fashion-MNIST picture), with
 * libpng's simplified API.
 *
 *   make_png OUT.png W H */
#include <png.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	int w = argc == 4 ? atoi(argv[2]) : 0, h = argc == 4 ? atoi(argv[3]) : 0;
	if (w < 1 || h < 1 || w > 4096 || h > 4096) {
		fprintf(stderr, "usage: make_png OUT.png W H (1 to 4096)\n");
		return 2;
	}
	unsigned char *px = malloc((size_t)w * (size_t)h);
	if (!px)
		return 1;
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			int dx = 2 * x - w, dy = 2 * y - h, r2 = dx * dx + dy * dy;
			int inner = w * w / 9, outer = w * w * 2 / 3;
			px[y * w + x] = (unsigned char)(r2 > inner && r2 < outer ?
							200 + (x * 7 + y * 3) % 50 : (x + y) % 16);
		}
	png_image img = {0};
	img.version = PNG_IMAGE_VERSION;
	img.width = (png_uint_32)w;
	img.height = (png_uint_32)h;
	img.format = PNG_FORMAT_GRAY;
	int ok = png_image_write_to_file(&img, argv[1], 0, px, 0, NULL);
	if (!ok)
		fprintf(stderr, "make_png: %s: %s\n", argv[1], img.message);
	free(px);
	return ok ? 0 : 1;
}
