//! Listing what the checks judge (thin kube glue).

use super::{
    Line, certificate, cluster_networks, crd, deployment, kubernetes_version, proxies_ready,
    proxy_trust::{self, ProxyTrust},
    udp_ports, unmeshed_pods,
};
use k8s_openapi::api::{
    apps::v1::Deployment,
    authorization::v1::{ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec},
    core::v1::{ConfigMap, Namespace, Node, Pod, Secret},
    networking::v1::ServiceCIDR,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{
    Api, Client,
    api::{ListParams, PostParams},
};
use weft_api::contract::ports;
use weft_controller::kinds::read_resource;
use weft_k8s_api::{access, specs, split};

/// The control plane's Deployments, as the chart names them.
const DEPLOYMENTS: [&str; 3] = ["weft-identity", "weft-controller", "weft-injector"];

/// Before installing: can weft run here, and may this user install it.
pub async fn pre(client: &Client) -> Vec<Line> {
    let mut lines = Vec::new();
    match client.apiserver_version().await {
        Ok(v) => {
            lines.push(Line::pass(
                "API server",
                format!("reachable, {}", v.git_version),
            ));
            lines.push(kubernetes_version(&v.major, &v.minor));
        }
        Err(e) => {
            lines.push(Line::fail(
                "API server",
                format!("not reachable: {e}"),
                "check KUBECONFIG and the current context (kubectl cluster-info)",
            ));
            return lines;
        }
    }
    for (verb, group, resource, ns) in [
        ("create", "", "namespaces", None),
        (
            "create",
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            None,
        ),
        ("create", "rbac.authorization.k8s.io", "clusterroles", None),
        (
            "create",
            "rbac.authorization.k8s.io",
            "clusterrolebindings",
            None,
        ),
        (
            "create",
            "admissionregistration.k8s.io",
            "mutatingwebhookconfigurations",
            None,
        ),
        ("create", "apps", "deployments", Some("weft-system")),
        ("create", "", "secrets", Some("weft-system")),
    ] {
        lines.push(can_i(client, verb, group, resource, ns).await);
    }
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for ar in [
        read_resource::<access::TrafficTarget>(access::READ_VERSION),
        read_resource::<specs::HTTPRouteGroup>(specs::READ_VERSION),
        read_resource::<specs::TCPRoute>(specs::READ_VERSION),
        read_resource::<specs::UDPRoute>(specs::READ_VERSION),
        read_resource::<split::TrafficSplit>(split::READ_VERSION),
    ] {
        let name = format!("{}.{}", ar.plural, ar.group);
        match crds.get_opt(&name).await {
            Ok(found) => {
                let served: Option<Vec<String>> = found.map(|c| {
                    c.spec
                        .versions
                        .iter()
                        .filter(|v| v.served)
                        .map(|v| v.name.clone())
                        .collect()
                });
                lines.push(crd(&name, &ar.version, served.as_deref()));
            }
            Err(e) => lines.push(Line::fail("SMI CRD", format!("{name}: {e}"), "")),
        }
    }
    lines
}

async fn can_i(client: &Client, verb: &str, group: &str, resource: &str, ns: Option<&str>) -> Line {
    let check = "permissions";
    let what = match ns {
        Some(ns) => format!("{verb} {resource} in {ns}"),
        None => format!("{verb} {resource}"),
    };
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.into()),
                group: Some(group.into()),
                resource: Some(resource.into()),
                namespace: ns.map(str::to_string),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    match api.create(&PostParams::default(), &review).await {
        Ok(r) if r.status.as_ref().is_some_and(|s| s.allowed) => {
            Line::pass(check, format!("may {what}"))
        }
        Ok(_) => Line::fail(
            check,
            format!("may not {what}"),
            "installing weft needs cluster-admin (or these rights)",
        ),
        Err(e) => Line::fail(
            check,
            format!("could not ask whether it may {what}: {e}"),
            "",
        ),
    }
}

/// After installing: is weft working.
pub async fn post(client: &Client, namespace: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    for name in DEPLOYMENTS {
        match deployments.get_opt(name).await {
            Ok(d) => lines.push(deployment(name, d.as_ref())),
            Err(e) => lines.push(Line::fail(
                "control plane",
                format!("{name}: {e}"),
                "check KUBECONFIG and the current context (kubectl cluster-info)",
            )),
        }
    }
    lines.push(networks(client, namespace).await);
    lines.push(webhook(client, namespace).await);
    lines.push(metrics_api(client, namespace).await);
    lines.push(conversion(client, namespace).await);
    lines.extend(certificates(client, namespace).await);
    lines.extend(crate::gateway::check(client).await);
    match (
        Api::<Namespace>::all(client.clone())
            .list(&ListParams::default())
            .await,
        Api::<Pod>::all(client.clone())
            .list(&ListParams::default())
            .await,
    ) {
        (Ok(ns), Ok(pods)) => {
            lines.push(unmeshed_pods(&ns.items, &pods.items));
            lines.push(udp_ports(&pods.items));
            lines.push(proxies_ready(&pods.items));
            lines.extend(proxies_trust(client, namespace, &pods.items).await);
        }
        (Err(e), _) | (_, Err(e)) => lines.push(Line::fail("pods", format!("listing: {e}"), "")),
    }
    lines
}

/// At most this many proxies are read, this many at a time, each within
/// [`PROXY_READ_TIMEOUT`]: a big cluster is sampled, never waited on.
const PROXIES_READ: usize = 500;
const PROXIES_AT_ONCE: usize = 16;
const PROXY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Reads each running proxy's `/metrics` through the API server's pod proxy
/// and judges its trust ([`super::proxy_trust`]).
async fn proxies_trust(client: &Client, namespace: &str, pods: &[Pod]) -> Vec<Line> {
    use futures::StreamExt as _;
    let running: Vec<&Pod> = pods
        .iter()
        .filter(|p| super::has_proxy(p))
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .collect();
    let current = Api::<ConfigMap>::namespaced(client.clone(), namespace)
        .get_opt("weft-mesh-trust-anchors")
        .await
        .ok()
        .flatten()
        .and_then(|cm| cm.data?.get("ca-bundle.pem").cloned())
        .and_then(|pem| weft_tls::anchors_digest(pem.as_bytes()).ok());
    let reports: Vec<(String, Result<ProxyTrust, String>)> =
        futures::stream::iter(running.iter().take(PROXIES_READ))
            .map(|p| async move { (super::pod_name(p), read_proxy(client, p).await) })
            .buffer_unordered(PROXIES_AT_ONCE)
            .collect()
            .await;
    let mut lines = proxy_trust::judge(current.as_deref(), &reports);
    if running.len() > PROXIES_READ {
        lines.push(Line::warn(
            "proxies' trust",
            format!("read {PROXIES_READ} of {} running proxies", running.len()),
            "the others were not checked",
        ));
    }
    lines
}

/// A pod's `/metrics` on `port`, through the API server's pod proxy (no
/// port-forward, and no network path from here to the pod needed).
pub async fn pod_metrics(
    client: &Client,
    ns: &str,
    pod: &str,
    port: u16,
) -> Result<String, kube::Error> {
    let req = http::Request::get(format!(
        "/api/v1/namespaces/{ns}/pods/{pod}:{port}/proxy/metrics"
    ))
    .body(Vec::new())
    .map_err(kube::Error::HttpError)?;
    client.request_text(req).await
}

async fn read_proxy(client: &Client, pod: &Pod) -> Result<ProxyTrust, String> {
    let (ns, name) = (
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default(),
    );
    let read = pod_metrics(client, ns, name, ports::ADMIN);
    match tokio::time::timeout(PROXY_READ_TIMEOUT, read).await {
        Ok(Ok(text)) => Ok(proxy_trust::parse(&text)),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {PROXY_READ_TIMEOUT:?}")),
    }
}

/// What weft-controller reads as the cluster's networks, read the same way.
async fn networks(client: &Client, namespace: &str) -> Line {
    let mut pods: Vec<String> = match Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
    {
        Ok(l) => l
            .items
            .into_iter()
            .filter_map(|n| n.spec)
            .flat_map(|s| {
                s.pod_cidrs
                    .unwrap_or_default()
                    .into_iter()
                    .chain(s.pod_cidr)
            })
            .collect(),
        Err(e) => {
            return Line::warn(
                "cluster networks",
                format!("listing nodes: {e}"),
                "weft check needs to list nodes to say which networks weft-controller treats as the cluster's",
            );
        }
    };
    // Not served before Kubernetes 1.33: then there is none.
    let mut services: Vec<String> = Api::<ServiceCIDR>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map(|l| {
            l.items
                .into_iter()
                .filter_map(|c| c.spec)
                .flat_map(|s| s.cidrs.unwrap_or_default())
                .collect()
        })
        .unwrap_or_default();
    let extra: Vec<String> = Api::<Deployment>::namespaced(client.clone(), namespace)
        .get_opt("weft-controller")
        .await
        .ok()
        .flatten()
        .and_then(|d| d.spec)
        .and_then(|s| s.template.spec)
        .into_iter()
        .flat_map(|s| s.containers)
        .flat_map(|c| c.args.unwrap_or_default())
        .filter_map(|a| a.strip_prefix("--cluster-networks=").map(str::to_string))
        .flat_map(|v| v.split(',').map(str::to_string).collect::<Vec<_>>())
        .filter(|v| !v.is_empty())
        .collect();
    for l in [&mut pods, &mut services] {
        l.sort();
        l.dedup();
    }
    cluster_networks(&pods, &services, &extra)
}

/// The metrics APIService is available and the API server's aggregated
/// discovery of its group is current.
async fn metrics_api(client: &Client, namespace: &str) -> Line {
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "apiregistration.k8s.io",
        "v1",
        "APIService",
    ));
    let svc = match Api::<DynamicObject>::all_with(client.clone(), &ar)
        .get_opt(super::metrics_api::APISERVICE)
        .await
    {
        Ok(s) => s.map(|s| serde_json::to_value(s).unwrap_or_default()),
        Err(e) => return Line::fail("metrics API", format!("reading the APIService: {e}"), ""),
    };
    let discovery = async {
        let req = http::Request::get("/apis")
            .header(
                http::header::ACCEPT,
                "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
            )
            .body(Vec::new())
            .ok()?;
        let text = client.request_text(req).await.ok()?;
        serde_json::from_str::<serde_json::Value>(&text).ok()
    }
    .await;
    super::metrics_api::judge(svc.as_ref(), discovery.as_ref(), namespace)
}

/// The SMI CRDs point at the controller's conversion webhook.
async fn conversion(client: &Client, namespace: &str) -> Line {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut crds = Vec::new();
    for crd in weft_k8s_api::crds::all() {
        let name = crd.metadata.name.unwrap_or_default();
        match api.get_opt(&name).await {
            Ok(live) => crds.push((name, live)),
            Err(e) => {
                return Line::fail("SMI conversion", format!("reading CRD {name}: {e}"), "");
            }
        }
    }
    let endpoints = ready_endpoints(client, namespace, super::conversion::SERVICE).await;
    super::conversion::judge(&crds, endpoints, namespace)
}

/// How many ready endpoints a Service in `namespace` has.
async fn ready_endpoints(client: &Client, namespace: &str, service: &str) -> usize {
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    let slices = Api::<EndpointSlice>::namespaced(client.clone(), namespace)
        .list(&ListParams::default().labels(&format!("kubernetes.io/service-name={service}")))
        .await;
    slices.as_ref().map_or(0, |l| {
        l.items
            .iter()
            .flat_map(|s| &s.endpoints)
            .filter(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(false))
            .count()
    })
}

/// The webhook is registered with a CA bundle, and its Service has a ready
/// endpoint to call.
async fn webhook(client: &Client, namespace: &str) -> Line {
    use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
    let check = "webhook";
    let cfg = match Api::<MutatingWebhookConfiguration>::all(client.clone())
        .get_opt("weft-injector")
        .await
    {
        Ok(Some(c)) => c,
        Ok(None) => {
            return Line::fail(
                check,
                "MutatingWebhookConfiguration weft-injector not found",
                "reinstall the chart",
            );
        }
        Err(e) => return Line::fail(check, e.to_string(), ""),
    };
    let bundled = cfg.webhooks.iter().flatten().all(|w| {
        w.client_config
            .ca_bundle
            .as_ref()
            .is_some_and(|b| !b.0.is_empty())
    });
    if !bundled {
        return Line::fail(
            check,
            "registered without a CA bundle: the API server cannot verify it",
            "reinstall the chart",
        );
    }
    let ready = ready_endpoints(client, namespace, "weft-injector").await;
    if ready > 0 {
        Line::pass(
            check,
            format!("registered with a CA bundle; {ready} ready endpoint(s)"),
        )
    } else {
        Line::fail(
            check,
            "no ready endpoint behind the weft-injector Service: new pods are created without a proxy (failurePolicy Ignore)",
            format!("kubectl -n {namespace} get pods -l app.kubernetes.io/component=injector"),
        )
    }
}

/// Every certificate the control plane holds: the trust anchors, and the
/// `tls.crt` of every `kubernetes.io/tls` Secret in its namespace — the
/// identity issuer, the webhook's serving certificate (`weft-injector-tls`)
/// and the metrics API's (`weft-metrics-api-tls`), each reported as
/// `secret <name>: <n> days left`.
async fn certificates(client: &Client, namespace: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut judge = |what: String, pem: &[u8]| {
        for (i, not_after) in not_afters(pem).into_iter().enumerate() {
            let label = if i == 0 {
                what.clone()
            } else {
                format!("{what} #{}", i + 1)
            };
            lines.push(certificate(&label, (not_after - now).div_euclid(86_400)));
        }
    };
    if let Ok(Some(cm)) = Api::<ConfigMap>::namespaced(client.clone(), namespace)
        .get_opt("weft-mesh-trust-anchors")
        .await
        && let Some(pem) = cm.data.as_ref().and_then(|d| d.get("ca-bundle.pem"))
    {
        judge("trust anchor".into(), pem.as_bytes());
    }
    if let Ok(list) = Api::<Secret>::namespaced(client.clone(), namespace)
        .list(&ListParams::default().fields("type=kubernetes.io/tls"))
        .await
    {
        for s in list.items {
            let name = s.metadata.name.clone().unwrap_or_default();
            if let Some(crt) = s.data.as_ref().and_then(|d| d.get("tls.crt")) {
                judge(format!("secret {name}"), &crt.0);
            }
            // The webhook's and the metrics API's CA: what their certificates
            // are re-signed with, so what finally limits them.
            if let Some(ca) = s.data.as_ref().and_then(|d| d.get("ca.crt")) {
                judge(format!("secret {name} CA"), &ca.0);
            }
        }
    }
    if lines.is_empty() {
        lines.push(Line::fail(
            "certificate",
            format!("no trust anchors or TLS secrets found in {namespace}"),
            "install weft first",
        ));
    }
    lines
}

/// The expiry (Unix seconds) of each certificate in a PEM bundle.
fn not_afters(pem: &[u8]) -> Vec<i64> {
    x509_parser::pem::Pem::iter_from_buffer(pem)
        .filter_map(Result::ok)
        .filter_map(|p| {
            p.parse_x509()
                .ok()
                .map(|c| c.validity().not_after.timestamp())
        })
        .collect()
}
