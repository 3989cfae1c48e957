//! Parsing of the `weft.io/` annotations a user may set on a pod (or its
//! namespace). A value that does not parse is never guessed at: the pod is
//! skipped with a reason naming the annotation.

use ipnet::IpNet;
use std::collections::BTreeMap;
use weft_api::contract::annotations as a;

/// An annotation whose value cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("annotation {key}={value:?}: {reason}")]
pub struct AnnotationError {
    pub key: &'static str,
    pub value: String,
    pub reason: String,
}

/// The per-pod settings the annotations carry, validated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    /// Ports or ranges (`8000-8010`), kept in the user's spelling for iptables.
    pub skip_inbound_ports: Vec<String>,
    pub skip_outbound_ports: Vec<String>,
    pub skip_outbound_cidrs: Vec<IpNet>,
    pub log_level: Option<String>,
    pub cpu_request: Option<String>,
    pub cpu_limit: Option<String>,
    pub memory_request: Option<String>,
    pub memory_limit: Option<String>,
}

/// Reads the overrides from a pod's annotations.
pub fn overrides(ann: &BTreeMap<String, String>) -> Result<Overrides, AnnotationError> {
    // Validated here, applied by the controller (it tells both proxies).
    ports(ann, a::OPAQUE_PORTS)?;
    ports(ann, a::HTTP_PORTS)?;
    Ok(Overrides {
        skip_inbound_ports: ports(ann, a::SKIP_INBOUND_PORTS)?,
        skip_outbound_ports: ports(ann, a::SKIP_OUTBOUND_PORTS)?,
        skip_outbound_cidrs: cidrs(ann, a::SKIP_OUTBOUND_CIDRS)?,
        log_level: log_level(ann)?,
        cpu_request: quantity(ann, a::PROXY_CPU_REQUEST)?,
        cpu_limit: quantity(ann, a::PROXY_CPU_LIMIT)?,
        memory_request: quantity(ann, a::PROXY_MEMORY_REQUEST)?,
        memory_limit: quantity(ann, a::PROXY_MEMORY_LIMIT)?,
    })
}

/// `allow` or `deny`, validated (the controller applies it).
pub fn default_policy(ann: &BTreeMap<String, String>) -> Result<(), AnnotationError> {
    match ann.get(a::DEFAULT_POLICY).map(|v| v.trim()) {
        None | Some("allow") | Some("deny") => Ok(()),
        Some(v) => Err(err(a::DEFAULT_POLICY, v, "expected `allow` or `deny`")),
    }
}

/// CIDRs, validated (the controller applies them).
pub fn allow_unauthenticated_from(ann: &BTreeMap<String, String>) -> Result<(), AnnotationError> {
    cidrs(ann, a::ALLOW_UNAUTHENTICATED_FROM).map(drop)
}

fn err(key: &'static str, value: &str, reason: impl Into<String>) -> AnnotationError {
    AnnotationError {
        key,
        value: value.to_string(),
        reason: reason.into(),
    }
}

fn list<'a>(ann: &'a BTreeMap<String, String>, key: &str) -> impl Iterator<Item = &'a str> {
    ann.get(key)
        .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()))
        .into_iter()
        .flatten()
}

fn port(s: &str) -> Option<u16> {
    s.parse::<u16>().ok().filter(|p| *p != 0)
}

fn ports(
    ann: &BTreeMap<String, String>,
    key: &'static str,
) -> Result<Vec<String>, AnnotationError> {
    list(ann, key)
        .map(|item| {
            let ok = match item.split_once('-') {
                Some((lo, hi)) => matches!((port(lo), port(hi)), (Some(l), Some(h)) if l <= h),
                None => port(item).is_some(),
            };
            if ok {
                Ok(item.to_string())
            } else {
                Err(err(
                    key,
                    &ann[key],
                    format!("{item:?} is not a port (1-65535) or a range like 8000-8010"),
                ))
            }
        })
        .collect()
}

fn cidrs(ann: &BTreeMap<String, String>, key: &'static str) -> Result<Vec<IpNet>, AnnotationError> {
    list(ann, key)
        .map(|item| {
            item.parse::<IpNet>()
                .or_else(|_| item.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    err(
                        key,
                        &ann[key],
                        format!("{item:?} is not a CIDR like 10.0.0.0/8"),
                    )
                })
        })
        .collect()
}

fn log_level(ann: &BTreeMap<String, String>) -> Result<Option<String>, AnnotationError> {
    let Some(v) = ann.get(a::PROXY_LOG_LEVEL) else {
        return Ok(None);
    };
    let v = v.trim();
    let valid = !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_,=:-.".contains(c));
    if valid {
        Ok(Some(v.to_string()))
    } else {
        Err(err(
            a::PROXY_LOG_LEVEL,
            v,
            "expected a log filter like `info` or `warn,weft_proxy=debug`",
        ))
    }
}

fn quantity(
    ann: &BTreeMap<String, String>,
    key: &'static str,
) -> Result<Option<String>, AnnotationError> {
    let Some(v) = ann.get(key) else {
        return Ok(None);
    };
    let v = v.trim();
    let digits = v.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = &v[digits.len()..];
    let ok = !digits.is_empty()
        && digits
            .parse::<f64>()
            .is_ok_and(|n| n > 0.0 && n.is_finite())
        && ["", "m", "k", "M", "G", "Ki", "Mi", "Gi"].contains(&suffix);
    if ok {
        Ok(Some(v.to_string()))
    } else {
        Err(err(
            key,
            v,
            "expected a Kubernetes quantity like 100m, 1, 64Mi",
        ))
    }
}

/// Tokio worker threads for a CPU limit: the limit rounded up, at least 1,
/// at most 64; 1 when there is no limit.
pub fn worker_threads(cpu_limit: Option<&str>) -> usize {
    let Some(q) = cpu_limit else { return 1 };
    let cores = match q.strip_suffix('m') {
        Some(milli) => milli.parse::<f64>().map(|m| m / 1000.0),
        None => q.parse::<f64>(),
    };
    cores.map(|c| (c.ceil() as usize).clamp(1, 64)).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(k: &str, v: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(k.to_string(), v.to_string())])
    }

    #[test]
    fn ports_and_ranges() {
        let o = overrides(&ann(a::SKIP_INBOUND_PORTS, "22, 8000-8010,")).unwrap();
        assert_eq!(o.skip_inbound_ports, vec!["22", "8000-8010"]);
        for bad in ["0", "70000", "ssh", "10-5", "-5"] {
            let e = overrides(&ann(a::SKIP_INBOUND_PORTS, bad)).unwrap_err();
            assert_eq!(e.key, a::SKIP_INBOUND_PORTS, "{bad}");
        }
    }

    #[test]
    fn opaque_and_http_ports_are_validated() {
        for key in [a::OPAQUE_PORTS, a::HTTP_PORTS] {
            assert!(overrides(&ann(key, "3306, 9000-9010")).is_ok(), "{key}");
            let e = overrides(&ann(key, "http")).unwrap_err();
            assert_eq!(e.key, key);
        }
    }

    #[test]
    fn cidrs_accept_addresses_and_networks() {
        let o = overrides(&ann(
            a::SKIP_OUTBOUND_CIDRS,
            "10.0.0.0/8,fd00::/8,169.254.169.254",
        ))
        .unwrap();
        assert_eq!(o.skip_outbound_cidrs.len(), 3);
        assert!(overrides(&ann(a::SKIP_OUTBOUND_CIDRS, "10.0.0.0/33")).is_err());
    }

    #[test]
    fn quantities_and_log_levels() {
        assert!(overrides(&ann(a::PROXY_CPU_LIMIT, "500m")).is_ok());
        assert!(overrides(&ann(a::PROXY_MEMORY_LIMIT, "64Mi")).is_ok());
        assert!(overrides(&ann(a::PROXY_MEMORY_LIMIT, "lots")).is_err());
        assert!(overrides(&ann(a::PROXY_LOG_LEVEL, "warn,weft_proxy=debug")).is_ok());
        assert!(overrides(&ann(a::PROXY_LOG_LEVEL, "info\nx")).is_err());
        assert!(default_policy(&ann(a::DEFAULT_POLICY, "deny")).is_ok());
        assert!(default_policy(&ann(a::DEFAULT_POLICY, "block")).is_err());
    }

    #[test]
    fn worker_threads_follow_the_cpu_limit() {
        assert_eq!(worker_threads(None), 1);
        assert_eq!(worker_threads(Some("500m")), 1);
        assert_eq!(worker_threads(Some("1500m")), 2);
        assert_eq!(worker_threads(Some("4")), 4);
        assert_eq!(worker_threads(Some("1000")), 64);
    }
}
