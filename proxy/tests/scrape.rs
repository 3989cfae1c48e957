//! The proxy's metrics listener for weft-controller, over real mTLS and
//! HTTP/2 on loopback, read with the controller's own scrape client: the
//! controller gets the metrics text (with the allowed requests' shapes,
//! served nowhere else), any other workload of the mesh gets nothing, and
//! the controller refuses a proxy that is not the pod it meant to scrape.

use prometheus_client::registry::Registry;
use std::{sync::Arc, time::Duration};
use weft_controller::metrics_api::{scraper::fetch, traffic_stats};
use weft_proxy::{
    metrics::{ConnMetrics, Direction, Metrics, ResponseLabels},
    scrape::ScrapeServer,
};
use weft_runtime::shutdown;
use weft_tls::{
    CredStore, MeshTls, SpiffeId, TrustDomain,
    test_util::{TestCa, Validity},
};

fn id(td: &TrustDomain, ns: &str, sa: &str) -> SpiffeId {
    SpiffeId::new(td, ns, sa).unwrap()
}

fn tls(ca: &TestCa, td: &TrustDomain, who: &SpiffeId) -> MeshTls {
    let creds = CredStore::new();
    creds.publish(ca.credentials(who, Validity::starting_now(Duration::from_secs(3600))));
    MeshTls::new(td.clone(), ca.anchor_store(), creds)
}

#[tokio::test]
async fn only_the_controller_reads_a_proxys_metrics() {
    let ca = TestCa::new();
    let td: TrustDomain = "cluster.local".parse().unwrap();
    let pod = id(&td, "shop", "web");
    let controller = id(&td, "weft-system", "weft-controller");
    let intruder = id(&td, "shop", "intruder");

    let metrics = Metrics::default();
    // One allowed request from the mesh and one denial, as the inbound
    // side records them.
    let client = id(&td, "shop", "gateway");
    let conn = ConnMetrics::new(&metrics);
    for (status_class, authorization) in [("2xx", "default-allow"), ("4xx", "")] {
        conn.response(
            ResponseLabels {
                direction: Direction::Inbound,
                peer: client.shared_str(),
                service: "".into(),
                port: 8080,
                authorization: authorization.into(),
                status_class,
                grpc_status: "",
                deny_reason: if authorization.is_empty() {
                    "no-traffic-target"
                } else {
                    ""
                },
            },
            Duration::from_millis(3),
        );
    }
    // The allowed request's shape, as the inbound side records it.
    metrics
        .observed
        .record(8080, &client, &http::Method::GET, "/items/42");
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    let listener = weft_proxy::scrape::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, signal) = shutdown::channel();
    tokio::spawn(
        Arc::new(ScrapeServer {
            tls: tls(&ca, &td, &pod),
            scraper: controller.clone(),
            registry: Arc::new(registry),
            observed: metrics.observed.clone(),
        })
        .serve(listener, signal),
    );

    let as_controller = tls(&ca, &td, &controller);
    let text = fetch(
        as_controller.workload_h2_client_config(&pod),
        addr,
        "/metrics",
    )
    .await
    .expect("the controller reads the metrics");
    let scrape = traffic_stats::parse(&text).expect("the controller parses what it reads");
    let counts = &scrape[&traffic_stats::Edge {
        direction: traffic_stats::Direction::Inbound,
        peer: client.to_string(),
    }];
    assert_eq!(
        (counts.success, counts.failure),
        (1, 1),
        "the denial is a failure: {text}"
    );
    assert!(
        text.contains(
            "weft_proxy_observed_requests_total{direction=\"inbound\",peer=\"spiffe://cluster.local/ns/shop/sa/gateway\",port=\"8080\",method=\"GET\",route=\"/items/*\"} 1\n# EOF"
        ),
        "{text}"
    );

    let err = fetch(
        tls(&ca, &td, &intruder).workload_h2_client_config(&pod),
        addr,
        "/metrics",
    )
    .await
    .expect_err("another workload is not answered");
    eprintln!("intruder: {err:#}");

    let err = fetch(
        as_controller.workload_h2_client_config(&id(&td, "shop", "api")),
        addr,
        "/metrics",
    )
    .await
    .expect_err("the controller checks it reached the pod it meant");
    assert!(format!("{err:#}").contains("TLS"), "{err:#}");

    let err = fetch(
        as_controller.workload_h2_client_config(&pod),
        addr,
        "/other",
    )
    .await
    .expect_err("only /metrics");
    assert!(format!("{err:#}").contains("404"), "{err:#}");
    stop.trigger();
}
