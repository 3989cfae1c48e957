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
        /// PEM bundle of the mesh's trust anchors, written into each proxy's
        /// environment. Without it, the bundle is read from the cluster
        /// (the ConfigMap weft-mesh-trust-anchors in the control-plane
        /// namespace), the one step that is not offline.
        #[arg(long)]
        trust_anchors: Option<PathBuf>,
    },
    /// Check that the cluster is ready for weft (--pre), or that weft works in it.
    ///
    /// Without --pre: the control plane's Deployments are available, the
    /// webhook is registered and has a ready endpoint, every certificate has
    /// time left, no pod in an injected namespace runs without a proxy, no
    /// meshed pod relies on UDP, every proxy is ready (holding a
    /// certificate and its policy), and every Gateway API HTTPRoute and
    /// GRPCRoute attached to a Service is Accepted with ResolvedRefs (a
    /// TrafficSplit such a route overrides is a warning). Each line is ✔, !
    /// (a warning) or ✘ with a hint; the exit status is non-zero when any
    /// check fails.
    Check {
        /// Check before installing: API server, Kubernetes version (native
        /// sidecars), permissions to install, SMI CRDs that would conflict.
        #[arg(long)]
        pre: bool,
        /// Output format.
        #[arg(short = 'o', long, value_parser = ["text", "json"], default_value = "text")]
        output: String,
        /// Namespace of weft's control plane.
        #[arg(long, default_value = weft_api::contract::control_plane::NAMESPACE)]
        control_plane_namespace: String,
    },
    /// Inspect SMI authorization (and Gateway API routing) as the proxies apply it.
    Authz {
        #[command(subcommand)]
        command: AuthzCommand,
    },
    /// Remove weft from the cluster, without breaking running workloads.
    ///
    /// In order: the webhook configuration (no new pod is injected), the
    /// control-plane Deployments (waiting for their pods to stop), the
    /// chart's other objects and Helm's record of the release, the
    /// trust-anchor ConfigMaps older releases kept in injected namespaces, the control-plane
    /// namespace when nothing else runs in it, and with --crds the SMI CRDs.
    /// Meshed pods keep working until they restart; restart them afterwards
    /// to drop their sidecars.
    Uninstall {
        /// Namespace of weft's control plane.
        #[arg(long, default_value = weft_api::contract::control_plane::NAMESPACE)]
        control_plane_namespace: String,
        /// The Helm release name weft was installed as.
        #[arg(long, default_value = "weft")]
        release: String,
        /// Also delete the SMI CRDs, and with them every SMI object.
        #[arg(long)]
        crds: bool,
        /// Say what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Show live traffic metrics: success rate, requests per second, latency.
    ///
    /// Reads weft's SMI TrafficMetrics API (metrics.smi-spec.io/v1alpha1),
    /// which the controller serves from its proxies' metrics over a recent
    /// window. RESOURCE is KIND/NAME for one object or KIND for every object
    /// of that kind in the namespace. Kinds: pods (po), deployments (deploy),
    /// statefulsets (sts), daemonsets (ds), namespaces (ns) and trafficsplits
    /// (ts: one row per backend).
    ///
    /// Columns: SUCCESS (share of requests that succeeded, `-` without
    /// traffic), RPS (requests per second), P50/P90/P99 (response latency),
    /// SUCCEEDED and FAILED (request counts over the window).
    ///
    /// Examples: weft stat deploy/web -n shop; weft stat deployments -l app=web;
    /// weft stat ns/shop; weft stat namespaces; weft stat ts/canary -o json
    Stat {
        /// KIND/NAME (deploy/web) or KIND (deployments).
        resource: String,
        #[command(flatten)]
        scope: StatScope,
        /// Only objects with these labels (a list only), e.g. `app=web,tier!=db`.
        #[arg(short = 'l', long)]
        selector: Option<String>,
    },
    /// Show the traffic between one resource and its peers, as measured by the proxies.
    ///
    /// One row per peer, direction and side: DIRECTION is `to` (the resource
    /// called the peer) or `from` (the peer called it); MEASURED-BY says
    /// whose proxy counted (`client` or `server`); the metric columns are
    /// those of `weft stat`. Read from weft's SMI TrafficMetrics API.
    ///
    /// Example: weft edges deploy/web -n shop
    Edges {
        /// KIND/NAME: po/, deploy/, sts/, ds/ or ns/ and the object's name.
        resource: String,
        #[command(flatten)]
        scope: StatScope,
    },
    /// Show the mesh as a live picture in your browser.
    ///
    /// Serves a page on a loopback port and opens it: every workload of the
    /// namespaces as a node (meshed or not), every edge the proxies measured
    /// with its requests per second, success rate and p99 (from the SMI
    /// TrafficMetrics API), the policy over the same edges (allowed and
    /// used, allowed and never used, refused, or not restricted), each
    /// TrafficSplit's configured and observed shares, and per workload its
    /// edges and the `authz explain` answer for a caller you type. It reads
    /// the cluster with your kubeconfig, as `weft authz explain` and `weft
    /// edges` do, and refreshes every 5 seconds. Stop it with Ctrl-C.
    ///
    /// Example: weft dashboard -n shop -n demo
    Dashboard {
        /// A namespace to show; repeatable. Every injected namespace when none is given.
        #[arg(short = 'n', long = "namespace")]
        namespaces: Vec<String>,
        /// The local port to serve on (0 picks a free one).
        #[arg(long, default_value_t = 9338)]
        port: u16,
        /// Print the address; do not open a browser.
        #[arg(long)]
        no_browser: bool,
        #[command(flatten)]
        settings: PolicySettings,
    },
    /// Write least-privilege SMI policy from observed traffic.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Print the CLI's version and the Kubernetes API version it targets.
    Version,
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// SMI objects that would allow exactly the traffic that flowed.
    ///
    /// Reads what each meshed pod's proxy let through (per caller
    /// ServiceAccount and port: each request's method and path, with
    /// id-like path segments as wildcards, and TCP connections), from
    /// weft's SMI TrafficMetrics API, and prints for review, as YAML for
    /// `kubectl apply -f`: per destination ServiceAccount one
    /// HTTPRouteGroup, a TCPRoute per opaque port, and per caller and port
    /// a TrafficTarget naming only what that caller used. Every object is
    /// labelled weft.io/suggested=true. The header lists the edges a switch
    /// to `default-policy: deny` would refuse now.
    ///
    /// The metrics API keeps a short window (30 s by default); --for keeps
    /// reading and adds up what each read saw.
    ///
    /// Example: weft policy suggest -n shop --for 10m > shop-policy.yaml
    Suggest {
        /// A namespace to read; repeatable. Every injected namespace when none is given.
        #[arg(short = 'n', long = "namespace")]
        namespaces: Vec<String>,
        /// Only the policy protecting this workload (KIND/NAME: deploy/, sts/, ds/ or po/), in the one namespace given with -n.
        #[arg(long)]
        workload: Option<String>,
        /// Keep reading this long and suggest for everything seen (Go duration: 10m, 1h).
        #[arg(long = "for", default_value = "0s")]
        span: String,
        /// Output format.
        #[arg(short = 'o', long, value_parser = ["yaml", "json"], default_value = "yaml")]
        output: String,
        #[command(flatten)]
        settings: PolicySettings,
    },
}

/// How `weft authz explain` and `weft dashboard` build the policy the
/// controller would send.
#[derive(Debug, clap::Args)]
struct PolicySettings {
    /// The mesh's default policy; read from the controller's Deployment when not given.
    #[arg(long, value_parser = ["allow", "deny"])]
    default_policy: Option<String>,
    /// Namespace of weft's control plane.
    #[arg(long, default_value = weft_api::contract::control_plane::NAMESPACE)]
    control_plane_namespace: String,
    /// SPIFFE trust domain of the mesh.
    #[arg(long, default_value = weft_api::contract::control_plane::DEFAULT_TRUST_DOMAIN)]
    trust_domain: String,
    /// Kubernetes cluster domain.
    #[arg(long, default_value = weft_api::contract::control_plane::DEFAULT_CLUSTER_DOMAIN)]
    cluster_domain: String,
}

impl From<PolicySettings> for weft_cli::cluster::Settings {
    fn from(s: PolicySettings) -> Self {
        Self {
            default_policy: s.default_policy,
            control_plane_namespace: s.control_plane_namespace,
            trust_domain: s.trust_domain,
            cluster_domain: s.cluster_domain,
        }
    }
}

/// What `weft stat` and `weft edges` share.
#[derive(Debug, clap::Args)]
struct StatScope {
    /// The namespace; the kubeconfig context's namespace when not given.
    /// Ignored for namespaces, which are cluster-scoped.
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// Output format: a table, or a JSON array of rows.
    #[arg(short = 'o', long, value_parser = ["text", "json"], default_value = "text")]
    output: String,
}

#[derive(Debug, Subcommand)]
enum AuthzCommand {
    /// Would the destination pod's proxy allow this request or connection, and why.
    ///
    /// Lists the cluster's pods, Services, ServiceAccounts, SMI objects and
    /// Gateway API routes (with the current kubeconfig), builds the policy
    /// the controller would send the destination's proxy, and evaluates it
    /// with the proxy's own authorization code. Prints the decision, what
    /// allowed it or the reason code the caller would see, and every grant
    /// on the port. When HTTPRoutes or GRPCRoutes attach to a Service whose
    /// traffic can reach the pod, it also prints, per Service port, the rule
    /// the client's proxy would pick, the backends it sends to, and the
    /// pod's decision on the request as it arrives.
    ///
    /// Example: weft authz explain --from shop/web --to shop/api-7d9f-x2x --port 8080 --method GET --path /items
    Explain {
        /// The source: <namespace>/<serviceaccount>, or unauthenticated[@ip].
        #[arg(long)]
        from: weft_cli::explain::Source,
        /// The destination pod: <namespace>/<pod>.
        #[arg(long)]
        to: String,
        /// The destination port (the app's port on the pod).
        #[arg(long)]
        port: u16,
        /// A connection the proxy does not serve as HTTP (opaque TCP, the app's own TLS).
        #[arg(long, conflicts_with_all = ["method", "path", "header"])]
        tcp: bool,
        /// HTTP method.
        #[arg(long, default_value = "GET")]
        method: String,
        /// HTTP path, optionally with a query: the query counts only for
        /// Gateway API route matches (authorization ignores it, as the
        /// proxy does).
        #[arg(long, default_value = "/")]
        path: String,
        /// A request header, `name: value`; repeatable.
        #[arg(long = "header", short = 'H')]
        header: Vec<String>,
        #[command(flatten)]
        settings: PolicySettings,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Inject {
            files,
            proxy_image,
            control_plane_namespace,
            trust_domain,
            trust_anchors,
        } => {
            let trust_anchors = match trust_anchors {
                Some(path) => std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?,
                None => tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("starting the runtime")?
                    .block_on(weft_cli::inject::cluster_anchors(&control_plane_namespace))?,
            };
            let cfg = InjectConfig {
                proxy_image,
                control_plane_namespace,
                trust_domain,
                trust_anchors,
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
        Command::Check {
            pre,
            output,
            control_plane_namespace,
        } => {
            let lines = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the runtime")?
                .block_on(async {
                    match kube::Client::try_default().await {
                        Ok(client) if pre => weft_cli::check::cluster::pre(&client).await,
                        Ok(client) => {
                            weft_cli::check::cluster::post(&client, &control_plane_namespace).await
                        }
                        Err(e) => vec![weft_cli::check::Line::fail(
                            "API server",
                            format!("no cluster configured: {e}"),
                            "set KUBECONFIG or run inside a cluster",
                        )],
                    }
                });
            if output == "json" {
                let doc = serde_json::json!({
                    "ok": !weft_cli::check::failed(&lines),
                    "checks": lines,
                });
                println!("{}", serde_json::to_string_pretty(&doc)?);
            } else {
                print!("{}", weft_cli::check::render(&lines));
            }
            if weft_cli::check::failed(&lines) {
                std::process::exit(1);
            }
        }
        Command::Uninstall {
            control_plane_namespace,
            release,
            crds,
            dry_run,
        } => {
            let o = weft_cli::uninstall::Options {
                control_plane_namespace,
                release,
                crds,
                dry_run,
                ..Default::default()
            };
            let n = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the runtime")?
                .block_on(async {
                    let client = kube::Client::try_default()
                        .await
                        .context("connecting to the cluster (kubeconfig or in-cluster config)")?;
                    weft_cli::uninstall::run(&client, &o, &mut |line| eprintln!("{line}")).await
                })?;
            if dry_run {
                eprintln!("{n} object(s) would be deleted (dry run: nothing was)");
            } else {
                eprintln!(
                    "weft removed ({n} object(s)); restart meshed workloads to drop their sidecars"
                );
            }
        }
        Command::Authz {
            command:
                AuthzCommand::Explain {
                    from,
                    to,
                    port,
                    tcp,
                    method,
                    path,
                    header,
                    settings,
                },
        } => {
            let (namespace, pod) = to
                .split_once('/')
                .filter(|(n, p)| !n.is_empty() && !p.is_empty())
                .with_context(|| format!("--to {to:?}: expected <namespace>/<pod>"))?;
            let traffic = if tcp {
                weft_cli::explain::Traffic::Tcp
            } else {
                let headers = header
                    .iter()
                    .map(|h| {
                        h.split_once(':')
                            .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
                            .with_context(|| format!("--header {h:?}: expected `name: value`"))
                    })
                    .collect::<anyhow::Result<_>>()?;
                weft_cli::explain::Traffic::Http {
                    method: method.to_uppercase(),
                    path,
                    headers,
                }
            };
            let q = weft_cli::explain::Question {
                source: from,
                namespace: namespace.into(),
                pod: pod.into(),
                port,
                traffic,
            };
            let settings = weft_cli::cluster::Settings::from(settings);
            let text = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the runtime")?
                .block_on(weft_cli::cluster::explain(&settings, &q))?;
            print!("{text}");
        }
        Command::Stat {
            resource,
            scope,
            selector,
        } => stat(&resource, scope, selector, false)?,
        Command::Edges { resource, scope } => stat(&resource, scope, None, true)?,
        Command::Dashboard {
            namespaces,
            port,
            no_browser,
            settings,
        } => {
            let settings = weft_cli::cluster::Settings::from(settings);
            multi_thread()?.block_on(async {
                let client = connect().await?;
                let source =
                    std::sync::Arc::new(weft_cli::dashboard::load::Cluster { client, settings });
                let mut url = String::new();
                let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
                weft_cli::dashboard::run(source, addr, |at| {
                    url = at.to_string();
                    if !namespaces.is_empty() {
                        url.push_str(&format!("?namespaces={}", namespaces.join(",")));
                    }
                    eprintln!("weft dashboard at {url} (Ctrl-C to stop)");
                    if !no_browser {
                        open_browser(&url);
                    }
                })
                .await
            })?;
        }
        Command::Policy {
            command:
                PolicyCommand::Suggest {
                    namespaces,
                    workload,
                    span,
                    output,
                    settings,
                },
        } => {
            let span = weft_api::duration::parse(&span)
                .map_err(|e| anyhow::anyhow!("--for {span:?}: {e}"))?;
            let only = match &workload {
                None => None,
                Some(w) => {
                    let [ns] = namespaces.as_slice() else {
                        anyhow::bail!("--workload needs exactly one namespace (-n)");
                    };
                    Some(workload_id(ns, w)?)
                }
            };
            let req = weft_cli::suggest::read::Request {
                namespaces,
                only,
                span,
                every: std::time::Duration::from_secs(15),
            };
            let settings = weft_cli::cluster::Settings::from(settings);
            let s = multi_thread()?.block_on(async {
                let client = connect().await?;
                let cluster = weft_cli::dashboard::load::Cluster { client, settings };
                weft_cli::suggest::read::observe(&cluster, &req, &mut |l| eprintln!("{l}")).await
            })?;
            match output.as_str() {
                "json" => println!("{}", serde_json::to_string_pretty(&s.objects)?),
                _ => print!("{}", weft_cli::suggest::render_yaml(&s)),
            }
            if s.objects.is_empty() {
                eprintln!(
                    "nothing observed: is traffic flowing, and has weft-controller scraped the proxies (weft stat)?"
                );
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

/// Opens `url` in the desktop's browser; says so when it cannot.
/// Two worker threads: the dashboard serves while it reads, and reads run
/// several requests at once.
fn multi_thread() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the runtime")
}

async fn connect() -> anyhow::Result<kube::Client> {
    kube::Client::try_default()
        .await
        .context("connecting to the cluster (kubeconfig or in-cluster config)")
}

/// `deploy/web` in `ns` as the dashboard's workload id.
fn workload_id(ns: &str, w: &str) -> anyhow::Result<String> {
    use weft_cli::stat::{Kind, parse_target};
    let t = parse_target(w).map_err(|e| anyhow::anyhow!("--workload {w:?}: {e}"))?;
    match (t.kind, t.name) {
        (Kind::Pod | Kind::Deployment | Kind::StatefulSet | Kind::DaemonSet, Some(name)) => {
            Ok(weft_cli::dashboard::graph::id(ns, t.kind.name(), &name))
        }
        _ => anyhow::bail!(
            "--workload {w:?}: give KIND/NAME with a deploy, sts, ds or po, e.g. deploy/web"
        ),
    }
}

fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let opened = std::process::Command::new(opener)
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if opened.is_err() {
        eprintln!("could not start {opener}; open {url} yourself");
    }
}

/// `weft stat` and `weft edges`: one request, then a table or JSON.
fn stat(
    resource: &str,
    scope: StatScope,
    selector: Option<String>,
    edges: bool,
) -> anyhow::Result<()> {
    use weft_cli::stat;
    let target = stat::parse_target(resource).map_err(anyhow::Error::msg)?;
    let (query, rows) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?
        .block_on(async {
            let mut config = kube::Config::infer()
                .await
                .context("connecting to the cluster (kubeconfig or in-cluster config)")?;
            // kube retries a 503 with backoff for minutes; a metrics API
            // that is not up yet should be said at once, not waited out.
            config.default_retry = false;
            let ns = scope
                .namespace
                .unwrap_or_else(|| config.default_namespace.clone());
            let client = kube::Client::try_from(config).context("building the API client")?;
            let query =
                stat::Query::new(target, ns, selector, edges).map_err(anyhow::Error::msg)?;
            let rows = stat::fetch(&client, &query).await?;
            anyhow::Ok((query, rows))
        })?;
    if scope.output == "json" {
        println!("{}", stat::render::json(&rows));
    } else if rows.is_empty() {
        // Like kubectl: the empty answer on stderr, so stdout stays a table.
        eprintln!("no traffic metrics for {}", query.describe());
    } else if edges {
        print!("{}", stat::render::edges_table(&rows));
    } else {
        print!("{}", stat::render::stat_table(&rows, query.target.kind));
    }
    Ok(())
}
