//! The Certify service: token → ServiceAccount → the one SPIFFE id it may
//! be certified as → a signed leaf. Each refusal has its own gRPC code and a
//! message that says what is wrong, and is counted by reason.

use crate::{
    authn::{AuthnError, TokenReviewer},
    ca::{DEFAULT_LIFETIME, Issuer, SignError},
};
use arc_swap::ArcSwap;
use prometheus_client::{
    metrics::{counter::Counter, family::Family},
    registry::Registry,
};
use std::{sync::Arc, time::Duration};
use time::OffsetDateTime;
use tonic::{Code, Request, Response, Status};
use weft_api::identity::{
    CertifyRequest, CertifyResponse, TrustAnchorsRequest, TrustAnchorsResponse,
    identity_server::Identity,
};
use weft_tls::{SpiffeId, TrustDomain};

/// Certificates issued, and requests refused by reason.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    issued: Counter,
    rejected: Family<Vec<(String, String)>, Counter>,
}

impl Metrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "weft_identity_certificates_issued",
            "Workload certificates issued",
            self.issued.clone(),
        );
        registry.register(
            "weft_identity_certify_rejected",
            "Certify requests refused, by reason",
            self.rejected.clone(),
        );
    }

    pub fn rejected(&self, reason: &str) -> u64 {
        self.rejected
            .get_or_create(&vec![("reason".into(), reason.into())])
            .get()
    }

    pub fn issued(&self) -> u64 {
        self.issued.get()
    }
}

/// The service; the issuer can be swapped while it serves.
pub struct CertifyService<R> {
    pub issuer: Arc<ArcSwap<Issuer>>,
    pub reviewer: R,
    pub trust_domain: TrustDomain,
    pub lifetime: Duration,
    pub metrics: Metrics,
    /// The PEM trust-anchor bundle TrustAnchors answers with (followed
    /// from the control plane's own ConfigMap); empty until loaded.
    pub anchors_pem: Arc<ArcSwap<Vec<u8>>>,
}

impl<R: TokenReviewer> CertifyService<R> {
    pub fn new(issuer: Arc<ArcSwap<Issuer>>, reviewer: R, trust_domain: TrustDomain) -> Self {
        Self {
            issuer,
            reviewer,
            trust_domain,
            lifetime: DEFAULT_LIFETIME,
            metrics: Metrics::default(),
            anchors_pem: Arc::default(),
        }
    }

    /// Handles one request; `Err` carries the reason label and the status.
    pub async fn handle(
        &self,
        req: &CertifyRequest,
    ) -> Result<CertifyResponse, (&'static str, Status)> {
        let requested: SpiffeId = req.identity.parse().map_err(|e| {
            (
                "bad-identity",
                Status::invalid_argument(format!("identity {:?}: {e}", req.identity)),
            )
        })?;
        if requested.trust_domain() != &self.trust_domain {
            return Err((
                "foreign-trust-domain",
                Status::permission_denied(format!(
                    "{requested} is outside this mesh's trust domain {}",
                    self.trust_domain
                )),
            ));
        }
        if req.token.is_empty() {
            return Err((
                "missing-token",
                Status::unauthenticated("no ServiceAccount token was sent"),
            ));
        }
        // Before the token review: near its end the issuer refuses every
        // caller, and refusing costs the API server nothing.
        self.issuer
            .load()
            .can_sign(OffsetDateTime::now_utc(), self.lifetime)
            .map_err(sign_refusal)?;
        let token = std::str::from_utf8(&req.token).map_err(|_| {
            (
                "bad-token",
                Status::unauthenticated("the token is not UTF-8"),
            )
        })?;
        let sa = self
            .reviewer
            .review(token.trim())
            .await
            .map_err(|e| match e {
                AuthnError::Unavailable(_) => {
                    ("review-unavailable", Status::unavailable(e.to_string()))
                }
                AuthnError::Rejected(_) | AuthnError::NotServiceAccount(_) => {
                    ("bad-token", Status::unauthenticated(e.to_string()))
                }
            })?;
        if sa.namespace != requested.namespace() || sa.name != requested.service_account() {
            return Err((
                "wrong-identity",
                Status::permission_denied(format!(
                    "the token is ServiceAccount {}/{}, which may not be certified as {requested}",
                    sa.namespace, sa.name
                )),
            ));
        }
        if req.certificate_signing_request.is_empty() {
            return Err(("bad-csr", Status::invalid_argument("no CSR was sent")));
        }
        let issuer = self.issuer.load();
        issuer
            .sign(
                &req.certificate_signing_request,
                &requested,
                OffsetDateTime::now_utc(),
                self.lifetime,
            )
            .map_err(sign_refusal)
    }
}

fn sign_refusal(e: SignError) -> (&'static str, Status) {
    match e {
        SignError::IssuerExpired => ("issuer-expired", Status::unavailable(e.to_string())),
        SignError::IssuerExpiring { .. } => ("issuer-expiring", Status::unavailable(e.to_string())),
        SignError::WrongId { .. } => ("wrong-identity", Status::permission_denied(e.to_string())),
        _ => ("bad-csr", Status::invalid_argument(e.to_string())),
    }
}

#[tonic::async_trait]
impl<R: TokenReviewer> Identity for CertifyService<R> {
    async fn certify(
        &self,
        request: Request<CertifyRequest>,
    ) -> Result<Response<CertifyResponse>, Status> {
        let req = request.into_inner();
        match self.handle(&req).await {
            Ok(rsp) => {
                self.metrics.issued.inc();
                tracing::info!(identity = %req.identity, "certified");
                Ok(Response::new(rsp))
            }
            Err((reason, status)) => {
                self.metrics
                    .rejected
                    .get_or_create(&vec![("reason".into(), reason.into())])
                    .inc();
                tracing::info!(identity = %req.identity, %reason, message = status.message(), "refused");
                debug_assert_ne!(status.code(), Code::Ok);
                Err(status)
            }
        }
    }

    async fn trust_anchors(
        &self,
        _: Request<TrustAnchorsRequest>,
    ) -> Result<Response<TrustAnchorsResponse>, Status> {
        let pem = self.anchors_pem.load_full();
        if pem.is_empty() {
            return Err(Status::unavailable("the trust anchors are not loaded yet"));
        }
        Ok(Response::new(TrustAnchorsResponse {
            pem_bundle: pem.to_vec(),
        }))
    }
}

#[cfg(test)]
mod tests;
