//! IANA time zones for native tooling (feature `cli`): `Tzdb` resolves a zone name with
//! jiff (the system's /usr/share/zoneinfo, else the copy of the database jiff bundles)
//! into the compact offset table a compiled bundle carries, so the engine in wasm needs
//! no time-zone database of its own.

use crate::journey::validate::ZoneSource;
use crate::time::Zone;

/// First instant covered by a zone table: 2000-01-01T00:00:00Z (Unix seconds).
pub const TABLE_START_SECOND: i64 = 946_684_800;

/// End of a zone table (exclusive): 2060-01-01T00:00:00Z (Unix seconds).
pub const TABLE_END_SECOND: i64 = 2_840_140_800;

/// The IANA time-zone database, through jiff; fixed offsets ("+02:00", "UTC") as well.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tzdb;

impl ZoneSource for Tzdb {
    fn resolve(&self, name: &str) -> Option<Zone> {
        if let Some(zone) = Zone::parse_fixed(name) {
            return Some(zone);
        }
        let tz = jiff::tz::TimeZone::get(name.trim()).ok()?;
        let start = jiff::Timestamp::from_second(TABLE_START_SECOND).ok()?;
        let end = jiff::Timestamp::from_second(TABLE_END_SECOND).ok()?;
        let initial_offset = tz.to_offset(start).seconds();
        let mut transitions: Vec<(i64, i32)> = Vec::new();
        let mut current = initial_offset;
        for transition in tz.following(start).take_while(|t| t.timestamp() < end) {
            let offset = transition.offset().seconds();
            // Transitions that only rename the zone (same offset) carry nothing for us.
            // INVARIANT: `following` yields strictly increasing instants, so the table
            // stays sorted as `Zone` requires.
            if offset != current {
                transitions.push((transition.timestamp().as_millisecond(), offset));
                current = offset;
            }
        }
        Some(Zone { name: name.trim().to_owned(), initial_offset, transitions })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    #[test]
    fn paris_switches_to_summer_time() {
        let paris = Tzdb.resolve("Europe/Paris").unwrap();
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
    fn fixed_and_unknown_zones() {
        assert_eq!(Tzdb.resolve("+05:30").unwrap().initial_offset, 5 * 3600 + 30 * 60);
        assert_eq!(Tzdb.resolve("UTC").unwrap().initial_offset, 0);
        assert!(Tzdb.resolve("Mars/Olympus_Mons").is_none());
    }
}
