//! Pieces shared by the integration tests: a token reviewer that knows one
//! token, and the real gRPC Certifier over TLS to a loopback server.

use std::sync::Arc;
use weft_identity::authn::{AuthnError, ServiceAccount, TokenReviewer};
use weft_runtime::grpc::ChannelConfig;
use weft_tls::{GrpcCertifier, SpiffeId};

pub struct OneToken;

impl TokenReviewer for OneToken {
    async fn review(&self, token: &str) -> Result<ServiceAccount, AuthnError> {
        match token {
            "web-token" => Ok(ServiceAccount {
                namespace: "shop".into(),
                name: "web".into(),
            }),
            _ => Err(AuthnError::Rejected("unknown token".into())),
        }
    }
}

/// A Certifier over a fresh tonic channel to `addr` doing TLS with `tls`.
pub fn certifier(addr: std::net::SocketAddr, tls: Arc<rustls::ClientConfig>) -> GrpcCertifier {
    GrpcCertifier::new(
        weft_tls::tls_channel(&addr.to_string(), tls, &ChannelConfig::default()).unwrap(),
    )
}

pub fn identity_id() -> SpiffeId {
    "spiffe://cluster.local/ns/weft-system/sa/weft-identity"
        .parse()
        .unwrap()
}

/// Issuer files as weft-identity reads them from its mounts, in a fresh
/// temp dir: the anchors `root_pem` and the issuer `first`.
pub fn issuer_files(
    name: &str,
    root_pem: &str,
    first: &weft_identity::test_pki::IssuerPem,
) -> (std::path::PathBuf, weft_identity::run::IssuerFiles) {
    let dir = std::env::temp_dir().join(format!(
        "weft-{name}-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let files = weft_identity::run::IssuerFiles {
        anchors: dir.join("ca-bundle.pem"),
        cert: dir.join("tls.crt"),
        key: dir.join("tls.key"),
    };
    std::fs::write(&files.anchors, root_pem).unwrap();
    std::fs::write(&files.cert, &first.issuer_pem).unwrap();
    std::fs::write(&files.key, &first.issuer_key_pem).unwrap();
    (dir, files)
}

/// Replaces `path` the way a Secret volume does: never a half-written file.
pub fn replace(path: &std::path::Path, contents: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}
