//! The SMI TrafficMetrics API (`metrics.smi-spec.io/v1alpha1`), served by
//! the controller as an extension API server behind an APIService.
//!
//! One replica, holding a Lease, scrapes every meshed proxy's metrics
//! listener over mTLS and keeps a bounded window per pod ([`scraper`]);
//! requests are answered from that window and the controller's own index
//! ([`aggregate`]), after the API server's front-proxy certificate is
//! verified and the end user authorised with a SubjectAccessReview
//! ([`server`]).

pub mod aggregate;
pub mod authn;
pub mod discovery;
pub mod lease;
pub mod routes;
pub mod scraper;
pub mod selector;
pub mod server;

use std::time::Duration;

/// A Go-style duration as the chart writes it: `500ms`, `30s`, `1m`,
/// `1m30s`, `1h`.
pub fn parse_duration(v: &str) -> Result<Duration, String> {
    let err = || format!("{v:?} is not a duration such as 500ms, 30s, 1m or 1m30s");
    let mut rest = v.trim();
    if rest.is_empty() {
        return Err(err());
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
        let n: u64 = rest[..digits].parse().map_err(|_| err())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(1),
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            _ => return Err(err()),
        };
        total += unit * u32::try_from(n).map_err(|_| err())?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "30", "s", "1d", "-1s", "1.5s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
