"""Tests of nki_lowering.py and `build_neffs.py --impl nki` without neuronx-cc: stand-in
modules with the same import paths and signatures as the SDK's attention kernels
(nki_standin/neuronxcc/nki/kernels/attention.py for flash_fwd,
nkilib_standin/nkilib/core/attention/attention_cte.py; jax.numpy inside) are put first on
sys.path, so these show that the lowering picks the importable kernel (nkilib first), launches
it as documented (grid, layouts, inference config, preconditions) and computes the attention
reference through it, that
--dry-run and --sim list it under the manifest's alternatives, and that a missing kernel or an
unsupported shape is a skip with the reason. They say nothing about the real kernel on
Trainium.

Run: python3 -m unittest discover -s scripts/neuron -p 'test_*.py'   (needs `pip install jax`)
"""

import json
import os
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
STANDIN = os.path.join(HERE, "nki_standin")
NKILIB_STANDIN = os.path.join(HERE, "nkilib_standin")
sys.path.insert(0, HERE)
import build_neffs  # noqa: E402
import lowerings  # noqa: E402
import nki_lowering  # noqa: E402
from test_build_neffs import CONSTANTS, point, run_main, write_plan  # noqa: E402

ATTN = point("attention", {"b": 1, "h": 2, "s": 512, "d": 8, "causal": 1})
ATTN_FULL = point("attention", {"b": 2, "h": 1, "s": 1024, "d": 4, "causal": 0})
ATTN_BF16 = point("attention", {"b": 1, "h": 1, "s": 512, "d": 8, "causal": 1}, "bf16")
ATTN_SHORT = point("attention", {"b": 1, "h": 2, "s": 128, "d": 8, "causal": 1})
MATMUL = point("matmul", {"m": 8, "n": 6, "k": 5})


def forget_neuronxcc():
    for name in [m for m in sys.modules if m.split(".")[0] in ("neuronxcc", "nkilib")]:
        del sys.modules[name]


def installed():
    """Whether a real neuronxcc or nkilib package is on sys.path here."""
    return any(os.path.isdir(os.path.join(p, n)) for p in sys.path if p for n in ("neuronxcc", "nkilib"))


class WithStandIn(unittest.TestCase):
    def setUp(self):
        forget_neuronxcc()
        sys.path.insert(0, STANDIN)
        from neuronxcc.nki.kernels import attention

        self.kernel = attention
        attention.CALLS.clear()

    def tearDown(self):
        sys.path.remove(STANDIN)
        forget_neuronxcc()


class Lowering(WithStandIn):
    def test_the_kernel_is_launched_as_documented_and_computes_attention(self):
        import jax

        rng = np.random.default_rng(3)
        for p, tile in ((ATTN, 512), (ATTN_FULL, 1024)):
            self.assertIs(nki_lowering.kernel(), nki_lowering.FLASH)
            low = nki_lowering.build("nki", p, CONSTANTS, nki_lowering.FLASH)
            self.assertEqual(low.kernel, "neuronxcc.nki.kernels.attention.flash_fwd")
            ref = lowerings.build(p, CONSTANTS)
            self.assertEqual([(t.name, t.shape, t.dtype) for t in low.inputs], [(t.name, t.shape, t.dtype) for t in ref.inputs])
            self.assertEqual([(t.name, t.shape) for t in low.outputs], [(t.name, t.shape) for t in ref.outputs])
            self.assertEqual(low.check, "out")
            q, k, v = (rng.uniform(-1, 1, size=low.inputs[0].shape).astype(np.float32) for _ in range(3))
            self.kernel.CALLS.clear()
            (got,) = jax.jit(low.fn)(q, k, v)
            (want,) = jax.jit(ref.fn)(q, k, v)
            np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-6)
            (call,) = self.kernel.CALLS
            b, h, s, d = (p["params"][x] for x in "bhsd")
            self.assertEqual(call["grid"], (b, h))
            self.assertEqual((call["q"], call["k"], call["v"]), ((b, h, d, s), (b, h, d, s), (b, h, s, d)))
            self.assertEqual(call["use_causal_mask"], p["params"]["causal"] == 1)
            self.assertFalse(call["config"].training)
            self.assertEqual(call["config"].seq_tile_size, tile)
            self.assertFalse(call["mixed_precision"], "f32 stays f32")
            self.assertAlmostEqual(call["softmax_scale"], 1 / np.sqrt(d))

    def test_bf16_uses_the_kernel_s_mixed_precision(self):
        import jax
        import jax.numpy as jnp

        low = nki_lowering.build("nki", ATTN_BF16, CONSTANTS, nki_lowering.FLASH)
        args = [jax.ShapeDtypeStruct(tuple(t.shape), jnp.bfloat16) for t in low.inputs]
        jax.jit(low.fn).lower(*args)
        (call,) = self.kernel.CALLS
        self.assertTrue(call["mixed_precision"])

    def test_the_lowering_traces_to_hlo_with_the_bench_tensor_names(self):
        low = nki_lowering.build("nki", ATTN, CONSTANTS, nki_lowering.FLASH)
        proto, text = build_neffs.lower_to_hlo(low)
        self.assertGreater(len(proto), 100)
        entry = text[text.index("ENTRY"):]
        self.assertEqual(entry.count("parameter("), 3)


class Refusals(unittest.TestCase):
    def test_documented_limits_and_other_workloads_are_skips_with_reasons(self):
        with self.assertRaisesRegex(lowerings.Unsupported, "divisible by 512.*s=128"):
            nki_lowering.build("nki", ATTN_SHORT, CONSTANTS)
        wide = point("attention", {"b": 1, "h": 1, "s": 512, "d": 256, "causal": 0})
        with self.assertRaisesRegex(lowerings.Unsupported, "head dim up to 128; d=256"):
            nki_lowering.build("nki", wide, CONSTANTS)
        with self.assertRaisesRegex(lowerings.Unsupported, "no NKI kernel is wired for matmul"):
            nki_lowering.build("nki", MATMUL, CONSTANTS)

    def test_without_neuronx_cc_the_kernel_is_a_skip_naming_the_import(self):
        forget_neuronxcc()
        if installed():
            self.skipTest("a neuronxcc or nkilib package is installed here")
        with self.assertRaisesRegex(
            lowerings.Unsupported,
            "no NKI attention kernel is importable .nkilib.core.attention.attention_cte.attention_cte, "
            "neuronxcc.nki.kernels.attention.flash_fwd.",
        ):
            nki_lowering.kernel()


class Script(WithStandIn):
    def build(self, *extra):
        d = tempfile.mkdtemp()
        plan = os.path.join(d, "plan.json")
        write_plan(plan, [ATTN, ATTN_SHORT, MATMUL])
        out = os.path.join(d, "neffs")
        code, stdout, stderr = run_main([plan, "--out", out, *extra])
        return code, stdout, stderr, out

    def test_dry_run_prints_a_second_compile_for_the_nki_attention(self):
        code, stdout, stderr, _ = self.build("--dry-run", "--impl", "nki")
        self.assertEqual(code, 0, stderr)
        cmds = [l for l in stdout.splitlines() if l.startswith("neuronx-cc compile")]
        self.assertEqual(len(cmds), 4, stdout)  # three points, plus ATTN through nki
        self.assertEqual(len(set(cmds)), 4, "the nki HLO differs from the plain one")
        self.assertIn(f"skip  {ATTN_SHORT['id']} [nki]: flash_fwd needs a sequence length divisible by 512", stderr)
        self.assertEqual(len(self.kernel.CALLS), 1)

    def test_sim_lists_the_alternative_in_the_manifest(self):
        code, _, stderr, out = self.build("--sim", "--impl", "nki", "--impl", "nki")
        self.assertEqual(code, 0, stderr)
        with open(os.path.join(out, "manifest.json")) as f:
            m = json.load(f)
        self.assertEqual(sorted(m["points"]), sorted([ATTN["id"], ATTN_SHORT["id"], MATMUL["id"]]))
        alt = m["alternatives"]["nki"]
        self.assertEqual(list(alt["points"]), [ATTN["id"]])
        e = alt["points"][ATTN["id"]]
        self.assertEqual(e["implementation"], "nki")
        self.assertNotEqual(e["neff"], m["points"][ATTN["id"]]["neff"])
        self.assertEqual(e["inputs"], m["points"][ATTN["id"]]["inputs"])
        self.assertIn("divisible by 512", alt["skipped"][ATTN_SHORT["id"]])
        self.assertNotIn(MATMUL["id"], alt["skipped"], "a workload without a kernel is not listed")
        with open(os.path.join(out, e["neff"]), "rb") as f:
            body = json.loads(f.read()[len(build_neffs.SIM_MAGIC):])
        self.assertEqual(body["implementation"], "nki")
        self.assertEqual(self.kernel.CALLS, [], "--sim never traces the kernel")

    def test_without_impl_the_manifest_has_no_alternatives(self):
        code, _, stderr, out = self.build("--sim")
        self.assertEqual(code, 0, stderr)
        with open(os.path.join(out, "manifest.json")) as f:
            self.assertNotIn("alternatives", json.load(f))

    def test_an_unknown_impl_is_a_usage_error(self):
        with self.assertRaises(SystemExit) as e:
            self.build("--sim", "--impl", "cudnn")
        self.assertEqual(e.exception.code, 2)


class ScriptWithoutTheKernel(unittest.TestCase):
    def test_a_real_build_without_neuronx_cc_skips_the_nki_variant_naming_the_import(self):
        forget_neuronxcc()
        if installed():
            self.skipTest("a neuronxcc or nkilib package is installed here")
        d = tempfile.mkdtemp()
        plan = os.path.join(d, "plan.json")
        write_plan(plan, [ATTN])
        code, stdout, stderr = run_main([plan, "--out", os.path.join(d, "neffs"), "--dry-run", "--impl", "nki"])
        self.assertEqual(code, 0, stderr)
        self.assertEqual(len([l for l in stdout.splitlines() if l.startswith("neuronx-cc compile")]), 1)
        self.assertIn("[nki]: no NKI attention kernel is importable", stderr)


class NkiLibrary(unittest.TestCase):
    """nkilib's attention_cte, which neuronx-cc bundles, is preferred when importable."""

    def setUp(self):
        forget_neuronxcc()
        sys.path.insert(0, STANDIN)
        sys.path.insert(0, NKILIB_STANDIN)
        from nkilib.core.attention import attention_cte

        self.cte = attention_cte
        attention_cte.CALLS.clear()

    def tearDown(self):
        sys.path.remove(NKILIB_STANDIN)
        sys.path.remove(STANDIN)
        forget_neuronxcc()

    def test_attention_cte_is_chosen_and_computes_attention_with_heads_in_the_batch(self):
        import jax

        self.assertIs(nki_lowering.kernel(), nki_lowering.CTE)
        rng = np.random.default_rng(5)
        for p in (ATTN, ATTN_FULL, ATTN_SHORT):
            low = nki_lowering.build("nki", p, CONSTANTS, nki_lowering.CTE)
            self.assertEqual(low.kernel, "nkilib.core.attention.attention_cte.attention_cte")
            ref = lowerings.build(p, CONSTANTS)
            q, k, v = (rng.uniform(-1, 1, size=low.inputs[0].shape).astype(np.float32) for _ in range(3))
            self.cte.CALLS.clear()
            (got,) = jax.jit(low.fn)(q, k, v)
            (want,) = jax.jit(ref.fn)(q, k, v)
            np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-6)
            (call,) = self.cte.CALLS
            b, h, s, d = (p["params"][x] for x in "bhsd")
            self.assertEqual((call["q"], call["k"], call["v"]), ((b * h, s, d), (b * h, d, s), (b * h, s, d)))
            self.assertEqual((call["tp_q"], call["tp_k"], call["tp_out"]), (True, False, False))
            self.assertEqual(call["causal_mask"], p["params"]["causal"] == 1)
            self.assertAlmostEqual(call["scale"], 1 / np.sqrt(d))

    def test_its_limits_are_skips_and_the_manifest_names_the_kernel(self):
        wide = point("attention", {"b": 1, "h": 1, "s": 128, "d": 256, "causal": 0})
        with self.assertRaisesRegex(lowerings.Unsupported, "attention_cte supports head dim up to 128; d=256"):
            nki_lowering.build("nki", wide, CONSTANTS, nki_lowering.CTE)
        d = tempfile.mkdtemp()
        plan = os.path.join(d, "plan.json")
        write_plan(plan, [ATTN_SHORT])
        code, stdout, stderr = run_main([plan, "--out", os.path.join(d, "neffs"), "--dry-run", "--impl", "nki"])
        self.assertEqual(code, 0, stderr)
        cmds = [l for l in stdout.splitlines() if l.startswith("neuronx-cc compile")]
        self.assertEqual(len(cmds), 2, "s=128 is within attention_cte's limits")

    def test_a_compiled_nki_neff_is_listed_with_its_kernel(self):
        d = tempfile.mkdtemp()
        bindir = os.path.join(d, "bin")
        os.makedirs(bindir)
        fake = os.path.join(bindir, "neuronx-cc")
        with open(fake, "w") as f:  # a stand-in compiler: writes a NEFF file, compiles nothing
            f.write(
                "#!/bin/sh\n"
                'if [ "$1" = "--version" ]; then echo "neuronx-cc 9.9.9 (test stand-in)"; exit 0; fi\n'
                'while [ "$#" -gt 0 ]; do if [ "$1" = "--output" ]; then printf NEFF > "$2"; fi; shift; done\n'
            )
        os.chmod(fake, 0o755)
        plan = os.path.join(d, "plan.json")
        write_plan(plan, [ATTN])
        old = os.environ["PATH"]
        os.environ["PATH"] = bindir + os.pathsep + old
        try:
            out = os.path.join(d, "neffs")
            code, _, stderr = run_main([plan, "--out", out, "--impl", "nki"])
        finally:
            os.environ["PATH"] = old
        self.assertEqual(code, 0, stderr)
        with open(os.path.join(out, "manifest.json")) as f:
            m = json.load(f)
        e = m["alternatives"]["nki"]["points"][ATTN["id"]]
        self.assertEqual((e["implementation"], e["kernel"]), ("nki", "nkilib.core.attention.attention_cte.attention_cte"))
        self.assertNotEqual(e["hash"], m["points"][ATTN["id"]]["hash"])
        self.assertNotIn("kernel", m["points"][ATTN["id"]])


if __name__ == "__main__":
    unittest.main()
