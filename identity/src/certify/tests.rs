use super::*;
use crate::{authn::ServiceAccount, test_pki::*};
use std::collections::BTreeMap;
use weft_tls::WorkloadKey;

/// Tokens are `sa:<ns>:<name>`; `down` means the API server is unreachable.
struct Table(BTreeMap<&'static str, Result<ServiceAccount, AuthnError>>);

impl TokenReviewer for Table {
    async fn review(&self, token: &str) -> Result<ServiceAccount, AuthnError> {
        self.0
            .get(token)
            .cloned()
            .unwrap_or_else(|| Err(AuthnError::Rejected("unknown token".into())))
    }
}

fn sa(ns: &str, name: &str) -> Result<ServiceAccount, AuthnError> {
    Ok(ServiceAccount {
        namespace: ns.into(),
        name: name.into(),
    })
}

fn service() -> CertifyService<Table> {
    let issuer = Arc::new(ArcSwap::from_pointee(load(&pki(later(365)))));
    let table = Table(BTreeMap::from([
        ("web-token", sa("shop", "web")),
        (
            "down",
            Err(AuthnError::Unavailable("connection refused".into())),
        ),
    ]));
    CertifyService::new(issuer, table, "cluster.local".parse().unwrap())
}

fn request(identity: &str, token: &str, csr_for: Option<&str>) -> CertifyRequest {
    let csr = csr_for
        .map(|sa| WorkloadKey::generate().unwrap().csr_der(&id(sa)).unwrap())
        .unwrap_or_default();
    CertifyRequest {
        identity: identity.into(),
        token: token.as_bytes().to_vec(),
        certificate_signing_request: csr,
    }
}

#[tokio::test]
async fn a_workload_is_certified_as_its_own_service_account() {
    let svc = service();
    let rsp = svc
        .certify(Request::new(request(
            id("web").as_str(),
            "web-token\n",
            Some("web"),
        )))
        .await
        .unwrap();
    assert!(!rsp.into_inner().leaf_certificate.is_empty());
    assert_eq!(svc.metrics.issued(), 1);
}

#[tokio::test]
async fn every_refusal_has_its_code_and_reason() {
    let svc = service();
    let web = id("web");
    let cases = [
        (
            request("spiffe://cluster.local/ns/shop", "web-token", Some("web")),
            Code::InvalidArgument,
            "bad-identity",
        ),
        (
            request(
                "spiffe://other.mesh/ns/shop/sa/web",
                "web-token",
                Some("web"),
            ),
            Code::PermissionDenied,
            "foreign-trust-domain",
        ),
        (
            request(web.as_str(), "", Some("web")),
            Code::Unauthenticated,
            "missing-token",
        ),
        (
            request(web.as_str(), "forged", Some("web")),
            Code::Unauthenticated,
            "bad-token",
        ),
        (
            request(web.as_str(), "down", Some("web")),
            Code::Unavailable,
            "review-unavailable",
        ),
        (
            request(id("admin").as_str(), "web-token", Some("admin")),
            Code::PermissionDenied,
            "wrong-identity",
        ),
        (
            request(web.as_str(), "web-token", Some("admin")),
            Code::PermissionDenied,
            "wrong-identity",
        ),
        (
            request(web.as_str(), "web-token", None),
            Code::InvalidArgument,
            "bad-csr",
        ),
    ];
    for (i, (req, code, reason)) in cases.into_iter().enumerate() {
        let before = svc.metrics.rejected(reason);
        let status = svc
            .certify(Request::new(req))
            .await
            .expect_err(&format!("case {i}"));
        assert_eq!(status.code(), code, "case {i}: {}", status.message());
        assert!(!status.message().is_empty());
        assert_eq!(
            svc.metrics.rejected(reason),
            before + 1,
            "case {i} counted as {reason}"
        );
    }
    let garbage = CertifyRequest {
        certificate_signing_request: b"garbage".to_vec(),
        ..request(web.as_str(), "web-token", None)
    };
    let status = svc.certify(Request::new(garbage)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(svc.metrics.issued(), 0);
}

#[tokio::test]
async fn a_swapped_issuer_signs_the_next_request() {
    let svc = service();
    let first = svc
        .certify(Request::new(request(
            id("web").as_str(),
            "web-token",
            Some("web"),
        )))
        .await
        .unwrap()
        .into_inner();
    let next = pki(later(365));
    svc.issuer.store(Arc::new(load(&next)));
    let second = svc
        .certify(Request::new(request(
            id("web").as_str(),
            "web-token",
            Some("web"),
        )))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(
        first.intermediate_certificates,
        second.intermediate_certificates
    );
    let anchors = weft_tls::TrustAnchors::from_pem(next.root_pem.as_bytes()).unwrap();
    let chain: Vec<_> = second
        .intermediate_certificates
        .iter()
        .map(|c| rustls_pki_types::CertificateDer::from(c.clone()))
        .collect();
    anchors
        .verify_client_chain(
            &second.leaf_certificate.clone().into(),
            &chain,
            rustls_pki_types::UnixTime::now(),
        )
        .unwrap();
}

#[tokio::test]
async fn trust_anchors_are_served_once_loaded() {
    let svc = service();
    let ask = || svc.trust_anchors(Request::new(TrustAnchorsRequest {}));
    assert_eq!(ask().await.unwrap_err().code(), Code::Unavailable);
    svc.anchors_pem
        .store(Arc::new(b"-----BEGIN CERTIFICATE-----".to_vec()));
    assert_eq!(
        ask().await.unwrap().into_inner().pem_bundle,
        b"-----BEGIN CERTIFICATE-----"
    );
}
