//! The parts of the CLI that read the cluster (thin: the logic they feed is
//! pure and tested on its own).

use crate::explain::{self, Question};
use anyhow::Context as _;
use k8s_openapi::api::apps::v1::Deployment;
use kube::{Api, Client};
use weft_api::policy::DefaultPolicy;
use weft_controller::index::{Config, Index};
use weft_tls::TrustDomain;

#[derive(Clone, Debug)]
pub struct Settings {
    /// `allow`/`deny`, or `None` to read the controller's own setting.
    pub default_policy: Option<String>,
    pub control_plane_namespace: String,
    pub trust_domain: String,
    pub cluster_domain: String,
}

/// Answers `q` from the cluster the kubeconfig points at, with notes about
/// anything the answer had to assume.
pub async fn explain(s: &Settings, q: &Question) -> anyhow::Result<String> {
    let client = Client::try_default()
        .await
        .context("connecting to the cluster (kubeconfig or in-cluster config)")?;
    explain_with(&client, s, q).await
}

/// [`explain`] with a client already made.
pub async fn explain_with(client: &Client, s: &Settings, q: &Question) -> anyhow::Result<String> {
    explain_in(client, load(client, s).await?, q).await
}

/// [`explain`] over an index already loaded (the Gateway API routes are
/// read here, since only explain needs them).
pub async fn explain_in(client: &Client, loaded: Loaded, q: &Question) -> anyhow::Result<String> {
    let Loaded {
        mut index,
        trust_domain: td,
        mut notes,
    } = loaded;
    let parents = crate::gateway::load(client, &mut index, &mut notes).await;
    let e = explain::explain(&mut index, &td, q, &parents)?;
    let mut out = explain::render(q, &e);
    for n in notes {
        out.push_str(&format!("  note: {n}\n"));
    }
    Ok(out)
}

/// The controller's index, built from the cluster as the controller would
/// see it now.
pub struct Loaded {
    pub index: Index,
    pub trust_domain: TrustDomain,
    /// What had to be assumed or skipped.
    pub notes: Vec<String>,
}

pub async fn load(client: &Client, s: &Settings) -> anyhow::Result<Loaded> {
    let td: TrustDomain = s
        .trust_domain
        .parse()
        .with_context(|| format!("trust domain {:?}", s.trust_domain))?;
    let mut notes = Vec::new();
    let policy = match &s.default_policy {
        Some(p) => p.clone(),
        None => match controller_default_policy(client, &s.control_plane_namespace).await {
            Some(p) => p,
            None => {
                notes.push(format!(
                    "the controller's --default-policy could not be read from {}/weft-controller; assumed allow (pass --default-policy)",
                    s.control_plane_namespace
                ));
                "allow".into()
            }
        },
    };
    let mut cfg = Config::new(td.clone());
    cfg.cluster_domain = s.cluster_domain.clone();
    cfg.default_policy = if policy == "deny" {
        DefaultPolicy::Deny
    } else {
        DefaultPolicy::Allow
    };
    let mut index = Index::new(cfg);
    notes.extend(
        weft_controller::snapshot::load(client, &mut index)
            .await
            .context("reading the cluster")?,
    );
    Ok(Loaded {
        index,
        trust_domain: td,
        notes,
    })
}

/// The `--default-policy` in the controller Deployment's arguments.
async fn controller_default_policy(client: &Client, namespace: &str) -> Option<String> {
    let d = Api::<Deployment>::namespaced(client.clone(), namespace)
        .get("weft-controller")
        .await
        .ok()?;
    let args: Vec<String> = d
        .spec?
        .template
        .spec?
        .containers
        .into_iter()
        .flat_map(|c| c.args.unwrap_or_default())
        .collect();
    args.iter().enumerate().find_map(|(i, a)| {
        a.strip_prefix("--default-policy=")
            .map(str::to_string)
            .or_else(|| {
                (a == "--default-policy")
                    .then(|| args.get(i + 1).cloned())
                    .flatten()
            })
    })
}
