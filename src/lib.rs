//! waymark decides, for one shopper at a time, which on-site intervention to show now
//! and which email / SMS / push follow-ups may still go out.
//!
//! # The model
//!
//! - A **journey** is what a CRM marketer builds: an entry (an event with a condition, or
//!   an audience), re-entry rules, a schedule, a conversion goal, exit rules and steps —
//!   `wait_for` (an event or a state condition, with a timeout and two branches),
//!   `delay`, `branch`, `send`, `split`, `exit`. Journeys are JSON files
//!   ([`journey::model`]) validated into a compiled [`journey::Bundle`] together with
//!   the global policy (caps, suppression windows, the intent model).
//! - A shopper's **state** ([`ShopperState`]) holds everything the engine knows about
//!   them: where they are in each journey and when their timers fire, entry history,
//!   the contact log that caps count, active incentives, intent signals, consent,
//!   traits and identities. It encodes to a few hundred bytes of postcard and merges
//!   with a join, so copies from a browser tab, the edge and the backend converge.
//! - The **engine** ([`Engine`]) takes a state, an event and `now`, and returns
//!   **decisions** ([`Decision`]): enter, send, suppress, defer, convert, exit, cancel —
//!   each with stable reason codes and a sentence. Sends pass the policy first
//!   ([`policy`]): consent → quiet hours → caps → incentive exclusion → cross-channel
//!   suppression → fallback, with checkout-critical sends ranked first.
//!
//! The engine is pure: no clock, no I/O, no randomness (`now` and seeds are inputs),
//! and no input makes it panic, so it runs unchanged in wasm.
//!
//! # Example
//!
//! ```
//! use waymark::journey::{compile_bundle, model::BundleSource, validate::FixedZones};
//! use waymark::{Action, Engine, Event, Map, ShopperState, Timestamp, Value};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let source: BundleSource = serde_json::from_str(r#"{ "journeys": [{
//!     "id": "welcome",
//!     "entry": { "event": "view_item", "where": { "price": { "$gt": 50 } } },
//!     "steps": [
//!         { "id": "nudge", "type": "send", "channel": "onsite", "content": "free-shipping-banner" },
//!         { "id": "done", "type": "exit" }
//!     ]
//! }] }"#)?;
//! // Validation reports every error with its JSON path.
//! let bundle = compile_bundle(&source, &FixedZones).map_err(|errors| format!("{errors:?}"))?;
//! let engine = Engine::new(bundle);
//!
//! let mut state = ShopperState::new("anon-42");
//! let now = Timestamp::parse_rfc3339("2026-06-01T10:00:00Z")?;
//! let props = Map::from_iter([("price".to_owned(), Value::from(80.0))]);
//! let decisions = engine.ingest(&mut state, &Event::new("Product Viewed", now, props), now);
//!
//! let send = decisions.iter().find(|d| d.action == Action::Send).ok_or("no send decision")?;
//! assert_eq!(send.content.as_deref(), Some("free-shipping-banner"));
//! assert_eq!(send.reason(), "allowed");
//! let bytes = state.encode();
//! assert_eq!(ShopperState::decode(&bytes)?, state);
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod casefold;
pub mod condition;
pub mod decision;
pub mod engine;
pub mod event;
pub mod hash;
mod host;
pub mod intent;
pub mod interest;
pub mod journey;
pub mod jsnum;
pub mod map;
pub mod orders;
pub mod policy;
pub mod scope;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "cli")]
pub mod simulate;
pub mod sort;
pub mod state;
pub mod time;
pub mod value;
#[cfg(target_arch = "wasm32")]
pub mod wasm;
pub mod wire;

/// The wasm32 module's allocator: talc, smaller and faster there than the default dlmalloc.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

pub use decision::{Action, Decision, Reason};
pub use engine::{Engine, EngineOptions};
pub use event::Event;
pub use state::ShopperState;
pub use time::{Duration, Timestamp};
pub use value::{Map, Value};
/// The codec macros, crate-private: `crate::wire_struct!` / `crate::wire_unit_enum!`.
pub(crate) use wire::{wire_struct, wire_unit_enum};
