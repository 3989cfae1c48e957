//! SPIFFE ids of meshed workloads: `spiffe://<trust-domain>/ns/<ns>/sa/<sa>`.
//!
//! Every authorization decision in the mesh compares these ids, so they are
//! parsed strictly into one canonical spelling: two strings that name the same
//! workload can never compare unequal, and nothing that is not exactly this
//! shape (a port, a query, percent-encoding, an extra segment…) is accepted
//! and later misread by a policy lookup. Each way an id can be wrong has its
//! own error, so a bad CSR or a bad annotation is reported precisely.

use std::str::FromStr;
use std::{fmt, sync::Arc};

/// The URI scheme of every SPIFFE id, with its authority separator.
const SCHEME: &str = "spiffe://";
/// The SPIFFE spec's limit on a whole id, in bytes.
pub const MAX_ID_LEN: usize = 2048;
const _: () = assert!(MAX_ID_LEN <= u16::MAX as usize);
/// The SPIFFE spec's limit on a trust domain name.
pub const MAX_TRUST_DOMAIN_LEN: usize = 255;
/// Kubernetes' limit on a DNS-1123 label (namespace names).
const MAX_LABEL_LEN: usize = 63;
/// Kubernetes' limit on a DNS-1123 subdomain (ServiceAccount names).
const MAX_SUBDOMAIN_LEN: usize = 253;

/// Why a string is not a mesh SPIFFE id.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("SPIFFE id is {len} bytes long, more than the limit of {MAX_ID_LEN}")]
    TooLong { len: usize },
    #[error("SPIFFE id must start with `spiffe://`")]
    WrongScheme,
    #[error("SPIFFE id has an empty trust domain")]
    EmptyTrustDomain,
    #[error("trust domain is {len} bytes long, more than the limit of {MAX_TRUST_DOMAIN_LEN}")]
    TrustDomainTooLong { len: usize },
    #[error(
        "trust domain contains {found:?}; only lowercase letters, digits, `.`, `-` and `_` are allowed"
    )]
    InvalidTrustDomain { found: char },
    #[error("SPIFFE id must not carry a port")]
    Port,
    #[error("SPIFFE id must not carry user info (`user@`)")]
    UserInfo,
    #[error("SPIFFE id must not carry a query (`?…`)")]
    Query,
    #[error("SPIFFE id must not carry a fragment (`#…`)")]
    Fragment,
    #[error("SPIFFE id must not be percent-encoded")]
    PercentEncoded,
    #[error("SPIFFE id has no path; expected `/ns/<namespace>/sa/<service-account>`")]
    MissingPath,
    #[error("SPIFFE id must not end with `/`")]
    TrailingSlash,
    #[error("SPIFFE id path has an empty segment (`//`)")]
    EmptySegment,
    #[error("SPIFFE id path must not contain `.` or `..` segments")]
    DotSegment,
    #[error("SPIFFE id path must be `/ns/<namespace>/sa/<service-account>`")]
    WrongPathShape,
    #[error("SPIFFE id path has segments after `/ns/<namespace>/sa/<service-account>`")]
    ExtraSegments,
    #[error("namespace {name:?} is not a DNS-1123 label: {reason}")]
    InvalidNamespace { name: String, reason: &'static str },
    #[error("service account {name:?} is not a DNS-1123 subdomain: {reason}")]
    InvalidServiceAccount { name: String, reason: &'static str },
}

/// A SPIFFE trust domain (`cluster.local`): the mesh's naming authority.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrustDomain(Arc<str>);

impl TrustDomain {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for TrustDomain {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        // Authority-level mistakes are named before the generic character
        // check, so `example.org:443` says "port", not "invalid ':'".
        if s.is_empty() {
            return Err(IdError::EmptyTrustDomain);
        }
        if s.contains('@') {
            return Err(IdError::UserInfo);
        }
        if s.contains(':') {
            return Err(IdError::Port);
        }
        if s.contains('%') {
            return Err(IdError::PercentEncoded);
        }
        if s.len() > MAX_TRUST_DOMAIN_LEN {
            return Err(IdError::TrustDomainTooLong { len: s.len() });
        }
        if let Some(found) = s
            .chars()
            .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '.' | '-' | '_'))
        {
            return Err(IdError::InvalidTrustDomain { found });
        }
        Ok(Self(s.into()))
    }
}

impl fmt::Display for TrustDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The identity of a meshed workload: a Kubernetes ServiceAccount in a
/// namespace, under a trust domain.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpiffeId {
    // The canonical spelling, kept whole so Display and comparisons are cheap;
    // the byte ranges below point into it (u16 suffices under MAX_ID_LEN,
    // and keeps errors that carry two ids small). Shared, so a clone (one per
    // pooled-link lookup, one per metrics label) is a reference count.
    uri: Arc<str>,
    trust_domain: TrustDomain,
    ns: (u16, u16),
    sa: (u16, u16),
}

impl SpiffeId {
    /// Builds `spiffe://<trust_domain>/ns/<namespace>/sa/<service_account>`,
    /// checking each part as [`FromStr`] would.
    pub fn new(
        trust_domain: &TrustDomain,
        namespace: &str,
        service_account: &str,
    ) -> Result<Self, IdError> {
        check_namespace(namespace)?;
        check_service_account(service_account)?;
        let uri = format!("{SCHEME}{trust_domain}/ns/{namespace}/sa/{service_account}");
        if uri.len() > MAX_ID_LEN {
            return Err(IdError::TooLong { len: uri.len() });
        }
        let ns_start = SCHEME.len() + trust_domain.as_str().len() + "/ns/".len();
        let ns_end = ns_start + namespace.len();
        let sa_start = ns_end + "/sa/".len();
        let sa_end = sa_start + service_account.len();
        // Checked against MAX_ID_LEN above, so every offset fits.
        let offset = |i: usize| u16::try_from(i).unwrap_or(u16::MAX);
        let ns = (offset(ns_start), offset(ns_end));
        let sa = (offset(sa_start), offset(sa_end));
        Ok(Self {
            uri: uri.into(),
            trust_domain: trust_domain.clone(),
            ns,
            sa,
        })
    }

    /// Like [`SpiffeId::new`], with the trust domain as a string.
    pub fn from_parts(
        trust_domain: &str,
        namespace: &str,
        service_account: &str,
    ) -> Result<Self, IdError> {
        Self::new(&trust_domain.parse()?, namespace, service_account)
    }

    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    pub fn namespace(&self) -> &str {
        &self.uri[usize::from(self.ns.0)..usize::from(self.ns.1)]
    }

    pub fn service_account(&self) -> &str {
        &self.uri[usize::from(self.sa.0)..usize::from(self.sa.1)]
    }

    /// The id as the URI it is (what goes into a certificate's URI SAN).
    pub fn as_str(&self) -> &str {
        &self.uri
    }

    /// The id's text, shared rather than copied (a metrics label).
    pub fn shared_str(&self) -> Arc<str> {
        self.uri.clone()
    }
}

impl FromStr for SpiffeId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        if s.len() > MAX_ID_LEN {
            return Err(IdError::TooLong { len: s.len() });
        }
        let rest = s.strip_prefix(SCHEME).ok_or(IdError::WrongScheme)?;
        // Fragment and query end the path in a URI; find them anywhere so that
        // `spiffe://td?x` is "query", not "bad trust domain".
        if rest.contains('#') {
            return Err(IdError::Fragment);
        }
        if rest.contains('?') {
            return Err(IdError::Query);
        }
        if rest.contains('%') {
            return Err(IdError::PercentEncoded);
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let trust_domain: TrustDomain = authority.parse()?;
        if path.is_empty() {
            return Err(IdError::MissingPath);
        }
        if path.ends_with('/') {
            return Err(IdError::TrailingSlash);
        }
        // Skip the leading '/', then look at the segments as a whole first:
        // malformed segments are a different mistake than a wrong layout.
        let segments: Vec<&str> = path[1..].split('/').collect();
        if segments.iter().any(|s| s.is_empty()) {
            return Err(IdError::EmptySegment);
        }
        if segments.iter().any(|s| *s == "." || *s == "..") {
            return Err(IdError::DotSegment);
        }
        match segments.as_slice() {
            ["ns", ns, "sa", sa] => Self::new(&trust_domain, ns, sa),
            ["ns", _, "sa", _, ..] => Err(IdError::ExtraSegments),
            _ => Err(IdError::WrongPathShape),
        }
    }
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.uri)
    }
}

fn check_namespace(name: &str) -> Result<(), IdError> {
    let invalid = |reason| IdError::InvalidNamespace {
        name: name.to_owned(),
        reason,
    };
    if name.len() > MAX_LABEL_LEN {
        return Err(invalid("longer than 63 characters"));
    }
    check_label(name).map_err(invalid)
}

fn check_service_account(name: &str) -> Result<(), IdError> {
    let invalid = |reason| IdError::InvalidServiceAccount {
        name: name.to_owned(),
        reason,
    };
    if name.len() > MAX_SUBDOMAIN_LEN {
        return Err(invalid("longer than 253 characters"));
    }
    if name.is_empty() {
        return Err(invalid("empty"));
    }
    // A subdomain is dot-separated labels; Kubernetes does not cap each
    // label's length here, only the whole name.
    name.split('.').try_for_each(check_label).map_err(invalid)
}

/// The character rules of a DNS-1123 label, without the length limit.
fn check_label(label: &str) -> Result<(), &'static str> {
    let bytes = label.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return Err("empty");
    };
    if !bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
    {
        return Err("only lowercase letters, digits and `-` are allowed");
    }
    if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
        return Err("must start and end with a letter or digit");
    }
    Ok(())
}

#[cfg(test)]
#[path = "id_tests.rs"]
mod tests;
