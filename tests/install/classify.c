/* classify.c: an example client of the installed libsupcon (supcon.h).
 * It loads an ONNX image classifier, reads a PNG with as many channels as
 * the model's input has, runs the model once and prints the class with
 * the highest score.
 *
 *   classify MODEL.onnx IMAGE.png [REFERENCE.pb]
 *
 * With REFERENCE.pb (a TensorProto of the expected scores, such as
 * `supcon run MODEL.onnx --in input=IMAGE.png --out DIR` writes to
 * DIR/output_0.pb), it also checks that the scores match it.  Exit status:
 * 0 success, 1 failure, 2 bad usage. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <supcon.h>

/* Prints what failed with the library's one-line message. */
static int fail(const char *what)
{
	fprintf(stderr, "classify: %s: %s\n", what, supcon_last_error());
	return 1;
}

/* Scores agree when every value is within 1e-5 relative (1e-6 absolute). */
static int check_reference(const supcon_tensor *scores, const char *path)
{
	supcon_tensor *ref = NULL;
	if (supcon_tensor_load_pb(path, &ref) != SUPCON_OK)
		return fail("reading the reference");
	int64_t n = 0, n_ref = 0;
	const float *got = NULL, *want = NULL;
	supcon_dtype dt = 0;
	int bad = supcon_tensor_size(scores, &n, NULL) != SUPCON_OK ||
		  supcon_tensor_size(ref, &n_ref, NULL) != SUPCON_OK ||
		  supcon_tensor_info(ref, &dt, NULL, NULL, 0) != SUPCON_OK ||
		  supcon_tensor_data(scores, (void **)&got) != SUPCON_OK ||
		  supcon_tensor_data(ref, (void **)&want) != SUPCON_OK;
	if (!bad && (n != n_ref || dt != SUPCON_FLOAT)) {
		fprintf(stderr, "classify: %s holds %lld values of dtype %d, the model "
			"gave %lld float32\n", path, (long long)n_ref, (int)dt, (long long)n);
		bad = 1;
	}
	for (int64_t i = 0; !bad && i < n; i++)
		if (fabsf(got[i] - want[i]) > 1e-6f + 1e-5f * fabsf(want[i])) {
			fprintf(stderr, "classify: score %lld is %g, %s says %g\n",
				(long long)i, got[i], path, want[i]);
			bad = 1;
		}
	if (!bad)
		printf("scores match %s\n", path);
	supcon_tensor_free(ref);
	return bad;
}

static int classify(supcon_session *s, const char *image, const char *ref)
{
	/* the model tells how many channels the image must have */
	int dtype, rank;
	int64_t dims[SUPCON_MAX_RANK];
	const char *input, *output;
	if (supcon_session_input_name(s, 0, &input) != SUPCON_OK ||
	    supcon_session_output_name(s, 0, &output) != SUPCON_OK ||
	    supcon_session_input_info(s, 0, &dtype, &rank, dims, SUPCON_MAX_RANK) != SUPCON_OK)
		return fail("the model's input");
	if (dtype != SUPCON_FLOAT || rank != 4 || (dims[1] != 1 && dims[1] != 3)) {
		fprintf(stderr, "classify: input '%s' is not a float image [N, 1 or 3, H, W]\n",
			input);
		return 1;
	}
	supcon_tensor *x = NULL, *scores = NULL;
	int rc = 1;
	if (supcon_tensor_load_png(image, (int)dims[1], &x) != SUPCON_OK) {
		fail("reading the image");
		goto out;
	}
	const supcon_tensor *inputs[1] = {x};
	if (supcon_session_run(s, 1, &input, inputs) != SUPCON_OK ||
	    supcon_session_output(s, 0, &scores) != SUPCON_OK) {
		fail("running the model");
		goto out;
	}
	int64_t n = 0;
	const float *v = NULL;
	if (supcon_tensor_size(scores, &n, NULL) != SUPCON_OK ||
	    supcon_tensor_data(scores, (void **)&v) != SUPCON_OK || n < 1) {
		fail("reading the scores");
		goto out;
	}
	int64_t best = 0;
	for (int64_t i = 1; i < n; i++)
		if (v[i] > v[best])
			best = i;
	printf("%s: class %lld (%s %.6g of %lld scores)\n", image, (long long)best,
	       output, v[best], (long long)n);
	rc = ref ? check_reference(scores, ref) : 0;
out:
	supcon_tensor_free(scores);
	supcon_tensor_free(x);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: classify MODEL.onnx IMAGE.png [REFERENCE.pb]\n");
		return 2;
	}
	printf("libsupcon %s\n", supcon_version());
	supcon_session *s = NULL;
	if (supcon_session_create(argv[1], &s) != SUPCON_OK)
		return fail("loading the model");
	int rc = classify(s, argv[2], argc == 4 ? argv[3] : NULL);
	supcon_session_free(s);
	return rc;
}
