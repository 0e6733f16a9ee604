/* gemm.c: matrix products.
 *
 * Gemm (opsets 7-17): Y = alpha * A' * B' + beta * C, where A' is A [M, K]
 *   (or A^T when transA, A being [K, M]), B' is B [K, N] (or B^T), and C is
 *   broadcast one way to [M, N].  7 dropped the `broadcast` attribute of
 *   6; 11 made C optional.
 * MatMul (opsets 1-17): numpy.matmul.  Leading dims broadcast; a 1-D A is
 *   a row [1, K] and a 1-D B a column [K, 1], the added axis being removed
 *   from the result.
 *
 * Shape inference only for now; kernels and gradients come with the engine. */
#include "infer_util.h"

static const op_attr_spec gemm_attrs[] = {
	{"alpha", ATTR_FLOAT},
	{"beta", ATTR_FLOAT},
	{"transA", ATTR_INT},
	{"transB", ATTR_INT},
	{NULL, 0},
};

static int gemm_infer(graph *g, const graph_node *n, int64_t opset,
		      sc_error *err)
{
	infer_tensor a, b, c, y;
	int rc = infer_input_rank(g, n, 0, 2, &a, err);
	if (!rc)
		rc = infer_input_rank(g, n, 1, 2, &b, err);
	if (rc)
		return rc;
	int has_c = infer_input(g, n, 2, &c);
	if (!has_c && opset < 11)
		return infer_fail(g, n, err, "input C is required before opset 11");
	int elem;
	rc = infer_unify_elem(g, n, 0, a.elem, 1, b.elem, &elem, err);
	if (!rc && has_c)
		rc = infer_unify_elem(g, n, 0, elem, 2, c.elem, &elem, err);
	if (rc)
		return rc;
	int ta = infer_attr_int(n, "transA", 0) != 0;
	int tb = infer_attr_int(n, "transB", 0) != 0;
	infer_dim m = infer_dim_unknown(), ka = m, kb = m, nn = m, k;
	if (a.rank == 2) {
		m = a.dims[ta ? 1 : 0];
		ka = a.dims[ta ? 0 : 1];
	}
	if (b.rank == 2) {
		kb = b.dims[tb ? 1 : 0];
		nn = b.dims[tb ? 0 : 1];
	}
	if (infer_dim_unify(ka, kb, &k))
		return infer_fail(g, n, err,
				  "A has K = %lld but B has K = %lld (transA=%d, transB=%d)",
				  (long long)ka.value, (long long)kb.value, ta, tb);
	infer_tensor_rank(&y, elem, 2);
	y.dims[0] = m;
	y.dims[1] = nn;
	if (has_c && c.rank >= 0) {
		if (c.rank > 2)
			return infer_fail(g, n, err, "C has rank %d, expected at most 2",
					  c.rank);
		/* C broadcasts towards Y, never the other way */
		for (int i = 0; i < c.rank; i++) {
			infer_dim cd = c.dims[i], *yd = &y.dims[2 - c.rank + i];
			if (cd.value == 1)
				continue;
			if (infer_dim_unify(*yd, cd, yd))
				return infer_fail(g, n, err,
						  "C dim %d is %lld, cannot broadcast to %lld",
						  i, (long long)cd.value,
						  (long long)yd->value);
		}
	}
	return infer_set_output(g, n, 0, &y, err);
}

static int matmul_infer(graph *g, const graph_node *n, int64_t opset,
			sc_error *err)
{
	(void)opset;
	infer_tensor a, b, y;
	infer_input(g, n, 0, &a);
	infer_input(g, n, 1, &b);
	int elem;
	int rc = infer_unify_elem(g, n, 0, a.elem, 1, b.elem, &elem, err);
	if (rc)
		return rc;
	if (a.rank == 0 || b.rank == 0)
		return infer_fail(g, n, err, "MatMul inputs must have rank >= 1");
	if (a.rank < 0 || b.rank < 0) {
		infer_tensor_unknown(&y, elem);
		return infer_set_output(g, n, 0, &y, err);
	}
	/* promote 1-D operands to matrices, remembering to drop the axis */
	int drop_m = a.rank == 1, drop_n = b.rank == 1;
	if (drop_m) {
		a.dims[1] = a.dims[0];
		a.dims[0] = infer_dim_of(1);
		a.rank = 2;
	}
	if (drop_n) {
		b.dims[1] = infer_dim_of(1);
		b.rank = 2;
	}
	infer_dim k;
	if (infer_dim_unify(a.dims[a.rank - 1], b.dims[b.rank - 2], &k))
		return infer_fail(g, n, err,
				  "inner dimensions differ: A has %lld columns, B has %lld rows",
				  (long long)a.dims[a.rank - 1].value,
				  (long long)b.dims[b.rank - 2].value);
	infer_tensor ba = a, bb = b, batch;
	ba.rank -= 2;
	bb.rank -= 2;
	rc = infer_broadcast(g, n, &ba, &bb, &batch, err);
	if (rc)
		return rc;
	int r = batch.rank + 2 - drop_m - drop_n;
	if (r > SC_MAX_RANK) {
		infer_tensor_unknown(&y, elem);
		return infer_set_output(g, n, 0, &y, err);
	}
	y = batch;
	y.elem = elem;
	if (!drop_m)
		y.dims[y.rank++] = a.dims[a.rank - 2];
	if (!drop_n)
		y.dims[y.rank++] = b.dims[b.rank - 1];
	return infer_set_output(g, n, 0, &y, err);
}

const op_def op_gemm_defs[] = {
	{.domain = "", .name = "Gemm", .since = 7, .until = 17,
	 .attrs = gemm_attrs, .infer = gemm_infer},
	{.domain = "", .name = "MatMul", .since = 1, .until = 17,
	 .attrs = NULL, .infer = matmul_infer},
	{0},
};
