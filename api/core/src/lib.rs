//! weft's wire protocols and the mesh contract.
//!
//! This crate is deliberately free of Kubernetes and HTTP-server dependencies:
//! the proxy links it, and the proxy's dependency tree stays small.
//!
//! - [`identity`], [`policy`] and [`discovery`] hold the generated protobuf
//!   messages; gRPC clients and servers are compiled with the `client` and
//!   `server` features. The generated code is checked in (`make gen`), so no
//!   build needs `protoc`.
//! - [`contract`] names everything two components must agree on.
//! - [`duration`]: durations as Go writes them, parsed and printed alike.
//! - [`probes`]: the app probes the injector hands to the proxy.

pub mod contract;
pub mod duration;
pub mod probes;

/// The generated code, nested as the protobuf packages are, so that
/// cross-package references (`discovery` uses `policy` routes) resolve.
#[allow(clippy::all, missing_docs)]
pub mod proto {
    pub mod weft {
        pub mod identity {
            pub mod v1 {
                include!("gen/weft.identity.v1.rs");
            }
        }
        pub mod policy {
            pub mod v1 {
                include!("gen/weft.policy.v1.rs");
            }
        }
        pub mod discovery {
            pub mod v1 {
                include!("gen/weft.discovery.v1.rs");
            }
        }
    }
}

/// Outbound discovery (`weft.discovery.v1`).
pub use proto::weft::discovery::v1 as discovery;
/// Certificates for workloads (`weft.identity.v1`).
pub use proto::weft::identity::v1 as identity;
/// Inbound policy (`weft.policy.v1`).
pub use proto::weft::policy::v1 as policy;
