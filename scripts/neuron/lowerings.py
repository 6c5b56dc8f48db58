"""Per-workload lowerings for build_neffs.py: what each NEFF computes, as a JAX function,
and its tensors as bench's Neuron backend sees them (the kernels crate's input names and
shapes, dtypes, how each input starts, which input each output feeds on the next step).

A workload is one function registered with @lowering("name") that returns a Lowering. A new
workload (e.g. train-gpt) is one more such function; nothing else in the build script or the
Rust backend changes, as long as its inputs carry the kernels crate's names.

JAX is imported inside the traced functions only, so tensor specs (all --sim needs) work
without JAX installed.
"""

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

# bench dtype -> storage dtype of the NEFF tensor
STORAGE = {"f32": "f32", "bf16": "bf16", "f16": "f16"}
UNSUPPORTED = {
    "tf32": "tf32 is a GPU compute mode; on Neuron it needs --auto-cast matmult --auto-cast-type tf32, "
    "which build_neffs.py does not use (every NEFF runs at its declared dtype with --auto-cast none)",
    "fp8_e4m3": "fp8_e4m3 points are not lowered yet (JAX float8 inputs through neuronx-cc are untested)",
}


class Unsupported(Exception):
    """The point cannot be lowered; the message is recorded in the manifest's 'skipped'."""


@dataclass
class Tensor:
    name: str  # bench's name: the kernels crate's input name, or an output's role
    shape: List[int]
    dtype: str  # f32 | bf16 | f16 | i32
    init: str = "workload"  # inputs: "workload" (seeded kernels input) or "zeros"
    feeds: Optional[str] = None  # outputs: the input this becomes on the next step


@dataclass
class Lowering:
    fn: Callable  # positional arrays in `inputs` order -> tuple in `outputs` order
    inputs: List[Tensor]
    outputs: List[Tensor]
    check: Optional[str] = None  # output compared with the f64 reference
    loss: Optional[str] = None  # training: the output holding the step's loss
    constants: Dict[str, float] = field(default_factory=dict)


LOWERINGS: Dict[str, Callable] = {}


def lowering(name):
    def register(f):
        LOWERINGS[name] = f
        return f

    return register


def storage(dtype):
    if dtype in UNSUPPORTED:
        raise Unsupported(UNSUPPORTED[dtype])
    if dtype not in STORAGE:
        raise Unsupported(f"unknown dtype {dtype}")
    return STORAGE[dtype]


def jnp_dtype(d):
    import jax.numpy as jnp

    return {"f32": jnp.float32, "bf16": jnp.bfloat16, "f16": jnp.float16, "i32": jnp.int32}[d]


def build(point, constants):
    """The Lowering of a plan point, or raises Unsupported."""
    f = LOWERINGS.get(point["workload"])
    if f is None:
        raise Unsupported(f"build_neffs.py has no lowering for workload {point['workload']}")
    return f(point["params"], point["dtype"], constants.get(point["workload"], {}))


@lowering("matmul")
def matmul(p, dtype, _c):
    d = storage(dtype)
    m, n, k = p["m"], p["n"], p["k"]

    def fn(a, b):
        import jax.numpy as jnp

        out = jnp.matmul(a, b, preferred_element_type=jnp.float32)
        return (out.astype(jnp_dtype(d)),)

    return Lowering(
        fn,
        [Tensor("a", [m, k], d), Tensor("b", [k, n], d)],
        [Tensor("out", [m, n], d)],
        check="out",
    )


@lowering("attention")
def attention(p, dtype, _c):
    d = storage(dtype)
    shape = [p["b"], p["h"], p["s"], p["d"]]
    causal = p["causal"] == 1
    scale = 1.0 / (p["d"] ** 0.5)

    def fn(q, k, v):
        import jax
        import jax.numpy as jnp

        s = jnp.einsum("bhqd,bhkd->bhqk", q, k, preferred_element_type=jnp.float32) * scale
        if causal:
            n = q.shape[2]
            mask = jnp.tril(jnp.ones((n, n), dtype=bool))
            s = jnp.where(mask, s, -jnp.inf)
        w = jax.nn.softmax(s, axis=-1)
        o = jnp.einsum("bhqk,bhkd->bhqd", w.astype(q.dtype), v, preferred_element_type=jnp.float32)
        return (o.astype(jnp_dtype(d)),)

    return Lowering(
        fn,
        [Tensor(n, shape, d) for n in ("q", "k", "v")],
        [Tensor("out", shape, d)],
        check="out",
    )


def mlp_param_specs(p, d):
    """w0, b0, ..., w_out, b_out: the kernels crate's names and shapes (kernels/src/mlp.rs)."""
    w, c = p["width"], p["classes"]
    specs = []
    for i in range(p["layers"]):
        specs.append(Tensor(f"w{i}", [w, w], d))
        specs.append(Tensor(f"b{i}", [w], d))
    specs.append(Tensor("w_out", [w, c], d))
    specs.append(Tensor("b_out", [c], d))
    return specs


def mlp_loss(params, xb, yb, layers, classes):
    """Mean softmax cross-entropy of the ReLU MLP (kernels/src/mlp.rs), computed in f32."""
    import jax
    import jax.numpy as jnp

    h = xb
    for i in range(layers):
        h = jax.nn.relu(h @ params[2 * i] + params[2 * i + 1])
    logits = (h @ params[2 * layers] + params[2 * layers + 1]).astype(jnp.float32)
    lse = jax.nn.logsumexp(logits, axis=-1)
    picked = jnp.take_along_axis(logits, yb[:, None], axis=-1)[:, 0]
    return jnp.mean(lse - picked)


@lowering("train-mlp")
def train_mlp(p, dtype, c):
    """One SGD-momentum step (v <- mu*v + g; p <- p - lr*v) on batch step % batch_pool.
    Inputs: params, momentum buffers, x, y, step; outputs: the updated params and buffers,
    the loss before the update, step + 1 (the loop ping-pongs them)."""
    d = storage(dtype)
    lr, mu, pool = c["lr"], c["momentum"], int(c["batch_pool"])
    layers, width, batch, classes = p["layers"], p["width"], p["batch"], p["classes"]
    params = mlp_param_specs(p, d)
    moms = [Tensor(f"m_{t.name}", t.shape, d, init="zeros") for t in params]
    inputs = (
        params
        + moms
        + [
            Tensor("x", [pool, batch, width], d),
            Tensor("y", [pool, batch], "i32"),
            Tensor("step", [], "i32", init="zeros"),
        ]
    )
    outputs = (
        [Tensor(f"{t.name}_next", t.shape, d, feeds=t.name) for t in params]
        + [Tensor(f"{t.name}_next", t.shape, d, feeds=t.name) for t in moms]
        + [Tensor("loss", [], "f32"), Tensor("step_next", [], "i32", feeds="step")]
    )
    np_ = len(params)

    def fn(*args):
        import jax
        import jax.numpy as jnp

        ps, ms = list(args[:np_]), list(args[np_ : 2 * np_])
        x, y, step = args[2 * np_ :]
        slot = step % pool
        xb = jax.lax.dynamic_index_in_dim(x, slot, axis=0, keepdims=False)
        yb = jax.lax.dynamic_index_in_dim(y, slot, axis=0, keepdims=False)
        loss, grads = jax.value_and_grad(mlp_loss)(ps, xb, yb, layers, classes)
        new_m = [(mu * m.astype(jnp.float32) + g.astype(jnp.float32)) for m, g in zip(ms, grads)]
        new_p = [(q.astype(jnp.float32) - lr * v).astype(q.dtype) for q, v in zip(ps, new_m)]
        new_m = [v.astype(m.dtype) for v, m in zip(new_m, ms)]
        return tuple(new_p) + tuple(new_m) + (loss.astype(jnp.float32), step + 1)

    return Lowering(fn, inputs, outputs, loss="loss", constants={"lr": lr, "momentum": mu, "batch_pool": pool})
