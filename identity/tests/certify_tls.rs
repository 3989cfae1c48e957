//! The real weft-tls certificate manager against the real Certify server
//! over TLS on loopback: the workload gets a certificate for its own id, and
//! a client that expects another identity service refuses to talk.

// Each test binary uses its own part of the shared support.
#[allow(dead_code)]
mod support;

use arc_swap::ArcSwap;
use std::{sync::Arc, time::Duration};
use support::{OneToken, certifier, identity_id};
use weft_api::identity::CertifyRequest;
use weft_identity::{
    certify::CertifyService,
    server::{self_credentials, serve},
    test_pki::{id, later, load, pki},
};
use weft_runtime::shutdown;
use weft_tls::{
    AnchorStore, CertManager, CertState, Certifier, CertifyError, ClientAuth, CredStore,
    ManagerConfig, MeshTls, SpiffeId, TrustAnchors,
};

#[tokio::test]
async fn the_manager_obtains_a_certificate_over_tls() {
    let p = pki(later(365));
    let issuer = load(&p);
    let anchors = AnchorStore::new(TrustAnchors::from_pem(p.root_pem.as_bytes()).unwrap());

    // The server, with its self-issued certificate.
    let creds = CredStore::new();
    creds.publish(Arc::new(
        self_credentials(&issuer, &identity_id(), Duration::from_secs(3600)).unwrap(),
    ));
    let tls = MeshTls::new("cluster.local".parse().unwrap(), anchors.clone(), creds)
        .control_plane_server_config(ClientAuth::Optional);
    let svc = CertifyService::new(
        Arc::new(ArcSwap::from_pointee(issuer)),
        OneToken,
        "cluster.local".parse().unwrap(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stop_rx) = shutdown::channel();
    let server = tokio::spawn(serve(listener, tls, svc, stop_rx));

    // The workload side.
    let dir = std::env::temp_dir().join(format!("weft-identity-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("token"), "web-token\n").unwrap();
    let manager = CertManager::new(
        ManagerConfig::new(id("web"), identity_id(), dir.join("token")),
        anchors.clone(),
    )
    .unwrap();
    let client = certifier(addr, manager.identity_client_config());
    let mut state = manager.subscribe();
    let run = tokio::spawn(manager.run(client));
    let got = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let CertState::Available(c) = &*state.borrow_and_update() {
                return c.id().clone();
            }
            state.changed().await.unwrap();
        }
    })
    .await
    .expect("a certificate within 10 s");
    assert_eq!(got, id("web"));

    // A client told to expect another identity service refuses this one.
    let controller_id: SpiffeId = "spiffe://cluster.local/ns/weft-system/sa/weft-controller"
        .parse()
        .unwrap();
    let wrong = certifier(
        addr,
        weft_tls::identity_client_config(&anchors, &controller_id),
    );
    let err = wrong
        .certify(CertifyRequest {
            identity: id("web").to_string(),
            token: b"web-token".to_vec(),
            certificate_signing_request: vec![],
        })
        .await
        .unwrap_err();
    assert!(matches!(err, CertifyError::Unavailable(_)), "{err}");

    run.abort();
    stop.trigger();
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    let _ = std::fs::remove_dir_all(&dir);
}
