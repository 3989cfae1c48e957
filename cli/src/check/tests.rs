use super::*;
use serde_json::json;

fn pod(v: serde_json::Value) -> Pod {
    serde_json::from_value(v).unwrap()
}

fn meshed(name: &str, ready: bool, udp: bool) -> Pod {
    let proto = if udp { "UDP" } else { "TCP" };
    pod(json!({
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {
            "initContainers": [{"name": "weft-proxy", "restartPolicy": "Always"}],
            "containers": [{"name": "app", "ports": [{"containerPort": 53, "protocol": proto}]}]
        },
        "status": {"phase": "Running",
                   "initContainerStatuses": [{"name": "weft-proxy", "ready": ready, "restartCount": 0,
                                               "image": "x", "imageID": ""}]}
    }))
}

fn ns(name: &str, inject: Option<&str>) -> Namespace {
    let mut v = json!({"metadata": {"name": name}});
    if let Some(i) = inject {
        v["metadata"]["annotations"] = json!({"weft.io/inject": i});
    }
    serde_json::from_value(v).unwrap()
}

#[test]
fn versions_before_native_sidecars_fail() {
    assert_eq!(kubernetes_version("1", "34").status, Status::Pass);
    assert_eq!(kubernetes_version("1", "29+").status, Status::Pass);
    assert_eq!(kubernetes_version("1", "28").status, Status::Fail);
}

#[test]
fn a_crd_without_the_version_weft_reads_conflicts() {
    assert_eq!(crd("x", "v1alpha4", None).status, Status::Pass);
    let v = vec!["v1alpha3".to_string(), "v1alpha4".to_string()];
    assert_eq!(crd("x", "v1alpha4", Some(&v)).status, Status::Pass);
    let old = vec!["v1alpha1".to_string()];
    let l = crd("trafficsplits.split.smi-spec.io", "v1alpha4", Some(&old));
    assert_eq!(l.status, Status::Fail);
    assert!(l.detail.contains("serves only v1alpha1"), "{}", l.detail);
}

#[test]
fn deployments_need_every_replica_available() {
    let d = |want: i32, have: i32| -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "weft-controller"},
            "spec": {"replicas": want, "selector": {}, "template": {}},
            "status": {"availableReplicas": have}
        }))
        .unwrap()
    };
    assert_eq!(
        deployment("weft-controller", Some(&d(1, 1))).status,
        Status::Pass
    );
    assert_eq!(
        deployment("weft-controller", Some(&d(2, 1))).status,
        Status::Fail
    );
    assert_eq!(deployment("weft-controller", None).status, Status::Fail);
}

#[test]
fn certificates_warn_then_fail_as_expiry_nears() {
    assert_eq!(certificate("issuer", 300).status, Status::Pass);
    assert_eq!(certificate("issuer", 20).status, Status::Warn);
    assert_eq!(certificate("issuer", 3).status, Status::Fail);
    assert_eq!(certificate("issuer", -1).status, Status::Fail);
}

#[test]
fn pods_in_injected_namespaces_without_a_proxy_are_named() {
    let namespaces = [ns("shop", Some("enabled")), ns("other", None)];
    let bare = |name: &str, nsn: &str, extra: serde_json::Value| {
        let mut v = json!({"metadata": {"name": name, "namespace": nsn},
                           "spec": {"containers": [{"name": "app"}]},
                           "status": {"phase": "Running"}});
        if let Some(o) = extra.as_object() {
            for (k, val) in o {
                v["metadata"][k] = val.clone();
            }
        }
        pod(v)
    };
    let pods = vec![
        meshed("web-0", true, false),
        bare("old-0", "shop", json!({})),
        bare(
            "skipped-0",
            "shop",
            json!({"annotations": {"weft.io/inject": "disabled"}}),
        ),
        bare("elsewhere-0", "other", json!({})),
    ];
    let l = unmeshed_pods(&namespaces, &pods);
    assert_eq!(l.status, Status::Fail);
    assert!(l.detail.contains("shop/old-0"), "{}", l.detail);
    assert!(!l.detail.contains("skipped-0") && !l.detail.contains("elsewhere-0"));
    assert_eq!(unmeshed_pods(&namespaces, &pods[..1]).status, Status::Pass);
}

#[test]
fn udp_warns_and_unready_proxies_fail() {
    assert_eq!(
        udp_ports(&[meshed("dns-0", true, true)]).status,
        Status::Warn
    );
    assert_eq!(
        udp_ports(&[meshed("web-0", true, false)]).status,
        Status::Pass
    );
    assert_eq!(
        proxies_ready(&[meshed("web-0", true, false)]).status,
        Status::Pass
    );
    let l = proxies_ready(&[meshed("web-0", true, false), meshed("web-1", false, false)]);
    assert_eq!(l.status, Status::Fail);
    assert!(
        l.detail.contains("1 of 2") && l.detail.contains("shop/web-1"),
        "{}",
        l.detail
    );
}

#[test]
fn the_summary_fails_only_on_failures() {
    let lines = vec![Line::pass("a", "ok"), Line::warn("b", "hmm", "look")];
    assert!(!failed(&lines));
    let text = render(&lines);
    assert!(text.contains("✔ a: ok") && text.contains("! b: hmm") && text.contains("hint: look"));
    let lines = vec![Line::fail("c", "broken", "fix it")];
    assert!(failed(&lines));
    assert!(render(&lines).contains("1 of 1 checks failed"));
}

#[test]
fn cluster_networks_warn_without_a_pod_network() {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let ok = cluster_networks(&s(&["198.18.128.0/20"]), &s(&["198.19.0.0/20"]), &[]);
    assert_eq!(ok.status, Status::Pass, "{ok:?}");
    assert!(ok.detail.contains("198.18.128.0/20") && ok.detail.contains("198.19.0.0/20"));
    let no_pods = cluster_networks(&[], &s(&["198.19.0.0/20"]), &[]);
    assert_eq!(no_pods.status, Status::Warn);
    assert!(no_pods.hint.contains("mesh.clusterNetworks"));
    let added = cluster_networks(&[], &[], &s(&["10.0.0.0/8"]));
    assert_eq!(added.status, Status::Pass);
}
