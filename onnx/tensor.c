/* tensor.c: TensorProto -> sc_tensor, with raw_data, typed fields and
 * external data, and the .pb tensor file reader.
 *
 * Every size in a TensorProto is checked against the bytes actually present
 * (the proto's field lengths, or the external file's size) before the
 * tensor's storage is allocated, so a header that declares 2^60 elements
 * costs nothing. */
#include "internal.h"

#include "../runtime/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "supcon reads raw_data in place and needs a little-endian host"
#endif

static const char *tensor_label(const Onnx__TensorProto *p)
{
	return p->name && *p->name ? p->name : "<unnamed>";
}

/* Moves a protobuf-c allocated array into t when its layout is already the
 * runtime layout; the proto then forgets it.  protobuf-c's default
 * allocator is malloc, so free() in tensor_free matches. */
static void adopt(sc_tensor *t, void **field, size_t *count)
{
	t->data = *field;
	t->owned = 1;
	*field = NULL;
	*count = 0;
}

static int alloc_storage(sc_tensor *t, const char *name, sc_error *err)
{
	size_t cap = t->nbytes ? t->nbytes : 1;
	t->data = malloc(cap);
	if (!t->data)
		return sc_fail(err, SC_ENOMEM,
			       "tensor '%s': cannot allocate %zu bytes", name,
			       t->nbytes);
	t->owned = 1;
	return SC_OK;
}

/* Splits "key" lookups over TensorProto.external_data. */
static const char *external_field(const Onnx__TensorProto *p, const char *key)
{
	for (size_t i = 0; i < p->n_external_data; i++) {
		const Onnx__StringStringEntryProto *e = p->external_data[i];
		if (e->key && strcmp(e->key, key) == 0)
			return e->value ? e->value : "";
	}
	return NULL;
}

static int parse_u64(const char *s, uint64_t *out)
{
	if (!s || !*s)
		return -1;
	uint64_t v = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

/* A location may only name a file inside the model's folder: relative, no
 * ".." component, and (checked after resolving symlinks) still inside. */
static int external_open(const onnx_ctx *ctx, const char *name,
			 const char *location, int *fd_out, sc_error *err)
{
	if (!ctx->base_dir)
		return sc_fail(err, SC_EINVAL,
			       "tensor '%s': external data '%s' cannot be resolved for a model loaded from memory",
			       name, location);
	if (!*location)
		return sc_fail(err, SC_EINVAL,
			       "tensor '%s': external data location is empty", name);
	if (location[0] == '/')
		return sc_fail(err, SC_EINVAL,
			       "tensor '%s': external data location '%s' is an absolute path",
			       name, location);
	for (const char *c = location; *c;) {
		const char *end = strchr(c, '/');
		size_t len = end ? (size_t)(end - c) : strlen(c);
		if (len == 2 && c[0] == '.' && c[1] == '.')
			return sc_fail(err, SC_EINVAL,
				       "tensor '%s': external data location '%s' escapes the model folder with '..'",
				       name, location);
		if (!end)
			break;
		c = end + 1;
	}
	char joined[PATH_MAX];
	if ((size_t)snprintf(joined, sizeof joined, "%s/%s", ctx->base_dir,
			     location) >= sizeof joined)
		return sc_fail(err, SC_EINVAL,
			       "tensor '%s': external data path is too long", name);
	char real_base[PATH_MAX], real_file[PATH_MAX];
	if (!realpath(ctx->base_dir, real_base))
		return sc_fail(err, SC_EIO, "cannot resolve model folder '%s': %s",
			       ctx->base_dir, strerror(errno));
	if (!realpath(joined, real_file))
		return sc_fail(err, SC_EINVAL,
			       "tensor '%s': external data file '%s' cannot be opened: %s",
			       name, location, strerror(errno));
	size_t blen = strlen(real_base);
	if (strncmp(real_file, real_base, blen) != 0 ||
	    (real_file[blen] != '/' && !(blen == 1 && real_base[0] == '/')))
		return sc_fail(err, SC_EINVAL,
			       "tensor '%s': external data file '%s' resolves outside the model folder",
			       name, location);
	int fd = open(real_file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sc_fail(err, SC_EINVAL,
			       "tensor '%s': external data file '%s' cannot be opened: %s",
			       name, location, strerror(errno));
	int rc = sc_input_register(real_file, err);
	if (rc) {
		close(fd);
		return rc;
	}
	*fd_out = fd;
	return SC_OK;
}

static int read_external(const onnx_ctx *ctx, const Onnx__TensorProto *p,
			 sc_tensor *t, sc_error *err)
{
	const char *name = tensor_label(p);
	if (t->dtype == SC_STRING)
		return sc_fail(err, SC_EINVAL,
			       "tensor '%s': string tensors cannot use external data",
			       name);
	const char *location = external_field(p, "location");
	if (!location)
		return sc_fail(err, SC_EINVAL,
			       "tensor '%s': external data has no 'location'", name);
	uint64_t offset = 0, length = t->nbytes;
	const char *s = external_field(p, "offset");
	if (s && parse_u64(s, &offset))
		return sc_fail(err, SC_EINVAL,
			       "tensor '%s': external data offset '%s' is not a number",
			       name, s);
	s = external_field(p, "length");
	if (s && parse_u64(s, &length))
		return sc_fail(err, SC_EINVAL,
			       "tensor '%s': external data length '%s' is not a number",
			       name, s);
	if (length != t->nbytes)
		return sc_fail(err, SC_EINVAL,
			       "tensor '%s': external data length %llu does not match the %zu bytes its dims need",
			       name, (unsigned long long)length, t->nbytes);
	int fd;
	int rc = external_open(ctx, name, location, &fd, err);
	if (rc)
		return rc;
	struct stat st;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return sc_fail(err, SC_EINVAL,
			       "tensor '%s': external data '%s' is not a regular file",
			       name, location);
	}
	uint64_t size = (uint64_t)st.st_size;
	if (offset > size || length > size - offset) {
		close(fd);
		return sc_fail(err, SC_EINVAL,
			       "tensor '%s': external data offset %llu + length %llu is past the end of '%s' (%llu bytes)",
			       name, (unsigned long long)offset,
			       (unsigned long long)length, location,
			       (unsigned long long)size);
	}
	rc = alloc_storage(t, name, err);
	if (rc) {
		close(fd);
		return rc;
	}
	size_t done = 0;
	while (done < t->nbytes) {
		ssize_t n = pread(fd, (char *)t->data + done, t->nbytes - done,
				  (off_t)(offset + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			return sc_fail(err, SC_EIO,
				       "tensor '%s': reading external data '%s' failed: %s",
				       name, location, n < 0 ? strerror(errno) : "short read");
		}
		done += (size_t)n;
	}
	close(fd);
	return SC_OK;
}

/* Narrows int32_data into 1- or 2-byte elements (float16/bfloat16 bits
 * travel as uint16 in int32_data). */
static void narrow_int32(sc_tensor *t, const int32_t *src)
{
	size_t es = tensor_dtype_size(t->dtype);
	for (int64_t i = 0; i < t->numel; i++) {
		if (es == 1) {
			uint8_t v = (uint8_t)src[i];
			if (t->dtype == SC_BOOL)
				v = src[i] != 0;
			((uint8_t *)t->data)[i] = v;
		} else if (es == 2) {
			((uint16_t *)t->data)[i] = (uint16_t)src[i];
		} else {
			((int32_t *)t->data)[i] = src[i];
		}
	}
}

static int typed_count_error(const char *name, const char *field, size_t have,
			     int64_t want, sc_error *err)
{
	return sc_fail(err, SC_EINVAL,
		       "tensor '%s': %s holds %zu values but its dims need %lld",
		       name, field, have, (long long)want);
}

static int read_typed(Onnx__TensorProto *p, int steal, sc_tensor *t,
		      sc_error *err)
{
	const char *name = tensor_label(p);
	int64_t n = t->numel;
	int rc;
	switch (t->dtype) {
	case SC_FLOAT:
	case SC_COMPLEX64: {
		int64_t want = t->dtype == SC_FLOAT ? n : 2 * n;
		if ((int64_t)p->n_float_data != want)
			return typed_count_error(name, "float_data", p->n_float_data, want, err);
		if (steal && want) {
			adopt(t, (void **)&p->float_data, &p->n_float_data);
			return SC_OK;
		}
		if ((rc = alloc_storage(t, name, err)))
			return rc;
		if (want)
			memcpy(t->data, p->float_data, t->nbytes);
		return SC_OK;
	}
	case SC_DOUBLE:
	case SC_COMPLEX128: {
		int64_t want = t->dtype == SC_DOUBLE ? n : 2 * n;
		if ((int64_t)p->n_double_data != want)
			return typed_count_error(name, "double_data", p->n_double_data, want, err);
		if (steal && want) {
			adopt(t, (void **)&p->double_data, &p->n_double_data);
			return SC_OK;
		}
		if ((rc = alloc_storage(t, name, err)))
			return rc;
		if (want)
			memcpy(t->data, p->double_data, t->nbytes);
		return SC_OK;
	}
	case SC_INT64:
		if ((int64_t)p->n_int64_data != n)
			return typed_count_error(name, "int64_data", p->n_int64_data, n, err);
		if (steal && n) {
			adopt(t, (void **)&p->int64_data, &p->n_int64_data);
			return SC_OK;
		}
		if ((rc = alloc_storage(t, name, err)))
			return rc;
		if (n)
			memcpy(t->data, p->int64_data, t->nbytes);
		return SC_OK;
	case SC_UINT32:
	case SC_UINT64:
		if ((int64_t)p->n_uint64_data != n)
			return typed_count_error(name, "uint64_data", p->n_uint64_data, n, err);
		if (t->dtype == SC_UINT64 && steal && n) {
			adopt(t, (void **)&p->uint64_data, &p->n_uint64_data);
			return SC_OK;
		}
		if ((rc = alloc_storage(t, name, err)))
			return rc;
		for (int64_t i = 0; i < n; i++) {
			if (t->dtype == SC_UINT32)
				((uint32_t *)t->data)[i] = (uint32_t)p->uint64_data[i];
			else
				((uint64_t *)t->data)[i] = p->uint64_data[i];
		}
		return SC_OK;
	case SC_INT32:
	case SC_INT16:
	case SC_INT8:
	case SC_UINT16:
	case SC_UINT8:
	case SC_BOOL:
	case SC_FLOAT16:
	case SC_BFLOAT16:
		if ((int64_t)p->n_int32_data != n)
			return typed_count_error(name, "int32_data", p->n_int32_data, n, err);
		if ((rc = alloc_storage(t, name, err)))
			return rc;
		narrow_int32(t, p->int32_data);
		return SC_OK;
	case SC_STRING: {
		if ((int64_t)p->n_string_data != n)
			return typed_count_error(name, "string_data", p->n_string_data, n, err);
		if ((rc = alloc_storage(t, name, err)))
			return rc;
		sc_bytes *s = t->data;
		memset(s, 0, t->nbytes);
		for (int64_t i = 0; i < n; i++) {
			size_t len = p->string_data[i].len;
			s[i].data = malloc(len ? len : 1);
			if (!s[i].data) {
				tensor_free(t);
				return sc_fail(err, SC_ENOMEM,
					       "tensor '%s': out of memory", name);
			}
			if (len)
				memcpy(s[i].data, p->string_data[i].data, len);
			s[i].len = len;
		}
		return SC_OK;
	}
	default:
		return sc_fail(err, SC_EUNSUPPORTED,
			       "tensor '%s': data type %s is not supported", name,
			       tensor_dtype_name(t->dtype));
	}
}

int onnx_tensor_from_proto(const onnx_ctx *ctx, Onnx__TensorProto *p,
			   int steal, sc_tensor *t, sc_error *err)
{
	const char *name = tensor_label(p);
	memset(t, 0, sizeof *t);
	if (!p->has_data_type || !tensor_dtype_valid(p->data_type))
		return sc_fail(err, SC_EINVAL,
			       "tensor '%s': unknown data type %d", name,
			       p->has_data_type ? p->data_type : 0);
	if (p->n_dims > SC_MAX_RANK)
		return sc_fail(err, SC_EUNSUPPORTED,
			       "tensor '%s': rank %zu is above the supported %d",
			       name, p->n_dims, SC_MAX_RANK);
	if (p->segment)
		return sc_fail(err, SC_EUNSUPPORTED,
			       "tensor '%s': segmented tensors are not supported",
			       name);
	int rc = tensor_set_shape(t, p->data_type, (int)p->n_dims, p->dims,
				  name, err);
	if (rc)
		return rc;

	if (p->has_data_location &&
	    p->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
		rc = read_external(ctx, p, t, err);
	else if (p->has_raw_data) {
		if (t->dtype == SC_STRING)
			return sc_fail(err, SC_EINVAL,
				       "tensor '%s': string tensors cannot use raw_data",
				       name);
		if (p->raw_data.len != t->nbytes)
			return sc_fail(err, SC_EINVAL,
				       "tensor '%s': raw_data has %zu bytes but dims need %zu",
				       name, p->raw_data.len, t->nbytes);
		if (steal && t->nbytes) {
			t->data = p->raw_data.data;
			t->owned = 1;
			p->raw_data.data = NULL;
			p->raw_data.len = 0;
		} else {
			rc = alloc_storage(t, name, err);
			if (!rc && t->nbytes)
				memcpy(t->data, p->raw_data.data, t->nbytes);
		}
	} else {
		rc = read_typed(p, steal, t, err);
	}
	if (rc)
		tensor_free(t);
	return rc;
}

int onnx_tensor_load_memory(const void *buf, size_t len, const char *label,
			    sc_tensor *t, char **name, sc_error *err)
{
	if (!label)
		label = "<memory>";
	if (name)
		*name = NULL;
	memset(t, 0, sizeof *t);
	if (len == 0)
		return sc_fail(err, SC_EINVAL, "%s: empty file, expected a TensorProto",
			       label);
	int rc = onnx_check_nesting(buf, len, &onnx__tensor_proto__descriptor,
				    label, err);
	if (rc)
		return rc;
	Onnx__TensorProto *p = onnx__tensor_proto__unpack(NULL, len, buf);
	if (!p)
		return sc_fail(err, SC_EINVAL,
			       "%s: not a valid TensorProto (protobuf decode failed)",
			       label);
	onnx_ctx ctx = {label, NULL};
	rc = onnx_tensor_from_proto(&ctx, p, 1, t, err);
	if (rc) {
		sc_error_prefix(err, "%s: ", label);
	} else if (name) {
		*name = strdup(p->name ? p->name : "");
		if (!*name) {
			tensor_free(t);
			rc = sc_fail(err, SC_ENOMEM, "%s: out of memory", label);
		}
	}
	onnx__tensor_proto__free_unpacked(p, NULL);
	return rc;
}

int onnx_map_file(const char *path, void **data, size_t *len, sc_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sc_fail(err, errno == ENOENT || errno == EACCES ||
					    errno == ENOTDIR ? SC_EINVAL : SC_EIO,
			       "%s: cannot open: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st)) {
		close(fd);
		return sc_fail(err, SC_EIO, "%s: cannot stat: %s", path,
			       strerror(errno));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return sc_fail(err, SC_EINVAL, "%s: not a regular file", path);
	}
	*len = (size_t)st.st_size;
	*data = NULL;
	if (*len == 0) {
		close(fd);
		return SC_OK;
	}
	void *m = mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return sc_fail(err, SC_EIO, "%s: cannot map: %s", path,
			       strerror(errno));
	/* protobuf-c reads the buffer front to back exactly once */
	madvise(m, *len, MADV_SEQUENTIAL);
	*data = m;
	return SC_OK;
}

void onnx_unmap_file(void *data, size_t len)
{
	if (data)
		munmap(data, len);
}

int onnx_tensor_load_file(const char *path, sc_tensor *t, char **name,
			  sc_error *err)
{
	void *data;
	size_t len;
	memset(t, 0, sizeof *t);
	if (name)
		*name = NULL;
	int rc = onnx_map_file(path, &data, &len, err);
	if (rc)
		return rc;
	rc = sc_input_register(path, err);
	if (!rc)
		rc = onnx_tensor_load_memory(data, len, path, t, name, err);
	onnx_unmap_file(data, len);
	return rc;
}
