//! The SMI TrafficMetrics API (`metrics.smi-spec.io/v1alpha1`), served by
//! the controller as an extension API server behind an APIService.
//!
//! One replica, holding a Lease ([`lease`]), scrapes every meshed proxy's
//! metrics listener over mTLS and keeps a bounded window per pod
//! ([`scraper`]; the arithmetic, pure, in [`traffic_stats`]); requests are
//! answered from that window and the controller's own index
//! ([`aggregate`]), after the API server's front-proxy certificate is
//! verified (`listener`, `trust`, [`authn`]) and the end user authorised
//! with a SubjectAccessReview (`authz`); `handler` takes a request through
//! those steps. A replica that does not hold the Lease forwards queries to
//! the one that does (`peers`). [`MetricsApi`] starts all of it.

pub mod aggregate;
pub mod authn;
mod authz;
pub mod discovery;
mod handler;
pub mod lease;
mod listener;
pub mod openapi;
mod peers;
mod response;
pub mod routes;
pub mod scraper;
pub mod selector;
pub mod traffic_stats;
mod trust;

use crate::index::SharedIndex;
use aggregate::Scraped;
use handler::ApiServer;
use lease::LeaseConfig;
use peers::Peers;
use scraper::Scraper;
use std::{
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};
use tokio::{net::TcpListener, sync::watch};
use weft_runtime::shutdown;
use weft_tls::{MeshTls, ServingCert, ServingError, SpiffeId};

/// How often the serving certificate's files are re-read for rotation.
const CERT_RELOAD: Duration = Duration::from_secs(10);

/// The metrics API's settings, from the controller's flags.
#[derive(Clone, Debug)]
pub struct Config {
    /// The HTTPS listener the kube-apiserver connects to.
    pub addr: SocketAddr,
    /// The serving certificate and key (PEM), re-read for rotation.
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Where other replicas forward queries to this one.
    pub peer_addr: SocketAddr,
    /// This pod's IP: other replicas reach its peer listener there.
    pub pod_ip: Option<IpAddr>,
    /// The Lease electing the replica that scrapes, and its namespace.
    pub lease: String,
    pub lease_namespace: String,
    /// This replica, as the Lease names its holder.
    pub pod_name: String,
    /// How far back TrafficMetrics look, and how often the holder scrapes.
    pub window: Duration,
    pub scrape_interval: Duration,
    /// The proxies' metrics listener port.
    pub proxy_metrics_port: u16,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("loading the metrics API certificate")]
    Certificate(#[source] ServingError),
    #[error("binding the metrics API listener {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("binding the metrics peer listener {addr}")]
    BindPeer {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// The SMI metrics API, in two steps: [`MetricsApi::load`] when the
/// process starts, so a bad certificate fails it at once, and
/// [`MetricsApi::start`] once the controller has its own certificate
/// (scraping proxies and forwarding to the Lease holder need it).
pub struct MetricsApi {
    config: Config,
    serving: Arc<ServingCert>,
}

impl MetricsApi {
    /// Loads the serving certificate and keeps re-reading its files.
    pub fn load(config: Config) -> Result<Self, StartError> {
        let serving = ServingCert::load_watched(&config.cert, &config.key, CERT_RELOAD)
            .map_err(StartError::Certificate)?;
        Ok(Self { config, serving })
    }

    /// Binds both listeners, then runs the Lease, the scraper, the
    /// front-proxy trust and both servers in their own tasks until `stop`.
    pub async fn start(
        self,
        client: &kube::Client,
        index: &SharedIndex,
        tls: &MeshTls,
        own_id: &SpiffeId,
        stop: &shutdown::Signal,
    ) -> Result<(), StartError> {
        let cfg = self.config;
        let listener = TcpListener::bind(cfg.addr)
            .await
            .map_err(|source| StartError::Bind {
                addr: cfg.addr,
                source,
            })?;
        let peer_listener =
            TcpListener::bind(cfg.peer_addr)
                .await
                .map_err(|source| StartError::BindPeer {
                    addr: cfg.peer_addr,
                    source,
                })?;
        let advertise = cfg
            .pod_ip
            .map(|ip| SocketAddr::new(ip, cfg.peer_addr.port()).to_string());
        let (leader_tx, leader_rx) = watch::channel(false);
        let (holder_tx, holder_rx) = watch::channel(None);
        tokio::spawn(lease::run(
            client.clone(),
            LeaseConfig::new(
                cfg.lease_namespace.clone(),
                cfg.lease.clone(),
                cfg.pod_name.clone(),
                advertise,
            ),
            leader_tx,
            holder_tx,
            stop.clone(),
        ));
        let (scraped_tx, scraped_rx) = watch::channel(Arc::new(Scraped::default()));
        tokio::spawn(
            Scraper {
                index: index.clone(),
                tls: tls.clone(),
                port: cfg.proxy_metrics_port,
                interval: cfg.scrape_interval,
                window: cfg.window,
            }
            .run(leader_rx, scraped_tx, stop.clone()),
        );
        let (trust_tx, trust_rx) = watch::channel(None);
        tokio::spawn(trust::keep_trust(
            client.clone(),
            self.serving.clone(),
            trust_tx,
            stop.clone(),
        ));
        tracing::info!(addr = %cfg.addr, lease = %cfg.lease, "serving the SMI metrics API");
        let api = Arc::new(ApiServer {
            client: client.clone(),
            index: index.clone(),
            scraped: scraped_rx,
            trust: trust_rx,
            lease: cfg.lease.clone(),
            peers: Peers {
                tls: tls.clone(),
                id: own_id.clone(),
                holder: holder_rx,
            },
        });
        tokio::spawn(api.clone().serve_peers(peer_listener, stop.clone()));
        tokio::spawn(api.serve(listener, stop.clone()));
        Ok(())
    }
}
