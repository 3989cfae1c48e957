//! `patch_for` on every pod shape. Each case's result (the patched pod, or
//! the reason it was skipped) is compared with `tests/golden/<case>.yaml`;
//! regenerate with `WEFT_UPDATE_GOLDEN=1 cargo test -p weft-injector`.

use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};
use std::{collections::BTreeMap, path::PathBuf};
use weft_api::contract::{annotations as a, env, pod as names};
use weft_injector::{InjectConfig, NamespaceMeta, Reason, patch::skip_patch, patch_for};

fn pod(v: Value) -> Pod {
    serde_json::from_value(v).unwrap()
}

fn base_pod() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-1", "namespace": "shop"},
        "spec": {"serviceAccountName": "web", "containers": [{"name": "app", "image": "shop/web:1"}]}
    })
}

fn ns(enabled: bool) -> NamespaceMeta {
    let mut annotations = BTreeMap::new();
    if enabled {
        annotations.insert(a::INJECT.to_string(), a::INJECT_ENABLED.to_string());
    }
    NamespaceMeta {
        name: "shop".into(),
        labels: BTreeMap::new(),
        annotations,
    }
}

/// Applies the patch (or the skip note) to the pod, as the API server would.
/// What the injector writes a proxy starts trusting (not parsed here).
const ANCHORS: &str = "-----BEGIN CERTIFICATE-----\nTUVTSA==\n-----END CERTIFICATE-----\n";

fn cfg() -> InjectConfig {
    InjectConfig {
        trust_anchors: ANCHORS.into(),
        ..InjectConfig::default()
    }
}

fn outcome(p: &Value, ns: &NamespaceMeta, cfg: &InjectConfig) -> (Value, Result<(), Reason>) {
    let typed = pod(p.clone());
    let mut doc = p.clone();
    let res = match patch_for(&typed, ns, cfg) {
        Ok(inj) => {
            json_patch::patch(&mut doc, &inj.patch).expect("the patch applies");
            Ok(())
        }
        Err(reason) => {
            if reason.is_notable() {
                json_patch::patch(&mut doc, &skip_patch(&typed, &reason))
                    .expect("the skip note applies");
            }
            Err(reason)
        }
    };
    (doc, res)
}

fn golden(case: &str, got: &Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/{case}.yaml"));
    let text = serde_yaml::to_string(got).unwrap();
    if std::env::var_os("WEFT_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (regenerate with WEFT_UPDATE_GOLDEN=1)",
            path.display()
        )
    });
    assert!(
        want == text,
        "{case}: differs from {}:\n{text}",
        path.display()
    );
}

fn init_names(doc: &Value) -> Vec<String> {
    doc["spec"]["initContainers"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|c| c["name"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn status(doc: &Value) -> String {
    doc["metadata"]["annotations"][a::INJECT_STATUS]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[test]
fn plain_pod_in_an_enabled_namespace() {
    let (doc, res) = outcome(&base_pod(), &ns(true), &cfg());
    res.unwrap();
    assert_eq!(
        init_names(&doc),
        vec![names::INIT_CONTAINER, names::PROXY_CONTAINER]
    );
    assert_eq!(doc["spec"]["initContainers"][1]["restartPolicy"], "Always");
    // The token and the xtables lock; the anchors are in the environment,
    // not in a ConfigMap any namespace writer could change.
    assert_eq!(doc["spec"]["volumes"].as_array().unwrap().len(), 2);
    assert_eq!(status(&doc), "injected");
    golden("plain", &doc);
}

#[test]
fn existing_init_containers_and_volumes_are_kept_after_ours() {
    let mut p = base_pod();
    p["spec"]["initContainers"] = json!([{"name": "migrate", "image": "shop/migrate:1"}]);
    p["spec"]["volumes"] = json!([{"name": "data", "emptyDir": {}}]);
    p["metadata"]["annotations"] = json!({"team": "shop"});
    let (doc, res) = outcome(&p, &ns(true), &cfg());
    res.unwrap();
    assert_eq!(
        init_names(&doc),
        vec![names::INIT_CONTAINER, names::PROXY_CONTAINER, "migrate"]
    );
    let vols: Vec<&str> = doc["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(vols[0], "data");
    assert_eq!(vols.len(), 3);
    assert_eq!(doc["metadata"]["annotations"]["team"], "shop");
    golden("existing-init-and-volumes", &doc);
}

#[test]
fn injecting_twice_equals_once() {
    let (once, _) = outcome(&base_pod(), &ns(true), &cfg());
    let (twice, res) = outcome(&once, &ns(true), &cfg());
    assert_eq!(res, Err(Reason::AlreadyInjected));
    assert_eq!(once, twice);
}

#[test]
fn annotation_overrides_reach_the_containers() {
    let mut p = base_pod();
    p["metadata"]["annotations"] = json!({
        a::INJECT: "enabled",
        a::SKIP_INBOUND_PORTS: "22",
        a::SKIP_OUTBOUND_PORTS: "5432,6000-6010",
        a::SKIP_OUTBOUND_CIDRS: "169.254.169.254/32",
        a::OPAQUE_PORTS: "3306",
        a::PROXY_LOG_LEVEL: "debug",
        a::PROXY_CPU_LIMIT: "2",
        a::PROXY_MEMORY_LIMIT: "256Mi",
    });
    let (doc, res) = outcome(&p, &ns(false), &cfg());
    res.unwrap();
    let args: Vec<&str> = doc["spec"]["initContainers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(args.contains(&"--skip-inbound-ports=22"), "{args:?}");
    assert!(
        args.contains(&"--skip-outbound-ports=5432,6000-6010"),
        "{args:?}"
    );
    assert!(
        args.contains(&"--skip-outbound-cidrs=169.254.169.254/32"),
        "{args:?}"
    );
    let proxy = &doc["spec"]["initContainers"][1];
    let envs: BTreeMap<&str, &str> = proxy["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| Some((e["name"].as_str()?, e["value"].as_str()?)))
        .collect();
    assert_eq!(envs[env::WORKER_THREADS], "2");
    assert_eq!(envs[env::LOG_LEVEL], "debug");
    assert_eq!(proxy["resources"]["limits"]["memory"], "256Mi");
    golden("overrides", &doc);
}

#[test]
fn network_probes_move_to_the_proxy_and_the_rest_stay() {
    let mut p = base_pod();
    p["spec"]["containers"] = json!([
        {"name": "app", "image": "shop/web:1",
         "ports": [{"name": "http", "containerPort": 8080}],
         "livenessProbe": {"httpGet": {"path": "healthz?full=1", "port": "http", "scheme": "HTTPS",
                                       "httpHeaders": [{"name": "X-Probe", "value": "kubelet"}]},
                           "periodSeconds": 7, "timeoutSeconds": 3, "failureThreshold": 4},
         "readinessProbe": {"tcpSocket": {"port": 9000}},
         "startupProbe": {"grpc": {"port": 5000, "service": "shop"}}},
        {"name": "tools", "image": "shop/tools:1",
         "livenessProbe": {"exec": {"command": ["true"]}},
         "readinessProbe": {"httpGet": {"path": "/", "port": 80, "host": "example.com"}},
         "startupProbe": {"tcpSocket": {"port": "missing"}}},
        {"name": "remote", "image": "shop/tools:1",
         "readinessProbe": {"tcpSocket": {"port": 5432, "host": "db.example"}}}
    ]);
    // A sidecar's probe too, behind an ordinary init container: the
    // pointers must still name the pod's own lists.
    p["spec"]["initContainers"] = json!([
        {"name": "migrate", "image": "shop/migrate:1"},
        {"name": "cache", "image": "shop/cache:1", "restartPolicy": "Always",
         "readinessProbe": {"tcpSocket": {"port": 6379}}}
    ]);
    let (doc, res) = outcome(&p, &ns(true), &cfg());
    res.unwrap();
    let app = &doc["spec"]["containers"][0];
    for (field, kind) in [
        ("livenessProbe", "liveness"),
        ("readinessProbe", "readiness"),
        ("startupProbe", "startup"),
    ] {
        assert_eq!(
            app[field]["httpGet"],
            json!({"path": format!("/probe/app/{kind}"), "port": 4191}),
            "{field}"
        );
    }
    assert_eq!(app["livenessProbe"]["periodSeconds"], 7);
    assert_eq!(app["livenessProbe"]["failureThreshold"], 4);
    assert!(app["readinessProbe"].get("tcpSocket").is_none());
    assert!(app["startupProbe"].get("grpc").is_none());
    let tools = &doc["spec"]["containers"][1];
    assert_eq!(
        tools, &p["spec"]["containers"][1],
        "exec, another host and an unknown port stay"
    );
    assert_eq!(
        doc["spec"]["containers"][2], p["spec"]["containers"][2],
        "a TCP probe of another host stays"
    );
    let cache = &doc["spec"]["initContainers"][3];
    assert_eq!(cache["name"], "cache");
    assert_eq!(
        cache["readinessProbe"]["httpGet"]["path"],
        "/probe/cache/readiness"
    );

    let proxy = &doc["spec"]["initContainers"][1];
    let value = proxy["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == env::APP_PROBES)
        .and_then(|e| e["value"].as_str())
        .expect("the proxy is told the checks");
    let moved = weft_api::probes::parse(value).unwrap();
    let summary: Vec<(String, u16, u32)> = moved
        .iter()
        .map(|m| (m.name.clone(), m.port, m.timeout_seconds))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("app/liveness".into(), 8080, 3),
            ("app/readiness".into(), 9000, 1),
            ("app/startup".into(), 5000, 1),
            ("cache/readiness".into(), 6379, 1),
        ]
    );
    assert_eq!(
        moved[0].check,
        weft_api::probes::Check::Http {
            path: "/healthz?full=1".into(),
            https: true,
            headers: vec![weft_api::probes::Header {
                name: "X-Probe".into(),
                value: "kubelet".into()
            }],
        }
    );
    assert_eq!(
        moved[2].check,
        weft_api::probes::Check::Grpc {
            service: Some("shop".into())
        }
    );
    golden("probes", &doc);
}

/// A case name, the pod, its namespace, and the reason expected.
type SkipCase = (&'static str, Value, NamespaceMeta, fn(&Reason) -> bool);

#[test]
fn skipped_pods_say_why() {
    let cases: Vec<SkipCase> = vec![
        (
            "host-network",
            {
                let mut p = base_pod();
                p["spec"]["hostNetwork"] = json!(true);
                p
            },
            ns(true),
            |r| matches!(r, Reason::HostNetwork),
        ),
        (
            "disabled-pod",
            {
                let mut p = base_pod();
                p["metadata"]["annotations"] = json!({a::INJECT: "disabled"});
                p
            },
            ns(true),
            |r| matches!(r, Reason::DisabledByPod),
        ),
        (
            "bad-inject-value",
            {
                let mut p = base_pod();
                p["metadata"]["annotations"] = json!({a::INJECT: "yes"});
                p
            },
            ns(false),
            |r| matches!(r, Reason::InvalidInjectValue { .. }),
        ),
        (
            "pod-security",
            base_pod(),
            {
                let mut n = ns(true);
                n.labels.insert(
                    "pod-security.kubernetes.io/enforce".into(),
                    "restricted".into(),
                );
                n
            },
            |r| matches!(r, Reason::PodSecurity { .. }),
        ),
        (
            "control-plane",
            base_pod(),
            {
                let mut n = ns(true);
                n.name = "weft-system".into();
                n
            },
            |r| matches!(r, Reason::ControlPlane(_)),
        ),
        (
            "proxy-uid",
            {
                let mut p = base_pod();
                p["spec"]["securityContext"] = json!({"runAsUser": 2102});
                p
            },
            ns(true),
            |r| matches!(r, Reason::RunsAsProxyUid(_)),
        ),
        (
            // iptables' --gid-owner exempts the proxy's group as well.
            "proxy-gid",
            {
                let mut p = base_pod();
                p["spec"]["containers"][0]["securityContext"] = json!({"runAsGroup": 2102});
                p
            },
            ns(true),
            |r| matches!(r, Reason::RunsAsProxyGid(_)),
        ),
        (
            "proxy-gid-pod",
            {
                let mut p = base_pod();
                p["spec"]["securityContext"] = json!({"runAsUser": 1000, "runAsGroup": 2102});
                p
            },
            ns(true),
            |r| matches!(r, Reason::RunsAsProxyGid(_)),
        ),
        (
            "bad-annotation",
            {
                let mut p = base_pod();
                p["metadata"]["annotations"] = json!({a::SKIP_INBOUND_PORTS: "ssh"});
                p
            },
            ns(true),
            |r| matches!(r, Reason::BadAnnotation(_)),
        ),
    ];
    for (case, p, n, expected) in cases {
        let (doc, res) = outcome(&p, &n, &cfg());
        let reason = res.expect_err(case);
        assert!(expected(&reason), "{case}: {reason}");
        assert!(init_names(&doc).is_empty(), "{case}: nothing injected");
        assert_eq!(status(&doc), format!("skipped: {reason}"), "{case}");
        golden(
            &format!("skip-{case}"),
            &json!({"reason": reason.to_string(), "pod": doc}),
        );
    }
}

#[test]
fn pods_nobody_asked_for_pass_untouched() {
    let (doc, res) = outcome(&base_pod(), &ns(false), &cfg());
    assert_eq!(res, Err(Reason::NotEnabled));
    assert_eq!(doc, base_pod());
}

#[test]
fn no_native_sidecars_no_injection() {
    let cfg = InjectConfig {
        native_sidecars: false,
        ..Default::default()
    };
    let (_, res) = outcome(&base_pod(), &ns(true), &cfg);
    assert_eq!(res, Err(Reason::NoNativeSidecars));
}

/// The environment `patch_for` writes, with the downward API filled in as
/// the kubelet would, parses with the proxy's own config parser.
#[test]
fn the_proxy_parses_what_the_injector_writes() {
    let mut p = base_pod();
    p["metadata"]["annotations"] =
        json!({a::OPAQUE_PORTS: "3306,9000-9010", a::PROXY_CPU_LIMIT: "1500m"});
    p["spec"]["containers"][0]["readinessProbe"] = json!({"tcpSocket": {"port": 8080}});
    let (doc, res) = outcome(&p, &ns(true), &cfg());
    res.unwrap();
    let downward = BTreeMap::from([
        ("metadata.name", "web-1"),
        ("metadata.namespace", "shop"),
        ("spec.serviceAccountName", "web"),
        ("status.podIPs", "10.0.0.5,fd00::5"),
    ]);
    let mut vars: std::collections::HashMap<&str, &str> = Default::default();
    for e in doc["spec"]["initContainers"][1]["env"].as_array().unwrap() {
        let name = e["name"].as_str().unwrap();
        let value = match e["value"].as_str() {
            Some(v) => v,
            None => downward[e["valueFrom"]["fieldRef"]["fieldPath"].as_str().unwrap()],
        };
        vars.insert(name, value);
    }
    let cfg = weft_proxy::config::parse(&vars).unwrap();
    assert_eq!(cfg.workload.service_account, "web");
    assert_eq!(cfg.workload.pod_ips.len(), 2);
    assert_eq!(cfg.worker_threads, 2);
    assert_eq!(
        cfg.app_probes
            .iter()
            .map(|p| (p.name.as_str(), p.port))
            .collect::<Vec<_>>(),
        vec![("app/readiness", 8080)]
    );
    assert_eq!(
        cfg.trust_anchors,
        weft_proxy::config::InitialAnchors::Pem(ANCHORS.into())
    );
    assert_eq!(
        cfg.identity.id,
        "spiffe://cluster.local/ns/weft-system/sa/weft-identity"
    );
    assert_eq!(
        cfg.token_file.to_str().unwrap(),
        "/var/run/weft/identity/token"
    );
    // Every variable the proxy documents and the injector sets is one of the contract's.
    for name in vars.keys() {
        assert!(
            weft_proxy::config::VARIABLES
                .iter()
                .any(|(n, _, _)| n == name),
            "{name} is not documented by the proxy"
        );
    }
}
