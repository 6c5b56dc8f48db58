#!/usr/bin/env python3
"""Vendor reference for bench's CUDA backend: the same points measured with PyTorch.

For every point of a bench plan (``bench plan --backend cuda --suite S --out plan.json``
lists a suite's points; the plan is backend-independent) this script runs the vendor's best
path on the same GPU -- torch.matmul (torch._scaled_mm for fp8 e4m3), torch SDPA, an
equivalent torch MLP training step (nn.Linear layers, cross-entropy, torch.optim.SGD with
momentum 0.9, lr 0.01), and an equivalent torch GPT training step for train-gpt (embeddings,
pre-norm blocks with causal SDPA and a tanh-GELU MLP, tied head, cross-entropy,
torch.optim.AdamW lr 1e-3, betas 0.9/0.95, eps 1e-8, weight decay 0.01), and prefill and
decode of the same decoder with SDPA and a device KV cache (scripts/gpu/torch_infer.py) -- times it with CUDA events after an L2 flush (a memset of an
L2-sized buffer, as bench does), samples until the median's 95% interval is within the
target (bounded by min/max samples and a per-point budget), checks the output against a
float64 reference on sampled rows, and writes a bench.run/1 run.json with backend kind
``cuda`` and implementation ``torch``, so ``bench report`` shows each bench kernel as a
fraction of the vendor's.

Inputs are bench's own seeded inputs, bit for bit (kernels/src/rng.rs re-implemented with
numpy): matmul A/B, attention Q/K/V, MLP parameters and batches, GPT parameters and the
Markov-chain token pool. Training points are checked on their first steps' losses against
bench's own f64 reference trajectory, read from bench's run of the same points
(``--reference-run``: run.json's ``check.reference_losses``, verify.sh passes it), so the host
reference is paid once per point; a point that run lacks falls back to a float64 replay on the
host (numpy; for train-gpt a hand-written backward, as kernels/src/gpt_ref.rs), and
``check.reference`` says which was used. MLP labels (argmax of a
random teacher) are computed in float64 here and in float32 in bench, so a near-tie may give
a different label; that cannot change a timing.

Attention: the point's record names the SDPA backend torch's dispatcher picks
(``sdpa_backend``); where both cuDNN and flash SDPA run the point, each is also timed on its
own, into two more run directories with implementations ``torch-sdpa-cudnn`` and
``torch-sdpa-flash``, so the report's best-of rule takes the faster. TF32 is switched with
``torch.backends.*.fp32_precision`` on torch >= 2.9 (``allow_tf32`` before).

``--dry-run`` needs neither torch nor a GPU: it writes a run.json whose points are all
``skipped`` with reason "dry run: not a measurement" and ``backend.simulated: true``, for
testing the file format and the plan handling. It refuses to write under results/runs.
"""

import argparse
import datetime as _dt
import functools
import json
import math
import os
import platform
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_infer  # noqa: E402  (prefill and decode)

SCHEMA = "bench.run/1"
LEARNING_RATE = 0.01
MOMENTUM = 0.9
BATCH_POOL = 4
MASK64 = (1 << 64) - 1

# Tolerances: the same tables as kernels/src/{matmul,attention,mlp,gpt}.rs.
TOLERANCE = {
    "matmul": {"f32": 1e-4, "tf32": 1e-2, "bf16": 1e-2, "f16": 2e-3, "fp8_e4m3": 5e-2},
    "attention": {"f32": 2e-4, "tf32": 1e-2, "bf16": 3e-2, "f16": 5e-3, "fp8_e4m3": 1e-1},
    "train-mlp": {"f32": 1e-4, "tf32": 5e-3, "f16": 1e-2, "bf16": 5e-2, "fp8_e4m3": 5e-2},
    "train-gpt": {"f32": 1e-4, "tf32": 5e-3, "f16": 1e-2, "bf16": 1e-2, "fp8_e4m3": 1e-2},
}
DTYPE_BYTES = {"f32": 4, "tf32": 4, "bf16": 2, "f16": 2, "fp8_e4m3": 1}
FULL_CHECK_MACS = 1 << 27
WORKLOADS = ("matmul", "attention", "train-mlp", "train-gpt", "prefill", "decode")
INFER = ("prefill", "decode")  # scripts/gpu/torch_infer.py
for _w in INFER:
    TOLERANCE[_w] = torch_infer.TOLERANCE  # kernels/src/infer.rs logits_tolerance

# train-gpt constants: kernels/src/gpt.rs.
GPT_LR = 1e-3
GPT_BETA1 = 0.9
GPT_BETA2 = 0.95
GPT_ADAM_EPS = 1e-8
GPT_WEIGHT_DECAY = 0.01
GPT_LN_EPS = 1e-5
GPT_OPTIMIZER = ("adamw(lr=1e-3,beta1=0.9,beta2=0.95,eps=1e-8,weight_decay=0.01,decoupled,"
                 "all-params)")
GELU_C = math.sqrt(2.0 / math.pi)


# ---------------------------------------------------------------- point accounting (as bench)

def mlp_parameters(p):
    w = p["width"]
    return p["layers"] * (w * w + w) + w * p["classes"] + p["classes"]


def gpt_param_specs(p):
    """TrainGpt::param_specs: every parameter's name and shape, in the order bench uses."""
    d, t, v = p["d_model"], p["seq"], p["vocab"]
    f = 4 * d
    specs = [("wte", (v, d)), ("wpe", (t, d))]
    for layer in range(p["layers"]):
        for name, shape in (("ln1_g", (d,)), ("ln1_b", (d,)), ("w_qkv", (d, 3 * d)),
                            ("b_qkv", (3 * d,)), ("w_o", (d, d)), ("b_o", (d,)),
                            ("ln2_g", (d,)), ("ln2_b", (d,)), ("w_fc", (d, f)), ("b_fc", (f,)),
                            ("w_proj", (f, d)), ("b_proj", (d,))):
            specs.append((f"h{layer}.{name}", shape))
    specs += [("lnf_g", (d,)), ("lnf_b", (d,))]
    return specs


def gpt_parameters(p):
    return sum(math.prod(shape) for _, shape in gpt_param_specs(p))


def gpt_flops(p):
    """TrainGpt::flops: (6 x matmul parameters + 12 x layers x d_model x seq) per token."""
    matmul_params = gpt_parameters(p) - p["seq"] * p["d_model"]
    per_token = 6.0 * float(matmul_params) + 12.0 * float(p["layers"] * p["d_model"] * p["seq"])
    return per_token * float(p["batch"] * p["seq"])


def flops(workload, p):
    if workload == "matmul":
        return 2.0 * p["m"] * p["n"] * p["k"]
    if workload == "attention":
        full = 4.0 * p["b"] * p["h"] * float(p["s"]) ** 2 * p["d"]
        return full / 2.0 if p["causal"] else full
    if workload == "train-mlp":
        return 6.0 * mlp_parameters(p) * p["batch"]
    if workload == "train-gpt":
        return gpt_flops(p)
    if workload in INFER:
        return torch_infer.flops(workload, p)
    raise ValueError(f"no torch reference for workload {workload}")


def bytes_moved(workload, p, dtype):
    e = DTYPE_BYTES[dtype]
    if workload in INFER:
        m = torch_infer.model(p, torch_infer.positions_of(p, workload))
        return torch_infer.bytes_moved(workload, p, float(e), gpt_parameters(m))
    if workload == "matmul":
        return float(e * (p["m"] * p["k"] + p["k"] * p["n"] + p["m"] * p["n"]))
    if workload == "attention":
        return 4.0 * p["b"] * p["h"] * p["s"] * p["d"] * e
    if workload == "train-gpt":
        tokens = float(p["batch"] * p["seq"])
        acts = tokens * float(16 * p["d_model"] * p["layers"] + p["vocab"])
        return float(e) * (8.0 * float(gpt_parameters(p)) + 2.0 * acts)
    acts = p["batch"] * (p["width"] * p["layers"] + p["classes"])
    return float(e * (5.0 * mlp_parameters(p) + 2.0 * acts))


def items(workload, p):
    if workload in INFER:
        return torch_infer.items(workload, p)
    if workload == "matmul":
        return 1.0, "matmuls"
    if workload == "attention":
        return float(p["b"] * p["s"]), "tokens"
    if workload == "train-gpt":
        return float(p["batch"] * p["seq"]), "tokens"
    return float(p["batch"]), "samples"


def check_steps(workload, p):
    """Leading training steps checked against the float64 replay (as bench)."""
    if workload == "train-gpt":
        return 4 if gpt_flops(p) <= 2e9 else 2
    return 4 if mlp_parameters(p) * p["batch"] <= (1 << 30) else 2


def checked_rows(total, per_row_macs, minimum):
    rows = max(FULL_CHECK_MACS // max(per_row_macs, 1), minimum)
    rows = min(rows, total)
    if rows >= total:
        return list(range(total))
    out = sorted({i * (total - 1) // (rows - 1) for i in range(rows)})
    return out


# ---------------------------------------------------------------- bench's seeded inputs

def stream_seed(seed, name):
    h = 0xCBF29CE484222325
    for b in name.encode():
        h ^= b
        h = (h * 0x100000001B3) & MASK64
    rot = ((h << 17) | (h >> 47)) & MASK64
    return (seed ^ rot) & MASK64


@functools.lru_cache(maxsize=4)
def fill(seed, name, n, scale):
    """Rng::for_stream(seed, name).fill(n, scale): SplitMix64, uniform in [-scale, scale),
    zeros skipped (a zero draws again, shifting the stream). Cached (read-only result): the
    same matrices serve every dtype of a shape."""
    import numpy as np

    state0 = np.uint64(stream_seed(seed, name))
    out = np.empty(0, dtype=np.float32)
    start = 0
    lo, width = np.float32(-scale), np.float32(scale) - np.float32(-scale)
    while out.size < n:
        want = n - out.size + 64
        with np.errstate(over="ignore"):
            idx = np.arange(start + 1, start + want + 1, dtype=np.uint64)
            z = state0 + idx * np.uint64(0x9E3779B97F4A7C15)
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            z = z ^ (z >> np.uint64(31))
        f = ((z >> np.uint64(11)).astype(np.float64) * (1.0 / float(1 << 53))).astype(np.float32)
        v = lo + width * f
        v = v[v != 0]
        out = np.concatenate([out, v])
        start += want
    out = out[:n]
    out.flags.writeable = False
    return out


def u64_stream(seed, name, n):
    """The first n draws of Rng::for_stream(seed, name).next_u64(), as Python ints."""
    import numpy as np

    state0 = np.uint64(stream_seed(seed, name))
    with np.errstate(over="ignore"):
        z = state0 + np.arange(1, n + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return z.tolist()


def gpt_tokens(seed, p):
    """TrainGpt::inputs' token pool [BATCH_POOL, batch, seq + 1] (int32): a Markov chain from
    the stream train-gpt/tokens, the next token (7t + 3) mod vocab when Rng::below(4) < 3, else
    Rng::below(vocab); below(n) = (next_u64 * n) >> 64."""
    import numpy as np

    b, t, v = p["batch"], p["seq"], p["vocab"]
    rows = BATCH_POOL * b
    draws = u64_stream(seed, "train-gpt/tokens", rows * (2 * (t + 1) + 1))  # an upper bound
    pos = 0
    out = []
    for _ in range(rows):
        tok = (draws[pos] * v) >> 64
        pos += 1
        for _ in range(t + 1):
            out.append(tok)
            if (draws[pos] * 4) >> 64 < 3:
                pos += 1
                tok = (7 * tok + 3) % v
            else:
                tok = (draws[pos + 1] * v) >> 64
                pos += 2
    return np.asarray(out, dtype=np.int32).reshape(BATCH_POOL, b, t + 1)


def round_to(values, dtype):
    """kernels::DType::round on float32 values (bf16/f16 round to nearest even)."""
    import numpy as np

    x = np.asarray(values, dtype=np.float32)
    if dtype == "f32":
        return x
    if dtype == "f16":
        return x.astype(np.float16).astype(np.float32)
    if dtype in ("bf16", "tf32"):
        drop = 16 if dtype == "bf16" else 13
        u = x.view(np.uint32).astype(np.uint64)
        half = np.uint64(1 << (drop - 1))
        lsb = (u >> np.uint64(drop)) & np.uint64(1)
        r = ((u + half - np.uint64(1) + lsb) & np.uint64(~((1 << drop) - 1) & 0xFFFFFFFF))
        r = r.astype(np.uint32).view(np.float32)
        return np.where(np.isfinite(x), r, x)
    if dtype == "fp8_e4m3":
        a = np.minimum(np.abs(x), np.float32(448.0))
        e = np.floor(np.log2(np.maximum(a, np.float32(2.0 ** -6)))).astype(np.float32)
        step = np.where(a < 2.0 ** -6, np.float32(2.0 ** -9), np.exp2(e - 3).astype(np.float32))
        r = (np.round(a / step) * step).astype(np.float32)  # numpy rounds half to even
        return np.copysign(np.minimum(r, np.float32(448.0)), x).astype(np.float32)
    raise ValueError(dtype)


def point_inputs(workload, p, dtype, seed):
    """bench's inputs for a point, as float32 numpy arrays (and int labels)."""
    import numpy as np

    if workload in INFER:
        return torch_infer.point_inputs(workload, p, dtype, seed, sys.modules[__name__])
    if workload == "matmul":
        m, n, k = p["m"], p["n"], p["k"]
        return {
            "a": round_to(fill(seed, "matmul/a", m * k, 1.0), dtype).reshape(m, k),
            "b": round_to(fill(seed, "matmul/b", k * n, 1.0), dtype).reshape(k, n),
        }
    if workload == "attention":
        shape = (p["b"], p["h"], p["s"], p["d"])
        size = int(np.prod(shape))
        return {
            name: round_to(fill(seed, f"attention/{name}", size, 1.0), dtype).reshape(shape)
            for name in ("q", "k", "v")
        }
    if workload == "train-gpt":
        out = {}
        # f32 arithmetic, as kernels/src/gpt.rs computes the scale: 0.02 * sqrt(3) (std 0.02)
        scale2 = float(np.float32(0.02) * np.sqrt(np.float32(3.0)))
        for name, shape in gpt_param_specs(p):
            n = math.prod(shape)
            if name.endswith("_g"):
                values = np.ones(n, dtype=np.float32)
            else:
                values = fill(seed, f"train-gpt/{name}", n, scale2 if len(shape) == 2 else 0.01)
            out[name] = round_to(values, dtype).reshape(shape)
        out["tokens"] = gpt_tokens(seed, p)
        return out
    w, b, c, layers = p["width"], p["batch"], p["classes"], p["layers"]
    out = {}
    shapes = []
    for i in range(layers):
        shapes += [(f"w{i}", (w, w)), (f"b{i}", (w,))]
    shapes += [("w_out", (w, c)), ("b_out", (c,))]
    for name, shape in shapes:
        # f32 arithmetic, as kernels/src/mlp.rs computes it
        scale = np.sqrt(np.float32(6.0) / np.float32(shape[0])) if len(shape) == 2 else 0.01
        scale = float(np.float32(scale))
        n = int(np.prod(shape))
        out[name] = round_to(fill(seed, f"train-mlp/{name}", n, scale), dtype).reshape(shape)
    x = round_to(fill(seed, "train-mlp/x", BATCH_POOL * b * w, 1.0), dtype)
    teacher = fill(seed, "train-mlp/teacher", w * c, 1.0).reshape(w, c)
    out["x"] = x.reshape(BATCH_POOL, b, w)
    out["y"] = np.argmax(x.reshape(-1, w).astype(np.float64) @ teacher.astype(np.float64), axis=1)
    out["y"] = out["y"].astype(np.int64).reshape(BATCH_POOL, b)
    return out


# ---------------------------------------------------------------- statistics (as harness/src/stats.rs)

def quantile_sorted(s, q):
    pos = min(max(q, 0.0), 1.0) * (len(s) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def relative_ci_halfwidth(samples):
    s = sorted(samples)
    n = len(s)
    if n < 3:
        lo, hi = s[0], s[-1]
    else:
        half = 1.96 * math.sqrt(n) / 2.0
        lo = s[max(int(math.floor(n / 2.0 - half)), 0)]
        hi = s[min(int(math.ceil(n / 2.0 + half)), n - 1)]
    m = quantile_sorted(s, 0.5)
    return float("inf") if m <= 0 else (hi - lo) / 2.0 / m


def summarize(samples, seed, resamples=2000):
    """Median, mean, stdev, MAD, Tukey outliers and a percentile-bootstrap 95% interval of the
    median (numpy's generator, so not the same resamples as bench's, the same method)."""
    n = len(samples)
    s = sorted(samples)
    mean = sum(samples) / n
    var = sum((x - mean) ** 2 for x in samples) / (n - 1) if n > 1 else 0.0
    med = quantile_sorted(s, 0.5)
    mad = quantile_sorted(sorted(abs(x - med) for x in samples), 0.5)
    q1, q3 = quantile_sorted(s, 0.25), quantile_sorted(s, 0.75)
    iqr = q3 - q1
    outliers = sum(1 for x in s if x < q1 - 1.5 * iqr or x > q3 + 1.5 * iqr)
    if n >= 2:
        import numpy as np

        rng = np.random.default_rng(seed)
        data = np.asarray(samples, dtype=np.float64)
        meds = []
        for start in range(0, resamples, 100):  # chunks keep memory at 100·n values
            idx = rng.integers(0, n, size=(min(100, resamples - start), n))
            meds.extend(np.median(data[idx], axis=1).tolist())
        meds.sort()
        lo, hi = quantile_sorted(meds, 0.025), quantile_sorted(meds, 0.975)
    else:
        lo = hi = med
    return {
        "n": n, "median_s": med, "mean_s": mean, "stdev_s": math.sqrt(var), "mad_s": mad,
        "ci95_low_s": min(lo, med), "ci95_high_s": max(hi, med), "outliers": outliers,
    }


# ---------------------------------------------------------------- provenance

def now():
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def host_info(instance):
    cpu = platform.processor() or platform.machine()
    info = read("/proc/cpuinfo")
    if info:
        for line in info.splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = 0
    meminfo = read("/proc/meminfo")
    if meminfo:
        for line in meminfo.splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    source = "cli"
    if instance is None:
        vendor = read("/sys/devices/virtual/dmi/id/sys_vendor") or ""
        product = read("/sys/devices/virtual/dmi/id/product_name")
        if "Amazon" in vendor and product:
            instance, source = product, "dmi"
        else:
            source = "unknown: not an EC2 instance (pass --instance TYPE to price this run)"
    osname = platform.platform()
    return {
        "hostname": socket.gethostname(), "cpu": cpu, "cores": os.cpu_count() or 1,
        "memory_bytes": mem, "os": osname, "instance_type": instance,
        "instance_type_source": source,
    }


def git_commit():
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(["git", "-C", here, "rev-parse", "HEAD"], capture_output=True,
                             text=True, check=True).stdout.strip()
        return out or "unknown"
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def relevant_env():
    prefixes = ("BENCH_", "CUDA_", "TORCH_", "NVIDIA_", "CUBLAS", "PYTORCH_")
    return {k: v for k, v in os.environ.items() if k.startswith(prefixes)}


# ---------------------------------------------------------------- torch measurement

def _from_numpy(torch, array):
    """torch.from_numpy, copying read-only (cached) arrays first."""
    return torch.from_numpy(array if array.flags.writeable else array.copy())


def torch_version(torch):
    """(major, minor) of torch.__version__, (0, 0) when it does not parse."""
    try:
        major, minor = torch.__version__.split("+")[0].split(".")[:2]
        return int(major), int(minor)
    except (ValueError, AttributeError):
        return (0, 0)


def set_tf32(torch, on):
    """TF32 for float32 matmuls and cuDNN on or off: fp32_precision ("tf32"/"ieee") on torch
    >= 2.9, where allow_tf32 is deprecated; allow_tf32 before. Returns the setting's name."""
    if torch_version(torch) >= (2, 9) and hasattr(torch.backends.cuda.matmul, "fp32_precision"):
        value = "tf32" if on else "ieee"
        torch.backends.cuda.matmul.fp32_precision = value
        conv = getattr(getattr(torch.backends, "cudnn", None), "conv", None)
        if conv is not None and hasattr(conv, "fp32_precision"):
            conv.fp32_precision = value
        return f"fp32_precision={value}"
    torch.backends.cuda.matmul.allow_tf32 = on
    return f"allow_tf32={on}"


# SDPA backends timed as implementations of their own: (implementation, SDPBackend name).
SDPA_FORCED = (("torch-sdpa-cudnn", "CUDNN_ATTENTION"), ("torch-sdpa-flash", "FLASH_ATTENTION"))
SDPA_NAMES = {0: "MATH", 1: "FLASH_ATTENTION", 2: "EFFICIENT_ATTENTION", 3: "CUDNN_ATTENTION",
              4: "OVERRIDEABLE"}


def sdpa_choice(torch, q, k, v, causal):
    """The SDPA backend torch's dispatcher picks for these inputs (torch._fused_sdp_choice),
    or why it cannot be told."""
    try:
        code = int(torch._fused_sdp_choice(q, k, v, None, 0.0, causal))
        return SDPA_NAMES.get(code, f"backend {code}")
    except (AttributeError, RuntimeError, TypeError) as e:
        return f"unknown ({type(e).__name__})"


def sdpa_kernel(torch, name):
    """A context forcing one SDPA backend (torch.nn.attention.sdpa_kernel), or None when this
    torch has no such backend."""
    import importlib

    try:
        attention = importlib.import_module("torch.nn.attention")
        return attention.sdpa_kernel(getattr(attention.SDPBackend, name))
    except (ImportError, AttributeError):
        return None


class Torch:
    """Everything that needs torch and a GPU."""

    def __init__(self, device_index):
        import torch

        if not torch.cuda.is_available():
            raise SystemExit("error: torch sees no CUDA device (torch.cuda.is_available() is "
                             "False); run on a GPU machine or use --dry-run")
        self.torch = torch
        self.dev = torch.device("cuda", device_index)
        torch.cuda.set_device(self.dev)
        props = torch.cuda.get_device_properties(self.dev)
        self.props = props
        l2 = int(getattr(props, "L2_cache_size", 0) or 0)
        self.flush = torch.empty(max(l2, 1 << 20), dtype=torch.uint8, device=self.dev)
        self.start = torch.cuda.Event(enable_timing=True)
        self.end = torch.cuda.Event(enable_timing=True)

    def dtype(self, name):
        t = self.torch
        return {"f32": t.float32, "tf32": t.float32, "bf16": t.bfloat16, "f16": t.float16,
                "fp8_e4m3": t.float8_e4m3fn}[name]

    def tensor(self, array, dtype):
        t = _from_numpy(self.torch, array).to(self.dev)
        return t.to(self.dtype(dtype))

    def timed(self, fn):
        self.flush.zero_()
        self.start.record()
        fn()
        self.end.record()
        self.end.synchronize()
        return self.start.elapsed_time(self.end) / 1e3

    def info(self):
        t = self.torch
        p = self.props
        extra = {
            "torch": t.__version__,
            "torch_cuda": str(t.version.cuda),
            "cudnn": str(t.backends.cudnn.version()),
            "compute_capability": f"{p.major}.{p.minor}",
            "sm_count": str(p.multi_processor_count),
            "memory_bytes": str(p.total_memory),
            "l2_bytes": str(getattr(p, "L2_cache_size", "unknown")),
            "gpu_index": str(self.dev.index),
            "cache_between_samples": f"L2 flushed before every sample: zero_() of a "
                                     f"{self.flush.numel()} byte buffer, outside the timed events",
        }
        driver = None
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version,clocks.max.sm,"
                                  "clocks.max.mem", "--format=csv,noheader",
                                  f"--id={self.dev.index}"], capture_output=True, text=True,
                                 timeout=20)
            if out.returncode == 0 and out.stdout.strip():
                drv, sm, mem = [x.strip() for x in out.stdout.strip().split(",")[:3]]
                driver = drv
                extra["sm_clock_max"] = sm
                extra["mem_clock_max"] = mem
        except (OSError, subprocess.SubprocessError, ValueError):
            extra["nvidia_smi"] = "unavailable"
        return {
            "device": p.name, "device_count": t.cuda.device_count(),
            "runtime_version": f"torch {t.__version__} (CUDA {t.version.cuda}, cuBLAS via torch)",
            "driver_version": driver, "extra": extra,
        }


def prepare_matmul(tc, p, dtype, x):
    torch = tc.torch
    set_tf32(torch, dtype == "tf32")
    a, b = tc.tensor(x["a"], dtype), tc.tensor(x["b"], dtype)
    if dtype == "fp8_e4m3":
        one = torch.ones((), dtype=torch.float32, device=tc.dev)
        bt = b.t().contiguous().t()  # column-major B, as _scaled_mm requires

        def run():
            out = torch._scaled_mm(a, bt, scale_a=one, scale_b=one, out_dtype=torch.bfloat16,
                                   use_fast_accum=False)
            return out[0] if isinstance(out, tuple) else out  # torch < 2.5 returned (out, amax)
    else:
        def run():
            return torch.matmul(a, b)
    return run


def prepare_attention(tc, p, dtype, x):
    torch = tc.torch
    q, k, v = (tc.tensor(x[n], dtype) for n in ("q", "k", "v"))
    causal = bool(p["causal"])

    def run():
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)
    # which backend serves it: the forced one (SDPA_FORCED) inside sdpa_kernel, else the
    # dispatcher's choice
    run.sdpa_backend = sdpa_choice(torch, q, k, v, causal)
    return run


class MlpStep:
    def __init__(self, tc, p, dtype, x):
        torch = tc.torch
        set_tf32(torch, dtype == "tf32")
        self.torch = torch
        self.params = []
        for i in range(p["layers"]):
            self.params += [tc.tensor(x[f"w{i}"], dtype), tc.tensor(x[f"b{i}"], dtype)]
        self.params += [tc.tensor(x["w_out"], dtype), tc.tensor(x["b_out"], dtype)]
        for t in self.params:
            t.requires_grad_(True)
        self.layers = p["layers"]
        self.x = tc.tensor(x["x"], dtype)
        self.y = _from_numpy(torch, x["y"]).to(tc.dev)
        self.opt = torch.optim.SGD(self.params, lr=LEARNING_RATE, momentum=MOMENTUM)
        self.step = 0
        self.loss_dev = []

    def __call__(self):
        torch = self.torch
        slot = self.step % BATCH_POOL
        h = self.x[slot]
        for i in range(self.layers):
            h = torch.relu(torch.addmm(self.params[2 * i + 1], h, self.params[2 * i]))
        logits = torch.addmm(self.params[-1], h, self.params[-2])
        loss = torch.nn.functional.cross_entropy(logits.float(), self.y[slot])
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.loss_dev.append(loss.detach())
        self.step += 1

    def losses(self):
        return [float(v) for v in self.loss_dev]


def adamw(torch, params):
    """torch.optim.AdamW with train-gpt's constants: the fused CUDA kernel where this torch
    has it, else the default (foreach) implementation. Returns (optimizer, description)."""
    kw = dict(lr=GPT_LR, betas=(GPT_BETA1, GPT_BETA2), eps=GPT_ADAM_EPS,
              weight_decay=GPT_WEIGHT_DECAY)
    try:
        return torch.optim.AdamW(params, fused=True, **kw), "torch.optim.AdamW(fused=True)"
    except (TypeError, RuntimeError, ValueError) as e:
        why = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
        return torch.optim.AdamW(params, **kw), f"torch.optim.AdamW (fused unavailable: {why})"


class GptStep:
    """One train-gpt training step in torch, the model of kernels/src/gpt.rs: token and
    position embeddings, pre-norm blocks (x += W_o attn(LN1 x); x += W_proj gelu_tanh(W_fc LN2
    x)) with causal SDPA, a final LayerNorm, the head tied to the token embedding, mean
    cross-entropy (in float32), AdamW on every parameter. Parameters are held in the point's
    dtype (f32 for tf32, with TF32 matmuls allowed), as MlpStep does, and so is AdamW's state:
    in f16 the second moment underflows and the step diverges within a few steps (tried with
    torch on the CPU), so an f16 point fails its check (no suite has one)."""

    def __init__(self, tc, p, dtype, x):
        torch = tc.torch
        set_tf32(torch, dtype == "tf32")
        self.torch = torch
        self.p = p
        self.P = {}
        for name, _ in gpt_param_specs(p):
            self.P[name] = tc.tensor(x[name], dtype).requires_grad_(True)
        self.tokens = _from_numpy(torch, x["tokens"].astype("int64")).to(tc.dev)
        self.opt, self.optimizer = adamw(torch, list(self.P.values()))
        self.step = 0
        self.loss_dev = []

    def __call__(self):
        torch = self.torch
        F = torch.nn.functional
        P, p = self.P, self.p
        b, t, d, h = p["batch"], p["seq"], p["d_model"], p["heads"]
        tok = self.tokens[self.step % BATCH_POOL]
        x = F.embedding(tok[:, :-1], P["wte"]) + P["wpe"]
        for layer in range(p["layers"]):
            W = _layer_params(P, layer)
            a = F.layer_norm(x, (d,), W("ln1_g"), W("ln1_b"), eps=GPT_LN_EPS).view(b * t, d)
            qkv = torch.addmm(W("b_qkv"), a, W("w_qkv")).view(b, t, 3, h, d // h)
            q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [b, h, t, d/h]
            att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            att = att.transpose(1, 2).reshape(b * t, d)
            x = x + torch.addmm(W("b_o"), att, W("w_o")).view(b, t, d)
            c = F.layer_norm(x, (d,), W("ln2_g"), W("ln2_b"), eps=GPT_LN_EPS).view(b * t, d)
            u = F.gelu(torch.addmm(W("b_fc"), c, W("w_fc")), approximate="tanh")
            x = x + torch.addmm(W("b_proj"), u, W("w_proj")).view(b, t, d)
        xf = F.layer_norm(x, (d,), P["lnf_g"], P["lnf_b"], eps=GPT_LN_EPS).view(b * t, d)
        logits = xf @ P["wte"].t()
        loss = F.cross_entropy(logits.float(), tok[:, 1:].reshape(-1))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.loss_dev.append(loss.detach())
        self.step += 1

    def losses(self):
        return [float(v) for v in self.loss_dev]


# kernels::check::DESCENT_FACTOR: the descent over the checked steps must match the
# reference's within this multiple of the per-step tolerance (relative to the descent).
DESCENT_FACTOR = 20.0


def descent_failure(got, ref, tol):
    """bench's check_losses, second criterion: the loss must fall over the checked steps
    (L0 - L_last) by the reference's amount within DESCENT_FACTOR x tol, relative, when the
    reference falls by at least 1e-4 of L0. Returns why it fails, or None."""
    if len(ref) < 2 or len(got) < len(ref):
        return None
    want, have = ref[0] - ref[-1], got[0] - got[len(ref) - 1]
    if abs(want) < 1e-4 * abs(ref[0]):
        return None
    d = abs(have - want) / abs(want)
    if d <= DESCENT_FACTOR * tol:
        return None
    return (f"the loss fell by {have:.6f} over steps 1-{len(ref)} where the reference fell by "
            f"{want:.6f} (relative error {d:.3e}, tolerance {DESCENT_FACTOR * tol:.1e})")


def rel_error(out, ref):
    """bench's metric: max |out − ref| / (|ref| + rms(ref)), on float64 tensors."""
    rms = ref.pow(2).mean().sqrt()
    err = ((out - ref).abs() / (ref.abs() + rms)).max()
    return float(err)


def check_matmul(tc, p, x, out):
    torch = tc.torch
    rows = checked_rows(p["m"], p["n"] * p["k"], 4)
    a = _from_numpy(torch, x["a"][rows]).double().to(tc.dev)
    b = _from_numpy(torch, x["b"]).double().to(tc.dev)
    return rel_error(out[rows].double(), a @ b), len(rows) * p["n"]


def check_attention(tc, p, x, out):
    torch = tc.torch
    rows = checked_rows(p["s"], p["b"] * p["h"] * p["s"] * p["d"] * 2, 2)
    q = _from_numpy(torch, x["q"]).double().to(tc.dev)[:, :, rows]
    k = _from_numpy(torch, x["k"]).double().to(tc.dev)
    v = _from_numpy(torch, x["v"]).double().to(tc.dev)
    scores = q @ k.transpose(-1, -2) / math.sqrt(p["d"])
    if p["causal"]:
        idx = torch.tensor(rows, device=tc.dev).unsqueeze(1)
        keys = torch.arange(p["s"], device=tc.dev).unsqueeze(0)
        scores = scores.masked_fill(keys > idx, float("-inf"))
    ref = torch.softmax(scores, dim=-1) @ v
    got = out[:, :, rows].double()
    return rel_error(got, ref), ref.numel()


def reference_losses(p, x, steps):
    """float64 replay of the first training steps, on the host (numpy)."""
    import numpy as np

    L = p["layers"]
    params = [x[f"w{i}"] if j == 0 else x[f"b{i}"] for i in range(L) for j in (0, 1)]
    params += [x["w_out"], x["b_out"]]
    params = [t.astype(np.float64) for t in params]
    vel = [np.zeros_like(t) for t in params]
    losses = []
    for step in range(steps):
        slot = step % BATCH_POOL
        xb = x["x"][slot].astype(np.float64)
        yb = x["y"][slot]
        acts = [xb]
        for i in range(L):
            acts.append(np.maximum(acts[-1] @ params[2 * i] + params[2 * i + 1], 0.0))
        logits = acts[-1] @ params[2 * L] + params[2 * L + 1]
        mx = logits.max(axis=1, keepdims=True)
        lse = mx[:, 0] + np.log(np.exp(logits - mx).sum(axis=1))
        bsz = len(yb)
        losses.append(float(np.mean(lse - logits[np.arange(bsz), yb])))
        g = np.exp(logits - lse[:, None])
        g[np.arange(bsz), yb] -= 1.0
        g /= bsz
        grads = [None] * len(params)
        grads[2 * L] = acts[L].T @ g
        grads[2 * L + 1] = g.sum(axis=0)
        dh = g @ params[2 * L].T
        for i in reversed(range(L)):
            dh = dh * (acts[i + 1] > 0)
            grads[2 * i] = acts[i].T @ dh
            grads[2 * i + 1] = dh.sum(axis=0)
            if i > 0:
                dh = dh @ params[2 * i].T
        for t, v, gr in zip(params, vel, grads):
            v *= MOMENTUM
            v += gr
            t -= LEARNING_RATE * v
    return losses


def _ln(x, g, b):
    """LayerNorm over the last axis (eps 1e-5); returns y and what the backward needs."""
    import numpy as np

    xc = x - x.mean(axis=-1, keepdims=True)
    rstd = 1.0 / np.sqrt((xc * xc).mean(axis=-1, keepdims=True) + GPT_LN_EPS)
    xhat = xc * rstd
    return xhat * g + b, (xhat, rstd)


def _ln_back(dy, cache, g):
    """dx, dgain, dbias of _ln."""
    xhat, rstd = cache
    dxh = dy * g
    dx = rstd * (dxh - dxh.mean(axis=-1, keepdims=True)
                 - xhat * (dxh * xhat).mean(axis=-1, keepdims=True))
    return dx, (dy * xhat).sum(axis=0), dy.sum(axis=0)


def _heads(m, h):
    """[t, h*hd] -> [h, t, hd]."""
    t, d = m.shape
    return m.reshape(t, h, d // h).transpose(1, 0, 2)


def _causal_probs(q, k, scale):
    """Softmax of causal scaled scores for one sequence: q, k [h, t, hd] -> [h, t, t]."""
    import numpy as np

    s = q @ k.transpose(0, 2, 1) * scale
    t = s.shape[-1]
    s = np.where(np.triu(np.ones((t, t), dtype=bool), 1), -np.inf, s)
    s = np.exp(s - s.max(axis=-1, keepdims=True))
    return s / s.sum(axis=-1, keepdims=True)


def _layer_params(params, layer):
    """P(name) -> params["h{layer}.name"]."""
    return lambda name: params[f"h{layer}.{name}"]


def gpt_loss_and_grads(p, params, tokens):
    """float64 loss and gradients (a dict by parameter name) of one train-gpt batch
    `tokens` [batch, seq + 1]: forward and hand-written backward as kernels/src/gpt_ref.rs."""
    import numpy as np

    b, t, d, h, L = p["batch"], p["seq"], p["d_model"], p["heads"], p["layers"]
    hd = d // h
    scale = 1.0 / math.sqrt(hd)
    n = b * t
    inp = tokens[:, :-1].reshape(-1).astype(np.int64)
    tgt = tokens[:, 1:].reshape(-1).astype(np.int64)
    wte, wpe = params["wte"], params["wpe"]
    x = wte[inp] + np.tile(wpe, (b, 1))
    caches = []
    for layer in range(L):
        P = _layer_params(params, layer)
        a, ln1 = _ln(x, P("ln1_g"), P("ln1_b"))
        qkv = a @ P("w_qkv") + P("b_qkv")
        att = np.empty((n, d))
        for i in range(b):  # one sequence at a time: [h, t, t] probabilities, not [b, h, t, t]
            rows = slice(i * t, (i + 1) * t)
            q, k, v = (_heads(qkv[rows, j * d:(j + 1) * d], h) for j in range(3))
            att[rows] = (_causal_probs(q, k, scale) @ v).transpose(1, 0, 2).reshape(t, d)
        x = x + att @ P("w_o") + P("b_o")
        c, ln2 = _ln(x, P("ln2_g"), P("ln2_b"))
        u = c @ P("w_fc") + P("b_fc")
        th = np.tanh(GELU_C * (u + 0.044715 * u ** 3))
        gl = 0.5 * u * (1.0 + th)
        x = x + gl @ P("w_proj") + P("b_proj")
        caches.append((a, ln1, qkv, att, c, ln2, u, th, gl))
    xf, lnf = _ln(x, params["lnf_g"], params["lnf_b"])
    logits = xf @ wte.T
    mx = logits.max(axis=1, keepdims=True)
    lse = mx[:, 0] + np.log(np.exp(logits - mx).sum(axis=1))
    loss = float(np.mean(lse - logits[np.arange(n), tgt]))
    dlogits = np.exp(logits - lse[:, None])
    del logits
    dlogits[np.arange(n), tgt] -= 1.0
    dlogits /= n
    grads = {"wte": dlogits.T @ xf}
    dx, grads["lnf_g"], grads["lnf_b"] = _ln_back(dlogits @ wte, lnf, params["lnf_g"])
    del dlogits
    for layer in reversed(range(L)):
        pre = f"h{layer}."
        P = _layer_params(params, layer)
        a, ln1, qkv, att, c, ln2, u, th, gl = caches[layer]
        # MLP: x_out = x_mid + gelu(c W_fc + b_fc) W_proj + b_proj
        grads[pre + "w_proj"] = gl.T @ dx
        grads[pre + "b_proj"] = dx.sum(axis=0)
        dgl = dx @ P("w_proj").T
        du = dgl * (0.5 * (1.0 + th)
                    + 0.5 * u * (1.0 - th * th) * GELU_C * (1.0 + 3.0 * 0.044715 * u * u))
        grads[pre + "w_fc"] = c.T @ du
        grads[pre + "b_fc"] = du.sum(axis=0)
        dln2, grads[pre + "ln2_g"], grads[pre + "ln2_b"] = _ln_back(du @ P("w_fc").T, ln2,
                                                                    P("ln2_g"))
        dx = dx + dln2
        # attention: x_mid = x_in + attn(a W_qkv + b_qkv) W_o + b_o
        grads[pre + "w_o"] = att.T @ dx
        grads[pre + "b_o"] = dx.sum(axis=0)
        datt = dx @ P("w_o").T
        dqkv = np.empty_like(qkv)
        for i in range(b):
            rows = slice(i * t, (i + 1) * t)
            q, k, v = (_heads(qkv[rows, j * d:(j + 1) * d], h) for j in range(3))
            pr = _causal_probs(q, k, scale)
            dy = _heads(datt[rows], h)
            dp = dy @ v.transpose(0, 2, 1)
            ds = pr * (dp - (dp * pr).sum(axis=-1, keepdims=True)) * scale
            for j, g in enumerate((ds @ k, ds.transpose(0, 2, 1) @ q, pr.transpose(0, 2, 1) @ dy)):
                dqkv[rows, j * d:(j + 1) * d] = g.transpose(1, 0, 2).reshape(t, d)
        grads[pre + "w_qkv"] = a.T @ dqkv
        grads[pre + "b_qkv"] = dqkv.sum(axis=0)
        dln1, grads[pre + "ln1_g"], grads[pre + "ln1_b"] = _ln_back(dqkv @ P("w_qkv").T, ln1,
                                                                    P("ln1_g"))
        dx = dx + dln1
    np.add.at(grads["wte"], inp, dx)
    grads["wpe"] = dx.reshape(b, t, d).sum(axis=0)
    return loss, grads


def gpt_reference_losses(p, x, steps):
    """float64 replay of the first train-gpt steps on the host (numpy): the loss before each
    AdamW update (bias-corrected, decoupled weight decay on every parameter), as
    kernels/src/gpt_ref.rs; step i uses batch i % BATCH_POOL."""
    import numpy as np

    names = [name for name, _ in gpt_param_specs(p)]
    params = {name: x[name].astype(np.float64) for name in names}
    m = {name: np.zeros_like(params[name]) for name in names}
    v = {name: np.zeros_like(params[name]) for name in names}
    losses = []
    for step in range(steps):
        loss, grads = gpt_loss_and_grads(p, params, x["tokens"][step % BATCH_POOL])
        losses.append(loss)
        c1, c2 = 1.0 - GPT_BETA1 ** (step + 1), 1.0 - GPT_BETA2 ** (step + 1)
        for name in names:
            g = grads[name]
            m[name] = GPT_BETA1 * m[name] + (1.0 - GPT_BETA1) * g
            v[name] = GPT_BETA2 * v[name] + (1.0 - GPT_BETA2) * g * g
            upd = (m[name] / c1) / (np.sqrt(v[name] / c2) + GPT_ADAM_EPS)
            params[name] = params[name] - GPT_LR * (upd + GPT_WEIGHT_DECAY * params[name])
    return losses


def measure(tc, run, args, seed):
    start = time.perf_counter()
    warm = 0
    while warm == 0 or time.perf_counter() - start < args.warmup:
        tc.timed(run)
        warm += 1
    samples, next_check, met = [], max(args.min_samples, 2), False
    t0 = time.perf_counter()
    while True:
        samples.append(tc.timed(run))
        n = len(samples)
        if n >= args.max_samples:
            break
        if n >= next_check:
            next_check = n + max(n // 4, 1)
            if relative_ci_halfwidth(samples) <= args.target_noise:
                met = True
                break
        if n >= args.min_samples and time.perf_counter() - t0 >= args.budget:
            break
    return samples, met


def blank_record(pt, dtype):
    w, p = pt["workload"], pt["params"]
    return {
        "id": pt["id"], "workload": w, "params": p, "dtype": dtype, "status": "skipped",
        "reason": None, "flops": flops(w, p), "bytes": bytes_moved(w, p, dtype),
        "devices_used": 1.0, "check": None, "timer": None, "samples_s": [], "stats": None,
        "throughput": None, "one_off_s": {"init": None, "load": None, "compile": None},
        "train": None,
    }


def load_bench_references(path, seed):
    """{point id: f64 reference losses} from bench's run (a run.json or its directory)."""
    if path is None:
        return {}
    file = os.path.join(path, "run.json") if os.path.isdir(path) else path
    try:
        with open(file) as f:
            run = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise SystemExit(f"error: cannot read --reference-run {file}: {e}; pass bench's run "
                         "directory of the same plan (verify.sh does)")
    if not isinstance(run, dict) or run.get("schema") != SCHEMA:
        raise SystemExit(f"error: --reference-run {file} is not a {SCHEMA} run file")
    theirs = (run.get("settings") or {}).get("seed")
    if theirs is not None and theirs != seed:
        raise SystemExit(f"error: --reference-run {file} ran with seed {theirs}, this run uses "
                         f"--seed {seed}: the inputs differ; pass --seed {theirs}")
    refs = {}
    for pt in run.get("points") or []:
        losses = (pt.get("check") or {}).get("reference_losses")
        if isinstance(losses, list) and losses and all(isinstance(v, (int, float))
                                                       for v in losses):
            refs[pt.get("id")] = [float(v) for v in losses]
    return refs


def training_reference(w, p, x, steps, pid, args):
    """(losses, seconds computed here or None, where they came from)."""
    ref = args.bench_refs.get(pid)
    if ref is not None and len(ref) >= steps:
        return ref[:steps], None, f"bench's f64 reference ({args.reference_run})"
    t_ref = time.perf_counter()
    ref = (gpt_reference_losses if w == "train-gpt" else reference_losses)(p, x, steps)
    why = (f"; {args.reference_run} has no reference for this point" if args.reference_run
           else "")
    return ref, time.perf_counter() - t_ref, "float64 host replay (numpy)" + why


def run_point(tc, pt, args, init_s):
    w, p, dtype = pt["workload"], pt["params"], pt["dtype"]
    rec = blank_record(pt, dtype)
    rec["one_off_s"]["init"] = init_s
    if w not in WORKLOADS:
        rec["reason"] = f"no torch reference for {w}"
        return rec
    if w == "attention" and dtype not in ("bf16", "f16"):
        rec["reason"] = "bench's cuda attention runs bf16 and f16 only"
        return rec
    if w in INFER + ("train-mlp", "train-gpt") and dtype == "fp8_e4m3":
        rec["reason"] = f"{w} has no fp8 variant (no fp8 training step in torch)"
        return rec
    if dtype == "fp8_e4m3" and (tc.props.major, tc.props.minor) < (8, 9):
        rec["reason"] = "fp8 e4m3 needs compute capability 8.9+"
        return rec
    t_load = time.perf_counter()
    x = point_inputs(w, p, dtype, args.seed)
    try:
        if w == "matmul":
            run = prepare_matmul(tc, p, dtype, x)
        elif w == "attention":
            run = prepare_attention(tc, p, dtype, x)
            rec["sdpa_backend"] = run.sdpa_backend
        elif w == "train-gpt":
            run = GptStep(tc, p, dtype, x)
        elif w in INFER:
            run = torch_infer.InferStep(tc, w, p, dtype, x)
        else:
            run = MlpStep(tc, p, dtype, x)
        tc.torch.cuda.synchronize()
        rec["one_off_s"]["load"] = time.perf_counter() - t_load
        rec["timer"] = "cuda_event"
        tol = torch_infer.TOLERANCE[dtype] if w in INFER else TOLERANCE[w][dtype]
        reference_s = None
        reference = "float64 on the GPU (torch), sampled rows"
        descent = None
        if w in ("train-mlp", "train-gpt"):
            steps = check_steps(w, p)
            for _ in range(steps):
                tc.timed(run)
            got = run.losses()
            ref, reference_s, reference = training_reference(w, p, x, steps, pt["id"], args)
            err = max(abs(a - b) / max(abs(b), 1e-12) if math.isfinite(a) else math.inf
                      for a, b in zip(got, ref))
            descent = descent_failure(got, ref, tol) if math.isfinite(err) and err <= tol else None
            checked = steps
        elif w in INFER:
            steps = torch_infer.DECODE_CHECK_STEPS if w == "decode" else 1
            for _ in range(steps):
                tc.timed(run)
            t_ref = time.perf_counter()
            ref = torch_infer.reference(w, p, x)
            reference_s = time.perf_counter() - t_ref
            err = torch_infer.rel_error(run.checked_output(ref), ref)
            checked = sum(len(v) for v in ref.values())
        else:
            out = run()
            tc.torch.cuda.synchronize()
            err, checked = (check_matmul if w == "matmul" else check_attention)(tc, p, x, out)
            del out
        passed = math.isfinite(err) and err <= tol and descent is None
        rec["check"] = {"max_rel_err": err if math.isfinite(err) else None, "tolerance": tol,
                        "passed": passed, "checked": checked, "reference": reference}
        if reference_s is not None:
            rec["check"]["reference_s"] = reference_s
        if not passed:
            rec["status"] = "failed"
            rec["reason"] = ("correctness check failed: " + descent if descent else
                             f"correctness check failed: max relative error {err:.3e} > {tol}")
            return rec
        samples, met = measure(tc, run, args, args.seed)
    except Exception as e:  # a point that fails is recorded, the run goes on
        rec["status"] = "failed"
        rec["reason"] = f"torch: {type(e).__name__}: {e}".splitlines()[0][:500]
        return rec
    stats = summarize(samples, args.seed)
    n_items, item = items(w, p)
    rec.update(status="ok", samples_s=samples, stats=stats, throughput={
        "flop_per_s": rec["flops"] / stats["median_s"],
        "items_per_s": n_items / stats["median_s"], "item": item})
    if not met:
        rec["reason"] = (f"noise target {args.target_noise * 100:.1f}% not reached within the "
                         f"{args.budget:.1f} s budget (see stats.ci95_*)")
    if w in ("train-mlp", "train-gpt"):
        losses = run.losses()
        optimizer = ("sgd-momentum(lr=0.01,momentum=0.9)" if w == "train-mlp"
                     else f"{GPT_OPTIMIZER}; {run.optimizer}")
        rec["train"] = {"steps": len(losses),
                        "losses": [v if math.isfinite(v) else None for v in losses],
                        "optimizer": optimizer, "checked_steps": check_steps(w, p)}
    return rec


def forced_sdpa_points(tc, pt, args, init_s):
    """[(implementation, record)] of an attention point timed with cuDNN SDPA and with flash
    SDPA, each forced; empty unless both run it here (then the torch run's default dispatch,
    which picks one of them, stands alone)."""
    out = []
    for impl, name in SDPA_FORCED:
        ctx = sdpa_kernel(tc.torch, name)
        if ctx is None:
            return []
        with ctx:
            rec = run_point(tc, pt, args, init_s)
        if rec["status"] == "failed" and rec["check"] is None:
            print(f"torch_reference: {impl} cannot run {pt['id']} here ({rec['reason']}); "
                  "not timed separately", file=sys.stderr)
            return []
        rec["sdpa_backend"] = name
        out.append((impl, rec))
    return out


# ---------------------------------------------------------------- main

def load_plan(path):
    try:
        with open(path) as f:
            plan = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise SystemExit(f"error: cannot read plan {path}: {e}; write one with "
                         f"`bench plan --backend cuda --suite standard --out {path}`")
    if not isinstance(plan, dict) or "points" not in plan:
        raise SystemExit(f"error: {path} is not a bench plan (no 'points'); write one with "
                         f"`bench plan --backend cuda --suite standard --out {path}`")
    return plan


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--plan", required=True, help="plan.json from `bench plan`")
    ap.add_argument("--out", default="results/runs", help="directory receiving the run directory")
    ap.add_argument("--instance", help="instance type for pricing (default: EC2 DMI data)")
    ap.add_argument("--device", type=int, default=0, help="GPU index")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--budget", type=float, default=3.0, help="sampling seconds per point")
    ap.add_argument("--warmup", type=float, default=0.1)
    ap.add_argument("--target-noise", type=float, default=0.01)
    ap.add_argument("--min-samples", type=int, default=10)
    ap.add_argument("--max-samples", type=int, default=10000)
    ap.add_argument("--workload", action="append", default=[], help="only these workloads")
    ap.add_argument("--reference-run", help="bench's run of the same plan: its f64 reference "
                    "losses check the training points (no second host replay)")
    ap.add_argument("--dry-run", action="store_true",
                    help="no torch, no GPU: write a run.json of skipped points (not a measurement)")
    args = ap.parse_args(argv)
    for name in ("budget", "target_noise"):
        if not getattr(args, name) > 0:
            ap.error(f"--{name.replace('_', '-')} {getattr(args, name)}: must be positive")
    args.bench_refs = {}
    if args.warmup < 0:
        ap.error(f"--warmup {args.warmup}: must be zero or positive")
    if args.min_samples < 2 or args.max_samples < args.min_samples:
        ap.error(f"--min-samples {args.min_samples} / --max-samples {args.max_samples}: "
                 "need 2 <= min <= max")
    return args


def inside_results_runs(out):
    parts = os.path.normpath(os.path.abspath(out)).split(os.sep)
    return any(a == "results" and b == "runs" for a, b in zip(parts, parts[1:]))


def write_atomic(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, allow_nan=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.dry_run and inside_results_runs(args.out):
        raise SystemExit(f"error: --dry-run writes no measurements, so not into {args.out} "
                         "(results/runs holds real runs only): pass --out /tmp/somewhere")
    plan = load_plan(args.plan)
    args.bench_refs = load_bench_references(args.reference_run, args.seed)
    others = sorted({pt["workload"] for pt in plan["points"]} - set(WORKLOADS))
    if others:
        print(f"torch_reference: no torch reference for {', '.join(others)}; those points are "
              "left out", file=sys.stderr)
    points = [pt for pt in plan["points"] if pt["workload"] in WORKLOADS
              and (not args.workload or pt["workload"] in args.workload)]
    if not points:
        raise SystemExit("error: the plan and --workload leave no points")
    host = host_info(args.instance)
    t_init = time.perf_counter()
    if args.dry_run:
        tc = None
        backend = {"kind": "cuda", "implementation": "torch (dry run: not a measurement)",
                   "device": "none (dry run)", "device_count": 0, "runtime_version": None,
                   "driver_version": None, "simulated": True,
                   "extra": {"dry_run": "no torch, no GPU: every point is skipped"}}
    else:
        tc = Torch(args.device)
        info = tc.info()
        backend = {"kind": "cuda", "implementation": "torch", "simulated": False, **info}
    init_s = time.perf_counter() - t_init
    label = host["instance_type"] or host["hostname"]
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    name = "".join(c if c.isalnum() or c in "-." else "_" for c in f"{stamp}-cuda-torch-{label}")
    run_dir = os.path.join(args.out, name)
    os.makedirs(run_dir, exist_ok=True)
    extra_runs = {}  # implementation -> (run, path): the forced SDPA backends
    run = {
        "schema": SCHEMA,
        "harness": {"version": f"torch_reference.py ({plan.get('harness_version', '?')})",
                    "git_commit": git_commit()},
        "host": host, "backend": backend,
        "command": " ".join([sys.executable] + sys.argv),
        "started_at": now(), "finished_at": None,
        "settings": {"suite": plan.get("suite"), "seed": args.seed, "warmup_s": args.warmup,
                     "budget_s": args.budget, "target_rel_ci": args.target_noise,
                     "min_samples": args.min_samples, "max_samples": args.max_samples,
                     "plan": os.path.abspath(args.plan),
                     "cache": "L2 flushed before every sample (memset of an L2-sized buffer)"},
        "env": relevant_env(), "points": [],
    }
    path = os.path.join(run_dir, "run.json")
    write_atomic(path, run)
    print(f"torch_reference: {len(points)} points; writing {path}", file=sys.stderr)
    failed = False
    for pt in points:
        if tc is None:
            rec = blank_record(pt, pt["dtype"])
            rec["reason"] = "dry run: not a measurement"
        else:
            rec = run_point(tc, pt, args, init_s)
            tc.torch.cuda.empty_cache()
        failed |= rec["status"] == "failed"
        run["points"].append(rec)
        write_atomic(path, run)
        if tc is not None and pt["workload"] == "attention" and rec["status"] != "skipped":
            for impl, forced in forced_sdpa_points(tc, pt, args, init_s):
                if impl not in extra_runs:
                    other = json.loads(json.dumps(run))
                    other["points"] = []
                    other["backend"]["implementation"] = impl
                    other["backend"]["extra"]["sdpa"] = (
                        f"{impl}: torch SDPA forced to one backend with "
                        "torch.nn.attention.sdpa_kernel; attention points only")
                    odir = os.path.join(args.out, name.replace("-cuda-torch-", f"-cuda-{impl}-"))
                    os.makedirs(odir, exist_ok=True)
                    extra_runs[impl] = (other, os.path.join(odir, "run.json"))
                other, opath = extra_runs[impl]
                other["points"].append(forced)
                write_atomic(opath, other)
                med = forced["stats"]["median_s"] if forced["stats"] else None
                speed = "" if med is None else "%9.1f TFLOP/s" % (forced["flops"] / med / 1e12)
                print("  %-55s %-8s %s %s" % (f"{forced['id']} [{impl}]", forced["status"],
                                              speed, forced["reason"] or ""), file=sys.stderr)
        med = rec["stats"]["median_s"] if rec["stats"] else None
        speed = "" if med is None else "%9.1f TFLOP/s" % (rec["flops"] / med / 1e12)
        print("  %-55s %-8s %s %s" % (rec["id"], rec["status"], speed, rec["reason"] or ""),
              file=sys.stderr)
    run["finished_at"] = now()
    write_atomic(path, run)
    for other, opath in extra_runs.values():
        other["finished_at"] = now()
        write_atomic(opath, other)
        print(f"results: {opath}")
    print(f"results: {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
