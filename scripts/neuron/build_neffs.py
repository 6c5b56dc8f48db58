#!/usr/bin/env python3
"""Builds the NEFFs that `bench --backend neuron --neff-dir DIR` runs.

    bench plan --backend neuron --suite quick --out plan.json
    python3 scripts/neuron/build_neffs.py plan.json --out DIR [--target trn1|trn2] [--lnc N]
                                          [--dry-run] [--sim] [--impl nki]

For each point of the plan: lower the workload to HLO with JAX (jax.jit(f).lower(...), see
lowerings.py), compile it with `neuronx-cc compile --framework XLA --target T --auto-cast none`,
cache the NEFF by the hash of (HLO, flags, compiler version), and record it in DIR/manifest.json
(point id -> NEFF, tensor names, dtypes, shapes, compile time, flags, compiler version).

--dry-run writes the HLO files and prints the exact compiler commands without running them.
--sim writes nrt-sim stand-ins instead (no JAX, no compiler): NEFFs for the CPU stand-in runtime
that tests use; bench marks every run on them simulated and never prices it.
--impl nki also lowers each point that has an NKI kernel (attention: neuronx-cc's bundled
nkilib attention_cte, else the legacy neuronxcc.nki flash_fwd; see nki_lowering.py) as a
second implementation, listed in the manifest under alternatives.nki.points (each entry
"implementation": "nki" and the "kernel" used) or alternatives.nki.skipped with the reason;
bench runs both and labels each record. Unverified on Trainium hardware.

Exit status: 0 every point built (or skipped with a reason), 1 some compile failed, 2 bad input.
"""

import argparse
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lowerings  # noqa: E402
import nki_lowering  # noqa: E402

PLAN_SCHEMA = "bench.plan/1"
MANIFEST_SCHEMA = "bench.neff-manifest/1"
SIM_MAGIC = b"NRTSIM-NEFF/1\n"
SIM_WORKLOADS = {"matmul", "attention", "train-mlp", "train-gpt", "prefill", "decode"}  # what nrt-sim can compute


class UsageError(Exception):
    pass


def read_plan(path):
    try:
        with open(path) as f:
            plan = json.load(f)
    except OSError as e:
        raise UsageError(f"cannot read plan {path}: {e.strerror}; write one with: bench plan --backend neuron --suite quick --out {path}")
    except json.JSONDecodeError as e:
        raise UsageError(f"{path} is not JSON ({e}); write it with: bench plan --backend neuron --suite quick --out {path}")
    if not isinstance(plan, dict) or plan.get("schema") != PLAN_SCHEMA:
        raise UsageError(f"{path} is not a bench plan (schema {PLAN_SCHEMA}); write it with: bench plan --backend neuron --out {path}")
    for i, p in enumerate(plan.get("points", [])):
        if not (isinstance(p, dict) and {"id", "workload", "params", "dtype", "inputs", "outputs"} <= p.keys()):
            raise UsageError(
                f"{path}: point {i} lacks id/workload/params/dtype/inputs/outputs (a plan from an older bench?); "
                "write the plan again with bench plan"
            )
    return plan


def spec(t, index, kind):
    d = {"name": t.name, "neff_name": f"{kind}{index}", "dtype": t.dtype, "shape": list(t.shape)}
    if kind == "input":
        d["init"] = t.init
        if t.init == "tiled":
            d["from"], d["rows"] = t.source, t.rows
    elif t.feeds:
        d["feeds"] = t.feeds
    return d


def entry_for(low):
    e = {
        "inputs": [spec(t, i, "input") for i, t in enumerate(low.inputs)],
        "outputs": [spec(t, i, "output") for i, t in enumerate(low.outputs)],
    }
    if low.check:
        e["check"] = low.check
    if low.loss:
        e["loss"] = low.loss
    return e


def lower_to_hlo(low):
    """The serialized HloModuleProto and HLO text of the lowering (JAX on CPU)."""
    try:
        import jax
    except ImportError:
        raise UsageError("JAX is needed to lower the points to HLO: pip install jax (or use --sim for nrt-sim stand-ins)")

    args = [jax.ShapeDtypeStruct(tuple(t.shape), lowerings.jnp_dtype(t.dtype)) for t in low.inputs]
    # keep_unused: an argument the function ignores must still be a NEFF input, or every
    # later inputN name shifts.
    lowered = jax.jit(low.fn, keep_unused=True).lower(*args)
    comp = lowered.compiler_ir("hlo")
    return comp.as_serialized_hlo_module_proto(), comp.as_hlo_text()


def jax_version():
    """The JAX that lowers the HLO (Neuron SDK 2.30-2.32 support JAX 0.7.0-0.10.0)."""
    try:
        import jax
    except ImportError:
        return None
    return jax.__version__


def compiler_flags(target, lnc):
    flags = ["--framework", "XLA", "--target", target, "--auto-cast", "none"]
    if target.startswith("trn2") and lnc:
        flags += ["--logical-nc-config", str(lnc)]  # documented spelling (alias -lnc)
    return flags


def compiler_version(dry_run):
    exe = shutil.which("neuronx-cc")
    if exe is None:
        if dry_run:
            return "neuronx-cc (not installed here; dry run)"
        raise UsageError(
            "neuronx-cc not found: install the Neuron compiler (pip install neuronx-cc "
            "--extra-index-url=https://pip.repos.neuron.amazonaws.com, or use the Neuron DLAMI), "
            "or pass --dry-run to print the commands, or --sim for nrt-sim stand-ins"
        )
    out = subprocess.run([exe, "--version"], capture_output=True, text=True)
    text = (out.stdout + out.stderr).strip().splitlines()
    return text[0] if text else "neuronx-cc (version unknown)"


def write_json_atomic(path, value):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(value, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def sim_standin(point, low, impl=None):
    body = {
        "workload": point["workload"],
        "params": point["params"],
        "inputs": [{"name": f"input{i}", "role": t.name, "dtype": t.dtype, "shape": t.shape} for i, t in enumerate(low.inputs)],
        "outputs": [{"name": f"output{i}", "role": t.name, "dtype": t.dtype, "shape": t.shape} for i, t in enumerate(low.outputs)],
        "constants": low.constants,
    }
    if impl:
        body["implementation"] = impl  # nrt-sim computes the workload either way
    return SIM_MAGIC + json.dumps(body, sort_keys=True).encode()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("plan", help="plan.json from `bench plan --backend neuron`")
    ap.add_argument("--out", required=True, help="directory for the NEFFs and manifest.json")
    ap.add_argument("--target", default="trn2", choices=["trn1", "trn2", "inf2"])
    ap.add_argument("--lnc", type=int, default=None, help="logical NeuronCore config for trn2 (1 or 2; default 2)")
    ap.add_argument("--dry-run", action="store_true", help="print the compiler commands, compile nothing")
    ap.add_argument("--sim", action="store_true", help="write nrt-sim stand-ins instead of compiling")
    ap.add_argument(
        "--impl",
        action="append",
        default=[],
        choices=list(nki_lowering.IMPLEMENTATIONS),
        help="also build this second implementation where it has a kernel (nki: attention through "
        "neuronx-cc's nkilib attention_cte or neuronxcc.nki flash_fwd), listed under the manifest's alternatives; unverified on hardware",
    )
    a = ap.parse_args(argv)
    try:
        return build(a)
    except UsageError as e:
        print(f"build_neffs.py: error: {e}", file=sys.stderr)
        return 2


def build(a):
    if a.lnc is not None and a.lnc not in (1, 2):
        raise UsageError(f"--lnc {a.lnc}: use 1 or 2")
    if a.dry_run and a.sim:
        raise UsageError("--dry-run and --sim exclude each other")
    lnc = (a.lnc or 2) if a.target == "trn2" else None
    a.impl = list(dict.fromkeys(a.impl))
    plan = read_plan(a.plan)
    try:
        os.makedirs(os.path.join(a.out, "cache"), exist_ok=True)
    except OSError as e:
        raise UsageError(f"--out {a.out}: cannot create it ({e.strerror})")
    flags = compiler_flags(a.target, lnc)
    compiler = "nrt-sim stand-in (build_neffs.py --sim; no compiler)" if a.sim else compiler_version(a.dry_run)
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "target": a.target,
        "lnc": lnc,
        "compiler": compiler,
        "compile_flags": [] if a.sim else flags,
        "simulated": bool(a.sim),
        "jax_version": None if a.sim else jax_version(),
        "plan": {"suite": plan.get("suite"), "git_commit": plan.get("git_commit")},
        "points": {},
        "skipped": {},
    }
    manifest_path = os.path.join(a.out, "manifest.json")
    if a.impl:
        manifest["alternatives"] = {impl: {"points": {}, "skipped": {}} for impl in a.impl}
    failed = 0
    for point in plan.get("points", []):
        pid = point["id"]
        try:
            low = lowerings.build(point, plan.get("constants", {}))
            if a.sim and point["workload"] not in SIM_WORKLOADS:
                raise lowerings.Unsupported(f"nrt-sim has no stand-in for {point['workload']}")
        except lowerings.Unsupported as e:
            manifest["skipped"][pid] = str(e)
            print(f"skip  {pid}: {e}", file=sys.stderr)
            continue
        failed += produce(a, manifest, manifest_path, point, low, flags, compiler, None)
        for impl in a.impl:
            alt = manifest["alternatives"][impl]
            try:
                kern = None if a.sim else nki_lowering.kernel()
                alow = nki_lowering.build(impl, point, plan.get("constants", {}), kern)
            except lowerings.Unsupported as e:
                if point["workload"] in nki_lowering.NKI:
                    alt["skipped"][pid] = str(e)
                    print(f"skip  {pid} [{impl}]: {e}", file=sys.stderr)
                continue
            failed += produce(a, manifest, manifest_path, point, alow, flags, compiler, impl)
    if not a.dry_run:
        write_json_atomic(manifest_path, manifest)
        alts = "".join(
            f", {impl}: {len(v['points'])} NEFFs, {len(v['skipped'])} skipped"
            for impl, v in manifest.get("alternatives", {}).items()
        )
        print(f"manifest: {manifest_path} ({len(manifest['points'])} NEFFs, {len(manifest['skipped'])} skipped{alts})", file=sys.stderr)
    return 1 if failed else 0


def produce(a, manifest, manifest_path, point, low, flags, compiler, impl):
    """Writes the point's NEFF (a stand-in with --sim; prints the command with --dry-run) and
    records it in the manifest: under "points", or under alternatives[impl] for a second
    implementation (its entry says "implementation": impl). Returns 1 when the compile failed."""
    pid = point["id"]
    where = manifest["alternatives"][impl] if impl else manifest
    tag = f" [{impl}]" if impl else ""
    entry = entry_for(low)
    if impl:
        entry["implementation"] = impl
        if getattr(low, "kernel", None):
            entry["kernel"] = low.kernel
    if a.sim:
        data = sim_standin(point, low, impl)
        key = hashlib.sha256(data).hexdigest()[:20]
        rel = os.path.join("cache", f"sim-{key}.neff")
        with open(os.path.join(a.out, rel), "wb") as f:
            f.write(data)
        entry.update(neff=rel, hash=key, compile_s=None, compile_flags=[])
        where["points"][pid] = entry
        print(f"sim   {pid}{tag} -> {rel}", file=sys.stderr)
        write_json_atomic(manifest_path, manifest)
        return 0
    hlo, text = lower_to_hlo(low)
    # The proto carries per-process unique ids; the HLO text is stable, so the cache key
    # is (HLO text, flags, compiler version).
    key = hashlib.sha256(text.encode() + json.dumps(flags).encode() + compiler.encode()).hexdigest()[:20]
    hlo_path = os.path.abspath(os.path.join(a.out, "cache", f"{key}.hlo.pb"))
    neff_rel = os.path.join("cache", f"{key}.neff")
    neff_path = os.path.abspath(os.path.join(a.out, neff_rel))
    with open(hlo_path, "wb") as f:
        f.write(hlo)
    cmd = ["neuronx-cc", "compile", hlo_path] + flags + ["--output", neff_path]
    if a.dry_run:
        print(shlex.join(cmd))
        return 0
    meta_path = neff_path + ".json"
    if os.path.exists(neff_path) and os.path.exists(meta_path):
        with open(meta_path) as f:
            compile_s = json.load(f)["compile_s"]
        print(f"cached {pid}{tag} -> {neff_rel}", file=sys.stderr)
    else:
        log_path = os.path.join(a.out, "cache", f"{key}.log")
        t0 = time.monotonic()
        with open(log_path, "w") as log:
            r = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=os.path.join(a.out, "cache"))
        compile_s = time.monotonic() - t0
        if r.returncode != 0 or not os.path.exists(neff_path):
            where["skipped"][pid] = f"neuronx-cc failed (exit {r.returncode}); see {log_path}"
            print(f"FAIL  {pid}{tag}: see {log_path}", file=sys.stderr)
            write_json_atomic(manifest_path, manifest)
            return 1
        write_json_atomic(meta_path, {"compile_s": compile_s, "compiler": compiler, "flags": flags})
        print(f"built {pid}{tag} in {compile_s:.1f} s -> {neff_rel}", file=sys.stderr)
    entry.update(neff=neff_rel, hash=key, compile_s=compile_s, compile_flags=flags)
    where["points"][pid] = entry
    write_json_atomic(manifest_path, manifest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
