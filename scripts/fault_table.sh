#!/usr/bin/env bash
# The full fault table on nrt-sim (simulated): a clean quick-suite run counts the calls of
# every libnrt entry point bench makes, then one run per (entry point, call position)
# injects a status there (NRT_SIM_FAIL) and checks the outcome is clean: no panic, crash or
# hang, the exit code as designed, a valid run.json with the point in flight failed naming
# the call and the status and every other point as in the clean run. CI runs a seeded
# sample of the same test over a small selection (harness/tests/neuron_faults.rs).
#
# Usage: scripts/fault_table.sh [TABLE.md] [JOBS]   (default fault_table.md, 2 jobs)
# Needs python3 (build_neffs.py --sim) and cargo. Exit status: the test's (0: all clean).
set -euo pipefail
out=$(realpath -m "${1:-fault_table.md}")
jobs=${2:-2}
cd "$(dirname "$0")/.."
BENCH_FAULT_TABLE="$out" BENCH_FAULT_JOBS="$jobs" \
    cargo test -p harness --test neuron_faults -- --nocapture
echo "table: $out"
