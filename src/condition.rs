//! The condition language (STUB — being written): GrowthBook-style MongoDB conditions.
use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;
use crate::value::Value;

/// Where a condition's paths are looked up.
pub trait Scope {
    /// The value at a dotted path (already split), if any.
    fn lookup(&self, path: &[String]) -> Option<Cow<'_, Value>>;
}

impl Scope for Value {
    fn lookup(&self, path: &[String]) -> Option<Cow<'_, Value>> {
        self.get_path(path).map(Cow::Borrowed)
    }
}

/// Inputs every evaluation sees besides the scope.
#[derive(Debug, Clone, Copy)]
pub struct EvalEnv<'a> {
    /// The engine's "now", for `$within` / `$olderThan`.
    pub now: Timestamp,
    /// Saved groups for `$inGroup` / `$notInGroup`.
    pub groups: Option<&'a BTreeMap<String, Vec<Value>>>,
}

/// A compiled condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    source: Value,
}

/// Why a condition could not be compiled.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} (at {path})")]
pub struct ConditionError {
    /// JSON pointer inside the condition.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl ConditionError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        "bad_condition"
    }
}

impl Condition {
    /// Compiles a JSON condition.
    pub fn compile(source: &Value) -> Result<Condition, ConditionError> {
        Ok(Condition { source: source.clone() })
    }
    /// The empty condition (always true).
    pub fn always() -> Condition {
        Condition { source: Value::Object(BTreeMap::new()) }
    }
    /// Evaluates against a scope.
    pub fn eval(&self, _scope: &dyn Scope, _env: &EvalEnv<'_>) -> bool {
        true
    }
}
