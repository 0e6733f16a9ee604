/* finetune.c: an example client of the installed libsupcon (supcon.h).
 * It fine-tunes a network with the SupCon loss for a few steps on one
 * batch built in memory (two views of each image, wrapped without
 * copying), checks that the loss went down and that the exported model
 * reproduces the trainer's outputs, and writes the export.
 *
 *   finetune MODEL.onnx OUT.onnx [STEPS]
 *
 * MODEL.onnx's first output must be the features [N, D] (for instance
 * `supcon build resnet18 --stem cifar --in-shape 1x28x28 --width 8
 * --head mlp:32`).  Exit status: 0 success, 1 failure, 2 bad usage. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <supcon.h>

#define IMAGES 8        /* per batch, in CLASSES classes */
#define CLASSES 4

static int fail(const char *what, const char *msg)
{
	fprintf(stderr, "finetune: %s: %s\n", what, msg);
	return 1;
}

/* Uniform [0, 1) from a 32-bit LCG: the batch is the same on every run. */
static float next_uniform(unsigned *state)
{
	*state = *state * 1664525u + 1013904223u;
	return (float)(*state >> 8) / 16777216.0f;
}

/* Image i of class i % CLASSES: a class-specific stripe pattern plus
 * noise; its second view (row IMAGES + i) has fresh noise. */
static void make_batch(float *x, int64_t *labels, int64_t c, int64_t h, int64_t w)
{
	unsigned seed = 7;
	int64_t plane = c * h * w;
	for (int v = 0; v < 2; v++)
		for (int i = 0; i < IMAGES; i++) {
			int cls = i % CLASSES;
			float *img = x + (int64_t)(v * IMAGES + i) * plane;
			for (int64_t p = 0; p < plane; p++) {
				int64_t row = p / w % h, col = p % w;
				int64_t t = cls < 2 ? row : col;
				float stripe = (t / (cls % 2 + 2)) % 2 ? 0.8f : 0.2f;
				img[p] = stripe + 0.2f * (next_uniform(&seed) - 0.5f);
			}
			labels[v * IMAGES + i] = cls;
		}
}

/* The exported model, run in a new session, gives the trainer's outputs. */
static int check_export(const char *path, const char *input, const supcon_tensor *x,
			const supcon_tensor *want)
{
	supcon_session *s = NULL;
	supcon_tensor *got = NULL;
	const supcon_tensor *inputs[1] = {x};
	int rc = 1;
	if (supcon_session_create(path, &s) != SUPCON_OK ||
	    supcon_session_run(s, 1, &input, inputs) != SUPCON_OK ||
	    supcon_session_output(s, 0, &got) != SUPCON_OK) {
		fail(path, supcon_last_error());
		goto out;
	}
	int64_t n = 0, n_want = 0;
	const float *a = NULL, *b = NULL;
	supcon_tensor_size(got, &n, NULL);
	supcon_tensor_size(want, &n_want, NULL);
	supcon_tensor_data(got, (void **)&a);
	supcon_tensor_data(want, (void **)&b);
	if (n != n_want) {
		fprintf(stderr, "finetune: the export gives %lld values, the trainer %lld\n",
			(long long)n, (long long)n_want);
		goto out;
	}
	double worst = 0;
	for (int64_t i = 0; i < n; i++)
		worst = fmax(worst, fabs((double)a[i] - b[i]) / (1e-6 + fabs((double)b[i])));
	printf("export: max relative difference to the trainer %.3g\n", worst);
	rc = worst > 1e-4;
	if (rc)
		fprintf(stderr, "finetune: the exported model does not reproduce the "
			"trainer's outputs\n");
out:
	supcon_tensor_free(got);
	supcon_session_free(s);
	return rc;
}

static int finetune(supcon_session *s, const char *out, int steps)
{
	int dtype, rank;
	int64_t d[SUPCON_MAX_RANK];
	if (supcon_session_input_info(s, 0, &dtype, &rank, d, SUPCON_MAX_RANK) != SUPCON_OK)
		return fail("the model's input", supcon_session_error(s));
	if (dtype != SUPCON_FLOAT || rank != 4 || d[1] < 1 || d[2] < 1 || d[3] < 1)
		return fail("the model's input", "not a float image [N, C, H, W] of known size");
	int64_t rows = 2 * IMAGES, xd[4] = {rows, d[1], d[2], d[3]}, yd[1] = {rows};
	size_t xbytes = (size_t)(rows * d[1] * d[2] * d[3]) * sizeof(float);
	float *x = malloc(xbytes);
	int64_t *y = malloc((size_t)rows * sizeof *y);
	supcon_tensor *xt = NULL, *yt = NULL, *features = NULL;
	supcon_trainer *t = NULL;
	int rc = 1;
	if (!x || !y) {
		fail("the batch", "out of memory");
		goto out;
	}
	make_batch(x, y, d[1], d[2], d[3]);
	/* the tensors use x and y in place */
	if (supcon_tensor_wrap(SUPCON_FLOAT, 4, xd, x, xbytes, &xt) != SUPCON_OK ||
	    supcon_tensor_wrap(SUPCON_INT64, 1, yd, y, (size_t)rows * sizeof *y,
			       &yt) != SUPCON_OK) {
		fail("the batch", supcon_last_error());
		goto out;
	}
	if (supcon_trainer_create(s, "supcon", "sgd",
				  "lr=0.05,momentum=0.9,weight_decay=1e-4,temperature=0.1",
				  &t) != SUPCON_OK) {
		fail("the trainer", supcon_session_error(s));
		goto out;
	}
	float first = 0, loss = 0;
	for (int i = 0; i < steps; i++) {
		if (supcon_trainer_step(t, xt, yt, &loss) != SUPCON_OK) {
			fail("a step", supcon_trainer_error(t));
			goto out;
		}
		if (i == 0)
			first = loss;
		printf("step %d  loss %.5f\n", i + 1, loss);
		fflush(stdout);
	}
	if (!(loss < first)) {
		fprintf(stderr, "finetune: the loss did not go down (%g -> %g)\n", first, loss);
		goto out;
	}
	const char *input;
	if (supcon_trainer_eval(t, xt, yt, &loss, &features) != SUPCON_OK ||
	    supcon_trainer_input_name(t, &input) != SUPCON_OK ||
	    supcon_trainer_export(t, out, 0, NULL, NULL, 0) != SUPCON_OK) {
		fail(out, supcon_trainer_error(t));
		goto out;
	}
	printf("eval loss %.5f\n", loss);
	rc = check_export(out, input, xt, features);
	if (!rc)
		printf("wrote %s\n", out);
out:
	supcon_tensor_free(features);
	supcon_trainer_free(t);
	supcon_tensor_free(xt);
	supcon_tensor_free(yt);
	free(x);
	free(y);
	return rc;
}

int main(int argc, char **argv)
{
	int steps = argc == 4 ? atoi(argv[3]) : 8;
	if (argc < 3 || argc > 4 || steps < 2 || steps > 1000) {
		fprintf(stderr, "usage: finetune MODEL.onnx OUT.onnx [STEPS (2 to 1000)]\n");
		return 2;
	}
	supcon_session *s = NULL;
	if (supcon_session_create(argv[1], &s) != SUPCON_OK)
		return fail(argv[1], supcon_last_error());
	int rc = finetune(s, argv[2], steps);
	supcon_session_free(s);
	return rc;
}
