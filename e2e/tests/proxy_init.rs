//! `weft-init` on the real kubelet and containerd: the init container exactly
//! as the injector writes it (`weft_injector::containers::init_container`),
//! from the image `make images` builds (`weft/proxy:dev`), runs as UID 2102
//! with only NET_ADMIN and NET_RAW and writes the pod's iptables rules.
//!
//! A non-root process gains those capabilities only by exec'ing a binary
//! that carries them as file capabilities, so this also proves that the
//! `security.capability` xattr survives the image build and containerd's
//! unpack. The negative cases show that it is exactly these capabilities,
//! granted this way, that make it work.

use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use kube::api::{Api, LogParams, ObjectMeta, PostParams};
use std::{collections::BTreeMap, process::Command, time::Duration};
use weft_api::contract::{annotations as a, pod as names};
use weft_e2e::{client, with_temp_ns};
use weft_injector::{InjectConfig, annotations, containers};

/// Starting a pod (sandbox, image, init container) is slower than an API
/// round trip; still bounded.
const POD_START: Duration = Duration::from_secs(60);

/// The init container the injector adds to a pod annotated with skips, with
/// the image `make images` built (never pulled: there is no registry).
fn injected_init() -> anyhow::Result<Container> {
    let cfg = InjectConfig {
        proxy_image: "weft/proxy:dev".into(),
        image_pull_policy: "Never".into(),
        ..InjectConfig::default()
    };
    let ann = BTreeMap::from([
        (a::SKIP_INBOUND_PORTS.to_string(), "22".to_string()),
        (
            a::SKIP_OUTBOUND_CIDRS.to_string(),
            "169.254.169.254".to_string(),
        ),
    ]);
    let init = containers::init_container(&cfg, &annotations::overrides(&ann)?);
    // What this suite relies on: non-root, NET_ADMIN and NET_RAW only,
    // escalation allowed (file capabilities), read-only root, /run mounted.
    let sc = init.security_context.clone().unwrap_or_default();
    assert_eq!((sc.run_as_user, sc.run_as_group), (Some(2102), Some(2102)));
    let caps = sc.capabilities.unwrap_or_default();
    assert_eq!(
        (caps.add.as_deref(), caps.drop.as_deref()),
        (
            Some(&["NET_ADMIN".to_string(), "NET_RAW".to_string()][..]),
            Some(&["ALL".to_string()][..])
        )
    );
    assert_eq!(sc.allow_privilege_escalation, Some(true));
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    Ok(init)
}

/// A pod with `init`, the injector's xtables-lock volume, and a trivial app.
fn pod(name: &str, init: Container) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            restart_policy: Some("Never".into()),
            init_containers: Some(vec![init]),
            containers: vec![Container {
                name: "app".into(),
                image: Some("weft/pause:e2e".into()),
                image_pull_policy: Some("Never".into()),
                ..Container::default()
            }],
            volumes: Some(
                containers::volumes()
                    .into_iter()
                    .filter(|v| v.name == names::XTABLES_LOCK_VOLUME)
                    .collect(),
            ),
            ..PodSpec::default()
        }),
        ..Pod::default()
    }
}

/// Creates the pod and waits for weft-init to finish: its exit code and log.
async fn run_init(pods: &Api<Pod>, pod: Pod) -> anyhow::Result<(i32, String)> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    pods.create(&PostParams::default(), &pod).await?;
    let t0 = tokio::time::Instant::now();
    let code = loop {
        let p = pods.get(&name).await?;
        let state = p
            .status
            .and_then(|s| s.init_container_statuses)
            .and_then(|c| c.into_iter().next())
            .and_then(|c| c.state)
            .unwrap_or_default();
        if let Some(t) = state.terminated {
            break t.exit_code;
        }
        if t0.elapsed() > POD_START {
            let waiting = state.waiting.map(|w| (w.reason, w.message));
            anyhow::bail!(
                "{name}: weft-init has not finished after {POD_START:?} \
                 (waiting: {waiting:?}; did `make images` run?)"
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    eprintln!("{name}: weft-init exited {code} after {:?}", t0.elapsed());
    let params = LogParams {
        container: Some(names::INIT_CONTAINER.into()),
        ..LogParams::default()
    };
    Ok((code, pods.logs(&name, &params).await?))
}

/// The rules iptables holds in the network namespace that has `ip`,
/// read from the node (this cluster's pods live in /var/run/netns/cni-*).
fn rules_in_pod_netns(ip: &str, save: &str, table: &str) -> anyhow::Result<String> {
    let run = |args: &[&str]| -> anyhow::Result<String> {
        let out = Command::new("ip").args(args).output()?;
        anyhow::ensure!(
            out.status.success(),
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    for ns in run(&["netns", "list"])?.lines() {
        let ns = ns.split_whitespace().next().unwrap_or_default();
        if !ns.starts_with("cni-") {
            continue;
        }
        let addrs = run(&["-n", ns, "-o", "-4", "addr", "show"]).unwrap_or_default();
        if addrs.contains(&format!("inet {ip}/")) {
            return run(&["netns", "exec", ns, save, "-t", table]);
        }
    }
    anyhow::bail!("no network namespace /var/run/netns/cni-* holds {ip}")
}

#[tokio::test]
async fn weft_init_writes_the_rules_non_root_with_file_capabilities() -> anyhow::Result<()> {
    let client = client().await?;
    with_temp_ns(&client, |client, ns| async move {
        let pods: Api<Pod> = Api::namespaced(client, &ns);
        let (code, log) = run_init(&pods, pod("init-ok", injected_init()?)).await?;
        assert_eq!(code, 0, "weft-init failed:\n{log}");
        for want in [
            "weft-init: iptables backend",
            "IPv4 rules written with iptables-",
            "-A PREROUTING -p tcp -m comment --comment \"weft: inbound TCP is mediated by the proxy",
            "-j REDIRECT --to-ports 4143",
            "-m owner --uid-owner 2102",
            "--dport 22 ",
            "-d 169.254.169.254/32 ",
            // IPv6 defaults to redirect, as IPv4.
            "IPv6 rules written with ip6tables-",
        ] {
            assert!(log.contains(want), "{want:?} not in weft-init's log:\n{log}");
        }
        let v6 = log
            .split_once("IPv6 rules written")
            .map_or("", |(_, v6)| v6);
        assert!(v6.contains("-j REDIRECT --to-ports 4140"), "{log}");
        assert!(!log.contains("REJECT"), "IPv6 is refused, not redirected:\n{log}");

        // The rules are really in the pod's network namespace, in the
        // backend init chose.
        let ip = pods
            .get("init-ok")
            .await?
            .status
            .and_then(|s| s.pod_ip)
            .ok_or_else(|| anyhow::anyhow!("init-ok has no pod IP"))?;
        let save = if log.contains("iptables backend legacy") {
            "iptables-legacy-save"
        } else {
            "iptables-nft-save"
        };
        let nat = rules_in_pod_netns(&ip, save, "nat")?;
        for want in [
            "-A PREROUTING -p tcp",
            "-j WEFT_PREROUTING",
            "-A OUTPUT -p tcp",
            "-j WEFT_OUTPUT",
            "\"weft: to the proxy inbound port 4143\" -j REDIRECT --to-ports 4143",
            "\"weft: to the proxy outbound port 4140\" -j REDIRECT --to-ports 4140",
        ] {
            assert!(nat.contains(want), "{want:?} not in the pod's nat table:\n{nat}");
        }
        Ok(())
    })
    .await
}

#[tokio::test]
async fn without_the_added_capabilities_weft_init_fails() -> anyhow::Result<()> {
    let client = client().await?;
    with_temp_ns(&client, |client, ns| async move {
        let pods: Api<Pod> = Api::namespaced(client, &ns);
        let mut init = injected_init()?;
        if let Some(caps) = init
            .security_context
            .as_mut()
            .and_then(|sc| sc.capabilities.as_mut())
        {
            caps.add = None; // drop ALL stays
        }
        let (code, log) = run_init(&pods, pod("init-no-caps", init)).await?;
        assert_ne!(code, 0, "weft-init succeeded without capabilities:\n{log}");
        // Outside the bounding set, the file capabilities make the kernel
        // refuse to exec iptables at all (EPERM); init names what is missing.
        assert!(
            log.contains("not permitted") && log.contains("NET_ADMIN"),
            "{log}"
        );
        assert!(!log.contains("rules written"), "{log}");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn without_privilege_escalation_the_file_capabilities_do_not_apply() -> anyhow::Result<()> {
    let client = client().await?;
    with_temp_ns(&client, |client, ns| async move {
        let pods: Api<Pod> = Api::namespaced(client, &ns);
        let mut init = injected_init()?;
        if let Some(sc) = init.security_context.as_mut() {
            sc.allow_privilege_escalation = Some(false); // no_new_privs
        }
        let (code, log) = run_init(&pods, pod("init-no-escalation", init)).await?;
        assert_ne!(code, 0, "weft-init succeeded with no_new_privs:\n{log}");
        assert!(
            log.contains("weft-init needs the NET_ADMIN and NET_RAW capabilities")
                && log.contains("allow privilege escalation"),
            "{log}"
        );
        assert!(!log.contains("rules written"), "{log}");
        Ok(())
    })
    .await
}
