use super::*;
use crate::outbound::route::tests::{exact, path, pattern, prefix, request, value};
use weft_api::discovery::path_match::Kind;

fn matches(m: &pb::RouteMatch, method: &str, uri: &str, headers: &[(&str, &str)]) -> bool {
    let req = request(method, uri, headers);
    RequestMatch::new(Some(m), &mut Regexes::default()).matches(&req)
}

fn on_path(m: &pb::RouteMatch, uri: &str) -> bool {
    matches(m, "GET", uri, &[])
}

#[test]
fn a_prefix_covers_whole_segments() {
    let p = prefix("/a");
    for yes in ["/a", "/a/", "/a/b", "/a/b/c?x=1"] {
        assert!(on_path(&p, yes), "{yes}");
    }
    for no in ["/ab", "/", "/b/a", "/A"] {
        assert!(!on_path(&p, no), "{no}");
    }
    // A trailing slash on the prefix changes nothing.
    let slash = prefix("/a/");
    assert!(on_path(&slash, "/a"));
    assert!(on_path(&slash, "/a/b"));
    assert!(!on_path(&slash, "/ab"));
    let deep = prefix("/v2/api");
    assert!(on_path(&deep, "/v2/api/x"));
    assert!(!on_path(&deep, "/v2/apix"));
    assert!(!on_path(&deep, "/v2"));
    // `/` covers every path.
    for any in ["/", "/x", "/x/y/"] {
        assert!(on_path(&prefix("/"), any), "{any}");
    }
}

#[test]
fn an_exact_path_is_byte_equal() {
    let e = exact("/v1");
    assert!(on_path(&e, "/v1"));
    assert!(on_path(&e, "/v1?q=1"), "the query is not the path");
    for no in ["/v1/", "/V1", "/v10", "/v1/x", "/"] {
        assert!(!on_path(&e, no), "{no}");
    }
}

#[test]
fn a_configured_path_is_put_in_normal_form_too() {
    // The request `/~user` arrives normal; a route written `/%7euser`
    // means the same path.
    assert!(on_path(&exact("/%7euser"), "/~user"));
    assert!(on_path(&prefix("/a//b"), "/a/b/c"));
    // One that cannot be normalised matches nothing.
    assert!(!on_path(&prefix("/a%2fb"), "/a%2fb"));
    assert!(!on_path(&exact("/a%2Fb"), "/a%2Fb"));
}

#[test]
fn a_regex_must_match_the_whole_path() {
    let r = path(Kind::Regex, "/items/[0-9]+");
    assert!(on_path(&r, "/items/42"));
    assert!(!on_path(&r, "/items/42/edit"));
    assert!(!on_path(&r, "/v1/items/42"));
    // Alternation is anchored as a whole, not only its first branch.
    let alt = path(Kind::Regex, "/a|/b");
    assert!(on_path(&alt, "/b"));
    assert!(!on_path(&alt, "/b/c"));
    assert!(!on_path(&path(Kind::Regex, "/(unclosed"), "/(unclosed"));
}

#[test]
fn no_path_match_and_no_match_at_all_cover_everything() {
    assert!(on_path(&pb::RouteMatch::default(), "/anything"));
    let m = RequestMatch::new(None, &mut Regexes::default());
    assert!(m.matches(&request("DELETE", "/x?y", &[])));
}

#[test]
fn the_method_is_compared_exactly() {
    let mut m = prefix("/");
    m.method = "POST".into();
    assert!(matches(&m, "POST", "/", &[]));
    assert!(!matches(&m, "GET", "/", &[]));
    m.method = "PURGE".into();
    assert!(matches(&m, "PURGE", "/", &[]));
    m.method = "post".into();
    assert!(!matches(&m, "POST", "/", &[]), "methods are case-sensitive");
    m.method = "NOT A METHOD".into();
    assert!(!matches(&m, "GET", "/", &[]));
}

#[test]
fn headers_by_any_case_of_name_and_whole_value() {
    let mut m = prefix("/");
    m.headers = vec![value("version", "two")];
    assert!(matches(&m, "GET", "/", &[("Version", "two")]));
    assert!(matches(&m, "GET", "/", &[("VERSION", "two")]));
    assert!(
        !matches(&m, "GET", "/", &[("version", "Two")]),
        "values are case-sensitive"
    );
    assert!(!matches(&m, "GET", "/", &[("version", "two2")]));
    assert!(!matches(&m, "GET", "/", &[]));
    m.headers = vec![value("Version", "two")];
    assert!(
        matches(&m, "GET", "/", &[("version", "two")]),
        "a configured name in any case"
    );
    m.headers = vec![pattern("x-tenant", "blue|green")];
    assert!(matches(&m, "GET", "/", &[("x-tenant", "green")]));
    assert!(!matches(&m, "GET", "/", &[("x-tenant", "greenish")]));
    m.headers = vec![value("a", "1"), value("b", "2")];
    assert!(matches(&m, "GET", "/", &[("a", "1"), ("b", "2")]));
    assert!(
        !matches(&m, "GET", "/", &[("a", "1")]),
        "every header must match"
    );
    m.headers = vec![value("bad name", "1")];
    assert!(!matches(&m, "GET", "/", &[]));
}

#[test]
fn a_repeated_header_matches_as_its_joined_value() {
    let mut m = prefix("/");
    m.headers = vec![value("x-tenant", "acme")];
    for values in [&["evil", "acme"][..], &["acme", "evil"], &["acme", "acme"]] {
        let h: Vec<_> = values.iter().map(|v| ("x-tenant", *v)).collect();
        assert!(!matches(&m, "GET", "/", &h), "{values:?}");
    }
    m.headers = vec![value("accept", "a/b, c/d")];
    assert!(matches(
        &m,
        "GET",
        "/",
        &[("accept", "a/b"), ("accept", "c/d")]
    ));
    m.headers = vec![pattern("x-tenant", "acme(, acme)*")];
    assert!(matches(
        &m,
        "GET",
        "/",
        &[("x-tenant", "acme"), ("x-tenant", "acme")]
    ));
}

#[test]
fn a_pattern_sees_only_visible_ascii_an_exact_value_any_bytes() {
    let mut req = request("GET", "/", &[]);
    req.headers.insert(
        "x-name",
        http::HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
    );
    let mut m = prefix("/");
    m.headers = vec![pattern("x-name", ".*")];
    assert!(!RequestMatch::new(Some(&m), &mut Regexes::default()).matches(&req));
    m.headers = vec![value("x-name", "café")];
    assert!(RequestMatch::new(Some(&m), &mut Regexes::default()).matches(&req));
}

#[test]
fn query_parameters_by_exact_name_first_value() {
    let mut m = prefix("/");
    m.query_params = vec![value("animal", "whale")];
    assert!(on_path(&m, "/?animal=whale"));
    assert!(on_path(&m, "/?color=blue&animal=whale"));
    assert!(on_path(&m, "/?animal=whale&animal=dolphin"));
    assert!(
        !on_path(&m, "/?animal=dolphin&animal=whale"),
        "the first value counts"
    );
    assert!(!on_path(&m, "/?Animal=whale"), "names are case-sensitive");
    assert!(!on_path(&m, "/?animal=Whale"));
    assert!(!on_path(&m, "/?animal=whaledolphin"));
    assert!(!on_path(&m, "/"));
    assert!(on_path(&m, "/?animal=wh%61le"), "as the app decodes it");
    m.query_params = vec![pattern("id", "[0-9]+")];
    assert!(on_path(&m, "/?id=42"));
    assert!(!on_path(&m, "/?id=42a"));
    m.query_params = vec![value("animal", "whale"), value("color", "blue")];
    assert!(on_path(&m, "/?color=blue&animal=whale"));
    assert!(!on_path(&m, "/?animal=whale"));
}

#[test]
fn everything_set_must_hold() {
    let mut m = prefix("/api");
    m.method = "GET".into();
    m.headers = vec![value("x-canary", "1")];
    m.query_params = vec![value("v", "2")];
    assert!(matches(&m, "GET", "/api/x?v=2", &[("x-canary", "1")]));
    assert!(!matches(&m, "POST", "/api/x?v=2", &[("x-canary", "1")]));
    assert!(!matches(&m, "GET", "/web?v=2", &[("x-canary", "1")]));
    assert!(!matches(&m, "GET", "/api/x?v=2", &[]));
    assert!(!matches(&m, "GET", "/api/x?v=3", &[("x-canary", "1")]));
}

#[test]
fn the_prefix_for_replace_prefix_match() {
    let prefix_of = |m: Option<pb::RouteMatch>| {
        RequestMatch::new(m.as_ref(), &mut Regexes::default())
            .prefix()
            .map(str::to_string)
    };
    assert_eq!(prefix_of(Some(prefix("/a/b/"))).as_deref(), Some("/a/b"));
    assert_eq!(prefix_of(Some(prefix("/"))).as_deref(), Some(""));
    assert_eq!(prefix_of(None).as_deref(), Some(""));
    assert_eq!(prefix_of(Some(exact("/a"))), None);
    assert_eq!(prefix_of(Some(path(Kind::Regex, "/a"))), None);
}

#[test]
fn a_pattern_is_compiled_once_per_source() {
    let mut regexes = Regexes::default();
    let a = regexes.whole("/a+");
    let b = regexes.whole("/a+");
    assert_eq!(
        a.map(|r| r.as_str().to_string()),
        b.map(|r| r.as_str().to_string())
    );
    assert!(regexes.whole("(").is_none());
    assert_eq!(regexes.sources(), ["(", "/a+"]);
    let mut next = Regexes::after(&regexes);
    assert!(next.whole("/a+").is_some_and(|r| r.is_match("/aa")));
    assert_eq!(next.done().sources(), ["/a+"]);
}
