#!/usr/bin/python3
"""Exports a torchvision ResNet to ONNX the way users do, for the loader tests.

Run with Debian's /usr/bin/python3 (python3-torch, python3-torchvision).
The weights are random (weights=None, fixed seed): nothing is downloaded.
The model is in eval mode and the input is float32 [N, 3, 224, 224] with the
batch axis named N.

By default BatchNormalization nodes are kept (TrainingMode.PRESERVE on an
eval-mode model skips torch's Conv+BN fusion, and no constant folding);
--fold-bn exports with TrainingMode.EVAL and constant folding, which folds BN
into the convolutions the way most exported model files have it.
--initializers-as-inputs lists every initializer as a graph input too, as
exporters of opset < 9 did.

    make_torchvision.py OUT.onnx [--arch resnet50] [--opset 13] [--fold-bn]
                        [--initializers-as-inputs] [--external-data]
"""
import argparse
import os
import sys

import torch
import torchvision


def build(arch):
    torch.manual_seed(0)
    ctor = getattr(torchvision.models, arch)
    model = ctor(weights=None)
    # Fresh BN layers hold ones and zeros, and torch.onnx merges initializers
    # with equal values (weight and running_var would become one tensor).
    # Random statistics keep every parameter its own initializer, make the
    # BN fold non-trivial, and keep the element count torchvision's.
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.normal_(0.0, 0.1)
                mod.running_mean.normal_(0.0, 0.1)
                mod.running_var.uniform_(0.5, 1.5)
    model.eval()
    return model


def export(model, path, opset, fold_bn, inits_as_inputs):
    dummy = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    mode = torch.onnx.TrainingMode.EVAL if fold_bn else torch.onnx.TrainingMode.PRESERVE
    tmp = path + ".tmp"
    with torch.no_grad():
        torch.onnx.export(
            model, dummy, tmp,
            export_params=True,
            opset_version=opset,
            do_constant_folding=fold_bn,
            training=mode,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
            keep_initializers_as_inputs=inits_as_inputs)
    os.replace(tmp, path)


def to_external(path):
    """Rewrites the file with every large tensor in PATH.data next to it."""
    import onnx
    model = onnx.load(path)
    data_name = os.path.basename(path) + ".data"
    data_path = os.path.join(os.path.dirname(os.path.abspath(path)), data_name)
    if os.path.exists(data_path):
        os.remove(data_path)
    onnx.save_model(model, path, save_as_external_data=True,
                    all_tensors_to_one_file=True, location=data_name,
                    size_threshold=1024)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--arch", default="resnet50",
                    choices=["resnet18", "resnet34", "resnet50", "resnet101",
                             "resnet152"])
    ap.add_argument("--opset", type=int, default=13)
    ap.add_argument("--fold-bn", action="store_true")
    ap.add_argument("--initializers-as-inputs", action="store_true")
    ap.add_argument("--external-data", action="store_true",
                    help="store tensors in OUT.data next to the model")
    args = ap.parse_args()

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    torch.set_num_threads(1)
    model = build(args.arch)
    export(model, args.out, args.opset, args.fold_bn, args.initializers_as_inputs)
    if args.external_data:
        to_external(args.out)

    import onnx
    m = onnx.load(args.out, load_external_data=False)
    bn = sum(1 for n in m.graph.node if n.op_type == "BatchNormalization")
    if args.fold_bn and bn:
        sys.exit(f"{args.out}: {bn} BatchNormalization nodes were not folded")
    if not args.fold_bn and bn == 0:
        sys.exit(f"{args.out}: BatchNormalization nodes were folded away")
    print(f"{args.out}: {args.arch} opset {args.opset}, {len(m.graph.node)} nodes, "
          f"{bn} BatchNormalization, {os.path.getsize(args.out)} bytes")


if __name__ == "__main__":
    main()
