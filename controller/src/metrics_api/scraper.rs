//! The Lease holder's loop: every interval, read each meshed proxy's
//! metrics listener over mTLS (the proxy answers only the controller's
//! id; we accept only the pod's own id) and publish what each pod's
//! window holds.

use super::aggregate::{PodWindow, Scraped};
use super::traffic_stats::{self, Series};
use crate::index::{MeshedPod, SharedIndex};
use bytes::Bytes;
use futures::StreamExt as _;
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper_util::rt::{TokioExecutor, TokioIo};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use rustls::pki_types::ServerName;
use std::{collections::BTreeMap, net::SocketAddr, sync::Arc, time::Duration};
use tokio::{net::TcpStream, sync::watch, time::Instant};
use tokio_rustls::TlsConnector;
use weft_runtime::shutdown;
use weft_tls::{MeshTls, SpiffeId};

/// One scrape's time limit, connection included.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);
/// Scrapes in flight at once.
const CONCURRENCY: usize = 32;
/// A proxy's metrics text past this is refused (thousands of edges).
const MAX_BODY: usize = 8 << 20;

pub struct Scraper {
    pub index: SharedIndex,
    pub tls: MeshTls,
    pub port: u16,
    pub interval: Duration,
    pub window: Duration,
}

type PodKey = (String, String);

struct PodSeries {
    series: Series,
    last_ok: Instant,
    certificate_expiry: Option<f64>,
}

impl Scraper {
    /// Scrapes while `leader` is true and publishes each round to `out`;
    /// a replica that loses the Lease forgets its windows (the next holder
    /// starts its own) and publishes an empty round.
    pub async fn run(
        self,
        mut leader: watch::Receiver<bool>,
        out: watch::Sender<Arc<Scraped>>,
        stop: shutdown::Signal,
    ) {
        let origin = Instant::now();
        let mut pods: BTreeMap<PodKey, PodSeries> = BTreeMap::new();
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let stopped = stop.wait();
        tokio::pin!(stopped);
        loop {
            tokio::select! {
                () = &mut stopped => return,
                _ = ticker.tick() => {}
                r = leader.changed() => if r.is_err() { return },
            }
            if !*leader.borrow_and_update() {
                if !pods.is_empty() {
                    pods.clear();
                    out.send_replace(Arc::new(Scraped::default()));
                }
                continue;
            }
            let targets = self.index.lock().expect("index lock").meshed_pods();
            let round = self.round(&targets).await;
            let now = Instant::now();
            let t = (now - origin).as_secs_f64();
            let (mut ok, mut failed) = (0usize, 0usize);
            for (key, result) in round {
                match result {
                    Ok(ProxyText {
                        scrape,
                        started,
                        certificate_expiry,
                    }) => {
                        ok += 1;
                        let entry = pods.entry(key).or_insert_with(|| {
                            let mut series = Series::new(self.window.as_secs_f64());
                            // A proxy that started within the window counted
                            // from zero: its traffic before this first scrape
                            // belongs in the window too.
                            if let Some(age) = age_if_young(started, unix_now(), self.window) {
                                series.push(t - age, traffic_stats::Scrape::new());
                            }
                            PodSeries {
                                series,
                                last_ok: now,
                                certificate_expiry: None,
                            }
                        });
                        entry.series.push(t, scrape);
                        entry.last_ok = now;
                        entry.certificate_expiry = certificate_expiry;
                    }
                    Err(error) => {
                        failed += 1;
                        tracing::debug!(pod = %format!("{}/{}", key.0, key.1), %error, "scrape failed");
                    }
                }
            }
            // Gone pods, and pods silent for a whole window, leave it.
            let live: std::collections::BTreeSet<PodKey> = targets
                .iter()
                .map(|p| (p.namespace.clone(), p.name.clone()))
                .collect();
            pods.retain(|k, p| live.contains(k) && now - p.last_ok < self.window);
            tracing::debug!(ok, failed, pods = pods.len(), "scrape round");
            out.send_replace(Arc::new(Scraped {
                at: Some(Time(k8s_openapi::jiff::Timestamp::now())),
                pods: pods
                    .iter()
                    .map(|(k, p)| {
                        let window = PodWindow {
                            seconds: p.series.seconds(),
                            edges: p.series.delta(),
                            certificate_expiry: p.certificate_expiry,
                        };
                        (k.clone(), window)
                    })
                    .collect(),
            }));
        }
    }

    async fn round(&self, targets: &[MeshedPod]) -> Vec<(PodKey, anyhow::Result<ProxyText>)> {
        // Owned jobs: the futures then borrow nothing from the loop.
        let jobs: Vec<_> = targets
            .iter()
            .map(|p| {
                let key = (p.namespace.clone(), p.name.clone());
                let target =
                    SpiffeId::new(self.tls.trust_domain(), &p.namespace, &p.service_account).map(
                        |id| {
                            (
                                self.tls.workload_h2_client_config(&id),
                                SocketAddr::new(p.ip, self.port),
                            )
                        },
                    );
                (key, target)
            })
            .collect();
        futures::stream::iter(jobs)
            .map(|(key, target)| async move {
                let result = match target {
                    Ok((tls, addr)) => tokio::time::timeout(SCRAPE_TIMEOUT, scrape(tls, addr))
                        .await
                        .unwrap_or_else(|_| {
                            Err(anyhow::anyhow!("timed out after {SCRAPE_TIMEOUT:?}"))
                        }),
                    Err(e) => Err(e.into()),
                };
                (key, result)
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await
    }
}

/// What one scrape of a proxy says.
struct ProxyText {
    scrape: traffic_stats::Scrape,
    /// Its start time, when it gives one.
    started: Option<f64>,
    certificate_expiry: Option<f64>,
}

async fn scrape(tls: Arc<rustls::ClientConfig>, addr: SocketAddr) -> anyhow::Result<ProxyText> {
    use anyhow::Context as _;
    let text = fetch(tls, addr, "/metrics").await?;
    let scrape = traffic_stats::parse(&text).context("reading the proxy's metrics")?;
    Ok(ProxyText {
        scrape,
        started: traffic_stats::start_time(&text),
        certificate_expiry: traffic_stats::certificate_expiry(&text),
    })
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// How long ago a proxy started (Unix seconds `started`, by its node's
/// clock), when that lies within `window`: its counters then began at zero
/// inside the window. `None` for an older proxy, and for a start time in
/// the future (a node clock ahead of ours), where no age can be trusted.
fn age_if_young(started: Option<f64>, now: f64, window: Duration) -> Option<f64> {
    let age = now - started?;
    (age > 0.0 && age <= window.as_secs_f64()).then_some(age)
}

/// `GET path` over HTTP/2 on a fresh mTLS connection; the answer's body.
pub async fn fetch(
    tls: Arc<rustls::ClientConfig>,
    addr: SocketAddr,
    path: &str,
) -> anyhow::Result<String> {
    let (status, body) = fetch_any(tls, addr, path).await?;
    anyhow::ensure!(status.is_success(), "answered {status}");
    Ok(String::from_utf8(body.to_vec())?)
}

/// `GET path` over HTTP/2 on a fresh mTLS connection, whatever the status.
pub async fn fetch_any(
    tls: Arc<rustls::ClientConfig>,
    addr: SocketAddr,
    path: &str,
) -> anyhow::Result<(http::StatusCode, Bytes)> {
    use anyhow::Context as _;
    let tcp = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    let stream = TlsConnector::from(tls)
        .connect(ServerName::IpAddress(addr.ip().into()), tcp)
        .await
        .with_context(|| format!("TLS with {addr}"))?;
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .context("HTTP/2 handshake")?;
    tokio::spawn(conn);
    let req = http::Request::get(format!("https://{addr}{path}")).body(Empty::<Bytes>::new())?;
    let resp = send
        .send_request(req)
        .await
        .context("sending the request")?;
    let status = resp.status();
    let body = Limited::new(resp.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("reading the answer: {e}"))?
        .to_bytes();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_proxy_started_within_the_window_counts_from_zero() {
        let w = Duration::from_secs(30);
        assert_eq!(age_if_young(Some(990.0), 1000.0, w), Some(10.0));
        assert_eq!(age_if_young(Some(970.0), 1000.0, w), Some(30.0));
        assert_eq!(age_if_young(Some(969.0), 1000.0, w), None);
        assert_eq!(age_if_young(Some(1001.0), 1000.0, w), None);
        assert_eq!(age_if_young(None, 1000.0, w), None);
    }
}
