use super::*;
use weft_api::discovery::Backend;

fn fqdn(svc: &str) -> String {
    format!("{svc}.shop.svc.cluster.local")
}

/// Root `web` (10.96.0.20) and backends `web-v1`, `web-v2`, each on port 80
/// with one endpoint of its own; `web-v2` also has port 9000.
fn services() -> Vec<Resource> {
    vec![
        service("shop", "web", "10.96.0.20")
            .port("http", 80, 8080)
            .port("admin", 9000, 9000)
            .into(),
        slice("shop", "web-x", "web")
            .port("http", 8080)
            .port("admin", 9000)
            .ready("10.1.1.1", "")
            .into(),
        service("shop", "web-v1", "10.96.0.21")
            .port("http", 80, 8080)
            .into(),
        slice("shop", "web-v1-x", "web-v1")
            .port("http", 8080)
            .ready("10.1.1.2", "")
            .into(),
        service("shop", "web-v2", "10.96.0.22")
            .port("http", 80, 8080)
            .port("admin", 9000, 9000)
            .into(),
        slice("shop", "web-v2-x", "web-v2")
            .port("http", 8080)
            .port("admin", 9000)
            .ready("10.1.1.3", "")
            .into(),
    ]
}

fn with(extra: impl IntoIterator<Item = Resource>) -> Index {
    index_with(services().into_iter().chain(extra))
}

/// (name, weight, endpoint addresses) of each split backend.
fn backends(m: &Meshed) -> Vec<(String, u32, Vec<String>)> {
    m.split_backends
        .iter()
        .map(|b: &Backend| {
            let eps = b.endpoints.iter().map(|e| e.address.clone()).collect();
            (b.name.clone(), b.weight, eps)
        })
        .collect()
}

#[test]
fn a_split_spreads_the_roots_traffic_over_its_backends_by_weight() {
    let mut ix = with([split("shop", "canary", "web")
        .backend("web-v1", 90)
        .backend("web-v2", 10)
        .into()]);
    let m = meshed(out(&mut ix, "10.96.0.20:80"));
    assert_eq!(
        backends(&m),
        [
            (fqdn("web-v1"), 90, vec!["10.1.1.2:8080".to_string()]),
            (fqdn("web-v2"), 10, vec!["10.1.1.3:8080".to_string()]),
        ]
    );
    let root = m.root.unwrap();
    assert_eq!(root.name, fqdn("web"));
    assert_eq!(root.endpoints[0].address, "10.1.1.1:8080");
    assert!(m.split_matches.is_empty());
}

#[test]
fn a_root_listed_as_its_own_backend_sends_that_share_to_its_own_endpoints() {
    let mut ix = with([split("shop", "canary", "web")
        .backend("web", 1)
        .backend("web-v2", 0)
        .into()]);
    let m = meshed(out(&mut ix, "web.shop:80"));
    assert_eq!(
        backends(&m),
        [
            (fqdn("web"), 1, vec!["10.1.1.1:8080".to_string()]),
            (fqdn("web-v2"), 0, vec!["10.1.1.3:8080".to_string()]),
        ]
    );
}

#[test]
fn a_backend_lacking_the_port_gets_no_traffic_on_it() {
    let mut ix = with([split("shop", "canary", "web")
        .backend("web-v1", 50)
        .backend("web-v2", 50)
        .into()]);
    let m = meshed(out(&mut ix, "10.96.0.20:9000"));
    assert_eq!(
        backends(&m),
        [(fqdn("web-v2"), 50, vec!["10.1.1.3:9000".to_string()])]
    );
}

#[test]
fn a_missing_backend_gets_no_traffic() {
    let mut ix = with([split("shop", "canary", "web")
        .backend("web-v3", 50)
        .backend("web-v1", 50)
        .into()]);
    let m = meshed(out(&mut ix, "10.96.0.20:80"));
    assert_eq!(backends(&m).len(), 1);
    assert_eq!(backends(&m)[0].0, fqdn("web-v1"));
}

#[test]
fn of_two_splits_on_one_root_the_oldest_wins() {
    let mut ix = with([
        split("shop", "a-newer", "web")
            .created(200)
            .backend("web-v1", 1)
            .into(),
        split("shop", "z-older", "web")
            .created(100)
            .backend("web-v2", 1)
            .into(),
    ]);
    let m = meshed(out(&mut ix, "10.96.0.20:80"));
    assert_eq!(backends(&m)[0].0, fqdn("web-v2"));
}

#[test]
fn splits_created_at_once_are_ordered_by_name_and_unpersisted_ones_come_last() {
    let mut ix = with([
        split("shop", "b", "web")
            .created(100)
            .backend("web-v1", 1)
            .into(),
        split("shop", "a", "web")
            .created(100)
            .backend("web-v2", 1)
            .into(),
        split("shop", "0-draft", "web").backend("web", 1).into(),
    ]);
    let m = meshed(out(&mut ix, "10.96.0.20:80"));
    assert_eq!(backends(&m)[0].0, fqdn("web-v2"));
}

#[test]
fn a_split_in_another_namespace_does_not_apply() {
    let mut ix = with([
        service("other", "web-v1", "10.96.1.21")
            .port("http", 80, 8080)
            .into(),
        split("other", "canary", "web").backend("web-v1", 1).into(),
    ]);
    let m = meshed(out(&mut ix, "10.96.0.20:80"));
    assert!(m.split_backends.is_empty());
}

#[test]
fn split_matches_become_routes_and_missing_groups_are_dropped() {
    let mut ix = with([
        group("shop", "beta")
            .m("header", None, &[], &[("x-beta", "1")])
            .m("path", Some("/beta/.*"), &["GET"], &[])
            .into(),
        split("shop", "canary", "web")
            .backend("web-v2", 1)
            .matches("HTTPRouteGroup", "beta")
            .matches("HTTPRouteGroup", "gone")
            .into(),
    ]);
    let m = meshed(out(&mut ix, "10.96.0.20:80"));
    let names: Vec<&str> = m.split_matches.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["beta/header", "beta/path"]);
    assert_eq!(backends(&m).len(), 1);
}

#[test]
fn when_every_split_match_is_dropped_nothing_is_split() {
    let mut ix = with([split("shop", "canary", "web")
        .backend("web-v2", 1)
        .matches("HTTPRouteGroup", "gone")
        .into()]);
    let m = meshed(out(&mut ix, "10.96.0.20:80"));
    assert!(m.split_backends.is_empty());
    assert!(m.split_matches.is_empty());
    assert_eq!(m.root.unwrap().endpoints[0].address, "10.1.1.1:8080");
}

#[test]
fn the_dashboards_readers_give_every_pod_and_each_splits_weights() {
    let ix = index_with([
        pod("shop", "web-1")
            .sa("web")
            .proxy_image("weft/proxy:0.1.0")
            .container_port("http", 8080)
            .container_port("admin", 9000)
            .into(),
        pod("shop", "legacy-1").sa("legacy").unmeshed().into(),
        split("shop", "web-split", "web")
            .backend("web-v1", 900)
            .backend("web-v2", 100)
            .into(),
    ]);
    let pods = ix.pod_summaries();
    let web = pods.iter().find(|p| p.name == "web-1").unwrap();
    assert!(web.meshed);
    assert_eq!(web.service_account, "web");
    assert_eq!(web.ports, [8080, 9000]);
    assert_eq!(web.proxy_image.as_deref(), Some("weft/proxy:0.1.0"));
    let legacy = pods.iter().find(|p| p.name == "legacy-1").unwrap();
    assert!(!legacy.meshed);
    assert_eq!(legacy.proxy_image, None);
    assert_eq!(
        ix.split_weights()[&("shop".to_string(), "web-split".to_string())],
        (
            "web".to_string(),
            vec![("web-v1".to_string(), 900), ("web-v2".to_string(), 100)]
        )
    );
}
