//! gRPC over mesh TLS: a lazily connecting tonic channel whose connector does
//! TCP and TLS with a weft rustls config, and the real [`Certifier`] built
//! on it. Proxies and the controller reach weft-identity and weft-controller
//! through these.

use crate::certify::{Certifier, CertifyError};
use http::Uri;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use std::sync::Arc;
use tokio::net::TcpStream;
use tonic::transport::Channel;
use tracing::Instrument as _;
use weft_api::identity::{CertifyRequest, CertifyResponse, identity_client::IdentityClient};
use weft_runtime::grpc::{self, ChannelConfig};

/// A channel to `addr` (`host:port`, resolved at each connect) over TLS with
/// `tls`. The verifiers check SPIFFE ids, not host names, so the server
/// name sent is only a formality.
pub fn tls_channel(
    addr: &str,
    tls: Arc<rustls::ClientConfig>,
    cfg: &ChannelConfig,
) -> Result<Channel, grpc::Error> {
    let target = addr.to_string();
    let connector = tower::service_fn(move |_: Uri| {
        let (tls, target) = (tls.clone(), target.clone());
        async move {
            let tcp = TcpStream::connect(&target).await?;
            tcp.set_nodelay(true)?;
            let name = ServerName::IpAddress(tcp.peer_addr()?.ip().into());
            let stream = tokio_rustls::TlsConnector::from(tls)
                .connect(name, tcp)
                .await?;
            Ok::<_, std::io::Error>(TokioIo::new(stream))
        }
    });
    grpc::lazy_channel(addr, cfg, connector)
}

/// weft-identity's Certify over a tonic channel.
#[derive(Clone, Debug)]
pub struct GrpcCertifier(IdentityClient<Channel>);

impl GrpcCertifier {
    pub fn new(channel: Channel) -> Self {
        Self(IdentityClient::new(channel))
    }
}

impl Certifier for GrpcCertifier {
    async fn certify(&self, request: CertifyRequest) -> Result<CertifyResponse, CertifyError> {
        self.0
            .clone()
            .certify(request)
            .await
            .map(|r| r.into_inner())
            .map_err(|s| match s.code() {
                // Transport failures (connect, TLS, a verifier refusing the
                // server) surface as Unavailable or Unknown.
                tonic::Code::Unavailable | tonic::Code::Unknown => {
                    CertifyError::Unavailable(s.to_string())
                }
                code => CertifyError::Refused {
                    code: format!("{code:?}"),
                    message: s.message().to_string(),
                },
            })
    }
}

/// Handshakes in progress at once; beyond that, accepting waits. Bounds
/// what a flood of silent connections can hold.
const MAX_PENDING_HANDSHAKES: usize = 4096;
/// Handshakes in progress from one address; a connection beyond it is
/// closed at once, so one client holding idle connections open cannot
/// fill [`MAX_PENDING_HANDSHAKES`] and stall everyone else's accept.
const MAX_PENDING_PER_PEER: usize = 64;

/// Accepted connections on `listener` after a TLS handshake with `tls`, for
/// `tonic`'s `serve_with_incoming`: a failed or slow handshake is logged
/// and skipped, never ends the stream. Handshakes run concurrently, so a
/// client that connects and stays silent delays nobody else. With tonic's
/// `tls-connect-info` feature, handlers read the client's certificate from
/// the request's `TlsConnectInfo` extension (see [`peer_of`]).
pub fn tls_incoming(
    listener: tokio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
) -> impl futures::Stream<Item = std::io::Result<tokio_rustls::server::TlsStream<TcpStream>>> + Send
{
    use futures::{StreamExt as _, stream::FuturesUnordered};
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    async_stream::stream! {
        let mut pending = FuturesUnordered::new();
        let mut per_peer: std::collections::HashMap<std::net::IpAddr, usize> = Default::default();
        loop {
            let (ip, handshaken) = tokio::select! {
                r = listener.accept(), if pending.len() < MAX_PENDING_HANDSHAKES => {
                    match r {
                        Ok((sock, peer)) => {
                            let count = per_peer.entry(peer.ip()).or_default();
                            if *count >= MAX_PENDING_PER_PEER {
                                tracing::debug!(%peer, "too many handshakes in progress from this address; closed");
                                continue;
                            }
                            *count += 1;
                            let _ = sock.set_nodelay(true);
                            let acceptor = acceptor.clone();
                            pending.push(
                                async move { (peer.ip(), crate::handshake(&acceptor, sock).await) }
                                    .instrument(tracing::debug_span!("grpc", %peer)),
                            );
                        }
                        Err(error) => {
                            tracing::warn!(%error, "accept failed");
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        }
                    }
                    continue;
                }
                Some(done) = pending.next(), if !pending.is_empty() => done,
            };
            if let Some(count) = per_peer.get_mut(&ip) {
                *count -= 1;
                if *count == 0 {
                    per_peer.remove(&ip);
                }
            }
            if let Some(tls) = handshaken {
                yield Ok(tls);
            }
        }
    }
}

/// The SPIFFE id of the client that sent `req` over a [`tls_incoming`]
/// connection, if it presented a certificate.
pub fn peer_of<T>(req: &tonic::Request<T>) -> Option<crate::SpiffeId> {
    use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
    let info = req.extensions().get::<TlsConnectInfo<TcpConnectInfo>>()?;
    crate::peer_id_from_certs(&info.peer_certs()?)
}
