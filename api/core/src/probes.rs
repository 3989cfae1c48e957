//! The app probes the proxy runs for the kubelet.
//!
//! Under a `deny` policy a probe the kubelet sends straight to an app port
//! would need that port open to unauthenticated clients, and for tcpSocket,
//! gRPC and HTTPS probes that means open to anyone for anything. So the
//! injector rewrites each such probe into an HTTP GET of
//! `/probe/<container>/<kind>` on the proxy's admin port, and hands the
//! original to the proxy in [`env::APP_PROBES`](crate::contract::env::APP_PROBES)
//! as a JSON list of [`AppProbe`]. The proxy runs the check against its own
//! pod address and answers 200 or 503: the app port stays under policy.

use serde::{Deserialize, Serialize};

/// The admin path prefix of rewritten probes.
pub const PATH_PREFIX: &str = "/probe/";

/// One rewritten probe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppProbe {
    /// `<container>/<kind>`: the tail of the admin path.
    pub name: String,
    /// The app port the check dials on the pod's own address.
    pub port: u16,
    /// The probe's `timeoutSeconds`: the longest the check may take.
    pub timeout_seconds: u32,
    pub check: Check,
}

/// What the kubelet would have done on the app's port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type", deny_unknown_fields)]
pub enum Check {
    /// A GET of `path`; a status from 200 to 399 passes.
    Http {
        path: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        https: bool,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        headers: Vec<Header>,
    },
    /// A TCP connection that opens passes.
    Tcp,
    /// `grpc.health.v1.Health/Check`; `SERVING` passes.
    Grpc {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        service: Option<String>,
    },
}

/// A request header an HTTP probe sets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub name: String,
    pub value: String,
}

/// The admin path the kubelet asks for `name`.
pub fn path(name: &str) -> String {
    format!("{PATH_PREFIX}{name}")
}

/// The probe name: container and kind (`liveness`, `readiness`, `startup`).
pub fn name(container: &str, kind: &str) -> String {
    format!("{container}/{kind}")
}

/// Parses the value of the environment variable.
pub fn parse(json: &str) -> Result<Vec<AppProbe>, serde_json::Error> {
    serde_json::from_str(json)
}

/// The value of the environment variable.
pub fn render(probes: &[AppProbe]) -> String {
    serde_json::to_string(probes).expect("probe descriptions serialise to JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_survives_the_environment() {
        let probes = vec![
            AppProbe {
                name: name("app", "readiness"),
                port: 8080,
                timeout_seconds: 1,
                check: Check::Http {
                    path: "/healthz".into(),
                    https: true,
                    headers: vec![Header {
                        name: "X-Probe".into(),
                        value: "1".into(),
                    }],
                },
            },
            AppProbe {
                name: name("app", "liveness"),
                port: 9000,
                timeout_seconds: 3,
                check: Check::Tcp,
            },
            AppProbe {
                name: name("db", "startup"),
                port: 5000,
                timeout_seconds: 1,
                check: Check::Grpc {
                    service: Some("db".into()),
                },
            },
        ];
        let text = render(&probes);
        assert!(text.contains(r#""type":"tcp""#), "{text}");
        assert_eq!(parse(&text).unwrap(), probes);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = parse(r#"[{"name":"a/b","port":1,"timeoutSeconds":1,"check":{"type":"exec"}}]"#)
            .unwrap_err();
        assert!(err.to_string().contains("exec"), "{err}");
    }
}
