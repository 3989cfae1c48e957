use super::*;

fn parse(s: &str) -> Result<SpiffeId, IdError> {
    s.parse()
}

#[test]
fn parses_and_formats_a_workload_id() {
    let id = parse("spiffe://cluster.local/ns/shop/sa/web").unwrap();
    assert_eq!(id.trust_domain().as_str(), "cluster.local");
    assert_eq!(id.namespace(), "shop");
    assert_eq!(id.service_account(), "web");
    assert_eq!(id.to_string(), "spiffe://cluster.local/ns/shop/sa/web");
    assert_eq!(id.as_str(), id.to_string());
}

#[test]
fn constructor_and_parser_agree() {
    let built = SpiffeId::from_parts("cluster.local", "weft-system", "weft-identity").unwrap();
    let parsed = parse("spiffe://cluster.local/ns/weft-system/sa/weft-identity").unwrap();
    assert_eq!(built, parsed);
    assert_eq!(built.namespace(), "weft-system");
    assert_eq!(built.service_account(), "weft-identity");
    assert_eq!(parse(&built.to_string()).unwrap(), built);
}

#[test]
fn accepts_the_edges_of_each_rule() {
    // underscores are allowed in trust domains by SPIFFE, dots in SA names by Kubernetes
    parse("spiffe://my_td.example-1/ns/a/sa/b.c-d").unwrap();
    let ns = "a".repeat(63);
    parse(&format!("spiffe://td/ns/{ns}/sa/x")).unwrap();
    let sa = format!("{}.{}", "b".repeat(126), "c".repeat(126));
    assert_eq!(sa.len(), 253);
    parse(&format!("spiffe://td/ns/x/sa/{sa}")).unwrap();
    // "ns" and "sa" are valid names too
    parse("spiffe://td/ns/ns/sa/sa").unwrap();
}

#[test]
fn wrong_scheme() {
    for s in [
        "http://cluster.local/ns/a/sa/b",
        "SPIFFE://cluster.local/ns/a/sa/b",
        "spiffe:/cluster.local/ns/a/sa/b",
        "cluster.local/ns/a/sa/b",
        "",
    ] {
        assert_eq!(parse(s), Err(IdError::WrongScheme), "{s}");
    }
}

#[test]
fn empty_or_invalid_trust_domain() {
    assert_eq!(parse("spiffe:///ns/a/sa/b"), Err(IdError::EmptyTrustDomain));
    assert_eq!(
        parse("spiffe://Cluster.local/ns/a/sa/b"),
        Err(IdError::InvalidTrustDomain { found: 'C' })
    );
    assert_eq!(
        parse("spiffe://clu ster/ns/a/sa/b"),
        Err(IdError::InvalidTrustDomain { found: ' ' })
    );
    let long = "t".repeat(256);
    assert_eq!(
        parse(&format!("spiffe://{long}/ns/a/sa/b")),
        Err(IdError::TrustDomainTooLong { len: 256 })
    );
    assert_eq!("".parse::<TrustDomain>(), Err(IdError::EmptyTrustDomain));
}

#[test]
fn port_and_userinfo() {
    assert_eq!(parse("spiffe://td:443/ns/a/sa/b"), Err(IdError::Port));
    assert_eq!(parse("spiffe://user@td/ns/a/sa/b"), Err(IdError::UserInfo));
    assert_eq!(
        parse("spiffe://user:pw@td/ns/a/sa/b"),
        Err(IdError::UserInfo)
    );
}

#[test]
fn query_and_fragment() {
    assert_eq!(parse("spiffe://td/ns/a/sa/b?x=1"), Err(IdError::Query));
    assert_eq!(parse("spiffe://td?x/ns/a/sa/b"), Err(IdError::Query));
    assert_eq!(parse("spiffe://td/ns/a/sa/b#frag"), Err(IdError::Fragment));
}

#[test]
fn percent_encoding() {
    assert_eq!(
        parse("spiffe://td/ns/a/sa/%62"),
        Err(IdError::PercentEncoded)
    );
    assert_eq!(
        parse("spiffe://t%64/ns/a/sa/b"),
        Err(IdError::PercentEncoded)
    );
}

#[test]
fn path_shape() {
    assert_eq!(parse("spiffe://td"), Err(IdError::MissingPath));
    assert_eq!(parse("spiffe://td/"), Err(IdError::TrailingSlash));
    assert_eq!(parse("spiffe://td/ns/a/sa/b/"), Err(IdError::TrailingSlash));
    assert_eq!(parse("spiffe://td/ns//sa/b"), Err(IdError::EmptySegment));
    assert_eq!(parse("spiffe://td/ns/a/sa/./b"), Err(IdError::DotSegment));
    assert_eq!(parse("spiffe://td/ns/../sa/b"), Err(IdError::DotSegment));
    for s in [
        "spiffe://td/ns/a",
        "spiffe://td/ns/a/sa",
        "spiffe://td/sa/b/ns/a",
        "spiffe://td/namespace/a/sa/b",
        "spiffe://td/x/ns/a/sa/b",
        "spiffe://td/NS/a/sa/b",
    ] {
        assert_eq!(parse(s), Err(IdError::WrongPathShape), "{s}");
    }
    assert_eq!(
        parse("spiffe://td/ns/a/sa/b/extra"),
        Err(IdError::ExtraSegments)
    );
}

#[test]
fn invalid_namespace() {
    for ns in ["Shop", "shop_1", "-shop", "shop-", "sh.op"] {
        let err = parse(&format!("spiffe://td/ns/{ns}/sa/b")).unwrap_err();
        assert!(
            matches!(&err, IdError::InvalidNamespace { name, .. } if name == ns),
            "{ns}: {err}"
        );
    }
    let long = "a".repeat(64);
    assert!(matches!(
        parse(&format!("spiffe://td/ns/{long}/sa/b")),
        Err(IdError::InvalidNamespace { .. })
    ));
}

#[test]
fn invalid_service_account() {
    for sa in ["Web", "web_1", "-web", "web-", "web..x", ".web", "web."] {
        let err = SpiffeId::from_parts("td", "ns", sa).unwrap_err();
        assert!(
            matches!(&err, IdError::InvalidServiceAccount { name, .. } if name == sa),
            "{sa}: {err}"
        );
    }
    let long = "a".repeat(254);
    assert!(matches!(
        SpiffeId::from_parts("td", "ns", &long),
        Err(IdError::InvalidServiceAccount { .. })
    ));
    assert!(matches!(
        SpiffeId::from_parts("td", "ns", ""),
        Err(IdError::InvalidServiceAccount { .. })
    ));
}

#[test]
fn too_long() {
    let s = format!("spiffe://td/ns/a/sa/{}", "b".repeat(2100));
    assert_eq!(parse(&s), Err(IdError::TooLong { len: s.len() }));
}

#[test]
fn errors_read_well() {
    let err = parse("spiffe://td:1/ns/a/sa/b").unwrap_err();
    assert_eq!(err.to_string(), "SPIFFE id must not carry a port");
    let err = parse("spiffe://td/ns/A/sa/b").unwrap_err();
    assert!(err.to_string().contains("\"A\""), "{err}");
}
