/* autodiff_ops.c: helper ops that gradient graphs use, domain ai.supcon.
 *
 *   OnesLike(x) -> ones of x's shape and dtype.  The seed of the backward
 *     pass; with attribute scalar=1 (what autodiff emits) it refuses an x
 *     that is not a one-element tensor, because only a scalar loss has a
 *     gradient.
 *   SumToShape(dy, x) -> dy summed down to x's shape: the gradient of a
 *     numpy broadcast from x's shape to dy's.  Leading axes that x lacks
 *     and axes where x has size 1 are summed.
 *
 * Opset 1 of ai.supcon; float types only (gradients are never integer). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "infer_util.h"
#include "registry.h"

/* --- OnesLike ------------------------------------------------------------- */

static const op_attr_spec ones_attrs[] = {{"scalar", ATTR_INT}, {NULL, 0}};

static int ones_prepare(op_kernel *k, sc_error *err)
{
	const sc_tensor *x = k->in[0];
	if (!tensor_dtype_is_float(x->dtype))
		return op_fail(k, err, SC_EINVAL, "input is %s, expected a float type",
			       tensor_dtype_name(x->dtype));
	const graph_attr *a = graph_node_attr(k->node, "scalar");
	if (a && a->i && x->numel != 1)
		return op_fail(k, err, SC_EINVAL,
			       "'%s' is not a scalar (%lld elements): only a scalar has a gradient",
			       k->g->values[k->node->inputs[0]].name,
			       (long long)x->numel);
	return tensor_set_shape(k->out[0], x->dtype, x->rank, x->dims, "ones", err);
}

static int ones_run(op_kernel *k, sc_error *err)
{
	(void)err;
	sc_tensor *y = k->out[0];
	for (int64_t i = 0; i < y->numel; i++) {
		switch (y->dtype) {
		case SC_DOUBLE: ((double *)y->data)[i] = 1.0; break;
		case SC_FLOAT: ((float *)y->data)[i] = 1.0f; break;
		case SC_FLOAT16: ((uint16_t *)y->data)[i] = 0x3c00; break;
		default: ((uint16_t *)y->data)[i] = 0x3f80; break;   /* bfloat16 */
		}
	}
	return SC_OK;
}

/* --- SumToShape ------------------------------------------------------------ */

typedef struct sum_state {
	int rank;                     /* of dy */
	int64_t dims[SC_MAX_RANK];    /* dy's dims */
	int64_t out_stride[SC_MAX_RANK];  /* 0 on summed axes */
} sum_state;

static int sum_prepare(op_kernel *k, sc_error *err)
{
	const sc_tensor *dy = k->in[0], *x = k->in[1];
	if (!tensor_dtype_is_float(dy->dtype) || (dy->dtype != SC_FLOAT && dy->dtype != SC_DOUBLE))
		return op_fail(k, err, SC_EUNSUPPORTED, "gradient of type %s",
			       tensor_dtype_name(dy->dtype));
	if (x->rank > dy->rank)
		return op_fail(k, err, SC_EINVAL, "cannot sum rank %d down to rank %d",
			       dy->rank, x->rank);
	sum_state *s = calloc(1, sizeof *s);
	if (!s)
		return op_fail(k, err, SC_ENOMEM, "out of memory");
	k->state = s;
	s->rank = dy->rank;
	int off = dy->rank - x->rank;
	int64_t stride = 1;
	for (int i = dy->rank - 1; i >= 0; i--) {
		s->dims[i] = dy->dims[i];
		int64_t xd = i >= off ? x->dims[i - off] : 1;
		if (xd != dy->dims[i] && xd != 1)
			return op_fail(k, err, SC_EINVAL,
				       "dim %d: %lld does not broadcast to %lld", i,
				       (long long)xd, (long long)dy->dims[i]);
		s->out_stride[i] = xd == 1 ? 0 : stride;
		stride *= xd;
	}
	return tensor_set_shape(k->out[0], dy->dtype, x->rank, x->dims, "sum", err);
}

#define SUM_LOOP(T)                                                          \
	do {                                                                 \
		const T *src = dy->data;                                     \
		T *dst = y->data;                                            \
		memset(dst, 0, y->nbytes);                                   \
		int64_t idx[SC_MAX_RANK] = {0}, o = 0;                       \
		for (int64_t i = 0; i < dy->numel; i++) {                    \
			dst[o] += src[i];                                    \
			for (int d = s->rank - 1; d >= 0; d--) {             \
				o += s->out_stride[d];                       \
				if (++idx[d] < s->dims[d])                   \
					break;                               \
				o -= s->out_stride[d] * s->dims[d];          \
				idx[d] = 0;                                  \
			}                                                    \
		}                                                            \
	} while (0)

static int sum_run(op_kernel *k, sc_error *err)
{
	(void)err;
	const sc_tensor *dy = k->in[0];
	sc_tensor *y = k->out[0];
	const sum_state *s = k->state;
	if (y->numel == dy->numel) {
		memcpy(y->data, dy->data, y->nbytes);
		return SC_OK;
	}
	if (dy->dtype == SC_DOUBLE)
		SUM_LOOP(double);
	else
		SUM_LOOP(float);
	return SC_OK;
}

static int sum_infer(graph *g, const graph_node *n, int64_t opset,
		     sc_error *err)
{
	(void)opset;
	infer_tensor dy, x;
	infer_input(g, n, 0, &dy);
	infer_input(g, n, 1, &x);
	x.elem = dy.elem;
	return infer_set_output(g, n, 0, &x, err);
}

const op_def op_autodiff_defs[] = {
	{.domain = "ai.supcon", .name = "OnesLike", .since = 1, .until = 1,
	 .attrs = ones_attrs, .infer = infer_same_as_input,
	 .prepare = ones_prepare, .run = ones_run},
	{.domain = "ai.supcon", .name = "SumToShape", .since = 1, .until = 1,
	 .infer = sum_infer, .prepare = sum_prepare, .run = sum_run,
	 /* x gives only its dims; when dy has them too the copy is flat */
	 .layout_caps = LAYOUT_SAME, .layout_inputs = 1u << 1},
	{0},
};
