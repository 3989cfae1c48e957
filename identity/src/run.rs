//! Keeping the running service current: the issuer reloaded from its files,
//! the service's own certificate renewed, the issuer's remaining lifetime
//! exported and warned about.

use crate::{ca::Issuer, server::self_credentials};
use arc_swap::ArcSwap;
use prometheus_client::metrics::gauge::Gauge;
use std::{path::PathBuf, sync::Arc, time::Duration};
use time::OffsetDateTime;
use weft_tls::{CredStore, SpiffeId};

/// Where the issuer comes from (a mounted kubernetes.io/tls Secret and the
/// trust-anchor bundle).
#[derive(Clone, Debug)]
pub struct IssuerFiles {
    pub anchors: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl IssuerFiles {
    pub fn load(&self) -> anyhow::Result<Issuer> {
        let read = |p: &PathBuf| {
            std::fs::read(p).map_err(|e| anyhow::anyhow!("reading {}: {e}", p.display()))
        };
        let key = String::from_utf8(read(&self.key)?)?;
        Ok(Issuer::from_pem(
            &read(&self.anchors)?,
            &read(&self.cert)?,
            &key,
            OffsetDateTime::now_utc(),
        )?)
    }
}

/// Days left before `not_after`, for the warnings at 30, 7 and 1 days.
pub fn days_left(not_after: OffsetDateTime, now: OffsetDateTime) -> i64 {
    (not_after - now).whole_days()
}

/// Polls the issuer files; a valid new issuer replaces the current one (new
/// leaves chain to it, old ones keep working until they expire); an invalid
/// one is refused and the current one kept.
pub async fn watch_issuer(
    files: IssuerFiles,
    issuer: Arc<ArcSwap<Issuer>>,
    remaining: Gauge,
    interval: Duration,
) {
    let mut last: Option<Vec<u8>> = None;
    let mut ticker = tokio::time::interval(interval);
    loop {
        ticker.tick().await;
        let current = [&files.anchors, &files.cert, &files.key]
            .iter()
            .map(|p| std::fs::read(p).unwrap_or_default())
            .collect::<Vec<_>>()
            .concat();
        if last.as_ref() != Some(&current) {
            if last.is_some() {
                match files.load() {
                    Ok(new) => {
                        tracing::info!(not_after = %new.not_after(), "issuer rotated");
                        issuer.store(Arc::new(new));
                    }
                    Err(error) => {
                        tracing::error!(%error, "refusing the new issuer; keeping the current one")
                    }
                }
            }
            last = Some(current);
        }
        let not_after = issuer.load().not_after();
        let days = days_left(not_after, OffsetDateTime::now_utc());
        remaining.set((not_after - OffsetDateTime::now_utc()).whole_seconds());
        if days <= 1 {
            tracing::error!(days, %not_after, "the issuer expires within a day: rotate it now");
        } else if days <= 7 {
            tracing::warn!(days, %not_after, "the issuer expires within a week");
        } else if days <= 30 {
            tracing::warn!(days, %not_after, "the issuer expires within 30 days");
        }
    }
}

/// Re-issues the service's own certificate at ~70% of its lifetime.
pub async fn renew_own(
    issuer: Arc<ArcSwap<Issuer>>,
    own_id: SpiffeId,
    lifetime: Duration,
    creds: CredStore,
) {
    loop {
        let wait = match self_credentials(&issuer.load(), &own_id, lifetime) {
            Ok(c) => {
                let wait = weft_tls::refresh_in(
                    c.valid_from(),
                    c.valid_until(),
                    std::time::SystemTime::now(),
                    rand::random(),
                );
                creds.publish(Arc::new(c));
                wait
            }
            Err(error) => {
                tracing::error!(%error, "cannot renew the identity service's own certificate; retrying");
                Duration::from_secs(10)
            }
        };
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_left_rounds_down() {
        let now = OffsetDateTime::now_utc();
        assert_eq!(
            days_left(now + Duration::from_secs(7 * 86400 + 3600), now),
            7
        );
        assert_eq!(days_left(now + Duration::from_secs(3600), now), 0);
    }
}
