//! The Gateway API mesh conformance suite (kubernetes-sigs/gateway-api
//! `conformance`, profiles MESH-HTTP and MESH-GRPC), built from its Go
//! module and run as its authors wrote it by `e2e/gateway/run`, against
//! weft installed from the chart: every test the suite selects must pass,
//! and the report must say so for both profiles.

use anyhow::Context as _;
use serde::Deserialize;
use weft_e2e::{
    gateway,
    release::{install, run, uninstall},
    repo_root,
};

#[derive(Deserialize)]
struct Report {
    #[serde(rename = "gatewayAPIVersion")]
    version: String,
    profiles: Vec<Profile>,
}

#[derive(Deserialize)]
struct Profile {
    name: String,
    core: Part,
    extended: Option<Part>,
}

#[derive(Deserialize)]
struct Part {
    result: String,
    statistics: Statistics,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Statistics {
    passed: u32,
    failed: u32,
    skipped: u32,
}

#[test]
fn the_gateway_api_mesh_conformance_suite_passes() -> anyhow::Result<()> {
    let suite = gateway::build()?;
    install()?;
    let res = run_suite(&suite);
    uninstall();
    res
}

fn run_suite(suite: &gateway::Suite) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("weft-gateway-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let report_path = dir.join("mesh-report.yaml");
    let script = repo_root().join("e2e/gateway/run");
    let report = report_path.to_str().context("report path")?;
    // Exits non-zero when any selected test fails, naming them.
    let out = run(script.to_str().context("script path")?, &[report])?;
    eprintln!("{out}");
    let text = std::fs::read_to_string(&report_path)
        .with_context(|| format!("reading {}", report_path.display()))?;
    let report: Report = serde_yaml::from_str(&text).context("parsing the report")?;
    anyhow::ensure!(
        report.version == suite.version,
        "the report is for {}, the suite built is {}",
        report.version,
        suite.version
    );
    for name in ["MESH-HTTP", "MESH-GRPC"] {
        let p = report
            .profiles
            .iter()
            .find(|p| p.name == name)
            .with_context(|| format!("no {name} profile in the report:\n{text}"))?;
        for (part, r) in
            std::iter::once(("core", &p.core)).chain(p.extended.iter().map(|e| ("extended", e)))
        {
            let s = &r.statistics;
            eprintln!(
                "{name} {part}: {} ({} passed, {} failed, {} skipped)",
                r.result, s.passed, s.failed, s.skipped
            );
            anyhow::ensure!(
                r.result == "success" && s.failed == 0 && s.skipped == 0 && s.passed > 0,
                "{name} {part} is {}:\n{text}",
                r.result
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
