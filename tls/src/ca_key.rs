//! A CA's private key as operators and tools write it.

use rcgen::KeyPair;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, pem::PemObject};

/// Parses a CA key: PKCS#8 (`PRIVATE KEY`), or a P-256 key in SEC1
/// (`EC PRIVATE KEY`), which cert-manager (its default `PKCS1` encoding) and
/// Helm's `genPrivateKey "ecdsa"` write. The ring backend reads only PKCS#8,
/// so SEC1 is wrapped first. RSA keys are not supported.
pub fn ca_key_from_pem(key_pem: &str) -> Result<KeyPair, String> {
    let der = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| e.to_string())?;
    let pkcs8 = match der {
        PrivateKeyDer::Pkcs8(k) => k,
        PrivateKeyDer::Sec1(k) => PrivatePkcs8KeyDer::from(p256_sec1_to_pkcs8(k.secret_sec1_der())),
        _ => {
            return Err(
                "expected an ECDSA key in PKCS#8 (PRIVATE KEY) or SEC1 (EC PRIVATE KEY)".into(),
            );
        }
    };
    KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, &rcgen::PKCS_ECDSA_P256_SHA256)
        .or_else(|_| KeyPair::try_from(pkcs8.secret_pkcs8_der()))
        .map_err(|e| e.to_string())
}

/// PKCS#8 `PrivateKeyInfo` around a SEC1 `ECPrivateKey` on P-256 (RFC 5915, 5208).
fn p256_sec1_to_pkcs8(sec1: &[u8]) -> Vec<u8> {
    fn der(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = body.len();
        if len < 0x80 {
            out.push(len as u8);
        } else if len <= 0xff {
            out.extend([0x81, len as u8]);
        } else {
            out.extend([0x82, (len >> 8) as u8, len as u8]);
        }
        out.extend_from_slice(body);
        out
    }
    // SEQUENCE { OID id-ecPublicKey, OID prime256v1 }
    const ALG: &[u8] = &[
        0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86,
        0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
    ];
    let mut body = vec![0x02, 0x01, 0x00];
    body.extend_from_slice(ALG);
    body.extend(der(0x04, sec1));
    der(0x30, &body)
}
