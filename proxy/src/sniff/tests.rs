use super::*;
use std::sync::Arc;

/// A real ClientHello from rustls offering `alpn`.
fn client_hello(alpn: &[&[u8]]) -> Vec<u8> {
    let mut roots = rustls::RootCertStore::empty();
    let ca = rcgen::CertificateParams::new(vec!["x".to_string()])
        .unwrap()
        .self_signed(&rcgen::KeyPair::generate().unwrap())
        .unwrap();
    roots.add(ca.der().clone()).unwrap();
    let mut cfg = rustls::ClientConfig::builder_with_provider(weft_tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let mut conn = rustls::ClientConnection::new(Arc::new(cfg), "x".try_into().unwrap()).unwrap();
    let mut out = Vec::new();
    conn.write_tls(&mut out).unwrap();
    out
}

#[test]
fn finds_the_mesh_alpn_in_a_real_client_hello() {
    let hello = client_hello(&[b"weft/1"]);
    assert!(offers(&hello, b"weft/1"));
    assert_eq!(
        sniff(&hello),
        Sniff::ClientHello {
            alpn: vec![b"weft/1".to_vec()]
        }
    );
}

#[test]
fn an_app_s_own_tls_is_tls_without_the_mesh_alpn() {
    let hello = client_hello(&[b"h2", b"http/1.1"]);
    assert!(!offers(&hello, b"weft/1"));
    let no_alpn = client_hello(&[]);
    assert_eq!(sniff(&no_alpn), Sniff::ClientHello { alpn: vec![] });
}

#[test]
fn needs_the_whole_record_before_deciding() {
    let hello = client_hello(&[b"weft/1"]);
    for n in [0, 1, 4, 5, hello.len() - 1] {
        assert_eq!(sniff(&hello[..n]), Sniff::NeedMore, "{n} bytes");
    }
}

#[test]
fn plaintext_is_not_tls() {
    assert_eq!(sniff(b"GET / HTTP/1.1\r\n"), Sniff::NotTls);
    assert_eq!(sniff(b"PRI * HTTP/2.0"), Sniff::NotTls);
    assert_eq!(sniff(&[22, 1, 0]), Sniff::NotTls);
}

#[test]
fn garbage_never_panics() {
    // Every prefix and every single-byte corruption of a real hello.
    let hello = client_hello(&[b"weft/1"]);
    for n in 0..hello.len() {
        let _ = sniff(&hello[..n]);
    }
    for i in 0..hello.len() {
        let mut h = hello.clone();
        h[i] ^= 0xff;
        let _ = sniff(&h);
    }
    let mut x: u32 = 7;
    for _ in 0..2000 {
        let bytes: Vec<u8> = (0..64)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16) as u8
            })
            .collect();
        let mut b = bytes;
        b[0] = 22;
        b[1] = 3;
        let _ = sniff(&b);
    }
}
