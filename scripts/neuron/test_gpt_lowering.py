"""The train-gpt lowering against the kernels crate's f64 reference, across languages: the
real `bench` binary dumps a tiny train-gpt point's inputs and the f64 loss trajectory
(`--dump`, computed by kernels/src/gpt_ref.rs with its hand-written backward), `bench plan`
gives the optimiser constants, and the JAX step from lowerings.py, run on the CPU from those
inputs, must reproduce the trajectory. Also checks that the step lowers to HLO.

Run: python3 -m unittest discover -s scripts/neuron -p 'test_*.py'   (needs jax and a built
bench: target/debug/bench or target/release/bench, or BENCH_BIN=path)
"""

import json
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import lowerings  # noqa: E402

PARAMS = {"d_model": 16, "layers": 2, "heads": 2, "seq": 8, "vocab": 29, "batch": 3}


def bench_binary():
    candidates = [os.environ.get("BENCH_BIN")] + [
        os.path.join(ROOT, "target", profile, "bench") for profile in ("debug", "release")
    ]
    for c in candidates:
        if c and os.path.exists(c):
            return c
    raise RuntimeError("no bench binary: run `cargo build` first or set BENCH_BIN")


def param_args():
    args = []
    for k, v in PARAMS.items():
        args += ["--param", f"{k}={v}"]
    return args


class GptLowering(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import jax

        jax.config.update("jax_enable_x64", False)
        cls.jax = jax
        cls.tmp = tempfile.TemporaryDirectory()
        d = cls.tmp.name
        binary = bench_binary()
        common = ["--workload", "train-gpt", "--dtype", "f32"] + param_args()
        subprocess.run(
            [binary, "--out", os.path.join(d, "runs"), "--dump", os.path.join(d, "dump"),
             "--budget", "0.05", "--warmup", "0", "--min-samples", "2"] + common,
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        plan_path = os.path.join(d, "plan.json")
        subprocess.run([binary, "plan", "--backend", "neuron", "--out", plan_path] + common,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(plan_path) as f:
            cls.plan = json.load(f)
        with open(os.path.join(d, "dump", "index.json")) as f:
            index = json.load(f)
        (cls.point_id,) = index.keys()
        cls.files = {k: os.path.join(d, "dump", v) for k, v in index[cls.point_id]["files"].items()}

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_plan_carries_the_point_and_its_constants(self):
        (p,) = self.plan["points"]
        self.assertEqual(p["id"], self.point_id)
        self.assertEqual(p["params"], PARAMS)
        c = self.plan["constants"]["train-gpt"]
        self.assertEqual((c["lr"], c["beta1"], c["beta2"], c["weight_decay"]), (1e-3, 0.9, 0.95, 0.01))

    def test_the_step_hlo_has_no_inf_constant(self):
        import build_neffs

        (p,) = self.plan["points"]
        _, text = build_neffs.lower_to_hlo(lowerings.build(p, self.plan["constants"]))
        self.assertEqual([l for l in text.splitlines() if "constant(" in l and "inf" in l], [])

    def test_jax_step_reproduces_the_f64_trajectory(self):
        (p,) = self.plan["points"]
        low = lowerings.build(p, self.plan["constants"])
        state = []
        for t in low.inputs:
            if t.init == "zeros":
                state.append(np.zeros(t.shape, np.int32 if t.dtype == "i32" else np.float32))
            else:
                arr = np.load(self.files[f"input_{t.name}"])
                self.assertEqual(list(arr.shape), t.shape, t.name)
                state.append(arr)
        want = np.load(self.files["reference_losses"])
        self.assertGreaterEqual(len(want), 2)
        index = {t.name: i for i, t in enumerate(low.inputs)}
        step = self.jax.jit(low.fn)
        got = []
        for _ in range(len(want)):
            outs = step(*state)
            for t, v in zip(low.outputs, outs):
                if t.feeds:
                    state[index[t.feeds]] = v
                if t.name == "loss":
                    got.append(float(v))
        np.testing.assert_allclose(got, want, rtol=1e-4)
        self.assertEqual(int(state[index["step"]]), len(want))
        # the trajectory moves: a step that did nothing would repeat the first loss
        self.assertNotAlmostEqual(got[0], got[-1], places=4)

    def test_step_lowers_to_hlo(self):
        (p,) = self.plan["points"]
        low = lowerings.build(p, self.plan["constants"])
        specs = [self.jax.ShapeDtypeStruct(tuple(t.shape), lowerings.jnp_dtype(t.dtype)) for t in low.inputs]
        text = self.jax.jit(low.fn).lower(*specs).as_text()
        self.assertIn("stablehlo", text)


if __name__ == "__main__":
    unittest.main()
