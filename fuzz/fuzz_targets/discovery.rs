//! `weft_proxy::outbound::answer::apply`: the proxy's state for one
//! destination, following a stream of Discovery snapshots and endpoint
//! changes. The controller is trusted, but a bug or a skewed version there
//! must not take the proxy down.
//!
//! Input: a sequence of updates built with `arbitrary` (names, addresses and
//! identities mostly from small pools, so that changes meet the endpoints
//! they name).
//!
//! Beyond "no panic", after every update:
//! - each backend holds exactly the endpoints a model of the stream says
//!   (a snapshot sets them, `Added` replaces by address, `Removed` drops by
//!   address), and an error is the one the model expects;
//! - an endpoint kept across an update is the same `Arc` (its learnt
//!   latency survives);
//! - re-sending the current state as a full snapshot changes nothing;
//! - the split's weighted round-robin picks only a backend with a weight
//!   and endpoints.
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use weft_api::discovery::{
    self as pb, DiscoveryUpdate, EndpointsAdded, EndpointsRemoved, NotMeshed, ProtocolHint,
    Unavailable, discovery_update::Kind,
};
use weft_proxy::outbound::answer::{Answer, Endpoint, Meshed, StateError, apply};
use weft_proxy::outbound::balance::wrr::SmoothWrr;
use weft_tls::SpiffeId;

const ADDRESSES: &[&str] = &[
    "10.0.0.1:8080",
    "10.0.0.2:8080",
    "10.0.0.1:9090",
    "[fd00::1]:8080",
    "10.0.0.1",
    "web:8080",
    "",
];
const IDENTITIES: &[&str] = &[
    "",
    "spiffe://cluster.local/ns/shop/sa/web",
    "spiffe://cluster.local/ns/shop/sa/api",
    "spiffe://cluster.local",
    "web",
];
const BACKENDS: &[&str] = &["web", "web-v1", "web-v2", ""];

/// Steps per input: enough for every shape, bounded for speed.
const MAX_STEPS: usize = 16;

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let _ = run(&mut u);
});

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let mut state: Option<Answer> = None;
    let mut model: Option<Model> = None;
    let mut wrr = SmoothWrr::default();
    for _ in 0..MAX_STEPS {
        if u.is_empty() {
            break;
        }
        let update = update(u)?;
        let expected = expect(model.as_ref(), &update);
        let before = endpoints_by_key(state.as_ref());
        match apply(state.as_ref(), update.clone()) {
            Ok(answer) => {
                let next = expected.expect("the model expected an error");
                check_model(&answer, next.as_ref());
                check_kept(&before, &answer);
                check_resnapshot(&answer);
                if let Answer::Meshed(m) = &answer {
                    check_wrr(&mut wrr, m);
                }
                state = Some(answer);
                model = next;
            }
            Err(e) => {
                assert!(expected.is_err(), "unexpected error {e:?} for {update:?}");
                let want = expected.unwrap_err();
                assert_eq!(e, want);
            }
        }
    }
    Ok(())
}

// === the input ===

fn pooled(u: &mut Unstructured<'_>, pool: &[&str]) -> Result<String> {
    if u.ratio(1, 8)? {
        u.arbitrary()
    } else {
        Ok(u.choose(pool)?.to_string())
    }
}

fn endpoint(u: &mut Unstructured<'_>) -> Result<pb::Endpoint> {
    Ok(pb::Endpoint {
        address: pooled(u, ADDRESSES)?,
        identity: pooled(u, IDENTITIES)?,
        pod: String::new(),
        namespace: String::new(),
    })
}

fn list<T>(
    u: &mut Unstructured<'_>,
    max: u32,
    mut item: impl FnMut(&mut Unstructured<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let n = u.int_in_range(0..=max)?;
    (0..n).map(|_| item(u)).collect()
}

fn backend(u: &mut Unstructured<'_>) -> Result<pb::Backend> {
    Ok(pb::Backend {
        name: pooled(u, BACKENDS)?,
        weight: if u.ratio(1, 4)? {
            u.arbitrary()?
        } else {
            u.int_in_range(0..=100)?
        },
        endpoints: list(u, 4, endpoint)?,
    })
}

fn update(u: &mut Unstructured<'_>) -> Result<DiscoveryUpdate> {
    let kind = match u.int_in_range(0..=9)? {
        0 => None,
        1..=3 => Some(Kind::Meshed(pb::Meshed {
            service: pooled(u, &["web.shop.svc.cluster.local:80", ""])?,
            protocol: u.int_in_range(-1..=3)?,
            root: if u.ratio(7, 8)? {
                Some(backend(u)?)
            } else {
                None
            },
            split_backends: list(u, 3, backend)?,
            split_matches: Vec::new(),
            // Route backends follow the same add/remove code as splits.
            routes: Vec::new(),
            route_backends: Vec::new(),
        })),
        4..=5 => Some(Kind::Added(EndpointsAdded {
            backend: pooled(u, BACKENDS)?,
            endpoints: list(u, 4, endpoint)?,
        })),
        6..=7 => Some(Kind::Removed(EndpointsRemoved {
            backend: pooled(u, BACKENDS)?,
            addresses: list(u, 4, |u| pooled(u, ADDRESSES))?,
        })),
        8 => Some(Kind::NotMeshed(NotMeshed {})),
        _ => Some(Kind::Unavailable(Unavailable {
            reason: pooled(u, &["no service yet"])?,
        })),
    };
    Ok(DiscoveryUpdate { kind })
}

// === the model ===

type Key = (SocketAddr, Option<SpiffeId>);

/// A backend's endpoints by address.
type Endpoints = BTreeMap<SocketAddr, Option<SpiffeId>>;

/// Each backend in order (root first), by name, with its endpoints by
/// address; `None` for a backend whose snapshot listed one address twice
/// (kept as sent, so no map describes it).
#[derive(Clone, Debug)]
struct Model {
    backends: Vec<(String, Option<Endpoints>)>,
}

/// An endpoint the proxy can use, as `answer` decides it.
fn usable(e: &pb::Endpoint) -> Option<Key> {
    let addr = e.address.parse().ok()?;
    if e.identity.is_empty() {
        return Some((addr, None));
    }
    Some((addr, Some(e.identity.parse().ok()?)))
}

fn model_backend(b: &pb::Backend) -> (String, Option<Endpoints>) {
    let mut map = BTreeMap::new();
    let mut unique = true;
    for (addr, id) in b.endpoints.iter().filter_map(usable) {
        unique &= map.insert(addr, id).is_none();
    }
    (b.name.clone(), unique.then_some(map))
}

/// The model after `update`: `Ok(None)` for an answer that is not meshed,
/// `Err` for the error `apply` must return.
fn expect(
    model: Option<&Model>,
    update: &DiscoveryUpdate,
) -> std::result::Result<Option<Model>, StateError> {
    let backend_of = |m: &Model, name: &str| {
        m.backends
            .iter()
            .position(|(n, _)| n == name)
            .ok_or_else(|| StateError::UnknownBackend(name.to_string()))
    };
    match update.kind.as_ref().ok_or(StateError::Empty)? {
        Kind::Meshed(m) => {
            let root = m.root.clone().unwrap_or_default();
            Ok(Some(Model {
                backends: std::iter::once(&root)
                    .chain(&m.split_backends)
                    .map(model_backend)
                    .collect(),
            }))
        }
        Kind::NotMeshed(_) | Kind::Unavailable(_) => Ok(None),
        Kind::Added(a) => {
            let mut m = model.ok_or(StateError::NoSnapshot)?.clone();
            let i = backend_of(&m, &a.backend)?;
            if let Some(map) = &mut m.backends[i].1 {
                for (addr, id) in a.endpoints.iter().filter_map(usable) {
                    map.insert(addr, id);
                }
            }
            Ok(Some(m))
        }
        Kind::Removed(r) => {
            let mut m = model.ok_or(StateError::NoSnapshot)?.clone();
            let i = backend_of(&m, &r.backend)?;
            if let Some(map) = &mut m.backends[i].1 {
                for a in &r.addresses {
                    if let Ok(addr) = a.parse() {
                        map.remove(&addr);
                    }
                }
            }
            Ok(Some(m))
        }
    }
}

// === the checks ===

fn backends(m: &Meshed) -> impl Iterator<Item = &weft_proxy::outbound::answer::Backend> {
    std::iter::once(&m.root).chain(&m.splits)
}

fn check_model(answer: &Answer, model: Option<&Model>) {
    let (Answer::Meshed(m), Some(model)) = (answer, model) else {
        assert!(
            !matches!(answer, Answer::Meshed(_)) && model.is_none(),
            "meshed in the answer or the model only: {answer:?}"
        );
        return;
    };
    assert_eq!(backends(m).count(), model.backends.len());
    for (b, (name, want)) in backends(m).zip(&model.backends) {
        assert_eq!(&b.name, name);
        let Some(want) = want else { continue };
        let got: Endpoints = b.endpoints.iter().map(|e| (e.addr, e.id.clone())).collect();
        assert_eq!(
            got.len(),
            b.endpoints.len(),
            "backend {name:?} lists an address twice"
        );
        assert_eq!(&got, want, "backend {name:?}");
    }
}

/// Each endpoint of the answer, and how many times it is listed.
fn endpoints_by_key(answer: Option<&Answer>) -> HashMap<Key, (Arc<Endpoint>, usize)> {
    let mut out: HashMap<Key, (Arc<Endpoint>, usize)> = HashMap::new();
    if let Some(Answer::Meshed(m)) = answer {
        for e in backends(m).flat_map(|b| &b.endpoints) {
            out.entry((e.addr, e.id.clone()))
                .or_insert_with(|| (e.clone(), 0))
                .1 += 1;
        }
    }
    out
}

/// An endpoint that was there before is the same `Arc`, wherever it is now
/// (unless it was listed twice: which of its `Arc`s is carried on is not
/// specified).
fn check_kept(before: &HashMap<Key, (Arc<Endpoint>, usize)>, answer: &Answer) {
    let Answer::Meshed(m) = answer else { return };
    for e in backends(m).flat_map(|b| &b.endpoints) {
        let key = (e.addr, e.id.clone());
        if let Some((old, 1)) = before.get(&key) {
            assert!(Arc::ptr_eq(old, e), "endpoint {key:?} lost its state");
        }
    }
}

/// The answer, sent again as a snapshot, gives the same endpoints, each the
/// same `Arc`.
fn check_resnapshot(answer: &Answer) {
    let Answer::Meshed(m) = answer else { return };
    let wire = |b: &weft_proxy::outbound::answer::Backend| pb::Backend {
        name: b.name.clone(),
        weight: b.weight,
        endpoints: b
            .endpoints
            .iter()
            .map(|e| pb::Endpoint {
                address: e.addr.to_string(),
                identity: e.id.as_ref().map(ToString::to_string).unwrap_or_default(),
                pod: String::new(),
                namespace: String::new(),
            })
            .collect(),
    };
    let snapshot = DiscoveryUpdate {
        kind: Some(Kind::Meshed(pb::Meshed {
            service: m.service.to_string(),
            protocol: if m.opaque {
                ProtocolHint::Opaque as i32
            } else {
                ProtocolHint::Detect as i32
            },
            root: Some(wire(&m.root)),
            split_backends: m.splits.iter().map(wire).collect(),
            split_matches: m.split_matches.clone(),
            routes: Vec::new(),
            route_backends: Vec::new(),
        })),
    };
    let again = apply(Some(answer), snapshot).expect("a snapshot always applies");
    let Answer::Meshed(again) = again else {
        panic!("a meshed snapshot gave {again:?}");
    };
    assert_eq!(again.opaque, m.opaque);
    assert_eq!(backends(&again).count(), backends(m).count());
    let unique: BTreeSet<Key> = backends(m)
        .flat_map(|b| &b.endpoints)
        .map(|e| (e.addr, e.id.clone()))
        .collect();
    let total = backends(m).map(|b| b.endpoints.len()).sum::<usize>();
    for (old, new) in backends(m).zip(backends(&again)) {
        assert_eq!(old.name, new.name);
        assert_eq!(old.weight, new.weight);
        assert_eq!(old.endpoints.len(), new.endpoints.len());
        for (a, b) in old.endpoints.iter().zip(&new.endpoints) {
            assert_eq!((a.addr, &a.id), (b.addr, &b.id));
            if unique.len() == total {
                assert!(Arc::ptr_eq(a, b), "endpoint {} lost its state", a.addr);
            }
        }
    }
}

fn check_wrr(wrr: &mut SmoothWrr, m: &Meshed) {
    let weights: Vec<u32> = m.splits.iter().map(|b| b.weight).collect();
    let eligible = |i: usize| !m.splits[i].endpoints.is_empty();
    let any = (0..weights.len()).any(|i| weights[i] > 0 && eligible(i));
    for _ in 0..3 {
        match wrr.pick(&weights, eligible) {
            Some(i) => assert!(weights[i] > 0 && eligible(i), "picked split {i}"),
            None => assert!(!any, "no pick with an eligible split"),
        }
    }
}
