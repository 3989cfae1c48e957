//! Route status: one entry per parent and the controller that wrote it.

use super::refs::ParentReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteStatus {
    /// Replaced as a whole on every write (the API makes it atomic), so a
    /// writer keeps the entries of other controllers.
    #[serde(default)]
    pub parents: Vec<RouteParentStatus>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteParentStatus {
    pub parent_ref: ParentReference,
    pub controller_name: String,
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

/// Condition types and reasons weft writes.
pub mod conditions {
    pub const ACCEPTED: &str = "Accepted";
    pub const RESOLVED_REFS: &str = "ResolvedRefs";
    /// Accepted.
    pub const REASON_ACCEPTED: &str = "Accepted";
    pub const REASON_NO_MATCHING_PARENT: &str = "NoMatchingParent";
    /// ResolvedRefs.
    pub const REASON_RESOLVED_REFS: &str = "ResolvedRefs";
    pub const REASON_BACKEND_NOT_FOUND: &str = "BackendNotFound";
    pub const REASON_REF_NOT_PERMITTED: &str = "RefNotPermitted";
    pub const REASON_INVALID_KIND: &str = "InvalidKind";
    pub const REASON_UNSUPPORTED_VALUE: &str = "UnsupportedValue";
}
