use super::*;
use crate::decode::{Lenient, from_dynamic};
use kube::Resource as _;
use kube::api::DynamicObject;
use serde_json::{Value, json};

fn yaml(s: &str) -> Value {
    serde_yaml::from_str(s).unwrap()
}

#[test]
fn an_httproute_reads_with_fields_weft_does_not_know() {
    let r = HTTPRoute::decode(&yaml(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: shop, generation: 3}
spec:
  hostnames: [web.example]
  useDefaultGateways: None
  somethingFromTheFuture: {a: 1}
  parentRefs:
  - {group: "", kind: Service, name: web, port: 80}
  - {name: gw, sectionName: http}
  rules:
  - name: canary
    matches:
    - path: {type: PathPrefix, value: /api}
      method: GET
      headers: [{name: X-Beta, value: "1"}]
      queryParams: [{type: RegularExpression, name: v, value: "[0-9]+"}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {set: [{name: A, value: b}], remove: [C]}
    - type: CORS
      cors: {allowOrigins: ["*"]}
    - type: SomethingNew
      somethingNew: {x: y}
    backendRefs:
    - {name: web-v2, port: 8080, weight: 10, filters: [{type: RequestMirror, requestMirror: {backendRef: {name: shadow, port: 80}, fraction: {numerator: 1}}}]}
    - {group: example.com, kind: Bucket, name: b}
    timeouts: {request: 10s, backendRequest: 500ms}
    retry: {attempts: 2, codes: [503], backoff: 100ms}
    sessionPersistence: {type: Cookie}
status:
  parents:
  - parentRef: {group: "", kind: Service, name: web}
    controllerName: example.net/other
    conditions:
    - {type: Accepted, status: "True", reason: Accepted, message: "", lastTransitionTime: "2024-01-01T00:00:00Z"}
"#,
    ))
    .unwrap();
    assert_eq!(r.metadata.generation, Some(3));
    let p = &r.spec.parent_refs[0];
    assert_eq!(
        (p.group.as_deref(), p.kind.as_deref(), p.port),
        (Some(""), Some("Service"), Some(80))
    );
    assert_eq!(r.spec.parent_refs[1].group, None, "absent stays absent");
    let rule = &r.spec.rules[0];
    assert_eq!(rule.name.as_deref(), Some("canary"));
    let m = &rule.matches[0];
    assert_eq!(m.path.as_ref().unwrap().value.as_deref(), Some("/api"));
    assert_eq!(m.method.as_deref(), Some("GET"));
    assert_eq!(m.headers[0].type_, None);
    assert_eq!(
        m.query_params[0].type_.as_deref(),
        Some("RegularExpression")
    );
    let kinds: Vec<&str> = rule.filters.iter().map(|f| f.type_.as_str()).collect();
    assert_eq!(kinds, ["RequestHeaderModifier", "CORS", "SomethingNew"]);
    let b = &rule.backend_refs[0];
    assert_eq!(
        (b.reference.name.as_str(), b.reference.port, b.weight),
        ("web-v2", Some(8080), Some(10))
    );
    let mirror = b.filters[0].request_mirror.as_ref().unwrap();
    assert_eq!(mirror.fraction.as_ref().unwrap().numerator, 1);
    assert_eq!(
        rule.backend_refs[1].reference.kind.as_deref(),
        Some("Bucket")
    );
    assert_eq!(
        rule.timeouts.as_ref().unwrap().backend_request.as_deref(),
        Some("500ms")
    );
    assert_eq!(rule.retry.as_ref().unwrap().codes, [503]);
    let status = r.status.unwrap();
    assert_eq!(status.parents[0].controller_name, "example.net/other");
    assert_eq!(status.parents[0].conditions[0].reason, "Accepted");
}

#[test]
fn a_grpcroute_and_a_reference_grant_read() {
    let g = GRPCRoute::decode(&json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "GRPCRoute",
        "metadata": {"name": "greet", "namespace": "shop"},
        "spec": {"parentRefs": [{"group": "", "kind": "Service", "name": "greeter"}],
            "rules": [{"matches": [{"method": {"service": "hello.Greeter", "method": "Hi"},
                                    "headers": [{"name": "x-v", "value": "2"}]}],
                       "backendRefs": [{"name": "greeter-v2", "port": 50051}]}]}
    }))
    .unwrap();
    let m = &g.spec.rules[0].matches[0];
    assert_eq!(
        m.method.as_ref().unwrap().service.as_deref(),
        Some("hello.Greeter")
    );
    assert_eq!(m.headers[0].name, "x-v");

    let rg = ReferenceGrant::decode(&json!({
        "apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant",
        "metadata": {"name": "from-shop", "namespace": "billing"},
        "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "shop"}],
                 "to": [{"group": "", "kind": "Service"}]}
    }))
    .unwrap();
    assert_eq!(rg.spec.from[0].namespace, "shop");
    assert_eq!(rg.spec.to[0].name, None);
}

#[test]
fn a_route_without_a_spec_reads_as_one_that_does_nothing() {
    let g = GRPCRoute::decode(
        &json!({"kind": "GRPCRoute", "metadata": {"name": "x", "namespace": "n"}}),
    )
    .unwrap();
    assert!(g.spec.rules.is_empty() && g.spec.parent_refs.is_empty());
}

#[test]
fn a_malformed_route_is_one_error_naming_its_field() {
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"rules": [{"backendRefs": [{"name": "x", "port": "eighty"}]}]}
    }))
    .unwrap();
    let e = from_dynamic::<HTTPRoute>(&obj).unwrap_err();
    assert_eq!(e.kind, "HTTPRoute");
    assert_eq!(e.object, "shop/web");
    assert!(e.field.starts_with("spec.rules[0].backendRefs[0]"), "{e}");

    let wrong = json!({"kind": "GRPCRoute", "metadata": {"name": "g", "namespace": "n"}});
    assert_eq!(HTTPRoute::decode(&wrong).unwrap_err().field, "kind");
}

#[test]
fn the_kinds_are_read_at_the_versions_every_release_serves() {
    assert_eq!(HTTPRoute::api_version(&()), "gateway.networking.k8s.io/v1");
    assert_eq!(HTTPRoute::plural(&()), "httproutes");
    assert_eq!(GRPCRoute::api_version(&()), "gateway.networking.k8s.io/v1");
    assert_eq!(GRPCRoute::plural(&()), "grpcroutes");
    assert_eq!(
        ReferenceGrant::api_version(&()),
        format!("{GROUP}/{GRANT_VERSION}")
    );
    assert_eq!(ReferenceGrant::plural(&()), "referencegrants");
}

#[test]
fn crdgen_never_emits_gateway_api_crds() {
    for crd in crate::crds::all() {
        assert_ne!(crd.spec.group, GROUP, "{:?}", crd.metadata.name);
    }
}
