/* checkpoint.c: see checkpoint.h. */
#include "checkpoint.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fileio.h"

#define CKPT_MAGIC "SCCKPT01"
#define CKPT_TRAILER "END!"
/* Larger than any model this runtime trains; refuses absurd files before
 * reading them. */
#define CKPT_MAX_BYTES ((size_t)1 << 36)

/* zlib's crc32 takes uInt lengths: feed it in pieces. */
static uint32_t checksum(const unsigned char *p, size_t n)
{
	uLong crc = crc32(0, NULL, 0);
	for (size_t off = 0; off < n;) {
		size_t k = n - off > (1u << 30) ? (1u << 30) : n - off;
		crc = crc32(crc, p + off, (uInt)k);
		off += k;
	}
	return (uint32_t)crc;
}

typedef struct wbuf {
	unsigned char *p;
	size_t len, cap;
	int oom;
} wbuf;

static void put(wbuf *b, const void *data, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		unsigned char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
}

static void put_u32(wbuf *b, uint32_t v)
{
	unsigned char x[4] = {v, v >> 8, v >> 16, v >> 24};
	put(b, x, 4);
}

static void put_u64(wbuf *b, uint64_t v)
{
	put_u32(b, (uint32_t)v);
	put_u32(b, (uint32_t)(v >> 32));
}

int ckpt_write(const char *path, const char *meta, int n,
	       const char *const *names, const sc_tensor *const *t,
	       sc_error *err)
{
	wbuf b = {0};
	size_t meta_len = meta ? strlen(meta) : 0;
	put(&b, CKPT_MAGIC, 8);
	put_u64(&b, meta_len);
	put(&b, meta, meta_len);
	put_u32(&b, (uint32_t)n);
	for (int i = 0; i < n; i++) {
		if (t[i]->dtype == SC_STRING) {
			free(b.p);
			return sc_fail(err, SC_EINVAL, "%s: string tensor '%s' cannot "
				       "go into a checkpoint", path, names[i]);
		}
		size_t len = strlen(names[i]);
		put_u32(&b, (uint32_t)len);
		put(&b, names[i], len);
		put_u32(&b, (uint32_t)t[i]->dtype);
		put_u32(&b, (uint32_t)t[i]->rank);
		for (int d = 0; d < t[i]->rank; d++)
			put_u64(&b, (uint64_t)t[i]->dims[d]);
		put_u64(&b, t[i]->nbytes);
		put(&b, t[i]->data, t[i]->nbytes);
	}
	if (b.oom) {
		free(b.p);
		return sc_fail(err, SC_ENOMEM, "%s: out of memory", path);
	}
	put_u32(&b, checksum(b.p, b.len));
	put(&b, CKPT_TRAILER, 4);
	int rc = b.oom ? sc_fail(err, SC_ENOMEM, "%s: out of memory", path) :
		 sc_write_file_atomic(path, b.p, b.len, err);
	free(b.p);
	return rc;
}

typedef struct rbuf {
	const unsigned char *p;
	size_t left;
} rbuf;

static int get(rbuf *r, void *dst, size_t n)
{
	if (n > r->left)
		return -1;
	if (dst)
		memcpy(dst, r->p, n);
	r->p += n;
	r->left -= n;
	return 0;
}

static int get_u32(rbuf *r, uint32_t *v)
{
	unsigned char x[4];
	if (get(r, x, 4))
		return -1;
	*v = x[0] | (uint32_t)x[1] << 8 | (uint32_t)x[2] << 16 | (uint32_t)x[3] << 24;
	return 0;
}

static int get_u64(rbuf *r, uint64_t *v)
{
	uint32_t lo, hi;
	if (get_u32(r, &lo) || get_u32(r, &hi))
		return -1;
	*v = lo | (uint64_t)hi << 32;
	return 0;
}

void ckpt_free(ckpt *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->n; i++) {
		free(c->e[i].name);
		tensor_free(&c->e[i].t);
	}
	free(c->e);
	free(c->meta);
	free(c);
}

static int corrupt(const char *path, const char *why, sc_error *err)
{
	return sc_fail(err, SC_EINVAL, "%s: corrupted checkpoint (%s); refusing "
		       "to load it", path, why);
}

static int read_entry(rbuf *r, ckpt_entry *e, const char *path, sc_error *err)
{
	uint32_t len, dtype, rank;
	if (get_u32(r, &len) || len > r->left || len > 4096)
		return corrupt(path, "bad name length", err);
	/* a NUL inside would cut the name short and alias another entry */
	if (memchr(r->p, 0, len))
		return corrupt(path, "NUL byte in a tensor name", err);
	if (!(e->name = malloc(len + 1)))
		return sc_fail(err, SC_ENOMEM, "%s: out of memory", path);
	get(r, e->name, len);
	e->name[len] = 0;
	if (get_u32(r, &dtype) || get_u32(r, &rank))
		return corrupt(path, "truncated entry", err);
	if (!tensor_dtype_valid((int)dtype) || dtype == SC_STRING ||
	    rank > SC_MAX_RANK)
		return corrupt(path, "bad dtype or rank", err);
	int64_t dims[SC_MAX_RANK];
	for (uint32_t d = 0; d < rank; d++) {
		uint64_t v;
		if (get_u64(r, &v) || v > (uint64_t)SC_MAX_NUMEL)
			return corrupt(path, "bad dims", err);
		dims[d] = (int64_t)v;
	}
	uint64_t nbytes;
	if (get_u64(r, &nbytes))
		return corrupt(path, "truncated entry", err);
	int64_t numel;
	if (tensor_numel_checked((int)rank, dims, &numel, "entry", NULL) ||
	    (uint64_t)numel * tensor_dtype_size((int)dtype) != nbytes ||
	    nbytes > r->left)
		return corrupt(path, "tensor size does not match its data", err);
	int rc = tensor_alloc(&e->t, (int)dtype, (int)rank, dims, e->name, err);
	if (rc)
		return rc;
	get(r, e->t.data, nbytes);
	return SC_OK;
}

int ckpt_read(const char *path, ckpt **out, sc_error *err)
{
	*out = NULL;
	char *buf;
	size_t len;
	int rc = sc_read_file(path, CKPT_MAX_BYTES, &buf, &len, err);
	if (rc)
		return rc;
	const unsigned char *p = (const unsigned char *)buf;
	if (len < 8 + 8 + 4 + 8 || memcmp(p, CKPT_MAGIC, 8) != 0) {
		free(buf);
		return corrupt(path, len < 8 ? "truncated" : "not a supcon checkpoint",
			       err);
	}
	if (memcmp(p + len - 4, CKPT_TRAILER, 4) != 0) {
		free(buf);
		return corrupt(path, "truncated: no end marker", err);
	}
	size_t body = len - 8;
	uint32_t want = p[body] | (uint32_t)p[body + 1] << 8 |
			(uint32_t)p[body + 2] << 16 | (uint32_t)p[body + 3] << 24;
	if (checksum(p, body) != want) {
		free(buf);
		return corrupt(path, "checksum mismatch", err);
	}
	rbuf r = {p + 8, body - 8};
	ckpt *c = calloc(1, sizeof *c);
	uint64_t meta_len;
	uint32_t n;
	if (!c) {
		free(buf);
		return sc_fail(err, SC_ENOMEM, "%s: out of memory", path);
	}
	if (get_u64(&r, &meta_len) || meta_len > r.left) {
		rc = corrupt(path, "bad metadata length", err);
		goto fail;
	}
	/* the metadata is text handed on as a C string */
	if (memchr(r.p, 0, meta_len)) {
		rc = corrupt(path, "NUL byte in the metadata", err);
		goto fail;
	}
	if (!(c->meta = malloc(meta_len + 1))) {
		rc = sc_fail(err, SC_ENOMEM, "%s: out of memory", path);
		goto fail;
	}
	get(&r, c->meta, meta_len);
	c->meta[meta_len] = 0;
	/* each entry takes at least 20 bytes */
	if (get_u32(&r, &n) || n > r.left / 20) {
		rc = corrupt(path, "bad entry count", err);
		goto fail;
	}
	if (n && !(c->e = calloc(n, sizeof *c->e))) {
		rc = sc_fail(err, SC_ENOMEM, "%s: out of memory", path);
		goto fail;
	}
	for (uint32_t i = 0; i < n; i++) {
		c->n = (int)i + 1;
		if ((rc = read_entry(&r, &c->e[i], path, err)))
			goto fail;
	}
	if (r.left != 0) {
		rc = corrupt(path, "trailing bytes", err);
		goto fail;
	}
	free(buf);
	*out = c;
	return SC_OK;
fail:
	free(buf);
	ckpt_free(c);
	return rc;
}

const sc_tensor *ckpt_find(const ckpt *c, const char *name)
{
	for (int i = 0; i < c->n; i++)
		if (strcmp(c->e[i].name, name) == 0)
			return &c->e[i].t;
	return NULL;
}
