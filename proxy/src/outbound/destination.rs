//! One meshed destination as each request or connection sees it: the
//! latest answer from discovery, and the split state every user shares.
//! [`Destination::pick`] chooses where one request (HTTP) or connection
//! (TCP) goes: split backends by smooth weighted round-robin, then power of
//! two choices over the backend's endpoints.

use super::{
    answer::{self, Answer, Endpoint, Meshed},
    balance::{p2c, wrr::SmoothWrr},
};
use crate::{
    metrics::{Label, no_label},
    routes::{self, Regexes},
};
use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};
use tokio::sync::watch;

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
    /// The destination discovery follows through `rx`; `wrr` is shared by
    /// every user of it.
    pub(super) fn new(
        opaque: bool,
        rx: watch::Receiver<Option<Answer>>,
        wrr: Arc<Mutex<SmoothWrr>>,
        regexes: Arc<Regexes>,
    ) -> Self {
        Self {
            opaque,
            rx,
            wrr,
            regexes,
        }
    }

    /// A destination with one fixed meshed endpoint (tests, benchmarks).
    pub fn fixed(addr: SocketAddr, id: weft_tls::SpiffeId, opaque: bool) -> Self {
        let m = Meshed {
            service: no_label(),
            opaque,
            root: answer::Backend {
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
            routes: Arc::default(),
            route_backends: Vec::new(),
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
    pub fn service(&self) -> Label {
        match &*self.rx.borrow() {
            Some(Answer::Meshed(m)) => m.service.clone(),
            _ => no_label(),
        }
    }

    /// Whether any endpoint `usable` accepts exists now (without picking,
    /// which would advance the split's round-robin).
    pub fn has_endpoint(&self, usable: impl Fn(&Endpoint) -> bool) -> bool {
        match &*self.rx.borrow() {
            Some(Answer::Meshed(m)) => std::iter::once(&m.root)
                .chain(&m.splits)
                .chain(&m.route_backends)
                .flat_map(|b| &b.endpoints)
                .any(|e| usable(e)),
            _ => false,
        }
    }

    /// The answer now, when Gateway API routes decide its HTTP requests.
    pub fn routed(&self) -> Option<Arc<Meshed>> {
        match &*self.rx.borrow() {
            Some(Answer::Meshed(m)) if !m.routes.is_empty() => Some(m.clone()),
            _ => None,
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
        let usable = |b: &answer::Backend| -> Vec<Arc<Endpoint>> {
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
        pick_among(&endpoints, &m.service)
    }
}

/// An endpoint of `backend` that `usable` accepts, by power of two choices.
pub fn pick_in(backend: &answer::Backend, usable: impl Fn(&Endpoint) -> bool) -> Pick {
    let endpoints: Vec<_> = backend
        .endpoints
        .iter()
        .filter(|e| usable(e))
        .cloned()
        .collect();
    pick_among(&endpoints, &backend.name)
}

fn pick_among(endpoints: &[Arc<Endpoint>], service: &str) -> Pick {
    match p2c(endpoints, |e| &e.load) {
        Some(i) => Pick::Endpoint(endpoints[i].clone()),
        None if service.is_empty() => Pick::Unavailable("no usable endpoint".into()),
        None => Pick::Unavailable(format!("{service} has no usable endpoints")),
    }
}
