//! Flagger (fluxcd/flagger, built from its Go module by `e2e/flagger/build`)
//! drives canaries through weft the way a new user would run it: Flagger
//! and Prometheus are local processes against the e2e cluster's kubeconfig,
//! Prometheus scrapes every proxy's admin port with the scrape
//! configuration of docs/flagger.md, and four canaries run side by side, one
//! namespace each:
//!
//! - `smi:v1alpha3` and `linkerd` (TrafficSplit v1alpha1), no metrics: at
//!   every step (canary weight 0, 25, 50, then 0 on the promoted primary)
//!   200 requests from a meshed client land on primary and canary as the
//!   TrafficSplit says, and a load of 20 requests/s across the whole
//!   rollout loses none;
//! - with the success-rate and latency MetricTemplates of docs/flagger.md
//!   (weft's proxy metrics): a healthy canary is promoted, with the success
//!   rate Flagger read from Prometheus at 100; a canary whose new version
//!   answers 500 is rolled back by the success-rate check, and its primary
//!   never changes.
//!
//! Flagger's analysis interval has a floor of 10 s, so each rollout takes
//! five to seven ticks; side by side, the suite takes about a minute and a
//! half.

use anyhow::Context as _;
use k8s_openapi::api::{apps::v1::Deployment, core::v1::Event};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use serde_json::{Value, json};
use std::{
    path::Path,
    sync::{
        OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};
use tokio::time::Instant;
use weft_e2e::{
    apply_as, client, flagger,
    local::{Local, free_port, http_get, prometheus_query},
    pods::{LoadReport, mesh_namespace, start_client, stop_load, wait_ended, wait_ready},
    release::{install, run, uninstall},
    repo_root, resource, with_temp_ns,
};

/// Flagger's smallest analysis interval.
const INTERVAL: &str = "10s";
const STEP_WEIGHT: u32 = 25;
const MAX_WEIGHT: u32 = 50;
/// Failed checks before a rollback.
const THRESHOLD: u32 = 2;
/// From a changed Deployment to Succeeded or Failed: about eight intervals,
/// with room for a slow pod start on two busy cores.
const ROLLOUT: Duration = Duration::from_secs(240);
/// From creating a Canary to Initialized: the primary's pod starts, and
/// Flagger looks again an interval later.
const INITIALIZE: Duration = Duration::from_secs(120);
/// How long a TrafficSplit change takes to reach the client's proxy, with
/// room (the controller streams it within milliseconds here).
const PROPAGATION: Duration = Duration::from_secs(3);
/// Requests per step measurement, sent back to back.
const SAMPLE: u32 = 200;
/// The background load across each rollout, requests per second.
const LOAD_RATE: &str = "20";
/// The success-rate check's floor, as docs/flagger.md's Canary sets it.
const MIN_SUCCESS: f64 = 99.0;

/// The objects of every ```yaml block in docs/flagger.md: the suite runs
/// what the guide ships.
fn guide_objects() -> anyhow::Result<Vec<Value>> {
    let path = repo_root().join("docs/flagger.md");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    let mut block: Option<String> = None;
    for line in text.lines() {
        match (&mut block, line.trim()) {
            (None, "```yaml") => block = Some(String::new()),
            (Some(b), "```") => {
                for doc in serde_yaml::Deserializer::from_str(b) {
                    let v: Value = serde::Deserialize::deserialize(doc)?;
                    out.push(v);
                }
                block = None;
            }
            (Some(b), _) => {
                b.push_str(line);
                b.push('\n');
            }
            (None, _) => {}
        }
    }
    Ok(out)
}

fn guide_object(objs: &[Value], kind: &str, name: &str) -> anyhow::Result<Value> {
    objs.iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .cloned()
        .with_context(|| format!("docs/flagger.md has no {kind} {name}"))
}

/// The guide's Prometheus configuration, pointed at the e2e cluster from
/// outside it and scraping every 2 s so 30 s windows hold enough samples.
fn prometheus_config(objs: &[Value], kubeconfig: &str) -> anyhow::Result<String> {
    let cm = guide_object(objs, "ConfigMap", "prometheus-weft")?;
    let text = cm["data"]["prometheus.yml"]
        .as_str()
        .context("the ConfigMap has no prometheus.yml")?;
    let mut cfg: Value = serde_yaml::from_str(text)?;
    cfg["global"]["scrape_interval"] = "2s".into();
    cfg["global"]["evaluation_interval"] = "2s".into();
    for job in cfg["scrape_configs"]
        .as_array_mut()
        .context("no scrape_configs")?
    {
        for sd in job["kubernetes_sd_configs"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            sd["kubeconfig_file"] = kubeconfig.into();
        }
    }
    Ok(serde_yaml::to_string(&cfg)?)
}

/// Deployment `web`: one testapp pod answering "hello from <pod>", so each
/// answer names the Deployment (primary or canary) it came from. testapp
/// exits the moment it gets SIGTERM; the preStop sleep keeps it serving
/// while its endpoint's removal reaches the callers' proxies, as
/// docs/flagger.md tells users (without it, the old primary's last
/// requests at promotion fail with 502 `connect-failed`).
fn web(env: &[(&str, &str)]) -> Value {
    let mut vars = vec![
        json!({"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}),
    ];
    vars.extend(env.iter().map(|(k, v)| json!({"name": k, "value": v})));
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                  "spec": {"containers": [{"name": "app", "image": "weft/testapp:e2e",
                                           "imagePullPolicy": "Never", "args": ["serve"], "env": vars,
                                           "ports": [{"containerPort": 8080}],
                                           "lifecycle": {"preStop": {"sleep": {"seconds": 3}}},
                                           "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080},
                                                              "periodSeconds": 1}}]}}}
    })
}

#[derive(Clone, Copy)]
struct Scenario {
    name: &'static str,
    provider: &'static str,
    /// The TrafficSplit version the provider writes.
    split: &'static str,
    gated: bool,
    /// The new version answers 500.
    broken: bool,
}

/// Everything a scenario needs from the suite.
struct Env<'a> {
    client: &'a kube::Client,
    guide: &'a [Value],
    prometheus: String,
    prometheus_port: u16,
    flagger_port: u16,
    /// Set when Prometheus or Flagger died: the scenarios stop waiting.
    died: &'a OnceLock<String>,
}

/// What [`SAMPLE`] requests from pod `probe` saw: answers by primary pods
/// and by canary pods (a broken canary's 500s count as its answers), and
/// the full report.
struct Sample {
    primary: u32,
    canary: u32,
    report: LoadReport,
}

async fn sample(ns: &str) -> anyhow::Result<Sample> {
    let ns = ns.to_string();
    let n = SAMPLE.to_string();
    let out = tokio::task::spawn_blocking(move || {
        run(
            "kubectl",
            &[
                "-n",
                &ns,
                "exec",
                "probe",
                "-c",
                "app",
                "--",
                "/testapp",
                "load",
                "http://web/",
                &n,
            ],
        )
    })
    .await??;
    let report = LoadReport::parse(&out)?;
    let primary = report.from_prefix("web-primary-");
    let mut canary = report.ok - primary;
    for e in &report.errors {
        let (count, what) = e.split_once("× ").context("error line")?;
        if what.starts_with("status 500: hello from web-") && !what.contains("web-primary-") {
            canary += count.parse::<u32>()?;
        }
    }
    Ok(Sample {
        primary,
        canary,
        report,
    })
}

/// The TrafficSplit's weights, (primary, canary), in the version Flagger
/// writes (v1alpha1's are quantities: "25").
async fn weights(api: &Api<DynamicObject>) -> anyhow::Result<Option<(u32, u32)>> {
    let Some(ts) = api.get_opt("web").await? else {
        return Ok(None);
    };
    let mut w = (None, None);
    for b in ts.data["spec"]["backends"].as_array().into_iter().flatten() {
        let weight = b["weight"]
            .as_u64()
            .or_else(|| b["weight"].as_str()?.parse().ok())
            .and_then(|n| u32::try_from(n).ok());
        match b["service"].as_str() {
            Some("web-primary") => w.0 = weight,
            Some("web-canary") => w.1 = weight,
            _ => {}
        }
    }
    Ok(w.0.zip(w.1))
}

async fn phase(api: &Api<DynamicObject>) -> anyhow::Result<String> {
    let c = api.get("web").await?;
    Ok(c.data["status"]["phase"]
        .as_str()
        .unwrap_or_default()
        .to_string())
}

/// Flagger's Events on the Canary, oldest first, each message with the
/// number of times it was recorded (the API server folds repeats into one
/// Event).
async fn canary_events(client: &kube::Client, ns: &str) -> anyhow::Result<Vec<(String, u32)>> {
    let mut list = Api::<Event>::namespaced(client.clone(), ns)
        .list(&ListParams::default().fields("involvedObject.kind=Canary,involvedObject.name=web"))
        .await?
        .items;
    list.sort_by_key(|e| e.last_timestamp.clone().map(|t| t.0));
    Ok(list
        .into_iter()
        .filter_map(|e| {
            Some((
                e.message?,
                e.count.and_then(|n| u32::try_from(n).ok()).unwrap_or(1),
            ))
        })
        .collect())
}

/// Fails unless `s` splits as (primary, canary) weights say: exactly when a
/// weight is 0, else within four standard deviations of a binomial draw.
fn check_split(what: &str, s: &Sample, (wp, wc): (u32, u32)) -> anyhow::Result<()> {
    let n = f64::from(s.primary + s.canary);
    let p = f64::from(wc) / f64::from(wp + wc);
    let expect = n * p;
    let bound = 4.0 * (n * p * (1.0 - p)).sqrt();
    eprintln!(
        "{what}: weights {wp}/{wc}: primary {} canary {} (expected canary {expect:.0} ± {bound:.0})",
        s.primary, s.canary
    );
    anyhow::ensure!(
        s.primary + s.canary == SAMPLE,
        "{what}: {} answers came from neither primary nor canary: {:?}",
        SAMPLE - s.primary - s.canary,
        s.report
    );
    anyhow::ensure!(
        (f64::from(s.canary) - expect).abs() <= bound,
        "{what}: weights {wp}/{wc}, but the canary answered {} of {SAMPLE}: {:?}",
        s.canary,
        s.report
    );
    Ok(())
}

/// Flagger's own gauge `flagger_canary_metric_analysis`: the last value
/// of `metric` it read for the Canary in `ns`.
async fn flagger_metric(port: u16, ns: &str, metric: &str) -> anyhow::Result<Option<f64>> {
    let (_, body) = http_get(port, "/metrics").await?;
    Ok(body
        .lines()
        .filter(|l| l.starts_with("flagger_canary_metric_analysis{"))
        .filter(|l| {
            l.contains(&format!("namespace=\"{ns}\""))
                && l.contains(&format!("metric=\"{metric}\""))
        })
        .find_map(|l| l.rsplit_once(' ')?.1.parse().ok()))
}

/// One canary from creation to Succeeded or Failed; what it saw.
async fn scenario(env: &Env<'_>, sc: Scenario) -> anyhow::Result<String> {
    with_temp_ns(env.client, |client, ns| async move {
        let t0 = Instant::now();
        let tag = format!("{} ({ns})", sc.name);
        mesh_namespace(&client, &ns, &[], &["client"]).await?;
        let mut metrics = json!([]);
        if sc.gated {
            for name in ["weft-success-rate", "weft-latency"] {
                let mut t = guide_object(env.guide, "MetricTemplate", name)?;
                t["metadata"]["namespace"] = ns.clone().into();
                t["spec"]["provider"]["address"] = env.prometheus.clone().into();
                apply_as(&client, &ns, "metrictemplates", t).await?;
            }
            metrics = guide_object(env.guide, "Canary", "web")?["spec"]["analysis"]["metrics"].clone();
            // The templates live beside the Canary here, not in flagger-system.
            for m in metrics.as_array_mut().into_iter().flatten() {
                m["templateRef"]["namespace"] = ns.clone().into();
            }
            anyhow::ensure!(
                metrics.as_array().is_some_and(|m| m.len() == 2),
                "docs/flagger.md's Canary should check success rate and latency: {metrics}"
            );
        }
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
        weft_e2e::apply(&client, &ns, web(&[("VERSION", "v1")])).await?;
        apply_as(&client, &ns, "canaries", json!({
            "apiVersion": "flagger.app/v1beta1", "kind": "Canary", "metadata": {"name": "web"},
            "spec": {"provider": sc.provider,
                     "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                     "progressDeadlineSeconds": 60,
                     "service": {"port": 80, "targetPort": 8080},
                     "analysis": {"interval": INTERVAL, "threshold": THRESHOLD,
                                  "maxWeight": MAX_WEIGHT, "stepWeight": STEP_WEIGHT,
                                  "metrics": metrics}}
        }))
        .await?;
        let canaries = Api::<DynamicObject>::namespaced_with(
            client.clone(),
            &ns,
            &resource("flagger.app/v1beta1", "Canary", "canaries"),
        );
        let splits = Api::<DynamicObject>::namespaced_with(
            client.clone(),
            &ns,
            &resource(sc.split, "TrafficSplit", "trafficsplits"),
        );
        let deadline = Instant::now() + INITIALIZE;
        loop {
            if let Some(why) = env.died.get() {
                anyhow::bail!("{tag}: {why}");
            }
            if phase(&canaries).await? == "Initialized" {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{tag}: the Canary is not Initialized after {INITIALIZE:?}; Flagger's events: {:#?}",
                canary_events(&client, &ns).await?
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        eprintln!("{tag}: Initialized after {:?}", t0.elapsed());
        let w = weights(&splits).await?.with_context(|| {
            format!("{tag}: Initialized, but no TrafficSplit {} web with both backends", sc.split)
        })?;
        anyhow::ensure!(w == (100, 0), "{tag}: an Initialized canary's weights are {w:?}");

        start_client(&client, &ns, "probe", "client", &["sleep"]).await?;
        start_client(&client, &ns, "load", "client", &["load", "http://web/", "100000", LOAD_RATE]).await?;
        wait_ready(&client, &ns, &["probe", "load"]).await?;
        if sc.gated {
            // The checks read the proxies through Prometheus: it must have them.
            let q = format!("sum(up{{namespace=\"{ns}\", pod=~\"web-primary-.*\"}})");
            weft_e2e::eventually_within(
                &format!("{tag}: Prometheus scrapes the primary's proxy"),
                Duration::from_secs(30),
                Duration::from_secs(1),
                || async { Ok(prometheus_query(env.prometheus_port, &q).await?.first().and_then(|s| (s["value"][1] == "1").then_some(()))) },
            )
            .await?;
        }
        let s = sample(&ns).await?;
        check_split(&format!("{tag} before the rollout"), &s, w)?;

        // A new version: Flagger sees the pod template change.
        let mut env_vars = vec![json!({"name": "VERSION", "value": "v2"})];
        if sc.broken {
            env_vars.push(json!({"name": "ANSWER_STATUS", "value": "500"}));
        }
        deployments
            .patch(
                "web",
                &PatchParams::default(),
                &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "env": env_vars}]}}}})),
            )
            .await?;
        let t1 = Instant::now();
        let mut last = w;
        let mut steps = Vec::new();
        let end = loop {
            if let Some(why) = env.died.get() {
                anyhow::bail!("{tag}: {why}");
            }
            let phase = phase(&canaries).await?;
            if phase == "Succeeded" || phase == "Failed" {
                break phase;
            }
            anyhow::ensure!(
                t1.elapsed() < ROLLOUT,
                "{tag}: still {phase:?} {ROLLOUT:?} after the change; Flagger's events: {:#?}",
                canary_events(&client, &ns).await?
            );
            match weights(&splits).await? {
                Some(w) if w != last => {
                    tokio::time::sleep(PROPAGATION).await;
                    let s = sample(&ns).await?;
                    // Flagger may move on meanwhile; measure the new weights then.
                    if weights(&splits).await? == Some(w) {
                        check_split(&format!("{tag} at {:?} ({phase})", t1.elapsed()), &s, w)?;
                        if !sc.broken {
                            anyhow::ensure!(s.report.failed == 0, "{tag}: requests failed at weights {w:?}: {:?}", s.report.errors);
                        }
                        steps.push(w.1);
                        last = w;
                        continue;
                    }
                    eprintln!("{tag}: the weights moved from {w:?} while measuring; measuring again");
                }
                _ => {}
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        let took = t1.elapsed();
        let w = weights(&splits).await?.context("no TrafficSplit after the rollout")?;
        anyhow::ensure!(w == (100, 0), "{tag}: {end}, but the weights are {w:?}");
        let s = sample(&ns).await?;
        check_split(&format!("{tag} {end}"), &s, w)?;
        anyhow::ensure!(s.report.failed == 0, "{tag}: requests failed after {end}: {:?}", s.report.errors);
        stop_load(&ns, "load").await?;
        let (load_phase, log) = wait_ended(&client, &ns, "load").await?;
        anyhow::ensure!(load_phase == "Succeeded", "{tag}: the load pod {load_phase}: {log}");
        let load = LoadReport::parse(&log)?;
        let events = canary_events(&client, &ns).await?;
        let primary_env = deployments
            .get("web-primary")
            .await?
            .spec
            .and_then(|s| s.template.spec)
            .and_then(|s| s.containers.into_iter().find(|c| c.name == "app"))
            .and_then(|c| c.env)
            .unwrap_or_default();
        let primary_version = primary_env
            .iter()
            .find(|e| e.name == "VERSION")
            .and_then(|e| e.value.clone())
            .unwrap_or_default();

        let mut summary = format!(
            "{}: {end} {took:?} after the change; canary weights measured {steps:?}; load {} ok, {} failed",
            sc.name, load.ok, load.failed
        );
        if sc.broken {
            anyhow::ensure!(end == "Failed", "{tag}: a canary answering 500 ended {end}; events: {events:#?}");
            anyhow::ensure!(primary_version == "v1", "{tag}: the primary runs {primary_version:?} after a rollback");
            let halts: Vec<&(String, u32)> = events.iter().filter(|(m, _)| m.starts_with("Halt ")).collect();
            anyhow::ensure!(
                halts.iter().map(|(_, n)| n).sum::<u32>() >= THRESHOLD
                    && halts.iter().all(|(m, _)| m.contains("advancement success-rate ")),
                "{tag}: the rollback should come from {THRESHOLD} failed success-rate checks: {events:#?}"
            );
            anyhow::ensure!(
                events.iter().any(|(m, _)| m.contains("failed checks threshold reached")),
                "{tag}: no rollback for failed checks: {events:#?}"
            );
            for (m, _) in &halts {
                let rate: f64 = m
                    .split("success-rate ")
                    .nth(1)
                    .and_then(|r| r.split_whitespace().next())
                    .and_then(|r| r.parse().ok())
                    .with_context(|| format!("no rate in {m:?}"))?;
                anyhow::ensure!(rate < MIN_SUCCESS, "{tag}: {m}");
            }
            // The only failures: the canary's 500s, never the primary.
            for e in &load.errors {
                anyhow::ensure!(
                    e.contains("status 500: hello from web-") && !e.contains("web-primary-"),
                    "{tag}: a failure other than the canary's 500s: {e}"
                );
            }
            anyhow::ensure!(load.failed > 0, "{tag}: the load never reached the broken canary");
            summary += &format!(
                "; {}",
                halts.iter().map(|(m, n)| format!("{m} (×{n})")).collect::<Vec<_>>().join("; ")
            );
        } else {
            anyhow::ensure!(end == "Succeeded", "{tag}: ended {end}; events: {events:#?}");
            anyhow::ensure!(primary_version == "v2", "{tag}: promoted, but the primary runs {primary_version:?}");
            anyhow::ensure!(
                steps.len() >= 3 && steps[..2] == [STEP_WEIGHT, MAX_WEIGHT] && steps.last() == Some(&0),
                "{tag}: canary weights measured {steps:?}, expected {STEP_WEIGHT}, {MAX_WEIGHT}, then 0"
            );
            anyhow::ensure!(
                load.failed == 0,
                "{tag}: {} of {} requests failed across the rollout: {:?}",
                load.failed,
                load.ok + load.failed,
                load.errors
            );
            if sc.gated {
                let rate = flagger_metric(env.flagger_port, &ns, "success-rate").await?;
                let latency = flagger_metric(env.flagger_port, &ns, "latency").await?;
                anyhow::ensure!(
                    rate.is_some_and(|r| r >= MIN_SUCCESS) && latency.is_some(),
                    "{tag}: Flagger's last success rate {rate:?}, latency {latency:?}"
                );
                summary += &format!("; last checks: success rate {:.1}%, p99 {:.1} ms", rate.unwrap_or_default(), latency.unwrap_or_default());
            }
        }
        Ok(summary)
    })
    .await
}

async fn wait_http_ok(p: &mut Local, port: u16, path: &str) -> anyhow::Result<()> {
    let t0 = Instant::now();
    loop {
        p.alive()?;
        if matches!(http_get(port, path).await, Ok((200, _))) {
            eprintln!("{}: {path} answers after {:?}", p.name, t0.elapsed());
            return Ok(());
        }
        anyhow::ensure!(
            t0.elapsed() < Duration::from_secs(60),
            "{} does not answer {path} after 60 s; its log ends:\n{}",
            p.name,
            p.tail(40)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn suite(client: &kube::Client, tools: &flagger::Tools, dir: &Path) -> anyhow::Result<()> {
    let kubeconfig = std::env::var("KUBECONFIG")
        .context("KUBECONFIG is not set: run `eval \"$(e2e/cluster/env)\"` first")?;
    let guide = guide_objects()?;
    let (prometheus_port, flagger_port) = (free_port()?, free_port()?);
    let config = dir.join("prometheus.yml");
    std::fs::write(&config, prometheus_config(&guide, &kubeconfig)?)?;
    let mut prometheus = Local::start(
        "prometheus",
        dir,
        &tools.prometheus,
        &[
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", dir.join("tsdb").display()),
            format!("--web.listen-address=127.0.0.1:{prometheus_port}"),
        ],
    )?;
    wait_http_ok(&mut prometheus, prometheus_port, "/-/ready").await?;
    let prometheus_url = format!("http://127.0.0.1:{prometheus_port}");
    let mut flagger = Local::start(
        "flagger",
        dir,
        &tools.flagger,
        &[
            format!("-kubeconfig={kubeconfig}"),
            "-mesh-provider=smi:v1alpha3".into(),
            format!("-metrics-server={prometheus_url}"),
            format!("-port={flagger_port}"),
            "-log-level=info".into(),
            "-zap-encoding=console".into(),
            // New Canaries are picked up within 2 s rather than 10.
            "-control-loop-interval=2s".into(),
        ],
    )?;
    wait_http_ok(&mut flagger, flagger_port, "/healthz").await?;

    let died = OnceLock::new();
    let done = AtomicBool::new(false);
    let env = Env {
        client,
        guide: &guide,
        prometheus: prometheus_url,
        prometheus_port,
        flagger_port,
        died: &died,
    };
    let scenarios = [
        Scenario {
            name: "smi:v1alpha3",
            provider: "smi:v1alpha3",
            split: "split.smi-spec.io/v1alpha3",
            gated: false,
            broken: false,
        },
        Scenario {
            name: "linkerd",
            provider: "linkerd",
            split: "split.smi-spec.io/v1alpha1",
            gated: false,
            broken: false,
        },
        Scenario {
            name: "success rate, healthy",
            provider: "smi:v1alpha3",
            split: "split.smi-spec.io/v1alpha3",
            gated: true,
            broken: false,
        },
        Scenario {
            name: "success rate, 500s",
            provider: "linkerd",
            split: "split.smi-spec.io/v1alpha1",
            gated: true,
            broken: true,
        },
    ];
    let run_all = async {
        let r = futures_join(&env, scenarios).await;
        done.store(true, Ordering::Relaxed);
        r
    };
    let watch = async {
        while !done.load(Ordering::Relaxed) {
            for p in [&mut prometheus, &mut flagger] {
                if let Err(e) = p.alive() {
                    let _ = died.set(e.to_string());
                    return;
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    };
    let (results, ()) = tokio::join!(run_all, watch);
    let mut failed = Vec::new();
    for (sc, r) in scenarios.iter().zip(results) {
        match r {
            Ok(summary) => eprintln!("PASS {summary}"),
            Err(e) => {
                eprintln!("FAIL {}: {e:#}", sc.name);
                failed.push(format!("{}: {e:#}", sc.name));
            }
        }
    }
    if !failed.is_empty() {
        for p in [&prometheus, &flagger] {
            eprintln!(
                "===== the end of {} ({}) =====\n{}",
                p.name,
                p.log.display(),
                p.tail(80)
            );
        }
        anyhow::bail!(
            "{} of {} Flagger scenarios failed:\n{}",
            failed.len(),
            scenarios.len(),
            failed.join("\n")
        );
    }
    Ok(())
}

/// Runs every scenario to its end (none cancels another, so each deletes
/// its namespace), concurrently.
async fn futures_join(env: &Env<'_>, s: [Scenario; 4]) -> [anyhow::Result<String>; 4] {
    let (a, b, c, d) = tokio::join!(
        scenario(env, s[0]),
        scenario(env, s[1]),
        scenario(env, s[2]),
        scenario(env, s[3])
    );
    [a, b, c, d]
}

#[tokio::test]
async fn flagger_promotes_and_rolls_back_canaries_through_weft() -> anyhow::Result<()> {
    let t0 = Instant::now();
    let client = client().await?;
    let tools = tokio::task::spawn_blocking(flagger::tools).await??;
    flagger::apply_crds(&tools)?;
    install()?;
    let dir = std::env::temp_dir().join(format!("weft-flagger-{:08x}", rand::random::<u32>()));
    std::fs::create_dir_all(&dir)?;
    let res = suite(&client, &tools, &dir).await;
    uninstall();
    match &res {
        Ok(()) => {
            let _ = std::fs::remove_dir_all(&dir);
        }
        Err(_) => eprintln!("logs and configuration kept in {}", dir.display()),
    }
    eprintln!("flagger suite: {:?}", t0.elapsed());
    res
}
