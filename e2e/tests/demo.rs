//! The demo as `make demo` runs it (`demo/up` after the chart): every
//! workload gets its proxy and becomes ready, and the front end's report
//! shows each SMI rule at work on the real cluster — `/items` allowed,
//! `/admin` refused with its reason, the split reaching both API versions,
//! the gRPC and TCP services answering through the mesh; and `weft
//! dashboard`, opened in headless Chromium, draws all of it (`dashboard`).

#[path = "demo/dashboard.rs"]
mod dashboard;

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
        let line = |prefix: &str| {
            report
                .lines()
                .find(|l| l.trim_start().starts_with(prefix))
                .unwrap_or_default()
                .to_string()
        };
        assert!(
            line("HTTP GET http://api/items").contains("-> 200 hello from api-v"),
            "{report}"
        );
        let admin = line("HTTP GET http://api/admin");
        assert!(
            admin.contains("-> 403") && admin.contains("route-not-matched"),
            "{report}"
        );
        let split = line("20 x GET");
        assert!(
            split.contains("api-v1:") && split.contains("api-v2:"),
            "both versions answer: {report}"
        );
        assert!(line("gRPC health").ends_with("SERVING"), "{report}");
        assert!(line("TCP").contains("echo from tcp-"), "{report}");
        dashboard::draws_the_demo()
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
    run(
        "kubectl",
        &[
            "-n",
            "weft-demo",
            "exec",
            "deploy/web",
            "-c",
            "app",
            "--",
            "/testapp",
            "get",
            "http://localhost:8080/",
        ],
    )
}
