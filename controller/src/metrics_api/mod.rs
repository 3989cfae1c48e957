//! The SMI TrafficMetrics API (`metrics.smi-spec.io/v1alpha1`), served by
//! the controller as an extension API server behind an APIService.
//!
//! One replica, holding a Lease, scrapes every meshed proxy's metrics
//! listener over mTLS and keeps a bounded window per pod ([`scraper`];
//! the arithmetic, pure, in [`traffic_stats`]);
//! requests are answered from that window and the controller's own index
//! ([`aggregate`]), after the API server's front-proxy certificate is
//! verified and the end user authorised with a SubjectAccessReview
//! ([`server`]).

pub mod aggregate;
pub mod authn;
pub mod discovery;
pub mod lease;
pub mod routes;
pub mod scraper;
pub mod selector;
pub mod server;
pub mod traffic_stats;
