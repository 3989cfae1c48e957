//! weft's controller: turns SMI objects into policy and discovery streamed to sidecars.

pub mod grpc;
pub mod index;
