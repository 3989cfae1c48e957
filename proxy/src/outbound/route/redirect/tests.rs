use super::*;
use crate::outbound::route::tests::{replace_full, replace_prefix, request};

fn redirect(r: pb::RequestRedirect) -> Redirect {
    Redirect::new(&r, Some("/prefix")).unwrap()
}

/// The `Location` and status answering `uri` (Host `echo`), sent to `port`.
fn location(r: &Redirect, uri: &str, port: u16) -> (u16, String) {
    let resp = r
        .respond(&request("GET", uri, &[("host", "echo")]), port)
        .unwrap();
    (
        resp.status().as_u16(),
        resp.headers()[header::LOCATION]
            .to_str()
            .unwrap()
            .to_string(),
    )
}

fn hostname(h: &str) -> pb::RequestRedirect {
    pb::RequestRedirect {
        hostname: h.into(),
        ..Default::default()
    }
}

#[test]
fn the_request_fills_in_what_the_filter_leaves_out() {
    let r = redirect(pb::RequestRedirect::default());
    assert_eq!(
        location(&r, "/a/b?x=1", 80),
        (302, "http://echo/a/b?x=1".into())
    );
    let r = redirect(hostname("example.org"));
    assert_eq!(location(&r, "/a", 80), (302, "http://example.org/a".into()));
    // The request's Host port is not the host.
    let resp = r
        .respond(&request("GET", "/a", &[("host", "echo:8080")]), 8080)
        .unwrap();
    assert_eq!(
        resp.headers()[header::LOCATION],
        "http://example.org:8080/a"
    );
    // HTTP/2: the authority names the host.
    let h2 = http::Request::builder()
        .uri("http://echo.shop:8080/x")
        .body(())
        .unwrap()
        .into_parts()
        .0;
    let r = redirect(pb::RequestRedirect::default());
    let resp = r.respond(&h2, 8080).unwrap();
    assert_eq!(resp.headers()[header::LOCATION], "http://echo.shop:8080/x");
    // IPv6 hosts keep their brackets.
    let resp = r
        .respond(&request("GET", "/x", &[("host", "[fd00::1]:8080")]), 8080)
        .unwrap();
    assert_eq!(resp.headers()[header::LOCATION], "http://[fd00::1]:8080/x");
}

#[test]
fn a_request_without_a_host_cannot_be_redirected_to_it() {
    let r = redirect(pb::RequestRedirect::default());
    let e = r.respond(&request("GET", "/a", &[]), 80).unwrap_err();
    assert!(matches!(e, ProxyError::BadRequest(_)), "{e:?}");
    // With a hostname of its own it can.
    let r = redirect(hostname("example.org"));
    assert!(r.respond(&request("GET", "/a", &[]), 80).is_ok());
}

#[test]
fn ports_as_the_spec_derives_them() {
    let r = |scheme: &str, port: u32| {
        redirect(pb::RequestRedirect {
            scheme: scheme.into(),
            hostname: "example.org".into(),
            port,
            ..Default::default()
        })
    };
    // `httproute-redirect-port-and-scheme`, for a request sent to port 80,
    // then to port 8080.
    for (scheme, port, sent_to, want) in [
        ("", 0, 80, "http://example.org/p"),
        ("", 80, 80, "http://example.org/p"),
        ("", 8080, 80, "http://example.org:8080/p"),
        ("https", 0, 80, "https://example.org/p"),
        ("https", 443, 80, "https://example.org/p"),
        ("https", 8443, 80, "https://example.org:8443/p"),
        ("", 0, 8080, "http://example.org:8080/p"),
        ("", 80, 8080, "http://example.org/p"),
        ("https", 0, 8080, "https://example.org/p"),
        // A scheme set to the request's own still takes its well-known
        // port: the spec ties the port to the scheme being set.
        ("http", 0, 8080, "http://example.org/p"),
        ("http", 8080, 8080, "http://example.org:8080/p"),
        ("http", 443, 80, "http://example.org:443/p"),
    ] {
        assert_eq!(
            location(&r(scheme, port), "/p", sent_to).1,
            want,
            "{scheme:?} {port} {sent_to}"
        );
    }
}

#[test]
fn the_path_is_replaced_whole_or_by_prefix_and_the_query_kept() {
    let full = redirect(pb::RequestRedirect {
        path: replace_full("/new"),
        ..Default::default()
    });
    assert_eq!(
        location(&full, "/prefix/x?q=1", 80).1,
        "http://echo/new?q=1"
    );
    let by_prefix = redirect(pb::RequestRedirect {
        path: replace_prefix("/other"),
        ..Default::default()
    });
    assert_eq!(
        location(&by_prefix, "/prefix/x?q=1", 80).1,
        "http://echo/other/x?q=1"
    );
    assert_eq!(location(&by_prefix, "/prefix", 80).1, "http://echo/other");
    let to_root = redirect(pb::RequestRedirect {
        path: replace_prefix("/"),
        ..Default::default()
    });
    assert_eq!(location(&to_root, "/prefix/x", 80).1, "http://echo/x");
}

#[test]
fn statuses_and_an_empty_body() {
    for (code, want) in [
        (0, 302),
        (301, 301),
        (302, 302),
        (303, 303),
        (307, 307),
        (308, 308),
    ] {
        let r = redirect(pb::RequestRedirect {
            status_code: code,
            ..Default::default()
        });
        assert_eq!(location(&r, "/", 80).0, want);
    }
    let r = redirect(pb::RequestRedirect::default());
    let resp = r
        .respond(&request("GET", "/", &[("host", "echo")]), 80)
        .unwrap();
    use hyper::body::Body as _;
    assert_eq!(resp.body().size_hint().exact(), Some(0));
}

#[test]
fn what_gateway_api_does_not_allow_is_refused() {
    let bad = |r: pb::RequestRedirect| Redirect::new(&r, Some("")).unwrap_err();
    let status = |status_code| pb::RequestRedirect {
        status_code,
        ..Default::default()
    };
    assert!(bad(status(200)).contains("200"));
    assert!(bad(status(304)).contains("304"));
    assert!(
        bad(pb::RequestRedirect {
            scheme: "ftp".into(),
            ..Default::default()
        })
        .contains("ftp")
    );
    assert!(
        bad(pb::RequestRedirect {
            port: 70000,
            ..Default::default()
        })
        .contains("70000")
    );
    assert!(bad(hostname("example.org:8080")).contains("hostname"));
    assert!(bad(hostname("bad host")).contains("hostname"));
    assert!(
        Redirect::new(
            &pb::RequestRedirect {
                path: replace_prefix("/x"),
                ..Default::default()
            },
            None
        )
        .unwrap_err()
        .contains("ReplacePrefixMatch")
    );
}
