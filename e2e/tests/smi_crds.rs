//! The generated SMI CRDs against the real API server: they apply, become
//! Established, and objects written in every layout the decoder accepts come
//! back unpruned and decode into the latest types.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::Value;
use weft_e2e::{client, eventually, repo_root, with_temp_ns};
use weft_k8s_api::{
    access::TrafficTarget,
    decode::{Lenient, from_dynamic},
    specs::{HTTPRouteGroup, TCPRoute, UDPRoute},
    split::TrafficSplit,
};

async fn apply_crds(client: &kube::Client) -> anyhow::Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let dir = repo_root().join("charts/weft/crds");
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        let crd: CustomResourceDefinition = serde_yaml::from_str(&std::fs::read_to_string(&path)?)?;
        let name = crd.metadata.name.clone().unwrap();
        api.patch(
            &name,
            &PatchParams::apply("weft-e2e").force(),
            &Patch::Apply(&crd),
        )
        .await?;
        eventually(&format!("CRD {name} established"), || {
            let api = api.clone();
            let name = name.clone();
            async move {
                let crd = api.get(&name).await?;
                let ok = crd.status.and_then(|s| s.conditions).is_some_and(|c| {
                    c.iter()
                        .any(|c| c.type_ == "Established" && c.status == "True")
                });
                Ok(ok.then_some(()))
            }
        })
        .await?;
    }
    Ok(())
}

fn fixture_docs(path: &std::path::Path) -> anyhow::Result<Vec<Value>> {
    let text = std::fs::read_to_string(path)?;
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| Ok(serde_yaml::from_value(serde::Deserialize::deserialize(d)?)?))
        .collect()
}

/// The fixture files of a directory, in name order.
fn fixture_paths(dir: &std::path::Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let mut paths = std::fs::read_dir(dir)?
        .map(|e| Ok(e?.path()))
        .collect::<std::io::Result<Vec<_>>>()?;
    paths.sort();
    Ok(paths)
}

fn api_for(client: &kube::Client, ns: &str, api_version: &str, kind: &str) -> Api<DynamicObject> {
    let (group, version) = api_version.split_once('/').unwrap();
    let gvk = GroupVersionKind::gvk(group, version, kind);
    // Every SMI kind's plural is its lower-case name plus `s`.
    let ar = ApiResource::from_gvk_with_plural(&gvk, &format!("{}s", kind.to_lowercase()));
    Api::namespaced_with(client.clone(), ns, &ar)
}

fn decode_spec(kind: &str, obj: &DynamicObject) -> anyhow::Result<Value> {
    fn spec<K: Lenient + serde::Serialize>(obj: &DynamicObject) -> anyhow::Result<Value> {
        let k: K = from_dynamic(obj)?;
        Ok(serde_json::to_value(&k)?["spec"].clone())
    }
    match kind {
        "TrafficTarget" => spec::<TrafficTarget>(obj),
        "HTTPRouteGroup" => spec::<HTTPRouteGroup>(obj),
        "TCPRoute" => spec::<TCPRoute>(obj),
        "UDPRoute" => spec::<UDPRoute>(obj),
        "TrafficSplit" => spec::<TrafficSplit>(obj),
        other => anyhow::bail!("unknown kind {other}"),
    }
}

#[tokio::test]
async fn crds_apply_and_every_layout_round_trips() -> anyhow::Result<()> {
    let client = client().await?;
    apply_crds(&client).await?;
    let fixtures = repo_root().join("api/k8s/tests/fixtures/valid");
    with_temp_ns(&client, |client, ns| async move {
        let paths = fixture_paths(&fixtures)?;
        for (i, path) in paths.into_iter().enumerate() {
            let docs = fixture_docs(&path)?;
            let (mut obj, want) = (docs[0].clone(), docs[1].clone());
            let kind = obj["kind"].as_str().unwrap().to_string();
            let written_version = obj["apiVersion"].as_str().unwrap().to_string();
            obj["metadata"]["namespace"] = Value::from(ns.clone());
            // Fixtures of different versions may share a name.
            let unique = format!("{}-{i}", obj["metadata"]["name"].as_str().unwrap());
            obj["metadata"]["name"] = Value::from(unique);
            // Owner references would point at objects that do not exist here.
            obj["metadata"]
                .as_object_mut()
                .unwrap()
                .remove("ownerReferences");
            let dynobj: DynamicObject = serde_json::from_value(obj)?;
            let name = dynobj.metadata.name.clone().unwrap();
            api_for(&client, &ns, &written_version, &kind)
                .create(&PostParams::default(), &dynobj)
                .await
                .map_err(|e| anyhow::anyhow!("{}: create: {e}", path.display()))?;
            // Read back as the controller does: at the permissive version.
            let group = written_version.split('/').next().unwrap();
            let latest = format!("{group}/{}", weft_k8s_api::access::READ_VERSION);
            let back = api_for(&client, &ns, &latest, &kind).get(&name).await?;
            let got = decode_spec(&kind, &back)
                .map_err(|e| anyhow::anyhow!("{}: decode after round trip: {e}", path.display()))?;
            assert_eq!(
                got,
                want,
                "{} (written as {written_version})",
                path.display()
            );
        }
        Ok(())
    })
    .await
}

/// Every malformed fixture is either refused by the API server or stored
/// whole and refused by the decoder with the fixture's error: never pruned
/// into a valid object that grants what its author did not write (a
/// misspelt `pathRegex` pruned away would leave a wildcard match).
#[tokio::test]
async fn a_malformed_object_is_refused_never_pruned_into_a_valid_one() -> anyhow::Result<()> {
    let client = client().await?;
    apply_crds(&client).await?;
    let fixtures = repo_root().join("api/k8s/tests/fixtures/invalid");
    with_temp_ns(&client, |client, ns| async move {
        let paths = fixture_paths(&fixtures)?;
        let (mut refused, mut judged) = (0, 0);
        for (i, path) in paths.into_iter().enumerate() {
            let text = std::fs::read_to_string(&path)?;
            let want = text
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("# error: "))
                .ok_or_else(|| anyhow::anyhow!("{}: no `# error:` line", path.display()))?;
            let mut obj = fixture_docs(&path)?.remove(0);
            let kind = obj["kind"].as_str().unwrap().to_string();
            let version = obj["apiVersion"].as_str().unwrap().to_string();
            let name = format!("bad-{i}");
            obj["metadata"]["namespace"] = Value::from(ns.clone());
            obj["metadata"]["name"] = Value::from(name.clone());
            let dynobj: DynamicObject = serde_json::from_value(obj)?;
            if let Err(e) = api_for(&client, &ns, &version, &kind)
                .create(&PostParams::default(), &dynobj)
                .await
            {
                eprintln!("{}: refused by the API server: {e}", path.display());
                refused += 1;
                continue;
            }
            let group = version.split('/').next().unwrap();
            let read = format!("{group}/{}", weft_k8s_api::access::READ_VERSION);
            let back = api_for(&client, &ns, &read, &kind).get(&name).await?;
            let err = match decode_spec(&kind, &back) {
                Ok(spec) => anyhow::bail!(
                    "{}: stored and read back as a valid object: {spec}",
                    path.display()
                ),
                Err(e) => e.to_string(),
            };
            // The error names the object by its name here, not the fixture's.
            let (_, reason) = want.split_once(": ").unwrap_or(("", want));
            anyhow::ensure!(
                err.contains(reason),
                "{}: decoder said {err:?}, the fixture expects {want:?}",
                path.display()
            );
            judged += 1;
        }
        eprintln!(
            "{refused} refused by the API server, {judged} stored and refused by the decoder"
        );
        anyhow::ensure!(judged > 0, "no fixture reached the decoder");
        Ok(())
    })
    .await
}
