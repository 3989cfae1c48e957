//! May this user read this? One SubjectAccessReview per request, shaped
//! like the one kube-apiserver would make for a built-in resource, so the
//! RBAC a user writes for `pods/edges` in `metrics.smi-spec.io` means what
//! it says.

use super::authn::User;
use super::routes::Route;
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};

/// Asks the API server whether `spec`'s user may do what it describes.
pub(super) async fn authorize(
    client: &kube::Client,
    spec: SubjectAccessReviewSpec,
) -> Result<bool, kube::Error> {
    let sar = SubjectAccessReview {
        spec,
        ..Default::default()
    };
    let api: Api<SubjectAccessReview> = Api::all(client.clone());
    let answer = api.create(&PostParams::default(), &sar).await?;
    Ok(answer.status.is_some_and(|s| s.allowed))
}

/// The SubjectAccessReview for a request, and how a denial reads.
pub(super) fn review(user: &User, path: &str, route: &Route) -> (SubjectAccessReviewSpec, String) {
    let mut spec = SubjectAccessReviewSpec {
        user: Some(user.name.clone()),
        groups: Some(user.groups.clone()),
        extra: (!user.extra.is_empty()).then(|| user.extra.clone()),
        ..Default::default()
    };
    let what = match route {
        Route::Metrics(q) => {
            let subresource = q.edges.then(|| "edges".to_string());
            let resource = match &subresource {
                Some(s) => format!("{}/{s}", q.kind.plural()),
                None => q.kind.plural().to_string(),
            };
            let what = match &q.namespace {
                Some(ns) => format!(
                    "{} resource {resource:?} in API group \"metrics.smi-spec.io\" in the namespace {ns:?}",
                    q.verb()
                ),
                None => format!(
                    "{} resource {resource:?} in API group \"metrics.smi-spec.io\"",
                    q.verb()
                ),
            };
            spec.resource_attributes = Some(ResourceAttributes {
                group: Some(weft_k8s_api::metrics::GROUP.into()),
                version: Some(weft_k8s_api::metrics::VERSION.into()),
                resource: Some(q.kind.plural().into()),
                subresource,
                namespace: q.namespace.clone(),
                name: q.name.clone(),
                verb: Some(q.verb().into()),
                ..Default::default()
            });
            what
        }
        _ => {
            spec.non_resource_attributes = Some(NonResourceAttributes {
                path: Some(path.to_string()),
                verb: Some("get".into()),
            });
            format!("get path {path:?}")
        }
    };
    (spec, what)
}
