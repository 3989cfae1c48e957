//! SMI TrafficMetrics on the real cluster: after N successes and M
//! failures (503s from the app, and 403s the server's proxy answers for a
//! route no TrafficTarget grants) from Deployment `client` to Deployment
//! `server`, the API the kube-apiserver proxies to the controller reports
//! N and M on both ends of the edge and on the server, with ordered latency percentiles; a user
//! whose RBAC grants the metrics but not their edges is refused the
//! edges; `weft stat` and `weft edges` print the same numbers.
//!
//! The release is installed with two controller replicas (only the Lease
//! holder scrapes; the other forwards), a 2 s scrape interval and a 2 min
//! window so the counts stay in the window for the whole test.

use anyhow::Context as _;
use serde_json::{Value, json};
use std::time::Duration;
use weft_cli::stat::{Kind, Query, fetch, parse_target, render};
use weft_e2e::{
    apply, client,
    pods::{mesh_namespace, service},
    release::{install_with, run},
    with_temp_ns,
};

const SUCCESSES: u32 = 40;
/// 503s from the app.
const APP_ERRORS: u32 = 4;
/// 403s from the server's proxy: failures on both sides of the edge.
const DENIALS: u32 = 3;
const FAILURES: u32 = APP_ERRORS + DENIALS;
const API: &str = "/apis/metrics.smi-spec.io/v1alpha1";

/// A one-replica Deployment of testapp with `args`, no probes (a probe's
/// requests would count on the server too).
async fn deployment(
    client: &kube::Client,
    ns: &str,
    name: &str,
    args: &[&str],
) -> anyhow::Result<()> {
    apply(client, ns, json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                  "spec": {"serviceAccountName": name,
                           "containers": [{"name": "app", "image": "weft/testapp:e2e",
                                           "imagePullPolicy": "Never", "args": args,
                                           "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                                           "ports": [{"containerPort": 8080}]}]}}}
    }))
    .await
}

fn kubectl(args: &[&str]) -> anyhow::Result<String> {
    run("kubectl", args)
}

fn get_raw(path: &str, as_user: Option<&str>) -> anyhow::Result<Value> {
    let mut args = vec!["get", "--raw", path];
    let as_flag;
    if let Some(u) = as_user {
        as_flag = format!("--as={u}");
        args.push(&as_flag);
    }
    let out = kubectl(&args)?;
    serde_json::from_str(&out).with_context(|| format!("{path}: {out}"))
}

fn metric(m: &Value, name: &str) -> Option<String> {
    m["metrics"]
        .as_array()?
        .iter()
        .find(|x| x["name"] == name)
        .and_then(|x| x["value"].as_str())
        .map(str::to_string)
}

fn count(m: &Value, name: &str) -> u64 {
    metric(m, name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(u64::MAX)
}

/// A quantity such as `3`, `1500m` or `2.5` in milliseconds.
fn ms(v: &str) -> f64 {
    match v.strip_suffix('m') {
        Some(milli) => milli.parse::<f64>().unwrap_or(f64::NAN) / 1000.0,
        None => v.parse().unwrap_or(f64::NAN),
    }
}

fn percentiles(m: &Value) -> anyhow::Result<[f64; 3]> {
    let p = |n| {
        metric(m, n)
            .map(|v| ms(&v))
            .with_context(|| format!("{n} missing in {m}"))
    };
    Ok([
        p("p50_response_latency")?,
        p("p90_response_latency")?,
        p("p99_response_latency")?,
    ])
}

/// Polls `check` every second for up to `limit`.
async fn until<T>(
    what: &str,
    limit: Duration,
    mut check: impl FnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    let t0 = tokio::time::Instant::now();
    let mut last_err = String::new();
    loop {
        match check() {
            Ok(Some(v)) => {
                eprintln!("{what}: after {:?}", t0.elapsed());
                return Ok(v);
            }
            Ok(None) => {}
            Err(e) => last_err = format!("{e:#}"),
        }
        anyhow::ensure!(
            t0.elapsed() < limit,
            "{what}: not within {limit:?} (last error: {last_err})"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn exec_load(ns: &str, url: &str, n: u32) -> anyhow::Result<String> {
    let n = n.to_string();
    kubectl(&[
        "-n",
        ns,
        "exec",
        "deploy/client",
        "-c",
        "app",
        "--",
        "/testapp",
        "load",
        url,
        &n,
    ])
}

#[tokio::test]
async fn traffic_metrics_report_what_flowed() -> anyhow::Result<()> {
    let client = client().await?;
    install_with(&[
        "controller.replicas=2",
        "controller.metricsApi.scrapeInterval=2s",
        "controller.metricsApi.window=2m",
    ])?;
    let res = with_temp_ns(&client, |client, ns| async move {
        mesh_namespace(&client, &ns, &[], &["server", "client"]).await?;
        // `/` and `/status/…` granted; `/denied` matches no route.
        apply(&client, &ns, json!({
            "apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "HTTPRouteGroup",
            "metadata": {"name": "routes"},
            "spec": {"matches": [{"name": "root", "pathRegex": "/$"}, {"name": "status", "pathRegex": "/status/"}]}
        })).await?;
        apply(&client, &ns, json!({
            "apiVersion": "access.smi-spec.io/v1alpha3", "kind": "TrafficTarget",
            "metadata": {"name": "to-server"},
            "spec": {"destination": {"kind": "ServiceAccount", "name": "server"},
                     "sources": [{"kind": "ServiceAccount", "name": "client"}],
                     "rules": [{"kind": "HTTPRouteGroup", "name": "routes", "matches": ["root", "status"]}]}
        })).await?;
        deployment(&client, &ns, "server", &["serve"]).await?;
        deployment(&client, &ns, "client", &["sleep"]).await?;
        service(&client, &ns, "server", json!({"app": "server"})).await?;
        for d in ["server", "client"] {
            kubectl(&["-n", &ns, "rollout", "status", &format!("deploy/{d}"), "--timeout=180s"])?;
        }

        // Both proxies known to the scraper (a young proxy's baseline is its
        // start), so every request below lands inside a window.
        for d in ["server", "client"] {
            let path = format!("{API}/namespaces/{ns}/deployments/{d}");
            until(&format!("{d} scraped"), Duration::from_secs(90), || {
                let m = get_raw(&path, None)?;
                Ok((m["window"] != "0s").then_some(()))
            })
            .await?;
        }

        let ok = exec_load(&ns, "http://server/", SUCCESSES)?;
        anyhow::ensure!(ok.contains(&format!("ok {SUCCESSES}\n")), "{ok}");
        let bad = exec_load(&ns, "http://server/status/503", APP_ERRORS)?;
        anyhow::ensure!(bad.contains(&format!("failed {APP_ERRORS}\n")), "{bad}");
        let denied = exec_load(&ns, "http://server/denied", DENIALS)?;
        anyhow::ensure!(
            denied.contains(&format!("failed {DENIALS}\n")) && denied.contains("route-not-matched"),
            "{denied}"
        );

        // Two controller replicas, one scraping: the API server spreads
        // requests over both and every one gets the same answer.
        let server_path = format!("{API}/namespaces/{ns}/deployments/server");
        until("the counts in the window", Duration::from_secs(30), || {
            let m = get_raw(&server_path, None)?;
            Ok((count(&m, "success_count") == u64::from(SUCCESSES)).then_some(()))
        })
        .await?;
        for i in 0..12 {
            let m = get_raw(&server_path, None).with_context(|| format!("request {i}"))?;
            assert_eq!(count(&m, "success_count"), u64::from(SUCCESSES), "request {i}: {m}");
        }

        // The server's edges: what it served to Deployment client.
        let edges_path = format!("{API}/namespaces/{ns}/deployments/server/edges");
        let edge = until("the server's edge from client", Duration::from_secs(30), || {
            let list = get_raw(&edges_path, None)?;
            let edge = list["items"].as_array().into_iter().flatten().find(|e| {
                e["edge"]["direction"] == "from" && e["edge"]["resource"]["name"] == "client"
            });
            Ok(edge
                .filter(|e| count(e, "success_count") == u64::from(SUCCESSES) && count(e, "failure_count") == u64::from(FAILURES))
                .cloned())
        })
        .await;
        let edge = edge.with_context(|| format!("edges now: {}", get_raw(&edges_path, None).unwrap_or_default()))?;
        assert_eq!(edge["edge"]["resource"]["kind"], "Deployment", "{edge}");
        assert_eq!(edge["edge"]["side"], "server", "{edge}");
        assert_eq!(edge["resource"]["kind"], "Deployment");
        let [p50, p90, p99] = percentiles(&edge)?;
        assert!(0.0 < p50 && p50 <= p90 && p90 <= p99, "{p50} {p90} {p99}: {edge}");

        // The same traffic from the client's side.
        let client_edges = get_raw(&format!("{API}/namespaces/{ns}/deployments/client/edges"), None)?;
        let to_server = client_edges["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["edge"]["direction"] == "to" && e["edge"]["resource"]["name"] == "server")
            .with_context(|| format!("no edge to server: {client_edges}"))?;
        assert_eq!(to_server["edge"]["side"], "client");
        assert_eq!(count(to_server, "success_count"), u64::from(SUCCESSES), "{to_server}");
        assert_eq!(count(to_server, "failure_count"), u64::from(FAILURES), "{to_server}");

        // The server itself, and as one of its namespace's pods.
        let server = get_raw(&format!("{API}/namespaces/{ns}/deployments/server"), None)?;
        assert_eq!(server["kind"], "TrafficMetrics");
        assert_eq!(count(&server, "success_count"), u64::from(SUCCESSES), "{server}");
        assert_eq!(count(&server, "failure_count"), u64::from(FAILURES), "{server}");
        assert!(server["timestamp"].is_string() && server["window"] != "0s", "{server}");
        let pods = get_raw(&format!("{API}/namespaces/{ns}/pods?labelSelector=app%3Dserver"), None)?;
        let pods = pods["items"].as_array().context("pods list")?.clone();
        assert_eq!(pods.len(), 1, "{pods:?}");
        assert_eq!(count(&pods[0], "success_count"), u64::from(SUCCESSES));

        // RBAC: a user granted the deployments' metrics but not their edges.
        let user = "metrics-viewer";
        apply(&client, &ns, json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "metrics-no-edges"},
            "rules": [{"apiGroups": ["metrics.smi-spec.io"], "resources": ["deployments"], "verbs": ["get", "list"]}]
        }))
        .await?;
        apply(&client, &ns, json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "metrics-no-edges"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "metrics-no-edges"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]
        }))
        .await?;
        let allowed = until("the Role in effect", Duration::from_secs(10), || {
            Ok(get_raw(&format!("{API}/namespaces/{ns}/deployments/server"), Some(user)).ok())
        })
        .await?;
        assert_eq!(count(&allowed, "success_count"), u64::from(SUCCESSES));
        let refused = get_raw(&edges_path, Some(user)).expect_err("edges without RBAC on deployments/edges");
        assert!(format!("{refused:#}").contains("Forbidden") || format!("{refused:#}").contains("forbidden"), "{refused:#}");
        let nobody = get_raw(&format!("{API}/namespaces/{ns}/pods"), Some("nobody")).expect_err("no RBAC at all");
        assert!(format!("{nobody:#}").to_lowercase().contains("forbidden"), "{nobody:#}");

        // weft stat / weft edges print the same numbers (the CLI's own
        // query, parsing and rendering, called as a library).
        let stat = |target: &str, edges: bool| {
            let q = Query::new(parse_target(target).map_err(anyhow::Error::msg)?, ns.clone(), None, edges)
                .map_err(anyhow::Error::msg)?;
            anyhow::Ok(q)
        };
        let rows = fetch(&client, &stat("deploy/server", false)?).await?;
        let json: Value = serde_json::from_str(&render::json(&rows))?;
        let row = &json.as_array().context("stat rows")?[0];
        assert_eq!(row["success_count"], SUCCESSES, "{json}");
        assert_eq!(row["failure_count"], FAILURES, "{json}");
        let rate = row["success_rate"].as_f64().context("success_rate")?;
        let want = f64::from(SUCCESSES) / f64::from(SUCCESSES + FAILURES);
        assert!((rate - want).abs() < 1e-9, "{rate} vs {want}");
        let table = render::stat_table(&rows, Kind::Deployment);
        eprintln!("{table}");
        assert!(table.contains("server") && table.contains(&format!("{:.1}%", want * 100.0)), "{table}");
        let rows = fetch(&client, &stat("deploy/server", true)?).await?;
        let json: Value = serde_json::from_str(&render::json(&rows))?;
        let from_client = json
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["direction"] == "from" && r["peer"]["name"] == "client")
            .with_context(|| format!("weft edges: {json}"))?;
        assert_eq!(from_client["success_count"], SUCCESSES);
        assert_eq!(from_client["failure_count"], FAILURES);
        eprintln!("{}", render::edges_table(&rows));
        Ok(())
    })
    .await;
    if res.is_err() {
        let _ = kubectl(&[
            "-n",
            "weft-system",
            "logs",
            "deploy/weft-controller",
            "--tail=60",
        ])
        .map(|l| eprintln!("{l}"));
    }
    res
}
