"""Test stand-in for neuronxcc.nki.kernels.attention: `FlashConfig` and `flash_fwd` with the
documented signature, grid launch (`flash_fwd[b, h](...)`), tensor layouts and preconditions
of the Neuron SDK's flash-attention forward kernel, computed with jax.numpy so that a JAX
function calling it traces and lowers on the CPU.

What it checks (the SDK documents each; a call that breaks one fails here as it would there):
q (b, h, d, seq_q), k (b, h, d, seq_k), v (b, h, seq_k, d) unless should_transpose_v; a 2-D
grid; d <= 128; seq_tile_size >= 512 dividing seq_k; for inference (training=False) no seed
and no dropout. It returns o (b, h, seq_q, d), plus lse when training. Every launch is
appended to CALLS (grid, shapes, keyword arguments) for tests to inspect.

It is not the kernel: its numbers say nothing about Trainium.
"""

from dataclasses import dataclass

CALLS = []


@dataclass(frozen=True)
class FlashConfig:
    seq_tile_size: int = 2048
    attn_core_tile_size: int = 256
    training: bool = True
    should_transpose_v: bool = False
    lse_dtype: str = ""


def _flash_fwd(grid, q, k, v, seed, logit_bias=None, softmax_scale=None, use_causal_mask=True,
               sliding_window=-1, mixed_precision=True, dropout_p=0.0, config=None):
    import jax
    import jax.numpy as jnp

    config = config or FlashConfig()
    b, h, d, seq_q = q.shape
    _, k_h, _, seq_k = k.shape
    want_v = (b, k_h, d, seq_k) if config.should_transpose_v else (b, k_h, seq_k, d)
    assert tuple(k.shape) == (b, k_h, d, seq_k), f"k shape {k.shape}"
    assert tuple(v.shape) == want_v, f"v shape {v.shape}, expected {want_v}"
    assert d <= 128, f"head_dim {d} > 128"
    assert len(grid) == 2, f"expect a 2-D spmd grid, got {grid}"
    assert tuple(grid) == (b, k_h), f"grid {grid} is not (batch, kv heads) = {(b, k_h)}"
    assert config.seq_tile_size >= 512, f"seq_tile_size {config.seq_tile_size} < 512"
    assert seq_k % config.seq_tile_size == 0, f"seq_k {seq_k} not divisible by {config.seq_tile_size}"
    assert q.dtype == k.dtype == v.dtype, "all IO tensors share one dtype"
    if not config.training:
        assert seed is None, "seed must be None for inference"
        assert dropout_p == 0.0, "dropout must be 0 for inference"
    assert logit_bias is None and sliding_window < 0, "the stand-in models neither bias nor window"
    CALLS.append({
        "grid": tuple(grid),
        "q": tuple(q.shape), "k": tuple(k.shape), "v": tuple(v.shape),
        "softmax_scale": softmax_scale, "use_causal_mask": use_causal_mask,
        "mixed_precision": mixed_precision, "config": config,
    })
    scale = softmax_scale or 1.0 / (d ** 0.5)
    vv = jnp.swapaxes(v, 2, 3) if config.should_transpose_v else v
    f32 = jnp.float32
    s = jnp.einsum("bhdq,bhdk->bhqk", q.astype(f32), k.astype(f32)) * scale
    if use_causal_mask:
        keep = jnp.arange(seq_q)[:, None] >= jnp.arange(seq_k)[None, :]
        s = jnp.where(keep, s, jnp.finfo(f32).min)
    m = jax.lax.stop_gradient(jnp.max(s, axis=-1, keepdims=True))
    e = jnp.exp(s - m)
    o = jnp.einsum("bhqk,bhkd->bhqd", e / jnp.sum(e, axis=-1, keepdims=True), vv.astype(f32)).astype(q.dtype)
    if config.training:
        lse = jnp.zeros((b, h, 128, seq_q // 128), f32)
        return o, lse
    return o


class _Kernel:
    """`kernel[grid](...)` launches, as nki.jit kernels do; a call without a grid is refused."""

    def __getitem__(self, grid):
        grid = grid if isinstance(grid, tuple) else (grid,)
        return lambda *args, **kw: _flash_fwd(grid, *args, **kw)

    def __call__(self, *args, **kw):
        raise AssertionError("flash_fwd needs an spmd grid: flash_fwd[b, h](...)")


flash_fwd = _Kernel()
