//! Every fixture under `fixtures/valid` decodes into the latest layout given
//! as its second YAML document; every fixture under `fixtures/invalid` fails
//! with the error its first line states (`# error: <prefix of the message>`).

use kube::api::DynamicObject;
use serde_json::Value;
use std::path::{Path, PathBuf};
use weft_k8s_api::{
    access::TrafficTarget,
    decode::{self, DecodeError, Lenient},
    specs::{HTTPRouteGroup, TCPRoute, UDPRoute},
    split::TrafficSplit,
};

fn fixtures(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {}", dir.display());
    files
}

fn docs(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| {
            serde_yaml::from_value::<Value>(serde::Deserialize::deserialize(d).unwrap()).unwrap()
        })
        .collect()
}

/// Decodes by kind, both from the raw object and through a `DynamicObject`
/// (what the controller's watches hand over), and checks both agree.
fn decode_spec(kind: &str, obj: &Value) -> Result<Value, DecodeError> {
    fn both<K: Lenient + serde::Serialize + kube::Resource>(
        obj: &Value,
    ) -> Result<Value, DecodeError> {
        let direct = K::decode(obj)?;
        let dynamic: DynamicObject =
            serde_json::from_value(obj.clone()).expect("a Kubernetes object");
        let via = decode::from_dynamic::<K>(&dynamic)?;
        let a = serde_json::to_value(&direct).unwrap();
        assert_eq!(
            a,
            serde_json::to_value(&via).unwrap(),
            "direct and dynamic decoding differ"
        );
        Ok(a.get("spec").cloned().unwrap_or(Value::Null))
    }
    match kind {
        "TrafficTarget" => both::<TrafficTarget>(obj),
        "HTTPRouteGroup" => both::<HTTPRouteGroup>(obj),
        "TCPRoute" => both::<TCPRoute>(obj),
        "UDPRoute" => both::<UDPRoute>(obj),
        "TrafficSplit" => both::<TrafficSplit>(obj),
        other => panic!("fixture of unknown kind {other}"),
    }
}

#[test]
fn valid_layouts_decode_into_the_latest_types() {
    for path in fixtures("valid") {
        let d = docs(&path);
        assert_eq!(
            d.len(),
            2,
            "{}: expected the object and its decoded spec",
            path.display()
        );
        let kind = d[0]["kind"].as_str().unwrap();
        let got = decode_spec(kind, &d[0]).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(got, d[1], "{}", path.display());
    }
}

#[test]
fn invalid_objects_give_errors_naming_the_field() {
    for path in fixtures("invalid") {
        let text = std::fs::read_to_string(&path).unwrap();
        let want = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# error: "))
            .unwrap_or_else(|| panic!("{}: first line must be `# error: …`", path.display()));
        let name = path.file_name().unwrap().to_str().unwrap();
        let kind = match name.split('-').next().unwrap() {
            "tt" => "TrafficTarget",
            "htr" => "HTTPRouteGroup",
            "tr" => "TCPRoute",
            "ur" => "UDPRoute",
            "ts" => "TrafficSplit",
            p => panic!("{name}: unknown prefix {p}"),
        };
        let obj = &docs(&path)[0];
        let err = match kind {
            "TrafficTarget" => TrafficTarget::decode(obj).map(drop),
            "HTTPRouteGroup" => HTTPRouteGroup::decode(obj).map(drop),
            "TCPRoute" => TCPRoute::decode(obj).map(drop),
            "UDPRoute" => UDPRoute::decode(obj).map(drop),
            _ => TrafficSplit::decode(obj).map(drop),
        }
        .expect_err(name)
        .to_string();
        assert!(
            err.starts_with(want),
            "{name}:\n  got:  {err}\n  want: {want}"
        );
    }
}

#[test]
fn a_ratio_survives_quantity_normalisation() {
    let obj: Value = serde_json::json!({
        "apiVersion": "split.smi-spec.io/v1alpha1", "kind": "TrafficSplit",
        "metadata": {"name": "s", "namespace": "n"},
        "spec": {"service": "a", "backends": [
            {"service": "b", "weight": "750m"}, {"service": "c", "weight": "250m"}]}
    });
    let ts = TrafficSplit::decode(&obj).unwrap();
    let w: Vec<u32> = ts.spec.backends.iter().map(|b| b.weight).collect();
    assert_eq!(w, vec![750, 250]);
}

/// The fixtures taken from the SMI specification (`valid/spec-*.yaml`) say
/// on their first line which smi-spec file and commit they come from, and
/// the inventory (`fixtures/README.md`) lists each of them and names no
/// fixture that does not exist.
#[test]
fn spec_examples_are_traced_and_inventoried() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let readme = std::fs::read_to_string(dir.join("README.md")).expect("fixtures/README.md");
    // Every `name.yaml` the inventory quotes.
    let listed: std::collections::BTreeSet<&str> = readme
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| {
            s.ends_with(".yaml")
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-.".contains(c))
        })
        .collect();
    let mut spec_fixtures = 0;
    for path in fixtures("valid") {
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if !name.starts_with("spec-") {
            continue;
        }
        spec_fixtures += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        let first = text.lines().next().unwrap_or_default();
        let source = first.strip_prefix("# smi-spec ").unwrap_or_else(|| {
            panic!("{name}: the first line must be `# smi-spec <file> @<commit>: <example>`")
        });
        let (file, rest) = source
            .split_once(" @")
            .unwrap_or_else(|| panic!("{name}: no ` @<commit>` after the file"));
        assert!(file.ends_with(".md"), "{name}: {file} is not a spec file");
        let commit = rest.split(':').next().unwrap();
        assert!(
            commit.len() >= 7 && commit.chars().all(|c| c.is_ascii_hexdigit()),
            "{name}: {commit:?} is not a commit"
        );
        assert!(
            listed.contains(name.as_str()),
            "{name}: not in the inventory (fixtures/README.md)"
        );
    }
    assert!(spec_fixtures > 0, "no spec-*.yaml fixtures");
    for name in &listed {
        assert!(
            dir.join("valid").join(name).exists() || dir.join("invalid").join(name).exists(),
            "README.md lists {name}, which does not exist"
        );
    }
}
