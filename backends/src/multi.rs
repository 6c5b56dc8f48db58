//! Several devices driven together, for any backend (the CUDA backend's `--devices all` or a
//! list): one worker thread per device, each owning a single-device backend (for CUDA: its
//! context, cuBLASLt handle and compiled kernels). Every worker prepares and runs the same
//! seeded point at the same time on its device. N devices do N iterations' work in the
//! slowest device's time, so a sample is that time ÷ N (the time per iteration across the
//! devices, the convention the neuron backend uses for several cores) and `devices_used` is
//! N: price × devices × time then costs exactly the devices used. Every device's output must
//! agree with device 0's (which then goes through the correctness gate), so a faulty device
//! fails the point.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use kernels::{HostTensor, Point, Produced};

use crate::{Backend, BackendError, DeviceInfo, OneOff, Prepared, Telemetry};

enum Cmd {
    Supports(Point),
    Prepare(Point, Arc<Vec<HostTensor>>),
    Run,
    Output,
    Telemetry,
    Release,
}

enum Reply {
    Supports(Result<(), String>),
    Prepared(Result<(&'static str, OneOff), BackendError>),
    Ran(Result<Option<f64>, BackendError>),
    Output(Result<Produced, BackendError>),
    Telemetry(Option<Telemetry>),
}

struct Worker {
    tx: Sender<Cmd>,
    rx: Receiver<Reply>,
    handle: Option<JoinHandle<()>>,
}

fn serve(mut backend: Box<dyn Backend>, rx: Receiver<Cmd>, tx: Sender<Reply>) {
    while let Ok(cmd) = rx.recv() {
        let (point, inputs) = match cmd {
            Cmd::Prepare(point, inputs) => (point, inputs),
            Cmd::Supports(point) => {
                if tx.send(Reply::Supports(backend.supports(&point))).is_err() {
                    return;
                }
                continue;
            }
            _ => continue,
        };
        let mut prep = match backend.prepare(&point, &inputs) {
            Ok(p) => p,
            Err(e) => {
                let _ = tx.send(Reply::Prepared(Err(e)));
                continue;
            }
        };
        let _ = tx.send(Reply::Prepared(Ok((prep.timer(), prep.one_off()))));
        while let Ok(cmd) = rx.recv() {
            let reply = match cmd {
                Cmd::Supports(_) => Reply::Supports(Err("a point is being run".into())),
                Cmd::Run => Reply::Ran(prep.run()),
                Cmd::Output => Reply::Output(prep.output()),
                Cmd::Telemetry => Reply::Telemetry(prep.telemetry()),
                Cmd::Release | Cmd::Prepare(..) => break,
            };
            if tx.send(reply).is_err() {
                return;
            }
        }
    }
}

/// Several devices driven together.
pub struct MultiDevice {
    backend: &'static str,
    info: DeviceInfo,
    workers: Vec<Worker>,
}

/// Opens the backend of one device (by index) inside its worker thread.
pub type Opener = dyn Fn(usize) -> Result<Box<dyn Backend>, BackendError> + Send + Sync;

impl MultiDevice {
    /// One worker thread per device of `backend`, each owning the backend `open` makes for it.
    pub fn spawn(
        backend: &'static str,
        devices: Vec<usize>,
        open: Arc<Opener>,
    ) -> Result<Self, BackendError> {
        let mut workers = Vec::new();
        let mut infos = Vec::new();
        for d in devices.iter().copied() {
            let (ctx, crx) = channel();
            let (rtx, rrx) = channel();
            let (itx, irx) = channel();
            let opener = open.clone();
            let handle = std::thread::spawn(move || match opener(d) {
                Ok(b) => {
                    let _ = itx.send(Ok(b.info().clone()));
                    serve(b, crx, rtx);
                }
                Err(e) => {
                    let _ = itx.send(Err(e));
                }
            });
            let info = irx.recv().map_err(|_| BackendError::Unavailable {
                backend,
                why: format!("the worker for device {d} died while opening it"),
            })??;
            infos.push(info);
            workers.push(Worker {
                tx: ctx,
                rx: rrx,
                handle: Some(handle),
            });
        }
        let mut info = infos[0].clone();
        let names: Vec<String> = infos.iter().map(|i| i.device.clone()).collect();
        if names.iter().any(|n| n != &names[0]) {
            return Err(BackendError::Config(format!(
                "--devices mixes device models ({}): run each model separately",
                names.join(", ")
            )));
        }
        info.extra.insert(
            "gpu_indices".into(),
            devices
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(","),
        );
        info.extra.remove("gpu_index");
        info.extra
            .insert("workers".into(), devices.len().to_string());
        Ok(MultiDevice {
            backend,
            info,
            workers,
        })
    }

    fn all(&self, make: impl Fn() -> Cmd) -> Vec<Result<Reply, BackendError>> {
        for w in &self.workers {
            let _ = w.tx.send(make());
        }
        self.workers
            .iter()
            .enumerate()
            .map(|(i, w)| {
                w.rx.recv().map_err(|_| {
                    BackendError::Point(format!("the worker for {} device #{i} died", self.backend))
                })
            })
            .collect()
    }
}

impl Drop for MultiDevice {
    fn drop(&mut self) {
        for w in &mut self.workers {
            let (dead_tx, _) = channel();
            drop(std::mem::replace(&mut w.tx, dead_tx));
            if let Some(h) = w.handle.take() {
                let _ = h.join();
            }
        }
    }
}

impl Backend for MultiDevice {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    /// Every device must support the point.
    fn supports(&self, point: &Point) -> Result<(), String> {
        for r in self.all(|| Cmd::Supports(*point)) {
            match r {
                Ok(Reply::Supports(s)) => s?,
                Ok(_) => return Err("worker protocol error".into()),
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(())
    }

    fn prepare<'a>(
        &'a mut self,
        point: &Point,
        inputs: &[HostTensor],
    ) -> Result<Box<dyn Prepared + 'a>, BackendError> {
        let shared = Arc::new(inputs.to_vec());
        let replies = self.all(|| Cmd::Prepare(*point, shared.clone()));
        let mut first = None;
        let mut err = None;
        for r in replies {
            match r {
                Ok(Reply::Prepared(Ok(x))) => {
                    first.get_or_insert(x);
                }
                Ok(Reply::Prepared(Err(e))) | Err(e) => {
                    err.get_or_insert(e);
                }
                Ok(_) => {
                    err.get_or_insert(BackendError::Point("worker protocol error".into()));
                }
            }
        }
        if let Some(e) = err {
            for w in &self.workers {
                let _ = w.tx.send(Cmd::Release);
            }
            return Err(e);
        }
        let (timer, one_off) = first.unwrap_or(("cuda_event", OneOff::default()));
        Ok(Box::new(MultiPrepared {
            gpus: self,
            timer,
            one_off,
        }))
    }

    fn devices_used(&self, _point: &Point) -> f64 {
        self.workers.len() as f64
    }
}

struct MultiPrepared<'a> {
    gpus: &'a MultiDevice,
    timer: &'static str,
    one_off: OneOff,
}

impl Drop for MultiPrepared<'_> {
    fn drop(&mut self) {
        for w in &self.gpus.workers {
            let _ = w.tx.send(Cmd::Release);
        }
    }
}

/// Largest |a − b| / (|b| + rms(b)) over two outputs.
fn disagreement(a: &Produced, b: &Produced) -> f64 {
    let (x, y): (Vec<f64>, Vec<f64>) = match (a, b) {
        (Produced::Tensor(x), Produced::Tensor(y)) => (
            x.iter().map(|&v| v as f64).collect(),
            y.iter().map(|&v| v as f64).collect(),
        ),
        (Produced::Losses(x), Produced::Losses(y)) => (x.clone(), y.clone()),
        _ => return f64::INFINITY,
    };
    if x.len() != y.len() {
        return f64::INFINITY;
    }
    let rms = (y.iter().map(|v| v * v).sum::<f64>() / y.len().max(1) as f64).sqrt();
    x.iter()
        .zip(&y)
        .map(|(a, b)| (a - b).abs() / (b.abs() + rms + f64::MIN_POSITIVE))
        .fold(
            0.0,
            |m, e| if e.is_nan() { f64::INFINITY } else { m.max(e) },
        )
}

/// Devices may differ in summation order (atomics in the training step), not more.
const AGREEMENT: f64 = 1e-2;

impl Prepared for MultiPrepared<'_> {
    fn run(&mut self) -> Result<Option<f64>, BackendError> {
        let mut slowest: Option<f64> = None;
        for r in self.gpus.all(|| Cmd::Run) {
            match r? {
                Reply::Ran(Ok(t)) => {
                    slowest = match (slowest, t) {
                        (Some(a), Some(b)) => Some(a.max(b)),
                        (a, b) => a.or(b),
                    }
                }
                Reply::Ran(Err(e)) => return Err(e),
                _ => return Err(BackendError::Point("worker protocol error".into())),
            }
        }
        Ok(slowest.map(|t| t / self.gpus.workers.len() as f64))
    }

    fn output(&mut self) -> Result<Produced, BackendError> {
        let mut outs = Vec::new();
        for r in self.gpus.all(|| Cmd::Output) {
            match r? {
                Reply::Output(o) => outs.push(o?),
                _ => return Err(BackendError::Point("worker protocol error".into())),
            }
        }
        for (i, o) in outs.iter().enumerate().skip(1) {
            let d = disagreement(o, &outs[0]);
            if d > AGREEMENT {
                return Err(BackendError::Point(format!(
                    "{} device #{i} disagrees with device #0 (max relative difference {d:.3e})",
                    self.gpus.backend
                )));
            }
        }
        Ok(outs.swap_remove(0))
    }

    fn timer(&self) -> &'static str {
        self.timer
    }

    fn one_off(&self) -> OneOff {
        self.one_off
    }

    fn telemetry(&mut self) -> Option<Telemetry> {
        let mut merged: Option<Telemetry> = None;
        for r in self.gpus.all(|| Cmd::Telemetry) {
            if let Ok(Reply::Telemetry(Some(t))) = r {
                merged = Some(match merged {
                    None => t,
                    Some(m) => m.merge(&t),
                });
            }
        }
        merged
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use kernels::{DType, WorkloadKind};

    /// A stand-in device: iteration time and output depend on its index.
    struct Fake {
        info: DeviceInfo,
        index: usize,
        disagree: bool,
    }
    /// Device 1 of the fakes cannot run f16.
    struct FakePrep {
        index: usize,
        disagree: bool,
        runs: usize,
    }
    impl Backend for Fake {
        fn info(&self) -> &DeviceInfo {
            &self.info
        }
        fn supports(&self, p: &Point) -> Result<(), String> {
            if self.index == 1 && p.dtype == DType::F16 {
                return Err("device 1 has no f16".into());
            }
            Ok(())
        }
        fn prepare<'a>(
            &'a mut self,
            _: &Point,
            inputs: &[HostTensor],
        ) -> Result<Box<dyn Prepared + 'a>, BackendError> {
            if inputs.is_empty() {
                return Err(BackendError::Point(format!(
                    "device {} has no inputs",
                    self.index
                )));
            }
            Ok(Box::new(FakePrep {
                index: self.index,
                disagree: self.disagree,
                runs: 0,
            }))
        }
    }
    impl Prepared for FakePrep {
        fn run(&mut self) -> Result<Option<f64>, BackendError> {
            self.runs += 1;
            Ok(Some(0.001 * (self.index + 1) as f64))
        }
        fn output(&mut self) -> Result<Produced, BackendError> {
            let off = if self.disagree {
                self.index as f32
            } else {
                0.0
            };
            Ok(Produced::Tensor(vec![1.0 + off, self.runs as f32]))
        }
        fn timer(&self) -> &'static str {
            "cuda_event"
        }
    }

    fn fake(n: usize, disagree: bool) -> MultiDevice {
        MultiDevice::spawn(
            "fake",
            (0..n).collect(),
            Arc::new(move |index| {
                let info = DeviceInfo {
                    device: "Fake GPU".into(),
                    extra: [("gpu_index".to_string(), index.to_string())].into(),
                    ..Default::default()
                };
                Ok(Box::new(Fake {
                    info,
                    index,
                    disagree,
                }) as Box<dyn Backend>)
            }),
        )
        .unwrap()
    }

    fn point_of(dtype: DType) -> Point {
        let p: BTreeMap<String, u64> = [("m", 8), ("n", 8), ("k", 8)]
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
        Point::new(WorkloadKind::Matmul, &p, dtype).unwrap()
    }

    fn point() -> Point {
        point_of(DType::F32)
    }

    #[test]
    fn workers_run_together_and_aggregate() {
        let mut multi = fake(3, false);
        assert_eq!(multi.devices_used(&point()), 3.0);
        assert_eq!(multi.info().extra["gpu_indices"], "0,1,2");
        assert_eq!(multi.info().extra["workers"], "3");
        let inputs = point().inputs(1);
        {
            let mut prep = multi.prepare(&point(), &inputs).unwrap();
            assert_eq!(prep.timer(), "cuda_event");
            // three devices did three iterations in the slowest one's 3 ms
            let t = prep.run().unwrap().unwrap();
            assert!((t - 0.003 / 3.0).abs() < 1e-15, "{t}");
            prep.run().unwrap();
            assert_eq!(prep.output().unwrap(), Produced::Tensor(vec![1.0, 2.0]));
        }
        // released: the workers prepare the next point from scratch
        let mut prep = multi.prepare(&point(), &inputs).unwrap();
        prep.run().unwrap();
        assert_eq!(prep.output().unwrap(), Produced::Tensor(vec![1.0, 1.0]));
        drop(prep);
        // a worker's prepare error comes back and releases the others
        let err = multi.prepare(&point(), &[]).err().unwrap();
        assert!(err.to_string().contains("has no inputs"), "{err}");
        assert!(multi.prepare(&point(), &inputs).is_ok());
    }

    #[test]
    fn every_device_must_support_a_point() {
        let multi = fake(3, false);
        assert!(multi.supports(&point()).is_ok());
        assert_eq!(
            multi.supports(&point_of(DType::F16)),
            Err("device 1 has no f16".into())
        );
        let one = fake(1, false);
        assert!(one.supports(&point_of(DType::F16)).is_ok());
    }

    #[test]
    fn a_disagreeing_device_fails_the_point() {
        let mut multi = fake(2, true);
        let inputs = point().inputs(1);
        let mut prep = multi.prepare(&point(), &inputs).unwrap();
        prep.run().unwrap();
        let e = prep.output().unwrap_err().to_string();
        assert!(e.contains("fake device #1 disagrees with device #0"), "{e}");
    }

    #[test]
    fn disagreement_is_relative_and_catches_mismatches() {
        let a = Produced::Tensor(vec![1.0, 2.0, 3.0]);
        assert_eq!(disagreement(&a, &a), 0.0);
        let b = Produced::Tensor(vec![1.0, 2.0, 3.5]);
        assert!(disagreement(&a, &b) > AGREEMENT);
        let c = Produced::Tensor(vec![1.0, 2.0]);
        assert!(disagreement(&a, &c).is_infinite());
        let l = Produced::Losses(vec![2.3, 2.2]);
        assert!(disagreement(&a, &l).is_infinite());
        assert!(disagreement(
            &Produced::Tensor(vec![f32::NAN]),
            &Produced::Tensor(vec![1.0])
        )
        .is_infinite());
    }
}
