//! The kube glue: one watcher per kind feeding the index.
//!
//! Kubernetes kinds are watched typed. The SMI kinds are watched as dynamic
//! objects at the version every CRD version is readable at (`READ_VERSION`,
//! so the API server prunes nothing weft needs) and decoded one object at a
//! time: a malformed object gets an Event, is left out of the index (as if
//! deleted, so a broken edit never keeps an old grant alive), and never
//! stalls the watch. A relist (watch expiry, API server restart) is buffered
//! and applied as one swap.

use crate::feedback::{Feedback, Note, Refs};
use crate::index::{Kind, Resource, SharedIndex};
use crate::slim;
use crate::sync::SyncTracker;
use futures::StreamExt as _;
use k8s_openapi::api::{
    core::v1::{Namespace, ObjectReference, Pod, Service, ServiceAccount},
    discovery::v1::EndpointSlice,
};
use kube::{
    Api, Client, ResourceExt as _,
    api::{ApiResource, DynamicObject},
    runtime::{WatchStreamExt as _, watcher},
};
use prometheus_client::{
    encoding::EncodeLabelSet, metrics::counter::Counter, metrics::family::Family,
    registry::Registry,
};
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use weft_k8s_api::{access, decode, specs, split};
use weft_runtime::shutdown;

/// Every kind the index is built from.
pub const KINDS: [Kind; 10] = [
    Kind::Namespace,
    Kind::Pod,
    Kind::Service,
    Kind::EndpointSlice,
    Kind::ServiceAccount,
    Kind::TrafficTarget,
    Kind::HttpRouteGroup,
    Kind::TcpRoute,
    Kind::UdpRoute,
    Kind::TrafficSplit,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Clone, Debug, Default)]
pub struct Metrics {
    events: Family<KindLabel, Counter>,
    rejected: Family<KindLabel, Counter>,
    relists: Family<KindLabel, Counter>,
}

impl Metrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "weft_controller_watch_events",
            "Objects applied to or deleted from the index, by kind",
            self.events.clone(),
        );
        registry.register(
            "weft_controller_objects_rejected",
            "Objects that could not be decoded and were left out, by kind",
            self.rejected.clone(),
        );
        registry.register(
            "weft_controller_relists",
            "Complete lists applied as one swap (initial sync, watch expiry, API server restart), by kind",
            self.relists.clone(),
        );
    }
}

/// What every watch shares.
#[derive(Clone)]
pub struct Ctx {
    pub index: SharedIndex,
    pub sync: SyncTracker,
    pub feedback: Feedback,
    pub refs: Refs,
    pub metrics: Metrics,
    pub stop: shutdown::Signal,
}

/// Starts a watch for every kind in [`KINDS`].
pub fn spawn_all(client: &Client, ctx: &Ctx) {
    let c = client;
    tokio::spawn(typed(
        Api::<Namespace>::all(c.clone()),
        Kind::Namespace,
        Resource::Namespace,
        ctx.clone(),
    ));
    tokio::spawn(typed(
        Api::<Pod>::all(c.clone()),
        Kind::Pod,
        |p| Resource::Pod(slim::pod(p)),
        ctx.clone(),
    ));
    tokio::spawn(typed(
        Api::<Service>::all(c.clone()),
        Kind::Service,
        Resource::Service,
        ctx.clone(),
    ));
    tokio::spawn(typed(
        Api::<EndpointSlice>::all(c.clone()),
        Kind::EndpointSlice,
        Resource::EndpointSlice,
        ctx.clone(),
    ));
    tokio::spawn(typed(
        Api::<ServiceAccount>::all(c.clone()),
        Kind::ServiceAccount,
        Resource::ServiceAccount,
        ctx.clone(),
    ));
    let smi = |ar: ApiResource| {
        (
            Api::<DynamicObject>::all_with(c.clone(), &ar),
            ar.api_version,
        )
    };
    tokio::spawn(dynamic(
        smi(read_resource::<access::TrafficTarget>(access::READ_VERSION)),
        Kind::TrafficTarget,
        |o| decode::from_dynamic(o).map(Resource::TrafficTarget),
        ctx.clone(),
    ));
    tokio::spawn(dynamic(
        smi(read_resource::<specs::HTTPRouteGroup>(specs::READ_VERSION)),
        Kind::HttpRouteGroup,
        |o| decode::from_dynamic(o).map(Resource::HttpRouteGroup),
        ctx.clone(),
    ));
    tokio::spawn(dynamic(
        smi(read_resource::<specs::TCPRoute>(specs::READ_VERSION)),
        Kind::TcpRoute,
        |o| decode::from_dynamic(o).map(Resource::TcpRoute),
        ctx.clone(),
    ));
    tokio::spawn(dynamic(
        smi(read_resource::<specs::UDPRoute>(specs::READ_VERSION)),
        Kind::UdpRoute,
        |o| decode::from_dynamic(o).map(Resource::UdpRoute),
        ctx.clone(),
    ));
    tokio::spawn(dynamic(
        smi(read_resource::<split::TrafficSplit>(split::READ_VERSION)),
        Kind::TrafficSplit,
        |o| decode::from_dynamic(o).map(Resource::TrafficSplit),
        ctx.clone(),
    ));
}

/// The API resource of an SMI kind at the version weft reads it at.
pub fn read_resource<K: kube::Resource<DynamicType = ()>>(version: &str) -> ApiResource {
    let mut ar = ApiResource::erase::<K>(&());
    ar.version = version.to_string();
    ar.api_version = format!("{}/{version}", ar.group);
    ar
}

async fn typed<K>(api: Api<K>, kind: Kind, wrap: fn(K) -> Resource, ctx: Ctx)
where
    K: kube::Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let api_version = K::api_version(&()).into_owned();
    run(
        api,
        kind,
        api_version,
        move |o: &K| Ok(wrap(o.clone())),
        ctx,
    )
    .await
}

async fn dynamic(
    (api, api_version): (Api<DynamicObject>, String),
    kind: Kind,
    decode: fn(&DynamicObject) -> Result<Resource, decode::DecodeError>,
    ctx: Ctx,
) {
    run(api, kind, api_version, decode, ctx).await
}

/// The one watch loop every kind runs.
async fn run<K, D>(api: Api<K>, kind: Kind, api_version: String, decode: D, ctx: Ctx)
where
    K: kube::Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    D: Fn(&K) -> Result<Resource, decode::DecodeError>,
{
    let label = KindLabel {
        kind: kind.as_str().into(),
    };
    let stream = watcher(api, watcher::Config::default()).default_backoff();
    tokio::pin!(stream);
    let stopped = ctx.stop.clone().wait();
    tokio::pin!(stopped);
    let mut relist: Option<Vec<Resource>> = None;
    loop {
        let event = tokio::select! {
            e = stream.next() => match e {
                Some(e) => e,
                None => return,
            },
            () = &mut stopped => return,
        };
        match event {
            Ok(watcher::Event::Init) => {
                relist = Some(Vec::new());
                ctx.refs.clear(kind);
            }
            Ok(watcher::Event::InitApply(mut o)) => {
                if let Some(r) = accept(kind, &api_version, &mut o, &decode, &ctx) {
                    relist.get_or_insert_with(Vec::new).push(r);
                }
            }
            Ok(watcher::Event::InitDone) => {
                let all = relist.take().unwrap_or_default();
                tracing::info!(kind = %kind, objects = all.len(), "list applied");
                ctx.index.lock().expect("index lock").reset(kind, all);
                ctx.metrics.relists.get_or_create(&label).inc();
                ctx.sync.done(kind);
            }
            Ok(watcher::Event::Apply(mut o)) => {
                ctx.metrics.events.get_or_create(&label).inc();
                match accept(kind, &api_version, &mut o, &decode, &ctx) {
                    Some(r) => ctx.index.lock().expect("index lock").apply(r),
                    None => remove(kind, &o, &ctx),
                }
            }
            Ok(watcher::Event::Delete(o)) => {
                ctx.metrics.events.get_or_create(&label).inc();
                remove(kind, &o, &ctx);
            }
            // The watcher retries with backoff; each failure is worth a line.
            Err(error) => tracing::warn!(kind = %kind, %error, "watch failed; retrying"),
        }
    }
}

/// Slims and decodes one object; a malformed one is reported and `None`.
fn accept<K, D>(kind: Kind, api_version: &str, o: &mut K, decode: &D, ctx: &Ctx) -> Option<Resource>
where
    K: kube::Resource,
    D: Fn(&K) -> Result<Resource, decode::DecodeError>,
{
    // Neither is read by the index; at 10k pods they are most of the bytes.
    let meta = o.meta_mut();
    meta.managed_fields = None;
    if let Some(a) = meta.annotations.as_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
    let reference = object_ref(kind, api_version, o);
    ctx.refs.insert(kind, reference.clone());
    match decode(o) {
        Ok(r) => Some(r),
        Err(e) => {
            ctx.metrics
                .rejected
                .get_or_create(&KindLabel {
                    kind: kind.as_str().into(),
                })
                .inc();
            ctx.feedback.send(Note {
                object: reference,
                warning: true,
                reason: "InvalidObject".into(),
                message: format!("weft ignores this object: {e}"),
            });
            None
        }
    }
}

fn remove<K: kube::Resource>(kind: Kind, o: &K, ctx: &Ctx) {
    let (ns, name) = (o.namespace(), o.name_any());
    ctx.refs.remove(kind, ns.as_deref(), &name);
    ctx.index
        .lock()
        .expect("index lock")
        .delete(kind, ns.as_deref(), &name);
}

fn object_ref<K: kube::Resource>(kind: Kind, api_version: &str, o: &K) -> ObjectReference {
    ObjectReference {
        api_version: Some(api_version.into()),
        kind: Some(kind.as_str().into()),
        name: Some(o.name_any()),
        namespace: o.namespace(),
        uid: o.uid(),
        resource_version: o.resource_version(),
        ..Default::default()
    }
}
