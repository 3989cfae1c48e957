//! Whom a proxy trusts, in network namespaces with real parts (the pair of
//! meshed pods of [`pair::Mesh`]). A proxy reads its trust anchors from its
//! own pod once, at start; after that only weft-identity changes them, over
//! the channel the proxy verifies. A bundle written into the pod's files
//! later (what a namespace's ConfigMap once was) changes nothing: a
//! principal who could write it could otherwise make proxies trust their
//! own CA, or distrust weft's and take the namespace's traffic down.
//!
//! Root only (CI runs tests as root); without root it fails and says so.

#[allow(dead_code)]
#[path = "support/apps.rs"]
mod apps;
#[allow(dead_code)]
#[path = "support/mesh.rs"]
mod mesh;
#[allow(dead_code)]
#[path = "support/netns.rs"]
mod netns;
#[allow(dead_code)]
#[path = "support/pair.rs"]
mod pair;
#[allow(dead_code)]
#[path = "support/plane.rs"]
mod plane;

use apps::{BANNER, BANNER_PORT, HTTP_PORT};
use http::StatusCode;
use pair::{Mesh, connect, get, http1, send1};
use plane::{WAIT, workload_id};
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use weft_tls::test_util::TestCa;

/// Longer than the 10 s a proxy once took to re-read its anchor file.
const PAST_THE_OLD_POLL: Duration = Duration::from_secs(13);

/// A byte stream on the opaque port: each is a new mTLS connection between
/// the proxies (HTTP may reuse a pooled one). The banner, then an echo; or
/// what went wrong.
fn opaque_exchange(m: &Mesh) -> Result<(), String> {
    let a = m.server_addr(BANNER_PORT);
    m.in_client(move || async move {
        let mut s = connect(&a).await;
        let mut got = vec![0u8; BANNER.len()];
        tokio::time::timeout(WAIT, s.read_exact(&mut got))
            .await
            .map_err(|_| "no banner in time".to_string())?
            .map_err(|e| format!("reading the banner: {e}"))?;
        if got != BANNER {
            return Err(format!("banner {:?}", String::from_utf8_lossy(&got)));
        }
        s.write_all(b"ping\r\n").await.map_err(|e| e.to_string())?;
        let mut echo = [0u8; 6];
        tokio::time::timeout(WAIT, s.read_exact(&mut echo))
            .await
            .map_err(|_| "no echo in time".to_string())?
            .map_err(|e| format!("reading the echo: {e}"))?;
        Ok(())
    })
}

fn one_request(m: &Mesh) -> pair::Reply {
    let a = m.server_addr(HTTP_PORT);
    m.in_client(move || async move {
        let mut s = http1(&a).await;
        send1(&mut s, get("/", &[])).await
    })
}

#[test]
fn a_bundle_written_into_the_pod_later_changes_nothing() {
    let m = Mesh::start(&[]);
    let r = one_request(&m);
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.seen()["client_ids"], json!([workload_id("client")]));
    opaque_exchange(&m).unwrap();

    // Someone replaces the bundle both proxies started from with a CA of
    // their own: had the proxies adopted it, no handshake between them
    // would verify any more.
    let foreign = TestCa::new().root_pem();
    std::fs::write(m._shared.0.join("anchors.pem"), foreign).unwrap();
    std::thread::sleep(PAST_THE_OLD_POLL);

    // New mTLS handshakes both ways, then a request.
    for i in 0..3 {
        if let Err(e) = opaque_exchange(&m) {
            panic!("connection {i} after the file changed: {e}");
        }
    }
    let r = one_request(&m);
    assert_eq!(r.status, StatusCode::OK, "after the file changed: {r:?}");
    assert_eq!(r.seen()["client_ids"], json!([workload_id("client")]));
}

/// weft installed again with a new PKI while the pods kept running: the
/// proxies can verify neither the new weft-controller nor weft-identity,
/// and nothing but re-creating the pod cures that. They must say so, in the
/// log and in a metric, rather than fail quietly.
#[test]
fn a_control_plane_it_cannot_verify_is_reported_in_log_and_metrics() {
    let mut m = Mesh::start(&[]);
    let r = one_request(&m);
    assert_eq!(r.status, StatusCode::OK, "{r:?}");

    m.control.stop();
    m.control = plane::ControlPlane::start(&m.cp, []);
    let refused = format!(
        "weft_proxy_control_plane_refusals_total{{service=\"{}\"}}",
        "spiffe://cluster.local/ns/weft-system/sa/weft-controller"
    );
    // Reconnections back off from 1 s: 30 s is plenty.
    let mut seen = false;
    for _ in 0..60 {
        if pair::admin_get(&m.client, "/metrics").contains(&refused) {
            seen = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        seen,
        "no {refused} after 30 s:\n{}\nlog:\n{}",
        pair::admin_get(&m.client, "/metrics"),
        m.client_proxy.log()
    );
    let log = m.client_proxy.log();
    assert!(log.contains("re-create this pod"), "{log}");
}
