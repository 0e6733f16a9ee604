/* test_data.c: runtime/data datasets: IDX, CIFAR, ImageFolder, synthetic,
 * the split and the channel statistics.
 *
 * References:
 *   - the real Fashion-MNIST (dataset-fashion-mnist): sizes, the first ten
 *     labels of each part, pixel sums and one row of image 0, and the
 *     channel mean/std, all as /usr/bin/python3 with gzip + numpy reads
 *     them (numbers hard-coded below);
 *   - IDX, CIFAR and PNG files written here with known contents, read
 *     back byte for byte; PNGs through libpng's writer in every colour
 *     type and bit depth, with the 8-bit values each must decode to
 *     worked out here (16-bit: round(v * 255 / 65535); grey from RGB:
 *     PIL's 601 luma; alpha dropped, not composited);
 *   - corrupt files (bad magic, type, rank, truncated body or gzip
 *     stream, sizes declaring gigabytes) refused with an error naming
 *     the file, and without an allocation larger than a few megabytes
 *     (checked by interposing malloc where the sanitizers do not);
 *   - the split and statistics against direct computations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "runtime/data/dataset.h"

#define WORK SUPCON_TEST_WORK "/test_data"
#define FASHION "/usr/share/datasets/fashion-mnist"

/* --- the largest single allocation, where we may interpose malloc -------- */

#if !defined(__SANITIZE_ADDRESS__)
#define TRACK_ALLOCS 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
static size_t biggest_alloc;
static void note_alloc(size_t n)
{
	if (n > biggest_alloc)
		biggest_alloc = n;
}
void *malloc(size_t n) { note_alloc(n); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { note_alloc(a * b); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { note_alloc(n); return __libc_realloc(p, n); }
void *aligned_alloc(size_t a, size_t n) { note_alloc(n); return __libc_memalign(a, n); }
int posix_memalign(void **p, size_t a, size_t n)
{
	note_alloc(n);
	*p = __libc_memalign(a, n);
	return *p ? 0 : ENOMEM;
}
#endif

/* --- file helpers -------------------------------------------------------- */

static void mkdirs(const char *path)
{
	char buf[1024];
	snprintf(buf, sizeof buf, "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(buf, 0755);
			*p = '/';
		}
	}
	mkdir(buf, 0755);
}

static void rm_rf(const char *path)
{
	char cmd[1200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
	assert_int_equal(system(cmd), 0);
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static void write_gz(const char *path, const void *data, size_t len)
{
	gzFile f = gzopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(gzwrite(f, data, (unsigned)len), (int)len);
	gzclose(f);
}

/* An IDX file: magic (0, 0, type, ndims), big-endian dims, body. */
static void write_idx(const char *path, int gz, int type, int ndims,
		      const uint32_t *dims, const uint8_t *body, size_t body_len)
{
	size_t len = 4 + 4 * (size_t)ndims + body_len;
	uint8_t *buf = malloc(len);
	buf[0] = 0;
	buf[1] = 0;
	buf[2] = (uint8_t)type;
	buf[3] = (uint8_t)ndims;
	for (int i = 0; i < ndims; i++) {
		buf[4 + 4 * i] = (uint8_t)(dims[i] >> 24);
		buf[5 + 4 * i] = (uint8_t)(dims[i] >> 16);
		buf[6 + 4 * i] = (uint8_t)(dims[i] >> 8);
		buf[7 + 4 * i] = (uint8_t)dims[i];
	}
	if (body_len)
		memcpy(buf + 4 + 4 * ndims, body, body_len);
	if (gz)
		write_gz(path, buf, len);
	else
		write_file(path, buf, len);
	free(buf);
}

static int open_err(const char *spec, dataset_part part, sc_error *err)
{
	dataset *d = (dataset *)1;
	int rc = dataset_open(spec, part, NULL, &d, err);
	assert_null(d);
	return rc;
}

/* --- the real Fashion-MNIST ---------------------------------------------- */

static void test_fashion_mnist(void **state)
{
	(void)state;
	static const int train_labels[10] = {9, 0, 0, 3, 0, 2, 7, 2, 5, 5};
	static const int test_labels[10] = {9, 2, 1, 1, 6, 1, 4, 6, 5, 7};
	static const uint8_t row14[28] = {0, 0, 1, 4, 6, 7, 2, 0, 0, 0, 0, 0, 237, 226,
					  217, 223, 222, 219, 222, 221, 216, 223, 229,
					  215, 218, 255, 77, 0};
	sc_error err = {0};
	dataset *d = NULL;
#ifdef TRACK_ALLOCS
	biggest_alloc = 0;
#endif
	int rc = dataset_open("fashion-mnist", DATASET_TRAIN, NULL, &d, &err);
	if (rc)
		fail_msg("%s", err.msg);
#ifdef TRACK_ALLOCS
	/* the tracker the corrupt-file tests rely on does see allocations */
	assert_true(biggest_alloc >= (size_t)60000 * 784);
#endif
	assert_int_equal(d->n, 60000);
	assert_int_equal(d->c, 1);
	assert_int_equal(d->h, 28);
	assert_int_equal(d->w, 28);
	assert_int_equal(d->classes, 10);
	assert_string_equal(d->class_names[0], "T-shirt/top");
	assert_string_equal(d->class_names[9], "Ankle boot");
	assert_string_equal(d->name, "fashion-mnist (train)");
	for (int i = 0; i < 10; i++)
		assert_int_equal(d->labels[i], train_labels[i]);
	int64_t count[10] = {0}, sum0 = 0, sum_last = 0, total = 0;
	for (int64_t i = 0; i < d->n; i++)
		count[d->labels[i]]++;
	for (int k = 0; k < 10; k++)
		assert_int_equal(count[k], 6000);
	for (int i = 0; i < 784; i++) {
		sum0 += d->pixels[i];
		sum_last += d->pixels[(d->n - 1) * 784 + i];
	}
	for (int64_t i = 0; i < d->n * 784; i++)
		total += d->pixels[i];
	assert_int_equal(sum0, 76247);
	assert_int_equal(sum_last, 16684);
	assert_int_equal(total, 3431114169LL);
	assert_memory_equal(d->pixels + 14 * 28, row14, 28);
	float mean, std;
	dataset_channel_stats(d, NULL, 0, &mean, &std);
	assert_float_equal(mean, 0.2860405969887955, 1e-6);
	assert_float_equal(std, 0.35302424451492237, 1e-6);
	dataset_free(d);

	rc = dataset_open("fashion-mnist:" FASHION, DATASET_TEST, NULL, &d, &err);
	if (rc)
		fail_msg("%s", err.msg);
	assert_int_equal(d->n, 10000);
	for (int i = 0; i < 10; i++)
		assert_int_equal(d->labels[i], test_labels[i]);
	int64_t sum = 0;
	for (int i = 0; i < 784; i++)
		sum += d->pixels[i];
	assert_int_equal(sum, 33456);
	assert_string_equal(d->name, "fashion-mnist:" FASHION " (test)");
	dataset_free(d);
}

/* --- IDX files written here ---------------------------------------------- */

enum { IDX_N = 5, IDX_H = 3, IDX_W = 4 };

static void idx_body(uint8_t *images, uint8_t *labels)
{
	for (int i = 0; i < IDX_N * IDX_H * IDX_W; i++)
		images[i] = (uint8_t)(i * 13 + 7);
	for (int i = 0; i < IDX_N; i++)
		labels[i] = (uint8_t)((i * 3) % 10);
}

static void write_mnist(const char *dir, const char *prefix, int gz)
{
	uint8_t images[IDX_N * IDX_H * IDX_W], labels[IDX_N];
	idx_body(images, labels);
	char path[1024];
	uint32_t idims[3] = {IDX_N, IDX_H, IDX_W}, ldims[1] = {IDX_N};
	mkdirs(dir);
	snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte%s", dir, prefix, gz ? ".gz" : "");
	write_idx(path, gz, 0x08, 3, idims, images, sizeof images);
	snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte%s", dir, prefix, gz ? ".gz" : "");
	write_idx(path, gz, 0x08, 1, ldims, labels, sizeof labels);
}

static void test_idx_written(void **state)
{
	(void)state;
	const char *dir = WORK "/idx/good";
	write_mnist(dir, "train", 1);
	write_mnist(dir, "t10k", 0);
	uint8_t images[IDX_N * IDX_H * IDX_W], labels[IDX_N];
	idx_body(images, labels);
	for (int part = 0; part < 2; part++) {
		sc_error err = {0};
		dataset *d = NULL;
		int rc = dataset_open("mnist:" WORK "/idx/good",
				      part ? DATASET_TEST : DATASET_TRAIN, NULL, &d, &err);
		if (rc)
			fail_msg("%s", err.msg);
		assert_int_equal(d->n, IDX_N);
		assert_int_equal(d->h, IDX_H);
		assert_int_equal(d->w, IDX_W);
		assert_int_equal(d->c, 1);
		assert_memory_equal(d->pixels, images, sizeof images);
		for (int i = 0; i < IDX_N; i++)
			assert_int_equal(d->labels[i], labels[i]);
		assert_string_equal(d->class_names[3], "3");
		dataset_free(d);
	}
	/* SUPCON_DATA_DIR/NAME is where a bare name looks first */
	mkdirs(WORK "/idx/root");
	write_mnist(WORK "/idx/root/mnist", "train", 0);
	setenv("SUPCON_DATA_DIR", WORK "/idx/root", 1);
	sc_error err = {0};
	dataset *d = NULL;
	int rc = dataset_open("mnist", DATASET_TRAIN, NULL, &d, &err);
	unsetenv("SUPCON_DATA_DIR");
	if (rc)
		fail_msg("%s", err.msg);
	assert_int_equal(d->n, IDX_N);
	dataset_free(d);
}

typedef struct idx_corruption {
	const char *name;
	int type, ndims;
	uint32_t dims[3];
	size_t body;            /* bytes of body written */
	int first_byte;         /* magic[0] */
	const char *expect;     /* in the message */
	const char *file;       /* the file the message must name */
} idx_corruption;

static void test_idx_corrupt(void **state)
{
	(void)state;
	static const idx_corruption cases[] = {
		{"magic", 0x08, 3, {IDX_N, IDX_H, IDX_W}, 60, 1, "not an IDX file", "images"},
		{"type", 0x0D, 3, {IDX_N, IDX_H, IDX_W}, 60, 0, "element type 0x0d", "images"},
		{"rank", 0x08, 2, {IDX_N, IDX_H * IDX_W, 0}, 60, 0, "2 dimensions, expected 3", "images"},
		{"zero", 0x08, 3, {IDX_N, 0, IDX_W}, 60, 0, "dimension 1 is 0", "images"},
		{"short", 0x08, 3, {IDX_N, IDX_H, IDX_W}, 59, 0, "truncated", "images"},
		/* 39 GB declared (under the 64 GiB cap) on a 100-byte body */
		{"huge", 0x08, 3, {50000000, 28, 28}, 100, 0, "truncated", "images"},
		{"absurd", 0x08, 3, {0xffffffffu, 0xffffffffu, 0xffffffffu}, 100, 0, "more than", "images"},
		{"count", 0x08, 3, {IDX_N + 1, IDX_H, IDX_W}, 72, 0, "5 labels for 6 images", "labels"},
	};
	uint8_t body[200] = {0};
	uint8_t labels[IDX_N] = {1, 2, 3, 4, 5};
	uint32_t ldims[1] = {IDX_N};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const idx_corruption *c = &cases[i];
		char dir[512], path[1024], spec[600];
		snprintf(dir, sizeof dir, WORK "/idx/%s", c->name);
		mkdirs(dir);
		snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte.gz", dir);
		write_idx(path, 1, 0x08, 1, ldims, labels, sizeof labels);
		snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", dir);
		write_idx(path, 1, c->type, c->ndims, c->dims, body, c->body);
		if (c->first_byte) {
			/* rewrite with a broken magic */
			uint8_t raw[16 + 60] = {1, 0, 8, 3, 0, 0, 0, IDX_N, 0, 0, 0, IDX_H, 0, 0, 0, IDX_W};
			write_gz(path, raw, sizeof raw);
		}
		snprintf(spec, sizeof spec, "mnist:%s", dir);
		sc_error err = {0};
#ifdef TRACK_ALLOCS
		biggest_alloc = 0;
#endif
		int rc = open_err(spec, DATASET_TRAIN, &err);
		assert_int_equal(rc, SC_EINVAL);
		if (!strstr(err.msg, c->expect) || !strstr(err.msg, c->file))
			fail_msg("case %s: message '%s' lacks '%s'", c->name, err.msg, c->expect);
#ifdef TRACK_ALLOCS
		if (biggest_alloc > ((size_t)4 << 20))
			fail_msg("case %s: allocated %zu bytes at once", c->name, biggest_alloc);
#endif
	}

	/* a label outside 0..9, and a gzip stream cut short */
	const char *dir = WORK "/idx/label";
	write_mnist(dir, "train", 0);
	uint8_t bad[IDX_N] = {1, 2, 10, 4, 5};
	write_idx(WORK "/idx/label/train-labels-idx1-ubyte", 0, 0x08, 1, ldims, bad, sizeof bad);
	sc_error err = {0};
	assert_int_equal(open_err("mnist:" WORK "/idx/label", DATASET_TRAIN, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "label 10 of image 2"));

	dir = WORK "/idx/cut";
	write_mnist(dir, "train", 1);
	char path[512];
	snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", dir);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(truncate(path, st.st_size / 2), 0);
	assert_int_equal(open_err("mnist:" WORK "/idx/cut", DATASET_TRAIN, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "train-images-idx3-ubyte.gz"));
}

static void test_missing_and_bad_specs(void **state)
{
	(void)state;
	sc_error err = {0};
	assert_int_equal(open_err("fashion-mnist:/nonexistent/fm", DATASET_TRAIN, &err), SC_EINVAL);
	assert_string_equal(err.msg, "/nonexistent/fm/train-images-idx3-ubyte.gz: "
			    "no such file (install dataset-fashion-mnist)");
	assert_int_equal(open_err("mnist:/nonexistent", DATASET_TEST, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "/nonexistent/t10k-images-idx3-ubyte.gz: no such file"));
	assert_int_equal(open_err("cifar10:/nonexistent", DATASET_TRAIN, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "/nonexistent/data_batch_1.bin: no such file"));
	assert_int_equal(open_err("/no/such/folder", DATASET_TRAIN, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "/no/such/folder: no such dataset or folder"));
	assert_non_null(strstr(err.msg, "synthetic:CxHxW:K"));
	assert_int_equal(open_err("", DATASET_TRAIN, &err), SC_EINVAL);
	static const char *bad_synth[] = {"synthetic:3x16:4", "synthetic:0x4x4:2",
					  "synthetic:3x4x4:1", "synthetic:3x4x4:2x", "synthetic:"};
	for (size_t i = 0; i < sizeof bad_synth / sizeof *bad_synth; i++) {
		assert_int_equal(open_err(bad_synth[i], DATASET_TRAIN, &err), SC_EINVAL);
		assert_non_null(strstr(err.msg, "synthetic:CxHxW:K"));
	}
}

/* --- CIFAR ----------------------------------------------------------------- */

static uint8_t cifar_px(int64_t rec, int64_t k)
{
	return (uint8_t)((rec * 7 + k * 3) % 251);
}

/* records [first, first + n) with labels label_of(rec) */
static void write_cifar(const char *path, int64_t first, int64_t n, int fine,
			int (*label_of)(int64_t), size_t cut)
{
	size_t rec = 3072 + 1 + (size_t)fine;
	uint8_t *buf = malloc(rec * (size_t)n);
	for (int64_t i = 0; i < n; i++) {
		uint8_t *r = buf + rec * (size_t)i;
		int64_t g = first + i;
		if (fine)
			r[0] = (uint8_t)(label_of(g) / 5);  /* coarse */
		r[fine] = (uint8_t)label_of(g);
		for (int64_t k = 0; k < 3072; k++)
			r[1 + fine + k] = cifar_px(g, k);
	}
	write_file(path, buf, rec * (size_t)n - cut);
	free(buf);
}

static int label10(int64_t g) { return (int)((g * 3 + 1) % 10); }
static int label100(int64_t g) { return (int)((g * 37 + 99) % 100); }
static int label_bad(int64_t g) { return g == 1 ? 10 : 0; }

static void test_cifar(void **state)
{
	(void)state;
	const char *root = WORK "/cifar10/cifar-10-batches-bin";
	static const int counts[5] = {2, 1, 3, 1, 2};
	char path[1024];
	mkdirs(root);
	int64_t first = 0;
	for (int i = 0; i < 5; i++) {
		snprintf(path, sizeof path, "%s/data_batch_%d.bin", root, i + 1);
		write_cifar(path, first, counts[i], 0, label10, 0);
		first += counts[i];
	}
	snprintf(path, sizeof path, "%s/test_batch.bin", root);
	write_cifar(path, 100, 2, 0, label10, 0);

	sc_error err = {0};
	dataset *d = NULL;
	if (dataset_open("cifar10:" WORK "/cifar10", DATASET_TRAIN, NULL, &d, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(d->n, 9);
	assert_int_equal(d->c, 3);
	assert_int_equal(d->h, 32);
	assert_int_equal(d->w, 32);
	assert_int_equal(d->classes, 10);
	assert_string_equal(d->class_names[0], "airplane");
	assert_string_equal(d->class_names[9], "truck");
	for (int64_t i = 0; i < 9; i++) {
		assert_int_equal(d->labels[i], label10(i));
		for (int64_t k = 0; k < 3072; k += 101)
			assert_int_equal(d->pixels[i * 3072 + k], cifar_px(i, k));
	}
	dataset_free(d);
	if (dataset_open("cifar10:" WORK "/cifar10", DATASET_TEST, NULL, &d, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(d->n, 2);
	assert_int_equal(d->labels[1], label10(101));
	assert_int_equal(d->pixels[3072 + 5], cifar_px(101, 5));
	dataset_free(d);

	/* CIFAR-100 in the folder itself: the fine label */
	mkdirs(WORK "/cifar100");
	write_cifar(WORK "/cifar100/train.bin", 0, 3, 1, label100, 0);
	write_cifar(WORK "/cifar100/test.bin", 10, 1, 1, label100, 0);
	if (dataset_open("cifar100:" WORK "/cifar100", DATASET_TRAIN, NULL, &d, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(d->n, 3);
	assert_int_equal(d->classes, 100);
	assert_int_equal(d->labels[0], 99);
	assert_string_equal(d->class_names[99], "worm");
	assert_string_equal(d->class_names[0], "apple");
	for (int64_t i = 0; i < 3; i++) {
		assert_int_equal(d->labels[i], label100(i));
		assert_int_equal(d->pixels[i * 3072 + 3071], cifar_px(i, 3071));
	}
	dataset_free(d);

	/* a torn record and an out-of-range label */
	mkdirs(WORK "/cifar_bad/torn");
	write_cifar(WORK "/cifar_bad/torn/test_batch.bin", 0, 2, 0, label10, 1);
	assert_int_equal(open_err("cifar10:" WORK "/cifar_bad/torn", DATASET_TEST, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "test_batch.bin: 6145 bytes is not a whole number"));
	mkdirs(WORK "/cifar_bad/label");
	write_cifar(WORK "/cifar_bad/label/test_batch.bin", 0, 3, 0, label_bad, 0);
	assert_int_equal(open_err("cifar10:" WORK "/cifar_bad/label", DATASET_TEST, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "record 1 has label 10"));
	/* a missing batch of the five */
	snprintf(path, sizeof path, "%s/data_batch_4.bin", root);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(open_err("cifar10:" WORK "/cifar10", DATASET_TRAIN, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "data_batch_4.bin: no such file"));
}

/* --- ImageFolder ----------------------------------------------------------- */

enum { S = 6 };   /* the test PNGs are S x S, read at size S: no resize */

/* Writes rows already in PNG sample layout. */
static void write_png(const char *path, int w, int h, int color_type, int depth,
		      int interlace, uint8_t **rows, const png_color *palette,
		      int npal, const uint8_t *trns, int ntrns)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop info = png_create_info_struct(png);
	assert_non_null(png);
	assert_non_null(info);
	if (setjmp(png_jmpbuf(png)))
		fail_msg("libpng could not write %s", path);
	png_init_io(png, f);
	png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color_type,
		     interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	if (palette)
		png_set_PLTE(png, info, palette, npal);
	if (trns)
		png_set_tRNS(png, info, trns, ntrns, NULL);
	png_write_info(png, info);
	png_write_image(png, rows);
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	fclose(f);
}

typedef struct test_png {
	const char *name;       /* class/file under train/ */
	uint8_t rgb[3][S * S];  /* what it must decode to */
} test_png;

static uint8_t val_r(int x, int y) { return (uint8_t)(x * 40 + y); }
static uint8_t val_g(int y) { return (uint8_t)(y * 45 + 3); }
static uint8_t val_b(int x, int y) { return (uint8_t)(100 + 11 * (x + y)); }

static int64_t n_pngs;
static test_png pngs[16];

static test_png *add_png(const char *name)
{
	test_png *t = &pngs[n_pngs++];
	t->name = name;
	return t;
}

static void make_png_files(const char *root)
{
	char path[1024];
	uint8_t buf[S][S * 8];
	uint8_t *rows[S];
	for (int y = 0; y < S; y++)
		rows[y] = buf[y];
	n_pngs = 0;

	/* 8-bit RGB, and the same interlaced */
	for (int il = 0; il < 2; il++) {
		test_png *t = add_png(il ? "zebra/interlaced.png" : "cat/rgb8.png");
		for (int y = 0; y < S; y++)
			for (int x = 0; x < S; x++) {
				buf[y][3 * x] = t->rgb[0][y * S + x] = val_r(x, y);
				buf[y][3 * x + 1] = t->rgb[1][y * S + x] = val_g(y);
				buf[y][3 * x + 2] = t->rgb[2][y * S + x] = val_b(x, y);
			}
		snprintf(path, sizeof path, "%s/%s", root, t->name);
		write_png(path, S, S, PNG_COLOR_TYPE_RGB, 8, il, rows, NULL, 0, NULL, 0);
	}
	/* 16-bit RGB: samples off the exact multiples of 257, to see rounding */
	{
		test_png *t = add_png("cat/rgb16.png");
		for (int y = 0; y < S; y++)
			for (int x = 0; x < S; x++)
				for (int ch = 0; ch < 3; ch++) {
					uint32_t v = (uint32_t)(x * 9000 + y * 1500 + ch * 4000 + 77) % 65536;
					buf[y][6 * x + 2 * ch] = (uint8_t)(v >> 8);
					buf[y][6 * x + 2 * ch + 1] = (uint8_t)v;
					t->rgb[ch][y * S + x] = (uint8_t)floor(v * 255.0 / 65535.0 + 0.5);
				}
		snprintf(path, sizeof path, "%s/%s", root, t->name);
		write_png(path, S, S, PNG_COLOR_TYPE_RGB, 16, 0, rows, NULL, 0, NULL, 0);
	}
	/* 8-bit grey */
	{
		test_png *t = add_png("dog/gray8.png");
		for (int y = 0; y < S; y++)
			for (int x = 0; x < S; x++) {
				buf[y][x] = (uint8_t)(x * 30 + y * 7);
				for (int ch = 0; ch < 3; ch++)
					t->rgb[ch][y * S + x] = buf[y][x];
			}
		snprintf(path, sizeof path, "%s/%s", root, t->name);
		write_png(path, S, S, PNG_COLOR_TYPE_GRAY, 8, 0, rows, NULL, 0, NULL, 0);
	}
	/* 2-bit palette with a transparent entry (alpha is dropped) */
	{
		static const png_color pal[4] = {{10, 20, 30}, {200, 100, 0}, {0, 255, 128}, {77, 77, 77}};
		static const uint8_t trns[2] = {0, 128};
		test_png *t = add_png("dog/palette.png");
		memset(buf, 0, sizeof buf);
		for (int y = 0; y < S; y++)
			for (int x = 0; x < S; x++) {
				int idx = (x + 2 * y) % 4;
				buf[y][x / 4] |= (uint8_t)(idx << (6 - 2 * (x % 4)));
				t->rgb[0][y * S + x] = pal[idx].red;
				t->rgb[1][y * S + x] = pal[idx].green;
				t->rgb[2][y * S + x] = pal[idx].blue;
			}
		snprintf(path, sizeof path, "%s/%s", root, t->name);
		write_png(path, S, S, PNG_COLOR_TYPE_PALETTE, 2, 0, rows, pal, 4, trns, 2);
	}
	/* 8-bit grey + alpha: the grey survives whatever the alpha */
	{
		test_png *t = add_png("dog/gray_alpha.png");
		for (int y = 0; y < S; y++)
			for (int x = 0; x < S; x++) {
				buf[y][2 * x] = (uint8_t)(250 - x * 20 - y);
				buf[y][2 * x + 1] = (uint8_t)(x * 50);
				for (int ch = 0; ch < 3; ch++)
					t->rgb[ch][y * S + x] = buf[y][2 * x];
			}
		snprintf(path, sizeof path, "%s/%s", root, t->name);
		write_png(path, S, S, PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0, rows, NULL, 0, NULL, 0);
	}
	/* 16-bit RGBA */
	{
		test_png *t = add_png("zebra/rgba16.png");
		for (int y = 0; y < S; y++)
			for (int x = 0; x < S; x++)
				for (int ch = 0; ch < 4; ch++) {
					uint32_t v = ch == 3 ? 0 : (uint32_t)(val_r(x, y) * 257 + ch * 300);
					v = v > 65535 ? 65535 : v;
					buf[y][8 * x + 2 * ch] = (uint8_t)(v >> 8);
					buf[y][8 * x + 2 * ch + 1] = (uint8_t)v;
					if (ch < 3)
						t->rgb[ch][y * S + x] = (uint8_t)floor(v * 255.0 / 65535.0 + 0.5);
				}
		snprintf(path, sizeof path, "%s/%s", root, t->name);
		write_png(path, S, S, PNG_COLOR_TYPE_RGB_ALPHA, 16, 0, rows, NULL, 0, NULL, 0);
	}
	/* 1-bit grey: 0 and 255 */
	{
		test_png *t = add_png("zebra/gray1.png");
		memset(buf, 0, sizeof buf);
		for (int y = 0; y < S; y++)
			for (int x = 0; x < S; x++) {
				int bit = (x + y) % 3 == 0;
				buf[y][x / 8] |= (uint8_t)(bit << (7 - x % 8));
				for (int ch = 0; ch < 3; ch++)
					t->rgb[ch][y * S + x] = bit ? 255 : 0;
			}
		snprintf(path, sizeof path, "%s/%s", root, t->name);
		write_png(path, S, S, PNG_COLOR_TYPE_GRAY, 1, 0, rows, NULL, 0, NULL, 0);
	}
	/* files that are not images */
	snprintf(path, sizeof path, "%s/cat/broken.png", root);
	write_file(path, "this is not a PNG file", 22);
	snprintf(path, sizeof path, "%s/zebra/notes.txt", root);
	write_file(path, "ignored", 7);
	/* a real PNG cut in the middle of its pixel data */
	char full[1024];
	snprintf(full, sizeof full, "%s/cat/rgb8.png", root);
	FILE *f = fopen(full, "rb");
	uint8_t head[4096];
	size_t got = fread(head, 1, sizeof head, f);
	fclose(f);
	snprintf(path, sizeof path, "%s/zebra/truncated.png", root);
	write_file(path, head, got - 30);
}

/* The position of each test PNG in the dataset: classes in name order,
 * files in name order, the two broken ones skipped. */
static const char *const folder_order[] = {
	"cat/rgb16.png", "cat/rgb8.png", "dog/gray8.png", "dog/gray_alpha.png",
	"dog/palette.png", "zebra/gray1.png", "zebra/interlaced.png", "zebra/rgba16.png",
};

static const test_png *png_named(const char *name)
{
	for (int64_t i = 0; i < n_pngs; i++)
		if (!strcmp(pngs[i].name, name))
			return &pngs[i];
	fail_msg("no test png %s", name);
	return NULL;
}

/* Opens with stderr captured in *log. */
static int open_capturing(const char *spec, dataset_part part, const dataset_options *o,
			  dataset **d, sc_error *err, char *log, size_t cap)
{
	const char *logpath = WORK "/stderr.txt";
	fflush(stderr);
	int saved = dup(2);
	int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(saved >= 0 && fd >= 0);
	dup2(fd, 2);
	close(fd);
	int rc = dataset_open(spec, part, o, d, err);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	FILE *f = fopen(logpath, "rb");
	size_t n = fread(log, 1, cap - 1, f);
	log[n] = '\0';
	fclose(f);
	return rc;
}

static void test_image_folder(void **state)
{
	(void)state;
	const char *root = WORK "/folder";
	rm_rf(root);
	mkdirs(WORK "/folder/train/cat");
	mkdirs(WORK "/folder/train/dog");
	mkdirs(WORK "/folder/train/zebra");
	mkdirs(WORK "/folder/test/cat");
	mkdirs(WORK "/folder/test/zebra");
	make_png_files(WORK "/folder/train");
	char src[1024], dst[1024];
	snprintf(src, sizeof src, "cp %s/train/dog/gray8.png %s/test/zebra/a.png", root, root);
	assert_int_equal(system(src), 0);
	snprintf(dst, sizeof dst, "cp %s/train/cat/rgb8.png %s/test/cat/b.png", root, root);
	assert_int_equal(system(dst), 0);

	dataset_options o;
	dataset_options_init(&o);
	o.size = S;
	sc_error err = {0};
	dataset *d = NULL;
	char log[4096];
	int rc = open_capturing(root, DATASET_TRAIN, &o, &d, &err, log, sizeof log);
	if (rc)
		fail_msg("%s", err.msg);
	assert_int_equal(d->n, 8);
	assert_int_equal(d->skipped, 2);
	assert_int_equal(d->c, 3);
	assert_int_equal(d->h, S);
	assert_int_equal(d->w, S);
	assert_int_equal(d->classes, 3);
	assert_string_equal(d->class_names[0], "cat");
	assert_string_equal(d->class_names[1], "dog");
	assert_string_equal(d->class_names[2], "zebra");
	/* one warning line per skipped file, naming it */
	assert_non_null(strstr(log, "/train/cat/broken.png"));
	assert_non_null(strstr(log, "/train/zebra/truncated.png"));
	int lines = 0;
	for (char *p = log; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 2);
	for (int64_t i = 0; i < d->n; i++) {
		const test_png *t = png_named(folder_order[i]);
		assert_int_equal(d->labels[i], folder_order[i][0] == 'c' ? 0 :
				 folder_order[i][0] == 'd' ? 1 : 2);
		for (int ch = 0; ch < 3; ch++)
			if (memcmp(d->pixels + (i * 3 + ch) * S * S, t->rgb[ch], S * S))
				fail_msg("%s: channel %d decoded wrong", t->name, ch);
	}
	dataset_free(d);

	/* one channel: PIL's luma of the RGB files, the grey files as is */
	o.channels = 1;
	rc = open_capturing(root, DATASET_TRAIN, &o, &d, &err, log, sizeof log);
	if (rc)
		fail_msg("%s", err.msg);
	assert_int_equal(d->c, 1);
	for (int64_t i = 0; i < d->n; i++) {
		const test_png *t = png_named(folder_order[i]);
		for (int k = 0; k < S * S; k++) {
			int want = (t->rgb[0][k] * 299 + t->rgb[1][k] * 587 + t->rgb[2][k] * 114 + 500) / 1000;
			assert_true(abs(d->pixels[i * S * S + k] - want) <= 1);
		}
	}
	dataset_free(d);

	/* the test part: the train part's labels, a missing class is fine */
	o.channels = 3;
	rc = open_capturing(root, DATASET_TEST, &o, &d, &err, log, sizeof log);
	if (rc)
		fail_msg("%s", err.msg);
	assert_int_equal(d->n, 2);
	assert_int_equal(d->classes, 3);
	assert_int_equal(d->labels[0], 0);
	assert_int_equal(d->labels[1], 2);
	assert_memory_equal(d->pixels, png_named("cat/rgb8.png")->rgb, 3 * S * S);
	assert_int_equal(d->pixels[3 * S * S + 7], png_named("dog/gray8.png")->rgb[0][7]);
	assert_int_equal(d->skipped, 0);
	dataset_free(d);

	/* resizing to 2 x 2 keeps geometry and a constant image constant */
	o.size = 2;
	rc = open_capturing(root, DATASET_TEST, &o, &d, &err, log, sizeof log);
	if (rc)
		fail_msg("%s", err.msg);
	assert_int_equal(d->h, 2);
	assert_int_equal(d->w, 2);
	dataset_free(d);
}

static void test_image_folder_layouts(void **state)
{
	(void)state;
	const char *flat = WORK "/flat";
	rm_rf(flat);
	mkdirs(WORK "/flat/b");
	mkdirs(WORK "/flat/a");
	mkdirs(WORK "/flat/.hidden");
	uint8_t px[9 * 12 * 3];
	uint8_t *rows[9];
	for (int y = 0; y < 9; y++) {
		rows[y] = px + y * 36;
		for (int x = 0; x < 12; x++) {
			rows[y][3 * x] = 40;
			rows[y][3 * x + 1] = 150;
			rows[y][3 * x + 2] = 220;
		}
	}
	write_png(WORK "/flat/a/one.png", 12, 9, PNG_COLOR_TYPE_RGB, 8, 0, rows, NULL, 0, NULL, 0);
	write_png(WORK "/flat/b/two.PNG", 12, 9, PNG_COLOR_TYPE_RGB, 8, 0, rows, NULL, 0, NULL, 0);
	dataset_options o;
	dataset_options_init(&o);
	sc_error err = {0};
	dataset *d = NULL;
	if (dataset_open(flat, DATASET_TRAIN, &o, &d, &err))
		fail_msg("%s", err.msg);
	/* default size 32: a 12 x 9 constant image stays that colour */
	assert_int_equal(d->n, 2);
	assert_int_equal(d->h, 32);
	assert_int_equal(d->classes, 2);
	assert_int_equal(d->labels[1], 1);
	for (int64_t i = 0; i < 32 * 32; i++) {
		assert_int_equal(d->pixels[i], 40);
		assert_int_equal(d->pixels[32 * 32 + i], 150);
		assert_int_equal(d->pixels[2 * 32 * 32 + i], 220);
	}
	dataset_free(d);
	dataset_options o1 = o;
	o1.size = 0;
	o1.channels = 0;
	assert_int_equal(dataset_open(flat, DATASET_TRAIN, &o1, &d, &err), SC_OK);
	assert_int_equal(d->h, 32);
	assert_int_equal(d->c, 3);
	dataset_free(d);

	assert_int_equal(open_err(flat, DATASET_TEST, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "no train/ and test/ folders"));

	/* a test class the train part does not have */
	rm_rf(WORK "/unknown");
	mkdirs(WORK "/unknown/train/a");
	mkdirs(WORK "/unknown/test/z");
	write_png(WORK "/unknown/train/a/x.png", 12, 9, PNG_COLOR_TYPE_RGB, 8, 0, rows, NULL, 0, NULL, 0);
	write_png(WORK "/unknown/test/z/x.png", 12, 9, PNG_COLOR_TYPE_RGB, 8, 0, rows, NULL, 0, NULL, 0);
	assert_int_equal(open_err(WORK "/unknown", DATASET_TEST, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "class 'z'"));

	/* no class folders; class folders without PNGs; only broken PNGs */
	rm_rf(WORK "/empty");
	mkdirs(WORK "/empty");
	assert_int_equal(open_err(WORK "/empty", DATASET_TRAIN, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "no class folders"));
	mkdirs(WORK "/empty/a");
	assert_int_equal(open_err(WORK "/empty", DATASET_TRAIN, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "no .png files"));
	write_file(WORK "/empty/a/bad.png", "nope", 4);
	char log[1024];
	assert_int_equal(open_capturing(WORK "/empty", DATASET_TRAIN, &o, &d, &err, log,
					sizeof log), SC_EINVAL);
	assert_non_null(strstr(err.msg, "none of its 1 PNG files decoded"));
	/* a PNG whose header claims 16000 x 16000 pixels is skipped before
	 * anything of that size is allocated */
	rm_rf(WORK "/liar");
	mkdirs(WORK "/liar/a");
	write_png(WORK "/liar/a/good.png", 12, 9, PNG_COLOR_TYPE_RGB, 8, 0, rows, NULL, 0, NULL, 0);
	write_png(WORK "/liar/a/liar.png", 12, 9, PNG_COLOR_TYPE_RGB, 8, 0, rows, NULL, 0, NULL, 0);
	FILE *f = fopen(WORK "/liar/a/liar.png", "r+b");
	uint8_t head[33];
	assert_int_equal(fread(head, 1, sizeof head, f), sizeof head);
	assert_memory_equal(head + 12, "IHDR", 4);
	const uint8_t big[8] = {0, 0, 0x3e, 0x80, 0, 0, 0x3e, 0x80};
	memcpy(head + 16, big, 8);
	uint32_t crc = (uint32_t)crc32(0, head + 12, 17);
	head[29] = (uint8_t)(crc >> 24);
	head[30] = (uint8_t)(crc >> 16);
	head[31] = (uint8_t)(crc >> 8);
	head[32] = (uint8_t)crc;
	fseek(f, 0, SEEK_SET);
	assert_int_equal(fwrite(head, 1, sizeof head, f), sizeof head);
	fclose(f);
#ifdef TRACK_ALLOCS
	biggest_alloc = 0;
#endif
	assert_int_equal(open_capturing(WORK "/liar", DATASET_TRAIN, &o, &d, &err, log,
					sizeof log), SC_OK);
	assert_int_equal(d->n, 1);
	assert_int_equal(d->skipped, 1);
	assert_non_null(strstr(log, "liar.png: declares 16000x16000 pixels"));
	dataset_free(d);
#ifdef TRACK_ALLOCS
	assert_true(biggest_alloc < ((size_t)8 << 20));
#endif

	o.size = -3;
	assert_int_equal(dataset_open(flat, DATASET_TRAIN, &o, &d, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "--size"));
	dataset_options_init(&o);
	o.channels = 2;
	assert_int_equal(dataset_open(flat, DATASET_TRAIN, &o, &d, &err), SC_EINVAL);
	assert_null(d);
}

/* --- synthetic ------------------------------------------------------------- */

/* Nearest class mean in pixel space, trained on train, scored on test. */
static double nearest_centroid(const dataset *tr, const dataset *te)
{
	int64_t dim = tr->c * tr->h * tr->w, k = tr->classes;
	double *mean = calloc((size_t)(k * dim), sizeof *mean);
	int64_t *count = calloc((size_t)k, sizeof *count);
	for (int64_t i = 0; i < tr->n; i++) {
		count[tr->labels[i]]++;
		for (int64_t j = 0; j < dim; j++)
			mean[tr->labels[i] * dim + j] += tr->pixels[i * dim + j];
	}
	for (int64_t c = 0; c < k; c++)
		for (int64_t j = 0; j < dim; j++)
			mean[c * dim + j] /= count[c] ? (double)count[c] : 1.0;
	int64_t right = 0;
	for (int64_t i = 0; i < te->n; i++) {
		int64_t best = 0;
		double best_d = INFINITY;
		for (int64_t c = 0; c < k; c++) {
			double dist = 0;
			for (int64_t j = 0; j < dim; j++) {
				double t = te->pixels[i * dim + j] - mean[c * dim + j];
				dist += t * t;
			}
			if (dist < best_d) {
				best_d = dist;
				best = c;
			}
		}
		right += best == te->labels[i];
	}
	free(mean);
	free(count);
	return (double)right / (double)te->n;
}

static void test_synthetic(void **state)
{
	(void)state;
	dataset_options o;
	dataset_options_init(&o);
	o.seed = 42;
	o.synthetic_train = 2000;
	o.synthetic_test = 500;
	sc_error err = {0};
	dataset *a = NULL, *b = NULL, *t = NULL;
	assert_int_equal(dataset_open("synthetic:3x16x16:5", DATASET_TRAIN, &o, &a, &err), SC_OK);
	assert_int_equal(dataset_open("synthetic:3x16x16:5", DATASET_TRAIN, &o, &b, &err), SC_OK);
	assert_int_equal(dataset_open("synthetic:3x16x16:5", DATASET_TEST, &o, &t, &err), SC_OK);
	assert_int_equal(a->n, 2000);
	assert_int_equal(t->n, 500);
	assert_int_equal(a->c, 3);
	assert_int_equal(a->h, 16);
	assert_int_equal(a->classes, 5);
	assert_string_equal(a->class_names[4], "4");
	assert_string_equal(a->name, "synthetic:3x16x16:5 (train)");
	assert_memory_equal(a->pixels, b->pixels, (size_t)(a->n * 768));
	assert_memory_equal(a->labels, b->labels, (size_t)a->n * sizeof *a->labels);
	assert_true(memcmp(a->pixels, t->pixels, 500 * 768) != 0);
	int64_t per_class[5] = {0};
	for (int64_t i = 0; i < a->n; i++) {
		assert_true(a->labels[i] >= 0 && a->labels[i] < 5);
		per_class[a->labels[i]]++;
	}
	for (int k = 0; k < 5; k++)
		assert_true(per_class[k] > 300 && per_class[k] < 500);
	/* learnable but not trivial: a pixel template beats chance clearly
	 * and still misses a good share */
	double acc = nearest_centroid(a, t);
	if (getenv("SUPCON_TEST_VERBOSE"))
		printf("synthetic nearest-centroid accuracy %.3f\n", acc);
	assert_true(acc > 0.3 && acc < 0.97);
	/* an image does not depend on how many others there are */
	dataset_free(b);
	o.synthetic_train = 10;
	assert_int_equal(dataset_open("synthetic:3x16x16:5", DATASET_TRAIN, &o, &b, &err), SC_OK);
	assert_memory_equal(a->pixels, b->pixels, 10 * 768);
	dataset_free(b);
	/* another seed, other images */
	o.seed = 43;
	assert_int_equal(dataset_open("synthetic:3x16x16:5", DATASET_TRAIN, &o, &b, &err), SC_OK);
	assert_true(memcmp(a->pixels, b->pixels, 10 * 768) != 0);
	dataset_free(b);
	o.synthetic_test = 0;
	assert_int_equal(dataset_open("synthetic:3x16x16:5", DATASET_TEST, &o, &b, &err), SC_EINVAL);
	dataset_free(a);
	dataset_free(t);
}

/* --- split and statistics ------------------------------------------------ */

static void check_partition(const int64_t *tr, int64_t nt, const int64_t *va, int64_t nv,
			    int64_t kept)
{
	char *seen = calloc((size_t)kept, 1);
	for (int64_t i = 0; i < nt; i++) {
		assert_true(tr[i] >= 0 && tr[i] < kept);
		if (i)
			assert_true(tr[i] > tr[i - 1]);
		seen[tr[i]]++;
	}
	for (int64_t i = 0; i < nv; i++) {
		assert_true(va[i] >= 0 && va[i] < kept);
		if (i)
			assert_true(va[i] > va[i - 1]);
		seen[va[i]]++;
	}
	for (int64_t i = 0; i < kept; i++)
		assert_int_equal(seen[i], 1);
	free(seen);
}

static void test_split(void **state)
{
	(void)state;
	int64_t *tr, *va, nt, nv, *tr2, *va2, nt2, nv2;
	sc_error err = {0};
	assert_int_equal(dataset_split(100, 0, 0.1, 1, &tr, &nt, &va, &nv, &err), SC_OK);
	assert_int_equal(nt, 90);
	assert_int_equal(nv, 10);
	check_partition(tr, nt, va, nv, 100);
	/* same seed, same split; another seed, another validation set */
	assert_int_equal(dataset_split(100, 0, 0.1, 1, &tr2, &nt2, &va2, &nv2, &err), SC_OK);
	assert_memory_equal(va, va2, 10 * sizeof *va);
	free(tr2);
	free(va2);
	assert_int_equal(dataset_split(100, 0, 0.1, 2, &tr2, &nt2, &va2, &nv2, &err), SC_OK);
	assert_true(memcmp(va, va2, 10 * sizeof *va) != 0);
	/* a shuffled split is not simply the tail */
	assert_true(va[0] < 90);
	free(tr2);
	free(va2);
	free(tr);
	free(va);

	/* limit first, then split; round(0.1 * 15) = 2 */
	assert_int_equal(dataset_split(1000, 15, 0.1, 7, &tr, &nt, &va, &nv, &err), SC_OK);
	assert_int_equal(nt, 13);
	assert_int_equal(nv, 2);
	check_partition(tr, nt, va, nv, 15);
	free(tr);
	free(va);
	/* a limit above n keeps everything; fraction 0 keeps order */
	assert_int_equal(dataset_split(20, 50, 0.0, 7, &tr, &nt, &va, &nv, &err), SC_OK);
	assert_int_equal(nt, 20);
	assert_int_equal(nv, 0);
	for (int64_t i = 0; i < 20; i++)
		assert_int_equal(tr[i], i);
	free(tr);
	free(va);

	assert_int_equal(dataset_split(100, 0, 1.0, 1, &tr, &nt, &va, &nv, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "--val-split"));
	assert_int_equal(dataset_split(100, 0, -0.1, 1, &tr, &nt, &va, &nv, &err), SC_EINVAL);
	assert_int_equal(dataset_split(100, 0, NAN, 1, &tr, &nt, &va, &nv, &err), SC_EINVAL);
	assert_int_equal(dataset_split(100, -1, 0.1, 1, &tr, &nt, &va, &nv, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "--limit"));
	assert_int_equal(dataset_split(0, 0, 0.1, 1, &tr, &nt, &va, &nv, &err), SC_EINVAL);
	assert_int_equal(dataset_split(1, 0, 0.5, 1, &tr, &nt, &va, &nv, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "leaves none"));
	assert_null(tr);
	assert_null(va);
}

static void test_channel_stats(void **state)
{
	(void)state;
	dataset_options o;
	dataset_options_init(&o);
	o.synthetic_train = 50;
	sc_error err = {0};
	dataset *d = NULL;
	assert_int_equal(dataset_open("synthetic:3x5x7:3", DATASET_TRAIN, &o, &d, &err), SC_OK);
	const int64_t idx[4] = {3, 17, 17, 40};
	float mean[3], std[3];
	dataset_channel_stats(d, idx, 4, mean, std);
	for (int ch = 0; ch < 3; ch++) {
		double s = 0, s2 = 0;
		for (int i = 0; i < 4; i++)
			for (int k = 0; k < 35; k++) {
				double v = d->pixels[(idx[i] * 3 + ch) * 35 + k] / 255.0;
				s += v;
			}
		double m = s / 140;
		for (int i = 0; i < 4; i++)
			for (int k = 0; k < 35; k++) {
				double v = d->pixels[(idx[i] * 3 + ch) * 35 + k] / 255.0 - m;
				s2 += v * v;
			}
		assert_float_equal(mean[ch], m, 1e-6);
		assert_float_equal(std[ch], sqrt(s2 / 140), 1e-6);
	}
	/* a constant channel reports std 1 */
	memset(d->pixels, 9, (size_t)(d->n * 105));
	dataset_channel_stats(d, NULL, 0, mean, std);
	assert_float_equal(mean[1], 9 / 255.0, 1e-7);
	assert_true(std[1] == 1.0f);
	dataset_free(d);
}

static int setup(void **state)
{
	(void)state;
	rm_rf(WORK);
	mkdirs(WORK);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fashion_mnist),
		cmocka_unit_test(test_idx_written),
		cmocka_unit_test(test_idx_corrupt),
		cmocka_unit_test(test_missing_and_bad_specs),
		cmocka_unit_test(test_cifar),
		cmocka_unit_test(test_image_folder),
		cmocka_unit_test(test_image_folder_layouts),
		cmocka_unit_test(test_synthetic),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_channel_stats),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
