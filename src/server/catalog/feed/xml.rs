//! Merchant Center XML feeds: RSS 2.0 (`<rss><channel><item>`) or Atom 1.0
//! (`<feed><entry>`), fields in the `g:` namespace (`http://base.google.com/ns/1.0`,
//! whatever prefix the feed binds it to), and the plain RSS `title`, `description` and
//! `link` (Atom: `<link href="…"/>`) where the `g:` form is absent. Only the direct
//! children of an item are fields (`g:shipping` has children of its own; they are not).
//! The XML must be well-formed: a fault anywhere fails the whole feed, as a full replace
//! from half a feed would remove the other half.

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::NsReader;

use super::{Collector, Lines, RawRow};
use crate::server::catalog::errors::{FeedError, RowErrorKind, RowLocation};
use crate::server::catalog::item::Field;

/// The Google Merchant Center namespace of the `g:` fields.
pub const GOOGLE_NS: &[u8] = b"http://base.google.com/ns/1.0";

/// The Atom namespace: its elements count as plain names.
const ATOM_NS: &[u8] = b"http://www.w3.org/2005/Atom";

/// The field being read: which, how deep, whether it is the `g:` form, and its text.
struct Open {
    field: Field,
    depth: usize,
    google: bool,
    text: Result<String, RowErrorKind>,
}

/// The item being read.
struct OpenItem {
    depth: usize,
    row: RawRow,
    field: Option<Open>,
}

pub(super) fn read(bytes: &[u8], out: &mut Collector) -> Result<(), FeedError> {
    let lines = Lines::new(bytes);
    let mut reader = NsReader::from_reader(bytes);
    let malformed = |reader: &NsReader<&[u8]>, e: &dyn std::fmt::Display| FeedError::MalformedXml {
        line: lines.line_of(reader.error_position()),
        message: e.to_string(),
    };
    // Element names from the root down; only the first three levels matter.
    let mut path: Vec<Vec<u8>> = Vec::new();
    let mut item: Option<OpenItem> = None;
    let mut items = 0u64;
    let mut root_seen = false;
    loop {
        let (ns, event) = match reader.read_resolved_event() {
            Ok((ns, event)) => (namespace(&ns), event),
            Err(e) => return Err(malformed(&reader, &e)),
        };
        match event {
            Event::Start(start) => {
                let local = start.local_name().as_ref().to_vec();
                if !root_seen {
                    check_root(&local)?;
                    root_seen = true;
                    path.push(local);
                    continue;
                }
                let depth = path.len() + 1;
                match &mut item {
                    None if is_item(&path, &local) => {
                        items += 1;
                        let line = lines.line_of(reader.buffer_position());
                        let at = RowLocation { line, item: Some(items) };
                        item = Some(OpenItem { depth, row: RawRow::new(at), field: None });
                    }
                    Some(open) if open.field.is_none() && depth == open.depth + 1 => {
                        if let Some((field, google)) = field_of(ns, &local) {
                            open.field = Some(Open { field, depth, google, text: Ok(String::new()) });
                        }
                    }
                    _ => {}
                }
                path.push(local);
            }
            Event::Empty(start) => {
                if !root_seen {
                    check_root(start.local_name().as_ref())?;
                    root_seen = true;
                    continue;
                }
                // `<link href="…"/>` (Atom), or an empty field (absent).
                if let Some(open) = &mut item {
                    let plain_link = field_of(ns, start.local_name().as_ref()) == Some((Field::Link, false));
                    if path.len() == open.depth && plain_link {
                        if let Some(href) = href(&start) {
                            open.row.set(Field::Link, href);
                        }
                    }
                }
            }
            Event::Text(text) => {
                if let Some(Open { depth, text: Ok(buf), .. }) = item.as_mut().and_then(|i| i.field.as_mut()) {
                    if *depth == path.len() {
                        match text.decode() {
                            Ok(t) => buf.push_str(&t),
                            Err(_) => close_with(item.as_mut(), RowErrorKind::InvalidUtf8),
                        }
                    }
                }
            }
            Event::CData(data) => {
                if let Some(Open { depth, text: Ok(buf), .. }) = item.as_mut().and_then(|i| i.field.as_mut()) {
                    if *depth == path.len() {
                        match data.decode() {
                            Ok(t) => buf.push_str(&t),
                            Err(_) => close_with(item.as_mut(), RowErrorKind::InvalidUtf8),
                        }
                    }
                }
            }
            Event::GeneralRef(reference) => {
                if let Some(Open { depth, text: Ok(buf), .. }) = item.as_mut().and_then(|i| i.field.as_mut()) {
                    if *depth == path.len() {
                        match entity(&reference) {
                            Ok(c) => buf.push(c),
                            Err(kind) => close_with(item.as_mut(), kind),
                        }
                    }
                }
            }
            Event::End(_) => {
                let depth = path.len();
                path.pop();
                if let Some(open) = &mut item {
                    if open.field.as_ref().is_some_and(|f| f.depth == depth) {
                        if let Some(f) = open.field.take() {
                            if f.google {
                                open.row.replace(f.field, f.text);
                            } else {
                                open.row.set(f.field, f.text);
                            }
                        }
                    } else if open.depth == depth {
                        if let Some(done) = item.take() {
                            out.row(done.row)?;
                        }
                    }
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
    if !root_seen {
        return Err(FeedError::NotAFeed("no XML element".into()));
    }
    if !path.is_empty() {
        let open = path.last().map(|n| String::from_utf8_lossy(n).into_owned()).unwrap_or_default();
        return Err(FeedError::MalformedXml {
            line: lines.line_of(reader.buffer_position()),
            message: format!("the document ends inside <{open}>"),
        });
    }
    Ok(())
}

/// The root must be `<rss>` (RSS 2.0) or `<feed>` (Atom).
fn check_root(local: &[u8]) -> Result<(), FeedError> {
    if local == b"rss" || local == b"feed" {
        return Ok(());
    }
    let name = String::from_utf8_lossy(local).into_owned();
    Err(FeedError::NotAFeed(format!("the root element is <{name}>, not <rss> (RSS 2.0) or <feed> (Atom)")))
}

/// A resolved namespace: Some(uri) when the name is bound to one.
fn namespace<'a>(ns: &ResolveResult<'a>) -> Option<Vec<u8>> {
    match ns {
        ResolveResult::Bound(Namespace(uri)) => Some(uri.to_vec()),
        _ => None,
    }
}

/// An item starts: `<item>` in `<rss><channel>`, or `<entry>` in `<feed>`.
fn is_item(path: &[Vec<u8>], local: &[u8]) -> bool {
    match path {
        [root, channel] => root == b"rss" && channel == b"channel" && local == b"item",
        [root] => root == b"feed" && local == b"entry",
        _ => false,
    }
}

/// The field an element of an item holds: any `g:` field, or the plain RSS / Atom
/// `title`, `description`, `summary` and `link` (the Atom namespace counts as plain).
fn field_of(ns: Option<Vec<u8>>, local: &[u8]) -> Option<(Field, bool)> {
    let name = std::str::from_utf8(local).ok()?;
    match ns.as_deref() {
        Some(GOOGLE_NS) => Field::from_name(name).map(|f| (f, true)),
        None | Some(ATOM_NS) => match name {
            "title" => Some((Field::Title, false)),
            "description" | "summary" => Some((Field::Description, false)),
            "link" => Some((Field::Link, false)),
            _ => None,
        },
        Some(_) => None,
    }
}

/// The `href` of an Atom link.
fn href(start: &BytesStart<'_>) -> Option<Result<String, RowErrorKind>> {
    let attr = start.try_get_attribute("href").ok().flatten()?;
    Some(
        attr.normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map(|v| v.into_owned())
            .map_err(|_| RowErrorKind::InvalidText("bad href".into())),
    )
}

/// The character of an entity or character reference: the five XML defines, or `&#…;`.
fn entity(reference: &quick_xml::events::BytesRef<'_>) -> Result<char, RowErrorKind> {
    if let Ok(Some(c)) = reference.resolve_char_ref() {
        return Ok(c);
    }
    let name = reference.decode().map_err(|_| RowErrorKind::InvalidUtf8)?;
    match name.as_ref() {
        "amp" => Ok('&'),
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "quot" => Ok('"'),
        "apos" => Ok('\''),
        other => Err(RowErrorKind::InvalidText(format!(
            "&{other}; is not an entity XML defines (HTML entities such as &nbsp; must be written as characters)"
        ))),
    }
}

/// Marks the open field as unreadable; the rest of its text is ignored.
fn close_with(item: Option<&mut OpenItem>, kind: RowErrorKind) {
    if let Some(field) = item.and_then(|i| i.field.as_mut()) {
        field.text = Err(kind);
    }
}
