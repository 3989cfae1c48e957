//! The controller's Discovery, followed per original destination.
//!
//! One subscription per destination is shared by every connection to it
//! and dropped after it has been unused for a while. A stream that ends, or
//! a change that cannot be applied, leads to a new subscription and so a
//! fresh snapshot; meanwhile the last answer stays in use, so a controller
//! outage never breaks destinations already known. A destination never
//! answered fails closed.
//!
//! Each request (HTTP) or connection (TCP) asks its [`Destination`] to
//! [`Destination::pick`] an endpoint: split backends by smooth weighted
//! round-robin, then power of two choices over the backend's endpoints.

pub mod state;

use crate::{
    authz::routes::{self, Regexes},
    balance::{p2c, wrr::SmoothWrr},
    resolve::{Resolution, Resolve},
};
use state::{Answer, Endpoint, Meshed};
use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::sync::watch;
use tonic::transport::Channel;
use weft_api::discovery::{DiscoveryRequest, discovery_client::DiscoveryClient, discovery_request};
use weft_runtime::backoff::Backoff;

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
        tokio::spawn(follow.run());
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
                    return Resolution::Mesh(Destination {
                        opaque: m.opaque,
                        rx: shared.rx.clone(),
                        wrr: shared.wrr.clone(),
                        regexes: self.regexes.clone(),
                    });
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
        let backoff = Backoff::default();
        let mut attempt = 0;
        let mut tick = tokio::time::interval((self.idle / 4).max(Duration::from_millis(10)));
        let mut unused_since: Option<tokio::time::Instant> = None;
        loop {
            let mut client = self.client.clone();
            let stream = tokio::select! {
                r = client.watch(self.req.clone()) => r,
                () = self.idle_check(&mut tick, &mut unused_since) => return,
            };
            match stream {
                Ok(s) => {
                    let mut s = s.into_inner();
                    loop {
                        let msg = tokio::select! {
                            m = s.message() => m,
                            () = self.idle_check(&mut tick, &mut unused_since) => return,
                        };
                        match msg {
                            Ok(Some(update)) => {
                                let prev = self.tx.borrow().clone();
                                match state::apply(prev.as_ref(), update) {
                                    Ok(answer) => {
                                        attempt = 0;
                                        self.tx.send_replace(Some(answer));
                                    }
                                    Err(error) => {
                                        tracing::info!(dst = %self.dst, %error, "discovery: subscribing again for a fresh snapshot");
                                        break;
                                    }
                                }
                            }
                            Ok(None) => break,
                            Err(status) => {
                                tracing::info!(dst = %self.dst, %status, "discovery stream failed; the last answer stays in use");
                                break;
                            }
                        }
                    }
                }
                Err(status) => {
                    tracing::info!(dst = %self.dst, %status, "discovery watch failed; retrying");
                }
            }
            let delay = backoff.delay(attempt);
            attempt = attempt.saturating_add(1);
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = self.idle_check(&mut tick, &mut unused_since) => return,
            }
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

/// One meshed destination as a connection sees it: always the latest
/// answer, and the split state shared with every other user.
#[derive(Clone)]
pub struct Destination {
    /// Whether the port is opaque (never inspected), from the first answer.
    pub opaque: bool,
    rx: watch::Receiver<Option<Answer>>,
    wrr: Arc<Mutex<SmoothWrr>>,
    regexes: Arc<Regexes>,
}

/// Where one request or connection goes.
#[derive(Clone, Debug)]
pub enum Pick {
    Endpoint(Arc<Endpoint>),
    /// The destination is no longer meshed: forward as it is.
    Passthrough,
    Unavailable(String),
}

impl Destination {
    /// A destination with one fixed meshed endpoint (tests, benchmarks).
    pub fn fixed(addr: SocketAddr, id: weft_tls::SpiffeId, opaque: bool) -> Self {
        let m = Meshed {
            service: String::new(),
            opaque,
            root: state::Backend {
                name: String::new(),
                weight: 0,
                endpoints: vec![Arc::new(Endpoint {
                    addr,
                    id: Some(id),
                    load: Default::default(),
                })],
            },
            splits: Vec::new(),
            split_matches: Vec::new(),
        };
        let (_tx, rx) = watch::channel(Some(Answer::Meshed(Arc::new(m))));
        Self {
            opaque,
            rx,
            wrr: Arc::default(),
            regexes: Arc::default(),
        }
    }

    /// The destination Service's name, for metrics (empty for a pod address).
    pub fn service(&self) -> String {
        match &*self.rx.borrow() {
            Some(Answer::Meshed(m)) => m.service.clone(),
            _ => String::new(),
        }
    }

    /// Whether any endpoint `usable` accepts exists now (without picking,
    /// which would advance the split's round-robin).
    pub fn has_endpoint(&self, usable: impl Fn(&Endpoint) -> bool) -> bool {
        match &*self.rx.borrow() {
            Some(Answer::Meshed(m)) => std::iter::once(&m.root)
                .chain(&m.splits)
                .flat_map(|b| &b.endpoints)
                .any(|e| usable(e)),
            _ => false,
        }
    }

    /// The endpoint for one HTTP request (`req`) or TCP connection (`None`),
    /// among those `usable` accepts.
    pub fn pick(
        &self,
        req: Option<&routes::Request<'_>>,
        usable: impl Fn(&Endpoint) -> bool,
    ) -> Pick {
        let answer = self.rx.borrow().clone();
        let m = match answer {
            Some(Answer::Meshed(m)) => m,
            Some(Answer::NotMeshed) => return Pick::Passthrough,
            Some(Answer::Unavailable(r)) => return Pick::Unavailable(r),
            None => return Pick::Unavailable("no answer from the controller".into()),
        };
        let usable = |b: &state::Backend| -> Vec<Arc<Endpoint>> {
            b.endpoints.iter().filter(|e| usable(e)).cloned().collect()
        };
        let split = !m.splits.is_empty()
            && (m.split_matches.is_empty()
                || req.is_some_and(|r| {
                    m.split_matches
                        .iter()
                        .any(|route| self.regexes.matches(route, r))
                }));
        let mut endpoints = Vec::new();
        if split {
            let candidates: Vec<_> = m.splits.iter().map(usable).collect();
            let weights: Vec<u32> = m.splits.iter().map(|b| b.weight).collect();
            let chosen = self
                .wrr
                .lock()
                .expect("split lock")
                .pick(&weights, |i| !candidates[i].is_empty());
            if let Some(i) = chosen {
                endpoints = candidates[i].clone();
            }
        }
        if endpoints.is_empty() {
            endpoints = usable(&m.root);
        }
        match p2c(&endpoints, |e| &e.load) {
            Some(i) => Pick::Endpoint(endpoints[i].clone()),
            None if m.service.is_empty() => Pick::Unavailable("no usable endpoint".into()),
            None => Pick::Unavailable(format!("{} has no usable endpoints", m.service)),
        }
    }
}
