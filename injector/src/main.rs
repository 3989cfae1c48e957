use clap::Parser;
use prometheus_client::registry::Registry;
use weft_runtime::process::{CommonArgs, Process};

/// weft's mutating admission webhook: injects the sidecar into annotated pods.
#[derive(Debug, Parser)]
#[command(name = "weft-injector", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let proc = Process::start(&args.common.settings("weft-injector"), Registry::default()).await?;
    proc.wait(args.common.grace(), async {}).await;
    Ok(())
}
