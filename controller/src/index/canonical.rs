//! Destinations as subscription keys: an address, or an authority
//! canonicalised the way the pod's DNS resolver would expand it.
//!
//! `svc`, `svc.ns`, `svc.ns.svc` and `svc.ns.svc.<domain>` (any case, with or
//! without a trailing dot) all name the Service `ns/svc`, the first with the
//! client's namespace. A name written with `.svc` that names no Service is
//! answered `Unavailable` (it can only be a cluster name, perhaps not created
//! yet); the short forms `svc` and `svc.ns` are also ordinary external names
//! (`example.com`), so when they name no Service they are `NotMeshed`. Other
//! names under `.svc.<domain>` (`a.b.c.svc.<domain>`, such as a StatefulSet
//! pod's name) are `Unavailable`. An authority whose host is an IP address is
//! looked up as that address.

use super::outbound::{OutboundError, Target};
use super::store::ObjKey;
use std::net::{IpAddr, SocketAddr};

/// The port an authority without one means (HTTP's default).
const DEFAULT_PORT: u16 = 80;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum OutKey {
    Address(SocketAddr),
    /// The Service `svc`, port `port`. `strict` when written as a cluster
    /// name, so that an unknown one is unavailable rather than external.
    Service {
        svc: ObjKey,
        port: u16,
        strict: bool,
    },
    /// Under `.svc.<domain>` but not `svc.ns.svc.<domain>`.
    ClusterName(String),
    External(String),
}

pub(crate) fn key(target: &Target, source_ns: &str, domain: &str) -> Result<OutKey, OutboundError> {
    match target {
        Target::Address(a) => Ok(OutKey::Address(*a)),
        Target::Authority(authority) => authority_key(authority, source_ns, domain),
    }
}

fn authority_key(authority: &str, source_ns: &str, domain: &str) -> Result<OutKey, OutboundError> {
    let invalid = |why: &str| OutboundError::InvalidAuthority {
        authority: authority.to_owned(),
        why: why.to_owned(),
    };
    let (host, port) = split_host_port(authority).map_err(invalid)?;
    let host = host.to_ascii_lowercase();
    let host = host.strip_suffix('.').unwrap_or(&host);
    if host.is_empty() {
        return Err(invalid("empty host"));
    }
    if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Ok(OutKey::Address(SocketAddr::new(ip, port)));
    }
    let service = |name: &str, ns: &str, strict: bool| OutKey::Service {
        svc: ObjKey::new(ns, name),
        port,
        strict,
    };
    let domain = domain.trim_matches('.').to_ascii_lowercase();
    let suffix = format!(".svc.{domain}");
    if let Some(prefix) = host.strip_suffix(suffix.as_str()) {
        return Ok(match labels(prefix).as_deref() {
            Some([name, ns]) => service(name, ns, true),
            _ => OutKey::ClusterName(format!("{host}:{port}")),
        });
    }
    Ok(match labels(host).as_deref() {
        Some([name]) if !source_ns.is_empty() => service(name, source_ns, false),
        Some([name, ns]) => service(name, ns, false),
        Some([name, ns, "svc"]) => service(name, ns, true),
        _ => OutKey::External(format!("{host}:{port}")),
    })
}

/// The dot-separated labels of a name, or `None` if one is empty.
fn labels(name: &str) -> Option<Vec<&str>> {
    let v: Vec<&str> = name.split('.').collect();
    v.iter().all(|l| !l.is_empty()).then_some(v)
}

fn split_host_port(authority: &str) -> Result<(&str, u16), &'static str> {
    if authority.contains('@') {
        return Err("an authority must not carry user info");
    }
    let port = |p: &str| {
        p.parse::<u16>()
            .map_err(|_| "the port is not a number from 0 to 65535")
    };
    if let Some(rest) = authority.strip_prefix('[') {
        let (ip, after) = rest.split_once(']').ok_or("unclosed `[`")?;
        return match after {
            "" => Ok((ip, DEFAULT_PORT)),
            _ => Ok((ip, port(after.strip_prefix(':').ok_or("junk after `]`")?)?)),
        };
    }
    if authority.matches(':').count() > 1 {
        // An IPv6 address without brackets has no port.
        return Ok((authority, DEFAULT_PORT));
    }
    match authority.split_once(':') {
        Some((host, p)) => Ok((host, port(p)?)),
        None => Ok((authority, DEFAULT_PORT)),
    }
}
