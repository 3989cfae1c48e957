//! One request of the API, from the front proxy's headers to the answer:
//! only `GET`, a user named, a known path, the user authorised
//! ([`super::authz`]), then the discovery documents or TrafficMetrics from
//! this replica's figures (or the Lease holder's, [`super::peers`]).

use super::aggregate::{self, Answer, Inputs, Scraped};
use super::authn::{FrontProxy, User};
use super::authz;
use super::discovery;
use super::openapi;
use super::peers::Peers;
use super::response::{json, json_as, status};
use super::routes::{self, Route, RouteError};
use super::trust::Trust;
use crate::index::SharedIndex;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use std::sync::Arc;
use tokio::sync::watch;
use tracing::{Instrument as _, debug, info_span, warn};

/// What answering needs; the listeners ([`super::listener`],
/// [`super::peers`]) share one.
pub struct ApiServer {
    pub client: kube::Client,
    pub index: SharedIndex,
    pub scraped: watch::Receiver<Arc<Scraped>>,
    pub trust: watch::Receiver<Option<Arc<Trust>>>,
    /// Named in 503s: the Lease whose holder scrapes.
    pub lease: String,
    /// How a replica that does not scrape reaches the one that does.
    pub peers: Peers,
}

impl ApiServer {
    pub(super) async fn handle(
        &self,
        req: Request<Incoming>,
        proxy: &FrontProxy,
    ) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_string();
        let span = info_span!("request", %path, user = tracing::field::Empty);
        async {
            if req.method() != Method::GET {
                return status(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "MethodNotAllowed",
                    "only get and list are served",
                );
            }
            let Some(user) = proxy.user(req.headers()) else {
                return status(
                    StatusCode::UNAUTHORIZED,
                    "Unauthorized",
                    "no user named by the front proxy",
                );
            };
            tracing::Span::current().record("user", user.name.as_str());
            let route = match routes::route(&path, req.uri().query()) {
                Ok(r) => r,
                Err(RouteError::NotFound(p)) => {
                    return status(
                        StatusCode::NOT_FOUND,
                        "NotFound",
                        &format!("the server could not find {p}"),
                    );
                }
                Err(e @ RouteError::Selector(_)) => {
                    return status(StatusCode::BAD_REQUEST, "BadRequest", &e.to_string());
                }
            };
            if !route.is_public()
                && let Some(refused) = self.refused(&user, &path, &route).await
            {
                return refused;
            }
            match route {
                Route::GroupList => {
                    let accept = req
                        .headers()
                        .get(http::header::ACCEPT)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    match discovery::aggregated_version(accept) {
                        Some((version, media)) => json_as(&discovery::aggregated(version), media),
                        None => json(&discovery::group_list()),
                    }
                }
                Route::Group => json(&discovery::group()),
                Route::ResourceList => json(&discovery::resource_list()),
                Route::OpenApiV2 => json(&openapi::v2()),
                Route::OpenApiV3 => json(&openapi::v3_root()),
                Route::OpenApiV3Group => json(&openapi::v3_group()),
                Route::Metrics(q) => {
                    let pq = req
                        .uri()
                        .path_and_query()
                        .map_or(path.as_str(), |p| p.as_str());
                    self.metrics_or_forward(&q, pq).await
                }
            }
        }
        .instrument(span)
        .await
    }

    /// The answer when `user` may not read `route`, or `None` when it may.
    async fn refused(
        &self,
        user: &User,
        path: &str,
        route: &Route,
    ) -> Option<Response<Full<Bytes>>> {
        let (spec, what) = authz::review(user, path, route);
        match authz::authorize(&self.client, spec).await {
            Ok(true) => None,
            Ok(false) => {
                debug!("forbidden");
                Some(status(
                    StatusCode::FORBIDDEN,
                    "Forbidden",
                    &format!("user {:?} cannot {what}", user.name),
                ))
            }
            Err(e) => {
                warn!(error = %e, "SubjectAccessReview failed");
                Some(status(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    &format!("cannot check authorization: {e}"),
                ))
            }
        }
    }

    /// Answers a TrafficMetrics query from this replica's figures.
    pub(super) fn metrics(&self, q: &routes::Query) -> Response<Full<Bytes>> {
        let scraped = self.scraped.borrow().clone();
        if scraped.at.is_none() {
            return status(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                &format!(
                    "no metrics collected yet: the controller replica holding Lease {} scrapes the proxies \
                     (it may be starting, or this replica may not hold it)",
                    self.lease
                ),
            );
        }
        let (pods, namespaces, splits) = {
            let index = self.index.lock().expect("index lock");
            let splits = if q.kind == routes::Kind::TrafficSplit {
                index.split_backends()
            } else {
                Default::default()
            };
            (index.meshed_pods(), index.namespace_labels(), splits)
        };
        let inputs = Inputs {
            scraped: &scraped,
            pods: &pods,
            namespaces: &namespaces,
            splits: &splits,
        };
        match aggregate::answer(q, &inputs) {
            Answer::One(m) => json(&m),
            Answer::List(l) => json(&l),
            Answer::NotFound(msg) => status(StatusCode::NOT_FOUND, "NotFound", &msg),
        }
    }
}
