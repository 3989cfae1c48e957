//! gRPC probes: `grpc.health.v1.Health/Check` over plaintext HTTP/2, as the
//! kubelet calls it; only `SERVING` passes.

use std::net::SocketAddr;
use weft_runtime::admin::ProbeResult;

/// `grpc.health.v1.HealthCheckRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct HealthCheckRequest {
    #[prost(string, tag = "1")]
    pub(super) service: String,
}

/// `grpc.health.v1.HealthCheckResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct HealthCheckResponse {
    #[prost(int32, tag = "1")]
    pub(super) status: i32,
}

const SERVING: i32 = 1;
const METHOD: &str = "/grpc.health.v1.Health/Check";

pub(super) async fn check(addr: SocketAddr, service: &str) -> ProbeResult {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| format!("the address {addr}: {e}"))?;
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| format!("connecting to {addr}: {e}"))?;
    let mut client = tonic::client::Grpc::new(channel);
    client
        .ready()
        .await
        .map_err(|e| format!("gRPC with {addr}: {e}"))?;
    let rsp: tonic::Response<HealthCheckResponse> = client
        .unary(
            tonic::Request::new(HealthCheckRequest {
                service: service.to_owned(),
            }),
            http::uri::PathAndQuery::from_static(METHOD),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .map_err(|s| {
            format!(
                "{addr} answered {METHOD} with {:?}: {}",
                s.code(),
                s.message()
            )
        })?;
    match rsp.into_inner().status {
        SERVING => Ok(()),
        other => Err(format!(
            "{addr} reports health status {}",
            status_name(other)
        )),
    }
}

fn status_name(status: i32) -> String {
    match status {
        0 => "UNKNOWN".into(),
        2 => "NOT_SERVING".into(),
        3 => "SERVICE_UNKNOWN".into(),
        n => n.to_string(),
    }
}
