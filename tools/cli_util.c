/* cli_util.c: option parsing, one-line errors, usage text, the start of
 * every command, running a job, folders and JSON strings shared by every
 * `supcon` subcommand; see cli.h. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


/* --- errors ---------------------------------------------------------------- */

/* Control characters become '?' so that a message stays one line. */
static void one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

int cli_set_err(cli_err *e, int code, const char *fmt, ...)
{
	if (!e)
		return code;
	e->code = code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	one_line(e->msg);
	return code;
}

void cli_err_prefix(cli_err *e, const char *fmt, ...)
{
	char text[2 * CLI_ERR_MAX];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(text, CLI_ERR_MAX, fmt, ap);
	va_end(ap);
	size_t len = n < 0 ? 0 : (size_t)n < CLI_ERR_MAX ? (size_t)n : CLI_ERR_MAX - 1;
	memcpy(text + len, e->msg, strnlen(e->msg, CLI_ERR_MAX - 1) + 1);
	/* the message keeps its first CLI_ERR_MAX - 1 bytes */
	memcpy(e->msg, text, CLI_ERR_MAX - 1);
	e->msg[CLI_ERR_MAX - 1] = 0;
	one_line(e->msg);
}

int cli_exit_code(int code)
{
	if (code == SUPCON_OK)
		return CLI_EXIT_OK;
	return code == SUPCON_EINVAL || code == SUPCON_EUNSUPPORTED ?
	       CLI_EXIT_USAGE : CLI_EXIT_FAIL;
}

/* --- option parsing ------------------------------------------------------ */

static void opts_reset(cli_opt *opts, int n_opts)
{
	for (int i = 0; i < n_opts; i++) {
		opts[i].seen = 0;
		opts[i].value = NULL;
		opts[i].values = NULL;
		opts[i].n_values = 0;
	}
}

static cli_opt *opt_by_long(cli_opt *opts, int n_opts, const char *name,
			    size_t len)
{
	for (int i = 0; i < n_opts; i++)
		if (strlen(opts[i].name) == len &&
		    strncmp(opts[i].name, name, len) == 0)
			return &opts[i];
	return NULL;
}

static cli_opt *opt_by_short(cli_opt *opts, int n_opts, char c)
{
	for (int i = 0; i < n_opts; i++)
		if (opts[i].short_name && opts[i].short_name == c)
			return &opts[i];
	return NULL;
}

static int opt_store(cli_opt *o, const char *value, cli_err *err)
{
	o->seen++;
	if (o->kind == CLI_VALUE) {
		o->value = value;
	} else if (o->kind == CLI_LIST) {
		const char **v = realloc(o->values,
					 (size_t)(o->n_values + 1) * sizeof *v);
		if (!v)
			return cli_set_err(err, SUPCON_ENOMEM,
				       "out of memory storing --%s", o->name);
		v[o->n_values++] = value;
		o->values = v;
	}
	return SUPCON_OK;
}

/* Handles one option word at argv[*i]; `flag` is what the user typed (for
 * messages), inline_value the part after '=' or NULL. */
static int parse_option(cli_opt *o, const char *flag, const char *inline_value,
			int argc, char **argv, int *i, cli_err *err)
{
	if (o->kind == CLI_FLAG) {
		if (inline_value)
			return cli_set_err(err, SUPCON_EINVAL,
				       "option %s takes no value", flag);
		return opt_store(o, NULL, err);
	}
	if (inline_value)
		return opt_store(o, inline_value, err);
	if (*i + 1 >= argc)
		return cli_set_err(err, SUPCON_EINVAL, "option %s needs a value (%s)",
			       flag, o->metavar ? o->metavar : "VALUE");
	(*i)++;
	return opt_store(o, argv[*i], err);
}

static int parse_word(int argc, char **argv, int *i, cli_opt *opts,
		      int n_opts, cli_args *out, cli_err *err)
{
	const char *w = argv[*i];

	if (w[0] == '-' && w[1] == '-') {
		const char *name = w + 2;
		const char *eq = strchr(name, '=');
		size_t len = eq ? (size_t)(eq - name) : strlen(name);
		if (len == 4 && strncmp(name, "help", 4) == 0 && !eq) {
			out->help = 1;
			return SUPCON_OK;
		}
		cli_opt *o = opt_by_long(opts, n_opts, name, len);
		if (!o)
			return cli_set_err(err, SUPCON_EINVAL, "unknown option --%.*s",
				       (int)(len > 64 ? 64 : len), name);
		char flag[80];
		snprintf(flag, sizeof flag, "--%s", o->name);
		return parse_option(o, flag, eq ? eq + 1 : NULL, argc, argv, i,
				    err);
	}
	/* "-" alone is a positional (stdin by convention); "-5" may be a
	 * negative number, but no command takes one positionally yet. */
	if (w[0] == '-' && w[1] != '\0') {
		if (w[1] == 'h' && w[2] == '\0') {
			out->help = 1;
			return SUPCON_OK;
		}
		cli_opt *o = opt_by_short(opts, n_opts, w[1]);
		if (!o)
			return cli_set_err(err, SUPCON_EINVAL, "unknown option -%c", w[1]);
		char flag[8];
		snprintf(flag, sizeof flag, "-%c", w[1]);
		/* -oFILE is accepted as well as -o FILE */
		const char *inline_value = w[2] ? w + 2 : NULL;
		if (inline_value && o->kind == CLI_FLAG)
			return cli_set_err(err, SUPCON_EINVAL, "unknown option %s", w);
		return parse_option(o, flag, inline_value, argc, argv, i, err);
	}
	out->pos[out->n_pos++] = w;
	return SUPCON_OK;
}

int cli_parse(int argc, char **argv, cli_opt *opts, int n_opts,
	      cli_args *out, cli_err *err)
{
	memset(out, 0, sizeof *out);
	opts_reset(opts, n_opts);
	out->opts = opts;
	out->n_opts = n_opts;
	out->pos = calloc((size_t)(argc > 0 ? argc : 1), sizeof *out->pos);
	if (!out->pos)
		return cli_set_err(err, SUPCON_ENOMEM, "out of memory parsing arguments");

	int only_positional = 0;
	for (int i = 0; i < argc; i++) {
		if (only_positional) {
			out->pos[out->n_pos++] = argv[i];
			continue;
		}
		if (strcmp(argv[i], "--") == 0) {
			only_positional = 1;
			continue;
		}
		int rc = parse_word(argc, argv, &i, opts, n_opts, out, err);
		if (rc != SUPCON_OK) {
			cli_args_free(out);
			return rc;
		}
	}
	return SUPCON_OK;
}

void cli_args_free(cli_args *a)
{
	if (!a)
		return;
	for (int i = 0; i < a->n_opts; i++) {
		free(a->opts[i].values);
		a->opts[i].values = NULL;
		a->opts[i].n_values = 0;
	}
	free(a->pos);
	a->pos = NULL;
	a->n_pos = 0;
}

const cli_opt *cli_find(const cli_args *a, const char *name)
{
	for (int i = 0; i < a->n_opts; i++)
		if (strcmp(a->opts[i].name, name) == 0)
			return &a->opts[i];
	return NULL;
}

int cli_has(const cli_args *a, const char *name)
{
	const cli_opt *o = cli_find(a, name);
	return o && o->seen > 0;
}

const char *cli_value(const cli_args *a, const char *name, const char *dflt)
{
	const cli_opt *o = cli_find(a, name);
	return o && o->value ? o->value : dflt;
}

/* --- messages ------------------------------------------------------------ */

void cli_error(const char *cmd, const char *fmt, ...)
{
	char msg[CLI_ERR_MAX + 256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if (cmd)
		fprintf(stderr, "supcon %s: %s\n", cmd, msg);
	else
		fprintf(stderr, "supcon: %s\n", msg);
	fflush(stderr);
}

int cli_fail(const char *cmd, const cli_err *err)
{
	int code = err->code != SUPCON_OK ? err->code : SUPCON_EINTERNAL;
	cli_error(cmd, "%s", err->msg[0] ? err->msg :
		  supcon_status_name((supcon_status)code));
	return cli_exit_code(code);
}

void cli_usage(FILE *f, const char *cmd, const char *synopsis,
	       const char *description, const cli_opt *opts, int n_opts)
{
	fprintf(f, "usage: supcon %s%s%s\n", cmd, synopsis && *synopsis ? " " : "",
		synopsis ? synopsis : "");
	if (description && *description)
		fprintf(f, "\n%s\n", description);
	if (n_opts > 0)
		fprintf(f, "\noptions:\n");
	for (int i = 0; i < n_opts; i++) {
		char left[96];
		int n = 0;
		if (opts[i].short_name)
			n = snprintf(left, sizeof left, "-%c, ", opts[i].short_name);
		snprintf(left + n, sizeof left - (size_t)n, "--%s%s%s", opts[i].name,
			 opts[i].metavar ? " " : "",
			 opts[i].metavar ? opts[i].metavar : "");
		fprintf(f, "  %-24s %s\n", left, opts[i].help ? opts[i].help : "");
	}
	fprintf(f, "  %-24s %s\n", "-h, --help", "show this help and exit");
}

int cli_begin(const cli_spec *spec, int argc, char **argv, cli_args *args,
	      int *status)
{
	cli_err err = {0};
	if (cli_parse(argc, argv, spec->opts, spec->n_opts, args, &err) != SUPCON_OK) {
		*status = cli_fail(spec->cmd, &err);
		return 0;
	}
	if (!args->help)
		return 1;
	cli_usage(stdout, spec->cmd, spec->synopsis, spec->description,
		  spec->opts, spec->n_opts);
	if (spec->epilog)
		printf("\n%s\n", spec->epilog);
	cli_args_free(args);
	*status = cli_finish(spec->cmd, CLI_EXIT_OK);
	return 0;
}

int cli_one_model(const cli_spec *spec, const cli_args *a, const char **path,
		  cli_err *err)
{
	*path = NULL;
	if (a->n_pos == 0)
		return cli_set_err(err, SUPCON_EINVAL, "missing MODEL.onnx (usage: supcon %s %s)",
			       spec->cmd, spec->synopsis);
	if (a->n_pos > 1)
		return cli_set_err(err, SUPCON_EINVAL, "expected one MODEL.onnx, got %d arguments "
			       "(second: '%s')", a->n_pos, a->pos[1]);
	*path = a->pos[0];
	return SUPCON_OK;
}

int cli_check_input_file(const char *path, const char *what, cli_err *err)
{
	struct stat st;
	if (!path || !*path)
		return cli_set_err(err, SUPCON_EINVAL, "empty %s path", what);
	if (stat(path, &st) != 0)
		return cli_set_err(err, SUPCON_EINVAL, "%s: cannot open %s: %s", path,
			       what, strerror(errno));
	if (S_ISDIR(st.st_mode))
		return cli_set_err(err, SUPCON_EINVAL, "%s: %s is a directory, not a file",
			       path, what);
	if (access(path, R_OK) != 0)
		return cli_set_err(err, SUPCON_EINVAL, "%s: cannot read %s: %s", path,
			       what, strerror(errno));
	return SUPCON_OK;
}

int cli_int_option(const cli_args *a, const char *name, long long min,
		   long long max, long long dflt, long long *out, cli_err *err)
{
	const char *s = cli_value(a, name, NULL);
	*out = dflt;
	if (!s)
		return SUPCON_OK;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (end == s || *end || errno == ERANGE || v < min || v > max ||
	    (*s < '0' || *s > '9')) {
		char shown[48];
		snprintf(shown, sizeof shown, "%.40s%s", s, strlen(s) > 40 ? "..." : "");
		return cli_set_err(err, SUPCON_EINVAL,
			       "--%s '%s': expected a whole number from %lld to %lld",
			       name, shown, min, max);
	}
	*out = v;
	return SUPCON_OK;
}

/* mkdir of one path component; an existing folder is fine. */
static int make_one_dir(const char *path, const char *flag, const char *dir,
			cli_err *err)
{
	if (mkdir(path, 0777) == 0)
		return SUPCON_OK;
	int e = errno;
	struct stat st;
	if (e == EEXIST && stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return SUPCON_OK;
		return cli_set_err(err, SUPCON_EINVAL,
			       "%s %s: cannot create the folder: %s is a file",
			       flag, dir, path);
	}
	return cli_set_err(err, SUPCON_EINVAL, "%s %s: cannot create the folder %s: %s",
		       flag, dir, path, strerror(e));
}

int cli_make_output_dir(const char *dir, const char *flag, cli_err *err)
{
	if (!dir || !*dir)
		return cli_set_err(err, SUPCON_EINVAL, "%s: empty folder name", flag);
	size_t len = strlen(dir);
	if (len >= PATH_MAX)
		return cli_set_err(err, SUPCON_EINVAL, "%s: folder name longer than %d bytes",
			       flag, PATH_MAX - 1);
	char path[PATH_MAX];
	memcpy(path, dir, len + 1);
	/* every prefix ending before a '/', then the whole path */
	for (size_t i = 1; i <= len; i++) {
		if (i < len && path[i] != '/')
			continue;
		if (i < len && path[i - 1] == '/')
			continue;     /* "a//b" */
		char saved = path[i];
		path[i] = '\0';
		int rc = make_one_dir(path, flag, dir, err);
		path[i] = saved;
		if (rc != SUPCON_OK)
			return rc;
	}
	/* As root, access() says yes to read-only folders; only creating a
	 * file answers for every case (permissions, read-only mounts). */
	char probe[PATH_MAX + 32];
	int n = snprintf(probe, sizeof probe, "%s/.supcon-probe-XXXXXX", dir);
	if (n < 0 || (size_t)n >= sizeof probe)
		return cli_set_err(err, SUPCON_EINVAL, "%s %s: folder name too long", flag, dir);
	int fd = mkstemp(probe);
	if (fd < 0)
		return cli_set_err(err, SUPCON_EINVAL, "%s %s: cannot write in the folder: %s",
			       flag, dir, strerror(errno));
	close(fd);
	unlink(probe);
	return SUPCON_OK;
}

int cli_finish(const char *cmd, int status)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		cli_error(cmd, "writing to standard output failed: %s",
			  strerror(errno));
		return status ? status : CLI_EXIT_FAIL;
	}
	return status;
}

/* --- output ---------------------------------------------------------------- */

/* --- JSON ---------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if it is not one. */
static int utf8_len(const unsigned char *s)
{
	if (s[0] < 0x80)
		return 1;
	int n;
	uint32_t cp;
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	for (int i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates and values past U+10FFFF are not UTF-8 */
	static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
	if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

void cli_json_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	fputc('"', f);
	while (*p) {
		unsigned char c = *p;
		switch (c) {
		case '"': fputs("\\\"", f); p++; continue;
		case '\\': fputs("\\\\", f); p++; continue;
		case '\b': fputs("\\b", f); p++; continue;
		case '\f': fputs("\\f", f); p++; continue;
		case '\n': fputs("\\n", f); p++; continue;
		case '\r': fputs("\\r", f); p++; continue;
		case '\t': fputs("\\t", f); p++; continue;
		default: break;
		}
		if (c < 0x20 || c == 0x7f) {
			fprintf(f, "\\u%04x", c);
			p++;
			continue;
		}
		int n = utf8_len(p);
		if (n == 0) {
			fputs("\\ufffd", f);
			p++;
			continue;
		}
		fwrite(p, 1, (size_t)n, f);
		p += n;
	}
	fputc('"', f);
}

/* --- files and time ---------------------------------------------------------- */

double cli_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int cli_path(char *buf, size_t len, const char *dir, const char *file,
	     cli_err *e)
{
	int n = snprintf(buf, len, "%s/%s", dir, file);
	if (n < 0 || (size_t)n >= len)
		return cli_set_err(e, SUPCON_EINVAL, "%s: path too long", dir);
	return SUPCON_OK;
}

char *cli_read_text(const char *path, size_t max)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = malloc(max + 1);
	size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
	int bad = !buf || ferror(f) || n > max;
	fclose(f);
	if (bad) {
		free(buf);
		return NULL;
	}
	buf[n] = 0;
	return buf;
}

double cli_json_number(const char *text, const char *key)
{
	char pat[96];
	snprintf(pat, sizeof pat, "\n  \"%s\": ", key);
	const char *p = text ? strstr(text, pat) : NULL;
	double v = NAN;
	if (p && sscanf(p + strlen(pat), "%lf", &v) != 1)
		v = NAN;
	return v;
}

int cli_atomic_open(cli_atomic *a, const char *path, cli_err *e)
{
	memset(a, 0, sizeof *a);
	int n = snprintf(a->path, sizeof a->path, "%s", path);
	int m = snprintf(a->tmp, sizeof a->tmp, "%s.tmp-XXXXXX", path);
	if (n < 0 || (size_t)n >= sizeof a->path || m < 0 ||
	    (size_t)m >= sizeof a->tmp)
		return cli_set_err(e, SUPCON_EINVAL, "%s: path too long", path);
	int fd = mkstemp(a->tmp);
	if (fd < 0 || !(a->f = fdopen(fd, "w"))) {
		int err = errno;
		if (fd >= 0) {
			close(fd);
			unlink(a->tmp);
		}
		return cli_set_err(e, SUPCON_EIO, "%s: cannot write: %s", path,
				   strerror(err));
	}
	return SUPCON_OK;
}

int cli_atomic_commit(cli_atomic *a, cli_err *e)
{
	int bad = ferror(a->f) || fflush(a->f) != 0 || fsync(fileno(a->f)) != 0;
	int err = errno;
	if (fclose(a->f) != 0 && !bad) {
		bad = 1;
		err = errno;
	}
	a->f = NULL;
	if (!bad && rename(a->tmp, a->path) != 0) {
		bad = 1;
		err = errno;
	}
	if (bad) {
		unlink(a->tmp);
		return cli_set_err(e, SUPCON_EIO, "%s: cannot write: %s", a->path,
				   strerror(err));
	}
	return SUPCON_OK;
}

void cli_atomic_abort(cli_atomic *a)
{
	if (a->f)
		fclose(a->f);
	a->f = NULL;
	unlink(a->tmp);
}

/* --- jobs --------------------------------------------------------------------- */

int cli_job_err(cli_err *e, const supcon_job *j, supcon_status st)
{
	const char *msg = j ? supcon_job_error(j) : supcon_last_error();
	e->code = st;
	snprintf(e->msg, sizeof e->msg, "%s", msg && *msg ? msg : supcon_last_error());
	return st;
}

int cli_job_set_args(supcon_job *j, const cli_args *a, cli_err *e)
{
	for (int i = 0; i < a->n_opts; i++) {
		const cli_opt *o = &a->opts[i];
		if (!o->seen)
			continue;
		/* list options are the info/run/bench commands', not jobs' */
		const char *v = o->kind == CLI_FLAG ? "1" : o->value;
		supcon_status st = supcon_job_set(j, o->name, v ? v : "");
		if (st)
			return cli_job_err(e, j, st);
	}
	return SUPCON_OK;
}

int cli_run_job(const char *cmd, const char *kind, const cli_args *a,
		const char *const *extra, supcon_job **keep)
{
	cli_err e = {0};
	supcon_job *j = NULL;
	supcon_status st = supcon_job_create(kind, &j);
	int rc = st ? cli_job_err(&e, NULL, st) : SUPCON_OK;
	if (!rc)
		rc = cli_job_set_args(j, a, &e);
	for (int i = 0; !rc && extra && extra[i]; i += 2)
		if ((st = supcon_job_set(j, extra[i], extra[i + 1])))
			rc = cli_job_err(&e, j, st);
	if (!rc && (st = supcon_job_set_output(j, stdout)))
		rc = cli_job_err(&e, j, st);
	if (!rc && (st = supcon_job_run(j)))
		rc = cli_job_err(&e, j, st);
	if (rc) {
		supcon_job_free(j);
		return cli_fail(cmd, &e);
	}
	if (keep)
		*keep = j;
	else
		supcon_job_free(j);
	return cli_finish(cmd, CLI_EXIT_OK);
}

/* --- commands that are not built yet ------------------------------------- */

int cli_not_implemented(const cli_command *c, int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("usage: supcon %s %s\n\n%s\n\n"
			       "supcon %s is not implemented yet.\n",
			       c->name, c->synopsis, c->summary, c->name);
			return cli_finish(c->name, CLI_EXIT_OK);
		}
	}
	cli_error(c->name, "not implemented yet (see `supcon %s --help`)",
		  c->name);
	return CLI_EXIT_FAIL;
}

/* Sizes in binary units, for --max-memory. */
int cli_parse_bytes(const char *flag, const char *text, size_t *out,
		    cli_err *err)
{
	char *end = NULL;
	double v = text && *text ? strtod(text, &end) : -1;
	double unit = 1;
	if (end && *end) {
		switch (*end == 'k' ? 'K' : *end) {
		case 'K': unit = 1024.0; break;
		case 'M': unit = 1024.0 * 1024.0; break;
		case 'G': unit = 1024.0 * 1024.0 * 1024.0; break;
		case 'T': unit = 1024.0 * 1024.0 * 1024.0 * 1024.0; break;
		default: unit = 0; break;
		}
		end++;
		if (*end == 'i' && end[1] == 'B')
			end += 2;
		else if (*end == 'B')
			end++;
	}
	if (!end || *end || unit == 0 || !(v > 0) || v * unit >= 9.2e18)
		return cli_set_err(err, SUPCON_EINVAL, "%s '%s': expected a size such as "
			       "1048576, 512M or 1.5G (binary units)", flag,
			       text ? text : "");
	*out = (size_t)(v * unit);
	return SUPCON_OK;
}
