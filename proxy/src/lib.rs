//! weft's sidecar proxy.
//!
//! Configuration is read once from the environment (names in
//! `weft_api::contract::env`) into [`config::Config`]; nothing else reads the
//! environment.
//!
//! The data plane is plain structs with explicit accept loops and a function
//! per connection: [`outbound`] (the app's connections, redirected to the
//! loopback listener) and [`inbound`] (connections to the pod), kept apart.
//! [`resolve`] answers where an outbound connection goes; [`sniff`] tells
//! mesh mTLS from everything else by the ClientHello's ALPN. [`scrape`]
//! serves the metrics to weft-controller alone, over mTLS.
//!
//! [`init`] is `weft-proxy init`, the `weft-init` init container that writes
//! the pod's iptables rules.

pub mod authz;
pub mod balance;
pub mod config;
pub mod detect;
pub mod discovery;
pub mod http;
pub mod inbound;
pub mod init;
pub mod metrics;
pub mod net;
pub mod outbound;
pub mod policy;
pub mod prefixed;
pub mod resolve;
pub mod scrape;
pub mod sniff;
pub mod tracker;
