/* dnnl_util.c: primitives, scratch and layout conversion for the oneDNN
 * kernels; see dnnl_util.h. */
#include "dnnl_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "infer_util.h"
#include "registry.h"

int du_check(dnnl_status_t st, const char *label, const char *what,
	     sc_error *err)
{
	if (st == dnnl_success)
		return SC_OK;
	char buf[512];
	snprintf(buf, sizeof buf, "%s: %s", label, what);
	return exec_dnnl_check(st, buf, err);
}

int du_plain_md(dnnl_memory_desc_t *md, int rank, const int64_t *dims,
		dnnl_data_type_t dt, const char *label, sc_error *err)
{
	dnnl_dims_t d, strides;
	if (rank > DNNL_MAX_NDIMS)
		return sc_fail(err, SC_EUNSUPPORTED, "%s: rank %d is above oneDNN's %d",
			       label, rank, DNNL_MAX_NDIMS);
	if (rank == 0) {
		d[0] = 1;
		strides[0] = 1;
		rank = 1;
	} else {
		dnnl_dim_t s = 1;
		for (int i = rank - 1; i >= 0; i--) {
			d[i] = dims[i];
			strides[i] = s;
			s *= dims[i] > 0 ? dims[i] : 1;
		}
	}
	return du_check(dnnl_memory_desc_init_by_strides(md, rank, d, dt, strides),
			label, "describing a plain tensor", err);
}

size_t du_scratch_take(size_t *total, size_t bytes)
{
	size_t off = (*total + 63) & ~(size_t)63;
	*total = off + ((bytes + 63) & ~(size_t)63);
	return off;
}

int du_attr_create(dnnl_primitive_attr_t *attr, const char *label,
		   sc_error *err)
{
	int rc = du_check(dnnl_primitive_attr_create(attr), label,
			  "creating a primitive attribute", err);
	if (rc)
		return rc;
	rc = du_check(dnnl_primitive_attr_set_scratchpad_mode(*attr,
							      dnnl_scratchpad_mode_user),
		      label, "setting the scratchpad mode", err);
	if (rc) {
		dnnl_primitive_attr_destroy(*attr);
		*attr = NULL;
	}
	return rc;
}

int du_mem_create(dnnl_memory_t *mem, const dnnl_memory_desc_t *md,
		  exec_env *env, const char *label, sc_error *err)
{
	return du_check(dnnl_memory_create(mem, md, env->engine, DNNL_MEMORY_NONE),
			label, "creating a memory object", err);
}

int du_mem_bind(dnnl_memory_t mem, const void *data, const char *label,
		sc_error *err)
{
	/* oneDNN takes a non-const handle for inputs too; it does not write them */
	return du_check(dnnl_memory_set_data_handle(mem, (void *)(uintptr_t)data),
			label, "binding a buffer", err);
}

/* --- primitives ---------------------------------------------------------- */

int du_prim_create(du_prim *p, const_dnnl_op_desc_t op_desc,
		   const_dnnl_primitive_attr_t attr, exec_env *env,
		   size_t *scratch_total, const char *label, sc_error *err)
{
	return du_prim_create_hinted(p, op_desc, attr, NULL, env, scratch_total,
				     label, err);
}

int du_prim_create_hinted(du_prim *p, const_dnnl_op_desc_t op_desc,
			  const_dnnl_primitive_attr_t attr,
			  const_dnnl_primitive_desc_t hint, exec_env *env,
			  size_t *scratch_total, const char *label, sc_error *err)
{
	memset(p, 0, sizeof *p);
	dnnl_primitive_attr_t own = NULL;
	int rc;
	if (!attr) {
		if ((rc = du_attr_create(&own, label, err)))
			return rc;
		attr = own;
	}
	rc = du_check(dnnl_primitive_desc_create(&p->pd, op_desc, attr,
						 env->engine, hint),
		      label, "creating the primitive descriptor", err);
	if (own)
		dnnl_primitive_attr_destroy(own);
	if (rc)
		return rc;
	rc = du_check(dnnl_primitive_create(&p->prim, p->pd), label,
		      "creating the primitive", err);
	if (rc) {
		du_prim_destroy(p);
		return rc;
	}
	const dnnl_memory_desc_t *smd = du_prim_md(p, dnnl_query_scratchpad_md, 0);
	size_t bytes = smd ? dnnl_memory_desc_get_size(smd) : 0;
	if (bytes) {
		if ((rc = du_mem_create(&p->scratch, smd, env, label, err))) {
			du_prim_destroy(p);
			return rc;
		}
		p->scratch_off = du_scratch_take(scratch_total, bytes);
	}
	return SC_OK;
}

const dnnl_memory_desc_t *du_prim_md(const du_prim *p, dnnl_query_t what,
				     int i)
{
	return dnnl_primitive_desc_query_md(p->pd, what, i);
}

int du_prim_is_reference(const du_prim *p)
{
	const char *impl = NULL;
	if (dnnl_primitive_desc_query(p->pd, dnnl_query_impl_info_str, 0,
				      &impl) != dnnl_success || !impl)
		return 0;
	return strncmp(impl, "ref", 3) == 0;
}

int du_prim_exec(du_prim *p, exec_env *env, int nargs,
		 const dnnl_exec_arg_t *args, const char *label, sc_error *err)
{
	dnnl_exec_arg_t all[DU_MAX_ARGS];
	if (nargs >= DU_MAX_ARGS)
		return sc_fail(err, SC_EINTERNAL, "%s: too many primitive arguments",
			       label);
	memcpy(all, args, (size_t)nargs * sizeof *all);
	if (p->scratch) {
		int rc = du_mem_bind(p->scratch, du_scratch_at(env, p->scratch_off),
				     label, err);
		if (rc)
			return rc;
		all[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, p->scratch};
	}
	int rc = du_check(dnnl_primitive_execute(p->prim, env->stream, nargs, all),
			  label, "executing the primitive", err);
	if (rc)
		return rc;
	return du_check(dnnl_stream_wait(env->stream), label,
			"waiting for the stream", err);
}

void du_prim_destroy(du_prim *p)
{
	if (p->scratch)
		dnnl_memory_destroy(p->scratch);
	if (p->prim)
		dnnl_primitive_destroy(p->prim);
	if (p->pd)
		dnnl_primitive_desc_destroy(p->pd);
	memset(p, 0, sizeof *p);
}

/* --- layouts -------------------------------------------------------------- */

int du_channel_block(void)
{
	dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
	return (isa & dnnl_cpu_isa_avx512_core) == dnnl_cpu_isa_avx512_core ? 16 : 8;
}

int du_activation_md(dnnl_memory_desc_t *md, int rank, const int64_t *dims,
		     int blocked, const char *label, sc_error *err)
{
	static const dnnl_format_tag_t b16[] = {dnnl_aBc16b, dnnl_aBcd16b,
						dnnl_aBcde16b};
	static const dnnl_format_tag_t b8[] = {dnnl_aBc8b, dnnl_aBcd8b,
					       dnnl_aBcde8b};
	dnnl_dims_t d;
	if (rank < 3 || rank > 5)
		return sc_fail(err, SC_EINTERNAL, "%s: no activation layout for rank %d",
			       label, rank);
	for (int i = 0; i < rank; i++)
		d[i] = dims[i];
	int block = du_channel_block();
	dnnl_format_tag_t tag = dnnl_format_tag_any;
	if (blocked && dims[1] >= block)
		tag = block == 16 ? b16[rank - 3] : b8[rank - 3];
	return du_check(dnnl_memory_desc_init_by_tag(md, rank, d, dnnl_f32, tag),
			label, "describing an activation", err);
}

const dnnl_memory_desc_t *du_input_md(const op_kernel *k, int i,
				      const dnnl_memory_desc_t *plain)
{
	return k->in_md && i < k->n_in && k->in_md[i] ? k->in_md[i] : plain;
}

const dnnl_memory_desc_t *du_output_md(op_kernel *k,
				       const dnnl_memory_desc_t *chosen,
				       const dnnl_memory_desc_t *plain,
				       dnnl_memory_desc_t *keep)
{
	if (!k->out_may_block || dnnl_memory_desc_equal(chosen, plain))
		return plain;
	*keep = *chosen;
	k->out_md = keep;
	k->out[0]->nbytes = dnnl_memory_desc_get_size(keep);
	return keep;
}

/* --- reorders ------------------------------------------------------------ */

int du_reorder_create(du_reorder *r, const dnnl_memory_desc_t *src,
		      const dnnl_memory_desc_t *dst, exec_env *env,
		      size_t *scratch_total, const char *label, sc_error *err)
{
	memset(r, 0, sizeof *r);
	dnnl_primitive_attr_t attr;
	int rc = du_attr_create(&attr, label, err);
	if (rc)
		return rc;
	rc = du_check(dnnl_reorder_primitive_desc_create(&r->p.pd, src, env->engine,
							 dst, env->engine, attr),
		      label, "creating a reorder", err);
	dnnl_primitive_attr_destroy(attr);
	if (rc)
		return rc;
	rc = du_check(dnnl_primitive_create(&r->p.prim, r->p.pd), label,
		      "creating a reorder", err);
	const dnnl_memory_desc_t *smd = rc ? NULL :
		du_prim_md(&r->p, dnnl_query_scratchpad_md, 0);
	size_t bytes = smd ? dnnl_memory_desc_get_size(smd) : 0;
	if (!rc && bytes) {
		rc = du_mem_create(&r->p.scratch, smd, env, label, err);
		r->p.scratch_off = du_scratch_take(scratch_total, bytes);
	}
	if (!rc)
		rc = du_mem_create(&r->src, src, env, label, err);
	if (!rc)
		rc = du_mem_create(&r->dst, dst, env, label, err);
	if (rc)
		du_reorder_destroy(r);
	return rc;
}

int du_reorder_run(du_reorder *r, exec_env *env, const void *src, void *dst,
		   const char *label, sc_error *err)
{
	int rc = du_mem_bind(r->src, src, label, err);
	if (!rc)
		rc = du_mem_bind(r->dst, dst, label, err);
	if (rc)
		return rc;
	dnnl_exec_arg_t args[2] = {
		{DNNL_ARG_FROM, r->src},
		{DNNL_ARG_TO, r->dst},
	};
	return du_prim_exec(&r->p, env, 2, args, label, err);
}

void du_reorder_destroy(du_reorder *r)
{
	if (r->src)
		dnnl_memory_destroy(r->src);
	if (r->dst)
		dnnl_memory_destroy(r->dst);
	du_prim_destroy(&r->p);
	memset(r, 0, sizeof *r);
}

/* --- operands ------------------------------------------------------------ */

int du_operand_init(du_operand *o, int kind, const dnnl_memory_desc_t *held,
		    const dnnl_memory_desc_t *chosen,
		    const dnnl_memory_desc_t *prior, exec_env *env,
		    size_t *scratch_total, const char *label, sc_error *err)
{
	memset(o, 0, sizeof *o);
	o->kind = kind;
	o->converts = !dnnl_memory_desc_equal(held, chosen);
	o->chosen_bytes = dnnl_memory_desc_get_size(chosen);
	int rc = du_mem_create(&o->mem, chosen, env, label, err);
	if (!rc && kind == DU_INOUT && !dnnl_memory_desc_equal(prior ? prior : held,
							       chosen))
		rc = du_reorder_create(&o->pre, prior ? prior : held, chosen, env,
				       scratch_total, label, err);
	if (!rc && o->converts) {
		if (kind == DU_OUT || kind == DU_INOUT)
			rc = du_reorder_create(&o->r, chosen, held, env,
					       scratch_total, label, err);
		else
			rc = du_reorder_create(&o->r, held, chosen, env,
					       scratch_total, label, err);
	}
	if (rc) {
		du_operand_destroy(o);
		return rc;
	}
	if (!o->converts)
		return SC_OK;
	if (kind == DU_CONST_IN) {
		o->own = aligned_alloc(64, (o->chosen_bytes + 63) & ~(size_t)63);
		if (!o->own) {
			du_operand_destroy(o);
			return sc_fail(err, SC_ENOMEM,
				       "%s: cannot allocate %zu bytes for converted weights",
				       label, o->chosen_bytes);
		}
	} else {
		o->off = du_scratch_take(scratch_total, o->chosen_bytes);
	}
	return SC_OK;
}

int du_operand_before(du_operand *o, exec_env *env, const void *data,
		      const char *label, sc_error *err)
{
	if (!o->converts)
		return du_mem_bind(o->mem, data, label, err);
	if (o->kind == DU_CONST_IN) {
		if (o->own_src != data) {
			int rc = du_reorder_run(&o->r, env, data, o->own, label, err);
			if (rc)
				return rc;
			o->own_src = data;
		}
		return du_mem_bind(o->mem, o->own, label, err);
	}
	void *copy = du_scratch_at(env, o->off);
	if (o->kind == DU_IN) {
		int rc = du_reorder_run(&o->r, env, data, copy, label, err);
		if (rc)
			return rc;
	}
	return du_mem_bind(o->mem, copy, label, err);
}

int du_operand_preload(du_operand *o, exec_env *env, const void *prior,
		       void *data, const char *label, sc_error *err)
{
	/* the primitive reads its output from the chosen copy */
	void *target = o->converts ? du_scratch_at(env, o->off) : data;
	if (o->pre.p.prim)
		return du_reorder_run(&o->pre, env, prior, target, label, err);
	if (prior != target)
		memcpy(target, prior, o->chosen_bytes);
	return SC_OK;
}

int du_operand_after(du_operand *o, exec_env *env, void *data,
		     const char *label, sc_error *err)
{
	if ((o->kind != DU_OUT && o->kind != DU_INOUT) || !o->converts)
		return SC_OK;
	return du_reorder_run(&o->r, env, du_scratch_at(env, o->off), data, label,
			      err);
}

void du_operand_destroy(du_operand *o)
{
	if (o->mem)
		dnnl_memory_destroy(o->mem);
	du_reorder_destroy(&o->r);
	du_reorder_destroy(&o->pre);
	free(o->own);
	memset(o, 0, sizeof *o);
}

/* --- plain copies -------------------------------------------------------- */

int du_plain_copy_init(du_plain_copy *c, const op_kernel *k, int i,
		       size_t *scratch_total, const char *label, sc_error *err)
{
	memset(c, 0, sizeof *c);
	const dnnl_memory_desc_t *held = k->in_md && i < k->n_in ? k->in_md[i] : NULL;
	if (!held)
		return SC_OK;
	const sc_tensor *t = k->in[i];
	dnnl_memory_desc_t plain;
	int rc = du_plain_md(&plain, t->rank, t->dims, held->data_type, label, err);
	if (!rc)
		rc = du_reorder_create(&c->r, held, &plain, k->env, scratch_total,
				       label, err);
	if (rc)
		return rc;
	c->off = du_scratch_take(scratch_total, dnnl_memory_desc_get_size(&plain));
	c->active = 1;
	return SC_OK;
}

const sc_tensor *du_plain_copy_run(du_plain_copy *c, op_kernel *k, int i,
				   sc_tensor *tmp, const char *label,
				   sc_error *err)
{
	if (!c->active)
		return k->in[i];
	*tmp = *k->in[i];
	tmp->data = du_scratch_at(k->env, c->off);
	tmp->nbytes = (size_t)tmp->numel * tensor_dtype_size(tmp->dtype);
	tmp->owned = 0;
	if (du_reorder_run(&c->r, k->env, k->in[i]->data, tmp->data, label, err))
		return NULL;
	return tmp;
}

void du_plain_copy_destroy(du_plain_copy *c)
{
	du_reorder_destroy(&c->r);
	memset(c, 0, sizeof *c);
}

/* --- window geometry ---------------------------------------------------- */

int du_window_init(du_window *w, const op_kernel *k, const sc_tensor *x,
		   const int64_t *kernel, int ceil_mode, const char *label,
		   sc_error *err)
{
	const graph_node *n = k->node;
	const int64_t *ks = NULL, *st = NULL, *dl = NULL, *pd = NULL;
	int nk = infer_attr_ints(n, "kernel_shape", &ks);
	int nst = infer_attr_ints(n, "strides", &st);
	int ndl = infer_attr_ints(n, "dilations", &dl);
	int npd = infer_attr_ints(n, "pads", &pd);
	int mode = infer_auto_pad(n);
	int ns = x->rank - 2;

	memset(w, 0, sizeof *w);
	if (ns < 1)
		return sc_fail(err, SC_EINVAL,
			       "%s: input has rank %d, expected at least 3 (N, C and a spatial axis)",
			       label, x->rank);
	if (ns > DU_MAX_SPATIAL)
		return sc_fail(err, SC_EUNSUPPORTED,
			       "%s: %d spatial axes; at most %d are supported",
			       label, ns, DU_MAX_SPATIAL);
	if (mode < 0)
		return sc_fail(err, SC_EINVAL,
			       "%s: auto_pad must be NOTSET, VALID, SAME_UPPER or SAME_LOWER",
			       label);
	if (nk < 0 && !kernel)
		return sc_fail(err, SC_EINVAL, "%s: kernel_shape is required", label);
	if ((nk >= 0 && nk != ns) || (nst >= 0 && nst != ns) ||
	    (ndl >= 0 && ndl != ns) || (npd >= 0 && npd != 2 * ns))
		return sc_fail(err, SC_EINVAL,
			       "%s: kernel_shape, strides and dilations need %d values and pads %d for input rank %d",
			       label, ns, 2 * ns, x->rank);
	w->ns = ns;
	for (int i = 0; i < ns; i++) {
		w->kernel[i] = nk >= 0 ? ks[i] : kernel[i];
		w->stride[i] = nst >= 0 ? st[i] : 1;
		w->dilation[i] = ndl >= 0 ? dl[i] : 1;
		w->pad_l[i] = npd >= 0 ? pd[i] : 0;
		w->pad_r[i] = npd >= 0 ? pd[ns + i] : 0;
		int64_t in = x->dims[2 + i];
		if (infer_window_out(in, w->kernel[i], w->stride[i],
				     w->dilation[i], mode, ceil_mode, &w->pad_l[i],
				     &w->pad_r[i], &w->out[i]))
			return sc_fail(err, SC_EINVAL,
				       "%s: spatial axis %d: a window of %lld taps (stride %lld, dilation %lld, pads %lld+%lld) does not fit input size %lld",
				       label, i, (long long)w->kernel[i],
				       (long long)w->stride[i],
				       (long long)w->dilation[i],
				       (long long)w->pad_l[i],
				       (long long)w->pad_r[i], (long long)in);
		int64_t eff = (w->kernel[i] - 1) * w->dilation[i] + 1;
		int64_t need = (w->out[i] - 1) * w->stride[i] + eff - in - w->pad_l[i];
		w->pad_r_ext[i] = need > w->pad_r[i] ? need : w->pad_r[i];
	}
	return SC_OK;
}

/* --- element access ----------------------------------------------------- */

double du_load(const void *p, int dtype, int64_t i)
{
	switch (dtype) {
	case SC_FLOAT: return ((const float *)p)[i];
	case SC_DOUBLE: return ((const double *)p)[i];
	case SC_FLOAT16: return tensor_half_to_float(((const uint16_t *)p)[i]);
	case SC_BFLOAT16: return tensor_bf16_to_float(((const uint16_t *)p)[i]);
	case SC_INT8: return ((const int8_t *)p)[i];
	case SC_UINT8: case SC_BOOL: return ((const uint8_t *)p)[i];
	case SC_INT16: return ((const int16_t *)p)[i];
	case SC_UINT16: return ((const uint16_t *)p)[i];
	case SC_INT32: return ((const int32_t *)p)[i];
	case SC_UINT32: return ((const uint32_t *)p)[i];
	case SC_INT64: return (double)((const int64_t *)p)[i];
	case SC_UINT64: return (double)((const uint64_t *)p)[i];
	default: return 0.0;
	}
}

void du_store(void *p, int dtype, int64_t i, double v)
{
	switch (dtype) {
	case SC_FLOAT: ((float *)p)[i] = (float)v; break;
	case SC_DOUBLE: ((double *)p)[i] = v; break;
	case SC_FLOAT16: ((uint16_t *)p)[i] = tensor_float_to_half((float)v); break;
	case SC_BFLOAT16: ((uint16_t *)p)[i] = tensor_float_to_bf16((float)v); break;
	case SC_INT8: ((int8_t *)p)[i] = (int8_t)v; break;
	case SC_UINT8: ((uint8_t *)p)[i] = (uint8_t)v; break;
	case SC_BOOL: ((uint8_t *)p)[i] = v != 0; break;
	case SC_INT16: ((int16_t *)p)[i] = (int16_t)v; break;
	case SC_UINT16: ((uint16_t *)p)[i] = (uint16_t)v; break;
	case SC_INT32: ((int32_t *)p)[i] = (int32_t)v; break;
	case SC_UINT32: ((uint32_t *)p)[i] = (uint32_t)v; break;
	case SC_INT64: ((int64_t *)p)[i] = (int64_t)v; break;
	case SC_UINT64: ((uint64_t *)p)[i] = (uint64_t)v; break;
	default: break;
	}
}

/* --- graph facts --------------------------------------------------------- */

int du_input_is_constant(const op_kernel *k, int i)
{
	if (i >= k->node->n_inputs || k->node->inputs[i] < 0)
		return 0;
	int f = k->g->values[k->node->inputs[i]].flags;
	return (f & VALUE_INITIALIZER) && !(f & VALUE_INPUT);
}

const char *du_label(const op_kernel *k, char *buf, size_t len)
{
	return op_node_label(k->g, k->node, buf, len);
}

int du_bn_mds(const sc_tensor *x, int64_t n, int64_t c, int64_t inner,
	      dnnl_memory_desc_t *x_md, dnnl_memory_desc_t *p_md,
	      const char *label, sc_error *err)
{
	int64_t view[3] = {n, c, inner};
	int rc;
	/* keep X's own shape when oneDNN can take it; else a 2-D/3-D view */
	if (x->rank <= 5 && c == x->dims[1])
		rc = du_plain_md(x_md, x->rank, x->dims, dnnl_f32, label, err);
	else
		rc = du_plain_md(x_md, inner == 1 ? 2 : 3, view, dnnl_f32, label,
				 err);
	if (!rc)
		rc = du_plain_md(p_md, 1, &c, dnnl_f32, label, err);
	return rc;
}

void du_channel_stats(const sc_tensor *x, int64_t n, int64_t c, int64_t inner,
		      int64_t ch, double *mean, double *var)
{
	double sum = 0, sq = 0;
	int64_t count = n * inner;
	for (int64_t b = 0; b < n; b++) {
		int64_t base = (b * c + ch) * inner;
		for (int64_t j = 0; j < inner; j++)
			sum += du_load(x->data, x->dtype, base + j);
	}
	*mean = count ? sum / (double)count : 0.0;
	for (int64_t b = 0; b < n; b++) {
		int64_t base = (b * c + ch) * inner;
		for (int64_t j = 0; j < inner; j++) {
			double d = du_load(x->data, x->dtype, base + j) - *mean;
			sq += d * d;
		}
	}
	*var = count ? sq / (double)count : 0.0;
}

int du_chan_layout_of(const dnnl_memory_desc_t *md, int64_t n, int64_t c,
		      int64_t inner, du_chan_layout *l)
{
	if (!md) {
		*l = (du_chan_layout){1, c * inner, inner, 1};
		return 1;
	}
	const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
	int r = md->ndims;
	if (md->format_kind != dnnl_blocked || md->offset0 != 0 || r < 2 ||
	    md->dims[0] != n || md->dims[1] != c)
		return 0;
	int64_t block = 1;
	if (b->inner_nblks == 1 && b->inner_idxs[0] == 1)
		block = b->inner_blks[0];
	else if (b->inner_nblks != 0)
		return 0;
	/* spatial axes packed row-major, each step `ss` apart */
	int64_t ss = r > 2 ? b->strides[r - 1] : 1, want = ss, count = 1;
	for (int i = r - 1; i >= 2; i--) {
		if (b->strides[i] != want)
			return 0;
		want *= md->dims[i];
		count *= md->dims[i];
	}
	if (count != inner || (block > 1 && ss != block))
		return 0;
	*l = (du_chan_layout){block, b->strides[0], b->strides[1], ss};
	return 1;
}

static int du_max_threads(void)
{
#ifdef _OPENMP
	return omp_get_max_threads();
#else
	return 1;
#endif
}

size_t du_bn_stats_work(int64_t c)
{
	return 2 * (size_t)c * (size_t)du_max_threads();
}

/* Sums of (x - k) and (x - k)^2 over `len` positions `ss` apart, for
 * `block` consecutive channels, into sum[] and sq[].  The shift k (one
 * sample of each channel) keeps E[d^2] - E[d]^2 from cancelling when the
 * mean is large against the spread.  Partial sums are kept in float over
 * short runs (which vectorizes) and added up in double. */
enum { DU_STATS_RUN = 128, DU_STATS_MAX_BLOCK = 64 };

static void du_stats_block(const float *p, int64_t len, int64_t ss,
			   int64_t block, const float *k, double *sum, double *sq)
{
	float fs[DU_STATS_MAX_BLOCK], fq[DU_STATS_MAX_BLOCK];
	for (int64_t s0 = 0; s0 < len; s0 += DU_STATS_RUN) {
		int64_t s1 = s0 + DU_STATS_RUN < len ? s0 + DU_STATS_RUN : len;
		for (int64_t l = 0; l < block; l++)
			fs[l] = fq[l] = 0;
		for (int64_t s = s0; s < s1; s++) {
			const float *q = p + s * ss;
			#pragma omp simd
			for (int64_t l = 0; l < block; l++) {
				float d = q[l] - k[l];
				fs[l] += d;
				fq[l] += d * d;
			}
		}
		for (int64_t l = 0; l < block; l++) {
			sum[l] += fs[l];
			sq[l] += fq[l];
		}
	}
}

static void du_stats_plane(const float *p, int64_t len, int64_t ss, float k,
			   double *sum, double *sq)
{
	for (int64_t s0 = 0; s0 < len; s0 += DU_STATS_RUN) {
		int64_t s1 = s0 + DU_STATS_RUN < len ? s0 + DU_STATS_RUN : len;
		float fs = 0, fq = 0;
		#pragma omp simd reduction(+:fs, fq)
		for (int64_t s = s0; s < s1; s++) {
			float d = p[s * ss] - k;
			fs += d;
			fq += d * d;
		}
		*sum += fs;
		*sq += fq;
	}
}

static int64_t du_chan_offset(const du_chan_layout *l, int64_t b, int64_t ch,
			      int64_t s)
{
	return b * l->sn + ch / l->block * l->scb + ch % l->block + s * l->ss;
}

void du_bn_stats(const float *x, const du_chan_layout *l, int64_t n,
		 int64_t c, int64_t inner, float *mean, float *var,
		 double *work)
{
	int64_t block = l->block > 1 && l->block <= DU_STATS_MAX_BLOCK ? l->block : 1;
	int64_t nb = (c + block - 1) / block;
	int threads = du_max_threads();
	size_t per = 2 * (size_t)c;
	/* threads that get no share must still leave zeros; the shift goes
	 * in mean[] until the end, padded to whole blocks with zeros */
	memset(work, 0, per * (size_t)threads * sizeof *work);
	if (n * inner == 0) {
		for (int64_t ch = 0; ch < c; ch++)
			mean[ch] = var[ch] = 0;
		return;
	}
	float shift[DU_STATS_MAX_BLOCK];
	for (int64_t ch = 0; ch < c; ch++)
		mean[ch] = x[du_chan_offset(l, 0, ch, 0)];
	#pragma omp parallel num_threads(threads) private(shift)
	{
#ifdef _OPENMP
		int t = omp_get_thread_num();
#else
		int t = 0;
#endif
		double *sum = work + (size_t)t * per, *sq = sum + c;
		#pragma omp for schedule(static)
		for (int64_t it = 0; it < n * nb; it++) {
			int64_t b = it / nb, cb = it % nb;
			if (block > 1) {
				double s1[DU_STATS_MAX_BLOCK] = {0}, s2[DU_STATS_MAX_BLOCK] = {0};
				for (int64_t i = 0; i < block; i++)
					shift[i] = cb * block + i < c ? mean[cb * block + i] : 0;
				du_stats_block(x + b * l->sn + cb * l->scb, inner,
					       l->ss, block, shift, s1, s2);
				for (int64_t i = 0; i < block && cb * block + i < c; i++) {
					sum[cb * block + i] += s1[i];
					sq[cb * block + i] += s2[i];
				}
			} else {
				du_stats_plane(x + du_chan_offset(l, b, cb, 0), inner,
					       l->ss, mean[cb], &sum[cb], &sq[cb]);
			}
		}
	}
	double count = (double)n * (double)inner;
	for (int64_t ch = 0; ch < c; ch++) {
		double s1 = 0, s2 = 0;
		for (int t = 0; t < threads; t++) {
			s1 += work[(size_t)t * per + (size_t)ch];
			s2 += work[(size_t)t * per + (size_t)c + (size_t)ch];
		}
		double d = s1 / count, v = s2 / count - d * d;
		mean[ch] = (float)((double)mean[ch] + d);
		var[ch] = (float)(v > 0 ? v : 0.0);
	}
}
