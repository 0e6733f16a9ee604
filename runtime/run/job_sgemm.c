/* job_sgemm.c: the sgemm job (`supcon bench --sgemm N`): C = A B on
 * n x n float matrices with oneDNN's sgemm, the best of `repeat` runs
 * after one warm-up: the float32 rate this machine's cores reach on the
 * best-case product, which the GFLOP/s figures of `supcon bench` are
 * fractions of. */
#include "job.h"

#include <stdlib.h>
#include <time.h>

#include <dnnl.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

int run_job_sgemm(run_job *j, sc_error *err)
{
	/* ranges were checked when the keys were set */
	long long n = run_job_int(j, "sgemm"), threads = run_job_int(j, "threads");
	long long repeat = run_job_int(j, "repeat");
#ifdef _OPENMP
	if (threads > 0)
		omp_set_num_threads((int)threads);
#endif
	size_t count = (size_t)n * (size_t)n;
	float *m = malloc(3 * count * sizeof *m);
	if (!m)
		return sc_fail(err, SC_ENOMEM, "--sgemm %lld: out of memory", n);
	for (size_t i = 0; i < 2 * count; i++)
		m[i] = (float)(i % 17) * 0.01f;
	double best = 0;
	for (long long r = 0; r <= repeat; r++) {
		double t0 = now_ms();
		dnnl_status_t st = dnnl_sgemm('N', 'N', n, n, n, 1.0f, m, n,
					      m + count, n, 0.0f, m + 2 * count, n);
		double dt = now_ms() - t0;
		if (st != dnnl_success) {
			free(m);
			return sc_fail(err, SC_EINTERNAL, "dnnl_sgemm failed (status %d)",
				       (int)st);
		}
		if (r > 0 && (best == 0 || dt < best))
			best = dt;
	}
	free(m);
	double gflop = 2.0 * (double)n * (double)n * (double)n * 1e-9;
	double rate = gflop * 1e3 / best;
	run_printf("sgemm: %lld x %lld x %lld, %lld timed runs\n", n, n, n, repeat);
	run_printf("threads: %s\n", threads ? "as given" : "default");
	run_printf("min_ms: %.3f\n", best);
	run_printf("sgemm_gflop_per_s: %.1f\n", rate);
	int rc = run_job_number(j, "min_ms", best, err);
	if (!rc)
		rc = run_job_number(j, "sgemm_gflop_per_s", rate, err);
	return rc;
}
