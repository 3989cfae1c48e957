//! weft's sidecar proxy.
//!
//! Configuration is read once from the environment (names in
//! `weft_api::contract::env`) into [`config::Config`]; nothing else reads the
//! environment.
//!
//! The data plane is plain structs with explicit accept loops and a function
//! per connection, by direction first:
//! - [`inbound`]: connections to the pod. Accept, mesh TLS termination,
//!   authorization ([`inbound::authz`]) against the controller's policy
//!   ([`inbound::policy`]), the HTTP server towards the app
//!   ([`inbound::http`]).
//! - [`outbound`]: the app's connections. Where they go
//!   ([`outbound::resolve`], answered by [`outbound::discovery`]), which
//!   endpoint ([`outbound::destination`], [`outbound::balance`]), reaching
//!   it ([`outbound::connect`]), the HTTP client over the mesh link
//!   ([`outbound::http`]).
//!
//! Neither direction imports the other; both build on the shared pieces
//! below them: the mesh link ([`mesh`]), protocol detection ([`detect`],
//! [`sniff`], [`prefixed`]), route matching ([`routes`]) on the normal path
//! ([`path`]), HTTP plumbing
//! ([`http`]), the one error type ([`error`]), [`metrics`] and sockets
//! ([`net`], [`tracker`]). [`scrape`] serves the metrics to weft-controller
//! alone, over mTLS, with the allowed requests' shapes ([`observed`]). [`probe`] runs the app's probes for the kubelet.
//!
//! [`init`] is `weft-proxy init`, the `weft-init` init container that writes
//! the pod's iptables rules.

pub mod config;
pub mod copy;
pub mod detect;
pub mod error;
pub mod http;
pub mod idle;
pub mod inbound;
pub mod init;
pub mod limits;
pub mod local;
pub mod mesh;
pub mod metrics;
pub mod net;
pub mod observed;
pub mod outbound;
pub mod path;
pub mod prefixed;
pub mod probe;
pub mod routes;
pub mod scrape;
pub mod sniff;
pub mod tracker;
