/* readers.h: the dataset readers behind dataset_open() (internal to
 * runtime/data).
 *
 * Each reader fills a dataset that dataset_alloc() made, or returns an
 * error with a message naming the file; the caller frees the dataset on
 * failure.  They never see the spec string, only the resolved folder. */
#ifndef SUPCON_DATA_READERS_H
#define SUPCON_DATA_READERS_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/data/dataset.h"

/* A zeroed dataset, or NULL when out of memory. */
dataset *dataset_alloc(void);

/* Sets the geometry and allocates pixels and labels for n images, checking
 * n*c*h*w against DATASET_MAX_BYTES first; `what` names the source. */
int dataset_alloc_images(dataset *d, int64_t n, int64_t c, int64_t h, int64_t w,
			 const char *what, sc_error *err);

/* Allocates d->class_names from `names` (or "0", "1", ... when NULL). */
int dataset_set_classes(dataset *d, int64_t classes, const char *const *names,
			sc_error *err);

/* Sets d->name to "BASE (PART)". */
int dataset_set_name(dataset *d, const char *base, dataset_part part, sc_error *err);

/* out = "a/b"; fails (naming the path) when it does not fit in cap. */
int data_path_join(char *out, size_t cap, const char *a, const char *b, sc_error *err);

/* Fashion-MNIST or MNIST IDX files in dir; `kind` is "fashion-mnist" or
 * "mnist" (the class names and the install hint differ). */
int data_idx_open(dataset *d, const char *kind, const char *dir,
		  dataset_part part, sc_error *err);

/* Reads one IDX file (gzipped or not) of unsigned bytes with `ndims`
 * dimensions.  *data (malloc'ed) holds the product of dims bytes.  The
 * buffer grows with the data really read, so a header declaring a huge
 * size on a short file fails without a big allocation. */
int data_idx_read(const char *path, int ndims, int64_t *dims, uint8_t **data,
		  sc_error *err);

/* CIFAR-10 (`fine` = 0) or CIFAR-100 (`fine` = 1, the fine label) binary
 * files in dir. */
int data_cifar_open(dataset *d, const char *kind, const char *dir, int fine,
		    dataset_part part, sc_error *err);

/* An ImageFolder of PNGs; see dataset_open(). */
int data_folder_open(dataset *d, const char *dir, dataset_part part,
		     int64_t size, int64_t channels, sc_error *err);

/* synthetic:CxHxW:K images; see synthetic.c. */
int data_synthetic_open(dataset *d, int64_t c, int64_t h, int64_t w,
			int64_t classes, int64_t n, uint64_t seed,
			dataset_part part, sc_error *err);

#endif
