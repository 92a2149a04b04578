//! The layer rule of the source tree: only `src/wasm/` names the JS host's crates
//! (wasm-bindgen, js-sys, web-sys). The engine reaches the JS host through `src/host.rs`,
//! which calls into `src/wasm/host.rs` in the wasm build.
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

#[test]
fn only_src_wasm_names_the_js_host_crates() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 20, "found only {} files under {}", files.len(), src.display());
    let mut offenders = Vec::new();
    for file in files.iter().filter(|f| !f.starts_with(src.join("wasm"))) {
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for crate_name in ["wasm_bindgen", "js_sys", "web_sys"] {
            if text.contains(crate_name) {
                offenders.push(format!("{} names {crate_name}", file.display()));
            }
        }
    }
    assert!(offenders.is_empty(), "only src/wasm/ may name the JS host's crates:\n{}", offenders.join("\n"));
}
