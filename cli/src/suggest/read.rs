//! Reading the cluster for `weft policy suggest`: the dashboard's inputs,
//! once or repeatedly over a longer span than the metrics API's window.

use super::{Observed, Suggestion, suggest};
use crate::dashboard::{graph::Inputs, load::Cluster};
use std::time::Duration;

/// What to observe.
pub struct Request {
    /// Namespaces to read (every injected one when empty).
    pub namespaces: Vec<String>,
    /// A workload id (`<namespace>/<kind>/<name>`) to suggest for alone.
    pub only: Option<String>,
    /// Keep reading this long (zero: one read); the metrics API only keeps
    /// its own window, so reads are unioned.
    pub span: Duration,
    /// Time between reads.
    pub every: Duration,
}

/// Reads as `req` says, telling `progress` after each read, and suggests.
pub async fn observe(
    cluster: &Cluster,
    req: &Request,
    progress: &mut (dyn FnMut(&str) + Send),
) -> anyhow::Result<Suggestion> {
    let mut observed = Observed::default();
    let reads = if req.span.is_zero() {
        1
    } else {
        1 + (req.span.as_secs_f64() / req.every.as_secs_f64().max(1.0)).ceil() as usize
    };
    let mut last: Option<Inputs> = None;
    let mut notes = Vec::new();
    for i in 1..=reads {
        if i > 1 {
            tokio::time::sleep(req.every).await;
        }
        let (inputs, read_notes) = cluster.load_inputs(req.namespaces.clone()).await?;
        observed.add(&inputs);
        progress(&format!(
            "read {i}/{reads}: {} workload(s), {} edge measurement(s), window {}",
            inputs.workloads.len(),
            inputs.edges.len(),
            inputs.window
        ));
        notes = read_notes;
        last = Some(inputs);
    }
    let last = last.unwrap_or_default();
    let mut s = suggest(&observed, &last, req.only.as_deref());
    s.notes.extend(notes);
    Ok(s)
}
