//! weft's sidecar proxy.
//!
//! Configuration is read once from the environment (names in
//! `weft_api::contract::env`) into [`config::Config`]; nothing else reads the
//! environment.
//!
//! [`init`] is `weft-proxy init`, the `weft-init` init container that writes
//! the pod's iptables rules.

pub mod config;
pub mod init;
