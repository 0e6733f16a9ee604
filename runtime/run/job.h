/* job.h: the kinds of job behind supcon_job_* (runtime/api_job.c): each
 * kind has a table of keys (name, type, range, default) that
 * supcon_job_set() checks a value against alone, and a runner that does
 * what the CLI command of the same name does, printing to run_output()
 * and recording the numbers and texts it produced.  Internal. */
#ifndef SUPCON_RUN_JOB_H
#define SUPCON_RUN_JOB_H

#include "run.h"

typedef enum run_key_type {
	RUN_KEY_STR,
	RUN_KEY_INT,     /* a whole number in [lo, hi] */
	RUN_KEY_DBL,     /* a number in [lo, hi] */
	RUN_KEY_NUM,     /* a finite number >= 0 */
	RUN_KEY_FLAG,    /* "1" / "0" (or "true" / "false") */
} run_key_type;

typedef struct run_key {
	const char *name;
	run_key_type type;
	long long ilo, ihi;      /* RUN_KEY_INT */
	double lo, hi;           /* RUN_KEY_DBL */
	const char *dflt;        /* NULL: none (required, or absent) */
} run_key;

#define RUN_JOB_MAX_RESULTS 64

/* What a runner sees: the options given and where results go. */
typedef struct run_job {
	const struct run_job_kind *kind;
	run_keys keys;
	int n_num;
	char num_key[RUN_JOB_MAX_RESULTS][48];
	double num[RUN_JOB_MAX_RESULTS];
	int n_text;
	char text_key[16][48];
	char *text[16];
} run_job;

typedef struct run_job_kind {
	const char *name;
	const run_key *keys;
	int n_keys;
	int run_options;         /* also takes every run_config key */
	int (*run)(run_job *j, sc_error *err);
} run_job_kind;

/* The kind called name, or NULL. */
const run_job_kind *run_job_kind_find(const char *name);

/* SC_EINVAL naming --key when key is not one of the kind's or value does
 * not fit its type and range. */
int run_job_check(const run_job_kind *k, const char *key, const char *value,
		  sc_error *err);

/* The key's value (its default when not given): integers and numbers
 * were checked against the range when set. */
const char *run_job_str(const run_job *j, const char *key);
long long run_job_int(const run_job *j, const char *key);
double run_job_dbl(const run_job *j, const char *key);
int run_job_flag(const run_job *j, const char *key);

/* Records a result (a key recorded again takes the new value).  A NaN
 * is not recorded: the job did not produce that number. */
int run_job_number(run_job *j, const char *key, double v, sc_error *err);
int run_job_text(run_job *j, const char *key, const char *v, sc_error *err);

void run_job_clear_results(run_job *j);

/* The runners, one per kind (run_jobs.c, job_build.c, job_grad.c,
 * job_sgemm.c). */
int run_job_train(run_job *j, sc_error *err);
int run_job_linear(run_job *j, sc_error *err);
int run_job_export(run_job *j, sc_error *err);
int run_job_eval(run_job *j, sc_error *err);
int run_job_embed(run_job *j, sc_error *err);
int run_job_build(run_job *j, sc_error *err);
int run_job_grad(run_job *j, sc_error *err);
int run_job_sgemm(run_job *j, sc_error *err);

#endif
