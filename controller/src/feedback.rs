//! Telling users what is wrong with their objects: Kubernetes Events on the
//! object itself (what `kubectl describe` shows) plus a log line.
//!
//! Two sources: objects that cannot be decoded at all (reported by the
//! watches) and the index's findings about valid objects that reference
//! something missing or invalid (reported after the initial sync, and
//! again whenever a new one appears).

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
pub async fn report_findings(
    index: SharedIndex,
    refs: Refs,
    feedback: Feedback,
    interval: Duration,
    stop: shutdown::Signal,
) {
    let mut published: BTreeSet<Finding> = BTreeSet::new();
    let mut tick = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.clone().wait() => return,
        }
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
    }
}
