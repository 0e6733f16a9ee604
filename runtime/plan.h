/* plan.h: the inference engine.  A plan is built once from a model and run
 * many times.
 *
 * plan_create() checks that every node's op is implemented at the model's
 * opset (refusing the model with one line listing every missing op),
 * schedules the nodes topologically and binds initializers.  plan_run()
 * checks and binds the inputs, then runs the nodes in order.  The first run
 * with a given set of input shapes prepares each node (output shapes,
 * oneDNN primitives) and records every intermediate's size and lifetime;
 * from those the plan lays out one arena in which tensors whose lifetimes
 * do not overlap share memory.  Later runs with the same shapes neither
 * prepare nor allocate.  New input shapes re-prepare the affected nodes and
 * re-plan the arena.
 *
 * Inference-time fusions: an inference BatchNormalization after a Conv is
 * folded into the conv's weights, and a following residual Add and Relu
 * become the conv's sum and eltwise post-ops, when the kernel supports it
 * (op_def.fuse_caps) and nothing else reads the intermediate values.
 *
 * Layouts: a value stays in a oneDNN blocked layout (nChw16c) from its
 * producer to its readers when every reader takes it so: layout-aware
 * kernels (op_def.layout_inputs, LAYOUT_SRC) and elementwise ops that
 * walk same-shaped operands flat (LAYOUT_SAME: Relu, Add, ReluGrad, ...).
 * That holds through a ResNet's training step, backward included.  An
 * input that arrives blocked where a kernel cannot take it is converted
 * to plain first.  SUPCON_PROFILE=1 (or =cpu) in the environment prints
 * per-op times to stderr when the plan is freed.
 *
 * Ownership: the plan borrows the model, which must outlive it.  Tensors
 * returned by plan_output() belong to the plan and stay valid until the
 * next plan_run() or plan_free().  A plan is not thread-safe; oneDNN and our
 * own loops use up to `threads` OpenMP threads inside one run. */
#ifndef SUPCON_PLAN_H
#define SUPCON_PLAN_H

#include "graph.h"
#include "status.h"
#include "tensor.h"

typedef struct plan plan;

typedef struct plan_options {
	int threads;          /* 0: OpenMP's default */
	int no_fusion;        /* 1: run every node as written (for comparisons) */
	int plain_layouts;    /* 1: keep every tensor plain between ops (ditto) */
	/* 1: after every node, look for NaN and infinities in its floating
	 * outputs (and in the floating inputs before the first node); the
	 * first one found stops the run with SC_ENUMERIC naming the node,
	 * its op, the output and the element.  Costs a pass over every
	 * value. */
	int check_numerics;
	/* Bytes the plan may hold: the model's initializers, the activations
	 * (while the first run of a shape allocates them one by one, then
	 * the arena) and kernel scratch, plus mem_outside, which the caller
	 * holds for the same job (a trainer's parameters and optimizer
	 * state).  An allocation that would pass it fails with SC_ENOMEM
	 * before it is made, naming what it was for.  0: no limit. */
	size_t max_memory;
	size_t mem_outside;
} plan_options;

/* Also runs shape inference on m (graph_infer_shapes), which writes the
 * inferred types into m's values; a model whose declarations contradict
 * its ops is refused here with SC_EINVAL. */
int plan_create(graph_model *m, const plan_options *opt, plan **out,
		sc_error *err);
void plan_free(plan *p);

/* Graph inputs that are not initializers, in graph order. */
int plan_input_count(const plan *p);
const char *plan_input_name(const plan *p, int i);
const graph_type *plan_input_type(const plan *p, int i);
int plan_output_count(const plan *p);
const char *plan_output_name(const plan *p, int i);

/* Binds input tensors by name (borrowed for the duration of the run), then
 * runs.  Every non-initializer graph input must be given exactly once; an
 * initializer that is also a graph input may be overridden.  A dtype or a
 * known dim that disagrees with the model's declaration is SC_EINVAL naming
 * the input and what was expected. */
int plan_run(plan *p, int n, const char *const *names,
	     const sc_tensor *const *inputs, sc_error *err);

/* Output i of the last successful run. */
const sc_tensor *plan_output(const plan *p, int i);

/* Bytes of the activation arena (0 before the first run), and the sum of
 * every intermediate's size and of the kernel scratches the arena holds
 * (one per node, at least 1 MiB each), to show what liveness-based reuse
 * saves. */
size_t plan_arena_bytes(const plan *p);
/* Nodes that run after fusion (absorbed nodes are not counted). */
int plan_node_count(const plan *p);
size_t plan_total_bytes(const plan *p);

/* Of the last run: values held in a blocked oneDNN layout, and inputs the
 * planner converted to plain for a kernel that does not take them blocked
 * (op_def.layout_inputs).  For tests and profiles: a training step of a
 * ResNet keeps its activations blocked and converts nothing. */
int plan_blocked_values(const plan *p);
int plan_conversions(const plan *p);

/* Floating-point operations of the last run, counted where nearly all of
 * them are: Conv and ConvGrad (per gradient asked for), Gemm, MatMul and
 * SupConLoss with its gradient; 2 per multiply-add.  Absorbed nodes'
 * elementwise work is not counted.  For GFLOP/s figures. */
double plan_flops(const plan *p);

/* Bytes counted against plan_options.max_memory right now (whether or not
 * a limit is set), and the most ever counted. */
size_t plan_memory_bytes(const plan *p);
size_t plan_memory_peak(const plan *p);

/* A hook after every node: during plan_run(), fn(ctx, node, err) is
 * called once per node of the model's graph (`node` indexes
 * graph.nodes) as soon as that node's outputs are final, in schedule
 * order; a node absorbed by a fusion is reported at its own place in the
 * schedule, after the node that did its work.  A non-zero return stops
 * the run with that status (fn fills err).  The trainer uses it to start
 * communication while the rest of the step computes.  fn NULL: none. */
typedef int (*plan_node_fn)(void *ctx, int node, sc_error *err);
void plan_set_node_callback(plan *p, plan_node_fn fn, void *ctx);

/* During a node callback (or after a run): the tensor holding value v
 * (an index into the graph's values), when it is held plain and has
 * been written; NULL otherwise.  Graph outputs and inputs are always
 * plain.  Its data may be read, and for a graph input bound by the
 * caller it is the caller's own buffer. */
const sc_tensor *plan_value(const plan *p, int v);

#endif
