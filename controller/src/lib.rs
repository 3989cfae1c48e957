//! weft's controller: turns SMI objects and Gateway API routes into policy and discovery streamed to sidecars.

pub mod conversion;
pub mod feedback;
pub mod grpc;
pub mod index;
pub mod kinds;
pub mod metrics_api;
pub mod route_status;
pub mod slim;
pub mod snapshot;
pub mod sync;
pub mod watches;
