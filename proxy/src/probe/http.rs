//! HTTP and HTTPS probes, as the kubelet sends them: a GET with the pod's
//! address as `Host`, `kube-probe` as the user agent, the probe's own
//! headers on top; a status from 200 to 399 passes. Like the kubelet's,
//! an HTTPS probe verifies no certificate: it checks the app, not its PKI.
//! Unlike the kubelet, redirects are not followed: a 3xx passes.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, header};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use rustls::{
    DigitallySignedStruct, SignatureScheme,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::CryptoProvider,
    pki_types::{CertificateDer, ServerName, UnixTime},
};
use std::{
    net::SocketAddr,
    sync::{Arc, OnceLock},
};
use tokio::io::{AsyncRead, AsyncWrite};
use weft_api::probes::Header;
use weft_runtime::admin::ProbeResult;

const USER_AGENT: &str = "kube-probe/weft";

pub(super) async fn get(
    addr: SocketAddr,
    path: &str,
    https: bool,
    headers: &[Header],
) -> ProbeResult {
    let req = request(addr, path, headers)?;
    let tcp = super::connect(addr).await?;
    if https {
        let tls = tokio_rustls::TlsConnector::from(client_config())
            .connect(ServerName::IpAddress(addr.ip().into()), tcp)
            .await
            .map_err(|e| format!("TLS with {addr}: {e}"))?;
        send(tls, req, addr).await
    } else {
        send(tcp, req, addr).await
    }
}

fn request(
    addr: SocketAddr,
    path: &str,
    headers: &[Header],
) -> Result<Request<Empty<Bytes>>, String> {
    let mut map = HeaderMap::new();
    let fixed = |v: &str| {
        HeaderValue::from_str(v).expect("an address or a constant is a valid header value")
    };
    map.insert(header::HOST, fixed(&addr.to_string()));
    map.insert(header::USER_AGENT, fixed(USER_AGENT));
    map.insert(header::ACCEPT, fixed("*/*"));
    // The probe's headers replace the defaults of the same name; repeated
    // names are all sent.
    let mut replaced = Vec::new();
    for h in headers {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| format!("the probe's header name {:?} is not valid", h.name))?;
        let value = HeaderValue::from_str(&h.value).map_err(|_| {
            format!(
                "the probe's header {:?} has a value that is not valid",
                h.name
            )
        })?;
        if !replaced.contains(&name) {
            map.remove(&name);
            replaced.push(name.clone());
        }
        map.append(name, value);
    }
    let mut req = Request::get(path)
        .body(Empty::new())
        .map_err(|e| format!("the probe's path {path:?}: {e}"))?;
    *req.headers_mut() = map;
    Ok(req)
}

async fn send<IO>(io: IO, req: Request<Empty<Bytes>>, addr: SocketAddr) -> ProbeResult
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP with {addr}: {e}"))?;
    // The connection is driven here, not spawned: when the probe's time is
    // up, dropping this future closes it.
    let rsp = tokio::select! {
        rsp = tx.send_request(req) => rsp.map_err(|e| format!("HTTP with {addr}: {e}"))?,
        end = conn => return Err(format!("{addr} closed the connection before answering ({end:?})")),
    };
    let status = rsp.status();
    if (200..400).contains(&status.as_u16()) {
        Ok(())
    } else {
        Err(format!("{addr} answered HTTP {status}"))
    }
}

fn client_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = weft_tls::provider();
            let config = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .expect("the ring provider supports the default versions")
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}

/// Accepts whatever certificate the app presents (the kubelet's
/// `InsecureSkipVerify`), but still checks the handshake's signatures.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
