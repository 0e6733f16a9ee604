/* supcon_function.c: ai.supcon SupConLoss as an ONNX FunctionProto made of
 * standard ops, so that runtimes without our fused kernel (ONNX Runtime,
 * onnx's reference) can execute a model that calls it.  The saver attaches
 * it to every model whose graph calls SupConLoss; see onnx.h.
 *
 * The body computes what ops/supcon_loss.c computes (DESIGN.md):
 *   den    = max(sqrt(ReduceSumSquare(x, 1)), 1e-12) ^ normalize
 *   z      = x / den
 *   logits = z z^T / temperature, with -inf on the diagonal (a row is
 *            never its own candidate), so LogSoftmax over axis 1 is the
 *            log softmax over a != i with the max shift built in
 *   pos    = (labels[i] == labels[a]) and i != a
 *   mean_i = sum over pos of logp / max(#pos, 1)
 *   loss_i = -(temperature / base_temperature) mean_i
 * The reduction is done by NegativeLogLikelihoodLoss, because it is the one
 * standard op that takes a "mean" | "none" string attribute, which the
 * body forwards from the caller.  Its scores are [M, 2], column 0 zero and
 * column 1 = -loss_i; the target is 1 for anchors with a positive and 0
 * otherwise; the class weights are [1e-20, 1].  "none" then gives loss_i,
 * and 0 for an anchor without positive; "mean" gives
 *   sum_i loss_i / (#anchors with a positive + 1e-20 #others),
 * which is the mean over anchors with a positive to float precision
 * (1e-20 M is far below an ulp of 1), and 0, not 0/0, when no anchor has
 * a positive.
 *
 * Limits: the body is written for opsets 13..17 (ReduceSum and Unsqueeze
 * take axes as inputs, ReduceSumSquare as an attribute, Constant takes
 * value_float) and float32 features (its constants are float32).  A
 * FunctionProto of IR version 8 cannot give its attributes defaults, and
 * base_temperature's default is another attribute anyway, so the saver
 * writes every SupConLoss call's four attributes out in full.
 *
 * Memory: everything comes from the allocator the saver lends; string
 * literals and constant arrays are borrowed, never copied. */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BODY_MAX_NODES 48
#define SUPCON_DOMAIN "ai.supcon"
#define SUPCON_OP "SupConLoss"

static const char *const attr_names[] = {
	"temperature", "base_temperature", "normalize", "reduction",
};
#define N_ATTRS ((int)(sizeof attr_names / sizeof attr_names[0]))

typedef struct body {
	onnx_alloc_fn alloc;
	void *ctx;
	Onnx__NodeProto **nodes;
	size_t n;
	int oom;
} body;

static void *body_alloc(body *b, size_t n, size_t size)
{
	void *p = b->oom ? NULL : b->alloc(b->ctx, n, size);
	if (!p)
		b->oom = 1;
	return p;
}

/* protobuf-c wants char * where it only reads. */
static char *lit(const char *s)
{
	return (char *)s;
}

/* Appends node op(ins...) -> out; NULL (and b->oom) when out of memory. */
static Onnx__NodeProto *node(body *b, const char *op, const char *out,
			     int n_in, const char *const *ins)
{
	Onnx__NodeProto *p = body_alloc(b, 1, sizeof *p);
	char **in = body_alloc(b, (size_t)n_in, sizeof *in);
	char **outs = body_alloc(b, 1, sizeof *outs);
	if (!p || !in || !outs || b->n >= BODY_MAX_NODES) {
		b->oom = 1;
		return NULL;
	}
	onnx__node_proto__init(p);
	p->op_type = lit(op);
	for (int i = 0; i < n_in; i++)
		in[i] = lit(ins[i]);
	p->n_input = (size_t)n_in;
	p->input = in;
	outs[0] = lit(out);
	p->n_output = 1;
	p->output = outs;
	b->nodes[b->n++] = p;
	return p;
}

#define NODE(b, op, out, ...)						\
	node(b, op, out, (int)(sizeof((const char *[]){__VA_ARGS__}) /	\
			       sizeof(const char *)),			\
	     (const char *[]){__VA_ARGS__})

/* A fresh attribute on n (NULL when n is NULL or memory ran out). */
static Onnx__AttributeProto *attr(body *b, Onnx__NodeProto *n, const char *name,
				  Onnx__AttributeProto__AttributeType type)
{
	if (!n)
		return NULL;
	Onnx__AttributeProto *a = body_alloc(b, 1, sizeof *a);
	Onnx__AttributeProto **list = body_alloc(b, n->n_attribute + 1, sizeof *list);
	if (!a || !list)
		return NULL;
	onnx__attribute_proto__init(a);
	a->name = lit(name);
	a->has_type = 1;
	a->type = type;
	if (n->n_attribute)
		memcpy(list, n->attribute, n->n_attribute * sizeof *list);
	list[n->n_attribute++] = a;
	n->attribute = list;
	return a;
}

static void attr_int(body *b, Onnx__NodeProto *n, const char *name, int64_t v)
{
	Onnx__AttributeProto *a = attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
	if (a) {
		a->has_i = 1;
		a->i = v;
	}
}

static void attr_ints(body *b, Onnx__NodeProto *n, const char *name,
		      size_t count, const int64_t *v)
{
	Onnx__AttributeProto *a = attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
	if (a) {
		a->n_ints = count;
		a->ints = (int64_t *)v;
	}
}

/* An attribute that takes the caller's attribute `ref`. */
static void attr_ref(body *b, Onnx__NodeProto *n, const char *name,
		     Onnx__AttributeProto__AttributeType type, const char *ref)
{
	Onnx__AttributeProto *a = attr(b, n, name, type);
	if (a)
		a->ref_attr_name = lit(ref);
}

/* Constant nodes: a float scalar, a float vector, an int64 vector. */
static void const_float(body *b, const char *out, float v)
{
	Onnx__NodeProto *n = node(b, "Constant", out, 0, NULL);
	Onnx__AttributeProto *a = attr(b, n, "value_float",
				       ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
	if (a) {
		a->has_f = 1;
		a->f = v;
	}
}

static void const_floats(body *b, const char *out, size_t count, const float *v)
{
	Onnx__NodeProto *n = node(b, "Constant", out, 0, NULL);
	Onnx__AttributeProto *a = attr(b, n, "value_floats",
				       ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS);
	if (a) {
		a->n_floats = count;
		a->floats = (float *)v;
	}
}

static void const_ints(body *b, const char *out, size_t count, const int64_t *v)
{
	Onnx__NodeProto *n = node(b, "Constant", out, 0, NULL);
	attr_ints(b, n, "value_ints", count, v);
}

static void cast(body *b, const char *in, const char *out, int to)
{
	attr_int(b, NODE(b, "Cast", out, in), "to", to);
}

/* The reduction's class weights: see the comment at the top. */
static const float nll_weights[2] = {1e-20f, 1.0f};
static const int64_t axis0[1] = {0}, axis1[1] = {1};
static const int64_t perm10[2] = {1, 0};
static const int64_t pad_left[4] = {0, 1, 0, 0};

static void body_nodes(body *b)
{
	const Onnx__AttributeProto__AttributeType F =
		ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
	Onnx__NodeProto *n;

	/* the caller's attributes as tensors */
	attr_ref(b, node(b, "Constant", "t", 0, NULL), "value_float", F, "temperature");
	attr_ref(b, node(b, "Constant", "bt", 0, NULL), "value_float", F,
		 "base_temperature");
	attr_ref(b, node(b, "Constant", "normalize_i", 0, NULL), "value_int",
		 ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT, "normalize");
	cast(b, "normalize_i", "normalize_f", SC_FLOAT);
	const_float(b, "eps", 1e-12f);
	const_float(b, "zero", 0.0f);
	const_float(b, "one", 1.0f);
	const_float(b, "neg_inf", -INFINITY);
	const_ints(b, "axis0", 1, axis0);
	const_ints(b, "axis1", 1, axis1);

	/* z = x / max(|x|, eps) ^ normalize */
	n = NODE(b, "ReduceSumSquare", "sq", "features");
	attr_ints(b, n, "axes", 1, axis1);
	attr_int(b, n, "keepdims", 1);
	NODE(b, "Sqrt", "norm", "sq");
	NODE(b, "Max", "norm_c", "norm", "eps");
	NODE(b, "Pow", "den", "norm_c", "normalize_f");
	NODE(b, "Div", "z", "features", "den");

	/* log softmax of each row over a != i */
	attr_ints(b, NODE(b, "Transpose", "z_t", "z"), "perm", 2, perm10);
	NODE(b, "MatMul", "dots", "z", "z_t");
	NODE(b, "Div", "logits", "dots", "t");
	NODE(b, "EyeLike", "eye", "logits");
	cast(b, "eye", "self", SC_BOOL);
	NODE(b, "Where", "logits_masked", "self", "neg_inf", "logits");
	attr_int(b, NODE(b, "LogSoftmax", "logp", "logits_masked"), "axis", 1);

	/* positives and the mean of their log-probabilities */
	NODE(b, "Unsqueeze", "labels_col", "labels", "axis1");
	NODE(b, "Unsqueeze", "labels_row", "labels", "axis0");
	NODE(b, "Equal", "same", "labels_col", "labels_row");
	NODE(b, "Not", "other", "self");
	NODE(b, "And", "pos", "same", "other");
	NODE(b, "Where", "pos_logp", "pos", "logp", "zero");
	attr_int(b, NODE(b, "ReduceSum", "pos_sum", "pos_logp", "axis1"), "keepdims", 0);
	cast(b, "pos", "pos_f", SC_FLOAT);
	attr_int(b, NODE(b, "ReduceSum", "npos", "pos_f", "axis1"), "keepdims", 0);
	NODE(b, "Max", "npos_c", "npos", "one");
	NODE(b, "Div", "mean_pos", "pos_sum", "npos_c");
	NODE(b, "Div", "ratio", "t", "bt");
	NODE(b, "Mul", "neg_loss", "mean_pos", "ratio");

	/* the reduction, by NegativeLogLikelihoodLoss */
	NODE(b, "Greater", "has_pos", "npos", "zero");
	cast(b, "has_pos", "target", SC_INT64);
	NODE(b, "Unsqueeze", "neg_loss_col", "neg_loss", "axis1");
	const_ints(b, "pads", 4, pad_left);
	NODE(b, "Pad", "scores", "neg_loss_col", "pads");
	const_floats(b, "weights", 2, nll_weights);
	n = NODE(b, "NegativeLogLikelihoodLoss", "loss", "scores", "target", "weights");
	attr_ref(b, n, "reduction", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING,
		 "reduction");
}

static int64_t default_opset(const Onnx__ModelProto *p)
{
	for (size_t i = 0; i < p->n_opset_import; i++) {
		const Onnx__OperatorSetIdProto *o = p->opset_import[i];
		const char *d = o->domain ? o->domain : "";
		if (!*d || strcmp(d, "ai.onnx") == 0)
			return o->version;
	}
	return 0;
}

int onnx_supcon_function(int64_t opset, onnx_alloc_fn alloc, void *ctx,
			 Onnx__FunctionProto **out, sc_error *err)
{
	*out = NULL;
	if (opset < ONNX_SUPCON_OPSET_MIN || opset > ONNX_SUPCON_OPSET_MAX)
		return sc_fail(err, SC_EUNSUPPORTED,
			       "SupConLoss function body: opset %lld is outside %d..%d",
			       (long long)opset, ONNX_SUPCON_OPSET_MIN,
			       ONNX_SUPCON_OPSET_MAX);
	body b = {.alloc = alloc, .ctx = ctx};
	Onnx__FunctionProto *f = body_alloc(&b, 1, sizeof *f);
	Onnx__OperatorSetIdProto *os = body_alloc(&b, 1, sizeof *os);
	Onnx__OperatorSetIdProto **imports = body_alloc(&b, 1, sizeof *imports);
	char **ins = body_alloc(&b, 2, sizeof *ins);
	char **outs = body_alloc(&b, 1, sizeof *outs);
	char **attrs = body_alloc(&b, N_ATTRS, sizeof *attrs);
	b.nodes = body_alloc(&b, BODY_MAX_NODES, sizeof *b.nodes);
	if (b.oom)
		return sc_fail(err, SC_ENOMEM, "out of memory building the SupConLoss function");
	body_nodes(&b);
	if (b.oom)
		return sc_fail(err, SC_ENOMEM, "out of memory building the SupConLoss function");
	onnx__function_proto__init(f);
	f->name = lit(SUPCON_OP);
	f->domain = lit(SUPCON_DOMAIN);
	f->doc_string = lit("Supervised contrastive loss (Khosla et al. 2020, L_out averaged "
			    "over anchors) of features [M, D] and int64 labels [M]; see supcon's "
			    "DESIGN.md.  reduction \"mean\" | \"none\".");
	ins[0] = lit("features");
	ins[1] = lit("labels");
	outs[0] = lit("loss");
	f->n_input = 2;
	f->input = ins;
	f->n_output = 1;
	f->output = outs;
	for (int i = 0; i < N_ATTRS; i++)
		attrs[i] = lit(attr_names[i]);
	f->n_attribute = N_ATTRS;
	f->attribute = attrs;
	f->n_node = b.n;
	f->node = b.nodes;
	onnx__operator_set_id_proto__init(os);
	os->domain = lit("");
	os->has_version = 1;
	os->version = opset;
	imports[0] = os;
	f->n_opset_import = 1;
	f->opset_import = imports;
	*out = f;
	return SC_OK;
}

/* --- attaching to a model ------------------------------------------------------ */

static int is_supcon_call(const Onnx__NodeProto *n)
{
	return n->op_type && strcmp(n->op_type, SUPCON_OP) == 0 && n->domain &&
	       strcmp(n->domain, SUPCON_DOMAIN) == 0;
}

static const Onnx__AttributeProto *find_attr(const Onnx__NodeProto *n,
					     const char *name)
{
	for (size_t i = 0; i < n->n_attribute; i++)
		if (n->attribute[i]->name && strcmp(n->attribute[i]->name, name) == 0)
			return n->attribute[i];
	return NULL;
}

/* Writes out the attributes a SupConLoss call leaves at their defaults. */
static int complete_call(body *b, Onnx__NodeProto *n)
{
	const Onnx__AttributeProto *t = find_attr(n, "temperature");
	float temperature = t && t->has_f ? t->f : 0.1f;
	if (!t) {
		Onnx__AttributeProto *a = attr(b, n, "temperature",
					       ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
		if (a) {
			a->has_f = 1;
			a->f = temperature;
		}
	}
	if (!find_attr(n, "base_temperature")) {
		Onnx__AttributeProto *a = attr(b, n, "base_temperature",
					       ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
		if (a) {
			a->has_f = 1;
			a->f = temperature;
		}
	}
	if (!find_attr(n, "normalize"))
		attr_int(b, n, "normalize", 1);
	if (!find_attr(n, "reduction")) {
		Onnx__AttributeProto *a = attr(b, n, "reduction",
					       ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
		if (a) {
			a->has_s = 1;
			a->s.len = 4;
			a->s.data = (uint8_t *)"mean";
		}
	}
	return b->oom ? -1 : 0;
}

/* Completes every SupConLoss call in g and its subgraphs; returns how
 * many there are, or -1 when out of memory. */
static int complete_calls(body *b, Onnx__GraphProto *g, int depth)
{
	int count = 0;
	if (!g || depth > 256)
		return 0;
	for (size_t i = 0; i < g->n_node; i++) {
		Onnx__NodeProto *n = g->node[i];
		if (is_supcon_call(n)) {
			if (complete_call(b, n))
				return -1;
			count++;
		}
		for (size_t j = 0; j < n->n_attribute; j++) {
			Onnx__AttributeProto *a = n->attribute[j];
			int k = complete_calls(b, a->g, depth + 1);
			for (size_t s = 0; k >= 0 && s < a->n_graphs; s++) {
				int more = complete_calls(b, a->graphs[s], depth + 1);
				k = more < 0 ? -1 : k + more;
			}
			if (k < 0)
				return -1;
			count += k;
		}
	}
	return count;
}

int onnx_supcon_attach(Onnx__ModelProto *p, onnx_alloc_fn alloc, void *ctx,
		       sc_error *err)
{
	body b = {.alloc = alloc, .ctx = ctx};
	int calls = complete_calls(&b, p->graph, 0);
	if (calls < 0)
		return sc_fail(err, SC_ENOMEM, "out of memory completing SupConLoss attributes");
	if (calls == 0)
		return SC_OK;
	for (size_t i = 0; i < p->n_functions; i++)
		if (p->functions[i]->name && strcmp(p->functions[i]->name, SUPCON_OP) == 0 &&
		    p->functions[i]->domain &&
		    strcmp(p->functions[i]->domain, SUPCON_DOMAIN) == 0)
			return SC_OK;
	int64_t opset = default_opset(p);
	if (opset == 0)
		opset = ONNX_SUPCON_OPSET_MAX;
	if (opset < ONNX_SUPCON_OPSET_MIN || opset > ONNX_SUPCON_OPSET_MAX)
		return SC_OK;   /* documented in onnx.h: no body at other opsets */
	Onnx__FunctionProto *f;
	int rc = onnx_supcon_function(opset, alloc, ctx, &f, err);
	if (rc)
		return rc;
	Onnx__FunctionProto **list = alloc(ctx, p->n_functions + 1, sizeof *list);
	if (!list)
		return sc_fail(err, SC_ENOMEM, "out of memory attaching the SupConLoss function");
	if (p->n_functions)
		memcpy(list, p->functions, p->n_functions * sizeof *list);
	list[p->n_functions++] = f;
	p->functions = list;
	/* model-local functions exist from IR version 8 on */
	if (p->ir_version < 8) {
		p->has_ir_version = 1;
		p->ir_version = 8;
	}
	return SC_OK;
}

/* --- the body as a model of our own ------------------------------------------- */

static int add_attr_float(graph_node *n, const char *name, float v, sc_error *err)
{
	graph_attr *a = graph_node_add_attr(n, name, ATTR_FLOAT, err);
	if (!a)
		return err->code;
	a->f = v;
	return SC_OK;
}

static int set_type(graph *g, int v, int elem, const char *d0, const char *d1,
		    sc_error *err)
{
	graph_type *t = &g->values[v].type;
	t->kind = GRAPH_TYPE_TENSOR;
	t->elem = elem;
	t->rank = d1 ? 2 : 1;
	t->dims = calloc(2, sizeof *t->dims);
	if (!t->dims)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	const char *names[2] = {d0, d1};
	for (int i = 0; i < t->rank; i++) {
		t->dims[i].value = -1;
		if (!(t->dims[i].param = strdup(names[i])))
			return sc_fail(err, SC_ENOMEM, "out of memory");
	}
	return SC_OK;
}

static int list_value(int **arr, int *n, int v, sc_error *err)
{
	int *a = realloc(*arr, (size_t)(*n + 1) * sizeof *a);
	if (!a)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	a[(*n)++] = v;
	*arr = a;
	return SC_OK;
}

/* A model with the single call SupConLoss(features, labels) -> loss. */
static int call_model(int64_t opset, float temperature, float base_temperature,
		      int normalize, const char *reduction, graph_model *m,
		      sc_error *err)
{
	graph *g = m->graph;
	m->ir_version = 8;
	m->opsets = calloc(2, sizeof *m->opsets);
	if (!m->opsets || !(m->graph->name = strdup("supcon_loss")) ||
	    !(m->opsets[0].domain = strdup("")) ||
	    !(m->opsets[1].domain = strdup(SUPCON_DOMAIN)))
		return sc_fail(err, SC_ENOMEM, "out of memory");
	m->n_opsets = 2;
	m->opsets[0].version = opset;
	m->opsets[1].version = 1;
	int x = graph_intern_value(g, "features", err);
	int y = x < 0 ? -1 : graph_intern_value(g, "labels", err);
	int l = y < 0 ? -1 : graph_intern_value(g, "loss", err);
	if (l < 0)
		return err->code;
	int in[2] = {x, y};
	int idx = graph_add_node(g, SUPCON_OP, SUPCON_DOMAIN, "supcon", 2, in, 1, &l, err);
	if (idx < 0)
		return err->code;
	graph_node *n = &g->nodes[idx];
	int rc = add_attr_float(n, "temperature", temperature, err);
	if (!rc)
		rc = add_attr_float(n, "base_temperature", base_temperature, err);
	if (rc)
		return rc;
	graph_attr *a = graph_node_add_attr(n, "normalize", ATTR_INT, err);
	if (!a)
		return err->code;
	a->i = normalize;
	if (!(a = graph_node_add_attr(n, "reduction", ATTR_STRING, err)))
		return err->code;
	if (!(a->s.data = strdup(reduction)))
		return sc_fail(err, SC_ENOMEM, "out of memory");
	a->s.len = strlen(reduction);
	rc = set_type(g, x, SC_FLOAT, "M", "D", err);
	if (!rc)
		rc = set_type(g, y, SC_INT64, "M", NULL, err);
	if (!rc)
		rc = list_value(&g->inputs, &g->n_inputs, x, err);
	if (!rc)
		rc = list_value(&g->inputs, &g->n_inputs, y, err);
	if (!rc)
		rc = list_value(&g->outputs, &g->n_outputs, l, err);
	if (rc)
		return rc;
	g->values[x].flags |= VALUE_INPUT;
	g->values[y].flags |= VALUE_INPUT;
	g->values[l].flags |= VALUE_OUTPUT;
	return SC_OK;
}

int onnx_supcon_body_model(int64_t opset, float temperature,
			   float base_temperature, int normalize,
			   const char *reduction, graph_model **out,
			   sc_error *err)
{
	*out = NULL;
	if (opset < ONNX_SUPCON_OPSET_MIN || opset > ONNX_SUPCON_OPSET_MAX)
		return sc_fail(err, SC_EUNSUPPORTED,
			       "SupConLoss function body: opset %lld is outside %d..%d",
			       (long long)opset, ONNX_SUPCON_OPSET_MIN,
			       ONNX_SUPCON_OPSET_MAX);
	graph_model *call = graph_model_new();
	if (!call)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	void *buf = NULL;
	size_t len = 0;
	int rc = call_model(opset, temperature, base_temperature, normalize,
			    reduction ? reduction : "mean", call, err);
	/* saving attaches the function; loading inlines it */
	if (!rc)
		rc = onnx_save_memory(call, &buf, &len, err);
	if (!rc)
		rc = onnx_load_memory_flags(buf, len, NULL, "SupConLoss function body",
					    ONNX_LOAD_INLINE_ALL, out, err);
	free(buf);
	graph_model_free(call);
	return rc;
}
