//! The Neuron safe layer against nrt-sim in one process: `nrt_init` runs once and is shared,
//! the runtime closes when the last handle drops and cannot be initialised again, version and
//! core counts are read before init, and a NEFF's tensor info comes back with its names, sizes
//! and hardware dtype codes. (The harness tests cover the rest through the bench binary.)

use std::path::PathBuf;
use std::sync::Arc;

use backends::neuron::model::Model;
use backends::neuron::runtime::{self, AcquireError, Runtime};
use backends::neuron::{convert, sys};

fn libnrt_sim() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    [deps.join("libnrt_sim.so"), deps.join("../libnrt_sim.so")]
        .into_iter()
        .find(|p| p.exists())
        .expect("libnrt_sim.so is built with these tests (nrt-sim is a dev-dependency)")
}

#[test]
fn init_once_close_last_and_tensor_info() {
    std::env::set_var("BENCH_LIBNRT", libnrt_sim());
    let api = sys::api().unwrap();
    assert_eq!(api.count_names, "vnc");
    assert!(api.status_as_str.is_some() && api.instance_info.is_some());
    let v = runtime::version(api).unwrap();
    assert!(v.is_simulated() && v.hex_dtype_codes(), "{v:?}");
    assert_eq!(runtime::core_counts(api).unwrap(), (4, 4));
    assert_eq!(
        runtime::status_str(1005).as_deref(),
        Some("NRT_EXEC_NC_BUSY")
    );

    let a = Runtime::acquire().unwrap();
    let b = Runtime::acquire().unwrap();
    assert!(Arc::ptr_eq(&a, &b), "one nrt_init per process");

    let neff =
        b"NRTSIM-NEFF/1\n{\"workload\": \"matmul\", \"params\": {\"m\": 2, \"n\": 3, \"k\": 4},
        \"inputs\": [{\"name\": \"input0\", \"dtype\": \"bf16\", \"shape\": [2, 4]},
                     {\"name\": \"input1\", \"dtype\": \"bf16\", \"shape\": [4, 3]}],
        \"outputs\": [{\"name\": \"output0\", \"dtype\": \"f32\", \"shape\": [2, 3]}]}";
    let model = Model::load(&a, neff, 0, "test.neff").unwrap();
    let info = model.tensor_info().unwrap();
    let summary: Vec<(&str, bool, usize, &str, Vec<u32>)> = info
        .iter()
        .map(|t| {
            (
                t.name.as_str(),
                t.input,
                t.size,
                convert::nrt_dtype_name(t.dtype_code, true),
                t.shape.clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("input0", true, 16, "bfloat16", vec![2, 4]),
            ("input1", true, 24, "bfloat16", vec![4, 3]),
            ("output0", false, 24, "float32", vec![2, 3]),
        ]
    );
    let e = Model::load(&a, b"not a neff", 0, "bad.neff").err().unwrap();
    assert!(
        e.to_string()
            .starts_with("nrt_load of bad.neff on NeuronCore 0 returned NRT_INVALID (2)"),
        "{e}"
    );
    drop(model);
    drop((a, b));
    assert!(matches!(Runtime::acquire(), Err(AcquireError::Closed)));
}
