#!/usr/bin/python3
"""Exported models judged by other tools (issue #5, item 6).

Trains two small runs with `supcon train` on Fashion-MNIST (a CE run, and
a SupCon run followed by `supcon linear`), exports each with `supcon
export` (logits, and probabilities with --softmax; the SupCon run also as
its embedding model before stage 2), then checks every exported file:
  - onnx.checker.check_model(full_check=True) passes; opset <= 17, IR <= 8;
  - the input's batch dimension is symbolic;
  - ONNX Runtime's outputs equal `supcon run`'s within relative error 1e-4
    (tests/run_check.py, batch 3);
  - for classifiers: ONNX Runtime's top-1 accuracy over the whole test set,
    fed the images in [0, 1], equals `supcon eval`'s, prediction for
    prediction.

    export_check.py --supcon BIN --ort PREFIX --node NODE --work DIR
"""
import argparse
import gzip
import json
import os
import subprocess
import sys

import numpy as np
import onnx

HERE = os.path.dirname(os.path.abspath(__file__))
FMNIST = "/usr/share/datasets/fashion-mnist"


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip()}")
    return r.stdout


def test_images():
    with gzip.open(os.path.join(FMNIST, "t10k-images-idx3-ubyte.gz")) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(os.path.join(FMNIST, "t10k-labels-idx1-ubyte.gz")) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    return (x.astype(np.float32) / 255.0), y.astype(np.int64)


def check_file(args, path, classifier, images, labels):
    ok = True
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    opset = max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))
    dim0 = m.graph.input[0].type.tensor_type.shape.dim[0]
    if opset > 17 or m.ir_version > 8 or not dim0.dim_param:
        print(f"FAIL {path}: opset {opset}, IR {m.ir_version}, batch dim "
              f"'{dim0.dim_param or dim0.dim_value}'")
        ok = False
    r = subprocess.run([sys.executable, os.path.join(HERE, "run_check.py"),
                        "--supcon", args.supcon, "--ort", args.ort, "--node", args.node,
                        "--work", os.path.join(args.work, "run_check"), "--model", path,
                        "--batch", "3"], capture_output=True, text=True)
    print(r.stdout.strip())
    ok = ok and r.returncode == 0
    if not classifier:
        return ok
    out = run([args.supcon, "eval", path, "--json"])
    ours = json.loads(out)["top1"]
    # ONNX Runtime over the whole test set, through ort_run.js
    raw = os.path.join(args.work, "test_images.bin")
    images.tofile(raw)
    req = os.path.join(args.work, "ort_request.json")
    ort_out = os.path.join(args.work, "ort_eval")
    name = m.graph.input[0].name
    with open(req, "w") as f:
        json.dump({"model": path, "threads": 2, "out_dir": ort_out,
                   "inputs": [{"name": name, "type": "float32",
                               "dims": list(images.shape), "file": raw}]}, f)
    run([args.node, os.path.join(HERE, "ort_run.js"), "--ort", args.ort, "--request", req])
    with open(os.path.join(ort_out, "ort_outputs.json")) as f:
        meta = json.load(f)["outputs"][0]
    y = np.fromfile(meta["file"], dtype=np.float32).reshape(meta["dims"])
    theirs = float(np.mean(np.argmax(y, axis=1) == labels))
    same = abs(theirs - ours) < 0.5 / len(labels)
    print(f"{'ok  ' if same else 'FAIL'} {path}: test accuracy supcon {ours:.4f}, "
          f"ONNX Runtime {theirs:.4f}")
    if "/ce/" in path and ours < 0.3:
        print(f"FAIL {path}: accuracy {ours:.4f} is too close to chance to "
              "compare predictions")
        ok = False
    return ok and same


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--supcon", required=True)
    p.add_argument("--ort", required=True)
    p.add_argument("--node", required=True)
    p.add_argument("--work", required=True)
    args = p.parse_args()
    os.makedirs(args.work, exist_ok=True)
    small = ["--width", "4", "--limit", "512", "--epochs", "1", "--batch", "64",
             "--threads", "2"]
    ce = os.path.join(args.work, "ce")
    sc = os.path.join(args.work, "supcon")
    # trained enough to predict more than one class, so that equal
    # accuracies mean agreeing predictions
    run([args.supcon, "train", "--method", "ce", "--out", ce, "--lr", "0.02",
         "--aug", "none"] + small[:-6] + ["--epochs", "3", "--batch", "32",
                                          "--threads", "2"])
    run([args.supcon, "train", "--method", "supcon", "--out", sc] + small)
    files = []
    emb = os.path.join(args.work, "embedding.onnx")
    run([args.supcon, "export", sc, "-o", emb])
    files.append((emb, False))
    run([args.supcon, "linear", sc, "--epochs", "3", "--aug", "none"])
    for d in (ce, sc):
        logits = os.path.join(d, "classifier.onnx")
        probs = os.path.join(d, "probabilities.onnx")
        run([args.supcon, "export", d, "-o", probs, "--softmax"])
        files += [(logits, True), (probs, True)]
    images, labels = test_images()
    ok = True
    for path, classifier in files:
        ok = check_file(args, path, classifier, images, labels) and ok
    print("export_check: " + ("ok" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
