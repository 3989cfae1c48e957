//! Authority canonicalisation in weft-controller: a Discovery request's
//! `authority` (an app's Host header, relayed by any proxy) as a
//! subscription key, through the public `Index::outbound`.
//!
//! Input: one byte choosing the client's namespace and the cluster domain,
//! then the authority.
//!
//! Beyond "no panic", spellings of one name give one answer: ASCII case,
//! an explicit `:80`, a trailing dot.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::json;
use std::sync::Arc;
use weft_controller::index::{Config, Index, Outbound, Resource, Target};

const NAMESPACES: [&str; 4] = ["shop", "", "default", "Shop"];
const DOMAINS: [&str; 4] = ["cluster.local", "example.org.", "", "svc"];

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let ns = NAMESPACES[usize::from(choice & 3)];
    let domain = DOMAINS[usize::from(choice >> 2 & 3)];
    let authority = String::from_utf8_lossy(rest);
    let mut index = index(domain);
    let answer = outbound(&mut index, &authority, ns);

    let upper = authority.to_ascii_uppercase();
    assert_eq!(
        outbound(&mut index, &upper, ns),
        answer,
        "{authority:?} and {upper:?}"
    );
    if !authority.contains([':', '[']) {
        let with_port = format!("{authority}:80");
        assert_eq!(
            outbound(&mut index, &with_port, ns),
            answer,
            "{authority:?} and {with_port:?}"
        );
        if !authority.ends_with('.') {
            let dotted = format!("{authority}.");
            assert_eq!(
                outbound(&mut index, &dotted, ns),
                answer,
                "{authority:?} and {dotted:?}"
            );
        }
    }
});

/// The answer, or `None` for an invalid authority (whose error message
/// quotes the authority as written).
fn outbound(index: &mut Index, authority: &str, ns: &str) -> Option<Arc<Outbound>> {
    index
        .outbound(Target::Authority(authority.to_string()), ns)
        .ok()
        .map(|rx| rx.borrow().clone())
}

/// An index holding one Service, `shop/web` with port 80, so that names of
/// a known Service are answered as such.
fn index(domain: &str) -> Index {
    let mut cfg = Config::new("cluster.local".parse().expect("a trust domain"));
    cfg.cluster_domain = domain.to_string();
    let mut index = Index::new(cfg);
    let service = json!({
        "metadata": {"namespace": "shop", "name": "web"},
        "spec": {
            "clusterIP": "10.96.0.10",
            "clusterIPs": ["10.96.0.10"],
            "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
        },
    });
    index.apply(Resource::Service(
        serde_json::from_value(service).expect("a Service"),
    ));
    index
}
