//! Every binary decoder answers bad bytes with a typed error, never a panic: bundles
//! (what browsers and workers load), conditions inside them and nested values.
#![expect(clippy::unwrap_used, reason = "test code: a failed unwrap, index or panic is a failed test")]

use std::path::Path;
use std::sync::OnceLock;

use proptest::prelude::*;
use waymark::journey::diagnostics::compile_paths;
use waymark::journey::tzdb::Tzdb;
use waymark::journey::Bundle;

fn shipped_bundle_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let bundle = compile_paths(&[root.join("templates"), root.join("examples/journeys")], &Tzdb).unwrap();
        bundle.to_bytes()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = Bundle::from_bytes(&bytes);
    }

    #[test]
    fn mutated_bundles_never_panic(at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let mut bytes = shipped_bundle_bytes().to_vec();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        let _ = Bundle::from_bytes(&bytes);
        bytes.truncate(cut.index(bytes.len()));
        let _ = Bundle::from_bytes(&bytes);
    }
}

#[test]
fn shipped_bundle_round_trips() {
    let bytes = shipped_bundle_bytes();
    let bundle = Bundle::from_bytes(bytes).unwrap();
    assert_eq!(bundle.to_bytes(), bytes);
    let err = Bundle::from_bytes(&bytes[..bytes.len() / 2]).unwrap_err();
    assert!(!err.code().is_empty() && !err.to_string().is_empty());
}
