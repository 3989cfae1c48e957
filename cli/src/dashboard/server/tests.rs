use super::*;
use std::sync::Mutex;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Answers from fixed data and remembers what it was asked.
#[derive(Default)]
struct Fixture {
    asked: Mutex<Vec<String>>,
    fail: bool,
}

impl Source for Fixture {
    fn graph(&self, namespaces: Vec<String>) -> Answer<Graph> {
        self.asked
            .lock()
            .unwrap()
            .push(format!("graph {namespaces:?}"));
        let fail = self.fail;
        Box::pin(async move {
            if fail {
                return Err("the metrics API is not served".into());
            }
            Ok(Graph {
                window: "30s".into(),
                namespaces,
                notes: Vec::new(),
                nodes: Vec::new(),
                edges: Vec::new(),
                splits: Vec::new(),
            })
        })
    }

    fn explain(&self, q: ExplainQuery) -> Answer<String> {
        self.asked.lock().unwrap().push(format!("explain {q:?}"));
        Box::pin(async move { Ok(format!("ALLOW for {}\n", q.from)) })
    }

    fn suggest(&self, workload: String) -> Answer<String> {
        self.asked
            .lock()
            .unwrap()
            .push(format!("suggest {workload}"));
        Box::pin(async move { Ok(format!("# policy for {workload}\n")) })
    }
}

async fn serve(source: Arc<Fixture>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router(source, addr);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// One HTTP/1.1 request as a browser would send it; the whole answer.
async fn get(addr: SocketAddr, host: &str, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

fn status(resp: &str) -> &str {
    resp.split(' ').nth(1).unwrap_or_default()
}

fn header<'a>(resp: &'a str, name: &str) -> Option<&'a str> {
    let head = resp.split("\r\n\r\n").next()?;
    head.lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        })
        .map(|(_, v)| v.trim())
}

#[tokio::test]
async fn the_page_and_its_assets_come_from_the_binary_under_a_strict_policy() {
    let addr = serve(Arc::default()).await;
    let host = format!("127.0.0.1:{}", addr.port());
    let page = get(addr, &host, "/").await;
    assert_eq!(status(&page), "200", "{page}");
    assert!(page.contains(r#"<script src="app.js"></script>"#));
    let csp = header(&page, "content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert_eq!(header(&page, "x-content-type-options"), Some("nosniff"));
    let js = get(addr, &host, "/app.js").await;
    assert_eq!(
        header(&js, "content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert!(js.contains("function layout("));
    let css = get(addr, &host, "/app.css").await;
    assert_eq!(
        header(&css, "content-type"),
        Some("text/css; charset=utf-8")
    );
    // Nothing the page loads comes from elsewhere.
    for asset in [&page, &js, &css] {
        assert!(
            !asset.contains("https://") && !asset.contains("//cdn"),
            "{asset}"
        );
    }
}

#[tokio::test]
async fn another_host_name_for_the_same_address_is_refused() {
    let fixture = Arc::new(Fixture::default());
    let addr = serve(fixture.clone()).await;
    let port = addr.port();
    for host in [
        format!("rebound.example:{port}"),
        "127.0.0.1".to_string(),
        format!("127.0.0.1:{}", port.wrapping_add(1)),
        String::new(),
    ] {
        let resp = get(addr, &host, "/api/graph").await;
        assert_eq!(status(&resp), "421", "Host {host:?}: {resp}");
    }
    assert!(fixture.asked.lock().unwrap().is_empty());
    for host in [format!("localhost:{port}"), format!("LOCALHOST:{port}")] {
        assert_eq!(status(&get(addr, &host, "/").await), "200", "{host}");
    }
}

#[tokio::test]
async fn the_graph_is_asked_for_the_namespaces_in_the_query() {
    let fixture = Arc::new(Fixture::default());
    let addr = serve(fixture.clone()).await;
    let host = format!("127.0.0.1:{}", addr.port());
    let resp = get(addr, &host, "/api/graph?namespaces=shop%2Cdemo").await;
    assert_eq!(status(&resp), "200", "{resp}");
    assert!(resp.contains(r#""namespaces":["shop","demo"]"#), "{resp}");
    get(addr, &host, "/api/graph").await;
    assert_eq!(
        *fixture.asked.lock().unwrap(),
        [r#"graph ["shop", "demo"]"#, "graph []"]
    );
}

#[tokio::test]
async fn a_source_that_fails_is_a_bad_gateway_with_the_reason() {
    let addr = serve(Arc::new(Fixture {
        fail: true,
        ..Default::default()
    }))
    .await;
    let resp = get(addr, &format!("127.0.0.1:{}", addr.port()), "/api/graph").await;
    assert_eq!(status(&resp), "502");
    assert!(
        resp.contains(r#"{"error":"the metrics API is not served"}"#),
        "{resp}"
    );
}

#[tokio::test]
async fn explain_passes_the_form_on() {
    let fixture = Arc::new(Fixture::default());
    let addr = serve(fixture.clone()).await;
    let path = "/api/explain?workload=shop%2Fdeployment%2Fapi&from=shop%2Fweb&port=8080&method=POST&path=%2Fitems%3Fx%3D1";
    let resp = get(addr, &format!("127.0.0.1:{}", addr.port()), path).await;
    assert_eq!(status(&resp), "200", "{resp}");
    assert!(resp.ends_with("ALLOW for shop/web\n"), "{resp}");
    let asked = fixture.asked.lock().unwrap();
    assert!(
        asked[0].contains(r#"workload: "shop/deployment/api""#),
        "{asked:?}"
    );
    assert!(asked[0].contains(r#"path: "/items?x=1""#), "{asked:?}");
}

#[tokio::test]
async fn suggest_answers_for_the_workload_picked() {
    let fixture = Arc::new(Fixture::default());
    let addr = serve(fixture.clone()).await;
    let host = format!("127.0.0.1:{}", addr.port());
    let resp = get(addr, &host, "/api/suggest?workload=shop%2Fdeployment%2Fapi").await;
    assert_eq!(status(&resp), "200", "{resp}");
    assert!(
        resp.ends_with("# policy for shop/deployment/api\n"),
        "{resp}"
    );
    let resp = get(addr, &host, "/api/suggest").await;
    assert_eq!(status(&resp), "400", "{resp}");
    assert_eq!(
        fixture.asked.lock().unwrap().len(),
        1,
        "no workload, no question"
    );
}
