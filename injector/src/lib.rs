//! weft's mutating admission webhook.
//!
//! The heart is [`patch::patch_for`], a pure function from a pod, its
//! namespace's metadata and the injector's configuration to a JSON patch (or
//! the reason the pod is not injected). The webhook server and `weft inject`
//! in the CLI both call it.

pub mod annotations;
pub mod config;
pub mod containers;
pub mod decision;
pub mod namespaces;
pub mod patch;
pub mod probes;
pub mod review;
pub mod server;

pub use config::InjectConfig;
pub use decision::{NamespaceMeta, Reason};
pub use patch::{Injection, patch_for};
