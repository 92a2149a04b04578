//! The `waymark` binary as a user runs it: `simulate` on the shipped journeys and the
//! example events prints the decisions the README shows, bad input lines are reported
//! with line number and field while the rest still runs, and `bundle` writes bytes the
//! engine loads back.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap, index or panic is a failed test"
)]

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value as Json;

fn waymark(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_waymark"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    if let Some(text) = stdin {
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

fn lines(stdout: &str) -> Vec<Json> {
    stdout.lines().map(|l| serde_json::from_str(l).expect("every output line is JSON")).collect()
}

fn has(records: &[Json], fields: &[(&str, &str)]) -> bool {
    records.iter().any(|r| fields.iter().all(|(k, v)| r[*k].as_str() == Some(*v)))
}

#[test]
fn simulate_prints_the_seed_decisions() {
    let args = [
        "simulate",
        "--journeys",
        "templates",
        "examples/journeys",
        "--events",
        "examples/events.ndjson",
        "--until",
        "2026-07-01T00:00:00Z",
    ];
    let (code, stdout, stderr) = waymark(&args, None);
    assert_eq!(code, 0, "{stderr}");
    let records = lines(&stdout);
    for r in &records {
        for key in ["time", "shopper", "journey", "action", "reason", "message"] {
            assert!(r.get(key).is_some(), "{key} missing in {r}");
        }
    }
    assert!(has(
        &records,
        &[("shopper", "ana"), ("action", "send"), ("content", "popular-in-category"), ("time", "2026-06-01T08:00:10Z")]
    ));
    assert!(has(
        &records,
        &[
            ("shopper", "ana"),
            ("action", "send"),
            ("content", "category-offer"),
            ("incentive", "CATEGORY10"),
            ("time", "2026-06-01T08:02:30Z")
        ]
    ));
    assert!(has(&records, &[("shopper", "ana"), ("journey", "checkout_reassurance"), ("action", "send")]));
    assert!(has(&records, &[("shopper", "ana"), ("journey", "cart_abandon"), ("action", "convert")]));
    assert!(has(
        &records,
        &[("shopper", "ana"), ("journey", "post_purchase"), ("action", "send"), ("time", "2026-06-11T08:09:00Z")]
    ));
    assert!(has(&records, &[("shopper", "dan"), ("journey", "birthday"), ("action", "send"), ("incentive", "BDAY15")]));
    // Same input, same output: the replay is deterministic.
    assert_eq!(waymark(&args, None).1, stdout);
}

#[test]
fn bad_lines_are_reported_and_the_rest_runs() {
    let events = concat!(
        "{\"shopper\": \"a\", \"time\": \"2026-06-01T08:00:00Z\", \"name\": \"view_cart\"}\n",
        "not json\n",
        "{\"shopper\": \"a\", \"time\": \"yesterday\", \"name\": \"page_view\"}\n",
        "{\"time\": \"2026-06-01T08:00:00Z\", \"name\": \"page_view\"}\n",
        "{\"shopper\": \"a\", \"time\": \"2026-06-01T08:01:00Z\", \"name\": \"page_view\", \"colour\": 3}\n",
        "{\"shopper\": \"a\", \"time\": \"2026-06-01T08:02:00Z\", \"consent\": {\"fax\": true}}\n",
        "{\"shopper\": \"b\", \"time\": \"2026-06-01T08:03:00Z\", \"name\": \"begin_checkout\"}\n",
    );
    let (code, stdout, stderr) =
        waymark(&["simulate", "--journeys", "examples/journeys", "--events", "-"], Some(events));
    assert_eq!(code, 1, "bad lines make the exit code 1");
    assert!(stderr.contains("-:2: json:"), "{stderr}");
    assert!(stderr.contains("-:3: time: bad timestamp \"yesterday\""), "{stderr}");
    assert!(stderr.contains("-:4: shopper:"), "{stderr}");
    assert!(stderr.contains("-:5: colour:"), "{stderr}");
    assert!(stderr.contains("-:6: consent.fax:"), "{stderr}");
    assert!(stderr.contains("5 bad lines skipped"), "{stderr}");
    let records = lines(&stdout);
    assert!(
        has(&records, &[("shopper", "b"), ("journey", "checkout_reassurance"), ("action", "send")]),
        "the last line still ran: {stdout}"
    );
}

#[test]
fn bundle_writes_bytes_the_engine_loads() {
    let out = std::env::temp_dir().join(format!("waymark-cli-test-{}.bin", std::process::id()));
    let (code, _, stderr) = waymark(&["bundle", "templates", "examples/journeys", "-o", out.to_str().unwrap()], None);
    assert_eq!(code, 0, "{stderr}");
    let bytes = std::fs::read(&out).unwrap();
    let bundle = waymark::journey::Bundle::from_bytes(&bytes).expect("loads");
    assert_eq!(bundle.journeys.len(), 14);
    assert_eq!(bundle.to_bytes(), bytes, "re-encoding gives the same bytes");
    std::fs::remove_file(out).ok();
}

#[test]
fn validate_points_at_the_broken_field() {
    let dir = std::env::temp_dir().join(format!("waymark-cli-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("broken.json");
    std::fs::write(
        &file,
        "{\n  \"id\": \"broken\",\n  \"entry\": { \"event\": \"add_to_cart\" },\n  \"steps\": [\n    { \"id\": \"wait\", \"type\": \"wait_for\", \"event\": \"purchase\", \"timeout\": \"3 days\",\n      \"on_performed\": \"done\", \"on_timed_out\": \"nowhere\" },\n    { \"id\": \"done\", \"type\": \"exit\" }\n  ]\n}\n",
    )
    .unwrap();
    let (code, _, stderr) = waymark(&["validate", file.to_str().unwrap()], None);
    assert_eq!(code, 1);
    assert!(stderr.contains("error[bad_duration]") && stderr.contains("broken.json:5:"), "{stderr}");
    assert!(stderr.contains("/steps/0/timeout"), "{stderr}");
    assert!(stderr.contains("error[unknown_step]") && stderr.contains("\"nowhere\""), "{stderr}");
    std::fs::remove_dir_all(dir).ok();
}
