/* cmd_embed.c: `supcon embed MODEL_OR_RUNDIR -o FILE.png`: a scatter plot
 * of the encoder's or the projector's embeddings of a sample of images,
 * laid out in 2-D by t-SNE or PCA and coloured by class, with the
 * silhouette score and k-NN accuracy of the embeddings beside it: the
 * embed job of the public API. */
#include "cli.h"

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

int cmd_embed(int argc, char **argv)
{
	cli_args a;
	int status;
	if (!cli_begin(&embed_spec, argc, argv, &a, &status))
		return status;
	int rc;
	if (a.n_pos > 1) {
		cli_error("embed", "expected one MODEL.onnx or RUNDIR, got %d arguments",
			  a.n_pos);
		rc = CLI_EXIT_USAGE;
	} else if (a.n_pos == 0) {
		cli_error("embed", "missing MODEL.onnx or RUNDIR (usage: supcon embed %s)",
			  embed_spec.synopsis);
		rc = CLI_EXIT_USAGE;
	} else {
		const char *extra[] = {"model", a.pos[0], NULL};
		rc = cli_run_job("embed", "embed", &a, extra, NULL);
	}
	cli_args_free(&a);
	return rc;
}
