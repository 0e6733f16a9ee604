/* dataset.c: dataset specs, ownership, statistics and the train/val split.
 *
 * The readers live in idx.c, cifar.c, folder.c and synthetic.c; this file
 * turns a spec string into one of them and owns what they all share. */
#include "runtime/data/dataset.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/data/readers.h"
#include "runtime/rng.h"

#define DEFAULT_DATA_ROOT "/usr/share/datasets"
#define SPEC_CHOICES "fashion-mnist, mnist, cifar10, cifar100 (optionally NAME:DIR), " \
	"a folder of class folders of PNGs, or synthetic:CxHxW:K"
/* rng stream of the split shuffle ("split"), apart from every other
 * user of the run's seed */
#define SPLIT_STREAM 0x73706c6974ull
#define DATA_MAX_SPEC 3000

void dataset_options_init(dataset_options *o)
{
	memset(o, 0, sizeof *o);
	o->size = 32;
	o->channels = 3;
	o->synthetic_train = 10000;
	o->synthetic_test = 2000;
}

const char *dataset_part_name(dataset_part part)
{
	return part == DATASET_TEST ? "test" : "train";
}

dataset *dataset_alloc(void)
{
	return calloc(1, sizeof(dataset));
}

void dataset_free(dataset *d)
{
	if (!d)
		return;
	if (d->class_names) {
		for (int64_t k = 0; k < d->classes; k++)
			free(d->class_names[k]);
		free(d->class_names);
	}
	free(d->pixels);
	free(d->labels);
	free(d->name);
	free(d);
}

int dataset_alloc_images(dataset *d, int64_t n, int64_t c, int64_t h, int64_t w,
			 const char *what, sc_error *err)
{
	if (n <= 0 || c <= 0 || h <= 0 || w <= 0 || h > DATASET_MAX_SIDE ||
	    w > DATASET_MAX_SIDE || c > 64)
		return sc_fail(err, SC_EINVAL,
			       "%s: implausible geometry %lld images of %lldx%lldx%lld",
			       what, (long long)n, (long long)c, (long long)h,
			       (long long)w);
	int64_t image = c * h * w;
	if (n > DATASET_MAX_BYTES / image)
		return sc_fail(err, SC_EINVAL,
			       "%s: %lld images of %lld bytes exceed the %lld-byte limit",
			       what, (long long)n, (long long)image,
			       (long long)DATASET_MAX_BYTES);
	d->pixels = malloc((size_t)(n * image));
	d->labels = malloc((size_t)n * sizeof *d->labels);
	if (!d->pixels || !d->labels)
		return sc_fail(err, SC_ENOMEM, "%s: cannot allocate %lld images",
			       what, (long long)n);
	d->n = n;
	d->c = c;
	d->h = h;
	d->w = w;
	return SC_OK;
}

int dataset_set_classes(dataset *d, int64_t classes, const char *const *names,
			sc_error *err)
{
	d->class_names = calloc((size_t)classes, sizeof *d->class_names);
	if (!d->class_names)
		return sc_fail(err, SC_ENOMEM, "cannot allocate %lld class names",
			       (long long)classes);
	d->classes = classes;
	for (int64_t k = 0; k < classes; k++) {
		char num[24];
		snprintf(num, sizeof num, "%lld", (long long)k);
		d->class_names[k] = strdup(names ? names[k] : num);
		if (!d->class_names[k])
			return sc_fail(err, SC_ENOMEM, "cannot allocate class names");
	}
	return SC_OK;
}

int dataset_set_name(dataset *d, const char *base, dataset_part part, sc_error *err)
{
	size_t len = strlen(base) + 16;
	free(d->name);
	d->name = malloc(len);
	if (!d->name)
		return sc_fail(err, SC_ENOMEM, "cannot allocate a dataset name");
	snprintf(d->name, len, "%s (%s)", base, dataset_part_name(part));
	return SC_OK;
}

int data_path_join(char *out, size_t cap, const char *a, const char *b, sc_error *err)
{
	int len = snprintf(out, cap, "%s/%s", a, b);
	if (len < 0 || (size_t)len >= cap)
		return sc_fail(err, SC_EINVAL, "%s/%s: path too long", a, b);
	return SC_OK;
}

static int is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* NAME or NAME:DIR; 1 with the folder in dir when spec names `name`. */
static int spec_named(const char *spec, const char *name, char *dir, size_t cap)
{
	size_t len = strlen(name);
	if (strncmp(spec, name, len) != 0 || (spec[len] != '\0' && spec[len] != ':'))
		return 0;
	if (spec[len] == ':' && spec[len + 1] != '\0') {
		snprintf(dir, cap, "%s", spec + len + 1);
		return 1;
	}
	const char *env = getenv("SUPCON_DATA_DIR");
	if (env && *env && strlen(env) < DATA_MAX_SPEC) {
		snprintf(dir, cap, "%s/%s", env, name);
		if (is_dir(dir))
			return 1;
	}
	snprintf(dir, cap, "%s/%s", DEFAULT_DATA_ROOT, name);
	return 1;
}

static int parse_dim(const char **s, int64_t *v, int64_t max)
{
	char *end;
	errno = 0;
	long long x = strtoll(*s, &end, 10);
	if (end == *s || errno || x < 1 || x > max)
		return 0;
	*v = x;
	*s = end;
	return 1;
}

static int open_synthetic(dataset *d, const char *spec, dataset_part part,
			  const dataset_options *o, sc_error *err)
{
	const char *s = spec + strlen("synthetic:");
	int64_t c, h, w, k;
	if (!parse_dim(&s, &c, 64) || *s++ != 'x' ||
	    !parse_dim(&s, &h, DATASET_MAX_SIDE) || *s++ != 'x' ||
	    !parse_dim(&s, &w, DATASET_MAX_SIDE) || *s++ != ':' ||
	    !parse_dim(&s, &k, 1 << 20) || *s != '\0' || k < 2)
		return sc_fail(err, SC_EINVAL,
			       "%s: expected synthetic:CxHxW:K with C in 1..64, H and W in 1..%d, K >= 2",
			       spec, DATASET_MAX_SIDE);
	int64_t n = part == DATASET_TEST ? o->synthetic_test : o->synthetic_train;
	if (n <= 0)
		return sc_fail(err, SC_EINVAL, "%s: the %s part must hold at least one image",
			       spec, dataset_part_name(part));
	int rc = data_synthetic_open(d, c, h, w, k, n, o->seed, part, err);
	if (rc)
		return rc;
	return dataset_set_name(d, spec, part, err);
}

static int open_spec(dataset *d, const char *spec, dataset_part part,
		     const dataset_options *o, sc_error *err)
{
	char dir[4096];
	int rc;

	/* every path built below then fits its buffer */
	if (strlen(spec) >= DATA_MAX_SPEC)
		return sc_fail(err, SC_EINVAL, "--data: a spec of %zu characters is too long",
			       strlen(spec));
	if (strncmp(spec, "synthetic:", 10) == 0)
		return open_synthetic(d, spec, part, o, err);
	if (spec_named(spec, "fashion-mnist", dir, sizeof dir))
		rc = data_idx_open(d, "fashion-mnist", dir, part, err);
	else if (spec_named(spec, "mnist", dir, sizeof dir))
		rc = data_idx_open(d, "mnist", dir, part, err);
	else if (spec_named(spec, "cifar100", dir, sizeof dir))
		rc = data_cifar_open(d, "cifar100", dir, 1, part, err);
	else if (spec_named(spec, "cifar10", dir, sizeof dir))
		rc = data_cifar_open(d, "cifar10", dir, 0, part, err);
	else if (is_dir(spec))
		rc = data_folder_open(d, spec, part, o->size, o->channels, err);
	else
		return sc_fail(err, SC_EINVAL, "%s: no such dataset or folder (expected %s)",
			       spec, SPEC_CHOICES);
	if (rc)
		return rc;
	return dataset_set_name(d, spec, part, err);
}

int dataset_open(const char *spec, dataset_part part, const dataset_options *o,
		 dataset **out, sc_error *err)
{
	dataset_options defaults;
	*out = NULL;
	if (!o) {
		dataset_options_init(&defaults);
		o = &defaults;
	}
	if (!spec || !*spec)
		return sc_fail(err, SC_EINVAL, "--data: empty dataset spec (expected %s)",
			       SPEC_CHOICES);
	dataset *d = dataset_alloc();
	if (!d)
		return sc_fail(err, SC_ENOMEM, "%s: cannot allocate a dataset", spec);
	int rc = open_spec(d, spec, part, o, err);
	if (rc) {
		dataset_free(d);
		return rc;
	}
	*out = d;
	return SC_OK;
}

void dataset_channel_stats(const dataset *d, const int64_t *idx, int64_t n,
			   float *mean, float *std)
{
	int64_t plane = d->h * d->w;
	int64_t images = idx ? n : d->n;
	/* a histogram per channel keeps the sums exact however many pixels */
	int64_t hist[256];
	for (int64_t ch = 0; ch < d->c; ch++) {
		memset(hist, 0, sizeof hist);
		for (int64_t i = 0; i < images; i++) {
			int64_t img = idx ? idx[i] : i;
			const uint8_t *p = d->pixels + (img * d->c + ch) * plane;
			for (int64_t k = 0; k < plane; k++)
				hist[p[k]]++;
		}
		double count = (double)images * (double)plane;
		double sum = 0, sum2 = 0;
		for (int v = 0; v < 256; v++) {
			double x = v / 255.0;
			sum += x * (double)hist[v];
			sum2 += x * x * (double)hist[v];
		}
		double m = count > 0 ? sum / count : 0;
		double var = count > 0 ? sum2 / count - m * m : 0;
		double s = var > 0 ? sqrt(var) : 0;
		mean[ch] = (float)m;
		std[ch] = s > 1e-6 ? (float)s : 1.0f;
	}
}

static int cmp_int64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

int dataset_split(int64_t n, int64_t limit, double val_fraction, uint64_t seed,
		  int64_t **train, int64_t *n_train, int64_t **val, int64_t *n_val,
		  sc_error *err)
{
	*train = *val = NULL;
	*n_train = *n_val = 0;
	if (n <= 0)
		return sc_fail(err, SC_EINVAL, "split: the dataset has no images");
	if (limit < 0)
		return sc_fail(err, SC_EINVAL, "--limit: %lld is negative", (long long)limit);
	if (!(val_fraction >= 0 && val_fraction < 1))
		return sc_fail(err, SC_EINVAL, "--val-split: %g is not in [0, 1)", val_fraction);
	int64_t kept = limit > 0 && limit < n ? limit : n;
	int64_t nv = (int64_t)floor(val_fraction * (double)kept + 0.5);
	int64_t nt = kept - nv;
	if (nt <= 0)
		return sc_fail(err, SC_EINVAL,
			       "--val-split: %g of %lld images leaves none to train on",
			       val_fraction, (long long)kept);
	int64_t *all = malloc((size_t)kept * sizeof *all);
	int64_t *v = malloc((size_t)(nv > 0 ? nv : 1) * sizeof *v);
	if (!all || !v) {
		free(all);
		free(v);
		return sc_fail(err, SC_ENOMEM, "split: cannot allocate %lld indices",
			       (long long)kept);
	}
	for (int64_t i = 0; i < kept; i++)
		all[i] = i;
	rng r;
	rng_init(&r, seed, SPLIT_STREAM);
	rng_shuffle(&r, all, kept);
	memcpy(v, all + nt, (size_t)nv * sizeof *v);
	qsort(all, (size_t)nt, sizeof *all, cmp_int64);
	qsort(v, (size_t)nv, sizeof *v, cmp_int64);
	*train = all;
	*n_train = nt;
	*val = v;
	*n_val = nv;
	return SC_OK;
}
