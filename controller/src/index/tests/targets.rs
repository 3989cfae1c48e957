//! TrafficTargets as authorizations: bindings, sources and every rule kind.

use super::*;
use weft_api::policy::authorization::Rules;

fn api_pod() -> Resource {
    pod("shop", "api-0").sa("api").ip("10.1.0.5").into()
}

fn web_to_api() -> TtB {
    tt("shop", "web-to-api", "api").source("web", None)
}

#[test]
fn sources_become_spiffe_ids_defaulting_to_the_targets_namespace() {
    let mut ix = index_with([
        api_pod(),
        web_to_api()
            .source("batch", Some("jobs"))
            .rule("TCPRoute", "all", &[])
            .into(),
        tcp_route("shop", "all", &[]),
    ]);
    let p = policy(&mut ix, "shop", "api-0", 8080);
    assert!(p.targeted);
    let a = authz(&p, "traffictarget/shop/web-to-api/TCPRoute/all");
    assert_eq!(identities(a), [id("jobs", "batch"), id("shop", "web")]);
}

#[test]
fn two_traffic_targets_on_one_destination_are_a_union() {
    let mut ix = index_with([
        api_pod(),
        tcp_route("shop", "all", &[]),
        web_to_api().rule("TCPRoute", "all", &[]).into(),
        tt("shop", "admin-to-api", "api")
            .source("admin", None)
            .rule("TCPRoute", "all", &[])
            .into(),
    ]);
    let p = policy(&mut ix, "shop", "api-0", 8080);
    assert_eq!(
        names(&p),
        [
            "traffictarget/shop/admin-to-api/TCPRoute/all",
            "traffictarget/shop/web-to-api/TCPRoute/all",
        ]
    );
    assert_eq!(identities(&p.authorizations[0]), [id("shop", "admin")]);
    assert_eq!(identities(&p.authorizations[1]), [id("shop", "web")]);
}

#[test]
fn a_target_for_another_service_account_does_not_target_the_pod() {
    let mut ix = index_with([
        api_pod(),
        tt("shop", "to-db", "db")
            .source("api", None)
            .rule("TCPRoute", "all", &[])
            .into(),
        tcp_route("shop", "all", &[]),
    ]);
    let p = policy(&mut ix, "shop", "api-0", 8080);
    assert!(!p.targeted);
    assert!(p.authorizations.is_empty());
}

#[test]
fn a_target_in_another_namespace_does_not_bind_a_same_named_service_account() {
    let mut ix = index_with([
        api_pod(),
        tt("other", "to-api", "api")
            .rule("TCPRoute", "all", &[])
            .into(),
        tcp_route("other", "all", &[]),
    ]);
    assert!(!policy(&mut ix, "shop", "api-0", 8080).targeted);
}

fn api_routes() -> Resource {
    group("shop", "api-routes")
        .m("list", Some("/items"), &["get"], &[])
        .m("create", Some("/items"), &["POST"], &[])
        .m(
            "admin",
            Some("/admin/.*"),
            &["*"],
            &[("X-Admin", "yes|true")],
        )
        .into()
}

#[test]
fn a_rule_without_matches_covers_every_match_of_its_group() {
    let mut ix = index_with([
        api_pod(),
        api_routes(),
        web_to_api()
            .rule("HTTPRouteGroup", "api-routes", &[])
            .into(),
    ]);
    let p = policy(&mut ix, "shop", "api-0", 8080);
    let a = authz(
        &p,
        "traffictarget/shop/web-to-api/HTTPRouteGroup/api-routes",
    );
    assert_eq!(
        route_names(a),
        ["api-routes/list", "api-routes/create", "api-routes/admin"]
    );
}

#[test]
fn a_rule_with_matches_covers_only_those() {
    let mut ix = index_with([
        api_pod(),
        api_routes(),
        web_to_api()
            .rule("HTTPRouteGroup", "api-routes", &["create", "list"])
            .into(),
    ]);
    let p = policy(&mut ix, "shop", "api-0", 8080);
    let a = authz(
        &p,
        "traffictarget/shop/web-to-api/HTTPRouteGroup/api-routes",
    );
    assert_eq!(route_names(a), ["api-routes/create", "api-routes/list"]);
}

#[test]
fn routes_carry_path_methods_and_headers_in_the_proxys_form() {
    let mut ix = index_with([
        api_pod(),
        api_routes(),
        web_to_api()
            .rule("HTTPRouteGroup", "api-routes", &[])
            .into(),
    ]);
    let p = policy(&mut ix, "shop", "api-0", 8080);
    let Some(Rules::HttpRoutes(r)) = &p.authorizations[0].rules else {
        panic!("{:?}", p.authorizations[0]);
    };
    let list = &r.routes[0];
    assert_eq!(list.path_regex, "/items");
    assert_eq!(list.methods, ["GET"]);
    let admin = &r.routes[2];
    assert!(admin.methods.is_empty(), "`*` means any: {admin:?}");
    assert_eq!(admin.headers.len(), 1);
    assert_eq!(admin.headers[0].name, "x-admin");
    assert_eq!(admin.headers[0].value_regex, "yes|true");
}

#[test]
fn a_tcp_only_target_allows_all_traffic_http_included_on_its_ports() {
    let mut ix = index_with([
        api_pod(),
        tcp_route("shop", "web-ports", &[8080, 9090]),
        web_to_api().rule("TCPRoute", "web-ports", &[]).into(),
    ]);
    let p = policy(&mut ix, "shop", "api-0", 9090);
    let a = authz(&p, "traffictarget/shop/web-to-api/TCPRoute/web-ports");
    assert!(matches!(a.rules, Some(Rules::AllTraffic(_))), "{a:?}");
}

#[test]
fn a_tcp_route_does_not_allow_ports_it_does_not_list() {
    let mut ix = index_with([
        api_pod(),
        tcp_route("shop", "web-ports", &[9090]),
        web_to_api().rule("TCPRoute", "web-ports", &[]).into(),
    ]);
    let p = policy(&mut ix, "shop", "api-0", 8080);
    assert!(p.targeted, "the destination is still named");
    assert!(p.authorizations.is_empty(), "{:?}", names(&p));
}

#[test]
fn a_tcp_route_without_ports_covers_every_port() {
    let mut ix = index_with([
        api_pod(),
        tcp_route("shop", "any", &[]),
        web_to_api().rule("TCPRoute", "any", &[]).into(),
    ]);
    for port in [1, 8080, 65535] {
        let p = policy(&mut ix, "shop", "api-0", port);
        assert_eq!(p.authorizations.len(), 1, "port {port}");
    }
}

#[test]
fn a_rule_naming_a_tcp_route_match_checks_its_name() {
    let mut ix = index_with([
        api_pod(),
        tcp_route_named("shop", "db", "postgres", &[5432]),
        web_to_api().rule("TCPRoute", "db", &["postgres"]).into(),
        tt("shop", "typo", "api")
            .source("web", None)
            .rule("TCPRoute", "db", &["postgre"])
            .into(),
    ]);
    let p = policy(&mut ix, "shop", "api-0", 5432);
    assert!(
        authz(&p, "traffictarget/shop/web-to-api/TCPRoute/db")
            .rules
            .is_some()
    );
    assert_eq!(authz(&p, "traffictarget/shop/typo/TCPRoute/db").rules, None);
}

#[test]
fn a_mixed_target_needs_routes_for_http_and_allows_only_non_http_on_tcp_ports() {
    let mut ix = index_with([
        api_pod(),
        api_routes(),
        tcp_route("shop", "grpc-port", &[9090]),
        web_to_api()
            .rule("HTTPRouteGroup", "api-routes", &["list"])
            .rule("TCPRoute", "grpc-port", &[])
            .into(),
    ]);
    let p = policy(&mut ix, "shop", "api-0", 9090);
    let tcp = authz(&p, "traffictarget/shop/web-to-api/TCPRoute/grpc-port");
    assert!(
        matches!(tcp.rules, Some(Rules::OpaqueTraffic(_))),
        "{tcp:?}"
    );
    let http = authz(
        &p,
        "traffictarget/shop/web-to-api/HTTPRouteGroup/api-routes",
    );
    assert_eq!(route_names(http), ["api-routes/list"]);

    let p = policy(&mut ix, "shop", "api-0", 8080);
    assert_eq!(
        names(&p),
        ["traffictarget/shop/web-to-api/HTTPRouteGroup/api-routes"],
        "the TCPRoute does not cover 8080"
    );
}

#[test]
fn a_missing_route_group_fails_closed() {
    let mut ix = index_with([
        api_pod(),
        web_to_api().rule("HTTPRouteGroup", "nope", &[]).into(),
    ]);
    let p = policy(&mut ix, "shop", "api-0", 8080);
    assert!(p.targeted);
    let a = authz(&p, "traffictarget/shop/web-to-api/HTTPRouteGroup/nope");
    assert_eq!(a.rules, None);
}

#[test]
fn a_missing_match_fails_the_whole_rule_closed() {
    let mut ix = index_with([
        api_pod(),
        api_routes(),
        web_to_api()
            .rule("HTTPRouteGroup", "api-routes", &["list", "lsit"])
            .into(),
    ]);
    let p = policy(&mut ix, "shop", "api-0", 8080);
    assert_eq!(p.authorizations.len(), 1);
    assert_eq!(p.authorizations[0].rules, None);
}

#[test]
fn a_route_with_an_invalid_regex_fails_closed() {
    let mut ix = index_with([
        api_pod(),
        group("shop", "bad")
            .m("broken", Some("/items/(["), &[], &[])
            .into(),
        web_to_api().rule("HTTPRouteGroup", "bad", &[]).into(),
    ]);
    let p = policy(&mut ix, "shop", "api-0", 8080);
    assert_eq!(p.authorizations[0].rules, None);
}

#[test]
fn an_invalid_header_regex_fails_closed() {
    let mut ix = index_with([
        api_pod(),
        group("shop", "bad")
            .m("hdr", None, &[], &[("x-v", "a)")])
            .into(),
        web_to_api().rule("HTTPRouteGroup", "bad", &[]).into(),
    ]);
    let p = policy(&mut ix, "shop", "api-0", 8080);
    assert_eq!(p.authorizations[0].rules, None);
}

#[test]
fn a_rule_of_an_unknown_kind_fails_closed() {
    let mut ix = index_with([api_pod(), web_to_api().rule("GRPCRoute", "x", &[]).into()]);
    let p = policy(&mut ix, "shop", "api-0", 8080);
    let a = authz(&p, "traffictarget/shop/web-to-api/GRPCRoute/x");
    assert_eq!(a.rules, None);
}

#[test]
fn a_missing_tcp_route_fails_closed() {
    let mut ix = index_with([api_pod(), web_to_api().rule("TCPRoute", "x", &[]).into()]);
    let p = policy(&mut ix, "shop", "api-0", 8080);
    assert_eq!(p.authorizations[0].rules, None);
}

#[test]
fn a_failed_http_rule_keeps_tcp_ports_non_http_only() {
    let mut ix = index_with([
        api_pod(),
        tcp_route("shop", "all", &[]),
        web_to_api()
            .rule("HTTPRouteGroup", "nope", &[])
            .rule("TCPRoute", "all", &[])
            .into(),
    ]);
    let p = policy(&mut ix, "shop", "api-0", 8080);
    let tcp = authz(&p, "traffictarget/shop/web-to-api/TCPRoute/all");
    assert!(
        matches!(tcp.rules, Some(Rules::OpaqueTraffic(_))),
        "{tcp:?}"
    );
}

#[test]
fn a_udp_route_rule_authorises_its_ports_like_a_tcp_route() {
    let mut ix = index_with([
        api_pod(),
        udp_route("shop", "dns", &[53]),
        web_to_api().rule("UDPRoute", "dns", &[]).into(),
    ]);
    let p = policy(&mut ix, "shop", "api-0", 53);
    let a = authz(&p, "traffictarget/shop/web-to-api/UDPRoute/dns");
    assert!(matches!(a.rules, Some(Rules::AllTraffic(_))));
    assert!(
        policy(&mut ix, "shop", "api-0", 54)
            .authorizations
            .is_empty()
    );
}

#[test]
fn a_target_without_rules_targets_the_pod_and_allows_nothing() {
    let mut ix = index_with([api_pod(), web_to_api().into()]);
    let p = policy(&mut ix, "shop", "api-0", 8080);
    assert!(p.targeted);
    assert!(p.authorizations.is_empty());
}

#[test]
fn a_cross_namespace_destination_is_ignored() {
    let mut ix = index_with([
        api_pod(),
        tcp_route("other", "all", &[]),
        tt("other", "steal", "api")
            .dest_ns("shop")
            .source("thief", None)
            .rule("TCPRoute", "all", &[])
            .into(),
        tt("shop", "sneaky", "api")
            .dest_ns("elsewhere")
            .source("thief", None)
            .into(),
    ]);
    let p = policy(&mut ix, "shop", "api-0", 8080);
    assert!(!p.targeted);
    assert!(p.authorizations.is_empty());
}

#[test]
fn a_destination_namespace_equal_to_the_targets_own_binds() {
    let mut ix = index_with([
        api_pod(),
        tcp_route("shop", "all", &[]),
        web_to_api()
            .dest_ns("shop")
            .rule("TCPRoute", "all", &[])
            .into(),
    ]);
    assert!(policy(&mut ix, "shop", "api-0", 8080).targeted);
}

#[test]
fn a_destination_that_is_not_a_service_account_binds_nothing() {
    let mut ix = index_with([api_pod(), web_to_api().dest_kind("Pod").into()]);
    assert!(!policy(&mut ix, "shop", "api-0", 8080).targeted);
}

#[test]
fn a_legacy_destination_port_restricts_the_target_to_that_port() {
    let mut ix = index_with([
        api_pod(),
        tcp_route("shop", "all", &[]),
        web_to_api()
            .dest_port(8080)
            .rule("TCPRoute", "all", &[])
            .into(),
    ]);
    let on = policy(&mut ix, "shop", "api-0", 8080);
    assert!(on.targeted);
    assert_eq!(on.authorizations.len(), 1);
    let off = policy(&mut ix, "shop", "api-0", 9090);
    assert!(
        !off.targeted,
        "other ports are as if the target did not exist"
    );
    assert!(off.authorizations.is_empty());
}

#[test]
fn non_service_account_sources_are_skipped() {
    let mut ix = index_with([
        api_pod(),
        tcp_route("shop", "all", &[]),
        web_to_api()
            .source_kind("Group", "admins")
            .rule("TCPRoute", "all", &[])
            .into(),
    ]);
    let p = policy(&mut ix, "shop", "api-0", 8080);
    assert_eq!(identities(&p.authorizations[0]), [id("shop", "web")]);
}
