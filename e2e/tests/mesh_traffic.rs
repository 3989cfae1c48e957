//! Meshed pods on the real cluster, through the chart's control plane: the
//! injected proxies get certificates from weft-identity and discovery and
//! policy from weft-controller; a client pod reaches a server pod through
//! both proxies; a TrafficTarget naming another source refuses it; naming
//! it lets it through again.
//!
//! Uses the release the chart suite installs: it installs its own with the
//! same helpers' settings and removes it at the end.

use k8s_openapi::api::core::v1::{Namespace, Pod, Service, ServiceAccount};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use std::time::Duration;
use tokio::time::Instant;
use weft_api::contract::annotations as a;
use weft_e2e::{
    apply, client,
    pods::run_to_end,
    release::{install, uninstall},
    with_temp_ns,
};

/// Pods start, pull nothing, and their proxies fetch a certificate.
const POD_DONE: Duration = Duration::from_secs(120);

fn traffic_target(source: &str) -> serde_json::Value {
    json!({
        "apiVersion": "access.smi-spec.io/v1alpha3", "kind": "TrafficTarget",
        "metadata": {"name": "to-server"},
        "spec": {"destination": {"kind": "ServiceAccount", "name": "server"},
                 "sources": [{"kind": "ServiceAccount", "name": source}],
                 "rules": [{"kind": "TCPRoute", "name": "app"}]}
    })
}

/// `weft authz explain` for the client's access to server-0:8080, from the
/// live cluster (the library the CLI runs).
async fn explain(ns: &str, traffic: weft_cli::explain::Traffic) -> anyhow::Result<String> {
    let q = weft_cli::explain::Question {
        source: format!("{ns}/client").parse().map_err(anyhow::Error::msg)?,
        namespace: ns.into(),
        pod: "server-0".into(),
        port: 8080,
        traffic,
    };
    let settings = weft_cli::cluster::Settings {
        default_policy: None,
        control_plane_namespace: "weft-system".into(),
        trust_domain: "cluster.local".into(),
        cluster_domain: "cluster.local".into(),
    };
    let text = weft_cli::cluster::explain(&settings, &q).await?;
    eprintln!("weft authz explain:\n{text}");
    Ok(text)
}

fn get(path: &str) -> weft_cli::explain::Traffic {
    weft_cli::explain::Traffic::Http {
        method: "GET".into(),
        path: path.into(),
        headers: vec![],
    }
}

/// Runs a client pod that GETs the server once; its phase and app log.
async fn call(client: &kube::Client, ns: &str, name: &str) -> anyhow::Result<(String, String)> {
    call_url(client, ns, name, "http://server/").await
}

async fn call_url(
    client: &kube::Client,
    ns: &str,
    name: &str,
    url: &str,
) -> anyhow::Result<(String, String)> {
    run_to_end(client, ns, name, "client", &["get", url]).await
}

#[tokio::test]
async fn meshed_pods_talk_and_traffic_targets_decide_who_may() -> anyhow::Result<()> {
    let client = client().await?;
    install()?;
    let res = with_temp_ns(&client, |client, ns| async move {
        Api::<Namespace>::all(client.clone())
            .patch(&ns, &PatchParams::default(),
                   &Patch::Merge(json!({"metadata": {"annotations": {a::INJECT: a::INJECT_ENABLED}}})))
            .await?;
        let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
        for sa in ["server", "client"] {
            sas.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": sa}}))?)
                .await?;
        }
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let server: Pod = serde_json::from_value(json!({
            "metadata": {"name": "server-0", "labels": {"app": "server"}},
            "spec": {"serviceAccountName": "server",
                     "containers": [{"name": "app", "image": "weft/testapp:e2e", "imagePullPolicy": "Never",
                                     "args": ["serve"], "env": [{"name": "POD_NAME", "value": "server-0"}],
                                     "ports": [{"containerPort": 8080}]}]}
        }))?;
        pods.create(&PostParams::default(), &server).await?;
        let svc: Service = serde_json::from_value(json!({
            "metadata": {"name": "server"},
            "spec": {"selector": {"app": "server"}, "ports": [{"port": 80, "targetPort": 8080}]}
        }))?;
        Api::<Service>::namespaced(client.clone(), &ns).create(&PostParams::default(), &svc).await?;
        let t0 = Instant::now();
        loop {
            let ready = pods.get("server-0").await?.status
                .and_then(|s| s.conditions)
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
            if ready { break; }
            anyhow::ensure!(t0.elapsed() < POD_DONE, "server-0 not Ready after {POD_DONE:?}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        eprintln!("server-0 Ready (proxy certified, policy fetched) after {:?}", t0.elapsed());

        let (phase, log) = call(&client, &ns, "client-allowed").await?;
        assert_eq!(phase, "Succeeded", "{log}");
        assert!(log.contains("hello from server-0"), "{log}");

        apply(&client, &ns, json!({
            "apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "TCPRoute",
            "metadata": {"name": "app"}, "spec": {"matches": {"ports": [8080]}}
        })).await?;
        apply(&client, &ns, traffic_target("someone-else")).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (phase, log) = call(&client, &ns, "client-refused").await?;
        assert_eq!(phase, "Failed", "a source the TrafficTarget does not name got through: {log}");
        let why = explain(&ns, get("/")).await?;
        assert!(why.starts_with("DENY (no-traffic-target)"), "{why}");

        // Only a verified `client` identity can pass now: an unauthenticated
        // (plaintext) connection would be refused like the last one, so this
        // success proves the link was mesh mTLS with the client's identity.
        apply(&client, &ns, traffic_target("client")).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (phase, log) = call(&client, &ns, "client-named").await?;
        assert_eq!(phase, "Succeeded", "{log}");
        assert!(log.contains("hello from server-0"), "{log}");
        let why = explain(&ns, weft_cli::explain::Traffic::Tcp).await?;
        assert!(why.starts_with("ALLOW"), "{why}");

        // HTTP routes are checked per request by the server's proxy: `/ok`
        // is granted, `/secret` is refused with 403 and its reason code.
        apply(&client, &ns, json!({
            "apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "HTTPRouteGroup",
            "metadata": {"name": "routes"},
            "spec": {"matches": [{"name": "ok", "pathRegex": "/ok", "methods": ["GET"]}]}
        })).await?;
        apply(&client, &ns, json!({
            "apiVersion": "access.smi-spec.io/v1alpha3", "kind": "TrafficTarget",
            "metadata": {"name": "to-server"},
            "spec": {"destination": {"kind": "ServiceAccount", "name": "server"},
                     "sources": [{"kind": "ServiceAccount", "name": "client"}],
                     "rules": [{"kind": "HTTPRouteGroup", "name": "routes", "matches": ["ok"]}]}
        })).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (phase, log) = call_url(&client, &ns, "client-route-ok", "http://server/ok").await?;
        assert_eq!(phase, "Succeeded", "{log}");
        let (phase, log) = call_url(&client, &ns, "client-route-refused", "http://server/secret").await?;
        assert_eq!(phase, "Failed", "{log}");
        assert!(log.contains("403") && log.contains("route-not-matched"), "{log}");
        let why = explain(&ns, get("/secret")).await?;
        assert!(why.starts_with("DENY (route-not-matched)"), "{why}");
        assert!(explain(&ns, get("/ok/1")).await?.starts_with("ALLOW"));
        Ok(())
    })
    .await;
    uninstall();
    res
}
