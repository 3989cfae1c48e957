//! The Gateway API part of `weft authz explain`'s answer, for a person:
//! per routed Service port, the rule that decides the request, its
//! filters, where it sends the request, and the pod's verdict on the
//! request as it arrives.

use super::gateway::{Matched, Outcome, Routed, short};
use std::{fmt::Write as _, time::Duration};
use weft_api::{
    discovery::{self as pb, path_match::Kind as PathKind, path_modifier, route_filter::Kind},
    duration,
};

/// One routed Service port, as lines indented under the answer.
pub(super) fn section(out: &mut String, client_ns: Option<&str>, r: &Routed) {
    let p = &r.parent;
    let who = client_ns.map_or_else(
        || "a client outside the mesh".to_owned(),
        |ns| format!("a client in namespace {ns}"),
    );
    let _ = writeln!(
        out,
        "  Gateway API routes of Service {}/{} port {}, for {who}:",
        p.namespace, p.name, p.port
    );
    let line = match &r.outcome {
        Outcome::NoProxy => "    not applied: the client's proxy applies routes, and this client has none; it reaches the Service's endpoints directly".to_owned(),
        Outcome::NotHttp => "    not applied: routes decide HTTP requests; a TCP connection goes to the Service's own endpoints".to_owned(),
        Outcome::BadPath(why) => format!(
            "    the client's proxy answers 400 with weft-proxy-error: bad-request ({why}); no backend is asked"
        ),
        Outcome::NoRule => "    no rule matches: the client's proxy answers 404 with weft-proxy-error: no-route (gRPC: UNIMPLEMENTED); no backend is asked".to_owned(),
        Outcome::Rule(m) => return matched(out, m),
    };
    let _ = writeln!(out, "{line}");
}

fn matched(out: &mut String, m: &Matched) {
    let r = &m.rule;
    let _ = writeln!(
        out,
        "    ✔ {} rule {} matches: {}",
        r.route.replacen('/', " ", 1),
        r.rule,
        match_text(r.r#match.as_ref())
    );
    if !r.filters.is_empty() {
        let list: Vec<String> = r.filters.iter().map(filter).collect();
        let _ = writeln!(out, "      filters: {}", list.join("; "));
    }
    let mut limits = Vec::new();
    if r.request_timeout_ms > 0 {
        limits.push(format!("request timeout {}", ms(r.request_timeout_ms)));
    }
    if r.backend_request_timeout_ms > 0 {
        limits.push(format!("each attempt {}", ms(r.backend_request_timeout_ms)));
    }
    if let Some(retry) = &r.retry {
        limits.push(retry_text(retry));
    }
    if !limits.is_empty() {
        let _ = writeln!(out, "      {}", limits.join("; "));
    }
    if let Some(a) = &m.answered {
        let _ = writeln!(
            out,
            "      the client's proxy answers {a} itself; no backend is asked"
        );
        return;
    }
    let total: u64 = m.shares.iter().map(|s| u64::from(s.weight)).sum();
    let shares: Vec<String> = m
        .shares
        .iter()
        .zip(&r.backends)
        .map(|(s, b)| {
            let (name, unusable) = if s.backend.is_empty() {
                (
                    "a backendRef weft cannot use",
                    " whose share is answered 500 bad-route (see the route's ResolvedRefs)",
                )
            } else {
                (s.backend.as_str(), "")
            };
            let percent = if total == 0 {
                0.0
            } else {
                f64::from(s.weight) * 100.0 / total as f64
            };
            let filters: Vec<String> = b.filters.iter().map(filter).collect();
            format!(
                "{name} weight {} ({percent:.0}%){unusable}{}{}",
                s.weight,
                if filters.is_empty() {
                    String::new()
                } else {
                    format!(" with {}", filters.join("; "))
                },
                if s.here { " ← this pod" } else { "" }
            )
        })
        .collect();
    let _ = writeln!(out, "      backends: {}", shares.join(", "));
    let _ = writeln!(
        out,
        "      each backend's pods still authorize the request with their own TrafficTargets"
    );
    match &m.delivered {
        None => {
            let _ = writeln!(
                out,
                "      none of them sends it to this pod: such requests do not reach it through this Service"
            );
        }
        Some(Err(a)) => {
            let _ = writeln!(
                out,
                "      towards this pod's backend the client's proxy answers {a} itself"
            );
        }
        Some(Ok(d)) => {
            let changed = if d.header_changes.is_empty() {
                String::new()
            } else {
                format!(" (headers: {})", d.header_changes.join("; "))
            };
            let _ = writeln!(
                out,
                "      at this pod: {} for {} {}{changed}",
                super::verdict(&d.decision),
                d.method,
                d.path
            );
        }
    }
}

fn ms(n: u32) -> String {
    duration::format(Duration::from_millis(u64::from(n)))
}

fn retry_text(r: &pb::RouteRetry) -> String {
    let on = if r.codes.is_empty() {
        "failed connections and reset streams only".to_owned()
    } else {
        let codes: Vec<String> = r.codes.iter().map(ToString::to_string).collect();
        format!("status {}", codes.join(", "))
    };
    let backoff = if r.backoff_ms > 0 {
        format!(", backoff {}", ms(r.backoff_ms))
    } else {
        String::new()
    };
    format!(
        "up to {} retr{} on {on}{backoff}, within the proxy's retry budget",
        r.attempts,
        if r.attempts == 1 { "y" } else { "ies" }
    )
}

/// A match, as the route wrote it (after the controller's translation).
pub(super) fn match_text(m: Option<&pb::RouteMatch>) -> String {
    let Some(m) = m else {
        return "any request".into();
    };
    let mut parts = Vec::new();
    if let Some(p) = &m.path {
        match p.kind() {
            PathKind::Any => {}
            PathKind::Exact => parts.push(format!("path {}", p.value)),
            PathKind::Prefix => parts.push(format!("path prefix {}", p.value)),
            PathKind::Regex => parts.push(format!("path ~ {}", p.value)),
        }
    }
    if !m.method.is_empty() {
        parts.push(format!("method {}", m.method));
    }
    let value = |what: &str, v: &pb::ValueMatch| {
        format!(
            "{what} {} {} {}",
            v.name,
            if v.regex { "~" } else { "=" },
            v.value
        )
    };
    parts.extend(m.headers.iter().map(|h| value("header", h)));
    parts.extend(m.query_params.iter().map(|q| value("query", q)));
    if parts.is_empty() {
        "any request".into()
    } else {
        parts.join(" and ")
    }
}

pub(super) fn filter(f: &pb::RouteFilter) -> String {
    match &f.kind {
        Some(Kind::RequestHeaderModifier(h)) => format!("request headers ({})", headers(h)),
        Some(Kind::ResponseHeaderModifier(h)) => format!("response headers ({})", headers(h)),
        Some(Kind::RequestRedirect(r)) => {
            let mut parts = vec![format!(
                "redirect {}",
                if r.status_code == 0 {
                    302
                } else {
                    r.status_code
                }
            )];
            if !r.scheme.is_empty() {
                parts.push(format!("scheme {}", r.scheme));
            }
            if !r.hostname.is_empty() {
                parts.push(format!("host {}", r.hostname));
            }
            if r.port != 0 {
                parts.push(format!("port {}", r.port));
            }
            parts.extend(r.path.as_ref().map(path));
            parts.join(", ")
        }
        Some(Kind::UrlRewrite(u)) => {
            let mut parts = vec!["rewrite".to_owned()];
            if !u.hostname.is_empty() {
                parts.push(format!("host {}", u.hostname));
            }
            parts.extend(u.path.as_ref().map(path));
            parts.join(", ")
        }
        Some(Kind::RequestMirror(b)) if b.is_empty() => {
            "mirror to a backendRef weft cannot use".into()
        }
        Some(Kind::RequestMirror(b)) => format!("mirror to {}", short(b)),
        Some(Kind::Unsupported(why)) => {
            format!("{why}, which weft cannot apply (500 bad-route)")
        }
        None => "an empty filter".into(),
    }
}

fn headers(h: &pb::HeaderModifier) -> String {
    let mut parts: Vec<String> = Vec::new();
    parts.extend(h.set.iter().map(|x| format!("set {}: {}", x.name, x.value)));
    parts.extend(h.add.iter().map(|x| format!("add {}: {}", x.name, x.value)));
    parts.extend(h.remove.iter().map(|x| format!("remove {x}")));
    parts.join(", ")
}

fn path(p: &pb::PathModifier) -> String {
    match &p.kind {
        Some(path_modifier::Kind::Full(x)) => format!("path {x}"),
        Some(path_modifier::Kind::Prefix(x)) => format!("matched prefix → {x}"),
        None => "path unchanged".into(),
    }
}
