//! The demo as `make demo` runs it (`demo/up` after the chart): every
//! workload gets its proxy and becomes ready, and the front end's report
//! shows each SMI rule at work on the real cluster — `/items` allowed,
//! `/admin` refused with its reason, the split reaching both API versions,
//! the gRPC and TCP services answering through the mesh; and `weft
//! dashboard`, opened in headless Chromium, draws all of it (`dashboard`);
//! and `weft policy suggest`'s policy, applied under `default-policy: deny`
//! in place of the demo's own, keeps every allowed call working and refuses
//! the rest (`suggest`).

#[path = "demo/dashboard.rs"]
mod dashboard;
#[path = "demo/suggest.rs"]
mod suggest;

use weft_e2e::{
    release::{install, run, uninstall},
    repo_root,
};

#[test]
fn the_demo_comes_up_and_its_policies_hold() -> anyhow::Result<()> {
    // A demo left by an earlier `make demo` may hold pods created while weft
    // was uninstalled: start from nothing so the test sees what a newcomer
    // sees.
    run(
        "kubectl",
        &[
            "delete",
            "namespace",
            "weft-demo",
            "--ignore-not-found",
            "--wait=true",
            "--timeout=120s",
        ],
    )?;
    install()?;
    let res = (|| -> anyhow::Result<()> {
        let up = repo_root().join("demo/up");
        let out = run(up.to_str().unwrap(), &[])?;
        eprintln!("{out}");
        let report = report()?;
        eprintln!("{report}");
        let wrong = report_wrong(&report);
        anyhow::ensure!(wrong.is_empty(), "the report {wrong:?}:\n{report}");
        dashboard::draws_the_demo()?;
        suggest::keeps_the_demo_working_under_deny()
    })();
    let _ = run(
        "kubectl",
        &["delete", "namespace", "weft-demo", "--wait=false"],
    );
    uninstall();
    res
}

/// The front end's report: it calls each backend the way the demo's policy
/// expects, and says what each call got.
fn report() -> anyhow::Result<String> {
    testapp_get("web", "http://localhost:8080/")
}

/// `testapp get url` in the app container of Deployment `deploy` of the
/// demo: its output, or an error with what it printed.
fn testapp_get(deploy: &str, url: &str) -> anyhow::Result<String> {
    let deploy = format!("deploy/{deploy}");
    run(
        "kubectl",
        &[
            "-n",
            "weft-demo",
            "exec",
            &deploy,
            "-c",
            "app",
            "--",
            "/testapp",
            "get",
            url,
        ],
    )
}

/// What the report shows that the demo's policy does not allow for: each
/// call's expectation it fails, in words (empty when all hold).
fn report_wrong(report: &str) -> Vec<String> {
    let line = |prefix: &str| {
        report
            .lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .unwrap_or_default()
            .to_string()
    };
    let mut wrong = Vec::new();
    let mut expect = |ok: bool, what: &str| {
        if !ok {
            wrong.push(what.to_string());
        }
    };
    expect(
        line("HTTP GET http://api/items").contains("-> 200 hello from api-v"),
        "GET /items is not answered by the API",
    );
    let admin = line("HTTP GET http://api/admin");
    expect(
        admin.contains("-> 403") && admin.contains("route-not-matched"),
        "GET /admin is not refused as route-not-matched",
    );
    let split = line("20 x GET");
    expect(
        split.contains("api-v1:") && split.contains("api-v2:"),
        "the split does not reach both versions",
    );
    expect(
        line("gRPC health").ends_with("SERVING"),
        "gRPC health is not SERVING",
    );
    expect(line("TCP").contains("echo from tcp-"), "TCP does not echo");
    wrong
}
