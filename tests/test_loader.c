/* test_loader.c: runtime/data/loader.c, the prefetching batch loader.
 *
 * Checked against definitions rather than a reference implementation:
 *   - every image of the index list exactly once per epoch, in batches of
 *     the right sizes (drop_last or not), shuffled differently per epoch
 *     and not at all without shuffle;
 *   - rows [0, B) are view 1 and [B, 2B) view 2 of the same images, their
 *     labels and indices consistent with the dataset;
 *   - without augmentation a row is exactly the normalised image;
 *   - the bytes of every batch are the same for 0, 1, 2 and 3 workers and
 *     any prefetch depth, and loader_start(epoch, k) reproduces an
 *     uninterrupted run from batch k;
 *   - restarting or freeing in the middle of an epoch, with workers busy,
 *     is clean (ASan / TSan builds check the "clean"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/data/loader.h"

static dataset *data;

static int setup(void **state)
{
	(void)state;
	dataset_options o;
	dataset_options_init(&o);
	o.seed = 5;
	o.synthetic_train = 103;
	sc_error err = {0};
	return dataset_open("synthetic:3x12x10:7", DATASET_TRAIN, &o, &data, &err) ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	dataset_free(data);
	return 0;
}

static const float mean[3] = {0.5f, 0.45f, 0.4f}, stdv[3] = {0.25f, 0.2f, 0.22f};

static void base_options(loader_options *o, const aug_policy *aug)
{
	loader_options_init(o);
	o->batch = 10;
	o->views = 2;
	o->aug = aug;
	o->mean = mean;
	o->std = stdv;
	o->seed = 11;
}

/* All batches of one epoch from `start`, concatenated. */
typedef struct epoch_dump {
	float *x;
	int64_t *labels, *index, rows, batches, images[64];
} epoch_dump;

static void dump_free(epoch_dump *e)
{
	free(e->x);
	free(e->labels);
	free(e->index);
	memset(e, 0, sizeof *e);
}

static void run_epoch(loader *l, int64_t epoch, int64_t start, epoch_dump *e)
{
	sc_error err = {0};
	int64_t chw = data->c * data->h * data->w;
	memset(e, 0, sizeof *e);
	assert_int_equal(loader_start(l, epoch, start, &err), SC_OK);
	loader_batch *b;
	int rc;
	while ((rc = loader_next(l, &b, &err)) == 1) {
		int64_t rows = b->x.dims[0];
		assert_int_equal(b->x.rank, 4);
		assert_int_equal(b->x.dims[1], data->c);
		assert_int_equal(b->labels.dims[0], rows);
		assert_int_equal(b->index.dims[0], rows);
		assert_int_equal(b->x.numel, rows * chw);
		e->x = realloc(e->x, (size_t)((e->rows + rows) * chw) * sizeof *e->x);
		e->labels = realloc(e->labels, (size_t)(e->rows + rows) * sizeof *e->labels);
		e->index = realloc(e->index, (size_t)(e->rows + rows) * sizeof *e->index);
		memcpy(e->x + e->rows * chw, b->x.data, (size_t)(rows * chw) * sizeof *e->x);
		memcpy(e->labels + e->rows, b->labels.data, (size_t)rows * sizeof *e->labels);
		memcpy(e->index + e->rows, b->index.data, (size_t)rows * sizeof *e->index);
		e->images[e->batches++] = b->images;
		e->rows += rows;
	}
	assert_int_equal(rc, 0);
	/* and the end stays the end */
	assert_int_equal(loader_next(l, &b, &err), 0);
}

static void test_each_image_once(void **state)
{
	(void)state;
	aug_policy aug;
	assert_int_equal(aug_parse("simclr", &aug, NULL), SC_OK);
	for (int drop = 0; drop < 2; drop++) {
		loader_options o;
		base_options(&o, &aug);
		o.drop_last = drop;
		loader *l;
		sc_error err = {0};
		assert_int_equal(loader_create(data, NULL, 0, &o, &l, &err), SC_OK);
		assert_int_equal(loader_batches_per_epoch(l), drop ? 10 : 11);
		epoch_dump e0, e1;
		run_epoch(l, 0, 0, &e0);
		run_epoch(l, 1, 0, &e1);
		assert_int_equal(e0.batches, drop ? 10 : 11);
		for (int64_t k = 0; k < e0.batches; k++)
			assert_int_equal(e0.images[k], k == 10 ? 3 : 10);
		int seen[103] = {0};
		int64_t row = 0;
		for (int64_t k = 0; k < e0.batches; k++) {
			int64_t bsz = e0.images[k];
			for (int64_t i = 0; i < bsz; i++) {
				int64_t img = e0.index[row + i];
				seen[img]++;
				/* view 2 of image i is row B + i */
				assert_int_equal(e0.index[row + bsz + i], img);
				assert_int_equal(e0.labels[row + i], data->labels[img]);
				assert_int_equal(e0.labels[row + bsz + i], data->labels[img]);
			}
			row += 2 * bsz;
		}
		int missing = 0;
		for (int i = 0; i < 103; i++) {
			assert_true(seen[i] <= 1);
			missing += !seen[i];
		}
		assert_int_equal(missing, drop ? 3 : 0);
		/* shuffled, and differently in the next epoch */
		int in_order = 1;
		for (int64_t i = 1; i < 10; i++)
			in_order &= e0.index[i] > e0.index[i - 1];
		assert_false(in_order);
		assert_true(memcmp(e0.index, e1.index, 20 * sizeof *e0.index) != 0);
		dump_free(&e0);
		dump_free(&e1);
		loader_free(l);
	}
}

static void test_views_and_normalisation(void **state)
{
	(void)state;
	int64_t chw = data->c * data->h * data->w, plane = data->h * data->w;
	/* no augmentation, no shuffle, a subset: rows are the images */
	const int64_t idx[7] = {100, 3, 3, 50, 7, 0, 102};
	loader_options o;
	base_options(&o, NULL);
	o.shuffle = 0;
	o.batch = 4;
	loader *l;
	sc_error err = {0};
	assert_int_equal(loader_create(data, idx, 7, &o, &l, &err), SC_OK);
	epoch_dump e;
	run_epoch(l, 3, 0, &e);
	assert_int_equal(e.batches, 2);
	assert_int_equal(e.rows, 14);
	int64_t expect_index[14] = {100, 3, 3, 50, 100, 3, 3, 50, 7, 0, 102, 7, 0, 102};
	for (int64_t r = 0; r < 14; r++) {
		assert_int_equal(e.index[r], expect_index[r]);
		const uint8_t *px = data->pixels + expect_index[r] * chw;
		for (int64_t k = 0; k < chw; k++) {
			int64_t ch = k / plane;
			float want = ((float)px[k] / 255.0f - mean[ch]) / stdv[ch];
			assert_true(e.x[r * chw + k] == want);
		}
	}
	dump_free(&e);
	loader_free(l);

	/* with simclr the two views of an image differ */
	aug_policy aug;
	assert_int_equal(aug_parse("simclr", &aug, NULL), SC_OK);
	base_options(&o, &aug);
	assert_int_equal(loader_create(data, NULL, 0, &o, &l, &err), SC_OK);
	run_epoch(l, 0, 0, &e);
	int same = 0;
	for (int64_t i = 0; i < 10; i++)
		same += !memcmp(e.x + i * chw, e.x + (10 + i) * chw, (size_t)chw * sizeof *e.x);
	assert_int_equal(same, 0);
	dump_free(&e);
	loader_free(l);
}

static void test_workers_same_bytes(void **state)
{
	(void)state;
	aug_policy aug;
	assert_int_equal(aug_parse("randaugment", &aug, NULL), SC_OK);
	static const int cfg[][2] = {{0, 0}, {1, 1}, {2, 2}, {3, 5}, {2, 1}};
	epoch_dump ref[2];
	for (size_t c = 0; c < sizeof cfg / sizeof *cfg; c++) {
		loader_options o;
		base_options(&o, &aug);
		o.workers = cfg[c][0];
		o.prefetch = cfg[c][1];
		loader *l;
		sc_error err = {0};
		assert_int_equal(loader_create(data, NULL, 0, &o, &l, &err), SC_OK);
		for (int ep = 0; ep < 2; ep++) {
			epoch_dump e;
			run_epoch(l, ep + 4, 0, &e);
			if (c == 0) {
				ref[ep] = e;
				continue;
			}
			assert_int_equal(e.rows, ref[ep].rows);
			assert_memory_equal(e.index, ref[ep].index, (size_t)e.rows * sizeof *e.index);
			assert_memory_equal(e.x, ref[ep].x,
					    (size_t)(e.rows * data->c * data->h * data->w) * sizeof *e.x);
			dump_free(&e);
		}
		loader_free(l);
	}
	dump_free(&ref[0]);
	dump_free(&ref[1]);
}

static void test_resume(void **state)
{
	(void)state;
	aug_policy aug;
	assert_int_equal(aug_parse("simclr", &aug, NULL), SC_OK);
	int64_t chw = data->c * data->h * data->w;
	loader_options o;
	base_options(&o, &aug);
	o.workers = 2;
	loader *l;
	sc_error err = {0};
	assert_int_equal(loader_create(data, NULL, 0, &o, &l, &err), SC_OK);
	epoch_dump full, tail;
	run_epoch(l, 7, 0, &full);
	for (int64_t k = 0; k <= 11; k += 4) {
		run_epoch(l, 7, k, &tail);
		assert_int_equal(tail.batches, 11 - k);
		int64_t skip = 20 * k;  /* 2 views x 10 images per full batch */
		assert_int_equal(tail.rows, full.rows - skip);
		assert_memory_equal(tail.x, full.x + skip * chw,
				    (size_t)(tail.rows * chw) * sizeof *tail.x);
		assert_memory_equal(tail.index, full.index + skip,
				    (size_t)tail.rows * sizeof *tail.index);
		dump_free(&tail);
	}
	/* a fresh loader (a resumed process) agrees too */
	loader *l2;
	o.workers = 1;
	assert_int_equal(loader_create(data, NULL, 0, &o, &l2, &err), SC_OK);
	run_epoch(l2, 7, 5, &tail);
	assert_memory_equal(tail.x, full.x + 100 * chw, (size_t)(tail.rows * chw) * sizeof *tail.x);
	dump_free(&tail);
	dump_free(&full);
	loader_free(l2);
	loader_free(l);
}

static void test_restart_and_free_midway(void **state)
{
	(void)state;
	aug_policy aug;
	assert_int_equal(aug_parse("autoaugment", &aug, NULL), SC_OK);
	loader_options o;
	base_options(&o, &aug);
	o.workers = 3;
	o.prefetch = 4;
	o.batch = 3;
	sc_error err = {0};
	epoch_dump ref;
	loader *l;
	assert_int_equal(loader_create(data, NULL, 0, &o, &l, &err), SC_OK);
	run_epoch(l, 2, 0, &ref);
	for (int round = 0; round < 20; round++) {
		/* take a few batches, then jump elsewhere while workers run */
		loader_batch *b;
		assert_int_equal(loader_start(l, (int64_t)round % 3, (int64_t)round % 5, &err), SC_OK);
		for (int k = 0; k < round % 4; k++)
			assert_int_equal(loader_next(l, &b, &err), 1);
	}
	/* after all that, epoch 2 is still epoch 2 */
	epoch_dump again;
	run_epoch(l, 2, 0, &again);
	assert_int_equal(again.rows, ref.rows);
	assert_memory_equal(again.x, ref.x,
			    (size_t)(ref.rows * data->c * data->h * data->w) * sizeof *ref.x);
	dump_free(&again);
	dump_free(&ref);
	/* freed with batches in flight */
	loader_batch *b;
	assert_int_equal(loader_start(l, 9, 0, &err), SC_OK);
	assert_int_equal(loader_next(l, &b, &err), 1);
	loader_free(l);
	/* freed before ever starting, and next() without start() is epoch 0 */
	assert_int_equal(loader_create(data, NULL, 0, &o, &l, &err), SC_OK);
	loader_free(l);
	assert_int_equal(loader_create(data, NULL, 0, &o, &l, &err), SC_OK);
	assert_int_equal(loader_next(l, &b, &err), 1);
	assert_int_equal(b->images, 3);
	loader_free(l);
}

static void test_errors(void **state)
{
	(void)state;
	loader_options o;
	loader *l = NULL;
	sc_error err = {0};
	base_options(&o, NULL);
	o.batch = 0;
	assert_int_equal(loader_create(data, NULL, 0, &o, &l, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "--batch"));
	base_options(&o, NULL);
	o.views = 3;
	assert_int_equal(loader_create(data, NULL, 0, &o, &l, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "views"));
	base_options(&o, NULL);
	const int64_t bad[2] = {0, 103};
	assert_int_equal(loader_create(data, bad, 2, &o, &l, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "index 103"));
	assert_int_equal(loader_create(data, bad, 0, &o, &l, &err), SC_EINVAL);
	const float zero_std[3] = {1, 0, 1};
	o.std = zero_std;
	assert_int_equal(loader_create(data, NULL, 0, &o, &l, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "std of channel 1"));
	assert_null(l);
	base_options(&o, NULL);
	assert_int_equal(loader_create(data, NULL, 0, &o, &l, &err), SC_OK);
	assert_int_equal(loader_start(l, 0, 12, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "start batch 12"));
	assert_int_equal(loader_start(l, -1, 0, &err), SC_EINVAL);
	/* starting at the end is an empty epoch */
	loader_batch *b;
	assert_int_equal(loader_start(l, 0, 11, &err), SC_OK);
	assert_int_equal(loader_next(l, &b, &err), 0);
	loader_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_image_once),
		cmocka_unit_test(test_views_and_normalisation),
		cmocka_unit_test(test_workers_same_bytes),
		cmocka_unit_test(test_resume),
		cmocka_unit_test(test_restart_and_free_midway),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
