//! Validation: a `BundleSource` as written becomes the compiled `Bundle` the engine runs,
//! or a list of every problem found, each with a JSON pointer into the source
//! (`/journeys/0/steps/3/timeout`), a stable code and a message that says what was found
//! and what to write instead. Nothing here stops at the first error.
//!
//! One `Checker` collects the errors; its checks are split by what they look at:
//! `fields` (ids, durations, conditions, channels), `policy`, `journey`, `steps` (the
//! step list and its references), `step_types` (send, split), `graph` (reachability,
//! loops, exits). The errors and their codes live in `errors`.

mod errors;
mod fields;
mod graph;
mod journey;
mod policy;
mod step_types;
mod steps;

use std::collections::BTreeMap;

use crate::journey::compiled::{Bundle, Journey};
use crate::journey::model::{BundleSource, JourneySource};
use crate::state::MAX_NAME_BYTES;
use crate::time::{Duration, Zone};

pub use errors::{JourneyError, JourneyErrorKind};

/// Resolves IANA zone names to offset tables.
pub trait ZoneSource {
    /// The zone, if known.
    fn resolve(&self, name: &str) -> Option<Zone>;

    /// What to write instead of `name`, which [`ZoneSource::resolve`] did not know: the
    /// second half of the `unknown_time_zone` message.
    fn unknown(&self, name: &str) -> String {
        let _ = name;
        "write an IANA name such as \"America/New_York\" or a fixed offset such as \"+02:00\"".into()
    }
}

/// Only UTC and fixed offsets ("+02:00"), no IANA names: for tests and embedders that
/// carry no zone tables. The CLI, the backend and the package use
/// [`crate::journey::tzdb::Tzdb`].
pub struct FixedZones;

impl ZoneSource for FixedZones {
    fn resolve(&self, name: &str) -> Option<Zone> {
        Zone::parse_fixed(name)
    }

    fn unknown(&self, _name: &str) -> String {
        "this compiler knows no IANA zone names: write UTC or a fixed offset such as \"+02:00\"".into()
    }
}

/// Entry event properties remembered when a journey does not say.
pub const DEFAULT_REMEMBER: [&str; 6] =
    ["item_id", "item_category", "transaction_id", "search_term", "cart_id", "value"];

/// Longest journey or step id.
pub const MAX_ID_LEN: usize = MAX_NAME_BYTES;

/// Most entries a `multiple` re-entry rule may allow within its window.
pub const MAX_REENTRY_CAP: u32 = 8;

/// How long an incentive stays active when `valid_for` is left out.
pub const DEFAULT_INCENTIVE_VALIDITY: Duration = Duration(7 * crate::time::DAY);

/// Validates and compiles a bundle; on failure returns every error found.
///
/// Journeys come out sorted by id; error paths index the source as written.
pub fn compile_bundle(src: &BundleSource, zones: &dyn ZoneSource) -> Result<Bundle, Vec<JourneyError>> {
    let mut ck = Checker { zones, errors: Vec::new() };
    let policy = ck.policy(&src.policy);
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut journeys = Vec::with_capacity(src.journeys.len());
    for (i, journey) in src.journeys.iter().enumerate() {
        let path = format!("/journeys/{i}");
        if seen.insert(journey.id.as_str(), i).is_some() {
            ck.err(format!("{path}/id"), JourneyErrorKind::DuplicateJourneyId { id: journey.id.clone() });
        }
        if let Some(compiled) = ck.journey(&path, journey) {
            journeys.push(compiled);
        }
    }
    match policy {
        Some(policy) if ck.errors.is_empty() => {
            journeys.sort_by(|a, b| a.id.cmp(&b.id));
            Ok(Bundle { journeys, policy, groups: src.groups.iter().map(|(k, v)| (k.clone(), v.clone())).collect() })
        }
        _ => Err(ck.errors),
    }
}

/// Validates and compiles one journey under `path` (e.g. `""` for a journey file's root,
/// `/journeys/3` inside a bundle).
pub fn compile_journey(src: &JourneySource, path: &str, zones: &dyn ZoneSource) -> Result<Journey, Vec<JourneyError>> {
    let mut ck = Checker { zones, errors: Vec::new() };
    match ck.journey(path, src) {
        Some(journey) if ck.errors.is_empty() => Ok(journey),
        _ => Err(ck.errors),
    }
}

/// Collects errors while checking; each check returns `None` when it pushed an error.
struct Checker<'z> {
    zones: &'z dyn ZoneSource,
    errors: Vec<JourneyError>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn journey(steps: &str) -> BundleSource {
        let text = format!(r#"{{"journeys": [{{"id": "j", "entry": {{"event": "view_item"}}, "steps": {steps}}}]}}"#);
        serde_json::from_str(&text).unwrap()
    }

    fn codes(src: &BundleSource) -> Vec<(String, String)> {
        match compile_bundle(src, &FixedZones) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.iter().map(|e| (e.code().to_owned(), e.path.clone())).collect(),
        }
    }

    #[test]
    fn loops_through_a_real_wait_are_allowed() {
        let ok = journey(
            r#"[{"id": "nudge", "type": "send", "channel": "onsite", "content": "x"},
                {"id": "pause", "type": "delay", "duration": "1h"},
                {"id": "check", "type": "branch", "cases": [{"when": {"a": 1}, "next": "done"}], "default": "nudge"},
                {"id": "done", "type": "exit"}]"#,
        );
        assert_eq!(codes(&ok), Vec::<(String, String)>::new());
        let self_loop = journey(
            r#"[{"id": "nudge", "type": "send", "channel": "onsite", "content": "x", "next": "nudge"},
                {"id": "done", "type": "exit"}]"#,
        );
        let found = codes(&self_loop);
        assert!(found.contains(&("cycle_without_wait".into(), "/journeys/0/steps/0".into())), "{found:?}");
    }

    #[test]
    fn errors_of_every_journey_are_collected() {
        let mut src = journey(r#"[{"id": "w", "type": "delay", "duration": "soon"}, {"id": "done", "type": "exit"}]"#);
        let mut second = src.journeys.first().unwrap().clone();
        second.id = "BAD".into();
        src.journeys.push(second);
        let found = codes(&src);
        assert_eq!(
            found,
            [
                ("bad_duration".to_owned(), "/journeys/0/steps/0/duration".to_owned()),
                ("bad_id".to_owned(), "/journeys/1/id".to_owned()),
                ("bad_duration".to_owned(), "/journeys/1/steps/0/duration".to_owned()),
            ]
        );
        let err = compile_bundle(&src, &FixedZones).unwrap_err();
        assert!(err[0].to_string().starts_with("/journeys/0/steps/0/duration: bad duration \"soon\""));
    }
}
