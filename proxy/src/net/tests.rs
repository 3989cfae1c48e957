use super::*;

#[test]
fn only_the_wildcard_and_loopback_have_an_ipv6_twin() {
    let twin = |a: &str| ipv6_twin(a.parse().unwrap()).map(|t| t.to_string());
    assert_eq!(twin("0.0.0.0:4143").as_deref(), Some("[::]:4143"));
    assert_eq!(twin("127.0.0.1:4140").as_deref(), Some("[::1]:4140"));
    // Chosen addresses, and IPv6 ones, are bound as given.
    assert_eq!(twin("10.0.0.5:4143"), None);
    assert_eq!(twin("[::]:4143"), None);
    assert_eq!(twin("[::1]:4140"), None);
}

#[tokio::test]
async fn an_address_this_host_lacks_counts_as_no_ipv6() {
    // EADDRNOTAVAIL with an IPv6 stack, EAFNOSUPPORT without one.
    let e = listen("[fd00:dead:beef::1]:0".parse().unwrap()).unwrap_err();
    assert!(lacks_ipv6(&e), "{e}");
    assert!(!lacks_ipv6(&io::Error::from(io::ErrorKind::AddrInUse)));
}

#[tokio::test]
async fn loopback_is_bound_in_both_families_each_family_alone() {
    let l = listen_dual("127.0.0.1:0".parse().unwrap()).unwrap();
    assert!(l.bound[0].local_addr().unwrap().is_ipv4());
    match &l.no_ipv6 {
        // A namespace without `::1` (IPv6 disabled): IPv4 alone.
        Some(e) => {
            assert_eq!(l.bound.len(), 1);
            assert!(e.to_string().starts_with("[::1]:"), "{e}");
        }
        None => {
            assert_eq!(l.bound.len(), 2);
            let v6 = &l.bound[1];
            assert_eq!(v6.local_addr().unwrap().ip(), Ipv6Addr::LOCALHOST);
            assert!(socket2::SockRef::from(v6).only_v6().unwrap());
        }
    }
}

#[tokio::test]
async fn a_taken_ipv6_twin_is_an_error_naming_it() {
    // The wildcard needs no IPv6 address, only the IPv6 stack.
    let taken = listen("[::]:0".parse().unwrap()).unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = listen_dual(SocketAddr::from(([0, 0, 0, 0], port)))
        .err()
        .expect("the IPv6 port is taken");
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    assert!(
        err.to_string().starts_with(&format!("[::]:{port}: ")),
        "{err}"
    );
}
