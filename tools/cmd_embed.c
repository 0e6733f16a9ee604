/* cmd_embed.c: `supcon embed MODEL_OR_RUNDIR -o FILE.png`: a scatter plot
 * of the encoder's or the projector's embeddings of a sample of images,
 * laid out in 2-D by t-SNE or PCA and coloured by class, with the
 * silhouette score and k-NN accuracy of the embeddings beside it. */
#include "cli.h"
#include "embed.h"
#include "plot.h"
#include "train.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static cli_opt embed_opts[] = {
	{"out", 'o', CLI_VALUE, "FILE.png", "where to write the picture (required)", 0, 0, 0, 0},
	{"data", 0, CLI_VALUE, "DATA", "images (default: the data the model was "
	 "trained on, else fashion-mnist)", 0, 0, 0, 0},
	{"split", 0, CLI_VALUE, "test|train", "which part of the data (default test)", 0, 0, 0, 0},
	{"layer", 0, CLI_VALUE, "encoder|projector", "the encoder's output or the "
	 "network's (projector, or logits of a CE model; default encoder)", 0, 0, 0, 0},
	{"method", 0, CLI_VALUE, "tsne|pca", "the 2-D layout (default tsne)", 0, 0, 0, 0},
	{"limit", 0, CLI_VALUE, "N", "a seeded sample of N images (default 2000; 0 = all)", 0, 0, 0, 0},
	{"perplexity", 0, CLI_VALUE, "P", "t-SNE perplexity (default 30)", 0, 0, 0, 0},
	{"iterations", 0, CLI_VALUE, "N", "t-SNE iterations (default 1000)", 0, 0, 0, 0},
	{"theta", 0, CLI_VALUE, "T", "Barnes-Hut angle (default 0.5; 0 = exact)", 0, 0, 0, 0},
	{"exact-max", 0, CLI_VALUE, "N", "exact t-SNE up to N points, Barnes-Hut "
	 "above (default 1000)", 0, 0, 0, 0},
	{"seed", 0, CLI_VALUE, "S", "seed of the sample and the t-SNE layout (default 0)", 0, 0, 0, 0},
	{"width", 0, CLI_VALUE, "W", "picture width in pixels (default 1000)", 0, 0, 0, 0},
	{"height", 0, CLI_VALUE, "H", "picture height in pixels (default 750)", 0, 0, 0, 0},
	{"title", 0, CLI_VALUE, "TEXT", "the title (default: what was drawn)", 0, 0, 0, 0},
	{"points", 0, CLI_VALUE, "FILE.csv", "also write the 2-D points (x,y,label)", 0, 0, 0, 0},
	{"size", 0, CLI_VALUE, "N", "ImageFolder images are resized to N x N (default 32)", 0, 0, 0, 0},
	{"threads", 0, CLI_VALUE, "N", "compute threads (default: all cores)", 0, 0, 0, 0},
};

static const cli_spec embed_spec = {
	.cmd = "embed",
	.synopsis = "MODEL.onnx|RUNDIR [--data DATA] [--layer encoder|projector] "
		    "[--method tsne|pca] [--limit N] -o FILE.png",
	.description =
		"Runs a network over a seeded sample of images, takes the embeddings\n"
		"of one layer, L2-normalises them and lays them out in 2-D with t-SNE\n"
		"(exact up to --exact-max points, Barnes-Hut above) or PCA, as a\n"
		"scatter plot coloured by class with a legend of the class names.\n"
		"RUNDIR is a `supcon train` run directory (its model.onnx); a\n"
		"MODEL.onnx may also be an exported classifier or embedding model,\n"
		"or any ResNet-like network (the encoder is cut at its global pool).\n"
		"It prints the silhouette score and the leave-one-out 5-NN accuracy of\n"
		"the embeddings (the numbers behind the picture) and of the 2-D map.",
	.epilog = "The sample is the same for every model given the same --seed, "
		  "--data and --limit,\nso pictures of two models show the same images.",
	.opts = embed_opts,
	.n_opts = (int)(sizeof embed_opts / sizeof embed_opts[0]),
};

static int parse_double(const cli_args *a, const char *name, double lo,
			double hi, double *v, sc_error *err)
{
	const char *s = cli_value(a, name, NULL);
	if (!s)
		return SC_OK;
	char *end;
	errno = 0;
	double x = strtod(s, &end);
	if (end == s || *end || errno || !(x >= lo && x <= hi))
		return sc_fail(err, SC_EINVAL, "--%s '%s': expected a number from %g "
			       "to %g", name, s, lo, hi);
	*v = x;
	return SC_OK;
}

static int parse_args(const cli_args *a, run_embed_options *e, sc_error *err)
{
	run_embed_defaults(e);
	if (a->n_pos > 1)
		return sc_fail(err, SC_EINVAL, "expected one MODEL.onnx or RUNDIR, "
			       "got %d arguments", a->n_pos);
	if (a->n_pos == 0)
		return sc_fail(err, SC_EINVAL, "missing MODEL.onnx or RUNDIR (usage: "
			       "supcon embed %s)", embed_spec.synopsis);
	e->source = a->pos[0];
	e->out = cli_value(a, "out", NULL);
	if (!e->out)
		return sc_fail(err, SC_EINVAL, "missing -o FILE.png");
	e->data = cli_value(a, "data", NULL);
	e->title = cli_value(a, "title", NULL);
	e->points = cli_value(a, "points", NULL);
	const char *layer = cli_value(a, "layer", "encoder");
	if (!strcmp(layer, "encoder"))
		e->layer = RUN_LAYER_ENCODER;
	else if (!strcmp(layer, "projector"))
		e->layer = RUN_LAYER_PROJECTOR;
	else
		return sc_fail(err, SC_EINVAL, "--layer: '%s' is not encoder or "
			       "projector", layer);
	const char *method = cli_value(a, "method", "tsne");
	if (strcmp(method, "tsne") && strcmp(method, "pca"))
		return sc_fail(err, SC_EINVAL, "--method: '%s' is not tsne or pca",
			       method);
	e->pca = !strcmp(method, "pca");
	const char *split = cli_value(a, "split", "test");
	if (strcmp(split, "test") && strcmp(split, "train"))
		return sc_fail(err, SC_EINVAL, "--split: '%s' is not test or train",
			       split);
	e->train_part = !strcmp(split, "train");
	long long w, h, th, it, exact_max;
	int rc;
	if ((rc = cli_int_option(a, "limit", 0, EMBED_MAX_POINTS, 2000, &e->limit, err)) ||
	    (rc = cli_int_option(a, "seed", 0, 1LL << 62, 0, &e->seed, err)) ||
	    (rc = cli_int_option(a, "width", 400, PLOT_MAX_SIDE, 1000, &w, err)) ||
	    (rc = cli_int_option(a, "height", 300, PLOT_MAX_SIDE, 750, &h, err)) ||
	    (rc = cli_int_option(a, "threads", 0, 1024, 0, &th, err)) ||
	    (rc = cli_int_option(a, "size", 1, 4096, 32, &e->size, err)) ||
	    (rc = cli_int_option(a, "iterations", 1, 100000, 1000, &it, err)) ||
	    (rc = cli_int_option(a, "exact-max", 0, TSNE_EXACT_LIMIT, 1000,
				 &exact_max, err)) ||
	    (rc = parse_double(a, "perplexity", 1, 1000, &e->perplexity, err)) ||
	    (rc = parse_double(a, "theta", 0, 1, &e->theta, err)))
		return rc;
	e->width = (int)w;
	e->height = (int)h;
	e->threads = (int)th;
	e->iterations = (int)it;
	e->exact_max = exact_max;
	return SC_OK;
}

int cmd_embed(int argc, char **argv)
{
	cli_args a;
	int status;
	if (!cli_begin(&embed_spec, argc, argv, &a, &status))
		return status;
	sc_error err = {0};
	run_embed_options e;
	int rc = parse_args(&a, &e, &err);
	if (!rc)
		rc = run_embed(&e, NULL, &err);
	cli_args_free(&a);
	if (rc)
		return cli_fail("embed", &err);
	return cli_finish("embed", CLI_EXIT_OK);
}
