//! Meshed test workloads: a namespace marked for injection, testapp server
//! pods, and client pods run to completion whose app log the tests read.

use crate::apply;
use anyhow::Context as _;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, LogParams, Patch, PatchParams};
use serde_json::json;
use std::{collections::BTreeMap, time::Duration};
use tokio::time::Instant;
use weft_api::contract::annotations as a;

/// Pods start, pull nothing, and their proxies fetch a certificate; a
/// refused `testapp get` retries for about ten seconds before it gives up.
pub const POD_DONE: Duration = Duration::from_secs(120);

/// Annotates `ns` for injection, with `extra` annotations (say, a default
/// policy), and creates the ServiceAccounts `sas`.
pub async fn mesh_namespace(
    client: &kube::Client,
    ns: &str,
    extra: &[(&str, &str)],
    sas: &[&str],
) -> anyhow::Result<()> {
    let mut annotations = serde_json::Map::new();
    annotations.insert(a::INJECT.into(), a::INJECT_ENABLED.into());
    for (k, v) in extra {
        annotations.insert((*k).into(), (*v).into());
    }
    Api::<Namespace>::all(client.clone())
        .patch(
            ns,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": annotations}})),
        )
        .await
        .with_context(|| format!("annotating namespace {ns}"))?;
    for sa in sas {
        apply(
            client,
            ns,
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa}}),
        )
        .await?;
    }
    Ok(())
}

/// A `testapp serve` pod on port 8080 answering "hello from `name`", with
/// a readiness probe: under a TrafficTarget or a `deny` default, Ready also
/// proves the kubelet's probe is let through.
pub async fn server_pod(
    client: &kube::Client,
    ns: &str,
    name: &str,
    sa: &str,
    labels: serde_json::Value,
) -> anyhow::Result<()> {
    apply(client, ns, json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {"serviceAccountName": sa,
                 "containers": [{"name": "app", "image": "weft/testapp:e2e", "imagePullPolicy": "Never",
                                 "args": ["serve"], "env": [{"name": "POD_NAME", "value": name}],
                                 "ports": [{"containerPort": 8080}],
                                 "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080},
                                                    "periodSeconds": 1}}]}
    }))
    .await
}

/// A Service `name` on port 80 selecting `selector`, to the pods' 8080.
pub async fn service(
    client: &kube::Client,
    ns: &str,
    name: &str,
    selector: serde_json::Value,
) -> anyhow::Result<()> {
    apply(client, ns, json!({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
        "spec": {"selector": selector, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
    }))
    .await
}

/// Waits until every pod in `names` is Ready (its proxy certified and
/// holding policy), logging how long it took.
pub async fn wait_ready(client: &kube::Client, ns: &str, names: &[&str]) -> anyhow::Result<()> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let t0 = Instant::now();
    for name in names {
        loop {
            let ready = pods
                .get_opt(name)
                .await?
                .and_then(|p| p.status)
                .and_then(|s| s.conditions)
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
            if ready {
                break;
            }
            anyhow::ensure!(
                t0.elapsed() < POD_DONE,
                "{ns}/{name} not Ready after {POD_DONE:?}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    eprintln!("{names:?} Ready after {:?}", t0.elapsed());
    Ok(())
}

/// Runs a testapp client pod `name` under ServiceAccount `sa` with `args`
/// until it ends; its phase and app log.
pub async fn run_to_end(
    client: &kube::Client,
    ns: &str,
    name: &str,
    sa: &str,
    args: &[&str],
) -> anyhow::Result<(String, String)> {
    start_client(client, ns, name, sa, args).await?;
    wait_ended(client, ns, name).await
}

/// Starts a testapp client pod without waiting for it.
pub async fn start_client(
    client: &kube::Client,
    ns: &str,
    name: &str,
    sa: &str,
    args: &[&str],
) -> anyhow::Result<()> {
    apply(client, ns, json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"serviceAccountName": sa, "restartPolicy": "Never",
                 "containers": [{"name": "app", "image": "weft/testapp:e2e", "imagePullPolicy": "Never",
                                 "args": args}]}
    }))
    .await
}

/// Waits until pod `name` has Succeeded or Failed; its phase and app log.
pub async fn wait_ended(
    client: &kube::Client,
    ns: &str,
    name: &str,
) -> anyhow::Result<(String, String)> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let t0 = Instant::now();
    let phase = loop {
        let phase = pods
            .get(name)
            .await?
            .status
            .and_then(|s| s.phase)
            .unwrap_or_default();
        if phase == "Succeeded" || phase == "Failed" {
            break phase;
        }
        anyhow::ensure!(
            t0.elapsed() < POD_DONE,
            "{ns}/{name} still {phase:?} after {POD_DONE:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let lp = LogParams {
        container: Some("app".into()),
        ..Default::default()
    };
    let log = pods.logs(name, &lp).await.unwrap_or_default();
    eprintln!("{name}: {phase} after {:?}:\n{}", t0.elapsed(), log.trim());
    Ok((phase, log))
}

/// Ends the load that pod `name` runs (`testapp stop-load`): it prints
/// its summary for what it sent, and the pod Succeeds.
pub async fn stop_load(ns: &str, name: &str) -> anyhow::Result<()> {
    crate::release::run(
        "kubectl",
        &[
            "-n",
            ns,
            "exec",
            name,
            "-c",
            "app",
            "--",
            "/testapp",
            "stop-load",
        ],
    )?;
    Ok(())
}

/// Fails unless pod `name` is still running: proof that its load spans
/// what the test did meanwhile (`during`).
pub async fn still_running(
    client: &kube::Client,
    ns: &str,
    name: &str,
    during: &str,
) -> anyhow::Result<()> {
    let phase = Api::<Pod>::namespaced(client.clone(), ns)
        .get(name)
        .await?
        .status
        .and_then(|s| s.phase)
        .unwrap_or_default();
    anyhow::ensure!(
        phase == "Running",
        "{ns}/{name} ended ({phase}) before {during} did: lengthen its load"
    );
    Ok(())
}

/// The TCPRoute `app`: port 8080, where every [`server_pod`] listens.
pub async fn app_tcp_route(client: &kube::Client, ns: &str) -> anyhow::Result<()> {
    apply(
        client,
        ns,
        json!({
            "apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "TCPRoute",
            "metadata": {"name": "app"}, "spec": {"matches": {"ports": [8080]}}
        }),
    )
    .await
}

/// A TrafficTarget `name` granting ServiceAccount `source` the `server`
/// ServiceAccount's [`app_tcp_route`].
pub fn tcp_grant(name: &str, source: &str) -> serde_json::Value {
    json!({
        "apiVersion": "access.smi-spec.io/v1alpha3", "kind": "TrafficTarget",
        "metadata": {"name": name},
        "spec": {"destination": {"kind": "ServiceAccount", "name": "server"},
                 "sources": [{"kind": "ServiceAccount", "name": source}],
                 "rules": [{"kind": "TCPRoute", "name": "app"}]}
    })
}

/// What `testapp load` reported.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub ok: u32,
    pub failed: u32,
    /// Successful answers by the pod that gave them.
    pub from: BTreeMap<String, u32>,
    pub errors: Vec<String>,
}

impl LoadReport {
    /// Parses the summary `testapp load` prints; fails when there is none
    /// (the pod did not get to report).
    pub fn parse(log: &str) -> anyhow::Result<Self> {
        let mut r = LoadReport::default();
        let mut seen = false;
        for line in log.lines() {
            let (key, rest) = line.split_once(' ').unwrap_or((line, ""));
            match key {
                "ok" => {
                    r.ok = rest.parse()?;
                    seen = true;
                }
                "failed" => r.failed = rest.parse()?,
                "from" => {
                    let (pod, n) = rest.rsplit_once(' ').context("from line")?;
                    r.from.insert(pod.into(), n.parse()?);
                }
                "error" => r.errors.push(rest.into()),
                _ => {}
            }
        }
        anyhow::ensure!(seen, "no load summary in the log:\n{log}");
        Ok(r)
    }

    /// Answers from pods whose name starts with `prefix`.
    pub fn from_prefix(&self, prefix: &str) -> u32 {
        self.from
            .iter()
            .filter(|(pod, _)| pod.starts_with(prefix))
            .map(|(_, n)| n)
            .sum()
    }
}

/// How long proxies that outlived their controller may take to follow the
/// new one. Cluster DNS keeps the answer "no such Service" from while the
/// controller's Service was gone for up to 30 s (CoreDNS `cache 30` and
/// `ttl 30`, as kubeadm configures it), and a proxy's resubscribe backoff
/// peaks at 10 s; docs/install.md ("Reinstalling") states the bound.
pub const RECONNECT: Duration = Duration::from_secs(60);

/// A TrafficTarget for ServiceAccount `late` applied now reaches the proxies
/// of `server` within [`RECONNECT`]: a pod of that account, created now,
/// gets through (pods `late`, `late-2`, ... until one does). Proves the
/// running proxies follow the control plane of the moment `after` what the
/// suite did.
pub async fn a_late_grant_takes_effect(
    client: &kube::Client,
    ns: &str,
    after: &str,
) -> anyhow::Result<()> {
    apply(client, ns, tcp_grant("late", "late")).await?;
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let name = match attempt {
            1 => "late".to_string(),
            n => format!("late-{n}"),
        };
        let (phase, log) =
            run_to_end(client, ns, &name, "late", &["get", "http://server/"]).await?;
        if phase == "Succeeded" {
            eprintln!("the grant took effect {:?} after it was made", t0.elapsed());
            return Ok(());
        }
        if t0.elapsed() >= RECONNECT {
            // Which side is stale decides the fix: the servers' proxies (no
            // stream to the new controller) or the controller (no grant).
            print_logs(&[
                (ns, "server-0", "weft-proxy"),
                (ns, "server-1", "weft-proxy"),
                ("weft-system", "deploy/weft-controller", "controller"),
            ]);
            anyhow::bail!(
                "a grant made after {after} did not reach the pods meshed before it in {:?}: {log}",
                t0.elapsed()
            );
        }
    }
}

/// Prints the last lines of each (namespace, pod or `deploy/name`,
/// container) log, for a failure's diagnosis; a log that cannot be read
/// says why instead.
pub fn print_logs(targets: &[(&str, &str, &str)]) {
    for (ns, target, container) in targets {
        let log = crate::release::run(
            "kubectl",
            &[
                "logs",
                "-n",
                ns,
                target,
                "-c",
                container,
                "--tail=60",
                "--timestamps",
            ],
        )
        .unwrap_or_else(|e| format!("cannot read: {e:#}"));
        eprintln!("----- {ns}/{target} {container} -----\n{}", log.trim_end());
    }
}

/// Waits for the load client `pod` to end and fails unless it succeeded
/// with not one failed request `across` what the suite did meanwhile.
pub async fn no_request_failed(
    client: &kube::Client,
    ns: &str,
    pod: &str,
    across: &str,
) -> anyhow::Result<LoadReport> {
    let (phase, log) = wait_ended(client, ns, pod).await?;
    anyhow::ensure!(phase == "Succeeded", "{pod} ended {phase}: {log}");
    let r = LoadReport::parse(&log)?;
    eprintln!("load across {across}: {} ok, {} failed", r.ok, r.failed);
    anyhow::ensure!(
        r.failed == 0,
        "requests failed across {across}: {:?}",
        r.errors
    );
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_load_summary_parses() {
        let r = LoadReport::parse(
            "load http://s/: 3 requests in 1s\nok 2\nfailed 1\nfrom v1-a 1\nfrom v2-a 1\nerror 1× status 503: x y\n",
        )
        .unwrap();
        assert_eq!((r.ok, r.failed), (2, 1));
        assert_eq!(r.from_prefix("v1"), 1);
        assert_eq!(r.errors, vec!["1× status 503: x y".to_string()]);
        assert!(LoadReport::parse("testapp: dial error").is_err());
    }
}
