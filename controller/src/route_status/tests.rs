use super::*;
use serde_json::json;
use weft_k8s_api::gateway::refs::ParentReference;
use weft_k8s_api::gateway::status::RouteParentStatus;

#[test]
fn the_patch_replaces_the_list_and_is_guarded_by_the_version() {
    let u = RouteStatusUpdate {
        kind: Kind::HttpRoute,
        namespace: "shop".into(),
        name: "web".into(),
        resource_version: Some("42".into()),
        parents: vec![RouteParentStatus {
            parent_ref: ParentReference {
                group: Some(String::new()),
                kind: Some("Service".into()),
                name: "web".into(),
                ..Default::default()
            },
            controller_name: "weft.io/gateway-controller".into(),
            conditions: Vec::new(),
        }],
    };
    assert_eq!(
        patch(&u),
        json!({
            "metadata": {"resourceVersion": "42"},
            "status": {"parents": [{
                "parentRef": {"group": "", "kind": "Service", "name": "web"},
                "controllerName": "weft.io/gateway-controller",
                "conditions": [],
            }]},
        })
    );
}
