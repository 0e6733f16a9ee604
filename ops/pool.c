/* pool.c: pooling over the spatial axes of X [N, C, D1..Dn].
 *
 * MaxPool: the maximum over each window.  Output sizes follow Conv's rule,
 *   floor((Di + pads - ((k-1)*dilation+1)) / stride) + 1, or with ceil_mode
 *   the ceiling, dropping a last window that would start in the end padding.
 *   opsets 1-7: auto_pad, kernel_shape, pads, strides.
 *   opsets 8-9: storage_order and the optional int64 Indices output.
 *   opsets 10-17: ceil_mode and dilations (11 clarified pads, 12 added
 *   int8/uint8 types).
 * AveragePool: the mean over each window.
 *   opsets 1-6: auto_pad, kernel_shape, pads, strides.
 *   opsets 7-9: count_include_pad.  opsets 10-17: ceil_mode.
 * LpPool (11-17): the p-norm over each window.
 * GlobalAveragePool, GlobalMaxPool (1-17), GlobalLpPool (2-17): one window
 *   covering all spatial axes; Y is [N, C, 1, ..., 1].
 *
 * Shape inference only for now; kernels and gradients come with the engine. */
#include <string.h>

#include "infer_util.h"

static const op_attr_spec maxpool1_attrs[] = {
	{"auto_pad", ATTR_STRING},
	{"kernel_shape", ATTR_INTS},
	{"pads", ATTR_INTS},
	{"strides", ATTR_INTS},
	{NULL, 0},
};

static const op_attr_spec maxpool8_attrs[] = {
	{"auto_pad", ATTR_STRING},
	{"kernel_shape", ATTR_INTS},
	{"pads", ATTR_INTS},
	{"storage_order", ATTR_INT},
	{"strides", ATTR_INTS},
	{NULL, 0},
};

static const op_attr_spec maxpool10_attrs[] = {
	{"auto_pad", ATTR_STRING},
	{"ceil_mode", ATTR_INT},
	{"dilations", ATTR_INTS},
	{"kernel_shape", ATTR_INTS},
	{"pads", ATTR_INTS},
	{"storage_order", ATTR_INT},
	{"strides", ATTR_INTS},
	{NULL, 0},
};

static const op_attr_spec avgpool7_attrs[] = {
	{"auto_pad", ATTR_STRING},
	{"count_include_pad", ATTR_INT},
	{"kernel_shape", ATTR_INTS},
	{"pads", ATTR_INTS},
	{"strides", ATTR_INTS},
	{NULL, 0},
};

static const op_attr_spec avgpool10_attrs[] = {
	{"auto_pad", ATTR_STRING},
	{"ceil_mode", ATTR_INT},
	{"count_include_pad", ATTR_INT},
	{"kernel_shape", ATTR_INTS},
	{"pads", ATTR_INTS},
	{"strides", ATTR_INTS},
	{NULL, 0},
};

static const op_attr_spec lppool_attrs[] = {
	{"auto_pad", ATTR_STRING},
	{"kernel_shape", ATTR_INTS},
	{"p", ATTR_INT},
	{"pads", ATTR_INTS},
	{"strides", ATTR_INTS},
	{NULL, 0},
};

static const op_attr_spec global_lppool_attrs[] = {
	{"p", ATTR_INT},
	{NULL, 0},
};

static int pool_infer(graph *g, const graph_node *n, int64_t opset,
		      sc_error *err)
{
	infer_tensor x, y;
	infer_input(g, n, 0, &x);
	int ceil_mode = opset >= 10 ? (int)infer_attr_int(n, "ceil_mode", 0) : 0;
	int has_indices = strcmp(n->op_type, "MaxPool") == 0 && opset >= 8;
	if (x.rank < 0) {
		infer_tensor_unknown(&y, x.elem);
	} else {
		y = x;
		int rc = infer_window_shape(g, n, &x, NULL, ceil_mode, &y, err);
		if (rc)
			return rc;
	}
	int rc = infer_set_output(g, n, 0, &y, err);
	if (rc || !has_indices)
		return rc;
	y.elem = SC_INT64;
	return infer_set_output(g, n, 1, &y, err);
}

static int global_pool_infer(graph *g, const graph_node *n, int64_t opset,
			     sc_error *err)
{
	(void)opset;
	infer_tensor x;
	infer_input(g, n, 0, &x);
	if (x.rank >= 0 && x.rank < 2)
		return infer_fail(g, n, err, "input has rank %d, expected at least 2 (N, C, ...)",
				  x.rank);
	for (int k = 2; k < x.rank; k++)
		x.dims[k] = infer_dim_of(1);
	return infer_set_output(g, n, 0, &x, err);
}

const op_def op_pool_defs[] = {
	{.domain = "", .name = "MaxPool", .since = 1, .until = 7,
	 .attrs = maxpool1_attrs, .infer = pool_infer},
	{.domain = "", .name = "MaxPool", .since = 8, .until = 9,
	 .attrs = maxpool8_attrs, .infer = pool_infer},
	{.domain = "", .name = "MaxPool", .since = 10, .until = 17,
	 .attrs = maxpool10_attrs, .infer = pool_infer},
	{.domain = "", .name = "AveragePool", .since = 1, .until = 6,
	 .attrs = maxpool1_attrs, .infer = pool_infer},
	{.domain = "", .name = "AveragePool", .since = 7, .until = 9,
	 .attrs = avgpool7_attrs, .infer = pool_infer},
	{.domain = "", .name = "AveragePool", .since = 10, .until = 17,
	 .attrs = avgpool10_attrs, .infer = pool_infer},
	{.domain = "", .name = "LpPool", .since = 11, .until = 17,
	 .attrs = lppool_attrs, .infer = pool_infer},
	{.domain = "", .name = "GlobalAveragePool", .since = 1, .until = 17,
	 .attrs = NULL, .infer = global_pool_infer},
	{.domain = "", .name = "GlobalMaxPool", .since = 1, .until = 17,
	 .attrs = NULL, .infer = global_pool_infer},
	{.domain = "", .name = "GlobalLpPool", .since = 2, .until = 17,
	 .attrs = global_lppool_attrs, .infer = global_pool_infer},
	{0},
};
