/* test_fileio.c: atomic writes and "we never overwrite an input file".
 *
 * In process: sc_atomic_* leave either the old file or the complete new
 * one and no temporary behind; the input registry makes them refuse a
 * target that is a registered input itself, a hard link to it or a
 * symlink to it, while other targets (and a copy of the input) are fine;
 * the loaders register what they read (a model, its external data, a
 * .pb tensor).
 *
 * Through the CLI, on files this test writes: `supcon run --out DIR` when
 * an --in file is DIR/output_0.pb (or a hard link or symlink to it), and
 * `supcon grad -o` onto its own model, exit 2 with one line naming the
 * file, and leave the input byte for byte as it was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_runner.h"
#include "onnx/onnx.h"
#include "runtime/fileio.h"

#define DIR_ SUPCON_TEST_WORK "/fileio"

static void put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		fail_msg("cannot create %s: %s", path, strerror(errno));
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static char *get_file(const char *path)
{
	char *buf;
	size_t len;
	sc_error err = {0};
	if (sc_read_file(path, 1 << 24, &buf, &len, &err))
		fail_msg("%s", err.msg);
	return buf;
}

static void assert_file(const char *path, const char *text)
{
	char *got = get_file(path);
	if (strcmp(got, text) != 0)
		fail_msg("%s holds '%s', expected '%s'", path, got, text);
	free(got);
}

/* No "*.tmp-*" left in dir. */
static void assert_no_temporaries(const char *dir)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (strstr(e->d_name, ".tmp-"))
			fail_msg("temporary file %s/%s left behind", dir, e->d_name);
	closedir(d);
}

static void fresh_dir(void)
{
	assert_int_equal(system("rm -rf '" DIR_ "' && mkdir -p '" DIR_ "'"), 0);
	sc_input_forget_all();
}

static void test_atomic_write(void **state)
{
	(void)state;
	fresh_dir();
	const char *path = DIR_ "/a.txt";
	sc_error err = {0};
	put_file(path, "old");
	/* abandoned: the old file stays, no temporary */
	sc_atomic_file a;
	assert_int_equal(sc_atomic_open(&a, path, &err), SC_OK);
	fputs("half of the new", a.f);
	fflush(a.f);
	assert_file(path, "old");
	sc_atomic_abort(&a);
	assert_file(path, "old");
	assert_no_temporaries(DIR_);
	/* a writer that met an error: commit fails, old file stays */
	assert_int_equal(sc_atomic_open(&a, path, &err), SC_OK);
	fputs("new", a.f);
	a.error = ENOSPC;
	assert_int_equal(sc_atomic_commit(&a, &err), SC_EIO);
	assert_non_null(strstr(err.msg, "a.txt"));
	assert_file(path, "old");
	assert_no_temporaries(DIR_);
	/* committed: the whole new file */
	assert_int_equal(sc_write_file_atomic(path, "new", 3, &err), SC_OK);
	assert_file(path, "new");
	assert_no_temporaries(DIR_);
	/* a folder that does not exist: one line naming the target */
	assert_int_equal(sc_write_file_atomic(DIR_ "/no/such/b.txt", "x", 1, &err),
			 SC_EIO);
	assert_non_null(strstr(err.msg, "b.txt"));
	assert_null(strchr(err.msg, '\n'));
}

static void test_inputs_are_not_overwritten(void **state)
{
	(void)state;
	fresh_dir();
	sc_error err = {0};
	const char *in = DIR_ "/in.bin";
	put_file(in, "input");
	assert_int_equal(link(in, DIR_ "/hard.bin"), 0);
	assert_int_equal(symlink("in.bin", DIR_ "/soft.bin"), 0);
	put_file(DIR_ "/copy.bin", "input");
	/* before registration everything may be written */
	assert_int_equal(sc_input_check(in, &err), SC_OK);
	assert_int_equal(sc_input_register(in, &err), SC_OK);
	assert_int_equal(sc_input_register(in, &err), SC_OK);   /* twice is fine */

	const char *refused[] = {in, DIR_ "/hard.bin", DIR_ "/soft.bin",
				 DIR_ "/../fileio/in.bin"};
	for (int i = 0; i < 4; i++) {
		sc_error_clear(&err);
		assert_int_equal(sc_write_file_atomic(refused[i], "x", 1, &err),
				 SC_EINVAL);
		print_message("  %s\n", err.msg);
		assert_non_null(strstr(err.msg, refused[i]));
		assert_non_null(strstr(err.msg, "overwrite"));
		assert_null(strchr(err.msg, '\n'));
		if (i)   /* a different path names the input it is */
			assert_non_null(strstr(err.msg, in));
	}
	assert_file(in, "input");
	assert_no_temporaries(DIR_);
	/* a copy, and a new file, are other files */
	assert_int_equal(sc_write_file_atomic(DIR_ "/copy.bin", "out", 3, &err), SC_OK);
	assert_int_equal(sc_write_file_atomic(DIR_ "/new.bin", "out", 3, &err), SC_OK);
	/* the check is made again at commit: an input registered while the
	 * new file was written is not replaced either */
	sc_atomic_file a;
	assert_int_equal(sc_atomic_open(&a, DIR_ "/copy.bin", &err), SC_OK);
	fputs("late", a.f);
	assert_int_equal(sc_input_register(DIR_ "/copy.bin", &err), SC_OK);
	assert_int_equal(sc_atomic_commit(&a, &err), SC_EINVAL);
	assert_file(DIR_ "/copy.bin", "out");
	assert_no_temporaries(DIR_);
	/* a path that does not exist cannot be registered, or refused */
	assert_int_equal(sc_input_register(DIR_ "/missing", &err), SC_OK);
	assert_int_equal(sc_write_file_atomic(DIR_ "/missing", "m", 1, &err), SC_OK);
	sc_input_forget_all();
	assert_int_equal(sc_write_file_atomic(in, "free", 4, &err), SC_OK);
	assert_file(in, "free");
}

/* The loaders register what they read. */
static void test_loaders_register(void **state)
{
	(void)state;
	fresh_dir();
	sc_error err = {0};
	char path[512];
	snprintf(path, sizeof path, "%s/node/test_relu/model.onnx", ONNX_TESTDATA);
	char model[] = DIR_ "/model.onnx", pb[] = DIR_ "/input.pb";
	char cmd[2048];
	snprintf(cmd, sizeof cmd, "cp '%s' '%s' && "
		 "cp '%s/node/test_relu/test_data_set_0/input_0.pb' '%s'",
		 path, model, ONNX_TESTDATA, pb);
	assert_int_equal(system(cmd), 0);
	graph_model *m = NULL;
	assert_int_equal(onnx_load_file(model, &m, &err), SC_OK);
	assert_int_equal(onnx_save_file(m, model, &err), SC_EINVAL);
	assert_non_null(strstr(err.msg, "model.onnx"));
	assert_int_equal(onnx_save_file(m, DIR_ "/saved.onnx", &err), SC_OK);
	graph_model_free(m);
	sc_tensor t;
	assert_int_equal(onnx_tensor_load_file(pb, &t, NULL, &err), SC_OK);
	assert_int_equal(onnx_tensor_save_file(&t, "x", pb, &err), SC_EINVAL);
	assert_int_equal(onnx_tensor_save_file(&t, "x", DIR_ "/out.pb", &err), SC_OK);
	tensor_free(&t);
	sc_input_forget_all();
}

/* --- the CLI ------------------------------------------------------------- */

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	char *b = malloc(*len + 1);
	assert_int_equal(fread(b, 1, *len, f), *len);
	fclose(f);
	return b;
}

static void expect_refusal(const char *const *args, const char *input,
			   const char *target)
{
	size_t len0, len1;
	char *before = read_all(input, &len0);
	const cli_options o = {.dir = DIR_};
	const char *const needles[] = {"overwrite", target, NULL};
	cli_result r = cli_expect(&o, 2, "supcon ", needles, args);
	cli_result_free(&r);
	char *after = read_all(input, &len1);
	assert_int_equal(len0, len1);
	assert_memory_equal(before, after, len0);
	free(before);
	free(after);
}

static void test_cli_refuses_to_overwrite_inputs(void **state)
{
	(void)state;
	fresh_dir();
	char cmd[2048];
	snprintf(cmd, sizeof cmd,
		 "cd '%s' && cp '%s/node/test_relu/model.onnx' relu.onnx && "
		 "mkdir out hard soft && "
		 "cp '%s/node/test_relu/test_data_set_0/input_0.pb' out/output_0.pb && "
		 "ln out/output_0.pb hard/output_0.pb && "
		 "ln -s ../out/output_0.pb soft/output_0.pb",
		 DIR_, ONNX_TESTDATA, ONNX_TESTDATA);
	assert_int_equal(system(cmd), 0);
	const char *in = DIR_ "/out/output_0.pb";
	const char *outs[] = {DIR_ "/out", DIR_ "/hard", DIR_ "/soft"};
	for (int i = 0; i < 3; i++) {
		const char *args[] = {"run", DIR_ "/relu.onnx", "--in",
				      "x=" DIR_ "/out/output_0.pb", "--out", outs[i],
				      NULL};
		expect_refusal(args, in, "output_0.pb");
	}
	/* supcon grad -o onto the model it reads */
	const char *build[] = {"build", "resnet18", "--stem", "cifar", "--width", "4",
			       "--classes", "3", "--in-shape", "1x8x8", "-o",
			       DIR_ "/net.onnx", NULL};
	const cli_options o = {.dir = DIR_};
	cli_result r = cli_run(&o, build);
	assert_int_equal(r.status, 0);
	cli_result_free(&r);
	const char *grad[] = {"grad", DIR_ "/net.onnx", "--loss", "ce", "-o",
			      DIR_ "/net.onnx", NULL};
	expect_refusal(grad, DIR_ "/net.onnx", "net.onnx");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_atomic_write),
		cmocka_unit_test(test_inputs_are_not_overwritten),
		cmocka_unit_test(test_loaders_register),
		cmocka_unit_test(test_cli_refuses_to_overwrite_inputs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
