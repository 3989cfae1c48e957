use super::*;
use http::Method;

const WEB: &str = "spiffe://cluster.local/ns/a/sa/web";
const API: &str = "spiffe://cluster.local/ns/a/sa/api";

fn id(s: &str) -> SpiffeId {
    s.parse().unwrap()
}

fn text(o: &Observed) -> String {
    let mut out = String::new();
    o.encode(&mut out);
    out
}

/// The sample lines of the requests family, without HELP and TYPE.
fn samples(o: &Observed) -> Vec<String> {
    text(o)
        .lines()
        .filter(|l| l.starts_with("weft_proxy_observed_requests_total{"))
        .map(String::from)
        .collect()
}

#[test]
fn value_like_segments_become_stars() {
    for (path, want) in [
        ("/items/42", "/items/*"),
        ("/users/3f2a9c1e/orders", "/users/*/orders"),
        (
            "/grpc.health.v1.Health/Check",
            "/grpc.health.v1.Health/Check",
        ),
        ("/v1/items", "/v1/items"),
        ("/", "/"),
        ("/items/", "/items/"),
        ("/a//b", "/a//b"),
        ("/0", "/*"),
        ("/42/43", "/*/*"),
        // A UUID, in either case, even one without a digit.
        ("/o/123e4567-e89b-12d3-a456-426614174000", "/o/*"),
        ("/o/123E4567-E89B-12D3-A456-426614174000/x", "/o/*/x"),
        ("/o/abcdefab-abcd-abcd-abcd-abcdefabcdef", "/o/*"),
        // Hex and dashes of 8 or more with a digit.
        ("/c/deadbeef1", "/c/*"),
        ("/c/123-567", "/c/123-567"),
        ("/c/1234-5678", "/c/*"),
        // Words that happen to be hex, without a digit, stay.
        ("/c/deadbeef", "/c/deadbeef"),
        ("/feed/added-face", "/feed/added-face"),
        // Shorter than 8 with letters stays.
        ("/c/abc123", "/c/abc123"),
        // A dash out of place is no UUID, and without a digit no hex id.
        (
            "/o/abcdefabc-bcd-abcd-abcd-abcdefabcdef",
            "/o/abcdefabc-bcd-abcd-abcd-abcdefabcdef",
        ),
        // Not a UUID (a `g`), not hex: a 36-byte name stays.
        (
            "/o/ghijklmn-abcd-abcd-abcd-abcdefabcdef",
            "/o/ghijklmn-abcd-abcd-abcd-abcdefabcdef",
        ),
        ("*", "*"),
        ("/caf\u{e9}/12", "/caf\u{e9}/*"),
    ] {
        assert_eq!(template(path), want, "{path}");
    }
    // A long token, whatever it is made of: past 40 bytes, not at 40.
    let token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sigx";
    assert_eq!(token.len(), 41);
    assert_eq!(template(&format!("/t/{token}/x")), "/t/*/x");
    assert_eq!(
        template(&format!("/t/{}", &token[..40])),
        format!("/t/{}", &token[..40])
    );
    assert_eq!(template(&format!("/t/{}", "a".repeat(41))), "/t/*");
}

#[test]
fn the_same_shape_counts_together() {
    let o = Observed::default();
    o.record(8080, &id(WEB), &Method::GET, "/items/42");
    o.record(8080, &id(WEB), &Method::GET, "/items/43");
    o.record(8080, &id(WEB), &Method::POST, "/items/43");
    o.record(8080, &id(API), &Method::GET, "/items/1");
    o.record(9090, &id(WEB), &Method::GET, "/items/1");
    assert_eq!(
        samples(&o),
        [
            r#"weft_proxy_observed_requests_total{direction="inbound",peer="spiffe://cluster.local/ns/a/sa/api",port="8080",method="GET",route="/items/*"} 1"#,
            r#"weft_proxy_observed_requests_total{direction="inbound",peer="spiffe://cluster.local/ns/a/sa/web",port="8080",method="GET",route="/items/*"} 2"#,
            r#"weft_proxy_observed_requests_total{direction="inbound",peer="spiffe://cluster.local/ns/a/sa/web",port="8080",method="POST",route="/items/*"} 1"#,
            r#"weft_proxy_observed_requests_total{direction="inbound",peer="spiffe://cluster.local/ns/a/sa/web",port="9090",method="GET",route="/items/*"} 1"#,
        ]
    );
}

#[test]
fn the_exposition_is_one_counter_family_in_order() {
    let o = Observed::default();
    assert_eq!(text(&o), "", "nothing before the first request");
    for _ in 0..12 {
        o.record(8080, &id(WEB), &Method::GET, "/items/7");
    }
    o.record(8080, &id(WEB), &Method::DELETE, "/items/7");
    assert_eq!(
        text(&o),
        "# HELP weft_proxy_observed_requests Inbound HTTP requests the policy allowed, by verified peer, port, method and path template (controller-only).\n\
         # TYPE weft_proxy_observed_requests counter\n\
         weft_proxy_observed_requests_total{direction=\"inbound\",peer=\"spiffe://cluster.local/ns/a/sa/web\",port=\"8080\",method=\"DELETE\",route=\"/items/*\"} 1\n\
         weft_proxy_observed_requests_total{direction=\"inbound\",peer=\"spiffe://cluster.local/ns/a/sa/web\",port=\"8080\",method=\"GET\",route=\"/items/*\"} 12\n"
    );
    // Whatever order the requests came in.
    let reversed = Observed::default();
    reversed.record(8080, &id(WEB), &Method::DELETE, "/items/7");
    for _ in 0..12 {
        reversed.record(8080, &id(WEB), &Method::GET, "/items/7");
    }
    assert_eq!(text(&reversed), text(&o));
}

#[test]
fn label_values_are_escaped() {
    let o = Observed::default();
    // What a normalised path may still hold; a method is a token.
    o.record(80, &id(WEB), &Method::GET, "/a\"b/c\\d/e\nf");
    o.record(80, &id(WEB), &Method::from_bytes(b"PURGE").unwrap(), "/x");
    assert_eq!(
        samples(&o),
        [
            r#"weft_proxy_observed_requests_total{direction="inbound",peer="spiffe://cluster.local/ns/a/sa/web",port="80",method="GET",route="/a\"b/c\\d/e\nf"} 1"#,
            r#"weft_proxy_observed_requests_total{direction="inbound",peer="spiffe://cluster.local/ns/a/sa/web",port="80",method="PURGE",route="/x"} 1"#,
        ]
    );
}

#[test]
fn a_template_too_long_is_the_route_star() {
    let o = Observed::default();
    // 100 short names: nothing to replace, 300 bytes.
    let long = "/ab".repeat(100);
    assert_eq!(template(&long), long);
    o.record(80, &id(WEB), &Method::GET, &long);
    // Exactly the limit is kept.
    let limit = format!("/{}", "x/".repeat(127) + "y");
    assert_eq!(limit.len(), MAX_ROUTE_LEN);
    o.record(80, &id(WEB), &Method::GET, &limit);
    let lines = samples(&o);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].ends_with(r#"method="GET",route="*"} 1"#),
        "{lines:?}"
    );
    assert!(
        lines[1].contains(&format!("route=\"{limit}\"")),
        "{lines:?}"
    );
}

#[test]
fn a_full_table_counts_new_shapes_under_the_overflow_shape() {
    let o = Observed::default();
    for i in 0..MAX_ROUTES {
        o.record(80, &id(WEB), &Method::GET, &format!("/r{i}"));
    }
    assert_eq!(samples(&o).len(), MAX_ROUTES);
    // A known shape still counts as itself.
    o.record(80, &id(WEB), &Method::GET, "/r0");
    // New ones, whatever their method and route, go to their peer and
    // port's overflow shape.
    o.record(80, &id(WEB), &Method::GET, "/new");
    o.record(80, &id(WEB), &Method::POST, "/other");
    o.record(80, &id(API), &Method::GET, "/new");
    let lines = samples(&o);
    assert_eq!(lines.len(), MAX_ROUTES + 2, "two overflow shapes");
    let web = "peer=\"spiffe://cluster.local/ns/a/sa/web\"";
    let api = "peer=\"spiffe://cluster.local/ns/a/sa/api\"";
    let overflow = "port=\"80\",method=\"*\",route=\"*\"} ";
    assert!(lines.contains(&format!(
        "weft_proxy_observed_requests_total{{direction=\"inbound\",{web},{overflow}2"
    )));
    assert!(lines.contains(&format!(
        "weft_proxy_observed_requests_total{{direction=\"inbound\",{api},{overflow}1"
    )));
    assert!(lines.contains(&format!(
        "weft_proxy_observed_requests_total{{direction=\"inbound\",{web},port=\"80\",method=\"GET\",route=\"/r0\"}} 2"
    )));
    assert!(!text(&o).contains("/new"));
    assert!(!text(&o).contains("dropped"));
}

#[test]
fn past_the_overflow_shapes_requests_are_only_counted_as_dropped() {
    let o = Observed::default();
    for i in 0..MAX_ROUTES {
        o.record(80, &id(WEB), &Method::GET, &format!("/r{i}"));
    }
    // Each port of the peer is a new overflow shape.
    let port = |i: usize| u16::try_from(1000 + i).unwrap();
    for i in 0..MAX_OVERFLOW {
        o.record(port(i), &id(WEB), &Method::GET, "/new");
    }
    assert_eq!(samples(&o).len(), MAX_ROUTES + MAX_OVERFLOW);
    // An existing overflow shape still counts.
    o.record(port(0), &id(WEB), &Method::PUT, "/again");
    // New ones do not.
    o.record(port(MAX_OVERFLOW), &id(WEB), &Method::GET, "/new");
    o.record(port(MAX_OVERFLOW + 1), &id(API), &Method::GET, "/r0");
    let out = text(&o);
    assert_eq!(samples(&o).len(), MAX_ROUTES + MAX_OVERFLOW, "{out}");
    assert!(out.contains("port=\"1000\",method=\"*\",route=\"*\"} 2\n"));
    assert!(out.ends_with(
        "# HELP weft_proxy_observed_requests_dropped Allowed inbound HTTP requests not counted in weft_proxy_observed_requests because its table was full.\n\
         # TYPE weft_proxy_observed_requests_dropped counter\n\
         weft_proxy_observed_requests_dropped_total 2\n"
    ));
}

#[test]
fn a_template_is_cut_short_only_past_its_limit() {
    for path in [
        "",
        "/",
        "/items/42",
        "/a//b/",
        "/users/3f2a9c1e/orders",
        "/o/123e4567-e89b-12d3-a456-426614174000/x",
        "/caf\u{e9}/12",
    ] {
        let whole = template(path);
        for max in 0..=whole.len() + 1 {
            // After what is already in the buffer, as a key's route is.
            let mut out = b"key ".to_vec();
            let kept = template_into(&mut out, path, max);
            assert_eq!(kept, whole.len() <= max, "{path:?} in {max}");
            if kept {
                assert_eq!(&out[4..], whole.as_bytes(), "{path:?} in {max}");
            } else {
                assert!(out.len() - 4 <= max + 1, "{path:?} in {max}");
            }
        }
    }
}

#[test]
fn shapes_apart_in_any_label_count_apart() {
    let o = Observed::default();
    let webx = format!("{WEB}x");
    // Ports whose bytes are each other's reversed; a peer that starts as
    // another does; a method that starts as another does.
    o.record(1, &id(WEB), &Method::GET, "/x");
    o.record(256, &id(WEB), &Method::GET, "/x");
    o.record(1, &id(&webx), &Method::GET, "/x");
    o.record(1, &id(WEB), &Method::from_bytes(b"GETX").unwrap(), "/x");
    o.record(1, &id(WEB), &Method::GET, "/x/");
    let lines = samples(&o);
    assert_eq!(lines.len(), 5, "{lines:?}");
    assert!(lines.iter().all(|l| l.ends_with("} 1")), "{lines:?}");
}

#[test]
fn known_shapes_still_count_as_themselves_when_all_is_full() {
    let o = Observed::default();
    for i in 0..MAX_ROUTES {
        o.record(80, &id(WEB), &Method::GET, &format!("/r{i}/1"));
    }
    let port = |i: usize| u16::try_from(1000 + i).unwrap();
    for i in 0..MAX_OVERFLOW {
        o.record(port(i), &id(WEB), &Method::GET, "/new");
    }
    o.record(port(MAX_OVERFLOW), &id(WEB), &Method::GET, "/new");
    // Full, and dropping: a known shape and a known overflow shape count.
    o.record(80, &id(WEB), &Method::GET, "/r7/2");
    o.record(port(3), &id(WEB), &Method::DELETE, "/other");
    let out = text(&o);
    assert!(
        out.contains("port=\"80\",method=\"GET\",route=\"/r7/*\"} 2\n"),
        "{out}"
    );
    assert!(
        out.contains("port=\"1003\",method=\"*\",route=\"*\"} 2\n"),
        "{out}"
    );
    assert!(
        out.ends_with("weft_proxy_observed_requests_dropped_total 1\n"),
        "{out}"
    );
}

#[test]
fn a_method_too_long_is_recorded_as_any() {
    let o = Observed::default();
    let long = Method::from_bytes("X".repeat(MAX_METHOD_LEN + 1).as_bytes()).unwrap();
    let limit = Method::from_bytes("Y".repeat(MAX_METHOD_LEN).as_bytes()).unwrap();
    o.record(80, &id(WEB), &long, "/a");
    o.record(80, &id(WEB), &limit, "/a");
    let lines = samples(&o);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].contains(r#"method="*",route="/a"} 1"#),
        "{lines:?}"
    );
    assert!(
        lines[1].contains(&format!("method=\"{}\"", limit.as_str())),
        "{lines:?}"
    );
}
