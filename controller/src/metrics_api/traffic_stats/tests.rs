use super::*;

const A: &str = "spiffe://cluster.local/ns/shop/sa/web";
const B: &str = "spiffe://cluster.local/ns/shop/sa/api";

fn inbound(peer: &str) -> Edge {
    Edge {
        direction: Direction::Inbound,
        peer: peer.into(),
    }
}

fn counts(success: u64, failure: u64, cumulative: &[(f64, u64)]) -> Counts {
    Counts {
        success,
        failure,
        buckets: cumulative.to_vec(),
        ..Default::default()
    }
}

fn scrape(edges: &[(Edge, Counts)]) -> Scrape {
    edges.iter().cloned().collect()
}

#[test]
fn a_scrape_counts_successes_failures_and_denials_per_edge() {
    let text = format!(
        r#"# HELP weft_proxy_responses_total HTTP responses.
# TYPE weft_proxy_responses_total counter
weft_proxy_responses_total{{direction="inbound",peer="{A}",service="",port="8080",authorization="default-allow",status_class="2xx",grpc_status=""}} 10
weft_proxy_responses_total{{direction="inbound",peer="{A}",service="",port="8080",authorization="default-allow",status_class="4xx",grpc_status=""}} 4
weft_proxy_responses_total{{direction="inbound",peer="{A}",service="",port="8080",authorization="default-allow",status_class="5xx",grpc_status=""}} 2
weft_proxy_responses_total{{direction="inbound",peer="{A}",service="",port="8080",authorization="",status_class="4xx",grpc_status=""}} 3
weft_proxy_responses_total{{direction="inbound",peer="{B}",service="",port="9090",authorization="tt",status_class="2xx",grpc_status="0"}} 7
weft_proxy_responses_total{{direction="inbound",peer="{B}",service="",port="9090",authorization="tt",status_class="2xx",grpc_status="14"}} 1
weft_proxy_responses_total{{direction="outbound",peer="{B}",service="api.shop.svc.cluster.local",port="80",authorization="",status_class="2xx",grpc_status=""}} 5
weft_proxy_responses_total{{direction="outbound",peer="{B}",service="api.shop.svc.cluster.local",port="80",authorization="",status_class="4xx",grpc_status="",deny_reason=""}} 4
weft_proxy_responses_total{{direction="outbound",peer="{B}",service="api.shop.svc.cluster.local",port="80",authorization="",status_class="4xx",grpc_status="",deny_reason="no-traffic-target"}} 2
weft_proxy_response_latency_seconds_bucket{{direction="inbound",peer="{A}",status_class="2xx",le="0.001"}} 1
weft_proxy_response_latency_seconds_bucket{{direction="inbound",peer="{A}",status_class="2xx",le="+Inf"}} 10
weft_proxy_response_latency_seconds_bucket{{direction="inbound",peer="{A}",status_class="5xx",le="0.001"}} 0
weft_proxy_response_latency_seconds_bucket{{direction="inbound",peer="{A}",status_class="5xx",le="+Inf"}} 2
weft_proxy_tcp_open{{direction="inbound",peer="{A}",service="",port="7000"}} 1
"#
    );
    let s = parse(&text).unwrap();
    let a = &s[&inbound(A)];
    // An app's 4xx is a success; a 5xx and the proxy's own 403 are not.
    assert_eq!((a.success, a.failure), (14, 5));
    assert_eq!(a.buckets, vec![(0.001, 1), (f64::INFINITY, 12)]);
    // gRPC: only status 0 succeeds, whatever the HTTP status.
    assert_eq!((s[&inbound(B)].success, s[&inbound(B)].failure), (7, 1));
    let out = Edge {
        direction: Direction::Outbound,
        peer: B.into(),
    };
    // Outbound, a denial is known by the destination proxy's reason code:
    // the client side counts it as a failure, as the server side does.
    assert_eq!((s[&out].success, s[&out].failure), (9, 2));
    assert_eq!(s[&out].denied, [("no-traffic-target", 2)].into());
    assert!(a.denied.is_empty(), "an empty deny_reason is no denial");
    assert_eq!(s.len(), 3, "the TCP gauge is not an edge of responses");
}

#[test]
fn denials_are_counted_by_known_reason_only() {
    let text = format!(
        r#"weft_proxy_responses_total{{direction="inbound",peer="{A}",authorization="",status_class="4xx",grpc_status="",deny_reason="route-not-matched"}} 3
weft_proxy_responses_total{{direction="inbound",peer="{A}",authorization="",status_class="4xx",grpc_status="7",deny_reason="route-not-matched"}} 2
weft_proxy_responses_total{{direction="inbound",peer="{A}",authorization="",status_class="4xx",grpc_status="",deny_reason="made-up-by-a-peer"}} 9
"#
    );
    let s = parse(&text).unwrap();
    let a = &s[&inbound(A)];
    assert_eq!(a.denied, [("route-not-matched", 5)].into());
    assert_eq!(a.failure, 14, "every one of them is still a failure");
}

#[test]
fn a_windows_denials_are_increases_and_survive_a_reset() {
    let denied = |n: u64| Counts {
        denied: [("no-traffic-target", n)].into(),
        ..counts(0, n, &[])
    };
    let mut s = Series::new(60.0);
    s.push(0.0, scrape(&[(inbound(A), denied(10))]));
    s.push(10.0, scrape(&[(inbound(A), denied(25))]));
    assert_eq!(
        s.delta()[&inbound(A)].denied,
        [("no-traffic-target", 15)].into()
    );
    // The proxy restarted and counted 4 since.
    s.push(20.0, scrape(&[(inbound(A), denied(4))]));
    assert_eq!(
        s.delta()[&inbound(A)].denied,
        [("no-traffic-target", 19)].into()
    );
}

#[test]
fn a_malformed_line_rejects_the_scrape() {
    let bad = r#"weft_proxy_responses_total{direction="inbound",peer="x" 3"#;
    assert!(matches!(parse(bad), Err(ParseError::Line { line: 1, .. })));
    let nan = r#"weft_proxy_responses_total{direction="inbound"} many"#;
    assert!(parse(nan).is_err());
    assert_eq!(parse("").unwrap(), Scrape::new());
}

#[test]
fn percentiles_interpolate_inside_buckets_in_milliseconds() {
    let d = Delta {
        success: 20,
        failure: 0,
        buckets: vec![(0.001, 0), (0.002, 10), (0.004, 10), (f64::INFINITY, 0)],
        seconds: 10.0,
        ..Default::default()
    };
    assert_eq!(d.percentile_ms(0.5), Some(2.0));
    let p90 = d.percentile_ms(0.9).unwrap();
    assert!((p90 - 3.6).abs() < 1e-9, "{p90}");
    let (p50, p99) = (
        d.percentile_ms(0.5).unwrap(),
        d.percentile_ms(0.99).unwrap(),
    );
    assert!(p50 <= p90 && p90 <= p99 && p99 <= 4.0);
    assert_eq!(d.rps(), Some(2.0));
    assert_eq!(d.success_rate(), Some(1.0));
    // The overflow bucket reports its lower bound, never infinity.
    let slow = Delta {
        buckets: vec![(0.001, 0), (f64::INFINITY, 5)],
        ..d.clone()
    };
    assert_eq!(slow.percentile_ms(0.5), Some(1.0));
    assert_eq!(Delta::default().percentile_ms(0.5), None);
    assert_eq!(Delta::default().success_rate(), None);
}

#[test]
fn a_window_keeps_a_baseline_and_forgets_older_scrapes() {
    let mut s = Series::new(15.0);
    for (t, n) in [(0.0, 0), (10.0, 10), (20.0, 30), (30.0, 60)] {
        s.push(
            t,
            scrape(&[(inbound(A), counts(n, 0, &[(f64::INFINITY, n)]))]),
        );
    }
    // Window start 15: the scrape at 10 is the baseline, 0 is gone.
    let d = &s.delta()[&inbound(A)];
    assert_eq!(d.success, 50);
    assert_eq!(d.seconds, 20.0);
    assert_eq!(d.buckets, vec![(f64::INFINITY, 50)]);
    // An out-of-order scrape changes nothing.
    s.push(25.0, scrape(&[(inbound(A), counts(0, 0, &[]))]));
    assert_eq!(s.delta()[&inbound(A)].success, 50);
}

#[test]
fn a_counter_reset_adds_what_was_counted_since() {
    let mut s = Series::new(60.0);
    s.push(
        0.0,
        scrape(&[(
            inbound(A),
            counts(100, 4, &[(0.01, 90), (f64::INFINITY, 104)]),
        )]),
    );
    s.push(
        10.0,
        scrape(&[(
            inbound(A),
            counts(150, 5, &[(0.01, 140), (f64::INFINITY, 155)]),
        )]),
    );
    // The proxy restarted: its counters start again from zero.
    s.push(
        20.0,
        scrape(&[(
            inbound(A),
            counts(20, 1, &[(0.01, 10), (f64::INFINITY, 21)]),
        )]),
    );
    let d = &s.delta()[&inbound(A)];
    assert_eq!((d.success, d.failure), (70, 2));
    // Per bucket, adding up to the 72 responses.
    assert_eq!(d.buckets, vec![(0.01, 60), (f64::INFINITY, 12)]);
}

#[test]
fn an_edge_seen_first_inside_the_window_counts_from_zero() {
    let mut s = Series::new(60.0);
    s.push(0.0, scrape(&[(inbound(A), counts(5, 0, &[]))]));
    s.push(
        10.0,
        scrape(&[
            (inbound(A), counts(5, 0, &[])),
            (inbound(B), counts(3, 2, &[])),
        ]),
    );
    let d = s.delta();
    assert_eq!(d[&inbound(A)].total(), 0);
    assert_eq!((d[&inbound(B)].success, d[&inbound(B)].failure), (3, 2));
    assert!(Series::new(60.0).delta().is_empty());
}

#[test]
fn pods_of_one_resource_add_up() {
    let mut total = Delta::default();
    let one = Delta {
        success: 3,
        failure: 1,
        buckets: vec![(0.001, 2), (f64::INFINITY, 2)],
        seconds: 30.0,
        ..Default::default()
    };
    total.add(&one);
    total.add(&Delta {
        denied: [("no-traffic-target", 1)].into(),
        ..one.clone()
    });
    assert_eq!((total.success, total.failure), (6, 2));
    assert_eq!(total.denied, [("no-traffic-target", 1)].into());
    assert_eq!(total.buckets, vec![(0.001, 4), (f64::INFINITY, 4)]);
    assert_eq!(total.seconds, 30.0);
}

#[test]
fn smi_metrics_name_counts_and_latencies_in_milliseconds() {
    let d = Delta {
        success: 18,
        failure: 2,
        buckets: vec![(0.001, 0), (0.002, 10), (0.004, 10), (f64::INFINITY, 0)],
        denied: [("no-traffic-target", 2), ("route-not-matched", 0)].into(),
        seconds: 10.0,
        ..Default::default()
    };
    let m: Vec<(String, Option<String>, String)> = d
        .smi_metrics(false)
        .into_iter()
        .map(|m| (m.name, m.unit, m.value))
        .collect();
    let ms = || Some("ms".to_string());
    assert_eq!(
        m,
        vec![
            ("success_count".into(), None, "18".into()),
            ("failure_count".into(), None, "2".into()),
            ("p50_response_latency".into(), ms(), "2".into()),
            ("p90_response_latency".into(), ms(), "3600m".into()),
            ("p99_response_latency".into(), ms(), "3960m".into()),
            ("denied:no-traffic-target".into(), None, "2".into()),
        ]
    );
    // Without traffic: counts of zero, no made-up latencies.
    assert_eq!(Delta::default().smi_metrics(false).len(), 2);
}

#[test]
fn a_young_proxy_counts_from_an_empty_baseline_at_its_start() {
    // The scraper puts an empty scrape at the proxy's start time before its
    // first real one: everything it counted since is in the window.
    let mut s = Series::new(30.0);
    s.push(92.0, Scrape::new());
    s.push(100.0, scrape(&[(inbound(A), counts(12, 1, &[]))]));
    let d = &s.delta()[&inbound(A)];
    assert_eq!((d.success, d.failure, d.seconds), (12, 1, 8.0));
}

#[test]
fn the_start_time_is_read_when_the_proxy_gives_one() {
    let text = "# TYPE process_start_time_seconds gauge\n\
                process_start_time_seconds 1764680000.25\n\
                process_start_time_seconds_other 3\n";
    assert_eq!(start_time(text), Some(1_764_680_000.25));
    assert_eq!(start_time("weft_proxy_responses_total 3\n"), None);
    let text = "weft_proxy_certificate_expiry_timestamp_seconds_x 1\n\
                weft_proxy_certificate_expiry_timestamp_seconds 1800000000\n";
    assert_eq!(certificate_expiry(text), Some(1_800_000_000.0));
    assert_eq!(start_time("process_start_time_seconds NaN\n"), None);
}

#[test]
fn request_shapes_and_tcp_connections_are_read_per_edge_and_bounded() {
    let mut text = format!(
        r#"# TYPE weft_proxy_observed_requests counter
weft_proxy_observed_requests_total{{direction="inbound",peer="{A}",port="8080",method="GET",route="/items/*"}} 7
weft_proxy_observed_requests_total{{direction="inbound",peer="{A}",port="8080",method="*",route="*"}} 2
weft_proxy_observed_requests_total{{direction="inbound",peer="{A}",port="8080",method="GET",route="/{long}"}} 1
weft_proxy_observed_requests_total{{direction="inbound",peer="{A}",port="8080",method="",route="/x"}} 1
weft_proxy_tcp_opened_total{{direction="inbound",peer="{B}",service="",port="7000"}} 3
weft_proxy_tcp_opened_total{{direction="outbound",peer="{B}",service="tcp.shop.svc.cluster.local",port="7000"}} 4
weft_proxy_tcp_open{{direction="inbound",peer="{B}",service="",port="7000"}} 1
"#,
        long = "a".repeat(400)
    );
    let s = parse(&text).unwrap();
    let route = |method: &str, route: &str| Route {
        port: 8080,
        method: method.into(),
        route: route.into(),
    };
    // The too long route and the empty method are not believed.
    assert_eq!(
        s[&inbound(A)].requests,
        [(route("*", "*"), 2), (route("GET", "/items/*"), 7)].into()
    );
    assert_eq!(s[&inbound(B)].tcp, [(7000, 3)].into());
    let out = Edge {
        direction: Direction::Outbound,
        peer: B.into(),
    };
    assert_eq!(s[&out].tcp, [(7000, 4)].into());
    // Neither is a response: nothing counts as success or failure.
    assert_eq!((s[&inbound(B)].success, s[&inbound(B)].failure), (0, 0));

    // A proxy that sends more shapes than any proxy keeps is cut off.
    for i in 0..600 {
        text.push_str(&format!(
            "weft_proxy_observed_requests_total{{direction=\"inbound\",peer=\"{A}\",port=\"8080\",method=\"GET\",route=\"/r{i}\"}} 1\n"
        ));
    }
    assert_eq!(parse(&text).unwrap()[&inbound(A)].requests.len(), 512);
    let bad = "weft_proxy_tcp_opened_total{direction=\"inbound\",peer=\"x\",port=\"http\"} 1\n";
    assert!(
        parse(bad).is_err(),
        "a port that is not a number fails the scrape"
    );
}

#[test]
fn request_shapes_are_windowed_and_named_on_edges_only() {
    let shape = Route {
        port: 8080,
        method: "GET".into(),
        route: "/items/*".into(),
    };
    let at = |requests: u64, tcp: u64| Counts {
        requests: [(shape.clone(), requests)].into(),
        tcp: [(7000, tcp)].into(),
        ..Default::default()
    };
    let mut s = Series::new(30.0);
    s.push(0.0, scrape(&[(inbound(A), at(10, 1))]));
    s.push(10.0, scrape(&[(inbound(A), at(25, 4))]));
    let d = &s.delta()[&inbound(A)];
    assert_eq!(d.requests, [(shape.clone(), 15)].into());
    assert_eq!(d.tcp, [(7000, 3)].into());
    // A restarted proxy: its counts since are added, nothing subtracted.
    s.push(20.0, scrape(&[(inbound(A), at(2, 0))]));
    assert_eq!(s.delta()[&inbound(A)].requests, [(shape, 17)].into());

    let names =
        |edge: bool| -> Vec<String> { d.smi_metrics(edge).into_iter().map(|m| m.name).collect() };
    assert!(names(true).contains(&"request:8080 GET /items/*".to_string()));
    assert!(names(true).contains(&"tcp_connections:7000".to_string()));
    assert!(
        !names(false)
            .iter()
            .any(|n| n.starts_with("request:") || n.starts_with("tcp_")),
        "a resource's own metrics do not list shapes: {:?}",
        names(false)
    );
}
