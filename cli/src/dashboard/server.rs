//! The dashboard's local web server: the page's three files, compiled into
//! the binary, and two JSON/text endpoints answered from a [`Source`].
//!
//! It listens on loopback only, and answers only requests whose `Host` is a
//! loopback name with its own port: a web page the user visits cannot point
//! a name it controls at 127.0.0.1 (DNS rebinding) and read the cluster
//! through the user's kubeconfig. Nothing it serves is allowed to load from
//! anywhere else (a strict Content-Security-Policy), and no endpoint
//! changes anything.

use super::graph::Graph;
use axum::{
    Router,
    extract::{RawQuery, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use std::{future::Future, net::SocketAddr, pin::Pin, sync::Arc};

const INDEX: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/app.css");

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; \
    base-uri 'none'";

pub type Answer<T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send>>;

/// A question about the workload the page shows: would `from` be allowed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExplainQuery {
    /// The node id (`<namespace>/<kind>/<name>`).
    pub workload: String,
    /// `<namespace>/<serviceaccount>` or `unauthenticated`.
    pub from: String,
    pub port: String,
    pub method: String,
    pub path: String,
}

/// Where the page's answers come from: the cluster, or a fixture in tests.
pub trait Source: Send + Sync + 'static {
    /// The mesh in these namespaces (every meshed one when empty).
    fn graph(&self, namespaces: Vec<String>) -> Answer<Graph>;
    fn explain(&self, q: ExplainQuery) -> Answer<String>;
    /// `weft policy suggest` for one workload (its node id), as YAML.
    fn suggest(&self, workload: String) -> Answer<String>;
}

struct Shared {
    source: Arc<dyn Source>,
    /// The `Host` values this server answers: loopback names with its port.
    hosts: Vec<String>,
}

/// The router for a server listening on `addr`.
pub fn router(source: Arc<dyn Source>, addr: SocketAddr) -> Router {
    let port = addr.port();
    let hosts = vec![
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
    ];
    let shared = Arc::new(Shared { source, hosts });
    Router::new()
        .route(
            "/",
            get(|| async { asset(INDEX, "text/html; charset=utf-8") }),
        )
        .route(
            "/index.html",
            get(|| async { asset(INDEX, "text/html; charset=utf-8") }),
        )
        .route(
            "/app.js",
            get(|| async { asset(SCRIPT, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/app.css",
            get(|| async { asset(STYLE, "text/css; charset=utf-8") }),
        )
        .route("/api/graph", get(graph))
        .route("/api/explain", get(explain))
        .route("/api/suggest", get(suggest))
        .layer(middleware::from_fn_with_state(shared.clone(), guard))
        .with_state(shared)
}

/// Refuses requests for any other host, and marks every answer as not to
/// be framed, sniffed or cached.
async fn guard(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let mut resp = if s.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
        next.run(req).await
    } else {
        (
            StatusCode::MISDIRECTED_REQUEST,
            format!(
                "this dashboard answers only at http://{}/ (Host {host:?} refused)\n",
                s.hosts[0]
            ),
        )
            .into_response()
    };
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    (h, body).into_response()
}

fn params(q: Option<String>) -> Vec<(String, String)> {
    form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn param(ps: &[(String, String)], name: &str) -> String {
    ps.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default()
}

async fn graph(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    let namespaces: Vec<String> = param(&params(q), "namespaces")
        .split([',', ' '])
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect();
    match s.source.graph(namespaces).await {
        Ok(g) => axum::Json(g).into_response(),
        Err(error) => (
            StatusCode::BAD_GATEWAY,
            axum::Json(serde_json::json!({ "error": error })),
        )
            .into_response(),
    }
}

async fn explain(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    let ps = params(q);
    let q = ExplainQuery {
        workload: param(&ps, "workload"),
        from: param(&ps, "from"),
        port: param(&ps, "port"),
        method: param(&ps, "method"),
        path: param(&ps, "path"),
    };
    match s.source.explain(q).await {
        Ok(text) => text.into_response(),
        Err(error) => (StatusCode::BAD_REQUEST, format!("{error}\n")).into_response(),
    }
}

async fn suggest(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    let workload = param(&params(q), "workload");
    if workload.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            "pick a workload in the graph first\n",
        )
            .into_response();
    }
    match s.source.suggest(workload).await {
        Ok(text) => text.into_response(),
        Err(error) => (StatusCode::BAD_GATEWAY, format!("{error}\n")).into_response(),
    }
}

#[cfg(test)]
mod tests;
