use super::*;
use crate::index::Owner;
use crate::metrics_api::selector::LabelSelector;

const TD: &str = "spiffe://cluster.local";

fn pod(ns: &str, name: &str, sa: &str, owner: Option<(&'static str, &str)>) -> MeshedPod {
    MeshedPod {
        namespace: ns.into(),
        name: name.into(),
        ip: "10.0.0.1".parse().unwrap(),
        service_account: sa.into(),
        labels: [("app".to_string(), sa.to_string())].into(),
        owner: owner.map(|(kind, name)| Owner {
            kind,
            name: name.into(),
        }),
    }
}

fn id(ns: &str, sa: &str) -> String {
    format!("{TD}/ns/{ns}/sa/{sa}")
}

/// `success` fast responses (under 5 ms) and `failure` slow ones (50–100 ms).
fn delta(success: u64, failure: u64) -> Delta {
    Delta {
        success,
        failure,
        buckets: vec![
            (0.005, success),
            (0.05, 0),
            (0.1, failure),
            (f64::INFINITY, 0),
        ],
        seconds: 30.0,
        ..Default::default()
    }
}

fn edge(direction: Direction, peer: &str) -> Edge {
    Edge {
        direction,
        peer: peer.into(),
    }
}

struct World {
    pods: Vec<MeshedPod>,
    scraped: Scraped,
    namespaces: BTreeMap<String, BTreeMap<String, String>>,
    splits: SplitBackends,
}

/// `client` (two pods of Deployment client) calls `server` (Deployment
/// server); `tool` runs as the same ServiceAccount as `batch`; something
/// outside the mesh reaches server-1 in plaintext.
fn world() -> World {
    let pods = vec![
        pod("shop", "client-1", "client", Some(("Deployment", "client"))),
        pod("shop", "client-2", "client", Some(("Deployment", "client"))),
        pod("shop", "server-1", "server", Some(("Deployment", "server"))),
        pod("shop", "db-0", "db", Some(("StatefulSet", "db"))),
        pod("jobs", "tool", "batch", None),
        pod("jobs", "batch-1", "batch", Some(("Deployment", "batch"))),
    ];
    let mut scraped = Scraped {
        at: Some(Time(
            k8s_openapi::jiff::Timestamp::from_second(1_800_000_000).unwrap(),
        )),
        pods: BTreeMap::new(),
    };
    let mut put = |ns: &str, name: &str, edges: Vec<(Edge, Delta)>| {
        let window = PodWindow {
            seconds: 30.0,
            edges: edges.into_iter().collect(),
            certificate_expiry: None,
        };
        scraped.pods.insert((ns.into(), name.into()), window);
    };
    put(
        "shop",
        "client-1",
        vec![(
            edge(Direction::Outbound, &id("shop", "server")),
            delta(6, 1),
        )],
    );
    put(
        "shop",
        "client-2",
        vec![(
            edge(Direction::Outbound, &id("shop", "server")),
            delta(4, 1),
        )],
    );
    put(
        "shop",
        "server-1",
        vec![
            (
                edge(Direction::Inbound, &id("shop", "client")),
                delta(10, 2),
            ),
            (edge(Direction::Inbound, &id("jobs", "batch")), delta(3, 0)),
            (edge(Direction::Inbound, "unauthenticated"), delta(1, 1)),
            (edge(Direction::Outbound, &id("shop", "db")), delta(9, 0)),
        ],
    );
    let namespaces = [
        (
            "shop".to_string(),
            [("team".to_string(), "a".to_string())].into(),
        ),
        ("jobs".to_string(), BTreeMap::new()),
    ]
    .into();
    let splits = [(
        ("shop".to_string(), "canary".to_string()),
        vec![
            ("server".to_string(), vec!["server-1".to_string()]),
            ("server-v2".to_string(), vec![]),
        ],
    )]
    .into();
    World {
        pods,
        scraped,
        namespaces,
        splits,
    }
}

fn ask(w: &World, q: Query) -> Answer {
    answer(
        &q,
        &Inputs {
            scraped: &w.scraped,
            pods: &w.pods,
            namespaces: &w.namespaces,
            splits: &w.splits,
        },
    )
}

fn query(kind: Kind, ns: Option<&str>, name: Option<&str>, edges: bool) -> Query {
    Query {
        kind,
        namespace: ns.map(str::to_string),
        name: name.map(str::to_string),
        edges,
        selector: LabelSelector::default(),
    }
}

fn metric(m: &TrafficMetrics, name: &str) -> Option<String> {
    m.metrics
        .iter()
        .find(|x| x.name == name)
        .map(|x| x.value.clone())
}

fn counts(m: &TrafficMetrics) -> (String, String) {
    (
        metric(m, "success_count").unwrap(),
        metric(m, "failure_count").unwrap(),
    )
}

fn one(a: Answer) -> TrafficMetrics {
    match a {
        Answer::One(m) => *m,
        other => panic!("expected one object, got {other:?}"),
    }
}

fn items(a: Answer) -> Vec<TrafficMetrics> {
    match a {
        Answer::List(l) => l.items,
        other => panic!("expected a list, got {other:?}"),
    }
}

fn ms(v: &str) -> f64 {
    match v.strip_suffix('m') {
        Some(milli) => milli.parse::<f64>().unwrap() / 1000.0,
        None => v.parse().unwrap(),
    }
}

#[test]
fn a_resource_reports_what_its_pods_served() {
    let w = world();
    let m = one(ask(
        &w,
        query(Kind::Deployment, Some("shop"), Some("server"), false),
    ));
    // Every inbound edge, the unauthenticated one included; never outbound.
    assert_eq!(counts(&m), ("14".into(), "3".into()));
    assert_eq!(m.window, "30s");
    assert_eq!(m.resource.kind, "Deployment");
    assert_eq!(m.timestamp, w.scraped.at.clone().unwrap());
    let (p50, p90, p99) = (
        ms(&metric(&m, "p50_response_latency").unwrap()),
        ms(&metric(&m, "p90_response_latency").unwrap()),
        ms(&metric(&m, "p99_response_latency").unwrap()),
    );
    assert!(
        p50 <= 5.0 && p50 <= p90 && p90 <= p99 && p99 <= 100.0,
        "{p50} {p90} {p99}"
    );
    assert!(
        p99 > 50.0,
        "three slow failures of 17 put p99 in the slow bucket: {p99}"
    );

    // A client serves nothing: zero counts, no latency rather than zero.
    let m = one(ask(
        &w,
        query(Kind::Deployment, Some("shop"), Some("client"), false),
    ));
    assert_eq!(counts(&m), ("0".into(), "0".into()));
    assert_eq!(metric(&m, "p50_response_latency"), None);
    assert_eq!(m.window, "30s", "the window its scrapes cover");
    // A pod not scraped twice yet covers no window.
    let m = one(ask(
        &w,
        query(Kind::StatefulSet, Some("shop"), Some("db"), false),
    ));
    assert_eq!(m.window, "0s");
}

#[test]
fn lists_select_by_kind_namespace_and_labels() {
    let w = world();
    let names = |a: Answer| -> Vec<String> {
        items(a)
            .into_iter()
            .map(|m| {
                format!(
                    "{}/{}",
                    m.resource.namespace.unwrap_or_default(),
                    m.resource.name.unwrap()
                )
            })
            .collect()
    };
    assert_eq!(
        names(ask(&w, query(Kind::Deployment, Some("shop"), None, false))),
        ["shop/client", "shop/server"]
    );
    assert_eq!(
        names(ask(&w, query(Kind::Deployment, None, None, false))),
        ["jobs/batch", "shop/client", "shop/server"]
    );
    assert_eq!(
        names(ask(&w, query(Kind::StatefulSet, None, None, false))),
        ["shop/db"]
    );
    let mut q = query(Kind::Pod, Some("shop"), None, false);
    q.selector = LabelSelector::parse("app in (client, db)").unwrap();
    assert_eq!(
        names(ask(&w, q)),
        ["shop/client-1", "shop/client-2", "shop/db-0"]
    );
    let mut q = query(Kind::Namespace, None, None, false);
    q.selector = LabelSelector::parse("team=a").unwrap();
    assert_eq!(names(ask(&w, q)), ["/shop"]);
    // A selected namespace sums every pod's inbound traffic.
    let m = one(ask(&w, query(Kind::Namespace, None, Some("shop"), false)));
    assert_eq!(counts(&m), ("14".into(), "3".into()));
}

#[test]
fn unknown_objects_are_not_found() {
    let w = world();
    for q in [
        query(Kind::Deployment, Some("shop"), Some("gone"), false),
        query(Kind::Deployment, Some("jobs"), Some("server"), false),
        query(Kind::DaemonSet, Some("shop"), Some("db"), true),
        query(Kind::TrafficSplit, Some("shop"), Some("gone"), false),
    ] {
        assert!(matches!(ask(&w, q), Answer::NotFound(_)));
    }
}

#[test]
fn edges_name_peers_by_the_queried_kind() {
    let w = world();
    let edges = items(ask(
        &w,
        query(Kind::Deployment, Some("shop"), Some("server"), true),
    ));
    let seen: Vec<(String, String, String, (String, String))> = edges
        .iter()
        .map(|m| {
            let e = m.edge.as_ref().unwrap();
            (
                e.direction.clone(),
                e.side.clone(),
                format!(
                    "{}/{}",
                    e.resource.kind,
                    e.resource.name.as_deref().unwrap()
                ),
                counts(m),
            )
        })
        .collect();
    let s = |a: &str, b: &str, c: &str, n: (&str, &str)| {
        (
            a.to_string(),
            b.to_string(),
            c.to_string(),
            (n.0.to_string(), n.1.to_string()),
        )
    };
    assert_eq!(
        seen,
        [
            // jobs/batch is two workloads (a bare pod and a Deployment), so
            // the ServiceAccount names it; db is a StatefulSet, no
            // Deployment, so it is named by its ServiceAccount too. The
            // plaintext caller is on no edge.
            s("from", "server", "Deployment/client", ("10", "2")),
            s("from", "server", "ServiceAccount/batch", ("3", "0")),
            s("to", "client", "ServiceAccount/db", ("9", "0")),
        ]
    );
    assert!(
        edges
            .iter()
            .all(|m| m.resource.name.as_deref() == Some("server"))
    );

    // The client side of the same traffic, merged over both client pods.
    let edges = items(ask(
        &w,
        query(Kind::Deployment, Some("shop"), Some("client"), true),
    ));
    assert_eq!(edges.len(), 1);
    assert_eq!(edges[0].edge.as_ref().unwrap().direction, "to");
    assert_eq!(counts(&edges[0]), ("10".into(), "2".into()));

    // Namespaces resolve straight from the id.
    let edges = items(ask(&w, query(Kind::Namespace, None, Some("jobs"), true)));
    assert!(edges.is_empty(), "jobs' pods reported nothing");
    let edges = items(ask(&w, query(Kind::Namespace, None, Some("shop"), true)));
    let peers: BTreeSet<_> = edges
        .iter()
        .map(|m| m.edge.as_ref().unwrap().resource.name.clone().unwrap())
        .collect();
    assert_eq!(peers, ["jobs".to_string(), "shop".to_string()].into());
}

#[test]
fn a_trafficsplit_reports_each_backend() {
    let w = world();
    let got = items(ask(
        &w,
        query(Kind::TrafficSplit, Some("shop"), Some("canary"), false),
    ));
    let rows: Vec<(String, (String, String))> = got
        .iter()
        .map(|m| (m.resource.name.clone().unwrap(), counts(m)))
        .collect();
    assert_eq!(
        rows,
        [
            ("server".to_string(), ("14".to_string(), "3".to_string())),
            ("server-v2".to_string(), ("0".to_string(), "0".to_string())),
        ]
    );
    assert!(got.iter().all(|m| m.resource.kind == "Service"));
    let edges = items(ask(
        &w,
        query(Kind::TrafficSplit, Some("shop"), Some("canary"), true),
    ));
    assert_eq!(
        edges.len(),
        3,
        "server-1's three authenticated edges: {edges:?}"
    );
}

#[test]
fn a_resource_names_its_pods_earliest_certificate_expiry() {
    let mut w = world();
    for (pod, t) in [("client-1", 1_800_086_400.0), ("client-2", 1_800_050_000.5)] {
        let key = ("shop".to_string(), pod.to_string());
        w.scraped.pods.get_mut(&key).unwrap().certificate_expiry = Some(t);
    }
    let m = one(ask(
        &w,
        query(Kind::Deployment, Some("shop"), Some("client"), false),
    ));
    assert_eq!(
        metric(&m, "certificate_expiry_timestamp").as_deref(),
        Some("1800050000")
    );
    // A proxy that did not say (older, or not scraped): nothing made up.
    let m = one(ask(
        &w,
        query(Kind::Deployment, Some("shop"), Some("server"), false),
    ));
    assert_eq!(metric(&m, "certificate_expiry_timestamp"), None);
    // Edges are about traffic, not the resource's pods.
    for e in items(ask(
        &w,
        query(Kind::Deployment, Some("shop"), Some("client"), true),
    )) {
        assert_eq!(metric(&e, "certificate_expiry_timestamp"), None, "{e:?}");
    }
}
