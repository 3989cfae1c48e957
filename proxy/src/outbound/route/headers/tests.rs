use super::*;
use crate::outbound::route::tests::header_modifier;

fn edit(set: &[(&str, &str)], add: &[(&str, &str)], remove: &[&str]) -> HeaderEdit {
    HeaderEdit::new(&header_modifier(set, add, remove)).unwrap()
}

fn headers(h: &[(&str, &str)]) -> HeaderMap {
    let mut m = HeaderMap::new();
    for (n, v) in h {
        m.append(
            HeaderName::from_bytes(n.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    m
}

fn values(h: &HeaderMap, name: &str) -> Vec<String> {
    h.get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

#[test]
fn set_replaces_every_value_add_appends_remove_deletes_all() {
    let mut h = headers(&[
        ("x-set", "a"),
        ("x-set", "b"),
        ("x-add", "a"),
        ("x-gone", "1"),
        ("x-gone", "2"),
    ]);
    edit(&[("x-set", "new")], &[("x-add", "b")], &["x-gone"]).apply(&mut h);
    assert_eq!(values(&h, "x-set"), ["new"]);
    assert_eq!(values(&h, "x-add"), ["a", "b"]);
    assert!(values(&h, "x-gone").is_empty());
    // On headers that were absent.
    let mut h = HeaderMap::new();
    edit(&[("x-set", "new")], &[("x-add", "b")], &["x-gone"]).apply(&mut h);
    assert_eq!(values(&h, "x-set"), ["new"]);
    assert_eq!(values(&h, "x-add"), ["b"]);
}

#[test]
fn names_in_any_case_are_one_header() {
    let mut h = headers(&[("x-header-set", "original"), ("x-header-remove", "v")]);
    edit(
        &[("X-Header-Set", "set")],
        &[("X-UPPERCASE-ADD", "u")],
        &["X-Header-Remove"],
    )
    .apply(&mut h);
    assert_eq!(values(&h, "x-header-set"), ["set"]);
    assert_eq!(values(&h, "x-uppercase-add"), ["u"]);
    assert!(!h.contains_key("x-header-remove"));
}

#[test]
fn remove_comes_first_so_a_new_value_stays() {
    let mut h = headers(&[("x-a", "old")]);
    edit(&[("x-a", "set")], &[("x-b", "added")], &["x-a", "x-b"]).apply(&mut h);
    assert_eq!(values(&h, "x-a"), ["set"]);
    assert_eq!(values(&h, "x-b"), ["added"]);
}

#[test]
fn what_cannot_be_a_header_is_refused() {
    let bad = |set: &[(&str, &str)], remove: &[&str]| {
        HeaderEdit::new(&header_modifier(set, &[], remove)).unwrap_err()
    };
    assert_eq!(
        bad(&[("bad name", "v")], &[]),
        "\"bad name\" is not a header name"
    );
    assert_eq!(
        bad(&[("x-a", "line\nbreak")], &[]),
        "\"line\\nbreak\" is not a header value"
    );
    assert_eq!(bad(&[], &[""]), "\"\" is not a header name");
}
