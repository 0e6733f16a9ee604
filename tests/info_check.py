#!/usr/bin/python3
"""Checks `supcon info --json` against the onnx Python package.

For every model given, the facts `supcon info` prints (ir_version, opsets,
inputs without initializers, outputs with dtype and shape, node count, op
histogram, initializer_elements) are computed again from the protobuf with
the onnx package and compared field by field.

Models the loader refuses as unsupported (exit 2 and "unsupported" in its one
line) are counted and listed; any other failure or difference fails the run.

    info_check.py --supcon BIN [--resnet50 FILE] [--model FILE ...]
                  [--testdata ROOT] [--jobs N]

--resnet50 FILE must be make_torchvision.py's default export: on top of the
comparison it must report 25610152 initializer elements and an input of
shape ["N", 3, 224, 224].  --testdata ROOT checks every model.onnx under
ROOT/{node,pytorch-converted,pytorch-operator,simple}.
"""
import argparse
import collections
import concurrent.futures
import glob
import json
import os
import subprocess
import sys

import onnx
from onnx import shape_inference

TESTDATA_SUITES = ("node", "pytorch-converted", "pytorch-operator", "simple")

# Our dtype spelling (runtime/tensor.c) by TensorProto.DataType number.
DTYPE_NAMES = {
    1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32",
    7: "int64", 8: "string", 9: "bool", 10: "float16", 11: "float64",
    12: "uint32", 13: "uint64", 14: "complex64", 15: "complex128",
    16: "bfloat16",
}
FLOAT_DTYPES = {1, 10, 11, 16}
RESNET50_ELEMENTS = 25610152


def elem_name(elem):
    return DTYPE_NAMES.get(elem)


def type_name(tp):
    """Mirror of cmd_info.c's type_name(): None when nothing is known."""
    which = tp.WhichOneof("value")
    if which == "tensor_type":
        return elem_name(tp.tensor_type.elem_type)
    if which == "sparse_tensor_type":
        return "sparse_tensor(%s)" % (elem_name(tp.sparse_tensor_type.elem_type) or "?")
    if which in ("sequence_type", "optional_type"):
        inner = getattr(tp, which)
        name = type_name(inner.elem_type) if inner.HasField("elem_type") else None
        return "%s(%s)" % (which[:-5], name or "?")
    if which == "map_type":
        mt = tp.map_type
        value = type_name(mt.value_type) if mt.HasField("value_type") else None
        return "map(%s,%s)" % (elem_name(mt.key_type) or "?", value or "?")
    return None


def shape_of(tp):
    which = tp.WhichOneof("value")
    if which not in ("tensor_type", "sparse_tensor_type"):
        return None
    tt = getattr(tp, which)
    if not tt.HasField("shape"):
        return None
    dims = []
    for d in tt.shape.dim:
        if d.HasField("dim_value") and d.dim_value >= 0:
            dims.append(d.dim_value)
        elif d.HasField("dim_param") and d.dim_param:
            dims.append(d.dim_param)
        else:
            dims.append(None)
    return dims


def value_facts(vi):
    return {"name": vi.name, "dtype": type_name(vi.type), "shape": shape_of(vi.type)}


def op_key(domain, op_type):
    if domain in ("", "ai.onnx"):
        return op_type
    return "%s:%s" % (domain, op_type)


def count_nodes(nodes, functions, ops, depth=0):
    """Counts nodes as the loader sees them: calls to model-local functions
    are replaced by their (recursively counted) bodies."""
    n = 0
    for node in nodes:
        fn = functions.get((node.domain, node.op_type))
        if fn is not None and depth < 32:
            n += count_nodes(fn.node, functions, ops, depth + 1)
            continue
        n += 1
        ops[op_key(node.domain, node.op_type)] += 1
    return n


def reference_facts(path):
    model = onnx.load(path, load_external_data=False)
    g = model.graph
    init_names = {t.name for t in g.initializer}
    functions = {(f.domain, f.name): f for f in model.functions}
    ops = collections.Counter()
    nodes = count_nodes(g.node, functions, ops)
    elements = 0
    for t in g.initializer:
        if t.data_type in FLOAT_DTYPES:
            n = 1
            for d in t.dims:
                n *= d
            elements += n
    return model, {
        "ir_version": model.ir_version,
        "opsets": {imp.domain: imp.version for imp in model.opset_import},
        "inputs": [value_facts(vi) for vi in g.input if vi.name not in init_names],
        "outputs": [value_facts(vi) for vi in g.output],
        "nodes": nodes,
        "ops": dict(ops),
        "initializer_elements": elements,
    }


def inferred_outputs(model):
    """onnx's own shape inference for the graph outputs, {} when it fails."""
    try:
        inferred = shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - a reference that cannot infer says nothing
        return {}
    known = {vi.name: vi for vi in inferred.graph.value_info}
    for vi in inferred.graph.output:
        known[vi.name] = vi
    return {name: value_facts(vi) for name, vi in known.items()}


def compare_output(ref, got, inferred):
    """The file's declarations must be kept exactly; where the file leaves a
    dtype, shape or dim unknown supcon may fill it in from shape inference,
    and then it must agree with onnx's inference wherever that knows."""
    problems = []
    name = ref["name"]
    if got.get("name") != name:
        return ["output name %r, expected %r" % (got.get("name"), name)]
    inf = inferred.get(name, {})
    if ref["dtype"] is not None:
        if got.get("dtype") != ref["dtype"]:
            problems.append("output %r dtype %r, file says %r" % (name, got.get("dtype"), ref["dtype"]))
    elif got.get("dtype") is not None and inf.get("dtype") not in (None, got.get("dtype")):
        problems.append("output %r inferred dtype %r, onnx infers %r" % (name, got.get("dtype"), inf.get("dtype")))
    rs, gs = ref["shape"], got.get("shape")
    if rs is not None:
        if gs is None or len(gs) != len(rs):
            return problems + ["output %r shape %r, file says %r" % (name, gs, rs)]
        for i, (r, x) in enumerate(zip(rs, gs)):
            if r is not None and r != x:
                problems.append("output %r dim %d is %r, file says %r" % (name, i, x, r))
            elif r is None and isinstance(x, int):
                ins = inf.get("shape")
                if ins and len(ins) == len(rs) and isinstance(ins[i], int) and ins[i] != x:
                    problems.append("output %r dim %d inferred %r, onnx infers %r" % (name, i, x, ins[i]))
    elif gs is not None:
        ins = inf.get("shape")
        if ins is not None:
            if len(ins) != len(gs):
                problems.append("output %r inferred rank %d, onnx infers %d" % (name, len(gs), len(ins)))
            else:
                for i, (r, x) in enumerate(zip(ins, gs)):
                    if isinstance(r, int) and isinstance(x, int) and r != x:
                        problems.append("output %r dim %d inferred %r, onnx infers %r" % (name, i, x, r))
    return problems


def compare(ref, got, model):
    problems = []
    for key in ("ir_version", "opsets", "inputs", "nodes", "ops", "initializer_elements"):
        if got.get(key) != ref[key]:
            problems.append("%s: supcon %s, onnx %s" % (
                key, json.dumps(got.get(key))[:300], json.dumps(ref[key])[:300]))
    outs = got.get("outputs")
    if not isinstance(outs, list) or len(outs) != len(ref["outputs"]):
        problems.append("outputs: supcon %s, onnx %s" % (json.dumps(outs)[:300], json.dumps(ref["outputs"])[:300]))
    else:
        inferred = None
        for r, o in zip(ref["outputs"], outs):
            if o != r and inferred is None:
                inferred = inferred_outputs(model)
            if o != r:
                problems += compare_output(r, o, inferred)
    extra = set(got) - set(ref)
    if extra:
        problems.append("unexpected keys %s" % sorted(extra))
    return problems


def run_info(supcon, path):
    p = subprocess.run([supcon, "info", "--json", path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=300)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def check_model(supcon, path, extra=None):
    """Returns ("ok" | "unsupported" | "fail", detail)."""
    rc, out, err = run_info(supcon, path)
    if rc != 0:
        lines = err.splitlines()
        if rc < 0:
            return "fail", "killed by signal %d" % -rc
        if len(lines) != 1:
            return "fail", "exit %d with %d stderr lines: %r" % (rc, len(lines), err[:500])
        if rc == 2 and "unsupported" in lines[0].lower():
            return "unsupported", lines[0]
        return "fail", "exit %d: %s" % (rc, lines[0])
    if err:
        return "fail", "exit 0 but stderr: %r" % err[:300]
    try:
        got = json.loads(out)
    except ValueError as e:
        return "fail", "output is not one JSON object (%s): %r" % (e, out[:300])
    if out.count("\n") != 1:
        return "fail", "expected one line of JSON, got %d" % out.count("\n")
    model, ref = reference_facts(path)
    problems = compare(ref, got, model)
    if extra:
        problems += extra(got)
    if problems:
        return "fail", "; ".join(problems)
    return "ok", ""


def resnet50_checks(got):
    problems = []
    if got.get("initializer_elements") != RESNET50_ELEMENTS:
        problems.append("initializer_elements %r, expected %d" % (got.get("initializer_elements"), RESNET50_ELEMENTS))
    ins = got.get("inputs") or [{}]
    if len(ins) != 1 or ins[0].get("shape") != ["N", 3, 224, 224] or ins[0].get("dtype") != "float32":
        problems.append("inputs %r, expected one float32 [\"N\", 3, 224, 224]" % ins)
    if got.get("ops", {}).get("BatchNormalization") != 53 or got.get("ops", {}).get("Conv") != 53:
        problems.append("expected 53 Conv and 53 BatchNormalization, got %r" % got.get("ops"))
    return problems


def testdata_models(root):
    found = []
    for suite in TESTDATA_SUITES:
        found += sorted(glob.glob(os.path.join(root, suite, "*", "model.onnx")))
    return found


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--supcon", required=True)
    ap.add_argument("--resnet50")
    ap.add_argument("--model", action="append", default=[])
    ap.add_argument("--testdata")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--min-ok", type=float, default=0.9,
                    help="fraction of the test-data models that must load and match")
    args = ap.parse_args()

    jobs = []
    if args.resnet50:
        jobs.append((args.resnet50, resnet50_checks))
    jobs += [(m, None) for m in args.model]
    # what real exporters write must load; only test-data models may be unsupported
    must_load = {path for path, _ in jobs}
    if args.testdata:
        models = testdata_models(args.testdata)
        if len(models) < 100:
            sys.exit("info_check: only %d models under %s" % (len(models), args.testdata))
        jobs += [(m, None) for m in models]
    if not jobs:
        sys.exit("info_check: nothing to check")

    results = collections.Counter()
    failures, unsupported = [], []
    with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
        futures = [pool.submit(check_model, args.supcon, path, extra) for path, extra in jobs]
        for (path, _), fut in zip(jobs, futures):
            try:
                status, detail = fut.result()
            except Exception as e:  # noqa: BLE001 - report, do not hide
                status, detail = "fail", "checker error: %r" % e
            if status == "unsupported" and path in must_load:
                status = "fail"
                detail = "refused: " + detail
            results[status] += 1
            if status == "fail":
                failures.append((path, detail))
            elif status == "unsupported":
                unsupported.append((path, detail))

    for path, detail in unsupported:
        print("unsupported: %s: %s" % (path, detail))
    for path, detail in failures:
        print("MISMATCH: %s: %s" % (path, detail))
    print("info_check: %d models, %d match, %d unsupported, %d mismatched" % (
        len(jobs), results["ok"], results["unsupported"], results["fail"]))
    n_testdata = len(jobs) - len(must_load)
    ok_testdata = results["ok"] - (len(must_load) - sum(1 for p, _ in failures if p in must_load))
    if n_testdata and ok_testdata < args.min_ok * n_testdata:
        print("info_check: only %d of %d test-data models load and match (need %.0f%%)" % (
            ok_testdata, n_testdata, 100 * args.min_ok))
        sys.exit(1)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
