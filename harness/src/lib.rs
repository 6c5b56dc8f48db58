//! How work is measured and judged: suites and planning, the sampler and statistics, the
//! correctness gate's bookkeeping, crash-safe result files, provenance, progress and the
//! summary table. The `bench` binary (main.rs) is a thin shell over this library.
#![forbid(unsafe_code)]

pub mod cli;
pub mod clock;
pub mod dump;
pub mod fleet;
pub mod fuzz;
pub mod interrupt;
pub mod list;
pub mod plan_file;
pub mod progress;
pub mod provenance;
pub mod report;
pub mod resume;
pub mod run;
pub mod runner;
pub mod schema;
pub mod stats;
pub mod store;
pub mod suite;
pub mod table;
pub mod validate;
pub mod watchdog;
