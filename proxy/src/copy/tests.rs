use super::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, duplex};

/// Runs `bidirectional` between the far ends of two in-memory pipes; the
/// test drives the near ends.
fn spliced() -> (
    tokio::io::DuplexStream,
    tokio::io::DuplexStream,
    tokio::task::JoinHandle<io::Result<(u64, u64)>>,
) {
    let (left, mut a) = duplex(256 * 1024);
    let (right, mut b) = duplex(256 * 1024);
    let task = tokio::spawn(async move { bidirectional(&mut a, &mut b).await });
    (left, right, task)
}

#[tokio::test]
async fn bytes_cross_both_ways_intact_and_are_counted() {
    let (mut left, mut right, task) = spliced();
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let sent = big.clone();
    let writer = tokio::spawn(async move {
        left.write_all(&sent).await.unwrap();
        left.shutdown().await.unwrap();
        let mut back = Vec::new();
        left.read_to_end(&mut back).await.unwrap();
        back
    });
    let mut got = Vec::new();
    right.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, big, "left to right");
    right.write_all(b"answer").await.unwrap();
    right.shutdown().await.unwrap();
    assert_eq!(
        writer.await.unwrap(),
        b"answer",
        "right to left, after left's half-close"
    );
    assert_eq!(task.await.unwrap().unwrap(), (1_000_000, 6));
}

#[tokio::test]
async fn one_side_ending_leaves_the_other_direction_open() {
    let (mut left, mut right, task) = spliced();
    left.shutdown().await.unwrap();
    let mut none = Vec::new();
    right.read_to_end(&mut none).await.unwrap();
    assert!(none.is_empty());
    for _ in 0..3 {
        right.write_all(b"still here").await.unwrap();
        let mut got = [0u8; 10];
        left.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"still here");
    }
    assert!(
        !task.is_finished(),
        "the copy ends only when both directions have"
    );
    drop(right);
    assert_eq!(task.await.unwrap().unwrap(), (0, 30));
}

/// Steps one direction until it waits for its reader (it must not end).
async fn until_pending<R, W>(half: &mut Half, r: &mut R, w: &mut W)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    poll_fn(|cx| match half.poll_step(cx, r, w) {
        Poll::Pending => Poll::Ready(()),
        Poll::Ready(r) => panic!("ended early: {r:?}"),
    })
    .await;
}

#[tokio::test]
async fn a_busy_direction_reads_more_at_a_time_and_a_quiet_one_does_not() {
    let (mut from, mut r) = duplex(4 * MAX);
    let (mut w, mut to) = duplex(4 * MAX);
    let mut half = Half::new();
    // Small messages never fill the buffer: it stays at its start size.
    for _ in 0..10 {
        from.write_all(b"ping").await.unwrap();
        until_pending(&mut half, &mut r, &mut w).await;
        let mut got = [0u8; 4];
        to.read_exact(&mut got).await.unwrap();
    }
    assert_eq!(half.buf.len(), START);
    // A bulk transfer keeps filling it: it doubles up to the limit.
    from.write_all(&vec![7u8; 3 * MAX]).await.unwrap();
    let reader = tokio::spawn(async move {
        let mut got = vec![0u8; 3 * MAX];
        to.read_exact(&mut got).await.unwrap();
    });
    until_pending(&mut half, &mut r, &mut w).await;
    reader.await.unwrap();
    assert_eq!(half.buf.len(), MAX);
    assert_eq!(half.moved, 40 + 3 * MAX as u64);
}
