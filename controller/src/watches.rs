//! The kube glue: one watcher per kind feeding the index.
//!
//! What each kind is and how it decodes is [`crate::kinds`]. Here: a
//! malformed object gets an Event, is left out of the index (as if deleted,
//! so a broken edit never keeps an old grant alive), and never stalls the
//! watch. A relist (watch expiry, API server restart) is buffered and
//! applied as one swap.
//!
//! An optional kind (Gateway API's, whose CRDs a cluster may lack) that the
//! API server does not serve (404), or that weft may not read (403), counts
//! as an empty list: it never holds the initial sync back, and any objects
//! held are dropped. The watcher keeps retrying with its backoff, so
//! installing the CRDs (or granting the rights) later is picked up by its
//! next list.

use crate::feedback::{Feedback, Note, Refs};
use crate::index::{Kind, Resource, SharedIndex};
use crate::kinds::{Change, Object, Source};
use crate::sync::SyncTracker;
use futures::StreamExt as _;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::watcher;
use prometheus_client::{
    encoding::EncodeLabelSet, metrics::counter::Counter, metrics::family::Family,
    registry::Registry,
};
use weft_runtime::shutdown;

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

/// Starts one watch per source, each feeding the index until `ctx.stop`.
pub fn spawn_all(sources: impl IntoIterator<Item = Source>, ctx: &Ctx) {
    for source in sources {
        tokio::spawn(run(source, ctx.clone()));
    }
}

/// The one watch loop every kind runs.
async fn run(source: Source, ctx: Ctx) {
    let kind = source.kind;
    let source_optional = source.optional;
    let label = KindLabel {
        kind: kind.as_str().into(),
    };
    let stream = source.watch();
    tokio::pin!(stream);
    let stopped = ctx.stop.clone().wait();
    tokio::pin!(stopped);
    let mut relist: Option<Vec<Resource>> = None;
    // Whether the kind's absence was told since it was last listed.
    let mut told_absent = false;
    loop {
        let change = tokio::select! {
            c = stream.next() => match c {
                Some(c) => c,
                None => return,
            },
            () = &mut stopped => return,
        };
        match change {
            Ok(Change::ListStart) => {
                relist = Some(Vec::new());
                ctx.refs.clear(kind);
            }
            Ok(Change::Listed(o)) => {
                if let Some(r) = accept(kind, o, &ctx) {
                    relist.get_or_insert_with(Vec::new).push(r);
                }
            }
            Ok(Change::ListDone) => {
                let all = relist.take().unwrap_or_default();
                tracing::info!(kind = %kind, objects = all.len(), "list applied");
                ctx.index.lock().expect("index lock").reset(kind, all);
                ctx.metrics.relists.get_or_create(&label).inc();
                ctx.sync.done(kind);
                told_absent = false;
            }
            Ok(Change::Applied(o)) => {
                ctx.metrics.events.get_or_create(&label).inc();
                let reference = o.reference.clone();
                match accept(kind, o, &ctx) {
                    Some(r) => ctx.index.lock().expect("index lock").apply(r),
                    None => remove(kind, &reference, &ctx),
                }
            }
            Ok(Change::Deleted(reference)) => {
                ctx.metrics.events.get_or_create(&label).inc();
                remove(kind, &reference, &ctx);
            }
            Err(error) if source_optional => match absence(&error) {
                Some(why) => {
                    if !told_absent {
                        tell_absent(kind, why);
                        told_absent = true;
                    }
                    relist = None;
                    ctx.index
                        .lock()
                        .expect("index lock")
                        .reset(kind, Vec::new());
                    ctx.sync.done(kind);
                }
                None => tracing::warn!(kind = %kind, %error, "watch failed; retrying"),
            },
            // The watcher retries with backoff; each failure is worth a line.
            Err(error) => tracing::warn!(kind = %kind, %error, "watch failed; retrying"),
        }
    }
}

/// Why a kind cannot be read at all, when that is the cluster's setup
/// rather than a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Absence {
    /// 404: the API server does not serve it (its CRD is not installed).
    NotServed,
    /// 403: weft's role does not allow reading it.
    Forbidden,
}

fn absence(error: &watcher::Error) -> Option<Absence> {
    let code = match error {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => match e {
            kube::Error::Api(status) => status.code,
            _ => return None,
        },
        watcher::Error::WatchError(status) => status.code,
        watcher::Error::NoResourceVersion => return None,
    };
    match code {
        404 => Some(Absence::NotServed),
        403 => Some(Absence::Forbidden),
        _ => None,
    }
}

fn tell_absent(kind: Kind, why: Absence) {
    match why {
        Absence::NotServed => tracing::info!(
            kind = %kind,
            "the API server does not serve {kind} (the Gateway API CRDs are not installed): weft applies none, and picks them up once installed"
        ),
        Absence::Forbidden => tracing::warn!(
            kind = %kind,
            "weft-controller may not list {kind}s (its ClusterRole lacks them): weft applies none until it may"
        ),
    }
}

/// Remembers the object's reference; a malformed object is reported and
/// `None`.
fn accept(kind: Kind, o: Object, ctx: &Ctx) -> Option<Resource> {
    ctx.refs.insert(kind, o.reference.clone());
    match o.decoded {
        Ok(r) => Some(r),
        Err(e) => {
            ctx.metrics
                .rejected
                .get_or_create(&KindLabel {
                    kind: kind.as_str().into(),
                })
                .inc();
            ctx.feedback.send(Note {
                object: o.reference,
                warning: true,
                reason: "InvalidObject".into(),
                message: format!("weft ignores this object: {e}"),
            });
            None
        }
    }
}

fn remove(kind: Kind, o: &ObjectReference, ctx: &Ctx) {
    let (ns, name) = (o.namespace.as_deref(), o.name.as_deref().unwrap_or(""));
    ctx.refs.remove(kind, ns, name);
    ctx.index.lock().expect("index lock").delete(kind, ns, name);
}

#[cfg(test)]
mod tests;
