//! The SMI TrafficMetrics API (`metrics.smi-spec.io/v1alpha1`), served by
//! the controller as an extension API server behind an APIService.
//!
//! One replica, holding a Lease, scrapes every meshed proxy's metrics
//! listener over mTLS and keeps a bounded window per pod ([`scraper`];
//! the arithmetic, pure, in [`traffic_stats`]);
//! requests are answered from that window and the controller's own index
//! ([`aggregate`]), after the API server's front-proxy certificate is
//! verified ([`listener`], [`trust`], [`authn`]) and the end user
//! authorised with a SubjectAccessReview ([`authz`]); [`handler`] takes a
//! request through those steps. A replica that does not hold the Lease
//! forwards queries to the one that does ([`peers`]).

pub mod aggregate;
pub mod authn;
mod authz;
pub mod discovery;
pub mod handler;
pub mod lease;
mod listener;
pub mod peers;
mod response;
pub mod routes;
pub mod scraper;
pub mod selector;
pub mod traffic_stats;
pub mod trust;
