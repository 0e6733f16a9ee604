/* fileio.c: atomic writes, whole-file reads, mkdir -p; see fileio.h. */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int sc_atomic_open(sc_atomic_file *a, const char *path, sc_error *err)
{
	/* pid and counter make the name unique among writers; O_EXCL makes
	 * sure of it. */
	static atomic_uint counter;
	memset(a, 0, sizeof *a);
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
	if (!e && rename(a->tmp, a->path) != 0) {
		e = errno;
		step = "rename";
	}
	int rc = SC_OK;
	if (e) {
		rc = sc_fail(err, SC_EIO, "%s: cannot %s: %s", a->path, step,
			     strerror(e));
	} else {
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
