//! Journeys: the file format marketers write (`model`), its validation into the compiled
//! form the engine runs (`validate` → `compiled`), and the defaults both share.

pub mod compiled;
#[cfg(feature = "cli")]
pub mod diagnostics;
pub mod graph;
pub mod model;
pub mod validate;

pub use compiled::*;
pub use validate::{compile_bundle, compile_journey, FixedZones, JourneyError, JourneyErrorKind, ZoneSource};
