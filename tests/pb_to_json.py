#!/usr/bin/python3
"""Turns the ONNX test inputs of every round-tripped model into JSON for
ort_compare.js, which has no protobuf decoder of its own.

For each WORK/<suite>__<case>.onnx that test_roundtrip saved, reads
TESTDATA/<suite>/<case>/test_data_set_0/input_<i>.pb with onnx.numpy_helper
and writes one entry of OUT:

    {"id": "<suite>__<case>", "original": PATH, "saved": PATH,
     "inputs": [{"name": ..., "type": "float32", "dims": [...],
                 "data": BASE64 of the little-endian bytes}
                | {"name": ..., "type": "string", "dims": [...],
                   "strings": [...]}]}

or {"id": ..., "skip": REASON} when ONNX Runtime for Node cannot be fed the
inputs (sequences, optionals, maps, bfloat16, complex, non-UTF-8 strings).
input_<i> feeds the i-th graph input that is not an initializer, which is
how ONNX's backend test runner pairs them.

--pair ORIGINAL SAVED (repeatable) adds models that come without test data,
such as the torchvision exports: their inputs are generated from the
declared types, with 2 for every symbolic or unknown dim and a fixed
pattern as values.

    pb_to_json.py (--work DIR --testdata ROOT | --pair ORIGINAL SAVED ...)
                  --out FILE
"""
import argparse
import base64
import glob
import json
import os
import re
import sys

import numpy as np
import onnx
from onnx import numpy_helper

# TensorProto.DataType -> (onnxruntime-node type, numpy dtype of the bytes)
ORT_TYPES = {
    1: ("float32", "<f4"), 2: ("uint8", "u1"), 3: ("int8", "i1"),
    4: ("uint16", "<u2"), 5: ("int16", "<i2"), 6: ("int32", "<i4"),
    7: ("int64", "<i8"), 9: ("bool", "u1"), 10: ("float16", "<f2"),
    11: ("float64", "<f8"), 12: ("uint32", "<u4"), 13: ("uint64", "<u8"),
}


class Skip(Exception):
    pass


def input_files(case_dir):
    files = glob.glob(os.path.join(case_dir, "test_data_set_0", "input_*.pb"))
    return sorted(files, key=lambda f: int(re.search(r"input_(\d+)\.pb$", f).group(1)))


def feed_inputs(model):
    inits = {t.name for t in model.graph.initializer}
    return [v for v in model.graph.input if v.name not in inits]


def tensor_entry(name, path):
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    if t.data_type == onnx.TensorProto.STRING:
        arr = numpy_helper.to_array(t)
        try:
            strings = [x.decode("utf-8") if isinstance(x, bytes) else str(x)
                       for x in arr.ravel()]
        except UnicodeDecodeError:
            raise Skip(f"{os.path.basename(path)}: string input is not UTF-8")
        return {"name": name, "type": "string", "dims": list(t.dims),
                "strings": strings}
    if t.data_type not in ORT_TYPES:
        raise Skip(f"{os.path.basename(path)}: data type "
                   f"{onnx.TensorProto.DataType.Name(t.data_type)} has no "
                   "onnxruntime-node tensor")
    ort_type, np_type = ORT_TYPES[t.data_type]
    arr = np.ascontiguousarray(numpy_helper.to_array(t)).astype(np_type, copy=False)
    return {"name": name, "type": ort_type, "dims": list(t.dims),
            "data": base64.b64encode(arr.tobytes()).decode("ascii")}


def case_entry(saved_path, testdata):
    base = os.path.basename(saved_path)[:-len(".onnx")]
    suite, case = base.split("__", 1)
    case_dir = os.path.join(testdata, suite, case)
    orig_path = os.path.join(case_dir, "model.onnx")
    entry = {"id": base, "original": orig_path, "saved": saved_path}
    try:
        model = onnx.load(orig_path)
        feeds = feed_inputs(model)
        for v in feeds:
            if v.type.WhichOneof("value") != "tensor_type":
                raise Skip(f"input '{v.name}' is a "
                           f"{v.type.WhichOneof('value') or 'untyped value'}")
        files = input_files(case_dir)
        if not files:
            raise Skip("no test_data_set_0 inputs")
        if len(files) > len(feeds):
            raise Skip(f"{len(files)} input files for {len(feeds)} graph inputs")
        entry["inputs"] = [tensor_entry(v.name, f) for v, f in zip(feeds, files)]
    except Skip as e:
        entry = {"id": base, "skip": str(e)}
    return entry


def generated_input(v):
    t = v.type.tensor_type
    if t.elem_type not in ORT_TYPES:
        raise Skip(f"input '{v.name}' has data type "
                   f"{onnx.TensorProto.DataType.Name(t.elem_type)}")
    ort_type, np_type = ORT_TYPES[t.elem_type]
    dims = [d.dim_value if d.HasField("dim_value") else 2 for d in t.shape.dim]
    n = int(np.prod(dims, dtype=np.int64))
    i = np.arange(n)
    if ort_type.startswith("float"):
        values = np.sin(i * 0.001)
    elif ort_type == "bool":
        values = i % 2
    else:
        values = i % 7
    data = values.astype(np_type).tobytes()
    return {"name": v.name, "type": ort_type, "dims": dims,
            "data": base64.b64encode(data).decode("ascii")}


def pair_entry(orig_path, saved_path):
    entry = {"id": os.path.basename(saved_path), "original": orig_path,
             "saved": saved_path}
    try:
        model = onnx.load(orig_path, load_external_data=False)
        feeds = feed_inputs(model)
        for v in feeds:
            if v.type.WhichOneof("value") != "tensor_type":
                raise Skip(f"input '{v.name}' is not a tensor")
        entry["inputs"] = [generated_input(v) for v in feeds]
    except Skip as e:
        entry = {"id": entry["id"], "skip": str(e)}
    return entry


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work")
    ap.add_argument("--testdata")
    ap.add_argument("--pair", nargs=2, action="append", default=[],
                    metavar=("ORIGINAL", "SAVED"))
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    if bool(args.work) != bool(args.testdata) or not (args.work or args.pair):
        ap.error("give --work and --testdata, or --pair")
    cases = [pair_entry(orig, saved) for orig, saved in args.pair]
    if args.work:
        saved = sorted(glob.glob(os.path.join(args.work, "*__*.onnx")))
        cases += [case_entry(p, args.testdata) for p in saved]
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"cases": cases}, f)
    os.replace(tmp, args.out)
    skipped = sum(1 for c in cases if "skip" in c)
    print(f"pb_to_json: {len(cases)} cases, {len(cases) - skipped} with inputs, "
          f"{skipped} skipped -> {args.out}")
    return 0 if cases else 1


if __name__ == "__main__":
    sys.exit(main())
