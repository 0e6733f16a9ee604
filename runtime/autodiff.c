/* autodiff.c: reverse-mode differentiation as a graph transformation; see
 * autodiff.h.
 *
 * Three passes over the forward nodes in topological order: which values
 * depend on a wrt tensor (forward), which values the loss depends on
 * (backward), and then, in reverse order over the nodes in both sets, the
 * op's gradient rule.  Gradient contributions to one value are added as
 * they arrive. */
#include "autodiff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ops/op.h"
#include "infer.h"

struct grad_ctx {
	graph_model *m;
	graph *g;
	int64_t opset;
	unsigned long counter;
	int uses_supcon;
	/* grad_infer_value's memo: per node, the call that last visited it
	 * and the depth it was visited at */
	unsigned *seen_call;
	int *seen_depth;
	int seen_cap;
	unsigned call;
};

int64_t grad_opset(const grad_ctx *c) { return c->opset; }
graph *grad_graph(grad_ctx *c) { return c->g; }

const graph_node *grad_fwd(grad_ctx *c, int node)
{
	return &c->g->nodes[node];
}

int grad_dtype(grad_ctx *c, int v)
{
	const graph_type *t = &c->g->values[v].type;
	return t->kind == GRAPH_TYPE_TENSOR ? t->elem : 0;
}

/* A value name nothing in the graph uses yet. */
static int new_value(grad_ctx *c, const char *op, sc_error *err)
{
	char name[128];
	do
		snprintf(name, sizeof name, "autodiff/%s_%lu", op, ++c->counter);
	while (graph_find_value(c->g, name) >= 0);
	return graph_intern_value(c->g, name, err);
}

int grad_emit(grad_ctx *c, const char *op, const char *domain, int n_in,
	      const int *in, int n_out, int *out, sc_error *err)
{
	for (int j = 0; j < n_out; j++)
		if ((out[j] = new_value(c, op, err)) < 0)
			return -1;
	char name[128];
	snprintf(name, sizeof name, "autodiff/%s_node_%lu", op, ++c->counter);
	if (domain && strcmp(domain, "ai.supcon") == 0)
		c->uses_supcon = 1;
	return graph_add_node(c->g, op, domain ? domain : "", name, n_in, in,
			      n_out, out, err);
}

/* Types value v, if inference has not, by running the inference of its
 * producer (and, first, of the producers of that node's untyped inputs).
 * Only values made by earlier rules are visited, whose nodes carry all
 * their attributes by now, so the types are the ones the final inference
 * gives.  Best effort: a contradiction surfaces in that final pass. */
static void infer_value_at(grad_ctx *c, int v, int depth)
{
	if (v < 0 || depth > 64)
		return;
	const graph_value *val = &c->g->values[v];
	if ((val->type.kind == GRAPH_TYPE_TENSOR && val->type.rank >= 0) ||
	    val->producer < 0)
		return;
	int p = val->producer;
	/* a node reached again at the same depth or deeper has nothing new
	 * to give: without this a fan-in lattice is visited exponentially */
	if (p < c->seen_cap && c->seen_call[p] == c->call &&
	    c->seen_depth[p] <= depth)
		return;
	if (p < c->seen_cap) {
		c->seen_call[p] = c->call;
		c->seen_depth[p] = depth;
	}
	for (int j = 0; j < c->g->nodes[p].n_inputs; j++)
		infer_value_at(c, c->g->nodes[p].inputs[j], depth + 1);
	const graph_node *n = &c->g->nodes[p];
	int64_t opset = strcmp(n->domain, "ai.supcon") == 0 ? 1 :
			graph_model_opset(c->m, n->domain);
	const op_def *d = op_find(n->domain, n->op_type, opset);
	if (d && d->infer) {
		sc_error ignored = {0};
		d->infer(c->g, n, opset, &ignored);
	}
}

/* Types value v, if inference has not, by running the inference of its
 * producer (and, first, of the producers of that node's untyped inputs).
 * Only values made by earlier rules are visited, whose nodes carry all
 * their attributes by now, so the types are the ones the final inference
 * gives.  Best effort: a contradiction surfaces in that final pass, and
 * when the memo cannot grow the walk only loses its memo.  The recursion
 * is bounded to depth 64 whatever the graph's depth. */
static void grad_infer_value(grad_ctx *c, int v)
{
	if (c->seen_cap < c->g->n_nodes) {
		int cap = c->g->n_nodes * 2 + 64;
		unsigned *sc = realloc(c->seen_call, (size_t)cap * sizeof *sc);
		if (sc)
			c->seen_call = sc;
		int *sd = sc ? realloc(c->seen_depth, (size_t)cap * sizeof *sd) : NULL;
		if (sd) {
			c->seen_depth = sd;
			memset(c->seen_call + c->seen_cap, 0,
			       (size_t)(cap - c->seen_cap) * sizeof *sc);
			c->seen_cap = cap;
		}
	}
	c->call++;
	infer_value_at(c, v, 0);
}

int grad_unary(grad_ctx *c, const char *op, int x, sc_error *err)
{
	int y;
	return grad_emit(c, op, "", 1, &x, 1, &y, err) < 0 ? -1 : y;
}

/* Before opset 7 the arithmetic and comparison ops broadcast only when
 * told to (broadcast = 1), and only B towards A. */
static int legacy_broadcasting(const char *op)
{
	static const char *const ops[] = {
		"Add", "Sub", "Mul", "Div", "Pow", "Equal", "Less", "Greater",
		"And", "Or", "Xor", NULL,
	};
	for (int i = 0; ops[i]; i++)
		if (!strcmp(op, ops[i]))
			return 1;
	return 0;
}

int grad_binary(grad_ctx *c, const char *op, int a, int b, sc_error *err)
{
	int in[2] = {a, b}, y;
	int at = grad_emit(c, op, "", 2, in, 1, &y, err);
	if (at < 0)
		return -1;
	/* rules put scalar constants second; at opsets 1-6 they then need
	 * the attribute (a scalar B lines up with A's end) */
	const graph_type *tb = &c->g->values[b].type;
	if (c->opset < 7 && legacy_broadcasting(op) &&
	    tb->kind == GRAPH_TYPE_TENSOR && tb->rank == 0) {
		graph_attr *attr = graph_node_add_attr(&c->g->nodes[at], "broadcast",
						       ATTR_INT, err);
		if (!attr)
			return -1;
		attr->i = 1;
	}
	return y;
}

int grad_sum_to_shape(grad_ctx *c, int dx, int x, sc_error *err)
{
	/* a gradient made by earlier rules has no type yet */
	grad_infer_value(c, dx);
	grad_infer_value(c, x);
	const graph_type *a = &c->g->values[dx].type, *b = &c->g->values[x].type;
	/* skip the node when inference already proves the shapes equal: the
	 * same size, or the same symbolic name (the batch axis "N") */
	if (a->kind == GRAPH_TYPE_TENSOR && b->kind == GRAPH_TYPE_TENSOR &&
	    a->rank >= 0 && a->rank == b->rank) {
		int same = 1;
		for (int i = 0; i < a->rank && same; i++) {
			const graph_dim *d = &a->dims[i], *e = &b->dims[i];
			same = d->value >= 0 ? d->value == e->value :
			       e->value < 0 && d->param && e->param &&
			       *d->param && strcmp(d->param, e->param) == 0;
		}
		if (same)
			return dx;
	}
	int in[2] = {dx, x}, y;
	return grad_emit(c, "SumToShape", "ai.supcon", 2, in, 1, &y, err) < 0 ? -1 : y;
}

int grad_scalar(grad_ctx *c, int like, double v, sc_error *err)
{
	int dtype = grad_dtype(c, like);
	if (!tensor_dtype_is_float(dtype))
		dtype = SC_FLOAT;
	sc_tensor t;
	int rc = tensor_alloc(&t, dtype, 0, NULL, "autodiff constant", err);
	if (rc)
		return -1;
	switch (dtype) {
	case SC_DOUBLE: *(double *)t.data = v; break;
	case SC_FLOAT16: *(uint16_t *)t.data = tensor_float_to_half((float)v); break;
	case SC_BFLOAT16: *(uint16_t *)t.data = tensor_float_to_bf16((float)v); break;
	default: *(float *)t.data = (float)v; break;
	}
	int y = new_value(c, "const", err);
	if (y < 0 || graph_add_init(c->g, y, &t, err)) {
		tensor_free(&t);
		return -1;
	}
	graph_value *val = &c->g->values[y];
	val->type.kind = GRAPH_TYPE_TENSOR;
	val->type.elem = dtype;
	val->type.rank = 0;
	return y;
}

/* --- the transformation ------------------------------------------------------ */

static int float_or_unknown(const graph *g, int v)
{
	const graph_type *t = &g->values[v].type;
	if (t->kind == GRAPH_TYPE_NONE)
		return 1;
	return t->kind == GRAPH_TYPE_TENSOR &&
	       (t->elem == 0 || tensor_dtype_is_float(t->elem));
}

static const op_def *def_of(const graph_model *m, const graph_node *n)
{
	return op_find(n->domain, n->op_type, graph_model_opset(m, n->domain));
}

/* Whether input i of n can carry a gradient: by the op's mask when it has
 * a rule, else any float input (so a missing rule on the path is found). */
static int input_differentiable(const op_def *d, const graph *g,
				const graph_node *n, int i)
{
	int v = n->inputs[i];
	if (v < 0 || !float_or_unknown(g, v))
		return 0;
	if (d && d->grad)
		return i < 32 && (d->grad_inputs >> i & 1);
	return !(strcmp(n->op_type, "Shape") == 0 || strcmp(n->op_type, "Size") == 0);
}

static int add_contribution(grad_ctx *c, int *acc, int v, int gv, sc_error *err)
{
	if (acc[v] < 0) {
		acc[v] = gv;
		return SC_OK;
	}
	int sum = grad_binary(c, "Add", acc[v], gv, err);
	if (sum < 0)
		return err->code;
	acc[v] = sum;
	return SC_OK;
}

/* Publishes gradient gv of wrt value w as a graph output "<w>_grad". */
static int publish(grad_ctx *c, int w, int gv, int *out, sc_error *err)
{
	graph *g = c->g;
	char name[512];
	snprintf(name, sizeof name, "%s_grad", g->values[w].name);
	for (int k = 2; graph_find_value(g, name) >= 0; k++)
		snprintf(name, sizeof name, "%s_grad%d", g->values[w].name, k);
	int y = graph_intern_value(g, name, err);
	if (y < 0)
		return err->code;
	if (graph_add_node(g, "Identity", "", name, 1, &gv, 1, &y, err) < 0)
		return err->code;
	int *outs = realloc(g->outputs, (size_t)(g->n_outputs + 1) * sizeof *outs);
	if (!outs)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	g->outputs = outs;
	g->outputs[g->n_outputs++] = y;
	g->values[y].flags |= VALUE_OUTPUT;
	int rc = graph_type_copy(&g->values[y].type, &g->values[w].type, err);
	*out = y;
	return rc;
}

int autodiff_build(graph_model *m, const char *loss, int n_wrt,
		   const char *const *wrt, int *grads, sc_error *err)
{
	graph *g = m->graph;
	int rc = graph_infer_shapes(m, err);
	if (rc)
		return rc;
	int L = loss ? graph_find_value(g, loss) : (g->n_outputs ? g->outputs[0] : -1);
	if (L < 0)
		return sc_fail(err, SC_EINVAL, loss ? "loss '%s' is not a value of the graph" :
			       "the graph has no output to differentiate%s", loss ? loss : "");
	const graph_type *lt = &g->values[L].type;
	if (lt->kind == GRAPH_TYPE_TENSOR && lt->elem && !tensor_dtype_is_float(lt->elem))
		return sc_fail(err, SC_EINVAL, "loss '%s' is %s, not a floating-point scalar",
			       g->values[L].name, tensor_dtype_name(lt->elem));
	if (lt->kind == GRAPH_TYPE_TENSOR && lt->rank > 0) {
		for (int i = 0; i < lt->rank; i++)
			if (lt->dims[i].value > 1 || lt->dims[i].value == 0)
				return sc_fail(err, SC_EINVAL,
					       "loss '%s' is not a scalar: dim %d is %lld",
					       g->values[L].name, i,
					       (long long)lt->dims[i].value);
	}
	int *w_ids = malloc(((size_t)n_wrt + 1) * sizeof *w_ids);
	if (!w_ids)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	for (int i = 0; i < n_wrt; i++) {
		int v = graph_find_value(g, wrt[i]);
		if (v < 0 || !(g->values[v].flags & (VALUE_INPUT | VALUE_INITIALIZER))) {
			free(w_ids);
			return sc_fail(err, SC_EINVAL,
				       "'%s' is neither a graph input nor an initializer",
				       wrt[i]);
		}
		if (!float_or_unknown(g, v)) {
			free(w_ids);
			return sc_fail(err, SC_EINVAL,
				       "'%s' is %s: only floating-point tensors have gradients",
				       wrt[i], tensor_dtype_name(g->values[v].type.elem));
		}
		w_ids[i] = v;
		grads[i] = -1;
	}

	int n_nodes = g->n_nodes, n_values = g->n_values;
	int *order = malloc(((size_t)n_nodes + 1) * sizeof *order);
	char *active = calloc((size_t)n_values + 1, 1);
	char *needed = calloc((size_t)n_values + 1, 1);
	char *on_path = calloc((size_t)n_nodes + 1, 1);
	if (!order || !active || !needed || !on_path) {
		rc = sc_fail(err, SC_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = graph_toposort(g, order, err)))
		goto out;
	for (int i = 0; i < n_wrt; i++)
		active[w_ids[i]] = 1;
	for (int s = 0; s < n_nodes; s++) {
		const graph_node *n = &g->nodes[order[s]];
		const op_def *d = def_of(m, n);
		int any = 0;
		for (int i = 0; i < n->n_inputs && !any; i++)
			any = n->inputs[i] >= 0 && active[n->inputs[i]] &&
			      input_differentiable(d, g, n, i);
		for (int j = 0; any && j < n->n_outputs; j++)
			if (n->outputs[j] >= 0 && float_or_unknown(g, n->outputs[j]))
				active[n->outputs[j]] = 1;
	}
	needed[L] = 1;
	for (int s = n_nodes - 1; s >= 0; s--) {
		const graph_node *n = &g->nodes[order[s]];
		const op_def *d = def_of(m, n);
		int any = 0;
		for (int j = 0; j < n->n_outputs && !any; j++)
			any = n->outputs[j] >= 0 && needed[n->outputs[j]] &&
			      active[n->outputs[j]];
		if (!any)
			continue;
		for (int i = 0; i < n->n_inputs; i++)
			if (n->inputs[i] >= 0 && active[n->inputs[i]] &&
			    input_differentiable(d, g, n, i)) {
				needed[n->inputs[i]] = 1;
				on_path[order[s]] = 1;
			}
	}
	/* every op on the path needs a rule: report all that lack one */
	char missing[SC_ERROR_MAX] = "";
	size_t used = 0;
	int n_missing = 0;
	for (int i = 0; i < n_nodes; i++) {
		const graph_node *n = &g->nodes[i];
		if (!on_path[i])
			continue;
		const op_def *d = def_of(m, n);
		if (d && d->grad)
			continue;
		char item[200];
		snprintf(item, sizeof item, "%s%s%s (opset %lld)", n->domain,
			 *n->domain ? ":" : "", n->op_type,
			 (long long)graph_model_opset(m, n->domain));
		if (strstr(missing, item))
			continue;
		int k = snprintf(missing + used, sizeof missing - used, "%s%s",
				 n_missing ? ", " : "", item);
		if (k > 0 && (size_t)k < sizeof missing - used)
			used += (size_t)k;
		n_missing++;
	}
	if (n_missing) {
		rc = sc_fail(err, SC_EUNSUPPORTED, "no gradient rule for %s on the path to '%s': %s",
			     n_missing > 1 ? "these ops" : "this op", g->values[L].name,
			     missing);
		goto out;
	}

	grad_ctx c = {m, g, graph_model_opset(m, ""), 0, 0, NULL, NULL, 0, 0};
	/* acc grows as values are added; index only original values */
	int *acc = malloc(((size_t)n_values + 1) * sizeof *acc);
	if (!acc) {
		rc = sc_fail(err, SC_ENOMEM, "out of memory");
		goto out;
	}
	for (int v = 0; v < n_values; v++)
		acc[v] = -1;
	int seed;
	if (grad_emit(&c, "OnesLike", "ai.supcon", 1, &L, 1, &seed, err) < 0) {
		rc = err->code;
		goto out_acc;
	}
	acc[L] = seed;
	for (int s = n_nodes - 1; s >= 0 && !rc; s--) {
		int idx = order[s];
		if (!on_path[idx])
			continue;
		const graph_node *n = &g->nodes[idx];
		int n_out = n->n_outputs, n_in = n->n_inputs;
		int dy[32], dx[32], any = 0;
		if (n_out > 32 || n_in > 32) {
			rc = sc_fail(err, SC_EUNSUPPORTED, "node '%s' (%s): too many inputs or outputs to differentiate",
				     n->name, n->op_type);
			break;
		}
		for (int j = 0; j < n_out; j++) {
			dy[j] = n->outputs[j] >= 0 ? acc[n->outputs[j]] : -1;
			any |= dy[j] >= 0;
		}
		if (!any)
			continue;
		const op_def *d = def_of(m, n);
		for (int i = 0; i < n_in; i++)
			dx[i] = n->inputs[i] >= 0 && active[n->inputs[i]] &&
				needed[n->inputs[i]] && input_differentiable(d, g, n, i) ? -2 : -1;
		rc = d->grad(&c, idx, dy, dx, err);
		/* add_contribution may emit nodes and move the node array */
		for (int i = 0; i < n_in && !rc; i++)
			if (dx[i] >= 0)
				rc = add_contribution(&c, acc, g->nodes[idx].inputs[i],
						      dx[i], err);
	}
	for (int i = 0; i < n_wrt && !rc; i++)
		if (acc[w_ids[i]] >= 0)
			rc = publish(&c, w_ids[i], acc[w_ids[i]], &grads[i], err);
	if (!rc && c.uses_supcon)
		rc = graph_model_add_opset(m, "ai.supcon", 1, err);
out_acc:
	free(acc);
	free(c.seen_call);
	free(c.seen_depth);
out:
	free(order);
	free(active);
	free(needed);
	free(on_path);
	free(w_ids);
	return rc;
}
