//! The common start and stop of a weft binary: tracing, the admin server,
//! signal handling and the drain.

use crate::{admin, readiness::Readiness, shutdown, telemetry};
use prometheus_client::registry::Registry;
use std::{net::SocketAddr, sync::Arc, time::Duration};

/// How a binary starts its shared parts.
#[derive(Clone, Debug)]
pub struct Settings {
    pub name: &'static str,
    pub admin_addr: SocketAddr,
    pub log_level: String,
    pub log_format: telemetry::LogFormat,
    /// App probes the admin server runs (the proxy's).
    pub app_probes: Option<Arc<dyn admin::AppProbes>>,
}

/// The shared parts of a running binary.
#[derive(Debug)]
pub struct Process {
    pub readiness: Readiness,
    pub stop: shutdown::Signal,
    pub trigger: shutdown::Trigger,
    pub admin_addr: SocketAddr,
    admin: tokio::task::JoinHandle<()>,
}

/// Errors while starting.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Telemetry(#[from] telemetry::Error),
    #[error("binding the admin server on {addr}: {source}")]
    Admin {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

impl Process {
    /// Installs tracing, binds and serves the admin port with `metrics`, and
    /// starts shutdown on SIGTERM/SIGINT or `POST /shutdown` from loopback.
    pub async fn start(
        settings: &Settings,
        metrics: impl Into<Arc<Registry>>,
    ) -> Result<Self, Error> {
        let log_level = telemetry::init(&settings.log_level, settings.log_format)?;
        let (trigger, stop) = shutdown::channel();
        let readiness = Readiness::new();
        let state = admin::State {
            readiness: readiness.clone(),
            metrics: metrics.into(),
            log_level: Some(log_level),
            shutdown: Some(trigger.clone()),
            app_probes: settings.app_probes.clone(),
        };
        let addr = settings.admin_addr;
        let bound = admin::Admin::bind(addr, state)
            .await
            .map_err(|source| Error::Admin { addr, source })?;
        let admin_addr = bound
            .local_addr()
            .map_err(|source| Error::Admin { addr, source })?;
        let admin = tokio::spawn(bound.serve(stop.clone()));
        let t = trigger.clone();
        tokio::spawn(async move {
            if let Err(e) = shutdown::on_signals(t.clone()).await {
                tracing::error!(error = %e, "cannot listen for signals; shutting down");
                t.trigger();
            }
        });
        tracing::info!(name = settings.name, version = env!("CARGO_PKG_VERSION"), admin = %admin_addr, "started");
        Ok(Self {
            readiness,
            stop,
            trigger,
            admin_addr,
            admin,
        })
    }

    /// Waits for shutdown, then for `drain` (in-flight work) up to `grace`.
    pub async fn wait(self, grace: Duration, drain: impl Future<Output = ()>) -> shutdown::Drained {
        self.stop.clone().wait().await;
        tracing::info!(?grace, "draining");
        let admin = self.admin;
        shutdown::drain(grace, async move {
            drain.await;
            let _ = admin.await;
        })
        .await
    }
}

/// Flags every control-plane binary takes, flattened into its own clap args.
#[cfg(feature = "clap")]
#[derive(Clone, Debug, clap::Args)]
pub struct CommonArgs {
    /// Admin listener: /live, /ready, /metrics; mutating endpoints answer only on loopback.
    #[arg(long, env = "WEFT_ADMIN_ADDR", default_value = "0.0.0.0:9990")]
    pub admin_addr: SocketAddr,
    /// Log filter (tracing directive syntax, e.g. `info,weft=debug`); changeable at runtime with `PUT /log-level` from loopback.
    #[arg(long, env = "WEFT_LOG", default_value = "info")]
    pub log_level: String,
    /// Log format: `plain` or `json`.
    #[arg(long, env = "WEFT_LOG_FORMAT", default_value = "plain")]
    pub log_format: telemetry::LogFormat,
    /// Seconds to finish in-flight work after SIGTERM.
    #[arg(long, env = "WEFT_SHUTDOWN_GRACE_SECONDS", default_value_t = 30)]
    pub shutdown_grace_seconds: u64,
}

#[cfg(feature = "clap")]
impl CommonArgs {
    pub fn settings(&self, name: &'static str) -> Settings {
        Settings {
            name,
            admin_addr: self.admin_addr,
            log_level: self.log_level.clone(),
            log_format: self.log_format,
            app_probes: None,
        }
    }

    pub fn grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_seconds)
    }
}
