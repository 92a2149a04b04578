//! The data-driven case files under `tests/cases/`, listed the same way for every harness
//! (conditions, intent, scenarios, validate, the bad-input suite): sorted by name, and a
//! case directory that is empty, missing, or holds a file that is not `*.json` (a case
//! that would silently never run) fails the test instead of passing with nothing checked.
#![allow(dead_code, reason = "shared by several test crates, each of which uses a part")]
#![expect(clippy::panic, reason = "test support: a broken case directory fails the test that reads it")]

use std::path::{Path, PathBuf};

/// `tests/cases/` of this checkout.
pub fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases")
}

/// Files a case directory may hold besides its cases.
const NOT_CASES: &[&str] = &["README.md"];

/// The case files `tests/cases/<dir>/*.json`, sorted by file name. Panics when the
/// directory cannot be read, holds no case, or holds a file that is neither a case nor in
/// [`NOT_CASES`].
pub fn case_files(dir: &str) -> Vec<PathBuf> {
    let dir = cases_dir().join(dir);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("case directory {}: {e}", dir.display()));
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.unwrap_or_else(|e| panic!("case directory {}: {e}", dir.display())).path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if path.extension().is_some_and(|e| e == "json") && path.is_file() {
            files.push(path);
        } else if !NOT_CASES.contains(&name.as_str()) {
            panic!(
                "{}: not a case file (cases are *.json): rename it or move it out of the case directory",
                path.display()
            );
        }
    }
    files.sort();
    assert!(!files.is_empty(), "no case files (*.json) in {}", dir.display());
    files
}

/// One case file `tests/cases/<name>` (a suite kept in a single file); panics when absent.
pub fn case_file(name: &str) -> PathBuf {
    let path = cases_dir().join(name);
    assert!(path.is_file(), "case file {} is missing", path.display());
    path
}

/// A case file's name without `.json`, as harnesses name its cases in their reports.
pub fn case_name(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}
