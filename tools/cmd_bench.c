/* cmd_bench.c: `supcon bench MODEL.onnx [--in NAME=FILE ...] [--batch B]
 * [--threads N] [--warmup N] [--repeat N]`, and `supcon bench --sgemm N`.
 *
 * Times supcon_session_run() alone: the model is loaded, the plan built
 * and the inputs made before the clock starts.  The first run prepares every node
 * and lays out the arena, so it is reported on its own line and, with the
 * default --warmup, kept out of the statistics.  The output is one
 * "key: value" per line for scripts; the last line is `median_ms: X`.
 * gflop counts the product ops the way papers count them (a Winograd
 * convolution does fewer multiplications than it is credited with), and
 * --sgemm measures the float32 rate they are a fraction of (the sgemm
 * job).  Everything goes through the public C API (runtime/supcon.h). */
#include "cli_api.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>


static cli_opt bench_opts[] = {
	{"in", 0, CLI_LIST, "NAME=FILE",
	 "input NAME from a .pb, a .png or random:SHAPE (e.g. random:16x3x224x224)",
	 0, 0, 0, 0},
	{"batch", 0, CLI_VALUE, "B",
	 "batch size for inputs without --in (their symbolic first dim; default 1)",
	 0, 0, 0, 0},
	{"threads", 0, CLI_VALUE, "N", "OpenMP threads (default: all cores)", 0, 0, 0, 0},
	{"warmup", 0, CLI_VALUE, "N", "untimed runs first (default 2)", 0, 0, 0, 0},
	{"repeat", 0, CLI_VALUE, "N", "timed runs (default 10)", 0, 0, 0, 0},
	{"seed", 0, CLI_VALUE, "N", "seed of the random inputs (default 1)", 0, 0, 0, 0},
	{"check-numerics", 0, CLI_FLAG, NULL, "stop at the first node whose output holds a "
	 "NaN or an infinity, and name it (a pass over every value)", 0, 0, 0, 0},
	{"max-memory", 0, CLI_VALUE, "SIZE", "refuse to hold more than SIZE (e.g. 512M, 2G) "
	 "of weights, activations and scratch", 0, 0, 0, 0},
	{"sgemm", 0, CLI_VALUE, "N",
	 "instead of a model, time oneDNN's sgemm on N x N matrices: the machine's "
	 "float32 peak, for GFLOP/s ratios", 0, 0, 0, 0},
};

static const cli_spec bench_spec = {
	.cmd = "bench",
	.synopsis = "MODEL.onnx [--in NAME=FILE ...] [--batch B] [--threads N] "
		    "[--warmup N] [--repeat N] | --sgemm N [--threads N]",
	.description =
		"Times repeated runs of MODEL.onnx after warm-up runs and prints the first\n"
		"run (which prepares every node and plans the memory), min/median/mean/max\n"
		"of the timed runs in ms, the throughput in items/s (the batch is the first\n"
		"dim of the model's first input), the activation arena against the sum of\n"
		"all intermediates, and the peak RSS. The last line is `median_ms: X`.\n"
		"Inputs come from --in like `supcon run`'s, or are made up: an input with\n"
		"no --in gets seeded uniform [0, 1) data of its declared shape, with a\n"
		"symbolic first dim set to --batch. gflop counts Conv (and its gradient\n"
		"passes), Gemm, MatMul and SupConLoss. --sgemm N times oneDNN's sgemm\n"
		"instead, the float32 peak those figures compare with. Examples:\n"
		"  supcon bench resnet50.onnx --batch 16 --threads 2\n"
		"  supcon bench --sgemm 2048 --threads 2",
	.opts = bench_opts,
	.n_opts = (int)(sizeof bench_opts / sizeof bench_opts[0]),
};

typedef struct bench_job {
	const char *model_path;
	long long threads, warmup, repeat, batch, seed;
	int batch_given;
	char options[128];        /* supcon_session_create_with's */
	supcon_session *s;
	cli_feed in;
	double *ms;
	double first_ms;
} bench_job;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int parse_bench_args(const cli_args *a, bench_job *job, cli_err *err)
{
	int rc;
	if ((rc = cli_one_model(&bench_spec, a, &job->model_path, err)))
		return rc;
	job->batch_given = cli_has(a, "batch");
	if ((rc = cli_int_option(a, "threads", 1, 4096, 0, &job->threads, err)) ||
	    (rc = cli_int_option(a, "warmup", 0, 1000000, 2, &job->warmup, err)) ||
	    (rc = cli_int_option(a, "repeat", 1, 1000000, 10, &job->repeat, err)) ||
	    (rc = cli_int_option(a, "batch", 1, 1 << 20, 1, &job->batch, err)) ||
	    (rc = cli_int_option(a, "seed", 0, INT64_MAX, 1, &job->seed, err)))
		return rc;
	return SUPCON_OK;
}

/* Random data for the inputs without --in. */
static int fill_inputs(bench_job *job, cli_err *err)
{
	int filled = 0;
	int rc = cli_feed_fill_random(job->s, job->batch_given ? job->batch : 0,
				      (uint64_t)job->seed, &job->in, &filled, err);
	if (rc != SUPCON_OK)
		return rc;
	if (job->batch_given && filled == 0)
		return cli_set_err(err, SUPCON_EINVAL, "--batch %lld: every input is given by --in, "
			       "so it would not be used", job->batch);
	return SUPCON_OK;
}

static int timed_runs(bench_job *job, cli_err *err)
{
	job->ms = malloc((size_t)job->repeat * sizeof *job->ms);
	if (!job->ms)
		return cli_set_err(err, SUPCON_ENOMEM, "out of memory");
	long long total = job->warmup + job->repeat;
	for (long long r = 0; r < total; r++) {
		double t0 = now_ms();
		supcon_status st = supcon_session_run(
			job->s, job->in.n, (const char *const *)job->in.names,
			(const supcon_tensor *const *)job->in.tensors);
		double dt = now_ms() - t0;
		if (st != SUPCON_OK)
			return cli_api_fail(err, st);
		if (r == 0)
			job->first_ms = dt;
		if (r >= job->warmup)
			job->ms[r - job->warmup] = dt;
	}
	return SUPCON_OK;
}

/* dim 0 of the model's first input, as bound in this run; 1 for a scalar */
static int64_t batch_of(const bench_job *job, const char **name)
{
	int n = 0;
	*name = NULL;
	supcon_session_input_count(job->s, &n);
	if (n > 0)
		supcon_session_input_name(job->s, 0, name);
	const supcon_tensor *t = *name ? cli_feed_find(&job->in, *name) : NULL;
	int rank = 0;
	int64_t dims[SUPCON_MAX_RANK];
	if (!t || supcon_tensor_info(t, NULL, &rank, dims, SUPCON_MAX_RANK) != SUPCON_OK)
		return 1;
	return rank > 0 ? dims[0] : 1;
}

static void print_inputs(const bench_job *job)
{
	const cli_feed *in = &job->in;
	for (int i = 0; i < in->n; i++) {
		printf("input: %s ", in->names[i]);
		cli_api_print_shape(stdout, in->tensors[i]);
		printf(" from %s\n", in->sources[i]);
	}
}

static void print_report(const bench_job *job)
{
	long long n = job->repeat;
	qsort(job->ms, (size_t)n, sizeof *job->ms, cmp_double);
	double sum = 0;
	for (long long i = 0; i < n; i++)
		sum += job->ms[i];
	double median = n % 2 ? job->ms[n / 2] : (job->ms[n / 2 - 1] + job->ms[n / 2]) / 2;
	const char *first_input;
	int64_t batch = batch_of(job, &first_input);
	size_t arena = 0, total = 0, peak = 0;
	double flops = 0;
	supcon_session_run_stats(job->s, &arena, &total, &peak, &flops);
	struct rusage ru;
	long peak_kib = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : 0;

	printf("model: %s\n", job->model_path);
	print_inputs(job);
	if (job->threads)
		printf("threads: %lld\n", job->threads);
	else
		printf("threads: default\n");
	printf("runs: %lld warm-up, %lld timed\n", job->warmup, job->repeat);
	printf("first_run_ms: %.3f (prepares the nodes and plans the arena)\n",
	       job->first_ms);
	printf("min_ms: %.3f\n", job->ms[0]);
	printf("mean_ms: %.3f\n", sum / (double)n);
	printf("max_ms: %.3f\n", job->ms[n - 1]);
	printf("throughput: %.2f items/s (batch %lld from %s)\n",
	       median > 0 ? (double)batch * 1e3 / median : 0.0, (long long)batch,
	       first_input ? first_input : "no input");
	printf("arena_bytes: %zu (%.1f MiB; all intermediates %.1f MiB", arena,
	       (double)arena / 1048576.0, (double)total / 1048576.0);
	if (total > 0)
		printf(", reuse saves %.0f%%", 100.0 * (1.0 - (double)arena / (double)total));
	printf(")\n");
	printf("plan_peak_bytes: %zu (%.1f MiB: weights, activations and kernel scratch)\n",
	       peak, (double)peak / 1048576.0);
	printf("peak_rss_kib: %ld (%.1f MiB)\n", peak_kib, (double)peak_kib / 1024.0);
	printf("gflop: %.3f per run\n", flops * 1e-9);
	printf("gflop_per_s: %.1f (at the minimum; %.1f at the median)\n",
	       job->ms[0] > 0 ? flops * 1e-6 / job->ms[0] : 0.0,
	       median > 0 ? flops * 1e-6 / median : 0.0);
	printf("median_ms: %.3f\n", median);
}

static int bench_job_do(const cli_args *a, bench_job *job, cli_err *err)
{
	const cli_opt *in = cli_find(a, "in");
	int rc;
	if ((rc = cli_api_session_options(a, job->threads, job->options,
					  sizeof job->options, err)) ||
	    (rc = cli_api_open(job->model_path, job->options, &job->s, err)) ||
	    (rc = cli_feed_load(job->s, in ? in->values : NULL, in ? in->n_values : 0,
				(uint64_t)job->seed, &job->in, err)) ||
	    (rc = fill_inputs(job, err)) || (rc = timed_runs(job, err)))
		return rc;
	print_report(job);
	return SUPCON_OK;
}

/* --sgemm: the sgemm job, with the options it shares with a model bench. */
static int sgemm_peak(const cli_args *a)
{
	static const char *const keys[] = {"sgemm", "threads", "repeat"};
	cli_err e = {0};
	supcon_job *j = NULL;
	supcon_status st = supcon_job_create("sgemm", &j);
	int rc = st ? cli_job_err(&e, NULL, st) : SUPCON_OK;
	for (int i = 0; !rc && i < 3; i++) {
		const char *v = cli_value(a, keys[i], NULL);
		if (v && (st = supcon_job_set(j, keys[i], v)))
			rc = cli_job_err(&e, j, st);
	}
	if (!rc && (st = supcon_job_set_output(j, stdout)))
		rc = cli_job_err(&e, j, st);
	if (!rc && (st = supcon_job_run(j)))
		rc = cli_job_err(&e, j, st);
	supcon_job_free(j);
	return rc ? cli_fail("bench", &e) : cli_finish("bench", CLI_EXIT_OK);
}

int cmd_bench(int argc, char **argv)
{
	cli_args args;
	int status;
	if (!cli_begin(&bench_spec, argc, argv, &args, &status))
		return status;
	cli_err err = {0};
	bench_job job;
	memset(&job, 0, sizeof job);
	int rc;
	if (cli_has(&args, "sgemm")) {
		rc = sgemm_peak(&args);
		cli_args_free(&args);
		return rc;
	} else {
		rc = parse_bench_args(&args, &job, &err);
		if (rc == SUPCON_OK)
			rc = bench_job_do(&args, &job, &err);
	}
	free(job.ms);
	cli_feed_free(&job.in);
	supcon_session_free(job.s);
	cli_args_free(&args);
	if (rc != SUPCON_OK)
		return cli_fail("bench", &err);
	return cli_finish("bench", CLI_EXIT_OK);
}
