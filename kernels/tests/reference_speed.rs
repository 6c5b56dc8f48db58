//! Timing of the f64 references at the standard suite's largest training points (train-mlp
//! width 8192, train-gpt d768·12 layers·s2048): one reference step each, the unit the
//! correctness gate pays `check_steps` times per point. Ignored by default (tens of seconds to
//! minutes); run it with
//! `cargo test --release -p kernels --test reference_speed -- --ignored --nocapture`.
//! `BENCH_REF_GPT_LAYERS=N` times train-gpt with N layers instead of 12 (the step is the
//! head plus N identical layers, so two layer counts give both parts); `BENCH_REF_ONLY=mlp`
//! or `gpt` times one of the two.

use std::time::Instant;

use kernels::gpt::TrainGpt;
use kernels::gpt_ref;
use kernels::mlp::TrainMlp;
use kernels::DType;

fn wanted(which: &str) -> bool {
    std::env::var("BENCH_REF_ONLY").map_or(true, |only| only == which)
}

#[test]
#[ignore = "minutes of CPU: a benchmark of the f64 references, run by hand"]
fn one_reference_step_of_the_largest_standard_training_points() {
    if wanted("mlp") {
        let p = TrainMlp {
            layers: 4,
            width: 8192,
            batch: 512,
            classes: 1000,
        };
        let inputs = p.inputs(DType::Bf16, 42);
        let t = Instant::now();
        let losses = p.reference_losses(&inputs, 1);
        let s = t.elapsed().as_secs_f64();
        assert!(losses[0].is_finite(), "{losses:?}");
        println!(
            "train-mlp layers=4,width=8192,batch=512,classes=1000: one f64 reference step {s:.2} s \
             ({:.1} GFLOP/s of the step's {:.0} GFLOP), loss {:.6}",
            p.flops() / s / 1e9,
            p.flops() / 1e9,
            losses[0]
        );
    }
    if wanted("gpt") {
        let layers = std::env::var("BENCH_REF_GPT_LAYERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(12);
        let p = TrainGpt {
            d_model: 768,
            layers,
            heads: 12,
            seq: 2048,
            vocab: 32768,
            batch: 4,
        };
        let inputs = p.inputs(DType::Bf16, 42);
        let t = Instant::now();
        let losses = gpt_ref::reference_losses(&p, &inputs, 1);
        let s = t.elapsed().as_secs_f64();
        assert!(losses[0].is_finite(), "{losses:?}");
        println!(
            "train-gpt d_model=768,layers={layers},heads=12,seq=2048,vocab=32768,batch=4: one f64 \
             reference step {s:.2} s ({:.1} GFLOP/s of the step's {:.0} GFLOP), loss {:.6}",
            p.flops() / s / 1e9,
            p.flops() / 1e9,
            losses[0]
        );
    }
}
