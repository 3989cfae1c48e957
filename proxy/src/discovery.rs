//! The controller's Discovery, asked once per outbound connection.
//!
//! This is the first cut: one Watch per connection, its first answer used,
//! a random endpoint of the root Service chosen. Sharing subscriptions,
//! following diffs, balancing and TrafficSplit weights come with the
//! discovery-and-balancing part; the [`Resolve`] seam stays the same.

use crate::resolve::{Resolution, Resolve};
use std::{net::SocketAddr, time::Duration};
use tonic::transport::Channel;
use weft_api::discovery::{
    DiscoveryRequest, Meshed, ProtocolHint, discovery_client::DiscoveryClient, discovery_request,
    discovery_update::Kind,
};

pub struct DiscoveryResolver {
    client: DiscoveryClient<Channel>,
    source_namespace: String,
    /// How long to wait for an answer before refusing (never plaintext).
    wait: Duration,
}

impl DiscoveryResolver {
    pub fn new(channel: Channel, source_namespace: String, wait: Duration) -> Self {
        Self {
            client: DiscoveryClient::new(channel),
            source_namespace,
            wait,
        }
    }
}

impl Resolve for DiscoveryResolver {
    async fn resolve(&self, dst: SocketAddr) -> Resolution {
        let req = DiscoveryRequest {
            target: Some(discovery_request::Target::Address(dst.to_string())),
            source_namespace: self.source_namespace.clone(),
        };
        let mut client = self.client.clone();
        let first = tokio::time::timeout(self.wait, async move {
            client.watch(req).await?.into_inner().message().await
        })
        .await;
        match first {
            Ok(Ok(Some(update))) => match update.kind {
                Some(Kind::Meshed(m)) => choose(m, dst),
                Some(Kind::NotMeshed(_)) => Resolution::Passthrough,
                Some(Kind::Unavailable(u)) => Resolution::Refuse(u.reason),
                other => Resolution::Refuse(format!("unexpected first answer {other:?}")),
            },
            Ok(Ok(None)) => Resolution::Refuse("discovery ended without an answer".into()),
            Ok(Err(status)) => Resolution::Refuse(format!("discovery failed: {status}")),
            Err(_) => {
                Resolution::Refuse(format!("discovery did not answer within {:?}", self.wait))
            }
        }
    }
}

/// A random ready endpoint of the root. An endpoint without an identity is
/// not meshed: the original destination is used as it is.
pub fn choose(m: Meshed, dst: SocketAddr) -> Resolution {
    let opaque = m.protocol() == ProtocolHint::Opaque;
    let endpoints = m.root.map(|r| r.endpoints).unwrap_or_default();
    if endpoints.is_empty() {
        return Resolution::Refuse(format!("{} has no ready endpoints", m.service));
    }
    let e = &endpoints[rand::random_range(0..endpoints.len())];
    if e.identity.is_empty() {
        return Resolution::Passthrough;
    }
    match (e.address.parse(), e.identity.parse()) {
        (Ok(addr), Ok(id)) => Resolution::Mesh { addr, id, opaque },
        _ => Resolution::Refuse(format!(
            "discovery gave an unusable endpoint for {dst}: {e:?}"
        )),
    }
}
