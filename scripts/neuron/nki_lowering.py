"""Second implementations of plan points through the Neuron SDK's NKI kernels, for
`build_neffs.py --impl nki`: the same point (same inputs, outputs and check as lowerings.py's),
lowered through a vendor kernel instead of plain JAX ops, so that bench runs both and a report
takes the faster correct one for Trainium's side.

Attention goes through the first importable of two kernels neuronx-cc ships:
- `nkilib.core.attention.attention_cte` (the NKI Library, bundled with neuronx-cc; source
  aws-neuron/nki-library): heads folded into the batch, q (b*h, s, d), k (b*h, d, s),
  v (b*h, s, d), output (b*h, s, d), no grid; limits: head dim <= 128, b*h <= 512.
- `neuronxcc.nki.kernels.attention.flash_fwd` (source aws-neuron/nki-samples; the neuronxcc.nki
  namespace is deprecated since Neuron 2.27, its kernels fail to compile from 2.28 and it is gone
  in 2.34): launched on a (b, h) grid in inference mode, q and k as (b, h, d, s), v as
  (b, h, s, d), no seed, no dropout, output (b, h, s, d); limits: head dim <= 128, s divisible by
  a seq_tile_size of 512 or more.
A point outside the chosen kernel's limits is a skip with the reason; `--sim` stand-ins (no
kernel chosen) apply both kernels' limits. The manifest entry names the kernel used.

Unverified on Trainium: these lowerings were tested only with stand-in modules of the same
import paths and signatures (nki_standin/, nkilib_standin/).
"""

import lowerings
from lowerings import Lowering, Unsupported

IMPLEMENTATIONS = ("nki",)
TILES = (2048, 1024, 512)  # flash_fwd's FlashConfig.seq_tile_size candidates, largest first
INSTALL = "pip install neuronx-cc --extra-index-url=https://pip.repos.neuron.amazonaws.com"


class Kernel:
    """One vendor attention kernel: where it is imported from, what shapes it takes, and how
    the traced function calls it on bench's (b, h, s, d) tensors."""

    def __init__(self, module, attr, limits, launch):
        self.module, self.attr, self.limits, self.launch = module, attr, limits, launch

    @property
    def path(self):
        return f"{self.module}.{self.attr}"

    def load(self):
        """The kernel function, or None when its module is not importable here."""
        import importlib

        try:
            return getattr(importlib.import_module(self.module), self.attr)
        except (ImportError, AttributeError):
            return None


def flash_limits(p):
    if p["d"] > 128:
        return f"flash_fwd supports head dim up to 128; d={p['d']}"
    if not any(p["s"] % t == 0 for t in TILES):
        return f"flash_fwd needs a sequence length divisible by 512 (its smallest seq_tile_size); s={p['s']}"
    return None


def flash_launch(fn, q, k, v, p, dtype):
    """neuronxcc.nki.kernels.attention.flash_fwd on a (b, h) grid, inference config."""
    import importlib

    import jax.numpy as jnp

    FlashConfig = importlib.import_module(FLASH.module).FlashConfig
    tile = next(t for t in TILES if p["s"] % t == 0)
    return fn[p["b"], p["h"]](
        jnp.swapaxes(q, 2, 3),
        jnp.swapaxes(k, 2, 3),
        v,
        None,
        softmax_scale=1.0 / (p["d"] ** 0.5),
        use_causal_mask=p["causal"] == 1,
        # bf16: bf16 matmuls with f32 accumulation; f32 and f16 stay in their own dtype
        mixed_precision=dtype == "bf16",
        dropout_p=0.0,
        config=FlashConfig(seq_tile_size=tile, training=False),
    )


def cte_limits(p):
    if p["d"] > 128:
        return f"attention_cte supports head dim up to 128; d={p['d']}"
    if p["b"] * p["h"] > 512:
        return f"attention_cte is tested up to 512 batch x heads; b*h={p['b'] * p['h']}"
    return None


def cte_launch(fn, q, k, v, p, dtype):
    """nkilib's attention_cte, heads folded into the batch: q (b*h, s, d) (tp_q), k (b*h, d, s),
    v (b*h, s, d), output (b*h, s, d); no grid (valid at LNC 1 and 2)."""
    import jax.numpy as jnp

    b, h, s, d = p["b"], p["h"], p["s"], p["d"]
    o = fn(
        q.reshape(b * h, s, d),
        jnp.swapaxes(k, 2, 3).reshape(b * h, d, s),
        v.reshape(b * h, s, d),
        scale=1.0 / (d ** 0.5),
        causal_mask=p["causal"] == 1,
        tp_q=True,
        tp_k=False,
        tp_out=False,
    )
    return o.reshape(b, h, s, d)


# The kernel library neuronx-cc bundles from Neuron 2.28 on (the supported nki namespace), then
# the legacy neuronxcc.nki kernel (deprecated in 2.27, its kernels refused by the compiler from
# 2.28, removed in 2.34). The first importable one is used.
CTE = Kernel("nkilib.core.attention.attention_cte", "attention_cte", cte_limits, cte_launch)
FLASH = Kernel("neuronxcc.nki.kernels.attention", "flash_fwd", flash_limits, flash_launch)
KERNELS = (CTE, FLASH)


def build(impl, point, constants, kernel=None):
    """The Lowering of `point` as implementation `impl` through `kernel` (None: the limits of
    every kernel, for --sim stand-ins that name none), or raises Unsupported."""
    if impl not in IMPLEMENTATIONS:
        raise Unsupported(f"unknown implementation {impl}")
    if point["workload"] not in NKI:
        raise Unsupported(f"no NKI kernel is wired for {point['workload']} (only {', '.join(sorted(NKI))})")
    lowerings.storage(point["dtype"])
    return NKI[point["workload"]](point, constants.get(point["workload"], {}), kernel)


def kernel():
    """The first importable kernel of KERNELS, or raises Unsupported naming what was tried."""
    for k in KERNELS:
        if k.load() is not None:
            return k
    raise Unsupported(
        f"no NKI attention kernel is importable ({', '.join(k.path for k in KERNELS)}): "
        f"both ship with neuronx-cc ({INSTALL})"
    )


def attention(point, _c, kern):
    p, d = point["params"], lowerings.storage(point["dtype"])
    for k in [kern] if kern else KERNELS:
        why = k.limits(p)
        if why:
            raise Unsupported(why)

    def fn(q, k, v):
        fn_ = kern.load()
        if fn_ is None:
            raise Unsupported(f"{kern.path} is not importable")
        o = kern.launch(fn_, q, k, v, p, d)
        return (o.astype(lowerings.jnp_dtype(d)),)

    low = Lowering(fn, lowerings.plan_tensors(point, "inputs"), lowerings.plan_tensors(point, "outputs"), check="out")
    low.kernel = kern.path if kern else None
    return low


NKI = {"attention": attention}
