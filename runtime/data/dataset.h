/* dataset.h: image datasets held in memory as uint8 CHW pixels.
 *
 * dataset_open() reads a whole part (train or test) of a dataset named by a
 * spec string: Fashion-MNIST / MNIST IDX files, CIFAR-10/100 binary
 * batches, an ImageFolder of PNGs, or seeded synthetic images.  The dataset
 * owns one pixel block and one label block; dataset_free() releases all of
 * it.  Files are untrusted: headers, sizes and labels are validated before
 * anything is allocated in proportion to a declared size, and every error
 * is one line in sc_error naming the path and what is wrong.
 *
 * dataset_split() and dataset_channel_stats() give the deterministic
 * train/validation split and the normalisation constants the loader uses. */
#ifndef SUPCON_DATA_DATASET_H
#define SUPCON_DATA_DATASET_H

#include <stdint.h>

#include "runtime/status.h"

typedef struct dataset {
	int64_t n;              /* images */
	int64_t c, h, w;        /* every image is stored at this geometry */
	int64_t classes;
	uint8_t *pixels;        /* n*c*h*w bytes, CHW per image */
	int32_t *labels;        /* n, in [0, classes) */
	char **class_names;     /* classes strings (Fashion-MNIST's real names; folder names; "0".. otherwise) */
	char *name;             /* e.g. "fashion-mnist (train)" */
	int64_t skipped;        /* ImageFolder: PNG files that did not decode (each warned on stderr) */
} dataset;

typedef enum dataset_part { DATASET_TRAIN, DATASET_TEST } dataset_part;

typedef struct dataset_options {
	int64_t size;          /* ImageFolder: resize to size x size (bilinear, antialiased when shrinking); 0 = 32 default */
	int64_t channels;      /* ImageFolder: 0 = 3 (RGB), 1 = grayscale */
	uint64_t seed;         /* synthetic */
	int64_t synthetic_train, synthetic_test;   /* synthetic sizes, defaults 10000 / 2000 */
} dataset_options;

/* Largest image side dataset_open() accepts from any source; larger
 * declared sizes are refused as implausible before anything is read. */
#define DATASET_MAX_SIDE 16384
/* Largest pixel block (bytes) of one dataset part. */
#define DATASET_MAX_BYTES ((int64_t)1 << 36)

void dataset_options_init(dataset_options *o);

/* spec is one of
 *   fashion-mnist | mnist | cifar10 | cifar100, optionally NAME:DIR.
 *     Without DIR the files are looked for in $SUPCON_DATA_DIR/NAME (when
 *     the variable is set and that folder exists), then in
 *     /usr/share/datasets/NAME.  IDX files may be gzipped or not; CIFAR
 *     files may sit in DIR or in its cifar-10-batches-bin / cifar-100-binary
 *     sub-folder.
 *   DIR: an ImageFolder.  DIR/train/<class>/ *.png and DIR/test/<class>/ *.png
 *     when DIR/train exists, else DIR/<class>/ *.png is the train part and
 *     asking for the test part fails.  Classes are the sorted folder names
 *     of the train part; a test folder naming an unknown class is an error.
 *     PNGs of any bit depth and colour type are converted to o->channels
 *     (alpha dropped, grey = ITU-R 601 luma like PIL) and resized to
 *     o->size square.  A PNG that does not decode is skipped with one
 *     warning line on stderr and counted in d->skipped.
 *   synthetic:CxHxW:K: seeded, learnable images (a smooth pattern per
 *     class, randomly shifted, rescaled and noised per image).
 * o may be NULL for the defaults.  On success *out owns everything; free it
 * with dataset_free().  On failure *out is NULL. */
int dataset_open(const char *spec, dataset_part part, const dataset_options *o,
		 dataset **out, sc_error *err);

void dataset_free(dataset *d);

/* "train" or "test". */
const char *dataset_part_name(dataset_part part);

/* Per-channel mean and population standard deviation of the pixels scaled
 * to [0,1], over the images idx[0..n) (idx NULL = all d->n images).  A
 * channel that is constant reports std 1 so that normalising by it is
 * safe.  mean and std hold d->c floats. */
void dataset_channel_stats(const dataset *d, const int64_t *idx, int64_t n,
			   float *mean, float *std);

/* Deterministic split of [0, n): first keep the first `limit` indices
 * (0 = all, a limit above n keeps all), then shuffle them with rng(seed),
 * then the last round(val_fraction * kept) go to validation.  Both lists
 * are sorted ascending and must be released with free().  val_fraction is
 * in [0, 1); a split that leaves no training image fails. */
int dataset_split(int64_t n, int64_t limit, double val_fraction, uint64_t seed,
		  int64_t **train, int64_t *n_train, int64_t **val, int64_t *n_val,
		  sc_error *err);

#endif
