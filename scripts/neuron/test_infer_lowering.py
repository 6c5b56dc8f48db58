"""The prefill and decode lowerings against numpy f64 forwards and bench's own f64 reference.

The real `bench` binary dumps tiny prefill and decode points (`--dump`: the seeded inputs and
the f64 reference logits from kernels/src/infer_ref.rs), `bench plan` gives their tensors and
constants. A numpy f64 forward written here (the decoder of kernels/src/gpt.rs over a KV cache)
must agree with bench's reference to f64 rounding, and the JAX functions of lowerings.py, run on
the CPU from the dumped inputs, must agree with it to the dtype's tolerance: prefill's logits and
the KV cache it writes; decode run step after step with the cache and step fed back (as the
Neuron backend ping-pongs them), its logits after the check's steps, the cache it returns, and
the position wrapping after `window` steps. The lowered HLO has no inf constant and one
parameter per manifest input.

Run: python3 -m unittest discover -s scripts/neuron -p 'test_*.py'   (needs jax and a built
bench: target/debug/bench or target/release/bench, or BENCH_BIN=path)
"""

import json
import math
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import build_neffs  # noqa: E402
import lowerings  # noqa: E402
from test_gpt_lowering import bench_binary  # noqa: E402

MODEL = {"d_model": 16, "layers": 2, "heads": 2, "vocab": 29}
PREFILL = dict(MODEL, batch=3, prompt=9)
DECODE = dict(MODEL, batch=3, context=5)
CHECK_STEPS = 2  # kernels::infer::DECODE_CHECK_STEPS


def dumped(workload, params, dtype, d):
    """(plan point, plan constants, {input name: array}, reference values, reference indices)."""
    args = ["--workload", workload, "--dtype", dtype]
    for k, v in params.items():
        args += ["--param", f"{k}={v}"]
    binary = bench_binary()
    dump = os.path.join(d, f"dump-{workload}-{dtype}")
    subprocess.run(
        [binary, "--out", os.path.join(d, "runs"), "--dump", dump, "--budget", "0.05", "--warmup", "0",
         "--min-samples", "2"] + args,
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    plan_path = os.path.join(d, f"plan-{workload}-{dtype}.json")
    subprocess.run([binary, "plan", "--backend", "neuron", "--out", plan_path] + args,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(plan_path) as f:
        plan = json.load(f)
    with open(os.path.join(dump, "index.json")) as f:
        ((_, entry),) = json.load(f).items()
    files = {k: os.path.join(dump, v) for k, v in entry["files"].items()}
    inputs = {k[len("input_"):]: np.load(v) for k, v in files.items() if k.startswith("input_")}
    ref = np.load(files["reference"])
    idx = np.load(files["reference_indices"]) if "reference_indices" in files else None
    (point,) = plan["points"]
    return point, plan["constants"], inputs, ref, idx


class NpDecoder:
    """kernels/src/gpt.rs's decoder in numpy f64, one sequence at a time over a KV cache."""

    def __init__(self, point, inputs, eps):
        self.names = [t["name"] for t in point["inputs"] if t["name"] not in ("kv", "tokens")]
        self.w = [inputs[n].astype(np.float64) for n in self.names]
        p = point["params"]
        self.d, self.h, self.layers, self.eps = p["d_model"], p["heads"], p["layers"], eps

    def ln(self, x, g, b):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + self.eps) * g + b

    def forward(self, toks, pos0, cache):
        """Runs tokens at positions pos0.. of one sequence; cache[l] = [K rows, V rows] (lists of
        [d] rows, appended to). Returns the logits of every row."""
        d, h = self.d, self.h
        hd = d // h
        wte, wpe = self.w[0], self.w[1]
        x = wte[toks] + wpe[pos0 : pos0 + len(toks)]
        for layer in range(self.layers):
            ln1_g, ln1_b, w_qkv, b_qkv, w_o, b_o, ln2_g, ln2_b, w_fc, b_fc, w_proj, b_proj = self.w[
                2 + 12 * layer : 14 + 12 * layer
            ]
            qkv = self.ln(x, ln1_g, ln1_b) @ w_qkv + b_qkv
            k_rows, v_rows = cache[layer]
            before = len(k_rows)
            k_rows.extend(qkv[:, d : 2 * d])
            v_rows.extend(qkv[:, 2 * d :])
            K, V = np.array(k_rows), np.array(v_rows)
            att = np.zeros((len(toks), d))
            for i in range(len(toks)):
                seen = before + i + 1
                for hi in range(h):
                    c = slice(hi * hd, (hi + 1) * hd)
                    s = K[:seen, c] @ qkv[i, c] / math.sqrt(hd)
                    e = np.exp(s - s.max())
                    att[i, c] = (e / e.sum()) @ V[:seen, c]
            x = x + att @ w_o + b_o
            u = self.ln(x, ln2_g, ln2_b) @ w_fc + b_fc
            g = 0.5 * u * (1 + np.tanh(math.sqrt(2 / math.pi) * (u + 0.044715 * u**3)))
            x = x + g @ w_proj + b_proj
        return self.ln(x, self.w[-2], self.w[-1]) @ wte.T


def rel_err(got, want):
    """The check's error: max |got - want| over the rms of want."""
    got, want = np.asarray(got, np.float64).ravel(), np.asarray(want, np.float64).ravel()
    return float(np.max(np.abs(got - want)) / np.sqrt(np.mean(want**2)))


def to_f32(a):
    return np.asarray(a, dtype=np.float32)


class InferLowering(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import jax

        jax.config.update("jax_enable_x64", False)
        cls.jax = jax
        cls.tmp = tempfile.TemporaryDirectory()
        cls.pre = dumped("prefill", PREFILL, "f32", cls.tmp.name)
        cls.dec = dumped("decode", DECODE, "f32", cls.tmp.name)
        cls.dec_bf16 = dumped("decode", DECODE, "bf16", cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def args(self, low, inputs, dtype="f32"):
        """The NEFF's inputs as the Neuron backend fills them (workload, zeros, tiled)."""
        import jax.numpy as jnp

        out = []
        for t in low.inputs:
            jd = lowerings.jnp_dtype(t.dtype)
            if t.init == "zeros":
                out.append(jnp.zeros(t.shape, jd))
            elif t.init == "tiled":
                src = inputs[t.source]
                pool = src.shape[-2]
                rows = np.take(src, np.arange(t.rows) % pool, axis=-2)
                pad = [(0, 0)] * (src.ndim - 2) + [(0, t.shape[-2] - t.rows), (0, 0)]
                out.append(jnp.asarray(np.pad(rows, pad), jd))
            else:
                self.assertEqual(list(inputs[t.name].shape), t.shape, t.name)
                out.append(jnp.asarray(inputs[t.name], jd))
        return out

    # --- prefill ---

    def np_prefill(self):
        point, consts, inputs, _, _ = self.pre
        m = NpDecoder(point, inputs, consts["prefill"]["ln_eps"])
        caches, logits = [], []
        for toks in inputs["tokens"]:
            cache = [([], []) for _ in range(m.layers)]
            logits.append(m.forward(toks, 0, cache)[lowerings.prefill_positions(len(toks))])
            caches.append(cache)
        return np.array(logits), caches

    def test_numpy_prefill_matches_bench_reference(self):
        _, _, _, ref, idx = self.pre
        logits, _ = self.np_prefill()
        flat = logits.ravel() if idx is None else logits.ravel()[idx]
        self.assertLess(rel_err(flat, ref), 1e-9)

    def test_jax_prefill_matches_numpy_logits_and_cache(self):
        point, consts, inputs, _, _ = self.pre
        low = lowerings.build(point, consts)
        self.assertEqual([t.name for t in low.outputs], ["logits", "kv_cache"])
        logits, cache = self.jax.jit(low.fn)(*self.args(low, inputs))
        want, caches = self.np_prefill()
        self.assertEqual(list(logits.shape), list(want.shape))
        self.assertLess(rel_err(logits, want), 1e-4)
        want_cache = np.array([[[np.array(caches[s][l][kv]) for s in range(PREFILL["batch"])] for kv in (0, 1)]
                               for l in range(MODEL["layers"])])
        self.assertEqual(list(cache.shape), list(want_cache.shape))
        self.assertLess(rel_err(cache, want_cache), 1e-4)

    def test_prefill_positions_match_the_plan(self):
        point, consts, _, _, _ = self.pre
        (out,) = point["outputs"]
        self.assertEqual(out["shape"][1], len(lowerings.prefill_positions(PREFILL["prompt"])))
        self.assertEqual(lowerings.prefill_positions(40), [0, 7, 20, 31, 39])
        self.assertEqual(lowerings.prefill_positions(1), [0])

    # --- decode ---

    def np_decode(self, inputs, point, eps, steps):
        """Logits of every step of each sequence (rows of step i at position context + i % window)."""
        m = NpDecoder(point, inputs, eps)
        kv, tokens = inputs["kv"].astype(np.float64), inputs["tokens"]
        window, ctx = tokens.shape[0], point["params"]["context"]
        pool = kv.shape[3]
        out = []
        for s in range(kv.shape[2]):
            prefix = [[list(kv[l, i, s][np.arange(ctx) % pool]) for i in (0, 1)] for l in range(m.layers)]
            cache = [(list(k), list(v)) for k, v in prefix]
            rows = []
            for i in range(steps):
                if i % window == 0 and i:
                    cache = [(list(k), list(v)) for k, v in prefix]  # the cache length resets
                rows.append(m.forward(np.array([tokens[i % window, s]]), ctx + i % window, cache)[0])
            out.append(rows)
        return np.array(out).transpose(1, 0, 2)  # [step, batch, vocab]

    def run_decode(self, dec, steps):
        point, consts, inputs, _, _ = dec
        low = lowerings.build(point, consts)
        state = self.args(low, inputs)
        index = {t.name: i for i, t in enumerate(low.inputs)}
        step = self.jax.jit(low.fn)
        logits = []
        for _ in range(steps):
            outs = step(*state)
            for t, v in zip(low.outputs, outs):
                if t.feeds:
                    state[index[t.feeds]] = v
                elif t.name == "logits":
                    logits.append(to_f32(v))
        return low, state, index, np.array(logits)

    def test_numpy_decode_matches_bench_reference(self):
        point, consts, inputs, ref, idx = self.dec
        want = self.np_decode(inputs, point, consts["decode"]["ln_eps"], CHECK_STEPS)[-1]
        flat = want.ravel() if idx is None else want.ravel()[idx]
        self.assertLess(rel_err(flat, ref), 1e-9)

    def test_jax_decode_matches_numpy_and_bench_over_the_check_steps(self):
        point, consts, inputs, ref, idx = self.dec
        low, state, index, got = self.run_decode(self.dec, CHECK_STEPS)
        want = self.np_decode(inputs, point, consts["decode"]["ln_eps"], CHECK_STEPS)
        self.assertLess(rel_err(got, want), 1e-4)
        last = got[-1].ravel() if idx is None else got[-1].ravel()[idx]
        self.assertLess(rel_err(last, ref), 1e-4)
        self.assertEqual(int(state[index["step"]]), CHECK_STEPS)
        # the cache came back with the two new positions written and the prefix untouched
        cache = np.asarray(state[index["cache"]])
        ctx, pool = DECODE["context"], inputs["kv"].shape[3]
        np.testing.assert_array_equal(cache[:, :, :, :ctx], inputs["kv"][:, :, :, np.arange(ctx) % pool])
        self.assertTrue(np.all(cache[:, :, :, ctx : ctx + CHECK_STEPS] != 0))
        self.assertTrue(np.all(cache[:, :, :, ctx + CHECK_STEPS :] == 0))

    def test_decode_position_wraps_after_the_window(self):
        point, consts, inputs, _, _ = self.dec
        window = int(consts["decode"]["window"])
        steps = window + 2
        _, state, index, got = self.run_decode(self.dec, steps)
        want = self.np_decode(inputs, point, consts["decode"]["ln_eps"], steps)
        self.assertLess(rel_err(got, want), 1e-4)
        # step window+i is step i again: the same token and position over the same prefix, with
        # the stale rows of the first window masked
        np.testing.assert_allclose(got[window], got[0], rtol=1e-5, atol=1e-5)
        self.assertEqual(int(state[index["step"]]), steps)

    def test_bf16_decode_within_the_bf16_tolerance(self):
        point, consts, inputs, ref, idx = self.dec_bf16
        low, _, _, got = self.run_decode(self.dec_bf16, CHECK_STEPS)
        self.assertEqual([t.dtype for t in low.inputs if t.name == "cache"], ["bf16"])
        last = got[-1].ravel() if idx is None else got[-1].ravel()[idx]
        self.assertLess(rel_err(last, ref), 8e-2)  # kernels::infer logits_tolerance(bf16)

    # --- HLO and manifest ---

    def test_hlo_has_no_inf_constant_and_one_parameter_per_input(self):
        for point, consts, _, _, _ in (self.pre, self.dec, self.dec_bf16):
            low = lowerings.build(point, consts)
            _, text = build_neffs.lower_to_hlo(low)
            self.assertEqual([l for l in text.splitlines() if "constant(" in l and "inf" in l], [], point["id"])
            entry = [l for l in text.split("\nENTRY")[1].splitlines() if " parameter(" in l]
            self.assertEqual(len(entry), len(low.inputs), point["id"])

    def test_manifest_entry_feeds_the_cache_and_tiles_it_from_kv(self):
        point, consts, _, _, _ = self.dec
        e = build_neffs.entry_for(lowerings.build(point, consts))
        ins = {t["name"]: t for t in e["inputs"]}
        self.assertNotIn("kv", ins)  # the pool only initialises the cache
        cache = ins["cache"]
        self.assertEqual((cache["init"], cache["from"], cache["rows"]), ("tiled", "kv", DECODE["context"]))
        self.assertEqual(cache["shape"], [2, 2, 3, DECODE["context"] + int(consts["decode"]["window"]), 16])
        self.assertEqual(ins["step"]["init"], "zeros")
        feeds = {t["name"]: t.get("feeds") for t in e["outputs"]}
        self.assertEqual(feeds, {"logits": None, "cache_next": "cache", "step_next": "step"})
        self.assertEqual(e["check"], "logits")
        self.assertEqual([t["neff_name"] for t in e["inputs"]], [f"input{i}" for i in range(len(e["inputs"]))])

    def test_old_plan_without_constants_is_refused_with_the_reason(self):
        point, _, _, _, _ = self.dec
        with self.assertRaises(lowerings.Unsupported) as c:
            lowerings.build(point, {})
        self.assertIn("constants.decode.ln_eps", str(c.exception))


if __name__ == "__main__":
    unittest.main()
