#!/usr/bin/python3
"""Models, labels and the PyTorch peer for tools/bench_train.sh.

Run with Debian's /usr/bin/python3 (python3-torch, python3-torchvision).
Weights are random (fixed seed): nothing is downloaded.

    bench_train.py export resnet18|small OUT.onnx
        resnet18: torchvision ResNet-18, input float32 [N, 3, 224, 224].
        small:    the demo's encoder size: ResNet-18 with the CIFAR stem
                  (3x3 stride-1 conv, no max-pool) and every width divided
                  by 4 (16, 32, 64, 128), 10 classes, input [N, 1, 28, 28].
        Both are exported at opset 17 in training mode (BatchNormalization
        with training_mode=1 and its running-stat outputs, as
        `supcon grad` trains it), batch axis named N.
    bench_train.py labels N K OUT.pb
        int64 [N] labels in [0, K) as a TensorProto (for --in labels=).
    bench_train.py torch resnet18|small BATCH THREADS ROUNDS REPEAT
        Times the same model in PyTorch with torch.set_num_threads(THREADS):
        the training-mode forward (under no_grad) and a training step
        (forward, cross-entropy, backward, SGD with momentum 0.9), ROUNDS
        rounds of REPEAT timed runs each after two warm-up runs, the two
        interleaved as bench_train.sh does.  Prints forward_min_ms,
        forward_median_ms, step_min_ms and step_median_ms.
"""
import statistics
import sys
import time

import torch
import torch.nn as nn
import torchvision
from torchvision.models.resnet import BasicBlock, ResNet


class SmallResNet18(ResNet):
    """ResNet-18, CIFAR stem, widths 16-128, grayscale input."""

    def __init__(self, width=16, classes=10):
        super().__init__(BasicBlock, [2, 2, 2, 2], num_classes=classes)
        self.inplanes = width
        self.conv1 = nn.Conv2d(1, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.maxpool = nn.Identity()
        self.layer1 = self._make_layer(BasicBlock, width, 2)
        self.layer2 = self._make_layer(BasicBlock, width * 2, 2, stride=2)
        self.layer3 = self._make_layer(BasicBlock, width * 4, 2, stride=2)
        self.layer4 = self._make_layer(BasicBlock, width * 8, 2, stride=2)
        self.fc = nn.Linear(width * 8, classes)


def build(arch):
    torch.manual_seed(0)
    if arch == "resnet18":
        return torchvision.models.resnet18(weights=None), (3, 224, 224), 1000
    if arch == "small":
        return SmallResNet18(), (1, 28, 28), 10
    sys.exit("bench_train.py: unknown model '%s' (resnet18 or small)" % arch)


def export(arch, out):
    model, shape, _ = build(arch)
    model.train()
    dummy = torch.randn(2, *shape, generator=torch.Generator().manual_seed(1))
    torch.onnx.export(model, dummy, out, opset_version=17,
                      training=torch.onnx.TrainingMode.TRAINING,
                      do_constant_folding=False,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})


def labels(n, k, out):
    from onnx import numpy_helper
    import numpy as np
    t = numpy_helper.from_array(
        np.random.RandomState(0).randint(0, k, size=n).astype(np.int64), "labels")
    with open(out, "wb") as f:
        f.write(t.SerializeToString())


def timed(fn, repeat):
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def peer(arch, batch, threads, rounds, repeat):
    torch.set_num_threads(threads)
    model, shape, classes = build(arch)
    model.train()
    x = torch.randn(batch, *shape, generator=torch.Generator().manual_seed(2))
    y = torch.randint(0, classes, (batch,), generator=torch.Generator().manual_seed(3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def forward():
        with torch.no_grad():
            model(x)

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    fwd, stp = [], []
    for _ in range(2):
        forward()
        step()
    for _ in range(rounds):
        fwd += timed(forward, repeat)
        stp += timed(step, repeat)
    print("forward_min_ms: %.3f" % min(fwd))
    print("forward_median_ms: %.3f" % statistics.median(fwd))
    print("step_min_ms: %.3f" % min(stp))
    print("step_median_ms: %.3f" % statistics.median(stp))


def main(argv):
    if len(argv) == 3 and argv[0] == "export":
        export(argv[1], argv[2])
    elif len(argv) == 4 and argv[0] == "labels":
        labels(int(argv[1]), int(argv[2]), argv[3])
    elif len(argv) == 6 and argv[0] == "torch":
        peer(argv[1], *(int(a) for a in argv[2:]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
