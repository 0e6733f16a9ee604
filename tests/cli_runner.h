/* cli_runner.h: runs SUPCON_BIN as a child process, as a user would, for
 * the tests of the command line.
 *
 * cli_run() forks and execs SUPCON_BIN with stdout and stderr captured in
 * files of a folder the test names, waits, and returns both texts (up to
 * 64 KiB each) with the exit status.  cli_check() holds what every command
 * promises: exit status N; on failure exactly one line on stderr starting
 * with a prefix and nothing on stdout; on success nothing on stderr.
 * cli_expect() is the two together plus words the stderr line must
 * contain.  Helpers assert (cmocka) instead of returning errors, so include
 * <cmocka.h> first; SUPCON_BIN comes from tests/CMakeLists.txt. */
#ifndef SUPCON_TESTS_CLI_RUNNER_H
#define SUPCON_TESTS_CLI_RUNNER_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#endif

#define CLI_MAX_ARGS 32
#define CLI_MAX_OUTPUT (1 << 16)

typedef struct cli_options {
	const char *dir;        /* folder for stdout.txt and stderr.txt */
	int closed_stdout;      /* stdout is a pipe whose reader is already gone */
	rlim_t as_limit;        /* the child's RLIMIT_AS in bytes; 0: none */
} cli_options;

typedef struct cli_result {
	int exited;             /* 1 if it exited, 0 if a signal ended it */
	int status;             /* exit status or signal number */
	char *out;              /* what it printed, NUL-terminated */
	char *err;
	char cmd[256];          /* "supcon info m.onnx", for messages */
} cli_result;

/* mkdir -p: path and its missing parents; existing folders are fine. */
static void make_dir(const char *path)
{
	char buf[1024];
	size_t len = strlen(path);
	assert_true(len > 0 && len < sizeof buf);
	memcpy(buf, path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (i < len && buf[i] != '/')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			fail_msg("mkdir %s: %s", buf, strerror(errno));
		buf[i] = path[i];
	}
}

/* The first CLI_MAX_OUTPUT - 1 bytes of a file, NUL-terminated. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s: %s", path, strerror(errno));
	char *buf = calloc(1, CLI_MAX_OUTPUT);
	assert_non_null(buf);
	size_t n = fread(buf, 1, CLI_MAX_OUTPUT - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Runs SUPCON_BIN with args (NULL-terminated). */
static cli_result cli_run(const cli_options *o, const char *const *args)
{
	char out_path[1024], err_path[1024];
	make_dir(o->dir);
	snprintf(out_path, sizeof out_path, "%s/stdout.txt", o->dir);
	snprintf(err_path, sizeof err_path, "%s/stderr.txt", o->dir);
	cli_result r;
	memset(&r, 0, sizeof r);
	char *argv[CLI_MAX_ARGS + 2];
	int n = 0;
	argv[n++] = SUPCON_BIN;
	size_t used = (size_t)snprintf(r.cmd, sizeof r.cmd, "supcon");
	for (; args[n - 1]; n++) {
		assert_true(n <= CLI_MAX_ARGS);
		argv[n] = (char *)args[n - 1];
		if (used < sizeof r.cmd)
			used += (size_t)snprintf(r.cmd + used, sizeof r.cmd - used,
						 " %s", args[n - 1]);
	}
	argv[n] = NULL;

	int pfd[2] = {-1, -1};
	if (o->closed_stdout)
		assert_int_equal(pipe(pfd), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fo = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (o->closed_stdout) {
			close(pfd[0]);
			fo = pfd[1];
		}
		if (fo < 0 || fe < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0)
			_exit(125);
		if (o->as_limit) {
			struct rlimit rl = {o->as_limit, o->as_limit};
			if (setrlimit(RLIMIT_AS, &rl) != 0)
				_exit(124);
		}
		execv(SUPCON_BIN, argv);
		_exit(127);
	}
	if (o->closed_stdout) {
		close(pfd[0]);
		close(pfd[1]);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	r.exited = WIFEXITED(st);
	r.status = r.exited ? WEXITSTATUS(st) : WTERMSIG(st);
	r.out = slurp(out_path);
	r.err = slurp(err_path);
	return r;
}

static void cli_result_free(cli_result *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

/* Exactly one non-empty line, ending in '\n'. */
static int one_line(const char *s)
{
	size_t n = strlen(s);
	return n > 1 && strchr(s, '\n') == s + n - 1;
}

/* What every command promises: exit `status`; when it is not 0, exactly
 * one line on stderr that starts with `prefix` and nothing on stdout;
 * when it is 0, nothing on stderr.  Returns 1 if r keeps the promise,
 * else 0 with the reason in why. */
static int cli_check(const cli_result *r, int status, const char *prefix,
		     char *why, size_t len)
{
	if (!r->exited)
		snprintf(why, len, "%s: killed by signal %d; stderr: '%s'", r->cmd,
			 r->status, r->err);
	else if (r->status != status)
		snprintf(why, len, "%s: exit %d, expected %d; stderr: '%s'", r->cmd,
			 r->status, status, r->err);
	else if (status == 0 && r->err[0])
		snprintf(why, len, "%s: exit 0 but stderr '%s'", r->cmd, r->err);
	else if (status != 0 && !one_line(r->err))
		snprintf(why, len, "%s: stderr is not exactly one line: '%s'", r->cmd,
			 r->err);
	else if (status != 0 && strncmp(r->err, prefix, strlen(prefix)) != 0)
		snprintf(why, len, "%s: stderr does not start with '%s': '%s'", r->cmd,
			 prefix, r->err);
	else if (status != 0 && r->out[0])
		snprintf(why, len, "%s: printed on stdout although it failed: '%s'",
			 r->cmd, r->out);
	else
		return 1;
	return 0;
}

/* Runs args and fails the test unless the result keeps cli_check()'s
 * promise for `status` and `prefix` and, on failure, its stderr line
 * contains every one of needles (NULL-terminated; NULL for none).  The
 * caller frees the result. */
static cli_result cli_expect(const cli_options *o, int status, const char *prefix,
			     const char *const *needles, const char *const *args)
{
	cli_result r = cli_run(o, args);
	char why[2048];
	int ok = cli_check(&r, status, prefix, why, sizeof why);
	for (int i = 0; ok && status != 0 && needles && needles[i]; i++)
		if (!strstr(r.err, needles[i])) {
			snprintf(why, sizeof why, "%s: stderr lacks '%s': '%s'", r.cmd,
				 needles[i], r.err);
			ok = 0;
		}
	if (!ok) {
		cli_result_free(&r);
		fail_msg("%s", why);
	}
	return r;
}

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#endif
