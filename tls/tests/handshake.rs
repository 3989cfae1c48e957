//! Real rustls handshakes between weft's client and server configs: who is
//! accepted and who is refused, and why.

mod common;

use std::time::{Duration, SystemTime};

use common::*;
use rustls::CertificateError;
use weft_api::contract::alpn;
use weft_tls::test_util::{TestCa, Validity};
use weft_tls::{ClientAuth, CredStore, MeshTls, PeerIdError, identity_client_config, peer_id};

const HOUR: Duration = Duration::from_secs(3600);

/// A workload's TLS inputs, holding a fresh certificate for `id` from `ca`.
fn workload(ca: &TestCa, id: &weft_tls::SpiffeId) -> MeshTls {
    let creds = CredStore::new();
    creds.publish(ca.credentials(id, Validity::starting_now(HOUR)));
    MeshTls::new(id.trust_domain().clone(), ca.anchor_store(), creds)
}

#[tokio::test]
async fn mesh_peers_with_the_expected_ids_connect_and_learn_each_other() {
    let ca = TestCa::new();
    let server = workload(&ca, &api());
    let client = workload(&ca, &web());
    let done = handshake(
        client.mesh_client_config(&api()),
        server.mesh_server_config(),
    )
    .await
    .established()
    .await;
    let (_, server_conn) = done.server.get_ref();
    assert_eq!(peer_id(server_conn), Some(web()));
    assert_eq!(server_conn.alpn_protocol(), Some(alpn::MESH));
    assert_eq!(peer_id(done.client.get_ref().1), Some(api()));
    assert_eq!(
        server_conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
}

#[tokio::test]
async fn chains_through_an_intermediate() {
    let ca = TestCa::with_intermediate();
    let server = workload(&ca, &api());
    let client = workload(&ca, &web());
    let done = handshake(
        client.mesh_client_config(&api()),
        server.mesh_server_config(),
    )
    .await
    .established()
    .await;
    assert_eq!(peer_id(done.server.get_ref().1), Some(web()));
}

#[tokio::test]
async fn a_valid_certificate_for_another_id_is_refused() {
    let ca = TestCa::new();
    let server = workload(&ca, &api());
    let client = workload(&ca, &web());
    let expected = id("spiffe://cluster.local/ns/shop/sa/db");
    let err = handshake(
        client.mesh_client_config(&expected),
        server.mesh_server_config(),
    )
    .await
    .client_error();
    match peer_id_error(&err) {
        Some(PeerIdError::Unexpected { expected: e, found }) => {
            assert_eq!(e, &expected);
            assert_eq!(found, &api());
        }
        other => panic!("wrong error {err:?} / {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains(expected.as_str()) && message.contains(api().as_str()),
        "{message}"
    );
}

#[tokio::test]
async fn a_server_from_another_ca_is_refused() {
    let ours = TestCa::new();
    let theirs = TestCa::named("someone else's root");
    let server = workload(&theirs, &api());
    let client = workload(&ours, &web());
    let err = handshake(
        client.mesh_client_config(&api()),
        server.mesh_server_config(),
    )
    .await
    .client_error();
    assert_eq!(
        err,
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
    );
}

#[tokio::test]
async fn a_server_from_a_ca_with_our_roots_name_is_refused() {
    let ours = TestCa::new();
    let lookalike = TestCa::new();
    let server = workload(&lookalike, &api());
    let client = workload(&ours, &web());
    let err = handshake(
        client.mesh_client_config(&api()),
        server.mesh_server_config(),
    )
    .await
    .client_error();
    assert_eq!(
        err,
        rustls::Error::InvalidCertificate(CertificateError::BadSignature)
    );
}

#[tokio::test]
async fn a_client_from_another_ca_is_refused() {
    let ours = TestCa::new();
    let theirs = TestCa::named("someone else's root");
    let server = workload(&ours, &api());
    // The client trusts our CA (so it accepts the server) but its own
    // certificate comes from elsewhere.
    let creds = CredStore::new();
    creds.publish(theirs.credentials(&web(), Validity::starting_now(HOUR)));
    let client = MeshTls::new(web().trust_domain().clone(), ours.anchor_store(), creds);
    let err = handshake(
        client.mesh_client_config(&api()),
        server.mesh_server_config(),
    )
    .await
    .server_error();
    assert_eq!(
        err,
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
    );
}

#[tokio::test]
async fn a_client_of_another_trust_domain_is_refused() {
    let ca = TestCa::new();
    let server = workload(&ca, &api());
    let foreign = id("spiffe://other.example/ns/shop/sa/web");
    let client = workload(&ca, &foreign);
    let err = handshake(
        client.mesh_client_config(&api()),
        server.mesh_server_config(),
    )
    .await
    .server_error();
    assert!(
        matches!(
            peer_id_error(&err),
            Some(PeerIdError::Leaf(
                weft_tls::LeafError::ForeignTrustDomain { .. }
            ))
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_mesh_server_requires_a_client_certificate() {
    let ca = TestCa::new();
    let server = workload(&ca, &api());
    let anonymous = MeshTls::new(
        api().trust_domain().clone(),
        ca.anchor_store(),
        CredStore::new(),
    );
    let err = handshake(
        anonymous.mesh_client_config(&api()),
        server.mesh_server_config(),
    )
    .await
    .server_error();
    assert_eq!(err, rustls::Error::NoCertificatesPresented);
}

#[tokio::test]
async fn the_mesh_server_requires_the_mesh_alpn() {
    let ca = TestCa::new();
    let server = workload(&ca, &api());
    let client = workload(&ca, &web());

    let mut no_alpn = (*client.mesh_client_config(&api())).clone();
    no_alpn.alpn_protocols.clear();
    let outcome = handshake(no_alpn.into(), server.mesh_server_config()).await;
    assert!(
        outcome.server.is_err(),
        "a client offering no ALPN must be refused"
    );

    let err = handshake(
        client.control_plane_client_config(&api()),
        server.mesh_server_config(),
    )
    .await
    .server_error();
    assert_eq!(err, rustls::Error::NoApplicationProtocol);
}

#[tokio::test]
async fn a_leaf_with_two_uri_sans_is_refused() {
    let ca = TestCa::new();
    let (key, chain) = ca.issue_with_uris(
        &[api().as_str(), web().as_str()],
        Validity::starting_now(HOUR),
    );
    let now = SystemTime::now();
    let creds = CredStore::new();
    creds.publish(weft_tls::Credentials::new(api(), &key, chain, now, now + HOUR).into());
    let server = MeshTls::new(api().trust_domain().clone(), ca.anchor_store(), creds);
    let client = workload(&ca, &web());
    let err = handshake(
        client.mesh_client_config(&api()),
        server.mesh_server_config(),
    )
    .await
    .client_error();
    assert!(
        matches!(
            peer_id_error(&err),
            Some(PeerIdError::Leaf(weft_tls::LeafError::SeveralUriSans {
                count: 2
            }))
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_expired_certificate_is_refused() {
    let ca = TestCa::new();
    let now = SystemTime::now();
    let creds = CredStore::new();
    creds.publish(ca.credentials(&api(), Validity::new(now - 2 * HOUR, now - HOUR)));
    let server = MeshTls::new(api().trust_domain().clone(), ca.anchor_store(), creds);
    let client = workload(&ca, &web());
    let err = handshake(
        client.mesh_client_config(&api()),
        server.mesh_server_config(),
    )
    .await
    .client_error();
    assert!(
        matches!(
            err,
            rustls::Error::InvalidCertificate(CertificateError::ExpiredContext { .. })
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_identity_service_admits_clients_without_a_certificate() {
    let ca = TestCa::new();
    let identity_id = id("spiffe://cluster.local/ns/weft-system/sa/weft-identity");
    let identity = workload(&ca, &identity_id);
    let anchors = ca.anchor_store();

    let server = identity.control_plane_server_config(ClientAuth::Optional);
    let done = handshake(
        identity_client_config(&anchors, &identity_id),
        server.clone(),
    )
    .await
    .established()
    .await;
    let (_, conn) = done.server.get_ref();
    assert_eq!(peer_id(conn), None, "no certificate, no id");
    assert_eq!(conn.alpn_protocol(), Some(alpn::H2));

    // A client that has a certificate is still identified.
    let proxy = workload(&ca, &web());
    let done = handshake(proxy.control_plane_client_config(&identity_id), server)
        .await
        .established()
        .await;
    assert_eq!(peer_id(done.server.get_ref().1), Some(web()));
}

#[tokio::test]
async fn the_identity_client_requires_the_identity_id() {
    let ca = TestCa::new();
    let impostor = workload(&ca, &web());
    let identity_id = id("spiffe://cluster.local/ns/weft-system/sa/weft-identity");
    let err = handshake(
        identity_client_config(&ca.anchor_store(), &identity_id),
        impostor.control_plane_server_config(ClientAuth::Optional),
    )
    .await
    .client_error();
    assert!(
        matches!(peer_id_error(&err), Some(PeerIdError::Unexpected { .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_controller_requires_client_certificates() {
    let ca = TestCa::new();
    let controller_id = id("spiffe://cluster.local/ns/weft-system/sa/weft-controller");
    let controller = workload(&ca, &controller_id);
    let server = controller.control_plane_server_config(ClientAuth::Required);
    let err = handshake(
        identity_client_config(&ca.anchor_store(), &controller_id),
        server.clone(),
    )
    .await
    .server_error();
    assert_eq!(err, rustls::Error::NoCertificatesPresented);

    let proxy = workload(&ca, &web());
    let done = handshake(proxy.control_plane_client_config(&controller_id), server)
        .await
        .established()
        .await;
    assert_eq!(peer_id(done.server.get_ref().1), Some(web()));
}

#[tokio::test]
async fn a_server_without_a_certificate_yet_refuses_handshakes() {
    let ca = TestCa::new();
    let server = MeshTls::new(
        api().trust_domain().clone(),
        ca.anchor_store(),
        CredStore::new(),
    );
    let client = workload(&ca, &web());
    let outcome = handshake(
        client.mesh_client_config(&api()),
        server.mesh_server_config(),
    )
    .await;
    assert!(outcome.client.is_err() && outcome.server.is_err());
}

/// Refusals count against the control plane only on control-plane
/// connections: not when the controller scrapes a workload whose
/// certificate no longer verifies, nor between mesh peers.
#[tokio::test]
async fn only_control_plane_refusals_are_counted() {
    let ours = TestCa::new();
    let theirs = TestCa::named("a reinstalled control plane's root");
    let controller_id = id("spiffe://cluster.local/ns/weft-system/sa/weft-controller");
    let trust = std::sync::Arc::new(weft_tls::TrustStatus::default());
    let client = workload(&ours, &web()).with_control_plane_trust(trust.clone());
    let counted = || {
        let mut text = String::new();
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register("refusals", "", trust.refusals());
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        text.lines()
            .filter(|l| l.starts_with("refusals_total{"))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum::<u64>()
    };

    let scraped = workload(&theirs, &api());
    handshake(
        client.workload_h2_client_config(&api()),
        scraped.control_plane_server_config(ClientAuth::Required),
    )
    .await
    .client_error();
    handshake(
        client.mesh_client_config(&api()),
        scraped.mesh_server_config(),
    )
    .await
    .client_error();
    assert_eq!(counted(), 0);

    let controller = workload(&theirs, &controller_id);
    handshake(
        client.control_plane_client_config(&controller_id),
        controller.control_plane_server_config(ClientAuth::Required),
    )
    .await
    .client_error();
    assert_eq!(counted(), 1);
}
