//! What crosses the network between pods, captured with tcpdump inside the
//! server pod's network namespace on the real cluster: between meshed pods
//! only TLS (a ClientHello offering weft's ALPN id, no request or answer in
//! clear); from an unmeshed pod, plaintext, which the capture does see (so
//! the first check can fail) and which the server's proxy lets through
//! under the default `allow` and refuses as `unauthenticated` under `deny`.

use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use std::process::{Child, Command, Stdio};
use weft_api::contract::{alpn, annotations as a};
use weft_e2e::{
    client,
    pods::{mesh_namespace, run_to_end, server_pod, service, wait_ready},
    release::{install, uninstall},
    with_temp_ns,
};

/// The network namespace (under `ip netns`) holding `ip`.
fn netns_of(ip: &str) -> anyhow::Result<String> {
    let list = Command::new("ip").args(["netns", "list"]).output()?;
    for line in String::from_utf8_lossy(&list.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        let addrs = Command::new("ip")
            .args(["-n", name, "-o", "-4", "addr", "show"])
            .output()?;
        if String::from_utf8_lossy(&addrs.stdout).contains(&format!("inet {ip}/")) {
            return Ok(name.to_string());
        }
    }
    anyhow::bail!("no network namespace holds {ip}")
}

/// tcpdump printing every packet to and from port 8080 in `netns`, as
/// ASCII, into a file; stopped (and read) by [`Capture::finish`].
struct Capture {
    child: Child,
    file: std::path::PathBuf,
}

impl Capture {
    async fn start(netns: &str, label: &str) -> anyhow::Result<Self> {
        let file =
            std::env::temp_dir().join(format!("weft-e2e-wire-{label}-{}.txt", std::process::id()));
        let out = std::fs::File::create(&file)?;
        let child = Command::new("ip")
            .args([
                "netns", "exec", netns, "tcpdump", "-i", "eth0", "-nn", "-l", "-A", "-s", "0",
                "tcp", "port", "8080",
            ])
            .stdout(out)
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| anyhow::anyhow!("starting tcpdump (scripts/setup installs it): {e}"))?;
        // tcpdump needs a moment to attach before traffic starts.
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        Ok(Self { child, file })
    }

    fn finish(self) -> anyhow::Result<String> {
        // SIGINT lets tcpdump flush what it holds.
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let out = self.child.wait_with_output()?;
        let text = std::fs::read(&self.file).map(|b| String::from_utf8_lossy(&b).into_owned())?;
        let _ = std::fs::remove_file(&self.file);
        let stats = String::from_utf8_lossy(&out.stderr);
        eprintln!(
            "tcpdump: {}",
            stats
                .lines()
                .filter(|l| l.contains("captured"))
                .collect::<Vec<_>>()
                .join("; ")
        );
        anyhow::ensure!(stats.contains("captured"), "tcpdump did not run: {stats}");
        Ok(text)
    }
}

#[tokio::test]
async fn meshed_traffic_is_mtls_on_the_wire_and_unmeshed_follows_the_default() -> anyhow::Result<()>
{
    let client = client().await?;
    install()?;
    let res = with_temp_ns(&client, |client, srv| async move {
        with_temp_ns(&client, |client, plain| async move {
            mesh_namespace(&client, &srv, &[], &["server", "client"]).await?;
            server_pod(
                &client,
                &srv,
                "server-0",
                "server",
                json!({"app": "server"}),
            )
            .await?;
            service(&client, &srv, "server", json!({"app": "server"})).await?;
            wait_ready(&client, &srv, &["server-0"]).await?;
            let ip = Api::<Pod>::namespaced(client.clone(), &srv)
                .get("server-0")
                .await?
                .status
                .and_then(|s| s.pod_ip)
                .ok_or_else(|| anyhow::anyhow!("server-0 has no IP"))?;
            let netns = netns_of(&ip)?;
            eprintln!("server-0 {ip} lives in netns {netns}");
            let url = format!("http://server.{srv}/");

            let cap = Capture::start(&netns, "meshed").await?;
            let (phase, log) =
                run_to_end(&client, &srv, "meshed", "client", &["get", &url]).await?;
            let wire = cap.finish()?;
            assert_eq!(phase, "Succeeded", "{log}");
            let mesh_alpn = String::from_utf8_lossy(alpn::MESH).into_owned();
            assert!(
                wire.contains(&mesh_alpn),
                "no ClientHello offering {mesh_alpn} was seen:\n{wire}"
            );
            assert!(
                !wire.contains("hello from server-0"),
                "the answer crossed the wire in clear:\n{wire}"
            );
            assert!(
                !wire.contains("GET / HTTP"),
                "the request crossed the wire in clear:\n{wire}"
            );

            // An unmeshed pod (its namespace is not annotated) speaks plain
            // HTTP; the default policy `allow` lets it in.
            let cap = Capture::start(&netns, "plain").await?;
            let (phase, log) =
                run_to_end(&client, &plain, "unmeshed", "default", &["get", &url]).await?;
            let wire = cap.finish()?;
            assert_eq!(
                phase, "Succeeded",
                "an unmeshed client was refused under allow: {log}"
            );
            assert!(
                wire.contains("hello from server-0"),
                "the capture missed the plaintext answer:\n{wire}"
            );

            // Under `deny`, the same client is refused for want of an identity.
            Api::<Namespace>::all(client.clone())
                .patch(
                    &srv,
                    &PatchParams::default(),
                    &Patch::Merge(
                        json!({"metadata": {"annotations": {a::DEFAULT_POLICY: "deny"}}}),
                    ),
                )
                .await?;
            tokio::time::sleep(std::time::Duration::from_secs(3)).await;
            let (phase, log) = run_to_end(
                &client,
                &plain,
                "unmeshed-denied",
                "default",
                &["get", &url],
            )
            .await?;
            assert_eq!(
                phase, "Failed",
                "an unmeshed client got through under deny: {log}"
            );
            assert!(
                log.contains("403") && log.contains("unauthenticated"),
                "{log}"
            );
            Ok(())
        })
        .await
    })
    .await;
    uninstall();
    res
}
