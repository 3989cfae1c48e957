//! The issuer rotates under load with no restart and no failed request or
//! handshake: a client keeps certifying over fresh TLS connections while the
//! issuer's files are replaced, new leaves chain to the new issuer, and a
//! workload holding an old leaf and one holding a new leaf still complete
//! mesh mTLS with each other.

// Each test binary uses its own part of the shared support.
#[allow(dead_code)]
mod support;

use arc_swap::ArcSwap;
use prometheus_client::metrics::gauge::Gauge;
use rustls::pki_types::{CertificateDer, ServerName};
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, SystemTime},
};
use support::{OneToken, certifier, identity_id, issuer_files, replace};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use weft_api::identity::{CertifyRequest, CertifyResponse};
use weft_identity::{
    certify::CertifyService,
    run::watch_issuer,
    server::{self_credentials, serve},
    test_pki::{id, later, rotation_pair},
};
use weft_runtime::shutdown;
use weft_tls::{
    AnchorStore, Certifier, ClientAuth, CredStore, Credentials, MeshTls, TrustAnchors, WorkloadKey,
};

/// Certifies `web` with a new key over a brand-new TLS connection.
async fn certify_once(
    addr: std::net::SocketAddr,
    anchors: &AnchorStore,
) -> Result<(WorkloadKey, CertifyResponse), String> {
    let key = WorkloadKey::generate().unwrap();
    let client = certifier(
        addr,
        weft_tls::identity_client_config(anchors, &identity_id()),
    );
    let rsp = client
        .certify(CertifyRequest {
            identity: id("web").to_string(),
            token: b"web-token".to_vec(),
            certificate_signing_request: key.csr_der(&id("web")).unwrap(),
        })
        .await
        .map_err(|e| e.to_string())?;
    Ok((key, rsp))
}

fn credentials(key: &WorkloadKey, rsp: &CertifyResponse) -> Credentials {
    let mut chain = vec![CertificateDer::from(rsp.leaf_certificate.clone())];
    chain.extend(
        rsp.intermediate_certificates
            .iter()
            .map(|c| CertificateDer::from(c.clone())),
    );
    Credentials::new(
        id("web"),
        key,
        chain,
        SystemTime::now(),
        SystemTime::now() + Duration::from_secs(3600),
    )
}

/// One mesh mTLS handshake (and a byte each way) from `client` to `server`.
async fn mesh_handshake(anchors: &AnchorStore, client: Credentials, server: Credentials) {
    let td: weft_tls::TrustDomain = "cluster.local".parse().unwrap();
    let store = |c: Credentials| {
        let s = CredStore::new();
        s.publish(Arc::new(c));
        s
    };
    let server_tls = MeshTls::new(td.clone(), anchors.clone(), store(server)).mesh_server_config();
    let client_tls =
        MeshTls::new(td, anchors.clone(), store(client)).mesh_client_config(&id("web"));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accept = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = tokio_rustls::TlsAcceptor::from(server_tls)
            .accept(tcp)
            .await
            .expect("server side of the handshake");
        let mut b = [0u8; 1];
        tls.read_exact(&mut b).await.unwrap();
        tls.write_all(&b).await.unwrap();
        tls.flush().await.unwrap();
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(client_tls)
        .connect(ServerName::IpAddress(addr.ip().into()), tcp)
        .await
        .expect("client side of the handshake");
    tls.write_all(b"x").await.unwrap();
    let mut b = [0u8; 1];
    tls.read_exact(&mut b).await.unwrap();
    assert_eq!(&b, b"x");
    accept.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_issuer_rotates_under_load_without_a_failure() {
    let (root_pem, first, second) = rotation_pair(later(365), later(365));
    let (dir, files) = issuer_files("rotation", &root_pem, &first);
    let anchors = AnchorStore::new(TrustAnchors::from_pem(root_pem.as_bytes()).unwrap());

    let issuer = Arc::new(ArcSwap::from_pointee(files.load().unwrap()));
    let watcher = tokio::spawn(watch_issuer(
        files.clone(),
        issuer.clone(),
        Gauge::default(),
        Duration::from_millis(50),
    ));
    let creds = CredStore::new();
    creds.publish(Arc::new(
        self_credentials(&issuer.load(), &identity_id(), Duration::from_secs(3600)).unwrap(),
    ));
    let tls = MeshTls::new("cluster.local".parse().unwrap(), anchors.clone(), creds)
        .control_plane_server_config(ClientAuth::Optional);
    let svc = CertifyService::new(issuer, OneToken, "cluster.local".parse().unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stop_rx) = shutdown::channel();
    let server = tokio::spawn(serve(listener, tls, svc, stop_rx));

    // The load: certify in a loop until told to stop, bounded in count.
    let done = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn({
        let (done, anchors) = (done.clone(), anchors.clone());
        async move {
            let mut results = Vec::new();
            for _ in 0..2_000 {
                if done.load(Ordering::Relaxed) {
                    break;
                }
                results.push(certify_once(addr, &anchors).await);
            }
            results
        }
    });

    let old = certify_once(addr, &anchors)
        .await
        .expect("a leaf from the first issuer");
    assert_eq!(old.1.intermediate_certificates[0], first.issuer_der());
    replace(&files.cert, &second.issuer_pem);
    replace(&files.key, &second.issuer_key_pem);

    let new = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let got = certify_once(addr, &anchors)
                .await
                .expect("certify during rotation");
            if got.1.intermediate_certificates[0] == second.issuer_der() {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("leaves from the new issuer within 10 s");

    // Keep the load running a little past the swap, then stop it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    done.store(true, Ordering::Relaxed);
    let results = load.await.unwrap();
    let failures: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    let issuers: std::collections::HashSet<_> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|(_, rsp)| rsp.intermediate_certificates[0].clone())
        .collect();
    eprintln!(
        "{} requests during rotation, {} failed",
        results.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "failed during rotation: {failures:?}");
    assert!(
        issuers.contains(&second.issuer_der()),
        "the load saw the new issuer"
    );

    // Old and new leaves still talk to each other, both ways.
    let leaf = |(key, rsp): &(WorkloadKey, CertifyResponse)| credentials(key, rsp);
    mesh_handshake(&anchors, leaf(&old), leaf(&new)).await;
    mesh_handshake(&anchors, leaf(&new), leaf(&old)).await;

    watcher.abort();
    stop.trigger();
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    let _ = std::fs::remove_dir_all(&dir);
}
