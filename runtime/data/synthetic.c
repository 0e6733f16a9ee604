/* synthetic.c: seeded synthetic images, synthetic:CxHxW:K.
 *
 * For benchmarks and tests that need data with structure but no files.
 * Each class owns a smooth periodic pattern per channel: a sum of a few
 * plane waves with small integer frequencies.  An image of class k is that
 * pattern circularly shifted by up to a quarter of the image, with a random
 * contrast and brightness and per-pixel noise.  The shift is what keeps it
 * from being trivial: a pixel-space template matches only loosely, while a
 * shift-invariant (convolutional, pooled) model can learn it well.
 *
 * Everything comes from rng streams of (seed, class) and (seed, part,
 * image), so an image does not depend on how many others are generated. */
#include <math.h>
#include <stdlib.h>

#include "runtime/data/readers.h"
#include "runtime/rng.h"

#define SYNTH_SEED_TAG 0x73796e7468ull   /* "synth" */
#define SYNTH_WAVES 4
#define SYNTH_MAX_FREQ 3
#define SYNTH_NOISE 0.22
#define SYNTH_CLASS_STREAM ((uint64_t)1 << 62)

typedef struct synth_wave {
	int fx, fy;
	double phase, amp;
} synth_wave;

/* The class's waves for one channel; the rng is the class's own stream. */
static void class_waves(rng *r, synth_wave *wv)
{
	double total = 0;
	for (int m = 0; m < SYNTH_WAVES; m++) {
		do {
			wv[m].fx = (int)rng_below(r, 2 * SYNTH_MAX_FREQ + 1) - SYNTH_MAX_FREQ;
			wv[m].fy = (int)rng_below(r, SYNTH_MAX_FREQ + 1);
		} while (wv[m].fx == 0 && wv[m].fy == 0);
		wv[m].phase = rng_range(r, 0, 2 * M_PI);
		wv[m].amp = rng_range(r, 0.3, 1.0);
		total += wv[m].amp;
	}
	for (int m = 0; m < SYNTH_WAVES; m++)
		wv[m].amp /= total;
}

/* One image.  tab holds synth_tab_len(w) doubles of scratch. */
static size_t synth_tab_len(int64_t w)
{
	return (size_t)(2 * SYNTH_WAVES * w + 2 * SYNTH_WAVES);
}

static void synth_image(uint8_t *out, int64_t c, int64_t h, int64_t w,
			uint64_t seed, int64_t label, rng *r, double *tab)
{
	double *sx = tab, *cx = tab + SYNTH_WAVES * w;
	double *sy = cx + SYNTH_WAVES * w, *cy = sy + SYNTH_WAVES;
	int64_t dx = (int64_t)rng_below(r, (uint64_t)(w / 2 + 1)) - w / 4;
	int64_t dy = (int64_t)rng_below(r, (uint64_t)(h / 2 + 1)) - h / 4;
	double contrast = 0.35 * rng_range(r, 0.5, 1.0);
	double base = 0.5 + rng_range(r, -0.15, 0.15);
	rng cr;
	rng_init(&cr, seed ^ SYNTH_SEED_TAG, SYNTH_CLASS_STREAM + (uint64_t)label);

	for (int64_t ch = 0; ch < c; ch++) {
		synth_wave wv[SYNTH_WAVES];
		class_waves(&cr, wv);
		/* sin(a + b) = sin a cos b + cos a sin b: trig per column and
		 * per row instead of per pixel */
		for (int m = 0; m < SYNTH_WAVES; m++) {
			for (int64_t x = 0; x < w; x++) {
				double a = 2 * M_PI * wv[m].fx * (double)(x + dx) / (double)w;
				sx[m * w + x] = contrast * wv[m].amp * sin(a);
				cx[m * w + x] = contrast * wv[m].amp * cos(a);
			}
		}
		uint8_t *p = out + ch * h * w;
		for (int64_t y = 0; y < h; y++) {
			for (int m = 0; m < SYNTH_WAVES; m++) {
				double b = 2 * M_PI * wv[m].fy * (double)(y + dy) / (double)h +
					   wv[m].phase;
				sy[m] = sin(b);
				cy[m] = cos(b);
			}
			for (int64_t x = 0; x < w; x++) {
				double v = base;
				for (int m = 0; m < SYNTH_WAVES; m++)
					v += sx[m * w + x] * cy[m] + cx[m * w + x] * sy[m];
				v += SYNTH_NOISE * (rng_uniform(r) + rng_uniform(r) - 1.0);
				v = floor(v * 255.0 + 0.5);
				p[y * w + x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
			}
		}
	}
}

int data_synthetic_open(dataset *d, int64_t c, int64_t h, int64_t w,
			int64_t classes, int64_t n, uint64_t seed,
			dataset_part part, sc_error *err)
{
	int rc = dataset_alloc_images(d, n, c, h, w, "synthetic", err);
	if (rc)
		return rc;
	double *tab = malloc(synth_tab_len(w) * sizeof *tab);
	if (!tab)
		return sc_fail(err, SC_ENOMEM, "synthetic: out of memory");
	uint64_t part_stream = (uint64_t)(part == DATASET_TEST ? 2 : 1) << 48;
	for (int64_t i = 0; i < n; i++) {
		rng r;
		rng_init(&r, seed ^ SYNTH_SEED_TAG, part_stream + (uint64_t)i);
		int64_t label = (int64_t)rng_below(&r, (uint64_t)classes);
		d->labels[i] = (int32_t)label;
		synth_image(d->pixels + i * c * h * w, c, h, w, seed, label, &r, tab);
	}
	free(tab);
	return dataset_set_classes(d, classes, NULL, err);
}
