/* test_api.c: the public C API (runtime/supcon.h).
 *
 * Happy paths against independent references: a run against the plan it
 * wraps (byte for byte) and against the MLP computed here in double;
 * gradients against their closed form; a CE and a SupCon trainer's eval
 * loss against the loss computed here from the eval outputs (the SupCon
 * formula of DESIGN.md); training lowers the loss on a fixed batch;
 * parameters round-trip; a checkpoint restores identical parameters and
 * an identical next step; an export loads and reproduces the trainer's
 * outputs; PNGs read as the pixels written.
 * Misuse: every call with NULL handles and arguments, wrong dtypes and
 * buffer sizes, calls in the wrong order, corrupt models and checkpoints,
 * which must return an error status with a one-line message and change
 * nothing (run under ASan and UBSan in the sanitizer build). */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <cmocka.h>
#include <png.h>

#include "model_builder.h"
#include "models/models.h"
#include "onnx/onnx.h"
#include "runtime/plan.h"
#include "runtime/supcon.h"

#define N 6   /* batch */
#define D 4   /* MLP input */
#define H 5   /* MLP hidden */
#define K 3   /* classes */

static void fill(float *d, int64_t n, unsigned seed, float lo, float hi)
{
	for (int64_t i = 0; i < n; i++) {
		seed = seed * 1664525u + 1013904223u;
		d[i] = lo + (hi - lo) * (float)((seed >> 8) & 0xffff) / 65536.0f;
	}
}

/* The last error is one non-empty line. */
static void assert_one_line(const char *msg)
{
	assert_non_null(msg);
	assert_true(msg[0] != '\0');
	assert_null(strchr(msg, '\n'));
}

/* Fails the test with the API's message unless st is SUPCON_OK. */
#define OK(call)                                                               \
	do {                                                                   \
		supcon_status st_ = (call);                                    \
		if (st_ != SUPCON_OK)                                          \
			fail_msg("%s: %s: %s", #call, supcon_status_name(st_), \
				 supcon_last_error());                         \
	} while (0)

/* Expects status want and a one-line message containing `part`. */
#define FAILS(want, part, call)                                                \
	do {                                                                   \
		supcon_status st_ = (call);                                    \
		if (st_ != (want))                                             \
			fail_msg("%s: got %s, want %s (%s)", #call,            \
				 supcon_status_name(st_),                      \
				 supcon_status_name(want), supcon_last_error()); \
		assert_one_line(supcon_last_error());                         \
		if (!strstr(supcon_last_error(), (part)))                      \
			fail_msg("%s: message '%s' lacks '%s'", #call,         \
				 supcon_last_error(), (part));                 \
	} while (0)

/* --- models ---------------------------------------------------------------- */

static float W1[H * D], B1[H], W2[K * H], B2[K];

/* logits = Gemm(Relu(Gemm(x, W1, b1)), W2, b2), x float [N, 4]. */
static graph_model *mlp_model(void)
{
	fill(W1, H * D, 1, -1, 1);
	fill(B1, H, 2, -0.5f, 0.5f);
	fill(W2, K * H, 3, -1, 1);
	fill(B2, K, 4, -0.5f, 0.5f);
	graph_model *m = model(13);
	m->ir_version = 8;
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "N,4");
	int64_t w1[] = {H, D}, b1[] = {H}, w2[] = {K, H}, b2[] = {K};
	init_tensor(g, "fc1.weight", SC_FLOAT, 2, w1, W1);
	init_tensor(g, "fc1.bias", SC_FLOAT, 1, b1, B1);
	init_tensor(g, "fc2.weight", SC_FLOAT, 2, w2, W2);
	init_tensor(g, "fc2.bias", SC_FLOAT, 1, b2, B2);
	attr_int(add(g, "Gemm", "fc1", "x,fc1.weight,fc1.bias", "h"), "transB", 1);
	add(g, "Relu", "relu", "h", "hr");
	attr_int(add(g, "Gemm", "fc2", "hr,fc2.weight,fc2.bias", "logits"), "transB", 1);
	output(g, "logits");
	return m;
}

/* obj = ReduceSum((x W^T + b)^2) over everything; `unused` feeds nothing. */
static float GW[K * D], GB[K];

static graph_model *objective_model(void)
{
	fill(GW, K * D, 5, -1, 1);
	fill(GB, K, 6, -1, 1);
	graph_model *m = model(13);
	m->ir_version = 8;
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "N,4");
	int64_t wd[] = {K, D}, bd[] = {K};
	init_tensor(g, "w", SC_FLOAT, 2, wd, GW);
	init_tensor(g, "b", SC_FLOAT, 1, bd, GB);
	init_tensor(g, "unused", SC_FLOAT, 1, bd, GB);
	attr_int(add(g, "Gemm", "fc", "x,w,b", "y"), "transB", 1);
	add(g, "Mul", "sq", "y,y", "y2");
	attr_int(add(g, "ReduceSum", "sum", "y2", "obj"), "keepdims", 0);
	output(g, "obj");
	return m;
}

/* A tiny ResNet-18 with an MLP projector (embedding output), for SupCon. */
static graph_model *resnet_model(int64_t classes)
{
	model_config c;
	model_config_init(&c);
	c.stem = MODEL_STEM_CIFAR;
	c.width = 4;
	c.in_c = 1;
	c.in_h = c.in_w = 8;
	c.classes = classes;
	if (!classes) {
		c.head.kind = MODEL_HEAD_MLP;
		c.head.dim = 8;
	}
	c.seed = 3;
	graph_model *m;
	sc_error err = {0};
	if (model_build(&c, &m, &err))
		fail_msg("model_build: %s", err.msg);
	return m;
}

typedef struct blob {
	void *buf;
	size_t len;
} blob;

static blob serialize(graph_model *m)
{
	blob b;
	sc_error err = {0};
	if (onnx_save_memory(m, &b.buf, &b.len, &err))
		fail_msg("onnx_save_memory: %s", err.msg);
	graph_model_free(m);
	return b;
}

static supcon_session *open_blob(blob b)
{
	supcon_session *s = NULL;
	OK(supcon_session_create_from_memory(b.buf, b.len, &s));
	free(b.buf);
	return s;
}

static void work_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/api/%s", SUPCON_TEST_WORK, name);
}

static void make_work_dir(void)
{
	char dir[512];
	snprintf(dir, sizeof dir, "%s/api", SUPCON_TEST_WORK);
	mkdir(dir, 0777);
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static const float *fdata(const supcon_tensor *t)
{
	void *d = NULL;
	OK(supcon_tensor_data(t, &d));
	return d;
}

/* --- tensors --------------------------------------------------------------- */

static void test_version(void **state)
{
	(void)state;
	assert_string_equal(supcon_version(), "0.1.0");
	assert_string_equal(supcon_status_name(SUPCON_EINVAL), "SUPCON_EINVAL");
	assert_string_equal(supcon_status_name((supcon_status)99), "SUPCON_E?");
}

static void test_tensors(void **state)
{
	(void)state;
	int64_t dims[3] = {2, 3, 4};
	supcon_tensor *t = NULL;
	OK(supcon_tensor_create(SUPCON_INT64, 3, dims, &t));
	supcon_dtype dt;
	int rank;
	int64_t got[SUPCON_MAX_RANK], numel;
	size_t nbytes;
	OK(supcon_tensor_info(t, &dt, &rank, got, SUPCON_MAX_RANK));
	assert_int_equal(dt, SUPCON_INT64);
	assert_int_equal(rank, 3);
	assert_memory_equal(got, dims, sizeof dims);
	OK(supcon_tensor_size(t, &numel, &nbytes));
	assert_int_equal(numel, 24);
	assert_int_equal(nbytes, 24 * 8);
	const int64_t *zero = NULL;
	OK(supcon_tensor_data(t, (void **)&zero));
	for (int i = 0; i < 24; i++)
		assert_int_equal(zero[i], 0);
	FAILS(SUPCON_EINVAL, "room for 2", supcon_tensor_info(t, NULL, NULL, got, 2));
	int64_t small[23];
	FAILS(SUPCON_EINVAL, "192", supcon_tensor_read(t, small, sizeof small));
	supcon_tensor_free(t);

	/* wrapping uses the caller's memory in place */
	float buf[6] = {1, 2, 3, 4, 5, 6}, back[6];
	int64_t d2[2] = {2, 3};
	OK(supcon_tensor_wrap(SUPCON_FLOAT, 2, d2, buf, sizeof buf, &t));
	void *p;
	OK(supcon_tensor_data(t, &p));
	assert_ptr_equal(p, buf);
	OK(supcon_tensor_read(t, back, sizeof back));
	assert_memory_equal(back, buf, sizeof buf);
	supcon_tensor_free(t);
	assert_int_equal(buf[5], 6);   /* freeing a wrapper leaves the memory */

	/* misuse */
	t = (supcon_tensor *)&t;
	FAILS(SUPCON_EINVAL, "needs 24", supcon_tensor_wrap(SUPCON_FLOAT, 2, d2, buf, 20, &t));
	assert_null(t);
	FAILS(SUPCON_EINVAL, "aligned",
	      supcon_tensor_wrap(SUPCON_FLOAT, 1, (int64_t[]){1}, (char *)buf + 1, 4, &t));
	FAILS(SUPCON_EINVAL, "data is NULL",
	      supcon_tensor_wrap(SUPCON_FLOAT, 2, d2, NULL, sizeof buf, &t));
	FAILS(SUPCON_EINVAL, "dtype 8", supcon_tensor_create((supcon_dtype)8, 1, d2, &t));
	FAILS(SUPCON_EINVAL, "dtype 0", supcon_tensor_create((supcon_dtype)0, 1, d2, &t));
	FAILS(SUPCON_EINVAL, "rank 9", supcon_tensor_create(SUPCON_FLOAT, 9, dims, &t));
	FAILS(SUPCON_EINVAL, "dims is NULL", supcon_tensor_create(SUPCON_FLOAT, 2, NULL, &t));
	FAILS(SUPCON_EINVAL, "out is NULL", supcon_tensor_create(SUPCON_FLOAT, 1, d2, NULL));
	int64_t neg[1] = {-3}, huge[2] = {INT64_C(1) << 40, INT64_C(1) << 40};
	FAILS(SUPCON_EINVAL, "", supcon_tensor_create(SUPCON_FLOAT, 1, neg, &t));
	FAILS(SUPCON_EINVAL, "", supcon_tensor_create(SUPCON_FLOAT, 2, huge, &t));
	FAILS(SUPCON_EINVAL, "tensor is NULL", supcon_tensor_info(NULL, &dt, &rank, NULL, 0));
	FAILS(SUPCON_EINVAL, "tensor is NULL", supcon_tensor_size(NULL, &numel, NULL));
	FAILS(SUPCON_EINVAL, "tensor is NULL", supcon_tensor_data(NULL, &p));
	FAILS(SUPCON_EINVAL, "tensor is NULL", supcon_tensor_read(NULL, back, 4));
	FAILS(SUPCON_EINVAL, "tensor is NULL", supcon_tensor_save_pb(NULL, "x", "/tmp/x"));
	supcon_tensor_free(NULL);

	/* scalars, and a TensorProto round trip */
	OK(supcon_tensor_create(SUPCON_DOUBLE, 0, NULL, &t));
	double *dv;
	OK(supcon_tensor_data(t, (void **)&dv));
	*dv = 2.5;
	char path[512];
	make_work_dir();
	work_path(path, sizeof path, "scalar.pb");
	OK(supcon_tensor_save_pb(t, "s", path));
	supcon_tensor *u = NULL;
	OK(supcon_tensor_load_pb(path, &u));
	OK(supcon_tensor_info(u, &dt, &rank, NULL, 0));
	assert_int_equal(dt, SUPCON_DOUBLE);
	assert_int_equal(rank, 0);
	assert_true(*(const double *)fdata(u) == 2.5);
	supcon_tensor_free(u);
	supcon_tensor_free(t);
	work_path(path, sizeof path, "garbage.pb");
	write_file(path, "\xff\xff\xff\xff", 4);
	FAILS(SUPCON_EINVAL, "garbage.pb", supcon_tensor_load_pb(path, &u));
	assert_null(u);
}

/* A w x h 8-bit PNG of `channels` (1 grey, 3 RGB) with pixel values
 * v(c, y, x) = (37 * c + 11 * y + 5 * x) % 256. */
static void write_png(const char *path, int channels, int w, int h)
{
	png_image img;
	memset(&img, 0, sizeof img);
	img.version = PNG_IMAGE_VERSION;
	img.width = (png_uint_32)w;
	img.height = (png_uint_32)h;
	img.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
	unsigned char *px = malloc((size_t)(w * h * channels));
	assert_non_null(px);
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			for (int c = 0; c < channels; c++)
				px[(y * w + x) * channels + c] =
					(unsigned char)((37 * c + 11 * y + 5 * x) % 256);
	assert_true(png_image_write_to_file(&img, path, 0, px, 0, NULL));
	free(px);
}

static void test_png(void **state)
{
	(void)state;
	char path[512];
	make_work_dir();
	work_path(path, sizeof path, "rgb.png");
	write_png(path, 3, 7, 5);
	supcon_tensor *t = NULL;
	OK(supcon_tensor_load_png(path, 3, &t));
	int64_t dims[4];
	int rank;
	OK(supcon_tensor_info(t, NULL, &rank, dims, 4));
	assert_int_equal(rank, 4);
	assert_true(dims[0] == 1 && dims[1] == 3 && dims[2] == 5 && dims[3] == 7);
	const float *f = fdata(t);
	for (int c = 0; c < 3; c++)
		for (int y = 0; y < 5; y++)
			for (int x = 0; x < 7; x++)
				assert_float_equal(f[(c * 5 + y) * 7 + x],
						   ((37 * c + 11 * y + 5 * x) % 256) / 255.0,
						   1e-7);
	supcon_tensor_free(t);
	/* grey from RGB is PIL's luma, (299 R + 587 G + 114 B) / 1000 */
	OK(supcon_tensor_load_png(path, 1, &t));
	f = fdata(t);
	int r = 11 * 2 + 5 * 3, g = 37 + r, b = 74 + r;
	assert_float_equal(f[2 * 7 + 3], ((299 * r + 587 * g + 114 * b) / 1000) / 255.0,
			   1e-7);
	supcon_tensor_free(t);
	FAILS(SUPCON_EINVAL, "channels is 2", supcon_tensor_load_png(path, 2, &t));
	FAILS(SUPCON_EINVAL, "channels is -1", supcon_tensor_load_png(path, -1, &t));
	assert_null(t);
	work_path(path, sizeof path, "not_a.png");
	write_file(path, "\x89PNG\r\n\x1a\nxx", 10);
	FAILS(SUPCON_EINVAL, "not_a.png", supcon_tensor_load_png(path, 3, &t));
	FAILS(SUPCON_EINVAL, "path is NULL", supcon_tensor_load_png(NULL, 3, &t));
}

/* --- sessions -------------------------------------------------------------- */

static void mlp_reference(const float *x, double *logits)
{
	for (int n = 0; n < N; n++)
		for (int k = 0; k < K; k++) {
			double acc = B2[k];
			for (int j = 0; j < H; j++) {
				double h = B1[j];
				for (int d = 0; d < D; d++)
					h += (double)x[n * D + d] * W1[j * D + d];
				acc += (h > 0 ? h : 0) * W2[k * H + j];
			}
			logits[n * K + k] = acc;
		}
}

static void test_session_introspection(void **state)
{
	(void)state;
	supcon_session *s = open_blob(serialize(mlp_model()));
	int n;
	OK(supcon_session_input_count(s, &n));
	assert_int_equal(n, 1);   /* initializers are not inputs */
	OK(supcon_session_output_count(s, &n));
	assert_int_equal(n, 1);
	const char *name;
	OK(supcon_session_input_name(s, 0, &name));
	assert_string_equal(name, "x");
	OK(supcon_session_output_name(s, 0, &name));
	assert_string_equal(name, "logits");
	int dtype, rank;
	int64_t dims[SUPCON_MAX_RANK];
	OK(supcon_session_input_info(s, 0, &dtype, &rank, dims, SUPCON_MAX_RANK));
	assert_int_equal(dtype, SUPCON_FLOAT);
	assert_int_equal(rank, 2);
	assert_int_equal(dims[0], -1);
	assert_int_equal(dims[1], D);
	OK(supcon_session_input_dim_name(s, 0, 0, &name));
	assert_string_equal(name, "N");
	OK(supcon_session_input_dim_name(s, 0, 1, &name));
	assert_null(name);
	/* the output's type is inferred: [N, 3] */
	OK(supcon_session_output_info(s, 0, &dtype, &rank, dims, SUPCON_MAX_RANK));
	assert_int_equal(dtype, SUPCON_FLOAT);
	assert_int_equal(rank, 2);
	assert_int_equal(dims[1], K);
	OK(supcon_session_output_dim_name(s, 0, 0, &name));
	assert_string_equal(name, "N");

	FAILS(SUPCON_EINVAL, "input 1 does not exist", supcon_session_input_name(s, 1, &name));
	assert_string_equal(supcon_session_error(s), supcon_last_error());
	OK(supcon_session_input_name(s, 0, &name));
	assert_string_equal(supcon_session_error(s), "");   /* success clears it */
	FAILS(SUPCON_EINVAL, "output -1", supcon_session_output_info(s, -1, &dtype, &rank,
								      dims, 4));
	FAILS(SUPCON_EINVAL, "room for 1", supcon_session_input_info(s, 0, &dtype, &rank,
								      dims, 1));
	FAILS(SUPCON_EINVAL, "no dim 2", supcon_session_input_dim_name(s, 0, 2, &name));
	FAILS(SUPCON_EINVAL, "count is NULL", supcon_session_input_count(s, NULL));
	FAILS(SUPCON_EINVAL, "session is NULL", supcon_session_input_count(NULL, &n));
	FAILS(SUPCON_EINVAL, "session is NULL", supcon_session_output_count(NULL, &n));
	FAILS(SUPCON_EINVAL, "session is NULL", supcon_session_output_name(NULL, 0, &name));
	FAILS(SUPCON_EINVAL, "session is NULL",
	      supcon_session_output_dim_name(NULL, 0, 0, &name));
	FAILS(SUPCON_EINVAL, "session is NULL",
	      supcon_session_input_info(NULL, 0, &dtype, &rank, dims, 4));
	assert_string_equal(supcon_session_error(NULL), "no session (NULL)");
	supcon_session_free(s);
	supcon_session_free(NULL);
}

/* --- model facts, options, prepared gradients (what the CLI needs) -------- */

/* The MLP with an ai.supcon op supcon does not implement on the hidden
 * layer and fc1.bias also listed as a graph input, saved as a file. */
static void write_custom_model(char *path, size_t len)
{
	graph_model *m = mlp_model();
	m->producer_name = strdup("test_api");
	m->producer_version = strdup("7");
	add_opset(m, "ai.supcon", 1);
	graph *g = m->graph;
	graph_node *n = add(g, "Custom", "cust", "hr", "c");
	free(n->domain);
	n->domain = strdup("ai.supcon");
	output(g, "c");
	push_input(g, val(g, "fc1.bias"));
	blob b = serialize(m);
	make_work_dir();
	work_path(path, len, "custom.onnx");
	write_file(path, b.buf, b.len);
	free(b.buf);
}

static void test_session_facts(void **state)
{
	(void)state;
	char path[512];
	write_custom_model(path, sizeof path);
	supcon_session *s = NULL;
	FAILS(SUPCON_EUNSUPPORTED, "Custom", supcon_session_create(path, &s));
	assert_null(s);
	OK(supcon_session_create_with(path, "prepare=0", &s));

	int64_t v;
	OK(supcon_session_ir_version(s, &v));
	assert_int_equal(v, 8);
	const char *name, *version;
	OK(supcon_session_producer(s, &name, &version));
	assert_string_equal(name, "test_api");
	assert_string_equal(version, "7");
	int n;
	OK(supcon_session_opset_count(s, &n));
	assert_int_equal(n, 2);
	OK(supcon_session_opset(s, 0, &name, &v));
	assert_string_equal(name, "");
	assert_int_equal(v, 13);
	OK(supcon_session_opset(s, 1, &name, &v));
	assert_string_equal(name, "ai.supcon");
	assert_int_equal(v, 1);
	OK(supcon_session_node_count(s, &n));
	assert_int_equal(n, 4);
	/* sorted by strcmp: upper case first */
	static const char *const keys[] = {"Gemm", "Relu", "ai.supcon:Custom"};
	static const int64_t counts[] = {2, 1, 1};
	OK(supcon_session_op_kind_count(s, &n));
	assert_int_equal(n, 3);
	for (int i = 0; i < 3; i++) {
		OK(supcon_session_op_kind(s, i, &name, &v));
		assert_string_equal(name, keys[i]);
		assert_int_equal(v, counts[i]);
	}
	OK(supcon_session_initializer_elements(s, &v));
	assert_int_equal(v, H * D + H + K * H + K);

	int index;
	OK(supcon_session_find_input(s, "x", &index));
	assert_int_equal(index, 0);
	OK(supcon_session_find_input(s, "fc1.bias", &index));
	assert_int_equal(index, SUPCON_INITIALIZER_INPUT);
	OK(supcon_session_find_input(s, "fc2.bias", &index));   /* not listed */
	assert_int_equal(index, -1);
	OK(supcon_session_input_count(s, &n));
	assert_int_equal(n, 1);

	char type[64];
	OK(supcon_session_value_type(s, "x", type, sizeof type));
	assert_string_equal(type, "float32");
	OK(supcon_session_value_type(s, "logits", type, sizeof type));
	assert_string_equal(type, "float32");   /* inferred */
	OK(supcon_session_value_type(s, "c", type, sizeof type));
	assert_string_equal(type, "");          /* nothing says */
	int rank;
	OK(supcon_session_output_info(s, 1, NULL, &rank, NULL, 0));
	assert_int_equal(rank, -1);

	FAILS(SUPCON_EINVAL, "more than 3 bytes",
	      supcon_session_value_type(s, "x", type, 3));
	FAILS(SUPCON_EINVAL, "no input or output 'h'",
	      supcon_session_value_type(s, "h", type, sizeof type));
	FAILS(SUPCON_EINVAL, "op kind 3", supcon_session_op_kind(s, 3, &name, &v));
	FAILS(SUPCON_EINVAL, "opset import -1", supcon_session_opset(s, -1, &name, &v));
	FAILS(SUPCON_EINVAL, "session is NULL", supcon_session_node_count(NULL, &n));
	FAILS(SUPCON_EINVAL, "count is NULL", supcon_session_node_count(s, NULL));
	FAILS(SUPCON_EINVAL, "name is NULL", supcon_session_find_input(s, NULL, &index));

	/* the unsupported op is refused at the first run instead */
	float x[N * D] = {0};
	int64_t xd[2] = {N, D};
	supcon_tensor *xt = NULL;
	OK(supcon_tensor_wrap(SUPCON_FLOAT, 2, xd, x, sizeof x, &xt));
	const char *names[1] = {"x"};
	const supcon_tensor *ins[1] = {xt};
	FAILS(SUPCON_EUNSUPPORTED, "ai.supcon:Custom", supcon_session_run(s, 1, names, ins));
	supcon_tensor_free(xt);
	supcon_session_free(s);
}

static void test_session_options(void **state)
{
	(void)state;
	char path[512];
	blob b = serialize(mlp_model());
	make_work_dir();
	work_path(path, sizeof path, "mlp.onnx");
	write_file(path, b.buf, b.len);
	free(b.buf);
	supcon_session *s = NULL;
	FAILS(SUPCON_EINVAL, "threads=x", supcon_session_create_with(path, "threads=x", &s));
	FAILS(SUPCON_EINVAL, "threads=5000",
	      supcon_session_create_with(path, "threads=5000", &s));
	FAILS(SUPCON_EINVAL, "unknown option 'bogus'",
	      supcon_session_create_with(path, "threads=1,bogus=1", &s));
	FAILS(SUPCON_EINVAL, "expected key=value",
	      supcon_session_create_with(path, "check_numerics", &s));
	FAILS(SUPCON_EINVAL, "path is NULL", supcon_session_create_with(NULL, "", &s));
	assert_null(s);

	float x[N * D];
	fill(x, N * D, 21, -1, 1);
	int64_t xd[2] = {N, D};
	supcon_tensor *xt = NULL;
	OK(supcon_tensor_wrap(SUPCON_FLOAT, 2, xd, x, sizeof x, &xt));
	const char *names[1] = {"x"};
	const supcon_tensor *ins[1] = {xt};

	/* check_numerics names the input holding a NaN */
	OK(supcon_session_create_with(path, "threads=1,check_numerics=1", &s));
	x[5] = NAN;
	FAILS(SUPCON_ENUMERIC, "input 'x' holds NaN", supcon_session_run(s, 1, names, ins));
	x[5] = 0.25f;
	size_t arena, inter, peak;
	double flops;
	FAILS(SUPCON_EINVAL, "no successful run",
	      supcon_session_run_stats(s, &arena, &inter, &peak, &flops));
	OK(supcon_session_run(s, 1, names, ins));
	OK(supcon_session_run_stats(s, &arena, &inter, &peak, &flops));
	/* two Gemms: 2 flops per multiply-add */
	assert_float_equal(flops, 2.0 * N * (D * H + H * K), 0.0);
	assert_true(arena > 0 && arena <= inter);
	assert_true(peak >= arena);
	OK(supcon_session_run_stats(s, NULL, NULL, NULL, NULL));
	supcon_session_free(s);

	/* without check_numerics the NaN just flows through */
	OK(supcon_session_create_with(path, "", &s));
	x[5] = NAN;
	OK(supcon_session_run(s, 1, names, ins));
	supcon_session_free(s);

	/* a one-byte budget cannot even hold the weights; 1 MiB holds all */
	FAILS(SUPCON_ENOMEM, "memory limit",
	      supcon_session_create_with(path, "max_memory=1", &s));
	assert_null(s);
	x[5] = 0.25f;
	OK(supcon_session_create_with(path, "max_memory=1048576", &s));
	OK(supcon_session_run(s, 1, names, ins));
	OK(supcon_session_run_stats(s, NULL, NULL, &peak, NULL));
	assert_true(peak > 0 && peak <= 1048576);
	supcon_session_free(s);
	supcon_tensor_free(xt);
}

static void test_session_prepare_grad(void **state)
{
	(void)state;
	supcon_session *s = open_blob(serialize(objective_model()));
	const char *wrt[2] = {"w", "unused"};
	int depends[2] = {-1, -1};
	OK(supcon_session_prepare_grad(s, 2, wrt, depends));
	assert_int_equal(depends[0], 1);
	assert_int_equal(depends[1], 0);
	OK(supcon_session_prepare_grad(s, 2, wrt, NULL));
	const char *bad[1] = {"nope"};
	FAILS(SUPCON_EINVAL, "'nope'", supcon_session_prepare_grad(s, 1, bad, depends));
	FAILS(SUPCON_EINVAL, "n_wrt is 0", supcon_session_prepare_grad(s, 0, wrt, depends));
	FAILS(SUPCON_EINVAL, "session is NULL",
	      supcon_session_prepare_grad(NULL, 2, wrt, depends));

	/* run_grad with the prepared names: the zero gradient is zero */
	OK(supcon_session_prepare_grad(s, 2, wrt, depends));
	float x[N * D];
	fill(x, N * D, 12, -1, 1);
	int64_t xd[2] = {N, D};
	supcon_tensor *xt = NULL;
	OK(supcon_tensor_wrap(SUPCON_FLOAT, 2, xd, x, sizeof x, &xt));
	const char *names[1] = {"x"};
	const supcon_tensor *ins[1] = {xt};
	supcon_tensor *g[2] = {0};
	OK(supcon_session_run_grad(s, 1, names, ins, 2, wrt, g));
	const float *gu = fdata(g[1]);
	for (int k = 0; k < K; k++)
		assert_true(gu[k] == 0.0f);
	double sum = 0;   /* d obj / d w is 2 y^T x: not all zero */
	const float *gw = fdata(g[0]);
	for (int i = 0; i < K * D; i++)
		sum += fabs(gw[i]);
	assert_true(sum > 0);
	supcon_tensor_free(g[0]);
	supcon_tensor_free(g[1]);
	supcon_tensor_free(xt);
	supcon_session_free(s);
}

static float half_to_float(uint16_t h)
{
	int e = (h >> 10) & 0x1f, m = h & 0x3ff;
	float v = e ? ldexpf((float)(m | 0x400), e - 25) : ldexpf((float)m, -24);
	return h & 0x8000 ? -v : v;
}

static void test_fill_random(void **state)
{
	(void)state;
	int64_t d[1] = {4096};
	supcon_tensor *a = NULL, *b = NULL, *h = NULL, *i64 = NULL;
	OK(supcon_tensor_create(SUPCON_FLOAT, 1, d, &a));
	OK(supcon_tensor_create(SUPCON_FLOAT, 1, d, &b));
	OK(supcon_tensor_create(SUPCON_FLOAT16, 1, d, &h));
	OK(supcon_tensor_fill_random(a, 7));
	OK(supcon_tensor_fill_random(h, 7));
	const float *fa = fdata(a), *fb;
	double mean = 0;
	for (int i = 0; i < 4096; i++) {
		assert_true(fa[i] >= 0.0f && fa[i] < 1.0f);
		mean += fa[i] / 4096.0;
	}
	assert_true(mean > 0.45 && mean < 0.55);
	OK(supcon_tensor_fill_random(b, 7));
	fb = fdata(b);
	assert_memory_equal(fa, fb, sizeof(float) * 4096);   /* same seed */
	OK(supcon_tensor_fill_random(b, 8));
	int differ = 0;
	for (int i = 0; i < 4096; i++)
		differ += fa[i] != fb[i];
	assert_true(differ > 4000);
	/* float16 holds the float32 stream rounded to 11 bits */
	void *hd = NULL;
	OK(supcon_tensor_data(h, &hd));
	for (int i = 0; i < 4096; i++)
		assert_true(fabsf(half_to_float(((uint16_t *)hd)[i]) - fa[i]) <=
			    fa[i] * 0x1p-11f + 0x1p-25f);
	OK(supcon_tensor_create(SUPCON_INT64, 1, d, &i64));
	FAILS(SUPCON_EINVAL, "floating point", supcon_tensor_fill_random(i64, 1));
	FAILS(SUPCON_EINVAL, "tensor is NULL", supcon_tensor_fill_random(NULL, 1));
	assert_string_equal(supcon_dtype_name(SUPCON_INT64), "int64");
	assert_string_equal(supcon_dtype_name(SUPCON_DOUBLE), "float64");
	assert_string_equal(supcon_dtype_name(99), "?");
	supcon_tensor_free(a);
	supcon_tensor_free(b);
	supcon_tensor_free(h);
	supcon_tensor_free(i64);
}

/* channels 0 keeps the file's own channels: RGBA and grey+alpha. */
static void test_png_native(void **state)
{
	(void)state;
	static const struct { png_uint_32 format; int channels; } cases[] = {
		{PNG_FORMAT_RGBA, 4}, {PNG_FORMAT_GA, 2}, {PNG_FORMAT_GRAY, 1},
	};
	char path[512];
	make_work_dir();
	work_path(path, sizeof path, "native.png");
	const int w = 6, hgt = 3;
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		int ch = cases[c].channels;
		png_image img;
		memset(&img, 0, sizeof img);
		img.version = PNG_IMAGE_VERSION;
		img.width = (png_uint_32)w;
		img.height = (png_uint_32)hgt;
		img.format = cases[c].format;
		unsigned char px[6 * 3 * 4];
		for (int i = 0; i < w * hgt * ch; i++)
			px[i] = (unsigned char)(i * 29 % 256);
		assert_true(png_image_write_to_file(&img, path, 0, px, 0, NULL));
		supcon_tensor *t = NULL;
		OK(supcon_tensor_load_png(path, 0, &t));
		int64_t dims[4];
		int rank;
		OK(supcon_tensor_info(t, NULL, &rank, dims, 4));
		assert_int_equal(rank, 4);
		assert_true(dims[0] == 1 && dims[1] == ch && dims[2] == hgt && dims[3] == w);
		const float *f = fdata(t);
		for (int y = 0; y < hgt; y++)
			for (int x = 0; x < w; x++)
				for (int k = 0; k < ch; k++)
					assert_float_equal(f[(k * hgt + y) * w + x],
							   px[(y * w + x) * ch + k] / 255.0,
							   1e-7);
		supcon_tensor_free(t);
	}
}

static void test_session_run(void **state)
{
	(void)state;
	graph_model *ref_m = mlp_model();
	supcon_session *s = open_blob(serialize(mlp_model()));
	float x[N * D];
	fill(x, N * D, 9, -2, 2);
	int64_t xd[2] = {N, D};
	supcon_tensor *xt = NULL;
	OK(supcon_tensor_wrap(SUPCON_FLOAT, 2, xd, x, sizeof x, &xt));
	const char *names[1] = {"x"};
	const supcon_tensor *ins[1] = {xt};
	supcon_tensor *out = NULL;
	FAILS(SUPCON_EINVAL, "no successful run yet", supcon_session_output(s, 0, &out));
	assert_null(out);
	OK(supcon_session_set_threads(s, 1));
	OK(supcon_session_run(s, 1, names, ins));
	OK(supcon_session_output(s, 0, &out));

	/* the plan it wraps, on the same model and input: the same bytes */
	sc_error err = {0};
	plan *p = NULL;
	plan_options po = {.threads = 1};
	if (plan_create(ref_m, &po, &p, &err))
		fail_msg("plan_create: %s", err.msg);
	sc_tensor sx;
	assert_int_equal(tensor_set_shape(&sx, SC_FLOAT, 2, xd, "x", &err), SC_OK);
	sx.data = x;
	const sc_tensor *pin[1] = {&sx};
	if (plan_run(p, 1, names, pin, &err))
		fail_msg("plan_run: %s", err.msg);
	const sc_tensor *want = plan_output(p, 0);
	size_t nbytes;
	OK(supcon_tensor_size(out, NULL, &nbytes));
	assert_int_equal(nbytes, want->nbytes);
	assert_memory_equal(fdata(out), want->data, nbytes);
	/* and the MLP in double */
	double ref[N * K];
	mlp_reference(x, ref);
	for (int i = 0; i < N * K; i++)
		assert_float_equal(fdata(out)[i], ref[i], 1e-5 * (1 + fabs(ref[i])));
	float back[N * K];
	OK(supcon_session_output_read(s, 0, SUPCON_FLOAT, back, sizeof back));
	assert_memory_equal(back, fdata(out), sizeof back);
	plan_free(p);
	graph_model_free(ref_m);
	supcon_tensor_free(out);

	/* misuse: nothing crashes, every message names the culprit */
	FAILS(SUPCON_EINVAL, "is NULL", supcon_session_output_read(s, 0, SUPCON_FLOAT, NULL,
								     sizeof back));
	FAILS(SUPCON_EINVAL, "the buffer 68", supcon_session_output_read(s, 0, SUPCON_FLOAT,
									  back, 68));
	FAILS(SUPCON_EINVAL, "is float32, not int64",
	      supcon_session_output_read(s, 0, SUPCON_INT64, back, sizeof back));
	FAILS(SUPCON_EINVAL, "output 1 does not exist", supcon_session_output(s, 1, &out));
	FAILS(SUPCON_EINVAL, "input 'x' is missing", supcon_session_run(s, 0, NULL, NULL));
	/* a failed run forgets the last outputs */
	FAILS(SUPCON_EINVAL, "no successful run", supcon_session_output(s, 0, &out));
	const char *bad_name[1] = {"y"};
	FAILS(SUPCON_EINVAL, "'y': the model has no such input",
	      supcon_session_run(s, 1, bad_name, ins));
	const char *twice[2] = {"x", "x"};
	const supcon_tensor *two[2] = {xt, xt};
	FAILS(SUPCON_EINVAL, "given twice", supcon_session_run(s, 2, twice, two));
	const supcon_tensor *null_in[1] = {NULL};
	FAILS(SUPCON_EINVAL, "input 'x' (inputs[0]) is NULL",
	      supcon_session_run(s, 1, names, null_in));
	const char *null_name[1] = {NULL};
	FAILS(SUPCON_EINVAL, "names[0] is NULL", supcon_session_run(s, 1, null_name, ins));
	FAILS(SUPCON_EINVAL, "n_inputs is -1", supcon_session_run(s, -1, names, ins));
	int64_t xi[N * D] = {0};
	supcon_tensor *it = NULL;
	OK(supcon_tensor_wrap(SUPCON_INT64, 2, xd, xi, sizeof xi, &it));
	const supcon_tensor *int_in[1] = {it};
	FAILS(SUPCON_EINVAL, "input 'x': expected float32[N,4], got int64[6,4]",
	      supcon_session_run(s, 1, names, int_in));
	int64_t wrong[2] = {N, D + 1};
	supcon_tensor *wt = NULL;
	OK(supcon_tensor_create(SUPCON_FLOAT, 2, wrong, &wt));
	const supcon_tensor *wrong_in[1] = {wt};
	FAILS(SUPCON_EINVAL, "got float32[6,5]", supcon_session_run(s, 1, names, wrong_in));
	assert_string_equal(supcon_session_error(s), supcon_last_error());
	FAILS(SUPCON_EINVAL, "session is NULL", supcon_session_run(NULL, 1, names, ins));
	FAILS(SUPCON_EINVAL, "session is NULL", supcon_session_output(NULL, 0, &out));
	FAILS(SUPCON_EINVAL, "session is NULL",
	      supcon_session_output_read(NULL, 0, SUPCON_FLOAT, back, 4));
	FAILS(SUPCON_EINVAL, "4096", supcon_session_set_threads(s, 5000));
	FAILS(SUPCON_EINVAL, "session is NULL", supcon_session_set_threads(NULL, 1));

	/* after all that, and with another thread count, it still runs */
	OK(supcon_session_set_threads(s, 2));
	OK(supcon_session_run(s, 1, names, ins));
	OK(supcon_session_output_read(s, 0, SUPCON_FLOAT, back, sizeof back));
	for (int i = 0; i < N * K; i++)
		assert_float_equal(back[i], ref[i], 1e-5 * (1 + fabs(ref[i])));
	supcon_tensor_free(it);
	supcon_tensor_free(wt);
	supcon_tensor_free(xt);
	supcon_session_free(s);
}

static void test_session_files(void **state)
{
	(void)state;
	char path[512];
	make_work_dir();
	work_path(path, sizeof path, "mlp.onnx");
	blob b = serialize(mlp_model());
	write_file(path, b.buf, b.len);
	supcon_session *s = NULL;
	OK(supcon_session_create(path, &s));
	supcon_session_free(s);

	/* truncated, garbage, missing, unsupported: errors naming the source */
	work_path(path, sizeof path, "truncated.onnx");
	write_file(path, b.buf, b.len / 2);
	s = (supcon_session *)&s;
	FAILS(SUPCON_EINVAL, "truncated.onnx", supcon_session_create(path, &s));
	assert_null(s);
	FAILS(SUPCON_EINVAL, "model buffer",
	      supcon_session_create_from_memory(b.buf, b.len / 2, &s));
	FAILS(SUPCON_EINVAL, "model buffer",
	      supcon_session_create_from_memory("\x08\x07\x12\xff", 4, &s));
	free(b.buf);
	work_path(path, sizeof path, "missing.onnx");
	supcon_status st = supcon_session_create(path, &s);
	assert_int_not_equal(st, SUPCON_OK);
	assert_non_null(strstr(supcon_last_error(), "missing.onnx"));
	FAILS(SUPCON_EINVAL, "path is NULL", supcon_session_create(NULL, &s));
	FAILS(SUPCON_EINVAL, "out is NULL", supcon_session_create("x.onnx", NULL));
	FAILS(SUPCON_EINVAL, "buf is NULL", supcon_session_create_from_memory(NULL, 5, &s));
	FAILS(SUPCON_EINVAL, "", supcon_session_create_from_memory("", 0, &s));

	graph_model *m = model(13);
	m->ir_version = 8;
	input(m->graph, "x", SC_FLOAT, "2");
	add(m->graph, "NoSuchOp", "n", "x", "y");
	output(m->graph, "y");
	b = serialize(m);
	FAILS(SUPCON_EUNSUPPORTED, "NoSuchOp",
	      supcon_session_create_from_memory(b.buf, b.len, &s));
	assert_null(s);
	free(b.buf);
}

/* --- gradients ------------------------------------------------------------- */

static void test_session_grad(void **state)
{
	(void)state;
	supcon_session *s = open_blob(serialize(objective_model()));
	float x[N * D];
	fill(x, N * D, 11, -1, 1);
	int64_t xd[2] = {N, D};
	supcon_tensor *xt = NULL;
	OK(supcon_tensor_wrap(SUPCON_FLOAT, 2, xd, x, sizeof x, &xt));
	const char *names[1] = {"x"};
	const supcon_tensor *ins[1] = {xt};
	const char *wrt[4] = {"w", "b", "x", "unused"};
	supcon_tensor *g[4] = {0};
	OK(supcon_session_run_grad(s, 1, names, ins, 4, wrt, g));

	/* closed form: obj = sum y^2, y = x w^T + b, so dobj/dy = 2 y */
	double y[N * K], obj = 0;
	for (int n = 0; n < N; n++)
		for (int k = 0; k < K; k++) {
			double a = GB[k];
			for (int d = 0; d < D; d++)
				a += (double)x[n * D + d] * GW[k * D + d];
			y[n * K + k] = a;
			obj += a * a;
		}
	float got_obj;
	OK(supcon_session_output_read(s, 0, SUPCON_FLOAT, &got_obj, sizeof got_obj));
	assert_float_equal(got_obj, obj, 1e-5 * obj);
	const float *gw = fdata(g[0]), *gb = fdata(g[1]), *gx = fdata(g[2]);
	for (int k = 0; k < K; k++) {
		double sb = 0;
		for (int n = 0; n < N; n++)
			sb += 2 * y[n * K + k];
		assert_float_equal(gb[k], sb, 1e-5 * (1 + fabs(sb)));
		for (int d = 0; d < D; d++) {
			double sw = 0;
			for (int n = 0; n < N; n++)
				sw += 2 * y[n * K + k] * x[n * D + d];
			assert_float_equal(gw[k * D + d], sw, 1e-5 * (1 + fabs(sw)));
		}
	}
	for (int n = 0; n < N; n++)
		for (int d = 0; d < D; d++) {
			double sx = 0;
			for (int k = 0; k < K; k++)
				sx += 2 * y[n * K + k] * GW[k * D + d];
			assert_float_equal(gx[n * D + d], sx, 1e-5 * (1 + fabs(sx)));
		}
	/* `unused` does not reach the output: a zero gradient of its shape */
	int64_t numel;
	OK(supcon_tensor_size(g[3], &numel, NULL));
	assert_int_equal(numel, K);
	for (int k = 0; k < K; k++)
		assert_true(fdata(g[3])[k] == 0);
	for (int k = 0; k < 4; k++)
		supcon_tensor_free(g[k]);

	/* a finite difference on one x element agrees with the gradient too */
	OK(supcon_session_run_grad(s, 1, names, ins, 1, wrt + 2, g));
	float g_x0 = fdata(g[0])[0];
	supcon_tensor_free(g[0]);
	float save = x[0], lo, hi;
	x[0] = save + 1e-2f;
	OK(supcon_session_run(s, 1, names, ins));
	OK(supcon_session_output_read(s, 0, SUPCON_FLOAT, &hi, sizeof hi));
	x[0] = save - 1e-2f;
	OK(supcon_session_run(s, 1, names, ins));
	OK(supcon_session_output_read(s, 0, SUPCON_FLOAT, &lo, sizeof lo));
	x[0] = save;
	assert_float_equal(((double)hi - lo) / 2e-2, g_x0, 2e-3 * (1 + fabs(g_x0)));

	/* misuse */
	g[0] = NULL;
	const char *bad[1] = {"nope"};
	FAILS(SUPCON_EINVAL, "nope", supcon_session_run_grad(s, 1, names, ins, 1, bad, g));
	assert_null(g[0]);
	FAILS(SUPCON_EINVAL, "no successful run", supcon_session_output(s, 0, g));
	FAILS(SUPCON_EINVAL, "n_wrt is 0", supcon_session_run_grad(s, 1, names, ins, 0, wrt, g));
	FAILS(SUPCON_EINVAL, "grads is NULL",
	      supcon_session_run_grad(s, 1, names, ins, 1, wrt, NULL));
	const char *null_wrt[1] = {NULL};
	FAILS(SUPCON_EINVAL, "wrt[0] is NULL",
	      supcon_session_run_grad(s, 1, names, ins, 1, null_wrt, g));
	FAILS(SUPCON_EINVAL, "input 'x' is missing",
	      supcon_session_run_grad(s, 0, NULL, NULL, 1, wrt, g));
	FAILS(SUPCON_EINVAL, "session is NULL",
	      supcon_session_run_grad(NULL, 1, names, ins, 1, wrt, g));
	/* the MLP's first output is not a scalar */
	supcon_session *m = open_blob(serialize(mlp_model()));
	FAILS(SUPCON_EINVAL, "scalar", supcon_session_run_grad(m, 1, names, ins, 1, names, g));
	supcon_session_free(m);
	/* and the session still works afterwards */
	OK(supcon_session_run_grad(s, 1, names, ins, 1, wrt, g));
	supcon_tensor_free(g[0]);
	supcon_tensor_free(xt);
	supcon_session_free(s);
}

/* --- training -------------------------------------------------------------- */

typedef struct batch {
	float x[N * D];
	int64_t y[N];
	supcon_tensor *xt, *yt;
} batch;

static void make_batch(batch *b)
{
	fill(b->x, N * D, 21, -2, 2);
	for (int i = 0; i < N; i++)
		b->y[i] = i % K;
	int64_t xd[2] = {N, D}, yd[1] = {N};
	OK(supcon_tensor_wrap(SUPCON_FLOAT, 2, xd, b->x, sizeof b->x, &b->xt));
	OK(supcon_tensor_wrap(SUPCON_INT64, 1, yd, b->y, sizeof b->y, &b->yt));
}

static void free_batch(batch *b)
{
	supcon_tensor_free(b->xt);
	supcon_tensor_free(b->yt);
}

static double ce_reference(const float *logits, const int64_t *y, int n, int k)
{
	double total = 0;
	for (int i = 0; i < n; i++) {
		double mx = logits[i * k];
		for (int j = 1; j < k; j++)
			mx = fmax(mx, logits[i * k + j]);
		double z = 0;
		for (int j = 0; j < k; j++)
			z += exp(logits[i * k + j] - mx);
		total += log(z) + mx - logits[i * k + y[i]];
	}
	return total / n;
}

static supcon_trainer *mlp_trainer(const char *optimizer, const char *options)
{
	supcon_session *s = open_blob(serialize(mlp_model()));
	supcon_trainer *t = NULL;
	OK(supcon_trainer_create(s, "ce", optimizer, options, &t));
	supcon_session_free(s);   /* the trainer keeps its own copy */
	return t;
}

/* Every trained parameter, concatenated, into out (returns the count). */
static int params_of(supcon_trainer *t, float *out)
{
	int n, total = 0;
	OK(supcon_trainer_param_count(t, &n));
	for (int i = 0; i < n; i++) {
		const char *name;
		supcon_tensor *p = NULL;
		OK(supcon_trainer_param_name(t, i, &name));
		OK(supcon_trainer_get_param(t, name, &p));
		int64_t numel;
		OK(supcon_tensor_size(p, &numel, NULL));
		memcpy(out + total, fdata(p), (size_t)numel * sizeof(float));
		total += (int)numel;
		supcon_tensor_free(p);
	}
	return total;
}

static void test_trainer_ce(void **state)
{
	(void)state;
	supcon_trainer *t = mlp_trainer("sgd", "lr=0.1,momentum=0.9,threads=1");
	batch b;
	make_batch(&b);
	const char *in;
	OK(supcon_trainer_input_name(t, &in));
	assert_string_equal(in, "x");
	int n;
	OK(supcon_trainer_param_count(t, &n));
	assert_int_equal(n, 4);
	double lr;
	OK(supcon_trainer_get_lr(t, &lr));
	assert_true(lr == 0.1);

	/* eval: the loss is CE of the eval output, computed here */
	float loss0, loss;
	supcon_tensor *out = NULL;
	OK(supcon_trainer_eval(t, b.xt, b.yt, &loss0, &out));
	double ref = ce_reference(fdata(out), b.y, N, K);
	assert_float_equal(loss0, ref, 1e-5 * ref);
	/* ... and the untrained logits are the MLP's */
	double logits[N * K];
	mlp_reference(b.x, logits);
	for (int i = 0; i < N * K; i++)
		assert_float_equal(fdata(out)[i], logits[i], 1e-5 * (1 + fabs(logits[i])));
	supcon_tensor_free(out);

	/* training lowers the loss on a fixed batch; the first step reports
	 * the loss before its update, i.e. the eval loss (no BN here) */
	float first = 0;
	for (int i = 0; i < 30; i++) {
		OK(supcon_trainer_step(t, b.xt, b.yt, &loss));
		if (i == 0)
			first = loss;
	}
	assert_float_equal(first, loss0, 1e-5 * loss0);
	float after;
	OK(supcon_trainer_eval(t, b.xt, b.yt, &after, NULL));
	assert_true(after < 0.5f * loss0);
	int64_t steps;
	OK(supcon_trainer_steps(t, &steps));
	assert_int_equal(steps, 30);

	/* set/get round trip, and the step reads the new value */
	supcon_tensor *w = NULL;
	OK(supcon_trainer_get_param(t, "fc2.bias", &w));
	float *wd = (float *)fdata(w);
	wd[0] += 1.5f;
	OK(supcon_trainer_set_param(t, "fc2.bias", w));
	supcon_tensor *w2 = NULL;
	OK(supcon_trainer_get_param(t, "fc2.bias", &w2));
	assert_memory_equal(fdata(w2), wd, K * sizeof(float));
	supcon_tensor_free(w2);
	float moved;
	OK(supcon_trainer_eval(t, b.xt, b.yt, &moved, &out));
	assert_float_equal(moved, ce_reference(fdata(out), b.y, N, K), 1e-5);
	assert_true(moved != after);
	supcon_tensor_free(out);
	/* the next step trains from the value set: its loss (before its
	 * update) is the eval loss of those weights */
	OK(supcon_trainer_step(t, b.xt, b.yt, &loss));
	assert_float_equal(loss, moved, 1e-5 * moved);
	OK(supcon_trainer_steps(t, &steps));
	assert_int_equal(steps, 31);

	/* misuse of parameters */
	FAILS(SUPCON_EINVAL, "'nope' is not a weight", supcon_trainer_get_param(t, "nope", &w2));
	FAILS(SUPCON_EINVAL, "'labels' is not a weight",
	      supcon_trainer_get_param(t, "labels", &w2));
	FAILS(SUPCON_EINVAL, "'nope' is not a trained parameter",
	      supcon_trainer_set_param(t, "nope", w));
	FAILS(SUPCON_EINVAL, "'fc1.bias' is float32 [5], the value float32 [3]",
	      supcon_trainer_set_param(t, "fc1.bias", w));
	supcon_tensor *iw = NULL;
	OK(supcon_tensor_create(SUPCON_INT64, 1, (int64_t[]){K}, &iw));
	FAILS(SUPCON_EINVAL, "int64 [3]", supcon_trainer_set_param(t, "fc2.bias", iw));
	FAILS(SUPCON_EINVAL, "parameter 4 does not exist",
	      supcon_trainer_param_name(t, 4, &in));
	supcon_tensor_free(iw);
	supcon_tensor_free(w);

	/* misuse of steps: the weights do not change */
	float before[64], now[64];
	int np = params_of(t, before);
	FAILS(SUPCON_EINVAL, "labels must be int64", supcon_trainer_step(t, b.xt, b.xt, &loss));
	FAILS(SUPCON_EINVAL, "x is NULL", supcon_trainer_step(t, NULL, b.yt, &loss));
	FAILS(SUPCON_EINVAL, "labels is NULL", supcon_trainer_eval(t, b.xt, NULL, &loss, NULL));
	int64_t wrong[2] = {N, D + 2};
	supcon_tensor *wx = NULL;
	OK(supcon_tensor_create(SUPCON_FLOAT, 2, wrong, &wx));
	FAILS(SUPCON_EINVAL, "input 'x'", supcon_trainer_step(t, wx, b.yt, &loss));
	supcon_tensor_free(wx);
	int64_t few[1] = {N - 1};
	supcon_tensor *fy = NULL;
	OK(supcon_tensor_create(SUPCON_INT64, 1, few, &fy));
	assert_int_not_equal(supcon_trainer_step(t, b.xt, fy, &loss), SUPCON_OK);
	assert_one_line(supcon_trainer_error(t));
	supcon_tensor_free(fy);
	FAILS(SUPCON_EINVAL, "lr -1", supcon_trainer_set_lr(t, -1));
	FAILS(SUPCON_EINVAL, "lr nan", supcon_trainer_set_lr(t, NAN));
	assert_int_equal(params_of(t, now), np);
	assert_memory_equal(before, now, (size_t)np * sizeof(float));
	OK(supcon_trainer_steps(t, &steps));
	assert_int_equal(steps, 31);
	/* lr 0 is allowed: the step then moves nothing */
	OK(supcon_trainer_set_lr(t, 0));
	OK(supcon_trainer_get_lr(t, &lr));
	assert_true(lr == 0);
	OK(supcon_trainer_step(t, b.xt, b.yt, &loss));
	params_of(t, now);
	assert_memory_equal(before, now, (size_t)np * sizeof(float));
	free_batch(&b);
	supcon_trainer_free(t);
	supcon_trainer_free(NULL);
}

static void test_trainer_checkpoint(void **state)
{
	(void)state;
	char path[512];
	make_work_dir();
	work_path(path, sizeof path, "adam.ckpt");
	batch b;
	make_batch(&b);
	const char *opts = "lr=0.01,weight_decay=0.01,threads=1";
	supcon_trainer *a = mlp_trainer("adamw", opts);
	float loss_a, loss_b;
	for (int i = 0; i < 3; i++)
		OK(supcon_trainer_step(a, b.xt, b.yt, &loss_a));
	OK(supcon_trainer_set_lr(a, 0.02));
	OK(supcon_trainer_save(a, path));
	float saved[64], pa[64], pb[64];
	int np = params_of(a, saved);
	OK(supcon_trainer_step(a, b.xt, b.yt, &loss_a));
	params_of(a, pa);

	supcon_trainer *c = mlp_trainer("adamw", opts);
	OK(supcon_trainer_load(c, path));
	double lr;
	OK(supcon_trainer_get_lr(c, &lr));
	assert_true(lr == 0.02);
	int64_t steps;
	OK(supcon_trainer_steps(c, &steps));
	assert_int_equal(steps, 3);
	params_of(c, pb);
	assert_memory_equal(saved, pb, (size_t)np * sizeof(float));
	/* the next step (Adam moments and step counts restored) is identical */
	OK(supcon_trainer_step(c, b.xt, b.yt, &loss_b));
	assert_true(loss_a == loss_b);
	params_of(c, pb);
	assert_memory_equal(pa, pb, (size_t)np * sizeof(float));

	/* a corrupted or foreign checkpoint is refused and changes nothing */
	FILE *f = fopen(path, "r+b");
	assert_non_null(f);
	fseek(f, 40, SEEK_SET);
	fputc(0x5a ^ fgetc(f), f);
	fclose(f);
	FAILS(SUPCON_EINVAL, "adam.ckpt", supcon_trainer_load(c, path));
	assert_string_equal(supcon_trainer_error(c), supcon_last_error());
	work_path(path, sizeof path, "sgd.ckpt");
	supcon_trainer *sgd = mlp_trainer("sgd", "momentum=0.9,threads=1");
	OK(supcon_trainer_save(sgd, path));
	FAILS(SUPCON_EINVAL, "sgd.ckpt", supcon_trainer_load(c, path));
	work_path(path, sizeof path, "no_such.ckpt");
	assert_int_not_equal(supcon_trainer_load(c, path), SUPCON_OK);
	params_of(c, pb);
	assert_memory_equal(pa, pb, (size_t)np * sizeof(float));
	FAILS(SUPCON_EINVAL, "path is NULL", supcon_trainer_load(c, NULL));
	FAILS(SUPCON_EINVAL, "path is NULL", supcon_trainer_save(c, NULL));
	work_path(path, sizeof path, "no_dir/x.ckpt");
	assert_int_not_equal(supcon_trainer_save(c, path), SUPCON_OK);
	assert_one_line(supcon_trainer_error(c));
	supcon_trainer_free(sgd);
	supcon_trainer_free(c);
	supcon_trainer_free(a);
	free_batch(&b);
}

static void test_trainer_export(void **state)
{
	(void)state;
	char path[512];
	make_work_dir();
	work_path(path, sizeof path, "exported.onnx");
	batch b;
	make_batch(&b);
	supcon_trainer *t = mlp_trainer("sgd", "lr=0.1,threads=1");
	float loss;
	for (int i = 0; i < 5; i++)
		OK(supcon_trainer_step(t, b.xt, b.yt, &loss));
	supcon_tensor *want = NULL;
	OK(supcon_trainer_eval(t, b.xt, b.yt, &loss, &want));
	OK(supcon_trainer_export(t, path, 0, NULL, NULL, 0));
	supcon_session *s = NULL;
	OK(supcon_session_create(path, &s));
	const char *names[1] = {"x"};
	const supcon_tensor *ins[1] = {b.xt};
	OK(supcon_session_run(s, 1, names, ins));
	float got[N * K];
	OK(supcon_session_output_read(s, 0, SUPCON_FLOAT, got, sizeof got));
	for (int i = 0; i < N * K; i++)
		assert_float_equal(got[i], fdata(want)[i], 1e-5 * (1 + fabs(got[i])));
	supcon_session_free(s);

	/* with softmax on top: the probabilities of those logits */
	float mean[1] = {0.5f}, std[1] = {2.0f};
	/* a file this process has read is never overwritten, unless the
	 * program says it is done with its inputs */
	FAILS(SUPCON_EINVAL, "refusing to overwrite",
	      supcon_trainer_export(t, path, 0, NULL, NULL, 1));
	supcon_forget_inputs();
	OK(supcon_trainer_export(t, path, 0, NULL, NULL, 1));
	OK(supcon_session_create(path, &s));
	const char *oname;
	OK(supcon_session_output_name(s, 0, &oname));
	assert_string_equal(oname, "probabilities");
	OK(supcon_session_run(s, 1, names, ins));
	OK(supcon_session_output_read(s, 0, SUPCON_FLOAT, got, sizeof got));
	for (int n = 0; n < N; n++) {
		double z = 0;
		for (int k = 0; k < K; k++)
			z += exp(fdata(want)[n * K + k]);
		for (int k = 0; k < K; k++)
			assert_float_equal(got[n * K + k], exp(fdata(want)[n * K + k]) / z,
					   1e-5);
	}
	supcon_session_free(s);
	supcon_tensor_free(want);

	/* normalisation needs an image input */
	FAILS(SUPCON_EINVAL, "needs an image input", supcon_trainer_export(t, path, 1, mean,
									    std, 0));
	FAILS(SUPCON_EINVAL, "mean is NULL", supcon_trainer_export(t, path, 1, NULL, std, 0));
	float zero[1] = {0};
	FAILS(SUPCON_EINVAL, "std 0", supcon_trainer_export(t, path, 1, mean, zero, 0));
	FAILS(SUPCON_EINVAL, "softmax is 2", supcon_trainer_export(t, path, 0, NULL, NULL, 2));
	FAILS(SUPCON_EINVAL, "trainer is NULL",
	      supcon_trainer_export(NULL, path, 0, NULL, NULL, 0));
	supcon_trainer_free(t);
	free_batch(&b);
}

/* SupCon of DESIGN.md, in double: rows L2-normalised, logits z_i.z_a / T
 * over a != i, loss_i = -mean over positives of log softmax_i(p), mean
 * over anchors with a positive (base temperature = T). */
static double supcon_reference(const float *f, const int64_t *y, int m, int d,
			       double temp)
{
	double *z = calloc((size_t)(m * d), sizeof *z);
	assert_non_null(z);
	for (int i = 0; i < m; i++) {
		double nrm = 0;
		for (int j = 0; j < d; j++)
			nrm += (double)f[i * d + j] * f[i * d + j];
		for (int j = 0; j < d; j++)
			z[i * d + j] = f[i * d + j] / sqrt(nrm);
	}
	double total = 0;
	int anchors = 0;
	for (int i = 0; i < m; i++) {
		double mx = -INFINITY, lse = 0, pos = 0;
		int np = 0;
		double logit[64];
		for (int a = 0; a < m; a++) {
			double dot = 0;
			for (int j = 0; j < d; j++)
				dot += z[i * d + j] * z[a * d + j];
			logit[a] = dot / temp;
			if (a != i)
				mx = fmax(mx, logit[a]);
		}
		for (int a = 0; a < m; a++)
			if (a != i)
				lse += exp(logit[a] - mx);
		lse = log(lse) + mx;
		for (int a = 0; a < m; a++)
			if (a != i && y[a] == y[i]) {
				pos += logit[a] - lse;
				np++;
			}
		if (np) {
			total += -pos / np;
			anchors++;
		}
	}
	free(z);
	return anchors ? total / anchors : 0;
}

static void test_trainer_supcon(void **state)
{
	(void)state;
	enum { M = 8, IMG = 64, FEAT = 8 };
	supcon_session *s = open_blob(serialize(resnet_model(0)));
	supcon_trainer *t = NULL;
	OK(supcon_trainer_create(s, "supcon", "sgd",
				 "lr=0.05,momentum=0.9,temperature=0.5,threads=1", &t));
	/* two views of 4 images: view 2 is view 1 plus a little noise */
	float x[M * IMG];
	int64_t y[M];
	fill(x, 4 * IMG, 31, 0, 1);
	fill(x + 4 * IMG, 4 * IMG, 32, -0.05f, 0.05f);
	for (int i = 0; i < 4 * IMG; i++)
		x[4 * IMG + i] += x[i];
	for (int i = 0; i < M; i++)
		y[i] = i % 4;
	supcon_tensor *xt = NULL, *yt = NULL;
	OK(supcon_tensor_wrap(SUPCON_FLOAT, 4, (int64_t[]){M, 1, 8, 8}, x, sizeof x, &xt));
	OK(supcon_tensor_wrap(SUPCON_INT64, 1, (int64_t[]){M}, y, sizeof y, &yt));

	float loss0, loss;
	supcon_tensor *out = NULL;
	OK(supcon_trainer_eval(t, xt, yt, &loss0, &out));
	int64_t od[4];
	int rank;
	OK(supcon_tensor_info(out, NULL, &rank, od, 4));
	assert_int_equal(rank, 2);
	assert_true(od[0] == M && od[1] == FEAT);
	assert_float_equal(loss0, supcon_reference(fdata(out), y, M, FEAT, 0.5), 1e-4);
	supcon_tensor_free(out);
	/* BN running statistics are weights too, and steps move them */
	supcon_tensor *rm0 = NULL, *rm1 = NULL;
	OK(supcon_trainer_get_param(t, "bn1.running_mean", &rm0));
	float first = 0;
	for (int i = 0; i < 15; i++) {
		OK(supcon_trainer_step(t, xt, yt, &loss));
		if (!i)
			first = loss;
	}
	OK(supcon_trainer_get_param(t, "bn1.running_mean", &rm1));
	assert_true(memcmp(fdata(rm0), fdata(rm1), 4 * sizeof(float)) != 0);
	supcon_tensor_free(rm0);
	supcon_tensor_free(rm1);
	assert_true(loss < 0.8f * first);
	float after;
	OK(supcon_trainer_eval(t, xt, yt, &after, &out));
	/* (in inference mode: BN's running statistics have not caught up
	 * with the batch's yet, so this loss need not be lower than loss0) */
	assert_float_equal(after, supcon_reference(fdata(out), y, M, FEAT, 0.5), 1e-4);

	/* the export runs in a new session and gives the eval features */
	char path[512];
	make_work_dir();
	work_path(path, sizeof path, "supcon.onnx");
	OK(supcon_trainer_export(t, path, 0, NULL, NULL, 0));
	supcon_session *e = NULL;
	OK(supcon_session_create(path, &e));
	const char *in;
	OK(supcon_trainer_input_name(t, &in));
	const supcon_tensor *ins[1] = {xt};
	OK(supcon_session_run(e, 1, &in, ins));
	float got[M * FEAT];
	OK(supcon_session_output_read(e, 0, SUPCON_FLOAT, got, sizeof got));
	for (int i = 0; i < M * FEAT; i++)
		assert_float_equal(got[i], fdata(out)[i], 1e-4 * (1 + fabs(got[i])));
	supcon_session_free(e);

	/* exported with the normalisation inside, it takes x * std + mean */
	float mean[1] = {0.25f}, std[1] = {0.5f}, raw[M * IMG];
	for (int i = 0; i < M * IMG; i++)
		raw[i] = x[i] * std[0] + mean[0];
	supcon_tensor *rt = NULL;
	OK(supcon_tensor_wrap(SUPCON_FLOAT, 4, (int64_t[]){M, 1, 8, 8}, raw, sizeof raw, &rt));
	work_path(path, sizeof path, "supcon_norm.onnx");
	OK(supcon_trainer_export(t, path, 1, mean, std, 0));
	OK(supcon_session_create(path, &e));
	const supcon_tensor *rin[1] = {rt};
	OK(supcon_session_run(e, 1, &in, rin));
	OK(supcon_session_output_read(e, 0, SUPCON_FLOAT, got, sizeof got));
	for (int i = 0; i < M * FEAT; i++)
		assert_float_equal(got[i], fdata(out)[i], 1e-4 * (1 + fabs(got[i])));
	FAILS(SUPCON_EINVAL, "[N, 3, H, W]", supcon_trainer_export(t, path, 3,
		(float[]){0, 0, 0}, (float[]){1, 1, 1}, 0));
	supcon_session_free(e);
	supcon_tensor_free(rt);
	supcon_tensor_free(out);

	supcon_trainer_free(t);

	/* bad setups: each message names the argument or option */
	FAILS(SUPCON_EINVAL, "loss 'mse'", supcon_trainer_create(s, "mse", "sgd", NULL, &t));
	assert_string_equal(supcon_session_error(s), supcon_last_error());
	FAILS(SUPCON_EINVAL, "optimizer", supcon_trainer_create(s, "supcon", "lbfgs", NULL,
								&t));
	FAILS(SUPCON_EINVAL, "unknown option 'speed'",
	      supcon_trainer_create(s, "supcon", "sgd", "speed=2", &t));
	FAILS(SUPCON_EINVAL, "lr=fast", supcon_trainer_create(s, "supcon", "sgd", "lr=fast",
							      &t));
	FAILS(SUPCON_EINVAL, "expected key=value",
	      supcon_trainer_create(s, "supcon", "sgd", "lr", &t));
	FAILS(SUPCON_EINVAL, "nesterov", supcon_trainer_create(s, "supcon", "sgd",
							       "nesterov=1", &t));
	FAILS(SUPCON_EINVAL, "'fc.weight'", supcon_trainer_create(s, "supcon", "sgd",
							  "trainable=fc.weight", &t));
	FAILS(SUPCON_EINVAL, "an empty name", supcon_trainer_create(s, "supcon", "sgd",
							    "trainable=", &t));
	FAILS(SUPCON_EINVAL, "model is NULL", supcon_trainer_create(NULL, "supcon", "sgd",
							    NULL, &t));
	assert_null(t);
	/* trainable= restricts the parameters */
	OK(supcon_trainer_create(s, "supcon", "sgd",
				 "trainable=head.2.weight|head.2.bias,freeze_bn=1", &t));
	int n;
	OK(supcon_trainer_param_count(t, &n));
	assert_int_equal(n, 2);
	supcon_trainer_free(t);
	supcon_tensor_free(xt);
	supcon_tensor_free(yt);
	supcon_session_free(s);
}

static void test_trainer_null(void **state)
{
	(void)state;
	float loss;
	double lr;
	int64_t steps;
	int n;
	const char *name;
	supcon_tensor *out = NULL;
	FAILS(SUPCON_EINVAL, "trainer is NULL", supcon_trainer_step(NULL, NULL, NULL, &loss));
	FAILS(SUPCON_EINVAL, "trainer is NULL",
	      supcon_trainer_eval(NULL, NULL, NULL, &loss, &out));
	FAILS(SUPCON_EINVAL, "trainer is NULL", supcon_trainer_set_lr(NULL, 0.1));
	FAILS(SUPCON_EINVAL, "trainer is NULL", supcon_trainer_get_lr(NULL, &lr));
	FAILS(SUPCON_EINVAL, "trainer is NULL", supcon_trainer_steps(NULL, &steps));
	FAILS(SUPCON_EINVAL, "trainer is NULL", supcon_trainer_param_count(NULL, &n));
	FAILS(SUPCON_EINVAL, "trainer is NULL", supcon_trainer_param_name(NULL, 0, &name));
	FAILS(SUPCON_EINVAL, "trainer is NULL", supcon_trainer_get_param(NULL, "w", &out));
	FAILS(SUPCON_EINVAL, "trainer is NULL", supcon_trainer_set_param(NULL, "w", out));
	FAILS(SUPCON_EINVAL, "trainer is NULL", supcon_trainer_save(NULL, "x"));
	FAILS(SUPCON_EINVAL, "trainer is NULL", supcon_trainer_load(NULL, "x"));
	FAILS(SUPCON_EINVAL, "trainer is NULL", supcon_trainer_input_name(NULL, &name));
	assert_string_equal(supcon_trainer_error(NULL), "no trainer (NULL)");
	supcon_trainer *t = mlp_trainer("sgd", NULL);
	FAILS(SUPCON_EINVAL, "lr is NULL", supcon_trainer_get_lr(t, NULL));
	FAILS(SUPCON_EINVAL, "steps is NULL", supcon_trainer_steps(t, NULL));
	FAILS(SUPCON_EINVAL, "name is NULL", supcon_trainer_get_param(t, NULL, &out));
	FAILS(SUPCON_EINVAL, "value is NULL", supcon_trainer_set_param(t, "fc1.bias", NULL));
	/* a loss that becomes NaN stops the step and keeps the weights */
	batch b;
	make_batch(&b);
	float before[64], now[64];
	int np = params_of(t, before);
	b.x[0] = NAN;
	FAILS(SUPCON_ENUMERIC, "NaN", supcon_trainer_step(t, b.xt, b.yt, &loss));
	params_of(t, now);
	assert_memory_equal(before, now, (size_t)np * sizeof(float));
	free_batch(&b);
	supcon_trainer_free(t);
}

/* --- threads ------------------------------------------------------------------ */

static void *fail_on_other_thread(void *arg)
{
	(void)arg;
	supcon_tensor *t;
	supcon_tensor_create(SUPCON_FLOAT, -1, NULL, &t);
	return strstr(supcon_last_error(), "rank -1") ? (void *)1 : NULL;
}

static void test_last_error_per_thread(void **state)
{
	(void)state;
	supcon_tensor *t;
	FAILS(SUPCON_EINVAL, "rank 9", supcon_tensor_create(SUPCON_FLOAT, 9, NULL, &t));
	pthread_t th;
	void *seen = NULL;
	assert_int_equal(pthread_create(&th, NULL, fail_on_other_thread, NULL), 0);
	assert_int_equal(pthread_join(th, &seen), 0);
	assert_ptr_equal(seen, (void *)1);
	/* this thread's message is its own */
	assert_non_null(strstr(supcon_last_error(), "rank 9"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_tensors),
		cmocka_unit_test(test_png),
		cmocka_unit_test(test_session_introspection),
		cmocka_unit_test(test_session_facts),
		cmocka_unit_test(test_session_options),
		cmocka_unit_test(test_session_prepare_grad),
		cmocka_unit_test(test_fill_random),
		cmocka_unit_test(test_png_native),
		cmocka_unit_test(test_session_run),
		cmocka_unit_test(test_session_files),
		cmocka_unit_test(test_session_grad),
		cmocka_unit_test(test_trainer_ce),
		cmocka_unit_test(test_trainer_checkpoint),
		cmocka_unit_test(test_trainer_export),
		cmocka_unit_test(test_trainer_supcon),
		cmocka_unit_test(test_trainer_null),
		cmocka_unit_test(test_last_error_per_thread),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
