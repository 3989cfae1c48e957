//! Gateway API's path modifiers (shared by URLRewrite and RequestRedirect)
//! and URLRewrite itself.
//!
//! ReplacePrefixMatch works on whole segments, like the prefix match it
//! follows: with prefix `/prefix/one`, `/prefix/one/two` becomes `/one/two`
//! for `/one` and `/two` for `/` (never `//two`), and `/prefix/one` alone
//! becomes `/one` or `/`. The query is always kept.

use http::{HeaderValue, Uri, header, request::Parts, uri::Authority, uri::PathAndQuery};
use weft_api::discovery::{self as pb, path_modifier::Kind};

/// A path modifier, with the prefix it replaces already known (a rule has
/// one match).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PathEdit {
    Full(String),
    /// `matched` and `with` without their trailing `/` (empty for `/`).
    Prefix {
        matched: String,
        with: String,
    },
}

impl PathEdit {
    /// `m` for a rule whose match covers `prefix` (`None`: not a prefix
    /// match). `Ok(None)`: the path is left alone.
    pub(super) fn new(
        m: Option<&pb::PathModifier>,
        prefix: Option<&str>,
    ) -> Result<Option<Self>, String> {
        match m.and_then(|m| m.kind.as_ref()) {
            None => Ok(None),
            Some(Kind::Full(p)) => {
                valid_path(p)?;
                Ok(Some(PathEdit::Full(p.clone())))
            }
            Some(Kind::Prefix(with)) => {
                let matched = prefix.ok_or("ReplacePrefixMatch needs a PathPrefix match")?;
                let with = with.trim_end_matches('/');
                if !with.is_empty() {
                    valid_path(with)?;
                }
                Ok(Some(PathEdit::Prefix {
                    matched: matched.to_string(),
                    with: with.to_string(),
                }))
            }
        }
    }

    /// The new path for `path`, which the rule matched.
    pub(super) fn apply(&self, path: &str) -> String {
        match self {
            PathEdit::Full(p) => p.clone(),
            PathEdit::Prefix { matched, with } => {
                let rest = match path.strip_prefix(matched.as_str()) {
                    Some(rest)
                        if rest.is_empty() || rest.starts_with('/') || matched.is_empty() =>
                    {
                        rest
                    }
                    // An earlier filter moved the path off the prefix:
                    // there is nothing left to replace.
                    _ => return path.to_string(),
                };
                let new = format!("{with}{rest}");
                if new.is_empty() { "/".to_string() } else { new }
            }
        }
    }
}

/// A path and query to put in a URI: `path` and `query` as they are.
pub(super) fn path_and_query(path: &str, query: Option<&str>) -> Result<PathAndQuery, String> {
    let pq = match query {
        Some(q) => PathAndQuery::try_from(format!("{path}?{q}")),
        None => PathAndQuery::try_from(path),
    };
    pq.map_err(|e| format!("the new path {path:?}: {e}"))
}

/// A replacement path must be a path alone: a `?` would smuggle in a query.
fn valid_path(p: &str) -> Result<(), String> {
    match PathAndQuery::try_from(p) {
        Ok(pq) if p.starts_with('/') && pq.query().is_none() => Ok(()),
        _ => Err(format!("{p:?} is not a path")),
    }
}

/// One URLRewrite.
#[derive(Debug, Clone)]
pub(super) struct Rewrite {
    host: Option<(Authority, HeaderValue)>,
    path: Option<PathEdit>,
}

impl Rewrite {
    pub(super) fn new(r: &pb::UrlRewrite, prefix: Option<&str>) -> Result<Self, String> {
        let host = match r.hostname.as_str() {
            "" => None,
            h => Some((
                Authority::try_from(h).map_err(|_| format!("{h:?} is not a hostname"))?,
                HeaderValue::from_str(h).map_err(|_| format!("{h:?} is not a hostname"))?,
            )),
        };
        Ok(Self {
            host,
            path: PathEdit::new(r.path.as_ref(), prefix)?,
        })
    }

    /// Rewrites `req`: the hostname replaces the whole authority wherever
    /// the request carries it (the URI, the Host header), the path as its
    /// modifier says.
    pub(super) fn apply(&self, req: &mut Parts) -> Result<(), String> {
        let mut parts = req.uri.clone().into_parts();
        if let Some(edit) = &self.path {
            let path = edit.apply(req.uri.path());
            parts.path_and_query = Some(path_and_query(&path, req.uri.query())?);
        }
        if let Some((authority, host)) = &self.host {
            let in_uri = parts.authority.is_some();
            if in_uri {
                parts.authority = Some(authority.clone());
            }
            if !in_uri || req.headers.contains_key(header::HOST) {
                req.headers.insert(header::HOST, host.clone());
            }
        }
        req.uri = Uri::from_parts(parts).map_err(|e| format!("the rewritten URI: {e}"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
