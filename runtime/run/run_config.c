/* run_config.c: the run options of the train and linear jobs (`supcon
 * train`, `supcon linear`), resolved into a run_config; saved as
 * config.json and in checkpoints.
 *
 * One table drives everything: the job keys, the JSON, the checkpoint
 * text and the comparison on --resume, so a new option cannot be
 * forgotten in one of them.  (The CLI's help text for these options is
 * tools/cli_run.c.) */
#include "run.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/fileio.h"

typedef enum field_type { F_STR, F_INT, F_DBL, F_BOOL } field_type;

typedef struct field {
	const char *name;       /* the option's and the JSON key's name */
	field_type type;
	size_t off, size;
	int resumable;          /* may differ from the saved config on --resume */
} field;

#define FS(n, m) {n, F_STR, offsetof(run_config, m), sizeof(((run_config *)0)->m), 0}
#define FI(n, m) {n, F_INT, offsetof(run_config, m), 0, 0}
#define FR(n, m) {n, F_INT, offsetof(run_config, m), 0, 1}
#define FD(n, m) {n, F_DBL, offsetof(run_config, m), 0, 0}
#define FB(n, m) {n, F_BOOL, offsetof(run_config, m), 0, 0}
#define FBR(n, m) {n, F_BOOL, offsetof(run_config, m), 0, 1}
#define FDR(n, m) {n, F_DBL, offsetof(run_config, m), 0, 1}
#define FSR(n, m) {n, F_STR, offsetof(run_config, m), sizeof(((run_config *)0)->m), 1}

static const field fields[] = {
	FS("method", method),
	FS("model", model),
	FS("stem", stem),
	FI("width", width),
	FS("head", head),
	FB("normalize-encoder", normalize_encoder),
	FS("encoder-output", encoder_output),
	FB("freeze-encoder", freeze_encoder),
	FS("data", data),
	FI("size", size),
	FS("aug", aug),
	FS("optimizer", optimizer),
	FD("lr", lr),
	FD("momentum", momentum),
	FD("weight-decay", weight_decay),
	FS("schedule", schedule),
	FI("warmup", warmup),
	FR("epochs", epochs),
	FR("steps", steps),
	FI("batch", batch),
	FD("temperature", temperature),
	FD("base-temperature", base_temperature),
	FI("seed", seed),
	FR("threads", threads),
	FR("workers", workers),
	FB("deterministic", deterministic),
	FD("val-split", val_split),
	FI("limit", limit),
	FB("zero-init-residual", zero_init_residual),
	FR("checkpoint-every", checkpoint_every),
	FD("label-noise", label_noise),
	FD("clip-grad-norm", clip_grad_norm),
	FD("clip-grad-value", clip_grad_value),
	FBR("check-numerics", check_numerics),
	FSR("max-memory", max_memory),
	/* not an option: how many ranks ran (a resumed run records its own);
	 * spelt as issue 9 and the README name it */
	FR("world_size", world_size),
	FBR("sync-bn", sync_bn),
	FDR("bucket-mb", bucket_mb),
	FDR("dist-timeout", dist_timeout),
};
#define N_FIELDS ((int)(sizeof fields / sizeof fields[0]))

int run_config_is_key(const char *name)
{
	for (int i = 0; i < N_FIELDS; i++)
		if (!strcmp(fields[i].name, name))
			return strcmp(name, "world_size") != 0;
	return 0;
}

int run_config_key_count(void)
{
	return N_FIELDS - 1;
}

const char *run_config_key_name(int i)
{
	/* world_size is recorded, not given: skip it */
	int k = 0;
	for (int j = 0; j < N_FIELDS; j++) {
		if (!strcmp(fields[j].name, "world_size"))
			continue;
		if (k++ == i)
			return fields[j].name;
	}
	return NULL;
}

void run_config_defaults(run_config *c, const char *method)
{
	memset(c, 0, sizeof *c);
	snprintf(c->method, sizeof c->method, "%s", method);
	snprintf(c->model, sizeof c->model, "resnet18");
	snprintf(c->stem, sizeof c->stem, "auto");
	c->width = 64;
	int ce = strcmp(method, "ce") == 0, lin = strcmp(method, "linear") == 0;
	snprintf(c->head, sizeof c->head, "%s", ce || lin ? "none" : "mlp:128");
	snprintf(c->data, sizeof c->data, "fashion-mnist");
	c->size = 32;
	snprintf(c->aug, sizeof c->aug, "%s", ce ? "basic" : lin ? "none" : "simclr");
	snprintf(c->optimizer, sizeof c->optimizer, "sgd");
	c->lr = lin ? 0.1 : 0.05;
	c->momentum = 0.9;
	c->weight_decay = lin ? 0 : 1e-4;
	snprintf(c->schedule, sizeof c->schedule, "cosine");
	c->epochs = 10;
	c->batch = 256;
	c->temperature = 0.1;
	c->base_temperature = 0;
	c->workers = -1;
	c->val_split = 0.1;
	c->world_size = 1;
	c->bucket_mb = 4;
	c->dist_timeout = 600;
}

static void *at(run_config *c, const field *f)
{
	return (char *)c + f->off;
}

static const void *cat(const run_config *c, const field *f)
{
	return (const char *)c + f->off;
}

static int parse_value(run_config *c, const field *f, const char *s,
		       sc_error *err)
{
	char *end;
	errno = 0;
	switch (f->type) {
	case F_STR:
		if (strlen(s) >= f->size)
			return sc_fail(err, SC_EINVAL, "--%s: value longer than %zu "
				       "bytes", f->name, f->size - 1);
		memcpy(at(c, f), s, strlen(s) + 1);
		return SC_OK;
	case F_INT: {
		long long v = strtoll(s, &end, 10);
		/* -1 is the saved form of "auto" (workers) */
		if (end == s || *end || errno || v < (strcmp(f->name, "workers") ? 0 : -1))
			return sc_fail(err, SC_EINVAL, "--%s: '%s' is not a whole "
				       "number >= 0", f->name, s);
		*(long long *)at(c, f) = v;
		return SC_OK;
	}
	case F_DBL: {
		double v = strtod(s, &end);
		if (end == s || *end || errno || !isfinite(v) || v < 0)
			return sc_fail(err, SC_EINVAL, "--%s: '%s' is not a finite "
				       "number >= 0", f->name, s);
		*(double *)at(c, f) = v;
		return SC_OK;
	}
	case F_BOOL:
		if (!strcmp(s, "1") || !strcmp(s, "true"))
			*(int *)at(c, f) = 1;
		else if (!strcmp(s, "0") || !strcmp(s, "false"))
			*(int *)at(c, f) = 0;
		else
			return sc_fail(err, SC_EINVAL, "%s: '%s' is not a boolean",
				       f->name, s);
		return SC_OK;
	}
	return SC_OK;
}

int run_config_check_key(const char *name, const char *value, sc_error *err)
{
	for (int i = 0; i < N_FIELDS; i++) {
		if (strcmp(fields[i].name, name))
			continue;
		/* parsed into a scratch config: the job applies it at run time,
		 * after --method has picked the defaults */
		run_config scratch;
		memset(&scratch, 0, sizeof scratch);
		return parse_value(&scratch, &fields[i], value, err);
	}
	return sc_fail(err, SC_EINVAL, "--%s: not a run option", name);
}

int run_config_from_keys(run_config *c, const run_keys *k, sc_error *err)
{
	/* method first: it picks the other defaults */
	const char *method = run_keys_value(k, "method", NULL);
	if (method && strcmp(method, c->method) != 0) {
		if (strcmp(method, "supcon") && strcmp(method, "simclr") &&
		    strcmp(method, "ce"))
			return sc_fail(err, SC_EINVAL, "--method: '%s' is not one of "
				       "supcon, simclr, ce", method);
		run_config_defaults(c, method);
	}
	for (int i = 0; i < N_FIELDS; i++) {
		const field *f = &fields[i];
		const char *v = run_keys_value(k, f->name, NULL);
		if (!v || !strcmp(f->name, "method") || !strcmp(f->name, "world_size"))
			continue;
		int rc = parse_value(c, f, v, err);
		if (rc)
			return rc;
	}
	/* adaptive optimisers want a smaller default learning rate */
	if (!run_keys_has(k, "lr") && (!strcmp(c->optimizer, "adam") ||
				  !strcmp(c->optimizer, "adamw")))
		c->lr = 1e-3;
	if (!run_keys_has(k, "momentum") && strcmp(c->optimizer, "sgd") != 0)
		c->momentum = 0;
	return SC_OK;
}

int run_config_check(const run_config *c, sc_error *err)
{
	if (c->batch < 1 || c->batch > 1 << 20)
		return sc_fail(err, SC_EINVAL, "--batch must be in [1, 1048576]");
	if (c->epochs < 1 || c->epochs > RUN_MAX_EPOCHS)
		return sc_fail(err, SC_EINVAL, "--epochs must be in [1, %d]",
			       RUN_MAX_EPOCHS);
	if (c->val_split >= 1)
		return sc_fail(err, SC_EINVAL, "--val-split must be in [0, 1)");
	if (!(c->temperature > 0))
		return sc_fail(err, SC_EINVAL, "--temperature must be > 0");
	if (c->workers < -1 || c->workers > 16)
		return sc_fail(err, SC_EINVAL, "--workers must be at most 16");
	if (c->threads > 1024)
		return sc_fail(err, SC_EINVAL, "--threads must be at most 1024");
	if (c->width < 1 || c->width > 4096)
		return sc_fail(err, SC_EINVAL, "--width must be in [1, 4096]");
	if (strcmp(c->stem, "auto") && strcmp(c->stem, "cifar") &&
	    strcmp(c->stem, "imagenet"))
		return sc_fail(err, SC_EINVAL, "--stem: '%s' is not one of imagenet, "
			       "cifar, auto", c->stem);
	if (c->freeze_encoder && strcmp(c->method, "ce") != 0)
		return sc_fail(err, SC_EINVAL, "--freeze-encoder applies to "
			       "--method ce only");
	if (c->size < 1 || c->size > 4096)
		return sc_fail(err, SC_EINVAL, "--size must be in [1, 4096]");
	if (c->label_noise >= 1)
		return sc_fail(err, SC_EINVAL, "--label-noise must be in [0, 1)");
	if (c->clip_grad_norm < 0 || c->clip_grad_value < 0)
		return sc_fail(err, SC_EINVAL, "--clip-grad-norm and --clip-grad-value "
			       "must be > 0 (0: off)");
	if (!(c->bucket_mb > 0) || c->bucket_mb > 1024)
		return sc_fail(err, SC_EINVAL, "--bucket-mb must be in (0, 1024]");
	size_t bytes;
	if (c->max_memory[0] &&
	    sc_parse_bytes("--max-memory", c->max_memory, &bytes, err))
		return err->code;
	return SC_OK;
}

static void json_field(FILE *f, const run_config *c, const field *fd)
{
	sc_json_string(f, fd->name);
	fputs(": ", f);
	switch (fd->type) {
	case F_STR:
		sc_json_string(f, cat(c, fd));
		break;
	case F_INT:
		fprintf(f, "%lld", *(const long long *)cat(c, fd));
		break;
	case F_DBL:
		fprintf(f, "%.17g", *(const double *)cat(c, fd));
		break;
	case F_BOOL:
		fputs(*(const int *)cat(c, fd) ? "true" : "false", f);
		break;
	}
}

int run_config_write_json(const run_config *c, const char *path, sc_error *err)
{
	sc_atomic_file a;
	int rc = sc_atomic_open(&a, path, err);
	if (rc)
		return rc;
	fputs("{\n", a.f);
	for (int i = 0; i < N_FIELDS; i++) {
		fputs("  ", a.f);
		json_field(a.f, c, &fields[i]);
		fputs(i + 1 < N_FIELDS ? ",\n" : "\n", a.f);
	}
	fputs("}\n", a.f);
	return sc_atomic_commit(&a, err);
}

static void text_value(char *buf, size_t len, const run_config *c,
		       const field *f)
{
	switch (f->type) {
	case F_STR:
		snprintf(buf, len, "%s", (const char *)cat(c, f));
		break;
	case F_INT:
		snprintf(buf, len, "%lld", *(const long long *)cat(c, f));
		break;
	case F_DBL:
		snprintf(buf, len, "%.17g", *(const double *)cat(c, f));
		break;
	case F_BOOL:
		snprintf(buf, len, "%d", *(const int *)cat(c, f));
		break;
	}
}

char *run_config_to_text(const run_config *c)
{
	size_t cap = 8192, len = 0;
	char *s = malloc(cap);
	if (!s)
		return NULL;
	s[0] = 0;
	for (int i = 0; i < N_FIELDS; i++) {
		char v[1100];
		text_value(v, sizeof v, c, &fields[i]);
		/* values are single-line: the parser reads to the line end */
		for (char *p = v; *p; p++)
			if (*p == '\n')
				*p = ' ';
		int k = snprintf(s + len, cap - len, "cfg %s %s\n", fields[i].name, v);
		if (k < 0 || (size_t)k >= cap - len) {
			free(s);
			return NULL;
		}
		len += (size_t)k;
	}
	return s;
}

int run_config_from_text(run_config *c, const char *text, sc_error *err)
{
	int found = 0;
	for (const char *line = text; line && *line;) {
		const char *end = strchr(line, '\n');
		size_t n = end ? (size_t)(end - line) : strlen(line);
		if (n > 4 && !strncmp(line, "cfg ", 4)) {
			char buf[1200];
			if (n >= sizeof buf)
				return sc_fail(err, SC_EINVAL, "checkpoint: config line too long");
			memcpy(buf, line + 4, n - 4);
			buf[n - 4] = 0;
			char *sp = strchr(buf, ' ');
			if (sp) {
				*sp = 0;
				for (int i = 0; i < N_FIELDS; i++) {
					if (strcmp(fields[i].name, buf) != 0)
						continue;
					int rc = parse_value(c, &fields[i], sp + 1, err);
					if (rc) {
						sc_error_prefix(err, "checkpoint config: ");
						return rc;
					}
					found++;
				}
			}
		}
		line = end ? end + 1 : NULL;
	}
	return found ? SC_OK : sc_fail(err, SC_EINVAL, "checkpoint holds no config");
}

int run_config_merge_resume(run_config *saved, const run_config *given,
			    const run_keys *k, sc_error *err)
{
	for (int i = 0; i < N_FIELDS; i++) {
		const field *f = &fields[i];
		if (!run_keys_has(k, f->name))
			continue;
		char x[1100], y[1100];
		text_value(x, sizeof x, saved, f);
		text_value(y, sizeof y, given, f);
		if (f->resumable || !strcmp(f->name, "method")) {
			if (!f->resumable && strcmp(x, y))
				return sc_fail(err, SC_EINVAL, "--resume: the run used "
					       "--%s %s, not %s", f->name, x, y);
			memcpy(at(saved, f), cat(given, f),
			       f->type == F_STR ? f->size :
			       f->type == F_BOOL ? sizeof(int) :
			       f->type == F_DBL ? sizeof(double) : sizeof(long long));
			continue;
		}
		if (strcmp(x, y))
			return sc_fail(err, SC_EINVAL, "--resume: the run used --%s %s; "
				       "only --epochs, --steps, --threads, --workers and "
				       "--checkpoint-every may change", f->name, x);
	}
	return SC_OK;
}
