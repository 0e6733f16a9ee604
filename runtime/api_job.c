/* api_job.c: the job API of supcon.h (supcon_job_*): what every CLI
 * command beyond info/run/bench does, as a handle with keyed options and
 * keyed results over the run layer (runtime/run/job.h).  The kinds, their
 * keys and their runners live in runtime/run/; this file is the handle,
 * its order of calls and its errors. */
#include "api_internal.h"

#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "run/job.h"

struct supcon_job {
	run_job j;
	FILE *out;          /* progress and summaries; NULL: silent */
	int ran;            /* supcon_job_run was called */
	int ok;             /* ... and succeeded */
	sc_error err;
};

supcon_status supcon_job_create(const char *kind, supcon_job **out)
{
	sc_error err = {0};
	int rc = SC_OK;
	const run_job_kind *k = NULL;
	if (!out)
		rc = api_null(&err, "supcon_job_create", "out");
	else
		*out = NULL;
	if (!rc && !kind)
		rc = api_null(&err, "supcon_job_create", "kind");
	if (!rc && !(k = run_job_kind_find(kind)))
		rc = sc_fail(&err, SC_EINVAL, "supcon_job_create: unknown job kind "
			     "'%s' (train, linear, export, eval, embed, build, grad, "
			     "sgemm)", kind);
	supcon_job *j = NULL;
	if (!rc && !(j = calloc(1, sizeof *j)))
		rc = sc_fail(&err, SC_ENOMEM, "out of memory");
	if (!rc) {
		j->j.kind = k;
		*out = j;
	}
	return api_done(NULL, &err, rc);
}

void supcon_job_free(supcon_job *j)
{
	if (!j)
		return;
	run_job_clear_results(&j->j);
	run_keys_free(&j->j.keys);
	free(j);
}

const char *supcon_job_error(const supcon_job *j)
{
	return j ? j->err.msg : "supcon_job_error: job is NULL";
}

supcon_status supcon_job_set(supcon_job *j, const char *key, const char *value)
{
	sc_error err = {0};
	int rc = SC_OK;
	if (!j)
		return api_done(NULL, &err, api_null(&err, "supcon_job_set", "job"));
	if (!key)
		rc = api_null(&err, "supcon_job_set", "key");
	else if (!value)
		rc = sc_fail(&err, SC_EINVAL, "--%s: supcon_job_set: value is NULL", key);
	else if (j->ran)
		rc = sc_fail(&err, SC_EINVAL, "--%s: supcon_job_set: the job has "
			     "run; create a new one", key);
	if (!rc)
		rc = run_job_check(j->j.kind, key, value, &err);
	if (!rc)
		rc = run_keys_set(&j->j.keys, key, value, &err);
	return api_done(&j->err, &err, rc);
}

supcon_status supcon_job_set_output(supcon_job *j, FILE *f)
{
	sc_error err = {0};
	if (!j)
		return api_done(NULL, &err, api_null(&err, "supcon_job_set_output", "job"));
	j->out = f;
	return api_done(&j->err, &err, SC_OK);
}

supcon_status supcon_job_run(supcon_job *j)
{
	sc_error err = {0};
	if (!j)
		return api_done(NULL, &err, api_null(&err, "supcon_job_run", "job"));
	if (j->ran)
		return api_done(&j->err, &err, sc_fail(&err, SC_EINVAL,
			"supcon_job_run: the %s job has run already; create a new one",
			j->j.kind->name));
	j->ran = 1;
	FILE *saved = run_set_output(j->out);
	int rc = j->j.kind->run(&j->j, &err);
	run_set_output(saved);
	if (j->out)
		fflush(j->out);
	j->ok = rc == SC_OK;
	return api_done(&j->err, &err, rc);
}

/* SC_EINVAL unless j has run successfully. */
static int check_results(const supcon_job *j, const char *func,
			 const char *key, sc_error *err)
{
	if (!key)
		return api_null(err, func, "key");
	if (!j->ran)
		return sc_fail(err, SC_EINVAL, "%s: the %s job has not run yet "
			       "(supcon_job_run)", func, j->j.kind->name);
	if (!j->ok)
		return sc_fail(err, SC_EINVAL, "%s: the %s job failed; it has no "
			       "results", func, j->j.kind->name);
	return SC_OK;
}

supcon_status supcon_job_result(const supcon_job *j, const char *key,
				double *value)
{
	sc_error err = {0};
	if (!j)
		return api_done(NULL, &err, api_null(&err, "supcon_job_result", "job"));
	if (!value)
		return api_done(NULL, &err, api_null(&err, "supcon_job_result", "value"));
	int rc = check_results(j, "supcon_job_result", key, &err);
	for (int i = 0; !rc && i < j->j.n_num; i++) {
		if (!strcmp(j->j.num_key[i], key)) {
			*value = j->j.num[i];
			return SUPCON_OK;
		}
	}
	if (!rc)
		rc = sc_fail(&err, SC_EINVAL, "supcon_job_result: the %s job "
			     "produced no number '%s'", j->j.kind->name, key);
	/* the handle is const: only the thread's last error records it */
	return api_done(NULL, &err, rc);
}

supcon_status supcon_job_result_text(const supcon_job *j, const char *key,
				     const char **value)
{
	sc_error err = {0};
	if (!j)
		return api_done(NULL, &err, api_null(&err, "supcon_job_result_text", "job"));
	if (!value)
		return api_done(NULL, &err, api_null(&err, "supcon_job_result_text",
						     "value"));
	int rc = check_results(j, "supcon_job_result_text", key, &err);
	for (int i = 0; !rc && i < j->j.n_text; i++) {
		if (!strcmp(j->j.text_key[i], key)) {
			*value = j->j.text[i];
			return SUPCON_OK;
		}
	}
	if (!rc)
		rc = sc_fail(&err, SC_EINVAL, "supcon_job_result_text: the %s job "
			     "produced no text '%s'", j->j.kind->name, key);
	return api_done(NULL, &err, rc);
}

void supcon_dist_finish(int status)
{
	if (status != 0 && dist_size() > 1)
		dist_abort(status);
	dist_finalize();
}
