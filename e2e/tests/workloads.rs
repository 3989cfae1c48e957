//! Meshed workloads of the usual shapes on the real cluster, in a namespace
//! whose default policy is `deny`: a Deployment whose HTTP, TCP and gRPC
//! probes must still pass (the proxy runs them) while the probed ports stay
//! closed to an unmeshed pod, a Job that completes even though its proxy is
//! a sidecar (native sidecars stop with the job) and whose SPIFFE id the
//! server app receives, and a caller no TrafficTarget names, refused with
//! its reason.

use k8s_openapi::api::{batch::v1::Job, core::v1::Namespace};
use kube::api::{Api, LogParams, Patch, PatchParams};
use serde_json::json;
use std::time::Duration;
use tokio::time::Instant;
use weft_api::contract::annotations as a;
use weft_e2e::{
    apply, client,
    release::{install, run, uninstall},
    with_temp_ns,
};

fn job(name: &str, sa: &str) -> serde_json::Value {
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name},
        "spec": {"backoffLimit": 0, "template": {"metadata": {"annotations": {}}, "spec": {
            "serviceAccountName": sa, "restartPolicy": "Never",
            "containers": [{"name": "app", "image": "weft/testapp:e2e", "imagePullPolicy": "Never",
                            "args": ["get", "http://server/"]}]}}}
    })
}

/// Pods start, pull nothing, get certificates; a refused client retries
/// for about ten seconds before it gives up.
const JOB_DONE: Duration = Duration::from_secs(120);

/// Waits until the Job has completed or failed; `true` when it completed.
async fn finished(jobs: &Api<Job>, name: &str) -> anyhow::Result<bool> {
    let t0 = Instant::now();
    loop {
        let s = jobs.get(name).await?.status.unwrap_or_default();
        match (s.succeeded.unwrap_or(0), s.failed.unwrap_or(0)) {
            (0, 0) => {}
            (ok, _) => {
                eprintln!(
                    "job {name}: {} after {:?}",
                    if ok > 0 { "complete" } else { "failed" },
                    t0.elapsed()
                );
                return Ok(ok > 0);
            }
        }
        anyhow::ensure!(
            t0.elapsed() < JOB_DONE,
            "job {name} still running after {JOB_DONE:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn app_log(client: &kube::Client, ns: &str, job: &str) -> String {
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client.clone(), ns);
    let Ok(list) = pods
        .list(&kube::api::ListParams::default().labels(&format!("job-name={job}")))
        .await
    else {
        return String::new();
    };
    let mut out = String::new();
    for p in list.items {
        let name = p.metadata.name.unwrap_or_default();
        let lp = LogParams {
            container: Some("app".into()),
            ..Default::default()
        };
        out.push_str(&pods.logs(&name, &lp).await.unwrap_or_default());
    }
    out
}

#[tokio::test]
async fn probes_jobs_and_refusals_under_a_deny_default() -> anyhow::Result<()> {
    let client = client().await?;
    install()?;
    let res = with_temp_ns(&client, |client, ns| async move {
        Api::<Namespace>::all(client.clone())
            .patch(
                &ns,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"annotations": {
                    a::INJECT: a::INJECT_ENABLED,
                    a::DEFAULT_POLICY: "deny",
                }}})),
            )
            .await?;
        for sa in ["server", "job", "other"] {
            apply(&client, &ns, json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa}})).await?;
        }
        apply(&client, &ns, json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "server"},
            "spec": {"selector": {"matchLabels": {"app": "server"}},
                     "template": {"metadata": {"labels": {"app": "server"}},
                                  "spec": {"serviceAccountName": "server",
                                           "containers": [{"name": "app", "image": "weft/testapp:e2e",
                                                           "imagePullPolicy": "Never", "args": ["serve"],
                                                           "ports": [{"containerPort": 8080}],
                                                           "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080},
                                                                              "periodSeconds": 1},
                                                           "livenessProbe": {"tcpSocket": {"port": 8080},
                                                                             "periodSeconds": 2}},
                                                          {"name": "health", "image": "weft/testapp:e2e",
                                                           "imagePullPolicy": "Never", "args": ["grpc", ":9090"],
                                                           "ports": [{"containerPort": 9090}],
                                                           "readinessProbe": {"grpc": {"port": 9090},
                                                                              "periodSeconds": 1}}]}}}
        })).await?;
        apply(&client, &ns, json!({
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "server"},
            "spec": {"selector": {"app": "server"}, "ports": [{"port": 80, "targetPort": 8080}]}
        })).await?;
        // Under `deny` nothing is open to the kubelet: Ready proves that
        // the proxy ran the HTTP and gRPC probes (and the TCP one keeps the
        // app alive).
        run("kubectl", &["-n", &ns, "rollout", "status", "deploy/server", "--timeout=180s"])?;
        let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
        // A pod outside the mesh reaches the probed port only as an
        // unauthenticated client: a TCP probe no longer opens it.
        let mut outside = job("unmeshed", "other");
        outside["spec"]["template"]["metadata"]["annotations"][a::INJECT] = json!(a::INJECT_DISABLED);
        apply(&client, &ns, outside).await?;
        let ok = finished(&jobs, "unmeshed").await?;
        let log = app_log(&client, &ns, "unmeshed").await;
        assert!(!ok, "a pod outside the mesh reached a probed port under deny: {log}");
        assert!(log.contains("403") && log.contains("unauthenticated"), "{log}");

        apply(&client, &ns, json!({
            "apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "TCPRoute",
            "metadata": {"name": "app"}, "spec": {"matches": {"ports": [8080]}}
        })).await?;
        apply(&client, &ns, json!({
            "apiVersion": "access.smi-spec.io/v1alpha3", "kind": "TrafficTarget",
            "metadata": {"name": "job-to-server"},
            "spec": {"destination": {"kind": "ServiceAccount", "name": "server"},
                     "sources": [{"kind": "ServiceAccount", "name": "job"}],
                     "rules": [{"kind": "TCPRoute", "name": "app"}]}
        })).await?;

        apply(&client, &ns, job("granted", "job")).await?;
        let ok = finished(&jobs, "granted").await?;
        let log = app_log(&client, &ns, "granted").await;
        assert!(ok, "the granted job did not complete: {log}");
        assert!(log.contains("hello from server"), "{log}");
        // The server app learnt who called, from its proxy.
        let id = format!("client: spiffe://cluster.local/ns/{ns}/sa/job");
        assert!(log.contains(&id), "the server app did not see {id}: {log}");

        apply(&client, &ns, job("ungranted", "other")).await?;
        let ok = finished(&jobs, "ungranted").await?;
        let log = app_log(&client, &ns, "ungranted").await;
        assert!(!ok, "a source no TrafficTarget names got through under deny: {log}");
        assert!(log.contains("403") && log.contains("no-traffic-target"), "{log}");
        Ok(())
    })
    .await;
    uninstall();
    res
}
