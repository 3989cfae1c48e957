//! Hot swaps: a new certificate or a new anchor set is used by the very next
//! handshake, with the configs built once before the swap.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use weft_tls::test_util::{TestCa, Validity};
use weft_tls::{AnchorStore, CredStore, MeshTls, TrustAnchors, peer_id, watch_anchors};

const HOUR: Duration = Duration::from_secs(3600);
/// How long a test waits for the watcher to converge (it polls every 10 ms).
const PATIENCE: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(10);

#[tokio::test]
async fn the_next_handshake_presents_a_rotated_certificate() {
    let ca = TestCa::new();
    let server_creds = CredStore::new();
    let server = MeshTls::new(
        api().trust_domain().clone(),
        ca.anchor_store(),
        server_creds.clone(),
    );
    let client_creds = CredStore::new();
    client_creds.publish(ca.credentials(&web(), Validity::starting_now(HOUR)));
    let client = MeshTls::new(
        web().trust_domain().clone(),
        ca.anchor_store(),
        client_creds.clone(),
    );
    let (client_config, server_config) = (
        client.mesh_client_config(&api()),
        server.mesh_server_config(),
    );

    for _ in 0..2 {
        let creds = ca.credentials(&api(), Validity::starting_now(HOUR));
        server_creds.publish(creds.clone());
        let client_side = ca.credentials(&web(), Validity::starting_now(HOUR));
        client_creds.publish(client_side.clone());

        let done = handshake(client_config.clone(), server_config.clone())
            .await
            .established()
            .await;
        let seen_by_client = done.client.get_ref().1.peer_certificates().unwrap();
        assert_eq!(&seen_by_client[0], creds.leaf());
        let seen_by_server = done.server.get_ref().1.peer_certificates().unwrap();
        assert_eq!(&seen_by_server[0], client_side.leaf());
    }
}

#[tokio::test]
async fn the_next_handshake_uses_a_rotated_anchor_set() {
    let old_ca = TestCa::named("old root");
    let new_ca = TestCa::named("new root");
    // The server already runs on the new CA; the client still trusts only
    // the old one, then receives a bundle with both.
    let server_creds = CredStore::new();
    server_creds.publish(new_ca.credentials(&api(), Validity::starting_now(HOUR)));
    let both =
        TrustAnchors::from_pem(format!("{}{}", old_ca.root_pem(), new_ca.root_pem()).as_bytes())
            .unwrap();
    assert_eq!(both.len(), 2);
    let server_anchors = AnchorStore::new(
        TrustAnchors::from_pem(format!("{}{}", old_ca.root_pem(), new_ca.root_pem()).as_bytes())
            .unwrap(),
    );
    let server = MeshTls::new(api().trust_domain().clone(), server_anchors, server_creds);

    let client_anchors = old_ca.anchor_store();
    let client_creds = CredStore::new();
    client_creds.publish(old_ca.credentials(&web(), Validity::starting_now(HOUR)));
    let client = MeshTls::new(
        web().trust_domain().clone(),
        client_anchors.clone(),
        client_creds,
    );
    let (client_config, server_config) = (
        client.mesh_client_config(&api()),
        server.mesh_server_config(),
    );

    let outcome = handshake(client_config.clone(), server_config.clone()).await;
    assert!(outcome.client.is_err(), "new CA not trusted yet");

    client_anchors.replace(both);
    let done = handshake(client_config.clone(), server_config.clone())
        .await
        .established()
        .await;
    assert_eq!(peer_id(done.server.get_ref().1), Some(web()));

    // Dropping the old root from the client's set applies just as fast: the
    // server still presents a new-CA certificate, so that keeps working,
    // while a server still on the old CA would now be refused.
    client_anchors.replace(new_ca.anchors());
    handshake(client_config.clone(), server_config)
        .await
        .established()
        .await;
    let stale = MeshTls::new(api().trust_domain().clone(), old_ca.anchor_store(), {
        let c = CredStore::new();
        c.publish(old_ca.credentials(&api(), Validity::starting_now(HOUR)));
        c
    });
    let outcome = handshake(client_config, stale.mesh_server_config()).await;
    assert!(outcome.client.is_err(), "old CA no longer trusted");
}

/// Waits until `store` holds a set other than `before`.
async fn swapped(store: &AnchorStore, before: &Arc<TrustAnchors>) -> Arc<TrustAnchors> {
    tokio::time::timeout(PATIENCE, async {
        loop {
            let now = store.current();
            if !Arc::ptr_eq(&now, before) {
                return now;
            }
            tokio::time::sleep(POLL).await;
        }
    })
    .await
    .expect("the watcher did not swap the anchors")
}

/// Several poll intervals pass without a swap.
async fn assert_unchanged(store: &AnchorStore, before: &Arc<TrustAnchors>) {
    tokio::time::sleep(POLL * 20).await;
    assert!(
        Arc::ptr_eq(&store.current(), before),
        "anchors must not change"
    );
}

/// Writes `content` the way the kubelet updates a ConfigMap volume: into a
/// new directory, then an atomic rename of the `..data` symlink.
fn configmap_write(dir: &Path, generation: u32, content: &str) {
    let target = dir.join(format!("..gen{generation}"));
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("ca-bundle.pem"), content).unwrap();
    let tmp = dir.join("..data_tmp");
    std::os::unix::fs::symlink(target.file_name().unwrap(), &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
    let file = dir.join("ca-bundle.pem");
    if std::fs::symlink_metadata(&file).is_err() {
        std::os::unix::fs::symlink("..data/ca-bundle.pem", &file).unwrap();
    }
}

#[tokio::test]
async fn the_watcher_follows_configmap_swaps_and_keeps_the_old_set_on_bad_input() {
    let dir = tempdir();
    let first = TestCa::named("first");
    let second = TestCa::named("second");
    configmap_write(&dir, 1, &first.root_pem());
    let path = dir.join("ca-bundle.pem");

    let store = AnchorStore::from_file(&path).unwrap();
    let initial = store.current();
    let watcher = tokio::spawn(watch_anchors(path.clone(), POLL, store.clone()));
    // The first poll reloads the file (it may have changed since start).
    let loaded = swapped(&store, &initial).await;
    assert_eq!(loaded.len(), 1);

    configmap_write(&dir, 2, &second.root_pem());
    let rotated = swapped(&store, &loaded).await;
    let leaf = second.credentials(&web(), Validity::starting_now(HOUR));
    let now = rustls_pki_types::UnixTime::now();
    rotated.verify_client_chain(leaf.leaf(), &[], now).unwrap();

    configmap_write(
        &dir,
        3,
        "this is not PEM\n-----BEGIN CERTIFICATE-----\nAAAA\n",
    );
    assert_unchanged(&store, &rotated).await;
    configmap_write(&dir, 4, "");
    assert_unchanged(&store, &rotated).await;
    std::fs::remove_file(&path).unwrap();
    assert_unchanged(&store, &rotated).await;

    // A plain in-place write (same size, maybe same mtime) is seen too:
    // the watcher compares content.
    std::fs::write(&path, format!("{}{}", second.root_pem(), first.root_pem())).unwrap();
    let both = swapped(&store, &rotated).await;
    assert_eq!(both.len(), 2);
    watcher.abort();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn anchor_bundles_are_refused_for_each_way_they_can_be_wrong() {
    use weft_tls::AnchorError;
    assert!(matches!(
        TrustAnchors::from_pem(b""),
        Err(AnchorError::Empty)
    ));
    assert!(matches!(
        TrustAnchors::from_pem(b"just text"),
        Err(AnchorError::Empty)
    ));
    assert!(matches!(
        TrustAnchors::from_pem(b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"),
        Err(AnchorError::Pem(_))
    ));
    let garbage = rustls_pki_types::CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x01]);
    assert!(matches!(
        TrustAnchors::from_der([garbage]),
        Err(AnchorError::BadAnchor { index: 0, .. })
    ));
    assert!(matches!(
        AnchorStore::from_file(Path::new("/nonexistent/ca-bundle.pem")),
        Err(AnchorError::Read { .. })
    ));
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "weft-tls-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
