/* tensor_io.c: the tensors `supcon run` and `supcon bench` feed a model:
 * `--in NAME=FILE.pb` (TensorProto), `--in NAME=FILE.png` (libpng) and
 * `--in NAME=random:SHAPE` or, for bench, random data of the declared
 * shape; and the session both set up (model, plan, inputs); see cli.h. */
#include "cli.h"

#include "runtime/fileio.h"

#include <errno.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <png.h>

#include "onnx/onnx.h"
#include "runtime/autodiff.h"

/* --- PNG ------------------------------------------------------------------ */

/* Beyond any image a network takes as one input, and small enough that a
 * header claiming more is refused before a pixel buffer is allocated
 * (a few bytes of zlib can claim gigabytes of pixels). */
#define PNG_MAX_SIDE 65535u
#define PNG_MAX_VALUES ((uint64_t)1 << 28)

typedef struct png_reader {
	const char *path;
	FILE *f;
	png_structp png;
	png_infop info;
	unsigned char *pixels;
	png_bytep *rows;
	sc_tensor t;
	char msg[256];
} png_reader;

static void png_on_error(png_structp png, png_const_charp msg)
{
	png_reader *r = png_get_error_ptr(png);
	snprintf(r->msg, sizeof r->msg, "%s", msg ? msg : "libpng error");
	png_longjmp(png, 1);
}

/* Warnings (bad gamma, unknown chunks) do not change the pixels we read,
 * and stderr is kept to one line per error. */
static void png_on_warning(png_structp png, png_const_charp msg)
{
	(void)png;
	(void)msg;
}

static void png_reader_close(png_reader *r)
{
	if (r->png)
		png_destroy_read_struct(&r->png, r->info ? &r->info : NULL, NULL);
	if (r->f)
		fclose(r->f);
	free(r->pixels);
	free(r->rows);
	r->png = NULL;
	r->info = NULL;
	r->f = NULL;
	r->pixels = NULL;
	r->rows = NULL;
}

/* Asks libpng for 8- or 16-bit samples with the image's own channels, a
 * palette expanded to RGB and tRNS to alpha (the format libpng's
 * simplified API reports for the file), whole rows even when interlaced. */
static void png_setup_transforms(png_reader *r)
{
	png_structp png = r->png;
	png_infop info = r->info;
	int color = png_get_color_type(png, info);
	int depth = png_get_bit_depth(png, info);
	if (color == PNG_COLOR_TYPE_PALETTE)
		png_set_palette_to_rgb(png);
	if (color == PNG_COLOR_TYPE_GRAY && depth < 8)
		png_set_expand_gray_1_2_4_to_8(png);
	if (png_get_valid(png, info, PNG_INFO_tRNS))
		png_set_tRNS_to_alpha(png);
	png_set_interlace_handling(png);
	png_read_update_info(png, info);
}

/* Everything that may longjmp; the caller's png_reader survives it. */
static int png_decode(png_reader *r, sc_error *err)
{
	if (setjmp(png_jmpbuf(r->png))) {
		/* libpng says "Read Error" for a short file */
		if (feof(r->f))
			return sc_fail(err, SC_EINVAL, "%s: bad PNG: the file ends early",
				       r->path);
		return sc_fail(err, SC_EINVAL, "%s: bad PNG: %s", r->path, r->msg);
	}
	png_init_io(r->png, r->f);
	png_set_sig_bytes(r->png, 8);
	png_set_user_limits(r->png, PNG_MAX_SIDE, PNG_MAX_SIDE);
	png_read_info(r->png, r->info);
	png_setup_transforms(r);

	uint64_t w = png_get_image_width(r->png, r->info);
	uint64_t h = png_get_image_height(r->png, r->info);
	uint64_t c = png_get_channels(r->png, r->info);
	int depth = png_get_bit_depth(r->png, r->info);
	size_t rowbytes = png_get_rowbytes(r->png, r->info);
	if (w == 0 || h == 0 || c < 1 || c > 4 || (depth != 8 && depth != 16))
		return sc_fail(err, SC_EINVAL,
			       "%s: unsupported PNG layout (%llux%llu, %llu channels, %d bits)",
			       r->path, (unsigned long long)w, (unsigned long long)h,
			       (unsigned long long)c, depth);
	if (w * h * c > PNG_MAX_VALUES)
		return sc_fail(err, SC_EINVAL,
			       "%s: PNG of %llux%llu with %llu channel%s is larger than "
			       "the %llu values supcon accepts",
			       r->path, (unsigned long long)w, (unsigned long long)h,
			       (unsigned long long)c, c == 1 ? "" : "s",
			       (unsigned long long)PNG_MAX_VALUES);
	uint64_t bytes_per = (uint64_t)depth / 8;
	if (rowbytes != w * c * bytes_per)
		return sc_fail(err, SC_EINTERNAL, "%s: libpng row size %zu, expected %llu",
			       r->path, rowbytes, (unsigned long long)(w * c * bytes_per));

	r->pixels = malloc((size_t)(h * rowbytes));
	r->rows = malloc((size_t)h * sizeof *r->rows);
	if (!r->pixels || !r->rows)
		return sc_fail(err, SC_ENOMEM, "%s: out of memory for %llux%llu pixels",
			       r->path, (unsigned long long)w, (unsigned long long)h);
	for (uint64_t y = 0; y < h; y++)
		r->rows[y] = r->pixels + y * rowbytes;
	png_read_image(r->png, r->rows);
	png_read_end(r->png, NULL);

	int64_t dims[4] = {1, (int64_t)c, (int64_t)h, (int64_t)w};
	int rc = tensor_alloc(&r->t, SC_FLOAT, 4, dims, r->path, err);
	if (rc != SC_OK)
		return rc;
	float *out = r->t.data;
	uint64_t plane = w * h;
	float scale = depth == 16 ? 1.0f / 65535.0f : 1.0f / 255.0f;
	for (uint64_t y = 0; y < h; y++) {
		const unsigned char *row = r->rows[y];
		for (uint64_t x = 0; x < w; x++)
			for (uint64_t k = 0; k < c; k++) {
				uint64_t i = x * c + k;
				/* PNG stores 16-bit samples big-endian */
				unsigned v = depth == 16 ?
					(unsigned)row[2 * i] << 8 | row[2 * i + 1] :
					row[i];
				out[k * plane + y * w + x] = (float)v * scale;
			}
	}
	return SC_OK;
}

int cli_png_load(const char *path, sc_tensor *t, sc_error *err)
{
	memset(t, 0, sizeof *t);
	/* never to be overwritten by an output of the same command */
	int rc = sc_input_register(path, err);
	if (rc)
		return rc;
	png_reader r;
	memset(&r, 0, sizeof r);
	r.path = path;
	r.f = fopen(path, "rb");
	if (!r.f)
		return sc_fail(err, errno == ENOMEM ? SC_ENOMEM : SC_EINVAL,
			       "%s: cannot open: %s", path, strerror(errno));
	unsigned char sig[8];
	if (fread(sig, 1, sizeof sig, r.f) != sizeof sig ||
	    png_sig_cmp(sig, 0, sizeof sig) != 0) {
		fclose(r.f);
		return sc_fail(err, SC_EINVAL, "%s: not a PNG file", path);
	}
	r.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &r, png_on_error,
				       png_on_warning);
	if (r.png)
		r.info = png_create_info_struct(r.png);
	if (!r.png || !r.info) {
		png_reader_close(&r);
		return sc_fail(err, SC_ENOMEM, "%s: out of memory starting libpng", path);
	}
	rc = png_decode(&r, err);
	png_reader_close(&r);
	if (rc != SC_OK) {
		tensor_free(&r.t);
		return rc;
	}
	*t = r.t;
	return SC_OK;
}

/* --- random tensors ------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Each input gets its own stream: the same seed and name give the same
 * data whatever the order of the --in flags. */
static uint64_t name_seed(uint64_t seed, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	return seed ^ h;
}

static int random_tensor(sc_tensor *t, int dtype, int rank, const int64_t *dims,
			 uint64_t seed, const char *name, sc_error *err)
{
	int rc = tensor_alloc(t, dtype, rank, dims, name, err);
	if (rc != SC_OK)
		return rc;
	uint64_t s = name_seed(seed, name);
	for (int64_t i = 0; i < t->numel; i++) {
		uint64_t x = splitmix64(&s);
		float f = (float)(x >> 40) * 0x1p-24f;
		switch (dtype) {
		case SC_FLOAT: ((float *)t->data)[i] = f; break;
		case SC_DOUBLE: ((double *)t->data)[i] = (double)(x >> 11) * 0x1p-53; break;
		case SC_FLOAT16: ((uint16_t *)t->data)[i] = tensor_float_to_half(f); break;
		case SC_BFLOAT16: ((uint16_t *)t->data)[i] = tensor_float_to_bf16(f); break;
		default:
			tensor_free(t);
			return sc_fail(err, SC_EINTERNAL, "random %s data", tensor_dtype_name(dtype));
		}
	}
	return SC_OK;
}

/* The dtype random data gets for input val: its declared one, which must
 * be floating point, or float32 when it declares none.  0 when it cannot
 * get random data. */
static int random_dtype(const graph_value *val)
{
	if (val->type.kind == GRAPH_TYPE_NONE)
		return SC_FLOAT;
	if (val->type.kind != GRAPH_TYPE_TENSOR)
		return 0;
	if (!val->type.elem)
		return SC_FLOAT;
	return tensor_dtype_is_float(val->type.elem) ? val->type.elem : 0;
}

static int random_refused(const graph_value *val, const char *prefix,
			  sc_error *err)
{
	const char *what = val->type.kind == GRAPH_TYPE_TENSOR ?
		tensor_dtype_name(val->type.elem) : "not a tensor";
	return sc_fail(err, SC_EINVAL,
		       "%sinput '%s' is %s, but random data is floating point; "
		       "give --in %s=FILE", prefix, val->name, what, val->name);
}

/* "16x3x224x224" -> dims; "" is a scalar. */
static int parse_shape(const char *s, const char *flag, int *rank, int64_t *dims,
		       sc_error *err)
{
	*rank = 0;
	if (!*s)
		return SC_OK;
	for (const char *p = s;;) {
		if (*rank == SC_MAX_RANK)
			return sc_fail(err, SC_EINVAL, "%s: more than %d dims", flag,
				       SC_MAX_RANK);
		if (*p < '0' || *p > '9')
			return sc_fail(err, SC_EINVAL,
				       "%s: bad shape '%s' (expected dims like 16x3x224x224)",
				       flag, s);
		char *end;
		errno = 0;
		long long d = strtoll(p, &end, 10);
		if (errno == ERANGE || d > SC_MAX_NUMEL)
			return sc_fail(err, SC_EINVAL, "%s: dim '%.20s' is too large",
				       flag, p);
		dims[(*rank)++] = d;
		if (*end == '\0')
			return SC_OK;
		if (*end != 'x')
			return sc_fail(err, SC_EINVAL,
				       "%s: bad shape '%s' (expected dims like 16x3x224x224)",
				       flag, s);
		p = end + 1;
	}
}

/* --- the input list ------------------------------------------------------- */

static int inputs_index(const cli_inputs *in, const char *name)
{
	for (int i = 0; i < in->n; i++)
		if (strcmp(in->names[i], name) == 0)
			return i;
	return -1;
}

/* Takes t (and a copy of name and source) as input `name`, replacing an
 * earlier tensor of the same name. */
static int inputs_put(cli_inputs *in, const char *name, const char *source,
		      sc_tensor *t, sc_error *err)
{
	int i = inputs_index(in, name);
	char *src = strdup(source);
	if (!src) {
		tensor_free(t);
		return sc_fail(err, SC_ENOMEM, "out of memory");
	}
	if (i >= 0) {
		tensor_free(&in->values[i]);
		free(in->sources[i]);
		in->values[i] = *t;
		in->sources[i] = src;
		memset(t, 0, sizeof *t);
		return SC_OK;
	}
	size_t n = (size_t)in->n + 1;
	char **names = realloc(in->names, n * sizeof *names);
	if (names)
		in->names = names;
	sc_tensor *values = realloc(in->values, n * sizeof *values);
	if (values)
		in->values = values;
	char **sources = realloc(in->sources, n * sizeof *sources);
	if (sources)
		in->sources = sources;
	const sc_tensor **tensors = realloc(in->tensors, n * sizeof *tensors);
	if (tensors)
		in->tensors = tensors;
	char *copy = strdup(name);
	if (!names || !values || !sources || !tensors || !copy) {
		free(copy);
		free(src);
		tensor_free(t);
		return sc_fail(err, SC_ENOMEM, "out of memory");
	}
	in->names[in->n] = copy;
	in->values[in->n] = *t;
	in->sources[in->n] = src;
	in->n++;
	memset(t, 0, sizeof *t);
	/* values may have moved: rebuild the views */
	for (int k = 0; k < in->n; k++)
		in->tensors[k] = &in->values[k];
	in->names_view = (const char **)in->names;
	return SC_OK;
}

void cli_inputs_free(cli_inputs *in)
{
	if (!in)
		return;
	for (int i = 0; i < in->n; i++) {
		free(in->names[i]);
		free(in->sources[i]);
		tensor_free(&in->values[i]);
	}
	free(in->names);
	free(in->values);
	free(in->sources);
	free(in->tensors);
	memset(in, 0, sizeof *in);
}

/* "a, b, c": the inputs a user may name, for messages. */
static void list_inputs(const graph *g, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = '\0';
	for (int i = 0; i < g->n_inputs && used + 1 < len; i++) {
		const graph_value *val = &g->values[g->inputs[i]];
		if (val->flags & VALUE_INITIALIZER)
			continue;
		int w = snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
				 val->name);
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
	unsigned char sig[8];
	FILE *f = fopen(path, "rb");
	if (!f)
		return 0;
	size_t got = fread(sig, 1, sizeof sig, f);
	fclose(f);
	return got == sizeof sig && png_sig_cmp(sig, 0, sizeof sig) == 0;
}

static int load_one(const graph_model *m, const char *spec, uint64_t seed,
		    cli_inputs *out, sc_error *err)
{
	const graph *g = m->graph;
	char flag[96];
	snprintf(flag, sizeof flag, "--in %.60s%s", spec, strlen(spec) > 60 ? "..." : "");
	const char *eq = strchr(spec, '=');
	if (!eq || eq == spec)
		return sc_fail(err, SC_EINVAL, "%s: expected NAME=FILE", flag);
	size_t name_len = (size_t)(eq - spec);
	char *name = strndup(spec, name_len);
	if (!name)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	const char *what = eq + 1;
	int v = graph_find_value(g, name);
	if (v < 0 || !(g->values[v].flags & VALUE_INPUT)) {
		char names[512];
		list_inputs(g, names, sizeof names);
		sc_fail(err, SC_EINVAL, "%s: the model has no input '%s' (its inputs: %s)",
			flag, name, names);
		free(name);
		return SC_EINVAL;
	}

	sc_tensor t;
	memset(&t, 0, sizeof t);
	int rc;
	if (strncmp(what, "random:", 7) == 0) {
		int rank = 0, dtype = random_dtype(&g->values[v]);
		int64_t dims[SC_MAX_RANK];
		char prefix[128];
		snprintf(prefix, sizeof prefix, "%s: ", flag);
		rc = dtype ? parse_shape(what + 7, flag, &rank, dims, err) :
			     random_refused(&g->values[v], prefix, err);
		if (rc == SC_OK)
			rc = random_tensor(&t, dtype, rank, dims, seed, name, err);
	} else {
		rc = cli_check_input_file(what, "input file", err);
		if (rc == SC_OK && (has_png_suffix(what) || starts_like_png(what)))
			rc = cli_png_load(what, &t, err);
		else if (rc == SC_OK)
			rc = onnx_tensor_load_file(what, &t, NULL, err);
		if (rc != SC_OK)
			sc_error_prefix(err, "--in %.60s: ", name);
	}
	if (rc == SC_OK)
		rc = inputs_put(out, name, what, &t, err);
	free(name);
	return rc;
}

int cli_inputs_load(const graph_model *m, const char *const *specs, int n,
		    uint64_t seed, cli_inputs *out, sc_error *err)
{
	memset(out, 0, sizeof *out);
	for (int i = 0; i < n; i++) {
		int rc = load_one(m, specs[i], seed, out, err);
		if (rc != SC_OK) {
			cli_inputs_free(out);
			return rc;
		}
	}
	return SC_OK;
}

int cli_inputs_fill_random(const graph_model *m, int64_t batch, uint64_t seed,
			   cli_inputs *in, int *filled, sc_error *err)
{
	const graph *g = m->graph;
	*filled = 0;
	for (int i = 0; i < g->n_inputs; i++) {
		const graph_value *val = &g->values[g->inputs[i]];
		if ((val->flags & VALUE_INITIALIZER) || inputs_index(in, val->name) >= 0)
			continue;
		int rc, dtype = random_dtype(val);
		if (!dtype)
			return random_refused(val, "", err);
		const graph_type *ty = &val->type;
		if (ty->kind != GRAPH_TYPE_TENSOR || ty->rank < 0)
			return sc_fail(err, SC_EINVAL,
				       "input '%s' declares no shape; give --in %s=random:SHAPE",
				       val->name, val->name);
		if (ty->rank > SC_MAX_RANK)
			return sc_fail(err, SC_EUNSUPPORTED, "input '%s': rank %d is above %d",
				       val->name, ty->rank, SC_MAX_RANK);
		int64_t dims[SC_MAX_RANK];
		for (int d = 0; d < ty->rank; d++) {
			dims[d] = ty->dims[d].value;
			if (d == 0 && dims[d] >= 0 && batch > 0 && dims[d] != batch)
				return sc_fail(err, SC_EINVAL,
					       "--batch %lld: input '%s' has a fixed first dim "
					       "of %lld", (long long)batch, val->name,
					       (long long)dims[d]);
			if (dims[d] >= 0)
				continue;
			if (d > 0 && ty->dims[d].param)
				return sc_fail(err, SC_EINVAL,
					       "input '%s': dim %d is symbolic (%s); give "
					       "--in %s=random:SHAPE", val->name, d,
					       ty->dims[d].param, val->name);
			if (d > 0)
				return sc_fail(err, SC_EINVAL,
					       "input '%s': dim %d is unknown; give "
					       "--in %s=random:SHAPE", val->name, d, val->name);
			dims[d] = batch > 0 ? batch : 1;
		}
		sc_tensor t;
		memset(&t, 0, sizeof t);
		if ((rc = random_tensor(&t, dtype, ty->rank, dims, seed, val->name, err)) ||
		    (rc = inputs_put(in, val->name, "random", &t, err)))
			return rc;
		(*filled)++;
	}
	return SC_OK;
}

int cli_inputs_check_complete(const graph_model *m, const cli_inputs *in,
			      sc_error *err)
{
	const graph *g = m->graph;
	for (int i = 0; i < g->n_inputs; i++) {
		const graph_value *val = &g->values[g->inputs[i]];
		if (!(val->flags & VALUE_INITIALIZER) && inputs_index(in, val->name) < 0)
			return sc_fail(err, SC_EINVAL,
				       "input '%s' is missing (give --in %s=FILE)",
				       val->name, val->name);
	}
	return SC_OK;
}

/* --- the session of run and bench ---------------------------------------- */

/* --check-numerics and --max-memory, for the commands that take them. */
int cli_plan_options(const cli_args *a, int threads, plan_options *opt,
		     sc_error *err)
{
	memset(opt, 0, sizeof *opt);
	opt->threads = threads;
	opt->check_numerics = cli_has(a, "check-numerics");
	if (cli_has(a, "max-memory"))
		return cli_parse_bytes("--max-memory", cli_value(a, "max-memory", NULL),
				       &opt->max_memory, err);
	return SC_OK;
}

int cli_session_open_grad(cli_session *s, const char *path, int threads,
			  const cli_args *a, uint64_t seed, int n_grad,
			  const char *const *grad, sc_error *err)
{
	memset(s, 0, sizeof *s);
	int rc = cli_load_model(path, 0, &s->m, err);
	if (rc != SC_OK)
		return rc;
	s->n_outputs = s->m->graph->n_outputs;
	if (n_grad > 0) {
		s->grad_value = calloc((size_t)n_grad, sizeof *s->grad_value);
		if (!s->grad_value)
			return sc_fail(err, SC_ENOMEM, "out of memory");
		s->n_grad = n_grad;
		if ((rc = autodiff_build(s->m, NULL, n_grad, grad, s->grad_value,
					 err))) {
			sc_error_prefix(err, "%s: --grad: ", path);
			return rc;
		}
	}
	plan_options opt;
	if ((rc = cli_plan_options(a, threads, &opt, err)))
		return rc;
	if ((rc = plan_create(s->m, &opt, &s->p, err))) {
		sc_error_prefix(err, "%s: ", path);
		return rc;
	}
	const cli_opt *in = cli_find(a, "in");
	return cli_inputs_load(s->m, in ? in->values : NULL, in ? in->n_values : 0,
			       seed, &s->in, err);
}

int cli_session_open(cli_session *s, const char *path, int threads,
		     const cli_args *a, uint64_t seed, sc_error *err)
{
	return cli_session_open_grad(s, path, threads, a, seed, 0, NULL, err);
}

void cli_session_close(cli_session *s)
{
	plan_free(s->p);
	free(s->grad_value);
	cli_inputs_free(&s->in);
	graph_model_free(s->m);
	memset(s, 0, sizeof *s);
}
