//! `weft stat` and `weft edges`: traffic metrics read from weft's SMI
//! TrafficMetrics API (`metrics.smi-spec.io/v1alpha1`), an aggregated API
//! the controller serves behind an APIService.
//!
//! This module turns what the user typed into an API path and an API
//! failure into a sentence; [`rows`] turns the answer into rows and
//! [`render`] prints them. Only [`fetch`] talks to the cluster, so the rest
//! is unit-tested.

pub mod render;
pub mod rows;

use kube::Client;
use weft_k8s_api::metrics::API_VERSION;
pub use weft_k8s_api::metrics::Kind;

pub use rows::Row;

/// What to read: one object, or every object of a kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub kind: Kind,
    pub name: Option<String>,
}

/// Parses `deploy/web`, `deployments`, `ns/shop`, `ts/canary`…
pub fn parse_target(s: &str) -> Result<Target, String> {
    let (kind, name) = match s.split_once('/') {
        Some((k, n)) => (k, Some(n)),
        None => (s, None),
    };
    let kind = Kind::parse(kind).ok_or_else(|| {
        format!(
            "unknown resource kind {kind:?}: use pods (po), deployments (deploy), \
             statefulsets (sts), daemonsets (ds), namespaces (ns) or trafficsplits (ts)"
        )
    })?;
    let name = match name {
        None => None,
        Some(n) if valid_name(n) => Some(n.to_string()),
        Some(n) => return Err(format!("{n:?} is not a Kubernetes object name")),
    };
    Ok(Target { kind, name })
}

/// Object names are DNS subdomains; checking keeps anything that would
/// change the path's meaning (`/`, `?`, `..`) out of it.
fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 253
        && n != "."
        && n != ".."
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

/// One request to the metrics API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    pub target: Target,
    /// Ignored for namespaces, which are cluster-scoped.
    pub namespace: String,
    /// A label selector, for lists only.
    pub selector: Option<String>,
    /// The edges of one object rather than its own metrics.
    pub edges: bool,
}

impl Query {
    /// Checks the combinations the API has no path for.
    pub fn new(
        target: Target,
        namespace: String,
        selector: Option<String>,
        edges: bool,
    ) -> Result<Self, String> {
        let plural = target.kind.plural();
        if edges && target.name.is_none() {
            return Err(format!(
                "edges are read for one object: give {plural}/<name>"
            ));
        }
        if selector.is_some() && target.name.is_some() {
            return Err(format!(
                "-l/--selector filters a list: give {plural} without a name"
            ));
        }
        if target.kind != Kind::Namespace && !valid_name(&namespace) {
            return Err(format!("{namespace:?} is not a namespace name"));
        }
        Ok(Self {
            target,
            namespace,
            selector,
            edges,
        })
    }

    /// The API path, query string included.
    pub fn path(&self) -> String {
        let plural = self.target.kind.plural();
        let mut p = if self.target.kind == Kind::Namespace {
            format!("/apis/{API_VERSION}/namespaces")
        } else {
            format!("/apis/{API_VERSION}/namespaces/{}/{plural}", self.namespace)
        };
        if let Some(name) = &self.target.name {
            p.push('/');
            p.push_str(name);
        }
        if self.edges {
            p.push_str("/edges");
        }
        if let Some(sel) = &self.selector {
            p.push_str("?labelSelector=");
            p.push_str(&query_escape(sel));
        }
        p
    }

    /// Where the query points, for messages: `deployments/web in namespace shop`.
    pub fn describe(&self) -> String {
        let plural = self.target.kind.plural();
        let what = match &self.target.name {
            Some(n) => format!("{plural}/{n}"),
            None => plural.to_string(),
        };
        if self.target.kind == Kind::Namespace {
            what
        } else {
            format!("{what} in namespace {}", self.namespace)
        }
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so
/// `=`, `,`, `!`, spaces and parentheses of a selector reach the server as
/// the user wrote them.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Why reading metrics failed, worded for the person at the terminal.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "the SMI metrics API is not registered: is weft installed with controller.metricsApi enabled?"
    )]
    NotRegistered,
    #[error("no metrics for {0}: it does not exist")]
    NotFound(String),
    #[error(
        "you may not read {what} from metrics.smi-spec.io (RBAC): you need the \
         weft-metrics-reader ClusterRole (part of view, edit and admin) bound \
         to your user or group ({message})"
    )]
    Forbidden { what: String, message: String },
    #[error(
        "the metrics API is not available yet: weft-controller is not serving it \
         (see `kubectl get apiservice v1alpha1.metrics.smi-spec.io`): {0}"
    )]
    Unavailable(String),
    #[error("the metrics API answered {code}: {message}")]
    Api { code: u16, message: String },
    #[error("talking to the API server: {0}")]
    Kube(#[source] kube::Error),
    #[error("reading the metrics API's answer: {0}")]
    Answer(String),
}

/// Maps a failed request to an [`Error`]. A 404 means either that the API
/// group is missing or that the object is; `group_served` (from a
/// discovery request made only then) tells which.
pub fn classify(code: u16, message: &str, q: &Query, group_served: impl FnOnce() -> bool) -> Error {
    match code {
        404 if group_served() => Error::NotFound(q.describe()),
        404 => Error::NotRegistered,
        403 => {
            let mut what = q.target.kind.plural().to_string();
            if q.edges {
                what.push_str("/edges");
            }
            if q.target.kind != Kind::Namespace {
                what = format!("{what} in namespace {}", q.namespace);
            }
            Error::Forbidden {
                what,
                message: message.to_string(),
            }
        }
        503 => Error::Unavailable(message.to_string()),
        _ => Error::Api {
            code,
            message: message.to_string(),
        },
    }
}

/// Reads the query's metrics as rows.
pub async fn fetch(client: &Client, q: &Query) -> Result<Vec<Row>, Error> {
    let text = match get(client, &q.path()).await {
        Ok(text) => text,
        Err(kube::Error::Api(s)) => {
            let served = if s.code == 404 {
                group_served(client).await
            } else {
                false
            };
            return Err(classify(s.code, &s.message, q, || served));
        }
        Err(e) => return Err(Error::Kube(e)),
    };
    rows::from_json(&text).map_err(Error::Answer)
}

async fn get(client: &Client, path: &str) -> Result<String, kube::Error> {
    let req = http::Request::get(path)
        .body(Vec::new())
        .map_err(kube::Error::HttpError)?;
    client.request_text(req).await
}

/// Whether the API server knows `metrics.smi-spec.io/v1alpha1` at all.
async fn group_served(client: &Client) -> bool {
    get(client, &format!("/apis/{API_VERSION}")).await.is_ok()
}

#[cfg(test)]
mod tests;
