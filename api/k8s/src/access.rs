//! `access.smi-spec.io`: who may talk to whom.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub const GROUP: &str = "access.smi-spec.io";
/// The latest version: its types are what every layout decodes into, and
/// its typed schema validates what users write at it.
pub const VERSION: &str = "v1alpha3";
/// Older versions still served, oldest first.
pub const OLDER_VERSIONS: &[&str] = &["v1alpha1", "v1alpha2"];
/// The version weft reads objects at: the storage version, so reading
/// never waits on the conversion webhook (see `crds`).
pub const READ_VERSION: &str = VERSION;

/// Allows traffic from the `sources` to every pod running as the
/// `destination` ServiceAccount, limited by the `rules`.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "access.smi-spec.io",
    version = "v1alpha3",
    kind = "TrafficTarget",
    namespaced,
    shortname = "tt",
    printcolumn = r#"{"name":"Destination","type":"string","jsonPath":".spec.destination.name","description":"the destination ServiceAccount"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrafficTargetSpec {
    /// The ServiceAccount whose pods receive the traffic. Only destinations in
    /// the TrafficTarget's own namespace are bound.
    pub destination: IdentityBindingSubject,
    /// Who may send traffic; an empty list allows no one.
    #[serde(default)]
    pub sources: Vec<IdentityBindingSubject>,
    /// What they may do: references to HTTPRouteGroups, TCPRoutes or
    /// UDPRoutes in the same namespace.
    #[serde(default)]
    pub rules: Vec<TrafficTargetRule>,
}

/// A ServiceAccount, by name and namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdentityBindingSubject {
    /// Always `ServiceAccount`.
    pub kind: String,
    pub name: String,
    /// Empty means the TrafficTarget's own namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Legacy (v1alpha1/v1alpha2) destination port: restricts the target to
    /// that port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// A reference to a route resource, optionally narrowed to some of its
/// matches.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrafficTargetRule {
    /// `HTTPRouteGroup`, `TCPRoute` or `UDPRoute`.
    pub kind: String,
    pub name: String,
    /// Names of matches in the route resource; empty means all of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<String>,
}

/// The kinds a TrafficTarget rule may reference.
pub const RULE_KINDS: &[&str] = &["HTTPRouteGroup", "TCPRoute", "UDPRoute"];
