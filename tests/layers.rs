//! The layer rules of the source tree: only `src/wasm/` names wasm-bindgen, js-sys and
//! web-sys. The engine reaches one part of it, the JS engine's conversions
//! (`src/wasm/host.rs`), and only through `src/host/mod.rs`; no other module outside
//! `src/wasm/` (lib.rs aside, which declares it) names `crate::wasm`, so the engine and
//! its base modules never depend on the bindings.
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
fn only_src_wasm_names_the_js_crates() {
    let mut offenders = Vec::new();
    for (file, text) in outside_the_bindings() {
        for crate_name in ["wasm_bindgen", "wasm-bindgen", "js_sys", "js-sys", "web_sys", "web-sys"] {
            if text.contains(crate_name) {
                offenders.push(format!("{} names {crate_name}", file.display()));
            }
        }
    }
    assert!(offenders.is_empty(), "only src/wasm/ names the JS crates:\n{}", offenders.join("\n"));
}

#[test]
fn no_module_outside_the_bindings_imports_them() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (lib, host) = (root.join("src/lib.rs"), root.join("src/host/mod.rs"));
    let mut offenders = Vec::new();
    for (file, text) in outside_the_bindings() {
        if file == lib {
            continue;
        }
        for (at, _) in text.match_indices("crate::wasm") {
            let rest = text.get(at..).unwrap_or_default();
            if !(file == host && rest.starts_with("crate::wasm::host ")) {
                offenders.push(format!("{} names {}", file.display(), rest.lines().next().unwrap_or_default()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "the engine reaches src/wasm/ only for the JS conversions, through src/host/mod.rs:\n{}",
        offenders.join("\n")
    );
}
