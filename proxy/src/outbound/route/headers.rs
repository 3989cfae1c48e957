//! Gateway API's header modifiers, for requests (RequestHeaderModifier)
//! and responses (ResponseHeaderModifier) alike.

use http::{HeaderMap, HeaderName, HeaderValue};
use weft_api::discovery as pb;

/// One HeaderModifier, its names and values parsed once.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct HeaderEdit {
    set: Vec<(HeaderName, HeaderValue)>,
    add: Vec<(HeaderName, HeaderValue)>,
    remove: Vec<HeaderName>,
}

impl HeaderEdit {
    /// `m` parsed; an error names what cannot be a header.
    pub(super) fn new(m: &pb::HeaderModifier) -> Result<Self, String> {
        let header = |h: &pb::Header| -> Result<(HeaderName, HeaderValue), String> {
            Ok((name(&h.name)?, value(&h.value)?))
        };
        Ok(Self {
            set: m.set.iter().map(header).collect::<Result<_, _>>()?,
            add: m.add.iter().map(header).collect::<Result<_, _>>()?,
            remove: m.remove.iter().map(|n| name(n)).collect::<Result<_, _>>()?,
        })
    }

    /// Removes first, then sets (replacing every value), then adds
    /// (appending one more): a name both removed and set ends with the
    /// new value, as in Envoy-based implementations.
    pub fn apply(&self, h: &mut HeaderMap) {
        for n in &self.remove {
            h.remove(n);
        }
        for (n, v) in &self.set {
            h.insert(n, v.clone());
        }
        for (n, v) in &self.add {
            h.append(n, v.clone());
        }
    }
}

fn name(n: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(n.as_bytes()).map_err(|_| format!("{n:?} is not a header name"))
}

fn value(v: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(v).map_err(|_| format!("{v:?} is not a header value"))
}

#[cfg(test)]
mod tests;
