#!/usr/bin/python3
"""`supcon run` against ONNX Runtime on real exporter output (issue #3, item 5).

For each --model, a seeded standard-normal float32 input of shape
[batch, 3, 224, 224] (--batch, default 2; the model's declared non-batch
dims are used when they are known) is written as a TensorProto .pb for
`supcon run` and as raw bytes for ONNX Runtime (onnxruntime-node, through
ort_run.js, with graph optimizations on).  Both runs see the same bytes.

Agreement, per graph output, in graph order:
  - same output names, dtypes and shapes;
  - every value finite in both;
  - relative error  max_i |supcon_i - ort_i| / max_i |ort_i|  <= --rtol
    (default 1e-4, the interop rule of DESIGN.md).  The denominator is the
    largest magnitude of the reference output, so the error is measured on
    the scale of the output and is not inflated by values near zero.  An
    all-zero reference output must be matched within --rtol absolutely.

Run with Debian's /usr/bin/python3 (python3-onnx, python3-numpy):

    run_check.py --supcon BIN --ort PREFIX [--node NODE] --work DIR
                 --model PATH [--model PATH ...] [--png-model PATH ...]
                 [--batch 2] [--threads 2] [--seed 0] [--rtol 1e-4]

--png-model also runs a model on a seeded 8-bit RGB PNG that torchvision
writes: `supcon run --in input=FILE.png` against ONNX Runtime fed
torchvision's read_image(FILE) / 255, so the PNG path is checked end to end.

Prints one line per model and output; exits 1 if any model fails (supcon
refusing a model counts as a failure and its message is shown), 2 on bad
usage.
"""
import argparse
import json
import os
import subprocess
import sys
import zlib

import numpy as np
import onnx
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))

NP_TO_ORT = {
    np.dtype(np.float32): "float32", np.dtype(np.float64): "float64",
    np.dtype(np.int64): "int64", np.dtype(np.int32): "int32",
    np.dtype(np.uint8): "uint8", np.dtype(np.int8): "int8",
    np.dtype(np.bool_): "bool",
}
ORT_TO_NP = {v: k for k, v in NP_TO_ORT.items()}


def model_inputs(path):
    """(name, elem_type, dims) of the graph inputs that are not initializers."""
    m = onnx.load(path, load_external_data=False)
    inits = {t.name for t in m.graph.initializer}
    out = []
    for vi in m.graph.input:
        if vi.name in inits:
            continue
        tt = vi.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None
                for d in tt.shape.dim]
        out.append((vi.name, tt.elem_type, dims))
    return out


def input_shape(dims, batch):
    shape = [batch if i == 0 and d is None else d for i, d in enumerate(dims)]
    if any(d is None for d in shape):
        raise ValueError(f"input shape {dims} has unknown dims past the batch")
    return shape


def rel_error(got, ref):
    got = got.astype(np.float64)
    ref = ref.astype(np.float64)
    diff = float(np.max(np.abs(got - ref))) if ref.size else 0.0
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    return diff / scale if scale > 0 else diff, diff, scale


def first_line(text):
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[0] if lines else "(no message)"


def model_label(path):
    """resnet18_op13 for .../resnet18_op13.onnx and .../resnet18_op13/model.onnx"""
    base = os.path.basename(path)
    if base == "model.onnx":
        return os.path.basename(os.path.dirname(os.path.abspath(path)))
    return os.path.splitext(base)[0]


def write_png_input(path, shape, rng):
    """A seeded 8-bit RGB PNG of shape [1, 3, H, W] written by torchvision,
    and what it must become: torchvision's read_image / 255 as float32."""
    import torch
    from torchvision.io import ImageReadMode, read_image, write_png
    _, c, h, w = shape
    pixels = torch.from_numpy(rng.integers(0, 256, (c, h, w), dtype=np.uint8))
    write_png(pixels, path)
    return (read_image(path, ImageReadMode.UNCHANGED).float() / 255).numpy()[None]


def check_model(args, path, png=False):
    label = model_label(path) + ("_png" if png else "")
    work = os.path.join(args.work, label)
    os.makedirs(work, exist_ok=True)
    # each model's input depends on the seed and its name only
    rng = np.random.default_rng([args.seed, zlib.crc32(label.encode())])

    inputs = []
    for name, elem, dims in model_inputs(path):
        if elem != onnx.TensorProto.FLOAT:
            print(f"FAIL {label}: input '{name}' is not float32")
            return False
        raw = os.path.join(work, f"input_{len(inputs)}.bin")
        if png:
            # supcon decodes the PNG itself; ONNX Runtime gets torchvision's pixels
            pb = os.path.join(work, f"input_{len(inputs)}.png")
            x = write_png_input(pb, input_shape(dims, 1), rng)
        else:
            pb = os.path.join(work, f"input_{len(inputs)}.pb")
            x = rng.standard_normal(input_shape(dims, args.batch)).astype(np.float32)
            with open(pb, "wb") as f:
                f.write(numpy_helper.from_array(x, name).SerializeToString())
        x.tofile(raw)
        inputs.append({"name": name, "type": "float32", "dims": list(x.shape),
                       "file": raw, "pb": pb})

    out_dir = os.path.join(work, "supcon")
    cmd = [args.supcon, "run", path, "--threads", str(args.threads), "--out", out_dir]
    for inp in inputs:
        cmd += ["--in", f"{inp['name']}={inp['pb']}"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        print(f"FAIL {label}: supcon run exit {r.returncode}: {first_line(r.stderr)}")
        return False

    request = os.path.join(work, "ort_request.json")
    ort_dir = os.path.join(work, "ort")
    with open(request, "w") as f:
        json.dump({"model": path, "threads": args.threads, "out_dir": ort_dir,
                   "inputs": [{k: v for k, v in i.items() if k != "pb"}
                              for i in inputs]}, f)
    r = subprocess.run([args.node, os.path.join(HERE, "ort_run.js"), "--ort", args.ort,
                        "--request", request], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"FAIL {label}: ONNX Runtime: {first_line(r.stderr)}")
        return False
    with open(os.path.join(ort_dir, "ort_outputs.json")) as f:
        ort_outputs = json.load(f)["outputs"]

    ok = True
    for i, ref_meta in enumerate(ort_outputs):
        pb = os.path.join(out_dir, f"output_{i}.pb")
        if not os.path.exists(pb):
            print(f"FAIL {label}: supcon wrote no output_{i}.pb for '{ref_meta['name']}'")
            ok = False
            continue
        t = onnx.TensorProto()
        with open(pb, "rb") as f:
            t.ParseFromString(f.read())
        got = numpy_helper.to_array(t)
        ref = np.fromfile(ref_meta["file"], dtype=ORT_TO_NP[ref_meta["type"]])
        ref = ref.reshape(ref_meta["dims"])
        where = f"{label} output {i} '{ref_meta['name']}'"
        if t.name != ref_meta["name"]:
            print(f"FAIL {where}: supcon named it '{t.name}'")
            ok = False
        elif got.dtype != ref.dtype or got.shape != ref.shape:
            print(f"FAIL {where}: supcon {got.dtype}{list(got.shape)}, "
                  f"ONNX Runtime {ref.dtype}{list(ref.shape)}")
            ok = False
        elif not (np.all(np.isfinite(got)) and np.all(np.isfinite(ref))):
            print(f"FAIL {where}: non-finite values")
            ok = False
        else:
            rel, diff, scale = rel_error(got, ref)
            verdict = "ok  " if rel <= args.rtol else "FAIL"
            ok = ok and rel <= args.rtol
            print(f"{verdict} {where} {list(got.shape)}: rel {rel:.3g} "
                  f"(max |diff| {diff:.3g}, max |ref| {scale:.3g})")
    extra = os.path.join(out_dir, f"output_{len(ort_outputs)}.pb")
    if os.path.exists(extra):
        print(f"FAIL {label}: supcon wrote more outputs than the model has")
        ok = False
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--supcon", required=True)
    ap.add_argument("--ort", required=True, help="prefix holding node_modules/onnxruntime-node")
    ap.add_argument("--node", default="node")
    ap.add_argument("--work", required=True)
    ap.add_argument("--model", action="append", required=True)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rtol", type=float, default=1e-4)
    ap.add_argument("--png-model", action="append", default=[],
                    help="also run this model on a PNG written by torchvision")
    args = ap.parse_args()
    args.work = os.path.abspath(args.work)

    runs = [(m, False) for m in args.model] + [(m, True) for m in args.png_model]
    failed = [m for m, png in runs if not check_model(args, m, png)]
    print(f"run_check: {len(runs) - len(failed)} of {len(runs)} runs "
          f"agree with ONNX Runtime within rtol {args.rtol:g}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
