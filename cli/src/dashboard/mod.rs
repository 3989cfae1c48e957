//! `weft dashboard`: the mesh as a picture, served to the user's browser
//! from a local port.
//!
//! The command reads the cluster through the user's kubeconfig, as `weft
//! authz explain` and `weft edges` do, so it needs no component in the
//! cluster and sees exactly what the user may see. [`graph`] turns what it
//! reads into nodes and edges (pure, unit-tested), [`load`] reads the
//! cluster, [`server`] serves the page and the JSON it polls.

pub mod graph;
pub mod load;
pub mod server;

use anyhow::Context as _;
use std::{net::SocketAddr, sync::Arc};

/// Serves the dashboard on `addr` (loopback) until interrupted; `ready`
/// is told the address the page is at once the port is bound.
pub async fn run(
    source: Arc<dyn server::Source>,
    addr: SocketAddr,
    ready: impl FnOnce(&str),
) -> anyhow::Result<()> {
    anyhow::ensure!(
        addr.ip().is_loopback(),
        "the dashboard listens on loopback only ({addr} is not): it reads the cluster with your credentials"
    );
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!("listening on {addr} (is another dashboard running? pass --port)")
    })?;
    let addr = listener.local_addr().context("the listener's address")?;
    ready(&format!("http://{addr}/"));
    axum::serve(listener, server::router(source, addr))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("serving the dashboard")
}
