/* conformance.c: runs ONNX's official backend test cases through the engine.
 *
 * Each case is a folder holding model.onnx and test_data_set_N/ folders of
 * input_i.pb / output_i.pb TensorProtos.  For every case the runner loads
 * the model, builds one plan (runtime/plan.h), runs every data set and
 * compares each output with ONNX's own rule (onnx/backend/test/runner):
 * dtype and shape exactly, floating values within |got - want| <= atol +
 * rtol * |want| with NaN matching NaN and infinities matching exactly,
 * everything else (integers, bool, strings) exactly.
 *
 * A case is
 *   passed       when every output of every data set matches;
 *   unsupported  when plan_create() refuses the model with SC_EUNSUPPORTED,
 *                or its inputs/outputs are sequences, optionals or maps
 *                (their .pb files are not TensorProtos);
 *   failed       otherwise, with a one-line reason.
 *
 * Usage: conformance [options] [DIR ...]
 *   DIR is a suite folder (node/, simple/, ...) whose sub-folders are cases,
 *   or one case folder; the default is the four suites under ONNX_TESTDATA.
 *   A case is named SUITE/CASE, e.g. node/test_relu.
 *   --filter SUBSTR          only cases whose name contains SUBSTR
 *   --threads N              plan threads (default 2, so results and timings
 *                            do not depend on the machine)
 *   --verbose                also print passed and unsupported cases
 *   --expected FILE          FILE lists cases that must pass, one per line,
 *                            '#' starts a comment.  Exit 1 if one of them
 *                            (among the cases --filter selects) does not
 *                            pass or was not found; passing cases missing
 *                            from FILE are reported as newly passing.
 *   --write-expected FILE    write the sorted list of passing cases
 *   --selftest               check the comparison itself on the suite's own
 *                            tensors, without running any model
 *
 * Exit status: 0 when all is well; 1 when a case failed (without
 * --expected, and unless --write-expected was asked for) or an expected
 * case did not pass; 2 for bad usage.  The last line of output is always
 * "N passed, N failed[, N skipped]" (skipped = unsupported).
 *
 * ONNX writes bfloat16 test tensors as UINT16 TensorProtos holding the
 * bfloat16 bits (its generator works in numpy, which has no bfloat16), so
 * a UINT16 .pb bound to a value the model declares bfloat16 is read as
 * bfloat16, bit for bit.
 *
 * Cases run in-process, one after the other.  If one crashes the process,
 * a signal handler (or the sanitizer's death callback) names it first. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "onnx/onnx.h"
#include "runtime/graph.h"
#include "runtime/plan.h"
#include "runtime/status.h"
#include "runtime/tensor.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define CONF_SANITIZED 1
#else
#define CONF_SANITIZED 0
#endif

#ifndef ONNX_TESTDATA
#define ONNX_TESTDATA "/usr/share/libonnx-testdata/data"
#endif

/* ONNX's backend test runner defaults. */
#define CONF_RTOL 1e-3
#define CONF_ATOL 1e-7

#define REASON_MAX (SC_ERROR_MAX + 512)
#define CONF_PATH_MAX 4096

static const char *const default_suites[] = {
	"node", "pytorch-converted", "pytorch-operator", "simple",
};

/* ---- small helpers ---------------------------------------------------- */

static char *xstrdup(const char *s)
{
	char *d = strdup(s);
	if (!d) {
		fprintf(stderr, "conformance: out of memory\n");
		exit(1);
	}
	return d;
}

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q) {
		fprintf(stderr, "conformance: out of memory\n");
		exit(1);
	}
	return q;
}

static int is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Formats a path into buf (CONF_PATH_MAX bytes).  Returns 0 when it does
 * not fit: a cut path could name some other file. */
static int path_fmt(char *buf, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int path_fmt(char *buf, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, CONF_PATH_MAX, fmt, ap);
	va_end(ap);
	return n >= 0 && n < CONF_PATH_MAX;
}

/* Reasons are printed one per line: fold any newline a message carries. */
static void one_line(char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r')
			*s = ' ';
}

static void set_reason(char *why, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_reason(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	one_line(why);
}

/* "[2,3,4]" */
static void format_dims(char *buf, size_t len, int rank, const int64_t *dims)
{
	size_t at = 0;
	at += (size_t)snprintf(buf, len, "[");
	for (int i = 0; i < rank && at < len; i++)
		at += (size_t)snprintf(buf + at, len - at, "%s%" PRId64,
				       i ? "," : "", dims[i]);
	if (at < len)
		snprintf(buf + at, len - at, "]");
}

/* Flat index -> "[i,j,k]" in t's shape. */
static void format_index(char *buf, size_t len, const sc_tensor *t, int64_t flat)
{
	int64_t idx[SC_MAX_RANK];
	for (int d = t->rank - 1; d >= 0; d--) {
		int64_t dim = t->dims[d] > 0 ? t->dims[d] : 1;
		idx[d] = flat % dim;
		flat /= dim;
	}
	format_dims(buf, len, t->rank, idx);
}

/* ---- comparison --------------------------------------------------------- */

/* Element i of a floating tensor as a double; complex tensors are read as
 * 2 * numel reals (real, imaginary). */
static double float_at(const sc_tensor *t, int64_t i)
{
	switch (t->dtype) {
	case SC_FLOAT:
	case SC_COMPLEX64:
		return ((const float *)t->data)[i];
	case SC_DOUBLE:
	case SC_COMPLEX128:
		return ((const double *)t->data)[i];
	case SC_FLOAT16:
		return tensor_half_to_float(((const uint16_t *)t->data)[i]);
	case SC_BFLOAT16:
		return tensor_bf16_to_float(((const uint16_t *)t->data)[i]);
	default:
		return NAN;
	}
}

static int is_complex(int dtype)
{
	return dtype == SC_COMPLEX64 || dtype == SC_COMPLEX128;
}

static int is_signed_int(int dtype)
{
	return dtype == SC_INT8 || dtype == SC_INT16 || dtype == SC_INT32 ||
	       dtype == SC_INT64;
}

static int is_unsigned_int(int dtype)
{
	return dtype == SC_UINT8 || dtype == SC_UINT16 || dtype == SC_UINT32 ||
	       dtype == SC_UINT64;
}

/* Integers are read at full width: going through double would make 2^53
 * and 2^53 + 1 equal. */
static int64_t sint_at(const sc_tensor *t, int64_t i)
{
	switch (t->dtype) {
	case SC_INT8: return ((const int8_t *)t->data)[i];
	case SC_INT16: return ((const int16_t *)t->data)[i];
	case SC_INT32: return ((const int32_t *)t->data)[i];
	default: return ((const int64_t *)t->data)[i];
	}
}

static uint64_t uint_at(const sc_tensor *t, int64_t i)
{
	switch (t->dtype) {
	case SC_UINT8: return ((const uint8_t *)t->data)[i];
	case SC_UINT16: return ((const uint16_t *)t->data)[i];
	case SC_UINT32: return ((const uint32_t *)t->data)[i];
	default: return ((const uint64_t *)t->data)[i];
	}
}

/* ONNX's rule for one floating element (numpy.isclose, equal_nan=True). */
static int float_close(double got, double want, double rtol, double atol)
{
	if (isnan(want) || isnan(got))
		return isnan(want) && isnan(got);
	if (isinf(want) || isinf(got))
		return got == want;
	return fabs(got - want) <= atol + rtol * fabs(want);
}

typedef struct mismatch {
	int64_t count;      /* elements that differ */
	int64_t first;      /* flat index of the first, in elements of the dtype */
	int64_t worst;      /* flat index of the largest excess over tolerance */
	double worst_excess;
} mismatch;

static void note_mismatch(mismatch *mm, int64_t i, double excess)
{
	if (mm->count++ == 0) {
		mm->first = i;
		mm->worst = i;
		mm->worst_excess = excess;
	} else if (excess > mm->worst_excess) {
		mm->worst = i;
		mm->worst_excess = excess;
	}
}

static void compare_floats(const sc_tensor *got, const sc_tensor *want,
			   double rtol, double atol, mismatch *mm)
{
	int64_t n = want->numel * (is_complex(want->dtype) ? 2 : 1);
	for (int64_t i = 0; i < n; i++) {
		double g = float_at(got, i), w = float_at(want, i);
		if (float_close(g, w, rtol, atol))
			continue;
		double excess = isfinite(g) && isfinite(w) ?
			fabs(g - w) - (atol + rtol * fabs(w)) : INFINITY;
		note_mismatch(mm, i, excess);
	}
}

static void compare_exact(const sc_tensor *got, const sc_tensor *want,
			  mismatch *mm)
{
	for (int64_t i = 0; i < want->numel; i++) {
		int same;
		if (want->dtype == SC_BOOL) {
			same = (((const uint8_t *)got->data)[i] != 0) ==
			       (((const uint8_t *)want->data)[i] != 0);
		} else if (want->dtype == SC_STRING) {
			const sc_bytes *a = (const sc_bytes *)got->data + i;
			const sc_bytes *b = (const sc_bytes *)want->data + i;
			same = a->len == b->len &&
			       (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
		} else if (is_signed_int(want->dtype)) {
			same = sint_at(got, i) == sint_at(want, i);
		} else if (is_unsigned_int(want->dtype)) {
			same = uint_at(got, i) == uint_at(want, i);
		} else {
			size_t es = tensor_dtype_size(want->dtype);
			same = memcmp((const char *)got->data + (size_t)i * es,
				      (const char *)want->data + (size_t)i * es,
				      es) == 0;
		}
		if (!same)
			note_mismatch(mm, i, 0);
	}
}

static void format_value(char *buf, size_t len, const sc_tensor *t, int64_t i)
{
	if (tensor_dtype_is_float(t->dtype) || is_complex(t->dtype)) {
		snprintf(buf, len, t->dtype == SC_DOUBLE ||
			 t->dtype == SC_COMPLEX128 ? "%.17g" : "%.9g",
			 float_at(t, i));
	} else if (t->dtype == SC_BOOL) {
		snprintf(buf, len, "%s",
			 ((const uint8_t *)t->data)[i] ? "true" : "false");
	} else if (t->dtype == SC_STRING) {
		const sc_bytes *b = (const sc_bytes *)t->data + i;
		int shown = b->len > 40 ? 40 : (int)b->len;
		snprintf(buf, len, "\"%.*s\"%s", shown, b->len ? b->data : "",
			 b->len > 40 ? "..." : "");
	} else if (is_signed_int(t->dtype)) {
		snprintf(buf, len, "%" PRId64, sint_at(t, i));
	} else {
		snprintf(buf, len, "%" PRIu64, uint_at(t, i));
	}
}

/* 1 when got matches want under ONNX's rule; otherwise 0 with a one-line
 * reason in why (no prefix: the caller names the output). */
static int tensor_close(const sc_tensor *got, const sc_tensor *want,
			double rtol, double atol, char *why, size_t len)
{
	char a[256], b[256];
	if (got->dtype != want->dtype) {
		set_reason(why, len, "dtype %s, expected %s",
			   tensor_dtype_name(got->dtype),
			   tensor_dtype_name(want->dtype));
		return 0;
	}
	int same_shape = got->rank == want->rank;
	for (int d = 0; same_shape && d < want->rank; d++)
		same_shape = got->dims[d] == want->dims[d];
	if (!same_shape) {
		format_dims(a, sizeof a, got->rank, got->dims);
		format_dims(b, sizeof b, want->rank, want->dims);
		set_reason(why, len, "shape %s, expected %s", a, b);
		return 0;
	}
	if (want->numel == 0)
		return 1;
	if (!got->data || !want->data) {
		set_reason(why, len, "%s has no data", got->data ? "expected" : "output");
		return 0;
	}
	if (!tensor_dtype_valid(want->dtype) || want->dtype == SC_UNDEFINED) {
		set_reason(why, len, "cannot compare dtype %d", want->dtype);
		return 0;
	}

	mismatch mm = {0};
	int floating = tensor_dtype_is_float(want->dtype) || is_complex(want->dtype);
	if (floating)
		compare_floats(got, want, rtol, atol, &mm);
	else
		compare_exact(got, want, &mm);
	if (mm.count == 0)
		return 1;

	/* Report the worst element: it is the one a fix has to reach. */
	int64_t at = floating ? mm.worst : mm.first;
	int64_t elem = is_complex(want->dtype) ? at / 2 : at;
	char idx[256], gv[96], wv[96];
	format_index(idx, sizeof idx, want, elem);
	format_value(gv, sizeof gv, got, at);
	format_value(wv, sizeof wv, want, at);
	int64_t total = want->numel * (is_complex(want->dtype) ? 2 : 1);
	if (floating) {
		double w = float_at(want, at), g = float_at(got, at);
		set_reason(why, len,
			   "%" PRId64 " of %" PRId64 " values differ; worst at %s%s: got %s, expected %s (|diff| %.3g, tolerance %.3g)",
			   mm.count, total, idx,
			   is_complex(want->dtype) ? (at % 2 ? ".imag" : ".real") : "",
			   gv, wv, fabs(g - w), atol + rtol * fabs(w));
	} else {
		set_reason(why, len,
			   "%" PRId64 " of %" PRId64 " values differ; first at %s: got %s, expected %s",
			   mm.count, total, idx, gv, wv);
	}
	return 0;
}

/* ---- the cases -------------------------------------------------------- */

typedef struct conf_case {
	char *name;   /* SUITE/CASE */
	char *dir;
} conf_case;

typedef struct case_list {
	conf_case *v;
	int n, cap;
} case_list;

static void case_add(case_list *l, const char *name, const char *dir)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 256;
		l->v = xrealloc(l->v, (size_t)l->cap * sizeof *l->v);
	}
	l->v[l->n].name = xstrdup(name);
	l->v[l->n].dir = xstrdup(dir);
	l->n++;
}

static void case_list_free(case_list *l)
{
	for (int i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].dir);
	}
	free(l->v);
	memset(l, 0, sizeof *l);
}

static int cmp_case(const void *a, const void *b)
{
	return strcmp(((const conf_case *)a)->name, ((const conf_case *)b)->name);
}

/* The last component of path, in buf (CONF_PATH_MAX bytes). */
static const char *base_name(const char *path, char *buf)
{
	if (!path_fmt(buf, "%s", path))
		return "?";
	size_t n = strlen(buf);
	while (n > 1 && buf[n - 1] == '/')
		buf[--n] = '\0';
	char *slash = strrchr(buf, '/');
	return slash ? slash + 1 : buf;
}

/* A folder holding model.onnx is one case, named by its parent folder and
 * itself; any other folder is a suite whose sub-folders are cases. */
static int collect_cases(const char *dir, const char *filter, case_list *out)
{
	char path[CONF_PATH_MAX], name[CONF_PATH_MAX], buf[CONF_PATH_MAX];
	if (!path_fmt(path, "%s/model.onnx", dir)) {
		fprintf(stderr, "conformance: %s: path too long\n", dir);
		return -1;
	}
	if (is_file(path)) {
		char parent[CONF_PATH_MAX], real_parent[PATH_MAX], tmp[CONF_PATH_MAX];
		const char *suite = "case";
		if (path_fmt(parent, "%s/..", dir) && realpath(parent, real_parent))
			suite = base_name(real_parent, buf);
		if (!path_fmt(name, "%s/%s", suite, base_name(dir, tmp))) {
			fprintf(stderr, "conformance: %s: path too long\n", dir);
			return -1;
		}
		if (!filter || strstr(name, filter))
			case_add(out, name, dir);
		return 0;
	}
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(stderr, "conformance: %s: cannot open: %s\n", dir,
			strerror(errno));
		return -1;
	}
	const char *suite = base_name(dir, buf);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (!path_fmt(path, "%s/%s/model.onnx", dir, e->d_name) ||
		    !is_file(path))
			continue;
		if (!path_fmt(name, "%s/%s", suite, e->d_name) ||
		    (filter && !strstr(name, filter)))
			continue;
		path_fmt(path, "%s/%s", dir, e->d_name);
		case_add(out, name, path);
	}
	closedir(d);
	return 0;
}

/* The numbers N of a case's test_data_set_N folders, ascending. */
static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

static int list_data_sets(const char *dir, int **sets)
{
	*sets = NULL;
	int n = 0, cap = 0;
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		const char *p = "test_data_set_";
		if (strncmp(e->d_name, p, strlen(p)) != 0)
			continue;
		char *end;
		long k = strtol(e->d_name + strlen(p), &end, 10);
		if (*end || end == e->d_name + strlen(p) || k < 0 || k > 1000000)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 4;
			*sets = xrealloc(*sets, (size_t)cap * sizeof **sets);
		}
		(*sets)[n++] = (int)k;
	}
	closedir(d);
	qsort(*sets, (size_t)n, sizeof **sets, cmp_int);
	return n;
}

/* input_0.pb, input_1.pb, ... counted until the first one missing. */
static int count_pb(const char *set_dir, const char *kind)
{
	char path[CONF_PATH_MAX];
	int n = 0;
	for (;; n++) {
		if (!path_fmt(path, "%s/%s_%d.pb", set_dir, kind, n) ||
		    !is_file(path))
			return n;
	}
}

/* ---- per-op statistics ------------------------------------------------ */

enum { CASE_PASSED, CASE_FAILED, CASE_UNSUPPORTED, CASE_NSTATUS };

typedef struct op_stat {
	char *op;
	int count[CASE_NSTATUS];
} op_stat;

typedef struct op_table {
	op_stat *v;
	int n, cap;
} op_table;

typedef struct name_set {
	char **v;
	int n, cap;
} name_set;

static void name_set_add(name_set *s, const char *name)
{
	for (int i = 0; i < s->n; i++)
		if (strcmp(s->v[i], name) == 0)
			return;
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 16;
		s->v = xrealloc(s->v, (size_t)s->cap * sizeof *s->v);
	}
	s->v[s->n++] = xstrdup(name);
}

static void name_set_free(name_set *s)
{
	for (int i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof *s);
}

/* Every distinct op of g and of its subgraphs (If/Loop/Scan bodies), as
 * "Op" for ONNX's default domain and "domain:Op" otherwise. */
static void collect_ops(const graph *g, name_set *ops)
{
	char key[512];
	for (int i = 0; i < g->n_nodes; i++) {
		const graph_node *n = &g->nodes[i];
		const char *dom = n->domain ? n->domain : "";
		if (dom[0] == '\0' || strcmp(dom, "ai.onnx") == 0)
			snprintf(key, sizeof key, "%s", n->op_type);
		else
			snprintf(key, sizeof key, "%s:%s", dom, n->op_type);
		name_set_add(ops, key);
		for (int a = 0; a < n->n_attrs; a++) {
			const graph_attr *at = &n->attrs[a];
			if (at->type == ATTR_GRAPH && at->g)
				collect_ops(at->g, ops);
			if (at->type == ATTR_GRAPHS)
				for (int k = 0; k < at->n; k++)
					if (at->graphs[k])
						collect_ops(at->graphs[k], ops);
		}
	}
}

static void op_table_count(op_table *t, const name_set *ops, int status)
{
	for (int i = 0; i < ops->n; i++) {
		int k = 0;
		while (k < t->n && strcmp(t->v[k].op, ops->v[i]) != 0)
			k++;
		if (k == t->n) {
			if (t->n == t->cap) {
				t->cap = t->cap ? 2 * t->cap : 64;
				t->v = xrealloc(t->v, (size_t)t->cap * sizeof *t->v);
			}
			memset(&t->v[k], 0, sizeof t->v[k]);
			t->v[k].op = xstrdup(ops->v[i]);
			t->n++;
		}
		t->v[k].count[status]++;
	}
}

static int cmp_op_stat(const void *a, const void *b)
{
	return strcmp(((const op_stat *)a)->op, ((const op_stat *)b)->op);
}

static void op_table_print(op_table *t, const int totals[CASE_NSTATUS])
{
	qsort(t->v, (size_t)t->n, sizeof *t->v, cmp_op_stat);
	int w = 24;
	for (int i = 0; i < t->n; i++)
		if ((int)strlen(t->v[i].op) > w)
			w = (int)strlen(t->v[i].op);
	printf("\n%-*s %7s %7s %12s\n", w, "op", "passed", "failed", "unsupported");
	for (int i = 0; i < t->n; i++)
		printf("%-*s %7d %7d %12d\n", w, t->v[i].op,
		       t->v[i].count[CASE_PASSED], t->v[i].count[CASE_FAILED],
		       t->v[i].count[CASE_UNSUPPORTED]);
	printf("%-*s %7d %7d %12d\n", w, "total (cases)", totals[CASE_PASSED],
	       totals[CASE_FAILED], totals[CASE_UNSUPPORTED]);
}

static void op_table_free(op_table *t)
{
	for (int i = 0; i < t->n; i++)
		free(t->v[i].op);
	free(t->v);
	memset(t, 0, sizeof *t);
}

/* ---- running one case ------------------------------------------------- */

typedef struct conf_opts {
	const char *filter;
	const char *expected;
	const char *write_expected;
	int threads;
	int verbose;
	int selftest;
} conf_opts;

static int type_is_tensor(const graph_type *t)
{
	return t->kind == GRAPH_TYPE_TENSOR || t->kind == GRAPH_TYPE_NONE;
}

static const char *type_kind_name(const graph_type *t)
{
	switch (t->kind) {
	case GRAPH_TYPE_SEQUENCE: return "a sequence";
	case GRAPH_TYPE_MAP: return "a map";
	case GRAPH_TYPE_OPTIONAL: return "an optional";
	case GRAPH_TYPE_SPARSE_TENSOR: return "a sparse tensor";
	default: return "a tensor";
	}
}

/* The first graph input or output that is not a plain tensor, or -1:
 * its test data is a SequenceProto/OptionalProto/MapProto, which the
 * runner (and the engine) does not handle. */
static int first_non_tensor_io(const graph *g)
{
	for (int i = 0; i < g->n_inputs; i++)
		if (!type_is_tensor(&g->values[g->inputs[i]].type))
			return g->inputs[i];
	for (int i = 0; i < g->n_outputs; i++)
		if (!type_is_tensor(&g->values[g->outputs[i]].type))
			return g->outputs[i];
	return -1;
}

/* Loads one .pb of a data set.  A file that is not a TensorProto makes the
 * case unsupported when the model declares non-tensor values (the file is
 * then a SequenceProto or an OptionalProto), failed otherwise. */
static int load_pb(const char *path, const graph_model *m, sc_tensor *t,
		   char *why, size_t len)
{
	sc_error err = {0};
	if (onnx_tensor_load_file(path, t, NULL, &err) == SC_OK)
		return CASE_PASSED;
	int v = first_non_tensor_io(m->graph);
	if (v >= 0) {
		set_reason(why, len, "%s is not a TensorProto and '%s' is %s",
			   path, m->graph->values[v].name,
			   type_kind_name(&m->graph->values[v].type));
		return CASE_UNSUPPORTED;
	}
	set_reason(why, len, "%s", err.msg);
	return CASE_FAILED;
}

/* See the top of the file: the bits are bfloat16, the label says uint16. */
static void relabel_bf16(sc_tensor *t, const graph_type *declared)
{
	if (declared && declared->kind == GRAPH_TYPE_TENSOR &&
	    declared->elem == SC_BFLOAT16 && t->dtype == SC_UINT16)
		t->dtype = SC_BFLOAT16;
}

static int run_data_set(plan *p, const graph_model *m, const char *set_dir,
			char *why, size_t len)
{
	int n_in = count_pb(set_dir, "input");
	int n_out = count_pb(set_dir, "output");
	int want_in = plan_input_count(p), want_out = plan_output_count(p);
	if (n_in > want_in) {
		set_reason(why, len, "%d input files but the model has %d non-initializer inputs",
			   n_in, want_in);
		return CASE_FAILED;
	}
	if (n_out != want_out) {
		set_reason(why, len, "%d output files but the model has %d outputs",
			   n_out, want_out);
		return CASE_FAILED;
	}

	int status = CASE_PASSED, loaded = 0;
	sc_error err = {0};
	char path[CONF_PATH_MAX];
	sc_tensor *inputs = calloc((size_t)n_in + 1, sizeof *inputs);
	const sc_tensor **in_ptrs = calloc((size_t)n_in + 1, sizeof *in_ptrs);
	const char **names = calloc((size_t)n_in + 1, sizeof *names);
	if (!inputs || !in_ptrs || !names) {
		set_reason(why, len, "out of memory");
		status = CASE_FAILED;
		goto out;
	}
	for (; loaded < n_in; loaded++) {
		const graph_type *ty = plan_input_type(p, loaded);
		names[loaded] = plan_input_name(p, loaded);
		if (ty && !type_is_tensor(ty)) {
			set_reason(why, len, "input '%s' is %s", names[loaded],
				   type_kind_name(ty));
			status = CASE_UNSUPPORTED;
			goto out;
		}
		path_fmt(path, "%s/input_%d.pb", set_dir, loaded); /* fits: count_pb */
		status = load_pb(path, m, &inputs[loaded], why, len);
		if (status != CASE_PASSED)
			goto out;
		relabel_bf16(&inputs[loaded], ty);
		in_ptrs[loaded] = &inputs[loaded];
	}

	if (plan_run(p, n_in, names, in_ptrs, &err) != SC_OK) {
		set_reason(why, len, "run: %s", err.msg);
		status = CASE_FAILED;
		goto out;
	}

	for (int i = 0; i < n_out && status == CASE_PASSED; i++) {
		sc_tensor want;
		path_fmt(path, "%s/output_%d.pb", set_dir, i); /* fits: count_pb */
		status = load_pb(path, m, &want, why, len);
		if (status != CASE_PASSED)
			break;
		relabel_bf16(&want, i < m->graph->n_outputs ?
			     &m->graph->values[m->graph->outputs[i]].type : NULL);
		const sc_tensor *got = plan_output(p, i);
		char detail[REASON_MAX];
		if (!got) {
			set_reason(why, len, "output %d '%s': no tensor after the run",
				   i, plan_output_name(p, i));
			status = CASE_FAILED;
		} else if (!tensor_close(got, &want, CONF_RTOL, CONF_ATOL, detail,
					 sizeof detail)) {
			set_reason(why, len, "output %d '%s': %s", i,
				   plan_output_name(p, i), detail);
			status = CASE_FAILED;
		}
		tensor_free(&want);
	}
out:
	for (int i = 0; i < loaded && inputs; i++)
		tensor_free(&inputs[i]);
	free(inputs);
	free(in_ptrs);
	free(names);
	return status;
}

static int run_case(const conf_case *c, const conf_opts *o, name_set *ops,
		    char *why, size_t len)
{
	char path[CONF_PATH_MAX];
	sc_error err = {0};
	graph_model *m = NULL;
	plan *p = NULL;
	int *sets = NULL;
	int status = CASE_FAILED;

	path_fmt(path, "%s/model.onnx", c->dir); /* fits: collect_cases */
	if (onnx_load_file(path, &m, &err) != SC_OK) {
		set_reason(why, len, "load: %s", err.msg);
		goto out;
	}
	collect_ops(m->graph, ops);

	int v = first_non_tensor_io(m->graph);
	if (v >= 0) {
		set_reason(why, len, "'%s' is %s", m->graph->values[v].name,
			   type_kind_name(&m->graph->values[v].type));
		status = CASE_UNSUPPORTED;
		goto out;
	}

	plan_options popt = {.threads = o->threads};
	int rc = plan_create(m, &popt, &p, &err);
	if (rc != SC_OK) {
		set_reason(why, len, "%s", err.msg);
		status = rc == SC_EUNSUPPORTED ? CASE_UNSUPPORTED : CASE_FAILED;
		p = NULL;
		goto out;
	}

	int n_sets = list_data_sets(c->dir, &sets);
	if (n_sets == 0) {
		set_reason(why, len, "no test_data_set_N folder");
		goto out;
	}
	for (int s = 0; s < n_sets; s++) {
		char set_dir[CONF_PATH_MAX], detail[REASON_MAX];
		if (!path_fmt(set_dir, "%s/test_data_set_%d", c->dir, sets[s])) {
			set_reason(why, len, "%s: path too long", c->dir);
			status = CASE_FAILED;
			break;
		}
		status = run_data_set(p, m, set_dir, detail, sizeof detail);
		if (status != CASE_PASSED) {
			if (n_sets > 1)
				set_reason(why, len, "test_data_set_%d: %s",
					   sets[s], detail);
			else
				set_reason(why, len, "%s", detail);
			break;
		}
	}
out:
	free(sets);
	if (p)
		plan_free(p);
	graph_model_free(m);
	return status;
}

/* ---- crash reporting -------------------------------------------------- */

/* The case being run, so that a crash names it before the process dies. */
static const char *volatile current_case;

static void report_crash_case(void)
{
	const char *name = current_case;
	if (!name)
		return;
	static const char pre[] = "conformance: crashed while running ";
	ssize_t w = write(STDERR_FILENO, pre, sizeof pre - 1);
	w = write(STDERR_FILENO, name, strlen(name));
	w = write(STDERR_FILENO, "\n", 1);
	(void)w;
}

#if CONF_SANITIZED
static void install_crash_report(void)
{
	/* The sanitizer's own report (with its stack) comes first. */
	__sanitizer_set_death_callback(report_crash_case);
}
#else
static void on_fatal_signal(int sig)
{
	report_crash_case();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void install_crash_report(void)
{
	static const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		signal(sigs[i], on_fatal_signal);
}
#endif

/* ---- expected list ---------------------------------------------------- */

/* Reads FILE: one case name per line, '#' comments, blank lines ignored. */
static int read_expected(const char *path, name_set *out)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "conformance: %s: cannot open: %s\n", path,
			strerror(errno));
		return -1;
	}
	char line[4096];
	while (fgets(line, sizeof line, f)) {
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *s = line;
		while (*s == ' ' || *s == '\t')
			s++;
		char *e = s + strlen(s);
		while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' ||
				 e[-1] == '\r'))
			*--e = '\0';
		if (*s)
			name_set_add(out, s);
	}
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		fprintf(stderr, "conformance: %s: read error\n", path);
		return -1;
	}
	return 0;
}

static int write_expected(const char *path, char **passed, int n)
{
	char tmp[CONF_PATH_MAX];
	if (!path_fmt(tmp, "%s.tmp", path)) {
		fprintf(stderr, "conformance: %s: path too long\n", path);
		return -1;
	}
	FILE *f = fopen(tmp, "w");
	if (!f) {
		fprintf(stderr, "conformance: %s: cannot create: %s\n", tmp,
			strerror(errno));
		return -1;
	}
	fprintf(f,
		"# ONNX backend test cases that must pass: the conformance CTest test\n"
		"# fails if one of them does not.  Generated by\n"
		"# tests/update_conformance_expected.sh from a build's conformance\n"
		"# runner (tests/conformance.c); regenerate it rather than editing it,\n"
		"# and review the diff: a line that disappears is a regression.\n");
	for (int i = 0; i < n; i++)
		fprintf(f, "%s\n", passed[i]);
	int bad = ferror(f);
	if (fclose(f) || bad || rename(tmp, path)) {
		fprintf(stderr, "conformance: %s: cannot write: %s\n", path,
			strerror(errno));
		remove(tmp);
		return -1;
	}
	return 0;
}

/* Listed cases that did not pass (or were not found) are errors; passing
 * cases not listed are news.  Returns the number of errors. */
static int check_expected(const char *path, const name_set *expected,
			  const case_list *cases, const int *status,
			  const char *filter)
{
	int errors = 0, considered = 0, newly = 0;
	for (int i = 0; i < expected->n; i++) {
		const char *name = expected->v[i];
		if (filter && !strstr(name, filter))
			continue;
		considered++;
		int k = 0;
		while (k < cases->n && strcmp(cases->v[k].name, name) != 0)
			k++;
		if (k == cases->n) {
			printf("expected to pass but not found: %s\n", name);
			errors++;
		} else if (status[k] != CASE_PASSED) {
			printf("expected to pass but %s: %s\n",
			       status[k] == CASE_FAILED ? "failed" : "unsupported",
			       name);
			errors++;
		}
	}
	for (int k = 0; k < cases->n; k++) {
		if (status[k] != CASE_PASSED)
			continue;
		int listed = 0;
		for (int i = 0; i < expected->n && !listed; i++)
			listed = strcmp(expected->v[i], cases->v[k].name) == 0;
		if (!listed) {
			printf("newly passing (not in %s): %s\n", path,
			       cases->v[k].name);
			newly++;
		}
	}
	printf("expected: %d cases listed in %s, %d of them did not pass, %d newly passing\n",
	       considered, path, errors, newly);
	return errors;
}

/* ---- selftest: the comparison on the suite's own tensors ------------- */

typedef struct selftest {
	int checks, failures, tensors;
	int verbose;
} selftest;

static void expect(selftest *st, int cond, const char *what, const char *ctx,
		   const char *why)
{
	st->checks++;
	if (cond) {
		if (st->verbose)
			printf("ok: %s: %s%s%s\n", ctx, what, why ? ": " : "",
			       why ? why : "");
		return;
	}
	st->failures++;
	printf("SELFTEST FAILED: %s: %s%s%s%s\n", ctx, what, why ? " (" : "",
	       why ? why : "", why ? ")" : "");
}

static void expect_match(selftest *st, const sc_tensor *got,
			 const sc_tensor *want, int should, const char *what,
			 const char *ctx)
{
	char why[REASON_MAX] = "";
	int r = tensor_close(got, want, CONF_RTOL, CONF_ATOL, why, sizeof why);
	expect(st, r == should, what, ctx, r ? NULL : why);
}

static void set_float_at(sc_tensor *t, int64_t i, double v)
{
	switch (t->dtype) {
	case SC_FLOAT:
	case SC_COMPLEX64:
		((float *)t->data)[i] = (float)v;
		break;
	case SC_DOUBLE:
	case SC_COMPLEX128:
		((double *)t->data)[i] = v;
		break;
	case SC_FLOAT16:
		((uint16_t *)t->data)[i] = tensor_float_to_half((float)v);
		break;
	case SC_BFLOAT16:
		((uint16_t *)t->data)[i] = tensor_float_to_bf16((float)v);
		break;
	default:
		break;
	}
}

/* Index of the value to perturb: a finite one of magnitude >= 1e-3 if
 * there is one (so that a relative change is not lost in atol), else any
 * finite one, searching from the middle; -1 when all are NaN or inf. */
static int64_t pick_finite(const sc_tensor *t)
{
	int64_t n = t->numel * (is_complex(t->dtype) ? 2 : 1);
	int64_t any = -1;
	for (int64_t k = 0; k < n; k++) {
		int64_t i = (n / 2 + k) % n;
		double v = float_at(t, i);
		if (!isfinite(v))
			continue;
		if (fabs(v) >= 1e-3)
			return i;
		if (any < 0)
			any = i;
	}
	return any;
}

/* Changes one value of t: far (1e-2 relative, or 1e-2 absolute for a value
 * under 1e-3) or near (2e-4 relative, or 5e-8 absolute: inside ONNX's
 * tolerance).  Returns the stored change in tolerance units, so the caller
 * can tell whether a far change survived rounding to the dtype. */
static double perturb_float(sc_tensor *t, int far)
{
	int64_t i = pick_finite(t);
	if (i < 0) {
		/* all NaN/inf: a finite value must not match them */
		set_float_at(t, 0, 0.0);
		return INFINITY;
	}
	double v = float_at(t, i);
	double nv;
	if (fabs(v) >= 1e-3)
		nv = v * (1 + (far ? 1e-2 : 2e-4));
	else
		nv = v + (far ? 1e-2 : 5e-8);
	set_float_at(t, i, nv);
	double stored = float_at(t, i);
	return fabs(stored - v) / (CONF_ATOL + CONF_RTOL * fabs(v));
}

/* One exact-typed element changed: +1 for integers, flipped for bool, one
 * bit of a non-empty string.  0 if t has nothing that can change. */
static int perturb_exact(sc_tensor *t)
{
	int64_t i = t->numel / 2;
	switch (t->dtype) {
	case SC_BOOL:
		((uint8_t *)t->data)[i] = !((uint8_t *)t->data)[i];
		return 1;
	case SC_INT8: ((int8_t *)t->data)[i] += 1; return 1;
	case SC_UINT8: ((uint8_t *)t->data)[i] += 1; return 1;
	case SC_INT16: ((int16_t *)t->data)[i] += 1; return 1;
	case SC_UINT16: ((uint16_t *)t->data)[i] += 1; return 1;
	case SC_INT32: ((int32_t *)t->data)[i] += 1; return 1;
	case SC_UINT32: ((uint32_t *)t->data)[i] += 1; return 1;
	/* through unsigned: wrapping at INT64_MAX is defined there */
	case SC_INT64: {
		uint64_t u;
		memcpy(&u, (int64_t *)t->data + i, sizeof u);
		u += 1;
		memcpy((int64_t *)t->data + i, &u, sizeof u);
		return 1;
	}
	case SC_UINT64: ((uint64_t *)t->data)[i] += 1; return 1;
	case SC_STRING:
		for (int64_t k = 0; k < t->numel; k++) {
			sc_bytes *b = (sc_bytes *)t->data + k;
			if (b->len) {
				b->data[0] ^= 1;
				return 1;
			}
		}
		return 0;
	default:
		return 0;
	}
}

/* Same size, different dtype: float32 <-> int32, and so on. */
static int other_dtype_same_size(int dtype)
{
	switch (tensor_dtype_size(dtype)) {
	case 1: return dtype == SC_UINT8 ? SC_INT8 : SC_UINT8;
	case 2: return dtype == SC_FLOAT16 ? SC_BFLOAT16 : SC_FLOAT16;
	case 4: return dtype == SC_FLOAT ? SC_INT32 : SC_FLOAT;
	case 8: return dtype == SC_DOUBLE ? SC_INT64 : SC_DOUBLE;
	default: return SC_UNDEFINED;
	}
}

static void selftest_tensor(selftest *st, const char *path)
{
	sc_tensor want, again, bent;
	sc_error err = {0};
	if (onnx_tensor_load_file(path, &want, NULL, &err) != SC_OK)
		return; /* sequences and optionals: nothing to compare here */
	st->tensors++;
	if (onnx_tensor_load_file(path, &again, NULL, &err) != SC_OK) {
		expect(st, 0, "second load", path, err.msg);
		tensor_free(&want);
		return;
	}
	expect_match(st, &again, &want, 1, "identical tensor matches", path);
	tensor_free(&again);
	if (want.numel == 0) {
		tensor_free(&want);
		return;
	}

	int floating = tensor_dtype_is_float(want.dtype) || is_complex(want.dtype);
	if (tensor_copy(&bent, &want, &err) != SC_OK) {
		expect(st, 0, "copy", path, err.msg);
		tensor_free(&want);
		return;
	}
	if (floating) {
		double units = perturb_float(&bent, 1);
		expect(st, units > 1, "1e-2 relative change survives rounding",
		       path, NULL);
		expect_match(st, &bent, &want, 0, "1e-2 relative change fails",
			     path);
		tensor_free(&bent);
		if (tensor_copy(&bent, &want, &err) == SC_OK) {
			/* well inside tolerance: the comparison must not be
			 * stricter than ONNX's */
			perturb_float(&bent, 0);
			expect_match(st, &bent, &want, 1,
				     "2e-4 relative change passes", path);
		}
	} else if (perturb_exact(&bent)) {
		expect_match(st, &bent, &want, 0, "one value changed by one fails",
			     path);
	}
	tensor_free(&bent);

	/* Same bytes, other shape: [d0, ..., dn, 1]. */
	if (want.rank < SC_MAX_RANK && tensor_copy(&bent, &want, &err) == SC_OK) {
		bent.dims[bent.rank++] = 1;
		expect_match(st, &bent, &want, 0, "extra unit dim fails", path);
		tensor_free(&bent);
	}
	int other = other_dtype_same_size(want.dtype);
	if (other != SC_UNDEFINED && want.dtype != SC_STRING &&
	    tensor_copy(&bent, &want, &err) == SC_OK) {
		bent.dtype = other;
		expect_match(st, &bent, &want, 0, "other dtype, same bytes, fails",
			     path);
		tensor_free(&bent);
	}
	tensor_free(&want);
}

static void make_scalar(sc_tensor *t, int dtype, void *data, size_t size)
{
	memset(t, 0, sizeof *t);
	t->dtype = dtype;
	t->rank = 1;
	t->dims[0] = 1;
	t->numel = 1;
	t->nbytes = size;
	t->data = data;
}

static void check_pair_f64(selftest *st, double got, double want, int should,
			   const char *what)
{
	sc_tensor a, b;
	make_scalar(&a, SC_DOUBLE, &got, sizeof got);
	make_scalar(&b, SC_DOUBLE, &want, sizeof want);
	expect_match(st, &a, &b, should, what, "rule");
}

static void check_pair_f32(selftest *st, float got, float want, int should,
			   const char *what)
{
	sc_tensor a, b;
	make_scalar(&a, SC_FLOAT, &got, sizeof got);
	make_scalar(&b, SC_FLOAT, &want, sizeof want);
	expect_match(st, &a, &b, should, what, "rule");
}

/* The rule on hand-picked values, independent of the test data. */
static void selftest_rule(selftest *st)
{
	check_pair_f32(st, NAN, NAN, 1, "NaN matches NaN");
	check_pair_f32(st, 1.0f, NAN, 0, "1 does not match NaN");
	check_pair_f32(st, NAN, 1.0f, 0, "NaN does not match 1");
	check_pair_f32(st, INFINITY, INFINITY, 1, "inf matches inf");
	check_pair_f32(st, -INFINITY, INFINITY, 0, "-inf does not match inf");
	check_pair_f32(st, 3.4e38f, INFINITY, 0, "FLT_MAX-ish does not match inf");
	check_pair_f32(st, 0.0f, 1e-7f, 1, "atol: 0 matches 1e-7");
	check_pair_f32(st, 0.0f, 3e-7f, 0, "atol: 0 does not match 3e-7");
	check_pair_f32(st, 1000.9f, 1000.0f, 1, "rtol: 1000.9 matches 1000");
	check_pair_f32(st, 1001.2f, 1000.0f, 0, "rtol: 1001.2 does not match 1000");
	check_pair_f32(st, -0.0f, 0.0f, 1, "-0 matches 0");
	check_pair_f64(st, 1.0 + 1e-12, 1.0, 1, "double: 1+1e-12 matches 1");
	check_pair_f64(st, 1.002, 1.0, 0, "double: 1.002 does not match 1");
	check_pair_f64(st, 1e300, 1e300 * 1.0005, 1, "double: rtol at 1e300");

	/* tolerance is relative to the expected value, not the actual one */
	check_pair_f64(st, 0.0, 1e-4, 0, "0 does not match 1e-4");

	int64_t big[2] = {((int64_t)1 << 53) + 1, (int64_t)1 << 53};
	sc_tensor a, b;
	make_scalar(&a, SC_INT64, &big[0], 8);
	make_scalar(&b, SC_INT64, &big[1], 8);
	expect_match(st, &a, &b, 0, "int64 2^53+1 does not match 2^53", "rule");
	uint64_t ubig[2] = {UINT64_MAX, UINT64_MAX - 1};
	make_scalar(&a, SC_UINT64, &ubig[0], 8);
	make_scalar(&b, SC_UINT64, &ubig[1], 8);
	expect_match(st, &a, &b, 0, "uint64 max does not match max-1", "rule");
	make_scalar(&b, SC_UINT64, &ubig[0], 8);
	expect_match(st, &a, &b, 1, "uint64 max matches itself", "rule");

	uint16_t h[2] = {tensor_float_to_half(1.0f), tensor_float_to_half(1.0f)};
	make_scalar(&a, SC_FLOAT16, &h[0], 2);
	make_scalar(&b, SC_FLOAT16, &h[1], 2);
	expect_match(st, &a, &b, 1, "float16 1 matches 1", "rule");
	h[0] = tensor_float_to_half(1.0f + 1.0f / 512);  /* 2 ulp, 2e-3 */
	expect_match(st, &a, &b, 0, "float16 1+2^-9 does not match 1", "rule");
	uint16_t bf[2] = {tensor_float_to_bf16(2.0f), tensor_float_to_bf16(2.0f)};
	make_scalar(&a, SC_BFLOAT16, &bf[0], 2);
	make_scalar(&b, SC_BFLOAT16, &bf[1], 2);
	expect_match(st, &a, &b, 1, "bfloat16 2 matches 2", "rule");
	bf[0] = tensor_float_to_bf16(2.0f * (1 + 1.0f / 128));
	expect_match(st, &a, &b, 0, "bfloat16 2 ulp off does not match", "rule");

	uint8_t bools[2] = {1, 2};
	make_scalar(&a, SC_BOOL, &bools[0], 1);
	make_scalar(&b, SC_BOOL, &bools[1], 1);
	expect_match(st, &a, &b, 1, "bool true matches true", "rule");
	bools[0] = 0;
	expect_match(st, &a, &b, 0, "bool false does not match true", "rule");

	char s1[] = "abc", s2[] = "abd";
	sc_bytes sb[2] = {{3, s1}, {3, s2}};
	make_scalar(&a, SC_STRING, &sb[0], sizeof sb[0]);
	make_scalar(&b, SC_STRING, &sb[1], sizeof sb[1]);
	expect_match(st, &a, &b, 0, "string abc does not match abd", "rule");
	sb[1].len = 2;
	expect_match(st, &a, &b, 0, "string abc does not match ab", "rule");
	sb[1] = sb[0];
	expect_match(st, &a, &b, 1, "string abc matches abc", "rule");

	/* shapes: same bytes, different dims; rank 0 against [1]; empties */
	float six[6] = {0};
	make_scalar(&a, SC_FLOAT, six, sizeof six);
	make_scalar(&b, SC_FLOAT, six, sizeof six);
	a.rank = b.rank = 2;
	a.numel = b.numel = 6;
	a.dims[0] = 2, a.dims[1] = 3;
	b.dims[0] = 3, b.dims[1] = 2;
	expect_match(st, &a, &b, 0, "[2,3] does not match [3,2]", "rule");
	make_scalar(&a, SC_FLOAT, six, 4);
	make_scalar(&b, SC_FLOAT, six, 4);
	a.rank = 0;
	expect_match(st, &a, &b, 0, "rank 0 does not match [1]", "rule");
	b.rank = 0;
	expect_match(st, &a, &b, 1, "rank 0 matches rank 0", "rule");
	a.rank = b.rank = 1;
	a.dims[0] = b.dims[0] = 0;
	a.numel = b.numel = 0;
	a.data = b.data = NULL;
	expect_match(st, &a, &b, 1, "[0] matches [0]", "rule");
	b.rank = 2;
	b.dims[1] = 3;
	expect_match(st, &a, &b, 0, "[0] does not match [0,3]", "rule");
	make_scalar(&a, SC_FLOAT, six, 4);
	make_scalar(&b, SC_DOUBLE, six, 8);
	expect_match(st, &a, &b, 0, "float32 does not match float64", "rule");
}

static int run_selftest(const case_list *cases, int verbose)
{
	selftest st = {.verbose = verbose};
	selftest_rule(&st);
	for (int c = 0; c < cases->n; c++) {
		int *sets = NULL;
		int n_sets = list_data_sets(cases->v[c].dir, &sets);
		for (int s = 0; s < n_sets; s++) {
			char set_dir[CONF_PATH_MAX], path[CONF_PATH_MAX];
			if (!path_fmt(set_dir, "%s/test_data_set_%d",
				      cases->v[c].dir, sets[s]))
				continue;
			static const char *const kinds[] = {"input", "output"};
			for (int k = 0; k < 2; k++) {
				int n = count_pb(set_dir, kinds[k]);
				for (int i = 0; i < n; i++) {
					path_fmt(path, "%s/%s_%d.pb", set_dir,
						 kinds[k], i);
					selftest_tensor(&st, path);
				}
			}
		}
		free(sets);
	}
	printf("selftest: %d checks on %d tensors of %d cases, %d failed\n",
	       st.checks, st.tensors, cases->n, st.failures);
	return st.failures ? 1 : 0;
}

/* ---- main ------------------------------------------------------------- */

static int usage(void)
{
	fprintf(stderr,
		"usage: conformance [--filter SUBSTR] [--threads N] [--verbose]\n"
		"                   [--expected FILE] [--write-expected FILE]\n"
		"                   [--selftest] [DIR ...]\n");
	return 2;
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	conf_opts o = {.threads = 2};
	/* room for the default suites when no folder is given */
	const char **dirs = calloc((size_t)argc + 4, sizeof *dirs);
	int n_dirs = 0;
	if (!dirs)
		return 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int has_value = i + 1 < argc;
		if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
			o.verbose = 1;
		} else if (strcmp(a, "--selftest") == 0) {
			o.selftest = 1;
		} else if (strcmp(a, "--filter") == 0 && has_value) {
			o.filter = argv[++i];
		} else if (strcmp(a, "--expected") == 0 && has_value) {
			o.expected = argv[++i];
		} else if (strcmp(a, "--write-expected") == 0 && has_value) {
			o.write_expected = argv[++i];
		} else if (strcmp(a, "--threads") == 0 && has_value) {
			char *end;
			long t = strtol(argv[++i], &end, 10);
			if (*end || t < 0 || t > 1024) {
				fprintf(stderr, "conformance: --threads: expected a count, got '%s'\n",
					argv[i]);
				free(dirs);
				return 2;
			}
			o.threads = (int)t;
		} else if (a[0] == '-') {
			fprintf(stderr, "conformance: unknown option or missing value: %s\n", a);
			free(dirs);
			return usage();
		} else {
			dirs[n_dirs++] = a;
		}
	}

	char suite_paths[4][CONF_PATH_MAX];
	if (n_dirs == 0) {
		for (int s = 0; s < 4; s++) {
			path_fmt(suite_paths[s], "%s/%s", ONNX_TESTDATA,
				 default_suites[s]);
			dirs[n_dirs++] = suite_paths[s];
		}
	}
	case_list cases = {0};
	int rc = 0;
	for (int d = 0; d < n_dirs; d++) {
		if (!is_dir(dirs[d])) {
			fprintf(stderr, "conformance: %s: not a folder\n", dirs[d]);
			rc = 2;
		} else if (collect_cases(dirs[d], o.filter, &cases)) {
			rc = 2;
		}
	}
	free(dirs);
	if (rc) {
		case_list_free(&cases);
		return rc;
	}
	qsort(cases.v, (size_t)cases.n, sizeof *cases.v, cmp_case);

	if (o.selftest) {
		rc = run_selftest(&cases, o.verbose);
		case_list_free(&cases);
		return rc;
	}

	name_set expected = {0};
	if (o.expected && read_expected(o.expected, &expected)) {
		case_list_free(&cases);
		return 2;
	}

	install_crash_report();
	int *status = xrealloc(NULL, ((size_t)cases.n + 1) * sizeof *status);
	char **passed = xrealloc(NULL, ((size_t)cases.n + 1) * sizeof *passed);
	op_table table = {0};
	int totals[CASE_NSTATUS] = {0}, n_passed = 0;
	double t0 = now_seconds();
	for (int c = 0; c < cases.n; c++) {
		char why[REASON_MAX] = "";
		name_set ops = {0};
		current_case = cases.v[c].name;
		double tc = now_seconds();
		status[c] = run_case(&cases.v[c], &o, &ops, why, sizeof why);
		current_case = NULL;
		totals[status[c]]++;
		op_table_count(&table, &ops, status[c]);
		name_set_free(&ops);
		if (status[c] == CASE_PASSED)
			passed[n_passed++] = cases.v[c].name;
		if (status[c] == CASE_FAILED)
			printf("FAIL %s: %s\n", cases.v[c].name, why);
		else if (o.verbose && status[c] == CASE_UNSUPPORTED)
			printf("SKIP %s: %s\n", cases.v[c].name, why);
		else if (o.verbose)
			printf("PASS %s (%.3f s)\n", cases.v[c].name,
			       now_seconds() - tc);
		fflush(stdout);
	}
	double elapsed = now_seconds() - t0;

	op_table_print(&table, totals);
	op_table_free(&table);
	printf("%d cases in %.1f s with %d threads\n", cases.n, elapsed, o.threads);

	rc = 0;
	if (o.write_expected) {
		/* case names are already sorted */
		if (write_expected(o.write_expected, passed, n_passed))
			rc = 2;
		else
			printf("wrote %d passing cases to %s\n", n_passed,
			       o.write_expected);
	}
	if (o.expected) {
		if (check_expected(o.expected, &expected, &cases, status, o.filter))
			rc = 1;
	} else if (totals[CASE_FAILED] && !o.write_expected) {
		rc = 1;
	}
	name_set_free(&expected);

	if (totals[CASE_UNSUPPORTED])
		printf("%d passed, %d failed, %d skipped\n", totals[CASE_PASSED],
		       totals[CASE_FAILED], totals[CASE_UNSUPPORTED]);
	else
		printf("%d passed, %d failed\n", totals[CASE_PASSED],
		       totals[CASE_FAILED]);
	free(status);
	free(passed);
	case_list_free(&cases);
	return rc;
}
