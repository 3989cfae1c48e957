//! The one form of a request path that routes are matched against and the
//! app receives, so that the path a policy allowed is the path the app acts
//! on.
//!
//! - Percent-encoded unreserved characters (`%41` for `A`, `%2E` for `.`)
//!   are decoded; every other escape is kept, with upper-case hex.
//! - Runs of `/` become one (`//` means the same as `/` to most servers and
//!   their file systems, and a kept one would shift `..` by a segment).
//! - `.` and `..` segments are removed (RFC 3986 §5.2.4); `..` never climbs
//!   above the root.
//! - Refused, as ambiguous (servers differ on what they mean): an encoded
//!   separator (`%2F`, `%5C`), a raw `\`, a malformed escape, and a dot
//!   segment with parameters (`..;x`, which some servers read as `..`).

use http::{Uri, uri::PathAndQuery};
use std::{borrow::Cow, fmt::Write as _};

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the path does not start with '/'")]
    NotAbsolute,
    #[error("the path holds an encoded '/' or '\\' ({0}), which servers read differently")]
    EncodedSeparator(String),
    #[error("the path holds a '\\', which some servers read as '/'")]
    Backslash,
    #[error("the path holds a malformed percent escape")]
    BadEscape,
    #[error("the path holds a dot segment with parameters ({0}), which some servers read as '..'")]
    DotParameters(String),
    /// Normalising only drops characters or decodes them to unreserved
    /// ones, so a valid URI stays valid; kept for the type's sake.
    #[error("the normalised path is not a valid URI: {0}")]
    Invalid(String),
}

/// Rewrites `uri`'s path to its normal form, the query kept as it was
/// (routes and apps read it as sent). Untouched when already normal.
pub fn normalise_uri(uri: &mut Uri) -> Result<(), PathError> {
    let normal = match normalise(uri.path())? {
        Cow::Borrowed(_) => return Ok(()),
        Cow::Owned(p) => p,
    };
    let with_query = match uri.query() {
        Some(q) => format!("{normal}?{q}"),
        None => normal,
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query =
        Some(PathAndQuery::try_from(with_query).map_err(|e| PathError::Invalid(e.to_string()))?);
    *uri = Uri::from_parts(parts).map_err(|e| PathError::Invalid(e.to_string()))?;
    Ok(())
}

/// `path` (without its query) in normal form, borrowed when already normal.
pub fn normalise(path: &str) -> Result<Cow<'_, str>, PathError> {
    if path == "*" {
        // `OPTIONS *`: the server as a whole.
        return Ok(Cow::Borrowed(path));
    }
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let decoded = decode_unreserved(path)?;
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = decoded.split('/').skip(1).collect();
    let mut ends_in_dir = false;
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        let bare = seg.split(';').next().unwrap_or_default();
        if bare != *seg && (bare == "." || bare == "..") {
            return Err(PathError::DotParameters((*seg).to_string()));
        }
        match *seg {
            "" => ends_in_dir = last && !out.is_empty(),
            "." => ends_in_dir = true,
            ".." => {
                out.pop();
                ends_in_dir = true;
            }
            s => {
                out.push(s);
                ends_in_dir = false;
            }
        }
    }
    let mut normal = String::with_capacity(decoded.len());
    for s in &out {
        normal.push('/');
        normal.push_str(s);
    }
    if ends_in_dir || out.is_empty() {
        normal.push('/');
    }
    Ok(if normal == path {
        Cow::Borrowed(path)
    } else {
        Cow::Owned(normal)
    })
}

/// Decodes `%XX` escapes of unreserved characters and upper-cases the rest.
fn decode_unreserved(path: &str) -> Result<Cow<'_, str>, PathError> {
    if path.contains('\\') {
        return Err(PathError::Backslash);
    }
    if !path.contains('%') {
        return Ok(Cow::Borrowed(path));
    }
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            // Escapes are ASCII, so `i` is on a char boundary here.
            let next = path[i..].find('%').map_or(path.len(), |n| i + n);
            out.push_str(&path[i..next]);
            i = next;
            continue;
        }
        let hex = bytes.get(i + 1..i + 3).ok_or(PathError::BadEscape)?;
        let value = std::str::from_utf8(hex)
            .ok()
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .filter(|_| hex.iter().all(u8::is_ascii_hexdigit))
            .ok_or(PathError::BadEscape)?;
        match value {
            b'/' | b'\\' => return Err(PathError::EncodedSeparator(path[i..i + 3].to_string())),
            v if v.is_ascii_alphanumeric() || b"-._~".contains(&v) => out.push(char::from(v)),
            v => {
                let _ = write!(out, "%{v:02X}");
            }
        }
        i += 3;
    }
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(p: &str) -> Result<String, PathError> {
        normalise(p).map(Cow::into_owned)
    }

    #[test]
    fn dot_segments_are_removed_and_never_climb_above_the_root() {
        for (raw, want) in [
            ("/public/../admin/x", "/admin/x"),
            ("/public/./x", "/public/x"),
            ("/a/b/../../c", "/c"),
            ("/../../etc/passwd", "/etc/passwd"),
            ("/a/..", "/"),
            ("/a/.", "/a/"),
            ("/a/b/..", "/a/"),
            ("/..", "/"),
            ("/", "/"),
            ("/a/", "/a/"),
            ("/a.b/..c/...", "/a.b/..c/..."),
        ] {
            assert_eq!(n(raw).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn unreserved_escapes_are_decoded_and_others_kept_upper_case() {
        for (raw, want) in [
            ("/public/%2e%2e/admin", "/admin"),
            ("/public/%2E%2E/admin", "/admin"),
            ("/public/.%2e/admin", "/admin"),
            ("/%61dmin", "/admin"),
            ("/a%7eb", "/a~b"),
            ("/a%20b", "/a%20b"),
            ("/a%3fb", "/a%3Fb"),
            ("/%25", "/%25"),
            ("/caf%C3%A9", "/caf%C3%A9"),
        ] {
            assert_eq!(n(raw).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn repeated_slashes_become_one() {
        assert_eq!(n("//admin").as_deref(), Ok("/admin"));
        assert_eq!(n("/public//../admin").as_deref(), Ok("/admin"));
        assert_eq!(n("/a///b//").as_deref(), Ok("/a/b/"));
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        assert!(matches!(
            n("/public/..%2Fadmin"),
            Err(PathError::EncodedSeparator(_))
        ));
        assert!(matches!(
            n("/public/..%2fadmin"),
            Err(PathError::EncodedSeparator(_))
        ));
        assert!(matches!(
            n("/public/..%5cadmin"),
            Err(PathError::EncodedSeparator(_))
        ));
        assert_eq!(n("/public\\..\\admin"), Err(PathError::Backslash));
        for bad in ["/%", "/%4", "/%zz", "/%+1", "/a%"] {
            assert_eq!(n(bad), Err(PathError::BadEscape), "{bad}");
        }
        assert!(matches!(
            n("/public/..;x/admin"),
            Err(PathError::DotParameters(_))
        ));
        assert!(matches!(
            n("/public/.;/admin"),
            Err(PathError::DotParameters(_))
        ));
        assert_eq!(n("admin"), Err(PathError::NotAbsolute));
        assert_eq!(n(""), Err(PathError::NotAbsolute));
    }

    #[test]
    fn a_normal_path_is_borrowed_and_parameters_elsewhere_are_kept() {
        assert!(matches!(normalise("/api/v1/items"), Ok(Cow::Borrowed(_))));
        assert!(matches!(normalise("*"), Ok(Cow::Borrowed("*"))));
        assert_eq!(n("/a;v=1/b").as_deref(), Ok("/a;v=1/b"));
    }

    #[test]
    fn a_uri_keeps_its_scheme_authority_and_query() {
        let mut uri: Uri = "http://web:8080/a/../b/%7e?x=/../y".parse().unwrap();
        normalise_uri(&mut uri).unwrap();
        assert_eq!(uri, "http://web:8080/b/~?x=/../y");
        let mut uri: Uri = "/public/%2e%2e/admin".parse().unwrap();
        normalise_uri(&mut uri).unwrap();
        assert_eq!(uri, "/admin");
        let mut uri: Uri = "/ok?q".parse().unwrap();
        normalise_uri(&mut uri).unwrap();
        assert_eq!(uri, "/ok?q");
        let mut uri: Uri = "/a/..%2fadmin".parse().unwrap();
        assert!(matches!(
            normalise_uri(&mut uri),
            Err(PathError::EncodedSeparator(_))
        ));
    }

    #[test]
    fn normalising_twice_changes_nothing() {
        for raw in [
            "/public/../admin",
            "/%2e/x/%41",
            "//a//b/./../c/",
            "/a%20b/%7e",
        ] {
            let once = n(raw).unwrap();
            assert_eq!(n(&once).as_deref(), Ok(once.as_str()), "{raw}");
        }
    }
}
