//! `psn`: one binary for every role. This file only parses arguments, sets up logging and hands
//! over to the role crates; see `cli/` for each command family.

mod cli;

use clap::Parser;
use std::process::ExitCode;

/// The gateway's data plane allocates a little per exchange on many threads at once; glibc's
/// allocator spent about a tenth of the gateways' time on that under load (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let telemetry = cli::init_logging(&args.global, args.command.role());
    let outcome = cli::run(args).await;
    // Flush the spans still queued for export (a no-op when traces are off).
    telemetry.shutdown().await;
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
