//! What every weft binary shares.
//!
//! Kept free of axum and Kubernetes so the proxy can use it: the admin server
//! is plain hyper.
//!
//! - [`admin`]: `/live`, `/ready`, `/metrics`, and loopback-only mutating
//!   endpoints (`PUT /log-level`, `POST /shutdown`).
//! - [`telemetry`]: tracing setup (plain or JSON) with a level that can be
//!   changed while running.
//! - [`readiness`]: readiness as the AND of registered conditions.
//! - [`backoff`]: jittered exponential backoff.
//! - [`grpc`]: gRPC channels that reconnect, and a retry loop using backoff.
//! - [`listen`]: the accept loop every listener shares.
//! - [`shutdown`]: SIGTERM/SIGINT handling and a drain with a deadline.
//! - [`process`]: the start and stop every binary shares.
//! - [`process_metrics`]: `process_*` metrics from `/proc/self`.

pub mod admin;
pub mod backoff;
pub mod grpc;
pub mod listen;
pub mod process;
pub mod process_metrics;
pub mod readiness;
pub mod shutdown;
pub mod telemetry;
