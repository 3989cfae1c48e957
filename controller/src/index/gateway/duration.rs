//! Gateway API durations: one to four `<number><unit>` parts, numbers of
//! up to five digits, units `h`, `m`, `s`, `ms` (`10s`, `1h30m`, `500ms`).

/// Why a duration cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a Gateway API duration (like 10s, 1m30s, 500ms): {why}")]
pub(crate) struct DurationError {
    pub value: String,
    pub why: &'static str,
}

/// The duration in milliseconds; more than `u32::MAX` ms (about 49 days)
/// saturates, which the proxy cannot tell from forever anyway.
pub(crate) fn millis(value: &str) -> Result<u32, DurationError> {
    let err = |why| DurationError {
        value: value.to_owned(),
        why,
    };
    let mut rest = value;
    let mut total: u64 = 0;
    let mut parts = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(err("each part starts with a number"));
        }
        if digits > 5 {
            return Err(err("a number has at most five digits"));
        }
        let n: u64 = rest[..digits].parse().map_err(|_| err("not a number"))?;
        rest = &rest[digits..];
        let (unit_ms, len) = if rest.starts_with("ms") {
            (1, 2)
        } else if rest.starts_with('h') {
            (3_600_000, 1)
        } else if rest.starts_with('m') {
            (60_000, 1)
        } else if rest.starts_with('s') {
            (1_000, 1)
        } else {
            return Err(err("each number needs a unit: h, m, s or ms"));
        };
        rest = &rest[len..];
        parts += 1;
        if parts > 4 {
            return Err(err("at most four parts"));
        }
        total += n * unit_ms;
    }
    if parts == 0 {
        return Err(err("empty"));
    }
    Ok(u32::try_from(total).unwrap_or(u32::MAX))
}
