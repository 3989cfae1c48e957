//! The containers and volumes the injector adds to a pod.

use crate::{InjectConfig, annotations::Overrides};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource,
    HTTPGetAction, ObjectFieldSelector, Probe, ProjectedVolumeSource, ResourceRequirements,
    SecurityContext, ServiceAccountTokenProjection, Volume, VolumeMount, VolumeProjection,
};
use k8s_openapi::apimachinery::pkg::{api::resource::Quantity, util::intstr::IntOrString};
use std::collections::BTreeMap;
use weft_api::contract::{control_plane, env, pod as names, ports, proxy_user, token};
use weft_api::probes::AppProbe;

/// `weft-init`: writes the iptables rules, then exits.
pub fn init_container(cfg: &InjectConfig, o: &Overrides) -> Container {
    let mut args = vec![
        "init".to_string(),
        format!("--proxy-uid={}", proxy_user::UID),
        format!("--inbound-port={}", ports::INBOUND),
        format!("--outbound-port={}", ports::OUTBOUND),
        format!("--admin-port={}", ports::ADMIN),
    ];
    if !o.skip_inbound_ports.is_empty() {
        args.push(format!(
            "{}{}",
            names::SKIP_INBOUND_PORTS_ARG,
            o.skip_inbound_ports.join(",")
        ));
    }
    if !o.skip_outbound_ports.is_empty() {
        args.push(format!(
            "--skip-outbound-ports={}",
            o.skip_outbound_ports.join(",")
        ));
    }
    if !o.skip_outbound_cidrs.is_empty() {
        let cidrs: Vec<String> = o
            .skip_outbound_cidrs
            .iter()
            .map(ToString::to_string)
            .collect();
        args.push(format!("--skip-outbound-cidrs={}", cidrs.join(",")));
    }
    Container {
        name: names::INIT_CONTAINER.into(),
        image: Some(cfg.proxy_image.clone()),
        image_pull_policy: Some(cfg.image_pull_policy.clone()),
        args: Some(args),
        // Non-root: iptables carries file capabilities in the image, so the
        // container needs the capabilities in its bounding set and must be
        // allowed to gain them (no_new_privs would drop file capabilities).
        security_context: Some(SecurityContext {
            run_as_user: Some(proxy_user::UID.into()),
            run_as_group: Some(proxy_user::GID.into()),
            run_as_non_root: Some(true),
            allow_privilege_escalation: Some(true),
            read_only_root_filesystem: Some(true),
            capabilities: Some(Capabilities {
                add: Some(vec!["NET_ADMIN".into(), "NET_RAW".into()]),
                drop: Some(vec!["ALL".into()]),
            }),
            ..Default::default()
        }),
        volume_mounts: Some(vec![VolumeMount {
            name: names::XTABLES_LOCK_VOLUME.into(),
            mount_path: names::XTABLES_LOCK_DIR.into(),
            ..Default::default()
        }]),
        resources: Some(resources(cfg, o)),
        ..Default::default()
    }
}

/// `weft-proxy`: the sidecar, as a native sidecar (restartPolicy Always).
pub fn proxy_container(
    cfg: &InjectConfig,
    o: &Overrides,
    inbound_ports: &[u16],
    app_probes: &[AppProbe],
) -> Container {
    let res = resources(cfg, o);
    let cpu_limit = o
        .cpu_limit
        .clone()
        .or_else(|| cfg.resources.cpu_limit.clone());
    let workers = crate::annotations::worker_threads(cpu_limit.as_deref());
    let field = |path: &str| EnvVarSource {
        field_ref: Some(ObjectFieldSelector {
            field_path: path.into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut vars = vec![
        (env::POD_NAME, None, Some(field("metadata.name"))),
        (env::POD_NAMESPACE, None, Some(field("metadata.namespace"))),
        (
            env::SERVICE_ACCOUNT,
            None,
            Some(field("spec.serviceAccountName")),
        ),
        (env::POD_IPS, None, Some(field("status.podIPs"))),
        (env::TRUST_DOMAIN, Some(cfg.trust_domain.clone()), None),
        (env::IDENTITY_ADDR, Some(cfg.identity_addr()), None),
        (
            env::IDENTITY_ID,
            Some(cfg.control_plane_id(control_plane::IDENTITY_SERVICE_ACCOUNT)),
            None,
        ),
        (env::CONTROLLER_ADDR, Some(cfg.controller_addr()), None),
        (
            env::CONTROLLER_ID,
            Some(cfg.control_plane_id(control_plane::CONTROLLER_SERVICE_ACCOUNT)),
            None,
        ),
        (
            env::TOKEN_FILE,
            Some(format!("{}/{}", names::TOKEN_DIR, names::TOKEN_FILE)),
            None,
        ),
        (env::TRUST_ANCHORS, Some(cfg.trust_anchors.clone()), None),
        (env::WORKER_THREADS, Some(workers.to_string()), None),
        (
            env::LOG_LEVEL,
            Some(
                o.log_level
                    .clone()
                    .unwrap_or_else(|| cfg.proxy_log_level.clone()),
            ),
            None,
        ),
    ];
    if !inbound_ports.is_empty() {
        let list: Vec<String> = inbound_ports.iter().map(u16::to_string).collect();
        vars.push((env::INBOUND_PORTS, Some(list.join(",")), None));
    }
    if !app_probes.is_empty() {
        vars.push((
            env::APP_PROBES,
            Some(weft_api::probes::render(app_probes)),
            None,
        ));
    }
    let env = vars
        .into_iter()
        .map(|(name, value, value_from)| EnvVar {
            name: name.into(),
            value,
            value_from,
        })
        .collect();
    let http_probe = |path: &str, period: i32, failures: i32| Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::Int(ports::ADMIN.into()),
            ..Default::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        ..Default::default()
    };
    Container {
        name: names::PROXY_CONTAINER.into(),
        image: Some(cfg.proxy_image.clone()),
        image_pull_policy: Some(cfg.image_pull_policy.clone()),
        // A native sidecar: runs for the pod's whole life, and the app's
        // containers start only once its startup probe passes.
        restart_policy: Some("Always".into()),
        env: Some(env),
        ports: Some(vec![ContainerPort {
            name: Some("weft-admin".into()),
            container_port: ports::ADMIN.into(),
            protocol: Some("TCP".into()),
            ..Default::default()
        }]),
        startup_probe: Some(http_probe("/ready", 1, 120)),
        readiness_probe: Some(http_probe("/ready", 10, 3)),
        liveness_probe: Some(http_probe("/live", 10, 3)),
        resources: Some(res),
        security_context: Some(SecurityContext {
            run_as_user: Some(proxy_user::UID.into()),
            run_as_group: Some(proxy_user::GID.into()),
            run_as_non_root: Some(true),
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Default::default()
            }),
            ..Default::default()
        }),
        volume_mounts: Some(vec![VolumeMount {
            name: names::TOKEN_VOLUME.into(),
            mount_path: names::TOKEN_DIR.into(),
            read_only: Some(true),
            ..Default::default()
        }]),
        ..Default::default()
    }
}

/// The volumes both containers mount.
pub fn volumes() -> Vec<Volume> {
    vec![
        Volume {
            name: names::TOKEN_VOLUME.into(),
            projected: Some(ProjectedVolumeSource {
                sources: Some(vec![VolumeProjection {
                    service_account_token: Some(ServiceAccountTokenProjection {
                        audience: Some(token::AUDIENCE.into()),
                        expiration_seconds: Some(token::EXPIRATION_SECONDS),
                        path: names::TOKEN_FILE.into(),
                    }),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        },
        Volume {
            name: names::XTABLES_LOCK_VOLUME.into(),
            empty_dir: Some(EmptyDirVolumeSource {
                medium: Some("Memory".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
    ]
}

fn resources(cfg: &InjectConfig, o: &Overrides) -> ResourceRequirements {
    let r = &cfg.resources;
    let pick = |ov: &Option<String>, def: Option<&String>| ov.clone().or_else(|| def.cloned());
    let mut requests = BTreeMap::new();
    let mut limits = BTreeMap::new();
    if let Some(v) = pick(&o.cpu_request, Some(&r.cpu_request)) {
        requests.insert("cpu".to_string(), Quantity(v));
    }
    if let Some(v) = pick(&o.memory_request, Some(&r.memory_request)) {
        requests.insert("memory".to_string(), Quantity(v));
    }
    if let Some(v) = pick(&o.cpu_limit, r.cpu_limit.as_ref()) {
        limits.insert("cpu".to_string(), Quantity(v));
    }
    if let Some(v) = pick(&o.memory_limit, r.memory_limit.as_ref()) {
        limits.insert("memory".to_string(), Quantity(v));
    }
    ResourceRequirements {
        requests: Some(requests),
        limits: (!limits.is_empty()).then_some(limits),
        ..Default::default()
    }
}
