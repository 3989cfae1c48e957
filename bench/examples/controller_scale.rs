//! Benchmark (not a test): the whole weft-controller process against the
//! real API server of `$KUBECONFIG` (the e2e cluster) at scale.
//!
//! `make bench-controller` (or `cargo run --release -p weft-bench --example
//! controller_scale -- --bin-dir <dir with release weft-identity and
//! weft-controller> [--pods N --services N --targets N --streams N --rounds N]`).
//!
//! 1. Creates, in a fresh namespace: 100 ServiceAccounts, `--pods` meshed
//!    pods held back from scheduling (a scheduling gate, so nothing runs),
//!    `--services` Services with an EndpointSlice of 10 endpoints each,
//!    and `--targets` TrafficTargets.
//! 2. Starts the real weft-identity (evaluation PKI in a temporary
//!    directory) and weft-controller, which gets its certificate through
//!    Certify and syncs every watch.
//! 3. Opens `--streams` InboundPolicy streams as the proxies of the first
//!    `--streams` pods would (a certificate from Certify, TokenRequest token).
//! 4. `--rounds` times: applies one TrafficTarget naming those pods and
//!    records when the change reaches each stream. The baseline is the same
//!    change seen by a plain watch on the API server, in the same run.
//!
//! Prints sync time, the controller's RSS, and latency percentiles with the
//! ratio to the baseline. Bounded: every wait has a deadline; the namespace
//! is deleted at the end.

use anyhow::{Context as _, bail};
use futures::{StreamExt as _, TryStreamExt as _, stream};
use k8s_openapi::api::{
    authentication::v1::{TokenRequest, TokenRequestSpec},
    core::v1::{Namespace, Pod, Service, ServiceAccount},
    discovery::v1::EndpointSlice,
};
use kube::{
    Api, Client,
    api::{DeleteParams, DynamicObject, Patch, PatchParams, PostParams},
    runtime::{WatchStreamExt as _, watcher},
};
use serde_json::json;
use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};
use tokio::{process::Command, time::Instant};
use weft_api::{
    contract::{pod as contract_pod, token},
    identity::CertifyRequest,
    policy::{InboundPolicyRequest, inbound_policy_client::InboundPolicyClient},
};
use weft_controller::kinds::read_resource;
use weft_k8s_api::{access, specs};
use weft_runtime::grpc::ChannelConfig;
use weft_tls::{
    AnchorStore, Certifier, CredStore, Credentials, GrpcCertifier, MeshTls, SpiffeId, WorkloadKey,
};

const DEADLINE: Duration = Duration::from_secs(300);
const CONCURRENCY: usize = 32;
const SERVICE_ACCOUNTS: usize = 100;

struct Args {
    bin_dir: PathBuf,
    pods: usize,
    services: usize,
    targets: usize,
    streams: usize,
    rounds: usize,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        bin_dir: PathBuf::new(),
        pods: 10_000,
        services: 1_000,
        targets: 2_000,
        streams: 1_000,
        rounds: 5,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--bin-dir" => a.bin_dir = value()?.into(),
            "--pods" => a.pods = value()?.parse()?,
            "--services" => a.services = value()?.parse()?,
            "--targets" => a.targets = value()?.parse()?,
            "--streams" => a.streams = value()?.parse()?,
            "--rounds" => a.rounds = value()?.parse()?,
            other => bail!("unknown flag {other}; see the example's doc comment"),
        }
    }
    if a.bin_dir.as_os_str().is_empty() {
        bail!("--bin-dir <dir holding release weft-identity and weft-controller> is required");
    }
    a.streams = a.streams.min(a.pods);
    Ok(a)
}

fn from<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).expect("a valid object")
}

fn pod_sa(i: usize, streams: usize) -> String {
    if i < streams {
        "dst".into()
    } else {
        format!("sa-{}", i % SERVICE_ACCOUNTS)
    }
}

/// Creates `n` objects with bounded concurrency, printing progress.
async fn create_all<K, F>(what: &str, api: &Api<K>, n: usize, make: F) -> anyhow::Result<()>
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
    F: Fn(usize) -> K,
{
    let t0 = Instant::now();
    let mut done = 0;
    let mut s = stream::iter((0..n).map(|i| {
        let obj = make(i);
        async move { api.create(&PostParams::default(), &obj).await.map(|_| ()) }
    }))
    .buffer_unordered(CONCURRENCY);
    while let Some(r) = s.next().await {
        r.with_context(|| format!("creating {what}"))?;
        done += 1;
        if done % 1000 == 0 || done == n {
            eprintln!(
                "  {what}: {done}/{n} ({:.0}/s)",
                done as f64 / t0.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}

async fn populate(client: &Client, ns: &str, a: &Args) -> anyhow::Result<()> {
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    create_all("ServiceAccounts", &sas, SERVICE_ACCOUNTS + 1, |i| {
        let name = if i == SERVICE_ACCOUNTS {
            "dst".into()
        } else {
            format!("sa-{i}")
        };
        from(json!({"metadata": {"name": name}}))
    })
    .await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    create_all("Pods", &pods, a.pods, |i| {
        from(json!({
            "metadata": {"name": format!("pod-{i}"), "labels": {"app": format!("svc-{}", i % a.services.max(1))}},
            "spec": {
                "serviceAccountName": pod_sa(i, a.streams),
                // Never scheduled: the benchmark measures the control plane.
                "schedulingGates": [{"name": "weft.io/bench"}],
                "initContainers": [{"name": contract_pod::PROXY_CONTAINER, "image": "weft/pause:e2e",
                                    "restartPolicy": "Always"}],
                "containers": [{"name": "app", "image": "weft/pause:e2e",
                                "ports": [{"containerPort": 8080}],
                                "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}}}]
            }
        }))
    })
    .await?;
    let svcs: Api<Service> = Api::namespaced(client.clone(), ns);
    create_all("Services", &svcs, a.services, |i| {
        from(json!({
            "metadata": {"name": format!("svc-{i}")},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
        }))
    })
    .await?;
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), ns);
    create_all("EndpointSlices", &slices, a.services, |i| {
        let endpoints: Vec<_> = (0..10)
            .map(|k| {
                let p = (i + k * a.services) % a.pods.max(1);
                json!({"addresses": [format!("10.{}.{}.{}", 100 + p / 65536, (p / 256) % 256, p % 256)],
                       "conditions": {"ready": true},
                       "targetRef": {"kind": "Pod", "name": format!("pod-{p}"), "namespace": ns}})
            })
            .collect();
        from(json!({
            "metadata": {"name": format!("svc-{i}-1"), "labels": {"kubernetes.io/service-name": format!("svc-{i}")}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": endpoints
        }))
    })
    .await?;
    let tcp = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        ns,
        &read_resource::<specs::TCPRoute>(specs::VERSION),
    );
    tcp.create(
        &PostParams::default(),
        &from(
            json!({"apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "TCPRoute",
                     "metadata": {"name": "app"}, "spec": {"matches": {"ports": [8080]}}}),
        ),
    )
    .await
    .context("creating the TCPRoute")?;
    let tts = tt_api(client, ns);
    create_all("TrafficTargets", &tts, a.targets, |i| {
        traffic_target(
            &format!("tt-{i}"),
            &format!("sa-{}", i % SERVICE_ACCOUNTS),
            &format!("sa-{}", (i + 1) % SERVICE_ACCOUNTS),
        )
    })
    .await
}

fn tt_api(client: &Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(
        client.clone(),
        ns,
        &read_resource::<access::TrafficTarget>(access::VERSION),
    )
}

fn traffic_target(name: &str, dst: &str, src: &str) -> DynamicObject {
    from(json!({
        "apiVersion": "access.smi-spec.io/v1alpha3", "kind": "TrafficTarget",
        "metadata": {"name": name},
        "spec": {"destination": {"kind": "ServiceAccount", "name": dst},
                 "sources": [{"kind": "ServiceAccount", "name": src}],
                 "rules": [{"kind": "TCPRoute", "name": "app"}]}
    }))
}

async fn token_for(client: &Client, ns: &str, sa: &str) -> anyhow::Result<String> {
    let req = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec![token::AUDIENCE.into()],
            expiration_seconds: Some(token::EXPIRATION_SECONDS),
            ..Default::default()
        },
        ..Default::default()
    };
    let rsp = Api::<ServiceAccount>::namespaced(client.clone(), ns)
        .create_token_request(sa, &PostParams::default(), &req)
        .await
        .with_context(|| format!("a token for {ns}/{sa}"))?;
    Ok(rsp.status.map(|s| s.token).unwrap_or_default())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `GET /ready` on an admin port: true on 200.
async fn ready(port: u16) -> bool {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let _ = s.write_all(b"GET /ready HTTP/1.0\r\nHost: x\r\n\r\n").await;
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).await.unwrap_or(0);
    buf[..n].starts_with(b"HTTP/1.0 200") || buf[..n].starts_with(b"HTTP/1.1 200")
}

async fn wait_ready(
    what: &str,
    port: u16,
    child: &mut tokio::process::Child,
) -> anyhow::Result<Duration> {
    let t0 = Instant::now();
    while !ready(port).await {
        if let Some(status) = child.try_wait()? {
            bail!("{what} exited with {status} before it was ready");
        }
        if t0.elapsed() > DEADLINE {
            bail!("{what} not ready within {DEADLINE:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(t0.elapsed())
}

fn rss_mib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .context("no VmRSS")?
        .parse()?;
    Ok(kb / 1024.0)
}

fn spawn(bin: &Path, args: &[String], log: &Path) -> anyhow::Result<tokio::process::Child> {
    let out = std::fs::File::create(log)?;
    Command::new(bin)
        .args(args)
        .stdout(Stdio::from(out.try_clone()?))
        .stderr(Stdio::from(out))
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))
}

/// Credentials for the proxies of `ns/dst`, through the real Certify.
async fn bench_credentials(
    cp: &str,
    identity: u16,
    anchors: &AnchorStore,
    id: &SpiffeId,
    token: String,
) -> anyhow::Result<Credentials> {
    let identity_id: SpiffeId =
        format!("spiffe://cluster.local/ns/{cp}/sa/weft-identity").parse()?;
    let certifier = GrpcCertifier::new(weft_tls::tls_channel(
        &format!("127.0.0.1:{identity}"),
        weft_tls::identity_client_config(anchors, &identity_id),
        &ChannelConfig::default(),
    )?);
    let key = WorkloadKey::generate()?;
    let rsp = certifier
        .certify(CertifyRequest {
            identity: id.to_string(),
            token: token.into_bytes(),
            certificate_signing_request: key.csr_der(id)?,
        })
        .await?;
    let mut chain = vec![rsp.leaf_certificate.into()];
    chain.extend(rsp.intermediate_certificates.into_iter().map(Into::into));
    Ok(Credentials::new(
        id.clone(),
        &key,
        chain,
        std::time::SystemTime::now(),
        std::time::SystemTime::now() + Duration::from_secs(3600),
    ))
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 * p) as usize).min(v.len() - 1)]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = args()?;
    let client = Client::try_default()
        .await
        .context("no cluster: run `make cluster-up` and `eval \"$(e2e/cluster/env)\"`")?;
    let ns = format!("weft-bench-{:06x}", rand::random::<u32>() & 0xffffff);
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &from(json!({"metadata": {"name": ns}})),
    )
    .await?;
    let result = run(&client, &ns, &a).await;
    eprintln!("deleting namespace {ns} (in the background)");
    let _ = nss.delete(&ns, &DeleteParams::default()).await;
    result
}

async fn run(client: &Client, ns: &str, a: &Args) -> anyhow::Result<()> {
    eprintln!(
        "creating {} pods, {} services, {} TrafficTargets in {ns}",
        a.pods, a.services, a.targets
    );
    populate(client, ns, a).await?;

    // The control plane runs "in" the benchmark's namespace (its
    // ServiceAccount and SPIFFE ids), so deleting the namespace removes
    // everything the benchmark made, and an installed weft is untouched.
    let cp = ns;
    Api::<ServiceAccount>::namespaced(client.clone(), cp)
        .create(
            &PostParams::default(),
            &from(json!({"metadata": {"name": "weft-controller"}})),
        )
        .await?;

    let dir = std::env::temp_dir().join(format!("weft-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let anchors_file = dir.join("pki/ca-bundle.pem");
    let token_file = dir.join("controller-token");
    std::fs::write(&token_file, token_for(client, cp, "weft-controller").await?)?;
    let (identity_port, identity_admin, ctl_port, ctl_admin) =
        (free_port()?, free_port()?, free_port()?, free_port()?);
    let s = |v: &str| v.to_string();
    let mut identity = spawn(
        &a.bin_dir.join("weft-identity"),
        &[
            s("--generate-evaluation-pki"),
            s("--control-plane-namespace"),
            cp.to_string(),
            s("--trust-anchors"),
            anchors_file.display().to_string(),
            s("--issuer-cert"),
            dir.join("pki/tls.crt").display().to_string(),
            s("--issuer-key"),
            dir.join("pki/tls.key").display().to_string(),
            s("--listen-addr"),
            format!("127.0.0.1:{identity_port}"),
            s("--admin-addr"),
            format!("127.0.0.1:{identity_admin}"),
        ],
        &dir.join("identity.log"),
    )?;
    wait_ready("weft-identity", identity_admin, &mut identity).await?;

    let mut controller = spawn(
        &a.bin_dir.join("weft-controller"),
        &[
            s("--control-plane-namespace"),
            cp.to_string(),
            s("--identity-addr"),
            format!("127.0.0.1:{identity_port}"),
            s("--token-file"),
            token_file.display().to_string(),
            s("--trust-anchors"),
            anchors_file.display().to_string(),
            s("--listen-addr"),
            format!("127.0.0.1:{ctl_port}"),
            s("--admin-addr"),
            format!("127.0.0.1:{ctl_admin}"),
            s("--cluster-networks"),
            s("10.0.0.0/8"),
        ],
        &dir.join("controller.log"),
    )?;
    let pid = controller.id().context("controller pid")?;
    let sync = wait_ready("weft-controller", ctl_admin, &mut controller)
        .await
        .with_context(|| format!("see {}", dir.join("controller.log").display()))?;
    let rss_synced = rss_mib(pid)?;
    eprintln!(
        "controller ready (synced, certified, serving) after {sync:?}, RSS {rss_synced:.1} MiB"
    );

    // The proxies of the first `streams` pods, all running as ns/dst.
    let anchors = AnchorStore::from_file(&anchors_file)?;
    let dst: SpiffeId = format!("spiffe://cluster.local/ns/{ns}/sa/dst").parse()?;
    let creds = CredStore::new();
    creds.publish(std::sync::Arc::new(
        bench_credentials(
            cp,
            identity_port,
            &anchors,
            &dst,
            token_for(client, ns, "dst").await?,
        )
        .await?,
    ));
    let ctl_id: SpiffeId = format!("spiffe://cluster.local/ns/{ns}/sa/weft-controller").parse()?;
    let tls =
        MeshTls::new("cluster.local".parse()?, anchors, creds).control_plane_client_config(&ctl_id);
    let channels: Vec<_> = (0..10)
        .map(|_| {
            weft_tls::tls_channel(
                &format!("127.0.0.1:{ctl_port}"),
                tls.clone(),
                &ChannelConfig::default(),
            )
        })
        .collect::<Result<_, _>>()?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    let t_open = Instant::now();
    stream::iter(0..a.streams)
        .map(|i| {
            let mut c = InboundPolicyClient::new(channels[i % channels.len()].clone());
            let tx = tx.clone();
            let ns = ns.to_string();
            async move {
                let mut s = c
                    .watch(InboundPolicyRequest {
                        namespace: ns,
                        pod: format!("pod-{i}"),
                        port: 8080,
                    })
                    .await?
                    .into_inner();
                s.message().await?.context("no first policy")?;
                tokio::spawn(async move {
                    while let Ok(Some(u)) = s.message().await {
                        let now = Instant::now();
                        for auth in u.authorizations {
                            for id in auth.clients.map(|c| c.identities).unwrap_or_default() {
                                let _ = tx.send((id, now));
                            }
                        }
                    }
                });
                anyhow::Ok(())
            }
        })
        .buffer_unordered(64)
        .try_collect::<Vec<_>>()
        .await?;
    eprintln!(
        "{} streams open with a first policy after {:?}",
        a.streams,
        t_open.elapsed()
    );

    // Baseline: a plain watch on TrafficTargets in the same namespace.
    let (btx, mut brx) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    let base_api = tt_api(client, ns);
    tokio::spawn(async move {
        let w = watcher(base_api, watcher::Config::default()).applied_objects();
        tokio::pin!(w);
        while let Some(Ok(o)) = w.next().await {
            let _ = btx.send((o.metadata.name.unwrap_or_default(), Instant::now()));
        }
    });

    let tts = tt_api(client, ns);
    let (mut lat, mut base) = (Vec::new(), Vec::new());
    for round in 0..a.rounds {
        let name = format!("bench-change-{round}");
        let src = format!("sa-{}", round % SERVICE_ACCOUNTS);
        let want = format!("spiffe://cluster.local/ns/{ns}/sa/{src}");
        while rx.try_recv().is_ok() {}
        let t0 = Instant::now();
        tts.patch(
            &name,
            &PatchParams::apply("weft-bench").force(),
            &Patch::Apply(traffic_target(&name, "dst", &src)),
        )
        .await?;
        let mut seen = 0;
        let mut round_lat = Vec::new();
        // Each stream sends every authorization; count one arrival of the
        // new source per stream (later rounds resend earlier sources).
        let deadline = t0 + Duration::from_secs(30);
        while seen < a.streams {
            let (id, at) = tokio::time::timeout_at(deadline, rx.recv())
                .await
                .with_context(|| {
                    format!("round {round}: {seen}/{} streams got the change", a.streams)
                })?
                .context("streams closed")?;
            if id == want {
                seen += 1;
                round_lat.push(at - t0);
            }
        }
        loop {
            let (n, at) = tokio::time::timeout_at(deadline, brx.recv())
                .await?
                .context("baseline watch ended")?;
            if n == name {
                base.push(at - t0);
                break;
            }
        }
        eprintln!(
            "round {round}: {} streams, slowest {:?}",
            round_lat.len(),
            round_lat.iter().max().unwrap()
        );
        lat.extend(round_lat);
        // The TrafficTargets on dst add up, as in a growing namespace: each
        // round's policy message is one authorization longer.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let rss_streams = rss_mib(pid)?;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "controller benchmark: {} pods, {} services, {} TrafficTargets, {} streams, {} rounds (2 shared cores, API server on the same machine)",
        a.pods, a.services, a.targets, a.streams, a.rounds
    );
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| start to ready (list every kind, certificate, bind) | {:.2} s |",
        sync.as_secs_f64()
    );
    println!("| RSS after sync | {rss_synced:.1} MiB |");
    println!("| RSS with {} streams | {rss_streams:.1} MiB |", a.streams);
    let (p50, p99, max) = (pct(&mut lat, 0.50), pct(&mut lat, 0.99), pct(&mut lat, 1.0));
    println!(
        "| TrafficTarget apply → all streams: p50 / p99 / max | {:.1} / {:.1} / {:.1} ms |",
        ms(p50),
        ms(p99),
        ms(max)
    );
    let (b50, b99) = (pct(&mut base, 0.50), pct(&mut base, 0.99));
    println!(
        "| baseline: apply → plain API watch: p50 / p99 | {:.1} / {:.1} ms |",
        ms(b50),
        ms(b99)
    );
    println!(
        "controller/baseline p99: {:.2}x",
        p99.as_secs_f64() / b99.as_secs_f64()
    );
    let _ = controller.kill().await;
    let _ = identity.kill().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
