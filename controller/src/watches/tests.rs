use super::*;
use crate::index::{Config, Index};
use crate::kinds::Object;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::core::Status;
use std::sync::{Arc, Mutex};
use weft_k8s_api::gateway::HTTPRoute;

fn context(kind: Kind) -> (Ctx, shutdown::Trigger) {
    let (trigger, stop) = shutdown::channel();
    let index = Arc::new(Mutex::new(Index::new(Config::new(
        "cluster.local".parse().unwrap(),
    ))));
    let ctx = Ctx {
        index,
        sync: SyncTracker::new([kind]),
        feedback: Feedback::start(None, "test".into()),
        refs: Refs::default(),
        metrics: Metrics::default(),
        stop,
    };
    (ctx, trigger)
}

fn failed(code: u16) -> Result<Change, watcher::Error> {
    let status = Status::failure("nope", "Nope").with_code(code).boxed();
    Err(watcher::Error::InitialListFailed(kube::Error::Api(status)))
}

/// An HTTPRoute attached to a Service that does not exist, so that the
/// index, holding it, wants to write its status.
fn route() -> Object {
    let r: HTTPRoute = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"parentRefs": [{"group": "", "kind": "Service", "name": "web"}]}
    }))
    .unwrap();
    Object {
        reference: ObjectReference {
            kind: Some("HTTPRoute".into()),
            name: Some("web".into()),
            namespace: Some("shop".into()),
            ..Default::default()
        },
        decoded: Ok(Resource::HttpRoute(r)),
    }
}

fn routes_held(ctx: &Ctx) -> usize {
    let now = Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
    ctx.index.lock().unwrap().route_statuses(&now).len()
}

#[tokio::test]
async fn a_missing_optional_kind_is_an_empty_list_and_is_picked_up_later() {
    let (ctx, _stop) = context(Kind::HttpRoute);
    let script = vec![Ok(Change::ListStart), failed(404)];
    run(Source::scripted(Kind::HttpRoute, true, script), ctx.clone()).await;
    assert!(ctx.sync.is_synced(), "absence does not hold the sync back");
    assert_eq!(routes_held(&ctx), 0);

    let installed = vec![
        Ok(Change::ListStart),
        Ok(Change::Listed(route())),
        Ok(Change::ListDone),
    ];
    run(
        Source::scripted(Kind::HttpRoute, true, installed),
        ctx.clone(),
    )
    .await;
    assert_eq!(routes_held(&ctx), 1);

    // The CRD removed again: what was held goes.
    let removed = vec![Ok(Change::ListStart), failed(404)];
    run(
        Source::scripted(Kind::HttpRoute, true, removed),
        ctx.clone(),
    )
    .await;
    assert_eq!(routes_held(&ctx), 0);
}

#[tokio::test]
async fn a_forbidden_optional_kind_does_not_hold_the_sync_back_either() {
    let (ctx, _stop) = context(Kind::GrpcRoute);
    let script = vec![Ok(Change::ListStart), failed(403)];
    run(Source::scripted(Kind::GrpcRoute, true, script), ctx.clone()).await;
    assert!(ctx.sync.is_synced());
}

#[tokio::test]
async fn other_failures_and_required_kinds_still_hold_the_sync_back() {
    let (ctx, _stop) = context(Kind::HttpRoute);
    let script = vec![Ok(Change::ListStart), failed(500)];
    run(Source::scripted(Kind::HttpRoute, true, script), ctx.clone()).await;
    assert!(!ctx.sync.is_synced(), "a server error is not absence");

    let (ctx, _stop) = context(Kind::TrafficSplit);
    let script = vec![Ok(Change::ListStart), failed(404)];
    run(
        Source::scripted(Kind::TrafficSplit, false, script),
        ctx.clone(),
    )
    .await;
    assert!(!ctx.sync.is_synced(), "SMI's CRDs are weft's own: required");
}
