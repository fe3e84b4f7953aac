use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = port_advisor::cli::Cli::parse();
    match port_advisor::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            // A closed stdout (`| head`) is not a failure.
            let broken_pipe = |e: &(dyn std::error::Error + 'static)| {
                let kind = e
                    .downcast_ref::<std::io::Error>()
                    .map(|io| io.kind())
                    .or_else(|| {
                        e.downcast_ref::<serde_json::Error>()
                            .and_then(serde_json::Error::io_error_kind)
                    });
                kind == Some(std::io::ErrorKind::BrokenPipe)
            };
            if err.chain().any(broken_pipe) {
                return ExitCode::SUCCESS;
            }
            eprintln!("port-advisor: error: {err:#}");
            ExitCode::from(port_advisor::error::exit_code(&err))
        }
    }
}
