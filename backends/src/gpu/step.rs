//! Every kernel launch one iteration of a point makes, with placeholder addresses: the launch
//! configurations (kernel, grid, block, dynamic shared memory) of the Rust code as data, so
//! tests can hold them against the kernels' compiled resources without a device. The
//! bindings call the same launch functions with real addresses.

use kernels::{Point, Workload};

use super::launch::Launch;
use super::storage::train_storage;
use super::{attention, gpt_launch, gpt_plan, mlp_launch, mlp_plan};

/// The launches of one iteration of `point` on a device with `sms` multiprocessors (none for
/// a matmul: cuBLASLt launches its own kernels), or why the point has no GPU step.
pub fn launches(point: &Point, sms: u32) -> Result<Vec<Launch>, String> {
    let dtype = point.dtype;
    let dt = || {
        train_storage(dtype)
            .map(|s| s.1)
            .ok_or_else(|| format!("no {dtype} training step on a GPU"))
    };
    Ok(match point.workload {
        Workload::Matmul(_) => Vec::new(),
        Workload::Attention(p) => vec![attention::launch(&p, dtype, Default::default())?],
        Workload::TrainMlp(p) => {
            let dt = dt()?;
            mlp_plan::step_plan(&p)
                .iter()
                .filter_map(|op| mlp_launch::launch(op, dt, sms, &|_| 0))
                .collect()
        }
        Workload::TrainGpt(p) => {
            let (dt, dm) = (dt()?, gpt_plan::Dims::of(&p));
            gpt_plan::step_plan(&p)
                .iter()
                .flat_map(|op| gpt_launch::launches(op, &dm, dt, sms, 0, &|_| 0))
                .collect()
        }
        Workload::Prefill(_) | Workload::Decode(_) => {
            return Err(format!("{} has no GPU step yet", point.kind()))
        }
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use kernels::{DType, WorkloadKind};

    use super::*;

    fn point(kind: WorkloadKind, kv: &[(&str, u64)], d: DType) -> Point {
        let p: BTreeMap<String, u64> = kv.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        Point::new(kind, &p, d).unwrap()
    }

    #[test]
    fn each_workload_lists_its_launches() {
        let mm = point(
            WorkloadKind::Matmul,
            &[("m", 8), ("n", 8), ("k", 8)],
            DType::Bf16,
        );
        assert!(launches(&mm, 1).unwrap().is_empty());
        let kv = [("b", 1), ("h", 2), ("s", 64), ("d", 128), ("causal", 0)];
        let att = launches(&point(WorkloadKind::Attention, &kv, DType::Bf16), 1).unwrap();
        assert_eq!(att.len(), 1);
        assert_eq!((att[0].block, att[0].smem), (128, 48 * 1024));
        let mlp = [("layers", 1), ("width", 8), ("batch", 4), ("classes", 3)];
        let l = launches(&point(WorkloadKind::TrainMlp, &mlp, DType::F32), 4).unwrap();
        // xent, two column sums, four updates
        assert_eq!(l.len(), 7, "{l:?}");
        assert!(l.iter().all(|x| x.block == 256 && x.smem == 0));
    }
}
