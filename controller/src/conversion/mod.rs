//! The conversion webhook of the SMI CRDs: each served version reads back
//! in its own layout ([`weft_k8s_api::convert`]).
//!
//! The latest version of each CRD stores, and the controller reads at it,
//! so the webhook is never in the path of reading policy: the API server
//! calls it only for a client that reads or writes an older version
//! (Flagger's `smi` and `linkerd` providers, older manifests). [`register`]
//! points the CRDs here and migrates objects stored before.

pub mod register;
mod review;
mod server;

use std::{net::SocketAddr, path::PathBuf, time::Duration};
use tokio::net::TcpListener;
use weft_runtime::shutdown;
use weft_tls::{ServingCert, ServingError};

pub use review::answer;

/// How often the serving certificate's files are re-read for rotation.
const CERT_RELOAD: Duration = Duration::from_secs(10);

#[derive(Clone, Debug)]
pub struct Config {
    pub addr: SocketAddr,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The CA of the serving certificate, the CRDs' `caBundle`.
    pub ca: PathBuf,
    /// The Service in front of the webhook, in the control-plane namespace.
    pub service: String,
    pub namespace: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("loading the conversion webhook's certificate")]
    Certificate(#[source] ServingError),
    #[error("reading the conversion webhook's CA {path}")]
    Ca {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("binding the conversion webhook listener {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Serves the webhook and keeps the CRDs pointed at it until `stop`. Call
/// before the watches start: a list at the storage version may still need
/// the webhook for objects written before it was the latest.
pub async fn start(
    cfg: Config,
    client: &kube::Client,
    stop: &shutdown::Signal,
) -> Result<(), StartError> {
    let serving = ServingCert::load_watched(&cfg.cert, &cfg.key, CERT_RELOAD)
        .map_err(StartError::Certificate)?;
    // Read once here so a missing CA fails the start; re-read later.
    std::fs::read(&cfg.ca).map_err(|source| StartError::Ca {
        path: cfg.ca.clone(),
        source,
    })?;
    let listener = TcpListener::bind(cfg.addr)
        .await
        .map_err(|source| StartError::Bind {
            addr: cfg.addr,
            source,
        })?;
    tracing::info!(addr = %cfg.addr, service = %cfg.service, "serving the SMI CRDs' conversion webhook");
    tokio::spawn(server::serve(
        listener,
        serving.server_config(&[b"h2", b"http/1.1"]),
        stop.clone(),
    ));
    tokio::spawn(register::run(
        client.clone(),
        register::Target {
            service: cfg.service,
            namespace: cfg.namespace,
            port: 443,
            ca: cfg.ca,
        },
        stop.clone(),
    ));
    Ok(())
}
