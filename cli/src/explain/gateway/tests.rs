//! `authz explain` with Gateway API routes: a canary route on shop/api
//! (pods api-v1-0 and api-v2-0 behind Services api, api-v1 and api-v2),
//! and a TrafficTarget letting shop/web GET /items.

use super::super::{Question, Source, Traffic, explain, render};
use super::*;
use serde_json::{Value, json};
use weft_controller::index::Config;
use weft_tls::TrustDomain;

fn pod(name: &str, ip: &str, version: &str) -> Resource {
    Resource::Pod(
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "shop", "labels": {"app": "api", "version": version}},
            "spec": {
                "serviceAccountName": "api",
                "initContainers": [{"name": "weft-proxy", "restartPolicy": "Always"}],
                "containers": [{"name": "app", "ports": [{"containerPort": 8080}]}]
            },
            "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}
        }))
        .unwrap(),
    )
}

fn service(name: &str, ip: &str) -> Resource {
    Resource::Service(
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"clusterIP": ip, "ports": [{"port": 80, "targetPort": 8080}]}
        }))
        .unwrap(),
    )
}

fn slice(svc: &str, pods: &[(&str, &str)]) -> Resource {
    let endpoints: Vec<Value> = pods
        .iter()
        .map(|(name, ip)| {
            json!({"addresses": [ip], "conditions": {"ready": true},
                   "targetRef": {"kind": "Pod", "namespace": "shop", "name": name}})
        })
        .collect();
    Resource::EndpointSlice(
        serde_json::from_value(json!({
            "metadata": {"name": format!("{svc}-x"), "namespace": "shop",
                         "labels": {"kubernetes.io/service-name": svc}},
            "addressType": "IPv4",
            "endpoints": endpoints,
            "ports": [{"port": 8080}]
        }))
        .unwrap(),
    )
}

fn route(ns: &str, name: &str, parent: Value, rules: Value) -> Resource {
    Resource::HttpRoute(
        serde_json::from_value(json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"parentRefs": [parent], "rules": rules}
        }))
        .unwrap(),
    )
}

fn canary() -> Resource {
    route(
        "shop",
        "api-canary",
        json!({"group": "", "kind": "Service", "name": "api"}),
        json!([
            {"name": "canary-header",
             "matches": [{"path": {"type": "PathPrefix", "value": "/items"},
                          "headers": [{"name": "x-canary", "value": "1"}]}],
             "filters": [{"type": "RequestHeaderModifier",
                          "requestHeaderModifier": {"set": [{"name": "x-routed", "value": "canary"}]}}],
             "backendRefs": [{"name": "api-v2", "port": 80}]},
            {"matches": [{"path": {"type": "PathPrefix", "value": "/items"}}],
             "backendRefs": [{"name": "api-v1", "port": 80, "weight": 90},
                             {"name": "api-v2", "port": 80, "weight": 10}],
             "timeouts": {"request": "10s", "backendRequest": "2s"}},
            {"matches": [{"path": {"type": "Exact", "value": "/old"}}],
             "filters": [{"type": "RequestRedirect",
                          "requestRedirect": {"path": {"type": "ReplaceFullPath", "replaceFullPath": "/items"},
                                              "statusCode": 301}}]},
            {"matches": [{"path": {"type": "Exact", "value": "/shortcut"}}],
             "filters": [{"type": "URLRewrite",
                          "urlRewrite": {"path": {"type": "ReplaceFullPath", "replaceFullPath": "/items/1"}}}],
             "backendRefs": [{"name": "api-v1", "port": 80}]},
            {"matches": [{"path": {"type": "PathPrefix", "value": "/items"},
                          "queryParams": [{"name": "v", "value": "2"}]}],
             "backendRefs": [{"name": "api-v2", "port": 80}]},
            {"matches": [{"path": {"type": "Exact", "value": "/drained"}}],
             "backendRefs": [{"name": "api-v1", "port": 80, "weight": 0}]}
        ]),
    )
}

/// A consumer route of namespace front, sending to shop's api-v2 without a
/// ReferenceGrant in shop.
fn consumer() -> Resource {
    route(
        "front",
        "to-v2",
        json!({"group": "", "kind": "Service", "name": "api", "namespace": "shop", "port": 80}),
        json!([{"backendRefs": [{"name": "api-v2", "namespace": "shop", "port": 80}]}]),
    )
}

fn cluster(routes: Vec<Resource>) -> (Index, Vec<Parent>) {
    let td: TrustDomain = "cluster.local".parse().unwrap();
    let mut ix = Index::new(Config::new(td));
    let mut all = vec![
        pod("api-v1-0", "10.0.0.5", "v1"),
        pod("api-v2-0", "10.0.0.6", "v2"),
        service("api", "10.96.0.10"),
        service("api-v1", "10.96.0.11"),
        service("api-v2", "10.96.0.12"),
        slice("api", &[("api-v1-0", "10.0.0.5"), ("api-v2-0", "10.0.0.6")]),
        slice("api-v1", &[("api-v1-0", "10.0.0.5")]),
        slice("api-v2", &[("api-v2-0", "10.0.0.6")]),
    ];
    for ns in ["shop", "front"] {
        all.push(Resource::Namespace(
            serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap(),
        ));
    }
    all.push(Resource::HttpRouteGroup(
        serde_json::from_value(json!({
            "apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "HTTPRouteGroup",
            "metadata": {"name": "api-routes", "namespace": "shop"},
            "spec": {"matches": [{"name": "read", "pathRegex": "/items.*", "methods": ["GET"]}]}
        }))
        .unwrap(),
    ));
    all.push(Resource::TrafficTarget(
        serde_json::from_value(json!({
            "apiVersion": "access.smi-spec.io/v1alpha3", "kind": "TrafficTarget",
            "metadata": {"name": "to-api", "namespace": "shop"},
            "spec": {"destination": {"kind": "ServiceAccount", "name": "api", "namespace": "shop"},
                     "sources": [{"kind": "ServiceAccount", "name": "web", "namespace": "shop"},
                                 {"kind": "ServiceAccount", "name": "web", "namespace": "front"}],
                     "rules": [{"kind": "HTTPRouteGroup", "name": "api-routes", "matches": ["read"]}]}
        }))
        .unwrap(),
    ));
    let parents = parents(&[routes.clone(), all.clone()].concat());
    for r in all.into_iter().chain(routes) {
        ix.apply(r);
    }
    (ix, parents)
}

fn http(path: &str, headers: &[(&str, &str)]) -> Traffic {
    Traffic::Http {
        method: "GET".into(),
        path: path.into(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

/// The explanation and its text for `source` calling `pod` with `traffic`,
/// with the canary route (and `more`).
fn ask(source: &str, pod: &str, traffic: Traffic, more: Vec<Resource>) -> (Vec<Routed>, String) {
    let (mut ix, parents) = cluster([vec![canary()], more].concat());
    let q = Question {
        source: source.parse().unwrap(),
        namespace: "shop".into(),
        pod: pod.into(),
        port: 8080,
        traffic,
    };
    let td: TrustDomain = "cluster.local".parse().unwrap();
    let e = explain(&mut ix, &td, &q, &parents).unwrap();
    let text = render(&q, &e);
    (e.routes, text)
}

fn matched(r: &Routed) -> &Matched {
    match &r.outcome {
        Outcome::Rule(m) => m,
        other => panic!("not a rule: {other:?}"),
    }
}

#[test]
fn a_parent_without_a_port_attaches_to_every_port_of_its_service() {
    let (_, parents) = cluster(vec![canary(), consumer()]);
    let api = Parent {
        namespace: "shop".into(),
        name: "api".into(),
        port: 80,
    };
    assert_eq!(parents, [api]);
    assert!(
        super::parents(&[canary()]).is_empty(),
        "no Service, no port"
    );
}

#[test]
fn the_weighted_rule_names_its_backends_and_this_pod() {
    let (routes, text) = ask("shop/web", "api-v1-0", http("/items/7", &[]), vec![]);
    assert_eq!(routes.len(), 1, "{routes:?}");
    assert_eq!(routes[0].parent.name, "api");
    let m = matched(&routes[0]);
    assert_eq!(m.rule.rule, "1");
    assert_eq!(
        m.shares
            .iter()
            .map(|s| (s.backend.as_str(), s.weight, s.here))
            .collect::<Vec<_>>(),
        [("shop/api-v1:80", 90, true), ("shop/api-v2:80", 10, false)]
    );
    let Some(Ok(d)) = &m.delivered else {
        panic!("{:?}", m.delivered)
    };
    assert!(d.decision.is_allowed(), "{:?}", d.decision);
    for want in [
        "Gateway API routes of Service shop/api port 80, for a client in namespace shop:",
        "✔ HTTPRoute shop/api-canary rule 1 matches: path prefix /items",
        "request timeout 10s; each attempt 2s",
        "shop/api-v1:80 weight 90 (90%) ← this pod, shop/api-v2:80 weight 10 (10%)",
        "still authorize the request with their own TrafficTargets",
        "at this pod: ALLOW by",
    ] {
        assert!(text.contains(want), "{want:?} in\n{text}");
    }
}

#[test]
fn the_query_counts_for_route_matches() {
    let (routes, text) = ask("shop/web", "api-v2-0", http("/items?v=2", &[]), vec![]);
    assert_eq!(matched(&routes[0]).rule.rule, "4");
    assert!(
        text.contains("path prefix /items and query v = 2"),
        "{text}"
    );
    assert!(text.contains("at this pod: ALLOW by"), "{text}");
}

#[test]
fn a_rule_sending_elsewhere_says_so_and_the_other_pod_sees_the_filters() {
    let canary = [("x-canary", "1")];
    let (routes, text) = ask("shop/web", "api-v1-0", http("/items", &canary), vec![]);
    let m = matched(&routes[0]);
    assert_eq!(m.rule.rule, "canary-header");
    assert!(m.delivered.is_none());
    assert!(text.contains("none of them sends it to this pod"), "{text}");

    let (routes, text) = ask("shop/web", "api-v2-0", http("/items", &canary), vec![]);
    let Some(Ok(d)) = &matched(&routes[0]).delivered else {
        panic!("{routes:?}")
    };
    assert_eq!(d.header_changes, ["x-routed: canary"]);
    assert!(
        text.contains("filters: request headers (set x-routed: canary)"),
        "{text}"
    );
    assert!(text.contains("(headers: x-routed: canary)"), "{text}");
}

#[test]
fn unmatched_requests_and_redirects_reach_no_backend() {
    let (routes, text) = ask("shop/web", "api-v1-0", http("/admin", &[]), vec![]);
    assert!(matches!(routes[0].outcome, Outcome::NoRule));
    assert!(
        text.contains("404 with weft-proxy-error: no-route (gRPC: UNIMPLEMENTED)"),
        "{text}"
    );

    let (routes, text) = ask("shop/web", "api-v1-0", http("/old", &[]), vec![]);
    let m = matched(&routes[0]);
    assert!(
        m.answered.as_deref().is_some_and(|a| a.contains("301")),
        "{m:?}"
    );
    assert!(m.delivered.is_none());
    assert!(text.contains("redirect 301, path /items"), "{text}");
    assert!(
        text.contains("answers 301 Moved Permanently (Location: http://api.shop/items) itself"),
        "{text}"
    );
    assert!(text.contains("no backend is asked"), "{text}");

    let (routes, text) = ask("shop/web", "api-v1-0", http("/drained", &[]), vec![]);
    assert!(matched(&routes[0]).delivered.is_none());
    assert!(
        text.contains("answers 500 Internal Server Error with weft-proxy-error: bad-route (the rule has no backendRef with a weight) itself"),
        "{text}"
    );

    let (routes, _) = ask("shop/web", "api-v1-0", http("/a/%2F/b", &[]), vec![]);
    assert!(
        matches!(routes[0].outcome, Outcome::BadPath(_)),
        "{routes:?}"
    );
}

#[test]
fn the_pod_judges_the_request_as_the_route_rewrote_it() {
    let (routes, text) = ask("shop/web", "api-v1-0", http("/shortcut", &[]), vec![]);
    // Sent straight to the pod, /shortcut matches no grant; routed, it
    // arrives as /items/1, which the TrafficTarget allows.
    assert!(text.starts_with("DENY (route-not-matched)"), "{text}");
    let Some(Ok(d)) = &matched(&routes[0]).delivered else {
        panic!("{routes:?}")
    };
    assert_eq!(d.path, "/items/1");
    assert!(d.decision.is_allowed(), "{:?}", d.decision);
    assert!(
        text.contains("at this pod: ALLOW by") && text.contains("for GET /items/1"),
        "{text}"
    );
}

#[test]
fn a_consumer_route_is_what_its_namespace_sees() {
    let (routes, text) = ask(
        "front/web",
        "api-v1-0",
        http("/items", &[]),
        vec![consumer()],
    );
    let m = matched(&routes[0]);
    assert_eq!(m.rule.route, "HTTPRoute/front/to-v2");
    // No ReferenceGrant in shop: the backendRef cannot be used.
    assert_eq!(m.shares[0].backend, "");
    assert!(
        text.contains(
            "a backendRef weft cannot use weight 1 (100%) whose share is answered 500 bad-route"
        ),
        "{text}"
    );
    assert!(text.contains("for a client in namespace front"), "{text}");

    let (routes, _) = ask(
        "shop/web",
        "api-v1-0",
        http("/items", &[]),
        vec![consumer()],
    );
    assert_eq!(matched(&routes[0]).rule.route, "HTTPRoute/shop/api-canary");
}

#[test]
fn routes_do_not_apply_to_tcp_nor_to_clients_without_a_proxy() {
    let (routes, text) = ask("shop/web", "api-v1-0", Traffic::Tcp, vec![]);
    assert!(matches!(routes[0].outcome, Outcome::NotHttp));
    assert!(text.contains("routes decide HTTP requests"), "{text}");

    let (routes, text) = ask(
        "unauthenticated@10.1.2.3",
        "api-v1-0",
        http("/items", &[]),
        vec![],
    );
    assert!(matches!(routes[0].outcome, Outcome::NoProxy));
    assert!(text.contains("for a client outside the mesh"), "{text}");
}

#[test]
fn without_routes_the_answer_is_smi_alone() {
    let td: TrustDomain = "cluster.local".parse().unwrap();
    let (mut ix, parents) = cluster(vec![]);
    assert!(parents.is_empty());
    let q = Question {
        source: Source::ServiceAccount {
            namespace: "shop".into(),
            name: "web".into(),
        },
        namespace: "shop".into(),
        pod: "api-v1-0".into(),
        port: 8080,
        traffic: http("/items?page=2", &[]),
    };
    let e = explain(&mut ix, &td, &q, &parents).unwrap();
    assert!(e.decision.is_allowed(), "the query is not part of the path");
    assert!(e.routes.is_empty());
    assert!(!render(&q, &e).contains("Gateway API"));
}

#[test]
fn backend_names_read_as_namespace_and_name() {
    assert_eq!(short("api-v1.shop.svc.cluster.local:80"), "shop/api-v1:80");
    assert_eq!(short(""), "");
    assert_eq!(short("odd:80"), "odd:80");
}
