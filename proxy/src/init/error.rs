//! Why `weft-proxy init` failed, worded for whoever reads the init
//! container's log: each error says what to change.

use super::config::ParseError;

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("invalid {flag}: {source}")]
    Config {
        flag: &'static str,
        #[source]
        source: ParseError,
    },
    #[error(
        "`{binary}` was not found on PATH: install the Debian package `{package}` \
         (the weft-proxy image ships it)"
    )]
    MissingBinary {
        binary: String,
        package: &'static str,
    },
    #[error(
        "`{command}` was not permitted: weft-init needs the NET_ADMIN and NET_RAW capabilities. \
         The injector adds both; running as non-root, the image's iptables binaries carry them \
         as file capabilities, so the container must also allow privilege escalation \
         (no_new_privs drops file capabilities). It said: {stderr}"
    )]
    Permission { command: String, stderr: String },
    #[error("`{command}` failed ({status}): {stderr}{}", show_line(failed_line))]
    Restore {
        command: String,
        status: String,
        stderr: String,
        /// The input line restore rejected, numbered from 1.
        failed_line: Option<(usize, String)>,
    },
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("running `{command}`: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
}

fn show_line(line: &Option<(usize, String)>) -> String {
    match line {
        Some((n, text)) => format!("\n  input line {n}: {text}"),
        None => String::new(),
    }
}
