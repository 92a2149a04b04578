//! `ShopperState::decode` on arbitrary bytes: never panics; a state it accepts encodes
//! within `MAX_ENCODED_BYTES` and decodes back to the same bytes; a refusal has a code.
#![no_main]

use libfuzzer_sys::fuzz_target;
use waymark::ShopperState;
use waymark_fuzz::assert_roundtrip;

fuzz_target!(|data: &[u8]| {
    match ShopperState::decode(data) {
        Ok(state) => {
            let bytes = assert_roundtrip(&state, "decoded state");
            assert!(
                bytes.len() <= waymark::state::MAX_ENCODED_BYTES,
                "a decoded state re-encodes to {} bytes (MAX_ENCODED_BYTES {})",
                bytes.len(),
                waymark::state::MAX_ENCODED_BYTES
            );
        }
        Err(e) => assert!(!e.code().is_empty() && !e.to_string().is_empty()),
    }
});
