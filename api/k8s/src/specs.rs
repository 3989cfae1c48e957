//! `specs.smi-spec.io`: what traffic looks like (routes).

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const GROUP: &str = "specs.smi-spec.io";
/// The latest version: its types are what every layout decodes into, and
/// its typed schema validates what users write at it.
pub const VERSION: &str = "v1alpha4";
/// Older versions still served, oldest first.
pub const OLDER_VERSIONS: &[&str] = &["v1alpha1", "v1alpha2", "v1alpha3"];
/// The version weft reads objects at: the storage version, so reading
/// never waits on the conversion webhook (see `crds`).
pub const READ_VERSION: &str = VERSION;

/// Named HTTP request matches, referenced by TrafficTargets and TrafficSplits.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "specs.smi-spec.io",
    version = "v1alpha4",
    kind = "HTTPRouteGroup",
    namespaced,
    shortname = "htr",
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HTTPRouteGroupSpec {
    #[serde(default)]
    pub matches: Vec<HttpMatch>,
}

/// One HTTP match. Every condition present must hold; an absent condition is
/// a wildcard.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpMatch {
    pub name: String,
    /// HTTP methods, or `*` for any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// A regex matched against the path (query excluded), anchored at its
    /// start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_regex: Option<String>,
    /// Header name → a regex its value must match.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// TCP traffic on some ports.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "specs.smi-spec.io",
    version = "v1alpha4",
    kind = "TCPRoute",
    namespaced,
    shortname = "tr",
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TCPRouteSpec {
    /// Absent, or no ports: every port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<PortMatch>,
}

/// UDP traffic on some ports. weft does not mediate UDP (see the docs); a
/// rule naming one gets a Warning Event.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "specs.smi-spec.io",
    version = "v1alpha4",
    kind = "UDPRoute",
    namespaced,
    shortname = "ur",
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UDPRouteSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<PortMatch>,
}

/// Ports a TCPRoute or UDPRoute covers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortMatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Empty means every port.
    #[serde(default)]
    pub ports: Vec<u16>,
}

/// HTTP methods a match may name (`*` = any).
pub const METHODS: &[&str] = &[
    "*", "GET", "HEAD", "PUT", "POST", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];
