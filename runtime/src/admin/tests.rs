use super::*;
use crate::telemetry;
use http_body_util::Empty;
use prometheus_client::metrics::counter::Counter;

fn state() -> (State, shutdown::Signal) {
    let (trigger, signal) = shutdown::channel();
    let mut registry = Registry::default();
    let c: Counter = Counter::default();
    c.inc_by(3);
    registry.register("test_events", "events seen by the test", c);
    let st = State {
        readiness: Readiness::new(),
        metrics: Arc::new(registry),
        log_level: Some(telemetry::detached("info").unwrap()),
        shutdown: Some(trigger),
        app_probes: None,
    };
    (st, signal)
}

fn req(method: Method, path: &str, body: &'static str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(path)
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

async fn body(rsp: Response<Full<Bytes>>) -> String {
    String::from_utf8(rsp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

const LOOPBACK: &str = "127.0.0.1:40000";
const POD_PEER: &str = "10.1.2.3:40000";

#[tokio::test]
async fn ready_follows_the_conditions() {
    let (st, _) = state();
    let cond = st.readiness.register("certificate");
    let rsp = handle(
        req(Method::GET, "/ready", ""),
        LOOPBACK.parse().unwrap(),
        &st,
    )
    .await;
    assert_eq!(rsp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(body(rsp).await.contains("certificate"));
    cond.ready();
    let rsp = handle(
        req(Method::GET, "/ready", ""),
        POD_PEER.parse().unwrap(),
        &st,
    )
    .await;
    assert_eq!(rsp.status(), StatusCode::OK);
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let (st, _) = state();
    let rsp = handle(
        req(Method::GET, "/metrics", ""),
        POD_PEER.parse().unwrap(),
        &st,
    )
    .await;
    assert_eq!(rsp.status(), StatusCode::OK);
    assert!(body(rsp).await.contains("test_events_total 3"));
}

#[tokio::test]
async fn mutating_endpoints_refuse_non_loopback_peers() {
    let (st, signal) = state();
    for peer in [POD_PEER, "[fd00::1]:4000", "[::ffff:10.0.0.1]:4000"] {
        let rsp = handle(
            req(Method::POST, "/shutdown", ""),
            peer.parse().unwrap(),
            &st,
        )
        .await;
        assert_eq!(rsp.status(), StatusCode::FORBIDDEN, "{peer}");
        let rsp = handle(
            req(Method::PUT, "/log-level", "trace"),
            peer.parse().unwrap(),
            &st,
        )
        .await;
        assert_eq!(rsp.status(), StatusCode::FORBIDDEN, "{peer}");
    }
    assert!(!signal.is_triggered());
    assert_eq!(st.log_level.as_ref().unwrap().current(), "info");
}

#[tokio::test]
async fn loopback_may_change_the_log_level_and_shut_down() {
    let (st, signal) = state();
    let rsp = handle(
        req(Method::PUT, "/log-level", "debug\n"),
        LOOPBACK.parse().unwrap(),
        &st,
    )
    .await;
    assert_eq!(rsp.status(), StatusCode::OK);
    assert_eq!(st.log_level.as_ref().unwrap().current(), "debug");
    let rsp = handle(
        req(Method::PUT, "/log-level", "[=nope"),
        "[::1]:1".parse().unwrap(),
        &st,
    )
    .await;
    assert_eq!(rsp.status(), StatusCode::BAD_REQUEST);
    let rsp = handle(
        req(Method::POST, "/shutdown", ""),
        "[::1]:1".parse().unwrap(),
        &st,
    )
    .await;
    assert_eq!(rsp.status(), StatusCode::ACCEPTED);
    assert!(signal.is_triggered());
}

#[tokio::test]
async fn unknown_paths_and_methods() {
    let (st, _) = state();
    let peer = LOOPBACK.parse().unwrap();
    assert_eq!(
        handle(req(Method::GET, "/nope", ""), peer, &st)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        handle(req(Method::DELETE, "/live", ""), peer, &st)
            .await
            .status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
}

/// The whole server over a real socket, with a real HTTP/1 client.
#[tokio::test]
async fn serves_over_tcp_until_stopped() {
    let (st, _) = state();
    let (stop, stop_rx) = shutdown::channel();
    let admin = Admin::bind("127.0.0.1:0".parse().unwrap(), st)
        .await
        .unwrap();
    let addr = admin.local_addr().unwrap();
    let server = tokio::spawn(admin.serve(stop_rx));

    let sock = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(sock))
        .await
        .unwrap();
    tokio::spawn(conn);
    let rsp = send
        .send_request(
            Request::get("/live")
                .header("host", "admin")
                .body(Empty::<Bytes>::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(rsp.status(), StatusCode::OK);

    stop.trigger();
    tokio::time::timeout(std::time::Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap();
}

/// Passes `app/readiness`, fails `app/liveness`, knows nothing else.
#[derive(Debug)]
struct TwoProbes;

impl AppProbes for TwoProbes {
    fn run(&self, name: &str) -> Option<Pin<Box<dyn Future<Output = ProbeResult> + Send>>> {
        let result = match name {
            "app/readiness" => Ok(()),
            "app/liveness" => Err("connecting to 10.1.2.3:8080: connection refused".to_string()),
            _ => return None,
        };
        Some(Box::pin(async move { result }))
    }
}

#[tokio::test]
async fn app_probes_answer_200_or_503_with_the_reason() {
    let (mut st, _) = state();
    let peer = POD_PEER.parse().unwrap();
    let rsp = handle(req(Method::GET, "/probe/app/readiness", ""), peer, &st).await;
    assert_eq!(
        rsp.status(),
        StatusCode::NOT_FOUND,
        "no probes in this process"
    );

    st.app_probes = Some(Arc::new(TwoProbes));
    let rsp = handle(req(Method::GET, "/probe/app/readiness", ""), peer, &st).await;
    assert_eq!(rsp.status(), StatusCode::OK);
    let rsp = handle(req(Method::GET, "/probe/app/liveness", ""), peer, &st).await;
    assert_eq!(rsp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(body(rsp).await.contains("connection refused"));
    let rsp = handle(req(Method::GET, "/probe/app/startup", ""), peer, &st).await;
    assert_eq!(rsp.status(), StatusCode::NOT_FOUND);
    let rsp = handle(req(Method::POST, "/probe/app/readiness", ""), peer, &st).await;
    assert_eq!(rsp.status(), StatusCode::NOT_FOUND);
}
