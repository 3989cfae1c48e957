//! `tls_incoming` over real sockets: a client that connects and never
//! speaks must not hold up the clients behind it.

mod common;

use std::time::Duration;

use common::*;
use futures::StreamExt as _;
use rustls_pki_types::ServerName;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;
use weft_tls::test_util::{TestCa, Validity};
use weft_tls::{ClientAuth, CredStore, HANDSHAKE_TIMEOUT, MeshTls, peer_id, tls_incoming};

#[tokio::test]
async fn a_silent_client_does_not_delay_the_next_handshake() {
    let ca = TestCa::new();
    let tls = |id: &weft_tls::SpiffeId| {
        let creds = CredStore::new();
        creds.publish(ca.credentials(id, Validity::starting_now(Duration::from_secs(3600))));
        MeshTls::new(id.trust_domain().clone(), ca.anchor_store(), creds)
    };
    let (server, client) = (tls(&api()), tls(&web()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = tls_incoming(
        listener,
        server.control_plane_server_config(ClientAuth::Required),
    );
    tokio::pin!(incoming);

    // Connected, never sends a ClientHello: its handshake waits for the
    // full HANDSHAKE_TIMEOUT.
    let _silent = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let connector = TlsConnector::from(client.control_plane_client_config(&api()));
    let dial = tokio::spawn(async move {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = ServerName::IpAddress(addr.ip().into());
        connector.connect(name, tcp).await
    });
    // Half the handshake timeout: a serial accept loop would still be
    // waiting on the silent client.
    let accepted = tokio::time::timeout(HANDSHAKE_TIMEOUT / 2, incoming.next())
        .await
        .expect("the second client's handshake waited behind the silent one")
        .expect("the stream never ends")
        .expect("an accepted connection");
    assert_eq!(peer_id(accepted.get_ref().1), Some(web()));
    dial.await.unwrap().expect("client handshake");
}
