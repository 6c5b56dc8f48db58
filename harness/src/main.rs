//! The `bench` binary: parses the command line and maps outcomes to exit codes (0 all ok,
//! 1 some point failed, 2 usage/configuration/I/O error, 130/143 stopped by SIGINT/SIGTERM).
//! Errors print as one line.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use harness::cli::{Cli, Command};
use harness::run::{run, Outcome};

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("bench: internal error (a bug; please report it with the command line): {info}");
    }));
    let cli = match Cli::try_parse_tracked() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let result = match cli.command {
        None => run(&cli.run),
        Some(Command::Run(args)) => run(&args),
        Some(Command::Plan(args)) => harness::plan_file::write(&args).map(|_| Outcome::AllOk),
        Some(Command::List) => {
            print!("{}", harness::list::render());
            Ok(Outcome::AllOk)
        }
        Some(Command::Report(args)) => {
            harness::report::command::report(&args).map(|_| Outcome::AllOk)
        }
        Some(Command::Prices(args)) => {
            harness::report::command::prices(&args).map(|_| Outcome::AllOk)
        }
        Some(Command::Fleet(args)) => harness::fleet::command(&args),
    };
    match result {
        Ok(Outcome::AllOk) => ExitCode::SUCCESS,
        Ok(Outcome::SomeFailed) => ExitCode::from(1),
        Ok(Outcome::Interrupted(sig)) => ExitCode::from(sig.exit_code()),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
