//! InboundPolicy.Watch: a proxy's own pods' policy, whole objects.

use super::{Shared, queue};
use tonic::{Request, Response, Status};
use weft_api::policy::{
    InboundPolicyRequest, InboundPolicyUpdate, inbound_policy_server::InboundPolicy,
};

pub struct PolicyService(pub(super) Shared);

#[tonic::async_trait]
impl InboundPolicy for PolicyService {
    type WatchStream = queue::Stream<InboundPolicyUpdate>;

    async fn watch(
        &self,
        req: Request<InboundPolicyRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let peer = super::client_id(&req)?;
        let permit = self.0.cap.acquire(&peer)?;
        let r = req.into_inner();
        let port = u16::try_from(r.port)
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| {
                Status::invalid_argument(format!("port {} is not a TCP port", r.port))
            })?;
        let rx = {
            let mut index = self.0.index.lock().expect("index lock");
            match index.pod_identity(&r.namespace, &r.pod) {
                None => {
                    return Err(Status::not_found(format!(
                        "no meshed pod {}/{} is known",
                        r.namespace, r.pod
                    )));
                }
                // A proxy may read only the policy of pods that run as its
                // own identity: policy says who may reach a workload.
                Some(id) if id != peer.as_str() => {
                    tracing::warn!(client = %peer, namespace = %r.namespace, pod = %r.pod, "refused: another identity's pod");
                    return Err(Status::permission_denied(format!(
                        "{peer} may not watch the policy of pod {}/{}: it does not run as that identity",
                        r.namespace, r.pod
                    )));
                }
                Some(_) => {}
            }
            index
                .inbound(&r.namespace, &r.pod, port)
                .map_err(|e| Status::failed_precondition(e.to_string()))?
        };
        tracing::debug!(client = %peer, namespace = %r.namespace, pod = %r.pod, port, "inbound policy stream");
        Ok(Response::new(self.0.forward(
            rx,
            Status::not_found("the pod is gone or no longer meshed"),
            permit,
            |_, current: &InboundPolicyUpdate| vec![current.clone()],
        )))
    }
}
