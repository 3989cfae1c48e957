//! What crosses the bridge: every frame on a pod's veth, captured from the
//! node's side, to show what a peer on the network could read.

use super::mesh::{Node, in_ns};
use super::plane::WAIT;
use std::{
    io::Read as _,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

/// Captures every frame on the node side of `port` until `stop` is set.
pub fn capture(node: &Node, port: &str) -> (Arc<AtomicBool>, std::thread::JoinHandle<Vec<u8>>) {
    let stop = Arc::new(AtomicBool::new(false));
    let (dev, flag) = (port.to_string(), stop.clone());
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = in_ns(&node.ns.name, move || async move {
        // ETH_P_ALL, in network byte order.
        let sock = socket2::Socket::new(
            socket2::Domain::PACKET,
            socket2::Type::RAW,
            Some(socket2::Protocol::from(0x0003u16.to_be() as i32)),
        )
        .expect("a packet socket");
        sock.bind_device(Some(dev.as_bytes()))
            .expect("bind to the veth");
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        tx.send(()).unwrap();
        let mut all = Vec::new();
        let mut buf = [0u8; 65536];
        while !flag.load(Ordering::SeqCst) {
            if let Ok(n) = (&sock).read(&mut buf) {
                all.extend_from_slice(&buf[..n]);
            }
        }
        all
    });
    rx.recv_timeout(WAIT).expect("capture started");
    (stop, handle)
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
