//! What `weft-proxy init` needs to know, typed and validated before any rule
//! is written, so a bad skip list fails the pod with a clear message instead
//! of half-applied rules.

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::{fmt, str::FromStr};
use weft_api::contract::{ports, proxy_user};

/// The settings rule generation needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitConfig {
    pub inbound_port: u16,
    pub outbound_port: u16,
    pub admin_port: u16,
    /// The mTLS metrics listener weft-controller scrapes.
    pub metrics_port: u16,
    pub proxy_uid: u32,
    pub proxy_gid: u32,
    /// Inbound destination ports that reach the app without the proxy.
    pub skip_inbound_ports: Vec<PortRange>,
    /// Outbound destination ports that leave without the proxy.
    pub skip_outbound_ports: Vec<PortRange>,
    /// Outbound destinations that leave without the proxy, per family
    /// (iptables takes IPv4, ip6tables IPv6).
    pub skip_outbound_cidrs_v4: Vec<Ipv4Net>,
    pub skip_outbound_cidrs_v6: Vec<Ipv6Net>,
    /// What happens to IPv6 TCP.
    pub ipv6: Ipv6Mode,
}

impl Default for InitConfig {
    /// The mesh contract's ports and proxy user, nothing skipped.
    fn default() -> Self {
        Self {
            inbound_port: ports::INBOUND,
            outbound_port: ports::OUTBOUND,
            admin_port: ports::ADMIN,
            metrics_port: ports::PROXY_METRICS,
            proxy_uid: proxy_user::UID,
            proxy_gid: proxy_user::GID,
            skip_inbound_ports: Vec::new(),
            skip_outbound_ports: Vec::new(),
            skip_outbound_cidrs_v4: Vec::new(),
            skip_outbound_cidrs_v6: Vec::new(),
            ipv6: Ipv6Mode::Redirect,
        }
    }
}

/// IPv6 handling. The proxy listens on IPv6 as on IPv4 (`[::]` inbound,
/// `[::1]` outbound), so by default IPv6 is redirected to it like IPv4;
/// `reject` is for a pod that must not use IPv6 at all, where IPv6 TCP is
/// refused rather than let through unmediated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Ipv6Mode {
    /// The same redirects as IPv4, to the proxy's IPv6 listeners.
    #[default]
    Redirect,
    /// New IPv6 TCP connections are refused (filter table), except the
    /// proxy's ports and traffic, in-pod traffic and the skip lists.
    Reject,
}

impl fmt::Display for Ipv6Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Redirect => "redirect",
            Self::Reject => "reject",
        })
    }
}

/// A list item that is not a port, a range or a CIDR.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("{item:?} is not a port (1-65535) or a range like 8000-8010")]
    Port { item: String },
    #[error("{item:?} is not a CIDR like 10.0.0.0/8 or fd00::/8 (or a single address)")]
    Cidr { item: String },
}

/// One port or an inclusive range of ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    pub fn single(port: u16) -> Self {
        Self {
            first: port,
            last: port,
        }
    }

    /// The spelling iptables' `--dport` takes (`8000:8010` for a range).
    pub fn to_iptables(self) -> String {
        if self.first == self.last {
            self.first.to_string()
        } else {
            format!("{}:{}", self.first, self.last)
        }
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

impl FromStr for PortRange {
    type Err = ParseError;

    /// `8080` or `8000-8010`, the injector's (and the annotation's) spelling.
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let item = s.trim();
        let port = |p: &str| p.trim().parse::<u16>().ok().filter(|p| *p != 0);
        let range = match item.split_once('-') {
            Some((lo, hi)) => port(lo).zip(port(hi)).filter(|(l, h)| l <= h),
            None => port(item).map(|p| (p, p)),
        };
        range
            .map(|(first, last)| Self { first, last })
            .ok_or_else(|| ParseError::Port { item: item.into() })
    }
}

/// Parses a comma-separated list of ports and ranges; empty items are ignored.
pub fn parse_ports(list: &str) -> Result<Vec<PortRange>, ParseError> {
    items(list).map(str::parse).collect()
}

/// Parses a comma-separated list of CIDRs (or single addresses), split by
/// family. Host bits are cleared so the rules show the network iptables
/// stores.
pub fn parse_cidrs(list: &str) -> Result<(Vec<Ipv4Net>, Vec<Ipv6Net>), ParseError> {
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for item in items(list) {
        let net = item
            .parse::<IpNet>()
            .or_else(|_| item.parse::<std::net::IpAddr>().map(IpNet::from))
            .map_err(|_| ParseError::Cidr { item: item.into() })?;
        match net.trunc() {
            IpNet::V4(n) => v4.push(n),
            IpNet::V6(n) => v6.push(n),
        }
    }
    Ok((v4, v6))
}

fn items(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_ranges_parse() {
        assert_eq!(
            parse_ports(" 22, 8000-8010 ,,").unwrap(),
            vec![
                PortRange::single(22),
                PortRange {
                    first: 8000,
                    last: 8010
                }
            ]
        );
        assert_eq!(parse_ports("").unwrap(), vec![]);
        assert_eq!(
            PortRange {
                first: 8000,
                last: 8010
            }
            .to_iptables(),
            "8000:8010"
        );
    }

    #[test]
    fn bad_ports_name_the_item() {
        for bad in ["0", "65536", "http", "10-9", "1-", "-5", "1:5"] {
            let err = parse_ports(&format!("80,{bad}")).unwrap_err();
            assert_eq!(err, ParseError::Port { item: bad.into() });
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn cidrs_split_by_family_and_lose_host_bits() {
        let (v4, v6) = parse_cidrs("10.1.2.3/8, 169.254.169.254, fd00::1/8,::1").unwrap();
        assert_eq!(
            v4,
            vec![
                "10.0.0.0/8".parse::<Ipv4Net>().unwrap(),
                "169.254.169.254/32".parse().unwrap()
            ]
        );
        assert_eq!(
            v6,
            vec![
                "fd00::/8".parse::<Ipv6Net>().unwrap(),
                "::1/128".parse().unwrap()
            ]
        );
    }

    #[test]
    fn bad_cidrs_name_the_item() {
        for bad in [
            "10.0.0.0/33",
            "10.0.0",
            "example.com",
            "fd00::/129",
            "10.0.0.0/",
        ] {
            let err = parse_cidrs(&format!("10.0.0.0/8,{bad}")).unwrap_err();
            assert_eq!(err, ParseError::Cidr { item: bad.into() });
            assert!(err.to_string().contains("is not a CIDR"), "{err}");
        }
    }
}
