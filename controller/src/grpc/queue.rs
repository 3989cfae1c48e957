//! Turning an index subscription into a gRPC response stream with a bounded
//! queue per stream.
//!
//! A proxy that stops reading must not make the controller hold an
//! ever-growing backlog. Each stream gets `capacity` messages of room; when
//! they are all taken, the stream ends with RESOURCE_EXHAUSTED (the one
//! slot kept back for it) and the proxy resubscribes, which gets it a fresh
//! snapshot instead of a backlog of stale diffs.

use prometheus_client::metrics::counter::Counter;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use weft_runtime::shutdown;

/// What a stream sends: items, or the status that ends it.
pub type Stream<T> = ReceiverStream<Result<T, Status>>;

/// The status a stream ends with when its client falls behind.
pub fn overflow_status() -> Status {
    Status::resource_exhausted(
        "this stream fell too far behind; subscribe again for a fresh snapshot",
    )
}

/// Forwards `rx` to a new stream: the current value first, then each change,
/// each turned into messages by `step(previous, current)`. Ends when the
/// client goes away, on shutdown (cleanly), when the subscription's sender
/// is dropped (with `gone`), or on overflow.
pub fn forward<V, T, F>(
    mut rx: watch::Receiver<Arc<V>>,
    capacity: usize,
    stop: shutdown::Signal,
    gone: Status,
    overflows: Counter,
    held: impl Send + 'static,
    mut step: F,
) -> Stream<T>
where
    V: Send + Sync + 'static,
    T: Send + 'static,
    F: FnMut(Option<&V>, &V) -> Vec<T> + Send + 'static,
{
    let (tx, out) = mpsc::channel(capacity.max(1) + 1);
    tokio::spawn(async move {
        // Released when this task ends, with the stream.
        let _held = held;
        let stopped = stop.wait();
        tokio::pin!(stopped);
        let mut last: Option<Arc<V>> = None;
        loop {
            let current = rx.borrow_and_update().clone();
            for item in step(last.as_deref(), &current) {
                if tx.capacity() <= 1 {
                    overflows.inc();
                    let _ = tx.try_send(Err(overflow_status()));
                    return;
                }
                if tx.try_send(Ok(item)).is_err() {
                    return;
                }
            }
            last = Some(current);
            tokio::select! {
                changed = rx.changed() => if changed.is_err() {
                    let _ = tx.try_send(Err(gone));
                    return;
                },
                () = tx.closed() => return,
                () = &mut stopped => return,
            }
        }
    });
    ReceiverStream::new(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_stream::StreamExt as _;

    fn whole(_: Option<&u32>, v: &u32) -> Vec<u32> {
        vec![*v]
    }

    #[tokio::test]
    async fn sends_the_current_value_then_each_change() {
        let (tx, rx) = watch::channel(Arc::new(1));
        let (_stop, signal) = shutdown::channel();
        let mut s = forward(
            rx,
            8,
            signal,
            Status::not_found("gone"),
            Counter::default(),
            (),
            whole,
        );
        assert_eq!(s.next().await.unwrap().unwrap(), 1);
        tx.send(Arc::new(2)).unwrap();
        assert_eq!(s.next().await.unwrap().unwrap(), 2);
        drop(tx);
        assert_eq!(
            s.next().await.unwrap().unwrap_err().code(),
            tonic::Code::NotFound
        );
        assert!(s.next().await.is_none());
    }

    #[tokio::test]
    async fn a_client_that_stops_reading_is_cut_off_with_resource_exhausted() {
        let (tx, rx) = watch::channel(Arc::new(0));
        let (_stop, signal) = shutdown::channel();
        let overflows = Counter::default();
        let mut s = forward(
            rx,
            3,
            signal,
            Status::not_found("gone"),
            overflows.clone(),
            (),
            whole,
        );
        for v in 1..=10 {
            // The forwarder lets go of the subscription once it gives up.
            tx.send_replace(Arc::new(v));
            // Let the forwarder see each value on its own.
            tokio::task::yield_now().await;
            tokio::task::yield_now().await;
        }
        let mut got = Vec::new();
        while let Some(item) = s.next().await {
            got.push(item);
        }
        let (ok, err): (Vec<_>, Vec<_>) = got.into_iter().partition(Result::is_ok);
        assert_eq!(ok.len(), 3, "exactly the queue's capacity is delivered");
        assert_eq!(err.len(), 1);
        assert_eq!(
            err[0].as_ref().unwrap_err().code(),
            tonic::Code::ResourceExhausted
        );
        assert_eq!(overflows.get(), 1);
    }

    #[tokio::test]
    async fn shutdown_ends_the_stream_cleanly() {
        let (_tx, rx) = watch::channel(Arc::new(1));
        let (stop, signal) = shutdown::channel();
        let mut s = forward(
            rx,
            8,
            signal,
            Status::not_found("gone"),
            Counter::default(),
            (),
            whole,
        );
        assert_eq!(s.next().await.unwrap().unwrap(), 1);
        stop.trigger();
        assert!(s.next().await.is_none(), "no error status on shutdown");
    }
}
