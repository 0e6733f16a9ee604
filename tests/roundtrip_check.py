#!/usr/bin/python3
"""Judges the models test_roundtrip saved, with the onnx Python package.

test_roundtrip loads every official ONNX test model, saves it again with
onnx_save_file and leaves it as WORK/<suite>__<case>.onnx.  For each of those
files and its original TESTDATA/<suite>/<case>/model.onnx:

1. if onnx.checker.check_model(original, full_check=True) passes, the saved
   model must pass it too;
2. the saved model must say what the original says, read by onnx's own
   protobuf decoder: ir_version, opset imports, metadata, graph inputs,
   outputs and value_info with their types, initializers element for element
   (bitwise, whatever field the original stored them in), and nodes in order
   with every attribute, subgraphs included.  What supcon drops on purpose is
   left out of the comparison: model-local functions (inlined at load, so
   models that have them skip step 2), a dimension's denotation, the names
   and doc_strings of tensors inside attributes, and the difference between
   an empty and an absent string.

--pair ORIGINAL SAVED (repeatable) judges models saved elsewhere, such as
the torchvision exports, the same way.

Prints counts and exits 1 on any failure, 2 on bad usage.

    roundtrip_check.py (--work DIR --testdata ROOT | --pair ORIGINAL SAVED ...)
                       [--min-checked N]
"""
import argparse
import glob
import os
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper

ATTR = onnx.AttributeProto


class Mismatch(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Mismatch(what)


def array_key(tensor):
    """A tensor as (dtype, dims, content) comparing bit for bit."""
    arr = numpy_helper.to_array(tensor)
    if arr.dtype == object:
        content = tuple(x if isinstance(x, bytes) else str(x).encode()
                        for x in arr.ravel())
    else:
        content = np.ascontiguousarray(arr).tobytes()
    return (tensor.data_type, tuple(tensor.dims), content)


def type_key(tp):
    """A TypeProto as a tuple, without dimension denotations."""
    kind = tp.WhichOneof("value")
    den = tp.denotation
    if kind in ("tensor_type", "sparse_tensor_type"):
        t = getattr(tp, kind)
        shape = None
        if t.HasField("shape"):
            shape = tuple(
                ("v", d.dim_value) if d.HasField("dim_value") else
                ("p", d.dim_param) if d.HasField("dim_param") else ("?",)
                for d in t.shape.dim)
        return (kind, den, t.elem_type, shape)
    if kind in ("sequence_type", "optional_type"):
        t = getattr(tp, kind)
        inner = type_key(t.elem_type) if t.HasField("elem_type") else None
        return (kind, den, inner)
    if kind == "map_type":
        inner = type_key(tp.map_type.value_type) \
            if tp.map_type.HasField("value_type") else None
        return (kind, den, tp.map_type.key_type, inner)
    return (kind, den)


def value_info_key(vi):
    return (vi.name, vi.doc_string,
            type_key(vi.type) if vi.HasField("type") else None)


def attr_key(a):
    value = None
    if not a.ref_attr_name:
        if a.type == ATTR.TENSOR:
            value = array_key(a.t)
        elif a.type == ATTR.TENSORS:
            value = tuple(array_key(t) for t in a.tensors)
        elif a.type == ATTR.GRAPH:
            value = graph_key(a.g)
        elif a.type == ATTR.GRAPHS:
            value = tuple(graph_key(g) for g in a.graphs)
        elif a.type == ATTR.TYPE_PROTO:
            value = type_key(a.tp)
        elif a.type == ATTR.TYPE_PROTOS:
            value = tuple(type_key(t) for t in a.type_protos)
        elif a.type == ATTR.FLOAT:
            value = np.float32(a.f).tobytes()
        elif a.type == ATTR.FLOATS:
            value = np.asarray(a.floats, dtype=np.float32).tobytes()
        else:
            value = helper.get_attribute_value(a)
            if isinstance(value, list):
                value = tuple(value)
    return (a.name, a.type, a.doc_string, a.ref_attr_name, value)


def node_key(n):
    return (n.op_type, n.domain, n.name, n.doc_string, tuple(n.input),
            tuple(n.output), tuple(attr_key(a) for a in n.attribute))


def graph_key(g):
    return {
        "name": g.name,
        "doc_string": g.doc_string,
        "input": [value_info_key(v) for v in g.input],
        "output": [value_info_key(v) for v in g.output],
        "value_info": [value_info_key(v) for v in g.value_info],
        "initializer": [(t.name, t.doc_string, array_key(t))
                        for t in g.initializer],
        "node": [node_key(n) for n in g.node],
    }


PARTS = {
    "node": ("op_type", "domain", "name", "doc_string", "inputs", "outputs",
             "attributes"),
    "initializer": ("name", "doc_string", "content"),
    "value_info": ("name", "doc_string", "type"),
}


def describe(field, x, y):
    """Names the first part of two differing entries that differs."""
    parts = PARTS.get(field, PARTS["value_info"])
    label = f"{x[2]!r} ({x[0]})" if field == "node" else repr(x[0])
    for name, px, py in zip(parts, x, y):
        if px != py:
            if name == "attributes" and len(px) == len(py):
                for ax, ay in zip(px, py):
                    if ax != ay:
                        return f"{label}: attribute {ax[0]!r} differs"
            shown = "" if name in ("content", "attributes") else \
                f": {str(px)[:150]} vs {str(py)[:150]}"
            return f"{label}: {name} differs{shown}"
    return f"{label} differs"


def compare_graphs(a, b, where):
    ka, kb = graph_key(a), graph_key(b)
    for field in ka:
        if ka[field] == kb[field]:
            continue
        la, lb = ka[field], kb[field]
        if isinstance(la, list):
            expect(len(la) == len(lb),
                   f"{where}: {field} count {len(la)} vs {len(lb)}")
            for i, (x, y) in enumerate(zip(la, lb)):
                if x != y:
                    raise Mismatch(f"{where}: {field} {i} {describe(field, x, y)}")
        raise Mismatch(f"{where}: graph {field} differs: {la!r} vs {lb!r}")


def compare_models(orig, saved):
    expect(orig.ir_version == saved.ir_version,
           f"ir_version {orig.ir_version} vs {saved.ir_version}")
    ops_a = [(o.domain, o.version) for o in orig.opset_import]
    ops_b = [(o.domain, o.version) for o in saved.opset_import]
    expect(ops_a == ops_b, f"opset_import {ops_a} vs {ops_b}")
    for field in ("producer_name", "producer_version", "domain",
                  "model_version", "doc_string"):
        expect(getattr(orig, field) == getattr(saved, field),
               f"{field} {getattr(orig, field)!r} vs {getattr(saved, field)!r}")
    meta_a = [(p.key, p.value) for p in orig.metadata_props]
    meta_b = [(p.key, p.value) for p in saved.metadata_props]
    expect(meta_a == meta_b, f"metadata_props {meta_a} vs {meta_b}")
    expect(not saved.functions, "saved model still has functions")
    expect(not saved.graph.sparse_initializer, "saved sparse initializers")
    compare_graphs(orig.graph, saved.graph, f"graph {orig.graph.name!r}")


def passes_checker(model):
    try:
        onnx.checker.check_model(model, full_check=True)
        return None
    except Exception as e:  # the checker raises several exception types
        return str(e).strip().splitlines()[0] if str(e).strip() else repr(e)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", help="folder holding <suite>__<case>.onnx")
    ap.add_argument("--testdata", help="root of the ONNX backend test data")
    ap.add_argument("--pair", nargs=2, action="append", default=[],
                    metavar=("ORIGINAL", "SAVED"))
    ap.add_argument("--min-checked", type=int, default=1,
                    help="fail unless at least this many saved models exist")
    args = ap.parse_args()
    if bool(args.work) != bool(args.testdata) or not (args.work or args.pair):
        ap.error("give --work and --testdata, or --pair")

    pairs = [(orig, saved, os.path.basename(saved)) for orig, saved in args.pair]
    if args.work:
        for saved_path in sorted(glob.glob(os.path.join(args.work, "*__*.onnx"))):
            base = os.path.basename(saved_path)[:-len(".onnx")]
            suite, case = base.split("__", 1)
            pairs.append((os.path.join(args.testdata, suite, case, "model.onnx"),
                          saved_path, base))
    counts = dict(saved=0, checker_ok=0, original_fails_checker=0, compared=0,
                  has_functions=0, failed=0)
    failures = []
    for orig_path, saved_path, base in pairs:
        counts["saved"] += 1
        try:
            orig = onnx.load(orig_path)
            saved = onnx.load(saved_path)
        except Exception as e:
            failures.append(f"{base}: cannot load: {e}")
            continue
        problems = []
        orig_err = passes_checker(orig)
        if orig_err is not None:
            counts["original_fails_checker"] += 1
        else:
            saved_err = passes_checker(saved)
            if saved_err is None:
                counts["checker_ok"] += 1
            else:
                problems.append(f"checker refuses the saved model: {saved_err}")
        if orig.functions:
            counts["has_functions"] += 1
        else:
            try:
                compare_models(orig, saved)
                counts["compared"] += 1
            except Mismatch as e:
                problems.append(f"differs from the original: {e}")
        if problems:
            failures.append(f"{base}: " + "; ".join(problems))

    for f in failures:
        print("FAIL " + f[:600])
    counts["failed"] = len(failures)
    print("roundtrip_check: " + "  ".join(f"{k} {v}" for k, v in counts.items()))
    if counts["saved"] < args.min_checked:
        print(f"roundtrip_check: only {counts['saved']} saved models, "
              f"expected at least {args.min_checked} (did test_roundtrip run?)")
        return 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
