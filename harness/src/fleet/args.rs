//! The `bench fleet` command line (clap): submit, status, collect, rerun. The scheduler name
//! is parsed after clap so a bad one is a one-line error naming it.

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Debug, Clone, Args)]
pub struct FleetArgs {
    #[command(subcommand)]
    pub command: FleetCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum FleetCommand {
    /// Write one node-exclusive job per target under <results>/<fleet-id>/ and submit it
    /// (sbatch, or kubectl apply); prints the fleet directory on its last line.
    Submit(SubmitArgs),
    /// Ask the scheduler (squeue/sacct, or kubectl get jobs) for each target's state.
    Status(DirArgs),
    /// Gather the finished run folders, list the targets that failed with their state and log
    /// tail, and optionally report over what finished.
    Collect(CollectArgs),
    /// Submit the failed or cancelled targets again (or the ones named); a target with a run
    /// folder continues it (`bench run --resume`), so finished points are not run again.
    Rerun(RerunArgs),
}

#[derive(Debug, Clone, Args)]
pub struct SubmitArgs {
    /// The fleet file (TOML): results path, scheduler settings, one [[target]] per machine kind.
    #[arg(value_name = "FLEET.toml")]
    pub fleet_file: PathBuf,
    /// slurm or kubernetes (default: the file's `scheduler`, else slurm).
    #[arg(long, value_name = "SCHEDULER")]
    pub scheduler: Option<String>,
    /// Write the job scripts or manifests and fleet.json, but submit nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Use this shared results directory instead of the file's `results`.
    #[arg(long, value_name = "DIR")]
    pub results: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct DirArgs {
    /// The fleet directory that `bench fleet submit` printed.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct CollectArgs {
    /// The fleet directory that `bench fleet submit` printed.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Wait until no target is queued or running.
    #[arg(long)]
    pub wait: bool,
    /// Seconds between the scheduler queries of --wait.
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    pub poll: f64,
    /// Report over the collected runs into DIR/report; every argument after --report goes to
    /// `bench report` (e.g. --report --baseline c7i.2xlarge --challenger c7i.4xlarge), so put
    /// it last.
    #[arg(
        long,
        num_args = 0..,
        allow_hyphen_values = true,
        value_name = "REPORT OPTIONS"
    )]
    pub report: Option<Vec<String>>,
}

#[derive(Debug, Clone, Args)]
pub struct RerunArgs {
    /// The fleet directory that `bench fleet submit` printed.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Only these targets (repeatable); default: every failed or cancelled one.
    #[arg(long, value_name = "NAME")]
    pub target: Vec<String>,
    /// Where a target's run folder is resumed: run its failed points again too.
    #[arg(long)]
    pub retry_failed: bool,
    /// Write the new job files and update fleet.json, but submit nothing.
    #[arg(long)]
    pub dry_run: bool,
}
