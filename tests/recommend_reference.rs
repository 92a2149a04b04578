//! Reference check of the item-to-item neighbours: on the same interaction matrix, our
//! top-10 lists (viewed together, bought together) must equal those of the Python package
//! `implicit`'s `CosineRecommender` (tests/reference/implicit_cosine.py runs it).
//!
//! The matrix: a synthetic shop (`recommend::synth`, fixed seed: 500 items, 20,000
//! interactions of 2,000 shoppers), weighted as `Neighbours::build` weighs it; the script
//! gets the same (shopper, item, weight) rows. implicit ranks an item first among its own
//! neighbours (cosine 1), ours leave it out, so the script asks for 11 and the item is
//! dropped from its answer. Scores must agree within 1e-5 position by position (implicit
//! sums in f32, we in f64), and the two lists must hold the same items, except that items of
//! equal score at the cut may differ (which of several equal items comes 10th is arbitrary
//! in implicit): there both must have the cut's score.
//!
//! Needs Python 3 with `implicit` (PyPI; scripts/test.sh installs it, and this test tries
//! `pip install implicit` once when it is missing). Without it the test is ignored, and
//! fails under `CI=true`. Run by libtest-mimic (`harness = false`).
#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test: malformed reference output should fail loudly"
)]

#[path = "support/harness.rs"]
mod harness;

use std::collections::{BTreeMap, HashMap};
use std::process::{Command, ExitCode, Stdio};

use libtest_mimic::{Completion, Failed, Trial};
use waymark::server::recommend::synth::{self, SynthParams};
use waymark::server::recommend::{CosineConfig, Interaction, Kind, Neighbours, Similarity};

const TOP: usize = 10;
const TOLERANCE: f64 = 1e-5;

fn main() -> ExitCode {
    harness::run(vec![
        Trial::ignorable_test("viewed_together_equals_implicit", || compare_with_implicit(List::Viewed)),
        Trial::ignorable_test("bought_together_equals_implicit", || compare_with_implicit(List::Bought)),
    ])
}

#[derive(Clone, Copy, Debug)]
enum List {
    Viewed,
    Bought,
}

fn python() -> String {
    std::env::var("WAYMARK_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn has_implicit(python: &str) -> Result<bool, String> {
    let out = Command::new(python)
        .args(["-c", "import implicit, scipy, numpy"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("{python} does not run ({e}): Python 3 is needed for the implicit reference"))?;
    Ok(out.success())
}

/// Python with `implicit`, installed from PyPI when missing (as scripts/lib.sh does).
fn ensure_implicit() -> Result<String, String> {
    let python = python();
    if has_implicit(&python)? {
        return Ok(python);
    }
    for extra in [&[][..], &["--break-system-packages"][..]] {
        let _ = Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--retries", "1", "--timeout", "20", "implicit"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if has_implicit(&python)? {
            return Ok(python);
        }
    }
    Err(format!("the Python package implicit is not installed for {python} and pip could not install it"))
}

/// The matrix both sides see: (shopper, item, weight) rows, weighted as `Neighbours::build`.
fn rows(list: List) -> Vec<Interaction> {
    let params = SynthParams {
        items: 500,
        interactions: 20_000,
        shoppers: 2_000,
        categories: 8,
        seed: 2026,
        ..SynthParams::small()
    };
    let all = synth::interactions(&params);
    match list {
        List::Viewed => all.into_iter().filter(|i| i.kind != Kind::Bought).collect(),
        List::Bought => all.into_iter().filter(|i| i.kind == Kind::Bought).collect(),
    }
}

fn weight(kind: Kind) -> f32 {
    use waymark::server::recommend::cosine::{BUY_WEIGHT, CART_WEIGHT, VIEW_WEIGHT};
    match kind {
        Kind::Viewed => VIEW_WEIGHT,
        Kind::Carted => CART_WEIGHT,
        Kind::Bought => BUY_WEIGHT,
    }
}

fn compare_with_implicit(list: List) -> Result<Completion, Failed> {
    let python = match ensure_implicit() {
        Ok(p) => p,
        Err(why) => return harness::absent(&why),
    };
    let rows = rows(list);
    // A larger k than compared, to look up our score of any item implicit names.
    let config = CosineConfig { k: 60, max_items_per_shopper: usize::MAX, threads: 2 };
    let built = Neighbours::build(&rows, &config);
    let ours: &Similarity = match list {
        List::Viewed => &built.viewed_together,
        List::Bought => &built.bought_together,
    };
    let items: Vec<&str> = ours.items().collect();
    let item_number: HashMap<&str, usize> = items.iter().enumerate().map(|(n, i)| (*i, n)).collect();
    let mut shopper_number: BTreeMap<&str, usize> = BTreeMap::new();
    let mut csv = String::new();
    for row in &rows {
        let next = shopper_number.len();
        let u = *shopper_number.entry(row.shopper.as_str()).or_insert(next);
        csv.push_str(&format!("{u},{},{}\n", item_number[row.item.as_str()], weight(row.kind)));
    }
    let dir = tempfile::tempdir().unwrap();
    let matrix = dir.path().join("matrix.csv");
    std::fs::write(&matrix, csv).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/reference/implicit_cosine.py");
    let out = Command::new(&python)
        .arg(script)
        .arg(&matrix)
        .arg((TOP + 1).to_string())
        .output()
        .map_err(|e| format!("{python} {script}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{script} failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    let reference: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let version = reference["implicit"].as_str().unwrap_or("?").to_owned();
    let neighbours = reference["neighbours"].as_object().unwrap();
    assert_eq!(neighbours.len(), items.len(), "implicit saw a different item count");

    let (mut exact, mut tie_at_cut, mut compared_pairs) = (0usize, 0usize, 0usize);
    let mut failures = Vec::new();
    for (n, item) in items.iter().enumerate() {
        let theirs: Vec<(&str, f64)> = neighbours[&n.to_string()]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (items[p[0].as_u64().unwrap() as usize], p[1].as_f64().unwrap()))
            .filter(|(j, _)| j != item)
            .take(TOP)
            .collect();
        let all_ours: Vec<(&str, f64)> = ours.neighbours(item).map(|x| (x.item, f64::from(x.score))).collect();
        let top_ours = &all_ours[..all_ours.len().min(TOP)];
        compared_pairs += theirs.len();
        if let Err(why) = same_top(top_ours, &all_ours, &theirs) {
            failures.push(format!("{item}: {why}\n  ours:     {top_ours:?}\n  implicit: {theirs:?}"));
            continue;
        }
        let same_set = top_ours.iter().all(|(j, _)| theirs.iter().any(|(t, _)| t == j));
        if same_set {
            exact += 1;
        } else {
            tie_at_cut += 1;
        }
    }
    println!(
        "{list:?} together vs implicit {version}: {} items, {compared_pairs} neighbours compared; {exact} lists \
         identical, {tie_at_cut} differing only among equal scores at the cut, {} mismatches",
        items.len(),
        failures.len()
    );
    if failures.is_empty() {
        Ok(Completion::Completed)
    } else {
        let shown: Vec<&String> = failures.iter().take(20).collect();
        let shown: Vec<&str> = shown.into_iter().map(String::as_str).collect();
        Err(format!(
            "{} of {} items differ from implicit (first 20):\n{}",
            failures.len(),
            items.len(),
            shown.join("\n")
        )
        .into())
    }
}

/// Checks one item's lists (see the module doc). `all_ours` is our longer list, for scores.
fn same_top(ours: &[(&str, f64)], all_ours: &[(&str, f64)], theirs: &[(&str, f64)]) -> Result<(), String> {
    if ours.len() != theirs.len() {
        return Err(format!("{} neighbours, implicit {}", ours.len(), theirs.len()));
    }
    for (p, (a, b)) in ours.iter().zip(theirs).enumerate() {
        if (a.1 - b.1).abs() > TOLERANCE {
            return Err(format!("score {p}: {} vs implicit {}", a.1, b.1));
        }
    }
    for (j, s) in theirs {
        match all_ours.iter().find(|(o, _)| o == j) {
            Some((_, ours)) if (ours - s).abs() <= TOLERANCE => {}
            Some((_, ours)) => return Err(format!("{j}: cosine {ours} vs implicit {s}")),
            None => return Err(format!("{j} (implicit {s}) is not among our neighbours")),
        }
    }
    let cut = theirs.last().map_or(0.0, |t| t.1);
    for (j, s) in ours {
        if !theirs.iter().any(|(t, _)| t == j) && (s - cut).abs() > TOLERANCE {
            return Err(format!("{j} ({s}) is ours only and not tied with the cut ({cut})"));
        }
    }
    Ok(())
}
