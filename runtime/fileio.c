/* fileio.c: atomic writes, whole-file reads, the registry of input
 * files that atomic writes refuse to replace, output folders and JSON
 * strings; see fileio.h. */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
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

/* --- paths, folders and text (moved from the CLI for the job API) -------- */

int sc_check_input_file(const char *path, const char *what, sc_error *err)
{
	struct stat st;
	if (!path || !*path)
		return sc_fail(err, SC_EINVAL, "empty %s path", what);
	if (stat(path, &st) != 0)
		return sc_fail(err, SC_EINVAL, "%s: cannot open %s: %s", path,
			       what, strerror(errno));
	if (S_ISDIR(st.st_mode))
		return sc_fail(err, SC_EINVAL, "%s: %s is a directory, not a file",
			       path, what);
	if (access(path, R_OK) != 0)
		return sc_fail(err, SC_EINVAL, "%s: cannot read %s: %s", path,
			       what, strerror(errno));
	return SC_OK;
}

/* mkdir of one path component; an existing folder is fine. */
static int make_one_dir(const char *path, const char *flag, const char *dir,
			sc_error *err)
{
	if (mkdir(path, 0777) == 0)
		return SC_OK;
	int e = errno;
	struct stat st;
	if (e == EEXIST && stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return SC_OK;
		return sc_fail(err, SC_EINVAL,
			       "%s %s: cannot create the folder: %s is a file",
			       flag, dir, path);
	}
	return sc_fail(err, SC_EINVAL, "%s %s: cannot create the folder %s: %s",
		       flag, dir, path, strerror(e));
}

int sc_make_output_dir(const char *dir, const char *flag, sc_error *err)
{
	if (!dir || !*dir)
		return sc_fail(err, SC_EINVAL, "%s: empty folder name", flag);
	size_t len = strlen(dir);
	if (len >= PATH_MAX)
		return sc_fail(err, SC_EINVAL, "%s: folder name longer than %d bytes",
			       flag, PATH_MAX - 1);
	char path[PATH_MAX];
	memcpy(path, dir, len + 1);
	/* every prefix ending before a '/', then the whole path */
	for (size_t i = 1; i <= len; i++) {
		if (i < len && path[i] != '/')
			continue;
		if (i < len && path[i - 1] == '/')
			continue;     /* "a//b" */
		char saved = path[i];
		path[i] = '\0';
		int rc = make_one_dir(path, flag, dir, err);
		path[i] = saved;
		if (rc != SC_OK)
			return rc;
	}
	/* As root, access() says yes to read-only folders; only creating a
	 * file answers for every case (permissions, read-only mounts). */
	char probe[PATH_MAX + 32];
	int n = snprintf(probe, sizeof probe, "%s/.supcon-probe-XXXXXX", dir);
	if (n < 0 || (size_t)n >= sizeof probe)
		return sc_fail(err, SC_EINVAL, "%s %s: folder name too long", flag, dir);
	int fd = mkstemp(probe);
	if (fd < 0)
		return sc_fail(err, SC_EINVAL, "%s %s: cannot write in the folder: %s",
			       flag, dir, strerror(errno));
	close(fd);
	unlink(probe);
	return SC_OK;
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if it is not one. */
static int utf8_len(const unsigned char *s)
{
	if (s[0] < 0x80)
		return 1;
	int n;
	uint32_t cp;
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	for (int i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates and values past U+10FFFF are not UTF-8 */
	static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
	if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

void sc_json_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	fputc('"', f);
	while (*p) {
		unsigned char c = *p;
		switch (c) {
		case '"': fputs("\\\"", f); p++; continue;
		case '\\': fputs("\\\\", f); p++; continue;
		case '\b': fputs("\\b", f); p++; continue;
		case '\f': fputs("\\f", f); p++; continue;
		case '\n': fputs("\\n", f); p++; continue;
		case '\r': fputs("\\r", f); p++; continue;
		case '\t': fputs("\\t", f); p++; continue;
		default: break;
		}
		if (c < 0x20 || c == 0x7f) {
			fprintf(f, "\\u%04x", c);
			p++;
			continue;
		}
		int n = utf8_len(p);
		if (n == 0) {
			fputs("\\ufffd", f);
			p++;
			continue;
		}
		fwrite(p, 1, (size_t)n, f);
		p += n;
	}
	fputc('"', f);
}

/* Sizes in binary units, for --max-memory. */
int sc_parse_bytes(const char *flag, const char *text, size_t *out,
		   sc_error *err)
{
	char *end = NULL;
	double v = text && *text ? strtod(text, &end) : -1;
	double unit = 1;
	if (end && *end) {
		switch (*end == 'k' ? 'K' : *end) {
		case 'K': unit = 1024.0; break;
		case 'M': unit = 1024.0 * 1024.0; break;
		case 'G': unit = 1024.0 * 1024.0 * 1024.0; break;
		case 'T': unit = 1024.0 * 1024.0 * 1024.0 * 1024.0; break;
		default: unit = 0; break;
		}
		end++;
		if (*end == 'i' && end[1] == 'B')
			end += 2;
		else if (*end == 'B')
			end++;
	}
	if (!end || *end || unit == 0 || !(v > 0) || v * unit >= 9.2e18)
		return sc_fail(err, SC_EINVAL, "%s '%s': expected a size such as "
			       "1048576, 512M or 1.5G (binary units)", flag,
			       text ? text : "");
	*out = (size_t)(v * unit);
	return SC_OK;
}
