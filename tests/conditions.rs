//! Condition language: GrowthBook's public `evalCondition` cases (read from the shared
//! conformance directory, never copied here) and our own data-driven cases in
//! `tests/cases/conditions/*.json`.
//!
//! Own case files are `{"now": RFC 3339, "cases": [[name, condition, attributes,
//! expected, groups?], ...]}`, where `expected` is `true`, `false`, or
//! `{"error": code, "path": json-pointer}` for a condition that must not compile.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test harness: malformed case files should fail loudly"
)]

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use waymark::condition::{Condition, EvalEnv, PathKind, Scope};
use waymark::time::Timestamp;
use waymark::value::{Map, Value};

type Groups = Map<Vec<Value>>;

fn to_value(json: &serde_json::Value) -> Value {
    serde_json::from_value(json.clone()).unwrap()
}

fn groups_of(json: Option<&serde_json::Value>) -> Option<Groups> {
    json.map(|g| serde_json::from_value(g.clone()).unwrap())
}

/// The shared conformance file: `../shared` from the main checkout, `../../shared` from a
/// worktree under `wt/`, or `$WAYMARK_SHARED_DIR`.
fn conformance_file() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os("WAYMARK_SHARED_DIR") {
        candidates.push(PathBuf::from(dir));
    }
    candidates.push(manifest.join("../shared"));
    candidates.push(manifest.join("../../shared"));
    let files: Vec<PathBuf> = candidates.iter().map(|d| d.join("conformance/growthbook-cases.json")).collect();
    files.iter().find(|f| f.is_file()).cloned().unwrap_or_else(|| files[usize::from(files.len() > 2)].clone())
}

/// Compiles and evaluates; a condition that does not compile evaluates to false.
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

#[test]
fn growthbook_conformance() {
    let file = conformance_file();
    let Ok(text) = std::fs::read_to_string(&file) else {
        println!("conformance data not found at {}, skipping", file.display());
        return;
    };
    let data: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cases = data["evalCondition"].as_array().unwrap();
    let mut failures = Vec::new();
    let mut compile_errors = 0;
    for case in cases {
        let case = case.as_array().unwrap();
        let name = case[0].as_str().unwrap();
        let expected = case[3].as_bool().unwrap();
        let groups = groups_of(case.get(4));
        let got = match run(&to_value(&case[1]), &to_value(&case[2]), groups.as_ref(), Timestamp(0)) {
            Ok(b) => b,
            Err(_) => {
                compile_errors += 1;
                false
            }
        };
        if got != expected {
            failures.push(format!("{name}: expected {expected}, got {got} ({})", case[1]));
        }
    }
    println!(
        "growthbook evalCondition: {}/{} cases pass ({} rejected at compile time, counted as false)",
        cases.len() - failures.len(),
        cases.len(),
        compile_errors
    );
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn own_cases() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/conditions");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no case files in {}", dir.display());
    let mut total = 0;
    let mut failures = Vec::new();
    for file in &files {
        let data: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let now = Timestamp::parse_rfc3339(data["now"].as_str().unwrap_or("2026-01-01T00:00:00Z")).unwrap();
        let stem = file.file_stem().unwrap().to_string_lossy();
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

#[test]
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

#[test]
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

#[test]
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

#[test]
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
#[test]
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
