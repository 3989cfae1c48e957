//! The controller's Discovery, followed per original destination.
//!
//! One subscription per destination is shared by every connection to it
//! and dropped after it has been unused for a while. A stream that ends, or
//! a change that cannot be applied, leads to a new subscription and so a
//! fresh snapshot; meanwhile the last answer stays in use, so a controller
//! outage never breaks destinations already known. A destination never
//! answered fails closed.

use super::{
    answer::{self, Answer},
    balance::wrr::SmoothWrr,
    destination::Destination,
    resolve::{Resolution, Resolve},
};
use crate::routes::Regexes;
use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::sync::watch;
use tonic::transport::Channel;
use tracing::Instrument as _;
use weft_api::discovery::{DiscoveryRequest, discovery_client::DiscoveryClient, discovery_request};
use weft_runtime::{
    backoff::Backoff,
    grpc::{self, Next},
};

type Subs = Arc<Mutex<HashMap<SocketAddr, Shared>>>;

pub struct Discovery {
    client: DiscoveryClient<Channel>,
    source_namespace: String,
    /// How long a new destination may wait for a usable answer.
    wait: Duration,
    /// How long an unused subscription is kept.
    idle: Duration,
    subs: Subs,
    regexes: Arc<Regexes>,
}

/// What every user of one destination shares.
#[derive(Clone)]
struct Shared {
    rx: watch::Receiver<Option<Answer>>,
    wrr: Arc<Mutex<SmoothWrr>>,
}

impl Discovery {
    pub fn new(channel: Channel, source_namespace: String, wait: Duration, idle: Duration) -> Self {
        Self {
            client: DiscoveryClient::new(channel),
            source_namespace,
            wait,
            idle,
            subs: Subs::default(),
            regexes: Arc::default(),
        }
    }

    /// Destinations with a live subscription.
    pub fn subscriptions(&self) -> usize {
        self.subs.lock().expect("discovery lock").len()
    }

    fn subscribe(&self, dst: SocketAddr) -> Shared {
        let mut subs = self.subs.lock().expect("discovery lock");
        if let Some(s) = subs.get(&dst) {
            return s.clone();
        }
        let (tx, rx) = watch::channel(None);
        let shared = Shared {
            rx,
            wrr: Arc::default(),
        };
        subs.insert(dst, shared.clone());
        let follow = Follow {
            client: self.client.clone(),
            req: DiscoveryRequest {
                target: Some(discovery_request::Target::Address(dst.to_string())),
                source_namespace: self.source_namespace.clone(),
            },
            tx,
            subs: self.subs.clone(),
            dst,
            idle: self.idle,
        };
        tokio::spawn(
            follow
                .run()
                .instrument(tracing::info_span!("discovery", %dst)),
        );
        shared
    }
}

impl Resolve for Discovery {
    async fn resolve(&self, dst: SocketAddr) -> Resolution {
        let shared = self.subscribe(dst);
        let mut rx = shared.rx.clone();
        let deadline = tokio::time::Instant::now() + self.wait;
        let mut why = format!("the controller did not answer within {:?}", self.wait);
        loop {
            match rx.borrow_and_update().clone() {
                Some(Answer::Meshed(m)) => {
                    return Resolution::Mesh(Destination::new(
                        m.opaque,
                        shared.rx.clone(),
                        shared.wrr.clone(),
                        self.regexes.clone(),
                    ));
                }
                Some(Answer::NotMeshed) => return Resolution::Passthrough,
                Some(Answer::Unavailable(reason)) => why = reason,
                None => {}
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => return Resolution::Refuse(why),
            }
        }
    }
}

/// Follows one destination's stream until it is unused for `idle`.
struct Follow {
    client: DiscoveryClient<Channel>,
    req: DiscoveryRequest,
    tx: watch::Sender<Option<Answer>>,
    subs: Subs,
    dst: SocketAddr,
    idle: Duration,
}

impl Follow {
    async fn run(self) {
        let mut tick = tokio::time::interval((self.idle / 4).max(Duration::from_millis(10)));
        let mut unused_since: Option<tokio::time::Instant> = None;
        let subscribe = || {
            let (mut client, req) = (self.client.clone(), self.req.clone());
            async move { client.watch(req).await.map(tonic::Response::into_inner) }
        };
        // Whatever fails, the last answer stays in use meanwhile.
        let follow = grpc::follow(Backoff::default(), subscribe, |update| {
            let prev = self.tx.borrow().clone();
            match answer::apply(prev.as_ref(), update) {
                Ok(answer) => {
                    self.tx.send_replace(Some(answer));
                    Next::Continue
                }
                Err(error) => {
                    tracing::info!(%error, "subscribing again for a fresh snapshot");
                    Next::Resubscribe
                }
            }
        });
        tokio::select! {
            () = follow => {}
            () = self.idle_check(&mut tick, &mut unused_since) => {}
        }
    }

    /// Completes once nobody but the cache has held the answer for `idle`;
    /// the subscription is then removed.
    async fn idle_check(
        &self,
        tick: &mut tokio::time::Interval,
        unused_since: &mut Option<tokio::time::Instant>,
    ) {
        loop {
            tick.tick().await;
            // The cache itself holds one receiver.
            if self.tx.receiver_count() > 1 {
                *unused_since = None;
                continue;
            }
            let since = *unused_since.get_or_insert_with(tokio::time::Instant::now);
            if since.elapsed() >= self.idle {
                let mut subs = self.subs.lock().expect("discovery lock");
                // Checked again under the lock: a connection may just have
                // picked this subscription up.
                if self.tx.receiver_count() <= 1 {
                    subs.remove(&self.dst);
                    tracing::debug!(dst = %self.dst, "discovery: dropped an idle subscription");
                    return;
                }
            }
        }
    }
}
