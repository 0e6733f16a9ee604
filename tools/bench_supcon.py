#!/usr/bin/python3
"""The PyTorch peer of tools/bench_supcon.sh: a SupCon training step.

Run with Debian's /usr/bin/python3 (python3-torch, python3-torchvision).
Weights and data are random (fixed seed); nothing is downloaded.

    bench_supcon.py ARCH C H W BATCH THREADS STEPS

ARCH is resnet18 or resnet50 with the CIFAR stem, as `supcon train
--stem cifar` builds it (3x3 stride-1 conv1 on C input channels, no
max-pool), followed by the projector mlp:128 (Linear(F, F), ReLU,
Linear(F, 128), F.normalize) and the SupCon loss of SupContrast
(temperature 0.1, base temperature 0.1, both views of BATCH images, so
2 * BATCH rows), with SGD (lr 0.05, momentum 0.9, weight decay 1e-4).
The batch is in memory: this times the step alone.  After two warm-up
steps, STEPS steps are timed.  Prints:
    views_per_s     2 * BATCH * STEPS / seconds
    step_ms
    peak_rss_mb     the process's peak resident set (getrusage)
    step_gflop      floating-point operations of one step, counted with
                    forward hooks the way papers count them: every Conv2d
                    and Linear forward (2 per multiply-add), twice that
                    backward (input and weight gradients) except the input
                    gradient of the first conv, which nothing needs, and
                    the SupCon similarity products (M x M x D, three times)
"""
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


def encoder(arch, in_c):
    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)(weights=None)
    model.conv1 = nn.Conv2d(in_c, 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    feat = model.fc.in_features
    model.fc = nn.Identity()
    return model, feat


class SupConNet(nn.Module):
    def __init__(self, arch, in_c):
        super().__init__()
        self.encoder, feat = encoder(arch, in_c)
        self.head = nn.Sequential(nn.Linear(feat, feat), nn.ReLU(inplace=True),
                                  nn.Linear(feat, 128))

    def forward(self, x):
        return F.normalize(self.head(self.encoder(x)), dim=1)


def supcon_loss(features, labels, temperature=0.1, base_temperature=0.1):
    """SupContrast's SupConLoss, contrast_mode 'all', on [M, D] rows."""
    m = features.shape[0]
    mask = torch.eq(labels.view(-1, 1), labels.view(1, -1)).float()
    logits = torch.matmul(features, features.T) / temperature
    logits = logits - logits.max(dim=1, keepdim=True)[0].detach()
    self_mask = 1.0 - torch.eye(m)
    mask = mask * self_mask
    exp = torch.exp(logits) * self_mask
    log_prob = logits - torch.log(exp.sum(1, keepdim=True))
    mean_pos = (mask * log_prob).sum(1) / mask.sum(1).clamp(min=1)
    return -(temperature / base_temperature) * mean_pos.mean()


def count_gflop(net, x):
    flops = []
    first = []

    def hook(mod, inp, out):
        if isinstance(mod, nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
            f = 2.0 * out.numel() * k
        else:
            f = 2.0 * out.numel() * mod.in_features
        if not first:
            first.append(f)
        flops.append(f)

    hooks = [m.register_forward_hook(hook) for m in net.modules()
             if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        net(x)
    for h in hooks:
        h.remove()
    m = x.shape[0]
    sim = 2.0 * m * m * 128
    return (3 * sum(flops) - first[0] + 3 * sim) * 1e-9


def main():
    if len(sys.argv) != 8:
        sys.exit(__doc__)
    arch = sys.argv[1]
    c, h, w, batch, threads, steps = (int(v) for v in sys.argv[2:])
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    net = SupConNet(arch, c)
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    x = torch.rand(2 * batch, c, h, w)
    labels = torch.randint(0, 10, (batch,)).repeat(2)
    gflop = count_gflop(net, x)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = supcon_loss(net(x), labels)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(2):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    dt = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("step_ms: %.1f" % (1e3 * dt / steps))
    print("step_gflop: %.2f" % gflop)
    print("peak_rss_mb: %.0f" % peak)
    print("views_per_s: %.1f" % (2 * batch * steps / dt))


if __name__ == "__main__":
    main()
