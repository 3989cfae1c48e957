//! `weft dashboard` against the running demo, looked at in headless
//! Chromium: the page a user opens draws the demo's workloads, the edges
//! the report's traffic made with their policy state, the `/admin`
//! refusal with its reason and the split's configured and observed shares.
//! Screenshots and the rendered DOM stay under
//! `$CARGO_TARGET_DIR/e2e-artifacts/`.

use anyhow::Context as _;
use serde_json::Value;
use std::{sync::Arc, time::Duration};
use tokio::time::Instant;
use weft_api::contract::control_plane as cp;
use weft_cli::{cluster::Settings, dashboard};
use weft_e2e::{
    browser::{Chromium, artifacts_dir},
    local::http_get,
};

const NS: &str = "weft-demo";
/// The proxies are scraped and TrafficMetrics windowed (30 s) before an
/// edge shows; the report's traffic is made again before each look.
const SETTLE: Duration = Duration::from_secs(150);
/// Virtual time Chromium gives the page: its first refresh and a redraw.
const PAGE_BUDGET: Duration = Duration::from_secs(8);

fn id(name: &str) -> String {
    format!("{NS}/deployment/{name}")
}

/// Makes the demo's traffic again (the front end's report) before each look.
pub fn draws_the_demo() -> anyhow::Result<()> {
    let chromium = Chromium::find()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let port = rt.block_on(start())?;

    let graph_path = format!("/api/graph?namespaces={NS}");
    let t0 = Instant::now();
    let graph = loop {
        super::report()?;
        let (status, body) = rt.block_on(http_get(port, &graph_path))?;
        let missing = if status == 200 {
            missing(&serde_json::from_str(&body).context("the graph's JSON")?)
        } else {
            vec![format!("status {status}")]
        };
        if missing.is_empty() {
            break body;
        }
        anyhow::ensure!(
            t0.elapsed() < SETTLE,
            "after {SETTLE:?} the dashboard's graph still lacks {missing:?}: {body}"
        );
        eprintln!("dashboard: waiting for {missing:?}");
        std::thread::sleep(Duration::from_secs(3));
    };
    eprintln!("dashboard: the graph has the demo after {:?}", t0.elapsed());

    let dir = artifacts_dir()?;
    std::fs::write(dir.join("dashboard-graph.json"), &graph)?;
    super::report()?;
    let url = format!(
        "http://127.0.0.1:{port}/?namespaces={NS}&workload={}",
        id("web")
    );
    let dom = chromium.dump_dom(&url, PAGE_BUDGET)?;
    let dom_path = dir.join("dashboard.html");
    std::fs::write(&dom_path, &dom)?;
    chromium.screenshot(&url, PAGE_BUDGET, (1400, 900), &dir.join("dashboard.png"))?;
    chromium.screenshot(
        &url,
        PAGE_BUDGET,
        (420, 1600),
        &dir.join("dashboard-narrow.png"),
    )?;
    let wrong = rendered_wrong(&dom);
    anyhow::ensure!(
        wrong.is_empty(),
        "the page Chromium rendered {wrong:?} (DOM in {}, graph beside it)",
        dom_path.display()
    );

    // The workload page's question, as its form asks it.
    let q = format!(
        "/api/explain?workload={}&from={NS}%2Fweb&port=8080&method=GET&path=%2Fadmin",
        id("api-v1").replace('/', "%2F")
    );
    let (status, text) = rt.block_on(http_get(port, &q))?;
    anyhow::ensure!(
        status == 200 && text.contains("DENY") && text.contains("route-not-matched"),
        "explain GET /admin from web to api-v1: {status} {text}"
    );
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

/// Serves the dashboard in-process on a free loopback port, as `weft
/// dashboard --port 0 --no-browser` would; its port.
async fn start() -> anyhow::Result<u16> {
    let client = weft_e2e::client().await?;
    let source = Arc::new(dashboard::load::Cluster {
        client,
        settings: Settings {
            default_policy: None,
            control_plane_namespace: cp::NAMESPACE.into(),
            trust_domain: cp::DEFAULT_TRUST_DOMAIN.into(),
            cluster_domain: cp::DEFAULT_CLUSTER_DOMAIN.into(),
        },
    });
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let served = dashboard::run(source, addr, move |url| {
            let _ = tx.send(url.to_string());
        })
        .await;
        if let Err(e) = served {
            eprintln!("the dashboard stopped: {e:#}");
        }
    });
    let url = rx.await.context("the dashboard never listened")?;
    eprintln!("dashboard at {url}");
    url.trim_end_matches('/')
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .with_context(|| format!("no port in {url}"))
}

/// What the graph's JSON does not show yet of the demo's traffic.
fn missing(g: &Value) -> Vec<String> {
    let empty = Vec::new();
    let edges = g["edges"].as_array().unwrap_or(&empty);
    let mut out = Vec::new();
    for to in ["api-v1", "api-v2", "grpc", "tcp"] {
        let edge = edges
            .iter()
            .find(|e| e["from"] == id("web") && e["to"] == id(to));
        match edge.map(|e| &e["state"]) {
            Some(s) if s == "allowed-used" => {}
            Some(s) => out.push(format!("web → {to} is {s}, not allowed-used")),
            None => out.push(format!("an edge web → {to}")),
        }
    }
    let refused_admin =
        edges.iter().any(|e| {
            e["from"] == id("web")
                && e["denied"].as_array().unwrap_or(&empty).iter().any(|d| {
                    d["reason"] == "route-not-matched" && d["count"].as_u64().unwrap_or(0) > 0
                })
        });
    if !refused_admin {
        out.push("web's /admin refused as route-not-matched".into());
    }
    let split = g["splits"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .find(|s| s["name"] == "api-rollout");
    for (backend, weight) in [("api-v1", 0.8), ("api-v2", 0.2)] {
        let b = split.and_then(|s| {
            s["backends"]
                .as_array()?
                .iter()
                .find(|b| b["service"] == backend)
        });
        let ok = b.is_some_and(|b| {
            b["weight_share"]
                .as_f64()
                .is_some_and(|w| (w - weight).abs() < 1e-9)
                && b["observed_share"].as_f64().is_some()
        });
        if !ok {
            out.push(format!(
                "api-rollout's {backend} at {weight} with an observed share"
            ));
        }
    }
    out
}

/// What the rendered DOM gets wrong: each expectation it fails, in words.
fn rendered_wrong(dom: &str) -> Vec<String> {
    let mut wrong = Vec::new();
    let mut expect = |what: &str, needle: String| {
        if !dom.contains(&needle) {
            wrong.push(format!("lacks {what} ({needle})"));
        }
    };
    for name in ["web", "api-v1", "api-v2", "grpc", "tcp"] {
        expect(
            &format!("the node {name}"),
            format!(r#"data-id="{}" data-meshed="true""#, id(name)),
        );
    }
    for to in ["api-v1", "api-v2", "grpc", "tcp"] {
        expect(
            &format!("web → {to} drawn as allowed and used"),
            format!(
                r#"data-from="{}" data-to="{}" data-state="allowed-used""#,
                id("web"),
                id(to)
            ),
        );
    }
    expect(
        "a refusal with its reason",
        "<td>route-not-matched</td>".into(),
    );
    expect(
        "the split's api-v1 weight",
        "<td>api-v1</td><td>80.0%</td>".into(),
    );
    expect(
        "the split's api-v2 weight",
        "<td>api-v2</td><td>20.0%</td>".into(),
    );
    expect(
        "the workload page of web",
        format!(r#"<h2 id="workload-title">{}</h2>"#, id("web")),
    );
    expect(
        "web's proxy image",
        "<dt>proxy image</dt><dd>weft/proxy:dev</dd>".into(),
    );
    // The demo's policy names every destination: deny would refuse nothing.
    expect(
        "nothing refused under deny",
        "<p class=\"none\">None: every call is granted.</p>".into(),
    );
    // The proxies renew their certificates ahead of expiry: never expired.
    let expires = dom
        .split("<dt>certificate expires</dt><dd>")
        .nth(1)
        .and_then(|rest| rest.split("</dd>").next())
        .unwrap_or_default();
    if !(expires.contains(" (in ") && expires.ends_with(')')) {
        wrong.push(format!("web's certificate expiry reads {expires:?}"));
    }
    for bad in ["could not refresh", "could not ask"] {
        if dom.contains(bad) {
            wrong.push(format!("says {bad:?}"));
        }
    }
    // Each backend's observed share is a number, not the page's dash.
    for backend in ["api-v1", "api-v2"] {
        let observed = dom
            .split(&format!("<td>{backend}</td>"))
            .nth(1)
            .and_then(|rest| rest.split("</td>").nth(1))
            .map(|td| td.trim_start_matches("<td>"));
        if !observed.is_some_and(|s| s.ends_with('%')) {
            wrong.push(format!("{backend}'s observed share is {observed:?}"));
        }
    }
    wrong
}
