//! `weft policy suggest` against the running demo: the suggestion made from
//! the report's traffic, applied in place of the demo's own policy with the
//! namespace switched to `default-policy: deny`, keeps every call the
//! demo's policy allows working and refuses the rest: `/admin` (never
//! allowed, so never observed), `/items/42` (which the demo's prefix route
//! allowed but nobody called) and a caller that never called. The YAML
//! stays under `$CARGO_TARGET_DIR/e2e-artifacts/`.

use anyhow::Context as _;
use serde_json::Value;
use std::time::Duration;
use tokio::time::Instant;
use weft_api::contract::{annotations, control_plane as cp};
use weft_cli::{
    cluster::Settings,
    dashboard::load::Cluster,
    suggest::{Suggestion, read, render_yaml},
};
use weft_e2e::{browser::artifacts_dir, release::run};

const NS: &str = "weft-demo";
/// The proxies are scraped, and the scrape windowed, before what they let
/// through shows on TrafficMetrics edges.
const SETTLE: Duration = Duration::from_secs(150);
/// A policy change reaches the proxies over the controller's stream.
const APPLIED: Duration = Duration::from_secs(60);

pub fn keeps_the_demo_working_under_deny() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let cluster = rt.block_on(async {
        anyhow::Ok(Cluster {
            client: weft_e2e::client().await?,
            settings: Settings {
                default_policy: None,
                control_plane_namespace: cp::NAMESPACE.into(),
                trust_domain: cp::DEFAULT_TRUST_DOMAIN.into(),
                cluster_domain: cp::DEFAULT_CLUSTER_DOMAIN.into(),
            },
        })
    })?;
    let req = read::Request {
        namespaces: vec![NS.into()],
        only: None,
        span: Duration::ZERO,
        every: Duration::ZERO,
    };

    let t0 = Instant::now();
    let s = loop {
        super::report()?;
        let s = rt.block_on(read::observe(&cluster, &req, &mut |l| {
            eprintln!("suggest: {l}")
        }))?;
        let missing = missing(&s);
        if missing.is_empty() {
            break s;
        }
        anyhow::ensure!(
            t0.elapsed() < SETTLE,
            "after {SETTLE:?} the suggestion still lacks {missing:?}:\n{}",
            render_yaml(&s)
        );
        eprintln!("suggest: waiting for {missing:?}");
        std::thread::sleep(Duration::from_secs(3));
    };
    let yaml = render_yaml(&s);
    eprintln!("the suggestion after {:?}:\n{yaml}", t0.elapsed());
    anyhow::ensure!(
        !yaml.contains("admin"),
        "a refused request was suggested: {yaml}"
    );
    anyhow::ensure!(
        s.refused_under_deny.is_empty(),
        "the demo's policy names every destination, yet deny would refuse {:?}",
        s.refused_under_deny
    );
    let path = artifacts_dir()?.join("policy-suggest.yaml");
    std::fs::write(&path, &yaml)?;

    // The demo's route is a prefix, so it lets GET /items/42 through; the
    // suggestion saw only /items and does not. That tells which policy the
    // proxies follow: both refuse /admin.
    let deeper = || super::testapp_get("web", "http://api/items/42");
    deeper().context("under the demo's own policy, GET /items/42")?;

    // The suggestion first, then the demo's own policy away and deny on:
    // from here on only what was suggested allows anything.
    let file = path.to_str().context("artifact path")?;
    eprintln!("{}", run("kubectl", &["apply", "-f", file])?);
    for (kind, names) in [
        (
            "traffictargets.access.smi-spec.io",
            "web-to-api web-to-grpc web-to-tcp",
        ),
        (
            "httproutegroups.specs.smi-spec.io",
            "api-routes grpc-health",
        ),
        ("tcproutes.specs.smi-spec.io", "echo"),
    ] {
        let mut args = vec!["-n", NS, "delete", kind];
        args.extend(names.split(' '));
        run("kubectl", &args)?;
    }
    let deny = format!("{}=deny", annotations::DEFAULT_POLICY);
    run(
        "kubectl",
        &["annotate", "namespace", NS, &deny, "--overwrite"],
    )?;

    let t1 = Instant::now();
    loop {
        match deeper() {
            Err(e) if format!("{e:#}").contains("route-not-matched") => break,
            other => anyhow::ensure!(
                t1.elapsed() < APPLIED,
                "after {APPLIED:?} the proxies still follow the demo's own policy: GET /items/42 got {other:?}"
            ),
        }
    }
    eprintln!("the suggestion is in force after {:?}", t1.elapsed());
    loop {
        let report = super::report()?;
        let wrong = super::report_wrong(&report);
        if wrong.is_empty() {
            eprintln!(
                "under deny with the suggestion, after {:?}:\n{report}",
                t1.elapsed()
            );
            break;
        }
        anyhow::ensure!(
            t1.elapsed() < APPLIED,
            "under deny with only the suggestion, the report {wrong:?}:\n{report}\n{yaml}"
        );
        std::thread::sleep(Duration::from_secs(2));
    }

    // A caller the suggestion never saw: tcp's account calling the API.
    let stranger = super::testapp_get("tcp", "http://api/items");
    match stranger {
        Ok(out) => anyhow::bail!("tcp's account reached the API under the suggestion: {out}"),
        Err(e) => anyhow::ensure!(
            format!("{e:#}").contains("no-traffic-target"),
            "tcp's account was refused, but not for want of a TrafficTarget: {e:#}"
        ),
    }
    Ok(())
}

/// What the suggestion lacks of the report's traffic.
fn missing(s: &Suggestion) -> Vec<String> {
    let target = |name: &str| {
        s.objects
            .iter()
            .find(|o| o["kind"] == "TrafficTarget" && o["metadata"]["name"] == name)
    };
    let mut out = Vec::new();
    let rules = |name: &str| -> Vec<Value> {
        target(name)
            .and_then(|t| t["spec"]["rules"].as_array().cloned())
            .unwrap_or_default()
    };
    if !rules("web-to-api-8080").iter().any(|r| {
        r["matches"]
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m == "get-items"))
    }) {
        out.push("web → api: GET /items".to_string());
    }
    if rules("web-to-grpc-9090").is_empty() {
        out.push("web → grpc on 9090".to_string());
    }
    if !rules("web-to-tcp-7000")
        .iter()
        .any(|r| r["kind"] == "TCPRoute")
    {
        out.push("web → tcp: TCP on 7000".to_string());
    }
    out
}
