//! Journey text (feature `compiler`): one journey or bundle as JSON text, read into the
//! file model and compiled, with every error — serde's and the validator's alike — a
//! [`Diagnostic`]: stable code, JSON pointer, line:col in the text and a message that says
//! what to write. A bundle's journeys are read one by one, so one journey's mistake hides
//! no other's. The CLI (`diagnostics`, which adds files), the backend and the full wasm
//! module (`Engine.fromJson`) all read journeys here, so they all speak alike.
//!
//! ```
//! use waymark::journey::{text, tzdb::Tzdb};
//!
//! let bundle = r#"{"journeys": [
//!   {"id": "a", "steps": [{"id": "done", "type": "exit"}]},
//!   {"id": "b", "entry": {"event": "view_item"}, "schedule": {"time_zone": "Paris"},
//!    "steps": [{"id": "done", "type": "exit"}]}
//! ]}"#;
//! let errors = text::compile_text(bundle, &Tzdb).unwrap_err();
//! let found: Vec<String> = errors.iter().map(|d| format!("{} {}", d.code, d.pointer)).collect();
//! assert_eq!(found, ["missing_field /journeys/0/entry", "unknown_time_zone /journeys/1/schedule/time_zone"]);
//! assert_eq!(errors[1].position, Some((3, 74))); // line 3, column 74: the zone written
//! assert!(errors[1].message.contains("did you mean \"Europe/Paris\"?"));
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::journey::compiled::Bundle;
use crate::journey::model::{BundleSource, JourneySource, PolicySource};
use crate::journey::validate::{compile_bundle, JourneyError, ZoneSource};
use crate::value::Value;

/// One problem, located in a text (and, through the CLI, in a file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Stable snake_case code (`bad_duration`, `missing_field`, `io_error`, ...).
    pub code: String,
    /// The file, when the problem is in one.
    pub file: Option<PathBuf>,
    /// 1-based line and column (in characters), when known.
    pub position: Option<(usize, usize)>,
    /// JSON pointer inside the text (`/journeys/0/steps/2/timeout`); empty for the whole text.
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
        } else if let Some((line, column)) = self.position {
            write!(f, "{line}:{column}: ")?;
        }
        if !self.pointer.is_empty() {
            write!(f, "{}: ", self.pointer)?;
        }
        f.write_str(&self.message)
    }
}

/// A journey read from a text.
#[derive(Debug, Clone)]
pub struct Part {
    /// Pointer of the journey in its text: `""` (a journey text) or `/journeys/3`.
    pub prefix: String,
    /// The journey.
    pub journey: JourneySource,
}

/// What a text holds, as far as it could be read.
#[derive(Debug, Clone, Default)]
pub struct Read {
    /// The journeys that were read, in text order.
    pub journeys: Vec<Part>,
    /// The bundle's policy, when it has one and it was read.
    pub policy: Option<PolicySource>,
    /// The bundle's saved groups, when it has them and they were read.
    pub groups: Option<BTreeMap<String, Vec<Value>>>,
    /// Whether the text holds a policy or groups that could not be read: compiling the
    /// journeys without them would report errors that are not there.
    pub incomplete: bool,
    /// What could not be read, with pointers (no positions: see [`locate`]).
    pub errors: Vec<Diagnostic>,
}

/// The top of a bundle text, each part kept as text to be read on its own.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Shell<'a> {
    #[serde(default, borrow)]
    journeys: Vec<&'a RawValue>,
    #[serde(default, borrow)]
    policy: Option<&'a RawValue>,
    #[serde(default, borrow)]
    groups: Option<&'a RawValue>,
}

/// Reads a journey (an object with `steps`) or a bundle (an object with `journeys`).
pub fn read(text: &str) -> Read {
    let mut out = Read::default();
    let top: &RawValue = match serde_json::from_str(text) {
        Ok(top) => top,
        Err(e) => {
            out.errors.push(serde_error(text, &e));
            return out;
        }
    };
    let kind = json_type(top.get());
    let keys: BTreeMap<String, &RawValue> = match serde_json::from_str(text) {
        Ok(keys) => keys,
        Err(_) => {
            out.errors.push(shape_error(format!(
                "the JSON is {kind}, not an object: write a journey (an object with \"steps\") or a bundle (an object with \"journeys\")"
            )));
            return out;
        }
    };
    let has = |key: &str| keys.contains_key(key);
    if has("journeys") || !has("steps") && has("policy") {
        let shell: Shell<'_> = match parse(text, "") {
            Ok(shell) => shell,
            Err(e) => {
                out.errors.push(e);
                return out;
            }
        };
        for (k, raw) in shell.journeys.iter().enumerate() {
            let prefix = format!("/journeys/{k}");
            match parse::<JourneySource>(raw.get(), &prefix) {
                Ok(journey) => out.journeys.push(Part { prefix, journey }),
                Err(e) => out.errors.push(e),
            }
        }
        if let Some(raw) = shell.policy {
            match parse(raw.get(), "/policy") {
                Ok(policy) => out.policy = Some(policy),
                Err(e) => {
                    out.incomplete = true;
                    out.errors.push(e);
                }
            }
        }
        if let Some(raw) = shell.groups {
            match parse(raw.get(), "/groups") {
                Ok(groups) => out.groups = Some(groups),
                Err(e) => {
                    out.incomplete = true;
                    out.errors.push(e);
                }
            }
        }
    } else if has("steps") {
        match parse::<JourneySource>(text, "") {
            Ok(journey) => out.journeys.push(Part { prefix: String::new(), journey }),
            Err(e) => out.errors.push(e),
        }
    } else {
        out.errors.push(shape_error(
            "the object has neither \"steps\" nor \"journeys\": a journey needs \"steps\", a bundle \"journeys\""
                .into(),
        ));
    }
    out
}

/// Reads and compiles one journey or bundle text. Every error comes back, located in
/// the text (pointer and line:col), journeys in text order.
pub fn compile_text(text: &str, zones: &dyn ZoneSource) -> Result<Bundle, Vec<Diagnostic>> {
    let read = read(text);
    let mut errors = read.errors;
    if !read.incomplete {
        let source = BundleSource {
            journeys: read.journeys.iter().map(|p| p.journey.clone()).collect(),
            policy: read.policy.unwrap_or_default(),
            groups: read.groups.unwrap_or_default(),
        };
        match compile_bundle(&source, zones) {
            Ok(bundle) if errors.is_empty() => return Ok(bundle),
            Ok(_) => {}
            Err(found) => errors.extend(found.iter().map(|e| diagnostic(e, &rebase(&e.path, &read.journeys)))),
        }
    }
    // Journeys in text order; within one journey, reading before validating.
    errors.sort_by_key(|d| journey_index(&d.pointer));
    for d in &mut errors {
        if d.position.is_none() {
            d.position = locate(text, &d.pointer);
        }
    }
    Err(errors)
}

/// A validator error as a diagnostic at `pointer` (no position yet).
pub fn diagnostic(err: &JourneyError, pointer: &str) -> Diagnostic {
    Diagnostic {
        code: err.code().into(),
        file: None,
        position: None,
        pointer: if pointer.is_empty() { "/".into() } else { pointer.to_owned() },
        message: err.kind.to_string(),
    }
}

/// A pointer into the compiled source (`/journeys/i/...`, journeys as read) as a pointer
/// into the text the journeys were read from.
fn rebase(pointer: &str, parts: &[Part]) -> String {
    let mut tokens = pointer.splitn(4, '/').skip(1);
    if tokens.next() == Some("journeys") {
        if let Some(part) = tokens.next().and_then(|t| t.parse::<usize>().ok()).and_then(|i| parts.get(i)) {
            let rest = tokens.next().map(|r| format!("/{r}")).unwrap_or_default();
            return format!("{}{rest}", part.prefix);
        }
    }
    pointer.to_owned()
}

/// The journey a pointer is in (`/journeys/3/...` → 3), for ordering; other parts first.
pub fn journey_index(pointer: &str) -> Option<usize> {
    pointer.strip_prefix("/journeys/")?.split('/').next()?.parse().ok()
}

fn shape_error(message: String) -> Diagnostic {
    Diagnostic { code: "unknown_file_shape".into(), file: None, position: Some((1, 1)), pointer: "/".into(), message }
}

/// "an array", "a string", ... for the first value in `json`.
fn json_type(json: &str) -> &'static str {
    match json.trim_start().bytes().next() {
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        Some(b'{') => "an object",
        _ => "a number",
    }
}

/// Reads `T` from `json`, a part of a text at pointer `prefix`; an error names the
/// pointer of what was wrong (the missing field's own, for a missing field).
fn parse<'a, T: Deserialize<'a>>(json: &'a str, prefix: &str) -> Result<T, Diagnostic> {
    let mut de = serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let mut pointer = prefix.to_owned();
        for segment in err.path().iter() {
            match segment {
                serde_path_to_error::Segment::Seq { index } => pointer.push_str(&format!("/{index}")),
                serde_path_to_error::Segment::Map { key } => {
                    pointer.push('/');
                    pointer.push_str(&escape_token(key));
                }
                serde_path_to_error::Segment::Enum { .. } | serde_path_to_error::Segment::Unknown => {}
            }
        }
        let mut d = serde_error(json, err.inner());
        if d.code == "missing_field" {
            if let Some(field) = d.message.split('`').nth(1) {
                pointer.push('/');
                pointer.push_str(&escape_token(field));
            }
        }
        d.pointer = if pointer.is_empty() { "/".into() } else { pointer };
        if d.code != "bad_json" {
            // Located through the pointer in the whole text (see `locate`).
            d.position = None;
        }
        d
    })
}

/// A serde_json error as a diagnostic: a code from its category, its message with a
/// hint, and for syntax errors serde_json's own line:col (there is no pointer then).
fn serde_error(text: &str, err: &serde_json::Error) -> Diagnostic {
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
    let position = match offset_of_line_column(text, line, column) {
        Some(o) => Some(line_column(text, o)),
        None if line > 0 => Some((line, column.max(1))),
        None => None,
    };
    Diagnostic { code: code.into(), file: None, position, pointer: String::new(), message: format!("{message}{hint}") }
}

/// 1-based (line, column) of what a JSON pointer names in `text`; when the exact path does
/// not exist (a missing field), of the closest existing parent. `None` when `text` is not
/// JSON enough to walk.
pub fn locate(text: &str, pointer: &str) -> Option<(usize, usize)> {
    let mut scan = Scan { bytes: text.as_bytes(), at: 0 };
    scan.space();
    let mut node = scan.at;
    for token in pointer.split('/').skip(1).filter(|t| !t.is_empty()) {
        let token = unescape_token(token);
        match scan.child(&token) {
            Some(start) => node = start,
            None => break,
        }
    }
    if node > text.len() {
        return None;
    }
    Some(line_column(text, node))
}

/// A forward walk over JSON text, enough to find a member or element.
struct Scan<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Scan<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Moves into the value at `self.at` to its member or element `token`; answers where
    /// that value starts. The walk stays at the child, ready for the next token.
    fn child(&mut self, token: &str) -> Option<usize> {
        match self.peek()? {
            b'{' => {
                self.at += 1;
                loop {
                    self.space();
                    if self.peek()? != b'"' {
                        return None;
                    }
                    let key = self.string()?;
                    self.space();
                    if self.peek()? != b':' {
                        return None;
                    }
                    self.at += 1;
                    self.space();
                    if key == token {
                        return Some(self.at);
                    }
                    self.skip_value()?;
                    self.space();
                    if self.peek()? != b',' {
                        return None;
                    }
                    self.at += 1;
                }
            }
            b'[' => {
                let index: usize = token.parse().ok()?;
                self.at += 1;
                for i in 0.. {
                    self.space();
                    if self.peek()? == b']' {
                        return None;
                    }
                    if i == index {
                        return Some(self.at);
                    }
                    self.skip_value()?;
                    self.space();
                    if self.peek()? != b',' {
                        return None;
                    }
                    self.at += 1;
                }
                None
            }
            _ => None,
        }
    }

    /// Reads a string at `self.at` (escapes decoded).
    fn string(&mut self) -> Option<String> {
        let start = self.at;
        self.skip_string()?;
        let raw = std::str::from_utf8(self.bytes.get(start..self.at)?).ok()?;
        serde_json::from_str(raw).ok()
    }

    fn skip_string(&mut self) -> Option<()> {
        self.at += 1;
        loop {
            match self.peek()? {
                b'\\' => self.at += 2,
                b'"' => {
                    self.at += 1;
                    return Some(());
                }
                _ => self.at += 1,
            }
        }
    }

    fn skip_value(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            match self.peek()? {
                b'"' => self.skip_string()?,
                b'{' | b'[' => {
                    depth += 1;
                    self.at += 1;
                }
                b'}' | b']' if depth == 0 => return Some(()),
                b'}' | b']' => {
                    depth -= 1;
                    self.at += 1;
                }
                b',' if depth == 0 => return Some(()),
                _ => self.at += 1,
            }
            if depth == 0 && matches!(self.peek(), Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')) {
                return Some(());
            }
        }
    }
}

/// A JSON pointer token as written in a pointer (`~` and `/` escaped).
pub fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// A JSON pointer token as the key it names.
pub fn unescape_token(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
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
        assert_eq!(locate(TEXT, "/steps/0/timeout"), Some((3, 28)));
        // Missing field: the closest parent, the step object.
        assert_eq!(locate(TEXT, "/steps/0/on_performed"), Some((3, 5)));
        assert_eq!(locate(TEXT, ""), Some((1, 1)));
        assert_eq!(locate(TEXT, "/"), Some((1, 1)));
        let nested = r#"{"a~/b": [1, {"x": [true, "s\"]", {"k": null}]}, 2], "c": 3}"#;
        assert_eq!(locate(nested, "/a~0~1b/1/x/2/k"), Some((1, 41)));
        assert_eq!(locate(nested, "/a~0~1b/2"), Some((1, 50)));
        assert_eq!(locate(nested, "/c"), Some((1, 59)));
        // Broken text never panics.
        for cut in 0..nested.len() {
            let _ = locate(nested.get(..cut).unwrap_or(""), "/a~0~1b/1/x/2/k");
        }
    }

    #[test]
    fn offsets_map_to_lines_and_columns() {
        let offset = TEXT.find("3 days").unwrap();
        assert_eq!(line_column(TEXT, offset), (3, 29));
        assert_eq!(offset_of_line_column(TEXT, 3, 29), Some(offset));
    }

    #[test]
    fn every_journey_is_read_on_its_own() {
        let text =
            r#"{"journeys": [{"id": "a"}, {"id": "b", "entry": {"event": "x"}, "steps": [], "typo": 1}, {"id": 7}]}"#;
        let read = read(text);
        let found: Vec<(&str, &str)> = read.errors.iter().map(|d| (d.code.as_str(), d.pointer.as_str())).collect();
        assert_eq!(
            found,
            [
                ("missing_field", "/journeys/0/entry"),
                ("unknown_field", "/journeys/1/typo"),
                ("wrong_type", "/journeys/2/id")
            ]
        );
        assert!(read.journeys.is_empty());
        let shapes = [("[1]", "an array"), ("\"x\"", "a string"), ("{}", "neither")];
        for (text, says) in shapes {
            let read = super::read(text);
            assert_eq!(read.errors.len(), 1, "{text}");
            assert_eq!(read.errors[0].code, "unknown_file_shape");
            assert!(read.errors[0].message.contains(says), "{text}: {}", read.errors[0].message);
        }
        // Nesting deeper than serde_json's limit is an error, not a stack overflow.
        for deep in [
            format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)),
            format!(
                "{{\"journeys\": [{{\"id\": \"j\", \"audience\": {}1{}}}]}}",
                "{\"a\":".repeat(10_000),
                "}".repeat(10_000)
            ),
        ] {
            let read = super::read(&deep);
            assert_eq!(read.errors.len(), 1);
            assert!(locate(&deep, "/journeys/0/audience/a/a/a").is_some());
        }
        let bad = super::read("{\"journeys\": [\n  {,}\n]}");
        assert_eq!((bad.errors[0].code.as_str(), bad.errors[0].position), ("bad_json", Some((2, 4))));
    }
}
