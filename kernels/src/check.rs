//! The correctness gate: an output against its f64 reference. Each element's error is
//! `|out − ref| / (|ref| + rms(ref))`: relative for large elements, scaled by the output's
//! typical magnitude for small ones (so rounding of near-zero values is not punished and a
//! wrong small value still is). The check takes the largest over the checked elements, so
//! one tolerance per dtype serves every size. NaN or Inf anywhere in the output fails it.

/// The f64 reference of a point's output: all of it, or the listed flat indices.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    /// Flat indices into the output that `values` covers; `None` means all of it, in order.
    pub indices: Option<Vec<usize>>,
    pub values: Vec<f64>,
    /// Number of elements of the full output.
    pub output_len: usize,
}

impl Reference {
    pub fn full(values: Vec<f64>) -> Self {
        let output_len = values.len();
        Reference {
            indices: None,
            values,
            output_len,
        }
    }

    pub fn sampled(indices: Vec<usize>, values: Vec<f64>, output_len: usize) -> Self {
        if indices.len() == output_len && indices.iter().enumerate().all(|(i, &j)| i == j) {
            return Reference::full(values);
        }
        Reference {
            indices: Some(indices),
            values,
            output_len,
        }
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckResult {
    /// max |out − ref| / (|ref| + rms(ref)) over the checked elements (infinite for NaN/Inf).
    pub max_rel_err: f64,
    pub tolerance: f64,
    pub passed: bool,
    /// Number of output elements compared.
    pub checked: usize,
    /// Why it failed, in words a user can act on.
    pub detail: Option<String>,
}

/// Compares an output with its reference under a tolerance.
pub fn check_output(output: &[f32], reference: &Reference, tolerance: f64) -> CheckResult {
    let fail = |err: f64, detail: String, checked: usize| CheckResult {
        max_rel_err: err,
        tolerance,
        passed: false,
        checked,
        detail: Some(detail),
    };
    if output.len() != reference.output_len {
        return fail(
            f64::INFINITY,
            format!(
                "output has {} elements, the reference expects {}",
                output.len(),
                reference.output_len
            ),
            0,
        );
    }
    if let Some(bad) = output.iter().position(|v| !v.is_finite()) {
        return fail(
            f64::INFINITY,
            format!("output element {bad} is {}", output[bad]),
            output.len(),
        );
    }
    let rms = (reference.values.iter().map(|v| v * v).sum::<f64>()
        / reference.values.len().max(1) as f64)
        .sqrt()
        .max(f64::MIN_POSITIVE);
    let mut worst = (0.0f64, 0usize);
    let mut compare = |i: usize, r: f64| {
        let d = (output[i] as f64 - r).abs() / (r.abs() + rms);
        if d > worst.0 {
            worst = (d, i);
        }
    };
    match &reference.indices {
        None => reference
            .values
            .iter()
            .enumerate()
            .for_each(|(i, &r)| compare(i, r)),
        Some(idx) => idx
            .iter()
            .zip(&reference.values)
            .for_each(|(&i, &r)| compare(i, r)),
    }
    let err = worst.0;
    let passed = err <= tolerance;
    CheckResult {
        max_rel_err: err,
        tolerance,
        passed,
        checked: reference.values.len(),
        detail: (!passed).then(|| {
            format!(
                "error {err:.3e} (|out-ref|/(|ref|+rms)) exceeds tolerance {tolerance:.1e}; worst at element {}",
                worst.1
            )
        }),
    }
}

/// How much looser than the per-step tolerance the descent check is (see [`check_losses`]).
pub const DESCENT_FACTOR: f64 = 20.0;

/// Compares a loss trajectory with its reference. Two criteria:
/// - every step's loss within `tolerance`, relative;
/// - the descent over the checked window, L₀ − L_{K−1}, within `DESCENT_FACTOR × tolerance` of
///   the reference's descent, relative to it (when the reference falls by at least 1e-4 of
///   L₀). At initialisation the loss hardly depends on the backward pass, so a per-step
///   tolerance wide enough for bf16 storage noise (1e-2 of L) is wider than what four steps of
///   learning change (about 0.5-2% of L); the descent is what the gradients and the update
///   decide, so a wrong gradient shows there first.
pub fn check_losses(losses: &[f64], reference: &[f64], tolerance: f64) -> CheckResult {
    let n = reference.len();
    if losses.len() < n {
        return CheckResult {
            max_rel_err: f64::INFINITY,
            tolerance,
            passed: false,
            checked: losses.len(),
            detail: Some(format!(
                "{} losses recorded, the reference has {n}",
                losses.len()
            )),
        };
    }
    let mut worst = (0.0f64, 0usize);
    for (i, (&l, &r)) in losses.iter().zip(reference).enumerate() {
        let e = if l.is_finite() {
            (l - r).abs() / r.abs().max(1e-12)
        } else {
            f64::INFINITY
        };
        if e > worst.0 || e.is_nan() {
            worst = (e, i);
        }
    }
    let mut detail = (worst.0 > tolerance).then(|| {
        format!(
            "loss after step {} is {} where the reference has {} (relative error {:.3e}, tolerance {tolerance:.1e})",
            worst.1 + 1,
            losses[worst.1],
            reference[worst.1],
            worst.0
        )
    });
    if detail.is_none() && n >= 2 {
        let want = reference[0] - reference[n - 1];
        let got = losses[0] - losses[n - 1];
        let err = (got - want).abs() / want.abs();
        let allowed = DESCENT_FACTOR * tolerance;
        if want.abs() >= 1e-4 * reference[0].abs() && (err > allowed || err.is_nan()) {
            detail = Some(format!(
                "the loss fell by {got:.6} over steps 1-{n} where the reference fell by {want:.6} \
                 (relative error {err:.3e}, tolerance {allowed:.1e}): each step's loss is close, \
                 but the training differs (gradients or the update)"
            ));
        }
    }
    CheckResult {
        max_rel_err: worst.0,
        tolerance,
        passed: detail.is_none(),
        checked: n,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_output_passes() {
        let r = Reference::full(vec![1.0, -2.0, 3.0]);
        let c = check_output(&[1.0, -2.0, 3.0], &r, 1e-6);
        assert!(c.passed);
        assert_eq!(c.max_rel_err, 0.0);
        assert_eq!(c.checked, 3);
    }

    #[test]
    fn a_wrong_element_fails_with_its_error() {
        let r = Reference::full(vec![3.0, 4.0]);
        // rms = sqrt((9 + 16) / 2) = 3.5355; error 0.5 at |ref| 4 → 0.5 / 7.5355 = 0.0664
        let c = check_output(&[3.0, 4.5], &r, 0.05);
        assert!(!c.passed);
        assert!((c.max_rel_err - 0.5 / (4.0 + 12.5f64.sqrt())).abs() < 1e-12);
        assert!(c.detail.unwrap().contains("element 1"));
    }

    #[test]
    fn a_small_element_is_judged_against_the_output_scale() {
        // rms ≈ 70.7; 0.01 off on a 0.001 element is tiny at this scale, 50 off is not.
        let r = Reference::full(vec![100.0, 0.001]);
        assert!(check_output(&[100.0, 0.011], &r, 1e-3).passed);
        assert!(!check_output(&[100.0, 50.0], &r, 1e-1).passed);
    }

    #[test]
    fn nan_and_inf_fail_and_wrong_length_fails() {
        let r = Reference::full(vec![1.0, 1.0]);
        assert!(!check_output(&[1.0, f32::NAN], &r, 1.0).passed);
        assert!(!check_output(&[f32::INFINITY, 1.0], &r, 1.0).passed);
        assert!(!check_output(&[1.0], &r, 1.0).passed);
    }

    #[test]
    fn sampled_reference_compares_only_its_indices() {
        let r = Reference::sampled(vec![2], vec![5.0], 3);
        assert!(check_output(&[100.0, -100.0, 5.0], &r, 1e-9).passed);
        assert!(!check_output(&[0.0, 0.0, 6.0], &r, 1e-9).passed);
    }

    #[test]
    fn losses_check() {
        assert!(check_losses(&[2.0, 1.5, 1.2], &[2.0, 1.5], 1e-9).passed);
        let c = check_losses(&[2.0, 1.6], &[2.0, 1.5], 1e-3);
        assert!(!c.passed);
        assert!(c.detail.unwrap().contains("step 2"));
        assert!(!check_losses(&[2.0, f64::NAN], &[2.0, 1.5], 1.0).passed);
        assert!(!check_losses(&[2.0], &[2.0, 1.5], 1.0).passed);
    }

    #[test]
    fn a_trajectory_that_learns_differently_fails_even_with_every_loss_close() {
        let want = [5.58, 5.56, 5.54, 5.52]; // falls by 0.06
                                             // Each loss within 1e-2 but the descent is 0.03 instead of 0.06.
        let got = [5.58, 5.57, 5.56, 5.55];
        let c = check_losses(&got, &want, 1e-2);
        assert!(c.max_rel_err < 1e-2);
        assert!(!c.passed);
        assert!(c.detail.unwrap().contains("fell by 0.030000"));
        // Within DESCENT_FACTOR × tolerance of the descent: passes.
        let close = [5.58, 5.5605, 5.5405, 5.5205];
        assert!(check_losses(&close, &want, 1e-2).passed);
        // A reference that does not move leaves only the per-step criterion.
        assert!(check_losses(&[5.0, 5.01], &[5.0, 5.0], 1e-2).passed);
        // A NaN descent fails.
        assert!(!check_losses(&[f64::NAN, 5.0], &[5.58, 5.5], 1e3).passed);
    }
}
