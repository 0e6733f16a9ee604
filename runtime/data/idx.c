/* idx.c: Fashion-MNIST and MNIST in LeCun's IDX format, gzipped or not.
 *
 * An IDX file is a 4-byte magic (0, 0, type, ndims), ndims big-endian
 * 32-bit sizes, then the data.  Only unsigned bytes (type 0x08) appear in
 * these datasets.  zlib's gzread() reads plain files transparently, so one
 * path serves both spellings. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "runtime/data/readers.h"
#include "runtime/fileio.h"

#define IDX_TYPE_UBYTE 0x08
#define IDX_MAX_DIMS 4
#define IDX_FIRST_CHUNK ((size_t)1 << 20)
#define IDX_MAX_CHUNK ((size_t)1 << 30)

static const char *const fashion_names[10] = {
	"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
	"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
};

static int read_exact(gzFile f, void *buf, unsigned len)
{
	return gzread(f, buf, len) == (int)len;
}

static const char *gz_reason(gzFile f)
{
	int zerr = 0;
	const char *msg = gzerror(f, &zerr);
	if (zerr == Z_OK || zerr == Z_BUF_ERROR || !msg || !*msg)
		return "unexpected end of file";
	return msg;
}

/* The header, with every size checked before the body is touched. */
static int idx_read_header(gzFile f, const char *path, int ndims, int64_t *dims,
			   int64_t *total, sc_error *err)
{
	uint8_t magic[4], raw[4 * IDX_MAX_DIMS];
	if (!read_exact(f, magic, 4))
		return sc_fail(err, SC_EINVAL, "%s: not an IDX file (%s in the header)",
			       path, gz_reason(f));
	if (magic[0] != 0 || magic[1] != 0)
		return sc_fail(err, SC_EINVAL,
			       "%s: not an IDX file (magic %02x%02x%02x%02x)",
			       path, magic[0], magic[1], magic[2], magic[3]);
	if (magic[2] != IDX_TYPE_UBYTE)
		return sc_fail(err, SC_EINVAL,
			       "%s: IDX element type 0x%02x, expected 0x08 (unsigned byte)",
			       path, magic[2]);
	if (magic[3] != ndims)
		return sc_fail(err, SC_EINVAL, "%s: IDX file has %d dimensions, expected %d",
			       path, magic[3], ndims);
	if (!read_exact(f, raw, (unsigned)(4 * ndims)))
		return sc_fail(err, SC_EINVAL, "%s: truncated IDX header", path);
	int64_t prod = 1;
	for (int i = 0; i < ndims; i++) {
		const uint8_t *b = raw + 4 * i;
		dims[i] = (int64_t)b[0] << 24 | (int64_t)b[1] << 16 |
			  (int64_t)b[2] << 8 | (int64_t)b[3];
		if (dims[i] == 0)
			return sc_fail(err, SC_EINVAL, "%s: IDX dimension %d is 0", path, i);
		if (dims[i] > DATASET_MAX_BYTES / prod)
			return sc_fail(err, SC_EINVAL,
				       "%s: IDX sizes declare more than %lld bytes",
				       path, (long long)DATASET_MAX_BYTES);
		prod *= dims[i];
	}
	*total = prod;
	return SC_OK;
}

/* Reads total bytes, growing the buffer only as data really arrives. */
static int idx_read_body(gzFile f, const char *path, int64_t total,
			 uint8_t **data, sc_error *err)
{
	size_t want = (size_t)total, have = 0;
	size_t cap = want < IDX_FIRST_CHUNK ? want : IDX_FIRST_CHUNK;
	uint8_t *buf = malloc(cap);
	if (!buf)
		return sc_fail(err, SC_ENOMEM, "%s: cannot allocate %zu bytes", path, cap);
	while (have < want) {
		if (have == cap) {
			size_t grow = cap * 2 < want ? cap * 2 : want;
			uint8_t *nb = realloc(buf, grow);
			if (!nb) {
				free(buf);
				return sc_fail(err, SC_ENOMEM, "%s: cannot allocate %zu bytes",
					       path, grow);
			}
			buf = nb;
			cap = grow;
		}
		size_t chunk = cap - have;
		if (chunk > IDX_MAX_CHUNK)
			chunk = IDX_MAX_CHUNK;
		int got = gzread(f, buf + have, (unsigned)chunk);
		if (got <= 0) {
			sc_fail(err, SC_EINVAL,
				"%s: truncated: the header declares %zu data bytes, the file holds %zu (%s)",
				path, want, have, gz_reason(f));
			free(buf);
			return SC_EINVAL;
		}
		have += (size_t)got;
	}
	*data = buf;
	return SC_OK;
}

int data_idx_read(const char *path, int ndims, int64_t *dims, uint8_t **data,
		  sc_error *err)
{
	*data = NULL;
	if (ndims < 1 || ndims > IDX_MAX_DIMS)
		return sc_fail(err, SC_EINTERNAL, "%s: bad IDX rank request %d", path, ndims);
	gzFile f = gzopen(path, "rb");
	if (!f)
		return sc_fail(err, errno == ENOENT ? SC_EINVAL : SC_EIO, "%s: %s",
			       path, errno == ENOENT ? "no such file" : strerror(errno));
	int64_t total = 0;
	int rc = sc_input_register(path, err);
	if (!rc)
		rc = idx_read_header(f, path, ndims, dims, &total, err);
	if (!rc)
		rc = idx_read_body(f, path, total, data, err);
	gzclose(f);
	return rc;
}

static int file_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* DIR/NAME.gz, else DIR/NAME; a missing file names the .gz and the hint. */
static int idx_find(const char *dir, const char *name, const char *hint,
		    char *path, size_t cap, sc_error *err)
{
	snprintf(path, cap, "%s/%s.gz", dir, name);
	if (file_exists(path))
		return SC_OK;
	snprintf(path, cap, "%s/%s", dir, name);
	if (file_exists(path))
		return SC_OK;
	return sc_fail(err, SC_EINVAL, "%s/%s.gz: no such file (%s)", dir, name, hint);
}

int data_idx_open(dataset *d, const char *kind, const char *dir,
		  dataset_part part, sc_error *err)
{
	int fashion = strcmp(kind, "fashion-mnist") == 0;
	const char *hint = fashion ? "install dataset-fashion-mnist"
			   : "put the MNIST IDX files there, or pass mnist:DIR";
	const char *prefix = part == DATASET_TEST ? "t10k" : "train";
	char name[64], ipath[4200], lpath[4200];
	int64_t idims[3], ldims[1];
	uint8_t *images = NULL, *labels = NULL;

	snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
	int rc = idx_find(dir, name, hint, ipath, sizeof ipath, err);
	if (rc)
		return rc;
	snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
	rc = idx_find(dir, name, hint, lpath, sizeof lpath, err);
	if (rc)
		return rc;

	rc = data_idx_read(lpath, 1, ldims, &labels, err);
	if (!rc)
		rc = data_idx_read(ipath, 3, idims, &images, err);
	if (rc)
		goto out;
	if (idims[1] > DATASET_MAX_SIDE || idims[2] > DATASET_MAX_SIDE) {
		rc = sc_fail(err, SC_EINVAL, "%s: implausible image size %lldx%lld",
			     ipath, (long long)idims[1], (long long)idims[2]);
		goto out;
	}
	if (idims[0] != ldims[0]) {
		rc = sc_fail(err, SC_EINVAL, "%s: %lld labels for %lld images in %s",
			     lpath, (long long)ldims[0], (long long)idims[0], ipath);
		goto out;
	}
	for (int64_t i = 0; i < ldims[0]; i++) {
		if (labels[i] >= 10) {
			rc = sc_fail(err, SC_EINVAL, "%s: label %d of image %lld is not in 0..9",
				     lpath, labels[i], (long long)i);
			goto out;
		}
	}
	d->labels = malloc((size_t)ldims[0] * sizeof *d->labels);
	if (!d->labels) {
		rc = sc_fail(err, SC_ENOMEM, "%s: cannot allocate labels", lpath);
		goto out;
	}
	for (int64_t i = 0; i < ldims[0]; i++)
		d->labels[i] = labels[i];
	d->pixels = images;
	images = NULL;
	d->n = idims[0];
	d->c = 1;
	d->h = idims[1];
	d->w = idims[2];
	rc = dataset_set_classes(d, 10, fashion ? fashion_names : NULL, err);
out:
	free(images);
	free(labels);
	return rc;
}
