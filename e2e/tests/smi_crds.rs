//! The generated SMI CRDs against the real API server: they apply, become
//! Established, and objects written in every layout the decoder accepts come
//! back unpruned and decode into the latest types; through the controller's
//! conversion webhook, every served version reads back in its own layout,
//! and an outage of the webhook stops only clients of older versions.
//!
//! The tests take turns ([`TURN`]): one of them stops the webhook.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::Value;
use weft_e2e::{client, eventually, eventually_within, release, repo_root, with_temp_ns};
use weft_k8s_api::{
    access::TrafficTarget,
    decode::{Lenient, from_dynamic},
    specs::{HTTPRouteGroup, TCPRoute, UDPRoute},
    split::TrafficSplit,
};

/// One test at a time: the outage test scales the controller to zero.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The version weft reads and stores a kind's objects at.
fn read_version(kind: &str) -> &'static str {
    match kind {
        "TrafficTarget" => weft_k8s_api::access::READ_VERSION,
        "TrafficSplit" => weft_k8s_api::split::READ_VERSION,
        _ => weft_k8s_api::specs::READ_VERSION,
    }
}

/// Applies the CRDs, installs weft, and waits until the controller has
/// pointed every CRD at its conversion webhook.
async fn apply_crds(client: &kube::Client) -> anyhow::Result<()> {
    apply_crd_files(client).await?;
    release::install()?;
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    eventually("every SMI CRD converts through weft-conversion", || {
        let api = api.clone();
        async move {
            for crd in weft_k8s_api::crds::all() {
                let live = api.get(crd.metadata.name.as_deref().unwrap()).await?;
                let service = live
                    .spec
                    .conversion
                    .and_then(|c| c.webhook)
                    .and_then(|w| w.client_config)
                    .and_then(|c| c.service)
                    .map(|s| s.name);
                if service.as_deref() != Some("weft-conversion") {
                    return Ok(None);
                }
            }
            Ok(Some(()))
        }
    })
    .await
}

async fn apply_crd_files(client: &kube::Client) -> anyhow::Result<()> {
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
    let _turn = TURN.lock().await;
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
            // Read back as the controller does: at the storage version.
            let group = written_version.split('/').next().unwrap();
            let latest = format!("{group}/{}", read_version(&kind));
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
    let _turn = TURN.lock().await;
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
            let read = format!("{group}/{}", read_version(&kind));
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

/// A kind's served versions, oldest first, as `group/version`.
fn served(kind: &str) -> Vec<String> {
    weft_k8s_api::convert::served(kind).unwrap_or_default()
}

/// How `obj`, read at `api_version`, departs from that version's layout.
fn layout_problems(kind: &str, api_version: &str, obj: &Value) -> Vec<String> {
    let n: u8 = api_version
        .rsplit_once("v1alpha")
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(0);
    let mut problems = Vec::new();
    let mut want = |ok: bool, what: &str| {
        if !ok {
            problems.push(what.to_string());
        }
    };
    let spec = obj.get("spec");
    match kind {
        "TrafficTarget" if n == 1 => {
            want(spec.is_none(), "v1alpha1 has no spec");
            want(obj.get("destination").is_some(), "top-level destination");
            want(obj.get("rules").is_none(), "rules are called specs");
        }
        "TrafficTarget" => {
            want(obj.get("destination").is_none(), "no top-level destination");
            want(
                spec.and_then(|s| s.get("specs")).is_none(),
                "specs are called rules",
            );
            if n <= 2 {
                let port = &obj["spec"]["destination"]["port"];
                want(port.is_null() || port.is_u64(), "an integer port");
            }
        }
        "HTTPRouteGroup" => {
            let matches = if n <= 2 {
                want(spec.is_none(), "no spec before v1alpha3");
                &obj["matches"]
            } else {
                want(obj.get("matches").is_none(), "matches under spec");
                &obj["spec"]["matches"]
            };
            for m in matches.as_array().into_iter().flatten() {
                let h = &m["headers"];
                if n == 4 {
                    want(h.is_null() || h.is_object(), "headers as a map");
                } else {
                    want(h.is_null() || h.is_array(), "headers as a list");
                }
            }
        }
        "TrafficSplit" => {
            for b in obj["spec"]["backends"].as_array().into_iter().flatten() {
                if n == 1 {
                    want(b["weight"].is_string(), "quantity weights");
                } else {
                    want(b["weight"].is_u64(), "integer weights");
                }
            }
        }
        _ => {}
    }
    problems
}

/// Ratios are what a split means: 500m/1 and 500/1000 send the same.
fn ratios(kind: &str, mut spec: Value) -> Value {
    if kind == "TrafficSplit"
        && let Some(backends) = spec["backends"].as_array_mut()
    {
        let ws: Vec<u64> = backends
            .iter()
            .map(|b| b["weight"].as_u64().unwrap_or(0))
            .collect();
        let gcd = ws.iter().fold(0, |a, b| num_gcd(a, *b)).max(1);
        for (b, w) in backends.iter_mut().zip(ws) {
            b["weight"] = Value::from(w / gcd);
        }
    }
    spec
}

fn num_gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { num_gcd(b, a % b) }
}

/// Each layout written at its version reads back at every other in that
/// version's layout, means the same there, and saves as read (what
/// `kubectl edit` does).
#[tokio::test]
async fn every_version_reads_back_in_its_own_layout() -> anyhow::Result<()> {
    let _turn = TURN.lock().await;
    let client = client().await?;
    apply_crds(&client).await?;
    let fixtures = repo_root().join("api/k8s/tests/fixtures/valid");
    with_temp_ns(&client, |client, ns| async move {
        let mut reads = 0;
        for (i, path) in fixture_paths(&fixtures)?.into_iter().enumerate() {
            let docs = fixture_docs(&path)?;
            let (mut obj, want) = (docs[0].clone(), docs[1].clone());
            let kind = obj["kind"].as_str().unwrap().to_string();
            let written = obj["apiVersion"].as_str().unwrap().to_string();
            let name = format!("layout-{i}");
            obj["metadata"]["namespace"] = Value::from(ns.clone());
            obj["metadata"]["name"] = Value::from(name.clone());
            if let Some(m) = obj["metadata"].as_object_mut() {
                m.remove("ownerReferences");
            }
            let at = path.display();
            api_for(&client, &ns, &written, &kind)
                .create(&PostParams::default(), &serde_json::from_value(obj)?)
                .await
                .map_err(|e| anyhow::anyhow!("{at}: create at {written}: {e}"))?;
            for v in served(&kind) {
                let api = api_for(&client, &ns, &v, &kind);
                let back = api
                    .get(&name)
                    .await
                    .map_err(|e| anyhow::anyhow!("{at}: read at {v}: {e}"))?;
                let value = serde_json::to_value(&back)?;
                let problems = layout_problems(&kind, &v, &value);
                anyhow::ensure!(
                    problems.is_empty(),
                    "{at} (written at {written}) read at {v}: {problems:?}\n{value:#}"
                );
                let got = decode_spec(&kind, &back)
                    .map_err(|e| anyhow::anyhow!("{at} read at {v}: {e}"))?;
                anyhow::ensure!(
                    ratios(&kind, got.clone()) == ratios(&kind, want.clone()),
                    "{at} read at {v} means {got}, written it meant {want}"
                );
                api.replace(&name, &PostParams::default(), &back)
                    .await
                    .map_err(|e| anyhow::anyhow!("{at}: saving as read at {v}: {e}"))?;
                reads += 1;
            }
        }
        eprintln!("{reads} reads, each in its version's layout and saved back");
        anyhow::ensure!(reads > 40, "only {reads} reads");
        Ok(())
    })
    .await
}

/// A split Flagger's `linkerd` provider wrote (v1alpha1, weights as
/// quantity strings) is edited with `kubectl edit` at the default version.
#[tokio::test]
async fn kubectl_edit_saves_a_split_flagger_wrote_at_v1alpha1() -> anyhow::Result<()> {
    let _turn = TURN.lock().await;
    let client = client().await?;
    apply_crds(&client).await?;
    with_temp_ns(&client, |client, ns| async move {
        let split: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "split.smi-spec.io/v1alpha1", "kind": "TrafficSplit",
            "metadata": {"name": "podinfo", "namespace": ns},
            "spec": {"service": "podinfo", "backends": [
                {"service": "podinfo-primary", "weight": "100"},
                {"service": "podinfo-canary", "weight": "0"}]}
        }))?;
        let v1 = api_for(&client, &ns, "split.smi-spec.io/v1alpha1", "TrafficSplit");
        v1.create(&PostParams::default(), &split).await?;
        // An editor that moves 10 % to the canary.
        let dir = std::env::temp_dir().join(format!("weft-e2e-editor-{ns}"));
        std::fs::create_dir_all(&dir)?;
        let editor = dir.join("edit");
        std::fs::write(
            &editor,
            "#!/bin/sh\nsed -i -e 's/weight: 100$/weight: 90/' -e 's/weight: 0$/weight: 10/' \"$1\"\n",
        )?;
        std::fs::set_permissions(
            &editor,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )?;
        let out = std::process::Command::new("kubectl")
            .args(["-n", &ns, "edit", "trafficsplit/podinfo"])
            .env("EDITOR", &editor)
            .output()?;
        std::fs::remove_dir_all(&dir)?;
        anyhow::ensure!(
            out.status.success(),
            "kubectl edit failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let back = serde_json::to_value(v1.get("podinfo").await?)?;
        let weights: Vec<&Value> = back["spec"]["backends"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|b| &b["weight"])
            .collect();
        anyhow::ensure!(
            weights == [&Value::from("90"), &Value::from("10")],
            "after kubectl edit, read at v1alpha1: {weights:?}"
        );
        Ok(())
    })
    .await
}

/// With the webhook down (its Service selecting no pod), everything that
/// reads at the storage version still works: a controller restarted then
/// lists every SMI kind and becomes Ready, `kubectl get` answers, a
/// namespace full of SMI objects is deleted. Only older versions fail.
/// (Scaling the controller to zero would also take down the metrics
/// APIService, which stalls namespace deletion on its own: see
/// `namespace_deletion.rs`.)
#[tokio::test]
async fn a_webhook_outage_stops_only_older_versions() -> anyhow::Result<()> {
    let _turn = TURN.lock().await;
    let client = client().await?;
    apply_crds(&client).await?;
    // Objects stored at an older version before an upgrade are moved.
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    eventually_within(
        "every CRD stores only its latest version",
        std::time::Duration::from_secs(120),
        std::time::Duration::from_secs(2),
        || {
            let crds = crds.clone();
            async move {
                for crd in weft_k8s_api::crds::all() {
                    let live = crds.get(crd.metadata.name.as_deref().unwrap()).await?;
                    let latest = &crd.spec.versions.last().unwrap().name;
                    let stored = live.status.and_then(|s| s.stored_versions);
                    if stored.as_deref() != Some(std::slice::from_ref(latest)) {
                        return Ok(None);
                    }
                }
                Ok(Some(()))
            }
        },
    )
    .await?;
    let ns = format!("weft-e2e-outage-{:06x}", rand::random::<u32>() & 0xff_ffff);
    let selector = |v: &str| format!(r#"{{"spec":{{"selector":{{"weft-e2e/outage":{v}}}}}}}"#);
    let outage = async {
        release::run("kubectl", &["create", "namespace", &ns])?;
        let split: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "split.smi-spec.io/v1alpha1", "kind": "TrafficSplit",
            "metadata": {"name": "s", "namespace": ns},
            "spec": {"service": "a", "backends": [{"service": "b", "weight": "1"}]}
        }))?;
        api_for(&client, &ns, "split.smi-spec.io/v1alpha1", "TrafficSplit")
            .create(&PostParams::default(), &split)
            .await?;
        release::run(
            "kubectl",
            &[
                "-n",
                "weft-system",
                "patch",
                "service",
                "weft-conversion",
                "--type=merge",
                "-p",
                &selector(r#""nothing""#),
            ],
        )?;
        // The API server keeps its connections to the webhook: restarting
        // the controller closes them, and the new pod is not selected. It
        // must list every SMI kind, at the storage version, to become Ready.
        release::run(
            "kubectl",
            &[
                "-n",
                "weft-system",
                "rollout",
                "restart",
                "deploy/weft-controller",
            ],
        )?;
        release::wait_control_plane()?;
        eprintln!("with the webhook down, a restarted controller synced and became Ready");
        let old = || async {
            api_for(&client, &ns, "split.smi-spec.io/v1alpha1", "TrafficSplit")
                .get("s")
                .await
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        let err = eventually("a v1alpha1 read fails naming the webhook", || async {
            let err = old().await;
            Ok(err.contains("conversion webhook").then_some(err))
        })
        .await?;
        eprintln!("with the webhook down, a read at v1alpha1 fails: {err}");
        let latest = format!("split.smi-spec.io/{}", read_version("TrafficSplit"));
        api_for(&client, &ns, &latest, "TrafficSplit")
            .get("s")
            .await
            .map_err(|e| anyhow::anyhow!("read at the storage version: {e}"))?;
        release::run("kubectl", &["get", "trafficsplits", "-A", "-o", "name"])?;
        release::run("kubectl", &["delete", "namespace", &ns, "--timeout=60s"])?;
        eprintln!("with the webhook down, namespace {ns} and its TrafficSplit are gone");
        anyhow::Ok(())
    }
    .await;
    let restore = release::run(
        "kubectl",
        &[
            "-n",
            "weft-system",
            "patch",
            "service",
            "weft-conversion",
            "--type=merge",
            "-p",
            &selector("null"),
        ],
    );
    if outage.is_err() {
        let _ = release::run("kubectl", &["delete", "namespace", &ns, "--wait=false"]);
    }
    outage?;
    restore?;
    // The next test writes at older versions again; a dry run converts too.
    let v1 = api_for(
        &client,
        "default",
        "split.smi-spec.io/v1alpha1",
        "TrafficSplit",
    );
    let probe: DynamicObject = serde_json::from_value(serde_json::json!({
        "apiVersion": "split.smi-spec.io/v1alpha1", "kind": "TrafficSplit",
        "metadata": {"name": "webhook-probe", "namespace": "default"},
        "spec": {"service": "a", "backends": [{"service": "b", "weight": "1"}]}
    }))?;
    let dry = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    eventually("the webhook answers again", || async {
        Ok(v1.create(&dry, &probe).await.ok().map(drop))
    })
    .await
}
