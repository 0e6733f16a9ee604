/* cli_util.c: option parsing, one-line errors, usage text, the start of
 * every command, shapes and JSON strings shared by every `supcon`
 * subcommand; see cli.h. */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "onnx/onnx.h"
#include "runtime/infer.h"

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

static int opt_store(cli_opt *o, const char *value, sc_error *err)
{
	o->seen++;
	if (o->kind == CLI_VALUE) {
		o->value = value;
	} else if (o->kind == CLI_LIST) {
		const char **v = realloc(o->values,
					 (size_t)(o->n_values + 1) * sizeof *v);
		if (!v)
			return sc_fail(err, SC_ENOMEM,
				       "out of memory storing --%s", o->name);
		v[o->n_values++] = value;
		o->values = v;
	}
	return SC_OK;
}

/* Handles one option word at argv[*i]; `flag` is what the user typed (for
 * messages), inline_value the part after '=' or NULL. */
static int parse_option(cli_opt *o, const char *flag, const char *inline_value,
			int argc, char **argv, int *i, sc_error *err)
{
	if (o->kind == CLI_FLAG) {
		if (inline_value)
			return sc_fail(err, SC_EINVAL,
				       "option %s takes no value", flag);
		return opt_store(o, NULL, err);
	}
	if (inline_value)
		return opt_store(o, inline_value, err);
	if (*i + 1 >= argc)
		return sc_fail(err, SC_EINVAL, "option %s needs a value (%s)",
			       flag, o->metavar ? o->metavar : "VALUE");
	(*i)++;
	return opt_store(o, argv[*i], err);
}

static int parse_word(int argc, char **argv, int *i, cli_opt *opts,
		      int n_opts, cli_args *out, sc_error *err)
{
	const char *w = argv[*i];

	if (w[0] == '-' && w[1] == '-') {
		const char *name = w + 2;
		const char *eq = strchr(name, '=');
		size_t len = eq ? (size_t)(eq - name) : strlen(name);
		if (len == 4 && strncmp(name, "help", 4) == 0 && !eq) {
			out->help = 1;
			return SC_OK;
		}
		cli_opt *o = opt_by_long(opts, n_opts, name, len);
		if (!o)
			return sc_fail(err, SC_EINVAL, "unknown option --%.*s",
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
			return SC_OK;
		}
		cli_opt *o = opt_by_short(opts, n_opts, w[1]);
		if (!o)
			return sc_fail(err, SC_EINVAL, "unknown option -%c", w[1]);
		char flag[8];
		snprintf(flag, sizeof flag, "-%c", w[1]);
		/* -oFILE is accepted as well as -o FILE */
		const char *inline_value = w[2] ? w + 2 : NULL;
		if (inline_value && o->kind == CLI_FLAG)
			return sc_fail(err, SC_EINVAL, "unknown option %s", w);
		return parse_option(o, flag, inline_value, argc, argv, i, err);
	}
	out->pos[out->n_pos++] = w;
	return SC_OK;
}

int cli_parse(int argc, char **argv, cli_opt *opts, int n_opts,
	      cli_args *out, sc_error *err)
{
	memset(out, 0, sizeof *out);
	opts_reset(opts, n_opts);
	out->opts = opts;
	out->n_opts = n_opts;
	out->pos = calloc((size_t)(argc > 0 ? argc : 1), sizeof *out->pos);
	if (!out->pos)
		return sc_fail(err, SC_ENOMEM, "out of memory parsing arguments");

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
		if (rc != SC_OK) {
			cli_args_free(out);
			return rc;
		}
	}
	return SC_OK;
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
	char msg[SC_ERROR_MAX + 256];
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

int cli_fail(const char *cmd, const sc_error *err)
{
	int code = err->code != SC_OK ? err->code : SC_EINTERNAL;
	cli_error(cmd, "%s", err->msg[0] ? err->msg : sc_code_name(code));
	return sc_exit_code(code);
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
	sc_error err = {0};
	if (cli_parse(argc, argv, spec->opts, spec->n_opts, args, &err) != SC_OK) {
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
		  sc_error *err)
{
	*path = NULL;
	if (a->n_pos == 0)
		return sc_fail(err, SC_EINVAL, "missing MODEL.onnx (usage: supcon %s %s)",
			       spec->cmd, spec->synopsis);
	if (a->n_pos > 1)
		return sc_fail(err, SC_EINVAL, "expected one MODEL.onnx, got %d arguments "
			       "(second: '%s')", a->n_pos, a->pos[1]);
	*path = a->pos[0];
	return SC_OK;
}

int cli_check_input_file(const char *path, const char *what, sc_error *err)
{
	struct stat st;
	if (!path || !*path)
		return sc_fail(err, SC_EINVAL, "empty %s path", what);
	if (stat(path, &st) != 0)
		return sc_fail(err, SC_EINVAL, "%s: cannot open %s: %s", path,
			       what, strerror(errno));
	if (S_ISDIR(st.st_mode))
		return sc_fail(err, SC_EINVAL, "%s: %s is a directory, not a file",
			       path, what);
	if (access(path, R_OK) != 0)
		return sc_fail(err, SC_EINVAL, "%s: cannot read %s: %s", path,
			       what, strerror(errno));
	return SC_OK;
}

int cli_int_option(const cli_args *a, const char *name, long long min,
		   long long max, long long dflt, long long *out, sc_error *err)
{
	const char *s = cli_value(a, name, NULL);
	*out = dflt;
	if (!s)
		return SC_OK;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (end == s || *end || errno == ERANGE || v < min || v > max ||
	    (*s < '0' || *s > '9')) {
		char shown[48];
		snprintf(shown, sizeof shown, "%.40s%s", s, strlen(s) > 40 ? "..." : "");
		return sc_fail(err, SC_EINVAL,
			       "--%s '%s': expected a whole number from %lld to %lld",
			       name, shown, min, max);
	}
	*out = v;
	return SC_OK;
}

/* Messages from the graph passes do not know the file; name it once. */
static void prefix_path(sc_error *err, const char *path)
{
	size_t n = strlen(path);
	if (strncmp(err->msg, path, n) != 0)
		sc_error_prefix(err, "%s: ", path);
}

int cli_load_model(const char *path, int infer, graph_model **out,
		   sc_error *err)
{
	*out = NULL;
	int rc = cli_check_input_file(path, "model", err);
	if (rc != SC_OK)
		return rc;
	graph_model *m = NULL;
	rc = onnx_load_file(path, &m, err);
	if (rc != SC_OK)
		return rc;
	rc = graph_validate(m, err);
	if (rc == SC_OK && infer)
		rc = graph_infer_shapes(m, err);
	if (rc != SC_OK) {
		prefix_path(err, path);
		graph_model_free(m);
		return rc;
	}
	*out = m;
	return SC_OK;
}

/* mkdir of one path component; an existing folder is fine. */
static int make_one_dir(const char *path, const char *flag, const char *dir,
			sc_error *err)
{
	if (mkdir(path, 0777) == 0)
		return SC_OK;
	int e = errno;
	struct stat st;
	if (e == EEXIST && stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return SC_OK;
		return sc_fail(err, SC_EINVAL,
			       "%s %s: cannot create the folder: %s is a file",
			       flag, dir, path);
	}
	return sc_fail(err, SC_EINVAL, "%s %s: cannot create the folder %s: %s",
		       flag, dir, path, strerror(e));
}

int cli_make_output_dir(const char *dir, const char *flag, sc_error *err)
{
	if (!dir || !*dir)
		return sc_fail(err, SC_EINVAL, "%s: empty folder name", flag);
	size_t len = strlen(dir);
	if (len >= PATH_MAX)
		return sc_fail(err, SC_EINVAL, "%s: folder name longer than %d bytes",
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
		if (rc != SC_OK)
			return rc;
	}
	/* As root, access() says yes to read-only folders; only creating a
	 * file answers for every case (permissions, read-only mounts). */
	char probe[PATH_MAX + 32];
	int n = snprintf(probe, sizeof probe, "%s/.supcon-probe-XXXXXX", dir);
	if (n < 0 || (size_t)n >= sizeof probe)
		return sc_fail(err, SC_EINVAL, "%s %s: folder name too long", flag, dir);
	int fd = mkstemp(probe);
	if (fd < 0)
		return sc_fail(err, SC_EINVAL, "%s %s: cannot write in the folder: %s",
			       flag, dir, strerror(errno));
	close(fd);
	unlink(probe);
	return SC_OK;
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
		    sc_error *err)
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
		return sc_fail(err, SC_EINVAL, "%s '%s': expected a size such as "
			       "1048576, 512M or 1.5G (binary units)", flag,
			       text ? text : "");
	*out = (size_t)(v * unit);
	return SC_OK;
}
