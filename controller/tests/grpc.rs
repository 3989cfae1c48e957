//! The controller's gRPC servers over real mTLS on loopback, fed by a real
//! index: what a proxy sees first and after a change, who may watch what,
//! and that nothing answers before the initial sync.

use k8s_openapi::api::{
    core::v1::{Namespace, Pod, Service},
    discovery::v1::EndpointSlice,
};
use serde_json::json;
use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio_stream::StreamExt as _;
use tonic::{Code, transport::Channel};
use weft_api::{
    discovery::{
        DiscoveryRequest, discovery_client::DiscoveryClient, discovery_request,
        discovery_update::Kind as Update,
    },
    policy::{InboundPolicyRequest, authorization, inbound_policy_client::InboundPolicyClient},
};
use weft_controller::{
    grpc::{Metrics, Server},
    index::{Config, Index, Kind, Resource, SharedIndex},
    sync::SyncTracker,
};
use weft_k8s_api::{access::TrafficTarget, specs::TCPRoute};
use weft_runtime::{grpc::ChannelConfig, readiness::Readiness, shutdown};
use weft_tls::{
    ClientAuth, CredStore, MeshTls, SpiffeId,
    test_util::{TestCa, Validity},
};

/// Generous: these are loopback round trips.
const WAIT: Duration = Duration::from_secs(10);

fn id(sa: &str) -> SpiffeId {
    format!("spiffe://cluster.local/ns/shop/sa/{sa}")
        .parse()
        .unwrap()
}

fn controller_id() -> SpiffeId {
    "spiffe://cluster.local/ns/weft-system/sa/weft-controller"
        .parse()
        .unwrap()
}

fn from<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).unwrap()
}

fn meshed_pod(name: &str, sa: &str, ip: &str) -> Resource {
    Resource::Pod(from::<Pod>(json!({
        "metadata": {"name": name, "namespace": "shop", "uid": format!("uid-{name}")},
        "spec": {
            "serviceAccountName": sa,
            "initContainers": [{"name": "weft-proxy", "image": "weft/proxy", "restartPolicy": "Always"}],
            "containers": [{"name": "app", "image": "app", "ports": [{"containerPort": 8080}]}]
        },
        "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}
    })))
}

fn api_slice(ips: &[(&str, &str)]) -> Resource {
    let endpoints: Vec<_> = ips
        .iter()
        .map(|(ip, pod)| {
            json!({"addresses": [ip], "conditions": {"ready": true},
                   "targetRef": {"kind": "Pod", "name": pod, "namespace": "shop"}})
        })
        .collect();
    Resource::EndpointSlice(from::<EndpointSlice>(json!({
        "metadata": {"name": "api-1", "namespace": "shop",
                     "labels": {"kubernetes.io/service-name": "api"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": endpoints
    })))
}

fn index() -> SharedIndex {
    let mut ix = Index::new(Config::new("cluster.local".parse().unwrap()));
    ix.apply(Resource::Namespace(from::<Namespace>(json!({
        "metadata": {"name": "shop", "annotations": {"weft.io/inject": "enabled"}}
    }))));
    ix.apply(meshed_pod("web-0", "web", "10.1.0.5"));
    ix.apply(meshed_pod("api-0", "api", "10.1.0.6"));
    ix.apply(Resource::Service(from::<Service>(json!({
        "metadata": {"name": "api", "namespace": "shop"},
        "spec": {"clusterIP": "10.96.0.10", "selector": {"app": "api"},
                 "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
    }))));
    ix.apply(api_slice(&[("10.1.0.6", "api-0")]));
    Arc::new(Mutex::new(ix))
}

fn tcp_target() -> [Resource; 2] {
    [
        Resource::TcpRoute(from::<TCPRoute>(json!({
            "apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "TCPRoute",
            "metadata": {"name": "app-port", "namespace": "shop"},
            "spec": {"matches": {"ports": [8080]}}
        }))),
        Resource::TrafficTarget(from::<TrafficTarget>(json!({
            "apiVersion": "access.smi-spec.io/v1alpha3", "kind": "TrafficTarget",
            "metadata": {"name": "api-to-web", "namespace": "shop"},
            "spec": {
                "destination": {"kind": "ServiceAccount", "name": "web"},
                "sources": [{"kind": "ServiceAccount", "name": "api"}],
                "rules": [{"kind": "TCPRoute", "name": "app-port"}]
            }
        }))),
    ]
}

struct Harness {
    ca: TestCa,
    addr: SocketAddr,
    stop: shutdown::Trigger,
    server: tokio::task::JoinHandle<()>,
}

impl Harness {
    /// A server on a free loopback port, serving after `sync`.
    async fn start(index: SharedIndex, sync: SyncTracker, queue: usize) -> Self {
        Self::start_capped(index, sync, queue, 1000).await
    }

    /// [`Harness::start`] with at most `cap` streams per identity.
    async fn start_capped(index: SharedIndex, sync: SyncTracker, queue: usize, cap: usize) -> Self {
        let ca = TestCa::new();
        let creds = CredStore::new();
        creds.publish(ca.credentials(
            &controller_id(),
            Validity::starting_now(Duration::from_secs(3600)),
        ));
        let tls = MeshTls::new("cluster.local".parse().unwrap(), ca.anchor_store(), creds)
            .control_plane_server_config(ClientAuth::Required);
        // Find a free port, then let the server bind it only after sync.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let (stop, signal) = shutdown::channel();
        let server = tokio::spawn(async move {
            let Some(synced) = sync.wait_or_stop(signal.clone()).await else {
                return;
            };
            Server {
                index,
                tls,
                queue,
                max_streams_per_identity: cap,
                metrics: Metrics::default(),
            }
            .serve_after_sync(addr, synced, Readiness::new().register("serving"), signal)
            .await
            .unwrap();
        });
        Self {
            ca,
            addr,
            stop,
            server,
        }
    }

    /// A channel as the proxy running as `sa` opens it.
    fn channel(&self, sa: &str) -> Channel {
        let creds = CredStore::new();
        creds.publish(
            self.ca
                .credentials(&id(sa), Validity::starting_now(Duration::from_secs(3600))),
        );
        let tls = MeshTls::new(
            "cluster.local".parse().unwrap(),
            self.ca.anchor_store(),
            creds,
        )
        .control_plane_client_config(&controller_id());
        weft_tls::tls_channel(&self.addr.to_string(), tls, &ChannelConfig::default()).unwrap()
    }

    async fn stop(self) {
        self.stop.trigger();
        tokio::time::timeout(WAIT, self.server)
            .await
            .expect("the server stops within the grace")
            .unwrap();
    }
}

fn watch_req(pod: &str) -> InboundPolicyRequest {
    InboundPolicyRequest {
        namespace: "shop".into(),
        pod: pod.into(),
        port: 8080,
    }
}

fn synced() -> SyncTracker {
    SyncTracker::new([])
}

#[tokio::test]
async fn inbound_policy_is_sent_whole_then_again_on_each_change() {
    let ix = index();
    let h = Harness::start(ix.clone(), synced(), 64).await;
    let mut client = InboundPolicyClient::new(h.channel("web"));
    let mut stream = client.watch(watch_req("web-0")).await.unwrap().into_inner();
    let first = tokio::time::timeout(WAIT, stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(!first.targeted, "no TrafficTarget names web yet: {first:?}");

    let t0 = tokio::time::Instant::now();
    for r in tcp_target() {
        ix.lock().unwrap().apply(r);
    }
    let next = tokio::time::timeout(WAIT, async {
        loop {
            let u = stream.next().await.unwrap().unwrap();
            if u.targeted {
                return u;
            }
        }
    })
    .await
    .expect("the TrafficTarget reaches the stream");
    eprintln!("policy change reached the stream in {:?}", t0.elapsed());
    let granted: Vec<_> = next
        .authorizations
        .iter()
        .filter(|a| matches!(a.rules, Some(authorization::Rules::AllTraffic(_))))
        .flat_map(|a| a.clients.as_ref().unwrap().identities.clone())
        .collect();
    assert_eq!(granted, vec![id("api").to_string()]);
    h.stop().await;
}

#[tokio::test]
async fn a_proxy_may_not_watch_another_identity_s_pod() {
    let h = Harness::start(index(), synced(), 64).await;
    let mut client = InboundPolicyClient::new(h.channel("web"));
    let err = client.watch(watch_req("api-0")).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let err = client.watch(watch_req("nobody")).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    h.stop().await;
}

#[tokio::test]
async fn a_client_without_a_mesh_certificate_gets_nothing() {
    let h = Harness::start(index(), synced(), 64).await;
    let tls = weft_tls::identity_client_config(&h.ca.anchor_store(), &controller_id());
    let channel =
        weft_tls::tls_channel(&h.addr.to_string(), tls, &ChannelConfig::default()).unwrap();
    let err = InboundPolicyClient::new(channel)
        .watch(watch_req("web-0"))
        .await
        .unwrap_err();
    assert_ne!(err.code(), Code::Ok);
    h.stop().await;
}

#[tokio::test]
async fn discovery_sends_a_snapshot_then_endpoint_diffs() {
    let ix = index();
    let h = Harness::start(ix.clone(), synced(), 64).await;
    let mut client = DiscoveryClient::new(h.channel("web"));
    let mut stream = client
        .watch(DiscoveryRequest {
            // A short name: expanded with the caller's proven namespace.
            target: Some(discovery_request::Target::Authority("api:80".into())),
            source_namespace: "somewhere-else".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = tokio::time::timeout(WAIT, stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let Some(Update::Meshed(m)) = first.kind else {
        panic!("{first:?}")
    };
    assert_eq!(m.service, "api.shop.svc.cluster.local");
    let root = m.root.unwrap();
    assert_eq!(root.endpoints.len(), 1);
    assert_eq!(root.endpoints[0].address, "10.1.0.6:8080");
    assert_eq!(root.endpoints[0].identity, id("api").to_string());

    {
        let mut ix = ix.lock().unwrap();
        ix.apply(meshed_pod("api-1", "api", "10.1.0.7"));
        ix.apply(api_slice(&[("10.1.0.6", "api-0"), ("10.1.0.7", "api-1")]));
    }
    let next = tokio::time::timeout(WAIT, stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let Some(Update::Added(added)) = next.kind else {
        panic!("{next:?}")
    };
    assert_eq!(added.backend, "api.shop.svc.cluster.local");
    assert_eq!(added.endpoints.len(), 1);
    assert_eq!(added.endpoints[0].address, "10.1.0.7:8080");

    // By ClusterIP, the same Service.
    let mut by_ip = client
        .watch(DiscoveryRequest {
            target: Some(discovery_request::Target::Address("10.96.0.10:80".into())),
            source_namespace: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let u = by_ip.next().await.unwrap().unwrap();
    assert!(
        matches!(u.kind, Some(Update::Meshed(ref m)) if m.service == "api.shop.svc.cluster.local"),
        "{u:?}"
    );
    h.stop().await;
}

#[tokio::test]
async fn open_streams_end_cleanly_on_shutdown() {
    let h = Harness::start(index(), synced(), 64).await;
    let mut client = InboundPolicyClient::new(h.channel("web"));
    let mut stream = client.watch(watch_req("web-0")).await.unwrap().into_inner();
    stream.next().await.unwrap().unwrap();
    h.stop.trigger();
    let end = tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("the stream ends");
    assert!(end.is_none(), "a clean end, not an error: {end:?}");
    tokio::time::timeout(WAIT, h.server).await.unwrap().unwrap();
}

#[tokio::test]
async fn nothing_answers_before_the_initial_sync() {
    let sync = SyncTracker::new([Kind::Pod, Kind::TrafficTarget]);
    let h = Harness::start(index(), sync.clone(), 64).await;
    let mut client = InboundPolicyClient::new(h.channel("web"));
    sync.done(Kind::Pod);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let err = client.watch(watch_req("web-0")).await.unwrap_err();
    assert_eq!(
        err.code(),
        Code::Unavailable,
        "nothing listens yet: {err:?}"
    );

    sync.done(Kind::TrafficTarget);
    let first = tokio::time::timeout(WAIT, async {
        loop {
            match client.watch(watch_req("web-0")).await {
                Ok(s) => return s.into_inner().next().await.unwrap().unwrap(),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
    .await
    .expect("an answer once synced");
    assert!(!first.targeted);
    h.stop().await;
}

#[tokio::test]
async fn one_identity_holds_at_most_its_cap_of_streams() {
    let h = Harness::start_capped(index(), synced(), 64, 3).await;
    let mut web = InboundPolicyClient::new(h.channel("web"));
    let mut held = Vec::new();
    for i in 0..3 {
        let s = web.watch(watch_req("web-0")).await;
        held.push(s.unwrap_or_else(|e| panic!("stream {i}: {e}")).into_inner());
    }
    // Discovery streams count too: the cap is on the identity.
    let err = DiscoveryClient::new(h.channel("web"))
        .watch(DiscoveryRequest {
            target: Some(discovery_request::Target::Authority("api:80".into())),
            source_namespace: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err}");
    // Another identity is not affected.
    DiscoveryClient::new(h.channel("api"))
        .watch(DiscoveryRequest {
            target: Some(discovery_request::Target::Authority("api:80".into())),
            source_namespace: String::new(),
        })
        .await
        .unwrap();
    // A stream that ends gives its place back.
    held.pop();
    let mut again = None;
    for _ in 0..50 {
        match web.watch(watch_req("web-0")).await {
            Ok(s) => {
                again = Some(s);
                break;
            }
            Err(e) if e.code() == tonic::Code::ResourceExhausted => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(
        again.is_some(),
        "the place of the ended stream was not given back"
    );
    h.stop().await;
}
