/* test_roundtrip.c: saving models and tensors (onnx/save.c) and comparing
 * models (runtime/graph_equal.c).
 *
 * Hand-built models are saved and decoded again by protobuf-c itself, so the
 * bytes are checked field by field against what the IR says, independently
 * of our loader.  Then every official ONNX test model goes through
 * load -> save -> load and must compare equal; the saved files are left in
 * SUPCON_TEST_WORK/roundtrip/ for roundtrip_check.py (onnx.checker) and
 * ort_compare.js (ONNX Runtime), which CTest runs afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include "model_builder.h"
#include "onnx.pb-c.h"
#include "onnx/onnx.h"
#include "runtime/graph.h"

#define WORK_DIR SUPCON_TEST_WORK "/roundtrip"

/* Fewest official models that must survive the round trip.  Measured: all
 * 1072 load and round-trip; the margin only leaves room for models the
 * loader may one day refuse as unsupported, which are listed as skipped. */
#define MIN_OFFICIAL_ROUNDTRIPS 1000

/* --- helpers -------------------------------------------------------------- */

static char *xstrdup(const char *s)
{
	char *d = strdup(s);
	assert_non_null(d);
	return d;
}

static graph_type *new_type(void)
{
	graph_type *t = calloc(1, sizeof *t);
	assert_non_null(t);
	t->rank = -1;
	return t;
}

/* Tensor of dtype with a fixed, recognisable content per dtype. */
static void fill_tensor(sc_tensor *t, int dtype, int rank, const int64_t *dims)
{
	sc_error err = {0};
	assert_int_equal(tensor_alloc(t, dtype, rank, dims, "t", &err), SC_OK);
	for (int64_t i = 0; i < t->numel; i++) {
		double x = (double)(i + 1) * (i % 2 ? -1.5 : 2.25);
		switch (dtype) {
		case SC_FLOAT: {
			static const float special[] = {NAN, -0.0f, INFINITY, 1e-45f};
			((float *)t->data)[i] = i < 4 ? special[i] : (float)x;
			break;
		}
		case SC_DOUBLE: ((double *)t->data)[i] = i == 0 ? -0.0 : x / 3; break;
		case SC_FLOAT16: ((uint16_t *)t->data)[i] = tensor_float_to_half((float)x); break;
		case SC_BFLOAT16: ((uint16_t *)t->data)[i] = tensor_float_to_bf16((float)x); break;
		case SC_INT8: ((int8_t *)t->data)[i] = (int8_t)(-100 + 37 * i); break;
		case SC_UINT8: ((uint8_t *)t->data)[i] = (uint8_t)(200 + 13 * i); break;
		case SC_INT16: ((int16_t *)t->data)[i] = (int16_t)(-30000 + 999 * i); break;
		case SC_UINT16: ((uint16_t *)t->data)[i] = (uint16_t)(65000 - 77 * i); break;
		case SC_INT32: ((int32_t *)t->data)[i] = i == 0 ? 0x01020304 : (int32_t)(-7 * i); break;
		case SC_UINT32: ((uint32_t *)t->data)[i] = 0xfffffff0u + (uint32_t)i; break;
		case SC_INT64: ((int64_t *)t->data)[i] = i == 0 ? INT64_MIN : (int64_t)i << 40; break;
		case SC_UINT64: ((uint64_t *)t->data)[i] = UINT64_MAX - (uint64_t)i; break;
		case SC_BOOL: ((uint8_t *)t->data)[i] = (uint8_t)(i % 3 == 0); break;
		case SC_STRING: {
			sc_bytes *s = &((sc_bytes *)t->data)[i];
			char buf[32];
			/* one empty string, the others with an embedded NUL */
			int n = 0;
			if (i != 1) {
				n = snprintf(buf, sizeof buf - 2, "s%lld", (long long)i);
				buf[n++] = '\0';
				buf[n++] = 'z';
			}
			s->len = (size_t)n;
			s->data = malloc(n ? (size_t)n : 1);
			assert_non_null(s->data);
			memcpy(s->data, buf, (size_t)n);
			break;
		}
		default:
			fail_msg("dtype %d not covered", dtype);
		}
	}
}

static const int all_dtypes[] = {
	SC_FLOAT, SC_DOUBLE, SC_FLOAT16, SC_BFLOAT16, SC_INT8, SC_INT16, SC_INT32,
	SC_INT64, SC_UINT8, SC_UINT16, SC_UINT32, SC_UINT64, SC_BOOL, SC_STRING,
};
#define N_DTYPES ((int)(sizeof all_dtypes / sizeof all_dtypes[0]))

static graph_attr *attr(graph_node *n, const char *name, int type)
{
	sc_error err = {0};
	graph_attr *a = graph_node_add_attr(n, name, type, &err);
	assert_non_null(a);
	return a;
}

/* Loop-style body: reads the outer value "x", has its own input, output,
 * value_info, initializer and a nested If whose branches are graphs too. */
static graph *build_body(graph *parent, const char *name)
{
	sc_error err = {0};
	graph *b = graph_new(parent);
	assert_non_null(b);
	b->name = xstrdup(name);
	b->doc_string = xstrdup("body doc");
	int in = input(b, "body_in", SC_FLOAT, "");
	int outer = val(b, "x");
	b->values[outer].flags |= VALUE_OUTER;
	int k = val(b, "body_k");
	sc_tensor t;
	int64_t dims[1] = {1};
	fill_tensor(&t, SC_FLOAT, 1, dims);
	assert_int_equal(graph_add_init(b, k, &t, &err), SC_OK);
	int mid = val(b, "body_mid");
	parse_type(&b->values[mid].type, SC_FLOAT, "N,3,?");
	push_value_info(b, mid);
	int out = val(b, "body_out");
	parse_type(&b->values[out].type, SC_FLOAT, NULL);
	push_output(b, out);
	int ins[] = {outer, k};
	assert_true(graph_add_node(b, "Mul", "", "body_mul", 2, ins, 1, &mid, &err) >= 0);
	int ins2[] = {mid, in};
	assert_true(graph_add_node(b, "Add", "", "body_add", 2, ins2, 1, &out, &err) >= 0);
	return b;
}

/* Every feature the saver handles, in one model. */
static graph_model *build_everything(void)
{
	sc_error err = {0};
	graph_model *m = model(17);   /* graph "main" */
	m->ir_version = 8;
	add_opset(m, "test.saver", 3);
	m->producer_name = xstrdup("supcon-test");
	m->producer_version = xstrdup("0.1");
	m->domain = xstrdup("org.supcon.test");
	m->model_version = 42;
	m->doc_string = xstrdup("model doc");
	m->n_metadata = 2;
	m->metadata = calloc(2, sizeof *m->metadata);
	assert_non_null(m->metadata);
	m->metadata[0].key = xstrdup("author");
	m->metadata[0].value = xstrdup("saver");
	m->metadata[1].key = xstrdup("empty");
	m->metadata[1].value = xstrdup("");

	graph *g = m->graph;
	g->doc_string = xstrdup("graph doc");

	/* inputs: symbolic, known and unknown dims; each non-tensor kind */
	int x = input(g, "x", SC_FLOAT, "N,3,?");
	g->values[x].type.denotation = xstrdup("TENSOR");
	g->values[x].doc_string = xstrdup("the input");
	int sc = input(g, "scalar", SC_INT64, "");
	int seq = val(g, "seq");
	g->values[seq].type.kind = GRAPH_TYPE_SEQUENCE;
	g->values[seq].type.inner = new_type();
	parse_type(g->values[seq].type.inner, SC_INT64, NULL);
	push_input(g, seq);
	int opt = val(g, "opt");
	g->values[opt].type.kind = GRAPH_TYPE_OPTIONAL;
	g->values[opt].type.inner = new_type();
	parse_type(g->values[opt].type.inner, SC_FLOAT, "");
	push_input(g, opt);
	int map = val(g, "map");
	g->values[map].type.kind = GRAPH_TYPE_MAP;
	g->values[map].type.elem = SC_INT64;
	g->values[map].type.inner = new_type();
	parse_type(g->values[map].type.inner, SC_FLOAT, "?");
	push_input(g, map);
	int sparse = input(g, "sparse", SC_FLOAT, "2,2");
	g->values[sparse].type.kind = GRAPH_TYPE_SPARSE_TENSOR;

	/* one initializer per dtype, the first one also listed as an input */
	for (int i = 0; i < N_DTYPES; i++) {
		char name[32];
		snprintf(name, sizeof name, "w_%s", tensor_dtype_name(all_dtypes[i]));
		int v = val(g, name);
		int64_t dims[2] = {2, 3};
		sc_tensor t;
		fill_tensor(&t, all_dtypes[i], i % 3 == 2 ? 0 : 2, dims);
		assert_int_equal(graph_add_init(g, v, &t, &err), SC_OK);
		if (i == 0) {
			input(g, name, SC_FLOAT, "2,3");
			g->inits[0].doc_string = xstrdup("init doc");
		}
	}
	/* an empty tensor */
	int e = val(g, "w_empty");
	int64_t edims[2] = {0, 4};
	sc_tensor et;
	fill_tensor(&et, SC_FLOAT, 2, edims);
	assert_int_equal(graph_add_init(g, e, &et, &err), SC_OK);

	/* node with every attribute type; an omitted input and output */
	int y = val(g, "y"), aux = val(g, "aux");
	int ins[] = {x, -1, sc};
	int outs[] = {y, -1, aux};
	int ni = graph_add_node(g, "Everything", "test.saver", "every_attr", 3, ins,
				3, outs, &err);
	assert_true(ni >= 0);
	graph_node *n = &g->nodes[ni];
	n->doc_string = xstrdup("node doc");
	graph_attr *a = attr(n, "f", ATTR_FLOAT);
	a->f = -0.0f;
	a->doc_string = xstrdup("attr doc");
	a = attr(n, "i", ATTR_INT);
	a->i = -(INT64_C(1) << 40);
	a = attr(n, "s", ATTR_STRING);
	a->s.len = 3;
	a->s.data = malloc(3);
	assert_non_null(a->s.data);
	memcpy(a->s.data, "a\0b", 3);
	a = attr(n, "t", ATTR_TENSOR);
	a->t = calloc(1, sizeof *a->t);
	assert_non_null(a->t);
	int64_t tdims[1] = {5};
	fill_tensor(a->t, SC_INT32, 1, tdims);
	a = attr(n, "g", ATTR_GRAPH);
	a->g = build_body(g, "body_g");
	a = attr(n, "floats", ATTR_FLOATS);
	a->n = 3;
	a->floats = malloc(3 * sizeof(float));
	assert_non_null(a->floats);
	a->floats[0] = 1.5f;
	a->floats[1] = NAN;
	a->floats[2] = -INFINITY;
	a = attr(n, "ints", ATTR_INTS);
	a->n = 4;
	a->ints = malloc(4 * sizeof(int64_t));
	assert_non_null(a->ints);
	for (int i = 0; i < 4; i++)
		a->ints[i] = (int64_t)i * -3 + 1;
	a = attr(n, "strings", ATTR_STRINGS);
	a->n = 2;
	a->strings = calloc(2, sizeof *a->strings);
	assert_non_null(a->strings);
	a->strings[0].data = xstrdup("first");
	a->strings[0].len = 5;
	a->strings[1].data = xstrdup("");
	a->strings[1].len = 0;
	a = attr(n, "tensors", ATTR_TENSORS);
	a->n = 2;
	a->tensors = calloc(2, sizeof *a->tensors);
	assert_non_null(a->tensors);
	fill_tensor(&a->tensors[0], SC_STRING, 1, tdims);
	fill_tensor(&a->tensors[1], SC_FLOAT16, 0, NULL);
	a = attr(n, "graphs", ATTR_GRAPHS);
	a->n = 2;
	a->graphs = calloc(2, sizeof *a->graphs);
	assert_non_null(a->graphs);
	a->graphs[0] = build_body(g, "body_g0");
	a->graphs[1] = build_body(g, "body_g1");
	a = attr(n, "empty_ints", ATTR_INTS);
	a = attr(n, "ref", ATTR_FLOAT);
	a->ref_attr_name = xstrdup("caller_alpha");
	a = attr(n, "tp", ATTR_TYPE_PROTO);
	a->tp = new_type();
	a->tp->kind = GRAPH_TYPE_OPTIONAL;
	a->tp->inner = new_type();
	parse_type(a->tp->inner, SC_FLOAT, "N");
	a = attr(n, "tps", ATTR_TYPE_PROTOS);
	a->n = 2;
	a->tps = calloc(2, sizeof *a->tps);
	assert_non_null(a->tps);
	a->tps[0].kind = GRAPH_TYPE_SEQUENCE;
	a->tps[0].rank = -1;
	a->tps[0].inner = new_type();
	parse_type(a->tps[0].inner, SC_INT64, NULL);
	a->tps[1].kind = GRAPH_TYPE_MAP;
	a->tps[1].rank = -1;
	a->tps[1].elem = SC_STRING;
	a->tps[1].inner = new_type();
	parse_type(a->tps[1].inner, SC_FLOAT, "");

	/* a second node consuming the first, with a documented intermediate */
	g->values[y].doc_string = xstrdup("intermediate doc");
	parse_type(&g->values[y].type, SC_FLOAT, "N,?");
	push_value_info(g, y);
	int z = val(g, "z");
	int ins2[] = {y, g->inits[0].value};
	assert_true(graph_add_node(g, "MatMul", "", "", 2, ins2, 1, &z, &err) >= 0);
	parse_type(&g->values[z].type, SC_FLOAT, "N,3");
	push_output(g, z);
	push_output(g, aux);
	return m;
}

static void *save_memory(const graph_model *m, size_t *len)
{
	sc_error err = {0};
	void *buf = NULL;
	int rc = onnx_save_memory(m, &buf, len, &err);
	if (rc)
		fail_msg("onnx_save_memory: %s", err.msg);
	return buf;
}

/* The whole file, or NULL; no cmocka asserts, so the command-line mode
 * (main) can use it outside a test. */
static void *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	void *buf = NULL;
	long n = -1;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc(n ? (size_t)n : 1)) &&
	    fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = buf ? (size_t)n : 0;
	return buf;
}

static void make_dir(const char *path)
{
	if (mkdir(path, 0777) != 0 && errno != EEXIST)
		fail_msg("mkdir %s: %s", path, strerror(errno));
}

/* Number of leftover temporary files (".tmp-") in dir. */
static int count_temp_files(const char *dir)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strstr(e->d_name, ".tmp-"))
			n++;
	closedir(d);
	return n;
}

/* --- protobuf-level checks of a hand-built model ---------------------------- */

static const Onnx__ValueInfoProto *find_vi(Onnx__ValueInfoProto **v, size_t n,
					   const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i]->name, name) == 0)
			return v[i];
	fail_msg("value_info '%s' not written", name);
	return NULL;
}

static const Onnx__AttributeProto *find_attr(const Onnx__NodeProto *n,
					     const char *name)
{
	for (size_t i = 0; i < n->n_attribute; i++)
		if (strcmp(n->attribute[i]->name, name) == 0)
			return n->attribute[i];
	fail_msg("attribute '%s' not written", name);
	return NULL;
}

static void check_raw(const Onnx__TensorProto *p, const sc_tensor *t)
{
	assert_true(p->has_data_type);
	assert_int_equal(p->data_type, t->dtype);
	assert_int_equal(p->n_dims, t->rank);
	for (int i = 0; i < t->rank; i++)
		assert_int_equal(p->dims[i], t->dims[i]);
	assert_int_equal(p->n_float_data + p->n_int32_data + p->n_int64_data +
			 p->n_double_data + p->n_uint64_data, 0);
	assert_false(p->n_external_data);
	if (t->dtype == SC_STRING) {
		assert_false(p->has_raw_data);
		assert_int_equal(p->n_string_data, t->numel);
		const sc_bytes *s = t->data;
		for (int64_t i = 0; i < t->numel; i++) {
			assert_int_equal(p->string_data[i].len, s[i].len);
			assert_memory_equal(p->string_data[i].data, s[i].data, s[i].len);
		}
		return;
	}
	assert_true(p->has_raw_data);
	assert_int_equal(p->raw_data.len, t->nbytes);
	if (t->nbytes)
		assert_memory_equal(p->raw_data.data, t->data, t->nbytes);
}

static void check_body_proto(const Onnx__GraphProto *b, const char *name)
{
	assert_string_equal(b->name, name);
	assert_string_equal(b->doc_string, "body doc");
	assert_int_equal(b->n_input, 1);
	assert_string_equal(b->input[0]->name, "body_in");
	assert_int_equal(b->n_output, 1);
	/* rank unknown: tensor type without a shape field */
	const Onnx__TypeProto *ot = b->output[0]->type;
	assert_int_equal(ot->value_case, ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE);
	assert_null(ot->tensor_type->shape);
	assert_int_equal(b->n_value_info, 1);
	assert_int_equal(b->n_initializer, 1);
	assert_string_equal(b->initializer[0]->name, "body_k");
	assert_int_equal(b->n_node, 2);
	assert_string_equal(b->node[0]->input[0], "x");
	assert_string_equal(b->node[1]->output[0], "body_out");
}

static void test_save_fields(void **state)
{
	(void)state;
	graph_model *m = build_everything();
	size_t len;
	void *buf = save_memory(m, &len);
	Onnx__ModelProto *p = onnx__model_proto__unpack(NULL, len, buf);
	assert_non_null(p);

	assert_true(p->has_ir_version);
	assert_int_equal(p->ir_version, 8);
	assert_int_equal(p->n_opset_import, 2);
	assert_string_equal(p->opset_import[0]->domain, "");
	assert_int_equal(p->opset_import[0]->version, 17);
	assert_string_equal(p->opset_import[1]->domain, "test.saver");
	assert_int_equal(p->opset_import[1]->version, 3);
	assert_string_equal(p->producer_name, "supcon-test");
	assert_string_equal(p->producer_version, "0.1");
	assert_string_equal(p->domain, "org.supcon.test");
	assert_int_equal(p->model_version, 42);
	assert_string_equal(p->doc_string, "model doc");
	assert_int_equal(p->n_metadata_props, 2);
	assert_string_equal(p->metadata_props[0]->key, "author");
	assert_string_equal(p->metadata_props[0]->value, "saver");
	assert_string_equal(p->metadata_props[1]->value, "");
	assert_int_equal(p->n_functions + p->n_training_info, 0);

	const Onnx__GraphProto *g = p->graph;
	assert_string_equal(g->name, "main");
	assert_string_equal(g->doc_string, "graph doc");
	const char *in_names[] = {"x", "scalar", "seq", "opt", "map", "sparse",
				  "w_float32"};
	assert_int_equal(g->n_input, 7);
	for (int i = 0; i < 7; i++)
		assert_string_equal(g->input[i]->name, in_names[i]);

	/* x: [N, 3, ?] with denotation and doc */
	const Onnx__ValueInfoProto *x = g->input[0];
	assert_string_equal(x->doc_string, "the input");
	assert_string_equal(x->type->denotation, "TENSOR");
	assert_int_equal(x->type->value_case, ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE);
	assert_int_equal(x->type->tensor_type->elem_type, SC_FLOAT);
	const Onnx__TensorShapeProto *s = x->type->tensor_type->shape;
	assert_non_null(s);
	assert_int_equal(s->n_dim, 3);
	assert_int_equal(s->dim[0]->value_case,
			 ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM);
	assert_string_equal(s->dim[0]->dim_param, "N");
	assert_int_equal(s->dim[1]->value_case,
			 ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE);
	assert_int_equal(s->dim[1]->dim_value, 3);
	assert_int_equal(s->dim[2]->value_case,
			 ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE__NOT_SET);
	/* scalar: a shape with no dims, which is not the same as no shape */
	s = g->input[1]->type->tensor_type->shape;
	assert_non_null(s);
	assert_int_equal(s->n_dim, 0);
	const Onnx__TypeProto *t = g->input[2]->type;
	assert_int_equal(t->value_case, ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE);
	assert_int_equal(t->sequence_type->elem_type->tensor_type->elem_type, SC_INT64);
	assert_null(t->sequence_type->elem_type->tensor_type->shape);
	t = g->input[3]->type;
	assert_int_equal(t->value_case, ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE);
	assert_int_equal(t->optional_type->elem_type->tensor_type->elem_type, SC_FLOAT);
	t = g->input[4]->type;
	assert_int_equal(t->value_case, ONNX__TYPE_PROTO__VALUE_MAP_TYPE);
	assert_int_equal(t->map_type->key_type, SC_INT64);
	assert_int_equal(t->map_type->value_type->tensor_type->shape->n_dim, 1);
	t = g->input[5]->type;
	assert_int_equal(t->value_case, ONNX__TYPE_PROTO__VALUE_SPARSE_TENSOR_TYPE);
	assert_int_equal(t->sparse_tensor_type->shape->dim[1]->dim_value, 2);

	assert_int_equal(g->n_output, 2);
	assert_string_equal(g->output[0]->name, "z");
	assert_string_equal(g->output[1]->name, "aux");
	assert_int_equal(g->n_value_info, 1);
	const Onnx__ValueInfoProto *vy = find_vi(g->value_info, 1, "y");
	assert_string_equal(vy->doc_string, "intermediate doc");

	/* initializers in order, all raw_data borrowed from the IR */
	const graph *mg = m->graph;
	assert_int_equal(g->n_initializer, mg->n_inits);
	for (int i = 0; i < mg->n_inits; i++) {
		assert_string_equal(g->initializer[i]->name,
				    mg->values[mg->inits[i].value].name);
		check_raw(g->initializer[i], &mg->inits[i].tensor);
	}
	assert_string_equal(g->initializer[0]->doc_string, "init doc");
	/* little-endian on the wire, whatever the host: 0x01020304 */
	const Onnx__TensorProto *i32 = g->initializer[6];
	assert_int_equal(i32->data_type, SC_INT32);
	static const uint8_t le[4] = {4, 3, 2, 1};
	assert_memory_equal(i32->raw_data.data, le, 4);

	assert_int_equal(g->n_node, 2);
	const Onnx__NodeProto *n = g->node[0];
	assert_string_equal(n->op_type, "Everything");
	assert_string_equal(n->domain, "test.saver");
	assert_string_equal(n->name, "every_attr");
	assert_string_equal(n->doc_string, "node doc");
	assert_int_equal(n->n_input, 3);
	assert_string_equal(n->input[0], "x");
	assert_string_equal(n->input[1], "");
	assert_string_equal(n->input[2], "scalar");
	assert_int_equal(n->n_output, 3);
	assert_string_equal(n->output[1], "");
	assert_string_equal(n->output[2], "aux");
	const graph_node *mn = &mg->nodes[0];
	assert_int_equal(n->n_attribute, mn->n_attrs);
	for (int i = 0; i < mn->n_attrs; i++) {
		assert_string_equal(n->attribute[i]->name, mn->attrs[i].name);
		assert_int_equal(n->attribute[i]->type, mn->attrs[i].type);
	}
	const Onnx__AttributeProto *a = find_attr(n, "f");
	assert_true(a->has_f);
	assert_true(signbit(a->f) && a->f == 0.0f);
	assert_string_equal(a->doc_string, "attr doc");
	assert_false(a->has_i || a->has_s || a->t || a->g || a->n_floats);
	a = find_attr(n, "i");
	assert_true(a->has_i);
	assert_int_equal(a->i, -(INT64_C(1) << 40));
	assert_false(a->has_f);
	a = find_attr(n, "s");
	assert_int_equal(a->s.len, 3);
	assert_memory_equal(a->s.data, "a\0b", 3);
	check_raw(find_attr(n, "t")->t, mn->attrs[3].t);
	check_body_proto(find_attr(n, "g")->g, "body_g");
	a = find_attr(n, "floats");
	assert_int_equal(a->n_floats, 3);
	assert_true(a->floats[0] == 1.5f && isnan(a->floats[1]) &&
		    a->floats[2] == -INFINITY);
	a = find_attr(n, "ints");
	assert_int_equal(a->n_ints, 4);
	assert_int_equal(a->ints[3], -8);
	a = find_attr(n, "strings");
	assert_int_equal(a->n_strings, 2);
	assert_memory_equal(a->strings[0].data, "first", 5);
	assert_int_equal(a->strings[1].len, 0);
	a = find_attr(n, "tensors");
	assert_int_equal(a->n_tensors, 2);
	check_raw(a->tensors[0], &mn->attrs[8].tensors[0]);
	check_raw(a->tensors[1], &mn->attrs[8].tensors[1]);
	a = find_attr(n, "graphs");
	assert_int_equal(a->n_graphs, 2);
	check_body_proto(a->graphs[0], "body_g0");
	check_body_proto(a->graphs[1], "body_g1");
	a = find_attr(n, "empty_ints");
	assert_int_equal(a->type, ATTR_INTS);
	assert_int_equal(a->n_ints, 0);
	a = find_attr(n, "ref");
	assert_string_equal(a->ref_attr_name, "caller_alpha");
	assert_false(a->has_f);
	a = find_attr(n, "tp");
	assert_non_null(a->tp);
	assert_int_equal(a->tp->value_case, ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE);
	t = a->tp->optional_type->elem_type;
	assert_int_equal(t->tensor_type->elem_type, SC_FLOAT);
	assert_string_equal(t->tensor_type->shape->dim[0]->dim_param, "N");
	a = find_attr(n, "tps");
	assert_int_equal(a->n_type_protos, 2);
	assert_int_equal(a->type_protos[0]->value_case,
			 ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE);
	assert_int_equal(a->type_protos[1]->map_type->key_type, SC_STRING);
	/* an empty node name is left out */
	assert_true(g->node[1]->name == NULL || g->node[1]->name[0] == '\0');

	onnx__model_proto__free_unpacked(p, NULL);
	free(buf);
	graph_model_free(m);
}

/* --- our own loader on hand-built models ------------------------------------ */

static graph_model *reload(const void *buf, size_t len)
{
	sc_error err = {0};
	graph_model *m = NULL;
	int rc = onnx_load_memory(buf, len, NULL, "saved", &m, &err);
	if (rc)
		fail_msg("reloading a saved model: %s", err.msg);
	return m;
}

static void test_reload_everything(void **state)
{
	(void)state;
	graph_model *m = build_everything();
	size_t len, len2;
	void *buf = save_memory(m, &len);
	graph_model *back = reload(buf, len);
	char why[512];
	if (!graph_model_equal(m, back, why, sizeof why))
		fail_msg("hand-built model changed in the round trip: %s", why);
	/* and saving is a fixed point */
	void *buf2 = save_memory(back, &len2);
	assert_int_equal(len, len2);
	assert_memory_equal(buf, buf2, len);
	free(buf);
	free(buf2);
	graph_model_free(back);
	graph_model_free(m);
}

/* A model saved, loaded and then changed in one place must compare unequal,
 * with a message naming the place. */
static void expect_difference(graph_model *a, graph_model *b, const char *needle)
{
	char why[512];
	assert_false(graph_model_equal(a, b, why, sizeof why));
	if (!strstr(why, needle))
		fail_msg("difference reported as '%s', expected it to mention '%s'",
			 why, needle);
	assert_false(graph_model_equal(b, a, NULL, 0));
}

static void test_equal_detects_changes(void **state)
{
	(void)state;
	graph_model *m = build_everything();
	size_t len;
	void *buf = save_memory(m, &len);
	char why[512];
	assert_true(graph_model_equal(m, m, why, sizeof why));

	graph_model *b = reload(buf, len);
	graph_node *n = &b->graph->nodes[0];
	n->attrs[6].ints[2]++;
	expect_difference(m, b, "node 0 'every_attr' (Everything) attribute 'ints': ints differ at 2");
	graph_model_free(b);

	b = reload(buf, len);
	((unsigned char *)b->graph->inits[3].tensor.data)[1] ^= 1;
	expect_difference(m, b, "initializer 'w_bfloat16': tensor bfloat16 2x3: element 0 differs");
	graph_model_free(b);

	b = reload(buf, len);
	free(b->graph->values[graph_find_value(b->graph, "x")].type.dims[0].param);
	b->graph->values[graph_find_value(b->graph, "x")].type.dims[0].param = xstrdup("M");
	expect_difference(m, b, "value 'x': dim 0 differs");
	graph_model_free(b);

	b = reload(buf, len);
	graph *body = b->graph->nodes[0].attrs[9].graphs[1];
	free(body->nodes[1].op_type);
	body->nodes[1].op_type = xstrdup("Sub");
	expect_difference(m, b, "attribute 'graphs': graph 1: graph 'body_g1': node 1 'body_add' (Add) op_type differs");
	graph_model_free(b);

	b = reload(buf, len);
	float f = b->graph->nodes[0].attrs[0].f;
	b->graph->nodes[0].attrs[0].f = -f; /* -0 -> +0: equal as numbers, not as bits */
	expect_difference(m, b, "attribute 'f': float differs");
	graph_model_free(b);

	b = reload(buf, len);
	b->graph->nodes[1].inputs[1] = graph_find_value(b->graph, "w_int8");
	expect_difference(m, b, "node 1 '' (MatMul) input 1 differs ('w_float32' vs 'w_int8')");
	graph_model_free(b);

	b = reload(buf, len);
	b->graph->nodes[0].attrs[13].tps[1].elem = SC_INT32;
	expect_difference(m, b, "attribute 'tps': type 1: element type differs (string vs int32)");
	graph_model_free(b);

	b = reload(buf, len);
	b->opsets[0].version = 16;
	expect_difference(m, b, "opset import 0 differs");
	graph_model_free(b);

	b = reload(buf, len);
	free(b->metadata[0].value);
	b->metadata[0].value = xstrdup("someone else");
	expect_difference(m, b, "metadata 0 differs");
	graph_model_free(b);

	b = reload(buf, len);
	sc_bytes *str = b->graph->nodes[0].attrs[8].tensors[0].data;
	str[2].data[0] = 'S';
	expect_difference(m, b, "attribute 'tensors': tensor 0: tensor string 2 differs");
	graph_model_free(b);

	free(buf);
	graph_model_free(m);
}

/* --- files ------------------------------------------------------------------ */

static void test_save_file(void **state)
{
	(void)state;
	make_dir(WORK_DIR);
	const char *dir = WORK_DIR "/unit";
	make_dir(dir);
	const char *path = WORK_DIR "/unit/everything.onnx";
	graph_model *m = build_everything();
	sc_error err = {0};
	/* twice: the second time replaces the first */
	assert_int_equal(onnx_save_file(m, path, &err), SC_OK);
	assert_int_equal(onnx_save_file(m, path, &err), SC_OK);
	size_t flen, mlen;
	void *file = read_file(path, &flen);
	assert_non_null(file);
	void *mem = save_memory(m, &mlen);
	assert_int_equal(flen, mlen);
	assert_memory_equal(file, mem, mlen);
	assert_int_equal(count_temp_files(dir), 0);

	graph_model *back = NULL;
	int rc = onnx_load_file(path, &back, &err);
	if (rc)
		fail_msg("%s", err.msg);
	char why[512];
	if (!graph_model_equal(m, back, why, sizeof why))
		fail_msg("%s", why);
	graph_model_free(back);

	/* a folder that does not exist: SC_EIO naming the path */
	const char *bad = WORK_DIR "/no/such/dir/m.onnx";
	sc_error_clear(&err);
	assert_int_equal(onnx_save_file(m, bad, &err), SC_EIO);
	assert_non_null(strstr(err.msg, bad));
	/* a path that is a folder: the rename fails, nothing is left behind */
	sc_error_clear(&err);
	assert_int_equal(onnx_save_file(m, dir, &err), SC_EIO);
	assert_non_null(strstr(err.msg, dir));
	assert_int_equal(count_temp_files(WORK_DIR), 0);

	free(file);
	free(mem);
	graph_model_free(m);
}

/* A full disk, simulated with a file size limit in a child process: the save
 * fails with SC_EIO, the previous file survives and no temporary is left. */
static void test_save_file_disk_full(void **state)
{
	(void)state;
	make_dir(WORK_DIR);
	const char *dir = WORK_DIR "/full";
	make_dir(dir);
	const char *path = WORK_DIR "/full/m.onnx";
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	fputs("previous", f);
	fclose(f);

	graph_model *m = build_everything();
	size_t len;
	free(save_memory(m, &len));
	assert_true(len > 1024);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGXFSZ, SIG_IGN);
		/* half the model fits, the rest does not */
		struct rlimit rl = {len / 2, len / 2};
		setrlimit(RLIMIT_FSIZE, &rl);
		sc_error err = {0};
		int rc = onnx_save_file(m, path, &err);
		int ok = rc == SC_EIO && strstr(err.msg, path) &&
			 strstr(err.msg, "too large");
		if (!ok)
			fprintf(stderr, "child: rc %d: %s\n", rc, err.msg);
		_exit(ok ? 0 : 1);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	size_t n;
	char *kept = read_file(path, &n);
	assert_non_null(kept);
	assert_int_equal(n, 8);
	assert_memory_equal(kept, "previous", 8);
	assert_int_equal(count_temp_files(dir), 0);
	free(kept);
	graph_model_free(m);
}

static void test_tensor_save_file(void **state)
{
	(void)state;
	make_dir(WORK_DIR);
	make_dir(WORK_DIR "/unit");
	for (int i = 0; i < N_DTYPES; i++) {
		sc_tensor t;
		int64_t dims[3] = {2, 1, 3};
		fill_tensor(&t, all_dtypes[i], i % 4 == 3 ? 0 : 3, dims);
		char path[512];
		snprintf(path, sizeof path, WORK_DIR "/unit/t_%s.pb",
			 tensor_dtype_name(t.dtype));
		sc_error err = {0};
		assert_int_equal(onnx_tensor_save_file(&t, "named", path, &err), SC_OK);

		size_t len;
		void *buf = read_file(path, &len);
		assert_non_null(buf);
		Onnx__TensorProto *p = onnx__tensor_proto__unpack(NULL, len, buf);
		assert_non_null(p);
		assert_string_equal(p->name, "named");
		check_raw(p, &t);
		onnx__tensor_proto__free_unpacked(p, NULL);
		free(buf);

		sc_tensor back;
		char *name = NULL;
		int rc = onnx_tensor_load_file(path, &back, &name, &err);
		if (rc)
			fail_msg("%s: %s", tensor_dtype_name(t.dtype), err.msg);
		assert_true(tensor_equal(&t, &back));
		assert_string_equal(name, "named");
		free(name);
		tensor_free(&back);
		tensor_free(&t);
	}
	/* a tensor whose fields contradict each other is refused, not written */
	sc_tensor t;
	int64_t dims[1] = {4};
	fill_tensor(&t, SC_FLOAT, 1, dims);
	t.nbytes = 3;
	sc_error err = {0};
	const char *path = WORK_DIR "/unit/bad.pb";
	unlink(path);
	assert_int_equal(onnx_tensor_save_file(&t, "bad", path, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, path));
	assert_int_equal(access(path, F_OK), -1);
	t.nbytes = 16;
	tensor_free(&t);
}

/* Attributes the IR cannot hold are refused by name rather than dropped. */
static void test_unsaveable_attribute(void **state)
{
	(void)state;
	graph_model *m = build_everything();
	attr(&m->graph->nodes[1], "sparse", ATTR_SPARSE_TENSOR);
	sc_error err = {0};
	void *buf;
	size_t len;
	assert_int_equal(onnx_save_memory(m, &buf, &len, &err), SC_EUNSUPPORTED);
	assert_non_null(strstr(err.msg, "attribute 'sparse'"));
	m->graph->nodes[1].attrs[0].type = 99;
	assert_int_equal(onnx_save_memory(m, &buf, &len, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "unknown attribute type 99"));
	m->graph->nodes[1].n_attrs = 0;
	m->graph->nodes[1].inputs[0] = 1000;
	assert_int_equal(onnx_save_memory(m, &buf, &len, &err), SC_EINVAL);
	m->graph->nodes[1].inputs[0] = 0;
	m->graph->nodes[1].n_attrs = 1;
	graph_model_free(m);
}

/* --- the official ONNX models ------------------------------------------------ */

typedef struct suite_counts {
	int ok, skipped, failed;
} suite_counts;

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted sub-folder names of dir; NULL when dir does not exist. */
static char **list_cases(const char *dir, int *n)
{
	*n = 0;
	DIR *d = opendir(dir);
	if (!d)
		return NULL;
	char **names = NULL;
	int cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (*n == cap) {
			cap = cap ? 2 * cap : 256;
			names = realloc(names, (size_t)cap * sizeof *names);
			assert_non_null(names);
		}
		names[(*n)++] = xstrdup(e->d_name);
	}
	closedir(d);
	if (*n)
		qsort(names, (size_t)*n, sizeof *names, name_cmp);
	return names;
}

/* Deletes the models a previous run left, so the scripts that run after this
 * test never judge stale files. */
static void clear_saved_models(void)
{
	DIR *d = opendir(WORK_DIR);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n > 5 && strcmp(e->d_name + n - 5, ".onnx") == 0) {
			char path[1024];
			snprintf(path, sizeof path, "%s/%s", WORK_DIR, e->d_name);
			unlink(path);
		}
	}
	closedir(d);
}

/* One model: load, save to memory and to the file `out`, load again,
 * compare; then the second save must reproduce the first byte for byte.
 * Models the loader refuses as unsupported count as skipped. */
static void roundtrip_case(const char *label, const char *model,
			   const char *out, suite_counts *c)
{
	sc_error err = {0};
	graph_model *orig = NULL, *back = NULL;
	void *buf = NULL, *buf2 = NULL, *file = NULL;
	size_t len = 0, len2 = 0, flen = 0;
	char why[2 * SC_ERROR_MAX] = "";

	int rc = onnx_load_file(model, &orig, &err);
	if (rc == SC_EUNSUPPORTED) {
		printf("  skip %s: %s\n", label, err.msg);
		c->skipped++;
		return;
	}
	if (rc) {
		snprintf(why, sizeof why, "load: %s", err.msg);
		goto fail;
	}
	if ((rc = onnx_save_memory(orig, &buf, &len, &err))) {
		snprintf(why, sizeof why, "save: %s", err.msg);
		goto fail;
	}
	if ((rc = onnx_load_memory(buf, len, NULL, "saved", &back, &err))) {
		snprintf(why, sizeof why, "reload: %s", err.msg);
		goto fail;
	}
	if (!graph_model_equal(orig, back, why, sizeof why))
		goto fail;
	if ((rc = onnx_save_memory(back, &buf2, &len2, &err))) {
		snprintf(why, sizeof why, "second save: %s", err.msg);
		goto fail;
	}
	if (len2 != len || memcmp(buf, buf2, len) != 0) {
		snprintf(why, sizeof why, "second save differs from the first");
		goto fail;
	}
	if ((rc = onnx_save_file(orig, out, &err))) {
		snprintf(why, sizeof why, "save file: %s", err.msg);
		goto fail;
	}
	file = read_file(out, &flen);
	if (!file || flen != len || memcmp(file, buf, len) != 0) {
		snprintf(why, sizeof why, "%s differs from the in-memory save", out);
		goto fail;
	}
	c->ok++;
	goto done;
fail:
	printf("  FAIL %s: %s\n", label, why);
	c->failed++;
done:
	free(buf);
	free(buf2);
	free(file);
	graph_model_free(orig);
	graph_model_free(back);
}

static void test_official_models(void **state)
{
	(void)state;
	static const char *const suites[] = {"node", "pytorch-converted",
					     "pytorch-operator", "simple", "real"};
	make_dir(WORK_DIR);
	clear_saved_models();
	suite_counts total = {0};
	for (size_t s = 0; s < sizeof suites / sizeof suites[0]; s++) {
		char dir[1024];
		snprintf(dir, sizeof dir, "%s/%s", ONNX_TESTDATA, suites[s]);
		int n;
		char **cases = list_cases(dir, &n);
		suite_counts c = {0};
		for (int i = 0; i < n; i++) {
			char model[2048];
			snprintf(model, sizeof model, "%s/%s/model.onnx", dir, cases[i]);
			if (access(model, R_OK) != 0) {
				free(cases[i]);
				continue;
			}
			char label[1024], out[2048];
			snprintf(label, sizeof label, "%s/%s", suites[s], cases[i]);
			snprintf(out, sizeof out, "%s/%s__%s.onnx", WORK_DIR,
				 suites[s], cases[i]);
			roundtrip_case(label, model, out, &c);
			free(cases[i]);
		}
		free(cases);
		printf("roundtrip %-18s ok %4d  skipped %4d  failed %4d\n",
		       suites[s], c.ok, c.skipped, c.failed);
		total.ok += c.ok;
		total.skipped += c.skipped;
		total.failed += c.failed;
	}
	printf("roundtrip %-18s ok %4d  skipped %4d  failed %4d\n", "total",
	       total.ok, total.skipped, total.failed);
	fflush(stdout);
	assert_int_equal(total.failed, 0);
	if (total.ok < MIN_OFFICIAL_ROUNDTRIPS)
		fail_msg("only %d official models round-tripped, expected at least %d",
			 total.ok, MIN_OFFICIAL_ROUNDTRIPS);
}

/* `test_roundtrip --models OUTDIR MODEL...`: the same round trip on models
 * made elsewhere (the torchvision exports), each saved as OUTDIR/NAME.onnx
 * where NAME is the file's name, or its folder's for a model.onnx. */
static int roundtrip_models(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: test_roundtrip --models OUTDIR MODEL...\n");
		return 2;
	}
	const char *outdir = argv[0];
	if (mkdir(outdir, 0777) != 0 && errno != EEXIST) {
		fprintf(stderr, "test_roundtrip: %s: %s\n", outdir, strerror(errno));
		return 1;
	}
	suite_counts c = {0};
	for (int i = 1; i < argc; i++) {
		char name[512];
		const char *model = argv[i];
		const char *base = strrchr(model, '/');
		base = base ? base + 1 : model;
		if (strcmp(base, "model.onnx") == 0 && base > model + 1) {
			const char *end = base - 1, *start = end;
			while (start > model && start[-1] != '/')
				start--;
			snprintf(name, sizeof name, "%.*s", (int)(end - start), start);
		} else {
			snprintf(name, sizeof name, "%.*s", (int)strcspn(base, "."), base);
		}
		char out[2048];
		snprintf(out, sizeof out, "%s/%s.onnx", outdir, name);
		int before = c.ok;
		roundtrip_case(model, model, out, &c);
		if (c.ok > before)
			printf("  ok %s -> %s\n", model, out);
	}
	printf("roundtrip models ok %d  skipped %d  failed %d\n", c.ok, c.skipped,
	       c.failed);
	return c.failed || c.skipped ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--models") == 0)
		return roundtrip_models(argc - 2, argv + 2);

	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_save_fields),
		cmocka_unit_test(test_reload_everything),
		cmocka_unit_test(test_equal_detects_changes),
		cmocka_unit_test(test_save_file),
		cmocka_unit_test(test_save_file_disk_full),
		cmocka_unit_test(test_tensor_save_file),
		cmocka_unit_test(test_unsaveable_attribute),
		cmocka_unit_test(test_official_models),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
