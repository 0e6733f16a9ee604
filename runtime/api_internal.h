/* api_internal.h: what the files behind the public API (runtime/api*.c)
 * share: the handles' layouts and the error bookkeeping.  Nothing outside
 * runtime/api*.c includes it; users see only the opaque types of supcon.h.
 *
 * Error rule: every public function that can fail works with a local
 * sc_error and ends with api_done(), which records a failure's message in
 * the handle's own sc_error (when there is a handle) and in the calling
 * thread's last-error buffer, and clears the handle's on success. */
#ifndef SUPCON_API_INTERNAL_H
#define SUPCON_API_INTERNAL_H

#include "graph.h"
#include "plan.h"
#include "status.h"
#include "supcon.h"
#include "tensor.h"

struct supcon_tensor {
	sc_tensor t;
};

struct supcon_session {
	graph_model *m;        /* the model as loaded; the plan borrows it */
	plan *p;               /* NULL after set_threads until the next run */
	int threads;
	int check_numerics;    /* plan_options of every plan of the session */
	size_t max_memory;
	int n_inputs;          /* data inputs: graph inputs, not initializers */
	int *inputs;           /* their value indices in m */
	/* the gradient model of the last run_grad: a copy of m extended by
	 * autodiff for the names grad_names[0..n_grad) */
	graph_model *gm;
	plan *gp;
	char **grad_names;
	int n_grad;
	int *grad_value;       /* gradient value in gm per name, -1: zero */
	const plan *last;      /* plan of the last successful run, or NULL */
	/* the op histogram (supcon_session_op_kind), sorted by key */
	int n_op_kinds;
	char **op_keys;
	int64_t *op_counts;
	sc_error err;
};

/* Records the outcome of a call: see the comment at the top. */
supcon_status api_done(sc_error *handle_err, sc_error *err, int rc);

/* SC_EINVAL "FUNC: ARG is NULL" (for argument checks). */
int api_null(sc_error *err, const char *func, const char *arg);

/* Splits options "k=v,k=v" and calls apply(ctx, key, value, err) for
 * each pair in order, stopping at the first failure; func names the API
 * call in messages. */
int api_parse_options(const char *options, const char *func,
		      int (*apply)(void *ctx, const char *key, const char *val,
				   sc_error *err),
		      void *ctx, sc_error *err);

/* A new owned copy of t as a supcon_tensor. */
int api_tensor_copy(const sc_tensor *t, supcon_tensor **out, sc_error *err);

/* Fills s->op_keys / op_counts / n_op_kinds from s->m (api_model.c). */
int api_op_histogram(supcon_session *s, sc_error *err);

/* Decodes the PNG at path into a new owned float32 [1, C, H, W] tensor
 * in [0, 1] with the image's own channels (api_png.c; supcon.h's
 * supcon_tensor_load_png with channels 0 says how). */
int api_png_load_native(const char *path, sc_tensor *t, sc_error *err);

/* Sets OpenMP's thread count for the calling thread before a run (plans
 * set it only on the thread that created them). */
void api_use_threads(int threads);

#endif
