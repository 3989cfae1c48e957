//! The proxy's configuration, parsed once from the environment the injector
//! writes (see `weft_api::contract::env`) through an injectable lookup, so
//! tests never touch the process environment.

use crate::limits::Limits;
use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    time::Duration,
};
use weft_api::contract::{control_plane::DEFAULT_TRUST_DOMAIN, env, ports};
use weft_runtime::telemetry::LogFormat;

/// Reads one variable. [`Env`] reads the process environment; tests use a
/// `HashMap`.
pub trait Strings {
    fn get(&self, key: &str) -> Result<Option<String>, EnvError>;
}

/// The process environment.
#[derive(Debug, Default)]
pub struct Env;

impl Strings for Env {
    fn get(&self, key: &str) -> Result<Option<String>, EnvError> {
        match std::env::var(key) {
            Ok(v) => Ok(Some(v)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(EnvError {
                name: key.to_string(),
                value: "<not UTF-8>".into(),
                reason: "not valid UTF-8".into(),
            }),
        }
    }
}

impl<S: std::hash::BuildHasher> Strings for HashMap<&str, &str, S> {
    fn get(&self, key: &str) -> Result<Option<String>, EnvError> {
        Ok(HashMap::get(self, key).map(|v| v.to_string()))
    }
}

/// A variable that is set but cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{name}={value:?}: {reason}")]
pub struct EnvError {
    pub name: String,
    pub value: String,
    pub reason: String,
}

/// Every setting, with its variable and default, for `--help`. A test
/// checks that these are exactly the variables [`parse`] reads.
pub const VARIABLES: &[(&str, &str, &str)] = &[
    (env::POD_NAME, "required", "this pod's name (downward API)"),
    (
        env::POD_NAMESPACE,
        "required",
        "this pod's namespace (downward API)",
    ),
    (
        env::SERVICE_ACCOUNT,
        "required",
        "this pod's ServiceAccount: its mesh identity",
    ),
    (
        env::POD_IPS,
        "required",
        "this pod's addresses, comma-separated (downward API)",
    ),
    (env::TRUST_DOMAIN, "cluster.local", "SPIFFE trust domain"),
    (env::IDENTITY_ADDR, "required", "weft-identity's host:port"),
    (
        env::IDENTITY_ID,
        "required",
        "the SPIFFE id weft-identity must present",
    ),
    (
        env::CONTROLLER_ADDR,
        "required",
        "weft-controller's host:port",
    ),
    (
        env::CONTROLLER_ID,
        "required",
        "the SPIFFE id weft-controller must present",
    ),
    (
        env::TOKEN_FILE,
        "required",
        "projected ServiceAccount token (re-read on every renewal)",
    ),
    (
        env::TRUST_ANCHORS,
        "required",
        "PEM trust anchors at start (the injector writes them); rotations come from weft-identity",
    ),
    (
        env::TRUST_ANCHORS_FILE,
        "unset",
        "a file with the PEM trust anchors, read once, when WEFT_TRUST_ANCHORS is unset",
    ),
    (
        env::INBOUND_ADDR,
        "0.0.0.0:4143",
        "inbound listener; the IPv4 wildcard also listens on [::] (same port)",
    ),
    (
        env::OUTBOUND_ADDR,
        "127.0.0.1:4140",
        "outbound listener; IPv4 loopback also listens on [::1] (same port)",
    ),
    (
        env::INBOUND_PORTS,
        "",
        "the app's TCP ports, comma-separated: ready only once each has a policy",
    ),
    (
        env::APP_PROBES,
        "none",
        "the app probes the proxy runs for the kubelet at /probe/<container>/<kind> (JSON, the injector writes it)",
    ),
    (
        env::ADMIN_ADDR,
        "0.0.0.0:4191",
        "admin listener: /live, /ready, /metrics",
    ),
    (
        env::METRICS_ADDR,
        "0.0.0.0:4192",
        "metrics for weft-controller alone (mTLS; TrafficMetrics)",
    ),
    (
        env::WORKER_THREADS,
        "1",
        "tokio worker threads (the injector derives it from the CPU limit)",
    ),
    (
        env::LOG_LEVEL,
        "info",
        "log filter, tracing directive syntax; changeable at runtime from loopback",
    ),
    (env::LOG_FORMAT, "plain", "`plain` or `json`"),
    (
        env::SHUTDOWN_GRACE,
        "30",
        "seconds to finish in-flight work after SIGTERM",
    ),
    (
        env::REQUEST_TIMEOUT,
        "0 (none)",
        "longest wait for an outbound HTTP response's headers (`500ms`, `10s`, `2m`); then 504",
    ),
    (
        env::MAX_CONNECTIONS_INBOUND,
        "10000",
        "concurrent inbound connections; more are closed at once",
    ),
    (
        env::MAX_CONNECTIONS_OUTBOUND,
        "10000",
        "concurrent connections from the app; more are closed at once",
    ),
    (
        env::TCP_IDLE_TIMEOUT,
        "1h",
        "a byte stream with no bytes either way this long is closed",
    ),
    (
        env::HTTP_IDLE_TIMEOUT,
        "5m",
        "an HTTP connection with no bytes either way this long is drained",
    ),
    (
        env::HTTP_HEADER_TIMEOUT,
        "10s",
        "longest time to receive an HTTP/1 request's headers (slowloris)",
    ),
    (
        env::MAX_HEADER_BYTES,
        "65536",
        "bytes of one request's headers (HTTP/1 431; HTTP/2 reset)",
    ),
    (
        env::MAX_HEADERS,
        "100",
        "header fields in one HTTP/1 request (431)",
    ),
    (
        env::H2_MAX_STREAMS,
        "1000",
        "concurrent streams per HTTP/2 connection",
    ),
];

/// Who this proxy is and whom it talks to in the control plane.
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    pub pod_name: String,
    pub namespace: String,
    pub service_account: String,
    pub pod_ips: Vec<IpAddr>,
    pub trust_domain: String,
}

/// A control-plane service: where it is and which SPIFFE id it must present.
#[derive(Clone, Debug, PartialEq)]
pub struct ControlPlaneService {
    pub addr: String,
    pub id: String,
}

/// The parsed configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub workload: Workload,
    pub identity: ControlPlaneService,
    pub controller: ControlPlaneService,
    pub token_file: PathBuf,
    pub trust_anchors: InitialAnchors,
    pub inbound_addr: SocketAddr,
    pub outbound_addr: SocketAddr,
    /// The app's TCP ports, whose policy readiness waits for.
    pub inbound_ports: Vec<u16>,
    /// The app's probes, run on the kubelet's behalf.
    pub app_probes: Vec<weft_api::probes::AppProbe>,
    pub admin_addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    pub worker_threads: usize,
    pub log_level: String,
    pub log_format: LogFormat,
    pub shutdown_grace: Duration,
    /// Longest wait for an outbound HTTP response's headers.
    pub request_timeout: Option<Duration>,
    pub limits: Limits,
}

/// Parses the whole configuration; the first unusable variable is an error.
pub fn parse(s: &dyn Strings) -> Result<Config, EnvError> {
    Ok(Config {
        workload: Workload {
            pod_name: required(s, env::POD_NAME)?,
            namespace: required(s, env::POD_NAMESPACE)?,
            service_account: required(s, env::SERVICE_ACCOUNT)?,
            pod_ips: {
                let v = required(s, env::POD_IPS)?;
                v.split(',')
                    .map(|ip| ip.trim().parse::<IpAddr>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| EnvError {
                        name: env::POD_IPS.into(),
                        value: v.clone(),
                        reason: "expected comma-separated IP addresses".into(),
                    })?
            },
            trust_domain: s
                .get(env::TRUST_DOMAIN)?
                .unwrap_or_else(|| DEFAULT_TRUST_DOMAIN.into()),
        },
        identity: ControlPlaneService {
            addr: required(s, env::IDENTITY_ADDR)?,
            id: required(s, env::IDENTITY_ID)?,
        },
        controller: ControlPlaneService {
            addr: required(s, env::CONTROLLER_ADDR)?,
            id: required(s, env::CONTROLLER_ID)?,
        },
        token_file: required(s, env::TOKEN_FILE)?.into(),
        trust_anchors: initial_anchors(s)?,
        inbound_addr: parse_or(
            s,
            env::INBOUND_ADDR,
            SocketAddr::from(([0, 0, 0, 0], ports::INBOUND)),
        )?,
        outbound_addr: parse_or(
            s,
            env::OUTBOUND_ADDR,
            SocketAddr::from(([127, 0, 0, 1], ports::OUTBOUND)),
        )?,
        inbound_ports: parse_with(s, env::INBOUND_PORTS, Vec::new(), parse_ports)?,
        app_probes: parse_with(s, env::APP_PROBES, Vec::new(), |v| {
            weft_api::probes::parse(v).map_err(|e| format!("not a list of app probes: {e}"))
        })?,
        admin_addr: parse_or(
            s,
            env::ADMIN_ADDR,
            SocketAddr::from(([0, 0, 0, 0], ports::ADMIN)),
        )?,
        metrics_addr: parse_or(
            s,
            env::METRICS_ADDR,
            SocketAddr::from(([0, 0, 0, 0], ports::PROXY_METRICS)),
        )?,
        worker_threads: parse_with(s, env::WORKER_THREADS, 1, |v| match v.parse::<usize>() {
            Ok(n) if (1..=64).contains(&n) => Ok(n),
            _ => Err("expected a whole number from 1 to 64".into()),
        })?,
        log_level: s.get(env::LOG_LEVEL)?.unwrap_or_else(|| "info".into()),
        log_format: parse_with(s, env::LOG_FORMAT, LogFormat::Plain, |v| {
            v.parse()
                .map_err(|e: weft_runtime::telemetry::Error| e.to_string())
        })?,
        shutdown_grace: parse_with(s, env::SHUTDOWN_GRACE, Duration::from_secs(30), |v| {
            v.parse::<u64>()
                .map(Duration::from_secs)
                .map_err(|_| "expected whole seconds".into())
        })?,
        request_timeout: parse_with(s, env::REQUEST_TIMEOUT, None, |v| {
            parse_duration(v).map(|d| Some(d).filter(|d| !d.is_zero()))
        })?,
        limits: parse_limits(s)?,
    })
}

fn parse_limits(s: &dyn Strings) -> Result<Limits, EnvError> {
    let d = Limits::default();
    let count = |name: &str, default: usize| {
        parse_with(s, name, default, |v| match v.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err("expected a whole number above 0".into()),
        })
    };
    let period = |name: &str, default: Duration| {
        parse_with(s, name, default, |v| {
            parse_duration(v)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| "expected a duration above 0 (`500ms`, `10s`, `2m`)".into())
        })
    };
    Ok(Limits {
        max_connections_inbound: count(env::MAX_CONNECTIONS_INBOUND, d.max_connections_inbound)?,
        max_connections_outbound: count(env::MAX_CONNECTIONS_OUTBOUND, d.max_connections_outbound)?,
        tcp_idle: period(env::TCP_IDLE_TIMEOUT, d.tcp_idle)?,
        http_idle: period(env::HTTP_IDLE_TIMEOUT, d.http_idle)?,
        header_timeout: period(env::HTTP_HEADER_TIMEOUT, d.header_timeout)?,
        // HTTP/1 needs room for a request line and a few headers.
        max_header_bytes: parse_with(s, env::MAX_HEADER_BYTES, d.max_header_bytes, |v| {
            match v.trim().parse::<usize>() {
                Ok(n) if (1024..=16 << 20).contains(&n) => Ok(n),
                _ => Err("expected a byte count from 1024 to 16777216".into()),
            }
        })?,
        max_headers: count(env::MAX_HEADERS, d.max_headers)?,
        h2_max_streams: parse_with(s, env::H2_MAX_STREAMS, d.h2_max_streams, |v| {
            match v.trim().parse::<u32>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err("expected a whole number above 0".into()),
            }
        })?,
    })
}

/// A Go duration (`250ms`, `10s`, `2m`); a bare number is seconds.
fn parse_duration(v: &str) -> Result<Duration, String> {
    match v.trim().parse::<u64>() {
        Ok(secs) => Ok(Duration::from_secs(secs)),
        Err(_) => weft_api::duration::parse(v).map_err(|e| e.to_string()),
    }
}

/// The trust anchors a proxy starts with. Only these come from its own
/// pod; every later bundle comes from weft-identity.
#[derive(Clone, Debug, PartialEq)]
pub enum InitialAnchors {
    Pem(String),
    File(PathBuf),
}

fn initial_anchors(s: &dyn Strings) -> Result<InitialAnchors, EnvError> {
    let non_empty = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
    let pem = non_empty(s.get(env::TRUST_ANCHORS)?);
    let file = non_empty(s.get(env::TRUST_ANCHORS_FILE)?);
    match (pem, file) {
        (Some(pem), _) => Ok(InitialAnchors::Pem(pem)),
        (None, Some(path)) => Ok(InitialAnchors::File(path.trim().into())),
        (None, None) => required(s, env::TRUST_ANCHORS).map(InitialAnchors::Pem),
    }
}

fn required(s: &dyn Strings, name: &str) -> Result<String, EnvError> {
    match s.get(name)? {
        Some(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
        other => Err(EnvError {
            name: name.to_string(),
            value: other.unwrap_or_default(),
            reason: "required (the injector sets it)".into(),
        }),
    }
}

fn parse_ports(v: &str) -> Result<Vec<u16>, String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|p| {
            p.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("{p:?} is not a port"))
        })
        .collect()
}

fn parse_or<T>(s: &dyn Strings, name: &str, default: T) -> Result<T, EnvError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    parse_with(s, name, default, |v| {
        v.parse().map_err(|e: T::Err| e.to_string())
    })
}

fn parse_with<T>(
    s: &dyn Strings,
    name: &str,
    default: T,
    f: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, EnvError> {
    match s.get(name)? {
        None => Ok(default),
        Some(v) => f(v.trim()).map_err(|reason| EnvError {
            name: name.to_string(),
            value: v,
            reason,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the injector always sets.
    fn base() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            (env::POD_NAME, "web-1"),
            (env::POD_NAMESPACE, "shop"),
            (env::SERVICE_ACCOUNT, "web"),
            (env::POD_IPS, "10.0.0.5,fd00::5"),
            (
                env::IDENTITY_ADDR,
                "weft-identity.weft-system.svc.cluster.local:8080",
            ),
            (
                env::IDENTITY_ID,
                "spiffe://cluster.local/ns/weft-system/sa/weft-identity",
            ),
            (
                env::CONTROLLER_ADDR,
                "weft-controller.weft-system.svc.cluster.local:8090",
            ),
            (
                env::CONTROLLER_ID,
                "spiffe://cluster.local/ns/weft-system/sa/weft-controller",
            ),
            (env::TOKEN_FILE, "/var/run/weft/identity/token"),
            (
                env::TRUST_ANCHORS,
                "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
            ),
        ])
    }

    /// Remembers every variable asked for.
    struct Recording(std::cell::RefCell<std::collections::BTreeSet<String>>);

    impl Strings for Recording {
        fn get(&self, key: &str) -> Result<Option<String>, EnvError> {
            self.0.borrow_mut().insert(key.to_string());
            Ok(base().get(key).map(|v| v.to_string()))
        }
    }

    #[test]
    fn the_help_lists_exactly_what_the_parser_reads() {
        let asked = Recording(Default::default());
        parse(&asked).unwrap();
        let documented: std::collections::BTreeSet<String> =
            VARIABLES.iter().map(|(n, _, _)| n.to_string()).collect();
        assert_eq!(asked.0.into_inner(), documented);
    }

    #[test]
    fn the_anchors_come_from_the_environment_or_else_a_file() {
        let mut e = base();
        e.insert(env::TRUST_ANCHORS_FILE, "/tmp/anchors.pem");
        assert!(matches!(
            parse(&e).unwrap().trust_anchors,
            InitialAnchors::Pem(_)
        ));
        e.remove(env::TRUST_ANCHORS);
        assert_eq!(
            parse(&e).unwrap().trust_anchors,
            InitialAnchors::File("/tmp/anchors.pem".into())
        );
    }

    #[test]
    fn required_variables_are_named_when_missing() {
        for key in base().keys() {
            let mut e = base();
            e.remove(key);
            let err = parse(&e).unwrap_err();
            assert_eq!(&err.name, key);
            assert!(err.reason.contains("required"), "{err}");
        }
    }

    #[test]
    fn defaults_when_nothing_optional_is_set() {
        let c = parse(&base()).unwrap();
        assert_eq!(c.workload.pod_ips.len(), 2);
        assert_eq!(c.workload.trust_domain, "cluster.local");
        assert_eq!(c.inbound_addr.port(), ports::INBOUND);
        assert!(c.outbound_addr.ip().is_loopback());
        assert_eq!(c.admin_addr.port(), ports::ADMIN);
        assert_eq!(c.worker_threads, 1);
        assert_eq!(c.log_format, LogFormat::Plain);
        assert_eq!(c.shutdown_grace, Duration::from_secs(30));
        assert_eq!(c.request_timeout, None);
        assert_eq!(c.limits, Limits::default());
    }

    #[test]
    fn limits_are_parsed() {
        let mut e = base();
        e.extend([
            (env::MAX_CONNECTIONS_INBOUND, "50"),
            (env::MAX_CONNECTIONS_OUTBOUND, "60"),
            (env::TCP_IDLE_TIMEOUT, "90s"),
            (env::HTTP_IDLE_TIMEOUT, "2m"),
            (env::HTTP_HEADER_TIMEOUT, "1500ms"),
            (env::MAX_HEADER_BYTES, "8192"),
            (env::MAX_HEADERS, "20"),
            (env::H2_MAX_STREAMS, "10"),
        ]);
        let l = parse(&e).unwrap().limits;
        assert_eq!(
            l,
            Limits {
                max_connections_inbound: 50,
                max_connections_outbound: 60,
                tcp_idle: Duration::from_secs(90),
                http_idle: Duration::from_secs(120),
                header_timeout: Duration::from_millis(1500),
                max_header_bytes: 8192,
                max_headers: 20,
                h2_max_streams: 10,
            }
        );
    }

    #[test]
    fn values_are_parsed() {
        let mut e = base();
        e.extend([
            (env::ADMIN_ADDR, "127.0.0.1:9000"),
            (env::WORKER_THREADS, "2"),
            (env::LOG_FORMAT, "json"),
            (env::SHUTDOWN_GRACE, "5"),
            (env::REQUEST_TIMEOUT, "1500ms"),
        ]);
        let c = parse(&e).unwrap();
        assert_eq!(c.admin_addr, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(c.worker_threads, 2);
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.shutdown_grace, Duration::from_secs(5));
        assert_eq!(c.request_timeout, Some(Duration::from_millis(1500)));
        for (v, d) in [
            ("0", None),
            ("10s", Some(10)),
            ("2m", Some(120)),
            ("7", Some(7)),
        ] {
            e.insert(env::REQUEST_TIMEOUT, v);
            let got = parse(&e).unwrap().request_timeout;
            assert_eq!(got, d.map(Duration::from_secs), "{v}");
        }
    }

    #[test]
    fn bad_values_name_the_variable_and_value() {
        for (k, v) in [
            (env::ADMIN_ADDR, "nowhere"),
            (env::WORKER_THREADS, "0"),
            (env::LOG_FORMAT, "xml"),
            (env::SHUTDOWN_GRACE, "-1"),
            (env::POD_IPS, "10.0.0.5,nope"),
            (env::REQUEST_TIMEOUT, "soon"),
            (env::REQUEST_TIMEOUT, "5d"),
            (env::MAX_CONNECTIONS_INBOUND, "0"),
            (env::TCP_IDLE_TIMEOUT, "0"),
            (env::HTTP_HEADER_TIMEOUT, "never"),
            (env::MAX_HEADER_BYTES, "100"),
            (env::MAX_HEADERS, "-3"),
            (env::H2_MAX_STREAMS, "4294967296"),
        ] {
            let mut e = base();
            e.insert(k, v);
            let err = parse(&e).unwrap_err();
            assert_eq!(err.name, k);
            assert_eq!(err.value, v);
            assert!(err.to_string().starts_with(&format!("{k}=")), "{err}");
        }
    }
}
