//! Runs one point: inputs and f64 reference, `prepare` (timed as a one-off), the correctness
//! gate before any timing, a time-based warm-up, then adaptive sampling until the median's
//! relative 95% interval half-width is under the target, bounded by min/max samples and the
//! per-point time budget. Produces the point's record for the result file.

use std::time::Instant;

use backends::{Backend, BackendError, Prepared};
use kernels::{Expected, HostTensor, Point, Produced};

use crate::schema::{
    Check, OneOffS, PointRecord, Stats, Status, Telemetry, Throughput, Train, INTERRUPTED,
};
use crate::stats;

/// How samples are taken.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeasureConfig {
    /// Warm-up wall time (at least one iteration).
    pub warmup_s: f64,
    /// Stop once the median's relative 95% half-width is at most this.
    pub target_rel_ci: f64,
    pub min_samples: usize,
    pub max_samples: usize,
    /// Sampling stops after this much wall time even if the target is not met.
    pub budget_s: f64,
    pub seed: u64,
}

impl Default for MeasureConfig {
    fn default() -> Self {
        MeasureConfig {
            warmup_s: 0.1,
            target_rel_ci: 0.01,
            min_samples: 10,
            max_samples: 10_000,
            budget_s: 1.0,
            seed: 42,
        }
    }
}

/// Raw samples and how sampling ended.
#[derive(Debug, Clone)]
pub struct Measurement {
    pub samples: Vec<f64>,
    /// Each sample's host wall time, where the backend kept one beside its own device time
    /// (empty otherwise).
    pub samples_wall: Vec<f64>,
    pub warmup_iters: usize,
    pub target_met: bool,
    /// `stop` said to stop before the rule held (a signal): the samples are incomplete.
    pub interrupted: bool,
}

/// Warms up, then samples `prep.run()` until the stopping rule holds.
pub fn measure(prep: &mut dyn Prepared, cfg: &MeasureConfig) -> Result<Measurement, BackendError> {
    measure_until(prep, cfg, &|| false)
}

/// [`measure`], asking `stop` between iterations whether to give up (an interrupt).
pub fn measure_until(
    prep: &mut dyn Prepared,
    cfg: &MeasureConfig,
    stop: &dyn Fn() -> bool,
) -> Result<Measurement, BackendError> {
    let start = Instant::now();
    let mut warmup_iters = 0;
    let interrupted = |samples: Vec<f64>, warmup_iters| Measurement {
        samples,
        samples_wall: Vec::new(),
        warmup_iters,
        target_met: false,
        interrupted: true,
    };
    while warmup_iters == 0 || start.elapsed().as_secs_f64() < cfg.warmup_s {
        if stop() {
            return Ok(interrupted(Vec::new(), warmup_iters));
        }
        prep.run()?;
        warmup_iters += 1;
    }
    let sampling = Instant::now();
    let mut samples = Vec::with_capacity(cfg.min_samples.max(64));
    let mut samples_wall = Vec::new();
    let mut next_check = cfg.min_samples.max(2);
    let mut target_met = false;
    loop {
        if stop() {
            return Ok(interrupted(samples, warmup_iters));
        }
        let t0 = Instant::now();
        let device = prep.run()?;
        let wall = t0.elapsed().as_secs_f64();
        samples.push(device.unwrap_or(wall));
        if device.is_some() {
            if let Some(w) = prep.wall_s() {
                samples_wall.push(w);
            }
        }
        let n = samples.len();
        if n >= cfg.max_samples {
            break;
        }
        if n >= next_check {
            // Checks at geometrically spaced counts keep the rule's cost off the hot loop.
            next_check = n + (n / 4).max(1);
            if stats::relative_ci_halfwidth(&samples) <= cfg.target_rel_ci {
                target_met = true;
                break;
            }
        }
        if n >= cfg.min_samples && sampling.elapsed().as_secs_f64() >= cfg.budget_s {
            break;
        }
    }
    // Kept only when every sample has its wall time.
    if samples_wall.len() != samples.len() {
        samples_wall.clear();
    }
    Ok(Measurement {
        samples,
        samples_wall,
        warmup_iters,
        target_met,
        interrupted: false,
    })
}

/// Called after the gate with the inputs, the produced output and the reference.
pub type CheckedHook<'a> =
    &'a mut dyn FnMut(&[HostTensor], Option<&Produced>, &Expected) -> anyhow::Result<()>;

/// Everything a point needs besides the backend.
pub struct PointContext<'a> {
    pub measure: MeasureConfig,
    /// Asked between steps and samples: true stops the point, recorded as interrupted.
    pub stop: &'a dyn Fn() -> bool,
    pub init_s: f64,
    /// Called with the inputs, the produced output and the reference (for `--dump`).
    pub on_checked: Option<CheckedHook<'a>>,
}

/// Runs one point to its record. `Err` only for fatal backend errors (the run stops);
/// a point that fails is an `Ok` record with status failed and the reason.
pub fn execute_point(
    backend: &mut dyn Backend,
    point: &Point,
    ctx: &mut PointContext<'_>,
) -> anyhow::Result<PointRecord> {
    let supported = backend.supports(point);
    execute(backend, point, None, supported, ctx)
}

/// Runs one point as the backend's second implementation `name` (one of
/// [`Backend::alternatives`], with its availability): the same gate and sampling as
/// [`execute_point`], recorded with `implementation: name`.
pub fn execute_alternative(
    backend: &mut dyn Backend,
    point: &Point,
    name: &str,
    available: Result<(), String>,
    ctx: &mut PointContext<'_>,
) -> anyhow::Result<PointRecord> {
    execute(backend, point, Some(name), available, ctx)
}

fn execute(
    backend: &mut dyn Backend,
    point: &Point,
    alternative: Option<&str>,
    supported: Result<(), String>,
    ctx: &mut PointContext<'_>,
) -> anyhow::Result<PointRecord> {
    let mut rec = blank_record(point, backend.devices_used(point));
    rec.implementation = alternative.map(str::to_string);
    rec.one_off_s.init = Some(ctx.init_s);
    if let Err(why) = supported {
        rec.status = Status::Skipped;
        rec.reason = Some(why);
        return Ok(rec);
    }
    let inputs = point.inputs(ctx.measure.seed);
    let t_ref = Instant::now();
    let expected = point.reference(&inputs);
    let reference_s = t_ref.elapsed().as_secs_f64();
    if (ctx.stop)() {
        return Ok(failed(rec, INTERRUPTED.into()));
    }
    let t_load = Instant::now();
    let prepared = match alternative {
        None => backend.prepare(point, &inputs),
        Some(name) => backend.prepare_alternative(name, point, &inputs),
    };
    let mut prep = match prepared {
        Ok(p) => p,
        Err(e) if e.is_fatal() => return Err(e.into()),
        Err(e) => return Ok(failed(rec, format!("prepare failed: {e}"))),
    };
    rec.one_off_s.load = Some(t_load.elapsed().as_secs_f64());
    rec.one_off_s.compile = prep.one_off().compile_s;
    rec.timer = Some(prep.timer().to_string());

    // Correctness gate, before any timing.
    let produced = match gate_output(prep.as_mut(), point, ctx.stop) {
        Ok(Some(p)) => p,
        Ok(None) => return Ok(failed(rec, INTERRUPTED.into())),
        Err(e) if e.is_fatal() => return Err(e.into()),
        Err(e) => return Ok(failed(rec, format!("run failed before timing: {e}"))),
    };
    if let Some(hook) = ctx.on_checked.as_mut() {
        hook(&inputs, Some(&produced), &expected)?;
    }
    drop(inputs);
    let check = expected.check(&produced, point.tolerance());
    rec.check = Some(Check {
        max_rel_err: check.max_rel_err.is_finite().then_some(check.max_rel_err),
        tolerance: check.tolerance,
        passed: check.passed,
        checked: check.checked,
        reference_s: Some(reference_s),
        reference_losses: match &expected {
            Expected::Losses(l) => Some(l.clone()),
            Expected::Tensor(_) => None,
        },
    });
    if !check.passed {
        let detail = check.detail.unwrap_or_default();
        if let Produced::Losses(l) = &produced {
            rec.train = Some(train_record(point, l.clone()));
        }
        return Ok(failed(rec, format!("correctness check failed: {detail}")));
    }

    let m = match measure_until(prep.as_mut(), &ctx.measure, ctx.stop) {
        Ok(m) if m.interrupted => return Ok(failed(rec, INTERRUPTED.into())),
        Ok(m) => m,
        Err(e) if e.is_fatal() => return Err(e.into()),
        Err(e) => return Ok(failed(rec, format!("failed while timing: {e}"))),
    };
    rec.telemetry = prep.telemetry().map(telemetry_record);
    if point.kind().is_training() {
        match prep.output() {
            Ok(Produced::Losses(l)) => rec.train = Some(train_record(point, l)),
            Ok(_) => {}
            Err(e) => return Ok(failed(rec, format!("cannot read the losses: {e}"))),
        }
    }
    let s = stats::summarize(&m.samples, ctx.measure.seed);
    let (items, item) = point.items();
    rec.throughput = Some(Throughput {
        flop_per_s: point.flops() / s.median,
        items_per_s: items / s.median,
        item: item.to_string(),
    });
    rec.stats = Some(Stats {
        n: s.n,
        median_s: s.median,
        mean_s: s.mean,
        stdev_s: s.stdev,
        mad_s: s.mad,
        ci95_low_s: s.ci95_low,
        ci95_high_s: s.ci95_high,
        outliers: s.outliers,
    });
    rec.samples_s = m.samples;
    rec.samples_wall_s = m.samples_wall;
    rec.status = Status::Ok;
    if !m.target_met {
        rec.reason = Some(format!(
            "noise target {:.1}% not reached within the {:.1} s budget (see stats.ci95_*)",
            ctx.measure.target_rel_ci * 100.0,
            ctx.measure.budget_s
        ));
    }
    Ok(rec)
}

/// The result file's copy of a backend's telemetry (schema.rs depends on no backend type).
fn telemetry_record(t: backends::Telemetry) -> Telemetry {
    Telemetry {
        source: t.source,
        absent_reason: t.absent_reason,
        samples: t.samples,
        interval_s: t.interval_s,
        metrics: t.metrics,
        absent_metrics: t.absent_metrics,
        throttle_reasons: t.throttle_reasons,
    }
}

/// Runs what the check needs: one iteration, or the training check steps (`None` when `stop`
/// says to stop between them).
fn gate_output(
    prep: &mut dyn Prepared,
    point: &Point,
    stop: &dyn Fn() -> bool,
) -> Result<Option<Produced>, BackendError> {
    let steps = point.check_steps().max(1);
    for _ in 0..steps {
        if stop() {
            return Ok(None);
        }
        prep.run()?;
    }
    prep.output().map(Some)
}

fn train_record(point: &Point, losses: Vec<f64>) -> Train {
    Train {
        steps: losses.len(),
        losses,
        optimizer: point.optimizer().map(str::to_string),
        checked_steps: point.check_steps(),
    }
}

fn failed(mut rec: PointRecord, reason: String) -> PointRecord {
    rec.status = Status::Failed;
    rec.reason = Some(reason);
    rec
}

/// A record with the point's identity and analytic counts filled in.
pub fn blank_record(point: &Point, devices_used: f64) -> PointRecord {
    PointRecord {
        id: point.id(),
        workload: point.kind().name().to_string(),
        params: point
            .params()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        dtype: point.dtype.name().to_string(),
        status: Status::Skipped,
        reason: None,
        flops: point.flops(),
        bytes: point.bytes(),
        devices_used,
        check: None,
        timer: None,
        samples_s: Vec::new(),
        samples_wall_s: Vec::new(),
        stats: None,
        throughput: None,
        one_off_s: OneOffS::default(),
        train: None,
        telemetry: None,
        implementation: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in iteration of fixed duration, to test the sampler without a backend.
    struct Spin {
        secs: f64,
        runs: usize,
    }

    impl Prepared for Spin {
        fn run(&mut self) -> Result<Option<f64>, BackendError> {
            self.runs += 1;
            Ok(Some(self.secs))
        }
        fn output(&mut self) -> Result<Produced, BackendError> {
            Ok(Produced::Tensor(vec![]))
        }
    }

    #[test]
    fn constant_iterations_meet_the_target_at_min_samples() {
        let mut s = Spin {
            secs: 1e-3,
            runs: 0,
        };
        let cfg = MeasureConfig {
            warmup_s: 0.0,
            ..Default::default()
        };
        let m = measure(&mut s, &cfg).unwrap();
        assert!(m.target_met);
        assert_eq!(m.samples.len(), cfg.min_samples);
        assert_eq!(m.warmup_iters, 1);
        assert_eq!(s.runs, 1 + cfg.min_samples);
    }

    struct Noisy(kernels::rng::Rng);
    impl Prepared for Noisy {
        fn run(&mut self) -> Result<Option<f64>, BackendError> {
            Ok(Some(1.0 + self.0.next_f64()))
        }
        fn output(&mut self) -> Result<Produced, BackendError> {
            Ok(Produced::Tensor(vec![]))
        }
    }

    #[test]
    fn noisy_iterations_stop_at_max_samples_or_target() {
        let cfg = MeasureConfig {
            warmup_s: 0.0,
            max_samples: 50,
            target_rel_ci: 1e-6,
            budget_s: 100.0,
            ..Default::default()
        };
        let m = measure(&mut Noisy(kernels::rng::Rng::new(1)), &cfg).unwrap();
        assert_eq!(m.samples.len(), 50);
        assert!(!m.target_met);
        let loose = MeasureConfig {
            target_rel_ci: 0.05,
            max_samples: 100_000,
            ..cfg
        };
        let m = measure(&mut Noisy(kernels::rng::Rng::new(1)), &loose).unwrap();
        assert!(m.target_met);
        assert!(stats::relative_ci_halfwidth(&m.samples) <= 0.05);
    }

    #[test]
    fn a_stop_request_ends_sampling_between_samples() {
        let cfg = MeasureConfig {
            warmup_s: 0.0,
            max_samples: 1_000_000,
            target_rel_ci: 1e-12,
            budget_s: 1e9,
            ..Default::default()
        };
        let count = std::cell::Cell::new(0);
        let m = measure_until(&mut Noisy(kernels::rng::Rng::new(1)), &cfg, &|| {
            count.set(count.get() + 1);
            count.get() > 25
        })
        .unwrap();
        assert!(m.interrupted && !m.target_met, "{m:?}");
        assert_eq!(m.warmup_iters, 1);
        assert_eq!(m.samples.len(), 24, "asked before each iteration");
    }

    /// A backend that times itself on the device and keeps the wall time beside it.
    struct DeviceAndWall {
        runs: usize,
        wall: bool,
    }
    impl Prepared for DeviceAndWall {
        fn run(&mut self) -> Result<Option<f64>, BackendError> {
            self.runs += 1;
            Ok(Some(2e-4))
        }
        fn output(&mut self) -> Result<Produced, BackendError> {
            Ok(Produced::Tensor(vec![]))
        }
        fn wall_s(&self) -> Option<f64> {
            // One sample in 10 lacks its wall time when `wall` is false.
            (self.wall || self.runs % 10 != 3).then_some(5e-4 + self.runs as f64 * 1e-9)
        }
    }

    #[test]
    fn wall_times_kept_beside_device_times_only_when_every_sample_has_one() {
        let cfg = MeasureConfig {
            warmup_s: 0.0,
            ..Default::default()
        };
        let mut p = DeviceAndWall {
            runs: 0,
            wall: true,
        };
        let m = measure(&mut p, &cfg).unwrap();
        assert_eq!(m.samples_wall.len(), m.samples.len());
        assert!(m.samples.iter().all(|&s| s == 2e-4));
        // Sample k (from 0) is run k + 2 (after the warm-up).
        for (k, &w) in m.samples_wall.iter().enumerate() {
            assert_eq!(w, 5e-4 + (k + 2) as f64 * 1e-9);
        }
        let mut p = DeviceAndWall {
            runs: 0,
            wall: false,
        };
        let m = measure(&mut p, &cfg).unwrap();
        assert!(!m.samples.is_empty());
        assert!(
            m.samples_wall.is_empty(),
            "a partial wall series is dropped"
        );
        let m = measure(
            &mut Spin {
                secs: 1e-3,
                runs: 0,
            },
            &cfg,
        )
        .unwrap();
        assert!(
            m.samples_wall.is_empty(),
            "no wall series unless the backend keeps one"
        );
    }
}
