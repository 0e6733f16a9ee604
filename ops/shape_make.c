/* shape_make.c: kernels that make a tensor from a shape, an attribute or a
 * few scalars.
 *
 * Shape            int64 dims of the input, dims[start:end] from opset 15
 *                  (negative bounds count from the end, then clamp).
 * Size             int64 scalar element count.
 * Constant         the `value` tensor, or from opset 12 a float, int or
 *                  string scalar or list attribute; sparse_value is not
 *                  supported.
 * ConstantOfShape  the one-element `value` (float 0 by default) repeated
 *                  over the shape given by an int64 input.
 * EyeLike          a 2-D tensor of input 0's shape with ones on diagonal k,
 *                  in `dtype` or input 0's dtype.
 * Range            start, start + delta, ... short of limit, computed as
 *                  start + i * delta; the count is prepared from the values
 *                  (shape_ops.c marks all three inputs in value_inputs). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "infer_util.h"
#include "shape_kernel.h"

/* --- Shape and Size -------------------------------------------------------- */

static void shape_bounds(const op_kernel *k, int rank, int64_t *start,
			 int64_t *end)
{
	int64_t s = 0, e = rank;
	if (k->opset >= 15) {
		s = infer_attr_int(k->node, "start", 0);
		e = infer_attr_int(k->node, "end", rank);
	}
	if (s < 0)
		s += rank;
	if (e < 0)
		e += rank;
	s = s < 0 ? 0 : s > rank ? rank : s;
	e = e < 0 ? 0 : e > rank ? rank : e;
	*start = s;
	*end = e > s ? e : s;
}

int shape_of_prepare(op_kernel *k, sc_error *err)
{
	if (k->n_in < 1 || !k->in[0])
		return op_fail(k, err, SC_EINVAL, "input 0 is missing");
	int64_t s, e;
	shape_bounds(k, k->in[0]->rank, &s, &e);
	int64_t len = e - s;
	return shape_set_out(k, 0, SC_INT64, 1, &len, err);
}

int shape_of_run(op_kernel *k, sc_error *err)
{
	(void)err;
	int64_t s, e;
	shape_bounds(k, k->in[0]->rank, &s, &e);
	if (e > s)
		memcpy(k->out[0]->data, &k->in[0]->dims[s], (size_t)(e - s) * 8);
	return SC_OK;
}

int shape_size_prepare(op_kernel *k, sc_error *err)
{
	if (k->n_in < 1 || !k->in[0])
		return op_fail(k, err, SC_EINVAL, "input 0 is missing");
	return shape_set_out(k, 0, SC_INT64, 0, NULL, err);
}

int shape_size_run(op_kernel *k, sc_error *err)
{
	(void)err;
	memcpy(k->out[0]->data, &k->in[0]->numel, 8);
	return SC_OK;
}

/* --- Constant ----------------------------------------------------------- */

/* What a Constant node produces: dtype, shape, and where its bytes are. */
typedef struct constant_src {
	int dtype, rank;
	int64_t dim;          /* the length of a list attribute */
	const int64_t *dims;  /* or the value tensor's dims */
	const void *data;
	float f;              /* value_float and value_int live here */
	int64_t i;
} constant_src;

static int constant_find(const op_kernel *k, constant_src *c, sc_error *err)
{
	const graph_node *n = k->node;
	memset(c, 0, sizeof *c);
	if (n->n_attrs != 1)
		return op_fail(k, err, SC_EINVAL,
				  "needs exactly one value attribute, has %d", n->n_attrs);
	const graph_attr *a = &n->attrs[0];
	if (a->ref_attr_name)
		return op_fail(k, err, SC_EINVAL, "attribute '%s' refers to '%s' outside a function",
				  a->name, a->ref_attr_name);
	switch (a->type) {
	case ATTR_TENSOR:
		if (strcmp(a->name, "value") != 0 || !a->t)
			break;
		c->dtype = a->t->dtype;
		c->rank = a->t->rank;
		c->dims = a->t->dims;
		c->data = a->t->data;
		return SC_OK;
	case ATTR_SPARSE_TENSOR:
		return op_fail(k, err, SC_EUNSUPPORTED, "sparse_value is not supported");
	case ATTR_FLOAT:
		c->dtype = SC_FLOAT;
		c->f = a->f;
		c->data = &c->f;
		return SC_OK;
	case ATTR_INT:
		c->dtype = SC_INT64;
		c->i = a->i;
		c->data = &c->i;
		return SC_OK;
	case ATTR_STRING:
		c->dtype = SC_STRING;
		c->data = &a->s;
		return SC_OK;
	case ATTR_FLOATS:
	case ATTR_INTS:
	case ATTR_STRINGS:
		c->dtype = a->type == ATTR_FLOATS ? SC_FLOAT :
			   a->type == ATTR_INTS ? SC_INT64 : SC_STRING;
		c->rank = 1;
		c->dim = a->n;
		c->dims = &c->dim;
		c->data = a->type == ATTR_FLOATS ? (const void *)a->floats :
			  a->type == ATTR_INTS ? (const void *)a->ints :
			  (const void *)a->strings;
		return SC_OK;
	default:
		break;
	}
	return op_fail(k, err, SC_EINVAL, "attribute '%s' cannot be a Constant's value",
			  a->name);
}

int shape_constant_prepare(op_kernel *k, sc_error *err)
{
	constant_src c;
	int rc = constant_find(k, &c, err);
	if (rc)
		return rc;
	return shape_set_out(k, 0, c.dtype, c.rank, c.dims, err);
}

int shape_constant_run(op_kernel *k, sc_error *err)
{
	constant_src c;
	int rc = constant_find(k, &c, err);
	if (rc)
		return rc;
	if (k->out[0]->nbytes)
		memcpy(k->out[0]->data, c.data, k->out[0]->nbytes);
	return SC_OK;
}

/* --- ConstantOfShape ---------------------------------------------------- */

static int constant_of_shape_value(const op_kernel *k, const sc_tensor **v,
				   sc_error *err)
{
	const graph_attr *a = graph_node_attr(k->node, "value");
	*v = a && a->type == ATTR_TENSOR ? a->t : NULL;
	if (*v && ((*v)->numel != 1 || !(*v)->data))
		return op_fail(k, err, SC_EINVAL, "value must hold one element, has %lld",
				  (long long)(*v)->numel);
	return SC_OK;
}

int shape_constant_of_shape_prepare(op_kernel *k, sc_error *err)
{
	const sc_tensor *v;
	int rc = constant_of_shape_value(k, &v, err);
	if (rc)
		return rc;
	if (k->n_in < 1 || !k->in[0])
		return op_fail(k, err, SC_EINVAL, "input 0 (shape) is missing");
	if (k->in[0]->dtype != SC_INT64)
		return op_fail(k, err, SC_EINVAL, "shape must be int64, not %s",
				  tensor_dtype_name(k->in[0]->dtype));
	int64_t dims[SC_MAX_RANK];
	int nd;
	if ((rc = shape_read_ints(k, k->in[0], "shape", dims, SC_MAX_RANK, &nd, err)))
		return rc;
	for (int i = 0; i < nd; i++)
		if (dims[i] < 0)
			return op_fail(k, err, SC_EINVAL, "shape[%d] = %lld is negative",
					  i, (long long)dims[i]);
	return shape_set_out(k, 0, v ? (int)v->dtype : SC_FLOAT, nd, dims, err);
}

int shape_constant_of_shape_run(op_kernel *k, sc_error *err)
{
	const sc_tensor *v;
	int rc = constant_of_shape_value(k, &v, err);
	if (rc)
		return rc;
	float zero = 0;
	shape_fill(k->out[0]->data, k->out[0]->numel, v ? v->data : &zero,
		   tensor_dtype_size(k->out[0]->dtype));
	return SC_OK;
}

/* --- EyeLike ------------------------------------------------------------- */

int shape_eyelike_prepare(op_kernel *k, sc_error *err)
{
	if (k->n_in < 1 || !k->in[0])
		return op_fail(k, err, SC_EINVAL, "input 0 is missing");
	const sc_tensor *x = k->in[0];
	if (x->rank != 2)
		return op_fail(k, err, SC_EINVAL, "input must be 2-D, has rank %d", x->rank);
	int dtype = x->dtype;
	const graph_attr *dt = graph_node_attr(k->node, "dtype");
	if (dt && dt->type == ATTR_INT) {
		if (dt->i < 0 || dt->i > INT32_MAX || !tensor_dtype_valid((int)dt->i))
			return op_fail(k, err, SC_EINVAL, "dtype %lld is not a data type",
					  (long long)dt->i);
		dtype = (int)dt->i;
	}
	unsigned char one[16];
	if (shape_put_double(one, dtype, 1.0))
		return op_fail(k, err, SC_EUNSUPPORTED, "an identity of %s",
				  tensor_dtype_name(dtype));
	return shape_set_out(k, 0, dtype, 2, x->dims, err);
}

int shape_eyelike_run(op_kernel *k, sc_error *err)
{
	(void)err;
	sc_tensor *y = k->out[0];
	size_t e = tensor_dtype_size(y->dtype);
	unsigned char one[16];
	shape_put_double(one, y->dtype, 1.0);
	if (y->nbytes)
		memset(y->data, 0, y->nbytes);
	int64_t rows = y->dims[0], cols = y->dims[1];
	int64_t diag = infer_attr_int(k->node, "k", 0);
	for (int64_t i = 0; i < rows; i++) {
		/* j = i + diag, compared without forming it when diag is huge */
		if (diag >= cols || diag <= -rows)
			break;
		if (i + diag < 0 || i + diag >= cols)
			continue;
		memcpy((char *)y->data + (size_t)(i * cols + i + diag) * e, one, e);
	}
	return SC_OK;
}

/* --- Range ----------------------------------------------------------------- */

int shape_range_prepare(op_kernel *k, sc_error *err)
{
	if (k->n_in < 3 || !k->in[0] || !k->in[1] || !k->in[2])
		return op_fail(k, err, SC_EINVAL, "needs start, limit and delta");
	int dtype = k->in[0]->dtype;
	for (int i = 0; i < 3; i++) {
		if ((int)k->in[i]->dtype != dtype || k->in[i]->numel != 1)
			return op_fail(k, err, SC_EINVAL,
					  "start, limit and delta must be scalars of one dtype");
	}
	if (dtype != SC_FLOAT && dtype != SC_DOUBLE && dtype != SC_INT16 &&
	    dtype != SC_INT32 && dtype != SC_INT64)
		return op_fail(k, err, SC_EINVAL, "Range does not take %s",
				  tensor_dtype_name(dtype));
	int64_t count;
	if (dtype == SC_FLOAT || dtype == SC_DOUBLE) {
		double s = shape_get_double(k->in[0], 0), l = shape_get_double(k->in[1], 0);
		double d = shape_get_double(k->in[2], 0);
		if (d == 0 || !isfinite(s) || !isfinite(l) || !isfinite(d))
			return op_fail(k, err, SC_EINVAL,
					  "start, limit and delta must be finite and delta non-zero");
		double c = ceil((l - s) / d);
		if (c > (double)SC_MAX_NUMEL)
			return op_fail(k, err, SC_EINVAL, "range has too many elements");
		count = c > 0 ? (int64_t)c : 0;
	} else {
		int64_t s = shape_get_int64(k->in[0], 0), l = shape_get_int64(k->in[1], 0);
		int64_t d = shape_get_int64(k->in[2], 0);
		const int64_t lim = (int64_t)1 << 61;
		if (d == 0)
			return op_fail(k, err, SC_EINVAL, "delta is 0");
		if (s < -lim || s > lim || l < -lim || l > lim)
			return op_fail(k, err, SC_EINVAL, "range has too many elements");
		int64_t span = l - s, q = span / d;
		if (q * d != span && (span > 0) == (d > 0))
			q++;
		if (q > SC_MAX_NUMEL)
			return op_fail(k, err, SC_EINVAL, "range has too many elements");
		count = q > 0 ? q : 0;
	}
	return shape_set_out(k, 0, dtype, 1, &count, err);
}

int shape_range_run(op_kernel *k, sc_error *err)
{
	(void)err;
	sc_tensor *y = k->out[0];
	size_t e = tensor_dtype_size(y->dtype);
	char *dst = y->data;
	if (y->dtype == SC_FLOAT || y->dtype == SC_DOUBLE) {
		double s = shape_get_double(k->in[0], 0), d = shape_get_double(k->in[2], 0);
		for (int64_t i = 0; i < y->numel; i++)
			shape_put_double(dst + (size_t)i * e, y->dtype, s + (double)i * d);
		return SC_OK;
	}
	int64_t s = shape_get_int64(k->in[0], 0), d = shape_get_int64(k->in[2], 0);
	for (int64_t i = 0; i < y->numel; i++) {
		int64_t v = s + i * d;
		if (y->dtype == SC_INT64) {
			memcpy(dst + (size_t)i * 8, &v, 8);
		} else if (y->dtype == SC_INT32) {
			int32_t w = (int32_t)v;
			memcpy(dst + (size_t)i * 4, &w, 4);
		} else {
			int16_t w = (int16_t)v;
			memcpy(dst + (size_t)i * 2, &w, 2);
		}
	}
	return SC_OK;
}
