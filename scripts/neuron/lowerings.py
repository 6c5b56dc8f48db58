"""Per-workload lowerings for build_neffs.py: what each NEFF computes, as a JAX function,
and its tensors as bench's Neuron backend sees them (the kernels crate's input names and
shapes, dtypes, how each input starts, which input each output feeds on the next step).

The kernels crate's tensors (names, shapes, storage dtypes of the inputs and outputs) come
from the plan (`bench plan` writes them for every point); a lowering adds only what the NEFF
needs beyond them (a training step's optimiser state and step counter). A workload is one
function registered with @lowering("name") that returns a Lowering. A new workload is one more
such function; nothing else in the build script or the Rust backend changes.

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
    init: str = "workload"  # inputs: "workload" (seeded kernels input), "zeros" or "tiled"
    feeds: Optional[str] = None  # outputs: the input this becomes on the next step
    # init "tiled": the workload input `source` repeated along its second-last axis to `rows`
    # rows (row r = source row r % source rows), the rest of that axis zero.
    source: Optional[str] = None
    rows: Optional[int] = None


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


# Masked scores and reduction identities are a large finite negative, never -inf: on trn1 the
# compiler needs --enable-saturate-infinity to keep -inf out of NaN in its matmul transposes,
# and a finite value avoids the question (the HLO holds no inf constant; a test checks it).
MASKED = -1e30


def row_max(x):
    """Max over the last axis with a finite identity (jnp.max's reduce starts from -inf)."""
    import jax
    import numpy as np

    m = jax.lax.reduce(x, np.float32(MASKED).astype(x.dtype), jax.lax.max, (x.ndim - 1,))
    return jax.lax.stop_gradient(m)[..., None]


def softmax(x):
    """Softmax over the last axis without inf constants."""
    import jax.numpy as jnp

    e = jnp.exp(x - row_max(x))
    return e / jnp.sum(e, axis=-1, keepdims=True)


def logsumexp(x):
    """log(sum(exp(x))) over the last axis without inf constants."""
    import jax.numpy as jnp

    m = row_max(x)
    return (m + jnp.log(jnp.sum(jnp.exp(x - m), axis=-1, keepdims=True)))[..., 0]


def plan_tensors(point, key):
    """The point's "inputs" or "outputs" from the plan, as Tensors."""
    return [Tensor(t["name"], list(t["shape"]), t["dtype"]) for t in point[key]]


def build(point, constants):
    """The Lowering of a plan point, or raises Unsupported."""
    f = LOWERINGS.get(point["workload"])
    if f is None:
        raise Unsupported(f"build_neffs.py has no lowering for workload {point['workload']}")
    storage(point["dtype"])
    return f(point, constants.get(point["workload"], {}))


@lowering("matmul")
def matmul(point, _c):
    d = storage(point["dtype"])

    def fn(a, b):
        import jax.numpy as jnp

        out = jnp.matmul(a, b, preferred_element_type=jnp.float32)
        return (out.astype(jnp_dtype(d)),)

    return Lowering(fn, plan_tensors(point, "inputs"), plan_tensors(point, "outputs"), check="out")


@lowering("attention")
def attention(point, _c):
    p, d = point["params"], storage(point["dtype"])
    causal = p["causal"] == 1
    scale = 1.0 / (p["d"] ** 0.5)

    def fn(q, k, v):
        import jax
        import jax.numpy as jnp

        s = jnp.einsum("bhqd,bhkd->bhqk", q, k, preferred_element_type=jnp.float32) * scale
        if causal:
            n = q.shape[2]
            mask = jnp.tril(jnp.ones((n, n), dtype=bool))
            s = jnp.where(mask, s, MASKED)
        w = softmax(s)
        o = jnp.einsum("bhqk,bhkd->bhqd", w.astype(q.dtype), v, preferred_element_type=jnp.float32)
        return (o.astype(jnp_dtype(d)),)

    return Lowering(fn, plan_tensors(point, "inputs"), plan_tensors(point, "outputs"), check="out")


def split_data(point, data_names):
    """The plan's inputs as (parameters, data tensors): the kernels crate lists a training
    workload's parameters first, in its order, then its data (x, y / tokens)."""
    inputs = plan_tensors(point, "inputs")
    params = [t for t in inputs if t.name not in data_names]
    data = {t.name: t for t in inputs if t.name in data_names}
    (loss,) = plan_tensors(point, "outputs")
    return params, [data[n] for n in data_names], loss


def mlp_loss(params, xb, yb, layers, classes):
    """Mean softmax cross-entropy of the ReLU MLP (kernels/src/mlp.rs), computed in f32."""
    import jax
    import jax.numpy as jnp

    h = xb
    for i in range(layers):
        h = jax.nn.relu(h @ params[2 * i] + params[2 * i + 1])
    logits = (h @ params[2 * layers] + params[2 * layers + 1]).astype(jnp.float32)
    lse = logsumexp(logits)
    picked = jnp.take_along_axis(logits, yb[:, None], axis=-1)[:, 0]
    return jnp.mean(lse - picked)


@lowering("train-mlp")
def train_mlp(point, c):
    """One SGD-momentum step (v <- mu*v + g; p <- p - lr*v) on batch step % batch_pool.
    Inputs: params, momentum buffers, x, y, step; outputs: the updated params and buffers,
    the loss before the update, step + 1 (the loop ping-pongs them)."""
    p = point["params"]
    lr, mu, pool = c["lr"], c["momentum"], int(c["batch_pool"])
    layers, classes = p["layers"], p["classes"]
    params, data, loss_t = split_data(point, ["x", "y"])
    moms = [Tensor(f"m_{t.name}", t.shape, t.dtype, init="zeros") for t in params]
    inputs = params + moms + data + [Tensor("step", [], "i32", init="zeros")]
    outputs = (
        [Tensor(f"{t.name}_next", t.shape, t.dtype, feeds=t.name) for t in params + moms]
        + [loss_t, Tensor("step_next", [], "i32", feeds="step")]
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


def gpt_loss(params, ids, targets, p, ln_eps):
    """Mean next-token cross-entropy of the transformer in kernels/src/gpt.rs: pre-norm blocks,
    causal attention with an f32 softmax, tanh-GELU MLP, tied head. Matmuls accumulate in f32
    and round to the parameters' dtype; LayerNorm, softmax and the loss run in f32."""
    import jax
    import jax.numpy as jnp

    f32 = jnp.float32
    dt = params[0].dtype
    b, t = ids.shape
    d, h = p["d_model"], p["heads"]
    hd = d // h

    def mm(a, w):
        return jnp.matmul(a, w, preferred_element_type=f32).astype(dt)

    def ln(x, g, bias):
        x32 = x.astype(f32)
        mu = jnp.mean(x32, axis=-1, keepdims=True)
        var = jnp.mean((x32 - mu) ** 2, axis=-1, keepdims=True)
        return ((x32 - mu) / jnp.sqrt(var + ln_eps) * g.astype(f32) + bias.astype(f32)).astype(dt)

    wte, wpe = params[0], params[1]
    x = (wte[ids] + wpe[None, :, :]).reshape(b * t, d)
    mask = jnp.tril(jnp.ones((t, t), dtype=bool))
    for layer in range(p["layers"]):
        ln1_g, ln1_b, w_qkv, b_qkv, w_o, b_o, ln2_g, ln2_b, w_fc, b_fc, w_proj, b_proj = params[
            2 + 12 * layer : 14 + 12 * layer
        ]
        qkv = (mm(ln(x, ln1_g, ln1_b), w_qkv) + b_qkv).reshape(b, t, 3, h, hd)
        q, k, v = (qkv[:, :, i].transpose(0, 2, 1, 3) for i in range(3))
        s = jnp.einsum("bhqd,bhkd->bhqk", q, k, preferred_element_type=f32) / jnp.sqrt(f32(hd))
        w = softmax(jnp.where(mask, s, MASKED)).astype(dt)
        att = jnp.einsum("bhqk,bhkd->bhqd", w, v, preferred_element_type=f32).astype(dt)
        x = x + mm(att.transpose(0, 2, 1, 3).reshape(b * t, d), w_o) + b_o
        u = mm(ln(x, ln2_g, ln2_b), w_fc) + b_fc
        x = x + mm(jax.nn.gelu(u, approximate=True), w_proj) + b_proj
    xf = ln(x, params[-2], params[-1])
    logits = jnp.matmul(xf, wte.T, preferred_element_type=f32)
    lse = logsumexp(logits)
    picked = jnp.take_along_axis(logits, targets.reshape(-1, 1), axis=-1)[:, 0]
    return jnp.mean(lse - picked)


@lowering("train-gpt")
def train_gpt(point, c):
    """One AdamW step (bias-corrected, decoupled weight decay on every parameter) on batch
    step % batch_pool. Inputs: params (the kernels crate's, in its order), first moments,
    second moments, tokens, step; outputs: the updated params and moments, the loss before the
    update, step + 1."""
    p = point["params"]
    lr, b1, b2, eps, wd = c["lr"], c["beta1"], c["beta2"], c["eps"], c["weight_decay"]
    ln_eps, pool = c["ln_eps"], int(c["batch_pool"])
    params, data, loss_t = split_data(point, ["tokens"])
    m1 = [Tensor(f"m_{t.name}", t.shape, t.dtype, init="zeros") for t in params]
    m2 = [Tensor(f"v_{t.name}", t.shape, t.dtype, init="zeros") for t in params]
    inputs = params + m1 + m2 + data + [Tensor("step", [], "i32", init="zeros")]
    state = params + m1 + m2
    outputs = [Tensor(f"{t.name}_next", t.shape, t.dtype, feeds=t.name) for t in state] + [
        loss_t,
        Tensor("step_next", [], "i32", feeds="step"),
    ]
    n = len(params)

    def fn(*args):
        import jax
        import jax.numpy as jnp

        f32 = jnp.float32
        ps, ms, vs = list(args[:n]), list(args[n : 2 * n]), list(args[2 * n : 3 * n])
        tokens, step = args[3 * n :]
        tb = jax.lax.dynamic_index_in_dim(tokens, step % pool, axis=0, keepdims=False)
        loss, grads = jax.value_and_grad(gpt_loss)(ps, tb[:, :-1], tb[:, 1:], p, ln_eps)
        t = (step + 1).astype(f32)
        c1, c2 = 1.0 - b1**t, 1.0 - b2**t
        new_p, new_m, new_v = [], [], []
        for q, m, v, g in zip(ps, ms, vs, grads):
            g = g.astype(f32)
            m = b1 * m.astype(f32) + (1.0 - b1) * g
            v = b2 * v.astype(f32) + (1.0 - b2) * g * g
            q32 = q.astype(f32)
            q32 = q32 - lr * ((m / c1) / (jnp.sqrt(v / c2) + eps) + wd * q32)
            new_p.append(q32.astype(q.dtype))
            new_m.append(m.astype(q.dtype))
            new_v.append(v.astype(q.dtype))
        return tuple(new_p) + tuple(new_m) + tuple(new_v) + (loss.astype(f32), step + 1)

    consts = {"lr": lr, "beta1": b1, "beta2": b2, "eps": eps, "weight_decay": wd, "ln_eps": ln_eps, "batch_pool": pool}
    return Lowering(fn, inputs, outputs, loss="loss", constants=consts)


# --- inference: prefill and decode (kernels/src/infer.rs) ---------------------------------


def prefill_positions(prompt):
    """The prompt positions whose logits prefill outputs (kernels::infer::prefill_positions)."""
    return sorted({q for q in (0, 7, 31, prompt // 2, prompt - 1) if 0 <= q < prompt})


class DecoderOps:
    """train-gpt's decoder pieces at the parameters' dtype `dt`: matmuls accumulate in f32 and
    round to `dt`; LayerNorm and softmax run in f32 (as gpt_loss)."""

    def __init__(self, p, ln_eps, dt):
        self.d, self.h, self.layers, self.dt, self.ln_eps = p["d_model"], p["heads"], p["layers"], dt, ln_eps
        self.hd = self.d // self.h

    def mm(self, a, w):
        import jax.numpy as jnp

        return jnp.matmul(a, w, preferred_element_type=jnp.float32).astype(self.dt)

    def ln(self, x, g, bias):
        import jax.numpy as jnp

        f32 = jnp.float32
        x32 = x.astype(f32)
        mu = jnp.mean(x32, axis=-1, keepdims=True)
        var = jnp.mean((x32 - mu) ** 2, axis=-1, keepdims=True)
        return ((x32 - mu) / jnp.sqrt(var + self.ln_eps) * g.astype(f32) + bias.astype(f32)).astype(self.dt)

    def block(self, params, layer):
        return params[2 + 12 * layer : 14 + 12 * layer]

    def mlp(self, x, w):
        import jax

        _, _, _, _, _, _, ln2_g, ln2_b, w_fc, b_fc, w_proj, b_proj = w
        u = self.mm(self.ln(x, ln2_g, ln2_b), w_fc) + b_fc
        return x + self.mm(jax.nn.gelu(u, approximate=True), w_proj) + b_proj

    def logits(self, params, x):
        """Final LayerNorm and the tied head (wte), f32 logits."""
        import jax.numpy as jnp

        xf = self.ln(x, params[-2], params[-1])
        return jnp.matmul(xf, params[0].T, preferred_element_type=jnp.float32)


def infer_split(point, data_names):
    """The plan's inputs as (parameters, {data name: tensor}); the plan's outputs."""
    inputs = plan_tensors(point, "inputs")
    params = [t for t in inputs if t.name not in data_names]
    data = {t.name: t for t in inputs if t.name in data_names}
    missing = [n for n in data_names if n not in data]
    if missing:
        raise Unsupported(f"the plan's {point['workload']} point lacks inputs {missing}: write the plan with this bench")
    return params, data, plan_tensors(point, "outputs")


def infer_constant(c, point, key):
    if key not in c:
        raise Unsupported(
            f"the plan has no constants.{point['workload']}.{key} (a plan from an older bench?): write it again with bench plan"
        )
    return c[key]


@lowering("prefill")
def prefill(point, c):
    """The forward over `batch` prompts of `prompt` tokens. Inputs: the parameters (the kernels
    crate's order), tokens [batch, prompt]; outputs: the logits [batch, positions, vocab] (f32)
    at prefill_positions (the plan's output, checked) and the KV cache it writes,
    kv_cache [layers, 2, batch, prompt, d_model] (K then V; head h in channels h*d_head..)."""
    p = point["params"]
    ln_eps = infer_constant(c, point, "ln_eps")
    params, data, (logits_t,) = infer_split(point, ["tokens"])
    b, t = data["tokens"].shape
    positions = prefill_positions(t)
    if logits_t.shape != [b, len(positions), p["vocab"]]:
        raise Unsupported(
            f"the plan's prefill logits are {logits_t.shape}, this lowering writes {[b, len(positions), p['vocab']]}: "
            "build_neffs.py and bench disagree on the output positions; use the same checkout for both"
        )
    cache_t = Tensor("kv_cache", [p["layers"], 2, b, t, p["d_model"]], params[0].dtype)
    inputs = params + [data["tokens"]]
    outputs = [logits_t, cache_t]
    n = len(params)

    def fn(*args):
        import jax.numpy as jnp

        ps, ids = list(args[:n]), args[n]
        ops = DecoderOps(p, ln_eps, ps[0].dtype)
        d, h, hd = ops.d, ops.h, ops.hd
        x = (ps[0][ids] + ps[1][None, :t, :]).reshape(b * t, d)
        mask = jnp.tril(jnp.ones((t, t), dtype=bool))
        ks, vs = [], []
        for layer in range(ops.layers):
            w = ops.block(ps, layer)
            ln1_g, ln1_b, w_qkv, b_qkv, w_o, b_o = w[:6]
            qkv = (ops.mm(ops.ln(x, ln1_g, ln1_b), w_qkv) + b_qkv).reshape(b, t, 3, d)
            ks.append(qkv[:, :, 1])
            vs.append(qkv[:, :, 2])
            q, k, v = (qkv[:, :, i].reshape(b, t, h, hd).transpose(0, 2, 1, 3) for i in range(3))
            s = jnp.einsum("bhqd,bhkd->bhqk", q, k, preferred_element_type=jnp.float32) / jnp.sqrt(jnp.float32(hd))
            wts = softmax(jnp.where(mask, s, MASKED)).astype(ops.dt)
            att = jnp.einsum("bhqk,bhkd->bhqd", wts, v, preferred_element_type=jnp.float32).astype(ops.dt)
            x = x + ops.mm(att.transpose(0, 2, 1, 3).reshape(b * t, d), w_o) + b_o
            x = ops.mlp(x, w)
        rows = x.reshape(b, t, d)[:, jnp.array(positions), :]
        logits = ops.logits(ps, rows)
        cache = jnp.stack([jnp.stack([k, v]) for k, v in zip(ks, vs)])
        return (logits, cache)

    return Lowering(fn, inputs, outputs, check=logits_t.name, constants={"ln_eps": ln_eps})


@lowering("decode")
def decode(point, c):
    """One generation step over a KV cache held on the device. Inputs: the parameters, tokens
    [window, batch] (step i's new tokens in row i % window), cache [layers, 2, batch,
    context + window, d_model] and step (i32); outputs: the logits [batch, vocab] (f32, the
    plan's output, checked), cache_next (the cache with step i's K and V written at position
    context + i % window) and step + 1, which feed cache and step on the next execution (the
    backend ping-pongs two tensor sets, as for training). Every position up to the step's own
    is attended; later ones (stale rows of an earlier window) are masked, so every `window`
    steps the cache length returns to context + 1. The cache starts as the kernels crate's
    pooled `kv` input tiled over the context (position p = pool row p % pool, init "tiled"),
    later positions zero; `kv` itself is no NEFF input."""
    p = point["params"]
    ln_eps = infer_constant(c, point, "ln_eps")
    window = int(infer_constant(c, point, "window"))
    params, data, (logits_t,) = infer_split(point, ["kv", "tokens"])
    kv, tokens = data["kv"], data["tokens"]
    layers, _, b, _, d = kv.shape
    ctx = p["context"]
    if tokens.shape != [window, b]:
        raise Unsupported(f"the plan's decode tokens are {tokens.shape}, not [window={window}, batch={b}]")
    cap = ctx + window
    cache_t = Tensor("cache", [layers, 2, b, cap, d], kv.dtype, init="tiled", source="kv", rows=ctx)
    step_t = Tensor("step", [], "i32", init="zeros")
    inputs = params + [tokens, cache_t, step_t]
    outputs = [
        logits_t,
        Tensor("cache_next", cache_t.shape, cache_t.dtype, feeds="cache"),
        Tensor("step_next", [], "i32", feeds="step"),
    ]
    n = len(params)

    def fn(*args):
        import jax
        import jax.numpy as jnp

        ps = list(args[:n])
        toks, cache, step = args[n:]
        ops = DecoderOps(p, ln_eps, ps[0].dtype)
        h, hd = ops.h, ops.hd
        slot = step % window
        pos = ctx + slot
        tok = jax.lax.dynamic_index_in_dim(toks, slot, axis=0, keepdims=False)
        x = ps[0][tok] + jax.lax.dynamic_index_in_dim(ps[1], pos, axis=0, keepdims=True)
        seen = jnp.arange(cap) <= pos
        zero = jnp.zeros((), jnp.int32)
        for layer in range(ops.layers):
            w = ops.block(ps, layer)
            ln1_g, ln1_b, w_qkv, b_qkv, w_o, b_o = w[:6]
            qkv = ops.mm(ops.ln(x, ln1_g, ln1_b), w_qkv) + b_qkv
            q, k_new, v_new = qkv[:, :d], qkv[:, d : 2 * d], qkv[:, 2 * d :]
            new = jnp.stack([k_new, v_new]).astype(cache.dtype)[None, :, :, None, :]
            cache = jax.lax.dynamic_update_slice(cache, new, (jnp.int32(layer), zero, zero, pos, zero))
            kc = cache[layer, 0].reshape(b, cap, h, hd)
            vc = cache[layer, 1].reshape(b, cap, h, hd)
            s = jnp.einsum("bhd,bchd->bhc", q.reshape(b, h, hd), kc, preferred_element_type=jnp.float32)
            s = s / jnp.sqrt(jnp.float32(hd))
            wts = softmax(jnp.where(seen[None, None, :], s, MASKED)).astype(ops.dt)
            att = jnp.einsum("bhc,bchd->bhd", wts, vc, preferred_element_type=jnp.float32).astype(ops.dt)
            x = x + ops.mm(att.reshape(b, d), w_o) + b_o
            x = ops.mlp(x, w)
        return (ops.logits(ps, x), cache, step + 1)

    consts = {"ln_eps": ln_eps, "window": window, "context": ctx}
    return Lowering(fn, inputs, outputs, check=logits_t.name, constants=consts)
