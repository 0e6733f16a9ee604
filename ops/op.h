/* op.h: the operator registry.
 *
 * Each file in ops/ defines a table of op_def entries for one op family and
 * ops/registry.c lists those tables; nothing registers itself at run time.
 * An op_def covers one (domain, name) over an inclusive opset range; opset
 * differences inside that range are handled by the op's own functions,
 * which receive the opset in force.
 *
 * An entry carries what the op needs at each stage: attribute types for
 * validation, shape inference over declared types, and prepare/run/release
 * for the executor (runtime/plan.h).  Gradient builders come with autodiff. */
#ifndef SUPCON_OP_H
#define SUPCON_OP_H

#include <dnnl.h>

#include "../runtime/graph.h"
#include "../runtime/status.h"

/* An attribute the op understands and the type it must have. */
typedef struct op_attr_spec {
	const char *name;
	int type;          /* ATTR_* from graph.h */
} op_attr_spec;

/* Sets the types of n's outputs in g from its inputs' types where they can
 * be derived; leaves unknown what cannot.  Fails with SC_EINVAL when the
 * inputs contradict the op (wrong rank, mismatched dims), naming the node. */
typedef int (*op_infer_fn)(graph *g, const graph_node *n, int64_t opset,
			   sc_error *err);

struct exec_env;
struct grad_ctx;

/* Gradient rule (runtime/autodiff.h).  `node` indexes the forward node in
 * the graph being extended; dy[j] is the value holding the gradient of
 * output j, or -1 when no gradient flows into it.  On entry dx[i] is -2
 * for every input whose gradient is wanted and -1 otherwise; the rule sets
 * each wanted dx[i] to the value it emitted (or -1 for a zero gradient).
 * Fails naming the node when an attribute or input makes the op
 * non-differentiable here. */
typedef int (*op_grad_fn)(struct grad_ctx *c, int node, const int *dy,
			  int *dx, sc_error *err);

/* What the planner folded into a node (see runtime/plan.c).  Only ops
 * whose op_def lists the capability in fuse_caps ever receive one. */
enum {
	FUSE_RELU = 1 << 0,   /* max(0, y) on the output */
	FUSE_SUM = 1 << 1,    /* y + sum, before the relu; same shape as y */
};

typedef struct op_fusion {
	int relu;
	const sc_tensor *sum;  /* NULL when no residual is added */
	const dnnl_memory_desc_t *sum_md;  /* its layout; NULL: plain */
} op_fusion;

/* Layouts.  Tensors are plain row-major unless the planner lets a
 * producer and all of its readers keep oneDNN's blocked layouts between
 * them (ResNet activations stay in nChw16c from conv to conv).  A kernel
 * declares in op_def.layout_caps what it can do. */
enum {
	LAYOUT_SRC = 1 << 0,  /* reads input 0 in whatever layout in_md[0] gives */
	LAYOUT_DST = 1 << 1,  /* may write output 0 in a layout it picks */
	/* Elementwise over the inputs that op_def.layout_inputs does not
	 * list, which all have output 0's shape: when they hold one and the
	 * same unpadded layout, the planner runs the kernel on them as if
	 * they were plain (in_md stays NULL) and gives output 0 that layout.
	 * Element i of every buffer is then the same logical element, which
	 * is all an elementwise kernel needs.  Otherwise they arrive plain. */
	LAYOUT_SAME = 1 << 2,
};

/* One node as the executor runs it.  The executor fills g, node, opset,
 * in/out and env; the op owns `state`. */
typedef struct op_kernel {
	const graph *g;
	const graph_node *node;
	int64_t opset;
	int n_in;
	const sc_tensor *const *in;  /* in[i] NULL: optional input omitted */
	int n_out;
	sc_tensor *const *out;       /* out[i] NULL: optional output omitted */
	void *state;                 /* op-private: set by prepare, freed by release */
	struct exec_env *env;
	const op_fusion *fuse;       /* NULL: nothing fused */
	/* Layout of each input: NULL for plain row-major, else the oneDNN
	 * descriptor its producer chose (only ever non-NULL for input 0 of
	 * an op with LAYOUT_SRC and the inputs op_def.layout_inputs lists). */
	const dnnl_memory_desc_t *const *in_md;
	/* Set by the executor when output 0 may be blocked.  prepare then
	 * points out_md at a descriptor it owns (in state) if it picks a
	 * blocked layout, and sets out[0]->nbytes to that descriptor's size
	 * (dnnl_memory_desc_get_size), which may exceed the plain size. */
	int out_may_block;
	const dnnl_memory_desc_t *out_md;
} op_kernel;

/* Called before the first run and whenever the input dtypes or shapes (or
 * the values of the inputs named in value_inputs) change.  Validates the
 * inputs against the op, sets every present out[i]'s dtype and shape with
 * tensor_set_shape() (no data: the executor provides the memory), and
 * builds what run needs (oneDNN primitives, precomputed indices) in
 * k->state.  Input data is readable, so shape-from-value ops work.
 * Failures name the node: SC_EINVAL for inputs the op refuses,
 * SC_EUNSUPPORTED for valid ONNX that supcon does not implement. */
typedef int (*op_prepare_fn)(op_kernel *k, sc_error *err);

/* Computes the outputs into the memory the executor bound to out[i]->data.
 * Must not allocate when prepare succeeded with the same shapes. */
typedef int (*op_run_fn)(op_kernel *k, sc_error *err);

/* Frees k->state (may be NULL) and sets it to NULL. */
typedef void (*op_release_fn)(op_kernel *k);

typedef struct op_def {
	const char *domain;        /* "" for ONNX's default domain */
	const char *name;
	int since;                 /* first opset this entry covers */
	int until;                 /* last opset it covers */
	const op_attr_spec *attrs; /* terminated by a {NULL, 0} entry; NULL = none */
	op_infer_fn infer;
	op_prepare_fn prepare;     /* NULL: the engine cannot run this op */
	op_run_fn run;
	op_release_fn release;     /* NULL: state is unused or plain free() */
	unsigned value_inputs;     /* bit i: input i's values shape the outputs */
	unsigned fuse_caps;        /* FUSE_* the kernel honours in op_kernel.fuse */
	unsigned layout_caps;      /* LAYOUT_* */
	op_grad_fn grad;           /* NULL: not differentiable (yet) */
	unsigned grad_inputs;      /* bit i: input i can carry a gradient */
	/* Bit i: input i may arrive in a blocked layout, described by
	 * in_md[i], which the kernel handles (or it only reads the dims).
	 * LAYOUT_SRC implies bit 0.  An input whose producer left it blocked
	 * and whose reader does not take it so is converted to plain by the
	 * planner first, so kernels never see a layout they did not ask for. */
	unsigned layout_inputs;
} op_def;

/* The entry for (domain, name) at opset, or NULL.  "ai.onnx" is the
 * default domain. */
const op_def *op_find(const char *domain, const char *name, int64_t opset);

/* 1 if (domain, name) is registered at any opset. */
int op_known(const char *domain, const char *name);

#endif
