//! Harness overhead around a 100 µs kernel: a stand-in iteration that busy-waits exactly
//! 100 µs is measured by the real sampler (`runner::measure`, wall timer). Overhead per
//! sample = median − 100 µs; loop efficiency = kernel time ÷ wall time of the sampling loop.
//! Run: `cargo bench -p harness --bench overhead`. Goal: < 1% (< 1 µs per sample).

use std::time::{Duration, Instant};

use backends::{BackendError, Prepared};
use harness::runner::{measure, MeasureConfig};
use harness::stats::median;
use kernels::Produced;

struct Spin(Duration);

impl Prepared for Spin {
    fn run(&mut self) -> Result<Option<f64>, BackendError> {
        let t = Instant::now();
        while t.elapsed() < self.0 {
            std::hint::spin_loop();
        }
        Ok(None)
    }
    fn output(&mut self) -> Result<Produced, BackendError> {
        Ok(Produced::Tensor(Vec::new()))
    }
}

fn main() {
    let kernel = Duration::from_micros(100);
    let cfg = MeasureConfig {
        warmup_s: 0.05,
        target_rel_ci: 1e-9, // never met: sample for the whole budget
        min_samples: 10,
        max_samples: 1_000_000,
        budget_s: 2.0,
        seed: 1,
    };
    let mut overheads = Vec::new();
    let mut efficiencies = Vec::new();
    for round in 0..5 {
        let t = Instant::now();
        let m = measure(&mut Spin(kernel), &cfg).expect("measure");
        let wall = t.elapsed().as_secs_f64() - cfg.warmup_s;
        let med = median(&m.samples);
        let over = med - kernel.as_secs_f64();
        let eff = m.samples.len() as f64 * kernel.as_secs_f64() / wall;
        println!(
            "round {round}: {} samples, median {:.3} µs, overhead {:.3} µs ({:.3}%), loop efficiency {:.2}%",
            m.samples.len(),
            med * 1e6,
            over * 1e6,
            over / kernel.as_secs_f64() * 100.0,
            eff * 100.0
        );
        overheads.push(over);
        efficiencies.push(eff);
    }
    let over = median(&overheads);
    println!(
        "median over rounds: overhead per sample {:.3} µs = {:.3}% of 100 µs; loop efficiency {:.2}%",
        over * 1e6,
        over / kernel.as_secs_f64() * 100.0,
        median(&efficiencies) * 100.0
    );
}
