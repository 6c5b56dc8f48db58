#!/usr/bin/env python3
"""bench's CPU decode (or prefill) against torch's CPU SDPA step on the same shapes, same run.

Each round runs `bench run --backend cpu --workload decode ...` (the point medians from its
run.json) and, on the same points, torch's decode step of scripts/gpu/torch_infer.py on the CPU
(bench's seeded weights and KV cache bit for bit, the cache preallocated for context + 16
positions, step i writing position context + i mod 16 and attending over every position up to
it with F.scaled_dot_product_attention, as bench's decode loop does), timed with
time.perf_counter over the same number of samples bench took (at least --min-samples) after a
warm-up. Rounds alternate which side goes first. torch's logits are checked against the float64
reference of torch_infer.reference (bench's own check is in its run.json) before timing.

Prints, per point, each round's output tokens/s for both and the speed ratio
torch_median / bench_median (> 1: bench is faster), then the median over rounds. --json FILE
writes every figure. Needs torch (CPU is enough) and numpy.

torch's OpenMP threads busy-wait at every operator's barrier by default; on a shared machine
where other processes hold the cores (the 2-core VM of the README, load average 10-40) a
descheduled thread stalls every barrier, and torch's 2-thread d768 decode step measured 4-5x
slower than with OMP_WAIT_POLICY=PASSIVE. The script sets PASSIVE before importing torch
(--omp-wait active|inherit to compare); bench's CPU threads are its own and unaffected.

Usage: python3 scripts/cpu_vs_torch_infer.py [--bench target/release/bench] [--suite quick]
       [--param d_model=768 ...] [--dtype f32] [--rounds 3] [--json out.json]
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "gpu"))
import torch_infer  # noqa: E402  (bench's decoder in torch)
import torch_reference  # noqa: E402  (bench's seeded inputs)


class CpuTorch:
    """The slice of torch_reference.Torch that InferStep uses, on the CPU."""

    def __init__(self, threads):
        import torch

        self.torch = torch
        self.dev = torch.device("cpu")
        if threads:
            torch.set_num_threads(threads)

    def dtype(self, name):
        t = self.torch
        return {"f32": t.float32, "tf32": t.float32, "bf16": t.bfloat16, "f16": t.float16}[name]

    def tensor(self, array, dtype):
        return torch_reference._from_numpy(self.torch, array).to(self.dtype(dtype))


def bench_points(args):
    """One bench CPU run of the selection: {point id: record} of its ok points."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [args.bench, "run", "--backend", "cpu", "--suite", args.suite,
               "--workload", args.workload, "--out", out, "--seed", str(args.seed),
               "--min-samples", str(args.min_samples), "--max-samples", str(args.max_samples),
               "--budget", str(args.budget), "--warmup", str(args.warmup)]
        for d in args.dtype:
            cmd += ["--dtype", d]
        for p in args.param:
            cmd += ["--param", p]
        done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        dirs = [os.path.join(out, d) for d in os.listdir(out)]
        # exit 1 with a run.json: some point failed (listed below); anything else is fatal
        if done.returncode not in (0, 1) or len(dirs) != 1:
            sys.exit(f"bench failed (exit {done.returncode}): {done.stderr.strip()[-500:]}")
        (run_dir,) = dirs
        with open(os.path.join(run_dir, "run.json")) as f:
            run = json.load(f)
    pts = {}
    for p in run["points"]:
        if p["status"] == "ok" and p["check"]["passed"]:
            pts[p["id"]] = p
        else:
            print(f"bench: {p['id']} {p['status']}: {p.get('reason')}")
    return pts, run


class TorchPoint:
    """torch's step for one bench point, checked against float64 once."""

    def __init__(self, tc, rec, seed):
        w, p, dtype = rec["workload"], rec["params"], rec["dtype"]
        self.x = torch_reference.point_inputs(w, p, dtype, seed)
        self.step = torch_infer.InferStep(tc, w, p, dtype, self.x)
        steps = torch_infer.DECODE_CHECK_STEPS if w == "decode" else 1
        for _ in range(steps):
            self.step()
        ref = torch_infer.reference(w, p, self.x)
        self.err = torch_infer.rel_error(self.step.checked_output(ref), ref)
        self.tol = torch_infer.TOLERANCE[dtype]
        if not self.err <= self.tol:
            sys.exit(f"torch {rec['id']}: max rel err {self.err:.3e} > {self.tol}")

    def median(self, samples, warmup_s):
        end = time.perf_counter() + warmup_s
        while time.perf_counter() < end:
            self.step()
        times = []
        for _ in range(samples):
            t = time.perf_counter()
            self.step()
            times.append(time.perf_counter() - t)
        return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", default="target/release/bench")
    ap.add_argument("--suite", default="quick")
    ap.add_argument("--workload", default="decode", choices=["decode", "prefill"])
    ap.add_argument("--dtype", action="append", default=[])
    ap.add_argument("--param", action="append", default=[])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--budget", type=float, default=2.0)
    ap.add_argument("--warmup", type=float, default=0.2)
    ap.add_argument("--min-samples", type=int, default=10)
    ap.add_argument("--max-samples", type=int, default=200)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    ap.add_argument("--omp-wait", default="passive", choices=["passive", "active", "inherit"],
                    help="OMP_WAIT_POLICY for torch (default passive: see the module doc)")
    ap.add_argument("--json", help="write every figure to this file")
    args = ap.parse_args()
    if args.omp_wait != "inherit":
        os.environ["OMP_WAIT_POLICY"] = args.omp_wait.upper()  # before torch is imported
    if not os.path.exists(args.bench):
        sys.exit(f"{args.bench} not found: build it with `cargo build --release` or pass --bench")
    tc = CpuTorch(args.threads)
    torch = tc.torch
    load = os.getloadavg()
    print(f"torch {torch.__version__} on {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads, OMP_WAIT_POLICY="
          f"{os.environ.get('OMP_WAIT_POLICY', 'unset')}, {os.cpu_count()} CPUs, "
          f"load average {load[0]:.1f} at start")
    torch_steps = {}
    rounds = []
    known = None  # the last bench run's records: the points' shapes and sample counts

    def time_torch(recs):
        med = {}
        for pid, rec in recs.items():
            if pid not in torch_steps:
                torch_steps[pid] = TorchPoint(tc, rec, args.seed)
            n = max(args.min_samples, min(rec["stats"]["n"], args.max_samples))
            med[pid] = torch_steps[pid].median(n, args.warmup)
        return med

    for r in range(args.rounds):
        # round 0 runs bench first (it says which points there are); then they alternate
        order = ["bench", "torch"] if r % 2 == 0 else ["torch", "bench"]
        res = {}
        for who in order:
            if who == "bench":
                res["bench"], run = bench_points(args)
                known = res["bench"]
            else:
                res["torch"] = time_torch(known)
        row = {}
        for pid, rec in res["bench"].items():
            if pid not in res.get("torch", {}):
                continue
            b, t = rec["stats"]["median_s"], res["torch"][pid]
            items = rec["throughput"]["items_per_s"] * b
            row[pid] = {"bench_s": b, "torch_s": t, "bench_tokens_per_s": items / b,
                        "torch_tokens_per_s": items / t, "ratio": t / b,
                        "bench_max_rel_err": rec["check"]["max_rel_err"],
                        "torch_max_rel_err": torch_steps[pid].err,
                        "bench_timer": rec.get("timer"), "samples": rec["stats"]["n"]}
            print(f"round {r}: {pid}: bench {items / b:10.1f} tokens/s, "
                  f"torch {items / t:10.1f} tokens/s, bench/torch speed {t / b:.3f}")
        rounds.append(row)
    summary = {}
    for pid in rounds[0]:
        ratios = [rd[pid]["ratio"] for rd in rounds if pid in rd]
        bt = [rd[pid]["bench_tokens_per_s"] for rd in rounds if pid in rd]
        tt = [rd[pid]["torch_tokens_per_s"] for rd in rounds if pid in rd]
        summary[pid] = {"ratio_median": statistics.median(ratios), "ratio_min": min(ratios),
                        "ratio_max": max(ratios), "bench_tokens_per_s": statistics.median(bt),
                        "torch_tokens_per_s": statistics.median(tt)}
        s = summary[pid]
        print(f"{pid}: bench {s['bench_tokens_per_s']:.1f} tokens/s, torch "
              f"{s['torch_tokens_per_s']:.1f} tokens/s (medians of {len(ratios)} rounds); "
              f"bench/torch speed {s['ratio_median']:.3f} ({s['ratio_min']:.3f}-"
              f"{s['ratio_max']:.3f})")
    load = os.getloadavg()
    print(f"load average {load[0]:.1f} at the end")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"torch": torch.__version__, "threads": torch.get_num_threads(),
                       "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
                       "cpus": os.cpu_count(), "bench_backend": run["backend"],
                       "args": vars(args), "rounds": rounds, "summary": summary}, f, indent=1)


if __name__ == "__main__":
    main()
