//! The layer rules of the source tree: only the bindings (`src/wasm/`) name wasm-bindgen
//! and web-sys; js-sys is named there and in `src/host/js.rs`, the JS engine's
//! conversions, which the engine reaches through `src/host/`. No module outside the
//! bindings imports them (`crate::wasm`), so the engine and its base modules never depend
//! on the bindings.
#![expect(clippy::panic, reason = "test code: a failed read is a failed test")]

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.unwrap_or_else(|e| panic!("{}: {e}", dir.display())).path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// (file, text) of every Rust file under `src/` outside the bindings.
fn outside_the_bindings() -> Vec<(PathBuf, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 20, "found only {} files under {}", files.len(), src.display());
    files
        .into_iter()
        .filter(|f| !f.starts_with(src.join("wasm")))
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            (f, text)
        })
        .collect()
}

#[test]
fn only_the_bindings_and_the_host_module_name_the_js_crates() {
    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/host/js.rs");
    let mut offenders = Vec::new();
    for (file, text) in outside_the_bindings() {
        let allowed: &[&str] = if file == js { &["js_sys"] } else { &[] };
        for crate_name in ["wasm_bindgen", "js_sys", "web_sys"] {
            if text.contains(crate_name) && !allowed.contains(&crate_name) {
                offenders.push(format!("{} names {crate_name}", file.display()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "only src/wasm/ names the JS crates (and src/host/js.rs js-sys):\n{}",
        offenders.join("\n")
    );
}

#[test]
fn no_module_outside_the_bindings_imports_them() {
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs");
    let offenders: Vec<String> = outside_the_bindings()
        .into_iter()
        .filter(|(file, text)| *file != lib && text.contains("crate::wasm"))
        .map(|(file, _)| format!("{} names crate::wasm", file.display()))
        .collect();
    assert!(offenders.is_empty(), "host functions live in src/host/, not in the bindings:\n{}", offenders.join("\n"));
}
