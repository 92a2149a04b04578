//! Conditions: arbitrary JSON through `Condition::compile` (errors have a code and a
//! path), evaluated against an arbitrary JSON scope; never panics. A compiled condition
//! encodes, decodes to an equal one that re-encodes the same, and both evaluate alike.
//! Input that is not JSON goes straight to the binary decoder, `Condition::from_bytes`.
//!
//! Input: the condition and the scope in the `parts` layout of the crate.
#![no_main]

use libfuzzer_sys::fuzz_target;
use waymark::condition::{Condition, EvalEnv};
use waymark::{Map, Timestamp, Value};
use waymark_fuzz::{parts, BASE_TIME};

fuzz_target!(|data: &[u8]| {
    let p = parts(data, 2);
    let scope: Value = serde_json::from_slice(p[1]).unwrap_or_else(|_| Value::Object(Map::new()));
    let groups: Map<Vec<Value>> = Map::from_iter([
        ("vip".to_owned(), vec![Value::from("ana"), Value::from(1.0)]),
        ("staff".to_owned(), Vec::new()),
    ]);
    let envs = [EvalEnv { now: BASE_TIME, groups: Some(&groups) }, EvalEnv { now: Timestamp(i64::MIN), groups: None }];
    let condition = match serde_json::from_slice::<Value>(p[0]) {
        Ok(source) => match Condition::compile(&source) {
            Ok(condition) => condition,
            Err(e) => {
                assert!(!e.code().is_empty() && !e.to_string().is_empty());
                let _ = e.path();
                return;
            }
        },
        Err(_) => {
            // Not JSON: the bytes a binary bundle would carry.
            if let Ok(decoded) = Condition::from_bytes(p[0]) {
                for env in &envs {
                    decoded.eval(&scope, env);
                }
                let _ = decoded.referenced_paths();
            }
            return;
        }
    };
    let bytes = match condition.to_bytes() {
        Ok(bytes) => bytes,
        Err(e) => panic!("a compiled condition does not encode: {e}"),
    };
    let decoded = match Condition::from_bytes(&bytes) {
        Ok(decoded) => decoded,
        Err(e) => panic!("a compiled condition's encoding does not decode: {e}"),
    };
    assert!(decoded.to_bytes().ok() == Some(bytes), "decode(encode(condition)) encodes differently");
    assert!(decoded == condition);
    for env in &envs {
        let compiled = condition.eval(&scope, env);
        assert!(decoded.eval(&scope, env) == compiled, "the decoded condition evaluates differently");
    }
    let _ = condition.referenced_paths();
});
