#!/usr/bin/env python3
"""bench's CPU f32 matmul against numpy (OpenBLAS) on the same machine, alternating in one run.

Each round runs `bench --backend cpu --workload matmul --dtype f32 --param m=N` (its median
from run.json) and numpy's `a @ b` (median of the same number of samples after a warm-up), in
alternating order, and prints the per-round ratio numpy_median / bench_median (> 1: bench is
faster). numpy's OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are unset for this process, as they slow
a current numpy; bench picks its own OpenBLAS core (see backends/src/cpu/blas.rs).

Usage: python3 scripts/cpu_vs_numpy.py [--bench target/release/bench] [--size 2048] [--rounds 4]
Needs numpy (pip install numpy threadpoolctl).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
    os.environ.pop(var, None)

import numpy as np  # noqa: E402  (after the environment is cleaned)


def numpy_median(n, samples):
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (n, n)).astype(np.float32)
    b = rng.uniform(-1, 1, (n, n)).astype(np.float32)
    for _ in range(2):
        a @ b
    times = []
    for _ in range(samples):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_median(binary, n, samples):
    with tempfile.TemporaryDirectory() as out:
        cmd = [binary, "--backend", "cpu", "--workload", "matmul", "--dtype", "f32",
               "--param", f"m={n}", "--out", out, "--min-samples", str(samples),
               "--max-samples", str(samples), "--budget", "60", "--warmup", "0.3"]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        (run_dir,) = [os.path.join(out, d) for d in os.listdir(out)]
        with open(os.path.join(run_dir, "run.json")) as f:
            run = json.load(f)
    point = run["points"][0]
    if point["status"] != "ok":
        sys.exit(f"bench point failed: {point.get('reason')}")
    return point["stats"]["median_s"], run["backend"]["extra"].get("f32_matmul", "?")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", default="target/release/bench")
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--samples", type=int, default=7)
    args = ap.parse_args()
    if not os.path.exists(args.bench):
        sys.exit(f"{args.bench} not found: build it with `cargo build --release` or pass --bench")
    try:
        import threadpoolctl
        info = [(i["internal_api"], i["version"], i.get("architecture"), i["num_threads"])
                for i in threadpoolctl.threadpool_info()]
    except ImportError:
        info = "threadpoolctl not installed"
    print(f"numpy {np.__version__}, BLAS {info}")
    flops = 2.0 * args.size ** 3
    ratios = []
    for r in range(args.rounds):
        order = ["bench", "numpy"] if r % 2 == 0 else ["numpy", "bench"]
        res = {}
        for who in order:
            if who == "bench":
                res["bench"], how = bench_median(args.bench, args.size, args.samples)
            else:
                res["numpy"] = numpy_median(args.size, args.samples)
        ratio = res["numpy"] / res["bench"]
        ratios.append(ratio)
        print(f"round {r}: bench {flops / res['bench'] / 1e9:7.1f} GFLOP/s ({how}), "
              f"numpy {flops / res['numpy'] / 1e9:7.1f} GFLOP/s, bench/numpy speed {ratio:.3f}")
    print(f"f32 matmul {args.size}^3: bench/numpy speed, median of {args.rounds} rounds: "
          f"{statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f})")


if __name__ == "__main__":
    main()
