/* test_plot.c: the raster plotting of runtime/run/plot.c (in
 * supcon_core).  Pictures are judged by decoding the PNG
 * files with libpng (runtime/data/image.c) and looking at the pixels:
 * the size is the one asked for, every class colour of a scatter plot is
 * present, the curves are drawn in their colours, text leaves ink, and
 * bad sizes or paths fail with one line. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/data/image.h"
#include "runtime/run/plot.h"

#define WORK SUPCON_TEST_WORK "/plot"

/* Decodes path as RGB; returns interleaved pixels (caller frees). */
static uint8_t *decode(const char *path, int64_t *h, int64_t *w)
{
	uint8_t *planes;
	sc_error err = {0};
	if (data_png_read(path, 3, &planes, h, w, &err))
		fail_msg("%s does not decode: %s", path, err.msg);
	int64_t hw = *h * *w;
	uint8_t *rgb = malloc((size_t)(hw * 3));
	assert_non_null(rgb);
	for (int64_t i = 0; i < hw; i++)
		for (int k = 0; k < 3; k++)
			rgb[i * 3 + k] = planes[k * hw + i];
	free(planes);
	return rgb;
}

/* Pixels whose colour is exactly col. */
static int64_t count_color(const uint8_t *rgb, int64_t n, uint32_t col)
{
	int64_t hits = 0;
	for (int64_t i = 0; i < n; i++)
		hits += rgb[3 * i] == (col >> 16 & 0xff) &&
			rgb[3 * i + 1] == (col >> 8 & 0xff) &&
			rgb[3 * i + 2] == (col & 0xff);
	return hits;
}

static void test_ticks(void **state)
{
	(void)state;
	double first, step;
	assert_int_equal(plot_ticks(0, 1, 6, &first, &step), 6);
	assert_true(fabs(step - 0.2) < 1e-12 && first == 0);
	int n = plot_ticks(-3.7, 12.2, 8, &first, &step);
	assert_true(step == 2 || step == 5);
	assert_true(first >= -3.7 && first - step < -3.7);
	assert_true(n <= 8 && first + (n - 1) * step <= 12.2 + 1e-9);
	n = plot_ticks(1234, 1236, 5, &first, &step);
	assert_true(n >= 3 && n <= 5 && step == 0.5);
	/* an empty range gives one tick */
	assert_int_equal(plot_ticks(2, 2, 5, &first, &step), 1);
}

static void test_canvas_and_text(void **state)
{
	(void)state;
	plot_canvas c;
	sc_error err = {0};
	assert_int_equal(plot_canvas_init(&c, 10, 100, 0xffffff, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "10x100"));
	assert_int_equal(plot_canvas_init(&c, 200, 50, 0xffffff, &err), SC_OK);
	assert_int_equal(plot_get_pixel(&c, 5, 5), 0xffffff);
	int w = plot_text(&c, 2, 2, "Ankle boot", 0x000000, 2);
	assert_int_equal(w, plot_text_width("Ankle boot", 2));
	assert_int_equal(w, 10 * 6 * 2);
	int64_t ink = 0;
	for (int y = 0; y < 20; y++)
		for (int x = 0; x < 120; x++)
			ink += plot_get_pixel(&c, x, y) == 0;
	/* some of the 16x2x2 cell, not all of it */
	assert_true(ink > 100 && ink < 120 * 16 / 2);
	/* a space draws nothing; clipping is silent */
	plot_fill_rect(&c, 0, 0, 200, 50, 0xffffff);
	plot_text(&c, 0, 0, "   ", 0, 3);
	plot_text(&c, 190, 45, "clipped", 0, 3);
	plot_disc(&c, -5, -5, 3, 0, 1);
	plot_line(&c, -100, 25, 300, 25, 3, 0x123456);
	assert_int_equal(plot_get_pixel(&c, 1, 1), 0xffffff);
	assert_int_equal(plot_get_pixel(&c, 100, 25), 0x123456);
	assert_int_equal(plot_get_pixel(&c, 100, 30), 0xffffff);
	plot_canvas_free(&c);
}

static void test_scatter_png(void **state)
{
	(void)state;
	enum { N = 600, K = 10 };
	static const char *const names[K] = {"T-shirt/top", "Trouser", "Pullover",
		"Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
	double xy[2 * N];
	int32_t label[N];
	for (int i = 0; i < N; i++) {
		label[i] = i % K;
		double a = 2 * M_PI * label[i] / K, r = 10 + (i / K) % 7 * 0.3;
		xy[2 * i] = r * cos(a) + 0.05 * (i % 13);
		xy[2 * i + 1] = r * sin(a) - 0.05 * (i % 11);
	}
	plot_scatter_spec s = {
		.xy = xy, .label = label, .n = N, .classes = K, .names = names,
		.title = "t-SNE of the encoder features", .subtitle = "600 points",
		.xlabel = "t-SNE 1", .ylabel = "t-SNE 2", .width = 900, .height = 640,
	};
	sc_error err = {0};
	const char *path = WORK "/scatter.png";
	assert_int_equal(plot_scatter_png(&s, path, &err), SC_OK);
	int64_t h, w;
	uint8_t *rgb = decode(path, &h, &w);
	assert_int_equal(w, 900);
	assert_int_equal(h, 640);
	/* every class colour is there, in the plot and in the legend: at
	 * least the 60 point centres */
	for (int k = 0; k < K; k++) {
		int64_t hits = count_color(rgb, h * w, plot_palette(k));
		if (hits < 40)
			fail_msg("class %d colour %06x: %lld pixels", k, plot_palette(k),
				 (long long)hits);
	}
	/* mostly white, with dark ink for axes and text */
	int64_t white = count_color(rgb, h * w, 0xffffff);
	assert_true(white > h * w / 2 && white < h * w);
	int64_t dark = 0;
	for (int64_t i = 0; i < h * w; i++)
		dark += rgb[3 * i] < 64 && rgb[3 * i + 1] < 64 && rgb[3 * i + 2] < 64;
	assert_true(dark > 2000);
	free(rgb);

	/* too small for the legend, and a folder that does not exist */
	s.width = 200;
	s.height = 200;
	assert_int_equal(plot_scatter_png(&s, WORK "/small.png", &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "too small"));
	s.width = 900;
	s.height = 640;
	assert_int_not_equal(plot_scatter_png(&s, WORK "/no/such/dir/x.png", &err),
			     SC_OK);
	assert_non_null(strstr(err.msg, "no/such/dir"));
}

static void test_curves_png(void **state)
{
	(void)state;
	double ep[5] = {1, 2, 3, 4, 5}, loss[5] = {2.3, 1.1, 0.7, 0.55, 0.5};
	double acc[5] = {0.5, 0.7, 0.8, NAN, 0.86}, val[5] = {0.48, 0.66, 0.79, 0.81, 0.83};
	plot_panel left = {.title = "loss", .xlabel = "epoch", .ylabel = "loss",
			   .n_series = 1};
	left.series[0] = (plot_series){"cross-entropy", ep, loss, 5};
	plot_panel right = {.title = "accuracy", .xlabel = "epoch",
			    .ylabel = "accuracy", .n_series = 2, .unit_range = 1};
	right.series[0] = (plot_series){"train", ep, acc, 5};
	right.series[1] = (plot_series){"validation", ep, val, 5};
	sc_error err = {0};
	const char *path = WORK "/curves.png";
	assert_int_equal(plot_curves_png("runs/ce", &left, &right, 1000, 450, path,
					 &err), SC_OK);
	int64_t h, w;
	uint8_t *rgb = decode(path, &h, &w);
	assert_int_equal(w, 1000);
	assert_int_equal(h, 450);
	/* the first series of each panel in colour 0, the second in colour 1 */
	assert_true(count_color(rgb, h * w, plot_palette(0)) > 300);
	assert_true(count_color(rgb, h * w, plot_palette(1)) > 100);
	/* the left half holds only one series colour */
	int64_t second_left = 0;
	for (int64_t y = 0; y < h; y++)
		for (int64_t x = 0; x < w / 2; x++) {
			const uint8_t *p = rgb + 3 * (y * w + x);
			second_left += ((uint32_t)p[0] << 16 | p[1] << 8 | p[2]) ==
				       plot_palette(1);
		}
	assert_int_equal(second_left, 0);
	free(rgb);

	/* an empty panel says so instead of failing */
	plot_panel none = {.title = "accuracy", .n_series = 0,
			   .empty_note = "no accuracy yet"};
	assert_int_equal(plot_curves_png(NULL, &left, &none, 800, 400,
					 WORK "/empty.png", &err), SC_OK);
}

int main(void)
{
	mkdir(SUPCON_TEST_WORK, 0755);
	mkdir(WORK, 0755);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ticks),
		cmocka_unit_test(test_canvas_and_text),
		cmocka_unit_test(test_scatter_png),
		cmocka_unit_test(test_curves_png),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
