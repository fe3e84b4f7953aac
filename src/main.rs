use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = port_advisor::cli::Cli::parse();
    match port_advisor::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            // A closed stdout (`| head`) is not a failure.
            if err.chain().any(|e| {
                e.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("port-advisor: error: {err:#}");
            ExitCode::from(port_advisor::error::exit_code(&err))
        }
    }
}
