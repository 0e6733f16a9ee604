/* test_cli.c: the `supcon` command line.
 *
 * In process: the shared option parser (tools/cli_util.c, linked into this
 * test by tests/cmake/cli.cmake) and the JSON string writer.  As a user:
 * help, unknown commands and flags, exit codes, one-line errors, the
 * usage of embed and sweep, and `supcon info --json` on a model made
 * here whose exact JSON is known (escaped names, symbolic and unknown dims,
 * an input that is an initializer, a custom domain, mixed dtypes). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_runner.h"
#include "onnx.pb-c.h"
#include "../tools/cli.h"

#define CLI_DIR SUPCON_TEST_WORK "/cli"

/* --- the option parser --------------------------------------------------- */

static cli_opt test_opts[] = {
	{"json", 0, CLI_FLAG, NULL, "json", 0, 0, 0, 0},
	{"out", 'o', CLI_VALUE, "DIR", "output", 0, 0, 0, 0},
	{"in", 0, CLI_LIST, "NAME=FILE", "inputs", 0, 0, 0, 0},
};
#define N_TEST_OPTS 3

static int parse(cli_args *a, cli_err *err, int argc, ...)
{
	char *argv[16];
	va_list ap;
	va_start(ap, argc);
	for (int i = 0; i < argc; i++)
		argv[i] = va_arg(ap, char *);
	va_end(ap);
	memset(err, 0, sizeof *err);
	return cli_parse(argc, argv, test_opts, N_TEST_OPTS, a, err);
}

static void test_parse_positions_and_forms(void **state)
{
	(void)state;
	cli_args a;
	cli_err err;
	assert_int_equal(parse(&a, &err, 7, "--out", "d1", "m.onnx", "--json",
			       "--out=d2", "extra", "-o"), SUPCON_EINVAL);
	assert_non_null(strstr(err.msg, "-o"));
	assert_non_null(strstr(err.msg, "needs a value"));

	assert_int_equal(parse(&a, &err, 8, "--out", "d1", "m.onnx", "--json",
			       "--out=d2", "extra", "-o", "d3"), SUPCON_OK);
	assert_int_equal(a.n_pos, 2);
	assert_string_equal(a.pos[0], "m.onnx");
	assert_string_equal(a.pos[1], "extra");
	assert_true(cli_has(&a, "json"));
	/* the last one wins, whichever spelling */
	assert_string_equal(cli_value(&a, "out", NULL), "d3");
	assert_int_equal(cli_find(&a, "out")->seen, 3);
	assert_false(cli_has(&a, "in"));
	assert_string_equal(cli_value(&a, "in", "none"), "none");
	assert_false(a.help);
	cli_args_free(&a);

	assert_int_equal(parse(&a, &err, 3, "-od4", "--out=", "x"), SUPCON_OK);
	assert_string_equal(cli_value(&a, "out", NULL), "");
	cli_args_free(&a);
}

static void test_parse_lists_and_dashdash(void **state)
{
	(void)state;
	cli_args a;
	cli_err err;
	assert_int_equal(parse(&a, &err, 8, "--in", "a=x.pb", "m", "--in=b=y.pb",
			       "--", "--json", "-o", "-"), SUPCON_OK);
	const cli_opt *in = cli_find(&a, "in");
	assert_int_equal(in->n_values, 2);
	assert_string_equal(in->values[0], "a=x.pb");
	assert_string_equal(in->values[1], "b=y.pb");
	assert_int_equal(a.n_pos, 4);
	assert_string_equal(a.pos[1], "--json");
	assert_string_equal(a.pos[2], "-o");
	assert_string_equal(a.pos[3], "-");
	assert_false(cli_has(&a, "json"));
	cli_args_free(&a);
}

static void test_parse_errors_and_help(void **state)
{
	(void)state;
	cli_args a;
	cli_err err;
	assert_int_equal(parse(&a, &err, 2, "m", "--jsn"), SUPCON_EINVAL);
	assert_string_equal(err.msg, "unknown option --jsn");
	assert_int_equal(parse(&a, &err, 1, "--json=1"), SUPCON_EINVAL);
	assert_string_equal(err.msg, "option --json takes no value");
	assert_int_equal(parse(&a, &err, 1, "-x"), SUPCON_EINVAL);
	assert_string_equal(err.msg, "unknown option -x");
	assert_int_equal(parse(&a, &err, 1, "--in"), SUPCON_EINVAL);
	assert_string_equal(err.msg, "option --in needs a value (NAME=FILE)");

	assert_int_equal(parse(&a, &err, 2, "m", "--help"), SUPCON_OK);
	assert_true(a.help);
	cli_args_free(&a);
	assert_int_equal(parse(&a, &err, 1, "-h"), SUPCON_OK);
	assert_true(a.help);
	cli_args_free(&a);
}

/* --- JSON strings ------------------------------------------------------------ */

static char *json_of(const char *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	cli_json_string(f, s);
	fclose(f);
	return buf;
}

static void test_json_string(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"plain", "\"plain\""},
		{"", "\"\""},
		{"a\"b\\c", "\"a\\\"b\\\\c\""},
		{"\n\r\t\b\f", "\"\\n\\r\\t\\b\\f\""},
		{"\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\""},
		{"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""},
		{"bad\xff", "\"bad\\ufffd\""},
		{"\xc0\xaf", "\"\\ufffd\\ufffd\""},          /* overlong '/' */
		{"\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""}, /* a surrogate */
		{"cut\xe2\x82", "\"cut\\ufffd\\ufffd\""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *got = json_of(cases[i].in);
		if (strcmp(got, cases[i].out) != 0)
			fail_msg("case %zu: got %s, expected %s", i, got, cases[i].out);
		free(got);
	}
}

/* --- running the CLI -------------------------------------------------------- */

static const cli_options cli_dir = {.dir = CLI_DIR};

/* Expects exit status `status`, and for a failure exactly one line on
 * stderr containing `needle` (NULL: any) and nothing on stdout. */
static cli_result expect_run(int status, const char *needle, const char *const *args)
{
	const char *const needles[] = {needle, NULL};
	return cli_expect(&cli_dir, status, "supcon", needles, args);
}

static void test_help_and_usage_errors(void **state)
{
	(void)state;
	const char *const help1[] = {"--help", NULL};
	const char *const help2[] = {"help", NULL};
	const char *const help3[] = {"info", "--help", NULL};
	const char *const help4[] = {"help", "info", NULL};
	cli_result r = expect_run(0, NULL, help1);
	assert_non_null(strstr(r.out, "usage: supcon COMMAND"));
	assert_non_null(strstr(r.out, "  info "));
	assert_non_null(strstr(r.out, "  demo "));
	cli_result_free(&r);
	r = expect_run(0, NULL, help2);
	assert_non_null(strstr(r.out, "usage: supcon COMMAND"));
	cli_result_free(&r);
	r = expect_run(0, NULL, help3);
	assert_non_null(strstr(r.out, "usage: supcon info MODEL.onnx [--json]"));
	assert_non_null(strstr(r.out, "--json"));
	cli_result_free(&r);
	r = expect_run(0, NULL, help4);
	assert_non_null(strstr(r.out, "usage: supcon info"));
	cli_result_free(&r);

	const char *const none[] = {NULL};
	const char *const unknown[] = {"frobnicate", "x", NULL};
	const char *const badflag[] = {"info", "m.onnx", "--jsn", NULL};
	const char *const nomodel[] = {"info", "--json", NULL};
	const char *const twomodels[] = {"info", "a.onnx", "b.onnx", NULL};
	const char *const missing[] = {"info", CLI_DIR "/missing.onnx", "--json", NULL};
	const char *const dir[] = {"info", CLI_DIR, NULL};
	cli_result_free((r = expect_run(2, "missing command", none), &r));
	cli_result_free((r = expect_run(2, "'frobnicate'", unknown), &r));
	cli_result_free((r = expect_run(2, "--jsn", badflag), &r));
	cli_result_free((r = expect_run(2, "missing MODEL.onnx", nomodel), &r));
	cli_result_free((r = expect_run(2, "b.onnx", twomodels), &r));
	cli_result_free((r = expect_run(2, "missing.onnx", missing), &r));
	cli_result_free((r = expect_run(2, "directory", dir), &r));
}

/* Every command of the contract is built: embed and sweep (issue #6)
 * were the last; their help and their usage errors. */
static void test_embed_and_sweep_usage(void **state)
{
	(void)state;
	const char *const top[] = {"--help", NULL};
	cli_result r = expect_run(0, NULL, top);
	assert_null(strstr(r.out, "not implemented"));
	assert_non_null(strstr(r.out, "  embed "));
	assert_non_null(strstr(r.out, "  sweep "));
	cli_result_free(&r);

	const char *const eh[] = {"embed", "--help", NULL};
	r = expect_run(0, NULL, eh);
	assert_non_null(strstr(r.out, "usage: supcon embed MODEL.onnx|RUNDIR"));
	for (const char *o = "--layer encoder|projector\0--method tsne|pca\0"
			     "--perplexity P\0--limit N\0--seed S\0--width W\0"
			     "--split test|train\0"; *o; o += strlen(o) + 1)
		if (!strstr(r.out, o))
			fail_msg("embed --help does not list %s", o);
	cli_result_free(&r);
	const char *const sh[] = {"sweep", "--help", NULL};
	r = expect_run(0, NULL, sh);
	assert_non_null(strstr(r.out, "usage: supcon sweep"));
	for (const char *o = "--grid article\0--optimizer LIST\0--schedule LIST\0"
			     "--aug LIST\0--out DIR\0--width N\0--limit N\0"
			     "--label-noise P\0--linear-epochs N\0"; *o; o += strlen(o) + 1)
		if (!strstr(r.out, o))
			fail_msg("sweep --help does not list %s", o);
	cli_result_free(&r);

	const char *const none[] = {"embed", "-o", CLI_DIR "/x.png", NULL};
	const char *const noout[] = {"embed", CLI_DIR, NULL};
	const char *const layer[] = {"embed", CLI_DIR, "--layer", "head", "-o",
		CLI_DIR "/x.png", NULL};
	const char *const method[] = {"embed", CLI_DIR, "--method", "umap", "-o",
		CLI_DIR "/x.png", NULL};
	const char *const perp[] = {"embed", CLI_DIR, "--perplexity", "0", "-o",
		CLI_DIR "/x.png", NULL};
	const char *const notrun[] = {"embed", CLI_DIR, "-o", CLI_DIR "/x.png", NULL};
	const char *const nofile[] = {"embed", CLI_DIR "/none.onnx", "-o",
		CLI_DIR "/x.png", NULL};
	cli_result_free((r = expect_run(2, "missing MODEL.onnx or RUNDIR", none), &r));
	cli_result_free((r = expect_run(2, "-o FILE.png", noout), &r));
	cli_result_free((r = expect_run(2, "--layer", layer), &r));
	cli_result_free((r = expect_run(2, "--method", method), &r));
	cli_result_free((r = expect_run(2, "--perplexity", perp), &r));
	cli_result_free((r = expect_run(2, "not a run directory", notrun), &r));
	cli_result_free((r = expect_run(2, "none.onnx", nofile), &r));
	const char *const grid[] = {"sweep", "--grid", "big", NULL};
	const char *const ce[] = {"sweep", "--ce", "sgd,const", NULL};
	const char *const pos[] = {"sweep", "extra", NULL};
	cli_result_free((r = expect_run(2, "--grid", grid), &r));
	cli_result_free((r = expect_run(2, "--ce", ce), &r));
	cli_result_free((r = expect_run(2, "extra", pos), &r));
}

static void test_demo_usage(void **state)
{
	(void)state;
	const char *const help[] = {"demo", "--help", NULL};
	const char *const extra[] = {"demo", "surplus", NULL};
	const char *const bad[] = {"demo", "--epochs", "x", NULL};
	cli_result r = expect_run(0, NULL, help);
	assert_non_null(strstr(r.out, "usage: supcon demo [--out DIR] [--full]"));
	cli_result_free(&r);
	cli_result_free((r = expect_run(2, "surplus", extra), &r));
	cli_result_free((r = expect_run(2, "--epochs", bad), &r));
}

/* --- info on a model whose facts are known ------------------------------ */

static void set_dims(Onnx__TensorShapeProto *shape,
		     Onnx__TensorShapeProto__Dimension *dims,
		     Onnx__TensorShapeProto__Dimension **ptrs)
{
	/* ["N", 3, unknown, 5] */
	for (int i = 0; i < 4; i++) {
		Onnx__TensorShapeProto__Dimension d = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
		dims[i] = d;
		ptrs[i] = &dims[i];
	}
	dims[0].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
	dims[0].dim_param = "N";
	dims[1].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
	dims[1].dim_value = 3;
	dims[3].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
	dims[3].dim_value = 5;
	shape->n_dim = 4;
	shape->dim = ptrs;
}

static const char known_json[] =
	"{\"ir_version\": 8, \"opsets\": {\"\": 13, \"ai.supcon\": 1}, "
	"\"inputs\": [{\"name\": \"in\\\"put\\n\", \"dtype\": \"float32\", "
	"\"shape\": [\"N\", 3, null, 5]}], "
	"\"outputs\": [{\"name\": \"r2\", \"dtype\": \"float32\", "
	"\"shape\": [\"N\", 3, null, 5]}, "
	"{\"name\": \"c\", \"dtype\": \"float32\", \"shape\": null}], "
	"\"nodes\": 3, \"ops\": {\"Relu\": 2, \"ai.supcon:Custom\": 1}, "
	"\"initializer_elements\": 5}\n";

/* Writes the model known_json describes: Relu -> ai.supcon:Custom and Relu,
 * initializers w (float16 [2], also listed as an input), b (float [3] as
 * float_data) and idx (int64 [3], not counted). */
static void write_known_model(const char *path)
{
	Onnx__TensorShapeProto__Dimension dims[4], *dim_ptrs[4];
	Onnx__TensorShapeProto shape = ONNX__TENSOR_SHAPE_PROTO__INIT;
	set_dims(&shape, dims, dim_ptrs);
	Onnx__TypeProto__Tensor tt_shaped = ONNX__TYPE_PROTO__TENSOR__INIT;
	tt_shaped.has_elem_type = 1;
	tt_shaped.elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
	tt_shaped.shape = &shape;
	Onnx__TypeProto__Tensor tt_rankless = ONNX__TYPE_PROTO__TENSOR__INIT;
	tt_rankless.has_elem_type = 1;
	tt_rankless.elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
	Onnx__TensorShapeProto w_shape = ONNX__TENSOR_SHAPE_PROTO__INIT;
	Onnx__TensorShapeProto__Dimension w_dim = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
	Onnx__TensorShapeProto__Dimension *w_dim_ptr = &w_dim;
	w_dim.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
	w_dim.dim_value = 2;
	w_shape.n_dim = 1;
	w_shape.dim = &w_dim_ptr;
	Onnx__TypeProto__Tensor tt_w = ONNX__TYPE_PROTO__TENSOR__INIT;
	tt_w.has_elem_type = 1;
	tt_w.elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16;
	tt_w.shape = &w_shape;

	Onnx__TypeProto t_shaped = ONNX__TYPE_PROTO__INIT, t_rankless = ONNX__TYPE_PROTO__INIT,
			t_w = ONNX__TYPE_PROTO__INIT;
	t_shaped.value_case = t_rankless.value_case = t_w.value_case =
		ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
	t_shaped.tensor_type = &tt_shaped;
	t_rankless.tensor_type = &tt_rankless;
	t_w.tensor_type = &tt_w;

	Onnx__ValueInfoProto in = ONNX__VALUE_INFO_PROTO__INIT, in_w = ONNX__VALUE_INFO_PROTO__INIT,
			     out_r2 = ONNX__VALUE_INFO_PROTO__INIT, out_c = ONNX__VALUE_INFO_PROTO__INIT;
	in.name = "in\"put\n";
	in.type = &t_shaped;
	in_w.name = "w";
	in_w.type = &t_w;
	out_r2.name = "r2";
	out_r2.type = &t_shaped;
	out_c.name = "c";
	out_c.type = &t_rankless;
	Onnx__ValueInfoProto *inputs[2] = {&in, &in_w}, *outputs[2] = {&out_r2, &out_c};

	Onnx__NodeProto n0 = ONNX__NODE_PROTO__INIT, n1 = ONNX__NODE_PROTO__INIT,
			n2 = ONNX__NODE_PROTO__INIT;
	char *n0_in[] = {"in\"put\n"}, *n0_out[] = {"r"};
	char *n1_in[] = {"r", "w"}, *n1_out[] = {"c"};
	char *n2_in[] = {"r"}, *n2_out[] = {"r2"};
	n0.name = "n0"; n0.op_type = "Relu"; n0.n_input = 1; n0.input = n0_in;
	n0.n_output = 1; n0.output = n0_out;
	n1.name = "n1"; n1.op_type = "Custom"; n1.domain = "ai.supcon";
	n1.n_input = 2; n1.input = n1_in; n1.n_output = 1; n1.output = n1_out;
	n2.name = "n2"; n2.op_type = "Relu"; n2.domain = "ai.onnx";
	n2.n_input = 1; n2.input = n2_in; n2.n_output = 1; n2.output = n2_out;
	Onnx__NodeProto *nodes[3] = {&n0, &n1, &n2};

	Onnx__TensorProto w = ONNX__TENSOR_PROTO__INIT, b = ONNX__TENSOR_PROTO__INIT,
			  idx = ONNX__TENSOR_PROTO__INIT;
	int64_t w_dims[1] = {2}, b_dims[1] = {3}, idx_dims[1] = {3};
	uint16_t w_data[2] = {0x3c00, 0xc000};
	float b_data[3] = {1, 2, 3};
	int64_t idx_data[3] = {0, 1, 2};
	w.name = "w"; w.n_dims = 1; w.dims = w_dims;
	w.has_data_type = 1; w.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16;
	w.has_raw_data = 1; w.raw_data.len = sizeof w_data; w.raw_data.data = (uint8_t *)w_data;
	b.name = "b"; b.n_dims = 1; b.dims = b_dims;
	b.has_data_type = 1; b.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
	b.n_float_data = 3; b.float_data = b_data;
	idx.name = "idx"; idx.n_dims = 1; idx.dims = idx_dims;
	idx.has_data_type = 1; idx.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
	idx.n_int64_data = 3; idx.int64_data = idx_data;
	Onnx__TensorProto *inits[3] = {&w, &b, &idx};

	Onnx__GraphProto g = ONNX__GRAPH_PROTO__INIT;
	g.name = "known";
	g.n_node = 3; g.node = nodes;
	g.n_initializer = 3; g.initializer = inits;
	g.n_input = 2; g.input = inputs;
	g.n_output = 2; g.output = outputs;

	Onnx__OperatorSetIdProto op_default = ONNX__OPERATOR_SET_ID_PROTO__INIT,
				 op_supcon = ONNX__OPERATOR_SET_ID_PROTO__INIT;
	op_default.domain = ""; op_default.has_version = 1; op_default.version = 13;
	op_supcon.domain = "ai.supcon"; op_supcon.has_version = 1; op_supcon.version = 1;
	Onnx__OperatorSetIdProto *opsets[2] = {&op_default, &op_supcon};

	Onnx__ModelProto m = ONNX__MODEL_PROTO__INIT;
	m.has_ir_version = 1; m.ir_version = 8;
	m.producer_name = "test_cli"; m.producer_version = "1.2";
	m.n_opset_import = 2; m.opset_import = opsets;
	m.graph = &g;

	size_t len = onnx__model_proto__get_packed_size(&m);
	uint8_t *buf = malloc(len);
	assert_non_null(buf);
	onnx__model_proto__pack(&m, buf);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	free(buf);
}

static void test_info_known_model(void **state)
{
	(void)state;
	make_dir(CLI_DIR);
	const char *path = CLI_DIR "/known.onnx";
	write_known_model(path);

	const char *const json_after[] = {"info", path, "--json", NULL};
	const char *const json_before[] = {"info", "--json", path, "--json", NULL};
	cli_result r = expect_run(0, NULL, json_after);
	assert_string_equal(r.out, known_json);
	cli_result_free(&r);
	r = expect_run(0, NULL, json_before);
	assert_string_equal(r.out, known_json);
	cli_result_free(&r);

	const char *const text[] = {"info", path, NULL};
	r = expect_run(0, NULL, text);
	static const char *const lines[] = {
		"producer              test_cli 1.2\n",
		"ir_version            8\n",
		"opsets                ai.onnx 13, ai.supcon 1\n",
		"nodes                 3\n",
		"initializer_elements  5\n",
		"inputs\n  in\"put?  float32  [N, 3, ?, 5]\n",
		"outputs\n  r2    float32  [N, 3, ?, 5]\n  c     float32  unknown shape\n",
		"ops\n  Relu              2\n  ai.supcon:Custom  1\n",
	};
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
		if (!strstr(r.out, lines[i]))
			fail_msg("text output lacks '%s':\n%s", lines[i], r.out);
	cli_result_free(&r);
}

/* A reader that went away is a write error (exit 1, one line), not SIGPIPE. */
static void test_closed_stdout(void **state)
{
	(void)state;
	const char *const help[] = {"--help", NULL};
	const char *const needles[] = {"standard output", NULL};
	const cli_options closed = {.dir = CLI_DIR, .closed_stdout = 1};
	cli_result r = cli_expect(&closed, 1, "supcon", needles, help);
	cli_result_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_positions_and_forms),
		cmocka_unit_test(test_parse_lists_and_dashdash),
		cmocka_unit_test(test_parse_errors_and_help),
		cmocka_unit_test(test_json_string),
		cmocka_unit_test(test_help_and_usage_errors),
		cmocka_unit_test(test_embed_and_sweep_usage),
		cmocka_unit_test(test_demo_usage),
		cmocka_unit_test(test_info_known_model),
		cmocka_unit_test(test_closed_stdout),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
