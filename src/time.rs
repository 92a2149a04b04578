//! Time as the engine sees it: `Timestamp` (UTC milliseconds), `Duration` ("30d", "1h30m",
//! "2mo"), RFC 3339 text, and `Zone` — a compact table of UTC-offset transitions that
//! the bundle carries, so civil-time rules (quiet hours, "at 09:00 local") give the same
//! answer natively and in wasm without shipping a time-zone database to the browser.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

/// A span of time in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Duration(pub i64);

/// Milliseconds in one of each unit.
pub const SECOND: i64 = 1_000;
/// One minute in milliseconds.
pub const MINUTE: i64 = 60 * SECOND;
/// One hour in milliseconds.
pub const HOUR: i64 = 60 * MINUTE;
/// One day in milliseconds.
pub const DAY: i64 = 24 * HOUR;

/// Why a time or duration could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TimeError {
    /// The duration text is not of the form `30d`, `1h30m`, `2w`, `3mo`.
    #[error("bad duration \"{found}\": write a number and a unit, e.g. \"30m\", \"12h\", \"14d\", \"2w\", \"2mo\" (units: ms s m h d w mo y)")]
    BadDuration {
        /// The text that was given.
        found: String,
    },
    /// The timestamp is not RFC 3339.
    #[error("bad timestamp \"{found}\": expected RFC 3339, e.g. \"2026-11-23T09:30:00Z\"")]
    BadTimestamp {
        /// The text that was given.
        found: String,
    },
    /// A time of day that is not HH:MM.
    #[error("bad time of day \"{found}\": expected \"HH:MM\" (24-hour), e.g. \"21:00\"")]
    BadTimeOfDay {
        /// The text that was given.
        found: String,
    },
}

impl TimeError {
    /// Stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            TimeError::BadDuration { .. } => "bad_duration",
            TimeError::BadTimestamp { .. } => "bad_timestamp",
            TimeError::BadTimeOfDay { .. } => "bad_time_of_day",
        }
    }
}

impl Timestamp {
    /// Parses RFC 3339 text ("2026-11-23T09:30:00Z", "+01:00" offsets accepted; a
    /// fraction of a second is kept to the millisecond, truncated).
    pub fn parse_rfc3339(text: &str) -> Result<Timestamp, TimeError> {
        rfc3339_millis(text.trim().as_bytes())
            .map(Timestamp)
            .ok_or_else(|| TimeError::BadTimestamp { found: text.to_owned() })
    }

    /// RFC 3339 text in UTC with millisecond precision when needed.
    pub fn to_rfc3339(self) -> String {
        let (year, month, day) = civil_date(self);
        if !(-9999..=9999).contains(&year) {
            return format!("@{}ms", self.0);
        }
        let in_day = self.0.rem_euclid(DAY);
        let (h, m, s, ms) = (in_day / HOUR, in_day / MINUTE % 60, in_day / SECOND % 60, in_day % SECOND);
        let date = format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}");
        if ms == 0 {
            format!("{date}Z")
        } else {
            format!("{date}.{ms:03}Z")
        }
    }

    /// `self + d`, saturating.
    pub fn plus(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(d.0))
    }

    /// `self - d`, saturating.
    pub fn minus(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_sub(d.0))
    }

    /// Time elapsed from `earlier` to `self` (negative if `earlier` is later).
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Duration {
    /// Parses "30d", "1h30m", "90s", "2w", "2mo" (30 days), "1y" (365 days), "250ms".
    pub fn parse(text: &str) -> Result<Duration, TimeError> {
        let bad = || TimeError::BadDuration { found: text.to_owned() };
        let s = text.trim();
        if s.is_empty() {
            return Err(bad());
        }
        let bytes = s.as_bytes();
        let mut total: i64 = 0;
        let mut i = 0;
        while i < bytes.len() {
            let start = i;
            while i < bytes.len() && bytes.get(i).is_some_and(|b| b.is_ascii_digit()) {
                i += 1;
            }
            let number: i64 = s.get(start..i).and_then(|n| n.parse().ok()).ok_or_else(bad)?;
            let unit_start = i;
            while i < bytes.len() && bytes.get(i).is_some_and(|b| b.is_ascii_alphabetic()) {
                i += 1;
            }
            let unit = match s.get(unit_start..i).ok_or_else(bad)? {
                "ms" => 1,
                "s" => SECOND,
                "m" | "min" => MINUTE,
                "h" => HOUR,
                "d" => DAY,
                "w" => 7 * DAY,
                "mo" => 30 * DAY,
                "y" => 365 * DAY,
                _ => return Err(bad()),
            };
            total = number.checked_mul(unit).and_then(|v| total.checked_add(v)).ok_or_else(bad)?;
        }
        Ok(Duration(total))
    }

    /// Shortest text that parses back to the same duration ("1d12h").
    pub fn to_text(self) -> String {
        if self.0 == 0 {
            return "0s".into();
        }
        let mut rest = self.0.unsigned_abs();
        let mut out = String::new();
        if self.0 < 0 {
            out.push('-');
        }
        for (unit, name) in
            [(DAY as u64, "d"), (HOUR as u64, "h"), (MINUTE as u64, "m"), (SECOND as u64, "s"), (1, "ms")]
        {
            let n = rest / unit;
            if n > 0 {
                out.push_str(&format!("{n}{name}"));
                rest -= n * unit;
            }
        }
        out
    }

    /// Milliseconds.
    pub fn millis(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// Minutes after local midnight, parsed from "HH:MM".
pub fn parse_time_of_day(text: &str) -> Result<u16, TimeError> {
    let bad = || TimeError::BadTimeOfDay { found: text.to_owned() };
    let (h, m) = text.trim().split_once(':').ok_or_else(bad)?;
    let h: u16 = h.parse().map_err(|_| bad())?;
    let m: u16 = m.parse().map_err(|_| bad())?;
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// `YYYY-MM-DD(T|t| )HH:MM:SS[.fraction](Z|z|±HH:MM)` → Unix milliseconds (RFC 3339's
/// internet date-time, read here rather than with a date library: that library was most
/// of the wasm module's time code). A second of 60 is a leap second only at
/// 23:59 UTC on the last day of a month, and reads as 23:59:59.999.
fn rfc3339_millis(b: &[u8]) -> Option<i64> {
    let num = |from: usize, to: usize| -> Option<i64> {
        let digits = b.get(from..to)?;
        digits.iter().try_fold(0i64, |n, d| d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0')))
    };
    let at = |i: usize, allowed: &[u8]| b.get(i).is_some_and(|c| allowed.contains(c));
    if !(at(4, b"-") && at(7, b"-") && at(10, b"Tt ") && at(13, b":") && at(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let mut i = 19;
    let mut millis = 0;
    if at(i, b".") {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
        // The first three digits, padded: ".5" is 500 ms.
        millis = (start..start + 3)
            .map(|k| b.get(k).filter(|d| k < i && d.is_ascii_digit()))
            .fold(0, |n, d| n * 10 + d.map_or(0, |d| i64::from(d - b'0')));
    }
    let offset_minutes = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && at(i + 3, b":") => {
            let (h, m) = (num(i + 1, i + 3)?, num(i + 4, i + 6)?);
            if h > 23 || m > 59 {
                return None;
            }
            if *sign == b'-' {
                -(h * 60 + m)
            } else {
                h * 60 + m
            }
        }
        _ => return None,
    };
    let (month, day) = (u8::try_from(month).ok()?, u8::try_from(day).ok()?);
    let year = i32::try_from(year).ok()?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) || hour > 23 || minute > 59 {
        return None;
    }
    let local = days_from_civil(year, month, day) * DAY + hour * HOUR + minute * MINUTE;
    let utc = local - offset_minutes * MINUTE;
    match second {
        0..=59 => Some(utc + second * SECOND + millis),
        60 => {
            // Leap second: valid only as the last second of a month's last day, UTC.
            let (y, m, d) = civil_date(Timestamp(utc));
            let last_minute = utc.rem_euclid(DAY) == DAY - MINUTE && d == days_in_month(y, m);
            last_minute.then_some(utc + 59 * SECOND + 999)
        }
        _ => None,
    }
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i32, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
    (year, month, day)
}

/// (year, month, day) → days since 1970-01-01.
fn days_from_civil(year: i32, month: u8, day: u8) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// The UTC calendar date of an instant.
pub fn civil_date(t: Timestamp) -> (i32, u8, u8) {
    civil_from_days(t.0.div_euclid(DAY))
}

/// Reads "YYYY-MM-DD" (a longer RFC 3339 text is read by its date part).
pub fn parse_date(text: &str) -> Option<(i32, u8, u8)> {
    let date = text.trim().get(..10)?;
    let mut parts = date.split('-');
    let year: i32 = parts.next()?.parse().ok()?;
    let month: u8 = parts.next()?.parse().ok()?;
    let day: u8 = parts.next()?.parse().ok()?;
    ((1..=12).contains(&month) && (1..=days_in_month(year, month)).contains(&day)).then_some((year, month, day))
}

/// Midnight UTC of the most recent anniversary (same month and day) at or before `now`.
/// 29 February falls on 1 March in common years.
pub fn last_anniversary(now: Timestamp, month: u8, day: u8) -> Option<Timestamp> {
    let (year, _, _) = civil_date(now);
    let on = |y: i32| {
        let (m, d) = if month == 2 && day == 29 && !is_leap(y) { (3, 1) } else { (month, day) };
        // None past the end of i64 milliseconds: later than any `now` anyway.
        days_from_civil(y, m, d).checked_mul(DAY).map(Timestamp)
    };
    [year, year.saturating_sub(1)].into_iter().filter_map(on).find(|t| *t <= now)
}

/// Midnight UTC of the first anniversary (same month and day) after `now`; 29 February
/// falls on 1 March in common years.
pub fn next_anniversary(now: Timestamp, month: u8, day: u8) -> Option<Timestamp> {
    let (year, _, _) = civil_date(now);
    let on = |y: i32| {
        let (m, d) = if month == 2 && day == 29 && !is_leap(y) { (3, 1) } else { (month, day) };
        days_from_civil(y, m, d).checked_mul(DAY).map(Timestamp)
    };
    [year, year.saturating_add(1)].into_iter().filter_map(on).find(|t| *t > now)
}

/// UTC-offset rules of one time zone: offsets in force from each transition on.
///
/// INVARIANT: `transitions` is sorted by time, strictly increasing.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Zone {
    /// IANA name ("Europe/Paris") or "UTC".
    pub name: String,
    /// Offset (seconds east of UTC) before the first transition.
    pub initial_offset: i32,
    /// (UTC milliseconds, offset seconds) from which the offset applies.
    pub transitions: Vec<(i64, i32)>,
}

impl Zone {
    /// The UTC zone.
    pub fn utc() -> Zone {
        Zone { name: "UTC".into(), initial_offset: 0, transitions: Vec::new() }
    }

    /// A zone with one fixed offset ("+02:00" style names).
    pub fn fixed(name: &str, offset_seconds: i32) -> Zone {
        Zone { name: name.into(), initial_offset: offset_seconds, transitions: Vec::new() }
    }

    /// Parses a fixed-offset name: "UTC", "Z", "+02:00", "-05:30".
    pub fn parse_fixed(name: &str) -> Option<Zone> {
        let trimmed = name.trim();
        if trimmed.eq_ignore_ascii_case("utc") || trimmed == "Z" || trimmed == "Etc/UTC" {
            return Some(Zone::fixed(trimmed, 0));
        }
        let sign = match trimmed.as_bytes().first()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let minutes = parse_time_of_day(trimmed.get(1..)?).ok()?;
        Some(Zone::fixed(trimmed, sign * i32::from(minutes) * 60))
    }

    /// Offset in seconds at an instant.
    pub fn offset_at(&self, t: Timestamp) -> i32 {
        let idx = self.transitions.partition_point(|(at, _)| *at <= t.0);
        match idx.checked_sub(1).and_then(|i| self.transitions.get(i)) {
            Some((_, offset)) => *offset,
            None => self.initial_offset,
        }
    }

    /// Local minutes after midnight at an instant.
    pub fn local_minute_of_day(&self, t: Timestamp) -> u16 {
        let local = t.0 + i64::from(self.offset_at(t)) * SECOND;
        (local.rem_euclid(DAY) / MINUTE) as u16
    }

    /// The first instant at or after `t` whose local time is `minute_of_day`.
    pub fn next_local_time(&self, t: Timestamp, minute_of_day: u16) -> Timestamp {
        let offset = i64::from(self.offset_at(t)) * SECOND;
        let local = t.0 + offset;
        let midnight = local - local.rem_euclid(DAY);
        let mut candidate_local = midnight + i64::from(minute_of_day) * MINUTE;
        if candidate_local < local {
            candidate_local += DAY;
        }
        // Convert back with the offset in force at the candidate (handles DST edges).
        let guess = Timestamp(candidate_local - offset);
        let corrected = Timestamp(candidate_local - i64::from(self.offset_at(guess)) * SECOND);
        if corrected < t {
            guess.max(t)
        } else {
            corrected
        }
    }
}

// Binary form (crate::wire).
impl crate::wire::Encode for Timestamp {
    fn encode(&self, out: &mut Vec<u8>) {
        crate::wire::put_zigzag(out, self.0);
    }
}
impl crate::wire::Decode for Timestamp {
    fn decode(r: &mut crate::wire::Reader<'_>) -> Self {
        Timestamp(r.read())
    }
}
impl crate::wire::Encode for Duration {
    fn encode(&self, out: &mut Vec<u8>) {
        crate::wire::put_zigzag(out, self.0);
    }
}
impl crate::wire::Decode for Duration {
    fn decode(r: &mut crate::wire::Reader<'_>) -> Self {
        Duration(r.read())
    }
}
crate::wire_struct!(Zone { name, initial_offset, transitions });

#[cfg(test)]
mod tests {
    /// Every text `time`'s RFC 3339 parser accepts reads to the same instant here, and
    /// what it rejects is rejected (leap seconds aside: checked below).
    #[test]
    fn rfc3339_reads_as_the_time_crate_does() {
        let dates = [
            "2026-11-23",
            "2024-02-29",
            "2023-02-29",
            "1970-01-01",
            "2026-13-01",
            "2026-04-31",
            "0000-01-01",
            "9999-12-31",
        ];
        let times = ["T09:30:00", "t23:59:59", " 00:00:00", "T24:00:00", "T12:60:00", "T9:30:00", "T09:30"];
        let fractions = ["", ".5", ".123", ".1239", ".000001", ".", ".x"];
        let offsets = ["Z", "z", "+01:00", "-05:30", "+23:59", "+24:00", "+01", "", "+0100"];
        for date in dates {
            for time_of_day in times {
                for fraction in fractions {
                    for offset in offsets {
                        let text = format!("{date}{time_of_day}{fraction}{offset}");
                        let theirs =
                            ::time::OffsetDateTime::parse(&text, &::time::format_description::well_known::Rfc3339)
                                .ok()
                                .map(|t| t.unix_timestamp_nanos().div_euclid(1_000_000) as i64);
                        let ours = Timestamp::parse_rfc3339(&text).ok().map(|t| t.0);
                        assert_eq!(ours, theirs, "{text}");
                    }
                }
            }
        }
        let leap = Timestamp::parse_rfc3339("2016-12-31T23:59:60Z").unwrap();
        assert_eq!(leap.to_rfc3339(), "2016-12-31T23:59:59.999Z");
        assert!(Timestamp::parse_rfc3339("2016-12-31T23:59:60+01:00").is_err());
        assert!(Timestamp::parse_rfc3339("2017-01-01T00:59:60+01:00").is_ok());
        assert!(Timestamp::parse_rfc3339("2016-12-30T23:59:60Z").is_err());
    }

    use super::*;

    #[test]
    fn durations_parse_and_print() {
        assert_eq!(Duration::parse("30d").unwrap(), Duration(30 * DAY));
        assert_eq!(Duration::parse("1h30m").unwrap(), Duration(90 * MINUTE));
        assert_eq!(Duration::parse("2mo").unwrap(), Duration(60 * DAY));
        assert!(Duration::parse("30 days").is_err());
        assert!(Duration::parse("d").is_err());
        assert!(Duration::parse("").is_err());
        assert!(Duration::parse("99999999999999999999d").is_err());
        assert_eq!(Duration::parse(&Duration(36 * HOUR + 5).to_text()).unwrap(), Duration(36 * HOUR + 5));
    }

    #[test]
    fn timestamps_round_trip() {
        let t = Timestamp::parse_rfc3339("2026-11-23T09:30:00+01:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-23T08:30:00Z");
        assert!(Timestamp::parse_rfc3339("yesterday").is_err());
    }

    #[test]
    fn calendar_dates() {
        let t = Timestamp::parse_rfc3339("2024-02-29T13:00:00Z").unwrap();
        assert_eq!(civil_date(t), (2024, 2, 29));
        assert_eq!(days_from_civil(2024, 2, 29) * DAY + 13 * HOUR, t.0);
        assert_eq!(parse_date("1990-06-01"), Some((1990, 6, 1)));
        assert_eq!(parse_date("1990-02-30"), None);
        let now = Timestamp::parse_rfc3339("2026-06-01T06:00:00Z").unwrap();
        assert_eq!(last_anniversary(now, 6, 1).unwrap().to_rfc3339(), "2026-06-01T00:00:00Z");
        assert_eq!(last_anniversary(now, 6, 2).unwrap().to_rfc3339(), "2025-06-02T00:00:00Z");
        assert_eq!(last_anniversary(now, 2, 29).unwrap().to_rfc3339(), "2026-03-01T00:00:00Z");
    }

    /// Found by the `ingest` fuzz target (fuzz/regressions/ingest/): near the end of
    /// i64 milliseconds this year's anniversary is past the range, and multiplying its
    /// day number by DAY overflowed (a panic in debug builds, a wrapped time in release).
    #[test]
    fn last_anniversary_at_the_ends_of_time() {
        for (month, day) in [(1, 1), (6, 1), (12, 31), (2, 29)] {
            let t = last_anniversary(Timestamp(i64::MAX), month, day).unwrap();
            assert!(t.0 > i64::MAX - 366 * DAY, "{month}-{day}: {t:?}");
            assert_eq!(last_anniversary(Timestamp(i64::MIN), month, day), None);
        }
    }

    #[test]
    fn zone_local_times() {
        // A zone at +1h that moves to +2h at 2026-03-29T01:00Z.
        let dst = Timestamp::parse_rfc3339("2026-03-29T01:00:00Z").unwrap().0;
        let zone = Zone { name: "Test/Paris".into(), initial_offset: 3600, transitions: vec![(dst, 7200)] };
        let before = Timestamp::parse_rfc3339("2026-03-28T20:30:00Z").unwrap();
        assert_eq!(zone.local_minute_of_day(before), 21 * 60 + 30);
        let next9 = zone.next_local_time(before, 9 * 60);
        assert_eq!(next9.to_rfc3339(), "2026-03-29T07:00:00Z");
    }
}
