//! The report options checked against the loaded runs: `--instance-of RUN=TYPE` gives a run
//! that recorded no instance type one (so it can be priced), and every `--price TYPE=USD` must
//! name an instance type some run uses (a typo would otherwise be ignored silently while the
//! table's price is used). Errors name the value, the known names and the closest ones.

use super::args::{closest, InstanceOfArg};
use super::input::LoadedRun;
use super::prices::PriceTable;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("--instance-of {run}={instance}: no run is called {run}; the runs are: {known}{near}")]
    UnknownRun {
        run: String,
        instance: String,
        known: String,
        near: String,
    },
    #[error("--instance-of {run}={instance}: {path} already records instance type {recorded}; --instance-of is for runs that recorded none")]
    AlreadyTyped {
        run: String,
        instance: String,
        path: String,
        recorded: String,
    },
    #[error("--price {instance}={usd}: no run uses instance type {instance}{near}; the runs use: {used}")]
    UnusedPrice {
        instance: String,
        usd: f64,
        near: String,
        used: String,
    },
}

fn near(name: &str, known: &[&str]) -> String {
    let c = closest(name, known.iter().copied(), 3);
    if c.is_empty() {
        String::new()
    } else {
        format!(" (closest: {})", c.join(", "))
    }
}

/// Sets the instance type of each run named in `--instance-of` (by directory name or path).
pub fn instance_of(runs: &mut [LoadedRun], specs: &[InstanceOfArg]) -> Result<(), ApplyError> {
    for spec in specs {
        let found = runs
            .iter()
            .position(|r| r.name == spec.run || r.path.display().to_string() == spec.run);
        let Some(i) = found else {
            let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
            return Err(ApplyError::UnknownRun {
                run: spec.run.clone(),
                instance: spec.instance.clone(),
                known: names.join(", "),
                near: near(&spec.run, &names),
            });
        };
        let host = &mut runs[i].run.host;
        match &host.instance_type {
            Some(t) if *t != spec.instance => {
                return Err(ApplyError::AlreadyTyped {
                    run: spec.run.clone(),
                    instance: spec.instance.clone(),
                    path: runs[i].path.display().to_string(),
                    recorded: t.clone(),
                })
            }
            _ => {
                host.instance_type = Some(spec.instance.clone());
                host.instance_type_source = "--instance-of".into();
            }
        }
    }
    Ok(())
}

/// Every `--price` override names an instance type that some run uses.
pub fn check_price_types(runs: &[LoadedRun], prices: &PriceTable) -> Result<(), ApplyError> {
    let mut used: Vec<&str> = Vec::new();
    for r in runs {
        if let Some(t) = r.run.host.instance_type.as_deref() {
            if !used.contains(&t) {
                used.push(t);
            }
        }
    }
    for (instance, &usd) in &prices.overrides {
        if used.contains(&instance.as_str()) {
            continue;
        }
        let mut known = used.clone();
        for row in &prices.rows {
            if !known.contains(&row.instance.as_str()) {
                known.push(&row.instance);
            }
        }
        return Err(ApplyError::UnusedPrice {
            instance: instance.clone(),
            usd,
            near: near(instance, &known),
            used: if used.is_empty() {
                "none (no run records an instance type; see --instance-of)".into()
            } else {
                used.join(", ")
            },
        });
    }
    Ok(())
}
