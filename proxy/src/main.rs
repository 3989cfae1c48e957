use prometheus_client::registry::Registry;
use std::process::ExitCode;
use weft_proxy::config;
use weft_runtime::process;

/// Exit code for a configuration error (sysexits EX_USAGE).
const EX_USAGE: u8 = 64;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print_help();
        return ExitCode::SUCCESS;
    }
    if args.iter().any(|a| a == "--version" || a == "-V") {
        println!("weft-proxy {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    if let Some(a) = args.first() {
        eprintln!("weft-proxy: unexpected argument {a:?}; see --help");
        return ExitCode::from(EX_USAGE);
    }
    let cfg = match config::parse(&config::Env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("weft-proxy: invalid configuration: {e}");
            return ExitCode::from(EX_USAGE);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cfg.worker_threads)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("weft-proxy: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("weft-proxy: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cfg: config::Config) -> anyhow::Result<()> {
    let settings = process::Settings {
        name: "weft-proxy",
        admin_addr: cfg.admin_addr,
        log_level: cfg.log_level.clone(),
        log_format: cfg.log_format,
    };
    let proc = process::Process::start(&settings, Registry::default()).await?;
    proc.wait(cfg.shutdown_grace, async {}).await;
    Ok(())
}

fn print_help() {
    println!(
        "weft-proxy {}: the weft sidecar proxy\n",
        env!("CARGO_PKG_VERSION")
    );
    println!("Usage: weft-proxy            run the proxy, configured from the environment");
    println!("       weft-proxy --help     this text\n");
    println!("Environment (set by the injector):");
    for (name, default, what) in config::VARIABLES {
        println!("  {name:<30} {what} [default: {default}]");
    }
}
