//! Writes weft's CRDs to a directory (default `charts/weft/crds/`), one file
//! per CRD. `make crdgen` runs it; a test fails when the committed files
//! differ from what the types generate.

use anyhow::Context as _;
use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let dir = match std::env::args_os().nth(1) {
        Some(d) if d == "--help" || d == "-h" => {
            println!("usage: crdgen [DIR]   write weft's CRDs to DIR (default charts/weft/crds)");
            return Ok(());
        }
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../charts/weft/crds"),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for crd in weft_k8s_api::crds::all() {
        let path = dir.join(weft_k8s_api::crds::file_name(&crd));
        let yaml = weft_k8s_api::crds::to_yaml(&crd)?;
        std::fs::write(&path, yaml).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
