use super::*;
use crate::init::{config::parse_cidrs, restore::render};

fn rendered(cfg: &InitConfig, family: Family) -> String {
    render(&ruleset(cfg, family))
}

fn rule_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with("-A ")).collect()
}

/// A configuration using every knob.
fn everything() -> InitConfig {
    let (v4, v6) = parse_cidrs("169.254.169.254,10.96.0.0/12,fd00::/8").unwrap();
    InitConfig {
        skip_inbound_ports: vec![PortRange::single(22), "8000-8010".parse().unwrap()],
        skip_outbound_ports: vec![PortRange::single(5432)],
        skip_outbound_cidrs_v4: v4,
        skip_outbound_cidrs_v6: v6,
        ..InitConfig::default()
    }
}

fn all_configs() -> Vec<InitConfig> {
    let mut out = Vec::new();
    for base in [InitConfig::default(), everything()] {
        for ipv6 in [Ipv6Mode::Redirect, Ipv6Mode::Reject] {
            out.push(InitConfig {
                ipv6,
                ..base.clone()
            });
        }
    }
    out
}

/// The exact IPv4 text for the contract's defaults: a change here changes
/// every meshed pod, so it should be a deliberate one.
#[test]
fn default_ipv4_rules_exactly() {
    let expected = r#"*nat
:WEFT_PREROUTING - [0:0]
:WEFT_INBOUND_REDIRECT - [0:0]
:WEFT_OUTPUT - [0:0]
:WEFT_OUTBOUND_REDIRECT - [0:0]
-A WEFT_PREROUTING -p tcp -m tcp --dport 4143 -m comment --comment "weft: the proxy inbound port 4143 is not redirected" -j RETURN
-A WEFT_PREROUTING -p tcp -m tcp --dport 4140 -m comment --comment "weft: the proxy outbound port 4140 is not redirected" -j RETURN
-A WEFT_PREROUTING -p tcp -m tcp --dport 4191 -m comment --comment "weft: the proxy admin port 4191 (probes, metrics) is not redirected" -j RETURN
-A WEFT_PREROUTING -p tcp -m tcp --dport 4192 -m comment --comment "weft: the proxy metrics port 4192 (mTLS, for weft-controller) is not redirected" -j RETURN
-A WEFT_PREROUTING -p tcp -m comment --comment "weft: all other inbound TCP goes to the proxy" -j WEFT_INBOUND_REDIRECT
-A WEFT_INBOUND_REDIRECT -p tcp -m comment --comment "weft: to the proxy inbound port 4143" -j REDIRECT --to-ports 4143
-A WEFT_OUTPUT -m owner --uid-owner 2102 -m comment --comment "weft: traffic of the proxy user (uid 2102) is never redirected, so it cannot loop" -j RETURN
-A WEFT_OUTPUT -m owner --gid-owner 2102 -m comment --comment "weft: traffic of the proxy group (gid 2102) is never redirected, so it cannot loop" -j RETURN
-A WEFT_OUTPUT -o lo -m comment --comment "weft: traffic staying in the pod (loopback, own pod addresses) is not redirected" -j RETURN
-A WEFT_OUTPUT -p tcp -m comment --comment "weft: all other outbound TCP from the app goes to the proxy" -j WEFT_OUTBOUND_REDIRECT
-A WEFT_OUTBOUND_REDIRECT -p tcp -m comment --comment "weft: to the proxy outbound port 4140" -j REDIRECT --to-ports 4140
-A PREROUTING -p tcp -m comment --comment "weft: inbound TCP is mediated by the proxy (UDP is never redirected)" -j WEFT_PREROUTING
-A OUTPUT -p tcp -m comment --comment "weft: outbound TCP is mediated by the proxy (UDP is never redirected)" -j WEFT_OUTPUT
COMMIT
"#;
    assert_eq!(rendered(&InitConfig::default(), Family::V4), expected);
}

#[test]
fn every_rule_carries_a_weft_comment() {
    for cfg in all_configs() {
        for family in [Family::V4, Family::V6] {
            for table in ruleset(&cfg, family).tables {
                for rule in table.rules {
                    let c = &rule.comment;
                    assert!(c.starts_with("weft: "), "{rule}");
                    // iptables-save prints quotes and apostrophes escaped, so
                    // comments avoid them to stay findable verbatim.
                    assert!(!c.contains(['"', '\'', '\\']), "{rule}");
                    assert!(c.len() <= 256, "comment match limit: {rule}");
                    assert!(
                        rule.to_string()
                            .contains(&format!("-m comment --comment \"{c}\" -j ")),
                        "{rule}"
                    );
                }
            }
        }
    }
}

#[test]
fn udp_is_never_redirected() {
    for cfg in all_configs() {
        for family in [Family::V4, Family::V6] {
            let set = ruleset(&cfg, family);
            for rule in set.tables.iter().flat_map(|t| &t.rules) {
                assert!(!rule.matches.contains("udp"), "{rule}");
                if rule.is_jump() {
                    assert!(rule.matches.starts_with("-p tcp"), "{rule}");
                    assert!(rule.comment.contains("UDP"), "{rule}");
                }
            }
        }
    }
}

/// The position of the first rule in `chain` containing `needle`.
fn position(text: &str, chain: &str, needle: &str) -> usize {
    rule_lines(text)
        .iter()
        .position(|l| l.starts_with(&format!("-A {chain} ")) && l.contains(needle))
        .unwrap_or_else(|| panic!("no {chain} rule with {needle:?} in\n{text}"))
}

#[test]
fn outbound_exclusions_come_before_the_redirect() {
    for family in [Family::V4, Family::V6] {
        let cfg = InitConfig {
            ipv6: Ipv6Mode::Redirect,
            ..everything()
        };
        let text = rendered(&cfg, family);
        let redirect = position(&text, OUTPUT, "-j WEFT_OUTBOUND_REDIRECT");
        let cidr = match family {
            Family::V4 => "-d 10.96.0.0/12 ",
            Family::V6 => "-d fd00::/8 ",
        };
        for needle in [
            "-m owner --uid-owner 2102 ",
            "-m owner --gid-owner 2102 ",
            "-o lo ",
            "--dport 5432 ",
            cidr,
        ] {
            let at = position(&text, OUTPUT, needle);
            assert!(at < redirect, "{needle:?} after the redirect in\n{text}");
            assert!(rule_lines(&text)[at].ends_with("-j RETURN"), "{text}");
        }
    }
}

#[test]
fn inbound_exclusions_come_before_the_redirect() {
    for family in [Family::V4, Family::V6] {
        let cfg = InitConfig {
            ipv6: Ipv6Mode::Redirect,
            ..everything()
        };
        let text = rendered(&cfg, family);
        let redirect = position(&text, PREROUTING, "-j WEFT_INBOUND_REDIRECT");
        for port in ["4143", "4140", "4191", "22", "8000:8010"] {
            let at = position(&text, PREROUTING, &format!("--dport {port} "));
            assert!(at < redirect, "port {port} after the redirect in\n{text}");
        }
        position(&text, INBOUND_REDIRECT, "-j REDIRECT --to-ports 4143");
        position(&text, OUTBOUND_REDIRECT, "-j REDIRECT --to-ports 4140");
    }
}

#[test]
fn cidrs_go_to_their_own_family() {
    let cfg = InitConfig {
        ipv6: Ipv6Mode::Redirect,
        ..everything()
    };
    let v4 = rendered(&cfg, Family::V4);
    let v6 = rendered(&cfg, Family::V6);
    assert!(v4.contains("-d 169.254.169.254/32 "), "{v4}");
    assert!(!v4.contains("fd00::"), "{v4}");
    assert!(v6.contains("-d fd00::/8 "), "{v6}");
    assert!(!v6.contains("10.96.0.0"), "{v6}");
}

#[test]
fn configured_ports_and_ids_are_used() {
    let cfg = InitConfig {
        inbound_port: 15006,
        outbound_port: 15001,
        admin_port: 15020,
        metrics_port: 15021,
        proxy_uid: 1337,
        proxy_gid: 1338,
        ..InitConfig::default()
    };
    let text = rendered(&cfg, Family::V4);
    for needle in [
        "--dport 15006 ",
        "--dport 15001 ",
        "--dport 15020 ",
        "--dport 15021 ",
        "REDIRECT --to-ports 15006",
        "REDIRECT --to-ports 15001",
        "--uid-owner 1337 ",
        "--gid-owner 1338 ",
    ] {
        assert!(text.contains(needle), "{needle:?} missing in\n{text}");
    }
    assert!(!text.contains("4143") && !text.contains("2102"), "{text}");
}

#[test]
fn ipv6_redirect_mirrors_ipv4() {
    let cfg = InitConfig {
        ipv6: Ipv6Mode::Redirect,
        ..InitConfig::default()
    };
    assert_eq!(rendered(&cfg, Family::V6), rendered(&cfg, Family::V4));
    let tables = ruleset(&cfg, Family::V6).tables;
    let filter = tables.iter().find(|t| t.name == "filter").unwrap();
    assert!(filter.chains.is_empty() && filter.rules.is_empty());
}

#[test]
fn ipv6_reject_refuses_new_tcp_in_the_filter_table() {
    let cfg = InitConfig {
        ipv6: Ipv6Mode::Reject,
        ..everything()
    };
    let text = rendered(&cfg, Family::V6);
    // REJECT is not valid in nat: the nat table is not written at all.
    assert!(!text.contains("*nat"), "{text}");
    assert!(text.starts_with("*filter\n"), "{text}");
    let syn = "-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN ";
    for chain in [INBOUND_REJECT, OUTBOUND_REJECT] {
        let reject = position(&text, chain, "-j REJECT --reject-with tcp-reset");
        assert!(rule_lines(&text)[reject].contains(syn), "{text}");
        // The refusal is the chain's last rule: every exemption precedes it.
        let last = rule_lines(&text)
            .iter()
            .rposition(|l| l.starts_with(&format!("-A {chain} ")))
            .unwrap();
        assert_eq!(reject, last, "{text}");
    }
    for needle in [
        "-i lo ",
        "--dport 4143 ",
        "--dport 4140 ",
        "--dport 4191 ",
        "--dport 22 ",
        "--dport 8000:8010 ",
    ] {
        position(&text, INBOUND_REJECT, needle);
    }
    for needle in [
        "--uid-owner 2102 ",
        "--gid-owner 2102 ",
        "-o lo ",
        "--dport 5432 ",
        "-d fd00::/8 ",
    ] {
        position(&text, OUTBOUND_REJECT, needle);
    }
    position(&text, "INPUT", "-j WEFT_INBOUND_REJECT");
    position(&text, "OUTPUT", "-j WEFT_OUTBOUND_REJECT");
    assert!(!text.contains("REDIRECT"), "{text}");
}

#[test]
fn reject_is_never_in_the_nat_table() {
    for cfg in all_configs() {
        for family in [Family::V4, Family::V6] {
            for table in ruleset(&cfg, family).tables {
                let rejects = table.rules.iter().any(|r| r.target.starts_with("REJECT"));
                assert!(!(table.name == "nat" && rejects), "{cfg:?}");
            }
        }
    }
}

#[test]
fn jumps_lead_only_into_declared_chains() {
    for cfg in all_configs() {
        for family in [Family::V4, Family::V6] {
            for table in ruleset(&cfg, family).tables {
                for rule in &table.rules {
                    if !rule.is_jump() {
                        assert!(table.chains.contains(&rule.chain), "{rule}");
                    }
                    if rule.target.starts_with(CHAIN_PREFIX) {
                        assert!(table.chains.contains(&rule.target.as_str()), "{rule}");
                    }
                }
            }
        }
    }
}
