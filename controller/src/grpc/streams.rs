//! A cap on the streams one identity holds open at once.
//!
//! Each stream holds a subscription in the index, a task and a queue. A
//! workload's proxies open one per inbound port and one per destination in
//! use; a workload that asks for every address it can think of, or a stolen
//! certificate, must not make the controller hold unbounded state. Every
//! replica of a workload shares its identity, so the cap bounds the sum of
//! their streams and is set well above what a large Deployment needs.

use prometheus_client::metrics::counter::Counter;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};
use tonic::Status;
use weft_tls::SpiffeId;

/// Streams one identity may hold open at once, by default.
pub const DEFAULT_MAX_PER_IDENTITY: usize = 20_000;

/// Open streams, by client identity.
#[derive(Clone, Debug)]
pub struct StreamCap {
    max: usize,
    open: Arc<Mutex<HashMap<String, usize>>>,
    refused: Counter,
}

/// One open stream; dropping it (the stream ended) frees its place.
#[derive(Debug)]
pub struct Permit {
    id: String,
    open: Arc<Mutex<HashMap<String, usize>>>,
}

impl StreamCap {
    pub fn new(max: usize, refused: Counter) -> Self {
        Self {
            max,
            open: Arc::default(),
            refused,
        }
    }

    /// A place for one more stream of `id`, or `ResourceExhausted`.
    pub fn acquire(&self, id: &SpiffeId) -> Result<Permit, Status> {
        let mut open = self.open.lock().expect("stream cap lock");
        let n = open.entry(id.to_string()).or_insert(0);
        if *n >= self.max {
            self.refused.inc();
            tracing::warn!(client = %id, open = *n, "refused a stream: the identity holds the most streams it may");
            return Err(Status::resource_exhausted(format!(
                "{id} holds {} streams, the most one identity may hold open at once",
                self.max
            )));
        }
        *n += 1;
        Ok(Permit {
            id: id.to_string(),
            open: self.open.clone(),
        })
    }

    /// Streams `id` holds open now.
    pub fn open(&self, id: &SpiffeId) -> usize {
        let open = self.open.lock().expect("stream cap lock");
        open.get(id.as_str()).copied().unwrap_or(0)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut open = self.open.lock().expect("stream cap lock");
        if let Some(n) = open.get_mut(&self.id) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identity_gets_its_cap_and_a_place_back_when_a_stream_ends() {
        let refused = Counter::default();
        let cap = StreamCap::new(2, refused.clone());
        let web: SpiffeId = "spiffe://cluster.local/ns/shop/sa/web".parse().unwrap();
        let api: SpiffeId = "spiffe://cluster.local/ns/shop/sa/api".parse().unwrap();
        let a = cap.acquire(&web).unwrap();
        let _b = cap.acquire(&web).unwrap();
        let err = cap.acquire(&web).unwrap_err();
        assert_eq!(err.code(), tonic::Code::ResourceExhausted);
        assert_eq!(refused.get(), 1);
        // Another identity is not affected.
        let _c = cap.acquire(&api).unwrap();
        drop(a);
        assert_eq!(cap.open(&web), 1);
        let _d = cap.acquire(&web).unwrap();
    }
}
