#!/usr/bin/python3
"""`supcon build` against torchvision (issue #5, models).

Checks, each against an independent reference:
  names     for every arch (resnet18 ... resnet200) and both stems, the
            initializer names and shapes of `supcon build` equal the
            state_dict of torchvision's model (num_batches_tracked left
            out), with conv1/maxpool swapped for the CIFAR stem and conv1's
            input channels changed; a few base widths other than 64 against
            torchvision's ResNet built with scaled widths.  Every file must
            pass onnx.checker.check_model(full_check=True).
  count     resnet50, ImageNet stem, --classes 1000 has exactly 25,610,152
            float initializer elements.
  opsets    the files written at --opset 9 ... 17 pass the checker too.
  numerics  our initializers loaded into torchvision (eval mode, BN
            statistics randomised in the file first so that every BN is
            checked), plus SupContrast's projection head and F.normalize:
            torch's logits and embedding against `supcon run` on the same
            input, relative error max|a - b| / max|b| <= 1e-4.
  cut       a torchvision resnet18 exported by torch.onnx (BN kept, and BN
            folded by constant folding; opsets 11 and 17; and opset 7
            folded with initializers listed as inputs) given to
            `supcon build FILE.onnx`: the encoder it writes passes the
            checker, holds no fc, and `supcon run` on it equals torch's
            avgpool-flatten features.

Run with Debian's /usr/bin/python3 (python3-torch, python3-torchvision,
python3-onnx):

    check_models.py --supcon BIN --work DIR [--threads 2] [--quick]

--quick skips resnet101/152/200 in the names check.  Prints one line per
check; exits 1 when any fails.
"""
import argparse
import os
import subprocess
import sys

import numpy as np
import onnx
import torch
import torchvision
from onnx import numpy_helper
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_torchvision  # noqa: E402  (the exporter the loader tests use)

ARCHS = {
    "resnet18": (BasicBlock, [2, 2, 2, 2]),
    "resnet34": (BasicBlock, [3, 4, 6, 3]),
    "resnet50": (Bottleneck, [3, 4, 6, 3]),
    "resnet101": (Bottleneck, [3, 4, 23, 3]),
    "resnet152": (Bottleneck, [3, 8, 36, 3]),
    "resnet200": (Bottleneck, [3, 24, 36, 3]),
}
RESNET50_ELEMENTS = 25610152
RTOL = 1e-4

failures = []


def report(ok, what, detail=""):
    print("%s  %s%s" % ("ok  " if ok else "FAIL", what, ("  " + detail) if detail else ""),
          flush=True)
    if not ok:
        failures.append(what)


class ScaledResNet(ResNet):
    """torchvision's ResNet with base width `width` instead of 64: the same
    blocks and _make_layer, only the channel counts scaled."""

    def __init__(self, block, layers, width, num_classes=1000):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = width
        self.dilation = 1
        self.groups = 1
        self.base_width = 64
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, 2 * width, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 4 * width, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 8 * width, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8 * width * block.expansion, num_classes)


def torch_resnet(arch, stem, width, in_c, classes):
    """torchvision's model for our options: the stock constructor at width
    64 (ScaledResNet otherwise), then the stem and input channels changed
    the way CIFAR code does it, and fc removed when there are no classes."""
    block, layers = ARCHS[arch]
    if width == 64:
        ctor = getattr(torchvision.models, arch, None)
        model = ctor(weights=None) if ctor else ResNet(block, layers)
    else:
        model = ScaledResNet(block, layers, width)
    if stem == "cifar":
        model.conv1 = nn.Conv2d(in_c, width, kernel_size=3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    elif in_c != 3:
        model.conv1 = nn.Conv2d(in_c, width, kernel_size=7, stride=2, padding=3, bias=False)
    feat = model.fc.in_features
    model.fc = nn.Linear(feat, classes) if classes else nn.Identity()
    return model, feat


def build(args, name, arch, *opts):
    path = os.path.join(args.work, name + ".onnx")
    cmd = [args.supcon, "build", arch, *opts, "-o", path]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), r.returncode,
                                                r.stderr.strip()))
    return path


def run(args, model, inputs, tag):
    """`supcon run` on model with {name: array}; returns the outputs."""
    out = os.path.join(args.work, tag + ".out")
    cmd = [args.supcon, "run", model, "--threads", str(args.threads), "--out", out]
    for name, x in inputs.items():
        pb = os.path.join(args.work, "%s.%s.pb" % (tag, name))
        with open(pb, "wb") as f:
            f.write(numpy_helper.from_array(x, name).SerializeToString())
        cmd += ["--in", "%s=%s" % (name, pb)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), r.returncode,
                                                r.stderr.strip()))
    n = len(onnx.load(model, load_external_data=False).graph.output)
    outs = []
    for i in range(n):
        t = onnx.TensorProto()
        with open(os.path.join(out, "output_%d.pb" % i), "rb") as f:
            t.ParseFromString(f.read())
        outs.append(numpy_helper.to_array(t))
    return outs


def rel_error(got, ref):
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    diff = float(np.max(np.abs(got.astype(np.float64) - ref))) if ref.size else 0.0
    return diff / scale if scale > 0 else diff


def initializers(path):
    m = onnx.load(path)
    return m, {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}


def checker(m):
    try:
        onnx.checker.check_model(m, full_check=True)
        return ""
    except Exception as e:  # the checker's own exception types vary by version
        return str(e).splitlines()[0]


# --- names and shapes -------------------------------------------------------

def check_names(args, arch, stem, width, in_shape, classes, head):
    label = "names %s %s width %d %s%s%s" % (
        arch, stem, width, in_shape, " classes %d" % classes if classes else "",
        " head " + head if head != "none" else "")
    in_c = int(in_shape.split("x")[0])
    opts = ["--stem", stem, "--width", str(width), "--in-shape", in_shape,
            "--head", head]
    if classes:
        opts += ["--classes", str(classes)]
    path = build(args, "names_%s_%s_%d" % (arch, stem, width), arch, *opts)
    m, ours = initializers(path)
    model, feat = torch_resnet(arch, stem, width, in_c, classes)
    ref = {k: tuple(v.shape) for k, v in model.state_dict().items()
           if not k.endswith("num_batches_tracked")}
    if head.startswith("mlp:"):
        dims = [int(d) for d in head.split(":")[1:]]
        hid, dim = (dims[0], dims[1]) if len(dims) == 2 else (feat, dims[0])
        ref.update({"head.0.weight": (hid, feat), "head.0.bias": (hid,),
                    "head.2.weight": (dim, hid), "head.2.bias": (dim,)})
    got = {k: tuple(v.shape) for k, v in ours.items()}
    problems = []
    for k in sorted(set(ref) | set(got)):
        if k not in got:
            problems.append("missing " + k)
        elif k not in ref:
            problems.append("extra " + k)
        elif got[k] != ref[k]:
            problems.append("%s %s != %s" % (k, got[k], ref[k]))
    if problems:
        report(False, label, "; ".join(problems[:4]))
    else:
        err = checker(m)
        report(not err, label, err or "%d initializers, checker ok" % len(got))
    os.remove(path)


def check_count(args):
    path = build(args, "count_resnet50", "resnet50", "--classes", "1000")
    m = onnx.load(path)
    n = sum(int(np.prod(t.dims)) for t in m.graph.initializer
            if t.data_type == onnx.TensorProto.FLOAT)
    model, _ = torch_resnet("resnet50", "imagenet", 64, 3, 1000)
    tv = sum(v.numel() for k, v in model.state_dict().items()
             if not k.endswith("num_batches_tracked"))
    report(n == RESNET50_ELEMENTS and tv == RESNET50_ELEMENTS,
           "count resnet50 --classes 1000", "%d elements (torchvision %d)" % (n, tv))
    os.remove(path)


def check_opsets(args):
    """Every opset `supcon build` writes passes the checker."""
    bad = []
    for opset in range(9, 18):
        path = build(args, "opset%d" % opset, "resnet18", "--stem", "cifar", "--width", "8",
                     "--in-shape", "1x28x28", "--classes", "10", "--head", "mlp:16",
                     "--opset", str(opset))
        m = onnx.load(path)
        got = [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")]
        err = checker(m) or ("" if got == [opset] else "imports opset %s" % got)
        if err:
            bad.append("opset %d: %s" % (opset, err))
        os.remove(path)
    report(not bad, "checker opsets 9-17", "; ".join(bad))


# --- numerics --------------------------------------------------------------

def randomise_bn(path, seed):
    """Gives every BN its own random scale, bias and statistics in the file
    (read from the BatchNormalization nodes' inputs), so that a BN wired to
    the wrong tensors shows in the outputs."""
    m = onnx.load(path)
    rng = np.random.default_rng(seed)
    draw = {}
    for n in m.graph.node:
        if n.op_type == "BatchNormalization":
            draw[n.input[1]] = lambda s: rng.uniform(0.3, 0.7, s)
            draw[n.input[2]] = lambda s: rng.normal(0.0, 0.1, s)
            draw[n.input[3]] = lambda s: rng.normal(0.0, 0.1, s)
            draw[n.input[4]] = lambda s: rng.uniform(0.5, 1.5, s)
    for t in m.graph.initializer:
        if t.name in draw:
            a = draw[t.name](tuple(t.dims)).astype(np.float32)
            t.CopyFrom(numpy_helper.from_array(a, t.name))
    onnx.save(m, path)


class Embedder(nn.Module):
    """torchvision encoder -> (fc logits, SupContrast head + F.normalize)."""

    def __init__(self, model, feat, classes, hidden, dim):
        super().__init__()
        self.model = model
        self.fc = nn.Linear(feat, classes)
        self.head = nn.Sequential(nn.Linear(feat, hidden), nn.ReLU(inplace=True),
                                  nn.Linear(hidden, dim))

    def forward(self, x):
        f = self.model(x)
        return self.fc(f), nn.functional.normalize(self.head(f), dim=1)


def check_numerics(args, arch, stem, width, in_shape, batch=2):
    label = "numerics %s %s width %d %s" % (arch, stem, width, in_shape)
    c, h, w = (int(d) for d in in_shape.split("x"))
    path = build(args, "num_%s_%s_%d" % (arch, stem, width), arch, "--stem", stem,
                 "--width", str(width), "--in-shape", in_shape, "--classes", "10",
                 "--head", "mlp:128", "--seed", "7")
    randomise_bn(path, 3)
    m, ours = initializers(path)
    model, feat = torch_resnet(arch, stem, width, c, 0)
    net = Embedder(model, feat, 10, feat, 128)
    state = {}
    for k, v in ours.items():
        key = k if k.startswith(("fc.", "head.")) else "model." + k
        state[key] = torch.from_numpy(v.copy())
    missing, unexpected = net.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        report(False, label, "state_dict mismatch: missing %s unexpected %s"
               % (missing[:3], unexpected[:3]))
        return
    net.eval()
    x = torch.randn(batch, c, h, w, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        ref = [t.numpy() for t in net(x)]
    got = run(args, path, {"input": x.numpy()}, "num_%s_%s_%d" % (arch, stem, width))
    names = [o.name for o in m.graph.output]
    details, ok = [], names == ["logits", "embedding"]
    for name, g, r in zip(names, got, ref):
        e = rel_error(g, r) if g.shape == r.shape else float("inf")
        ok = ok and e <= RTOL and np.all(np.isfinite(g))
        details.append("%s %s rel %.2e" % (name, list(g.shape), e))
    err = checker(m)
    report(ok and not err, label, ", ".join(details) + (("; " + err) if err else ""))
    os.remove(path)


# --- cutting a torch export --------------------------------------------------

def check_cut(args, opset, fold, inits_as_inputs=False):
    tag = "op%d%s%s" % (opset, "_folded" if fold else "", "_inputs" if inits_as_inputs else "")
    label = "cut torchvision resnet18 opset %d %s%s" % (
        opset, "folded" if fold else "BN kept",
        ", initializers as inputs" if inits_as_inputs else "")
    src = os.path.join(args.work, "tv_resnet18_%s.onnx" % tag)
    model = make_torchvision.build("resnet18")
    make_torchvision.export(model, src, opset, fold, inits_as_inputs)
    cut = os.path.join(args.work, "cut_%s.onnx" % tag)
    r = subprocess.run([args.supcon, "build", src, "-o", cut], capture_output=True, text=True)
    if r.returncode != 0:
        report(False, label, r.stderr.strip())
        return
    m = onnx.load(cut)
    names = {t.name for t in m.graph.initializer}
    outs = [o.name for o in m.graph.output]
    shape = [d.dim_value or d.dim_param for d in m.graph.output[0].type.tensor_type.shape.dim]
    x = torch.randn(3, 3, 224, 224, generator=torch.Generator().manual_seed(9))
    model.fc = nn.Identity()
    with torch.no_grad():
        ref = model(x).numpy()
    got = run(args, cut, {"input": x.numpy()}, os.path.basename(cut))[0]
    e = rel_error(got, ref) if got.shape == ref.shape else float("inf")
    err = checker(m)
    fc_left = [n for n in names if "fc" in n or "Gemm" in n]
    ok = (len(outs) == 1 and shape[1:] == [512] and not fc_left and not err
          and e <= RTOL and not any(n.op_type == "Gemm" for n in m.graph.node))
    report(ok, label, "output %s %s, features rel %.2e%s%s" % (
        outs, shape, e, (", fc left: %s" % fc_left[:2]) if fc_left else "",
        ("; " + err) if err else ""))

    # the same file with a classifier and a head on the cut encoder
    full = cut.replace(".onnx", "_heads.onnx")
    r = subprocess.run([args.supcon, "build", src, "--classes", "7", "--head", "mlp:32",
                        "-o", full], capture_output=True, text=True)
    if r.returncode != 0:
        report(False, label + " + heads", r.stderr.strip())
        return
    m = onnx.load(full)
    got = run(args, full, {"input": x.numpy()}, os.path.basename(full))
    inits = {t.name: numpy_helper.to_array(t).copy() for t in m.graph.initializer}
    f = torch.from_numpy(ref).double()
    logits = f @ torch.from_numpy(inits["fc.weight"]).double().T + torch.from_numpy(inits["fc.bias"])
    hdn = torch.relu(f @ torch.from_numpy(inits["head.0.weight"]).double().T
                     + torch.from_numpy(inits["head.0.bias"]))
    z = hdn @ torch.from_numpy(inits["head.2.weight"]).double().T + torch.from_numpy(inits["head.2.bias"])
    emb = nn.functional.normalize(z, dim=1)
    e1, e2 = rel_error(got[0], logits.numpy()), rel_error(got[1], emb.numpy())
    err = checker(m)
    outs = [o.name for o in m.graph.output]
    report(outs == ["logits", "embedding"] and e1 <= RTOL and e2 <= RTOL and not err,
           label + " + heads", "outputs %s, rel %.2e / %.2e%s" % (outs, e1, e2,
                                                                   ("; " + err) if err else ""))
    for p in (src, cut, full):
        os.remove(p)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--supcon", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)

    steps = []
    for arch in ARCHS:
        if args.quick and arch in ("resnet101", "resnet152", "resnet200"):
            continue
        steps.append(lambda a=arch: check_names(args, a, "imagenet", 64, "3x224x224", 1000, "none"))
        steps.append(lambda a=arch: check_names(args, a, "cifar", 64, "1x28x28", 10, "mlp:128"))
    steps.append(lambda: check_names(args, "resnet18", "cifar", 16, "1x28x28", 10, "mlp:64:32"))
    steps.append(lambda: check_names(args, "resnet50", "imagenet", 8, "4x64x48", 0, "none"))
    steps.append(lambda: check_count(args))
    steps.append(lambda: check_opsets(args))
    steps.append(lambda: check_numerics(args, "resnet18", "imagenet", 64, "3x224x224"))
    steps.append(lambda: check_numerics(args, "resnet50", "imagenet", 64, "3x224x224"))
    steps.append(lambda: check_numerics(args, "resnet18", "cifar", 16, "1x28x28", batch=4))
    steps.append(lambda: check_numerics(args, "resnet50", "cifar", 16, "3x32x32"))
    for opset in (11, 17):
        for fold in (False, True):
            steps.append(lambda o=opset, f=fold: check_cut(args, o, f))
    # IR 3: every initializer, the new fc and head ones too, is an input
    steps.append(lambda: check_cut(args, 7, True, True))
    for step in steps:
        try:
            step()
        except Exception as e:  # one broken step should not hide the others
            report(False, "exception", "%s: %s" % (type(e).__name__, e))
    print("%d failure%s" % (len(failures), "" if len(failures) == 1 else "s"))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
