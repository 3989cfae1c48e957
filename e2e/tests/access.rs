//! SMI access across namespaces on the real cluster, under a `deny`
//! default: a TrafficTarget in the server's namespace grants a source of
//! another namespace (and only that namespace's ServiceAccount of that
//! name); a TCPRoute-only rule lets HTTP through; a TrafficTarget that
//! names a destination in another namespace is ignored and reported with an
//! Event; deleting the grant revokes it.

use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, DeleteParams, DynamicObject};
use serde_json::json;
use weft_api::contract::annotations as a;
use weft_controller::{index::reason, kinds::read_resource};
use weft_e2e::{
    apply, client, event_on,
    pods::{app_tcp_route, mesh_namespace, run_to_end, server_pod, service, wait_ready},
    release::{install, uninstall},
    with_temp_ns,
};
use weft_k8s_api::access;

fn grant(name: &str, dest_ns: Option<&str>, source: &str, source_ns: &str) -> serde_json::Value {
    let mut dest = json!({"kind": "ServiceAccount", "name": "server"});
    if let Some(ns) = dest_ns {
        dest["namespace"] = ns.into();
    }
    json!({
        "apiVersion": "access.smi-spec.io/v1alpha3", "kind": "TrafficTarget",
        "metadata": {"name": name},
        "spec": {"destination": dest,
                 "sources": [{"kind": "ServiceAccount", "name": source, "namespace": source_ns}],
                 "rules": [{"kind": "TCPRoute", "name": "app"}]}
    })
}

/// One GET from a fresh pod; `Ok(log)` when it got through, `Err(log)`
/// when it was refused.
async fn call(
    client: &kube::Client,
    ns: &str,
    pod: &str,
    sa: &str,
    url: &str,
) -> anyhow::Result<Result<String, String>> {
    let (phase, log) = run_to_end(client, ns, pod, sa, &["get", url]).await?;
    Ok(if phase == "Succeeded" {
        Ok(log)
    } else {
        Err(log)
    })
}

#[tokio::test]
async fn traffic_targets_grant_across_namespaces_and_only_in_their_own() -> anyhow::Result<()> {
    let client = client().await?;
    install()?;
    let res = with_temp_ns(&client, |client, srv| async move {
        with_temp_ns(&client, |client, cli| async move {
            mesh_namespace(
                &client,
                &srv,
                &[(a::DEFAULT_POLICY, "deny")],
                &["server", "client"],
            )
            .await?;
            mesh_namespace(&client, &cli, &[], &["client", "intruder"]).await?;
            server_pod(
                &client,
                &srv,
                "server-0",
                "server",
                json!({"app": "server"}),
            )
            .await?;
            service(&client, &srv, "server", json!({"app": "server"})).await?;
            app_tcp_route(&client, &srv).await?;
            apply(&client, &srv, grant("from-other-ns", None, "client", &cli)).await?;
            wait_ready(&client, &srv, &["server-0"]).await?;
            let url = format!("http://server.{srv}/");

            // The grant names `client` of the other namespace: it passes,
            // over HTTP although the rule is a TCPRoute.
            let log = call(&client, &cli, "granted", "client", &url)
                .await?
                .map_err(|log| {
                    anyhow::anyhow!("the granted cross-namespace source was refused: {log}")
                })?;
            let id = format!("client: spiffe://cluster.local/ns/{cli}/sa/client");
            assert!(log.contains(&id), "the server app did not see {id}: {log}");
            // The server's own namespace's `client` is another identity.
            let log = call(&client, &srv, "same-name", "client", &url)
                .await?
                .expect_err("a ServiceAccount of the same name in another namespace got through");
            assert!(
                log.contains("403") && log.contains("no-traffic-target"),
                "{log}"
            );

            // A TrafficTarget in the client's namespace cannot grant access
            // to the server's namespace: ignored, and said so in an Event.
            apply(
                &client,
                &cli,
                grant("reach-over", Some(&srv), "intruder", &cli),
            )
            .await?;
            event_on(
                &Api::<Event>::namespaced(client.clone(), &cli),
                "reach-over",
                reason::CROSS_NAMESPACE_DESTINATION,
            )
            .await?;
            let log = call(&client, &cli, "intruder", "intruder", &url)
                .await?
                .expect_err("a TrafficTarget of another namespace granted access");
            assert!(
                log.contains("403") && log.contains("no-traffic-target"),
                "{log}"
            );

            // Deleting the grant revokes it.
            Api::<DynamicObject>::namespaced_with(
                client.clone(),
                &srv,
                &read_resource::<access::TrafficTarget>(access::VERSION),
            )
            .delete("from-other-ns", &DeleteParams::default())
            .await?;
            tokio::time::sleep(std::time::Duration::from_secs(3)).await;
            let log = call(&client, &cli, "revoked", "client", &url)
                .await?
                .expect_err("access stayed after its TrafficTarget was deleted");
            assert!(
                log.contains("403") && log.contains("no-traffic-target"),
                "{log}"
            );
            Ok(())
        })
        .await
    })
    .await;
    uninstall();
    res
}
