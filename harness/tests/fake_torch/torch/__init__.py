"""TEST FIXTURE, not PyTorch: a tiny numpy stand-in for the parts of torch that
scripts/gpu/torch_reference.py uses for matmul, attention, prefill and decode points (no
autograd, so no train-mlp), so harness/tests/torch_reference.rs can drive the script's measuring path on a
machine without torch or a GPU. FAKE_TORCH_SDPA=1 adds torch.nn.attention.sdpa_kernel and
torch._fused_sdp_choice (both "backends" the same numpy code) for the forced-SDPA runs.
"Timings" are host perf_counter deltas of numpy work; the
version string says "fake" and the run it produces is written to a temporary directory only.
"""

import contextlib
import os
import sys
import time
import types

import numpy as np

__version__ = "0.0-fake (numpy test stand-in)"
float32, float64, bfloat16, float16, float8_e4m3fn, uint8, int64 = (
    "float32", "float64", "bfloat16", "float16", "float8_e4m3fn", "uint8", "int64")


class _Version:
    cuda = "fake"


version = _Version()


class Tensor:
    def __init__(self, a, dtype=None):
        self.a = np.asarray(a)
        self.dtype = dtype or str(self.a.dtype)

    # conversions (values are not rounded: this is a plumbing test)
    def to(self, x):
        return Tensor(self.a, x) if isinstance(x, str) else self

    def double(self):
        return Tensor(self.a.astype(np.float64))

    def float(self):
        return Tensor(self.a.astype(np.float32))

    def t(self):
        return Tensor(self.a.T, self.dtype)

    def contiguous(self):
        return Tensor(np.ascontiguousarray(self.a), self.dtype)

    def transpose(self, i, j):
        return Tensor(np.swapaxes(self.a, i, j), self.dtype)

    def unsqueeze(self, d):
        return Tensor(np.expand_dims(self.a, d), self.dtype)

    def numel(self):
        return self.a.size

    def zero_(self):
        self.a[...] = 0
        return self

    def __getitem__(self, k):
        return Tensor(self.a[_raw(k)], self.dtype)

    # shapes and copies (prefill and decode's KV cache: views share memory, as in torch)
    def view(self, *shape):
        return Tensor(self.a.reshape(*shape), self.dtype)

    reshape = view

    def permute(self, *dims):
        return Tensor(self.a.transpose(*dims), self.dtype)

    def unbind(self, d):
        return [Tensor(x, self.dtype) for x in np.moveaxis(self.a, d, 0)]

    def copy_(self, src):
        self.a[...] = src.a
        return self

    def cpu(self):
        return self

    def numpy(self):
        return self.a

    def __mod__(self, n):
        return Tensor(self.a % n)

    def __matmul__(self, o):
        return Tensor(self.a.astype(np.float64) @ o.a.astype(np.float64), self.dtype)

    def __sub__(self, o):
        return Tensor(self.a - o.a)

    def __add__(self, o):
        return Tensor(self.a + (o.a if isinstance(o, Tensor) else o))

    def __truediv__(self, o):
        return Tensor(self.a / (o.a if isinstance(o, Tensor) else o))

    def __gt__(self, o):
        return Tensor(self.a > o.a)

    def abs(self):
        return Tensor(np.abs(self.a))

    def pow(self, e):
        return Tensor(self.a ** e)

    def mean(self):
        return Tensor(self.a.mean())

    def sqrt(self):
        return Tensor(np.sqrt(self.a))

    def max(self):
        return Tensor(self.a.max())

    def masked_fill(self, mask, v):
        return Tensor(np.where(mask.a, v, self.a))

    def __float__(self):
        return float(self.a)


def _raw(k):
    """An index with Tensors in it as numpy arrays."""
    if isinstance(k, tuple):
        return tuple(_raw(x) for x in k)
    return k.a if isinstance(k, Tensor) else k


def zeros(shape, dtype=None, device=None):
    return Tensor(np.zeros(shape, dtype=np.float64), dtype)


def addmm(bias, a, b):
    # FAKE_TORCH_WRONG=1 makes it wrong too (prefill and decode's projections).
    out = bias.a + a.a.astype(np.float64) @ b.a.astype(np.float64)
    return Tensor(out + (0.1 if os.environ.get("FAKE_TORCH_WRONG") == "1" else 0.0), a.dtype)


def from_numpy(a):
    return Tensor(a)


def tensor(x, device=None):
    return Tensor(np.asarray(x))


def arange(n, device=None):
    return Tensor(np.arange(n))


def empty(n, dtype=None, device=None):
    return Tensor(np.zeros(n, dtype=np.uint8))


def ones(shape, dtype=None, device=None):
    return Tensor(np.ones(shape, dtype=np.float32))


def matmul(a, b):
    # FAKE_TORCH_WRONG=1 makes the product wrong, to show the script's check catches it.
    out = a @ b
    return out + 1.0 if os.environ.get("FAKE_TORCH_WRONG") == "1" else out


def softmax(x, dim=-1):
    e = np.exp(x.a - x.a.max(axis=dim, keepdims=True))
    return Tensor(e / e.sum(axis=dim, keepdims=True))


def _scaled_mm(a, b, scale_a, scale_b, out_dtype=None, use_fast_accum=False):
    return a @ b


class device:
    def __init__(self, kind, index=0):
        self.type, self.index = kind, index


class _Props:
    name = "Fake GPU (numpy)"
    major, minor = 9, 0
    multi_processor_count = 1
    total_memory = 1 << 30
    L2_cache_size = 1 << 20


class _Event:
    def __init__(self, enable_timing=True):
        self.t = None

    def record(self):
        self.t = time.perf_counter()

    def synchronize(self):
        pass

    def elapsed_time(self, end):
        return (end.t - self.t) * 1e3


class _Cuda:
    Event = _Event

    @staticmethod
    def is_available():
        return True

    @staticmethod
    def set_device(d):
        pass

    @staticmethod
    def get_device_properties(d):
        return _Props()

    @staticmethod
    def device_count():
        return 1

    @staticmethod
    def synchronize():
        pass

    @staticmethod
    def empty_cache():
        pass


cuda = _Cuda()


class _Flags:
    allow_tf32 = False


class _CudaBackends:
    matmul = _Flags()


class _Cudnn:
    @staticmethod
    def version():
        return 0


class _Backends:
    cuda = _CudaBackends()
    cudnn = _Cudnn()


backends = _Backends()


class _F:
    @staticmethod
    def scaled_dot_product_attention(q, k, v, is_causal=False):
        s = q.a.astype(np.float64) @ np.swapaxes(k.a, -1, -2) / np.sqrt(q.a.shape[-1])
        if is_causal:
            n = s.shape[-1]
            s = np.where(np.triu(np.ones((n, n), bool), 1), -np.inf, s)
        p = np.exp(s - s.max(axis=-1, keepdims=True))
        return Tensor((p / p.sum(axis=-1, keepdims=True)) @ v.a, q.dtype)


    @staticmethod
    def layer_norm(x, shape, g, b, eps=1e-5):
        a = x.a.astype(np.float64)
        c = a - a.mean(axis=-1, keepdims=True)
        y = c / np.sqrt((c * c).mean(axis=-1, keepdims=True) + eps)
        return Tensor(y * g.a + b.a, x.dtype)

    @staticmethod
    def gelu(x, approximate="none"):
        u = x.a
        return Tensor(0.5 * u * (1 + np.tanh(np.sqrt(2 / np.pi) * (u + 0.044715 * u ** 3))), x.dtype)

    @staticmethod
    def embedding(ids, table):
        return Tensor(table.a[ids.a], table.dtype)


class _Nn:
    functional = _F()


nn = _Nn()


if os.environ.get("FAKE_TORCH_SDPA") == "1":
    _forced = []

    class SDPBackend:
        MATH, FLASH_ATTENTION, EFFICIENT_ATTENTION, CUDNN_ATTENTION = 0, 1, 2, 3

    @contextlib.contextmanager
    def _sdpa_kernel(backend):
        _forced.append(backend)
        try:
            yield
        finally:
            _forced.pop()

    def _fused_sdp_choice(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False):
        return _forced[-1] if _forced else SDPBackend.CUDNN_ATTENTION

    _attention = types.ModuleType("torch.nn.attention")
    _attention.SDPBackend = SDPBackend
    _attention.sdpa_kernel = _sdpa_kernel
    sys.modules["torch.nn.attention"] = _attention
