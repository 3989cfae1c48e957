use super::*;
use crate::metrics::Metrics;
use http_body_util::{BodyExt, Empty};

const WEB: &str = "spiffe://cluster.local/ns/shop/sa/web";

/// The registry as the proxy builds it, with one allowed request from the
/// mesh observed.
fn proxy_metrics() -> (Metrics, Registry) {
    let metrics = Metrics::default();
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    metrics.policy_ports.set(1);
    metrics
        .observed
        .record(8080, &WEB.parse().unwrap(), &Method::GET, "/items/42");
    (metrics, registry)
}

fn get(path: &str) -> Request<Empty<Bytes>> {
    Request::get(path).body(Empty::new()).unwrap()
}

async fn body(resp: Response<Full<Bytes>>) -> String {
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn the_scrape_serves_the_observed_requests_before_eof() {
    let (metrics, registry) = proxy_metrics();
    let resp = answer(&get("/metrics"), &registry, &metrics.observed);
    assert_eq!(resp.status(), StatusCode::OK);
    let text = body(resp).await;
    let line = "weft_proxy_observed_requests_total{direction=\"inbound\",peer=\"spiffe://cluster.local/ns/shop/sa/web\",port=\"8080\",method=\"GET\",route=\"/items/*\"} 1\n";
    let at = text.find(line).expect(&text);
    // The registry's families are still there, before it.
    let registry_family = text
        .find("weft_proxy_inbound_policy_ports 1\n")
        .expect(&text);
    assert!(registry_family < at, "{text}");
    assert!(text.ends_with(&format!("{line}# EOF\n")), "{text}");
    assert_eq!(text.matches("# EOF").count(), 1, "{text}");
}

#[tokio::test]
async fn without_observed_requests_the_scrape_is_the_registrys_text() {
    let metrics = Metrics::default();
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    let mut plain = String::new();
    prometheus_client::encoding::text::encode(&mut plain, &registry).unwrap();
    let text = body(answer(&get("/metrics"), &registry, &metrics.observed)).await;
    assert_eq!(text, plain);
}

#[tokio::test]
async fn only_get_metrics_is_answered() {
    let (metrics, registry) = proxy_metrics();
    let resp = answer(&get("/other"), &registry, &metrics.observed);
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(!body(resp).await.contains("weft_proxy_observed_requests"));
}

/// The admin port is plaintext and other pods reach it: the observed
/// requests (who calls which route) are never in its `/metrics`.
#[tokio::test]
async fn the_admin_port_never_serves_the_observed_requests() {
    let (_metrics, registry) = proxy_metrics();
    let state = weft_runtime::admin::State {
        readiness: weft_runtime::readiness::Readiness::new(),
        metrics: Arc::new(registry),
        log_level: None,
        shutdown: None,
        app_probes: None,
    };
    let peer = "10.0.0.9:40000".parse().unwrap();
    let resp = weft_runtime::admin::handle(get("/metrics"), peer, &state).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let text = body(resp).await;
    // The same registry, so a broken admin answer cannot pass for a clean one.
    assert!(
        text.contains("weft_proxy_inbound_policy_ports 1\n"),
        "{text}"
    );
    assert!(!text.contains("weft_proxy_observed_requests"), "{text}");
    assert!(!text.contains("/items/"), "{text}");
}
