//! The certificate manager: obtains the workload's certificate and keeps it
//! fresh, for the proxy and the controller alike.
//!
//! Its promises, in order of importance: a working certificate is never
//! dropped because a renewal failed (outages of weft-identity must not cut
//! live traffic), renewals start early enough (~70% of the lifetime, with
//! jitter so a fleet issued together does not renew together) that an outage
//! shorter than the remaining 30% goes unnoticed, and a failing identity
//! service is retried with backoff rather than hammered. The key is made
//! once and reused for every renewal; the token file is re-read before every
//! attempt because the kubelet rotates it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{Notify, watch};
use tokio::time::{Instant, sleep_until};
use weft_api::identity::CertifyRequest;
use weft_runtime::backoff::Backoff;
use weft_runtime::readiness::Condition;

use crate::anchors::AnchorStore;
use crate::certify::{Certifier, CertifyError, ResponseError, validate_response};
use crate::clock::WallClock;
use crate::config::{MeshTls, identity_client_config_counted};
use crate::creds::{CredStore, Credentials};
use crate::csr::{CsrError, WorkloadKey};
use crate::id::SpiffeId;
use crate::trust::TrustStatus;

/// Renew when this fraction of the lifetime has passed…
pub const REFRESH_AT: f64 = 0.7;
/// …minus up to this fraction, at random.
pub const REFRESH_JITTER: f64 = 0.1;
/// Never renew sooner than this after an issue (a CA handing out
/// nearly-expired certificates must not cause a busy loop)…
pub const MIN_REFRESH: Duration = Duration::from_secs(5);
/// …nor later (a very long-lived certificate still gets re-checked daily).
pub const MAX_REFRESH: Duration = Duration::from_secs(24 * 60 * 60);

/// How long after `now` to renew a certificate valid from `valid_from` to
/// `valid_until`: at `REFRESH_AT - REFRESH_JITTER * jitter_unit` of its
/// lifetime, clamped to `[MIN_REFRESH, MAX_REFRESH]`. `jitter_unit` is a
/// draw in `[0, 1]`.
pub fn refresh_in(
    valid_from: SystemTime,
    valid_until: SystemTime,
    now: SystemTime,
    jitter_unit: f64,
) -> Duration {
    let Ok(lifetime) = valid_until.duration_since(valid_from) else {
        // notAfter before notBefore: nothing to wait for.
        return MIN_REFRESH;
    };
    let fraction = REFRESH_AT - REFRESH_JITTER * jitter_unit.clamp(0.0, 1.0);
    let at = valid_from + lifetime.mul_f64(fraction);
    at.duration_since(now)
        .unwrap_or(Duration::ZERO)
        .clamp(MIN_REFRESH, MAX_REFRESH)
}

/// Where the manager stands, published on a `watch` channel.
#[derive(Clone, Debug)]
pub enum CertState {
    /// No certificate yet.
    Initializing,
    /// The certificate in use.
    Available(Arc<Credentials>),
    /// The last certificate expired before a renewal succeeded.
    Expired,
}

/// What the manager needs to know.
#[derive(Clone, Debug)]
pub struct ManagerConfig {
    /// Our own id: what we ask to be certified as.
    pub id: SpiffeId,
    /// The id weft-identity must present.
    pub identity_id: SpiffeId,
    /// The projected ServiceAccount token, re-read before every attempt.
    pub token_file: PathBuf,
    /// Delays between failed attempts.
    pub backoff: Backoff,
    /// Bound on one Certify call, so a hung call cannot delay the retry.
    pub request_timeout: Duration,
    pub clock: WallClock,
}

impl ManagerConfig {
    pub fn new(id: SpiffeId, identity_id: SpiffeId, token_file: PathBuf) -> Self {
        Self {
            id,
            identity_id,
            token_file,
            backoff: Backoff {
                min: Duration::from_secs(1),
                max: Duration::from_secs(60),
                jitter: 0.5,
            },
            request_timeout: Duration::from_secs(10),
            clock: WallClock::system(),
        }
    }
}

/// Why one attempt to get a certificate failed.
#[derive(Debug, thiserror::Error)]
pub enum RenewError {
    #[error("reading the token file {path}: {source}")]
    Token {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the token file {path} is empty")]
    EmptyToken { path: PathBuf },
    #[error("Certify failed: {0}")]
    Certify(#[from] CertifyError),
    #[error("Certify did not answer within {0:?}")]
    Timeout(Duration),
    #[error("refusing the Certify response: {0}")]
    Response(#[from] ResponseError),
}

/// Keeps one workload certificate fresh. Build it, hand its stores to the
/// TLS configs, then spawn [`CertManager::run`].
pub struct CertManager {
    config: ManagerConfig,
    key: WorkloadKey,
    csr: Vec<u8>,
    anchors: AnchorStore,
    creds: CredStore,
    state: watch::Sender<CertState>,
    ready: Option<Condition>,
    /// Cuts the wait before the next renewal short (new anchors that no
    /// longer cover the current certificate).
    renew: Arc<Notify>,
    /// What this workload trusts, and refusals of the control plane.
    trust: Arc<TrustStatus>,
}

impl CertManager {
    /// Generates the key and the CSR (once: renewals reuse them).
    pub fn new(config: ManagerConfig, anchors: AnchorStore) -> Result<Self, CsrError> {
        let key = WorkloadKey::generate()?;
        let csr = key.csr_der(&config.id)?;
        Ok(Self {
            config,
            key,
            csr,
            anchors,
            creds: CredStore::new(),
            state: watch::Sender::new(CertState::Initializing),
            ready: None,
            renew: Arc::default(),
            trust: Arc::default(),
        })
    }

    /// Marks `condition` ready while a valid certificate is in use.
    pub fn with_readiness(mut self, condition: Condition) -> Self {
        condition.set(false);
        self.ready = Some(condition);
        self
    }

    /// The slot the current certificate is published in.
    pub fn creds(&self) -> &CredStore {
        &self.creds
    }

    /// Every TLS config of this workload, presenting the managed certificate.
    pub fn mesh_tls(&self) -> MeshTls {
        MeshTls::new(
            self.config.id.trust_domain().clone(),
            self.anchors.clone(),
            self.creds.clone(),
        )
        .with_control_plane_trust(self.trust.clone())
    }

    /// Counts (and logs) refusals of weft-identity's and, through
    /// [`Self::mesh_tls`], weft-controller's certificates in `trust`.
    pub fn with_control_plane_trust(mut self, trust: Arc<TrustStatus>) -> Self {
        self.trust = trust;
        self
    }

    /// The client config for reaching weft-identity (it must be the
    /// configured identity id); build the [`Certifier`] with it.
    pub fn identity_client_config(&self) -> Arc<rustls::ClientConfig> {
        identity_client_config_counted(&self.anchors, &self.config.identity_id, self.trust.clone())
    }

    /// Notify it to renew now rather than at the scheduled time.
    pub fn renew_trigger(&self) -> Arc<Notify> {
        self.renew.clone()
    }

    /// Rotations as they happen.
    pub fn subscribe(&self) -> watch::Receiver<CertState> {
        self.state.subscribe()
    }

    /// Obtains and renews the certificate, forever. Abort the task to stop.
    pub async fn run<C: Certifier>(self, certifier: C) {
        let mut retries = self.config.backoff.start();
        loop {
            let wait = match self.attempt(&certifier).await {
                Ok(creds) => {
                    retries.reset();
                    let now = self.config.clock.now();
                    let jitter = rand::random::<f64>();
                    let wait = refresh_in(creds.valid_from(), creds.valid_until(), now, jitter);
                    tracing::info!(id = %self.config.id, refresh_in = ?wait, "certificate issued");
                    self.publish(Arc::new(creds));
                    wait
                }
                Err(error) => {
                    let wait = retries.next_delay();
                    let failures = retries.attempt();
                    tracing::warn!(id = %self.config.id, %error, failures, retry_in = ?wait, "certificate renewal failed");
                    wait
                }
            };
            self.wait_watching_expiry(wait).await;
        }
    }

    async fn attempt<C: Certifier>(&self, certifier: &C) -> Result<Credentials, RenewError> {
        let path = &self.config.token_file;
        let token = tokio::fs::read(path)
            .await
            .map_err(|source| RenewError::Token {
                path: path.clone(),
                source,
            })?;
        let token = token.trim_ascii();
        if token.is_empty() {
            return Err(RenewError::EmptyToken { path: path.clone() });
        }
        let request = CertifyRequest {
            identity: self.config.id.to_string(),
            token: token.to_vec(),
            certificate_signing_request: self.csr.clone(),
        };
        let timeout = self.config.request_timeout;
        let response = tokio::time::timeout(timeout, certifier.certify(request))
            .await
            .map_err(|_| RenewError::Timeout(timeout))??;
        // Anchors are read now, not at start: a rotation may have happened.
        let anchors = self.anchors.current();
        let creds = validate_response(
            &response,
            &self.config.id,
            &self.key,
            &anchors,
            self.config.clock.now(),
        )?;
        Ok(creds)
    }

    // Readiness changes before the state is announced: whoever sees the new
    // state must also see the readiness that goes with it.
    fn publish(&self, creds: Arc<Credentials>) {
        self.creds.publish(creds.clone());
        if let Some(ready) = &self.ready {
            ready.ready();
        }
        self.state.send_replace(CertState::Available(creds));
    }

    /// Sleeps `wait`, but withdraws the current certificate if it expires
    /// first: peers would refuse it, and readiness must say so.
    async fn wait_watching_expiry(&self, wait: Duration) {
        tokio::select! {
            () = self.wait_until_due(wait) => {}
            () = self.renew.notified() => {
                tracing::info!(id = %self.config.id, "renewing early");
            }
        }
    }

    async fn wait_until_due(&self, wait: Duration) {
        let deadline = Instant::now() + wait;
        if let Some(current) = self.creds.current() {
            let left = current
                .valid_until()
                .duration_since(self.config.clock.now())
                .unwrap_or(Duration::ZERO);
            let expiry = Instant::now() + left;
            if expiry < deadline {
                sleep_until(expiry).await;
                tracing::error!(id = %self.config.id, "certificate expired before it could be renewed");
                self.creds.clear();
                if let Some(ready) = &self.ready {
                    ready.set(false);
                }
                self.state.send_replace(CertState::Expired);
            }
        }
        sleep_until(deadline).await;
    }
}

impl std::fmt::Debug for CertManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertManager")
            .field("id", &self.config.id)
            .finish_non_exhaustive()
    }
}
