use super::*;
use prometheus_client::encoding::text::encode;

fn exposition(m: &Metrics) -> String {
    let mut r = Registry::default();
    m.register(&mut r);
    let mut out = String::new();
    encode(&mut out, &r).unwrap();
    out
}

fn response(peer: &str, status_class: &'static str, grpc: &'static str) -> ResponseLabels {
    ResponseLabels {
        direction: Direction::Inbound,
        peer: peer.into(),
        service: no_label(),
        port: 8080,
        authorization: "tt".into(),
        status_class,
        grpc_status: grpc,
        deny_reason: "",
    }
}

#[test]
fn status_classes_are_the_hundreds() {
    for (code, class) in [(101, "1xx"), (200, "2xx"), (308, "3xx"), (404, "4xx")] {
        assert_eq!(
            status_class(http::StatusCode::from_u16(code).unwrap()),
            class
        );
    }
    assert_eq!(
        status_class(http::StatusCode::from_u16(599).unwrap()),
        "5xx"
    );
    assert_eq!(
        status_class(http::StatusCode::from_u16(999).unwrap()),
        "9xx"
    );
}

#[test]
fn only_grpcs_own_codes_become_label_values() {
    assert_eq!(grpc_status(b"0"), "0");
    assert_eq!(grpc_status(b"14"), "14");
    assert_eq!(grpc_status(b"16"), "16");
    // What an app may send instead: each would otherwise be a new series.
    for odd in [&b"17"[..], b"00", b" 0", b"-1", b"OK", b"", b"1\x00"] {
        assert_eq!(grpc_status(odd), "other", "{odd:?}");
    }
}

#[test]
fn a_connections_handles_count_into_the_shared_series() {
    let shared = Metrics::default();
    let (a, b) = (ConnMetrics::new(&shared), ConnMetrics::new(&shared));
    let ms = Duration::from_millis(2);
    for _ in 0..3 {
        a.response(response("spiffe://td/ns/a/sa/x", "2xx", ""), ms);
    }
    b.response(response("spiffe://td/ns/a/sa/x", "2xx", ""), ms);
    b.response(response("spiffe://td/ns/a/sa/x", "5xx", "14"), ms);
    let out = exposition(&shared);
    let line = |needle: &str| {
        out.lines()
            .find(|l| l.starts_with("weft_proxy_responses_total") && l.contains(needle))
            .unwrap_or_else(|| panic!("no series with {needle} in\n{out}"))
            .to_string()
    };
    assert!(line(r#"status_class="2xx""#).ends_with(" 4"), "{out}");
    assert!(line(r#"grpc_status="14""#).ends_with(" 1"), "{out}");
    assert!(
        out.contains(r#"weft_proxy_response_latency_seconds_count{direction="inbound",peer="spiffe://td/ns/a/sa/x",status_class="2xx"} 4"#),
        "{out}"
    );
}

#[test]
fn past_its_bound_a_connection_still_counts_every_label_set() {
    let shared = Metrics::default();
    let conn = ConnMetrics::new(&shared);
    let peers: Vec<String> = (0..20)
        .map(|i| format!("spiffe://td/ns/a/sa/p{i}"))
        .collect();
    for _ in 0..2 {
        for p in &peers {
            conn.authz(
                8080,
                &Label::from(p.as_str()),
                Verdict::Deny { reason: "r" },
            );
        }
    }
    let out = exposition(&shared);
    for p in &peers {
        let series = format!(r#"peer="{p}""#);
        let line = out
            .lines()
            .find(|l| l.starts_with("weft_proxy_authz_total") && l.contains(&series))
            .unwrap_or_else(|| panic!("{p} not counted in\n{out}"));
        assert!(line.ends_with(" 2"), "{line}");
    }
}
