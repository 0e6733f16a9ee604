/* api.c: the public API's version, status and error bookkeeping, and its
 * tensors (supcon.h).  Sessions are in api_session.c, training in
 * api_trainer.c. */
#include "api_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "../onnx/onnx.h"
#include "data/image.h"
#include "fileio.h"

/* The version is defined once, in CMakeLists.txt's project(); the build
 * passes it in. */
#ifndef SUPCON_VERSION_STRING
#error "SUPCON_VERSION_STRING must come from the build (CMakeLists.txt)"
#endif

/* supcon_status is status.h's numbering, so codes pass through as they are. */
_Static_assert((int)SUPCON_EINVAL == SC_EINVAL &&
	       (int)SUPCON_EUNSUPPORTED == SC_EUNSUPPORTED &&
	       (int)SUPCON_EIO == SC_EIO && (int)SUPCON_ENOMEM == SC_ENOMEM &&
	       (int)SUPCON_EINTERNAL == SC_EINTERNAL &&
	       (int)SUPCON_ENUMERIC == SC_ENUMERIC,
	       "supcon_status must match status.h");
_Static_assert(SUPCON_MAX_RANK == SC_MAX_RANK, "ranks must match tensor.h");

/* The last failure on this thread, for calls without a handle. */
static _Thread_local char last_error[SC_ERROR_MAX];

const char *supcon_version(void)
{
	return SUPCON_VERSION_STRING;
}

const char *supcon_status_name(supcon_status status)
{
	switch (status) {
	case SUPCON_OK: return "SUPCON_OK";
	case SUPCON_EINVAL: return "SUPCON_EINVAL";
	case SUPCON_EUNSUPPORTED: return "SUPCON_EUNSUPPORTED";
	case SUPCON_EIO: return "SUPCON_EIO";
	case SUPCON_ENOMEM: return "SUPCON_ENOMEM";
	case SUPCON_EINTERNAL: return "SUPCON_EINTERNAL";
	case SUPCON_ENUMERIC: return "SUPCON_ENUMERIC";
	}
	return "SUPCON_E?";
}

const char *supcon_last_error(void)
{
	return last_error;
}

supcon_status api_done(sc_error *handle_err, sc_error *err, int rc)
{
	if (rc == SC_OK) {
		if (handle_err)
			sc_error_clear(handle_err);
		return SUPCON_OK;
	}
	/* a code outside status.h would be a bug; never hand it out */
	if (rc < SC_OK || rc > SC_ENUMERIC)
		rc = SC_EINTERNAL;
	if (!err->msg[0])
		snprintf(err->msg, sizeof err->msg, "%s", sc_code_name(rc));
	err->code = rc;
	if (handle_err)
		*handle_err = *err;
	snprintf(last_error, sizeof last_error, "%s", err->msg);
	return (supcon_status)rc;
}

int api_null(sc_error *err, const char *func, const char *arg)
{
	return sc_fail(err, SC_EINVAL, "%s: %s is NULL", func, arg);
}

int api_parse_options(const char *options, const char *func,
		      int (*apply)(void *ctx, const char *key, const char *val,
				   sc_error *err),
		      void *ctx, sc_error *err)
{
	if (!options || !*options)
		return SC_OK;
	char *buf = strdup(options);
	if (!buf)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	int rc = SC_OK;
	for (char *p = buf; p && !rc; ) {
		char *comma = strchr(p, ',');
		if (comma)
			*comma = '\0';
		char *eq = strchr(p, '=');
		if (!eq || eq == p) {
			rc = sc_fail(err, SC_EINVAL, "%s: option '%s': expected key=value",
				     func, p);
		} else {
			*eq = '\0';
			rc = apply(ctx, p, eq + 1, err);
		}
		p = comma ? comma + 1 : NULL;
	}
	free(buf);
	return rc;
}

int api_tensor_copy(const sc_tensor *t, supcon_tensor **out, sc_error *err)
{
	supcon_tensor *c = calloc(1, sizeof *c);
	if (!c)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	int rc = tensor_copy(&c->t, t, err);
	if (rc) {
		free(c);
		return rc;
	}
	*out = c;
	return SC_OK;
}

void supcon_forget_inputs(void)
{
	sc_input_forget_all();
}

void api_use_threads(int threads)
{
#ifdef _OPENMP
	if (threads > 0)
		omp_set_num_threads(threads);
#else
	(void)threads;
#endif
}

/* --- tensors ---------------------------------------------------------------- */

/* The dtypes supcon.h lists: every numeric ONNX type (no strings, no
 * complex numbers). */
static int api_dtype_ok(int dtype)
{
	return tensor_dtype_valid(dtype) && dtype != SC_STRING &&
	       dtype != SC_COMPLEX64 && dtype != SC_COMPLEX128;
}

static int check_shape(const char *func, int dtype, int rank,
		       const int64_t *dims, sc_error *err)
{
	if (!api_dtype_ok(dtype))
		return sc_fail(err, SC_EINVAL, "%s: dtype %d is not a supcon_dtype",
			       func, dtype);
	if (rank < 0 || rank > SC_MAX_RANK)
		return sc_fail(err, SC_EINVAL, "%s: rank %d is outside [0, %d]", func,
			       rank, SC_MAX_RANK);
	if (rank > 0 && !dims)
		return api_null(err, func, "dims");
	return SC_OK;
}

supcon_status supcon_tensor_create(supcon_dtype dtype, int rank,
				   const int64_t *dims, supcon_tensor **out)
{
	sc_error err = {0};
	int rc = out ? check_shape("supcon_tensor_create", (int)dtype, rank, dims, &err) :
		 api_null(&err, "supcon_tensor_create", "out");
	supcon_tensor *t = NULL;
	if (!rc && !(t = calloc(1, sizeof *t)))
		rc = sc_fail(&err, SC_ENOMEM, "out of memory");
	if (!rc)
		rc = tensor_alloc(&t->t, (int)dtype, rank, dims, "tensor", &err);
	if (rc) {
		free(t);
		t = NULL;
	}
	if (out)
		*out = t;
	return api_done(NULL, &err, rc);
}

supcon_status supcon_tensor_wrap(supcon_dtype dtype, int rank,
				 const int64_t *dims, void *data, size_t nbytes,
				 supcon_tensor **out)
{
	sc_error err = {0};
	const char *fn = "supcon_tensor_wrap";
	int rc = out ? check_shape(fn, (int)dtype, rank, dims, &err) :
		 api_null(&err, fn, "out");
	sc_tensor s = {0};
	if (!rc)
		rc = tensor_set_shape(&s, (int)dtype, rank, dims, "tensor", &err);
	if (!rc && s.nbytes != nbytes)
		rc = sc_fail(&err, SC_EINVAL, "%s: the buffer has %zu bytes, the shape "
			     "needs %zu (%lld %s elements)", fn, nbytes, s.nbytes,
			     (long long)s.numel, tensor_dtype_name((int)dtype));
	if (!rc && nbytes > 0 && !data)
		rc = api_null(&err, fn, "data");
	size_t align = tensor_dtype_size((int)dtype);
	if (!rc && data && (uintptr_t)data % align)
		rc = sc_fail(&err, SC_EINVAL, "%s: data is not aligned to %zu bytes "
			     "for %s", fn, align, tensor_dtype_name((int)dtype));
	supcon_tensor *t = NULL;
	if (!rc && !(t = calloc(1, sizeof *t)))
		rc = sc_fail(&err, SC_ENOMEM, "out of memory");
	if (!rc) {
		t->t = s;
		t->t.data = data;
		t->t.owned = 0;
	}
	if (out)
		*out = t;
	return api_done(NULL, &err, rc);
}

/* 8-bit planes [C, H, W] become float [1, C, H, W] in [0, 1]. */
static int png_to_tensor(const uint8_t *px, int64_t c, int64_t h, int64_t w,
			 supcon_tensor **out, sc_error *err)
{
	supcon_tensor *t = calloc(1, sizeof *t);
	if (!t)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	int64_t dims[4] = {1, c, h, w};
	int rc = tensor_alloc(&t->t, SC_FLOAT, 4, dims, "image", err);
	if (rc) {
		free(t);
		return rc;
	}
	float *f = t->t.data;
	for (int64_t i = 0; i < t->t.numel; i++)
		f[i] = (float)px[i] / 255.0f;
	*out = t;
	return SC_OK;
}

supcon_status supcon_tensor_load_png(const char *path, int channels,
				     supcon_tensor **out)
{
	sc_error err = {0};
	const char *fn = "supcon_tensor_load_png";
	int rc = !out ? api_null(&err, fn, "out") : !path ? api_null(&err, fn, "path") :
		 SC_OK;
	if (out)
		*out = NULL;
	if (!rc && channels != 0 && channels != 1 && channels != 3)
		rc = sc_fail(&err, SC_EINVAL, "%s: %s: channels is %d, expected 0 (the "
			     "image's own), 1 or 3", fn, path, channels);
	if (!rc && channels == 0) {
		supcon_tensor *t = calloc(1, sizeof *t);
		rc = t ? api_png_load_native(path, &t->t, &err) :
		     sc_fail(&err, SC_ENOMEM, "out of memory");
		if (rc)
			free(t);
		else
			*out = t;
		return api_done(NULL, &err, rc);
	}
	uint8_t *px = NULL;
	int64_t h = 0, w = 0;
	if (!rc)
		rc = data_png_read(path, channels, &px, &h, &w, &err);
	if (!rc)
		rc = png_to_tensor(px, channels, h, w, out, &err);
	free(px);
	return api_done(NULL, &err, rc);
}

supcon_status supcon_tensor_load_pb(const char *path, supcon_tensor **out)
{
	sc_error err = {0};
	const char *fn = "supcon_tensor_load_pb";
	int rc = !out ? api_null(&err, fn, "out") : !path ? api_null(&err, fn, "path") :
		 SC_OK;
	if (out)
		*out = NULL;
	supcon_tensor *t = NULL;
	if (!rc && !(t = calloc(1, sizeof *t)))
		rc = sc_fail(&err, SC_ENOMEM, "out of memory");
	if (!rc)
		rc = onnx_tensor_load_file(path, &t->t, NULL, &err);
	if (!rc && !api_dtype_ok(t->t.dtype) && t->t.dtype != SC_STRING) {
		rc = sc_fail(&err, SC_EUNSUPPORTED, "%s: a %s tensor: the API takes "
			     "numeric and string tensors only", path,
			     tensor_dtype_name(t->t.dtype));
		tensor_free(&t->t);
	}
	if (rc) {
		free(t);
		t = NULL;
	}
	if (out)
		*out = t;
	return api_done(NULL, &err, rc);
}

supcon_status supcon_tensor_save_pb(const supcon_tensor *t, const char *name,
				    const char *path)
{
	sc_error err = {0};
	const char *fn = "supcon_tensor_save_pb";
	int rc = !t ? api_null(&err, fn, "tensor") : !path ? api_null(&err, fn, "path") :
		 onnx_tensor_save_file(&t->t, name, path, &err);
	return api_done(NULL, &err, rc);
}

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

supcon_status supcon_tensor_fill_random(supcon_tensor *t, uint64_t seed)
{
	sc_error err = {0};
	const char *fn = "supcon_tensor_fill_random";
	int rc = t ? SC_OK : api_null(&err, fn, "tensor");
	if (!rc && !tensor_dtype_is_float(t->t.dtype))
		rc = sc_fail(&err, SC_EINVAL, "%s: a %s tensor; random data is floating "
			     "point", fn, tensor_dtype_name(t->t.dtype));
	for (int64_t i = 0; !rc && i < t->t.numel; i++) {
		uint64_t x = splitmix64(&seed);
		/* 24 random bits: every value is exact in float32 */
		float f = (float)(x >> 40) * 0x1p-24f;
		switch (t->t.dtype) {
		case SC_FLOAT: ((float *)t->t.data)[i] = f; break;
		case SC_DOUBLE: ((double *)t->t.data)[i] = (double)(x >> 11) * 0x1p-53; break;
		case SC_FLOAT16: ((uint16_t *)t->t.data)[i] = tensor_float_to_half(f); break;
		default: ((uint16_t *)t->t.data)[i] = tensor_float_to_bf16(f); break;
		}
	}
	return api_done(NULL, &err, rc);
}

const char *supcon_dtype_name(int dtype)
{
	return tensor_dtype_valid(dtype) ? tensor_dtype_name(dtype) : "?";
}

void supcon_tensor_free(supcon_tensor *t)
{
	if (!t)
		return;
	tensor_free(&t->t);
	free(t);
}

supcon_status supcon_tensor_info(const supcon_tensor *t, supcon_dtype *dtype,
				 int *rank, int64_t *dims, int max_rank)
{
	sc_error err = {0};
	const char *fn = "supcon_tensor_info";
	int rc = SC_OK;
	if (!t)
		rc = api_null(&err, fn, "tensor");
	else if (dims && t->t.rank > max_rank)
		rc = sc_fail(&err, SC_EINVAL, "%s: the tensor has rank %d, dims has "
			     "room for %d", fn, t->t.rank, max_rank);
	if (!rc) {
		if (dtype)
			*dtype = (supcon_dtype)t->t.dtype;
		if (rank)
			*rank = t->t.rank;
		for (int i = 0; dims && i < t->t.rank; i++)
			dims[i] = t->t.dims[i];
	}
	return api_done(NULL, &err, rc);
}

supcon_status supcon_tensor_size(const supcon_tensor *t, int64_t *numel,
				 size_t *nbytes)
{
	sc_error err = {0};
	int rc = t ? SC_OK : api_null(&err, "supcon_tensor_size", "tensor");
	if (!rc && numel)
		*numel = t->t.numel;
	if (!rc && nbytes)
		*nbytes = t->t.nbytes;
	return api_done(NULL, &err, rc);
}

/* A string tensor's elements are pointers the library owns, not bytes. */
static int string_refused(const char *fn, sc_error *err)
{
	return sc_fail(err, SC_EINVAL, "%s: a string tensor has no byte buffer "
		       "(it can only be fed to a run or saved)", fn);
}

supcon_status supcon_tensor_data(const supcon_tensor *t, void **data)
{
	sc_error err = {0};
	const char *fn = "supcon_tensor_data";
	int rc = !t ? api_null(&err, fn, "tensor") : !data ? api_null(&err, fn, "data") :
		 t->t.dtype == SC_STRING ? string_refused(fn, &err) : SC_OK;
	if (!rc)
		*data = t->t.data;
	return api_done(NULL, &err, rc);
}

supcon_status supcon_tensor_read(const supcon_tensor *t, void *buf,
				 size_t nbytes)
{
	sc_error err = {0};
	const char *fn = "supcon_tensor_read";
	int rc = SC_OK;
	if (!t)
		rc = api_null(&err, fn, "tensor");
	else if (t->t.dtype == SC_STRING)
		rc = string_refused(fn, &err);
	else if (nbytes != t->t.nbytes)
		rc = sc_fail(&err, SC_EINVAL, "%s: the buffer has %zu bytes, the tensor "
			     "%zu", fn, nbytes, t->t.nbytes);
	else if (nbytes && !buf)
		rc = api_null(&err, fn, "buf");
	if (!rc && nbytes)
		memcpy(buf, t->t.data, nbytes);
	return api_done(NULL, &err, rc);
}
