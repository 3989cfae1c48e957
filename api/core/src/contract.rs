//! The mesh contract: every name that two weft components must agree on.
//!
//! The injector writes these names into pods, the proxy and `weft-proxy init`
//! read them, the controller and the CLI look for them. Nothing else in the
//! workspace spells these strings; import them from here.

/// Ports the sidecar listens on inside every meshed pod.
pub mod ports {
    /// Outbound listener (loopback only): the app's outgoing TCP is redirected here.
    pub const OUTBOUND: u16 = 4140;
    /// Inbound listener (all pod addresses): incoming TCP is redirected here.
    pub const INBOUND: u16 = 4143;
    /// Admin listener: `/live`, `/ready`, `/metrics`; mutating endpoints answer only on loopback.
    pub const ADMIN: u16 = 4191;
    /// The proxy's metrics for weft-controller alone: mTLS, the client must be
    /// the controller's SPIFFE id (TrafficMetrics are scraped from here).
    pub const PROXY_METRICS: u16 = 4192;
    /// Control-plane gRPC: weft-identity's Certify service.
    pub const IDENTITY_GRPC: u16 = 8080;
    /// Control-plane gRPC: weft-controller's policy and discovery services.
    pub const CONTROLLER_GRPC: u16 = 8090;
    /// weft-injector's HTTPS admission webhook.
    pub const INJECTOR_HTTPS: u16 = 8443;
    /// Admin port of the control-plane components (`/live`, `/ready`, `/metrics`).
    pub const CONTROL_PLANE_ADMIN: u16 = 9990;
    /// weft-controller's SMI metrics API (`metrics.smi-spec.io`), HTTPS for
    /// the kube-apiserver's aggregation layer.
    pub const METRICS_API: u16 = 6443;
    /// weft-controller replicas ask the metrics Lease holder for answers
    /// here (mTLS, controller id only).
    pub const METRICS_PEER: u16 = 6444;
    /// weft-controller's conversion webhook for the SMI CRDs, HTTPS for
    /// the kube-apiserver.
    pub const CONVERSION: u16 = 9443;
}

/// The user and group the proxy runs as. Its own traffic is exempt from
/// redirection, so application containers must never run as this UID.
pub mod proxy_user {
    pub const UID: u32 = 2102;
    pub const GID: u32 = 2102;
}

/// Names of the containers, volumes and mount paths the injector adds.
pub mod pod {
    /// The iptables init container.
    pub const INIT_CONTAINER: &str = "weft-init";
    /// The weft-init argument listing the inbound ports it leaves alone;
    /// weft-controller reads it back (an annotation could change later).
    pub const SKIP_INBOUND_PORTS_ARG: &str = "--skip-inbound-ports=";
    /// The proxy, a native sidecar (init container with `restartPolicy: Always`).
    pub const PROXY_CONTAINER: &str = "weft-proxy";
    /// Volume and mount path of the projected ServiceAccount token.
    pub const TOKEN_VOLUME: &str = "weft-identity-token";
    pub const TOKEN_DIR: &str = "/var/run/weft/identity";
    pub const TOKEN_FILE: &str = "token";
    /// Key of the PEM bundle in the control plane's trust-anchor ConfigMap
    /// (`weft-mesh-trust-anchors`). Proxies get the bundle in their
    /// environment (`WEFT_TRUST_ANCHORS`), never from a ConfigMap in their
    /// own namespace.
    pub const TRUST_ANCHORS_KEY: &str = "ca-bundle.pem";
    /// An emptyDir for the xtables lock of `weft-init`.
    pub const XTABLES_LOCK_VOLUME: &str = "weft-xtables-lock";
    pub const XTABLES_LOCK_DIR: &str = "/run";
}

/// The projected ServiceAccount token a proxy presents to weft-identity.
pub mod token {
    /// Audience the token is bound to; weft-identity's TokenReview asks for it.
    pub const AUDIENCE: &str = "weft-identity";
    /// Requested lifetime, in seconds. The API server refuses less than 600.
    pub const EXPIRATION_SECONDS: i64 = 3600;
    /// The API server's minimum for a projected token's lifetime.
    pub const MIN_EXPIRATION_SECONDS: i64 = 600;

    // The API server refuses shorter projected tokens: fail the build, not the pod.
    const _: () = assert!(EXPIRATION_SECONDS >= MIN_EXPIRATION_SECONDS);
}

/// ALPN protocol ids.
pub mod alpn {
    /// Offered and required on proxy-to-proxy mesh links; inbound TLS without
    /// it is not mesh traffic.
    pub const MESH: &[u8] = b"weft/1";
    /// HTTP/2 for control-plane gRPC.
    pub const H2: &[u8] = b"h2";
}

/// HTTP header names.
pub mod headers {
    /// Carries the verified client SPIFFE id to the application. Stripped
    /// from any request that did not arrive over a verified mesh link.
    pub const CLIENT_ID: &str = "weft-client-id";
    /// Reason code on a denied request (`no-traffic-target`, …).
    pub const DENY_REASON: &str = "weft-deny-reason";
    /// Request id on a denied request, also logged by the proxy.
    pub const REQUEST_ID: &str = "weft-request-id";
    /// On a response the proxy made itself (502, 503, 504): a short reason
    /// code from [`super::proxy_error`].
    pub const PROXY_ERROR: &str = "weft-proxy-error";
}

/// Reason codes sent in [`headers::PROXY_ERROR`].
pub mod proxy_error {
    /// 502: the destination could not be connected to (refused, unreachable,
    /// connect timeout, mesh TLS failed).
    pub const CONNECT_FAILED: &str = "connect-failed";
    /// 502: the destination closed or reset the request before answering.
    pub const UPSTREAM_FAILED: &str = "upstream-failed";
    /// 503: discovery has no usable endpoint (or no answer) for the destination.
    pub const UNAVAILABLE: &str = "unavailable";
    /// 504: no response headers within the request timeout.
    pub const TIMEOUT: &str = "timeout";
    /// 400: the request cannot be carried as written (an invalid `Host`).
    pub const BAD_REQUEST: &str = "bad-request";
    /// 404 (gRPC `UNIMPLEMENTED`): the destination has Gateway API routes
    /// and none matches the request.
    pub const NO_ROUTE: &str = "no-route";
    /// 500 (gRPC `UNAVAILABLE`): the matching route cannot be carried out:
    /// a backendRef weft cannot use, no backend, or a filter weft cannot
    /// apply.
    pub const BAD_ROUTE: &str = "bad-route";
}

/// Annotation and label keys under `weft.io/`.
pub mod annotations {
    /// `enabled` or `disabled`, on a namespace or a pod (template).
    pub const INJECT: &str = "weft.io/inject";
    pub const INJECT_ENABLED: &str = "enabled";
    pub const INJECT_DISABLED: &str = "disabled";
    /// Written by the injector: `injected` or `skipped: <reason>`.
    pub const INJECT_STATUS: &str = "weft.io/inject-status";
    /// Comma-separated ports whose inbound traffic bypasses the proxy.
    pub const SKIP_INBOUND_PORTS: &str = "weft.io/skip-inbound-ports";
    /// Comma-separated ports whose outbound traffic bypasses the proxy.
    pub const SKIP_OUTBOUND_PORTS: &str = "weft.io/skip-outbound-ports";
    /// Comma-separated CIDRs whose outbound traffic bypasses the proxy.
    pub const SKIP_OUTBOUND_CIDRS: &str = "weft.io/skip-outbound-cidrs";
    /// Comma-separated ports never inspected for a protocol.
    pub const OPAQUE_PORTS: &str = "weft.io/opaque-ports";
    /// Comma-separated ports always served as HTTP/1 or HTTP/2, never as
    /// opaque bytes (`opaque-ports` wins when both list a port).
    pub const HTTP_PORTS: &str = "weft.io/http-ports";
    /// `allow` or `deny`, on a namespace or a pod.
    pub const DEFAULT_POLICY: &str = "weft.io/default-policy";
    /// Comma-separated CIDRs whose unauthenticated clients are allowed.
    pub const ALLOW_UNAUTHENTICATED_FROM: &str = "weft.io/allow-unauthenticated-from";
    pub const PROXY_LOG_LEVEL: &str = "weft.io/proxy-log-level";
    pub const PROXY_CPU_REQUEST: &str = "weft.io/proxy-cpu-request";
    pub const PROXY_CPU_LIMIT: &str = "weft.io/proxy-cpu-limit";
    pub const PROXY_MEMORY_REQUEST: &str = "weft.io/proxy-memory-request";
    pub const PROXY_MEMORY_LIMIT: &str = "weft.io/proxy-memory-limit";
    /// Label opting a namespace out of the webhook entirely.
    pub const WEBHOOK_OPT_OUT_LABEL: &str = "weft.io/webhook";
}

/// Environment variables the injector sets on the proxy container and the
/// proxy parses (once, at start).
pub mod env {
    pub const POD_NAME: &str = "WEFT_POD_NAME";
    pub const POD_NAMESPACE: &str = "WEFT_POD_NAMESPACE";
    pub const POD_IPS: &str = "WEFT_POD_IPS";
    pub const SERVICE_ACCOUNT: &str = "WEFT_SERVICE_ACCOUNT";
    pub const TRUST_DOMAIN: &str = "WEFT_TRUST_DOMAIN";
    /// `host:port` of weft-identity.
    pub const IDENTITY_ADDR: &str = "WEFT_IDENTITY_ADDR";
    /// The SPIFFE id weft-identity must present.
    pub const IDENTITY_ID: &str = "WEFT_IDENTITY_ID";
    /// `host:port` of weft-controller.
    pub const CONTROLLER_ADDR: &str = "WEFT_CONTROLLER_ADDR";
    /// The SPIFFE id weft-controller must present.
    pub const CONTROLLER_ID: &str = "WEFT_CONTROLLER_ID";
    pub const TOKEN_FILE: &str = "WEFT_TOKEN_FILE";
    /// The PEM trust-anchor bundle itself, written by the injector.
    pub const TRUST_ANCHORS: &str = "WEFT_TRUST_ANCHORS";
    /// A file holding the bundle, read once at start (tests, and running
    /// a proxy by hand); `WEFT_TRUST_ANCHORS` wins when both are set.
    pub const TRUST_ANCHORS_FILE: &str = "WEFT_TRUST_ANCHORS_FILE";
    pub const INBOUND_ADDR: &str = "WEFT_INBOUND_ADDR";
    pub const OUTBOUND_ADDR: &str = "WEFT_OUTBOUND_ADDR";
    pub const ADMIN_ADDR: &str = "WEFT_ADMIN_ADDR";
    /// The mTLS listener only weft-controller may scrape.
    pub const METRICS_ADDR: &str = "WEFT_METRICS_ADDR";
    /// Tokio worker threads; the injector derives it from the CPU limit.
    pub const WORKER_THREADS: &str = "WEFT_WORKER_THREADS";
    /// The app containers' declared TCP ports (comma-separated): the proxy
    /// fetches their policy at start and is ready only once each has one.
    pub const INBOUND_PORTS: &str = "WEFT_INBOUND_PORTS";
    /// The app probes the proxy runs for the kubelet (JSON, see
    /// [`crate::probes`]).
    pub const APP_PROBES: &str = "WEFT_APP_PROBES";
    pub const LOG_LEVEL: &str = "WEFT_LOG";
    /// `plain` or `json`.
    pub const LOG_FORMAT: &str = "WEFT_LOG_FORMAT";
    /// Seconds to finish in-flight work after SIGTERM.
    pub const SHUTDOWN_GRACE: &str = "WEFT_SHUTDOWN_GRACE_SECONDS";
    /// How long an outbound HTTP request may wait for its response headers
    /// (`500ms`, `10s`, `2m`); unset or `0` means no limit.
    pub const REQUEST_TIMEOUT: &str = "WEFT_REQUEST_TIMEOUT";
    /// Limits (the proxy's `limits` module; defaults in its `--help`).
    pub const MAX_CONNECTIONS_INBOUND: &str = "WEFT_MAX_CONNECTIONS_INBOUND";
    pub const MAX_CONNECTIONS_OUTBOUND: &str = "WEFT_MAX_CONNECTIONS_OUTBOUND";
    pub const TCP_IDLE_TIMEOUT: &str = "WEFT_TCP_IDLE_TIMEOUT";
    pub const HTTP_IDLE_TIMEOUT: &str = "WEFT_HTTP_IDLE_TIMEOUT";
    pub const HTTP_HEADER_TIMEOUT: &str = "WEFT_HTTP_HEADER_TIMEOUT";
    pub const MAX_HEADER_BYTES: &str = "WEFT_MAX_HEADER_BYTES";
    pub const MAX_HEADERS: &str = "WEFT_MAX_HEADERS";
    pub const H2_MAX_STREAMS: &str = "WEFT_H2_MAX_STREAMS";
}

/// Names of the control plane.
pub mod control_plane {
    /// Default namespace of the control plane.
    pub const NAMESPACE: &str = "weft-system";
    /// ServiceAccounts (and so SPIFFE ids) of the control-plane components.
    pub const IDENTITY_SERVICE_ACCOUNT: &str = "weft-identity";
    pub const CONTROLLER_SERVICE_ACCOUNT: &str = "weft-controller";
    pub const INJECTOR_SERVICE_ACCOUNT: &str = "weft-injector";
    /// Default trust domain of SPIFFE ids.
    pub const DEFAULT_TRUST_DOMAIN: &str = "cluster.local";
    /// Default Kubernetes cluster domain.
    pub const DEFAULT_CLUSTER_DOMAIN: &str = "cluster.local";
}

/// Gateway API names weft writes.
pub mod gateway {
    /// `controllerName` of the route status entries weft-controller writes
    /// for the Services a route attaches to (GAMMA).
    pub const CONTROLLER_NAME: &str = "weft.io/gateway-controller";
}

/// The allowed inbound requests' shapes each proxy serves weft-controller
/// alone (`weft_proxy_observed_requests_total`).
pub mod observed_requests {
    /// A longer method (an extension token) is recorded as `*`, and the
    /// controller believes no longer one.
    pub const MAX_METHOD_LEN: usize = 32;
}

/// Reason codes sent in [`headers::DENY_REASON`].
pub mod deny_reason {
    /// No authorization names the client on a targeted (or `deny`) destination.
    pub const NO_TRAFFIC_TARGET: &str = "no-traffic-target";
    /// The client is authorized on the port but no route matches the request.
    pub const ROUTE_NOT_MATCHED: &str = "route-not-matched";
    /// The client presented no mesh identity and its network is not allowed.
    pub const UNAUTHENTICATED: &str = "unauthenticated";
    /// Policy for the port is not known yet (the proxy fails closed).
    pub const POLICY_UNAVAILABLE: &str = "policy-unavailable";

    pub const ALL: [&str; 4] = [
        NO_TRAFFIC_TARGET,
        ROUTE_NOT_MATCHED,
        UNAUTHENTICATED,
        POLICY_UNAVAILABLE,
    ];

    /// `s` as one of the codes above, or `None`: a value read off the wire
    /// becomes a metrics label only when it is one of these.
    pub fn known(s: &str) -> Option<&'static str> {
        ALL.into_iter().find(|c| *c == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_ports_are_distinct() {
        let mut all = [ports::OUTBOUND, ports::INBOUND, ports::ADMIN];
        all.sort_unstable();
        assert!(all.windows(2).all(|w| w[0] != w[1]), "{all:?}");
    }

    #[test]
    fn annotations_live_under_weft_io() {
        for key in [
            annotations::INJECT,
            annotations::SKIP_INBOUND_PORTS,
            annotations::SKIP_OUTBOUND_PORTS,
            annotations::SKIP_OUTBOUND_CIDRS,
            annotations::OPAQUE_PORTS,
            annotations::HTTP_PORTS,
            annotations::DEFAULT_POLICY,
            annotations::ALLOW_UNAUTHENTICATED_FROM,
            annotations::PROXY_LOG_LEVEL,
        ] {
            assert!(key.starts_with("weft.io/"), "{key}");
        }
    }
}
