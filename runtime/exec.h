/* exec.h: what the executor hands every kernel besides its tensors.
 *
 * One exec_env per plan.  It owns the oneDNN engine and stream that every
 * primitive of the plan is created on and runs on, and the scratch buffer
 * kernels may borrow during run (sized by the largest request made during
 * prepare; the executor gives a large one back after its node in a plan's
 * first run, and moves large ones into its arena for the runs after). */
#ifndef SUPCON_EXEC_H
#define SUPCON_EXEC_H

#include <stddef.h>

#include <dnnl.h>

#include "status.h"

typedef struct exec_env {
	dnnl_engine_t engine;
	dnnl_stream_t stream;
	int threads;
	void *scratch;
	size_t scratch_bytes;      /* allocated size */
	size_t scratch_request;    /* largest size asked for so far */
	size_t node_request;       /* largest since the executor reset it */
} exec_env;

int exec_env_init(exec_env *env, int threads, sc_error *err);
void exec_env_destroy(exec_env *env);

/* Called from prepare: records that run will need `bytes` of scratch. */
void exec_scratch_request(exec_env *env, size_t bytes);

/* Called from run: scratch of at least the size requested in prepare. */
void *exec_scratch(exec_env *env);

/* Executor only: grows the scratch buffer to the largest request. */
int exec_scratch_reserve(exec_env *env, sc_error *err);

/* Executor only: lowers the request to `bytes` and gives back a larger
 * buffer (the executor has moved the big users elsewhere). */
void exec_scratch_shrink(exec_env *env, size_t bytes);

/* Large buffers whose memory must go back to the system as soon as they
 * are freed: the activations of a plan's first run and the shared
 * scratch.  glibc serves a request below its mmap threshold, which rises
 * to the size of the largest block freed so far (up to 32 MiB), from its
 * heap, and keeps freed heap pages resident; the first run of a training
 * step frees hundreds of such buffers in an order that leaves holes, and
 * measured on a ResNet-18 SupCon step at 256 views the process held 500
 * MiB more than its live activations (peak RSS 1700 MiB against 1424 MiB
 * for every later step).  From EXEC_BUFFER_MAP_MIN bytes up these are
 * mapped and unmapped directly (64-byte aligned like the rest, being
 * page aligned); smaller ones, and all of them under AddressSanitizer,
 * whose redzones a mapping would lose, come from aligned_alloc.  Free
 * with the size given to exec_buffer_alloc(); NULL when out of memory. */
#define EXEC_BUFFER_MAP_MIN ((size_t)1 << 20)
void *exec_buffer_alloc(size_t bytes);
void exec_buffer_free(void *p, size_t bytes);

/* Turns a failed oneDNN status into an sc_error naming what failed. */
int exec_dnnl_check(dnnl_status_t st, const char *what, sc_error *err);

#endif
