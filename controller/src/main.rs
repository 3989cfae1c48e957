use clap::Parser;
use prometheus_client::registry::Registry;
use weft_runtime::process::{CommonArgs, Process};

/// weft's controller: turns SMI objects into policy and discovery streamed to sidecars.
#[derive(Debug, Parser)]
#[command(name = "weft-controller", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let proc = Process::start(
        &args.common.settings("weft-controller"),
        Registry::default(),
    )
    .await?;
    proc.wait(args.common.grace(), async {}).await;
    Ok(())
}
