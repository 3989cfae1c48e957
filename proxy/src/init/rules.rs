//! The rules `weft-init` writes, generated from an [`InitConfig`] without
//! touching the system, so they can be printed (`--dry-run`) and tested.
//!
//! Rules are spelled the way `iptables-save` prints them (`-p tcp -m tcp
//! --dport …`), so what is written can be found verbatim in the saved state.
//!
//! UDP is never redirected: every jump into weft's chains matches `-p tcp`.

use super::config::{InitConfig, Ipv6Mode, PortRange};
use std::fmt;

/// Every chain weft owns starts with this; anything else is left alone.
pub const CHAIN_PREFIX: &str = "WEFT_";

/// nat: inbound TCP, entered from PREROUTING.
pub const PREROUTING: &str = "WEFT_PREROUTING";
/// nat: the one REDIRECT to the inbound port.
pub const INBOUND_REDIRECT: &str = "WEFT_INBOUND_REDIRECT";
/// nat: the app's outbound TCP, entered from OUTPUT.
pub const OUTPUT: &str = "WEFT_OUTPUT";
/// nat: the one REDIRECT to the outbound port.
pub const OUTBOUND_REDIRECT: &str = "WEFT_OUTBOUND_REDIRECT";
/// filter (IPv6 without an IPv6 proxy): refuses new inbound TCP, from INPUT.
/// REJECT is only valid in the filter table, hence a second table.
pub const INBOUND_REJECT: &str = "WEFT_INBOUND_REJECT";
/// filter (IPv6 without an IPv6 proxy): refuses the app's new outbound TCP.
pub const OUTBOUND_REJECT: &str = "WEFT_OUTBOUND_REJECT";

/// An address family, with the tools that manage it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Self::V4 => "IPv4",
            Self::V6 => "IPv6",
        }
    }

    /// The command family: `iptables` or `ip6tables`.
    pub fn tool(self) -> &'static str {
        match self {
            Self::V4 => "iptables",
            Self::V6 => "ip6tables",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One `-A` rule. Every rule carries a `weft: …` comment saying why it is
/// there, visible in `iptables-save` inside the pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub chain: &'static str,
    /// Matches before the comment, as `iptables-save` spells them.
    pub matches: String,
    pub comment: String,
    /// What follows `-j`.
    pub target: String,
}

impl Rule {
    fn new(
        chain: &'static str,
        matches: impl Into<String>,
        comment: impl Into<String>,
        target: impl Into<String>,
    ) -> Self {
        Self {
            chain,
            matches: matches.into(),
            comment: format!("weft: {}", comment.into()),
            target: target.into(),
        }
    }

    /// Whether this rule jumps from a built-in chain into weft's.
    pub fn is_jump(&self) -> bool {
        !self.chain.starts_with(CHAIN_PREFIX)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "-A {} ", self.chain)?;
        if !self.matches.is_empty() {
            write!(f, "{} ", self.matches)?;
        }
        write!(
            f,
            "-m comment --comment \"{}\" -j {}",
            self.comment, self.target
        )
    }
}

/// weft's chains and rules in one table. `chains` may be empty: the table is
/// still listed so a rerun can remove what an earlier configuration left
/// there.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    pub name: &'static str,
    pub chains: Vec<&'static str>,
    /// Rules in weft's chains, then the jumps from built-in chains.
    pub rules: Vec<Rule>,
}

/// Everything weft wants in one family's tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ruleset {
    pub family: Family,
    pub tables: Vec<Table>,
}

/// The rules for one family.
pub fn ruleset(cfg: &InitConfig, family: Family) -> Ruleset {
    // IPv6 lists both tables whatever the mode, so that a rerun in the other
    // mode removes what the first one wrote. IPv4 never uses filter.
    let tables = match (family, cfg.ipv6) {
        (Family::V4, _) => vec![nat_table(cfg, family)],
        (Family::V6, Ipv6Mode::Redirect) => vec![nat_table(cfg, family), Table::named("filter")],
        (Family::V6, Ipv6Mode::Reject) => vec![Table::named("nat"), reject_table(cfg)],
    };
    Ruleset { family, tables }
}

impl Table {
    fn named(name: &'static str) -> Self {
        Self {
            name,
            ..Self::default()
        }
    }
}

/// Redirects: inbound TCP to the inbound port, the app's outbound TCP to the
/// outbound port.
fn nat_table(cfg: &InitConfig, family: Family) -> Table {
    let mut rules = inbound_exemptions(cfg, PREROUTING, "redirected");
    rules.push(Rule::new(
        PREROUTING,
        "-p tcp",
        "all other inbound TCP goes to the proxy",
        INBOUND_REDIRECT,
    ));
    rules.push(Rule::new(
        INBOUND_REDIRECT,
        "-p tcp",
        format!("to the proxy inbound port {}", cfg.inbound_port),
        format!("REDIRECT --to-ports {}", cfg.inbound_port),
    ));
    rules.extend(outbound_exemptions(cfg, family, OUTPUT, "redirected"));
    rules.push(Rule::new(
        OUTPUT,
        "-p tcp",
        "all other outbound TCP from the app goes to the proxy",
        OUTBOUND_REDIRECT,
    ));
    rules.push(Rule::new(
        OUTBOUND_REDIRECT,
        "-p tcp",
        format!("to the proxy outbound port {}", cfg.outbound_port),
        format!("REDIRECT --to-ports {}", cfg.outbound_port),
    ));
    rules.push(Rule::new(
        "PREROUTING",
        "-p tcp",
        "inbound TCP is mediated by the proxy (UDP is never redirected)",
        PREROUTING,
    ));
    rules.push(Rule::new(
        "OUTPUT",
        "-p tcp",
        "outbound TCP is mediated by the proxy (UDP is never redirected)",
        OUTPUT,
    ));
    Table {
        name: "nat",
        chains: vec![PREROUTING, INBOUND_REDIRECT, OUTPUT, OUTBOUND_REDIRECT],
        rules,
    }
}

/// IPv6 when the proxy does not listen on it: new TCP connections that the
/// nat rules would have redirected are refused instead, so IPv6 never
/// bypasses the proxy. Only SYNs are refused, which keeps replies to allowed
/// connections flowing without connection tracking.
fn reject_table(cfg: &InitConfig) -> Table {
    const SYN: &str = "-m tcp --tcp-flags FIN,SYN,RST,ACK SYN";
    const REJECT: &str = "REJECT --reject-with tcp-reset";
    let mut rules = vec![Rule::new(
        INBOUND_REJECT,
        "-i lo",
        "traffic staying in the pod (loopback, own pod addresses) is not refused",
        "RETURN",
    )];
    rules.extend(inbound_exemptions(cfg, INBOUND_REJECT, "refused"));
    rules.push(Rule::new(
        INBOUND_REJECT,
        format!("-p tcp {SYN}"),
        "the proxy does not listen on IPv6: new inbound IPv6 TCP is refused, never passed unmediated",
        REJECT,
    ));
    rules.extend(outbound_exemptions(
        cfg,
        Family::V6,
        OUTBOUND_REJECT,
        "refused",
    ));
    rules.push(Rule::new(
        OUTBOUND_REJECT,
        format!("-p tcp {SYN}"),
        "the proxy does not listen on IPv6: new outbound IPv6 TCP from the app is refused, never passed unmediated",
        REJECT,
    ));
    rules.push(Rule::new(
        "INPUT",
        "-p tcp",
        "new inbound IPv6 TCP is refused except to proxy ports and skip-inbound-ports (UDP is not mediated)",
        INBOUND_REJECT,
    ));
    rules.push(Rule::new(
        "OUTPUT",
        "-p tcp",
        "outbound IPv6 TCP from the app is refused (UDP is not mediated)",
        OUTBOUND_REJECT,
    ));
    Table {
        name: "filter",
        chains: vec![INBOUND_REJECT, OUTBOUND_REJECT],
        rules,
    }
}

/// Inbound destination ports that are not sent to the proxy's inbound port
/// (or, `verb` = "refused", not refused).
fn inbound_exemptions(cfg: &InitConfig, chain: &'static str, verb: &str) -> Vec<Rule> {
    let dport = |p: PortRange| format!("-p tcp -m tcp --dport {}", p.to_iptables());
    let mut rules = vec![
        Rule::new(
            chain,
            dport(PortRange::single(cfg.inbound_port)),
            format!("the proxy inbound port {} is not {verb}", cfg.inbound_port),
            "RETURN",
        ),
        Rule::new(
            chain,
            dport(PortRange::single(cfg.outbound_port)),
            format!(
                "the proxy outbound port {} is not {verb}",
                cfg.outbound_port
            ),
            "RETURN",
        ),
        Rule::new(
            chain,
            dport(PortRange::single(cfg.admin_port)),
            format!(
                "the proxy admin port {} (probes, metrics) is not {verb}",
                cfg.admin_port
            ),
            "RETURN",
        ),
        Rule::new(
            chain,
            dport(PortRange::single(cfg.metrics_port)),
            format!(
                "the proxy metrics port {} (mTLS, for weft-controller) is not {verb}",
                cfg.metrics_port
            ),
            "RETURN",
        ),
    ];
    rules.extend(cfg.skip_inbound_ports.iter().map(|&p| {
        Rule::new(
            chain,
            dport(p),
            format!("skip-inbound-ports {p} reaches the app directly"),
            "RETURN",
        )
    }));
    rules
}

/// Outbound traffic that is not sent to the proxy's outbound port: the
/// proxy's own (so nothing it sends can loop back into it), traffic that
/// stays in the pod, and the user's skip lists.
fn outbound_exemptions(
    cfg: &InitConfig,
    family: Family,
    chain: &'static str,
    verb: &str,
) -> Vec<Rule> {
    let why = if verb == "redirected" {
        ", so it cannot loop"
    } else {
        ""
    };
    let mut rules = vec![
        Rule::new(
            chain,
            format!("-m owner --uid-owner {}", cfg.proxy_uid),
            format!(
                "traffic of the proxy user (uid {}) is never {verb}{why}",
                cfg.proxy_uid
            ),
            "RETURN",
        ),
        Rule::new(
            chain,
            format!("-m owner --gid-owner {}", cfg.proxy_gid),
            format!(
                "traffic of the proxy group (gid {}) is never {verb}{why}",
                cfg.proxy_gid
            ),
            "RETURN",
        ),
        // Loopback, and the pod's own addresses (routed over lo): in-pod
        // traffic stays in the pod and keeps loopback-only listeners private.
        Rule::new(
            chain,
            "-o lo",
            format!("traffic staying in the pod (loopback, own pod addresses) is not {verb}"),
            "RETURN",
        ),
    ];
    rules.extend(cfg.skip_outbound_ports.iter().map(|&p| {
        Rule::new(
            chain,
            format!("-p tcp -m tcp --dport {}", p.to_iptables()),
            format!("skip-outbound-ports {p} leaves directly"),
            "RETURN",
        )
    }));
    let cidrs: Vec<String> = match family {
        Family::V4 => cfg
            .skip_outbound_cidrs_v4
            .iter()
            .map(ToString::to_string)
            .collect(),
        Family::V6 => cfg
            .skip_outbound_cidrs_v6
            .iter()
            .map(ToString::to_string)
            .collect(),
    };
    rules.extend(cidrs.into_iter().map(|c| {
        Rule::new(
            chain,
            format!("-d {c}"),
            format!("skip-outbound-cidrs {c} leaves directly"),
            "RETURN",
        )
    }));
    rules
}

#[cfg(test)]
mod tests;
