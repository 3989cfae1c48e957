//! The `weft.io/` annotations the policy reads, on pods, Services and
//! namespaces. A more specific object's annotation replaces the less
//! specific one's; an entry that does not parse is reported and skipped,
//! never guessed at.

use super::findings::{Finding, reason};
use super::store::{ObjKey, Store};
use super::{Config, Kind};
use ipnet::IpNet;
use std::collections::BTreeMap;
use std::net::IpAddr;
use weft_api::contract::annotations as a;
use weft_api::policy::DefaultPolicy;

/// The annotations of one object, with what a finding about them needs.
#[derive(Clone, Copy)]
pub(crate) struct Annotated<'a> {
    kind: Kind,
    ns: &'a str,
    name: &'a str,
    ann: Option<&'a BTreeMap<String, String>>,
}

impl<'a> Annotated<'a> {
    pub fn new(kind: Kind, key: &'a ObjKey, ann: Option<&'a BTreeMap<String, String>>) -> Self {
        Self {
            kind,
            ns: &key.ns,
            name: &key.name,
            ann,
        }
    }

    fn get(&self, name: &str) -> Option<&'a str> {
        self.ann?.get(name).map(String::as_str)
    }

    fn invalid(&self, name: &str, value: &str, why: impl std::fmt::Display) -> Finding {
        Finding::new(
            self.kind,
            self.ns,
            self.name,
            reason::INVALID_ANNOTATION,
            format!("annotation {name}={value:?}: {why}"),
        )
    }
}

/// The object itself, then its namespace.
pub(crate) fn layers<'a>(
    store: &'a Store,
    kind: Kind,
    key: &'a ObjKey,
    ann: Option<&'a BTreeMap<String, String>>,
) -> [Annotated<'a>; 2] {
    [
        Annotated::new(kind, key, ann),
        Annotated {
            kind: Kind::Namespace,
            ns: "",
            name: &key.ns,
            ann: store.namespace_annotations(&key.ns),
        },
    ]
}

/// Inclusive port ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PortSet(Vec<(u16, u16)>);

impl PortSet {
    pub fn contains(&self, port: u16) -> bool {
        self.0.iter().any(|(lo, hi)| (*lo..=*hi).contains(&port))
    }
}

/// `weft.io/opaque-ports` of the first layer that sets it.
pub(crate) fn opaque_ports(layers: &[Annotated<'_>], sink: &mut Vec<Finding>) -> PortSet {
    layers
        .iter()
        .find_map(|l| parse_ports(l, a::OPAQUE_PORTS, sink))
        .unwrap_or_default()
}

/// `weft.io/http-ports` of the first layer that sets it.
pub(crate) fn http_ports(layers: &[Annotated<'_>], sink: &mut Vec<Finding>) -> PortSet {
    layers
        .iter()
        .find_map(|l| parse_ports(l, a::HTTP_PORTS, sink))
        .unwrap_or_default()
}

/// A port list as `weft.io/*-ports` and `weft-init` write it
/// (`22,8000-8010`); entries that are not ports are left out.
pub(crate) fn port_set(value: &str) -> PortSet {
    PortSet(entries(value).filter_map(port_range).collect())
}

fn port_range(item: &str) -> Option<(u16, u16)> {
    let port = |p: &str| p.trim().parse::<u16>().ok().filter(|p| *p != 0);
    match item.split_once('-') {
        Some((lo, hi)) => port(lo).zip(port(hi)).filter(|(l, h)| l <= h),
        None => port(item).map(|p| (p, p)),
    }
}

fn parse_ports(l: &Annotated<'_>, name: &str, sink: &mut Vec<Finding>) -> Option<PortSet> {
    let value = l.get(name)?;
    let mut set = Vec::new();
    for item in entries(value) {
        match port_range(item) {
            Some(r) => set.push(r),
            None => sink.push(l.invalid(
                name,
                value,
                format_args!("{item:?} is not a port or a range like 8000-8010; ignored"),
            )),
        }
    }
    Some(PortSet(set))
}

/// `weft.io/allow-unauthenticated-from` of the first layer that sets it.
pub(crate) fn unauthenticated_networks(
    layers: &[Annotated<'_>],
    sink: &mut Vec<Finding>,
) -> Vec<IpNet> {
    layers
        .iter()
        .find_map(|l| parse_networks(l, sink))
        .unwrap_or_default()
}

fn parse_networks(l: &Annotated<'_>, sink: &mut Vec<Finding>) -> Option<Vec<IpNet>> {
    let value = l.get(a::ALLOW_UNAUTHENTICATED_FROM)?;
    let mut nets: Vec<IpNet> = Vec::new();
    for item in entries(value) {
        // A bare address is a one-address network, as in most CIDR lists.
        let net = item
            .parse::<IpNet>()
            .or_else(|_| item.parse::<IpAddr>().map(IpNet::from));
        match net {
            Ok(n) if !nets.contains(&n) => nets.push(n),
            Ok(_) => {}
            Err(_) => sink.push(l.invalid(
                a::ALLOW_UNAUTHENTICATED_FROM,
                value,
                format_args!("{item:?} is not a CIDR; ignored"),
            )),
        }
    }
    Some(nets)
}

/// `weft.io/default-policy` of the first layer with a valid value, else the
/// mesh-wide setting.
pub(crate) fn default_policy(
    layers: &[Annotated<'_>],
    cfg: &Config,
    sink: &mut Vec<Finding>,
) -> DefaultPolicy {
    layers
        .iter()
        .find_map(|l| parse_default_policy(l, sink))
        .unwrap_or(cfg.default_policy)
}

fn parse_default_policy(l: &Annotated<'_>, sink: &mut Vec<Finding>) -> Option<DefaultPolicy> {
    let value = l.get(a::DEFAULT_POLICY)?;
    match value.trim() {
        "allow" => Some(DefaultPolicy::Allow),
        "deny" => Some(DefaultPolicy::Deny),
        _ => {
            sink.push(l.invalid(
                a::DEFAULT_POLICY,
                value,
                "expected `allow` or `deny`; the next level's setting applies",
            ));
            None
        }
    }
}

/// Reports every bad value among an object's own policy annotations.
pub(crate) fn check(l: &Annotated<'_>, sink: &mut Vec<Finding>) {
    parse_ports(l, a::OPAQUE_PORTS, sink);
    if l.kind != Kind::Service {
        parse_ports(l, a::HTTP_PORTS, sink);
        parse_ports(l, a::SKIP_INBOUND_PORTS, sink);
        parse_networks(l, sink);
        parse_default_policy(l, sink);
    }
}

fn entries(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}
