//! HTTPRouteGroup matches as the proxy's routes, shared by TrafficTarget
//! rules and TrafficSplit matches.

use super::Kind;
use super::findings::{Finding, reason};
use super::store::{ObjKey, Store};
use weft_api::policy::{HeaderMatch, HttpRoute};
use weft_k8s_api::specs::{HTTPRouteGroup, HttpMatch};

/// Why a reference to route group matches cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RouteError {
    #[error("HTTPRouteGroup {0} does not exist")]
    MissingGroup(String),
    /// `route` is the route object's kind and name.
    #[error("{route} has no match named {name:?}")]
    MissingMatch { route: String, name: String },
    #[error("HTTPRouteGroup {group} match {name:?}: {why}")]
    InvalidRegex {
        group: String,
        name: String,
        why: String,
    },
}

impl RouteError {
    pub fn reason(&self) -> &'static str {
        match self {
            RouteError::MissingGroup(_) => reason::MISSING_ROUTE,
            RouteError::MissingMatch { .. } => reason::MISSING_MATCH,
            RouteError::InvalidRegex { .. } => reason::INVALID_REGEX,
        }
    }
}

/// The routes of group `name` in `ns`: the named matches, or every match
/// when `names` is empty. Any unusable part fails the whole reference, so
/// that a typo never widens what is allowed.
pub(crate) fn group_routes(
    store: &Store,
    ns: &str,
    name: &str,
    names: &[String],
) -> Result<Vec<HttpRoute>, RouteError> {
    let group = store
        .route_groups
        .get(&ObjKey::new(ns, name))
        .ok_or_else(|| RouteError::MissingGroup(name.to_owned()))?;
    let matches: Vec<&HttpMatch> = if names.is_empty() {
        group.spec.matches.iter().collect()
    } else {
        names
            .iter()
            .map(|n| {
                group
                    .spec
                    .matches
                    .iter()
                    .find(|m| &m.name == n)
                    .ok_or_else(|| RouteError::MissingMatch {
                        route: format!("HTTPRouteGroup {name}"),
                        name: n.clone(),
                    })
            })
            .collect::<Result<_, _>>()?
    };
    matches.into_iter().map(|m| route(name, m)).collect()
}

/// One match as a route, its regexes checked as the proxy will compile them.
fn route(group: &str, m: &HttpMatch) -> Result<HttpRoute, RouteError> {
    let invalid = |why: regex::Error| RouteError::InvalidRegex {
        group: group.to_owned(),
        name: m.name.clone(),
        why: why.to_string(),
    };
    let path_regex = m.path_regex.clone().unwrap_or_default();
    regex::Regex::new(&path_regex).map_err(invalid)?;
    let mut headers = Vec::with_capacity(m.headers.len());
    for (name, value) in &m.headers {
        regex::Regex::new(value).map_err(invalid)?;
        headers.push(HeaderMatch {
            name: name.to_ascii_lowercase(),
            value_regex: value.clone(),
        });
    }
    let mut methods: Vec<String> = m.methods.iter().map(|v| v.to_ascii_uppercase()).collect();
    if methods.iter().any(|v| v == "*") {
        methods.clear();
    }
    Ok(HttpRoute {
        name: format!("{group}/{}", m.name),
        path_regex,
        methods,
        headers,
    })
}

/// Reports a group's matches whose regexes do not compile.
pub(crate) fn check_group(key: &ObjKey, group: &HTTPRouteGroup, sink: &mut Vec<Finding>) {
    for m in &group.spec.matches {
        if let Err(e) = route(&key.name, m) {
            sink.push(Finding::new(
                Kind::HttpRouteGroup,
                &key.ns,
                &key.name,
                e.reason(),
                format!("{e}; every rule naming it fails closed"),
            ));
        }
    }
}
