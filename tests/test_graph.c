/* test_graph.c: graph_toposort, graph_validate and the op registry, on
 * graphs built with the graph.h API.  Expected orders and messages are
 * worked out by hand in the comments next to each case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model_builder.h"
#include "ops/op.h"
#include "ops/registry.h"
#include "runtime/graph.h"

/* --- building graphs ------------------------------------------------------
 * model_builder.h; inputs here are float [2, 2] unless a test says
 * otherwise. */

/* Sorts m's main graph and checks the order against want[]. */
static void expect_order(const graph *g, const int *want)
{
	int order[16];
	sc_error err = {0};
	assert_true(g->n_nodes <= 16);
	assert_int_equal(graph_toposort(g, order, &err), SC_OK);
	for (int i = 0; i < g->n_nodes; i++)
		assert_int_equal(order[i], want[i]);
}

static void expect_fail(const graph_model *m, int code, const char *needle)
{
	sc_error err = {0};
	int rc = graph_validate(m, &err);
	if (rc != code || !strstr(err.msg, needle))
		fail_msg("expected code %d with \"%s\", got %d: %s", code, needle,
			 rc, err.msg);
}

/* --- toposort ------------------------------------------------------------- */

/* A graph already in order comes back unchanged. */
static void test_toposort_sorted_unchanged(void **state)
{
	(void)state;
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "2,2");
	add(g, "Relu", "a", "x", "a_out");
	add(g, "Relu", "b", "a_out", "b_out");
	add(g, "Relu", "d", "x", "d_out");
	add(g, "Add", "c", "b_out,d_out", "c_out");
	const int want[] = {0, 1, 2, 3};
	expect_order(g, want);
	graph_model_free(m);
}

/* File order: 0 C(b) 1 A(x) 2 B(a) 3 D(x).  Ready at start: A(1), D(3).
 * Earliest ready first: A; then B(2) is ready and beats D(3); then C(0)
 * is ready and beats D.  So 1 2 0 3 (a FIFO queue would give 1 3 2 0). */
static void test_toposort_earliest_ready_first(void **state)
{
	(void)state;
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "2,2");
	add(g, "Relu", "C", "b", "c");
	add(g, "Relu", "A", "x", "a");
	add(g, "Relu", "B", "a", "b");
	add(g, "Relu", "D", "x", "d");
	const int want[] = {1, 2, 0, 3};
	expect_order(g, want);
	graph_model_free(m);
}

/* Initializers, omitted inputs and outer values never wait for a node. */
static void test_toposort_ready_inputs(void **state)
{
	(void)state;
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "2,2");
	init_shape(g, "w", "2");
	add(g, "Clip", "late", "y,,w", "z");
	add(g, "Mul", "early", "x,w", "y");
	const int want[] = {1, 0};
	expect_order(g, want);
	graph_model_free(m);
}

/* The If node (0) reads 't' inside its branch, which node 1 produces, so
 * node 1 must run first although If has no explicit input from it. */
static void test_toposort_subgraph_dependency(void **state)
{
	(void)state;
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "x", SC_BOOL, "2,2");
	input(g, "u", SC_FLOAT, "2,2");
	graph_node *n = add(g, "If", "if", "x", "r");
	sc_error err = {0};
	graph_attr *a = graph_node_add_attr(n, "then_branch", ATTR_GRAPH, &err);
	assert_non_null(a);
	a->g = graph_new(g);
	a->g->name = strdup("then");
	int t = val(a->g, "t");
	a->g->values[t].flags |= VALUE_OUTER;
	add(a->g, "Identity", "inner", "t", "t2");
	output(a->g, "t2");
	add(g, "Relu", "producer", "u", "t");
	const int want[] = {1, 0};
	expect_order(g, want);
	assert_int_equal(graph_validate(m, &err), SC_OK);
	graph_model_free(m);
}

/* pre -> a; a <- c; b <- a; c <- b.  The walk from the first node left
 * (a) goes a -> c -> b -> a, so the cycle printed forwards from a is
 * a -> b -> c -> a. */
static void test_toposort_cycle(void **state)
{
	(void)state;
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "2,2");
	add(g, "Relu", "pre", "x", "p");
	add(g, "Add", "a", "p,c_out", "a_out");
	add(g, "Relu", "b", "a_out", "b_out");
	add(g, "Relu", "c", "b_out", "c_out");
	int order[4];
	sc_error err = {0};
	assert_int_equal(graph_toposort(g, order, &err), SC_EINVAL);
	assert_string_equal(err.msg,
			    "graph 'main': node 'a' (Add) is on a cycle: 'a' -> 'b' -> 'c' -> 'a'");
	graph_model_free(m);
}

static void test_toposort_self_loop(void **state)
{
	(void)state;
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "2,2");
	add(g, "Relu", "ok", "x", "y");
	add(g, "Add", "loop", "y,z", "z");
	int order[2];
	sc_error err = {0};
	assert_int_equal(graph_toposort(g, order, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "node 'loop' (Add) is on a cycle: 'loop' -> 'loop'"));
	expect_fail(m, SC_EINVAL, "is on a cycle");
	graph_model_free(m);
}

/* A long cycle is shortened in the message but still names the node. */
static void test_toposort_long_cycle(void **state)
{
	(void)state;
	graph_model *m = model(13);
	graph *g = m->graph;
	char in[16], out[16], nm[16];
	for (int i = 0; i < 12; i++) {
		snprintf(in, sizeof in, "v%d", (i + 11) % 12);
		snprintf(out, sizeof out, "v%d", i);
		snprintf(nm, sizeof nm, "n%d", i);
		add(g, "Relu", nm, in, out);
	}
	int order[12];
	sc_error err = {0};
	assert_int_equal(graph_toposort(g, order, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "node 'n0' (Relu) is on a cycle: 'n0' -> ... -> 'n5'"));
	assert_non_null(strstr(err.msg, "'n11' -> 'n0'"));
	graph_model_free(m);
}

/* A few thousand nodes in reverse file order: checks the heap and that
 * every edge is honoured. */
static void test_toposort_reverse_chain(void **state)
{
	(void)state;
	enum { N = 3000 };
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "v0", SC_FLOAT, "2,2");
	char in[16], out[16];
	for (int i = N; i >= 1; i--) {
		snprintf(in, sizeof in, "v%d", i - 1);
		snprintf(out, sizeof out, "v%d", i);
		add(g, "Relu", NULL, in, out);
	}
	int *order = malloc(N * sizeof *order);
	assert_non_null(order);
	sc_error err = {0};
	assert_int_equal(graph_toposort(g, order, &err), SC_OK);
	for (int k = 0; k < N; k++)
		assert_int_equal(order[k], N - 1 - k);
	free(order);
	graph_model_free(m);
}

/* --- validate ------------------------------------------------------------- */

static graph_model *small_conv_model(void)
{
	graph_model *m = model(13);
	graph *g = m->graph;
	input(g, "x", SC_FLOAT, "2,2");
	init_shape(g, "w", "4");
	graph_node *c = add(g, "Conv", "conv1", "x,w", "y");
	attr_ints(c, "strides", 2, 1, 1);
	attr_ints(c, "pads", 4, 0, 0, 0, 0);
	attr_int(c, "group", 1);
	add(g, "Relu", "relu1", "y", "z");
	output(g, "z");
	return m;
}

static void test_validate_ok(void **state)
{
	(void)state;
	graph_model *m = small_conv_model();
	sc_error err = {0};
	assert_int_equal(graph_validate(m, &err), SC_OK);
	graph_model_free(m);
}

static void test_validate_dangling_input(void **state)
{
	(void)state;
	graph_model *m = small_conv_model();
	add(m->graph, "Add", "adder", "z,ghost", "q");
	expect_fail(m, SC_EINVAL, "node 'adder' (Add): input 'ghost' is not defined");
	graph_model_free(m);
}

static void test_validate_undefined_output(void **state)
{
	(void)state;
	graph_model *m = small_conv_model();
	output(m->graph, "nowhere");
	expect_fail(m, SC_EINVAL, "graph output 'nowhere' is not defined");
	graph_model_free(m);
}

static void test_validate_bad_attr_type(void **state)
{
	(void)state;
	graph_model *m = small_conv_model();
	graph_node *c = &m->graph->nodes[0];
	attr_int(c, "dilations", 1);  /* must be ints */
	expect_fail(m, SC_EINVAL,
		    "node 'conv1' (Conv): attribute 'dilations' has type int, expected ints");
	graph_model_free(m);
}

static void test_validate_unknown_attr(void **state)
{
	(void)state;
	graph_model *m = small_conv_model();
	attr_float(&m->graph->nodes[1], "alpha", 0.1f);  /* Relu has none */
	expect_fail(m, SC_EINVAL, "node 'relu1' (Relu): unknown attribute 'alpha'");
	graph_model_free(m);
}

static void test_validate_duplicate_attr(void **state)
{
	(void)state;
	graph_model *m = small_conv_model();
	attr_int(&m->graph->nodes[0], "group", 1);
	expect_fail(m, SC_EINVAL, "node 'conv1' (Conv): attribute 'group' is given twice");
	graph_model_free(m);
}

/* Attribute specs follow the opset: training_mode exists from 14 only. */
static void test_validate_attr_follows_opset(void **state)
{
	(void)state;
	for (int opset = 9; opset <= 15; opset += 6) {
		graph_model *m = model(opset);
		graph *g = m->graph;
		input(g, "x", SC_FLOAT, "2,2");
		for (int i = 0; i < 4; i++) {
			char nm[8];
			snprintf(nm, sizeof nm, "p%d", i);
			init_shape(g, nm, "2");
		}
		graph_node *bn = add(g, "BatchNormalization", "bn", "x,p0,p1,p2,p3", "y");
		attr_int(bn, "training_mode", 0);
		output(g, "y");
		sc_error err = {0};
		int rc = graph_validate(m, &err);
		if (opset < 14)
			assert_non_null(strstr(err.msg, "unknown attribute 'training_mode' for BatchNormalization at opset 9"));
		assert_int_equal(rc, opset < 14 ? SC_EINVAL : SC_OK);
		graph_model_free(m);
	}
}

/* Unknown ops are the engine's business, not validation's. */
static void test_validate_unknown_op_ok(void **state)
{
	(void)state;
	graph_model *m = small_conv_model();
	graph_node *n = add(m->graph, "NoSuchOp", "mystery", "z", "w2");
	attr_float(n, "anything", 1.0f);
	sc_error err = {0};
	assert_int_equal(graph_validate(m, &err), SC_OK);
	graph_model_free(m);
}

static void test_validate_unknown_dtype(void **state)
{
	(void)state;
	graph_model *m = small_conv_model();
	m->graph->values[val(m->graph, "x")].type.elem = 99;
	expect_fail(m, SC_EINVAL, "value 'x' has unknown data type 99");
	/* a float8 type from a newer ONNX: well-formed but unsupported */
	m->graph->values[val(m->graph, "x")].type.elem = 17;
	expect_fail(m, SC_EUNSUPPORTED, "value 'x' has data type float8e4m3fn (17)");
	graph_model_free(m);
}

static void test_validate_unknown_init_dtype(void **state)
{
	(void)state;
	graph_model *m = small_conv_model();
	m->graph->inits[0].tensor.dtype = (sc_dtype)42;
	expect_fail(m, SC_EINVAL, "initializer 'w' has unknown data type 42");
	m->graph->inits[0].tensor.dtype = SC_FLOAT;
	graph_model_free(m);
}

static void test_validate_nested_dtype(void **state)
{
	(void)state;
	graph_model *m = small_conv_model();
	graph_type *t = &m->graph->values[val(m->graph, "z")].type;
	graph_type_clear(t);
	t->kind = GRAPH_TYPE_SEQUENCE;
	t->rank = -1;
	t->inner = calloc(1, sizeof *t->inner);
	assert_non_null(t->inner);
	t->inner->kind = GRAPH_TYPE_TENSOR;
	t->inner->elem = 77;
	t->inner->rank = -1;
	expect_fail(m, SC_EINVAL, "value 'z' has unknown data type 77");
	graph_model_free(m);
}

/* graph_add_node refuses this order; a loader that marks inputs late
 * could still produce it. */
static void test_validate_input_also_output(void **state)
{
	(void)state;
	graph_model *m = small_conv_model();
	graph *g = m->graph;
	int y = val(g, "y");
	push_input(g, y);
	expect_fail(m, SC_EINVAL, "graph input 'y' is also the output of node 'conv1' (Conv)");
	graph_model_free(m);
}

static void test_validate_input_listed_twice(void **state)
{
	(void)state;
	graph_model *m = small_conv_model();
	graph *g = m->graph;
	push(&g->inputs, &g->n_inputs, val(g, "x"));
	expect_fail(m, SC_EINVAL, "graph input 'x' is listed twice");
	graph_model_free(m);
}

static graph *add_branch(graph *g, graph_node *n, const char *attr)
{
	sc_error err = {0};
	graph_attr *a = graph_node_add_attr(n, attr, ATTR_GRAPH, &err);
	assert_non_null(a);
	a->g = graph_new(g);
	a->g->name = strdup(attr);
	return a->g;
}

static void test_validate_subgraph(void **state)
{
	(void)state;
	graph_model *m = small_conv_model();
	graph *g = m->graph;
	input(g, "cond", SC_BOOL, "2,2");
	graph_node *n = add(g, "If", "if1", "cond", "r");
	graph *then = add_branch(g, n, "then_branch");

	/* reading z from outside, correctly flagged */
	int z = val(then, "z");
	then->values[z].flags |= VALUE_OUTER;
	add(then, "Relu", "inner", "z", "t");
	output(then, "t");
	sc_error err = {0};
	assert_int_equal(graph_validate(m, &err), SC_OK);

	/* a name that no enclosing graph defines */
	int ghost = val(then, "ghost");
	then->values[ghost].flags |= VALUE_OUTER;
	expect_fail(m, SC_EINVAL,
		    "subgraph 'then_branch' of node 'if1' (If): 'ghost' is read from an enclosing graph, but none defines it");
	then->values[ghost].flags = 0;

	/* an inner use that is neither local nor flagged outer */
	add(then, "Relu", "inner2", "ghost", "t3");
	expect_fail(m, SC_EINVAL,
		    "subgraph 'then_branch' of node 'if1' (If): node 'inner2' (Relu): input 'ghost' is not defined");
	graph_model_free(m);
}

/* An outer flag on a value of the main graph has nothing to point at. */
static void test_validate_outer_in_main(void **state)
{
	(void)state;
	graph_model *m = small_conv_model();
	int v = val(m->graph, "elsewhere");
	m->graph->values[v].flags |= VALUE_OUTER;
	expect_fail(m, SC_EINVAL, "'elsewhere' is read from an enclosing graph, but none defines it");
	graph_model_free(m);
}

static void test_validate_cycle(void **state)
{
	(void)state;
	graph_model *m = small_conv_model();
	graph *g = m->graph;
	add(g, "Add", "p", "z,q2", "q1");
	add(g, "Relu", "q", "q1", "q2");
	expect_fail(m, SC_EINVAL, "graph 'main': node 'p' (Add) is on a cycle: 'p' -> 'q' -> 'p'");
	graph_model_free(m);
}

static void test_validate_bad_index(void **state)
{
	(void)state;
	graph_model *m = small_conv_model();
	m->graph->nodes[1].inputs[0] = 1000;
	expect_fail(m, SC_EINVAL, "node 'relu1' (Relu): input 0 has an invalid value index");
	m->graph->nodes[1].inputs[0] = val(m->graph, "y");
	graph_model_free(m);
}

/* --- registry ------------------------------------------------------------- */

static void test_registry(void **state)
{
	(void)state;
	sc_error err = {0};
	assert_int_equal(op_registry_check(&err), SC_OK);
	assert_true(op_registry_count() > 50);
	assert_null(op_registry_entry(op_registry_count()));
	assert_null(op_registry_entry(-1));

	const op_def *conv = op_find("", "Conv", 11);
	assert_non_null(conv);
	assert_ptr_equal(op_find("ai.onnx", "Conv", 17), conv);
	assert_null(op_find("", "Conv", 0));
	assert_null(op_find("", "Conv", 18));
	assert_null(op_find("com.example", "Conv", 11));
	assert_true(op_known("", "Relu"));
	assert_true(op_known("ai.onnx", "Relu"));
	assert_false(op_known("", "NoSuchOp"));

	/* the three BatchNormalization ranges are distinct entries */
	const op_def *bn9 = op_find("", "BatchNormalization", 9);
	const op_def *bn13 = op_find("", "BatchNormalization", 13);
	const op_def *bn14 = op_find("", "BatchNormalization", 14);
	assert_non_null(bn9);
	assert_ptr_equal(bn9, bn13);
	assert_ptr_not_equal(bn13, bn14);
	assert_int_equal(bn14->since, 14);

	/* ops whose output shapes follow an input's values say which */
	assert_int_equal(op_find("", "Reshape", 14)->value_inputs, 1u << 1);
	assert_int_equal(op_find("", "Relu", 14)->value_inputs, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_toposort_sorted_unchanged),
		cmocka_unit_test(test_toposort_earliest_ready_first),
		cmocka_unit_test(test_toposort_ready_inputs),
		cmocka_unit_test(test_toposort_subgraph_dependency),
		cmocka_unit_test(test_toposort_cycle),
		cmocka_unit_test(test_toposort_self_loop),
		cmocka_unit_test(test_toposort_long_cycle),
		cmocka_unit_test(test_toposort_reverse_chain),
		cmocka_unit_test(test_validate_ok),
		cmocka_unit_test(test_validate_dangling_input),
		cmocka_unit_test(test_validate_undefined_output),
		cmocka_unit_test(test_validate_bad_attr_type),
		cmocka_unit_test(test_validate_unknown_attr),
		cmocka_unit_test(test_validate_duplicate_attr),
		cmocka_unit_test(test_validate_attr_follows_opset),
		cmocka_unit_test(test_validate_unknown_op_ok),
		cmocka_unit_test(test_validate_unknown_dtype),
		cmocka_unit_test(test_validate_unknown_init_dtype),
		cmocka_unit_test(test_validate_nested_dtype),
		cmocka_unit_test(test_validate_input_also_output),
		cmocka_unit_test(test_validate_input_listed_twice),
		cmocka_unit_test(test_validate_subgraph),
		cmocka_unit_test(test_validate_outer_in_main),
		cmocka_unit_test(test_validate_cycle),
		cmocka_unit_test(test_validate_bad_index),
		cmocka_unit_test(test_registry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
