//! Tracing setup: plain or JSON logs, and a filter that can be replaced while
//! the process runs (from the admin port, loopback only).

use tracing_subscriber::{EnvFilter, Registry, layer::SubscriberExt, reload};

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    #[default]
    Plain,
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "plain" | "" => Ok(Self::Plain),
            "json" => Ok(Self::Json),
            other => Err(Error::Format(other.to_string())),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid log filter {0:?}: {1}")]
    Filter(String, String),
    #[error("unknown log format {0:?}: expected `plain` or `json`")]
    Format(String),
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled,
    #[error("the log filter can no longer be changed: {0}")]
    Reload(String),
}

/// Changes the active log filter.
#[derive(Clone)]
pub struct LogLevel {
    handle: reload::Handle<EnvFilter, Registry>,
    // The handle only holds a weak reference to the filter; a detached
    // LogLevel (no global subscriber) keeps the layer alive itself.
    _layer: Option<std::sync::Arc<reload::Layer<EnvFilter, Registry>>>,
}

impl std::fmt::Debug for LogLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogLevel").finish_non_exhaustive()
    }
}

impl LogLevel {
    /// Replaces the filter, e.g. `info,weft_proxy=debug`. A bad filter leaves
    /// the current one in place.
    pub fn set(&self, filter: &str) -> Result<(), Error> {
        let f = parse_filter(filter)?;
        self.handle
            .reload(f)
            .map_err(|e| Error::Reload(e.to_string()))
    }

    /// The filter in force.
    pub fn current(&self) -> String {
        self.handle
            .with_current(|f| f.to_string())
            .unwrap_or_default()
    }
}

/// Parses a filter in `tracing_subscriber`'s directive syntax.
pub fn parse_filter(filter: &str) -> Result<EnvFilter, Error> {
    EnvFilter::builder()
        .parse(filter)
        .map_err(|e| Error::Filter(filter.to_string(), e.to_string()))
}

/// Installs the global subscriber. Call once, from `main`.
pub fn init(filter: &str, format: LogFormat) -> Result<LogLevel, Error> {
    let (filter, handle) = reload::Layer::new(parse_filter(filter)?);
    let registry = tracing_subscriber::registry().with(filter);
    let res = match format {
        LogFormat::Plain => tracing::subscriber::set_global_default(
            // Colour only on a terminal: `kubectl logs` and log files get
            // plain text.
            registry.with(
                tracing_subscriber::fmt::layer()
                    .with_target(true)
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout())),
            ),
        ),
        LogFormat::Json => tracing::subscriber::set_global_default(
            registry.with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true),
            ),
        ),
    };
    res.map_err(|_| Error::AlreadyInstalled)?;
    Ok(LogLevel {
        handle,
        _layer: None,
    })
}

/// A [`LogLevel`] not attached to the global subscriber, for tests of code
/// that takes one.
pub fn detached(filter: &str) -> Result<LogLevel, Error> {
    let (layer, handle) = reload::Layer::<EnvFilter, Registry>::new(parse_filter(filter)?);
    Ok(LogLevel {
        handle,
        _layer: Some(std::sync::Arc::new(layer)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse() {
        assert_eq!("json".parse::<LogFormat>().unwrap(), LogFormat::Json);
        assert_eq!("plain".parse::<LogFormat>().unwrap(), LogFormat::Plain);
        assert!(matches!("xml".parse::<LogFormat>(), Err(Error::Format(_))));
    }

    #[test]
    fn a_bad_filter_is_refused_and_the_old_one_kept() {
        let level = detached("info").unwrap();
        assert!(matches!(level.set("info,[=bad"), Err(Error::Filter(..))));
        assert_eq!(level.current(), "info");
        level.set("debug,hyper=warn").unwrap();
        assert!(level.current().contains("debug"));
    }
}
