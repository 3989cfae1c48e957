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
use weft_api::policy::{
    InboundPolicyRequest, InboundPolicyUpdate, inbound_policy_client::InboundPolicyClient,
};
use weft_runtime::backoff::Backoff;

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
                tokio::spawn(follow(self.client.clone(), req, tx));
                rx
            })
            .clone()
    }
}

/// Keeps `tx` current: resubscribes with backoff after any failure,
/// keeping the last policy meanwhile. Ends when nobody listens.
async fn follow(
    mut client: InboundPolicyClient<Channel>,
    req: InboundPolicyRequest,
    tx: watch::Sender<Option<Arc<InboundPolicyUpdate>>>,
) {
    let backoff = Backoff::default();
    let mut attempt = 0u32;
    loop {
        match client.watch(req.clone()).await {
            Ok(rsp) => {
                let mut stream = rsp.into_inner();
                loop {
                    match stream.message().await {
                        Ok(Some(update)) => {
                            attempt = 0;
                            if tx.send(Some(Arc::new(update))).is_err() {
                                return;
                            }
                        }
                        Ok(None) => break,
                        Err(status) => {
                            tracing::info!(port = req.port, %status, "policy stream ended; resubscribing");
                            break;
                        }
                    }
                }
            }
            Err(status) => {
                tracing::info!(port = req.port, %status, "cannot watch the policy yet; retrying");
            }
        }
        if tx.is_closed() {
            return;
        }
        tokio::time::sleep(backoff.delay(attempt)).await;
        attempt = attempt.saturating_add(1);
    }
}
