/* op_harness.h: one-node models for the kernel tests.
 *
 * one_begin() builds a model holding one node `op` whose inputs are the
 * tensors given (graph inputs "in<i>", or with one_begin_const()
 * initializers "w<i>" that the plan cannot override) and whose n_out
 * outputs "out<i>" are graph outputs; the caller adds attributes to the
 * node it returns.  one_run() plans the model on first use and feeds
 * o->ins[i] as "in<i>" (a test may point o->ins[i] at another tensor
 * between runs); one_out() is an output of the last run; one_end()
 * releases everything.  Like model_builder.h (include it first), helpers
 * assert instead of returning errors, except one_run(), whose status is
 * what error tests check. */
#ifndef SUPCON_TESTS_OP_HARNESS_H
#define SUPCON_TESTS_OP_HARNESS_H

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "runtime/plan.h"
#include "runtime/tensor.h"

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-variable"
#endif

#define ONE_MAX_INPUTS 8

typedef struct one_node {
	graph_model *m;
	graph_node *n;
	plan *p;
	int n_in;
	const sc_tensor *ins[ONE_MAX_INPUTS];  /* fed as names[i]; NULL: omitted or constant */
	char names[ONE_MAX_INPUTS][16];
} one_node;

/* "2,3,4" for a [2, 3, 4] tensor, as input() and declare() read shapes. */
static void dims_str(const sc_tensor *t, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = '\0';
	for (int i = 0; i < t->rank; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%lld",
					 i ? "," : "", (long long)t->dims[i]);
}

/* Bit i of `constant` makes ins[i] an initializer; with free_shapes the
 * graph inputs have no shape, so that one plan can run several. */
static graph_node *one_build(one_node *o, int64_t opset, const char *op,
			     int n_in, const sc_tensor *const *ins, int n_out,
			     unsigned constant, int free_shapes)
{
	assert_true(n_in <= ONE_MAX_INPUTS);
	memset(o, 0, sizeof *o);
	o->m = model(opset);
	graph *g = o->m->graph;
	char in_list[128] = "", out_list[128] = "", shape[128];
	for (int i = 0; i < n_in; i++) {
		char *name = o->names[i];
		if (ins[i]) {
			int is_const = constant >> i & 1;
			snprintf(name, sizeof o->names[i], "%s%d", is_const ? "w" : "in", i);
			if (is_const) {
				init_tensor(g, name, ins[i]->dtype, ins[i]->rank,
					    ins[i]->dims, ins[i]->data);
			} else {
				dims_str(ins[i], shape, sizeof shape);
				input(g, name, ins[i]->dtype, free_shapes ? NULL : shape);
				o->ins[i] = ins[i];
			}
		}
		strcat(in_list, i ? "," : "");
		strcat(in_list, name);
	}
	o->n_in = n_in;
	for (int i = 0; i < n_out; i++) {
		char name[16];
		snprintf(name, sizeof name, "out%d", i);
		strcat(out_list, i ? "," : "");
		strcat(out_list, name);
	}
	o->n = add(g, op, "node", in_list, out_list);
	for (int i = 0; i < n_out; i++)
		push_output(g, o->n->outputs[i]);
	return o->n;
}

/* Inputs given as tensors (NULL: omitted) become graph inputs "in<i>". */
static graph_node *one_begin(one_node *o, int64_t opset, const char *op,
			     int n_in, const sc_tensor *const *ins, int n_out)
{
	return one_build(o, opset, op, n_in, ins, n_out, 0, 0);
}

/* Like one_begin() with the inputs' shapes left symbolic. */
static graph_node *one_begin_free(one_node *o, int64_t opset, const char *op,
				  int n_in, const sc_tensor *const *ins,
				  int n_out)
{
	return one_build(o, opset, op, n_in, ins, n_out, 0, 1);
}

/* Like one_begin(); bit i of `constant` makes ins[i] an initializer. */
static graph_node *one_begin_const(one_node *o, int64_t opset, const char *op,
				   int n_in, const sc_tensor *const *ins,
				   unsigned constant, int n_out)
{
	return one_build(o, opset, op, n_in, ins, n_out, constant, 0);
}

static int one_run(one_node *o, sc_error *err)
{
	if (!o->p) {
		plan_options opt = {.threads = 2};
		int rc = plan_create(o->m, &opt, &o->p, err);
		if (rc)
			return rc;
	}
	const char *names[ONE_MAX_INPUTS];
	const sc_tensor *ins[ONE_MAX_INPUTS];
	int n = 0;
	for (int i = 0; i < o->n_in; i++)
		if (o->ins[i]) {
			names[n] = o->names[i];
			ins[n++] = o->ins[i];
		}
	return plan_run(o->p, n, names, ins, err);
}

static void one_run_ok(one_node *o)
{
	sc_error err = {0};
	if (one_run(o, &err))
		fail_msg("run failed: %s", err.msg);
}

static const sc_tensor *one_out(const one_node *o, int i)
{
	const sc_tensor *t = plan_output(o->p, i);
	assert_non_null(t);
	return t;
}

static void one_end(one_node *o)
{
	plan_free(o->p);
	graph_model_free(o->m);
	memset(o, 0, sizeof *o);
}

/* A plan of m on two threads, with or without the inference fusions. */
static plan *make_plan(graph_model *m, int fuse)
{
	plan_options opt = {.threads = 2, .no_fusion = !fuse};
	plan *p;
	sc_error err = {0};
	int rc = plan_create(m, &opt, &p, &err);
	if (rc)
		fail_msg("plan_create: %s", err.msg);
	return p;
}

/* --- tensors ---------------------------------------------------------------- */

static sc_tensor make(int dtype, int rank, const int64_t *dims)
{
	sc_tensor t;
	sc_error err = {0};
	assert_int_equal(tensor_alloc(&t, dtype, rank, dims, "t", &err), SC_OK);
	return t;
}

static unsigned rng = 12345;

static double uniform(double lo, double hi)
{
	rng = rng * 1664525u + 1013904223u;
	return lo + (hi - lo) * (double)(rng >> 8) / 16777216.0;
}

static sc_tensor make_uniform(int rank, const int64_t *dims, double lo,
			      double hi)
{
	sc_tensor t = make(SC_FLOAT, rank, dims);
	float *d = t.data;
	for (int64_t i = 0; i < t.numel; i++)
		d[i] = (float)uniform(lo, hi);
	return t;
}

static void expect_dims(const sc_tensor *t, int rank, const int64_t *dims)
{
	assert_int_equal(t->rank, rank);
	for (int i = 0; i < rank; i++)
		if (t->dims[i] != dims[i])
			fail_msg("dim %d is %lld, expected %lld", i,
				 (long long)t->dims[i], (long long)dims[i]);
}

/* Fails unless element i, got, is within atol + rtol |want| of want; NaN
 * must meet NaN and infinities must be equal. */
static void expect_near(double got, double want, double rtol, double atol,
			const char *what, int64_t i)
{
	int ok = isnan(want) ? isnan(got) :
		 isinf(want) ? got == want :
		 fabs(got - want) <= atol + rtol * fabs(want);
	if (!ok)
		fail_msg("%s: element %lld is %.9g, expected %.9g", what,
			 (long long)i, got, want);
}

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#endif
