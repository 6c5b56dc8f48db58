"""prefill and decode for torch_reference.py (kernels/src/infer.rs, f64 reference in
kernels/src/infer_ref.rs): bench's seeded inputs bit for bit, its FLOP/byte/item accounting,
a float64 numpy reference of the logits it checks, and the torch steps timed on the GPU.

- prefill: the forward pass of train-gpt's decoder over `batch` prompts of `prompt` tokens
  with causal SDPA, each layer's K and V written into a preallocated cache; logits (float32)
  at prefill_positions (0, 7, 31, the middle, the last).
- decode: one generation step for `batch` sequences over a KV cache preallocated on the
  device for context + DECODE_WINDOW positions and filled once from the pooled `kv` input
  (position p = pool row p mod pool); step i writes position context + i mod DECODE_WINDOW
  with token row i mod DECODE_WINDOW and attends (SDPA, one query) over every position up
  to it, as bench's CUDA decode does; logits [batch, vocab] (float32).

The check replays what bench checks: the first and last sequence; prefill's output positions
whose prefix fits REFERENCE_FLOPS (position 0 always); decode after DECODE_CHECK_STEPS steps.
"""

import math

DECODE_WINDOW = 16
KV_POOL = 251
DECODE_CHECK_STEPS = 2
REFERENCE_FLOPS = 3e10
CHECKED_SEQS = 2
LN_EPS = 1e-5
GELU_C = math.sqrt(2.0 / math.pi)

# kernels/src/infer.rs logits_tolerance
TOLERANCE = {"f32": 1e-3, "tf32": 1e-2, "f16": 3e-2, "bf16": 8e-2, "fp8_e4m3": 8e-2}


def model(p, positions):
    """The train-gpt shape with `positions` rows of position embedding (gpt_param_specs'
    dict)."""
    return {"d_model": p["d_model"], "layers": p["layers"], "heads": p["heads"],
            "vocab": p["vocab"], "seq": positions}


def positions_of(p, workload):
    return p["prompt"] if workload == "prefill" else p["context"] + DECODE_WINDOW


def prefill_positions(prompt):
    return sorted({q for q in (0, 7, 31, prompt // 2, prompt - 1) if q < prompt})


def block_parameters(t, p):
    """Decoder::block_parameters: every parameter outside the embeddings."""
    d, L = p["d_model"], p["layers"]
    per_layer = 2 * d + d * 3 * d + 3 * d + d * d + d + 2 * d + d * 4 * d + 4 * d + 4 * d * d + d
    return L * per_layer + 2 * d


def flops(workload, p):
    d, L, v = p["d_model"], p["layers"], p["vocab"]
    nb = float(block_parameters(None, p))
    if workload == "prefill":
        b, t = float(p["batch"]), float(p["prompt"])
        rows = b * len(prefill_positions(p["prompt"]))
        return 2.0 * nb * t * b + 2.0 * L * d * t * t * b + 2.0 * float(v * d) * rows
    b = float(p["batch"])
    return 2.0 * (nb + v * d) * b + 4.0 * float(L * d * p["context"]) * b


def bytes_moved(workload, p, e, total_params):
    d, L, v = p["d_model"], p["layers"], p["vocab"]
    kv = 2 * L * d
    if workload == "prefill":
        out = float(p["batch"] * len(prefill_positions(p["prompt"])) * v)
        return e * (float(total_params) + float(p["batch"] * p["prompt"]) * kv) + 4.0 * out
    return e * (float(block_parameters(None, p) + v * d) + float(p["batch"] * p["context"] * kv))


def items(workload, p):
    if workload == "prefill":
        return float(p["batch"] * p["prompt"]), "tokens"
    return float(p["batch"]), "tokens"


def checked_seqs(batch):
    n = min(CHECKED_SEQS, batch)
    return sorted({i * (batch - 1) // max(CHECKED_SEQS - 1, 1) for i in range(n)})


def prefill_checked(p):
    """Prefill::checked: the sequences and output positions the reference covers."""
    seqs = checked_seqs(p["batch"])
    nb = float(block_parameters(None, p))
    ld = float(p["layers"] * p["d_model"])
    out = []
    for i, q in enumerate(prefill_positions(p["prompt"])):
        t = float(q + 1)
        if i == 0 or len(seqs) * (2.0 * nb * t + 2.0 * ld * t * t) <= REFERENCE_FLOPS:
            out.append(q)
    return seqs, out


def tokens(seed, stream, n, vocab, u64_stream):
    return [(z * vocab) >> 64 for z in u64_stream(seed, stream, n)]


def point_inputs(workload, p, dtype, seed, h):
    """bench's inputs (float32 numpy arrays, int32 tokens); `h` is torch_reference (fill,
    round_to, u64_stream, gpt_param_specs)."""
    import numpy as np

    m = model(p, positions_of(p, workload))
    scale2 = float(np.float32(0.02) * np.sqrt(np.float32(3.0)))
    out = {}
    for name, shape in h.gpt_param_specs(m):
        n = math.prod(shape)
        if name.endswith("_g"):
            values = np.ones(n, dtype=np.float32)
        else:
            values = h.fill(seed, f"{workload}/{name}", n, scale2 if len(shape) == 2 else 0.01)
        out[name] = h.round_to(values, dtype).reshape(shape)
    b, v = p["batch"], p["vocab"]
    if workload == "prefill":
        t = tokens(seed, "prefill/tokens", b * p["prompt"], v, h.u64_stream)
        out["tokens"] = np.asarray(t, dtype=np.int32).reshape(b, p["prompt"])
        return out
    d, L = p["d_model"], p["layers"]
    pool = min(p["context"], KV_POOL)
    shape = (L, 2, b, pool, d)
    scale = float(np.float32(0.02) * np.sqrt(np.float32(3.0 * d)))
    out["kv"] = h.round_to(h.fill(seed, "decode/kv", math.prod(shape), scale), dtype).reshape(shape)
    t = tokens(seed, "decode/tokens", DECODE_WINDOW * b, v, h.u64_stream)
    out["tokens"] = np.asarray(t, dtype=np.int32).reshape(DECODE_WINDOW, b)
    return out


def _ln(x, g, b):
    import numpy as np

    xc = x - x.mean(axis=-1, keepdims=True)
    return xc / np.sqrt((xc * xc).mean(axis=-1, keepdims=True) + LN_EPS) * g + b


def _forward(p, x, toks, pos0, cache_k, cache_v):
    """float64 forward of one sequence's tokens at positions pos0.. over its cache (lists of
    per-layer [positions, d] arrays, appended to); returns the final LayerNorm rows."""
    import numpy as np

    d, h, L = p["d_model"], p["heads"], p["layers"]
    hd = d // h
    P = {k: v.astype(np.float64) for k, v in x.items() if k not in ("tokens", "kv")}
    t = len(toks)
    a = P["wte"][toks] + P["wpe"][pos0:pos0 + t]
    for layer in range(L):
        W = lambda n: P[f"h{layer}.{n}"]  # noqa: E731
        qkv = _ln(a, W("ln1_g"), W("ln1_b")) @ W("w_qkv") + W("b_qkv")
        q, k, v = qkv[:, :d], qkv[:, d:2 * d], qkv[:, 2 * d:]
        K = np.concatenate([cache_k[layer], k])
        V = np.concatenate([cache_v[layer], v])
        cache_k[layer], cache_v[layer] = K, V
        before = K.shape[0] - t
        att = np.empty((t, d))
        for hi in range(h):
            sl = slice(hi * hd, (hi + 1) * hd)
            s = q[:, sl] @ K[:, sl].T / math.sqrt(hd)
            mask = np.arange(K.shape[0])[None, :] > (before + np.arange(t))[:, None]
            s = np.where(mask, -np.inf, s)
            s = np.exp(s - s.max(axis=-1, keepdims=True))
            att[:, sl] = (s / s.sum(axis=-1, keepdims=True)) @ V[:, sl]
        a = a + att @ W("w_o") + W("b_o")
        u = _ln(a, W("ln2_g"), W("ln2_b")) @ W("w_fc") + W("b_fc")
        u = 0.5 * u * (1.0 + np.tanh(GELU_C * (u + 0.044715 * u ** 3)))
        a = a + u @ W("w_proj") + W("b_proj")
    return _ln(a, P["lnf_g"], P["lnf_b"]), P["wte"]


def reference(workload, p, x):
    """float64 logits bench checks: {(sequence, output row): logits row}, output row an
    index into prefill_positions (prefill) or 0 (decode)."""
    import numpy as np

    L = p["layers"]
    out = {}
    if workload == "prefill":
        seqs, checked = prefill_checked(p)
        allpos = prefill_positions(p["prompt"])
        t = checked[-1] + 1
        for s in seqs:
            empty = [np.zeros((0, p["d_model"])) for _ in range(L)]
            xf, wte = _forward(p, x, x["tokens"][s, :t], 0, empty, list(empty))
            for q in checked:
                out[(s, allpos.index(q))] = xf[q] @ wte.T
        return out
    ctx, pool = p["context"], min(p["context"], KV_POOL)
    rows = np.arange(ctx) % pool
    for s in checked_seqs(p["batch"]):
        ks = [x["kv"][layer, 0, s, rows].astype(np.float64) for layer in range(L)]
        vs = [x["kv"][layer, 1, s, rows].astype(np.float64) for layer in range(L)]
        toks = x["tokens"][:DECODE_CHECK_STEPS, s]
        xf, wte = _forward(p, x, toks, ctx, ks, vs)
        out[(s, 0)] = xf[-1] @ wte.T
    return out


def rel_error(got, ref):
    """bench's metric over the checked rows: max |x − ref| / (|ref| + rms(ref))."""
    import numpy as np

    r = np.concatenate([v for v in ref.values()])
    g = np.concatenate([np.asarray(got[k], dtype=np.float64) for k in ref])
    rms = math.sqrt(float((r * r).mean()))
    e = np.abs(g - r) / (np.abs(r) + rms)
    return float(e.max()) if np.all(np.isfinite(g)) else math.inf


class InferStep:
    """One prefill or decode iteration in torch, the decoder of kernels/src/gpt.rs with
    parameters in the point's dtype (f32 for tf32, with TF32 matmuls allowed), causal SDPA for
    prefill and SDPA of one query over the device KV cache for decode."""

    def __init__(self, tc, workload, p, dtype, x):
        torch = tc.torch
        torch.backends.cuda.matmul.allow_tf32 = dtype == "tf32"
        self.torch, self.w, self.p = torch, workload, p
        self.P = {k: tc.tensor(v, dtype) for k, v in x.items() if k not in ("tokens", "kv")}
        self.tokens = tc.torch.from_numpy(x["tokens"].astype("int64")).to(tc.dev)
        b, h, d, L = p["batch"], p["heads"], p["d_model"], p["layers"]
        hd = d // h
        cap = p["prompt"] if workload == "prefill" else p["context"] + DECODE_WINDOW
        dt = tc.dtype(dtype)
        self.K = [torch.zeros((b, h, cap, hd), dtype=dt, device=tc.dev) for _ in range(L)]
        self.V = [torch.zeros((b, h, cap, hd), dtype=dt, device=tc.dev) for _ in range(L)]
        if workload == "decode":
            ctx, pool = p["context"], min(p["context"], KV_POOL)
            kv = tc.tensor(x["kv"], dtype)  # [L, 2, b, pool, d]
            rows = torch.arange(ctx, device=tc.dev) % pool
            for layer in range(L):
                for part, dst in ((0, self.K), (1, self.V)):
                    src = kv[layer, part][:, rows].view(b, ctx, h, hd).transpose(1, 2)
                    dst[layer][:, :, :ctx].copy_(src)
            del kv
        self.rows = torch.tensor(prefill_positions(p.get("prompt", 1)), device=tc.dev)
        self.step = 0
        self.logits = None

    def _layers(self, a, pos, t):
        torch, p, P = self.torch, self.p, self.P
        F = torch.nn.functional
        b, d, h = p["batch"], p["d_model"], p["heads"]
        hd = d // h
        for layer in range(p["layers"]):
            W = lambda n: P[f"h{layer}.{n}"]  # noqa: E731
            c = F.layer_norm(a, (d,), W("ln1_g"), W("ln1_b"), eps=LN_EPS).view(b * t, d)
            qkv = torch.addmm(W("b_qkv"), c, W("w_qkv")).view(b, t, 3, h, hd)
            q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [b, h, t, hd]
            self.K[layer][:, :, pos:pos + t].copy_(k)
            self.V[layer][:, :, pos:pos + t].copy_(v)
            if self.w == "prefill":
                att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:
                att = F.scaled_dot_product_attention(
                    q, self.K[layer][:, :, :pos + 1], self.V[layer][:, :, :pos + 1])
            att = att.transpose(1, 2).reshape(b * t, d)
            a = a + torch.addmm(W("b_o"), att, W("w_o")).view(b, t, d)
            c = F.layer_norm(a, (d,), W("ln2_g"), W("ln2_b"), eps=LN_EPS).view(b * t, d)
            u = F.gelu(torch.addmm(W("b_fc"), c, W("w_fc")), approximate="tanh")
            a = a + torch.addmm(W("b_proj"), u, W("w_proj")).view(b, t, d)
        return a

    def __call__(self):
        torch, p, P = self.torch, self.p, self.P
        F = torch.nn.functional
        d = p["d_model"]
        if self.w == "prefill":
            t = p["prompt"]
            a = F.embedding(self.tokens, P["wte"]) + P["wpe"]
            a = self._layers(a, 0, t)[:, self.rows]
        else:
            pos = p["context"] + self.step % DECODE_WINDOW
            tok = self.tokens[self.step % DECODE_WINDOW]
            a = (F.embedding(tok, P["wte"]) + P["wpe"][pos]).unsqueeze(1)
            a = self._layers(a, pos, 1)[:, 0]
        xf = F.layer_norm(a, (d,), P["lnf_g"], P["lnf_b"], eps=LN_EPS)
        self.logits = (xf @ P["wte"].t()).float()
        self.step += 1

    def checked_output(self, ref):
        """The logits at the reference's (sequence, row) keys, as float64 numpy rows."""
        out = self.logits.double().cpu().numpy()
        if self.w == "prefill":
            return {k: out[k[0], k[1]] for k in ref}
        return {k: out[k[0]] for k in ref}
