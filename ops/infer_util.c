/* infer_util.c: helpers shared by the ops' shape-inference functions; see
 * infer_util.h. */
#include "infer_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"

/* --- messages ------------------------------------------------------------ */

int infer_fail(const graph *g, const graph_node *n, sc_error *err,
	       const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = op_vfail(g, n, err, SC_EINVAL, fmt, ap);
	va_end(ap);
	return rc;
}

/* Appends to buf at *pos, never past len; keeps buf terminated. */
static void put(char *buf, size_t len, size_t *pos, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void put(char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
	if (*pos >= len)
		return;
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(buf + *pos, len - *pos, fmt, ap);
	va_end(ap);
	if (k > 0)
		*pos += (size_t)k;
}

static void put_elem(char *buf, size_t len, size_t *pos, int elem)
{
	if (elem)
		put(buf, len, pos, "%s", tensor_dtype_name(elem));
	else
		put(buf, len, pos, "?");
}

static void put_type(char *buf, size_t len, size_t *pos, const graph_type *t)
{
	switch (t->kind) {
	case GRAPH_TYPE_TENSOR:
	case GRAPH_TYPE_SPARSE_TENSOR:
		if (t->kind == GRAPH_TYPE_SPARSE_TENSOR)
			put(buf, len, pos, "sparse ");
		put_elem(buf, len, pos, t->elem);
		if (t->rank < 0 || (t->rank > 0 && !t->dims)) {
			put(buf, len, pos, "[...]");
			return;
		}
		put(buf, len, pos, "[");
		for (int i = 0; i < t->rank; i++) {
			const graph_dim *d = &t->dims[i];
			if (i)
				put(buf, len, pos, ",");
			if (d->value >= 0)
				put(buf, len, pos, "%lld", (long long)d->value);
			else if (d->param)
				put(buf, len, pos, "%s", d->param);
			else
				put(buf, len, pos, "?");
		}
		put(buf, len, pos, "]");
		return;
	case GRAPH_TYPE_SEQUENCE:
	case GRAPH_TYPE_OPTIONAL:
		put(buf, len, pos, t->kind == GRAPH_TYPE_SEQUENCE ? "seq(" :
			"optional(");
		if (t->inner)
			put_type(buf, len, pos, t->inner);
		else
			put(buf, len, pos, "?");
		put(buf, len, pos, ")");
		return;
	case GRAPH_TYPE_MAP:
		put(buf, len, pos, "map(");
		put_elem(buf, len, pos, t->elem);
		put(buf, len, pos, ",");
		if (t->inner)
			put_type(buf, len, pos, t->inner);
		else
			put(buf, len, pos, "?");
		put(buf, len, pos, ")");
		return;
	default:
		put(buf, len, pos, "?");
	}
}

const char *infer_type_str(const graph_type *t, char *buf, size_t len)
{
	size_t pos = 0;
	if (len)
		buf[0] = '\0';
	put_type(buf, len, &pos, t);
	return buf;
}

const char *infer_tensor_str(const infer_tensor *t, char *buf, size_t len)
{
	size_t pos = 0;
	if (len)
		buf[0] = '\0';
	put_elem(buf, len, &pos, t->elem);
	if (t->rank < 0) {
		put(buf, len, &pos, "[...]");
		return buf;
	}
	put(buf, len, &pos, "[");
	for (int i = 0; i < t->rank; i++) {
		if (i)
			put(buf, len, &pos, ",");
		if (t->dims[i].value >= 0)
			put(buf, len, &pos, "%lld", (long long)t->dims[i].value);
		else if (t->dims[i].param)
			put(buf, len, &pos, "%s", t->dims[i].param);
		else
			put(buf, len, &pos, "?");
	}
	put(buf, len, &pos, "]");
	return buf;
}

/* --- dims ---------------------------------------------------------------- */

static int same_param(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

int infer_dim_same(infer_dim a, infer_dim b)
{
	if (a.value >= 0 || b.value >= 0)
		return a.value == b.value;
	return same_param(a.param, b.param);
}

int infer_dim_unify(infer_dim a, infer_dim b, infer_dim *out)
{
	if (a.value >= 0 && b.value >= 0 && a.value != b.value)
		return -1;
	if (a.value >= 0)
		*out = a;
	else if (b.value >= 0)
		*out = b;
	else if (a.param)
		*out = a;
	else
		*out = b;
	return 0;
}

infer_dim infer_dims_product(const infer_dim *dims, int from, int to)
{
	if (to - from == 1)
		return dims[from];
	int64_t p = 1;
	int unknown = 0;
	for (int i = from; i < to; i++) {
		if (dims[i].value == 0)
			return infer_dim_of(0);
		if (dims[i].value < 0)
			unknown = 1;
	}
	if (unknown)
		return infer_dim_unknown();
	for (int i = from; i < to; i++) {
		if (p > SC_MAX_NUMEL / dims[i].value)
			return infer_dim_unknown();
		p *= dims[i].value;
	}
	return infer_dim_of(p);
}

/* --- tensors ------------------------------------------------------------- */

void infer_tensor_unknown(infer_tensor *t, int elem)
{
	memset(t, 0, sizeof *t);
	t->elem = elem;
	t->rank = -1;
}

void infer_tensor_rank(infer_tensor *t, int elem, int rank)
{
	memset(t, 0, sizeof *t);
	t->elem = elem;
	t->rank = rank;
	for (int i = 0; i < rank && i < SC_MAX_RANK; i++)
		t->dims[i] = infer_dim_unknown();
}

int infer_n_inputs(const graph_node *n)
{
	int k = n->n_inputs;
	while (k > 0 && n->inputs[k - 1] < 0)
		k--;
	return k;
}

int infer_has_input(const graph_node *n, int i)
{
	return i >= 0 && i < n->n_inputs && n->inputs[i] >= 0;
}

int infer_has_output(const graph_node *n, int i)
{
	return i >= 0 && i < n->n_outputs && n->outputs[i] >= 0;
}

const graph_value *infer_input_value(const graph *g, const graph_node *n,
				     int i)
{
	if (!infer_has_input(n, i))
		return NULL;
	return &g->values[n->inputs[i]];
}

void infer_from_type(const graph_type *t, infer_tensor *dst)
{
	if (t->kind != GRAPH_TYPE_TENSOR) {
		infer_tensor_unknown(dst, 0);
		return;
	}
	infer_tensor_unknown(dst, tensor_dtype_valid(t->elem) ? t->elem : 0);
	if (t->rank < 0 || t->rank > SC_MAX_RANK || (t->rank > 0 && !t->dims))
		return;
	dst->rank = t->rank;
	for (int i = 0; i < t->rank; i++) {
		dst->dims[i].value = t->dims[i].value >= 0 ? t->dims[i].value : -1;
		dst->dims[i].param = t->dims[i].value >= 0 ? NULL : t->dims[i].param;
	}
}

int infer_input(const graph *g, const graph_node *n, int i, infer_tensor *t)
{
	const graph_value *v = infer_input_value(g, n, i);
	if (!v) {
		infer_tensor_unknown(t, 0);
		return 0;
	}
	infer_from_type(&v->type, t);
	return 1;
}

int infer_input_rank(const graph *g, const graph_node *n, int i, int rank,
		     infer_tensor *t, sc_error *err)
{
	infer_input(g, n, i, t);
	if (t->rank >= 0 && t->rank != rank)
		return infer_fail(g, n, err, "input %d ('%s') has rank %d, expected %d",
				  i, g->values[n->inputs[i]].name, t->rank, rank);
	return SC_OK;
}

int infer_to_type(const infer_tensor *t, graph_type *dst, sc_error *err)
{
	memset(dst, 0, sizeof *dst);
	dst->kind = GRAPH_TYPE_TENSOR;
	dst->elem = t->elem;
	dst->rank = t->rank;
	if (t->rank <= 0)
		return SC_OK;
	dst->dims = calloc((size_t)t->rank, sizeof *dst->dims);
	if (!dst->dims)
		goto oom;
	for (int i = 0; i < t->rank; i++) {
		dst->dims[i].value = t->dims[i].value >= 0 ? t->dims[i].value : -1;
		if (t->dims[i].value < 0 && t->dims[i].param &&
		    !(dst->dims[i].param = strdup(t->dims[i].param)))
			goto oom;
	}
	return SC_OK;
oom:
	graph_type_clear(dst);
	return sc_fail(err, SC_ENOMEM, "out of memory building a type");
}

enum { MERGE_OK = 0, MERGE_CONFLICT = 1, MERGE_NOMEM = -1 };

/* A type's rank when its dims are really there, else -1. */
static int type_rank(const graph_type *t)
{
	return t->rank >= 0 && (t->rank == 0 || t->dims) ? t->rank : -1;
}

static int merge_dims(const graph_type *a, const graph_type *b, graph_type *out)
{
	int ra = type_rank(a), rb = type_rank(b);
	if (ra >= 0 && rb >= 0 && ra != rb)
		return MERGE_CONFLICT;
	int r = ra >= 0 ? ra : rb;
	out->rank = r;
	if (r <= 0)
		return MERGE_OK;
	out->dims = calloc((size_t)r, sizeof *out->dims);
	if (!out->dims)
		return MERGE_NOMEM;
	for (int i = 0; i < r; i++) {
		const graph_dim *pick;
		if (ra >= 0 && rb >= 0) {
			const graph_dim *da = &a->dims[i], *db = &b->dims[i];
			if (da->value >= 0 && db->value >= 0 &&
			    da->value != db->value)
				return MERGE_CONFLICT;
			if (da->value >= 0)
				pick = da;
			else if (db->value >= 0)
				pick = db;
			else
				pick = da->param ? da : db;
		} else {
			pick = ra >= 0 ? &a->dims[i] : &b->dims[i];
		}
		out->dims[i].value = pick->value >= 0 ? pick->value : -1;
		if (pick->value < 0 && pick->param &&
		    !(out->dims[i].param = strdup(pick->param)))
			return MERGE_NOMEM;
	}
	return MERGE_OK;
}

/* Combines the declared type a with the inferred type b into out (which
 * the caller clears on failure). */
static int merge_type(const graph_type *a, const graph_type *b, graph_type *out)
{
	memset(out, 0, sizeof *out);
	out->rank = -1;
	if (a->kind == GRAPH_TYPE_NONE || b->kind == GRAPH_TYPE_NONE) {
		const graph_type *src = a->kind == GRAPH_TYPE_NONE ? b : a;
		return graph_type_copy(out, src, NULL) ? MERGE_NOMEM : MERGE_OK;
	}
	if (a->kind != b->kind)
		return MERGE_CONFLICT;
	out->kind = a->kind;
	if (a->elem && b->elem && a->elem != b->elem)
		return MERGE_CONFLICT;
	out->elem = a->elem ? a->elem : b->elem;
	if (a->denotation && !(out->denotation = strdup(a->denotation)))
		return MERGE_NOMEM;
	int rc;
	if (a->kind == GRAPH_TYPE_TENSOR || a->kind == GRAPH_TYPE_SPARSE_TENSOR) {
		rc = merge_dims(a, b, out);
		if (rc)
			return rc;
	}
	if (a->inner || b->inner) {
		out->inner = calloc(1, sizeof *out->inner);
		if (!out->inner)
			return MERGE_NOMEM;
		if (a->inner && b->inner)
			return merge_type(a->inner, b->inner, out->inner);
		return graph_type_copy(out->inner, a->inner ? a->inner : b->inner,
				       NULL) ? MERGE_NOMEM : MERGE_OK;
	}
	return MERGE_OK;
}

int infer_merge_value(graph *g, int v, const graph_type *t, const char *who,
		      sc_error *err)
{
	graph_value *val = &g->values[v];
	graph_type merged;
	int rc = merge_type(&val->type, t, &merged);
	if (rc == MERGE_OK) {
		graph_type_clear(&val->type);
		val->type = merged;
		return SC_OK;
	}
	graph_type_clear(&merged);
	if (rc == MERGE_NOMEM)
		return sc_fail(err, SC_ENOMEM, "%s: out of memory typing '%s'",
			       who, val->name);
	char was[256], now[256];
	return sc_fail(err, SC_EINVAL, "%s: '%s' is declared %s but inferred %s",
		       who, val->name, infer_type_str(&val->type, was, sizeof was),
		       infer_type_str(t, now, sizeof now));
}

int infer_set_output_type(graph *g, const graph_node *n, int i,
			  const graph_type *t, sc_error *err)
{
	if (!infer_has_output(n, i))
		return SC_OK;
	char label[256];
	return infer_merge_value(g, n->outputs[i], t,
				 op_node_label(g, n, label, sizeof label), err);
}

int infer_set_output(graph *g, const graph_node *n, int i,
		     const infer_tensor *t, sc_error *err)
{
	if (!infer_has_output(n, i))
		return SC_OK;
	graph_type type;
	int rc = infer_to_type(t, &type, err);
	if (rc)
		return rc;
	rc = infer_set_output_type(g, n, i, &type, err);
	graph_type_clear(&type);
	return rc;
}

/* Input i's name for messages; callers may pass an input that is absent. */
static const char *input_name(const graph *g, const graph_node *n, int i)
{
	return infer_has_input(n, i) ? g->values[n->inputs[i]].name : "(omitted)";
}

int infer_unify_elem(const graph *g, const graph_node *n, int ia, int a,
		     int ib, int b, int *out, sc_error *err)
{
	if (a && b && a != b)
		return infer_fail(g, n, err,
				  "inputs '%s' (%s) and '%s' (%s) must have the same type",
				  input_name(g, n, ia), tensor_dtype_name(a),
				  input_name(g, n, ib), tensor_dtype_name(b));
	*out = a ? a : b;
	return SC_OK;
}

int infer_broadcast(const graph *g, const graph_node *n,
		    const infer_tensor *a, const infer_tensor *b,
		    infer_tensor *out, sc_error *err)
{
	int elem = a->elem ? a->elem : b->elem;
	if (a->rank < 0 || b->rank < 0) {
		infer_tensor_unknown(out, elem);
		return SC_OK;
	}
	int r = a->rank > b->rank ? a->rank : b->rank;
	infer_tensor res;
	infer_tensor_rank(&res, elem, r);
	for (int k = 0; k < r; k++) {
		int ka = k - (r - a->rank), kb = k - (r - b->rank);
		infer_dim da = ka >= 0 ? a->dims[ka] : infer_dim_of(1);
		infer_dim db = kb >= 0 ? b->dims[kb] : infer_dim_of(1);
		infer_dim d;
		if (da.value == 1)
			d = db;
		else if (db.value == 1)
			d = da;
		else if (da.value >= 0 && db.value >= 0) {
			if (da.value != db.value) {
				char sa[256], sb[256];
				return infer_fail(g, n, err,
						  "cannot broadcast %s with %s",
						  infer_tensor_str(a, sa, sizeof sa),
						  infer_tensor_str(b, sb, sizeof sb));
			}
			d = da;
		} else if (da.value >= 0)
			d = da;   /* the other is 1 or the same size */
		else if (db.value >= 0)
			d = db;
		else if (same_param(da.param, db.param))
			d = da;
		else
			d = infer_dim_unknown();
		res.dims[k] = d;
	}
	*out = res;
	return SC_OK;
}

int infer_axis(int64_t axis, int rank, int *out)
{
	if (axis < -(int64_t)rank || axis >= rank)
		return -1;
	*out = (int)(axis < 0 ? axis + rank : axis);
	return 0;
}

/* --- attributes ---------------------------------------------------------- */

int64_t infer_attr_int(const graph_node *n, const char *name, int64_t dflt)
{
	const graph_attr *a = graph_node_attr(n, name);
	return a && a->type == ATTR_INT ? a->i : dflt;
}

float infer_attr_float(const graph_node *n, const char *name, float dflt)
{
	const graph_attr *a = graph_node_attr(n, name);
	return a && a->type == ATTR_FLOAT ? a->f : dflt;
}

int infer_attr_is(const graph_node *n, const char *name, const char *dflt,
		  const char *s)
{
	const graph_attr *a = graph_node_attr(n, name);
	if (!a || a->type != ATTR_STRING)
		return dflt && strcmp(dflt, s) == 0;
	size_t len = strlen(s);
	return a->s.len == len && (len == 0 || memcmp(a->s.data, s, len) == 0);
}

int infer_attr_ints(const graph_node *n, const char *name,
		    const int64_t **vals)
{
	const graph_attr *a = graph_node_attr(n, name);
	if (!a || a->type != ATTR_INTS)
		return -1;
	*vals = a->ints;
	return a->n;
}

/* --- constants ----------------------------------------------------------- */

static const graph_node *constant_producer(const graph *g, int v)
{
	const graph_value *val = &g->values[v];
	if (val->producer < 0 || val->producer >= g->n_nodes)
		return NULL;
	const graph_node *p = &g->nodes[val->producer];
	if (strcmp(p->op_type, "Constant") != 0 || !op_domain_is_default(p->domain))
		return NULL;
	return p;
}

const sc_tensor *infer_const_tensor(const graph *g, int v)
{
	if (v < 0 || v >= g->n_values)
		return NULL;
	const graph_value *val = &g->values[v];
	if (val->init >= 0 && val->init < g->n_inits)
		return &g->inits[val->init].tensor;
	const graph_node *p = constant_producer(g, v);
	if (!p)
		return NULL;
	const graph_attr *a = graph_node_attr(p, "value");
	return a && a->type == ATTR_TENSOR ? a->t : NULL;
}

int infer_const_ints(const graph *g, const graph_node *n, int i,
		     int64_t *out, int max)
{
	if (!infer_has_input(n, i))
		return -1;
	int v = n->inputs[i];
	const sc_tensor *t = infer_const_tensor(g, v);
	if (t) {
		if ((t->dtype != SC_INT64 && t->dtype != SC_INT32) ||
		    t->numel > max || (t->numel > 0 && !t->data))
			return -1;
		for (int64_t k = 0; k < t->numel; k++) {
			if (t->dtype == SC_INT64) {
				int64_t x;
				memcpy(&x, (const char *)t->data + 8 * k, 8);
				out[k] = x;
			} else {
				int32_t x;
				memcpy(&x, (const char *)t->data + 4 * k, 4);
				out[k] = x;
			}
		}
		return (int)t->numel;
	}
	const graph_node *p = constant_producer(g, v);
	if (!p)
		return -1;
	const graph_attr *a = graph_node_attr(p, "value_ints");
	if (a && a->type == ATTR_INTS) {
		if (a->n > max)
			return -1;
		for (int k = 0; k < a->n; k++)
			out[k] = a->ints[k];
		return a->n;
	}
	a = graph_node_attr(p, "value_int");
	if (a && a->type == ATTR_INT && max >= 1) {
		out[0] = a->i;
		return 1;
	}
	return -1;
}

int infer_const_floats(const graph *g, const graph_node *n, int i,
		       double *out, int max)
{
	if (!infer_has_input(n, i))
		return -1;
	const sc_tensor *t = infer_const_tensor(g, n->inputs[i]);
	if (!t || !tensor_dtype_is_float(t->dtype) || t->numel > max ||
	    (t->numel > 0 && !t->data))
		return -1;
	size_t sz = tensor_dtype_size(t->dtype);
	for (int64_t k = 0; k < t->numel; k++) {
		const char *p = (const char *)t->data + sz * (size_t)k;
		if (t->dtype == SC_FLOAT) {
			float f;
			memcpy(&f, p, sizeof f);
			out[k] = f;
		} else if (t->dtype == SC_DOUBLE) {
			memcpy(&out[k], p, sizeof out[k]);
		} else {
			uint16_t h;
			memcpy(&h, p, sizeof h);
			out[k] = t->dtype == SC_FLOAT16 ? tensor_half_to_float(h) :
				 tensor_bf16_to_float(h);
		}
	}
	return (int)t->numel;
}

/* --- convolution and pooling geometry ------------------------------------ */

int infer_auto_pad(const graph_node *n)
{
	const graph_attr *a = graph_node_attr(n, "auto_pad");
	/* an empty string is what some exporters write for the default */
	if (!a || a->type != ATTR_STRING || a->s.len == 0 ||
	    infer_attr_is(n, "auto_pad", NULL, "NOTSET"))
		return INFER_PAD_NOTSET;
	if (infer_attr_is(n, "auto_pad", NULL, "VALID"))
		return INFER_PAD_VALID;
	if (infer_attr_is(n, "auto_pad", NULL, "SAME_UPPER"))
		return INFER_PAD_SAME_UPPER;
	if (infer_attr_is(n, "auto_pad", NULL, "SAME_LOWER"))
		return INFER_PAD_SAME_LOWER;
	return -1;
}

/* Bounds every geometry parameter so that the arithmetic below cannot
 * overflow int64. */
#define WINDOW_MAX ((int64_t)1 << 30)

int infer_window_out(int64_t in, int64_t kernel, int64_t stride,
		     int64_t dilation, int mode, int ceil_mode,
		     int64_t *pad_begin, int64_t *pad_end, int64_t *out)
{
	if (in < 0 || in > SC_MAX_NUMEL || kernel < 1 || kernel > WINDOW_MAX ||
	    stride < 1 || stride > WINDOW_MAX || dilation < 1 ||
	    dilation > WINDOW_MAX)
		return -1;
	int64_t eff = (kernel - 1) * dilation + 1;
	if (mode == INFER_PAD_SAME_UPPER || mode == INFER_PAD_SAME_LOWER) {
		int64_t o = (in + stride - 1) / stride;
		int64_t total = (o > 0 ? (o - 1) * stride : 0) + eff - in;
		if (total < 0)
			total = 0;
		if (mode == INFER_PAD_SAME_UPPER) {
			*pad_begin = total / 2;
			*pad_end = total - total / 2;
		} else {
			*pad_end = total / 2;
			*pad_begin = total - total / 2;
		}
		*out = o;
		return 0;
	}
	if (mode == INFER_PAD_VALID)
		*pad_begin = *pad_end = 0;
	else if (mode != INFER_PAD_NOTSET)
		return -1;
	if (*pad_begin < 0 || *pad_end < 0 || *pad_begin > WINDOW_MAX ||
	    *pad_end > WINDOW_MAX)
		return -1;
	int64_t span = in + *pad_begin + *pad_end - eff;
	if (span < 0)
		return -1;
	int64_t o = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
	if (ceil_mode && (o - 1) * stride >= in + *pad_begin)
		o--;
	*out = o;
	return 0;
}

int infer_window_shape(const graph *g, const graph_node *n,
		       const infer_tensor *x, const int64_t *kernel,
		       int ceil_mode, infer_tensor *out, sc_error *err)
{
	int ns = x->rank - 2;
	const int64_t *ks = NULL, *st = NULL, *dl = NULL, *pd = NULL;
	int nk = infer_attr_ints(n, "kernel_shape", &ks);
	int nst = infer_attr_ints(n, "strides", &st);
	int ndl = infer_attr_ints(n, "dilations", &dl);
	int npd = infer_attr_ints(n, "pads", &pd);
	int mode = infer_auto_pad(n);

	if (ns < 1)
		return infer_fail(g, n, err, "input has rank %d, expected at least 3",
				  x->rank);
	if (mode < 0)
		return infer_fail(g, n, err, "auto_pad must be NOTSET, VALID, SAME_UPPER or SAME_LOWER");
	if (nk < 0 && !kernel)
		return infer_fail(g, n, err, "kernel_shape is required");
	if (nk >= 0 && nk != ns)
		return infer_fail(g, n, err, "kernel_shape has %d values for %d spatial axes",
				  nk, ns);
	if (nst >= 0 && nst != ns)
		return infer_fail(g, n, err, "strides has %d values for %d spatial axes",
				  nst, ns);
	if (ndl >= 0 && ndl != ns)
		return infer_fail(g, n, err, "dilations has %d values for %d spatial axes",
				  ndl, ns);
	if (npd >= 0 && npd != 2 * ns)
		return infer_fail(g, n, err, "pads has %d values for %d spatial axes (expected %d)",
				  npd, ns, 2 * ns);
	for (int i = 0; i < ns; i++) {
		int64_t k = nk >= 0 ? ks[i] : kernel[i];
		int64_t s = nst >= 0 ? st[i] : 1;
		int64_t d = ndl >= 0 ? dl[i] : 1;
		int64_t pb = npd >= 0 ? pd[i] : 0, pe = npd >= 0 ? pd[ns + i] : 0;
		infer_dim in = x->dims[2 + i];
		int64_t o, pb2 = pb, pe2 = pe;
		if (k < 1 || s < 1 || d < 1 || pb < 0 || pe < 0)
			return infer_fail(g, n, err,
					  "spatial axis %d: kernel %lld, stride %lld, dilation %lld, pads %lld+%lld are out of range",
					  i, (long long)k, (long long)s, (long long)d,
					  (long long)pb, (long long)pe);
		if (in.value < 0) {
			/* a size-preserving window keeps a symbolic size */
			int keeps = s == 1 &&
				    (mode == INFER_PAD_SAME_UPPER ||
				     mode == INFER_PAD_SAME_LOWER ||
				     (mode == INFER_PAD_NOTSET && k <= WINDOW_MAX &&
				      d <= WINDOW_MAX && pb <= WINDOW_MAX &&
				      pe <= WINDOW_MAX && pb + pe == (k - 1) * d));
			out->dims[2 + i] = keeps ? in : infer_dim_unknown();
			continue;
		}
		if (infer_window_out(in.value, k, s, d, mode, ceil_mode, &pb2,
				     &pe2, &o))
			return infer_fail(g, n, err,
					  "spatial axis %d: a window of %lld taps (dilation %lld, stride %lld, pads %lld+%lld) does not fit input size %lld",
					  i, (long long)k, (long long)d, (long long)s,
					  (long long)pb, (long long)pe,
					  (long long)in.value);
		out->dims[2 + i] = infer_dim_of(o);
	}
	return SC_OK;
}

/* --- shared infer functions ---------------------------------------------- */

int infer_same_as_input(graph *g, const graph_node *n, int64_t opset,
			sc_error *err)
{
	(void)opset;
	const graph_value *x = infer_input_value(g, n, 0);
	if (!x)
		return SC_OK;
	/* copy first: the output's merge frees types it replaces */
	graph_type t;
	int rc = graph_type_copy(&t, &x->type, err);
	if (rc)
		return rc;
	rc = infer_set_output_type(g, n, 0, &t, err);
	graph_type_clear(&t);
	return rc;
}
