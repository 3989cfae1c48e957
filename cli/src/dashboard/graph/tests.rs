use super::*;
use crate::stat::rows::EdgeRow;

fn workload(ns: &str, name: &str, sa: &str) -> Workload {
    Workload {
        namespace: ns.into(),
        kind: "Deployment".into(),
        name: name.into(),
        meshed: true,
        service_account: Some(sa.into()),
        pods: 1,
        default_allow: true,
        ..Default::default()
    }
}

fn row(ok: u64, failed: u64) -> Row {
    Row {
        kind: "Deployment".into(),
        namespace: Some("shop".into()),
        name: String::new(),
        success_count: ok,
        failure_count: failed,
        success_rate: (ok + failed > 0).then(|| ok as f64 / (ok + failed) as f64),
        rps: (ok + failed) as f64 / 30.0,
        p99_ms: Some(9.0),
        window_seconds: 30.0,
        ..Default::default()
    }
}

/// An edge row of `of`: `direction` `to` (it called the peer) or `from`.
fn edge(of: &str, direction: &str, side: &str, peer: &str, ok: u64, failed: u64) -> (Id, Row) {
    (
        id("shop", "Deployment", of),
        Row {
            edge: Some(EdgeRow {
                direction: direction.into(),
                side: side.into(),
                peer: ObjectReference {
                    kind: "Deployment".into(),
                    namespace: Some("shop".into()),
                    name: Some(peer.into()),
                },
            }),
            ..row(ok, failed)
        },
    )
}

fn grant(from_sa: &str, to: &str) -> Grant {
    Grant {
        from: ("shop".into(), from_sa.into()),
        to: id("shop", "Deployment", to),
        authorization: format!("traffictarget/shop/{from_sa}-to-{to}"),
    }
}

fn find<'a>(g: &'a Graph, from: &str, to: &str) -> &'a Edge {
    let (from, to) = (id("shop", "Deployment", from), id("shop", "Deployment", to));
    g.edges
        .iter()
        .find(|e| e.from == from && e.to == to)
        .unwrap_or_else(|| panic!("no edge {from} -> {to} in {:#?}", g.edges))
}

#[test]
fn a_granted_edge_with_traffic_is_used_and_one_without_is_unused() {
    let mut api = workload("shop", "api", "api");
    api.targeted = true;
    let g = build(Inputs {
        workloads: vec![
            workload("shop", "web", "web"),
            api,
            workload("shop", "admin", "admin"),
        ],
        edges: vec![edge("api", "from", "server", "web", 30, 0)],
        grants: vec![grant("web", "api"), grant("admin", "api")],
        ..Default::default()
    });
    let used = find(&g, "web", "api");
    assert_eq!(used.state, State::AllowedUsed);
    assert_eq!(
        used.authorization.as_deref(),
        Some("traffictarget/shop/web-to-api")
    );
    assert_eq!(used.rps, Some(1.0));
    let unused = find(&g, "admin", "api");
    assert_eq!(unused.state, State::AllowedUnused);
    assert_eq!(unused.rps, None);
}

#[test]
fn traffic_no_grant_allows_to_a_targeted_workload_is_refused_with_its_count() {
    let mut api = workload("shop", "api", "api");
    api.targeted = true;
    let g = build(Inputs {
        workloads: vec![workload("shop", "intruder", "intruder"), api],
        edges: vec![edge("api", "from", "server", "intruder", 0, 12)],
        ..Default::default()
    });
    let e = find(&g, "intruder", "api");
    assert_eq!(e.state, State::Refused);
    assert_eq!(
        e.denied,
        vec![Denied {
            reason: "no-traffic-target".into(),
            count: 12
        }]
    );
}

#[test]
fn the_proxies_denial_counts_are_shown_on_an_allowed_edge_too() {
    let mut api = workload("shop", "api", "api");
    api.targeted = true;
    let (of, mut r) = edge("api", "from", "server", "web", 20, 5);
    r.denied = [("route-not-matched".to_string(), 5)].into();
    let g = build(Inputs {
        workloads: vec![workload("shop", "web", "web"), api],
        edges: vec![(of, r)],
        grants: vec![grant("web", "api")],
        ..Default::default()
    });
    let e = find(&g, "web", "api");
    assert_eq!(e.state, State::AllowedUsed);
    assert_eq!(
        e.denied,
        vec![Denied {
            reason: "route-not-matched".into(),
            count: 5
        }]
    );
}

#[test]
fn under_default_deny_an_untargeted_workload_refuses_too() {
    let mut api = workload("shop", "api", "api");
    api.default_allow = false;
    let g = build(Inputs {
        workloads: vec![workload("shop", "web", "web"), api],
        edges: vec![edge("web", "to", "client", "api", 0, 3)],
        ..Default::default()
    });
    assert_eq!(find(&g, "web", "api").state, State::Refused);
}

#[test]
fn traffic_to_a_workload_no_policy_restricts_is_unpoliced() {
    let g = build(Inputs {
        workloads: vec![
            workload("shop", "web", "web"),
            workload("shop", "api", "api"),
        ],
        edges: vec![edge("web", "to", "client", "api", 5, 0)],
        ..Default::default()
    });
    let e = find(&g, "web", "api");
    assert_eq!(e.state, State::Unpoliced);
    assert!(e.denied.is_empty());
}

#[test]
fn the_server_sides_measurement_wins_whichever_comes_first() {
    let workloads = vec![
        workload("shop", "web", "web"),
        workload("shop", "api", "api"),
    ];
    for edges in [
        vec![
            edge("web", "to", "client", "api", 50, 0),
            edge("api", "from", "server", "web", 20, 10),
        ],
        vec![
            edge("api", "from", "server", "web", 20, 10),
            edge("web", "to", "client", "api", 50, 0),
        ],
    ] {
        let g = build(Inputs {
            workloads: workloads.clone(),
            edges,
            ..Default::default()
        });
        assert_eq!(g.edges.len(), 1, "{:#?}", g.edges);
        assert_eq!(find(&g, "web", "api").success, Some(20.0 / 30.0));
    }
}

#[test]
fn an_edge_with_no_request_in_the_window_counts_as_no_traffic() {
    let mut api = workload("shop", "api", "api");
    api.targeted = true;
    let g = build(Inputs {
        workloads: vec![workload("shop", "web", "web"), api],
        edges: vec![edge("api", "from", "server", "web", 0, 0)],
        ..Default::default()
    });
    // Measured once, idle now: neither refused nor drawn as used.
    assert_eq!(find(&g, "web", "api").state, State::Unpoliced);
    assert_eq!(find(&g, "web", "api").rps, None);
}

#[test]
fn a_callers_view_of_a_shared_identity_gives_way_to_each_workloads_own() {
    // api-v1 and api-v2 run as `api`: web's proxy can only name the peer
    // by that ServiceAccount, their proxies name web.
    let (of, mut client) = edge("web", "to", "client", "", 10, 0);
    if let Some(e) = client.edge.as_mut() {
        e.peer = ObjectReference {
            kind: "ServiceAccount".into(),
            namespace: Some("shop".into()),
            name: Some("api".into()),
        };
    }
    let g = build(Inputs {
        workloads: vec![
            workload("shop", "web", "web"),
            workload("shop", "api-v1", "api"),
            workload("shop", "api-v2", "api"),
        ],
        edges: vec![
            (of.clone(), client.clone()),
            edge("api-v1", "from", "server", "web", 8, 0),
            edge("api-v2", "from", "server", "web", 2, 0),
        ],
        ..Default::default()
    });
    let pairs: Vec<(&str, &str)> = g
        .edges
        .iter()
        .map(|e| (e.from.as_str(), e.to.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("shop/deployment/web", "shop/deployment/api-v1"),
            ("shop/deployment/web", "shop/deployment/api-v2")
        ]
    );
    assert!(g.nodes.iter().all(|n| n.kind != "serviceaccount"));
    // Without the workloads' own measurements, the caller's view stays.
    let g = build(Inputs {
        workloads: vec![workload("shop", "web", "web")],
        edges: vec![(of, client)],
        ..Default::default()
    });
    assert_eq!(g.edges.len(), 1);
    assert_eq!(g.edges[0].to, "shop/serviceaccount/api");
}

#[test]
fn peers_and_granted_identities_outside_the_workloads_become_nodes() {
    let g = build(Inputs {
        workloads: vec![workload("shop", "api", "api")],
        edges: vec![edge("api", "from", "server", "elsewhere", 1, 0)],
        grants: vec![grant("batch", "api")],
        ..Default::default()
    });
    let ids: Vec<&str> = g.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "shop/deployment/api",
            "shop/deployment/elsewhere",
            "shop/serviceaccount/batch"
        ]
    );
    assert_eq!(
        g.edges
            .iter()
            .find(|e| e.from == "shop/serviceaccount/batch")
            .map(|e| e.state),
        Some(State::AllowedUnused)
    );
}

#[test]
fn every_workload_of_a_granted_identity_gets_the_grant() {
    let g = build(Inputs {
        workloads: vec![
            workload("shop", "web", "front"),
            workload("shop", "web-canary", "front"),
            workload("shop", "api", "api"),
        ],
        grants: vec![grant("front", "api")],
        ..Default::default()
    });
    assert_eq!(find(&g, "web", "api").state, State::AllowedUnused);
    assert_eq!(find(&g, "web-canary", "api").state, State::AllowedUnused);
}

#[test]
fn a_splits_shares_are_its_weights_and_its_traffic() {
    let g = build(Inputs {
        splits: vec![SplitInput {
            namespace: "shop".into(),
            name: "api-split".into(),
            service: "api".into(),
            weights: vec![("api-v1".into(), 900), ("api-v2".into(), 100)],
            observed_rps: [("api-v1".to_string(), 8.0), ("api-v2".to_string(), 2.0)].into(),
        }],
        ..Default::default()
    });
    let b = &g.splits[0].backends;
    assert_eq!(b[0].weight_share, Some(0.9));
    assert_eq!(b[1].weight_share, Some(0.1));
    assert_eq!(b[0].observed_share, Some(0.8));
    assert_eq!(b[1].observed_share, Some(0.2));
}

#[test]
fn a_split_without_traffic_or_weights_has_no_shares() {
    let g = build(Inputs {
        splits: vec![SplitInput {
            weights: vec![("a".into(), 0)],
            ..Default::default()
        }],
        ..Default::default()
    });
    assert_eq!(g.splits[0].backends[0].weight_share, None);
    assert_eq!(g.splits[0].backends[0].observed_share, None);
}

#[test]
fn a_node_carries_its_pods_proxy_images() {
    let mut web = workload("shop", "web", "web");
    web.proxy_images = vec!["weft/proxy:0.1.0".into(), "weft/proxy:0.2.0".into()];
    let g = build(Inputs {
        workloads: vec![web],
        ..Default::default()
    });
    assert_eq!(
        g.nodes[0].proxy_images,
        ["weft/proxy:0.1.0", "weft/proxy:0.2.0"]
    );
    let json = serde_json::to_value(&g.nodes[0]).unwrap();
    assert_eq!(json["proxy_images"][1], "weft/proxy:0.2.0");
}

#[test]
fn the_page_reads_the_states_in_kebab_case() {
    let json = serde_json::to_value(State::AllowedUnused).unwrap();
    assert_eq!(json, "allowed-unused");
}

#[test]
fn connections_forwarded_as_bytes_count_as_use() {
    let mut tcp = workload("shop", "tcp", "tcp");
    tcp.targeted = true;
    let (of, mut row) = edge("tcp", "from", "server", "web", 0, 0);
    row.tcp_connections = [(7000, 3)].into();
    let idle = edge("tcp", "from", "server", "admin", 0, 0);
    let g = build(Inputs {
        workloads: vec![
            workload("shop", "web", "web"),
            workload("shop", "admin", "admin"),
            tcp,
        ],
        edges: vec![(of, row), idle],
        grants: vec![grant("web", "tcp"), grant("admin", "tcp")],
        ..Default::default()
    });
    assert_eq!(find(&g, "web", "tcp").state, State::AllowedUsed);
    assert_eq!(find(&g, "web", "tcp").tcp_connections, 3);
    assert_eq!(find(&g, "admin", "tcp").state, State::AllowedUnused);
}

#[test]
fn a_node_shows_its_certificate_expiry_with_or_without_traffic() {
    let mut idle = workload("shop", "idle", "idle");
    idle.stats = Some(Row {
        certificate_expiry: Some(1_800_000_000.0),
        ..row(0, 0)
    });
    let g = build(Inputs {
        workloads: vec![idle, workload("shop", "web", "web")],
        ..Default::default()
    });
    let node = |name: &str| {
        g.nodes
            .iter()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("no {name}"))
    };
    assert_eq!(node("idle").certificate_expiry, Some(1_800_000_000.0));
    assert_eq!(node("idle").rps, None, "no traffic, no figures");
    assert_eq!(node("web").certificate_expiry, None);
}
