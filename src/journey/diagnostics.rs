//! Journey files on disk (feature `cli`): loading files and directories into one
//! `BundleSource`, each file read by `journey::text` (which also locates every error in
//! its text), and validator errors on the merged bundle traced back to the file and the
//! line:col they came from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::journey::compiled::Bundle;
use crate::journey::model::{BundleSource, JourneySource};
use crate::journey::text::{self, escape_token, unescape_token};
pub use crate::journey::text::{line_column, locate as position_of_pointer, Diagnostic};
use crate::journey::validate::{compile_bundle, JourneyError, ZoneSource};

/// A journey or bundle file as read.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path as given (or found in a given directory).
    pub path: PathBuf,
    /// Its text.
    pub text: String,
}

/// Where one journey of the merged bundle was written.
#[derive(Debug, Clone)]
struct Origin {
    /// Index into `Sources::files`.
    file: usize,
    /// Pointer of the journey inside that file: `""` (a journey file) or `/journeys/3`.
    prefix: String,
}

/// Files merged into one bundle source, remembering where each part came from.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The files, in load order.
    pub files: Vec<SourceFile>,
    /// The merged bundle.
    pub bundle: BundleSource,
    journeys: Vec<Origin>,
    policy_file: Option<usize>,
    group_files: BTreeMap<String, usize>,
    /// What could not be read (reported again by `compile`, with the validator's errors
    /// on the journeys that could).
    errors: Vec<Diagnostic>,
}

/// Reads files and directories (all `*.json` in it, sorted by name, not recursive) into
/// one bundle source. A file holds one journey (an object with `steps`) or a bundle (an
/// object with `journeys`); at most one file may carry `policy`. Fails on files that
/// cannot be read at all; what is wrong inside a file comes back from
/// [`Sources::compile`], with the errors of every other journey.
pub fn load<P: AsRef<Path>>(paths: &[P]) -> Result<Sources, Vec<Diagnostic>> {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        let path = path.as_ref();
        if path.is_dir() {
            match json_files_in(path) {
                Ok(found) if found.is_empty() => errors.push(file_error(
                    "no_journey_files",
                    path,
                    "the directory holds no *.json files: pass journey files or a directory of them",
                )),
                Ok(found) => files.extend(found),
                Err(e) => errors.push(file_error("io_error", path, &format!("cannot list the directory: {e}"))),
            }
        } else {
            files.push(path.to_path_buf());
        }
    }
    let mut sources = Sources::default();
    for path in files {
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let index = sources.files.len();
                sources.files.push(SourceFile { path, text });
                sources.add(index);
            }
            Err(e) => errors.push(file_error("io_error", &path, &format!("cannot read the file: {e}"))),
        }
    }
    if errors.is_empty() {
        Ok(sources)
    } else {
        Err(errors)
    }
}

/// Loads and compiles files or directories (see [`load`]) into one bundle.
pub fn compile_paths<P: AsRef<Path>>(paths: &[P], zones: &dyn ZoneSource) -> Result<Bundle, Vec<Diagnostic>> {
    load(paths)?.compile(zones)
}

/// Compiles one journey or bundle held in memory (a request body); `name` stands in for
/// the file name in diagnostics. Nothing touches the file system.
pub fn compile_text(name: &str, text: &str, zones: &dyn ZoneSource) -> Result<Bundle, Vec<Diagnostic>> {
    let mut sources = Sources::default();
    sources.files.push(SourceFile { path: PathBuf::from(name), text: text.to_owned() });
    sources.add(0);
    sources.compile(zones)
}

/// Loads and compiles one journey or bundle file (or directory).
pub fn compile_journey_file(path: &Path, zones: &dyn ZoneSource) -> Result<Bundle, Vec<Diagnostic>> {
    compile_paths(&[path], zones)
}

fn json_files_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_file() && path.extension().is_some_and(|e| e == "json") {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

fn file_error(code: &str, path: &Path, message: &str) -> Diagnostic {
    Diagnostic {
        code: code.into(),
        file: Some(path.to_path_buf()),
        position: None,
        pointer: String::new(),
        message: message.into(),
    }
}

impl Sources {
    /// Validates and compiles the merged bundle; errors — the files' own, then the
    /// validator's — come back located in their files.
    pub fn compile(&self, zones: &dyn ZoneSource) -> Result<Bundle, Vec<Diagnostic>> {
        // A policy or groups that could not be read would make journeys look wrong.
        let incomplete =
            self.errors.iter().any(|d| d.pointer.starts_with("/policy") || d.pointer.starts_with("/groups"));
        let mut errors = self.errors.clone();
        if !incomplete {
            match compile_bundle(&self.bundle, zones) {
                Ok(bundle) if errors.is_empty() => return Ok(bundle),
                Ok(_) => {}
                Err(found) => errors.extend(found.iter().map(|e| self.locate(e))),
            }
        }
        // Files in load order, journeys in file order; within one journey, reading first.
        let file_index = |d: &Diagnostic| self.files.iter().position(|f| Some(&f.path) == d.file.as_ref());
        errors.sort_by_key(|d| (file_index(d), text::journey_index(&d.pointer)));
        Err(errors)
    }

    /// The source of a journey by id.
    pub fn journey(&self, id: &str) -> Option<&JourneySource> {
        self.bundle.journeys.iter().find(|j| j.id == id)
    }

    /// Turns a validator error (pointer into the merged bundle) into a diagnostic
    /// pointing into the file the offending part came from.
    pub fn locate(&self, err: &JourneyError) -> Diagnostic {
        let (file, pointer) = self.file_pointer(&err.path);
        let source = file.and_then(|f| self.files.get(f));
        Diagnostic {
            file: source.map(|s| s.path.clone()),
            position: source.and_then(|s| position_of_pointer(&s.text, &pointer)),
            ..text::diagnostic(err, &pointer)
        }
    }

    /// (file index, pointer inside that file) for a pointer into the merged bundle.
    fn file_pointer(&self, pointer: &str) -> (Option<usize>, String) {
        let mut tokens = pointer.split('/').skip(1);
        match tokens.next() {
            Some("journeys") => {
                let index = tokens.next().and_then(|t| t.parse::<usize>().ok());
                match index.and_then(|i| self.journeys.get(i)) {
                    Some(origin) => {
                        let rest: String = tokens.map(|t| format!("/{t}")).collect();
                        (Some(origin.file), format!("{}{rest}", origin.prefix))
                    }
                    None => (None, pointer.to_owned()),
                }
            }
            Some("policy") => (self.policy_file, pointer.to_owned()),
            Some("groups") => {
                let file = tokens.next().map(unescape_token).and_then(|g| self.group_files.get(&g).copied());
                (file, pointer.to_owned())
            }
            _ => (self.files.first().map(|_| 0), pointer.to_owned()),
        }
    }

    /// Reads file `index` and merges in what it holds; its errors are kept for `compile`.
    fn add(&mut self, index: usize) {
        let Some(file) = self.files.get(index) else {
            return;
        };
        let (path, text) = (file.path.clone(), file.text.as_str());
        let read = text::read(text);
        let mut errors = read.errors;
        if let Some(policy) = read.policy {
            match self.policy_file.and_then(|f| self.files.get(f)) {
                Some(first) => errors.push(Diagnostic {
                    code: "duplicate_policy".into(),
                    file: None,
                    position: None,
                    pointer: "/policy".into(),
                    message: format!(
                        "a policy was already given in {}: keep one policy for all the files",
                        first.path.display()
                    ),
                }),
                None => {
                    self.policy_file = Some(index);
                    self.bundle.policy = policy;
                }
            }
        }
        for (name, members) in read.groups.unwrap_or_default() {
            if let Some(first) = self.group_files.get(&name).and_then(|&f| self.files.get(f)) {
                errors.push(Diagnostic {
                    code: "duplicate_group".into(),
                    file: None,
                    position: None,
                    pointer: format!("/groups/{}", escape_token(&name)),
                    message: format!(
                        "group {name:?} is already defined in {}: define each saved group once",
                        first.path.display()
                    ),
                });
            } else {
                self.group_files.insert(name.clone(), index);
                self.bundle.groups.insert(name, members);
            }
        }
        for part in read.journeys {
            self.journeys.push(Origin { file: index, prefix: part.prefix });
            self.bundle.journeys.push(part.journey);
        }
        for mut d in errors {
            d.file = Some(path.clone());
            if d.position.is_none() {
                d.position = position_of_pointer(text, &d.pointer);
            }
            self.errors.push(d);
        }
    }
}
