//! Route filters as the proxy's. What weft cannot apply becomes
//! `unsupported`, so the rule's requests fail rather than go through
//! unfiltered: ExtensionRef, CORS, ExternalAuth, a type weft does not know
//! (or one GRPCRoute does not allow), a mirror of a fraction of the
//! requests, a redirect status code Gateway API does not list.

use super::route::Route;
use super::{Build, backends};
use weft_api::discovery::{
    Header, HeaderModifier, PathModifier, RequestRedirect, RouteFilter, UrlRewrite, path_modifier,
    route_filter::Kind,
};
use weft_k8s_api::gateway::filter::{
    self as api, HeaderFilter, REPLACE_FULL_PATH, REPLACE_PREFIX_MATCH, types,
};
use weft_k8s_api::gateway::status::conditions as c;

/// The filter types GRPCRoute allows.
const GRPC_TYPES: &[&str] = &[
    types::REQUEST_HEADER_MODIFIER,
    types::RESPONSE_HEADER_MODIFIER,
    types::REQUEST_MIRROR,
    types::EXTENSION_REF,
];

const REDIRECT_CODES: &[i32] = &[301, 302, 303, 307, 308];

pub(super) fn map(b: &mut Build<'_>, route: Route<'_>, f: &api::RouteFilter) -> RouteFilter {
    let kind = match kind(b, route, f) {
        Ok(k) => k,
        Err(why) => {
            b.problem(
                c::REASON_UNSUPPORTED_VALUE,
                format!("filter {why}: weft cannot apply it, so the rule's requests fail"),
            );
            Kind::Unsupported(why)
        }
    };
    RouteFilter { kind: Some(kind) }
}

fn kind(b: &mut Build<'_>, route: Route<'_>, f: &api::RouteFilter) -> Result<Kind, String> {
    let t = f.type_.as_str();
    if matches!(route, Route::Grpc(..)) && !GRPC_TYPES.contains(&t) {
        return Err(format!("{t} is not a GRPCRoute filter"));
    }
    let missing = || format!("{t} without its {} field", field(t));
    match t {
        types::REQUEST_HEADER_MODIFIER => f
            .request_header_modifier
            .as_ref()
            .map(|h| Kind::RequestHeaderModifier(headers(h)))
            .ok_or_else(missing),
        types::RESPONSE_HEADER_MODIFIER => f
            .response_header_modifier
            .as_ref()
            .map(|h| Kind::ResponseHeaderModifier(headers(h)))
            .ok_or_else(missing),
        types::REQUEST_REDIRECT => {
            let r = f.request_redirect.as_ref().ok_or_else(missing)?;
            let status_code = match r.status_code {
                None => 0,
                Some(code) if REDIRECT_CODES.contains(&code) => code.unsigned_abs(),
                Some(code) => return Err(format!("{t} with status code {code}")),
            };
            Ok(Kind::RequestRedirect(RequestRedirect {
                scheme: r.scheme.clone().unwrap_or_default().to_ascii_lowercase(),
                hostname: r.hostname.clone().unwrap_or_default(),
                path: r.path.as_ref().map(path).transpose()?,
                port: r.port.and_then(|p| u32::try_from(p).ok()).unwrap_or(0),
                status_code,
            }))
        }
        types::URL_REWRITE => {
            let r = f.url_rewrite.as_ref().ok_or_else(missing)?;
            Ok(Kind::UrlRewrite(UrlRewrite {
                hostname: r.hostname.clone().unwrap_or_default(),
                path: r.path.as_ref().map(path).transpose()?,
            }))
        }
        types::REQUEST_MIRROR => {
            let m = f.request_mirror.as_ref().ok_or_else(missing)?;
            let all = match (&m.percent, &m.fraction) {
                (Some(p), _) => *p == 100,
                (None, Some(fr)) => Some(fr.numerator) == fr.denominator.or(Some(100)),
                (None, None) => true,
            };
            if !all {
                return Err(format!(
                    "{t} of a fraction of the requests (weft mirrors all or none)"
                ));
            }
            backends::resolve(b, route, &m.backend_ref)
                .map(Kind::RequestMirror)
                .map_err(|p| format!("{t}: {}", p.message))
        }
        types::EXTENSION_REF => {
            let e = f.extension_ref.clone().unwrap_or_default();
            Err(format!("{t} {}/{} {}", e.group, e.kind, e.name))
        }
        "" => Err("without a type".into()),
        other => Err(other.to_owned()),
    }
}

fn headers(h: &HeaderFilter) -> HeaderModifier {
    let list = |hs: &[api::Header]| {
        hs.iter()
            .map(|h| Header {
                name: h.name.to_ascii_lowercase(),
                value: h.value.clone(),
            })
            .collect()
    };
    HeaderModifier {
        set: list(&h.set),
        add: list(&h.add),
        remove: h.remove.iter().map(|n| n.to_ascii_lowercase()).collect(),
    }
}

fn path(p: &api::PathModifier) -> Result<PathModifier, String> {
    let kind = match (
        p.type_.as_str(),
        &p.replace_full_path,
        &p.replace_prefix_match,
    ) {
        (REPLACE_FULL_PATH, Some(full), _) => path_modifier::Kind::Full(full.clone()),
        (REPLACE_PREFIX_MATCH, _, Some(prefix)) => path_modifier::Kind::Prefix(prefix.clone()),
        (t @ (REPLACE_FULL_PATH | REPLACE_PREFIX_MATCH), ..) => {
            return Err(format!("path modifier {t} without its value"));
        }
        (t, ..) => return Err(format!("path modifier type {t:?}")),
    };
    Ok(PathModifier { kind: Some(kind) })
}

/// The field a filter type's settings are in.
fn field(t: &str) -> &'static str {
    match t {
        types::REQUEST_HEADER_MODIFIER => "requestHeaderModifier",
        types::RESPONSE_HEADER_MODIFIER => "responseHeaderModifier",
        types::REQUEST_REDIRECT => "requestRedirect",
        types::URL_REWRITE => "urlRewrite",
        _ => "requestMirror",
    }
}
