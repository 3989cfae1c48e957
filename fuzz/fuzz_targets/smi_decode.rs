//! `weft_k8s_api::decode`: the lenient decoding of SMI objects the
//! controller watches (TrafficTarget, HTTPRouteGroup, TCPRoute, UDPRoute,
//! TrafficSplit), in every older layout. Any user who may create these
//! objects writes them.
//!
//! Input: the object as JSON; each kind decodes it.
//!
//! Beyond "no panic": decoding is a normal form. An object decoded,
//! written out and decoded again is the same object (weights already in
//! thousandths, methods in upper case, header names in lower case).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use weft_k8s_api::access::TrafficTarget;
use weft_k8s_api::decode::Lenient;
use weft_k8s_api::specs::{HTTPRouteGroup, TCPRoute, UDPRoute};
use weft_k8s_api::split::TrafficSplit;

fuzz_target!(|data: &[u8]| {
    let Ok(obj) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    round_trip::<TrafficTarget>(&obj);
    round_trip::<HTTPRouteGroup>(&obj);
    round_trip::<TCPRoute>(&obj);
    round_trip::<UDPRoute>(&obj);
    round_trip::<TrafficSplit>(&obj);
});

fn round_trip<K: Lenient + Serialize + DeserializeOwned>(obj: &Value) {
    let Ok(decoded) = K::decode(obj) else {
        return;
    };
    let written = serde_json::to_value(&decoded).expect("a decoded object serialises");
    let again = match K::decode(&written) {
        Ok(k) => k,
        Err(e) => panic!("{}: decoded, written, and refused: {e}\n{written}", K::KIND),
    };
    let rewritten = serde_json::to_value(&again).expect("serialises");
    assert_eq!(written, rewritten, "{}: not a normal form", K::KIND);
}
