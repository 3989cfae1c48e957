//! `weft_proxy::config::parse`: the proxy's configuration from its
//! environment, through the injectable lookup. The injector writes it, but
//! a pod's own spec can override any variable.
//!
//! Input: text, one `NAME=value` per line (a later line wins). Seeds name
//! the real variables, so the fuzzer mostly varies their values.
//!
//! Beyond "no panic": an error names a variable the proxy reads; a parsed
//! configuration respects what `parse` promises (required values present
//! and trimmed, at least one pod IP, no port 0, 1 to 64 worker threads, no
//! zero timeout).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;
use weft_proxy::config::{VARIABLES, parse};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let env: HashMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
    match parse(&env) {
        Ok(cfg) => {
            let w = &cfg.workload;
            for v in [
                &w.pod_name,
                &w.namespace,
                &w.service_account,
                &cfg.identity.addr,
                &cfg.identity.id,
                &cfg.controller.addr,
                &cfg.controller.id,
            ] {
                assert!(!v.is_empty() && v.trim() == v, "required value {v:?}");
            }
            assert!(!w.pod_ips.is_empty());
            assert!(!cfg.inbound_ports.contains(&0));
            assert!((1..=64).contains(&cfg.worker_threads));
            assert!(cfg.request_timeout.is_none_or(|t| !t.is_zero()));
        }
        Err(e) => {
            assert!(
                VARIABLES.iter().any(|(name, _, _)| *name == e.name),
                "an error about {:?}, which the proxy does not read",
                e.name
            );
            // The message is what the proxy prints before exiting.
            let _ = e.to_string();
        }
    }
});
