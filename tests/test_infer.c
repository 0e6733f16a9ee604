/* test_infer.c: shape and type inference.
 *
 * Per-op cases build small graphs with the graph.h API and compare every
 * inferred type with sizes worked out by hand from the ONNX operator spec
 * (the arithmetic is in the comments).  The conformance case runs the
 * inference on ONNX's own backend test models: with the graph outputs'
 * declared types erased first, what we infer must match them. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "onnx/onnx.h"
#include "ops/infer_util.h"
#include "ops/registry.h"
#include "runtime/graph.h"
#include "runtime/infer.h"

#include "model_builder.h"

static void infer_ok(graph_model *m)
{
	sc_error err = {0};
	int rc = graph_infer_shapes(m, &err);
	if (rc)
		fail_msg("inference failed: %s", err.msg);
}

static void infer_fails(graph_model *m, const char *needle)
{
	sc_error err = {0};
	int rc = graph_infer_shapes(m, &err);
	if (rc != SC_EINVAL || !strstr(err.msg, needle))
		fail_msg("expected failure with \"%s\", got %d: %s", needle, rc,
			 err.msg);
}

/* Checks the type of value `name`, written like "float32[N,64,56,56]". */
static void expect_type(const graph_model *m, const char *name, const char *want)
{
	int v = graph_find_value(m->graph, name);
	assert_true(v >= 0);
	char got[256];
	infer_type_str(&m->graph->values[v].type, got, sizeof got);
	if (strcmp(got, want) != 0)
		fail_msg("value '%s': inferred %s, expected %s", name, got, want);
}

/* --- a small residual network with a symbolic batch ------------------------ */

/* A CIFAR-style ResNet block stack, with every size worked out by hand:
 *   x            [N,3,32,32]
 *   conv1 3x3 s1 p1, 16 out: (32+2-3)/1+1 = 32       -> [N,16,32,32]
 *   bn1, relu1                                        -> same
 *   pool 3x3 s2 p1: (32+2-3)/2+1 = 15+1 = 16          -> [N,16,16,16]
 *   conv2 3x3 s1 p1 + bn2 + relu, conv3 3x3 s1 p1 + bn3 -> [N,16,16,16]
 *   add (identity shortcut) + relu                    -> [N,16,16,16]
 *   conv4 3x3 s2 p1, 32 out: (16+2-3)/2+1 = 7+1 = 8   -> [N,32,8,8]
 *   down 1x1 s2 p0: (16-1)/2+1 = 8                    -> [N,32,8,8]
 *   add2 + relu, global average pool                  -> [N,32,1,1]
 *   flatten axis 1                                    -> [N,32]
 *   fc: Gemm transB with W [10,32], b [10]            -> [N,10]
 *   reshape [0,-1] of the pooled map: N*32 / N        -> [N,32]
 *   softmax                                           -> [N,10]   */
static void test_resnet_block_symbolic_batch(void **state)
{
	(void)state;
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "N,3,32,32");
	init_shape(g, "w1", "16,3,3,3");
	init_shape(g, "w2", "16,16,3,3");
	init_shape(g, "w3", "16,16,3,3");
	init_shape(g, "w4", "32,16,3,3");
	init_shape(g, "wd", "32,16,1,1");
	init_shape(g, "fc.w", "10,32");
	init_shape(g, "fc.b", "10");
	init_ints(g, "flat_shape", 2, 0, -1);

	conv(g, "conv1", "x", "w1", "c1", 3, 1, 1);
	bn(g, "bn1", "c1", "b1", 16);
	add(g, "Relu", "relu1", "b1", "r1");
	graph_node *p = add(g, "MaxPool", "pool", "r1", "p1");
	attr_ints(p, "kernel_shape", 2, 3, 3);
	attr_ints(p, "strides", 2, 2, 2);
	attr_ints(p, "pads", 4, 1, 1, 1, 1);
	conv(g, "conv2", "p1", "w2", "c2", 3, 1, 1);
	bn(g, "bn2", "c2", "b2", 16);
	add(g, "Relu", "relu2", "b2", "r2");
	conv(g, "conv3", "r2", "w3", "c3", 3, 1, 1);
	bn(g, "bn3", "c3", "b3", 16);
	add(g, "Add", "add1", "b3,p1", "s1");
	add(g, "Relu", "relu3", "s1", "r3");
	conv(g, "conv4", "r3", "w4", "c4", 3, 2, 1);
	conv(g, "down", "r3", "wd", "d4", 1, 2, 0);
	add(g, "Add", "add2", "c4,d4", "s2");
	add(g, "Relu", "relu4", "s2", "r4");
	add(g, "GlobalAveragePool", "gap", "r4", "gp");
	add(g, "Flatten", "flatten", "gp", "f");
	graph_node *fc = add(g, "Gemm", "fc", "f,fc.w,fc.b", "logits");
	attr_int(fc, "transB", 1);
	add(g, "Reshape", "reshape", "gp,flat_shape", "f2");
	add(g, "Softmax", "softmax", "logits", "prob");
	declare(g, "prob", SC_FLOAT, "N,10");
	infer_ok(m);

	expect_type(m, "c1", "float32[N,16,32,32]");
	expect_type(m, "b1", "float32[N,16,32,32]");
	expect_type(m, "r1", "float32[N,16,32,32]");
	expect_type(m, "p1", "float32[N,16,16,16]");
	expect_type(m, "c2", "float32[N,16,16,16]");
	expect_type(m, "r2", "float32[N,16,16,16]");
	expect_type(m, "b3", "float32[N,16,16,16]");
	expect_type(m, "s1", "float32[N,16,16,16]");
	expect_type(m, "r3", "float32[N,16,16,16]");
	expect_type(m, "c4", "float32[N,32,8,8]");
	expect_type(m, "d4", "float32[N,32,8,8]");
	expect_type(m, "s2", "float32[N,32,8,8]");
	expect_type(m, "r4", "float32[N,32,8,8]");
	expect_type(m, "gp", "float32[N,32,1,1]");
	expect_type(m, "f", "float32[N,32]");
	expect_type(m, "logits", "float32[N,10]");
	expect_type(m, "f2", "float32[N,32]");
	expect_type(m, "prob", "float32[N,10]");
	expect_type(m, "w1", "float32[16,3,3,3]");
	expect_type(m, "flat_shape", "int64[2]");

	/* running it again changes nothing */
	infer_ok(m);
	expect_type(m, "r4", "float32[N,32,8,8]");
	graph_model_free(m);
}

/* A declaration that contradicts the inference names node and value. */
static void test_declared_conflict(void **state)
{
	(void)state;
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "N,3,32,32");
	init_shape(g, "w", "8,3,3,3");
	conv(g, "conv1", "x", "w", "y", 3, 1, 0);
	declare(g, "y", SC_FLOAT, "N,8,32,32");  /* really 30x30 */
	infer_fails(m, "node 'conv1' (Conv): 'y' is declared float32[N,8,32,32] but inferred float32[N,8,30,30]");
	graph_model_free(m);

	m = model(13);
	g = m->graph;
	input(g, "x", SC_FLOAT, "N,4");
	add(g, "Relu", "r", "x", "y");
	declare(g, "y", SC_DOUBLE, NULL);
	infer_fails(m, "node 'r' (Relu): 'y' is declared float64[...] but inferred float32[N,4]");
	graph_model_free(m);
}

/* Declarations fill in what inference cannot know, and known sizes beat
 * symbolic ones. */
static void test_declared_merge(void **state)
{
	(void)state;
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "N,?");
	add(g, "Relu", "r", "x", "y");
	add(g, "NoSuchOp", "mystery", "y", "z");
	declare(g, "y", SC_FLOAT, "?,7");
	declare(g, "z", SC_INT8, "3");
	add(g, "Relu", "r2", "y", "y2");
	infer_ok(m);
	expect_type(m, "y", "float32[N,7]");
	expect_type(m, "z", "int8[3]");
	expect_type(m, "y2", "float32[N,7]");
	graph_model_free(m);

	m = model(13);
	g = m->graph;
	input(g, "x", SC_FLOAT, "batch,5");
	add(g, "Relu", "r", "x", "y");
	declare(g, "y", SC_FLOAT, "4,5");
	infer_ok(m);
	expect_type(m, "y", "float32[4,5]");
	graph_model_free(m);
}

/* An initializer that is also a graph input must match its declaration. */
static void test_initializer_types(void **state)
{
	(void)state;
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "w", SC_FLOAT, "4,?");
	init_shape(g, "w", "4,6");
	infer_ok(m);
	expect_type(m, "w", "float32[4,6]");
	graph_model_free(m);

	m = model(13);
	g = m->graph;
	input(g, "w", SC_FLOAT, "4,5");
	init_shape(g, "w", "4,6");
	infer_fails(m, "'w' is declared float32[4,5] but inferred float32[4,6]");
	graph_model_free(m);
}

/* --- Conv ------------------------------------------------------------------ */

/* SAME_UPPER, stride 2: out = ceil(in / 2): 7 -> 4, 5 -> 3.  Total padding
 * (out-1)*s + k - in: 3*2+3-7 = 2 (1 + 1) and 2*2+3-5 = 2 (1 + 1). */
static void test_conv_same_upper_odd(void **state)
{
	(void)state;
	graph_model *m = model(11);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "N,2,7,5");
	init_shape(g, "w", "6,2,3,3");
	init_shape(g, "b", "6");
	graph_node *n = add(g, "Conv", "c", "x,w,b", "y");
	attr_str(n, "auto_pad", "SAME_UPPER");
	attr_ints(n, "strides", 2, 2, 2);
	infer_ok(m);
	expect_type(m, "y", "float32[N,6,4,3]");
	graph_model_free(m);
}

/* The padding split for an odd total: in 6, k 3, s 2 -> out 3, total
 * 2*2+3-6 = 1: SAME_UPPER puts it at the end, SAME_LOWER at the start. */
static void test_window_padding(void **state)
{
	(void)state;
	int64_t pb, pe, out;
	assert_int_equal(infer_window_out(6, 3, 2, 1, INFER_PAD_SAME_UPPER, 0, &pb, &pe, &out), 0);
	assert_int_equal(out, 3);
	assert_int_equal(pb, 0);
	assert_int_equal(pe, 1);
	assert_int_equal(infer_window_out(6, 3, 2, 1, INFER_PAD_SAME_LOWER, 0, &pb, &pe, &out), 0);
	assert_int_equal(out, 3);
	assert_int_equal(pb, 1);
	assert_int_equal(pe, 0);
	/* VALID: (10 - ((3-1)*2+1)) / 3 + 1 = 5/3 + 1 = 2 */
	pb = pe = 7;
	assert_int_equal(infer_window_out(10, 3, 3, 2, INFER_PAD_VALID, 0, &pb, &pe, &out), 0);
	assert_int_equal(out, 2);
	assert_int_equal(pb, 0);
	assert_int_equal(pe, 0);
	/* a window larger than the padded input */
	pb = pe = 0;
	assert_int_equal(infer_window_out(2, 3, 1, 1, INFER_PAD_NOTSET, 0, &pb, &pe, &out), -1);
	/* kernel 0 or stride 0 are refused */
	assert_int_equal(infer_window_out(8, 0, 1, 1, INFER_PAD_NOTSET, 0, &pb, &pe, &out), -1);
	assert_int_equal(infer_window_out(8, 2, 0, 1, INFER_PAD_NOTSET, 0, &pb, &pe, &out), -1);
}

/* Groups and dilations: X [2,8,9,9], W [16,2,3,3] with group 4 (8 = 2*4),
 * dilation 2: effective kernel (3-1)*2+1 = 5, out 9-5+1 = 5.  SAME_LOWER
 * stride 1 keeps a symbolic height. */
static void test_conv_groups_dilations(void **state)
{
	(void)state;
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "2,8,9,9");
	input(g, "x2", SC_FLOAT, "N,8,H,9");
	init_shape(g, "w", "16,2,3,3");
	graph_node *n = add(g, "Conv", "c", "x,w", "y");
	attr_int(n, "group", 4);
	attr_ints(n, "dilations", 2, 2, 2);
	n = add(g, "Conv", "c2", "x2,w", "y2");
	attr_int(n, "group", 4);
	attr_str(n, "auto_pad", "SAME_LOWER");
	infer_ok(m);
	expect_type(m, "y", "float32[2,16,5,5]");
	expect_type(m, "y2", "float32[N,16,H,9]");
	graph_model_free(m);

	m = model(13);
	g = m->graph;
	input(g, "x", SC_FLOAT, "2,8,9,9");
	init_shape(g, "w", "16,3,3,3");
	n = add(g, "Conv", "bad", "x,w", "y");
	attr_int(n, "group", 4);
	infer_fails(m, "node 'bad' (Conv): X has 8 channels but W expects 12 (3 per group x 4 groups)");
	graph_model_free(m);

	m = model(13);
	g = m->graph;
	input(g, "x", SC_FLOAT, "1,1,5");
	init_shape(g, "w", "1,1,3");
	init_shape(g, "b", "2");
	add(g, "Conv", "c1d", "x,w,b", "y");
	infer_fails(m, "node 'c1d' (Conv): B has 2 values for 1 output channels");
	graph_model_free(m);
}

/* ConvTranspose: out = s*(in-1) + output_padding + (k-1)*d+1 - pads:
 * 2*(5-1) + 1 + 3 - 2 = 10; channels W[1]*group = 3*2 = 6. */
static void test_conv_transpose(void **state)
{
	(void)state;
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "N,4,5,5");
	init_shape(g, "w", "4,3,3,3");
	graph_node *n = add(g, "ConvTranspose", "ct", "x,w", "y");
	attr_int(n, "group", 2);
	attr_ints(n, "strides", 2, 2, 2);
	attr_ints(n, "pads", 4, 1, 1, 1, 1);
	attr_ints(n, "output_padding", 2, 1, 1);
	infer_ok(m);
	expect_type(m, "y", "float32[N,6,10,10]");
	graph_model_free(m);
}

/* --- BatchNormalization ----------------------------------------------------- */

static void test_batchnorm_outputs(void **state)
{
	(void)state;
	/* opset 9: Y plus mean, var, saved_mean, saved_var, all [C] */
	graph_model *m = model(9);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "N,5,4,4");
	bn(g, "bn", "x", "y,mean,var,smean,svar", 5);
	infer_ok(m);
	expect_type(m, "y", "float32[N,5,4,4]");
	expect_type(m, "mean", "float32[5]");
	expect_type(m, "svar", "float32[5]");
	graph_model_free(m);

	/* opset 15 training mode: running stats take the stats' own type */
	m = model(15);
	g = m->graph;
	input(g, "x", SC_FLOAT16, "N,5,4,4");
	input(g, "s", SC_FLOAT, "5");
	input(g, "b", SC_FLOAT, "5");
	input(g, "rm", SC_DOUBLE, "?");
	input(g, "rv", SC_DOUBLE, "5");
	graph_node *n = add(g, "BatchNormalization", "bn", "x,s,b,rm,rv", "y,m_out,v_out");
	attr_int(n, "training_mode", 1);
	infer_ok(m);
	expect_type(m, "y", "float16[N,5,4,4]");
	expect_type(m, "m_out", "float64[5]");
	expect_type(m, "v_out", "float64[5]");
	graph_model_free(m);

	/* opset 14 inference mode has no running outputs */
	m = model(14);
	g = m->graph;
	input(g, "x", SC_FLOAT, "N,5");
	bn(g, "bn", "x", "y,m_out", 5);
	infer_fails(m, "node 'bn' (BatchNormalization): running_mean and running_var are outputs only with training_mode=1");
	graph_model_free(m);

	/* channel mismatch */
	m = model(13);
	g = m->graph;
	input(g, "x", SC_FLOAT, "N,6,4,4");
	bn(g, "bn", "x", "y", 5);
	infer_fails(m, "node 'bn' (BatchNormalization): scale has 5 values along axis 0 where X has 6");
	graph_model_free(m);
}

/* --- pooling ---------------------------------------------------------------- */

/* ceil_mode: 32, k3, s2: floor (29/2)+1 = 15, ceil 15+1 = 16.
 * 5, k2, s2, pads 1+1: span 5+2-2 = 5, ceil(5/2)+1 = 4, but the 4th window
 * would start at (4-1)*2 = 6 >= 5+1, inside the end padding: 3.  PyTorch
 * and ONNX Runtime 1.30 give 3; ONNX 1.12's own shape inference says 4. */
static void test_maxpool_ceil(void **state)
{
	(void)state;
	graph_model *m = model(12);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "N,3,32,5");
	graph_node *n = add(g, "MaxPool", "floor", "x", "y0");
	attr_ints(n, "kernel_shape", 2, 3, 2);
	attr_ints(n, "strides", 2, 2, 2);
	attr_ints(n, "pads", 4, 0, 1, 0, 1);
	n = add(g, "MaxPool", "ceil", "x", "y1,idx");
	attr_ints(n, "kernel_shape", 2, 3, 2);
	attr_ints(n, "strides", 2, 2, 2);
	attr_ints(n, "pads", 4, 0, 1, 0, 1);
	attr_int(n, "ceil_mode", 1);
	n = add(g, "AveragePool", "avg", "x", "y2");
	attr_ints(n, "kernel_shape", 2, 2, 2);
	attr_str(n, "auto_pad", "VALID");
	add(g, "GlobalMaxPool", "gmp", "x", "y3");
	infer_ok(m);
	expect_type(m, "y0", "float32[N,3,15,3]");
	expect_type(m, "y1", "float32[N,3,16,3]");
	expect_type(m, "idx", "int64[N,3,16,3]");
	expect_type(m, "y2", "float32[N,3,31,4]");
	expect_type(m, "y3", "float32[N,3,1,1]");
	graph_model_free(m);

	m = model(12);
	g = m->graph;
	input(g, "x", SC_FLOAT, "N,3,2,2");
	n = add(g, "MaxPool", "big", "x", "y");
	attr_ints(n, "kernel_shape", 2, 3, 3);
	infer_fails(m, "node 'big' (MaxPool): spatial axis 0: a window of 3 taps");
	graph_model_free(m);
}

/* --- matrix products ----------------------------------------------------- */

/* MatMul: [2,1,3,4] x [5,4,6]: batch [2,1] with [5] -> [2,5], -> [2,5,3,6].
 * 1-D operands: [4]x[4,6] -> [6]; [N,3,4]x[4] -> [N,3]; [4]x[4] -> []. */
static void test_matmul(void **state)
{
	(void)state;
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "a", SC_FLOAT, "2,1,3,4");
	input(g, "b", SC_FLOAT, "5,4,6");
	input(g, "v", SC_FLOAT, "4");
	input(g, "w", SC_FLOAT, "4,6");
	input(g, "t", SC_FLOAT, "N,3,4");
	add(g, "MatMul", "mm", "a,b", "y");
	add(g, "MatMul", "vm", "v,w", "y1");
	add(g, "MatMul", "mv", "t,v", "y2");
	add(g, "MatMul", "vv", "v,v", "y3");
	infer_ok(m);
	expect_type(m, "y", "float32[2,5,3,6]");
	expect_type(m, "y1", "float32[6]");
	expect_type(m, "y2", "float32[N,3]");
	expect_type(m, "y3", "float32[]");
	graph_model_free(m);

	m = model(13);
	g = m->graph;
	input(g, "a", SC_FLOAT, "3,4");
	input(g, "b", SC_FLOAT, "5,6");
	add(g, "MatMul", "mm", "a,b", "y");
	infer_fails(m, "node 'mm' (MatMul): inner dimensions differ: A has 4 columns, B has 5 rows");
	graph_model_free(m);

	m = model(13);
	g = m->graph;
	input(g, "a", SC_FLOAT, "3,4");
	input(g, "b", SC_INT64, "4,6");
	add(g, "MatMul", "mm", "a,b", "y");
	infer_fails(m, "inputs 'a' (float32) and 'b' (int64) must have the same type");
	graph_model_free(m);
}

/* Gemm: A [4,3] with transA is 3x4 (M 3, K 4); B [5,4] with transB is 4x5
 * (N 5): Y [3,5].  C [5] and [3,1] broadcast; C [2] does not. */
static void test_gemm(void **state)
{
	(void)state;
	const char *good[] = {"5", "3,1", ""};
	for (int i = 0; i < 3; i++) {
		graph_model *m = model(13);
		graph *g = m->graph;
		input(g, "a", SC_FLOAT, "4,3");
		input(g, "b", SC_FLOAT, "5,4");
		input(g, "c", SC_FLOAT, good[i]);
		graph_node *n = add(g, "Gemm", "gemm", "a,b,c", "y");
		attr_int(n, "transA", 1);
		attr_int(n, "transB", 1);
		infer_ok(m);
		expect_type(m, "y", "float32[3,5]");
		graph_model_free(m);
	}
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "a", SC_FLOAT, "N,4");
	input(g, "b", SC_FLOAT, "4,5");
	input(g, "c", SC_FLOAT, "2");
	add(g, "Gemm", "gemm", "a,b,c", "y");
	infer_fails(m, "node 'gemm' (Gemm): C dim 0 is 2, cannot broadcast to 5");
	graph_model_free(m);

	m = model(13);
	g = m->graph;
	input(g, "a", SC_FLOAT, "N,4");
	input(g, "b", SC_FLOAT, "5,4");
	add(g, "Gemm", "gemm", "a,b", "y");  /* K 4 vs 5 without transB */
	infer_fails(m, "node 'gemm' (Gemm): A has K = 4 but B has K = 5");
	graph_model_free(m);
}

/* --- elementwise --------------------------------------------------------- */

/* [N,3,1] + [4] -> [N,3,4]; [1,?] + [5,1] -> [5,?]; comparisons are bool. */
static void test_broadcast(void **state)
{
	(void)state;
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "a", SC_FLOAT, "N,3,1");
	input(g, "b", SC_FLOAT, "4");
	input(g, "c", SC_FLOAT, "1,?");
	input(g, "d", SC_FLOAT, "5,1");
	input(g, "e", SC_FLOAT, "M,1");
	add(g, "Add", "add", "a,b", "y");
	add(g, "Mul", "mul", "c,d", "y1");
	add(g, "Less", "less", "a,b", "y2");
	add(g, "Max", "max", "b", "y4");
	add(g, "Sub", "sub", "e,a", "y5");
	add(g, "Pow", "pow", "a,b", "y6");
	infer_ok(m);
	expect_type(m, "y", "float32[N,3,4]");
	expect_type(m, "y1", "float32[5,?]");
	expect_type(m, "y2", "bool[N,3,4]");
	expect_type(m, "y4", "float32[4]");
	/* [M,1] against [N,3,1]: M must be 3 (or 1), so the 3 stands */
	expect_type(m, "y5", "float32[N,3,1]");
	expect_type(m, "y6", "float32[N,3,4]");
	graph_model_free(m);

	/* [N,3,1],[4] -> [N,3,4]; with [5,1]: 3 vs 5 cannot broadcast */
	m = model(13);
	g = m->graph;
	input(g, "a", SC_FLOAT, "N,3,1");
	input(g, "b", SC_FLOAT, "4");
	input(g, "d", SC_FLOAT, "5,1");
	add(g, "Sum", "sum", "a,b,d", "y");
	infer_fails(m, "node 'sum' (Sum): cannot broadcast float32[N,3,4] with float32[5,1]");
	graph_model_free(m);

	/* two different symbols may still broadcast (one may be 1) */
	m = model(13);
	g = m->graph;
	input(g, "e", SC_FLOAT, "M,1");
	input(g, "a", SC_FLOAT, "N,K,1");
	input(g, "f", SC_FLOAT, "K,1");
	add(g, "Sub", "sub", "e,a", "y");
	add(g, "Sub", "sub2", "f,a", "y2");
	infer_ok(m);
	expect_type(m, "y", "float32[N,?,1]");
	expect_type(m, "y2", "float32[N,K,1]");
	graph_model_free(m);
}

static void test_unary_and_friends(void **state)
{
	(void)state;
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "N,8");
	input(g, "lo", SC_FLOAT, "");
	input(g, "cond", SC_BOOL, "N,1");
	const char *unary[] = {"Relu", "Sigmoid", "Tanh", "Sqrt", "Exp", "Log",
			       "Neg", "Abs", "Reciprocal", "Identity", "LeakyRelu"};
	for (int i = 0; i < 11; i++) {
		char out[16];
		snprintf(out, sizeof out, "u%d", i);
		add(g, unary[i], NULL, "x", out);
	}
	add(g, "Clip", "clip", "x,lo,", "clipped");
	graph_node *n = add(g, "Cast", "cast", "x", "as_int");
	attr_int(n, "to", SC_INT32);
	add(g, "Dropout", "drop", "x", "dropped,mask");
	add(g, "Shape", "shape", "x", "shp");
	add(g, "Size", "size", "x", "sz");
	add(g, "Where", "where", "cond,x,lo", "w");
	add(g, "Softmax", "sm", "x", "sm_out");
	add(g, "LogSoftmax", "lsm", "x", "lsm_out");
	infer_ok(m);
	for (int i = 0; i < 11; i++) {
		char out[16];
		snprintf(out, sizeof out, "u%d", i);
		expect_type(m, out, "float32[N,8]");
	}
	expect_type(m, "clipped", "float32[N,8]");
	expect_type(m, "as_int", "int32[N,8]");
	expect_type(m, "dropped", "float32[N,8]");
	expect_type(m, "mask", "bool[N,8]");
	expect_type(m, "shp", "int64[2]");
	expect_type(m, "sz", "int64[]");
	expect_type(m, "w", "float32[N,8]");
	expect_type(m, "sm_out", "float32[N,8]");
	expect_type(m, "lsm_out", "float32[N,8]");
	graph_model_free(m);

	/* Shape 15 slices: rank 4, start 1, end -1 -> dims 1..2 -> [2] */
	m = model(15);
	g = m->graph;
	input(g, "x", SC_FLOAT, "N,3,4,5");
	n = add(g, "Shape", "shape", "x", "s");
	attr_int(n, "start", 1);
	attr_int(n, "end", -1);
	infer_ok(m);
	expect_type(m, "s", "int64[2]");
	graph_model_free(m);

	m = model(13);
	g = m->graph;
	input(g, "x", SC_FLOAT, "N,8");
	n = add(g, "Cast", "cast", "x", "y");
	attr_int(n, "to", 99);
	infer_fails(m, "node 'cast' (Cast): 'to' = 99 is not a supported data type");
	graph_model_free(m);
}

/* --- shape ops --------------------------------------------------------------- */

/* Reshape of [2,3,4] (24 elements): [4,-1] -> [4,6]; [-1,12] -> [2,12];
 * [0,0,-1] -> [2,3,4]; [0,-1] of [N,512,1,1] -> [N,512]; [-1,512] of the
 * same -> N*512/512 = [N,512]; allowzero keeps a literal 0. */
static void test_reshape(void **state)
{
	(void)state;
	graph_model *m = model(14);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "2,3,4");
	input(g, "f", SC_FLOAT, "N,512,1,1");
	input(g, "z", SC_FLOAT, "0,3");
	input(g, "dyn", SC_INT64, "3");
	init_ints(g, "s1", 2, 4, -1);
	init_ints(g, "s2", 2, -1, 12);
	init_ints(g, "s3", 3, 0, 0, -1);
	init_ints(g, "s4", 2, 0, -1);
	init_ints(g, "s5", 2, -1, 512);
	init_ints(g, "s6", 2, 0, 3);
	add(g, "Reshape", "r1", "x,s1", "y1");
	add(g, "Reshape", "r2", "x,s2", "y2");
	add(g, "Reshape", "r3", "x,s3", "y3");
	add(g, "Reshape", "r4", "f,s4", "y4");
	add(g, "Reshape", "r5", "f,s5", "y5");
	graph_node *n = add(g, "Reshape", "r6", "z,s6", "y6");
	attr_int(n, "allowzero", 1);
	add(g, "Reshape", "r7", "x,dyn", "y7");
	/* the shape from a Constant node */
	n = add(g, "Constant", "const", NULL, "cs");
	sc_error err = {0};
	graph_attr *a = graph_node_add_attr(n, "value_ints", ATTR_INTS, &err);
	assert_non_null(a);
	a->ints = malloc(2 * sizeof *a->ints);
	a->ints[0] = 6;
	a->ints[1] = -1;
	a->n = 2;
	add(g, "Reshape", "r8", "x,cs", "y8");
	infer_ok(m);
	expect_type(m, "y1", "float32[4,6]");
	expect_type(m, "y2", "float32[2,12]");
	expect_type(m, "y3", "float32[2,3,4]");
	expect_type(m, "y4", "float32[N,512]");
	expect_type(m, "y5", "float32[N,512]");
	expect_type(m, "y6", "float32[0,3]");
	expect_type(m, "y7", "float32[?,?,?]");
	expect_type(m, "cs", "int64[2]");
	expect_type(m, "y8", "float32[6,4]");
	graph_model_free(m);

	m = model(13);
	g = m->graph;
	input(g, "x", SC_FLOAT, "2,3,4");
	init_ints(g, "s", 2, 5, -1);
	add(g, "Reshape", "bad", "x,s", "y");
	infer_fails(m, "node 'bad' (Reshape): cannot reshape 24 elements into a shape holding a multiple of 5");
	graph_model_free(m);

	m = model(13);
	g = m->graph;
	input(g, "x", SC_FLOAT, "2,3,4");
	init_ints(g, "s", 2, 5, 5);
	add(g, "Reshape", "bad", "x,s", "y");
	infer_fails(m, "node 'bad' (Reshape): cannot reshape 24 elements into 25");
	graph_model_free(m);
}

/* Squeeze/Unsqueeze with axes as an attribute (11) and an input (13). */
static void test_squeeze_unsqueeze(void **state)
{
	(void)state;
	graph_model *m = model(11);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "N,1,5,1");
	graph_node *n = add(g, "Squeeze", "sq", "x", "y");
	attr_ints(n, "axes", 2, 1, -1);
	n = add(g, "Unsqueeze", "unsq", "y", "z");
	attr_ints(n, "axes", 2, 0, -1);       /* output rank 4: axes 0 and 3 */
	infer_ok(m);
	expect_type(m, "y", "float32[N,5]");
	expect_type(m, "z", "float32[1,N,5,1]");
	graph_model_free(m);

	m = model(13);
	g = m->graph;
	input(g, "x", SC_FLOAT, "3,1,4");
	input(g, "k", SC_FLOAT, "3,1,4");
	init_ints(g, "ax", 2, 0, -1);
	add(g, "Unsqueeze", "unsq", "x,ax", "y");
	add(g, "Squeeze", "sq_all", "k", "z");  /* every size-1 axis */
	infer_ok(m);
	expect_type(m, "y", "float32[1,3,1,4,1]");
	expect_type(m, "z", "float32[3,4]");
	graph_model_free(m);

	m = model(13);
	g = m->graph;
	input(g, "x", SC_FLOAT, "3,2");
	init_ints(g, "ax", 1, 1);
	add(g, "Squeeze", "sq", "x,ax", "y");
	infer_fails(m, "node 'sq' (Squeeze): cannot squeeze axis 1 of size 2");
	graph_model_free(m);
}

static void test_concat_transpose_flatten(void **state)
{
	(void)state;
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "a", SC_FLOAT, "N,2,5");
	input(g, "b", SC_FLOAT, "N,3,5");
	input(g, "c", SC_FLOAT, "?,4,?");
	graph_node *n = add(g, "Concat", "cat", "a,b,c", "y");
	attr_int(n, "axis", -2);
	n = add(g, "Transpose", "tr", "y", "t");
	attr_ints(n, "perm", 3, 2, 0, 1);
	add(g, "Transpose", "rev", "y", "t2");
	n = add(g, "Flatten", "fl0", "a", "f0");
	attr_int(n, "axis", 0);
	n = add(g, "Flatten", "fl2", "a", "f2");
	attr_int(n, "axis", 2);
	add(g, "Flatten", "fl1", "t", "f1");
	infer_ok(m);
	expect_type(m, "y", "float32[N,9,5]");
	expect_type(m, "t", "float32[5,N,9]");
	expect_type(m, "t2", "float32[5,9,N]");
	expect_type(m, "f0", "float32[1,?]");
	expect_type(m, "f2", "float32[?,5]");
	expect_type(m, "f1", "float32[5,?]");
	graph_model_free(m);

	m = model(13);
	g = m->graph;
	input(g, "a", SC_FLOAT, "N,2,5");
	input(g, "b", SC_FLOAT, "N,3,6");
	n = add(g, "Concat", "cat", "a,b", "y");
	attr_int(n, "axis", 1);
	infer_fails(m, "node 'cat' (Concat): input 1 has 6 along axis 2 where others have 5");
	graph_model_free(m);
}

/* ReduceMean over [2,3] keepdims -> [N,C,1,1]; ReduceSum 13 over the
 * input axes [1] without keepdims -> [N,H,W]; empty axes reduce all. */
static void test_reduce(void **state)
{
	(void)state;
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "N,C,7,9");
	init_ints(g, "ax", 1, 1);
	graph_node *n = add(g, "ReduceMean", "mean", "x", "y");
	attr_ints(n, "axes", 2, 2, 3);
	n = add(g, "ReduceSum", "sum", "x,ax", "y1");
	attr_int(n, "keepdims", 0);
	n = add(g, "ReduceMax", "max", "x", "y2");
	attr_int(n, "keepdims", 0);
	n = add(g, "ArgMax", "argmax", "x", "y3");
	attr_int(n, "axis", -1);
	infer_ok(m);
	expect_type(m, "y", "float32[N,C,1,1]");
	expect_type(m, "y1", "float32[N,7,9]");
	expect_type(m, "y2", "float32[]");
	expect_type(m, "y3", "int64[N,C,7,1]");
	graph_model_free(m);
}

/* Slice 10+: [10,20] starts [1,-5] ends [1000,-1] steps [3,2]:
 * axis 0: 1..10 step 3 -> 1,4,7 = 3; axis 1: 15..19 step 2 -> 15,17 = 2.
 * Negative step: starts [-1] ends [-1000] steps [-4] on 10: 9,5,1 = 3. */
static void test_slice_gather_split(void **state)
{
	(void)state;
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "10,20");
	input(g, "idx", SC_INT64, "N,2");
	init_ints(g, "st", 2, 1, -5);
	init_ints(g, "en", 2, 1000, -1);
	init_ints(g, "ax", 2, 0, 1);
	init_ints(g, "sp", 2, 3, 2);
	init_ints(g, "st2", 1, -1);
	init_ints(g, "en2", 1, -1000);
	init_ints(g, "sp2", 1, -4);
	init_ints(g, "parts", 3, 5, 10, 5);
	add(g, "Slice", "sl", "x,st,en,ax,sp", "y");
	add(g, "Slice", "sl2", "x,st2,en2,,sp2", "y2");
	graph_node *n = add(g, "Gather", "ga", "x,idx", "y3");
	attr_int(n, "axis", 1);
	n = add(g, "Split", "split", "x,parts", "p0,p1,p2");
	attr_int(n, "axis", 1);
	add(g, "Split", "halves", "x", "h0,h1");
	infer_ok(m);
	expect_type(m, "y", "float32[3,2]");
	expect_type(m, "y2", "float32[3,20]");
	expect_type(m, "y3", "float32[10,N,2]");
	expect_type(m, "p1", "float32[10,10]");
	expect_type(m, "h1", "float32[5,20]");
	graph_model_free(m);
}

static void init_floats(graph *g, const char *name, int count, ...)
{
	float v[16];
	int64_t dims[1] = {count};
	va_list ap;
	va_start(ap, count);
	for (int i = 0; i < count; i++)
		v[i] = (float)va_arg(ap, double);
	va_end(ap);
	init_tensor(g, name, SC_FLOAT, 1, dims, v);
}

/* Relatives: LayerNorm statistics keep the leading axes; the loss is a
 * scalar for "mean" and per-sample for "none"; Resize floor(7 * 1.5) = 10,
 * floor(5 * 0.5) = 2; TopK with K 3; DepthToSpace 8 channels, block 2 ->
 * 2 channels at twice the size; Range(1, 10, 4) = 1, 5, 9 -> 3. */
static void test_relatives(void **state)
{
	(void)state;
	graph_model *m = model(17);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "N,T,16");
	input(g, "img", SC_FLOAT, "N,8,7,5");
	input(g, "labels", SC_INT64, "N");
	input(g, "scores", SC_FLOAT, "N,10");
	init_shape(g, "ln.s", "16");
	init_floats(g, "scales", 4, 1.0, 1.0, 1.5, 0.5);
	init_ints(g, "k", 1, 3);
	init_ints(g, "r0", 1, 1);
	init_ints(g, "r1", 1, 10);
	init_ints(g, "r2", 1, 4);
	graph_node *n = add(g, "LayerNormalization", "ln", "x,ln.s", "y,mean,inv");
	attr_int(n, "axis", -1);
	add(g, "SoftmaxCrossEntropyLoss", "ce", "scores,labels", "loss,logp");
	n = add(g, "SoftmaxCrossEntropyLoss", "ce_none", "scores,labels", "losses");
	attr_str(n, "reduction", "none");
	add(g, "Resize", "resize", "img,,scales", "big");
	add(g, "TopK", "topk", "scores,k", "top,top_idx");
	n = add(g, "DepthToSpace", "d2s", "img", "d2s_out");
	attr_int(n, "blocksize", 2);
	add(g, "Range", "range", "r0,r1,r2", "rng");
	add(g, "LRN", "lrn", "img", "lrn_out");
	infer_ok(m);
	expect_type(m, "y", "float32[N,T,16]");
	expect_type(m, "mean", "float32[N,T,1]");
	expect_type(m, "loss", "float32[]");
	expect_type(m, "logp", "float32[N,10]");
	expect_type(m, "losses", "float32[N]");
	expect_type(m, "big", "float32[N,8,10,2]");
	expect_type(m, "top", "float32[N,3]");
	expect_type(m, "top_idx", "int64[N,3]");
	expect_type(m, "d2s_out", "float32[N,2,14,10]");
	expect_type(m, "rng", "int64[3]");
	expect_type(m, "lrn_out", "float32[N,8,7,5]");
	graph_model_free(m);
}

/* Failures come back with or without an sc_error to fill, and a cycle
 * stops the pass before any op runs. */
static void test_infer_errors(void **state)
{
	(void)state;
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "N,3");
	add(g, "Add", "a", "x,b_out", "a_out");
	add(g, "Relu", "b", "a_out", "b_out");
	infer_fails(m, "graph 'main': node 'a' (Add) is on a cycle");
	assert_int_equal(graph_infer_shapes(m, NULL), SC_EINVAL);
	graph_model_free(m);

	m = model(13);
	g = m->graph;
	input(g, "x", SC_FLOAT, "2,3");
	input(g, "y", SC_FLOAT, "4,3");
	add(g, "Add", "a", "x,y", "z");
	assert_int_equal(graph_infer_shapes(m, NULL), SC_EINVAL);
	graph_model_free(m);

	/* an attribute of the wrong type is refused before the op reads it */
	m = model(13);
	g = m->graph;
	input(g, "x", SC_FLOAT, "2,3");
	graph_node *n = add(g, "Transpose", "t", "x", "y");
	attr_int(n, "perm", 1);
	infer_fails(m, "node 't' (Transpose): attribute 'perm' has type int, expected ints");
	graph_model_free(m);
}

/* --- the official ONNX backend test models ------------------------------- */

/* 1 when every node of g has a registered infer function at m's opsets. */
static int all_ops_inferred(const graph_model *m)
{
	const graph *g = m->graph;
	for (int i = 0; i < g->n_nodes; i++) {
		const graph_node *n = &g->nodes[i];
		const op_def *d = op_find(n->domain, n->op_type,
					  graph_model_opset(m, n->domain));
		if (!d || !d->infer)
			return 0;
	}
	return 1;
}

enum { TYPE_EXACT, TYPE_VAGUER, TYPE_CONFLICT };

/* Compares an inferred type with the declared one: TYPE_EXACT when every
 * dtype, rank and dim the declaration knows is inferred the same, or
 * TYPE_VAGUER when some are left unknown but nothing contradicts. */
static int compare_type(const graph_type *got, const graph_type *want)
{
	if (want->kind != GRAPH_TYPE_TENSOR)
		return got->kind == want->kind || want->kind == GRAPH_TYPE_NONE ?
		       TYPE_EXACT : TYPE_CONFLICT;
	if (got->kind == GRAPH_TYPE_NONE)
		return TYPE_VAGUER;
	if (got->kind != GRAPH_TYPE_TENSOR || got->elem != want->elem)
		return TYPE_CONFLICT;
	if (want->rank < 0)
		return TYPE_EXACT;
	if (got->rank < 0)
		return TYPE_VAGUER;
	if (got->rank != want->rank)
		return TYPE_CONFLICT;
	int res = TYPE_EXACT;
	for (int i = 0; i < want->rank; i++) {
		const graph_dim *a = &got->dims[i], *b = &want->dims[i];
		if (a->value >= 0 && b->value >= 0 && a->value != b->value)
			return TYPE_CONFLICT;
		if (b->value >= 0 && a->value < 0)
			res = TYPE_VAGUER;
		if (b->param && a->value < 0 &&
		    (!a->param || strcmp(a->param, b->param) != 0))
			res = TYPE_VAGUER;
	}
	return res;
}

/* Turns the graph inputs of a model into initializers holding the values
 * of its first test data set, so that shape-like inputs (Reshape targets,
 * slice bounds, axes, scales...) become constants.  Types do not change. */
static int bind_inputs(graph_model *m, const char *dir, const char *name)
{
	graph *g = m->graph;
	int bound = 0;
	for (int i = 0; i < g->n_inputs; i++) {
		graph_value *val = &g->values[g->inputs[i]];
		if (val->flags & VALUE_INITIALIZER)
			continue;
		char path[1024];
		snprintf(path, sizeof path, "%s/%s/test_data_set_0/input_%d.pb",
			 dir, name, i);
		sc_tensor t;
		sc_error err = {0};
		if (onnx_tensor_load_file(path, &t, NULL, &err))
			continue;
		assert_int_equal(graph_add_init(g, g->inputs[i], &t, &err), SC_OK);
		bound++;
	}
	return bound;
}

typedef struct sweep_stats {
	int models, supported, exact, with_data, vaguer, failed;
} sweep_stats;

/* Outputs computed through Shape and arithmetic on shapes (the expanded
 * function bodies) need value propagation, which the inference does not do
 * yet, and NonZero's size depends on the data itself: there, dims may stay
 * unknown but must not contradict. */
static int shape_computed(const char *name)
{
	return strstr(name, "_expanded") != NULL ||
	       strncmp(name, "test_nonzero", 12) == 0;
}

/* Loads one model, erases the types its nodes' outputs declare, infers,
 * and compares the graph outputs with the declarations.  Returns the worst
 * TYPE_* over the outputs, or -1 when the model is skipped. */
static int infer_model(const char *dir, const char *name, int with_data,
		       sweep_stats *st)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s/model.onnx", dir, name);
	graph_model *m = NULL;
	sc_error err = {0};
	if (onnx_load_file(path, &m, &err))
		return -1;   /* the loader's own tests cover what it refuses */
	if (!with_data)
		st->models++;
	int rc = graph_validate(m, &err);
	if (rc) {
		print_error("validate %s: %s\n", name, err.msg);
		graph_model_free(m);
		return TYPE_CONFLICT;
	}
	if (!all_ops_inferred(m) || (with_data && !bind_inputs(m, dir, name))) {
		graph_model_free(m);
		return -1;
	}
	graph *g = m->graph;
	graph_type *want = calloc((size_t)g->n_values + 1, sizeof *want);
	assert_non_null(want);
	for (int v = 0; v < g->n_values; v++) {
		graph_value *val = &g->values[v];
		if (val->producer < 0)
			continue;
		want[v] = val->type;
		memset(&val->type, 0, sizeof val->type);
		val->type.rank = -1;
	}
	int worst = TYPE_EXACT;
	rc = graph_infer_shapes(m, &err);
	if (rc) {
		print_error("infer %s: %s\n", name, err.msg);
		worst = TYPE_CONFLICT;
	}
	for (int i = 0; !rc && i < g->n_outputs; i++) {
		int v = g->outputs[i];
		if (g->values[v].producer < 0)
			continue;
		int c = compare_type(&g->values[v].type, &want[v]);
		if (c == TYPE_CONFLICT || (c == TYPE_VAGUER && with_data &&
					   !shape_computed(name))) {
			char a[256], b[256];
			print_error("%s%s: output '%s' inferred %s, declared %s\n",
				    name, with_data ? " (inputs bound)" : "",
				    g->values[v].name,
				    infer_type_str(&g->values[v].type, a, sizeof a),
				    infer_type_str(&want[v], b, sizeof b));
			c = TYPE_CONFLICT;
		}
		if (c > worst)
			worst = c;
	}
	for (int v = 0; v < g->n_values; v++)
		graph_type_clear(&want[v]);
	free(want);
	graph_model_free(m);
	return worst;
}

/* A model whose outputs come out vaguer than declared gets a second run
 * with its inputs bound to their test values; that run must be
 * exact unless the shapes are computed by Shape arithmetic. */
static void check_model(const char *dir, const char *name, sweep_stats *st)
{
	int r = infer_model(dir, name, 0, st);
	if (r < 0)
		return;
	st->supported++;
	if (r == TYPE_VAGUER) {
		int r2 = infer_model(dir, name, 1, st);
		if (r2 == TYPE_EXACT) {
			st->with_data++;
			return;
		}
		if (r2 == TYPE_CONFLICT || !shape_computed(name)) {
			if (r2 != TYPE_CONFLICT)
				print_error("%s: outputs stay vaguer than declared\n", name);
			r = TYPE_CONFLICT;
		}
	}
	if (r == TYPE_EXACT)
		st->exact++;
	else if (r == TYPE_VAGUER)
		st->vaguer++;
	else
		st->failed++;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void sweep(const char *dir, sweep_stats *st)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	char **list = NULL;
	int n = 0;
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		list = realloc(list, (size_t)(n + 1) * sizeof *list);
		assert_non_null(list);
		list[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(list, (size_t)n, sizeof *list, cmp_str);
	for (int i = 0; i < n; i++) {
		check_model(dir, list[i], st);
		free(list[i]);
	}
	free(list);
}

static void test_onnx_backend_models(void **state)
{
	(void)state;
	const char *sets[] = {"node", "pytorch-converted", "pytorch-operator",
			      "simple"};
	sweep_stats st = {0};
	for (int i = 0; i < 4; i++) {
		char dir[512];
		snprintf(dir, sizeof dir, "%s/%s", ONNX_TESTDATA, sets[i]);
		sweep(dir, &st);
	}
	if (st.models == 0)
		skip();
	print_message("ONNX backend models: %d loaded, %d with all ops inferred: "
		      "%d exact, %d exact once inputs are constants, "
		      "%d vaguer (shapes computed by Shape ops), %d failed\n",
		      st.models, st.supported, st.exact, st.with_data, st.vaguer,
		      st.failed);
	assert_int_equal(st.failed, 0);
	/* the suite exercises most of what we register: keep it that way */
	assert_true(st.exact + st.with_data >= 700);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resnet_block_symbolic_batch),
		cmocka_unit_test(test_declared_conflict),
		cmocka_unit_test(test_declared_merge),
		cmocka_unit_test(test_initializer_types),
		cmocka_unit_test(test_conv_same_upper_odd),
		cmocka_unit_test(test_window_padding),
		cmocka_unit_test(test_conv_groups_dilations),
		cmocka_unit_test(test_conv_transpose),
		cmocka_unit_test(test_batchnorm_outputs),
		cmocka_unit_test(test_maxpool_ceil),
		cmocka_unit_test(test_matmul),
		cmocka_unit_test(test_gemm),
		cmocka_unit_test(test_broadcast),
		cmocka_unit_test(test_unary_and_friends),
		cmocka_unit_test(test_reshape),
		cmocka_unit_test(test_squeeze_unsqueeze),
		cmocka_unit_test(test_concat_transpose_flatten),
		cmocka_unit_test(test_reduce),
		cmocka_unit_test(test_slice_gather_split),
		cmocka_unit_test(test_relatives),
		cmocka_unit_test(test_infer_errors),
		cmocka_unit_test(test_onnx_backend_models),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
