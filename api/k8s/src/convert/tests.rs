use super::*;
use serde_json::json;

fn meta() -> Value {
    json!({"name": "x", "namespace": "n", "uid": "u"})
}

#[test]
fn flaggers_v1alpha1_split_reads_back_with_integer_weights() {
    let written = json!({"apiVersion": "split.smi-spec.io/v1alpha1", "kind": "TrafficSplit",
        "metadata": meta(), "spec": {"service": "podinfo", "backends": [
            {"service": "podinfo-primary", "weight": "100"},
            {"service": "podinfo-canary", "weight": "0"}]}});
    let v4 = convert(&written, "split.smi-spec.io/v1alpha4").unwrap();
    assert_eq!(v4["spec"]["backends"][0]["weight"], 100);
    assert_eq!(v4["spec"]["backends"][1]["weight"], 0);
    assert_eq!(
        convert(&v4, "split.smi-spec.io/v1alpha1").unwrap(),
        written,
        "and goes back as quantity strings"
    );
}

#[test]
fn fractional_quantities_become_thousandths() {
    let written = json!({"apiVersion": "split.smi-spec.io/v1alpha1", "kind": "TrafficSplit",
        "metadata": meta(), "spec": {"service": "a", "backends": [
            {"service": "b", "weight": "500m"}, {"service": "c", "weight": 1}]}});
    let v2 = convert(&written, "split.smi-spec.io/v1alpha2").unwrap();
    assert_eq!(v2["spec"]["backends"][0]["weight"], 500);
    assert_eq!(v2["spec"]["backends"][1]["weight"], 1000);
}

#[test]
fn a_weight_that_means_nothing_is_left_for_the_decoder_to_refuse() {
    let written = json!({"apiVersion": "split.smi-spec.io/v1alpha1", "kind": "TrafficSplit",
        "metadata": meta(), "spec": {"service": "a", "backends": [
            {"service": "b", "weight": "half"}, {"service": "c", "weight": "1"}]}});
    let v4 = convert(&written, "split.smi-spec.io/v1alpha4").unwrap();
    assert_eq!(v4["spec"], written["spec"]);
}

#[test]
fn traffic_target_v1alpha1_moves_under_spec_with_rules() {
    let v1 = json!({"apiVersion": "access.smi-spec.io/v1alpha1", "kind": "TrafficTarget",
        "metadata": meta(),
        "destination": {"kind": "ServiceAccount", "name": "api", "namespace": "n", "port": 8080},
        "specs": [{"kind": "HTTPRouteGroup", "name": "r", "matches": ["m"]}],
        "sources": [{"kind": "ServiceAccount", "name": "web", "namespace": "n"}]});
    let v3 = convert(&v1, "access.smi-spec.io/v1alpha3").unwrap();
    assert_eq!(
        v3,
        json!({"apiVersion": "access.smi-spec.io/v1alpha3", "kind": "TrafficTarget",
            "metadata": meta(), "spec": {
            "destination": {"kind": "ServiceAccount", "name": "api", "namespace": "n", "port": 8080},
            "rules": [{"kind": "HTTPRouteGroup", "name": "r", "matches": ["m"]}],
            "sources": [{"kind": "ServiceAccount", "name": "web", "namespace": "n"}]}})
    );
    assert_eq!(convert(&v3, "access.smi-spec.io/v1alpha1").unwrap(), v1);
}

#[test]
fn a_string_port_becomes_an_integer_where_the_version_types_it() {
    let v3 = json!({"apiVersion": "access.smi-spec.io/v1alpha3", "kind": "TrafficTarget",
        "metadata": meta(), "spec": {
        "destination": {"kind": "ServiceAccount", "name": "b", "port": "9091"},
        "rules": [], "sources": []}});
    let v2 = convert(&v3, "access.smi-spec.io/v1alpha2").unwrap();
    assert_eq!(v2["spec"]["destination"]["port"], 9091);
    let again = convert(&v3, "access.smi-spec.io/v1alpha3").unwrap();
    assert_eq!(again, v3, "v1alpha3 keeps what was written");
}

#[test]
fn route_group_layouts_per_version() {
    // The conformance suite's v1alpha4 layout: matches at the top level,
    // headers as a list.
    let written = json!({"apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "HTTPRouteGroup",
        "metadata": meta(), "matches": [{"name": "m", "pathRegex": "/metrics",
            "headers": [{"x-tenant": "a"}, {"user-agent": ".*"}]}]});
    let v4 = convert(&written, "specs.smi-spec.io/v1alpha4").unwrap();
    assert_eq!(
        v4["spec"]["matches"][0]["headers"],
        json!({"x-tenant": "a", "user-agent": ".*"})
    );
    assert!(v4.get("matches").is_none());
    let v3 = convert(&v4, "specs.smi-spec.io/v1alpha3").unwrap();
    assert!(v3["spec"]["matches"][0]["headers"].is_array());
    let v2 = convert(&v4, "specs.smi-spec.io/v1alpha2").unwrap();
    assert!(v2.get("spec").is_none());
    assert!(v2["matches"][0]["headers"].is_array());
}

#[test]
fn a_header_list_a_map_cannot_hold_stays_a_list() {
    let v3 = json!({"apiVersion": "specs.smi-spec.io/v1alpha3", "kind": "HTTPRouteGroup",
        "metadata": meta(), "spec": {"matches": [{"name": "m",
            "headers": [{"x": "a"}, {"x": "b"}]}]}});
    let v4 = convert(&v3, "specs.smi-spec.io/v1alpha4").unwrap();
    assert_eq!(v4["spec"], v3["spec"]);
}

#[test]
fn unknown_fields_and_mixed_layouts_are_kept_as_written() {
    let mixed = json!({"apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "HTTPRouteGroup",
        "metadata": meta(), "spec": {"matches": []}, "matches": [{"name": "all"}]});
    let v1 = convert(&mixed, "specs.smi-spec.io/v1alpha1").unwrap();
    assert_eq!(v1["spec"], mixed["spec"]);
    assert_eq!(v1["matches"], mixed["matches"]);
    // An unknown field under spec keeps the object in its layout: moving
    // the known fields out would split it over two.
    let typo = json!({"apiVersion": "access.smi-spec.io/v1alpha3", "kind": "TrafficTarget",
        "metadata": meta(), "spec": {"destination": {"kind": "ServiceAccount", "name": "b"},
        "rules": [], "sources": [], "sourcez": []}});
    let v1 = convert(&typo, "access.smi-spec.io/v1alpha1").unwrap();
    assert_eq!(v1["spec"], typo["spec"]);
}

#[test]
fn refuses_what_is_not_served() {
    let ts = json!({"apiVersion": "split.smi-spec.io/v1alpha4", "kind": "TrafficSplit",
        "metadata": meta(), "spec": {}});
    for bad in [
        "split.smi-spec.io/v1alpha5",
        "split.smi-spec.io/v1",
        "specs.smi-spec.io/v1alpha1",
    ] {
        assert!(convert(&ts, bad).is_err(), "{bad}");
    }
    assert!(convert(&json!({"kind": "Pod"}), "v1").is_err());
    assert!(convert(&json!([]), "split.smi-spec.io/v1alpha1").is_err());
}
