#!/usr/bin/env bash
# The fault table on nrt-sim (simulated): a clean run counts the calls of every libnrt entry
# point bench makes, then one run per (entry point, call position) injects a status there
# (NRT_SIM_FAIL) and checks the outcome is clean: no panic, crash or hang, the exit code as
# designed, a valid run.json with the point in flight failed naming the call and the status
# and every other point as in the clean run. CI runs 4 positions per entry point over a
# small selection (harness/tests/neuron_faults.rs).
#
# Usage: scripts/fault_table.sh [TABLE.md] [SUITE] [POSITIONS] [JOBS]
#   SUITE: quick (default) or small; POSITIONS: all (default) or how many per entry point;
#   JOBS: runs at once (default 2). Every position of the quick suite is about 1,700 runs of
#   about 2 CPU-seconds each. Exit status: the test's (0: every run clean).
set -euo pipefail
out=$(realpath -m "${1:-fault_table.md}")
cd "$(dirname "$0")/.."
BENCH_FAULT_TABLE="$out" BENCH_FAULT_SUITE="${2:-quick}" BENCH_FAULT_POSITIONS="${3:-all}" \
    BENCH_FAULT_JOBS="${4:-2}" cargo test -p harness --test neuron_faults -- --nocapture
echo "table: $out"
