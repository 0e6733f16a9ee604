/* broadcast.h: numpy-style (multidirectional) broadcasting for the
 * elementwise kernels.
 *
 * prepare computes the output shape with bcast_shape() and an iteration
 * plan with bcast_init(): the output's axes with the size-1 ones dropped
 * and neighbours merged wherever every input walks them as one (both
 * contiguous, or both broadcast), plus each input's byte stride per merged
 * axis.  After merging, the innermost axis is one every input either walks
 * element by element (step 1) or does not move along at all (step 0), so
 * same-shape operands become one flat run, a scalar operand a step-0 run,
 * and a bias row or per-channel vector a short outer loop around long runs.
 *
 * run calls bcast_run() with the data pointers and an inner loop; it cuts
 * the output into runs of the innermost axis and spreads them (or, for a
 * single run, pieces of it) over OpenMP threads once the output holds
 * BCAST_PARALLEL_MIN elements.  The plan holds no pointers, so a plan made
 * in prepare stays valid wherever the executor places the tensors. */
#ifndef SUPCON_OPS_BROADCAST_H
#define SUPCON_OPS_BROADCAST_H

#include <stddef.h>
#include <stdint.h>

#include "../runtime/status.h"
#include "../runtime/tensor.h"

#define BCAST_MAX_IN 3
#define BCAST_PARALLEL_MIN 32768

typedef struct bcast {
	int n_in;
	int rank;                              /* merged axes, >= 1 */
	int64_t dims[SC_MAX_RANK];
	int64_t strides[BCAST_MAX_IN][SC_MAX_RANK];  /* bytes; 0 = broadcast */
	int step[BCAST_MAX_IN];                /* innermost axis: 1 or 0 */
	size_t in_size[BCAST_MAX_IN];          /* bytes per input element */
	size_t out_size;                       /* bytes per output element */
	int64_t numel;                         /* output elements */
} bcast;

/* The inner loop: writes n output elements at out from inputs in[i], which
 * advance one element per output element when step[i] is 1 and stay put
 * when it is 0.  ctx is what the caller handed to bcast_run(). */
typedef void (*bcast_loop_fn)(const void *ctx, void *out,
			      const void *const *in, const int *step,
			      int64_t n);

/* Broadcast shape of in[0..n) into *rank and dims.  Fails with SC_EINVAL
 * ("<label>: input 1 has shape [4], which does not broadcast to [2,3]")
 * when two sizes differ and neither is 1. */
int bcast_shape(int n, const sc_tensor *const *in, int *rank, int64_t *dims,
		const char *label, sc_error *err);

/* Plans the walk of an output of shape (rank, dims) whose elements are
 * out_size bytes over the n (<= BCAST_MAX_IN) inputs, each of which must
 * broadcast to that shape. */
void bcast_init(bcast *b, int n, const sc_tensor *const *in, int rank,
		const int64_t *dims, size_t out_size);

/* Runs fn over the whole output. */
void bcast_run(const bcast *b, void *out, const void *const *in,
	       bcast_loop_fn fn, const void *ctx);

/* Writes "[2,3,4]" into buf; returns buf. */
const char *bcast_dims_str(int rank, const int64_t *dims, char *buf,
			   size_t len);

#endif
