use super::*;
use crate::outbound::route::tests::to;

fn backends(list: &[(&str, u32)]) -> Backends {
    let list: Vec<_> = list.iter().map(|(n, w)| to(n, *w)).collect();
    Backends::new(&list, Some(""), Arc::default())
}

fn picks(b: &Backends, n: usize, usable: impl Fn(&str) -> bool) -> Vec<Result<String, NoBackend>> {
    (0..n)
        .map(|_| b.choose(&usable).map(|b| b.name.to_string()))
        .collect()
}

fn count(picks: &[Result<String, NoBackend>], name: &str) -> usize {
    picks.iter().filter(|p| p.as_deref() == Ok(name)).count()
}

#[test]
fn shares_follow_the_weights_interleaved() {
    let b = backends(&[("a", 3), ("b", 1)]);
    let p = picks(&b, 8, |_| true);
    assert_eq!((count(&p, "a"), count(&p, "b")), (6, 2));
    assert_ne!(
        p[..4].iter().filter(|x| x.as_deref() == Ok("b")).count(),
        0,
        "b is not left to the end: {p:?}"
    );
}

#[test]
fn weight_zero_is_never_chosen() {
    let b = backends(&[("a", 0), ("b", 1)]);
    assert_eq!(count(&picks(&b, 10, |_| true), "b"), 10);
}

#[test]
fn no_weight_at_all_is_an_unusable_rule() {
    for list in [&[][..], &[("a", 0)], &[("a", 0), ("", 0)]] {
        assert_eq!(
            backends(list)
                .choose(|_| true)
                .map(|b| &*b.name)
                .unwrap_err(),
            NoBackend::NoneWeighted,
            "{list:?}"
        );
    }
}

#[test]
fn an_unusable_backend_ref_fails_its_share() {
    let b = backends(&[("a", 1), ("", 1)]);
    let p = picks(&b, 10, |_| true);
    assert_eq!(count(&p, "a"), 5);
    assert_eq!(
        p.iter().filter(|x| **x == Err(NoBackend::Invalid)).count(),
        5
    );
    // Even when the usable one has no endpoints: it is not handed over.
    let p = picks(&b, 4, |_| false);
    assert!(p.iter().all(|x| *x == Err(NoBackend::Invalid)), "{p:?}");
}

#[test]
fn a_backend_without_endpoints_is_passed_over() {
    let b = backends(&[("a", 9), ("b", 1)]);
    assert_eq!(count(&picks(&b, 5, |n| n == "b"), "b"), 5);
    assert_eq!(
        b.choose(|_| false).map(|b| &*b.name).unwrap_err(),
        NoBackend::NoEndpoint
    );
    // Once it has some again, it takes its share again.
    assert_eq!(count(&picks(&b, 10, |_| true), "a"), 9);
}

#[test]
fn the_state_is_shared_with_the_rule_that_replaces_this_one() {
    let first = backends(&[("a", 1), ("b", 1)]);
    assert_eq!(
        first.choose(|_| true).map(|b| b.name.to_string()),
        Ok("a".into())
    );
    let list = [to("a", 1), to("b", 1)];
    let next = Backends::new(&list, Some(""), first.state().clone());
    assert_eq!(
        next.choose(|_| true).map(|b| b.name.to_string()),
        Ok("b".into())
    );
}
