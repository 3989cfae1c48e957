//! `weft-proxy init`: the `weft-init` init container. It writes the iptables
//! rules that send the pod's TCP through the proxy, then exits; the proxy
//! itself never needs NET_ADMIN. See `docs/proxy-init.md`.
//!
//! - [`config`]: the typed settings and their list parsers,
//! - [`args`]: the flags the injector passes,
//! - [`rules`]: the rules, generated without touching the system,
//! - [`restore`]: the `iptables-restore` input that replaces an earlier run's,
//! - [`mode`]: nf_tables or legacy,
//! - [`apply`]: reading the current state and writing the new one,
//! - [`run`]: running the tools, and turning their failures into [`InitError`]s.

pub mod apply;
pub mod args;
pub mod config;
pub mod error;
pub mod mode;
pub mod restore;
pub mod rules;
pub mod run;

pub use args::InitArgs;
pub use config::InitConfig;
pub use error::InitError;

use apply::Outcome;
use rules::Family;
use std::io::{self, Write};

/// Runs `weft-proxy init`: validates the flags, then prints the rules
/// (`--dry-run`, running nothing) or writes them and logs what was written.
/// `ipv6_available` says whether the kernel has an IPv6 stack at all.
pub fn run(
    args: &InitArgs,
    runner: &dyn run::Runner,
    ipv6_available: bool,
    out: &mut dyn Write,
) -> Result<(), InitError> {
    let cfg = args.config()?;
    if args.dry_run {
        return print_rules(&cfg, out).map_err(stdout_error);
    }
    let report = apply::apply(runner, &cfg, args.mode, ipv6_available)?;
    log_report(&report, out).map_err(stdout_error)
}

/// Whether this network namespace has IPv6 (the file lists IPv6 addresses
/// and exists only when the kernel's IPv6 stack is present).
pub fn kernel_has_ipv6() -> bool {
    std::path::Path::new("/proc/net/if_inet6").exists()
}

fn print_rules(cfg: &InitConfig, out: &mut dyn Write) -> io::Result<()> {
    for family in [Family::V4, Family::V6] {
        let set = rules::ruleset(cfg, family);
        writeln!(
            out,
            "# {family}: {}-restore --noflush input (the first run's; a rerun also deletes the jumps it finds)",
            family.tool()
        )?;
        out.write_all(restore::render(&set).as_bytes())?;
    }
    Ok(())
}

fn log_report(report: &apply::Report, out: &mut dyn Write) -> io::Result<()> {
    let b = report.choice.backend;
    writeln!(
        out,
        "weft-init: iptables backend {} ({})",
        b.variant, report.choice.reason
    )?;
    for (family, outcome) in &report.families {
        match outcome {
            Outcome::Written { program, input } => {
                writeln!(out, "weft-init: {family} rules written with {program}:")?;
                out.write_all(input.as_bytes())?;
            }
            Outcome::NoIpv6 => writeln!(
                out,
                "weft-init: the kernel has no IPv6, so there are no IPv6 rules to write"
            )?,
        }
    }
    Ok(())
}

fn stdout_error(e: io::Error) -> InitError {
    InitError::Spawn {
        command: "writing to stdout".into(),
        source: e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    struct Forbidden;

    impl run::Runner for Forbidden {
        fn run(&self, program: &str, _: &[&str], _: Option<&str>) -> io::Result<run::Output> {
            panic!("--dry-run ran {program}");
        }
    }

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        init: InitArgs,
    }

    #[test]
    fn dry_run_prints_both_families_and_runs_nothing() {
        let args = Cli::parse_from(["init", "--dry-run"]).init;
        let mut out = Vec::new();
        run(&args, &Forbidden, true, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("# IPv4: iptables-restore"), "{text}");
        assert!(text.contains("# IPv6: ip6tables-restore"), "{text}");
        let (v4, v6) = text.split_once("# IPv6").unwrap();
        for family in [v4, v6] {
            assert!(family.contains("REDIRECT --to-ports 4143"), "{text}");
            assert!(family.contains("REDIRECT --to-ports 4140"), "{text}");
        }
        // IPv6 is redirected by default, not refused.
        assert!(!text.contains("REJECT"), "{text}");
    }

    #[test]
    fn a_bad_flag_fails_before_anything_runs() {
        let args = Cli::parse_from(["init", "--skip-outbound-cidrs=nope"]).init;
        let err = run(&args, &Forbidden, true, &mut Vec::new()).unwrap_err();
        assert!(matches!(err, InitError::Config { .. }), "{err}");
    }
}
