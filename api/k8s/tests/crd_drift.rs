//! The CRDs committed under `charts/weft/crds/` must be exactly what the
//! types generate. On failure run `make crdgen` and commit the result.

use std::{collections::BTreeSet, path::Path};
use weft_k8s_api::crds;

#[test]
fn committed_crds_match_the_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../charts/weft/crds");
    let mut expected = BTreeSet::new();
    for crd in crds::all() {
        let name = crds::file_name(&crd);
        let want = crds::to_yaml(&crd).unwrap();
        let got = std::fs::read_to_string(dir.join(&name))
            .unwrap_or_else(|e| panic!("{name}: {e}; run `make crdgen`"));
        assert!(got == want, "{name} is stale; run `make crdgen` and commit");
        expected.insert(name);
    }
    let present: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(present, expected, "unexpected files in charts/weft/crds");
}
