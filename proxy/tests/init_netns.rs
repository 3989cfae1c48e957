//! The real `weft-proxy init` binary against real iptables, each test in a
//! fresh network namespace. Needs root; fails (never skips) without it.

#[path = "support/netns.rs"]
mod netns;

use netns::Netns;

const WEFT: &str = env!("CARGO_BIN_EXE_weft-proxy");

/// Every skip list, so their rules are exercised too.
const SKIPS: &[&str] = &[
    "--skip-inbound-ports=22,8000-8010",
    "--skip-outbound-ports=5432",
    "--skip-outbound-cidrs=169.254.169.254/32,fd00::/8",
];

/// The `-A` lines `--dry-run` prints for IPv4 and IPv6.
fn expected(extra: &[&str]) -> (Vec<String>, Vec<String>) {
    let mut argv = vec![WEFT, "init", "--dry-run"];
    argv.extend_from_slice(extra);
    let text = netns::ok(&argv);
    let (v4, v6) = text
        .split_once("# IPv6")
        .unwrap_or_else(|| panic!("no IPv6 section in --dry-run output:\n{text}"));
    let rules = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| l.starts_with("-A "))
            .map(String::from)
            .collect()
    };
    (rules(v4), rules(v6))
}

/// Backends whose tools are installed here.
fn backends() -> Vec<&'static str> {
    let present: Vec<&str> = ["nft", "legacy"]
        .into_iter()
        .filter(|b| {
            std::process::Command::new(format!("iptables-{b}-save"))
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .collect();
    assert!(
        !present.is_empty(),
        "neither iptables-nft-save nor iptables-legacy-save is installed (Debian package `iptables`)"
    );
    present
}

/// One family's saved state in one backend, without the timestamped
/// `#` lines.
fn save(ns: &Netns, tool: &str, backend: &str) -> String {
    ns.ok(&[&format!("{tool}-{backend}-save")])
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn init(ns: &Netns, args: &[&str]) -> String {
    let mut argv = vec![WEFT, "init"];
    argv.extend_from_slice(args);
    ns.ok(&argv)
}

/// Each expected rule appears exactly once, and weft has nothing else.
fn assert_exactly(saved: &str, rules: &[String], what: &str) {
    for rule in rules {
        let n = saved.lines().filter(|l| l == rule).count();
        assert_eq!(n, 1, "{what}: {rule:?} present {n} times in\n{saved}");
    }
    let weft_rules = saved
        .lines()
        .filter(|l| l.starts_with("-A ") && l.contains("WEFT_"))
        .count();
    assert_eq!(
        weft_rules,
        rules.len(),
        "{what}: extra weft rules in\n{saved}"
    );
}

fn weft_lines(saved: &str) -> usize {
    saved.lines().filter(|l| l.contains("WEFT_")).count()
}

#[test]
fn init_writes_one_set_of_rules_and_a_rerun_replaces_it() {
    let (v4, v6) = expected(SKIPS);
    assert!(v4.iter().any(|l| l.starts_with("-A PREROUTING ")), "{v4:?}");
    // IPv6 is redirected as IPv4 by default.
    assert!(v6.iter().any(|l| l.starts_with("-A PREROUTING ")), "{v6:?}");
    assert!(!v6.iter().any(|l| l.starts_with("-A INPUT ")), "{v6:?}");
    for backend in backends() {
        let ns = Netns::new("init");
        let mut args = vec![format!("--mode={backend}")];
        args.extend(SKIPS.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();

        let log = init(&ns, &args);
        assert!(log.contains("rules written with"), "{log}");
        let first = (
            save(&ns, "iptables", backend),
            save(&ns, "ip6tables", backend),
        );
        assert_exactly(&first.0, &v4, &format!("{backend} IPv4"));
        assert_exactly(&first.1, &v6, &format!("{backend} IPv6"));
        for chain in [
            "WEFT_PREROUTING",
            "WEFT_INBOUND_REDIRECT",
            "WEFT_OUTPUT",
            "WEFT_OUTBOUND_REDIRECT",
        ] {
            assert!(first.0.contains(&format!(":{chain} - ")), "{}", first.0);
            assert!(first.1.contains(&format!(":{chain} - ")), "{}", first.1);
        }

        let log = init(&ns, &args);
        assert!(
            log.contains("-D PREROUTING "),
            "a rerun deletes the old jump:\n{log}"
        );
        let second = (
            save(&ns, "iptables", backend),
            save(&ns, "ip6tables", backend),
        );
        assert_exactly(&second.0, &v4, &format!("{backend} IPv4 rerun"));
        assert_exactly(&second.1, &v6, &format!("{backend} IPv6 rerun"));
        assert_eq!(weft_lines(&first.0), weft_lines(&second.0));
        assert_eq!(weft_lines(&first.1), weft_lines(&second.1));

        // The other backend was left alone.
        for other in backends().into_iter().filter(|b| *b != backend) {
            for tool in ["iptables", "ip6tables"] {
                let s = save(&ns, tool, other);
                assert_eq!(weft_lines(&s), 0, "{other} {tool}:\n{s}");
            }
        }
    }
}

#[test]
fn dry_run_changes_nothing() {
    let ns = Netns::new("dry");
    let snapshot = |ns: &Netns| -> Vec<String> {
        backends()
            .into_iter()
            .flat_map(|b| [save(ns, "iptables", b), save(ns, "ip6tables", b)])
            .collect()
    };
    let empty = snapshot(&ns);
    let out = init(&ns, &["--dry-run"]);
    assert!(out.contains("REDIRECT --to-ports 4143"), "{out}");
    assert_eq!(snapshot(&ns), empty, "--dry-run changed an empty namespace");

    init(&ns, &[]);
    let written = snapshot(&ns);
    let mut args = vec!["--dry-run", "--ipv6=redirect"];
    args.extend_from_slice(SKIPS);
    init(&ns, &args);
    assert_eq!(snapshot(&ns), written, "--dry-run changed written rules");
}

#[test]
fn switching_ipv6_mode_leaves_no_stale_chains() {
    let ns = Netns::new("v6mode");
    let backend = backends()[0];
    let mode = format!("--mode={backend}");
    let filter = |ns: &Netns| ns.ok(&[&format!("ip6tables-{backend}-save"), "-t", "filter"]);
    let nat = |ns: &Netns| ns.ok(&[&format!("ip6tables-{backend}-save"), "-t", "nat"]);

    init(&ns, &[&mode, "--ipv6=reject"]);
    assert!(
        filter(&ns).contains(":WEFT_INBOUND_REJECT"),
        "{}",
        filter(&ns)
    );
    assert_eq!(weft_lines(&nat(&ns)), 0, "{}", nat(&ns));

    init(&ns, &[&mode, "--ipv6=redirect"]);
    assert_eq!(weft_lines(&filter(&ns)), 0, "{}", filter(&ns));
    let (_, v6) = expected(&["--ipv6=redirect"]);
    assert_exactly(&save(&ns, "ip6tables", backend), &v6, "IPv6 redirect");

    init(&ns, &[&mode, "--ipv6=reject"]);
    assert_eq!(weft_lines(&nat(&ns)), 0, "{}", nat(&ns));
    let (_, v6) = expected(&["--ipv6=reject"]);
    assert_exactly(&save(&ns, "ip6tables", backend), &v6, "IPv6 reject again");

    // The default is redirect.
    init(&ns, &[&mode]);
    assert_eq!(weft_lines(&filter(&ns)), 0, "{}", filter(&ns));
    let (_, v6) = expected(&["--ipv6=redirect"]);
    assert_exactly(&save(&ns, "ip6tables", backend), &v6, "IPv6 by default");
}

/// Which backend holds weft's rules in this namespace.
fn holder(ns: &Netns) -> &'static str {
    let holders: Vec<&str> = backends()
        .into_iter()
        .filter(|b| weft_lines(&save(ns, "iptables", b)) > 0)
        .collect();
    assert_eq!(holders.len(), 1, "weft's rules in {holders:?}");
    holders[0]
}

#[test]
fn auto_mode_picks_the_backend_holding_rules_and_sticks_to_it() {
    let present = backends();
    let reported = netns::ok(&["iptables", "--version"]);
    let default = if reported.contains("legacy") {
        "legacy"
    } else {
        "nft"
    };
    if present.len() < 2 {
        // One backend: auto must use it.
        let ns = Netns::new("auto");
        init(&ns, &[]);
        assert_eq!(holder(&ns), present[0]);
        return;
    }
    // Nothing anywhere: what `iptables --version` reports.
    let ns = Netns::new("auto");
    let log = init(&ns, &[]);
    assert_eq!(holder(&ns), default, "{log}");
    init(&ns, &[]);
    assert_eq!(holder(&ns), default, "a rerun switched backends");

    // A backend that already holds rules wins, and keeps winning.
    for backend in ["nft", "legacy"] {
        let ns = Netns::new("auto");
        ns.ok(&[
            &format!("iptables-{backend}"),
            "--wait=5",
            "-A",
            "INPUT",
            "-m",
            "comment",
            "--comment",
            "test: a rule of someone else",
            "-j",
            "ACCEPT",
        ]);
        let log = init(&ns, &[]);
        assert_eq!(holder(&ns), backend, "{log}");
        let log = init(&ns, &[]);
        assert_eq!(holder(&ns), backend, "a rerun switched backends: {log}");
        let kept = save(&ns, "iptables", backend);
        assert!(kept.contains("a rule of someone else"), "{kept}");
    }
}

#[test]
fn without_capabilities_the_error_names_them() {
    let ns = Netns::new("nocap");
    // The test binary's directory may not be reachable for another user:
    // run a world-executable copy.
    let dir = std::env::temp_dir().join(format!("weft-init-nocap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("weft-proxy");
    std::fs::copy(WEFT, &copy).unwrap();
    let run = ns.run(&[
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all",
        copy.to_str().unwrap(),
        "init",
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "init succeeded without capabilities");
    assert!(
        stderr.contains("NET_ADMIN") && stderr.contains("NET_RAW"),
        "{stderr}"
    );
    assert!(stderr.contains("Permission denied"), "{stderr}");
}

/// How a connection attempt from inside the namespace ended.
#[derive(Debug, PartialEq)]
enum Connect {
    /// Refused at once: redirected to a proxy port nothing listens on
    /// here, or rejected.
    Refused,
    /// Still waiting after a second: left alone, its SYN went out on the
    /// veth towards a peer that never answers.
    Untouched,
}

/// Connects with bash's /dev/tcp, as root (the app) or as the proxy's user.
fn connect(ns: &Netns, as_proxy: bool, host: &str, port: u16) -> Connect {
    let script = format!("exec 3<>/dev/tcp/{host}/{port}");
    let mut argv = vec![];
    if as_proxy {
        argv.extend(["setpriv", "--reuid=2102", "--regid=2102", "--clear-groups"]);
    }
    argv.extend(["timeout", "1", "bash", "-c", &script]);
    let out = ns.run(&argv);
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(124) => Connect::Untouched,
        Some(1) if stderr.contains("Connection refused") => Connect::Refused,
        _ => panic!(
            "connecting to {host} port {port}: {:?} {stderr}",
            out.status
        ),
    }
}

#[test]
fn the_rules_take_effect() {
    let ns = Netns::new("effect");
    // Peers that never answer: SYNs go out on a veth whose far end has no
    // address. Permanent neighbour entries keep failed ARP/ND from turning a
    // silent drop into "no route to host".
    for cmd in [
        "ip link add v0 type veth peer name v1",
        "ip addr add 10.250.0.1/24 dev v0",
        "ip -6 addr add fd00:250::1/64 dev v0 nodad",
        "ip link set v0 up",
        "ip link set v1 up",
        "ip neigh add 10.250.0.2 lladdr 02:00:00:00:00:02 dev v0 nud permanent",
        "ip neigh add 10.250.0.200 lladdr 02:00:00:00:00:02 dev v0 nud permanent",
        "ip -6 neigh add fd00:250::2 lladdr 02:00:00:00:00:02 dev v0 nud permanent",
    ] {
        ns.ok(&cmd.split(' ').collect::<Vec<_>>());
    }
    for (host, port) in [("10.250.0.2", 80), ("fd00:250::2", 80)] {
        assert_eq!(
            connect(&ns, false, host, port),
            Connect::Untouched,
            "{host}"
        );
    }
    init(
        &ns,
        &[
            "--skip-outbound-ports=5432",
            "--skip-outbound-cidrs=10.250.0.128/25",
        ],
    );
    // IPv4: the app's TCP goes to the (absent) proxy; the proxy's own and
    // the skip lists' go out untouched.
    assert_eq!(connect(&ns, false, "10.250.0.2", 80), Connect::Refused);
    assert_eq!(connect(&ns, true, "10.250.0.2", 80), Connect::Untouched);
    assert_eq!(connect(&ns, false, "10.250.0.2", 5432), Connect::Untouched);
    assert_eq!(connect(&ns, false, "10.250.0.200", 80), Connect::Untouched);
    // IPv6 (the default, redirect): as IPv4.
    assert_eq!(connect(&ns, false, "fd00:250::2", 80), Connect::Refused);
    assert_eq!(connect(&ns, true, "fd00:250::2", 80), Connect::Untouched);
    assert_eq!(connect(&ns, false, "fd00:250::2", 5432), Connect::Untouched);
    let v6 = save(&ns, "ip6tables", holder(&ns));
    assert!(
        v6.contains("-j WEFT_OUTBOUND_REDIRECT") && !v6.contains("REJECT"),
        "the default redirects and refuses nothing:\n{v6}"
    );
    // IPv6 with `--ipv6=reject`: the app is refused, the proxy is not.
    init(&ns, &["--skip-outbound-ports=5432", "--ipv6=reject"]);
    assert_eq!(connect(&ns, false, "fd00:250::2", 80), Connect::Refused);
    assert_eq!(connect(&ns, true, "fd00:250::2", 80), Connect::Untouched);
    assert_eq!(connect(&ns, false, "fd00:250::2", 5432), Connect::Untouched);
}
