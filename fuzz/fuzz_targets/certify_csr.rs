//! weft-identity's Certify checks: the requested SPIFFE id, the token's
//! ServiceAccount and the CSR (`CertifyService::handle`, which ends in
//! `Issuer::sign`). Any pod can send any request.
//!
//! Input: the requested identity, a newline, the token, a newline, then the
//! CSR's DER. The token reviewer here accepts `<namespace>/<name>` as that
//! ServiceAccount, `unavailable` as an unreachable API server, and refuses
//! the rest.
//!
//! Beyond "no panic": a certificate is issued only when the identity is the
//! token's own, and names exactly that identity; a refusal carries a known
//! reason and an error status.
#![no_main]

use arc_swap::ArcSwap;
use libfuzzer_sys::fuzz_target;
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use weft_api::identity::CertifyRequest;
use weft_identity::authn::{AuthnError, ServiceAccount, TokenReviewer};
use weft_identity::ca::Issuer;
use weft_identity::certify::CertifyService;
use weft_identity::evaluation;
use weft_tls::SpiffeId;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

const REASONS: &[&str] = &[
    "bad-identity",
    "foreign-trust-domain",
    "missing-token",
    "bad-token",
    "review-unavailable",
    "wrong-identity",
    "bad-csr",
    "issuer-expired",
];

struct Reviewer;

impl TokenReviewer for Reviewer {
    async fn review(&self, token: &str) -> Result<ServiceAccount, AuthnError> {
        if token == "unavailable" {
            return Err(AuthnError::Unavailable("no API server".into()));
        }
        match token.split_once('/') {
            Some((namespace, name)) if !namespace.is_empty() && !name.is_empty() => {
                Ok(ServiceAccount {
                    namespace: namespace.to_string(),
                    name: name.to_string(),
                })
            }
            _ => Err(AuthnError::Rejected("unknown token".into())),
        }
    }
}

fn service() -> &'static CertifyService<Reviewer> {
    static SERVICE: OnceLock<CertifyService<Reviewer>> = OnceLock::new();
    SERVICE.get_or_init(|| {
        let td = "cluster.local".parse().expect("a trust domain");
        let now = time::OffsetDateTime::now_utc();
        let pki = evaluation::generate(&td, now + Duration::from_secs(30 * 86400))
            .expect("an evaluation PKI");
        let issuer = Issuer::from_pem(
            pki.root_pem.as_bytes(),
            pki.issuer_pem.as_bytes(),
            &pki.issuer_key_pem,
            now,
        )
        .expect("the issuer loads");
        CertifyService::new(Arc::new(ArcSwap::from_pointee(issuer)), Reviewer, td)
    })
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |&b| b == b'\n');
    let identity = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let token = parts.next().unwrap_or_default().to_vec();
    let csr = parts.next().unwrap_or_default().to_vec();
    let req = CertifyRequest {
        identity,
        token,
        certificate_signing_request: csr,
    };
    match ready(service().handle(&req)) {
        Ok(rsp) => {
            let id: SpiffeId = req.identity.parse().expect("issued for an invalid id");
            let token = std::str::from_utf8(&req.token).expect("issued for a non-UTF-8 token");
            assert_eq!(
                token.trim(),
                format!("{}/{}", id.namespace(), id.service_account()),
                "issued for another ServiceAccount"
            );
            let (_, leaf) =
                X509Certificate::from_der(&rsp.leaf_certificate).expect("the leaf parses");
            let sans = leaf
                .subject_alternative_name()
                .expect("a valid SAN extension")
                .expect("a SAN extension");
            let names = &sans.value.general_names;
            assert!(
                matches!(names.as_slice(), [GeneralName::URI(u)] if *u == id.as_str()),
                "the leaf names {names:?}, not {id}"
            );
            assert!(rsp.valid_until.is_some());
        }
        Err((reason, status)) => {
            assert!(REASONS.contains(&reason), "unknown reason {reason}");
            assert_ne!(status.code(), tonic::Code::Ok);
        }
    }
});

/// The request's result: the reviewer answers at once.
fn ready<F: Future>(f: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(f).poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("Certify waited on nothing"),
    }
}
