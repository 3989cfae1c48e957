//! Helpers shared by the integration tests: ids and a real rustls handshake
//! between our configs over an in-memory duplex pipe.

#![allow(dead_code)] // each test binary uses a different subset

use std::io;
use std::sync::Arc;

use rustls::{ClientConfig, ServerConfig};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::{TlsAcceptor, TlsConnector, client, server};
use weft_tls::SpiffeId;

pub fn id(s: &str) -> SpiffeId {
    s.parse().unwrap()
}

pub fn web() -> SpiffeId {
    id("spiffe://cluster.local/ns/shop/sa/web")
}

pub fn api() -> SpiffeId {
    id("spiffe://cluster.local/ns/shop/sa/api")
}

pub struct Outcome {
    pub client: io::Result<client::TlsStream<tokio::io::DuplexStream>>,
    pub server: io::Result<server::TlsStream<tokio::io::DuplexStream>>,
}

impl Outcome {
    /// Both sides done and one byte exchanged each way. The byte matters:
    /// in TLS 1.3 the client finishes before the server has judged the
    /// client's certificate, so only traffic proves the server accepted it.
    pub async fn established(self) -> Established {
        let mut client = self.client.expect("client handshake");
        let mut server = self.server.expect("server handshake");
        client.write_all(b"p").await.unwrap();
        client.flush().await.unwrap();
        let mut buf = [0u8; 1];
        server.read_exact(&mut buf).await.unwrap();
        server.write_all(b"q").await.unwrap();
        server.flush().await.unwrap();
        client.read_exact(&mut buf).await.unwrap();
        Established { client, server }
    }

    /// The client's error; panics if the client side succeeded.
    pub fn client_error(self) -> rustls::Error {
        rustls_error(self.client.expect_err("client handshake should fail"))
    }

    /// The server's error; panics if the server side succeeded.
    pub fn server_error(self) -> rustls::Error {
        rustls_error(self.server.expect_err("server handshake should fail"))
    }
}

pub struct Established {
    pub client: client::TlsStream<tokio::io::DuplexStream>,
    pub server: server::TlsStream<tokio::io::DuplexStream>,
}

pub async fn handshake(client: Arc<ClientConfig>, server: Arc<ServerConfig>) -> Outcome {
    let (a, b) = tokio::io::duplex(64 * 1024);
    // Any name will do: it is only SNI. Mesh peers are dialled by IP.
    let name = ServerName::IpAddress(std::net::Ipv4Addr::new(10, 0, 0, 7).into());
    let connect = TlsConnector::from(client).connect(name, a);
    let accept = TlsAcceptor::from(server).accept(b);
    let (client, server) = tokio::join!(connect, accept);
    Outcome { client, server }
}

pub fn rustls_error(e: io::Error) -> rustls::Error {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .cloned()
        .unwrap_or_else(|| panic!("not a rustls error: {e}"))
}

/// The weft error inside `InvalidCertificate(Other(..))`, if that is what it is.
pub fn peer_id_error(e: &rustls::Error) -> Option<&weft_tls::PeerIdError> {
    match e {
        rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other)) => {
            other.0.downcast_ref()
        }
        _ => None,
    }
}
