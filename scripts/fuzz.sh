#!/usr/bin/env bash
# scripts/fuzz.sh N [TARGET...]: runs each cargo-fuzz target in fuzz/ (all of them by default)
# for N inputs (libFuzzer -runs=N), one after another, and prints a table of inputs run,
# seconds and inputs per second per target. Exits 1 if any target crashed, hung (-timeout),
# ran out of memory or stopped short, naming it and the input saved under
# fuzz/artifacts/TARGET/; exits 2 on a usage or build error.
#
# Needs a nightly toolchain and cargo-fuzz 0.13 (cargo install cargo-fuzz). Builds with debug
# assertions and overflow checks (-a), without a sanitizer (the targets are safe Rust).
# Each target starts from its seeds (fuzz/seeds/TARGET, checked in) plus what earlier runs
# kept in fuzz/corpus/TARGET (not checked in). FUZZ_FLAGS adds libFuzzer flags.
set -uo pipefail
usage() { echo "usage: scripts/fuzz.sh N [TARGET...]  (N inputs per target, e.g. 1000000)" >&2; exit 2; }
[ $# -ge 1 ] || usage
n=$1; shift
[[ "$n" =~ ^[1-9][0-9]*$ ]] || usage
cd "$(dirname "$0")/../fuzz" || exit 2
cargo +nightly fuzz --version >/dev/null 2>&1 \
    || { echo "fuzz.sh: needs nightly Rust and cargo-fuzz: rustup toolchain install nightly && cargo install cargo-fuzz" >&2; exit 2; }
mapfile -t all < <(cargo +nightly fuzz list)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
for t in "${targets[@]}"; do
    [[ " ${all[*]} " == *" $t "* ]] || { echo "fuzz.sh: no target '$t' (targets: ${all[*]})" >&2; exit 2; }
done
flags=(-a -s none)
host=$(rustc +nightly -vV | sed -n 's/^host: //p')
cargo +nightly fuzz build "${flags[@]}" || { echo "fuzz.sh: build failed" >&2; exit 2; }
mkdir -p logs
failed=()
rows=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    log="logs/$t.log"
    start=$(date +%s.%N)
    # The binary the build above made (cargo fuzz run would rebuild if a source changed since).
    # shellcheck disable=SC2086 # FUZZ_FLAGS is split into flags on purpose
    "target/$host/release/$t" "corpus/$t" "seeds/$t" \
        -artifact_prefix="artifacts/$t/" -runs="$n" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
        ${FUZZ_FLAGS:-} >"$log" 2>&1
    rc=$?
    end=$(date +%s.%N)
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    if [ "$rc" -ne 0 ] || [ -z "$runs" ] || [ "$runs" -lt "$n" ]; then
        status="FAILED (exit $rc; see fuzz/$log)"
        failed+=("$t")
    else
        status="ok, 0 crashes"
    fi
    rows+=("$(printf '%-14s %12s %10s %10s  %s' "$t" "${runs:-?}" "$secs" "${rate:-?}" "$status")")
    echo "fuzz.sh: $t: ${runs:-?} inputs in ${secs} s (${rate:-?}/s): $status" >&2
    grep 'Test unit written to' "$log" >&2
done
printf '%-14s %12s %10s %10s  %s\n' target inputs seconds "inputs/s" result
printf '%s\n' "${rows[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz.sh: ${#failed[@]} target(s) failed: ${failed[*]}" >&2
    exit 1
fi
