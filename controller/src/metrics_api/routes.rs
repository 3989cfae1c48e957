//! The API's paths, parsed into what is asked. Pure; the shapes follow the
//! SMI metrics spec and kube-apiserver's URL conventions, so the RBAC a
//! user writes for `pods/edges` means what it says.

use super::selector::{LabelSelector, SelectorError};

pub const PREFIX: &str = "/apis/metrics.smi-spec.io/v1alpha1";

pub use weft_k8s_api::metrics::Kind;

/// A TrafficMetrics read.
#[derive(Clone, Debug)]
pub struct Query {
    pub kind: Kind,
    /// The namespace searched; `None` for namespaces themselves and for
    /// lists across all namespaces.
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub edges: bool,
    pub selector: LabelSelector,
}

impl Query {
    /// `get` for one object (or its edges), `list` otherwise: the verb the
    /// SubjectAccessReview checks.
    pub fn verb(&self) -> &'static str {
        if self.name.is_some() { "get" } else { "list" }
    }
}

#[derive(Debug)]
pub enum Route {
    /// `/apis`
    GroupList,
    /// `/apis/metrics.smi-spec.io`
    Group,
    /// `/apis/metrics.smi-spec.io/v1alpha1`
    ResourceList,
    /// `/openapi/v2`
    OpenApiV2,
    /// `/openapi/v3`
    OpenApiV3,
    /// `/openapi/v3/apis/metrics.smi-spec.io/v1alpha1`
    OpenApiV3Group,
    Metrics(Query),
}

impl Route {
    /// Discovery and OpenAPI documents: the same for every caller, and
    /// readable by every authenticated user under Kubernetes' default RBAC
    /// (`system:discovery`). They are answered without a
    /// SubjectAccessReview, because the aggregator asks for them as
    /// `system:kube-aggregator` with no groups, a user RBAC grants nothing.
    pub fn is_public(&self) -> bool {
        !matches!(self, Route::Metrics(_))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("no such path: {0}")]
    NotFound(String),
    #[error(transparent)]
    Selector(#[from] SelectorError),
}

pub fn route(path: &str, query: Option<&str>) -> Result<Route, RouteError> {
    let not_found = || RouteError::NotFound(path.to_string());
    let path = path.trim_end_matches('/');
    match path {
        "/apis" => return Ok(Route::GroupList),
        "/apis/metrics.smi-spec.io" => return Ok(Route::Group),
        PREFIX => return Ok(Route::ResourceList),
        "/openapi/v2" => return Ok(Route::OpenApiV2),
        "/openapi/v3" => return Ok(Route::OpenApiV3),
        super::openapi::V3_GROUP_PATH => return Ok(Route::OpenApiV3Group),
        _ => {}
    }
    let rest = path
        .strip_prefix(PREFIX)
        .and_then(|r| r.strip_prefix('/'))
        .ok_or_else(not_found)?;
    let segs: Vec<&str> = rest.split('/').collect();
    let q = |kind, namespace: Option<&str>, name: Option<&str>, edges| Query {
        kind,
        namespace: namespace.map(str::to_string),
        name: name.map(str::to_string),
        edges,
        selector: LabelSelector::default(),
    };
    let kind = |plural| Kind::from_plural(plural).filter(|k| *k != Kind::Namespace);
    let mut query_out = match segs.as_slice() {
        ["namespaces"] => q(Kind::Namespace, None, None, false),
        ["namespaces", ns] => q(Kind::Namespace, None, Some(ns), false),
        ["namespaces", ns, "edges"] => q(Kind::Namespace, None, Some(ns), true),
        ["namespaces", ns, plural] => q(kind(plural).ok_or_else(not_found)?, Some(ns), None, false),
        ["namespaces", ns, plural, name] => q(
            kind(plural).ok_or_else(not_found)?,
            Some(ns),
            Some(name),
            false,
        ),
        ["namespaces", ns, plural, name, "edges"] => q(
            kind(plural).ok_or_else(not_found)?,
            Some(ns),
            Some(name),
            true,
        ),
        [plural] => q(kind(plural).ok_or_else(not_found)?, None, None, false),
        _ => return Err(not_found()),
    };
    if [&query_out.namespace, &query_out.name]
        .into_iter()
        .flatten()
        .any(|s| s.is_empty())
    {
        return Err(not_found());
    }
    if let Some(sel) = query.and_then(|q| param(q, "labelSelector")) {
        query_out.selector = LabelSelector::parse(&sel)?;
    }
    Ok(Route::Metrics(query_out))
}

/// One query-string parameter, percent-decoded.
fn param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        // In a query string `+` is a space; `%2B` is a plus.
        (k == key).then(|| percent_decode(&v.replace('+', " ")))
    })
}

/// `%XX` escapes decoded; anything else, a malformed escape included, kept.
pub(super) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len()
                && b[i + 1].is_ascii_hexdigit()
                && b[i + 2].is_ascii_hexdigit() =>
            {
                let hex = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
                out.push(hex(b[i + 1]) * 16 + hex(b[i + 2]));
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(path: &str, query: Option<&str>) -> Query {
        match route(path, query).unwrap() {
            Route::Metrics(q) => q,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn reads_the_smi_paths() {
        let q = metrics(
            &format!("{PREFIX}/namespaces/shop/deployments/web/edges"),
            None,
        );
        assert_eq!(
            (
                q.kind,
                q.namespace.as_deref(),
                q.name.as_deref(),
                q.edges,
                q.verb()
            ),
            (Kind::Deployment, Some("shop"), Some("web"), true, "get")
        );
        let q = metrics(&format!("{PREFIX}/namespaces/shop/pods"), None);
        assert_eq!(
            (q.kind, q.name.clone(), q.verb()),
            (Kind::Pod, None, "list")
        );
        let q = metrics(&format!("{PREFIX}/namespaces/shop"), None);
        assert_eq!(
            (q.kind, q.namespace, q.name.as_deref()),
            (Kind::Namespace, None, Some("shop"))
        );
        let q = metrics(&format!("{PREFIX}/namespaces/shop/edges"), None);
        assert!(q.edges && q.kind == Kind::Namespace);
        let q = metrics(&format!("{PREFIX}/trafficsplits"), None);
        assert_eq!((q.kind, q.namespace), (Kind::TrafficSplit, None));
        assert!(matches!(
            route("/apis/metrics.smi-spec.io/v1alpha1/", None),
            Ok(Route::ResourceList)
        ));
        assert!(matches!(route("/apis", None), Ok(Route::GroupList)));
        assert!(matches!(route("/openapi/v2", None), Ok(Route::OpenApiV2)));
        assert!(matches!(
            route(
                "/openapi/v3/apis/metrics.smi-spec.io/v1alpha1",
                Some("hash=X")
            ),
            Ok(Route::OpenApiV3Group)
        ));
        let public = |p| route(p, None).unwrap().is_public();
        assert!(public("/apis") && public("/openapi/v3") && public(PREFIX));
        assert!(!public(&format!("{PREFIX}/namespaces/shop/pods")));
    }

    #[test]
    fn refuses_other_paths() {
        for p in [
            "/healthz",
            "/apis/metrics.smi-spec.io/v1beta1/namespaces",
            &format!("{PREFIX}/namespaces/shop/services/web"),
            &format!("{PREFIX}/namespaces/shop/namespaces"),
            &format!("{PREFIX}/namespaces/shop/pods/web/logs"),
            &format!("{PREFIX}/namespaces//pods"),
        ] {
            assert!(
                matches!(route(p, None), Err(RouteError::NotFound(_))),
                "{p}"
            );
        }
    }

    #[test]
    fn decodes_label_selectors() {
        let q = metrics(
            &format!("{PREFIX}/namespaces/shop/pods"),
            Some("limit=5&labelSelector=app%3Dweb%2Ctier+in+%28a%2Cb%29"),
        );
        let web = [
            ("app".to_string(), "web".to_string()),
            ("tier".into(), "a".into()),
        ]
        .into();
        assert!(q.selector.matches(&web));
        assert!(matches!(
            route(
                &format!("{PREFIX}/namespaces/shop/pods"),
                Some("labelSelector=app%20~%20x")
            ),
            Err(RouteError::Selector(_))
        ));
        assert_eq!(percent_decode("a%2"), "a%2");
    }
}
