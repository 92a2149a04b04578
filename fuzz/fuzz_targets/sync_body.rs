//! What `POST /v1/sync` does with a body, minus HTTP: the body is decoded as a shopper's
//! copy (`decode_synced`: a refusal has a code, the 4xx the server answers; no trait
//! claims the server's source, no stamp is past the server's clock), merged into the
//! stored state, and
//! the result encoded for storage and decoded again, as the next request will. Never
//! panics; the stored result stays within every bound (one the server could not store
//! again is bug 1 of issue 15) and round-trips.
//!
//! Input: the stored state and the body in the `parts` layout of the crate; stored bytes
//! that do not decode stand for a shopper seen for the first time.
#![no_main]

use libfuzzer_sys::fuzz_target;
use waymark::ShopperState;
use waymark::state::TraitSource;
use waymark::Timestamp;
use waymark_fuzz::{assert_roundtrip, check_bounds, parts, BASE_TIME};

fuzz_target!(|data: &[u8]| {
    let p = parts(data, 2);
    let mut stored = ShopperState::decode(p[0]).unwrap_or_else(|_| ShopperState::new("anon-fuzz"));
    let latest = Timestamp(BASE_TIME.0 + 5 * waymark::time::MINUTE);
    let incoming = match ShopperState::decode_synced(p[1], latest) {
        Ok(state) => {
            assert!(state.traits.iter().all(|(_, t)| t.source == TraitSource::Shopper && t.at <= latest));
            state
        }
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
