use super::*;
use crate::outbound::route::tests::{filter, header_modifier, replace_full, request};
use http::header;
use weft_api::discovery::route_filter::Kind;

fn run(filters: &[pb::RouteFilter], uri: &str) -> (Result<Outcome, ProxyError>, Parts, Effects) {
    let mut req = request("GET", uri, &[("host", "echo")]);
    let mut effects = Effects::default();
    let outcome = Filters::new(filters, Some("")).run(&mut req, &mut effects, 80);
    (outcome, req, effects)
}

fn set(name: &str, v: &str) -> pb::RouteFilter {
    filter(Kind::RequestHeaderModifier(header_modifier(
        &[(name, v)],
        &[],
        &[],
    )))
}

fn respond_set(name: &str, v: &str) -> pb::RouteFilter {
    filter(Kind::ResponseHeaderModifier(header_modifier(
        &[(name, v)],
        &[],
        &[],
    )))
}

fn redirect_to(host: &str) -> pb::RouteFilter {
    filter(Kind::RequestRedirect(pb::RequestRedirect {
        hostname: host.into(),
        ..Default::default()
    }))
}

#[test]
fn filters_apply_in_order() {
    let rewrite = filter(Kind::UrlRewrite(pb::UrlRewrite {
        hostname: String::new(),
        path: replace_full("/new"),
    }));
    let (outcome, req, _) = run(&[set("x-a", "1"), rewrite, set("x-a", "2")], "/old?q");
    assert!(matches!(outcome, Ok(Outcome::Continue)));
    assert_eq!(req.headers["x-a"], "2", "the later edit wins");
    assert_eq!(req.uri, "/new?q");
}

#[test]
fn response_edits_and_mirrors_are_left_for_the_caller() {
    let (outcome, req, effects) = run(
        &[
            respond_set("x-r", "1"),
            filter(Kind::RequestMirror("shadow:80".into())),
            filter(Kind::RequestMirror(String::new())),
            respond_set("x-r", "2"),
        ],
        "/",
    );
    assert!(matches!(outcome, Ok(Outcome::Continue)));
    assert!(!req.headers.contains_key("x-r"), "not a request edit");
    assert_eq!(
        effects.mirrors,
        [Arc::from("shadow:80")],
        "an unusable mirror is dropped"
    );
    let mut h = http::HeaderMap::new();
    for e in &effects.response {
        e.apply(&mut h);
    }
    assert_eq!(h["x-r"], "2");
}

#[test]
fn a_redirect_ends_the_run_with_every_response_edit_of_the_list() {
    let (outcome, req, effects) = run(
        &[
            respond_set("x-before", "1"),
            redirect_to("example.org"),
            set("x-after", "1"),
            respond_set("x-late", "1"),
        ],
        "/a",
    );
    let Ok(Outcome::Respond(resp)) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(resp.headers()[header::LOCATION], "http://example.org/a");
    assert!(
        !req.headers.contains_key("x-after"),
        "nothing after the redirect runs"
    );
    assert_eq!(effects.response.len(), 2);
}

#[test]
fn a_filter_that_cannot_be_applied_fails_the_whole_list() {
    for (filters, why) in [
        (
            vec![
                set("x-a", "1"),
                filter(Kind::Unsupported("ExtensionRef example.com/Lua lua".into())),
            ],
            "the filter ExtensionRef example.com/Lua lua is not supported",
        ),
        (
            vec![pb::RouteFilter { kind: None }],
            "a filter of no known kind",
        ),
        (
            vec![set("bad name", "1")],
            "RequestHeaderModifier: \"bad name\" is not a header name",
        ),
        (
            vec![respond_set("x", "\n")],
            "ResponseHeaderModifier: \"\\n\" is not a header value",
        ),
        (
            vec![filter(Kind::RequestRedirect(pb::RequestRedirect {
                status_code: 200,
                ..Default::default()
            }))],
            "RequestRedirect: the redirect status 200 is not one Gateway API allows",
        ),
        (
            vec![filter(Kind::UrlRewrite(pb::UrlRewrite {
                hostname: String::new(),
                path: replace_full("relative"),
            }))],
            "URLRewrite: \"relative\" is not a path",
        ),
    ] {
        let (outcome, req, _) = run(&filters, "/");
        match outcome {
            Err(ProxyError::BadRoute(got)) => assert_eq!(got, why),
            other => panic!("{why}: {other:?}"),
        }
        assert!(!req.headers.contains_key("x-a"), "nothing applied: {why}");
    }
}
