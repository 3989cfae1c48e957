//! What `validate_response` accepts from a Certify answer, and the test CA's
//! fixed parts.

mod common;

use std::time::{Duration, SystemTime};

use common::*;
use weft_api::identity::CertifyResponse;
use weft_tls::test_util::{TestCa, Validity};
use weft_tls::{LeafError, ResponseError, WorkloadKey, inspect_leaf, validate_response};
use x509_parser::prelude::{FromDer, X509Certificate};

const HOUR: Duration = Duration::from_secs(3600);

fn now() -> SystemTime {
    SystemTime::now()
}

fn answer(ca: &TestCa, key: &WorkloadKey, id: &weft_tls::SpiffeId) -> CertifyResponse {
    let csr = key.csr_der(&web()).unwrap();
    ca.sign_csr(&csr, id, Validity::starting_now(HOUR)).unwrap()
}

#[test]
fn a_good_answer_becomes_credentials() {
    for ca in [TestCa::new(), TestCa::with_intermediate()] {
        let key = WorkloadKey::generate().unwrap();
        let response = answer(&ca, &key, &web());
        let creds = validate_response(&response, &web(), &key, &ca.anchors(), now()).unwrap();
        assert_eq!(creds.id(), &web());
        assert_eq!(
            creds.certified_key().cert.len(),
            1 + ca.intermediates().len()
        );
        creds.certified_key().keys_match().unwrap();
        let until = response.valid_until.unwrap().seconds;
        let until = SystemTime::UNIX_EPOCH + Duration::from_secs(until as u64);
        assert_eq!(creds.valid_until(), until);
    }
}

#[test]
fn an_answer_for_another_id_is_refused() {
    let ca = TestCa::new();
    let key = WorkloadKey::generate().unwrap();
    let response = answer(&ca, &key, &api());
    let err = validate_response(&response, &web(), &key, &ca.anchors(), now()).unwrap_err();
    assert!(
        matches!(&err, ResponseError::WrongId { expected, found } if *expected == web() && *found == api()),
        "{err}"
    );
}

#[test]
fn an_answer_for_another_key_is_refused() {
    let ca = TestCa::new();
    let ours = WorkloadKey::generate().unwrap();
    let theirs = WorkloadKey::generate().unwrap();
    let response = answer(&ca, &theirs, &web());
    let err = validate_response(&response, &web(), &ours, &ca.anchors(), now()).unwrap_err();
    assert!(matches!(err, ResponseError::KeyMismatch), "{err}");
}

#[test]
fn an_answer_from_another_ca_or_already_expired_is_refused() {
    let ca = TestCa::new();
    let stranger = TestCa::named("stranger");
    let key = WorkloadKey::generate().unwrap();
    let response = answer(&stranger, &key, &web());
    let err = validate_response(&response, &web(), &key, &ca.anchors(), now()).unwrap_err();
    assert!(matches!(err, ResponseError::Chain(_)), "{err}");

    let response = answer(&ca, &key, &web());
    let later = now() + 2 * HOUR;
    let err = validate_response(&response, &web(), &key, &ca.anchors(), later).unwrap_err();
    assert!(matches!(err, ResponseError::Chain(_)), "{err}");

    // An intermediate-signed leaf without its intermediate does not chain.
    let ca = TestCa::with_intermediate();
    let mut response = answer(&ca, &key, &web());
    response.intermediate_certificates.clear();
    let err = validate_response(&response, &web(), &key, &ca.anchors(), now()).unwrap_err();
    assert!(matches!(err, ResponseError::Chain(_)), "{err}");
}

#[test]
fn garbage_and_empty_answers_are_refused() {
    let ca = TestCa::new();
    let key = WorkloadKey::generate().unwrap();
    let empty = CertifyResponse::default();
    let err = validate_response(&empty, &web(), &key, &ca.anchors(), now()).unwrap_err();
    assert!(matches!(err, ResponseError::NoLeaf), "{err}");
    let garbage = CertifyResponse {
        leaf_certificate: vec![0x30, 0x82, 0xff],
        ..Default::default()
    };
    let err = validate_response(&garbage, &web(), &key, &ca.anchors(), now()).unwrap_err();
    assert!(
        matches!(err, ResponseError::Leaf(LeafError::Parse(_))),
        "{err}"
    );
}

#[test]
fn leaves_must_name_exactly_one_mesh_id() {
    let ca = TestCa::new();
    let validity = Validity::starting_now(HOUR);
    let (_, chain) = ca.issue_with_uris(&[], validity);
    assert_eq!(inspect_leaf(&chain[0]).unwrap_err(), LeafError::NoUriSan);
    let (_, chain) = ca.issue_with_uris(&["spiffe://cluster.local/ns/a/sa/b/c"], validity);
    assert!(matches!(
        inspect_leaf(&chain[0]).unwrap_err(),
        LeafError::BadId { .. }
    ));
    let (_, chain) = ca.issue_with_uris(&[web().as_str(), api().as_str()], validity);
    assert_eq!(
        inspect_leaf(&chain[0]).unwrap_err(),
        LeafError::SeveralUriSans { count: 2 }
    );
}

#[test]
fn the_test_ca_is_fixed_except_for_keys() {
    let ca = TestCa::with_intermediate();
    let (_, root) = X509Certificate::from_der(ca.root()).unwrap();
    assert_eq!(serial(&root), 1);
    assert_eq!(root.subject().to_string(), "CN=weft test root");
    assert_eq!(root.validity().not_before.timestamp(), 1_577_836_800); // 2020-01-01
    assert_eq!(root.validity().not_after.timestamp(), 4_102_444_800); // 2100-01-01
    let intermediates = ca.intermediates();
    let (_, intermediate) = X509Certificate::from_der(&intermediates[0]).unwrap();
    assert_eq!(serial(&intermediate), 2);

    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_893_456_000);
    let validity = Validity::starting_at(start, HOUR);
    let (_, first) = ca.issue(&web(), validity);
    let (_, second) = ca.issue(&web(), validity);
    let (_, first) = X509Certificate::from_der(&first[0]).unwrap();
    let (_, second) = X509Certificate::from_der(&second[0]).unwrap();
    assert_eq!(serial(&first), 1000);
    assert_eq!(serial(&second), 1001);
    assert_eq!(first.validity().not_before.timestamp(), 1_893_456_000);
    assert_eq!(first.validity().not_after.timestamp(), 1_893_456_000 + 3600);
    assert_eq!(
        first.subject().iter().count(),
        0,
        "no subject, only the URI SAN"
    );
    assert!(!first.is_ca());
}

fn serial(cert: &X509Certificate<'_>) -> u64 {
    cert.raw_serial()
        .iter()
        .fold(0, |n, b| (n << 8) | u64::from(*b))
}
