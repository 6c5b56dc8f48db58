//! `bench fleet`: sweeps across instance types through the scheduler the user already has.
//! A fleet file (TOML, [`spec`]) names a shared results path and one target per machine kind;
//! `submit` writes one node-exclusive job per target (an sbatch script, [`slurm`], or a
//! Kubernetes Job manifest, [`kube`]) that runs an ordinary `bench run` ([`job`]) into
//! `<results>/<fleet-id>/<target>`, submits it and records the ids in fleet.json
//! ([`record`]); `status` asks the scheduler ([`status`]); `collect` gathers what finished
//! and reports over it ([`collect`]); `rerun` submits failed targets again. bench is not a
//! scheduler: it writes, submits and reads back, and the scheduler does the rest.

pub mod args;
pub mod collect;
pub mod job;
pub mod kube;
pub mod record;
pub mod slurm;
pub mod spec;
pub mod state;
pub mod status;
pub mod submit;
pub mod tools;

use anyhow::Result;

use crate::run::Outcome;
use args::{FleetArgs, FleetCommand};

/// Runs a `bench fleet` subcommand.
pub fn command(args: &FleetArgs) -> Result<Outcome> {
    match &args.command {
        FleetCommand::Submit(a) => submit::submit(a),
        FleetCommand::Status(a) => status::status(a),
        FleetCommand::Collect(a) => collect::collect(a),
        FleetCommand::Rerun(a) => submit::rerun(a),
    }
}
