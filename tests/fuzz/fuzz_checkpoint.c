/* fuzz_checkpoint.c: libFuzzer harness for the checkpoint reader
 * (runtime/checkpoint.c).
 *
 * Input layout: one mode byte, then a checkpoint file.  A checkpoint ends
 * with a CRC-32 and "END!", and the reader checks both before parsing, so
 * mutated files would almost never get past the checksum.  When bit 0 of
 * the mode is set the harness therefore appends a correct CRC and trailer
 * to the bytes, so that the parser behind the checksum is fuzzed too (a
 * corrupt file with a valid CRC is what a bug in a writer, or a hostile
 * file, gives); otherwise the bytes go to the reader as they are.
 *
 * A checkpoint that reads must write back to exactly the same bytes: the
 * format has one encoding, and the reader refuses trailing bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fuzz_util.h"
#include "runtime/checkpoint.h"

static uint8_t *with_trailer(const uint8_t *data, size_t size, size_t *len)
{
	uint8_t *buf = malloc(size + 8);
	if (!buf)
		fuzz_fail("out of memory");
	if (size)
		memcpy(buf, data, size);
	uint32_t crc = (uint32_t)crc32(crc32(0, NULL, 0), data, (uInt)size);
	for (int i = 0; i < 4; i++)
		buf[size + i] = (uint8_t)(crc >> (8 * i));
	memcpy(buf + size + 4, "END!", 4);
	*len = size + 8;
	return buf;
}

static void check_rewrite(const ckpt *c, const uint8_t *file, size_t len)
{
	const char **names = calloc((size_t)c->n + 1, sizeof *names);
	const sc_tensor **ts = calloc((size_t)c->n + 1, sizeof *ts);
	if (!names || !ts)
		fuzz_fail("out of memory");
	for (int i = 0; i < c->n; i++) {
		names[i] = c->e[i].name;
		ts[i] = &c->e[i].t;
	}
	sc_error err = {0};
	const char *out = fuzz_path("rewritten.ckpt");
	if (ckpt_write(out, c->meta, c->n, names, ts, &err))
		fuzz_fail("a checkpoint that reads cannot be written back: %s", err.msg);
	size_t back_len;
	uint8_t *back = fuzz_read_file(out, &back_len);
	if (back_len != len || memcmp(back, file, len) != 0)
		fuzz_fail("read then written, a %zu-byte checkpoint became %zu bytes "
			  "or changed", len, back_len);
	free(back);
	free(names);
	free(ts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	data++;
	size--;
	size_t len = size;
	uint8_t *fixed = NULL;
	const uint8_t *file = data;
	if (mode & 1)
		file = fixed = with_trailer(data, size, &len);
	const char *path = fuzz_write_file("input.ckpt", file, len);
	sc_error err = {0};
	ckpt *c = NULL;
	int rc = ckpt_read(path, &c, &err);
	if (rc) {
		fuzz_check_error(rc, &err, "ckpt_read");
		if (c)
			fuzz_fail("ckpt_read failed but returned a checkpoint");
		if (!strstr(err.msg, "input.ckpt"))
			fuzz_fail("the message does not name the checkpoint: '%s'", err.msg);
	} else {
		check_rewrite(c, file, len);
		ckpt_free(c);
	}
	free(fixed);
	return 0;
}
