//! Gateway API routes with a Service parent on the real cluster, beside SMI
//! (issue #27, points 2 and 3):
//!
//! - status: weft writes `Accepted` and `ResolvedRefs` in each route's
//!   `status.parents` for its Service parent: `True` for a route whose
//!   backend exists, `BackendNotFound` for a missing backend,
//!   `RefNotPermitted` for a backend in another namespace until a
//!   ReferenceGrant there allows it;
//! - a route chooses where requests go, never whether they may: under a
//!   `deny` default, requests that a route sends to `web-v2` are refused by
//!   web-v2's proxy until a TrafficTarget grants the client there;
//! - a Service with both a TrafficSplit and an HTTPRoute follows the route,
//!   and the TrafficSplit gets a `SplitOverriddenByRoute` Event.
//!
//! Two server pods, `web-v1-a` (ServiceAccount `web`) and `web-v2-a`
//! (`web-v2`), serve every Service of the test: `web` and `web-v1` select
//! the first, `web-v2` the second, `shop` both.

use k8s_openapi::api::core::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, DynamicObject, ListParams};
use serde_json::json;
use std::time::Duration;
use weft_api::contract::{annotations as a, deny_reason, gateway::CONTROLLER_NAME};
use weft_controller::{index::reason, kinds::read_resource};
use weft_e2e::{
    apply, client, event_on, eventually, gateway,
    pods::{
        LoadReport, app_tcp_route, mesh_namespace, run_to_end, server_pod, service, wait_ready,
    },
    release::{install, uninstall},
    with_temp_ns,
};
use weft_k8s_api::gateway::{HTTPRoute, VERSION, status::RouteStatus, status::conditions as c};

/// How long a grant takes to reach the destination pod's proxy, with room:
/// the controller streams it within milliseconds on this cluster.
const PROPAGATION: Duration = Duration::from_secs(3);

/// Requests per client pod: enough that one answered by the wrong pod
/// would show, few enough to keep the suite short.
const REQUESTS: u32 = 20;

/// An HTTPRoute `name` attached to port 80 of Service `parent`, sending
/// every request to `backend` (port 80), in namespace `backend_ns` when
/// given.
fn http_route(
    name: &str,
    parent: &str,
    backend: &str,
    backend_ns: Option<&str>,
) -> serde_json::Value {
    let mut backend_ref = json!({"name": backend, "port": 80});
    if let Some(ns) = backend_ns {
        backend_ref["namespace"] = ns.into();
    }
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": name},
        "spec": {"parentRefs": [{"group": "", "kind": "Service", "name": parent, "port": 80}],
                 "rules": [{"backendRefs": [backend_ref]}]}
    })
}

/// A TrafficTarget `name` granting ServiceAccount `client` the TCPRoute
/// `app` (port 8080, HTTP included) of ServiceAccount `destination`.
fn grant(name: &str, destination: &str) -> serde_json::Value {
    json!({
        "apiVersion": "access.smi-spec.io/v1alpha3", "kind": "TrafficTarget",
        "metadata": {"name": name},
        "spec": {"destination": {"kind": "ServiceAccount", "name": destination},
                 "sources": [{"kind": "ServiceAccount", "name": "client"}],
                 "rules": [{"kind": "TCPRoute", "name": "app"}]}
    })
}

/// weft's conditions for the Service parent `parent` of HTTPRoute `name`,
/// once weft has judged the route's current generation; `None` before.
async fn judged(
    routes: &Api<DynamicObject>,
    name: &str,
    parent: &str,
) -> anyhow::Result<Option<Vec<Condition>>> {
    let Some(route) = routes.get_opt(name).await? else {
        return Ok(None);
    };
    let generation = route.metadata.generation;
    let Some(status) = route.data.get("status") else {
        return Ok(None);
    };
    let status: RouteStatus = serde_json::from_value(status.clone())?;
    let Some(ours) = status
        .parents
        .into_iter()
        .find(|p| p.controller_name == CONTROLLER_NAME && p.parent_ref.name == parent)
    else {
        return Ok(None);
    };
    // A status computed from an older edit of the route says nothing yet.
    let current = !ours.conditions.is_empty()
        && ours
            .conditions
            .iter()
            .all(|c| c.observed_generation == generation);
    Ok(current.then_some(ours.conditions))
}

/// The condition of `type_` among `conditions` as `status (reason)`, for
/// exact comparisons that print what was there.
fn condition(conditions: &[Condition], type_: &str) -> String {
    conditions.iter().find(|c| c.type_ == type_).map_or_else(
        || "absent".into(),
        |c| format!("{} ({})", c.status, c.reason),
    )
}

/// Waits until weft has judged HTTPRoute `name`, then fails unless its
/// Service parent `parent` is `Accepted=True` and `ResolvedRefs` is
/// `resolved` (`"True (ResolvedRefs)"`, `"False (BackendNotFound)"`...).
async fn expect_status(
    routes: &Api<DynamicObject>,
    name: &str,
    parent: &str,
    resolved: &str,
) -> anyhow::Result<Vec<Condition>> {
    let conditions = eventually(&format!("weft's status on HTTPRoute {name}"), || {
        judged(routes, name, parent)
    })
    .await?;
    eprintln!("HTTPRoute {name}: {conditions:?}");
    assert_eq!(
        condition(&conditions, c::ACCEPTED),
        format!("True ({})", c::REASON_ACCEPTED),
        "HTTPRoute {name}: {conditions:?}"
    );
    assert_eq!(
        condition(&conditions, c::RESOLVED_REFS),
        resolved,
        "HTTPRoute {name}: {conditions:?}"
    );
    Ok(conditions)
}

/// Sends [`REQUESTS`] GETs to `url` from a fresh client pod `pod` (so it
/// starts with the routes of the moment) and reports what answered.
async fn load(client: &kube::Client, ns: &str, pod: &str, url: &str) -> anyhow::Result<LoadReport> {
    let n = REQUESTS.to_string();
    let (phase, log) = run_to_end(client, ns, pod, "client", &["load", url, &n]).await?;
    anyhow::ensure!(phase == "Succeeded", "{pod} {phase}: {log}");
    LoadReport::parse(&log)
}

/// Fails unless every request of `r` was answered 200 by pod `by`.
fn all_answered_by(r: &LoadReport, by: &str, what: &str) {
    assert_eq!(
        (r.ok, r.failed),
        (REQUESTS, 0),
        "{what}: {:?} {:?}",
        r.from,
        r.errors
    );
    assert_eq!(
        r.from
            .iter()
            .map(|(p, n)| (p.as_str(), *n))
            .collect::<Vec<_>>(),
        vec![(by, REQUESTS)],
        "{what}: every request must be answered by {by}"
    );
}

#[tokio::test]
async fn gateway_routes_report_status_and_stay_under_smi() -> anyhow::Result<()> {
    gateway::apply_crds(&gateway::build()?)?;
    let client = client().await?;
    install()?;
    let res = with_temp_ns(&client, |client, ns| async move {
        with_temp_ns(&client, |client, other| async move {
            mesh_namespace(
                &client,
                &ns,
                &[(a::DEFAULT_POLICY, "deny")],
                &["client", "web", "web-v2"],
            )
            .await?;
            // The pods start while the status checks run.
            for (pod, sa, version) in [("web-v1-a", "web", "v1"), ("web-v2-a", "web-v2", "v2")] {
                server_pod(
                    &client,
                    &ns,
                    pod,
                    sa,
                    json!({"app": "web", "version": version}),
                )
                .await?;
            }
            service(&client, &ns, "web", json!({"version": "v1"})).await?;
            service(&client, &ns, "web-v1", json!({"version": "v1"})).await?;
            service(&client, &ns, "web-v2", json!({"version": "v2"})).await?;
            service(&client, &ns, "shop", json!({"app": "web"})).await?;
            app_tcp_route(&client, &ns).await?;
            apply(&client, &ns, grant("client-to-web", "web")).await?;

            let routes = Api::<DynamicObject>::namespaced_with(
                client.clone(),
                &ns,
                &read_resource::<HTTPRoute>(VERSION),
            );

            // Status. The routes attach to `lookup`, a Service nothing
            // calls, so their broken backends touch no traffic below.
            service(&client, &ns, "lookup", json!({"app": "lookup"})).await?;
            service(&client, &other, "elsewhere", json!({"app": "elsewhere"})).await?;
            apply(
                &client,
                &ns,
                http_route("resolves", "lookup", "web-v2", None),
            )
            .await?;
            apply(
                &client,
                &ns,
                http_route("missing", "lookup", "nowhere", None),
            )
            .await?;
            apply(
                &client,
                &ns,
                http_route("cross", "lookup", "elsewhere", Some(&other)),
            )
            .await?;
            let resolved = format!("True ({})", c::REASON_RESOLVED_REFS);
            expect_status(&routes, "resolves", "lookup", &resolved).await?;
            let missing = expect_status(
                &routes,
                "missing",
                "lookup",
                &format!("False ({})", c::REASON_BACKEND_NOT_FOUND),
            )
            .await?;
            // The message names the Service, so the user knows what to fix.
            let message = missing
                .iter()
                .find(|c| c.type_ == c::RESOLVED_REFS)
                .map(|c| c.message.clone())
                .unwrap_or_default();
            assert!(
                message.contains(&format!("{ns}/nowhere")),
                "BackendNotFound does not name the Service: {message}"
            );
            expect_status(
                &routes,
                "cross",
                "lookup",
                &format!("False ({})", c::REASON_REF_NOT_PERMITTED),
            )
            .await?;
            // The namespace that owns the backend lets the route in; the
            // route itself is not touched, so its generation stays.
            apply(
                &client,
                &other,
                json!({
                    "apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant",
                    "metadata": {"name": "routes-from-test"},
                    "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute",
                                       "namespace": ns}],
                             "to": [{"group": "", "kind": "Service", "name": "elsewhere"}]}
                }),
            )
            .await?;
            let granted = eventually(
                "HTTPRoute cross resolves after the ReferenceGrant",
                || async {
                    Ok(judged(&routes, "cross", "lookup")
                        .await?
                        .filter(|cs| condition(cs, c::RESOLVED_REFS) == resolved))
                },
            )
            .await;
            if granted.is_err() {
                let now = judged(&routes, "cross", "lookup").await?;
                anyhow::bail!("the ReferenceGrant did not resolve HTTPRoute cross: {now:?}");
            }

            wait_ready(&client, &ns, &["web-v1-a", "web-v2-a"]).await?;

            // Without routes, `web` is its own endpoint, granted to the
            // client: this is the TrafficTarget that stays in force below.
            let r = load(&client, &ns, "to-web", "http://web/").await?;
            all_answered_by(&r, "web-v1-a", "web without a route");

            // A route sends all of web's requests to web-v2, whose pod no
            // TrafficTarget opens to the client: its proxy refuses them
            // all. (The client's own proxy never answers 403, and web-v1-a
            // would have let them in: the refusal is web-v2-a's.)
            apply(&client, &ns, http_route("web", "web", "web-v2", None)).await?;
            expect_status(&routes, "web", "web", &resolved).await?;
            let r = load(&client, &ns, "routed-denied", "http://web/").await?;
            assert_eq!(
                (r.ok, r.failed),
                (0, REQUESTS),
                "the route granted access to web-v2: {:?} {:?}",
                r.from,
                r.errors
            );
            for e in &r.errors {
                assert!(
                    e.contains("status 403") && e.contains(deny_reason::NO_TRAFFIC_TARGET),
                    "routed requests must be refused by web-v2's policy: {:?}",
                    r.errors
                );
            }

            // Granting the client web-v2's ServiceAccount lets them through,
            // all answered by web-v2's pod.
            apply(&client, &ns, grant("client-to-web-v2", "web-v2")).await?;
            tokio::time::sleep(PROPAGATION).await;
            let r = load(&client, &ns, "routed-granted", "http://web/").await?;
            all_answered_by(&r, "web-v2-a", "web routed to web-v2 with a grant");

            // A TrafficSplit alone decides for `shop`: all to web-v1.
            let events = Api::<Event>::namespaced(client.clone(), &ns);
            apply(
                &client,
                &ns,
                json!({
                    "apiVersion": "split.smi-spec.io/v1alpha4", "kind": "TrafficSplit",
                    "metadata": {"name": "shop-split"},
                    "spec": {"service": "shop",
                             "backends": [{"service": "web-v1", "weight": 1},
                                          {"service": "web-v2", "weight": 0}]}
                }),
            )
            .await?;
            tokio::time::sleep(PROPAGATION).await;
            let r = load(&client, &ns, "split-only", "http://shop/").await?;
            all_answered_by(&r, "web-v1-a", "shop with only a TrafficSplit");
            let early = events
                .list(&ListParams::default().fields("involvedObject.name=shop-split"))
                .await?
                .items
                .into_iter()
                .filter(|e| e.reason.as_deref() == Some(reason::SPLIT_OVERRIDDEN_BY_ROUTE))
                .count();
            assert_eq!(
                early, 0,
                "shop-split was reported overridden before any route"
            );

            // An HTTPRoute on the same Service port wins: all to web-v2,
            // which the split gives nothing; the split is told so.
            apply(&client, &ns, http_route("shop", "shop", "web-v2", None)).await?;
            expect_status(&routes, "shop", "shop", &resolved).await?;
            let r = load(&client, &ns, "split-and-route", "http://shop/").await?;
            all_answered_by(&r, "web-v2-a", "shop with a TrafficSplit and an HTTPRoute");
            event_on(&events, "shop-split", reason::SPLIT_OVERRIDDEN_BY_ROUTE).await?;
            let note = events
                .list(&ListParams::default().fields("involvedObject.name=shop-split"))
                .await?
                .items
                .into_iter()
                .find(|e| e.reason.as_deref() == Some(reason::SPLIT_OVERRIDDEN_BY_ROUTE))
                .map(|e| (e.type_.unwrap_or_default(), e.message.unwrap_or_default()))
                .unwrap_or_default();
            assert_eq!(note.0, "Warning", "{note:?}");
            assert!(
                note.1.contains(&format!("HTTPRoute {ns}/shop")),
                "the Event does not name the route: {note:?}"
            );
            Ok(())
        })
        .await
    })
    .await;
    uninstall();
    res
}
