//! What the suites' client apps do: HTTP/1.1 requests (hyper's client) on
//! kept-alive or fresh connections, TCP echo sessions, and the proxies'
//! `/metrics` read and parsed as Prometheus text. Every wait is bounded.

use super::mesh::{Pod, block_in_ns};
use super::plane::WAIT;
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::{collections::BTreeMap, future::Future, time::Duration};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};
use weft_api::contract::ports;

/// `f`, or `Err` naming `what` after `limit`.
pub async fn within<T>(
    limit: Duration,
    what: &str,
    f: impl Future<Output = T>,
) -> Result<T, String> {
    tokio::time::timeout(limit, f)
        .await
        .map_err(|_| format!("{what}: nothing within {limit:?}"))
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// An HTTP/1.1 client connection to `addr`.
pub async fn http1(addr: &str) -> Result<SendRequest<Full<Bytes>>, String> {
    let tcp = within(
        WAIT,
        &format!("connecting to {addr}"),
        TcpStream::connect(addr),
    )
    .await?
    .map_err(|e| format!("connecting to {addr}: {e}"))?;
    let (send, conn) = within(
        WAIT,
        "the HTTP/1 handshake",
        hyper::client::conn::http1::handshake(TokioIo::new(tcp)),
    )
    .await?
    .map_err(|e| format!("HTTP/1 handshake with {addr}: {e}"))?;
    tokio::spawn(conn);
    Ok(send)
}

/// A request with `headers`; `Host: app.weft.test`.
pub fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> Request<Full<Bytes>> {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "app.weft.test");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.body(Full::default()).unwrap()
}

/// Sends `req` on `s` once it can take it and reads the whole answer.
pub async fn send(
    s: &mut SendRequest<Full<Bytes>>,
    req: Request<Full<Bytes>>,
) -> Result<Reply, String> {
    let what = format!("{} {}", req.method(), req.uri());
    within(WAIT, &what, async {
        s.ready()
            .await
            .map_err(|e| format!("connection unusable before {what}: {e}"))?;
        let res = s
            .send_request(req)
            .await
            .map_err(|e| format!("{what}: {e}"))?;
        let (parts, body) = res.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| format!("{what}: reading the body of a {}: {e}", parts.status))?
            .to_bytes();
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    })
    .await?
}

/// One request on a fresh connection.
pub async fn fresh(addr: &str, req: Request<Full<Bytes>>) -> Result<Reply, String> {
    let mut s = http1(addr).await?;
    send(&mut s, req).await
}

/// An open TCP session from the current namespace.
pub struct Session(pub TcpStream);

impl Session {
    pub async fn open(addr: &str) -> Result<Self, String> {
        let s = within(
            WAIT,
            &format!("connecting to {addr}"),
            TcpStream::connect(addr),
        )
        .await?
        .map_err(|e| format!("connecting to {addr}: {e}"))?;
        Ok(Self(s))
    }

    /// Sends `msg` and reads as many bytes back; `Err` if the session is
    /// closed (or silent for `WAIT`) first.
    pub async fn echo(&mut self, msg: &[u8]) -> Result<(), String> {
        self.0
            .write_all(msg)
            .await
            .map_err(|e| format!("writing: {e}"))?;
        let mut got = vec![0u8; msg.len()];
        within(WAIT, "the echo", self.0.read_exact(&mut got))
            .await?
            .map_err(|e| format!("reading the echo: {e}"))?;
        if got != msg {
            return Err(format!("echoed {} other bytes", got.len()));
        }
        Ok(())
    }

    /// Waits up to `limit` for the far side to close (EOF or reset),
    /// writing `probe` now and then so a dropped link shows.
    pub async fn closed_within(&mut self, limit: Duration) -> bool {
        let t0 = tokio::time::Instant::now();
        let mut buf = [0u8; 1024];
        while t0.elapsed() < limit {
            match tokio::time::timeout(Duration::from_millis(200), self.0.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) | Err(_) => {}
            }
        }
        false
    }

    /// Half-closes and reads until the far side closes too.
    pub async fn finish(mut self) -> Result<(), String> {
        self.0
            .shutdown()
            .await
            .map_err(|e| format!("shutting down: {e}"))?;
        let mut rest = Vec::new();
        within(WAIT, "the far side's close", self.0.read_to_end(&mut rest))
            .await?
            .map_err(|e| format!("reading to the end: {e}"))?;
        if !rest.is_empty() {
            return Err(format!("{} unexpected bytes before the close", rest.len()));
        }
        Ok(())
    }
}

/// Connects, sends `msg` and reports whether anything came back before
/// the session closed: what a denied (closed) connection looks like from
/// the app.
pub async fn tcp_reaches(addr: &str, msg: &[u8]) -> bool {
    let Ok(mut s) = Session::open(addr).await else {
        return false;
    };
    s.echo(msg).await.is_ok()
}

/// The body of `GET path` on the admin port of `pod`'s proxy, asked from
/// inside the pod.
pub fn admin_get(pod: &Pod, path: &str) -> String {
    let addr = format!("{}:{}", pod.ip, ports::ADMIN);
    let path = path.to_string();
    block_in_ns(&pod.ns.name, move || async move {
        let r = fresh(&addr, request("GET", &path, &[]))
            .await
            .unwrap_or_else(|e| panic!("admin {path}: {e}"));
        assert_eq!(r.status, StatusCode::OK, "admin {path}: {r:?}");
        r.body
    })
}

/// One sample of a Prometheus text exposition.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses the text format: comments skipped, label values unescaped.
pub fn parse_metrics(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, rest) = match line.find(['{', ' ']) {
            Some(i) => line.split_at(i),
            None => panic!("a sample without a value: {line:?}"),
        };
        let mut labels = BTreeMap::new();
        let mut rest = rest;
        if let Some(r) = rest.strip_prefix('{') {
            let mut chars = r.char_indices().peekable();
            let end;
            loop {
                // key
                let mut key = String::new();
                let Some((i, c)) = chars.next() else {
                    panic!("unterminated labels: {line:?}")
                };
                if c == '}' {
                    end = i;
                    break;
                }
                if c == ',' {
                    continue;
                }
                key.push(c);
                for (_, c) in chars.by_ref() {
                    if c == '=' {
                        break;
                    }
                    key.push(c);
                }
                assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line:?}");
                let mut value = String::new();
                loop {
                    match chars.next() {
                        Some((_, '\\')) => match chars.next() {
                            Some((_, 'n')) => value.push('\n'),
                            Some((_, c)) => value.push(c),
                            None => panic!("{line:?}"),
                        },
                        Some((_, '"')) => break,
                        Some((_, c)) => value.push(c),
                        None => panic!("unterminated label value: {line:?}"),
                    }
                }
                labels.insert(key.trim().to_string(), value);
            }
            rest = &r[end + 1..];
        }
        let value = rest
            .split_whitespace()
            .next()
            .unwrap_or_else(|| panic!("no value: {line:?}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|e| panic!("value {value:?} of {line:?}: {e}"));
        out.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    out
}

/// The non-zero samples named `name`, by their labels (rendered
/// `k=v,k=v` in key order, so a mismatch reads plainly).
pub fn nonzero(samples: &[Sample], name: &str) -> BTreeMap<String, f64> {
    samples
        .iter()
        .filter(|s| s.name == name && s.value != 0.0)
        .map(|s| (render(&s.labels), s.value))
        .collect()
}

/// `k=v,k=v` in key order.
pub fn render(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Labels from pairs, rendered as [`nonzero`] renders them.
pub fn labels(pairs: &[(&str, &str)]) -> String {
    render(
        &pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}
