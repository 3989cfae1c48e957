//! The conversion webhook's function over every fixture: at every served
//! version an object means what it meant as written (or is refused as it
//! was), converting twice to a version changes nothing more, and every
//! version's layout comes back.

use serde_json::Value;
use std::path::{Path, PathBuf};
use weft_k8s_api::{
    access::TrafficTarget,
    convert::convert,
    decode::Lenient,
    specs::{HTTPRouteGroup, TCPRoute, UDPRoute},
    split::TrafficSplit,
};

fn fixture_objects() -> Vec<(PathBuf, Value)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out = Vec::new();
    for dir in ["valid", "invalid"] {
        let mut paths: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        paths.sort();
        for p in paths {
            let text = std::fs::read_to_string(&p).unwrap();
            let first = serde_yaml::Deserializer::from_str(&text).next().unwrap();
            let obj: Value =
                serde_yaml::from_value(serde::Deserialize::deserialize(first).unwrap()).unwrap();
            out.push((p, obj));
        }
    }
    assert!(out.len() > 20, "fixtures not found");
    out
}

/// What the controller reads from an object: its decoded spec, or why it
/// is refused (the Event users see).
fn meaning(obj: &Value) -> Result<Value, String> {
    fn spec<K: Lenient + serde::Serialize>(obj: &Value) -> Result<Value, String> {
        let k = K::decode(obj).map_err(|e| e.to_string())?;
        Ok(serde_json::to_value(k).unwrap()["spec"].clone())
    }
    match obj["kind"].as_str().unwrap_or_default() {
        "TrafficTarget" => spec::<TrafficTarget>(obj),
        "HTTPRouteGroup" => spec::<HTTPRouteGroup>(obj),
        "TCPRoute" => spec::<TCPRoute>(obj),
        "UDPRoute" => spec::<UDPRoute>(obj),
        "TrafficSplit" => spec::<TrafficSplit>(obj),
        other => Err(format!("unknown kind {other}")),
    }
}

fn served(kind: &str) -> Vec<String> {
    weft_k8s_api::convert::served(kind).expect("a kind weft serves")
}

/// Ratios, not raw weights, are what a split means: `500m`/`1` and
/// 500/1000 send the same traffic.
fn normalised(kind: &str, meaning: Result<Value, String>) -> Result<Value, String> {
    let mut m = meaning?;
    if kind == "TrafficSplit"
        && let Some(backends) = m["backends"].as_array_mut()
    {
        let ws: Vec<u64> = backends
            .iter()
            .map(|b| b["weight"].as_u64().unwrap())
            .collect();
        let g = ws.iter().copied().fold(0, gcd).max(1);
        for (b, w) in backends.iter_mut().zip(ws) {
            b["weight"] = Value::from(w / g);
        }
    }
    Ok(m)
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[test]
fn every_fixture_means_the_same_at_every_version() {
    for (path, obj) in fixture_objects() {
        let kind = obj["kind"].as_str().unwrap().to_string();
        let want = normalised(&kind, meaning(&obj));
        for v in served(&kind) {
            let at = convert(&obj, &v).unwrap_or_else(|e| panic!("{}: {v}: {e}", path.display()));
            assert_eq!(at["apiVersion"], v.as_str());
            assert_eq!(
                normalised(&kind, meaning(&at)),
                want,
                "{} at {v}:\n{at:#}",
                path.display()
            );
            assert_eq!(at["metadata"], obj["metadata"], "{}", path.display());
            let again = convert(&at, &v).unwrap();
            assert_eq!(again, at, "{}: converting twice to {v}", path.display());
            // Through every other version and back.
            for w in served(&kind) {
                let back = convert(&convert(&at, &w).unwrap(), &v).unwrap();
                assert_eq!(
                    normalised(&kind, meaning(&back)),
                    want,
                    "{}: {v} → {w} → {v}",
                    path.display()
                );
            }
        }
    }
}
