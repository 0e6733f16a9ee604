/* fuzz_util.h: helpers shared by the libFuzzer harnesses in tests/fuzz/.
 *
 * Each harness defines LLVMFuzzerTestOneInput().  In the fuzz build
 * (-DSUPCON_FUZZ=ON, clang) libFuzzer supplies main(); in the normal builds
 * tests/fuzz/replay.c does, and replays the committed regression inputs
 * through the same function.  A harness reports a bug by calling
 * fuzz_fail(), which aborts: under libFuzzer that is a crash with the
 * input saved, under replay it fails the CTest test.
 *
 * Readers that take a path (PNG, IDX, checkpoint) are fed through one
 * scratch file per process in a private folder, rewritten for every input:
 * the harness then exercises exactly the code a user's file reaches. */
#ifndef SUPCON_FUZZ_UTIL_H
#define SUPCON_FUZZ_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/status.h"

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A harness found a bug: say what, and crash so the input is kept. */
__attribute__((noreturn, format(printf, 1, 2)))
static void fuzz_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "fuzz: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	abort();
}

/* What every failure must look like: a known code and a non-empty
 * message on one line.  SC_EINTERNAL means the code
 * under test called a hostile input a bug of its own, SC_EIO that the
 * operating system refused (the scratch file is always readable): neither
 * may come from the bytes alone. */
static void fuzz_check_error(int rc, const sc_error *err, const char *where)
{
	if (rc != SC_EINVAL && rc != SC_EUNSUPPORTED && rc != SC_ENOMEM)
		fuzz_fail("%s returned %s (%d): '%s'", where, sc_code_name(rc),
			  rc, err->msg);
	if (!err->msg[0])
		fuzz_fail("%s failed (%s) with an empty message", where,
			  sc_code_name(rc));
	if (strchr(err->msg, '\n'))
		fuzz_fail("%s: message is not one line: '%s'", where, err->msg);
}

static char fuzz_dir_path[256];

/* Removes the scratch folder at exit (a crash leaves it for inspection). */
static void fuzz_dir_remove(void)
{
	DIR *d = opendir(fuzz_dir_path);
	if (!d)
		return;
	struct dirent *e;
	char path[600];
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", fuzz_dir_path, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(fuzz_dir_path);
}

/* The per-process scratch folder, made on first use. */
static const char *fuzz_dir(void)
{
	if (fuzz_dir_path[0])
		return fuzz_dir_path;
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "%s/supcon-fuzz-XXXXXX", base);
	if (!mkdtemp(fuzz_dir_path))
		fuzz_fail("mkdtemp %s: %s", fuzz_dir_path, strerror(errno));
	atexit(fuzz_dir_remove);
	return fuzz_dir_path;
}

/* dir/name as a path (static storage per name slot). */
static const char *fuzz_path(const char *name)
{
	static char paths[4][512];
	static int next;
	char *p = paths[next++ & 3];
	snprintf(p, sizeof paths[0], "%s/%s", fuzz_dir(), name);
	return p;
}

/* Replaces the file `name` in the scratch folder with data; returns its
 * path. */
static const char *fuzz_write_file(const char *name, const void *data,
				   size_t size)
{
	const char *path = fuzz_path(name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		fuzz_fail("open %s: %s", path, strerror(errno));
	const char *p = data;
	size_t left = size;
	while (left) {
		ssize_t n = write(fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fuzz_fail("write %s: %s", path, strerror(errno));
		p += n;
		left -= (size_t)n;
	}
	close(fd);
	return path;
}

/* Reads a whole file (for comparing what a writer produced). */
static uint8_t *fuzz_read_file(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fuzz_fail("open %s: %s", path, strerror(errno));
	size_t cap = 4096, len = 0;
	uint8_t *buf = malloc(cap);
	for (;;) {
		if (!buf)
			fuzz_fail("out of memory reading %s", path);
		len += fread(buf + len, 1, cap - len, f);
		if (len < cap)
			break;
		cap *= 2;
		buf = realloc(buf, cap);
	}
	fclose(f);
	*size = len;
	return buf;
}

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#endif
