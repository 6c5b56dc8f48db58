#!/usr/bin/env python3
"""Choose what a GPU window of SECONDS can hold, for verify.sh --window.

Usage: window_plan.py --bench PATH --window SECONDS --out DIR [--budget S] [--steps FILE]

Candidates, in order: the three target points (bf16 GEMM 8192^3, causal attention
b4.h32.s4096.d128 bf16, train-mlp width 4096 bf16); a bf16/fp8/tf32 matmul sweep 4096-16384;
attention bf16, causal and full, d64 and d128, s 1024-8192; then the standard suite's train-mlp
and train-gpt points. Each step is one `bench run` selection (and the torch reference of the
same points). Every point's FLOPs, inputs and check steps come from `bench plan --backend
cuda` of that selection; its cost is estimated with the conservative model below (GPU time
for warm-up, check and the sampling budget, for bench and for each torch implementation; the
host's f64 reference, paid once per point; input generation in bench and in numpy; process and
compile start-up per step). A step's points are taken in order while they fit; a step or point
that does not fit is listed as left out. A step's flags are narrowed to its chosen points and
checked with `bench plan` to select exactly those (else its last points are left out too).
--steps FILE replaces the candidate list with the file's (a JSON list of {"step": NAME,
"flags": [bench run selection flags]}, in priority order: a second window for what a first one
left out, or a test's small points). Writes DIR/window-plan.json and prints the plan with its
estimate. Needs only the standard library and the bench binary. The model's figures are
assumptions, not measurements.
"""

import argparse
import json
import os
import subprocess
import sys

# --- the conservative model (assumed, H100/H200 class; lower than datasheet on purpose) ---
GPU_FLOPS = {  # FLOP/s a point sustains at worst
    "matmul": {"bf16": 300e12, "f16": 300e12, "fp8_e4m3": 450e12, "tf32": 150e12, "f32": 25e12},
    "attention": {"bf16": 120e12, "f16": 120e12},
    "train-mlp": {"bf16": 120e12, "f16": 120e12, "tf32": 60e12, "f32": 20e12},
    "train-gpt": {"bf16": 60e12, "f16": 60e12, "tf32": 30e12, "f32": 12e12},
}
HOST_F64_FLOPS = 100e9  # the f64 reference's threaded GEMM on the GPU host's CPU
REFERENCE_OVERHEAD = 1.5  # reference FLOPs per workload FLOP (attention done as full blocks)
SAMPLED_REFERENCE_S = 0.5  # matmul/attention: sampled rows (2^27 MACs) on one core
BENCH_INPUT_S = 5e-9  # bench's seeded input generation, per element
NUMPY_INPUT_S = 20e-9  # torch_reference.py's numpy re-implementation, per element
STEP_START_S = 25.0  # per step: bench start, NVRTC compile, torch import and CUDA init
WARMUP_S = 0.1

TARGETS = {
    "matmul/m=8192,n=8192,k=8192/bf16",
    "attention/b=4,h=32,s=4096,d=128,causal=1/bf16",
    "train-mlp/layers=4,width=4096,batch=512,classes=1000/bf16",
}


def steps():
    """(name, bench selection flags) in priority order."""
    out = [
        ("target-matmul", ["--workload", "matmul", "--dtype", "bf16", "--param", "m=8192"]),
        ("target-attention", ["--workload", "attention", "--dtype", "bf16", "--param", "s=4096",
                              "--param", "d=128", "--param", "causal=1"]),
        ("target-train-mlp", ["--workload", "train-mlp", "--dtype", "bf16",
                              "--param", "width=4096"]),
    ]
    for dtype in ("bf16", "fp8_e4m3", "tf32"):
        out.append((f"matmul-{dtype}", ["--workload", "matmul", "--dtype", dtype,
                                        "--param", "m=4096,8192,16384"]))
    for d in (128, 64):
        for causal in (1, 0):
            out.append((f"attention-d{d}-{'causal' if causal else 'full'}",
                        ["--workload", "attention", "--dtype", "bf16", "--param",
                         "s=1024,2048,4096,8192", "--param", f"d={d}", "--param",
                         f"causal={causal}"]))
    out.append(("train-mlp", ["--workload", "train-mlp"]))
    out.append(("train-gpt", ["--workload", "train-gpt"]))
    return out


STEP_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def load_steps(path):
    """(name, flags) from a --steps file; SystemExit naming the file and the bad entry."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise SystemExit(f"window_plan: cannot read --steps {path}: {e}")
    if not isinstance(data, list) or not data:
        raise SystemExit(f"window_plan: --steps {path}: expected a non-empty JSON list of "
                         '{"step": NAME, "flags": [...]}')
    out, names = [], set()
    for i, s in enumerate(data):
        name = s.get("step") if isinstance(s, dict) else None
        flags = s.get("flags") if isinstance(s, dict) else None
        if not isinstance(name, str) or not name or not set(name) <= STEP_NAME_CHARS:
            raise SystemExit(f"window_plan: --steps {path}: entry {i}: step {name!r} must be a "
                             "name of letters, digits, '.', '_' or '-' (it names a folder)")
        if name in names:
            raise SystemExit(f"window_plan: --steps {path}: entry {i}: step {name!r} repeats")
        if (not isinstance(flags, list) or not flags
                or not all(isinstance(x, str) and x and not any(c.isspace() for c in x)
                           for x in flags)):
            raise SystemExit(f"window_plan: --steps {path}: entry {i} ({name}): flags must be "
                             f"a non-empty list of strings without spaces, got {flags!r}")
        names.add(name)
        out.append((name, flags))
    return out


def elements(pt):
    total = 0
    for t in pt.get("inputs", []):
        n = 1
        for s in t["shape"]:
            n *= s
        total += n
    return total


def point_cost(pt, budget):
    """(seconds, how) of one point: bench and torch timing, reference, inputs."""
    w, dtype = pt["workload"], pt["dtype"]
    rate = GPU_FLOPS.get(w, {}).get(dtype, 10e12)
    it = pt["flops"] / rate
    steps = (pt.get("check") or {}).get("steps") or 1
    timed = WARMUP_S + budget + steps * it + it  # warm-up, sampling, check, a last sample over
    impls = 4 if w == "attention" else 2  # bench, torch (+ cuDNN and flash SDPA forced)
    if w in ("train-mlp", "train-gpt"):
        reference = steps * pt["flops"] * REFERENCE_OVERHEAD / HOST_F64_FLOPS
    else:
        reference = SAMPLED_REFERENCE_S
    inputs = elements(pt) * (BENCH_INPUT_S + NUMPY_INPUT_S)
    total = impls * timed + reference + inputs
    return total, {"gpu_s": round(impls * timed, 2), "reference_s": round(reference, 2),
                   "inputs_s": round(inputs, 2)}


def run_plan(bench, flags, path):
    """(points, None) of `bench plan` of a selection, or (None, bench's last error line)."""
    o = subprocess.run([bench, "plan", "--backend", "cuda", "--suite", "standard", *flags,
                        "--out", path], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if o.returncode != 0:
        err = o.stderr.strip()
        return None, err.splitlines()[-1] if err else f"exit {o.returncode}"
    with open(path) as f:
        return json.load(f)["points"], None


def plan_points(bench, flags, path):
    pts, err = run_plan(bench, flags, path)
    if pts is None:
        raise SystemExit(f"window_plan: bench plan {' '.join(flags)} failed: {err}")
    return pts


def with_option(flags, option, key, value):
    """flags with `option key=value` (or `option value` when key is None) set, replacing."""
    out = list(flags)
    for i in range(len(out) - 1):
        if out[i] == option and (key is None or out[i + 1].startswith(f"{key}=")):
            out[i + 1] = value if key is None else f"{key}={value}"
            return out
    return out + [option, value if key is None else f"{key}={value}"]


def joined(values):
    return ",".join(str(v) for v in sorted(values))


def narrowed(flags, points):
    """The step's flags narrowed to `points` by the values of the one swept parameter."""
    for key in ("m", "s", "width", "d_model"):
        values = {p["params"][key] for p in points if key in p["params"]}
        if values:
            return with_option(flags, "--param", key, joined(values))
    return list(flags)


def pinned(flags, points):
    """The step's flags with the dtype and every parameter set to the values `points` use."""
    out = with_option(flags, "--dtype", None, joined({p["dtype"] for p in points}))
    for key in sorted({k for p in points for k in p["params"]}):
        out = with_option(out, "--param", key,
                          joined({p["params"][key] for p in points if key in p["params"]}))
    return out


def selection(bench, flags, points, path):
    """Flags whose `bench plan` is exactly `points` (a narrowed selection can bring others in,
    e.g. a point of an earlier step, or be invalid, e.g. d_model against a fixed heads), or
    None when neither the step's flags nor a narrowing of them does."""
    want = {p["id"] for p in points}
    for cand in (list(flags), narrowed(flags, points),
                 with_option(narrowed(flags, points), "--dtype", None,
                             joined({p["dtype"] for p in points})),
                 pinned(flags, points)):
        got, _ = run_plan(bench, cand, path)
        if got is not None and {p["id"] for p in got} == want:
            return cand
    return None


def choose(bench, window, out, budget, candidates):
    chosen, left_out, used, seen = [], [], 0.0, set()
    tmp = os.path.join(out, ".window-plan.tmp.json")
    for name, flags in candidates:
        pts = [p for p in plan_points(bench, flags, tmp) if p["id"] not in seen]
        if not name.startswith("target-"):
            pts = [p for p in pts if p["id"] not in TARGETS]
        take, cost = [], STEP_START_S
        for p in pts:
            c, how = point_cost(p, budget)
            if used + cost + c <= window:
                take.append((p, {"id": p["id"], "estimate_s": round(c, 2), **how}))
                cost += c
            else:
                left_out.append({"id": p["id"], "step": name, "estimate_s": round(c, 2),
                                 "why": "does not fit"})
        # What runs must be what was costed: drop the last points until a selection runs
        # exactly the rest.
        sel = None
        while take:
            sel = selection(bench, flags, [p for p, _ in take], tmp)
            if sel is not None:
                break
            p, t = take.pop()
            cost -= t["estimate_s"]
            left_out.append({"id": p["id"], "step": name, "estimate_s": t["estimate_s"],
                             "why": "no bench selection runs it without other points"})
        if take:
            used += cost
            seen.update(p["id"] for p, _ in take)
            chosen.append({"step": name, "flags": sel, "points": [t for _, t in take],
                           "estimate_s": round(cost, 2)})
    if os.path.exists(tmp):
        os.remove(tmp)
    return chosen, left_out, used


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench", required=True)
    ap.add_argument("--window", type=float, default=480.0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--budget", type=float, default=1.0, help="sampling seconds per point")
    ap.add_argument("--steps", help="JSON file replacing the candidate steps")
    args = ap.parse_args(argv)
    if not args.window > 0:
        ap.error(f"--window {args.window}: must be a positive number of seconds")
    candidates = load_steps(args.steps) if args.steps else steps()
    os.makedirs(args.out, exist_ok=True)
    chosen, left_out, used = choose(args.bench, args.window, args.out, args.budget, candidates)
    plan = {"window_s": args.window, "estimate_s": round(used, 1), "budget_s": args.budget,
            "model": {"gpu_flops": GPU_FLOPS, "host_f64_flops": HOST_F64_FLOPS,
                      "step_start_s": STEP_START_S,
                      "note": "conservative assumptions, not measurements"},
            "candidates": args.steps or "built in",
            "steps": chosen, "left_out": left_out}
    with open(os.path.join(args.out, "window-plan.json"), "w") as f:
        json.dump(plan, f, indent=1)
    print(f"window plan: {sum(len(s['points']) for s in chosen)} points in {len(chosen)} steps, "
          f"estimated {used:.0f} s of a {args.window:.0f} s window "
          f"(conservative model; sampling budget {args.budget:g} s per point)")
    for i, s in enumerate(chosen, 1):
        print(f"  step {i:02d} {s['step']:<24} {s['estimate_s']:7.1f} s  "
              f"bench run {' '.join(s['flags'])}")
        for p in s["points"]:
            print(f"      {p['id']:<62} {p['estimate_s']:7.1f} s (gpu {p['gpu_s']}, "
                  f"reference {p['reference_s']}, inputs {p['inputs_s']})")
    if left_out:
        print(f"  left out ({len(left_out)} points): "
              + ", ".join(f"{p['id']} ({p['estimate_s']:.0f} s"
                          + ("" if p["why"] == "does not fit" else f"; {p['why']}") + ")"
                          for p in left_out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
