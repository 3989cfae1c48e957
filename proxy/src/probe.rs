//! The app probes the injector moved to the proxy (`weft_api::probes`).
//!
//! The kubelet asks `GET /probe/<container>/<kind>` on the admin port; the
//! proxy runs the original check against its own pod address, as the
//! kubelet would have, and answers 200 or 503. Its connections bypass the
//! pod's redirection (they leave as the proxy's user), so they reach the app
//! directly, and the app port itself stays under policy.
//!
//! Anyone who reaches the admin port can ask, so a flood must not multiply
//! into load on the app: requests for one probe are served one check at a
//! time, and those that waited for a check share its result.

mod grpc;
mod http;

use std::{
    collections::HashMap,
    future::Future,
    net::{IpAddr, SocketAddr},
    pin::Pin,
    sync::Arc,
    time::Duration,
};
use tokio::{net::TcpStream, sync::Mutex, time::Instant};
use tracing::debug;
use weft_api::probes::{AppProbe, Check};
use weft_runtime::admin::{self, ProbeResult};

/// Every probe of the pod, by name.
#[derive(Debug)]
pub struct AppProbes {
    target: IpAddr,
    slots: HashMap<String, Arc<Slot>>,
}

#[derive(Debug)]
struct Slot {
    probe: AppProbe,
    /// When the last check ended, and its result.
    last: Mutex<Option<(Instant, ProbeResult)>>,
}

impl AppProbes {
    /// Probes checked against `target`, the pod's own address (the one the
    /// kubelet would have dialled).
    pub fn new(target: IpAddr, probes: Vec<AppProbe>) -> Self {
        let slots = probes
            .into_iter()
            .map(|probe| {
                let slot = Slot {
                    probe,
                    last: Mutex::new(None),
                };
                (slot.probe.name.clone(), Arc::new(slot))
            })
            .collect();
        Self { target, slots }
    }
}

impl admin::AppProbes for AppProbes {
    fn run(&self, name: &str) -> Option<Pin<Box<dyn Future<Output = ProbeResult> + Send>>> {
        let slot = self.slots.get(name)?.clone();
        let target = self.target;
        Some(Box::pin(async move { slot.run(target).await }))
    }
}

impl Slot {
    async fn run(&self, ip: IpAddr) -> ProbeResult {
        let asked = Instant::now();
        let mut last = self.last.lock().await;
        // A check that ended after this request arrived answers it too.
        if let Some((ended, result)) = &*last
            && *ended >= asked
        {
            return result.clone();
        }
        let addr = SocketAddr::new(ip, self.probe.port);
        let limit = Duration::from_secs(self.probe.timeout_seconds.into());
        let result = match tokio::time::timeout(limit, check(addr, &self.probe.check)).await {
            Ok(r) => r,
            Err(_) => Err(format!("{addr} did not answer within {limit:?}")),
        };
        if let Err(why) = &result {
            debug!(probe = %self.probe.name, %addr, %why, "app probe failed");
        }
        *last = Some((Instant::now(), result.clone()));
        result
    }
}

async fn check(addr: SocketAddr, check: &Check) -> ProbeResult {
    match check {
        Check::Tcp => connect(addr).await.map(drop),
        Check::Http {
            path,
            https,
            headers,
        } => http::get(addr, path, *https, headers).await,
        Check::Grpc { service } => grpc::check(addr, service.as_deref().unwrap_or("")).await,
    }
}

async fn connect(addr: SocketAddr) -> Result<TcpStream, String> {
    TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connecting to {addr}: {e}"))
}

#[cfg(test)]
mod tests;
