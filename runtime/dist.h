/* dist.h: the data-parallel layer: every MPI call of supcon lives behind
 * these functions, so the rest of the code builds and runs without MPI.
 *
 * A process is one rank of a world of dist_size() ranks.  dist_init()
 * joins the world when the process was started by an MPI launcher
 * (mpirun sets OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK); otherwise,
 * and always in a build without MPI, the world is this process alone and
 * every collective below is a copy or a no-op.  A build without MPI that
 * is launched as one of several ranks refuses in dist_init() with one
 * line saying so, since each rank would silently train on its own.
 *
 * Collectives follow MPI's rules: every rank calls the same ones in the
 * same order with the same sizes.  Only the thread that called
 * dist_init() may call them (MPI_THREAD_FUNNELED).  They return a status;
 * an MPI failure becomes SC_EINTERNAL naming the collective.  Blocking
 * collectives are watched: when one has not completed after the timeout
 * (dist_set_timeout; a peer that hangs without dying), the process says
 * so on stderr and exits with status 1, which makes mpirun end the job;
 * a peer that dies is noticed by mpirun, which ends the others.
 *
 * Every byte a collective sends is counted (dist_bytes_sent), for the
 * numbers on communication cost: an all-reduce of n bytes is counted as
 * a ring all-reduce sends it, 2 (K - 1) / K n per rank; an all-gather of
 * n bytes per rank as (K - 1) n; a broadcast of n bytes as n.
 *
 * Nonblocking all-reduces (dist_iallreduce_sum_f32) return at once; the
 * caller keeps the buffer untouched until dist_wait_all().  dist_progress()
 * gives MPI a chance to move them on between pieces of other work. */
#ifndef SUPCON_DIST_H
#define SUPCON_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* Joins the MPI world if launched by an MPI launcher (idempotent).
 * SC_EUNSUPPORTED when launched as one of several ranks by a build
 * without MPI. */
int dist_init(sc_error *err);
/* Leaves the world (MPI_Finalize) if dist_init() joined it. */
void dist_finalize(void);

/* The number of ranks an MPI launcher started (0: not started by one),
 * from the environment; needs no dist_init(). */
int dist_launched_ranks(void);

/* 1 when this build can talk MPI. */
int dist_available(void);
int dist_rank(void);
int dist_size(void);

/* Seconds a blocking collective may wait before the watchdog ends the
 * process (0: no watchdog).  Default 600. */
void dist_set_timeout(double seconds);

/* Ends every rank of the job with exit status code (MPI_Abort), for a
 * rank that failed while the others may wait for it in a collective.
 * The caller prints why first.  Returns when there is one rank. */
void dist_abort(int code);

int dist_barrier(sc_error *err);
/* In place over every rank: v[i] = sum over ranks of v[i]. */
int dist_allreduce_sum_f64(double *v, int64_t n, sc_error *err);
int dist_allreduce_sum_f32(float *v, int64_t n, sc_error *err);
/* Rank r's n bytes go to out + r * n on every rank. */
int dist_allgather(const void *in, size_t n, void *out, sc_error *err);
/* root's n bytes to every rank. */
int dist_bcast(void *buf, size_t n, int root, sc_error *err);

/* Starts an in-place sum of v[0..n) over ranks; v belongs to MPI until
 * dist_wait_all().  At most dist_reserve() requests may be pending. */
int dist_reserve(int max_pending, sc_error *err);
int dist_iallreduce_sum_f32(float *v, int64_t n, sc_error *err);
/* Lets pending requests advance; never blocks. */
void dist_progress(void);
/* Waits for every pending request. */
int dist_wait_all(sc_error *err);

/* Batch-norm statistics over ranks.  Between dist_bn_sync_begin() and
 * dist_bn_sync_end() (the trainer brackets its step with them under
 * --sync-bn) and when there is more than one rank, the training
 * BatchNormalization kernels normalise with the statistics of the global
 * batch: dist_bn_stats() turns each rank's per-channel mean and biased
 * variance over `count` values into those of all ranks' values (the same
 * doubles on every rank), and the backward sums its two per-channel
 * reductions with dist_allreduce_sum_f64(). */
void dist_bn_sync_begin(void);
void dist_bn_sync_end(void);
int dist_bn_sync_active(void);
int dist_bn_stats(double *mean, double *var, int64_t c, int64_t count,
		  sc_error *err);

/* The combination dist_bn_stats() does, on gathered rows: rank r's row
 * at per_rank + r (1 + 2 c) is its count, c means and c biased
 * variances; writes the statistics of all ranks' values together. */
void dist_combine_stats(const double *per_rank, int ranks, int64_t c,
			double *mean, double *var);

/* Ranks on this machine (shared memory), 1 without a world: the cores a
 * rank may use are the machine's divided by this. */
int dist_local_size(void);

/* Bytes this rank has sent in collectives since the last reset. */
uint64_t dist_bytes_sent(void);
void dist_bytes_reset(void);

#endif
