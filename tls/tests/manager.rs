//! The certificate manager under paused time: when it renews, how it backs
//! off, what it keeps, and which answers it refuses.

mod common;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use common::*;
use tokio::sync::watch;
use tokio::time::Instant;
use weft_api::identity::{CertifyRequest, CertifyResponse};
use weft_runtime::backoff::Backoff;
use weft_runtime::readiness::Readiness;
use weft_tls::test_util::{TestCa, Validity};
use weft_tls::{
    CertManager, CertState, Certifier, CertifyError, ManagerConfig, SpiffeId, WallClock,
};

const HOUR: Duration = Duration::from_secs(3600);
const MINUTE: Duration = Duration::from_secs(60);

/// 2030-01-01T00:00:00Z: inside the test CA's validity, and fixed, so these
/// tests mean the same on any day.
fn start() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_893_456_000)
}

/// What the fake identity service does on its next call.
#[derive(Clone, Copy, Debug)]
enum Answer {
    Issue,
    Fail,
    Garbage,
    OtherId,
    OtherKey,
    OtherCa,
}

struct Call {
    at: Instant,
    token: Vec<u8>,
}

/// A fake weft-identity signing with a [`TestCa`]; answers from a script,
/// then `default` once the script is exhausted.
#[derive(Clone)]
struct FakeIdentity {
    ca: Arc<TestCa>,
    other_ca: Arc<TestCa>,
    clock: WallClock,
    lifetime: Duration,
    script: Arc<Mutex<VecDeque<Answer>>>,
    default: Arc<Mutex<Answer>>,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl FakeIdentity {
    fn new(ca: Arc<TestCa>, clock: WallClock, lifetime: Duration) -> Self {
        Self {
            ca,
            other_ca: Arc::new(TestCa::named("not the mesh root")),
            clock,
            lifetime,
            script: Default::default(),
            default: Arc::new(Mutex::new(Answer::Issue)),
            calls: Default::default(),
        }
    }

    fn script(&self, answers: &[Answer]) {
        self.script.lock().unwrap().extend(answers);
    }

    fn set_default(&self, answer: Answer) {
        *self.default.lock().unwrap() = answer;
    }

    fn call_times(&self) -> Vec<Instant> {
        self.calls.lock().unwrap().iter().map(|c| c.at).collect()
    }

    fn tokens(&self) -> Vec<Vec<u8>> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .map(|c| c.token.clone())
            .collect()
    }
}

impl Certifier for FakeIdentity {
    async fn certify(&self, request: CertifyRequest) -> Result<CertifyResponse, CertifyError> {
        self.calls.lock().unwrap().push(Call {
            at: Instant::now(),
            token: request.token.clone(),
        });
        let answer = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(*self.default.lock().unwrap());
        let validity = Validity::starting_at(self.clock.now(), self.lifetime);
        let id: SpiffeId = request.identity.parse().unwrap();
        let csr = &request.certificate_signing_request;
        let signed = |ca: &TestCa, id: &SpiffeId| ca.sign_csr(csr, id, validity).unwrap();
        Ok(match answer {
            Answer::Issue => signed(&self.ca, &id),
            Answer::Fail => {
                return Err(CertifyError::Unavailable("connection refused".into()));
            }
            Answer::Garbage => CertifyResponse {
                leaf_certificate: b"not a certificate".to_vec(),
                ..Default::default()
            },
            Answer::OtherId => signed(&self.ca, &api()),
            Answer::OtherCa => signed(&self.other_ca, &id),
            Answer::OtherKey => {
                let (_, chain) = self.ca.issue(&id, validity);
                CertifyResponse {
                    leaf_certificate: chain[0].to_vec(),
                    ..Default::default()
                }
            }
        })
    }
}

struct Harness {
    fake: FakeIdentity,
    state: watch::Receiver<CertState>,
    readiness: Readiness,
    creds: weft_tls::CredStore,
    token_file: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.token_file);
    }
}

/// Starts a manager for `web()` with a 1 h certificate lifetime and a
/// jitter-free backoff of 1 s doubling to 60 s.
fn start_manager(ca: Arc<TestCa>, script: &[Answer]) -> Harness {
    let clock = WallClock::following_tokio(start());
    let fake = FakeIdentity::new(ca.clone(), clock.clone(), HOUR);
    fake.script(script);
    let token_file = std::env::temp_dir().join(format!("weft-tls-token-{}", rand::random::<u64>()));
    std::fs::write(&token_file, "token-1\n").unwrap();
    let identity_id = id("spiffe://cluster.local/ns/weft-system/sa/weft-identity");
    let mut config = ManagerConfig::new(web(), identity_id, token_file.clone());
    config.clock = clock;
    config.backoff = Backoff {
        min: Duration::from_secs(1),
        max: MINUTE,
        jitter: 0.0,
    };
    let readiness = Readiness::new();
    let manager = CertManager::new(config, ca.anchor_store())
        .unwrap()
        .with_readiness(readiness.register("certificate"));
    let state = manager.subscribe();
    let creds = manager.creds().clone();
    let task = tokio::spawn(manager.run(fake.clone()));
    Harness {
        fake,
        state,
        readiness,
        creds,
        token_file,
        task,
    }
}

impl Harness {
    /// Waits for the next state change that satisfies `pred`.
    async fn until(&mut self, pred: impl Fn(&CertState) -> bool) -> CertState {
        let state = self.state.wait_for(|s| pred(s)).await.unwrap().clone();
        self.state.mark_unchanged();
        state
    }

    async fn next_cert(&mut self) -> Arc<weft_tls::Credentials> {
        self.state.changed().await.unwrap();
        match self.until(|s| matches!(s, CertState::Available(_))).await {
            CertState::Available(c) => c,
            _ => unreachable!(),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn first_certificate_then_renewal_at_about_seventy_percent() {
    let ca = Arc::new(TestCa::new());
    let mut h = start_manager(ca, &[]);
    assert!(
        !h.readiness.is_ready(),
        "not ready before the first certificate"
    );

    let t0 = Instant::now();
    let first = h.next_cert().await;
    assert_eq!(
        t0.elapsed(),
        Duration::ZERO,
        "the first request is immediate"
    );
    assert!(h.readiness.is_ready());
    assert_eq!(first.id(), &web());
    assert_eq!(first.valid_until(), start() + HOUR);
    assert!(Arc::ptr_eq(&h.creds.current().unwrap(), &first));

    let second = h.next_cert().await;
    let elapsed = t0.elapsed();
    // 70% of an hour is 42 min; the jitter moves it down by up to 10%.
    assert!(
        elapsed >= 36 * MINUTE && elapsed <= 42 * MINUTE,
        "{elapsed:?}"
    );
    assert!(!Arc::ptr_eq(&first, &second));
    assert_eq!(h.fake.call_times().len(), 2);
    // Same key, new certificate.
    assert_ne!(first.leaf(), second.leaf());
}

#[tokio::test(start_paused = true)]
async fn failures_back_off_and_the_old_certificate_stays_until_it_expires() {
    let ca = Arc::new(TestCa::new());
    let mut h = start_manager(ca, &[]);
    let t0 = Instant::now();
    let first = h.next_cert().await;
    h.fake.set_default(Answer::Fail);

    let state = h.until(|s| matches!(s, CertState::Expired)).await;
    assert!(matches!(state, CertState::Expired));
    // Expired exactly at notAfter, not before, and was served until then.
    assert_eq!(t0.elapsed(), HOUR);
    assert!(h.creds.current().is_none());
    assert!(!h.readiness.is_ready());

    let times = h.fake.call_times();
    let renewal_start = times[1] - t0;
    assert!(renewal_start >= 36 * MINUTE && renewal_start <= 42 * MINUTE);
    let gaps: Vec<Duration> = times.windows(2).skip(1).map(|w| w[1] - w[0]).collect();
    let secs = |n: u64| Duration::from_secs(n);
    assert_eq!(
        &gaps[..7],
        &[
            secs(1),
            secs(2),
            secs(4),
            secs(8),
            secs(16),
            secs(32),
            secs(60)
        ],
        "exponential, capped at the maximum"
    );
    assert!(gaps[7..].iter().all(|g| *g == MINUTE));
    drop(first);

    // The identity service comes back: a new certificate, ready again.
    h.fake.set_default(Answer::Issue);
    let back = h.next_cert().await;
    assert!(h.readiness.is_ready());
    assert_eq!(back.id(), &web());
    assert!(t0.elapsed() <= HOUR + MINUTE);
}

#[tokio::test(start_paused = true)]
async fn a_failed_renewal_never_replaces_a_working_certificate() {
    let ca = Arc::new(TestCa::new());
    let mut h = start_manager(ca, &[]);
    let first = h.next_cert().await;
    // Every kind of bad answer once, then a good one.
    h.fake.script(&[
        Answer::Fail,
        Answer::Garbage,
        Answer::OtherId,
        Answer::OtherKey,
        Answer::OtherCa,
    ]);
    // A refusal publishes nothing: the first change anyone sees is the
    // good renewal, and until then the first certificate stays in use.
    let mut watcher = h.state.clone();
    let kept = tokio::spawn(async move {
        watcher.changed().await.unwrap();
        let CertState::Available(now) = watcher.borrow().clone() else {
            panic!("a refusal changed the state");
        };
        now
    });
    tokio::time::sleep(36 * MINUTE - Duration::from_secs(1)).await;
    assert!(Arc::ptr_eq(&h.creds.current().unwrap(), &first));
    let renewed = h.next_cert().await;
    assert!(Arc::ptr_eq(&kept.await.unwrap(), &renewed));
    assert_eq!(
        h.fake.call_times().len(),
        7,
        "five refusals, then the renewal"
    );
    assert_ne!(first.leaf(), renewed.leaf());
    assert_eq!(renewed.id(), &web());
    assert!(h.readiness.is_ready());
}

#[tokio::test(start_paused = true)]
async fn bad_answers_before_the_first_certificate_keep_it_not_ready() {
    let ca = Arc::new(TestCa::new());
    let mut h = start_manager(
        ca,
        &[
            Answer::Garbage,
            Answer::OtherId,
            Answer::OtherKey,
            Answer::OtherCa,
        ],
    );
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert!(matches!(*h.state.borrow(), CertState::Initializing));
    assert!(!h.readiness.is_ready());
    assert!(h.creds.current().is_none());
    let first = h.next_cert().await;
    // Backoff 1 + 2 + 4 + 8 s between the five calls.
    assert_eq!(t0.elapsed(), Duration::from_secs(15));
    assert_eq!(first.id(), &web());
    assert!(h.readiness.is_ready());
}

#[tokio::test(start_paused = true)]
async fn the_token_is_read_again_for_every_attempt() {
    let ca = Arc::new(TestCa::new());
    let mut h = start_manager(ca, &[Answer::Fail]);
    // The first attempt reads token-1 (and fails); rotate before the retry.
    tokio::time::sleep(Duration::from_millis(500)).await;
    std::fs::write(&h.token_file, "token-2").unwrap();
    h.next_cert().await;
    // A missing token file fails the attempt without calling Certify.
    std::fs::remove_file(&h.token_file).unwrap();
    tokio::time::sleep(43 * MINUTE).await;
    assert_eq!(h.fake.tokens().len(), 2);
    std::fs::write(&h.token_file, "token-3").unwrap();
    h.next_cert().await;
    assert_eq!(
        h.fake.tokens(),
        vec![
            b"token-1".to_vec(),
            b"token-2".to_vec(),
            b"token-3".to_vec()
        ]
    );
}

#[test]
fn refresh_in_is_seventy_percent_with_downward_jitter_and_bounds() {
    use weft_tls::manager::{MAX_REFRESH, MIN_REFRESH};
    use weft_tls::refresh_in;
    let from = start();
    let until = from + HOUR;
    assert_eq!(refresh_in(from, until, from, 0.0), 42 * MINUTE);
    assert_eq!(refresh_in(from, until, from, 1.0), 36 * MINUTE);
    assert_eq!(refresh_in(from, until, from, 0.5), 39 * MINUTE);
    // Measured from now, not from issuance.
    assert_eq!(
        refresh_in(from, until, from + 10 * MINUTE, 0.0),
        32 * MINUTE
    );
    // Out-of-range draws are clamped.
    assert_eq!(refresh_in(from, until, from, 7.0), 36 * MINUTE);
    // Past the refresh point, or a nonsensical certificate: the minimum.
    assert_eq!(
        refresh_in(from, until, from + 50 * MINUTE, 0.0),
        MIN_REFRESH
    );
    assert_eq!(refresh_in(until, from, from, 0.0), MIN_REFRESH);
    // A year-long certificate is still renewed within a day.
    assert_eq!(
        refresh_in(from, from + 365 * 24 * HOUR, from, 0.0),
        MAX_REFRESH
    );
}
