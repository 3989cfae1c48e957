//! Writing the rules: per family, read weft's current state with
//! `iptables-save`, then one `iptables-restore --noflush` whose input
//! replaces it (see `restore`). Each family's change is one atomic
//! transaction; nothing outside weft's chains and jumps is touched.

use super::{
    config::InitConfig,
    error::InitError,
    mode::{self, Choice, Mode},
    restore::{self, Existing},
    rules::{Family, ruleset},
    run::{Runner, checked},
};
use std::collections::HashMap;

/// Seconds restore waits for the xtables lock another writer holds, rather
/// than failing at once or waiting forever.
const LOCK_WAIT: &str = "--wait=5";

/// What one family's run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The restore input that was written.
    Written { program: String, input: String },
    /// The kernel has no IPv6, so no IPv6 traffic can bypass the proxy.
    NoIpv6,
}

/// What a run did, for the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub choice: Choice,
    pub families: Vec<(Family, Outcome)>,
}

/// Chooses the backend and writes both families' rules.
pub fn apply(
    runner: &dyn Runner,
    cfg: &InitConfig,
    mode: Mode,
    ipv6_available: bool,
) -> Result<Report, InitError> {
    let wanted: &[Family] = if ipv6_available {
        &[Family::V4, Family::V6]
    } else {
        &[Family::V4]
    };
    let choice = mode::choose(mode, &mode::probe(runner, mode, wanted)?)?;
    let mut families = Vec::new();
    for &family in wanted {
        let set = ruleset(cfg, family);
        let save = choice.backend.program(family, "save");
        let mut existing = HashMap::new();
        for table in &set.tables {
            let out = checked(runner, &save, &["-t", table.name], None)?;
            existing.insert(table.name, Existing::parse(&out.stdout));
        }
        let input = restore::input(&set, |t| existing.get(t).cloned().unwrap_or_default())
            .expect("weft always has rules in one of a family's tables");
        let program = choice.backend.program(family, "restore");
        checked(runner, &program, &["--noflush", LOCK_WAIT], Some(&input))?;
        families.push((family, Outcome::Written { program, input }));
    }
    if !ipv6_available {
        families.push((Family::V6, Outcome::NoIpv6));
    }
    Ok(Report { choice, families })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::run::Output;
    use std::{cell::RefCell, io};

    /// A system with only the nft tools, whose tables hold what `saved` says,
    /// recording every command.
    #[derive(Default)]
    struct Fake {
        saved: HashMap<String, String>,
        calls: RefCell<Vec<String>>,
        restored: RefCell<Vec<String>>,
    }

    impl Runner for Fake {
        fn run(&self, program: &str, args: &[&str], stdin: Option<&str>) -> io::Result<Output> {
            let call = format!("{program} {}", args.join(" "));
            self.calls.borrow_mut().push(call.trim().to_string());
            let ok = |stdout: String| {
                Ok(Output {
                    code: Some(0),
                    stdout,
                    stderr: String::new(),
                })
            };
            if program.contains("legacy") {
                return Err(io::ErrorKind::NotFound.into());
            }
            match (program, args) {
                ("iptables", ["--version"]) => ok("iptables v1.8.9 (nf_tables)\n".into()),
                (p, [] | ["--version"]) if p.ends_with("-save") => ok(String::new()),
                (p, ["-t", table]) if p.ends_with("-save") => ok(self
                    .saved
                    .get(&format!("{p} {table}"))
                    .cloned()
                    .unwrap_or_default()),
                (p, ["--noflush", LOCK_WAIT]) if p.ends_with("-restore") => {
                    self.restored.borrow_mut().push(stdin.unwrap().to_string());
                    ok(String::new())
                }
                _ => panic!("unexpected command {call}"),
            }
        }
    }

    #[test]
    fn writes_each_family_with_the_chosen_backend() {
        let fake = Fake::default();
        let report = apply(&fake, &InitConfig::default(), Mode::Auto, true).unwrap();
        assert!(
            report.choice.reason.contains("only the nf_tables"),
            "{report:?}"
        );
        let restores: Vec<String> = fake
            .calls
            .borrow()
            .iter()
            .filter(|c| c.contains("restore"))
            .cloned()
            .collect();
        assert_eq!(
            restores,
            vec![
                "iptables-nft-restore --noflush --wait=5",
                "ip6tables-nft-restore --noflush --wait=5"
            ]
        );
        let written = fake.restored.borrow();
        assert!(written[0].starts_with("*nat\n"), "{}", written[0]);
        assert!(!written[0].contains("*filter"), "{}", written[0]);
        // IPv6 defaults to redirect: the same nat rules, nothing refused.
        assert!(written[1].starts_with("*nat\n"), "{}", written[1]);
        assert!(
            written[1].contains("REDIRECT --to-ports 4140"),
            "{}",
            written[1]
        );
        assert!(!written[1].contains("REJECT"), "{}", written[1]);
        assert!(!written[1].contains("-D "), "{}", written[1]);
    }

    #[test]
    fn a_rerun_deletes_the_jumps_it_finds() {
        let first = restore::render(&ruleset(&InitConfig::default(), Family::V4));
        let fake = Fake {
            saved: HashMap::from([("iptables-nft-save nat".to_string(), first)]),
            ..Fake::default()
        };
        apply(&fake, &InitConfig::default(), Mode::Nft, true).unwrap();
        let v4 = &fake.restored.borrow()[0];
        assert!(v4.contains("-D PREROUTING -p tcp -m comment"), "{v4}");
        assert!(v4.contains("-D OUTPUT -p tcp -m comment"), "{v4}");
        assert_eq!(v4.matches("\n-A PREROUTING ").count(), 1, "{v4}");
    }

    #[test]
    fn no_ipv6_in_the_kernel_skips_ip6tables() {
        let fake = Fake::default();
        let report = apply(&fake, &InitConfig::default(), Mode::Auto, false).unwrap();
        assert_eq!(report.families[1], (Family::V6, Outcome::NoIpv6));
        assert!(
            !fake
                .calls
                .borrow()
                .iter()
                .any(|c| c.starts_with("ip6tables"))
        );
    }

    #[test]
    fn a_missing_legacy_backend_is_named() {
        let err = apply(&Fake::default(), &InitConfig::default(), Mode::Legacy, true).unwrap_err();
        assert!(err.to_string().contains("iptables-legacy-restore"), "{err}");
    }
}
