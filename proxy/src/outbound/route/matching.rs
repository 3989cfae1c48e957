//! Whether a request meets one Gateway API match: path, method, headers
//! and query parameters, all of them.
//!
//! Everything is parsed once, when the route table is built, so a request
//! costs comparisons only: no allocation unless a matched header is
//! repeated (its values are joined) or a matched query parameter holds
//! escapes (it is decoded).
//!
//! The path tested is the normal one ([`crate::path`]); the table puts the
//! request in that form first. A configured path is put in the same form,
//! so `/a/%7euser` in a route means what the request `/a/~user` means.
//! Anything that cannot be parsed (a regex that does not compile, a path
//! that cannot be normalised) matches nothing: a rule is never widened.

use super::query;
use crate::path;
use http::{HeaderMap, HeaderName, Method, request::Parts};
use regex::Regex;
use std::{borrow::Cow, collections::HashMap};
use weft_api::discovery::{self as pb, path_match::Kind};

/// One RouteMatch, parsed.
#[derive(Debug)]
pub(super) struct RequestMatch {
    path: PathTest,
    method: Option<Method>,
    headers: Vec<HeaderTest>,
    query: Vec<QueryTest>,
    /// A method or header name that does not parse: nothing matches.
    never: bool,
}

#[derive(Debug)]
enum PathTest {
    Any,
    Exact(String),
    /// Without its trailing `/`; empty for `/`, which matches every path.
    Prefix(String),
    Regex(Regex),
    Never,
}

#[derive(Debug)]
struct HeaderTest {
    name: HeaderName,
    value: ValueTest,
}

#[derive(Debug)]
struct QueryTest {
    name: String,
    value: ValueTest,
}

#[derive(Debug)]
enum ValueTest {
    Exact(String),
    Regex(Regex),
    Never,
}

/// Compiled patterns by source, handed from one route table to the next
/// so that a new snapshot does not compile again what the last one had;
/// a table keeps only those it uses.
#[derive(Debug, Default)]
pub(super) struct Regexes {
    compiled: HashMap<String, Option<Regex>>,
    previous: HashMap<String, Option<Regex>>,
}

impl Regexes {
    /// For a table replacing the one that compiled `prev` (`Regex` clones
    /// share the compiled program).
    pub(super) fn after(prev: &Regexes) -> Self {
        Self {
            compiled: HashMap::new(),
            previous: prev.compiled.clone(),
        }
    }

    /// Drops what the previous table had and this one does not use.
    pub(super) fn done(self) -> Self {
        Self {
            compiled: self.compiled,
            previous: HashMap::new(),
        }
    }

    /// `pattern` anchored at both ends (Gateway API's RegularExpression
    /// matches the whole value); `None` when it does not compile.
    pub(super) fn whole(&mut self, pattern: &str) -> Option<Regex> {
        if let Some(re) = self.compiled.get(pattern) {
            return re.clone();
        }
        let re = self.previous.remove(pattern).unwrap_or_else(|| {
            Regex::new(&format!("^(?:{pattern})$"))
                .inspect_err(|error| tracing::warn!(%error, pattern, "a route's regex does not compile; it matches nothing"))
                .ok()
        });
        self.compiled.insert(pattern.to_string(), re.clone());
        re
    }

    #[cfg(test)]
    pub(super) fn sources(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.compiled.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }
}

impl RequestMatch {
    /// `m` parsed; `None` (no match given) matches every request.
    pub(super) fn new(m: Option<&pb::RouteMatch>, regexes: &mut Regexes) -> Self {
        let mut this = Self {
            path: PathTest::Any,
            method: None,
            headers: Vec::new(),
            query: Vec::new(),
            never: false,
        };
        let Some(m) = m else {
            return this;
        };
        let value = |v: &pb::ValueMatch, regexes: &mut Regexes| match v.regex {
            true => regexes
                .whole(&v.value)
                .map_or(ValueTest::Never, ValueTest::Regex),
            false => ValueTest::Exact(v.value.clone()),
        };
        if let Some(p) = &m.path {
            this.path = PathTest::new(p, regexes);
        }
        if !m.method.is_empty() {
            match Method::from_bytes(m.method.as_bytes()) {
                Ok(method) => this.method = Some(method),
                Err(_) => {
                    tracing::warn!(method = %m.method, "a route's method is not valid; it matches nothing");
                    this.never = true;
                }
            }
        }
        for h in &m.headers {
            match HeaderName::from_bytes(h.name.as_bytes()) {
                Ok(name) => this.headers.push(HeaderTest {
                    name,
                    value: value(h, regexes),
                }),
                Err(_) => {
                    tracing::warn!(name = %h.name, "a route's header name is not valid; it matches nothing");
                    this.never = true;
                }
            }
        }
        for q in &m.query_params {
            this.query.push(QueryTest {
                name: q.name.clone(),
                value: value(q, regexes),
            });
        }
        this
    }

    /// Whether `req`, whose path is already normal, meets every condition.
    pub(super) fn matches(&self, req: &Parts) -> bool {
        !self.never
            && self.method.as_ref().is_none_or(|m| req.method == *m)
            && self.path.matches(req.uri.path())
            && self.headers.iter().all(|h| h.matches(&req.headers))
            && self.query.iter().all(|q| q.matches(req.uri.query()))
    }

    /// The path a prefix match covers, for ReplacePrefixMatch: without
    /// its trailing `/`, empty for `/` or no path match. `None` for exact
    /// and regex matches, which Gateway API does not let it follow.
    pub(super) fn prefix(&self) -> Option<&str> {
        match &self.path {
            PathTest::Any => Some(""),
            PathTest::Prefix(p) => Some(p),
            PathTest::Exact(_) | PathTest::Regex(_) | PathTest::Never => None,
        }
    }
}

impl PathTest {
    fn new(p: &pb::PathMatch, regexes: &mut Regexes) -> Self {
        let normal = || match path::normalise(&p.value) {
            Ok(n) => Some(n.into_owned()),
            Err(error) => {
                tracing::warn!(path = %p.value, %error, "a route's path cannot be normalised; it matches nothing");
                None
            }
        };
        match p.kind() {
            Kind::Any => PathTest::Any,
            Kind::Exact => normal().map_or(PathTest::Never, PathTest::Exact),
            Kind::Prefix => normal().map_or(PathTest::Never, |n| {
                PathTest::Prefix(n.trim_end_matches('/').to_string())
            }),
            Kind::Regex => regexes
                .whole(&p.value)
                .map_or(PathTest::Never, PathTest::Regex),
        }
    }

    fn matches(&self, path: &str) -> bool {
        match self {
            PathTest::Any => true,
            PathTest::Exact(p) => path == p,
            PathTest::Prefix(p) => path
                .strip_prefix(p.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || p.is_empty()),
            PathTest::Regex(re) => re.is_match(path),
            PathTest::Never => false,
        }
    }
}

impl HeaderTest {
    fn matches(&self, headers: &HeaderMap) -> bool {
        joined(headers, &self.name).is_some_and(|v| {
            // A pattern cannot vouch for bytes it cannot see (as
            // `crate::routes` has it): only visible ASCII is matched
            // against one.
            let text = v
                .iter()
                .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
                .then(|| std::str::from_utf8(&v).ok())
                .flatten();
            self.value.matches(&v, text)
        })
    }
}

impl QueryTest {
    fn matches(&self, query: Option<&str>) -> bool {
        query
            .and_then(|q| query::first(q, &self.name))
            .is_some_and(|v| self.value.matches(&v, std::str::from_utf8(&v).ok()))
    }
}

impl ValueTest {
    /// `text` is `value` when a pattern may read it.
    fn matches(&self, value: &[u8], text: Option<&str>) -> bool {
        match self {
            ValueTest::Exact(v) => value == v.as_bytes(),
            ValueTest::Regex(re) => text.is_some_and(|t| re.is_match(t)),
            ValueTest::Never => false,
        }
    }
}

/// A header's value as HTTP combines repeated fields (RFC 9110 §5.3): all
/// of them, in order, joined by ", ", so one honest value beside another
/// does not pass for it. Borrowed when the header is sent once.
fn joined<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Option<Cow<'h, [u8]>> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    let Some(second) = values.next() else {
        return Some(Cow::Borrowed(first.as_bytes()));
    };
    let mut all = first.as_bytes().to_vec();
    for v in std::iter::once(second).chain(values) {
        all.extend_from_slice(b", ");
        all.extend_from_slice(v.as_bytes());
    }
    Some(Cow::Owned(all))
}

#[cfg(test)]
mod tests;
