"""Tests of build_neffs.py and lowerings.py: tensor specs match the kernels crate, every
workload lowers to HLO with JAX on the CPU and computes what the kernels crate's references
compute (the training step's loss trajectory included), --dry-run prints the exact compiler
commands, --sim writes stand-ins, the compile path caches by hash (with a stand-in compiler
on PATH), and bad input exits 2.

The points come from the real `bench plan` (with the kernels crate's tensor metadata), so these
tests need a built bench (target/debug/bench or target/release/bench, or BENCH_BIN=path).

Run: python3 -m unittest discover -s scripts/neuron -p 'test_*.py'   (needs `pip install jax`)
"""

import contextlib
import io
import json
import os
import stat
import subprocess
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import build_neffs  # noqa: E402
import lowerings  # noqa: E402
from test_gpt_lowering import bench_binary  # noqa: E402

CONSTANTS = {"train-mlp": {"lr": 0.01, "momentum": 0.9, "batch_pool": 4}}


def point(workload, params, dtype="f32"):
    """The one point `bench plan` writes for these parameters."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "plan.json")
        args = [bench_binary(), "plan", "--backend", "neuron", "--workload", workload, "--dtype", dtype, "--out", path]
        for k, v in params.items():
            args += ["--param", f"{k}={v}"]
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        with open(path) as f:
            (p,) = json.load(f)["points"]
    return p


MATMUL = point("matmul", {"m": 8, "n": 6, "k": 5})
ATTN = point("attention", {"b": 1, "h": 2, "s": 7, "d": 4, "causal": 1})
ATTN_FULL = point("attention", {"b": 2, "h": 1, "s": 5, "d": 4, "causal": 0})
MLP = point("train-mlp", {"layers": 2, "width": 6, "batch": 5, "classes": 3})


def write_plan(path, points):
    with open(path, "w") as f:
        json.dump({"schema": "bench.plan/1", "suite": "quick", "constants": CONSTANTS, "points": points}, f)


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def run_main(args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = build_neffs.main(args)
    return code, out.getvalue(), err.getvalue()


def np_mlp_losses(p, inputs, steps, lr=0.01, mu=0.9, pool=4):
    """kernels/src/mlp.rs in numpy f64: the loss after each SGD-momentum step."""
    L = p["layers"]
    params = [inputs[n].astype(np.float64) for n in [f"{a}{i}" for i in range(L) for a in "wb"] + ["w_out", "b_out"]]
    vel = [np.zeros_like(q) for q in params]
    x, y = inputs["x"].astype(np.float64), inputs["y"]
    losses = []
    for t in range(steps):
        xb, yb = x[t % pool], y[t % pool]
        acts = [xb]
        for i in range(L):
            acts.append(np.maximum(acts[-1] @ params[2 * i] + params[2 * i + 1], 0))
        logits = acts[-1] @ params[2 * L] + params[2 * L + 1]
        m = logits.max(axis=1, keepdims=True)
        lse = (m + np.log(np.exp(logits - m).sum(axis=1, keepdims=True)))[:, 0]
        losses.append(np.mean(lse - logits[np.arange(len(yb)), yb]))
        d = np.exp(logits - lse[:, None])
        d[np.arange(len(yb)), yb] -= 1
        d /= len(yb)
        grads = [None] * len(params)
        grads[2 * L], grads[2 * L + 1] = acts[L].T @ d, d.sum(0)
        dh = d @ params[2 * L].T
        for i in reversed(range(L)):
            dh = dh * (acts[i + 1] > 0)
            grads[2 * i], grads[2 * i + 1] = acts[i].T @ dh, dh.sum(0)
            dh = dh @ params[2 * i].T
        for j in range(len(params)):
            vel[j] = mu * vel[j] + grads[j]
            params[j] = params[j] - lr * vel[j]
    return losses



class KeepUnusedTest(unittest.TestCase):
    def test_an_unused_input_stays_a_parameter(self):
        t = lowerings.Tensor
        low = lowerings.Lowering(lambda a, unused, b: (a + b,), [t("a", [2], "f32"), t("u", [2], "f32"), t("b", [2], "f32")], [t("out", [2], "f32")])
        _, text = build_neffs.lower_to_hlo(low)
        self.assertIn("parameter(2)", text)
        self.assertIn("parameter(1)", text)


class NoInfinity(unittest.TestCase):
    def test_no_lowering_has_an_inf_constant(self):
        for p in [ATTN, ATTN_FULL, MLP]:
            _, text = build_neffs.lower_to_hlo(lowerings.build(p, CONSTANTS))
            bad = [l for l in text.splitlines() if "constant(" in l and "inf" in l]
            self.assertEqual(bad, [], p["id"])

class SpecsMatchTheKernelsCrate(unittest.TestCase):
    def test_input_names_and_shapes(self):
        low = lowerings.build(MATMUL, CONSTANTS)
        self.assertEqual([(t.name, t.shape) for t in low.inputs], [("a", [8, 5]), ("b", [5, 6])])
        self.assertEqual(low.check, "out")
        low = lowerings.build(ATTN, CONSTANTS)
        self.assertEqual([t.name for t in low.inputs], ["q", "k", "v"])
        low = lowerings.build(MLP, CONSTANTS)
        names = [t.name for t in low.inputs]
        self.assertEqual(names[:6], ["w0", "b0", "w1", "b1", "w_out", "b_out"])
        self.assertEqual(names[6:12], ["m_w0", "m_b0", "m_w1", "m_b1", "m_w_out", "m_b_out"])
        self.assertEqual(names[12:], ["x", "y", "step"])
        self.assertEqual(low.inputs[12].shape, [4, 5, 6])
        self.assertEqual((low.inputs[13].shape, low.inputs[13].dtype), ([4, 5], "i32"))
        feeds = {t.feeds for t in low.outputs if t.feeds}
        self.assertEqual(feeds, set(names) - {"x", "y"})
        self.assertEqual(low.loss, "loss")

    def test_unsupported_dtypes_say_why(self):
        for d in ("tf32", "fp8_e4m3"):
            with self.assertRaises(lowerings.Unsupported) as e:
                lowerings.build(point("matmul", {"m": 2, "n": 2, "k": 2}, d), CONSTANTS)
            self.assertIn(d, str(e.exception))
        with self.assertRaises(lowerings.Unsupported):
            lowerings.build({"workload": "conv", "params": {}, "dtype": "f32"}, CONSTANTS)


class JaxLowering(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import jax

        cls.jax = jax
        cls.rng = np.random.default_rng(7)

    def rand(self, shape):
        return self.rng.uniform(-1, 1, size=shape).astype(np.float32)

    def test_every_workload_lowers_to_an_hlo_module(self):
        for p in (MATMUL, ATTN, ATTN_FULL, MLP, point("matmul", {"m": 4, "n": 4, "k": 4}, "bf16")):
            low = lowerings.build(p, CONSTANTS)
            proto, text = build_neffs.lower_to_hlo(low)
            self.assertGreater(len(proto), 100, p["id"])
            self.assertIn("ENTRY", text)
            entry = text[text.index("ENTRY") :]
            self.assertEqual(entry.count("parameter("), len(low.inputs), p["id"])
            self.assertIn("dot(", text, p["id"])

    def test_matmul_and_attention_compute_the_reference(self):
        low = lowerings.build(MATMUL, CONSTANTS)
        a, b = self.rand([8, 5]), self.rand([5, 6])
        (out,) = self.jax.jit(low.fn)(a, b)
        np.testing.assert_allclose(np.asarray(out), a.astype(np.float64) @ b, rtol=1e-5, atol=1e-6)
        for p in (ATTN, ATTN_FULL):
            low = lowerings.build(p, CONSTANTS)
            q, k, v = (self.rand(low.inputs[0].shape) for _ in range(3))
            (out,) = self.jax.jit(low.fn)(q, k, v)
            s = np.einsum("bhqd,bhkd->bhqk", q, k).astype(np.float64) / np.sqrt(q.shape[-1])
            if p["params"]["causal"]:
                s = np.where(np.tril(np.ones(s.shape[-2:], bool)), s, -np.inf)
            w = np.exp(s - s.max(-1, keepdims=True))
            w /= w.sum(-1, keepdims=True)
            np.testing.assert_allclose(np.asarray(out), np.einsum("bhqk,bhkd->bhqd", w, v), rtol=1e-5, atol=1e-6)

    def test_training_step_follows_the_reference_trajectory(self):
        low = lowerings.build(MLP, CONSTANTS)
        inputs = {}
        for t in low.inputs:
            if t.init == "zeros":
                inputs[t.name] = np.zeros(t.shape, np.int32 if t.dtype == "i32" else np.float32)
            elif t.dtype == "i32":
                inputs[t.name] = self.rng.integers(0, 3, size=t.shape).astype(np.int32)
            else:
                inputs[t.name] = self.rand(t.shape)
        want = np_mlp_losses(MLP["params"], inputs, 6)
        step = self.jax.jit(low.fn)
        state = [inputs[t.name] for t in low.inputs]
        index = {t.name: i for i, t in enumerate(low.inputs)}
        got = []
        for _ in range(6):
            outs = step(*state)
            for t, v in zip(low.outputs, outs):
                if t.feeds:
                    state[index[t.feeds]] = v
                if t.name == "loss":
                    got.append(float(v))
        np.testing.assert_allclose(got, want, rtol=1e-4)
        self.assertEqual(int(state[index["step"]]), 6)


class Script(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        self.plan = os.path.join(self.dir, "plan.json")
        write_plan(self.plan, [MATMUL, MLP, point("matmul", {"m": 2, "n": 2, "k": 2}, "tf32")])

    def tearDown(self):
        self.tmp.cleanup()

    def test_dry_run_prints_the_exact_compiler_commands(self):
        out = os.path.join(self.dir, "neffs")
        code, stdout, _ = run_main([self.plan, "--out", out, "--dry-run", "--target", "trn2", "--lnc", "2"])
        self.assertEqual(code, 0)
        lines = stdout.strip().splitlines()
        self.assertEqual(len(lines), 2)
        for line in lines:
            self.assertTrue(line.startswith("neuronx-cc compile "), line)
            self.assertIn(" --framework XLA --target trn2 --auto-cast none --logical-nc-config 2 --output ", line)
            hlo = line.split()[2]
            self.assertTrue(os.path.getsize(hlo) > 0, "the HLO the command compiles exists")
        self.assertFalse(os.path.exists(os.path.join(out, "manifest.json")))
        _, stdout, _ = run_main([self.plan, "--out", out, "--dry-run", "--target", "trn1"])
        self.assertNotIn("--logical-nc-config", stdout)
        self.assertIn("--target trn1", stdout)

    def test_sim_writes_stand_ins_and_the_manifest(self):
        out = os.path.join(self.dir, "neffs")
        code, _, _ = run_main([self.plan, "--out", out, "--sim"])
        self.assertEqual(code, 0)
        m = json.loads(read(os.path.join(out, "manifest.json")))
        self.assertEqual(m["schema"], "bench.neff-manifest/1")
        self.assertTrue(m["simulated"])
        self.assertEqual(sorted(m["points"]), sorted([MATMUL["id"], MLP["id"]]))
        self.assertIn("tf32", m["skipped"]["matmul/m=2,n=2,k=2/tf32"])
        e = m["points"][MATMUL["id"]]
        self.assertEqual([i["neff_name"] for i in e["inputs"]], ["input0", "input1"])
        data = read(os.path.join(out, e["neff"]), "rb")
        self.assertTrue(data.startswith(build_neffs.SIM_MAGIC))

    def test_compile_path_records_time_version_flags_and_caches(self):
        bindir = os.path.join(self.dir, "bin")
        os.makedirs(bindir)
        fake = os.path.join(bindir, "neuronx-cc")
        count = os.path.join(self.dir, "count")
        with open(fake, "w") as f:
            f.write(
                "#!/bin/sh\n"
                'if [ "$1" = "--version" ]; then echo "neuronx-cc 9.9.9 (test stand-in)"; exit 0; fi\n'
                f'echo x >> "{count}"\n'
                'while [ "$#" -gt 0 ]; do if [ "$1" = "--output" ]; then printf NEFF > "$2"; fi; shift; done\n'
            )
        os.chmod(fake, os.stat(fake).st_mode | stat.S_IEXEC)
        old = os.environ["PATH"]
        os.environ["PATH"] = bindir + os.pathsep + old
        try:
            out = os.path.join(self.dir, "neffs")
            code, _, _ = run_main([self.plan, "--out", out, "--target", "trn1"])
            self.assertEqual(code, 0)
            m = json.loads(read(os.path.join(out, "manifest.json")))
            self.assertEqual(m["compiler"], "neuronx-cc 9.9.9 (test stand-in)")
            self.assertFalse(m["simulated"])
            e = m["points"][MATMUL["id"]]
            self.assertEqual(e["compile_flags"], ["--framework", "XLA", "--target", "trn1", "--auto-cast", "none"])
            self.assertGreaterEqual(e["compile_s"], 0)
            self.assertEqual(read(os.path.join(out, e["neff"]), "rb"), b"NEFF")
            self.assertEqual(len(read(count).split()), 2)
            _, _, err = run_main([self.plan, "--out", out, "--target", "trn1"])
            self.assertEqual(len(read(count).split()), 2, "the second build compiles nothing")
            self.assertIn("cached", err)
        finally:
            os.environ["PATH"] = old

    def test_bad_input_exits_2_with_one_line(self):
        bad = os.path.join(self.dir, "bad.json")
        with open(bad, "w") as f:
            f.write("{")
        for args in ([bad, "--out", self.dir, "--sim"], [os.path.join(self.dir, "none.json"), "--out", self.dir, "--sim"],
                     [self.plan, "--out", self.dir, "--lnc", "3", "--sim"]):
            code, _, err = run_main(args)
            self.assertEqual(code, 2, args)
            self.assertEqual(len(err.strip().splitlines()), 1, err)
            self.assertIn("error:", err)


if __name__ == "__main__":
    unittest.main()
