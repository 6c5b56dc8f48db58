//! The CUDA backend's options: `--devices`, the GPUs a run uses.

use crate::{BackendError, BackendOptions};

/// `--devices`: one index (default 0), a list like `0,1`, or `all`. Several GPUs get one
/// worker each (`crate::multi`).
pub fn parse_devices(
    options: &BackendOptions,
    available: usize,
) -> Result<Vec<usize>, BackendError> {
    let spec = options
        .settings
        .get("devices")
        .map(String::as_str)
        .unwrap_or("0");
    let list: Vec<usize> = if spec == "all" {
        (0..available).collect()
    } else {
        spec.split(',')
            .map(|s| {
                s.trim().parse::<usize>().map_err(|_| {
                    BackendError::Config(format!(
                        "--devices '{spec}': use a GPU index list like 0,1 or all"
                    ))
                })
            })
            .collect::<Result<_, _>>()?
    };
    if let Some(bad) = list.iter().find(|&&d| d >= available) {
        return Err(BackendError::Config(format!(
            "--devices {spec}: GPU {bad} does not exist (this machine has {available}: 0..{})",
            available.saturating_sub(1)
        )));
    }
    if list.is_empty() {
        return Err(BackendError::Config(format!(
            "--devices '{spec}' names no GPU"
        )));
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(d: &str) -> BackendOptions {
        let mut o = BackendOptions::default();
        o.settings.insert("devices".into(), d.into());
        o
    }

    #[test]
    fn devices_parse_and_bad_values_are_named() {
        assert_eq!(
            parse_devices(&BackendOptions::default(), 8).unwrap(),
            vec![0]
        );
        assert_eq!(parse_devices(&opts("all"), 4).unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(parse_devices(&opts("1,3"), 4).unwrap(), vec![1, 3]);
        let e = parse_devices(&opts("9"), 2).unwrap_err().to_string();
        assert!(
            e.contains("GPU 9 does not exist") && e.contains("has 2"),
            "{e}"
        );
        let e = parse_devices(&opts("x"), 2).unwrap_err().to_string();
        assert!(e.contains("--devices 'x'"), "{e}");
    }
}
