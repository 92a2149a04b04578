//! Journeys: the file format marketers write (`model`), its validation into the compiled
//! form the engine runs (`validate` → `compiled`; `validate` needs feature `compiler`),
//! and the defaults both share.

pub mod compiled;
#[cfg(feature = "cli")]
pub mod diagnostics;
pub mod graph;
pub mod model;
#[cfg(feature = "compiler")]
pub mod text;
#[cfg(feature = "compiler")]
pub mod tzdb;
#[cfg(feature = "compiler")]
pub mod validate;

pub use compiled::*;
#[cfg(feature = "compiler")]
pub use validate::{compile_bundle, compile_journey, FixedZones, JourneyError, JourneyErrorKind, ZoneSource};
