//! The proxy's configuration, parsed once from the environment the injector
//! writes (see `weft_api::contract::env`) through an injectable lookup, so
//! tests never touch the process environment.

use std::{collections::HashMap, net::SocketAddr, time::Duration};
use weft_api::contract::{env, ports};
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

/// Every setting, with its variable and default, for `--help`.
pub const VARIABLES: &[(&str, &str, &str)] = &[
    (
        env::ADMIN_ADDR,
        "0.0.0.0:4191",
        "admin listener: /live, /ready, /metrics",
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
];

/// The parsed configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub admin_addr: SocketAddr,
    pub worker_threads: usize,
    pub log_level: String,
    pub log_format: LogFormat,
    pub shutdown_grace: Duration,
}

/// Parses the whole configuration; the first unusable variable is an error.
pub fn parse(s: &dyn Strings) -> Result<Config, EnvError> {
    Ok(Config {
        admin_addr: parse_or(
            s,
            env::ADMIN_ADDR,
            SocketAddr::from(([0, 0, 0, 0], ports::ADMIN)),
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
    })
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

    #[test]
    fn defaults_when_nothing_is_set() {
        let c = parse(&HashMap::new()).unwrap();
        assert_eq!(c.admin_addr.port(), ports::ADMIN);
        assert_eq!(c.worker_threads, 1);
        assert_eq!(c.log_format, LogFormat::Plain);
        assert_eq!(c.shutdown_grace, Duration::from_secs(30));
    }

    #[test]
    fn values_are_parsed() {
        let e = HashMap::from([
            (env::ADMIN_ADDR, "127.0.0.1:9000"),
            (env::WORKER_THREADS, "2"),
            (env::LOG_FORMAT, "json"),
            (env::SHUTDOWN_GRACE, "5"),
        ]);
        let c = parse(&e).unwrap();
        assert_eq!(c.admin_addr, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(c.worker_threads, 2);
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.shutdown_grace, Duration::from_secs(5));
    }

    #[test]
    fn bad_values_name_the_variable_and_value() {
        for (k, v) in [
            (env::ADMIN_ADDR, "nowhere"),
            (env::WORKER_THREADS, "0"),
            (env::LOG_FORMAT, "xml"),
            (env::SHUTDOWN_GRACE, "-1"),
        ] {
            let err = parse(&HashMap::from([(k, v)])).unwrap_err();
            assert_eq!(err.name, k);
            assert_eq!(err.value, v);
            assert!(err.to_string().starts_with(&format!("{k}=")), "{err}");
        }
    }
}
