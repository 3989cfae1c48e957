//! `gateway.networking.k8s.io`: the Gateway API routes weft applies to mesh
//! traffic (GAMMA: an HTTPRoute or GRPCRoute whose parent is a Service),
//! and the ReferenceGrants that let a route name a backend in another
//! namespace.
//!
//! Gateway API ships and versions its own CRDs, so these types have no
//! schema and [`crate::crds`] never emits them: weft only reads them. They
//! carry just the fields weft uses. Unknown fields are ignored and
//! enumerations are kept as strings, so an object written for a newer
//! Gateway API still decodes, and the index judges values it does not know.

pub mod decode;
pub mod filter;
pub mod grant;
pub mod grpc;
pub mod http;
pub mod refs;
pub mod status;

pub use grant::ReferenceGrant;
pub use grpc::GRPCRoute;
pub use http::HTTPRoute;

pub const GROUP: &str = "gateway.networking.k8s.io";
/// The version routes are read at (standard channel, GA since v1.0 for
/// HTTPRoute and v1.1 for GRPCRoute).
pub const VERSION: &str = "v1";
/// The version ReferenceGrants are read at: every Gateway API release
/// since v0.6 serves it, v1 only the newest.
pub const GRANT_VERSION: &str = "v1beta1";

/// The route kinds, as `kind` and ReferenceGrant `from.kind` spell them.
pub const HTTP_ROUTE: &str = "HTTPRoute";
pub const GRPC_ROUTE: &str = "GRPCRoute";

#[cfg(test)]
mod tests;
