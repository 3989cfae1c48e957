//! Header rules both directions apply: what belongs to one hop, what marks
//! gRPC and upgrades, and the marker that carries an app's HTTP/1 across
//! the HTTP/2 mesh link.

use http::{HeaderMap, HeaderName, HeaderValue, Request, header};

/// Between proxies only: set by the client's proxy on a request the app
/// sent as HTTP/1, so the server's proxy restores HTTP/1.1 towards its app.
/// Trusted only on a verified mesh link; removed from every request.
pub const ORIGINAL_PROTOCOL: HeaderName = HeaderName::from_static("weft-original-protocol");
const HTTP1: HeaderValue = HeaderValue::from_static("http/1.1");

/// The original protocol marker for a request the app sent as HTTP/1.
pub fn mark_http1(h: &mut HeaderMap) {
    h.insert(ORIGINAL_PROTOCOL, HTTP1);
}

pub fn is_grpc(h: &HeaderMap) -> bool {
    h.get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}

/// An HTTP/1 request asking to switch protocols (WebSocket and the like).
pub fn is_upgrade<B>(req: &Request<B>) -> bool {
    req.version() < http::Version::HTTP_2
        && req.headers().contains_key(header::UPGRADE)
        && req
            .headers()
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

const HOPS: usize = 6;
/// Headers that belong to one hop whatever their value (`te` depends on
/// its value; `connection` names more).
const HOP_HEADERS: [HeaderName; HOPS] = [
    header::CONNECTION,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
];

/// Removes what belongs to one hop: the connection options and the headers
/// they name, which HTTP/2 forbids and which must not leak to the next hop.
pub fn strip_hop_headers(h: &mut HeaderMap) {
    // One pass over the names finds which are present: most messages carry
    // none, and many an app's response only `connection: keep-alive`, so
    // hashed removals are made only for names that are there (every
    // request and response, both proxies).
    let mut present = [false; HOPS];
    let mut te = false;
    for k in h.keys() {
        if let Some(i) = HOP_HEADERS.iter().position(|n| n == k) {
            present[i] = true;
        } else if k == header::TE {
            te = true;
        }
    }
    if present[0] {
        let named: Vec<HeaderName> = h
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
            .collect();
        for name in named {
            te |= name == header::TE;
            h.remove(name);
        }
    }
    for (name, _) in HOP_HEADERS.iter().zip(present).filter(|(_, p)| *p) {
        h.remove(name);
    }
    // `te: trailers` is the one TE value HTTP/2 carries (gRPC needs it).
    if te && h.get(header::TE).is_some_and(|v| v != "trailers") {
        h.remove(header::TE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn every_hop_header_goes_and_the_rest_stay() {
        for hop in [
            "connection",
            "transfer-encoding",
            "upgrade",
            "proxy-authorization",
            "keep-alive",
            "proxy-connection",
        ] {
            let mut h = map(&[("host", "a"), (hop, "x"), ("accept", "*/*")]);
            strip_hop_headers(&mut h);
            assert!(!h.contains_key(hop), "{hop} kept");
            assert_eq!(h.len(), 2, "{hop}: {h:?}");
        }
    }

    #[test]
    fn headers_named_by_connection_go_too() {
        let mut h = map(&[
            ("connection", "X-Hop, close"),
            ("x-hop", "1"),
            ("x-end", "2"),
        ]);
        strip_hop_headers(&mut h);
        assert_eq!(h, map(&[("x-end", "2")]));
    }

    #[test]
    fn all_hop_headers_at_once_go_whatever_connection_names() {
        let mut h = map(&[
            ("connection", "keep-alive, TE"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("proxy-connection", "keep-alive"),
            ("proxy-authorization", "Basic eA=="),
            ("x-end", "2"),
        ]);
        strip_hop_headers(&mut h);
        assert_eq!(h, map(&[("x-end", "2")]));
    }

    #[test]
    fn te_stays_only_as_trailers() {
        let mut h = map(&[("te", "trailers")]);
        strip_hop_headers(&mut h);
        assert_eq!(h, map(&[("te", "trailers")]));
        let mut h = map(&[("te", "gzip")]);
        strip_hop_headers(&mut h);
        assert!(h.is_empty());
    }

    #[test]
    fn a_request_without_hop_headers_is_left_as_it_was() {
        let before = map(&[
            ("host", "a"),
            ("accept", "*/*"),
            ("x-keep", "1"),
            ("x-keep", "2"),
        ]);
        let mut h = before.clone();
        strip_hop_headers(&mut h);
        assert_eq!(h, before);
    }
}
