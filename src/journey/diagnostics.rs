//! Journey files on disk (feature `cli`): loading files and directories into one
//! `BundleSource`, and turning every error — serde's parse errors and the validator's
//! JSON-pointer errors alike — into a `Diagnostic` with file:line:col, found by walking
//! the pointer through a `jsonc-parser` syntax tree of the file.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use jsonc_parser::ast::{ObjectPropName, Value as Node};
use jsonc_parser::common::Ranged;

use crate::journey::compiled::Bundle;
use crate::journey::model::{BundleSource, JourneySource};
use crate::journey::validate::{compile_bundle, JourneyError, ZoneSource};

/// One problem, located in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Stable snake_case code (`bad_duration`, `unknown_field`, `io_error`, ...).
    pub code: String,
    /// The file, when the problem is in one.
    pub file: Option<PathBuf>,
    /// 1-based line and column (in characters), when known.
    pub position: Option<(usize, usize)>,
    /// JSON pointer inside the file (`/steps/2/timeout`); empty for the whole file.
    pub pointer: String,
    /// What is wrong and what to write instead.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error[{}]: ", self.code)?;
        if let Some(file) = &self.file {
            write!(f, "{}", file.display())?;
            if let Some((line, column)) = self.position {
                write!(f, ":{line}:{column}")?;
            }
            write!(f, ": ")?;
        }
        if !self.pointer.is_empty() {
            write!(f, "{}: ", self.pointer)?;
        }
        f.write_str(&self.message)
    }
}

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
}

/// Reads files and directories (all `*.json` in it, sorted by name, not recursive) into
/// one bundle source. A file holds one journey (an object with `steps`) or a bundle (an
/// object with `journeys`); at most one file may carry `policy`.
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
                if let Err(e) = sources.add(index) {
                    errors.extend(e);
                }
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
    sources.add(0)?;
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
    /// Validates and compiles the merged bundle; errors come back located in their files.
    pub fn compile(&self, zones: &dyn ZoneSource) -> Result<Bundle, Vec<Diagnostic>> {
        compile_bundle(&self.bundle, zones).map_err(|errors| errors.iter().map(|e| self.locate(e)).collect())
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
            code: err.code().into(),
            file: source.map(|s| s.path.clone()),
            position: source.and_then(|s| position_of_pointer(&s.text, &pointer)),
            pointer: if pointer.is_empty() { "/".into() } else { pointer },
            message: err.kind.to_string(),
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

    /// Parses file `index` and merges it in.
    fn add(&mut self, index: usize) -> Result<(), Vec<Diagnostic>> {
        let Some(file) = self.files.get(index) else {
            return Ok(());
        };
        let (path, text) = (file.path.clone(), file.text.as_str());
        let shape: serde_json::Value =
            serde_json::from_str(text).map_err(|e| vec![serde_diagnostic(&path, text, &e)])?;
        let Some(top) = shape.as_object() else {
            return Err(shape_error(path, format!("the file holds a JSON {}, not an object: write a journey (an object with \"steps\") or a bundle (an object with \"journeys\")", json_type(&shape))));
        };
        if top.contains_key("journeys") || !top.contains_key("steps") && top.contains_key("policy") {
            let bundle: BundleSource =
                serde_json::from_str(text).map_err(|e| vec![serde_diagnostic(&path, text, &e)])?;
            let mut errors = Vec::new();
            if top.contains_key("policy") {
                match self.policy_file.and_then(|f| self.files.get(f)) {
                    Some(first) => errors.push(Diagnostic {
                        code: "duplicate_policy".into(),
                        file: Some(path.clone()),
                        position: position_of_pointer(text, "/policy"),
                        pointer: "/policy".into(),
                        message: format!(
                            "a policy was already given in {}: keep one policy for all the files",
                            first.path.display()
                        ),
                    }),
                    None => {
                        self.policy_file = Some(index);
                        self.bundle.policy = bundle.policy;
                    }
                }
            }
            for (name, members) in bundle.groups {
                let pointer = format!("/groups/{}", escape_token(&name));
                if let Some(first) = self.group_files.get(&name).and_then(|&f| self.files.get(f)) {
                    errors.push(Diagnostic {
                        code: "duplicate_group".into(),
                        file: Some(path.clone()),
                        position: position_of_pointer(text, &pointer),
                        pointer,
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
            for (k, journey) in bundle.journeys.into_iter().enumerate() {
                self.journeys.push(Origin { file: index, prefix: format!("/journeys/{k}") });
                self.bundle.journeys.push(journey);
            }
            if errors.is_empty() {
                Ok(())
            } else {
                Err(errors)
            }
        } else if top.contains_key("steps") {
            let journey: JourneySource =
                serde_json::from_str(text).map_err(|e| vec![serde_diagnostic(&path, text, &e)])?;
            self.journeys.push(Origin { file: index, prefix: String::new() });
            self.bundle.journeys.push(journey);
            Ok(())
        } else {
            Err(shape_error(path, "the object has neither \"steps\" nor \"journeys\": a journey file needs \"steps\", a bundle file \"journeys\"".into()))
        }
    }
}

/// A file whose top level is neither a journey nor a bundle.
fn shape_error(path: PathBuf, message: String) -> Vec<Diagnostic> {
    vec![Diagnostic {
        code: "unknown_file_shape".into(),
        file: Some(path),
        position: Some((1, 1)),
        pointer: "/".into(),
        message,
    }]
}

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

/// A serde_json error as a diagnostic: its line:column kept, the pointer of the node
/// it falls in worked out from the syntax tree, and a code from its category.
pub fn serde_diagnostic(path: &Path, text: &str, err: &serde_json::Error) -> Diagnostic {
    let message = err.to_string();
    // serde_json appends " at line L column C"; the position is reported separately.
    let message = match message.rfind(" at line ") {
        Some(cut) => message.get(..cut).unwrap_or(&message).to_owned(),
        None => message,
    };
    let code = if err.is_syntax() || err.is_eof() {
        "bad_json"
    } else if message.starts_with("unknown field") {
        "unknown_field"
    } else if message.starts_with("missing field") {
        "missing_field"
    } else if message.starts_with("invalid type") || message.starts_with("invalid value") {
        "wrong_type"
    } else {
        "bad_json"
    };
    let hint = match code {
        "unknown_field" => ": check the spelling, or remove the field",
        "missing_field" => ": add it",
        "bad_json" => ": fix the JSON syntax",
        _ => ": write a value of the expected type",
    };
    let (line, column) = (err.line(), err.column());
    let offset = offset_of_line_column(text, line, column);
    let pointer =
        if code == "bad_json" { String::new() } else { offset.map(|o| pointer_at(text, o)).unwrap_or_default() };
    let position = match offset {
        Some(o) => Some(line_column(text, o)),
        None if line > 0 => Some((line, column.max(1))),
        None => None,
    };
    Diagnostic {
        code: code.into(),
        file: Some(path.to_path_buf()),
        position,
        pointer,
        message: format!("{message}{hint}"),
    }
}

fn parse_tree(text: &str) -> Option<Node<'_>> {
    let collect = jsonc_parser::CollectOptions::default();
    let options = jsonc_parser::ParseOptions::default();
    jsonc_parser::parse_to_ast(text, &collect, &options).ok()?.value
}

/// 1-based (line, column) of what a JSON pointer names in `text`; when the exact path
/// does not exist (a missing field), of the closest existing parent.
pub fn position_of_pointer(text: &str, pointer: &str) -> Option<(usize, usize)> {
    let root = parse_tree(text)?;
    let mut node = &root;
    for token in pointer.split('/').skip(1) {
        let token = unescape_token(token);
        let child = match node {
            Node::Object(obj) => obj.properties.iter().find(|p| prop_name(&p.name) == token).map(|p| &p.value),
            Node::Array(arr) => token.parse::<usize>().ok().and_then(|i| arr.elements.get(i)),
            _ => None,
        };
        match child {
            Some(c) => node = c,
            None => break,
        }
    }
    Some(line_column(text, node.start()))
}

/// The JSON pointer of the innermost node of `text` that contains byte `offset`.
pub fn pointer_at(text: &str, offset: usize) -> String {
    let Some(root) = parse_tree(text) else {
        return String::new();
    };
    let mut pointer = String::new();
    let mut node = &root;
    loop {
        let next = match node {
            Node::Object(obj) => {
                obj.properties.iter().find(|p| p.range.start <= offset && offset <= p.range.end).map(|p| {
                    pointer.push('/');
                    pointer.push_str(&escape_token(prop_name(&p.name)));
                    &p.value
                })
            }
            Node::Array(arr) => {
                arr.elements.iter().enumerate().find(|(_, e)| e.start() <= offset && offset <= e.end()).map(|(i, e)| {
                    pointer.push_str(&format!("/{i}"));
                    e
                })
            }
            _ => None,
        };
        match next {
            Some(n) => node = n,
            None => return pointer,
        }
    }
}

fn prop_name<'a>(name: &'a ObjectPropName<'_>) -> &'a str {
    match name {
        ObjectPropName::String(lit) => lit.value.as_ref(),
        ObjectPropName::Word(lit) => lit.value,
    }
}

fn unescape_token(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// 1-based (line, column in characters) of a byte offset.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut line = 1;
    let mut column = 1;
    for (i, ch) in text.char_indices() {
        if i >= offset {
            break;
        }
        if ch == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column)
}

/// Byte offset of serde_json's 1-based line and byte column (column 0 = line start).
fn offset_of_line_column(text: &str, line: usize, column: usize) -> Option<usize> {
    let line_start =
        if line <= 1 { 0 } else { text.match_indices('\n').nth(line.checked_sub(2)?).map(|(i, _)| i + 1)? };
    let offset = line_start + column.saturating_sub(1);
    (offset <= text.len()).then_some(offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "{\n  \"steps\": [\n    {\"id\": \"a\", \"timeout\": \"3 days\"}\n  ]\n}\n";

    #[test]
    fn pointers_map_to_positions() {
        assert_eq!(position_of_pointer(TEXT, "/steps/0/timeout"), Some((3, 28)));
        // Missing field: the closest parent, the step object.
        assert_eq!(position_of_pointer(TEXT, "/steps/0/on_performed"), Some((3, 5)));
        assert_eq!(position_of_pointer(TEXT, ""), Some((1, 1)));
    }

    #[test]
    fn offsets_map_to_pointers() {
        let offset = TEXT.find("3 days").unwrap();
        assert_eq!(pointer_at(TEXT, offset), "/steps/0/timeout");
        assert_eq!(line_column(TEXT, offset), (3, 29));
        assert_eq!(offset_of_line_column(TEXT, 3, 29), Some(offset));
    }
}
