//! `psn-bench`: reproduces psn's performance claims on the machine it runs on. Every figure is
//! measured next to its anchor in the same run (direct calls and an nginx mutual-TLS pair for the
//! data plane), because absolute numbers on shared machines move from one run to the next.
//! `bench/run` builds the release binaries and calls this; see the README's performance section.

use clap::{Parser, Subcommand};

mod authority_scale;
mod data_plane;
mod provenance;

/// The allocator the `psn` binary uses: the authority-scale bench builds and loads
/// configurations in this process, and glibc's allocator spent about a quarter of that time
/// here, which `psn authority serve` never pays.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "psn-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Direct, nginx pair and psn pair (durable and buffered audit), interleaved repetitions.
    DataPlane(data_plane::Args),
    /// 25,000 members and 100,000 services: configuration build, gateway load, revocation.
    AuthorityScale(authority_scale::Args),
    /// The small HTTP backend every data-plane topology calls (run by `data-plane` itself).
    Backend(data_plane::backend::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new()?;
    match cli.command {
        Command::DataPlane(args) => runtime.block_on(data_plane::run(args)),
        Command::AuthorityScale(args) => runtime.block_on(authority_scale::run(args)),
        Command::Backend(args) => runtime.block_on(data_plane::backend::serve(args)),
    }
}
