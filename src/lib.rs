//! waymark decides, for one shopper at a time, which on-site intervention to show now
//! and which email / SMS / push follow-ups may still go out.
#![forbid(unsafe_code)]

pub mod condition;
pub mod decision;
pub mod engine;
pub mod event;
pub mod intent;
pub mod journey;
pub mod policy;
pub mod scope;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "cli")]
pub mod simulate;
pub mod state;
pub mod time;
#[cfg(feature = "cli")]
pub mod tzdb;
pub mod value;
#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use decision::{Action, Decision, Reason};
pub use engine::Engine;
pub use event::Event;
pub use state::ShopperState;
pub use time::{Duration, Timestamp};
pub use value::Value;
