/* test_hostile.c: models built to make the loader spend what their bytes
 * do not justify, and graphs deep enough to break recursion.
 *
 * Each hostile file is a small protobuf made here with protobuf-c whose
 * declared sizes (dims, external-data lengths, function calls that expand
 * exponentially, nesting) would cost gigabytes or hours if believed.  The
 * loader must refuse it with SC_EINVAL or SC_EUNSUPPORTED and one line
 * naming the tensor, node or function, quickly, and without allocating
 * more than a small multiple of the file (measured: malloc is interposed
 * and the peak of live bytes is tracked, outside ASan which owns malloc).
 *
 * The chain tests load, validate, infer and plan a model of 100k nodes
 * (and run one of 20k) in a thread with a 256 KiB stack, so that any
 * recursion over graph depth overflows, and check that 10x the nodes
 * costs about 10x the time (at most 25x: an O(n^2) pass gives 100x).
 * `test_hostile --run-scaling` checks the same of the first run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "onnx.pb-c.h"
#include "onnx/onnx.h"
#include "runtime/graph.h"
#include "runtime/plan.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

/* --- live-byte accounting ------------------------------------------------ */

#if !UNDER_ASAN
#include <malloc.h>
#define TRACK_BYTES 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static _Atomic long long live_bytes, peak_bytes;

static void note_delta(long long delta)
{
	long long now = atomic_fetch_add(&live_bytes, delta) + delta;
	long long peak = atomic_load(&peak_bytes);
	while (now > peak && !atomic_compare_exchange_weak(&peak_bytes, &peak, now))
		;
}

static void *noted(void *p)
{
	if (p)
		note_delta((long long)malloc_usable_size(p));
	return p;
}

void *malloc(size_t n) { return noted(__libc_malloc(n)); }
void *calloc(size_t a, size_t b) { return noted(__libc_calloc(a, b)); }
void *memalign(size_t a, size_t n) { return noted(__libc_memalign(a, n)); }
void *aligned_alloc(size_t a, size_t n) { return noted(__libc_memalign(a, n)); }
void *valloc(size_t n) { return noted(__libc_memalign(4096, n)); }
void *pvalloc(size_t n) { return noted(__libc_memalign(4096, (n + 4095) & ~(size_t)4095)); }

int posix_memalign(void **p, size_t a, size_t n)
{
	*p = noted(__libc_memalign(a, n));
	return *p ? 0 : ENOMEM;
}

void free(void *p)
{
	if (!p)
		return;
	note_delta(-(long long)malloc_usable_size(p));
	__libc_free(p);
}

void *realloc(void *p, size_t n)
{
	long long old = p ? (long long)malloc_usable_size(p) : 0;
	void *q = __libc_realloc(p, n);
	if (q)
		note_delta((long long)malloc_usable_size(q) - old);
	else if (p && n == 0)
		note_delta(-old);
	return q;
}

/* Starts a measurement: the peak restarts from what is live now. */
static long long bytes_mark(void)
{
	long long now = atomic_load(&live_bytes);
	atomic_store(&peak_bytes, now);
	return now;
}

static long long bytes_peak_since(long long mark)
{
	return atomic_load(&peak_bytes) - mark;
}
#else
#define TRACK_BYTES 0
static long long bytes_mark(void) { return 0; }
static long long bytes_peak_since(long long mark) { (void)mark; return 0; }
#endif

static double clock_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double now_s(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

/* The calling thread's CPU time: what a complexity check compares, since
 * other programs on a shared machine stretch wall time unevenly (a 100k
 * chain once took 28x a 10k one in wall time under CI load, 14x idle). */
static double thread_cpu_s(void)
{
	return clock_s(CLOCK_THREAD_CPUTIME_ID);
}

/* --- proto arena: every piece of a test model is freed at once ----------- */

static void **arena;
static size_t arena_n, arena_cap;

static void *pb_alloc(size_t size)
{
	void *p = calloc(1, size ? size : 1);
	assert_non_null(p);
	if (arena_n == arena_cap) {
		arena_cap = arena_cap ? 2 * arena_cap : 1024;
		arena = realloc(arena, arena_cap * sizeof *arena);
		assert_non_null(arena);
	}
	arena[arena_n++] = p;
	return p;
}

static void pb_free_all(void)
{
	for (size_t i = 0; i < arena_n; i++)
		free(arena[i]);
	free(arena);
	arena = NULL;
	arena_n = arena_cap = 0;
}

static char *pb_str(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	char *s = pb_alloc(strlen(buf) + 1);
	strcpy(s, buf);
	return s;
}

static char **pb_strs(int n, const char *const *v)
{
	char **a = pb_alloc((size_t)(n ? n : 1) * sizeof *a);
	for (int i = 0; i < n; i++)
		a[i] = pb_str("%s", v[i]);
	return a;
}

static Onnx__NodeProto *pb_node(const char *op, const char *domain,
				const char *in0, const char *in1, const char *out)
{
	Onnx__NodeProto *n = pb_alloc(sizeof *n);
	onnx__node_proto__init(n);
	n->op_type = pb_str("%s", op);
	n->domain = pb_str("%s", domain ? domain : "");
	const char *ins[2] = {in0, in1};
	n->n_input = in1 ? 2 : in0 ? 1 : 0;
	n->input = pb_strs((int)n->n_input, ins);
	n->n_output = 1;
	n->output = pb_strs(1, &out);
	return n;
}

static void pb_node_attr(Onnx__NodeProto *n, Onnx__AttributeProto *a)
{
	Onnx__AttributeProto **v = pb_alloc((n->n_attribute + 1) * sizeof *v);
	if (n->n_attribute)
		memcpy(v, n->attribute, n->n_attribute * sizeof *v);
	v[n->n_attribute++] = a;
	n->attribute = v;
}

static Onnx__AttributeProto *pb_attr(const char *name, int type)
{
	Onnx__AttributeProto *a = pb_alloc(sizeof *a);
	onnx__attribute_proto__init(a);
	a->name = pb_str("%s", name);
	a->has_type = 1;
	a->type = (Onnx__AttributeProto__AttributeType)type;
	return a;
}

/* A float tensor of `rank` dims whose raw_data holds raw_len bytes. */
static Onnx__TensorProto *pb_tensor(const char *name, int dtype, int rank,
				    const int64_t *dims, size_t raw_len)
{
	Onnx__TensorProto *t = pb_alloc(sizeof *t);
	onnx__tensor_proto__init(t);
	t->name = pb_str("%s", name);
	t->has_data_type = 1;
	t->data_type = dtype;
	t->n_dims = (size_t)rank;
	t->dims = pb_alloc((size_t)(rank ? rank : 1) * sizeof *t->dims);
	for (int i = 0; i < rank; i++)
		t->dims[i] = dims[i];
	if (raw_len != (size_t)-1) {
		t->has_raw_data = 1;
		t->raw_data.len = raw_len;
		t->raw_data.data = pb_alloc(raw_len);
	}
	return t;
}

/* A float [1, 4] tensor value. */
static Onnx__ValueInfoProto *pb_value(const char *name, int rank)
{
	Onnx__ValueInfoProto *v = pb_alloc(sizeof *v);
	onnx__value_info_proto__init(v);
	v->name = pb_str("%s", name);
	Onnx__TypeProto *tp = pb_alloc(sizeof *tp);
	onnx__type_proto__init(tp);
	Onnx__TypeProto__Tensor *tt = pb_alloc(sizeof *tt);
	onnx__type_proto__tensor__init(tt);
	Onnx__TensorShapeProto *sh = pb_alloc(sizeof *sh);
	onnx__tensor_shape_proto__init(sh);
	sh->n_dim = (size_t)rank;
	sh->dim = pb_alloc((size_t)(rank ? rank : 1) * sizeof *sh->dim);
	for (int i = 0; i < rank; i++) {
		Onnx__TensorShapeProto__Dimension *d = pb_alloc(sizeof *d);
		onnx__tensor_shape_proto__dimension__init(d);
		d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
		d->dim_value = i == rank - 1 ? 4 : 1;
		sh->dim[i] = d;
	}
	tt->has_elem_type = 1;
	tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
	tt->shape = sh;
	tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
	tp->tensor_type = tt;
	v->type = tp;
	return v;
}

typedef struct pb_model {
	Onnx__ModelProto m;
	Onnx__GraphProto g;
} pb_model;

static void pb_add_opset(Onnx__ModelProto *m, const char *domain, int64_t v)
{
	Onnx__OperatorSetIdProto *o = pb_alloc(sizeof *o);
	onnx__operator_set_id_proto__init(o);
	o->domain = pb_str("%s", domain);
	o->has_version = 1;
	o->version = v;
	Onnx__OperatorSetIdProto **a = pb_alloc((m->n_opset_import + 1) * sizeof *a);
	if (m->n_opset_import)
		memcpy(a, m->opset_import, m->n_opset_import * sizeof *a);
	a[m->n_opset_import++] = o;
	m->opset_import = a;
}

/* in -> nothing yet -> out, opset 17; the cases add nodes with room for n. */
static pb_model *pb_model_new(size_t max_nodes)
{
	pb_model *pm = pb_alloc(sizeof *pm);
	onnx__model_proto__init(&pm->m);
	onnx__graph_proto__init(&pm->g);
	pm->m.has_ir_version = 1;
	pm->m.ir_version = 8;
	pm->m.graph = &pm->g;
	pb_add_opset(&pm->m, "", 17);
	pm->g.name = pb_str("hostile");
	pm->g.n_input = 1;
	pm->g.input = pb_alloc(sizeof *pm->g.input);
	pm->g.input[0] = pb_value("in", 2);
	pm->g.n_output = 1;
	pm->g.output = pb_alloc(sizeof *pm->g.output);
	pm->g.output[0] = pb_value("out", 2);
	pm->g.node = pb_alloc((max_nodes ? max_nodes : 1) * sizeof *pm->g.node);
	return pm;
}

static void pb_add_node(pb_model *pm, Onnx__NodeProto *n)
{
	pm->g.node[pm->g.n_node++] = n;
}

static void pb_add_init(pb_model *pm, Onnx__TensorProto *t)
{
	Onnx__TensorProto **a = pb_alloc((pm->g.n_initializer + 1) * sizeof *a);
	if (pm->g.n_initializer)
		memcpy(a, pm->g.initializer, pm->g.n_initializer * sizeof *a);
	a[pm->g.n_initializer++] = t;
	pm->g.initializer = a;
}

static uint8_t *pb_pack(const pb_model *pm, size_t *len)
{
	*len = onnx__model_proto__get_packed_size(&pm->m);
	uint8_t *buf = malloc(*len);
	assert_non_null(buf);
	assert_int_equal(onnx__model_proto__pack(&pm->m, buf), *len);
	return buf;
}

/* --- the check every hostile file gets -------------------------------- */

/* What a file of len bytes may cost while it is refused or loaded: a
 * small multiple of its size (protobuf-c's own structs are ~50x an empty
 * message) plus a constant. */
static long long allowed_bytes(size_t len)
{
	return (64ll << 20) + 128ll * (long long)len;
}

/* Loads buf as "hostile.onnx" from folder dir (NULL: from memory) and
 * expects a refusal naming every word of `names` and one of `words`,
 * within allowed_bytes() and 5 seconds. */
static void expect_refused(const uint8_t *buf, size_t len, const char *dir,
			   const char *const *names, const char *const *words)
{
	sc_error err = {0};
	graph_model *m = NULL;
	long long mark = bytes_mark();
	double t0 = now_s();
	int rc = onnx_load_memory(buf, len, dir, "hostile.onnx", &m, &err);
	if (rc == SC_OK) {
		rc = graph_validate(m, &err);
		graph_model_free(m);
	}
	double dt = now_s() - t0;
	long long peak = bytes_peak_since(mark);
	print_message("  %zu bytes, %.3f s, peak %lld KiB: %s\n", len, dt,
		      peak >> 10, err.msg);
	if (rc != SC_EINVAL && rc != SC_EUNSUPPORTED)
		fail_msg("expected a refusal, got %s: '%s'", sc_code_name(rc), err.msg);
	assert_null(strchr(err.msg, '\n'));
	assert_non_null(strstr(err.msg, "hostile.onnx"));
	for (int i = 0; names && names[i]; i++)
		if (!strstr(err.msg, names[i]))
			fail_msg("the message does not name '%s': '%s'", names[i], err.msg);
	int found = !words;
	for (int i = 0; words && words[i]; i++)
		found |= strstr(err.msg, words[i]) != NULL;
	if (!found)
		fail_msg("the message does not say what is wrong ('%s'...): '%s'",
			 words[0], err.msg);
	if (TRACK_BYTES && peak > allowed_bytes(len))
		fail_msg("refusing a %zu-byte file allocated %lld bytes at peak", len, peak);
	if (dt > 5.0)
		fail_msg("refusing a %zu-byte file took %.1f s", len, dt);
}

#define NAMES(...) ((const char *const[]){__VA_ARGS__, NULL})

/* --- declared sizes against real contents -------------------------------- */

static void test_raw_data_dims_lie(void **state)
{
	(void)state;
	pb_model *pm = pb_model_new(1);
	int64_t dims[2] = {1 << 20, 1 << 20};
	pb_add_init(pm, pb_tensor("liar", SC_FLOAT, 2, dims, 16));
	size_t len;
	uint8_t *buf = pb_pack(pm, &len);
	expect_refused(buf, len, NULL, NAMES("liar"), NAMES("raw_data", "bytes"));
	free(buf);
	pb_free_all();
}

static void test_typed_fields_dims_lie(void **state)
{
	(void)state;
	struct { const char *name; int dtype; } cases[] = {
		{"floats", SC_FLOAT}, {"halfs", SC_FLOAT16}, {"int64s", SC_INT64},
		{"doubles", SC_DOUBLE}, {"uint64s", SC_UINT64}, {"strings", SC_STRING},
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		pb_model *pm = pb_model_new(1);
		int64_t dims[1] = {(int64_t)1 << 40};
		Onnx__TensorProto *t = pb_tensor(cases[k].name, cases[k].dtype, 1,
						 dims, (size_t)-1);
		static float f[3];
		static int32_t i32[3];
		static int64_t i64[3];
		static double d[3];
		static uint64_t u64[3];
		static ProtobufCBinaryData s[3];
		switch (cases[k].dtype) {
		case SC_FLOAT: t->n_float_data = 3; t->float_data = f; break;
		case SC_FLOAT16: t->n_int32_data = 3; t->int32_data = i32; break;
		case SC_INT64: t->n_int64_data = 3; t->int64_data = i64; break;
		case SC_DOUBLE: t->n_double_data = 3; t->double_data = d; break;
		case SC_UINT64: t->n_uint64_data = 3; t->uint64_data = u64; break;
		default: t->n_string_data = 3; t->string_data = s; break;
		}
		pb_add_init(pm, t);
		size_t len;
		uint8_t *buf = pb_pack(pm, &len);
		expect_refused(buf, len, NULL, NAMES(cases[k].name),
			       NAMES("holds 3 values", "need"));
		free(buf);
		pb_free_all();
	}
}

/* Constant's value and a list of tensors: attribute tensors are checked
 * like initializers. */
static void test_attribute_tensor_dims_lie(void **state)
{
	(void)state;
	for (int list = 0; list < 2; list++) {
		pb_model *pm = pb_model_new(1);
		int64_t dims[3] = {1 << 20, 1 << 20, 1 << 4};
		Onnx__NodeProto *n = pb_node("Constant", "", NULL, NULL, "c");
		Onnx__AttributeProto *a;
		if (!list) {
			a = pb_attr("value", ATTR_TENSOR);
			a->t = pb_tensor("attr_liar", SC_FLOAT, 3, dims, 4);
		} else {
			a = pb_attr("tensors", ATTR_TENSORS);
			int64_t small[1] = {1};
			a->n_tensors = 2;
			a->tensors = pb_alloc(2 * sizeof *a->tensors);
			a->tensors[0] = pb_tensor("fine", SC_FLOAT, 1, small, 4);
			a->tensors[1] = pb_tensor("attr_liar", SC_FLOAT, 3, dims, 4);
		}
		pb_node_attr(n, a);
		pb_add_node(pm, n);
		size_t len;
		uint8_t *buf = pb_pack(pm, &len);
		expect_refused(buf, len, NULL, NAMES("attr_liar"), NAMES("raw_data"));
		free(buf);
		pb_free_all();
	}
}

/* 2^38 floats said to be in a 24-byte file next to the model. */
static void test_external_length_lie(void **state)
{
	(void)state;
	char dir[512], bin[600];
	snprintf(dir, sizeof dir, "%s/hostile_ext", SUPCON_TEST_WORK);
	mkdir(dir, 0755);
	snprintf(bin, sizeof bin, "%s/w.bin", dir);
	FILE *f = fopen(bin, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite("0123456789abcdef01234567", 1, 24, f), 24);
	fclose(f);
	for (int with_length = 0; with_length < 2; with_length++) {
		pb_model *pm = pb_model_new(1);
		int64_t dims[1] = {(int64_t)1 << 38};
		Onnx__TensorProto *t = pb_tensor("ext_liar", SC_FLOAT, 1, dims, (size_t)-1);
		t->has_data_location = 1;
		t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
		t->n_external_data = with_length ? 2 : 1;
		t->external_data = pb_alloc(2 * sizeof *t->external_data);
		const char *kv[2][2] = {{"location", "w.bin"}, {"length", "1099511627776"}};
		for (int i = 0; i < 2; i++) {
			Onnx__StringStringEntryProto *e = pb_alloc(sizeof *e);
			onnx__string_string_entry_proto__init(e);
			e->key = pb_str("%s", kv[i][0]);
			e->value = pb_str("%s", kv[i][1]);
			t->external_data[i] = e;
		}
		pb_add_init(pm, t);
		size_t len;
		uint8_t *buf = pb_pack(pm, &len);
		expect_refused(buf, len, dir, NAMES("ext_liar"),
			       NAMES("past the end", "length"));
		free(buf);
		pb_free_all();
	}
}

/* A value_info of rank 200000: the loader keeps it (it is real content,
 * 3 bytes a dim), proportionally, and validation refuses the rank or
 * accepts it without blowing up. */
static void test_huge_declared_rank(void **state)
{
	(void)state;
	pb_model *pm = pb_model_new(1);
	pb_add_node(pm, pb_node("Identity", "", "in", NULL, "out"));
	pm->g.n_value_info = 1;
	pm->g.value_info = pb_alloc(sizeof *pm->g.value_info);
	pm->g.value_info[0] = pb_value("out", 200000);
	size_t len;
	uint8_t *buf = pb_pack(pm, &len);
	sc_error err = {0};
	graph_model *m = NULL;
	long long mark = bytes_mark();
	int rc = onnx_load_memory(buf, len, NULL, "hostile.onnx", &m, &err);
	if (rc == SC_OK) {
		rc = graph_validate(m, &err);
		if (rc == SC_OK) {
			plan *p = NULL;
			rc = plan_create(m, NULL, &p, &err);
			plan_free(p);
		}
		graph_model_free(m);
	}
	long long peak = bytes_peak_since(mark);
	print_message("  %zu bytes, peak %lld KiB: %s\n", len, peak >> 10,
		      rc ? err.msg : "loaded");
	if (rc)
		assert_null(strchr(err.msg, '\n'));
	if (TRACK_BYTES && peak > allowed_bytes(len))
		fail_msg("a %zu-byte file allocated %lld bytes at peak", len, peak);
	free(buf);
	pb_free_all();
}

/* --- functions ----------------------------------------------------------- */

static Onnx__FunctionProto *pb_function(pb_model *pm, const char *name,
					size_t n_nodes)
{
	Onnx__FunctionProto *f = pb_alloc(sizeof *f);
	onnx__function_proto__init(f);
	f->name = pb_str("%s", name);
	f->domain = pb_str("local");
	const char *x = "x", *y = "y";
	f->n_input = 1;
	f->input = pb_strs(1, &x);
	f->n_output = 1;
	f->output = pb_strs(1, &y);
	f->node = pb_alloc((n_nodes ? n_nodes : 1) * sizeof *f->node);
	Onnx__FunctionProto **a = pb_alloc((pm->m.n_functions + 1) * sizeof *a);
	if (pm->m.n_functions)
		memcpy(a, pm->m.functions, pm->m.n_functions * sizeof *a);
	a[pm->m.n_functions++] = f;
	pm->m.functions = a;
	return f;
}

/* F0 is `leaf` (or empty), F_k(x) = F_{k-1}(F_{k-1}(x)): 2^depth copies of
 * F0 from a file of a few kilobytes. */
static void exponential_functions(int depth, int leaf_kind)
{
	pb_model *pm = pb_model_new(1);
	pb_add_opset(&pm->m, "local", 1);
	Onnx__FunctionProto *f0 = pb_function(pm, "F0", 1);
	if (leaf_kind == 1) {
		f0->node[f0->n_node++] = pb_node("Relu", "", "x", NULL, "y");
	} else if (leaf_kind == 2) {
		/* a 64 KiB constant per copy */
		Onnx__NodeProto *c = pb_node("Constant", "", NULL, NULL, "y");
		Onnx__AttributeProto *a = pb_attr("value", ATTR_TENSOR);
		int64_t dims[1] = {16384};
		a->t = pb_tensor("payload", SC_FLOAT, 1, dims, 65536);
		pb_node_attr(c, a);
		f0->node[f0->n_node++] = c;
	}
	for (int k = 1; k <= depth; k++) {
		Onnx__FunctionProto *f = pb_function(pm, pb_str("F%d", k), 2);
		const char *prev = pb_str("F%d", k - 1);
		f->node[f->n_node++] = pb_node(prev, "local", "x", NULL, "mid");
		f->node[f->n_node++] = pb_node(prev, "local", "mid", NULL, "y");
	}
	pb_add_node(pm, pb_node(pb_str("F%d", depth), "local", "in", NULL, "out"));
	size_t len;
	uint8_t *buf = pb_pack(pm, &len);
	expect_refused(buf, len, NULL, NULL, NAMES("inlining", "nests deeper"));
	free(buf);
	pb_free_all();
}

static void test_function_exponential_nodes(void **state)
{
	(void)state;
	exponential_functions(30, 1);
}

static void test_function_exponential_empty_calls(void **state)
{
	(void)state;
	exponential_functions(30, 0);
}

static void test_function_exponential_tensors(void **state)
{
	(void)state;
	exponential_functions(20, 2);
}

/* Every function imports its own domain: the table of domains is capped
 * rather than grown (and searched) without end. */
static void test_function_domains(void **state)
{
	(void)state;
	pb_model *pm = pb_model_new(1);
	pb_add_node(pm, pb_node("Identity", "", "in", NULL, "out"));
	for (int i = 0; i < 3000; i++) {
		Onnx__FunctionProto *f = pb_function(pm, pb_str("G%d", i), 0);
		Onnx__OperatorSetIdProto *o = pb_alloc(sizeof *o);
		onnx__operator_set_id_proto__init(o);
		o->domain = pb_str("domain%d", i);
		o->has_version = 1;
		o->version = 1;
		f->n_opset_import = 1;
		f->opset_import = pb_alloc(sizeof *f->opset_import);
		f->opset_import[0] = o;
	}
	size_t len;
	uint8_t *buf = pb_pack(pm, &len);
	expect_refused(buf, len, NULL, NULL, NAMES("domains"));
	free(buf);
	pb_free_all();
}

/* --- nesting ------------------------------------------------------------- */

/* If(cond) { If(cond) { ... } } `levels` deep. */
static void subgraph_nesting(int levels)
{
	pb_model *pm = pb_model_new(1);
	Onnx__GraphProto *inner = NULL;
	for (int level = 0; level < levels; level++) {
		Onnx__GraphProto *g = pb_alloc(sizeof *g);
		onnx__graph_proto__init(g);
		g->name = pb_str("level%d", level);
		g->n_output = 1;
		g->output = pb_alloc(sizeof *g->output);
		/* no type: no messages nested deeper than the graphs */
		Onnx__ValueInfoProto *o = pb_alloc(sizeof *o);
		onnx__value_info_proto__init(o);
		o->name = pb_str("o%d", level);
		g->output[0] = o;
		g->n_node = 1;
		g->node = pb_alloc(sizeof *g->node);
		if (inner) {
			Onnx__NodeProto *n = pb_node("If", "", "in", NULL,
						     pb_str("o%d", level));
			/* one branch only: sharing `inner` between both would
			 * make the file 2^80 bytes */
			Onnx__AttributeProto *a = pb_attr("then_branch", ATTR_GRAPH);
			a->g = inner;
			pb_node_attr(n, a);
			g->node[0] = n;
		} else {
			g->node[0] = pb_node("Identity", "", "in", NULL, pb_str("o%d", level));
		}
		inner = g;
	}
	Onnx__NodeProto *top = pb_node("If", "", "in", NULL, "out");
	Onnx__AttributeProto *a = pb_attr("then_branch", ATTR_GRAPH);
	a->g = inner;
	pb_node_attr(top, a);
	pb_add_node(pm, top);
	size_t len;
	uint8_t *buf = pb_pack(pm, &len);
	expect_refused(buf, len, NULL, NULL, NAMES("nest deeper", "deeper than"));
	free(buf);
	pb_free_all();
}

/* 65 graphs below the main one are 198 nested messages, under the wire
 * check's 200: the loader's own limit of 64 subgraph levels refuses them.
 * 80 deep is refused before protobuf-c's recursive decoder sees it. */
static void test_subgraph_nesting(void **state)
{
	(void)state;
	subgraph_nesting(65);
	subgraph_nesting(80);
}

/* --- names that would break one-line messages ----------------------------- */

/* Names may hold any byte (`supcon info --json` escapes them), but a
 * message quoting one must still be one line: a node, a value and a
 * tensor whose names hold a newline, an escape or a tab, each wrong in
 * a way whose message names it. */
static void test_control_characters_in_names(void **state)
{
	(void)state;
	const char *bad[] = {"evil\nname", "esc\x1b[31mred", "tab\tbed"};
	for (int k = 0; k < 3; k++) {
		for (int where = 0; where < 3; where++) {
			pb_model *pm = pb_model_new(1);
			Onnx__NodeProto *n = pb_node("Identity", "", "in", NULL, "out");
			if (where == 0) {
				n->name = pb_str("%s", bad[k]);
				n->input[0] = pb_str("nowhere");
			} else if (where == 1) {
				n->input[0] = pb_str("%s", bad[k]);
			}
			pb_add_node(pm, n);
			if (where == 2) {
				int64_t dims[1] = {2};
				pb_add_init(pm, pb_tensor(bad[k], SC_FLOAT, 1, dims, 4));
			}
			size_t len;
			uint8_t *buf = pb_pack(pm, &len);
			expect_refused(buf, len, NULL, NULL,
				       NAMES("defines", "raw_data"));
			free(buf);
			pb_free_all();
		}
	}
}

/* Past the loader too: a well-formed file whose node, named with control
 * characters, is refused by shape inference; and sc_fail/sc_error_prefix
 * themselves, which every later stage (inference, planner) goes through. */
static void test_control_characters_after_loading(void **state)
{
	(void)state;
	pb_model *pm = pb_model_new(1);
	Onnx__NodeProto *n = pb_node("Concat", "", "in", NULL, "out");
	n->name = pb_str("evil\nnode\x1b[2J");
	Onnx__AttributeProto *axis = pb_attr("axis", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
	axis->has_i = 1;
	axis->i = 5;    /* the input has rank 2 */
	pb_node_attr(n, axis);
	pb_add_node(pm, n);
	size_t len;
	uint8_t *buf = pb_pack(pm, &len);
	sc_error err = {0};
	graph_model *m = NULL;
	assert_int_equal(onnx_load_memory(buf, len, NULL, "hostile.onnx", &m, &err), SC_OK);
	int rc = graph_validate(m, &err);
	if (rc == SC_OK) {
		plan_options opt = {.threads = 1};
		plan *p = NULL;
		rc = plan_create(m, &opt, &p, &err);
		plan_free(p);
	}
	print_message("  %s\n", err.msg);
	assert_int_equal(rc, SC_EINVAL);
	assert_null(strchr(err.msg, '\n'));
	assert_non_null(strstr(err.msg, "evil?node?[2J"));
	graph_model_free(m);
	free(buf);
	pb_free_all();

	assert_int_equal(sc_fail(&err, SC_EINVAL, "node '%s' failed", "a\nb\rc\x7f"),
			 SC_EINVAL);
	assert_string_equal(err.msg, "node 'a?b?c?' failed");
	sc_error_prefix(&err, "%s: ", "dir\n/m.onnx");
	assert_string_equal(err.msg, "dir?/m.onnx: node 'a?b?c?' failed");
}

/* --- 100k nodes: linear time, no recursion over depth --------------------- */

/* in -> Neg -> Relu -> Neg -> ... -> out, n nodes in a chain. */
static uint8_t *chain_model(int n, size_t *len)
{
	pb_model *pm = pb_model_new((size_t)n);
	for (int i = 0; i < n; i++) {
		const char *in = i ? pb_str("v%d", i) : "in";
		const char *out = i == n - 1 ? "out" : pb_str("v%d", i + 1);
		pb_add_node(pm, pb_node(i % 2 ? "Relu" : "Neg", "", in, NULL, out));
		pm->g.node[i]->name = pb_str("n%d", i);
	}
	uint8_t *buf = pb_pack(pm, len);
	pb_free_all();
	return buf;
}

typedef struct chain_job {
	int n;
	int run;             /* also run the plan once */
	double seconds;      /* CPU: load + validate + infer + plan (+ run) */
	int rc;
	char msg[SC_ERROR_MAX];
} chain_job;

static void *chain_thread(void *arg)
{
	chain_job *job = arg;
	size_t len;
	uint8_t *buf = chain_model(job->n, &len);
	sc_error err = {0};
	graph_model *m = NULL;
	plan *p = NULL;
	double t0 = thread_cpu_s();
	int rc = onnx_load_memory(buf, len, NULL, "chain.onnx", &m, &err);
	if (!rc)
		rc = graph_validate(m, &err);
	plan_options opt = {.threads = 1};
	if (!rc)
		rc = plan_create(m, &opt, &p, &err);
	if (!rc && job->run) {
		float x[4] = {1, -2, 3, -4};
		sc_tensor in = {.dtype = SC_FLOAT, .rank = 2, .dims = {1, 4},
				.numel = 4, .nbytes = sizeof x, .data = x};
		const char *name = "in";
		const sc_tensor *ins[1] = {&in};
		rc = plan_run(p, 1, &name, ins, &err);
		/* an even chain is Relu(-Relu(-x)...) : relu(-x) once, then 0 */
		if (!rc) {
			const sc_tensor *out = plan_output(p, 0);
			const float *y = out->data;
			float want[4] = {0, 0, 0, 0};
			for (int i = 0; i < 4 && !rc; i++)
				if (y[i] != want[i])
					rc = sc_fail(&err, SC_EINTERNAL,
						     "out[%d] = %g, expected %g", i, y[i], want[i]);
		}
	}
	job->seconds = thread_cpu_s() - t0;
	plan_free(p);
	graph_model_free(m);
	free(buf);
	job->rc = rc;
	snprintf(job->msg, sizeof job->msg, "%s", err.msg);
	return NULL;
}

/* Runs the job in a thread whose stack is `stack` bytes: recursion that
 * grows with the chain's length overflows it and the test dies. */
static void run_chain(chain_job *job, size_t stack)
{
	pthread_attr_t attr;
	pthread_t t;
	assert_int_equal(pthread_attr_init(&attr), 0);
	assert_int_equal(pthread_attr_setstacksize(&attr, stack), 0);
	assert_int_equal(pthread_create(&t, &attr, chain_thread, job), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	pthread_attr_destroy(&attr);
	if (job->rc)
		fail_msg("chain of %d nodes: %s", job->n, job->msg);
	print_message("  %6d nodes: %.3f s of CPU time\n", job->n, job->seconds);
}

/* ASan's redzones and fake frames make every frame bigger */
#define CHAIN_STACK (UNDER_ASAN ? (size_t)1 << 20 : (size_t)256 << 10)

static void chain_scaling(int run)
{
	size_t stack = CHAIN_STACK;
	/* the best of two of each: the machine is shared, and a burst of
	 * other work during one run is not the code's complexity */
	chain_job small = {.n = 10000, .run = run}, big = {.n = 100000, .run = run};
	run_chain(&small, stack);
	run_chain(&big, stack);
	chain_job again = {.n = 10000, .run = run}, big2 = {.n = 100000, .run = run};
	run_chain(&again, stack);
	run_chain(&big2, stack);
	double base = small.seconds < again.seconds ? small.seconds : again.seconds;
	if (big2.seconds < big.seconds)
		big = big2;
	double ratio = big.seconds / (base > 1e-3 ? base : 1e-3);
	print_message("  100k / 10k = %.1f (linear: 10, quadratic: 100)\n", ratio);
	if (ratio > 25)
		fail_msg("100k nodes took %.1fx the time of 10k (%.3f s vs %.3f s)",
			 ratio, big.seconds, base);
}

static void test_chain_load_plan(void **state)
{
	(void)state;
	chain_scaling(0);
}

/* The first run lays out the arena from every value's lifetime: 20k
 * nodes deep, in the small stack, with the right result. */
static void test_chain_run(void **state)
{
	(void)state;
	chain_job job = {.n = 20000, .run = 1};
	run_chain(&job, CHAIN_STACK);
}

/* The same at 10k and 100k nodes must scale linearly too: the arena
 * packing compares only values whose lifetimes meet.  Run on its own as
 * hostile_plan_run_scaling (tests/cmake/hostile.cmake). */
static void test_chain_run_scaling(void **state)
{
	(void)state;
	chain_scaling(1);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_raw_data_dims_lie),
		cmocka_unit_test(test_typed_fields_dims_lie),
		cmocka_unit_test(test_attribute_tensor_dims_lie),
		cmocka_unit_test(test_external_length_lie),
		cmocka_unit_test(test_huge_declared_rank),
		cmocka_unit_test(test_function_exponential_nodes),
		cmocka_unit_test(test_function_exponential_empty_calls),
		cmocka_unit_test(test_function_exponential_tensors),
		cmocka_unit_test(test_function_domains),
		cmocka_unit_test(test_subgraph_nesting),
		cmocka_unit_test(test_control_characters_in_names),
		cmocka_unit_test(test_control_characters_after_loading),
		cmocka_unit_test(test_chain_load_plan),
		cmocka_unit_test(test_chain_run),
	};
	const struct CMUnitTest scaling[] = {
		cmocka_unit_test(test_chain_run_scaling),
	};
	if (argc > 1 && strcmp(argv[1], "--run-scaling") == 0)
		return cmocka_run_group_tests(scaling, NULL, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
