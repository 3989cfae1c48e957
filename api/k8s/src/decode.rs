//! Per-object lenient decoding of SMI objects (and, in `gateway::decode`,
//! of the Gateway API objects weft reads).
//!
//! The controller watches SMI kinds as dynamic objects and decodes each one
//! on its own, so a malformed object is reported and skipped instead of
//! stalling a watch. Every layout older SMI versions (and the tools that still
//! write them) use decodes into the latest types:
//!
//! - top-level `destination`/`sources`/`specs` (TrafficTarget v1alpha1) and
//!   top-level `matches` (HTTPRouteGroup v1alpha1);
//! - `specs` as the old name of `rules`;
//! - `headers` as a map or as a list of one-key maps;
//! - quantity weights (`500m`, `1`; TrafficSplit v1alpha1), normalised to
//!   thousandths;
//! - `destination.port` as a number or a string.
//!
//! What none of these layouts has is refused: an unknown field (a typo
//! such as `pathregex` would otherwise make a match a wildcard), or `spec`
//! beside the top-level fields of an older layout.
//!
//! Errors name the object and the field: `TrafficSplit shop/web:
//! spec.backends[1].weight: …`.

use crate::{access, specs, split};
use kube::api::DynamicObject;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// Why an object could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind} {object}: {field}: {reason}")]
pub struct DecodeError {
    pub kind: &'static str,
    /// `namespace/name`.
    pub object: String,
    /// The offending field, as a path (`spec.backends[1].weight`).
    pub field: String,
    pub reason: String,
}

/// A kind that can be decoded one object at a time.
pub trait Lenient: Sized {
    const KIND: &'static str;
    /// Decodes a whole object (`apiVersion`, `kind`, `metadata`, and the
    /// body in any supported layout).
    fn decode(obj: &Value) -> Result<Self, DecodeError>;
}

/// Decodes a dynamic object from a watch.
pub fn from_dynamic<K: Lenient>(obj: &DynamicObject) -> Result<K, DecodeError> {
    let value = serde_json::to_value(obj).map_err(|e| DecodeError {
        kind: K::KIND,
        object: object_name(&obj.metadata),
        field: "<object>".into(),
        reason: e.to_string(),
    })?;
    K::decode(&value)
}

fn object_name(meta: &kube::api::ObjectMeta) -> String {
    format!(
        "{}/{}",
        meta.namespace.as_deref().unwrap_or(""),
        meta.name.as_deref().unwrap_or("<unnamed>")
    )
}

/// Context for the errors of one object.
struct Ctx {
    kind: &'static str,
    object: String,
}

impl Ctx {
    fn err(&self, field: impl Into<String>, reason: impl Into<String>) -> DecodeError {
        DecodeError {
            kind: self.kind,
            object: self.object.clone(),
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Splits an object into its metadata and body, checking the kind.
fn start(
    kind: &'static str,
    obj: &Value,
) -> Result<(Ctx, kube::api::ObjectMeta, Map<String, Value>), DecodeError> {
    let mut ctx = Ctx {
        kind,
        object: "<unknown>".into(),
    };
    let Value::Object(map) = obj else {
        return Err(ctx.err("<object>", "not a JSON object"));
    };
    let meta: kube::api::ObjectMeta = match map.get("metadata") {
        Some(m) => {
            serde_json::from_value(m.clone()).map_err(|e| ctx.err("metadata", e.to_string()))?
        }
        None => return Err(ctx.err("metadata", "missing")),
    };
    ctx.object = object_name(&meta);
    if let Some(k) = map.get("kind").and_then(Value::as_str)
        && k != kind
    {
        return Err(ctx.err("kind", format!("expected {kind}, got {k}")));
    }
    Ok((ctx, meta, map.clone()))
}

/// The spec, or for layouts without one, the listed top-level fields.
fn spec_or_top_level(
    ctx: &Ctx,
    body: &Map<String, Value>,
    top_level: &[&str],
) -> Result<Map<String, Value>, DecodeError> {
    match body.get("spec") {
        Some(Value::Object(spec)) => {
            // Two layouts in one object: which one the author meant is a
            // guess, and a wrong guess could grant what they did not mean.
            if let Some(k) = top_level.iter().find(|k| body.contains_key(**k)) {
                return Err(ctx.err(
                    *k,
                    format!("both spec and a top-level {k}: keep one layout"),
                ));
            }
            Ok(spec.clone())
        }
        Some(Value::Null) | None => Ok(top_level
            .iter()
            .filter_map(|k| body.get(*k).map(|v| (k.to_string(), v.clone())))
            .collect()),
        Some(_) => Err(ctx.err("spec", "must be an object")),
    }
}

fn typed<T: DeserializeOwned>(ctx: &Ctx, spec: Map<String, Value>) -> Result<T, DecodeError> {
    serde_path_to_error::deserialize(Value::Object(spec)).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "spec".to_string()
        } else {
            format!("spec.{path}")
        };
        ctx.err(field, e.into_inner().to_string())
    })
}

// === TrafficTarget ===

impl Lenient for access::TrafficTarget {
    const KIND: &'static str = "TrafficTarget";

    fn decode(obj: &Value) -> Result<Self, DecodeError> {
        let (ctx, metadata, body) = start(Self::KIND, obj)?;
        let mut spec =
            spec_or_top_level(&ctx, &body, &["destination", "sources", "specs", "rules"])?;
        if !spec.contains_key("rules")
            && let Some(old) = spec.remove("specs")
        {
            spec.insert("rules".into(), old);
        }
        if let Some(Value::Object(dest)) = spec.get_mut("destination") {
            port_as_number(&ctx, dest, "spec.destination.port")?;
        }
        if let Some(Value::Array(sources)) = spec.get_mut("sources") {
            for (i, s) in sources.iter_mut().enumerate() {
                if let Value::Object(s) = s {
                    port_as_number(&ctx, s, &format!("spec.sources[{i}].port"))?;
                }
            }
        }
        let spec: access::TrafficTargetSpec = typed(&ctx, spec)?;
        subject(&ctx, &spec.destination, "spec.destination")?;
        for (i, s) in spec.sources.iter().enumerate() {
            subject(&ctx, s, &format!("spec.sources[{i}]"))?;
        }
        for (i, r) in spec.rules.iter().enumerate() {
            if !access::RULE_KINDS.contains(&r.kind.as_str()) {
                return Err(ctx.err(
                    format!("spec.rules[{i}].kind"),
                    format!(
                        "{:?} is not one of {}",
                        r.kind,
                        access::RULE_KINDS.join(", ")
                    ),
                ));
            }
            if r.name.is_empty() {
                return Err(ctx.err(format!("spec.rules[{i}].name"), "must not be empty"));
            }
        }
        Ok(Self { metadata, spec })
    }
}

fn subject(ctx: &Ctx, s: &access::IdentityBindingSubject, field: &str) -> Result<(), DecodeError> {
    if s.kind != "ServiceAccount" {
        return Err(ctx.err(
            format!("{field}.kind"),
            format!("must be ServiceAccount, got {:?}", s.kind),
        ));
    }
    if s.name.is_empty() {
        return Err(ctx.err(format!("{field}.name"), "must not be empty"));
    }
    if s.port == Some(0) {
        return Err(ctx.err(format!("{field}.port"), "must be from 1 to 65535"));
    }
    Ok(())
}

/// `port: "8080"` → `port: 8080`.
fn port_as_number(ctx: &Ctx, m: &mut Map<String, Value>, field: &str) -> Result<(), DecodeError> {
    if let Some(Value::String(p)) = m.get("port") {
        let n: u16 = p
            .trim()
            .parse()
            .map_err(|_| ctx.err(field, format!("{p:?} is not a port number")))?;
        m.insert("port".into(), Value::from(n));
    }
    Ok(())
}

// === HTTPRouteGroup ===

impl Lenient for specs::HTTPRouteGroup {
    const KIND: &'static str = "HTTPRouteGroup";

    fn decode(obj: &Value) -> Result<Self, DecodeError> {
        let (ctx, metadata, body) = start(Self::KIND, obj)?;
        let mut spec = spec_or_top_level(&ctx, &body, &["matches"])?;
        if let Some(Value::Array(matches)) = spec.get_mut("matches") {
            for (i, m) in matches.iter_mut().enumerate() {
                if let Value::Object(m) = m {
                    headers_as_map(&ctx, m, i)?;
                }
            }
        }
        let mut spec: specs::HTTPRouteGroupSpec = typed(&ctx, spec)?;
        let mut seen = std::collections::BTreeSet::new();
        for (i, m) in spec.matches.iter_mut().enumerate() {
            let at = |f: &str| format!("spec.matches[{i}].{f}");
            if m.name.is_empty() {
                return Err(ctx.err(at("name"), "must not be empty"));
            }
            if !seen.insert(m.name.clone()) {
                return Err(ctx.err(at("name"), format!("duplicate match name {:?}", m.name)));
            }
            for (j, method) in m.methods.iter_mut().enumerate() {
                let up = method.to_ascii_uppercase();
                if !specs::METHODS.contains(&up.as_str()) {
                    return Err(ctx.err(
                        at(&format!("methods[{j}]")),
                        format!("unknown HTTP method {method:?}"),
                    ));
                }
                *method = up;
            }
            if let Some(re) = &m.path_regex {
                regex::Regex::new(re)
                    .map_err(|e| ctx.err(at("pathRegex"), format!("invalid regex: {e}")))?;
            }
            let mut headers = std::collections::BTreeMap::new();
            for (name, re) in std::mem::take(&mut m.headers) {
                regex::Regex::new(&re).map_err(|e| {
                    ctx.err(
                        at(&format!("headers.{name}")),
                        format!("invalid regex: {e}"),
                    )
                })?;
                headers.insert(name.to_ascii_lowercase(), re);
            }
            m.headers = headers;
        }
        Ok(Self { metadata, spec })
    }
}

/// `headers: [{a: x}, {b: y}]` → `headers: {a: x, b: y}`.
fn headers_as_map(ctx: &Ctx, m: &mut Map<String, Value>, i: usize) -> Result<(), DecodeError> {
    let Some(Value::Array(list)) = m.get("headers") else {
        return Ok(());
    };
    let mut merged = Map::new();
    for (j, item) in list.iter().enumerate() {
        match item {
            Value::Object(one) if one.len() == 1 => merged.extend(one.clone()),
            _ => {
                return Err(ctx.err(
                    format!("spec.matches[{i}].headers[{j}]"),
                    "each list item must be a map with exactly one header name",
                ));
            }
        }
    }
    m.insert("headers".into(), Value::Object(merged));
    Ok(())
}

// === TCPRoute, UDPRoute ===

impl Lenient for specs::TCPRoute {
    const KIND: &'static str = "TCPRoute";

    fn decode(obj: &Value) -> Result<Self, DecodeError> {
        let (ctx, metadata, body) = start(Self::KIND, obj)?;
        let spec: specs::TCPRouteSpec = typed(&ctx, spec_or_top_level(&ctx, &body, &["matches"])?)?;
        ports(&ctx, spec.matches.as_ref())?;
        Ok(Self { metadata, spec })
    }
}

impl Lenient for specs::UDPRoute {
    const KIND: &'static str = "UDPRoute";

    fn decode(obj: &Value) -> Result<Self, DecodeError> {
        let (ctx, metadata, body) = start(Self::KIND, obj)?;
        let spec: specs::UDPRouteSpec = typed(&ctx, spec_or_top_level(&ctx, &body, &["matches"])?)?;
        ports(&ctx, spec.matches.as_ref())?;
        Ok(Self { metadata, spec })
    }
}

fn ports(ctx: &Ctx, m: Option<&specs::PortMatch>) -> Result<(), DecodeError> {
    if let Some(i) = m.and_then(|m| m.ports.iter().position(|p| *p == 0)) {
        return Err(ctx.err(
            format!("spec.matches.ports[{i}]"),
            "must be from 1 to 65535",
        ));
    }
    Ok(())
}

// === TrafficSplit ===

impl Lenient for split::TrafficSplit {
    const KIND: &'static str = "TrafficSplit";

    fn decode(obj: &Value) -> Result<Self, DecodeError> {
        let (ctx, metadata, body) = start(Self::KIND, obj)?;
        let mut spec = spec_or_top_level(&ctx, &body, &[])?;
        if let Some(Value::Array(backends)) = spec.get_mut("backends") {
            normalise_weights(&ctx, backends)?;
        }
        let spec: split::TrafficSplitSpec = typed(&ctx, spec)?;
        if spec.service.is_empty() {
            return Err(ctx.err("spec.service", "must name the root Service"));
        }
        if spec.backends.is_empty() {
            return Err(ctx.err("spec.backends", "must list at least one backend"));
        }
        for (i, b) in spec.backends.iter().enumerate() {
            if b.service.is_empty() {
                return Err(ctx.err(format!("spec.backends[{i}].service"), "must not be empty"));
            }
        }
        for (i, m) in spec.matches.iter().enumerate() {
            if m.kind != "HTTPRouteGroup" {
                return Err(ctx.err(
                    format!("spec.matches[{i}].kind"),
                    format!("must be HTTPRouteGroup, got {:?}", m.kind),
                ));
            }
        }
        Ok(Self { metadata, spec })
    }
}

/// Integer weights stay as they are. When any weight is a quantity string
/// (v1alpha1: `500m`, `1`), every weight is converted to thousandths, which
/// keeps their ratios.
fn normalise_weights(ctx: &Ctx, backends: &mut [Value]) -> Result<(), DecodeError> {
    let any_quantity = backends
        .iter()
        .any(|b| b.get("weight").is_some_and(Value::is_string));
    for (i, b) in backends.iter_mut().enumerate() {
        let field = format!("spec.backends[{i}].weight");
        let Some(w) = b.get("weight") else { continue };
        let milli = match w {
            Value::String(q) => parse_milli(q).map_err(|reason| ctx.err(&field, reason))?,
            Value::Number(n) => match n.as_i64() {
                Some(n) if n < 0 => {
                    return Err(ctx.err(&field, format!("must not be negative, got {n}")));
                }
                Some(n) if any_quantity => n.saturating_mul(1000),
                Some(n) => n,
                None => return Err(ctx.err(&field, format!("must be a whole number, got {n}"))),
            },
            other => {
                return Err(ctx.err(
                    &field,
                    format!("must be a number or a quantity, got {other}"),
                ));
            }
        };
        let w = u32::try_from(milli).map_err(|_| ctx.err(&field, "too large"))?;
        b["weight"] = Value::from(w);
    }
    Ok(())
}

/// Parses a Kubernetes quantity into thousandths: `500m` → 500, `1` → 1000,
/// `1.5` → 1500.
pub(crate) fn parse_milli(q: &str) -> Result<i64, String> {
    let q = q.trim();
    let (num, scale) = match q.strip_suffix('m') {
        Some(n) => (n, 1.0),
        None => (q, 1000.0),
    };
    let v: f64 = num
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| format!("{q:?} is not a quantity (expected forms like 500m, 1, 0.5)"))?;
    if v < 0.0 {
        return Err(format!("must not be negative, got {q:?}"));
    }
    Ok((v * scale).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(parse_milli("500m"), Ok(500));
        assert_eq!(parse_milli("1"), Ok(1000));
        assert_eq!(parse_milli("0.25"), Ok(250));
        assert!(parse_milli("-1").is_err());
        assert!(parse_milli("half").is_err());
        assert!(parse_milli("1Gi").is_err());
    }
}
