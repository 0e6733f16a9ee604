#!/usr/bin/python3
"""valgrind memcheck on `supcon info` and `supcon run` over a sample of the
ONNX conformance cases (libonnx-testdata), one or two per op family: conv,
batch norm (inference and training mode), pooling, gemm/matmul,
elementwise, reductions, softmax and losses, shape ops, casts to strings.

Every case runs `supcon info MODEL` and `supcon run MODEL --in ... --out`
under memcheck with --error-exitcode, --leak-check=full and definite
leaks counted as errors; the test fails on any memcheck error, on any
non-zero exit and on a case that is missing.  valgrind 3.19 cannot
execute AVX-512, so oneDNN is capped with ONEDNN_MAX_CPU_ISA=AVX2 (supcon's
own code has no CPU dispatch and is not built with -march=native).

Usage: valgrind_check.py --supcon BIN --testdata DIR --work DIR [--jobs N]
                         [--valgrind PATH] [CASE ...]
"""
import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import time

CASES = [
    "node/test_conv_with_strides_padding",
    "pytorch-operator/test_operator_conv",
    "node/test_batchnorm_epsilon",
    "node/test_batchnorm_example_training_mode",
    "node/test_maxpool_2d_pads",
    "node/test_maxpool_with_argmax_2d_precomputed_pads",
    "node/test_averagepool_2d_strides",
    "node/test_globalaveragepool",
    "node/test_gemm_default_no_bias",
    "node/test_matmul_2d",
    "node/test_relu",
    "node/test_leakyrelu",
    "node/test_sigmoid",
    "node/test_tanh",
    "node/test_add_bcast",
    "node/test_mul",
    "node/test_div",
    "node/test_pow",
    "node/test_clip",
    "node/test_exp",
    "node/test_sqrt",
    "node/test_max_example",
    "node/test_sum_example",
    "node/test_where_example",
    "node/test_softmax_axis_1",
    "node/test_sce_mean",
    "node/test_reduce_mean_default_axes_keepdims_example",
    "node/test_reduce_sum_keepdims_example",
    "node/test_argmax_default_axis_example",
    "node/test_concat_2d_axis_0",
    "node/test_reshape_reduced_dims",
    "node/test_transpose_default",
    "node/test_flatten_axis1",
    "node/test_gather_0",
    "node/test_slice",
    "node/test_expand_dim_changed",
    "node/test_cast_FLOAT_to_STRING",
    "node/test_dropout_default",
]

VALGRIND_FLAGS = [
    "--error-exitcode=99", "--leak-check=full",
    "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite",
    "--track-origins=yes", "-q",
]


def graph_inputs(supcon, model, env):
    """Names of the inputs a caller feeds, in graph order."""
    out = subprocess.run([supcon, "info", model, "--json"], env=env,
                         capture_output=True, text=True, check=True).stdout
    return [i["name"] for i in json.loads(out)["inputs"]]


def memcheck(valgrind, args, env, log):
    """Runs args under memcheck; returns (ok, seconds, tail of the log)."""
    t0 = time.time()
    with open(log, "w") as f:
        rc = subprocess.run([valgrind] + VALGRIND_FLAGS + ["--log-fd=2"] + args,
                            env=env, stdout=subprocess.DEVNULL, stderr=f).returncode
    with open(log) as f:
        text = f.read()
    return rc, time.time() - t0, text


def check_case(case, a, env):
    d = os.path.join(a.testdata, case)
    model = os.path.join(d, "model.onnx")
    name = case.replace("/", "_")
    if not os.path.exists(model):
        return case, False, "missing: %s" % model
    rc, t_info, log = memcheck(a.valgrind, [a.supcon, "info", model], env,
                               os.path.join(a.work, name + ".info.log"))
    if rc != 0:
        return case, False, "supcon info exit %d\n%s" % (rc, log[-4000:])
    names = graph_inputs(a.supcon, model, env)
    ins = []
    for k, n in enumerate(names):
        pb = os.path.join(d, "test_data_set_0", "input_%d.pb" % k)
        ins += ["--in", "%s=%s" % (n, pb)]
    out = os.path.join(a.work, name)
    shutil.rmtree(out, ignore_errors=True)
    rc, t_run, log = memcheck(a.valgrind, [a.supcon, "run", model] + ins +
                              ["--threads", "1", "--out", out], env,
                              os.path.join(a.work, name + ".run.log"))
    if rc != 0:
        return case, False, "supcon run exit %d\n%s" % (rc, log[-4000:])
    return case, True, "info %.1fs, run %.1fs" % (t_info, t_run)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--supcon", required=True)
    p.add_argument("--testdata", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--valgrind", default=shutil.which("valgrind"))
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("cases", nargs="*")
    a = p.parse_args()
    if not a.valgrind:
        print("valgrind_check: valgrind not found; run tools/install-deps.sh")
        return 1
    os.makedirs(a.work, exist_ok=True)
    env = dict(os.environ, ONEDNN_MAX_CPU_ISA="AVX2", OMP_NUM_THREADS="1")
    cases = a.cases or CASES
    failed = 0
    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(a.jobs) as pool:
        for case, ok, what in pool.map(lambda c: check_case(c, a, env), cases):
            print("%-4s %-55s %s" % ("ok" if ok else "FAIL", case, what),
                  flush=True)
            failed += not ok
    print("valgrind_check: %d cases, %d clean, %d failed, %.0f s"
          % (len(cases), len(cases) - failed, failed, time.time() - t0))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
