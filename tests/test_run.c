/* test_run.c: `supcon run` and `supcon bench`, driven as a user drives them.
 *
 * Models are built here with the graph API and saved with onnx_save_file();
 * inputs are written with onnx_tensor_save_file() or, for PNGs, with libpng
 * itself.  Each case runs SUPCON_BIN as a child process (cli_runner.h) and
 * checks the exit status, that a failure prints exactly one line on stderr
 * naming what is wrong and nothing on stdout, and that the .pb files
 * written hold the values computed here: Relu and a broadcasting Add by
 * hand, PNG pixels from the samples written
 * (gray 8/16-bit, 2-bit gray, RGB, RGBA, gray+alpha, palettes with and
 * without transparency, interlaced).  The PNG cases use a model whose
 * output is its input, so they test the decoder and the writer alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <png.h>
#include <zlib.h>

#include "cli_runner.h"
#include "model_builder.h"
#include "onnx/onnx.h"
#include "ops/op.h"
#include "runtime/graph.h"

#define RUN_DIR SUPCON_TEST_WORK "/run"

/* --- running the CLI -------------------------------------------------------- */

static const cli_options run_dir = {.dir = RUN_DIR};

/* Expects exit status `status`; for a failure, exactly one line on stderr
 * that contains every needle (NULL-terminated list after args) and
 * nothing on stdout. */
static cli_result expect_run(int status, const char *const *needles,
			     const char *const *args)
{
	return cli_expect(&run_dir, status, "supcon ", needles, args);
}

#define NEEDLES(...) ((const char *const[]){__VA_ARGS__, NULL})
#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void expect_fail(int status, const char *const *needles,
			const char *const *args)
{
	cli_result r = expect_run(status, needles, args);
	cli_result_free(&r);
}

/* --- building models ------------------------------------------------------- */

/* model_builder.h's, with a second, custom domain and a graph named for
 * this test. */
static graph_model *new_model(int opset)
{
	graph_model *m = model(opset);
	m->ir_version = 8;
	add_opset(m, "com.example", 3);
	free(m->graph->name);
	m->graph->name = strdup("test_run");
	assert_non_null(m->graph->name);
	return m;
}

static void node(graph *g, const char *op, const char *domain, int n_in,
		 const int *in, int n_out, const int *out)
{
	sc_error err = {0};
	if (graph_add_node(g, op, domain, "", n_in, in, n_out, out, &err) < 0)
		fail_msg("graph_add_node %s: %s", op, err.msg);
}

static void save_model(graph_model *m, const char *path)
{
	sc_error err = {0};
	if (onnx_save_file(m, path, &err) != SC_OK)
		fail_msg("onnx_save_file %s: %s", path, err.msg);
	graph_model_free(m);
}

/* x float [N, ?, ?, ?] is the output y: no node, so nothing but the CLI's
 * own input and output paths runs. */
static void write_identity_model(const char *path)
{
	graph_model *m = new_model(13);
	graph *g = m->graph;
	push_output(g, input(g, "x", SC_FLOAT, "N,?,?,?"));
	save_model(m, path);
}

/* r = Relu(a), s = Add(a, b): a float [2, 3], b float [3] broadcast over
 * the rows; the outputs in the order r, s. */
static void write_relu_add_model(const char *path)
{
	graph_model *m = new_model(13);
	graph *g = m->graph;
	int a = input(g, "a", SC_FLOAT, "2,3"), b = input(g, "b", SC_FLOAT, "3");
	int r = val(g, "r"), s = val(g, "s");
	parse_type(&g->values[r].type, SC_FLOAT, "2,3");
	parse_type(&g->values[s].type, SC_FLOAT, "2,3");
	node(g, "Relu", "", 1, &a, 1, &r);
	node(g, "Add", "", 2, (const int[]){a, b}, 1, &s);
	push_output(g, r);
	push_output(g, s);
	save_model(m, path);
}

/* L = ReduceSum(a * b) over everything, then r = Relu(a): dL/da = b and
 * dL/db = sum over rows of a, exactly; L does not depend on c. */
static void write_dot_model(const char *path)
{
	graph_model *m = new_model(13);
	graph *g = m->graph;
	int a = input(g, "a", SC_FLOAT, "2,3"), b = input(g, "b", SC_FLOAT, "3");
	int c = input(g, "c", SC_FLOAT, "4");
	int p = val(g, "p"), l = val(g, "L"), r = val(g, "r");
	node(g, "Mul", "", 2, (const int[]){a, b}, 1, &p);
	node(g, "ReduceSum", "", 1, &p, 1, &l);
	attr_int(&g->nodes[g->n_nodes - 1], "keepdims", 0);
	node(g, "Relu", "", 1, &a, 1, &r);
	push_output(g, l);
	push_output(g, r);
	push_output(g, c);
	save_model(m, path);
}

/* a float [2, 3] and b float [3], given back as they are: the input
 * checks without any kernel. */
static void write_passthrough_model(const char *path)
{
	graph_model *m = new_model(13);
	graph *g = m->graph;
	int a = input(g, "a", SC_FLOAT, "2,3"), b = input(g, "b", SC_FLOAT, "3");
	push_output(g, b);
	push_output(g, a);
	save_model(m, path);
}

/* Ops no runtime implements, one of them twice, next to a real one. */
static void write_unsupported_model(const char *path)
{
	graph_model *m = new_model(13);
	graph *g = m->graph;
	int x = input(g, "x", SC_FLOAT, "3"), y1 = val(g, "y1"), y2 = val(g, "y2"),
	    y3 = val(g, "y3"), y4 = val(g, "y4");
	node(g, "Frobnicate", "com.example", 1, &x, 1, &y1);
	node(g, "NoSuchOp", "", 1, &x, 1, &y2);
	node(g, "Frobnicate", "com.example", 1, &y1, 1, &y3);
	node(g, "Identity", "", 1, &y2, 1, &y4);
	push_output(g, y3);
	push_output(g, y4);
	save_model(m, path);
}

/* --- tensors --------------------------------------------------------------- */

static void write_tensor(const char *path, int dtype, int rank, const int64_t *dims,
			 const void *data)
{
	sc_error err = {0};
	sc_tensor t;
	assert_int_equal(tensor_alloc(&t, dtype, rank, dims, "t", &err), SC_OK);
	memcpy(t.data, data, t.nbytes);
	if (onnx_tensor_save_file(&t, "ignored", path, &err) != SC_OK)
		fail_msg("save %s: %s", path, err.msg);
	tensor_free(&t);
}

/* Loads path, checks its name and shape, and returns it. */
static sc_tensor read_output(const char *path, const char *name, int dtype,
			     int rank, const int64_t *dims)
{
	sc_error err = {0};
	sc_tensor t;
	char *got_name = NULL;
	if (onnx_tensor_load_file(path, &t, &got_name, &err) != SC_OK)
		fail_msg("load %s: %s", path, err.msg);
	assert_string_equal(got_name, name);
	free(got_name);
	assert_int_equal(t.dtype, dtype);
	assert_int_equal(t.rank, rank);
	for (int i = 0; i < rank; i++)
		if (t.dims[i] != dims[i])
			fail_msg("%s: dim %d is %lld, expected %lld", path, i,
				 (long long)t.dims[i], (long long)dims[i]);
	return t;
}

static void expect_floats(const sc_tensor *t, const float *want, int64_t n,
			  float tol, const char *what)
{
	assert_int_equal(t->numel, n);
	const float *got = t->data;
	for (int64_t i = 0; i < n; i++)
		if (!(fabsf(got[i] - want[i]) <= tol))
			fail_msg("%s: element %lld is %.9g, expected %.9g", what,
				 (long long)i, got[i], want[i]);
}

/* --- run: values ------------------------------------------------------------ */

static void test_run_grad(void **state)
{
	(void)state;
	make_dir(RUN_DIR);
	const char *model = RUN_DIR "/dot.onnx";
	write_dot_model(model);
	const float a[6] = {-1.5f, 0.5f, 2.25f, 4.0f, 3.0f, -7.0f};
	const float b[3] = {10.0f, -20.0f, 0.5f};
	const float c[4] = {1, 2, 3, 4};
	write_tensor(RUN_DIR "/a.pb", SC_FLOAT, 2, (const int64_t[]){2, 3}, a);
	write_tensor(RUN_DIR "/b.pb", SC_FLOAT, 1, (const int64_t[]){3}, b);
	write_tensor(RUN_DIR "/c.pb", SC_FLOAT, 1, (const int64_t[]){4}, c);
	const char *out = RUN_DIR "/grad_out";
	cli_result r = cli_run(&run_dir, ARGS("run", model, "--in", "a=" RUN_DIR "/a.pb",
					      "--in", "b=" RUN_DIR "/b.pb", "--in",
					      "c=" RUN_DIR "/c.pb", "--grad", "b", "--grad",
					      "c", "--grad", "a", "--out", out));
	assert_true(r.exited);
	assert_int_equal(r.status, 0);
	/* the zero gradient of c comes with exactly one warning line */
	assert_non_null(strstr(r.err, "warning: output 'L' does not depend on 'c'"));
	assert_ptr_equal(strchr(r.err, '\n'), r.err + strlen(r.err) - 1);
	cli_result_free(&r);

	float da[6], db[3] = {0, 0, 0}, loss = 0;
	for (int i = 0; i < 6; i++) {
		da[i] = b[i % 3];
		db[i % 3] += a[i];
		loss += a[i] * b[i % 3];
	}
	sc_tensor t = read_output(RUN_DIR "/grad_out/output_0.pb", "L", SC_FLOAT, 0, NULL);
	expect_floats(&t, &loss, 1, 1e-6f, "loss");
	tensor_free(&t);
	t = read_output(RUN_DIR "/grad_out/grad_0.pb", "b_grad", SC_FLOAT, 1,
			(const int64_t[]){3});
	expect_floats(&t, db, 3, 0.0f, "dL/db");
	tensor_free(&t);
	t = read_output(RUN_DIR "/grad_out/grad_1.pb", "c_grad", SC_FLOAT, 1,
			(const int64_t[]){4});
	expect_floats(&t, (const float[]){0, 0, 0, 0}, 4, 0.0f, "dL/dc");
	tensor_free(&t);
	t = read_output(RUN_DIR "/grad_out/grad_2.pb", "a_grad", SC_FLOAT, 2,
			(const int64_t[]){2, 3});
	expect_floats(&t, da, 6, 0.0f, "dL/da");
	tensor_free(&t);
	/* only the model's own three outputs are output_<i>.pb */
	FILE *f = fopen(RUN_DIR "/grad_out/output_3.pb", "rb");
	assert_null(f);

	expect_fail(2, NEEDLES("--grad", "'p'", "neither a graph input nor an initializer"),
		    ARGS("run", model, "--in", "a=" RUN_DIR "/a.pb", "--in",
			 "b=" RUN_DIR "/b.pb", "--in", "c=" RUN_DIR "/c.pb",
			 "--grad", "p", "--out", out));
}

static void test_run_relu_add(void **state)
{
	(void)state;
	make_dir(RUN_DIR);
	const char *model = RUN_DIR "/relu_add.onnx";
	write_relu_add_model(model);
	const float a[6] = {-1.5f, 0.0f, 2.25f, -0.0f, 3.0f, -7.0f};
	const float b[3] = {10.0f, -20.0f, 0.5f};
	write_tensor(RUN_DIR "/a.pb", SC_FLOAT, 2, (const int64_t[]){2, 3}, a);
	write_tensor(RUN_DIR "/b.pb", SC_FLOAT, 1, (const int64_t[]){3}, b);

	/* the folder and its parents do not exist yet; --in in any order,
	 * options after the model or before it */
	const char *out = RUN_DIR "/relu_add_out/deeper/still";
	char cmd[512];
	snprintf(cmd, sizeof cmd, "rm -rf %s/relu_add_out", RUN_DIR);
	assert_int_equal(system(cmd), 0);
	cli_result r = expect_run(0, NULL, ARGS("run", "--in", "b=" RUN_DIR "/b.pb",
						model, "--in", "a=" RUN_DIR "/a.pb",
						"--threads", "1", "--out", out));
	assert_non_null(strstr(r.out, "output_0.pb  r  float32 [2, 3]"));
	cli_result_free(&r);

	float relu[6], sum[6];
	for (int i = 0; i < 6; i++) {
		relu[i] = a[i] > 0 ? a[i] : 0.0f;
		sum[i] = a[i] + b[i % 3];
	}
	sc_tensor t = read_output(RUN_DIR "/relu_add_out/deeper/still/output_0.pb",
				  "r", SC_FLOAT, 2, (const int64_t[]){2, 3});
	expect_floats(&t, relu, 6, 0.0f, "Relu");
	tensor_free(&t);
	t = read_output(RUN_DIR "/relu_add_out/deeper/still/output_1.pb", "s",
			SC_FLOAT, 2, (const int64_t[]){2, 3});
	expect_floats(&t, sum, 6, 0.0f, "Add");
	tensor_free(&t);

	/* again into the folder that now exists, with a trailing slash */
	cli_result_free((r = expect_run(0, NULL, ARGS("run", model, "--in",
		"a=" RUN_DIR "/a.pb", "--in", "b=" RUN_DIR "/b.pb", "--out",
		RUN_DIR "/relu_add_out/deeper/still/")), &r));
}

/* --- PNG ------------------------------------------------------------------- */

typedef struct png_case {
	const char *name;
	int color_type, bit_depth, interlace;
	int w, h;
	int channels;                 /* C of the tensor supcon must make */
	png_color palette[4];
	int n_palette;
	png_byte trns[4];             /* palette alpha */
	int n_trns;
	int gray_trns;                /* transparent gray value, -1 for none */
} png_case;

static int samples_per_pixel(int color_type)
{
	switch (color_type) {
	case PNG_COLOR_TYPE_GRAY: return 1;
	case PNG_COLOR_TYPE_GRAY_ALPHA: return 2;
	case PNG_COLOR_TYPE_RGB: return 3;
	case PNG_COLOR_TYPE_RGB_ALPHA: return 4;
	default: return 1;   /* palette index */
	}
}

/* The stored sample k of pixel (x, y): 0 at the first pixel, the largest
 * value at the last, and a pattern over the whole range of the bit depth
 * that differs by channel in between. */
static unsigned sample_at(const png_case *c, int x, int y, int k)
{
	unsigned max = (1u << c->bit_depth) - 1;
	if (c->color_type == PNG_COLOR_TYPE_PALETTE)
		return (unsigned)(x + 2 * y + k) % (unsigned)c->n_palette;
	if (x == 0 && y == 0)
		return 0;
	if (x == c->w - 1 && y == c->h - 1)
		return max;
	uint32_t h = (uint32_t)x * 2654435761u ^ (uint32_t)y * 40503u ^ (uint32_t)k * 97u;
	return (unsigned)((h ^ (h >> 13)) % (max + 1));
}

static void pack_row(const png_case *c, int y, png_byte *row)
{
	int spp = samples_per_pixel(c->color_type);
	size_t bits = (size_t)c->w * (size_t)spp * (size_t)c->bit_depth;
	memset(row, 0, (bits + 7) / 8);
	size_t bit = 0;
	for (int x = 0; x < c->w; x++)
		for (int k = 0; k < spp; k++, bit += (size_t)c->bit_depth) {
			unsigned v = sample_at(c, x, y, k);
			if (c->bit_depth == 16) {
				row[bit / 8] = (png_byte)(v >> 8);
				row[bit / 8 + 1] = (png_byte)(v & 0xff);
			} else {
				/* sub-byte samples fill from the high bits */
				unsigned shift = 8 - (unsigned)(bit % 8) - (unsigned)c->bit_depth;
				row[bit / 8] |= (png_byte)(v << shift);
			}
		}
}

static void write_png(const char *path, const png_case *c)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop info = png_create_info_struct(png);
	assert_non_null(png);
	assert_non_null(info);
	if (setjmp(png_jmpbuf(png)))
		fail_msg("libpng failed writing %s", path);
	png_init_io(png, f);
	png_set_IHDR(png, info, (png_uint_32)c->w, (png_uint_32)c->h, c->bit_depth,
		     c->color_type, c->interlace, PNG_COMPRESSION_TYPE_DEFAULT,
		     PNG_FILTER_TYPE_DEFAULT);
	if (c->color_type == PNG_COLOR_TYPE_PALETTE)
		png_set_PLTE(png, info, c->palette, c->n_palette);
	if (c->n_trns)
		png_set_tRNS(png, info, c->trns, c->n_trns, NULL);
	if (c->gray_trns >= 0) {
		png_color_16 t = {0};
		t.gray = (png_uint_16)c->gray_trns;
		png_set_tRNS(png, info, NULL, 0, &t);
	}
	png_write_info(png, info);
	size_t rowbytes = png_get_rowbytes(png, info);
	png_bytep *rows = calloc((size_t)c->h, sizeof *rows);
	assert_non_null(rows);
	for (int y = 0; y < c->h; y++) {
		rows[y] = calloc(1, rowbytes);
		assert_non_null(rows[y]);
		pack_row(c, y, rows[y]);
	}
	png_write_image(png, rows);
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	for (int y = 0; y < c->h; y++)
		free(rows[y]);
	free(rows);
	assert_int_equal(fclose(f), 0);
}

/* What channel k of pixel (x, y) must be in [0, 1]: computed from the
 * samples and the PNG specification, not from libpng. */
static float expected_value(const png_case *c, int x, int y, int k)
{
	if (c->color_type == PNG_COLOR_TYPE_PALETTE) {
		unsigned idx = sample_at(c, x, y, 0);
		const png_color *p = &c->palette[idx];
		unsigned v = k == 0 ? p->red : k == 1 ? p->green : k == 2 ? p->blue :
			     idx < (unsigned)c->n_trns ? c->trns[idx] : 255u;
		return (float)v / 255.0f;
	}
	unsigned max = (1u << c->bit_depth) - 1;
	int spp = samples_per_pixel(c->color_type);
	if (k == spp) {
		/* alpha made from tRNS: opaque unless the gray value matches */
		return sample_at(c, x, y, 0) == (unsigned)c->gray_trns ? 0.0f : 1.0f;
	}
	return (float)((double)sample_at(c, x, y, k) / (double)max);
}

static void check_png_case(const png_case *c)
{
	char png_path[512], out_dir[512], out_file[600];
	snprintf(png_path, sizeof png_path, "%s/%s.png", RUN_DIR, c->name);
	snprintf(out_dir, sizeof out_dir, "%s/png_out_%s", RUN_DIR, c->name);
	snprintf(out_file, sizeof out_file, "%s/output_0.pb", out_dir);
	write_png(png_path, c);
	char in_arg[600];
	snprintf(in_arg, sizeof in_arg, "x=%s", png_path);
	cli_result r = expect_run(0, NULL, ARGS("run", RUN_DIR "/identity.onnx",
						"--in", in_arg, "--out", out_dir));
	cli_result_free(&r);

	int64_t dims[4] = {1, c->channels, c->h, c->w};
	sc_tensor t = read_output(out_file, "x", SC_FLOAT, 4, dims);
	int64_t n = (int64_t)c->channels * c->h * c->w;
	float *want = malloc((size_t)n * sizeof *want);
	assert_non_null(want);
	for (int k = 0; k < c->channels; k++)
		for (int y = 0; y < c->h; y++)
			for (int x = 0; x < c->w; x++)
				want[((int64_t)k * c->h + y) * c->w + x] =
					expected_value(c, x, y, k);
	expect_floats(&t, want, n, 1e-6f, c->name);
	free(want);
	tensor_free(&t);
}

static void test_run_png(void **state)
{
	(void)state;
	make_dir(RUN_DIR);
	write_identity_model(RUN_DIR "/identity.onnx");
	static const png_case cases[] = {
		{"gray8", PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, 7, 5, 1,
		 {{0}}, 0, {0}, 0, -1},
		{"gray16", PNG_COLOR_TYPE_GRAY, 16, PNG_INTERLACE_NONE, 6, 4, 1,
		 {{0}}, 0, {0}, 0, -1},
		{"gray2", PNG_COLOR_TYPE_GRAY, 2, PNG_INTERLACE_NONE, 9, 3, 1,
		 {{0}}, 0, {0}, 0, -1},
		/* the last pixel (255) is the transparent one */
		{"gray8_trns", PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, 5, 5, 2,
		 {{0}}, 0, {0}, 0, 255},
		{"gray_alpha8", PNG_COLOR_TYPE_GRAY_ALPHA, 8, PNG_INTERLACE_NONE, 4, 3, 2,
		 {{0}}, 0, {0}, 0, -1},
		{"rgb8", PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE, 5, 4, 3,
		 {{0}}, 0, {0}, 0, -1},
		{"rgb8_interlaced", PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_ADAM7, 11, 9, 3,
		 {{0}}, 0, {0}, 0, -1},
		{"rgba16", PNG_COLOR_TYPE_RGB_ALPHA, 16, PNG_INTERLACE_NONE, 3, 2, 4,
		 {{0}}, 0, {0}, 0, -1},
		{"palette4", PNG_COLOR_TYPE_PALETTE, 4, PNG_INTERLACE_NONE, 6, 3, 3,
		 {{255, 0, 0}, {0, 128, 0}, {10, 20, 30}, {255, 255, 255}}, 4, {0}, 0, -1},
		{"palette8_trns", PNG_COLOR_TYPE_PALETTE, 8, PNG_INTERLACE_NONE, 5, 4, 4,
		 {{1, 2, 3}, {250, 0, 99}, {0, 0, 0}}, 3, {0, 128}, 2, -1},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		check_png_case(&cases[i]);
}

/* A big-endian 32-bit value. */
static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static void put_chunk(unsigned char **p, const char *type, const unsigned char *data,
		      uint32_t len)
{
	put_be32(*p, len);
	memcpy(*p + 4, type, 4);
	if (len)
		memcpy(*p + 8, data, len);
	put_be32(*p + 8 + len, (uint32_t)crc32(crc32(0, NULL, 0), *p + 4, len + 4));
	*p += 12 + len;
}

/* A PNG whose IHDR claims w x h gray pixels, followed by an IDAT that
 * holds far too little data for them. */
static void write_png_header_only(const char *path, uint32_t w, uint32_t h)
{
	unsigned char buf[128], ihdr[13], idat[32];
	static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
	memcpy(buf, sig, 8);
	unsigned char *p = buf + 8;
	put_be32(ihdr, w);
	put_be32(ihdr + 4, h);
	ihdr[8] = 8;     /* bit depth */
	ihdr[9] = 0;     /* gray */
	ihdr[10] = ihdr[11] = ihdr[12] = 0;
	put_chunk(&p, "IHDR", ihdr, 13);
	/* one filtered row of zeros, where h rows of w are due */
	static const unsigned char row[4] = {0};
	uLongf idat_len = sizeof idat;
	assert_int_equal(compress(idat, &idat_len, row, sizeof row), Z_OK);
	put_chunk(&p, "IDAT", idat, (uint32_t)idat_len);
	put_chunk(&p, "IEND", NULL, 0);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	size_t len = (size_t)(p - buf);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void test_run_bad_png(void **state)
{
	(void)state;
	make_dir(RUN_DIR);
	const char *ident = RUN_DIR "/identity.onnx";
	write_identity_model(ident);
	const char *out = RUN_DIR "/bad_png_out";

	/* 30000 x 30000 is within PNG's limits but refused before a 3.6 GB
	 * float tensor is allocated */
	write_png_header_only(RUN_DIR "/huge.png", 30000, 30000);
	expect_fail(2, NEEDLES("huge.png", "30000x30000", "larger than"),
		    ARGS("run", ident, "--in", "x=" RUN_DIR "/huge.png", "--out", out));
	/* a header, then nothing: libpng's complaint in one line */
	write_png_header_only(RUN_DIR "/empty.png", 4, 4);
	expect_fail(2, NEEDLES("empty.png", "bad PNG"),
		    ARGS("run", ident, "--in", "x=" RUN_DIR "/empty.png", "--out", out));

	/* a real PNG cut in the middle of its pixel data */
	png_case c = {"cut", PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE, 64, 64, 3,
		      {{0}}, 0, {0}, 0, -1};
	write_png(RUN_DIR "/cut.png", &c);
	struct stat st;
	assert_int_equal(stat(RUN_DIR "/cut.png", &st), 0);
	assert_int_equal(truncate(RUN_DIR "/cut.png", st.st_size / 2), 0);
	expect_fail(2, NEEDLES("cut.png", "bad PNG"),
		    ARGS("run", ident, "--in", "x=" RUN_DIR "/cut.png", "--out", out));

	/* named .png but holds text */
	FILE *f = fopen(RUN_DIR "/text.png", "w");
	assert_non_null(f);
	fputs("hello, not an image\n", f);
	fclose(f);
	expect_fail(2, NEEDLES("text.png", "not a PNG"),
		    ARGS("run", ident, "--in", "x=" RUN_DIR "/text.png", "--out", out));
}

/* --- run: bad input ----------------------------------------------------------- */

static void test_run_bad_input(void **state)
{
	(void)state;
	make_dir(RUN_DIR);
	const char *model = RUN_DIR "/passthrough.onnx";
	const char *unsup = RUN_DIR "/unsupported.onnx";
	write_passthrough_model(model);
	write_unsupported_model(unsup);
	const float a[6] = {1, 2, 3, 4, 5, 6};
	const int64_t ai[6] = {1, 2, 3, 4, 5, 6};
	write_tensor(RUN_DIR "/a.pb", SC_FLOAT, 2, (const int64_t[]){2, 3}, a);
	write_tensor(RUN_DIR "/a_int.pb", SC_INT64, 2, (const int64_t[]){2, 3}, ai);
	write_tensor(RUN_DIR "/a_32.pb", SC_FLOAT, 2, (const int64_t[]){3, 2}, a);
	write_tensor(RUN_DIR "/b.pb", SC_FLOAT, 1, (const int64_t[]){3}, a);
	FILE *f = fopen(RUN_DIR "/afile", "w");
	assert_non_null(f);
	fputs("not a folder\n", f);
	fclose(f);
	png_case gray = {"gray", PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, 3, 2, 1,
			 {{0}}, 0, {0}, 0, -1};
	write_png(RUN_DIR "/gray.png", &gray);
	const char *out = RUN_DIR "/bad_out";
#define IN_A "a=" RUN_DIR "/a.pb"
#define IN_B "b=" RUN_DIR "/b.pb"

	/* every unsupported op once, with its domain and opset */
	expect_fail(2, NEEDLES("unsupported.onnx", "com.example:Frobnicate (opset 3)",
			       "NoSuchOp (opset 13)"),
		    ARGS("run", unsup, "--in", IN_A, "--out", out));
	cli_result r = cli_run(&run_dir, ARGS("run", unsup, "--in", IN_A, "--out", out));
	char *first = strstr(r.err, "Frobnicate");
	assert_non_null(first);
	assert_null(strstr(first + 1, "Frobnicate"));
	/* Identity is listed exactly when the engine lacks its kernel */
	const op_def *id = op_find("", "Identity", 13);
	if (id && id->run)
		assert_null(strstr(r.err, "Identity"));
	else
		assert_non_null(strstr(r.err, "Identity (opset 13)"));
	cli_result_free(&r);

	/* wrong dtype, wrong shape: the input and what was expected */
	expect_fail(2, NEEDLES("'a'", "float32[2,3]", "int64"),
		    ARGS("run", model, "--in", "a=" RUN_DIR "/a_int.pb", "--in", IN_B,
			 "--out", out));
	expect_fail(2, NEEDLES("'a'", "float32[2,3]", "[3,2]"),
		    ARGS("run", model, "--in", "a=" RUN_DIR "/a_32.pb", "--in", IN_B,
			 "--out", out));
	/* a PNG is [1, C, H, W]: the wrong rank for a */
	expect_fail(2, NEEDLES("'a'", "float32[2,3]"),
		    ARGS("run", model, "--in", "a=" RUN_DIR "/gray.png", "--in", IN_B,
			 "--out", out));

	/* inputs: one missing, one the model lacks, a file that is not there,
	 * a spec without '=' */
	expect_fail(2, NEEDLES("'b'", "missing", "--in b="),
		    ARGS("run", model, "--in", IN_A, "--out", out));
	expect_fail(2, NEEDLES("no input 'c'", "a, b"),
		    ARGS("run", model, "--in", IN_A, "--in", IN_B, "--in",
			 "c=" RUN_DIR "/a.pb", "--out", out));
	expect_fail(2, NEEDLES("nothere.pb"),
		    ARGS("run", model, "--in", "a=" RUN_DIR "/nothere.pb", "--in", IN_B,
			 "--out", out));
	expect_fail(2, NEEDLES("NAME=FILE"),
		    ARGS("run", model, "--in", RUN_DIR "/a.pb", "--out", out));
	expect_fail(2, NEEDLES("random:", "bad shape"),
		    ARGS("run", model, "--in", "a=random:2x", "--in", IN_B, "--out", out));
	/* a .pb that is not a TensorProto */
	expect_fail(2, NEEDLES("--in a", "afile"),
		    ARGS("run", model, "--in", "a=" RUN_DIR "/afile", "--in", IN_B,
			 "--out", out));

	/* --out: missing, not creatable (a parent is a file) */
	expect_fail(2, NEEDLES("--out"), ARGS("run", model, "--in", IN_A, "--in", IN_B));
	expect_fail(2, NEEDLES("--out", "afile", "is a file"),
		    ARGS("run", model, "--in", IN_A, "--in", IN_B, "--out",
			 RUN_DIR "/afile/sub"));
	expect_fail(2, NEEDLES("--out", "afile"),
		    ARGS("run", model, "--in", IN_A, "--in", IN_B, "--out",
			 RUN_DIR "/afile"));

	/* usage */
	expect_fail(2, NEEDLES("missing MODEL.onnx"), ARGS("run", "--out", out));
	expect_fail(2, NEEDLES("--threads", "'0'"),
		    ARGS("run", model, "--in", IN_A, "--in", IN_B, "--threads", "0",
			 "--out", out));
	expect_fail(2, NEEDLES("missing.onnx"),
		    ARGS("run", RUN_DIR "/missing.onnx", "--out", out));
	/* --grad: the first output of this model is not a scalar */
	expect_fail(2, NEEDLES("--grad", "not a scalar"),
		    ARGS("run", model, "--in", IN_A, "--in", IN_B, "--grad", "a",
			 "--out", out));
#undef IN_A
#undef IN_B
}

/* --- random inputs and bench ---------------------------------------------- */

static void test_run_random_input(void **state)
{
	(void)state;
	make_dir(RUN_DIR);
	const char *ident = RUN_DIR "/identity.onnx";
	write_identity_model(ident);
	int64_t dims[4] = {2, 3, 5, 7};
	sc_tensor t[3];
	const char *seeds[3] = {"5", "5", "6"};
	for (int i = 0; i < 3; i++) {
		char dir[256];
		snprintf(dir, sizeof dir, "%s/random_%d", RUN_DIR, i);
		/* the same NAME twice: the last one wins */
		cli_result r = expect_run(0, NULL, ARGS("run", ident, "--in",
			"x=random:1x1x1x1", "--in", "x=random:2x3x5x7", "--seed",
			seeds[i], "--out", dir));
		cli_result_free(&r);
		char file[300];
		snprintf(file, sizeof file, "%s/output_0.pb", dir);
		t[i] = read_output(file, "x", SC_FLOAT, 4, dims);
	}
	const float *a = t[0].data, *b = t[1].data, *c = t[2].data;
	int differ = 0;
	double mean = 0;
	for (int64_t i = 0; i < t[0].numel; i++) {
		assert_true(a[i] >= 0.0f && a[i] < 1.0f);
		assert_true(a[i] == b[i]);
		differ += a[i] != c[i];
		mean += a[i];
	}
	mean /= (double)t[0].numel;
	/* 210 uniform draws: the mean is 0.5 +- 0.02 (one sigma) */
	assert_true(mean > 0.4 && mean < 0.6);
	assert_true(differ > (int)t[0].numel * 9 / 10);
	for (int i = 0; i < 3; i++)
		tensor_free(&t[i]);
}

/* The value after "key: " on its own line of out, or -1. */
static double report_value(const char *out, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof pat, "\n%s: ", key);
	const char *p = strstr(out, pat);
	if (!p && strncmp(out, pat + 1, strlen(pat + 1)) == 0)
		p = out - 1;
	return p ? strtod(p + strlen(pat), NULL) : -1.0;
}

static void test_bench(void **state)
{
	(void)state;
	make_dir(RUN_DIR);
	/* x float [N, 3, 4, 5] -> x */
	graph_model *m = new_model(13);
	graph *g = m->graph;
	push_output(g, input(g, "x", SC_FLOAT, "N,3,4,5"));
	const char *model = RUN_DIR "/bench.onnx";
	save_model(m, model);
	write_passthrough_model(RUN_DIR "/passthrough.onnx");

	cli_result r = expect_run(0, NULL, ARGS("bench", model, "--batch", "6",
						"--repeat", "5", "--warmup", "1",
						"--threads", "1"));
	assert_non_null(strstr(r.out, "input: x float32 [6, 3, 4, 5] from random\n"));
	assert_non_null(strstr(r.out, "runs: 1 warm-up, 5 timed\n"));
	assert_non_null(strstr(r.out, "(batch 6 from x)"));
	/* the last line, and the order of the statistics */
	const char *last = strstr(r.out, "\nmedian_ms: ");
	assert_non_null(last);
	assert_non_null(strchr(last + 1, '\n'));
	assert_int_equal(strchr(last + 1, '\n')[1], '\0');
	double mn = report_value(r.out, "min_ms"), md = report_value(r.out, "median_ms"),
	       mx = report_value(r.out, "max_ms");
	assert_true(mn >= 0 && mn <= md && md <= mx);
	assert_true(report_value(r.out, "peak_rss_kib") > 0);
	cli_result_free(&r);

	/* --in random:SHAPE, and --in from a file */
	r = expect_run(0, NULL, ARGS("bench", model, "--in", "x=random:2x3x4x5",
				     "--repeat", "1"));
	assert_non_null(strstr(r.out, "input: x float32 [2, 3, 4, 5] from random:2x3x4x5\n"));
	assert_non_null(strstr(r.out, "runs: 2 warm-up, 1 timed\n"));
	cli_result_free(&r);

	expect_fail(2, NEEDLES("--repeat", "'0'"), ARGS("bench", model, "--repeat", "0"));
	expect_fail(2, NEEDLES("--batch", "'x'"), ARGS("bench", model, "--batch", "x"));
	expect_fail(2, NEEDLES("--batch", "would not be used"),
		    ARGS("bench", model, "--batch", "2", "--in", "x=random:2x3x4x5"));
	/* a fixed first dim that --batch would contradict */
	expect_fail(2, NEEDLES("--batch 4", "'a'", "fixed first dim of 2"),
		    ARGS("bench", RUN_DIR "/passthrough.onnx", "--batch", "4"));
	expect_fail(2, NEEDLES("'x'", "float32[N,3,4,5]"),
		    ARGS("bench", model, "--in", "x=random:2x3x4x4"));
	/* identity.onnx has unknown dims past the batch */
	write_identity_model(RUN_DIR "/identity.onnx");
	expect_fail(2, NEEDLES("'x'", "dim 1", "random:SHAPE"),
		    ARGS("bench", RUN_DIR "/identity.onnx"));
	expect_fail(2, NEEDLES("missing MODEL.onnx"), ARGS("bench", "--repeat", "3"));
}

/* --check-numerics names the first non-finite value and where it came
 * from; --max-memory refuses before allocating; bench --sgemm. */
static void test_run_numerics_and_memory(void **state)
{
	(void)state;
	make_dir(RUN_DIR);
	const char *model = RUN_DIR "/relu_add.onnx";
	write_relu_add_model(model);
	const float a[6] = {1, 2, 3e38f, 4, NAN, 6};
	const float b[3] = {1, 2, 3e38f};
	write_tensor(RUN_DIR "/na.pb", SC_FLOAT, 2, (const int64_t[]){2, 3}, a);
	write_tensor(RUN_DIR "/nb.pb", SC_FLOAT, 1, (const int64_t[]){3}, b);
	const float a2[6] = {1, 2, 3e38f, 4, 5, 6};
	write_tensor(RUN_DIR "/na2.pb", SC_FLOAT, 2, (const int64_t[]){2, 3}, a2);
	const char *out = RUN_DIR "/numerics_out";
	/* unchecked, NaN and infinities are just values */
	cli_result r = expect_run(0, NULL, ARGS("run", model, "--in", "a=" RUN_DIR "/na.pb",
						"--in", "b=" RUN_DIR "/nb.pb", "--out", out));
	cli_result_free(&r);
	expect_fail(1, NEEDLES("input 'a' holds NaN at [1, 1]"),
		    ARGS("run", model, "--in", "a=" RUN_DIR "/na.pb", "--in",
			 "b=" RUN_DIR "/nb.pb", "--check-numerics", "--out", out));
	/* 3e38 + 3e38 overflows in the Add, at [0, 2] */
	expect_fail(1, NEEDLES("node 'Add' (Add) produced an infinity in output 's' at [0, 2]"),
		    ARGS("run", model, "--in", "a=" RUN_DIR "/na2.pb", "--in",
			 "b=" RUN_DIR "/nb.pb", "--check-numerics", "--out", out));
	/* two [2, 3] floats of activations need more than 16 bytes */
	expect_fail(1, NEEDLES("memory limit of 0.0 MiB exceeded", "activation"),
		    ARGS("run", model, "--in", "a=" RUN_DIR "/na2.pb", "--in",
			 "b=" RUN_DIR "/nb.pb", "--max-memory", "16", "--out", out));
	r = expect_run(0, NULL, ARGS("run", model, "--in", "a=" RUN_DIR "/na2.pb", "--in",
				     "b=" RUN_DIR "/nb.pb", "--max-memory", "1K", "--out", out));
	cli_result_free(&r);
	expect_fail(2, NEEDLES("--max-memory '12X'"),
		    ARGS("run", model, "--in", "a=" RUN_DIR "/na2.pb", "--in",
			 "b=" RUN_DIR "/nb.pb", "--max-memory", "12X", "--out", out));
	r = expect_run(0, NULL, ARGS("bench", "--sgemm", "128", "--threads", "1",
				     "--repeat", "2"));
	assert_true(report_value(r.out, "sgemm_gflop_per_s") > 0);
	cli_result_free(&r);
}

static void test_help(void **state)
{
	(void)state;
	make_dir(RUN_DIR);
	cli_result r = expect_run(0, NULL, ARGS("run", "--help"));
	assert_non_null(strstr(r.out, "usage: supcon run MODEL.onnx --in NAME=FILE"));
	assert_non_null(strstr(r.out, "--out DIR"));
	assert_non_null(strstr(r.out, "[1, C, H, W]"));
	cli_result_free(&r);
	r = expect_run(0, NULL, ARGS("bench", "--help"));
	assert_non_null(strstr(r.out, "usage: supcon bench MODEL.onnx"));
	assert_non_null(strstr(r.out, "--batch B"));
	assert_non_null(strstr(r.out, "median_ms: X"));
	cli_result_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_run_png),
		cmocka_unit_test(test_run_bad_png),
		cmocka_unit_test(test_run_random_input),
		cmocka_unit_test(test_bench),
		cmocka_unit_test(test_run_numerics_and_memory),
		cmocka_unit_test(test_run_bad_input),
		cmocka_unit_test(test_run_relu_add),
		cmocka_unit_test(test_run_grad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
