//! The gRPC servers proxies talk to: InboundPolicy and Discovery, over TLS
//! with the controller's own certificate, every client authenticated by its
//! workload certificate. Both read the index and never wait on Kubernetes.

pub mod diff;
pub mod discovery;
pub mod policy;
pub mod queue;
pub mod streams;

use crate::index::SharedIndex;
use crate::sync::Synced;
use prometheus_client::{metrics::counter::Counter, registry::Registry};
use std::sync::Arc;
use tokio::{net::TcpListener, sync::watch};
use tonic::{Request, Status};
use weft_api::{
    discovery::discovery_server::DiscoveryServer,
    policy::inbound_policy_server::InboundPolicyServer,
};
use weft_runtime::shutdown;
use weft_tls::SpiffeId;

/// Default room per stream before a slow client is cut off.
pub const DEFAULT_QUEUE: usize = 64;

#[derive(Clone, Debug, Default)]
pub struct Metrics {
    pub overflows: Counter,
    pub refused_streams: Counter,
}

impl Metrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "weft_controller_stream_overflows",
            "Streams ended because their client fell too far behind",
            self.overflows.clone(),
        );
        registry.register(
            "weft_controller_streams_refused",
            "Streams refused because their client's identity held the most it may",
            self.refused_streams.clone(),
        );
    }
}

/// What both services need.
#[derive(Clone)]
pub(crate) struct Shared {
    index: SharedIndex,
    queue: usize,
    stop: shutdown::Signal,
    metrics: Metrics,
    cap: streams::StreamCap,
}

impl Shared {
    /// `permit` is held until the stream ends.
    fn forward<V, T, F>(
        &self,
        rx: watch::Receiver<Arc<V>>,
        gone: Status,
        permit: streams::Permit,
        step: F,
    ) -> queue::Stream<T>
    where
        V: Send + Sync + 'static,
        T: Send + 'static,
        F: FnMut(Option<&V>, &V) -> Vec<T> + Send + 'static,
    {
        queue::forward(
            rx,
            self.queue,
            self.stop.clone(),
            gone,
            self.metrics.overflows.clone(),
            permit,
            step,
        )
    }
}

/// The caller's SPIFFE id, from its client certificate.
fn client_id<T>(req: &Request<T>) -> Result<SpiffeId, Status> {
    weft_tls::peer_of(req)
        .ok_or_else(|| Status::unauthenticated("a mesh client certificate is required"))
}

/// What the servers are built from.
pub struct Server {
    pub index: SharedIndex,
    /// Must require client certificates.
    pub tls: Arc<rustls::ServerConfig>,
    /// Messages a stream may have queued before its client is cut off.
    pub queue: usize,
    /// Streams one client identity may hold open at once.
    pub max_streams_per_identity: usize,
    pub metrics: Metrics,
}

impl Server {
    /// Binds `addr` and serves. It takes [`Synced`], so it runs only once
    /// every watch has applied its initial list and no proxy is ever
    /// answered from a partial index; until then nothing listens and
    /// proxies keep retrying (with the policy they already hold, if any).
    /// `serving` turns ready once bound.
    pub async fn serve_after_sync(
        self,
        addr: std::net::SocketAddr,
        _synced: Synced,
        serving: weft_runtime::readiness::Condition,
        stop: shutdown::Signal,
    ) -> std::io::Result<()> {
        let listener = TcpListener::bind(addr).await?;
        tracing::info!(addr = %listener.local_addr()?, "serving InboundPolicy and Discovery");
        serving.ready();
        self.serve(listener, stop)
            .await
            .map_err(std::io::Error::other)
    }

    /// Serves both services on `listener` until `stop`; open streams end
    /// cleanly when it fires.
    pub async fn serve(
        self,
        listener: TcpListener,
        stop: shutdown::Signal,
    ) -> Result<(), tonic::transport::Error> {
        let shared = Shared {
            index: self.index,
            queue: self.queue,
            stop: stop.clone(),
            cap: streams::StreamCap::new(
                self.max_streams_per_identity,
                self.metrics.refused_streams.clone(),
            ),
            metrics: self.metrics,
        };
        tonic::transport::Server::builder()
            .add_service(InboundPolicyServer::new(policy::PolicyService(
                shared.clone(),
            )))
            .add_service(DiscoveryServer::new(discovery::DiscoveryService(shared)))
            .serve_with_incoming_shutdown(weft_tls::tls_incoming(listener, self.tls), stop.wait())
            .await
    }
}
