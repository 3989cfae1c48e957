//! Telling users what is wrong with their objects: Kubernetes Events on the
//! object itself (what `kubectl describe` shows) plus a log line.
//!
//! Two sources: objects that cannot be decoded at all (reported by the
//! watches) and the index's findings about valid objects that reference
//! something missing or invalid (reported after the initial sync, and
//! again whenever a new one appears after the objects change).

use crate::index::{Finding, Kind, SharedIndex};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use weft_runtime::shutdown;

/// One thing to tell about one object.
#[derive(Clone, Debug)]
pub struct Note {
    pub object: ObjectReference,
    pub warning: bool,
    pub reason: String,
    pub message: String,
}

/// Where watches and the findings loop send notes; a bounded queue, so a
/// slow API server drops notes (counted in the log) rather than memory.
#[derive(Clone, Debug)]
pub struct Feedback(mpsc::Sender<Note>);

/// The references of the objects the watches have seen, so an Event can
/// name the object's uid (`kubectl describe` matches Events by it).
#[derive(Clone, Debug, Default)]
pub struct Refs(Arc<Mutex<HashMap<RefKey, ObjectReference>>>);

/// Kind, namespace, name.
type RefKey = (Kind, Option<String>, String);

impl Refs {
    pub fn insert(&self, kind: Kind, r: ObjectReference) {
        let key = (
            kind,
            r.namespace.clone(),
            r.name.clone().unwrap_or_default(),
        );
        self.0.lock().expect("refs lock").insert(key, r);
    }

    pub fn remove(&self, kind: Kind, namespace: Option<&str>, name: &str) {
        self.0.lock().expect("refs lock").remove(&(
            kind,
            namespace.map(str::to_string),
            name.to_string(),
        ));
    }

    /// Forgets every object of `kind` (before a relist re-adds them).
    pub fn clear(&self, kind: Kind) {
        self.0
            .lock()
            .expect("refs lock")
            .retain(|(k, _, _), _| *k != kind);
    }

    fn get(&self, f: &Finding) -> ObjectReference {
        let key = (f.kind, f.namespace.clone(), f.name.clone());
        self.0
            .lock()
            .expect("refs lock")
            .get(&key)
            .cloned()
            .unwrap_or_else(|| ObjectReference {
                kind: Some(f.kind.as_str().into()),
                namespace: f.namespace.clone(),
                name: Some(f.name.clone()),
                ..Default::default()
            })
    }
}

impl Feedback {
    /// Starts the publisher; without a client (tests) notes are only logged.
    pub fn start(client: Option<kube::Client>, instance: String) -> Self {
        let (tx, mut rx) = mpsc::channel::<Note>(1024);
        let recorder = client.map(|c| {
            Recorder::new(
                c,
                Reporter {
                    controller: "weft-controller".into(),
                    instance: Some(instance),
                },
            )
        });
        tokio::spawn(async move {
            while let Some(note) = rx.recv().await {
                let Some(recorder) = &recorder else { continue };
                let event = Event {
                    type_: if note.warning {
                        EventType::Warning
                    } else {
                        EventType::Normal
                    },
                    reason: note.reason.clone(),
                    note: Some(note.message.clone()),
                    action: "Reconcile".into(),
                    secondary: None,
                };
                if let Err(error) = recorder.publish(&event, &note.object).await {
                    tracing::warn!(%error, reason = %note.reason, "cannot publish an Event");
                }
            }
        });
        Self(tx)
    }

    pub fn send(&self, note: Note) {
        tracing::warn!(
            kind = note.object.kind.as_deref().unwrap_or(""),
            namespace = note.object.namespace.as_deref().unwrap_or(""),
            name = note.object.name.as_deref().unwrap_or(""),
            reason = %note.reason,
            "{}",
            note.message
        );
        if self.0.try_send(note).is_err() {
            tracing::warn!(
                "the Event queue is full; an Event was dropped (the log line above stands)"
            );
        }
    }
}

/// After sync, publishes each new finding of the index once; a finding that
/// goes away and comes back is published again.
///
/// Findings are recomputed when the index's objects change ([`Index::changes`]),
/// `settle` after the first change and at most once per `settle`: a burst
/// (`kubectl apply -f` of a directory, a relist) is judged once it is
/// whole, so a TrafficTarget applied a moment before its route group gets
/// no Event, and at 10k pods the whole-store computation stays rare.
///
/// [`Index::changes`]: crate::index::Index::changes
pub async fn report_findings(
    index: SharedIndex,
    refs: Refs,
    feedback: Feedback,
    settle: Duration,
    stop: shutdown::Signal,
) {
    let mut changes = index.lock().expect("index lock").changes();
    let mut published: BTreeSet<Finding> = BTreeSet::new();
    let stopped = stop.wait();
    tokio::pin!(stopped);
    loop {
        changes.mark_unchanged();
        let now: BTreeSet<Finding> = index
            .lock()
            .expect("index lock")
            .findings()
            .into_iter()
            .collect();
        for f in now.difference(&published) {
            feedback.send(Note {
                object: refs.get(f),
                warning: true,
                reason: f.reason.to_string(),
                message: f.message.clone(),
            });
        }
        published = now;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{Config, Index, Resource};
    use k8s_openapi::api::core::v1::Namespace;

    const SETTLE: Duration = Duration::from_millis(100);
    const WAIT: Duration = Duration::from_secs(5);

    fn namespace(name: &str, default_policy: &str) -> Resource {
        Resource::Namespace(
            serde_json::from_value::<Namespace>(serde_json::json!({
                "metadata": {"name": name, "annotations": {"weft.io/default-policy": default_policy}}
            }))
            .unwrap(),
        )
    }

    /// The names of the objects noted within `within`.
    async fn noted(rx: &mut mpsc::Receiver<Note>, within: Duration) -> Vec<String> {
        let mut names = Vec::new();
        let deadline = tokio::time::Instant::now() + within;
        while let Ok(Some(n)) = tokio::time::timeout_at(deadline, rx.recv()).await {
            names.push(n.object.name.unwrap_or_default());
        }
        names
    }

    #[tokio::test]
    async fn findings_are_published_once_after_the_objects_settle() {
        let index: SharedIndex = Arc::new(Mutex::new(Index::new(Config::new(
            "cluster.local".parse().unwrap(),
        ))));
        index.lock().unwrap().apply(namespace("old", "bogus"));
        let (tx, mut rx) = mpsc::channel(16);
        let (_stop, signal) = shutdown::channel();
        tokio::spawn(report_findings(
            index.clone(),
            Refs::default(),
            Feedback(tx),
            SETTLE,
            signal,
        ));
        assert_eq!(noted(&mut rx, 5 * SETTLE).await, ["old"], "what sync found");

        index.lock().unwrap().apply(namespace("new", "bogus"));
        let first = tokio::time::timeout(WAIT, rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first.object.name.as_deref(), Some("new"));
        assert_eq!(first.reason, "InvalidAnnotation");
        assert!(first.warning);

        // Broken, seen by the reporter, and mended within one settling
        // time: nothing to tell.
        index.lock().unwrap().apply(namespace("brief", "bogus"));
        tokio::task::yield_now().await;
        index.lock().unwrap().apply(namespace("brief", "deny"));
        assert_eq!(noted(&mut rx, 5 * SETTLE).await, Vec::<String>::new());

        // Mended, then broken again: told again.
        index.lock().unwrap().apply(namespace("new", "deny"));
        assert_eq!(noted(&mut rx, 5 * SETTLE).await, Vec::<String>::new());
        index.lock().unwrap().apply(namespace("new", "bogus"));
        let again = tokio::time::timeout(WAIT, rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.object.name.as_deref(), Some("new"));
    }
}
