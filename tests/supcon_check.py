#!/usr/bin/python3
"""supcon_check.py: the onnx package's judgement of the SupConLoss models
that test_supcon_loss wrote (cases.json, see tests/supcon_ort.js).

For each model: onnx.checker.check_model(full_check=True) passes, which
checks the attached FunctionProto body against the operator schemas at the
model's opset; and onnx's shape inference, strict, infers through the body
an output of the dtype and shape our fused kernel produced.

    supcon_check.py --cases DIR/cases.json [--min-cases N]

Exits 1 on any failure, 2 on bad usage."""
import argparse
import json
import sys

import onnx


def check(case):
    model = onnx.load(case["model"])
    onnx.checker.check_model(model, full_check=True)
    if not any(f.domain == "ai.supcon" and f.name == "SupConLoss"
               for f in model.functions):
        return "no ai.supcon SupConLoss function attached"
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    t = inferred.graph.output[0].type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
    if t.elem_type != onnx.TensorProto.FLOAT or dims != case["expected"]["dims"]:
        return (f"inferred output {onnx.TensorProto.DataType.Name(t.elem_type)}"
                f"{dims}, expected FLOAT{case['expected']['dims']}")
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", required=True)
    ap.add_argument("--min-cases", type=int, default=1)
    args = ap.parse_args()
    try:
        with open(args.cases) as f:
            cases = json.load(f)["cases"]
    except (OSError, ValueError, KeyError) as e:
        print(f"supcon_check.py: {args.cases}: {e} (does test_supcon_loss run first?)")
        return 1
    failed = 0
    for case in cases:
        try:
            why = check(case)
        except Exception as e:  # the checker's own exceptions vary by version
            why = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"{'FAIL' if why else 'ok  '} {case['name']}{': ' + why if why else ''}")
        failed += why is not None
    print(f"onnx {onnx.__version__}: {len(cases) - failed} of {len(cases)} SupConLoss models pass")
    if len(cases) < args.min_cases:
        print(f"supcon_check.py: only {len(cases)} cases, expected at least {args.min_cases}")
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
