//! weft's mesh certificate authority: signs short-lived workload
//! certificates for ServiceAccounts.
//!
//! - [`ca`]: the issuer (loaded from PEM, checked to be a CA that chains to
//!   a trust anchor) and the signing of a checked CSR.
//! - [`authn`]: ServiceAccount tokens checked by TokenReview.
//! - [`certify`]: the gRPC Certify service tying them together.
//! - [`server`] and [`run`]: serving it over TLS and keeping the issuer and
//!   the service's own certificate current.
//! - [`lifetime`]: the certificate lifetime setting.
//! - [`evaluation`]: a generated PKI for a first look, never for production.

pub mod authn;
pub mod ca;
pub mod certify;
pub mod evaluation;
pub mod lifetime;
pub mod run;
pub mod server;
#[cfg(any(test, feature = "test-util"))]
pub mod test_pki;
