use std::process::ExitCode;

use clap::Parser;
use port_advisor::error::{self, ExitStatus};

fn main() -> ExitCode {
    let cli = port_advisor::cli::Cli::parse();
    match port_advisor::run(cli) {
        Ok(status) => status.into(),
        // A closed stdout (`| head`) is not a failure.
        Err(err) if error::is_broken_pipe(&err) => ExitStatus::Success.into(),
        Err(err) => {
            eprintln!("port-advisor: error: {err:#}");
            ExitStatus::of_error(&err).into()
        }
    }
}
