use super::*;
use crate::http::body::full;
use hyper::{server::conn::http1, service::service_fn};
use std::sync::atomic::AtomicUsize;
use tokio::net::TcpListener;

/// An app on loopback answering `GET /<n>` with n bytes; `close` answers
/// with `Connection: close`. Counts the connections it accepted.
async fn app() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (sock, _) = listener.accept().await.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let svc = service_fn(|req: Request<Incoming>| async move {
                    let path = req.uri().path().trim_start_matches('/');
                    let mut resp = Response::builder();
                    if path == "close" {
                        resp = resp.header(http::header::CONNECTION, "close");
                    }
                    let n: usize = path.parse().unwrap_or(2);
                    resp.body(full(vec![b'x'; n]))
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(sock), svc)
                    .await;
            });
        }
    });
    (addr, accepted)
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(full("")).unwrap()
}

async fn read(resp: Response<Body>) -> usize {
    resp.into_body().collect().await.unwrap().to_bytes().len()
}

#[tokio::test]
async fn one_connection_serves_requests_one_after_another() {
    let (addr, accepted) = app().await;
    let pool = H1Pool::new(Duration::from_secs(1));
    for _ in 0..5 {
        let resp = pool.send(addr, get("/10")).await.unwrap();
        assert_eq!(read(resp).await, 10);
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    assert_eq!(pool.idle(), 1);
}

#[tokio::test]
async fn requests_at_once_open_a_connection_each_then_reuse_them() {
    let (addr, accepted) = app().await;
    let pool = H1Pool::new(Duration::from_secs(1));
    for _ in 0..3 {
        // Each response is held unread until all four have arrived.
        let sending: Vec<_> = (0..4)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move { pool.send(addr, get("/3")).await })
            })
            .collect();
        let mut held = Vec::new();
        for s in sending {
            held.push(s.await.unwrap().unwrap());
        }
        for resp in held {
            assert_eq!(read(resp).await, 3);
        }
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 4);
    assert_eq!(pool.idle(), 4);
}

#[tokio::test]
async fn a_connection_the_app_closes_is_not_kept() {
    let (addr, accepted) = app().await;
    let pool = H1Pool::new(Duration::from_secs(1));
    for _ in 0..3 {
        let resp = pool.send(addr, get("/close")).await.unwrap();
        assert_eq!(read(resp).await, 2);
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
    assert_eq!(pool.idle(), 0);
}

#[tokio::test]
async fn a_response_left_half_read_does_not_hand_its_connection_on() {
    let (addr, accepted) = app().await;
    let pool = H1Pool::new(Duration::from_secs(1));
    let resp = pool.send(addr, get("/1000000")).await.unwrap();
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert!(first.is_data());
    drop(body);
    // The next request must not read the rest of that body as its answer.
    let resp = pool.send(addr, get("/7")).await.unwrap();
    assert_eq!(read(resp).await, 7);
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_app_that_is_not_listening_is_a_connect_error() {
    let free = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = free.local_addr().unwrap();
    drop(free);
    let pool = H1Pool::new(Duration::from_secs(1));
    let err = pool.send(addr, get("/")).await.unwrap_err();
    assert!(err.is_connect(), "{err}");
}

#[tokio::test(start_paused = true)]
async fn unused_connections_are_closed_after_the_idle_timeout() {
    let (addr, _) = app().await;
    let pool = H1Pool::new(Duration::from_secs(1));
    let resp = pool.send(addr, get("/1")).await.unwrap();
    assert_eq!(read(resp).await, 1);
    assert_eq!(pool.idle(), 1);
    tokio::time::sleep(IDLE_TIMEOUT + IDLE_TIMEOUT / 2).await;
    assert_eq!(pool.idle(), 0);
}
