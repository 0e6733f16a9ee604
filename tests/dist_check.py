#!/usr/bin/python3
"""dist_check.py: data-parallel `supcon train` against the single process.

With the same global batch and seed, `mpirun -np 2 supcon train --sync-bn`
must give the weights one process gives after N steps (relative error of
all weights <= 1e-4), also when the run moves between 2 ranks and 1
process through --resume.  The references are independent runs of the
single process; the numbers are read from the model.onnx files with onnx
and numpy.

What makes the comparison meaningful:
  - the tolerance is checked against the floating-point noise floor of
    the problem itself: the single process with 2 threads instead of 1
    sums in another order, and the distributed run may differ from the
    1-thread run by no more than a few times that;
  - the test can fail: without --sync-bn, BatchNormalization normalises
    each rank's half of the batch with its own statistics, and the
    weights must then differ by far more than the tolerance (this is the
    check that the synchronised statistics are what makes the two agree);
  - the first step's loss, computed by every rank over the gathered
    global batch, must equal the single process's.

Also: config.json records world_size; --batch not divisible by the ranks
is refused with exit status 2 and one line; a rank killed with SIGKILL
ends the whole job with a non-zero status within 60 s; a rank that stops
(SIGSTOP) is noticed by the others' watchdog (--dist-timeout).

Usage: dist_check.py --supcon BIN --mpirun MPIRUN --work DIR
Exit status 0 when every check passes; each failure prints one line.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import onnx
from onnx import numpy_helper

TOL = 1e-4
# a small SupCon run: 2 steps of a width-8 ResNet-18 on 461 images
BASE = ["train", "--width", "8", "--limit", "512", "--batch", "64",
        "--epochs", "1", "--lr", "0.01", "--threads", "1", "--workers", "0",
        "--seed", "3"]
STEPS = 2

failures = []


def check(ok, msg):
    print(("ok    " if ok else "FAIL  ") + msg, flush=True)
    if not ok:
        failures.append(msg)


def run(cmd, expect=0, timeout=300):
    t0 = time.time()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=timeout)
    if expect is not None and p.returncode != expect:
        sys.stderr.write(p.stdout[-2000:] + p.stderr[-2000:])
        raise SystemExit("FAIL  %s exited %d, expected %d" %
                         (" ".join(cmd), p.returncode, expect))
    return p, time.time() - t0


def weights(d):
    m = onnx.load(os.path.join(d, "model.onnx"))
    return {t.name: numpy_helper.to_array(t).astype(np.float64)
            for t in m.graph.initializer}


def rel_err(a_dir, b_dir):
    """||a - b|| / ||a|| over every float initializer (parameters and BN
    running statistics), and the tensor with the largest share."""
    a, b = weights(a_dir), weights(b_dir)
    if a.keys() != b.keys():
        raise SystemExit("FAIL  %s and %s hold different tensors" % (a_dir, b_dir))
    num = sum(float(((a[k] - b[k]) ** 2).sum()) for k in a)
    den = sum(float((a[k] ** 2).sum()) for k in a)
    worst = max(a, key=lambda k: float(((a[k] - b[k]) ** 2).sum()))
    return (num / den) ** 0.5, worst


def metric_loss(d):
    with open(os.path.join(d, "metrics.json")) as f:
        return json.load(f)["epochs"][0]["loss"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--supcon", required=True)
    ap.add_argument("--mpirun", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--skip-faults", action="store_true")
    a = ap.parse_args()
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    w = lambda name: os.path.join(a.work, name)
    sc = [a.supcon]
    mpi = [a.mpirun, "--allow-run-as-root", "--oversubscribe", "-np", "2",
           a.supcon]
    steps = ["--steps", str(STEPS)]

    # references: one process, 1 and 2 threads
    _, t1 = run(sc + BASE + steps + ["--out", w("one")])
    two_threads = BASE[:]
    two_threads[two_threads.index("--threads") + 1] = "2"
    run(sc + two_threads + steps + ["--out", w("one_2threads")])
    noise, _ = rel_err(w("one"), w("one_2threads"))

    # 2 ranks, with and without synchronised batch norm
    _, t2 = run(mpi + BASE + steps + ["--sync-bn", "--out", w("two_sync")])
    run(mpi + BASE + steps + ["--out", w("two_local")])
    err, worst = rel_err(w("one"), w("two_sync"))
    err_local, _ = rel_err(w("one"), w("two_local"))
    print("single process %.1fs, 2 ranks %.1fs; float noise floor (1 vs 2 "
          "threads) %.2e" % (t1, t2, noise))
    check(err <= TOL, "2 ranks --sync-bn vs 1 process after %d steps: relative "
          "error %.2e <= %.0e (largest in %s)" % (STEPS, err, TOL, worst))
    check(err <= 4 * noise + 1e-7, "2 ranks --sync-bn differ no more than the "
          "float noise floor allows: %.2e <= 4 x %.2e" % (err, noise))
    check(err_local > 10 * err and err_local > TOL,
          "without --sync-bn (per-rank BN) the weights differ: %.2e > 10 x "
          "%.2e and > %.0e" % (err_local, err, TOL))
    l1, l2 = metric_loss(w("one")), metric_loss(w("two_sync"))
    check(abs(l1 - l2) <= 1e-4 * abs(l1), "mean loss of the epoch: 1 process "
          "%.6f, 2 ranks %.6f" % (l1, l2))
    with open(w("two_sync/config.json")) as f:
        cfg = json.load(f)
    check(cfg.get("world_size") == 2 and cfg.get("sync-bn") is True,
          "config.json records world_size %s, sync-bn %s" %
          (cfg.get("world_size"), cfg.get("sync-bn")))

    # resume across world sizes: 2 ranks then 1 process, and back
    run(mpi + BASE + ["--steps", "1", "--sync-bn", "--out", w("k2_k1")])
    run(sc + BASE + steps + ["--sync-bn", "--resume", "--out", w("k2_k1")])
    e21, _ = rel_err(w("one"), w("k2_k1"))
    check(e21 <= TOL, "1 step on 2 ranks, --resume 1 more in 1 process: "
          "relative error %.2e" % e21)
    with open(w("k2_k1/config.json")) as f:
        check(json.load(f).get("world_size") == 1,
              "a run resumed in 1 process records world_size 1")
    run(sc + BASE + ["--steps", "1", "--sync-bn", "--out", w("k1_k2")])
    run(mpi + BASE + steps + ["--sync-bn", "--resume", "--out", w("k1_k2")])
    e12, _ = rel_err(w("one"), w("k1_k2"))
    check(e12 <= TOL, "1 step in 1 process, --resume 1 more on 2 ranks: "
          "relative error %.2e" % e12)

    # the global batch must split evenly
    bad = BASE[:]
    bad[bad.index("--batch") + 1] = "63"
    p, _ = run(mpi + bad + ["--steps", "1", "--out", w("odd")], expect=None)
    lines = [l for l in p.stderr.splitlines() if l.startswith("supcon train:")]
    check(p.returncode == 2 and lines and "not divisible" in lines[0],
          "--batch 63 on 2 ranks: exit %d, %r" % (p.returncode,
                                                  lines[0] if lines else p.stderr[-200:]))

    if not a.skip_faults:
        fault_kill(a, mpi, w("killed"))
        fault_stop(a, mpi, w("stopped"))
    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    print("all checks passed")
    return 0


def rank_pids(marker):
    """pid of each rank whose command line holds marker, by rank."""
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().split(b"\0")
            if marker.encode() not in cmd or b"train" not in cmd:
                continue
            with open("/proc/%s/environ" % pid, "rb") as f:
                env = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0")
                           if b"=" in kv)
        except OSError:
            continue
        r = env.get(b"OMPI_COMM_WORLD_RANK")
        if r is not None:
            out[int(r)] = int(pid)
    return out


def start_long(mpi, out, extra):
    """A run long enough to be interrupted, once both ranks train."""
    cmd = mpi + BASE + ["--epochs", "200", "--checkpoint-every", "1",
                        "--out", out] + extra
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
    deadline = time.time() + 60
    while time.time() < deadline and p.poll() is None:
        if os.path.exists(os.path.join(out, "checkpoint")):
            pids = rank_pids(out)
            if len(pids) == 2:
                return p, pids
        time.sleep(0.1)
    p.kill()
    raise SystemExit("FAIL  the long run did not start training (%s)" %
                     p.stderr.read()[-500:])


def wait_end(p, limit):
    t0 = time.time()
    try:
        p.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return None, time.time() - t0, p.stderr.read()
    return p.returncode, time.time() - t0, p.stderr.read()


def fault_kill(a, mpi, out):
    p, pids = start_long(mpi, out, [])
    os.kill(pids[1], signal.SIGKILL)
    rc, dt, err = wait_end(p, 60)
    check(rc is not None and rc != 0, "rank 1 killed (SIGKILL): mpirun ends "
          "the job with status %s after %.1fs" % (rc, dt))
    check("rank 1" in err or "signal 9" in err, "and says which rank died: %r" %
          [l for l in err.splitlines() if "rank" in l][:1])


def fault_stop(a, mpi, out):
    p, pids = start_long(mpi, out, ["--dist-timeout", "3"])
    os.kill(pids[1], signal.SIGSTOP)
    try:
        rc, dt, err = wait_end(p, 60)
    finally:
        for pid in pids.values():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    msg = [l for l in err.splitlines() if "waited" in l]
    check(rc is not None and rc != 0 and msg, "rank 1 stopped (SIGSTOP): the "
          "watchdog of rank 0 ends the job with status %s after %.1fs: %r" %
          (rc, dt, msg[:1]))


if __name__ == "__main__":
    sys.exit(main())
