//! A one-shot list of everything the index is built from, decoded exactly
//! as the watches decode it: what `weft authz explain` evaluates, so its
//! answer is the policy a proxy would get from the controller.

use crate::{
    index::{Index, Kind, Resource},
    slim,
    watches::read_resource,
};
use k8s_openapi::api::{
    core::v1::{Namespace, Pod, Service, ServiceAccount},
    discovery::v1::EndpointSlice,
};
use kube::{
    Api, Client,
    api::{DynamicObject, ListParams},
};
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use weft_k8s_api::{access, decode, specs, split};

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
    let c = client;
    typed(
        Api::<Namespace>::all(c.clone()),
        Kind::Namespace,
        Resource::Namespace,
        index,
    )
    .await?;
    typed(
        Api::<Pod>::all(c.clone()),
        Kind::Pod,
        |p| Resource::Pod(slim::pod(p)),
        index,
    )
    .await?;
    typed(
        Api::<Service>::all(c.clone()),
        Kind::Service,
        Resource::Service,
        index,
    )
    .await?;
    typed(
        Api::<EndpointSlice>::all(c.clone()),
        Kind::EndpointSlice,
        Resource::EndpointSlice,
        index,
    )
    .await?;
    typed(
        Api::<ServiceAccount>::all(c.clone()),
        Kind::ServiceAccount,
        Resource::ServiceAccount,
        index,
    )
    .await?;
    let smi: [(Kind, kube::discovery::ApiResource, Decode); 5] = [
        (
            Kind::TrafficTarget,
            read_resource::<access::TrafficTarget>(access::READ_VERSION),
            |o| decode::from_dynamic(o).map(Resource::TrafficTarget),
        ),
        (
            Kind::HttpRouteGroup,
            read_resource::<specs::HTTPRouteGroup>(specs::READ_VERSION),
            |o| decode::from_dynamic(o).map(Resource::HttpRouteGroup),
        ),
        (
            Kind::TcpRoute,
            read_resource::<specs::TCPRoute>(specs::READ_VERSION),
            |o| decode::from_dynamic(o).map(Resource::TcpRoute),
        ),
        (
            Kind::UdpRoute,
            read_resource::<specs::UDPRoute>(specs::READ_VERSION),
            |o| decode::from_dynamic(o).map(Resource::UdpRoute),
        ),
        (
            Kind::TrafficSplit,
            read_resource::<split::TrafficSplit>(split::READ_VERSION),
            |o| decode::from_dynamic(o).map(Resource::TrafficSplit),
        ),
    ];
    for (kind, ar, decode) in smi {
        let list = Api::<DynamicObject>::all_with(c.clone(), &ar)
            .list(&ListParams::default())
            .await
            .map_err(|source| SnapshotError::List {
                kind: kind.as_str(),
                source,
            })?;
        let mut all = Vec::new();
        for o in &list.items {
            match decode(o) {
                Ok(r) => all.push(r),
                Err(e) => notes.push(format!("skipped (the controller skips it too): {e}")),
            }
        }
        index.reset(kind, all);
    }
    Ok(notes)
}

type Decode = fn(&DynamicObject) -> Result<Resource, decode::DecodeError>;

async fn typed<K>(
    api: Api<K>,
    kind: Kind,
    wrap: fn(K) -> Resource,
    index: &mut Index,
) -> Result<(), SnapshotError>
where
    K: kube::Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|source| SnapshotError::List {
            kind: kind.as_str(),
            source,
        })?;
    index.reset(kind, list.items.into_iter().map(wrap).collect());
    Ok(())
}
