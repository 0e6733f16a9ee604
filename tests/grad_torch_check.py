#!/usr/bin/python3
"""`supcon run --grad` against PyTorch autograd on graphs torch.onnx wrote (issue #4).

Two foreign graphs, each exported by torch.onnx from a seeded module, run by
`supcon`, and compared with the same module's autograd in float64 (the
module's float32 weights, and the inputs, converted exactly):

resnet18   torchvision's ResNet-18 (weights=None, seeded, BN affine and
           statistics random so that no two initializers are equal) wrapped
           so that the graph computes F.cross_entropy(model(x), y): first
           output the scalar loss, inputs x float [B, 3, S, S] and y int64
           [B].  The module is in train() mode and exported with
           TrainingMode.TRAINING and no constant folding, so every
           BatchNormalization normalises with the batch statistics and
           updates its running ones: opset 15 writes that with
           training_mode = 1, opset 12 (BatchNormalization-9) by asking for
           the five outputs.  Checked, per opset:
             - the loss;
             - `supcon run --grad P` for EVERY parameter P: the gradients
               of all 62 parameter tensors against their .grad;
             - the updated running mean and variance of every BN, read
               twice: as the BN nodes' outputs 1 and 2, which this script
               makes graph outputs (torch leaves them internal), and as the
               `<running>.new` outputs of the training graph that
               `supcon grad MODEL --loss loss` writes (which is what
               `supcon train` runs).  ONNX's momentum formula uses the
               population variance and PyTorch's the unbiased one, so the
               expected value is converted from torch's with N/(N-1),
               N = batch * H * W at that BN.
supcon     a small conv net with a projector whose two views' features go
           through SupContrast's loss written in plain tensor ops
           (F.normalize, matmul, / T, max-shift, masked log-softmax, mean;
           temperature 0.1, base_temperature 0.07), exported as standard
           ONNX ops at each --opset and once more with a symbolic batch
           (run on a different batch size).  Checked: the loss and the
           gradient of every parameter and of the input x.  The
           self-contrast mask is 1 - eye, or with --self-mask scatter
           SupContrast's own torch.scatter(ones, 1, arange(N).view(-1, 1), 0),
           which exports as Scatter (opsets 9-10) or ScatterElements.

Initializers are matched to the module by name: torch.onnx keeps the
state_dict keys when it does not fold constants.  The check fails loudly
when a parameter has no initializer, an initializer is no state_dict key,
or an initializer's value is not the module's; so it never compares fewer
tensors than it claims.

Errors: per tensor, rel = ||ours - ref|| / max(||ref||, 1e-30) (2-norms
over the tensor, in float64), and max abs |ours - ref| is reported beside
it.  Bounds: loss 1e-4 (relative), gradients --grad-rtol (1e-3 for the
ResNet, the issue's bound for deep float32 networks; 1e-4 for the small
SupCon net), running statistics 1e-4.

Run with Debian's /usr/bin/python3 (python3-torch, python3-torchvision,
python3-onnx):

    grad_torch_check.py --supcon BIN --work DIR [--threads 2] [-v] [--keep]
        resnet18 [--opset 15 --opset 12] [--batch 4] [--size 64]
    grad_torch_check.py --supcon BIN --work DIR [--threads 2]
        supcon [--opset 13 --opset 17] [--self-mask eye|scatter]

Prints one summary line per graph and one line per failing tensor (every
tensor with -v); exits 1 if anything fails, 2 on bad usage.  The ResNet's
files (270 MB per opset) are deleted when that opset passes, unless --keep.
"""
import argparse
import copy
import glob
import os
import shutil
import subprocess
import sys
import time
import warnings

import numpy as np
import onnx
from onnx import helper, numpy_helper
import torch
import torch.nn.functional as F
import torchvision

warnings.filterwarnings("ignore")
LOSS_RTOL = 1e-4
STATS_RTOL = 1e-4


class Failures:
    def __init__(self, verbose):
        self.lines = []
        self.verbose = verbose

    def fail(self, msg):
        self.lines.append(msg)
        print("FAIL " + msg, flush=True)


def rel_err(ours, ref):
    ours = np.asarray(ours, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if ours.shape != ref.shape:
        return float("inf"), float("inf")
    rel = float(np.linalg.norm(ours - ref) / max(np.linalg.norm(ref), 1e-30))
    return rel, float(np.max(np.abs(ours - ref))) if ref.size else 0.0


class Worst:
    """The worst relative error over a set of tensors, with a count."""

    def __init__(self, what, rtol, fails):
        self.what, self.rtol, self.fails = what, rtol, fails
        self.count, self.rel, self.abs, self.name = 0, 0.0, 0.0, "-"

    def check(self, label, ours, ref):
        rel, mabs = rel_err(ours, ref)
        self.count += 1
        if rel > self.rel or not np.isfinite(rel):
            self.rel, self.name = rel, label
        self.abs = max(self.abs, mabs)
        bad = not rel <= self.rtol
        if bad:
            self.fails.fail(f"{self.what} {label}: relative error {rel:.3e} > "
                            f"{self.rtol:g} (max abs {mabs:.3e}, shapes "
                            f"{np.shape(ours)} vs {np.shape(ref)})")
        elif self.fails.verbose:
            print(f"  {self.what} {label}: rel {rel:.3e} max abs {mabs:.3e}")

    def summary(self):
        return (f"{self.count} {self.what}, worst rel {self.rel:.2e} ({self.name}), "
                f"max abs {self.abs:.2e}")


def save_pb(array, name, path):
    with open(path, "wb") as f:
        f.write(numpy_helper.from_array(array, name).SerializeToString())


def run_supcon(args, cmd):
    full = [args.supcon] + cmd
    if cmd[0] == "run":
        full += ["--threads", str(args.threads)]
    r = subprocess.run(full, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(full[:3])} ... exited {r.returncode}: "
                           f"{r.stderr.strip()}")
    return r


def read_outputs(out_dir, kind):
    """{tensor name: array} of out_dir/<kind>_<i>.pb, and the names in order."""
    files = glob.glob(os.path.join(out_dir, f"{kind}_*.pb"))
    files.sort(key=lambda p: int(p.rsplit("_", 1)[1][:-3]))
    named, order = {}, []
    for path in files:
        t = onnx.load_tensor(path)
        named[t.name] = numpy_helper.to_array(t)
        order.append(t.name)
    return named, order


def match_initializers(model_proto, module, fails, what):
    """Checks that the ONNX initializers are the module's state by name:
    every parameter is one, and bit for bit the module's value; every
    initializer is a state_dict key.  Returns the parameter names in
    initializer order."""
    params = dict(module.named_parameters())
    state = module.state_dict()
    inits = {t.name: t for t in model_proto.graph.initializer}
    ok = True
    for name in inits:
        if name not in state:
            fails.fail(f"{what}: initializer '{name}' is not a state_dict key")
            ok = False
    for name, p in params.items():
        if name not in inits:
            fails.fail(f"{what}: parameter '{name}' has no initializer")
            ok = False
        elif not np.array_equal(numpy_helper.to_array(inits[name]),
                                p.detach().numpy()):
            fails.fail(f"{what}: initializer '{name}' differs from the parameter")
            ok = False
    if not ok:
        raise RuntimeError(f"{what}: initializers do not match the module")
    return [t.name for t in model_proto.graph.initializer if t.name in params]


def grad_flags(names):
    out = []
    for n in names:
        out += ["--grad", n]
    return out


# --- ResNet-18 with cross-entropy, training mode ------------------------------

class WithCrossEntropy(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x, y):
        return F.cross_entropy(self.net(x), y)


def build_resnet18():
    torch.manual_seed(0)
    net = torchvision.models.resnet18(weights=None)
    # as make_torchvision.py: torch.onnx merges equal initializers, and
    # fresh BN layers hold ones and zeros
    with torch.no_grad():
        for mod in net.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.normal_(0.0, 0.1)
                mod.running_mean.normal_(0.0, 0.1)
                mod.running_var.uniform_(0.5, 1.5)
    model = WithCrossEntropy(net)
    model.train()
    return model


def bn_outputs_as_graph_outputs(model_proto):
    """Makes outputs 1 and 2 (updated running mean and variance) of every
    BatchNormalization graph outputs, after the loss.  Returns
    [(running_mean name, output name), (running_var name, output name)...]."""
    added = []
    for node in model_proto.graph.node:
        if node.op_type != "BatchNormalization":
            continue
        if len(node.output) < 3 or not node.output[1] or not node.output[2]:
            raise RuntimeError(f"BatchNormalization '{node.name}' has no running "
                               "statistics outputs: not exported in training mode")
        for k in (1, 2):
            model_proto.graph.output.append(helper.make_tensor_value_info(
                node.output[k], onnx.TensorProto.FLOAT, None))
            added.append((node.input[2 + k], node.output[k]))
    return added


def torch_reference(model, x, y, dtype):
    """Loss, parameter gradients, the ONNX-convention running statistics
    after one forward of a copy of model (in train mode) in dtype, and the
    ReLU input nearest to 0 (float32 rounding can push an input that close
    to the kink to its other side, which moves the gradients upstream of
    it by up to ~1e-3: that is what the tolerance is for)."""
    ref = copy.deepcopy(model).to(dtype)
    ref.train()
    bns = {n: m for n, m in ref.named_modules()
           if isinstance(m, torch.nn.BatchNorm2d)}
    count, kink = {}, [float("inf")]

    def bn_hook(mod, inp, out, n):
        count[n] = inp[0].numel() // inp[0].shape[1]

    def relu_hook(mod, inp):
        kink[0] = min(kink[0], float(inp[0].detach().abs().min()))

    hooks = [m.register_forward_hook(lambda mod, i, o, n=n: bn_hook(mod, i, o, n))
             for n, m in bns.items()]
    hooks += [m.register_forward_pre_hook(relu_hook) for m in ref.modules()
              if isinstance(m, torch.nn.ReLU)]
    old = {n: (m.running_mean.double().clone(), m.running_var.double().clone())
           for n, m in bns.items()}
    loss = ref(x.to(dtype), y)
    loss.backward()
    for h in hooks:
        h.remove()
    grads = {n: p.grad.double().numpy() for n, p in ref.named_parameters()}
    stats = {}
    for n, m in bns.items():
        mom, N = m.momentum, count[n]
        rm_old, rv_old = old[n]
        # torch: rv = (1 - mom) rv_old + mom * var_unbiased; ONNX uses the
        # population variance var_unbiased * (N - 1) / N
        var_unbiased = (m.running_var.double() - (1 - mom) * rv_old) / mom
        rv_onnx = (1 - mom) * rv_old + mom * var_unbiased * (N - 1) / N
        stats[n + ".running_mean"] = m.running_mean.double().numpy()
        stats[n + ".running_var"] = rv_onnx.numpy()
    moms = {n: m.momentum for n, m in bns.items()}
    return float(loss), grads, stats, moms, kink[0]


def check_resnet_opset(args, model, x, y, opset, fails):
    tag = f"resnet18 opset {opset}"
    work = os.path.join(args.work, f"resnet18_op{opset}")
    os.makedirs(work, exist_ok=True)
    path = os.path.join(work, "model.onnx")
    t0 = time.time()
    # tracing runs the module in train mode and moves its running
    # statistics: export a copy, and take the exported values as the start
    exported = copy.deepcopy(model)
    torch.onnx.export(exported, (x, y), path, opset_version=opset,
                      training=torch.onnx.TrainingMode.TRAINING,
                      do_constant_folding=False, export_params=True,
                      input_names=["x", "y"], output_names=["loss"])
    proto = onnx.load(path)
    params = match_initializers(proto, model, fails, tag)
    n_expected = len(list(model.parameters()))
    if len(params) != n_expected:
        raise RuntimeError(f"{tag}: {len(params)} parameter initializers, "
                           f"the module has {n_expected}")
    start = copy.deepcopy(model)
    start.load_state_dict({k: torch.from_numpy(numpy_helper.to_array(t).copy())
                           for k, t in ((t.name, t) for t in proto.graph.initializer)},
                          strict=False)
    bn_moms = {}
    for node in proto.graph.node:
        if node.op_type == "BatchNormalization":
            m = [a.f for a in node.attribute if a.name == "momentum"]
            bn_moms[node.input[3].rsplit(".", 1)[0]] = m[0] if m else 0.9
    stats_outputs = bn_outputs_as_graph_outputs(proto)
    onnx.save(proto, path)
    # the gradients against torch's own float32 .grad (what the issue
    # bounds by 1e-3) and against float64; loss and statistics against
    # float64
    loss_ref, grads_ref, _, _, _ = torch_reference(start, x, y, torch.float32)
    loss64, grads64, stats_ref, torch_moms, kink = torch_reference(
        start, x, y, torch.float64)
    for n, mom in torch_moms.items():
        if abs(bn_moms.get(n, -1) - (1 - mom)) > 1e-6:
            fails.fail(f"{tag}: BN {n} has ONNX momentum {bn_moms.get(n)}, "
                       f"torch's is {mom}")
    if len(stats_outputs) != 2 * len(torch_moms):
        fails.fail(f"{tag}: {len(stats_outputs) // 2} BatchNormalization nodes, "
                   f"the module has {len(torch_moms)}")
    t_export = time.time() - t0

    # 1. supcon run --grad on every parameter, BN outputs as graph outputs
    out_dir = os.path.join(work, "run")
    t0 = time.time()
    run_supcon(args, ["run", path, "--in", f"x={args.x_pb}", "--in", f"y={args.y_pb}",
                      "--out", out_dir] + grad_flags(params))
    t_run = time.time() - t0
    outs, order = read_outputs(out_dir, "output")
    grads, gorder = read_outputs(out_dir, "grad")
    if order[:1] != ["loss"] or gorder != [p + "_grad" for p in params]:
        fails.fail(f"{tag}: outputs {order[:3]}... and gradients {gorder[:3]}... "
                   "are not in the order asked for")
    loss_rel = abs(float(outs["loss"]) - loss64) / abs(loss64)
    if not loss_rel <= LOSS_RTOL:
        fails.fail(f"{tag}: loss {float(outs['loss'])!r}, torch {loss64!r}, "
                   f"relative error {loss_rel:.3e}")
    gw = Worst("parameter gradients", args.grad_rtol, fails)
    for p in params:
        gw.check(p, grads.get(p + "_grad"), grads_ref[p])
    g64 = Worst("parameter gradients (float64 reference)", args.grad_rtol, fails)
    for p in params:
        g64.check(p, grads.get(p + "_grad"), grads64[p])
    torch64 = max(rel_err(grads_ref[p], grads64[p])[0] for p in params)
    sw = Worst("BN statistics (node outputs)", STATS_RTOL, fails)
    for running, out_name in stats_outputs:
        sw.check(running, outs.get(out_name), stats_ref[running])

    # 2. the training graph `supcon grad` writes: its <running>.new outputs
    train = os.path.join(work, "train.onnx")
    t0 = time.time()
    run_supcon(args, ["grad", path, "--loss", "loss", "-o", train])
    train_dir = os.path.join(work, "train_run")
    run_supcon(args, ["run", train, "--in", f"x={args.x_pb}", "--in", f"y={args.y_pb}",
                      "--out", train_dir])
    t_train = time.time() - t0
    touts, _ = read_outputs(train_dir, "output")
    tl_rel = abs(float(touts["loss"]) - loss64) / abs(loss64)
    if not tl_rel <= LOSS_RTOL:
        fails.fail(f"{tag}: training graph loss {float(touts['loss'])!r}, torch "
                   f"{loss64!r}")
    tw = Worst("BN statistics (training graph)", STATS_RTOL, fails)
    for running, _ in stats_outputs:
        tw.check(running, touts.get(running + ".new"), stats_ref[running])
    print(f"{tag}: loss rel {loss_rel:.2e}; {gw.summary()}; {sw.summary()}; "
          f"training graph: loss rel {tl_rel:.2e}, {tw.summary()}; "
          f"against float64: supcon's gradients worst rel {g64.rel:.2e}, torch "
          f"float32's {torch64:.2e} (nearest ReLU input to 0: {kink:.1e}) "
          f"[export {t_export:.1f}s, run {t_run:.1f}s, grad+run {t_train:.1f}s]",
          flush=True)


def cmd_resnet18(args, fails):
    model = build_resnet18()
    # Seed 56 keeps every ReLU input at least 1.1e-5 from 0 in float64 (at
    # the default batch and size).  With seed 1 one input of layer2.0's
    # last ReLU is 3.1e-6 from 0 and float32 rounding (torch's and ours
    # alike) puts it on the other side: both float32 results are then
    # 2.6e-3 from float64's, though they agree with each other to 1e-5.
    gen = torch.Generator().manual_seed(56)
    x = torch.randn(args.batch, 3, args.size, args.size, generator=gen)
    y = torch.randint(0, 1000, (args.batch,), generator=gen)
    os.makedirs(args.work, exist_ok=True)
    args.x_pb = os.path.join(args.work, "x.pb")
    args.y_pb = os.path.join(args.work, "y.pb")
    save_pb(x.numpy(), "x", args.x_pb)
    save_pb(y.numpy(), "y", args.y_pb)
    for opset in args.opset or [15, 12]:
        before = len(fails.lines)
        try:
            check_resnet_opset(args, model, x, y, opset, fails)
        except RuntimeError as e:
            fails.fail(str(e))
        if len(fails.lines) == before and not args.keep:
            # 270 MB of models and tensors; kept when something failed
            shutil.rmtree(os.path.join(args.work, f"resnet18_op{opset}"))


# --- SupCon loss in plain PyTorch -----------------------------------------------

def supcon_loss(features, labels, temperature=0.1, base_temperature=0.07,
                self_mask="eye"):
    """SupContrast's losses.py (SupConLoss, contrast_mode 'all').  The
    self-contrast mask is SupContrast's own torch.scatter with
    self_mask="scatter" (exported as Scatter at opsets 9-10 and
    ScatterElements from 11), and 1 - eye with self_mask="eye"."""
    batch_size = features.shape[0]
    labels = labels.contiguous().view(-1, 1)
    mask = torch.eq(labels, labels.T).float()
    contrast_count = features.shape[1]
    contrast_feature = torch.cat(torch.unbind(features, dim=1), dim=0)
    anchor_feature = contrast_feature
    anchor_count = contrast_count
    anchor_dot_contrast = torch.div(
        torch.matmul(anchor_feature, contrast_feature.T), temperature)
    logits_max, _ = torch.max(anchor_dot_contrast, dim=1, keepdim=True)
    logits = anchor_dot_contrast - logits_max.detach()
    mask = mask.repeat(anchor_count, contrast_count)
    if self_mask == "scatter":
        logits_mask = torch.scatter(
            torch.ones_like(mask), 1,
            torch.arange(batch_size * anchor_count).view(-1, 1), 0)
    else:
        logits_mask = 1 - torch.eye(batch_size * anchor_count, dtype=mask.dtype)
    mask = mask * logits_mask
    exp_logits = torch.exp(logits) * logits_mask
    log_prob = logits - torch.log(exp_logits.sum(1, keepdim=True))
    mean_log_prob_pos = (mask * log_prob).sum(1) / mask.sum(1)
    loss = -(temperature / base_temperature) * mean_log_prob_pos
    return loss.view(anchor_count, batch_size).mean()


class SupConNet(torch.nn.Module):
    """Encoder and projector; x holds the two views of B images, stacked
    as SupContrast's training loop does ([2B, 3, 8, 8])."""

    def __init__(self, self_mask="eye"):
        super().__init__()
        self.self_mask = self_mask
        self.encoder = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
        self.head = torch.nn.Sequential(
            torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 16))

    def forward(self, x, labels):
        bsz = labels.shape[0]
        z = F.normalize(self.head(self.encoder(x)), dim=1)
        f1, f2 = torch.split(z, [bsz, bsz], dim=0)
        features = torch.cat([f1.unsqueeze(1), f2.unsqueeze(1)], dim=1)
        return supcon_loss(features, labels, self_mask=self.self_mask)


def check_supcon_graph(args, net, tag, path, x, labels, fails):
    work = os.path.dirname(path)
    x_pb, l_pb = os.path.join(work, "x.pb"), os.path.join(work, "labels.pb")
    save_pb(x.numpy(), "x", x_pb)
    save_pb(labels.numpy(), "labels", l_pb)
    params = match_initializers(onnx.load(path), net, fails, tag)
    if len(params) != len(list(net.parameters())):
        raise RuntimeError(f"{tag}: {len(params)} parameter initializers")
    ref = copy.deepcopy(net).double()
    xr = x.double().requires_grad_(True)
    loss = ref(xr, labels)
    loss.backward()
    want = {n: p.grad.numpy() for n, p in ref.named_parameters()}
    want["x"] = xr.grad.numpy()
    out_dir = os.path.join(work, "run")
    wrt = params + ["x"]
    run_supcon(args, ["run", path, "--in", f"x={x_pb}", "--in", f"labels={l_pb}",
                      "--out", out_dir] + grad_flags(wrt))
    outs, _ = read_outputs(out_dir, "output")
    grads, _ = read_outputs(out_dir, "grad")
    loss_rel = abs(float(outs["loss"]) - float(loss)) / abs(float(loss))
    if not loss_rel <= LOSS_RTOL:
        fails.fail(f"{tag}: loss {float(outs['loss'])!r}, torch {float(loss)!r}, "
                   f"relative error {loss_rel:.3e}")
    gw = Worst("gradients", args.grad_rtol, fails)
    for n in wrt:
        gw.check(n, grads.get(n + "_grad"), want[n])
    print(f"{tag}: loss {float(loss):.6f} rel {loss_rel:.2e}; {gw.summary()}",
          flush=True)


# The op torch.onnx writes for torch.scatter at an opset.
def scatter_op(opset):
    return "Scatter" if opset < 11 else "ScatterElements"


def cmd_supcon(args, fails):
    torch.manual_seed(0)
    net = SupConNet(args.self_mask)
    gen = torch.Generator().manual_seed(2)
    # label 2 once per view: every anchor still has its other view
    labels = torch.tensor([0, 1, 2, 0, 1, 1])
    x = torch.randn(2 * len(labels), 3, 8, 8, generator=gen)
    opsets = args.opset or [13, 17]
    variants = [(op, False) for op in opsets] + [(max(opsets), True)]
    scatter = args.self_mask == "scatter"
    for opset, dynamic in variants:
        tag = (f"supcon{' scatter mask' if scatter else ''} opset {opset}"
               + (" symbolic batch" if dynamic else ""))
        work = os.path.join(args.work, f"supcon{'_scatter' if scatter else ''}_op{opset}"
                            + ("_dyn" if dynamic else ""))
        os.makedirs(work, exist_ok=True)
        path = os.path.join(work, "model.onnx")
        axes = {"x": {0: "N2"}, "labels": {0: "N"}} if dynamic else None
        try:
            torch.onnx.export(net, (x, labels), path, opset_version=opset,
                              do_constant_folding=False, input_names=["x", "labels"],
                              output_names=["loss"], dynamic_axes=axes)
            ops = {n.op_type for n in onnx.load(path).graph.node}
            if any(n.domain not in ("", "ai.onnx") for n in onnx.load(path).graph.node):
                raise RuntimeError(f"{tag}: the export holds non-standard ops")
            if not {"MatMul", "ReduceMax", "Exp", "Log", "ReduceL2"} <= ops:
                raise RuntimeError(f"{tag}: unexpected export, ops {sorted(ops)}")
            # the variant is only worth running if the mask is a scatter
            if scatter and scatter_op(opset) not in ops:
                raise RuntimeError(f"{tag}: the export holds no {scatter_op(opset)}, "
                                   f"ops {sorted(ops)}")
            if dynamic:
                # another batch than the export's, through the symbolic dims
                lab = torch.tensor([3, 0, 3, 1, 0])
                xd = torch.randn(2 * len(lab), 3, 8, 8, generator=gen)
                check_supcon_graph(args, net, tag, path, xd, lab, fails)
            else:
                check_supcon_graph(args, net, tag, path, x, labels, fails)
        except RuntimeError as e:
            fails.fail(str(e))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--supcon", required=True, help="the supcon binary")
    ap.add_argument("--work", required=True, help="folder for models and outputs")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--keep", action="store_true",
                    help="keep the ResNet models and outputs even when they pass")
    sub = ap.add_subparsers(dest="graph", required=True)
    r = sub.add_parser("resnet18")
    r.add_argument("--opset", type=int, action="append")
    r.add_argument("--batch", type=int, default=4)
    r.add_argument("--size", type=int, default=64)
    r.add_argument("--grad-rtol", type=float, default=1e-3)
    s = sub.add_parser("supcon")
    s.add_argument("--opset", type=int, action="append")
    s.add_argument("--grad-rtol", type=float, default=1e-4)
    s.add_argument("--self-mask", choices=["eye", "scatter"], default="eye",
                   help="the self-contrast mask: 1 - eye (default) or "
                        "SupContrast's torch.scatter")
    args = ap.parse_args()
    if not os.access(args.supcon, os.X_OK):
        ap.error(f"--supcon {args.supcon}: not an executable")
    if args.graph == "resnet18" and args.batch < 2:
        ap.error("--batch must be at least 2 (the unbiased variance needs it)")

    torch.set_num_threads(args.threads)
    fails = Failures(args.verbose)
    if args.graph == "resnet18":
        cmd_resnet18(args, fails)
    else:
        cmd_supcon(args, fails)
    if fails.lines:
        print(f"{len(fails.lines)} failure(s)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
