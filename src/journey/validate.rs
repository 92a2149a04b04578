//! Validation (STUB — being written): source → compiled bundle with path-precise errors.
use crate::journey::compiled::Bundle;
use crate::journey::model::BundleSource;
use crate::time::Zone;

/// Resolves IANA zone names to offset tables.
pub trait ZoneSource {
    /// The zone, if known.
    fn resolve(&self, name: &str) -> Option<Zone>;
}

/// Only UTC and fixed offsets ("+02:00"): what a build without a zone database knows.
pub struct FixedZones;

impl ZoneSource for FixedZones {
    fn resolve(&self, name: &str) -> Option<Zone> {
        Zone::parse_fixed(name)
    }
}

/// One validation error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct JourneyError {
    /// JSON pointer, e.g. `/journeys/0/steps/2/timeout`.
    pub path: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// Validates and compiles a bundle.
pub fn compile_bundle(_src: &BundleSource, _zones: &dyn ZoneSource) -> Result<Bundle, Vec<JourneyError>> {
    Err(vec![JourneyError { path: String::new(), message: "not yet".into() }])
}
