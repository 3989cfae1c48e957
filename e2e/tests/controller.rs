//! weft-controller's watches, index and gRPC servers against the real API
//! server: a proxy's inbound-policy stream changes after SMI objects are
//! applied, and a malformed object gets an Event and stalls nothing. (The
//! controller runs in this process with a test CA; the chart deploys it for
//! real.)

use k8s_openapi::api::core::v1::{Event, Namespace, Pod, ServiceAccount};
use kube::{
    Api, Client,
    api::{DeleteParams, DynamicObject, Patch, PatchParams, PostParams},
};
use serde_json::json;
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio_stream::StreamExt as _;
use weft_api::{
    contract::pod as contract_pod,
    policy::{InboundPolicyRequest, authorization, inbound_policy_client::InboundPolicyClient},
};
use weft_controller::{
    feedback::{self, Feedback, Refs},
    grpc::{Metrics, Server},
    index::{Config, Index},
    kinds::{self, read_resource},
    sync::SyncTracker,
    watches,
};
use weft_e2e::{CONVERGENCE, apply, client, event_on, eventually, with_temp_ns};
use weft_k8s_api::access;
use weft_runtime::{grpc::ChannelConfig, readiness::Readiness, shutdown};
use weft_tls::{
    ClientAuth, CredStore, MeshTls, SpiffeId,
    test_util::{TestCa, Validity},
};

/// The controller, in this process, against the cluster.
struct Controller {
    ca: TestCa,
    addr: std::net::SocketAddr,
    stop: shutdown::Trigger,
}

fn cp_id(sa: &str) -> SpiffeId {
    format!("spiffe://cluster.local/ns/weft-system/sa/{sa}")
        .parse()
        .unwrap()
}

async fn start_controller(client: &Client) -> anyhow::Result<Controller> {
    let ca = TestCa::new();

    let (stop, signal) = shutdown::channel();
    let index = Arc::new(Mutex::new(Index::new(Config::new(
        "cluster.local".parse()?,
    ))));
    let sources = kinds::sources(client);
    let sync = SyncTracker::new(sources.iter().map(|s| s.kind));
    let feedback = Feedback::start(Some(client.clone()), "e2e".into());
    let refs = Refs::default();
    watches::spawn_all(
        sources,
        &watches::Ctx {
            index: index.clone(),
            sync: sync.clone(),
            feedback: feedback.clone(),
            refs: refs.clone(),
            metrics: watches::Metrics::default(),
            stop: signal.clone(),
        },
    );
    tokio::spawn(feedback::report_findings(
        index.clone(),
        refs,
        feedback,
        Duration::from_millis(500),
        signal.clone(),
    ));
    let creds = CredStore::new();
    creds.publish(ca.credentials(
        &cp_id("weft-controller"),
        Validity::starting_now(Duration::from_secs(3600)),
    ));
    let tls = MeshTls::new("cluster.local".parse()?, ca.anchor_store(), creds)
        .control_plane_server_config(ClientAuth::Required);
    let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let t0 = tokio::time::Instant::now();
    let serve_sync = sync.clone();
    tokio::spawn(async move {
        let Some(synced) = serve_sync.wait_or_stop(signal.clone()).await else {
            return Ok(());
        };
        Server {
            index,
            tls,
            queue: 64,
            max_streams_per_identity: weft_controller::grpc::streams::DEFAULT_MAX_PER_IDENTITY,
            metrics: Metrics::default(),
        }
        .serve_after_sync(addr, synced, Readiness::new().register("serving"), signal)
        .await
    });
    tokio::time::timeout(CONVERGENCE, sync.wait())
        .await
        .map_err(|_| anyhow::anyhow!("watches not synced: {:?}", sync.pending()))?;
    eprintln!("controller synced after {:?}", t0.elapsed());
    Ok(Controller { ca, addr, stop })
}

impl Controller {
    fn policy_client(
        &self,
        ns: &str,
        sa: &str,
    ) -> anyhow::Result<InboundPolicyClient<tonic::transport::Channel>> {
        let creds = CredStore::new();
        let id: SpiffeId = format!("spiffe://cluster.local/ns/{ns}/sa/{sa}").parse()?;
        creds.publish(
            self.ca
                .credentials(&id, Validity::starting_now(Duration::from_secs(3600))),
        );
        let tls = MeshTls::new("cluster.local".parse()?, self.ca.anchor_store(), creds)
            .control_plane_client_config(&cp_id("weft-controller"));
        let channel =
            weft_tls::tls_channel(&self.addr.to_string(), tls, &ChannelConfig::default())?;
        Ok(InboundPolicyClient::new(channel))
    }
}

async fn meshed_namespace(client: &Client, ns: &str) -> anyhow::Result<()> {
    let patch = json!({"metadata": {"annotations": {"weft.io/inject": "enabled"}}});
    Api::<Namespace>::all(client.clone())
        .patch(ns, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    let sa: ServiceAccount = serde_json::from_value(json!({"metadata": {"name": "web"}}))?;
    Api::<ServiceAccount>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &sa)
        .await?;
    // A pod as the injector leaves it: the proxy is a native sidecar.
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "web-0"},
        "spec": {
            "serviceAccountName": "web",
            "initContainers": [{"name": contract_pod::PROXY_CONTAINER, "image": "weft/pause:e2e",
                                "imagePullPolicy": "Never", "restartPolicy": "Always"}],
            "containers": [{"name": "app", "image": "weft/pause:e2e", "imagePullPolicy": "Never",
                            "ports": [{"containerPort": 8080}]}]
        }
    }))?;
    Api::<Pod>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &pod)
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_traffic_target_applied_to_the_api_server_reaches_the_proxy_s_stream()
-> anyhow::Result<()> {
    let client = client().await?;
    let ctl = start_controller(&client).await?;
    let c = &ctl;
    let res = with_temp_ns(&client, |client, ns| async move {
        meshed_namespace(&client, &ns).await?;
        let policy = c.policy_client(&ns, "web")?;
        let req = InboundPolicyRequest {
            namespace: ns.clone(),
            pod: "web-0".into(),
            port: 8080,
        };
        // The pod reaches the controller through its watch.
        let mut stream = eventually("the pod is known to the controller", || {
            let (mut policy, req) = (policy.clone(), req.clone());
            async move { Ok(policy.watch(req).await.ok().map(|r| r.into_inner())) }
        })
        .await?;
        let first = stream.next().await.expect("a first policy")?;
        assert!(!first.targeted, "{first:?}");

        let t0 = tokio::time::Instant::now();
        apply(
            &client,
            &ns,
            json!({
                "apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "TCPRoute",
                "metadata": {"name": "app-port"}, "spec": {"matches": {"ports": [8080]}}
            }),
        )
        .await?;
        apply(
            &client,
            &ns,
            json!({
                "apiVersion": "access.smi-spec.io/v1alpha3", "kind": "TrafficTarget",
                "metadata": {"name": "api-to-web"},
                "spec": {"destination": {"kind": "ServiceAccount", "name": "web"},
                         "sources": [{"kind": "ServiceAccount", "name": "api"}],
                         "rules": [{"kind": "TCPRoute", "name": "app-port"}]}
            }),
        )
        .await?;
        let api_id = format!("spiffe://cluster.local/ns/{ns}/sa/api");
        let granted = tokio::time::timeout(CONVERGENCE, async {
            while let Some(u) = stream.next().await {
                let u = u?;
                let ok = u.targeted
                    && u.authorizations.iter().any(|a| {
                        matches!(a.rules, Some(authorization::Rules::AllTraffic(_)))
                            && a.clients
                                .as_ref()
                                .is_some_and(|c| c.identities.contains(&api_id))
                    });
                if ok {
                    return anyhow::Ok(true);
                }
            }
            anyhow::Ok(false)
        })
        .await
        .map_err(|_| {
            anyhow::anyhow!("the TrafficTarget did not reach the stream within {CONVERGENCE:?}")
        })??;
        assert!(granted, "the stream ended before the grant arrived");
        eprintln!("kubectl apply → proxy stream: {:?}", t0.elapsed());

        // A malformed TrafficTarget gets an Event and stalls nothing.
        apply(
            &client,
            &ns,
            json!({
                "apiVersion": "access.smi-spec.io/v1alpha3", "kind": "TrafficTarget",
                "metadata": {"name": "broken"},
                "spec": {"destination": {"kind": "User", "name": "web"}}
            }),
        )
        .await?;
        let events: Api<Event> = Api::namespaced(client.clone(), &ns);
        event_on(&events, "broken", "InvalidObject").await?;
        // A rule naming a route group that does not exist fails closed and
        // is reported on the TrafficTarget once the controller has synced.
        apply(
            &client,
            &ns,
            json!({
                "apiVersion": "access.smi-spec.io/v1alpha3", "kind": "TrafficTarget",
                "metadata": {"name": "dangling"},
                "spec": {"destination": {"kind": "ServiceAccount", "name": "web"},
                         "sources": [{"kind": "ServiceAccount", "name": "api"}],
                         "rules": [{"kind": "HTTPRouteGroup", "name": "no-such-group"}]}
            }),
        )
        .await?;
        event_on(&events, "dangling", "MissingRoute").await?;
        let tts = Api::<DynamicObject>::namespaced_with(
            client.clone(),
            &ns,
            &read_resource::<access::TrafficTarget>(access::VERSION),
        );
        tts.delete("api-to-web", &DeleteParams::default()).await?;
        // The grant goes; `dangling` still targets web, and allows nothing.
        tokio::time::timeout(CONVERGENCE, async {
            while let Some(u) = stream.next().await {
                let u = u?;
                let granted = u.authorizations.iter().any(|a| {
                    a.rules.is_some()
                        && a.clients
                            .as_ref()
                            .is_some_and(|c| c.identities.contains(&api_id))
                });
                if u.targeted && !granted {
                    return anyhow::Ok(());
                }
            }
            anyhow::bail!("the stream ended")
        })
        .await
        .map_err(|_| anyhow::anyhow!("the deletion did not reach the stream"))??;
        Ok(())
    })
    .await;
    ctl.stop.trigger();
    res
}
