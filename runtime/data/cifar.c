/* cifar.c: CIFAR-10 and CIFAR-100 in their binary ("-bin") layout.
 *
 * CIFAR-10: data_batch_1..5.bin (train) and test_batch.bin, records of one
 * label byte then 3072 pixel bytes (1024 red, 1024 green, 1024 blue: CHW
 * already).  CIFAR-100: train.bin and test.bin, records of a coarse and a
 * fine label byte then the pixels; we use the fine label.  A file's size
 * must be a whole number of records, which is checked before allocating. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/data/readers.h"
#include "runtime/fileio.h"

#define CIFAR_SIDE 32
#define CIFAR_PIXELS (3 * CIFAR_SIDE * CIFAR_SIDE)
#define CIFAR_MAX_FILES 5

static const char *const cifar10_names[10] = {
	"airplane", "automobile", "bird", "cat", "deer",
	"dog", "frog", "horse", "ship", "truck",
};

static const char *const cifar100_names[100] = {
	"apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle",
	"bicycle", "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel",
	"can", "castle", "caterpillar", "cattle", "chair", "chimpanzee", "clock",
	"cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
	"dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster",
	"house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
	"lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse",
	"mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear",
	"pickup_truck", "pine_tree", "plain", "plate", "poppy", "porcupine",
	"possum", "rabbit", "raccoon", "ray", "road", "rocket", "rose", "sea",
	"seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake",
	"spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table",
	"tank", "telephone", "television", "tiger", "tractor", "train", "trout",
	"tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman",
	"worm",
};

typedef struct cifar_file {
	char path[4200];
	int64_t records;
} cifar_file;

/* The folder that holds `first`: dir itself or its usual sub-folder. */
static int cifar_find_dir(const char *dir, const char *sub, const char *first,
			  char *out, size_t cap)
{
	struct stat st;
	snprintf(out, cap, "%s/%s", dir, first);
	if (stat(out, &st) == 0) {
		snprintf(out, cap, "%s", dir);
		return 1;
	}
	snprintf(out, cap, "%s/%s/%s", dir, sub, first);
	if (stat(out, &st) == 0) {
		snprintf(out, cap, "%s/%s", dir, sub);
		return 1;
	}
	return 0;
}

static int cifar_stat(cifar_file *f, int64_t record, sc_error *err)
{
	struct stat st;
	if (stat(f->path, &st) != 0)
		return sc_fail(err, SC_EINVAL, "%s: %s", f->path,
			       errno == ENOENT ? "no such file" : strerror(errno));
	if (!S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size % record != 0)
		return sc_fail(err, SC_EINVAL,
			       "%s: %lld bytes is not a whole number of %lld-byte CIFAR records",
			       f->path, (long long)st.st_size, (long long)record);
	f->records = st.st_size / record;
	return SC_OK;
}

static int cifar_read(dataset *d, const cifar_file *f, int64_t first, int fine,
		      int64_t classes, sc_error *err)
{
	int64_t record = CIFAR_PIXELS + 1 + fine;
	uint8_t *buf = malloc((size_t)record);
	FILE *fp = fopen(f->path, "rb");
	int rc = SC_OK;
	if (!buf || !fp) {
		rc = !buf ? sc_fail(err, SC_ENOMEM, "%s: out of memory", f->path)
			  : sc_fail(err, SC_EIO, "%s: %s", f->path, strerror(errno));
		goto out;
	}
	if ((rc = sc_input_register(f->path, err)))
		goto out;
	for (int64_t i = 0; i < f->records; i++) {
		if (fread(buf, 1, (size_t)record, fp) != (size_t)record) {
			rc = sc_fail(err, SC_EIO, "%s: short read at record %lld",
				     f->path, (long long)i);
			goto out;
		}
		int label = buf[fine];
		if (label >= classes) {
			rc = sc_fail(err, SC_EINVAL,
				     "%s: record %lld has label %d, expected 0..%lld",
				     f->path, (long long)i, label, (long long)classes - 1);
			goto out;
		}
		d->labels[first + i] = label;
		memcpy(d->pixels + (first + i) * CIFAR_PIXELS, buf + 1 + fine, CIFAR_PIXELS);
	}
out:
	if (fp)
		fclose(fp);
	free(buf);
	return rc;
}

int data_cifar_open(dataset *d, const char *kind, const char *dir, int fine,
		    dataset_part part, sc_error *err)
{
	cifar_file files[CIFAR_MAX_FILES];
	int nfiles = 0;
	int64_t classes = fine ? 100 : 10;
	int64_t record = CIFAR_PIXELS + 1 + fine;
	const char *sub = fine ? "cifar-100-binary" : "cifar-10-batches-bin";
	const char *first = fine ? (part == DATASET_TEST ? "test.bin" : "train.bin")
			    : (part == DATASET_TEST ? "test_batch.bin" : "data_batch_1.bin");
	char root[4096];

	if (!cifar_find_dir(dir, sub, first, root, sizeof root))
		return sc_fail(err, SC_EINVAL,
			       "%s/%s: no such file (put %s's binary files (%s) there, or pass %s:DIR)",
			       dir, first, kind, sub, kind);
	if (fine || part == DATASET_TEST) {
		snprintf(files[0].path, sizeof files[0].path, "%s/%s", root, first);
		nfiles = 1;
	} else {
		for (int i = 0; i < CIFAR_MAX_FILES; i++)
			snprintf(files[i].path, sizeof files[i].path,
				 "%s/data_batch_%d.bin", root, i + 1);
		nfiles = CIFAR_MAX_FILES;
	}
	int64_t total = 0;
	for (int i = 0; i < nfiles; i++) {
		int rc = cifar_stat(&files[i], record, err);
		if (rc)
			return rc;
		total += files[i].records;
	}
	int rc = dataset_alloc_images(d, total, 3, CIFAR_SIDE, CIFAR_SIDE, root, err);
	int64_t at = 0;
	for (int i = 0; !rc && i < nfiles; i++) {
		rc = cifar_read(d, &files[i], at, fine, classes, err);
		at += files[i].records;
	}
	if (rc)
		return rc;
	return dataset_set_classes(d, classes, fine ? cifar100_names : cifar10_names, err);
}
