//! Following weft-identity's trust anchors: a new bundle replaces the
//! store; one that no longer covers our own certificate asks for a renewal
//! at once; an unusable one, or a failed fetch, keeps the current set.

mod common;

use common::*;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::Notify;
use weft_tls::test_util::{TestCa, Validity};
use weft_tls::{AnchorSource, TrustAnchors, follow_anchors};

/// Answers with whatever the test put in, or an error for `None`.
#[derive(Clone, Default)]
struct Fake(Arc<Mutex<Option<Vec<u8>>>>);

impl Fake {
    fn set(&self, pem: Option<String>) {
        *self.0.lock().unwrap() = pem.map(String::into_bytes);
    }
}

impl AnchorSource for Fake {
    async fn fetch(&self) -> Result<Vec<u8>, String> {
        self.0
            .lock()
            .unwrap()
            .clone()
            .ok_or_else(|| "unavailable".into())
    }
}

const TICK: Duration = Duration::from_millis(10);

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let t0 = tokio::time::Instant::now();
    while !f() {
        assert!(t0.elapsed() < Duration::from_secs(5), "{what}");
        tokio::time::sleep(TICK).await;
    }
}

#[tokio::test]
async fn a_rotation_is_adopted_and_a_bundle_without_our_ca_renews_at_once() {
    let (old, new) = (TestCa::new(), TestCa::new());
    let store = old.anchor_store();
    let ours = old.credentials(&web(), Validity::starting_now(Duration::from_secs(3600)));
    let covers = move |a: &TrustAnchors| {
        let chain = &ours.certified_key().cert;
        let now = rustls_pki_types::UnixTime::since_unix_epoch(
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap(),
        );
        a.verify_client_chain(&chain[0], &chain[1..], now).is_ok()
    };
    let renew = Arc::new(Notify::new());
    let source = Fake::default();
    source.set(Some(format!("{}{}", old.root_pem(), new.root_pem())));
    let task = tokio::spawn(follow_anchors(
        source.clone(),
        store.clone(),
        TICK,
        covers,
        renew.clone(),
    ));

    until("both anchors adopted", || store.current().len() == 2).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(100), renew.notified())
            .await
            .is_err(),
        "a bundle that still covers our certificate asked for a renewal"
    );

    // Garbage and outages change nothing.
    source.set(Some("not a bundle".into()));
    tokio::time::sleep(TICK * 5).await;
    source.set(None);
    tokio::time::sleep(TICK * 5).await;
    assert_eq!(store.current().len(), 2);

    // The old anchor retired: our certificate (from the old CA) must go.
    source.set(Some(new.root_pem()));
    tokio::time::timeout(Duration::from_secs(5), renew.notified())
        .await
        .expect("no renewal asked for when the anchors stopped covering our certificate");
    assert_eq!(store.current().len(), 1);
    task.abort();
}
