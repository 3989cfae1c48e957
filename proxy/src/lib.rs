//! weft's sidecar proxy.
//!
//! Configuration is read once from the environment (names in
//! `weft_api::contract::env`) into [`config::Config`]; nothing else reads the
//! environment.

pub mod config;
