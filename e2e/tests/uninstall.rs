//! `weft uninstall` on the real cluster: with a meshed workload serving
//! steady traffic, it removes the webhook first, then everything else; the
//! running pods keep serving (not one request fails), a pod created
//! afterwards is not injected, and nothing of weft is left behind. The
//! test runs the CLI's own code (the library behind `weft uninstall`).

use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, ApiResource, DynamicObject, ListParams, PostParams};
use serde_json::json;
use weft_cli::uninstall::{self, CONTROLLER_MANAGED, CRDS, Options, PART_OF};
use weft_e2e::{
    client, eventually,
    pods::{
        mesh_namespace, no_request_failed, server_pod, service, start_client, still_running,
        wait_ready,
    },
    release::{install, uninstall as helm_uninstall},
    with_temp_ns,
};

/// Kinds the chart creates objects of, to prove none is left.
const LEFTOVER_KINDS: &[(&str, &str, &str, &str)] = &[
    (
        "admissionregistration.k8s.io",
        "v1",
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
    ),
    ("apiregistration.k8s.io", "v1", "APIService", "apiservices"),
    ("apps", "v1", "Deployment", "deployments"),
    ("", "v1", "Service", "services"),
    ("", "v1", "Secret", "secrets"),
    ("", "v1", "ConfigMap", "configmaps"),
    ("", "v1", "ServiceAccount", "serviceaccounts"),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
    ),
    // In the release namespace and kube-system (the metrics API's).
    ("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
    ),
];

async fn leftovers(client: &kube::Client) -> anyhow::Result<Vec<String>> {
    let mut left = Vec::new();
    for (group, version, kind, plural) in LEFTOVER_KINDS {
        let api_version = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        let ar = ApiResource {
            group: (*group).into(),
            version: (*version).into(),
            api_version,
            kind: (*kind).into(),
            plural: (*plural).into(),
        };
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
        for selector in [PART_OF, CONTROLLER_MANAGED] {
            for o in api
                .list(&ListParams::default().labels(selector))
                .await?
                .items
            {
                left.push(format!(
                    "{kind} {}/{}",
                    o.metadata.namespace.unwrap_or_default(),
                    o.metadata.name.unwrap_or_default()
                ));
            }
        }
    }
    Ok(left)
}

#[tokio::test]
async fn uninstall_removes_everything_and_breaks_no_running_workload() -> anyhow::Result<()> {
    let client = client().await?;
    install()?;
    let res = with_temp_ns(&client, |client, ns| async move {
        mesh_namespace(&client, &ns, &[], &["server", "client"]).await?;
        server_pod(&client, &ns, "server-0", "server", json!({"app": "server"})).await?;
        service(&client, &ns, "server", json!({"app": "server"})).await?;
        wait_ready(&client, &ns, &["server-0"]).await?;
        start_client(
            &client,
            &ns,
            "steady",
            "client",
            &["load", "http://server/", "900", "20"],
        )
        .await?;
        wait_ready(&client, &ns, &["steady"]).await?;

        // A dry run deletes nothing but names what would go, CRDs included.
        let mut said = Vec::new();
        let dry = Options {
            dry_run: true,
            crds: true,
            ..Options::default()
        };
        uninstall::run(&client, &dry, &mut |l| said.push(l)).await?;
        let said = said.join("\n");
        eprintln!("weft uninstall --dry-run --crds:\n{said}");
        assert!(
            said.contains("would delete mutatingwebhookconfiguration"),
            "{said}"
        );
        for crd in CRDS {
            assert!(
                said.contains(crd),
                "the dry run does not name {crd}:\n{said}"
            );
        }
        assert!(
            !leftovers(&client).await?.is_empty(),
            "a dry run deleted objects"
        );

        let t0 = tokio::time::Instant::now();
        let mut said = Vec::new();
        let n = uninstall::run(&client, &Options::default(), &mut |l| said.push(l)).await?;
        let said = said.join("\n");
        eprintln!("weft uninstall ({n} objects, {:?}):\n{said}", t0.elapsed());
        // The webhook went first.
        let first_delete = said
            .lines()
            .find(|l| l.contains("deleted"))
            .unwrap_or_default();
        assert!(
            first_delete.contains("mutatingwebhookconfiguration"),
            "{said}"
        );
        // Nothing of weft lives in a meshed namespace any more (earlier
        // releases kept a trust-anchor ConfigMap there; `weft uninstall`
        // still removes one it finds).
        assert!(
            !said.contains(&format!("configmap {ns}/")),
            "weft kept a ConfigMap in the meshed namespace:\n{said}"
        );

        // Deleted objects vanish once the garbage collector has run.
        let left = eventually("nothing of weft is left", || {
            let client = client.clone();
            async move {
                let left = leftovers(&client).await?;
                Ok(left.is_empty().then_some(()))
            }
        })
        .await;
        assert!(
            left.is_ok(),
            "weft uninstall left objects behind: {:#?}",
            leftovers(&client).await?
        );
        // The kept CRDs no longer name the webhook that left with the
        // controller: older SMI versions stay readable.
        assert!(said.contains("reset the conversion of"), "{said}");
        let crds: Api<DynamicObject> = Api::all_with(
            client.clone(),
            &ApiResource::from_gvk_with_plural(
                &kube::api::GroupVersionKind::gvk(
                    "apiextensions.k8s.io",
                    "v1",
                    "CustomResourceDefinition",
                ),
                "customresourcedefinitions",
            ),
        );
        for crd in CRDS {
            let live = crds.get(crd).await?;
            assert_eq!(
                live.data["spec"]["conversion"]["strategy"], "None",
                "{crd} still converts through a webhook that is gone"
            );
        }
        let nss: Api<Namespace> = Api::all(client.clone());
        eventually("the control-plane namespace is gone", || {
            let nss = nss.clone();
            async move { Ok(nss.get_opt("weft-system").await?.is_none().then_some(())) }
        })
        .await?;

        // A pod created now is not injected, although its namespace still
        // asks for injection.
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "after"},
            "spec": {"containers": [{"name": "app", "image": "weft/testapp:e2e",
                                     "imagePullPolicy": "Never", "args": ["sleep"]}]}
        }))?;
        let pod = pods.create(&PostParams::default(), &pod).await?;
        let containers = pod.spec.as_ref().map(|s| {
            s.init_containers
                .iter()
                .flatten()
                .chain(&s.containers)
                .map(|c| c.name.clone())
                .collect::<Vec<_>>()
        });
        assert_eq!(
            containers,
            Some(vec!["app".to_string()]),
            "a pod created after uninstall was injected"
        );

        // The meshed pods kept serving each other throughout.
        still_running(&client, &ns, "steady", "uninstall").await?;
        no_request_failed(&client, &ns, "steady", "the uninstall").await?;
        Ok(())
    })
    .await;
    // Whatever happened, leave no release for the next suite.
    helm_uninstall();
    res
}
