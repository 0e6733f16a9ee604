#!/usr/bin/python3
"""make_golden_supcon.py: golden values for ai.supcon SupConLoss from
SupContrast's loss, written in PyTorch (float64).

    /usr/bin/python3 tests/make_golden_supcon.py [--out tests/data/supcon]

SupContrast (github.com/HobbitLong/SupContrast, losses.py, BSD-2-Clause)
takes features [bsz, n_views, D] and builds its anchors as
cat(unbind(features, dim=1)): all first views, then all second views.  Our
op takes features [M, D] with M = 2B in exactly that order, each image's
label appearing at rows k and B + k.  SupContrast expects normalised
features (its models end in F.normalize); our op normalises inside
(normalize = 1), so the reference applies F.normalize to the raw features
first, and the gradient is taken with respect to the raw features.  The
normalize = 0 case feeds the raw features to SupContrast's formula as they
are.

Each case folder gets TensorProto files (the ONNX test-data format):
  features.pb   float32 [M, D]   our layout
  labels.pb     int64   [M]
  loss.pb       float64 []       the mean loss (SupContrast's value)
  loss_none.pb  float64 [M]      per-anchor loss before SupContrast's mean
  grad.pb       float64 [M, D]   d loss / d features (raw)
  meta.txt      temperature, base_temperature, normalize
The features are float32 and the references are computed in float64 from
those exact values, with the temperatures rounded to float32 as the op's
float attributes hold them.  Deterministic: the same files every run."""
import argparse
import os

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper


def supcontrast_loss(features, labels=None, temperature=0.07,
                     base_temperature=0.07, reduce=True):
    """SupContrast's SupConLoss.forward, contrast_mode 'all', as in its
    losses.py (with the guard for anchors without positives)."""
    batch_size = features.shape[0]
    if labels is None:
        mask = torch.eye(batch_size, dtype=features.dtype)
    else:
        labels = labels.contiguous().view(-1, 1)
        mask = torch.eq(labels, labels.T).to(features.dtype)
    contrast_count = features.shape[1]
    contrast_feature = torch.cat(torch.unbind(features, dim=1), dim=0)
    anchor_feature = contrast_feature
    anchor_count = contrast_count
    anchor_dot_contrast = torch.div(
        torch.matmul(anchor_feature, contrast_feature.T), temperature)
    logits_max, _ = torch.max(anchor_dot_contrast, dim=1, keepdim=True)
    logits = anchor_dot_contrast - logits_max.detach()
    mask = mask.repeat(anchor_count, contrast_count)
    logits_mask = torch.scatter(
        torch.ones_like(mask), 1,
        torch.arange(batch_size * anchor_count).view(-1, 1), 0)
    mask = mask * logits_mask
    exp_logits = torch.exp(logits) * logits_mask
    log_prob = logits - torch.log(exp_logits.sum(1, keepdim=True))
    mask_pos_pairs = mask.sum(1)
    mask_pos_pairs = torch.where(mask_pos_pairs < 1e-6,
                                 torch.ones_like(mask_pos_pairs), mask_pos_pairs)
    mean_log_prob_pos = (mask * log_prob).sum(1) / mask_pos_pairs
    loss = -(temperature / base_temperature) * mean_log_prob_pos
    if not reduce:
        return loss
    return loss.view(anchor_count, batch_size).mean()


CASES = [
    # name, B, D, classes (None: SimCLR), temperature, base_temperature,
    # normalize, feature scale, seed
    ("supcon_b6_d8", 6, 8, 3, 0.1, 0.07, 1, 1.0, 1),
    ("supcon_b16_d32", 16, 32, 4, 0.1, 0.07, 1, 1.0, 2),
    ("simclr_b5_d8", 5, 8, None, 0.1, 0.07, 1, 1.0, 3),
    ("supcon_raw_b4_d6", 4, 6, 2, 0.1, 0.07, 0, 0.3, 4),
]


def save(folder, name, array):
    t = numpy_helper.from_array(array, name)
    with open(os.path.join(folder, name + ".pb"), "wb") as f:
        f.write(t.SerializeToString())


def make_case(out, name, b, d, classes, temperature, base_temperature,
              normalize, scale, seed):
    rng = np.random.default_rng(seed)
    m = 2 * b
    x32 = (rng.standard_normal((m, d)) * scale).astype(np.float32)
    if classes is None:
        image_labels = None
        labels = np.concatenate([np.arange(b), np.arange(b)]).astype(np.int64)
    else:
        image_labels = rng.integers(0, classes, size=b).astype(np.int64)
        labels = np.concatenate([image_labels, image_labels])

    x = torch.tensor(x32.astype(np.float64), requires_grad=True)
    # our [M, D] rows k and B + k are views 0 and 1 of image k
    feats = torch.stack([x[:b], x[b:]], dim=1)
    if normalize:
        feats = F.normalize(feats, dim=2)
    lab = None if image_labels is None else torch.tensor(image_labels)
    # ONNX float attributes: the op sees 0.1 and 0.07 rounded to float32
    t32 = float(np.float32(temperature))
    bt32 = float(np.float32(base_temperature))
    loss = supcontrast_loss(feats, lab, t32, bt32)
    loss.backward()
    with torch.no_grad():
        per_anchor = supcontrast_loss(feats, lab, t32, bt32, reduce=False)

    folder = os.path.join(out, name)
    os.makedirs(folder, exist_ok=True)
    save(folder, "features", x32)
    save(folder, "labels", labels)
    save(folder, "loss", np.array(loss.item(), dtype=np.float64))
    save(folder, "loss_none", per_anchor.numpy().astype(np.float64))
    save(folder, "grad", x.grad.numpy().astype(np.float64))
    with open(os.path.join(folder, "meta.txt"), "w") as f:
        f.write(f"temperature {temperature!r}\n")
        f.write(f"base_temperature {base_temperature!r}\n")
        f.write(f"normalize {normalize}\n")
    print(f"{name}: M={m} D={d} loss={loss.item():.9g}")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(here, "data", "supcon"))
    args = ap.parse_args()
    torch.set_default_dtype(torch.float64)
    for case in CASES:
        make_case(args.out, *case)


if __name__ == "__main__":
    main()
