use super::*;

fn value(query: &str, name: &str) -> Option<String> {
    first(query, name).map(|v| String::from_utf8(v.into_owned()).unwrap())
}

#[test]
fn the_first_value_of_an_exactly_named_parameter() {
    assert_eq!(value("animal=whale", "animal").as_deref(), Some("whale"));
    assert_eq!(
        value("color=blue&animal=dolphin&animal=whale", "animal").as_deref(),
        Some("dolphin")
    );
    assert_eq!(
        value("Animal=whale", "animal"),
        None,
        "names are case-sensitive"
    );
    assert_eq!(value("animals=whale", "animal"), None);
    assert_eq!(value("", "animal"), None);
    assert_eq!(value("&&animal&", "animal").as_deref(), Some(""));
    assert_eq!(value("animal=", "animal").as_deref(), Some(""));
    assert_eq!(value("a=b=c", "a").as_deref(), Some("b=c"));
}

#[test]
fn names_and_values_are_decoded_as_the_app_reads_them() {
    assert_eq!(value("animal=wh%61le", "animal").as_deref(), Some("whale"));
    assert_eq!(value("%61nimal=whale", "animal").as_deref(), Some("whale"));
    assert_eq!(value("q=blue+whale", "q").as_deref(), Some("blue whale"));
    assert_eq!(value("q=a%2Bb%26c", "q").as_deref(), Some("a+b&c"));
    // Malformed escapes are kept as written.
    assert_eq!(value("q=100%", "q").as_deref(), Some("100%"));
    assert_eq!(value("q=%zz%4", "q").as_deref(), Some("%zz%4"));
    assert_eq!(first("q=%FF", "q").as_deref(), Some(&b"\xff"[..]));
}

#[test]
fn nothing_to_decode_borrows() {
    assert!(matches!(first("a=b&c=d", "c"), Some(Cow::Borrowed(b"d"))));
}
