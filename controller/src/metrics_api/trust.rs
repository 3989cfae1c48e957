//! Which front proxy the metrics API trusts, kept current: the
//! kube-apiserver's front-proxy CA and names, read from the
//! `extension-apiserver-authentication` ConfigMap ([`super::authn`] parses
//! it), and the TLS config that verifies client certificates against them.

use super::authn::{self, FrontProxy};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use std::{sync::Arc, time::Duration};
use tokio::sync::watch;
use tracing::warn;
use weft_runtime::shutdown;
use weft_tls::ServingCert;

/// How often the front-proxy trust is re-read (the API server's CA can
/// rotate).
const TRUST_REFRESH: Duration = Duration::from_secs(60);

/// The front proxy's trust, with the TLS config built from it.
pub struct Trust {
    pub proxy: FrontProxy,
    pub tls: Arc<rustls::ServerConfig>,
}

/// Keeps `tx` holding the front proxy's trust from the
/// `extension-apiserver-authentication` ConfigMap, re-read every minute.
pub async fn keep_trust(
    client: kube::Client,
    serving: Arc<ServingCert>,
    tx: watch::Sender<Option<Arc<Trust>>>,
    stop: shutdown::Signal,
) {
    let api: Api<ConfigMap> = Api::namespaced(client, authn::CONFIG_MAP_NAMESPACE);
    let mut ticker = tokio::time::interval(TRUST_REFRESH);
    let stopped = stop.wait();
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            () = &mut stopped => return,
            _ = ticker.tick() => {}
        }
        let data = match api.get(authn::CONFIG_MAP_NAME).await {
            Ok(cm) => cm.data.unwrap_or_default(),
            Err(error) => {
                warn!(%error, "metrics API: cannot read {}/{}", authn::CONFIG_MAP_NAMESPACE, authn::CONFIG_MAP_NAME);
                continue;
            }
        };
        let proxy = match FrontProxy::from_config_map(&data) {
            Ok(p) => p,
            Err(error) => {
                warn!(%error, "metrics API: no usable front-proxy trust");
                continue;
            }
        };
        if tx.borrow().as_ref().is_some_and(|t| t.proxy == proxy) {
            continue;
        }
        match serving
            .server_config_verifying_clients(proxy.client_ca.as_bytes(), &[b"h2", b"http/1.1"])
        {
            Ok(cfg) => {
                tracing::info!(allowed_names = ?proxy.allowed_names, "metrics API: front-proxy trust loaded");
                tx.send_replace(Some(Arc::new(Trust {
                    proxy,
                    tls: Arc::new(cfg),
                })));
            }
            Err(error) => warn!(%error, "metrics API: the front-proxy CA is unusable"),
        }
    }
}
