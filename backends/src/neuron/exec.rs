//! A prepared Neuron point: the NEFF loaded on each of `--cores` NeuronCores, its tensors
//! allocated on the device and the inputs written once, then `run` = one synchronous
//! `nrt_execute` per copy (all copies at once: copy 0 on the caller, the others on persistent threads started at prepare and released by a barrier each sample). A stateful entry ping-pongs
//! two tensor sets: step t reads its state (training: parameters and optimiser state; decode:
//! the KV cache and position) from set t%2 and writes it into the other, so the loop really
//! trains or decodes; the 4-byte loss is read after every step (inside
//! the timed iteration) so `train.losses` holds the whole trajectory. Outputs of inference
//! points are read only when the harness asks for them (the check), never while timing.
//! With the run's system trace ([`super::trace`]) `run` returns each sample's device time and
//! keeps its wall time (taken before the trace fetch) for `samples_wall_s`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use kernels::{HostTensor, Produced};

use super::convert::{self, Dtype};
use super::manifest::{Entry, Init, Io};
use super::model::{Model, TensorInfo};
use super::runtime::Runtime;
use super::tensor::{Tensor, TensorSet};
use super::trace::{self, Tracer};
use crate::{BackendError, OneOff, Prepared};

/// One copy of the point on one NeuronCore.
pub struct CoreCopy {
    pub model: Model,
    /// (inputs, outputs) per phase: one phase, or two for training.
    pub phases: Vec<(TensorSet, TensorSet)>,
    /// The checked output (inference) or the loss (training), per phase.
    pub watched: Vec<Arc<Tensor>>,
}

/// Copies 1.. of a `--cores N` point, each driven by its own thread, started once at
/// prepare and released together by a barrier for every sample (copy 0 runs on the caller).
struct Workers {
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<()>>,
}

struct Shared {
    start: Barrier,
    done: Barrier,
    phase: AtomicUsize,
    stop: AtomicBool,
    /// Each worker's result for the current sample.
    results: Vec<Mutex<Result<(), BackendError>>>,
}

impl Workers {
    fn spawn(copies: Vec<CoreCopy>) -> Workers {
        let n = copies.len();
        let shared = Arc::new(Shared {
            start: Barrier::new(n + 1),
            done: Barrier::new(n + 1),
            phase: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            results: (0..n).map(|_| Mutex::new(Ok(()))).collect(),
        });
        let handles = copies
            .into_iter()
            .enumerate()
            .map(|(i, copy)| {
                let sh = shared.clone();
                std::thread::spawn(move || loop {
                    sh.start.wait();
                    if sh.stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let phase = sh.phase.load(Ordering::SeqCst);
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        copy.execute(phase)
                    }))
                    .unwrap_or_else(|_| Err(point_err("an execution thread panicked")));
                    *sh.results[i].lock().unwrap_or_else(|p| p.into_inner()) = r;
                    sh.done.wait();
                })
            })
            .collect();
        Workers { shared, handles }
    }

    /// Releases every worker on `phase`, runs `own` meanwhile, and waits for all.
    fn run(
        &self,
        phase: usize,
        own: impl FnOnce() -> Result<(), BackendError>,
    ) -> Result<(), BackendError> {
        self.shared.phase.store(phase, Ordering::SeqCst);
        self.shared.start.wait();
        let mine = own();
        self.shared.done.wait();
        mine?;
        for r in &self.shared.results {
            let r = std::mem::replace(&mut *r.lock().unwrap_or_else(|p| p.into_inner()), Ok(()));
            r?;
        }
        Ok(())
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.start.wait();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

pub struct NeuronPoint {
    /// Copy 0, run on the caller's thread; the check and the losses read it.
    pub copies: Vec<CoreCopy>,
    workers: Option<Workers>,
    n: usize,
    phase: usize,
    /// The phase the latest `run` executed (whose outputs an inference check reads).
    last: usize,
    training: bool,
    watched_dtype: Dtype,
    losses: Vec<f64>,
    compile_s: Option<f64>,
    /// The run's system trace: samples are device time, the wall time kept beside them.
    trace: Option<Arc<Tracer>>,
    last_wall: Option<f64>,
}

fn point_err(e: impl std::fmt::Display) -> BackendError {
    BackendError::Point(e.to_string())
}

/// Checks that the NEFF declares every tensor of the manifest entry, with the same size.
fn match_info(
    entry: &Entry,
    info: &[TensorInfo],
    label: &str,
    hex: bool,
) -> Result<(), BackendError> {
    let check = |io: &Io, input: bool| -> Result<(), BackendError> {
        let dir = if input { "input" } else { "output" };
        let Some(t) = info
            .iter()
            .find(|t| t.name == io.neff_name && t.input == input)
        else {
            let names: Vec<&str> = info
                .iter()
                .filter(|t| t.input == input)
                .map(|t| t.name.as_str())
                .collect();
            return Err(point_err(format!(
                "{label} has no {dir} named '{}' (bench's '{}'); its {dir}s are [{}]: fix neff_name in manifest.json or rebuild the NEFFs with build_neffs.py",
                io.neff_name, io.name, names.join(", ")
            )));
        };
        if t.size != io.bytes() {
            return Err(point_err(format!(
                "{label}: {dir} '{}' is {} bytes ({} {:?} per the runtime) but the manifest says {} {:?} = {} bytes: rebuild the NEFFs and manifest together",
                t.name, t.size, convert::nrt_dtype_name(t.dtype_code, hex), t.shape, io.dtype, io.shape, io.bytes()
            )));
        }
        Ok(())
    };
    for io in &entry.inputs {
        check(io, true)?;
    }
    for io in &entry.outputs {
        check(io, false)?;
    }
    Ok(())
}

/// The bytes an input starts with.
fn initial(io: &Io, inputs: &[HostTensor]) -> Result<Vec<u8>, BackendError> {
    match io.init {
        Init::Zeros => Ok(vec![0u8; io.bytes()]),
        Init::Tiled => super::tiled::bytes(io, inputs).map_err(point_err),
        Init::Workload => {
            let t = inputs.iter().find(|t| t.name == io.name).ok_or_else(|| {
                point_err(format!(
                    "the manifest's input '{}' is not an input of this workload: rebuild the NEFFs with this bench's build_neffs.py",
                    io.name
                ))
            })?;
            if t.shape != io.shape {
                return Err(point_err(format!(
                    "input '{}' has shape {:?} but the NEFF was built for {:?}: rebuild the NEFFs for this point",
                    io.name, t.shape, io.shape
                )));
            }
            Ok(convert::encode(t, io.dtype()))
        }
    }
}

impl CoreCopy {
    /// Loads the NEFF on `vnc`, allocates and fills its tensors and builds the sets.
    pub fn build(
        rt: &Arc<Runtime>,
        neff: &[u8],
        label: &str,
        entry: &Entry,
        inputs: &[HostTensor],
        vnc: i32,
        hex_dtypes: bool,
    ) -> Result<CoreCopy, BackendError> {
        let model = Model::load(rt, neff, vnc, label).map_err(point_err)?;
        let info = model.tensor_info().map_err(point_err)?;
        match_info(entry, &info, label, hex_dtypes)?;
        let phases = if entry.is_stateful() { 2 } else { 1 };
        let fed = |name: &str| {
            entry
                .outputs
                .iter()
                .any(|o| o.feeds.as_deref() == Some(name))
        };
        // Per input: one tensor per phase when an output feeds it, else one shared tensor.
        let mut in_tensors: Vec<Vec<Arc<Tensor>>> = Vec::new();
        for io in &entry.inputs {
            let bytes = initial(io, inputs)?;
            let n = if fed(&io.name) { phases } else { 1 };
            let mut v = Vec::new();
            for p in 0..n {
                let t = Tensor::allocate(rt, vnc, io.bytes(), &format!("{}.{p}", io.name))
                    .map_err(point_err)?;
                if p == 0 {
                    t.write(&bytes).map_err(point_err)?;
                }
                v.push(Arc::new(t));
            }
            in_tensors.push(v);
        }
        let watched_name = entry
            .check
            .as_deref()
            .or(entry.loss.as_deref())
            .unwrap_or_default();
        let mut sets = Vec::new();
        let mut watched = Vec::new();
        for p in 0..phases {
            let mut ins = TensorSet::new(rt).map_err(point_err)?;
            for (io, ts) in entry.inputs.iter().zip(&in_tensors) {
                ins.add(&io.neff_name, &ts[p % ts.len()])
                    .map_err(point_err)?;
            }
            let mut outs = TensorSet::new(rt).map_err(point_err)?;
            for o in &entry.outputs {
                let t = match &o.feeds {
                    Some(f) => {
                        let i = entry
                            .inputs
                            .iter()
                            .position(|i| &i.name == f)
                            .expect("validated");
                        in_tensors[i][(p + 1) % phases].clone()
                    }
                    None => Arc::new(
                        Tensor::allocate(rt, vnc, o.bytes(), &format!("{}.{p}", o.name))
                            .map_err(point_err)?,
                    ),
                };
                outs.add(&o.neff_name, &t).map_err(point_err)?;
                if o.name == watched_name {
                    watched.push(t);
                }
            }
            sets.push((ins, outs));
        }
        Ok(CoreCopy {
            model,
            phases: sets,
            watched,
        })
    }

    /// One synchronous `nrt_execute` of `phase`'s tensor sets.
    pub fn execute(&self, phase: usize) -> Result<(), BackendError> {
        let (i, o) = &self.phases[phase];
        self.model.execute(i, o).map_err(point_err)
    }
}

impl NeuronPoint {
    pub fn new(
        mut copies: Vec<CoreCopy>,
        entry: &Entry,
        trace: Option<Arc<Tracer>>,
    ) -> NeuronPoint {
        if let Some(t) = &trace {
            // Drop what earlier points left; a fetch that fails here fails the first sample.
            let _ = t.fetch();
        }
        let n = copies.len();
        let rest = copies.split_off(n.min(1));
        let workers = (!rest.is_empty()).then(|| Workers::spawn(rest));
        let watched = entry
            .check
            .as_deref()
            .or(entry.loss.as_deref())
            .unwrap_or_default();
        NeuronPoint {
            copies,
            workers,
            n,
            phase: 0,
            last: 0,
            training: entry.is_training(),
            watched_dtype: entry
                .output(watched)
                .map(|o| o.dtype())
                .unwrap_or(Dtype::F32),
            losses: Vec::new(),
            compile_s: entry.compile_s,
            trace,
            last_wall: None,
        }
    }

    fn read_watched(&self, phase: usize) -> Result<Vec<f32>, BackendError> {
        let bytes = self.copies[0].watched[phase].read().map_err(point_err)?;
        Ok(convert::decode(&bytes, self.watched_dtype))
    }
}

impl Prepared for NeuronPoint {
    fn run(&mut self) -> Result<Option<f64>, BackendError> {
        let phase = self.phase;
        let n = self.n;
        let t0 = Instant::now();
        let amortised = match &self.workers {
            None => {
                self.copies[0].execute(phase)?;
                None
            }
            Some(w) => {
                let own = &self.copies[0];
                let t = Instant::now();
                w.run(phase, || own.execute(phase))?;
                let wall = t.elapsed().as_secs_f64();
                // N copies did N iterations' work in `wall`: time per iteration across the cores.
                Some(wall / n as f64)
            }
        };
        if self.training {
            let loss = self.read_watched(phase)?;
            self.losses
                .push(loss.first().copied().unwrap_or(f32::NAN) as f64);
        }
        self.last = phase;
        self.phase = (phase + 1) % self.copies[0].phases.len();
        let Some(tracer) = &self.trace else {
            return Ok(amortised);
        };
        // The wall time the wall timer would have taken, before the trace's own fetch.
        self.last_wall = Some(amortised.unwrap_or_else(|| t0.elapsed().as_secs_f64()));
        let device = tracer.sample(n).map_err(point_err)?;
        // As on the wall clock, N copies did N iterations' work: the slowest one's time ÷ N.
        Ok(Some(device.seconds / n as f64))
    }

    fn wall_s(&self) -> Option<f64> {
        self.last_wall
    }

    fn output(&mut self) -> Result<Produced, BackendError> {
        if self.training {
            return Ok(Produced::Losses(self.losses.clone()));
        }
        Ok(Produced::Tensor(self.read_watched(self.last)?))
    }

    fn timer(&self) -> &'static str {
        if self.trace.is_some() {
            if self.n > 1 {
                return "nrt_sys_trace-per-core (the slowest --cores copy's nc_exec_running device time, divided by the copy count)";
            }
            return trace::TIMER;
        }
        if self.n > 1 {
            "wall-per-core (all --cores copies timed together, divided by the copy count)"
        } else {
            "wall"
        }
    }

    fn one_off(&self) -> OneOff {
        OneOff {
            compile_s: self.compile_s,
        }
    }
}
