/* plan.c: schedule, liveness, arena and the run loop; see plan.h.
 *
 * Every value of the main graph has a slot: a tensor header whose data
 * points at an initializer, a caller's input, or activation memory.  The
 * first run (and any run after shapes change) allocates activations one by
 * one and frees each after its last use, which keeps that run's peak low
 * and records every size.  At its end the sizes and lifetimes are packed
 * into one arena, first-fit by decreasing size; later runs take their
 * memory from it and allocate nothing. */
#include "plan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "../ops/op.h"
#include "exec.h"
#include "infer.h"

enum { SLOT_ACTIVATION, SLOT_CONST, SLOT_INPUT };

typedef struct sig_entry {
	int present, dtype, rank;
	int64_t dims[SC_MAX_RANK];
	const dnnl_memory_desc_t *md;
} sig_entry;

typedef struct plan_node {
	const graph_node *node;
	const op_def *def;
	op_kernel k;
	int *in_ids, n_in_ids;     /* kernel inputs, then values fusions read */
	int *out_ids;              /* after fusion: the absorbed node's outputs */
	const sc_tensor **in;
	sc_tensor **out;
	const dnnl_memory_desc_t **in_md;
	int absorbed;              /* folded into an earlier node: not run */
	op_fusion fuse;
	sc_tensor folded[2];       /* BatchNormalization folded into W and B */
	int prepared;
	sig_entry *sig;            /* n_in entries: what prepare last saw */
	void *sig_values;          /* bytes of the value_inputs at that time */
	size_t sig_values_len;
} plan_node;

struct plan {
	const graph_model *m;
	const graph *g;
	exec_env env;
	int n_values;
	sc_tensor *slots;
	const dnnl_memory_desc_t **slot_md;   /* NULL: plain row-major */
	unsigned char *kind;
	int *def_step;             /* schedule index of the producer, -1 */
	int *last_use;             /* last schedule index that reads it */
	plan_node *nodes;
	int n_nodes;
	int *inputs, n_inputs;     /* non-initializer graph inputs */
	int *bound;                /* per value: bound by the current run */
	void **heap;               /* per value: buffer while not in the arena */
	size_t *heap_bytes;
	size_t *sizes;             /* per value: bytes at the last full run */
	size_t *offsets;           /* per value: arena offset */
	void *arena;
	size_t arena_bytes, total_bytes;
	int arena_valid;
	int ran;
};

/* --- fusion --------------------------------------------------------------- */

static int is_op(const plan_node *pn, const char *op)
{
	return strcmp(pn->node->op_type, op) == 0 &&
	       (!*pn->node->domain || strcmp(pn->node->domain, "ai.onnx") == 0);
}

/* A float32 initializer that a caller cannot override through an input. */
static const sc_tensor *fixed_weight(const plan *p, int v)
{
	if (v < 0)
		return NULL;
	const graph_value *val = &p->g->values[v];
	if (!(val->flags & VALUE_INITIALIZER) || (val->flags & VALUE_INPUT))
		return NULL;
	const sc_tensor *t = &p->g->inits[val->init].tensor;
	return t->dtype == SC_FLOAT ? t : NULL;
}

/* Two values whose declared or inferred types prove the same shape. */
static int same_static_shape(const graph_value *a, const graph_value *b)
{
	const graph_type *x = &a->type, *y = &b->type;
	if (x->kind != GRAPH_TYPE_TENSOR || y->kind != GRAPH_TYPE_TENSOR ||
	    x->elem != y->elem || x->rank < 0 || x->rank != y->rank)
		return 0;
	for (int i = 0; i < x->rank; i++) {
		const graph_dim *d = &x->dims[i], *e = &y->dims[i];
		if (d->value >= 0 ? d->value != e->value :
		    !d->param || !e->param || strcmp(d->param, e->param))
			return 0;
	}
	return 1;
}

/* W' = W * s and B' = (B - mean) * s + beta with s = gamma / sqrt(var + eps),
 * per output channel, in double. */
static int fold_batchnorm(plan *p, plan_node *conv, const plan_node *bn,
			  sc_error *err)
{
	const sc_tensor *w = fixed_weight(p, conv->in_ids[1]);
	const sc_tensor *b = conv->node->n_inputs > 2 ?
		fixed_weight(p, conv->in_ids[2]) : NULL;
	const sc_tensor *gamma = fixed_weight(p, bn->in_ids[1]);
	const sc_tensor *beta = fixed_weight(p, bn->in_ids[2]);
	const sc_tensor *mean = fixed_weight(p, bn->in_ids[3]);
	const sc_tensor *var = fixed_weight(p, bn->in_ids[4]);
	if (!w || w->rank < 3 || !gamma || !beta || !mean || !var ||
	    (conv->node->n_inputs > 2 && conv->in_ids[2] >= 0 && !b))
		return 0;
	int64_t co = w->dims[0];
	if (gamma->numel != co || beta->numel != co || mean->numel != co ||
	    var->numel != co || (b && b->numel != co))
		return 0;
	const graph_attr *eps_attr = graph_node_attr(bn->node, "epsilon");
	double eps = eps_attr ? eps_attr->f : 1e-5;
	int64_t bias_dims[1] = {co};
	int rc = tensor_alloc(&conv->folded[0], SC_FLOAT, w->rank, w->dims,
			      "folded weights", err);
	if (!rc)
		rc = tensor_alloc(&conv->folded[1], SC_FLOAT, 1, bias_dims,
				  "folded bias", err);
	if (rc)
		return -1;
	int64_t per = w->numel / co;
	const float *W = w->data, *G = gamma->data, *Be = beta->data,
		    *M = mean->data, *V = var->data, *B = b ? b->data : NULL;
	float *W2 = conv->folded[0].data, *B2 = conv->folded[1].data;
	for (int64_t c = 0; c < co; c++) {
		double scale = G[c] / sqrt((double)V[c] + eps);
		for (int64_t i = 0; i < per; i++)
			W2[c * per + i] = (float)(W[c * per + i] * scale);
		B2[c] = (float)(((B ? B[c] : 0.0) - M[c]) * scale + Be[c]);
	}
	if (conv->k.n_in < 3) {
		conv->in_ids[2] = -1;
		conv->k.n_in = 3;
		conv->n_in_ids = 3;
	}
	return 1;
}

/* BatchNormalization in inference mode with only its Y output in use. */
static int bn_is_inference(const plan_node *bn)
{
	const graph_attr *a = graph_node_attr(bn->node, "training_mode");
	if (a && a->i)
		return 0;
	if (bn->k.opset < 9) {
		const graph_attr *sp = graph_node_attr(bn->node, "spatial");
		if (sp && sp->i == 0)
			return 0;
	}
	if (bn->k.opset < 7)
		return 0;
	for (int j = 1; j < bn->node->n_outputs; j++)
		if (bn->node->outputs[j] >= 0)
			return 0;
	return bn->node->n_inputs == 5;
}

/* Folds, into each Conv whose kernel accepts it, a following inference
 * BatchNormalization (into its weights), then an Add of a residual that is
 * ready before the conv runs, then a Relu.  Each absorbed node must be the
 * only reader of the value it takes over, which must not be a graph output. */
static int plan_fuse(plan *p, sc_error *err)
{
	int nv = p->n_values;
	int *uses = calloc((size_t)nv + 1, sizeof *uses);
	int *reader = malloc(((size_t)nv + 1) * sizeof *reader);
	int *made_at = malloc(((size_t)nv + 1) * sizeof *made_at);
	if (!uses || !reader || !made_at) {
		free(uses);
		free(reader);
		free(made_at);
		return sc_fail(err, SC_ENOMEM, "out of memory fusing the plan");
	}
	for (int v = 0; v < nv; v++) {
		reader[v] = -1;
		made_at[v] = -1;
	}
	for (int s = 0; s < p->n_nodes; s++) {
		const graph_node *n = p->nodes[s].node;
		for (int j = 0; j < n->n_inputs; j++)
			if (n->inputs[j] >= 0) {
				uses[n->inputs[j]]++;
				reader[n->inputs[j]] = s;
			}
		for (int j = 0; j < n->n_outputs; j++)
			if (n->outputs[j] >= 0)
				made_at[n->outputs[j]] = s;
	}
	for (int i = 0; i < p->g->n_outputs; i++)
		uses[p->g->outputs[i]] += 2;   /* never absorb a graph output */
	int rc = SC_OK;
	for (int s = 0; s < p->n_nodes && !rc; s++) {
		plan_node *conv = &p->nodes[s];
		unsigned caps = conv->def ? conv->def->fuse_caps : 0;
		if (!is_op(conv, "Conv") || conv->node->n_outputs != 1 || !caps)
			continue;
		int y = conv->out_ids[0];
#define SOLE_READER(v) ((v) >= 0 && uses[v] == 1 ? &p->nodes[reader[v]] : NULL)
		plan_node *next = SOLE_READER(y);
		if (next && is_op(next, "BatchNormalization") &&
		    next->in_ids[0] == y && bn_is_inference(next)) {
			int folded = fold_batchnorm(p, conv, next, err);
			if (folded < 0) {
				rc = err->code;
				break;
			}
			if (folded) {
				next->absorbed = 1;
				y = conv->out_ids[0] = next->out_ids[0];
				next = SOLE_READER(y);
			}
		}
		if (next && (caps & FUSE_SUM) && is_op(next, "Add") &&
		    next->node->n_inputs == 2) {
			int other = next->in_ids[0] == y ? next->in_ids[1] : next->in_ids[0];
			if (other >= 0 && other != y && made_at[other] < s &&
			    same_static_shape(&p->g->values[y], &p->g->values[other]) &&
			    same_static_shape(&p->g->values[y],
					      &p->g->values[next->out_ids[0]])) {
				next->absorbed = 1;
				conv->in_ids[conv->n_in_ids++] = other;
				conv->fuse.sum = &p->slots[other];
				y = conv->out_ids[0] = next->out_ids[0];
				next = SOLE_READER(y);
			}
		}
		if (next && (caps & FUSE_RELU) && is_op(next, "Relu")) {
			next->absorbed = 1;
			conv->fuse.relu = 1;
			conv->out_ids[0] = next->out_ids[0];
		}
#undef SOLE_READER
	}
	free(uses);
	free(reader);
	free(made_at);
	return rc;
}

/* Lets a producer keep a blocked layout for output 0 when every reader
 * takes it as its layout-aware input 0 or as a fused residual, and it is
 * not a graph output.  Anything else stays plain. */
static int plan_layouts(plan *p, sc_error *err)
{
	int nv = p->n_values;
	/* 0 unknown, 1 all readers so far accept blocked, -1 some do not */
	signed char *ok = calloc((size_t)nv + 1, 1);
	if (!ok)
		return sc_fail(err, SC_ENOMEM, "out of memory planning layouts");
	for (int s = 0; s < p->n_nodes; s++) {
		const plan_node *pn = &p->nodes[s];
		if (pn->absorbed)
			continue;
		unsigned caps = pn->def ? pn->def->layout_caps : 0;
		for (int j = 0; j < pn->n_in_ids; j++) {
			int v = pn->in_ids[j];
			if (v < 0)
				continue;
			int takes = (j == 0 && (caps & LAYOUT_SRC)) ||
				    (pn->fuse.sum && j == pn->n_in_ids - 1);
			if (pn->in_ids[0] == v && j != 0)
				takes = 0;
			ok[v] = takes && ok[v] >= 0 ? 1 : -1;
		}
	}
	for (int i = 0; i < p->g->n_outputs; i++)
		ok[p->g->outputs[i]] = -1;
	for (int s = 0; s < p->n_nodes; s++) {
		plan_node *pn = &p->nodes[s];
		if (pn->absorbed || !pn->def || !(pn->def->layout_caps & LAYOUT_DST) ||
		    pn->k.n_out < 1)
			continue;
		int v = pn->out_ids[0];
		pn->k.out_may_block = v >= 0 && ok[v] == 1 &&
				      p->kind[v] == SLOT_ACTIVATION;
	}
	free(ok);
	return SC_OK;
}

/* --- creation ------------------------------------------------------------ */

static int collect_unsupported(const graph_model *m, const graph *g,
			       sc_error *err)
{
	char list[SC_ERROR_MAX] = "";
	size_t used = 0;
	int missing = 0;
	for (int i = 0; i < g->n_nodes; i++) {
		const graph_node *n = &g->nodes[i];
		int64_t opset = graph_model_opset(m, n->domain);
		const op_def *d = op_find(n->domain, n->op_type, opset);
		if (d && d->run)
			continue;
		char item[256];
		if (*n->domain && strcmp(n->domain, "ai.onnx") != 0)
			snprintf(item, sizeof item, "%s:%s (opset %lld)", n->domain,
				 n->op_type, (long long)opset);
		else
			snprintf(item, sizeof item, "%s (opset %lld)", n->op_type,
				 (long long)opset);
		if (strstr(list, item))
			continue;
		int w = snprintf(list + used, sizeof list - used, "%s%s",
				 missing ? ", " : "", item);
		if (w > 0 && (size_t)w < sizeof list - used)
			used += (size_t)w;
		missing++;
	}
	if (!missing)
		return SC_OK;
	return sc_fail(err, SC_EUNSUPPORTED, "unsupported op%s: %s",
		       missing > 1 ? "s" : "", list);
}

int plan_create(graph_model *m, const plan_options *opt, plan **out,
		sc_error *err)
{
	*out = NULL;
	const graph *g = m->graph;
	int rc = collect_unsupported(m, g, err);
	if (rc)
		return rc;
	/* fusion decisions rest on shapes proven equal before any run */
	if ((rc = graph_infer_shapes(m, err)))
		return rc;
	plan *p = calloc(1, sizeof *p);
	if (!p)
		return sc_fail(err, SC_ENOMEM, "out of memory creating the plan");
	p->m = m;
	p->g = g;
	p->n_values = g->n_values;
	p->n_nodes = g->n_nodes;
	size_t nv = (size_t)g->n_values + 1, nn = (size_t)g->n_nodes + 1;
	p->slots = calloc(nv, sizeof *p->slots);
	p->slot_md = calloc(nv, sizeof *p->slot_md);
	p->kind = calloc(nv, 1);
	p->def_step = malloc(nv * sizeof(int));
	p->last_use = malloc(nv * sizeof(int));
	p->bound = calloc(nv, sizeof(int));
	p->heap = calloc(nv, sizeof(void *));
	p->heap_bytes = calloc(nv, sizeof(size_t));
	p->sizes = calloc(nv, sizeof(size_t));
	p->offsets = calloc(nv, sizeof(size_t));
	p->nodes = calloc(nn, sizeof *p->nodes);
	p->inputs = malloc(((size_t)g->n_inputs + 1) * sizeof(int));
	int *order = malloc(nn * sizeof(int));
	if (!p->slots || !p->slot_md || !p->kind || !p->def_step || !p->last_use || !p->bound ||
	    !p->heap || !p->heap_bytes || !p->sizes || !p->offsets ||
	    !p->nodes || !p->inputs || !order) {
		free(order);
		plan_free(p);
		return sc_fail(err, SC_ENOMEM, "out of memory creating the plan");
	}
	if ((rc = exec_env_init(&p->env, opt ? opt->threads : 0, err))) {
		free(order);
		plan_free(p);
		return rc;
	}
#ifdef _OPENMP
	if (opt && opt->threads > 0)
		omp_set_num_threads(opt->threads);
#endif
	if ((rc = graph_toposort(g, order, err))) {
		free(order);
		plan_free(p);
		return rc;
	}
	for (int v = 0; v < g->n_values; v++) {
		p->def_step[v] = -1;
		p->last_use[v] = -1;
		const graph_value *val = &g->values[v];
		if (val->flags & VALUE_INITIALIZER) {
			p->kind[v] = SLOT_CONST;
			p->slots[v] = g->inits[val->init].tensor;
			p->slots[v].owned = 0;
		} else if (val->flags & VALUE_INPUT) {
			p->kind[v] = SLOT_INPUT;
		}
	}
	for (int i = 0; i < g->n_inputs; i++)
		if (!(g->values[g->inputs[i]].flags & VALUE_INITIALIZER))
			p->inputs[p->n_inputs++] = g->inputs[i];

	for (int s = 0; s < g->n_nodes; s++) {
		const graph_node *n = &g->nodes[order[s]];
		plan_node *pn = &p->nodes[s];
		pn->node = n;
		pn->def = op_find(n->domain, n->op_type,
				  graph_model_opset(m, n->domain));
		/* room for a bias added by BN folding and a fused residual */
		pn->in_ids = malloc(((size_t)n->n_inputs + 2) * sizeof(int));
		pn->out_ids = malloc(((size_t)n->n_outputs + 1) * sizeof(int));
		pn->in = calloc((size_t)n->n_inputs + 2, sizeof *pn->in);
		pn->out = calloc((size_t)n->n_outputs + 1, sizeof *pn->out);
		pn->sig = calloc((size_t)n->n_inputs + 2, sizeof *pn->sig);
		pn->in_md = calloc((size_t)n->n_inputs + 2, sizeof *pn->in_md);
		if (!pn->in_ids || !pn->out_ids || !pn->in || !pn->out || !pn->sig ||
		    !pn->in_md) {
			free(order);
			plan_free(p);
			return sc_fail(err, SC_ENOMEM, "out of memory creating the plan");
		}
		memcpy(pn->in_ids, n->inputs, (size_t)n->n_inputs * sizeof(int));
		memcpy(pn->out_ids, n->outputs, (size_t)n->n_outputs * sizeof(int));
		pn->n_in_ids = n->n_inputs;
		pn->k = (op_kernel){
			.g = g, .node = n,
			.opset = graph_model_opset(m, n->domain),
			.n_in = n->n_inputs, .in = pn->in,
			.n_out = n->n_outputs, .out = pn->out,
			.env = &p->env, .in_md = pn->in_md,
		};
	}
	free(order);
	if ((!opt || !opt->no_fusion) && (rc = plan_fuse(p, err))) {
		plan_free(p);
		return rc;
	}
	/* bind slots and lifetimes over what will actually run */
	for (int s = 0; s < p->n_nodes; s++) {
		plan_node *pn = &p->nodes[s];
		if (pn->absorbed)
			continue;
		for (int j = 0; j < pn->n_in_ids; j++) {
			int v = pn->in_ids[j];
			if ((j == 1 || j == 2) && pn->folded[j - 1].data) {
				pn->in[j] = &pn->folded[j - 1];
			} else if (v >= 0) {
				pn->in[j] = &p->slots[v];
				p->last_use[v] = s;
			}
		}
		for (int j = 0; j < pn->k.n_out; j++) {
			int v = pn->out_ids[j];
			if (v >= 0) {
				pn->out[j] = &p->slots[v];
				p->def_step[v] = s;
			}
		}
		if (pn->fuse.relu || pn->fuse.sum) {
			pn->k.fuse = &pn->fuse;
			if (pn->fuse.sum)
				pn->fuse.sum = pn->in[pn->n_in_ids - 1];
		}
	}
	/* graph outputs live until the caller has read them */
	for (int i = 0; i < g->n_outputs; i++)
		p->last_use[g->outputs[i]] = g->n_nodes;
	if ((!opt || !opt->plain_layouts) && (rc = plan_layouts(p, err))) {
		plan_free(p);
		return rc;
	}
	*out = p;
	return SC_OK;
}

static void release_node(plan_node *pn)
{
	if (!pn->prepared)
		return;
	if (pn->def && pn->def->release)
		pn->def->release(&pn->k);
	else
		free(pn->k.state);
	pn->k.state = NULL;
	pn->prepared = 0;
}

void plan_free(plan *p)
{
	if (!p)
		return;
	for (int s = 0; p->nodes && s < p->n_nodes; s++) {
		plan_node *pn = &p->nodes[s];
		release_node(pn);
		free(pn->in_ids);
		free(pn->out_ids);
		free(pn->in_md);
		free(pn->in);
		free(pn->out);
		tensor_free(&pn->folded[0]);
		tensor_free(&pn->folded[1]);
		free(pn->sig);
		free(pn->sig_values);
	}
	for (int v = 0; p->heap && v < p->n_values; v++)
		free(p->heap[v]);
	if (p->env.engine)
		exec_env_destroy(&p->env);
	free(p->nodes);
	free(p->slots);
	free(p->slot_md);
	free(p->kind);
	free(p->def_step);
	free(p->last_use);
	free(p->bound);
	free(p->heap);
	free(p->heap_bytes);
	free(p->sizes);
	free(p->offsets);
	free(p->inputs);
	free(p->arena);
	free(p);
}

/* --- introspection -------------------------------------------------------- */

int plan_input_count(const plan *p) { return p->n_inputs; }

const char *plan_input_name(const plan *p, int i)
{
	return i >= 0 && i < p->n_inputs ? p->g->values[p->inputs[i]].name : NULL;
}

const graph_type *plan_input_type(const plan *p, int i)
{
	return i >= 0 && i < p->n_inputs ? &p->g->values[p->inputs[i]].type : NULL;
}

int plan_output_count(const plan *p) { return p->g->n_outputs; }

const char *plan_output_name(const plan *p, int i)
{
	return i >= 0 && i < p->g->n_outputs ?
		p->g->values[p->g->outputs[i]].name : NULL;
}

const sc_tensor *plan_output(const plan *p, int i)
{
	if (!p->ran || i < 0 || i >= p->g->n_outputs)
		return NULL;
	return &p->slots[p->g->outputs[i]];
}

size_t plan_arena_bytes(const plan *p) { return p->arena_bytes; }

int plan_node_count(const plan *p)
{
	int n = 0;
	for (int s = 0; s < p->n_nodes; s++)
		n += !p->nodes[s].absorbed;
	return n;
}
size_t plan_total_bytes(const plan *p) { return p->total_bytes; }

/* --- binding inputs ------------------------------------------------------- */

static void shape_str(char *buf, size_t len, int dtype, int rank,
		      const int64_t *dims, const graph_dim *gdims)
{
	int w = snprintf(buf, len, "%s[", tensor_dtype_name(dtype));
	for (int i = 0; i < rank && w > 0 && (size_t)w < len; i++) {
		if (gdims && gdims[i].value < 0)
			w += snprintf(buf + w, len - (size_t)w, "%s%s", i ? "," : "",
				      gdims[i].param ? gdims[i].param : "?");
		else
			w += snprintf(buf + w, len - (size_t)w, "%s%lld", i ? "," : "",
				      (long long)(gdims ? gdims[i].value : dims[i]));
	}
	if (w > 0 && (size_t)w < len)
		snprintf(buf + w, len - (size_t)w, "]");
}

static int check_input(const graph_value *val, const sc_tensor *t, sc_error *err)
{
	const graph_type *ty = &val->type;
	if (ty->kind != GRAPH_TYPE_TENSOR && ty->kind != GRAPH_TYPE_NONE)
		return sc_fail(err, SC_EUNSUPPORTED,
			       "input '%s': only tensor inputs are supported", val->name);
	int ok = !ty->elem || ty->elem == (int)t->dtype;
	if (ok && ty->rank >= 0) {
		ok = ty->rank == t->rank;
		for (int i = 0; ok && i < t->rank; i++)
			if (ty->dims[i].value >= 0 && ty->dims[i].value != t->dims[i])
				ok = 0;
	}
	if (ok)
		return SC_OK;
	char want[256], got[256];
	if (ty->rank >= 0)
		shape_str(want, sizeof want, ty->elem, ty->rank, NULL, ty->dims);
	else
		snprintf(want, sizeof want, "%s tensor", tensor_dtype_name(ty->elem));
	shape_str(got, sizeof got, t->dtype, t->rank, t->dims, NULL);
	return sc_fail(err, SC_EINVAL, "input '%s': expected %s, got %s",
		       val->name, want, got);
}

static int bind_inputs(plan *p, int n, const char *const *names,
		       const sc_tensor *const *inputs, sc_error *err)
{
	const graph *g = p->g;
	memset(p->bound, 0, (size_t)p->n_values * sizeof(int));
	for (int i = 0; i < n; i++) {
		int v = graph_find_value(g, names[i]);
		if (v < 0 || !(g->values[v].flags & VALUE_INPUT))
			return sc_fail(err, SC_EINVAL,
				       "input '%s': the model has no such input",
				       names[i]);
		if (p->bound[v])
			return sc_fail(err, SC_EINVAL, "input '%s' is given twice",
				       names[i]);
		int rc = check_input(&g->values[v], inputs[i], err);
		if (rc)
			return rc;
		p->bound[v] = 1;
		p->slots[v] = *inputs[i];
		p->slots[v].owned = 0;
	}
	for (int i = 0; i < p->n_inputs; i++)
		if (!p->bound[p->inputs[i]])
			return sc_fail(err, SC_EINVAL, "input '%s' is missing",
				       g->values[p->inputs[i]].name);
	/* overridable initializers not given this time fall back to the file */
	for (int v = 0; v < p->n_values; v++)
		if (p->kind[v] == SLOT_CONST && !p->bound[v]) {
			p->slots[v] = g->inits[g->values[v].init].tensor;
			p->slots[v].owned = 0;
		}
	return SC_OK;
}

/* --- the run loop --------------------------------------------------------- */

/* Compares the inputs with what prepare last saw and records them. */
static int signature_changed(plan_node *pn, sc_error *err)
{
	int changed = !pn->prepared;
	for (int j = 0; j < pn->n_in_ids; j++) {
		const sc_tensor *t = pn->in[j];
		sig_entry now = {0};
		if (t) {
			now.present = 1;
			now.dtype = t->dtype;
			now.rank = t->rank;
			memcpy(now.dims, t->dims, sizeof now.dims);
			now.md = pn->in_md[j];
		}
		if (memcmp(&now, &pn->sig[j], sizeof now)) {
			changed = 1;
			pn->sig[j] = now;
		}
	}
	unsigned mask = pn->def->value_inputs;
	if (!mask)
		return changed;
	size_t len = 0;
	for (int j = 0; j < pn->k.n_in && j < 32; j++)
		if ((mask >> j & 1) && pn->in[j])
			len += pn->in[j]->nbytes;
	if (!changed && len == pn->sig_values_len) {
		size_t off = 0;
		for (int j = 0; j < pn->k.n_in && j < 32 && !changed; j++)
			if ((mask >> j & 1) && pn->in[j]) {
				if (memcmp((char *)pn->sig_values + off,
					   pn->in[j]->data, pn->in[j]->nbytes))
					changed = 1;
				off += pn->in[j]->nbytes;
			}
		if (!changed)
			return 0;
	}
	void *buf = realloc(pn->sig_values, len ? len : 1);
	if (!buf)
		return sc_fail(err, SC_ENOMEM, "out of memory"), -1;
	pn->sig_values = buf;
	pn->sig_values_len = len;
	size_t off = 0;
	for (int j = 0; j < pn->k.n_in && j < 32; j++)
		if ((mask >> j & 1) && pn->in[j]) {
			if (pn->in[j]->nbytes)
				memcpy((char *)buf + off, pn->in[j]->data,
				       pn->in[j]->nbytes);
			off += pn->in[j]->nbytes;
		}
	return 1;
}

static const char *node_label(const graph_node *n)
{
	return *n->name ? n->name : n->op_type;
}

/* Gives activation v memory of t->nbytes: from the arena when the plan
 * holds and the size is what it planned, else its own buffer. */
static int place_output(plan *p, int v, int *use_arena, sc_error *err)
{
	sc_tensor *t = &p->slots[v];
	size_t bytes = t->nbytes;
	if (*use_arena && bytes != p->sizes[v])
		*use_arena = 0;    /* shapes changed: finish on the heap, re-plan */
	if (*use_arena) {
		t->data = (char *)p->arena + p->offsets[v];
		return SC_OK;
	}
	if (!p->heap[v] || p->heap_bytes[v] < bytes) {
		free(p->heap[v]);
		size_t cap = (bytes + 63) & ~(size_t)63;
		p->heap[v] = aligned_alloc(64, cap ? cap : 64);
		p->heap_bytes[v] = cap;
		if (!p->heap[v]) {
			p->heap_bytes[v] = 0;
			return sc_fail(err, SC_ENOMEM,
				       "cannot allocate %zu bytes for '%s'", bytes,
				       p->g->values[v].name);
		}
	}
	t->data = p->heap[v];
	return SC_OK;
}

/* Packs activations into one arena: largest first, each at the lowest
 * offset that no value with an overlapping lifetime occupies. */
static int build_arena(plan *p, sc_error *err)
{
	int n = 0;
	int *ids = malloc(((size_t)p->n_values + 1) * sizeof *ids);
	int *placed = malloc(((size_t)p->n_values + 1) * sizeof *placed);
	if (!ids || !placed) {
		free(ids);
		free(placed);
		return sc_fail(err, SC_ENOMEM, "out of memory planning the arena");
	}
	p->total_bytes = 0;
	for (int v = 0; v < p->n_values; v++)
		if (p->kind[v] == SLOT_ACTIVATION && p->def_step[v] >= 0) {
			p->sizes[v] = p->slots[v].nbytes;
			p->total_bytes += (p->sizes[v] + 63) & ~(size_t)63;
			ids[n++] = v;
		}
	/* insertion sort by size, descending; n is the node count scale */
	for (int i = 1; i < n; i++) {
		int v = ids[i], j = i;
		while (j > 0 && p->sizes[ids[j - 1]] < p->sizes[v]) {
			ids[j] = ids[j - 1];
			j--;
		}
		ids[j] = v;
	}
	size_t total = 0;
	int n_placed = 0;
	for (int i = 0; i < n; i++) {
		int v = ids[i];
		size_t size = (p->sizes[v] + 63) & ~(size_t)63;
		int lo = p->def_step[v];
		int hi = p->last_use[v] < lo ? lo : p->last_use[v];
		size_t off = 0;
		for (int moved = 1; moved;) {
			moved = 0;
			for (int j = 0; j < n_placed; j++) {
				int w = placed[j];
				int wlo = p->def_step[w];
				int whi = p->last_use[w] < wlo ? wlo : p->last_use[w];
				size_t wsize = (p->sizes[w] + 63) & ~(size_t)63;
				if (whi < lo || wlo > hi)
					continue;
				if (off < p->offsets[w] + wsize && p->offsets[w] < off + size) {
					off = p->offsets[w] + wsize;
					moved = 1;
				}
			}
		}
		p->offsets[v] = off;
		placed[n_placed++] = v;
		if (off + size > total)
			total = off + size;
	}
	free(ids);
	free(placed);
	/* a run that left the arena part-way may have graph outputs in it */
	for (int i = 0; p->arena && i < p->g->n_outputs; i++) {
		int v = p->g->outputs[i];
		char *d = p->slots[v].data, *a = p->arena;
		if (p->kind[v] != SLOT_ACTIVATION || d < a || d >= a + p->arena_bytes)
			continue;
		size_t cap = (p->slots[v].nbytes + 63) & ~(size_t)63;
		free(p->heap[v]);
		p->heap[v] = aligned_alloc(64, cap ? cap : 64);
		if (!p->heap[v])
			return sc_fail(err, SC_ENOMEM, "out of memory re-planning");
		p->heap_bytes[v] = cap;
		memcpy(p->heap[v], d, p->slots[v].nbytes);
		p->slots[v].data = p->heap[v];
	}
	free(p->arena);
	p->arena = aligned_alloc(64, total ? total : 64);
	if (!p->arena) {
		p->arena_bytes = 0;
		p->arena_valid = 0;
		return sc_fail(err, SC_ENOMEM, "cannot allocate a %zu-byte arena", total);
	}
	p->arena_bytes = total;
	p->arena_valid = 1;
	return SC_OK;
}

static void free_heap(plan *p, int v)
{
	free(p->heap[v]);
	p->heap[v] = NULL;
	p->heap_bytes[v] = 0;
}

int plan_run(plan *p, int n, const char *const *names,
	     const sc_tensor *const *inputs, sc_error *err)
{
	p->ran = 0;
	int rc = bind_inputs(p, n, names, inputs, err);
	if (rc)
		return rc;
	int use_arena = p->arena_valid;
	for (int s = 0; s < p->n_nodes; s++) {
		plan_node *pn = &p->nodes[s];
		const graph_node *node = pn->node;
		if (pn->absorbed)
			continue;
		for (int j = 0; j < pn->n_in_ids; j++)
			pn->in_md[j] = pn->in_ids[j] >= 0 ? p->slot_md[pn->in_ids[j]] : NULL;
		if (pn->fuse.sum)
			pn->fuse.sum_md = pn->in_md[pn->n_in_ids - 1];
		int changed = signature_changed(pn, err);
		if (changed < 0)
			return err->code;
		if (changed) {
			release_node(pn);
			pn->k.out_md = NULL;
			rc = pn->def->prepare(&pn->k, err);
			pn->prepared = 1;   /* so that release_node frees a partial state */
			if (rc) {
				release_node(pn);
				return rc;
			}
			if (pn->k.n_out > 0 && pn->out_ids[0] >= 0)
				p->slot_md[pn->out_ids[0]] =
					pn->k.out_may_block ? pn->k.out_md : NULL;
			if ((rc = exec_scratch_reserve(&p->env, err)))
				return rc;
		}
		for (int j = 0; j < node->n_outputs; j++) {
			int v = pn->out_ids[j];
			if (v < 0)
				continue;
			if (!tensor_dtype_valid(p->slots[v].dtype))
				return sc_fail(err, SC_EINTERNAL,
					       "node '%s' (%s): prepare left output '%s' without a type",
					       node_label(node), node->op_type,
					       p->g->values[v].name);
			if ((rc = place_output(p, v, &use_arena, err)))
				return rc;
		}
		if ((rc = pn->def->run(&pn->k, err)))
			return rc;
		if (use_arena)
			continue;
		/* off the arena: free what this step read for the last time */
		for (int j = 0; j < pn->n_in_ids; j++) {
			int v = pn->in_ids[j];
			if (v >= 0 && p->kind[v] == SLOT_ACTIVATION &&
			    p->last_use[v] == s)
				free_heap(p, v);
		}
	}
	if (!use_arena) {
		/* this run's outputs sit in heap buffers; keep those until the
		 * next run, which will use the fresh arena instead */
		rc = build_arena(p, err);
		for (int v = 0; v < p->n_values; v++)
			if (p->heap[v] && p->last_use[v] != p->n_nodes)
				free_heap(p, v);
		if (rc)
			return rc;
	} else {
		for (int v = 0; v < p->n_values; v++)
			if (p->heap[v])
				free_heap(p, v);
	}
	p->ran = 1;
	return SC_OK;
}
