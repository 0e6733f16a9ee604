/* cmd_sweep.c: `supcon sweep`: the article's study of optimisers,
 * learning-rate strategies and augmentation, on any data.
 *
 * Every cell of the grid (optimizer x schedule x aug) is a run directory
 * DIR/<cell>/ with stage 1 (SupCon) and stage 2 (the linear classifier);
 * a cross-entropy reference run goes to DIR/ce.  After every cell the
 * table is rewritten (DIR/table.csv and DIR/table.md), so an interrupted
 * sweep leaves a table of what is done, and running the same command
 * again skips the cells that finished (DIR/<cell>/sweep.json marks them)
 * and resumes a cell stopped in stage 1 from its checkpoint.  The output
 * of the training itself goes to DIR/<cell>/train.log; the terminal gets
 * one line per cell.
 *
 * The sweep is orchestration over the train and linear jobs of the public
 * API: a cell is a train job (and a linear job), whose options are the
 * train options given to the sweep plus the cell's; a train job with
 * "validate" checks every cell before anything runs. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_OPTS 64
#define MAX_AXIS 8

static const cli_opt sweep_own[] = {
	{"out", 'o', CLI_VALUE, "DIR", "where the cells and the table go (default runs/sweep)", 0, 0, 0, 0},
	{"grid", 0, CLI_VALUE, "article", "the article's grid: --optimizer sgd,rmsprop,adam "
	 "--schedule const,decay --aug none,jitter", 0, 0, 0, 0},
	{"optimizer", 0, CLI_VALUE, "LIST", "optimizers, comma-separated (sgd, rmsprop, "
	 "adam, adamw, adagrad; default sgd)", 0, 0, 0, 0},
	{"schedule", 0, CLI_VALUE, "LIST", "learning-rate strategies: const (fixed), "
	 "decay (exponential, --decay), or any --schedule of train (default const)", 0, 0, 0, 0},
	{"aug", 0, CLI_VALUE, "LIST", "augmentations: none, jitter (the article's "
	 "colour operations) or any policy of train (default none)", 0, 0, 0, 0},
	{"lr", 0, CLI_VALUE, "X|OPT=X,...", "stage-1 learning rate, one for all or per "
	 "optimizer (default sgd 0.05, others 0.001)", 0, 0, 0, 0},
	{"decay", 0, CLI_VALUE, "SPEC", "the schedule `decay` stands for (default exp:0.9, "
	 "lr x 0.9 per epoch)", 0, 0, 0, 0},
	{"linear-epochs", 0, CLI_VALUE, "N", "stage-2 epochs (default 20)", 0, 0, 0, 0},
	{"linear-lr", 0, CLI_VALUE, "X", "stage-2 learning rate (default 0.1, sgd, cosine)", 0, 0, 0, 0},
	{"linear-batch", 0, CLI_VALUE, "B", "stage-2 batch (default 256)", 0, 0, 0, 0},
	{"ce", 0, CLI_VALUE, "OPT,SCHED,AUG|none", "the cross-entropy reference row "
	 "(default: the first optimizer, the last schedule and the last aug of the grid)", 0, 0, 0, 0},
};

/* Options of train that the sweep sets per cell or does not take. */
static int sweep_owns(const char *name)
{
	static const char *const own[] = {"optimizer", "schedule", "aug", "lr",
					  "out", "method"};
	for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
		if (!strcmp(name, own[i]))
			return 1;
	return 0;
}

static int make_table(cli_opt *table)
{
	int n = 0;
	for (size_t i = 0; i < sizeof sweep_own / sizeof sweep_own[0]; i++)
		table[n++] = sweep_own[i];
	table[n++] = (cli_opt){"method", 0, CLI_VALUE, "supcon|simclr",
			       "stage-1 method (default supcon)", 0, 0, 0, 0};
	for (int i = 0; i < cli_n_run_options && n < MAX_OPTS; i++)
		if (!sweep_owns(cli_run_options[i].name))
			table[n++] = cli_run_options[i];
	return n;
}

typedef struct axis {
	char v[MAX_AXIS][64];
	int n;
} axis;

static int split_axis(const char *flag, const char *s, axis *ax, cli_err *err)
{
	ax->n = 0;
	const char *p = s;
	while (*p) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len == 0 || len >= sizeof ax->v[0])
			return cli_set_err(err, SUPCON_EINVAL, "--%s '%s': empty or overlong item",
				       flag, s);
		if (ax->n == MAX_AXIS)
			return cli_set_err(err, SUPCON_EINVAL, "--%s: at most %d values", flag,
				       MAX_AXIS);
		memcpy(ax->v[ax->n], p, len);
		ax->v[ax->n++][len] = 0;
		p += len;
		if (*p == ',')
			p++;
	}
	if (!ax->n)
		return cli_set_err(err, SUPCON_EINVAL, "--%s: no value", flag);
	return SUPCON_OK;
}

typedef struct sweep {
	const cli_args *a;
	const char *out;
	const char *method;     /* of stage 1: supcon or simclr */
	axis opt, sched, aug;
	char decay[128];
	char ce[3][64];         /* optimizer, schedule, aug; ce[0][0] == 0: none */
	/* the resolved stage-1 options of the first cell ("key value" lines,
	 * the train job's validate result), for the table's header */
	char *config;
	long long lin_epochs, lin_batch;
	double lin_lr;
	double t0;
} sweep;

/* One resolved option of the first cell, "" if absent. */
static const char *base_opt(const sweep *s, const char *key, char *buf,
			    size_t len)
{
	size_t k = strlen(key);
	buf[0] = 0;
	for (const char *p = s->config; p && *p;) {
		const char *e = strchr(p, '\n');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n > k && !strncmp(p, key, k) && p[k] == ' ') {
			snprintf(buf, len, "%.*s", (int)(n - k - 1), p + k + 1);
			break;
		}
		p = e ? e + 1 : NULL;
	}
	return buf;
}

/* The learning rate of optimizer opt: --lr X, --lr opt=X,..., or the
 * default for the optimizer. */
static int cell_lr(const sweep *s, const char *opt, double *lr, cli_err *err)
{
	const char *spec = cli_value(s->a, "lr", NULL);
	*lr = !strcmp(opt, "sgd") ? 0.05 : 1e-3;
	if (!spec)
		return SUPCON_OK;
	char *end;
	if (!strchr(spec, '=')) {
		errno = 0;
		double v = strtod(spec, &end);
		if (end == spec || *end || errno || !(v > 0) || !isfinite(v))
			return cli_set_err(err, SUPCON_EINVAL, "--lr '%s': expected a number > 0 "
				       "or OPT=X,...", spec);
		*lr = v;
		return SUPCON_OK;
	}
	axis items;
	int rc = split_axis("lr", spec, &items, err);
	for (int i = 0; !rc && i < items.n; i++) {
		char *eq = strchr(items.v[i], '=');
		if (!eq)
			return cli_set_err(err, SUPCON_EINVAL, "--lr: '%s' is not OPT=X", items.v[i]);
		*eq = 0;
		errno = 0;
		double v = strtod(eq + 1, &end);
		if (end == eq + 1 || *end || errno || !(v > 0) || !isfinite(v))
			return cli_set_err(err, SUPCON_EINVAL, "--lr: '%s' is not a number > 0",
				       eq + 1);
		if (!strcmp(items.v[i], opt))
			*lr = v;
	}
	return rc;
}

/* Sets on j the options of one stage-1 (or CE) cell: the train options
 * given to the sweep, then the cell's optimizer, schedule, aug and lr. */
static int cell_keys(const sweep *s, supcon_job *j, const char *method,
		     const char *opt, const char *sched, const char *aug,
		     cli_err *err)
{
	const cli_args *a = s->a;
	supcon_status st = SUPCON_OK;
	for (int i = 0; !st && i < a->n_opts; i++) {
		const cli_opt *o = &a->opts[i];
		int run_option = 0;
		for (int k = 0; k < cli_n_run_options; k++)
			run_option |= !strcmp(cli_run_options[k].name, o->name);
		if (o->seen && run_option && !sweep_owns(o->name))
			st = supcon_job_set(j, o->name, o->kind == CLI_FLAG ? "1" :
					    o->value);
	}
	double lr = 0;
	int rc = st ? cli_job_err(err, j, st) : cell_lr(s, opt, &lr, err);
	if (rc)
		return rc;
	char lr_text[64];
	snprintf(lr_text, sizeof lr_text, "%.17g", lr);
	const char *keys[] = {
		"method", method, "optimizer", opt,
		"schedule", !strcmp(sched, "decay") ? s->decay : sched,
		"aug", aug, "lr", lr_text,
		/* CE's own head (none); the rest as given */
		!strcmp(method, "ce") ? "head" : NULL, "none",
	};
	for (size_t k = 0; k < sizeof keys / sizeof keys[0] && keys[k]; k += 2)
		if ((st = supcon_job_set(j, keys[k], keys[k + 1])))
			return cli_job_err(err, j, st);
	return SUPCON_OK;
}

/* Checks one cell's options without running it; with config, hands back
 * the resolved options (the caller frees them). */
static int cell_check(const sweep *s, const char *method, const char *opt,
		      const char *sched, const char *aug, char **config,
		      cli_err *err)
{
	supcon_job *j = NULL;
	supcon_status st = supcon_job_create("train", &j);
	int rc = st ? cli_job_err(err, NULL, st) :
		 cell_keys(s, j, method, opt, sched, aug, err);
	if (!rc && (st = supcon_job_set(j, "validate", "1")))
		rc = cli_job_err(err, j, st);
	if (!rc && (st = supcon_job_run(j)))
		rc = cli_job_err(err, j, st);
	const char *text;
	if (!rc && config && !supcon_job_result_text(j, "config", &text) &&
	    !(*config = strdup(text)))
		rc = cli_set_err(err, SUPCON_ENOMEM, "out of memory");
	supcon_job_free(j);
	return rc;
}

static void cell_name(char *buf, size_t len, const char *prefix, const char *opt,
		      const char *sched, const char *aug)
{
	char name[256];
	snprintf(name, sizeof name, "%s%s-%s-%s", prefix, opt, sched, aug);
	snprintf(buf, len, "%s", name);
	for (char *p = buf; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.')
			*p = '_';
}

/* --- results ----------------------------------------------------------------- */

typedef struct row {
	char method[16], opt[64], sched[64], aug[64], cell[256];
	double scl_loss, train, val, test, seconds;
	int done, diverged;
} row;

static char *read_text(const char *dir, const char *file)
{
	char path[4096];
	cli_err err = {0};
	if (cli_path(path, sizeof path, dir, file, &err))
		return NULL;
	return cli_read_text(path, 1 << 22);
}

/* A cell counts as done when sweep.json says so. */
static void row_load(row *r, const char *dir)
{
	char *mark = read_text(dir, "sweep.json");
	r->done = mark != NULL;
	r->diverged = mark && strstr(mark, "\"diverged\"");
	r->seconds = cli_json_number(mark, "seconds");
	free(mark);
	char *m = read_text(dir, "metrics.json");
	int ce = !strcmp(r->method, "ce");
	r->scl_loss = ce ? NAN : cli_json_number(m, "final_loss");
	r->train = cli_json_number(m, "train_accuracy");
	r->val = cli_json_number(m, "val_accuracy");
	r->test = cli_json_number(m, "test_accuracy");
	if (!ce && m && !strstr(m, "\"linear\": {"))
		r->train = r->val = r->test = NAN;   /* stage 2 never ran */
	free(m);
}

static void fmt(char *buf, size_t len, double v, const char *f)
{
	if (isfinite(v))
		snprintf(buf, len, f, v);
	else
		snprintf(buf, len, "%s", "");
}

static int write_tables(const sweep *s, const row *rows, int n, cli_err *err)
{
	char path[4096];
	cli_atomic csv, md;
	int rc = cli_path(path, sizeof path, s->out, "table.csv", err);
	if (rc || (rc = cli_atomic_open(&csv, path, err)))
		return rc;
	if ((rc = cli_path(path, sizeof path, s->out, "table.md", err)) ||
	    (rc = cli_atomic_open(&md, path, err))) {
		cli_atomic_abort(&csv);
		return rc;
	}
	char method[64], model[1100], stem[64], width[64], data[1100], epochs[64];
	char batch[64], limit[64], val[64], seed[64], noise[64];
	base_opt(s, "method", method, sizeof method);
	base_opt(s, "model", model, sizeof model);
	base_opt(s, "stem", stem, sizeof stem);
	base_opt(s, "width", width, sizeof width);
	base_opt(s, "data", data, sizeof data);
	base_opt(s, "epochs", epochs, sizeof epochs);
	base_opt(s, "batch", batch, sizeof batch);
	base_opt(s, "limit", limit, sizeof limit);
	base_opt(s, "val-split", val, sizeof val);
	base_opt(s, "seed", seed, sizeof seed);
	base_opt(s, "label-noise", noise, sizeof noise);
	fputs("method,optimizer,schedule,aug,scl_loss,train_accuracy,val_accuracy,"
	      "test_accuracy,seconds,cell\n", csv.f);
	fprintf(md.f, "# supcon sweep: %s\n\n"
		"Stage 1: %s %s (%s stem, width %s) on %s, %s epochs, batch %s%s, "
		"limit %s, validation split %g, seed %s%s.  `const` is a fixed "
		"learning rate, `decay` is `%s`.  Stage 2: a linear classifier on the "
		"frozen encoder, %lld epochs, sgd lr %g, cosine, no augmentation "
		"(features cached).\n\n"
		"scl_loss is stage 1's loss in its last epoch; train_accuracy is the "
		"linear classifier's accuracy over the training batches of its last "
		"epoch; val_accuracy is on the validation split; test_accuracy on the "
		"test set; seconds is the wall time of the cell.  The cross-entropy "
		"row trains the same encoder end to end (no scl_loss).\n\n"
		"| method | optimizer | schedule | aug | scl_loss | train_accuracy | "
		"val_accuracy | test_accuracy | seconds |\n"
		"|---|---|---|---|---|---|---|---|---|\n",
		s->out, method, model, stem, width, data, epochs,
		batch, !strcmp(method, "ce") ? "" : " x 2 views",
		limit, strtod(val, NULL), seed,
		strtod(noise, NULL) > 0 ? ", label noise" : "", s->decay, s->lin_epochs,
		s->lin_lr);
	for (int i = 0; i < n; i++) {
		const row *r = &rows[i];
		char l[32], tr[32], va[32], te[32], se[32];
		fmt(l, sizeof l, r->scl_loss, "%.4f");
		fmt(tr, sizeof tr, r->train, "%.4f");
		fmt(va, sizeof va, r->val, "%.4f");
		fmt(te, sizeof te, r->test, "%.4f");
		fmt(se, sizeof se, r->seconds, "%.0f");
		fprintf(csv.f, "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n", r->method, r->opt,
			r->sched, r->aug, l, tr, va, te, se, r->cell);
		const char *state = !r->done ? "not run yet" :
				    r->diverged ? "diverged" : "";
		fprintf(md.f, "| %s | %s | %s | %s | %s | %s | %s | %s | %s%s%s |\n",
			!strcmp(r->method, "ce") ? "cross-entropy" : r->method, r->opt,
			r->sched, r->aug, *l ? l : "-", *tr ? tr : "-",
			*va ? va : "-", *te ? te : "-", *se ? se : "-",
			*state ? " " : "", state);
	}
	if ((rc = cli_atomic_commit(&csv, err))) {
		cli_atomic_abort(&md);
		return rc;
	}
	return cli_atomic_commit(&md, err);
}

/* --- running a cell ----------------------------------------------------------- */

/* Runs job j with its output appended to log. */
static int run_logged(supcon_job *j, FILE *log, cli_err *err)
{
	supcon_status st = supcon_job_set_output(j, log);
	if (!st)
		st = supcon_job_run(j);
	return st ? cli_job_err(err, j, st) : SUPCON_OK;
}

/* Stage 1 (resumed from its checkpoint when a cell stopped in it) and,
 * for SupCon, stage 2, with their output in log. */
static int cell_body(const sweep *s, const row *r, const char *dir, FILE *log,
		     cli_err *err)
{
	int ce = !strcmp(r->method, "ce");
	char ck[4096];
	int rc = cli_path(ck, sizeof ck, dir, "checkpoint", err);
	supcon_job *j = NULL;
	supcon_status st;
	if (!rc && (st = supcon_job_create("train", &j)))
		rc = cli_job_err(err, NULL, st);
	if (!rc)
		rc = cell_keys(s, j, r->method, r->opt, r->sched, r->aug, err);
	/* a cell stopped during stage 1 goes on from its checkpoint */
	const char *stage1[] = {"out", dir, "resume", access(ck, F_OK) == 0 ? "1" : "0"};
	for (int k = 0; !rc && k < 4; k += 2)
		if ((st = supcon_job_set(j, stage1[k], stage1[k + 1])))
			rc = cli_job_err(err, j, st);
	if (!rc)
		rc = run_logged(j, log, err);
	supcon_job_free(j);
	j = NULL;
	if (rc || ce)
		return rc;
	/* stage 2: the sweep's linear options; data, size, limit, split, seed,
	 * label noise and encoder normalisation come from stage 1's run */
	char epochs[32], batch[32], lr[64];
	snprintf(epochs, sizeof epochs, "%lld", s->lin_epochs);
	snprintf(batch, sizeof batch, "%lld", s->lin_batch);
	snprintf(lr, sizeof lr, "%.17g", s->lin_lr);
	const char *lin[] = {
		"rundir", dir, "epochs", epochs, "batch", batch, "lr", lr,
		"aug", "none",
		"threads", cli_value(s->a, "threads", NULL),
		"workers", cli_value(s->a, "workers", NULL),
	};
	if ((st = supcon_job_create("linear", &j)))
		return cli_job_err(err, NULL, st);
	for (size_t k = 0; !rc && k < sizeof lin / sizeof lin[0]; k += 2)
		if (lin[k + 1] && (st = supcon_job_set(j, lin[k], lin[k + 1])))
			rc = cli_job_err(err, j, st);
	if (!rc)
		rc = run_logged(j, log, err);
	supcon_job_free(j);
	return rc;
}

/* cell_body with its output appended to DIR/train.log. */
static int logged(const sweep *s, const row *r, const char *dir, cli_err *err)
{
	char path[4096];
	int rc = cli_make_output_dir(dir, "--out", err);
	if (rc || (rc = cli_path(path, sizeof path, dir, "train.log", err)))
		return rc;
	FILE *log = fopen(path, "a");
	if (!log)
		return cli_set_err(err, SUPCON_EIO, "%s: cannot write the log: %s",
				   path, strerror(errno));
	rc = cell_body(s, r, dir, log, err);
	if (fclose(log) != 0 && !rc)
		rc = cli_set_err(err, SUPCON_EIO, "%s: cannot write the log: %s",
				 path, strerror(errno));
	return rc;
}

static int mark_done(const char *dir, const row *r, double seconds,
		     const char *status, const char *why, cli_err *err)
{
	char path[4096];
	cli_atomic a;
	int rc = cli_path(path, sizeof path, dir, "sweep.json", err);
	if (rc || (rc = cli_atomic_open(&a, path, err)))
		return rc;
	fprintf(a.f, "{\n  \"cell\": ");
	cli_json_string(a.f, r->cell);
	fprintf(a.f, ",\n  \"status\": \"%s\",\n  \"seconds\": %.3f", status, seconds);
	if (why) {
		fputs(",\n  \"error\": ", a.f);
		cli_json_string(a.f, why);
	}
	fputs("\n}\n", a.f);
	return cli_atomic_commit(&a, err);
}

static int run_cell(const sweep *s, row *r, int i, int total, cli_err *err)
{
	char dir[4096];
	int rc = cli_path(dir, sizeof dir, s->out, r->cell, err);
	if (rc)
		return rc;
	row_load(r, dir);
	const char *label = !strcmp(r->method, "ce") ? "cross-entropy " : "";
	if (r->done) {
		printf("[%d/%d] %s%s: done earlier, skipped (val_acc %.4f)\n", i, total,
		       label, r->cell, r->val);
		fflush(stdout);
		return SUPCON_OK;
	}
	printf("[%d/%d] %s%s: running (log: %s/train.log) ...\n", i, total, label,
	       r->cell, dir);
	fflush(stdout);
	double t0 = cli_now();
	cli_err cell_err = {0};
	rc = logged(s, r, dir, &cell_err);
	double secs = cli_now() - t0;
	if (rc == SUPCON_ENUMERIC) {
		/* a diverging cell is a result of the study, not a failure of it */
		if ((rc = mark_done(dir, r, secs, "diverged", cell_err.msg, err)))
			return rc;
		row_load(r, dir);
		printf("[%d/%d] %s%s: diverged (%s)  %.0fs\n", i, total, label, r->cell,
		       cell_err.msg, secs);
		fflush(stdout);
		return SUPCON_OK;
	}
	if (rc) {
		*err = cell_err;
		cli_err_prefix(err, "%s: ", r->cell);
		return rc;
	}
	if ((rc = mark_done(dir, r, secs, "done", NULL, err)))
		return rc;
	row_load(r, dir);
	printf("[%d/%d] %s%s: scl_loss %.4f  train_acc %.4f  val_acc %.4f  "
	       "test_acc %.4f  %.0fs (total %.0fs)\n", i, total, label, r->cell,
	       r->scl_loss, r->train, r->val, r->test, secs, cli_now() - s->t0);
	fflush(stdout);
	return SUPCON_OK;
}

/* --- options ---------------------------------------------------------------------- */

static int parse_sweep(const cli_args *a, sweep *s, cli_err *err)
{
	memset(s, 0, sizeof *s);
	s->a = a;
	s->out = cli_value(a, "out", "runs/sweep");
	if (a->n_pos)
		return cli_set_err(err, SUPCON_EINVAL, "unexpected argument '%s' (options only; "
			       "see --help)", a->pos[0]);
	const char *grid = cli_value(a, "grid", NULL);
	int article = grid && !strcmp(grid, "article");
	if (grid && !article)
		return cli_set_err(err, SUPCON_EINVAL, "--grid: '%s' is not article", grid);
	int rc;
	if ((rc = split_axis("optimizer", cli_value(a, "optimizer", article ?
				"sgd,rmsprop,adam" : "sgd"), &s->opt, err)) ||
	    (rc = split_axis("schedule", cli_value(a, "schedule", article ?
				"const,decay" : "const"), &s->sched, err)) ||
	    (rc = split_axis("aug", cli_value(a, "aug", article ? "none,jitter" :
				"none"), &s->aug, err)))
		return rc;
	const char *method = cli_value(a, "method", "supcon");
	if (strcmp(method, "supcon") && strcmp(method, "simclr"))
		return cli_set_err(err, SUPCON_EINVAL, "--method: '%s' is not supcon or simclr "
			       "(the CE reference row is --ce)", method);
	const char *decay = cli_value(a, "decay", "exp:0.9");
	if (strlen(decay) >= sizeof s->decay)
		return cli_set_err(err, SUPCON_EINVAL, "--decay: too long");
	snprintf(s->decay, sizeof s->decay, "%s", decay);
	s->method = method;
	long long le, lb;
	double llr = 0.1;
	/* 100000: the train job's limit on epochs */
	if ((rc = cli_int_option(a, "linear-epochs", 1, 100000, 20, &le, err)) ||
	    (rc = cli_int_option(a, "linear-batch", 1, 1 << 20, 256, &lb, err)))
		return rc;
	const char *ls = cli_value(a, "linear-lr", NULL);
	if (ls) {
		char *end;
		errno = 0;
		llr = strtod(ls, &end);
		if (end == ls || *end || errno || !(llr > 0) || !isfinite(llr))
			return cli_set_err(err, SUPCON_EINVAL, "--linear-lr '%s': expected a "
				       "number > 0", ls);
	}
	s->lin_epochs = le;
	s->lin_batch = lb;
	s->lin_lr = llr;
	/* the CE reference */
	const char *ce = cli_value(a, "ce", NULL);
	if (ce && !strcmp(ce, "none")) {
		s->ce[0][0] = 0;
	} else if (ce) {
		axis parts;
		if ((rc = split_axis("ce", ce, &parts, err)))
			return rc;
		if (parts.n != 3)
			return cli_set_err(err, SUPCON_EINVAL, "--ce '%s': expected OPT,SCHED,AUG "
				       "or none", ce);
		for (int k = 0; k < 3; k++)
			memcpy(s->ce[k], parts.v[k], sizeof s->ce[k]);
	} else {
		memcpy(s->ce[0], s->opt.v[0], sizeof s->ce[0]);
		memcpy(s->ce[1], s->sched.v[s->sched.n - 1], sizeof s->ce[1]);
		memcpy(s->ce[2], s->aug.v[s->aug.n - 1], sizeof s->ce[2]);
	}
	/* every cell's config must be valid before anything runs */
	for (int i = 0; i < s->opt.n; i++)
		for (int j = 0; j < s->sched.n; j++)
			for (int k = 0; k < s->aug.n; k++)
				if ((rc = cell_check(s, method, s->opt.v[i], s->sched.v[j],
						     s->aug.v[k], i + j + k ? NULL :
						     &s->config, err)))
					return rc;
	if (s->ce[0][0] && (rc = cell_check(s, "ce", s->ce[0], s->ce[1], s->ce[2],
					    NULL, err)))
		return rc;
	return SUPCON_OK;
}

int cmd_sweep(int argc, char **argv)
{
	cli_opt table[MAX_OPTS];
	int n = make_table(table);
	cli_spec spec = {
		.cmd = "sweep",
		.synopsis = "[--grid article] [--optimizer LIST] [--schedule LIST] "
			    "[--aug LIST] [train options] --out DIR",
		.description =
			"The article's study: SupCon stage 1 and the stage-2 linear classifier\n"
			"for every combination of optimizer, learning-rate strategy and\n"
			"augmentation, plus a cross-entropy reference run.  Each cell is a run\n"
			"directory DIR/<optimizer>-<schedule>-<aug> (DIR/ce-... for the\n"
			"reference) that export, eval and embed accept.  DIR/table.csv and\n"
			"DIR/table.md list optimizer, schedule, aug, scl_loss (stage 1's last\n"
			"loss), train_accuracy, val_accuracy, test_accuracy and seconds per\n"
			"cell.  Run the same command again to resume: finished cells are\n"
			"skipped.  Every option of `supcon train` (--model, --width, --epochs,\n"
			"--batch, --limit, --data, --seed, ...) applies to every cell.",
		.epilog = "Example: supcon sweep --grid article --width 16 --epochs 3 "
			  "--limit 20000 --out runs/article",
		.opts = table,
		.n_opts = n,
	};
	cli_args a;
	int status;
	if (!cli_begin(&spec, argc, argv, &a, &status))
		return status;
	cli_err err = {0};
	sweep s;
	row rows[MAX_AXIS * MAX_AXIS * MAX_AXIS + 1];
	int nr = 0;
	int rc = parse_sweep(&a, &s, &err);
	if (!rc)
		rc = cli_make_output_dir(s.out, "--out", &err);
	for (int i = 0; !rc && i < s.opt.n; i++)
		for (int j = 0; j < s.sched.n; j++)
			for (int k = 0; k < s.aug.n; k++) {
				row *r = &rows[nr++];
				memset(r, 0, sizeof *r);
				snprintf(r->method, sizeof r->method, "%s", s.method);
				memcpy(r->opt, s.opt.v[i], sizeof r->opt);
				memcpy(r->sched, s.sched.v[j], sizeof r->sched);
				memcpy(r->aug, s.aug.v[k], sizeof r->aug);
				cell_name(r->cell, sizeof r->cell, "", r->opt, r->sched,
					  r->aug);
				r->scl_loss = r->train = r->val = r->test = r->seconds = NAN;
			}
	if (!rc && s.ce[0][0]) {
		row *r = &rows[nr++];
		memset(r, 0, sizeof *r);
		snprintf(r->method, sizeof r->method, "ce");
		memcpy(r->opt, s.ce[0], sizeof r->opt);
		memcpy(r->sched, s.ce[1], sizeof r->sched);
		memcpy(r->aug, s.ce[2], sizeof r->aug);
		cell_name(r->cell, sizeof r->cell, "ce-", r->opt, r->sched, r->aug);
		r->scl_loss = r->train = r->val = r->test = r->seconds = NAN;
	}
	if (!rc) {
		printf("sweep: %d cells%s into %s\n", nr - (s.ce[0][0] ? 1 : 0),
		       s.ce[0][0] ? " and a cross-entropy reference" : "", s.out);
		fflush(stdout);
		s.t0 = cli_now();
		/* rows of cells already done show up in the table at once */
		for (int i = 0; i < nr; i++) {
			char dir[4096];
			if (!cli_path(dir, sizeof dir, s.out, rows[i].cell, &err))
				row_load(&rows[i], dir);
		}
	}
	for (int i = 0; !rc && i < nr; i++) {
		rc = run_cell(&s, &rows[i], i + 1, nr, &err);
		if (!rc)
			rc = write_tables(&s, rows, nr, &err);
	}
	if (!rc) {
		char path[4096];
		char *md = cli_path(path, sizeof path, s.out, "table.md", &err) ? NULL :
			   read_text(s.out, "table.md");
		const char *tab = md ? strstr(md, "| method") : NULL;
		printf("\n%s\nwrote %s/table.csv and %s/table.md\n", tab ? tab : "",
		       s.out, s.out);
		free(md);
	}
	free(s.config);
	cli_args_free(&a);
	if (rc)
		return cli_fail("sweep", &err);
	return cli_finish("sweep", CLI_EXIT_OK);
}
