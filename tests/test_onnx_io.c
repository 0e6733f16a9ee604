/* test_onnx_io.c: TensorProto conversion for every dtype (raw_data and
 * typed fields), external data, and model-local function inlining.
 * Inputs are built here with protobuf-c, so each expectation is derived
 * from the ONNX spec, not from supcon's own writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "onnx.pb-c.h"
#include "onnx/onnx.h"
#include "runtime/graph.h"
#include "model_builder.h"

/* --- helpers ------------------------------------------------------------- */

static void *pack_tensor(Onnx__TensorProto *p, size_t *len)
{
	*len = onnx__tensor_proto__get_packed_size(p);
	void *buf = malloc(*len ? *len : 1);
	onnx__tensor_proto__pack(p, buf);
	return buf;
}

static int load_tensor(Onnx__TensorProto *p, sc_tensor *t, sc_error *err)
{
	size_t len;
	void *buf = pack_tensor(p, &len);
	int rc = onnx_tensor_load_memory(buf, len, "t.pb", t, NULL, err);
	free(buf);
	return rc;
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static void make_dir(const char *path)
{
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", path, path);
	assert_int_equal(system(cmd), 0);
}

/* --- dtypes -------------------------------------------------------------- */

static void test_float_raw_and_typed(void **state)
{
	(void)state;
	int64_t dims[] = {2, 3};
	float v[6] = {1.5f, -2.0f, 0.0f, 3.25f, 1e-30f, -7.0f};
	Onnx__TensorProto p = ONNX__TENSOR_PROTO__INIT;
	p.name = "w";
	p.n_dims = 2;
	p.dims = dims;
	p.has_data_type = 1;
	p.data_type = SC_FLOAT;
	p.has_raw_data = 1;
	p.raw_data.len = sizeof v;
	p.raw_data.data = (uint8_t *)v;
	sc_tensor t;
	sc_error err = {0};
	assert_int_equal(load_tensor(&p, &t, &err), SC_OK);
	assert_int_equal(t.dtype, SC_FLOAT);
	assert_int_equal(t.rank, 2);
	assert_int_equal(t.dims[1], 3);
	assert_int_equal(t.numel, 6);
	assert_memory_equal(t.data, v, sizeof v);
	tensor_free(&t);

	p.has_raw_data = 0;
	p.n_float_data = 6;
	p.float_data = v;
	assert_int_equal(load_tensor(&p, &t, &err), SC_OK);
	assert_memory_equal(t.data, v, sizeof v);
	tensor_free(&t);

	p.n_float_data = 5;
	assert_int_equal(load_tensor(&p, &t, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "float_data holds 5 values but its dims need 6"));
	assert_non_null(strstr(err.msg, "'w'"));
}

/* Each narrow dtype travels in int32_data; check values and widths. */
static void test_int32_data_narrowing(void **state)
{
	(void)state;
	int32_t src[4] = {-1, 127, 255, 2};
	int64_t dims[] = {4};
	struct {
		int dtype;
		uint8_t expect[8];
		size_t bytes;
	} cases[] = {
		{SC_INT8, {0xff, 0x7f, 0xff, 0x02}, 4},
		{SC_UINT8, {0xff, 0x7f, 0xff, 0x02}, 4},
		{SC_BOOL, {1, 1, 1, 1}, 4},
		{SC_INT16, {0xff, 0xff, 0x7f, 0, 0xff, 0, 2, 0}, 8},
		{SC_UINT16, {0xff, 0xff, 0x7f, 0, 0xff, 0, 2, 0}, 8},
		{SC_FLOAT16, {0xff, 0xff, 0x7f, 0, 0xff, 0, 2, 0}, 8},
		{SC_BFLOAT16, {0xff, 0xff, 0x7f, 0, 0xff, 0, 2, 0}, 8},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		Onnx__TensorProto p = ONNX__TENSOR_PROTO__INIT;
		p.n_dims = 1;
		p.dims = dims;
		p.has_data_type = 1;
		p.data_type = cases[i].dtype;
		p.n_int32_data = 4;
		p.int32_data = src;
		sc_tensor t;
		sc_error err = {0};
		assert_int_equal(load_tensor(&p, &t, &err), SC_OK);
		assert_int_equal(t.nbytes, cases[i].bytes);
		assert_memory_equal(t.data, cases[i].expect, cases[i].bytes);
		tensor_free(&t);
	}
	/* int32 itself keeps full width */
	Onnx__TensorProto p = ONNX__TENSOR_PROTO__INIT;
	p.n_dims = 1;
	p.dims = dims;
	p.has_data_type = 1;
	p.data_type = SC_INT32;
	p.n_int32_data = 4;
	p.int32_data = src;
	sc_tensor t;
	sc_error err = {0};
	assert_int_equal(load_tensor(&p, &t, &err), SC_OK);
	assert_memory_equal(t.data, src, sizeof src);
	tensor_free(&t);
}

static void test_wide_typed_fields(void **state)
{
	(void)state;
	int64_t dims[] = {3};
	int64_t i64[3] = {INT64_MIN, 0, INT64_MAX};
	uint64_t u64[3] = {UINT64_MAX, 1, 4294967295u};
	double f64[6] = {1.0, -2.5, 3e300, 0, 1, 2};
	sc_tensor t;
	sc_error err = {0};

	Onnx__TensorProto p = ONNX__TENSOR_PROTO__INIT;
	p.n_dims = 1;
	p.dims = dims;
	p.has_data_type = 1;
	p.data_type = SC_INT64;
	p.n_int64_data = 3;
	p.int64_data = i64;
	assert_int_equal(load_tensor(&p, &t, &err), SC_OK);
	assert_memory_equal(t.data, i64, sizeof i64);
	tensor_free(&t);

	Onnx__TensorProto q = ONNX__TENSOR_PROTO__INIT;
	q.n_dims = 1;
	q.dims = dims;
	q.has_data_type = 1;
	q.data_type = SC_UINT64;
	q.n_uint64_data = 3;
	q.uint64_data = u64;
	assert_int_equal(load_tensor(&q, &t, &err), SC_OK);
	assert_memory_equal(t.data, u64, sizeof u64);
	tensor_free(&t);

	q.data_type = SC_UINT32;
	assert_int_equal(load_tensor(&q, &t, &err), SC_OK);
	uint32_t u32[3] = {UINT32_MAX, 1, 4294967295u};
	assert_int_equal(t.nbytes, 12);
	assert_memory_equal(t.data, u32, sizeof u32);
	tensor_free(&t);

	Onnx__TensorProto d = ONNX__TENSOR_PROTO__INIT;
	d.n_dims = 1;
	d.dims = dims;
	d.has_data_type = 1;
	d.data_type = SC_DOUBLE;
	d.n_double_data = 3;
	d.double_data = f64;
	assert_int_equal(load_tensor(&d, &t, &err), SC_OK);
	assert_memory_equal(t.data, f64, 3 * sizeof(double));
	tensor_free(&t);

	/* complex128: two doubles per element */
	d.data_type = SC_COMPLEX128;
	assert_int_equal(load_tensor(&d, &t, &err), SC_EINVAL);
	d.n_double_data = 6;
	assert_int_equal(load_tensor(&d, &t, &err), SC_OK);
	assert_int_equal(t.nbytes, 48);
	tensor_free(&t);
}

static void test_strings(void **state)
{
	(void)state;
	int64_t dims[] = {2};
	ProtobufCBinaryData s[2] = {{3, (uint8_t *)"abc"}, {0, NULL}};
	Onnx__TensorProto p = ONNX__TENSOR_PROTO__INIT;
	p.n_dims = 1;
	p.dims = dims;
	p.has_data_type = 1;
	p.data_type = SC_STRING;
	p.n_string_data = 2;
	p.string_data = s;
	sc_tensor t;
	sc_error err = {0};
	assert_int_equal(load_tensor(&p, &t, &err), SC_OK);
	sc_bytes *b = t.data;
	assert_int_equal(b[0].len, 3);
	assert_memory_equal(b[0].data, "abc", 3);
	assert_int_equal(b[1].len, 0);
	tensor_free(&t);
}

static void test_bad_tensors(void **state)
{
	(void)state;
	sc_tensor t;
	sc_error err = {0};
	uint8_t raw[8] = {0};

	/* 2^60 elements declared over 8 bytes: refused before allocating */
	int64_t huge[] = {1 << 30, 1 << 30};
	Onnx__TensorProto p = ONNX__TENSOR_PROTO__INIT;
	p.name = "big";
	p.n_dims = 2;
	p.dims = huge;
	p.has_data_type = 1;
	p.data_type = SC_FLOAT;
	p.has_raw_data = 1;
	p.raw_data.len = 8;
	p.raw_data.data = raw;
	assert_int_equal(load_tensor(&p, &t, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "'big'"));
	assert_non_null(strstr(err.msg, "overflow"));

	int64_t neg[] = {2, -1};
	p.dims = neg;
	assert_int_equal(load_tensor(&p, &t, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "negative"));

	int64_t two[] = {2, 2};
	p.dims = two;
	assert_int_equal(load_tensor(&p, &t, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "raw_data has 8 bytes but dims need 16"));

	p.data_type = 99;
	assert_int_equal(load_tensor(&p, &t, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "unknown data type 99"));

	/* a scalar with no data at all */
	Onnx__TensorProto e = ONNX__TENSOR_PROTO__INIT;
	e.has_data_type = 1;
	e.data_type = SC_FLOAT;
	assert_int_equal(load_tensor(&e, &t, &err), SC_EINVAL);

	/* garbage bytes */
	const char junk[] = "\xff\xff\xff\xff\xff\x01";
	assert_int_equal(onnx_tensor_load_memory(junk, sizeof junk, "junk.pb",
						 &t, NULL, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "junk.pb"));
}

/* --- external data ------------------------------------------------------- */

/* One-initializer model whose tensor lives in external data. */
static void write_external_model(const char *path, const char *location,
				 const char *offset, const char *length)
{
	int64_t dims[] = {4};
	Onnx__StringStringEntryProto loc = ONNX__STRING_STRING_ENTRY_PROTO__INIT;
	loc.key = "location";
	loc.value = (char *)location;
	Onnx__StringStringEntryProto off = ONNX__STRING_STRING_ENTRY_PROTO__INIT;
	off.key = "offset";
	off.value = (char *)offset;
	Onnx__StringStringEntryProto len = ONNX__STRING_STRING_ENTRY_PROTO__INIT;
	len.key = "length";
	len.value = (char *)length;
	Onnx__StringStringEntryProto *ext[3] = {&loc, &off, &len};
	size_t n_ext = 1 + (offset != NULL) + (length != NULL);
	if (!offset)
		ext[1] = &len;

	Onnx__TensorProto w = ONNX__TENSOR_PROTO__INIT;
	w.name = "w";
	w.n_dims = 1;
	w.dims = dims;
	w.has_data_type = 1;
	w.data_type = SC_FLOAT;
	w.has_data_location = 1;
	w.data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
	w.n_external_data = n_ext;
	w.external_data = ext;
	Onnx__TensorProto *inits[] = {&w};

	Onnx__TypeProto__Tensor tt = ONNX__TYPE_PROTO__TENSOR__INIT;
	tt.has_elem_type = 1;
	tt.elem_type = SC_FLOAT;
	Onnx__TypeProto ty = ONNX__TYPE_PROTO__INIT;
	ty.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
	ty.tensor_type = &tt;
	Onnx__ValueInfoProto out = ONNX__VALUE_INFO_PROTO__INIT;
	out.name = "y";
	out.type = &ty;
	Onnx__ValueInfoProto *outs[] = {&out};

	char *nin[] = {"w"}, *nout[] = {"y"};
	Onnx__NodeProto node = ONNX__NODE_PROTO__INIT;
	node.op_type = "Identity";
	node.name = "id";
	node.n_input = 1;
	node.input = nin;
	node.n_output = 1;
	node.output = nout;
	Onnx__NodeProto *nodes[] = {&node};

	Onnx__GraphProto g = ONNX__GRAPH_PROTO__INIT;
	g.name = "g";
	g.n_node = 1;
	g.node = nodes;
	g.n_initializer = 1;
	g.initializer = inits;
	g.n_output = 1;
	g.output = outs;

	Onnx__OperatorSetIdProto op = ONNX__OPERATOR_SET_ID_PROTO__INIT;
	op.domain = "";
	op.has_version = 1;
	op.version = 13;
	Onnx__OperatorSetIdProto *ops[] = {&op};
	Onnx__ModelProto m = ONNX__MODEL_PROTO__INIT;
	m.has_ir_version = 1;
	m.ir_version = 8;
	m.n_opset_import = 1;
	m.opset_import = ops;
	m.graph = &g;

	size_t n = onnx__model_proto__get_packed_size(&m);
	void *buf = malloc(n);
	onnx__model_proto__pack(&m, buf);
	write_file(path, buf, n);
	free(buf);
}

static void test_external_data(void **state)
{
	(void)state;
	const char *dir = SUPCON_TEST_WORK "/ext";
	make_dir(dir);
	make_dir(SUPCON_TEST_WORK "/ext_outside");
	float data[6] = {9, 1, 2, 3, 4, 9};
	write_file(SUPCON_TEST_WORK "/ext/weights.bin", data, sizeof data);
	write_file(SUPCON_TEST_WORK "/ext_outside/secret.bin", data, sizeof data);
	assert_int_equal(mkdir(SUPCON_TEST_WORK "/ext/sub", 0755), 0);
	write_file(SUPCON_TEST_WORK "/ext/sub/w.bin", data + 1, 16);
	assert_int_equal(symlink(SUPCON_TEST_WORK "/ext_outside/secret.bin",
				 SUPCON_TEST_WORK "/ext/link.bin"), 0);
	assert_int_equal(symlink("weights.bin", SUPCON_TEST_WORK "/ext/inside.bin"), 0);
	/* folders reached through symlinks: one leaving, one staying inside */
	assert_int_equal(symlink(SUPCON_TEST_WORK "/ext_outside",
				 SUPCON_TEST_WORK "/ext/outdir"), 0);
	assert_int_equal(symlink("../ext_outside", SUPCON_TEST_WORK "/ext/updir"), 0);
	assert_int_equal(symlink("sub", SUPCON_TEST_WORK "/ext/subdir"), 0);

	char path[512];
	snprintf(path, sizeof path, "%s/model.onnx", dir);
	graph_model *m;
	sc_error err = {0};

	/* offset 4, length 16: the middle four floats */
	write_external_model(path, "weights.bin", "4", "16");
	assert_int_equal(onnx_load_file(path, &m, &err), SC_OK);
	const sc_tensor *t = &m->graph->inits[0].tensor;
	assert_int_equal(t->numel, 4);
	assert_memory_equal(t->data, data + 1, 16);
	graph_model_free(m);

	/* no offset or length: the whole file must be exactly the tensor */
	write_external_model(path, "sub/w.bin", NULL, NULL);
	assert_int_equal(onnx_load_file(path, &m, &err), SC_OK);
	assert_memory_equal(m->graph->inits[0].tensor.data, data + 1, 16);
	graph_model_free(m);

	/* a symlink that stays inside the folder is fine */
	write_external_model(path, "inside.bin", "8", "16");
	assert_int_equal(onnx_load_file(path, &m, &err), SC_OK);
	assert_memory_equal(m->graph->inits[0].tensor.data, data + 2, 16);
	graph_model_free(m);

	/* and so is a folder symlink that stays inside */
	write_external_model(path, "subdir/w.bin", "0", "16");
	assert_int_equal(onnx_load_file(path, &m, &err), SC_OK);
	assert_memory_equal(m->graph->inits[0].tensor.data, data + 1, 16);
	graph_model_free(m);

	struct {
		const char *location, *offset, *length, *expect;
	} bad[] = {
		{SUPCON_TEST_WORK "/ext/weights.bin", "0", "16", "absolute path"},
		{"../ext_outside/secret.bin", "0", "16", "'..'"},
		{"sub/../../ext_outside/secret.bin", "0", "16", "'..'"},
		{"link.bin", "0", "16", "outside the model folder"},
		{"outdir/secret.bin", "0", "16", "outside the model folder"},
		{"updir/secret.bin", "0", "16", "outside the model folder"},
		{"sub/../updir/secret.bin", "0", "16", "'..'"},
		{"./outdir/secret.bin", "0", "16", "outside the model folder"},
		{"weights.bin", "16", "16", "past the end"},
		{"weights.bin", "100", "16", "past the end"},
		{"weights.bin", "0", "20", "does not match"},
		{"weights.bin", "-4", "16", "not a number"},
		{"missing.bin", "0", "16", "cannot be opened"},
		{"", "0", "16", "empty"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		write_external_model(path, bad[i].location, bad[i].offset,
				     bad[i].length);
		int rc = onnx_load_file(path, &m, &err);
		if (rc != SC_EINVAL || !strstr(err.msg, bad[i].expect) ||
		    !strstr(err.msg, "model.onnx") || !strstr(err.msg, "'w'"))
			fail_msg("case %zu (%s): rc %d, message: %s", i,
				 bad[i].location, rc, err.msg);
		assert_null(m);
	}

	/* loading the same bytes from memory without a folder refuses it */
	write_external_model(path, "weights.bin", "4", "16");
	FILE *f = fopen(path, "rb");
	char buf[4096];
	size_t n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	assert_int_equal(onnx_load_memory(buf, n, NULL, "mem", &m, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "from memory"));
}

/* --- functions ----------------------------------------------------------- */

static Onnx__AttributeProto *int_attr(const char *name, int64_t v)
{
	Onnx__AttributeProto *a = calloc(1, sizeof *a);
	onnx__attribute_proto__init(a);
	a->name = (char *)name;
	a->has_type = 1;
	a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
	a->has_i = 1;
	a->i = v;
	return a;
}

static Onnx__AttributeProto *ref_attr(const char *name, const char *ref)
{
	Onnx__AttributeProto *a = calloc(1, sizeof *a);
	onnx__attribute_proto__init(a);
	a->name = (char *)name;
	a->ref_attr_name = (char *)ref;
	a->has_type = 1;
	a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
	return a;
}

static Onnx__NodeProto *node(const char *op, const char *domain,
			     const char *in0, const char *in1, const char *out,
			     Onnx__AttributeProto *attr)
{
	Onnx__NodeProto *n = calloc(1, sizeof *n);
	onnx__node_proto__init(n);
	n->op_type = (char *)op;
	n->domain = (char *)domain;
	n->input = calloc(2, sizeof(char *));
	n->input[n->n_input++] = (char *)in0;
	if (in1)
		n->input[n->n_input++] = (char *)in1;
	n->output = calloc(1, sizeof(char *));
	n->output[n->n_output++] = (char *)out;
	if (attr) {
		n->attribute = calloc(1, sizeof *n->attribute);
		n->attribute[n->n_attribute++] = attr;
	}
	return n;
}

static void free_node(Onnx__NodeProto *n)
{
	free(n->input);
	free(n->output);
	if (n->n_attribute)
		free(n->attribute[0]);
	free(n->attribute);
	free(n);
}

static Onnx__ValueInfoProto *vinfo(const char *name)
{
	Onnx__ValueInfoProto *v = calloc(1, sizeof *v);
	onnx__value_info_proto__init(v);
	v->name = (char *)name;
	return v;
}

/* local.Twice(x) = Add(Relu(x), Relu(x)) with a Softmax carrying axis=ref;
 * local.Outer(x) calls Twice twice.  The main graph calls Outer and Twice. */
static void test_function_inlining(void **state)
{
	(void)state;
	/* Twice body: r = Relu(x); s = Add(r, r); y = Softmax(s, axis=@ax) */
	Onnx__NodeProto *tb[3] = {
		node("Relu", "", "x", NULL, "r", NULL),
		node("Add", "", "r", "r", "s", NULL),
		node("Softmax", "", "s", NULL, "y", ref_attr("axis", "ax")),
	};
	char *tin[] = {"x"}, *tout[] = {"y"}, *tattr[] = {"ax"};
	Onnx__FunctionProto twice = ONNX__FUNCTION_PROTO__INIT;
	twice.name = "Twice";
	twice.domain = "local";
	twice.n_input = 1;
	twice.input = tin;
	twice.n_output = 1;
	twice.output = tout;
	twice.n_attribute = 1;
	twice.attribute = tattr;
	twice.n_node = 3;
	twice.node = tb;

	/* Outer body: a = Twice(x, ax=@k); y = Twice(a) (no ax: default) */
	Onnx__NodeProto *ob[2] = {
		node("Twice", "local", "x", NULL, "a", ref_attr("ax", "k")),
		node("Twice", "local", "a", NULL, "y", NULL),
	};
	char *oattr[] = {"k"};
	Onnx__FunctionProto outer = ONNX__FUNCTION_PROTO__INIT;
	outer.name = "Outer";
	outer.domain = "local";
	outer.n_input = 1;
	outer.input = tin;
	outer.n_output = 1;
	outer.output = tout;
	outer.n_attribute = 1;
	outer.attribute = oattr;
	outer.n_node = 2;
	outer.node = ob;

	/* main: h = Outer(in, k=0); out = Twice(h, ax=1); the main graph
	 * reuses the name "r" to check internals are renamed */
	Onnx__NodeProto *mb[3] = {
		node("Outer", "local", "in", NULL, "h", int_attr("k", 0)),
		node("Twice", "local", "h", NULL, "r", int_attr("ax", 1)),
		node("Identity", "", "r", NULL, "out", NULL),
	};
	Onnx__ValueInfoProto *ins[] = {vinfo("in")}, *outs[] = {vinfo("out")};
	Onnx__GraphProto g = ONNX__GRAPH_PROTO__INIT;
	g.name = "main";
	g.n_node = 3;
	g.node = mb;
	g.n_input = 1;
	g.input = ins;
	g.n_output = 1;
	g.output = outs;
	Onnx__OperatorSetIdProto op = ONNX__OPERATOR_SET_ID_PROTO__INIT;
	op.domain = "";
	op.has_version = 1;
	op.version = 17;
	Onnx__OperatorSetIdProto local = ONNX__OPERATOR_SET_ID_PROTO__INIT;
	local.domain = "local";
	local.has_version = 1;
	local.version = 1;
	Onnx__OperatorSetIdProto *ops[] = {&op, &local};
	Onnx__FunctionProto *fns[] = {&twice, &outer};
	Onnx__ModelProto m = ONNX__MODEL_PROTO__INIT;
	m.has_ir_version = 1;
	m.ir_version = 8;
	m.n_opset_import = 2;
	m.opset_import = ops;
	m.graph = &g;
	m.n_functions = 2;
	m.functions = fns;

	size_t len = onnx__model_proto__get_packed_size(&m);
	void *buf = malloc(len);
	onnx__model_proto__pack(&m, buf);
	graph_model *gm;
	sc_error err = {0};
	assert_int_equal(onnx_load_memory(buf, len, NULL, "fn.onnx", &gm, &err), SC_OK);

	/* Outer = 2 x Twice, plus one Twice, plus Identity: 3*3 + 1 nodes */
	graph *gr = gm->graph;
	assert_int_equal(gr->n_nodes, 10);
	int softmax = 0, with_axis = 0;
	for (int i = 0; i < gr->n_nodes; i++) {
		const graph_node *n = &gr->nodes[i];
		assert_string_not_equal(n->domain, "local");
		if (strcmp(n->op_type, "Softmax") == 0) {
			softmax++;
			const graph_attr *a = graph_node_attr(n, "axis");
			if (a) {
				assert_null(a->ref_attr_name);
				assert_int_equal(a->type, ATTR_INT);
				/* first Twice in Outer gets k=0, the outer call ax=1 */
				assert_true(a->i == 0 || a->i == 1);
				with_axis++;
			}
		}
	}
	assert_int_equal(softmax, 3);
	assert_int_equal(with_axis, 2);

	/* the caller's names are wired through; internals do not clash */
	int h = graph_find_value(gr, "h"), r = graph_find_value(gr, "r");
	assert_true(h >= 0 && r >= 0);
	assert_int_equal(strcmp(gr->nodes[gr->values[h].producer].op_type, "Softmax"), 0);
	assert_int_equal(strcmp(gr->nodes[gr->values[r].producer].op_type, "Softmax"), 0);
	int in = graph_find_value(gr, "in");
	assert_int_equal(gr->values[in].flags & VALUE_INPUT, VALUE_INPUT);
	/* every node input is defined somewhere */
	for (int i = 0; i < gr->n_nodes; i++)
		for (int j = 0; j < gr->nodes[i].n_inputs; j++) {
			const graph_value *v = &gr->values[gr->nodes[i].inputs[j]];
			assert_true(v->producer >= 0 || (v->flags & VALUE_INPUT));
		}
	graph_model_free(gm);

	/* a function that calls itself is refused, not expanded forever */
	Onnx__NodeProto *self_body[] = {node("Twice", "local", "x", NULL, "y", NULL)};
	twice.node = self_body;
	twice.n_node = 1;
	free(buf);
	len = onnx__model_proto__get_packed_size(&m);
	buf = malloc(len);
	onnx__model_proto__pack(&m, buf);
	assert_int_equal(onnx_load_memory(buf, len, NULL, "fn.onnx", &gm, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "calls itself"));
	free(buf);

	free_node(self_body[0]);
	for (int i = 0; i < 3; i++)
		free_node(tb[i]), free_node(mb[i]);
	for (int i = 0; i < 2; i++)
		free_node(ob[i]);
	free(ins[0]);
	free(outs[0]);
}

/* local.AddC(x) = x + Constant([1, 2, 3, 4]), called twice: each call gets
 * its own copy of the constant.  (The loader used to move the tensor out
 * of the function's proto on the first call, so the second call found 0
 * bytes of raw_data and the model was refused.) */
static void test_function_constant_called_twice(void **state)
{
	(void)state;
	float cv[4] = {1, 2, 3, 4};
	Onnx__TensorProto t = ONNX__TENSOR_PROTO__INIT;
	int64_t dims[1] = {4};
	t.name = "cv";
	t.has_data_type = 1;
	t.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
	t.n_dims = 1;
	t.dims = dims;
	t.has_raw_data = 1;
	t.raw_data.data = (uint8_t *)cv;
	t.raw_data.len = sizeof cv;
	Onnx__AttributeProto value = ONNX__ATTRIBUTE_PROTO__INIT;
	value.name = "value";
	value.has_type = 1;
	value.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
	value.t = &t;
	Onnx__NodeProto *body[2] = {
		node("Constant", "", NULL, NULL, "c", &value),
		node("Add", "", "x", "c", "y", NULL),
	};
	body[0]->n_input = 0;
	char *fin[] = {"x"}, *fout[] = {"y"};
	Onnx__FunctionProto fn = ONNX__FUNCTION_PROTO__INIT;
	fn.name = "AddC";
	fn.domain = "local";
	fn.n_input = 1;
	fn.input = fin;
	fn.n_output = 1;
	fn.output = fout;
	fn.n_node = 2;
	fn.node = body;
	Onnx__NodeProto *calls[2] = {
		node("AddC", "local", "in", NULL, "mid", NULL),
		node("AddC", "local", "mid", NULL, "out", NULL),
	};
	Onnx__ValueInfoProto *ins[] = {vinfo("in")}, *outs[] = {vinfo("out")};
	Onnx__GraphProto g = ONNX__GRAPH_PROTO__INIT;
	g.name = "main";
	g.n_node = 2;
	g.node = calls;
	g.n_input = 1;
	g.input = ins;
	g.n_output = 1;
	g.output = outs;
	Onnx__OperatorSetIdProto op = ONNX__OPERATOR_SET_ID_PROTO__INIT;
	op.domain = "";
	op.has_version = 1;
	op.version = 17;
	Onnx__OperatorSetIdProto local = ONNX__OPERATOR_SET_ID_PROTO__INIT;
	local.domain = "local";
	local.has_version = 1;
	local.version = 1;
	Onnx__OperatorSetIdProto *ops[] = {&op, &local};
	Onnx__FunctionProto *fns[] = {&fn};
	Onnx__ModelProto m = ONNX__MODEL_PROTO__INIT;
	m.has_ir_version = 1;
	m.ir_version = 8;
	m.n_opset_import = 2;
	m.opset_import = ops;
	m.graph = &g;
	m.n_functions = 1;
	m.functions = fns;

	size_t len = onnx__model_proto__get_packed_size(&m);
	void *buf = malloc(len);
	onnx__model_proto__pack(&m, buf);
	graph_model *gm;
	sc_error err = {0};
	if (onnx_load_memory(buf, len, NULL, "addc.onnx", &gm, &err) != SC_OK)
		fail_msg("%s", err.msg);
	/* two Constants, each holding the four values */
	int constants = 0;
	for (int i = 0; i < gm->graph->n_nodes; i++) {
		const graph_node *n = &gm->graph->nodes[i];
		if (strcmp(n->op_type, "Constant") != 0)
			continue;
		const graph_attr *a = graph_node_attr(n, "value");
		assert_non_null(a);
		assert_non_null(a->t);
		assert_int_equal(a->t->nbytes, sizeof cv);
		assert_memory_equal(a->t->data, cv, sizeof cv);
		constants++;
	}
	assert_int_equal(constants, 2);
	assert_int_equal(gm->graph->n_nodes, 4);
	graph_model_free(gm);
	/* the caller's bytes are untouched, so loading again works too */
	assert_int_equal(onnx_load_memory(buf, len, NULL, "addc.onnx", &gm, &err), SC_OK);
	graph_model_free(gm);
	free(buf);
	for (int i = 0; i < 2; i++) {
		body[i]->n_attribute = 0;   /* &value is on the stack */
		free_node(body[i]);
		free_node(calls[i]);
	}
	free(ins[0]);
	free(outs[0]);
}

/* A subgraph reading a value of the enclosing graph gets VALUE_OUTER; one
 * reading a name nobody defines is refused with the node named. */
static void test_outer_scope(void **state)
{
	(void)state;
	Onnx__NodeProto *body[] = {node("Identity", "", "x", NULL, "y", NULL)};
	Onnx__ValueInfoProto *bout[] = {vinfo("y")};
	Onnx__GraphProto then_g = ONNX__GRAPH_PROTO__INIT;
	then_g.name = "then";
	then_g.n_node = 1;
	then_g.node = body;
	then_g.n_output = 1;
	then_g.output = bout;

	Onnx__AttributeProto ga = ONNX__ATTRIBUTE_PROTO__INIT;
	ga.name = "then_branch";
	ga.has_type = 1;
	ga.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH;
	ga.g = &then_g;
	Onnx__AttributeProto eb = ga;
	eb.name = "else_branch";
	Onnx__AttributeProto *attrs[] = {&ga, &eb};
	char *iin[] = {"c"}, *iout[] = {"out"};
	Onnx__NodeProto ifn = ONNX__NODE_PROTO__INIT;
	ifn.op_type = "If";
	ifn.name = "branch";
	ifn.n_input = 1;
	ifn.input = iin;
	ifn.n_output = 1;
	ifn.output = iout;
	ifn.n_attribute = 2;
	ifn.attribute = attrs;
	Onnx__NodeProto *nodes[] = {&ifn};
	Onnx__ValueInfoProto *ins[] = {vinfo("c"), vinfo("x")};
	Onnx__ValueInfoProto *outs[] = {vinfo("out")};
	Onnx__GraphProto g = ONNX__GRAPH_PROTO__INIT;
	g.name = "main";
	g.n_node = 1;
	g.node = nodes;
	g.n_input = 2;
	g.input = ins;
	g.n_output = 1;
	g.output = outs;
	Onnx__OperatorSetIdProto op = ONNX__OPERATOR_SET_ID_PROTO__INIT;
	op.has_version = 1;
	op.version = 13;
	Onnx__OperatorSetIdProto *ops[] = {&op};
	Onnx__ModelProto m = ONNX__MODEL_PROTO__INIT;
	m.has_ir_version = 1;
	m.ir_version = 8;
	m.n_opset_import = 1;
	m.opset_import = ops;
	m.graph = &g;

	uint8_t buf[4096];
	size_t len = onnx__model_proto__pack(&m, buf);
	graph_model *gm;
	sc_error err = {0};
	assert_int_equal(onnx_load_memory(buf, len, NULL, "if.onnx", &gm, &err), SC_OK);
	const graph *sub = gm->graph->nodes[0].attrs[0].g;
	assert_non_null(sub);
	assert_ptr_equal(sub->parent, gm->graph);
	int x = graph_find_value(sub, "x");
	assert_true(x >= 0);
	assert_true(sub->values[x].flags & VALUE_OUTER);
	graph_model_free(gm);

	/* the subgraph now reads "z", which nobody defines */
	body[0]->input[0] = "z";
	len = onnx__model_proto__pack(&m, buf);
	assert_int_equal(onnx_load_memory(buf, len, NULL, "if.onnx", &gm, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "'z'"));
	assert_non_null(strstr(err.msg, "Identity"));
	assert_non_null(strstr(err.msg, "if.onnx"));
	free_node(body[0]);
	free(bout[0]);
	free(ins[0]);
	free(ins[1]);
	free(outs[0]);
}

static void test_half_conversions(void **state)
{
	(void)state;
	/* values from the IEEE 754 binary16 tables */
	struct {
		uint16_t h;
		float f;
	} cases[] = {
		{0x3c00, 1.0f}, {0xc000, -2.0f}, {0x7bff, 65504.0f},
		{0x0400, 6.103515625e-05f}, {0x0001, 5.9604644775390625e-08f},
		{0x3555, 0.333251953125f}, {0x0000, 0.0f},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_true(tensor_half_to_float(cases[i].h) == cases[i].f);
		assert_int_equal(tensor_float_to_half(cases[i].f), cases[i].h);
	}
	assert_int_equal(tensor_float_to_half(1e6f), 0x7c00);
	/* round to nearest even: 1 + 2^-11 is halfway between 1 and 1+2^-10 */
	assert_int_equal(tensor_float_to_half(1.0f + 1.0f / 2048), 0x3c00);
	assert_int_equal(tensor_float_to_half(1.0f + 3.0f / 2048), 0x3c02);
	assert_true(tensor_bf16_to_float(0x3f80) == 1.0f);
	assert_int_equal(tensor_float_to_bf16(3.140625f), 0x4049);
}

/* A saved SupConLoss carries its standard-op body for other runtimes, but
 * loading it back keeps the native node unless asked to inline. */
static void test_native_function_kept(void **state)
{
	(void)state;
	graph_model *m = model(13);
	add_opset(m, "ai.supcon", 1);
	m->ir_version = 8;
	graph *g = m->graph;
	input(g, "f", SC_FLOAT, "4,3");
	input(g, "y", SC_INT64, "4");
	int ids[2] = {val(g, "f"), val(g, "y")}, out = val(g, "loss");
	sc_error err = {0};
	assert_true(graph_add_node(g, "SupConLoss", "ai.supcon", "sc", 2, ids, 1,
				   &out, &err) >= 0);
	push_output(g, out);
	void *buf;
	size_t len;
	assert_int_equal(onnx_save_memory(m, &buf, &len, &err), SC_OK);
	graph_model_free(m);

	graph_model *kept, *inlined;
	assert_int_equal(onnx_load_memory(buf, len, NULL, "sc", &kept, &err), SC_OK);
	assert_int_equal(kept->graph->n_nodes, 1);
	assert_string_equal(kept->graph->nodes[0].op_type, "SupConLoss");
	assert_int_equal(onnx_load_memory_flags(buf, len, NULL, "sc",
						ONNX_LOAD_INLINE_ALL, &inlined, &err), SC_OK);
	assert_true(inlined->graph->n_nodes > 5);
	for (int i = 0; i < inlined->graph->n_nodes; i++)
		assert_string_not_equal(inlined->graph->nodes[i].op_type, "SupConLoss");
	graph_model_free(kept);
	graph_model_free(inlined);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_float_raw_and_typed),
		cmocka_unit_test(test_int32_data_narrowing),
		cmocka_unit_test(test_wide_typed_fields),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_bad_tensors),
		cmocka_unit_test(test_external_data),
		cmocka_unit_test(test_function_inlining),
		cmocka_unit_test(test_function_constant_called_twice),
		cmocka_unit_test(test_outer_scope),
		cmocka_unit_test(test_half_conversions),
		cmocka_unit_test(test_native_function_kept),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
