//! Per proxy: does it trust the control plane's current anchors, does its
//! certificate chain to them, and can it still verify weft-identity and
//! weft-controller. A pod that outlived a reinstall with a new PKI is ready
//! and serving, yet cut off from the control plane; only its own metrics
//! (`weft_proxy_trust_anchors`, `weft_proxy_certificate_verified`,
//! `weft_proxy_control_plane_verified`) show it.

use super::{Line, listing};

/// What one proxy's `/metrics` says about its trust.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyTrust {
    /// `None` for a proxy older than these metrics.
    pub anchors_digest: Option<String>,
    pub certificate_verified: bool,
    /// Control-plane services whose last handshake was refused.
    pub refused: Vec<String>,
    /// When its certificate expires (Unix seconds).
    pub certificate_expiry: Option<u64>,
}

/// Reads the three metrics out of Prometheus text.
pub fn parse(metrics: &str) -> ProxyTrust {
    let mut t = ProxyTrust::default();
    for line in metrics.lines() {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        if let Some(labels) = series.strip_prefix("weft_proxy_trust_anchors{") {
            t.anchors_digest = label(labels, "digest");
        } else if series == "weft_proxy_certificate_verified" {
            t.certificate_verified = value.trim() == "1";
        } else if series == "weft_proxy_certificate_expiry_timestamp_seconds" {
            t.certificate_expiry = value.trim().parse().ok();
        } else if let Some(labels) = series.strip_prefix("weft_proxy_control_plane_verified{")
            && value.trim() == "0"
            && let Some(service) = label(labels, "service")
        {
            t.refused.push(service);
        }
    }
    t
}

fn label(labels: &str, name: &str) -> Option<String> {
    let start = labels.find(&format!("{name}=\""))? + name.len() + 2;
    let len = labels[start..].find('"')?;
    Some(labels[start..start + len].to_string())
}

/// Each proxy's report (or why it could not be read), judged against the
/// digest of the control plane's `weft-mesh-trust-anchors`.
pub fn judge(current: Option<&str>, reports: &[(String, Result<ProxyTrust, String>)]) -> Vec<Line> {
    let (trust_check, plane_check) = ("proxies' trust", "proxies' control plane");
    if reports.is_empty() {
        return Vec::new();
    }
    let Some(current) = current else {
        return vec![Line::fail(
            trust_check,
            "weft-mesh-trust-anchors has no readable bundle to compare proxies with",
            "kubectl -n weft-system get configmap weft-mesh-trust-anchors -o yaml",
        )];
    };
    let (mut read, mut unreadable, mut old) = (Vec::new(), Vec::new(), Vec::new());
    for (pod, r) in reports {
        match r {
            Ok(t) if t.anchors_digest.is_some() => read.push((pod, t)),
            Ok(_) => old.push(pod.clone()),
            Err(e) => unreadable.push(format!("{pod} ({e})")),
        }
    }
    let other_anchors: Vec<String> = read
        .iter()
        .filter(|(_, t)| t.anchors_digest.as_deref() != Some(current))
        .map(|(p, _)| p.to_string())
        .collect();
    let bad_cert: Vec<String> = read
        .iter()
        .filter(|(_, t)| t.anchors_digest.as_deref() == Some(current) && !t.certificate_verified)
        .map(|(p, _)| p.to_string())
        .collect();
    let refused: Vec<String> = read
        .iter()
        .filter(|(_, t)| !t.refused.is_empty())
        .map(|(p, t)| format!("{p} ({})", short_services(&t.refused)))
        .collect();
    let mut lines = Vec::new();
    lines.push(if !other_anchors.is_empty() || !bad_cert.is_empty() {
        let mut detail = Vec::new();
        if !other_anchors.is_empty() {
            detail.push(format!(
                "{} trust other anchors than the control plane's: {}",
                other_anchors.len(),
                listing(&other_anchors)
            ));
        }
        if !bad_cert.is_empty() {
            detail.push(format!(
                "{} hold no certificate chaining to them: {}",
                bad_cert.len(),
                listing(&bad_cert)
            ));
        }
        Line::fail(
            trust_check,
            format!("of {} proxies, {}", read.len(), detail.join("; ")),
            "they predate a reinstall with a new PKI, or missed an anchor rotation: re-create them (kubectl rollout restart their workloads); see docs/troubleshooting.md",
        )
    } else {
        Line::pass(
            trust_check,
            format!(
                "{} proxies trust the current anchors and hold a certificate chaining to them",
                read.len()
            ),
        )
    });
    lines.push(if refused.is_empty() {
        Line::pass(
            plane_check,
            format!(
                "{} proxies verify weft-identity and weft-controller",
                read.len()
            ),
        )
    } else {
        Line::fail(
            plane_check,
            format!(
                "{} proxies cannot verify the control plane (no renewal, policy or endpoint update reaches them): {}",
                refused.len(),
                listing(&refused)
            ),
            "re-create them (kubectl rollout restart their workloads); see docs/troubleshooting.md",
        )
    });
    if !unreadable.is_empty() {
        lines.push(Line::warn(
            trust_check,
            format!(
                "could not read {} proxies' metrics: {}",
                unreadable.len(),
                listing(&unreadable)
            ),
            "the check reads each proxy's admin port through the API server (pods/proxy); a network policy may block it",
        ));
    }
    if !old.is_empty() {
        lines.push(Line::warn(
            trust_check,
            format!(
                "{} proxies are too old to report their trust: {}",
                old.len(),
                listing(&old)
            ),
            "re-create them to run the current proxy",
        ));
    }
    lines
}

/// `…/sa/weft-identity` reads better than the whole SPIFFE id.
fn short_services(services: &[String]) -> String {
    services
        .iter()
        .map(|s| s.rsplit('/').next().unwrap_or(s))
        .collect::<Vec<_>>()
        .join(", ")
}
