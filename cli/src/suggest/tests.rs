use super::*;
use crate::dashboard::graph::{Grant, Workload};
use crate::stat::rows::{EdgeRow, Row};

fn workload(name: &str, sa: &str) -> Workload {
    Workload {
        namespace: "shop".into(),
        kind: "Deployment".into(),
        name: name.into(),
        meshed: true,
        service_account: Some(sa.into()),
        pods: 1,
        default_allow: true,
        ..Default::default()
    }
}

/// A row of `of` for an edge with `peer` (a Deployment in shop).
fn edge(of: &str, direction: &str, side: &str, peer: &str) -> (Id, Row) {
    (
        graph::id("shop", "Deployment", of),
        Row {
            kind: "Deployment".into(),
            namespace: Some("shop".into()),
            name: of.into(),
            success_count: 1,
            failure_count: 0,
            success_rate: Some(1.0),
            rps: 0.1,
            window_seconds: 30.0,
            edge: Some(EdgeRow {
                direction: direction.into(),
                side: side.into(),
                peer: ObjectReference {
                    kind: "Deployment".into(),
                    namespace: Some("shop".into()),
                    name: Some(peer.into()),
                },
            }),
            ..Default::default()
        },
    )
}

/// A server-side row of `of`: `peer` sent these request shapes.
fn served(of: &str, peer: &str, shapes: &[(&str, u64)]) -> (Id, Row) {
    let (id, mut row) = edge(of, "from", "server", peer);
    row.requests = shapes.iter().map(|(s, n)| (s.to_string(), *n)).collect();
    (id, row)
}

fn demo() -> Inputs {
    let mut tcp = served("tcp", "web", &[]);
    tcp.1.tcp_connections = [(7000, 2)].into();
    tcp.1.success_count = 0;
    let mut client_side = edge("web", "to", "client", "api-v1");
    client_side.1.requests = [("80 GET /client-view".to_string(), 9)].into();
    Inputs {
        window: "30s".into(),
        namespaces: vec!["shop".into()],
        workloads: vec![
            workload("web", "web"),
            workload("api-v1", "api"),
            workload("api-v2", "api"),
            workload("grpc", "grpc"),
            workload("tcp", "tcp"),
        ],
        edges: vec![
            served("api-v1", "web", &[("8080 GET /items", 5)]),
            served(
                "api-v2",
                "web",
                &[
                    ("8080 GET /items", 2),
                    ("8080 GET /items/*", 1),
                    ("8080 GET /old", 0),
                ],
            ),
            served(
                "grpc",
                "web",
                &[("9090 POST /grpc.health.v1.Health/Check", 1)],
            ),
            tcp,
            client_side,
        ],
        ..Default::default()
    }
}

fn run(inputs: &Inputs, only: Option<&str>) -> Suggestion {
    let mut o = Observed::default();
    o.add(inputs);
    suggest(&o, inputs, only)
}

fn object<'a>(s: &'a Suggestion, kind: &str, name: &str) -> &'a Value {
    s.objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {:#?}", s.objects))
}

#[test]
fn exactly_what_flowed_per_destination_account_and_port() {
    let s = run(&demo(), None);
    let kinds: Vec<(&str, &str)> = s
        .objects
        .iter()
        .map(|o| {
            (
                o["kind"].as_str().unwrap(),
                o["metadata"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("HTTPRouteGroup", "api-observed"),
            ("HTTPRouteGroup", "grpc-observed"),
            ("TCPRoute", "tcp-tcp-7000"),
            ("TrafficTarget", "web-to-api-8080"),
            ("TrafficTarget", "web-to-grpc-9090"),
            ("TrafficTarget", "web-to-tcp-7000"),
        ],
        "routes before the TrafficTargets that name them; the client's view and a zero count add nothing"
    );
    // api-v1 and api-v2 run as one account: one group with both shapes.
    assert_eq!(
        object(&s, "HTTPRouteGroup", "api-observed")["spec"]["matches"],
        json!([
            {"name": "get-items", "pathRegex": "/items$", "methods": ["GET"]},
            {"name": "get-items-any", "pathRegex": "/items/[^/]+$", "methods": ["GET"]},
        ])
    );
    assert_eq!(
        object(&s, "HTTPRouteGroup", "grpc-observed")["spec"]["matches"][0]["pathRegex"],
        r"/grpc\.health\.v1\.Health/Check$"
    );
    let tt = &object(&s, "TrafficTarget", "web-to-api-8080")["spec"];
    assert_eq!(
        tt["destination"],
        json!({"kind": "ServiceAccount", "name": "api", "namespace": "shop", "port": 8080})
    );
    assert_eq!(
        tt["sources"],
        json!([{"kind": "ServiceAccount", "name": "web", "namespace": "shop"}])
    );
    assert_eq!(
        tt["rules"],
        json!([{"kind": "HTTPRouteGroup", "name": "api-observed", "matches": ["get-items", "get-items-any"]}])
    );
    assert_eq!(
        object(&s, "TrafficTarget", "web-to-tcp-7000")["spec"]["rules"],
        json!([{"kind": "TCPRoute", "name": "tcp-tcp-7000"}])
    );
    assert_eq!(
        object(&s, "TCPRoute", "tcp-tcp-7000")["spec"],
        json!({"matches": {"ports": [7000]}})
    );
    for o in &s.objects {
        assert_eq!(o["metadata"]["labels"][LABEL], "true");
        assert_eq!(o["metadata"]["namespace"], "shop");
    }
}

#[test]
fn each_caller_gets_only_the_shapes_it_used() {
    let mut inputs = demo();
    inputs.workloads.push(workload("admin-ui", "admin"));
    inputs.edges.push(served(
        "api-v1",
        "admin-ui",
        &[("8080 DELETE /items/*", 3), ("8080 GET /items", 1)],
    ));
    let s = run(&inputs, None);
    let rules =
        |name: &str| object(&s, "TrafficTarget", name)["spec"]["rules"][0]["matches"].clone();
    assert_eq!(
        rules("web-to-api-8080"),
        json!(["get-items", "get-items-any"])
    );
    assert_eq!(
        rules("admin-to-api-8080"),
        json!(["delete-items-any", "get-items"])
    );
}

#[test]
fn a_full_table_allows_any_request_there_and_says_so() {
    let inputs = Inputs {
        workloads: vec![workload("web", "web"), workload("api", "api")],
        edges: vec![served("api", "web", &[("8080 * *", 4), ("8080 GET /a", 1)])],
        ..Default::default()
    };
    let s = run(&inputs, None);
    assert_eq!(
        object(&s, "HTTPRouteGroup", "api-observed")["spec"]["matches"],
        json!([{"name": "any-any-path"}, {"name": "get-a", "pathRegex": "/a$", "methods": ["GET"]}])
    );
    assert!(
        s.notes.iter().any(|n| n.contains("narrow it by hand")),
        "{:?}",
        s.notes
    );
}

#[test]
fn one_workload_only_and_callers_from_other_namespaces() {
    let mut inputs = demo();
    let (id, mut row) = served("grpc", "web", &[("9090 POST /x", 1)]);
    if let Some(e) = row.edge.as_mut() {
        e.peer = ObjectReference {
            kind: "ServiceAccount".into(),
            namespace: Some("ops".into()),
            name: Some("prober".into()),
        };
    }
    inputs.edges.push((id, row));
    let s = run(&inputs, Some("shop/deployment/grpc"));
    let names: Vec<&str> = s
        .objects
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "grpc-observed",
            "ops-prober-to-grpc-9090",
            "web-to-grpc-9090"
        ]
    );
    assert_eq!(
        object(&s, "TrafficTarget", "ops-prober-to-grpc-9090")["spec"]["sources"],
        json!([{"kind": "ServiceAccount", "name": "prober", "namespace": "ops"}])
    );
}

#[test]
fn the_deny_preview_lists_traffic_no_grant_names() {
    let mut inputs = demo();
    // grpc is targeted and web is granted; the others run on default allow.
    inputs.grants.push(Grant {
        from: ("shop".into(), "web".into()),
        to: graph::id("shop", "Deployment", "grpc"),
        authorization: "traffictarget/shop/web-to-grpc".into(),
    });
    if let Some(w) = inputs.workloads.iter_mut().find(|w| w.name == "grpc") {
        w.targeted = true;
    }
    let s = run(&inputs, None);
    assert_eq!(
        s.refused_under_deny,
        [
            "shop/deployment/web → shop/deployment/api-v1",
            "shop/deployment/web → shop/deployment/api-v2",
            "shop/deployment/web → shop/deployment/tcp",
        ],
        "a TCP-only edge counts as traffic too"
    );
}

#[test]
fn reads_add_up_and_the_yaml_reads_back() {
    let mut o = Observed::default();
    o.add(&demo());
    let later = Inputs {
        window: "30s".into(),
        workloads: vec![workload("web", "web"), workload("api-v1", "api")],
        edges: vec![served("api-v1", "web", &[("8080 POST /orders", 1)])],
        ..Default::default()
    };
    o.add(&later);
    let s = suggest(&o, &later, None);
    let matches = &object(&s, "HTTPRouteGroup", "api-observed")["spec"]["matches"];
    assert_eq!(matches.as_array().unwrap().len(), 3, "{matches}");

    let yaml = render_yaml(&s);
    assert!(yaml.starts_with("# weft policy suggest"), "{yaml}");
    assert!(
        yaml.contains("2 read(s) of the metrics API, window 30s"),
        "{yaml}"
    );
    let back: Vec<Value> = yaml
        .split("\n---\n")
        .skip(1)
        .map(|doc| serde_yaml::from_str(doc).unwrap())
        .collect();
    assert_eq!(back, s.objects);
    assert!(render_yaml(&Suggestion::default()).contains("Nothing was observed"));
}

#[test]
fn names_and_regexes() {
    assert_eq!(path_regex("/"), "/$");
    assert_eq!(path_regex("/a.b/*/c+d"), r"/a\.b/[^/]+/c\+d$");
    assert_eq!(match_name("GET", "/v1/items/*"), "get-v1-items-any");
    assert_eq!(dns_name("--A_b--"), "a-b");
    assert_eq!(dns_name("///"), "root");
    assert_eq!(dns_name(&"x".repeat(80)).len(), 63);
    let mut names = Names::default();
    assert_eq!(names.unique("get-a"), "get-a");
    assert_eq!(names.unique("get-a"), "get-a-2");
    assert_eq!(names.unique(&"y".repeat(63)).len(), 63);
    assert_eq!(
        names.unique(&"y".repeat(63)),
        format!("{}-2", "y".repeat(61))
    );
    assert_eq!(
        parse_shape("8080 GET /a b"),
        Some((8080, "GET".into(), "/a b".into()))
    );
    assert_eq!(parse_shape("http GET /a"), None);
    assert_eq!(parse_shape("80 GET a"), None);
}
