/* cli_run.c: the help lines of the run options that `supcon train`,
 * `supcon linear` and `supcon sweep` share.  The options themselves (types,
 * defaults, checks, config.json) are the library's: the train and linear
 * jobs take them by the same names (runtime/supcon.h, "Jobs"). */
#include "cli.h"

#define O(n, mv, h) {n, 0, CLI_VALUE, mv, h, 0, 0, 0, 0}
#define OF(n, h) {n, 0, CLI_FLAG, NULL, h, 0, 0, 0, 0}

const cli_opt cli_run_options[] = {
	O("method", "M", "supcon | simclr | ce (default supcon)"),
	O("model", "ARCH|FILE.onnx", "resnet18/34/50/101/152/200 or a pretrained "
	  "ONNX encoder (default resnet18)"),
	O("stem", "S", "imagenet | cifar | auto (cifar for inputs <= 64 px; default auto)"),
	O("width", "N", "base width of a built ResNet (default 64)"),
	O("head", "HEAD", "projector: mlp:D | mlp:H:D | linear:D | none "
	  "(default mlp:128; ce adds the classifier itself)"),
	OF("normalize-encoder", "L2-normalise the encoder output before the head"),
	O("encoder-output", "NAME", "where to cut a pretrained file (default: "
	  "the global-pool output)"),
	OF("freeze-encoder", "ce: train only the classifier on frozen features"),
	O("data", "DATA", "fashion-mnist | mnist | cifar10 | cifar100 | DIR | "
	  "synthetic:CxHxW:K (default fashion-mnist)"),
	O("size", "N", "ImageFolder images are resized to N x N (default 32)"),
	O("aug", "POLICY", "none | basic | jitter | simclr | randaugment | "
	  "autoaugment (default simclr; ce: basic)"),
	O("optimizer", "NAME", "sgd | adam | adamw | rmsprop | adagrad (default sgd)"),
	O("lr", "X", "learning rate (default 0.05; adam/adamw 1e-3)"),
	O("momentum", "X", "sgd and rmsprop momentum (default 0.9 for sgd)"),
	O("weight-decay", "X", "weight decay, not on biases and BN (default 1e-4)"),
	O("schedule", "S", "const | step | multistep | exp | cosine, or a full "
	  "spec such as exp:0.9 (per epoch; default cosine)"),
	O("warmup", "E", "epochs of linear warm-up (default 0)"),
	O("epochs", "N", "epochs (default 10)"),
	O("steps", "N", "stop after N optimiser steps in all (default: no limit)"),
	O("batch", "B", "images per step (default 256; two views each for supcon)"),
	O("temperature", "T", "SupCon temperature (default 0.1)"),
	O("base-temperature", "T", "SupCon base temperature (default = temperature)"),
	O("seed", "S", "seed of initialisation, shuffling and augmentation (default 0)"),
	O("threads", "N", "compute threads (default: all cores)"),
	O("workers", "N", "data loading threads ahead of compute (default: 1 when "
	  "there are more cores than compute threads, else 0: on the compute thread)"),
	OF("deterministic", "recorded in config.json; runs are bit-identical for a "
	   "seed and thread count with or without it"),
	O("val-split", "F", "fraction of the training set held out (default 0.1)"),
	O("limit", "N", "use the first N training images (default all)"),
	OF("zero-init-residual", "zero the last BN gamma of every residual branch"),
	O("checkpoint-every", "N", "also checkpoint every N steps (default: epoch ends)"),
	O("label-noise", "P", "flip a seeded fraction P of the training labels to "
	  "another class (not validation or test; default 0)"),
	O("clip-grad-norm", "X", "scale the gradients so that their total L2 norm "
	  "is at most X (torch's clip_grad_norm_; default off)"),
	O("clip-grad-value", "X", "clamp every gradient element to [-X, X] "
	  "(torch's clip_grad_value_; default off)"),
	OF("check-numerics", "stop at the first node that produces a NaN or an "
	   "infinity and name it (slower: a pass over every value)"),
	O("max-memory", "SIZE", "refuse a training step that needs more than SIZE "
	  "(e.g. 2G) of weights, optimizer state, activations and scratch"),
	OF("sync-bn", "under mpirun: batch norm over the global batch, not each "
	   "rank's shard (then K ranks train as one process does)"),
	O("bucket-mb", "X", "under mpirun: gradients are all-reduced in buckets of "
	  "X MiB while backward runs (default 4)"),
	O("dist-timeout", "S", "under mpirun: end the job when a rank waits more "
	  "than S seconds for the others (default 600; 0: wait forever)"),
};
const int cli_n_run_options = (int)(sizeof cli_run_options / sizeof cli_run_options[0]);
