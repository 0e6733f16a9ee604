/* gemm.c: matrix products.
 *
 * Gemm (opsets 6-17): Y = alpha * A' * B' + beta * C, where A' is A [M, K]
 *   (or A^T when transA, A being [K, M]), B' is B [K, N] (or B^T), and C is
 *   broadcast one way to [M, N].  7 dropped the `broadcast` attribute of
 *   6 (accepted here, C broadcasting as from 7); 11 made C optional.
 * MatMul (opsets 1-17): numpy.matmul.  Leading dims broadcast; a 1-D A is
 *   a row [1, K] and a 1-D B a column [K, 1], the added axis being removed
 *   from the result.
 *
 * Kernels: oneDNN's matmul for float32 (transposes as strides, batch
 * broadcasting as size-1 dims, alpha as the output scale, C as the bias or
 * through a sum post-op); a plain loop for the other dtypes, integers
 * wrapping like their fixed-width types.
 *
 * Gradients, as standard ops valid at the model's opset (with A' and B'
 * as above):
 *   Gemm    dA' = alpha dY B'^T and dB' = alpha A'^T dY, each one Gemm
 *           whose transA/transB absorb the transposes (a zero scalar C
 *           before opset 11, where C is required); dC = beta dY summed
 *           down to C's shape.
 *   MatMul  dA = dY B^T and dB = A^T dY (Transpose of the last two axes,
 *           MatMul), summed down to each operand's shape over broadcast
 *           batch axes.  A 1-D operand takes part as the row or column
 *           numpy makes of it: dY gets the dropped axis back (Unsqueeze)
 *           and the product is summed down to the vector.  Two vectors:
 *           dA = dY B, dB = dY A. */
#include <stdio.h>
#include <stdlib.h>

#include "../runtime/autodiff.h"
#include "dnnl_util.h"
#include "grad_attrs.h"
#include "infer_util.h"

/* opset 6's `broadcast` flag allowed what 7 made the rule */
static const op_attr_spec gemm6_attrs[] = {
	{"alpha", ATTR_FLOAT},
	{"beta", ATTR_FLOAT},
	{"broadcast", ATTR_INT},
	{"transA", ATTR_INT},
	{"transB", ATTR_INT},
	{NULL, 0},
};

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

/* --- kernels -------------------------------------------------------------- */

/* Y [batch..., M, N] = A [.., M, K] x B [.., K, N] over broadcast batches,
 * with every operand addressed through element strides (0 along a
 * broadcast axis) so one description serves Gemm's transposes, MatMul's
 * broadcasting and the plain loop alike. */
typedef struct mm_geom {
	int64_t m, n, k;
	int64_t sam, sak, sbk, sbn;           /* strides inside one matrix */
	int nb;                               /* batch axes of Y */
	int64_t batch[SC_MAX_RANK];
	int64_t a_bs[SC_MAX_RANK], b_bs[SC_MAX_RANK];
	int64_t batches;
} mm_geom;

typedef struct mm_state {
	char label[192];
	mm_geom g;
	int use_dnnl;
	/* Gemm only */
	float alpha, beta;
	int has_c, c_as_bias, c_fill;
	int64_t c_sm, c_sn;                   /* C's strides over [M, N] */
	du_prim mm;
	dnnl_memory_t a, b, y, bias;
} mm_state;

static void mm_release(op_kernel *k)
{
	mm_state *s = k->state;
	if (!s)
		return;
	du_prim_destroy(&s->mm);
	dnnl_memory_t mems[] = {s->a, s->b, s->y, s->bias};
	for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
		if (mems[i])
			dnnl_memory_destroy(mems[i]);
	free(s);
	k->state = NULL;
}

static int mm_dtype_ok(int dtype)
{
	switch (dtype) {
	case SC_FLOAT: case SC_DOUBLE: case SC_FLOAT16: case SC_BFLOAT16:
	case SC_INT32: case SC_INT64: case SC_UINT32: case SC_UINT64:
		return 1;
	default:
		return 0;
	}
}

/* An integer element as 64 bits; arithmetic on these wraps like the
 * fixed-width types. */
static uint64_t mm_load_int(const void *p, int dtype, int64_t i)
{
	switch (dtype) {
	case SC_INT32: return (uint64_t)(int64_t)((const int32_t *)p)[i];
	case SC_UINT32: return ((const uint32_t *)p)[i];
	default: return ((const uint64_t *)p)[i];
	}
}

static void mm_store_int(void *p, int dtype, int64_t i, uint64_t v)
{
	switch (dtype) {
	case SC_INT32: case SC_UINT32: ((uint32_t *)p)[i] = (uint32_t)v; break;
	default: ((uint64_t *)p)[i] = v; break;
	}
}

/* Offsets of batch `bi` (row-major over g->batch) into A and B. */
static void mm_batch_offsets(const mm_geom *g, int64_t bi, int64_t *a_off,
			     int64_t *b_off)
{
	*a_off = *b_off = 0;
	for (int i = g->nb - 1; i >= 0; i--) {
		int64_t idx = bi % g->batch[i];
		bi /= g->batch[i];
		*a_off += idx * g->a_bs[i];
		*b_off += idx * g->b_bs[i];
	}
}

/* The plain loop: dtypes oneDNN does not cover, and K = 0.  For Gemm, s
 * also applies alpha and beta * C. */
static void mm_reference(const mm_state *s, const sc_tensor *a,
			 const sc_tensor *b, const sc_tensor *c, sc_tensor *y)
{
	const mm_geom *g = &s->g;
	int is_int = !tensor_dtype_is_float(y->dtype);
	int64_t rows = g->batches * g->m;
	#pragma omp parallel for if (rows * g->n * g->k > 32768)
	for (int64_t r = 0; r < rows; r++) {
		int64_t bi = r / g->m, i = r % g->m, a_off, b_off;
		mm_batch_offsets(g, bi, &a_off, &b_off);
		for (int64_t j = 0; j < g->n; j++) {
			int64_t at = r * g->n + j;
			double acc = 0;
			uint64_t iacc = 0;
			for (int64_t p = 0; p < g->k; p++) {
				int64_t ia = a_off + i * g->sam + p * g->sak;
				int64_t ib = b_off + p * g->sbk + j * g->sbn;
				if (is_int)
					iacc += mm_load_int(a->data, a->dtype, ia) *
						mm_load_int(b->data, b->dtype, ib);
				else
					acc += du_load(a->data, a->dtype, ia) *
					       du_load(b->data, b->dtype, ib);
			}
			if (is_int && s->alpha == 1 && (!c || s->beta == 0)) {
				mm_store_int(y->data, y->dtype, at, iacc);
				continue;
			}
			if (is_int)
				acc = y->dtype == SC_INT32 || y->dtype == SC_INT64 ?
				      (double)(int64_t)iacc : (double)iacc;
			double v = s->alpha * acc;
			if (c)
				v += s->beta * du_load(c->data, c->dtype,
						       i * s->c_sm + j * s->c_sn);
			du_store(y->data, y->dtype, at, v);
		}
	}
}

/* oneDNN memory descriptor of an operand from its geometry: dims [batch,
 * rows, cols] with the given strides. */
static int mm_md(dnnl_memory_desc_t *md, const mm_geom *g, const int64_t *bs,
		 const int64_t *bdims, int64_t rows, int64_t cols, int64_t s_row,
		 int64_t s_col, const char *label, sc_error *err)
{
	dnnl_dims_t dims, strides;
	int r = g->nb + 2;
	for (int i = 0; i < g->nb; i++) {
		dims[i] = bdims[i];
		strides[i] = bs[i];
	}
	dims[g->nb] = rows;
	dims[g->nb + 1] = cols;
	strides[g->nb] = s_row;
	strides[g->nb + 1] = s_col;
	return du_check(dnnl_memory_desc_init_by_strides(md, r, dims, dnnl_f32,
							 strides),
			label, "describing a matrix", err);
}

/* Builds the oneDNN matmul for float32.  For Gemm: alpha as the output
 * scale; C either as the bias (alpha = beta = 1) or copied into Y before
 * the product and added back by a sum post-op scaled by beta. */
static int mm_build_dnnl(op_kernel *k, mm_state *s, sc_error *err)
{
	const mm_geom *g = &s->g;
	int64_t a_bdims[SC_MAX_RANK], b_bdims[SC_MAX_RANK], ys[SC_MAX_RANK];
	for (int i = 0; i < g->nb; i++) {
		a_bdims[i] = g->a_bs[i] ? g->batch[i] : 1;
		b_bdims[i] = g->b_bs[i] ? g->batch[i] : 1;
	}
	/* a broadcast axis is one of size 1 in oneDNN's eyes; its stride
	 * then does not matter, so keep it dense-looking */
	int64_t a_s[SC_MAX_RANK], b_s[SC_MAX_RANK];
	int64_t acc_a = g->m * g->k, acc_b = g->k * g->n, acc_y = g->m * g->n;
	for (int i = g->nb - 1; i >= 0; i--) {
		a_s[i] = g->a_bs[i] ? g->a_bs[i] : acc_a;
		b_s[i] = g->b_bs[i] ? g->b_bs[i] : acc_b;
		ys[i] = acc_y;
		acc_y *= g->batch[i];
	}
	dnnl_memory_desc_t a_md, b_md, y_md, bias_md;
	int rc = mm_md(&a_md, g, a_s, a_bdims, g->m, g->k, g->sam, g->sak,
		       s->label, err);
	if (!rc)
		rc = mm_md(&b_md, g, b_s, b_bdims, g->k, g->n, g->sbk, g->sbn,
			   s->label, err);
	if (!rc)
		rc = mm_md(&y_md, g, ys, g->batch, g->m, g->n, g->n, 1, s->label,
			   err);
	if (rc)
		return rc;
	if (s->c_as_bias) {
		int64_t ones[SC_MAX_RANK] = {0}, bdims[SC_MAX_RANK];
		for (int i = 0; i < g->nb; i++)
			bdims[i] = 1;
		int64_t cm = s->c_sm ? g->m : 1, cn = s->c_sn ? g->n : 1;
		rc = mm_md(&bias_md, g, ones, bdims, cm, cn, cn, 1, s->label, err);
		if (rc)
			return rc;
	}
	dnnl_matmul_desc_t md;
	rc = du_check(dnnl_matmul_desc_init(&md, &a_md, &b_md,
					    s->c_as_bias ? &bias_md : NULL, &y_md),
		      s->label, "describing the matmul", err);
	if (rc)
		return rc;
	dnnl_primitive_attr_t attr;
	if ((rc = du_attr_create(&attr, s->label, err)))
		return rc;
	if (s->alpha != 1)
		rc = du_check(dnnl_primitive_attr_set_output_scales(attr, 1, 0,
								    &s->alpha),
			      s->label, "setting alpha", err);
	if (!rc && s->c_fill) {
		dnnl_post_ops_t po;
		rc = du_check(dnnl_post_ops_create(&po), s->label,
			      "creating post-ops", err);
		if (!rc) {
			rc = du_check(dnnl_post_ops_append_sum(po, s->beta), s->label,
				      "adding beta * C", err);
			if (!rc)
				rc = du_check(dnnl_primitive_attr_set_post_ops(attr, po),
					      s->label, "adding beta * C", err);
			dnnl_post_ops_destroy(po);
		}
	}
	size_t scratch = 0;
	if (!rc)
		rc = du_prim_create(&s->mm, &md, attr, k->env, &scratch, s->label,
				    err);
	dnnl_primitive_attr_destroy(attr);
	if (!rc)
		rc = du_mem_create(&s->a, &a_md, k->env, s->label, err);
	if (!rc)
		rc = du_mem_create(&s->b, &b_md, k->env, s->label, err);
	if (!rc)
		rc = du_mem_create(&s->y, &y_md, k->env, s->label, err);
	if (!rc && s->c_as_bias)
		rc = du_mem_create(&s->bias, &bias_md, k->env, s->label, err);
	if (!rc)
		exec_scratch_request(k->env, scratch);
	return rc;
}

static mm_state *mm_state_new(op_kernel *k, sc_error *err)
{
	mm_state *s = calloc(1, sizeof *s);
	if (!s) {
		sc_fail(err, SC_ENOMEM, "out of memory preparing %s",
			k->node->op_type);
		return NULL;
	}
	k->state = s;
	du_label(k, s->label, sizeof s->label);
	s->alpha = 1;
	s->beta = 1;
	return s;
}

static int mm_check_dtypes(const mm_state *s, const sc_tensor *a,
			   const sc_tensor *b, const sc_tensor *c,
			   sc_error *err)
{
	if (!mm_dtype_ok(a->dtype))
		return sc_fail(err, SC_EINVAL, "%s: %s inputs are not supported",
			       s->label, tensor_dtype_name(a->dtype));
	if (b->dtype != a->dtype || (c && c->dtype != a->dtype))
		return sc_fail(err, SC_EINVAL, "%s: inputs have different dtypes (%s, %s%s%s)",
			       s->label, tensor_dtype_name(a->dtype),
			       tensor_dtype_name(b->dtype), c ? ", " : "",
			       c ? tensor_dtype_name(c->dtype) : "");
	return SC_OK;
}

static int gemm_prepare(op_kernel *k, sc_error *err)
{
	mm_state *s = mm_state_new(k, err);
	if (!s)
		return SC_ENOMEM;
	const sc_tensor *a = k->in[0], *b = k->in[1];
	const sc_tensor *c = k->n_in > 2 ? k->in[2] : NULL;
	int rc = mm_check_dtypes(s, a, b, c, err);
	if (rc)
		return rc;
	if (a->rank != 2 || b->rank != 2)
		return sc_fail(err, SC_EINVAL, "%s: A and B must be matrices, got ranks %d and %d",
			       s->label, a->rank, b->rank);
	if (!c && k->opset < 11)
		return sc_fail(err, SC_EINVAL, "%s: input C is required before opset 11",
			       s->label);
	int ta = infer_attr_int(k->node, "transA", 0) != 0;
	int tb = infer_attr_int(k->node, "transB", 0) != 0;
	s->alpha = infer_attr_float(k->node, "alpha", 1.0f);
	s->beta = infer_attr_float(k->node, "beta", 1.0f);
	mm_geom *g = &s->g;
	g->m = a->dims[ta];
	g->k = a->dims[!ta];
	g->n = b->dims[!tb];
	if (b->dims[tb] != g->k)
		return sc_fail(err, SC_EINVAL,
			       "%s: A gives K = %lld but B has K = %lld (transA=%d, transB=%d)",
			       s->label, (long long)g->k, (long long)b->dims[tb],
			       ta, tb);
	g->sam = ta ? 1 : g->k;
	g->sak = ta ? g->m : 1;
	g->sbk = tb ? 1 : g->n;
	g->sbn = tb ? g->k : 1;
	g->batches = 1;
	int64_t ydims[2] = {g->m, g->n};
	if (c) {
		/* C broadcasts one way, towards [M, N] */
		if (c->rank > 2)
			return sc_fail(err, SC_EINVAL, "%s: C has rank %d, expected at most 2",
				       s->label, c->rank);
		int64_t cd[2] = {1, 1};
		for (int i = 0; i < c->rank; i++)
			cd[2 - c->rank + i] = c->dims[i];
		for (int i = 0; i < 2; i++)
			if (cd[i] != 1 && cd[i] != ydims[i])
				return sc_fail(err, SC_EINVAL,
					       "%s: C of shape [%lld, %lld] does not broadcast to [%lld, %lld]",
					       s->label, (long long)cd[0],
					       (long long)cd[1], (long long)ydims[0],
					       (long long)ydims[1]);
		s->has_c = 1;
		s->c_sm = cd[0] == 1 ? 0 : cd[1];
		s->c_sn = cd[1] == 1 ? 0 : 1;
	}
	rc = tensor_set_shape(k->out[0], a->dtype, 2, ydims, s->label, err);
	if (rc)
		return rc;
	s->use_dnnl = a->dtype == SC_FLOAT && g->m && g->n && g->k;
	if (!s->use_dnnl)
		return SC_OK;
	s->c_as_bias = s->has_c && s->alpha == 1 && s->beta == 1;
	s->c_fill = s->has_c && !s->c_as_bias && s->beta != 0;
	return mm_build_dnnl(k, s, err);
}

static int matmul_prepare(op_kernel *k, sc_error *err)
{
	mm_state *s = mm_state_new(k, err);
	if (!s)
		return SC_ENOMEM;
	const sc_tensor *a = k->in[0], *b = k->in[1];
	int rc = mm_check_dtypes(s, a, b, NULL, err);
	if (rc)
		return rc;
	if (a->rank < 1 || b->rank < 1)
		return sc_fail(err, SC_EINVAL, "%s: inputs must have rank >= 1, got %d and %d",
			       s->label, a->rank, b->rank);
	mm_geom *g = &s->g;
	/* numpy: a 1-D A is a row, a 1-D B a column, dropped from Y */
	int ra = a->rank, rb = b->rank;
	g->m = ra == 1 ? 1 : a->dims[ra - 2];
	g->k = a->dims[ra - 1];
	g->n = rb == 1 ? 1 : b->dims[rb - 1];
	int64_t kb = rb == 1 ? b->dims[0] : b->dims[rb - 2];
	if (kb != g->k)
		return sc_fail(err, SC_EINVAL,
			       "%s: inner dimensions differ: A has %lld columns, B has %lld rows",
			       s->label, (long long)g->k, (long long)kb);
	g->sam = g->k;
	g->sak = 1;
	g->sbk = g->n;
	g->sbn = 1;
	int na = ra > 2 ? ra - 2 : 0, nb = rb > 2 ? rb - 2 : 0;
	g->nb = na > nb ? na : nb;
	g->batches = 1;
	int64_t sa = g->m * g->k, sb = g->k * g->n;
	for (int i = g->nb - 1; i >= 0; i--) {
		int ia = i - (g->nb - na), ib = i - (g->nb - nb);
		int64_t da = ia >= 0 ? a->dims[ia] : 1;
		int64_t db = ib >= 0 ? b->dims[ib] : 1;
		if (da != db && da != 1 && db != 1)
			return sc_fail(err, SC_EINVAL,
				       "%s: batch dims %lld and %lld do not broadcast",
				       s->label, (long long)da, (long long)db);
		g->batch[i] = da == 1 ? db : da;
		g->a_bs[i] = da == 1 ? 0 : sa;
		g->b_bs[i] = db == 1 ? 0 : sb;
		sa *= da;
		sb *= db;
		g->batches *= g->batch[i];
	}
	int64_t ydims[SC_MAX_RANK];
	int ry = 0;
	for (int i = 0; i < g->nb; i++)
		ydims[ry++] = g->batch[i];
	if (ra > 1)
		ydims[ry++] = g->m;
	if (rb > 1)
		ydims[ry++] = g->n;
	rc = tensor_set_shape(k->out[0], a->dtype, ry, ydims, s->label, err);
	if (rc)
		return rc;
	s->use_dnnl = a->dtype == SC_FLOAT && k->out[0]->numel > 0 && g->k > 0;
	return s->use_dnnl ? mm_build_dnnl(k, s, err) : SC_OK;
}

static int mm_run(op_kernel *k, sc_error *err)
{
	mm_state *s = k->state;
	const sc_tensor *a = k->in[0], *b = k->in[1];
	const sc_tensor *c = s->has_c ? k->in[2] : NULL;
	sc_tensor *y = k->out[0];
	if (!s->use_dnnl) {
		mm_reference(s, a, b, c, y);
		return SC_OK;
	}
	if (s->c_fill) {
		float *yd = y->data;
		const float *cd = c->data;
		int64_t n = s->g.n;
		for (int64_t i = 0; i < s->g.m; i++)
			for (int64_t j = 0; j < n; j++)
				yd[i * n + j] = cd[i * s->c_sm + j * s->c_sn];
	}
	int rc = du_mem_bind(s->a, a->data, s->label, err);
	if (!rc)
		rc = du_mem_bind(s->b, b->data, s->label, err);
	if (!rc)
		rc = du_mem_bind(s->y, y->data, s->label, err);
	if (!rc && s->c_as_bias)
		rc = du_mem_bind(s->bias, c->data, s->label, err);
	if (rc)
		return rc;
	dnnl_exec_arg_t args[4] = {
		{DNNL_ARG_SRC, s->a},
		{DNNL_ARG_WEIGHTS, s->b},
		{DNNL_ARG_DST, s->y},
		{DNNL_ARG_BIAS, s->bias},
	};
	return du_prim_exec(&s->mm, k->env, s->c_as_bias ? 4 : 3, args, s->label,
			    err);
}

/* --- gradient rules --------------------------------------------------------- */

#define CHECK(v) do { if ((v) < 0) return err->code; } while (0)

/* An int64 1-D initializer holding v[0..n). */
static int mm_const_ints(grad_ctx *c, const int64_t *v, int n, sc_error *err)
{
	graph *g = grad_graph(c);
	char name[128];
	for (int k = 0;; k++) {
		snprintf(name, sizeof name, "autodiff/matmul_axes_%d", k);
		if (graph_find_value(g, name) < 0)
			break;
	}
	int64_t dims[1] = {n};
	sc_tensor t;
	if (tensor_alloc(&t, SC_INT64, 1, dims, name, err))
		return -1;
	memcpy(t.data, v, (size_t)n * sizeof *v);
	int y = graph_intern_value(g, name, err);
	if (y < 0 || graph_add_init(g, y, &t, err)) {
		tensor_free(&t);
		return -1;
	}
	graph_value *val = &g->values[y];
	val->type.kind = GRAPH_TYPE_TENSOR;
	val->type.elem = SC_INT64;
	return y;
}

/* x with a size-1 axis inserted at `axis` (>= 0), at the model's opset:
 * axes as an input from 13, as an attribute before. */
static int mm_unsqueeze(grad_ctx *c, int x, int64_t axis, sc_error *err)
{
	int y;
	if (grad_opset(c) >= 13) {
		int in[2] = {x, mm_const_ints(c, &axis, 1, err)};
		CHECK(in[1]);
		CHECK(grad_emit(c, "Unsqueeze", "", 2, in, 1, &y, err));
		return y;
	}
	int idx = grad_emit(c, "Unsqueeze", "", 1, &x, 1, &y, err);
	CHECK(idx);
	if (grad_attr_ints(&grad_graph(c)->nodes[idx], "axes", &axis, 1, err))
		return -1;
	return y;
}

/* x of rank r (>= 2) with its last two axes swapped. */
static int mm_transpose(grad_ctx *c, int x, int r, sc_error *err)
{
	int64_t perm[SC_MAX_RANK];
	for (int i = 0; i < r; i++)
		perm[i] = i;
	perm[r - 2] = r - 1;
	perm[r - 1] = r - 2;
	int y, idx = grad_emit(c, "Transpose", "", 1, &x, 1, &y, err);
	CHECK(idx);
	if (grad_attr_ints(&grad_graph(c)->nodes[idx], "perm", perm, r, err))
		return -1;
	return y;
}

/* alpha * op(a) op(b) as one Gemm node, op being the transpose when ta/tb;
 * `like` is a forward value of the operands' dtype. */
static int mm_gemm(grad_ctx *c, int a, int b, int ta, int tb, float alpha,
		   int like, sc_error *err)
{
	int64_t opset = grad_opset(c);
	int in[3] = {a, b, -1}, y;
	int n_in = 2;
	if (opset < 11) {
		/* C is required before 11: a zero that broadcasts */
		CHECK(in[2] = grad_scalar(c, like, 0.0, err));
		n_in = 3;
	}
	int idx = grad_emit(c, "Gemm", "", n_in, in, 1, &y, err);
	CHECK(idx);
	graph_node *n = &grad_graph(c)->nodes[idx];
	if ((ta && grad_attr_int(n, "transA", 1, err)) ||
	    (tb && grad_attr_int(n, "transB", 1, err)) ||
	    (opset < 7 && grad_attr_int(n, "broadcast", 1, err)))
		return -1;
	if (alpha != 1.0f) {
		graph_attr *at = graph_node_add_attr(n, "alpha", ATTR_FLOAT, err);
		if (!at)
			return -1;
		at->f = alpha;
	}
	return y;
}

static int gemm_grad(grad_ctx *c, int node, const int *dy, int *dx,
		     sc_error *err)
{
	const graph_node *n = grad_fwd(c, node);
	int ta = infer_attr_int(n, "transA", 0) != 0;
	int tb = infer_attr_int(n, "transB", 0) != 0;
	float alpha = infer_attr_float(n, "alpha", 1.0f);
	float beta = infer_attr_float(n, "beta", 1.0f);
	int a = n->inputs[0], b = n->inputs[1];
	int cv = n->n_inputs > 2 ? n->inputs[2] : -1;
	/* emitting moves the node array: n is not used below */
	if (dx[0] == -2)
		CHECK(dx[0] = ta ? mm_gemm(c, b, dy[0], tb, 1, alpha, a, err) :
			      mm_gemm(c, dy[0], b, 0, !tb, alpha, a, err));
	if (dx[1] == -2)
		CHECK(dx[1] = tb ? mm_gemm(c, dy[0], a, 1, ta, alpha, a, err) :
			      mm_gemm(c, a, dy[0], !ta, 0, alpha, a, err));
	if (cv >= 0 && dx[2] == -2) {
		if (beta == 0.0f) {
			dx[2] = -1;
			return SC_OK;
		}
		int g = dy[0];
		if (beta != 1.0f) {
			int k;
			CHECK(k = grad_scalar(c, cv, beta, err));
			CHECK(g = grad_binary(c, "Mul", dy[0], k, err));
		}
		CHECK(dx[2] = grad_sum_to_shape(c, g, cv, err));
	}
	return SC_OK;
}

static int mm_rank(grad_ctx *c, int v)
{
	const graph_type *t = &grad_graph(c)->values[v].type;
	return t->kind == GRAPH_TYPE_TENSOR ? t->rank : -1;
}

static int matmul_grad(grad_ctx *c, int node, const int *dy, int *dx,
		       sc_error *err)
{
	const graph_node *n = grad_fwd(c, node);
	int a = n->inputs[0], b = n->inputs[1];
	int ra = mm_rank(c, a), rb = mm_rank(c, b);
	if (ra < 1 || rb < 1)
		return infer_fail(grad_graph(c), n, err,
				  "the gradient needs the ranks of A and B, which shape inference left unknown");
	int g = dy[0], da = -1, db = -1;
	int want_a = dx[0] == -2, want_b = dx[1] == -2;
	if (ra == 1 && rb == 1) {
		/* dot product: dY is a scalar */
		if (want_a)
			CHECK(da = grad_binary(c, "Mul", g, b, err));
		if (want_b)
			CHECK(db = grad_binary(c, "Mul", g, a, err));
	} else if (ra == 1) {
		/* A is the row [1, K]; dY [..., N] loses the axis before N */
		int gu;
		CHECK(gu = mm_unsqueeze(c, g, rb - 2, err));
		if (want_a) {
			int bt;
			CHECK(bt = mm_transpose(c, b, rb, err));
			CHECK(da = grad_binary(c, "MatMul", gu, bt, err));
		}
		if (want_b) {
			int acol;
			CHECK(acol = mm_unsqueeze(c, a, 1, err));
			CHECK(db = grad_binary(c, "MatMul", acol, gu, err));
		}
	} else if (rb == 1) {
		/* B is the column [K, 1]; dY [..., M] loses the last axis */
		if (want_a) {
			int gcol, brow;
			CHECK(gcol = mm_unsqueeze(c, g, ra - 1, err));
			CHECK(brow = mm_unsqueeze(c, b, 0, err));
			CHECK(da = grad_binary(c, "MatMul", gcol, brow, err));
		}
		if (want_b) {
			int grow;
			CHECK(grow = mm_unsqueeze(c, g, ra - 2, err));
			CHECK(db = grad_binary(c, "MatMul", grow, a, err));
		}
	} else {
		if (want_a) {
			int bt;
			CHECK(bt = mm_transpose(c, b, rb, err));
			CHECK(da = grad_binary(c, "MatMul", g, bt, err));
		}
		if (want_b) {
			int at;
			CHECK(at = mm_transpose(c, a, ra, err));
			CHECK(db = grad_binary(c, "MatMul", at, g, err));
		}
	}
	if (want_a)
		CHECK(dx[0] = grad_sum_to_shape(c, da, a, err));
	if (want_b)
		CHECK(dx[1] = grad_sum_to_shape(c, db, b, err));
	return SC_OK;
}

const op_def op_gemm_defs[] = {
	{.domain = "", .name = "Gemm", .since = 6, .until = 6,
	 .attrs = gemm6_attrs, .infer = gemm_infer, .prepare = gemm_prepare,
	 .run = mm_run, .release = mm_release, .grad = gemm_grad,
	 .grad_inputs = 0x7},
	{.domain = "", .name = "Gemm", .since = 7, .until = 17,
	 .attrs = gemm_attrs, .infer = gemm_infer, .prepare = gemm_prepare,
	 .run = mm_run, .release = mm_release, .grad = gemm_grad,
	 .grad_inputs = 0x7},
	{.domain = "", .name = "MatMul", .since = 1, .until = 17,
	 .attrs = NULL, .infer = matmul_infer, .prepare = matmul_prepare,
	 .run = mm_run, .release = mm_release, .grad = matmul_grad,
	 .grad_inputs = 0x3},
	{0},
};
