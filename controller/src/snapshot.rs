//! A one-shot list of everything the index is built from, decoded exactly
//! as the watches decode it (both read [`crate::kinds`]): what
//! `weft authz explain` evaluates, so its answer is the policy a proxy
//! would get from the controller.

use crate::index::{Index, Kind};
use crate::kinds;
use kube::Client;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("listing {kind}: {source}")]
    List {
        kind: &'static str,
        #[source]
        source: kube::Error,
    },
}

/// Lists every kind into `index`; objects that do not decode are skipped and
/// described in the returned notes (the controller would skip them too).
pub async fn load(client: &Client, index: &mut Index) -> Result<Vec<String>, SnapshotError> {
    let mut notes = Vec::new();
    // The cluster's networks matter only to discovery, never to the inbound
    // policy `weft authz explain` evaluates, and listing nodes would need
    // rights its users may not have. Gateway API's CRDs may not be
    // installed: explain lists routes itself, treating absent CRDs as no
    // routes.
    let inbound = kinds::sources(client).into_iter().filter(|s| {
        !matches!(
            s.kind,
            Kind::Node
                | Kind::ServiceCidr
                | Kind::HttpRoute
                | Kind::GrpcRoute
                | Kind::ReferenceGrant
        )
    });
    for source in inbound {
        let kind = source.kind;
        let objects = source.list().await.map_err(|source| SnapshotError::List {
            kind: kind.as_str(),
            source,
        })?;
        let mut all = Vec::new();
        for o in objects {
            match o.decoded {
                Ok(r) => all.push(r),
                Err(e) => notes.push(format!("skipped (the controller skips it too): {e}")),
            }
        }
        index.reset(kind, all);
    }
    Ok(notes)
}
