//! `weft inject` on a multi-document manifest, through the real binary.

use std::io::Write as _;
use std::process::{Command, Stdio};

const MANIFEST: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: app, image: shop/web:1}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: report, namespace: shop}
spec:
  schedule: "@daily"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: report, image: shop/report:1}]
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: debug, namespace: shop, annotations: {weft.io/inject: disabled}}
  spec:
    containers: [{name: sh, image: busybox}]
- apiVersion: v1
  kind: Service
  metadata: {name: web, namespace: shop}
  spec: {ports: [{port: 80}]}
"#;

/// Runs `weft inject` on `input` from stdin, with a bundle of trust
/// anchors from a file (no cluster needed).
fn run_inject(input: &[u8]) -> std::process::Output {
    let anchors =
        std::env::temp_dir().join(format!("weft-inject-anchors-{}.pem", std::process::id()));
    std::fs::write(
        &anchors,
        "-----BEGIN CERTIFICATE-----\nTUVTSA==\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_weft"))
        .arg("inject")
        .arg("--trust-anchors")
        .arg(&anchors)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn weft_inject(input: &str) -> (String, String) {
    let out = run_inject(input.as_bytes());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn docs(s: &str) -> Vec<serde_json::Value> {
    serde_yaml::Deserializer::from_str(s)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect()
}

#[test]
fn injects_templates_skips_what_it_should_and_is_idempotent() {
    let (once, report) = weft_inject(MANIFEST);
    let d = docs(&once);
    assert_eq!(d.len(), 4);
    assert_eq!(d[0]["kind"], "Namespace");
    assert!(d[0].get("spec").is_none(), "other kinds untouched");
    let inits = |t: &serde_json::Value| -> Vec<String> {
        t["spec"]["initContainers"]
            .as_array()
            .map(|l| {
                l.iter()
                    .map(|c| c["name"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(
        inits(&d[1]["spec"]["template"]),
        vec!["weft-init", "weft-proxy"]
    );
    assert_eq!(
        inits(&d[2]["spec"]["jobTemplate"]["spec"]["template"]),
        vec!["weft-init", "weft-proxy"]
    );
    assert!(
        inits(&d[3]["items"][0]).is_empty(),
        "a pod saying disabled stays as it is"
    );
    assert!(report.contains("Pod shop/debug not injected"), "{report}");
    assert!(
        report.contains("✔ Deployment shop/web injected"),
        "{report}"
    );

    let (twice, _) = weft_inject(&once);
    assert_eq!(docs(&twice), d, "injecting twice equals injecting once");
}

#[test]
fn garbage_input_fails_with_a_message() {
    let out = run_inject(b"kind: [unclosed");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("document 0"));
}
