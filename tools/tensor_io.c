/* tensor_io.c: the tensors `supcon run` and `supcon bench` feed a model
 * (`--in NAME=FILE.pb`, `--in NAME=FILE.png`, `--in NAME=random:SHAPE`
 * and, for bench, random data of the declared shape) and the session both
 * open, all through the public C API; see cli_api.h. */
#include "cli_api.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* --- sessions -------------------------------------------------------------- */

int cli_api_fail(cli_err *err, supcon_status st)
{
	const char *msg = supcon_last_error();
	return cli_set_err(err, st != SUPCON_OK ? (int)st : SUPCON_EINTERNAL, "%s",
		       *msg ? msg : supcon_status_name(st));
}

int cli_api_open(const char *path, const char *options, supcon_session **out,
		 cli_err *err)
{
	*out = NULL;
	int rc = cli_check_input_file(path, "model", err);
	if (rc != SUPCON_OK)
		return rc;
	supcon_status st = supcon_session_create_with(path, options, out);
	return st ? cli_api_fail(err, st) : SUPCON_OK;
}

int cli_api_session_options(const cli_args *a, long long threads, char *buf,
			    size_t len, cli_err *err)
{
	size_t max_memory = 0;
	if (cli_has(a, "max-memory")) {
		int rc = cli_parse_bytes("--max-memory", cli_value(a, "max-memory", NULL),
					 &max_memory, err);
		if (rc != SUPCON_OK)
			return rc;
	}
	snprintf(buf, len, "threads=%lld,check_numerics=%d,max_memory=%zu", threads,
		 cli_has(a, "check-numerics"), max_memory);
	return SUPCON_OK;
}

void cli_api_print_shape(FILE *f, const supcon_tensor *t)
{
	supcon_dtype dtype = 0;
	int rank = 0;
	int64_t dims[SUPCON_MAX_RANK];
	supcon_tensor_info(t, &dtype, &rank, dims, SUPCON_MAX_RANK);
	fprintf(f, "%s [", supcon_dtype_name((int)dtype));
	for (int d = 0; d < rank; d++)
		fprintf(f, "%s%lld", d ? ", " : "", (long long)dims[d]);
	fputc(']', f);
}

/* --- random tensors ------------------------------------------------------- */

/* Each input gets its own stream: the same seed and name give the same
 * data whatever the order of the --in flags. */
static uint64_t name_seed(uint64_t seed, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	return seed ^ h;
}

static int random_tensor(int dtype, int rank, const int64_t *dims,
			 uint64_t seed, const char *name, supcon_tensor **out,
			 cli_err *err)
{
	supcon_status st = supcon_tensor_create((supcon_dtype)dtype, rank, dims, out);
	if (st == SUPCON_OK)
		st = supcon_tensor_fill_random(*out, name_seed(seed, name));
	if (st != SUPCON_OK) {
		supcon_tensor_free(*out);
		*out = NULL;
		return cli_api_fail(err, st);
	}
	return SUPCON_OK;
}

/* The dtype random data gets for input name: its declared one, which must
 * be floating point, or float32 when it declares none; 0 when it cannot
 * get random data, with the type in type[len] for the message. */
static int random_dtype(const supcon_session *s, const char *name, char *type,
			size_t len)
{
	static const struct { const char *name; int dtype; } floats[] = {
		{"", SUPCON_FLOAT}, {"float32", SUPCON_FLOAT},
		{"float16", SUPCON_FLOAT16}, {"float64", SUPCON_DOUBLE},
		{"bfloat16", SUPCON_BFLOAT16},
	};
	if (supcon_session_value_type(s, name, type, len) != SUPCON_OK)
		snprintf(type, len, "?");
	for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++)
		if (strcmp(type, floats[i].name) == 0)
			return floats[i].dtype;
	return 0;
}

static int random_refused(const char *name, const char *type, const char *prefix,
			  cli_err *err)
{
	const char *what = strchr(type, '(') ? "not a tensor" : type;
	return cli_set_err(err, SUPCON_EINVAL,
		       "%sinput '%s' is %s, but random data is floating point; "
		       "give --in %s=FILE", prefix, name, what, name);
}

/* "16x3x224x224" -> dims; "" is a scalar. */
static int parse_shape(const char *s, const char *flag, int *rank, int64_t *dims,
		       cli_err *err)
{
	*rank = 0;
	if (!*s)
		return SUPCON_OK;
	for (const char *p = s;;) {
		if (*rank == SUPCON_MAX_RANK)
			return cli_set_err(err, SUPCON_EINVAL, "%s: more than %d dims", flag,
				       SUPCON_MAX_RANK);
		if (*p < '0' || *p > '9')
			return cli_set_err(err, SUPCON_EINVAL,
				       "%s: bad shape '%s' (expected dims like 16x3x224x224)",
				       flag, s);
		char *end;
		errno = 0;
		long long d = strtoll(p, &end, 10);
		if (errno == ERANGE || d > ((long long)1 << 48))
			return cli_set_err(err, SUPCON_EINVAL, "%s: dim '%.20s' is too large",
				       flag, p);
		dims[(*rank)++] = d;
		if (*end == '\0')
			return SUPCON_OK;
		if (*end != 'x')
			return cli_set_err(err, SUPCON_EINVAL,
				       "%s: bad shape '%s' (expected dims like 16x3x224x224)",
				       flag, s);
		p = end + 1;
	}
}

/* --- the input list ------------------------------------------------------- */

static int feed_index(const cli_feed *in, const char *name)
{
	for (int i = 0; i < in->n; i++)
		if (strcmp(in->names[i], name) == 0)
			return i;
	return -1;
}

const supcon_tensor *cli_feed_find(const cli_feed *in, const char *name)
{
	int i = feed_index(in, name);
	return i >= 0 ? in->tensors[i] : NULL;
}

/* Takes t (and a copy of name and source) as input `name`, replacing an
 * earlier tensor of the same name. */
static int feed_put(cli_feed *in, const char *name, const char *source,
		    supcon_tensor *t, cli_err *err)
{
	int i = feed_index(in, name);
	char *src = strdup(source);
	if (!src) {
		supcon_tensor_free(t);
		return cli_set_err(err, SUPCON_ENOMEM, "out of memory");
	}
	if (i >= 0) {
		supcon_tensor_free(in->tensors[i]);
		free(in->sources[i]);
		in->tensors[i] = t;
		in->sources[i] = src;
		return SUPCON_OK;
	}
	size_t n = (size_t)in->n + 1;
	char **names = realloc(in->names, n * sizeof *names);
	if (names)
		in->names = names;
	supcon_tensor **tensors = realloc(in->tensors, n * sizeof *tensors);
	if (tensors)
		in->tensors = tensors;
	char **sources = realloc(in->sources, n * sizeof *sources);
	if (sources)
		in->sources = sources;
	char *copy = strdup(name);
	if (!names || !tensors || !sources || !copy) {
		free(copy);
		free(src);
		supcon_tensor_free(t);
		return cli_set_err(err, SUPCON_ENOMEM, "out of memory");
	}
	in->names[in->n] = copy;
	in->tensors[in->n] = t;
	in->sources[in->n] = src;
	in->n++;
	return SUPCON_OK;
}

void cli_feed_free(cli_feed *in)
{
	if (!in)
		return;
	for (int i = 0; i < in->n; i++) {
		free(in->names[i]);
		free(in->sources[i]);
		supcon_tensor_free(in->tensors[i]);
	}
	free(in->names);
	free(in->tensors);
	free(in->sources);
	memset(in, 0, sizeof *in);
}

/* "a, b, c": the inputs a user may name, for messages. */
static void list_inputs(const supcon_session *s, char *buf, size_t len)
{
	size_t used = 0;
	int n = 0;
	buf[0] = '\0';
	supcon_session_input_count(s, &n);
	for (int i = 0; i < n && used + 1 < len; i++) {
		const char *name = "";
		supcon_session_input_name(s, i, &name);
		int w = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", name);
		if (w < 0 || (size_t)w >= len - used) {
			buf[used] = '\0';
			break;
		}
		used += (size_t)w;
	}
	if (!used)
		snprintf(buf, len, "none");
}

static int has_png_suffix(const char *path)
{
	size_t n = strlen(path);
	return n >= 4 && strcasecmp(path + n - 4, ".png") == 0;
}

static int starts_like_png(const char *path)
{
	static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
	unsigned char got[8];
	FILE *f = fopen(path, "rb");
	if (!f)
		return 0;
	size_t n = fread(got, 1, sizeof got, f);
	fclose(f);
	return n == sizeof got && memcmp(got, sig, sizeof sig) == 0;
}

/* FILE.pb or FILE.png into a new tensor; messages name the --in. */
static int load_file(const char *name, const char *path, supcon_tensor **t,
		     cli_err *err)
{
	int rc = cli_check_input_file(path, "input file", err);
	if (rc == SUPCON_OK) {
		supcon_status st = has_png_suffix(path) || starts_like_png(path) ?
				   supcon_tensor_load_png(path, 0, t) :
				   supcon_tensor_load_pb(path, t);
		if (st != SUPCON_OK)
			rc = cli_api_fail(err, st);
	}
	if (rc != SUPCON_OK)
		cli_err_prefix(err, "--in %.60s: ", name);
	return rc;
}

static int load_one(const supcon_session *s, const char *spec, uint64_t seed,
		    cli_feed *out, cli_err *err)
{
	char flag[96];
	snprintf(flag, sizeof flag, "--in %.60s%s", spec, strlen(spec) > 60 ? "..." : "");
	const char *eq = strchr(spec, '=');
	if (!eq || eq == spec)
		return cli_set_err(err, SUPCON_EINVAL, "%s: expected NAME=FILE", flag);
	char *name = strndup(spec, (size_t)(eq - spec));
	if (!name)
		return cli_set_err(err, SUPCON_ENOMEM, "out of memory");
	const char *what = eq + 1;
	int index = -1;
	supcon_session_find_input(s, name, &index);
	if (index == -1) {
		char names[512];
		list_inputs(s, names, sizeof names);
		cli_set_err(err, SUPCON_EINVAL, "%s: the model has no input '%s' (its inputs: %s)",
			flag, name, names);
		free(name);
		return SUPCON_EINVAL;
	}

	supcon_tensor *t = NULL;
	int rc;
	if (strncmp(what, "random:", 7) == 0) {
		char type[512], prefix[128];
		int rank = 0, dtype = random_dtype(s, name, type, sizeof type);
		int64_t dims[SUPCON_MAX_RANK];
		snprintf(prefix, sizeof prefix, "%s: ", flag);
		rc = dtype ? parse_shape(what + 7, flag, &rank, dims, err) :
			     random_refused(name, type, prefix, err);
		if (rc == SUPCON_OK)
			rc = random_tensor(dtype, rank, dims, seed, name, &t, err);
	} else {
		rc = load_file(name, what, &t, err);
	}
	if (rc == SUPCON_OK)
		rc = feed_put(out, name, what, t, err);
	free(name);
	return rc;
}

int cli_feed_load(const supcon_session *s, const char *const *specs, int n,
		  uint64_t seed, cli_feed *out, cli_err *err)
{
	memset(out, 0, sizeof *out);
	for (int i = 0; i < n; i++) {
		int rc = load_one(s, specs[i], seed, out, err);
		if (rc != SUPCON_OK) {
			cli_feed_free(out);
			return rc;
		}
	}
	return SUPCON_OK;
}

/* The shape random data gets for data input i: its declared one, with a
 * symbolic or unknown first dim set to batch (1 when 0). */
static int declared_shape(const supcon_session *s, int i, const char *name,
			  int64_t batch, int *rank, int64_t *dims, cli_err *err)
{
	supcon_session_input_info(s, i, NULL, rank, NULL, 0);
	if (*rank < 0)
		return cli_set_err(err, SUPCON_EINVAL,
			       "input '%s' declares no shape; give --in %s=random:SHAPE",
			       name, name);
	if (*rank > SUPCON_MAX_RANK)
		return cli_set_err(err, SUPCON_EUNSUPPORTED, "input '%s': rank %d is above %d",
			       name, *rank, SUPCON_MAX_RANK);
	supcon_session_input_info(s, i, NULL, NULL, dims, SUPCON_MAX_RANK);
	for (int d = 0; d < *rank; d++) {
		if (d == 0 && dims[d] >= 0 && batch > 0 && dims[d] != batch)
			return cli_set_err(err, SUPCON_EINVAL,
				       "--batch %lld: input '%s' has a fixed first dim "
				       "of %lld", (long long)batch, name, (long long)dims[d]);
		if (dims[d] >= 0)
			continue;
		const char *param = NULL;
		supcon_session_input_dim_name(s, i, d, &param);
		if (d > 0 && param)
			return cli_set_err(err, SUPCON_EINVAL,
				       "input '%s': dim %d is symbolic (%s); give "
				       "--in %s=random:SHAPE", name, d, param, name);
		if (d > 0)
			return cli_set_err(err, SUPCON_EINVAL,
				       "input '%s': dim %d is unknown; give "
				       "--in %s=random:SHAPE", name, d, name);
		dims[d] = batch > 0 ? batch : 1;
	}
	return SUPCON_OK;
}

int cli_feed_fill_random(const supcon_session *s, int64_t batch, uint64_t seed,
			 cli_feed *in, int *filled, cli_err *err)
{
	int n = 0;
	*filled = 0;
	supcon_session_input_count(s, &n);
	for (int i = 0; i < n; i++) {
		const char *name = "";
		supcon_session_input_name(s, i, &name);
		if (feed_index(in, name) >= 0)
			continue;
		char type[512];
		int rank = 0, rc, dtype = random_dtype(s, name, type, sizeof type);
		int64_t dims[SUPCON_MAX_RANK];
		if (!dtype)
			return random_refused(name, type, "", err);
		supcon_tensor *t = NULL;
		if ((rc = declared_shape(s, i, name, batch, &rank, dims, err)) ||
		    (rc = random_tensor(dtype, rank, dims, seed, name, &t, err)) ||
		    (rc = feed_put(in, name, "random", t, err)))
			return rc;
		(*filled)++;
	}
	return SUPCON_OK;
}

int cli_feed_check_complete(const supcon_session *s, const cli_feed *in,
			    cli_err *err)
{
	int n = 0;
	supcon_session_input_count(s, &n);
	for (int i = 0; i < n; i++) {
		const char *name = "";
		supcon_session_input_name(s, i, &name);
		if (feed_index(in, name) < 0)
			return cli_set_err(err, SUPCON_EINVAL,
				       "input '%s' is missing (give --in %s=FILE)",
				       name, name);
	}
	return SUPCON_OK;
}
