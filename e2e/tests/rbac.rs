//! Each control-plane component's RBAC on the real cluster, asked the way an
//! operator would (`kubectl auth can-i --as`): everything the design's
//! per-component table lists is granted, and a neighbouring permission it
//! must not have is refused.

use std::process::{Command, Stdio};
use weft_e2e::{
    client,
    release::{install, uninstall},
};

/// The control-plane namespace the suite installs into.
const NS: &str = weft_api::contract::control_plane::NAMESPACE;

/// What one ServiceAccount of `weft-system` may or must not do.
struct Case {
    sa: &'static str,
    verb: &'static str,
    /// `kind[.group]`, or `kind[.group]/name` for one object.
    resource: &'static str,
    /// The namespace asked about; `None` asks across all namespaces (what a
    /// ClusterRole grants).
    ns: Option<&'static str>,
    allowed: bool,
}

const fn may(sa: &'static str, verb: &'static str, resource: &'static str) -> Case {
    Case {
        sa,
        verb,
        resource,
        ns: None,
        allowed: true,
    }
}

const fn must_not(sa: &'static str, verb: &'static str, resource: &'static str) -> Case {
    Case {
        sa,
        verb,
        resource,
        ns: None,
        allowed: false,
    }
}

impl Case {
    /// Asked in one namespace: what a Role or RoleBinding there grants.
    const fn in_ns(mut self, ns: &'static str) -> Self {
        self.ns = Some(ns);
        self
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
    // controller: watch its inputs, report Events; no ConfigMap rights (trust
    // anchors reach proxies through the injector and weft-identity).
    may("weft-controller", "watch", "pods"),
    may("weft-controller", "list", "services"),
    may(
        "weft-controller",
        "watch",
        "endpointslices.discovery.k8s.io",
    ),
    may("weft-controller", "watch", "serviceaccounts"),
    may("weft-controller", "list", "namespaces"),
    // The cluster's networks: read, never written.
    may("weft-controller", "watch", "nodes"),
    may("weft-controller", "list", "servicecidrs.networking.k8s.io"),
    must_not("weft-controller", "patch", "nodes"),
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
    // Gateway API mesh routes: read (their status is written through the
    // status subresource); never the routes themselves.
    may(
        "weft-controller",
        "watch",
        "httproutes.gateway.networking.k8s.io",
    ),
    may(
        "weft-controller",
        "list",
        "grpcroutes.gateway.networking.k8s.io",
    ),
    may(
        "weft-controller",
        "watch",
        "referencegrants.gateway.networking.k8s.io",
    ),
    must_not(
        "weft-controller",
        "patch",
        "httproutes.gateway.networking.k8s.io",
    ),
    must_not(
        "weft-controller",
        "create",
        "referencegrants.gateway.networking.k8s.io",
    ),
    may("weft-controller", "create", "events"),
    // Its conversion webhook: weft's own CRDs, by name, and nothing else.
    may(
        "weft-controller",
        "patch",
        "customresourcedefinitions.apiextensions.k8s.io/trafficsplits.split.smi-spec.io",
    ),
    must_not(
        "weft-controller",
        "patch",
        "customresourcedefinitions.apiextensions.k8s.io/certificates.cert-manager.io",
    ),
    must_not(
        "weft-controller",
        "list",
        "customresourcedefinitions.apiextensions.k8s.io",
    ),
    must_not(
        "weft-controller",
        "delete",
        "customresourcedefinitions.apiextensions.k8s.io/trafficsplits.split.smi-spec.io",
    ),
    must_not("weft-controller", "create", "configmaps"),
    must_not("weft-controller", "patch", "configmaps/coredns").in_ns("kube-system"),
    must_not("weft-controller", "update", "configmaps/coredns").in_ns("kube-system"),
    must_not("weft-controller", "get", "configmaps/coredns").in_ns("kube-system"),
    must_not("weft-controller", "list", "configmaps"),
    must_not("weft-controller", "get", "secrets"),
    must_not("weft-controller", "create", "pods"),
    must_not(
        "weft-controller",
        "delete",
        "traffictargets.access.smi-spec.io",
    ),
    // controller, for the SMI metrics API: delegated authorization (the
    // front proxy's certificate authenticates; no bearer token is accepted,
    // so no TokenReviews), the scraper's Lease and no other, and the API
    // server's authentication ConfigMap in kube-system.
    must_not(
        "weft-controller",
        "create",
        "tokenreviews.authentication.k8s.io",
    ),
    may(
        "weft-controller",
        "create",
        "subjectaccessreviews.authorization.k8s.io",
    ),
    may("weft-controller", "create", "leases.coordination.k8s.io").in_ns(NS),
    may(
        "weft-controller",
        "get",
        "leases.coordination.k8s.io/weft-metrics-leader",
    )
    .in_ns(NS),
    may(
        "weft-controller",
        "update",
        "leases.coordination.k8s.io/weft-metrics-leader",
    )
    .in_ns(NS),
    may(
        "weft-controller",
        "get",
        "configmaps/extension-apiserver-authentication",
    )
    .in_ns("kube-system"),
    must_not(
        "weft-controller",
        "update",
        "leases.coordination.k8s.io/another-lease",
    )
    .in_ns(NS),
    must_not(
        "weft-controller",
        "get",
        "leases.coordination.k8s.io/kube-controller-manager",
    )
    .in_ns("kube-system"),
    must_not("weft-controller", "create", "leases.coordination.k8s.io").in_ns("kube-system"),
    must_not(
        "weft-controller",
        "delete",
        "configmaps/extension-apiserver-authentication",
    )
    .in_ns("kube-system"),
    // injector: read namespace annotations.
    may("weft-injector", "get", "namespaces"),
    may("weft-injector", "watch", "namespaces"),
    must_not("weft-injector", "patch", "namespaces"),
    must_not("weft-injector", "list", "pods"),
    must_not("weft-injector", "get", "secrets"),
    must_not("weft-injector", "get", "configmaps"),
];

/// `kubectl auth can-i` answers `yes` (exit 0) or `no` (exit 1); anything
/// else is an error, never read as a refusal.
fn can_i(c: &Case) -> anyhow::Result<bool> {
    let mut cmd = Command::new("kubectl");
    cmd.args(["auth", "can-i", c.verb, c.resource])
        .arg(format!("--as=system:serviceaccount:{NS}:{}", c.sa))
        .stdin(Stdio::null());
    match c.ns {
        Some(ns) => cmd.args(["-n", ns]),
        // A ClusterRole's grant: ask across all namespaces.
        None => cmd.arg("--all-namespaces"),
    };
    let out = cmd.output().map_err(|e| {
        anyhow::anyhow!("running kubectl (is `eval \"$(e2e/cluster/env)\"` in effect?): {e}")
    })?;
    let answer = String::from_utf8_lossy(&out.stdout).trim().to_string();
    match (out.status.code(), answer.as_str()) {
        (Some(0), "yes") => Ok(true),
        (Some(1), "no") => Ok(false),
        _ => anyhow::bail!(
            "kubectl auth can-i {} {} -n {:?} as {}: {:?} {answer:?} {}",
            c.verb,
            c.resource,
            c.ns,
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
            let ns = c.ns.unwrap_or("*");
            eprintln!(
                "{:<16} {:<7} {:<50} {:<12} {}",
                c.sa,
                c.verb,
                c.resource,
                ns,
                if got { "yes" } else { "no" }
            );
            if got != c.allowed {
                wrong.push(format!(
                    "{} {} {} in {ns}: expected {}",
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
