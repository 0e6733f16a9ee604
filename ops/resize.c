/* resize.c: spatial resampling.
 *
 * Resize: X interpolated (nearest, linear, cubic) to a new size along every
 * axis: out_i = floor(in_i * scales[i]), or sizes[i] when sizes is given.
 *   opset 10: inputs X, scales; attribute mode.
 *   opsets 11-17: inputs X, roi, scales, sizes (one of scales/sizes), and
 *   coordinate_transformation_mode, cubic_coeff_a, exclude_outside,
 *   extrapolation_value, nearest_mode; tf_crop_and_resize scales the roi
 *   instead, which inference leaves unknown.
 * Upsample (7-9): Resize's predecessor; scales is an attribute in 7-8 and
 *   an input in 9.
 *
 * Shape inference only for now; kernels and gradients come with the engine. */
#include <math.h>

#include "infer_util.h"

static const op_attr_spec resize10_attrs[] = {
	{"mode", ATTR_STRING},
	{NULL, 0},
};

static const op_attr_spec resize11_attrs[] = {
	{"coordinate_transformation_mode", ATTR_STRING},
	{"cubic_coeff_a", ATTR_FLOAT},
	{"exclude_outside", ATTR_INT},
	{"extrapolation_value", ATTR_FLOAT},
	{"mode", ATTR_STRING},
	{"nearest_mode", ATTR_STRING},
	{NULL, 0},
};

static const op_attr_spec upsample7_attrs[] = {
	{"mode", ATTR_STRING},
	{"scales", ATTR_FLOATS},
	{NULL, 0},
};

/* Writes floor(in * scale) per axis, computed in float as ONNX does. */
static int scaled_shape(const graph *g, const graph_node *n,
			const infer_tensor *x, const double *scales, int ns,
			infer_tensor *y, sc_error *err)
{
	if (ns != x->rank)
		return infer_fail(g, n, err, "scales has %d values for rank %d",
				  ns, x->rank);
	for (int i = 0; i < ns; i++) {
		if (!(scales[i] > 0) || scales[i] > 1e6)
			return infer_fail(g, n, err, "scales[%d] = %g is out of range",
					  i, scales[i]);
		if (scales[i] == 1)
			continue;
		int64_t d = x->dims[i].value;
		y->dims[i] = d >= 0 && d <= ((int64_t)1 << 40) ?
			     infer_dim_of((int64_t)floorf((float)d * (float)scales[i])) :
			     infer_dim_unknown();
	}
	return SC_OK;
}

static int resize_infer(graph *g, const graph_node *n, int64_t opset,
			sc_error *err)
{
	infer_tensor x, y;
	infer_input(g, n, 0, &x);
	y = x;
	if (x.rank < 0)
		return infer_set_output(g, n, 0, &y, err);
	int scales_at = opset >= 11 ? 2 : 1;
	int64_t sizes[SC_MAX_RANK];
	double scales[SC_MAX_RANK];
	int nz = opset >= 11 ? infer_const_ints(g, n, 3, sizes, SC_MAX_RANK) : -1;
	int ns = infer_const_floats(g, n, scales_at, scales, SC_MAX_RANK);
	if (infer_attr_is(n, "coordinate_transformation_mode", "half_pixel",
			  "tf_crop_and_resize") && nz < 0)
		ns = -1;
	if (nz > 0) {
		if (nz != x.rank)
			return infer_fail(g, n, err, "sizes has %d values for rank %d",
					  nz, x.rank);
		for (int i = 0; i < nz; i++) {
			if (sizes[i] < 0)
				return infer_fail(g, n, err, "sizes[%d] = %lld is negative",
						  i, (long long)sizes[i]);
			y.dims[i] = infer_dim_of(sizes[i]);
		}
	} else if (ns > 0) {
		int rc = scaled_shape(g, n, &x, scales, ns, &y, err);
		if (rc)
			return rc;
	} else {
		infer_tensor_rank(&y, x.elem, x.rank);
	}
	return infer_set_output(g, n, 0, &y, err);
}

static int upsample_infer(graph *g, const graph_node *n, int64_t opset,
			  sc_error *err)
{
	infer_tensor x, y;
	infer_input(g, n, 0, &x);
	y = x;
	if (x.rank < 0)
		return infer_set_output(g, n, 0, &y, err);
	double scales[SC_MAX_RANK];
	int ns;
	if (opset < 9) {
		const graph_attr *a = graph_node_attr(n, "scales");
		if (!a || a->type != ATTR_FLOATS)
			return infer_fail(g, n, err, "attribute 'scales' is required");
		ns = a->n <= SC_MAX_RANK ? a->n : SC_MAX_RANK + 1;
		for (int i = 0; i < ns && i < SC_MAX_RANK; i++)
			scales[i] = a->floats[i];
	} else {
		ns = infer_const_floats(g, n, 1, scales, SC_MAX_RANK);
	}
	if (ns < 0) {
		infer_tensor_rank(&y, x.elem, x.rank);
		return infer_set_output(g, n, 0, &y, err);
	}
	int rc = scaled_shape(g, n, &x, scales, ns, &y, err);
	return rc ? rc : infer_set_output(g, n, 0, &y, err);
}

const op_def op_resize_defs[] = {
	{.domain = "", .name = "Resize", .since = 10, .until = 10,
	 .attrs = resize10_attrs, .infer = resize_infer,
	 .value_inputs = 1u << 1},
	{.domain = "", .name = "Resize", .since = 11, .until = 17,
	 .attrs = resize11_attrs, .infer = resize_infer,
	 .value_inputs = 0xeu},
	{.domain = "", .name = "Upsample", .since = 7, .until = 8,
	 .attrs = upsample7_attrs, .infer = upsample_infer},
	{.domain = "", .name = "Upsample", .since = 9, .until = 9,
	 .attrs = resize10_attrs, .infer = upsample_infer,
	 .value_inputs = 1u << 1},
	{0},
};
