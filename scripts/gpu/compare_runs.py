#!/usr/bin/env python3
"""Compare a bench CUDA run with the torch reference run from the same GPU.

Usage: compare_runs.py BENCH_RUN TORCH_RUN [TORCH_RUN...]   (run.json files or run directories)
       compare_runs.py DIR   (every run.json under DIR: verify.sh --window's output folder)

Prints, for every point id measured ok in bench and in a torch run, bench's median time, the
fastest torch implementation's (torch, torch-sdpa-cudnn, torch-sdpa-flash: the vendor's best)
and the ratio bench/torch of throughput (1.0 = as fast as the vendor's best); a point measured
ok on one side only is listed with "-" for the other (in DIR mode a side may have no run at
all, e.g. every bench step failed: its points still show), then
the issue's targets on H100: bf16 GEMM 8192^3 >= 0.95x torch.matmul, attention (b=4, h=32,
s=4096, d=128, causal, bf16) >= 0.7x torch SDPA, train-mlp step >= 0.9x torch (every
train-mlp point). Exit status 0 when every target point met its target, 1 when one missed or
is absent, 2 for unreadable input. Needs only the standard library.
"""

import json
import os
import sys

TARGETS = [
    ("matmul/m=8192,n=8192,k=8192/bf16", 0.95, "bf16 GEMM 8192^3 vs torch.matmul"),
    ("attention/b=4,h=32,s=4096,d=128,causal=1/bf16", 0.7, "causal attention vs torch SDPA"),
    ("train-mlp/*", 0.9, "train-mlp step vs torch"),
]


def load(path):
    if os.path.isdir(path):
        path = os.path.join(path, "run.json")
    try:
        with open(path) as f:
            run = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise SystemExit(f"error: cannot read {path}: {e}")
    if run.get("schema") != "bench.run/1":
        raise SystemExit(f"error: {path} is not a bench.run/1 file (schema {run.get('schema')!r})")
    return run


def ok_points(run):
    return {p["id"]: p for p in run["points"] if p.get("status") == "ok" and p.get("stats")}


def ratios(benches, torches):
    """(id, bench s, best torch s, ratio, bench FLOP/s, torch implementation) per point."""
    best = {}
    for run in torches:
        impl = run["backend"].get("implementation", "torch")
        for pid, p in ok_points(run).items():
            m = p["stats"]["median_s"]
            if pid not in best or m < best[pid][0]:
                best[pid] = (m, impl)
    rows = []
    for bench in benches:
        b = ok_points(bench)
        for pid in [p["id"] for p in bench["points"]]:
            if pid in b and pid in best:
                bm, (tm, impl) = b[pid]["stats"]["median_s"], best[pid]
                rows.append((pid, bm, tm, tm / bm, b[pid]["flops"] / bm, impl))
    return rows


def one_sided(benches, torches):
    """(id, bench s or None, torch s or None, torch implementation) of points ok on one side."""
    b = {}
    for run in benches:
        for pid, p in ok_points(run).items():
            b.setdefault(pid, p["stats"]["median_s"])
    t = {}
    for run in torches:
        impl = run["backend"].get("implementation", "torch")
        for pid, p in ok_points(run).items():
            m = p["stats"]["median_s"]
            if pid not in t or m < t[pid][0]:
                t[pid] = (m, impl)
    rows = [(pid, m, None, "") for pid, m in b.items() if pid not in t]
    rows += [(pid, None, m, impl) for pid, (m, impl) in t.items() if pid not in b]
    return rows


def scan(folder):
    """(bench runs, torch runs) of every run.json under folder."""
    benches, torches = [], []
    for root, _, files in sorted(os.walk(folder)):
        if "run.json" in files:
            run = load(os.path.join(root, "run.json"))
            impl = run["backend"].get("implementation", "")
            if impl == "bench":
                benches.append(run)
            elif impl.startswith("torch") and not run["backend"].get("simulated"):
                torches.append(run)
    if not benches and not torches:
        raise SystemExit(f"error: {folder} holds no bench or torch run.json")
    if not benches or not torches:
        print(f"warning: {folder} holds {len(benches)} bench and {len(torches)} torch runs: "
              "nothing to compare, one side's points listed alone", file=sys.stderr)
    return benches, torches


def targets(rows):
    """(description, target, ratio or None, met) per target."""
    out = []
    for pattern, want, what in TARGETS:
        if pattern.endswith("*"):
            hits = [r for r in rows if r[0].startswith(pattern[:-1])]
        else:
            hits = [r for r in rows if r[0] == pattern]
        if not hits:
            out.append((what, want, None, False))
        else:
            worst = min(r[3] for r in hits)
            out.append((what, want, worst, worst >= want))
    return out


def main(argv):
    if len(argv) == 1 and os.path.isdir(argv[0]) and not os.path.exists(
            os.path.join(argv[0], "run.json")):
        benches, torches = scan(argv[0])
    elif len(argv) >= 2:
        benches, torches = [load(argv[0])], [load(a) for a in argv[1:]]
        for run, want in [(benches[0], "bench")] + [(t, "torch") for t in torches]:
            impl = run["backend"].get("implementation", "")
            if not impl.startswith(want):
                raise SystemExit(f"error: expected a {want} run, got implementation {impl!r}")
    else:
        print(__doc__, file=sys.stderr)
        return 2
    devices = {r["backend"]["device"] for r in benches + torches}
    if len(devices) > 1:
        print(f"warning: different devices: {', '.join(sorted(devices))}", file=sys.stderr)
    rows = ratios(benches, torches)
    print(f"{'point':<58} {'bench ms':>10} {'torch ms':>10} {'TFLOP/s':>9} {'bench/torch':>11}"
          f"  torch implementation")
    for pid, bm, tm, r, fl, impl in rows:
        print(f"{pid:<58} {bm * 1e3:10.3f} {tm * 1e3:10.3f} {fl / 1e12:9.1f} {r:11.3f}  {impl}")
    for pid, bm, tm, impl in one_sided(benches, torches):
        shown = (f"{bm * 1e3:10.3f} {'-':>10}" if bm is not None else f"{'-':>10} {tm * 1e3:10.3f}")
        print(f"{pid:<58} {shown} {'-':>9} {'-':>11}  {impl or '(bench only)'}")
    if not rows:
        print("(no point measured ok in both runs)")
    print()
    all_met = True
    for what, want, got, met in targets(rows):
        all_met &= met
        shown = "absent" if got is None else f"{got:.3f}"
        print(f"target {what}: >= {want} -> {shown} {'MET' if met else 'MISSED'}")
    return 0 if all_met else 1


if __name__ == "__main__":
    try:
        rc = main(sys.argv[1:])
    except SystemExit as e:  # unreadable or wrong input: its message, exit 2
        if not isinstance(e.code, str):
            raise
        print(e.code, file=sys.stderr)
        rc = 2
    sys.exit(rc)
