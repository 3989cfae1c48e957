//! weft's controller: turns SMI objects into policy and discovery streamed to sidecars.

pub mod conversion;
pub mod feedback;
pub mod grpc;
pub mod index;
pub mod kinds;
pub mod metrics_api;
pub mod slim;
pub mod snapshot;
pub mod sync;
pub mod watches;
