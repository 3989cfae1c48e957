//! weft-identity keeps answering while a client holds 1,024 connections
//! open without ever starting a TLS handshake: a Certify from another
//! address over a fresh connection is answered within a second. (Accepting
//! once waited while 1,024 handshakes were pending, so such a client
//! stalled every proxy's renewal for the 10 s handshake timeout, again and
//! again.)

// Each test binary uses its own part of the shared support.
#[allow(dead_code)]
mod support;

use arc_swap::ArcSwap;
use std::{sync::Arc, time::Duration};
use support::{OneToken, certifier, identity_id};
use tokio::{net::TcpSocket, time::Instant};
use weft_api::identity::CertifyRequest;
use weft_identity::{
    certify::CertifyService,
    server::{self_credentials, serve},
    test_pki::{id, later, load, pki},
};
use weft_runtime::shutdown;
use weft_tls::{AnchorStore, Certifier, ClientAuth, CredStore, MeshTls, TrustAnchors, WorkloadKey};

const IDLE: usize = 1024;

#[tokio::test]
async fn certify_answers_within_a_second_beside_1024_idle_connections() {
    let p = pki(later(365));
    let issuer = load(&p);
    let anchors = AnchorStore::new(TrustAnchors::from_pem(p.root_pem.as_bytes()).unwrap());
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

    // The idle client, from an address of its own.
    let mut idle = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        let sock = TcpSocket::new_v4().unwrap();
        sock.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        idle.push(sock.connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    let key = WorkloadKey::generate().unwrap();
    let client = certifier(
        addr,
        weft_tls::identity_client_config(&anchors, &identity_id()),
    );
    let t0 = Instant::now();
    let answer = tokio::time::timeout(
        Duration::from_secs(1),
        client.certify(CertifyRequest {
            identity: id("web").to_string(),
            token: b"web-token".to_vec(),
            certificate_signing_request: key.csr_der(&id("web")).unwrap(),
        }),
    )
    .await;
    let took = t0.elapsed();
    let answer =
        answer.unwrap_or_else(|_| panic!("no answer within 1 s beside {IDLE} idle connections"));
    assert!(answer.is_ok(), "{answer:?}");
    eprintln!("Certify answered in {took:?} beside {IDLE} idle connections");

    drop(idle);
    stop.trigger();
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
}
