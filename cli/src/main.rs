use anyhow::Context as _;
use clap::{Parser, Subcommand};
use std::{io::Read as _, path::PathBuf};
use weft_injector::InjectConfig;

/// The weft service mesh command line.
#[derive(Debug, Parser)]
#[command(name = "weft", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Add weft's init container and sidecar to manifests, offline.
    ///
    /// Reads YAML or JSON (multi-document, `List`s included) from the files
    /// given, or from stdin when none or `-` is given, and writes the result
    /// to stdout. Pods and the pod templates of Deployments, StatefulSets,
    /// DaemonSets, ReplicaSets, Jobs and CronJobs are injected exactly as the
    /// webhook would; other documents pass through unchanged. Running it on
    /// its own output changes nothing. Why a pod was skipped goes to stderr.
    Inject {
        /// Manifest files; `-` or nothing reads stdin.
        files: Vec<PathBuf>,
        /// The proxy image to inject.
        #[arg(long, default_value = "weft/proxy:latest")]
        proxy_image: String,
        /// Namespace of weft's control plane.
        #[arg(long, default_value = weft_api::contract::control_plane::NAMESPACE)]
        control_plane_namespace: String,
        /// SPIFFE trust domain of the mesh.
        #[arg(long, default_value = weft_api::contract::control_plane::DEFAULT_TRUST_DOMAIN)]
        trust_domain: String,
    },
    /// Print the CLI's version and the Kubernetes API version it targets.
    Version,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Inject {
            files,
            proxy_image,
            control_plane_namespace,
            trust_domain,
        } => {
            let cfg = InjectConfig {
                proxy_image,
                control_plane_namespace,
                trust_domain,
                ..Default::default()
            };
            let mut input = String::new();
            if files.is_empty() || files.iter().any(|f| f.as_os_str() == "-") {
                std::io::stdin()
                    .read_to_string(&mut input)
                    .context("reading stdin")?;
            }
            for f in files.iter().filter(|f| f.as_os_str() != "-") {
                let text = std::fs::read_to_string(f)
                    .with_context(|| format!("reading {}", f.display()))?;
                input.push_str("\n---\n");
                input.push_str(&text);
            }
            let (out, reports) = weft_cli::inject::inject_stream(&input, &cfg)?;
            print!("{out}");
            for r in reports {
                match r.skipped {
                    None => eprintln!("✔ {} injected", r.object),
                    Some(why) => eprintln!("✘ {} not injected: {why}", r.object),
                }
            }
        }
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
