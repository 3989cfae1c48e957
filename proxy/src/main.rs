use anyhow::Context as _;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use prometheus_client::registry::Registry;
use std::process::ExitCode;
use std::{sync::Arc, time::Duration};
use tokio::sync::Semaphore;
use weft_proxy::{
    config,
    inbound::{Inbound, http::HttpServer, policy::Policies},
    init,
    metrics::Metrics,
    net,
    outbound::{Outbound, dial::Dialer, discovery::Discovery, http::HttpClient},
    scrape::{self, ScrapeServer},
    tracker::Tracker,
};
use weft_runtime::{grpc::ChannelConfig, process};
use weft_tls::{
    SpiffeId, TrustDomain,
    workload::{Anchors, Workload},
};

/// How long a new connection may take to reach its destination.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long an outbound connection waits for the controller's answer.
const DISCOVERY_WAIT: Duration = Duration::from_secs(5);
/// How long a destination's discovery subscription outlives its last use.
const DISCOVERY_IDLE: Duration = Duration::from_secs(60);
/// How long an inbound connection waits for its port's first policy.
const POLICY_WAIT: Duration = Duration::from_secs(5);

/// Exit code for a configuration error (sysexits EX_USAGE).
const EX_USAGE: u8 = 64;

/// The weft sidecar proxy. Without a subcommand it runs the proxy,
/// configured from the environment the injector sets (listed below).
#[derive(Parser)]
#[command(name = "weft-proxy", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Write the pod's iptables rules (the weft-init init container), then exit.
    ///
    /// Sends the pod's inbound TCP to the proxy's inbound port and the app's
    /// outbound TCP to its outbound port, in weft's own chains, with one atomic
    /// iptables-restore per address family; a rerun replaces the rules. UDP is
    /// never redirected. Reads no environment variables: the injector passes
    /// every setting as a flag. Needs NET_ADMIN and NET_RAW. See
    /// docs/proxy-init.md.
    Init(init::InitArgs),
}

fn main() -> ExitCode {
    // The variable list comes from the config's table, which a test keeps
    // equal to what the parser reads.
    let matches = Cli::command()
        .after_long_help(environment_help())
        .after_help("Environment variables: see --help.")
        .get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match cli.command {
        Some(Command::Init(args)) => run_init(&args),
        None => run_proxy(),
    }
}

fn run_init(args: &init::InitArgs) -> ExitCode {
    let result = init::run(
        args,
        &init::run::System,
        init::kernel_has_ipv6(),
        &mut std::io::stdout().lock(),
    );
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ init::InitError::Config { .. }) => {
            eprintln!("weft-proxy init: {e}");
            ExitCode::from(EX_USAGE)
        }
        Err(e) => {
            eprintln!("weft-proxy init: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_proxy() -> ExitCode {
    let cfg = match config::parse(&config::Env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("weft-proxy: invalid configuration: {e}");
            return ExitCode::from(EX_USAGE);
        }
    };
    // One worker (the injector's default, from a CPU limit of one core or
    // less) runs on the current thread: no work-stealing scheduler to pay
    // for and one thread fewer.
    let mut builder = if cfg.worker_threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(cfg.worker_threads);
        b
    };
    let rt = match builder.enable_all().build() {
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

/// The bundle a proxy starts with: from its pod spec, or a file read once.
fn initial_anchors(a: &config::InitialAnchors) -> anyhow::Result<Vec<u8>> {
    match a {
        config::InitialAnchors::Pem(pem) => Ok(pem.clone().into_bytes()),
        config::InitialAnchors::File(path) => std::fs::read(path)
            .with_context(|| format!("reading the trust anchors {}", path.display())),
    }
}

/// The app probes, checked against the pod's first address (the one the
/// kubelet dials).
fn app_probes(cfg: &config::Config) -> Option<Arc<dyn weft_runtime::admin::AppProbes>> {
    let target = *cfg.workload.pod_ips.first()?;
    if cfg.app_probes.is_empty() {
        return None;
    }
    Some(Arc::new(weft_proxy::probe::AppProbes::new(
        target,
        cfg.app_probes.clone(),
    )))
}

async fn run(cfg: config::Config) -> anyhow::Result<()> {
    let settings = process::Settings {
        name: "weft-proxy",
        admin_addr: cfg.admin_addr,
        log_level: cfg.log_level.clone(),
        log_format: cfg.log_format,
        app_probes: app_probes(&cfg),
    };
    let metrics = Metrics::default();
    let mut registry = Registry::default();
    weft_runtime::process_metrics::register(&mut registry);
    metrics.register(&mut registry);
    let control_plane_trust = Arc::new(weft_tls::TrustStatus::default());
    registry.register_collector(control_plane_trust.collector("weft_proxy"));
    let registry = Arc::new(registry);
    let proc = process::Process::start(&settings, registry.clone()).await?;
    let w = &cfg.workload;
    let td: TrustDomain = w.trust_domain.parse()?;
    let own_id = SpiffeId::new(&td, &w.namespace, &w.service_account)?;
    let (tls, _) = weft_tls::workload::start(
        Workload {
            id: own_id.clone(),
            identity_id: cfg.identity.id.parse()?,
            identity_addr: cfg.identity.addr.clone(),
            token_file: cfg.token_file.clone(),
            anchors: Anchors::FromIdentity(initial_anchors(&cfg.trust_anchors)?),
            control_plane_trust,
        },
        proc.readiness.register("certificate"),
    )?;
    let controller_id: SpiffeId = cfg.controller.id.parse()?;
    let scrape_listener = scrape::bind(cfg.metrics_addr).await?;
    tokio::spawn(
        Arc::new(ScrapeServer {
            tls: tls.clone(),
            scraper: controller_id.clone(),
            registry,
            observed: metrics.observed.clone(),
        })
        .serve(scrape_listener, proc.stop.clone()),
    );
    let channels = ChannelConfig::default();
    let controller = weft_tls::tls_channel(
        &cfg.controller.addr,
        tls.control_plane_client_config(&controller_id),
        &channels,
    )?;
    let resolver = Discovery::new(
        controller.clone(),
        w.namespace.clone(),
        DISCOVERY_WAIT,
        DISCOVERY_IDLE,
    );
    let policies = Arc::new(Policies::new(
        controller,
        w.namespace.clone(),
        w.pod_name.clone(),
        &cfg.inbound_ports,
        metrics.policy_ports.clone(),
    ));
    // Ready only once every declared app port has its policy, so the app
    // (gated on this proxy's startup probe) never meets `policy-unavailable`.
    let policy_ready = proc.readiness.register("policy");
    let (watched, ports) = (policies.clone(), cfg.inbound_ports.clone());
    tokio::spawn(async move {
        for port in ports {
            let _ = watched.watch(port).wait_for(Option::is_some).await;
        }
        policy_ready.ready();
    });

    let tracker = Tracker::default();
    // Each direction listens on IPv4 and, where the pod has IPv6, on IPv6
    // too: `weft-proxy init` redirects both families by default.
    let outbound_listeners = net::listen_dual(cfg.outbound_addr)
        .with_context(|| format!("binding the outbound listener {}", cfg.outbound_addr))?;
    let inbound_listeners = net::listen_dual(cfg.inbound_addr)
        .with_context(|| format!("binding the inbound listener {}", cfg.inbound_addr))?;
    // Once, though both directions meet the same missing IPv6.
    let no_ipv6 = outbound_listeners.no_ipv6.as_ref();
    if let Some(error) = no_ipv6.or(inbound_listeners.no_ipv6.as_ref()) {
        tracing::info!(%error, "no IPv6 in this pod: listening on IPv4 only");
    }
    let addrs = |l: &net::Listeners| -> Vec<String> {
        l.bound
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .map(|a| a.to_string())
            .collect()
    };
    tracing::info!(
        id = %own_id,
        outbound = ?addrs(&outbound_listeners),
        inbound = ?addrs(&inbound_listeners),
        "proxying"
    );
    let limits = Arc::new(cfg.limits.clone());
    let inbound = Arc::new(Inbound {
        tls: tls.clone(),
        own_ips: w.pod_ips.clone(),
        policies,
        policy_wait: POLICY_WAIT,
        connect_timeout: CONNECT_TIMEOUT,
        tracker: tracker.clone(),
        http: Arc::new(HttpServer::new(
            CONNECT_TIMEOUT,
            limits.clone(),
            metrics.clone(),
        )),
        room: Arc::new(Semaphore::new(limits.max_connections_inbound)),
        limits: limits.clone(),
        metrics: metrics.clone(),
    });
    let dialer = Dialer {
        tls,
        own_ips: w.pod_ips.clone().into(),
        local: Some(inbound.clone()),
        timeout: CONNECT_TIMEOUT,
        metrics: metrics.clone(),
    };
    let outbound = Arc::new(Outbound {
        resolver: Arc::new(resolver),
        dialer: dialer.clone(),
        connect_timeout: CONNECT_TIMEOUT,
        tracker: tracker.clone(),
        http: Arc::new(HttpClient::new(
            dialer,
            cfg.request_timeout,
            limits.clone(),
            metrics.clone(),
        )),
        room: Arc::new(Semaphore::new(limits.max_connections_outbound)),
        limits,
        metrics,
    });
    // On SIGTERM inbound stops accepting at once; outbound keeps serving the
    // app while it drains, until nothing is in flight or the grace ends.
    let (outbound_stop, outbound_signal) = weft_runtime::shutdown::channel();
    for l in outbound_listeners.bound {
        tokio::spawn(outbound.clone().serve(l, outbound_signal.clone()));
    }
    for l in inbound_listeners.bound {
        tokio::spawn(inbound.clone().serve(l, proc.stop.clone()));
    }
    let drained = proc
        .wait(cfg.shutdown_grace, async move {
            tracker.idle().await;
        })
        .await;
    outbound_stop.trigger();
    tracing::info!(?drained, "stopped");
    Ok(())
}

fn environment_help() -> String {
    let mut s = String::from("Environment (set by the injector; `init` reads none):\n");
    for (name, default, what) in config::VARIABLES {
        // Name and text on separate lines so clap's wrapping keeps them aligned.
        s.push_str(&format!("  {name}\n      {what} [default: {default}]\n"));
    }
    s
}
