//! The watch senders behind every subscription.

use super::canonical::OutKey;
use super::outbound::{self, Outbound};
use super::scope::Scope;
use super::store::{ObjKey, Store};
use super::{Config, Subscriptions, inbound};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::watch;
use weft_api::policy::InboundPolicyUpdate;

type Tx<T> = watch::Sender<Arc<T>>;
type Rx<T> = watch::Receiver<Arc<T>>;

#[derive(Default)]
pub(crate) struct Subs {
    inbound: BTreeMap<(ObjKey, u16), Tx<InboundPolicyUpdate>>,
    /// By destination and client namespace: consumer routes make one
    /// destination's answer differ between namespaces.
    outbound: BTreeMap<(OutKey, String), Tx<Outbound>>,
}

impl Subs {
    pub fn inbound_rx(&self, pod: &ObjKey, port: u16) -> Option<Rx<InboundPolicyUpdate>> {
        // The key is borrowed as a tuple, so a lookup needs an owned copy.
        self.inbound
            .get(&(pod.clone(), port))
            .map(watch::Sender::subscribe)
    }

    pub fn add_inbound(
        &mut self,
        pod: ObjKey,
        port: u16,
        value: InboundPolicyUpdate,
    ) -> Rx<InboundPolicyUpdate> {
        self.sweep();
        let (tx, rx) = watch::channel(Arc::new(value));
        self.inbound.insert((pod, port), tx);
        rx
    }

    pub fn outbound_rx(&self, key: &OutKey, client_ns: &str) -> Option<Rx<Outbound>> {
        self.outbound
            .get(&(key.clone(), client_ns.to_owned()))
            .map(watch::Sender::subscribe)
    }

    pub fn add_outbound(&mut self, key: OutKey, client_ns: &str, value: Outbound) -> Rx<Outbound> {
        self.sweep();
        let (tx, rx) = watch::channel(Arc::new(value));
        self.outbound.insert((key, client_ns.to_owned()), tx);
        rx
    }

    pub fn counts(&self) -> Subscriptions {
        Subscriptions {
            inbound: self.inbound.len(),
            outbound: self.outbound.len(),
        }
    }

    /// Drops senders nobody listens to. Run before adding one, so that the
    /// maps never outgrow the live subscriptions plus those dropped since.
    fn sweep(&mut self) {
        self.inbound.retain(|_, tx| tx.receiver_count() > 0);
        self.outbound.retain(|_, tx| tx.receiver_count() > 0);
    }

    /// Recomputes the subscriptions in `scope`, sending what changed.
    pub fn refresh(&mut self, store: &Store, cfg: &Config, scope: &Scope) {
        if scope.is_empty() {
            return;
        }
        self.inbound.retain(|(pod, port), tx| {
            if !scope.has_inbound(pod) {
                return true;
            }
            if tx.receiver_count() == 0 {
                return false;
            }
            // A pod that is gone or no longer meshed has no policy: dropping
            // the sender ends its streams.
            match inbound::policy(store, cfg, pod, *port, &mut Vec::new()) {
                Ok(p) => {
                    send_if_changed(tx, p);
                    true
                }
                Err(_) => false,
            }
        });
        self.outbound.retain(|(key, client_ns), tx| {
            if !scope.has_outbound(key) {
                return true;
            }
            if tx.receiver_count() == 0 {
                return false;
            }
            send_if_changed(tx, outbound::resolve(store, cfg, key, client_ns));
            true
        });
    }
}

fn send_if_changed<T: PartialEq>(tx: &Tx<T>, value: T) {
    tx.send_if_modified(|cur| {
        if **cur == value {
            return false;
        }
        *cur = Arc::new(value);
        true
    });
}
