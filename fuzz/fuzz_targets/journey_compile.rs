//! Arbitrary text through the JSON journey / bundle compiler as `waymark validate` runs
//! it (`diagnostics::compile_text`, IANA zones): never panics; every diagnostic has a
//! code and prints; a compiled bundle encodes, decodes and re-encodes the same, and an
//! engine on it runs ordinary events without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use waymark::journey::{diagnostics::compile_text, Bundle};
use waymark::journey::tzdb::Tzdb;
use waymark::Engine;
use waymark_fuzz::{assert_roundtrip, check_bounds, exercise};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let bundle = match compile_text("fuzz.json", &text, &Tzdb) {
        Ok(bundle) => bundle,
        Err(diagnostics) => {
            assert!(!diagnostics.is_empty(), "compile failed without a diagnostic");
            for d in &diagnostics {
                assert!(!d.code.is_empty(), "diagnostic without a code: {d:?}");
                assert!(!d.to_string().is_empty());
            }
            return;
        }
    };
    let bytes = bundle.to_bytes();
    match Bundle::from_bytes(&bytes) {
        Ok(again) => assert!(again.to_bytes() == bytes, "decode(encode(bundle)) encodes differently"),
        Err(e) => panic!("a compiled bundle's encoding does not decode: {e}"),
    }
    let state = exercise(&Engine::new(bundle));
    check_bounds(&state, "state after a compiled bundle's engine");
    assert_roundtrip(&state, "state after a compiled bundle's engine");
});
