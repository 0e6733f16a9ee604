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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "../ops/op.h"
#include "exec.h"

enum { SLOT_ACTIVATION, SLOT_CONST, SLOT_INPUT };

typedef struct sig_entry {
	int present, dtype, rank;
	int64_t dims[SC_MAX_RANK];
} sig_entry;

typedef struct plan_node {
	const graph_node *node;
	const op_def *def;
	op_kernel k;
	const sc_tensor **in;
	sc_tensor **out;
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

int plan_create(const graph_model *m, const plan_options *opt, plan **out,
		sc_error *err)
{
	*out = NULL;
	const graph *g = m->graph;
	int rc = collect_unsupported(m, g, err);
	if (rc)
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
	if (!p->slots || !p->kind || !p->def_step || !p->last_use || !p->bound ||
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
		pn->in = calloc((size_t)n->n_inputs + 1, sizeof *pn->in);
		pn->out = calloc((size_t)n->n_outputs + 1, sizeof *pn->out);
		pn->sig = calloc((size_t)n->n_inputs + 1, sizeof *pn->sig);
		if (!pn->in || !pn->out || !pn->sig) {
			free(order);
			plan_free(p);
			return sc_fail(err, SC_ENOMEM, "out of memory creating the plan");
		}
		for (int j = 0; j < n->n_inputs; j++) {
			int v = n->inputs[j];
			if (v >= 0) {
				pn->in[j] = &p->slots[v];
				p->last_use[v] = s;
			}
		}
		for (int j = 0; j < n->n_outputs; j++) {
			int v = n->outputs[j];
			if (v >= 0) {
				pn->out[j] = &p->slots[v];
				p->def_step[v] = s;
			}
		}
		pn->k = (op_kernel){
			.g = g, .node = n,
			.opset = graph_model_opset(m, n->domain),
			.n_in = n->n_inputs, .in = pn->in,
			.n_out = n->n_outputs, .out = pn->out,
			.env = &p->env,
		};
	}
	/* graph outputs live until the caller has read them */
	for (int i = 0; i < g->n_outputs; i++)
		p->last_use[g->outputs[i]] = g->n_nodes;
	free(order);
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
		free(pn->in);
		free(pn->out);
		free(pn->sig);
		free(pn->sig_values);
	}
	for (int v = 0; p->heap && v < p->n_values; v++)
		free(p->heap[v]);
	if (p->env.engine)
		exec_env_destroy(&p->env);
	free(p->nodes);
	free(p->slots);
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
	for (int j = 0; j < pn->k.n_in; j++) {
		const sc_tensor *t = pn->in[j];
		sig_entry now = {0};
		if (t) {
			now.present = 1;
			now.dtype = t->dtype;
			now.rank = t->rank;
			memcpy(now.dims, t->dims, sizeof now.dims);
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
		int changed = signature_changed(pn, err);
		if (changed < 0)
			return err->code;
		if (changed) {
			release_node(pn);
			rc = pn->def->prepare(&pn->k, err);
			if (rc)
				return rc;
			pn->prepared = 1;
			if ((rc = exec_scratch_reserve(&p->env, err)))
				return rc;
		}
		for (int j = 0; j < node->n_outputs; j++) {
			int v = node->outputs[j];
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
		for (int j = 0; j < node->n_inputs; j++) {
			int v = node->inputs[j];
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
