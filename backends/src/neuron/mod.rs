//! The Neuron backend: NEFFs built ahead of time (`scripts/neuron/build_neffs.py`, listed in
//! `--neff-dir`'s manifest.json) run through libnrt, loaded at run time (no link-time
//! dependency). Layers: [`sys`] raw symbols and C types, [`result`] status → actionable
//! error, and the safe RAII layer ([`runtime`], [`model`], [`tensor`]); [`exec`] is a prepared
//! point. One `nrt_init` per process; inputs written once to device tensors; the harness times
//! a loop of `nrt_execute` (never `nrt_execute_repeat`).
//!
//! With nrt-sim (`BENCH_LIBNRT=target/release/libnrt_sim.so`) the same path runs on the CPU;
//! such runs are `simulated: true` and never priced.

pub mod convert;
pub mod exec;
pub mod hbm;
pub mod lnc;
pub mod manifest;
pub mod model;
pub mod result;
pub mod runtime;
pub mod sys;
pub mod tensor;
pub mod tiled;
pub mod trace;
pub mod trace_events;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use kernels::{HostTensor, Point};

use crate::{Backend, BackendError, BackendKind, BackendOptions, DeviceInfo, Prepared};
use manifest::Manifest;
use runtime::{AcquireError, Runtime};

/// What to do when no NEFFs were given.
pub const HOW_TO_BUILD: &str = "the neuron backend runs precompiled NEFFs: build them with `bench plan --backend neuron --suite quick --out plan.json` and `python3 scripts/neuron/build_neffs.py plan.json --out neffs --target trn2` (needs neuronx-cc from the Neuron SDK; see README, Running on Trainium), then pass --neff-dir neffs";

fn unavailable(why: impl Into<String>) -> BackendError {
    BackendError::Unavailable {
        backend: "neuron",
        why: why.into(),
    }
}

/// libnrt and NEFFs, ready to run points.
pub struct NeuronBackend {
    rt: Arc<Runtime>,
    manifest: Manifest,
    info: DeviceInfo,
    cores: u32,
    chips_per_core: f64,
    /// HBM per core, when the runtime's instance family says; points that cannot fit are
    /// skipped in [`Backend::supports`].
    hbm: Option<hbm::PerCore>,
    hex_dtypes: bool,
    /// The run's system trace, when samples are timed on the device.
    tracer: Option<Arc<trace::Tracer>>,
}

fn driver_version() -> Option<String> {
    std::fs::read_to_string("/sys/module/neuron/version")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

impl NeuronBackend {
    pub fn open(options: &BackendOptions) -> Result<NeuronBackend, BackendError> {
        let api = sys::api().map_err(unavailable)?;
        let version = runtime::version(api).map_err(|e| unavailable(e.to_string()))?;
        let simulated = version.is_simulated();
        let dir = options
            .settings
            .get("neff_dir")
            .ok_or_else(|| BackendError::Config(HOW_TO_BUILD.into()))?;
        let manifest = Manifest::load(Path::new(dir)).map_err(BackendError::Config)?;
        if manifest.simulated && !simulated {
            return Err(BackendError::Config(format!(
                "{dir}/manifest.json lists nrt-sim stand-ins (built with --sim), but {} is a real Neuron runtime: build real NEFFs with build_neffs.py without --sim",
                api.path
            )));
        }
        if !manifest.simulated && simulated {
            return Err(BackendError::Config(format!(
                "{} is nrt-sim, which runs only stand-in NEFFs, but {dir}/manifest.json lists compiled NEFFs: build stand-ins with build_neffs.py --sim, or unset BENCH_LIBNRT to use the real runtime",
                api.path
            )));
        }
        let timer_want = trace::want(std::env::var(trace::TIMER_VAR).ok().as_deref())
            .map_err(BackendError::Config)?;
        let async_env = std::env::var(ASYNC_VAR).ok();
        check_async(async_env.as_deref(), &version)?;
        let (total, visible) = runtime::core_counts(api).map_err(|e| unavailable(e.to_string()))?;
        let cores = match options.settings.get("cores") {
            None => 1,
            Some(c) => c.parse::<u32>().ok().filter(|&n| n >= 1).ok_or_else(|| {
                BackendError::Config(format!(
                    "--cores {c}: must be a whole number of NeuronCores, at least 1"
                ))
            })?,
        };
        if cores > visible {
            return Err(BackendError::Config(format!(
                "--cores {cores}: only {visible} of {total} NeuronCores are visible to this process (NEURON_RT_VISIBLE_CORES={}); lower --cores or free the cores other processes hold",
                std::env::var("NEURON_RT_VISIBLE_CORES").unwrap_or_else(|_| "unset".into())
            )));
        }
        let mut extra = BTreeMap::new();
        let instance = match runtime::instance_info(api) {
            Some(Ok(i)) => Some(i),
            Some(Err(e)) => {
                extra.insert("instance_info_error".into(), e.to_string());
                None
            }
            None => None,
        };
        let family = instance
            .as_ref()
            .map(|i| i.family.clone())
            .filter(|f| f != "unknown")
            .unwrap_or_else(|| manifest.target.clone());
        let env_lnc = std::env::var(lnc::LNC_VAR).ok();
        let file_lnc = std::fs::read_to_string(lnc::LNC_FILE).ok();
        let size = instance
            .as_ref()
            .map(|i| i.size.as_str())
            .filter(|s| *s != "unknown");
        let facts = lnc::Facts {
            family: &family,
            size,
            total_cores: total,
            // A simulator's cores are not the host's devices.
            dev_chips: if simulated { None } else { lnc::dev_chips() },
            env: env_lnc.as_deref(),
            file: file_lnc.as_deref(),
        };
        let lnc_found = lnc::detect(&facts).map_err(|e| BackendError::Config(e.to_string()))?;
        let lnc = lnc_found.value;
        for n in &lnc_found.notes {
            eprintln!("bench: neuron: {n}");
        }
        if let Some(i) = &instance {
            let fam_gen = |f: &str| f.get(..4).map(str::to_string);
            if i.family != "unknown" && fam_gen(&i.family) != fam_gen(&manifest.target) {
                return Err(BackendError::Config(format!(
                    "{dir}/manifest.json holds NEFFs for {} but this instance is {}: rebuild them with build_neffs.py --target {}",
                    manifest.target,
                    i.family,
                    fam_gen(&i.family).unwrap_or_default()
                )));
            }
        }
        if let Some(m) = manifest.lnc {
            if lnc::has_lnc(&family) && m != lnc {
                return Err(BackendError::Config(format!(
                    "{dir}/manifest.json holds NEFFs compiled with --lnc {m} but this runtime uses LNC {lnc} ({}): set {}={m} before starting bench, or rebuild the NEFFs with build_neffs.py --lnc {lnc}",
                    lnc_found.source,
                    lnc::LNC_VAR
                )));
            }
        }
        // nrt_init reserves (and resets) every core on the host unless told otherwise.
        let visible_env = match std::env::var(VISIBLE_VAR) {
            Ok(v) => format!("{v} (set by the user)"),
            Err(_) => {
                let range = if cores == 1 {
                    "0".to_string()
                } else {
                    format!("0-{}", cores - 1)
                };
                // Before nrt_init, on the thread opening the backend; nothing reads the
                // environment concurrently at this point of start-up.
                std::env::set_var(VISIBLE_VAR, &range);
                format!("{range} (set by bench: the cores this run uses; nrt_init would otherwise reserve all {total})")
            }
        };
        let rt = Runtime::acquire().map_err(|e| match e {
            AcquireError::Init(e) => unavailable(e.to_string()),
            other => unavailable(other.to_string()),
        })?;

        let tracer = trace::choose(
            api.sys_trace.as_ref().map_err(String::as_str),
            &rt,
            timer_want,
            &mut extra,
        )
        .map_err(BackendError::Config)?;
        let chips = lnc::chips_per_core(&family, lnc);
        // Only the family the runtime reports: the NEFFs' target is what they were built for,
        // not what this core holds.
        let reported = instance
            .as_ref()
            .map(|i| i.family.as_str())
            .filter(|f| *f != "unknown");
        let hbm = reported.and_then(|f| hbm::per_core(f, lnc));
        match (&hbm, reported) {
            (Some(h), _) => {
                extra.insert("hbm_per_core".into(), hbm::describe(h.bytes));
                extra.insert("hbm_per_core_basis".into(), h.basis.clone());
            }
            (None, f) => {
                let why = match f {
                    Some(f) => format!("no HBM figure for instance family {f}"),
                    None => {
                        "the runtime reported no instance family (nrt_get_instance_info)".into()
                    }
                };
                extra.insert(
                    "hbm_fit_check".into(),
                    format!("not possible: {why}; a point that does not fit fails at nrt_tensor_allocate"),
                );
            }
        }
        let s = |v: &str| v.to_string();
        extra.insert(s("libnrt"), api.path.clone());
        extra.insert(s("runtime_detail"), version.detail.clone());
        extra.insert(s("runtime_git_hash"), version.git_hash.clone());
        extra.insert(
            s("dtype_codes"),
            if version.hex_dtype_codes() {
                s("hardware codes (runtime >= 2.30)")
            } else {
                s("sequential codes (runtime < 2.30)")
            },
        );
        extra.insert(
            s("core_count_symbols"),
            format!("nrt_get_*_{}_count", api.count_names),
        );
        extra.insert(s("total_cores"), total.to_string());
        extra.insert(s("visible_cores"), visible.to_string());
        extra.insert(s("cores_per_point"), cores.to_string());
        extra.insert(s(VISIBLE_VAR), visible_env);
        // An optional query: a failure is recorded, not fatal, and never silent.
        match runtime::core_counts(api) {
            Ok((_, reserved)) => extra.insert(s("reserved_cores"), reserved.to_string()),
            Err(e) => extra.insert(s("reserved_cores_error"), e.to_string()),
        };
        extra.insert(s("nrt_init_s"), format!("{:.6}", rt.init_s));
        extra.insert(
            s(ASYNC_VAR),
            async_env.clone().unwrap_or_else(|| s("unset")),
        );
        extra.insert(
            s("async_capability"),
            async_capability(&version, api.explicit_async),
        );
        extra.insert(s("lnc"), lnc.to_string());
        extra.insert(s("lnc_source"), lnc_found.source.clone());
        if !lnc_found.notes.is_empty() {
            extra.insert(s("lnc_notes"), lnc_found.notes.join("; "));
        }
        if let Some(v) = &env_lnc {
            extra.insert(s(lnc::LNC_VAR), v.clone());
        }
        if let Some(v) = &file_lnc {
            extra.insert(s("lnc_file"), v.trim().to_string());
        }
        if let Some((n, how)) = lnc::chips(&facts) {
            extra.insert(s("chips"), n.to_string());
            extra.insert(s("chips_source"), how);
        }
        extra.insert(s("chips_per_core"), chips.to_string());
        extra.insert(s("family"), family.clone());
        if let Some(i) = &instance {
            extra.insert(s("instance_family"), i.family.clone());
            extra.insert(s("instance_size"), i.size.clone());
            extra.insert(s("instance_arch"), i.arch.clone());
            extra.insert(s("device_revision"), i.revision.clone());
        }
        extra.insert(s("neff_dir"), dir.clone());
        extra.insert(s("neff_target"), manifest.target.clone());
        extra.insert(
            s("neff_lnc"),
            manifest.lnc.map(|l| l.to_string()).unwrap_or_default(),
        );
        extra.insert(s("neff_compiler"), manifest.compiler.clone());
        extra.insert(s("neff_compile_flags"), manifest.compile_flags.join(" "));
        if simulated {
            extra.insert(
                s("simulated_note"),
                s("nrt-sim: the libnrt C ABI computed on the host CPU; timings are not Trainium figures and are never priced"),
            );
        }
        let device = if simulated {
            format!("nrt-sim (SIMULATED NeuronCores on the host CPU, {visible} visible)")
        } else {
            format!("AWS {family} NeuronCore (LNC={lnc}), {visible} visible")
        };
        let info = DeviceInfo {
            kind: Some(BackendKind::Neuron),
            implementation: "bench".into(),
            device,
            device_count: visible,
            runtime_version: Some(if simulated {
                format!("{} ({})", version.number(), version.detail)
            } else {
                version.number()
            }),
            driver_version: driver_version(),
            simulated,
            extra,
        };
        Ok(NeuronBackend {
            hex_dtypes: version.hex_dtype_codes(),
            rt,
            manifest,
            info,
            cores,
            chips_per_core: chips,
            hbm,
            tracer,
        })
    }
}

const ASYNC_VAR: &str = "NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS";
const VISIBLE_VAR: &str = "NEURON_RT_VISIBLE_CORES";

/// Implicit async execution (runtimes before 2.34): `nrt_execute` returns after enqueueing,
/// so a wall-clock sample would time the submission. Refused.
fn check_async(value: Option<&str>, version: &runtime::Version) -> Result<(), BackendError> {
    let Some(v) = value else { return Ok(()) };
    let n: u64 = v.trim().parse().map_err(|_| {
        BackendError::Config(format!(
            "{ASYNC_VAR}={v} is not a whole number: unset it (bench times synchronous nrt_execute)"
        ))
    })?;
    if n > 0 && (version.major, version.minor) < (2, 34) {
        return Err(BackendError::Config(format!(
            "{ASYNC_VAR}={v}: with runtime {} nrt_execute returns after enqueueing, so every sample would time the submission, not the execution; unset {ASYNC_VAR} (or set it to 0) and rerun",
            version.number()
        )));
    }
    Ok(())
}

fn async_capability(version: &runtime::Version, explicit: bool) -> String {
    let implicit = if (version.major, version.minor) < (2, 34) {
        "implicit async via NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS available (runtime < 2.34; refused by bench)"
    } else {
        "implicit async removed (runtime >= 2.34)"
    };
    let explicit = if explicit {
        "explicit nrta_execute_schedule exported"
    } else {
        "no explicit async API (nrta_execute_schedule)"
    };
    format!("{implicit}; {explicit}; bench runs synchronous nrt_execute")
}

/// One line for `bench list`, without initialising the runtime.
pub fn describe_here() -> Result<String, String> {
    let api = sys::api()?;
    let v = runtime::version(api).map_err(|e| e.to_string())?;
    let (_, visible) = runtime::core_counts(api).map_err(|e| e.to_string())?;
    let sim = if v.is_simulated() {
        " SIMULATED (nrt-sim)"
    } else {
        ""
    };
    Ok(format!(
        "libnrt {}{sim} at {}, {visible} visible NeuronCores; runs NEFFs from --neff-dir",
        v.number(),
        api.path
    ))
}

impl Backend for NeuronBackend {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn supports(&self, point: &Point) -> Result<(), String> {
        let id = point.id();
        if let Some(e) = self.manifest.points.get(&id) {
            return self.fits(point, e);
        }
        if let Some(why) = self.manifest.skipped.get(&id) {
            return Err(why.clone());
        }
        Err(format!(
            "no NEFF for this point in {}/manifest.json: include it in the plan (bench plan --backend neuron ...) and rerun build_neffs.py",
            self.manifest.dir.display()
        ))
    }

    fn prepare<'a>(
        &'a mut self,
        point: &Point,
        inputs: &[HostTensor],
    ) -> Result<Box<dyn Prepared + 'a>, BackendError> {
        let id = point.id();
        let entry = self
            .manifest
            .points
            .get(&id)
            .ok_or_else(|| BackendError::Point(self.supports(point).unwrap_err()))?;
        self.load(entry, inputs)
    }

    fn alternatives(&self, point: &Point) -> Vec<(String, Result<(), String>)> {
        self.manifest
            .alternatives_of(&point.id())
            .into_iter()
            .map(|(name, e)| {
                let ok = e.map_err(str::to_string).and_then(|e| self.fits(point, e));
                (name.to_string(), ok)
            })
            .collect()
    }

    fn prepare_alternative<'a>(
        &'a mut self,
        name: &str,
        point: &Point,
        inputs: &[HostTensor],
    ) -> Result<Box<dyn Prepared + 'a>, BackendError> {
        let id = point.id();
        let entry = self
            .manifest
            .alternatives
            .get(name)
            .and_then(|a| a.points.get(&id))
            .ok_or_else(|| {
                BackendError::Point(format!(
                    "no {name} NEFF for this point in {}/manifest.json (alternatives.{name}.points); rebuild with build_neffs.py --impl {name}",
                    self.manifest.dir.display()
                ))
            })?;
        self.load(entry, inputs)
    }

    fn devices_used(&self, _point: &Point) -> f64 {
        self.cores as f64 * self.chips_per_core
    }
}

impl NeuronBackend {
    /// Whether the entry's tensors fit one core's HBM; `Ok` when that is not known.
    fn fits(&self, point: &Point, entry: &manifest::Entry) -> Result<(), String> {
        match &self.hbm {
            Some(h) => hbm::fits(&point.kind().to_string(), entry, h),
            None => Ok(()),
        }
    }

    /// Loads the entry's NEFF on each of `--cores` NeuronCores with the inputs written.
    fn load<'a>(
        &'a self,
        entry: &manifest::Entry,
        inputs: &[HostTensor],
    ) -> Result<Box<dyn Prepared + 'a>, BackendError> {
        let path = self.manifest.neff_path(entry);
        let neff = std::fs::read(&path).map_err(|e| {
            BackendError::Point(format!(
                "cannot read NEFF {} ({e}): rebuild the NEFFs with build_neffs.py",
                path.display()
            ))
        })?;
        let label = path.display().to_string();
        let mut copies = Vec::with_capacity(self.cores as usize);
        for vnc in 0..self.cores {
            copies.push(exec::CoreCopy::build(
                &self.rt,
                &neff,
                &label,
                entry,
                inputs,
                vnc as i32,
                self.hex_dtypes,
            )?);
        }
        Ok(Box::new(exec::NeuronPoint::new(
            copies,
            entry,
            self.tracer.clone(),
        )))
    }
}
