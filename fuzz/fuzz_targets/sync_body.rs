//! What `POST /v1/sync` does with a body, minus HTTP: the body is decoded as a state
//! (a refusal has a code: the 400 the server answers), merged into the stored state, and
//! the result encoded for storage and decoded again, as the next request will. Never
//! panics; the stored result stays within every bound (one the server could not store
//! again is bug 1 of issue 15) and round-trips.
//!
//! Input: the stored state and the body in the `parts` layout of the crate; stored bytes
//! that do not decode stand for a shopper seen for the first time.
#![no_main]

use libfuzzer_sys::fuzz_target;
use waymark::ShopperState;
use waymark_fuzz::{assert_roundtrip, check_bounds, parts};

fuzz_target!(|data: &[u8]| {
    let p = parts(data, 2);
    let mut stored = ShopperState::decode(p[0]).unwrap_or_else(|_| ShopperState::new("anon-fuzz"));
    let incoming = match ShopperState::decode(p[1]) {
        Ok(state) => state,
        Err(e) => {
            assert!(!e.code().is_empty() && !e.to_string().is_empty());
            return;
        }
    };
    stored.merge(&incoming);
    check_bounds(&stored, "stored state after a sync");
    let bytes = assert_roundtrip(&stored, "stored state after a sync");
    match ShopperState::decode(&bytes) {
        Ok(next) => check_bounds(&next, "stored state as the next sync reads it"),
        Err(e) => panic!("the stored state cannot be read back: {e}"),
    }
});
