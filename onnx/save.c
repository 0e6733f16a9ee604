/* save.c: graph_model -> ModelProto, into memory or streamed to a file.
 *
 * The proto tree borrows every string and every tensor byte from the model
 * (raw_data points at the tensor's storage), so it costs a little structure
 * per node and value, never a copy of the weights.  The structure itself is
 * carved from one bump arena that dies in one piece when saving ends; this is
 * why the tree is never handed to free_unpacked, which would free the
 * borrowed memory.  Files are streamed through a ProtobufCBuffer whose append
 * writes to a FILE*, into a temporary name in the destination folder that is
 * renamed over the target only once every byte is on disk. */
#include "internal.h"
#include "../runtime/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* protobuf's own parsers refuse messages of 2 GiB and more. */
#define PROTO_MAX_BYTES ((size_t)INT32_MAX)

/* Writable spellings of constants for protobuf-c's non-const fields; the
 * packer only reads them. */
static char empty_string[] = "";
static uint8_t empty_bytes[1];

/* --- arena ---------------------------------------------------------------- */

#define ARENA_CHUNK ((size_t)64 << 10)

typedef struct arena_chunk {
	struct arena_chunk *next;
	size_t used, cap;
	alignas(max_align_t) unsigned char data[];
} arena_chunk;

typedef struct arena {
	arena_chunk *head;
} arena;

/* Zeroed storage for n items of elem bytes that lives until arena_free(), or
 * NULL on overflow or out of memory.  n == 0 gives a valid empty pointer. */
static void *arena_array(arena *a, size_t n, size_t elem)
{
	const size_t align = alignof(max_align_t);
	if (elem && n > (SIZE_MAX - align - sizeof(arena_chunk)) / elem)
		return NULL;
	size_t size = (n * elem + align - 1) & ~(align - 1);
	if (size == 0)
		size = align;
	arena_chunk *c = a->head;
	if (!c || c->cap - c->used < size) {
		size_t cap = size > ARENA_CHUNK ? size : ARENA_CHUNK;
		c = malloc(sizeof *c + cap);
		if (!c)
			return NULL;
		c->next = a->head;
		c->used = 0;
		c->cap = cap;
		a->head = c;
	}
	void *p = c->data + c->used;
	c->used += size;
	memset(p, 0, size);
	return p;
}

static void arena_free(arena *a)
{
	while (a->head) {
		arena_chunk *next = a->head->next;
		free(a->head);
		a->head = next;
	}
}

/* --- conversion context --------------------------------------------------- */

typedef struct saver {
	arena mem;
	sc_error *err;
} saver;

static int oom(saver *s, const char *what)
{
	return sc_fail(s->err, SC_ENOMEM, "out of memory building %s", what);
}

/* Points p at a fresh message from the arena, initialised by init_fn;
 * false when out of memory. */
#define ARENA_NEW(s, p, init_fn)					\
	(((p) = arena_array(&(s)->mem, 1, sizeof *(p))) ? (init_fn(p), 1) : 0)

/* The arena as an onnx_alloc_fn, for the helpers that add to the tree
 * (onnx_supcon_attach). */
static void *saver_alloc(void *ctx, size_t n, size_t size)
{
	return arena_array(&((saver *)ctx)->mem, n, size);
}

/* Borrowed string; protobuf-c wants char * but only reads through it. */
static char *borrow(const char *str)
{
	return (char *)str;
}

/* Borrowed optional string: absent when NULL or empty, which ONNX reads the
 * same way and which keeps files free of empty doc_strings. */
static char *borrow_opt(const char *str)
{
	return str && *str ? (char *)str : NULL;
}

/* --- tensors -------------------------------------------------------------- */

/* Rejects tensors whose fields contradict each other, so a corrupt IR cannot
 * make the packer read past the end of a buffer. */
static int tensor_check(const sc_tensor *t, const char *what, sc_error *err)
{
	if (!tensor_dtype_valid(t->dtype))
		return sc_fail(err, SC_EINVAL, "tensor '%s': unknown data type %d",
			       what, (int)t->dtype);
	int64_t numel;
	int rc = tensor_numel_checked(t->rank, t->dims, &numel, what, err);
	if (rc)
		return rc;
	if (numel != t->numel ||
	    t->nbytes != (size_t)numel * tensor_dtype_size(t->dtype))
		return sc_fail(err, SC_EINVAL,
			       "tensor '%s': numel %lld / nbytes %zu do not match its %s shape",
			       what, (long long)t->numel, t->nbytes,
			       tensor_dtype_name(t->dtype));
	if (t->nbytes && !t->data)
		return sc_fail(err, SC_EINVAL, "tensor '%s': %zu bytes but no data",
			       what, t->nbytes);
	if (t->dtype == SC_STRING) {
		const sc_bytes *str = t->data;
		for (int64_t i = 0; i < numel; i++)
			if (str[i].len && !str[i].data)
				return sc_fail(err, SC_EINVAL,
					       "tensor '%s': string %lld has no data",
					       what, (long long)i);
	}
	return SC_OK;
}

/* Fills everything but string_data; raw_data and dims borrow from t. */
static void tensor_fill(const sc_tensor *t, const char *name,
			Onnx__TensorProto *p)
{
	onnx__tensor_proto__init(p);
	p->name = borrow_opt(name);
	p->has_data_type = 1;
	p->data_type = (int32_t)t->dtype;
	p->n_dims = (size_t)t->rank;
	p->dims = t->rank ? (int64_t *)t->dims : NULL;
	if (t->dtype != SC_STRING) {
		p->has_raw_data = 1;
		p->raw_data.len = t->nbytes;
		p->raw_data.data = t->nbytes ? (uint8_t *)t->data : empty_bytes;
	}
}

static void tensor_fill_strings(const sc_tensor *t, Onnx__TensorProto *p,
				ProtobufCBinaryData *strings)
{
	const sc_bytes *src = t->data;
	for (int64_t i = 0; i < t->numel; i++) {
		strings[i].len = src[i].len;
		strings[i].data = src[i].len ? (uint8_t *)src[i].data : empty_bytes;
	}
	p->n_string_data = (size_t)t->numel;
	p->string_data = strings;
}

int onnx_tensor_to_proto(const sc_tensor *t, const char *name,
			 Onnx__TensorProto *p, sc_error *err)
{
	onnx__tensor_proto__init(p);
	int rc = tensor_check(t, name ? name : "", err);
	if (rc)
		return rc;
	tensor_fill(t, name, p);
	if (t->dtype == SC_STRING && t->numel) {
		ProtobufCBinaryData *strings =
			calloc((size_t)t->numel, sizeof *strings);
		if (!strings)
			return sc_fail(err, SC_ENOMEM,
				       "tensor '%s': out of memory listing %lld strings",
				       name ? name : "", (long long)t->numel);
		tensor_fill_strings(t, p, strings);
	}
	return SC_OK;
}

void onnx_tensor_proto_clear(Onnx__TensorProto *p)
{
	if (!p)
		return;
	/* Only string_data was allocated by onnx_tensor_to_proto; dims, name
	 * and raw_data are borrowed. */
	free(p->string_data);
	onnx__tensor_proto__init(p);
}

static int tensor_to_arena(saver *s, const sc_tensor *t, const char *name,
			   const char *doc, const char *what,
			   Onnx__TensorProto **out)
{
	int rc = tensor_check(t, what, s->err);
	if (rc)
		return rc;
	Onnx__TensorProto *p = arena_array(&s->mem, 1, sizeof *p);
	if (!p)
		return oom(s, what);
	tensor_fill(t, name, p);
	p->doc_string = borrow_opt(doc);
	if (t->dtype == SC_STRING && t->numel) {
		ProtobufCBinaryData *strings =
			arena_array(&s->mem, (size_t)t->numel, sizeof *strings);
		if (!strings)
			return oom(s, what);
		tensor_fill_strings(t, p, strings);
	}
	*out = p;
	return SC_OK;
}

/* --- types ---------------------------------------------------------------- */

static int shape_to_proto(saver *s, const graph_type *t, const char *what,
			  Onnx__TensorShapeProto **out)
{
	*out = NULL;
	if (t->rank < 0)
		return SC_OK; /* shape unknown: no shape field at all */
	if (t->rank > 0 && !t->dims)
		return sc_fail(s->err, SC_EINVAL, "value '%s': rank %d without dims",
			       what, t->rank);
	Onnx__TensorShapeProto *shape;
	if (!ARENA_NEW(s, shape, onnx__tensor_shape_proto__init))
		return oom(s, what);
	shape->n_dim = (size_t)t->rank;
	shape->dim = arena_array(&s->mem, shape->n_dim, sizeof *shape->dim);
	if (!shape->dim)
		return oom(s, what);
	for (int i = 0; i < t->rank; i++) {
		Onnx__TensorShapeProto__Dimension *d;
		if (!ARENA_NEW(s, d, onnx__tensor_shape_proto__dimension__init))
			return oom(s, what);
		/* A dim with neither field is ONNX's "unknown". */
		if (t->dims[i].value >= 0) {
			d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
			d->dim_value = t->dims[i].value;
		} else if (t->dims[i].param) {
			d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
			d->dim_param = borrow(t->dims[i].param);
		}
		shape->dim[i] = d;
	}
	*out = shape;
	return SC_OK;
}

static int type_to_proto(saver *s, const graph_type *t, const char *what,
			 int depth, Onnx__TypeProto **out)
{
	*out = NULL;
	if (depth > 64)
		return sc_fail(s->err, SC_EINVAL, "value '%s': type nested too deep",
			       what);
	Onnx__TypeProto *p;
	if (!ARENA_NEW(s, p, onnx__type_proto__init))
		return oom(s, what);
	p->denotation = borrow_opt(t->denotation);
	int rc = SC_OK;
	switch (t->kind) {
	case GRAPH_TYPE_NONE:
		break;
	case GRAPH_TYPE_TENSOR: {
		Onnx__TypeProto__Tensor *tt;
		if (!ARENA_NEW(s, tt, onnx__type_proto__tensor__init))
			return oom(s, what);
		tt->has_elem_type = t->elem != 0;
		tt->elem_type = t->elem;
		rc = shape_to_proto(s, t, what, &tt->shape);
		p->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
		p->tensor_type = tt;
		break;
	}
	case GRAPH_TYPE_SPARSE_TENSOR: {
		Onnx__TypeProto__SparseTensor *st;
		if (!ARENA_NEW(s, st, onnx__type_proto__sparse_tensor__init))
			return oom(s, what);
		st->has_elem_type = t->elem != 0;
		st->elem_type = t->elem;
		rc = shape_to_proto(s, t, what, &st->shape);
		p->value_case = ONNX__TYPE_PROTO__VALUE_SPARSE_TENSOR_TYPE;
		p->sparse_tensor_type = st;
		break;
	}
	case GRAPH_TYPE_SEQUENCE: {
		Onnx__TypeProto__Sequence *sq;
		if (!ARENA_NEW(s, sq, onnx__type_proto__sequence__init))
			return oom(s, what);
		if (t->inner)
			rc = type_to_proto(s, t->inner, what, depth + 1, &sq->elem_type);
		p->value_case = ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE;
		p->sequence_type = sq;
		break;
	}
	case GRAPH_TYPE_OPTIONAL: {
		Onnx__TypeProto__Optional *op;
		if (!ARENA_NEW(s, op, onnx__type_proto__optional__init))
			return oom(s, what);
		if (t->inner)
			rc = type_to_proto(s, t->inner, what, depth + 1, &op->elem_type);
		p->value_case = ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE;
		p->optional_type = op;
		break;
	}
	case GRAPH_TYPE_MAP: {
		Onnx__TypeProto__Map *mp;
		if (!ARENA_NEW(s, mp, onnx__type_proto__map__init))
			return oom(s, what);
		mp->has_key_type = t->elem != 0;
		mp->key_type = t->elem;
		if (t->inner)
			rc = type_to_proto(s, t->inner, what, depth + 1, &mp->value_type);
		p->value_case = ONNX__TYPE_PROTO__VALUE_MAP_TYPE;
		p->map_type = mp;
		break;
	}
	default:
		return sc_fail(s->err, SC_EINVAL, "value '%s': unknown type kind %d",
			       what, (int)t->kind);
	}
	*out = p;
	return rc;
}

static int value_info_to_proto(saver *s, const graph *g, int v,
			       const char *list, Onnx__ValueInfoProto **out)
{
	if (v < 0 || v >= g->n_values)
		return sc_fail(s->err, SC_EINVAL,
			       "graph '%s': %s entry refers to value %d of %d",
			       g->name ? g->name : "", list, v, g->n_values);
	const graph_value *val = &g->values[v];
	Onnx__ValueInfoProto *p;
	if (!ARENA_NEW(s, p, onnx__value_info_proto__init))
		return oom(s, val->name);
	p->name = borrow(val->name);
	p->doc_string = borrow_opt(val->doc_string);
	/* A type that says nothing is left out rather than written empty
	 * (an empty denotation is no denotation: borrow_opt drops it). */
	if (val->type.kind != GRAPH_TYPE_NONE ||
	    (val->type.denotation && *val->type.denotation)) {
		int rc = type_to_proto(s, &val->type, val->name, 0, &p->type);
		if (rc)
			return rc;
	}
	*out = p;
	return SC_OK;
}

static int value_list_to_proto(saver *s, const graph *g, const int *idx, int n,
			       const char *list, size_t *n_out,
			       Onnx__ValueInfoProto ***out)
{
	*n_out = (size_t)n;
	*out = arena_array(&s->mem, (size_t)n, sizeof **out);
	if (!*out)
		return oom(s, list);
	for (int i = 0; i < n; i++) {
		int rc = value_info_to_proto(s, g, idx[i], list, &(*out)[i]);
		if (rc)
			return rc;
	}
	return SC_OK;
}

/* --- nodes and attributes ------------------------------------------------- */

static int graph_to_proto(saver *s, const graph *g, int depth,
			  Onnx__GraphProto **out);

static int attr_fail(saver *s, const graph_node *n, const graph_attr *a,
		     int code, const char *what)
{
	return sc_fail(s->err, code, "node '%s' (%s) attribute '%s': %s",
		       n->name ? n->name : "", n->op_type ? n->op_type : "",
		       a->name ? a->name : "", what);
}

static int attr_list_to_proto(saver *s, const graph_node *n,
			      const graph_attr *a, Onnx__AttributeProto *p,
			      int depth)
{
	size_t count = a->n > 0 ? (size_t)a->n : 0;
	int rc;
	if (a->n < 0)
		return attr_fail(s, n, a, SC_EINVAL, "negative element count");
	switch (a->type) {
	case ATTR_FLOATS:
		if (count && !a->floats)
			return attr_fail(s, n, a, SC_EINVAL, "floats missing");
		p->n_floats = count;
		p->floats = a->floats;
		return SC_OK;
	case ATTR_INTS:
		if (count && !a->ints)
			return attr_fail(s, n, a, SC_EINVAL, "ints missing");
		p->n_ints = count;
		p->ints = a->ints;
		return SC_OK;
	case ATTR_STRINGS:
		if (count && !a->strings)
			return attr_fail(s, n, a, SC_EINVAL, "strings missing");
		p->n_strings = count;
		p->strings = arena_array(&s->mem, count, sizeof *p->strings);
		if (!p->strings)
			return oom(s, a->name);
		for (size_t i = 0; i < count; i++) {
			p->strings[i].len = a->strings[i].len;
			p->strings[i].data = a->strings[i].len ?
				(uint8_t *)a->strings[i].data : empty_bytes;
		}
		return SC_OK;
	case ATTR_TENSORS:
		if (count && !a->tensors)
			return attr_fail(s, n, a, SC_EINVAL, "tensors missing");
		p->n_tensors = count;
		p->tensors = arena_array(&s->mem, count, sizeof *p->tensors);
		if (!p->tensors)
			return oom(s, a->name);
		for (size_t i = 0; i < count; i++) {
			rc = tensor_to_arena(s, &a->tensors[i], NULL, NULL, a->name,
					     &p->tensors[i]);
			if (rc)
				return rc;
		}
		return SC_OK;
	case ATTR_TYPE_PROTOS:
		if (count && !a->tps)
			return attr_fail(s, n, a, SC_EINVAL, "types missing");
		p->n_type_protos = count;
		p->type_protos = arena_array(&s->mem, count, sizeof *p->type_protos);
		if (!p->type_protos)
			return oom(s, a->name);
		for (size_t i = 0; i < count; i++) {
			rc = type_to_proto(s, &a->tps[i], a->name, 0,
					   &p->type_protos[i]);
			if (rc)
				return rc;
		}
		return SC_OK;
	case ATTR_GRAPHS:
		if (count && !a->graphs)
			return attr_fail(s, n, a, SC_EINVAL, "graphs missing");
		p->n_graphs = count;
		p->graphs = arena_array(&s->mem, count, sizeof *p->graphs);
		if (!p->graphs)
			return oom(s, a->name);
		for (size_t i = 0; i < count; i++) {
			if (!a->graphs[i])
				return attr_fail(s, n, a, SC_EINVAL, "graph missing");
			rc = graph_to_proto(s, a->graphs[i], depth + 1,
					    &p->graphs[i]);
			if (rc)
				return rc;
		}
		return SC_OK;
	}
	return attr_fail(s, n, a, SC_EINTERNAL, "not a list type");
}

static int attr_to_proto(saver *s, const graph_node *n, const graph_attr *a,
			 int depth, Onnx__AttributeProto **out)
{
	Onnx__AttributeProto *p;
	if (!ARENA_NEW(s, p, onnx__attribute_proto__init))
		return oom(s, a->name);
	*out = p;
	p->name = borrow(a->name);
	p->doc_string = borrow_opt(a->doc_string);
	p->ref_attr_name = borrow_opt(a->ref_attr_name);
	p->has_type = 1;
	p->type = (Onnx__AttributeProto__AttributeType)a->type;
	/* A reference to the caller's attribute carries no value of its own. */
	if (a->ref_attr_name && *a->ref_attr_name)
		return SC_OK;
	switch (a->type) {
	case ATTR_FLOAT:
		p->has_f = 1;
		p->f = a->f;
		return SC_OK;
	case ATTR_INT:
		p->has_i = 1;
		p->i = a->i;
		return SC_OK;
	case ATTR_STRING:
		if (a->s.len && !a->s.data)
			return attr_fail(s, n, a, SC_EINVAL, "string missing");
		p->has_s = 1;
		p->s.len = a->s.len;
		p->s.data = a->s.len ? (uint8_t *)a->s.data : empty_bytes;
		return SC_OK;
	case ATTR_TENSOR:
		if (!a->t)
			return attr_fail(s, n, a, SC_EINVAL, "tensor missing");
		return tensor_to_arena(s, a->t, NULL, NULL, a->name, &p->t);
	case ATTR_GRAPH:
		if (!a->g)
			return attr_fail(s, n, a, SC_EINVAL, "graph missing");
		return graph_to_proto(s, a->g, depth + 1, &p->g);
	case ATTR_TYPE_PROTO:
		if (!a->tp)
			return attr_fail(s, n, a, SC_EINVAL, "type missing");
		return type_to_proto(s, a->tp, a->name, 0, &p->tp);
	case ATTR_FLOATS:
	case ATTR_INTS:
	case ATTR_STRINGS:
	case ATTR_TENSORS:
	case ATTR_GRAPHS:
	case ATTR_TYPE_PROTOS:
		return attr_list_to_proto(s, n, a, p, depth);
	case ATTR_SPARSE_TENSOR:
	case ATTR_SPARSE_TENSORS:
		return attr_fail(s, n, a, SC_EUNSUPPORTED,
				 "sparse tensor attributes cannot be saved");
	}
	char what[64];
	snprintf(what, sizeof what, "unknown attribute type %d", a->type);
	return attr_fail(s, n, a, SC_EINVAL, what);
}

/* Value names for a node's inputs or outputs; index -1 is ONNX's "". */
static int node_names(saver *s, const graph *g, const graph_node *n,
		      const int *idx, int count, size_t *n_out, char ***out)
{
	if (count < 0 || (count && !idx))
		return sc_fail(s->err, SC_EINVAL, "node '%s' (%s): bad value list",
			       n->name ? n->name : "", n->op_type);
	*n_out = (size_t)count;
	*out = arena_array(&s->mem, (size_t)count, sizeof **out);
	if (!*out)
		return oom(s, n->name ? n->name : "node");
	for (int i = 0; i < count; i++) {
		if (idx[i] < -1 || idx[i] >= g->n_values)
			return sc_fail(s->err, SC_EINVAL,
				       "node '%s' (%s): value index %d outside 0..%d",
				       n->name ? n->name : "", n->op_type, idx[i],
				       g->n_values - 1);
		(*out)[i] = idx[i] < 0 ? empty_string : borrow(g->values[idx[i]].name);
	}
	return SC_OK;
}

static int node_to_proto(saver *s, const graph *g, const graph_node *n,
			 int depth, Onnx__NodeProto **out)
{
	Onnx__NodeProto *p;
	if (!ARENA_NEW(s, p, onnx__node_proto__init))
		return oom(s, "node");
	*out = p;
	if (!n->op_type)
		return sc_fail(s->err, SC_EINVAL, "node '%s' has no op_type",
			       n->name ? n->name : "");
	p->name = borrow_opt(n->name);
	p->op_type = borrow(n->op_type);
	p->domain = borrow_opt(n->domain);
	p->doc_string = borrow_opt(n->doc_string);
	int rc = node_names(s, g, n, n->inputs, n->n_inputs, &p->n_input,
			    &p->input);
	if (!rc)
		rc = node_names(s, g, n, n->outputs, n->n_outputs, &p->n_output,
				&p->output);
	if (rc)
		return rc;
	if (n->n_attrs < 0 || (n->n_attrs && !n->attrs))
		return sc_fail(s->err, SC_EINVAL, "node '%s' (%s): bad attribute list",
			       n->name ? n->name : "", n->op_type);
	p->n_attribute = (size_t)n->n_attrs;
	p->attribute = arena_array(&s->mem, p->n_attribute, sizeof *p->attribute);
	if (!p->attribute)
		return oom(s, n->op_type);
	for (int i = 0; i < n->n_attrs; i++) {
		rc = attr_to_proto(s, n, &n->attrs[i], depth, &p->attribute[i]);
		if (rc)
			return rc;
	}
	return SC_OK;
}

/* --- graphs and the model ------------------------------------------------- */

static int inits_to_proto(saver *s, const graph *g, Onnx__GraphProto *p)
{
	p->n_initializer = (size_t)(g->n_inits > 0 ? g->n_inits : 0);
	p->initializer = arena_array(&s->mem, p->n_initializer,
				     sizeof *p->initializer);
	if (!p->initializer)
		return oom(s, "initializers");
	for (int i = 0; i < g->n_inits; i++) {
		const graph_init *in = &g->inits[i];
		if (in->value < 0 || in->value >= g->n_values)
			return sc_fail(s->err, SC_EINVAL,
				       "graph '%s': initializer %d refers to value %d of %d",
				       g->name ? g->name : "", i, in->value,
				       g->n_values);
		const char *name = g->values[in->value].name;
		int rc = tensor_to_arena(s, &in->tensor, name, in->doc_string,
					 name, &p->initializer[i]);
		if (rc)
			return rc;
	}
	return SC_OK;
}

static int graph_to_proto(saver *s, const graph *g, int depth,
			  Onnx__GraphProto **out)
{
	/* The loader bounds nesting; this only keeps a corrupt IR (a graph
	 * that contains itself) from overflowing the stack. */
	if (depth > 256)
		return sc_fail(s->err, SC_EINVAL, "graph '%s': subgraphs nested too deep",
			       g->name ? g->name : "");
	Onnx__GraphProto *p;
	if (!ARENA_NEW(s, p, onnx__graph_proto__init))
		return oom(s, "graph");
	*out = p;
	p->name = borrow(g->name);
	p->doc_string = borrow_opt(g->doc_string);
	int rc = value_list_to_proto(s, g, g->inputs, g->n_inputs, "input",
				     &p->n_input, &p->input);
	if (!rc)
		rc = value_list_to_proto(s, g, g->outputs, g->n_outputs, "output",
					 &p->n_output, &p->output);
	if (!rc)
		rc = value_list_to_proto(s, g, g->value_infos, g->n_value_infos,
					 "value_info", &p->n_value_info,
					 &p->value_info);
	if (!rc)
		rc = inits_to_proto(s, g, p);
	if (rc)
		return rc;
	p->n_node = (size_t)(g->n_nodes > 0 ? g->n_nodes : 0);
	p->node = arena_array(&s->mem, p->n_node, sizeof *p->node);
	if (!p->node)
		return oom(s, "nodes");
	for (int i = 0; i < g->n_nodes; i++) {
		rc = node_to_proto(s, g, &g->nodes[i], depth, &p->node[i]);
		if (rc)
			return rc;
	}
	return SC_OK;
}

static int model_to_proto(saver *s, const graph_model *m, Onnx__ModelProto *p)
{
	onnx__model_proto__init(p);
	p->has_ir_version = 1;
	p->ir_version = m->ir_version;
	p->producer_name = borrow_opt(m->producer_name);
	p->producer_version = borrow_opt(m->producer_version);
	p->domain = borrow_opt(m->domain);
	p->has_model_version = m->model_version != 0;
	p->model_version = m->model_version;
	p->doc_string = borrow_opt(m->doc_string);

	p->n_opset_import = (size_t)(m->n_opsets > 0 ? m->n_opsets : 0);
	p->opset_import = arena_array(&s->mem, p->n_opset_import,
				      sizeof *p->opset_import);
	if (!p->opset_import)
		return oom(s, "opset imports");
	for (int i = 0; i < m->n_opsets; i++) {
		Onnx__OperatorSetIdProto *op;
		if (!ARENA_NEW(s, op, onnx__operator_set_id_proto__init))
			return oom(s, "opset import");
		/* The default domain is spelt out as "" the way exporters do. */
		op->domain = m->opsets[i].domain ? borrow(m->opsets[i].domain) :
			     empty_string;
		op->has_version = 1;
		op->version = m->opsets[i].version;
		p->opset_import[i] = op;
	}

	p->n_metadata_props = (size_t)(m->n_metadata > 0 ? m->n_metadata : 0);
	p->metadata_props = arena_array(&s->mem, p->n_metadata_props,
					sizeof *p->metadata_props);
	if (!p->metadata_props)
		return oom(s, "metadata");
	for (int i = 0; i < m->n_metadata; i++) {
		Onnx__StringStringEntryProto *kv;
		if (!ARENA_NEW(s, kv, onnx__string_string_entry_proto__init))
			return oom(s, "metadata");
		kv->key = m->metadata[i].key ? borrow(m->metadata[i].key) :
			  empty_string;
		kv->value = m->metadata[i].value ? borrow(m->metadata[i].value) :
			    empty_string;
		p->metadata_props[i] = kv;
	}

	if (!m->graph)
		return sc_fail(s->err, SC_EINVAL, "model has no graph");
	int rc = graph_to_proto(s, m->graph, 0, &p->graph);
	if (!rc)
		rc = onnx_supcon_attach(p, saver_alloc, s, s->err);
	return rc;
}

/* Builds the proto tree of m into s->mem and checks it fits protobuf. */
static int model_build(saver *s, const graph_model *m, Onnx__ModelProto *p,
		       size_t *packed)
{
	int rc = model_to_proto(s, m, p);
	if (rc)
		return rc;
	*packed = onnx__model_proto__get_packed_size(p);
	if (*packed > PROTO_MAX_BYTES)
		return sc_fail(s->err, SC_EUNSUPPORTED,
			       "model serialises to %zu bytes, over protobuf's 2 GiB limit",
			       *packed);
	return SC_OK;
}

/* --- output --------------------------------------------------------------- */

typedef struct file_sink {
	ProtobufCBuffer base;
	FILE *f;
	int error;     /* errno of the first failed write, 0 while all is well */
} file_sink;

static void file_sink_append(ProtobufCBuffer *buf, size_t len,
			     const uint8_t *data)
{
	file_sink *sink = (file_sink *)buf;
	if (sink->error || len == 0)
		return;
	if (fwrite(data, 1, len, sink->f) != len)
		sink->error = errno ? errno : EIO;
}

/* Streams msg into path through a temporary file and a rename, so readers
 * see either the old file or the complete new one. */
static int message_save_file(const ProtobufCMessage *msg, const char *path,
			     sc_error *err)
{
	sc_atomic_file a;
	int rc = sc_atomic_open(&a, path, err);
	if (rc)
		return rc;
	/* Large writes bypass stdio's buffer; this one gathers the many small
	 * tag and length writes of the packer into few system calls. */
	setvbuf(a.f, NULL, _IOFBF, (size_t)1 << 18);
	file_sink sink = {.base = {.append = file_sink_append}, .f = a.f};
	errno = 0;
	protobuf_c_message_pack_to_buffer(msg, &sink.base);
	a.error = sink.error;
	return sc_atomic_commit(&a, err);
}

int onnx_save_memory(const graph_model *m, void **buf, size_t *len,
		     sc_error *err)
{
	*buf = NULL;
	*len = 0;
	saver s = {.err = err};
	Onnx__ModelProto p;
	size_t packed;
	int rc = model_build(&s, m, &p, &packed);
	if (!rc) {
		uint8_t *out = malloc(packed ? packed : 1);
		if (!out) {
			rc = sc_fail(err, SC_ENOMEM,
				     "out of memory serialising a %zu-byte model",
				     packed);
		} else if (onnx__model_proto__pack(&p, out) != packed) {
			free(out);
			rc = sc_fail(err, SC_EINTERNAL,
				     "protobuf-c packed a size other than it measured");
		} else {
			*buf = out;
			*len = packed;
		}
	}
	arena_free(&s.mem);
	return rc;
}

int onnx_save_file(const graph_model *m, const char *path, sc_error *err)
{
	saver s = {.err = err};
	Onnx__ModelProto p;
	size_t packed;
	int rc = model_build(&s, m, &p, &packed);
	if (rc)
		sc_error_prefix(err, "%s: ", path);
	else
		rc = message_save_file(&p.base, path, err);
	arena_free(&s.mem);
	return rc;
}

int onnx_tensor_save_file(const sc_tensor *t, const char *name,
			  const char *path, sc_error *err)
{
	Onnx__TensorProto p;
	int rc = onnx_tensor_to_proto(t, name, &p, err);
	if (rc) {
		sc_error_prefix(err, "%s: ", path);
		return rc;
	}
	if (onnx__tensor_proto__get_packed_size(&p) > PROTO_MAX_BYTES)
		rc = sc_fail(err, SC_EUNSUPPORTED,
			     "%s: tensor serialises to more than protobuf's 2 GiB limit",
			     path);
	else
		rc = message_save_file(&p.base, path, err);
	onnx_tensor_proto_clear(&p);
	return rc;
}

int onnx_clone_model(const graph_model *m, graph_model **out, sc_error *err)
{
	void *buf;
	size_t len;
	int rc = onnx_save_memory(m, &buf, &len, err);
	if (rc)
		return rc;
	rc = onnx_load_memory(buf, len, NULL, "model copy", out, err);
	free(buf);
	return rc;
}
