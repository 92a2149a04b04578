//! Condition language: GrowthBook's public `evalCondition` cases (read from the shared
//! conformance directory, never copied here) and our own data-driven cases in
//! `tests/cases/conditions/*.json`.
//!
//! Own case files are `{"now": RFC 3339, "cases": [[name, condition, attributes,
//! expected, groups?], ...]}`, where `expected` is `true`, `false`, or
//! `{"error": code, "path": json-pointer}` for a condition that must not compile.
//!
//! A GrowthBook case whose condition we refuse to compile (GrowthBook's SDKs evaluate it
//! to `false`) must be listed, with the error, where and why, in
//! `tests/cases/conditions/growthbook_refused.json`; any other compile error fails.
//! Without the conformance data the test is ignored (failed under `CI=true`).
//!
//! Run by libtest-mimic (`harness = false`), so that the missing data is counted as
//! ignored rather than passed.
#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test harness: malformed case files should fail loudly"
)]

#[path = "support/cases.rs"]
mod cases;
#[path = "support/harness.rs"]
mod harness;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use libtest_mimic::{Completion, Failed, Trial};
use waymark::condition::{Condition, EvalEnv, PathKind, Scope};
use waymark::time::Timestamp;
use waymark::value::{Map, Value};

use harness::trial;

fn main() -> ExitCode {
    harness::run(vec![
        Trial::ignorable_test("growthbook_conformance", growthbook_conformance),
        trial("own_cases", own_cases),
        trial(
            "refs_resolve_through_the_root_scope_inside_elem_match",
            refs_resolve_through_the_root_scope_inside_elem_match,
        ),
        trial("errors_say_what_to_write_instead", errors_say_what_to_write_instead),
        trial("deep_nesting_is_rejected_not_overflowed", deep_nesting_is_rejected_not_overflowed),
        trial("always_and_binary_forms", always_and_binary_forms),
        trial("corrupt_condition_bytes_are_errors", corrupt_condition_bytes_are_errors),
    ])
}

/// The list of GrowthBook cases we refuse to compile, in `tests/cases/conditions/`.
const REFUSED: &str = "growthbook_refused.json";

type Groups = Map<Vec<Value>>;

fn to_value(json: &serde_json::Value) -> Value {
    serde_json::from_value(json.clone()).unwrap()
}

fn groups_of(json: Option<&serde_json::Value>) -> Option<Groups> {
    json.map(|g| serde_json::from_value(g.clone()).unwrap())
}

/// The shared conformance file: under `$WAYMARK_SHARED_DIR` when that is set (and then
/// only there), else `../shared` from the main checkout or `../../shared` from a worktree
/// under `wt/`. `Err` names where it was looked for.
fn conformance_file() -> Result<PathBuf, String> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidates = match std::env::var_os("WAYMARK_SHARED_DIR") {
        Some(dir) => vec![PathBuf::from(dir)],
        None => vec![manifest.join("../shared"), manifest.join("../../shared")],
    };
    let files: Vec<PathBuf> = candidates.iter().map(|d| d.join("conformance/growthbook-cases.json")).collect();
    files.iter().find(|f| f.is_file()).cloned().ok_or_else(|| {
        let tried: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        format!("GrowthBook conformance data not found (tried {}; set WAYMARK_SHARED_DIR)", tried.join(", "))
    })
}

/// Compiles and evaluates; `Err` for a condition that does not compile.
fn run(condition: &Value, attributes: &Value, groups: Option<&Groups>, now: Timestamp) -> Result<bool, String> {
    let env = EvalEnv { now, groups };
    match Condition::compile(condition) {
        Ok(c) => {
            let answer = c.eval(attributes, &env);
            // The binary form must round-trip and answer the same.
            let bytes = postcard::to_allocvec(&c).map_err(|e| e.to_string())?;
            let back: Condition = postcard::from_bytes(&bytes).map_err(|e| e.to_string())?;
            assert_eq!(back, c);
            assert_eq!(back.eval(attributes, &env), answer, "postcard round trip changed the answer");
            assert_eq!(waymark::wire::to_vec(&c), bytes, "the wire codec writes what postcard writes");
            Ok(answer)
        }
        Err(e) => Err(format!("[{}] {e}", e.code())),
    }
}

/// One entry of [`REFUSED`]: a GrowthBook case whose condition we reject at compile time.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Refusal {
    /// The case's name in the conformance data.
    case: String,
    /// GrowthBook's expected answer (what its SDKs evaluate the condition to).
    growthbook: bool,
    /// Our error code and JSON pointer.
    error: String,
    path: String,
    /// Why we refuse instead of answering as GrowthBook does.
    why: String,
}

fn refusals() -> BTreeMap<String, Refusal> {
    let file = cases::cases_dir().join("conditions").join(REFUSED);
    let data: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let list: Vec<Refusal> = serde_json::from_value(data["refused"].clone()).unwrap();
    let mut map = BTreeMap::new();
    for r in list {
        assert!(!r.why.trim().is_empty(), "{REFUSED}: {:?} needs a reason", r.case);
        let name = r.case.clone();
        assert!(map.insert(name.clone(), r).is_none(), "{REFUSED}: {name:?} is listed twice");
    }
    map
}

fn growthbook_conformance() -> Result<Completion, Failed> {
    let file = match conformance_file() {
        Ok(file) => file,
        Err(absent) => return harness::absent(&absent),
    };
    let data: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let cases = data["evalCondition"].as_array().unwrap();
    let refused = refusals();
    let mut failures = Vec::new();
    let mut refused_seen = std::collections::BTreeSet::new();
    let mut compile_errors = 0;
    for case in cases {
        let case = case.as_array().unwrap();
        let name = case[0].as_str().unwrap();
        let expected = case[3].as_bool().unwrap();
        let groups = groups_of(case.get(4));
        let condition = to_value(&case[1]);
        let refusal = refused.get(name);
        match (run(&condition, &to_value(&case[2]), groups.as_ref(), Timestamp(0)), refusal) {
            (Ok(got), None) if got == expected => {}
            (Ok(got), None) => failures.push(format!("{name}: expected {expected}, got {got} ({})", case[1])),
            (Ok(got), Some(_)) => failures.push(format!(
                "{name}: listed in {REFUSED} as refused, but it compiles (and answers {got}; GrowthBook: {expected}): \
                 take it off the list"
            )),
            (Err(err), None) => failures.push(format!(
                "{name}: does not compile: {err} ({}); GrowthBook answers {expected}. Either the condition \
                 compiler should accept it, or the case belongs in tests/cases/conditions/{REFUSED} with the reason",
                case[1]
            )),
            (Err(_), Some(want)) => {
                compile_errors += 1;
                refused_seen.insert(name);
                let err = Condition::compile(&condition).unwrap_err();
                if (err.code(), err.path()) != (want.error.as_str(), want.path.as_str()) || want.growthbook != expected
                {
                    failures.push(format!(
                        "{name}: {REFUSED} expects error {} at {} where GrowthBook answers {}; got error {} at {} \
                         where GrowthBook answers {expected}: {err}",
                        want.error,
                        want.path,
                        want.growthbook,
                        err.code(),
                        err.path()
                    ));
                }
            }
        }
    }
    for name in refused.keys().filter(|n| !refused_seen.contains(n.as_str())) {
        if !cases.iter().any(|c| c[0].as_str() == Some(name)) {
            failures.push(format!("{REFUSED}: {name:?} is not a case of {}", file.display()));
        }
    }
    println!(
        "growthbook evalCondition: {}/{} cases pass ({} refused at compile time, as {REFUSED} lists)",
        cases.len() - failures.len(),
        cases.len(),
        compile_errors
    );
    if failures.is_empty() {
        Ok(Completion::Completed)
    } else {
        Err(format!("{} failures:\n{}", failures.len(), failures.join("\n")).into())
    }
}

fn own_cases() {
    let files: Vec<PathBuf> = cases::case_files("conditions").into_iter().filter(|f| !f.ends_with(REFUSED)).collect();
    assert!(!files.is_empty(), "no own condition case files besides {REFUSED}");
    let mut total = 0;
    let mut failures = Vec::new();
    for file in &files {
        let data: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let now = Timestamp::parse_rfc3339(data["now"].as_str().unwrap_or("2026-01-01T00:00:00Z")).unwrap();
        let stem = cases::case_name(file);
        for case in data["cases"].as_array().unwrap() {
            total += 1;
            let case = case.as_array().unwrap();
            let name = format!("{stem}: {}", case[0].as_str().unwrap());
            let groups = groups_of(case.get(4));
            let got = run(&to_value(&case[1]), &to_value(&case[2]), groups.as_ref(), now);
            match (&case[3], got) {
                (serde_json::Value::Bool(want), Ok(got)) if *want == got => {}
                (serde_json::Value::Object(want), Err(_)) => {
                    let err = Condition::compile(&to_value(&case[1])).unwrap_err();
                    if want["error"].as_str() != Some(err.code()) || want["path"].as_str() != Some(err.path()) {
                        failures.push(format!(
                            "{name}: expected error {} at {}, got {} at {}: {err}",
                            want["error"],
                            want["path"],
                            err.code(),
                            err.path()
                        ));
                    }
                }
                (want, got) => failures.push(format!("{name}: expected {want}, got {got:?}")),
            }
        }
    }
    println!("own condition cases: {}/{total} pass in {} files", total - failures.len(), files.len());
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

/// A scope like the engine's: paths resolve under named roots, computed on the fly.
struct EngineLikeScope {
    entry: Value,
    event: Value,
    score: f64,
}

impl Scope for EngineLikeScope {
    fn lookup(&self, path: &[String]) -> Option<Cow<'_, Value>> {
        let (first, rest) = path.split_first()?;
        match first.as_str() {
            "entry" => self.entry.get_path(rest).map(Cow::Borrowed),
            "intent" if rest == ["score"] => Some(Cow::Owned(Value::Number(self.score))),
            _ => self.event.get_path(path).map(Cow::Borrowed),
        }
    }
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn refs_resolve_through_the_root_scope_inside_elem_match() {
    let cond = Condition::compile(&json(
        r#"{"items": {"$elemMatch": {"item_id": {"$eq": {"$ref": "entry.item_id"}}}}, "intent.score": {"$gte": 0.5}}"#,
    ))
    .unwrap();
    let env = EvalEnv { now: Timestamp(0), groups: None };
    let mut scope = EngineLikeScope {
        entry: json(r#"{"item_id": "sku-1"}"#),
        event: json(r#"{"items": [{"item_id": "sku-9"}, {"item_id": "sku-1"}]}"#),
        score: 0.7,
    };
    assert!(cond.eval(&scope, &env));
    scope.score = 0.2;
    assert!(!cond.eval(&scope, &env));
    scope.score = 0.9;
    scope.entry = json(r#"{"item_id": "sku-2"}"#);
    assert!(!cond.eval(&scope, &env));
    scope.entry = json("{}");
    assert!(!cond.eval(&scope, &env), "a missing $ref makes the comparison false");

    assert_eq!(cond.referenced_roots(), ["entry", "intent", "items"]);
    let expected =
        [("entry.item_id", PathKind::Ref), ("intent.score", PathKind::Attribute), ("items", PathKind::Attribute)];
    let expected: Vec<(String, PathKind)> = expected.iter().map(|(p, k)| ((*p).to_owned(), *k)).collect();
    assert_eq!(cond.referenced_paths(), expected);
    // The binary form keeps what the paths are computed from.
    let back = Condition::from_bytes(&cond.to_bytes().unwrap()).unwrap();
    assert_eq!(back.referenced_paths(), expected);
}

fn errors_say_what_to_write_instead() {
    let err = Condition::compile(&json(r#"{"price": {"$gtx": 5}}"#)).unwrap_err();
    assert_eq!(err.code(), "unknown_operator");
    assert_eq!(err.path(), "/price/$gtx");
    assert_eq!(err.to_string(), r#"unknown operator "$gtx": did you mean "$gt"? (at /price/$gtx)"#);

    let err = Condition::compile(&json(r#"{"a/b": {"$regex": "(unclosed"}}"#)).unwrap_err();
    assert_eq!((err.code(), err.path()), ("bad_regex", "/a~1b/$regex"));

    let err = Condition::compile(&json(r#"{"seen": {"$within": "30 days"}}"#)).unwrap_err();
    assert_eq!((err.code(), err.path()), ("bad_duration", "/seen/$within"));
    assert!(err.to_string().contains("\"30 days\""), "{err}");

    let err = Condition::compile(&json(r#"{"n": {"$in": 1}}"#)).unwrap_err();
    assert_eq!(err.to_string(), r#"$in needs an array of values, e.g. ["a", "b"], found 1 (at /n/$in)"#);
}

fn deep_nesting_is_rejected_not_overflowed() {
    let mut text = String::from(r#"{"a": 1}"#);
    for _ in 0..40 {
        text = format!(r#"{{"$not": {text}}}"#);
    }
    let err = Condition::compile(&json(&text)).unwrap_err();
    assert_eq!(err.code(), "too_deep");
    let mut ok = String::from(r#"{"a": 1}"#);
    for _ in 0..20 {
        ok = format!(r#"{{"$not": {ok}}}"#);
    }
    let c = Condition::compile(&json(&ok)).unwrap();
    assert!(c.eval(&json(r#"{"a": 1}"#), &EvalEnv { now: Timestamp(0), groups: None }));
}

fn always_and_binary_forms() {
    let always = Condition::always();
    assert!(always.is_always());
    assert!(always.eval(&Value::Null, &EvalEnv { now: Timestamp(0), groups: None }));
    let source = json(r#"{"name": {"$regexi": "^ab"}, "n": {"$gt": 2}}"#);
    let c = Condition::compile(&source).unwrap();
    assert_eq!(c.source(), Some(&source));
    // The binary form is the compiled tree (the regex as a DFA), without the source.
    let bytes = postcard::to_allocvec(&c).unwrap();
    let back: Condition = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(back, c);
    assert_eq!(back.source(), None);
    assert!(back.eval(&json(r#"{"name": "ABC", "n": 3}"#), &EvalEnv { now: Timestamp(0), groups: None }));
    assert!(postcard::from_bytes::<Condition>(&[0xff, 0x01, 0x02]).is_err());
}

/// Condition bytes that are cut, flipped or nested absurdly deep are decode errors, never
/// panics or stack overflows.
fn corrupt_condition_bytes_are_errors() {
    let c = Condition::compile(&json(
        r#"{"$or": [{"sku": {"$regex": "^SALE-\\d+$"}}, {"tags": {"$elemMatch": {"$in": ["a", {"$ref": "entry.t"}]}}},
                    {"price": {"$gte": 10, "$lt": "20"}}, {"t": {"$within": "30d"}}, {"v": {"$vgt": "1.2.3"}}]}"#,
    ))
    .unwrap();
    let bytes = c.to_bytes().unwrap();
    assert_eq!(Condition::from_bytes(&bytes).unwrap(), c);
    for cut in 0..bytes.len() {
        assert!(Condition::from_bytes(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert_eq!(Condition::from_bytes(&trailing).unwrap_err().code(), "condition_trailing_bytes");
    let env = EvalEnv { now: Timestamp(0), groups: None };
    for i in 0..bytes.len() {
        for flip in [0x01, 0x80, 0xff] {
            let mut bad = bytes.clone();
            bad[i] ^= flip;
            if let Ok(decoded) = Condition::from_bytes(&bad) {
                decoded.eval(&json(r#"{"sku": "SALE-1", "tags": ["a"], "price": 12}"#), &env);
            }
        }
    }
    // `$not` (tag 3) a million times over: refused at the depth limit.
    let deep = vec![3u8; 1_000_000];
    assert_eq!(Condition::from_bytes(&deep).unwrap_err().code(), "condition_too_deep");
    // A count far beyond the bytes present is refused before anything is allocated.
    assert_eq!(Condition::from_bytes(&[0, 0xff, 0xff, 0xff, 0xff, 0x0f]).unwrap_err().code(), "condition_truncated");
}
