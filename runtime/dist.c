/* dist.c: the MPI calls behind dist.h, and their single-process stand-ins.
 *
 * Built with SUPCON_HAVE_MPI when CMake found MPI.  The world is joined
 * only under an MPI launcher: a plain `supcon train` never initialises
 * MPI, so single-process runs behave exactly as in a build without it.
 *
 * The watchdog is a thread that wakes once a second and looks at when the
 * current blocking collective started.  It never calls MPI (the library
 * runs at MPI_THREAD_FUNNELED); it ends the process with _exit(1), and
 * mpirun, seeing a rank fail, ends the rest of the job. */
#include "dist.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef SUPCON_HAVE_MPI
#include <mpi.h>
#endif

#define DIST_DEFAULT_TIMEOUT 600.0

static struct {
	int joined;             /* MPI_Init_thread was called by us */
	int rank, size, local_size;
	int bn_sync;            /* inside dist_bn_sync_begin/end */
	uint64_t bytes;
	double *gather;         /* dist_bn_stats' all-gather buffer */
	size_t gather_cap;
#ifdef SUPCON_HAVE_MPI
	MPI_Request *reqs;
	int n_reqs, cap_reqs;
#endif
	/* watchdog */
	double timeout;
	_Atomic double busy_since;     /* 0: not inside a blocking collective */
	const char *_Atomic busy_what;
	pthread_t dog;
	int dog_running;
	pthread_mutex_t dog_mu;
	pthread_cond_t dog_cv;
	int dog_quit;
} D = {
	.rank = 0, .size = 1, .local_size = 1, .timeout = DIST_DEFAULT_TIMEOUT,
	.dog_mu = PTHREAD_MUTEX_INITIALIZER, .dog_cv = PTHREAD_COND_INITIALIZER,
};


int dist_available(void)
{
#ifdef SUPCON_HAVE_MPI
	return 1;
#else
	return 0;
#endif
}

int dist_rank(void) { return D.rank; }
int dist_local_size(void) { return D.local_size; }
int dist_size(void) { return D.size; }
uint64_t dist_bytes_sent(void) { return D.bytes; }
void dist_bytes_reset(void) { D.bytes = 0; }

void dist_set_timeout(double seconds)
{
	D.timeout = seconds > 0 ? seconds : 0;
}

/* The world size an MPI launcher announced in the environment, or 0 when
 * the process was not started by one. */
static long launcher_size(void)
{
	static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE",
					   "PMIX_SIZE", "MPI_LOCALNRANKS"};
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
		const char *v = getenv(vars[i]);
		if (v && *v)
			return strtol(v, NULL, 10);
	}
	return getenv("PMIX_RANK") ? 1 : 0;
}

int dist_launched_ranks(void)
{
	long n = launcher_size();
	return n > 0 && n < INT_MAX ? (int)n : 0;
}

/* --- the watchdog ------------------------------------------------------- */

#ifdef SUPCON_HAVE_MPI
static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *watchdog_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&D.dog_mu);
	while (!D.dog_quit) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&D.dog_cv, &D.dog_mu, &ts);
		double since = atomic_load(&D.busy_since);
		if (D.dog_quit || since <= 0 || D.timeout <= 0)
			continue;
		double waited = now_s() - since;
		if (waited > D.timeout) {
			const char *what = atomic_load(&D.busy_what);
			fprintf(stderr, "supcon: rank %d: %s has waited %.0f s for the "
				"other ranks (--dist-timeout %.0f): a rank is stuck or "
				"gone; ending this one\n", D.rank, what ? what : "a collective",
				waited, D.timeout);
			fflush(stderr);
			_exit(1);
		}
	}
	pthread_mutex_unlock(&D.dog_mu);
	return NULL;
}

static void watch_begin(const char *what)
{
	atomic_store(&D.busy_what, what);
	atomic_store(&D.busy_since, now_s());
}

static void watch_end(void)
{
	atomic_store(&D.busy_since, 0.0);
}
#endif

/* --- life cycle ----------------------------------------------------------- */

int dist_init(sc_error *err)
{
	if (D.joined)
		return SC_OK;
	long size = launcher_size();
#ifndef SUPCON_HAVE_MPI
	if (size > 1)
		return sc_fail(err, SC_EUNSUPPORTED, "started as one of %ld MPI ranks, "
			       "but this supcon was built without MPI (install "
			       "libopenmpi-dev and rebuild); each rank would train "
			       "alone", size);
	return SC_OK;
#else
	if (size < 1)
		return SC_OK;
	int provided = 0;
	if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
		return sc_fail(err, SC_EINTERNAL, "MPI_Init_thread failed");
	D.joined = 1;
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	MPI_Comm_rank(MPI_COMM_WORLD, &D.rank);
	MPI_Comm_size(MPI_COMM_WORLD, &D.size);
	MPI_Comm node;
	if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, D.rank,
				MPI_INFO_NULL, &node) == MPI_SUCCESS) {
		MPI_Comm_size(node, &D.local_size);
		MPI_Comm_free(&node);
	}
	if (D.size > 1 && pthread_create(&D.dog, NULL, watchdog_main, NULL) == 0)
		D.dog_running = 1;
	return SC_OK;
#endif
}

void dist_finalize(void)
{
	if (D.dog_running) {
		pthread_mutex_lock(&D.dog_mu);
		D.dog_quit = 1;
		pthread_cond_signal(&D.dog_cv);
		pthread_mutex_unlock(&D.dog_mu);
		pthread_join(D.dog, NULL);
		D.dog_running = 0;
	}
	free(D.gather);
	D.gather = NULL;
	D.gather_cap = 0;
#ifdef SUPCON_HAVE_MPI
	free(D.reqs);
	D.reqs = NULL;
	D.n_reqs = D.cap_reqs = 0;
	if (D.joined)
		MPI_Finalize();
#endif
	D.joined = 0;
	D.rank = 0;
	D.size = 1;
	D.local_size = 1;
}

void dist_abort(int code)
{
	fflush(stdout);
	fflush(stderr);
#ifdef SUPCON_HAVE_MPI
	if (D.joined && D.size > 1)
		MPI_Abort(MPI_COMM_WORLD, code);
#else
	(void)code;
#endif
}

/* --- collectives ---------------------------------------------------------- */

#ifdef SUPCON_HAVE_MPI
static int mpi_failed(int rc, const char *what, sc_error *err)
{
	char text[MPI_MAX_ERROR_STRING] = "";
	int len = 0;
	MPI_Error_string(rc, text, &len);
	return sc_fail(err, SC_EINTERNAL, "rank %d: %s failed: %s", D.rank, what,
		       text);
}

static int check_count(int64_t n, const char *what, sc_error *err)
{
	if (n < 0 || n > INT_MAX)
		return sc_fail(err, SC_EINVAL, "%s of %lld elements: above MPI's "
			       "int count", what, (long long)n);
	return SC_OK;
}
#endif

#ifdef SUPCON_HAVE_MPI
static void count_allreduce(size_t bytes)
{
	D.bytes += (uint64_t)(2.0 * (double)(D.size - 1) / D.size * (double)bytes);
}
#endif

int dist_barrier(sc_error *err)
{
	if (D.size <= 1)
		return SC_OK;
#ifdef SUPCON_HAVE_MPI
	watch_begin("MPI_Barrier");
	int rc = MPI_Barrier(MPI_COMM_WORLD);
	watch_end();
	if (rc != MPI_SUCCESS)
		return mpi_failed(rc, "MPI_Barrier", err);
#endif
	(void)err;
	return SC_OK;
}

#ifdef SUPCON_HAVE_MPI
static int allreduce(void *v, int64_t n, MPI_Datatype type, size_t elem,
		     const char *what, sc_error *err)
{
	int rc = check_count(n, what, err);
	if (rc)
		return rc;
	watch_begin(what);
	rc = MPI_Allreduce(MPI_IN_PLACE, v, (int)n, type, MPI_SUM, MPI_COMM_WORLD);
	watch_end();
	if (rc != MPI_SUCCESS)
		return mpi_failed(rc, what, err);
	count_allreduce((size_t)n * elem);
	return SC_OK;
}
#endif

int dist_allreduce_sum_f64(double *v, int64_t n, sc_error *err)
{
	if (D.size <= 1)
		return SC_OK;
#ifdef SUPCON_HAVE_MPI
	return allreduce(v, n, MPI_DOUBLE, sizeof *v, "MPI_Allreduce (double)", err);
#else
	(void)v, (void)n, (void)err;
	return SC_OK;
#endif
}

int dist_allreduce_sum_f32(float *v, int64_t n, sc_error *err)
{
	if (D.size <= 1)
		return SC_OK;
#ifdef SUPCON_HAVE_MPI
	return allreduce(v, n, MPI_FLOAT, sizeof *v, "MPI_Allreduce (float)", err);
#else
	(void)v, (void)n, (void)err;
	return SC_OK;
#endif
}

int dist_allgather(const void *in, size_t n, void *out, sc_error *err)
{
	if (D.size <= 1) {
		if (n && out != in)
			memmove(out, in, n);
		return SC_OK;
	}
#ifdef SUPCON_HAVE_MPI
	int rc = check_count((int64_t)n, "MPI_Allgather", err);
	if (rc)
		return rc;
	watch_begin("MPI_Allgather");
	rc = MPI_Allgather(in, (int)n, MPI_BYTE, out, (int)n, MPI_BYTE,
			   MPI_COMM_WORLD);
	watch_end();
	if (rc != MPI_SUCCESS)
		return mpi_failed(rc, "MPI_Allgather", err);
	D.bytes += (uint64_t)(D.size - 1) * n;
#else
	(void)err;
#endif
	return SC_OK;
}

int dist_bcast(void *buf, size_t n, int root, sc_error *err)
{
	if (D.size <= 1)
		return SC_OK;
#ifdef SUPCON_HAVE_MPI
	int rc = check_count((int64_t)n, "MPI_Bcast", err);
	if (rc)
		return rc;
	watch_begin("MPI_Bcast");
	rc = MPI_Bcast(buf, (int)n, MPI_BYTE, root, MPI_COMM_WORLD);
	watch_end();
	if (rc != MPI_SUCCESS)
		return mpi_failed(rc, "MPI_Bcast", err);
	D.bytes += (uint64_t)((double)(D.size - 1) / D.size * (double)n);
#else
	(void)buf, (void)n, (void)root, (void)err;
#endif
	return SC_OK;
}

/* --- nonblocking all-reduce --------------------------------------------- */

int dist_reserve(int max_pending, sc_error *err)
{
#ifdef SUPCON_HAVE_MPI
	if (max_pending <= D.cap_reqs)
		return SC_OK;
	if (D.n_reqs)
		return sc_fail(err, SC_EINTERNAL, "dist_reserve with %d requests "
			       "pending", D.n_reqs);
	MPI_Request *r = realloc(D.reqs, (size_t)max_pending * sizeof *r);
	if (!r)
		return sc_fail(err, SC_ENOMEM, "out of memory for %d MPI requests",
			       max_pending);
	D.reqs = r;
	D.cap_reqs = max_pending;
#else
	(void)max_pending, (void)err;
#endif
	return SC_OK;
}

int dist_iallreduce_sum_f32(float *v, int64_t n, sc_error *err)
{
	if (D.size <= 1)
		return SC_OK;
#ifdef SUPCON_HAVE_MPI
	int rc = check_count(n, "MPI_Iallreduce", err);
	if (rc)
		return rc;
	if (D.n_reqs >= D.cap_reqs)
		return sc_fail(err, SC_EINTERNAL, "more than the %d reserved MPI "
			       "requests pending", D.cap_reqs);
	rc = MPI_Iallreduce(MPI_IN_PLACE, v, (int)n, MPI_FLOAT, MPI_SUM,
			    MPI_COMM_WORLD, &D.reqs[D.n_reqs]);
	if (rc != MPI_SUCCESS)
		return mpi_failed(rc, "MPI_Iallreduce", err);
	D.n_reqs++;
	count_allreduce((size_t)n * sizeof *v);
#else
	(void)v, (void)n, (void)err;
#endif
	return SC_OK;
}

void dist_progress(void)
{
#ifdef SUPCON_HAVE_MPI
	if (D.n_reqs) {
		int done = 0;
		MPI_Testall(D.n_reqs, D.reqs, &done, MPI_STATUSES_IGNORE);
		if (done)
			D.n_reqs = 0;
	}
#endif
}

int dist_wait_all(sc_error *err)
{
#ifdef SUPCON_HAVE_MPI
	if (!D.n_reqs)
		return SC_OK;
	watch_begin("MPI_Waitall (gradient buckets)");
	int rc = MPI_Waitall(D.n_reqs, D.reqs, MPI_STATUSES_IGNORE);
	watch_end();
	D.n_reqs = 0;
	if (rc != MPI_SUCCESS)
		return mpi_failed(rc, "MPI_Waitall", err);
#else
	(void)err;
#endif
	return SC_OK;
}

/* --- batch-norm statistics ------------------------------------------------ */

void dist_bn_sync_begin(void) { D.bn_sync = 1; }
void dist_bn_sync_end(void) { D.bn_sync = 0; }

int dist_bn_sync_active(void)
{
	return D.bn_sync && D.size > 1;
}

/* Chan et al.'s pairwise combination, done in rank order on every rank so
 * that every rank gets the same doubles: the global mean is the
 * count-weighted mean of the means, and the global biased variance the
 * weighted mean of (variance + squared distance of the rank's mean from
 * the global one). */
int dist_bn_stats(double *mean, double *var, int64_t c, int64_t count,
		  sc_error *err)
{
	if (D.size <= 1)
		return SC_OK;
	size_t per = 1 + 2 * (size_t)c;
	size_t need = per * (size_t)(D.size + 1);
	if (need > D.gather_cap) {
		double *g = realloc(D.gather, need * sizeof *g);
		if (!g)
			return sc_fail(err, SC_ENOMEM, "out of memory for the batch-"
				       "norm statistics of %lld channels", (long long)c);
		D.gather = g;
		D.gather_cap = need;
	}
	double *mine = D.gather + per * (size_t)D.size;
	mine[0] = (double)count;
	memcpy(mine + 1, mean, (size_t)c * sizeof *mean);
	memcpy(mine + 1 + c, var, (size_t)c * sizeof *var);
	int rc = dist_allgather(mine, per * sizeof *mine, D.gather, err);
	if (!rc)
		dist_combine_stats(D.gather, D.size, c, mean, var);
	return rc;
}

void dist_combine_stats(const double *per_rank, int ranks, int64_t c,
			double *mean, double *var)
{
	size_t per = 1 + 2 * (size_t)c;
	double total = 0;
	for (int r = 0; r < ranks; r++)
		total += per_rank[per * (size_t)r];
	if (total <= 0)
		return;
	for (int64_t ch = 0; ch < c; ch++) {
		double m = 0;
		for (int r = 0; r < ranks; r++) {
			const double *g = per_rank + per * (size_t)r;
			m += g[0] * g[1 + ch];
		}
		m /= total;
		double v = 0;
		for (int r = 0; r < ranks; r++) {
			const double *g = per_rank + per * (size_t)r;
			double d = g[1 + ch] - m;
			v += g[0] * (g[1 + c + ch] + d * d);
		}
		mean[ch] = m;
		var[ch] = v / total;
	}
}
