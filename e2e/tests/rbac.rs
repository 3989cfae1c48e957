//! Each control-plane component's RBAC on the real cluster, asked the way an
//! operator would (`kubectl auth can-i --as`): everything the design's
//! per-component table lists is granted, and a neighbouring permission it
//! must not have is refused.

use std::process::{Command, Stdio};
use weft_e2e::{
    client,
    release::{install, uninstall},
};

/// What one ServiceAccount of `weft-system` may or must not do.
struct Case {
    sa: &'static str,
    verb: &'static str,
    resource: &'static str,
    allowed: bool,
}

const fn may(sa: &'static str, verb: &'static str, resource: &'static str) -> Case {
    Case {
        sa,
        verb,
        resource,
        allowed: true,
    }
}

const fn must_not(sa: &'static str, verb: &'static str, resource: &'static str) -> Case {
    Case {
        sa,
        verb,
        resource,
        allowed: false,
    }
}

const CASES: &[Case] = &[
    // identity: check workload tokens, report Events.
    may(
        "weft-identity",
        "create",
        "tokenreviews.authentication.k8s.io",
    ),
    may("weft-identity", "create", "events"),
    must_not("weft-identity", "get", "secrets"),
    must_not("weft-identity", "list", "pods"),
    must_not("weft-identity", "create", "serviceaccounts/token"),
    // controller: watch its inputs, report Events, keep the anchor ConfigMaps.
    may("weft-controller", "watch", "pods"),
    may("weft-controller", "list", "services"),
    may(
        "weft-controller",
        "watch",
        "endpointslices.discovery.k8s.io",
    ),
    may("weft-controller", "watch", "serviceaccounts"),
    may("weft-controller", "list", "namespaces"),
    may(
        "weft-controller",
        "watch",
        "traffictargets.access.smi-spec.io",
    ),
    may(
        "weft-controller",
        "watch",
        "httproutegroups.specs.smi-spec.io",
    ),
    may("weft-controller", "watch", "tcproutes.specs.smi-spec.io"),
    may("weft-controller", "watch", "udproutes.specs.smi-spec.io"),
    may(
        "weft-controller",
        "watch",
        "trafficsplits.split.smi-spec.io",
    ),
    may("weft-controller", "create", "events"),
    may("weft-controller", "patch", "configmaps"),
    must_not("weft-controller", "get", "secrets"),
    must_not("weft-controller", "create", "pods"),
    must_not(
        "weft-controller",
        "delete",
        "traffictargets.access.smi-spec.io",
    ),
    must_not(
        "weft-controller",
        "create",
        "tokenreviews.authentication.k8s.io",
    ),
    // injector: read namespace annotations.
    may("weft-injector", "get", "namespaces"),
    may("weft-injector", "watch", "namespaces"),
    must_not("weft-injector", "patch", "namespaces"),
    must_not("weft-injector", "list", "pods"),
    must_not("weft-injector", "get", "secrets"),
];

/// `kubectl auth can-i` answers `yes` (exit 0) or `no` (exit 1); anything
/// else is an error, never read as a refusal.
fn can_i(c: &Case) -> anyhow::Result<bool> {
    let mut cmd = Command::new("kubectl");
    cmd.args(["auth", "can-i", c.verb, c.resource])
        .arg(format!("--as=system:serviceaccount:weft-system:{}", c.sa))
        // Every grant is a ClusterRole: ask across all namespaces.
        .arg("--all-namespaces")
        .stdin(Stdio::null());
    let out = cmd.output().map_err(|e| {
        anyhow::anyhow!("running kubectl (is `eval \"$(e2e/cluster/env)\"` in effect?): {e}")
    })?;
    let answer = String::from_utf8_lossy(&out.stdout).trim().to_string();
    match (out.status.code(), answer.as_str()) {
        (Some(0), "yes") => Ok(true),
        (Some(1), "no") => Ok(false),
        _ => anyhow::bail!(
            "kubectl auth can-i {} {} as {}: {:?} {answer:?} {}",
            c.verb,
            c.resource,
            c.sa,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

#[tokio::test]
async fn each_component_may_do_what_the_design_lists_and_nothing_next_to_it() -> anyhow::Result<()>
{
    client().await?;
    install()?;
    let res = (|| {
        let mut wrong = Vec::new();
        for c in CASES {
            let got = can_i(c)?;
            eprintln!(
                "{:<16} {:<7} {:<40} {}",
                c.sa,
                c.verb,
                c.resource,
                if got { "yes" } else { "no" }
            );
            if got != c.allowed {
                wrong.push(format!(
                    "{} {} {}: expected {}",
                    c.sa,
                    c.verb,
                    c.resource,
                    if c.allowed { "yes" } else { "no" }
                ));
            }
        }
        anyhow::ensure!(wrong.is_empty(), "RBAC differs from the design: {wrong:#?}");
        Ok(())
    })();
    uninstall();
    res
}
