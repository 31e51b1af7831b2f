//! The command line: parse, call the library, print one line and exit 2 on error.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Shows why HTTP authentication fails, from the packets.
#[derive(Debug, Parser)]
#[command(name = "authscope", version, about)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Analyse capture files and print a report.
    Report {
        /// pcap or pcapng files; several are merged in time order.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = FormatArg::Text)]
        format: FormatArg,
        /// Show passwords, hashes and tokens instead of redacting them.
        #[arg(long)]
        reveal_secrets: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Text,
    Json,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A closed pipe (`| head`) is the reader's choice, not a failure.
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                if io.kind() == std::io::ErrorKind::BrokenPipe {
                    return ExitCode::SUCCESS;
                }
            }
            if let Some(authscope::report::ReportError::Write(io)) =
                e.downcast_ref::<authscope::report::ReportError>()
            {
                if io.kind() == std::io::ErrorKind::BrokenPipe {
                    return ExitCode::SUCCESS;
                }
            }
            let _ = writeln!(std::io::stderr(), "authscope: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Report {
            files,
            format,
            reveal_secrets,
        } => {
            let opts = authscope::report::Options {
                format: match format {
                    FormatArg::Text => authscope::report::Format::Text,
                    FormatArg::Json => authscope::report::Format::Json,
                },
                reveal_secrets,
                ..Default::default()
            };
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
            authscope::report::run(&files, &opts, &mut out)?;
            Ok(())
        }
    }
}
