use super::*;
use crate::test_pki::*;
use rcgen::CertificateParams;
use rustls_pki_types::UnixTime;
use weft_tls::{TrustAnchors, WorkloadKey, inspect_leaf};

#[test]
fn a_workload_gets_a_certificate_for_its_own_id_that_chains_to_the_anchor() {
    let p = pki(later(365));
    let issuer = load(&p);
    let key = WorkloadKey::generate().unwrap();
    let now = OffsetDateTime::now_utc();
    let rsp = issuer
        .sign(
            &key.csr_der(&id("web")).unwrap(),
            &id("web"),
            now,
            DEFAULT_LIFETIME,
        )
        .unwrap();
    let leaf = CertificateDer::from(rsp.leaf_certificate.clone());
    let info = inspect_leaf(&leaf).unwrap();
    assert_eq!(info.id, id("web"));
    assert_eq!(info.public_key, key.public_key_raw());
    let anchors = TrustAnchors::from_pem(p.root_pem.as_bytes()).unwrap();
    let chain: Vec<CertificateDer<'_>> = rsp
        .intermediate_certificates
        .iter()
        .map(|c| CertificateDer::from(c.clone()))
        .collect();
    anchors
        .verify_client_chain(&leaf, &chain, UnixTime::now())
        .unwrap();
    anchors
        .verify_server_chain(&leaf, &chain, UnixTime::now())
        .unwrap();
    let until = rsp.valid_until.unwrap().seconds;
    assert!((until - (now + DEFAULT_LIFETIME).unix_timestamp()).abs() <= 1);
}

#[test]
fn the_lifetime_is_clamped_to_the_issuers_expiry() {
    let issuer_end = later(2);
    let issuer = load(&pki(issuer_end));
    let key = WorkloadKey::generate().unwrap();
    let rsp = issuer
        .sign(
            &key.csr_der(&id("web")).unwrap(),
            &id("web"),
            OffsetDateTime::now_utc(),
            Duration::from_secs(30 * 86400),
        )
        .unwrap();
    assert!(rsp.valid_until.unwrap().seconds <= issuer_end.unix_timestamp());
}

#[test]
fn a_csr_for_another_identity_is_refused() {
    let issuer = load(&pki(later(365)));
    let key = WorkloadKey::generate().unwrap();
    let err = issuer
        .sign(
            &key.csr_der(&id("admin")).unwrap(),
            &id("web"),
            OffsetDateTime::now_utc(),
            DEFAULT_LIFETIME,
        )
        .unwrap_err();
    assert!(matches!(err, SignError::WrongId { .. }), "{err}");
}

fn csr_with(params: CertificateParams, key: &KeyPair) -> Vec<u8> {
    params.serialize_request(key).unwrap().der().to_vec()
}

#[test]
fn extra_or_missing_names_are_refused() {
    let issuer = load(&pki(later(365)));
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut extra = CertificateParams::new(vec!["web.shop.svc".to_string()]).unwrap();
    extra.subject_alt_names.push(SanType::URI(
        id("web").as_str().to_owned().try_into().unwrap(),
    ));
    let err = issuer
        .sign(
            &csr_with(extra, &key),
            &id("web"),
            OffsetDateTime::now_utc(),
            DEFAULT_LIFETIME,
        )
        .unwrap_err();
    assert!(
        matches!(&err, SignError::Names(n) if n.contains("DNS web.shop.svc")),
        "{err}"
    );
    let none = CertificateParams::new(Vec::<String>::new()).unwrap();
    let err = issuer
        .sign(
            &csr_with(none, &key),
            &id("web"),
            OffsetDateTime::now_utc(),
            DEFAULT_LIFETIME,
        )
        .unwrap_err();
    assert_eq!(err, SignError::Names("none".into()));
}

#[test]
fn keys_other_than_p256_are_refused() {
    let issuer = load(&pki(later(365)));
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let mut params = CertificateParams::default();
    params.subject_alt_names = vec![SanType::URI(
        id("web").as_str().to_owned().try_into().unwrap(),
    )];
    let err = issuer
        .sign(
            &csr_with(params, &key),
            &id("web"),
            OffsetDateTime::now_utc(),
            DEFAULT_LIFETIME,
        )
        .unwrap_err();
    assert_eq!(err, SignError::NotP256);
}

#[test]
fn garbage_and_tampered_csrs_are_refused() {
    let issuer = load(&pki(later(365)));
    for bytes in [&b""[..], b"\x30\x03\x02\x01\x00", b"not a csr at all"] {
        let err = issuer
            .sign(
                bytes,
                &id("web"),
                OffsetDateTime::now_utc(),
                DEFAULT_LIFETIME,
            )
            .unwrap_err();
        assert!(matches!(err, SignError::InvalidCsr(_)), "{err}");
    }
    let key = WorkloadKey::generate().unwrap();
    let mut csr = key.csr_der(&id("web")).unwrap();
    let last = csr.len() - 1;
    csr[last] ^= 0xff; // break the signature
    let err = issuer
        .sign(
            &csr,
            &id("web"),
            OffsetDateTime::now_utc(),
            DEFAULT_LIFETIME,
        )
        .unwrap_err();
    assert!(matches!(err, SignError::InvalidCsr(_)), "{err}");
}

#[test]
fn an_expired_issuer_signs_nothing() {
    let issuer = load(&pki(later(1)));
    let key = WorkloadKey::generate().unwrap();
    let err = issuer
        .sign(
            &key.csr_der(&id("web")).unwrap(),
            &id("web"),
            later(2),
            DEFAULT_LIFETIME,
        )
        .unwrap_err();
    assert_eq!(err, SignError::IssuerExpired);
}

#[test]
fn issuers_that_are_not_cas_unchained_or_mismatched_are_refused_at_load() {
    let p = pki(later(365));
    let other = pki(later(365));
    let now = OffsetDateTime::now_utc();
    let unchained = Issuer::from_pem(
        other.root_pem.as_bytes(),
        p.issuer_pem.as_bytes(),
        &p.issuer_key_pem,
        now,
    );
    assert!(
        matches!(unchained, Err(IssuerError::Unchained(1))),
        "{unchained:?}"
    );
    let mismatch = Issuer::from_pem(
        p.root_pem.as_bytes(),
        p.issuer_pem.as_bytes(),
        &other.issuer_key_pem,
        now,
    );
    assert!(
        matches!(mismatch, Err(IssuerError::KeyMismatch)),
        "{mismatch:?}"
    );
    let expired = Issuer::from_pem(
        p.root_pem.as_bytes(),
        p.issuer_pem.as_bytes(),
        &p.issuer_key_pem,
        later(400),
    );
    assert!(
        matches!(expired, Err(IssuerError::Expired(_))),
        "{expired:?}"
    );
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["x".to_string()])
        .unwrap()
        .self_signed(&leaf_key)
        .unwrap();
    let not_ca = Issuer::from_pem(
        leaf.pem().as_bytes(),
        leaf.pem().as_bytes(),
        &leaf_key.serialize_pem(),
        now,
    );
    assert!(matches!(not_ca, Err(IssuerError::NotCa)), "{not_ca:?}");
    let garbage = Issuer::from_pem(b"nope", b"nope", "nope", now);
    assert!(matches!(garbage, Err(IssuerError::Cert(_))), "{garbage:?}");
}

/// A root (its own issuer) with a SEC1 key, as cert-manager and Helm's
/// `genPrivateKey "ecdsa"` write it (openssl ecparam -genkey), valid to 2126.
const SEC1_KEY: &str = "-----BEGIN EC PRIVATE KEY-----
MHcCAQEEILgx0q4EQ+a0cg+VzeCQnOHsaD+tITUunG4mKFq0sHGnoAoGCCqGSM49
AwEHoUQDQgAEjDAODKQIiARVvm/rekdjMbfQWTXAe3IOy+44vfiVj+9cBOP3CtNZ
s44GDpfjbiOi5Q59zgtCEI0dEQ2RQlk/lw==
-----END EC PRIVATE KEY-----\n";
const SEC1_ROOT: &str = "-----BEGIN CERTIFICATE-----
MIIBpDCCAUmgAwIBAgIUFmDAvYs/AoxxBq6oc8v5QYZN2hUwCgYIKoZIzj0EAwIw
HjEcMBoGA1UEAwwTd2VmdCBzZWMxIHRlc3Qgcm9vdDAgFw0yNjExMjIwMjI2MDFa
GA8yMTI2MTAyOTAyMjYwMVowHjEcMBoGA1UEAwwTd2VmdCBzZWMxIHRlc3Qgcm9v
dDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABIwwDgykCIgEVb5v63pHYzG30Fk1
wHtyDsvuOL34lY/vXATj9wrTWbOOBg6X424jouUOfc4LQhCNHRENkUJZP5ejYzBh
MB0GA1UdDgQWBBR0pTizZlieeg1EyxdhWvoOUEo5fjAfBgNVHSMEGDAWgBR0pTiz
Zlieeg1EyxdhWvoOUEo5fjAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQEAwIB
BjAKBggqhkjOPQQDAgNJADBGAiEA2cnyCRkHufasrL5oPOGOIdxopHbbDzgQNllW
W4GgmfACIQDxAFn3p7KKVvC1lFJ6bfyLMi1BnSkWBMnde3gdw3mLhw==
-----END CERTIFICATE-----\n";

#[test]
fn an_issuer_key_in_sec1_is_accepted_and_signs() {
    let issuer = Issuer::from_pem(
        SEC1_ROOT.as_bytes(),
        SEC1_ROOT.as_bytes(),
        SEC1_KEY,
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    let key = WorkloadKey::generate().unwrap();
    let rsp = issuer
        .sign(
            &key.csr_der(&id("web")).unwrap(),
            &id("web"),
            OffsetDateTime::now_utc(),
            DEFAULT_LIFETIME,
        )
        .unwrap();
    let leaf = CertificateDer::from(rsp.leaf_certificate.clone());
    let anchors = TrustAnchors::from_pem(SEC1_ROOT.as_bytes()).unwrap();
    anchors
        .verify_server_chain(&leaf, &[], UnixTime::now())
        .unwrap();
}

/// One proxy renewing as weft-tls schedules it (`refresh_in`, with the
/// earliest jitter) and backing off as it does after a refusal (1 s,
/// doubling, at most a minute), over the issuer's last two days.
#[test]
fn leaves_never_shrink_into_a_renewal_storm_near_the_issuers_expiry() {
    let day = Duration::from_secs(86_400);
    let start = OffsetDateTime::now_utc();
    let end = start + day * 2;
    let issuer = load(&pki(end));
    let key = WorkloadKey::generate().unwrap();
    let csr = key.csr_der(&id("web")).unwrap();
    let (mut now, mut backoff) = (start, Duration::from_secs(1));
    let (mut lifetimes, mut refusals) = (Vec::new(), 0u32);
    while now < end {
        match issuer.sign(&csr, &id("web"), now, DEFAULT_LIFETIME) {
            Ok(rsp) => {
                let until =
                    OffsetDateTime::from_unix_timestamp(rsp.valid_until.unwrap().seconds).unwrap();
                let lifetime = Duration::try_from(until - now).unwrap();
                lifetimes.push(lifetime);
                let from = std::time::SystemTime::from(now - BACKDATE);
                now += weft_tls::refresh_in(
                    from,
                    std::time::SystemTime::from(until),
                    std::time::SystemTime::from(now),
                    1.0,
                );
                backoff = Duration::from_secs(1);
            }
            Err(SignError::IssuerExpiring { .. } | SignError::IssuerExpired) => {
                refusals += 1;
                now += backoff;
                backoff = (backoff * 2).min(Duration::from_secs(60));
            }
            Err(e) => panic!("{e}"),
        }
    }
    let floor = shortest_leaf(DEFAULT_LIFETIME);
    assert!(
        lifetimes.iter().all(|l| *l >= floor),
        "a leaf shorter than {floor:?}: {lifetimes:?}"
    );
    // A day at full length, then a few shrinking ones, then refusals.
    assert!(lifetimes.len() <= 6, "{lifetimes:?}");
    // The refusals are paced by the backoff: about one a minute.
    let last_hours = floor.as_secs() / 60 + 10;
    assert!(
        u64::from(refusals) <= last_hours,
        "{refusals} refusals in the last {floor:?}"
    );
}
