//! The controller's inbound policy for this pod's ports, subscribed lazily
//! per port and kept current. An outage of the controller keeps the last
//! policy (established traffic is never broken by it); a port whose policy
//! never arrived fails closed.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
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

pub struct Policies {
    client: InboundPolicyClient<Channel>,
    namespace: String,
    pod: String,
    ports: Mutex<HashMap<u16, PortPolicy>>,
}

impl Policies {
    pub fn new(channel: Channel, namespace: String, pod: String) -> Self {
        Self {
            client: InboundPolicyClient::new(channel),
            namespace,
            pod,
            ports: Mutex::default(),
        }
    }

    /// The policy of `port`, subscribing on first use.
    pub fn watch(&self, port: u16) -> PortPolicy {
        let mut ports = self.ports.lock().expect("policy lock");
        ports
            .entry(port)
            .or_insert_with(|| {
                let (tx, rx) = watch::channel(None);
                let req = InboundPolicyRequest {
                    namespace: self.namespace.clone(),
                    pod: self.pod.clone(),
                    port: port.into(),
                };
                let span = tracing::info_span!("policy", port);
                tokio::spawn(follow(self.client.clone(), req, tx).instrument(span));
                rx
            })
            .clone()
    }
}

/// Keeps `tx` current: resubscribes with backoff after any failure,
/// keeping the last policy meanwhile. Ends when nobody listens.
async fn follow(
    client: InboundPolicyClient<Channel>,
    req: InboundPolicyRequest,
    tx: watch::Sender<Option<Arc<InboundPolicyUpdate>>>,
) {
    let subscribe = || {
        let (mut client, req) = (client.clone(), req.clone());
        async move { client.watch(req).await.map(tonic::Response::into_inner) }
    };
    let follow = grpc::follow(Backoff::default(), subscribe, |update| {
        match tx.send(Some(Arc::new(update))) {
            Ok(()) => Next::Continue,
            Err(_) => Next::Stop,
        }
    });
    tokio::select! {
        () = follow => {}
        () = tx.closed() => {}
    }
}
