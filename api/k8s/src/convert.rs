//! Converting SMI objects between the versions weft serves, for the CRDs'
//! conversion webhook.
//!
//! Each version reads back in its own layout: TrafficTarget v1alpha1 and
//! HTTPRouteGroup v1alpha1/v1alpha2 keep their fields at the top level,
//! later versions under `spec`; HTTPRouteGroup v1alpha4 writes `headers` as
//! a map, earlier versions as a list of one-key maps; TrafficSplit v1alpha1
//! writes weights as quantity strings, later versions as integers.
//!
//! Conversion never decides what an object means. It rewrites only the
//! fields it understands, keeps every other field where it was (an unknown
//! field reaches the lenient decoder, which refuses the object with an
//! Event), and leaves the body untouched, changing only `apiVersion`, when
//! the object is not in a layout it can read: an object with both `spec`
//! and top-level fields, a header list with a repeated name, a weight that
//! is not a number. So converting can neither lose a field nor turn a
//! malformed object into a valid one, and a round trip through any
//! version returns what was written.

use crate::{access, decode, specs, split};
use serde_json::{Map, Value};

/// Why an object could not be converted at all.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    #[error("not a JSON object")]
    NotAnObject,
    #[error("{kind} is not a kind weft converts")]
    UnknownKind { kind: String },
    #[error("{kind} is not served at {api_version}")]
    UnknownVersion { kind: String, api_version: String },
}

/// Every `group/version` a kind is served at, oldest first (`None` for a
/// kind weft does not serve).
pub fn served(kind: &str) -> Option<Vec<String>> {
    let (group, latest, older) = match kind {
        "TrafficTarget" => (access::GROUP, access::VERSION, access::OLDER_VERSIONS),
        "HTTPRouteGroup" | "TCPRoute" | "UDPRoute" => {
            (specs::GROUP, specs::VERSION, specs::OLDER_VERSIONS)
        }
        "TrafficSplit" => (split::GROUP, split::VERSION, split::OLDER_VERSIONS),
        _ => return None,
    };
    Some(
        older
            .iter()
            .chain([&latest])
            .map(|v| format!("{group}/{v}"))
            .collect(),
    )
}

/// A served version's place among its group's versions: 1 for v1alpha1.
fn generation(version: &str) -> Option<u8> {
    version.strip_prefix("v1alpha")?.parse().ok()
}

/// Converts `obj` to `api_version` (`group/version`) in that version's
/// layout.
pub fn convert(obj: &Value, api_version: &str) -> Result<Value, ConvertError> {
    let Value::Object(map) = obj else {
        return Err(ConvertError::NotAnObject);
    };
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or_default();
    let versions = served(kind).ok_or_else(|| ConvertError::UnknownKind {
        kind: kind.to_string(),
    })?;
    let unknown_version = || ConvertError::UnknownVersion {
        kind: kind.to_string(),
        api_version: api_version.to_string(),
    };
    if !versions.iter().any(|v| v == api_version) {
        return Err(unknown_version());
    }
    let version = api_version.rsplit('/').next().unwrap_or(api_version);
    let to = generation(version).ok_or_else(unknown_version)?;
    let mut out = map.clone();
    match kind {
        "TrafficTarget" => traffic_target(&mut out, to),
        "HTTPRouteGroup" => http_route_group(&mut out, to),
        "TrafficSplit" => traffic_split(&mut out, to),
        // TCPRoute and UDPRoute have one layout at every version.
        _ => {}
    }
    out.insert("apiVersion".into(), Value::from(api_version));
    Ok(Value::Object(out))
}

/// Moves `fields` between the top level and `spec`: up when `to_top` is
/// set, else down. Does nothing unless the object is wholly in the other
/// layout, with nothing in `spec` but those fields.
fn relayout(obj: &mut Map<String, Value>, fields: &[&str], to_top: bool) {
    let at_top = fields.iter().any(|f| obj.contains_key(*f));
    match obj.get("spec") {
        Some(Value::Object(spec))
            if to_top && !at_top && spec.keys().all(|k| fields.contains(&k.as_str())) =>
        {
            let Some(Value::Object(spec)) = obj.remove("spec") else {
                unreachable!("matched an object above")
            };
            obj.extend(spec);
        }
        None if !to_top && at_top => {
            let spec: Map<String, Value> = fields
                .iter()
                .filter_map(|f| obj.remove(*f).map(|v| (f.to_string(), v)))
                .collect();
            obj.insert("spec".into(), Value::Object(spec));
        }
        _ => {}
    }
}

/// Renames `from` to `to` in `m` unless `to` is already there.
fn rename(m: &mut Map<String, Value>, from: &str, to: &str) {
    if !m.contains_key(to)
        && let Some(v) = m.remove(from)
    {
        m.insert(to.into(), v);
    }
}

/// The map holding a kind's body fields in whichever layout the object is.
fn body(obj: &mut Map<String, Value>) -> &mut Map<String, Value> {
    if matches!(obj.get("spec"), Some(Value::Object(_))) {
        match obj.get_mut("spec") {
            Some(Value::Object(spec)) => spec,
            _ => unreachable!("checked above"),
        }
    } else {
        obj
    }
}

// v1alpha1: top-level destination, sources and `specs`; later: under
// `spec`, with `specs` renamed `rules`.
fn traffic_target(obj: &mut Map<String, Value>, to: u8) {
    const FIELDS: &[&str] = &["destination", "sources", "specs", "rules"];
    if obj.contains_key("spec") && FIELDS.iter().any(|f| obj.contains_key(*f)) {
        return;
    }
    relayout(obj, FIELDS, to == 1);
    match obj.get_mut("spec") {
        Some(Value::Object(spec)) if to > 1 => rename(spec, "specs", "rules"),
        None if to == 1 => rename(obj, "rules", "specs"),
        _ => {}
    }
    // v1alpha1 and v1alpha2 type the port as an integer.
    if to <= 2
        && let Some(Value::Object(dest)) = body(obj).get_mut("destination")
        && let Some(Value::String(p)) = dest.get("port")
        && let Ok(n) = p.trim().parse::<u16>()
    {
        dest.insert("port".into(), Value::from(n));
    }
}

// v1alpha1/v1alpha2: top-level `matches`; later under `spec`. v1alpha4:
// `headers` as a map; earlier: a list of one-key maps.
fn http_route_group(obj: &mut Map<String, Value>, to: u8) {
    if obj.contains_key("spec") && obj.contains_key("matches") {
        return;
    }
    relayout(obj, &["matches"], to <= 2);
    let Some(Value::Array(matches)) = body(obj).get_mut("matches") else {
        return;
    };
    for m in matches.iter_mut().filter_map(Value::as_object_mut) {
        let converted = match m.get("headers") {
            Some(Value::Array(list)) if to == 4 => headers_to_map(list),
            Some(Value::Object(map)) if to < 4 => Some(headers_to_list(map)),
            _ => None,
        };
        if let Some(h) = converted {
            m.insert("headers".into(), h);
        }
    }
}

/// `[{a: x}, {b: y}]` → `{a: x, b: y}`, or nothing when an item is not a
/// one-key map or a name repeats (a map could not hold both values).
fn headers_to_map(list: &[Value]) -> Option<Value> {
    let mut out = Map::new();
    for item in list {
        let one = item.as_object().filter(|o| o.len() == 1)?;
        let (k, v) = one.iter().next()?;
        if out.insert(k.clone(), v.clone()).is_some() {
            return None;
        }
    }
    Some(Value::Object(out))
}

fn headers_to_list(map: &Map<String, Value>) -> Value {
    map.iter()
        .map(|(k, v)| Value::Object(Map::from_iter([(k.clone(), v.clone())])))
        .collect()
}

// v1alpha1: weights are quantities, written as strings; later: integers.
fn traffic_split(obj: &mut Map<String, Value>, to: u8) {
    let Some(Value::Object(spec)) = obj.get_mut("spec") else {
        return;
    };
    let Some(Value::Array(backends)) = spec.get_mut("backends") else {
        return;
    };
    let weights: Vec<Option<&Value>> = backends.iter().map(|b| b.get("weight")).collect();
    let converted: Option<Vec<Value>> = if to == 1 {
        weights
            .iter()
            .map(|w| match w {
                Some(Value::Number(n)) if n.as_u64().is_some() => Some(Value::from(n.to_string())),
                Some(Value::String(s)) => Some(Value::from(s.clone())),
                _ => None,
            })
            .collect()
    } else {
        integer_weights(&weights)
    };
    // Only a whole backend list in a layout this understands is rewritten.
    let Some(converted) = converted else { return };
    for (b, w) in backends.iter_mut().zip(converted) {
        if let Some(b) = b.as_object_mut() {
            b.insert("weight".into(), w);
        }
    }
}

/// Integer weights with the ratios the decoder reads: unchanged when
/// already integers; quantities as whole units when every one is whole
/// (`"0"`, `"100"` → 0, 100), else all in thousandths (`500m`, `1` → 500,
/// 1000), exactly as [`decode`] normalises them.
fn integer_weights(weights: &[Option<&Value>]) -> Option<Vec<Value>> {
    let any_quantity = weights.iter().any(|w| matches!(w, Some(Value::String(_))));
    let milli: Vec<i64> = weights
        .iter()
        .map(|w| match w {
            Some(Value::String(q)) => decode::parse_milli(q).ok(),
            Some(Value::Number(n)) => n.as_i64().filter(|n| *n >= 0).map(|n| {
                if any_quantity {
                    n.saturating_mul(1000)
                } else {
                    n
                }
            }),
            _ => None,
        })
        .collect::<Option<_>>()?;
    let scale = if any_quantity && milli.iter().all(|m| m % 1000 == 0) {
        1000
    } else {
        1
    };
    milli
        .iter()
        .map(|m| u32::try_from(m / scale).ok().map(Value::from))
        .collect()
}

#[cfg(test)]
mod tests;
