//! Discovery, load balancing and traffic splits in network namespaces, end
//! to end with real parts: a meshed client pod whose app dials Service
//! cluster IPs, several meshed server pods behind Services and
//! EndpointSlices in the real controller's index, each pod behind the real
//! `weft-proxy init` rules and the real proxy binary, the real Certify
//! service and controller gRPC server in a control-plane namespace. Every
//! server app answers with its pod's name, so the client can count where
//! each request went.
//!
//! Root only (CI runs tests as root); without root it fails and says so.
//! On any failure every proxy's log is printed.

#[allow(dead_code)]
#[path = "support/fleet.rs"]
mod fleet;
#[allow(dead_code)]
#[path = "support/mesh.rs"]
mod mesh;
#[allow(dead_code)]
#[path = "support/netns.rs"]
mod netns;
#[allow(dead_code)]
#[path = "support/objects.rs"]
mod objects;
#[allow(dead_code)]
#[path = "support/plane.rs"]
mod plane;
#[allow(dead_code)]
#[path = "support/traffic.rs"]
mod traffic;

use bytes::Bytes;
use fleet::{CLIENT_HEADER, Cluster, HTTP_PORT, POD_HEADER, PodSpec, TCP_PORT};
use http::StatusCode;
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use mesh::SUBNET;
use objects::{endpoint_slice, service, traffic_split};
use plane::{WAIT, workload_id};
use std::{collections::BTreeMap, time::Duration};
use tokio::time::Instant;
use traffic::{Reply, Session, fresh, http1, request, send};
use weft_api::contract::{annotations, headers, proxy_error};
use weft_controller::index::Resource;

/// The port Services expose; their pods listen on [`HTTP_PORT`].
const SVC_PORT: u16 = 80;
/// The cluster IPs (inside the controller's cluster networks).
const API_IP: &str = "198.18.200.201";
const API_V1_IP: &str = "198.18.200.202";
const API_V2_IP: &str = "198.18.200.203";
const LATE_IP: &str = "198.18.200.204";
/// Off the pod network and outside the cluster networks: not meshed.
const OUTSIDE_NET: &str = "198.18.201.0/24";
const OUTSIDE_IP: &str = "198.18.201.5";
/// How long an app in the slow pod takes to answer.
const SLOW: Duration = Duration::from_millis(200);

/// Service `name` at `ip` (HTTP 80 → 8080, TCP 9000) and its slice listing
/// `pods`, which sit at `SUBNET.host`.
fn service_with(name: &str, ip: &str, pods: &[(&str, u8)]) -> [Resource; 2] {
    let ips: Vec<(String, String)> = pods
        .iter()
        .map(|(p, h)| (p.to_string(), format!("{SUBNET}.{h}")))
        .collect();
    let refs: Vec<(&str, &str)> = ips.iter().map(|(p, i)| (p.as_str(), i.as_str())).collect();
    [
        service(
            name,
            ip,
            &[("http", SVC_PORT, HTTP_PORT), ("tcp", TCP_PORT, TCP_PORT)],
        ),
        endpoint_slice(name, &[("http", HTTP_PORT), ("tcp", TCP_PORT)], &refs),
    ]
}

fn svc_addr(ip: &str) -> String {
    format!("{ip}:{SVC_PORT}")
}

/// Which pod answered, from a 200 of the app.
fn answered_by(r: &Reply) -> Result<String, String> {
    if r.status != StatusCode::OK {
        return Err(format!("not the app's 200: {r:?}"));
    }
    let pod = r
        .header(POD_HEADER)
        .ok_or_else(|| format!("no {POD_HEADER}: {r:?}"))?;
    if pod != r.body {
        return Err(format!("header and body disagree: {r:?}"));
    }
    Ok(pod.to_string())
}

/// `n` GETs on one kept-alive connection, from `client`: who answered each.
fn on_one_connection(c: &Cluster, addr: &str, n: usize) -> Vec<String> {
    let addr = addr.to_string();
    let r = c.get("client-0").run(move || async move {
        let mut s = http1(&addr).await?;
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let r = send(&mut s, request("GET", &format!("/r/{i}"), &[])).await?;
            out.push(answered_by(&r).map_err(|e| format!("request {i}: {e}"))?);
        }
        Ok::<_, String>(out)
    });
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// `n` GETs, each on a fresh connection.
fn on_fresh_connections(c: &Cluster, addr: &str, n: usize) -> Vec<String> {
    let addr = addr.to_string();
    let r = c.get("client-0").run(move || async move {
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let r = fresh(&addr, request("GET", &format!("/f/{i}"), &[])).await?;
            out.push(answered_by(&r).map_err(|e| format!("request {i}: {e}"))?);
        }
        Ok::<_, String>(out)
    });
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn tally(who: &[String]) -> BTreeMap<String, usize> {
    let mut t = BTreeMap::new();
    for w in who {
        *t.entry(w.clone()).or_default() += 1;
    }
    t
}

fn count(t: &BTreeMap<String, usize>, pod: &str) -> usize {
    t.get(pod).copied().unwrap_or(0)
}

/// The client pod and `api-0..n` (ServiceAccount `api`), the first one
/// answering after `first_delay`.
fn api_pods(n: u8, first_delay: Duration) -> Vec<PodSpec> {
    let mut pods = vec![PodSpec::client("client-0", "client", 11)];
    for i in 0..n {
        let p = PodSpec::server(&format!("api-{i}"), "api", 21 + i);
        pods.push(if i == 0 { p.delay(first_delay) } else { p });
    }
    pods
}

/// Requests to a Service's cluster IP spread over all its endpoints, on
/// one kept-alive connection (balanced per request) and on fresh
/// connections alike: each of three equal endpoints gets a fair share.
#[test]
fn requests_spread_over_every_endpoint_of_a_service() {
    let pods = [("api-0", 21), ("api-1", 22), ("api-2", 23)];
    let c = Cluster::start(
        api_pods(3, Duration::ZERO),
        service_with("api", API_IP, &pods).into(),
    );
    let kept = tally(&on_one_connection(&c, &svc_addr(API_IP), 300));
    let fresh = tally(&on_fresh_connections(&c, &svc_addr(API_IP), 150));
    eprintln!("one connection, 300 requests: {kept:?}; fresh connections, 150: {fresh:?}");
    for (what, t, n) in [
        ("one connection", &kept, 300),
        ("fresh connections", &fresh, 150),
    ] {
        assert_eq!(t.values().sum::<usize>(), n, "{what}: {t:?}");
        for (pod, _) in pods {
            // A third each is fair. The balancer weighs latency (power of
            // two choices over EWMA), so on a shared 2-core machine an
            // endpoint that looked slower for a moment gets less: a tenth
            // is the least that still shows none is starved.
            assert!(
                count(t, pod) * 10 >= n,
                "{what}: {pod} got {} of {n}: {t:?}",
                count(t, pod)
            );
        }
    }
    // The apps saw exactly the requests the client counted.
    for (pod, _) in pods {
        assert_eq!(
            c.get(pod).app().requests(),
            count(&kept, pod) + count(&fresh, pod),
            "{pod}'s app"
        );
    }
}

/// `n` GETs from pod `from` on one kept-alive connection to `addr`, then
/// `n` TCP echoes on fresh connections to `tcp`: the replies, and how many
/// echoes came back.
fn from_pod(c: &Cluster, from: &str, addr: &str, tcp: &str, n: usize) -> (Vec<Reply>, usize) {
    let (addr, tcp) = (addr.to_string(), tcp.to_string());
    let r = c.get(from).run(move || async move {
        let mut s = http1(&addr).await?;
        let mut replies = Vec::with_capacity(n);
        for i in 0..n {
            replies.push(send(&mut s, request("GET", &format!("/self/{i}"), &[])).await?);
        }
        let mut echoed = 0;
        for _ in 0..n {
            let mut s = Session::open(&tcp).await?;
            if s.echo(b"to whoever").await.is_ok() {
                echoed += 1;
            }
        }
        Ok::<_, String>((replies, echoed))
    });
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// Kubernetes balances a Service over every ready endpoint, the caller's
/// own pod included; so does weft, for HTTP (per request, on one
/// connection) and TCP alike. The pod's calls to itself pass through its
/// own proxy's inbound side: they arrive with the pod's verified id, and
/// nothing loops.
#[test]
fn a_pod_reaches_itself_through_its_service() {
    let pods = [("api-0", 21), ("api-1", 22)];
    let specs = vec![
        PodSpec::server("api-0", "api", 21),
        PodSpec::server("api-1", "api", 22),
    ];
    let c = Cluster::start(specs, service_with("api", API_IP, &pods).into());
    let tcp = format!("{API_IP}:{TCP_PORT}");
    let (replies, echoed) = from_pod(&c, "api-0", &svc_addr(API_IP), &tcp, 100);
    let who: Vec<String> = replies
        .iter()
        .map(|r| answered_by(r).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let t = tally(&who);
    eprintln!("100 requests from api-0 to its own Service: {t:?}");
    for (pod, _) in pods {
        assert!(
            count(&t, pod) >= 10,
            "{pod} got {} of 100: {t:?}",
            count(&t, pod)
        );
    }
    for r in &replies {
        assert_eq!(
            r.header(CLIENT_HEADER),
            Some(workload_id("api").as_str()),
            "{r:?}"
        );
    }
    assert_eq!(echoed, 100, "every TCP connection was echoed");
    let (own, other) = (c.get("api-0").app(), c.get("api-1").app());
    assert_eq!(own.requests(), count(&t, "api-0"), "api-0's app");
    assert_eq!(own.tcp_connections() + other.tcp_connections(), 100);
    assert!(
        own.tcp_connections() >= 10,
        "api-0 saw {} TCP connections",
        own.tcp_connections()
    );
}

/// A pod's call to itself is authorized by its own inbound policy like
/// anyone else's: with `deny` on api-0 and the default `allow` on api-1,
/// api-0's requests to itself are refused and those to api-1 answered.
#[test]
fn a_pod_calling_itself_meets_its_own_policy() {
    let pods = [("api-0", 21), ("api-1", 22)];
    let specs = vec![
        PodSpec::server("api-0", "api", 21).ann(annotations::DEFAULT_POLICY, "deny"),
        PodSpec::server("api-1", "api", 22),
    ];
    let c = Cluster::start(specs, service_with("api", API_IP, &pods).into());
    let tcp = format!("{API_IP}:{TCP_PORT}");
    let (replies, echoed) = from_pod(&c, "api-0", &svc_addr(API_IP), &tcp, 60);
    let refused = replies
        .iter()
        .filter(|r| r.status == StatusCode::FORBIDDEN)
        .count();
    let by_api_1 = replies
        .iter()
        .filter(|r| answered_by(r).is_ok_and(|p| p == "api-1"))
        .count();
    eprintln!("60 requests from api-0: {refused} refused, {by_api_1} answered by api-1");
    assert_eq!(
        refused + by_api_1,
        60,
        "only refusals and api-1's answers: {replies:?}"
    );
    assert!(refused >= 6, "api-0's own policy refused only {refused}");
    assert_eq!(
        c.get("api-0").app().requests(),
        0,
        "api-0's app saw a request"
    );
    assert_eq!(
        c.get("api-0").app().tcp_connections(),
        0,
        "api-0's app saw a connection"
    );
    assert_eq!(
        echoed,
        c.get("api-1").app().tcp_connections(),
        "only api-1 echoed"
    );
}

/// An HTTPRoute on Service `api` port 80, named in `shop`.
fn api_route(rules: serde_json::Value) -> Resource {
    Resource::HttpRoute(
        serde_json::from_value(serde_json::json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {
                "name": "api-routes", "namespace": "shop",
                "creationTimestamp": "2026-01-01T00:00:00Z"
            },
            "spec": {
                "parentRefs": [{"group": "", "kind": "Service", "name": "api", "port": SVC_PORT}],
                "rules": rules
            }
        }))
        .expect("an HTTPRoute"),
    )
}

/// A Gateway API route decides each request on one kept-alive connection
/// in the client's proxy: weights hold exactly per request (1:3 over 100
/// requests), a path prefix picks its backend, a path matching no rule is
/// answered 404 `no-route` (also when a dot segment would have reached a
/// routed prefix: matching is on the path's normal form), and a rule's
/// request timeout answers 504 for a backend slower than it.
#[test]
fn an_httproute_decides_each_request() {
    let v1 = [("api-0", 21), ("api-1", 22)];
    let v2 = [("api-v2-0", 31), ("api-v2-1", 32)];
    let all: Vec<_> = v1.iter().chain(&v2).copied().collect();
    let mut objects: Vec<Resource> = Vec::new();
    objects.extend(service_with("api", API_IP, &all));
    objects.extend(service_with("api-v1", API_V1_IP, &v1));
    objects.extend(service_with("api-v2", API_V2_IP, &v2));
    objects.extend(service_with("api-slow", LATE_IP, &[("api-slow-0", 41)]));
    let to = |svc: &str, weight: u32| serde_json::json!({"name": svc, "port": SVC_PORT, "weight": weight});
    objects.push(api_route(serde_json::json!([
        {
            "matches": [{"path": {"type": "PathPrefix", "value": "/slow"}}],
            "timeouts": {"request": "100ms"},
            "backendRefs": [to("api-slow", 1)]
        },
        {
            "matches": [{"path": {"type": "PathPrefix", "value": "/v2"}}],
            "backendRefs": [to("api-v2", 1)]
        },
        {
            "matches": [{"path": {"type": "Exact", "value": "/weighted"}}],
            "backendRefs": [to("api-v1", 1), to("api-v2", 3)]
        }
    ])));
    let mut pods = api_pods(2, Duration::ZERO);
    pods.push(PodSpec::server("api-v2-0", "api-v2", 31));
    pods.push(PodSpec::server("api-v2-1", "api-v2", 32));
    pods.push(PodSpec::server("api-slow-0", "api-slow", 41).delay(SLOW));
    let c = Cluster::start(pods, objects);
    let addr = svc_addr(API_IP);
    let replies = c.get("client-0").run(move || async move {
        let mut s = http1(&addr).await?;
        let mut out = Vec::new();
        for _ in 0..100 {
            out.push(send(&mut s, request("GET", "/weighted", &[])).await?);
        }
        for path in ["/v2/items", "/other", "/v2/../other", "/slow"] {
            out.push(send(&mut s, request("GET", path, &[])).await?);
        }
        Ok::<_, String>(out)
    });
    let replies = replies.unwrap_or_else(|e| panic!("{e}"));
    let who: Vec<String> = replies[..100]
        .iter()
        .map(|r| answered_by(r).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let v2_share = to_v2(&who);
    eprintln!(
        "/weighted 1:3 over 100 requests: {} to v2; then {:?}",
        v2_share,
        &replies[100..]
    );
    assert_eq!(v2_share, 75, "{:?}", tally(&who));
    let [prefixed, other, dotted, slow] = &replies[100..] else {
        panic!("four more replies");
    };
    assert!(
        answered_by(prefixed).is_ok_and(|p| p.starts_with("api-v2-")),
        "{prefixed:?}"
    );
    for r in [other, dotted] {
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{r:?}");
        assert_eq!(r.header(headers::PROXY_ERROR), Some("no-route"), "{r:?}");
    }
    assert_eq!(slow.status, StatusCode::GATEWAY_TIMEOUT, "{slow:?}");
    assert_eq!(
        c.get("api-slow-0").app().requests(),
        1,
        "the slow app saw the request"
    );
}

/// An endpoint that answers slowly (200 ms) receives clearly less than the
/// fast ones over a bounded, concurrent run.
#[test]
fn a_slow_endpoint_receives_less_than_the_fast_ones() {
    const TASKS: usize = 10;
    const EACH: usize = 30;
    let pods = [("api-0", 21), ("api-1", 22), ("api-2", 23)];
    let c = Cluster::start(api_pods(3, SLOW), service_with("api", API_IP, &pods).into());
    let addr = svc_addr(API_IP);
    let (who, took) = c.get("client-0").run(move || async move {
        let t0 = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..TASKS {
            let addr = addr.clone();
            tasks.push(tokio::spawn(async move {
                let mut s = http1(&addr).await?;
                let mut out = Vec::new();
                for i in 0..EACH {
                    let r = send(&mut s, request("GET", &format!("/c/{i}"), &[])).await?;
                    out.push(answered_by(&r)?);
                }
                Ok::<_, String>(out)
            }));
        }
        let mut who = Vec::new();
        for t in tasks {
            who.extend(t.await.unwrap().unwrap_or_else(|e| panic!("{e}")));
        }
        (who, t0.elapsed())
    });
    let t = tally(&who);
    let n = TASKS * EACH;
    eprintln!("{n} requests, {TASKS} at a time, in {took:?}: {t:?} (api-0 takes {SLOW:?})");
    assert_eq!(t.values().sum::<usize>(), n, "{t:?}");
    let slow = count(&t, "api-0");
    let fast = count(&t, "api-1").min(count(&t, "api-2"));
    assert!(
        slow * 10 <= n && slow * 4 <= fast,
        "the slow endpoint got {slow} of {n}, the fast ones at least {fast}: {t:?}"
    );
    // Had it got its third, the run would have taken ≥ 10 × 200 ms.
    assert!(took < WAIT, "{took:?}");
}

/// Root `api` and backends `api-v1` (pods api-0, api-1) and `api-v2`
/// (pods api-v2-0, api-v2-1); the root selects all four.
fn split_cluster(weights: (u32, u32)) -> Cluster {
    let v1 = [("api-0", 21), ("api-1", 22)];
    let v2 = [("api-v2-0", 31), ("api-v2-1", 32)];
    let all: Vec<_> = v1.iter().chain(&v2).copied().collect();
    let mut objects: Vec<Resource> = Vec::new();
    objects.extend(service_with("api", API_IP, &all));
    objects.extend(service_with("api-v1", API_V1_IP, &v1));
    objects.extend(service_with("api-v2", API_V2_IP, &v2));
    objects.push(split(weights));
    let mut pods = api_pods(2, Duration::ZERO);
    pods.push(PodSpec::server("api-v2-0", "api-v2", 31));
    pods.push(PodSpec::server("api-v2-1", "api-v2", 32));
    Cluster::start(pods, objects)
}

fn split((v1, v2): (u32, u32)) -> Resource {
    traffic_split("api-rollout", "api", &[("api-v1", v1), ("api-v2", v2)])
}

/// How many of `who` went to v2 pods.
fn to_v2(who: &[String]) -> usize {
    who.iter().filter(|w| w.starts_with("api-v2-")).count()
}

/// A TrafficSplit's weights hold per request: 1/0 sends exactly all to
/// v1; 90/10 sends 90 % ± 2 of 1000 requests to v1 (smooth weighted
/// round-robin makes it exact); weights changed mid-run (30/70) apply to
/// the requests after the update reaches the client's proxy.
#[test]
fn traffic_split_weights_hold_per_request_and_changes_apply_mid_run() {
    let c = split_cluster((1, 0));
    let root = svc_addr(API_IP);
    let all_v1 = on_one_connection(&c, &root, 200);
    eprintln!("1/0: {:?}", tally(&all_v1));
    assert_eq!(to_v2(&all_v1), 0, "1/0: {:?}", tally(&all_v1));

    // 90/10, on a connection kept open from before the change: wait for the
    // first v2 answer (the update reached the proxy), then count.
    c.control.apply([split((90, 10))]);
    let control = c.control.index.clone();
    let (before, ninety, after_change, seventy) = c
        .get("client-0")
        .run(move || async move {
            let mut s = http1(&root).await?;
            let t0 = Instant::now();
            let mut before = 0;
            loop {
                let w = next(&mut s, before).await?;
                before += 1;
                if w.starts_with("api-v2-") {
                    break;
                }
                if t0.elapsed() > WAIT {
                    return Err(format!("no v2 answer within {WAIT:?} of 90/10"));
                }
            }
            let mut ninety = Vec::new();
            for i in 0..1000 {
                ninety.push(next(&mut s, i).await?);
            }
            // Mid-run, on the same connection: 30/70. Applied once ten in a row
            // hold five v2 answers (90/10 never gives more than two).
            control.lock().unwrap().apply(split((30, 70)));
            let t0 = Instant::now();
            let mut window = std::collections::VecDeque::new();
            let mut after_change = 0;
            while window.iter().filter(|v2| **v2).count() < 5 {
                let w = next(&mut s, after_change).await?;
                after_change += 1;
                window.push_back(w.starts_with("api-v2-"));
                if window.len() > 10 {
                    window.pop_front();
                }
                if t0.elapsed() > WAIT {
                    return Err(format!("30/70 not applied within {WAIT:?}"));
                }
            }
            let mut seventy = Vec::new();
            for i in 0..1000 {
                seventy.push(next(&mut s, i).await?);
            }
            Ok::<_, String>((before, ninety, after_change, seventy))
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let (v2_90, v2_70) = (to_v2(&ninety), to_v2(&seventy));
    eprintln!(
        "90/10 after {before} requests: {} v1 / {v2_90} v2 of 1000 {:?}; \
         30/70 after {after_change}: {} v1 / {v2_70} v2 of 1000 {:?}",
        1000 - v2_90,
        tally(&ninety),
        1000 - v2_70,
        tally(&seventy)
    );
    assert!(
        (80..=120).contains(&v2_90),
        "90/10 gave {v2_90} of 1000 to v2"
    );
    assert!(
        (680..=720).contains(&v2_70),
        "30/70 gave {v2_70} of 1000 to v2"
    );
}

/// The split's ratio is per request however the app connects: 90/10 over
/// 1000 requests each on a fresh connection.
#[test]
fn traffic_split_weights_hold_on_fresh_connections() {
    let c = split_cluster((90, 10));
    let who = on_fresh_connections(&c, &svc_addr(API_IP), 1000);
    let v2 = to_v2(&who);
    eprintln!(
        "90/10 on fresh connections: {} v1 / {v2} v2 of 1000 {:?}",
        1000 - v2,
        tally(&who)
    );
    assert!(
        (80..=120).contains(&v2),
        "90/10 gave {v2} of 1000 fresh-connection requests to v2: {:?}",
        tally(&who)
    );
}

/// GETs the Service at `api` and the plain listener at `outside_http`
/// (who answered each), and echoes once on each TCP address.
async fn known_destinations(
    api: String,
    api_tcp: String,
    outside_http: String,
    outside_tcp: String,
) -> Result<(String, String), String> {
    let a = answered_by(&fresh(&api, request("GET", "/known", &[])).await?)?;
    let o = answered_by(&fresh(&outside_http, request("GET", "/plain", &[])).await?)?;
    for addr in [api_tcp, outside_tcp] {
        let mut s = Session::open(&addr).await?;
        s.echo(b"tcp bytes").await?;
        s.finish().await?;
    }
    Ok((a, o))
}

/// The pod that answered the `i`th GET on `s`.
async fn next(s: &mut SendRequest<Full<Bytes>>, i: usize) -> Result<String, String> {
    answered_by(&send(s, request("GET", &format!("/s/{i}"), &[])).await?)
}

/// With the controller stopped (identity still serving): a Service already
/// used keeps working on new connections; a Service never asked for is
/// refused, HTTP with 503 `unavailable` and TCP closed, and its app sees
/// nothing; an address the controller said is not meshed is still
/// forwarded as it is.
#[test]
fn a_controller_outage_keeps_known_destinations_and_fails_new_ones_closed() {
    let mut pods = api_pods(1, Duration::ZERO);
    pods.push(PodSpec::server("late-0", "late", 41));
    pods.push(PodSpec::outside("outside", 50, OUTSIDE_IP));
    let mut objects: Vec<Resource> = Vec::new();
    objects.extend(service_with("api", API_IP, &[("api-0", 21)]));
    objects.extend(service_with("late", LATE_IP, &[("late-0", 41)]));
    let mut c = Cluster::start(pods, objects);
    // The outside listener and the client pod reach each other on-link.
    c.get("client-0")
        .pod
        .ns
        .ok(&["ip", "route", "add", OUTSIDE_NET, "dev", "eth0"]);
    c.get("outside").pod.ns.ok(&[
        "ip",
        "route",
        "add",
        &format!("{SUBNET}.0/24"),
        "dev",
        "eth0",
    ]);
    let api = svc_addr(API_IP);
    let api_tcp = format!("{API_IP}:{TCP_PORT}");
    let outside_http = format!("{OUTSIDE_IP}:{HTTP_PORT}");
    let outside_tcp = format!("{OUTSIDE_IP}:{TCP_PORT}");

    // Before: each destination answers.
    let known = || {
        let a = (
            api.clone(),
            api_tcp.clone(),
            outside_http.clone(),
            outside_tcp.clone(),
        );
        move || known_destinations(a.0, a.1, a.2, a.3)
    };
    let client = c.get("client-0");
    let before = client.run(known());
    assert_eq!(
        before,
        Ok(("api-0".to_string(), "outside".to_string())),
        "before the outage"
    );
    let outside_seen = c.get("outside").app().tcp_connections();
    assert_eq!(outside_seen, 1, "the plain listener saw the client");

    c.control.stop_controller();
    eprintln!("controller stopped");
    let client = c.get("client-0");
    let after = client.run(known());
    assert_eq!(
        after,
        Ok(("api-0".to_string(), "outside".to_string())),
        "known destinations during the outage"
    );
    assert_eq!(c.get("outside").app().tcp_connections(), 2);

    let late = svc_addr(LATE_IP);
    let late_tcp = format!("{LATE_IP}:{TCP_PORT}");
    let (http, http_after, tcp_reached, tcp_after) = client.run(move || async move {
        let t0 = Instant::now();
        let http = fresh(&late, request("GET", "/new", &[])).await;
        let http_after = t0.elapsed();
        let t0 = Instant::now();
        let reached = traffic::tcp_reaches(&late_tcp, b"never in plaintext").await;
        (http, http_after, reached, t0.elapsed())
    });
    eprintln!(
        "never-asked Service: HTTP {:?} after {http_after:?}; TCP reached: {tcp_reached} after {tcp_after:?}",
        http.as_ref().map(|r| r.status)
    );
    let http = http.unwrap_or_else(|e| panic!("an HTTP answer from the client proxy: {e}"));
    assert_eq!(http.status, StatusCode::SERVICE_UNAVAILABLE, "{http:?}");
    assert_eq!(
        http.header(headers::PROXY_ERROR),
        Some(proxy_error::UNAVAILABLE),
        "{http:?}"
    );
    assert!(
        !tcp_reached,
        "a TCP connection to a never-asked Service was answered"
    );
    let late_app = c.get("late-0").app();
    assert_eq!(
        (late_app.requests(), late_app.tcp_connections()),
        (0, 0),
        "the never-asked Service's app received something"
    );
}
