//! The controller's inbound policy for this pod's ports, subscribed lazily
//! per port and kept current. An outage of the controller keeps the last
//! policy (established traffic is never broken by it); a port whose policy
//! never arrived fails closed.
//!
//! The declared app ports' subscriptions last as long as the proxy. Any
//! other port's (a container may listen where it declares nothing, and a
//! scanner knocks on every port) ends [`LINGER`] after its last connection,
//! so a port scan leaves no subscriptions behind.

use prometheus_client::metrics::gauge::Gauge;
use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::sync::watch;
use tonic::transport::Channel;
use tracing::Instrument as _;
use weft_api::policy::{
    InboundPolicyRequest, InboundPolicyUpdate, inbound_policy_client::InboundPolicyClient,
};
use weft_runtime::{
    backoff::Backoff,
    grpc::{self, Next},
};

/// The latest policy for one port; `None` until the first answer.
pub type PortPolicy = watch::Receiver<Option<Arc<InboundPolicyUpdate>>>;
type Sender = Arc<watch::Sender<Option<Arc<InboundPolicyUpdate>>>>;

/// How long an undeclared port's subscription outlives its last
/// connection (a burst of short connections shares one).
pub const LINGER: Duration = Duration::from_secs(30);

pub struct Policies {
    client: InboundPolicyClient<Channel>,
    namespace: String,
    pod: String,
    /// The app's declared ports: followed for the proxy's whole life.
    declared: HashSet<u16>,
    ports: Arc<Mutex<HashMap<u16, Sender>>>,
    /// How many ports' policies are followed now.
    followed: Gauge,
}

impl Policies {
    pub fn new(
        channel: Channel,
        namespace: String,
        pod: String,
        declared: &[u16],
        followed: Gauge,
    ) -> Self {
        Self {
            client: InboundPolicyClient::new(channel),
            namespace,
            pod,
            declared: declared.iter().copied().collect(),
            ports: Arc::default(),
            followed,
        }
    }

    /// Whether `port` is one of the app's declared ports.
    pub fn is_declared(&self, port: u16) -> bool {
        self.declared.contains(&port)
    }

    /// The policy of `port`, subscribing on first use.
    pub fn watch(&self, port: u16) -> PortPolicy {
        let mut ports = self.ports.lock().expect("policy lock");
        if let Some(tx) = ports.get(&port) {
            return tx.subscribe();
        }
        let (tx, rx) = watch::channel(None);
        let tx = Arc::new(tx);
        ports.insert(port, tx.clone());
        self.followed
            .set(i64::try_from(ports.len()).unwrap_or(i64::MAX));
        let req = InboundPolicyRequest {
            namespace: self.namespace.clone(),
            pod: self.pod.clone(),
            port: port.into(),
        };
        let follow = follow(self.client.clone(), req, tx.clone());
        let span = tracing::info_span!("policy", port);
        if self.declared.contains(&port) {
            tokio::spawn(follow.instrument(span));
        } else {
            let unused = unused(port, tx, self.ports.clone(), self.followed.clone());
            tokio::spawn(
                async move {
                    tokio::select! {
                        () = follow => {}
                        () = unused => tracing::debug!("no connection uses this port's policy; unsubscribed"),
                    }
                }
                .instrument(span),
            );
        }
        rx
    }
}

/// Keeps `tx` current: resubscribes with backoff after any failure,
/// keeping the last policy meanwhile.
async fn follow(client: InboundPolicyClient<Channel>, req: InboundPolicyRequest, tx: Sender) {
    let subscribe = || {
        let (mut client, req) = (client.clone(), req.clone());
        async move { client.watch(req).await.map(tonic::Response::into_inner) }
    };
    grpc::follow(Backoff::default(), subscribe, |update| {
        // Kept even while no connection listens: the next one finds it.
        tx.send_replace(Some(Arc::new(update)));
        Next::Continue
    })
    .await;
}

/// Completes, having removed `port` from `ports`, once no connection has
/// used its policy for [`LINGER`].
async fn unused(port: u16, tx: Sender, ports: Arc<Mutex<HashMap<u16, Sender>>>, followed: Gauge) {
    loop {
        tx.closed().await;
        tokio::time::sleep(LINGER).await;
        // Under the lock `watch` subscribes under, so no new connection
        // can be handed a receiver of a sender about to go.
        let mut ports = ports.lock().expect("policy lock");
        if tx.receiver_count() == 0 {
            if ports.get(&port).is_some_and(|t| Arc::ptr_eq(t, &tx)) {
                ports.remove(&port);
                followed.set(i64::try_from(ports.len()).unwrap_or(i64::MAX));
            }
            return;
        }
    }
}
