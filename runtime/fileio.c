/* fileio.c: atomic writes, whole-file reads, and the registry of input
 * files that atomic writes refuse to replace; see fileio.h. */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- the input registry: an open-addressing set of (st_dev, st_ino) ------ */

typedef struct input_file {
	dev_t dev;
	ino_t ino;
	char *path;            /* as first registered, for messages; NULL = empty slot */
} input_file;

static pthread_mutex_t inputs_lock = PTHREAD_MUTEX_INITIALIZER;
static input_file *inputs;
static size_t inputs_cap, inputs_n;

static size_t input_slot(const input_file *set, size_t cap, dev_t dev, ino_t ino)
{
	uint64_t h = ((uint64_t)dev * 0x9e3779b97f4a7c15u) ^ (uint64_t)ino;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9u;
	h ^= h >> 32;
	size_t i = (size_t)h & (cap - 1);
	while (set[i].path && !(set[i].dev == dev && set[i].ino == ino))
		i = (i + 1) & (cap - 1);
	return i;
}

/* Grows the table to keep it at most half full; call with the lock held. */
static int inputs_reserve(void)
{
	if (2 * (inputs_n + 1) <= inputs_cap)
		return 0;
	size_t cap = inputs_cap ? 2 * inputs_cap : 64;
	input_file *set = calloc(cap, sizeof *set);
	if (!set)
		return -1;
	for (size_t i = 0; i < inputs_cap; i++)
		if (inputs[i].path)
			set[input_slot(set, cap, inputs[i].dev, inputs[i].ino)] = inputs[i];
	free(inputs);
	inputs = set;
	inputs_cap = cap;
	return 0;
}

int sc_input_register(const char *path, sc_error *err)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return SC_OK;
	int rc = SC_OK;
	pthread_mutex_lock(&inputs_lock);
	if (inputs_reserve() != 0) {
		rc = sc_fail(err, SC_ENOMEM, "%s: out of memory recording it as an input",
			     path);
	} else {
		size_t i = input_slot(inputs, inputs_cap, st.st_dev, st.st_ino);
		if (!inputs[i].path) {
			char *copy = strdup(path);
			if (!copy) {
				rc = sc_fail(err, SC_ENOMEM,
					     "%s: out of memory recording it as an input", path);
			} else {
				inputs[i].dev = st.st_dev;
				inputs[i].ino = st.st_ino;
				inputs[i].path = copy;
				inputs_n++;
			}
		}
	}
	pthread_mutex_unlock(&inputs_lock);
	return rc;
}

int sc_input_check(const char *path, sc_error *err)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return SC_OK;
	int rc = SC_OK;
	pthread_mutex_lock(&inputs_lock);
	if (inputs_cap) {
		size_t i = input_slot(inputs, inputs_cap, st.st_dev, st.st_ino);
		if (inputs[i].path) {
			if (strcmp(inputs[i].path, path) == 0)
				rc = sc_fail(err, SC_EINVAL, "%s: is an input of this "
					     "command; refusing to overwrite it", path);
			else
				rc = sc_fail(err, SC_EINVAL, "%s: is the same file as "
					     "the input %s; refusing to overwrite it",
					     path, inputs[i].path);
		}
	}
	pthread_mutex_unlock(&inputs_lock);
	return rc;
}

void sc_input_forget_all(void)
{
	pthread_mutex_lock(&inputs_lock);
	for (size_t i = 0; i < inputs_cap; i++)
		free(inputs[i].path);
	free(inputs);
	inputs = NULL;
	inputs_cap = inputs_n = 0;
	pthread_mutex_unlock(&inputs_lock);
}

/* --- atomic writes ------------------------------------------------------- */

/* After a rename the new name lives in the folder's metadata: fsync the
 * folder too, or a crash can bring back the old file. */
static void sync_parent_dir(const char *path)
{
	char *copy = strdup(path);
	if (!copy)
		return;
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(copy);
	if (fd < 0)
		return;
	fsync(fd);   /* best effort: the file itself is already durable */
	close(fd);
}

int sc_atomic_open(sc_atomic_file *a, const char *path, sc_error *err)
{
	/* pid and counter make the name unique among writers; O_EXCL makes
	 * sure of it. */
	static atomic_uint counter;
	memset(a, 0, sizeof *a);
	int rc = sc_input_check(path, err);
	if (rc)
		return rc;
	size_t tmp_len = strlen(path) + 64;
	a->tmp = malloc(tmp_len);
	a->path = strdup(path);
	if (!a->tmp || !a->path) {
		sc_atomic_abort(a);
		return sc_fail(err, SC_ENOMEM, "%s: out of memory", path);
	}
	for (int attempt = 0; attempt < 100; attempt++) {
		snprintf(a->tmp, tmp_len, "%s.tmp-%ld-%u", path, (long)getpid(),
			 atomic_fetch_add(&counter, 1u));
		int fd = open(a->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd < 0) {
			if (errno == EEXIST)
				continue;
			int e = errno;
			free(a->tmp);
			a->tmp = NULL;
			sc_atomic_abort(a);
			return sc_fail(err, SC_EIO, "%s: cannot create a temporary "
				       "file next to it: %s", path, strerror(e));
		}
		a->f = fdopen(fd, "wb");
		if (!a->f) {
			int e = errno;
			close(fd);
			sc_atomic_abort(a);
			return sc_fail(err, SC_EIO, "%s: cannot open a temporary file: %s",
				       path, strerror(e));
		}
		return SC_OK;
	}
	free(a->tmp);
	a->tmp = NULL;
	sc_atomic_abort(a);
	return sc_fail(err, SC_EIO, "%s: no free temporary name", path);
}

void sc_atomic_abort(sc_atomic_file *a)
{
	if (a->f)
		fclose(a->f);
	if (a->tmp)
		unlink(a->tmp);
	free(a->tmp);
	free(a->path);
	memset(a, 0, sizeof *a);
}

int sc_atomic_commit(sc_atomic_file *a, sc_error *err)
{
	const char *step = "write";
	int e = a->error;
	if (!e && ferror(a->f))
		e = EIO;
	if (!e && fflush(a->f) != 0)
		e = errno ? errno : EIO;
	if (!e && fsync(fileno(a->f)) != 0 && errno != EINVAL && errno != EROFS)
		e = errno;
	if (fclose(a->f) != 0 && !e)
		e = errno ? errno : EIO;
	a->f = NULL;
	/* again: the target may have become an input, or a link to one,
	 * while the file was being written */
	int rc = e ? SC_OK : sc_input_check(a->path, err);
	if (rc) {
		sc_atomic_abort(a);
		return rc;
	}
	if (!e && rename(a->tmp, a->path) != 0) {
		e = errno;
		step = "rename";
	}
	if (e) {
		rc = sc_fail(err, SC_EIO, "%s: cannot %s: %s", a->path, step,
			     strerror(e));
	} else {
		sync_parent_dir(a->path);
		free(a->tmp);
		a->tmp = NULL;
	}
	sc_atomic_abort(a);
	return rc;
}

int sc_write_file_atomic(const char *path, const void *buf, size_t len,
			 sc_error *err)
{
	sc_atomic_file a;
	int rc = sc_atomic_open(&a, path, err);
	if (rc)
		return rc;
	if (len && fwrite(buf, 1, len, a.f) != len)
		a.error = errno ? errno : EIO;
	return sc_atomic_commit(&a, err);
}

int sc_read_file(const char *path, size_t max_len, char **buf, size_t *len,
		 sc_error *err)
{
	*buf = NULL;
	*len = 0;
	FILE *f = fopen(path, "rb");
	if (!f)
		return sc_fail(err, errno == ENOENT ? SC_EINVAL : SC_EIO,
			       "%s: cannot open: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		fclose(f);
		return sc_fail(err, SC_EINVAL, "%s: not a regular file", path);
	}
	if ((unsigned long long)st.st_size > max_len) {
		fclose(f);
		return sc_fail(err, SC_EINVAL, "%s: %lld bytes, more than the %zu "
			       "allowed", path, (long long)st.st_size, max_len);
	}
	size_t n = (size_t)st.st_size;
	char *b = malloc(n + 1);
	if (!b) {
		fclose(f);
		return sc_fail(err, SC_ENOMEM, "%s: out of memory", path);
	}
	size_t got = n ? fread(b, 1, n, f) : 0;
	int bad = got != n || ferror(f);
	fclose(f);
	if (bad) {
		free(b);
		return sc_fail(err, SC_EIO, "%s: short read", path);
	}
	b[n] = 0;
	*buf = b;
	*len = n;
	return SC_OK;
}
