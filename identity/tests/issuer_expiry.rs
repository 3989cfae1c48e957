//! Recovering from an issuer that ran out, the steps of docs/identity.md:
//! a workload certified the way a proxy is (`weft_tls::workload::start`,
//! over real TLS and gRPC to the real Certify service) loses its
//! certificate when the issuer can no longer sign; putting a new issuer
//! signed by the same root in place brings it back, with no restart and
//! within the workload's retry backoff.

// Each test binary uses its own part of the shared support.
#[allow(dead_code)]
mod support;

use arc_swap::ArcSwap;
use prometheus_client::metrics::gauge::Gauge;
use std::{sync::Arc, time::Duration};
use support::{OneToken, identity_id, issuer_files, replace};
use time::OffsetDateTime;
use tokio::{net::TcpListener, sync::watch};
use weft_identity::{
    certify::CertifyService,
    run::watch_issuer,
    server::{self_credentials, serve},
    test_pki::{id, later, rotation_pair},
};
use weft_runtime::{readiness::Readiness, shutdown};
use weft_tls::{
    AnchorStore, CertState, ClientAuth, CredStore, MeshTls, TrustAnchors,
    workload::{Anchors, Workload, start},
};

/// Waits up to `limit` for the workload's certificate state to satisfy `ok`.
async fn until(
    state: &mut watch::Receiver<CertState>,
    limit: Duration,
    what: &str,
    ok: impl Fn(&CertState) -> bool,
) {
    tokio::time::timeout(limit, state.wait_for(|s| ok(s)))
        .await
        .unwrap_or_else(|_| panic!("{what}: not within {limit:?}"))
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workload_recovers_without_restart_once_a_new_issuer_replaces_one_that_ran_out() {
    // The issuer signs until it has less than five minutes left
    // (`shortest_leaf`): this one, for about five seconds. Its successor,
    // signed by the same root, is valid for a year.
    let first_until = OffsetDateTime::now_utc() + Duration::from_secs(300 + 5);
    let (root_pem, first, second) = rotation_pair(first_until, later(365));
    let (dir, files) = issuer_files("expiry", &root_pem, &first);
    let token = dir.join("token");
    std::fs::write(&token, "web-token").unwrap();

    let issuer = Arc::new(ArcSwap::from_pointee(files.load().unwrap()));
    tokio::spawn(watch_issuer(
        files.clone(),
        issuer.clone(),
        Gauge::default(),
        Duration::from_millis(200),
    ));
    let anchors = AnchorStore::new(TrustAnchors::from_pem(root_pem.as_bytes()).unwrap());
    // weft-identity's own certificate lasts as long as the issuer does.
    let own = CredStore::new();
    own.publish(Arc::new(
        self_credentials(&issuer.load(), &identity_id(), Duration::from_secs(3600)).unwrap(),
    ));
    let tls = MeshTls::new("cluster.local".parse().unwrap(), anchors, own)
        .control_plane_server_config(ClientAuth::Optional);
    let mut svc = CertifyService::new(issuer, OneToken, "cluster.local".parse().unwrap());
    // Short certificates, so the workload's runs out within seconds.
    svc.lifetime = Duration::from_secs(8);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_stop, stop_rx) = shutdown::channel();
    tokio::spawn(serve(listener, tls, svc, stop_rx));

    let readiness = Readiness::new();
    let (workload, mut state) = start(
        Workload {
            id: id("web"),
            identity_id: identity_id(),
            identity_addr: addr.to_string(),
            token_file: token,
            anchors: Anchors::FromIdentity(root_pem.clone().into_bytes()),
            control_plane_trust: Arc::default(),
        },
        readiness.register("certificate"),
    )
    .unwrap();
    until(&mut state, Duration::from_secs(10), "certified", |s| {
        matches!(s, CertState::Available(_))
    })
    .await;
    assert!(readiness.is_ready());

    // The issuer stops signing; the certificate runs out; the workload is
    // no longer ready (its pod leaves its Services' endpoints).
    until(
        &mut state,
        Duration::from_secs(30),
        "the certificate ran out",
        |s| matches!(s, CertState::Expired),
    )
    .await;
    assert!(!readiness.is_ready());
    assert!(
        workload.creds().current().is_none(),
        "an expired certificate is withdrawn"
    );

    // The documented recovery: a new issuer from the same root, in place.
    replace(&files.cert, &second.issuer_pem);
    replace(&files.key, &second.issuer_key_pem);
    // Backoff starts at a second and doubles (jitter 0.5): a few attempts
    // have failed by now, so the next comes within about half a minute.
    until(
        &mut state,
        Duration::from_secs(60),
        "certified again",
        |s| matches!(s, CertState::Available(_)),
    )
    .await;
    assert!(readiness.is_ready());
    let creds = workload.creds().current().expect("a certificate again");
    assert_eq!(
        creds.certified_key().cert[1].as_ref(),
        second.issuer_der().as_slice(),
        "chains through the new issuer"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
