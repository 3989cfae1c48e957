//! Discovery.Watch: one destination's answer, a snapshot then diffs.

use super::{Shared, diff, queue};
use crate::index::Target;
use tonic::{Request, Response, Status};
use weft_api::discovery::{
    DiscoveryRequest, DiscoveryUpdate, discovery_request, discovery_server::Discovery,
};

pub struct DiscoveryService(pub(super) Shared);

#[tonic::async_trait]
impl Discovery for DiscoveryService {
    type WatchStream = queue::Stream<DiscoveryUpdate>;

    async fn watch(
        &self,
        req: Request<DiscoveryRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let peer = super::client_id(&req)?;
        let permit = self.0.cap.acquire(&peer)?;
        let r = req.into_inner();
        let target = match r.target {
            Some(discovery_request::Target::Address(a)) => Target::Address(
                a.parse()
                    .map_err(|e| Status::invalid_argument(format!("address {a:?}: {e}")))?,
            ),
            Some(discovery_request::Target::Authority(a)) => Target::Authority(a),
            None => return Err(Status::invalid_argument("no address or authority was sent")),
        };
        // Short names are expanded with the namespace the client's
        // certificate proves, not the one it claims.
        let source_ns = peer.namespace().to_string();
        let rx = self
            .0
            .index
            .lock()
            .expect("index lock")
            .outbound(target.clone(), &source_ns)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        tracing::debug!(client = %peer, ?target, "discovery stream");
        Ok(Response::new(self.0.forward(
            rx,
            Status::unavailable("the controller dropped this destination; subscribe again"),
            permit,
            diff::updates,
        )))
    }
}
