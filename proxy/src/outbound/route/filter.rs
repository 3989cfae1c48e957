//! A rule's (or a backendRef's) filters, parsed once and applied in order
//! to each request.
//!
//! Filters are not optional: one weft cannot apply (unsupported, or one
//! that does not parse) makes its rule answer 500 rather than forward the
//! request without it, as Gateway API asks.

use super::{headers::HeaderEdit, redirect::Redirect, rewrite::Rewrite};
use crate::{error::ProxyError, http::body::Body};
use http::{Response, request::Parts};
use std::sync::Arc;
use weft_api::discovery::{self as pb, route_filter::Kind};

#[derive(Debug)]
enum Filter {
    RequestHeaders(HeaderEdit),
    ResponseHeaders(Arc<HeaderEdit>),
    Redirect(Redirect),
    Rewrite(Rewrite),
    Mirror(Arc<str>),
}

/// One rule's or one backendRef's filters.
#[derive(Debug, Default)]
pub(super) struct Filters {
    list: Vec<Filter>,
    /// Why they cannot be applied: every request is answered 500.
    broken: Option<String>,
}

/// What the filters leave to the caller: edits for the response, and
/// where to send copies of the request.
#[derive(Debug, Default)]
pub(super) struct Effects {
    pub(super) response: Vec<Arc<HeaderEdit>>,
    pub(super) mirrors: Vec<Arc<str>>,
}

/// What running the filters decided.
#[derive(Debug)]
pub(super) enum Outcome {
    /// Forward the request (as the filters left it).
    Continue,
    /// Answer with this (a redirect) instead.
    Respond(Response<Body>),
}

impl Filters {
    /// `filters` of a rule whose match covers `prefix` (see
    /// `RequestMatch::prefix`).
    pub(super) fn new(filters: &[pb::RouteFilter], prefix: Option<&str>) -> Self {
        let mut list = Vec::with_capacity(filters.len());
        for f in filters {
            let parsed = match &f.kind {
                None => Err("a filter of no known kind".to_string()),
                Some(Kind::Unsupported(what)) => Err(format!("the filter {what} is not supported")),
                Some(Kind::RequestHeaderModifier(m)) => HeaderEdit::new(m)
                    .map(Filter::RequestHeaders)
                    .map_err(|e| format!("RequestHeaderModifier: {e}")),
                Some(Kind::ResponseHeaderModifier(m)) => HeaderEdit::new(m)
                    .map(|e| Filter::ResponseHeaders(Arc::new(e)))
                    .map_err(|e| format!("ResponseHeaderModifier: {e}")),
                Some(Kind::RequestRedirect(r)) => Redirect::new(r, prefix)
                    .map(Filter::Redirect)
                    .map_err(|e| format!("RequestRedirect: {e}")),
                Some(Kind::UrlRewrite(r)) => Rewrite::new(r, prefix)
                    .map(Filter::Rewrite)
                    .map_err(|e| format!("URLRewrite: {e}")),
                // A mirror whose backendRef cannot be used only loses the
                // copies; the request itself is unaffected.
                Some(Kind::RequestMirror(b)) if b.is_empty() => continue,
                Some(Kind::RequestMirror(b)) => Ok(Filter::Mirror(b.as_str().into())),
            };
            match parsed {
                Ok(f) => list.push(f),
                Err(why) => {
                    return Self {
                        list: Vec::new(),
                        broken: Some(why),
                    };
                }
            }
        }
        Self { list, broken: None }
    }

    /// Applies the filters to `req`, sent to `port`, in order. A redirect
    /// ends the run; its response still takes this list's response edits.
    pub(super) fn run(
        &self,
        req: &mut Parts,
        effects: &mut Effects,
        port: u16,
    ) -> Result<Outcome, ProxyError> {
        if let Some(why) = &self.broken {
            return Err(ProxyError::BadRoute(why.clone()));
        }
        for (i, f) in self.list.iter().enumerate() {
            match f {
                Filter::RequestHeaders(e) => e.apply(&mut req.headers),
                Filter::ResponseHeaders(e) => effects.response.push(e.clone()),
                Filter::Rewrite(r) => r.apply(req).map_err(ProxyError::BadRoute)?,
                Filter::Mirror(b) => effects.mirrors.push(b.clone()),
                Filter::Redirect(r) => {
                    let resp = r.respond(req, port)?;
                    effects
                        .response
                        .extend(self.list[i..].iter().filter_map(|f| match f {
                            Filter::ResponseHeaders(e) => Some(e.clone()),
                            _ => None,
                        }));
                    return Ok(Outcome::Respond(resp));
                }
            }
        }
        Ok(Outcome::Continue)
    }
}

#[cfg(test)]
mod tests;
