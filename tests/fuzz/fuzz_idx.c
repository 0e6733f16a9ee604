/* fuzz_idx.c: libFuzzer harness for the IDX reader (Fashion-MNIST, MNIST).
 *
 * Input layout: one mode byte, then an IDX file.  Bit 0 of the mode says
 * whether the harness gzips the file before handing it over, so the
 * mutator works on the IDX bytes while the reader still goes through its
 * gzip path (mutating compressed bytes mostly breaks the deflate stream);
 * a mutated .gz as a user would have it is covered by bit 1, which writes
 * the rest verbatim even when it is gzip data.  The reader is asked for
 * the rank the header declares (1 to 4), as data_idx_open asks for 1
 * (labels) and 3 (images).
 *
 * A file that reads must hold exactly the bytes its header declares: the
 * harness reads them all (ASan sees a short buffer) and checks the dims. */
#include <stdint.h>
#include <stdlib.h>
#include <zlib.h>

#include "fuzz_util.h"
#include "runtime/data/dataset.h"
#include "runtime/data/readers.h"

static const char *write_gzip(const uint8_t *data, size_t size)
{
	const char *path = fuzz_path("input.idx.gz");
	gzFile f = gzopen(path, "wb1");
	if (!f)
		fuzz_fail("gzopen %s for writing failed", path);
	if (size && gzwrite(f, data, (unsigned)size) != (int)size)
		fuzz_fail("gzwrite %s failed", path);
	if (gzclose(f) != Z_OK)
		fuzz_fail("gzclose %s failed", path);
	return path;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	data++;
	size--;
	const char *path = (mode & 1) && !(mode & 2) ? write_gzip(data, size) :
			   fuzz_write_file("input.idx", data, size);
	int ndims = size >= 4 && data[3] >= 1 && data[3] <= 4 ? data[3] : 1;
	int64_t dims[4] = {0};
	uint8_t *bytes = NULL;
	sc_error err = {0};
	int rc = data_idx_read(path, ndims, dims, &bytes, &err);
	if (rc) {
		fuzz_check_error(rc, &err, "data_idx_read");
		if (bytes)
			fuzz_fail("data_idx_read failed but returned data");
		return 0;
	}
	int64_t total = 1;
	for (int i = 0; i < ndims; i++) {
		if (dims[i] <= 0 || dims[i] > DATASET_MAX_BYTES / total)
			fuzz_fail("dim %d = %lld accepted", i, (long long)dims[i]);
		total *= dims[i];
	}
	volatile uint8_t sum = 0;
	for (int64_t i = 0; i < total; i++)
		sum ^= bytes[i];
	(void)sum;
	free(bytes);
	return 0;
}
