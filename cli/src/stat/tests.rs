use super::rows::{from_json, quantity};
use super::*;
use serde_json::json;

fn query(resource: &str, ns: &str, selector: Option<&str>, edges: bool) -> Query {
    Query::new(
        parse_target(resource).unwrap(),
        ns.into(),
        selector.map(Into::into),
        edges,
    )
    .unwrap()
}

#[test]
fn parses_kubectl_spellings() {
    for (s, kind) in [
        ("po", Kind::Pod),
        ("pod", Kind::Pod),
        ("Pods", Kind::Pod),
        ("deploy", Kind::Deployment),
        ("deployment", Kind::Deployment),
        ("deployments", Kind::Deployment),
        ("sts", Kind::StatefulSet),
        ("StatefulSet", Kind::StatefulSet),
        ("ds", Kind::DaemonSet),
        ("daemonsets", Kind::DaemonSet),
        ("ns", Kind::Namespace),
        ("namespace", Kind::Namespace),
        ("ts", Kind::TrafficSplit),
        ("trafficsplit", Kind::TrafficSplit),
    ] {
        assert_eq!(parse_target(s).unwrap(), Target { kind, name: None }, "{s}");
    }
    assert_eq!(
        parse_target("deploy/web").unwrap(),
        Target {
            kind: Kind::Deployment,
            name: Some("web".into())
        }
    );
    assert!(
        parse_target("svc/web")
            .unwrap_err()
            .contains("unknown resource kind")
    );
    assert!(parse_target("deploy/").is_err());
    assert!(parse_target("deploy/a/b").is_err());
    assert!(parse_target("deploy/Web").is_err());
    assert!(parse_target("po/..").is_err());
}

#[test]
fn refuses_what_the_api_has_no_path_for() {
    let t = |s| parse_target(s).unwrap();
    let e = Query::new(t("deployments"), "shop".into(), None, true).unwrap_err();
    assert!(e.contains("deployments/<name>"), "{e}");
    let e = Query::new(t("deploy/web"), "shop".into(), Some("a=b".into()), false).unwrap_err();
    assert!(e.contains("-l/--selector"), "{e}");
    assert!(Query::new(t("deploy/web"), "a/b".into(), None, false).is_err());
}

#[test]
fn builds_paths() {
    let base = "/apis/metrics.smi-spec.io/v1alpha1";
    for (q, path) in [
        (
            query("deploy/web", "shop", None, false),
            "/namespaces/shop/deployments/web",
        ),
        (query("po", "shop", None, false), "/namespaces/shop/pods"),
        (
            query("sts/db", "shop", None, true),
            "/namespaces/shop/statefulsets/db/edges",
        ),
        (
            query("ts/canary", "shop", None, false),
            "/namespaces/shop/trafficsplits/canary",
        ),
        (
            query("ds", "kube-system", None, false),
            "/namespaces/kube-system/daemonsets",
        ),
        // Namespaces are cluster-scoped: -n does not enter the path.
        (query("ns/shop", "default", None, false), "/namespaces/shop"),
        (query("namespaces", "default", None, false), "/namespaces"),
        (
            query("ns/shop", "default", None, true),
            "/namespaces/shop/edges",
        ),
    ] {
        assert_eq!(q.path(), format!("{base}{path}"));
    }
}

#[test]
fn escapes_label_selectors() {
    let q = query(
        "deployments",
        "shop",
        Some("app=web,tier in (a, b),!canary"),
        false,
    );
    assert_eq!(
        q.path(),
        "/apis/metrics.smi-spec.io/v1alpha1/namespaces/shop/deployments\
         ?labelSelector=app%3Dweb%2Ctier%20in%20%28a%2C%20b%29%2C%21canary"
    );
    let q = query("ns", "default", Some("team=a"), false);
    assert_eq!(
        q.path(),
        "/apis/metrics.smi-spec.io/v1alpha1/namespaces?labelSelector=team%3Da"
    );
    assert_eq!(query_escape("a.b-c_d~e/f"), "a.b-c_d~e%2Ff");
}

#[test]
fn words_api_failures() {
    let q = query("deploy/web", "shop", None, false);
    let msg = |code, served| classify(code, "server says", &q, || served).to_string();
    assert_eq!(
        msg(404, false),
        "the SMI metrics API is not registered: is weft installed with controller.metricsApi enabled?"
    );
    assert_eq!(
        msg(404, true),
        "no metrics for deployments/web in namespace shop: it does not exist"
    );
    let forbidden = msg(403, true);
    assert!(
        forbidden.contains("deployments in namespace shop from metrics.smi-spec.io"),
        "{forbidden}"
    );
    assert!(
        forbidden.contains("weft-metrics-reader ClusterRole"),
        "{forbidden}"
    );
    assert!(msg(503, true).starts_with("the metrics API is not available yet"));
    assert_eq!(msg(500, true), "the metrics API answered 500: server says");
    let edges = query("ns/shop", "default", None, true);
    let e = classify(403, "", &edges, || true).to_string();
    assert!(e.contains("read namespaces/edges from"), "{e}");
    // The discovery probe is only needed to tell the two 404s apart.
    classify(403, "", &q, || panic!("probed on a 403"));
}

#[test]
fn parses_quantities() {
    assert_eq!(quantity("3600m").unwrap(), 3.6);
    assert_eq!(quantity("12").unwrap(), 12.0);
    assert_eq!(quantity("1.5").unwrap(), 1.5);
    assert_eq!(quantity("2k").unwrap(), 2000.0);
    assert_eq!(quantity("1Ki").unwrap(), 1024.0);
    assert_eq!(quantity("5e-3").unwrap(), 0.005);
    assert_eq!(quantity("0").unwrap(), 0.0);
    assert!(quantity("").is_err());
    assert!(quantity("12ms").is_err());
    assert!(quantity("abc").is_err());
}

fn metrics(name: &str, ok: &str, failed: &str, latencies: &[(&str, &str)]) -> serde_json::Value {
    let mut m = vec![
        json!({"name": "success_count", "value": ok}),
        json!({"name": "failure_count", "value": failed}),
    ];
    for (n, v) in latencies {
        m.push(json!({"name": n, "unit": "ms", "value": v}));
    }
    json!({
        "kind": "TrafficMetrics", "apiVersion": "metrics.smi-spec.io/v1alpha1",
        "metadata": {"name": name, "namespace": "shop", "creationTimestamp": null},
        "timestamp": "2026-12-01T10:00:00Z", "window": "1m0s",
        "resource": {"kind": "Deployment", "namespace": "shop", "name": name},
        "metrics": m,
    })
}

/// `m` with weft's unit-less additions (`denied:…`, `request:…`) appended.
fn with_counts(mut m: serde_json::Value, counts: &[(&str, &str)]) -> serde_json::Value {
    let metrics = m["metrics"].as_array_mut().unwrap();
    for (name, v) in counts {
        metrics.push(json!({"name": name, "value": v}));
    }
    m
}

fn list(items: Vec<serde_json::Value>) -> String {
    json!({
        "kind": "TrafficMetricsList", "apiVersion": "metrics.smi-spec.io/v1alpha1",
        "metadata": {},
        "resource": {"kind": "Deployment", "namespace": "shop"},
        "items": items,
    })
    .to_string()
}

fn sample() -> Vec<Row> {
    from_json(&list(vec![
        metrics(
            "web",
            "117",
            "3",
            &[
                ("p50_response_latency", "3600m"),
                ("p90_response_latency", "12"),
                ("p99_response_latency", "95"),
            ],
        ),
        // No traffic: no latencies, no success rate.
        metrics("idle", "0", "0", &[]),
        // A metric weft does not know is skipped.
        metrics("api", "30", "0", &[("p50_response_latency", "1.5")]),
    ]))
    .unwrap()
}

#[test]
fn rows_from_a_list() {
    let rows = sample();
    let names: Vec<_> = rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["api", "idle", "web"]);
    let web = &rows[2];
    assert_eq!((web.success_count, web.failure_count), (117, 3));
    assert_eq!(web.success_rate, Some(0.975));
    assert_eq!(web.rps, 2.0);
    assert_eq!(web.window_seconds, 60.0);
    assert_eq!(
        (web.p50_ms, web.p90_ms, web.p99_ms),
        (Some(3.6), Some(12.0), Some(95.0))
    );
    let idle = &rows[1];
    assert_eq!(
        (idle.success_rate, idle.rps, idle.p50_ms),
        (None, 0.0, None)
    );
    assert_eq!(rows[0].p90_ms, None);
}

#[test]
fn denials_by_reason_are_read_and_shown_in_json_only_when_present() {
    let m = with_counts(
        metrics("api", "10", "7", &[]),
        &[
            ("denied:route-not-matched", "5"),
            ("denied:no-traffic-target", "2"),
        ],
    );
    let rows = from_json(&m.to_string()).unwrap();
    assert_eq!(
        rows[0].denied,
        [
            ("no-traffic-target".to_string(), 2),
            ("route-not-matched".to_string(), 5)
        ]
        .into()
    );
    assert!(render::json(&rows).contains(r#""route-not-matched": 5"#));
    assert!(!render::json(&sample()).contains("denied"));
    let bad = with_counts(metrics("api", "1", "1", &[]), &[("denied:x", "-1")]);
    assert!(from_json(&bad.to_string()).is_err());
}

#[test]
fn rows_from_one_object_and_edges() {
    let mut one = metrics("web", "10", "0", &[]);
    one["metrics"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "bytes_total", "value": "1Ki"}));
    let rows = from_json(&one.to_string()).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].success_rate, Some(1.0));

    let mut to = metrics("web", "60", "0", &[]);
    to["edge"] = json!({"direction": "to", "side": "client",
                        "resource": {"kind": "Deployment", "namespace": "shop", "name": "api"}});
    let mut from = metrics("web", "30", "30", &[("p99_response_latency", "250")]);
    from["edge"] = json!({"direction": "from", "side": "server",
                          "resource": {"kind": "Deployment", "namespace": "front", "name": "gw"}});
    let rows = from_json(&list(vec![to, from])).unwrap();
    assert_eq!(rows[0].edge.as_ref().unwrap().direction, "from");
    let out = render::edges_table(&rows);
    assert_eq!(
        out,
        "\
DIRECTION   RESOURCE              MEASURED-BY   SUCCESS   RPS    P50   P90   P99     SUCCEEDED   FAILED
from        front/deployment/gw   server        50.0%     1.00   -     -     250ms   30          30
to          deployment/api        client        100.0%    1.00   -     -     -       60          0
"
    );
    let v: serde_json::Value = serde_json::from_str(&render::json(&rows)).unwrap();
    assert_eq!(v[0]["direction"], "from");
    assert_eq!(v[0]["side"], "server");
    assert_eq!(
        v[0]["peer"],
        json!({"kind": "Deployment", "namespace": "front", "name": "gw"})
    );
    assert_eq!(v[1]["name"], "web");
}

#[test]
fn refuses_a_bad_answer() {
    let mut bad = metrics("web", "ten", "0", &[]);
    assert!(
        from_json(&bad.to_string())
            .unwrap_err()
            .contains("success_count")
    );
    bad = metrics("web", "1", "0", &[]);
    bad["window"] = json!("a minute");
    assert!(from_json(&bad.to_string()).unwrap_err().contains("window"));
    assert!(from_json("not json").is_err());
}

#[test]
fn renders_the_stat_table() {
    assert_eq!(
        render::stat_table(&sample(), Kind::Deployment),
        "\
NAME   SUCCESS   RPS    P50     P90    P99    SUCCEEDED   FAILED
api    100.0%    0.50   1.5ms   -      -      30          0
idle   -         0.00   -       -      -      0           0
web    97.5%     2.00   3.6ms   12ms   95ms   117         3
"
    );
    // A TrafficSplit's rows are its backend Services.
    let out = render::stat_table(&sample()[..1], Kind::TrafficSplit);
    assert!(
        out.lines().nth(1).unwrap().starts_with("deployment/api   "),
        "{out}"
    );
}

#[test]
fn renders_json_numbers() {
    let v: serde_json::Value = serde_json::from_str(&render::json(&sample())).unwrap();
    assert_eq!(
        v[2],
        json!({
            "kind": "Deployment", "namespace": "shop", "name": "web",
            "success_count": 117, "failure_count": 3, "success_rate": 0.975,
            "rps": 2.0, "p50_ms": 3.6, "p90_ms": 12.0, "p99_ms": 95.0,
            "window_seconds": 60.0,
        })
    );
    assert_eq!(v[1]["success_rate"], serde_json::Value::Null);
    assert_eq!(render::json(&[]), "[]");
}

#[test]
fn shapes_connections_and_certificate_expiry_are_read() {
    let m = with_counts(
        metrics("api", "3", "0", &[]),
        &[
            ("request:8080 GET /items/*", "3"),
            ("tcp_connections:7000", "2"),
            ("certificate_expiry_timestamp", "1800000000"),
        ],
    );
    let rows = from_json(&m.to_string()).unwrap();
    assert_eq!(
        rows[0].requests,
        [("8080 GET /items/*".to_string(), 3)].into()
    );
    assert_eq!(rows[0].tcp_connections, [(7000, 2)].into());
    assert_eq!(rows[0].certificate_expiry, Some(1_800_000_000.0));
    assert!(render::json(&rows).contains(r#""8080 GET /items/*": 3"#));
    assert!(!render::json(&sample()).contains("requests"));
    let bad = with_counts(
        metrics("api", "1", "1", &[]),
        &[("tcp_connections:http", "1")],
    );
    assert!(
        from_json(&bad.to_string()).is_err(),
        "a port must be a number"
    );
}
