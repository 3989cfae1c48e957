//! The `splice` slot's forwarder: the floor of any user-space hop. It
//! accepts what the sidecar rules redirect to it, reads where the app meant
//! to go (SO_ORIGINAL_DST) and copies bytes both ways. No TLS, no parsing,
//! no policy. It runs as the proxy UID, so its own dials are not redirected.

use anyhow::Context as _;
use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpStream};

pub async fn run(listen: Vec<SocketAddr>) -> anyhow::Result<String> {
    let mut tasks = Vec::new();
    for addr in listen {
        let l = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        tasks.push(tokio::spawn(accept(l)));
    }
    for t in tasks {
        t.await??;
    }
    Ok("{}".into())
}

async fn accept(l: TcpListener) -> anyhow::Result<()> {
    loop {
        let (c, _) = match l.accept().await {
            Ok(c) => c,
            // Out of descriptors under the idle load: keep serving the rest.
            Err(e) => {
                eprintln!("accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        tokio::spawn(async move {
            if let Err(e) = forward(c).await {
                eprintln!("forward: {e:#}");
            }
        });
    }
}

async fn forward(mut c: TcpStream) -> anyhow::Result<()> {
    let local = c.local_addr()?;
    let dst = socket2::SockRef::from(&c)
        .original_dst_v4()
        .context("SO_ORIGINAL_DST (was the connection redirected by iptables?)")?
        .as_socket()
        .context("original destination is not an IP address")?;
    // A connection made straight to the listener (a readiness probe) has
    // itself as original destination: dialling it would loop.
    if dst == local {
        return Ok(());
    }
    c.set_nodelay(true)?;
    let mut s = TcpStream::connect(dst)
        .await
        .with_context(|| format!("connecting to {dst}"))?;
    s.set_nodelay(true)?;
    tokio::io::copy_bidirectional(&mut c, &mut s).await?;
    Ok(())
}
