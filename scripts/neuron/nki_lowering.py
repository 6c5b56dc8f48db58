"""Second implementations of plan points through the Neuron SDK's NKI kernels, for
`build_neffs.py --impl nki`: the same point (same inputs, outputs and check as lowerings.py's),
lowered through a vendor kernel instead of plain JAX ops, so that bench runs both and a report
takes the faster correct one for Trainium's side.

Attention goes through the flash-attention forward kernel that neuronx-cc ships,
`neuronxcc.nki.kernels.attention.flash_fwd` (source: aws-neuron/nki-samples), launched on a
(batch, heads) grid in inference mode: q and k as (b, h, d, s), v as (b, h, s, d), no seed, no
dropout, output (b, h, s, d), which is bench's layout. Its documented limits are refused here
with the reason (recorded as the point's skip): head dim over 128, a sequence that no
seq_tile_size of 512 or more divides.

Unverified on Trainium: these lowerings were tested only with a stand-in module of the same
import path and signature (nki_standin/). neuronx-cc deprecated the neuronxcc.nki namespace in
Neuron 2.27 and removes it in 2.34, so a compiler without it is a skip naming the import.
"""

import lowerings
from lowerings import Lowering, Unsupported

KERNEL_MODULE = "neuronxcc.nki.kernels.attention"
IMPLEMENTATIONS = ("nki",)
TILES = (2048, 1024, 512)  # FlashConfig.seq_tile_size candidates, largest first


def build(impl, point, constants):
    """The Lowering of `point` as implementation `impl`, or raises Unsupported."""
    if impl not in IMPLEMENTATIONS:
        raise Unsupported(f"unknown implementation {impl}")
    f = NKI.get(point["workload"])
    if f is None:
        raise Unsupported(f"no NKI kernel is wired for {point['workload']} (only {', '.join(sorted(NKI))})")
    lowerings.storage(point["dtype"])
    return f(point, constants.get(point["workload"], {}))


def kernel():
    """(flash_fwd, FlashConfig) from neuronx-cc, or raises Unsupported saying why."""
    try:
        from neuronxcc.nki.kernels.attention import FlashConfig, flash_fwd
    except ImportError as e:
        raise Unsupported(
            f"{KERNEL_MODULE} is not importable ({e}): it ships with neuronx-cc "
            "(pip install neuronx-cc --extra-index-url=https://pip.repos.neuron.amazonaws.com; "
            "the neuronxcc.nki namespace is gone from Neuron 2.34)"
        )
    return flash_fwd, FlashConfig


def seq_tile(s):
    for t in TILES:
        if s % t == 0:
            return t
    raise Unsupported(f"flash_fwd needs a sequence length divisible by 512 (its smallest seq_tile_size); s={s}")


def attention(point, _c):
    p, d = point["params"], lowerings.storage(point["dtype"])
    if p["d"] > 128:
        raise Unsupported(f"flash_fwd supports head dim up to 128; d={p['d']}")
    tile = seq_tile(p["s"])
    b, h, causal = p["b"], p["h"], p["causal"] == 1
    scale = 1.0 / (p["d"] ** 0.5)
    # bf16 inputs: bf16 matmuls with f32 accumulation (the kernel's mixed precision); f32 and
    # f16 stay in their own dtype, as the JAX lowering does.
    mixed = d == "bf16"

    def fn(q, k, v):
        import jax.numpy as jnp

        flash_fwd, FlashConfig = kernel()
        config = FlashConfig(seq_tile_size=tile, training=False)
        o = flash_fwd[b, h](
            jnp.swapaxes(q, 2, 3),
            jnp.swapaxes(k, 2, 3),
            v,
            None,
            softmax_scale=scale,
            use_causal_mask=causal,
            mixed_precision=mixed,
            dropout_p=0.0,
            config=config,
        )
        return (o.astype(lowerings.jnp_dtype(d)),)

    return Lowering(fn, lowerings.plan_tensors(point, "inputs"), lowerings.plan_tensors(point, "outputs"), check="out")


NKI = {"attention": attention}
