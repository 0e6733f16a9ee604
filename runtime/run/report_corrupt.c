/* report_corrupt.c: classifier errors under common corruptions and the
 * mean corruption error (mCE) of ImageNet-C, for `supcon eval --corrupt`
 * and the demo's report. */
#include "run.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/data/corrupt.h"

static int add_unique(int *v, int *n, int x)
{
	for (int i = 0; i < *n; i++)
		if (v[i] == x)
			return 0;
	v[(*n)++] = x;
	return 1;
}

static void sort_ints(int *v, int n)
{
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
			int t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
}

/* "3" or "1-5" into the severity set. */
static int parse_severities(const char *s, run_corrupt_table *t, sc_error *err)
{
	char *end;
	errno = 0;
	long a = strtol(s, &end, 10), b = a;
	if (end != s && *end == '-') {
		const char *s2 = end + 1;
		b = strtol(s2, &end, 10);
		if (end == s2)
			b = -1;
	}
	if (end == s || *end || errno || a < 1 || b > CORRUPT_SEVERITIES || a > b)
		return sc_fail(err, SC_EINVAL, "--corrupt: severity '%s' is not 1 to "
			       "%d (or a range such as 1-5)", s, CORRUPT_SEVERITIES);
	for (long v = a; v <= b; v++)
		add_unique(t->severities, &t->n_severities, (int)v);
	return SC_OK;
}

int run_corrupt_parse(const char *spec, run_corrupt_table *t, sc_error *err)
{
	memset(t, 0, sizeof *t);
	char buf[512];
	if (!spec || !*spec || strlen(spec) >= sizeof buf)
		return sc_fail(err, SC_EINVAL, "--corrupt: expected all, NAME or "
			       "NAME:SEVERITY");
	memcpy(buf, spec, strlen(spec) + 1);
	int any_sev = 0;
	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(tok, ':');
		if (colon) {
			*colon = 0;
			int rc = parse_severities(colon + 1, t, err);
			if (rc)
				return rc;
			any_sev = 1;
		}
		if (!strcmp(tok, "all")) {
			for (int k = 0; k < CORRUPT_COUNT; k++)
				add_unique(t->kinds, &t->n_kinds, k);
			continue;
		}
		corrupt_kind k;
		int rc = corrupt_parse(tok, &k, err);
		if (rc) {
			sc_error_prefix(err, "--corrupt: ");
			return rc;
		}
		add_unique(t->kinds, &t->n_kinds, (int)k);
	}
	if (!t->n_kinds)
		return sc_fail(err, SC_EINVAL, "--corrupt: no corruption named");
	if (!any_sev)
		for (int s = 1; s <= CORRUPT_SEVERITIES; s++)
			add_unique(t->severities, &t->n_severities, s);
	sort_ints(t->severities, t->n_severities);
	for (int k = 0; k < 7; k++)
		for (int s = 0; s < 5; s++)
			t->err[k][s] = NAN;
	t->clean = NAN;
	return SC_OK;
}

int run_corrupt_eval(graph_model *net, const dataset *d, const int64_t *idx,
		     int64_t n, const float *mean, const float *std, int threads,
		     uint64_t seed, const char *progress, run_corrupt_table *t,
		     sc_error *err)
{
	t->images = n;
	int32_t *pred = malloc(sizeof *pred * (size_t)(n * 6));
	if (!pred)
		return sc_fail(err, SC_ENOMEM, "out of memory");
	/* severity 0 (clean) rides along with the first corruption: one pass
	 * of the model per corruption */
	int rc = SC_OK;
	double t0 = run_now();
	for (int i = 0; i < t->n_kinds && !rc; i++) {
		corrupt_kind k = (corrupt_kind)t->kinds[i];
		int sev[6], ns = 0;
		if (i == 0)
			sev[ns++] = 0;
		for (int j = 0; j < t->n_severities; j++)
			sev[ns++] = t->severities[j];
		if (progress) {
			run_printf("%s: %s (%d/%d)  %.0fs\n", progress, corrupt_name(k), i + 1,
			       t->n_kinds, run_now() - t0);
			run_flush();
		}
		dataset *cd = NULL;
		rc = corrupt_dataset_severities(d, idx, n, k, sev, ns, seed, &cd, err);
		if (!rc)
			rc = run_predict(net, cd, NULL, cd->n, mean, std, threads, pred,
					 err);
		for (int j = 0; !rc && j < ns; j++) {
			int64_t hits = 0;
			for (int64_t r = 0; r < n; r++)
				hits += pred[j * n + r] == cd->labels[j * n + r];
			double e = 1 - (double)hits / (double)n;
			if (sev[j] == 0)
				t->clean = e;
			else
				t->err[k][sev[j] - 1] = e;
		}
		dataset_free(cd);
	}
	free(pred);
	return rc;
}

static double row_sum(const run_corrupt_table *t, int k)
{
	double s = 0;
	for (int j = 0; j < t->n_severities; j++)
		s += t->err[k][t->severities[j] - 1];
	return s;
}

double run_corrupt_mce(const run_corrupt_table *t, const run_corrupt_table *base,
		       double *ce)
{
	double sum = 0;
	for (int i = 0; i < t->n_kinds; i++) {
		int k = t->kinds[i];
		double b = row_sum(base, k);
		ce[i] = b > 0 ? row_sum(t, k) / b : NAN;
		sum += ce[i];
	}
	return t->n_kinds ? sum / t->n_kinds : NAN;
}

void run_corrupt_print(FILE *f, const run_corrupt_table *t,
		       const run_corrupt_table *base, const char *name,
		       const char *base_name)
{
	double ce[7];
	double mce = base ? run_corrupt_mce(t, base, ce) : NAN;
	fprintf(f, "top-1 error of %s on %lld images (clean %.4f), per severity:\n",
		name, (long long)t->images, t->clean);
	fprintf(f, "%-16s", "corruption");
	for (int j = 0; j < t->n_severities; j++)
		fprintf(f, "  s%-5d", t->severities[j]);
	fprintf(f, "  %-6s", "mean");
	if (base)
		fprintf(f, "  %-6s", "CE");
	fputc('\n', f);
	for (int i = 0; i < t->n_kinds; i++) {
		int k = t->kinds[i];
		fprintf(f, "%-16s", corrupt_name((corrupt_kind)k));
		for (int j = 0; j < t->n_severities; j++)
			fprintf(f, "  %.4f", t->err[k][t->severities[j] - 1]);
		fprintf(f, "  %.4f", row_sum(t, k) / t->n_severities);
		if (base)
			fprintf(f, "  %.4f", ce[i]);
		fputc('\n', f);
	}
	if (base)
		fprintf(f, "mCE: %.4f (corruption errors relative to %s, ImageNet-C's "
			"CE_f = sum_s err_f,s / sum_s err_base_f,s, averaged over the "
			"%d corruptions; below 1 is more robust)\n", mce, base_name,
			t->n_kinds);
}
