use clap::Parser;
use prometheus_client::registry::Registry;
use weft_runtime::process::{CommonArgs, Process};

/// weft's mesh certificate authority: signs workload certificates for ServiceAccounts.
#[derive(Debug, Parser)]
#[command(name = "weft-identity", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let proc = Process::start(&args.common.settings("weft-identity"), Registry::default()).await?;
    proc.wait(args.common.grace(), async {}).await;
    Ok(())
}
