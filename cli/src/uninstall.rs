//! `weft uninstall`: removes weft from a cluster in an order that never
//! breaks running workloads.
//!
//! 1. The webhook configuration goes first, so no pod created from now on
//!    is injected (and none waits on an injector that is going away).
//! 2. The control-plane Deployments, waiting until their pods are gone, so
//!    the controller cannot re-create what the next steps delete, and the
//!    metrics API's APIService (an APIService without a server behind it
//!    breaks discovery and blocks namespace deletion).
//! 3. The rest of the chart's objects (with the controller's RoleBinding in
//!    kube-system) and Helm's record of the release.
//! 4. What the controller wrote outside its namespace: the trust-anchor
//!    ConfigMaps of injected namespaces.
//! 5. The control-plane namespace, when nothing else runs in it.
//! 6. With `--crds` only, the SMI CRDs (and every SMI object with them).
//!    Without it the CRDs stay, no longer pointed at the controller's
//!    conversion webhook: older SMI versions then read back as stored,
//!    rather than fail.
//!
//! Meshed pods keep working until they restart: their proxies hold a
//! certificate (valid for its lifetime) and their last policy.

use anyhow::Context as _;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::{
    Api, Client,
    api::{ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams},
};
use std::time::Duration;
use weft_api::contract::control_plane;

/// Every object the chart creates carries it.
pub const PART_OF: &str = "app.kubernetes.io/part-of=weft";
/// The trust-anchor ConfigMaps earlier releases kept in injected namespaces.
pub const CONTROLLER_MANAGED: &str = "app.kubernetes.io/managed-by=weft-controller";
/// The SMI CRDs the chart installs (Helm never removes `crds/`).
pub const CRDS: [&str; 5] = [
    "traffictargets.access.smi-spec.io",
    "httproutegroups.specs.smi-spec.io",
    "tcproutes.specs.smi-spec.io",
    "udproutes.specs.smi-spec.io",
    "trafficsplits.split.smi-spec.io",
];

pub struct Options {
    pub control_plane_namespace: String,
    /// The Helm release whose record is removed with the chart's objects.
    pub release: String,
    pub crds: bool,
    pub dry_run: bool,
    /// How long to wait for the control-plane pods to stop.
    pub timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            control_plane_namespace: control_plane::NAMESPACE.into(),
            release: "weft".into(),
            crds: false,
            dry_run: false,
            timeout: Duration::from_secs(120),
        }
    }
}

/// Where the objects of one step live.
enum Scope<'a> {
    Cluster,
    Namespace(&'a str),
    AllNamespaces,
}

/// One kind of object and how to find weft's objects of that kind.
struct Kind {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
}

const fn kind(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
) -> Kind {
    Kind {
        group,
        version,
        kind,
        plural,
    }
}

const WEBHOOKS: Kind = kind(
    "admissionregistration.k8s.io",
    "v1",
    "MutatingWebhookConfiguration",
    "mutatingwebhookconfigurations",
);
const API_SERVICES: Kind = kind("apiregistration.k8s.io", "v1", "APIService", "apiservices");
const DEPLOYMENTS: Kind = kind("apps", "v1", "Deployment", "deployments");
/// The chart's namespaced objects, other than Deployments.
const NAMESPACED: [Kind; 7] = [
    kind("", "v1", "Service", "services"),
    kind(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
    ),
    kind("", "v1", "Secret", "secrets"),
    kind("", "v1", "ConfigMap", "configmaps"),
    kind("", "v1", "ServiceAccount", "serviceaccounts"),
    kind(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
    ),
    kind("rbac.authorization.k8s.io", "v1", "Role", "roles"),
];
const CLUSTER_RBAC: [Kind; 2] = [
    kind(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
    ),
    kind(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
    ),
];
/// The controller's RoleBinding in kube-system (the metrics API reads the
/// API server's extension-apiserver-authentication ConfigMap).
const ROLE_BINDINGS: Kind = kind(
    "rbac.authorization.k8s.io",
    "v1",
    "RoleBinding",
    "rolebindings",
);
const KUBE_SYSTEM: &str = "kube-system";
const SECRETS: Kind = kind("", "v1", "Secret", "secrets");
const CONFIG_MAPS: Kind = kind("", "v1", "ConfigMap", "configmaps");
const CRD_KIND: Kind = kind(
    "apiextensions.k8s.io",
    "v1",
    "CustomResourceDefinition",
    "customresourcedefinitions",
);

impl Kind {
    fn resource(&self) -> ApiResource {
        let api_version = if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        };
        ApiResource {
            group: self.group.into(),
            version: self.version.into(),
            api_version,
            kind: self.kind.into(),
            plural: self.plural.into(),
        }
    }

    fn api(&self, client: &Client, scope: &Scope<'_>) -> Api<DynamicObject> {
        let ar = self.resource();
        match scope {
            Scope::Cluster | Scope::AllNamespaces => Api::all_with(client.clone(), &ar),
            Scope::Namespace(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        }
    }
}

/// Removes weft, reporting each step and object through `say`; returns how
/// many objects were (or, in a dry run, would be) deleted.
pub async fn run(
    client: &Client,
    o: &Options,
    say: &mut dyn FnMut(String),
) -> anyhow::Result<usize> {
    let ns = o.control_plane_namespace.as_str();
    let verb = if o.dry_run { "would delete" } else { "deleted" };
    let mut total = 0;

    say("==> 1. the webhook configuration: no new pod is injected from now on".into());
    let n = delete_matching(client, o, &WEBHOOKS, &Scope::Cluster, PART_OF, verb, say).await?;
    total += counted(n, say);

    say(format!(
        "==> 2. the control plane in {ns}, waiting for its pods to stop"
    ));
    let mut n = delete_matching(
        client,
        o,
        &DEPLOYMENTS,
        &Scope::Namespace(ns),
        PART_OF,
        verb,
        say,
    )
    .await?;
    n += delete_matching(
        client,
        o,
        &API_SERVICES,
        &Scope::Cluster,
        PART_OF,
        verb,
        say,
    )
    .await?;
    total += counted(n, say);
    if !o.dry_run {
        wait_for_pods_gone(client, ns, o.timeout, say).await?;
    }

    say("==> 3. the chart's other objects and Helm's record of the release".into());
    let mut n = 0;
    for k in &NAMESPACED {
        n += delete_matching(client, o, k, &Scope::Namespace(ns), PART_OF, verb, say).await?;
    }
    n += delete_matching(
        client,
        o,
        &ROLE_BINDINGS,
        &Scope::Namespace(KUBE_SYSTEM),
        PART_OF,
        verb,
        say,
    )
    .await?;
    for k in &CLUSTER_RBAC {
        n += delete_matching(client, o, k, &Scope::Cluster, PART_OF, verb, say).await?;
    }
    let helm = format!("owner=helm,name={}", o.release);
    n += delete_matching(client, o, &SECRETS, &Scope::Namespace(ns), &helm, verb, say).await?;
    total += counted(n, say);
    say("    the mesh PKI goes with them: weft installed again generates a new one, which pods meshed now do not trust; re-create them then".into());

    say("==> 4. the trust-anchor ConfigMaps the controller kept in injected namespaces".into());
    let n = delete_matching(
        client,
        o,
        &CONFIG_MAPS,
        &Scope::AllNamespaces,
        CONTROLLER_MANAGED,
        verb,
        say,
    )
    .await?;
    total += counted(n, say);

    say(format!("==> 5. the namespace {ns}"));
    total += delete_namespace_if_empty(client, o, ns, verb, say).await?;

    if o.crds {
        say("==> 6. the SMI CRDs, with every SMI object in the cluster".into());
        total += delete_crds(client, o, verb, say).await?;
    } else {
        say("==> 6. the SMI CRDs are kept (--crds removes them with every SMI object); their conversion webhook is gone with the controller".into());
        total += release_conversion(client, o, say).await?;
    }
    Ok(total)
}

/// Points the kept CRDs away from the conversion webhook that left with
/// the controller: the API server would otherwise refuse every read and
/// write at an older version.
async fn release_conversion(
    client: &Client,
    o: &Options,
    say: &mut dyn FnMut(String),
) -> anyhow::Result<usize> {
    let api = CRD_KIND.api(client, &Scope::Cluster);
    let patch = serde_json::json!({"spec": {"conversion": {"strategy": "None", "webhook": null}}});
    let pp = PatchParams {
        dry_run: o.dry_run,
        ..PatchParams::default()
    };
    let mut n = 0;
    for name in CRDS {
        let crd = match api.get_opt(name).await {
            Ok(Some(crd)) => crd,
            Ok(None) => continue,
            Err(e) => return Err(e).with_context(|| format!("reading CRD {name}")),
        };
        if crd.data["spec"]["conversion"]["strategy"] != "Webhook" {
            continue;
        }
        api.patch(name, &pp, &Patch::Merge(&patch))
            .await
            .with_context(|| format!("resetting the conversion of CRD {name}"))?;
        let verb = if o.dry_run { "would reset" } else { "reset" };
        say(format!(
            "    {verb} the conversion of customresourcedefinition {name}"
        ));
        n += 1;
    }
    Ok(n)
}

fn counted(n: usize, say: &mut dyn FnMut(String)) -> usize {
    if n == 0 {
        say("    nothing to delete".into());
    }
    n
}

/// Deletes every object of `k` in `scope` matching `selector`.
async fn delete_matching(
    client: &Client,
    o: &Options,
    k: &Kind,
    scope: &Scope<'_>,
    selector: &str,
    verb: &str,
    say: &mut dyn FnMut(String),
) -> anyhow::Result<usize> {
    let list = match k
        .api(client, scope)
        .list(&ListParams::default().labels(selector))
        .await
    {
        Ok(list) => list,
        // A kind this cluster does not serve has nothing of weft's.
        Err(kube::Error::Api(e)) if e.code == 404 => return Ok(0),
        Err(e) => {
            return Err(e).with_context(|| format!("listing {} ({selector})", k.plural));
        }
    };
    // Foreground for Deployments: they are gone only once their pods are.
    let base = if k.kind == "Deployment" {
        DeleteParams::foreground()
    } else {
        DeleteParams::background()
    };
    let dp = DeleteParams {
        dry_run: o.dry_run,
        ..base
    };
    let mut n = 0;
    for obj in list.items {
        let name = obj.metadata.name.unwrap_or_default();
        let obj_ns = obj.metadata.namespace;
        let api = match &obj_ns {
            Some(ns) => k.api(client, &Scope::Namespace(ns)),
            None => k.api(client, &Scope::Cluster),
        };
        match api.delete(&name, &dp).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => continue,
            Err(e) => return Err(e).with_context(|| format!("deleting {} {name}", k.kind)),
        }
        let at = obj_ns.map(|ns| format!("{ns}/")).unwrap_or_default();
        say(format!("    {verb} {} {at}{name}", k.kind.to_lowercase()));
        n += 1;
    }
    Ok(n)
}

/// Waits until no control-plane pod of weft is left in `ns`.
async fn wait_for_pods_gone(
    client: &Client,
    ns: &str,
    timeout: Duration,
    say: &mut dyn FnMut(String),
) -> anyhow::Result<()> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let t0 = tokio::time::Instant::now();
    let lp = ListParams::default().labels("app.kubernetes.io/instance");
    loop {
        let left: Vec<String> = pods
            .list(&lp)
            .await
            .with_context(|| format!("listing pods in {ns}"))?
            .items
            .into_iter()
            .filter(|p| {
                p.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("app.kubernetes.io/name"))
                    .is_some_and(|n| n.starts_with("weft-"))
            })
            .filter_map(|p| p.metadata.name)
            .collect();
        if left.is_empty() {
            say(format!(
                "    control-plane pods stopped after {:.1?}",
                t0.elapsed()
            ));
            return Ok(());
        }
        anyhow::ensure!(
            t0.elapsed() < timeout,
            "control-plane pods still running after {timeout:?}: {left:?}; run `weft uninstall` again once they are gone"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Deletes the control-plane namespace unless pods other than weft's run
/// in it (then it says so and keeps it).
async fn delete_namespace_if_empty(
    client: &Client,
    o: &Options,
    ns: &str,
    verb: &str,
    say: &mut dyn FnMut(String),
) -> anyhow::Result<usize> {
    let nss: Api<Namespace> = Api::all(client.clone());
    if nss.get_opt(ns).await?.is_none() {
        say(format!("    {ns} does not exist"));
        return Ok(0);
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let others: Vec<String> = pods
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|p| {
            !p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("app.kubernetes.io/name"))
                .is_some_and(|n| n.starts_with("weft-"))
        })
        .filter_map(|p| p.metadata.name)
        .collect();
    if !others.is_empty() {
        say(format!("    kept {ns}: other pods run in it: {others:?}"));
        return Ok(0);
    }
    let dp = DeleteParams {
        dry_run: o.dry_run,
        ..DeleteParams::default()
    };
    nss.delete(ns, &dp)
        .await
        .with_context(|| format!("deleting namespace {ns}"))?;
    say(format!("    {verb} namespace {ns}"));
    Ok(1)
}

async fn delete_crds(
    client: &Client,
    o: &Options,
    verb: &str,
    say: &mut dyn FnMut(String),
) -> anyhow::Result<usize> {
    let api = CRD_KIND.api(client, &Scope::Cluster);
    let dp = DeleteParams {
        dry_run: o.dry_run,
        ..DeleteParams::default()
    };
    let mut n = 0;
    for name in CRDS {
        match api.delete(name, &dp).await {
            Ok(_) => {
                say(format!("    {verb} customresourcedefinition {name}"));
                n += 1;
            }
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e).with_context(|| format!("deleting CRD {name}")),
        }
    }
    Ok(n)
}
