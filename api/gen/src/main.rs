//! Regenerates the Rust code for weft's protobufs into `api/core/src/gen/`.
//!
//! The output is checked in so that no build needs `protoc`; `make gen-check`
//! runs this and fails when the result differs from what is committed.

use anyhow::Context as _;
use std::path::PathBuf;

const PROTOS: &[&str] = &["identity.proto", "policy.proto", "discovery.proto"];

fn main() -> anyhow::Result<()> {
    let core = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../core");
    let proto_dir = core.join("proto");
    let out_dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| core.join("src/gen"));
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;

    let protos: Vec<PathBuf> = PROTOS.iter().map(|p| proto_dir.join(p)).collect();
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Channels are built by weft-runtime (with weft's own TLS), so the
        // generated clients need no `connect` helper and no tonic transport.
        .build_transport(false)
        .client_mod_attribute(".", r#"#[cfg(feature = "client")]"#)
        .server_mod_attribute(".", r#"#[cfg(feature = "server")]"#)
        .out_dir(&out_dir)
        .compile_protos(&protos, &[proto_dir])
        .context("compiling protobufs (is protoc installed? see scripts/setup)")?;
    println!("wrote {}", out_dir.display());
    Ok(())
}
