use std::process::ExitCode;

use port_advisor::error::{self, ExitStatus};
use port_advisor::ui;

// See Cargo.toml: mimalloc, for the fleet-sized imports and analyses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match port_advisor::cli::Cli::try_parse_from_env() {
        Ok(cli) => cli,
        // --help and --version end well; a usage error ends with port-advisor's usage code,
        // not clap's 2, which a program's argparse also uses.
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                ExitStatus::Usage.into()
            } else {
                ExitStatus::Success.into()
            };
        }
    };
    match port_advisor::run(cli) {
        Ok(status) => status.into(),
        // A closed stdout (`| head`) is not a failure.
        Err(err) if error::is_broken_pipe(&err) => ExitStatus::Success.into(),
        Err(err) => {
            ui::error(format_args!("{err:#}"));
            ExitStatus::of_error(&err).into()
        }
    }
}
