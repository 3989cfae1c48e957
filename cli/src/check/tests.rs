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

mod proxies_trust {
    use super::super::proxy_trust::{ProxyTrust, judge, parse};
    use super::*;

    const IDENTITY: &str = "spiffe://cluster.local/ns/weft-system/sa/weft-identity";

    /// Metrics as a proxy encodes them (`TrustStatus`'s collector).
    fn metrics(digest: &str, verified: bool, identity_ok: bool) -> String {
        format!(
            "# HELP weft_proxy_trust_anchors The trust anchors…\n\
             # TYPE weft_proxy_trust_anchors gauge\n\
             weft_proxy_trust_anchors{{digest=\"{digest}\"}} 1\n\
             weft_proxy_certificate_verified {}\n\
             weft_proxy_certificate_expiry_timestamp_seconds 1800000000\n\
             weft_proxy_control_plane_verified{{service=\"{IDENTITY}\"}} {}\n\
             weft_proxy_control_plane_refusals_total{{service=\"{IDENTITY}\"}} 3\n",
            u8::from(verified),
            u8::from(identity_ok)
        )
    }

    #[test]
    fn parses_what_the_proxy_exports() {
        assert_eq!(
            parse(&metrics("sha256:aa", true, false)),
            ProxyTrust {
                anchors_digest: Some("sha256:aa".into()),
                certificate_verified: true,
                refused: vec![IDENTITY.into()],
                certificate_expiry: Some(1_800_000_000),
            }
        );
        assert_eq!(
            parse("process_start_time_seconds 1\n"),
            ProxyTrust::default()
        );
    }

    #[test]
    fn passes_only_proxies_on_the_current_anchors_that_verify_the_control_plane() {
        let ok = |p: &str| (p.to_string(), Ok(parse(&metrics("sha256:new", true, true))));
        let lines = judge(Some("sha256:new"), &[ok("demo/a"), ok("demo/b")]);
        assert_eq!(
            lines.iter().map(|l| l.status).collect::<Vec<_>>(),
            [Status::Pass, Status::Pass]
        );
        assert!(lines[0].detail.starts_with("2 proxies trust"), "{lines:?}");

        // A pod that outlived a reinstall with a new PKI: ready and serving,
        // but on the old anchors and refusing the new control plane.
        let stale = (
            "demo/old".to_string(),
            Ok(parse(&metrics("sha256:old", true, false))),
        );
        let lines = judge(Some("sha256:new"), &[ok("demo/a"), stale]);
        assert!(failed(&lines));
        assert!(
            lines[0].detail.contains("1 trust other anchors")
                && lines[0].detail.contains("demo/old")
        );
        assert_eq!(lines[1].status, Status::Fail);
        assert!(
            lines[1].detail.contains("demo/old (weft-identity)"),
            "{lines:?}"
        );

        // Current anchors, but a certificate that no longer chains to them.
        let uncovered = (
            "demo/c".to_string(),
            Ok(parse(&metrics("sha256:new", false, true))),
        );
        let lines = judge(Some("sha256:new"), &[uncovered]);
        assert_eq!(lines[0].status, Status::Fail);
        assert!(
            lines[0].detail.contains("hold no certificate chaining"),
            "{lines:?}"
        );
    }

    #[test]
    fn unreadable_and_old_proxies_warn_and_a_missing_bundle_fails() {
        let reports = [
            ("demo/x".to_string(), Err("timed out".to_string())),
            (
                "demo/y".to_string(),
                Ok(parse("process_start_time_seconds 1\n")),
            ),
        ];
        let lines = judge(Some("sha256:new"), &reports);
        assert!(!failed(&lines), "{lines:?}");
        assert_eq!(
            lines.iter().filter(|l| l.status == Status::Warn).count(),
            2,
            "{lines:?}"
        );
        assert!(failed(&judge(None, &reports)));
        assert!(judge(None, &[]).is_empty(), "no proxies, nothing to judge");
    }
}

fn smi_crd(
    service: Option<&str>,
    stored: &[&str],
) -> k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition {
    let mut v = json!({
        "metadata": {"name": "trafficsplits.split.smi-spec.io"},
        "spec": {"group": "split.smi-spec.io", "scope": "Namespaced",
                 "names": {"plural": "trafficsplits", "kind": "TrafficSplit"},
                 "versions": [{"name": "v1alpha1", "served": true, "storage": false},
                              {"name": "v1alpha4", "served": true, "storage": true}]},
        "status": {"storedVersions": stored}
    });
    if let Some(s) = service {
        v["spec"]["conversion"] = json!({"strategy": "Webhook", "webhook": {
            "conversionReviewVersions": ["v1"],
            "clientConfig": {"service": {"name": s, "namespace": "weft-system"}}}});
    }
    serde_json::from_value(v).unwrap()
}

#[test]
fn conversion_fails_without_an_endpoint_and_warns_while_objects_wait_to_move() {
    use super::conversion::judge;
    let name = "trafficsplits.split.smi-spec.io".to_string();
    let ok = [(
        name.clone(),
        Some(smi_crd(Some("weft-conversion"), &["v1alpha4"])),
    )];
    assert_eq!(judge(&ok, 1, "weft-system").status, Status::Pass);
    let down = judge(&ok, 0, "weft-system");
    assert_eq!(down.status, Status::Fail);
    assert!(
        down.detail.contains("older SMI versions fail"),
        "{}",
        down.detail
    );
    let unpointed = [(name.clone(), Some(smi_crd(None, &["v1alpha4"])))];
    assert_eq!(judge(&unpointed, 1, "weft-system").status, Status::Warn);
    let old = [(
        name.clone(),
        Some(smi_crd(Some("weft-conversion"), &["v1alpha1", "v1alpha4"])),
    )];
    let l = judge(&old, 1, "weft-system");
    assert_eq!(l.status, Status::Warn);
    assert!(l.detail.contains("v1alpha1, v1alpha4"), "{}", l.detail);
    assert_eq!(
        judge(&[(name, None)], 1, "weft-system").status,
        Status::Fail
    );
}
