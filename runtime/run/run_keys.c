/* run_keys.c: what every job of the run layer shares besides the run
 * configuration: the options given (by key, with "given" recorded for
 * --resume), the output sink of the job on this thread, and loading a
 * model named by the user; see run.h. */
#include "run.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx.h"
#include "runtime/fileio.h"
#include "runtime/infer.h"

/* --- output ----------------------------------------------------------------- */

static _Thread_local FILE *run_out;

FILE *run_output(void)
{
	return run_out;
}

FILE *run_set_output(FILE *f)
{
	FILE *old = run_out;
	run_out = f;
	return old;
}

void run_printf(const char *fmt, ...)
{
	if (!run_out)
		return;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(run_out, fmt, ap);
	va_end(ap);
}

void run_flush(void)
{
	if (run_out)
		fflush(run_out);
}

/* --- keys ---------------------------------------------------------------------- */

static int key_index(const run_keys *k, const char *name)
{
	for (int i = 0; k && i < k->n; i++)
		if (!strcmp(k->names[i], name))
			return i;
	return -1;
}

int run_keys_set(run_keys *k, const char *name, const char *value,
		 sc_error *err)
{
	char *v = strdup(value);
	if (!v)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	int i = key_index(k, name);
	if (i >= 0) {
		free(k->values[i]);
		k->values[i] = v;
		return SC_OK;
	}
	if (k->n == k->cap) {
		int cap = k->cap ? 2 * k->cap : 16;
		char **n = realloc(k->names, (size_t)cap * sizeof *n);
		if (n)
			k->names = n;
		char **vs = n ? realloc(k->values, (size_t)cap * sizeof *vs) : NULL;
		if (vs)
			k->values = vs;
		if (!n || !vs) {
			free(v);
			return sc_fail(err, SC_ENOMEM, "out of memory");
		}
		k->cap = cap;
	}
	k->names[k->n] = strdup(name);
	if (!k->names[k->n]) {
		free(v);
		return sc_fail(err, SC_ENOMEM, "out of memory");
	}
	k->values[k->n++] = v;
	return SC_OK;
}

void run_keys_free(run_keys *k)
{
	for (int i = 0; i < k->n; i++) {
		free(k->names[i]);
		free(k->values[i]);
	}
	free(k->names);
	free(k->values);
	memset(k, 0, sizeof *k);
}

int run_keys_has(const run_keys *k, const char *name)
{
	return key_index(k, name) >= 0;
}

const char *run_keys_value(const run_keys *k, const char *name,
			   const char *dflt)
{
	int i = key_index(k, name);
	return i >= 0 ? k->values[i] : dflt;
}

int run_keys_flag(const run_keys *k, const char *name)
{
	const char *v = run_keys_value(k, name, NULL);
	return v && strcmp(v, "0") && strcmp(v, "false");
}

int run_check_int(const char *name, const char *s, long long min,
		  long long max, long long *out, sc_error *err)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (end == s || *end || errno == ERANGE || v < min || v > max ||
	    (*s < '0' || *s > '9')) {
		char shown[48];
		snprintf(shown, sizeof shown, "%.40s%s", s, strlen(s) > 40 ? "..." : "");
		return sc_fail(err, SC_EINVAL,
			       "--%s '%s': expected a whole number from %lld to %lld",
			       name, shown, min, max);
	}
	*out = v;
	return SC_OK;
}

int run_keys_int(const run_keys *k, const char *name, long long min,
		 long long max, long long dflt, long long *out, sc_error *err)
{
	const char *s = run_keys_value(k, name, NULL);
	*out = dflt;
	return s ? run_check_int(name, s, min, max, out, err) : SC_OK;
}

int run_check_double(const char *name, const char *s, double lo, double hi,
		     double *out, sc_error *err)
{
	char *end;
	errno = 0;
	double x = strtod(s, &end);
	if (end == s || *end || errno || !(x >= lo && x <= hi))
		return sc_fail(err, SC_EINVAL, "--%s '%s': expected a number from %g "
			       "to %g", name, s, lo, hi);
	*out = x;
	return SC_OK;
}

int run_check_nonneg(const char *name, const char *s, double *out,
		     sc_error *err)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || *end || errno == ERANGE || !isfinite(v) || v < 0)
		return sc_fail(err, SC_EINVAL,
			       "--%s: '%s' is not a finite number >= 0", name, s);
	*out = v;
	return SC_OK;
}

/* --- models -------------------------------------------------------------------- */

/* Messages from the graph passes do not know the file; name it once. */
static void prefix_path(sc_error *err, const char *path)
{
	size_t n = strlen(path);
	if (strncmp(err->msg, path, n) != 0)
		sc_error_prefix(err, "%s: ", path);
}

int run_load_model(const char *path, int infer, graph_model **out,
		   sc_error *err)
{
	*out = NULL;
	int rc = sc_check_input_file(path, "model", err);
	if (rc != SC_OK)
		return rc;
	graph_model *m = NULL;
	rc = onnx_load_file(path, &m, err);
	if (rc != SC_OK)
		return rc;
	rc = graph_validate(m, err);
	if (rc == SC_OK && infer)
		rc = graph_infer_shapes(m, err);
	if (rc != SC_OK) {
		prefix_path(err, path);
		graph_model_free(m);
		return rc;
	}
	*out = m;
	return SC_OK;
}
