//! GPU telemetry during a point, through NVML (nvml-wrapper, which loads libnvidia-ml.so.1 at run
//! time and returns an error, not a panic, when it is absent): a background thread samples the
//! SM and memory clocks, board power, GPU temperature and the clock-throttle reasons every
//! 50 ms from the point's preparation to the end of its timing; the summary (min, median, max
//! per metric, the union of throttle reasons) goes into the point's record. Without NVML, or
//! for a metric this GPU does not report, the record says absent and why.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use nvml_wrapper::bitmasks::device::ThrottleReasons;
use nvml_wrapper::enum_wrappers::device::{Clock, TemperatureSensor};
use nvml_wrapper::Nvml;

use crate::Telemetry;

pub const INTERVAL: Duration = Duration::from_millis(50);

/// NVML, or why it is absent.
pub type NvmlHandle = Result<Arc<Nvml>, String>;

pub fn init() -> NvmlHandle {
    Nvml::init().map(Arc::new).map_err(|e| {
        format!("NVML unavailable ({e}); install the NVIDIA driver's libnvidia-ml.so.1 for clocks, power and throttle reasons")
    })
}

#[derive(Default)]
struct Samples {
    n: usize,
    series: BTreeMap<&'static str, Vec<f64>>,
    reasons: BTreeSet<String>,
    errors: BTreeMap<&'static str, String>,
}

/// Names of the throttle reasons set in `r` (GPU idle is not a throttle while a point runs).
pub fn reason_names(r: ThrottleReasons) -> Vec<String> {
    let named = [
        (ThrottleReasons::SW_POWER_CAP, "sw_power_cap"),
        (ThrottleReasons::HW_SLOWDOWN, "hw_slowdown"),
        (ThrottleReasons::SW_THERMAL_SLOWDOWN, "sw_thermal_slowdown"),
        (ThrottleReasons::HW_THERMAL_SLOWDOWN, "hw_thermal_slowdown"),
        (
            ThrottleReasons::HW_POWER_BRAKE_SLOWDOWN,
            "hw_power_brake_slowdown",
        ),
        (
            ThrottleReasons::APPLICATIONS_CLOCKS_SETTING,
            "applications_clocks_setting",
        ),
        (ThrottleReasons::SYNC_BOOST, "sync_boost"),
        (
            ThrottleReasons::DISPLAY_CLOCK_SETTING,
            "display_clock_setting",
        ),
    ];
    named
        .iter()
        .filter(|(f, _)| r.contains(*f))
        .map(|(_, n)| n.to_string())
        .collect()
}

fn sample(nvml: &Nvml, uuid: &str, s: &mut Samples) {
    let dev = match nvml.device_by_uuid(uuid) {
        Ok(d) => d,
        Err(e) => {
            s.errors.insert("device", e.to_string());
            return;
        }
    };
    s.n += 1;
    let mut put = |name: &'static str, v: Result<f64, nvml_wrapper::error::NvmlError>| match v {
        Ok(x) => s.series.entry(name).or_default().push(x),
        Err(e) => {
            s.errors.entry(name).or_insert_with(|| e.to_string());
        }
    };
    put("sm_clock_mhz", dev.clock_info(Clock::SM).map(f64::from));
    put(
        "mem_clock_mhz",
        dev.clock_info(Clock::Memory).map(f64::from),
    );
    put("power_w", dev.power_usage().map(|mw| mw as f64 / 1e3));
    put(
        "temperature_c",
        dev.temperature(TemperatureSensor::Gpu).map(f64::from),
    );
    match dev.current_throttle_reasons() {
        Ok(r) => s.reasons.extend(reason_names(r)),
        Err(e) => {
            s.errors
                .entry("throttle_reasons")
                .or_insert_with(|| e.to_string());
        }
    }
}

/// A running sampler for one GPU.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Samples>>,
}

impl Sampler {
    pub fn start(nvml: Arc<Nvml>, uuid: String) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut s = Samples::default();
            loop {
                sample(&nvml, &uuid, &mut s);
                if flag.load(Ordering::Relaxed) {
                    return s;
                }
                std::thread::sleep(INTERVAL);
            }
        });
        Sampler {
            stop,
            handle: Some(handle),
        }
    }

    /// Stops sampling (after one last sample) and summarises.
    pub fn finish(mut self) -> Telemetry {
        self.stop.store(true, Ordering::Relaxed);
        match self.handle.take().map(|h| h.join()) {
            Some(Ok(s)) => summarize(s),
            _ => absent("the NVML sampling thread failed".into()),
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Telemetry that could not be collected, and why.
pub fn absent(why: String) -> Telemetry {
    Telemetry {
        source: "absent".into(),
        absent_reason: Some(why),
        ..Default::default()
    }
}

fn min_med_max(v: &mut [f64]) -> [f64; 3] {
    v.sort_by(f64::total_cmp);
    [v[0], v[v.len() / 2], v[v.len() - 1]]
}

fn summarize(mut s: Samples) -> Telemetry {
    let mut t = Telemetry {
        source: "nvml".into(),
        samples: s.n,
        interval_s: INTERVAL.as_secs_f64(),
        throttle_reasons: s.reasons.into_iter().collect(),
        ..Default::default()
    };
    for (name, v) in s.series.iter_mut() {
        if !v.is_empty() {
            t.metrics.insert(name.to_string(), min_med_max(v));
        }
    }
    for (name, e) in s.errors {
        t.absent_metrics.insert(name.to_string(), e);
    }
    if s.n == 0 {
        t.source = "absent".into();
        t.absent_reason = Some("NVML returned no sample for this GPU".into());
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_are_min_median_max_and_errors_are_kept() {
        let mut s = Samples {
            n: 3,
            ..Default::default()
        };
        s.series.insert("power_w", vec![300.0, 100.0, 200.0]);
        s.errors.insert("temperature_c", "Not supported".into());
        s.reasons.insert("sw_power_cap".into());
        let t = summarize(s);
        assert_eq!(t.metrics["power_w"], [100.0, 200.0, 300.0]);
        assert_eq!(t.absent_metrics["temperature_c"], "Not supported");
        assert_eq!(t.throttle_reasons, vec!["sw_power_cap".to_string()]);
        assert_eq!(t.source, "nvml");
        let none = summarize(Samples::default());
        assert_eq!(none.source, "absent");
    }

    #[test]
    fn idle_is_not_reported_as_a_throttle() {
        let r = ThrottleReasons::GPU_IDLE | ThrottleReasons::HW_SLOWDOWN;
        assert_eq!(reason_names(r), vec!["hw_slowdown".to_string()]);
    }

    /// This machine has no NVIDIA driver: NVML must fail cleanly (no panic), with a reason.
    #[test]
    fn nvml_without_a_driver_is_an_error_not_a_panic() {
        if std::path::Path::new("/dev/nvidiactl").exists() {
            return; // a GPU machine: nothing to check here
        }
        let Err(e) = init() else {
            panic!("NVML cannot initialise without a driver");
        };
        assert!(e.contains("libnvidia-ml.so.1"), "{e}");
    }
}
