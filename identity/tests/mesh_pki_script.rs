//! `scripts/mesh-pki`, the PKI recipe docs/install.md gives for `helm
//! template` and GitOps renderers, makes an issuer weft-identity loads and
//! signs with, and never overwrites an existing PKI.

use std::{path::PathBuf, process::Command};
use time::OffsetDateTime;
use weft_identity::ca::Issuer;
use weft_tls::{SpiffeId, WorkloadKey};

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/mesh-pki")
}

#[test]
fn the_script_makes_a_pki_weft_identity_signs_with() {
    let dir = std::env::temp_dir().join(format!("weft-mesh-pki-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(script())
        .arg(&dir)
        .arg("mesh.example")
        .output()
        .expect("running scripts/mesh-pki");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
    let issuer = Issuer::from_pem(
        &read("root.pem"),
        &read("issuer.pem"),
        &String::from_utf8(read("issuer.key")).unwrap(),
        OffsetDateTime::now_utc(),
    )
    .expect("weft-identity loads the issuer");
    let id: SpiffeId = "spiffe://mesh.example/ns/shop/sa/web".parse().unwrap();
    let key = WorkloadKey::generate().unwrap();
    issuer
        .sign(
            &key.csr_der(&id).unwrap(),
            &id,
            OffsetDateTime::now_utc(),
            std::time::Duration::from_secs(3600),
        )
        .expect("the issuer signs a workload certificate");

    // A second run must not replace the PKI every certificate chains to.
    let again = Command::new(script()).arg(&dir).output().unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("refusing to overwrite"));
    assert_eq!(
        read("issuer.pem"),
        std::fs::read(dir.join("issuer.pem")).unwrap()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
