use super::*;
use crate::outbound::route::tests::{replace_full, replace_prefix, request};

fn prefix_edit(matched: &str, with: &str) -> PathEdit {
    PathEdit::new(replace_prefix(with).as_ref(), Some(matched))
        .unwrap()
        .unwrap()
}

#[test]
fn replace_prefix_match_as_the_spec_tabulates_it() {
    // The table in HTTPPathModifier's ReplacePrefixMatch (the matched
    // prefix arrives without its trailing `/`, as the match keeps it).
    for (path, matched, with, want) in [
        ("/foo/bar", "/foo", "/xyz", "/xyz/bar"),
        ("/foo/bar", "/foo", "/xyz/", "/xyz/bar"),
        ("/foo", "/foo", "/xyz", "/xyz"),
        ("/foo/", "/foo", "/xyz", "/xyz/"),
        ("/foo/bar", "/foo", "", "/bar"),
        ("/foo/", "/foo", "", "/"),
        ("/foo", "/foo", "", "/"),
        ("/foo/", "/foo", "/", "/"),
        ("/foo", "/foo", "/", "/"),
    ] {
        assert_eq!(
            prefix_edit(matched, with).apply(path),
            want,
            "{path} {matched} {with:?}"
        );
    }
}

#[test]
fn replace_prefix_match_never_doubles_a_slash() {
    assert_eq!(
        prefix_edit("/prefix/one", "/one").apply("/prefix/one/two"),
        "/one/two"
    );
    assert_eq!(
        prefix_edit("/prefix/one", "/").apply("/prefix/one/two"),
        "/two"
    );
    assert_eq!(
        prefix_edit("/strip-prefix", "/").apply("/strip-prefix"),
        "/"
    );
    // The prefix `/` covers every path: the replacement goes in front.
    assert_eq!(prefix_edit("", "/api").apply("/x/y"), "/api/x/y");
    assert_eq!(prefix_edit("", "/").apply("/x"), "/x");
    // A path an earlier filter moved off the prefix is left as it is.
    assert_eq!(prefix_edit("/a", "/b").apply("/ab"), "/ab");
    assert_eq!(prefix_edit("/a", "/b").apply("/c"), "/c");
}

#[test]
fn a_path_modifier_is_checked_once() {
    assert_eq!(PathEdit::new(None, None), Ok(None));
    assert_eq!(
        PathEdit::new(replace_full("/one").as_ref(), None),
        Ok(Some(PathEdit::Full("/one".into())))
    );
    assert_eq!(
        PathEdit::new(replace_prefix("/one").as_ref(), None),
        Err("ReplacePrefixMatch needs a PathPrefix match".into())
    );
    for bad in ["one", "/a?b=c", "/a b", ""] {
        assert!(
            PathEdit::new(replace_full(bad).as_ref(), Some("")).is_err(),
            "{bad:?}"
        );
    }
    assert!(PathEdit::new(replace_prefix("/a?x").as_ref(), Some("")).is_err());
    assert!(PathEdit::new(replace_prefix("").as_ref(), Some("/a")).is_ok());
}

fn rewrite(hostname: &str, path: Option<pb::PathModifier>, prefix: Option<&str>) -> Rewrite {
    Rewrite::new(
        &pb::UrlRewrite {
            hostname: hostname.into(),
            path,
        },
        prefix,
    )
    .unwrap()
}

#[test]
fn a_rewritten_path_keeps_the_query() {
    let mut req = request("GET", "/prefix/one/two?x=1&y", &[("host", "echo")]);
    rewrite("", replace_prefix("/one"), Some("/prefix/one"))
        .apply(&mut req)
        .unwrap();
    assert_eq!(req.uri, "/one/two?x=1&y");
    assert_eq!(req.headers[header::HOST], "echo", "the host is left alone");
    let mut req = request("GET", "/full/one/two?x=1", &[]);
    rewrite("", replace_full("/one"), Some("/full/one"))
        .apply(&mut req)
        .unwrap();
    assert_eq!(req.uri, "/one?x=1");
}

#[test]
fn a_rewritten_host_replaces_the_whole_authority_wherever_it_is() {
    // HTTP/1: the Host header, port and all.
    let mut req = request("GET", "/a", &[("host", "echo:8080")]);
    rewrite("example.org", None, None).apply(&mut req).unwrap();
    assert_eq!(req.headers[header::HOST], "example.org");
    assert_eq!(req.uri, "/a");
    // Absolute form: both.
    let mut req = request("GET", "http://echo:8080/a?q", &[("host", "echo:8080")]);
    rewrite("example.org", None, None).apply(&mut req).unwrap();
    assert_eq!(req.uri, "http://example.org/a?q");
    assert_eq!(req.headers[header::HOST], "example.org");
    // No host at all (HTTP/1.0): one is given.
    let mut req = request("GET", "/a", &[]);
    rewrite("example.org", None, None).apply(&mut req).unwrap();
    assert_eq!(req.headers[header::HOST], "example.org");
    assert!(
        Rewrite::new(
            &pb::UrlRewrite {
                hostname: "bad host".into(),
                path: None
            },
            None
        )
        .is_err()
    );
}
