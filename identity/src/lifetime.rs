//! The workload certificate lifetime as operators write it (`24h`, `90m`).

use std::time::Duration;

/// Shorter lifetimes renew so often that an identity-service outage of a
/// few seconds would already expire certificates.
pub const MIN: Duration = Duration::from_secs(60);

/// Parses `<n>s`, `<n>m`, `<n>h` or `<n>d` (at least [`MIN`]).
pub fn parse(v: &str) -> Result<Duration, String> {
    let v = v.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (n, unit) = v.split_at(split);
    let usage = || format!("{v:?}: expected a lifetime such as 24h, 90m or 1d");
    let n: u64 = n.parse().map_err(|_| usage())?;
    let secs = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        _ => return Err(usage()),
    };
    let d = Duration::from_secs(secs);
    if d < MIN {
        return Err(format!(
            "{v:?}: a certificate lifetime must be at least {MIN:?}"
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_parse_with_their_unit_and_a_floor() {
        assert_eq!(parse("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse("90m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse("60s"), Ok(MIN));
        assert!(parse("59s").unwrap_err().contains("at least"));
        assert!(parse("24").is_err(), "a unit is required");
        assert!(parse("h").is_err());
        assert!(parse("-1h").is_err());
    }
}
