use super::*;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use serde_json::json;
use weft_controller::index::{Config, Resource};

fn index() -> (Index, TrustDomain) {
    let td: TrustDomain = "cluster.local".parse().unwrap();
    let mut ix = Index::new(Config::new(td.clone()));
    ix.apply(Resource::Namespace(
        serde_json::from_value::<Namespace>(json!({"metadata": {"name": "shop"}})).unwrap(),
    ));
    ix.apply(Resource::Pod(
        serde_json::from_value::<Pod>(json!({
            "metadata": {"name": "api-0", "namespace": "shop"},
            "spec": {
                "serviceAccountName": "api",
                "initContainers": [{"name": "weft-proxy", "restartPolicy": "Always"}],
                "containers": [{"name": "app", "ports": [{"containerPort": 8080}]}]
            },
            "status": {"phase": "Running", "podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}]}
        }))
        .unwrap(),
    ));
    ix.apply(Resource::HttpRouteGroup(
        serde_json::from_value(json!({
            "apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "HTTPRouteGroup",
            "metadata": {"name": "api-routes", "namespace": "shop"},
            "spec": {"matches": [{"name": "read", "pathRegex": "/items", "methods": ["GET"]}]}
        }))
        .unwrap(),
    ));
    ix.apply(Resource::TrafficTarget(
        serde_json::from_value(json!({
            "apiVersion": "access.smi-spec.io/v1alpha3", "kind": "TrafficTarget",
            "metadata": {"name": "web-to-api", "namespace": "shop"},
            "spec": {"destination": {"kind": "ServiceAccount", "name": "api", "namespace": "shop"},
                     "sources": [{"kind": "ServiceAccount", "name": "web", "namespace": "shop"}],
                     "rules": [{"kind": "HTTPRouteGroup", "name": "api-routes", "matches": ["read"]}]}
        }))
        .unwrap(),
    ));
    (ix, td)
}

fn ask(source: &str, traffic: Traffic) -> (Question, Explanation) {
    let (mut ix, td) = index();
    let q = Question {
        source: source.parse().unwrap(),
        namespace: "shop".into(),
        pod: "api-0".into(),
        port: 8080,
        traffic,
    };
    let e = explain(&mut ix, &td, &q, &[]).unwrap();
    (q, e)
}

fn get(path: &str) -> Traffic {
    Traffic::Http {
        method: "GET".into(),
        path: path.into(),
        headers: vec![],
    }
}

#[test]
fn a_matching_route_is_allowed_and_says_by_what() {
    let (q, e) = ask("shop/web", get("/items/42"));
    assert!(e.decision.is_allowed(), "{:?}", e.decision);
    let text = render(&q, &e);
    assert!(
        text.starts_with("ALLOW: spiffe://cluster.local/ns/shop/sa/web"),
        "{text}"
    );
    assert!(text.contains("✔ "), "{text}");
}

#[test]
fn denials_name_the_reason_the_proxy_would_send() {
    let (q, e) = ask("shop/web", get("/admin"));
    assert_eq!(
        e.decision,
        Decision::Deny {
            reason: "route-not-matched"
        }
    );
    assert!(render(&q, &e).contains("403 with weft-deny-reason: route-not-matched"));

    let (q, e) = ask("shop/other", get("/items"));
    assert_eq!(
        e.decision,
        Decision::Deny {
            reason: "no-traffic-target"
        }
    );
    assert!(render(&q, &e).contains("does not name this source"));

    let (_, e) = ask("unauthenticated@10.1.2.3", Traffic::Tcp);
    assert_eq!(
        e.decision,
        Decision::Deny {
            reason: "unauthenticated"
        }
    );
    // A routes-only grant cannot allow a connection the proxy does not
    // serve as HTTP.
    let (q, e) = ask("shop/web", Traffic::Tcp);
    assert_eq!(
        e.decision,
        Decision::Deny {
            reason: "route-not-matched"
        }
    );
    assert!(render(&q, &e).contains("the connection closed"));
}

#[test]
fn unknown_pods_and_bad_sources_are_errors() {
    let (mut ix, td) = index();
    let q = Question {
        source: Source::Unauthenticated(std::net::Ipv4Addr::LOCALHOST.into()),
        namespace: "shop".into(),
        pod: "nope".into(),
        port: 8080,
        traffic: Traffic::Tcp,
    };
    assert!(explain(&mut ix, &td, &q, &[]).is_err());
    let q = Question {
        pod: "api-0".into(),
        traffic: get("items"),
        ..q
    };
    assert!(
        explain(&mut ix, &td, &q, &[]).is_err_and(|e| e.to_string().contains("must start with /"))
    );
    for bad in [
        "web",
        "shop/",
        "/web",
        "a/b/c",
        "unauthenticated@nope",
        "unauthenticatedX",
    ] {
        assert!(bad.parse::<Source>().is_err(), "{bad}");
    }
}
