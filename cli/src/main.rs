use clap::{Parser, Subcommand};

/// The weft service mesh command line.
#[derive(Debug, Parser)]
#[command(name = "weft", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the CLI's version and the Kubernetes API version it targets.
    Version,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Version => {
            println!("weft {}", env!("CARGO_PKG_VERSION"));
            println!("kubernetes api {}", weft_k8s_api::KUBERNETES_API);
            println!(
                "mesh alpn {}",
                String::from_utf8_lossy(weft_api::contract::alpn::MESH)
            );
        }
    }
    Ok(())
}
