//! Listing the kinds `weft check` and `weft authz explain` read beyond the
//! snapshot, Gateway API's above all, whose CRDs a cluster may not have
//! (thin glue). Objects are read and decoded by the controller's own
//! sources ([`weft_controller::kinds`]), so the CLI sees what the
//! controller sees.

use anyhow::Context as _;
use kube::Client;
use weft_controller::{
    index::{Kind, Resource},
    kinds,
};

/// One kind, as the API server answered.
#[derive(Debug)]
pub enum Listing {
    /// The API server does not serve the kind (its CRD is not installed).
    NotServed,
    Listed {
        /// The objects that decode.
        objects: Vec<Resource>,
        /// Why the others do not (the controller skips them too).
        skipped: Vec<String>,
    },
}

impl Listing {
    /// The objects; none when the kind is not served.
    pub fn objects(self) -> Vec<Resource> {
        match self {
            Listing::NotServed => Vec::new(),
            Listing::Listed { objects, .. } => objects,
        }
    }
}

/// Every object of `kind` in the cluster. A kind the API server does not
/// serve is [`Listing::NotServed`]; any other failure (403 included) is an
/// error naming the kind.
pub async fn list(client: &Client, kind: Kind) -> anyhow::Result<Listing> {
    let source = kinds::sources(client)
        .into_iter()
        .find(|s| s.kind == kind)
        .with_context(|| format!("the controller reads no {kind}"))?;
    match source.list().await {
        Ok(read) => {
            let mut objects = Vec::new();
            let mut skipped = Vec::new();
            for o in read {
                match o.decoded {
                    Ok(r) => objects.push(r),
                    Err(e) => skipped.push(format!("skipped (the controller skips it too): {e}")),
                }
            }
            Ok(Listing::Listed { objects, skipped })
        }
        Err(kube::Error::Api(s)) if s.is_not_found() => Ok(Listing::NotServed),
        Err(e) => Err(anyhow::Error::new(e).context(format!("listing {kind}s"))),
    }
}

/// `weft check`'s Gateway API lines: the routes' status, then any
/// TrafficSplit a route overrides.
pub async fn check(client: &Client) -> Vec<crate::check::Line> {
    use crate::check::{Line, gateway};
    let fail = |e: anyhow::Error| {
        vec![Line::warn(
            gateway::CHECK,
            format!("{e:#}"),
            "weft check needs to list httproutes and grpcroutes (gateway.networking.k8s.io)",
        )]
    };
    let (http, grpc) = match (
        list(client, Kind::HttpRoute).await,
        list(client, Kind::GrpcRoute).await,
    ) {
        (Ok(h), Ok(g)) => (h, g),
        (Err(e), _) | (_, Err(e)) => return fail(e),
    };
    let served = !matches!((&http, &grpc), (Listing::NotServed, Listing::NotServed));
    let mut routes = http.objects();
    routes.extend(grpc.objects());
    let views: Vec<gateway::Route<'_>> = routes.iter().filter_map(gateway::Route::of).collect();
    let mut lines = vec![gateway::routes(served, &views)];
    if views.iter().all(|r| r.service_parents().is_empty()) {
        return lines;
    }
    // Whether a split loses to a route takes the Services, the splits and
    // the routes; the splits first, as most clusters with routes have none.
    let splits = match list(client, Kind::TrafficSplit).await {
        Ok(l) => l.objects(),
        Err(e) => return [lines, fail(e)].concat(),
    };
    if splits.is_empty() {
        return lines;
    }
    let services = match list(client, Kind::Service).await {
        Ok(l) => l.objects(),
        Err(e) => return [lines, fail(e)].concat(),
    };
    let findings = gateway::overridden_splits([routes, splits, services].concat());
    lines.extend(gateway::splits(&findings));
    lines
}

/// For `weft authz explain`: the Gateway API routes and ReferenceGrants
/// into `index` (the snapshot leaves them out), and the Service ports the
/// routes attach to. What cannot be read is said in `notes`, and the
/// answer is given without it.
pub async fn load(
    client: &Client,
    index: &mut weft_controller::index::Index,
    notes: &mut Vec<String>,
) -> Vec<crate::explain::gateway::Parent> {
    let mut routes = Vec::new();
    for kind in [Kind::HttpRoute, Kind::GrpcRoute, Kind::ReferenceGrant] {
        match list(client, kind).await {
            Ok(Listing::NotServed) => {}
            Ok(Listing::Listed { objects, skipped }) => {
                notes.extend(skipped);
                if kind != Kind::ReferenceGrant {
                    routes.extend(objects.iter().cloned());
                }
                index.reset(kind, objects);
            }
            Err(e) => notes.push(format!("{e:#}: the answer leaves Gateway API routes out")),
        }
    }
    if routes.is_empty() {
        return Vec::new();
    }
    // A parentRef without a port attaches to every port of its Service.
    match list(client, Kind::Service).await {
        Ok(l) => routes.extend(l.objects()),
        Err(e) => notes.push(format!(
            "{e:#}: routes whose parentRef names no port are left out"
        )),
    }
    crate::explain::gateway::parents(&routes)
}
