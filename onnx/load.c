/* load.c: ModelProto -> graph_model.
 *
 * The file is mapped, decoded once by protobuf-c, and converted into the IR;
 * raw_data buffers are moved, not copied, so peak memory stays near twice
 * the file size.  Model-local functions are inlined while converting
 * (except, by default, ops that supcon implements natively, such as
 * SupConLoss, which keep their fused kernel): a call's body nodes are added in place of the call, with formal parameters
 * bound to the actual names, internal names given a unique prefix, and
 * ref_attr_name attributes replaced by the caller's values.  After
 * conversion every use is checked against a definition, looking through
 * enclosing graphs for subgraphs (those uses become VALUE_OUTER). */
#include "internal.h"

#include "../ops/op.h"
#include "../runtime/fileio.h"

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_GRAPH_DEPTH 64    /* nested subgraphs */
#define MAX_INLINE_DEPTH 32   /* nested function calls */
#define MAX_DOMAINS 1024      /* distinct opset_import domains */
/* What inlining may add to the IR: a function called twice by a function
 * called twice ... expands exponentially, so the copies are charged
 * against a budget tied to the file's size instead of to the call depth. */
#define INLINE_BUDGET_MIN ((size_t)16 << 20)
#define INLINE_BUDGET_PER_BYTE 4
#define INLINE_NODE_COST 160  /* a graph_node and its arrays, roughly */

/* --- a set of borrowed strings, for the names a subgraph defines --------- */

typedef struct strset {
	const char **slot;
	size_t cap, n;
} strset;

static uint32_t str_hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

static int strset_add(strset *set, const char *s)
{
	if (!s || !*s)
		return 0;
	if (2 * (set->n + 1) > set->cap) {
		size_t cap = set->cap ? 2 * set->cap : 32;
		const char **slot = calloc(cap, sizeof *slot);
		if (!slot)
			return -1;
		for (size_t i = 0; i < set->cap; i++) {
			if (!set->slot[i])
				continue;
			size_t h = str_hash(set->slot[i]) & (cap - 1);
			while (slot[h])
				h = (h + 1) & (cap - 1);
			slot[h] = set->slot[i];
		}
		free(set->slot);
		set->slot = slot;
		set->cap = cap;
	}
	size_t h = str_hash(s) & (set->cap - 1);
	while (set->slot[h]) {
		if (strcmp(set->slot[h], s) == 0)
			return 0;
		h = (h + 1) & (set->cap - 1);
	}
	set->slot[h] = s;
	set->n++;
	return 0;
}

static int strset_has(const strset *set, const char *s)
{
	if (!set->cap)
		return 0;
	for (size_t h = str_hash(s) & (set->cap - 1); set->slot[h];
	     h = (h + 1) & (set->cap - 1))
		if (strcmp(set->slot[h], s) == 0)
			return 1;
	return 0;
}

/* --- naming scopes ------------------------------------------------------- */

/* A caller's attribute as seen from inside a function body. */
typedef struct bound_attr {
	const char *name;
	const Onnx__AttributeProto *src;
	const struct scope *src_scope;   /* where src's subgraphs resolve names */
} bound_attr;

/* Scopes exist only inside inlined functions, where names are rewritten.
 * Outside any function the scope pointer is NULL and names pass unchanged. */
typedef struct scope {
	const struct scope *up;
	const char *prefix;           /* added to names local to this function */
	/* function scope */
	const Onnx__FunctionProto *fn;
	char **actual_in, **actual_out;
	bound_attr *attrs;
	size_t n_attrs;
	/* subgraph scope inside a function */
	strset locals;
} scope;

static char *concat(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = malloc(la + lb + 1);
	if (s) {
		memcpy(s, a, la);
		memcpy(s + la, b, lb + 1);
	}
	return s;
}

/* The name `name` refers to once all enclosing inlinings are applied;
 * malloc'd, NULL when out of memory. */
static char *resolve(const scope *s, const char *name)
{
	if (!*name)
		return strdup("");
	for (; s; s = s->up) {
		if (s->fn) {
			for (size_t i = 0; i < s->fn->n_input; i++)
				if (strcmp(s->fn->input[i], name) == 0)
					return strdup(s->actual_in[i]);
			for (size_t i = 0; i < s->fn->n_output; i++)
				if (strcmp(s->fn->output[i], name) == 0)
					return strdup(s->actual_out[i]);
			/* function bodies are closed: anything else is internal */
			return concat(s->prefix, name);
		}
		if (strset_has(&s->locals, name))
			return concat(s->prefix, name);
	}
	return strdup(name);
}

static const scope *enclosing_function(const scope *s)
{
	for (; s; s = s->up)
		if (s->fn)
			return s;
	return NULL;
}

/* --- conversion ---------------------------------------------------------- */

typedef struct load_ctx {
	onnx_ctx io;
	graph_model *m;
	Onnx__FunctionProto **functions;
	size_t n_functions;
	int *fn_index;           /* open-addressing hash of functions by (domain, name) */
	size_t fn_cap;
	unsigned long n_inlined;
	int inline_all;          /* ONNX_LOAD_INLINE_ALL */
	/* > 0 while converting a function body: its protos are converted once
	 * per call, so tensors are copied, never moved out of the proto */
	int inlining;
	size_t budget;           /* bytes inlining may still add */
	size_t budget_total;     /* ... of this many in all */
} load_ctx;

static int convert_graph(load_ctx *c, Onnx__GraphProto *gp, graph *parent,
			 const scope *up, int depth, graph **out, sc_error *err);

static int oom(sc_error *err, const char *what)
{
	return sc_fail(err, SC_ENOMEM, "out of memory while reading %s", what);
}

static int convert_type(const Onnx__TypeProto *tp, graph_type *t,
			const char *what, int depth, sc_error *err)
{
	memset(t, 0, sizeof *t);
	t->rank = -1;
	if (!tp)
		return SC_OK;
	if (depth > MAX_GRAPH_DEPTH)
		return sc_fail(err, SC_EINVAL, "value '%s': type nesting too deep", what);
	/* "" (or a string that a NUL byte cuts to "") is no denotation,
	 * as the saver writes it */
	if (tp->denotation && *tp->denotation &&
	    !(t->denotation = strdup(tp->denotation)))
		return oom(err, what);
	const Onnx__TypeProto *inner = NULL;
	const Onnx__TensorShapeProto *shape = NULL;
	int elem = 0;
	switch (tp->value_case) {
	case ONNX__TYPE_PROTO__VALUE__NOT_SET:
		return SC_OK;
	case ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE:
		t->kind = GRAPH_TYPE_TENSOR;
		elem = tp->tensor_type->elem_type;
		shape = tp->tensor_type->shape;
		break;
	case ONNX__TYPE_PROTO__VALUE_SPARSE_TENSOR_TYPE:
		t->kind = GRAPH_TYPE_SPARSE_TENSOR;
		elem = tp->sparse_tensor_type->elem_type;
		shape = tp->sparse_tensor_type->shape;
		break;
	case ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE:
		t->kind = GRAPH_TYPE_SEQUENCE;
		inner = tp->sequence_type->elem_type;
		break;
	case ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE:
		t->kind = GRAPH_TYPE_OPTIONAL;
		inner = tp->optional_type->elem_type;
		break;
	case ONNX__TYPE_PROTO__VALUE_MAP_TYPE:
		t->kind = GRAPH_TYPE_MAP;
		elem = tp->map_type->key_type;
		inner = tp->map_type->value_type;
		break;
	default:
		return sc_fail(err, SC_EUNSUPPORTED, "value '%s': unknown type kind %d",
			       what, (int)tp->value_case);
	}
	/* 0 is "not given", which ONNX allows in subgraph and value_info types */
	if (elem != 0 && !tensor_dtype_valid(elem))
		return sc_fail(err, SC_EINVAL, "value '%s': unknown element type %d",
			       what, elem);
	t->elem = elem;
	if (shape) {
		t->rank = (int)shape->n_dim;
		if (shape->n_dim > INT_MAX / 2)
			return sc_fail(err, SC_EINVAL, "value '%s': rank too large", what);
		if (shape->n_dim) {
			t->dims = calloc(shape->n_dim, sizeof *t->dims);
			if (!t->dims)
				return oom(err, what);
		}
		for (size_t i = 0; i < shape->n_dim; i++) {
			const Onnx__TensorShapeProto__Dimension *d = shape->dim[i];
			t->dims[i].value = -1;
			if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
				if (d->dim_value < 0)
					return sc_fail(err, SC_EINVAL,
						       "value '%s': dim %zu is negative (%lld)",
						       what, i, (long long)d->dim_value);
				t->dims[i].value = d->dim_value;
			} else if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM &&
				   d->dim_param) {
				if (!(t->dims[i].param = strdup(d->dim_param)))
					return oom(err, what);
			}
		}
	}
	if (inner) {
		t->inner = malloc(sizeof *t->inner);
		if (!t->inner)
			return oom(err, what);
		return convert_type(inner, t->inner, what, depth + 1, err);
	}
	return SC_OK;
}

/* Applies a ValueInfoProto's type to value v unless it already has one. */
static int apply_value_info(graph *g, int v, const Onnx__ValueInfoProto *vi,
			    sc_error *err)
{
	graph_value *val = &g->values[v];
	if (!val->doc_string && vi->doc_string &&
	    !(val->doc_string = strdup(vi->doc_string)))
		return oom(err, val->name);
	if (val->type.kind != GRAPH_TYPE_NONE || !vi->type)
		return SC_OK;
	graph_type t;
	int rc = convert_type(vi->type, &t, val->name, 0, err);
	if (rc) {
		graph_type_clear(&t);
		return rc;
	}
	/* a type of kind NONE may still hold a denotation */
	graph_type_clear(&g->values[v].type);
	g->values[v].type = t;
	return SC_OK;
}

static int copy_bytes(sc_bytes *dst, const ProtobufCBinaryData *src)
{
	dst->len = src->len;
	dst->data = malloc(src->len ? src->len : 1);
	if (!dst->data)
		return -1;
	if (src->len)
		memcpy(dst->data, src->data, src->len);
	return 0;
}

/* The attribute type, inferred from the filled field for old files that
 * leave `type` out. */
static int attr_type_of(const Onnx__AttributeProto *a)
{
	if (a->has_type)
		return (int)a->type;
	if (a->has_f) return ATTR_FLOAT;
	if (a->has_i) return ATTR_INT;
	if (a->has_s) return ATTR_STRING;
	if (a->t) return ATTR_TENSOR;
	if (a->g) return ATTR_GRAPH;
	if (a->n_floats) return ATTR_FLOATS;
	if (a->n_ints) return ATTR_INTS;
	if (a->n_strings) return ATTR_STRINGS;
	if (a->n_tensors) return ATTR_TENSORS;
	if (a->n_graphs) return ATTR_GRAPHS;
	if (a->tp) return ATTR_TYPE_PROTO;
	if (a->n_type_protos) return ATTR_TYPE_PROTOS;
	return ATTR_UNDEFINED;
}

static int convert_attr(load_ctx *c, graph *g, graph_attr *a,
			const Onnx__AttributeProto *ap, const scope *s,
			int depth, const char *node, sc_error *err)
{
	size_t n = 0;
	switch (a->type) {
	case ATTR_FLOAT: a->f = ap->f; return SC_OK;
	case ATTR_INT: a->i = ap->i; return SC_OK;
	case ATTR_STRING:
		return copy_bytes(&a->s, &ap->s) ? oom(err, node) : SC_OK;
	case ATTR_TENSOR:
		if (!ap->t)
			return sc_fail(err, SC_EINVAL,
				       "node '%s': attribute '%s' of type TENSOR has no tensor",
				       node, a->name);
		if (!(a->t = calloc(1, sizeof *a->t)))
			return oom(err, node);
		return onnx_tensor_from_proto(&c->io, ap->t, !c->inlining, a->t, err);
	case ATTR_GRAPH:
		if (!ap->g)
			return sc_fail(err, SC_EINVAL,
				       "node '%s': attribute '%s' of type GRAPH has no graph",
				       node, a->name);
		return convert_graph(c, ap->g, g, s, depth + 1, &a->g, err);
	case ATTR_FLOATS:
		n = ap->n_floats;
		if (n && !(a->floats = malloc(n * sizeof *a->floats)))
			return oom(err, node);
		if (n)
			memcpy(a->floats, ap->floats, n * sizeof *a->floats);
		break;
	case ATTR_INTS:
		n = ap->n_ints;
		if (n && !(a->ints = malloc(n * sizeof *a->ints)))
			return oom(err, node);
		if (n)
			memcpy(a->ints, ap->ints, n * sizeof *a->ints);
		break;
	case ATTR_STRINGS:
		n = ap->n_strings;
		if (n && !(a->strings = calloc(n, sizeof *a->strings)))
			return oom(err, node);
		for (size_t i = 0; i < n; i++) {
			a->n = (int)i;
			if (copy_bytes(&a->strings[i], &ap->strings[i]))
				return oom(err, node);
		}
		break;
	case ATTR_TENSORS:
		n = ap->n_tensors;
		if (n && !(a->tensors = calloc(n, sizeof *a->tensors)))
			return oom(err, node);
		for (size_t i = 0; i < n; i++) {
			a->n = (int)i;
			int rc = onnx_tensor_from_proto(&c->io, ap->tensors[i],
							!c->inlining,
							&a->tensors[i], err);
			if (rc)
				return rc;
		}
		break;
	case ATTR_GRAPHS:
		n = ap->n_graphs;
		if (n && !(a->graphs = calloc(n, sizeof *a->graphs)))
			return oom(err, node);
		for (size_t i = 0; i < n; i++) {
			a->n = (int)i + 1;
			int rc = convert_graph(c, ap->graphs[i], g, s, depth + 1,
					       &a->graphs[i], err);
			if (rc)
				return rc;
		}
		break;
	case ATTR_TYPE_PROTO:
		if (!ap->tp)
			return sc_fail(err, SC_EINVAL,
				       "node '%s': attribute '%s' of type TYPE_PROTO has no type",
				       node, a->name);
		if (!(a->tp = calloc(1, sizeof *a->tp)))
			return oom(err, node);
		return convert_type(ap->tp, a->tp, a->name, 0, err);
	case ATTR_TYPE_PROTOS:
		n = ap->n_type_protos;
		if (n && !(a->tps = calloc(n, sizeof *a->tps)))
			return oom(err, node);
		for (size_t i = 0; i < n; i++) {
			a->n = (int)i + 1;
			int rc = convert_type(ap->type_protos[i], &a->tps[i],
					      a->name, 0, err);
			if (rc)
				return rc;
		}
		break;
	case ATTR_SPARSE_TENSOR:
	case ATTR_SPARSE_TENSORS:
		return sc_fail(err, SC_EUNSUPPORTED,
			       "node '%s': attribute '%s' is a sparse tensor, which supcon does not support",
			       node, a->name);
	default:
		return sc_fail(err, SC_EINVAL,
			       "node '%s': attribute '%s' has unknown type %d", node,
			       a->name, a->type);
	}
	if (n > INT_MAX)
		return sc_fail(err, SC_EINVAL, "node '%s': attribute '%s' is too long",
			       node, a->name);
	a->n = (int)n;
	return SC_OK;
}

static uint32_t fn_hash(const char *domain, const char *name)
{
	return str_hash(domain) * 31u ^ str_hash(name);
}

static int fn_matches(const Onnx__FunctionProto *f, const char *domain,
		      const char *op)
{
	return f->name && strcmp(f->name, op) == 0 &&
	       strcmp(f->domain ? f->domain : "", domain) == 0;
}

/* Hashes the model's functions by (domain, name), so that looking up every
 * node's op is not a scan of every function (quadratic on hostile files).
 * The first of two functions with the same key wins, as a scan would. */
static int index_functions(load_ctx *c)
{
	if (!c->n_functions)
		return 0;
	size_t cap = 16;
	while (cap < 2 * c->n_functions)
		cap *= 2;
	c->fn_index = malloc(cap * sizeof *c->fn_index);
	if (!c->fn_index)
		return -1;
	for (size_t i = 0; i < cap; i++)
		c->fn_index[i] = -1;
	c->fn_cap = cap;
	for (size_t i = 0; i < c->n_functions; i++) {
		const Onnx__FunctionProto *f = c->functions[i];
		const char *d = f->domain ? f->domain : "";
		size_t h = fn_hash(d, f->name) & (cap - 1);
		for (; c->fn_index[h] >= 0; h = (h + 1) & (cap - 1))
			if (fn_matches(c->functions[c->fn_index[h]], d, f->name))
				break;
		if (c->fn_index[h] < 0)
			c->fn_index[h] = (int)i;
	}
	return 0;
}

static const Onnx__FunctionProto *find_function(const load_ctx *c,
						const char *domain,
						const char *op)
{
	if (!c->fn_cap)
		return NULL;
	for (size_t h = fn_hash(domain, op) & (c->fn_cap - 1); c->fn_index[h] >= 0;
	     h = (h + 1) & (c->fn_cap - 1))
		if (fn_matches(c->functions[c->fn_index[h]], domain, op))
			return c->functions[c->fn_index[h]];
	return NULL;
}

/* Finds what a ref_attr_name points at, following calls outwards. */
static const bound_attr *bind_ref(const scope *s, const char *ref)
{
	const scope *f = enclosing_function(s);
	if (!f)
		return NULL;
	for (size_t i = 0; i < f->n_attrs; i++)
		if (strcmp(f->attrs[i].name, ref) == 0)
			return &f->attrs[i];
	return NULL;
}

static int convert_node(load_ctx *c, graph *g, const Onnx__NodeProto *np,
			const scope *s, int depth, sc_error *err);

static void function_scope_free(scope *fs)
{
	if (fs->actual_in)
		for (size_t i = 0; i < fs->fn->n_input; i++)
			free(fs->actual_in[i]);
	if (fs->actual_out)
		for (size_t i = 0; i < fs->fn->n_output; i++)
			free(fs->actual_out[i]);
	free(fs->actual_in);
	free(fs->actual_out);
	free(fs->attrs);
	free((char *)fs->prefix);
}

/* Charges a node copied out of a function body, or a call expanded,
 * against the budget: its serialized size (names, attributes, tensors and
 * subgraphs) stands for what converting it allocates, plus the prefixed
 * names.  Calls are charged too, so that empty bodies calling each other
 * cannot spin for 2^32 calls. */
static int charge_inlined(load_ctx *c, const Onnx__NodeProto *np,
			  const scope *s, const char *label, sc_error *err)
{
	const scope *fs = enclosing_function(s);
	size_t prefix = fs ? strlen(fs->prefix) : 0;
	size_t cost = INLINE_NODE_COST + onnx__node_proto__get_packed_size(np) +
		      (np->n_input + np->n_output + 1) * (prefix + sizeof(int));
	if (cost > c->budget)
		return sc_fail(err, SC_EINVAL,
			       "node '%s': inlining the model's functions expands it "
			       "past %zu bytes (%lu calls so far); functions that call "
			       "each other repeatedly are refused",
			       label, c->budget_total, c->n_inlined);
	c->budget -= cost;
	return SC_OK;
}

static int inline_call(load_ctx *c, graph *g, const Onnx__NodeProto *np,
		       const Onnx__FunctionProto *fn, const scope *s,
		       int depth, sc_error *err)
{
	const char *node = np->name && *np->name ? np->name : np->op_type;
	if (depth >= MAX_INLINE_DEPTH)
		return sc_fail(err, SC_EINVAL,
			       "node '%s': function '%s' calls itself or nests deeper than %d",
			       node, fn->name, MAX_INLINE_DEPTH);
	int rc = charge_inlined(c, np, s, node, err);
	if (rc)
		return rc;
	if (np->n_input > fn->n_input || np->n_output > fn->n_output)
		return sc_fail(err, SC_EINVAL,
			       "node '%s': calls function '%s' with %zu inputs and %zu outputs, it takes %zu and %zu",
			       node, fn->name, np->n_input, np->n_output,
			       fn->n_input, fn->n_output);
	scope fs = {0};
	fs.up = s;
	fs.fn = fn;
	/* the whole function name, however long: a truncated one could give
	 * two calls the same prefix */
	char count[32];
	snprintf(count, sizeof count, "__inl%lu__", ++c->n_inlined);
	fs.prefix = concat(fn->name, count);
	fs.actual_in = calloc(fn->n_input + 1, sizeof(char *));
	fs.actual_out = calloc(fn->n_output + 1, sizeof(char *));
	fs.attrs = calloc(np->n_attribute + 1, sizeof *fs.attrs);
	if (!fs.prefix || !fs.actual_in || !fs.actual_out || !fs.attrs) {
		rc = oom(err, node);
		goto out;
	}
	for (size_t i = 0; i < fn->n_input; i++)
		if (!(fs.actual_in[i] = resolve(s, i < np->n_input ? np->input[i] : ""))) {
			rc = oom(err, node);
			goto out;
		}
	for (size_t i = 0; i < fn->n_output; i++)
		if (!(fs.actual_out[i] = resolve(s, i < np->n_output ? np->output[i] : ""))) {
			rc = oom(err, node);
			goto out;
		}
	for (size_t i = 0; i < np->n_attribute; i++) {
		const Onnx__AttributeProto *ap = np->attribute[i];
		bound_attr b = {ap->name, ap, s};
		if (ap->ref_attr_name && *ap->ref_attr_name) {
			const bound_attr *outer = bind_ref(s, ap->ref_attr_name);
			if (!outer)
				continue;   /* caller left it unset: body default */
			b.src = outer->src;
			b.src_scope = outer->src_scope;
		}
		fs.attrs[fs.n_attrs++] = b;
	}
	c->inlining++;
	for (size_t i = 0; i < fn->n_node && !rc; i++)
		rc = convert_node(c, g, fn->node[i], &fs, depth + 1, err);
	c->inlining--;
out:
	function_scope_free(&fs);
	return rc;
}

/* Value index for a name as written in the file, -1 for "" (omitted). */
static int value_for(graph *g, const scope *s, const char *name, sc_error *err,
		     int *v)
{
	*v = -1;
	if (!name || !*name)
		return SC_OK;
	char *r = resolve(s, name);
	if (!r)
		return oom(err, name);
	*v = graph_intern_value(g, r, err);
	free(r);
	return *v < 0 ? err->code : SC_OK;
}

static int convert_node(load_ctx *c, graph *g, const Onnx__NodeProto *np,
			const scope *s, int depth, sc_error *err)
{
	int rc = SC_OK;
	if (!np->op_type || !*np->op_type)
		return sc_fail(err, SC_EINVAL, "node '%s' has no op_type",
			       np->name ? np->name : "");
	const char *domain = np->domain ? np->domain : "";
	const char *label = np->name && *np->name ? np->name : np->op_type;
	const Onnx__FunctionProto *fn = find_function(c, domain, np->op_type);
	/* An op supcon implements natively (SupConLoss, whose body the saver
	 * attaches for other runtimes) keeps its fused kernel. */
	const op_def *native = op_find(domain, np->op_type,
				       graph_model_opset(c->m, domain));
	if (fn && (c->inline_all || !(native && native->run)))
		return inline_call(c, g, np, fn, s, depth, err);
	if (np->n_input > INT_MAX / 2 || np->n_output > INT_MAX / 2)
		return sc_fail(err, SC_EINVAL, "node '%s': too many inputs", label);
	if (c->inlining && (rc = charge_inlined(c, np, s, label, err)))
		return rc;

	int *ids = malloc((np->n_input + np->n_output + 1) * sizeof *ids);
	if (!ids)
		return oom(err, label);
	for (size_t i = 0; i < np->n_input && !rc; i++)
		rc = value_for(g, s, np->input[i], err, &ids[i]);
	for (size_t i = 0; i < np->n_output && !rc; i++)
		rc = value_for(g, s, np->output[i], err, &ids[np->n_input + i]);
	char *name = NULL;
	if (!rc && !(name = resolve(s, np->name ? np->name : "")))
		rc = oom(err, label);
	int idx = -1;
	if (!rc) {
		idx = graph_add_node(g, np->op_type, domain, name, (int)np->n_input,
				     ids, (int)np->n_output, ids + np->n_input, err);
		if (idx < 0)
			rc = err->code;
	}
	free(name);
	free(ids);
	if (rc)
		return rc;
	if (np->doc_string &&
	    !(g->nodes[idx].doc_string = strdup(np->doc_string)))
		return oom(err, label);

	for (size_t i = 0; i < np->n_attribute; i++) {
		const Onnx__AttributeProto *ap = np->attribute[i];
		const scope *src_scope = s;
		if (!ap->name || !*ap->name)
			return sc_fail(err, SC_EINVAL,
				       "node '%s' (%s): attribute %zu has no name",
				       label, np->op_type, i);
		if (ap->ref_attr_name && *ap->ref_attr_name && enclosing_function(s)) {
			const bound_attr *b = bind_ref(s, ap->ref_attr_name);
			if (!b)
				continue;
			src_scope = b->src_scope;
			ap = b->src;
		}
		graph_node *n = &g->nodes[idx];
		graph_attr *a = graph_node_add_attr(n, np->attribute[i]->name,
						    attr_type_of(ap), err);
		if (!a)
			return err->code;
		if (ap == np->attribute[i] && ap->ref_attr_name &&
		    !(a->ref_attr_name = strdup(ap->ref_attr_name)))
			return oom(err, label);
		if (ap->doc_string && !(a->doc_string = strdup(ap->doc_string)))
			return oom(err, label);
		rc = convert_attr(c, g, a, ap, src_scope, depth, label, err);
		if (rc)
			return rc;
	}
	return SC_OK;
}

/* Names a subgraph defines itself; only needed inside inlined functions. */
static int collect_locals(const Onnx__GraphProto *gp, strset *set)
{
	for (size_t i = 0; i < gp->n_input; i++)
		if (strset_add(set, gp->input[i]->name))
			return -1;
	for (size_t i = 0; i < gp->n_initializer; i++)
		if (strset_add(set, gp->initializer[i]->name))
			return -1;
	for (size_t i = 0; i < gp->n_node; i++)
		for (size_t j = 0; j < gp->node[i]->n_output; j++)
			if (strset_add(set, gp->node[i]->output[j]))
				return -1;
	return 0;
}

/* Appends to an id array the loader alone fills; its capacity is the
 * next power of two, so growing to n entries costs O(n), not O(n^2). */
static int append_id(int **arr, int *n, int v)
{
	if (*n == INT_MAX)
		return -1;
	if ((*n & (*n - 1)) == 0) {
		size_t cap = *n ? 2 * (size_t)*n : 1;
		int *p = realloc(*arr, cap * sizeof *p);
		if (!p)
			return -1;
		*arr = p;
	}
	(*arr)[(*n)++] = v;
	return 0;
}

static int convert_graph(load_ctx *c, Onnx__GraphProto *gp, graph *parent,
			 const scope *up, int depth, graph **out, sc_error *err)
{
	*out = NULL;
	if (depth > MAX_GRAPH_DEPTH)
		return sc_fail(err, SC_EINVAL, "subgraphs nest deeper than %d",
			       MAX_GRAPH_DEPTH);
	graph *g = graph_new(parent);
	if (!g)
		return oom(err, "graph");
	*out = g;
	if ((gp->name && !(g->name = strdup(gp->name))) ||
	    (gp->doc_string && !(g->doc_string = strdup(gp->doc_string))))
		return oom(err, "graph");

	/* Inside an inlined function, a subgraph's own names get the
	 * function's prefix too, so that two inlined copies never clash. */
	scope local = {0};
	const scope *s = NULL;
	const scope *fn = enclosing_function(up);
	int rc = SC_OK;
	if (fn) {
		local.up = up;
		local.prefix = fn->prefix;
		if (collect_locals(gp, &local.locals)) {
			rc = oom(err, "graph");
			goto out;
		}
		s = &local;
	}

	for (size_t i = 0; i < gp->n_input && !rc; i++) {
		const Onnx__ValueInfoProto *vi = gp->input[i];
		int v;
		if (!vi->name || !*vi->name) {
			rc = sc_fail(err, SC_EINVAL, "graph input %zu has no name", i);
			break;
		}
		if ((rc = value_for(g, s, vi->name, err, &v)))
			break;
		if (g->values[v].flags & VALUE_INPUT) {
			rc = sc_fail(err, SC_EINVAL, "graph input '%s' is listed twice",
				     vi->name);
			break;
		}
		g->values[v].flags |= VALUE_INPUT;
		if (append_id(&g->inputs, &g->n_inputs, v))
			rc = oom(err, vi->name);
		else
			rc = apply_value_info(g, v, vi, err);
	}
	for (size_t i = 0; i < gp->n_initializer && !rc; i++) {
		Onnx__TensorProto *tp = gp->initializer[i];
		int v;
		if (!tp->name || !*tp->name) {
			rc = sc_fail(err, SC_EINVAL, "initializer %zu has no name", i);
			break;
		}
		if ((rc = value_for(g, s, tp->name, err, &v)))
			break;
		sc_tensor t;
		if ((rc = onnx_tensor_from_proto(&c->io, tp, !c->inlining, &t, err)))
			break;
		if ((rc = graph_add_init(g, v, &t, err))) {
			tensor_free(&t);
			break;
		}
		graph_init *in = &g->inits[g->n_inits - 1];
		if (tp->doc_string && !(in->doc_string = strdup(tp->doc_string)))
			rc = oom(err, tp->name);
	}
	if (!rc && gp->n_sparse_initializer)
		rc = sc_fail(err, SC_EUNSUPPORTED,
			     "sparse initializer '%s' is not supported",
			     gp->sparse_initializer[0]->values &&
			     gp->sparse_initializer[0]->values->name ?
			     gp->sparse_initializer[0]->values->name : "");
	for (size_t i = 0; i < gp->n_node && !rc; i++)
		rc = convert_node(c, g, gp->node[i], s, depth, err);
	for (size_t i = 0; i < gp->n_output && !rc; i++) {
		const Onnx__ValueInfoProto *vi = gp->output[i];
		int v;
		if (!vi->name || !*vi->name) {
			rc = sc_fail(err, SC_EINVAL, "graph output %zu has no name", i);
			break;
		}
		if ((rc = value_for(g, s, vi->name, err, &v)))
			break;
		g->values[v].flags |= VALUE_OUTPUT;
		if (append_id(&g->outputs, &g->n_outputs, v))
			rc = oom(err, vi->name);
		else
			rc = apply_value_info(g, v, vi, err);
	}
	for (size_t i = 0; i < gp->n_value_info && !rc; i++) {
		const Onnx__ValueInfoProto *vi = gp->value_info[i];
		int v;
		if (!vi->name || !*vi->name)
			continue;
		if ((rc = value_for(g, s, vi->name, err, &v)))
			break;
		if (g->values[v].flags & VALUE_INFO)
			continue;
		g->values[v].flags |= VALUE_INFO;
		if (append_id(&g->value_infos, &g->n_value_infos, v))
			rc = oom(err, vi->name);
		else
			rc = apply_value_info(g, v, vi, err);
	}
out:
	free(local.locals.slot);
	return rc;
}

/* --- definitions --------------------------------------------------------- */

static int is_defined(const graph_value *v)
{
	return v->producer >= 0 ||
	       (v->flags & (VALUE_INPUT | VALUE_INITIALIZER | VALUE_OUTER));
}

/* Marks v as captured from an enclosing graph, or reports it undefined. */
static int bind_use(graph *g, int v, const char *user, sc_error *err)
{
	graph_value *val = &g->values[v];
	if (is_defined(val))
		return SC_OK;
	for (const graph *p = g->parent; p; p = p->parent) {
		int w = graph_find_value(p, val->name);
		if (w >= 0 && is_defined(&p->values[w])) {
			val->flags |= VALUE_OUTER;
			return SC_OK;
		}
	}
	return sc_fail(err, SC_EINVAL,
		       "%s uses '%s', which no node, graph input or initializer defines",
		       user, val->name);
}

static int check_definitions(const graph_model *m, graph *g, sc_error *err)
{
	char user[512];
	for (int i = 0; i < g->n_nodes; i++) {
		graph_node *n = &g->nodes[i];
		snprintf(user, sizeof user, "node '%s' (%s)", n->name, n->op_type);
		if (graph_model_opset(m, n->domain) == 0)
			return sc_fail(err, SC_EINVAL,
				       "%s: domain '%s' is not in the model's opset_import",
				       user, n->domain);
		for (int j = 0; j < n->n_inputs; j++) {
			if (n->inputs[j] < 0)
				continue;
			int rc = bind_use(g, n->inputs[j], user, err);
			if (rc)
				return rc;
		}
	}
	for (int i = 0; i < g->n_outputs; i++) {
		snprintf(user, sizeof user, "graph output %d", i);
		int rc = bind_use(g, g->outputs[i], user, err);
		if (rc)
			return rc;
	}
	/* subgraphs after their parent, so outer flags chain correctly */
	for (int i = 0; i < g->n_nodes; i++) {
		graph_node *n = &g->nodes[i];
		for (int j = 0; j < n->n_attrs; j++) {
			graph_attr *a = &n->attrs[j];
			int rc = SC_OK;
			if (a->type == ATTR_GRAPH && a->g)
				rc = check_definitions(m, a->g, err);
			for (int k = 0; !rc && a->type == ATTR_GRAPHS && k < a->n; k++)
				rc = check_definitions(m, a->graphs[k], err);
			if (rc)
				return rc;
		}
	}
	return SC_OK;
}

/* --- the model ----------------------------------------------------------- */

static int add_opset(graph_model *m, const char *domain, int64_t version)
{
	graph_opset *o = realloc(m->opsets, (size_t)(m->n_opsets + 1) * sizeof *o);
	if (!o)
		return -1;
	m->opsets = o;
	o[m->n_opsets].domain = strdup(domain ? domain : "");
	o[m->n_opsets].version = version;
	if (!o[m->n_opsets].domain)
		return -1;
	m->n_opsets++;
	return 0;
}

static int convert_model(Onnx__ModelProto *mp, const onnx_ctx *io, int flags,
			 size_t file_len, graph_model **out, sc_error *err)
{
	if (!mp->graph)
		return sc_fail(err, SC_EINVAL, "the model has no graph");
	if (mp->n_opset_import > 1024 || mp->n_metadata_props > (1 << 20))
		return sc_fail(err, SC_EINVAL, "too many opset imports or metadata entries");
	graph_model *m = calloc(1, sizeof *m);
	if (!m)
		return oom(err, "model");
	*out = m;
	m->ir_version = mp->has_ir_version ? mp->ir_version : 0;
	m->model_version = mp->has_model_version ? mp->model_version : 0;
	if ((mp->producer_name && !(m->producer_name = strdup(mp->producer_name))) ||
	    (mp->producer_version && !(m->producer_version = strdup(mp->producer_version))) ||
	    (mp->domain && !(m->domain = strdup(mp->domain))) ||
	    (mp->doc_string && !(m->doc_string = strdup(mp->doc_string))))
		return oom(err, "model");
	for (size_t i = 0; i < mp->n_opset_import; i++) {
		const Onnx__OperatorSetIdProto *o = mp->opset_import[i];
		const char *d = o->domain ? o->domain : "";
		if (graph_model_opset(m, d) != 0)
			return sc_fail(err, SC_EINVAL,
				       "opset_import lists domain '%s' twice", d);
		if (add_opset(m, d, o->has_version ? o->version : 0))
			return oom(err, "opset_import");
	}
	if (mp->n_metadata_props) {
		m->metadata = calloc(mp->n_metadata_props, sizeof *m->metadata);
		if (!m->metadata)
			return oom(err, "metadata_props");
	}
	for (size_t i = 0; i < mp->n_metadata_props; i++) {
		const Onnx__StringStringEntryProto *e = mp->metadata_props[i];
		m->metadata[i].key = strdup(e->key ? e->key : "");
		m->metadata[i].value = strdup(e->value ? e->value : "");
		m->n_metadata++;
		if (!m->metadata[i].key || !m->metadata[i].value)
			return oom(err, "metadata_props");
	}
	/* A function may use domains the model itself does not import. */
	for (size_t i = 0; i < mp->n_functions; i++) {
		const Onnx__FunctionProto *f = mp->functions[i];
		if (!f->name || !*f->name)
			return sc_fail(err, SC_EINVAL, "function %zu has no name", i);
		for (size_t j = 0; j < f->n_opset_import; j++) {
			const Onnx__OperatorSetIdProto *o = f->opset_import[j];
			const char *d = o->domain ? o->domain : "";
			if (graph_model_opset(m, d) != 0)
				continue;
			if (m->n_opsets >= MAX_DOMAINS)
				return sc_fail(err, SC_EINVAL,
					       "function '%s': the model's functions import more than %d domains",
					       f->name, MAX_DOMAINS);
			if (add_opset(m, d, o->has_version ? o->version : 1))
				return oom(err, "opset_import");
		}
	}
	load_ctx c = {
		.io = *io,
		.m = m,
		.functions = mp->functions,
		.n_functions = mp->n_functions,
		.inline_all = (flags & ONNX_LOAD_INLINE_ALL) != 0,
		.budget = INLINE_BUDGET_MIN,
	};
	if (file_len <= (SIZE_MAX - c.budget) / INLINE_BUDGET_PER_BYTE)
		c.budget += INLINE_BUDGET_PER_BYTE * file_len;
	c.budget_total = c.budget;
	if (index_functions(&c))
		return oom(err, "functions");
	int rc = convert_graph(&c, mp->graph, NULL, NULL, 0, &m->graph, err);
	if (!rc)
		rc = check_definitions(m, m->graph, err);
	free(c.fn_index);
	return rc;
}

int onnx_load_memory(const void *buf, size_t len, const char *base_dir,
		     const char *label, graph_model **out, sc_error *err)
{
	return onnx_load_memory_flags(buf, len, base_dir, label, 0, out, err);
}

int onnx_load_memory_flags(const void *buf, size_t len, const char *base_dir,
			   const char *label, int flags, graph_model **out,
			   sc_error *err)
{
	*out = NULL;
	if (!label)
		label = "<memory>";
	if (len == 0)
		return sc_fail(err, SC_EINVAL, "%s: empty file, expected an ONNX model",
			       label);
	int rc = onnx_check_nesting(buf, len, &onnx__model_proto__descriptor,
				    label, err);
	if (rc)
		return rc;
	Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, buf);
	if (!mp)
		return sc_fail(err, SC_EINVAL,
			       "%s: not a valid ONNX model (protobuf decoding failed: truncated or corrupt file)",
			       label);
	onnx_ctx io = {label, base_dir};
	graph_model *m = NULL;
	rc = convert_model(mp, &io, flags, len, &m, err);
	onnx__model_proto__free_unpacked(mp, NULL);
	if (rc) {
		graph_model_free(m);
		sc_error_prefix(err, "%s: ", label);
		return rc;
	}
	*out = m;
	return SC_OK;
}

int onnx_load_file(const char *path, graph_model **out, sc_error *err)
{
	*out = NULL;
	void *data;
	size_t len;
	int rc = onnx_map_file(path, &data, &len, err);
	if (rc)
		return rc;
	/* never to be overwritten by this process (fileio.h) */
	if ((rc = sc_input_register(path, err))) {
		onnx_unmap_file(data, len);
		return rc;
	}
	char *copy = strdup(path);
	if (!copy) {
		onnx_unmap_file(data, len);
		return sc_fail(err, SC_ENOMEM, "%s: out of memory", path);
	}
	/* dirname may modify its argument and return a pointer into it */
	const char *dir = dirname(copy);
	rc = onnx_load_memory(data, len, dir, path, out, err);
	free(copy);
	onnx_unmap_file(data, len);
	return rc;
}
