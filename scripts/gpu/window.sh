#!/usr/bin/env bash
# The one command for a short GPU window (no network, no cargo; about 8 minutes on one
# H100/H200). Copy target/release/bench and scripts/ to the GPU machine (see the README's
# carry-list) and run, from the folder holding them:
#
#   scripts/gpu/window.sh OUTDIR [--bench PATH] [--window SECONDS] [--total SECONDS] [--dry-run]
#
# --dry-run prints verify's window plan with its estimate (verify.sh --window --dry-run) and
# runs nothing: no GPU or torch needed.
#
# In order, each step's output and status recorded, a failed step never stopping the rest:
#   1. environment facts (env.txt): nvidia-smi, driver, glibc, python, torch and its CUDA and
#      cuDNN, the NVIDIA pip packages, `bench list`;
#   2. verify.sh --window SECONDS (default: 480 minus the time kept for steps 3-4, i.e. 360)
#      into OUTDIR/verify;
#   3. one Nsight Compute profile (ncu --clock-control none, so the GPU's own clocks) of bench's
#      attention kernel at the target shape (b4 h32 s4096 d128 causal bf16): OUTDIR/ncu-attention.ncu-rep;
#   4. compute-sanitizer --tool memcheck over the quick suite on the CUDA backend: OUTDIR/memcheck.log;
#   5. summary.txt (each step, its exit status and seconds, compare_runs.py's table) and one
#      tarball OUTDIR.tar.gz of the lot.
# --total SECONDS (default 480) is a hard bound on the whole script: verify is stopped at
# --window plus 20 s, ncu and memcheck each get at most what is left (keeping 60 s for memcheck
# while ncu runs), and a step with under 20 s left is named "no time left" instead of started.
# Exit status: 0 when every step passed, 1 when one failed or a tool was missing (named in
# summary.txt), 2 for bad arguments.
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out=""
bench=""
window=""
total=""
dry_run=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --bench) bench="$2"; shift 2 ;;
        --window) window="$2"; shift 2 ;;
        --total) total="$2"; shift 2 ;;
        --dry-run) dry_run=1; shift ;;
        -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
        -*) echo "window.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
        *) [[ -z "$out" ]] || { echo "window.sh: one OUTDIR only ('$out', '$1')" >&2; exit 2; }
           out="$1"; shift ;;
    esac
done
[[ -n "$out" ]] || { echo "window.sh: usage: window.sh OUTDIR [--bench PATH] [--window SECONDS]" >&2; exit 2; }
if [[ -n "$window" && ! "$window" =~ ^[0-9]+$ ]]; then
    echo "window.sh: --window '$window': expected whole seconds, e.g. --window 360" >&2; exit 2
fi
if [[ -n "$total" && ! "$total" =~ ^[0-9]+$ ]]; then
    echo "window.sh: --total '$total': expected whole seconds, e.g. --total 480" >&2; exit 2
fi
total="${total:-480}"
# Steps 3-4 and the facts take about two minutes; verify gets the rest of the total.
window="${window:-$(( total > 120 ? total - 120 : 0 ))}"
if (( window + 20 > total )); then
    echo "window.sh: --window $window does not fit --total $total (verify may run 20 s past its window)" >&2; exit 2
fi
if [[ -z "$bench" ]]; then
    for c in "$repo/target/release/bench" "$here/../../bench" "$(command -v bench || true)"; do
        [[ -n "$c" && -x "$c" ]] && { bench="$c"; break; }
    done
fi
[[ -n "$bench" && -x "$bench" ]] || { echo "window.sh: no bench binary: copy target/release/bench beside scripts/ or pass --bench PATH" >&2; exit 2; }
if [[ $dry_run -eq 1 ]]; then
    exec bash "$here/verify.sh" --window "$window" --dry-run --bench "$bench" --out "$out/verify"
fi
mkdir -p "$out" || { echo "window.sh: cannot create $out" >&2; exit 2; }
out="$(cd "$out" && pwd)"
summary="$out/summary.txt"
: >"$summary"
failed=0
started=$(date +%s)
# left: seconds of --total still unspent.
left() { echo $(( started + total - $(date +%s) )); }
# cap MAX KEEP: a step's time limit, at most MAX and leaving KEEP seconds for what follows.
cap() { local l=$(( $(left) - $2 )); l=$(( l < $1 ? l : $1 )); echo $(( l < 1 ? 1 : l )); }

# step NAME LOG COMMAND...: runs it with its output in LOG, records status and seconds.
step() {
    local name="$1" log="$2"
    shift 2
    local t0 rc
    t0=$(date +%s)
    echo "window.sh: $name" >&2
    "$@" >"$log" 2>&1
    rc=$?
    printf '%-22s exit %-3s %4ss  %s\n' "$name" "$rc" "$(( $(date +%s) - t0 ))" "${log#"$out"/}" >>"$summary"
    [[ $rc -ne 0 ]] && failed=1
    return 0
}
# missing NAME WHY: a step that could not run.
missing() {
    printf '%-22s SKIPPED   %s\n' "$1" "$2" >>"$summary"
    failed=1
}

facts() {
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "host: $(hostname); $(uname -srm)"
    echo "instance: $(cat /sys/devices/virtual/dmi/id/product_name 2>/dev/null || echo unknown)"
    echo "glibc: $(ldd --version 2>&1 | head -1)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2-) x $(nproc)"
    echo "--- nvidia-smi"
    if command -v nvidia-smi >/dev/null; then
        nvidia-smi
        nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem,power.limit --format=csv
    else
        echo "nvidia-smi: not found"
    fi
    echo "--- python and torch"
    python3 --version 2>&1
    python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "available", torch.cuda.is_available())' 2>&1
    python3 -m pip list 2>/dev/null | grep -Ei '^(nvidia|torch|numpy|triton)' || echo "pip list: unavailable"
    echo "--- ncu / compute-sanitizer"
    command -v ncu || echo "ncu: not found"
    command -v compute-sanitizer || echo "compute-sanitizer: not found"
    echo "--- bench list"
    "$bench" list
}

step "1 environment" "$out/env.txt" facts
step "2 verify --window" "$out/verify.log" \
    timeout --kill-after 5 "$(cap $(( window + 20 )) 0)" \
    bash "$here/verify.sh" --window "$window" --bench "$bench" --out "$out/verify"

find_tool() {  # on PATH, else the toolkit's usual places
    command -v "$1" 2>/dev/null && return 0
    local c
    for c in /usr/local/cuda/bin/"$1" /opt/nvidia/nsight-compute/*/"$1" /usr/local/cuda/compute-sanitizer/"$1"; do
        [[ -x "$c" ]] && { echo "$c"; return 0; }
    done
    return 1
}
quick=(--budget 0.01 --warmup 0 --min-samples 2 --max-samples 2)
if ! ncu="$(find_tool ncu)"; then
    missing "3 ncu attention" "ncu (Nsight Compute) not found on PATH or under /usr/local/cuda"
elif (( $(cap 150 60) < 20 )); then
    missing "3 ncu attention" "no time left in --total ${total}s ($(left) s left, 60 s kept for memcheck)"
else
    step "3 ncu attention" "$out/ncu.log" timeout --kill-after 5 "$(cap 150 60)" "$ncu" --clock-control none \
        --kernel-name regex:flash_fwd --launch-count 1 --set full -f -o "$out/ncu-attention" \
        "$bench" run --backend cuda --workload attention --dtype bf16 --param s=4096 \
        --param d=128 --param causal=1 "${quick[@]}" --out "$out/ncu-run"
fi
if ! san="$(find_tool compute-sanitizer)"; then
    missing "4 memcheck quick" "compute-sanitizer not found on PATH or under /usr/local/cuda"
elif (( $(cap 200 5) < 20 )); then
    missing "4 memcheck quick" "no time left in --total ${total}s ($(left) s left)"
else
    step "4 memcheck quick" "$out/memcheck.log" timeout --kill-after 5 "$(cap 200 5)" "$san" --tool memcheck \
        --error-exitcode 3 "$bench" run --backend cuda --suite quick "${quick[@]}" \
        --out "$out/memcheck-run"
fi

{
    echo "total: $(( $(date +%s) - started ))s of --total ${total}s; window for verify: ${window}s"
    echo "--- verify's comparison (verify/compare.txt)"
    cat "$out/verify/compare.txt" 2>/dev/null || echo "(none: see verify.log)"
    echo "--- verify's failures"
    grep 'verify.sh: step failed\|verify.sh: .*missed\|verify.sh: ' "$out/verify.log" 2>/dev/null | tail -20
} >>"$summary"
tar -czf "$out.tar.gz" -C "$(dirname "$out")" "$(basename "$out")" \
    || { echo "window.sh: cannot write $out.tar.gz" >&2; failed=1; }
cat "$summary"
echo "window.sh: bring back $out.tar.gz" >&2
exit $failed
