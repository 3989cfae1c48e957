//! The `weft` command line's logic, kept out of `main.rs` so it can be
//! tested without spawning the binary.

pub mod check;
pub mod cluster;
pub mod dashboard;
pub mod explain;
pub mod gateway;
pub mod inject;
pub mod stat;
pub mod suggest;
pub mod uninstall;
