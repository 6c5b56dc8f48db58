//! `bench list`: workloads with their parameters, suites with their point counts, and each
//! backend with whether it can run on this machine and, if not, why.

use backends::BackendKind;
use kernels::WorkloadKind;

use crate::suite::{plan, Selection, Suite};

pub fn render() -> String {
    let mut out = String::from("Workloads:\n");
    for w in WorkloadKind::ALL {
        out += &format!(
            "  {:<10} params {:<26} {}\n",
            w.name(),
            w.keys().join(","),
            w.summary()
        );
    }
    out += "\nSuites:\n";
    for s in Suite::ALL {
        let n = plan(s, &Selection::default()).map(|p| p.len()).unwrap_or(0);
        out += &format!("  {:<10} {n:>3} points  {}\n", s.name(), s.summary());
    }
    out += "\nBackends:\n";
    for b in BackendKind::ALL {
        match backends::availability(b) {
            Ok(desc) => out += &format!("  {:<10} available: {desc}\n", b.name()),
            Err(why) => out += &format!("  {:<10} unavailable: {why}\n", b.name()),
        }
    }
    out
}
