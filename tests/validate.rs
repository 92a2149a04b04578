//! Journey validation end to end: every broken journey in `tests/cases/invalid/` gives
//! exactly the errors (code, pointer, line:col) listed in `tests/cases/invalid.expected.json`,
//! the valid journeys compile to what they say, and the `waymark` binary prints them.
//! Run with `WAYMARK_BLESS=1` to rewrite the expectation table after a deliberate change.

#![expect(clippy::panic, reason = "test code: a failed unwrap, index or panic is a failed test")]

#[path = "support/cases.rs"]
mod cases;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use waymark::journey::diagnostics::{self, Diagnostic};
use waymark::journey::tzdb::Tzdb;
use waymark::journey::{
    compile_bundle, Bundle, BundleError, CapPeriod, Channel, Entry, FixedZones, Reentry, StepKind,
    BUNDLE_FORMAT_VERSION,
};
use waymark::time::{Timestamp, HOUR, MINUTE};

use cases::{case_files, cases_dir};

/// "code pointer line:col", the form the expectation table uses.
fn summary(d: &Diagnostic) -> String {
    let at = d.position.map(|(l, c)| format!("{l}:{c}")).unwrap_or_else(|| "-".into());
    let pointer = if d.pointer.is_empty() { "-" } else { d.pointer.as_str() };
    format!("{} {pointer} {at}", d.code)
}

#[test]
fn invalid_cases_give_the_expected_errors() {
    let table_path = cases_dir().join("invalid.expected.json");
    let files = case_files("invalid");
    assert!(files.len() >= 15, "expected at least 15 invalid cases, found {}", files.len());
    let mut actual: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let errors = match diagnostics::compile_journey_file(file, &Tzdb) {
            Ok(_) => panic!("{name} compiled, but it is in tests/cases/invalid"),
            Err(errors) => errors,
        };
        for e in &errors {
            assert!(!e.message.is_empty(), "{name}: empty message");
            assert!(e.file.is_some(), "{name}: no file in {e}");
        }
        actual.insert(name, errors.iter().map(summary).collect());
    }
    if std::env::var_os("WAYMARK_BLESS").is_some() {
        let text = serde_json::to_string_pretty(&actual).unwrap();
        std::fs::write(&table_path, text + "\n").unwrap();
        return;
    }
    let expected: BTreeMap<String, Vec<String>> =
        serde_json::from_str(&std::fs::read_to_string(&table_path).unwrap()).unwrap();
    for (name, want) in &expected {
        assert_eq!(actual.get(name), Some(want), "errors of {name}");
    }
    let untested: Vec<&String> = actual.keys().filter(|k| !expected.contains_key(*k)).collect();
    assert!(untested.is_empty(), "cases without expectations: {untested:?}");
}

/// A request body (`PUT /v1/bundle`) compiles in memory: the same errors at the same
/// places as the file, under the name it is given.
#[test]
fn text_compiles_as_its_file_does() {
    let mut compared = 0;
    for file in case_files("invalid") {
        let text = std::fs::read_to_string(&file).unwrap();
        let from_file = diagnostics::compile_journey_file(&file, &Tzdb).unwrap_err();
        let from_text = diagnostics::compile_text("body.json", &text, &Tzdb).unwrap_err();
        let name = file.display();
        assert_eq!(
            from_text.iter().map(summary).collect::<Vec<_>>(),
            from_file.iter().map(summary).collect::<Vec<_>>(),
            "{name}"
        );
        assert!(from_text.iter().all(|d| d.file.as_deref() == Some(Path::new("body.json"))), "{name}: {from_text:?}");
        compared += 1;
    }
    assert!(compared >= 15, "expected at least 15 invalid cases, found {compared}");
    let valid = std::fs::read_to_string(cases_dir().join("valid/cart-abandon.json")).unwrap();
    let bundle = diagnostics::compile_text("cart-abandon.json", &valid, &Tzdb).unwrap();
    assert_eq!(bundle.journeys.len(), 1);
}

#[test]
fn every_error_code_is_snake_case() {
    for path in case_files("invalid") {
        if let Err(errors) = diagnostics::compile_journey_file(&path, &Tzdb) {
            for e in errors {
                assert!(e.code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{e}");
            }
        }
    }
}

fn valid_bundle() -> Bundle {
    diagnostics::compile_paths(&[cases_dir().join("valid")], &Tzdb).unwrap_or_else(|errors| {
        let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        panic!("valid journeys did not compile:\n{}", text.join("\n"))
    })
}

#[test]
fn valid_journeys_compile_to_what_they_say() {
    let bundle = valid_bundle();
    let ids: Vec<&str> = bundle.journeys.iter().map(|j| j.id.as_str()).collect();
    assert_eq!(ids, ["back-in-stock", "browse-abandon", "cart-abandon"], "sorted by id");

    let cart = bundle.journeys.iter().find(|j| j.id == "cart-abandon").unwrap();
    match &cart.entry {
        Entry::Event(m) => assert_eq!(m.event, "add_to_cart", "alias canonicalised"),
        Entry::Audience(_) => panic!("action-based entry expected"),
    }
    // By default only the entry properties some condition reads back are remembered.
    assert_eq!(cart.remember, ["cart_id"], "its conversion compares cart_id with the entry's");
    assert!(matches!(cart.reentry, Reentry::Multiple { cap: Some(2), .. }));
    assert_eq!(cart.conversion.as_ref().unwrap().within.unwrap().millis(), 14 * 24 * HOUR);
    assert_eq!(cart.start, 0);

    let split = cart.steps.iter().find(|s| s.id == "test").unwrap();
    match &split.kind {
        StepKind::Split { variants, holdout_bp, .. } => {
            assert_eq!(*holdout_bp, 1000);
            let bps: Vec<u32> = variants.iter().map(|v| v.1).collect();
            assert_eq!(bps, [3333, 6667]);
            assert_eq!(variants.iter().map(|v| v.1).sum::<u32>(), 10_000);
        }
        other => panic!("split expected, got {other:?}"),
    }
    let offer = cart.steps.iter().find(|s| s.id == "email-offer").unwrap();
    match &offer.kind {
        StepKind::Send(send) => {
            assert_eq!(send.channel, Channel::Email);
            assert_eq!(send.fallback, [Channel::Push, Channel::Sms]);
            assert_eq!(send.priority, 10, "journey priority + step priority");
            let incentive = send.incentive.as_ref().unwrap();
            assert_eq!((incentive.id.as_str(), incentive.group.as_str()), ("WELCOME10", "welcome"));
            assert_eq!(incentive.valid_for.millis(), 7 * 24 * HOUR, "default validity");
        }
        other => panic!("send expected, got {other:?}"),
    }
    // `nudge` has no `next`: it falls through to the following step.
    let nudge = cart.steps.iter().find(|s| s.id == "nudge").unwrap();
    assert!(matches!(&nudge.kind, StepKind::Send(s) if s.next == 2 && s.priority == 15));

    // The bundle file's policy replaces the defaults where it speaks.
    let p = &bundle.policy;
    assert_eq!(p.caps.len(), 2);
    assert_eq!(p.caps.first().unwrap().per, CapPeriod::Session);
    assert_eq!(p.suppression_window.millis(), 12 * HOUR);
    assert!(p.suppresses.contains(Channel::Email) && !p.suppresses.contains(Channel::Sms));
    assert!(p.suppression_same_journey_only);
    assert_eq!(p.session_timeout.millis(), 45 * MINUTE);
    assert!(p.assume_consent.contains(Channel::Inapp));
    assert_eq!(p.seed, 7);
    assert_eq!(bundle.groups.len(), 1);
}

#[test]
fn default_policy_applies_when_absent() {
    let bundle = diagnostics::compile_journey_file(&cases_dir().join("valid/cart-abandon.json"), &Tzdb).unwrap();
    let p = &bundle.policy;
    let caps: Vec<(Option<Channel>, u32, CapPeriod, bool)> =
        p.caps.iter().map(|c| (c.channel, c.max, c.per, c.hard)).collect();
    let day = CapPeriod::Window(waymark::time::Duration(24 * HOUR));
    assert_eq!(
        caps,
        [
            (Some(Channel::Onsite), 3, CapPeriod::Session, false),
            (None, 6, day, true),
            (Some(Channel::Email), 1, day, true),
            (Some(Channel::Sms), 1, day, true),
            (Some(Channel::Push), 2, day, true),
        ]
    );
    assert_eq!(p.suppression_window.millis(), 24 * HOUR);
    assert!(p.suppresses.contains(Channel::Email) && p.suppresses.contains(Channel::Sms));
    assert!(p.suppresses.contains(Channel::Push) && !p.suppresses.contains(Channel::Onsite));
    assert!(!p.suppression_same_journey_only);
    assert_eq!(p.session_timeout.millis(), 30 * MINUTE);
    assert_eq!(p.assume_consent.0, 0);
    assert_eq!(p.seed, 0);
}

#[test]
fn paris_quiet_hours_follow_summer_time() {
    let bundle = diagnostics::compile_journey_file(&cases_dir().join("valid/cart-abandon.json"), &Tzdb).unwrap();
    let schedule = &bundle.journeys.first().unwrap().schedule;
    let quiet = schedule.quiet_hours.unwrap();
    assert_eq!((quiet.start_minute, quiet.end_minute), (21 * 60, 8 * 60));
    let in_quiet = |t: &str| {
        let m = schedule.zone.local_minute_of_day(Timestamp::parse_rfc3339(t).unwrap());
        m >= quiet.start_minute || m < quiet.end_minute
    };
    // 19:30 UTC is 20:30 in Paris before the switch (CET), 21:30 after it (CEST).
    assert!(!in_quiet("2026-03-28T19:30:00Z"));
    assert!(in_quiet("2026-03-29T19:30:00Z"));
    // 06:30 UTC is 07:30 CET (quiet) before, 08:30 CEST (not quiet) after.
    assert!(in_quiet("2026-03-28T06:30:00Z"));
    assert!(!in_quiet("2026-03-29T06:30:00Z"));
}

#[test]
fn without_a_zone_database_only_fixed_zones_resolve() {
    let sources = diagnostics::load(&[cases_dir().join("valid/cart-abandon.json")]).unwrap();
    let errors = compile_bundle(&sources.bundle, &FixedZones).unwrap_err();
    let codes: Vec<(&str, &str)> = errors.iter().map(|e| (e.code(), e.path.as_str())).collect();
    assert_eq!(codes, [("unknown_time_zone", "/journeys/0/schedule/time_zone")]);
}

#[test]
fn bundle_bytes_round_trip() {
    let bundle = valid_bundle();
    let bytes = bundle.to_bytes();
    assert_eq!(bytes.first(), Some(&BUNDLE_FORMAT_VERSION));
    let back = Bundle::from_bytes(&bytes).unwrap();
    assert_eq!(back.to_bytes(), bytes);
    assert_eq!(back.journeys.len(), 3);
    let paris = &back.journeys.iter().find(|j| j.id == "cart-abandon").unwrap().schedule.zone;
    assert_eq!(paris.name, "Europe/Paris");
    assert!(!paris.transitions.is_empty());

    assert_eq!(Bundle::from_bytes(&[]).unwrap_err(), BundleError::Empty);
    let mut other_version = bytes.clone();
    other_version[0] = BUNDLE_FORMAT_VERSION + 1;
    assert_eq!(Bundle::from_bytes(&other_version).unwrap_err().code(), "unsupported_bundle_version");
    assert_eq!(Bundle::from_bytes(&bytes[..bytes.len() / 2]).unwrap_err().code(), "corrupt_bundle");
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert_eq!(Bundle::from_bytes(&trailing).unwrap_err().code(), "corrupt_bundle");
}

/// Encoded bundles kept in `tests/fixtures/`, next to the state fixtures, all from
/// `bundle-typical.json` (every step kind, regexes, a `$ref`, an incentive, a split,
/// policy and groups; a fixed-offset zone, so no zone database is involved):
/// - `bundle-v{BUNDLE_FORMAT_VERSION}-typical.bin` (the newest): decodes, re-encodes byte
///   for byte, and is what the source compiles to today. A change of the compiled form
///   fails here: bump BUNDLE_FORMAT_VERSION, then `WAYMARK_BLESS=1 cargo test --test
///   validate` writes the new current and corrupt fixtures, and the old one stays as a
///   previous version;
/// - older `bundle-vN-typical.bin` (at least the previous version): refused with
///   `unsupported_bundle_version`, naming both versions. `bundle-v2-typical.bin` was
///   written by the version-2 build (the commit before 93c924f): `waymark bundle
///   tests/fixtures/bundle-typical.json -o tests/fixtures/bundle-v2-typical.bin`;
/// - `bundle-corrupt-*.bin` and `bundle-future-version.bin`: refused with their codes.
#[test]
fn bundle_fixtures_decode_as_recorded() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let sources = diagnostics::load(&[dir.join("bundle-typical.json")]).unwrap();
    let compiled = compile_bundle(&sources.bundle, &FixedZones).unwrap().to_bytes();
    let current = dir.join(format!("bundle-v{BUNDLE_FORMAT_VERSION}-typical.bin"));
    if std::env::var_os("WAYMARK_BLESS").is_some() {
        std::fs::write(&current, &compiled).unwrap();
        std::fs::write(dir.join("bundle-corrupt-truncated.bin"), &compiled[..compiled.len() / 2]).unwrap();
        let mut trailing = compiled.clone();
        trailing.push(0);
        std::fs::write(dir.join("bundle-corrupt-trailing.bin"), trailing).unwrap();
        let mut no_id = compile_bundle(&sources.bundle, &FixedZones).unwrap();
        no_id.journeys[0].id = String::new();
        std::fs::write(dir.join("bundle-corrupt-empty-id.bin"), no_id.to_bytes()).unwrap();
        let mut future = compiled.clone();
        future[0] = u8::MAX;
        std::fs::write(dir.join("bundle-future-version.bin"), future).unwrap();
    }

    // Every typical fixture by version: the newest is this build's, the others are older.
    let mut versions: Vec<u8> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.strip_prefix("bundle-v")?.strip_suffix("-typical.bin")?.parse().ok()
        })
        .collect();
    versions.sort();
    assert_eq!(
        versions.last(),
        Some(&BUNDLE_FORMAT_VERSION),
        "the newest bundle fixture is this build's version (WAYMARK_BLESS=1 writes it)"
    );
    // The previous version (4 was skipped: it is the state's version byte).
    let previous = if BUNDLE_FORMAT_VERSION == 64 { 3 } else { BUNDLE_FORMAT_VERSION - 1 };
    assert!(versions.contains(&previous), "a fixture of the previous version is kept: {versions:?}");

    let recorded = std::fs::read(&current).unwrap();
    let decoded = Bundle::from_bytes(&recorded).expect("the recorded bundle decodes");
    assert_eq!(decoded.to_bytes(), recorded, "re-encodes byte for byte");
    assert_eq!(
        compiled, recorded,
        "bundle-typical.json compiles to the recorded bytes: if the compiled form changed, bump \
         BUNDLE_FORMAT_VERSION; if only the fixture's source did, re-bless (WAYMARK_BLESS=1)"
    );
    let ids: Vec<&str> = decoded.journeys.iter().map(|j| j.id.as_str()).collect();
    assert_eq!(ids, ["cart_rescue", "vip_welcome"]);
    assert_eq!(decoded.policy.seed, 42);
    assert_eq!(decoded.groups.get("staff").map(Vec::len), Some(2));

    for &old in versions.iter().filter(|&&v| v != BUNDLE_FORMAT_VERSION) {
        let bytes = std::fs::read(dir.join(format!("bundle-v{old}-typical.bin"))).unwrap();
        assert_eq!(bytes.first(), Some(&old));
        let err = Bundle::from_bytes(&bytes).unwrap_err();
        assert_eq!(err, BundleError::UnsupportedVersion { found: old, expected: BUNDLE_FORMAT_VERSION });
        assert_eq!(err.code(), "unsupported_bundle_version");
    }

    for (file, code, says) in [
        ("bundle-corrupt-truncated.bin", "corrupt_bundle", ""),
        ("bundle-corrupt-trailing.bin", "corrupt_bundle", "unexpected bytes after the value"),
        ("bundle-corrupt-empty-id.bin", "corrupt_bundle", "journey 0: the id is empty"),
        ("bundle-future-version.bin", "unsupported_bundle_version", "version 255 is not supported"),
    ] {
        let bytes = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e} (WAYMARK_BLESS=1 writes it)"));
        let err = Bundle::from_bytes(&bytes).unwrap_err();
        assert_eq!(err.code(), code, "{file}: {err}");
        assert!(err.to_string().contains(says), "{file}: {err}");
    }
}

#[test]
fn a_directory_may_carry_only_one_policy() {
    let dir = std::env::temp_dir().join(format!("waymark-two-policies-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bundle = r#"{"policy": {"seed": 1}, "journeys": []}"#;
    std::fs::write(dir.join("a.json"), bundle).unwrap();
    std::fs::write(dir.join("b.json"), format!("\n\n{bundle}")).unwrap();
    std::fs::write(dir.join("notes.txt"), "not a journey").unwrap();
    // A file's own problems come back from compile, with every other error.
    let errors = diagnostics::load(&[&dir]).unwrap().compile(&Tzdb).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    let summaries: Vec<String> = errors.iter().map(summary).collect();
    assert_eq!(summaries, ["duplicate_policy /policy 3:12"]);
    assert!(errors[0].file.as_ref().unwrap().ends_with("b.json"));
}

#[test]
fn cli_prints_file_line_col_and_exits_1() {
    let bin = env!("CARGO_BIN_EXE_waymark");
    let bad = cases_dir().join("invalid/bad-duration.json");
    let out = Command::new(bin).arg("validate").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let want = format!(
        "error[bad_duration]: {}:6:73: /steps/0/timeout: bad duration \"3 days\": write a number and a unit",
        bad.display()
    );
    assert!(stderr.contains(&want), "stderr was:\n{stderr}");

    let good = cases_dir().join("valid");
    let out = Command::new(bin).arg("validate").arg(&good).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("ok: 3 journeys in {}", good.display()));

    let out = Command::new(bin).args(["graph", "--journey", "cart-abandon"]).arg(&good).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let graph = String::from_utf8_lossy(&out.stdout);
    assert!(graph.starts_with("flowchart TD\n"), "{graph}");
    assert!(graph.contains("send email: cart-reminder-1 🎁 WELCOME10"), "{graph}");
    assert!(graph.contains("s0 -->|\"timed out\"| s1"), "{graph}");
}
