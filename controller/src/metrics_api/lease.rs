//! Which replica scrapes: the holder of a coordination.k8s.io Lease. The
//! holder renews it every few seconds; another replica takes it once it
//! has gone unrenewed for its duration; a holder that cannot renew for
//! that long stops scraping on its own. Wall-clock time, as client-go's
//! leader election does.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, PostParams};
use std::time::Duration;
use tokio::sync::watch;
use weft_runtime::shutdown;

#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    /// This replica (its pod name).
    pub holder: String,
    /// Where other replicas reach this one's peer listener (`ip:port`),
    /// published on the Lease while it holds it.
    pub advertise: Option<String>,
    /// How long an unrenewed Lease stays its holder's.
    pub duration: Duration,
    pub renew_every: Duration,
}

impl LeaseConfig {
    pub fn new(namespace: String, name: String, holder: String, advertise: Option<String>) -> Self {
        Self {
            namespace,
            name,
            holder,
            advertise,
            duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(5),
        }
    }
}

/// What to do with the Lease as found.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Ours: renew it.
    Renew,
    /// Free or expired: take it.
    Take,
    /// Someone else's and live.
    Follow { holder: String },
}

pub fn decide(spec: &LeaseSpec, me: &str, now: Timestamp) -> Decision {
    let holder = spec.holder_identity.as_deref().unwrap_or_default();
    if holder == me {
        return Decision::Renew;
    }
    if holder.is_empty() {
        return Decision::Take;
    }
    let seconds = i64::from(spec.lease_duration_seconds.unwrap_or(0));
    let live = spec
        .renew_time
        .as_ref()
        .is_some_and(|MicroTime(t)| *t + SignedDuration::from_secs(seconds) > now);
    if live {
        Decision::Follow {
            holder: holder.to_string(),
        }
    } else {
        Decision::Take
    }
}

/// The Lease annotation naming the holder's peer listener.
pub const PEER_ANNOTATION: &str = "weft.io/metrics-peer";

/// Keeps `leader` true while this replica holds the Lease, and `holder_peer`
/// naming the current holder's peer listener when another replica holds
/// it; releases the Lease on shutdown so a successor need not wait for it
/// to expire.
pub async fn run(
    client: kube::Client,
    cfg: LeaseConfig,
    leader: watch::Sender<bool>,
    holder_peer: watch::Sender<Option<String>>,
    stop: shutdown::Signal,
) {
    let api: Api<Lease> = Api::namespaced(client, &cfg.namespace);
    let mut ticker = tokio::time::interval(cfg.renew_every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_renewed: Option<tokio::time::Instant> = None;
    let stopped = stop.wait();
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            () = &mut stopped => break,
            _ = ticker.tick() => {}
        }
        match step(&api, &cfg).await {
            Ok((held, peer)) => {
                holder_peer.send_if_modified(|p| {
                    let changed = *p != peer;
                    *p = peer;
                    changed
                });
                if held {
                    last_renewed = Some(tokio::time::Instant::now());
                }
                if *leader.borrow() != held {
                    tracing::info!(lease = %cfg.name, holder = %cfg.holder, held, "metrics scraper lease changed hands");
                }
                leader.send_replace(held);
            }
            Err(error) => {
                tracing::warn!(lease = %cfg.name, %error, "cannot read or renew the metrics scraper lease");
                // Another replica may take over once the Lease expires:
                // stop before that so two never scrape at once.
                let expired = last_renewed.is_none_or(|t| t.elapsed() >= cfg.duration * 2 / 3);
                if expired && *leader.borrow() {
                    tracing::warn!(lease = %cfg.name, "giving up the metrics scraper role");
                    leader.send_replace(false);
                    holder_peer.send_replace(None);
                }
            }
        }
    }
    if *leader.borrow() {
        leader.send_replace(false);
        if let Err(error) = release(&api, &cfg).await {
            tracing::warn!(%error, "could not release the metrics scraper lease; it expires on its own");
        }
    }
}

/// One round: whether the Lease is ours after it, and else where its
/// live holder's peer listener is.
async fn step(api: &Api<Lease>, cfg: &LeaseConfig) -> Result<(bool, Option<String>), kube::Error> {
    let now = Timestamp::now();
    let annotations = || {
        cfg.advertise
            .as_ref()
            .map(|a| [(PEER_ANNOTATION.to_string(), a.clone())].into())
    };
    let Some(mut lease) = api.get_opt(&cfg.name).await? else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(cfg.name.clone()),
                namespace: Some(cfg.namespace.clone()),
                annotations: annotations(),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(cfg.holder.clone()),
                lease_duration_seconds: Some(cfg.duration.as_secs() as i32),
                acquire_time: Some(MicroTime(now)),
                renew_time: Some(MicroTime(now)),
                lease_transitions: Some(0),
                ..Default::default()
            }),
        };
        return conflict_is_false(api.create(&PostParams::default(), &lease).await);
    };
    let peer = lease
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(PEER_ANNOTATION))
        .cloned();
    let spec = lease.spec.get_or_insert_with(Default::default);
    match decide(spec, &cfg.holder, now) {
        Decision::Follow { .. } => return Ok((false, peer)),
        Decision::Take => {
            spec.holder_identity = Some(cfg.holder.clone());
            spec.acquire_time = Some(MicroTime(now));
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        Decision::Renew => {}
    }
    spec.renew_time = Some(MicroTime(now));
    spec.lease_duration_seconds = Some(cfg.duration.as_secs() as i32);
    lease.metadata.annotations = annotations();
    // The resourceVersion read above makes this a compare-and-swap: of two
    // replicas taking an expired Lease, one gets a conflict.
    conflict_is_false(api.replace(&cfg.name, &PostParams::default(), &lease).await)
}

async fn release(api: &Api<Lease>, cfg: &LeaseConfig) -> Result<(), kube::Error> {
    let Some(mut lease) = api.get_opt(&cfg.name).await? else {
        return Ok(());
    };
    let spec = lease.spec.get_or_insert_with(Default::default);
    if spec.holder_identity.as_deref() != Some(cfg.holder.as_str()) {
        return Ok(());
    }
    spec.holder_identity = None;
    spec.renew_time = None;
    api.replace(&cfg.name, &PostParams::default(), &lease)
        .await
        .map(drop)
}

fn conflict_is_false(r: Result<Lease, kube::Error>) -> Result<(bool, Option<String>), kube::Error> {
    match r {
        Ok(_) => Ok((true, None)),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok((false, None)),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(holder: Option<&str>, renewed_at: i64) -> LeaseSpec {
        LeaseSpec {
            holder_identity: holder.map(str::to_string),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(Timestamp::from_second(renewed_at).unwrap())),
            ..Default::default()
        }
    }

    #[test]
    fn takes_only_free_or_expired_leases() {
        let at = |s| Timestamp::from_second(s).unwrap();
        assert_eq!(decide(&spec(Some("me"), 0), "me", at(100)), Decision::Renew);
        assert_eq!(decide(&spec(None, 100), "me", at(101)), Decision::Take);
        assert_eq!(
            decide(&spec(Some("other"), 100), "me", at(114)),
            Decision::Follow {
                holder: "other".into()
            }
        );
        assert_eq!(
            decide(&spec(Some("other"), 100), "me", at(115)),
            Decision::Take
        );
        let mut never_renewed = spec(Some("other"), 0);
        never_renewed.renew_time = None;
        assert_eq!(decide(&never_renewed, "me", at(1)), Decision::Take);
    }
}
