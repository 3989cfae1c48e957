//! Writing the index's view of Gateway API routes into their
//! `status.parents` (the judging is [`Index::route_statuses`], pure).
//!
//! Like findings, statuses are recomputed when the index's objects change,
//! `settle` after the first change, so a burst is judged once it is whole.
//! Only routes whose status differs are written, each with a JSON merge
//! patch of the whole list carrying the resourceVersion it was computed
//! from: a route changed meanwhile (by another controller, or another
//! replica) refuses the write, and its change, arriving through the watch,
//! brings a new round.
//!
//! [`Index::route_statuses`]: crate::index::Index::route_statuses

use crate::index::{Kind, RouteStatusUpdate, SharedIndex};
use crate::kinds::read_resource;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use std::time::Duration;
use weft_k8s_api::gateway;
use weft_runtime::shutdown;

/// After sync, keeps the routes' status up to date until `stop`.
pub async fn run(
    index: SharedIndex,
    client: kube::Client,
    settle: Duration,
    stop: shutdown::Signal,
) {
    let mut changes = index.lock().expect("index lock").changes();
    let stopped = stop.wait();
    tokio::pin!(stopped);
    let mut told_forbidden = false;
    loop {
        changes.mark_unchanged();
        let now = Time(k8s_openapi::jiff::Timestamp::now());
        let updates = index.lock().expect("index lock").route_statuses(&now);
        for u in &updates {
            match write(&client, u).await {
                Ok(()) => {
                    tracing::debug!(kind = %u.kind, namespace = %u.namespace, name = %u.name, "route status written")
                }
                Err(kube::Error::Api(s)) if s.is_conflict() || s.is_not_found() => {
                    tracing::debug!(kind = %u.kind, namespace = %u.namespace, name = %u.name, "the route changed meanwhile; its status waits for the next round");
                }
                Err(kube::Error::Api(s)) if s.is_forbidden() => {
                    if !told_forbidden {
                        tracing::warn!(kind = %u.kind, "weft-controller may not write route status (its ClusterRole lacks httproutes/status, grpcroutes/status patch)");
                        told_forbidden = true;
                    }
                }
                Err(error) => {
                    tracing::warn!(kind = %u.kind, namespace = %u.namespace, name = %u.name, %error, "cannot write route status");
                }
            }
        }
        tokio::select! {
            r = changes.changed() => if r.is_err() { return },
            () = &mut stopped => return,
        }
        tokio::select! {
            () = tokio::time::sleep(settle) => {}
            () = &mut stopped => return,
        }
    }
}

async fn write(client: &kube::Client, u: &RouteStatusUpdate) -> Result<(), kube::Error> {
    let ar = match u.kind {
        Kind::HttpRoute => read_resource::<gateway::HTTPRoute>(gateway::VERSION),
        Kind::GrpcRoute => read_resource::<gateway::GRPCRoute>(gateway::VERSION),
        _ => return Ok(()),
    };
    let api = Api::<DynamicObject>::namespaced_with(client.clone(), &u.namespace, &ar);
    api.patch_status(&u.name, &PatchParams::default(), &Patch::Merge(patch(u)))
        .await
        .map(drop)
}

/// The merge patch: the whole list (merge patches replace lists), guarded
/// by the resourceVersion it was computed from.
fn patch(u: &RouteStatusUpdate) -> serde_json::Value {
    serde_json::json!({
        "metadata": {"resourceVersion": u.resource_version},
        "status": {"parents": u.parents},
    })
}

#[cfg(test)]
mod tests;
