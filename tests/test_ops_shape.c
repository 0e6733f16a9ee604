/* test_ops_shape.c: the shape family's kernels where ONNX's own cases are
 * thin: transposes big enough for the tiled and threaded paths and with
 * sizes that are not multiples of the tile, element sizes other than 4
 * (int8, float16, double, strings), Slice with negative steps and clamped
 * bounds, Pad's reflect/edge/negative pads and its opset-2 attribute form,
 * Split and Squeeze/Unsqueeze in both attribute and input forms, Gather's
 * negative int32 indices and out-of-range errors, value inputs that
 * change between runs (which must re-prepare), and the scatter family
 * (ScatterElements and Scatter on every axis with each reduction and
 * dtype class, ScatterND with tuples of 1 to rank elements, GatherND with
 * batch_dims, and the errors of each).
 *
 * Every expectation is either a naive index loop written here or a value
 * worked out by hand (or with numpy, as noted). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model_builder.h"
#include "runtime/plan.h"

/* --- harness ----------------------------------------------------------------- */

static sc_tensor make(int dtype, int rank, const int64_t *dims, const void *data)
{
	sc_tensor t;
	sc_error err = {0};
	assert_int_equal(tensor_alloc(&t, dtype, rank, dims, "test", &err), SC_OK);
	if (data && t.nbytes)
		memcpy(t.data, data, t.nbytes);
	return t;
}

static sc_tensor make_i64(int n, const int64_t *v)
{
	int64_t d[1] = {n};
	return make(SC_INT64, 1, d, v);
}

/* Floats 0, 1, 2, ... so every element says where it came from. */
static sc_tensor iota_f32(int rank, const int64_t *dims)
{
	sc_tensor t = make(SC_FLOAT, rank, dims, NULL);
	float *p = t.data;
	for (int64_t i = 0; i < t.numel; i++)
		p[i] = (float)i;
	return t;
}

typedef struct runner {
	graph_model *m;
	plan *p;
} runner;

/* Declares the graph inputs (unknown shapes) and outputs named in lists
 * like "x,shape" and makes the plan. */
static runner start(graph_model *m, const char *ins, const char *outs,
		    const int *in_dtypes)
{
	graph *g = m->graph;
	int ids[16];
	int n = names(g, ins, ids);
	for (int i = 0; i < n; i++) {
		push_input(g, ids[i]);
		parse_type(&g->values[ids[i]].type, in_dtypes[i], NULL);
	}
	n = names(g, outs, ids);
	for (int i = 0; i < n; i++)
		push_output(g, ids[i]);
	runner r = {m, NULL};
	plan_options opt = {.threads = 2};
	sc_error err = {0};
	if (plan_create(m, &opt, &r.p, &err))
		fail_msg("plan_create: %s", err.msg);
	return r;
}

static int run(runner *r, int n, const char *const *names_,
	       const sc_tensor *const *ins, sc_error *err)
{
	return plan_run(r->p, n, names_, ins, err);
}

static void run_ok(runner *r, int n, const char *const *names_,
		   const sc_tensor *const *ins)
{
	sc_error err = {0};
	if (run(r, n, names_, ins, &err))
		fail_msg("plan_run: %s", err.msg);
}

static void finish(runner *r)
{
	plan_free(r->p);
	graph_model_free(r->m);
}

static void expect_dims(const sc_tensor *t, int rank, ...)
{
	assert_int_equal(t->rank, rank);
	va_list ap;
	va_start(ap, rank);
	for (int i = 0; i < rank; i++)
		assert_int_equal(t->dims[i], va_arg(ap, int));
	va_end(ap);
}

static void expect_f32(const sc_tensor *t, int n, const float *want)
{
	assert_int_equal(t->dtype, SC_FLOAT);
	assert_int_equal(t->numel, n);
	const float *got = t->data;
	for (int i = 0; i < n; i++)
		if (got[i] != want[i])
			fail_msg("element %d: got %g, want %g", i, got[i], want[i]);
}

/* --- Transpose --------------------------------------------------------------- */

/* Naive transpose of x (elem bytes each) by perm into want. */
static void naive_transpose(const sc_tensor *x, const int *perm, void *want)
{
	int r = x->rank;
	int64_t in_stride[SC_MAX_RANK], out_dims[SC_MAX_RANK], idx[SC_MAX_RANK] = {0};
	size_t e = tensor_dtype_size(x->dtype);
	int64_t s = 1;
	for (int d = r - 1; d >= 0; d--) {
		in_stride[d] = s;
		s *= x->dims[d];
	}
	for (int d = 0; d < r; d++)
		out_dims[d] = x->dims[perm[d]];
	for (int64_t o = 0; o < x->numel; o++) {
		int64_t src = 0;
		for (int d = 0; d < r; d++)
			src += idx[d] * in_stride[perm[d]];
		memcpy((char *)want + o * e, (const char *)x->data + src * e, e);
		for (int d = r - 1; d >= 0; d--) {
			if (++idx[d] < out_dims[d])
				break;
			idx[d] = 0;
		}
	}
}

static void check_transpose(int dtype, int rank, const int64_t *dims,
			    const int *perm)
{
	graph_model *m = model(13);
	graph_node *n = add(m->graph, "Transpose", "t", "x", "y");
	/* attr_ints reads only the first `rank` of these */
	attr_ints(n, "perm", rank, perm[0], perm[1 % rank], perm[2 % rank],
		  perm[3 % rank], perm[4 % rank]);
	int dt[] = {dtype};
	runner r = start(m, "x", "y", dt);
	sc_tensor x = make(dtype, rank, dims, NULL);
	unsigned char *b = x.data;
	for (size_t i = 0; i < x.nbytes; i++)
		b[i] = (unsigned char)(i * 7 + i / 251);
	const char *nm[] = {"x"};
	const sc_tensor *in[] = {&x};
	run_ok(&r, 1, nm, in);
	const sc_tensor *y = plan_output(r.p, 0);
	void *want = malloc(x.nbytes ? x.nbytes : 1);
	assert_non_null(want);
	naive_transpose(&x, perm, want);
	assert_int_equal(y->dtype, dtype);
	for (int d = 0; d < rank; d++)
		assert_int_equal(y->dims[d], dims[perm[d]]);
	assert_memory_equal(y->data, want, x.nbytes);
	free(want);
	tensor_free(&x);
	finish(&r);
}

static void test_transpose_4d_big(void **state)
{
	(void)state;
	/* 2*64*56*56 floats: 1.6 MB, tiled and threaded */
	int64_t dims[] = {2, 64, 56, 56};
	int to_nhwc[] = {0, 2, 3, 1}, to_nchw[] = {0, 3, 1, 2}, swap[] = {0, 1, 3, 2};
	check_transpose(SC_FLOAT, 4, dims, to_nhwc);
	check_transpose(SC_FLOAT, 4, dims, to_nchw);
	check_transpose(SC_FLOAT, 4, dims, swap);
	int64_t big2[] = {1000, 300};
	int t2[] = {1, 0};
	check_transpose(SC_FLOAT, 2, big2, t2);
}

static void test_transpose_odd_sizes_and_dtypes(void **state)
{
	(void)state;
	int64_t dims[] = {3, 37, 41, 29};
	int perms[][4] = {{0, 2, 3, 1}, {3, 2, 1, 0}, {1, 0, 3, 2}, {2, 0, 3, 1}};
	int dtypes[] = {SC_INT8, SC_FLOAT16, SC_FLOAT, SC_DOUBLE, SC_COMPLEX128};
	for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
		for (size_t j = 0; j < sizeof perms / sizeof perms[0]; j++)
			check_transpose(dtypes[i], 4, dims, perms[j]);
	int64_t d5[] = {2, 3, 1, 40, 9};
	int p5[] = {4, 2, 0, 3, 1};
	check_transpose(SC_INT64, 5, d5, p5);
}

/* --- Slice ----------------------------------------------------------------- */

static void test_slice_negative_steps_and_clamping(void **state)
{
	(void)state;
	graph_model *m = model(13);
	add(m->graph, "Slice", "s", "x,starts,ends,axes,steps", "y");
	int dt[] = {SC_FLOAT, SC_INT64, SC_INT64, SC_INT64, SC_INT64};
	runner r = start(m, "x,starts,ends,axes,steps", "y", dt);
	int64_t dims[] = {2, 3, 4};
	sc_tensor x = iota_f32(3, dims);
	/* numpy: x[::-1, 2:-5:-1, -100:100:3] */
	int64_t st[] = {INT64_MAX, 2, -100}, en[] = {INT64_MIN, -5, 100};
	int64_t ax[] = {0, 1, 2}, sp[] = {-1, -1, 3};
	sc_tensor ts = make_i64(3, st), te = make_i64(3, en), ta = make_i64(3, ax),
		  tp = make_i64(3, sp);
	const char *nm[] = {"x", "starts", "ends", "axes", "steps"};
	const sc_tensor *in[] = {&x, &ts, &te, &ta, &tp};
	run_ok(&r, 5, nm, in);
	const float want1[] = {20, 23, 16, 19, 12, 15, 8, 11, 4, 7, 0, 3};
	expect_dims(plan_output(r.p, 0), 3, 2, 3, 2);
	expect_f32(plan_output(r.p, 0), 12, want1);

	/* new values, same shapes: must re-prepare.  numpy:
	 * x[1:2, -1:-4:-2, 4:0:-1], axes given negative and out of order */
	int64_t st2[] = {4, 1, -1}, en2[] = {0, 2, -4}, ax2[] = {-1, 0, 1},
		sp2[] = {-1, 1, -2};
	memcpy(ts.data, st2, sizeof st2);
	memcpy(te.data, en2, sizeof en2);
	memcpy(ta.data, ax2, sizeof ax2);
	memcpy(tp.data, sp2, sizeof sp2);
	run_ok(&r, 5, nm, in);
	const float want2[] = {23, 22, 21, 15, 14, 13};
	expect_dims(plan_output(r.p, 0), 3, 1, 2, 3);
	expect_f32(plan_output(r.p, 0), 6, want2);

	/* a step of 0 is refused, naming the node */
	int64_t zero[] = {1, 0, 1};
	memcpy(tp.data, zero, sizeof zero);
	sc_error err = {0};
	assert_int_equal(run(&r, 5, nm, in, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "node 's' (Slice)"));
	tensor_free(&x);
	tensor_free(&ts);
	tensor_free(&te);
	tensor_free(&ta);
	tensor_free(&tp);
	finish(&r);
}

static void test_slice_opset9_attributes(void **state)
{
	(void)state;
	graph_model *m = model(9);
	graph_node *n = add(m->graph, "Slice", "s", "x", "y");
	attr_ints(n, "starts", 2, 1, -2);
	attr_ints(n, "ends", 2, 1000, -1);
	attr_ints(n, "axes", 2, 0, 2);
	int dt[] = {SC_FLOAT};
	runner r = start(m, "x", "y", dt);
	int64_t dims[] = {2, 3, 4};
	sc_tensor x = iota_f32(3, dims);
	const char *nm[] = {"x"};
	const sc_tensor *in[] = {&x};
	run_ok(&r, 1, nm, in);
	/* x[1:, :, 2:3] */
	const float want[] = {14, 18, 22};
	expect_dims(plan_output(r.p, 0), 3, 1, 3, 1);
	expect_f32(plan_output(r.p, 0), 3, want);
	tensor_free(&x);
	finish(&r);
}

/* --- Pad -------------------------------------------------------------------- */

static void run_pad(int opset, const char *mode, const int64_t *pads,
		    const int32_t *cv, const int64_t *want_dims,
		    const int32_t *want)
{
	graph_model *m = model(opset);
	graph_node *n = add(m->graph, "Pad", "p", cv ? "x,pads,v" : "x,pads", "y");
	attr_str(n, "mode", mode);
	int dt[] = {SC_INT32, SC_INT64, SC_INT32};
	runner r = start(m, cv ? "x,pads,v" : "x,pads", "y", dt);
	int64_t dims[] = {2, 3};
	const int32_t xv[] = {1, 2, 3, 4, 5, 6};
	sc_tensor x = make(SC_INT32, 2, dims, xv), tp = make_i64(4, pads);
	sc_tensor tv = make(SC_INT32, 0, NULL, cv);
	const char *nm[] = {"x", "pads", "v"};
	const sc_tensor *in[] = {&x, &tp, &tv};
	run_ok(&r, cv ? 3 : 2, nm, in);
	const sc_tensor *y = plan_output(r.p, 0);
	assert_int_equal(y->dtype, SC_INT32);
	expect_dims(y, 2, (int)want_dims[0], (int)want_dims[1]);
	assert_memory_equal(y->data, want, y->nbytes);
	tensor_free(&x);
	tensor_free(&tp);
	tensor_free(&tv);
	finish(&r);
}

static void test_pad_modes(void **state)
{
	(void)state;
	/* numpy.pad(x, ((1, 0), (5, 4)), 'reflect'): the pads are wider
	 * than the axis, so the mirror repeats */
	const int64_t p1[] = {1, 5, 0, 4}, d1[] = {3, 12};
	const int32_t w1[] = {5, 4, 5, 6, 5, 4, 5, 6, 5, 4, 5, 6,
			      2, 1, 2, 3, 2, 1, 2, 3, 2, 1, 2, 3,
			      5, 4, 5, 6, 5, 4, 5, 6, 5, 4, 5, 6};
	run_pad(13, "reflect", p1, NULL, d1, w1);
	/* edge with a negative (cropping) pad: drop the last column, then
	 * repeat the edges */
	const int64_t p2[] = {0, 2, 1, -1}, d2[] = {3, 4};
	const int32_t w2[] = {1, 1, 1, 2, 4, 4, 4, 5, 4, 4, 4, 5};
	run_pad(13, "edge", p2, NULL, d2, w2);
	/* constant with constant_value 9 and a crop in front */
	const int64_t p3[] = {1, -1, 1, 2}, d3[] = {4, 4};
	const int32_t nine = 9;
	const int32_t w3[] = {9, 9, 9, 9, 2, 3, 9, 9, 5, 6, 9, 9, 9, 9, 9, 9};
	run_pad(13, "constant", p3, &nine, d3, w3);
	/* constant without a value: zeros */
	const int32_t w4[] = {0, 0, 0, 0, 2, 3, 0, 0, 5, 6, 0, 0, 0, 0, 0, 0};
	run_pad(11, "constant", p3, NULL, d3, w4);
}

static void test_pad_opset2_attributes(void **state)
{
	(void)state;
	graph_model *m = model(2);
	graph_node *n = add(m->graph, "Pad", "p", "x", "y");
	attr_ints(n, "pads", 4, 0, 1, 1, 0);
	sc_error err = {0};
	graph_attr *a = graph_node_add_attr(n, "value", ATTR_FLOAT, &err);
	assert_non_null(a);
	a->f = 1.5f;
	int dt[] = {SC_DOUBLE};
	runner r = start(m, "x", "y", dt);
	int64_t dims[] = {1, 2};
	const double xv[] = {-1, -2};
	sc_tensor x = make(SC_DOUBLE, 2, dims, xv);
	const char *nm[] = {"x"};
	const sc_tensor *in[] = {&x};
	run_ok(&r, 1, nm, in);
	const sc_tensor *y = plan_output(r.p, 0);
	expect_dims(y, 2, 2, 3);
	const double want[] = {1.5, -1, -2, 1.5, 1.5, 1.5};
	assert_memory_equal(y->data, want, sizeof want);
	tensor_free(&x);
	finish(&r);
}

/* A big constant pad (the threaded path) against a naive loop. */
static void test_pad_big(void **state)
{
	(void)state;
	graph_model *m = model(13);
	add(m->graph, "Pad", "p", "x,pads", "y");
	int dt[] = {SC_FLOAT, SC_INT64};
	runner r = start(m, "x,pads", "y", dt);
	int64_t dims[] = {2, 16, 100, 100};
	sc_tensor x = iota_f32(4, dims);
	const int64_t pads[] = {0, 0, 1, 3, 0, 0, 2, -4};
	sc_tensor tp = make_i64(8, pads);
	const char *nm[] = {"x", "pads"};
	const sc_tensor *in[] = {&x, &tp};
	run_ok(&r, 2, nm, in);
	const sc_tensor *y = plan_output(r.p, 0);
	expect_dims(y, 4, 2, 16, 103, 99);
	const float *got = y->data, *xs = x.data;
	for (int64_t nc = 0; nc < 32; nc++)
		for (int64_t h = 0; h < 103; h++)
			for (int64_t w = 0; w < 99; w++) {
				int64_t ih = h - 1, iw = w - 3;
				float want = ih >= 0 && ih < 100 && iw >= 0 && iw < 100 ?
					xs[(nc * 100 + ih) * 100 + iw] : 0.0f;
				float g = got[(nc * 103 + h) * 99 + w];
				if (g != want)
					fail_msg("at %lld,%lld,%lld: %g != %g", (long long)nc,
						 (long long)h, (long long)w, g, want);
			}
	tensor_free(&x);
	tensor_free(&tp);
	finish(&r);
}

/* --- Concat, Split ------------------------------------------------------------ */

static void test_concat_big_and_empty(void **state)
{
	(void)state;
	graph_model *m = model(13);
	graph_node *n = add(m->graph, "Concat", "c", "a,b,e", "y");
	attr_int(n, "axis", -3);
	int dt[] = {SC_FLOAT, SC_FLOAT, SC_FLOAT};
	runner r = start(m, "a,b,e", "y", dt);
	int64_t da[] = {4, 64, 30, 30}, db[] = {4, 32, 30, 30}, de[] = {4, 0, 30, 30};
	sc_tensor a = iota_f32(4, da), b = iota_f32(4, db), e = iota_f32(4, de);
	const char *nm[] = {"a", "b", "e"};
	const sc_tensor *in[] = {&a, &b, &e};
	run_ok(&r, 3, nm, in);
	const sc_tensor *y = plan_output(r.p, 0);
	expect_dims(y, 4, 4, 96, 30, 30);
	const float *got = y->data;
	for (int64_t i = 0; i < 4; i++)
		for (int64_t c = 0; c < 96; c++)
			for (int64_t hw = 0; hw < 900; hw++) {
				float want = c < 64 ? (float)((i * 64 + c) * 900 + hw) :
					     (float)((i * 32 + c - 64) * 900 + hw);
				if (got[(i * 96 + c) * 900 + hw] != want)
					fail_msg("mismatch at %lld,%lld,%lld", (long long)i,
						 (long long)c, (long long)hw);
			}
	tensor_free(&a);
	tensor_free(&b);
	tensor_free(&e);
	finish(&r);
}

static void check_split(int opset)
{
	graph_model *m = model(opset);
	graph_node *n = add(m->graph, "Split", "s", opset >= 13 ? "x,split" : "x",
			    "y0,y1,y2");
	attr_int(n, "axis", 1);
	if (opset < 13)
		attr_ints(n, "split", 3, 1, 0, 3);
	int dt[] = {SC_INT16, SC_INT64};
	runner r = start(m, opset >= 13 ? "x,split" : "x", "y0,y1,y2", dt);
	int64_t dims[] = {2, 4};
	const int16_t xv[] = {1, 2, 3, 4, 5, 6, 7, 8};
	sc_tensor x = make(SC_INT16, 2, dims, xv);
	const int64_t sv[] = {1, 0, 3};
	sc_tensor ts = make_i64(3, sv);
	const char *nm[] = {"x", "split"};
	const sc_tensor *in[] = {&x, &ts};
	run_ok(&r, opset >= 13 ? 2 : 1, nm, in);
	const int16_t w0[] = {1, 5}, w2[] = {2, 3, 4, 6, 7, 8};
	expect_dims(plan_output(r.p, 0), 2, 2, 1);
	expect_dims(plan_output(r.p, 1), 2, 2, 0);
	expect_dims(plan_output(r.p, 2), 2, 2, 3);
	assert_memory_equal(plan_output(r.p, 0)->data, w0, sizeof w0);
	assert_memory_equal(plan_output(r.p, 2)->data, w2, sizeof w2);
	tensor_free(&x);
	tensor_free(&ts);
	finish(&r);
}

static void test_split_forms(void **state)
{
	(void)state;
	check_split(11);
	check_split(13);
	/* no split: equal parts, and an uneven axis is refused */
	graph_model *m = model(13);
	add(m->graph, "Split", "s", "x", "a,b");
	int dt[] = {SC_FLOAT};
	runner r = start(m, "x", "a,b", dt);
	int64_t dims[] = {6};
	sc_tensor x = iota_f32(1, dims);
	const char *nm[] = {"x"};
	const sc_tensor *in[] = {&x};
	run_ok(&r, 1, nm, in);
	const float wa[] = {0, 1, 2}, wb[] = {3, 4, 5};
	expect_f32(plan_output(r.p, 0), 3, wa);
	expect_f32(plan_output(r.p, 1), 3, wb);
	tensor_free(&x);
	int64_t odd[] = {5};
	x = iota_f32(1, odd);
	sc_error err = {0};
	assert_int_equal(run(&r, 1, nm, in, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "equal parts"));
	tensor_free(&x);
	finish(&r);
}

/* --- Gather ------------------------------------------------------------------ */

static void test_gather_int32_negative_and_errors(void **state)
{
	(void)state;
	graph_model *m = model(13);
	graph_node *n = add(m->graph, "Gather", "g", "x,i", "y");
	attr_int(n, "axis", 1);
	int dt[] = {SC_FLOAT, SC_INT32};
	runner r = start(m, "x,i", "y", dt);
	int64_t dims[] = {2, 5, 3};
	sc_tensor x = iota_f32(3, dims);
	int64_t idims[] = {2, 2};
	const int32_t iv[] = {-1, 0, 2, -5};
	sc_tensor ix = make(SC_INT32, 2, idims, iv);
	const char *nm[] = {"x", "i"};
	const sc_tensor *in[] = {&x, &ix};
	run_ok(&r, 2, nm, in);
	const sc_tensor *y = plan_output(r.p, 0);
	expect_dims(y, 4, 2, 2, 2, 3);
	float want[24];
	for (int a = 0; a < 2; a++)
		for (int j = 0; j < 4; j++)
			for (int c = 0; c < 3; c++) {
				int k = iv[j] < 0 ? iv[j] + 5 : iv[j];
				want[(a * 4 + j) * 3 + c] = (float)((a * 5 + k) * 3 + c);
			}
	expect_f32(y, 24, want);
	((int32_t *)ix.data)[3] = 5;
	sc_error err = {0};
	assert_int_equal(run(&r, 2, nm, in, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "node 'g' (Gather)"));
	assert_non_null(strstr(err.msg, "indices[3] = 5"));
	tensor_free(&x);
	tensor_free(&ix);
	finish(&r);
}

/* Strings move as sc_bytes: Gather, Transpose and Concat on them. */
static void test_string_tensors(void **state)
{
	(void)state;
	graph_model *m = model(13);
	graph_node *n = add(m->graph, "Gather", "g", "x,i", "a");
	attr_int(n, "axis", 0);
	add(m->graph, "Transpose", "t", "x", "b");
	n = add(m->graph, "Concat", "c", "x,x", "c");
	attr_int(n, "axis", 1);
	int dt[] = {SC_STRING, SC_INT64};
	runner r = start(m, "x,i", "a,b,c", dt);
	int64_t dims[] = {2, 2};
	sc_tensor x = make(SC_STRING, 2, dims, NULL);
	const char *words[] = {"alpha", "beta", "", "delta"};
	sc_bytes *s = x.data;
	for (int i = 0; i < 4; i++) {
		s[i].len = strlen(words[i]);
		s[i].data = strdup(words[i]);
	}
	const int64_t iv[] = {1};
	sc_tensor ix = make_i64(1, iv);
	const char *nm[] = {"x", "i"};
	const sc_tensor *in[] = {&x, &ix};
	run_ok(&r, 2, nm, in);
	const sc_bytes *ga = plan_output(r.p, 0)->data;
	const sc_bytes *tb = plan_output(r.p, 1)->data;
	const sc_bytes *cc = plan_output(r.p, 2)->data;
	expect_dims(plan_output(r.p, 0), 2, 1, 2);
	assert_int_equal(ga[0].len, 0);
	assert_memory_equal(ga[1].data, "delta", 5);
	assert_int_equal(tb[1].len, 0);
	assert_memory_equal(tb[2].data, "beta", 4);
	const int order[] = {0, 1, 0, 1, 2, 3, 2, 3};
	for (int i = 0; i < 8; i++) {
		assert_int_equal(cc[i].len, strlen(words[order[i]]));
		assert_memory_equal(cc[i].data, words[order[i]], cc[i].len);
	}
	tensor_free(&x);
	tensor_free(&ix);
	finish(&r);
}

/* --- shape-only ops, value inputs ------------------------------------------- */

static void test_reshape_value_changes(void **state)
{
	(void)state;
	graph_model *m = model(14);
	graph_node *n = add(m->graph, "Reshape", "r", "x,shape", "y");
	attr_int(n, "allowzero", 1);
	int dt[] = {SC_FLOAT, SC_INT64};
	runner r = start(m, "x,shape", "y", dt);
	int64_t dims[] = {2, 3, 4};
	sc_tensor x = iota_f32(3, dims);
	const int64_t s1[] = {4, -1};
	sc_tensor ts = make_i64(2, s1);
	const char *nm[] = {"x", "shape"};
	const sc_tensor *in[] = {&x, &ts};
	run_ok(&r, 2, nm, in);
	expect_dims(plan_output(r.p, 0), 2, 4, 6);
	float want[24];
	for (int i = 0; i < 24; i++)
		want[i] = (float)i;
	expect_f32(plan_output(r.p, 0), 24, want);
	/* same shapes, other values: re-prepared, not stale */
	const int64_t s2[] = {-1, 12};
	memcpy(ts.data, s2, sizeof s2);
	run_ok(&r, 2, nm, in);
	expect_dims(plan_output(r.p, 0), 2, 2, 12);
	/* allowzero=1 takes 0 literally: 24 elements do not fit [0, 24] */
	const int64_t s3[] = {0, 24};
	memcpy(ts.data, s3, sizeof s3);
	sc_error err = {0};
	assert_int_equal(run(&r, 2, nm, in, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "node 'r' (Reshape)"));
	tensor_free(&x);
	tensor_free(&ts);
	finish(&r);
}

static void test_squeeze_unsqueeze_forms(void **state)
{
	(void)state;
	/* opset 11: attributes, negative axes */
	graph_model *m = model(11);
	graph_node *n = add(m->graph, "Unsqueeze", "u", "x", "u");
	attr_ints(n, "axes", 2, -1, 0);
	add(m->graph, "Squeeze", "s", "u", "s");   /* no axes: every 1 */
	int dt[] = {SC_UINT8, SC_INT64};
	runner r = start(m, "x", "u,s", dt);
	int64_t dims[] = {3, 1, 2};
	const uint8_t xv[] = {1, 2, 3, 4, 5, 6};
	sc_tensor x = make(SC_UINT8, 3, dims, xv);
	const char *nm[] = {"x", "axes"};
	const sc_tensor *in[] = {&x};
	run_ok(&r, 1, nm, in);
	expect_dims(plan_output(r.p, 0), 5, 1, 3, 1, 2, 1);
	expect_dims(plan_output(r.p, 1), 2, 3, 2);
	assert_memory_equal(plan_output(r.p, 1)->data, xv, 6);
	finish(&r);

	/* opset 13: axes as an input */
	m = model(13);
	add(m->graph, "Squeeze", "s", "x,axes", "y");
	runner r2 = start(m, "x,axes", "y", dt);
	const int64_t av[] = {-2};
	sc_tensor ta = make_i64(1, av);
	const sc_tensor *in2[] = {&x, &ta};
	run_ok(&r2, 2, nm, in2);
	expect_dims(plan_output(r2.p, 0), 2, 3, 2);
	((int64_t *)ta.data)[0] = 0;   /* size 3: cannot squeeze */
	sc_error err = {0};
	assert_int_equal(run(&r2, 2, nm, in2, &err), SC_EINVAL);
	tensor_free(&ta);
	tensor_free(&x);
	finish(&r2);
}

/* --- Expand, Tile, DepthToSpace ---------------------------------------------- */

static void test_expand_and_tile(void **state)
{
	(void)state;
	graph_model *m = model(13);
	add(m->graph, "Expand", "e", "x,shape", "e");
	add(m->graph, "Tile", "t", "x,reps", "t");
	int dt[] = {SC_FLOAT, SC_INT64, SC_INT64};
	runner r = start(m, "x,shape,reps", "e,t", dt);
	int64_t dims[] = {3, 1};
	const float xv[] = {1, 2, 3};
	sc_tensor x = make(SC_FLOAT, 2, dims, xv);
	/* [3,1] with [2,1,4]: both sides broadcast */
	const int64_t sv[] = {2, 1, 4}, rv[] = {2, 3};
	sc_tensor ts = make_i64(3, sv), tr = make_i64(2, rv);
	const char *nm[] = {"x", "shape", "reps"};
	const sc_tensor *in[] = {&x, &ts, &tr};
	run_ok(&r, 3, nm, in);
	float we[24];
	for (int a = 0; a < 2; a++)
		for (int b = 0; b < 3; b++)
			for (int c = 0; c < 4; c++)
				we[(a * 3 + b) * 4 + c] = xv[b];
	expect_dims(plan_output(r.p, 0), 3, 2, 3, 4);
	expect_f32(plan_output(r.p, 0), 24, we);
	const float wt[] = {1, 1, 1, 2, 2, 2, 3, 3, 3, 1, 1, 1, 2, 2, 2, 3, 3, 3};
	expect_dims(plan_output(r.p, 1), 2, 6, 3);
	expect_f32(plan_output(r.p, 1), 18, wt);
	tensor_free(&x);
	tensor_free(&ts);
	tensor_free(&tr);
	finish(&r);
}

static void test_tile_big(void **state)
{
	(void)state;
	graph_model *m = model(13);
	add(m->graph, "Tile", "t", "x,reps", "y");
	int dt[] = {SC_FLOAT, SC_INT64};
	runner r = start(m, "x,reps", "y", dt);
	int64_t dims[] = {3, 50, 70};
	sc_tensor x = iota_f32(3, dims);
	const int64_t rv[] = {2, 3, 4};
	sc_tensor tr = make_i64(3, rv);
	const char *nm[] = {"x", "reps"};
	const sc_tensor *in[] = {&x, &tr};
	run_ok(&r, 2, nm, in);
	const sc_tensor *y = plan_output(r.p, 0);
	expect_dims(y, 3, 6, 150, 280);
	const float *got = y->data;
	for (int64_t a = 0; a < 6; a++)
		for (int64_t b = 0; b < 150; b++)
			for (int64_t c = 0; c < 280; c++) {
				float want = (float)(((a % 3) * 50 + b % 50) * 70 + c % 70);
				if (got[(a * 150 + b) * 280 + c] != want)
					fail_msg("mismatch at %lld,%lld,%lld", (long long)a,
						 (long long)b, (long long)c);
			}
	tensor_free(&x);
	tensor_free(&tr);
	finish(&r);
}

/* DepthToSpace (both modes) against the spec's reshape-transpose-reshape,
 * and SpaceToDepth undoing DCR. */
static void test_depth_space_round_trip(void **state)
{
	(void)state;
	for (int crd = 0; crd < 2; crd++) {
		graph_model *m = model(13);
		graph_node *n = add(m->graph, "DepthToSpace", "d", "x", "y");
		attr_int(n, "blocksize", 3);
		attr_str(n, "mode", crd ? "CRD" : "DCR");
		n = add(m->graph, "SpaceToDepth", "s", "y", "z");
		attr_int(n, "blocksize", 3);
		int dt[] = {SC_FLOAT};
		runner r = start(m, "x", "y,z", dt);
		const int64_t N = 2, C = 18, H = 5, W = 7, b = 3, c2 = C / (b * b);
		int64_t dims[] = {N, C, H, W};
		sc_tensor x = iota_f32(4, dims);
		const char *nm[] = {"x"};
		const sc_tensor *in[] = {&x};
		run_ok(&r, 1, nm, in);
		const sc_tensor *y = plan_output(r.p, 0);
		expect_dims(y, 4, 2, 2, 15, 21);
		const float *got = y->data;
		for (int64_t i = 0; i < N; i++)
			for (int64_t c = 0; c < c2; c++)
				for (int64_t h = 0; h < H * b; h++)
					for (int64_t w = 0; w < W * b; w++) {
						int64_t b1 = h % b, b2 = w % b;
						int64_t ic = crd ? c * b * b + b1 * b + b2 :
							     (b1 * b + b2) * c2 + c;
						float want = (float)(((i * C + ic) * H + h / b) * W + w / b);
						assert_true(got[((i * c2 + c) * H * b + h) * W * b + w] == want);
					}
		if (!crd)
			assert_memory_equal(plan_output(r.p, 1)->data, x.data, x.nbytes);
		tensor_free(&x);
		finish(&r);
	}
}

/* --- makers ------------------------------------------------------------------- */

static void test_makers(void **state)
{
	(void)state;
	graph_model *m = model(15);
	graph_node *n = add(m->graph, "EyeLike", "e", "x", "eye");
	attr_int(n, "k", -1);
	attr_int(n, "dtype", SC_FLOAT16);
	n = add(m->graph, "Shape", "sh", "x", "shape");
	attr_int(n, "start", -1);
	add(m->graph, "Size", "sz", "x", "size");
	add(m->graph, "Range", "rg", "a,b,c", "range");
	add(m->graph, "NonZero", "nz", "x", "nz");
	n = add(m->graph, "OneHot", "oh", "i,depth,vals", "oh");
	attr_int(n, "axis", 0);
	int dt[] = {SC_INT32, SC_INT32, SC_INT32, SC_INT32, SC_INT64, SC_FLOAT,
		    SC_BOOL};
	runner r = start(m, "x,a,b,c,i,depth,vals", "eye,shape,size,range,nz,oh", dt);
	int64_t dims[] = {3, 4};
	const int32_t xv[] = {0, 7, 0, 0, 0, 0, 0, -1, 2, 0, 0, 0};
	sc_tensor x = make(SC_INT32, 2, dims, xv);
	const int32_t av = 10, bv = 3, cv = -3;
	sc_tensor ta = make(SC_INT32, 0, NULL, &av), tb = make(SC_INT32, 0, NULL, &bv),
		  tc = make(SC_INT32, 0, NULL, &cv);
	const int64_t iv[] = {2, -1, 7};
	sc_tensor ti = make_i64(3, iv);
	const float depth = 3.7f;
	const uint8_t vals[] = {0, 1};
	int64_t two[] = {2};
	sc_tensor td = make(SC_FLOAT, 0, NULL, &depth), tv = make(SC_BOOL, 1, two, vals);
	const char *nm[] = {"x", "a", "b", "c", "i", "depth", "vals"};
	const sc_tensor *in[] = {&x, &ta, &tb, &tc, &ti, &td, &tv};
	run_ok(&r, 7, nm, in);

	const sc_tensor *eye = plan_output(r.p, 0);
	assert_int_equal(eye->dtype, SC_FLOAT16);
	expect_dims(eye, 2, 3, 4);
	const uint16_t *h = eye->data;
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 4; j++)
			assert_int_equal(h[i * 4 + j], j == i - 1 ? 0x3c00 : 0);
	const sc_tensor *shape = plan_output(r.p, 1);
	expect_dims(shape, 1, 1);
	assert_int_equal(((int64_t *)shape->data)[0], 4);
	assert_int_equal(((int64_t *)plan_output(r.p, 2)->data)[0], 12);
	const sc_tensor *range = plan_output(r.p, 3);
	expect_dims(range, 1, 3);
	const int32_t wr[] = {10, 7, 4};
	assert_memory_equal(range->data, wr, sizeof wr);
	const sc_tensor *nz = plan_output(r.p, 4);
	expect_dims(nz, 2, 2, 3);
	const int64_t wnz[] = {0, 1, 2, 1, 3, 0};
	assert_memory_equal(nz->data, wnz, sizeof wnz);
	/* depth 3.7 is 3; index 7 is out of range: an all-off column */
	const sc_tensor *oh = plan_output(r.p, 5);
	expect_dims(oh, 2, 3, 3);
	const uint8_t woh[] = {0, 0, 0, 0, 0, 0, 1, 1, 0};
	assert_memory_equal(oh->data, woh, sizeof woh);
	sc_tensor *all[] = {&x, &ta, &tb, &tc, &ti, &td, &tv};
	for (int i = 0; i < 7; i++)
		tensor_free(all[i]);
	finish(&r);
}

/* Constant's list and scalar forms, and a ConstantOfShape whose shape is
 * computed from a Constant (a value input that is not an initializer). */
static graph_model *constant_model(int64_t count)
{
	graph_model *m = model(13);
	sc_error err = {0};
	graph_node *n = add(m->graph, "Constant", "c1", NULL, "f");
	graph_attr *a = graph_node_add_attr(n, "value_floats", ATTR_FLOATS, &err);
	assert_non_null(a);
	a->floats = calloc(3, sizeof(float));
	assert_non_null(a->floats);
	a->floats[0] = 1.5f;
	a->floats[2] = -2;
	a->n = 3;
	n = add(m->graph, "Constant", "c2", NULL, "i");
	attr_int(n, "value_int", count);
	n = add(m->graph, "Constant", "c3", NULL, "s");
	attr_str(n, "value_string", "hi");
	add(m->graph, "Unsqueeze", "u", "i,ax", "i2");
	init_ints(m->graph, "ax", 1, 0);
	n = add(m->graph, "ConstantOfShape", "cs", "i2", "z");
	a = graph_node_add_attr(n, "value", ATTR_TENSOR, &err);
	assert_non_null(a);
	a->t = calloc(1, sizeof *a->t);
	assert_non_null(a->t);
	int64_t one[] = {1};
	const int64_t big = 1234567890123LL;
	*a->t = make(SC_INT64, 1, one, &big);
	return m;
}

static void test_constant_forms(void **state)
{
	(void)state;
	runner r = start(constant_model(3), NULL, "f,i,s,z", NULL);
	run_ok(&r, 0, NULL, NULL);
	const float wf[] = {1.5f, 0, -2};
	expect_dims(plan_output(r.p, 0), 1, 3);
	expect_f32(plan_output(r.p, 0), 3, wf);
	expect_dims(plan_output(r.p, 1), 0);
	assert_int_equal(((int64_t *)plan_output(r.p, 1)->data)[0], 3);
	const sc_bytes *s = plan_output(r.p, 2)->data;
	assert_int_equal(s->len, 2);
	assert_memory_equal(s->data, "hi", 2);
	expect_dims(plan_output(r.p, 3), 1, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(((int64_t *)plan_output(r.p, 3)->data)[i],
				 1234567890123LL);
	finish(&r);

	r = start(constant_model(-7), NULL, "f,i,s,z", NULL);
	sc_error err = {0};
	assert_int_equal(run(&r, 0, NULL, NULL, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "node 'cs' (ConstantOfShape)"));
	assert_non_null(strstr(err.msg, "negative"));
	finish(&r);
}

/* --- Scatter, ScatterElements, ScatterND, GatherND ---------------------------- */

enum { R_NONE, R_ADD, R_MUL, R_MAX, R_MIN };
static const char *const red_names[] = {"none", "add", "mul", "max", "min"};

static float combine_ref(int red, float a, float u)
{
	switch (red) {
	case R_ADD: return a + u;
	case R_MUL: return a * u;
	case R_MAX: return u > a ? u : a;
	case R_MIN: return u < a ? u : a;
	default: return u;
	}
}

static int64_t product(int rank, const int64_t *dims)
{
	int64_t p = 1;
	for (int d = 0; d < rank; d++)
		p *= dims[d];
	return p;
}

/* The row-major offset of coord in dims. */
static int64_t offset_of(int rank, const int64_t *dims, const int64_t *coord)
{
	int64_t off = 0;
	for (int d = 0; d < rank; d++)
		off = off * dims[d] + coord[d];
	return off;
}

/* ScatterElements by its definition: each position of indices as a full
 * coordinate, the axis coordinate replaced by the (wrapped) index. */
static void naive_scatter_elements(const sc_tensor *x, const int64_t *ix,
				   const int64_t *idims, const float *up,
				   int axis, int red, float *y)
{
	int r = x->rank;
	memcpy(y, x->data, x->nbytes);
	for (int64_t t = 0; t < product(r, idims); t++) {
		int64_t coord[SC_MAX_RANK], rem = t;
		for (int d = r - 1; d >= 0; d--) {
			coord[d] = rem % idims[d];
			rem /= idims[d];
		}
		coord[axis] = ix[t] < 0 ? ix[t] + x->dims[axis] : ix[t];
		int64_t off = offset_of(r, x->dims, coord);
		y[off] = combine_ref(red, y[off], up[t]);
	}
}

/* ScatterND by its definition: tuple t names the first k coordinates, the
 * slice of the remaining axes takes updates[t, ...]. */
static void naive_scatter_nd(const sc_tensor *x, const int64_t *ix,
			     int64_t tuples, int k, const float *up, int red,
			     float *y)
{
	memcpy(y, x->data, x->nbytes);
	int64_t slice = product(x->rank - k, x->dims + k);
	for (int64_t t = 0; t < tuples; t++) {
		int64_t coord[SC_MAX_RANK] = {0};
		for (int j = 0; j < k; j++) {
			int64_t v = ix[t * k + j];
			coord[j] = v < 0 ? v + x->dims[j] : v;
		}
		int64_t base = offset_of(x->rank, x->dims, coord);
		for (int64_t s = 0; s < slice; s++)
			y[base + s] = combine_ref(red, y[base + s], up[t * slice + s]);
	}
}

/* Floats that are exact in float32 sums and products. */
static sc_tensor quarters_f32(int rank, const int64_t *dims, int start)
{
	sc_tensor t = make(SC_FLOAT, rank, dims, NULL);
	for (int64_t i = 0; i < t.numel; i++)
		((float *)t.data)[i] = (float)((start + i * 7) % 13 - 6) * 0.25f;
	return t;
}

/* One scatter node at opset over float data; checks every reduction the
 * opset has against the reference. */
static void check_scatter_elements(int64_t opset, const char *op, int axis,
				   int rank, const int64_t *xdims,
				   const int64_t *idims, const int64_t *iv)
{
	int n_red = opset >= 18 ? 5 : opset >= 16 ? 3 : 1;
	for (int red = 0; red < n_red; red++) {
		graph_model *m = model(opset);
		graph_node *n = add(m->graph, op, "s", "x,i,u", "y");
		attr_int(n, "axis", axis);
		if (opset >= 16)
			attr_str(n, "reduction", red_names[red]);
		int dt[] = {SC_FLOAT, SC_INT64, SC_FLOAT};
		runner r = start(m, "x,i,u", "y", dt);
		sc_tensor x = quarters_f32(rank, xdims, 1);
		sc_tensor ix = make(SC_INT64, rank, idims, iv);
		sc_tensor up = quarters_f32(rank, idims, 5);
		const char *nm[] = {"x", "i", "u"};
		const sc_tensor *in[] = {&x, &ix, &up};
		run_ok(&r, 3, nm, in);
		float want[64];
		assert_true(x.numel <= 64);
		naive_scatter_elements(&x, iv, idims, up.data,
				       axis < 0 ? axis + rank : axis, red, want);
		const sc_tensor *y = plan_output(r.p, 0);
		assert_int_equal(y->rank, rank);
		for (int d = 0; d < rank; d++)
			assert_int_equal(y->dims[d], xdims[d]);
		expect_f32(y, (int)x.numel, want);
		tensor_free(&x);
		tensor_free(&ix);
		tensor_free(&up);
		finish(&r);
	}
}

static void test_scatter_elements_axes_and_reductions(void **state)
{
	(void)state;
	/* axis 1: indices longer than data along the axis, repeated and
	 * negative; shorter along axis 0 */
	const int64_t xd[] = {3, 4}, id1[] = {2, 5};
	const int64_t iv1[] = {0, -1, 2, 0, 3, -4, 1, 1, -2, 2};
	check_scatter_elements(18, "ScatterElements", 1, 2, xd, id1, iv1);
	check_scatter_elements(16, "ScatterElements", -1, 2, xd, id1, iv1);
	check_scatter_elements(11, "ScatterElements", 1, 2, xd, id1, iv1);
	check_scatter_elements(10, "Scatter", 1, 2, xd, id1, iv1);
	/* axis 0 on rank 3 */
	const int64_t xd3[] = {3, 2, 2}, id3[] = {4, 1, 2};
	const int64_t iv3[] = {2, -3, 0, 0, -1, 1, 2, 2};
	check_scatter_elements(18, "ScatterElements", 0, 3, xd3, id3, iv3);
	check_scatter_elements(9, "Scatter", -3, 3, xd3, id3, iv3);
}

/* Integer reductions wrap, float16 rounds once, NaN wins max, strings and
 * bools copy with 'none' and refuse arithmetic. */
static void test_scatter_elements_dtypes(void **state)
{
	(void)state;
	const int64_t d2[] = {2}, d3[] = {3};
	const int64_t iv[] = {0, 1, 0};
	sc_tensor ix = make(SC_INT64, 1, d3, iv);
	const char *nm[] = {"x", "i", "u"};
	struct {
		int dtype;
		const char *red;
		const void *x, *u, *want;
	} cases[] = {
		/* INT32_MAX + 1 + 2 wraps; -5 + 7 */
		{SC_INT32, "add", (const int32_t[]){INT32_MAX, -5},
		 (const int32_t[]){1, 7, 2}, (const int32_t[]){INT32_MIN + 2, 2}},
		/* 200 * 2 * 3 = 1200 = 176 (mod 256); 3 * 255 = 253 (mod 256) */
		{SC_UINT8, "mul", (const uint8_t[]){200, 3},
		 (const uint8_t[]){2, 255, 3}, (const uint8_t[]){176, 253}},
		{SC_INT64, "max", (const int64_t[]){-7, INT64_MIN},
		 (const int64_t[]){-9, -1, 4}, (const int64_t[]){4, -1}},
		{SC_INT16, "min", (const int16_t[]){5, -3},
		 (const int16_t[]){7, -3, -32768}, (const int16_t[]){-32768, -3}},
		/* 1 + 0.5 + 0.25 and 2 * 1.5, exact in half */
		{SC_FLOAT16, "add", (const uint16_t[]){0x3c00, 0x4000},
		 (const uint16_t[]){0x3800, 0x3e00, 0x3400},
		 (const uint16_t[]){0x3f00, 0x4380}},
		{SC_BOOL, "none", (const uint8_t[]){0, 0},
		 (const uint8_t[]){1, 1, 0}, (const uint8_t[]){0, 1}},
	};
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		graph_model *m = model(18);
		graph_node *n = add(m->graph, "ScatterElements", "s", "x,i,u", "y");
		attr_str(n, "reduction", cases[c].red);
		int dt[] = {cases[c].dtype, SC_INT64, cases[c].dtype};
		runner r = start(m, "x,i,u", "y", dt);
		sc_tensor x = make(cases[c].dtype, 1, d2, cases[c].x);
		sc_tensor u = make(cases[c].dtype, 1, d3, cases[c].u);
		const sc_tensor *in[] = {&x, &ix, &u};
		run_ok(&r, 3, nm, in);
		const sc_tensor *y = plan_output(r.p, 0);
		assert_int_equal(y->dtype, cases[c].dtype);
		if (cases[c].dtype == SC_FLOAT16) {
			/* 1 + 0.5 + 0.25 = 1.75; 2 + 1.5 = 3.5 */
			const uint16_t *h = y->data;
			assert_true(tensor_half_to_float(h[0]) == 1.75f);
			assert_true(tensor_half_to_float(h[1]) == 3.5f);
		} else {
			assert_memory_equal(y->data, cases[c].want, y->nbytes);
		}
		tensor_free(&x);
		tensor_free(&u);
		finish(&r);
	}

	/* NaN propagates through max, as numpy's maximum */
	graph_model *m = model(18);
	attr_str(add(m->graph, "ScatterElements", "s", "x,i,u", "y"), "reduction", "max");
	int dtd[] = {SC_DOUBLE, SC_INT64, SC_DOUBLE};
	runner r = start(m, "x,i,u", "y", dtd);
	sc_tensor x = make(SC_DOUBLE, 1, d2, (const double[]){1, NAN});
	sc_tensor u = make(SC_DOUBLE, 1, d3, (const double[]){NAN, 5, 2});
	const sc_tensor *in[] = {&x, &ix, &u};
	run_ok(&r, 3, nm, in);
	const double *yd = plan_output(r.p, 0)->data;
	assert_true(isnan(yd[0]) && isnan(yd[1]));
	tensor_free(&x);
	tensor_free(&u);
	finish(&r);

	/* strings move as sc_bytes; 'add' on them or on bool is refused */
	m = model(16);
	add(m->graph, "ScatterElements", "s", "x,i,u", "y");
	int dts[] = {SC_STRING, SC_INT64, SC_STRING};
	r = start(m, "x,i,u", "y", dts);
	sc_tensor xs = make(SC_STRING, 1, d2, NULL), us = make(SC_STRING, 1, d3, NULL);
	const char *words[] = {"a", "bb", "ccc", "dddd", "eeeee"};
	for (int i = 0; i < 5; i++) {
		sc_bytes *b = i < 2 ? &((sc_bytes *)xs.data)[i] : &((sc_bytes *)us.data)[i - 2];
		b->len = strlen(words[i]);
		b->data = strdup(words[i]);
	}
	const sc_tensor *ins[] = {&xs, &ix, &us};
	run_ok(&r, 3, nm, ins);
	const sc_bytes *ys = plan_output(r.p, 0)->data;
	/* position 0 gets "ccc" then "eeeee"; position 1 "dddd" */
	assert_int_equal(ys[0].len, 5);
	assert_memory_equal(ys[0].data, "eeeee", 5);
	assert_int_equal(ys[1].len, 4);
	assert_memory_equal(ys[1].data, "dddd", 4);
	tensor_free(&xs);
	tensor_free(&us);
	finish(&r);

	m = model(16);
	attr_str(add(m->graph, "ScatterElements", "s", "x,i,u", "y"), "reduction", "add");
	int dtb[] = {SC_BOOL, SC_INT64, SC_BOOL};
	r = start(m, "x,i,u", "y", dtb);
	sc_tensor xb = make(SC_BOOL, 1, d2, NULL), ub = make(SC_BOOL, 1, d3, NULL);
	const sc_tensor *inb[] = {&xb, &ix, &ub};
	sc_error err = {0};
	assert_int_equal(run(&r, 3, nm, inb, &err), SC_EUNSUPPORTED);
	assert_non_null(strstr(err.msg, "node 's' (ScatterElements): reduction 'add' on bool data"));
	tensor_free(&xb);
	tensor_free(&ub);
	finish(&r);
	tensor_free(&ix);
}

/* plan_create's status on m, inputs and outputs declared as start() does;
 * frees m. */
static int plan_status(graph_model *m, const char *ins, const char *outs,
		       const int *in_dtypes, sc_error *err)
{
	graph *g = m->graph;
	int ids[16];
	int n = names(g, ins, ids);
	for (int i = 0; i < n; i++) {
		push_input(g, ids[i]);
		parse_type(&g->values[ids[i]].type, in_dtypes[i], NULL);
	}
	n = names(g, outs, ids);
	for (int i = 0; i < n; i++)
		push_output(g, ids[i]);
	plan_options opt = {.threads = 1};
	plan *p = NULL;
	int rc = plan_create(m, &opt, &p, err);
	plan_free(p);
	graph_model_free(m);
	return rc;
}

/* The run-time error of one scatter node on the given tensors. */
static void expect_scatter_error(int64_t opset, const char *op, int axis,
				 const sc_tensor *x, const sc_tensor *ix,
				 const sc_tensor *up, const char *msg)
{
	graph_model *m = model(opset);
	graph_node *n = add(m->graph, op, "s", up ? "x,i,u" : "x,i", "y");
	if (axis != INT32_MIN)
		attr_int(n, "axis", axis);
	int dt[] = {x->dtype, ix->dtype, up ? up->dtype : 0};
	runner r = start(m, up ? "x,i,u" : "x,i", "y", dt);
	const char *nm[] = {"x", "i", "u"};
	const sc_tensor *in[] = {x, ix, up};
	sc_error err = {0};
	assert_int_equal(run(&r, up ? 3 : 2, nm, in, &err), SC_EINVAL);
	if (!strstr(err.msg, msg))
		fail_msg("%s: error '%s' lacks '%s'", op, err.msg, msg);
	finish(&r);
}

static void test_scatter_errors(void **state)
{
	(void)state;
	const int64_t xd[] = {3, 4}, id[] = {2, 3}, bad_u[] = {2, 2}, tall[] = {4, 1};
	const int64_t iv[] = {0, 1, 2, 3, 1, 0};
	sc_tensor x = quarters_f32(2, xd, 0), ix = make(SC_INT64, 2, id, iv);
	sc_tensor up = quarters_f32(2, id, 0), up_bad = quarters_f32(2, bad_u, 0);
	/* 3 is inside axis 1 (4 columns) but not axis 0 (3 rows) */
	expect_scatter_error(16, "ScatterElements", 0, &x, &ix, &up,
			     "node 's' (ScatterElements): indices[3] = 3 is outside [-3, 2], axis 0 of data");
	expect_scatter_error(10, "Scatter", -2, &x, &ix, &up, "indices[3] = 3 is outside [-3, 2]");
	expect_scatter_error(16, "ScatterElements", 1, &x, &ix, &up_bad,
			     "updates are [2,2], indices [2,3]; they must agree");
	sc_tensor ix_tall = make(SC_INT64, 2, tall, iv);
	sc_tensor up_tall = quarters_f32(2, tall, 0);
	expect_scatter_error(16, "ScatterElements", 1, &x, &ix_tall, &up_tall,
			     "indices have 4 along axis 0, data only 3");
	expect_scatter_error(16, "ScatterElements", 2, &x, &ix, &up,
			     "axis 2 is out of range for rank 2");

	/* ScatterND: updates must be indices.shape[:-1] + data.shape[k:] */
	const int64_t nd_i[] = {2, 1}, nd_iv[] = {2, -4}, u4[] = {2, 4}, u3[] = {2, 3};
	sc_tensor nix = make(SC_INT64, 2, nd_i, nd_iv);
	sc_tensor nu = quarters_f32(2, u4, 0), nu_bad = quarters_f32(2, u3, 0);
	expect_scatter_error(16, "ScatterND", INT32_MIN, &x, &nix, &nu,
			     "node 's' (ScatterND): index tuple 1: element 0 = -4 is outside [-3, 2], axis 0 of data");
	expect_scatter_error(16, "ScatterND", INT32_MIN, &x, &nix, &nu_bad,
			     "updates are [2,3], expected [2,4] (indices.shape[:-1] + data.shape[1:])");
	const int64_t k3[] = {1, 3}, k3v[] = {0, 0, 0}, one[] = {1};
	sc_tensor ix3 = make(SC_INT64, 2, k3, k3v), u1 = quarters_f32(1, one, 0);
	expect_scatter_error(16, "ScatterND", INT32_MIN, &x, &ix3, &u1,
			     "indices' last dim is 3; it must be in [1, 2], the rank of data");
	/* GatherND */
	expect_scatter_error(13, "GatherND", INT32_MIN, &x, &ix3, NULL,
			     "indices' last dim is 3; it must be in [1, 2]");
	expect_scatter_error(13, "GatherND", INT32_MIN, &x, &nix, NULL,
			     "node 's' (GatherND): index tuple 1: element 0 = -4 is outside [-3, 2]");

	/* attributes are refused when the graph is checked */
	sc_error err = {0};
	int dt[] = {SC_FLOAT, SC_INT64, SC_FLOAT};
	graph_model *m = model(16);
	attr_str(add(m->graph, "ScatterElements", "s", "x,i,u", "y"), "reduction", "max");
	assert_int_equal(plan_status(m, "x,i,u", "y", dt, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "reduction 'max' needs opset 18 (the model imports 16)"));
	m = model(18);
	attr_str(add(m->graph, "ScatterND", "s", "x,i,u", "y"), "reduction", "sum");
	assert_int_equal(plan_status(m, "x,i,u", "y", dt, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "reduction 'sum' is not none, add, mul, max or min"));
	m = model(15);
	attr_str(add(m->graph, "ScatterElements", "s", "x,i,u", "y"), "reduction", "add");
	assert_int_equal(plan_status(m, "x,i,u", "y", dt, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "unknown attribute 'reduction'"));
	int float_ix[] = {SC_FLOAT, SC_FLOAT, SC_FLOAT};
	m = model(16);
	add(m->graph, "ScatterElements", "s", "x,i,u", "y");
	assert_int_equal(plan_status(m, "x,i,u", "y", float_ix, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "indices must be int32 or int64, not float32"));
	int int_up[] = {SC_FLOAT, SC_INT64, SC_INT64};
	m = model(16);
	add(m->graph, "ScatterND", "s", "x,i,u", "y");
	assert_int_equal(plan_status(m, "x,i,u", "y", int_up, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "updates are int64, data is float32"));
	m = model(11);
	attr_int(add(m->graph, "GatherND", "s", "x,i", "y"), "batch_dims", 1);
	assert_int_equal(plan_status(m, "x,i", "y", dt, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "unknown attribute 'batch_dims'"));
	/* Scatter is 9-10 only; ScatterElements from 11 */
	m = model(11);
	add(m->graph, "Scatter", "s", "x,i,u", "y");
	assert_int_equal(plan_status(m, "x,i,u", "y", dt, &err), SC_EUNSUPPORTED);
	sc_tensor *all[] = {&x, &ix, &up, &up_bad, &ix_tall, &up_tall, &nix, &nu,
			    &nu_bad, &ix3, &u1};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		tensor_free(all[i]);
}

static void test_scatter_nd_forms(void **state)
{
	(void)state;
	const int64_t xd[] = {4, 3, 2};
	struct {
		int k, q;
		int64_t idims[3];
		int64_t iv[6];
	} cases[] = {
		/* k = 1, a repeated row and a negative one */
		{1, 2, {3, 1}, {-1, 0, 3}},
		/* k = 2 on 2-D indices of tuples */
		{2, 3, {2, 1, 2}, {1, -1, 3, 0}},
		/* k = rank: single elements */
		{3, 2, {2, 3}, {0, 2, 1, -4, -3, -2}},
	};
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
		for (int red = 0; red < 5; red++) {
			graph_model *m = model(18);
			attr_str(add(m->graph, "ScatterND", "s", "x,i,u", "y"), "reduction",
				 red_names[red]);
			int dt[] = {SC_FLOAT, SC_INT64, SC_FLOAT};
			runner r = start(m, "x,i,u", "y", dt);
			int k = cases[c].k, q = cases[c].q;
			int64_t udims[SC_MAX_RANK];
			int ur = 0;
			for (int d = 0; d < q - 1; d++)
				udims[ur++] = cases[c].idims[d];
			for (int d = k; d < 3; d++)
				udims[ur++] = xd[d];
			sc_tensor x = quarters_f32(3, xd, 2);
			sc_tensor ix = make(SC_INT64, q, cases[c].idims, cases[c].iv);
			sc_tensor up = quarters_f32(ur, udims, 3);
			const char *nm[] = {"x", "i", "u"};
			const sc_tensor *in[] = {&x, &ix, &up};
			run_ok(&r, 3, nm, in);
			float want[24];
			naive_scatter_nd(&x, cases[c].iv, ix.numel / k, k, up.data, red, want);
			expect_dims(plan_output(r.p, 0), 3, 4, 3, 2);
			expect_f32(plan_output(r.p, 0), 24, want);
			tensor_free(&x);
			tensor_free(&ix);
			tensor_free(&up);
			finish(&r);
		}
}

/* GatherND by its definition, with b batch axes shared by data and
 * indices. */
static void naive_gather_nd(const sc_tensor *x, const int32_t *ix, int q,
			    const int64_t *idims, int b, float *y)
{
	int k = (int)idims[q - 1];
	int64_t batches = product(b, x->dims), tuples = product(q - 1 - b, idims + b);
	int64_t slice = product(x->rank - b - k, x->dims + b + k);
	const float *src = x->data;
	for (int64_t bi = 0; bi < batches; bi++)
		for (int64_t t = 0; t < tuples; t++) {
			int64_t coord[SC_MAX_RANK] = {0}, rem = bi;
			for (int d = b - 1; d >= 0; d--) {
				coord[d] = rem % x->dims[d];
				rem /= x->dims[d];
			}
			const int32_t *tup = ix + (bi * tuples + t) * k;
			for (int j = 0; j < k; j++)
				coord[b + j] = tup[j] < 0 ? tup[j] + x->dims[b + j] : tup[j];
			int64_t base = offset_of(x->rank, x->dims, coord);
			for (int64_t s = 0; s < slice; s++)
				y[(bi * tuples + t) * slice + s] = src[base + s];
		}
}

static void test_gather_nd_batch_dims(void **state)
{
	(void)state;
	const int64_t xd[] = {2, 3, 4};
	struct {
		int64_t opset;
		int b, q, out_rank;
		int64_t idims[3], out[3];
		int32_t iv[6];
	} cases[] = {
		{11, 0, 2, 2, {2, 2}, {2, 4}, {1, -1, 0, 2}},
		{13, 0, 2, 1, {2, 3}, {2}, {1, 2, -1, 0, -3, 0}},
		{12, 1, 3, 3, {2, 2, 1}, {2, 2, 4}, {2, -3, -1, 1}},
		{13, 1, 2, 1, {2, 2}, {2}, {0, 3, 2, -1}},
		{13, 2, 3, 2, {2, 3, 1}, {2, 3}, {3, 0, -1, 1, 2, -4}},
	};
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		graph_model *m = model(cases[c].opset);
		graph_node *n = add(m->graph, "GatherND", "g", "x,i", "y");
		if (cases[c].b)
			attr_int(n, "batch_dims", cases[c].b);
		int dt[] = {SC_FLOAT, SC_INT32};
		runner r = start(m, "x,i", "y", dt);
		sc_tensor x = iota_f32(3, xd);
		sc_tensor ix = make(SC_INT32, cases[c].q, cases[c].idims, cases[c].iv);
		const char *nm[] = {"x", "i"};
		const sc_tensor *in[] = {&x, &ix};
		run_ok(&r, 2, nm, in);
		const sc_tensor *y = plan_output(r.p, 0);
		assert_int_equal(y->rank, cases[c].out_rank);
		for (int d = 0; d < y->rank; d++)
			assert_int_equal(y->dims[d], cases[c].out[d]);
		float want[24];
		naive_gather_nd(&x, cases[c].iv, cases[c].q, cases[c].idims, cases[c].b, want);
		expect_f32(y, (int)y->numel, want);
		tensor_free(&x);
		tensor_free(&ix);
		finish(&r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transpose_4d_big),
		cmocka_unit_test(test_transpose_odd_sizes_and_dtypes),
		cmocka_unit_test(test_slice_negative_steps_and_clamping),
		cmocka_unit_test(test_slice_opset9_attributes),
		cmocka_unit_test(test_pad_modes),
		cmocka_unit_test(test_pad_opset2_attributes),
		cmocka_unit_test(test_pad_big),
		cmocka_unit_test(test_concat_big_and_empty),
		cmocka_unit_test(test_split_forms),
		cmocka_unit_test(test_gather_int32_negative_and_errors),
		cmocka_unit_test(test_string_tensors),
		cmocka_unit_test(test_reshape_value_changes),
		cmocka_unit_test(test_squeeze_unsqueeze_forms),
		cmocka_unit_test(test_expand_and_tile),
		cmocka_unit_test(test_tile_big),
		cmocka_unit_test(test_depth_space_round_trip),
		cmocka_unit_test(test_makers),
		cmocka_unit_test(test_constant_forms),
		cmocka_unit_test(test_scatter_elements_axes_and_reductions),
		cmocka_unit_test(test_scatter_elements_dtypes),
		cmocka_unit_test(test_scatter_errors),
		cmocka_unit_test(test_scatter_nd_forms),
		cmocka_unit_test(test_gather_nd_batch_dims),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
