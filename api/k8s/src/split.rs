//! `split.smi-spec.io`: shifting traffic between versions of a service.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub const GROUP: &str = "split.smi-spec.io";
/// The latest version: its types are what every layout decodes into, and
/// its typed schema validates what users write at it.
pub const VERSION: &str = "v1alpha4";
/// Older versions still served, oldest first (Flagger writes v1alpha2 and
/// v1alpha3).
pub const OLDER_VERSIONS: &[&str] = &["v1alpha1", "v1alpha2", "v1alpha3"];
/// The version weft reads objects at: the storage version, so reading
/// never waits on the conversion webhook (see `crds`).
pub const READ_VERSION: &str = VERSION;

/// Splits traffic addressed to the root `service` over `backends` by weight.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "split.smi-spec.io",
    version = "v1alpha4",
    kind = "TrafficSplit",
    namespaced,
    shortname = "ts",
    printcolumn = r#"{"name":"Service","type":"string","jsonPath":".spec.service","description":"the root service clients address"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrafficSplitSpec {
    /// The root Service, in the split's namespace, that clients address.
    pub service: String,
    /// Services receiving the traffic.
    #[serde(default)]
    pub backends: Vec<TrafficSplitBackend>,
    /// When present, only requests matching these route groups are split;
    /// the rest go to the root Service's own endpoints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<TypedLocalObjectReference>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrafficSplitBackend {
    pub service: String,
    /// A relative weight; 0 sends no traffic. v1alpha1 quantities (`500m`)
    /// are normalised to thousandths by the decoder.
    pub weight: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TypedLocalObjectReference {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_group: Option<String>,
    pub kind: String,
    pub name: String,
}
