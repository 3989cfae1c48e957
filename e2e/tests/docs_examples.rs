//! Every YAML block in the README and `docs/` applies to the real API
//! server (`--dry-run=server`, into a scratch namespace), and every SMI
//! object among them decodes. A block that is only part of an object says
//! so in an HTML comment on the line before it, `<!-- fragment of a Pod -->`,
//! and is merged into a minimal Pod first; a block meant to be refused says
//! `<!-- refused: <part of the error> -->`.

use serde_json::{Value, json};
use std::path::Path;
use weft_e2e::{
    client, flagger, gateway,
    release::{apply_crds, install, run},
    repo_root, with_temp_ns,
};
use weft_k8s_api::{
    access::TrafficTarget,
    decode::Lenient,
    specs::{HTTPRouteGroup, TCPRoute, UDPRoute},
    split::TrafficSplit,
};

/// One fenced `yaml` block: where it is, its marker comment, its text.
struct Block {
    at: String,
    marker: Option<String>,
    text: String,
}

fn blocks(path: &Path) -> anyhow::Result<Vec<Block>> {
    let text = std::fs::read_to_string(path)?;
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let fence = lines[i].trim_start();
        if fence == "```yaml" {
            let indent = lines[i].len() - fence.len();
            let marker = i
                .checked_sub(1)
                .and_then(|p| lines[p].trim().strip_prefix("<!--"))
                .and_then(|m| m.strip_suffix("-->"))
                .map(|m| m.trim().to_string());
            let start = i + 1;
            let mut end = start;
            while end < lines.len() && lines[end].trim_start() != "```" {
                end += 1;
            }
            let body: Vec<&str> = lines[start..end]
                .iter()
                .map(|l| l.get(indent..).unwrap_or(l.trim_start()))
                .collect();
            out.push(Block {
                at: format!("{}:{}", path.display(), i + 1),
                marker,
                text: body.join("\n"),
            });
            i = end;
        }
        i += 1;
    }
    Ok(out)
}

fn decodes(obj: &Value) -> Result<(), String> {
    let r = match obj["kind"].as_str().unwrap_or_default() {
        "TrafficTarget" => TrafficTarget::decode(obj).map(drop),
        "HTTPRouteGroup" => HTTPRouteGroup::decode(obj).map(drop),
        "TCPRoute" => TCPRoute::decode(obj).map(drop),
        "UDPRoute" => UDPRoute::decode(obj).map(drop),
        "TrafficSplit" => TrafficSplit::decode(obj).map(drop),
        _ => Ok(()),
    };
    r.map_err(|e| e.to_string())
}

fn merge(base: &mut Value, part: &Value) {
    match (base, part) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, p) => *b = p.clone(),
    }
}

#[tokio::test]
async fn every_yaml_block_in_the_docs_applies() -> anyhow::Result<()> {
    let client = client().await?;
    let root = repo_root();
    let mut files = vec![root.join("README.md")];
    for e in std::fs::read_dir(root.join("docs"))? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "md") {
            files.push(p);
        }
    }
    files.sort();
    let mut all = Vec::new();
    for f in &files {
        all.extend(blocks(f)?);
    }
    anyhow::ensure!(
        !all.is_empty(),
        "no yaml blocks found: is the extraction broken?"
    );
    // The SMI kinds the examples use, and Flagger's (docs/flagger.md).
    // Examples at older SMI versions are converted to the storage version
    // by weft-controller's webhook, so weft runs.
    apply_crds()?;
    install()?;
    flagger::apply_crds(&flagger::tools()?)?;
    gateway::apply_crds(&gateway::build()?)?;
    with_temp_ns(&client, |_client, ns| async move {
        let dir = std::env::temp_dir().join(format!("weft-docs-{ns}"));
        std::fs::create_dir_all(&dir)?;
        for (n, b) in all.iter().enumerate() {
            let docs: Vec<Value> = serde_yaml::Deserializer::from_str(&b.text)
                .map(|d| Ok(serde_yaml::from_value(serde::Deserialize::deserialize(d)?)?))
                .collect::<anyhow::Result<_>>()
                .map_err(|e| anyhow::anyhow!("{}: not YAML: {e}", b.at))?;
            let refused = b
                .marker
                .as_deref()
                .and_then(|m| m.strip_prefix("refused:"))
                .map(str::trim);
            for (m, mut obj) in docs.into_iter().enumerate() {
                if b.marker.as_deref() == Some("fragment of a Pod") {
                    let mut pod = json!({
                        "apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": format!("docs-{n}")},
                        "spec": {"containers": [{"name": "app", "image": "weft/testapp:e2e"}]}
                    });
                    merge(&mut pod, &obj);
                    obj = pod;
                }
                anyhow::ensure!(
                    obj.get("apiVersion").is_some() && obj.get("kind").is_some(),
                    "{}: a block without apiVersion and kind needs a <!-- fragment of a Pod --> marker",
                    b.at
                );
                obj["metadata"]["namespace"] = Value::from(ns.clone());
                let decoded = decodes(&obj);
                let file = dir.join(format!("{n}-{m}.json"));
                std::fs::write(&file, serde_json::to_vec(&obj)?)?;
                let applied = run(
                    "kubectl",
                    &["apply", "--dry-run=server", "-f", file.to_str().unwrap()],
                );
                match (refused, applied.as_ref().map_err(|e| e.to_string()).and(decoded)) {
                    (None, Ok(())) => eprintln!("{}: applies", b.at),
                    (None, Err(e)) => anyhow::bail!("{}: {e}", b.at),
                    (Some(want), Err(e)) if e.contains(want) => {
                        eprintln!("{}: refused as documented", b.at);
                    }
                    (Some(want), got) => {
                        anyhow::bail!("{}: documented as refused ({want}), got {got:?}", b.at)
                    }
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    })
    .await
}
