//! Which iptables backend to write to. A kernel can hold rules in both the
//! legacy xtables and nf_tables; writing to the one the node (or the CNI)
//! does not use still installs rules, but they then interleave with the other
//! backend's in an order nobody chose. So, like Kubernetes' iptables-wrapper,
//! prefer the backend that already holds rules, else the one the image's
//! `iptables` reports.

use super::{
    error::InitError,
    rules::Family,
    run::{Runner, checked},
};
use std::fmt;

/// `--mode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// The backend whose tables already hold rules, else what `iptables --version` reports.
    #[default]
    Auto,
    /// nf_tables (`iptables-nft-restore`).
    Nft,
    /// Legacy xtables (`iptables-legacy-restore`).
    Legacy,
}

/// A backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    Nft,
    Legacy,
}

impl Variant {
    fn suffix(self) -> &'static str {
        match self {
            Self::Nft => "nft",
            Self::Legacy => "legacy",
        }
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Nft => "nf_tables",
            Self::Legacy => "legacy",
        })
    }
}

/// The programs to call: the variant's own (`iptables-nft-restore`) when
/// the image has them, else the unsuffixed ones (`iptables-restore`), which
/// are whichever variant the image's alternatives point at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backend {
    pub variant: Variant,
    pub suffixed: bool,
}

impl Backend {
    /// `iptables-nft-save`, `ip6tables-restore`, …
    pub fn program(self, family: Family, action: &str) -> String {
        if self.suffixed {
            format!("{}-{}-{action}", family.tool(), self.variant.suffix())
        } else {
            format!("{}-{action}", family.tool())
        }
    }
}

/// The chosen backend and why, for the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    pub backend: Backend,
    pub reason: String,
}

/// What the system looks like, as far as the choice goes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Probe {
    /// Rules each variant's tables hold (both families); `None` when the
    /// variant's own tools are not installed.
    pub nft_rules: Option<usize>,
    pub legacy_rules: Option<usize>,
    /// What the unsuffixed `iptables --version` reports, if installed.
    pub default: Option<Variant>,
}

/// Picks the backend (pure).
pub fn choose(mode: Mode, p: &Probe) -> Result<Choice, InitError> {
    let suffixed = |variant, reason: String| {
        Ok(Choice {
            backend: Backend {
                variant,
                suffixed: true,
            },
            reason,
        })
    };
    let installed = |v: Variant| match v {
        Variant::Nft => p.nft_rules.is_some(),
        Variant::Legacy => p.legacy_rules.is_some(),
    };
    let explicit = |v: Variant| {
        if installed(v) {
            suffixed(v, "--mode".into())
        } else if p.default == Some(v) {
            Ok(Choice {
                backend: Backend {
                    variant: v,
                    suffixed: false,
                },
                reason: "--mode (the unsuffixed tools are this variant)".into(),
            })
        } else {
            Err(InitError::MissingBinary {
                binary: format!("iptables-{}-restore", v.suffix()),
                package: "iptables",
            })
        }
    };
    match mode {
        Mode::Nft => return explicit(Variant::Nft),
        Mode::Legacy => return explicit(Variant::Legacy),
        Mode::Auto => {}
    }
    match (p.nft_rules, p.legacy_rules) {
        (Some(n), Some(l)) if l > n => suffixed(
            Variant::Legacy,
            format!("legacy tables hold {l} rules, nf_tables {n}"),
        ),
        (Some(n), Some(l)) if n > l => suffixed(
            Variant::Nft,
            format!("nf_tables hold {n} rules, legacy tables {l}"),
        ),
        (Some(_), Some(_)) => {
            let v = p.default.unwrap_or(Variant::Nft);
            let why = if p.default.is_some() {
                "`iptables --version` reports it"
            } else {
                "no `iptables` to ask, nf_tables is the default"
            };
            suffixed(v, format!("neither backend holds more rules; {why}"))
        }
        (Some(_), None) => suffixed(
            Variant::Nft,
            "only the nf_tables tools are installed and usable".into(),
        ),
        (None, Some(_)) => suffixed(
            Variant::Legacy,
            "only the legacy tools are installed and usable".into(),
        ),
        (None, None) => match p.default {
            Some(v) => Ok(Choice {
                backend: Backend {
                    variant: v,
                    suffixed: false,
                },
                reason: "only the unsuffixed tools are installed".into(),
            }),
            None => Err(InitError::MissingBinary {
                binary: "iptables-restore".into(),
                package: "iptables",
            }),
        },
    }
}

/// Looks at the system: which tools exist and how many rules each backend
/// holds in `families`. Only what `mode` needs is run.
pub fn probe(runner: &dyn Runner, mode: Mode, families: &[Family]) -> Result<Probe, InitError> {
    let count = |v: Variant| -> Result<Option<usize>, InitError> {
        let mut total = 0;
        for &family in families {
            let backend = Backend {
                variant: v,
                suffixed: true,
            };
            // Table by table: without `-t`, legacy's save reads
            // /proc/net/ip_tables_names, which only root may read.
            for table in ["nat", "filter"] {
                match checked(
                    runner,
                    &backend.program(family, "save"),
                    &["-t", table],
                    None,
                ) {
                    Ok(out) => total += out.stdout.lines().filter(|l| l.starts_with("-A")).count(),
                    // Missing tools, or a kernel without this backend (legacy
                    // modules are often absent): not a candidate. Lacking
                    // capabilities is fatal whichever backend is chosen.
                    Err(InitError::MissingBinary { .. } | InitError::Command { .. }) => {
                        return Ok(None);
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(Some(total))
    };
    let default = match checked(runner, "iptables", &["--version"], None) {
        Ok(out) if out.stdout.contains("nf_tables") => Some(Variant::Nft),
        Ok(out) if out.stdout.contains("legacy") => Some(Variant::Legacy),
        Ok(_) | Err(InitError::MissingBinary { .. }) => None,
        Err(e) => return Err(e),
    };
    let installed = |v: Variant| -> Result<Option<usize>, InitError> {
        let out = checked(
            runner,
            &format!("iptables-{}-save", v.suffix()),
            &["--version"],
            None,
        );
        match out {
            Ok(_) => Ok(Some(0)),
            Err(InitError::MissingBinary { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    };
    Ok(match mode {
        // Counting rules is only needed to choose.
        Mode::Auto => {
            // An image may give file capabilities to one backend's binary
            // only: that backend is then the only usable one. Without
            // capabilities for either, the permission error stands.
            let (nft, legacy) = match (count(Variant::Nft), count(Variant::Legacy)) {
                (Err(e @ InitError::Permission { .. }), Err(InitError::Permission { .. })) => {
                    return Err(e);
                }
                (Err(InitError::Permission { .. }), other) => (Ok(None), other),
                (other, Err(InitError::Permission { .. })) => (other, Ok(None)),
                pair => pair,
            };
            Probe {
                nft_rules: nft?,
                legacy_rules: legacy?,
                default,
            }
        }
        Mode::Nft | Mode::Legacy => Probe {
            nft_rules: installed(Variant::Nft)?,
            legacy_rules: installed(Variant::Legacy)?,
            default,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(nft: Option<usize>, legacy: Option<usize>, default: Option<Variant>) -> Probe {
        Probe {
            nft_rules: nft,
            legacy_rules: legacy,
            default,
        }
    }

    fn pick(mode: Mode, p: Probe) -> Backend {
        choose(mode, &p).unwrap().backend
    }

    const NFT: Backend = Backend {
        variant: Variant::Nft,
        suffixed: true,
    };
    const LEGACY: Backend = Backend {
        variant: Variant::Legacy,
        suffixed: true,
    };

    #[test]
    fn auto_prefers_the_backend_holding_rules() {
        let d = Some(Variant::Nft);
        assert_eq!(pick(Mode::Auto, probe(Some(0), Some(3), d)), LEGACY);
        assert_eq!(
            pick(Mode::Auto, probe(Some(5), Some(3), Some(Variant::Legacy))),
            NFT
        );
    }

    #[test]
    fn auto_falls_back_to_what_iptables_reports() {
        assert_eq!(
            pick(Mode::Auto, probe(Some(0), Some(0), Some(Variant::Nft))),
            NFT
        );
        assert_eq!(
            pick(Mode::Auto, probe(Some(0), Some(0), Some(Variant::Legacy))),
            LEGACY
        );
        assert_eq!(pick(Mode::Auto, probe(Some(0), Some(0), None)), NFT);
        assert_eq!(
            pick(Mode::Auto, probe(None, None, Some(Variant::Legacy))),
            Backend {
                variant: Variant::Legacy,
                suffixed: false
            }
        );
        assert_eq!(pick(Mode::Auto, probe(None, Some(0), None)), LEGACY);
    }

    #[test]
    fn explicit_modes_use_that_variant_or_say_what_is_missing() {
        let both = probe(Some(0), Some(9), Some(Variant::Nft));
        assert_eq!(pick(Mode::Nft, both.clone()), NFT);
        assert_eq!(pick(Mode::Legacy, both), LEGACY);
        let err = choose(Mode::Legacy, &probe(Some(0), None, Some(Variant::Nft))).unwrap_err();
        assert!(
            err.to_string().contains("`iptables-legacy-restore`"),
            "{err}"
        );
        let err = choose(Mode::Auto, &probe(None, None, None)).unwrap_err();
        assert!(err.to_string().contains("package `iptables`"), "{err}");
    }

    /// nft tools holding two rules; legacy tools present but the kernel
    /// lacks the legacy tables.
    struct NoLegacyKernel;

    impl Runner for NoLegacyKernel {
        fn run(
            &self,
            program: &str,
            args: &[&str],
            _: Option<&str>,
        ) -> std::io::Result<crate::init::run::Output> {
            let (code, stdout, stderr) = match program {
                "iptables" => (0, "iptables v1.8.9 (legacy)\n", ""),
                p if p.contains("legacy") => (
                    1,
                    "",
                    "iptables-save v1.8.9 (legacy): Cannot initialize: Table does not exist (do you need to insmod?)",
                ),
                _ if args == ["-t", "filter"] => (0, "*filter\n-A INPUT -j ACCEPT\nCOMMIT\n", ""),
                _ => (0, "*nat\nCOMMIT\n", ""),
            };
            Ok(crate::init::run::Output {
                code: Some(code),
                stdout: stdout.into(),
                stderr: stderr.into(),
            })
        }
    }

    #[test]
    fn a_backend_the_kernel_lacks_is_not_a_candidate() {
        let p = super::probe(&NoLegacyKernel, Mode::Auto, &[Family::V4, Family::V6]).unwrap();
        assert_eq!(p, probe(Some(2), None, Some(Variant::Legacy)));
        let choice = choose(Mode::Auto, &p).unwrap();
        assert_eq!(choice.backend, NFT);
        assert!(choice.reason.contains("usable"), "{choice:?}");
    }

    /// Only the nft binary carries capabilities.
    struct LegacyWithoutCaps {
        nft_denied: bool,
    }

    impl Runner for LegacyWithoutCaps {
        fn run(
            &self,
            program: &str,
            _: &[&str],
            _: Option<&str>,
        ) -> std::io::Result<crate::init::run::Output> {
            let denied = program.contains("legacy") || (self.nft_denied && program.contains("nft"));
            let (code, stdout, stderr) = match program {
                "iptables" => (0, "iptables v1.8.9 (legacy)\n", ""),
                _ if denied => (1, "", "Permission denied (you must be root)"),
                _ => (0, "", ""),
            };
            Ok(crate::init::run::Output {
                code: Some(code),
                stdout: stdout.into(),
                stderr: stderr.into(),
            })
        }
    }

    #[test]
    fn a_backend_without_capabilities_is_not_a_candidate_unless_none_has_them() {
        let families = [Family::V4, Family::V6];
        let runner = LegacyWithoutCaps { nft_denied: false };
        let p = super::probe(&runner, Mode::Auto, &families).unwrap();
        assert_eq!(choose(Mode::Auto, &p).unwrap().backend, NFT);
        let runner = LegacyWithoutCaps { nft_denied: true };
        let err = super::probe(&runner, Mode::Auto, &families).unwrap_err();
        assert!(matches!(err, InitError::Permission { .. }), "{err}");
    }

    #[test]
    fn program_names() {
        assert_eq!(NFT.program(Family::V6, "restore"), "ip6tables-nft-restore");
        assert_eq!(LEGACY.program(Family::V4, "save"), "iptables-legacy-save");
        let plain = Backend {
            variant: Variant::Nft,
            suffixed: false,
        };
        assert_eq!(plain.program(Family::V4, "restore"), "iptables-restore");
    }
}
