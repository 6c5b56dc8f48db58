"""Test stand-in for nkilib.core.attention.attention_cte: `attention_cte` with the documented
signature, layouts and limits of the NKI Library's context-encoding attention kernel, computed
with jax.numpy so that a JAX function calling it traces and lowers on the CPU.

What it checks (each documented): q (batch, seqlen_q, d) when tp_q else (batch, d, seqlen_q);
k (batch_kv, seqlen_kv, d) when tp_k else (batch_kv, d, seqlen_kv); v (batch_kv, seqlen_kv, d);
batch a multiple of batch_kv and at most 512; d <= 128; one dtype. It returns
(batch, seqlen_q, d), or (batch, d, seqlen_q) with tp_out. Every call is appended to CALLS.

It is not the kernel: its numbers say nothing about Trainium.
"""

CALLS = []


def attention_cte(q, k, v, scale=1.0, causal_mask=True, k_prior=None, v_prior=None,
                  prior_used_len=None, sink=None, sliding_window=None, tp_q=True, tp_k=False,
                  tp_out=False, cache_softmax=False, softmax_dtype=None, mm_out_dtype=None,
                  cp_offset=None, global_cp_deg=None, cp_strided_q_slicing=False,
                  bound_min=None, bound_max=None):
    import jax
    import jax.numpy as jnp

    qq = q if tp_q else jnp.swapaxes(q, 1, 2)  # (batch, seqlen_q, d)
    kk = k if tp_k else jnp.swapaxes(k, 1, 2)  # (batch_kv, seqlen_kv, d)
    bs, sq, d = qq.shape
    bs_kv, sk, dk = kk.shape
    assert tuple(v.shape) == (bs_kv, sk, d), f"v shape {v.shape}, expected {(bs_kv, sk, d)}"
    assert dk == d, f"k head dim {dk} != q head dim {d}"
    assert 0 < bs <= 512 and bs % bs_kv == 0, f"batch {bs} / kv batch {bs_kv}"
    assert d <= 128, f"head_dim {d} > 128"
    assert q.dtype == k.dtype == v.dtype, "one dtype"
    assert k_prior is None and sink is None and not sliding_window and not cache_softmax
    assert global_cp_deg is None and bound_min is None
    CALLS.append({"q": tuple(q.shape), "k": tuple(k.shape), "v": tuple(v.shape), "scale": scale,
                  "causal_mask": causal_mask, "tp_q": tp_q, "tp_k": tp_k, "tp_out": tp_out})
    f32 = jnp.float32
    s = jnp.einsum("bqd,bkd->bqk", qq.astype(f32), kk.astype(f32)) * scale
    if causal_mask:
        s = jnp.where(jnp.arange(sq)[:, None] >= jnp.arange(sk)[None, :], s, jnp.finfo(f32).min)
    m = jax.lax.stop_gradient(jnp.max(s, axis=-1, keepdims=True))
    e = jnp.exp(s - m)
    o = jnp.einsum("bqk,bkd->bqd", e / jnp.sum(e, axis=-1, keepdims=True), v.astype(f32)).astype(q.dtype)
    return jnp.swapaxes(o, 1, 2) if tp_out else o
