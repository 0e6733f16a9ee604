#!/usr/bin/python3
"""Golden values of SoftmaxCrossEntropyLoss and NegativeLogLikelihoodLoss and
of their gradients, from PyTorch, for tests/test_grad_reduce.c.

Run with Debian's /usr/bin/python3 (python3-torch, python3-onnx):

    tests/make_golden_losses.py [OUT_DIR]     (default tests/data/losses)

Each case is a folder of ONNX TensorProto files:
  scores.pb     float [N, C, d1...]: logits (sce) or log-probabilities (nll)
  labels.pb     int64 [N, d1...] (int32 in one case: ONNX allows both)
  weights.pb    float [C], when the case has class weights
  r.pb          float [N, d1...], reduction "none" only: the per-position
                losses are summed with these weights into the scalar
  r_logprob.pb  float [N, C, d1...], when the log_prob output carries a
                gradient: sum(log_softmax(scores) * r_logprob) is added
  loss.pb       the op's first output (reduction applied)
  grad.pb       d scalar / d scores, by autograd
and index.txt lists "name op reduction ignore_index" (ignore_index "-" when
the attribute is absent).  PyTorch's ignore_index default (-100) never
matches a label here, which is ONNX's "no ignore_index".

torch.nn.functional.cross_entropy and nll_loss follow ONNX's definitions
for every case here: "mean" divides by the summed weights of the labels
that are not ignored.  The data are seeded, so rerunning rewrites the same
files.
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from onnx import numpy_helper

# name, op, reduction, ignore_index (None: absent), weights, log_prob term,
# scores shape, dtype, int32 labels
CASES = [
    ("sce_mean", "sce", "mean", None, False, False, (4, 5), torch.float32, False),
    ("sce_mean_weights_ii", "sce", "mean", 2, True, False, (6, 5), torch.float32, False),
    ("sce_sum_weights_nd", "sce", "sum", None, True, False, (4, 3, 2), torch.float32, False),
    ("sce_none_ii_nd", "sce", "none", -1, False, False, (2, 4, 3, 2), torch.float32, False),
    ("sce_mean_weights_logprob", "sce", "mean", None, True, True, (3, 4, 2), torch.float32, False),
    ("sce_none_logprob", "sce", "none", 0, False, True, (3, 5), torch.float32, False),
    ("sce_mean_double", "sce", "mean", None, True, False, (3, 4), torch.float64, False),
    ("sce_mean_all_but_one_ignored", "sce", "mean", 1, False, False, (4, 3), torch.float32, False),
    ("nll_mean", "nll", "mean", None, False, False, (5, 4), torch.float32, False),
    ("nll_sum_weights_ii_int32", "nll", "sum", 1, True, False, (6, 4), torch.float32, True),
    ("nll_none_weights_nd", "nll", "none", None, True, False, (2, 3, 2, 2), torch.float32, False),
    ("nll_mean_weights_ii_nd", "nll", "mean", 3, True, False, (3, 4, 5), torch.float32, False),
]


def labels_for(name, shape, ii, gen):
    n_classes = shape[1]
    per = (shape[0],) + tuple(shape[2:])
    labels = torch.randint(0, n_classes, per, generator=gen)
    if ii is not None:
        flat = labels.view(-1)
        if name == "sce_mean_all_but_one_ignored":
            flat[:] = ii
            flat[2] = (ii + 1) % n_classes
        else:
            # every third position ignored; ii may be outside [0, C)
            flat[1::3] = ii
    return labels


def save(folder, name, tensor):
    arr = tensor.detach().cpu().numpy()
    proto = numpy_helper.from_array(np.ascontiguousarray(arr), name)
    with open(os.path.join(folder, name + ".pb"), "wb") as f:
        f.write(proto.SerializeToString())


def make_case(out, case, gen):
    name, op, reduction, ii, weighted, logprob, shape, dtype, int32 = case
    folder = os.path.join(out, name)
    os.makedirs(folder, exist_ok=True)
    for old in os.listdir(folder):
        os.remove(os.path.join(folder, old))
    scores = (torch.randn(shape, generator=gen, dtype=torch.float64) * 2).to(dtype)
    if op == "nll":
        # log-probabilities, as the op expects in practice
        scores = F.log_softmax(scores, dim=1)
    scores.requires_grad_(True)
    labels = labels_for(name, shape, ii, gen)
    weights = (torch.rand(shape[1], generator=gen, dtype=torch.float64) + 0.5).to(dtype) \
        if weighted else None
    kw = dict(weight=weights, reduction=reduction,
              ignore_index=-100 if ii is None else ii)
    if op == "sce":
        loss = F.cross_entropy(scores, labels, **kw)
    else:
        loss = F.nll_loss(scores, labels, **kw)
    total = loss
    if reduction == "none":
        r = torch.rand(loss.shape, generator=gen, dtype=torch.float64).to(dtype) * 2 - 1
        total = (loss * r).sum()
        save(folder, "r", r)
    if logprob:
        r_lp = torch.rand(shape, generator=gen, dtype=torch.float64).to(dtype) * 2 - 1
        total = total + (F.log_softmax(scores, dim=1) * r_lp).sum()
        save(folder, "r_logprob", r_lp)
    (grad,) = torch.autograd.grad(total, scores)
    save(folder, "scores", scores)
    save(folder, "labels", labels.to(torch.int32) if int32 else labels)
    if weights is not None:
        save(folder, "weights", weights)
    save(folder, "loss", loss)
    save(folder, "grad", grad)
    return "%s %s %s %s" % (name, op, reduction, "-" if ii is None else ii)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "data", "losses")
    os.makedirs(out, exist_ok=True)
    gen = torch.Generator().manual_seed(20240604)
    lines = [make_case(out, case, gen) for case in CASES]
    with open(os.path.join(out, "index.txt"), "w") as f:
        f.write("# written by tests/make_golden_losses.py: name op reduction ignore_index\n")
        f.write("\n".join(lines) + "\n")
    print("wrote %d cases to %s" % (len(lines), out))


if __name__ == "__main__":
    main()
