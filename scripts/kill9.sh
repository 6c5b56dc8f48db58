#!/usr/bin/env bash
# kill -9 at N seeded random instants during a CPU quick-suite run (--budget 0.02): after
# each kill run.json must parse and hold, unchanged, every point seen in it before the kill,
# and `bench run --resume` must complete the run keeping them. Prints the figures (and
# writes them to kill9.txt). CI runs 3 kills of a smaller run (harness/tests/kill9.rs).
#
# Usage: scripts/kill9.sh [N] [SEED]   (default 50 kills, seed 1). Exit 0: nothing lost.
set -euo pipefail
n=${1:-50}
seed=${2:-1}
report=$(realpath -m kill9.txt)
cd "$(dirname "$0")/.."
BENCH_KILL9_N="$n" BENCH_KILL9_SEED="$seed" BENCH_KILL9_REPORT="$report" \
    cargo test -p harness --test kill9 -- --nocapture
cat "$report"
