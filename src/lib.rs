//! waymark decides, for one shopper at a time, which on-site intervention to show now
//! and which email / SMS / push follow-ups may still go out.
#![forbid(unsafe_code)]

pub mod condition;
pub mod event;
pub mod intent;
pub mod journey;
pub mod time;
#[cfg(feature = "cli")]
pub mod tzdb;
pub mod value;
