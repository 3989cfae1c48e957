use super::*;
use tokio::io::AsyncWriteExt as _;

#[test]
fn recognises_http1_http2_tls_and_the_rest() {
    let detect = |b: &[u8]| classify(b, Mode::Detect);
    assert_eq!(detect(b"GET / HTTP/1.1\r\n"), Some(Protocol::Http1));
    assert_eq!(detect(b"PROPFIND /dav HTTP/1.1\r\n"), Some(Protocol::Http1));
    assert_eq!(detect(H2_PREFACE), Some(Protocol::Http2));
    assert_eq!(detect(b"SSH-2.0-OpenSSH\r\n"), Some(Protocol::Opaque));
    assert_eq!(detect(b"\x00\x01"), Some(Protocol::Opaque));
    assert_eq!(
        classify(b"GET / HTTP/1.1", Mode::Opaque),
        Some(Protocol::Opaque)
    );
}

#[test]
fn a_port_declared_http_serves_anything_but_tls_as_http() {
    for b in [&b"SSH-2.0-OpenSSH\r\n"[..], b"\x00\x01", b"EHLO x\r\n"] {
        assert_eq!(classify(b, Mode::Http), Some(Protocol::Http1), "{b:?}");
    }
    assert_eq!(classify(H2_PREFACE, Mode::Http), Some(Protocol::Http2));
}

#[test]
fn waits_for_a_prefix_that_could_still_be_either() {
    for partial in [
        &b""[..],
        b"G",
        b"GE",
        b"GET",
        b"PRI * HTTP/2",
        b"P",
        b"PROPFI",
    ] {
        assert_eq!(classify(partial, Mode::Detect), None, "{partial:?}");
    }
    // A request line that starts like the preface is still HTTP/1.
    assert_eq!(
        classify(b"PRI * HTTP/2.0\r\n\r\nXX", Mode::Detect),
        Some(Protocol::Http1)
    );
}

#[tokio::test]
async fn a_silent_client_is_opaque_and_checked() {
    let (mut a, _b) = tokio::io::duplex(64);
    let d = read(&mut a, Duration::from_millis(20), Mode::Detect)
        .await
        .unwrap();
    assert_eq!(d.protocol, Protocol::Opaque);
    assert!(d.checked && d.silent());
}

#[tokio::test]
async fn a_silent_client_of_a_port_declared_http_is_served_http() {
    let (mut a, _b) = tokio::io::duplex(64);
    let d = read(&mut a, Duration::from_millis(20), Mode::Http)
        .await
        .unwrap();
    assert_eq!(d.protocol, Protocol::Http1);
    assert!(!d.checked);
}

#[tokio::test(start_paused = true)]
async fn a_method_split_by_pauses_is_decided_within_the_timeout_or_checked() {
    let (mut a, mut b) = tokio::io::duplex(64);
    let writer = tokio::spawn(async move {
        for piece in [&b"P"[..], b"ROP", b"FIND /admin HTTP/1.1\r\n"] {
            b.write_all(piece).await.unwrap();
            tokio::time::sleep(TIMEOUT / 4).await;
        }
        b
    });
    let d = read(&mut a, TIMEOUT, Mode::Detect).await.unwrap();
    assert_eq!(d.protocol, Protocol::Http1);
    assert!(d.prefix.starts_with(b"PROPFIND"));
    drop(writer.await);
    // Slower than the timeout: undecided, so carried as checked bytes.
    let (mut a, mut b) = tokio::io::duplex(64);
    b.write_all(b"PROP").await.unwrap();
    let d = read(&mut a, TIMEOUT, Mode::Detect).await.unwrap();
    assert_eq!(d.protocol, Protocol::Opaque);
    assert!(d.checked && !d.silent());
    assert_eq!(&d.prefix[..], b"PROP");
}

#[tokio::test]
async fn a_full_buffer_without_a_decision_is_checked() {
    let (mut a, mut b) = tokio::io::duplex(MAX_BUFFER * 2);
    let mut long = b"GET /".to_vec();
    long.resize(MAX_BUFFER + 10, b'a');
    b.write_all(&long).await.unwrap();
    let d = read(&mut a, TIMEOUT, Mode::Detect).await.unwrap();
    assert!(d.checked);
    assert!(d.prefix.len() <= MAX_BUFFER + 64 * 1024);
}
