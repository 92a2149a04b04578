//! `Bundle::from_bytes` (what `/v1/bundle` serves and the npm module loads) on arbitrary
//! bytes: never panics, a refusal has a code; an accepted bundle re-encodes to bytes that
//! decode and re-encode the same, and an engine on it ingests ordinary events and ticks
//! without panicking, leaving a state within bounds that round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use waymark::journey::Bundle;
use waymark::Engine;
use waymark_fuzz::{assert_roundtrip, check_bounds, exercise};

fuzz_target!(|data: &[u8]| {
    let bundle = match Bundle::from_bytes(data) {
        Ok(bundle) => bundle,
        Err(e) => {
            assert!(!e.code().is_empty() && !e.to_string().is_empty());
            return;
        }
    };
    let bytes = bundle.to_bytes();
    let again = match Bundle::from_bytes(&bytes) {
        Ok(again) => again,
        Err(e) => panic!("a decoded bundle's encoding does not decode: {e}"),
    };
    assert!(again.to_bytes() == bytes, "decode(encode(bundle)) encodes differently");
    let state = exercise(&Engine::new(bundle));
    check_bounds(&state, "state after a decoded bundle's engine");
    assert_roundtrip(&state, "state after a decoded bundle's engine");
});
