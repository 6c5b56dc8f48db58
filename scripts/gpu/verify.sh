#!/usr/bin/env bash
# GPU verification run (what a user runs on a p5): bench's CUDA backend and the torch reference
# on the same GPU, the same points and the same seeded inputs, both runs written into one
# folder, then a bench/torch comparison against the issue's targets.
#
#   scripts/gpu/verify.sh [--bench PATH] [--suite standard] [--out DIR] [--instance TYPE]
#                         [--budget SECONDS] [--device N] [--targets]
#                         [--workload W] [--dtype D] [--param K=V]... [-- extra bench run args]
#   scripts/gpu/verify.sh --window [SECONDS] [--dry-run] [--bench PATH] [--out DIR] [--budget S]
#                         [--window-steps FILE]
#
# --window SECONDS (480 when no number follows) runs what fits in that many seconds, in order:
# the three target points, a bf16/fp8/tf32 matmul sweep 4096-16384, attention (causal and full,
# d64 and d128, s 1024-8192), then the standard train-mlp and train-gpt points, chosen by
# window_plan.py from the plan's FLOP counts and a conservative throughput model that includes
# the host f64 reference (window-plan.json). Each step is a `bench run` plus the torch reference
# of the same points in OUT/NN-step/ (plan.json, plan.log, bench.log, torch.log and both run
# directories). While it runs, a step starts only if its estimate fits in what is left of the
# window (else it is named as not started), and each command gets what is left plus 60 s.
# --window-steps FILE replaces the candidate list (window_plan.py --steps: a JSON
# list of {"step": NAME, "flags": [...]}, e.g. what a first window left out). --dry-run prints the choice and its estimate and runs
# nothing (no GPU or torch needed). The training checks of the torch reference use bench's f64
# reference from bench's run (--reference-run), so it is computed once per point.
#
# --workload/--dtype/--param narrow the suite for both bench and the reference (as in
# `bench run`); --targets selects just the issue's three target points (bf16 8192³ GEMM,
# causal attention b4·h32·s4096·d128 bf16, train-mlp width 4096 bf16) instead of a suite.
#
# Needs: the NVIDIA driver, python3 with torch (CUDA build) and numpy. bench loads cuBLASLt and
# NVRTC at run time; when they are not on the loader path this script adds the ones PyTorch
# ships (site-packages/nvidia/*/lib) to LD_LIBRARY_PATH. The folder receives plan.json,
# bench.log, torch.log, compare.txt and two run directories (…-cuda-… from bench and
# …-cuda-torch-… from the reference; …-cuda-torch-sdpa-cudnn/flash-… where both SDPA backends
# run). compare.txt takes, per point, the fastest torch implementation. Exit status: 0 all ok
# and all targets met, 1 a point failed or a target was missed (--window: every failed step is
# named), 2 a setup error.
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
bench=""
suite="standard"
out=""
instance=""
budget=""
device="0"
extra=()
select=()
window=""
window_steps=""
dry_run=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --bench) bench="$2"; shift 2 ;;
        --suite) suite="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --instance) instance="$2"; shift 2 ;;
        --budget) budget="$2"; shift 2 ;;
        --device) device="$2"; shift 2 ;;
        --window) if [[ "${2:-}" =~ ^[0-9]+([.][0-9]+)?$ ]]; then window="$2"; shift 2
                  else window=480; shift; fi ;;
        --dry-run) dry_run=1; shift ;;
        --window-steps) window_steps="$2"; shift 2 ;;
        --workload|--dtype|--param) select+=("$1" "$2"); shift 2 ;;
        --targets) select+=(--workload matmul,attention,train-mlp --dtype bf16 --param m=8192
                            --param s=4096 --param d=128 --param causal=1 --param width=4096)
                   shift ;;
        --) shift; extra=("$@"); break ;;
        -h|--help) sed -n '2,/^set -uo/{/^set -uo/!p;}' "$0"; exit 0 ;;
        *) echo "verify.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

die() { echo "verify.sh: $*" >&2; exit 2; }
[[ -z "$window_steps" || -n "$window" ]] || die "--window-steps goes with --window"
[[ -z "$window" || ( ${#select[@]} -eq 0 && "$suite" == standard ) ]] \
    || die "--window picks its own points from the standard suite: --suite, --workload, --dtype, --param and --targets do not go with it (--window-steps FILE gives it other steps)"
plan_args=()
[[ -n "$window_steps" ]] && plan_args+=(--steps "$window_steps")

if [[ -z "$bench" ]]; then
    for c in "$repo/target/release/bench" "$(command -v bench || true)"; do
        [[ -n "$c" && -x "$c" ]] && { bench="$c"; break; }
    done
fi
[[ -n "$bench" && -x "$bench" ]] || die "no bench binary: build one (cargo build --release) and pass --bench PATH"
command -v python3 >/dev/null || die "python3 is needed for the window plan and the torch reference"
if [[ $dry_run -eq 1 ]]; then
    [[ -n "$window" ]] || die "--dry-run goes with --window (it prints the window's plan)"
    out="${out:-$(mktemp -d)}"
    python3 "$here/window_plan.py" --bench "$bench" --window "$window" --out "$out" \
        --budget "${budget:-1}" "${plan_args[@]}" || die "the window plan failed"
    echo "verify.sh: dry run, nothing measured; plan in $out/window-plan.json" >&2
    exit 0
fi
command -v python3 >/dev/null || die "python3 is needed for the torch reference"
python3 -c "import torch, numpy" 2>/dev/null || die "python3 cannot import torch and numpy (pip install torch numpy)"

# cuBLASLt / NVRTC from PyTorch's wheels when the system has none on the loader path.
if ! ldconfig -p 2>/dev/null | grep -q 'libcublasLt.so'; then
    nvdirs="$(python3 - <<'EOF'
import glob, os
try:
    import nvidia
    roots = list(nvidia.__path__)
except ImportError:
    roots = []
dirs = set()
for r in roots:
    for lib in glob.glob(os.path.join(r, "**", "lib*.so*"), recursive=True):
        if any(k in os.path.basename(lib) for k in ("cublas", "nvrtc")):
            dirs.add(os.path.dirname(lib))
print(":".join(sorted(dirs)))
EOF
)"
    if [[ -n "$nvdirs" ]]; then
        export LD_LIBRARY_PATH="${nvdirs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        echo "verify.sh: using PyTorch's CUDA libraries: $nvdirs" >&2
    fi
fi
export CUDA_VISIBLE_DEVICES="${CUDA_VISIBLE_DEVICES:-$device}"

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
label="${instance:-$(cat /sys/devices/virtual/dmi/id/product_name 2>/dev/null || hostname)}"
label="${label//[^A-Za-z0-9.-]/_}"
out="${out:-$repo/results/runs/verify-$stamp-$label}"
mkdir -p "$out" || die "cannot create $out"
echo "verify.sh: writing into $out" >&2

"$bench" list | tee "$out/bench-list.txt" >&2
if [[ -z "$window" ]]; then
    # The plan lists the suite's points for the torch reference (the same points bench runs);
    # a window writes one per step instead.
    "$bench" plan --backend cuda --suite "$suite" "${select[@]}" --out "$out/plan.json" \
        || die "bench plan failed"
fi

common=()
[[ -n "$instance" ]] && common+=(--instance "$instance")
[[ -n "$budget" ]] && common+=(--budget "$budget")

bench_run_in() {  # the bench run directory in $1
    ls -d "$1"/*-cuda-* 2>/dev/null | grep -v -- '-cuda-torch' | head -1
}

if [[ -n "$window" ]]; then
    [[ -n "$budget" ]] || common+=(--budget 1)
    python3 "$here/window_plan.py" --bench "$bench" --window "$window" --out "$out" \
        --budget "${budget:-1}" "${plan_args[@]}" | tee "$out/window-plan.txt" \
        || die "the window plan failed"
    failed=()
    n=0
    # The step list comes on fd 3, so that nothing a step runs can read it from stdin.
    # The window is held to while it runs: a step starts only if its estimate fits in what is
    # left (the model is meant to be conservative; a slower machine loses the last steps, not
    # the window), and each command gets what is left plus a minute's grace.
    win_s=${window%.*}
    grace=60
    limit() { local l=$((win_s - SECONDS + grace)); echo $((l < grace ? grace : l)); }
    failure() {  # failure STEP WHAT RC LOG
        if [[ $3 -eq 124 || $3 -eq 137 ]]; then
            failed+=("$1 ($2 stopped at the window's end, see $4)")
        else
            failed+=("$1 ($2 exit $3, see $4)")
        fi
    }
    while IFS=$'\t' read -r -u 3 name est flags; do
        n=$((n + 1))
        step="$(printf '%02d' "$n")-$name"
        if [[ $((SECONDS + est)) -gt $win_s ]]; then
            failed+=("$step (not started: ${SECONDS} s of the ${window} s window gone, estimate ${est} s)")
            continue
        fi
        dir="$out/$step"
        mkdir -p "$dir"
        read -r -a sel <<<"$flags"
        echo "verify.sh: step $step (${SECONDS} s in, estimate ${est} s): ${sel[*]}" >&2
        "$bench" plan --backend cuda --suite standard "${sel[@]}" --out "$dir/plan.json" \
            </dev/null >"$dir/plan.log" 2>&1 \
            || { failed+=("$step (bench plan, see $dir/plan.log)"); continue; }
        timeout -k 10 "$(limit)" "$bench" run --backend cuda --suite standard --out "$dir" \
            "${sel[@]}" "${common[@]}" "${extra[@]}" </dev/null >"$dir/bench.log" 2>&1
        rc=$?
        [[ $rc -ne 0 ]] && failure "$step" "bench run" $rc "$dir/bench.log"
        ref=()
        br="$(bench_run_in "$dir")"
        [[ -n "$br" ]] && ref=(--reference-run "$br")
        timeout -k 10 "$(limit)" python3 "$here/torch_reference.py" --plan "$dir/plan.json" \
            --out "$dir" --device 0 "${common[@]}" "${ref[@]}" </dev/null >"$dir/torch.log" 2>&1
        rc=$?
        [[ $rc -ne 0 ]] && failure "$step" "torch reference" $rc "$dir/torch.log"
    done 3< <(python3 -c '
import json, math, sys
for s in json.load(open(sys.argv[1]))["steps"]:
    print(s["step"] + "\t" + str(math.ceil(s["estimate_s"])) + "\t" + " ".join(s["flags"]))' \
        "$out/window-plan.json")
    [[ $n -eq 0 ]] && failed+=("window plan (nothing fits a ${window} s window, see $out/window-plan.txt)")
    python3 "$here/compare_runs.py" "$out" | tee "$out/compare.txt"
    cmp=${PIPESTATUS[0]}
    [[ $cmp -ge 2 ]] && failed+=("compare_runs.py (exit $cmp)")
    if [[ ${#failed[@]} -gt 0 ]]; then
        printf 'verify.sh: step failed: %s\n' "${failed[@]}" >&2
        exit 1
    fi
    [[ $cmp -ne 0 ]] && { echo "verify.sh: a target was missed (see $out/compare.txt)" >&2; exit 1; }
    echo "verify.sh: window run complete in $out" >&2
    exit 0
fi

status=0
"$bench" run --backend cuda --suite "$suite" --out "$out" "${select[@]}" "${common[@]}" "${extra[@]}" \
    2>&1 | tee "$out/bench.log"
rc=${PIPESTATUS[0]}
[[ $rc -eq 2 ]] && die "bench could not run (see $out/bench.log)"
[[ $rc -ne 0 ]] && status=1

# The reference sees the same GPU (CUDA_VISIBLE_DEVICES above), so its index is 0.
ref=()
br="$(bench_run_in "$out")"
[[ -n "$br" ]] && ref=(--reference-run "$br")
python3 "$here/torch_reference.py" --plan "$out/plan.json" --out "$out" --device 0 \
    "${common[@]}" "${ref[@]}" 2>&1 | tee "$out/torch.log"
rc=${PIPESTATUS[0]}
[[ $rc -ge 2 ]] && die "the torch reference could not run (see $out/torch.log)"
[[ $rc -ne 0 ]] && status=1

bench_run="$(bench_run_in "$out")"
torch_runs=($(ls -d "$out"/*-cuda-torch-* 2>/dev/null))
[[ -n "$bench_run" && ${#torch_runs[@]} -gt 0 ]] || die "a run directory is missing in $out"
torch_run="${torch_runs[*]}"
python3 "$here/compare_runs.py" "$bench_run" "${torch_runs[@]}" | tee "$out/compare.txt"
[[ ${PIPESTATUS[0]} -ne 0 ]] && status=1
echo "verify.sh: bench run $bench_run, torch run $torch_run, comparison $out/compare.txt" >&2
exit $status
