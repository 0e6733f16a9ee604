#!/usr/bin/python3
"""Crash safety of `supcon train`: SIGKILL at random moments, then --resume.

  1. A reference run, never interrupted.
  2. The same run killed with SIGKILL at random moments (uniform over the
     first part of a run's length, so kills land in start-up, in steps, in
     checkpoint writes and in epoch ends), --resume'd after each kill,
     KILLS times in all, then resumed to the end.  The first launch is
     already a --resume, on a run directory that does not exist yet, which
     must start from the beginning.  A launch that finishes before its kill
     is a completed run too; the kills go on in a new run directory.
     Every completed run must end with exactly the reference's weights:
     model.onnx byte for byte, and every tensor of RUNDIR/checkpoint.
  3. A corrupted (one byte flipped) and a truncated RUNDIR/checkpoint are
     refused by --resume: exit status 2, one line on stderr naming the
     checkpoint, and the damaged file left as it was.

Only the standard library; the checkpoint format is runtime/checkpoint.h.
Usage: kill_resume.py --supcon BIN --work DIR [--kills N] [--seed S]
"""
import argparse
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib

TRAIN = ["train", "--data", "synthetic:1x16x16:4", "--limit", "256",
         "--width", "4", "--batch", "32", "--epochs", "3",
         "--checkpoint-every", "2", "--deterministic", "--threads", "1",
         "--seed", "5"]


def read_checkpoint(path):
    """{name: (dtype, dims, bytes)} of a checkpoint, after checking it."""
    with open(path, "rb") as f:
        b = f.read()
    assert b[:8] == b"SCCKPT01" and b[-4:] == b"END!", path
    body = len(b) - 8
    assert zlib.crc32(b[:body]) & 0xffffffff == struct.unpack("<I", b[body:body + 4])[0]
    pos = 8
    (meta_len,) = struct.unpack_from("<Q", b, pos)
    pos += 8 + meta_len
    (n,) = struct.unpack_from("<I", b, pos)
    pos += 4
    out = {}
    for _ in range(n):
        (nl,) = struct.unpack_from("<I", b, pos)
        pos += 4
        name = b[pos:pos + nl].decode()
        pos += nl
        dtype, rank = struct.unpack_from("<II", b, pos)
        pos += 8
        dims = struct.unpack_from("<%dQ" % rank, b, pos)
        pos += 8 * rank
        (nbytes,) = struct.unpack_from("<Q", b, pos)
        pos += 8
        out[name] = (dtype, dims, b[pos:pos + nbytes])
        pos += nbytes
    assert pos == body, path
    return out


def same_weights(run, ref):
    """'' when run ends exactly like ref, else what differs."""
    with open(os.path.join(run, "model.onnx"), "rb") as f:
        a = f.read()
    with open(os.path.join(ref, "model.onnx"), "rb") as f:
        b = f.read()
    if a != b:
        return "model.onnx differs from the reference's"
    ca = read_checkpoint(os.path.join(run, "checkpoint"))
    cb = read_checkpoint(os.path.join(ref, "checkpoint"))
    if ca.keys() != cb.keys():
        return "checkpoint tensors differ: %s" % sorted(set(ca) ^ set(cb))[:5]
    for k in ca:
        if ca[k] != cb[k]:
            return "checkpoint tensor %s differs" % k
    return ""


def launch(supcon, rundir, log):
    return subprocess.Popen([supcon] + TRAIN + ["--out", rundir, "--resume"],
                            stdout=log, stderr=subprocess.STDOUT)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--supcon", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--seed", type=int, default=None)
    a = p.parse_args()
    seed = a.seed if a.seed is not None else int(time.time())
    rng = random.Random(seed)
    print("kill_resume: seed %d (--seed %d repeats these kill times)" % (seed, seed))
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    log = open(os.path.join(a.work, "train.log"), "w")
    failures = []

    # 1. the reference
    ref = os.path.join(a.work, "ref")
    t0 = time.time()
    rc = subprocess.run([a.supcon] + TRAIN + ["--out", ref], stdout=log,
                        stderr=subprocess.STDOUT).returncode
    length = time.time() - t0
    if rc != 0:
        print("kill_resume: the reference run failed (exit %d); see %s/train.log"
              % (rc, a.work))
        return 1
    print("kill_resume: reference run %.2f s" % length)

    # 2. kills and resumes
    kills = 0
    completed = []
    run_index = 0
    rundir = os.path.join(a.work, "run%d" % run_index)
    while kills < a.kills:
        delay = rng.uniform(0.02, 0.6 * length)
        proc = launch(a.supcon, rundir, log)
        try:
            rc = proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            has = os.path.exists(os.path.join(rundir, "checkpoint"))
            print("  kill %2d after %.2f s (%s)" % (kills, delay,
                  "checkpoint kept" if has else "no checkpoint yet"), flush=True)
            continue
        if rc != 0:
            failures.append("%s: a resumed run exited with %d" % (rundir, rc))
            break
        completed.append(rundir)
        run_index += 1
        rundir = os.path.join(a.work, "run%d" % run_index)
    if not failures:
        rc = launch(a.supcon, rundir, log).wait()
        if rc != 0:
            failures.append("%s: the last resume exited with %d" % (rundir, rc))
        else:
            completed.append(rundir)
    for run in completed:
        why = same_weights(run, ref)
        print("  %-6s %s" % (os.path.basename(run), why or "same weights as the reference"))
        if why:
            failures.append("%s: %s" % (run, why))

    # 3. damaged checkpoints
    good = read_checkpoint(os.path.join(ref, "checkpoint"))
    assert good
    for damage in ("corrupted", "truncated"):
        run = os.path.join(a.work, damage)
        shutil.copytree(ref, run)
        path = os.path.join(run, "checkpoint")
        with open(path, "rb") as f:
            data = bytearray(f.read())
        if damage == "corrupted":
            data[len(data) // 2] ^= 0x40
        else:
            data = data[:len(data) // 2]
        with open(path, "wb") as f:
            f.write(data)
        r = subprocess.run([a.supcon] + TRAIN + ["--out", run, "--resume",
                            "--epochs", "4"], capture_output=True, text=True)
        lines = r.stderr.strip().splitlines()
        with open(path, "rb") as f:
            unchanged = f.read() == bytes(data)
        ok = (r.returncode == 2 and len(lines) == 1 and "checkpoint" in lines[0]
              and run in lines[0] and unchanged)
        print("  %-9s checkpoint: exit %d, %s" % (damage, r.returncode,
              lines[0] if lines else "nothing on stderr"))
        if not ok:
            failures.append("%s checkpoint: expected exit 2 and one line naming "
                            "%s/checkpoint, the file untouched; got exit %d, "
                            "stderr %r" % (damage, run, r.returncode, r.stderr[-500:]))

    print("kill_resume: %d kills, %d completed runs, %d failures"
          % (kills, len(completed), len(failures)))
    for f in failures:
        print("FAIL " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
