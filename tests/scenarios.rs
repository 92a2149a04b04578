//! Scenario tests: each `tests/cases/scenarios/*.json` names journeys (files or inline),
//! an optional policy, and a list of steps — input lines exactly as `waymark simulate`
//! reads them — each with the decisions it must (`expect`, in order) and must not
//! (`absent`) produce. `"trace_skips": true` in a case turns on entry-skip decisions
//! (`EngineOptions::trace_skips`, `simulate --trace-skips`). The same files drive the wasm
//! determinism check.
#![expect(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a failed unwrap, index or panic is a failed test"
)]

#[path = "support/cases.rs"]
mod cases;

use std::path::{Path, PathBuf};

use serde_json::{json, Value as Json};
use waymark::decision::DecisionRecord;
use waymark::journey::model::{BundleSource, JourneySource, PolicySource};
use waymark::journey::{compile_bundle, Bundle};
use waymark::simulate::Simulator;
use waymark::{Engine, EngineOptions};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn load_bundle(case: &Json, file: &Path) -> Bundle {
    let mut source = BundleSource::default();
    for path in case["journeys"].as_array().cloned().unwrap_or_default() {
        let path = root().join(path.as_str().expect("journey paths are strings"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let journey: JourneySource = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        source.journeys.push(journey);
    }
    for inline in case["inline"].as_array().cloned().unwrap_or_default() {
        source
            .journeys
            .push(serde_json::from_value(inline).unwrap_or_else(|e| panic!("{}: inline journey: {e}", file.display())));
    }
    if let Some(policy) = case.get("policy") {
        source.policy = serde_json::from_value::<PolicySource>(policy.clone())
            .unwrap_or_else(|e| panic!("{}: policy: {e}", file.display()));
    }
    let bundle = compile_bundle(&source, &waymark::journey::tzdb::Tzdb).unwrap_or_else(|errors| {
        panic!(
            "{}: bundle does not validate:\n{}",
            file.display(),
            errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n")
        )
    });
    // The binary bundle is the version byte + exactly what postcard writes, and reads back
    // to the same bytes.
    let bytes = bundle.to_bytes();
    assert_eq!(
        bytes.get(1..),
        Some(&postcard::to_allocvec(&bundle).expect("postcard encodes")[..]),
        "{}",
        file.display()
    );
    assert_eq!(Bundle::from_bytes(&bytes).expect("decodes").to_bytes(), bytes);
    bundle
}

/// A pattern matches a record when every field it names is equal; `reasons` in a
/// pattern must all be present.
fn matches(pattern: &Json, record: &Json) -> bool {
    pattern.as_object().expect("patterns are objects").iter().all(|(key, want)| match key.as_str() {
        "reasons" => want
            .as_array()
            .expect("reasons is an array")
            .iter()
            .all(|r| record["reasons"].as_array().is_some_and(|have| have.contains(r))),
        _ => record.get(key) == Some(want),
    })
}

fn run_case(file: &Path) -> usize {
    let text = std::fs::read_to_string(file).expect("readable case");
    let case: Json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let options =
        EngineOptions { trace_skips: case["trace_skips"].as_bool().unwrap_or(false), ..EngineOptions::default() };
    let mut sim = Simulator::new(Engine::with_options(load_bundle(&case, file), options));
    let mut checks = 0;
    for (index, step) in case["steps"].as_array().expect("steps").iter().enumerate() {
        let mut step = step.clone();
        let obj = step.as_object_mut().expect("steps are objects");
        let expect = obj.remove("expect").unwrap_or(json!([]));
        let absent = obj.remove("absent").unwrap_or(json!([]));
        let tier = obj.remove("tier");
        let count = obj.remove("count");
        let note = obj.remove("note");
        let where_ =
            format!("{} step {} {}", file.display(), index + 1, note.as_ref().and_then(|n| n.as_str()).unwrap_or(""));
        // `advance_to` is the clock-only input line `{"time": ...}`.
        if let Some(until) = obj.remove("advance_to") {
            obj.insert("time".into(), until);
        }
        let line = serde_json::to_string(&step).expect("serializable");
        let (input, time) = Simulator::parse_line(&line, index + 1).unwrap_or_else(|e| panic!("{where_}: {e}"));
        let (decisions, rejected) = sim.apply(&input, time);
        assert!(rejected.is_empty(), "{where_}: {rejected:?}");
        let records: Vec<Json> =
            decisions.iter().map(|(s, d)| serde_json::to_value(DecisionRecord::new(s, d)).expect("json")).collect();
        let shown = || records.iter().map(|r| r.to_string()).collect::<Vec<_>>().join("\n  ");
        let mut from = 0;
        for pattern in expect.as_array().expect("expect is an array") {
            match records.iter().skip(from).position(|r| matches(pattern, r)) {
                Some(offset) => from += offset + 1,
                None => panic!("{where_}: expected a decision matching {pattern} (in order), got:\n  {}", shown()),
            }
            checks += 1;
        }
        for pattern in absent.as_array().expect("absent is an array") {
            if let Some(r) = records.iter().find(|r| matches(pattern, r)) {
                panic!("{where_}: decision {r} matches forbidden pattern {pattern}; all:\n  {}", shown());
            }
            checks += 1;
        }
        if let Some(count) = count {
            assert_eq!(
                records.len() as u64,
                count.as_u64().expect("count is a number"),
                "{where_}: decision count; got:\n  {}",
                shown()
            );
            checks += 1;
        }
        if let Some(tier) = tier {
            let shopper = step["shopper"].as_str().unwrap_or("s1");
            let state = sim.state(shopper).expect("shopper exists");
            assert_eq!(state.signals.tier().as_str(), tier.as_str().expect("tier is text"), "{where_}: intent tier");
            checks += 1;
        }
    }
    checks
}

#[test]
fn scenario_cases() {
    let files = cases::case_files("scenarios");
    let mut total = 0;
    for file in &files {
        let checks = run_case(file);
        assert!(checks > 0, "{}: a scenario must check something", file.display());
        total += checks;
    }
    println!("{} scenario files, {total} checks passed", files.len());
}

/// Every shipped template and example journey validates.
#[test]
fn shipped_journeys_validate() {
    for dir in ["templates", "examples/journeys"] {
        for entry in std::fs::read_dir(root().join(dir)).expect("dir") {
            let path = entry.expect("entry").path();
            let case = json!({ "journeys": [path.strip_prefix(root()).expect("inside repo").to_str()] });
            let bundle = load_bundle(&case, &path);
            assert_eq!(bundle.journeys.len(), 1, "{}", path.display());
        }
    }
}
