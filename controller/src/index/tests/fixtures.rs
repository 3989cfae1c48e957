//! Builders for the objects the tests feed the index. Defaults are the
//! common case: a meshed, running pod; a Service with a cluster IP; a
//! TrafficTarget in the destination's namespace.

use crate::index::Resource;
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, Namespace, ObjectReference, Pod, PodIP, PodSpec, PodStatus, Probe,
    Service, ServicePort, ServiceSpec,
};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;
use weft_api::contract::pod::PROXY_CONTAINER;
use weft_k8s_api::access::{
    IdentityBindingSubject, TrafficTarget, TrafficTargetRule, TrafficTargetSpec,
};
use weft_k8s_api::specs::{
    HTTPRouteGroup, HTTPRouteGroupSpec, HttpMatch, PortMatch, TCPRoute, TCPRouteSpec, UDPRoute,
    UDPRouteSpec,
};
use weft_k8s_api::split::{
    TrafficSplit, TrafficSplitBackend, TrafficSplitSpec, TypedLocalObjectReference,
};

fn meta(ns: &str, name: &str) -> ObjectMeta {
    ObjectMeta {
        namespace: (!ns.is_empty()).then(|| ns.into()),
        name: Some(name.into()),
        ..Default::default()
    }
}

fn annotate(m: &mut ObjectMeta, k: &str, v: &str) {
    m.annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(k.into(), v.into());
}

// ---- namespaces ----

pub struct NsB(Namespace);

pub fn namespace(name: &str) -> NsB {
    NsB(Namespace {
        metadata: meta("", name),
        ..Default::default()
    })
}

impl NsB {
    pub fn ann(mut self, k: &str, v: &str) -> Self {
        annotate(&mut self.0.metadata, k, v);
        self
    }
}

impl From<NsB> for Resource {
    fn from(b: NsB) -> Self {
        Resource::Namespace(b.0)
    }
}

// ---- pods ----

pub struct PodB(pub Pod);

/// A running meshed pod, ServiceAccount `default`, container `app` with
/// port `http` 8080, no IP.
pub fn pod(ns: &str, name: &str) -> PodB {
    let app = Container {
        name: "app".into(),
        ports: Some(vec![ContainerPort {
            name: Some("http".into()),
            container_port: 8080,
            ..Default::default()
        }]),
        ..Default::default()
    };
    let proxy = Container {
        name: PROXY_CONTAINER.into(),
        restart_policy: Some("Always".into()),
        ..Default::default()
    };
    PodB(Pod {
        metadata: meta(ns, name),
        spec: Some(PodSpec {
            init_containers: Some(vec![proxy]),
            containers: vec![app],
            ..Default::default()
        }),
        status: Some(PodStatus {
            phase: Some("Running".into()),
            ..Default::default()
        }),
    })
}

impl PodB {
    fn spec(&mut self) -> &mut PodSpec {
        self.0.spec.as_mut().unwrap()
    }

    pub fn sa(mut self, sa: &str) -> Self {
        self.spec().service_account_name = Some(sa.into());
        self
    }

    pub fn ip(mut self, ip: &str) -> Self {
        let status = self.0.status.as_mut().unwrap();
        status.pod_ip = Some(ip.into());
        status.pod_ips = Some(vec![PodIP { ip: ip.into() }]);
        self
    }

    /// weft-init as the injector writes it for `skip-inbound-ports: ports`.
    pub fn skip_inbound(mut self, ports: &str) -> Self {
        let init = Container {
            name: weft_api::contract::pod::INIT_CONTAINER.into(),
            args: Some(vec![
                "init".into(),
                format!("{}{ports}", weft_api::contract::pod::SKIP_INBOUND_PORTS_ARG),
            ]),
            ..Default::default()
        };
        self.spec()
            .init_containers
            .get_or_insert_with(Vec::new)
            .insert(0, init);
        self
    }

    pub fn proxy_image(mut self, image: &str) -> Self {
        for c in self.spec().init_containers.iter_mut().flatten() {
            if c.name == PROXY_CONTAINER {
                c.image = Some(image.into());
            }
        }
        self
    }

    pub fn unmeshed(mut self) -> Self {
        self.spec().init_containers = None;
        self
    }

    pub fn host_network(mut self) -> Self {
        self.spec().host_network = Some(true);
        self
    }

    pub fn phase(mut self, phase: &str) -> Self {
        self.0.status.as_mut().unwrap().phase = Some(phase.into());
        self
    }

    pub fn ann(mut self, k: &str, v: &str) -> Self {
        annotate(&mut self.0.metadata, k, v);
        self
    }

    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.0
            .metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(k.into(), v.into());
        self
    }

    /// Adds a TCP port (unnamed when `name` is empty) to container `app`.
    pub fn container_port(mut self, name: &str, port: i32) -> Self {
        let c = &mut self.spec().containers[0];
        c.ports.get_or_insert_with(Vec::new).push(ContainerPort {
            name: (!name.is_empty()).then(|| name.into()),
            container_port: port,
            ..Default::default()
        });
        self
    }

    /// Sets a probe (`liveness`, `readiness`, `startup`) of container `app`.
    pub fn probe(mut self, kind: &str, p: Probe) -> Self {
        let c = &mut self.spec().containers[0];
        match kind {
            "liveness" => c.liveness_probe = Some(p),
            "readiness" => c.readiness_probe = Some(p),
            "startup" => c.startup_probe = Some(p),
            other => panic!("no probe kind {other}"),
        }
        self
    }

    pub fn build(self) -> Pod {
        self.0
    }
}

impl From<PodB> for Resource {
    fn from(b: PodB) -> Self {
        Resource::Pod(b.0)
    }
}

// ---- services and slices ----

pub struct SvcB(Service);

/// A ClusterIP Service without ports.
pub fn service(ns: &str, name: &str, cluster_ip: &str) -> SvcB {
    SvcB(Service {
        metadata: meta(ns, name),
        spec: Some(ServiceSpec {
            cluster_ip: Some(cluster_ip.into()),
            cluster_ips: Some(vec![cluster_ip.into()]),
            ..Default::default()
        }),
        ..Default::default()
    })
}

impl SvcB {
    fn spec(&mut self) -> &mut ServiceSpec {
        self.0.spec.as_mut().unwrap()
    }

    pub fn port(mut self, name: &str, port: i32, target: i32) -> Self {
        self.spec()
            .ports
            .get_or_insert_with(Vec::new)
            .push(ServicePort {
                name: (!name.is_empty()).then(|| name.into()),
                port,
                target_port: Some(IntOrString::Int(target)),
                ..Default::default()
            });
        self
    }

    /// A port whose targetPort is a container port's name.
    pub fn port_to_name(mut self, name: &str, port: i32, target: &str) -> Self {
        self.spec()
            .ports
            .get_or_insert_with(Vec::new)
            .push(ServicePort {
                name: (!name.is_empty()).then(|| name.into()),
                port,
                target_port: Some(IntOrString::String(target.into())),
                ..Default::default()
            });
        self
    }

    /// Adds `k: v` to the selector.
    pub fn selector(mut self, k: &str, v: &str) -> Self {
        self.spec()
            .selector
            .get_or_insert_with(BTreeMap::new)
            .insert(k.into(), v.into());
        self
    }

    /// Sets the protocol (`TCP`, `UDP`, `SCTP`) of the last port added.
    pub fn protocol(mut self, p: &str) -> Self {
        let ports = self.spec().ports.as_mut().unwrap();
        ports.last_mut().unwrap().protocol = Some(p.into());
        self
    }

    /// Sets the appProtocol of the last port added.
    pub fn app_protocol(mut self, p: &str) -> Self {
        let ports = self.spec().ports.as_mut().unwrap();
        ports.last_mut().unwrap().app_protocol = Some(p.into());
        self
    }

    pub fn external_name(mut self, host: &str) -> Self {
        let s = self.spec();
        s.type_ = Some("ExternalName".into());
        s.external_name = Some(host.into());
        s.cluster_ip = None;
        s.cluster_ips = None;
        self
    }

    pub fn ann(mut self, k: &str, v: &str) -> Self {
        annotate(&mut self.0.metadata, k, v);
        self
    }
}

impl From<SvcB> for Resource {
    fn from(b: SvcB) -> Self {
        Resource::Service(b.0)
    }
}

pub struct SliceB(EndpointSlice);

/// An IPv4 EndpointSlice of Service `svc`, without ports or endpoints.
pub fn slice(ns: &str, name: &str, svc: &str) -> SliceB {
    let mut m = meta(ns, name);
    m.labels = Some(BTreeMap::from([(
        crate::index::store::SERVICE_NAME_LABEL.to_string(),
        svc.to_string(),
    )]));
    SliceB(EndpointSlice {
        metadata: m,
        address_type: "IPv4".into(),
        endpoints: Vec::new(),
        ports: None,
    })
}

impl SliceB {
    pub fn port(mut self, name: &str, port: i32) -> Self {
        self.0
            .ports
            .get_or_insert_with(Vec::new)
            .push(EndpointPort {
                name: (!name.is_empty()).then(|| name.into()),
                port: Some(port),
                ..Default::default()
            });
        self
    }

    /// An endpoint at `ip` for pod `pod` (none when empty); `ready: None`
    /// leaves the condition out.
    pub fn endpoint(mut self, ip: &str, pod: &str, ready: Option<bool>) -> Self {
        let ns = self.0.metadata.namespace.clone();
        self.0.endpoints.push(Endpoint {
            addresses: vec![ip.into()],
            conditions: Some(EndpointConditions {
                ready,
                ..Default::default()
            }),
            target_ref: (!pod.is_empty()).then(|| ObjectReference {
                kind: Some("Pod".into()),
                namespace: ns,
                name: Some(pod.into()),
                ..Default::default()
            }),
            ..Default::default()
        });
        self
    }

    pub fn ready(self, ip: &str, pod: &str) -> Self {
        self.endpoint(ip, pod, Some(true))
    }
}

impl From<SliceB> for Resource {
    fn from(b: SliceB) -> Self {
        Resource::EndpointSlice(b.0)
    }
}

// ---- SMI ----

pub struct TtB(TrafficTarget);

/// A TrafficTarget with destination ServiceAccount `dest`, no sources and
/// no rules.
pub fn tt(ns: &str, name: &str, dest: &str) -> TtB {
    TtB(TrafficTarget {
        metadata: meta(ns, name),
        spec: TrafficTargetSpec {
            destination: subject("ServiceAccount", dest, None),
            sources: Vec::new(),
            rules: Vec::new(),
        },
    })
}

fn subject(kind: &str, name: &str, ns: Option<&str>) -> IdentityBindingSubject {
    IdentityBindingSubject {
        kind: kind.into(),
        name: name.into(),
        namespace: ns.map(Into::into),
        port: None,
    }
}

impl TtB {
    pub fn dest_ns(mut self, ns: &str) -> Self {
        self.0.spec.destination.namespace = Some(ns.into());
        self
    }

    pub fn dest_kind(mut self, kind: &str) -> Self {
        self.0.spec.destination.kind = kind.into();
        self
    }

    pub fn dest_port(mut self, port: u16) -> Self {
        self.0.spec.destination.port = Some(port);
        self
    }

    /// A ServiceAccount source (`ns: None` = the TrafficTarget's namespace).
    pub fn source(mut self, sa: &str, ns: Option<&str>) -> Self {
        self.0.spec.sources.push(subject("ServiceAccount", sa, ns));
        self
    }

    pub fn source_kind(mut self, kind: &str, name: &str) -> Self {
        self.0.spec.sources.push(subject(kind, name, None));
        self
    }

    pub fn rule(mut self, kind: &str, name: &str, matches: &[&str]) -> Self {
        self.0.spec.rules.push(TrafficTargetRule {
            kind: kind.into(),
            name: name.into(),
            matches: matches.iter().map(|m| m.to_string()).collect(),
        });
        self
    }
}

impl From<TtB> for Resource {
    fn from(b: TtB) -> Self {
        Resource::TrafficTarget(b.0)
    }
}

pub struct GroupB(HTTPRouteGroup);

pub fn group(ns: &str, name: &str) -> GroupB {
    GroupB(HTTPRouteGroup {
        metadata: meta(ns, name),
        spec: HTTPRouteGroupSpec::default(),
    })
}

impl GroupB {
    pub fn m(
        mut self,
        name: &str,
        path: Option<&str>,
        methods: &[&str],
        headers: &[(&str, &str)],
    ) -> Self {
        self.0.spec.matches.push(HttpMatch {
            name: name.into(),
            methods: methods.iter().map(|m| m.to_string()).collect(),
            path_regex: path.map(Into::into),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        });
        self
    }
}

impl From<GroupB> for Resource {
    fn from(b: GroupB) -> Self {
        Resource::HttpRouteGroup(b.0)
    }
}

fn port_match(name: Option<&str>, ports: &[u16]) -> Option<PortMatch> {
    Some(PortMatch {
        name: name.map(Into::into),
        ports: ports.to_vec(),
    })
}

pub fn tcp_route(ns: &str, name: &str, ports: &[u16]) -> Resource {
    Resource::TcpRoute(TCPRoute {
        metadata: meta(ns, name),
        spec: TCPRouteSpec {
            matches: port_match(None, ports),
        },
    })
}

pub fn tcp_route_named(ns: &str, name: &str, match_name: &str, ports: &[u16]) -> Resource {
    Resource::TcpRoute(TCPRoute {
        metadata: meta(ns, name),
        spec: TCPRouteSpec {
            matches: port_match(Some(match_name), ports),
        },
    })
}

pub fn udp_route(ns: &str, name: &str, ports: &[u16]) -> Resource {
    Resource::UdpRoute(UDPRoute {
        metadata: meta(ns, name),
        spec: UDPRouteSpec {
            matches: port_match(None, ports),
        },
    })
}

pub struct SplitB(TrafficSplit);

pub fn split(ns: &str, name: &str, root: &str) -> SplitB {
    SplitB(TrafficSplit {
        metadata: meta(ns, name),
        spec: TrafficSplitSpec {
            service: root.into(),
            backends: Vec::new(),
            matches: Vec::new(),
        },
    })
}

impl SplitB {
    pub fn backend(mut self, svc: &str, weight: u32) -> Self {
        self.0.spec.backends.push(TrafficSplitBackend {
            service: svc.into(),
            weight,
        });
        self
    }

    /// Created `secs` seconds after the epoch.
    pub fn created(mut self, secs: i64) -> Self {
        let t = k8s_openapi::jiff::Timestamp::from_second(secs).unwrap();
        self.0.metadata.creation_timestamp = Some(Time(t));
        self
    }

    pub fn matches(mut self, kind: &str, name: &str) -> Self {
        self.0.spec.matches.push(TypedLocalObjectReference {
            api_group: None,
            kind: kind.into(),
            name: name.into(),
        });
        self
    }
}

impl From<SplitB> for Resource {
    fn from(b: SplitB) -> Self {
        Resource::TrafficSplit(b.0)
    }
}

// ---- Gateway API ----

/// An HTTPRoute or GRPCRoute, written as the API's JSON.
pub struct RouteB {
    kind: &'static str,
    obj: serde_json::Value,
}

/// An HTTPRoute without parents or rules.
pub fn http_route(ns: &str, name: &str) -> RouteB {
    route_of("HTTPRoute", ns, name)
}

/// A GRPCRoute without parents or rules.
pub fn grpc_route(ns: &str, name: &str) -> RouteB {
    route_of("GRPCRoute", ns, name)
}

fn route_of(kind: &'static str, ns: &str, name: &str) -> RouteB {
    RouteB {
        kind,
        obj: serde_json::json!({
            "metadata": {"name": name, "namespace": ns},
            "spec": {"parentRefs": [], "rules": []}
        }),
    }
}

impl RouteB {
    /// A Service parent in the route's namespace, on `port` or every port.
    pub fn parent(self, svc: &str, port: Option<i32>) -> Self {
        let mut p = serde_json::json!({"group": "", "kind": "Service", "name": svc});
        if let Some(port) = port {
            p["port"] = port.into();
        }
        self.parent_ref(p)
    }

    /// A Service parent in namespace `ns` (a consumer route's).
    pub fn parent_in(self, ns: &str, svc: &str) -> Self {
        self.parent_ref(
            serde_json::json!({"group": "", "kind": "Service", "namespace": ns, "name": svc}),
        )
    }

    /// Any parentRef, as written.
    pub fn parent_ref(mut self, p: serde_json::Value) -> Self {
        self.obj["spec"]["parentRefs"]
            .as_array_mut()
            .unwrap()
            .push(p);
        self
    }

    /// A rule, as written.
    pub fn rule(mut self, r: serde_json::Value) -> Self {
        self.obj["spec"]["rules"].as_array_mut().unwrap().push(r);
        self
    }

    /// Created `secs` seconds after the epoch.
    pub fn created(mut self, secs: i64) -> Self {
        let t = k8s_openapi::jiff::Timestamp::from_second(secs).unwrap();
        self.obj["metadata"]["creationTimestamp"] = t.to_string().into();
        self
    }

    /// Sets a field of the object by JSON pointer (`/status`,
    /// `/metadata/generation`); its parent must exist.
    pub fn set(mut self, pointer: &str, v: serde_json::Value) -> Self {
        let (parent, field) = pointer.rsplit_once('/').unwrap();
        let parent = self.obj.pointer_mut(parent);
        let parent = parent.and_then(|p| p.as_object_mut());
        parent
            .unwrap_or_else(|| panic!("no object at {pointer}"))
            .insert(field.into(), v);
        self
    }
}

impl From<RouteB> for Resource {
    fn from(b: RouteB) -> Self {
        match b.kind {
            "HTTPRoute" => Resource::HttpRoute(serde_json::from_value(b.obj).unwrap()),
            _ => Resource::GrpcRoute(serde_json::from_value(b.obj).unwrap()),
        }
    }
}

/// A ReferenceGrant in `ns` letting `from_kind` routes in `from_ns`
/// reference Services of `ns` (`to_name`, or all).
pub fn grant(
    ns: &str,
    name: &str,
    from_kind: &str,
    from_ns: &str,
    to_name: Option<&str>,
) -> Resource {
    let mut to = serde_json::json!({"group": "", "kind": "Service"});
    if let Some(n) = to_name {
        to["name"] = n.into();
    }
    Resource::ReferenceGrant(
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "from": [{"group": "gateway.networking.k8s.io", "kind": from_kind, "namespace": from_ns}],
                "to": [to]
            }
        }))
        .unwrap(),
    )
}
