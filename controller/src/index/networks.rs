//! The networks inside the cluster: its nodes' pod CIDRs, its ServiceCIDRs
//! (the Service range the API server allocates from), and any the operator
//! adds. An address inside them that no known pod or Service has is a pod
//! or Service the controller has not seen yet, and must never be reached in
//! plaintext; an address outside them is the world. The store parses the
//! published ones when a node or ServiceCIDR changes.

use super::Config;
use super::store::Store;
use ipnet::IpNet;
use std::net::IpAddr;

/// Whether `ip` is inside the cluster's networks.
pub(crate) fn in_cluster(store: &Store, cfg: &Config, ip: IpAddr) -> bool {
    all(store, cfg).any(|n| n.contains(&ip))
}

/// Every network the index treats as inside the cluster.
pub(crate) fn all<'a>(store: &'a Store, cfg: &'a Config) -> impl Iterator<Item = IpNet> + 'a {
    cfg.cluster_networks
        .iter()
        .chain(&store.published_networks)
        .copied()
}
