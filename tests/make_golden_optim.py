#!/usr/bin/python3
"""make_golden_optim.py: golden data for runtime/optim.c, from torch.optim.

Writes two small text files that tests/test_optim.c reads:

  tests/data/optim/optimizers.txt
    A fixed set of float32 parameters named like a tiny network (conv, BN,
    fc), a fixed sequence of gradients (one parameter has no gradient at
    one step, which torch.optim skips), and for each optimizer case the
    configuration, its parameter groups and every parameter after every
    step, as torch.optim computes them (single-tensor code paths,
    foreach=False).

  tests/data/optim/schedules.txt
    For each LR schedule case, the spec string that optim_schedule_parse()
    reads and the learning rate torch.optim.lr_scheduler gives at steps
    0..N-1 (the optimizer's lr after t calls of scheduler.step()).

Run with Debian's interpreter:  /usr/bin/python3 tests/make_golden_optim.py
The output is deterministic; commit it together with this script.

Format (whitespace-separated tokens, '#' starts a comment line):
  param NAME RANK DIMS...        a parameter and its shape
  init NAME VALUES...            its initial value
  grad STEP NAME VALUES...|none  its gradient at step STEP (0-based)
  case NAME                      starts an optimizer case
  set KEY VALUE                  one optim_config field (kind is a name)
  group INDEX LR_SCALE WEIGHT_DECAY
  member NAME GROUP              which group a parameter belongs to
  lr STEP VALUE                  the scheduled lr passed to that step
  expect STEP NAME VALUES...     the parameter after step STEP
  end
  schedule NAME SPEC BASE_LR COUNT VALUES...
"""
import math
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data", "optim")
STEPS = 5
# Step at which fc.bias has no gradient (torch leaves it and its state alone).
NO_GRAD_STEP, NO_GRAD_PARAM = 2, "fc.bias"

PARAMS = [
    ("conv.weight", (2, 2, 2, 2)),
    ("bn.weight", (2,)),
    ("bn.bias", (2,)),
    ("fc.weight", (3, 4)),
    ("fc.bias", (3,)),
]


def no_decay(name, shape):
    """torchvision's split: norm layers' parameters and biases get none.
    Written independently of optim_param_no_decay(); the test checks that
    the two agree on these names."""
    return len(shape) <= 1 or name.endswith(".bias")


def fmt(values):
    return " ".join("%.9g" % float(v) for v in np.asarray(values, np.float32).ravel())


def make_data(rng):
    init = {n: rng.standard_normal(s).astype(np.float32) for n, s in PARAMS}
    grads = []
    for t in range(STEPS):
        step = {}
        for n, s in PARAMS:
            if t == NO_GRAD_STEP and n == NO_GRAD_PARAM:
                step[n] = None
            else:
                # Mixed magnitudes so that adaptive methods see a spread.
                scale = 10.0 ** rng.uniform(-2, 0.5, size=s)
                step[n] = (rng.standard_normal(s) * scale).astype(np.float32)
        grads.append(step)
    return init, grads


# name, optim_config fields, torch constructor, per-group overrides, scheduler
CASES = [
    ("sgd_plain", dict(kind="sgd", lr=0.1),
     lambda p, **kw: torch.optim.SGD(p, lr=0.1, foreach=False), None, None),
    ("sgd_momentum_groups",
     dict(kind="sgd", lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01),
     lambda p, **kw: torch.optim.SGD(p, lr=0.05, momentum=0.9, dampening=0.1,
                                     weight_decay=0.01, foreach=False),
     [(1.0, 0.01), (1.0, 0.0)], None),
    ("sgd_nesterov",
     dict(kind="sgd", lr=0.05, momentum=0.8, nesterov=1, weight_decay=0.005),
     lambda p, **kw: torch.optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True,
                                     weight_decay=0.005, foreach=False),
     None, None),
    ("adam_explr", dict(kind="adam", lr=0.01),
     lambda p, **kw: torch.optim.Adam(p, lr=0.01, foreach=False), None,
     lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.7)),
    ("adam_l2_amsgrad",
     dict(kind="adam", lr=0.02, beta1=0.8, beta2=0.95, eps=1e-6,
          weight_decay=0.01, amsgrad=1),
     lambda p, **kw: torch.optim.Adam(p, lr=0.02, betas=(0.8, 0.95), eps=1e-6,
                                      weight_decay=0.01, amsgrad=True,
                                      foreach=False), None, None),
    ("adamw_groups", dict(kind="adamw", lr=0.01, weight_decay=0.1),
     lambda p, **kw: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1,
                                       foreach=False),
     [(1.0, 0.1), (2.0, 0.0)], None),
    ("adamw_amsgrad",
     dict(kind="adamw", lr=0.03, beta1=0.85, beta2=0.99, eps=1e-7,
          weight_decay=0.05, amsgrad=1),
     lambda p, **kw: torch.optim.AdamW(p, lr=0.03, betas=(0.85, 0.99), eps=1e-7,
                                       weight_decay=0.05, amsgrad=True,
                                       foreach=False), None, None),
    ("rmsprop", dict(kind="rmsprop", lr=0.01, alpha=0.9, eps=1e-6),
     lambda p, **kw: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-6,
                                         foreach=False), None, None),
    ("rmsprop_centered", dict(kind="rmsprop", lr=0.005, centered=1),
     lambda p, **kw: torch.optim.RMSprop(p, lr=0.005, centered=True,
                                         foreach=False), None, None),
    ("rmsprop_momentum_centered",
     dict(kind="rmsprop", lr=0.01, alpha=0.95, eps=1e-5, momentum=0.8,
          centered=1, weight_decay=0.01),
     lambda p, **kw: torch.optim.RMSprop(p, lr=0.01, alpha=0.95, eps=1e-5,
                                         momentum=0.8, centered=True,
                                         weight_decay=0.01, foreach=False),
     None, None),
    ("adagrad",
     dict(kind="adagrad", lr=0.1, lr_decay=0.05, weight_decay=0.01,
          initial_accumulator_value=0.1, eps=1e-10),
     lambda p, **kw: torch.optim.Adagrad(p, lr=0.1, lr_decay=0.05,
                                         weight_decay=0.01,
                                         initial_accumulator_value=0.1,
                                         eps=1e-10, foreach=False),
     None, None),
]


def run_case(out, name, cfg, make_opt, groups, make_sched, init, grads):
    tensors = {n: torch.tensor(init[n]).requires_grad_(True) for n, _ in PARAMS}
    member = {}
    if groups:
        member = {n: int(no_decay(n, s)) for n, s in PARAMS}
        torch_groups = []
        for gi, (scale, wd) in enumerate(groups):
            torch_groups.append({
                "params": [tensors[n] for n, _ in PARAMS if member[n] == gi],
                "lr": cfg["lr"] * scale, "weight_decay": wd})
        opt = make_opt(torch_groups)
    else:
        member = {n: 0 for n, _ in PARAMS}
        opt = make_opt([tensors[n] for n, _ in PARAMS])
        groups = [(1.0, cfg.get("weight_decay", 0.0))]
    sched = make_sched(opt) if make_sched else None

    out.append("case %s" % name)
    for k, v in cfg.items():
        out.append("set %s %s" % (k, v if isinstance(v, str) else repr(v)))
    for gi, (scale, wd) in enumerate(groups):
        out.append("group %d %r %r" % (gi, scale, wd))
    for n, _ in PARAMS:
        out.append("member %s %d" % (n, member[n]))
    for t in range(STEPS):
        # The first group's lr divided by its scale is the scheduled lr.
        lr = opt.param_groups[0]["lr"] / groups[0][0]
        out.append("lr %d %r" % (t, lr))
        for n, _ in PARAMS:
            g = grads[t][n]
            tensors[n].grad = None if g is None else torch.tensor(g)
        opt.step()
        if sched:
            sched.step()
        for n, _ in PARAMS:
            out.append("expect %d %s %s" % (t, n, fmt(tensors[n].detach().numpy())))
    out.append("end")


def write_optimizers(path):
    rng = np.random.default_rng(20240611)
    init, grads = make_data(rng)
    out = ["# made by tests/make_golden_optim.py with torch %s; do not edit"
           % torch.__version__]
    for n, s in PARAMS:
        out.append("param %s %d %s" % (n, len(s), " ".join(str(d) for d in s)))
    for n, _ in PARAMS:
        out.append("init %s %s" % (n, fmt(init[n])))
    for t in range(STEPS):
        for n, _ in PARAMS:
            g = grads[t][n]
            out.append("grad %d %s %s" % (t, n, "none" if g is None else fmt(g)))
    for case in CASES:
        run_case(out, *case, init, grads)
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def schedule_lrs(base_lr, count, make):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=base_lr)
    sched = make(opt)
    lrs = []
    for _ in range(count):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


S = torch.optim.lr_scheduler
SCHEDULES = [
    ("constant", "constant", 0.1, 6, lambda o: S.LambdaLR(o, lambda t: 1.0)),
    ("step", "step:3:0.5", 0.1, 10, lambda o: S.StepLR(o, 3, gamma=0.5)),
    ("step_default_gamma", "step:4", 1.0, 10, lambda o: S.StepLR(o, 4)),
    ("multistep", "multistep:2,5,6:0.3", 0.2, 9,
     lambda o: S.MultiStepLR(o, [2, 5, 6], gamma=0.3)),
    ("exponential", "exp:0.8", 0.5, 8, lambda o: S.ExponentialLR(o, 0.8)),
    # Past T_max torch's cosine comes back up; 2.5 periods check that.
    ("cosine_eta_min", "cosine:8:0.01", 0.1, 21,
     lambda o: S.CosineAnnealingLR(o, 8, eta_min=0.01)),
    ("cosine", "cosine:5", 0.3, 12, lambda o: S.CosineAnnealingLR(o, 5)),
    ("warmup_alone", "warmup:5:0.2", 0.1, 8,
     lambda o: S.LinearLR(o, start_factor=0.2, total_iters=5)),
    ("warmup_chained_step", "warmup:4:0.1+step:3:0.5", 0.1, 10,
     lambda o: S.ChainedScheduler([S.LinearLR(o, 0.1, total_iters=4),
                                   S.StepLR(o, 3, gamma=0.5)])),
    ("warmup_chained_cosine", "warmup:3:0.25+cosine:10", 0.4, 12,
     lambda o: S.ChainedScheduler([S.LinearLR(o, 0.25, total_iters=3),
                                   S.CosineAnnealingLR(o, 10)])),
    ("warmup_seq_cosine", "warmup:4:0.1:seq+cosine:10:0.001", 0.1, 16,
     lambda o: S.SequentialLR(o, [S.LinearLR(o, 0.1, total_iters=4),
                                  S.CosineAnnealingLR(o, 10, eta_min=0.001)],
                              milestones=[4])),
    ("warmup_seq_multistep", "multistep:3,5:0.1+warmup:2:0.5:seq", 1.0, 9,
     lambda o: S.SequentialLR(o, [S.LinearLR(o, 0.5, total_iters=2),
                                  S.MultiStepLR(o, [3, 5], gamma=0.1)],
                              milestones=[2])),
]


def write_schedules(path):
    out = ["# made by tests/make_golden_optim.py with torch %s; do not edit"
           % torch.__version__]
    for name, spec, base_lr, count, make in SCHEDULES:
        lrs = schedule_lrs(base_lr, count, make)
        out.append("schedule %s %s %r %d %s" % (
            name, spec, base_lr, count, " ".join("%.17g" % v for v in lrs)))
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    import warnings
    warnings.simplefilter("ignore")
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    write_optimizers(os.path.join(OUT, "optimizers.txt"))
    write_schedules(os.path.join(OUT, "schedules.txt"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
