use super::*;
use k8s_openapi::api::core::v1::{GRPCAction, HTTPGetAction, TCPSocketAction};
use weft_api::contract::annotations as a;
use weft_api::policy::authorization::Rules;

fn http_get(path: &str, port: IntOrString) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn tcp(port: i32) -> Probe {
    Probe {
        tcp_socket: Some(TCPSocketAction {
            port: IntOrString::Int(port),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn grpc(port: i32) -> Probe {
    Probe {
        grpc: Some(GRPCAction {
            port,
            service: None,
        }),
        ..Default::default()
    }
}

#[test]
fn an_http_probe_allows_unauthenticated_get_of_exactly_its_path() {
    let mut ix = index_with([pod("shop", "api")
        .probe("readiness", http_get("/healthz", IntOrString::Int(8080)))
        .into()]);
    let p = policy(&mut ix, "shop", "api", 8080);
    let a = authz(&p, "probe/app/readiness");
    let c = a.clients.as_ref().unwrap();
    assert!(c.unauthenticated);
    assert!(c.identities.is_empty());
    let Some(Rules::HttpRoutes(r)) = &a.rules else {
        panic!("{a:?}");
    };
    assert_eq!(r.routes.len(), 1);
    assert_eq!(r.routes[0].path_regex, "^/healthz$");
    assert_eq!(r.routes[0].methods, ["GET"]);
}

#[test]
fn a_probe_path_loses_its_query_and_is_matched_literally() {
    let mut ix = index_with([pod("shop", "api")
        .probe(
            "liveness",
            http_get("/health.json?full=1", IntOrString::Int(8080)),
        )
        .into()]);
    let p = policy(&mut ix, "shop", "api", 8080);
    let Some(Rules::HttpRoutes(r)) = &authz(&p, "probe/app/liveness").rules else {
        panic!();
    };
    assert_eq!(r.routes[0].path_regex, r"^/health\.json$");
}

#[test]
fn an_empty_probe_path_is_the_root() {
    let mut ix = index_with([pod("shop", "api")
        .probe("liveness", http_get("", IntOrString::Int(8080)))
        .into()]);
    let p = policy(&mut ix, "shop", "api", 8080);
    let Some(Rules::HttpRoutes(r)) = &authz(&p, "probe/app/liveness").rules else {
        panic!();
    };
    assert_eq!(r.routes[0].path_regex, "^/$");
}

#[test]
fn a_named_probe_port_resolves_through_the_containers_ports() {
    let mut ix = index_with([pod("shop", "api")
        .probe(
            "startup",
            http_get("/ready", IntOrString::String("http".into())),
        )
        .into()]);
    let p = policy(&mut ix, "shop", "api", 8080);
    assert_eq!(names(&p), ["probe/app/startup"]);
}

#[test]
fn a_probe_is_authorised_only_on_the_port_it_targets() {
    let mut ix = index_with([pod("shop", "api")
        .probe("liveness", http_get("/live", IntOrString::Int(9000)))
        .into()]);
    assert!(
        policy(&mut ix, "shop", "api", 8080)
            .authorizations
            .is_empty()
    );
    assert_eq!(
        names(&policy(&mut ix, "shop", "api", 9000)),
        ["probe/app/liveness"]
    );
}

#[test]
fn tcp_and_grpc_probes_allow_all_traffic_on_their_port() {
    let mut ix = index_with([pod("shop", "api")
        .probe("liveness", tcp(7000))
        .probe("readiness", grpc(7001))
        .into()]);
    let p = policy(&mut ix, "shop", "api", 7000);
    let a = authz(&p, "probe/app/liveness");
    assert!(matches!(a.rules, Some(Rules::AllTraffic(_))));
    assert!(a.clients.as_ref().unwrap().unauthenticated);
    let p = policy(&mut ix, "shop", "api", 7001);
    assert!(matches!(
        authz(&p, "probe/app/readiness").rules,
        Some(Rules::AllTraffic(_))
    ));
}

#[test]
fn an_https_probe_allows_all_traffic_on_its_port() {
    let mut probe = http_get("/healthz", IntOrString::Int(8443));
    probe.http_get.as_mut().unwrap().scheme = Some("HTTPS".into());
    let mut ix = index_with([pod("shop", "api").probe("liveness", probe).into()]);
    let p = policy(&mut ix, "shop", "api", 8443);
    assert!(matches!(
        authz(&p, "probe/app/liveness").rules,
        Some(Rules::AllTraffic(_))
    ));
}

#[test]
fn probes_are_authorised_on_targeted_and_deny_pods_too() {
    let mut ix = index_with([
        pod("shop", "api")
            .sa("api")
            .ann(a::DEFAULT_POLICY, "deny")
            .probe("readiness", http_get("/ready", IntOrString::Int(8080)))
            .into(),
        tt("shop", "web-to-api", "api").source("web", None).into(),
    ]);
    let p = policy(&mut ix, "shop", "api", 8080);
    assert!(p.targeted);
    assert_eq!(names(&p), ["probe/app/readiness"]);
}

#[test]
fn the_proxys_own_probes_are_not_authorised() {
    let mut p = pod("shop", "api").build();
    p.spec.as_mut().unwrap().init_containers.as_mut().unwrap()[0].liveness_probe =
        Some(http_get("/live", IntOrString::Int(4191)));
    let mut ix = index_with([PodB(p).into()]);
    assert!(
        policy(&mut ix, "shop", "api", 4191)
            .authorizations
            .is_empty()
    );
}

#[test]
fn probes_the_proxy_runs_open_nothing() {
    let moved = |kind: &str| http_get(&format!("/probe/app/{kind}"), IntOrString::Int(4191));
    let mut ix = index_with([pod("shop", "api")
        .ann(a::DEFAULT_POLICY, "deny")
        .probe("liveness", moved("liveness"))
        .probe("readiness", moved("readiness"))
        .into()]);
    for port in [8080, 4191] {
        assert!(
            policy(&mut ix, "shop", "api", port)
                .authorizations
                .is_empty(),
            "port {port}"
        );
    }
    assert_eq!(ix.findings(), Vec::new());
}

#[test]
fn a_probe_of_another_host_opens_nothing_here() {
    let mut remote = tcp(5432);
    remote.tcp_socket.as_mut().unwrap().host = Some("db.example".into());
    let mut web = http_get("/", IntOrString::Int(8080));
    web.http_get.as_mut().unwrap().host = Some("example.com".into());
    let mut ix = index_with([pod("shop", "api")
        .probe("readiness", remote)
        .probe("liveness", web)
        .into()]);
    for port in [5432, 8080] {
        assert!(
            policy(&mut ix, "shop", "api", port)
                .authorizations
                .is_empty(),
            "port {port}"
        );
    }
    assert_eq!(ix.findings(), Vec::new());
}
