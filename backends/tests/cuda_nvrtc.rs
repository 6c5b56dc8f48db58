//! Every CUDA kernel module through the real NVRTC, on the CPU: `backends::cuda::compile_module`
//! (the function a GPU run calls at its first point) compiles each module to CUBIN for sm_80,
//! sm_89 and sm_90 (and any architecture a module is specialised for), cuobjdump reads each
//! kernel's registers, local memory (spills) and static shared memory and the threads its
//! `__launch_bounds__` allow, and every launch configuration the Rust code makes
//! (`backends::gpu::step::launches`) is held against them. It fails on any spill or local
//! memory, registers × threads over the 65,536 registers of an SM, shared memory over the
//! architecture's per-block limit, a block larger than the kernel was compiled for, dynamic
//! shared memory over what the backend opts the kernel in to, and a kernel of a module that no
//! launch uses or a launch of a kernel the module lacks. It prints the resource table.
//!
//! Needs the PyPI wheels `nvidia-cuda-nvrtc==13.0.88` (NVRTC 13.0: what the driver-580 GPU
//! machines load) and `nvidia-cuda-cuobjdump` (found through python3, or
//! `BENCH_CUDA_WHEELS=.../site-packages/nvidia/cu13`). libnvrtc loads its builtins library by
//! name at the first compile, so when libnvrtc is not on the loader path the test runs itself
//! again with the wheel's lib folder on `LD_LIBRARY_PATH`. Without the wheels it says it
//! skipped and why, unless `BENCH_REQUIRE_NVRTC=1` (CI sets it after installing them).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use backends::cuda::{compile_module, ModuleKind};
use backends::gpu::kernels::dynamic_smem_bytes;
use backends::gpu::launch::LaunchShape;
use backends::gpu::step::launches;
use kernels::{DType, Point, WorkloadKind};

const CHILD: &str = "BENCH_NVRTC_TEST_CHILD";
const TEST: &str = "every_module_compiles_for_every_arch_and_fits_its_launches";

/// The architectures every module is compiled for: A100, L4/L40S/RTX 4090 class, H100/H200.
const ARCHES: [(i32, i32); 3] = [(8, 0), (8, 9), (9, 0)];

/// Per-architecture limits (CUDA C++ Programming Guide, "Technical Specifications per Compute
/// Capability"): shared memory per block with the opt-in attribute, shared memory per SM,
/// resident threads per SM. Registers: 65,536 per SM and 255 per thread on all three.
struct Limits {
    smem_per_block_optin: u32,
    smem_per_sm: u32,
    threads_per_sm: u32,
}

fn limits(cc: (i32, i32)) -> Limits {
    match cc {
        (8, 0) => Limits {
            smem_per_block_optin: 163 * 1024,
            smem_per_sm: 164 * 1024,
            threads_per_sm: 2048,
        },
        (8, 9) => Limits {
            smem_per_block_optin: 99 * 1024,
            smem_per_sm: 100 * 1024,
            threads_per_sm: 1536,
        },
        (9, 0) => Limits {
            smem_per_block_optin: 227 * 1024,
            smem_per_sm: 228 * 1024,
            threads_per_sm: 2048,
        },
        other => panic!("no limits table for {other:?}"),
    }
}
const REGS_PER_SM: u32 = 65536;
const REGS_PER_THREAD: u32 = 255;
/// Static shared memory a kernel may declare without the opt-in.
const STATIC_SMEM_MAX: u32 = 48 * 1024;
/// Shared memory the driver reserves per block on 8.0+ (sm_90 cubins declare it themselves,
/// as `.nv.shared.reserved.0`, and cuobjdump counts it in SHARED).
const RESERVED_SMEM: u32 = 1024;

/// One kernel's compiled resources.
#[derive(Debug, Default, Clone)]
struct Resources {
    regs: u32,
    stack: u32,
    local: u32,
    shared: u32,
    /// From `__launch_bounds__` (EIATTR_MAX_THREADS), if the kernel has one.
    max_threads: Option<u32>,
}

fn require() -> bool {
    std::env::var("BENCH_REQUIRE_NVRTC").as_deref() == Ok("1")
}

fn skip(why: &str) {
    assert!(!require(), "BENCH_REQUIRE_NVRTC=1 but {why}");
    eprintln!("skipped: {why}");
}

/// site-packages/nvidia/cu13 of the nvidia-cuda-nvrtc / -cuobjdump wheels.
fn wheels() -> Option<PathBuf> {
    if let Ok(d) = std::env::var("BENCH_CUDA_WHEELS") {
        return Some(PathBuf::from(d));
    }
    let o = Command::new("python3")
        .args([
            "-c",
            "import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], 'cu13'))",
        ])
        .output()
        .ok()?;
    let dir = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
    (o.status.success() && dir.join("lib/libnvrtc.so.13").exists()).then_some(dir)
}

fn cuobjdump() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("CUOBJDUMP") {
        return Some(PathBuf::from(p));
    }
    let found = wheels()
        .map(|w| w.join("bin/cuobjdump"))
        .filter(|p| p.exists());
    found.or_else(|| {
        Command::new("cuobjdump")
            .arg("--version")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|_| PathBuf::from("cuobjdump"))
    })
}

fn run(tool: &Path, args: &[&str], file: &Path) -> String {
    let o = Command::new(tool).args(args).arg(file).output().unwrap();
    assert!(
        o.status.success(),
        "{} {args:?} {}: {}",
        tool.display(),
        file.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `cuobjdump --dump-resource-usage` and `-elf` of one CUBIN, by kernel.
fn resources(tool: &Path, cubin: &Path) -> BTreeMap<String, Resources> {
    let mut out: BTreeMap<String, Resources> = BTreeMap::new();
    let usage = run(tool, &["--dump-resource-usage"], cubin);
    let mut current = None;
    for line in usage.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("Function ") {
            current = Some(name.trim_end_matches(':').to_string());
        } else if let Some(name) = current.take() {
            let field = |key: &str| -> u32 {
                let v = line
                    .split_whitespace()
                    .find_map(|f| f.strip_prefix(&format!("{key}:")))
                    .unwrap_or_else(|| panic!("no {key} for {name} in {line:?}"));
                v.parse().unwrap()
            };
            let r = out.entry(name.clone()).or_default();
            r.regs = field("REG");
            r.stack = field("STACK");
            r.local = field("LOCAL");
            r.shared = field("SHARED");
        }
    }
    // -elf: each `.nv.info.<kernel>` section lists its attributes; EIATTR_MAX_THREADS's value
    // is "0xX 0xY 0xZ".
    let elf = run(tool, &["-elf"], cubin);
    let mut section: Option<String> = None;
    let mut lines = elf.lines();
    while let Some(line) = lines.next() {
        let t = line.trim();
        if t.starts_with('.') {
            section = t.strip_prefix(".nv.info.").map(str::to_string);
        } else if t.ends_with("EIATTR_MAX_THREADS") {
            let Some(k) = &section else { continue };
            let value = lines
                .by_ref()
                .map(str::trim)
                .find_map(|l| l.strip_prefix("Value:"))
                .expect("EIATTR_MAX_THREADS value");
            let dims: Vec<u32> = value
                .split_whitespace()
                .map(|x| u32::from_str_radix(x.trim_start_matches("0x"), 16).unwrap())
                .collect();
            out.entry(k.clone()).or_default().max_threads = Some(dims.iter().product());
        }
    }
    out
}

fn point(kind: WorkloadKind, kv: &[(&str, u64)], dtype: DType) -> Point {
    let p: BTreeMap<String, u64> = kv.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    Point::new(kind, &p, dtype).unwrap()
}

/// Points whose iterations together launch every kernel the backend has, in every
/// configuration it uses (launch shapes depend on the head dim, not on other sizes).
fn covering_points() -> Vec<Point> {
    let mut v = Vec::new();
    for dtype in [DType::Bf16, DType::F16] {
        for d in [64, 128] {
            let kv = [("b", 2), ("h", 3), ("s", 130), ("d", d), ("causal", 1)];
            v.push(point(WorkloadKind::Attention, &kv, dtype));
        }
    }
    let mlp = [("layers", 2), ("width", 96), ("batch", 40), ("classes", 10)];
    v.push(point(WorkloadKind::TrainMlp, &mlp, DType::Bf16));
    let gpt = [
        ("d_model", 64),
        ("layers", 2),
        ("heads", 4),
        ("seq", 32),
        ("vocab", 300),
        ("batch", 3),
    ];
    v.push(point(WorkloadKind::TrainGpt, &gpt, DType::Bf16));
    v
}

/// Every launch of prefill and decode's plans (`gpu::infer_plan`): decode with its KV cache
/// fill, prefill through the fused attention kernel (bf16) and through the unfused path (f32).
fn infer_launches() -> Vec<backends::gpu::launch::Launch> {
    use backends::gpu::infer_plan::InferPlan;
    use kernels::infer::{Decode, Decoder, Prefill};
    let model = Decoder {
        d_model: 256,
        layers: 2,
        heads: 2,
        vocab: 300,
    };
    let pre = Prefill {
        model,
        batch: 2,
        prompt: 100,
    };
    let dec = Decode {
        model,
        batch: 3,
        context: 700,
    };
    let mut v = InferPlan::prefill(&pre, DType::Bf16).all_launches(1, 132, 2);
    v.extend(InferPlan::prefill(&pre, DType::F32).all_launches(0, 132, 4));
    v.extend(InferPlan::decode(&dec, DType::Bf16, 132).all_launches(1, 132, 2));
    v
}

/// Registers one block takes: each warp's allocation rounded up to 256 registers.
fn block_regs(regs: u32, threads: u32) -> u32 {
    (regs * 32).div_ceil(256) * 256 * threads.div_ceil(32)
}

#[test]
fn every_module_compiles_for_every_arch_and_fits_its_launches() {
    if !backends::cuda::nvrtc_present() {
        assert!(
            std::env::var(CHILD).is_err(),
            "libnvrtc is not loadable even with the wheel's lib folder on LD_LIBRARY_PATH"
        );
        let Some(w) = wheels() else {
            return skip(
                "libnvrtc is not on the loader path and the nvidia-cuda-nvrtc wheel is not \
                 installed (pip install nvidia-cuda-nvrtc==13.0.88 nvidia-cuda-cuobjdump)",
            );
        };
        let lib = w.join("lib");
        let path = match std::env::var("LD_LIBRARY_PATH") {
            Ok(p) if !p.is_empty() => format!("{}:{p}", lib.display()),
            _ => lib.display().to_string(),
        };
        let o = Command::new(std::env::current_exe().unwrap())
            .args([TEST, "--exact", "--nocapture", "--test-threads=1"])
            .env("LD_LIBRARY_PATH", path)
            .env(CHILD, "1")
            .output()
            .unwrap();
        let (out, err) = (
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
        );
        eprintln!("{err}");
        println!("{out}");
        assert!(o.status.success(), "the NVRTC test failed:\n{out}\n{err}");
        assert!(
            out.contains("1 passed"),
            "the inner test did not run:\n{out}"
        );
        return;
    }
    let Some(tool) = cuobjdump() else {
        return skip("no cuobjdump (pip install nvidia-cuda-cuobjdump)");
    };
    let version = backends::cuda::nvrtc_version().expect("nvrtcVersion");
    eprintln!("NVRTC {}.{}, {}", version.0, version.1, tool.display());

    // What the Rust code launches, by kernel.
    let mut shapes: BTreeMap<&str, BTreeSet<LaunchShape>> = BTreeMap::new();
    for p in covering_points() {
        for l in launches(&p, 132).unwrap() {
            shapes.entry(l.kernel).or_default().insert(l.shape());
        }
    }
    for l in infer_launches() {
        shapes.entry(l.kernel).or_default().insert(l.shape());
    }

    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut table = String::new();
    let _ = writeln!(
        table,
        "{:<6} {:<22} {:>4} {:>6} {:>6} {:>7} {:>7} {:>6} {:>7} {:>6}",
        "arch",
        "kernel",
        "REG",
        "spill",
        "static",
        "dynamic",
        "threads",
        "bound",
        "regs/blk",
        "CTA/SM"
    );
    for cc in ARCHES {
        let lim = limits(cc);
        for kind in ModuleKind::ALL {
            let arch = kind.arch(cc);
            let cubin = compile_module(kind, cc)
                .unwrap_or_else(|e| panic!("{} for {arch}: {e}", kind.file()));
            let path = dir.path().join(format!("{}.{arch}.cubin", kind.file()));
            std::fs::write(&path, &cubin).unwrap();
            let res = resources(&tool, &path);
            for name in kind.kernels() {
                let Some(r) = res.get(name) else {
                    failures.push(format!("{arch}: {} has no kernel {name}", kind.file()));
                    continue;
                };
                let mut fail = |why: String| failures.push(format!("{arch} {name}: {why}"));
                if r.local > 0 || r.stack > 0 {
                    fail(format!(
                        "spills or local memory (LOCAL {} B, STACK {} B)",
                        r.local, r.stack
                    ));
                }
                if r.regs > REGS_PER_THREAD {
                    fail(format!("{} registers a thread", r.regs));
                }
                if r.shared > STATIC_SMEM_MAX {
                    fail(format!("{} B of static shared memory", r.shared));
                }
                let Some(used) = shapes.get(name) else {
                    fail("no launch in the Rust code uses it".into());
                    continue;
                };
                for s in used {
                    let mut fail = |why: String| {
                        failures.push(format!("{arch} {name} launched with {s:?}: {why}"))
                    };
                    let bound = r.max_threads.unwrap_or(1024);
                    if s.block > bound || s.block > 1024 {
                        fail(format!("compiled for at most {bound} threads a block"));
                    }
                    let regs = block_regs(r.regs, s.block);
                    if regs > REGS_PER_SM {
                        fail(format!(
                            "{} registers × {} threads = {regs} > {REGS_PER_SM}",
                            r.regs, s.block
                        ));
                    }
                    let opted = dynamic_smem_bytes(name);
                    if s.smem > opted.max(STATIC_SMEM_MAX - r.shared.min(STATIC_SMEM_MAX)) {
                        fail(format!(
                            "{} B of dynamic shared memory, the kernel is opted in to {opted}",
                            s.smem
                        ));
                    }
                    if r.shared + s.smem > lim.smem_per_block_optin {
                        fail(format!(
                            "{} B static + {} B dynamic shared memory > {} B a block",
                            r.shared, s.smem, lim.smem_per_block_optin
                        ));
                    }
                    let reserved = if cc >= (9, 0) { 0 } else { RESERVED_SMEM };
                    let per_block_smem = r.shared + s.smem + reserved;
                    let ctas = [
                        REGS_PER_SM / regs.max(1),
                        lim.smem_per_sm / per_block_smem.max(1),
                        lim.threads_per_sm / s.block,
                    ]
                    .into_iter()
                    .min()
                    .unwrap();
                    if ctas == 0 {
                        fail("not one block fits an SM".into());
                    }
                    let _ = writeln!(
                        table,
                        "{:<6} {:<22} {:>4} {:>6} {:>6} {:>7} {:>7} {:>6} {:>7} {:>6}",
                        arch,
                        name,
                        r.regs,
                        r.local + r.stack,
                        r.shared,
                        s.smem,
                        s.block,
                        r.max_threads.map_or("-".into(), |b| b.to_string()),
                        regs,
                        ctas
                    );
                }
            }
        }
    }
    let launched: BTreeSet<&str> = shapes.keys().copied().collect();
    let in_modules: BTreeSet<&str> = ModuleKind::ALL.iter().flat_map(|k| k.kernels()).collect();
    for k in launched.difference(&in_modules) {
        failures.push(format!("the Rust code launches {k}, which no module holds"));
    }
    println!("{table}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
