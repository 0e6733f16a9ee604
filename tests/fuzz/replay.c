/* replay.c: main() for the fuzz harnesses outside libFuzzer.
 *
 * `replay_HARNESS FILE_OR_DIR ...` calls the harness's
 * LLVMFuzzerTestOneInput() once for every file named, and for every file
 * in every folder named (not recursively, in name order, skipping hidden
 * files and README*), so the Release and ASan builds run each crasher that
 * fuzzing ever found, and the seeds, through the same code libFuzzer ran.
 * A harness that finds a bug aborts, which fails the test.  Exits 1 when
 * an argument cannot be read or nothing at all was replayed, so that a
 * moved folder does not turn the test into one that cannot fail. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_util.h"

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	size_t cap = 1 << 16, len = 0;
	uint8_t *buf = malloc(cap);
	for (;;) {
		if (!buf) {
			fprintf(stderr, "replay: %s: out of memory\n", path);
			fclose(f);
			return -1;
		}
		len += fread(buf + len, 1, cap - len, f);
		if (len < cap)
			break;
		cap *= 2;
		buf = realloc(buf, cap);
	}
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		fprintf(stderr, "replay: %s: read error\n", path);
		free(buf);
		return -1;
	}
	/* libFuzzer hands the harness a buffer of exactly the input's size:
	 * copy to one, so ASan catches a read past the end here too */
	uint8_t *exact = malloc(len ? len : 1);
	if (!exact) {
		free(buf);
		return -1;
	}
	memcpy(exact, buf, len);
	free(buf);
	fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int skipped_name(const char *name)
{
	return name[0] == '.' || strncmp(name, "README", 6) == 0;
}

/* Replays the regular files of dir; returns how many, or -1. */
static long replay_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (skipped_name(e->d_name))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			char **grown = realloc(names, cap * sizeof *names);
			if (!grown)
				break;
			names = grown;
		}
		if (!(names[n] = strdup(e->d_name)))
			break;
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof *names, by_name);
	long done = 0;
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		struct stat st;
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			if (replay_file(path))
				done = -1;
			else if (done >= 0)
				done++;
		}
		free(names[i]);
	}
	free(names);
	return done;
}

int main(int argc, char **argv)
{
	long total = 0;
	int status = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			status = 1;
			continue;
		}
		long n = S_ISDIR(st.st_mode) ? replay_dir(argv[i]) :
			 replay_file(argv[i]) == 0 ? 1 : -1;
		if (n < 0)
			status = 1;
		else
			total += n;
	}
	if (total == 0) {
		fprintf(stderr, "replay: no input replayed\n");
		status = 1;
	}
	if (status == 0)
		printf("replay: %ld inputs, no failure\n", total);
	return status;
}
