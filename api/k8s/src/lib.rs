//! Kubernetes-facing types of weft: the Service Mesh Interface resources,
//! and the Gateway API routes weft reads.
//!
//! - [`access`], [`specs`], [`split`]: the SMI custom resources at the
//!   versions weft serves as its storage versions (access v1alpha3, specs
//!   v1alpha4, split v1alpha4), with kube `CustomResource` derives.
//! - [`metrics`]: TrafficMetrics (metrics.smi-spec.io/v1alpha1), plain serde
//!   types: SMI defines them as an aggregated API, not a CRD.
//! - [`decode`]: per-object lenient decoding of every older layout tools
//!   still write into the latest types, with errors naming the field.
//! - [`crds`]: the CustomResourceDefinitions, serving every older version too
//!   (`crdgen` writes them to `charts/weft/crds/`).
//! - [`gateway`]: HTTPRoute, GRPCRoute and ReferenceGrant, read only: their
//!   CRDs are Gateway API's, never generated here.
//!
//! The proxy never depends on this crate (it would pull in kube).

pub mod access;
pub mod convert;
pub mod crds;
pub mod decode;
pub mod gateway;
pub mod metrics;
pub mod specs;
pub mod split;

/// The Kubernetes API version weft is built and tested against.
pub const KUBERNETES_API: &str = "1.34";
