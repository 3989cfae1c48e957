//! The kinds the index is built from and how each is read from the API
//! server: the one list that both the watches ([`crate::watches`]) and the
//! snapshot `weft authz explain` evaluates ([`crate::snapshot`]) go
//! through, so the two cannot disagree on which kinds exist or how an
//! object decodes.
//!
//! Kubernetes kinds are read typed. The SMI kinds are read as dynamic
//! objects at the version every CRD version is readable at (`READ_VERSION`,
//! so the API server prunes nothing weft needs) and decoded one object at a
//! time, so a malformed object is one error, never a failed list or watch.
//! The Gateway API kinds are read the same way; their CRDs are Gateway
//! API's, which a cluster may not have, so their sources are `optional`
//! (see [`crate::watches`]).

use crate::index::{Kind, Resource};
use crate::slim;
use futures::{FutureExt as _, StreamExt as _, future::BoxFuture, stream::BoxStream};
use k8s_openapi::api::{
    core::v1::{Namespace, Node, ObjectReference, Pod, Service, ServiceAccount},
    discovery::v1::EndpointSlice,
    networking::v1::ServiceCIDR,
};
use kube::{
    Api, Client, ResourceExt as _,
    api::{ApiResource, DynamicObject, ListParams},
    runtime::{WatchStreamExt as _, watcher},
};
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use weft_k8s_api::{
    access,
    decode::{self, DecodeError},
    gateway, specs, split,
};

/// Every kind the index is built from, in the order the snapshot lists
/// them.
pub fn sources(client: &Client) -> [Source; 15] {
    [
        // The cluster's networks (`index::networks`).
        typed::<Node>(client, Kind::Node, |n| Resource::Node(slim::node(n))),
        typed::<ServiceCIDR>(client, Kind::ServiceCidr, |c| {
            Resource::ServiceCidr(slim::service_cidr(c))
        }),
        typed::<Namespace>(client, Kind::Namespace, Resource::Namespace),
        typed::<Pod>(client, Kind::Pod, |p| Resource::Pod(slim::pod(p))),
        typed::<Service>(client, Kind::Service, Resource::Service),
        typed::<EndpointSlice>(client, Kind::EndpointSlice, Resource::EndpointSlice),
        typed::<ServiceAccount>(client, Kind::ServiceAccount, Resource::ServiceAccount),
        smi(
            client,
            Kind::TrafficTarget,
            read_resource::<access::TrafficTarget>(access::READ_VERSION),
            |o| decode::from_dynamic(o).map(Resource::TrafficTarget),
        ),
        smi(
            client,
            Kind::HttpRouteGroup,
            read_resource::<specs::HTTPRouteGroup>(specs::READ_VERSION),
            |o| decode::from_dynamic(o).map(Resource::HttpRouteGroup),
        ),
        smi(
            client,
            Kind::TcpRoute,
            read_resource::<specs::TCPRoute>(specs::READ_VERSION),
            |o| decode::from_dynamic(o).map(Resource::TcpRoute),
        ),
        smi(
            client,
            Kind::UdpRoute,
            read_resource::<specs::UDPRoute>(specs::READ_VERSION),
            |o| decode::from_dynamic(o).map(Resource::UdpRoute),
        ),
        smi(
            client,
            Kind::TrafficSplit,
            read_resource::<split::TrafficSplit>(split::READ_VERSION),
            |o| decode::from_dynamic(o).map(Resource::TrafficSplit),
        ),
        optional(
            client,
            Kind::HttpRoute,
            read_resource::<gateway::HTTPRoute>(gateway::VERSION),
            |o| decode::from_dynamic(o).map(Resource::HttpRoute),
        ),
        optional(
            client,
            Kind::GrpcRoute,
            read_resource::<gateway::GRPCRoute>(gateway::VERSION),
            |o| decode::from_dynamic(o).map(Resource::GrpcRoute),
        ),
        optional(
            client,
            Kind::ReferenceGrant,
            read_resource::<gateway::ReferenceGrant>(gateway::GRANT_VERSION),
            |o| decode::from_dynamic(o).map(Resource::ReferenceGrant),
        ),
    ]
}

/// `sources` without the kinds this API server does not serve: ServiceCIDR
/// is GA only since Kubernetes 1.33. A watch of a kind that is not served
/// would fail forever and hold the initial sync back.
pub async fn served(client: &Client, sources: impl IntoIterator<Item = Source>) -> Vec<Source> {
    let service_cidrs = match client
        .list_api_group_resources("networking.k8s.io/v1")
        .await
    {
        Ok(list) => list.resources.iter().any(|r| r.name == "servicecidrs"),
        Err(error) => {
            tracing::warn!(%error, "cannot tell whether ServiceCIDRs are served; not following them");
            false
        }
    };
    if !service_cidrs {
        tracing::info!(
            "this API server does not serve networking.k8s.io/v1 ServiceCIDR; the Service network comes from mesh.clusterNetworks only"
        );
    }
    sources
        .into_iter()
        .filter(|s| s.kind != Kind::ServiceCidr || service_cidrs)
        .collect()
}

/// The API resource of a custom kind at the version weft reads it at.
pub fn read_resource<K: kube::Resource<DynamicType = ()>>(version: &str) -> ApiResource {
    let mut ar = ApiResource::erase::<K>(&());
    ar.version = version.to_string();
    ar.api_version = format!("{}/{version}", ar.group);
    ar
}

/// One object as read, before the index sees it.
#[derive(Debug)]
pub struct Object {
    /// Names the object in an Event; `kubectl describe` matches Events by
    /// the uid it carries.
    pub reference: ObjectReference,
    /// The object as the index holds it, or why it cannot hold it.
    pub decoded: Result<Resource, DecodeError>,
}

/// What a watch reports, each object already read.
#[derive(Debug)]
pub enum Change {
    /// A list begins (the initial sync, or a relist after a watch expired
    /// or the API server restarted): the objects up to [`Change::ListDone`]
    /// replace every object of the kind.
    ListStart,
    Listed(Object),
    ListDone,
    Applied(Object),
    Deleted(ObjectReference),
}

/// One kind's objects on the API server. Both ways of reading them are lazy,
/// so building a `Source` asks nothing of the API server; a caller uses one
/// and drops the other.
pub struct Source {
    pub kind: Kind,
    /// The kind's CRD may be missing from the cluster: its absence is an
    /// empty list, not a failure (see [`crate::watches`]).
    pub optional: bool,
    list: BoxFuture<'static, Result<Vec<Object>, kube::Error>>,
    watch: BoxStream<'static, Result<Change, watcher::Error>>,
}

impl Source {
    /// Every object, once, as the API server holds them (what the snapshot
    /// reads).
    pub async fn list(self) -> Result<Vec<Object>, kube::Error> {
        self.list.await
    }

    /// A list, then every change, for as long as it is polled (what the
    /// watches read). A failed watch is an `Err` item and is retried with
    /// backoff; an expired one lists again. Objects arrive without their
    /// managed fields and kubectl's last-applied copy.
    pub fn watch(self) -> BoxStream<'static, Result<Change, watcher::Error>> {
        self.watch
    }

    fn new<K, D>(kind: Kind, api: Api<K>, api_version: String, decode: D) -> Self
    where
        K: kube::Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
        D: Fn(K) -> Result<Resource, DecodeError> + Copy + Send + Sync + 'static,
    {
        let list = {
            let (api, api_version) = (api.clone(), api_version.clone());
            async move {
                let list = api.list(&ListParams::default()).await?;
                Ok(list
                    .items
                    .into_iter()
                    .map(|o| read(kind, &api_version, o, decode))
                    .collect())
            }
            .boxed()
        };
        let watch = watcher(api, watcher::Config::default())
            .default_backoff()
            .map(move |event| event.map(|e| change(kind, &api_version, e, decode)))
            .boxed();
        Self {
            kind,
            optional: false,
            list,
            watch,
        }
    }

    /// A source replaying `changes`, for tests of what reads sources.
    #[cfg(test)]
    pub(crate) fn scripted(
        kind: Kind,
        optional: bool,
        changes: Vec<Result<Change, watcher::Error>>,
    ) -> Self {
        Self {
            kind,
            optional,
            list: futures::future::ready(Ok(Vec::new())).boxed(),
            watch: futures::stream::iter(changes).boxed(),
        }
    }
}

/// A Kubernetes kind, read typed; `wrap` makes it a [`Resource`].
fn typed<K>(client: &Client, kind: Kind, wrap: fn(K) -> Resource) -> Source
where
    K: kube::Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let api_version = K::api_version(&()).into_owned();
    Source::new(kind, Api::<K>::all(client.clone()), api_version, move |o| {
        Ok(wrap(o))
    })
}

/// An SMI kind, read as dynamic objects of `ar` and decoded one at a time.
fn smi(
    client: &Client,
    kind: Kind,
    ar: ApiResource,
    decode: fn(&DynamicObject) -> Result<Resource, DecodeError>,
) -> Source {
    let api = Api::<DynamicObject>::all_with(client.clone(), &ar);
    Source::new(kind, api, ar.api_version, move |o| decode(&o))
}

/// A kind of a CRD the cluster may not have, read like an SMI kind.
fn optional(
    client: &Client,
    kind: Kind,
    ar: ApiResource,
    decode: fn(&DynamicObject) -> Result<Resource, DecodeError>,
) -> Source {
    Source {
        optional: true,
        ..smi(client, kind, ar, decode)
    }
}

fn change<K: kube::Resource>(
    kind: Kind,
    api_version: &str,
    event: watcher::Event<K>,
    decode: impl Fn(K) -> Result<Resource, DecodeError>,
) -> Change {
    let slimmed = |mut o: K| {
        slim::strip_metadata(o.meta_mut());
        read(kind, api_version, o, &decode)
    };
    match event {
        watcher::Event::Init => Change::ListStart,
        watcher::Event::InitApply(o) => Change::Listed(slimmed(o)),
        watcher::Event::InitDone => Change::ListDone,
        watcher::Event::Apply(o) => Change::Applied(slimmed(o)),
        watcher::Event::Delete(o) => Change::Deleted(reference(kind, api_version, &o)),
    }
}

fn read<K: kube::Resource>(
    kind: Kind,
    api_version: &str,
    o: K,
    decode: impl Fn(K) -> Result<Resource, DecodeError>,
) -> Object {
    Object {
        reference: reference(kind, api_version, &o),
        decoded: decode(o),
    }
}

fn reference<K: kube::Resource>(kind: Kind, api_version: &str, o: &K) -> ObjectReference {
    ObjectReference {
        api_version: Some(api_version.into()),
        kind: Some(kind.as_str().into()),
        name: Some(o.name_any()),
        namespace: o.namespace(),
        uid: o.uid(),
        resource_version: o.resource_version(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn every_kind_of_the_index_is_read_once() {
        // Building the sources asks nothing of this (absent) API server.
        let config = kube::Config::new("http://127.0.0.1:1".parse().unwrap());
        let client = Client::try_from(config).unwrap();
        let kinds: Vec<Kind> = sources(&client).iter().map(|s| s.kind).collect();
        let mut distinct = kinds.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), kinds.len(), "{kinds:?}");
        for kind in [
            Kind::Pod,
            Kind::Service,
            Kind::EndpointSlice,
            Kind::Namespace,
            Kind::ServiceAccount,
            Kind::TrafficTarget,
            Kind::HttpRouteGroup,
            Kind::TcpRoute,
            Kind::UdpRoute,
            Kind::TrafficSplit,
            Kind::HttpRoute,
            Kind::GrpcRoute,
            Kind::ReferenceGrant,
        ] {
            assert!(kinds.contains(&kind), "{kind} is not read");
        }
        let optional: Vec<Kind> = sources(&client)
            .iter()
            .filter(|s| s.optional)
            .map(|s| s.kind)
            .collect();
        assert_eq!(
            optional,
            [Kind::HttpRoute, Kind::GrpcRoute, Kind::ReferenceGrant],
            "only Gateway API's CRDs may be missing"
        );
    }

    #[test]
    fn a_watched_object_arrives_slimmed_and_named() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web-0", "namespace": "shop", "uid": "u1", "resourceVersion": "7",
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "weft.io/x": "y"},
                "managedFields": [{"manager": "kubectl"}]}
        }))
        .unwrap();
        let wrap = |p: Pod| Ok(Resource::Pod(p));
        let Change::Applied(o) = change(Kind::Pod, "v1", watcher::Event::Apply(pod), wrap) else {
            panic!("an Apply is Applied");
        };
        assert_eq!(
            o.reference,
            ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: Some("web-0".into()),
                namespace: Some("shop".into()),
                uid: Some("u1".into()),
                resource_version: Some("7".into()),
                ..Default::default()
            }
        );
        let Ok(Resource::Pod(p)) = o.decoded else {
            panic!("{:?}", o.decoded);
        };
        assert!(p.metadata.managed_fields.is_none());
        assert_eq!(
            p.metadata
                .annotations
                .unwrap()
                .into_iter()
                .collect::<Vec<_>>(),
            [("weft.io/x".to_string(), "y".to_string())]
        );
    }

    #[test]
    fn a_malformed_smi_object_is_one_decode_error() {
        let ar = read_resource::<access::TrafficTarget>(access::READ_VERSION);
        let bad: DynamicObject = serde_json::from_value(json!({
            "apiVersion": ar.api_version, "kind": "TrafficTarget",
            "metadata": {"name": "t", "namespace": "shop"},
            "spec": {"destination": "not an object"}
        }))
        .unwrap();
        let tt = |o: DynamicObject| decode::from_dynamic(&o).map(Resource::TrafficTarget);
        let Change::Listed(o) = change(
            Kind::TrafficTarget,
            &ar.api_version,
            watcher::Event::InitApply(bad),
            tt,
        ) else {
            panic!("an InitApply is Listed");
        };
        assert!(o.decoded.is_err());
        assert_eq!(o.reference.kind.as_deref(), Some("TrafficTarget"));
        assert_eq!(o.reference.name.as_deref(), Some("t"));
    }
}
