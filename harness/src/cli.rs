//! The `bench` command line (clap). `bench` with no subcommand means `bench run`. Values that
//! need a helpful message (backend, suite, workload, dtype, --param) are parsed after clap so
//! each error names the value and the accepted ones on one line.

use std::collections::BTreeSet;
use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use kernels::{DType, Point, WorkloadKind};

use crate::suite::{plan, PlanError, Selection, Suite};

#[derive(Debug, Parser)]
#[command(
    name = "bench",
    version,
    about = "Measures matmul, attention, training steps and inference (prefill, decode) on cpu/cuda/neuron, checks every output against an f64 reference, and records results for pricing",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

impl Cli {
    /// Parses the process's arguments like `Cli::try_parse`, and records which run options
    /// were given on the command line ([`RunArgs::given`]), so `--resume` can tell an option
    /// the user typed from a default.
    pub fn try_parse_tracked() -> Result<Cli, clap::Error> {
        let matches = Cli::command().try_get_matches()?;
        let mut cli = Cli::from_arg_matches(&matches)?;
        let sub = match matches.subcommand() {
            Some(("run", m)) => m,
            _ => &matches,
        };
        let given: BTreeSet<String> = sub
            .ids()
            .filter(|id| sub.value_source(id.as_str()) == Some(ValueSource::CommandLine))
            .map(|id| id.to_string())
            .collect();
        match &mut cli.command {
            Some(Command::Run(a)) => a.given = given,
            None => cli.run.given = given,
            _ => {}
        }
        Ok(cli)
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a suite on a backend (the default when no subcommand is given).
    Run(Box<RunArgs>),
    /// List workloads, suites and backends, with whether each backend can run here.
    List,
    /// Write the points of a suite as plan.json for scripts/neuron/build_neffs.py.
    Plan(PlanArgs),
    /// Price and judge result files: the verdict on the claim, with tables, CSV/JSON and charts.
    Report(ReportArgs),
    /// Print the price table in use (built-in results/prices.csv, --prices, --price).
    Prices(PricesArgs),
    /// Sweep instance types through Slurm or Kubernetes: submit, status, collect, rerun.
    Fleet(crate::fleet::args::FleetArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// run.json files, run directories, or folders of run directories (e.g. results/runs).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Directory that receives report.md, report.html, summary.csv/json and charts/.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The claimed perf-per-$ ratio, challenger over baseline, or a range (1.30-1.40); without
    /// it each pair of platforms gets the sourced claim for it, if any (Trainium2 vs GPU: 1.30).
    #[arg(long, value_name = "RATIO[-RATIO]")]
    pub claim: Option<String>,
    /// The instance type of a run that recorded none, e.g. --instance-of cpu-run=c7i.4xlarge
    /// (RUN is the run's directory name; repeatable).
    #[arg(long, value_name = "RUN=TYPE")]
    pub instance_of: Vec<String>,
    /// Set an instance's price in $/h, e.g. --price trn2.48xlarge=35.76 (repeatable).
    #[arg(long, value_name = "TYPE=USD")]
    pub price: Vec<String>,
    /// Use this price table instead of the built-in results/prices.csv.
    #[arg(long, value_name = "FILE")]
    pub prices: Option<PathBuf>,
    /// Baseline runs: a backend kind, instance type or run name.
    #[arg(long, default_value = "cuda", value_name = "SELECTOR")]
    pub baseline: String,
    /// Challenger runs: a backend kind, instance type or run name.
    #[arg(long, default_value = "neuron", value_name = "SELECTOR")]
    pub challenger: String,
    /// Which implementation each side uses per point: best (its fastest correct one), bench
    /// (bench's own kernels) or a name such as torch.
    #[arg(long, default_value = "best", value_name = "best|bench|NAME")]
    pub implementation: String,
    /// Give a verdict over the paired workloads when some workload did not pair (labelled
    /// partial); without it such a comparison is INCONCLUSIVE.
    #[arg(long)]
    pub allow_partial: bool,
    /// A planner's workload mix, e.g. --weights matmul=1,attention=2 (workloads not named
    /// weigh 1; 0 leaves one out).
    #[arg(long, value_name = "WORKLOAD=W[,..]")]
    pub weights: Vec<String>,
    /// Cost a job on both sides: ITEMS in the workload's unit (FLOP for matmul, else its item:
    /// tokens, samples), with an optional k/M/G/T/P suffix, e.g. --job train-gpt=300G
    /// (repeatable).
    #[arg(long, value_name = "WORKLOAD=ITEMS")]
    pub job: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct PricesArgs {
    /// Set an instance's price in $/h (repeatable).
    #[arg(long, value_name = "TYPE=USD")]
    pub price: Vec<String>,
    /// Use this price table instead of the built-in results/prices.csv.
    #[arg(long, value_name = "FILE")]
    pub prices: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// Backend the NEFFs are for (neuron).
    #[arg(long, default_value = "neuron", value_name = "BACKEND")]
    pub backend: String,
    #[command(flatten)]
    pub select: SelectArgs,
    /// The plan file to write.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// Which points: a suite, narrowed by workload and dtype, with parameter overrides.
#[derive(Debug, Clone, Args)]
pub struct SelectArgs {
    /// Suite: quick, standard or full.
    #[arg(long, default_value = "quick", value_name = "SUITE")]
    pub suite: String,
    // help from kernels' lists, so a new workload or dtype shows up here
    #[arg(long, value_name = "NAME", help = only_these("workloads", WorkloadKind::ALL.map(WorkloadKind::name)))]
    pub workload: Vec<String>,
    #[arg(long, value_name = "DTYPE", help = only_these("dtypes", DType::ALL.map(DType::name)))]
    pub dtype: Vec<String>,
    /// Override a parameter's values, e.g. --param m=2048 --param k=1024,4096 (repeatable).
    #[arg(long, value_name = "KEY=V[,V..]")]
    pub param: Vec<String>,
}

/// `--workload`/`--dtype` help: "Only these NOUN (repeatable or comma-separated): a, b, …".
fn only_these<const N: usize>(noun: &str, names: [&str; N]) -> String {
    format!(
        "Only these {noun} (repeatable or comma-separated): {}",
        names.join(", ")
    )
}

impl SelectArgs {
    /// The suite and the points it leaves after the selection (never none).
    pub fn points(&self) -> Result<(Suite, Vec<Point>), PlanError> {
        let suite: Suite = self.suite.parse()?;
        let points = plan(
            suite,
            &Selection {
                workloads: self.workload.clone(),
                dtypes: self.dtype.clone(),
                params: self.param.clone(),
            },
        )?;
        if points.is_empty() {
            return Err(PlanError(
                "the selection leaves no points: widen --workload/--dtype/--param".into(),
            ));
        }
        Ok((suite, points))
    }
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Backend: cpu, cuda or neuron.
    #[arg(long, default_value = "cpu", value_name = "BACKEND")]
    pub backend: String,
    #[command(flatten)]
    pub select: SelectArgs,
    /// Directory that receives the run directory.
    #[arg(long, default_value = "results/runs", value_name = "DIR")]
    pub out: PathBuf,
    /// Instance type for pricing (default: read from EC2's DMI data).
    #[arg(long, value_name = "TYPE")]
    pub instance: Option<String>,
    /// Seed of every input.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Sampling time budget per point in seconds (default: the suite's).
    #[arg(long, value_name = "SECONDS")]
    pub budget: Option<f64>,
    /// Warm-up time per point in seconds.
    #[arg(long, default_value_t = 0.1, value_name = "SECONDS")]
    pub warmup: f64,
    /// Target relative half-width of the median's 95% interval.
    #[arg(long, default_value_t = 0.01, value_name = "FRACTION")]
    pub target_noise: f64,
    #[arg(long, default_value_t = 10)]
    pub min_samples: usize,
    #[arg(long, default_value_t = 10_000)]
    pub max_samples: usize,
    /// Also write each point's inputs, output and f64 reference as .npy files here.
    #[arg(long, value_name = "DIR")]
    pub dump: Option<PathBuf>,
    /// Neuron: directory holding the NEFFs and their manifest.json.
    #[arg(long, value_name = "DIR")]
    pub neff_dir: Option<PathBuf>,
    /// Neuron: NeuronCores to run copies on at once.
    #[arg(long, value_name = "N")]
    pub cores: Option<u32>,
    /// CUDA: GPUs to use (an index list like 0,1 or all).
    #[arg(long, value_name = "LIST")]
    pub devices: Option<String>,
    /// After the run, write a report over it to <run dir>/report (report.md, .html, charts).
    #[arg(long)]
    pub report: bool,
    /// Continue the run in RUN_DIR: points that finished stay as they are, missing points run
    /// (and interrupted ones). The run's backend, suite selection, seed and instance are used;
    /// any of them given again must match.
    #[arg(long, value_name = "RUN_DIR")]
    pub resume: Option<PathBuf>,
    /// With --resume: run the points that failed again too.
    #[arg(long, requires = "resume")]
    pub retry_failed: bool,
    /// Option ids given on the command line (filled by [`Cli::try_parse_tracked`]).
    #[arg(skip)]
    pub given: BTreeSet<String>,
}
