/* plan.c: schedule, liveness, arena and the run loop; see plan.h.
 *
 * Every value of the main graph has a slot: a tensor header whose data
 * points at an initializer, a caller's input, or activation memory.  The
 * first run (and any run after shapes change) allocates activations one by
 * one and frees each after its last use, which keeps that run's peak low
 * and records every size; the large ones are mapped from the system
 * (exec_buffer_alloc), so that freeing one gives its pages back at once
 * and the process's RSS follows what the run holds.  At its end the sizes
 * and lifetimes are packed into one arena, first-fit by decreasing size,
 * and the run's outputs move into it; later runs take their memory from
 * it and allocate nothing. */
#include "plan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#ifdef _OPENMP
#include <omp.h>
#endif

#include "../ops/dnnl_util.h"
#include "../ops/op.h"
#include "exec.h"
#include "infer.h"

enum { SLOT_ACTIVATION, SLOT_CONST, SLOT_INPUT };

typedef struct sig_entry {
	int present, dtype, rank;
	int64_t dims[SC_MAX_RANK];
	int has_md;
	dnnl_memory_desc_t md;     /* a copy: a producer's descriptor may move */
} sig_entry;

/* A blocked input converted to plain for a kernel that does not take it
 * (op_def.layout_inputs).  Made when the layout or shape first appears,
 * kept while they last. */
typedef struct plan_conv {
	int active;                /* this run converts the input */
	du_reorder r;
	dnnl_memory_desc_t src;    /* the layout r converts from */
	void *buf;                 /* the plain copy */
	size_t bytes;
	sc_tensor t;               /* what the kernel reads: the input at buf */
} plan_conv;

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
	plan_conv *cv;             /* n_in_ids entries */
	int same_may_block;        /* LAYOUT_SAME: output 0 may be blocked */
	dnnl_memory_desc_t same_md;   /* ... and the layout it has this run */
	double prof_ms;            /* SUPCON_PROFILE: the fastest run's time, */
	long prof_runs;            /* which is the least disturbed one */
	size_t scratch;            /* kernel scratch its last prepare asked for */
	int scratch_arena;         /* ... which has a place in the arena: */
	size_t scratch_off;        /* there, for up to scratch_planned bytes */
	size_t scratch_planned;
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
	size_t reorder_scratch;    /* largest scratch a layout conversion asked */
	int arena_valid;
	int ran;
	int profile;               /* SUPCON_PROFILE: 1 wall time, 2 CPU time */
	int check_numerics;        /* plan_options.check_numerics */
	/* plan_options.max_memory: what is counted against it (initializers
	 * and mem_outside; activations on the heap; the arena is arena_bytes
	 * and the scratch env.scratch_bytes) */
	size_t mem_limit, mem_fixed, mem_heap, mem_peak;
	plan_node_fn node_fn;      /* plan_set_node_callback */
	void *node_ctx;
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

/* Whether node pn's kernel reads input slot j in any layout: its op says
 * so for that input, or j is a fused residual (which conv reads in its
 * producer's layout). */
static int takes_blocked(const plan_node *pn, int j)
{
	unsigned caps = pn->def ? pn->def->layout_caps : 0;
	unsigned ins = pn->def ? pn->def->layout_inputs : 0;
	if (pn->fuse.sum && j == pn->n_in_ids - 1)
		return 1;
	if (j >= pn->node->n_inputs)
		return 0;
	return (j == 0 && (caps & LAYOUT_SRC)) || (j < 32 && (ins >> j & 1));
}

/* Input slot j of a LAYOUT_SAME node is one of the elementwise operands
 * (not a dims-only or layout-aware input). */
static int same_operand(const plan_node *pn, int j)
{
	return pn->def && (pn->def->layout_caps & LAYOUT_SAME) &&
	       j < pn->node->n_inputs && !takes_blocked(pn, j);
}

/* Decides which values may be held in a blocked layout: those a
 * layout-aware producer (LAYOUT_DST) or a LAYOUT_SAME node writes as
 * output 0, that are not graph outputs, and whose every reader takes them
 * so (takes_blocked) or is a LAYOUT_SAME node whose operands and output
 * may all be blocked.  The last rule makes the decision a fixpoint: start
 * from every candidate and drop values until nothing changes.  Whether a
 * producer then really picks a blocked layout is its prepare's choice. */
static int plan_layouts(plan *p, sc_error *err)
{
	int nv = p->n_values;
	unsigned char *cand = calloc((size_t)nv + 1, 1);
	if (!cand)
		return sc_fail(err, SC_ENOMEM, "out of memory planning layouts");
	for (int s = 0; s < p->n_nodes; s++) {
		const plan_node *pn = &p->nodes[s];
		unsigned caps = pn->def ? pn->def->layout_caps : 0;
		if (pn->absorbed || !(caps & (LAYOUT_DST | LAYOUT_SAME)) ||
		    pn->k.n_out < 1)
			continue;
		int v = pn->out_ids[0];
		if (v >= 0 && p->kind[v] == SLOT_ACTIVATION)
			cand[v] = 1;
	}
	for (int i = 0; i < p->g->n_outputs; i++)
		cand[p->g->outputs[i]] = 0;
	for (int changed = 1; changed;) {
		changed = 0;
		for (int s = 0; s < p->n_nodes; s++) {
			const plan_node *pn = &p->nodes[s];
			if (pn->absorbed)
				continue;
			int same = pn->def && (pn->def->layout_caps & LAYOUT_SAME);
			int out = pn->k.n_out > 0 ? pn->out_ids[0] : -1;
			int same_ok = same && out >= 0 && cand[out];
			for (int j = 0; j < pn->n_in_ids && same_ok; j++)
				if (same_operand(pn, j) && pn->in_ids[j] >= 0 &&
				    !cand[pn->in_ids[j]])
					same_ok = 0;
			for (int j = 0; j < pn->n_in_ids; j++) {
				int v = pn->in_ids[j];
				if (v < 0 || !cand[v] || takes_blocked(pn, j) ||
				    (same_ok && same_operand(pn, j)))
					continue;
				cand[v] = 0;
				changed = 1;
			}
			if (same && out >= 0 && cand[out] && !same_ok) {
				cand[out] = 0;
				changed = 1;
			}
		}
	}
	for (int s = 0; s < p->n_nodes; s++) {
		plan_node *pn = &p->nodes[s];
		if (pn->absorbed || !pn->def || pn->k.n_out < 1 || pn->out_ids[0] < 0)
			continue;
		int may = cand[pn->out_ids[0]];
		if (pn->def->layout_caps & LAYOUT_DST)
			pn->k.out_may_block = may;
		else if (pn->def->layout_caps & LAYOUT_SAME)
			pn->same_may_block = may;
	}
	free(cand);
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

/* --- memory limit --------------------------------------------------------- */

static size_t mem_counted(const plan *p)
{
	return p->mem_fixed + p->mem_heap + p->arena_bytes + p->env.scratch_bytes;
}

static double mib(size_t bytes)
{
	return (double)bytes / (1024.0 * 1024.0);
}

/* Fails if `more` bytes for `what` would take the plan past its limit;
 * called before they are allocated. */
static int mem_check(plan *p, size_t more, const char *what, sc_error *err)
{
	size_t now = mem_counted(p);
	if (!p->mem_limit || now + more <= p->mem_limit)
		return SC_OK;
	return sc_fail(err, SC_ENOMEM,
		       "memory limit of %.1f MiB exceeded: %s needs %.1f MiB "
		       "with %.1f MiB already held (%.1f MiB of it weights and "
		       "caller state)", mib(p->mem_limit), what, mib(more),
		       mib(now), mib(p->mem_fixed));
}

static void mem_note_peak(plan *p)
{
	size_t now = mem_counted(p);
	if (now > p->mem_peak)
		p->mem_peak = now;
}

size_t plan_memory_bytes(const plan *p) { return mem_counted(p); }
size_t plan_memory_peak(const plan *p) { return p->mem_peak; }

/* Grows the scratch buffer to what prepare asked for, within the limit. */
static int scratch_reserve(plan *p, sc_error *err)
{
	exec_env *e = &p->env;
	if (e->scratch_request > e->scratch_bytes) {
		int rc = mem_check(p, e->scratch_request - e->scratch_bytes,
				   "kernel scratch", err);
		if (rc)
			return rc;
	}
	int rc = exec_scratch_reserve(e, err);
	mem_note_peak(p);
	return rc;
}

/* The shared scratch for a layout conversion the executor runs itself. */
static int reorder_scratch(plan *p, size_t bytes, sc_error *err)
{
	if (bytes > p->reorder_scratch)
		p->reorder_scratch = bytes;
	exec_scratch_request(&p->env, bytes);
	return scratch_reserve(p, err);
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
	const char *prof = getenv("SUPCON_PROFILE");
	p->profile = !prof || !*prof || strcmp(prof, "0") == 0 ? 0 :
		     strcmp(prof, "cpu") == 0 ? 2 : 1;
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
	if (opt) {
		p->check_numerics = opt->check_numerics;
		p->mem_limit = opt->max_memory;
		p->mem_fixed = opt->mem_outside;
	}
	for (int i = 0; i < g->n_inits; i++)
		p->mem_fixed += g->inits[i].tensor.nbytes;
	mem_note_peak(p);
	if (p->mem_limit && p->mem_fixed > p->mem_limit) {
		rc = sc_fail(err, SC_ENOMEM, "the model's weights%s take %.1f MiB, "
			     "above the memory limit of %.1f MiB",
			     opt && opt->mem_outside ? " and the optimizer's state" : "",
			     mib(p->mem_fixed), mib(p->mem_limit));
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
		pn->cv = calloc((size_t)n->n_inputs + 2, sizeof *pn->cv);
		if (!pn->in_ids || !pn->out_ids || !pn->in || !pn->out || !pn->sig ||
		    !pn->in_md || !pn->cv) {
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

static const char *node_label(const graph_node *n);

/* --- profile ------------------------------------------------------------- */

/* SUPCON_PROFILE=1 in the environment makes every plan time its nodes'
 * run calls (prepare excluded) and, when freed, print to stderr the wall
 * time per op type and the slowest nodes, taking each node's fastest run
 * (a busy machine only ever adds time).  A development aid, like
 * ONEDNN_VERBOSE: nothing reads it back. */
static double plan_now_ms(const plan *p)
{
	struct timespec ts;
	/* SUPCON_PROFILE=cpu: the process's CPU time, which other programs
	 * on a shared machine do not inflate (with --threads 1 and
	 * OMP_WAIT_POLICY=passive it is the kernels' own work) */
	clock_gettime(p->profile == 2 ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC,
		      &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int prof_cmp(const void *a, const void *b)
{
	double x = ((const double *)a)[0], y = ((const double *)b)[0];
	return (x < y) - (x > y);
}

static void plan_profile_report(const plan *p)
{
	long runs = 0;
	for (int s = 0; s < p->n_nodes; s++)
		if (p->nodes[s].prof_runs > runs)
			runs = p->nodes[s].prof_runs;
	if (!runs)
		return;
	/* rows of {ms, first node index}: one per op type, then per node */
	double *rows = calloc(2 * (size_t)p->n_nodes + 2, sizeof *rows);
	if (!rows)
		return;
	int n_rows = 0;
	double total = 0;
	for (int s = 0; s < p->n_nodes; s++) {
		const plan_node *pn = &p->nodes[s];
		if (!pn->prof_runs)
			continue;
		double ms = pn->prof_ms;
		total += ms;
		int r = 0;
		while (r < n_rows && strcmp(p->nodes[(int)rows[2 * r + 1]].node->op_type,
					    pn->node->op_type))
			r++;
		if (r == n_rows) {
			rows[2 * r + 1] = s;
			n_rows++;
		}
		rows[2 * r] += ms;
	}
	qsort(rows, (size_t)n_rows, 2 * sizeof *rows, prof_cmp);
	fprintf(stderr, "profile: %.2f ms per run (node minimums) in %d nodes (%ld runs)\n", total,
		plan_node_count(p), runs);
	for (int r = 0; r < n_rows; r++) {
		const graph_node *n = p->nodes[(int)rows[2 * r + 1]].node;
		fprintf(stderr, "  %-28s %9.2f ms %5.1f%%\n", n->op_type, rows[2 * r],
			100 * rows[2 * r] / (total > 0 ? total : 1));
	}
	n_rows = 0;
	for (int s = 0; s < p->n_nodes; s++)
		if (p->nodes[s].prof_runs) {
			rows[2 * n_rows] = p->nodes[s].prof_ms;
			rows[2 * n_rows++ + 1] = s;
		}
	qsort(rows, (size_t)n_rows, 2 * sizeof *rows, prof_cmp);
	fprintf(stderr, "profile: slowest nodes\n");
	for (int r = 0; r < n_rows && r < (p->profile ? 400 : 25); r++) {
		const graph_node *n = p->nodes[(int)rows[2 * r + 1]].node;
		fprintf(stderr, "  %9.2f ms  %s %s\n", rows[2 * r], n->op_type,
			node_label(n));
	}
	free(rows);
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
	if (p->profile && p->nodes)
		plan_profile_report(p);
	for (int s = 0; p->nodes && s < p->n_nodes; s++) {
		plan_node *pn = &p->nodes[s];
		release_node(pn);
		free(pn->in_ids);
		free(pn->out_ids);
		free(pn->in_md);
		for (int j = 0; pn->cv && j < pn->n_in_ids; j++) {
			du_reorder_destroy(&pn->cv[j].r);
			free(pn->cv[j].buf);
		}
		free(pn->cv);
		free(pn->in);
		free(pn->out);
		tensor_free(&pn->folded[0]);
		tensor_free(&pn->folded[1]);
		free(pn->sig);
		free(pn->sig_values);
	}
	for (int v = 0; p->heap && v < p->n_values; v++)
		exec_buffer_free(p->heap[v], p->heap_bytes[v]);
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

int plan_blocked_values(const plan *p)
{
	int n = 0;
	for (int v = 0; p->ran && v < p->n_values; v++)
		n += p->slot_md[v] != NULL;
	return n;
}

int plan_conversions(const plan *p)
{
	int n = 0;
	for (int s = 0; p->ran && s < p->n_nodes; s++)
		for (int j = 0; !p->nodes[s].absorbed && j < p->nodes[s].n_in_ids; j++)
			n += p->nodes[s].cv[j].active;
	return n;
}

/* --- arithmetic count ----------------------------------------------------- */

/* Input i, or output i as the run left it (a fused node's outputs are
 * those of the nodes it absorbed, of the same shape), when it has a shape. */
static const sc_tensor *flop_slot(const plan *p, const plan_node *pn, int out,
				  int i)
{
	const graph_node *n = pn->node;
	int v = out ? (i < n->n_outputs ? pn->out_ids[i] : -1) :
		      (i < n->n_inputs ? n->inputs[i] : -1);
	return v >= 0 && p->slots[v].rank > 0 ? &p->slots[v] : NULL;
}

/* Multiply-adds x 2 of one node in the last run's shapes: the product
 * ops only (Conv and its gradient passes, Gemm, MatMul, SupConLoss),
 * which is where the time goes in the networks we train. */
static double node_flops(const plan *p, const plan_node *pn)
{
	const graph_node *n = pn->node;
	const char *op = n->op_type;
	const sc_tensor *a = flop_slot(p, pn, 0, 0);
	const sc_tensor *y = flop_slot(p, pn, 1, 0);
	int conv = !strcmp(op, "Conv"), conv_grad = !strcmp(op, "ConvGrad");
	if (conv || conv_grad) {
		/* Conv(X, W) -> Y; ConvGrad(dY, X, W) -> dX, dW, dB */
		const sc_tensor *w = flop_slot(p, pn, 0, conv ? 1 : 2);
		const sc_tensor *out = conv ? y : a;
		if (!w || !out || w->rank < 2)
			return 0;
		double per = 2.0 * (double)out->numel * (double)w->dims[1];
		for (int i = 2; i < w->rank; i++)
			per *= (double)w->dims[i];
		if (conv)
			return per;
		return per * ((flop_slot(p, pn, 1, 0) != NULL) +
			      (flop_slot(p, pn, 1, 1) != NULL));
	}
	if (!strcmp(op, "Gemm") || !strcmp(op, "MatMul")) {
		if (!a || !y)
			return 0;
		const graph_attr *ta = graph_node_attr(n, "transA");
		int64_t k = a->dims[a->rank - 1];
		if (ta && ta->type == ATTR_INT && ta->i && a->rank == 2)
			k = a->dims[0];
		return 2.0 * (double)y->numel * (double)k;
	}
	if (!strcmp(op, "SupConLoss") || !strcmp(op, "SupConLossGrad")) {
		/* the M x M similarities of features [M, D] (input 0 of
		 * both), twice more backward */
		const sc_tensor *f = a;
		if (!f || f->rank != 2)
			return 0;
		double m = (double)f->dims[0], d = (double)f->dims[1];
		return (strcmp(op, "SupConLoss") ? 4.0 : 2.0) * m * m * d;
	}
	return 0;
}

double plan_flops(const plan *p)
{
	double total = 0;
	for (int s = 0; p->ran && s < p->n_nodes; s++)
		if (!p->nodes[s].absorbed)
			total += node_flops(p, &p->nodes[s]);
	return total;
}

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

/* --- numerics checks ------------------------------------------------------ */

/* Index of the first NaN or infinity among n elements, or -1; *nan says
 * which.  Other dtypes have none. */
static int64_t first_nonfinite(const void *data, int dtype, int64_t n, int *nan)
{
	for (int64_t i = 0; i < n; i++) {
		double v;
		if (dtype == SC_FLOAT) {
			v = ((const float *)data)[i];
		} else if (dtype == SC_DOUBLE) {
			v = ((const double *)data)[i];
		} else if (dtype == SC_FLOAT16 || dtype == SC_BFLOAT16) {
			uint16_t h = ((const uint16_t *)data)[i];
			uint16_t e = dtype == SC_FLOAT16 ? 0x7c00 : 0x7f80;
			uint16_t m = dtype == SC_FLOAT16 ? 0x03ff : 0x007f;
			if ((h & e) != e)
				continue;
			*nan = (h & m) != 0;
			return i;
		} else {
			return -1;
		}
		if (!isfinite(v)) {
			*nan = isnan(v);
			return i;
		}
	}
	return -1;
}

/* Value v's first non-finite element in logical (plain) order, or -1.
 * A blocked value is read through a reorder to plain, so that padding
 * never counts and the index means what it says. */
static int64_t value_nonfinite(plan *p, int v, int *nan, sc_error *err)
{
	const sc_tensor *t = &p->slots[v];
	if (!t->data || t->numel <= 0)
		return -1;
	const dnnl_memory_desc_t *md = p->kind[v] == SLOT_ACTIVATION ?
				       p->slot_md[v] : NULL;
	if (!md)
		return first_nonfinite(t->data, t->dtype, t->numel, nan);
	dnnl_memory_desc_t plain;
	du_reorder r;
	size_t scratch = 0;
	const char *label = p->g->values[v].name;
	memset(&r, 0, sizeof r);
	int rc = du_plain_md(&plain, t->rank, t->dims, md->data_type, label, err);
	if (!rc)
		rc = du_reorder_create(&r, md, &plain, &p->env, &scratch, label, err);
	if (!rc)
		rc = reorder_scratch(p, scratch, err);
	size_t bytes = rc ? 0 : dnnl_memory_desc_get_size(&plain);
	void *buf = rc ? NULL : aligned_alloc(64, (bytes + 63) & ~(size_t)63);
	int64_t at = -2;
	if (!rc && !buf)
		rc = sc_fail(err, SC_ENOMEM, "out of memory checking '%s'", label);
	if (!rc)
		rc = du_reorder_run(&r, &p->env, t->data, buf, label, err);
	if (!rc)
		at = first_nonfinite(buf, t->dtype, t->numel, nan);
	du_reorder_destroy(&r);
	free(buf);
	return rc ? -2 : at;
}

static void index_text(const sc_tensor *t, int64_t i, char *buf, size_t len)
{
	int64_t idx[8] = {0};
	int r = t->rank < 8 ? t->rank : 8;
	for (int d = r - 1; d >= 0; d--) {
		int64_t n = t->dims[d] > 0 ? t->dims[d] : 1;
		idx[d] = i % n;
		i /= n;
	}
	size_t used = (size_t)snprintf(buf, len, "[");
	for (int d = 0; d < r && used < len; d++)
		used += (size_t)snprintf(buf + used, len - used, "%s%lld",
					 d ? ", " : "", (long long)idx[d]);
	if (used < len)
		snprintf(buf + used, len - used, "]");
}

/* SC_ENUMERIC when value v holds a NaN or an infinity: "<who> '<v>' holds
 * NaN at [..]" for an input, or, when node is given, that node "produced"
 * it. */
static int check_value(plan *p, int v, const char *who, const graph_node *node,
		       sc_error *err)
{
	int nan = 0;
	int64_t at = value_nonfinite(p, v, &nan, err);
	if (at == -2)
		return err->code;
	if (at < 0)
		return SC_OK;
	char where[160];
	index_text(&p->slots[v], at, where, sizeof where);
	const char *what = nan ? "NaN" : "an infinity";
	if (node)
		return sc_fail(err, SC_ENUMERIC,
			       "node '%s' (%s) produced %s in output '%s' at %s; "
			       "its inputs were finite", node_label(node),
			       node->op_type, what, p->g->values[v].name, where);
	return sc_fail(err, SC_ENUMERIC, "%s '%s' holds %s at %s", who,
		       p->g->values[v].name, what, where);
}

/* Graph inputs and initializers, before the first node runs. */
static int check_inputs_numerics(plan *p, sc_error *err)
{
	for (int v = 0; v < p->n_values; v++) {
		if (p->kind[v] != SLOT_INPUT && p->kind[v] != SLOT_CONST)
			continue;
		int rc = check_value(p, v, p->kind[v] == SLOT_INPUT ? "input" :
				     "initializer", NULL, err);
		if (rc)
			return rc;
	}
	return SC_OK;
}

static int check_node_numerics(plan *p, const plan_node *pn, sc_error *err)
{
	for (int j = 0; j < pn->node->n_outputs; j++) {
		int rc = pn->out_ids[j] < 0 ? SC_OK :
			 check_value(p, pn->out_ids[j], NULL, pn->node, err);
		if (rc)
			return rc;
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
		sig_entry *was = &pn->sig[j];
		int present = t != NULL, has_md = pn->in_md[j] != NULL;
		int same = was->present == present && was->has_md == has_md;
		if (same && t)
			same = was->dtype == (int)t->dtype && was->rank == t->rank &&
			       !memcmp(was->dims, t->dims,
				       (size_t)t->rank * sizeof(int64_t));
		if (same && has_md)
			same = dnnl_memory_desc_equal(&was->md, pn->in_md[j]);
		if (same)
			continue;
		changed = 1;
		memset(was, 0, sizeof *was);
		was->present = present;
		was->has_md = has_md;
		if (t) {
			was->dtype = t->dtype;
			was->rank = t->rank;
			memcpy(was->dims, t->dims, (size_t)t->rank * sizeof(int64_t));
		}
		if (has_md)
			was->md = *pn->in_md[j];
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

static void free_heap(plan *p, int v);

/* The first run of a shape holds its activations in heap buffers of
 * every size, and glibc keeps freed ones below its (adaptive) mmap
 * threshold in the process; without giving those pages back, the arena
 * of the next runs would come on top of them (measured: a ResNet-18
 * SupCon step at batch 256 peaked at 1938 MiB RSS with a 917 MiB arena,
 * 1646 MiB with this).  Since the large buffers are mapped on their own
 * (exec_buffer_alloc) this only concerns the small ones. */
static void release_freed_memory(void)
{
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

/* After the first run of a shape, once the arena is made: the run's
 * outputs move from their own buffers to their places in the arena, where
 * the next run writes them anyway, instead of being held on top of the
 * arena through that run (measured: 44 MiB of gradients in a ResNet-18
 * training step).  Outputs live to the end of the schedule, so no two
 * of them share arena bytes. */
static void outputs_to_arena(plan *p)
{
	for (int v = 0; v < p->n_values; v++) {
		if (!p->heap[v])
			continue;
		char *at = (char *)p->arena + p->offsets[v];
		memcpy(at, p->heap[v], p->slots[v].nbytes);
		p->slots[v].data = at;
		free_heap(p, v);
	}
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
		size_t cap = (bytes + 63) & ~(size_t)63;
		char what[300];
		snprintf(what, sizeof what, "activation '%s'", p->g->values[v].name);
		int rc = mem_check(p, cap - p->heap_bytes[v], what, err);
		if (rc)
			return rc;
		free_heap(p, v);
		p->heap[v] = exec_buffer_alloc(cap);
		if (!p->heap[v])
			return sc_fail(err, SC_ENOMEM,
				       "cannot allocate %zu bytes for '%s'", bytes,
				       p->g->values[v].name);
		p->heap_bytes[v] = cap;
		p->mem_heap += cap;
		mem_note_peak(p);
	}
	t->data = p->heap[v];
	return SC_OK;
}

/* The activations already placed in the arena, indexed by lifetime: a
 * segment tree over the schedule's steps, where a value is listed at the
 * O(log n) tree nodes that tile its lifetime and each tree node counts the
 * values listed at or under it, so a search descends only where values
 * lie.  The recursion is the tree's height, not the graph's depth. */
typedef struct {
	int leaves;              /* a power of two above the last step */
	int *head, *under;       /* per tree node: first entry (-1), count */
	struct life_entry {
		int value, next;
	} *entries;
	int n_entries, cap;
} life_index;

static int life_add(life_index *t, int node, int nlo, int nhi, int lo, int hi,
		    int v)
{
	if (hi < nlo || nhi < lo)
		return 0;
	t->under[node]++;
	if (lo <= nlo && nhi <= hi) {
		if (t->n_entries == t->cap) {
			if (t->cap > (1 << 28))
				return -1;
			int cap = t->cap ? t->cap * 2 : 1024;
			struct life_entry *e = realloc(t->entries, (size_t)cap * sizeof *e);
			if (!e)
				return -1;
			t->entries = e;
			t->cap = cap;
		}
		t->entries[t->n_entries].value = v;
		t->entries[t->n_entries].next = t->head[node];
		t->head[node] = t->n_entries++;
		return 0;
	}
	int mid = nlo + (nhi - nlo) / 2;
	if (life_add(t, 2 * node, nlo, mid, lo, hi, v) ||
	    life_add(t, 2 * node + 1, mid + 1, nhi, lo, hi, v))
		return -1;
	return 0;
}

/* Appends to out[] (once each, by stamp) the values whose lifetime meets
 * [lo, hi]. */
static void life_find(const life_index *t, int node, int nlo, int nhi, int lo,
		      int hi, int *stamp, int mark, int *out, int *n_out)
{
	if (hi < nlo || nhi < lo || !t->under[node])
		return;
	for (int e = t->head[node]; e >= 0; e = t->entries[e].next) {
		int w = t->entries[e].value;
		if (stamp[w] != mark) {
			stamp[w] = mark;
			out[(*n_out)++] = w;
		}
	}
	if (nlo == nhi)
		return;
	int mid = nlo + (nhi - nlo) / 2;
	life_find(t, 2 * node, nlo, mid, lo, hi, stamp, mark, out, n_out);
	life_find(t, 2 * node + 1, mid + 1, nhi, lo, hi, stamp, mark, out, n_out);
}

typedef struct {
	size_t off, end;
} arena_span;

static int cmp_span(const void *a, const void *b)
{
	const arena_span *x = a, *y = b;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* Something to place in the arena: an activation (id < n_values) or the
 * kernel scratch of schedule step id - n_values; bytes is rounded. */
typedef struct {
	size_t bytes;
	int lo, hi;              /* steps it is live over */
	int id;
} arena_item;

static int cmp_bigger_first(const void *a, const void *b)
{
	const arena_item *x = a, *y = b;
	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	return (x->id > y->id) - (x->id < y->id);    /* ties in id order */
}

static int cmp_longer_first(const void *a, const void *b)
{
	const arena_item *x = a, *y = b;
	int lx = x->hi - x->lo, ly = y->hi - y->lo;
	if (lx != ly)
		return lx > ly ? -1 : 1;
	return cmp_bigger_first(a, b);
}

static size_t arena_size(size_t bytes)
{
	return (bytes + 63) & ~(size_t)63;
}

/* Places items[0..n) in that order, each at the lowest offset that no
 * item already placed with an overlapping lifetime occupies; offs[id]
 * gets the offsets and *total the arena's size.  Only the items whose
 * lifetimes meet are compared, so a long chain packs in O(n log n). */
static int pack_items(const arena_item *items, int n, int n_ids, int n_steps,
		      size_t *offs, size_t *total)
{
	life_index t = {0};
	t.leaves = 1;
	while (t.leaves < n_steps + 1)
		t.leaves *= 2;
	int *near = malloc(((size_t)n_ids + 1) * sizeof *near);
	int *stamp = malloc(((size_t)n_ids + 1) * sizeof *stamp);
	size_t *bytes = malloc(((size_t)n_ids + 1) * sizeof *bytes);
	arena_span *spans = malloc(((size_t)n_ids + 1) * sizeof *spans);
	t.head = malloc(2 * (size_t)t.leaves * sizeof *t.head);
	t.under = calloc(2 * (size_t)t.leaves, sizeof *t.under);
	int rc = -1;
	*total = 0;
	if (!near || !stamp || !bytes || !spans || !t.head || !t.under)
		goto done;
	for (int i = 0; i < 2 * t.leaves; i++)
		t.head[i] = -1;
	for (int i = 0; i < n_ids; i++)
		stamp[i] = -1;
	for (int i = 0; i < n; i++) {
		const arena_item *it = &items[i];
		int n_near = 0;
		life_find(&t, 1, 0, t.leaves - 1, it->lo, it->hi, stamp, i, near,
			  &n_near);
		for (int j = 0; j < n_near; j++) {
			spans[j].off = offs[near[j]];
			spans[j].end = spans[j].off + bytes[near[j]];
		}
		qsort(spans, (size_t)n_near, sizeof *spans, cmp_span);
		/* the first gap of it->bytes, from the bottom */
		size_t off = 0;
		for (int j = 0; j < n_near && spans[j].off < off + it->bytes; j++)
			if (spans[j].end > off)
				off = spans[j].end;
		offs[it->id] = off;
		bytes[it->id] = it->bytes;
		if (life_add(&t, 1, 0, t.leaves - 1, it->lo, it->hi, it->id))
			goto done;
		if (off + it->bytes > *total)
			*total = off + it->bytes;
	}
	rc = 0;
done:
	free(near);
	free(stamp);
	free(bytes);
	free(spans);
	free(t.head);
	free(t.under);
	free(t.entries);
	return rc;
}

/* Kernel scratch of at least this size gets its own place in the arena,
 * live for its node's step only, instead of sizing the shared buffer:
 * one large scratch (a Winograd weight gradient: 312 MiB in a ResNet-18
 * SupCon step at batch 256) then fits beside the activations that are
 * live at its step, not on top of all of them. */
#define ARENA_SCRATCH_MIN ((size_t)1 << 20)

/* Packs the activations and the large kernel scratches into one arena:
 * greedy first fit, largest first and also longest-lived first, keeping
 * whichever arena is smaller. */
static int build_arena(plan *p, sc_error *err)
{
	int n = 0, nv = p->n_values, n_ids = nv + p->n_nodes;
	size_t total = 0, total2 = 0, shared = p->reorder_scratch;
	arena_item *items = malloc(((size_t)n_ids + 1) * sizeof *items);
	size_t *offs = malloc(((size_t)n_ids + 1) * sizeof *offs);
	size_t *offs2 = malloc(((size_t)n_ids + 1) * sizeof *offs2);
	int rc = SC_OK;
	if (!items || !offs || !offs2) {
		rc = sc_fail(err, SC_ENOMEM, "out of memory planning the arena");
		goto done;
	}
	p->total_bytes = 0;
	for (int v = 0; v < nv; v++)
		if (p->kind[v] == SLOT_ACTIVATION && p->def_step[v] >= 0) {
			p->sizes[v] = p->slots[v].nbytes;
			p->total_bytes += arena_size(p->sizes[v]);
			int lo = p->def_step[v];
			items[n++] = (arena_item){arena_size(p->sizes[v]), lo,
				p->last_use[v] < lo ? lo : p->last_use[v], v};
		}
	for (int s = 0; s < p->n_nodes; s++) {
		plan_node *pn = &p->nodes[s];
		pn->scratch_arena = !pn->absorbed && pn->scratch >= ARENA_SCRATCH_MIN;
		pn->scratch_planned = pn->scratch;
		if (pn->scratch_arena) {
			items[n++] = (arena_item){arena_size(pn->scratch), s, s, nv + s};
			p->total_bytes += arena_size(pn->scratch);
		}
		else if (pn->scratch > shared)
			shared = pn->scratch;
	}
	qsort(items, (size_t)n, sizeof *items, cmp_bigger_first);
	if (pack_items(items, n, n_ids, p->n_nodes, offs, &total)) {
		rc = sc_fail(err, SC_ENOMEM, "out of memory planning the arena");
		goto done;
	}
	qsort(items, (size_t)n, sizeof *items, cmp_longer_first);
	if (pack_items(items, n, n_ids, p->n_nodes, offs2, &total2)) {
		rc = sc_fail(err, SC_ENOMEM, "out of memory planning the arena");
		goto done;
	}
	if (total2 < total) {
		size_t *t = offs;
		offs = offs2;
		offs2 = t;
		total = total2;
	}
	for (int i = 0; i < n; i++) {
		int id = items[i].id;
		if (id < nv)
			p->offsets[id] = offs[id];
		else
			p->nodes[id - nv].scratch_off = offs[id];
	}
done:
	free(items);
	free(offs);
	free(offs2);
	/* a run that left the arena part-way may have graph outputs in it;
	 * the old arena goes also when packing failed, since the offsets are
	 * half rewritten */
	for (int i = 0; p->arena && i < p->g->n_outputs; i++) {
		int v = p->g->outputs[i];
		char *d = p->slots[v].data, *a = p->arena;
		if (p->kind[v] != SLOT_ACTIVATION || d < a || d >= a + p->arena_bytes)
			continue;
		size_t cap = arena_size(p->slots[v].nbytes);
		free_heap(p, v);
		p->heap[v] = exec_buffer_alloc(cap);
		if (!p->heap[v])
			return sc_fail(err, SC_ENOMEM, "out of memory re-planning");
		p->heap_bytes[v] = cap;
		p->mem_heap += cap;
		memcpy(p->heap[v], d, p->slots[v].nbytes);
		p->slots[v].data = p->heap[v];
	}
	free(p->arena);
	p->arena = NULL;
	p->arena_bytes = 0;
	p->arena_valid = 0;
	if (rc)
		return rc;
	/* the large scratches now live in the arena: the shared buffer only
	 * serves the small ones and the layout conversions */
	exec_scratch_shrink(&p->env, shared);
	if ((rc = mem_check(p, total, "the activation arena", err)))
		return rc;
	p->arena = aligned_alloc(64, total ? total : 64);
	if (!p->arena) {
		p->arena_bytes = 0;
		p->arena_valid = 0;
		return sc_fail(err, SC_ENOMEM, "cannot allocate a %zu-byte arena", total);
	}
	p->arena_bytes = total;
	p->arena_valid = 1;
	mem_note_peak(p);
	return scratch_reserve(p, err);
}

static void free_heap(plan *p, int v)
{
	p->mem_heap -= p->heap_bytes[v];
	exec_buffer_free(p->heap[v], p->heap_bytes[v]);
	p->heap[v] = NULL;
	p->heap_bytes[v] = 0;
}

/* --- layouts at run time -------------------------------------------------- */

static int same_dims(const sc_tensor *a, const sc_tensor *b)
{
	return a->rank == b->rank &&
	       !memcmp(a->dims, b->dims, (size_t)a->rank * sizeof(int64_t));
}

/* A float32 layout of t without padding: element i of the buffer is one
 * element of t, so elementwise kernels may walk it flat. */
static int dense_layout(const dnnl_memory_desc_t *md, const sc_tensor *t)
{
	return t->dtype == SC_FLOAT && md->data_type == dnnl_f32 &&
	       dnnl_memory_desc_get_size(md) == (size_t)t->numel * sizeof(float);
}

/* Decides how each input of pn reaches its kernel this run: in the layout
 * its producer left (the kernel takes it, or a LAYOUT_SAME node walks its
 * operands flat in one shared layout), or converted to plain (marked in
 * pn->cv).  Returns the layout a LAYOUT_SAME node's output will have
 * (NULL: plain). */
static const dnnl_memory_desc_t *node_inputs(plan *p, plan_node *pn)
{
	const dnnl_memory_desc_t *same = NULL;
	int flat = pn->same_may_block;
	const sc_tensor *first = NULL;
	for (int j = 0; flat && j < pn->n_in_ids; j++) {
		int v = pn->in_ids[j];
		if (v < 0 || !same_operand(pn, j))
			continue;
		const dnnl_memory_desc_t *md = p->slot_md[v];
		if (!first) {
			first = &p->slots[v];
			same = md;
			flat = md && dense_layout(md, first);
		} else if (!md || !dnnl_memory_desc_equal(md, same) ||
			   !same_dims(&p->slots[v], first)) {
			flat = 0;
		}
	}
	for (int j = 0; j < pn->n_in_ids; j++) {
		int v = pn->in_ids[j];
		pn->cv[j].active = 0;
		if ((j == 1 || j == 2) && pn->folded[j - 1].data)
			continue;
		pn->in_md[j] = NULL;
		if (v < 0)
			continue;
		pn->in[j] = &p->slots[v];
		const dnnl_memory_desc_t *md = p->slot_md[v];
		if (!md || (flat && same_operand(pn, j)))
			continue;
		if (takes_blocked(pn, j))
			pn->in_md[j] = md;
		else
			pn->cv[j].active = 1;
	}
	return flat ? same : NULL;
}

/* Sets up (when the layout or shape is new) and runs the conversions
 * node_inputs() asked for, pointing the kernel's inputs at the copies. */
static int convert_inputs(plan *p, plan_node *pn, sc_error *err)
{
	for (int j = 0; j < pn->n_in_ids; j++) {
		plan_conv *cv = &pn->cv[j];
		if (!cv->active)
			continue;
		int v = pn->in_ids[j];
		const sc_tensor *t = &p->slots[v];
		const dnnl_memory_desc_t *md = p->slot_md[v];
		char label[256];
		snprintf(label, sizeof label, "node '%s' (%s): input '%s' to plain",
			 node_label(pn->node), pn->node->op_type,
			 p->g->values[v].name);
		if (!cv->r.p.prim || !dnnl_memory_desc_equal(&cv->src, md) ||
		    !same_dims(&cv->t, t)) {
			du_reorder_destroy(&cv->r);
			dnnl_memory_desc_t plain;
			size_t scratch = 0;
			int rc = du_plain_md(&plain, t->rank, t->dims, md->data_type,
					     label, err);
			if (!rc)
				rc = du_reorder_create(&cv->r, md, &plain, &p->env,
						       &scratch, label, err);
			if (rc)
				return rc;
			if ((rc = reorder_scratch(p, scratch, err)))
				return rc;
			cv->src = *md;
			size_t bytes = dnnl_memory_desc_get_size(&plain);
			if (bytes > cv->bytes) {
				free(cv->buf);
				cv->bytes = 0;
				cv->buf = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
				if (!cv->buf)
					return sc_fail(err, SC_ENOMEM,
						       "%s: cannot allocate %zu bytes",
						       label, bytes);
				cv->bytes = bytes;
			}
		}
		cv->t = *t;
		cv->t.data = cv->buf;
		cv->t.nbytes = (size_t)t->numel * tensor_dtype_size(t->dtype);
		pn->in[j] = &cv->t;
		int rc = du_reorder_run(&cv->r, &p->env, t->data, cv->buf, label, err);
		if (rc)
			return rc;
	}
	return SC_OK;
}

/* After a LAYOUT_SAME node's prepare: its output takes the operands'
 * shared layout when it has their shape; else (a SumToShape that really
 * reduces) the operands are converted to plain after all. */
static int same_output(plan *p, plan_node *pn, const dnnl_memory_desc_t *same,
		       sc_error *err)
{
	int v = pn->out_ids[0];
	if (same) {
		const sc_tensor *first = NULL;
		for (int j = 0; j < pn->n_in_ids && !first; j++)
			if (pn->in_ids[j] >= 0 && same_operand(pn, j))
				first = &p->slots[pn->in_ids[j]];
		if (first && same_dims(first, &p->slots[v]) &&
		    p->slots[v].dtype == first->dtype) {
			pn->same_md = *same;
			p->slot_md[v] = &pn->same_md;
			return SC_OK;
		}
		for (int j = 0; j < pn->n_in_ids; j++)
			pn->cv[j].active = pn->in_ids[j] >= 0 && same_operand(pn, j) &&
					   p->slot_md[pn->in_ids[j]];
		int rc = convert_inputs(p, pn, err);
		if (rc)
			return rc;
	}
	p->slot_md[v] = NULL;
	return SC_OK;
}

void plan_set_node_callback(plan *p, plan_node_fn fn, void *ctx)
{
	p->node_fn = fn;
	p->node_ctx = ctx;
}

const sc_tensor *plan_value(const plan *p, int v)
{
	if (v < 0 || v >= p->n_values || p->slot_md[v] || !p->slots[v].data)
		return NULL;
	return &p->slots[v];
}

/* Tells the caller's callback that schedule step pn is done. */
static int node_done(plan *p, const plan_node *pn, sc_error *err)
{
	if (!p->node_fn)
		return SC_OK;
	return p->node_fn(p->node_ctx, (int)(pn->node - p->g->nodes), err);
}

int plan_run(plan *p, int n, const char *const *names,
	     const sc_tensor *const *inputs, sc_error *err)
{
	p->ran = 0;
	int rc = bind_inputs(p, n, names, inputs, err);
	if (rc)
		return rc;
	if (p->check_numerics && (rc = check_inputs_numerics(p, err)))
		return rc;
	int use_arena = p->arena_valid;
	for (int s = 0; s < p->n_nodes; s++) {
		plan_node *pn = &p->nodes[s];
		const graph_node *node = pn->node;
		if (pn->absorbed) {
			/* its work was done by the earlier node that absorbed it */
			if ((rc = node_done(p, pn, err)))
				return rc;
			continue;
		}
		const dnnl_memory_desc_t *same = node_inputs(p, pn);
		if ((rc = convert_inputs(p, pn, err)))
			return rc;
		if (pn->fuse.sum)
			pn->fuse.sum_md = pn->in_md[pn->n_in_ids - 1];
		int changed = signature_changed(pn, err);
		if (changed < 0)
			return err->code;
		if (changed) {
			release_node(pn);
			pn->k.out_md = NULL;
			p->env.node_request = 0;
			rc = pn->def->prepare(&pn->k, err);
			pn->prepared = 1;   /* so that release_node frees a partial state */
			if (rc) {
				release_node(pn);
				return rc;
			}
			pn->scratch = p->env.node_request;
			if (pn->k.n_out > 0 && pn->out_ids[0] >= 0)
				p->slot_md[pn->out_ids[0]] =
					pn->k.out_may_block ? pn->k.out_md : NULL;
			if ((rc = scratch_reserve(p, err)))
				return rc;
		}
		if (pn->same_may_block && (rc = same_output(p, pn, same, err)))
			return rc;
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
		/* its scratch: its place in the arena, or the shared buffer,
		 * which a run that left the arena may need to grow again */
		void *shared = p->env.scratch;
		if (use_arena && pn->scratch_arena && pn->scratch <= pn->scratch_planned) {
			p->env.scratch = (char *)p->arena + pn->scratch_off;
		} else if (pn->scratch > p->env.scratch_bytes) {
			exec_scratch_request(&p->env, pn->scratch);
			if ((rc = scratch_reserve(p, err)))
				return rc;
			shared = p->env.scratch;
		}
		double t0 = p->profile && !changed ? plan_now_ms(p) : 0;
		rc = pn->def->run(&pn->k, err);
		p->env.scratch = shared;
		if (rc)
			return rc;
		/* Off the arena, the shared buffer holds a large scratch only
		 * while its node runs; kept, it would stay on top of every
		 * activation of the steps after (measured: 355 MiB above the
		 * arena's runs in a ResNet-50 SupCon step at 128 views of
		 * 64x64).  A later node that needs it again grows it above. */
		if (!use_arena && pn->scratch >= ARENA_SCRATCH_MIN)
			exec_scratch_shrink(&p->env, p->reorder_scratch);
		if (p->check_numerics && (rc = check_node_numerics(p, pn, err)))
			return rc;
		if (p->profile && !changed) {
			double ms = plan_now_ms(p) - t0;
			if (!pn->prof_runs++ || ms < pn->prof_ms)
				pn->prof_ms = ms;
		}
		if ((rc = node_done(p, pn, err)))
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
		for (int v = 0; v < p->n_values; v++)
			if (p->heap[v] && p->last_use[v] != p->n_nodes)
				free_heap(p, v);
		release_freed_memory();
		if ((rc = build_arena(p, err)))
			return rc;
		outputs_to_arena(p);
	} else {
		for (int v = 0; v < p->n_values; v++)
			if (p->heap[v])
				free_heap(p, v);
	}
	p->ran = 1;
	return SC_OK;
}
