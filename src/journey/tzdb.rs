//! IANA time zones for the journey compiler (feature `compiler`): the offset tables of
//! every zone name in the IANA database from 2000 to 2060, shipped in `tzdb.bin` (made
//! from jiff's bundled database by `tests/tzdb.rs`), their compact encoding, and [`Tzdb`],
//! the [`ZoneSource`] that reads them. The CLI, the backend and the full wasm module all
//! resolve zones here, so a bundle compiled from JSON anywhere carries the same tables.
//!
//! ```
//! use waymark::journey::{tzdb::Tzdb, ZoneSource};
//! use waymark::time::Timestamp;
//!
//! let paris = Tzdb.resolve("Europe/Paris").unwrap();
//! let summer = Timestamp::parse_rfc3339("2026-07-01T12:00:00Z").unwrap();
//! assert_eq!(paris.offset_at(summer), 2 * 3600);
//! assert!(Tzdb.resolve("Mars/Olympus_Mons").is_none());
//! ```

use crate::journey::validate::ZoneSource;
use crate::time::{Zone, MINUTE};
use crate::wire::{put_varint, put_zigzag, Reader, WireError};

/// First instant covered by a zone table: 2000-01-01T00:00:00Z (Unix seconds).
pub const TABLE_START_SECOND: i64 = 946_684_800;

/// End of a zone table (exclusive): 2060-01-01T00:00:00Z (Unix seconds).
pub const TABLE_END_SECOND: i64 = 2_840_140_800;

/// Format version, the first byte of [`TABLES`].
pub const FORMAT_VERSION: u8 = 1;

/// The shipped tables (see [`encode`] for the layout).
pub static TABLES: &[u8] = include_bytes!("tzdb.bin");

/// The IANA time-zone database as shipped in [`TABLES`], plus fixed offsets ("+02:00",
/// "UTC"). Names are matched without regard to ASCII case, as the IANA database does.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tzdb;

impl Tzdb {
    /// The IANA release the tables were made from (e.g. "2026f"), if they decode.
    pub fn version() -> Option<&'static str> {
        let mut r = Reader::new(TABLES);
        header(&mut r).ok()
    }

    /// Every zone name the tables know, sorted.
    pub fn names() -> Vec<&'static str> {
        names(TABLES).map(|list| list.into_iter().map(|(name, _)| name).collect()).unwrap_or_default()
    }
}

impl ZoneSource for Tzdb {
    fn resolve(&self, name: &str) -> Option<Zone> {
        if let Some(zone) = Zone::parse_fixed(name) {
            return Some(zone);
        }
        lookup(TABLES, name.trim()).ok().flatten()
    }

    fn unknown(&self, name: &str) -> String {
        let wanted = city(name);
        let close: Vec<&str> = Tzdb::names()
            .into_iter()
            .filter(|known| !wanted.is_empty() && city(known).eq_ignore_ascii_case(&wanted))
            .take(3)
            .collect();
        if !close.is_empty() {
            let list: Vec<String> = close.iter().map(|c| format!("\"{c}\"")).collect();
            return format!("did you mean {}? (zone names are IANA's \"Area/City\")", list.join(" or "));
        }
        let version = Tzdb::version().map(|v| format!(" ({v})")).unwrap_or_default();
        let example =
            if name.trim().eq_ignore_ascii_case("America/New_York") { "Europe/Paris" } else { "America/New_York" };
        format!(
            "it is not a zone of the IANA time-zone database{version}: write an IANA name such as \"{example}\" or a fixed offset such as \"+02:00\""
        )
    }
}

/// The last part of a zone name, spaces as underscores: "new york" → "new_york".
fn city(name: &str) -> String {
    name.trim().rsplit('/').next().unwrap_or_default().replace(' ', "_")
}

/// Reads the header; answers the IANA release.
fn header<'a>(r: &mut Reader<'a>) -> Result<&'a str, WireError> {
    if r.byte()? != FORMAT_VERSION {
        return Err(WireError::Invalid);
    }
    r.str()
}

/// The names and their table indices, in stored (sorted) order; `r` is left at the tables.
fn read_names<'a>(r: &mut Reader<'a>) -> Result<Vec<(&'a str, usize)>, WireError> {
    header(r)?;
    let count = r.len()?;
    let mut names = Vec::with_capacity(count);
    for _ in 0..count {
        let name = r.str()?;
        let table = usize::try_from(r.uint()?).map_err(|_| WireError::BadNumber)?;
        names.push((name, table));
    }
    Ok(names)
}

fn names(data: &[u8]) -> Result<Vec<(&str, usize)>, WireError> {
    read_names(&mut Reader::new(data))
}

/// The zone `name` (matched without regard to ASCII case) from encoded tables; the zone
/// keeps the name as written.
pub fn lookup(data: &[u8], name: &str) -> Result<Option<Zone>, WireError> {
    let mut r = Reader::new(data);
    let names = read_names(&mut r)?;
    let Some(&(_, index)) = names.iter().find(|(known, _)| known.eq_ignore_ascii_case(name)) else {
        return Ok(None);
    };
    let count = r.len()?;
    if index >= count {
        return Err(WireError::Invalid);
    }
    for _ in 0..index {
        read_table(&mut r)?;
    }
    let (initial_offset, transitions) = read_table(&mut r)?;
    Ok(Some(Zone { name: name.to_owned(), initial_offset, transitions }))
}

/// One table: the initial offset, then the transitions.
fn read_table(r: &mut Reader<'_>) -> Result<(i32, Vec<(i64, i32)>), WireError> {
    let offset = |r: &mut Reader<'_>| i32::try_from(r.int()?).map_err(|_| WireError::BadNumber);
    let initial = offset(r)?;
    let palette_len = r.len()?;
    let mut palette = Vec::with_capacity(palette_len);
    for _ in 0..palette_len {
        palette.push(offset(r)?);
    }
    let count = r.len()?;
    let mut transitions = Vec::with_capacity(count);
    let mut at = TABLE_START_SECOND.saturating_mul(1000);
    for _ in 0..count {
        let step = r.uint()?;
        let delta = if step & 1 == 0 { (step >> 1).checked_mul(MINUTE as u64) } else { Some(step >> 1) };
        let delta = delta.and_then(|d| i64::try_from(d).ok()).ok_or(WireError::BadNumber)?;
        // INVARIANT: transitions strictly increase (Zone's invariant): a zero step is corrupt.
        if delta == 0 {
            return Err(WireError::Invalid);
        }
        at = at.checked_add(delta).ok_or(WireError::BadNumber)?;
        let index = usize::try_from(r.uint()?).map_err(|_| WireError::BadNumber)?;
        transitions.push((at, *palette.get(index).ok_or(WireError::Invalid)?));
    }
    Ok((initial, transitions))
}

/// Encodes zone tables (what `tests/tzdb.rs` does with jiff's database). Zones with the
/// same offsets and transitions share one table. Layout, in the varints of
/// [`crate::wire`]:
///
/// ```text
/// u8 FORMAT_VERSION, str IANA release
/// len names, then per name (sorted): str name, varint table index
/// len tables, then per table:
///   zigzag initial offset (seconds), len palette, zigzag offset per palette entry,
///   len transitions, per transition: varint step, varint palette index
/// ```
///
/// A step is the time since the previous transition (the first: since
/// [`TABLE_START_SECOND`]): whole minutes as `minutes << 1`, else `ms << 1 | 1`.
/// `None` when transitions are not strictly increasing from the table start.
pub fn encode(release: &str, zones: &[Zone]) -> Option<Vec<u8>> {
    type Table = (i32, Vec<(i64, i32)>);
    let mut tables: Vec<Table> = Vec::new();
    let mut names: Vec<(&str, usize)> = Vec::new();
    for zone in zones {
        let table = (zone.initial_offset, zone.transitions.clone());
        let index = match tables.iter().position(|t| *t == table) {
            Some(i) => i,
            None => {
                tables.push(table);
                tables.len() - 1
            }
        };
        names.push((zone.name.as_str(), index));
    }
    names.sort();
    let mut out = vec![FORMAT_VERSION];
    put_varint(&mut out, release.len() as u64);
    out.extend_from_slice(release.as_bytes());
    put_varint(&mut out, names.len() as u64);
    for (name, index) in &names {
        put_varint(&mut out, name.len() as u64);
        out.extend_from_slice(name.as_bytes());
        put_varint(&mut out, *index as u64);
    }
    put_varint(&mut out, tables.len() as u64);
    for (initial, transitions) in &tables {
        put_zigzag(&mut out, i64::from(*initial));
        let mut palette: Vec<i32> = Vec::new();
        for (_, offset) in transitions {
            if !palette.contains(offset) {
                palette.push(*offset);
            }
        }
        put_varint(&mut out, palette.len() as u64);
        for offset in &palette {
            put_zigzag(&mut out, i64::from(*offset));
        }
        put_varint(&mut out, transitions.len() as u64);
        let mut previous = TABLE_START_SECOND * 1000;
        for (at, offset) in transitions {
            let delta = u64::try_from(at.checked_sub(previous)?).ok().filter(|d| *d > 0)?;
            let step = if delta % (MINUTE as u64) == 0 { (delta / MINUTE as u64) << 1 } else { (delta << 1) | 1 };
            put_varint(&mut out, step);
            put_varint(&mut out, palette.iter().position(|p| p == offset)? as u64);
            previous = *at;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    #[test]
    fn paris_switches_to_summer_time() {
        let paris = Tzdb.resolve("Europe/Paris").unwrap();
        assert_eq!(paris.name, "Europe/Paris");
        assert_eq!(paris.initial_offset, 3600);
        // Spring forward on 2026-03-29 at 01:00 UTC (02:00 local → 03:00 local).
        let before = Timestamp::parse_rfc3339("2026-03-29T00:59:00Z").unwrap();
        let after = Timestamp::parse_rfc3339("2026-03-29T01:00:00Z").unwrap();
        assert_eq!(paris.offset_at(before), 3600);
        assert_eq!(paris.offset_at(after), 7200);
        // Two transitions a year, 60 years.
        assert_eq!(paris.transitions.len(), 120);
    }

    #[test]
    fn names_match_without_case_and_keep_what_was_written() {
        let zone = Tzdb.resolve(" europe/PARIS ").unwrap();
        assert_eq!(zone.name, "europe/PARIS");
        assert_eq!(zone.transitions, Tzdb.resolve("Europe/Paris").unwrap().transitions);
    }

    #[test]
    fn fixed_and_unknown_zones() {
        assert_eq!(Tzdb.resolve("+05:30").unwrap().initial_offset, 5 * 3600 + 30 * 60);
        assert_eq!(Tzdb.resolve("UTC").unwrap().initial_offset, 0);
        assert!(Tzdb.resolve("Mars/Olympus_Mons").is_none());
        assert!(Tzdb.unknown("Mars/Olympus_Mons").contains("\"America/New_York\""));
        assert_eq!(Tzdb.unknown("Paris"), "did you mean \"Europe/Paris\"? (zone names are IANA's \"Area/City\")");
        assert!(Tzdb.unknown("America/New York").contains("\"America/New_York\""));
    }

    #[test]
    fn encoding_round_trips_and_rejects_corruption() {
        let odd = Zone {
            name: "Test/Odd".into(),
            initial_offset: -3600,
            transitions: vec![(TABLE_START_SECOND * 1000 + 1500, 0), (TABLE_START_SECOND * 1000 + 3_600_000, -3600)],
        };
        let plain = Zone { name: "Test/Plain".into(), initial_offset: 19_800, transitions: Vec::new() };
        let same = Zone { name: "Test/Alias".into(), ..odd.clone() };
        let data = encode("test", &[odd.clone(), plain.clone(), same]).unwrap();
        assert_eq!(lookup(&data, "test/odd").unwrap().unwrap().transitions, odd.transitions);
        assert_eq!(lookup(&data, "Test/Alias").unwrap().unwrap().transitions, odd.transitions);
        assert_eq!(lookup(&data, "Test/Plain").unwrap().unwrap(), plain);
        assert_eq!(lookup(&data, "Test/None").unwrap(), None);
        // Every truncation fails cleanly (or finds nothing), never panics.
        for cut in 0..data.len() {
            let _ = lookup(data.get(..cut).unwrap(), "Test/Plain");
        }
        let backwards = Zone { transitions: vec![(0, 0)], ..plain };
        assert!(encode("test", &[backwards]).is_none());
    }
}
